/* shared/src/net_server.c - the CoAP/DTLS server endpoint of net.h.
 *
 * Observe (RFC 7641) is kept here, not by libcoap: routes are not marked
 * observable in libcoap, the layer records each registration itself
 * (struct observer) and builds, sends and ends notifications outside
 * libcoap's processing. libcoap 4.3.1 (Debian 12) frees an observer in
 * its notification loop when the handler answers a notification with an
 * error, then keeps using it (its session pointer, for the send): a
 * use-after-free that crashed armhf builds and went unnoticed elsewhere
 * only by the state of glibc's heap (fixed upstream in 4.3.2,
 * commit 64de2ba4, "resource.c: Correctly handle observe delete by server
 * application"). libcoap offers no other way to end one observation from
 * the server, and ending one with an error is what handlers do when a
 * peer loses its rights. See docs/library/net.md.
 */
#include "net_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/buf.h"
#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/util.h"

#define N_METHODS 5 /* indexed by enum cairn_net_method */

struct route {
  struct route *next;
  struct cairn_net_server *srv;
  char *path;
  coap_resource_t *res; /* owned by the libcoap context */
  int observable;
  uint32_t seq;          /* Observe value of the current state (24 bits) */
  struct {
    cairn_net_handler_fn fn;
    void *arg;
    unsigned flags;
  } m[N_METHODS];
};

/* One observation of a route by a session (see the top of the file). */
struct observer {
  struct observer *next;
  struct route *rt;
  coap_pdu_t *req; /* copy of the registering GET: token and options */
  int dirty;       /* a notification is due */
  int ended;       /* over; unlinked by the next sweep */
};

/* Per libcoap server session (attached as its app data). */
struct net_sess {
  struct cairn__net_vtarget v; /* first: the verify hook's target */
  struct net_sess *next, *prev;
  struct cairn_net_server *srv;
  coap_session_t *cs;
  void *hooked;   /* the GnuTLS session our verify function is on */
  int admitted;   /* the verify function accepted the peer */
  struct cairn_net_peer peer;
  /* Block1 upload being reassembled (one per session). */
  struct route *up_route;
  int up_method;
  struct cairn_buf up;
  /* Observations, live and ended-but-not-yet-swept. While some are live
   * the session holds a reference of ours, so that libcoap does not drop
   * it as idle (as libcoap's own observers did). */
  struct observer *obs;
  int pinned;
  int unresponsive; /* a notification was never acknowledged */
};

struct cairn_net_server {
  struct cairn__net_io io;
  char *bind_addr;
  uint16_t port_opt, port;
  size_t max_body;
  unsigned max_sessions;
  int allow_bootstrap;
  int listening;
  int free_pending;
  struct cairn__net_creds creds;
  struct cairn_bundle *bundle;
  struct route *routes;
  struct net_sess *sessions;
  struct cairn_net_server_stats stats;
};

struct cairn_net_exchange {
  struct cairn_net_server *srv;
  coap_resource_t *res;
  coap_session_t *sess;
  const coap_pdu_t *req;
  const coap_string_t *query;
  coap_pdu_t *resp;
  int replied;
  int observe;   /* a 2.xx reply carries Observe: seq */
  uint32_t seq;
  int observing; /* the reply carries Observe */
};

/* ------------------------------------------------------------------ */
/* Sessions and peer verification                                      */
/* ------------------------------------------------------------------ */

static int sess_verify(struct cairn__net_vtarget *t,
                       const struct cairn_cert_list *chain)
{
  struct net_sess *ns = (struct net_sess *)t;
  struct cairn_net_server *s = ns->srv;
  struct cairn_net_peer peer;
  int r;

  memset(&peer, 0, sizeof peer);
  cairn__net_addr_str(coap_session_get_addr_remote(ns->cs), peer.addr,
                      sizeof peer.addr);
  ns->admitted = 0;
  if (chain)
    r = cairn__net_check_client(chain, s->bundle, s->allow_bootstrap, &peer);
  else
    r = CAIRN_ERR_POLICY; /* detail set by the chain parser */
  if (r != CAIRN_OK) {
    s->stats.rejected++;
    CAIRN_LOGW("net", "refused DTLS peer %s: %s", peer.addr,
               cairn_errdetail());
    return r;
  }
  ns->peer = peer;
  ns->admitted = 1;
  if (peer.authenticated) {
    s->stats.handshakes_ok++;
    CAIRN_LOGD("net", "DTLS peer %s is %s", peer.addr, peer.id.str);
  } else {
    s->stats.bootstrap_ok++;
    CAIRN_LOGD("net", "DTLS peer %s admitted as bootstrap peer", peer.addr);
  }
  return CAIRN_OK;
}

/* ---- observations ---- */

static void obs_free(struct observer *ob)
{
  if (!ob) return;
  coap_delete_pdu(ob->req);
  free(ob);
}

