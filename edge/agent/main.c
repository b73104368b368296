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
#include "cairn/util.h"
#include "agent.h"
#include "agent_conf.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.0.0"
#endif

#define PROG "cairn-agent"
#define MOD "agent"
#define CONFIG_DEFAULT "conf/agent.conf"

static const char g_usage[] =
    "Usage: " PROG " [run] [-config PATH] [-joinToken TOKEN]\n"
    "       " PROG " validate [-config PATH]\n"
    "       " PROG " -h | --help | --version\n"
    "\n"
    "cairn-agent runs on every node of a SPIFFE trust domain. It proves the\n"
    "node's identity to its server (cairn-cloud or cairn-edge) once with a\n"
    "single-use join token, keeps the node SVID it receives\n"
    "(spiffe://<td>/spire/agent/join_token/<token>) and the trust bundle in\n"
    "data_dir, renews the SVID at half of its lifetime and follows bundle\n"
    "changes. The SPIFFE Workload API on socket_path follows in a later\n"
    "release.\n"
    "\n"
    "Commands:\n"
    "  run            run the agent (the default)\n"
    "  validate       check the configuration file and exit\n"
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
    "to 30 s.\n"
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

static void on_signal(uv_signal_t *s, int signum)
{
  struct main_ctx *m = s->data;

  CAIRN_LOGI(MOD, "%s: shutting down", signum == SIGINT ? "SIGINT"
                                                        : "SIGTERM");
  ea_agent_stop(m->agent);
  close_signals(m);
}

static void on_agent_exit(struct ea_agent *a, int code, void *arg)
{
  (void)a;
  (void)code;
  close_signals(arg);
}

int main(int argc, char **argv)
{
  struct main_ctx m;
  struct ea_agent_opts ao;
  struct ea_conf *conf = NULL;
  struct args args;
  int rc;

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
             "data_dir=%s", CAIRN_VERSION, conf->trust_domain,
             conf->server_address, conf->server_port, conf->data_dir);
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
  close_signals(&m);
  uv_run(&m.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&m.loop) != 0)
    CAIRN_LOGW(MOD, "event loop closed with handles still open");
  ea_conf_free(conf);
  return rc;
}
