/* edge/agent/wl/wl_api.c - the SPIFFE Workload API (wl_api.h). */
#include "wl_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "cairn/bundle.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/log.h"
#include "cairn/util.h"
#include "workload.pb-c.h"

#define MOD "wl.api"
#define SVC "/SpiffeWorkloadAPI/"
#define STRUCT_DEPTH_MAX 32

#define MSG_HEADER "security header missing from request"
#define MSG_NO_IDENTITY "no identity issued"
#define MSG_ATTEST "workload attestation failed"
#define MSG_UTF8 "request strings must be valid UTF-8"

enum wl_method {
  M_X509SVID = 0,
  M_X509BUNDLES,
  M_JWTSVID,
  M_JWTBUNDLES,
  M_VALIDATE
};

static const char *const method_names[] = {
  "FetchX509SVID", "FetchX509Bundles", "FetchJWTSVID", "FetchJWTBundles",
  "ValidateJWTSVID"
};

/* One resolved (or pending) JWT-SVID of a FetchJWTSVID call. */
struct wl_slot {
  char *spiffe_id;
  char *entry_id;
  char *hint;
  char *token;        /* zeroised when freed */
};

struct wl_call {
  struct wl_api *api;
  struct cairn_grpc_call *call;   /* NULL once finished or cancelled */
  enum wl_method m;
  struct cairn_grpc_peer peer;
  struct wl_selectors sel;
  uv_work_t work;
  int attest_rc;
  char attest_err[256];
  int refs;
  struct wl_call *prev, *next;    /* api->streams */
  int linked;
  /* streams */
  struct wl_sub *sub;
  uint64_t pending_deadline;      /* uv_now() ms; 0 = not pending */
  uint8_t digest[WC_SHA256_DIGEST_SIZE];
  int have_digest;
  /* unary requests */
  JWTSVIDRequest *jreq;
  ValidateJWTSVIDRequest *vreq;
  /* FetchJWTSVID */
  struct wl_slot *slots;
  size_t n_slots;
  size_t waiting;
  int building;
};

struct wl_waiter {
  struct wl_waiter *next;
  struct wl_call *wc;
  size_t slot;
};

struct wl_jwt_req {
  struct wl_api *api;
  struct wl_jwt_req *prev, *next;
  char *spiffe_id;
  char *entry_id;
  char **aud;          /* sorted, unique */
  size_t naud;
  struct wl_waiter *waiters;
  int done;
};

struct wl_api {
  uv_loop_t *loop;
  struct wl_api_opts opts;
  struct cairn_grpc_server *srv;
  struct wl_unix *unix_att;       /* the built-in attestor, when used */
  uv_timer_t *pending_timer;
  struct wl_call *streams;
  struct wl_jwt_req *mints;
  size_t n_mints;
  int holds;                      /* self + timer + works + mints */
  int closing;
  struct wl_api_stats st;
};

/* ======================================================================
 * life of a call
 * ====================================================================== */

static void slots_free(struct wl_call *wc)
{
  size_t i;
  for (i = 0; i < wc->n_slots; i++) {
    struct wl_slot *s = &wc->slots[i];
    free(s->spiffe_id);
    free(s->entry_id);
    free(s->hint);
    if (s->token) cairn_freezero(s->token, strlen(s->token));
  }
  free(wc->slots);
  wc->slots = NULL;
  wc->n_slots = 0;
}

static void wc_unref(struct wl_call *wc)
{
  if (--wc->refs > 0) return;
  wl_selectors_clear(&wc->sel);
  if (wc->jreq) jwtsvidrequest__free_unpacked(wc->jreq, NULL);
  if (wc->vreq) {
    /* The request holds the token being validated. */
    if (wc->vreq->svid) cairn_memzero(wc->vreq->svid, strlen(wc->vreq->svid));
    validate_jwtsvidrequest__free_unpacked(wc->vreq, NULL);
  }
  slots_free(wc);
  free(wc);
}

static void api_release(struct wl_api *a)
{
  if (--a->holds > 0) return;
  wl_unix_free(a->unix_att);
  free(a);
}

static void stream_unlink(struct wl_call *wc)
{
  struct wl_api *a = wc->api;

  if (!wc->linked) return;
  if (wc->prev) wc->prev->next = wc->next;
  else a->streams = wc->next;
  if (wc->next) wc->next->prev = wc->prev;
  wc->prev = wc->next = NULL;
  wc->linked = 0;
  a->st.streams--;
  if (wc->pending_deadline) {
    wc->pending_deadline = 0;
    a->st.pending--;
  }
}

/* The call is over for us (finished or cancelled): drop the stream state
 * and the call's reference. */
static void wc_detach(struct wl_call *wc)
{
  wc->call = NULL;
  if (wc->sub) {
    wl_cache_unsubscribe(wc->sub);
    wc->sub = NULL;
  }
  stream_unlink(wc);
  wc_unref(wc);
}

static void wc_finish(struct wl_call *wc, int status, const char *msg)
{
  struct wl_api *a = wc->api;

  if (!wc->call) return;
  switch (status) {
  case CAIRN_GRPC_PERMISSION_DENIED: a->st.denied++; break;
  case CAIRN_GRPC_UNAVAILABLE: a->st.unavailable++; break;
  case CAIRN_GRPC_INVALID_ARGUMENT: a->st.invalid++; break;
  default: break;
  }
  if (status != CAIRN_GRPC_OK)
    CAIRN_LOGI(MOD, "%s from pid %d uid %d: %s: %s", method_names[wc->m],
               (int)wc->peer.pid, (int)wc->peer.uid,
               cairn_grpc_status_name(status), msg ? msg : "");
  cairn_grpc_call_finish(wc->call, status, msg);
  wc_detach(wc);
}

