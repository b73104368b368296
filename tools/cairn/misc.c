/* misc.c - `cairn healthcheck` and `cairn validate`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "cairn/err.h"
#include "cairn/srvconf.h"
#include "cairn/util.h"

#define F_STR(n, m, h) {n, CLI_STR, m, h, 0, NULL, 0, NULL, 0}
#define F_BOOL(n, h) {n, CLI_BOOL, NULL, h, 0, NULL, 0, NULL, 0}
#define F_END {NULL, 0, NULL, NULL, 0, NULL, 0, NULL, 0}

#define LABEL_W 16

typedef Cairn__Admin__V1__HealthResponse Health;
typedef Cairn__Admin__V1__Authority Authority;

/* ======================================================================
 * healthcheck
 * ====================================================================== */

static json_t *js_health(const Health *h)
{
  json_t *o = json_object(), *a = json_array();
  size_t i;

  cli_js_set(o, "healthy", json_boolean(h->healthy));
  cli_js_set(o, "trust_domain", cli_js_str(h->trust_domain));
  cli_js_set(o, "version", cli_js_str(h->version));
  cli_js_set(o, "uptime_seconds", json_integer(h->uptime_seconds));
  for (i = 0; a && i < h->n_authorities; i++) {
    const Authority *au = h->authorities[i];
    json_t *x = json_object();
    cli_js_set(x, "kind", cli_js_str(au->kind));
    cli_js_set(x, "state", cli_js_str(au->state));
    cli_js_set(x, "id", cli_js_str(au->id));
    cli_js_set(x, "not_before", json_integer(au->not_before));
    cli_js_set(x, "not_after", json_integer(au->not_after));
    json_array_append_new(a, x);
  }
  cli_js_set(o, "authorities", a);
  cli_js_set(o, "bundle_sequence",
             json_integer(h->bundle_sequence > INT64_MAX
                              ? INT64_MAX
                              : (json_int_t)h->bundle_sequence));
  cli_js_set(o, "entries", json_integer(h->entries));
  cli_js_set(o, "agents", json_integer(h->agents));
  cli_js_set(o, "upstream", cli_js_str(h->upstream));
  if (h->upstream_status && h->upstream_status[0]) {
    cli_js_set(o, "upstream_status", cli_js_str(h->upstream_status));
    cli_js_set(o, "offline_budget_seconds",
               json_integer(h->offline_budget_seconds));
    cli_js_set(o, "next_x509_ready", json_boolean(h->next_x509_ready));
    cli_js_set(o, "scope", cli_js_str(h->scope));
  }
  return o;
}

static void print_health(const Health *h)
{
  char buf[64], t[32], left[32];
  int64_t now = (int64_t)cairn_now();
  size_t i;

  cli_field(LABEL_W, "Trust domain", h->trust_domain);
  cli_field(LABEL_W, "Server version", h->version);
  cli_field(LABEL_W, "Uptime",
            cairn_duration_format(h->uptime_seconds, buf, sizeof(buf)));
  cli_field(LABEL_W, "Upstream", h->upstream);
  if (h->upstream_status && h->upstream_status[0]) {
    /* cairn-edge: how long it can keep issuing without its upstream. */
    cli_field(LABEL_W, "Upstream status", h->upstream_status);
    if (h->offline_budget_seconds > 0)
      snprintf(buf, sizeof(buf), "%s on the active X.509 CA",
               cairn_duration_format(h->offline_budget_seconds, left,
                                     sizeof(left)));
    else
      snprintf(buf, sizeof(buf), "none (no active X.509 CA)");
    cli_field(LABEL_W, "Offline budget", buf);
    cli_field(LABEL_W, "Next X.509 CA",
              h->next_x509_ready ? "ready (prepared)" : "not ready yet");
    if (h->scope && h->scope[0]) cli_field(LABEL_W, "Scope", h->scope);
  }
  snprintf(buf, sizeof(buf), "%llu", (unsigned long long)h->bundle_sequence);
  cli_field(LABEL_W, "Bundle sequence", buf);
  snprintf(buf, sizeof(buf), "%lld", (long long)h->entries);
  cli_field(LABEL_W, "Entries", buf);
  snprintf(buf, sizeof(buf), "%lld", (long long)h->agents);
  cli_field(LABEL_W, "Agents", buf);
  for (i = 0; i < h->n_authorities; i++) {
    const Authority *au = h->authorities[i];
    const char *label = strcmp(au->kind, "x509") == 0  ? "X.509 authority"
                        : strcmp(au->kind, "jwt") == 0 ? "JWT authority"
                                                       : "Authority";
    printf("%-*s : ", LABEL_W, label);
    cli_put(au->state);
    putchar(' ');
    cli_put(au->id);
    if (au->not_after > now)
      printf(", expires %s (%s left)\n", cli_time(au->not_after, t),
             cairn_duration_format(au->not_after - now, left,
                                   sizeof(left)));
    else
      printf(", expired %s\n", cli_time(au->not_after, t));
  }
}

