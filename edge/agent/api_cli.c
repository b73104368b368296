/* edge/agent/api_cli.c - cairn-agent's Workload API client subcommands
 * (api_cli.h). One command runs per process: everything is released
 * before the command returns, secrets (private keys, tokens) are zeroised
 * when freed. */
#include "api_cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cairn/b64.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/pem.h"
#include "cairn/util.h"
#include "agent_conf.h"
#include "health.pb-c.h"
#include "workload.pb-c.h"

#define PROG "cairn-agent"
#define TIMEOUT_DEFAULT_MS 5000
#define WL_SVC "/SpiffeWorkloadAPI/"
#define HEALTH_CHECK "/grpc.health.v1.Health/Check"
#define CLAIMS_DEPTH_MAX 32
#define ERR_MAX 1536
#define TOKEN_STDIN_MAX (CAIRN_JWT_MAX + 64)

/* ======================================================================
 * Help texts
 * ====================================================================== */

#define COMMON_FLAGS_HELP                                                   \
  "  -socketPath PATH\n"                                                    \
  "      Path to the agent's Workload API socket (default\n"                \
  "      \"" EA_CONF_SOCKET_DEFAULT "\"). SPIFFE_ENDPOINT_SOCKET\n"        \
  "      is not consulted, as with spire-agent.\n"                          \
  "  -config FILE\n"                                                        \
  "      Take the socket path from agent.socket_path of this cairn-agent\n" \
  "      configuration file (the whole file must be valid). -socketPath\n" \
  "      wins when both are given.\n"                                       \
  "  -timeout DURATION\n"                                                   \
  "      Time to wait for the connection and for each answer, such as\n"    \
  "      \"5s\", \"500ms\", \"1m30s\" (a bare number is seconds; \"0\"\n"  \
  "      waits without limit). Default 5s.\n"

#define OUTPUT_FLAG_HELP                                                    \
  "  -output pretty|json\n"                                                 \
  "      \"pretty\" (text for people, the default) or \"json\" (the\n"     \
  "      Workload API messages as one JSON document with the proto field\n" \
  "      names, bytes in base64, as spire-agent's -output json).\n"

#define CALLER_NOTE                                                         \
  "The agent identifies the caller from the socket's peer credentials:\n"   \
  "the answer is for the process running this command (its uid and gid,\n" \
  "and the cairn-agent binary for unix:path / unix:sha256 selectors), as\n" \
  "it would be for a workload. A caller that no registration entry\n"       \
  "matches gets PERMISSION_DENIED.\n"

#define EXIT_HELP                                                           \
  "Exit status: 0 on success; 1 when the agent cannot be reached or\n"      \
  "refuses, or its answer is not valid (one line \"Error: <reason>\" on\n"  \
  "stderr); 2 for a bad command line.\n"

static const char g_api_help[] =
    "Usage: " PROG " api <command> [flags]\n"
    "\n"
    "Talks to the SPIFFE Workload API of a running cairn-agent the way a\n"
    "workload does, like spire-agent's `api` commands.\n"
    "\n"
    "Commands:\n"
    "  fetch x509          fetch this process's X509-SVIDs, verify them and\n"
    "                      optionally write them to files (`api fetch`\n"
    "                      alone means `api fetch x509`)\n"
    "  fetch jwt           fetch JWT-SVIDs for one or more audiences, and\n"
    "                      the JWT bundles\n"
    "  fetch x509-bundles  fetch the X.509 trust bundles\n"
    "  fetch jwt-bundles   fetch the JWT bundles (JWKS)\n"
    "  validate jwt        have the agent validate a JWT-SVID\n"
    "\n"
    "Run '" PROG " api <command> -h' for the flags of each command, and\n"
    "'" PROG " healthcheck -h' for the agent's health check.\n"
    "\n"
    EXIT_HELP;

static const char g_x509_help[] =
    "Usage: " PROG " api fetch x509 [-write DIR] [-silent] [flags]\n"
    "\n"
    "Fetches the X509-SVIDs of this process from the Workload API (the\n"
    "first message of FetchX509SVID), checks each one (the chain verifies\n"
    "against the SVID's own trust bundle, its URI SAN is the SPIFFE ID\n"
    "given, the private key belongs to the certificate) and prints:\n"
    "\n"
    "  Received 1 svid after 2.31ms\n"
    "\n"
    "  SPIFFE ID:          spiffe://example.org/web\n"
    "  Hint:               external         (only when set)\n"
    "  SVID Valid After:   2026-05-01 10:00:00 +0000 UTC\n"
    "  SVID Valid Until:   2026-05-01 11:00:00 +0000 UTC\n"
    "  Intermediate #1 Valid After: ...     (one pair per intermediate)\n"
    "  CA #1 Valid After:  ...              (one pair per bundle CA)\n"
    "  [spiffe://fed.example] CA #1 Valid After: ...  (federated bundles)\n"
    "\n"
    "The first SVID is the default identity.\n"
    "\n"
    CALLER_NOTE
    "\n"
    "Flags:\n"
    "  -write DIR\n"
    "      Also write, for the i-th SVID (from 0): DIR/svid.i.pem (the\n"
    "      certificate chain, leaf first, mode 0644), DIR/svid.i.key (the\n"
    "      PKCS#8 private key, mode 0600), DIR/bundle.i.pem (the trust\n"
    "      bundle, 0644) and DIR/federated_bundle.i.j.pem for the j-th\n"
    "      federated trust domain in name order. Files are replaced\n"
    "      atomically; DIR is created (mode 0700) when missing. Prints\n"
    "      \"Writing SVID #0 to file DIR/svid.0.pem.\" and so on (not with\n"
    "      -output json).\n"
    "  -silent\n"
    "      Do not print the SVIDs (the \"Writing ...\" lines still are).\n"
    OUTPUT_FLAG_HELP
    COMMON_FLAGS_HELP
    "\n"
    "Examples:\n"
    "  " PROG " api fetch x509\n"
    "  " PROG " api fetch x509 -write /tmp/svid -silent\n"
    "  openssl verify -CAfile /tmp/svid/bundle.0.pem /tmp/svid/svid.0.pem\n"
    "\n"
    EXIT_HELP;

static const char g_jwt_help[] =
    "Usage: " PROG " api fetch jwt -audience AUD [-audience AUD2]\n"
    "                              [-spiffeID ID] [flags]\n"
    "\n"
    "Fetches the JWT bundles (FetchJWTBundles) and JWT-SVIDs for the given\n"
    "audiences (FetchJWTSVID): one per identity of this process, or only\n"
    "the one of -spiffeID. Prints, like spire-agent:\n"
    "\n"
    "  token(spiffe://example.org/web):\n"
    "  \t<compact JWS>\n"
    "  hint(spiffe://example.org/web):      (only when set)\n"
    "  \t<hint>\n"
    "  bundle(spiffe://example.org):        (every trust domain, by name)\n"
    "  \t<JWKS JSON>\n"
    "\n"
    CALLER_NOTE
    "\n"
    "Flags:\n"
    "  -audience AUD\n"
    "      Audience of the token (required). Repeat the flag or separate\n"
    "      values with commas for several (at most 32).\n"
    "  -spiffeID ID\n"
    "      Only the JWT-SVID of this SPIFFE ID (one of the caller's).\n"
    OUTPUT_FLAG_HELP
    COMMON_FLAGS_HELP
    "\n"
    "Examples:\n"
    "  " PROG " api fetch jwt -audience https://api.example.org\n"
    "  " PROG " api fetch jwt -audience a,b \\\n"
    "      -spiffeID spiffe://example.org/web\n"
    "\n"
    EXIT_HELP;

static const char g_x509b_help[] =
    "Usage: " PROG " api fetch x509-bundles [-write DIR] [-silent] [flags]\n"
    "\n"
    "Fetches the X.509 trust bundles this process may use\n"
    "(FetchX509Bundles: the own trust domain and the federated ones) and\n"
    "prints, per trust domain in name order:\n"
    "\n"
    "  Trust domain:       spiffe://example.org\n"
    "  CA #1 Valid After:  2026-05-01 10:00:00 +0000 UTC\n"
    "  CA #1 Valid Until:  2026-05-02 10:00:00 +0000 UTC\n"
    "\n"
    CALLER_NOTE
    "\n"
    "Flags:\n"
    "  -write DIR\n"
    "      Also write the i-th bundle (from 0, in the order printed) to\n"
    "      DIR/bundle.i.pem (mode 0644); DIR is created (0700) when\n"
    "      missing.\n"
    "  -silent\n"
    "      Do not print the bundles.\n"
    OUTPUT_FLAG_HELP
    COMMON_FLAGS_HELP
    "\n"
    EXIT_HELP;