static void wc_reply(struct wl_call *wc, const ProtobufCMessage *m)
{
  if (!wc->call) return;
  cairn_grpc_call_reply_pb(wc->call, m);
  wc_detach(wc);
}

static void on_cancel(struct cairn_grpc_call *call, void *arg)
{
  struct wl_call *wc = arg;
  (void)call;
  CAIRN_LOGD(MOD, "%s from pid %d cancelled", method_names[wc->m],
             (int)wc->peer.pid);
  wc_detach(wc);
}

/* ======================================================================
 * streams
 * ====================================================================== */

static void on_pending_timer(uv_timer_t *t);

static void arm_pending(struct wl_api *a)
{
  struct wl_call *wc;
  uint64_t next = 0, now = uv_now(a->loop);

  for (wc = a->streams; wc; wc = wc->next)
    if (wc->pending_deadline && (next == 0 || wc->pending_deadline < next))
      next = wc->pending_deadline;
  if (next == 0) {
    uv_timer_stop(a->pending_timer);
    return;
  }
  uv_timer_start(a->pending_timer, on_pending_timer,
                 next > now ? next - now : 0, 0);
}

static void on_pending_timer(uv_timer_t *t)
{
  struct wl_api *a = t->data;
  struct wl_call *wc, *next;
  uint64_t now;

  if (!a || a->closing) return;
  now = uv_now(a->loop);
  for (wc = a->streams; wc; wc = next) {
    next = wc->next;
    if (!wc->pending_deadline || wc->pending_deadline > now) continue;
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE,
              wc->m == M_X509SVID
                  ? "no X509-SVID is available yet for the caller's "
                    "identities"
                  : "the trust bundle is not available yet");
  }
  arm_pending(a);
}

/* Deadlines are now + pending_ms on a monotonic clock, so a new one is
 * never earlier than those already set: a running timer already fires in
 * time, and only an idle one needs starting. Clearing never re-arms: a
 * timer that finds nothing due re-arms itself (on_pending_timer). Both
 * stay O(1) however many streams wait. */
static void set_pending(struct wl_call *wc)
{
  struct wl_api *a = wc->api;

  if (wc->pending_deadline) return;
  wc->pending_deadline = uv_now(a->loop) + a->opts.pending_ms;
  a->st.pending++;
  if (!uv_is_active((uv_handle_t *)a->pending_timer))
    uv_timer_start(a->pending_timer, on_pending_timer, a->opts.pending_ms, 0);
}

static void clear_pending(struct wl_call *wc)
{
  if (!wc->pending_deadline) return;
  wc->pending_deadline = 0;
  wc->api->st.pending--;
}

/* Hints: a non-empty hint must be unique within a response; later
 * duplicates are left out (as SPIRE and go-spiffe do). */
static int hint_seen(const char *const *hints, size_t n, const char *h)
{
  size_t i;
  if (!h || !*h) return 0;
  for (i = 0; i < n; i++)
    if (hints[i] && strcmp(hints[i], h) == 0) return 1;
  return 0;
}

