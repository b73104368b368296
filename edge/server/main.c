/* cairn-edge - a Cairn server below another Cairn server.
 *
 * The same authority core as cairn-cloud (cairn/authority.h serving
 * CoAP/DTLS to agents and further edges, cairn/admin.h on the admin
 * socket, cairn/ca.h rotating the CA), but its X.509 CA is an
 * intermediate that its upstream (cairn-cloud or another cairn-edge)
 * signs, and its trust bundle is the upstream's. The upstream side is
 * upstream.c (eu_). One libuv loop runs everything: the CA rotation tick
 * every CAIRN_CA_TICK seconds (and at once when an upstream answer
 * arrived), a one-second poll that publishes the upstream status to the
 * admin API and forwards JWT keys, the pruning of expired join tokens and
 * entries and the offline-budget log line every minute. See docs/edge.md.
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
#include "upstream.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.0.0"
#endif

#define PROG "cairn-edge"
#define MOD "edge"
#define CONFIG_DEFAULT "conf/edge.conf"
#define PRUNE_INTERVAL_MS (60 * 1000)
#define BUDGET_INTERVAL_MS (60 * 1000)
#define POLL_INTERVAL_MS 1000
#define LOCK_FILE "cairn-edge.lock"
#define OWNER "edge"     /* owner of the entries registered here */
#define STATUS_MAX 1024

