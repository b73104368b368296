/* cairn-agent - the node agent of a Cairn trust domain.
 *
 * Parses the command line, loads the configuration (agent_conf.h) and runs
 * the node identity (agent.h) on one libuv loop until SIGINT/SIGTERM or a
 * fatal error. See docs/agent.md.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/server.h"
#include "cairn/util.h"
#include "agent.h"
#include "agent_conf.h"
#include "api_cli.h"
#include "agent_wl.h"
#include "wl_health.h"
#include "wl_api.h"
#include "wl_cache.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.0.0"
#endif

#define PROG "cairn-agent"
#define MOD "agent"
#define CONFIG_DEFAULT "conf/agent.conf"

static const char g_usage[] =
    "Usage: " PROG " [run] [-config PATH] [-joinToken TOKEN]\n"
    "       " PROG " validate [-config PATH]\n"
    "       " PROG " api fetch|validate ... [-socketPath PATH]\n"
    "       " PROG " healthcheck [-socketPath PATH] [-shallow] [-verbose]\n"
    "       " PROG " -h | --help | --version\n"
    "\n"
    "cairn-agent runs on every node of a SPIFFE trust domain. It proves the\n"
    "node's identity to its server (cairn-cloud or cairn-edge) once with a\n"
    "single-use join token, keeps the node SVID it receives\n"
    "(spiffe://<td>/spire/agent/join_token/<token>) and the trust bundle in\n"
    "data_dir, renews the SVID at half of its lifetime and follows bundle\n"
    "changes. It receives the registration entries of its node, keeps an\n"
    "X509-SVID for each (renewed at half life) and serves them, the bundle\n"
    "and JWT-SVIDs to local processes through the SPIFFE Workload API on\n"
    "socket_path; callers are identified by their uid, gid and binary (unix\n"
    "selectors) and receive the identities whose selectors they all have.\n"
    "\n"
    "Commands:\n"
    "  run            run the agent (the default)\n"
    "  validate       check the configuration file and exit\n"
    "  api fetch x509 | api fetch jwt | api fetch x509-bundles |\n"
    "  api fetch jwt-bundles | api validate jwt\n"
    "                 talk to the Workload API of a running agent like a\n"
    "                 workload (see " PROG " api -h)\n"
    "  healthcheck    ask a running agent whether it serves (see\n"
    "                 " PROG " healthcheck -h)\n"
    "\n"
    "Options:\n"
    "  -config PATH, --config PATH\n"
    "                 configuration file (default " CONFIG_DEFAULT ")\n"
    "  -joinToken TOKEN\n"
    "                 join token to attest with; overrides agent.join_token\n"
    "  -h, --help     show this help and exit\n"
    "  --version, -version\n"
    "                 print the version and exit\n"
    "\n"
    "Configuration (HCL, shaped like spire-agent's):\n"
    "  agent {\n"
    "    trust_domain        required, e.g. \"example.org\"\n"
    "    server_address      required: IP address or host name of the server\n"
    "    server_port         its CoAP/DTLS port (8081)\n"
    "    data_dir            node SVID, key and bundle live here (\".\")\n"
    "    trust_bundle_path   CA certificates (PEM or SPIFFE JSON) that the\n"
    "                        server must chain to on first contact\n"
    "    trust_bundle_format \"pem\" or \"spiffe\" (detected when not set)\n"
    "    insecure_bootstrap  trust the first contact blindly (false); exactly\n"
    "                        one of this and trust_bundle_path is required\n"
    "    join_token          single-use token from `cairn token generate`\n"
    "    socket_path         Workload API socket\n"
    "                        (/tmp/cairn-agent/public/api.sock)\n"
    "    log_level           DEBUG, INFO, WARN, ERROR (INFO)\n"
    "    workload_x509_svid_key_type  ec-p256 or ec-p384 (ec-p256)\n"
    "  }\n"
    "  plugins {\n"
    "    NodeAttestor \"join_token\" { plugin_data {} }      (required)\n"
    "    KeyManager \"disk\" { plugin_data { directory = \"...\" } }\n"
    "    KeyManager \"memory\" { plugin_data {} }\n"
    "    WorkloadAttestor \"unix\" { plugin_data {} }\n"
    "  }\n"
    "A documented example is conf/agent.conf; the reference is docs/agent.md.\n"
    "\n"
    "Start-up: a node SVID persisted in data_dir that has not expired is\n"
    "resumed without contacting the server (\"resuming with persisted SVID\n"
    "...\"). Otherwise the agent attests with the join token; the server must\n"
    "present spiffe://<td>/spire/server chaining to trust_bundle_path. While\n"
    "the server is unreachable the agent keeps its SVID and retries every 1\n"
    "to 30 s; workloads keep receiving the SVIDs it holds until they expire.\n"
    "\n"
    "Signals: SIGINT and SIGTERM stop the agent cleanly. Logs go to stderr.\n"
    "\n"
    "Exit status: 0 after a clean stop (or a valid configuration), 1 when the\n"
    "agent cannot start or must stop (a refused join token; the server\n"
    "refusing the node because it was evicted or banned; a node SVID that\n"
    "expired before it could be renewed), 2 for a bad command line.\n";

struct main_ctx {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  struct ea_agent *agent;
  struct wl_cache *cache;     /* the workload side */
  struct ea_wl *wl;
  struct wl_api *api;
  struct wl_health *health;
  int signals_open;
};

