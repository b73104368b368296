/* cairn-cloud - the root server of a Cairn trust domain.
 *
 * Loads the configuration (cairn/srvconf.h), opens the datastore, starts
 * the CA manager, serves the admin API (cairn/admin.h) on the admin
 * socket and the tier protocol (cairn/authority.h: CoAP over DTLS for
 * agents) on bind_address:bind_port, and runs two timers on one libuv
 * loop: the CA rotation tick every CAIRN_CA_TICK seconds and the pruning
 * of expired join tokens and entries every minute. SIGINT/SIGTERM stop it
 * cleanly. See docs/cloud.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "cairn/admin.h"
#include "cairn/authority.h"
#include "cairn/ca.h"
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/log.h"
#include "cairn/srvconf.h"
#include "cairn/store.h"
#include "cairn/util.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.0.0"
#endif

#define PROG "cairn-cloud"
#define MOD "cloud"
#define CONFIG_DEFAULT "conf/cloud.conf"
#define PRUNE_INTERVAL_MS (60 * 1000)
#define LOCK_FILE "cairn-cloud.lock"

static const char g_usage[] =
    "Usage: " PROG " [-config PATH]\n"
    "       " PROG " -h | --help | --version\n"
    "\n"
    "cairn-cloud is the root server of a SPIFFE trust domain: it keeps the\n"
    "registration entries, attested agents, join tokens and trust bundles\n"
    "in a SQLite datastore, runs the X.509 CA and the JWT signing keys with\n"
    "SPIRE's rotation rules, and serves the admin API that the `cairn` CLI\n"
    "uses on a Unix socket. Agents attest and fetch their SVIDs over CoAP/DTLS\n"
    "on bind_address:bind_port.\n"
    "\n"
    "Options:\n"
    "  -config PATH, --config PATH\n"
    "                 configuration file (default " CONFIG_DEFAULT ")\n"
    "  -h, --help     show this help and exit\n"
    "  --version      print the version and exit\n"
    "\n"
    "Configuration (HCL, shaped like spire-server's):\n"
    "  server {\n"
    "    trust_domain           required, e.g. \"example.org\"\n"
    "    data_dir               required; datastore and CA keys live here\n"
    "    socket_path            admin socket (/tmp/cairn-server/private/api.sock)\n"
    "    bind_address/bind_port agent endpoint, CoAP over DTLS (0.0.0.0/8081)\n"
    "    log_level              DEBUG, INFO, WARN, ERROR (INFO)\n"
    "    ca_ttl                 CA and JWT key lifetime (24h)\n"
    "    default_x509_svid_ttl  (1h)    default_jwt_svid_ttl (5m)\n"
    "    agent_ttl              node SVIDs (default_x509_svid_ttl)\n"
    "    ca_key_type            ec-p256 or ec-p384 (ec-p256)\n"
    "    jwt_issuer             (\"\")    ca_subject { common_name }\n"
    "  }\n"
    "  plugins {\n"
    "    DataStore \"sql\"          { plugin_data { database_type = \"sqlite3\",\n"
    "                               connection_string = \"datastore.sqlite3\" } }\n"
    "    KeyManager \"disk\"        { plugin_data { keys_path = \"keys\" } }\n"
    "    KeyManager \"memory\"      { plugin_data {} }\n"
    "    UpstreamAuthority \"disk\" { plugin_data { cert_file_path, key_file_path,\n"
    "                               bundle_file_path } }   (optional)\n"
    "    NodeAttestor \"join_token\" { plugin_data {} }\n"
    "  }\n"
    "A documented example is conf/cloud.conf; the full reference is\n"
    "docs/cloud.md. `cairn validate -config PATH` checks a file offline.\n"
    "\n"
    "Signals: SIGINT and SIGTERM stop the server cleanly. Logs go to stderr.\n"
    "When serving, the server logs one line \"" PROG " ready: "
    "trust_domain=...\n"
    "socket=... bind_address=... bind_port=...\".\n"
    "\n"
    "Exit status: 0 after a clean stop, 1 when the server cannot start (one\n"
    "line on stderr says why), 2 for a bad command line.\n";

struct cloud {
  struct cairn_srvconf *cfg;
  struct cairn_store *st;
  struct cairn_ca *ca;
  struct cairn_admin *admin;
  struct cairn_grpc_server *srv;
  struct cairn_authority *auth;
  uv_loop_t loop;
  int loop_ready;
  uv_timer_t tick, prune;
  uv_signal_t sigint, sigterm;
  int handles_ready;
  int lock_fd;
  int stopping;
};

/* One line on stderr, as every startup error is reported. */
static int die(const char *what)
{
  const char *d = cairn_errdetail();
  if (d[0]) fprintf(stderr, PROG ": %s: %s\n", what, d);
  else fprintf(stderr, PROG ": %s\n", what);
  return 1;
}

