/* cairn-wl-server - serves the SPIFFE Workload API (edge/agent/wl) from an
 * in-memory CA, for interop tests with real gRPC clients.
 *
 *   cairn-wl-server SOCKET [--ttl SECONDS] [--jwt-ttl SECONDS]
 *                   [--mint-delay-ms N] [--health serving|not-serving]
 *                   [--entry SPEC]...
 *
 * SPEC is "ID|SPIFFE_ID|TYPE:VALUE,TYPE:VALUE|HINT|FEDERATED_TD" (HINT and
 * FEDERATED_TD may be empty). The trust domain is example.org; a
 * federated bundle for fed.example is always present. Every entry gets an
 * X509-SVID (fresh P-256 key, TTL --ttl, default 3600 s) at start; all
 * SVIDs are re-issued at half their TTL and on SIGUSR1 (a rotation).
 * JWT-SVIDs are signed here, asynchronously after --mint-delay-ms (default
 * 5), with --jwt-ttl (default 300). The gRPC health service
 * (grpc.health.v1.Health/Check, wl_health.h) answers SERVING, or
 * NOT_SERVING with --health not-serving. Prints "ready" once listening.
 * SIGTERM or SIGINT shuts down; the exit status is 0 only when every handle
 * closed (uv_loop_close() returned 0). SIGPIPE stays at its default on
 * purpose: the gRPC layer must never raise it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/util.h"
#include "wl_api.h"
#include "wl_cache.h"
#include "wl_health.h"

#define TD "example.org"
#define FED_TD "fed.example"
#define MAX_ENTRIES 32

static uv_loop_t g_loop;
static struct wl_cache *g_cache;
static struct wl_api *g_api;
static struct wl_health *g_health;
static int g_serving = 1;
static uv_signal_t g_term, g_int, g_usr1;
static uv_timer_t g_rotate;
static int64_t g_ttl = 3600, g_jwt_ttl = 300;
static unsigned g_mint_delay = 5;
static struct cairn_key *g_ca_key, *g_jwt_key;
static struct cairn_cert *g_ca;
static char g_kid[40];
static char *g_entry_ids[MAX_ENTRIES], *g_entry_sids[MAX_ENTRIES];
static size_t g_n_entries;
static unsigned g_rotations;

struct pending_mint {
  uv_timer_t t;
  struct wl_jwt_req *req;
  char *token;
  struct pending_mint *next, *prev;
};
static struct pending_mint *g_mints;

static void die(const char *what, int r)
{
  fprintf(stderr, "cairn-wl-server: %s: %s: %s\n", what, cairn_strerror(r),
          cairn_errdetail());
  exit(1);
}

static struct cairn_cert *issue(enum cairn_cert_kind kind, const char *id,
                                int64_t ttl, const struct cairn_key *subj,
                                const struct cairn_key *ikey,
                                const struct cairn_cert *issuer)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;
  int r;

  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.ttl = ttl;
  t.path_len = -1;
  if ((r = cairn_cert_issue(&t, subj, ikey, issuer, &c)) != CAIRN_OK)
    die("issue", r);
  return c;
}

static void issue_svids(void)
{
  size_t i;
  int r;

  for (i = 0; i < g_n_entries; i++) {
    struct cairn_key *k = NULL;
    struct cairn_cert_list *l = NULL;
    struct cairn_cert *leaf;
    if ((r = cairn_key_generate(CAIRN_KEY_EC_P256, &k)) != CAIRN_OK)
      die("keygen", r);
    leaf = issue(CAIRN_CERT_LEAF, g_entry_sids[i], g_ttl, k, g_ca_key, g_ca);
    if ((r = cairn_cert_list_new(&l)) != CAIRN_OK ||
        (r = cairn_cert_list_push(l, leaf)) != CAIRN_OK)
      die("chain", r);
    if ((r = wl_cache_svid_set(g_cache, g_entry_ids[i], l, k)) != CAIRN_OK)
      die("svid_set", r);
    cairn_cert_list_free(l);
    cairn_key_free(k);
  }
}

static void on_rotate(uv_timer_t *t)
{
  (void)t;
  issue_svids();
  g_rotations++;
  fprintf(stderr, "cairn-wl-server: rotation %u\n", g_rotations);
}

static void mint_unlink(struct pending_mint *p)
{
  if (p->prev) p->prev->next = p->next;
  else g_mints = p->next;
  if (p->next) p->next->prev = p->prev;
}

static void on_mint_closed(uv_handle_t *h)
{
  struct pending_mint *p = h->data;
  if (p->token) cairn_freezero(p->token, strlen(p->token));
  free(p);
}

static void on_mint(uv_timer_t *t)
{
  struct pending_mint *p = t->data;
  mint_unlink(p);
  wl_jwt_req_done(p->req, p->token, p->token ? NULL : "signing failed");
  uv_close((uv_handle_t *)&p->t, on_mint_closed);
}

static void mint(struct wl_jwt_req *req, const char *entry_id,
                 const char *spiffe_id, const char *const *aud, size_t naud,
                 void *arg)
{
  struct pending_mint *p = calloc(1, sizeof *p);
  time_t now = cairn_now();
  (void)arg;
  (void)entry_id;

  if (!p) {
    wl_jwt_req_done(req, NULL, "out of memory");
    return;
  }
  p->req = req;
  if (cairn_jwt_sign(g_jwt_key, g_kid, spiffe_id, aud, naud, now,
                     now + g_jwt_ttl, &p->token) != CAIRN_OK)
    p->token = NULL;
  uv_timer_init(&g_loop, &p->t);
  p->t.data = p;
  p->next = g_mints;
  if (g_mints) g_mints->prev = p;
  g_mints = p;
  uv_timer_start(&p->t, on_mint, g_mint_delay, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
  (void)h;
  if (signum == SIGUSR1) {
    on_rotate(NULL);
    return;
  }
  fprintf(stderr, "cairn-wl-server: signal %d, shutting down\n", signum);
  wl_api_free(g_api);
  g_api = NULL;
  wl_health_free(g_health);  /* after the server: no further Check */
  g_health = NULL;
  while (g_mints) {
    struct pending_mint *p = g_mints;
    mint_unlink(p);
    uv_timer_stop(&p->t);
    wl_jwt_req_done(p->req, NULL, "shutting down");
    uv_close((uv_handle_t *)&p->t, on_mint_closed);
  }
  wl_cache_free(g_cache);
  g_cache = NULL;
  uv_close((uv_handle_t *)&g_term, NULL);
  uv_close((uv_handle_t *)&g_int, NULL);
  uv_close((uv_handle_t *)&g_usr1, NULL);
  uv_close((uv_handle_t *)&g_rotate, NULL);
}