/* Packs the current snapshot of a stream into *out (cairn_freezero()). */
static int build_stream_msg(struct wl_call *wc, const struct wl_view *v,
                            uint8_t **out, size_t *out_len)
{
  int r = CAIRN_ERR_INTERNAL;
  size_t i, n = 0, nmap = 0, len;
  uint8_t *buf = NULL;
  X509SVIDResponse x = X509_SVIDRESPONSE__INIT;
  X509BundlesResponse xb = X509_BUNDLES_RESPONSE__INIT;
  JWTBundlesResponse jb = JWTBUNDLES_RESPONSE__INIT;
  X509SVID *svs = NULL, **psv = NULL;
  const char **hints = NULL;
  /* One map entry layout serves all three messages: each is
   * {base, key, value(bytes)}, but the descriptors differ, so keep three
   * arrays. */
  X509SVIDResponse__FederatedBundlesEntry *xf = NULL, **pxf = NULL;
  X509BundlesResponse__BundlesEntry *xbe = NULL, **pxbe = NULL;
  JWTBundlesResponse__BundlesEntry *jbe = NULL, **pjbe = NULL;
  const ProtobufCMessage *m;

  *out = NULL;
  *out_len = 0;
  nmap = v->n_federated + 1;
  if (wc->m == M_X509SVID) {
    svs = calloc(v->n_svids ? v->n_svids : 1, sizeof *svs);
    psv = calloc(v->n_svids ? v->n_svids : 1, sizeof *psv);
    hints = calloc(v->n_svids ? v->n_svids : 1, sizeof *hints);
    xf = calloc(nmap, sizeof *xf);
    pxf = calloc(nmap, sizeof *pxf);
    if (!svs || !psv || !hints || !xf || !pxf) goto nomem;
    for (i = 0; i < v->n_idents; i++) {
      const struct wl_ident *id = &v->idents[i];
      if (!id->chain_der) continue;
      if (hint_seen(hints, n, id->entry->hint)) {
        CAIRN_LOGD(MOD, "entry %s left out: hint \"%s\" already used",
                   id->entry->id, id->entry->hint);
        continue;
      }
      x509_svid__init(&svs[n]);
      svs[n].spiffe_id = id->entry->spiffe_id;
      svs[n].x509_svid.data = (uint8_t *)id->chain_der;
      svs[n].x509_svid.len = id->chain_len;
      svs[n].x509_svid_key.data = (uint8_t *)id->key_der;
      svs[n].x509_svid_key.len = id->key_len;
      svs[n].bundle.data = (uint8_t *)v->own.x509_der;
      svs[n].bundle.len = v->own.x509_len;
      svs[n].hint = id->entry->hint;
      hints[n] = id->entry->hint;
      psv[n] = &svs[n];
      n++;
    }
    x.svids = psv;
    x.n_svids = n;
    for (i = 0; i < v->n_federated; i++) {
      x509_svidresponse__federated_bundles_entry__init(&xf[i]);
      xf[i].key = (char *)v->federated[i].td_id;
      xf[i].value.data = (uint8_t *)v->federated[i].x509_der;
      xf[i].value.len = v->federated[i].x509_len;
      pxf[i] = &xf[i];
    }
    x.federated_bundles = pxf;
    x.n_federated_bundles = v->n_federated;
    m = &x.base;
  } else if (wc->m == M_X509BUNDLES) {
    xbe = calloc(nmap, sizeof *xbe);
    pxbe = calloc(nmap, sizeof *pxbe);
    if (!xbe || !pxbe) goto nomem;
    for (i = 0; i < nmap; i++) {
      const struct wl_bundle_view *b = i == 0 ? &v->own : &v->federated[i - 1];
      x509_bundles_response__bundles_entry__init(&xbe[i]);
      xbe[i].key = (char *)b->td_id;
      xbe[i].value.data = (uint8_t *)b->x509_der;
      xbe[i].value.len = b->x509_len;
      pxbe[i] = &xbe[i];
    }
    xb.bundles = pxbe;
    xb.n_bundles = nmap;
    m = &xb.base;
  } else {
    jbe = calloc(nmap, sizeof *jbe);
    pjbe = calloc(nmap, sizeof *pjbe);
    if (!jbe || !pjbe) goto nomem;
    for (i = 0; i < nmap; i++) {
      const struct wl_bundle_view *b = i == 0 ? &v->own : &v->federated[i - 1];
      jwtbundles_response__bundles_entry__init(&jbe[i]);
      jbe[i].key = (char *)b->td_id;
      jbe[i].value.data = (uint8_t *)b->jwks;
      jbe[i].value.len = b->jwks_len;
      pjbe[i] = &jbe[i];
    }
    jb.bundles = pjbe;
    jb.n_bundles = nmap;
    m = &jb.base;
  }
  len = protobuf_c_message_get_packed_size(m);
  buf = malloc(len ? len : 1);
  if (!buf) goto nomem;
  if (protobuf_c_message_pack(m, buf) != len) {
    r = cairn_seterr(CAIRN_ERR_INTERNAL, "protobuf pack size mismatch");
    goto out;
  }
  *out = buf;
  *out_len = len;
  buf = NULL;
  r = CAIRN_OK;
  goto out;
nomem:
  r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
out:
  free(buf);
  free(svs);
  free(psv);
  free(hints);
  free(xf);
  free(pxf);
  free(xbe);
  free(pxbe);
  free(jbe);
  free(pjbe);
  return r;
}

/* Sends the caller's current snapshot, or ends / parks the stream. */
static void stream_update(struct wl_call *wc)
{
  struct wl_api *a = wc->api;
  struct wl_view v;
  uint8_t *msg = NULL, dig[WC_SHA256_DIGEST_SIZE];
  size_t len = 0;
  int r, ready;

  if (!wc->call) return;
  r = wl_cache_view(a->opts.cache, wc->sel.v, wc->sel.n, &v);
  if (r != CAIRN_OK) {
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, cairn_errdetail());
    return;
  }
  if (v.n_idents == 0) {
    wl_view_clear(&v);
    wc_finish(wc, CAIRN_GRPC_PERMISSION_DENIED, MSG_NO_IDENTITY);
    return;
  }
  ready = v.has_bundle && (wc->m != M_X509SVID || v.n_svids > 0);
  if (!ready) {
    wl_view_clear(&v);
    set_pending(wc);
    return;
  }
  r = build_stream_msg(wc, &v, &msg, &len);
  wl_view_clear(&v);
  if (r != CAIRN_OK) {
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "could not serialize response");
    return;
  }
  clear_pending(wc);
  if (wc_Sha256Hash(msg, (word32)len, dig) != 0) {
    cairn_freezero(msg, len);
    wc_finish(wc, CAIRN_GRPC_INTERNAL, "hash failure");
    return;
  }
  if (wc->have_digest && memcmp(dig, wc->digest, sizeof dig) == 0) {
    a->st.stream_suppressed++;
    cairn_freezero(msg, len);
    return;
  }
  r = cairn_grpc_call_send_latest(wc->call, msg, len);
  cairn_freezero(msg, len);
  if (r == CAIRN_ERR_TOO_BIG) {
    wc_finish(wc, CAIRN_GRPC_RESOURCE_EXHAUSTED,
              "response larger than the maximum message size");
    return;
  }
  if (r != CAIRN_OK) {
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "could not send the response");
    return;
  }
  memcpy(wc->digest, dig, sizeof dig);
  wc->have_digest = 1;
  a->st.stream_msgs++;
}

static void on_notify(struct wl_sub *sub, void *arg)
{
  (void)sub;
  stream_update(arg);
}

static void stream_start(struct wl_call *wc)
{
  struct wl_api *a = wc->api;
  int r;

  r = wl_cache_subscribe(a->opts.cache, wc->sel.v, wc->sel.n, on_notify, wc,
                         &wc->sub);
  if (r != CAIRN_OK) {
    wc_finish(wc, CAIRN_GRPC_RESOURCE_EXHAUSTED, "too many Workload API "
              "streams");
    return;
  }
  wc->next = a->streams;
  if (a->streams) a->streams->prev = wc;
  a->streams = wc;
  wc->linked = 1;
  a->st.streams++;
  stream_update(wc);
}