/* ---- command line ---------------------------------------------------- */

/* 0: run with *config; 1: done (help/version printed), exit 0; 2: usage
 * error (printed). */
static int parse_args(int argc, char **argv, const char **config)
{
  *config = CONFIG_DEFAULT;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *name = a;

    if (a[0] != '-' || !a[1]) {
      fprintf(stderr, PROG ": unexpected argument '%s' (see " PROG
              " --help)\n", a);
      return 2;
    }
    name = a[1] == '-' ? a + 2 : a + 1;
    if (!strcmp(name, "h") || !strcmp(name, "help")) {
      fputs(g_usage, stdout);
      return 1;
    }
    if (!strcmp(name, "version")) {
      printf(PROG " %s\n", CAIRN_VERSION);
      return 1;
    }
    if (!strcmp(name, "config")) {
      if (i + 1 >= argc || !argv[i + 1][0]) {
        fprintf(stderr, PROG ": %s needs a file path\n", a);
        return 2;
      }
      *config = argv[++i];
      continue;
    }
    if (!strncmp(name, "config=", 7)) {
      if (!name[7]) {
        fprintf(stderr, PROG ": %s needs a file path\n", a);
        return 2;
      }
      *config = name + 7;
      continue;
    }
    fprintf(stderr, PROG ": unknown flag '%s' (see " PROG " --help)\n", a);
    return 2;
  }
  return 0;
}

/* ---- files and directories ------------------------------------------- */

/* Creates dir (0700) when missing and refuses one that is not a
 * directory. */
static int ensure_dir(const char *dir)
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

/* The directory part of path ("." for a bare name) into out. */
static void dir_of(const char *path, char *out, size_t outlen)
{
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(out, outlen, ".");
  else if (slash == path) snprintf(out, outlen, "/");
  else snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

/* Holds an exclusive lock on <data_dir>/cairn-cloud.lock for the life of
 * the process, so two servers never share one data_dir (and its CA). */
static int lock_data_dir(struct cloud *c)
{
  char path[PATH_MAX];
  int fd;

  if ((size_t)snprintf(path, sizeof path, "%s/%s", c->cfg->data_dir,
                       LOCK_FILE) >= sizeof path)
    return cairn_seterr(CAIRN_ERR_INVAL, "data_dir path is too long");
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
      return cairn_seterr(CAIRN_ERR_EXISTS, "another cairn-cloud is running "
                          "with data_dir %s", c->cfg->data_dir);
    return cairn_seterr(CAIRN_ERR_IO, "lock %s: %s", path, strerror(e));
  }
  c->lock_fd = fd;
  return CAIRN_OK;
}

/* ---- timers and signals ------------------------------------------------ */

static void on_tick(uv_timer_t *t)
{
  struct cloud *c = t->data;
  int changed = 0;

  /* The CA manager logs its own failures; the next tick retries. */
  if (cairn_ca_tick(c->ca, &changed) != CAIRN_OK)
    CAIRN_LOGD(MOD, "CA tick: %s", cairn_errdetail());
  if (changed)
    CAIRN_LOGD(MOD, "trust bundle now at sequence %llu",
               (unsigned long long)cairn_ca_bundle_sequence(c->ca));
  /* Every tick, not only on a bundle change: an activation changes no
   * bundle but needs a new server SVID. The authority logs its own
   * failures (and its poll timer catches up within a second anyway). */
  cairn_authority_bundle_changed(c->auth);
}

