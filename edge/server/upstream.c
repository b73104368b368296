/* upstream.c - cairn-edge's client of its upstream (see upstream.h). */
#include "upstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/net.h"
#include "cairn/srvconf.h"
#include "cairn/util.h"
#include "agent.h"
#include "agent_conf.h"
#include "agent_state.h"

#define MOD "edge"
#define PATH_DS_CA "/v1/downstream/ca"
#define PATH_DS_JWT "/v1/downstream/jwt-key"
#define DIAG_MAX 200
#define FWD_RETRY_S 60      /* a refused forward is tried again after this */
#define FWD_FAILED_MAX 16
#define PATH_LEN_MAX 4200

/* The three kinds of requests the client makes for the CA manager. */
enum rq_kind { RQ_CA = 0, RQ_JWT, RQ_FWD, RQ__N };

static const char *const g_paths[RQ__N] = {PATH_DS_CA, PATH_DS_JWT,
                                           PATH_DS_JWT};

/* One wanted request (at most one per kind). ident names what it is for:
 * the SPKI of the CA key, or kid + SPKI of a JWT key. */
struct eu_req {
  int used;
  uint8_t *ident;
  size_t ident_len;
  uint8_t *body;              /* encoded CBOR request */
  size_t body_len;
  char label[200];            /* "the X.509 CA", "JWT key <kid>" */
  char kid[CAIRN_MSG_KID_MAX + 1];  /* JWT kinds */
  unsigned gen, wire_gen;     /* a new request gets a new gen */
  int inflight;
  int done;                   /* 0 waiting, 1 answered, 2 failed */
  int err;                    /* done == 2 */
  char detail[512];
  struct cairn_cert_list *chain, *roots;  /* RQ_CA answer */
  uint64_t not_before_ms;     /* uv_now() before which it is not sent */
  unsigned backoff;           /* the next wait after a failure */
  int failing;                /* logged the current run of failures */
};

struct eu_cb {
  struct eu *u;
  enum rq_kind kind;
};

struct fwd_failed {
  char kid[CAIRN_MSG_KID_MAX + 1];
  time_t at;
};

struct eu {
  uv_loop_t *loop;
  struct eu_opts o;
  struct ea_conf *conf;           /* the agent module's configuration */
  struct ea_agent *agent;
  struct cairn_net_client *client;  /* the node session, not owned */
  struct cairn_bundle *up_bundle;   /* the upstream's last bundle */
  struct eu_req rq[RQ__N];
  struct eu_cb cbs[RQ__N];
  struct fwd_failed failed[FWD_FAILED_MAX];
  uv_timer_t timer;               /* delayed sends */
  int timer_open;
  int lost;
  char lost_why[512];
  int connected;
  time_t since, last_contact;
  char last_error[512];
  int freeing;
};

/* ---- small helpers ------------------------------------------------------ */