/* ======================================================================
 * FetchJWTSVID
 * ====================================================================== */

static void jwt_reply(struct wl_call *wc)
{
  JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;
  JWTSVID *sv = NULL, **psv = NULL;
  size_t i;

  sv = calloc(wc->n_slots, sizeof *sv);
  psv = calloc(wc->n_slots, sizeof *psv);
  if (!sv || !psv) {
    free(sv);
    free(psv);
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "out of memory");
    return;
  }
  for (i = 0; i < wc->n_slots; i++) {
    jwtsvid__init(&sv[i]);
    sv[i].spiffe_id = wc->slots[i].spiffe_id;
    sv[i].svid = wc->slots[i].token;
    sv[i].hint = wc->slots[i].hint;
    psv[i] = &sv[i];
  }
  resp.svids = psv;
  resp.n_svids = wc->n_slots;
  wc_reply(wc, &resp.base);
  free(sv);
  free(psv);
}

static void mint_free(struct wl_jwt_req *mt)
{
  size_t i;
  struct wl_waiter *w, *nw;

  for (w = mt->waiters; w; w = nw) {
    nw = w->next;
    free(w);
  }
  for (i = 0; i < mt->naud; i++) free(mt->aud[i]);
  free(mt->aud);
  free(mt->spiffe_id);
  free(mt->entry_id);
  free(mt);
}

void wl_jwt_req_done(struct wl_jwt_req *mt, const char *token,
                     const char *error)
{
  struct wl_api *a;
  struct wl_waiter *w;
  char why[512];
  int ok = 0;

  if (!mt || mt->done) return;
  mt->done = 1;
  a = mt->api;
  if (mt->prev) mt->prev->next = mt->next;
  else a->mints = mt->next;
  if (mt->next) mt->next->prev = mt->prev;
  a->n_mints--;
  if (token && !a->closing) {
    int r = wl_cache_jwt_put(a->opts.cache, mt->spiffe_id,
                             (const char *const *)mt->aud, mt->naud, token, 0);
    if (r == CAIRN_OK) ok = 1;
    else
      snprintf(why, sizeof why, "the server returned an unusable JWT-SVID: "
               "%s", cairn_errdetail());
  } else if (token) {
    snprintf(why, sizeof why, "the agent is shutting down");
  } else {
    snprintf(why, sizeof why, "%s", error && *error ? error : "mint failed");
  }
  if (!ok) {
    a->st.mints_failed++;
    CAIRN_LOGW(MOD, "JWT-SVID for %s: %s", mt->spiffe_id, why);
  }
  for (w = mt->waiters; w; w = w->next) {
    struct wl_call *wc = w->wc;
    wc->waiting--;
    if (wc->call) {
      if (!ok) {
        char msg[768];
        snprintf(msg, sizeof msg, "could not fetch JWT-SVID for %s: %s",
                 mt->spiffe_id, why);
        wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, msg);
      } else if (!(wc->slots[w->slot].token = cairn_strdup(token))) {
        wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "out of memory");
      } else if (!wc->building && wc->waiting == 0) {
        jwt_reply(wc);
      }
    }
    wc_unref(wc);
  }
  mint_free(mt);
  api_release(a);
}

static int str_qcmp(const void *x, const void *y)
{
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static struct wl_jwt_req *mint_find(struct wl_api *a, const char *spiffe_id,
                                    char *const *aud, size_t naud)
{
  struct wl_jwt_req *mt;
  size_t i;

  for (mt = a->mints; mt; mt = mt->next) {
    if (mt->naud != naud || strcmp(mt->spiffe_id, spiffe_id) != 0) continue;
    for (i = 0; i < naud; i++)
      if (strcmp(mt->aud[i], aud[i]) != 0) break;
    if (i == naud) return mt;
  }
  return NULL;
}

/* Attaches slot i of wc to a mint (joining one in flight or starting
 * one). Returns 0, or -1 when the call was finished here. */
static int jwt_need_mint(struct wl_call *wc, size_t i, char *const *aud,
                         size_t naud)
{
  struct wl_api *a = wc->api;
  struct wl_jwt_req *mt;
  struct wl_waiter *w;
  size_t k;
  int fresh = 0;

  if (!a->opts.mint_jwt) {
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "JWT-SVIDs cannot be minted "
              "(no provider)");
    return -1;
  }
  w = calloc(1, sizeof *w);
  if (!w) {
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "out of memory");
    return -1;
  }
  mt = mint_find(a, wc->slots[i].spiffe_id, aud, naud);
  if (mt) {
    a->st.mints_shared++;
  } else {
    if (a->n_mints >= a->opts.max_mints) {
      free(w);
      wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "too many JWT-SVID requests in "
                "flight");
      return -1;
    }
    mt = calloc(1, sizeof *mt);
    if (!mt) goto nomem;
    mt->api = a;
    mt->spiffe_id = cairn_strdup(wc->slots[i].spiffe_id);
    mt->entry_id = cairn_strdup(wc->slots[i].entry_id);
    mt->aud = calloc(naud, sizeof *mt->aud);
    if (!mt->spiffe_id || !mt->entry_id || !mt->aud) goto nomem;
    for (k = 0; k < naud; k++) {
      if (!(mt->aud[k] = cairn_strdup(aud[k]))) goto nomem;
      mt->naud++;
    }
    mt->next = a->mints;
    if (a->mints) a->mints->prev = mt;
    a->mints = mt;
    a->n_mints++;
    a->holds++;
    a->st.mints++;
    fresh = 1;
  }
  w->wc = wc;
  w->slot = i;
  w->next = mt->waiters;
  mt->waiters = w;
  wc->waiting++;
  wc->refs++;
  if (fresh)
    a->opts.mint_jwt(mt, mt->entry_id, mt->spiffe_id,
                     (const char *const *)mt->aud, mt->naud, a->opts.mint_arg);
  return wc->call ? 0 : -1;