static int obs_has_token(const struct observer *ob, coap_bin_const_t tok)
{
  coap_bin_const_t t = coap_pdu_get_token(ob->req);

  return t.length == tok.length &&
         (tok.length == 0 || memcmp(t.s, tok.s, tok.length) == 0);
}

/* Marks ob over; it is freed by the next sweep (it may be in use by a
 * caller up the stack). */
static void obs_end(struct cairn_net_server *s, struct observer *ob)
{
  if (ob->ended) return;
  ob->ended = 1;
  ob->dirty = 0;
  s->stats.observations--;
}

/* Ends the observations of ns with token tok, of route rt (NULL: any). */
static void obs_end_token(struct cairn_net_server *s, struct net_sess *ns,
                          const struct route *rt, coap_bin_const_t tok)
{
  for (struct observer *ob = ns->obs; ob; ob = ob->next)
    if (!ob->ended && (!rt || ob->rt == rt) && obs_has_token(ob, tok))
      obs_end(s, ob);
}

static void obs_end_all(struct cairn_net_server *s, struct net_sess *ns)
{
  for (struct observer *ob = ns->obs; ob; ob = ob->next) obs_end(s, ob);
}

/* Frees the ended observations of ns and takes or drops the session
 * reference. Only from server_pass() (outside libcoap, no walk under
 * way). */
static void obs_sweep(struct net_sess *ns)
{
  struct observer **pp = &ns->obs, *ob;

  while ((ob = *pp)) {
    if (ob->ended) {
      *pp = ob->next;
      obs_free(ob);
    } else {
      pp = &ob->next;
    }
  }
  if (ns->obs && !ns->pinned) {
    coap_session_reference(ns->cs);
    ns->pinned = 1;
  } else if (!ns->obs && ns->pinned) {
    coap_session_release(ns->cs);
    ns->pinned = 0;
  }
}

/* A new observation of rt for the registering GET req, not yet linked;
 * NULL when ns already has CAIRN_NET_OBSERVE_MAX others (one with the same
 * route and token does not count: it is replaced) or memory is short. */
static struct observer *obs_prepare(struct net_sess *ns, struct route *rt,
                                    const coap_pdu_t *req)
{
  coap_bin_const_t tok = coap_pdu_get_token(req);
  struct observer *ob;
  unsigned n = 0;

  for (ob = ns->obs; ob; ob = ob->next)
    if (!ob->ended && !(ob->rt == rt && obs_has_token(ob, tok))) n++;
  if (n >= CAIRN_NET_OBSERVE_MAX) {
    CAIRN_LOGD("net", "%s: %u observations already, not observing %s",
               ns->peer.addr, n, rt->path);
    return NULL;
  }
  if (!(ob = calloc(1, sizeof *ob))) return NULL;
  ob->rt = rt;
  if (!(ob->req = coap_pdu_duplicate(req, ns->cs, tok.length, tok.s,
                                     NULL))) {
    free(ob);
    return NULL;
  }
  return ob;
}

/* Links ob (its registration was answered with Observe), replacing an
 * observation with the same route and token. */
static void obs_insert(struct cairn_net_server *s, struct net_sess *ns,
                       struct observer *ob)
{
  obs_end_token(s, ns, ob->rt, coap_pdu_get_token(ob->req));
  ob->next = ns->obs;
  ns->obs = ob;
  s->stats.observations++;
}

static void sess_free(struct net_sess *ns)
{
  struct observer *ob, *on;

  if (!ns) return;
  for (ob = ns->obs; ob; ob = on) {
    on = ob->next;
    obs_free(ob);
  }
  cairn_buf_cleanup(&ns->up);
  free(ns);
}

static void sess_unlink(struct cairn_net_server *s, struct net_sess *ns)
{
  if (ns->prev) ns->prev->next = ns->next;
  else s->sessions = ns->next;
  if (ns->next) ns->next->prev = ns->prev;
  s->stats.sessions--;
}

static int on_event(coap_session_t *cs, const coap_event_t ev)
{
  coap_context_t *ctx = coap_session_get_context(cs);
  struct cairn_net_server *s = ctx ? coap_get_app_data(ctx) : NULL;
  struct net_sess *ns;

  if (!s) return 0;
  switch (ev) {
  case COAP_EVENT_SERVER_SESSION_NEW:
    /* Without a net_sess the session is never hooked, and libcoap's own
     * verification (no CA configured) refuses the peer. */
    if (!(ns = calloc(1, sizeof *ns))) break;
    ns->v.verify = sess_verify;
    ns->srv = s;
    ns->cs = cs;
    cairn_buf_init(&ns->up, s->max_body);
    ns->next = s->sessions;
    if (s->sessions) s->sessions->prev = ns;
    s->sessions = ns;
    s->stats.sessions++;
    coap_session_set_app_data(cs, ns);
    break;
  case COAP_EVENT_SERVER_SESSION_DEL:
    if ((ns = coap_session_get_app_data(cs))) {
      coap_session_set_app_data(cs, NULL);
      obs_end_all(s, ns);
      sess_unlink(s, ns);
      sess_free(ns);
    }
    break;
  default:
    break;
  }
  return 0;
}