/* ---- command line ------------------------------------------------------ */

struct args {
  int validate;
  const char *config;
  const char *join_token;
};

/* 0: go on; 1: done (help/version printed), exit 0; 2: usage error. */
static int parse_args(int argc, char **argv, struct args *a)
{
  int i = 1;

  memset(a, 0, sizeof *a);
  a->config = CONFIG_DEFAULT;
  if (i < argc && strcmp(argv[i], "run") == 0) {
    i++;
  } else if (i < argc && strcmp(argv[i], "validate") == 0) {
    a->validate = 1;
    i++;
  }
  for (; i < argc; i++) {
    const char *arg = argv[i], *name, *val = NULL, *eq;
    char key[32];

    if (arg[0] != '-' || !arg[1]) {
      fprintf(stderr, PROG ": unexpected argument '%s' (see " PROG
              " --help)\n", arg);
      return 2;
    }
    name = arg[1] == '-' ? arg + 2 : arg + 1;
    if ((eq = strchr(name, '=')) != NULL) {
      snprintf(key, sizeof key, "%.*s", (int)(eq - name), name);
      val = eq + 1;
      name = key;
    }
    if (!strcmp(name, "h") || !strcmp(name, "help")) {
      fputs(g_usage, stdout);
      return 1;
    }
    if (!strcmp(name, "version")) {
      printf(PROG " %s\n", CAIRN_VERSION);
      return 1;
    }
    if (!strcmp(name, "config") ||
        (!a->validate && !strcmp(name, "joinToken"))) {
      if (!val) {
        if (i + 1 >= argc) {
          fprintf(stderr, PROG ": %s needs a value\n", arg);
          return 2;
        }
        val = argv[++i];
      }
      if (!val[0]) {
        fprintf(stderr, PROG ": -%s needs a non-empty value\n", name);
        return 2;
      }
      if (!strcmp(name, "config")) a->config = val;
      else a->join_token = val;
      continue;
    }
    fprintf(stderr, PROG ": unknown flag '%s' (see " PROG " --help)\n", arg);
    return 2;
  }
  return 0;
}

/* ---- signals and exit ---------------------------------------------------- */

static void close_signals(struct main_ctx *m)
{
  if (!m->signals_open) return;
  m->signals_open = 0;
  uv_close((uv_handle_t *)&m->sigint, NULL);
  uv_close((uv_handle_t *)&m->sigterm, NULL);
}

/* Stops the workload side (after the agent, so nothing is pending on its
 * session): the socket goes away and open streams end. */
static void stop_workload(struct main_ctx *m)
{
  wl_api_free(m->api);
  m->api = NULL;
  wl_health_free(m->health);  /* the server called it until freed */
  m->health = NULL;
  ea_wl_free(m->wl);
  m->wl = NULL;
  wl_cache_free(m->cache);
  m->cache = NULL;
}

static void on_signal(uv_signal_t *s, int signum)
{
  struct main_ctx *m = s->data;

  CAIRN_LOGI(MOD, "%s: shutting down", signum == SIGINT ? "SIGINT"
                                                        : "SIGTERM");
  ea_agent_stop(m->agent);
  stop_workload(m);
  close_signals(m);
}

static void on_agent_exit(struct ea_agent *a, int code, void *arg)
{
  (void)a;
  (void)code;
  stop_workload(arg);
  close_signals(arg);
}

/* The healthcheck answer: serving while the agent holds a node SVID and
 * the Workload API has a bundle. */
static int workload_health(void *arg, char *detail, size_t len)
{
  struct main_ctx *m = arg;
  struct ea_agent_status st;
  struct ea_wl_stats ws;

  ea_agent_get_status(m->agent, &st);
  ea_wl_get_stats(m->wl, &ws);
  if (st.phase != EA_PHASE_RUNNING || !m->cache ||
      !wl_cache_bundle(m->cache)) {
    snprintf(detail, len, "the agent has no node SVID yet");
    return 0;
  }
  snprintf(detail, len, "node %s; server %s; %zu entries, revision %llu",
           st.id.str, st.server_up ? "reachable" : "unreachable",
           wl_cache_entry_count(m->cache),
           (unsigned long long)ws.entries_revision);
  return 1;
}

/* Creates the workload cache, its sync with the server and the Workload
 * API socket (its directory is created 0755 when missing). */