static const char g_usage[] =
    "NAME\n"
    "  " PROG " - a Cairn SPIFFE server below another Cairn server\n"
    "\n"
    "SYNOPSIS\n"
    "  " PROG " [-config PATH] [-joinToken TOKEN]\n"
    "  " PROG " -h | --help | --version\n"
    "\n"
    "DESCRIPTION\n"
    "  cairn-edge serves a site: agents (cairn-agent) and further edges\n"
    "  attest to it and get their SVIDs over CoAP/DTLS on\n"
    "  bind_address:bind_port, and the `cairn` CLI manages it over the\n"
    "  admin socket (cairn -socketPath PATH ...), exactly as with\n"
    "  cairn-cloud. Its X.509 CA is an intermediate signed by its upstream\n"
    "  (cairn-cloud or another cairn-edge): the edge attests to the\n"
    "  upstream once with a join token, like an agent, keeps that node\n"
    "  identity in data_dir/upstream/, asks POST /v1/downstream/ca for each\n"
    "  new CA, publishes its JWT keys upward and follows the upstream's\n"
    "  trust bundle (pushed to its own agents within seconds).\n"
    "\n"
    "  Offline operation: while the upstream is unreachable the edge keeps\n"
    "  issuing from its current intermediate until that expires; it asks\n"
    "  for the next one at half its life and never activates one with less\n"
    "  than min(ca_ttl/6, 7d) left. It restarts from data_dir without the\n"
    "  upstream. `cairn healthcheck -verbose` and a log line every minute\n"
    "  show the offline budget: the time left on the active intermediate\n"
    "  and whether the next one is ready.\n"
    "\n"
    "  At the upstream, the edge's node (spiffe://<td>/spire/agent/\n"
    "  join_token/<token>) needs an entry marked -downstream, e.g.\n"
    "    cairn entry create -parentID spiffe://<td>/spire/agent/join_token/T\n"
    "        -spiffeID spiffe://<td>/site-a -selector edge:name:site-a\n"
    "        -downstream [-scope /site-a]\n"
    "  otherwise the upstream refuses the CA request (4.03); the edge logs\n"
    "  it and asks again with a growing pause (1 s doubling to 30 s).\n"
    "\n"
    "OPTIONS\n"
    "  -config PATH, --config PATH, -config=PATH\n"
    "         configuration file (default " CONFIG_DEFAULT ")\n"
    "  -joinToken TOKEN, --joinToken TOKEN\n"
    "         join token for the first attestation to the upstream; overrides\n"
    "         plugin_data join_token. Unused once data_dir/upstream holds a\n"
    "         node SVID.\n"
    "  -h, --help     show this help and exit\n"
    "  --version      print the version and exit\n"
    "\n"
    "CONFIGURATION (HCL, shaped like spire-server's server.conf)\n"
    "  server {\n"
    "    trust_domain           required; the upstream's trust domain\n"
    "    data_dir               required; datastore, CA keys, upstream/\n"
    "    socket_path            admin socket (/tmp/cairn-server/private/api.sock)\n"
    "    bind_address/bind_port endpoint for agents and edges (0.0.0.0/8081)\n"
    "    log_level              DEBUG, INFO, WARN, ERROR (INFO)\n"
    "    ca_ttl                 wanted CA and JWT key lifetime (24h); the\n"
    "                           activation threshold is min(ca_ttl/6, 7d)\n"
    "    default_x509_svid_ttl  (1h)    default_jwt_svid_ttl (5m)\n"
    "    agent_ttl              node SVIDs of its agents (default_x509_svid_ttl)\n"
    "    ca_key_type            ec-p256 or ec-p384 (ec-p256)\n"
    "    jwt_issuer             (\"\")\n"
    "  }\n"
    "  plugins {\n"
    "    DataStore \"sql\"   { plugin_data { database_type = \"sqlite3\",\n"
    "                        connection_string = \"datastore.sqlite3\" } }\n"
    "    KeyManager \"disk\" { plugin_data { keys_path = \"keys\" } }  (or \"memory\")\n"
    "    UpstreamAuthority \"cairn\" {          required (\"spire\" also works)\n"
    "      plugin_data {\n"
    "        server_address       upstream IP or host name (required)\n"
    "        server_port          its bind_port (8081)\n"
    "        trust_bundle_path    upstream root(s), PEM or SPIFFE JSON, for\n"
    "                             the first contact (or insecure_bootstrap)\n"
    "        trust_bundle_format  \"pem\" or \"spiffe\" (guessed when absent)\n"
    "        join_token           for the first start (or -joinToken)\n"
    "        scope                path scope, e.g. \"/site-a\": entries and\n"
    "                             mints outside it are refused\n"
    "      }\n"
    "    }\n"
    "    NodeAttestor \"join_token\" { plugin_data {} }\n"
    "  }\n"
    "  UpstreamAuthority \"spire\" takes the same keys; workload_api_socket is\n"
    "  refused (the edge attests itself; no co-located agent is needed).\n"
    "  A documented example is conf/edge.conf; the reference is docs/edge.md.\n"
    "  `cairn validate -config PATH` checks a file offline.\n"
    "\n"
    "FILES\n"
    "  data_dir/datastore.sqlite3   entries, agents, tokens, bundle, CA journal\n"
    "  data_dir/keys/               CA and JWT keys (0600)\n"
    "  data_dir/upstream/           node SVID (agent_svid.pem), its key\n"
    "                               (agent_svid.key, 0600), upstream bundle\n"
    "  data_dir/cairn-edge.lock     held while running\n"
    "\n"
    "SIGNALS\n"
    "  SIGINT and SIGTERM stop the server cleanly. Logs go to stderr. When\n"
    "  it serves, the server logs one line \"" PROG " ready: trust_domain=...\n"
    "  socket=... bind_address=... bind_port=...\" (once it holds an X.509 CA).\n"
    "\n"
    "EXIT STATUS\n"
    "  0 after a clean stop; 1 when the server cannot start (one line on\n"
    "  stderr says why) or its upstream refused it before it ever had a CA\n"
    "  (e.g. a join token refused); 2 for a bad command line.\n"
    "\n"
    "EXAMPLE\n"
    "  cairn token generate -socketPath /tmp/cloud.sock   # at the upstream\n"
    "  " PROG " -config conf/edge.conf -joinToken <token>\n"
    "  cairn healthcheck -verbose -socketPath /tmp/cairn-edge/private/api.sock\n";

struct edge {
  struct cairn_server core;   /* configuration, datastore, CA, admin API,
                                 endpoint, loop and data_dir lock */
  struct eu *up;
  uv_timer_t tick, prune, budget, poll, soon;
  uv_signal_t sigint, sigterm;
  int handles_ready;
  int stopping;
  int exit_code;
  int waiting_logged;         /* "waiting for the first CA" was logged */
  uint64_t forward_seq;       /* bundle sequence last forwarded for */
  char status[STATUS_MAX];
};

static int die(const char *what)
{
  return cairn_server_die(PROG, what);
}

/* ---- command line ---------------------------------------------------- */

struct args {
  const char *config;
  const char *join_token;
};

/* 0: run; 1: done (help/version printed), exit 0; 2: usage error. */
static int parse_args(int argc, char **argv, struct args *args)
{
  const struct cairn_server_flag flags[] = {
      {"config", "a value", &args->config},
      {"joinToken", "a value", &args->join_token},
      {NULL, NULL, NULL}};

  args->config = CONFIG_DEFAULT;
  args->join_token = NULL;
  return cairn_server_parse_args(argc, argv, PROG, CAIRN_VERSION, g_usage,
                                 flags);
}

