/* agent.c - cairn-agent's node identity (see agent.h). */
#include "agent.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/net.h"
#include "cairn/server.h"
#include "cairn/util.h"
#include "agent_state.h"

#define MOD "agent"
#define LOCK_FILE "cairn-agent.lock"
#define PATH_ATTEST "/v1/attest"
#define PATH_RENEW "/v1/node/renew"
#define PATH_BUNDLE "/v1/bundle"
#define BOOT_CERT_TTL 3600       /* the throwaway bootstrap certificate */
#define NODE_KEY_TYPE CAIRN_KEY_EC_P256
#define DIAG_MAX 200             /* a server's diagnostic text, shown */
#define RENEW_MIN_GAP_MS 1000    /* never renew twice within this */

enum reach { REACH_UNKNOWN = 0, REACH_UP, REACH_DOWN };

typedef void (*step_fn)(struct ea_agent *a);

struct ea_agent {
  uv_loop_t *loop;
  const struct ea_conf *conf;
  struct ea_agent_opts o;
  struct ea_files files;
  struct cairn_id server_id;
  char host[INET6_ADDRSTRLEN];  /* server address as an IP literal */
  int lock_fd;                   /* holds <data_dir>/LOCK_FILE */
  enum ea_phase phase;

  struct ea_svid *svid;          /* the node SVID, once attested */
  struct cairn_bundle *bundle;   /* current bundle; NULL only before an
                                    insecure first contact */

  /* attestation */
  struct cairn_key *attest_key;  /* key of the SVID being asked for */
  uint8_t *attest_body;
  size_t attest_len;
  struct cairn_id attest_id;     /* the ID the server must issue */
  int attest_err;                /* verification error, reported next */
  int attest_failing;            /* 5.xx answers seen */

  struct cairn_net_client *client;
  struct cairn_net_observation *obs;  /* GET /v1/bundle */
  struct cairn_key *renew_key;        /* key of the renewal in flight */
  int renewing;
  int renew_failing;
  int bundle_failing;
  int bundle_seen;                    /* a first bundle answer arrived */
  int session_told;                   /* on_session(client) was called */
  uint64_t last_renew_ms;             /* uv_now() of the last renewal */

  uv_timer_t conn_timer;     /* retry of attest / observe */
  uv_timer_t renew_timer;
  step_fn conn_next;
  unsigned conn_backoff, renew_backoff;
  uv_getaddrinfo_t gai;
  int resolving;
  step_fn after_resolve;

  enum reach reach;
  int last_err;              /* of the last session failure */
  char reason[256];          /* its text */
  uint64_t rng;

  struct ea_agent_status st;
  int exit_code;
  char error[512];
  int stopped;
  int handles;               /* open uv handles */
  int free_pending;
};

/* ---- small helpers --------------------------------------------------------- */

static uint64_t next_rand(struct ea_agent *a)
{
  /* xorshift64*: jitter only, nothing secret depends on it. */
  a->rng ^= a->rng >> 12;
  a->rng ^= a->rng << 25;
  a->rng ^= a->rng >> 27;
  return a->rng * 2685821657736338717ULL;
}

/* "1 s" or "250 ms". */
static const char *fmt_ms(unsigned ms, char *buf, size_t len)
{
  if (ms % 1000 == 0) snprintf(buf, len, "%u s", ms / 1000);
  else snprintf(buf, len, "%u ms", ms);
  return buf;
}

static const char *fmt_time(time_t t, char *buf, size_t len)
{
  return cairn_time_format(t, buf, len);
}

