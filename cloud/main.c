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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cairn/admin.h"
#include "cairn/authority.h"
#include "cairn/ca.h"
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/log.h"
#include "cairn/server.h"
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
  struct cairn_server core;     /* configuration, datastore, CA, admin API,
                                   endpoint, loop and data_dir lock */
  uv_timer_t tick, prune;
  uv_signal_t sigint, sigterm;
  int handles_ready;
  int stopping;
};

/* One line on stderr, as every startup error is reported. */
static int die(const char *what)
{
  return cairn_server_die(PROG, what);
}

/* ---- command line ---------------------------------------------------- */

/* 0: run with *config; 1: done (help/version printed), exit 0; 2: usage
 * error (printed). */
static int parse_args(int argc, char **argv, const char **config)
{
  const struct cairn_server_flag flags[] = {
      {"config", "a file path", config}, {NULL, NULL, NULL}};

  *config = CONFIG_DEFAULT;
  return cairn_server_parse_args(argc, argv, PROG, CAIRN_VERSION, g_usage,
                                 flags);
}

/* ---- timers and signals ------------------------------------------------ */

static void on_tick(uv_timer_t *t)
{
  struct cloud *c = t->data;
  int changed = 0;

  /* The CA manager logs its own failures; the next tick retries. */
  if (cairn_ca_tick(c->core.ca, &changed) != CAIRN_OK)
    CAIRN_LOGD(MOD, "CA tick: %s", cairn_errdetail());
  if (changed)
    CAIRN_LOGD(MOD, "trust bundle now at sequence %llu",
               (unsigned long long)cairn_ca_bundle_sequence(c->core.ca));
  /* Every tick, not only on a bundle change: an activation changes no
   * bundle but needs a new server SVID. The authority logs its own
   * failures (and its poll timer catches up within a second anyway). */
  cairn_authority_bundle_changed(c->core.auth);
}

static void on_prune(uv_timer_t *t)
{
  struct cloud *c = t->data;
  cairn_server_prune(c->core.st, MOD);
}

static void stop(struct cloud *c, const char *why)
{
  if (c->stopping) return;
  c->stopping = 1;
  CAIRN_LOGI(MOD, "%s: shutting down", why);
  cairn_grpc_server_free(c->core.srv);
  c->core.srv = NULL;
  cairn_authority_free(c->core.auth);
  c->core.auth = NULL;
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
  const char *what;
  int r;

  if ((r = cairn_srvconf_load(config, &c->core.cfg)))
    return die("cannot load the configuration");
  cairn_log_set_level(c->core.cfg->log_level);
  if (c->core.cfg->upstream_plugin) {
    fprintf(stderr, PROG ": %s: UpstreamAuthority \"%s\" is for cairn-edge "
            "(a server below another Cairn server); cairn-cloud is the root "
            "of its trust domain\n", c->core.cfg->file, c->core.cfg->upstream_plugin);
    return 1;
  }
  for (size_t i = 0; i < c->core.cfg->n_warnings; i++)
    CAIRN_LOGW(MOD, "%s: %s", c->core.cfg->file, c->core.cfg->warnings[i]);

  if ((what = cairn_server_open_store(&c->core, LOCK_FILE, PROG)))
    return die(what);

  cairn_srvconf_ca_opts(c->core.cfg, &co);
  if (cairn_ca_new(&co, c->core.st, &c->core.ca))
    return die("cannot start the CA");

  cairn_server_admin_opts(c->core.cfg, CAIRN_ADMIN_OWNER_CLOUD, CAIRN_VERSION,
                          &ao);
  if (cairn_admin_new(&ao, c->core.st, c->core.ca, &c->core.admin))
    return die("cannot start the admin API");

  if (uv_loop_init(&c->core.loop) != 0) {
    fprintf(stderr, PROG ": cannot create the event loop\n");
    return 1;
  }
  c->core.loop_ready = 1;
  if ((what = cairn_server_admin_listen(&c->core)))
    return die(what);

  if ((what = cairn_server_start_endpoint(&c->core, CAIRN_ADMIN_OWNER_CLOUD)))
    return die(what);

  uv_timer_init(&c->core.loop, &c->tick);
  uv_timer_init(&c->core.loop, &c->prune);
  uv_signal_init(&c->core.loop, &c->sigint);
  uv_signal_init(&c->core.loop, &c->sigterm);
  c->tick.data = c->prune.data = c->sigint.data = c->sigterm.data = c;
  c->handles_ready = 1;
  uv_timer_start(&c->tick, on_tick, CAIRN_CA_TICK * 1000, CAIRN_CA_TICK * 1000);
  uv_timer_start(&c->prune, on_prune, PRUNE_INTERVAL_MS, PRUNE_INTERVAL_MS);
  uv_signal_start(&c->sigint, on_signal, SIGINT);
  uv_signal_start(&c->sigterm, on_signal, SIGTERM);
  cairn_server_prune(c->core.st, MOD);
  {
    struct cairn_ca_state s;
    char ttl[32];
    cairn_ca_get_status(c->core.ca, &s);
    CAIRN_LOGI(MOD, "datastore %s, CA ttl %s, %s root, bundle sequence %llu",
               c->core.cfg->db_path,
               cairn_duration_format(c->core.cfg->ca_ttl, ttl, sizeof ttl),
               s.upstream == 1 ? "upstream (disk)" : "self-signed",
               (unsigned long long)s.bundle_sequence);
  }
  cairn_server_log_ready(&c->core, PROG, MOD);
  return 0;
}

/* Releases everything start() set up, in reverse order. */
static void finish(struct cloud *c)
{
  if (c->core.loop_ready && c->handles_ready && !c->stopping) {
    uv_close((uv_handle_t *)&c->tick, NULL);
    uv_close((uv_handle_t *)&c->prune, NULL);
    uv_close((uv_handle_t *)&c->sigint, NULL);
    uv_close((uv_handle_t *)&c->sigterm, NULL);
  }
  cairn_server_close(&c->core, MOD);
}

int main(int argc, char **argv)
{
  struct cloud c;
  const char *config;
  int rc;

  memset(&c, 0, sizeof c);
  c.core.lock_fd = -1;
  rc = parse_args(argc, argv, &config);
  if (rc == 1) return 0;
  if (rc == 2) return 2;
  signal(SIGPIPE, SIG_IGN);

  rc = start(&c, config);
  if (rc == 0) {
    uv_run(&c.core.loop, UV_RUN_DEFAULT);
    CAIRN_LOGI(MOD, "stopped");
  }
  finish(&c);
  return rc;
}