nomem:
  free(w);
  if (mt) mint_free(mt);
  wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "out of memory");
  return -1;
}

static void jwt_start(struct wl_call *wc)
{
  struct wl_api *a = wc->api;
  const JWTSVIDRequest *rq = wc->jreq;
  struct wl_view v;
  char *aud[CAIRN_JWT_AUD_MAX];
  size_t i, k, n = 0, naud = 0;
  const char **seen = NULL;
  int r;

  if ((r = wl_cache_view(a->opts.cache, wc->sel.v, wc->sel.n, &v)) != 0) {
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, cairn_errdetail());
    return;
  }
  /* Slots: one per matched SPIFFE ID (first entry wins), restricted to the
   * requested ID when one was given. */
  wc->slots = calloc(v.n_idents ? v.n_idents : 1, sizeof *wc->slots);
  seen = calloc(v.n_idents ? v.n_idents : 1, sizeof *seen);
  if (!wc->slots || !seen) {
    free(seen);
    wl_view_clear(&v);
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "out of memory");
    return;
  }
  for (i = 0; i < v.n_idents; i++) {
    const struct wl_entry *e = v.idents[i].entry;
    struct wl_slot *s;
    if (rq->spiffe_id && *rq->spiffe_id && strcmp(rq->spiffe_id, e->spiffe_id))
      continue;
    for (k = 0; k < n; k++)
      if (strcmp(wc->slots[k].spiffe_id, e->spiffe_id) == 0) break;
    if (k < n) continue;
    if (hint_seen(seen, n, e->hint)) continue;
    s = &wc->slots[n];
    s->spiffe_id = cairn_strdup(e->spiffe_id);
    s->entry_id = cairn_strdup(e->id);
    s->hint = cairn_strdup(e->hint);
    seen[n] = e->hint;
    wc->n_slots = ++n;
    if (!s->spiffe_id || !s->entry_id || !s->hint) {
      free(seen);
      wl_view_clear(&v);
      wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "out of memory");
      return;
    }
  }
  free(seen);
  wl_view_clear(&v);
  if (n == 0) {
    wc_finish(wc, CAIRN_GRPC_PERMISSION_DENIED, MSG_NO_IDENTITY);
    return;
  }
  /* The audience set, sorted and without duplicates (the mint key). */
  for (i = 0; i < rq->n_audience; i++) aud[i] = rq->audience[i];
  qsort(aud, rq->n_audience, sizeof *aud, str_qcmp);
  for (i = 0; i < rq->n_audience; i++)
    if (naud == 0 || strcmp(aud[i], aud[naud - 1]) != 0) aud[naud++] = aud[i];

  wc->building = 1;
  wc->refs++;  /* a synchronous mint may finish the call meanwhile */
  for (i = 0; i < n && wc->call; i++) {
    const char *tok = wl_cache_jwt_get(a->opts.cache, wc->slots[i].spiffe_id,
                                       (const char *const *)aud, naud, 0);
    if (tok) {
      a->st.jwt_cache_hits++;
      if (!(wc->slots[i].token = cairn_strdup(tok))) {
        wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "out of memory");
        break;
      }
      continue;
    }
    if (jwt_need_mint(wc, i, aud, naud) != 0) break;
  }
  wc->building = 0;
  if (wc->call && wc->waiting == 0) jwt_reply(wc);
  wc_unref(wc);
}

/* ======================================================================
 * ValidateJWTSVID
 * ====================================================================== */

static void value_free(Google__Protobuf__Value *v);

static void struct_free(Google__Protobuf__Struct *s)
{
  size_t i;
  if (!s) return;
  for (i = 0; i < s->n_fields; i++) {
    if (!s->fields[i]) continue;
    free(s->fields[i]->key);
    value_free(s->fields[i]->value);
    free(s->fields[i]);
  }
  free(s->fields);
  free(s);
}

static void value_free(Google__Protobuf__Value *v)
{
  size_t i;
  if (!v) return;
  switch (v->kind_case) {
  case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
    free(v->string_value);
    break;
  case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
    struct_free(v->struct_value);
    break;
  case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
    if (v->list_value) {
      for (i = 0; i < v->list_value->n_values; i++)
        value_free(v->list_value->values[i]);
      free(v->list_value->values);
      free(v->list_value);
    }
    break;
  default:
    break;
  }
  free(v);
}

static Google__Protobuf__Struct *json_to_struct(json_t *obj, int depth,
                                                int registered_only);

static Google__Protobuf__Value *json_to_value(json_t *j, int depth)
{
  Google__Protobuf__Value *v;
  size_t i, n;

  if (depth > STRUCT_DEPTH_MAX) return NULL;
  v = malloc(sizeof *v);
  if (!v) return NULL;
  google__protobuf__value__init(v);
  switch (json_typeof(j)) {
  case JSON_NULL:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
    v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
    v->bool_value = json_is_true(j);
    break;
  case JSON_INTEGER:
  case JSON_REAL:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v->number_value = json_number_value(j);
    break;
  case JSON_STRING:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v->string_value = cairn_strndup(json_string_value(j), json_string_length(j));
    if (!v->string_value) goto fail;
    break;
  case JSON_OBJECT:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
    v->struct_value = json_to_struct(j, depth + 1, 0);
    if (!v->struct_value) goto fail;
    break;
  case JSON_ARRAY:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
    v->list_value = malloc(sizeof *v->list_value);
    if (!v->list_value) goto fail;
    google__protobuf__list_value__init(v->list_value);
    n = json_array_size(j);
    if (n) {
      v->list_value->values = calloc(n, sizeof *v->list_value->values);
      if (!v->list_value->values) goto fail;
    }
    for (i = 0; i < n; i++) {
      v->list_value->values[i] = json_to_value(json_array_get(j, i), depth + 1);
      if (!v->list_value->values[i]) goto fail;
      v->list_value->n_values++;
    }
    break;
  default:
    goto fail;
  }
  return v;
fail:
  value_free(v);
  return NULL;
}