/* A server's diagnostic payload as printable text. */
static void diag_text(const struct cairn_net_response *r, char *out,
                      size_t outlen)
{
  size_t n = 0;

  if (r && r->body && r->content_format != CAIRN_NET_CF_CBOR) {
    for (size_t i = 0; i < r->body_len && i < DIAG_MAX && n + 1 < outlen;
         i++) {
      unsigned char ch = r->body[i];
      out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
  }
  if (n == 0 && outlen > 0) {
    snprintf(out, outlen, "no reason given");
    return;
  }
  out[n] = '\0';
}

static void code_text(int code, char *out)
{
  char c[5];
  snprintf(out, 8, "%s", cairn_net_code_str(code, c));
}

/* ---- lifecycle ---------------------------------------------------------- */

static void maybe_release(struct ea_agent *a)
{
  if (!a->free_pending || a->handles > 0 || a->resolving) return;
  ea_files_clear(&a->files);
  free(a);
}

static void on_handle_closed(uv_handle_t *h)
{
  struct ea_agent *a = h->data;
  a->handles--;
  maybe_release(a);
}

static void drop_client(struct ea_agent *a)
{
  if (a->session_told) {
    a->session_told = 0;
    if (a->o.on_session) a->o.on_session(NULL, a->o.hook_arg);
  }
  if (a->obs) cairn_net_observation_cancel(a->obs);
  a->obs = NULL;
  cairn_net_client_free(a->client);
  a->client = NULL;
  a->st.server_up = 0;
  a->renewing = 0;
  cairn_key_free(a->renew_key);
  a->renew_key = NULL;
}

static void stop(struct ea_agent *a)
{
  if (a->stopped) return;
  a->stopped = 1;
  a->phase = EA_PHASE_STOPPED;
  drop_client(a);
  uv_timer_stop(&a->conn_timer);
  uv_timer_stop(&a->renew_timer);
  cairn_key_free(a->attest_key);
  a->attest_key = NULL;
  if (a->attest_body) cairn_freezero(a->attest_body, a->attest_len);
  a->attest_body = NULL;
  ea_svid_free(a->svid);
  a->svid = NULL;
  cairn_bundle_free(a->bundle);
  a->bundle = NULL;
  if (a->lock_fd >= 0) close(a->lock_fd);
  a->lock_fd = -1;
}

static void fatal(struct ea_agent *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fatal(struct ea_agent *a, const char *fmt, ...)
{
  va_list ap;

  if (a->stopped) return;
  va_start(ap, fmt);
  vsnprintf(a->error, sizeof a->error, fmt, ap);
  va_end(ap);
  CAIRN_LOGE(MOD, "%s", a->error);
  a->exit_code = 1;
  stop(a);
  if (a->o.on_exit) a->o.on_exit(a, 1, a->o.arg);
}

void ea_agent_opts_init(struct ea_agent_opts *o)
{
  memset(o, 0, sizeof *o);
  o->backoff_min_ms = 1000;
  o->backoff_max_ms = 30000;
  o->timeout_ms = CAIRN_NET_TIMEOUT_DEFAULT_MS;
  o->keepalive_s = 15;
}

int ea_agent_new(uv_loop_t *loop, const struct ea_agent_opts *opts,
                 struct ea_agent **out)
{
  struct ea_agent *a;
  unsigned char tmp[16];
  int r;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  if (!loop || !opts || !opts->conf)
    return cairn_seterr(CAIRN_ERR_INVAL, "agent: NULL argument");
  if (!(a = calloc(1, sizeof *a))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  a->loop = loop;
  a->conf = opts->conf;
  a->o = *opts;
  if (!a->o.backoff_min_ms) a->o.backoff_min_ms = 1000;
  if (a->o.backoff_max_ms < a->o.backoff_min_ms)
    a->o.backoff_max_ms = a->o.backoff_min_ms;
  if (!a->o.timeout_ms) a->o.timeout_ms = CAIRN_NET_TIMEOUT_DEFAULT_MS;
  a->conn_backoff = a->renew_backoff = a->o.backoff_min_ms;
  a->lock_fd = -1;
  a->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)a;
  if (!a->rng) a->rng = 1;
  if ((r = cairn_id_from_parts(a->conf->trust_domain, "/spire/server",
                               &a->server_id))) {
    free(a);
    return r;
  }
  if (inet_pton(AF_INET, a->conf->server_address, tmp) == 1 ||
      inet_pton(AF_INET6, a->conf->server_address, tmp) == 1)
    snprintf(a->host, sizeof a->host, "%s", a->conf->server_address);
  uv_timer_init(loop, &a->conn_timer);
  uv_timer_init(loop, &a->renew_timer);
  a->conn_timer.data = a->renew_timer.data = a;
  a->handles = 2;
  *out = a;
  return CAIRN_OK;
}

void ea_agent_stop(struct ea_agent *a)
{
  if (a) stop(a);
}

void ea_agent_free(struct ea_agent *a)
{
  if (!a || a->free_pending) return;
  stop(a);
  a->free_pending = 1;
  uv_close((uv_handle_t *)&a->conn_timer, on_handle_closed);
  uv_close((uv_handle_t *)&a->renew_timer, on_handle_closed);
}

int ea_agent_exit_code(const struct ea_agent *a)
{
  return a ? a->exit_code : 0;
}

const char *ea_agent_error(const struct ea_agent *a)
{
  return a ? a->error : "";
}

void ea_agent_get_status(const struct ea_agent *a, struct ea_agent_status *st)
{
  *st = a->st;
  st->phase = a->phase;
  if (a->svid) {
    st->id = a->svid->id;
    snprintf(st->serial, sizeof st->serial, "%s", a->svid->serial);
    st->not_after = a->svid->not_after;
  } else {
    memset(&st->id, 0, sizeof st->id);
    st->serial[0] = '\0';
    st->not_after = 0;
    st->renew_at = 0;
  }
  st->bundle_sequence = a->bundle ? cairn_bundle_sequence(a->bundle) : 0;
}

/* ---- reachability --------------------------------------------------------- */

static void note_up(struct ea_agent *a)
{
  a->st.server_up = 1;
  a->conn_backoff = a->o.backoff_min_ms;
  if (a->reach == REACH_UP) return;
  if (a->reach == REACH_DOWN)
    CAIRN_LOGI(MOD, "server %s:%u is reachable again", a->host,
               a->conf->server_port);
  else
    CAIRN_LOGI(MOD, "connected to %s at %s:%u", a->server_id.str, a->host,
               a->conf->server_port);
  a->reach = REACH_UP;
}

static void note_down(struct ea_agent *a, int err, const char *reason)
{
  char t[32], lo[16], hi[16];

  a->st.server_up = 0;
  a->last_err = err;
  snprintf(a->reason, sizeof a->reason, "%s", reason);
  if (a->reach == REACH_DOWN) {
    CAIRN_LOGD(MOD, "server still unreachable: %s", reason);
    return;
  }
  a->reach = REACH_DOWN;
  if (err != CAIRN_ERR_NET && err != CAIRN_ERR_TIMEOUT) {
    /* During attestation this ends the agent with its own message. */
    if (a->phase == EA_PHASE_ATTESTING) CAIRN_LOGD(MOD, "%s", reason);
    else CAIRN_LOGE(MOD, "%s", reason);
  } else if (a->svid) {
    CAIRN_LOGW(MOD, "server %s:%u unreachable (%s); running on the node "
               "SVID valid until %s, retrying every %s..%s",
               a->host[0] ? a->host : a->conf->server_address,
               a->conf->server_port, reason,
               fmt_time(a->svid->not_after, t, sizeof t),
               fmt_ms(a->o.backoff_min_ms, lo, sizeof lo),
               fmt_ms(a->o.backoff_max_ms, hi, sizeof hi));
  } else {
    CAIRN_LOGW(MOD, "server %s:%u unreachable (%s); retrying every %s..%s",
               a->host[0] ? a->host : a->conf->server_address,
               a->conf->server_port, reason,
               fmt_ms(a->o.backoff_min_ms, lo, sizeof lo),
               fmt_ms(a->o.backoff_max_ms, hi, sizeof hi));
  }
}

static void on_state(struct cairn_net_client *c, int up, int err,
                     const char *reason, void *arg)
{
  struct ea_agent *a = arg;

  if (c != a->client || a->stopped) return;
  if (up) note_up(a);
  else note_down(a, err, reason && reason[0] ? reason : cairn_strerror(err));
}

/* ---- retries and name resolution ------------------------------------------- */

static void on_conn_timer(uv_timer_t *t)
{
  struct ea_agent *a = t->data;
  step_fn fn = a->conn_next;

  a->conn_next = NULL;
  if (fn && !a->stopped) fn(a);
}

/* Runs fn after the current backoff, which then doubles up to the cap. */
static void conn_retry(struct ea_agent *a, step_fn fn)
{
  unsigned delay = a->conn_backoff;

  if (a->stopped) return;
  a->conn_backoff = delay >= a->o.backoff_max_ms / 2 ? a->o.backoff_max_ms
                                                     : delay * 2;
  a->conn_next = fn;
  CAIRN_LOGD(MOD, "retrying in %u ms", delay);
  uv_timer_start(&a->conn_timer, on_conn_timer, delay, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res)
{
  struct ea_agent *a = req->data;
  step_fn next = a->after_resolve;
  char why[300];

  a->resolving = 0;
  a->after_resolve = NULL;
  if (a->free_pending || a->stopped) {
    uv_freeaddrinfo(res);
    maybe_release(a);
    return;
  }
  /* The first IPv4 address, else the first IPv6 one: servers listen on
   * 0.0.0.0 by default, and "localhost" often resolves to ::1 first. */
  for (int pass = 0; status == 0 && pass < 2 && !a->host[0]; pass++)
    for (struct addrinfo *ai = res; ai && !a->host[0]; ai = ai->ai_next) {
      if (pass == 0 && ai->ai_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)ai->ai_addr, a->host,
                    sizeof a->host);
      else if (pass == 1 && ai->ai_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)ai->ai_addr, a->host,
                    sizeof a->host);
    }
  uv_freeaddrinfo(res);
  if (!a->host[0]) {
    snprintf(why, sizeof why, "cannot resolve server_address \"%s\": %s",
             a->conf->server_address,
             status ? uv_strerror(status) : "no IPv4 or IPv6 address");
    note_down(a, CAIRN_ERR_NET, why);
    conn_retry(a, next);
    return;
  }
  CAIRN_LOGD(MOD, "server_address %s resolved to %s",
             a->conf->server_address, a->host);
  if (next) next(a);
}

/* Resolves server_address (a host name) and then runs next. */
static void resolve(struct ea_agent *a, step_fn next)
{
  struct addrinfo hints;
  int r;

  a->after_resolve = next;
  if (a->resolving) return;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  a->gai.data = a;
  r = uv_getaddrinfo(a->loop, &a->gai, on_resolved, a->conf->server_address,
                     NULL, &hints);
  if (r != 0) {
    char why[300];
    snprintf(why, sizeof why, "cannot resolve server_address \"%s\": %s",
             a->conf->server_address, uv_strerror(r));
    a->after_resolve = NULL;
    note_down(a, CAIRN_ERR_NET, why);
    conn_retry(a, next);
    return;
  }
  a->resolving = 1;
}

/* ---- clients ----------------------------------------------------------- */

static int new_client(struct ea_agent *a, int insecure, const char *chain,
                      size_t chain_len, const char *key, size_t key_len)
{
  struct cairn_net_client_opts co;
  struct cairn_net_client *c = NULL;
  int r;

  cairn_net_client_opts_init(&co);
  co.host = a->host;
  co.port = a->conf->server_port;
  co.server_id = a->server_id.str;
  co.insecure_bootstrap = insecure;
  co.timeout_ms = a->o.timeout_ms;
  co.keepalive_s = a->o.keepalive_s;
  co.on_state = on_state;
  co.state_arg = a;
  if ((r = cairn_net_client_new(a->loop, &co, &c))) return r;
  if ((r = cairn_net_client_set_credentials(c, chain, chain_len, key,
                                            key_len)) ||
      (a->bundle && (r = cairn_net_client_set_bundle(c, a->bundle)))) {
    cairn_net_client_free(c);
    return r;
  }
  a->client = c;
  return CAIRN_OK;
}

/* The client that presents the node SVID. */
static int make_run_client(struct ea_agent *a)
{
  char *chain = NULL, *key = NULL;
  size_t cl = 0, kl = 0;
  int r;

  if ((r = ea_svid_pem(a->svid, &chain, &cl, &key, &kl))) return r;
  r = new_client(a, 0, chain, cl, key, kl);
  free(chain);
  cairn_freezero(key, kl);
  return r;
}

/* Checks that chain is an X509-SVID for want under bundle, with key. */
static int check_svid(struct ea_agent *a, const struct cairn_cert_list *chain,
                      const struct cairn_bundle *b, const struct cairn_id *want)
{
  struct cairn_id id;
  int r;

  if (!b) return cairn_seterr(CAIRN_ERR_UNTRUSTED, "no trust bundle");
  r = cairn_cert_verify(chain, cairn_bundle_x509(b), a->conf->trust_domain, 0,
                        0, &id);
  if (r) return r;
  if (!cairn_id_equal(&id, want))
    return cairn_seterr(CAIRN_ERR_POLICY, "the SVID is for %s, expected %s",
                        id.str, want->str);
  return CAIRN_OK;
}

/* ---- bundle --------------------------------------------------------------- */

static void persist_bundle(struct ea_agent *a)
{
  if (ea_state_save_bundle(&a->files, a->bundle) != CAIRN_OK)
    CAIRN_LOGE(MOD, "cannot persist the trust bundle: %s", cairn_errdetail());
}

static void handle_bundle(struct ea_agent *a, const uint8_t *body, size_t len)
{
  struct cairn_msg_bundle_resp m;
  struct cairn_bundle *nb = NULL;
  int changed;

  memset(&m, 0, sizeof m);
  if (cairn_msg_bundle_resp_decode(body, len, &m) != CAIRN_OK) {
    CAIRN_LOGW(MOD, "ignoring a malformed bundle from the server: %s",
               cairn_errdetail());
    goto out;
  }
  if (strcmp(m.trust_domain, a->conf->trust_domain) != 0) {
    CAIRN_LOGW(MOD, "ignoring a bundle for trust domain \"%.255s\"",
               m.trust_domain);
    goto out;
  }
  if (cairn_bundle_parse_json(a->conf->trust_domain, m.bundle,
                              strlen(m.bundle), 0, &nb) != CAIRN_OK) {
    CAIRN_LOGW(MOD, "ignoring an unreadable bundle from the server: %s",
               cairn_errdetail());
    goto out;
  }
  if (cairn_cert_list_count(cairn_bundle_x509(nb)) == 0) {
    CAIRN_LOGW(MOD, "ignoring a bundle without X.509 authorities");
    goto out;
  }
  changed = !a->bundle || !cairn_bundle_content_equal(a->bundle, nb);
  if (!changed &&
      cairn_bundle_sequence(a->bundle) == cairn_bundle_sequence(nb))
    goto out;
  cairn_bundle_free(a->bundle);
  a->bundle = nb;
  nb = NULL; /* transferred */
  persist_bundle(a);
  if (a->client && cairn_net_client_set_bundle(a->client, a->bundle))
    CAIRN_LOGE(MOD, "cannot use the new bundle: %s", cairn_errdetail());
  if (changed) {
    a->st.bundle_updates++;
    CAIRN_LOGI(MOD, "trust bundle updated: sequence %llu, %zu X.509 "
               "authorities, %zu JWT keys",
               (unsigned long long)cairn_bundle_sequence(a->bundle),
               cairn_cert_list_count(cairn_bundle_x509(a->bundle)),
               cairn_bundle_jwt_count(a->bundle));
    if (a->svid && check_svid(a, a->svid->chain, a->bundle, &a->svid->id))
      CAIRN_LOGW(MOD, "the node SVID does not verify against the new bundle "
                 "(%s) until its next renewal", cairn_errdetail());
  }
out:
  cairn_bundle_free(nb);
  cairn_msg_bundle_resp_clear(&m);
}

static void step_observe(struct ea_agent *a);
static void renew_failed(struct ea_agent *a, const char *why);

/* Frees the client after its session failed, so the next attempt starts
 * from a fresh one. libcoap 4.3.1 can keep the request of a DTLS session
 * that an ICMP error ended in its retransmission queue, detached from the
 * session list (it then restarts a handshake on its own and leaks the
 * request); freeing the context removes such leftovers. A renewal that was
 * in flight on the session is rescheduled. */
static void reset_client(struct ea_agent *a)
{
  int was_renewing = a->renewing;

  drop_client(a);
  if (was_renewing) renew_failed(a, "the session ended");
}

static void on_bundle(int err, const struct cairn_net_response *r, void *arg)
{
  struct ea_agent *a = arg;
  char diag[DIAG_MAX + 1], code[8];

  if (a->stopped) return;
  if (err || !r->observing) a->obs = NULL; /* the observation ended */
  if (err) {
    if (err == CAIRN_ERR_TIMEOUT)
      note_down(a, err, "the server did not answer GET " PATH_BUNDLE);
    else if (err == CAIRN_ERR_NET)
      note_down(a, err, "the session with the server ended");
    reset_client(a);
    conn_retry(a, step_observe);
    return;
  }
  if (r->code == CAIRN_NET_CONTENT) {
    a->bundle_failing = 0;
    note_up(a);
    handle_bundle(a, r->body, r->body_len);
    if (a->stopped) return;
    if (!a->bundle_seen)
      CAIRN_LOGI(MOD, "node session up: following the trust bundle "
                 "(sequence %llu)",
                 (unsigned long long)cairn_bundle_sequence(a->bundle));
    a->bundle_seen = 1;
    if (a->o.on_bundle) a->o.on_bundle(a->bundle, a->o.hook_arg);
    if (!a->session_told && a->client && !a->stopped) {
      a->session_told = 1;
      if (a->o.on_session) a->o.on_session(a->client, a->o.hook_arg);
    }
    if (a->stopped) return;
    if (!r->observing) {
      /* The server did not register us as an observer: poll instead. */
      CAIRN_LOGD(MOD, "GET " PATH_BUNDLE " is not observed; polling");
      a->conn_next = step_observe;
      uv_timer_start(&a->conn_timer, on_conn_timer, a->o.backoff_max_ms, 0);
    }
    return;
  }
  diag_text(r, diag, sizeof diag);
  code_text(r->code, code);
  if (r->code == CAIRN_NET_FORBIDDEN) {
    fatal(a, "the server refused this node on GET " PATH_BUNDLE ": %s %s "
          "(evicted or banned); exiting, the files in %s are kept", code,
          diag, a->conf->data_dir);
    return;
  }
  if (!a->bundle_failing)
    CAIRN_LOGW(MOD, "GET " PATH_BUNDLE " failed: %s %s; retrying", code,
               diag);
  a->bundle_failing = 1;
  conn_retry(a, step_observe);
}

static void step_observe(struct ea_agent *a)
{
  int r;

  if (a->stopped || a->obs) return;
  if (!a->host[0]) {
    resolve(a, step_observe);
    return;
  }
  if (!a->client && (r = make_run_client(a))) {
    fatal(a, "cannot set up the session with the node SVID: %s",
          cairn_errdetail());
    return;
  }
  if ((r = cairn_net_client_observe(a->client, PATH_BUNDLE, on_bundle, a,
                                    &a->obs)))
    fatal(a, "cannot observe " PATH_BUNDLE ": %s", cairn_errdetail());
}

/* ---- renewal ----------------------------------------------------------- */

static void on_renew_timer(uv_timer_t *t);

/* Plans the renewal at 45..55 % of the node SVID's lifetime. The lifetime
 * is counted from notBefore + CAIRN_CERT_BACKDATE (when that is before
 * notAfter), since issuers backdate notBefore by that much. */
static void schedule_renewal(struct ea_agent *a)
{
  time_t nb = a->svid->not_before, na = a->svid->not_after, now = cairn_now();
  int64_t life, at;
  uint64_t delay_ms = 0, span;
  char t[32];

  if (nb + CAIRN_CERT_BACKDATE < na) nb += CAIRN_CERT_BACKDATE;
  life = (int64_t)(na - nb);
  if (life < 1) life = 1;
  span = (uint64_t)life * 100; /* 10 % of the lifetime, in ms */
  at = (int64_t)nb * 1000 + life * 450 + (int64_t)(next_rand(a) % (span + 1));
  if (at > (int64_t)now * 1000) delay_ms = (uint64_t)(at - (int64_t)now * 1000);
  a->st.renew_at = (time_t)(at / 1000);
  CAIRN_LOGD(MOD, "node SVID renewal planned for %s",
             fmt_time(a->st.renew_at, t, sizeof t));
  if (a->last_renew_ms &&
      uv_now(a->loop) + delay_ms < a->last_renew_ms + RENEW_MIN_GAP_MS)
    delay_ms = a->last_renew_ms + RENEW_MIN_GAP_MS - uv_now(a->loop);
  uv_timer_start(&a->renew_timer, on_renew_timer, delay_ms, 0);
}

static void renew_failed(struct ea_agent *a, const char *why)
{
  unsigned delay = a->renew_backoff;
  time_t now = cairn_now();
  char t[32];

  cairn_key_free(a->renew_key);
  a->renew_key = NULL;
  a->renewing = 0;
  a->renew_backoff = delay >= a->o.backoff_max_ms / 2 ? a->o.backoff_max_ms
                                                      : delay * 2;
  if (!a->renew_failing)
    CAIRN_LOGW(MOD, "renewing the node SVID failed: %s; retrying (it is "
               "valid until %s)", why,
               fmt_time(a->svid->not_after, t, sizeof t));
  else
    CAIRN_LOGD(MOD, "renewal failed again: %s", why);
  a->renew_failing = 1;
  /* Wake up at the expiry at the latest, to report it. */
  if (a->svid->not_after > now &&
      (uint64_t)(a->svid->not_after - now) * 1000 < delay)
    delay = (unsigned)(a->svid->not_after - now) * 1000;
  uv_timer_start(&a->renew_timer, on_renew_timer, delay, 0);
}

static void finish_renew(struct ea_agent *a, const uint8_t *body, size_t len)
{
  struct cairn_msg_renew_resp m;
  struct cairn_cert_list *chain = NULL;
  struct ea_svid *s = NULL;
  char why[400], t[32];
  int r;

  memset(&m, 0, sizeof m);
  if ((r = cairn_msg_renew_resp_decode(body, len, &m)) ||
      (r = ea_chain_from_msg(&m.svid, &chain)) ||
      (r = check_svid(a, chain, a->bundle, &a->svid->id)) ||
      (r = ea_svid_new(chain, a->renew_key, &s))) {
    snprintf(why, sizeof why, "unusable answer: %s", cairn_errdetail());
    cairn_cert_list_free(chain);
    cairn_msg_renew_resp_clear(&m);
    CAIRN_LOGE(MOD, "node SVID renewal: %s", why);
    renew_failed(a, why);
    return;
  }
  cairn_msg_renew_resp_clear(&m);
  a->renew_key = NULL; /* transferred to s, with chain */
  a->renewing = 0;
  if (ea_state_save_svid(&a->files, s) != CAIRN_OK)
    CAIRN_LOGE(MOD, "cannot persist the renewed node SVID: %s; a restart "
               "would use the previous one", cairn_errdetail());
  ea_svid_free(a->svid);
  a->svid = s;
  a->st.renewals++;
  a->renew_failing = 0;
  a->renew_backoff = a->o.backoff_min_ms;
  a->last_renew_ms = uv_now(a->loop);
  CAIRN_LOGI(MOD, "renewed node SVID %s: serial %s, expires %s", s->id.str,
             s->serial, fmt_time(s->not_after, t, sizeof t));
  /* A new session, so the server sees the new certificate. */
  drop_client(a);
  uv_timer_stop(&a->conn_timer);
  a->conn_next = NULL;
  step_observe(a);
  if (!a->stopped) schedule_renewal(a);
}

static void on_renew(int err, const struct cairn_net_response *r, void *arg)
{
  struct ea_agent *a = arg;
  char diag[DIAG_MAX + 1], code[8], why[300];

  if (a->stopped) return;
  a->renewing = 0;
  if (err) {
    snprintf(why, sizeof why, "%s", err == CAIRN_ERR_NET && a->reason[0]
                                        ? a->reason : cairn_strerror(err));
    if (err == CAIRN_ERR_TIMEOUT)
      note_down(a, err, "the server did not answer POST " PATH_RENEW);
    renew_failed(a, why);
    /* Without an observation on it, nothing else resets the client. */
    if (!a->obs) drop_client(a);
    return;
  }
  if (r->code == CAIRN_NET_CREATED) {
    note_up(a);
    finish_renew(a, r->body, r->body_len);
    return;
  }
  diag_text(r, diag, sizeof diag);
  code_text(r->code, code);
  if (r->code == CAIRN_NET_FORBIDDEN) {
    fatal(a, "node SVID renewal refused: %s %s; the server no longer "
          "accepts %s (evicted or banned). Exiting; the files in %s are "
          "kept", code, diag, a->svid->id.str, a->conf->data_dir);
    return;
  }
  snprintf(why, sizeof why, "%s %s", code, diag);
  renew_failed(a, why);
}

static void on_renew_timer(uv_timer_t *t)
{
  struct ea_agent *a = t->data;
  struct cairn_msg_renew_req m;
  struct cairn_key *k = NULL;
  uint8_t *csr = NULL, *body = NULL;
  size_t csr_len = 0, body_len = 0;
  char ts[32];
  int r;

  if (a->stopped || a->renewing || !a->svid) return;
  if (cairn_now() >= a->svid->not_after) {
    fatal(a, "node SVID %s expired at %s before it could be renewed; a "
          "join_token node cannot attest again with the same token (as in "
          "SPIRE): remove %s and %s and start the agent with a new join "
          "token", a->svid->id.str,
          fmt_time(a->svid->not_after, ts, sizeof ts), a->files.svid,
          a->files.key ? a->files.key : "(memory)");
    return;
  }
  if (!a->host[0]) {
    renew_failed(a, "server_address is not resolved yet");
    return;
  }
  if (!a->client && (r = make_run_client(a))) {
    fatal(a, "cannot set up the session with the node SVID: %s",
          cairn_errdetail());
    return;
  }
  memset(&m, 0, sizeof m);
  if ((r = cairn_key_generate(NODE_KEY_TYPE, &k)) ||
      (r = cairn_csr_create(k, &csr, &csr_len))) {
    cairn_key_free(k);
    renew_failed(a, cairn_errdetail());
    return;
  }
  m.csr.data = csr;
  m.csr.len = csr_len;
  r = cairn_msg_renew_req_encode(&m, &body, &body_len);
  free(csr);
  if (r == CAIRN_OK)
    r = cairn_net_client_request(a->client, CAIRN_NET_POST, PATH_RENEW, body,
                                 body_len, on_renew, a);
  free(body);
  if (r) {
    cairn_key_free(k);
    fatal(a, "cannot send the renewal request: %s", cairn_errdetail());
    return;
  }
  CAIRN_LOGD(MOD, "renewing the node SVID");
  a->renew_key = k;
  a->renewing = 1;
}

/* ---- running --------------------------------------------------------------- */

static void enter_run(struct ea_agent *a)
{
  a->phase = EA_PHASE_RUNNING;
  a->conn_backoff = a->o.backoff_min_ms;
  if (a->o.on_bundle && a->bundle) a->o.on_bundle(a->bundle, a->o.hook_arg);
  schedule_renewal(a);
  step_observe(a);
}

/* ---- attestation ------------------------------------------------------ */

static void step_attest(struct ea_agent *a);

static void finish_attest(struct ea_agent *a, const uint8_t *body,
                          size_t len)
{
  struct cairn_msg_attest_resp m;
  struct cairn_bundle *nb = NULL;
  struct cairn_cert_list *chain = NULL;
  struct ea_svid *s = NULL;
  char t[32];

  memset(&m, 0, sizeof m);
  if (cairn_msg_attest_resp_decode(body, len, &m)) {
    fatal(a, "malformed attestation answer: %s", cairn_errdetail());
    goto out;
  }
  if (strcmp(m.spiffe_id, a->attest_id.str) != 0) {
    fatal(a, "the server attested the node as %.300s, expected %s",
          m.spiffe_id, a->attest_id.str);
    goto out;
  }
  if (cairn_bundle_parse_json(a->conf->trust_domain, m.bundle,
                              strlen(m.bundle), 0, &nb) ||
      cairn_cert_list_count(cairn_bundle_x509(nb)) == 0) {
    fatal(a, "the attestation answer holds no usable trust bundle: %s",
          cairn_errdetail());
    goto out;
  }
  if (ea_chain_from_msg(&m.svid, &chain) ||
      check_svid(a, chain, nb, &a->attest_id) ||
      ea_svid_new(chain, a->attest_key, &s)) {
    fatal(a, "the attestation answer holds no usable SVID: %s",
          cairn_errdetail());
    goto out;
  }
  chain = NULL; /* transferred to s, with the key */
  a->attest_key = NULL;
  cairn_bundle_free(a->bundle);
  a->bundle = nb;
  nb = NULL;
  a->svid = s;
  a->st.attested = 1;
  CAIRN_LOGI(MOD, "attested as %s: node SVID serial %s, expires %s",
             s->id.str, s->serial, fmt_time(s->not_after, t, sizeof t));
  persist_bundle(a);
  if (ea_state_save_svid(&a->files, s) != CAIRN_OK)
    CAIRN_LOGE(MOD, "cannot persist the node SVID: %s; the agent runs, but "
               "a restart will need a new join token", cairn_errdetail());
  else if (!a->files.key)
    CAIRN_LOGI(MOD, "KeyManager \"memory\": the node key is not persisted; "
               "a restart will need a new join token");
  if (a->attest_body) cairn_freezero(a->attest_body, a->attest_len);
  a->attest_body = NULL;
  /* Reconnect presenting the SVID. */
  drop_client(a);
  enter_run(a);
out:
  cairn_cert_list_free(chain);
  cairn_bundle_free(nb);
  cairn_msg_attest_resp_clear(&m);
}

static void attest_refused(struct ea_agent *a)
{
  fatal(a, "cannot attest to %s:%u: %s (check trust_bundle_path, "
        "trust_domain and server_address)", a->host, a->conf->server_port,
        a->last_err == a->attest_err && a->reason[0]
            ? a->reason : cairn_strerror(a->attest_err));
}

static void on_attest(int err, const struct cairn_net_response *r, void *arg)
{
  struct ea_agent *a = arg;
  char diag[DIAG_MAX + 1], code[8];

  if (a->stopped) return;
  if (err == CAIRN_ERR_NET || err == CAIRN_ERR_TIMEOUT) {
    if (err == CAIRN_ERR_TIMEOUT)
      note_down(a, err, "the server did not answer POST " PATH_ATTEST);
    drop_client(a); /* a fresh one for the retry, see reset_client() */
    conn_retry(a, step_attest);
    return;
  }
  if (err) {
    /* The server failed verification. The session's state callback, which
     * carries the reason, runs right after this one: decide on the next
     * turn of the loop. */
    a->attest_err = err;
    a->conn_next = attest_refused;
    uv_timer_start(&a->conn_timer, on_conn_timer, 0, 0);
    return;
  }
  if (r->code == CAIRN_NET_CREATED) {
    finish_attest(a, r->body, r->body_len);
    return;
  }
  diag_text(r, diag, sizeof diag);
  code_text(r->code, code);
  if (r->code == CAIRN_NET_FORBIDDEN) {
    fatal(a, "join token %s was refused: %s", a->conf->join_token, diag);
    return;
  }
  if (r->code >= 500) {
    if (!a->attest_failing)
      CAIRN_LOGW(MOD, "the server cannot attest now: %s %s; retrying", code,
                 diag);
    else
      CAIRN_LOGD(MOD, "the server still cannot attest: %s %s", code, diag);
    a->attest_failing = 1;
    conn_retry(a, step_attest);
    return;
  }
  fatal(a, "attestation failed: %s %s", code, diag);
}

static void step_attest(struct ea_agent *a)
{
  struct cairn_key *boot = NULL;
  char *chain = NULL, *key = NULL;
  size_t cl = 0, kl = 0;
  int r;

  if (a->stopped) return;
  if (!a->host[0]) {
    resolve(a, step_attest);
    return;
  }
  if (!a->client) {
    /* A throwaway key and self-signed certificate for the handshake. */
    if ((r = cairn_key_generate(NODE_KEY_TYPE, &boot)) ||
        (r = cairn_net_bootstrap_cert(boot, BOOT_CERT_TTL, &chain, &cl)) ||
        (r = cairn_key_export_private_pem(boot, &key, &kl)) ||
        (r = new_client(a, !a->bundle, chain, cl, key, kl))) {
      fatal(a, "cannot prepare the attestation: %s", cairn_errdetail());
      goto out;
    }
  }
  if ((r = cairn_net_client_request(a->client, CAIRN_NET_POST, PATH_ATTEST,
                                    a->attest_body, a->attest_len, on_attest,
                                    a)))
    fatal(a, "cannot send the attestation request: %s", cairn_errdetail());
out:
  cairn_key_free(boot);
  free(chain);
  if (key) cairn_freezero(key, kl);
}

/* Key, CSR and request body of the attestation; the expected ID. */
static int prepare_attest(struct ea_agent *a)
{
  struct cairn_msg_attest_req m;
  uint8_t *csr = NULL;
  size_t csr_len = 0;
  char path[64 + EA_CONF_TOKEN_MAX];
  int r;

  snprintf(path, sizeof path, "/spire/agent/join_token/%s",
           a->conf->join_token);
  if ((r = cairn_id_from_parts(a->conf->trust_domain, path, &a->attest_id)))
    return r;
  if ((r = cairn_key_generate(NODE_KEY_TYPE, &a->attest_key)) ||
      (r = cairn_csr_create(a->attest_key, &csr, &csr_len)))
    return r;
  memset(&m, 0, sizeof m);
  m.type = "join_token";
  m.token = a->conf->join_token;
  m.csr.data = csr;
  m.csr.len = csr_len;
  r = cairn_msg_attest_req_encode(&m, &a->attest_body, &a->attest_len);
  free(csr);
  return r;
}

/* ---- start-up ---------------------------------------------------------- */

/* Decides about a persisted SVID: CAIRN_OK to resume with it,
 * CAIRN_ERR_EXPIRED to attest again, another error to refuse to start. */
static int check_persisted(struct ea_agent *a, const struct ea_svid *s)
{
  char t[32];
  int r;

  if (!cairn_id_member_of(&s->id, a->conf->trust_domain))
    return cairn_seterr(CAIRN_ERR_CONFIG, "%s holds an SVID of another trust "
                        "domain (%s), but trust_domain is %s",
                        a->files.svid, s->id.str, a->conf->trust_domain);
  if (strncmp(cairn_id_path(&s->id), "/spire/agent/", 13) != 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "%s holds %s, which is not an agent "
                        "ID", a->files.svid, s->id.str);
  if (cairn_now() >= s->not_after) {
    CAIRN_LOGW(MOD, "the persisted node SVID %s expired at %s; attesting "
               "again", s->id.str, fmt_time(s->not_after, t, sizeof t));
    return CAIRN_ERR_EXPIRED;
  }
  if (!a->bundle)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "%s exists but %s is missing",
                        a->files.svid, a->files.bundle);
  r = check_svid(a, s->chain, a->bundle, &s->id);
  if (r)
    return cairn_seterr(r, "the persisted node SVID does not verify against "
                        "%s: %s", a->files.bundle, cairn_errdetail());
  return CAIRN_OK;
}