static const char g_jwtb_help[] =
    "Usage: " PROG " api fetch jwt-bundles [flags]\n"
    "\n"
    "Fetches the JWT bundles this process may use (FetchJWTBundles) and\n"
    "prints each as \"bundle(<trust domain ID>):\" followed by its JWKS on\n"
    "the next line, in trust domain order.\n"
    "\n"
    CALLER_NOTE
    "\n"
    "Flags:\n"
    OUTPUT_FLAG_HELP
    COMMON_FLAGS_HELP
    "\n"
    EXIT_HELP;

static const char g_validate_help[] =
    "Usage: " PROG " api validate jwt -audience AUD -svid TOKEN [flags]\n"
    "\n"
    "Asks the agent to validate a JWT-SVID for one audience\n"
    "(ValidateJWTSVID): signature against the bundle of the token's trust\n"
    "domain, expiry, and that AUD is among its audiences. Prints:\n"
    "\n"
    "  SVID is valid.\n"
    "  SPIFFE ID : spiffe://example.org/web\n"
    "  Claims    : {\"aud\":[\"AUD\"],\"exp\":...,\"sub\":\"...\"}\n"
    "\n"
    "An invalid token is reported as \"Error: SVID is not valid: <reason>\"\n"
    "with exit status 1.\n"
    "\n"
    "Flags:\n"
    "  -audience AUD\n"
    "      The audience the token must carry (required).\n"
    "  -svid TOKEN\n"
    "      The JWT-SVID (required). \"-\" reads it from standard input,\n"
    "      which keeps it out of the process list.\n"
    OUTPUT_FLAG_HELP
    COMMON_FLAGS_HELP
    "\n"
    "Example:\n"
    "  tok=$(" PROG " api fetch jwt -audience db | sed -n 2p)\n"
    "  echo \"$tok\" | " PROG " api validate jwt -audience db -svid -\n"
    "\n"
    EXIT_HELP;

static const char g_health_help[] =
    "Usage: " PROG " healthcheck [-shallow] [-verbose] [flags]\n"
    "\n"
    "Asks the agent's gRPC health service (grpc.health.v1.Health/Check on\n"
    "the Workload API socket) whether it serves, like spire-agent's\n"
    "healthcheck. Prints \"Agent is healthy.\" and exits 0 when the answer\n"
    "is SERVING; otherwise prints \"Agent is unhealthy: <reason>\" on\n"
    "stderr and exits 1: \"unable to determine health\" when the agent\n"
    "cannot be reached or does not answer, or 'agent returned status\n"
    "\"NOT_SERVING\"'.\n"
    "\n"
    "Flags:\n"
    "  -shallow\n"
    "      A liveness check: any answer of the health service counts as\n"
    "      healthy, also NOT_SERVING (the agent runs but is not ready).\n"
    "  -verbose\n"
    "      Print \"Checking agent health...\", the status received, and on\n"
    "      failure the reason (\"Failed to check health: ...\" on stderr).\n"
    "  -socketPath PATH\n"
    "      Path to the agent's Workload API socket (default\n"
    "      \"" EA_CONF_SOCKET_DEFAULT "\").\n"
    "  -config FILE\n"
    "      Take the socket path from agent.socket_path of this cairn-agent\n"
    "      configuration file; -socketPath wins when both are given.\n"
    "  -timeout DURATION\n"
    "      Time to wait for the connection and the answer (default 5s).\n"
    "\n"
    "Exit status: 0 healthy; 1 unhealthy or unreachable; 2 for a bad\n"
    "command line.\n";

/* ======================================================================
 * Errors and output
 * ====================================================================== */

/* One command run. */
struct ctx {
  const char *cmd;                   /* "api fetch x509" (for messages) */
  const char *help;
  const char *sock;
  int timeout_ms;                    /* INT_MAX for "0" (no limit) */
  char timeout_text[32];
  int json;
  struct ea_conf *conf;
  struct cairn_grpc_client *client;
  struct timespec start;
  int status;                        /* gRPC status of the last call, or -1
                                        when it ended without one */
  char status_msg[CAIRN_GRPC_STATUS_MSG_MAX + 1];
  char err[ERR_MAX];                 /* the failure, without "Error: " */
};

