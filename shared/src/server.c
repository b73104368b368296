/* server.c - start-up pieces shared by the Cairn daemons (see
 * cairn/server.h). */
#include "cairn/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/admin.h"
#include "cairn/authority.h"
#include "cairn/ca.h"
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/log.h"
#include "cairn/srvconf.h"
#include "cairn/store.h"
#include "cairn/util.h"

int cairn_server_die(const char *prog, const char *what)
{
  const char *d = cairn_errdetail();

  if (d[0]) fprintf(stderr, "%s: %s: %s\n", prog, what, d);
  else fprintf(stderr, "%s: %s\n", prog, what);
  return 1;
}

/* ---- command line -------------------------------------------------------- */

/* The value of the flag f given as argv[*i] (its name without dashes is
 * name): "-name VALUE" or "-name=VALUE". 0, or 2 after the error. */
static int flag_value(int argc, char **argv, int *i, const char *prog,
                      const char *name, const struct cairn_server_flag *f)
{
  size_t n = strlen(f->name);

  if (name[n] == '=') {
    if (!name[n + 1]) goto need;
    *f->value = name + n + 1;
    return 0;
  }
  if (*i + 1 >= argc || !argv[*i + 1][0]) goto need;
  *f->value = argv[++*i];
  return 0;
need:
  fprintf(stderr, "%s: %s needs %s\n", prog, argv[*i], f->need);
  return 2;
}

int cairn_server_parse_args(int argc, char **argv, const char *prog,
                            const char *version, const char *usage,
                            const struct cairn_server_flag *flags)
{
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *name;
    const struct cairn_server_flag *f;

    if (a[0] != '-' || !a[1]) {
      fprintf(stderr, "%s: unexpected argument '%s' (see %s --help)\n", prog,
              a, prog);
      return 2;
    }
    name = a[1] == '-' ? a + 2 : a + 1;
    if (!strcmp(name, "h") || !strcmp(name, "help")) {
      fputs(usage, stdout);
      return 1;
    }
    if (!strcmp(name, "version")) {
      printf("%s %s\n", prog, version);
      return 1;
    }
    for (f = flags; f->name; f++) {
      size_t n = strlen(f->name);
      if (!strncmp(name, f->name, n) && (name[n] == '\0' || name[n] == '='))
        break;
    }
    if (!f->name) {
      fprintf(stderr, "%s: unknown flag '%s' (see %s --help)\n", prog, a,
              prog);
      return 2;
    }
    if (flag_value(argc, argv, &i, prog, name, f)) return 2;
  }
  return 0;
}

/* ---- data_dir and files -------------------------------------------------- */