static int start_workload(struct main_ctx *m, const struct ea_conf *conf,
                          struct ea_agent_opts *ao)
{
  struct wl_cache_opts co;
  struct ea_wl_opts wo;
  struct wl_api_opts po;
  char dir[EA_CONF_PATH_MAX + 1];
  int r;

  wl_cache_opts_init(&co);
  co.trust_domain = conf->trust_domain;
  if ((r = wl_cache_new(&m->loop, &co, &m->cache))) return r;
  ea_wl_opts_init(&wo);
  wo.cache = m->cache;
  wo.key_type = conf->workload_key_type;
  if ((r = ea_wl_new(&m->loop, &wo, &m->wl))) return r;
  ao->on_session = ea_wl_on_session;
  ao->on_bundle = ea_wl_on_bundle;
  ao->hook_arg = m->wl;

  cairn_server_dir_of(conf->socket_path, dir, sizeof dir);
  if ((r = cairn_mkdir_p(dir, 0755)))
    return cairn_seterr(r, "cannot create the socket directory %s: %s", dir,
                        cairn_errdetail());
  wl_api_opts_init(&po);
  po.cache = m->cache;
  po.socket_path = conf->socket_path;
  po.mint_jwt = ea_wl_mint_jwt;
  po.mint_arg = m->wl;
  if ((r = wl_api_new(&m->loop, &po, &m->api))) return r;
  if ((r = wl_health_new(wl_api_server(m->api), workload_health, m,
                         &m->health)))
    return r;
  return CAIRN_OK;
}

int main(int argc, char **argv)
{
  struct main_ctx m;
  struct ea_agent_opts ao;
  struct ea_conf *conf = NULL;
  struct args args;
  int rc;

  if (argc > 1 && strcmp(argv[1], "api") == 0)
    return ea_api_cli_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "healthcheck") == 0)
    return ea_healthcheck_main(argc - 1, argv + 1);
  memset(&m, 0, sizeof m);
  rc = parse_args(argc, argv, &args);
  if (rc == 1) return 0;
  if (rc == 2) return 2;
  signal(SIGPIPE, SIG_IGN);

  if (ea_conf_load(args.config, &conf) != CAIRN_OK) {
    fprintf(stderr, PROG ": cannot load the configuration: %s\n",
            cairn_errdetail());
    return 1;
  }
  if (args.join_token &&
      ea_conf_set_join_token(conf, args.join_token) != CAIRN_OK) {
    fprintf(stderr, PROG ": %s\n", cairn_errdetail());
    ea_conf_free(conf);
    return 2;
  }
  if (args.validate) {
    printf("%s: configuration is valid\n", args.config);
    ea_conf_free(conf);
    return 0;
  }
  cairn_log_set_level(conf->log_level);

  if (uv_loop_init(&m.loop) != 0) {
    fprintf(stderr, PROG ": cannot create the event loop\n");
    ea_conf_free(conf);
    return 1;
  }
  ea_agent_opts_init(&ao);
  ao.conf = conf;
  ao.on_exit = on_agent_exit;
  ao.arg = &m;
  if (start_workload(&m, conf, &ao) != CAIRN_OK) {
    fprintf(stderr, PROG ": cannot start the Workload API: %s\n",
            cairn_errdetail());
    rc = 1;
    goto out;
  }
  if (ea_agent_new(&m.loop, &ao, &m.agent) != CAIRN_OK) {
    fprintf(stderr, PROG ": cannot start: %s\n", cairn_errdetail());
    rc = 1;
    goto out;
  }
  uv_signal_init(&m.loop, &m.sigint);
  uv_signal_init(&m.loop, &m.sigterm);
  m.sigint.data = m.sigterm.data = &m;
  m.signals_open = 1;
  uv_signal_start(&m.sigint, on_signal, SIGINT);
  uv_signal_start(&m.sigterm, on_signal, SIGTERM);

  CAIRN_LOGI(MOD, PROG " %s starting: trust_domain=%s server=%s:%u "
             "data_dir=%s socket_path=%s", CAIRN_VERSION, conf->trust_domain,
             conf->server_address, conf->server_port, conf->data_dir,
             conf->socket_path);
  if (ea_agent_start(m.agent) != CAIRN_OK) {
    fprintf(stderr, PROG ": cannot start: %s\n", cairn_errdetail());
    close_signals(&m);
    rc = 1;
    goto out;
  }
  uv_run(&m.loop, UV_RUN_DEFAULT);
  rc = ea_agent_exit_code(m.agent);
  CAIRN_LOGI(MOD, "stopped%s", rc ? " after an error" : "");

out:
  ea_agent_free(m.agent);
  stop_workload(&m);
  close_signals(&m);
  uv_run(&m.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&m.loop) != 0)
    CAIRN_LOGW(MOD, "event loop closed with handles still open");
  ea_conf_free(conf);
  return rc;
}