static int registered_claim(const char *k)
{
  static const char *const names[] = {"aud", "exp", "iat", "iss", "jti",
                                      "nbf", "sub"};
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(k, names[i]) == 0) return 1;
  return 0;
}

static Google__Protobuf__Struct *json_to_struct(json_t *obj, int depth,
                                                int registered_only)
{
  Google__Protobuf__Struct *s;
  const char *k;
  json_t *val;
  size_t n;

  if (depth > STRUCT_DEPTH_MAX || !json_is_object(obj)) return NULL;
  s = malloc(sizeof *s);
  if (!s) return NULL;
  google__protobuf__struct__init(s);
  n = json_object_size(obj);
  if (n) {
    s->fields = calloc(n, sizeof *s->fields);
    if (!s->fields) goto fail;
  }
  json_object_foreach(obj, k, val) {
    Google__Protobuf__Struct__FieldsEntry *fe;
    json_t *list = NULL;
    if (registered_only && !registered_claim(k)) continue;
    fe = malloc(sizeof *fe);
    if (!fe) goto fail;
    google__protobuf__struct__fields_entry__init(fe);
    s->fields[s->n_fields++] = fe;
    if (!(fe->key = cairn_strdup(k))) goto fail;
    /* A single "aud" string is reported as a one-element list, as SPIRE
     * does. */
    if (depth == 0 && strcmp(k, "aud") == 0 && json_is_string(val)) {
      list = json_array();
      if (!list || json_array_append(list, val) != 0) {
        json_decref(list);
        goto fail;
      }
      fe->value = json_to_value(list, depth + 1);
      json_decref(list);
    } else {
      fe->value = json_to_value(val, depth + 1);
    }
    if (!fe->value) goto fail;
  }
  return s;
fail:
  struct_free(s);
  return NULL;
}

static void validate_start(struct wl_call *wc)
{
  struct wl_api *a = wc->api;
  const ValidateJWTSVIDRequest *rq = wc->vreq;
  struct wl_view v;
  const struct cairn_bundle **bundles = NULL;
  struct cairn_jwt_claims *cl = NULL;
  ValidateJWTSVIDResponse resp = VALIDATE_JWTSVIDRESPONSE__INIT;
  json_t *claims = NULL;
  json_error_t jerr;
  size_t i, nb = 0;
  char td[CAIRN_TD_MAX + 1];
  int r;

  if ((r = wl_cache_view(a->opts.cache, wc->sel.v, wc->sel.n, &v)) != 0) {
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, cairn_errdetail());
    return;
  }
  if (v.n_idents == 0) {
    wl_view_clear(&v);
    wc_finish(wc, CAIRN_GRPC_PERMISSION_DENIED, MSG_NO_IDENTITY);
    return;
  }
  if (!v.has_bundle) {
    wl_view_clear(&v);
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "the trust bundle is not available "
              "yet");
    return;
  }
  bundles = calloc(v.n_federated + 1, sizeof *bundles);
  if (!bundles) {
    wl_view_clear(&v);
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "out of memory");
    return;
  }
  bundles[nb++] = v.own.bundle;
  for (i = 0; i < v.n_federated; i++) bundles[nb++] = v.federated[i].bundle;
  r = cairn_jwt_validate(rq->svid, (const struct cairn_bundle *const *)bundles,
                         nb, rq->audience, 0, &cl);
  free(bundles);
  wl_view_clear(&v);
  if (r != CAIRN_OK) {
    char msg[600];
    snprintf(msg, sizeof msg, "%s", cairn_errdetail()[0]
                                        ? cairn_errdetail()
                                        : cairn_strerror(r));
    wc_finish(wc, CAIRN_GRPC_INVALID_ARGUMENT, msg);
    return;
  }
  claims = json_loads(cl->claims_json, JSON_REJECT_DUPLICATES, &jerr);
  cairn_id_td(&cl->sub, td);
  resp.spiffe_id = cl->sub.str;
  resp.claims = claims ? json_to_struct(claims, 0, strcmp(td, wl_cache_td(
                                                   a->opts.cache)) != 0)
                       : NULL;
  if (!resp.claims) {
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, "could not serialize the claims");
  } else {
    wc_reply(wc, &resp.base);
  }
  struct_free(resp.claims);
  json_decref(claims);
  cairn_jwt_claims_free(cl);
}

/* ======================================================================
 * attestation and dispatch
 * ====================================================================== */

static void attest_work(uv_work_t *w)
{
  struct wl_call *wc = w->data;
  struct wl_api *a = wc->api;

  wc->attest_rc = a->opts.attest(&wc->peer, &wc->sel, a->opts.attest_arg);
  if (wc->attest_rc != CAIRN_OK)
    snprintf(wc->attest_err, sizeof wc->attest_err, "%s", cairn_errdetail());
  else
    wl_selectors_sort(&wc->sel);
}