int cairn_server_ensure_dir(const char *dir)
{
  struct stat sb;
  int r;

  if ((r = cairn_mkdir_p(dir, 0700))) return r;
  if (stat(dir, &sb) != 0)
    return cairn_seterr(CAIRN_ERR_IO, "%s: %s", dir, strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return cairn_seterr(CAIRN_ERR_IO, "%s is not a directory", dir);
  return CAIRN_OK;
}

void cairn_server_dir_of(const char *path, char *out, size_t outlen)
{
  const char *slash = strrchr(path, '/');

  if (!slash) snprintf(out, outlen, ".");
  else if (slash == path) snprintf(out, outlen, "/");
  else snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

int cairn_server_lock_data_dir(const char *data_dir, const char *file,
                               const char *prog, int *fd)
{
  char path[PATH_MAX];
  int f;

  if ((size_t)snprintf(path, sizeof path, "%s/%s", data_dir, file) >=
      sizeof path)
    return cairn_seterr(CAIRN_ERR_INVAL, "data_dir path is too long");
  f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (f < 0)
    return cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(errno));
  if (flock(f, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(f);
    if (e == EWOULDBLOCK)
      return cairn_seterr(CAIRN_ERR_EXISTS, "another %s is running with "
                          "data_dir %s", prog, data_dir);
    return cairn_seterr(CAIRN_ERR_IO, "lock %s: %s", path, strerror(e));
  }
  *fd = f;
  return CAIRN_OK;
}

/* ---- cairn-cloud and cairn-edge ------------------------------------------ */

const char *cairn_server_open_store(struct cairn_server *s,
                                    const char *lock_file, const char *prog)
{
  const struct cairn_srvconf *c = s->cfg;
  char dir[PATH_MAX];

  if (cairn_server_ensure_dir(c->data_dir)) return "cannot create data_dir";
  if (cairn_server_lock_data_dir(c->data_dir, lock_file, prog, &s->lock_fd))
    return "cannot lock data_dir";
  cairn_server_dir_of(c->db_path, dir, sizeof dir);
  if (cairn_server_ensure_dir(dir))
    return "cannot create the datastore directory";
  if (cairn_store_open(c->db_path, &s->st))
    return "cannot open the datastore";
  return NULL;
}

void cairn_server_admin_opts(const struct cairn_srvconf *c, const char *owner,
                             const char *version, struct cairn_admin_opts *o)
{
  memset(o, 0, sizeof *o);
  o->default_x509_svid_ttl = c->default_x509_svid_ttl;
  o->default_jwt_svid_ttl = c->default_jwt_svid_ttl;
  o->owner = owner;
  o->version = version;
  o->scope = c->upstream_scope;
}

const char *cairn_server_admin_listen(struct cairn_server *s)
{
  char dir[PATH_MAX];

  if (cairn_grpc_server_new(&s->loop, NULL, &s->srv) ||
      cairn_admin_register(s->admin, s->srv))
    return "cannot start the admin API";
  cairn_server_dir_of(s->cfg->socket_path, dir, sizeof dir);
  if (cairn_server_ensure_dir(dir)) return "cannot create the socket directory";
  if (cairn_grpc_server_listen(s->srv, s->cfg->socket_path, 0600))
    return "cannot listen on the admin socket";
  return NULL;
}

const char *cairn_server_start_endpoint(struct cairn_server *s,
                                        const char *owner)
{
  const struct cairn_srvconf *c = s->cfg;
  struct cairn_authority_opts o;

  cairn_authority_opts_init(&o);
  o.trust_domain = c->trust_domain;
  o.bind_addr = c->bind_address;
  o.port = (uint16_t)c->bind_port;
  o.default_x509_svid_ttl = c->default_x509_svid_ttl;
  o.default_jwt_svid_ttl = c->default_jwt_svid_ttl;
  o.node_svid_ttl = c->agent_ttl;
  o.join_token = c->join_token_attestor;
  o.entry_owner = owner;
  if (cairn_authority_new(&s->loop, s->st, s->ca, &o, &s->auth))
    return "cannot start the agent endpoint";
  return NULL;
}

void cairn_server_log_ready(const struct cairn_server *s, const char *prog,
                            const char *mod)
{
  CAIRN_LOGI(mod, "%s ready: trust_domain=%s socket=%s bind_address=%s "
             "bind_port=%u", prog, s->cfg->trust_domain, s->cfg->socket_path,
             s->cfg->bind_address, (unsigned)cairn_authority_port(s->auth));
}

void cairn_server_close(struct cairn_server *s, const char *mod)
{
  if (s->loop_ready) {
    cairn_grpc_server_free(s->srv);
    s->srv = NULL;
    cairn_authority_free(s->auth);
    s->auth = NULL;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&s->loop) != 0)
      CAIRN_LOGW(mod, "event loop closed with handles still open");
    s->loop_ready = 0;
  }
  cairn_admin_free(s->admin);
  s->admin = NULL;
  cairn_ca_free(s->ca);
  s->ca = NULL;
  cairn_store_close(s->st);
  s->st = NULL;
  if (s->lock_fd >= 0) close(s->lock_fd);
  s->lock_fd = -1;
  cairn_srvconf_free(s->cfg);
  s->cfg = NULL;
}

void cairn_server_prune(struct cairn_store *st, const char *mod)
{
  int64_t now = (int64_t)cairn_now();
  size_t n = 0;

  if (cairn_store_token_prune(st, now, &n) != CAIRN_OK)
    CAIRN_LOGW(mod, "pruning join tokens failed: %s", cairn_errdetail());
  else if (n)
    CAIRN_LOGI(mod, "pruned %zu expired join token%s", n, n == 1 ? "" : "s");
  n = 0;
  if (cairn_store_entry_prune_expired(st, now, &n) != CAIRN_OK)
    CAIRN_LOGW(mod, "pruning entries failed: %s", cairn_errdetail());
  else if (n)
    CAIRN_LOGI(mod, "pruned %zu expired entr%s", n, n == 1 ? "y" : "ies");
}