int ea_agent_start(struct ea_agent *a)
{
  const struct ea_conf *c;
  struct ea_svid *s = NULL;
  char t[32];
  int r;

  if (!a || a->phase != EA_PHASE_NEW || a->stopped)
    return cairn_seterr(CAIRN_ERR_INVAL, "agent already started");
  c = a->conf;
  if ((r = cairn_server_ensure_dir(c->data_dir)) ||
      (c->keys_dir && (r = cairn_server_ensure_dir(c->keys_dir))) ||
      (r = cairn_server_lock_data_dir(c->data_dir, LOCK_FILE, "cairn-agent",
                                      &a->lock_fd)) ||
      (r = ea_files_init(&a->files, c->data_dir, c->keys_dir)))
    goto fail;
  r = ea_state_load_bundle(&a->files, c->trust_domain, &a->bundle);
  if (r && r != CAIRN_ERR_NOT_FOUND) goto fail;

  r = ea_state_load_svid(&a->files, &s);
  if (r == CAIRN_OK) {
    r = check_persisted(a, s);
    if (r == CAIRN_OK) {
      a->svid = s;
      a->st.resumed = 1;
      CAIRN_LOGI(MOD, "resuming with persisted SVID %s expires %s",
                 s->id.str, fmt_time(s->not_after, t, sizeof t));
      if (c->join_token)
        CAIRN_LOGI(MOD, "join_token is not used: the agent already has a "
                   "node SVID");
      enter_run(a);
      return CAIRN_OK;
    }
    ea_svid_free(s);
    s = NULL;
    if (r != CAIRN_ERR_EXPIRED) goto fail;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    goto fail;
  }

  if (!c->join_token) {
    r = cairn_seterr(CAIRN_ERR_CONFIG, "%s holds no usable node SVID and no "
                     "join token is configured: set join_token in the agent "
                     "block (or -joinToken) to attest", c->data_dir);
    goto fail;
  }
  if (a->bundle) {
    CAIRN_LOGI(MOD, "attesting with the persisted trust bundle %s",
               a->files.bundle);
  } else if (c->trust_bundle_path) {
    if ((r = ea_bundle_read_file(c->trust_bundle_path, c->trust_bundle_format,
                                 c->trust_domain, &a->bundle)))
      goto fail;
    CAIRN_LOGI(MOD, "trusting the server through %s (%zu X.509 authorities)",
               c->trust_bundle_path,
               cairn_cert_list_count(cairn_bundle_x509(a->bundle)));
  } else {
    CAIRN_LOGW(MOD, "insecure_bootstrap: the server is not authenticated on "
               "first contact; use trust_bundle_path in production");
  }
  if ((r = prepare_attest(a))) goto fail;
  a->phase = EA_PHASE_ATTESTING;
  CAIRN_LOGI(MOD, "attesting to %s:%u with a join token as %s",
             c->server_address, c->server_port, a->attest_id.str);
  step_attest(a);
  return CAIRN_OK;

fail:
  {
    char why[512];
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    ea_svid_free(s);
    stop(a);
    return cairn_seterr(r, "%s", why);
  }
}