static void attest_after(uv_work_t *w, int status)
{
  struct wl_call *wc = w->data;
  struct wl_api *a = wc->api;

  a->st.attesting--;
  if (wc->call && !a->closing) {
    if (status != 0 || wc->attest_rc != CAIRN_OK) {
      a->st.attest_failed++;
      CAIRN_LOGW(MOD, "workload attestation of pid %d failed: %s",
                 (int)wc->peer.pid,
                 status != 0 ? uv_strerror(status) : wc->attest_err);
      wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, MSG_ATTEST);
    } else {
      switch (wc->m) {
      case M_X509SVID:
      case M_X509BUNDLES:
      case M_JWTBUNDLES:
        stream_start(wc);
        break;
      case M_JWTSVID:
        jwt_start(wc);
        break;
      case M_VALIDATE:
        validate_start(wc);
        break;
      }
    }
  }
  wc_unref(wc);
  api_release(a);
}

/* 1 when s is well-formed UTF-8 without U+0000: proto3 strings must be,
 * and tokens and audiences travel on as JSON. */
static int utf8_ok(const char *s)
{
  return cairn_utf8_check((const uint8_t *)s, strlen(s)) == 0;
}

static int header_ok(struct cairn_grpc_call *call)
{
  size_t n = 0;
  const char *v = cairn_grpc_call_metadata(call, WL_API_HEADER, &n);
  return v && n == 1 && strcmp(v, "true") == 0;
}

static void handle(struct cairn_grpc_call *call, const uint8_t *req,
                   size_t len, struct wl_api *a, enum wl_method m)
{
  struct wl_call *wc;
  const char *bad = NULL;
  char msg[300];
  size_t i;
  int r;

  a->st.calls++;
  if (!header_ok(call)) {
    a->st.bad_header++;
    cairn_grpc_call_finish(call, CAIRN_GRPC_INVALID_ARGUMENT, MSG_HEADER);
    return;
  }
  if (a->closing) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_UNAVAILABLE, "shutting down");
    return;
  }
  wc = calloc(1, sizeof *wc);
  if (!wc) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_UNAVAILABLE, "out of memory");
    return;
  }
  wc->api = a;
  wc->m = m;
  wc->call = call;
  wc->refs = 1;
  wc->peer = *cairn_grpc_call_peer(call);

  /* Decode the request: empty messages must still be well-formed. */
  switch (m) {
  case M_X509SVID: {
    X509SVIDRequest *q = x509_svidrequest__unpack(NULL, len, req);
    if (!q) bad = "malformed request";
    else x509_svidrequest__free_unpacked(q, NULL);
    break;
  }
  case M_X509BUNDLES: {
    X509BundlesRequest *q = x509_bundles_request__unpack(NULL, len, req);
    if (!q) bad = "malformed request";
    else x509_bundles_request__free_unpacked(q, NULL);
    break;
  }
  case M_JWTBUNDLES: {
    JWTBundlesRequest *q = jwtbundles_request__unpack(NULL, len, req);
    if (!q) bad = "malformed request";
    else jwtbundles_request__free_unpacked(q, NULL);
    break;
  }
  case M_JWTSVID:
    wc->jreq = jwtsvidrequest__unpack(NULL, len, req);
    if (!wc->jreq) {
      bad = "malformed request";
      break;
    }
    if (wc->jreq->n_audience == 0) {
      bad = "audience must be specified";
      break;
    }
    if (wc->jreq->n_audience > CAIRN_JWT_AUD_MAX) {
      snprintf(msg, sizeof msg, "at most %d audiences may be requested",
               CAIRN_JWT_AUD_MAX);
      bad = msg;
      break;
    }
    for (i = 0; i < wc->jreq->n_audience; i++) {
      size_t n = strlen(wc->jreq->audience[i]);
      if (!utf8_ok(wc->jreq->audience[i])) {
        bad = MSG_UTF8;
        break;
      }
      if (n == 0 || n > WL_AUDIENCE_LEN_MAX) {
        snprintf(msg, sizeof msg, "audience %zu must be 1..%d bytes", i,
                 WL_AUDIENCE_LEN_MAX);
        bad = msg;
        break;
      }
    }
    if (!bad && wc->jreq->spiffe_id && !utf8_ok(wc->jreq->spiffe_id))
      bad = MSG_UTF8;
    if (!bad && wc->jreq->spiffe_id && *wc->jreq->spiffe_id &&
        cairn_id_validate(wc->jreq->spiffe_id) != CAIRN_OK) {
      snprintf(msg, sizeof msg, "invalid requested SPIFFE ID: %s",
               cairn_errdetail());
      bad = msg;
    }
    break;
  case M_VALIDATE:
    wc->vreq = validate_jwtsvidrequest__unpack(NULL, len, req);
    if (!wc->vreq) bad = "malformed request";
    else if (!wc->vreq->audience || !*wc->vreq->audience)
      bad = "audience must be specified";
    else if (!wc->vreq->svid || !*wc->vreq->svid)
      bad = "svid must be specified";
    else if (!utf8_ok(wc->vreq->audience) || !utf8_ok(wc->vreq->svid))
      bad = MSG_UTF8;
    break;
  }
  if (bad) {
    wc_finish(wc, CAIRN_GRPC_INVALID_ARGUMENT, bad);
    return;
  }
  cairn_grpc_call_set_data(call, wc);
  cairn_grpc_call_set_cancel(call, on_cancel, wc);
  wc->work.data = wc;
  wc->refs++;
  a->holds++;
  r = uv_queue_work(a->loop, &wc->work, attest_work, attest_after);
  if (r != 0) {
    wc->refs--;
    a->holds--;
    wc_finish(wc, CAIRN_GRPC_UNAVAILABLE, MSG_ATTEST);
    return;
  }
  a->st.attesting++;
}

static void h_x509svid(struct cairn_grpc_call *c, const uint8_t *q, size_t n,
                       void *arg)
{
  handle(c, q, n, arg, M_X509SVID);
}