/* Reports an unhealthy server: one line on stderr (and a JSON document on
 * stdout with -output json). Returns 1. */
static int unhealthy(struct cli *c, const char *why)
{
  char safe[1100];
  size_t i;

  snprintf(safe, sizeof(safe), "%s", why);
  for (i = 0; safe[i]; i++)
    if ((unsigned char)safe[i] < 0x20) safe[i] = '?';
  if (c->json) {
    json_t *o = json_object();
    cli_js_set(o, "healthy", json_false());
    cli_js_set(o, "error", cli_js_str(safe));
    cli_print_json(o);
  }
  fflush(stdout);
  fprintf(stderr, "Server is unhealthy: %s\n", safe);
  return 1;
}

static int has_active(const Health *h, const char *kind)
{
  size_t i;
  for (i = 0; i < h->n_authorities; i++)
    if (strcmp(h->authorities[i]->kind, kind) == 0 &&
        strcmp(h->authorities[i]->state, "active") == 0 &&
        h->authorities[i]->not_after > (int64_t)cairn_now())
      return 1;
  return 0;
}

static int run_health(struct cli *c)
{
  Cairn__Admin__V1__HealthRequest req;
  Cairn__Admin__V1__GetBundleRequest breq;
  Cairn__Admin__V1__Bundle *b;
  Health *h;
  char err[1100];
  int verbose = cli_bool(c, "verbose"), shallow = cli_bool(c, "shallow");

  if (verbose && !c->json) {
    printf("Checking server health at ");
    cli_put(c->socket_path);
    printf("...\n");
    fflush(stdout);
  }
  if (cli_connect(c, err, sizeof(err))) return unhealthy(c, err);
  cairn__admin__v1__health_request__init(&req);
  if (cli_call(c, "Health/Check", &req.base,
               &cairn__admin__v1__health_response__descriptor,
               (ProtobufCMessage **)&h, err, sizeof(err)))
    return unhealthy(c, err);
  if (verbose && !c->json) print_health(h);
  if (!shallow) {
    /* A deep check: the server says it is healthy, it has an active X.509
     * CA and JWT key, and it serves a bundle with roots. */
    if (!h->healthy) return unhealthy(c, "the server reports a problem");
    if (!has_active(h, "x509"))
      return unhealthy(c, "no active X.509 authority");
    if (!has_active(h, "jwt")) return unhealthy(c, "no active JWT authority");
    cairn__admin__v1__get_bundle_request__init(&breq);
    if (cli_call(c, "Bundles/GetBundle", &breq.base,
                 &cairn__admin__v1__bundle__descriptor,
                 (ProtobufCMessage **)&b, err, sizeof(err)))
      return unhealthy(c, err);
    if (b->n_x509_authorities == 0)
      return unhealthy(c, "the trust bundle has no X.509 authority");
  }
  if (c->json) return cli_print_json(js_health(h));
  printf("Server is healthy.\n");
  return 0;
}