/* ---- status and the offline budget ----------------------------------- */

static const char *tfmt(int64_t t, char *buf, size_t n)
{
  return cairn_time_format((time_t)t, buf, n);
}

/* One line: time left on the active X.509 CA, the next one, the upstream. */
static void log_budget(struct edge *e)
{
  struct cairn_ca_state s;
  int64_t now = (int64_t)cairn_now();
  char left[32], t1[32], t2[32], next[160];

  cairn_ca_get_status(e->core.ca, &s);
  if (s.x509_next.state == CAIRN_CA_SLOT_PREPARED) {
    snprintf(next, sizeof next, "next X.509 CA ready (until %s)",
             tfmt(s.x509_next.not_after, t2, sizeof t2));
  } else if (s.x509_pending) {
    snprintf(next, sizeof next, "next X.509 CA requested from the upstream, "
             "not ready");
  } else if (s.x509_current.state == CAIRN_CA_SLOT_ACTIVE) {
    snprintf(next, sizeof next, "next X.509 CA not ready (asked for from %s)",
             tfmt(s.x509_current.prepare_at, t2, sizeof t2));
  } else {
    snprintf(next, sizeof next, "no X.509 CA yet");
  }
  if (s.x509_current.state == CAIRN_CA_SLOT_ACTIVE &&
      s.x509_current.not_after > now)
    CAIRN_LOGI(MOD, "offline budget: %s left on the active X.509 CA (until "
               "%s); %s; upstream %s",
               cairn_duration_format(s.x509_current.not_after - now, left,
                                     sizeof left),
               tfmt(s.x509_current.not_after, t1, sizeof t1), next,
               e->status);
  else
    CAIRN_LOGW(MOD, "offline budget: none, no active X.509 CA; %s; upstream "
               "%s", next, e->status);
}

static void update_status(struct edge *e)
{
  eu_status_text(e->up, e->status, sizeof e->status);
  cairn_admin_set_upstream_status(e->core.admin, e->status);
}

/* ---- the endpoint, the CA and the upstream --------------------------- */

static void stop(struct edge *e, const char *why);

/* Starts the endpoint once the CA has an active X.509 CA. */
static void try_authority(struct edge *e)
{
  struct cairn_ca_state s;
  char detail[512];

  if (e->core.auth || e->stopping) return;
  cairn_ca_get_status(e->core.ca, &s);
  if (s.x509_current.state != CAIRN_CA_SLOT_ACTIVE ||
      s.x509_current.not_after <= (int64_t)cairn_now()) {
    if (!e->waiting_logged)
      CAIRN_LOGI(MOD, "waiting for the upstream to sign the first X.509 CA; "
                 "the endpoint starts then");
    e->waiting_logged = 1;
    return;
  }
  if (cairn_server_start_endpoint(&e->core, OWNER)) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    CAIRN_LOGE(MOD, "cannot start the endpoint: %s", detail);
    fprintf(stderr, PROG ": cannot start the endpoint: %s\n", detail);
    e->exit_code = 1;
    stop(e, "endpoint failure");
    return;
  }
  cairn_server_log_ready(&e->core, PROG, MOD);
  update_status(e);
  log_budget(e);
}

static void tick_once(struct edge *e)
{
  int changed = 0;

  if (e->stopping) return;
  if (cairn_ca_tick(e->core.ca, &changed) != CAIRN_OK)
    CAIRN_LOGD(MOD, "CA tick: %s", cairn_errdetail());
  if (e->core.auth) cairn_authority_bundle_changed(e->core.auth);
  else try_authority(e);
  if (e->stopping) return;
  eu_forward_jwt_keys(e->up, e->core.ca);
}

static void on_tick(uv_timer_t *t) { tick_once(t->data); }

/* An upstream answer for the CA manager arrived: tick on the next turn of
 * the loop (not inside the network callback). */
static void on_result(void *arg)
{
  struct edge *e = arg;
  if (!e->stopping) uv_timer_start(&e->soon, on_tick, 0, 0);
}