static int health(void *arg, char *detail, size_t len)
{
  (void)arg;
  snprintf(detail, len, "cairn-wl-server: %s",
           g_serving ? "serving" : "--health not-serving");
  return g_serving;
}

/* "ID|SPIFFE_ID|sel,sel|hint|fed" */
static void add_entry(const char *spec)
{
  char buf[4096], *f[5] = {0}, *p, *save = NULL, *tok;
  struct cairn_msg_entry e;
  struct cairn_msg_selector sel[16];
  char *fed[1];
  size_t n = 0, i;
  int r;

  if (g_n_entries >= MAX_ENTRIES) die("too many entries", CAIRN_ERR_TOO_BIG);
  snprintf(buf, sizeof buf, "%s", spec);
  p = buf;
  for (i = 0; i < 5; i++) {
    f[i] = p;
    p = p ? strchr(p, '|') : NULL;
    if (p) *p++ = '\0';
  }
  if (!f[0] || !f[1] || !f[2]) die("bad --entry", CAIRN_ERR_INVAL);
  memset(&e, 0, sizeof e);
  e.id = f[0];
  e.spiffe_id = f[1];
  e.parent_id = (char *)"spiffe://" TD "/spire/agent/join_token/test";
  e.hint = f[3] ? f[3] : (char *)"";
  e.revision = 1;
  for (tok = strtok_r(f[2], ",", &save); tok && n < 16;
       tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    if (!colon) die("bad selector", CAIRN_ERR_INVAL);
    *colon = '\0';
    sel[n].type = tok;
    sel[n].value = colon + 1;
    n++;
  }
  e.selectors = sel;
  e.n_selectors = n;
  if (f[4] && *f[4]) {
    fed[0] = f[4];
    e.federates_with = fed;
    e.n_federates_with = 1;
  }
  if ((r = wl_cache_entry_put(g_cache, &e)) != CAIRN_OK) die("entry", r);
  g_entry_ids[g_n_entries] = strdup(f[0]);
  g_entry_sids[g_n_entries] = strdup(f[1]);
  g_n_entries++;
}