/* ======================================================================
 * validate
 * ====================================================================== */

static int run_validate(struct cli *c)
{
  struct cairn_srvconf *conf = NULL;
  const char *path = cli_str(c, "config");
  char *text = NULL;
  size_t i;
  int ret = 1;

  if (!path || !*path) return cli_fail("-config is required");
  if (cairn_srvconf_load(path, &conf) != CAIRN_OK) {
    if (c->json) {
      json_t *o = json_object();
      cli_js_set(o, "valid", json_false());
      cli_js_set(o, "file", cli_js_str(path));
      cli_js_set(o, "error", cli_js_str(cairn_errdetail()));
      cli_print_json(o);
    }
    return cli_fail("%s", cairn_errdetail());
  }
  for (i = 0; i < conf->n_warnings; i++) {
    fflush(stdout);
    fprintf(stderr, "Warning: %s\n", conf->warnings[i]);
  }
  if (c->json) {
    json_t *o = json_object(), *w = json_array();
    cli_js_set(o, "valid", json_true());
    cli_js_set(o, "file", cli_js_str(path));
    cli_js_set(o, "trust_domain", cli_js_str(conf->trust_domain));
    cli_js_set(o, "socket_path", cli_js_str(conf->socket_path));
    cli_js_set(o, "data_dir", cli_js_str(conf->data_dir));
    for (i = 0; w && i < conf->n_warnings; i++)
      json_array_append_new(w, cli_js_str(conf->warnings[i]));
    cli_js_set(o, "warnings", w);
    ret = cli_print_json(o);
    goto out;
  }
  printf("Configuration is valid.\n");
  if (cli_bool(c, "verbose")) {
    if (cairn_srvconf_format(conf, &text) != CAIRN_OK) {
      cli_fail("cannot format the configuration: %s", cairn_errdetail());
      goto out;
    }
    printf("\n%s", text);
  }
  ret = 0;
out:
  free(text);
  cairn_srvconf_free(conf);
  return ret;
}

static const struct cli_flag health_flags[] = {
  F_BOOL("shallow",
         "Only check that the server answers on its admin socket, not that "
         "it has working authorities and a trust bundle."),
  F_BOOL("verbose",
         "Print what is checked, the server's trust domain, version, "
         "uptime, counts and every CA and JWT authority with its expiry "
         "and the time left; for cairn-edge also the upstream status, the "
         "offline budget (time left on the active X.509 CA) and whether "
         "the next X.509 CA is ready."),
  F_END
};

static const struct cli_flag validate_flags[] = {
  F_STR("config", "FILE", "The cairn-cloud or cairn-edge configuration "
        "file (required)."),
  F_BOOL("verbose",
         "After \"Configuration is valid.\", print the effective "
         "configuration with every default filled in."),
  F_END
};

const struct cli_cmd cli_misc_cmds[] = {
  {"healthcheck", "Determines server health status", "[-shallow] [-verbose]",
   "Asks the server for its health over the admin socket. Prints \"Server "
   "is healthy.\" and exits 0 when the server answers, reports itself "
   "healthy, has an active X.509 CA and JWT signing key and serves a trust "
   "bundle; otherwise prints \"Server is unhealthy: <reason>\" on stderr "
   "and exits 1 (also when nothing listens on the socket).",
   "  cairn healthcheck\n"
   "  cairn healthcheck -verbose -socketPath /run/cairn/api.sock\n",
   health_flags, run_health, 0},
  {"validate", "Validates a server configuration file", "-config FILE",
   "Loads the configuration file as cairn-cloud would, without starting a "
   "server or touching anything else on disk, and prints \"Configuration "
   "is valid.\" or the first error with its file:line. Warnings about "
   "legal but questionable settings go to stderr.",
   "  cairn validate -config /etc/cairn/cloud.conf\n", validate_flags,
   run_validate, CLI_NO_SOCKET},
  {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}
};