static void sanitize(char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

/* Records the reason of a failure in x->err; returns 1 (the exit status). */
static int fail(struct ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *x, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(x->err, sizeof x->err, fmt, ap);
  va_end(ap);
  sanitize(x->err);
  return 1;
}

/* Prints "Error: <message> (see '<prog> <cmd> -h')" and returns 2. */
static int usage_err(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_err(const char *cmd, const char *fmt, ...)
{
  char buf[ERR_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  sanitize(buf);
  fflush(stdout);
  fprintf(stderr, "Error: %s (see '" PROG " %s -h')\n", buf, cmd);
  return 2;
}

/* Writes s to stdout with control characters shown as '?'. */
static void put(const char *s)
{
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    putchar(ch < 0x20 || ch == 0x7f ? '?' : ch);
  }
}

static void putn(const uint8_t *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    putchar(s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
}

/* Go's time.Time %v for a UTC time: "2026-05-01 10:00:00 +0000 UTC". */
static const char *go_time(time_t t, char out[64])
{
  struct tm tm;
  if (!gmtime_r(&t, &tm) ||
      strftime(out, 64, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm) == 0)
    snprintf(out, 64, "%lld", (long long)t);
  return out;
}

/* Appends v (a decimal fraction with `digits` decimals) without trailing
 * zeros: 2310000 / 6 -> "2.31". */
static void fmt_frac(char *out, size_t len, uint64_t v, int digits,
                     const char *unit)
{
  uint64_t div = 1, ip, fp;
  char frac[32];
  int i, n;

  for (i = 0; i < digits; i++) div *= 10;
  ip = v / div;
  fp = v % div;
  n = snprintf(frac, sizeof frac, "%0*llu", digits, (unsigned long long)fp);
  while (n > 0 && frac[n - 1] == '0') frac[--n] = '\0';
  snprintf(out, len, "%llu%s%s%s", (unsigned long long)ip, n ? "." : "",
           frac, unit);
}

/* Go's time.Duration String() for an elapsed time (no hours). */
static const char *go_duration(uint64_t ns, char *out, size_t len)
{
  if (ns < 1000)
    snprintf(out, len, "%lluns", (unsigned long long)ns);
  else if (ns < 1000000)
    fmt_frac(out, len, ns, 3, "\xc2\xb5s");
  else if (ns < 1000000000)
    fmt_frac(out, len, ns, 6, "ms");
  else if (ns < 60000000000ull)
    fmt_frac(out, len, ns, 9, "s");
  else {
    char s[48];
    int n = snprintf(out, len, "%llum",
                     (unsigned long long)(ns / 60000000000ull));
    fmt_frac(s, sizeof s, ns % 60000000000ull, 9, "s");
    if (n > 0 && (size_t)n + strlen(s) < len)
      memcpy(out + n, s, strlen(s) + 1);
  }
  return out;
}

static uint64_t elapsed_ns(const struct ctx *x)
{
  struct timespec now;
  int64_t d;

  clock_gettime(CLOCK_MONOTONIC, &now);
  d = (int64_t)(now.tv_sec - x->start.tv_sec) * 1000000000 +
      (now.tv_nsec - x->start.tv_nsec);
  return d > 0 ? (uint64_t)d : 0;
}

/* Zeroises and frees a buffer that may hold a key or a token. */
static void wipe_free(void *p, size_t n)
{
  cairn_freezero(p, n);
}

/* ======================================================================
 * Flags
 * ====================================================================== */

enum flag_kind { F_STR = 1, F_BOOL, F_LIST };

struct flag {
  const char *name;
  enum flag_kind kind;
  /* Set by the parser. */
  int set;
  const char *str;       /* F_STR: the last value (points into argv) */
  int on;                /* F_BOOL */
  const char **list;     /* F_LIST: every value, in order (malloc()ed) */
  size_t n;
};

static struct flag *flag_find(struct flag *fl, const char *name, size_t len)
{
  for (; fl->name; fl++)
    if (strlen(fl->name) == len && strncmp(fl->name, name, len) == 0)
      return fl;
  return NULL;
}

static struct flag *flag(struct flag *fl, const char *name)
{
  return flag_find(fl, name, strlen(name));
}

static void flags_free(struct flag *fl)
{
  for (; fl->name; fl++) {
    free(fl->list);
    fl->list = NULL;
  }
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s, int *out)
{
  static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
  static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
  size_t i;

  for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcmp(s, yes[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcmp(s, no[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -1;
}

#define HELP_SHOWN 3

/* Go-style flags: -name value, -name=value, --name; booleans -name or
 * -name=true|false; "--" ends the flags. Positional arguments are refused.
 * Returns 0, HELP_SHOWN when help was printed (exit 0) or 2 after a usage
 * error (printed). */
static int parse_flags(const char *cmd, const char *help, struct flag *fl,
                       int argc, char **argv)
{
  int i;

  for (i = 0; i < argc; i++) {
    const char *a = argv[i], *name, *eq;
    struct flag *f;
    size_t len;

    if (a[0] != '-' || a[1] == '\0')
      return usage_err(cmd, "unexpected argument \"%.200s\"", a);
    name = a + 1;
    if (*name == '-') {
      name++;
      if (*name == '\0') {
        if (i + 1 < argc)
          return usage_err(cmd, "unexpected argument \"%.200s\"",
                           argv[i + 1]);
        break;
      }
    }
    if (*name == '-' || *name == '=')
      return usage_err(cmd, "bad flag syntax: %.200s", a);
    eq = strchr(name, '=');
    len = eq ? (size_t)(eq - name) : strlen(name);
    if ((len == 1 && name[0] == 'h') ||
        (len == 4 && strncmp(name, "help", 4) == 0)) {
      fputs(help, stdout);
      return HELP_SHOWN;
    }
    f = flag_find(fl, name, len);
    if (!f)
      return usage_err(cmd, "flag provided but not defined: -%.*s",
                       (int)(len > 200 ? 200 : len), name);
    if (f->kind == F_BOOL) {
      int v = 1;
      if (eq && parse_bool(eq + 1, &v) != 0)
        return usage_err(cmd, "invalid boolean value \"%.200s\" for -%s",
                         eq + 1, f->name);
      f->on = v;
    } else {
      const char *v;
      if (eq) {
        v = eq + 1;
      } else {
        if (i + 1 >= argc)
          return usage_err(cmd, "flag needs an argument: -%s", f->name);
        v = argv[++i];
      }
      if (f->kind == F_STR) {
        f->str = v;
      } else {
        if (!f->list && !(f->list = calloc((size_t)argc, sizeof *f->list))) {
          fputs("Error: out of memory\n", stderr);
          return 2;
        }
        f->list[f->n++] = v;
      }
    }
    f->set = 1;
  }
  return 0;
}

/* A duration in the style of Go's time.ParseDuration restricted to
 * integers: a sequence of <n><unit>, unit ms, s, m or h ("1m30s",
 * "500ms"); a bare integer is seconds. *ms gets milliseconds. */
static int parse_duration_ms(const char *s, int64_t *ms)
{
  int64_t total = 0;
  const char *p = s;

  if (!*p) return -1;
  if (strspn(p, "0123456789") == strlen(p)) {
    if (strlen(p) > 12) return -1;
    *ms = strtoll(p, NULL, 10) * 1000;
    return 0;
  }
  while (*p) {
    int64_t n = 0, mul;
    const char *d = p;
    while (*p >= '0' && *p <= '9') {
      if (n > INT64_MAX / 10 / 3600000) return -1;
      n = n * 10 + (*p - '0');
      p++;
    }
    if (p == d) return -1;
    if (strncmp(p, "ms", 2) == 0) {
      mul = 1;
      p += 2;
    } else if (*p == 's') {
      mul = 1000;
      p++;
    } else if (*p == 'm') {
      mul = 60000;
      p++;
    } else if (*p == 'h') {
      mul = 3600000;
      p++;
    } else {
      return -1;
    }
    if (total > INT64_MAX - n * mul) return -1;
    total += n * mul;
  }
  *ms = total;
  return 0;
}

/* The flags every Workload API command has; their order in a command's
 * table does not matter. */
#define COMMON_FLAGS                                                        \
  {"socketPath", F_STR, 0, NULL, 0, NULL, 0},                               \
  {"config", F_STR, 0, NULL, 0, NULL, 0},                                   \
  {"timeout", F_STR, 0, NULL, 0, NULL, 0}
#define OUTPUT_FLAG {"output", F_STR, 0, NULL, 0, NULL, 0}
#define FLAGS_END {NULL, 0, 0, NULL, 0, NULL, 0}

/* Applies -socketPath, -config, -timeout and -output (when the command
 * has it). Returns 0, 1 (failure recorded) or 2 (usage error printed). */
static int setup(struct ctx *x, struct flag *fl)
{
  struct flag *f;
  int64_t ms;

  x->timeout_ms = TIMEOUT_DEFAULT_MS;
  snprintf(x->timeout_text, sizeof x->timeout_text, "5s");
  x->status = -1;
  f = flag(fl, "timeout");
  if (f->set) {
    if (parse_duration_ms(f->str, &ms) != 0)
      return usage_err(x->cmd, "invalid value \"%.100s\" for -timeout: use "
                       "a duration such as 5s, 500ms or 1m30s", f->str);
    x->timeout_ms = ms == 0 || ms > INT_MAX ? INT_MAX : (int)ms;
    snprintf(x->timeout_text, sizeof x->timeout_text, "%.30s", f->str);
  }
  if ((f = flag(fl, "output")) != NULL && f->set) {
    if (strcmp(f->str, "json") == 0) x->json = 1;
    else if (strcmp(f->str, "pretty") != 0)
      return usage_err(x->cmd, "invalid value \"%.100s\" for -output: "
                       "\"pretty\" or \"json\"", f->str);
  }
  f = flag(fl, "socketPath");
  if (f->set) {
    if (!*f->str) return usage_err(x->cmd, "-socketPath must not be empty");
    x->sock = f->str;
    return 0;
  }
  f = flag(fl, "config");
  if (f->set) {
    if (!*f->str) return usage_err(x->cmd, "-config must not be empty");
    if (ea_conf_load(f->str, &x->conf) != CAIRN_OK)
      return fail(x, "cannot load the configuration: %s", cairn_errdetail());
    x->sock = x->conf->socket_path;
    return 0;
  }
  x->sock = EA_CONF_SOCKET_DEFAULT;
  return 0;
}

static void ctx_cleanup(struct ctx *x)
{
  cairn_grpc_client_free(x->client);
  x->client = NULL;
  ea_conf_free(x->conf);
  x->conf = NULL;
}

/* Starts an api command: clears x, parses the command's flags and applies
 * the common ones (setup). Returns 0, HELP_SHOWN (help printed), 1
 * (failure recorded) or 2 (usage error printed); the command then ends
 * with finish() in every case. */
static int begin(struct ctx *x, const char *cmd, const char *help,
                 struct flag *fl, int argc, char **argv)
{
  int rc;

  memset(x, 0, sizeof *x);
  x->cmd = cmd;
  x->help = help;
  rc = parse_flags(cmd, help, fl, argc, argv);
  if (rc == 0) rc = setup(x, fl);
  return rc;
}

/* Ends a command: prints a recorded failure, checks that stdout was
 * written. Returns the exit status (0 after HELP_SHOWN). */
static int finish(struct ctx *x, int rc)
{
  if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
    rc = fail(x, "cannot write the output: %s", strerror(errno));
  if (rc == 1) {
    fflush(stdout);
    fprintf(stderr, "Error: %s\n", x->err);
  }
  ctx_cleanup(x);
  return rc == HELP_SHOWN ? 0 : rc;
}

/* ======================================================================
 * Calls
 * ====================================================================== */

static const struct cairn_grpc_md g_md[] = {{"workload.spiffe.io", "true"}};

static int wl_connect(struct ctx *x)
{
  int rc;

  clock_gettime(CLOCK_MONOTONIC, &x->start);
  rc = cairn_grpc_client_connect(x->sock, x->timeout_ms, NULL, &x->client);
  switch (rc) {
  case CAIRN_OK:
    return 0;
  case CAIRN_ERR_NOT_FOUND:
    return fail(x, "cannot connect to the Workload API: no socket at %s (is "
                "cairn-agent running? see -socketPath)", x->sock);
  case CAIRN_ERR_PERM:
    return fail(x, "cannot connect to the Workload API at %s: permission "
                "denied", x->sock);
  case CAIRN_ERR_TIMEOUT:
    return fail(x, "cannot connect to the Workload API at %s: no answer "
                "within %s", x->sock, x->timeout_text);
  case CAIRN_ERR_TOO_BIG:
    return fail(x, "socket path longer than %d bytes: %s",
                CAIRN_GRPC_SOCK_PATH_MAX, x->sock);
  default:
    return fail(x, "cannot connect to the Workload API: %s (is cairn-agent "
                "running?)", cairn_errdetail());
  }
}

struct first_msg {
  uint8_t *data;
  size_t len;
  int nomem;
};

static int on_first(const uint8_t *msg, size_t len, void *arg)
{
  struct first_msg *fm = arg;

  fm->data = malloc(len ? len : 1);
  if (!fm->data) fm->nomem = 1;
  else if (len) memcpy(fm->data, msg, len);
  fm->len = len;
  return 1;  /* one message is all we need */
}

/* Calls method (a path) with req, naming it `what` in errors. Streams
 * return their first message, unary calls their response, in *out and
 * *outlen
 * (malloc()ed; release with wipe_free()). x->status gets the gRPC status
 * (-1 without one). Returns 0 or 1 (failure recorded). */
static int call(struct ctx *x, const char *path, const char *what,
                int stream, const ProtobufCMessage *req, uint8_t **out,
                size_t *outlen)
{
  struct cairn_grpc_reply r;
  struct first_msg fm = {NULL, 0, 0};
  uint8_t *buf;
  size_t n;
  int rc, ret = 1;

  memset(&r, 0, sizeof r);
  *out = NULL;
  *outlen = 0;
  x->status = -1;
  x->status_msg[0] = '\0';
  n = protobuf_c_message_get_packed_size(req);
  if (!(buf = malloc(n ? n : 1))) return fail(x, "out of memory");
  protobuf_c_message_pack(req, buf);
  if (stream)
    rc = cairn_grpc_client_stream(x->client, path, g_md, 1, buf, n,
                                  x->timeout_ms, 1, on_first, &fm, &r);
  else
    rc = cairn_grpc_client_unary(x->client, path, g_md, 1, buf, n,
                                 x->timeout_ms, &r);
  wipe_free(buf, n);
  if (rc != CAIRN_OK) {
    if (rc == CAIRN_ERR_TIMEOUT)
      fail(x, "%s: no answer from the agent within %s", what,
           x->timeout_text);
    else if (rc == CAIRN_ERR_TOO_BIG)
      fail(x, "%s: answer too large: %s", what, cairn_errdetail());
    else
      fail(x, "%s: %s", what, cairn_errdetail());
    goto out;
  }
  if (fm.nomem) {
    fail(x, "out of memory");
    goto out;
  }
  if (fm.data) {
    /* A stream stopped after its first message: a success. */
    *out = fm.data;
    *outlen = fm.len;
    fm.data = NULL;
    x->status = CAIRN_GRPC_OK;
    ret = 0;
    goto out;
  }
  x->status = r.status;
  snprintf(x->status_msg, sizeof x->status_msg, "%s",
           r.message ? r.message : "");
  if (r.status != CAIRN_GRPC_OK) {
    const char *m = r.message && *r.message ? r.message : "(no message)";
    if (r.status == CAIRN_GRPC_PERMISSION_DENIED)
      fail(x, "%s: %s: %s (no registration entry matches this process: "
           "uid %u, gid %u)", what, cairn_grpc_status_name(r.status), m,
           (unsigned)getuid(), (unsigned)getgid());
    else if (r.status == CAIRN_GRPC_UNIMPLEMENTED)
      fail(x, "%s: %s: %s (the server on %s does not offer it)", what,
           cairn_grpc_status_name(r.status), m, x->sock);
    else
      fail(x, "%s: %s: %s", what, cairn_grpc_status_name(r.status), m);
    goto out;
  }
  if (stream) {
    fail(x, "%s: the agent ended the stream without sending anything",
         what);
    goto out;
  }
  *out = r.data;
  *outlen = r.len;
  r.data = NULL;
  ret = 0;
out:
  if (fm.data) wipe_free(fm.data, fm.len);
  if (r.data) {
    cairn_memzero(r.data, r.len);
  }
  cairn_grpc_reply_cleanup(&r);
  return ret;
}

/* ======================================================================
 * JSON helpers
 * ====================================================================== */

static json_t *js_str(const char *s)
{
  json_t *j;
  char *copy;
  size_t i;

  if (!s) s = "";
  if ((j = json_string(s)) != NULL) return j;
  /* Not UTF-8: keep the ASCII bytes, mark the others. */
  if (!(copy = cairn_strdup(s))) return NULL;
  for (i = 0; copy[i]; i++)
    if ((unsigned char)copy[i] >= 0x80) copy[i] = '?';
  j = json_string(copy);
  free(copy);
  return j;
}

static json_t *js_b64(const uint8_t *p, size_t n)
{
  char *s = NULL;
  json_t *j;

  if (cairn_b64_encode(p, n, 0, &s) != CAIRN_OK) return NULL;
  j = json_string(s);
  wipe_free(s, strlen(s));
  return j;
}

/* Sets key to v, always taking the reference (jansson's _new functions
 * release the value on failure too); 1 when either is missing or on
 * failure. */
static int js_set(json_t *obj, const char *key, json_t *v)
{
  if (!obj || !v) {
    json_decref(v);
    return 1;
  }
  return json_object_set_new(obj, key, v) != 0;
}

static int js_append(json_t *arr, json_t *v)
{
  if (!arr || !v) {
    json_decref(v);
    return 1;
  }
  return json_array_append_new(arr, v) != 0;
}

/* Zeroises the string value of key in obj (a private key) before the
 * document is released: jansson frees without clearing. */
static void js_wipe(json_t *obj, const char *key)
{
  json_t *v = json_object_get(obj, key);
  if (json_is_string(v))
    cairn_memzero((char *)json_string_value(v), json_string_length(v));
}

static json_t *value_to_json(const Google__Protobuf__Value *v, int depth);

/* google.protobuf.Struct as its JSON form. */
static json_t *struct_to_json(const Google__Protobuf__Struct *s, int depth)
{
  json_t *o = json_object();
  size_t i;

  if (!o || depth > CLAIMS_DEPTH_MAX) {
    json_decref(o);
    return NULL;
  }
  for (i = 0; s && i < s->n_fields; i++) {
    const Google__Protobuf__Struct__FieldsEntry *e = s->fields[i];
    json_t *v = value_to_json(e->value, depth + 1), *k = NULL;
    const char *key = e->key ? e->key : "";
    int bad = !v;
    if (!bad && json_object_set(o, key, v) != 0) {
      /* A key that is not UTF-8 is shown with '?'. */
      k = js_str(key);
      bad = !k || json_object_set(o, json_string_value(k), v) != 0;
    }
    json_decref(k);
    json_decref(v);
    if (bad) {
      json_decref(o);
      return NULL;
    }
  }
  return o;
}

static json_t *value_to_json(const Google__Protobuf__Value *v, int depth)
{
  json_t *a;
  size_t i;

  if (!v || depth > CLAIMS_DEPTH_MAX) return NULL;
  switch (v->kind_case) {
  case GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE:
    return json_null();
  case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE: {
    double d = v->number_value;
    /* Integral values (exp, iat) print without a fraction, as protojson. */
    if (isfinite(d) && d >= -9007199254740992.0 && d <= 9007199254740992.0 &&
        (double)(json_int_t)d == d)
      return json_integer((json_int_t)d);
    return isfinite(d) ? json_real(d) : json_null();
  }
  case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
    return js_str(v->string_value);
  case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
    return json_boolean(v->bool_value);
  case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
    return struct_to_json(v->struct_value, depth + 1);
  case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
    if (!(a = json_array())) return NULL;
    for (i = 0; v->list_value && i < v->list_value->n_values; i++)
      if (js_append(a, value_to_json(v->list_value->values[i], depth + 1))) {
        json_decref(a);
        return NULL;
      }
    return a;
  default:
    return json_null();
  }
}

/* Prints a JSON document (sorted keys, 2-space indent) on stdout and
 * releases it. */
static int print_json(struct ctx *x, json_t *j)
{
  int r;

  if (!j) return fail(x, "out of memory");
  r = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(j);
  if (r != 0) return fail(x, "cannot write the output");
  putchar('\n');
  return 0;
}

/* The CRLs of a response as an array of base64 strings; NULL when out of
 * memory. */
static json_t *crl_json(const ProtobufCBinaryData *crl, size_t n)
{
  json_t *a = json_array();
  size_t i;

  for (i = 0; a && i < n; i++)
    if (js_append(a, js_b64(crl[i].data, crl[i].len))) {
      json_decref(a);
      a = NULL;
    }
  return a;
}

/* ======================================================================
 * Files
 * ====================================================================== */

static int make_dir(struct ctx *x, const char *dir)
{
  if (cairn_mkdir_p(dir, 0700) != CAIRN_OK)
    return fail(x, "-write %s: %s", dir, cairn_errdetail());
  return 0;
}

static int write_out(struct ctx *x, const char *path, const char *data,
                     size_t len, mode_t mode)
{
  if (cairn_file_write_atomic(path, data, len, mode) != CAIRN_OK)
    return fail(x, "cannot write %s: %s", path, cairn_errdetail());
  return 0;
}

static void join(char *out, size_t len, const char *dir, const char *name)
{
  size_t n = strlen(dir);
  snprintf(out, len, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
           name);
}

/* Sets path to dir/name and, unless the output is JSON, announces it:
 * "Writing <what> #<i> to file <path>." or, with td, "Writing <what> #<i>
 * for trust domain <td> to file <path>.". */
static void announce(const struct ctx *x, char *path, size_t len,
                     const char *dir, const char *name, const char *what,
                     size_t i, const char *td)
{
  join(path, len, dir, name);
  if (x->json) return;
  printf("Writing %s #%zu ", what, i);
  if (td) {
    printf("for trust domain ");
    put(td);
    putchar(' ');
  }
  printf("to file ");
  put(path);
  printf(".\n");
}

/* Writes the certificates l as PEM to dir/name (mode 0644), announced as
 * by announce(). Returns 0 or 1 (failure recorded). */
static int save_certs(struct ctx *x, const char *dir, const char *name,
                      const char *what, size_t i, const char *td,
                      const struct cairn_cert_list *l)
{
  char path[EA_CONF_PATH_MAX + 64];
  char *pem = NULL;
  size_t len = 0;
  int rc;

  announce(x, path, sizeof path, dir, name, what, i, td);
  if (cairn_cert_list_to_pem(l, &pem, &len) != CAIRN_OK)
    return fail(x, "cannot encode %s: %s", path, cairn_errdetail());
  rc = write_out(x, path, pem, len, 0644);
  free(pem);
  return rc;
}

/* ======================================================================
 * Trust domain maps (federated_bundles, bundles), in name order
 * ====================================================================== */

struct td_bundle {
  const char *td;                  /* "spiffe://<td>" (in the message) */
  const uint8_t *data;
  size_t len;
  struct cairn_cert_list *certs;   /* X.509 maps only */
};

static int td_cmp(const void *a, const void *b)
{
  return strcmp(((const struct td_bundle *)a)->td,
                ((const struct td_bundle *)b)->td);
}

static void tds_free(struct td_bundle *t, size_t n)
{
  size_t i;
  for (i = 0; t && i < n; i++) cairn_cert_list_free(t[i].certs);
  free(t);
}

/* Copies the n entries of a map<string, bytes> field (an array of
 * pointers to generated *Entry messages, each with key and value) into a
 * new td_bundle array *out (calloc()ed; tds_free()). */
#define TDS_COPY(entries, n, out)                                           \
  do {                                                                      \
    size_t i_;                                                              \
    *(out) = calloc((n) ? (n) : 1, sizeof **(out));                         \
    for (i_ = 0; *(out) && i_ < (n); i_++) {                                \
      (*(out))[i_].td = (entries)[i_]->key ? (entries)[i_]->key : "";       \
      (*(out))[i_].data = (entries)[i_]->value.data;                        \
      (*(out))[i_].len = (entries)[i_]->value.len;                          \
    }                                                                       \
  } while (0)

/* Sorts t by trust domain and, for X.509 maps, parses each value as DER
 * certificates. Returns 0 or 1 (failure recorded). */
static int tds_check(struct ctx *x, struct td_bundle *t, size_t n, int x509)
{
  size_t i;

  if (!t) return fail(x, "out of memory");
  for (i = 0; x509 && i < n; i++) {
    if (cairn_cert_list_parse_der(t[i].data, t[i].len, &t[i].certs) !=
        CAIRN_OK)
      return fail(x, "cannot parse the bundle of trust domain \"%s\": %s",
                  t[i].td, cairn_errdetail());
    if (cairn_cert_list_count(t[i].certs) == 0)
      return fail(x, "no certificates in the bundle of trust domain \"%s\"",
                  t[i].td);
  }
  qsort(t, n, sizeof *t, td_cmp);
  return 0;
}

/* Prints "<prefix><what> #<k> Valid After:\t<time>" and "... Valid
 * Until:..." for the certificates of l from index `from` on, numbered from
 * 1. */
static void print_validity(const char *prefix, const char *what,
                           const struct cairn_cert_list *l, size_t from)
{
  char a[64], b[64];
  size_t i;

  for (i = from; i < cairn_cert_list_count(l); i++) {
    const struct cairn_cert *c = cairn_cert_list_at(l, i);
    put(prefix);
    printf("%s #%zu Valid After:\t%s\n", what, i - from + 1,
           go_time(cairn_cert_not_before(c), a));
    put(prefix);
    printf("%s #%zu Valid Until:\t%s\n", what, i - from + 1,
           go_time(cairn_cert_not_after(c), b));
  }
}

/* The bundles of t as an object of trust domain -> base64 value; NULL when
 * out of memory. */
static json_t *tds_json(const struct td_bundle *t, size_t n)
{
  json_t *b = json_object();
  size_t i;

  for (i = 0; b && i < n; i++)
    if (js_set(b, t[i].td, js_b64(t[i].data, t[i].len))) {
      json_decref(b);
      b = NULL;
    }
  return b;
}

static void print_cas(const char *prefix, const struct cairn_cert_list *l)
{
  print_validity(prefix, "CA", l, 0);
}

/* ======================================================================
 * api fetch x509
 * ====================================================================== */

struct svid_view {
  const X509SVID *pb;
  struct cairn_cert_list *chain;
  struct cairn_cert_list *bundle;
};

static void views_free(struct svid_view *v, size_t n)
{
  size_t i;
  for (i = 0; v && i < n; i++) {
    cairn_cert_list_free(v[i].chain);
    cairn_cert_list_free(v[i].bundle);
  }
  free(v);
}

/* Parses and checks the i-th SVID of the response. */
static int check_svid(struct ctx *x, size_t i, const X509SVID *s,
                      struct svid_view *v)
{
  struct cairn_id *want = NULL, *got = NULL;
  struct cairn_key *key = NULL;
  char td[CAIRN_TD_MAX + 1];
  const char *sid = s->spiffe_id ? s->spiffe_id : "";
  int r, rc = 1;

  v->pb = s;
  want = calloc(1, sizeof *want);
  got = calloc(1, sizeof *got);
  if (!want || !got) {
    fail(x, "out of memory");
    goto out;
  }
  if (cairn_id_parse_str(sid, want) != CAIRN_OK) {
    fail(x, "SVID #%zu has an invalid SPIFFE ID \"%s\": %s", i, sid,
         cairn_errdetail());
    goto out;
  }
  cairn_id_td(want, td);
  if (cairn_cert_list_parse_der(s->x509_svid.data, s->x509_svid.len,
                                &v->chain) != CAIRN_OK ||
      cairn_cert_list_count(v->chain) == 0) {
    fail(x, "cannot parse the certificates of \"%s\": %s", sid,
         v->chain ? "no certificate" : cairn_errdetail());
    goto out;
  }
  if (cairn_cert_list_parse_der(s->bundle.data, s->bundle.len,
                                &v->bundle) != CAIRN_OK ||
      cairn_cert_list_count(v->bundle) == 0) {
    fail(x, "cannot parse the trust bundle of \"%s\": %s", sid,
         v->bundle ? "no certificate" : cairn_errdetail());
    goto out;
  }
  if (cairn_key_import_der(s->x509_svid_key.data, s->x509_svid_key.len,
                           &key) != CAIRN_OK) {
    fail(x, "cannot parse the private key of \"%s\": %s", sid,
         cairn_errdetail());
    goto out;
  }
  r = cairn_cert_verify(v->chain, v->bundle, td, 0, 0, got);
  if (r != CAIRN_OK) {
    fail(x, "\"%s\" SVID failed verification against bundle: %s", sid,
         cairn_errdetail());
    goto out;
  }
  if (!cairn_id_equal(want, got)) {
    fail(x, "SVID #%zu is labelled \"%s\" but its certificate names \"%s\"",
         i, sid, got->str);
    goto out;
  }
  if (cairn_cert_matches_key(cairn_cert_list_at(v->chain, 0), key) != 1) {
    fail(x, "the private key of \"%s\" does not belong to its certificate",
         sid);
    goto out;
  }
  rc = 0;
out:
  cairn_key_free(key);
  free(want);
  free(got);
  return rc;
}

static void print_svid(const struct svid_view *v, const struct td_bundle *fed,
                       size_t n_fed)
{
  const struct cairn_cert *leaf = cairn_cert_list_at(v->chain, 0);
  char a[64], b[64], prefix[600];
  size_t i;

  printf("SPIFFE ID:\t\t");
  put(v->pb->spiffe_id);
  putchar('\n');
  if (v->pb->hint && *v->pb->hint) {
    printf("Hint:\t\t\t");
    put(v->pb->hint);
    putchar('\n');
  }
  printf("SVID Valid After:\t%s\n", go_time(cairn_cert_not_before(leaf), a));
  printf("SVID Valid Until:\t%s\n", go_time(cairn_cert_not_after(leaf), b));
  print_validity("", "Intermediate", v->chain, 1);
  print_cas("", v->bundle);
  for (i = 0; i < n_fed; i++) {
    snprintf(prefix, sizeof prefix, "[%.512s] ", fed[i].td);
    print_cas(prefix, fed[i].certs);
  }
}

static int write_svids(struct ctx *x, const char *dir,
                       const struct svid_view *v, size_t n,
                       const struct td_bundle *fed, size_t n_fed)
{
  char path[EA_CONF_PATH_MAX + 64], name[64];
  size_t i, j;

  if (make_dir(x, dir)) return 1;
  for (i = 0; i < n; i++) {
    char *pem = NULL;
    size_t len = 0;
    int rc;

    snprintf(name, sizeof name, "svid.%zu.pem", i);
    if (save_certs(x, dir, name, "SVID", i, NULL, v[i].chain)) return 1;

    snprintf(name, sizeof name, "svid.%zu.key", i);
    announce(x, path, sizeof path, dir, name, "key", i, NULL);
    if (cairn_pem_append("PRIVATE KEY", v[i].pb->x509_svid_key.data,
                         v[i].pb->x509_svid_key.len, &pem, &len) !=
        CAIRN_OK) {
      wipe_free(pem, pem ? strlen(pem) : 0);
      return fail(x, "cannot encode the private key: %s", cairn_errdetail());
    }
    rc = write_out(x, path, pem, len, 0600);
    wipe_free(pem, len);
    if (rc) return 1;

    snprintf(name, sizeof name, "bundle.%zu.pem", i);
    if (save_certs(x, dir, name, "bundle", i, NULL, v[i].bundle)) return 1;

    for (j = 0; j < n_fed; j++) {
      snprintf(name, sizeof name, "federated_bundle.%zu.%zu.pem", i, j);
      if (save_certs(x, dir, name, "federated bundle", j, fed[j].td,
                     fed[j].certs))
        return 1;
    }
  }
  return 0;
}

static json_t *x509_json(const X509SVIDResponse *resp)
{
  json_t *o = json_object(), *svids = json_array(),
         *crl = crl_json(resp->crl, resp->n_crl), *fed = json_object();
  size_t i;
  int bad = !o || !svids || !crl || !fed;

  for (i = 0; !bad && i < resp->n_svids; i++) {
    const X509SVID *s = resp->svids[i];
    json_t *js = json_object();
    bad = js_set(js, "spiffe_id", js_str(s->spiffe_id)) ||
          js_set(js, "x509_svid", js_b64(s->x509_svid.data,
                                         s->x509_svid.len)) ||
          js_set(js, "x509_svid_key", js_b64(s->x509_svid_key.data,
                                             s->x509_svid_key.len)) ||
          js_set(js, "bundle", js_b64(s->bundle.data, s->bundle.len)) ||
          js_set(js, "hint", js_str(s->hint));
    if (js_append(svids, js)) bad = 1;
  }
  for (i = 0; !bad && i < resp->n_federated_bundles; i++) {
    const X509SVIDResponse__FederatedBundlesEntry *e =
        resp->federated_bundles[i];
    json_t *k = js_str(e->key);
    bad = !k || js_set(fed, json_string_value(k),
                       js_b64(e->value.data, e->value.len));
    json_decref(k);
  }
  if (!bad) {
    bad = js_set(o, "svids", svids) | js_set(o, "crl", crl) |
          js_set(o, "federated_bundles", fed);
    svids = crl = fed = NULL;
  }
  for (i = 0; i < json_array_size(svids); i++)
    js_wipe(json_array_get(svids, i), "x509_svid_key");
  json_decref(svids);
  json_decref(crl);
  json_decref(fed);
  if (bad) {
    json_t *arr = json_object_get(o, "svids");
    for (i = 0; i < json_array_size(arr); i++)
      js_wipe(json_array_get(arr, i), "x509_svid_key");
    json_decref(o);
    return NULL;
  }
  return o;
}

static int cmd_fetch_x509(int argc, char **argv)
{
  struct flag fl[] = {
    {"write", F_STR, 0, NULL, 0, NULL, 0},
    {"silent", F_BOOL, 0, NULL, 0, NULL, 0},
    OUTPUT_FLAG, COMMON_FLAGS, FLAGS_END
  };
  struct ctx x;
  X509SVIDRequest req = X509_SVIDREQUEST__INIT;
  X509SVIDResponse *resp = NULL;
  struct svid_view *views = NULL;
  struct td_bundle *fed = NULL;
  uint8_t *data = NULL;
  size_t len = 0, i, n_views = 0;
  const char *dir;
  uint64_t ns;
  int rc;

  rc = begin(&x, "api fetch x509", g_x509_help, fl, argc, argv);
  if (rc) goto out;
  dir = flag(fl, "write")->set ? flag(fl, "write")->str : NULL;
  if (dir && !*dir) {
    rc = usage_err(x.cmd, "-write needs a directory");
    goto out;
  }
  if (dir && strlen(dir) > EA_CONF_PATH_MAX) {
    rc = usage_err(x.cmd, "-write: path too long");
    goto out;
  }
  if ((rc = wl_connect(&x))) goto out;
  rc = call(&x, WL_SVC "FetchX509SVID", "FetchX509SVID", 1, &req.base,
            &data, &len);
  ns = elapsed_ns(&x);
  if (rc) goto out;
  rc = 1;
  if (!(resp = x509_svidresponse__unpack(NULL, len, data))) {
    fail(&x, "malformed X509SVIDResponse from the agent");
    goto out;
  }
  if (resp->n_svids == 0) {
    fail(&x, "workload response contains no svids");
    goto out;
  }
  TDS_COPY(resp->federated_bundles, resp->n_federated_bundles, &fed);
  if (tds_check(&x, fed, resp->n_federated_bundles, 1)) goto out;
  if (!(views = calloc(resp->n_svids, sizeof *views))) {
    fail(&x, "out of memory");
    goto out;
  }
  n_views = resp->n_svids;
  for (i = 0; i < resp->n_svids; i++)
    if (check_svid(&x, i, resp->svids[i], &views[i])) goto out;

  if (!flag(fl, "silent")->on) {
    if (x.json) {
      json_t *j = x509_json(resp);
      size_t k;
      int r;
      if (!j) {
        fail(&x, "out of memory");
        goto out;
      }
      r = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
      for (k = 0; k < json_array_size(json_object_get(j, "svids")); k++)
        js_wipe(json_array_get(json_object_get(j, "svids"), k),
                "x509_svid_key");
      json_decref(j);
      putchar('\n');
      if (r != 0) {
        fail(&x, "cannot write the output");
        goto out;
      }
    } else {
      char el[48];
      printf("Received %zu svid%s after %s\n", resp->n_svids,
             resp->n_svids == 1 ? "" : "s", go_duration(ns, el, sizeof el));
      for (i = 0; i < n_views; i++) {
        putchar('\n');
        print_svid(&views[i], fed, resp->n_federated_bundles);
      }
      putchar('\n');
    }
  }
  if (dir && write_svids(&x, dir, views, n_views, fed,
                         resp->n_federated_bundles))
    goto out;
  rc = 0;
out:
  if (resp) {
    for (i = 0; i < resp->n_svids; i++)
      cairn_memzero(resp->svids[i]->x509_svid_key.data,
                    resp->svids[i]->x509_svid_key.len);
    tds_free(fed, resp->n_federated_bundles);
    x509_svidresponse__free_unpacked(resp, NULL);
  }
  views_free(views, n_views);
  wipe_free(data, len);
  flags_free(fl);
  return finish(&x, rc);
}

/* ======================================================================
 * api fetch x509-bundles
 * ====================================================================== */

static int cmd_fetch_x509_bundles(int argc, char **argv)
{
  struct flag fl[] = {
    {"write", F_STR, 0, NULL, 0, NULL, 0},
    {"silent", F_BOOL, 0, NULL, 0, NULL, 0},
    OUTPUT_FLAG, COMMON_FLAGS, FLAGS_END
  };
  struct ctx x;
  X509BundlesRequest req = X509_BUNDLES_REQUEST__INIT;
  X509BundlesResponse *resp = NULL;
  struct td_bundle *t = NULL;
  uint8_t *data = NULL;
  size_t len = 0, i, n = 0;
  const char *dir;
  int rc;

  rc = begin(&x, "api fetch x509-bundles", g_x509b_help, fl, argc, argv);
  if (rc) goto out;
  dir = flag(fl, "write")->set ? flag(fl, "write")->str : NULL;
  if (dir && (!*dir || strlen(dir) > EA_CONF_PATH_MAX)) {
    rc = usage_err(x.cmd, "-write needs a directory");
    goto out;
  }
  if ((rc = wl_connect(&x))) goto out;
  if ((rc = call(&x, WL_SVC "FetchX509Bundles", "FetchX509Bundles", 1,
                 &req.base, &data, &len)))
    goto out;
  rc = 1;
  if (!(resp = x509_bundles_response__unpack(NULL, len, data))) {
    fail(&x, "malformed X509BundlesResponse from the agent");
    goto out;
  }
  if (resp->n_bundles == 0) {
    fail(&x, "the agent sent no bundle");
    goto out;
  }
  n = resp->n_bundles;
  TDS_COPY(resp->bundles, n, &t);
  if (tds_check(&x, t, n, 1)) goto out;
  if (!flag(fl, "silent")->on) {
    if (x.json) {
      json_t *o = json_object();
      if (js_set(o, "bundles", tds_json(t, n)) |
          js_set(o, "crl", crl_json(resp->crl, resp->n_crl))) {
        json_decref(o);
        fail(&x, "out of memory");
        goto out;
      }
      if (print_json(&x, o)) goto out;
    } else {
      for (i = 0; i < n; i++) {
        if (i) putchar('\n');
        printf("Trust domain:\t\t");
        put(t[i].td);
        putchar('\n');
        print_cas("", t[i].certs);
      }
    }
  }
  if (dir) {
    char name[64];
    if (make_dir(&x, dir)) goto out;
    for (i = 0; i < n; i++) {
      snprintf(name, sizeof name, "bundle.%zu.pem", i);
      if (save_certs(&x, dir, name, "bundle", i, t[i].td, t[i].certs))
        goto out;
    }
  }
  rc = 0;
out:
  tds_free(t, n);
  if (resp) x509_bundles_response__free_unpacked(resp, NULL);
  free(data);
  flags_free(fl);
  return finish(&x, rc);
}

/* ======================================================================
 * api fetch jwt / jwt-bundles
 * ====================================================================== */

static int fetch_jwt_bundles(struct ctx *x, JWTBundlesResponse **out,
                             struct td_bundle **t)
{
  JWTBundlesRequest req = JWTBUNDLES_REQUEST__INIT;
  uint8_t *data = NULL;
  size_t len = 0;
  int rc;

  *out = NULL;
  *t = NULL;
  if ((rc = call(x, WL_SVC "FetchJWTBundles", "FetchJWTBundles", 1,
                 &req.base, &data, &len)))
    return rc;
  *out = jwtbundles_response__unpack(NULL, len, data);
  free(data);
  if (!*out) return fail(x, "malformed JWTBundlesResponse from the agent");
  TDS_COPY((*out)->bundles, (*out)->n_bundles, t);
  if (tds_check(x, *t, (*out)->n_bundles, 0)) {
    free(*t);
    *t = NULL;
    jwtbundles_response__free_unpacked(*out, NULL);
    *out = NULL;
    return 1;
  }
  return 0;
}

/* Prints "<label>(<id>):\n\t<the n bytes of v>\n", as spire-agent does
 * for tokens, hints and bundles. */
static void print_labelled(const char *label, const char *id, const void *v,
                           size_t n)
{
  printf("%s(", label);
  put(id);
  printf("):\n\t");
  putn(v, n);
  putchar('\n');
}

static void print_jwt_bundles(const struct td_bundle *t, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    print_labelled("bundle", t[i].td, t[i].data, t[i].len);
}

static json_t *jwt_bundles_json(const struct td_bundle *t, size_t n)
{
  json_t *o = json_object();

  if (js_set(o, "bundles", tds_json(t, n))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static int cmd_fetch_jwt_bundles(int argc, char **argv)
{
  struct flag fl[] = {OUTPUT_FLAG, COMMON_FLAGS, FLAGS_END};
  struct ctx x;
  JWTBundlesResponse *resp = NULL;
  struct td_bundle *t = NULL;
  int rc;

  rc = begin(&x, "api fetch jwt-bundles", g_jwtb_help, fl, argc, argv);
  if (rc) goto out;
  if ((rc = wl_connect(&x))) goto out;
  if ((rc = fetch_jwt_bundles(&x, &resp, &t))) goto out;
  if (resp->n_bundles == 0) {
    rc = fail(&x, "the agent sent no bundle");
    goto out;
  }
  if (x.json) rc = print_json(&x, jwt_bundles_json(t, resp->n_bundles));
  else print_jwt_bundles(t, resp->n_bundles);
out:
  free(t);
  if (resp) jwtbundles_response__free_unpacked(resp, NULL);
  flags_free(fl);
  return finish(&x, rc);
}

static int cmd_fetch_jwt(int argc, char **argv)
{
  struct flag fl[] = {
    {"audience", F_LIST, 0, NULL, 0, NULL, 0},
    {"spiffeID", F_STR, 0, NULL, 0, NULL, 0},
    OUTPUT_FLAG, COMMON_FLAGS, FLAGS_END
  };
  struct ctx x;
  JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
  JWTSVIDResponse *sresp = NULL;
  JWTBundlesResponse *bresp = NULL;
  struct td_bundle *t = NULL;
  char **aud = NULL, *copy = NULL;
  uint8_t *data = NULL;
  size_t len = 0, n_aud = 0, total = 0, i;
  struct flag *fa;
  int rc;

  rc = begin(&x, "api fetch jwt", g_jwt_help, fl, argc, argv);
  if (rc) goto out;

  /* -audience: repeated and/or comma-separated. */
  fa = flag(fl, "audience");
  if (!fa->set) {
    rc = usage_err(x.cmd, "audience must be specified with -audience");
    goto out;
  }
  for (i = 0; i < fa->n; i++) total += strlen(fa->list[i]) + 1;
  copy = malloc(total ? total : 1);
  aud = calloc(total ? total : 1, sizeof *aud);
  if (!copy || !aud) {
    rc = fail(&x, "out of memory");
    goto out;
  }
  {
    char *p = copy;
    for (i = 0; i < fa->n; i++) {
      char *s = p, *save = NULL, *tok;
      size_t k = strlen(fa->list[i]);
      memcpy(p, fa->list[i], k + 1);
      p += k + 1;
      if (k == 0 || s[0] == ',' || s[k - 1] == ',' || strstr(s, ",,")) {
        rc = usage_err(x.cmd, "-audience values must not be empty");
        goto out;
      }
      for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        aud[n_aud++] = tok;
    }
  }
  if (n_aud > CAIRN_JWT_AUD_MAX) {
    rc = usage_err(x.cmd, "at most %d audiences may be requested",
                   CAIRN_JWT_AUD_MAX);
    goto out;
  }
  req.audience = aud;
  req.n_audience = n_aud;
  if (flag(fl, "spiffeID")->set) {
    const char *sid = flag(fl, "spiffeID")->str;
    if (cairn_id_validate(sid) != CAIRN_OK) {
      rc = usage_err(x.cmd, "invalid -spiffeID \"%.200s\": %s", sid,
                     cairn_errdetail());
      goto out;
    }
    req.spiffe_id = (char *)sid;
  }

  if ((rc = wl_connect(&x))) goto out;
  if ((rc = fetch_jwt_bundles(&x, &bresp, &t))) goto out;
  if ((rc = call(&x, WL_SVC "FetchJWTSVID", "FetchJWTSVID", 0, &req.base,
                 &data, &len))) {
    if (x.status == CAIRN_GRPC_PERMISSION_DENIED && req.spiffe_id)
      fail(&x, "FetchJWTSVID: %s: %s (%s is not an identity of this "
           "process: uid %u, gid %u)", cairn_grpc_status_name(x.status),
           x.status_msg, req.spiffe_id, (unsigned)getuid(),
           (unsigned)getgid());
    goto out;
  }
  rc = 1;
  if (!(sresp = jwtsvidresponse__unpack(NULL, len, data))) {
    fail(&x, "malformed JWTSVIDResponse from the agent");
    goto out;
  }
  if (sresp->n_svids == 0) {
    fail(&x, "the agent returned no JWT-SVID");
    goto out;
  }
  if (x.json) {
    json_t *arr = json_array(), *s = json_object(), *svids = json_array();
    int bad = !arr || !s || !svids;
    for (i = 0; !bad && i < sresp->n_svids; i++) {
      const JWTSVID *v = sresp->svids[i];
      json_t *o = json_object();
      bad = js_set(o, "spiffe_id", js_str(v->spiffe_id)) ||
            js_set(o, "svid", js_str(v->svid)) ||
            js_set(o, "hint", js_str(v->hint));
      if (js_append(svids, o)) bad = 1;
    }
    if (!bad) {
      bad = js_set(s, "svids", svids);
      svids = NULL;
    }
    if (!bad) {
      bad = js_append(arr, s);
      s = NULL;
    }
    if (!bad) bad = js_append(arr, jwt_bundles_json(t, bresp->n_bundles));
    json_decref(svids);
    json_decref(s);
    if (bad) {
      json_decref(arr);
      fail(&x, "out of memory");
      goto out;
    }
    if (print_json(&x, arr)) goto out;
  } else {
    for (i = 0; i < sresp->n_svids; i++) {
      const JWTSVID *v = sresp->svids[i];
      print_labelled("token", v->spiffe_id, v->svid,
                     v->svid ? strlen(v->svid) : 0);
      if (v->hint && *v->hint)
        print_labelled("hint", v->spiffe_id, v->hint, strlen(v->hint));
    }
    print_jwt_bundles(t, bresp->n_bundles);
  }
  rc = 0;
out:
  if (sresp) {
    for (i = 0; i < sresp->n_svids; i++)
      if (sresp->svids[i]->svid)
        cairn_memzero(sresp->svids[i]->svid, strlen(sresp->svids[i]->svid));
    jwtsvidresponse__free_unpacked(sresp, NULL);
  }
  free(t);
  if (bresp) jwtbundles_response__free_unpacked(bresp, NULL);
  wipe_free(data, len);
  free(aud);
  free(copy);
  flags_free(fl);
  return finish(&x, rc);
}

/* ======================================================================
 * api validate jwt
 * ====================================================================== */

/* Reads a token from standard input (surrounding white space removed). */
static int read_token_stdin(struct ctx *x, char **out)
{
  char *buf = malloc(TOKEN_STDIN_MAX + 1);
  size_t n = 0, start = 0;

  *out = NULL;
  if (!buf) return fail(x, "out of memory");
  while (n <= TOKEN_STDIN_MAX) {
    size_t k = fread(buf + n, 1, TOKEN_STDIN_MAX + 1 - n, stdin);
    if (k == 0) break;
    n += k;
  }
  if (ferror(stdin)) {
    wipe_free(buf, TOKEN_STDIN_MAX + 1);
    return fail(x, "cannot read the token from standard input");
  }
  if (n > TOKEN_STDIN_MAX) {
    wipe_free(buf, TOKEN_STDIN_MAX + 1);
    return fail(x, "the token on standard input is longer than %d bytes",
                CAIRN_JWT_MAX);
  }
  buf[n] = '\0';
  while (n > 0 && strchr(" \t\r\n", buf[n - 1])) buf[--n] = '\0';
  while (buf[start] && strchr(" \t\r\n", buf[start])) start++;
  if (start) memmove(buf, buf + start, n - start + 1);
  *out = buf;
  return 0;
}

static int cmd_validate_jwt(int argc, char **argv)
{
  struct flag fl[] = {
    {"audience", F_STR, 0, NULL, 0, NULL, 0},
    {"svid", F_STR, 0, NULL, 0, NULL, 0},
    OUTPUT_FLAG, COMMON_FLAGS, FLAGS_END
  };
  struct ctx x;
  ValidateJWTSVIDRequest req = VALIDATE_JWTSVIDREQUEST__INIT;
  ValidateJWTSVIDResponse *resp = NULL;
  char *token = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  json_t *claims = NULL;
  const char *svid;
  int rc;

  rc = begin(&x, "api validate jwt", g_validate_help, fl, argc, argv);
  if (rc) goto out;
  if (!flag(fl, "audience")->set || !*flag(fl, "audience")->str) {
    rc = usage_err(x.cmd, "audience must be specified with -audience");
    goto out;
  }
  svid = flag(fl, "svid")->set ? flag(fl, "svid")->str : NULL;
  if (!svid || !*svid) {
    rc = usage_err(x.cmd, "svid must be specified with -svid (\"-\" reads "
                   "standard input)");
    goto out;
  }
  if (strcmp(svid, "-") == 0) {
    if ((rc = read_token_stdin(&x, &token))) goto out;
    if (!*token) {
      rc = usage_err(x.cmd, "no token on standard input");
      goto out;
    }
    svid = token;
  }
  req.audience = (char *)flag(fl, "audience")->str;
  req.svid = (char *)svid;

  if ((rc = wl_connect(&x))) goto out;
  rc = call(&x, WL_SVC "ValidateJWTSVID", "ValidateJWTSVID", 0, &req.base,
            &data, &len);
  if (rc) {
    if (x.status == CAIRN_GRPC_INVALID_ARGUMENT)
      fail(&x, "SVID is not valid: %s", x.status_msg);
    goto out;
  }
  rc = 1;
  if (!(resp = validate_jwtsvidresponse__unpack(NULL, len, data))) {
    fail(&x, "malformed ValidateJWTSVIDResponse from the agent");
    goto out;
  }
  claims = resp->claims ? struct_to_json(resp->claims, 0) : json_object();
  if (!claims) {
    fail(&x, "the agent sent claims that cannot be shown as JSON");
    goto out;
  }
  if (x.json) {
    json_t *o = json_object();
    if (js_set(o, "spiffe_id", js_str(resp->spiffe_id)) ||
        js_set(o, "claims", claims)) {
      claims = NULL;
      json_decref(o);
      fail(&x, "out of memory");
      goto out;
    }
    claims = NULL;
    if (print_json(&x, o)) goto out;
  } else {
    char *s = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s) {
      fail(&x, "out of memory");
      goto out;
    }
    printf("SVID is valid.\nSPIFFE ID : ");
    put(resp->spiffe_id);
    printf("\nClaims    : ");
    put(s);
    putchar('\n');
    free(s);
  }
  rc = 0;
out:
  json_decref(claims);
  if (resp) validate_jwtsvidresponse__free_unpacked(resp, NULL);
  free(data);
  if (token) wipe_free(token, TOKEN_STDIN_MAX + 1);
  flags_free(fl);
  return finish(&x, rc);
}

/* ======================================================================
 * Dispatch
 * ====================================================================== */

static int is_help(const char *a)
{
  return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
         strcmp(a, "-help") == 0 || strcmp(a, "help") == 0;
}

int ea_api_cli_main(int argc, char **argv)
{
  const char *sub;

  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    fputs(g_api_help, stderr);
    return 2;
  }
  sub = argv[1];
  if (is_help(sub)) {
    fputs(g_api_help, stdout);
    return 0;
  }
  if (strcmp(sub, "fetch") == 0) {
    const char *kind = argc > 2 ? argv[2] : "-";
    if (kind[0] == '-') return cmd_fetch_x509(argc - 2, argv + 2);
    if (strcmp(kind, "x509") == 0) return cmd_fetch_x509(argc - 3, argv + 3);
    if (strcmp(kind, "jwt") == 0) return cmd_fetch_jwt(argc - 3, argv + 3);
    if (strcmp(kind, "x509-bundles") == 0)
      return cmd_fetch_x509_bundles(argc - 3, argv + 3);
    if (strcmp(kind, "jwt-bundles") == 0)
      return cmd_fetch_jwt_bundles(argc - 3, argv + 3);
    return usage_err("api", "unknown command \"fetch %.100s\": x509, jwt, "
                     "x509-bundles or jwt-bundles", kind);
  }
  if (strcmp(sub, "validate") == 0) {
    if (argc > 2 && strcmp(argv[2], "jwt") == 0)
      return cmd_validate_jwt(argc - 3, argv + 3);
    if (argc > 2 && is_help(argv[2])) {
      fputs(g_validate_help, stdout);
      return 0;
    }
    return usage_err("api", "\"api validate\" needs \"jwt\"");
  }
  return usage_err("api", "unknown command \"api %.100s\"", sub);
}

/* ======================================================================
 * healthcheck
 * ====================================================================== */

static const char *serving_name(int s)
{
  switch (s) {
  case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__UNKNOWN:
    return "UNKNOWN";
  case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING:
    return "SERVING";
  case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING:
    return "NOT_SERVING";
  case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN:
    return "SERVICE_UNKNOWN";
  default:
    return "(unknown value)";
  }
}

int ea_healthcheck_main(int argc, char **argv)
{
  struct flag fl[] = {
    {"shallow", F_BOOL, 0, NULL, 0, NULL, 0},
    {"verbose", F_BOOL, 0, NULL, 0, NULL, 0},
    COMMON_FLAGS, FLAGS_END
  };
  struct ctx x;
  Grpc__Health__V1__HealthCheckRequest req =
      GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  Grpc__Health__V1__HealthCheckResponse *resp = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  int rc, verbose, status = -1;

  signal(SIGPIPE, SIG_IGN);
  memset(&x, 0, sizeof x);
  x.cmd = "healthcheck";
  x.help = g_health_help;
  rc = parse_flags(x.cmd, x.help, fl, argc - 1, argv + 1);
  if (rc) {
    flags_free(fl);
    return rc == HELP_SHOWN ? 0 : 2;
  }
  verbose = flag(fl, "verbose")->on;
  if (verbose) {
    printf("Checking agent health...\n");
    fflush(stdout);
  }
  rc = setup(&x, fl);
  if (rc == 2) goto out;
  if (rc == 0) rc = wl_connect(&x);
  if (rc == 0)
    rc = call(&x, HEALTH_CHECK, "Health/Check", 0, &req.base, &data, &len);
  if (rc == 0 &&
      !(resp = grpc__health__v1__health_check_response__unpack(NULL, len,
                                                               data)))
    rc = fail(&x, "malformed HealthCheckResponse from the agent");
  if (rc) {
    /* spire-agent prints the reason only with -verbose; it is kept on the
     * one line here so that the failure is always explained. */
    fflush(stdout);
    if (verbose) fprintf(stderr, "Failed to check health: %s\n", x.err);
    fprintf(stderr, "Agent is unhealthy: unable to determine health: %s\n",
            x.err);
    goto out;
  }
  status = resp->status;
  if (verbose) printf("Health status: %s\n", serving_name(status));
  if (status !=
          GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING &&
      !flag(fl, "shallow")->on) {
    fflush(stdout);
    fprintf(stderr, "Agent is unhealthy: agent returned status \"%s\"\n",
            serving_name(status));
    rc = 1;
    goto out;
  }
  printf("Agent is healthy.\n");
  if (fflush(stdout) != 0 || ferror(stdout)) rc = 1;
out:
  if (resp) grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
  free(data);
  flags_free(fl);
  ctx_cleanup(&x);
  return rc;
}