static void on_upstream_bundle(const struct cairn_bundle *b, void *arg)
{
  struct edge *e = arg;
  int changed = 0;

  if (e->stopping || !e->core.ca) return;
  if (cairn_ca_set_upstream_bundle(e->core.ca, b, &changed) != CAIRN_OK) {
    CAIRN_LOGW(MOD, "cannot adopt the upstream's bundle: %s",
               cairn_errdetail());
    return;
  }
  if (!changed) return;
  CAIRN_LOGI(MOD, "adopted the upstream's trust bundle: sequence %llu",
             (unsigned long long)cairn_ca_bundle_sequence(e->core.ca));
  if (e->core.auth) cairn_authority_bundle_changed(e->core.auth);
}

static void on_lost(const char *why, void *arg)
{
  struct edge *e = arg;
  struct cairn_ca_state s;
  char t[32];

  if (e->stopping) return;
  cairn_ca_get_status(e->core.ca, &s);
  if (s.x509_current.state != CAIRN_CA_SLOT_ACTIVE) {
    fprintf(stderr, PROG ": the upstream refused this edge before it had an "
            "X.509 CA: %s\n", why);
    e->exit_code = 1;
    stop(e, "no upstream");
    return;
  }
  CAIRN_LOGE(MOD, "the link to the upstream is lost for good: %s. The edge "
             "keeps issuing from its X.509 CA until %s. To reconnect, stop "
             "it, remove %s/" EU_DIR "/agent_svid.* and start it with a new "
             "join token", why, tfmt(s.x509_current.not_after, t, sizeof t),
             e->core.cfg->data_dir);
  update_status(e);
}

/* Forwards downstream JWT keys soon after the bundle moved; keeps the
 * health status fresh. */
static void on_poll(uv_timer_t *t)
{
  struct edge *e = t->data;
  uint64_t seq = cairn_ca_bundle_sequence(e->core.ca);

  if (e->stopping) return;
  if (seq != e->forward_seq) {
    e->forward_seq = seq;
    eu_forward_jwt_keys(e->up, e->core.ca);
  }
  update_status(e);
}

static void on_budget(uv_timer_t *t)
{
  struct edge *e = t->data;
  update_status(e); /* log_budget() prints e->status */
  log_budget(e);
}

static void on_prune(uv_timer_t *t)
{
  struct edge *e = t->data;
  cairn_server_prune(e->core.st, MOD);
}

static void close_handles(struct edge *e)
{
  uv_timer_stop(&e->tick);
  uv_timer_stop(&e->prune);
  uv_timer_stop(&e->budget);
  uv_timer_stop(&e->poll);
  uv_timer_stop(&e->soon);
  uv_close((uv_handle_t *)&e->tick, NULL);
  uv_close((uv_handle_t *)&e->prune, NULL);
  uv_close((uv_handle_t *)&e->budget, NULL);
  uv_close((uv_handle_t *)&e->poll, NULL);
  uv_close((uv_handle_t *)&e->soon, NULL);
  uv_close((uv_handle_t *)&e->sigint, NULL);
  uv_close((uv_handle_t *)&e->sigterm, NULL);
}

/* Frees the admin server, the endpoint and the upstream client and closes
 * the loop's handles; the loop then runs dry. */
static void release(struct edge *e)
{
  cairn_grpc_server_free(e->core.srv);
  e->core.srv = NULL;
  cairn_authority_free(e->core.auth);
  e->core.auth = NULL;
  eu_free(e->up);
  e->up = NULL;
  if (e->handles_ready) close_handles(e);
}

static void stop(struct edge *e, const char *why)
{
  if (e->stopping) return;
  e->stopping = 1;
  CAIRN_LOGI(MOD, "%s: shutting down", why);
  release(e);
}