/* A confirmable message of ours (a notification) failed: its observation
 * is over (RFC 7641 section 4.5: the client rejected it with RST or never
 * acknowledged it). An ICMP error is retried by libcoap. */
static void on_nack(coap_session_t *cs, const coap_pdu_t *sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid)
{
  struct net_sess *ns = coap_session_get_app_data(cs);

  (void)mid;
  if (!ns || !sent || reason == COAP_NACK_ICMP_ISSUE) return;
  obs_end_token(ns->srv, ns, NULL, coap_pdu_get_token(sent));
  if (reason == COAP_NACK_TOO_MANY_RETRIES) ns->unresponsive = 1;
}

static int notify_due(struct cairn_net_server *s);

/* After every libcoap pass: put our verify function on each GnuTLS
 * session created during the pass (see net_int.h), then send the
 * notifications that are due. */
static uint64_t server_pass(void *owner)
{
  struct cairn_net_server *s = owner;

  for (struct net_sess *ns = s->sessions; ns; ns = ns->next) {
    void *tls;
    /* Notifications are sent as soon as they are due; libcoap queues them
     * behind an unacknowledged one. A peer that stopped answering would
     * make the queue drain one retransmission cycle (about 90 s) at a
     * time: close its session instead (a close_notify, should it still
     * be there), which drops the queue and its observations. */
    if (ns->unresponsive) {
      ns->unresponsive = 0;
      CAIRN_LOGW("net", "%s did not acknowledge a notification: closing "
                        "its session", ns->peer.addr);
      coap_session_disconnected(ns->cs, COAP_NACK_NOT_DELIVERABLE);
    }
    tls = cairn__net_tls_of(ns->cs);
    if (tls != ns->hooked) {
      /* The DTLS session ended or was replaced: whoever comes next is
       * verified afresh and inherits no observation. */
      obs_end_all(s, ns);
      if (tls) cairn__net_tls_hook(tls, &ns->v);
      ns->hooked = tls;
      ns->admitted = 0;
    }
  }
  /* A notification that could not be built is retried shortly. */
  return notify_due(s) ? 100 : 0;
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

static void release_copy(coap_session_t *cs, void *p)
{
  (void)cs;
  free(p);
}

int cairn_net_reply(struct cairn_net_exchange *x, int code,
                    const uint8_t *cbor, size_t len)
{
  uint8_t *copy, obs[4];

  if (!x || x->replied)
    return cairn_seterr(CAIRN_ERR_INVAL, "reply: exchange already answered");
  if (code < 200 || code > 231 || code % 100 > 31)
    return cairn_seterr(CAIRN_ERR_INVAL, "reply: %d is not a 2.xx code",
                        code);
  if (len > 0 && !cbor)
    return cairn_seterr(CAIRN_ERR_INVAL, "reply: body is NULL");
  x->replied = 1;
  coap_pdu_set_code(x->resp, cairn__net_code_to_coap(code));
  /* Before the body: libcoap copies the options into its Block2 state. */
  if (x->observe &&
      coap_add_option(x->resp, COAP_OPTION_OBSERVE,
                      coap_encode_var_safe(obs, sizeof obs, x->seq), obs))
    x->observing = 1;
  if (len == 0) return CAIRN_OK;
  if (!(copy = malloc(len))) {
    coap_pdu_set_code(x->resp, COAP_RESPONSE_CODE(500));
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  memcpy(copy, cbor, len);
  /* Block2 when it does not fit; copy is released by libcoap in any case
   * (and it sets 5.00 itself on failure). */
  if (!coap_add_data_large_response(x->res, x->sess, x->req, x->resp,
                                    x->query, COAP_MEDIATYPE_APPLICATION_CBOR,
                                    -1, 0, len, copy, release_copy, copy))
    return cairn_seterr(CAIRN_ERR_NET, "reply: libcoap could not add the "
                                       "body");
  return CAIRN_OK;
}

static void put_reason(coap_pdu_t *resp, const char *text)
{
  char buf[CAIRN_NET_REASON_MAX + 1];
  size_t n = 0;

  for (; text && text[n] && n < CAIRN_NET_REASON_MAX; n++) {
    unsigned char ch = (unsigned char)text[n];
    buf[n] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
  }
  if (n > 0) coap_add_data(resp, n, (const uint8_t *)buf);
}

int cairn_net_reply_error(struct cairn_net_exchange *x, int code,
                          const char *fmt, ...)
{
  char text[CAIRN_NET_REASON_MAX + 1];
  va_list ap;

  if (!x || x->replied)
    return cairn_seterr(CAIRN_ERR_INVAL, "reply: exchange already answered");
  if (code < 400 || code > 731 || code % 100 > 31)
    return cairn_seterr(CAIRN_ERR_INVAL, "reply: %d is not an error code",
                        code);
  x->replied = 1;
  coap_pdu_set_code(x->resp, cairn__net_code_to_coap(code));
  text[0] = '\0';
  if (fmt) {
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
  }
  put_reason(x->resp, text);
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static int method_index(coap_pdu_code_t c)
{
  switch (c) {
  case COAP_REQUEST_CODE_GET: return CAIRN_NET_GET;
  case COAP_REQUEST_CODE_POST: return CAIRN_NET_POST;
  case COAP_REQUEST_CODE_PUT: return CAIRN_NET_PUT;
  case COAP_REQUEST_CODE_DELETE: return CAIRN_NET_DELETE;
  default: return 0;
  }
}

/* An option's unsigned value, or -1 when absent (or longer than 4
 * bytes, which no option we read may be). */
static long opt_uint(const coap_pdu_t *pdu, coap_option_num_t num)
{
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(pdu, num, &it);

  if (!o) return -1;
  if (coap_opt_length(o) > 4) return (long)UINT32_MAX;
  return (long)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

static void refuse(struct cairn_net_exchange *x, int code, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));
static void refuse(struct cairn_net_exchange *x, int code, const char *fmt,
                   ...)
{
  char text[CAIRN_NET_REASON_MAX + 1];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  x->srv->stats.refused++;
  cairn_net_reply_error(x, code, "%s", text);
}

static void refuse_too_big(struct cairn_net_exchange *x, size_t max)
{
  uint8_t b[4];

  coap_add_option(x->resp, COAP_OPTION_SIZE1,
                  coap_encode_var_safe(b, sizeof b, (unsigned)max), b);
  x->srv->stats.refused++;
  cairn_net_reply_error(x, CAIRN_NET_TOO_LARGE,
                        "request body larger than %zu bytes", max);
}

static void upload_drop(struct net_sess *ns)
{
  ns->up_route = NULL;
  ns->up_method = 0;
  cairn_buf_cleanup(&ns->up);
}

/* Collects the body of a request, reassembling Block1 transfers ourselves
 * (libcoap's single-body mode would buffer whatever size the client
 * announces before we could refuse it). Returns 1 when the handler should
 * run (*body and *blen set), 0 when a response has been prepared. */
static int collect_body(struct cairn_net_exchange *x, struct net_sess *ns,
                        struct route *rt, int method, const uint8_t **body,
                        size_t *blen)
{
  struct cairn_net_server *s = x->srv;
  const uint8_t *data = NULL;
  size_t len = 0, off = 0, total = 0;
  coap_block_b_t blk;
  int has_block;
  long cf, size1;

  *body = NULL;
  *blen = 0;
  memset(&blk, 0, sizeof blk);
  has_block = coap_get_block_b(x->sess, x->req, COAP_OPTION_BLOCK1, &blk);
  if (!coap_get_data_large(x->req, &len, &data, &off, &total)) {
    len = 0;
    data = NULL;
  }
  if (len == 0 && !has_block) return 1;

  cf = opt_uint(x->req, COAP_OPTION_CONTENT_FORMAT);
  if (cf != CAIRN_NET_CF_CBOR) {
    upload_drop(ns);
    refuse(x, CAIRN_NET_UNSUPPORTED_FORMAT,
           "request body must be application/cbor (content-format 60)");
    return 0;
  }
  size1 = opt_uint(x->req, COAP_OPTION_SIZE1);
  if ((size1 >= 0 && (unsigned long)size1 > s->max_body) ||
      len > s->max_body) {
    upload_drop(ns);
    refuse_too_big(x, s->max_body);
    return 0;
  }
  if (!has_block) {
    *body = data;
    *blen = len;
    return 1;
  }

  off = (size_t)blk.num << (blk.szx + 4);
  if (off > s->max_body || len > s->max_body - off) {
    upload_drop(ns);
    refuse_too_big(x, s->max_body);
    return 0;
  }
  if (off == 0) {
    upload_drop(ns);
    ns->up_route = rt;
    ns->up_method = method;
    cairn_buf_init(&ns->up, s->max_body);
  } else if (ns->up_route != rt || ns->up_method != method) {
    refuse(x, CAIRN_NET_INCOMPLETE, "block-wise upload out of sequence");
    return 0;
  }
  if (off == ns->up.len) {
    if (cairn_buf_append(&ns->up, data, len) != CAIRN_OK) {
      upload_drop(ns);
      refuse_too_big(x, s->max_body);
      return 0;
    }
  } else if (off + len > ns->up.len) {
    upload_drop(ns);
    refuse(x, CAIRN_NET_INCOMPLETE, "block-wise upload has a gap");
    return 0;
  }
  /* else: a repeated block we already hold */
  if (blk.m) {
    x->replied = 1;
    coap_pdu_set_code(x->resp, COAP_RESPONSE_CODE(231));
    return 0;
  }
  *body = ns->up.data;
  *blen = ns->up.len;
  return 1;
}

/* Runs the handler of (rt, method) for the request in x, from peer ns,
 * and makes sure it answered. */
static void run_handler(struct cairn_net_exchange *x, struct net_sess *ns,
                        struct route *rt, int method, const uint8_t *body,
                        size_t blen)
{
  struct cairn_net_request rq;
  char qbuf[CAIRN_NET_QUERY_MAX + 1] = "";

  memset(&rq, 0, sizeof rq);
  rq.method = (enum cairn_net_method)method;
  rq.path = rt->path;
  if (x->query && x->query->length > 0 &&
      x->query->length <= CAIRN_NET_QUERY_MAX) {
    memcpy(qbuf, x->query->s, x->query->length);
    qbuf[x->query->length] = '\0';
  }
  rq.query = qbuf;
  rq.peer = &ns->peer;
  rq.body = body;
  rq.body_len = blen;
  rt->srv->stats.requests++;
  rt->m[method].fn(x, &rq, rt->m[method].arg);
  if (!x->replied) {
    CAIRN_LOGW("net", "handler for %s gave no reply", rt->path);
    cairn_net_reply_error(x, CAIRN_NET_INTERNAL_ERROR,
                          "handler gave no reply");
  }
  /* libcoap answers 5.00 itself when it cannot take a body: that ends an
   * observation like any other error. */
  if (COAP_RESPONSE_CLASS(coap_pdu_get_code(x->resp)) != 2) x->observing = 0;
}

static void on_request(coap_resource_t *res, coap_session_t *cs,
                       const coap_pdu_t *req, const coap_string_t *query,
                       coap_pdu_t *resp)
{
  struct route *rt = coap_resource_get_userdata(res);
  struct net_sess *ns = coap_session_get_app_data(cs);
  struct cairn_net_exchange x;
  struct observer *ob = NULL;
  int method = method_index(coap_pdu_get_code(req));
  const uint8_t *body;
  size_t blen;
  long observe = -1;
  coap_block_b_t blk;

  memset(&x, 0, sizeof x);
  x.res = res;
  x.sess = cs;
  x.req = req;
  x.query = query;
  x.resp = resp;
  if (!rt) {
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
    return;
  }
  x.srv = rt->srv;
  if (method == 0 || !rt->m[method].fn) {
    refuse(&x, CAIRN_NET_METHOD_NOT_ALLOWED, "method not allowed on %s",
           rt->path);
    return;
  }
  if (!ns || !ns->admitted) {
    refuse(&x, CAIRN_NET_UNAUTHORIZED, "peer not authenticated");
    return;
  }
  if (!ns->peer.authenticated &&
      !(rt->m[method].flags & CAIRN_NET_ROUTE_BOOTSTRAP)) {
    upload_drop(ns);
    refuse(&x, CAIRN_NET_UNAUTHORIZED,
           "%s needs an X509-SVID; a bootstrap certificate is only "
           "accepted for attestation",
           rt->path);
    return;
  }
  if (query && query->length > CAIRN_NET_QUERY_MAX) {
    upload_drop(ns);
    refuse(&x, CAIRN_NET_BAD_REQUEST, "query longer than %d bytes",
           CAIRN_NET_QUERY_MAX);
    return;
  }
  if (query && query->length > 0 && memchr(query->s, '\0', query->length)) {
    upload_drop(ns);
    refuse(&x, CAIRN_NET_BAD_REQUEST, "query contains a NUL byte");
    return;
  }
  if (!collect_body(&x, ns, rt, method, &body, &blen)) return;

  /* Observe on an observable GET route: 1 deregisters; 0 registers when
   * the handler answers 2.xx, for a request without a body that is not
   * asking for a later block of a body. */
  if (rt->observable && method == CAIRN_NET_GET) {
    observe = opt_uint(req, COAP_OPTION_OBSERVE);
    if (coap_get_block_b(cs, req, COAP_OPTION_BLOCK2, &blk) && blk.num > 0)
      observe = -1;
  }
  if (observe == COAP_OBSERVE_CANCEL)
    obs_end_token(x.srv, ns, rt, coap_pdu_get_token(req));
  if (observe == COAP_OBSERVE_ESTABLISH && !body &&
      (ob = obs_prepare(ns, rt, req))) {
    x.observe = 1;
    x.seq = rt->seq;
  }
  run_handler(&x, ns, rt, method, body, blen);
  if (observe == COAP_OBSERVE_ESTABLISH) {
    /* An answer without Observe ends an earlier registration with the
     * same token (RFC 7641 section 4.1). */
    if (ob && x.observing) {
      obs_insert(x.srv, ns, ob);
      ob = NULL;
    } else {
      obs_end_token(x.srv, ns, rt, coap_pdu_get_token(req));
    }
    obs_free(ob);
  }
  if (body && body == ns->up.data) upload_drop(ns);
}

/* Builds and sends one notification of ob, a live observation of ns.
 * Returns 0 when it could not be built (it stays due). */
static int notify_one(struct cairn_net_server *s, struct net_sess *ns,
                      struct observer *ob)
{
  coap_bin_const_t tok = coap_pdu_get_token(ob->req);
  struct cairn_net_exchange x;
  coap_string_t *query;
  coap_pdu_t *pdu;

  /* Confirmable: pushes must not be lost silently. libcoap holds it back
   * while an earlier one to the same peer awaits its ACK. */
  pdu = coap_pdu_init(COAP_MESSAGE_CON, 0, coap_new_message_id(ns->cs),
                      coap_session_max_pdu_size(ns->cs));
  if (!pdu || !coap_add_token(pdu, tok.length, tok.s)) {
    coap_delete_pdu(pdu);
    return 0;
  }
  query = coap_get_query(ob->req);
  memset(&x, 0, sizeof x);
  x.srv = s;
  x.res = ob->rt->res;
  x.sess = ns->cs;
  x.req = ob->req;
  x.query = query;
  x.resp = pdu;
  x.observe = 1;
  x.seq = ob->rt->seq;
  run_handler(&x, ns, ob->rt, CAIRN_NET_GET, NULL, 0);
  coap_delete_string(query);
  /* An answer without Observe (an error) tells the client it is over. */
  if (!x.observing) obs_end(s, ob);
  if (coap_send(ns->cs, pdu) == COAP_INVALID_MID)
    CAIRN_LOGD("net", "notification of %s to %s not sent", ob->rt->path,
               ns->peer.addr);
  return 1;
}

/* Sends the notifications that are due (outside libcoap's processing),
 * then frees the ended observations. Returns 1 when some stay due. */
static int notify_due(struct cairn_net_server *s)
{
  int again = 0;

  for (struct net_sess *ns = s->sessions; ns; ns = ns->next) {
    for (struct observer *ob = ns->obs; ob; ob = ob->next) {
      /* A handler may have freed the server (done when the pass ends):
       * its routes' arguments may be gone, call nothing more. */
      if (!ob->dirty || ob->ended || s->free_pending) continue;
      ob->dirty = 0;
      if (!notify_one(s, ns, ob)) {
        ob->dirty = 1;
        again = 1;
      }
    }
  }
  for (struct net_sess *ns = s->sessions; ns; ns = ns->next) obs_sweep(ns);
  return again;
}

/* ------------------------------------------------------------------ */
/* Server object                                                       */
/* ------------------------------------------------------------------ */

void cairn_net_server_opts_init(struct cairn_net_server_opts *o)
{
  memset(o, 0, sizeof *o);
  o->max_body = CAIRN_NET_BODY_MAX_DEFAULT;
  o->max_sessions = CAIRN_NET_SESSIONS_DEFAULT;
}

static int server_want_free(void *owner)
{
  return ((struct cairn_net_server *)owner)->free_pending;
}

static void server_closed(void *owner)
{
  free(owner);
}

/* Tells the observers that their observations are over, with a
 * non-confirmable 4.04 (as libcoap did for its observers when a server
 * went away), before the sessions close. */
static void obs_goodbye(struct cairn_net_server *s)
{
  for (struct net_sess *ns = s->sessions; ns; ns = ns->next) {
    for (struct observer *ob = ns->obs; ob; ob = ob->next) {
      coap_bin_const_t tok = coap_pdu_get_token(ob->req);
      coap_pdu_t *pdu;

      if (ob->ended) continue;
      obs_end(s, ob);
      pdu = coap_pdu_init(COAP_MESSAGE_NON,
                          cairn__net_code_to_coap(CAIRN_NET_NOT_FOUND),
                          coap_new_message_id(ns->cs),
                          coap_session_max_pdu_size(ns->cs));
      if (!pdu || !coap_add_token(pdu, tok.length, tok.s)) {
        coap_delete_pdu(pdu);
        continue;
      }
      put_reason(pdu, "the server is shutting down");
      coap_send(ns->cs, pdu);
    }
  }
}

static void server_release(struct cairn_net_server *s)
{
  struct route *rt, *rn;
  struct net_sess *ns, *nn;

  /* Polling has stopped (or never started): libcoap may close its fds.
   * It frees only sessions nobody holds. */
  if (s->io.ctx) obs_goodbye(s);
  for (ns = s->sessions; ns; ns = ns->next) {
    if (ns->pinned) coap_session_release(ns->cs);
    ns->pinned = 0;
  }
  if (s->io.ctx) coap_free_context(s->io.ctx);
  s->io.ctx = NULL;
  for (ns = s->sessions; ns; ns = nn) {
    nn = ns->next;
    sess_free(ns);
  }
  s->sessions = NULL;
  for (rt = s->routes; rt; rt = rn) {
    rn = rt->next;
    free(rt->path);
    free(rt);
  }
  s->routes = NULL;
  cairn__net_creds_clear(&s->creds);
  cairn_bundle_free(s->bundle);
  s->bundle = NULL;
  free(s->bind_addr);
  s->bind_addr = NULL;
}

static void server_do_free(void *owner)
{
  struct cairn_net_server *s = owner;

  if (s->io.handles == 0) {
    server_release(s);
    free(s);
    return;
  }
  cairn__net_io_close(&s->io); /* s is freed by the last close callback */
  server_release(s);
}

void cairn_net_server_free(struct cairn_net_server *s)
{
  if (!s) return;
  if (s->io.busy) {
    s->free_pending = 1;
    return;
  }
  server_do_free(s);
}

int cairn_net_server_new(uv_loop_t *loop,
                         const struct cairn_net_server_opts *opts,
                         struct cairn_net_server **out)
{
  struct cairn_net_server_opts d;
  struct cairn_net_server *s = NULL;
  coap_address_t probe;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "net server: out is NULL");
  *out = NULL;
  if (!loop) return cairn_seterr(CAIRN_ERR_INVAL, "net server: loop is NULL");
  if (!opts) {
    cairn_net_server_opts_init(&d);
    opts = &d;
  }
  if (opts->max_body > CAIRN_NET_BODY_MAX_LIMIT)
    return cairn_seterr(CAIRN_ERR_INVAL, "net server: max_body above %u",
                        CAIRN_NET_BODY_MAX_LIMIT);
  if ((r = cairn__net_addr(opts->bind_addr ? opts->bind_addr : "0.0.0.0",
                           opts->port, &probe)))
    return r;
  cairn__net_global_init();
  if (!(s = calloc(1, sizeof *s))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  s->port_opt = opts->port;
  s->max_body = opts->max_body ? opts->max_body : CAIRN_NET_BODY_MAX_DEFAULT;
  s->max_sessions =
      opts->max_sessions ? opts->max_sessions : CAIRN_NET_SESSIONS_DEFAULT;
  s->allow_bootstrap = opts->allow_bootstrap ? 1 : 0;
  s->io.loop = loop;
  s->io.owner = s;
  s->io.pass = server_pass;
  s->io.want_free = server_want_free;
  s->io.do_free = server_do_free;
  s->io.closed = server_closed;
  if (!(s->bind_addr =
            cairn_strdup(opts->bind_addr ? opts->bind_addr : "0.0.0.0"))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  if (!(s->io.ctx = coap_new_context(NULL))) {
    r = cairn_seterr(CAIRN_ERR_NET, "coap_new_context failed");
    goto out;
  }
  coap_set_app_data(s->io.ctx, s);
  /* Block2 by libcoap; Block1 reassembled here with our cap. */
  coap_context_set_block_mode(s->io.ctx, COAP_BLOCK_USE_LIBCOAP);
  coap_context_set_max_idle_sessions(s->io.ctx, s->max_sessions);
  coap_register_event_handler(s->io.ctx, on_event);
  coap_register_nack_handler(s->io.ctx, on_nack);
  *out = s;
  s = NULL; /* transferred */
  r = CAIRN_OK;
out:
  if (s) server_do_free(s);
  return r;
}

int cairn_net_server_set_credentials(struct cairn_net_server *s,
                                     const char *chain_pem, size_t chain_len,
                                     const char *key_pem, size_t key_len)
{
  struct cairn__net_creds n = {0};
  coap_dtls_pki_t pki;
  int r;

  if (!s) return cairn_seterr(CAIRN_ERR_INVAL, "net server is NULL");
  if ((r = cairn__net_creds_set(&n, chain_pem, chain_len, key_pem, key_len)))
    return r;
  if (s->listening) {
    /* libcoap keeps pointers to the buffers: switch to the new ones before
     * the old ones go away. New sessions load them; old ones keep theirs. */
    cairn__net_pki_setup(&pki, &n);
    if (!coap_context_set_pki(s->io.ctx, &pki)) {
      cairn__net_creds_clear(&n);
      return cairn_seterr(CAIRN_ERR_NET, "coap_context_set_pki failed");
    }
  }
  cairn__net_creds_clear(&s->creds);
  s->creds = n;
  return CAIRN_OK;
}

int cairn_net_server_set_bundle(struct cairn_net_server *s,
                                const struct cairn_bundle *b)
{
  struct cairn_bundle *copy = NULL;
  int r;

  if (!s || !b) return cairn_seterr(CAIRN_ERR_INVAL, "set bundle: NULL");
  if ((r = cairn_bundle_dup(b, &copy))) return r;
  cairn_bundle_free(s->bundle);
  s->bundle = copy;
  return CAIRN_OK;
}

static struct route *route_find(struct cairn_net_server *s, const char *path)
{
  for (struct route *rt = s->routes; rt; rt = rt->next)
    if (strcmp(rt->path, path) == 0) return rt;
  return NULL;
}

int cairn_net_server_route(struct cairn_net_server *s,
                           enum cairn_net_method method, const char *path,
                           unsigned flags, cairn_net_handler_fn fn, void *arg)
{
  struct route *rt;
  coap_str_const_t *uri;
  int r;

  if (!s || !fn) return cairn_seterr(CAIRN_ERR_INVAL, "route: NULL argument");
  if (!cairn__net_method_code(method))
    return cairn_seterr(CAIRN_ERR_INVAL, "route: bad method %d", (int)method);
  if (flags & ~(unsigned)(CAIRN_NET_ROUTE_BOOTSTRAP |
                          CAIRN_NET_ROUTE_OBSERVABLE))
    return cairn_seterr(CAIRN_ERR_INVAL, "route: unknown flags 0x%x", flags);
  if ((flags & CAIRN_NET_ROUTE_OBSERVABLE) && method != CAIRN_NET_GET)
    return cairn_seterr(CAIRN_ERR_INVAL, "route: only GET can be observed");
  if ((r = cairn__net_path_check(path))) return r;
  if ((rt = route_find(s, path))) {
    if (rt->m[method].fn)
      return cairn_seterr(CAIRN_ERR_EXISTS, "route: %s already has that "
                                            "method", path);
  } else {
    if (!(rt = calloc(1, sizeof *rt)) || !(rt->path = cairn_strdup(path))) {
      free(rt);
      return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    }
    uri = coap_new_str_const((const uint8_t *)path + 1, strlen(path) - 1);
    rt->res = uri ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI)
                  : NULL;
    if (!rt->res) {
      if (uri) coap_delete_str_const(uri);
      free(rt->path);
      free(rt);
      return cairn_seterr(CAIRN_ERR_NOMEM, "coap_resource_init failed");
    }
    rt->srv = s;
    rt->seq = 2;
    coap_resource_set_userdata(rt->res, rt);
    coap_add_resource(s->io.ctx, rt->res);
    rt->next = s->routes;
    s->routes = rt;
  }
  rt->m[method].fn = fn;
  rt->m[method].arg = arg;
  rt->m[method].flags = flags;
  coap_register_request_handler(rt->res, (coap_request_t)method, on_request);
  /* Not observable in libcoap's eyes: this file keeps the observers. */
  if (flags & CAIRN_NET_ROUTE_OBSERVABLE) rt->observable = 1;
  return CAIRN_OK;
}

/* The port out of coap_endpoint_str(): "127.0.0.1:5684 DTLS" or
 * "[::1]:5684 DTLS". */
static uint16_t endpoint_port(const coap_endpoint_t *ep)
{
  char buf[160];
  char *sp, *colon;
  unsigned long v;

  snprintf(buf, sizeof buf, "%s", coap_endpoint_str(ep));
  if ((sp = strchr(buf, ' '))) *sp = '\0';
  if (!(colon = strrchr(buf, ':'))) return 0;
  v = strtoul(colon + 1, &sp, 10);
  if (*sp != '\0' || v == 0 || v > 65535) return 0;
  return (uint16_t)v;
}

int cairn_net_server_listen(struct cairn_net_server *s)
{
  coap_dtls_pki_t pki;
  coap_address_t addr;
  coap_endpoint_t *ep;
  int r;

  if (!s) return cairn_seterr(CAIRN_ERR_INVAL, "net server is NULL");
  if (s->listening)
    return cairn_seterr(CAIRN_ERR_INVAL, "net server already listening");
  if (!s->creds.chain_pem || !s->bundle)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "net server needs credentials and a bundle first");
  cairn__net_pki_setup(&pki, &s->creds);
  if (!coap_context_set_pki(s->io.ctx, &pki))
    return cairn_seterr(CAIRN_ERR_NET, "coap_context_set_pki failed");
  if ((r = cairn__net_addr(s->bind_addr, s->port_opt, &addr))) return r;
  if (!(ep = coap_new_endpoint(s->io.ctx, &addr, COAP_PROTO_DTLS)))
    return cairn_seterr(CAIRN_ERR_IO, "cannot bind DTLS endpoint %s port %u",
                        s->bind_addr, (unsigned)s->port_opt);
  s->port = endpoint_port(ep);
  s->listening = 1;
  if ((r = cairn__net_io_start(&s->io))) return r;
  CAIRN_LOGI("net", "serving CoAP over DTLS on %s port %u", s->bind_addr,
             (unsigned)s->port);
  return CAIRN_OK;
}

uint16_t cairn_net_server_port(const struct cairn_net_server *s)
{
  return s ? s->port : 0;
}

int cairn_net_server_notify(struct cairn_net_server *s, const char *path)
{
  struct route *rt;

  if (!s || !path) return cairn_seterr(CAIRN_ERR_INVAL, "notify: NULL");
  if (!(rt = route_find(s, path)) || !rt->observable)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no observable route %s", path);
  rt->seq = (rt->seq + 1) & 0xffffff;
  for (struct net_sess *ns = s->sessions; ns; ns = ns->next)
    for (struct observer *ob = ns->obs; ob; ob = ob->next)
      if (ob->rt == rt && !ob->ended) ob->dirty = 1;
  cairn__net_io_kick(&s->io);
  return CAIRN_OK;
}

void cairn_net_server_get_stats(const struct cairn_net_server *s,
                                struct cairn_net_server_stats *st)
{
  if (!st) return;
  if (!s) {
    memset(st, 0, sizeof *st);
    return;
  }
  *st = s->stats;
}