static void h_x509bundles(struct cairn_grpc_call *c, const uint8_t *q,
                          size_t n, void *arg)
{
  handle(c, q, n, arg, M_X509BUNDLES);
}

static void h_jwtsvid(struct cairn_grpc_call *c, const uint8_t *q, size_t n,
                      void *arg)
{
  handle(c, q, n, arg, M_JWTSVID);
}

static void h_jwtbundles(struct cairn_grpc_call *c, const uint8_t *q,
                         size_t n, void *arg)
{
  handle(c, q, n, arg, M_JWTBUNDLES);
}

static void h_validate(struct cairn_grpc_call *c, const uint8_t *q, size_t n,
                       void *arg)
{
  handle(c, q, n, arg, M_VALIDATE);
}

static void h_wit(struct cairn_grpc_call *c, const uint8_t *q, size_t n,
                  void *arg)
{
  struct wl_api *a = arg;
  (void)q;
  (void)n;
  a->st.calls++;
  if (!header_ok(c)) {
    a->st.bad_header++;
    cairn_grpc_call_finish(c, CAIRN_GRPC_INVALID_ARGUMENT, MSG_HEADER);
    return;
  }
  a->st.unimplemented++;
  cairn_grpc_call_finish(c, CAIRN_GRPC_UNIMPLEMENTED,
                         "the WIT-SVID profile is not supported");
}

/* ======================================================================
 * life cycle
 * ====================================================================== */

static int unix_attest(const struct cairn_grpc_peer *peer,
                       struct wl_selectors *out, void *arg)
{
  return wl_unix_attest(arg, peer, out);
}

void wl_api_opts_init(struct wl_api_opts *o)
{
  memset(o, 0, sizeof *o);
}

static void on_timer_closed(uv_handle_t *h)
{
  struct wl_api *a = h->data;
  free(h);
  api_release(a);
}

int wl_api_new(uv_loop_t *loop, const struct wl_api_opts *opts,
               struct wl_api **out)
{
  static const struct {
    const char *name;
    enum cairn_grpc_kind kind;
    cairn_grpc_handler_fn fn;
  } methods[] = {
    {"FetchX509SVID", CAIRN_GRPC_SERVER_STREAMING, h_x509svid},
    {"FetchX509Bundles", CAIRN_GRPC_SERVER_STREAMING, h_x509bundles},
    {"FetchJWTSVID", CAIRN_GRPC_UNARY, h_jwtsvid},
    {"FetchJWTBundles", CAIRN_GRPC_SERVER_STREAMING, h_jwtbundles},
    {"ValidateJWTSVID", CAIRN_GRPC_UNARY, h_validate},
    {"FetchWITSVID", CAIRN_GRPC_SERVER_STREAMING, h_wit},
    {"FetchWITBundles", CAIRN_GRPC_SERVER_STREAMING, h_wit},
  };
  struct wl_api *a;
  size_t i;
  int r = CAIRN_ERR_INTERNAL;

  *out = NULL;
  if (!loop || !opts || !opts->cache || !opts->socket_path)
    return cairn_seterr(CAIRN_ERR_INVAL, "wl_api_new: loop, cache and "
                        "socket_path are required");
  a = calloc(1, sizeof *a);
  if (!a) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  a->pending_timer = calloc(1, sizeof *a->pending_timer);
  if (!a->pending_timer) {
    free(a);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  a->loop = loop;
  a->opts = *opts;
  a->opts.socket_path = NULL;  /* not kept */
  if (!a->opts.socket_mode) a->opts.socket_mode = WL_API_SOCKET_MODE;
  if (!a->opts.pending_ms) a->opts.pending_ms = WL_API_PENDING_DEFAULT_MS;
  if (!a->opts.max_mints) a->opts.max_mints = WL_API_MINTS_DEFAULT;
  a->opts.unix_opts = NULL;
  a->opts.grpc = NULL;
  uv_timer_init(loop, a->pending_timer);
  a->pending_timer->data = a;
  a->holds = 2;  /* self + timer */
  if (!a->opts.attest) {
    if ((r = wl_unix_new(opts->unix_opts, &a->unix_att)) != CAIRN_OK)
      goto fail;
    a->opts.attest = unix_attest;
    a->opts.attest_arg = a->unix_att;
  }
  if ((r = cairn_grpc_server_new(loop, opts->grpc, &a->srv)) != CAIRN_OK)
    goto fail;
  for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    char path[64];
    snprintf(path, sizeof path, SVC "%s", methods[i].name);
    r = cairn_grpc_server_add_method(a->srv, path, methods[i].kind,
                                     methods[i].fn, a);
    if (r != CAIRN_OK) goto fail;
  }
  r = cairn_grpc_server_listen(a->srv, opts->socket_path, a->opts.socket_mode);
  if (r != CAIRN_OK) goto fail;
  CAIRN_LOGI(MOD, "Workload API listening on %s", opts->socket_path);
  *out = a;
  return CAIRN_OK;
fail:
  wl_api_free(a);
  return r;
}

struct cairn_grpc_server *wl_api_server(struct wl_api *a)
{
  return a->srv;
}

void wl_api_free(struct wl_api *a)
{
  if (!a || a->closing) return;
  a->closing = 1;
  /* Cancels every held call: their subscriptions end in on_cancel. */
  cairn_grpc_server_free(a->srv);
  a->srv = NULL;
  uv_close((uv_handle_t *)a->pending_timer, on_timer_closed);
  api_release(a);
}

void wl_api_get_stats(const struct wl_api *a, struct wl_api_stats *st)
{
  *st = a->st;
  st->mints_in_flight = a->n_mints;
}