static void prune(struct cloud *c)
{
  int64_t now = (int64_t)cairn_now();
  size_t n = 0;

  if (cairn_store_token_prune(c->st, now, &n) != CAIRN_OK)
    CAIRN_LOGW(MOD, "pruning join tokens failed: %s", cairn_errdetail());
  else if (n)
    CAIRN_LOGI(MOD, "pruned %zu expired join token%s", n, n == 1 ? "" : "s");
  n = 0;
  if (cairn_store_entry_prune_expired(c->st, now, &n) != CAIRN_OK)
    CAIRN_LOGW(MOD, "pruning entries failed: %s", cairn_errdetail());
  else if (n)
    CAIRN_LOGI(MOD, "pruned %zu expired entr%s", n, n == 1 ? "y" : "ies");
}

static void on_prune(uv_timer_t *t)
{
  prune(t->data);
}

static void stop(struct cloud *c, const char *why)
{
  if (c->stopping) return;
  c->stopping = 1;
  CAIRN_LOGI(MOD, "%s: shutting down", why);
  cairn_grpc_server_free(c->srv);
  c->srv = NULL;
  cairn_authority_free(c->auth);
  c->auth = NULL;
  uv_timer_stop(&c->tick);
  uv_timer_stop(&c->prune);
  uv_close((uv_handle_t *)&c->tick, NULL);
  uv_close((uv_handle_t *)&c->prune, NULL);
  uv_close((uv_handle_t *)&c->sigint, NULL);
  uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
  stop(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---- startup and shutdown ------------------------------------------------ */

static int start(struct cloud *c, const char *config)
{
  struct cairn_ca_opts co;
  struct cairn_admin_opts ao;
  struct cairn_authority_opts uo;
  char dir[PATH_MAX];
  int r;

  if ((r = cairn_srvconf_load(config, &c->cfg)))
    return die("cannot load the configuration");
  cairn_log_set_level(c->cfg->log_level);
  if (c->cfg->upstream_plugin) {
    fprintf(stderr, PROG ": %s: UpstreamAuthority \"%s\" is for cairn-edge "
            "(a server below another Cairn server); cairn-cloud is the root "
            "of its trust domain\n", c->cfg->file, c->cfg->upstream_plugin);
    return 1;
  }
  for (size_t i = 0; i < c->cfg->n_warnings; i++)
    CAIRN_LOGW(MOD, "%s: %s", c->cfg->file, c->cfg->warnings[i]);

  if (ensure_dir(c->cfg->data_dir)) return die("cannot create data_dir");
  if (lock_data_dir(c)) return die("cannot lock data_dir");
  dir_of(c->cfg->db_path, dir, sizeof dir);
  if (ensure_dir(dir)) return die("cannot create the datastore directory");
  if (cairn_store_open(c->cfg->db_path, &c->st))
    return die("cannot open the datastore");

  cairn_srvconf_ca_opts(c->cfg, &co);
  if (cairn_ca_new(&co, c->st, &c->ca))
    return die("cannot start the CA");

  memset(&ao, 0, sizeof ao);
  ao.default_x509_svid_ttl = c->cfg->default_x509_svid_ttl;
  ao.default_jwt_svid_ttl = c->cfg->default_jwt_svid_ttl;
  ao.owner = CAIRN_ADMIN_OWNER_CLOUD;
  ao.version = CAIRN_VERSION;
  if (cairn_admin_new(&ao, c->st, c->ca, &c->admin))
    return die("cannot start the admin API");

  if (uv_loop_init(&c->loop) != 0) {
    fprintf(stderr, PROG ": cannot create the event loop\n");
    return 1;
  }
  c->loop_ready = 1;
  if (cairn_grpc_server_new(&c->loop, NULL, &c->srv) ||
      cairn_admin_register(c->admin, c->srv))
    return die("cannot start the admin API");
  dir_of(c->cfg->socket_path, dir, sizeof dir);
  if (ensure_dir(dir)) return die("cannot create the socket directory");
  if (cairn_grpc_server_listen(c->srv, c->cfg->socket_path, 0600))
    return die("cannot listen on the admin socket");

  cairn_authority_opts_init(&uo);
  uo.trust_domain = c->cfg->trust_domain;
  uo.bind_addr = c->cfg->bind_address;
  uo.port = (uint16_t)c->cfg->bind_port;
  uo.default_x509_svid_ttl = c->cfg->default_x509_svid_ttl;
  uo.default_jwt_svid_ttl = c->cfg->default_jwt_svid_ttl;
  uo.node_svid_ttl = c->cfg->agent_ttl;
  uo.join_token = c->cfg->join_token_attestor;
  uo.entry_owner = CAIRN_ADMIN_OWNER_CLOUD;
  if (cairn_authority_new(&c->loop, c->st, c->ca, &uo, &c->auth))
    return die("cannot start the agent endpoint");

  uv_timer_init(&c->loop, &c->tick);
  uv_timer_init(&c->loop, &c->prune);
  uv_signal_init(&c->loop, &c->sigint);
  uv_signal_init(&c->loop, &c->sigterm);
  c->tick.data = c->prune.data = c->sigint.data = c->sigterm.data = c;
  c->handles_ready = 1;
  uv_timer_start(&c->tick, on_tick, CAIRN_CA_TICK * 1000, CAIRN_CA_TICK * 1000);
  uv_timer_start(&c->prune, on_prune, PRUNE_INTERVAL_MS, PRUNE_INTERVAL_MS);
  uv_signal_start(&c->sigint, on_signal, SIGINT);
  uv_signal_start(&c->sigterm, on_signal, SIGTERM);
  prune(c);
  {
    struct cairn_ca_state s;
    char ttl[32];
    cairn_ca_get_status(c->ca, &s);
    CAIRN_LOGI(MOD, "datastore %s, CA ttl %s, %s root, bundle sequence %llu",
               c->cfg->db_path,
               cairn_duration_format(c->cfg->ca_ttl, ttl, sizeof ttl),
               s.upstream == 1 ? "upstream (disk)" : "self-signed",
               (unsigned long long)s.bundle_sequence);
  }
  CAIRN_LOGI(MOD, PROG " ready: trust_domain=%s socket=%s bind_address=%s "
             "bind_port=%u", c->cfg->trust_domain, c->cfg->socket_path,
             c->cfg->bind_address, (unsigned)cairn_authority_port(c->auth));
  return 0;
}

/* Releases everything start() set up, in reverse order. */
static void finish(struct cloud *c)
{
  if (c->loop_ready) {
    if (c->srv) cairn_grpc_server_free(c->srv);
    c->srv = NULL;
    cairn_authority_free(c->auth);
    c->auth = NULL;
    if (c->handles_ready && !c->stopping) {
      uv_close((uv_handle_t *)&c->tick, NULL);
      uv_close((uv_handle_t *)&c->prune, NULL);
      uv_close((uv_handle_t *)&c->sigint, NULL);
      uv_close((uv_handle_t *)&c->sigterm, NULL);
    }
    uv_run(&c->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&c->loop) != 0)
      CAIRN_LOGW(MOD, "event loop closed with handles still open");
  }
  cairn_admin_free(c->admin);
  cairn_ca_free(c->ca);
  cairn_store_close(c->st);
  if (c->lock_fd >= 0) close(c->lock_fd);
  cairn_srvconf_free(c->cfg);
}

int main(int argc, char **argv)
{
  struct cloud c;
  const char *config;
  int rc;

  memset(&c, 0, sizeof c);
  c.lock_fd = -1;
  rc = parse_args(argc, argv, &config);
  if (rc == 1) return 0;
  if (rc == 2) return 2;
  signal(SIGPIPE, SIG_IGN);

  rc = start(&c, config);
  if (rc == 0) {
    uv_run(&c.loop, UV_RUN_DEFAULT);
    CAIRN_LOGI(MOD, "stopped");
  }
  finish(&c);
  return rc;
}