static void diag_text(const struct cairn_net_response *r, char *out,
                      size_t outlen)
{
  size_t n = 0;

  if (r && r->body && r->content_format != CAIRN_NET_CF_CBOR)
    for (size_t i = 0; i < r->body_len && i < DIAG_MAX && n + 1 < outlen;
         i++) {
      unsigned char ch = r->body[i];
      out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
  if (n == 0) {
    snprintf(out, outlen, "no reason given");
    return;
  }
  out[n] = '\0';
}

static const char *tfmt(time_t t, char *buf, size_t n)
{
  return cairn_time_format(t, buf, n);
}

static void req_clear(struct eu_req *q)
{
  free(q->ident);
  free(q->body);
  cairn_cert_list_free(q->chain);
  cairn_cert_list_free(q->roots);
  q->ident = q->body = NULL;
  q->ident_len = q->body_len = 0;
  q->chain = q->roots = NULL;
  q->used = q->done = q->err = 0;
  q->detail[0] = q->label[0] = q->kid[0] = '\0';
  /* gen, wire_gen, inflight, backoff and not_before_ms stay. */
}

static int same_ident(const struct eu_req *q, const uint8_t *id, size_t len)
{
  return q->used && q->ident_len == len && memcmp(q->ident, id, len) == 0;
}

/* kid (may be NULL) followed by the SPKI DER of key's public part. */
static int make_ident(const char *kid, const struct cairn_key *key,
                      uint8_t **out, size_t *outlen, uint8_t **spki,
                      size_t *spki_len)
{
  struct cairn_key *pub = NULL;
  uint8_t *der = NULL, *p;
  size_t dl = 0, kl = kid ? strlen(kid) + 1 : 0;
  int r;

  *out = NULL;
  *outlen = 0;
  if ((r = cairn_key_public(key, &pub)) ||
      (r = cairn_key_export_public_der(pub, &der, &dl)))
    goto out;
  if (!(p = malloc(kl + dl))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  if (kl) memcpy(p, kid, kl);
  memcpy(p + kl, der, dl);
  *out = p;
  *outlen = kl + dl;
  if (spki) {
    *spki = der;
    *spki_len = dl;
    der = NULL; /* transferred */
  }
  r = CAIRN_OK;
out:
  free(der);
  cairn_key_free(pub);
  return r;
}

/* Adopts b (taken over) as the upstream's bundle and hands it to
 * on_bundle, unless its content is the one held already (a change of the
 * sequence alone is no change). */
static void adopt(struct eu *u, struct cairn_bundle *b)
{
  if (u->up_bundle && cairn_bundle_content_equal(u->up_bundle, b)) {
    cairn_bundle_free(b);
    return;
  }
  cairn_bundle_free(u->up_bundle);
  u->up_bundle = b;
  if (u->connected) u->last_contact = cairn_now();
  if (u->o.on_bundle) u->o.on_bundle(u->up_bundle, u->o.arg);
}

/* Adopts a bundle JSON of the upstream (from an answer). */
static void take_bundle_json(struct eu *u, const char *json)
{
  struct cairn_bundle *b = NULL;

  if (!json || !json[0]) return;
  if (cairn_bundle_parse_json(u->o.cfg->trust_domain, json, strlen(json), 0,
                              &b) != CAIRN_OK) {
    CAIRN_LOGW(MOD, "ignoring an unreadable bundle from the upstream: %s",
               cairn_errdetail());
    return;
  }
  if (cairn_cert_list_count(cairn_bundle_x509(b)) == 0) {
    cairn_bundle_free(b);
    return;
  }
  adopt(u, b);
}

/* ---- sending ------------------------------------------------------------- */

static void kick(struct eu *u);

static void on_timer(uv_timer_t *t)
{
  kick(t->data);
}

static void on_resp(int err, const struct cairn_net_response *r, void *arg);

/* Sends every wanted request that may go now; arms the timer for the
 * first one that must wait. */
static void kick(struct eu *u)
{
  uint64_t now = uv_now(u->loop), wait = 0;
  int r;

  if (u->freeing || u->lost) return;
  for (int k = 0; k < RQ__N; k++) {
    struct eu_req *q = &u->rq[k];
    if (!q->used || q->done || q->inflight || !u->client) continue;
    if (q->not_before_ms > now) {
      uint64_t w = q->not_before_ms - now;
      if (!wait || w < wait) wait = w;
      continue;
    }
    r = cairn_net_client_request(u->client, CAIRN_NET_POST, g_paths[k],
                                 q->body, q->body_len, on_resp, &u->cbs[k]);
    if (r) {
      snprintf(u->last_error, sizeof u->last_error, "cannot send POST %s: %s",
               g_paths[k], cairn_errdetail());
      CAIRN_LOGE(MOD, "%s", u->last_error);
      q->not_before_ms = now + q->backoff;
      if (!wait || q->backoff < wait) wait = q->backoff;
      continue;
    }
    q->inflight = 1;
    q->wire_gen = q->gen;
    CAIRN_LOGD(MOD, "POST %s for %s", g_paths[k], q->label);
  }
  if (wait && u->timer_open) uv_timer_start(&u->timer, on_timer, wait, 0);
}

/* Wants a request for ident (body and label taken over on success). */
static int want(struct eu *u, enum rq_kind k, uint8_t *ident,
                size_t ident_len, uint8_t *body, size_t body_len,
                const char *label, const char *kid)
{
  struct eu_req *q = &u->rq[k];

  req_clear(q);
  q->used = 1;
  q->gen++;
  q->ident = ident;
  q->ident_len = ident_len;
  q->body = body;
  q->body_len = body_len;
  snprintf(q->label, sizeof q->label, "%s", label);
  snprintf(q->kid, sizeof q->kid, "%s", kid ? kid : "");
  if (!q->backoff) q->backoff = u->o.backoff_min_ms;
  kick(u);
  return CAIRN_OK;
}

/* After a failure: the next attempt of this kind waits, longer each
 * time. */
static void back_off(struct eu *u, struct eu_req *q)
{
  unsigned d = q->backoff ? q->backoff : u->o.backoff_min_ms;

  q->not_before_ms = uv_now(u->loop) + d;
  q->backoff = d >= u->o.backoff_max_ms / 2 ? u->o.backoff_max_ms : d * 2;
}

static void succeeded(struct eu *u, struct eu_req *q)
{
  q->backoff = u->o.backoff_min_ms;
  q->not_before_ms = 0;
  q->failing = 0;
  u->last_contact = cairn_now();
  u->last_error[0] = '\0';
}

/* ---- answers ------------------------------------------------------------- */

static int take_ca_answer(struct eu *u, struct eu_req *q, const uint8_t *body,
                          size_t len)
{
  struct cairn_msg_ds_ca_resp m;
  int r;

  memset(&m, 0, sizeof m);
  if ((r = cairn_msg_ds_ca_resp_decode(body, len, &m)) ||
      (r = ea_chain_from_msg_named(&m.chain, "chain", &q->chain)) ||
      (r = ea_chain_from_msg_named(&m.roots, "roots", &q->roots))) {
    cairn_msg_ds_ca_resp_clear(&m);
    return r;
  }
  take_bundle_json(u, m.bundle);
  cairn_msg_ds_ca_resp_clear(&m);
  return CAIRN_OK;
}

static int take_jwt_answer(struct eu *u, const uint8_t *body, size_t len)
{
  struct cairn_msg_ds_jwtkey_resp m;
  int r;

  memset(&m, 0, sizeof m);
  if ((r = cairn_msg_ds_jwtkey_resp_decode(body, len, &m))) return r;
  take_bundle_json(u, m.bundle);
  cairn_msg_ds_jwtkey_resp_clear(&m);
  return CAIRN_OK;
}

static void fwd_failed(struct eu *u, const char *kid)
{
  size_t oldest = 0;

  for (size_t i = 0; i < FWD_FAILED_MAX; i++) {
    if (strcmp(u->failed[i].kid, kid) == 0 || !u->failed[i].kid[0]) {
      oldest = i;
      break;
    }
    if (u->failed[i].at < u->failed[oldest].at) oldest = i;
  }
  snprintf(u->failed[oldest].kid, sizeof u->failed[oldest].kid, "%s", kid);
  u->failed[oldest].at = cairn_now();
}

static int fwd_recently_failed(const struct eu *u, const char *kid)
{
  for (size_t i = 0; i < FWD_FAILED_MAX; i++)
    if (strcmp(u->failed[i].kid, kid) == 0)
      return cairn_now() < u->failed[i].at + FWD_RETRY_S;
  return 0;
}

/* The request of kind k ended with an answer for the CA or a refusal. */
static void finish(struct eu *u, enum rq_kind k)
{
  struct eu_req *q = &u->rq[k];

  if (k == RQ_FWD) {
    if (q->done == 2) fwd_failed(u, q->kid);
    req_clear(q); /* nobody collects it */
    return;
  }
  if (u->o.on_result) u->o.on_result(u->o.arg);
}

static void on_resp(int err, const struct cairn_net_response *r, void *arg)
{
  struct eu_cb *cb = arg;
  struct eu *u = cb->u;
  struct eu_req *q = &u->rq[cb->kind];
  char diag[DIAG_MAX + 1], code[5], why[512], label[200];
  int rr;

  q->inflight = 0;
  if (u->freeing) return;
  if (!q->used || q->wire_gen != q->gen || q->done) {
    /* The answer of a request the CA manager no longer waits for. */
    kick(u);
    return;
  }
  snprintf(label, sizeof label, "%s", q->label);
  if (err) {
    snprintf(why, sizeof why, "POST %s for %.150s failed: %s", g_paths[cb->kind],
             label, cairn_strerror(err));
    goto retry;
  }
  u->last_contact = cairn_now();
  if (r->code == CAIRN_NET_CREATED) {
    rr = cb->kind == RQ_CA ? take_ca_answer(u, q, r->body, r->body_len)
                           : take_jwt_answer(u, r->body, r->body_len);
    if (rr) {
      q->done = 2;
      q->err = rr;
      snprintf(q->detail, sizeof q->detail, "malformed answer to POST %s: %s",
               g_paths[cb->kind], cairn_errdetail());
      snprintf(u->last_error, sizeof u->last_error, "%s", q->detail);
      CAIRN_LOGE(MOD, "%s", q->detail);
      back_off(u, q);
    } else {
      q->done = 1;
      succeeded(u, q);
      if (cb->kind == RQ_FWD)
        CAIRN_LOGI(MOD, "forwarded %s to the upstream", q->label);
      else
        CAIRN_LOGI(MOD, "the upstream answered POST %s for %s",
                   g_paths[cb->kind], q->label);
    }
    finish(u, cb->kind);
    kick(u);
    return;
  }
  diag_text(r, diag, sizeof diag);
  cairn_net_code_str(r->code, code);
  if (r->code >= 500) {
    snprintf(why, sizeof why, "the upstream cannot answer POST %s for %.150s "
             "now: %s %.200s", g_paths[cb->kind], label, code, diag);
    goto retry;
  }
  /* A refusal: the CA manager gets it as an error. */
  q->done = 2;
  q->err = CAIRN_ERR_DENIED;
  snprintf(q->detail, sizeof q->detail, "the upstream refused POST %s for "
           "%.150s: %s %.200s", g_paths[cb->kind], label, code, diag);
  snprintf(u->last_error, sizeof u->last_error, "%s", q->detail);
  /* The first refusal of a run at ERROR; the CA manager logs each one it
   * gets, so repeating it here adds nothing. */
  if (!q->failing)
    CAIRN_LOGE(MOD, "%s%s; asking again every %u..%u ms", q->detail,
               r->code == CAIRN_NET_FORBIDDEN && cb->kind != RQ_FWD
                   ? " (is this edge's entry at the upstream marked "
                     "-downstream?)"
                   : "",
               u->o.backoff_min_ms, u->o.backoff_max_ms);
  else
    CAIRN_LOGD(MOD, "%s", q->detail);
  q->failing = 1;
  back_off(u, q);
  finish(u, cb->kind);
  kick(u);
  return;

retry:
  /* Transport failures and 5.xx: the same request again later. */
  snprintf(u->last_error, sizeof u->last_error, "%s", why);
  if (!q->failing) CAIRN_LOGW(MOD, "%s; retrying", why);
  else CAIRN_LOGD(MOD, "%s", why);
  q->failing = 1;
  back_off(u, q);
  kick(u);
}

/* ---- hooks of the agent module ---------------------------------------- */

static void on_session(struct cairn_net_client *c, void *arg)
{
  struct eu *u = arg;

  u->client = c;
  u->connected = c != NULL;
  u->since = cairn_now();
  if (c) {
    u->last_contact = u->since;
    kick(u);
    return;
  }
  /* The client goes with its pending requests: send them again on the
   * next session. */
  for (int k = 0; k < RQ__N; k++) u->rq[k].inflight = 0;
}

static void on_bundle(const struct cairn_bundle *b, void *arg)
{
  struct eu *u = arg;
  struct cairn_bundle *c = NULL;

  /* Checked here too: no copy of an unchanged bundle. */
  if (u->up_bundle && cairn_bundle_content_equal(u->up_bundle, b)) return;
  if (cairn_bundle_dup(b, &c) != CAIRN_OK) {
    CAIRN_LOGE(MOD, "cannot copy the upstream's bundle: %s",
               cairn_errdetail());
    return;
  }
  adopt(u, c);
}

static void on_agent_exit(struct ea_agent *a, int code, void *arg)
{
  struct eu *u = arg;

  (void)code;
  u->lost = 1;
  u->client = NULL;
  u->connected = 0;
  u->since = cairn_now();
  snprintf(u->lost_why, sizeof u->lost_why, "%s", ea_agent_error(a));
  snprintf(u->last_error, sizeof u->last_error, "%.511s", u->lost_why);
  for (int k = 0; k < RQ__N; k++) u->rq[k].inflight = 0;
  if (u->o.on_lost) u->o.on_lost(u->lost_why, u->o.arg);
}

/* ---- the CA manager's callbacks ------------------------------------------ */

/* Answers for kind k and ident: the result, or CAIRN_ERR_AGAIN. */
static int collect(struct eu *u, enum rq_kind k)
{
  struct eu_req *q = &u->rq[k];
  int r;

  if (q->done == 1) return CAIRN_OK;
  if (q->done == 2) {
    r = cairn_seterr(q->err, "%s", q->detail);
    req_clear(q);
    return r;
  }
  return cairn_seterr(CAIRN_ERR_AGAIN, "%s for %s",
                      q->inflight ? "waiting for the upstream's answer"
                      : u->client ? "waiting to ask the upstream again"
                                  : "waiting for the upstream session",
                      q->label);
}

int eu_ca_sign(void *arg, const struct cairn_key *key, int64_t ttl,
               struct cairn_cert_list **chain, struct cairn_cert_list **roots)
{
  struct eu *u = arg;
  struct eu_req *q;
  struct cairn_msg_ds_ca_req m;
  uint8_t *ident = NULL, *csr = NULL, *body = NULL;
  size_t ident_len = 0, csr_len = 0, body_len = 0;
  int r;

  (void)ttl; /* the protocol leaves the lifetime to the upstream */
  *chain = *roots = NULL;
  if (!u || !key) return cairn_seterr(CAIRN_ERR_INVAL, "eu: NULL argument");
  if (u->lost)
    return cairn_seterr(CAIRN_ERR_NET, "the link to the upstream is lost: %s",
                        u->lost_why);
  q = &u->rq[RQ_CA];
  if ((r = make_ident(NULL, key, &ident, &ident_len, NULL, NULL))) return r;
  if (same_ident(q, ident, ident_len)) {
    free(ident);
    r = collect(u, RQ_CA);
    if (r == CAIRN_OK) {
      *chain = q->chain;
      *roots = q->roots;
      q->chain = q->roots = NULL; /* transferred */
      req_clear(q);
    }
    return r;
  }
  memset(&m, 0, sizeof m);
  if ((r = cairn_csr_create(key, &csr, &csr_len))) goto out;
  m.csr.data = csr;
  m.csr.len = csr_len;
  if ((r = cairn_msg_ds_ca_req_encode(&m, &body, &body_len))) goto out;
  CAIRN_LOGI(MOD, "asking the upstream to sign a new X.509 CA");
  want(u, RQ_CA, ident, ident_len, body, body_len, "the X.509 CA", NULL);
  ident = body = NULL; /* taken over */
  r = cairn_seterr(CAIRN_ERR_AGAIN, "the X.509 CA request is queued");
out:
  free(ident);
  free(csr);
  free(body);
  return r;
}

/* Queues POST /v1/downstream/jwt-key for kid (kind RQ_JWT or RQ_FWD). */
static int want_jwt(struct eu *u, enum rq_kind k, const char *kid,
                    int64_t not_after, uint8_t *ident, size_t ident_len,
                    const uint8_t *spki, size_t spki_len)
{
  struct cairn_msg_ds_jwtkey_req m;
  uint8_t *body = NULL;
  size_t body_len = 0;
  char label[200];
  int r;

  memset(&m, 0, sizeof m);
  m.kid = (char *)kid; /* only read by the encoder */
  m.public_key.data = (uint8_t *)spki; /* only read by the encoder */
  m.public_key.len = spki_len;
  m.expires_at = not_after > 0 ? (uint64_t)not_after : 0;
  if ((r = cairn_msg_ds_jwtkey_req_encode(&m, &body, &body_len))) {
    free(ident);
    return r;
  }
  snprintf(label, sizeof label, "%sJWT key %s",
           k == RQ_FWD ? "a downstream server's " : "", kid);
  want(u, k, ident, ident_len, body, body_len, label, kid);
  return CAIRN_OK;
}

int eu_ca_publish_jwt(void *arg, const char *kid, const struct cairn_key *pub,
                      int64_t not_after)
{
  struct eu *u = arg;
  struct eu_req *q;
  uint8_t *ident = NULL, *spki = NULL;
  size_t ident_len = 0, spki_len = 0;
  int r;

  if (!u || !kid || !pub)
    return cairn_seterr(CAIRN_ERR_INVAL, "eu: NULL argument");
  if (u->lost)
    return cairn_seterr(CAIRN_ERR_NET, "the link to the upstream is lost: %s",
                        u->lost_why);
  q = &u->rq[RQ_JWT];
  if ((r = make_ident(kid, pub, &ident, &ident_len, &spki, &spki_len)))
    return r;
  if (same_ident(q, ident, ident_len)) {
    free(ident);
    free(spki);
    r = collect(u, RQ_JWT);
    if (r == CAIRN_OK) req_clear(q);
    return r;
  }
  CAIRN_LOGI(MOD, "publishing JWT key %s to the upstream", kid);
  r = want_jwt(u, RQ_JWT, kid, not_after, ident, ident_len, spki, spki_len);
  free(spki);
  if (r) return r;
  return cairn_seterr(CAIRN_ERR_AGAIN, "the JWT key request is queued");
}

void eu_forward_jwt_keys(struct eu *u, struct cairn_ca *ca)
{
  struct cairn_ca_published_key *keys = NULL;
  size_t n = 0;

  if (!u || !ca || u->lost || u->freeing || u->rq[RQ_FWD].used ||
      !u->up_bundle)
    return;
  if (cairn_ca_published_keys(ca, &keys, &n) != CAIRN_OK) {
    CAIRN_LOGW(MOD, "cannot list the JWT keys of downstream servers: %s",
               cairn_errdetail());
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint8_t *ident = NULL, *spki = NULL;
    size_t ident_len = 0, spki_len = 0;
    if (cairn_bundle_jwt_find(u->up_bundle, keys[i].kid) ||
        fwd_recently_failed(u, keys[i].kid))
      continue;
    if (make_ident(keys[i].kid, keys[i].pub, &ident, &ident_len, &spki,
                   &spki_len) != CAIRN_OK ||
        want_jwt(u, RQ_FWD, keys[i].kid, keys[i].not_after, ident,
                 ident_len, spki, spki_len) != CAIRN_OK) {
      CAIRN_LOGW(MOD, "cannot forward JWT key %s: %s", keys[i].kid,
                 cairn_errdetail());
      fwd_failed(u, keys[i].kid);
    } else {
      CAIRN_LOGI(MOD, "forwarding a downstream server's JWT key %s to the "
                 "upstream", keys[i].kid);
    }
    free(spki);
    break; /* one at a time */
  }
  cairn_ca_published_keys_free(keys, n);
}

/* ---- lifecycle --------------------------------------------------------- */

void eu_opts_init(struct eu_opts *o)
{
  memset(o, 0, sizeof *o);
  o->backoff_min_ms = 1000;
  o->backoff_max_ms = 30000;
  o->timeout_ms = CAIRN_NET_TIMEOUT_DEFAULT_MS;
}

/* The agent module's configuration for the upstream. */
static int build_conf(const struct cairn_srvconf *c, struct ea_conf **out)
{
  struct ea_conf *e;

  *out = NULL;
  if (!(e = calloc(1, sizeof *e))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  e->server_port = (uint16_t)c->upstream_port;
  e->trust_bundle_format =
      c->upstream_trust_bundle_format == CAIRN_SRVCONF_BUNDLE_PEM
          ? EA_BUNDLE_PEM
      : c->upstream_trust_bundle_format == CAIRN_SRVCONF_BUNDLE_SPIFFE
          ? EA_BUNDLE_SPIFFE
          : EA_BUNDLE_AUTO;
  e->insecure_bootstrap = c->upstream_insecure_bootstrap;
  e->log_level = c->log_level;
  e->workload_key_type = CAIRN_KEY_EC_P256;
  e->key_manager = c->key_manager == CAIRN_CA_KM_MEMORY ? EA_KM_MEMORY
                                                        : EA_KM_DISK;
  if (!(e->file = cairn_strdup(c->file)) ||
      !(e->trust_domain = cairn_strdup(c->trust_domain)) ||
      !(e->server_address = cairn_strdup(c->upstream_address)) ||
      !(e->socket_path = cairn_strdup("")) ||
      !(e->data_dir = ea_path_join(c->data_dir, EU_DIR)) ||
      (c->upstream_trust_bundle_path &&
       !(e->trust_bundle_path = cairn_strdup(c->upstream_trust_bundle_path))) ||
      (c->upstream_join_token &&
       !(e->join_token = cairn_strdup(c->upstream_join_token))) ||
      (e->key_manager == EA_KM_DISK &&
       !(e->keys_dir = cairn_strdup(e->data_dir ? e->data_dir : "")))) {
    ea_conf_free(e);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  *out = e;
  return CAIRN_OK;
}

int eu_new(uv_loop_t *loop, const struct eu_opts *opts, struct eu **out)
{
  struct eu *u;
  int r;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "eu: no output");
  *out = NULL;
  if (!loop || !opts || !opts->cfg)
    return cairn_seterr(CAIRN_ERR_INVAL, "eu: NULL argument");
  if (!opts->cfg->upstream_plugin || !opts->cfg->upstream_address)
    return cairn_seterr(CAIRN_ERR_INVAL, "no UpstreamAuthority \"cairn\" is "
                        "configured");
  if (!(u = calloc(1, sizeof *u))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  u->loop = loop;
  u->o = *opts;
  if (!u->o.backoff_min_ms) u->o.backoff_min_ms = 1000;
  if (u->o.backoff_max_ms < u->o.backoff_min_ms)
    u->o.backoff_max_ms = u->o.backoff_min_ms;
  if (!u->o.timeout_ms) u->o.timeout_ms = CAIRN_NET_TIMEOUT_DEFAULT_MS;
  u->since = cairn_now();
  for (int k = 0; k < RQ__N; k++) {
    u->cbs[k].u = u;
    u->cbs[k].kind = (enum rq_kind)k;
    u->rq[k].backoff = u->o.backoff_min_ms;
  }
  if ((r = build_conf(u->o.cfg, &u->conf))) {
    free(u);
    return r;
  }
  uv_timer_init(loop, &u->timer);
  u->timer.data = u;
  u->timer_open = 1;
  *out = u;
  return CAIRN_OK;
}

int eu_start(struct eu *u)
{
  struct ea_agent_opts ao;
  struct stat sb;
  char *svid = NULL;
  int r, have;

  if (!u || u->agent) return cairn_seterr(CAIRN_ERR_INVAL, "eu: started");
  if ((r = cairn_mkdir_p(u->conf->data_dir, 0700))) return r;
  if (!(svid = ea_path_join(u->conf->data_dir, "agent_svid.pem")))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  have = stat(svid, &sb) == 0;
  free(svid);
  if (!have && !u->conf->join_token)
    return cairn_seterr(CAIRN_ERR_CONFIG,
                        "%s holds no node SVID and no join token is "
                        "configured: set join_token in UpstreamAuthority "
                        "\"%s\" plugin_data (or pass -joinToken) to attest to "
                        "the upstream",
                        u->conf->data_dir, u->o.cfg->upstream_plugin);
  ea_agent_opts_init(&ao);
  ao.conf = u->conf;
  ao.backoff_min_ms = u->o.backoff_min_ms;
  ao.backoff_max_ms = u->o.backoff_max_ms;
  ao.timeout_ms = u->o.timeout_ms;
  ao.on_exit = on_agent_exit;
  ao.arg = u;
  ao.on_session = on_session;
  ao.on_bundle = on_bundle;
  ao.hook_arg = u;
  if ((r = ea_agent_new(u->loop, &ao, &u->agent))) return r;
  if ((r = ea_agent_start(u->agent))) {
    char why[512];
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    return cairn_seterr(r, "%s", why);
  }
  return CAIRN_OK;
}

static void on_closed(uv_handle_t *h)
{
  struct eu *u = h->data;

  ea_conf_free(u->conf);
  free(u);
}

void eu_free(struct eu *u)
{
  if (!u || u->freeing) return;
  u->freeing = 1;
  u->client = NULL;
  ea_agent_free(u->agent);
  u->agent = NULL;
  for (int k = 0; k < RQ__N; k++) req_clear(&u->rq[k]);
  cairn_bundle_free(u->up_bundle);
  u->up_bundle = NULL;
  u->timer_open = 0;
  uv_timer_stop(&u->timer);
  uv_close((uv_handle_t *)&u->timer, on_closed);
}

/* ---- status ------------------------------------------------------------- */

void eu_get_status(const struct eu *u, struct eu_status *st)
{
  struct ea_agent_status as;

  memset(st, 0, sizeof *st);
  if (!u) return;
  st->connected = u->connected;
  st->since = u->since;
  st->last_contact = u->last_contact;
  st->ca_waiting = u->rq[RQ_CA].used && !u->rq[RQ_CA].done;
  snprintf(st->last_error, sizeof st->last_error, "%s", u->last_error);
  if (u->lost) {
    st->phase = EU_PHASE_LOST;
    return;
  }
  if (!u->agent) return;
  ea_agent_get_status(u->agent, &as);
  st->phase = as.phase == EA_PHASE_ATTESTING ? EU_PHASE_ATTESTING
              : as.phase == EA_PHASE_RUNNING ? EU_PHASE_RUNNING
              : as.phase == EA_PHASE_STOPPED ? EU_PHASE_LOST
                                             : EU_PHASE_NEW;
  snprintf(st->node_id, sizeof st->node_id, "%s", as.id.str);
  st->node_not_after = as.not_after;
}

const char *eu_status_text(const struct eu *u, char *out, size_t len)
{
  struct eu_status st;
  char t1[32], t2[32], t3[32];
  int n = 0;
  const char *host = u ? u->o.cfg->upstream_address : "?";
  int port = u ? u->o.cfg->upstream_port : 0;

  eu_get_status(u, &st);
  switch (st.phase) {
  case EU_PHASE_LOST:
    n = snprintf(out, len, "lost: %s", u ? u->lost_why : "");
    break;
  case EU_PHASE_ATTESTING:
    n = snprintf(out, len, "attesting to %s:%d", host, port);
    break;
  case EU_PHASE_RUNNING:
    if (st.connected)
      n = snprintf(out, len, "connected to %s:%d since %s as %s (node SVID "
                   "until %s)", host, port, tfmt(st.since, t1, sizeof t1),
                   st.node_id, tfmt(st.node_not_after, t2, sizeof t2));
    else
      n = snprintf(out, len, "not connected to %s:%d since %s (last contact "
                   "%s; node SVID until %s)", host, port,
                   tfmt(st.since, t1, sizeof t1),
                   st.last_contact ? tfmt(st.last_contact, t2, sizeof t2)
                                   : "never",
                   tfmt(st.node_not_after, t3, sizeof t3));
    break;
  default:
    n = snprintf(out, len, "starting");
    break;
  }
  if (n < 0 || (size_t)n >= len) return out;
  if (st.ca_waiting)
    n += snprintf(out + n, len - (size_t)n, "; X.509 CA requested");
  if (n >= 0 && (size_t)n < len && st.last_error[0] &&
      st.phase != EU_PHASE_LOST &&
      (!st.connected || st.ca_waiting || u->rq[RQ_JWT].used))
    snprintf(out + n, len - (size_t)n, "; last error: %s", st.last_error);
  return out;
}