int main(int argc, char **argv)
{
  struct wl_cache_opts co;
  struct wl_api_opts ao;
  struct cairn_bundle *b = NULL, *fb = NULL;
  struct cairn_key *fed_key = NULL;
  struct cairn_cert *fed_ca;
  const char *sock;
  int i, r;

  if (argc < 2) {
    fprintf(stderr, "usage: %s SOCKET [--ttl S] [--jwt-ttl S] "
            "[--mint-delay-ms N] [--health serving|not-serving] "
            "[--entry SPEC]...\n", argv[0]);
    return 2;
  }
  sock = argv[1];
  if (getenv("CAIRN_WL_DEBUG")) cairn_log_set_level(CAIRN_LOG_DEBUG);
  uv_loop_init(&g_loop);
  wl_cache_opts_init(&co);
  co.trust_domain = TD;
  if ((r = wl_cache_new(&g_loop, &co, &g_cache)) != CAIRN_OK) die("cache", r);

  /* The CA, its JWT key and the federated trust domain. */
  if ((r = cairn_key_generate(CAIRN_KEY_EC_P256, &g_ca_key)) != CAIRN_OK ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &g_jwt_key)) != CAIRN_OK ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &fed_key)) != CAIRN_OK ||
      (r = cairn_jwt_new_kid(g_kid, sizeof g_kid)) != CAIRN_OK)
    die("keys", r);
  g_ca = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 86400, g_ca_key, g_ca_key,
               NULL);
  fed_ca = issue(CAIRN_CERT_ROOT, "spiffe://" FED_TD, 86400, fed_key, fed_key,
                 NULL);
  if ((r = cairn_bundle_new(TD, &b)) != CAIRN_OK ||
      (r = cairn_bundle_add_x509(b, g_ca)) != CAIRN_OK ||
      (r = cairn_bundle_add_jwt_key(b, g_kid, g_jwt_key)) != CAIRN_OK ||
      (r = cairn_bundle_new(FED_TD, &fb)) != CAIRN_OK ||
      (r = cairn_bundle_add_x509(fb, fed_ca)) != CAIRN_OK ||
      (r = cairn_bundle_add_jwt_key(fb, "fed-kid", fed_key)) != CAIRN_OK ||
      (r = wl_cache_set_bundle(g_cache, b)) != CAIRN_OK ||
      (r = wl_cache_set_federated(g_cache, fb)) != CAIRN_OK)
    die("bundle", r);
  cairn_bundle_free(b);
  cairn_bundle_free(fb);
  cairn_cert_free(fed_ca);
  cairn_key_free(fed_key);

  for (i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) die(a, CAIRN_ERR_INVAL);
    if (strcmp(a, "--ttl") == 0) g_ttl = atoll(v);
    else if (strcmp(a, "--jwt-ttl") == 0) g_jwt_ttl = atoll(v);
    else if (strcmp(a, "--mint-delay-ms") == 0) g_mint_delay = (unsigned)atoi(v);
    else if (strcmp(a, "--entry") == 0) add_entry(v);
    else if (strcmp(a, "--health") == 0 && strcmp(v, "serving") == 0)
      g_serving = 1;
    else if (strcmp(a, "--health") == 0 && strcmp(v, "not-serving") == 0)
      g_serving = 0;
    else die(a, CAIRN_ERR_INVAL);
    i++;
  }
  if (g_ttl < 2) die("--ttl must be at least 2", CAIRN_ERR_INVAL);
  issue_svids();

  wl_api_opts_init(&ao);
  ao.cache = g_cache;
  ao.socket_path = sock;
  ao.mint_jwt = mint;
  if ((r = wl_api_new(&g_loop, &ao, &g_api)) != CAIRN_OK) die("listen", r);
  if ((r = wl_health_new(wl_api_server(g_api), health, NULL, &g_health)) !=
      CAIRN_OK)
    die("health", r);

  uv_timer_init(&g_loop, &g_rotate);
  uv_timer_start(&g_rotate, on_rotate, (uint64_t)g_ttl * 500,
                 (uint64_t)g_ttl * 500);
  uv_signal_init(&g_loop, &g_term);
  uv_signal_start(&g_term, on_signal, SIGTERM);
  uv_signal_init(&g_loop, &g_int);
  uv_signal_start(&g_int, on_signal, SIGINT);
  uv_signal_init(&g_loop, &g_usr1);
  uv_signal_start(&g_usr1, on_signal, SIGUSR1);
  printf("ready\n");
  fflush(stdout);
  uv_run(&g_loop, UV_RUN_DEFAULT);
  r = uv_loop_close(&g_loop);
  cairn_key_free(g_ca_key);
  cairn_key_free(g_jwt_key);
  cairn_cert_free(g_ca);
  for (size_t k = 0; k < g_n_entries; k++) {
    free(g_entry_ids[k]);
    free(g_entry_sids[k]);
  }
  if (r != 0) {
    fprintf(stderr, "cairn-wl-server: unclean shutdown (loop %d)\n", r);
    return 3;
  }
  return 0;
}