static void on_signal(uv_signal_t *s, int signum)
{
  stop(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---- startup and shutdown ---------------------------------------------- */

static int start(struct edge *e, const struct args *args)
{
  struct cairn_ca_opts co;
  struct cairn_admin_opts ao;
  struct eu_opts uo;
  const char *what;
  char ttl[32];

  if (cairn_srvconf_load(args->config, &e->core.cfg))
    return die("cannot load the configuration");
  cairn_log_set_level(e->core.cfg->log_level);
  if (!e->core.cfg->upstream_plugin) {
    fprintf(stderr, PROG ": %s: an UpstreamAuthority \"cairn\" plugin is "
            "required (cairn-edge gets its CA from an upstream Cairn server; "
            "a root runs cairn-cloud)\n", e->core.cfg->file);
    return 1;
  }
  if (args->join_token &&
      cairn_srvconf_set_join_token(e->core.cfg, args->join_token))
    return die("bad command line");
  for (size_t i = 0; i < e->core.cfg->n_warnings; i++)
    CAIRN_LOGW(MOD, "%s: %s", e->core.cfg->file, e->core.cfg->warnings[i]);

  if ((what = cairn_server_open_store(&e->core, LOCK_FILE, PROG)))
    return die(what);

  if (uv_loop_init(&e->core.loop) != 0) {
    fprintf(stderr, PROG ": cannot create the event loop\n");
    return 1;
  }
  e->core.loop_ready = 1;
  uv_timer_init(&e->core.loop, &e->tick);
  uv_timer_init(&e->core.loop, &e->prune);
  uv_timer_init(&e->core.loop, &e->budget);
  uv_timer_init(&e->core.loop, &e->poll);
  uv_timer_init(&e->core.loop, &e->soon);
  uv_signal_init(&e->core.loop, &e->sigint);
  uv_signal_init(&e->core.loop, &e->sigterm);
  e->tick.data = e->prune.data = e->budget.data = e->poll.data = e;
  e->soon.data = e->sigint.data = e->sigterm.data = e;
  e->handles_ready = 1;

  eu_opts_init(&uo);
  uo.cfg = e->core.cfg;
  uo.on_result = on_result;
  uo.on_bundle = on_upstream_bundle;
  uo.on_lost = on_lost;
  uo.arg = e;
  if (eu_new(&e->core.loop, &uo, &e->up))
    return die("cannot set up the upstream client");

  /* Resumes the journal's CA; a fresh edge only queues its first request
   * here (the CA manager then waits for the upstream's answer). */
  cairn_srvconf_ca_opts(e->core.cfg, &co);
  co.upstream_fn = eu_ca_sign;
  co.publish_jwt_fn = eu_ca_publish_jwt;
  co.upstream_arg = e->up;
  if (cairn_ca_new(&co, e->core.st, &e->core.ca))
    return die("cannot start the CA");

  cairn_server_admin_opts(e->core.cfg, OWNER, CAIRN_VERSION, &ao);
  if (cairn_admin_new(&ao, e->core.st, e->core.ca, &e->core.admin))
    return die("cannot start the admin API");
  if ((what = cairn_server_admin_listen(&e->core)))
    return die(what);

  CAIRN_LOGI(MOD, "datastore %s, CA ttl %s, upstream \"%s\" at %s:%d%s%s",
             e->core.cfg->db_path,
             cairn_duration_format(e->core.cfg->ca_ttl, ttl, sizeof ttl),
             e->core.cfg->upstream_plugin, e->core.cfg->upstream_address,
             e->core.cfg->upstream_port,
             e->core.cfg->upstream_scope ? ", scope " : "",
             e->core.cfg->upstream_scope ? e->core.cfg->upstream_scope : "");
  if (eu_start(e->up)) return die("cannot start the upstream client");

  uv_timer_start(&e->tick, on_tick, CAIRN_CA_TICK * 1000,
                 CAIRN_CA_TICK * 1000);
  uv_timer_start(&e->prune, on_prune, PRUNE_INTERVAL_MS, PRUNE_INTERVAL_MS);
  uv_timer_start(&e->budget, on_budget, BUDGET_INTERVAL_MS,
                 BUDGET_INTERVAL_MS);
  uv_timer_start(&e->poll, on_poll, POLL_INTERVAL_MS, POLL_INTERVAL_MS);
  uv_signal_start(&e->sigint, on_signal, SIGINT);
  uv_signal_start(&e->sigterm, on_signal, SIGTERM);
  cairn_server_prune(e->core.st, MOD);
  update_status(e);
  try_authority(e);
  if (e->stopping) return e->exit_code ? e->exit_code : 1;
  return 0;
}

static void finish(struct edge *e)
{
  if (e->core.loop_ready && !e->stopping) release(e);
  cairn_server_close(&e->core, MOD);
}

int main(int argc, char **argv)
{
  struct edge e;
  struct args args;
  int rc;

  memset(&e, 0, sizeof e);
  e.core.lock_fd = -1;
  rc = parse_args(argc, argv, &args);
  if (rc == 1) return 0;
  if (rc == 2) return 2;
  signal(SIGPIPE, SIG_IGN);

  rc = start(&e, &args);
  if (rc == 0) {
    uv_run(&e.core.loop, UV_RUN_DEFAULT);
    rc = e.exit_code;
    CAIRN_LOGI(MOD, "stopped");
  }
  finish(&e);
  return rc;
}
