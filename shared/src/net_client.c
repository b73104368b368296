/* shared/src/net_client.c - the CoAP/DTLS client of net.h.
 *
 * Requests and observations are queued and sent from the client's pass
 * (outside libcoap), which also opens the session on demand, ends a dead
 * one (failing what was outstanding on it) and expires deadlines. Responses
 * are delivered from libcoap's response handler.
 */
#include "net_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/util.h"

#define REASON_LEN 256

/* One request or observation. */
struct cairn_net_observation {
  struct cairn_net_observation *next;
  struct cairn_net_client *c;
  enum cairn_net_method method;
  char *path;
  uint8_t *body;       /* until handed to libcoap */
  size_t len;
  cairn_net_response_fn fn;
  void *arg;
  int observe;
  int sent;
  int cancelled;       /* observation cancelled: deregister in the pass */
  int fail_err;        /* fail in the pass with this error */
  uint8_t tok[8];
  size_t toklen;
  uint64_t deadline;   /* uv_now() ms; 0 = none */
};

struct cairn_net_client {
  struct cairn__net_vtarget v; /* first: the verify hook's target */
  struct cairn__net_io io;
  struct cairn_id server_id;
  coap_address_t dst;
  int insecure;
  size_t max_response;
  unsigned timeout_ms;
  cairn_net_state_fn on_state;
  void *state_arg;
  struct cairn__net_creds creds;
  struct cairn_bundle *bundle;
  coap_session_t *sess;
  int verified;        /* our verify accepted the server of sess */
  int up;              /* reported up to the application */
  int want_connect;
  int want_disconnect;
  int verify_err;
  char verify_reason[REASON_LEN];
  struct cairn_net_peer peer;
  struct cairn_net_observation *reqs; /* in creation order */
  int free_pending;
  int freeing;
};

static struct cairn_net_client *client_of(coap_session_t *s)
{
  coap_context_t *ctx = s ? coap_session_get_context(s) : NULL;
  struct cairn_net_client *c = ctx ? coap_get_app_data(ctx) : NULL;

  return (c && !c->freeing) ? c : NULL;
}

/* ------------------------------------------------------------------ */
/* Requests list                                                       */
/* ------------------------------------------------------------------ */

static void req_free(struct cairn_net_observation *o)
{
  if (!o) return;
  free(o->path);
  free(o->body);
  free(o);
}

static void req_unlink(struct cairn_net_client *c,
                       struct cairn_net_observation *o)
{
  struct cairn_net_observation **pp = &c->reqs;

  while (*pp && *pp != o) pp = &(*pp)->next;
  if (*pp) *pp = o->next;
  o->next = NULL;
}

static struct cairn_net_observation *req_by_token(struct cairn_net_client *c,
                                                  const uint8_t *tok,
                                                  size_t len)
{
  for (struct cairn_net_observation *o = c->reqs; o; o = o->next)
    if (o->sent && !o->cancelled && o->toklen == len &&
        memcmp(o->tok, tok, len) == 0)
      return o;
  return NULL;
}

/* Removes o and tells the application (unless freed meanwhile). */
static void req_fail(struct cairn_net_client *c,
                     struct cairn_net_observation *o, int err)
{
  req_unlink(c, o);
  if (!c->free_pending && !o->cancelled && o->fn) o->fn(err, NULL, o->arg);
  req_free(o);
}

/* ------------------------------------------------------------------ */
/* Verification, events, responses                                     */
/* ------------------------------------------------------------------ */

static int client_verify(struct cairn__net_vtarget *t,
                         const struct cairn_cert_list *chain)
{
  struct cairn_net_client *c = (struct cairn_net_client *)t;
  struct cairn_net_peer peer;
  int r;

  memset(&peer, 0, sizeof peer);
  if (c->sess)
    cairn__net_addr_str(coap_session_get_addr_remote(c->sess), peer.addr,
                        sizeof peer.addr);
  if (chain)
    r = cairn__net_check_server(chain, c->bundle, c->insecure, &c->server_id,
                                &peer);
  else
    r = CAIRN_ERR_POLICY;
  if (r != CAIRN_OK) {
    c->verify_err = r;
    snprintf(c->verify_reason, sizeof c->verify_reason,
             "server %s refused: %s", peer.addr, cairn_errdetail());
    CAIRN_LOGW("net", "%s", c->verify_reason);
    return r;
  }
  c->peer = peer;
  c->verified = 1;
  return CAIRN_OK;
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
  struct cairn_net_client *c = client_of(s);

  (void)ev;
  /* libcoap 4.3.1 does not report DTLS_CONNECTED for client sessions; the
   * session state is read in the pass and before each response. */
  if (c && s == c->sess) cairn__net_io_kick(&c->io);
  return 0;
}

/* Reports the session up once the handshake is done and our verification
 * accepted the server (before any response is delivered on it). */
static void maybe_up(struct cairn_net_client *c)
{
  if (c->up || !c->sess || !c->verified ||
      coap_session_get_state(c->sess) != COAP_SESSION_STATE_ESTABLISHED)
    return;
  c->up = 1;
  c->want_connect = 0;
  CAIRN_LOGD("net", "session up with %s", c->peer.id.str);
  if (!c->free_pending && c->on_state)
    c->on_state(c, 1, CAIRN_OK, "", c->state_arg);
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid)
{
  struct cairn_net_client *c = client_of(s);
  struct cairn_net_observation *o;
  coap_bin_const_t tok;

  (void)mid;
  if (!c || !sent) return;
  tok = coap_pdu_get_token(sent);
  if (!(o = req_by_token(c, tok.s, tok.length))) return;
  /* A failed handshake is reported for the whole session in the pass. */
  if (reason != COAP_NACK_TLS_FAILED) o->fail_err = CAIRN_ERR_NET;
  cairn__net_io_kick(&c->io);
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd,
                                   const coap_mid_t mid)
{
  struct cairn_net_client *c = client_of(s);
  struct cairn_net_observation *o;
  struct cairn_net_response r;
  coap_opt_iterator_t it;
  coap_opt_t *opt;
  coap_bin_const_t tok;
  size_t len = 0, off = 0, total = 0;
  const uint8_t *data = NULL;
  coap_pdu_code_t code;

  (void)sent;
  (void)mid;
  if (!c) return COAP_RESPONSE_FAIL;
  tok = coap_pdu_get_token(rcvd);
  /* Unknown token: a late answer or a notification we no longer want;
   * the RST makes the server forget an observer. */
  if (!(o = req_by_token(c, tok.s, tok.length))) return COAP_RESPONSE_FAIL;
  code = coap_pdu_get_code(rcvd);
  if (COAP_RESPONSE_CLASS(code) < 2) return COAP_RESPONSE_OK;
  maybe_up(c);

  memset(&r, 0, sizeof r);
  r.code = cairn__net_code_from_coap(code);
  if (coap_get_data_large(rcvd, &len, &data, &off, &total) && len > 0) {
    if (len > c->max_response || off != 0) {
      CAIRN_LOGW("net", "response of %zu bytes exceeds the %zu byte cap",
                 len, c->max_response);
      req_fail(c, o, CAIRN_ERR_TOO_BIG);
      return COAP_RESPONSE_FAIL;
    }
    r.body = data;
    r.body_len = len;
  }
  opt = coap_check_option(rcvd, COAP_OPTION_CONTENT_FORMAT, &it);
  r.content_format =
      opt ? (int)coap_decode_var_bytes(coap_opt_value(opt),
                                       coap_opt_length(opt))
          : -1;
  r.observing = o->observe && COAP_RESPONSE_CLASS(code) == 2 &&
                coap_check_option(rcvd, COAP_OPTION_OBSERVE, &it) != NULL;
  o->deadline = 0;
  if (r.observing) {
    if (!c->free_pending && o->fn) o->fn(CAIRN_OK, &r, o->arg);
    return COAP_RESPONSE_OK;
  }
  req_unlink(c, o);
  if (!c->free_pending && o->fn) o->fn(CAIRN_OK, &r, o->arg);
  req_free(o);
  return COAP_RESPONSE_OK;
}

/* ------------------------------------------------------------------ */
/* The pass                                                            */
/* ------------------------------------------------------------------ */

static void release_copy(coap_session_t *s, void *p)
{
  (void)s;
  free(p);
}

static void end_session(struct cairn_net_client *c, int err,
                        const char *reason)
{
  struct cairn_net_observation *o;
  char why[REASON_LEN];

  snprintf(why, sizeof why, "%s", reason);
  /* Nothing of the session may outlive our reference. libcoap 4.3.1 keeps
   * the confirmable messages of a session dropped by an ICMP error queued
   * for retransmission, each holding a reference; the last retransmission
   * opens a new handshake, drops its reference, frees the session and then
   * queues the message on the freed session (a write after free and a lost
   * message). Dropping the session's queues first (our on_nack only marks
   * the requests, failed below) ends that; the Observe cancellations of
   * the release would start a handshake on a dead session, and our server
   * ends a peer's observations with its DTLS session anyway. */
  coap_session_set_no_observe_cancel(c->sess);
  coap_session_disconnected(c->sess, COAP_NACK_NOT_DELIVERABLE);
  coap_session_release(c->sess);
  c->sess = NULL;
  c->verified = c->up = 0;
  c->want_connect = 0;
  memset(&c->peer, 0, sizeof c->peer);
  CAIRN_LOGD("net", "session ended: %s", why);
  while ((o = c->reqs) && !c->free_pending) req_fail(c, o, err);
  if (!c->free_pending && c->on_state) c->on_state(c, 0, err, why,
                                                   c->state_arg);
}

static int open_session(struct cairn_net_client *c)
{
  coap_dtls_pki_t pki;
  coap_session_t *s;
  void *tls;

  cairn__net_pki_setup(&pki, &c->creds);
  c->verified = c->up = 0;
  c->verify_err = 0;
  c->verify_reason[0] = '\0';
  s = coap_new_client_session_pki(c->io.ctx, NULL, &c->dst, COAP_PROTO_DTLS,
                                  &pki);
  if (!s) return cairn_seterr(CAIRN_ERR_NET, "cannot open a DTLS session");
  /* The ClientHello is out; the server's certificate cannot have been
   * processed yet, so the hook is in place in time. */
  if (!(tls = cairn__net_tls_of(s))) {
    coap_session_release(s);
    return cairn_seterr(CAIRN_ERR_NET, "DTLS session has no GnuTLS state");
  }
  c->sess = s;
  cairn__net_tls_hook(tls, &c->v);
  return CAIRN_OK;
}

/* Adds "/a/b" (up to a '?') as Uri-Path options. */
static int add_path(coap_pdu_t *pdu, const char *path)
{
  const char *p = path + 1;

  while (*p && *p != '?') {
    size_t n = strcspn(p, "/?");
    if (!coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)p))
      return 0;
    p += n;
    if (*p == '/') p++;
  }
  return 1;
}

/* Adds the "a=1&b=2" after a '?' as Uri-Query options (after every option
 * with a lower number, as CoAP orders them). */
static int add_query(coap_pdu_t *pdu, const char *path)
{
  const char *p = strchr(path, '?');

  if (!p) return 1;
  p++;
  while (*p) {
    size_t n = strcspn(p, "&");
    if (!coap_add_option(pdu, COAP_OPTION_URI_QUERY, n, (const uint8_t *)p))
      return 0;
    p += n;
    if (*p == '&') p++;
  }
  return 1;
}

static int send_req(struct cairn_net_client *c,
                    struct cairn_net_observation *o)
{
  coap_pdu_t *pdu;
  uint8_t b[4];

  pdu = coap_new_pdu(COAP_MESSAGE_CON, cairn__net_method_code(o->method),
                     c->sess);
  if (!pdu) return CAIRN_ERR_NOMEM;
  coap_session_new_token(c->sess, &o->toklen, o->tok);
  if (o->toklen > sizeof o->tok) o->toklen = sizeof o->tok;
  if (!coap_add_token(pdu, o->toklen, o->tok) ||
      (o->observe &&
       !coap_add_option(pdu, COAP_OPTION_OBSERVE,
                        coap_encode_var_safe(b, sizeof b,
                                             COAP_OBSERVE_ESTABLISH),
                        b)) ||
      !add_path(pdu, o->path) ||
      (o->len > 0 &&
       !coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(b, sizeof b, CAIRN_NET_CF_CBOR),
                        b)) ||
      !add_query(pdu, o->path)) {
    coap_delete_pdu(pdu);
    return CAIRN_ERR_NOMEM;
  }
  if (o->len > 0) {
    uint8_t *body = o->body;
    o->body = NULL; /* libcoap releases it in every case */
    if (!coap_add_data_large_request(c->sess, pdu, o->len, body,
                                     release_copy, body)) {
      coap_delete_pdu(pdu);
      return CAIRN_ERR_NET;
    }
  }
  o->sent = 1;
  if (coap_send(c->sess, pdu) == COAP_INVALID_MID) return CAIRN_ERR_NET;
  return CAIRN_OK;
}

static uint64_t client_pass(void *owner)
{
  struct cairn_net_client *c = owner;
  struct cairn_net_observation *o, *next;
  uint64_t now = uv_now(c->io.loop), wait = 0;
  int need_session;

  /* The session: verified and up, dead, or to be dropped on request. */
  if (c->sess) {
    coap_session_state_t st = coap_session_get_state(c->sess);
    if (c->want_disconnect) {
      c->want_disconnect = 0;
      end_session(c, CAIRN_ERR_NET, "disconnected by the application");
    } else if (st == COAP_SESSION_STATE_NONE) {
      if (c->verify_err)
        end_session(c, c->verify_err, c->verify_reason);
      else if (c->up)
        end_session(c, CAIRN_ERR_NET, "DTLS session closed");
      else
        end_session(c, CAIRN_ERR_NET,
                    "DTLS handshake failed (the server refused us or is "
                    "unreachable)");
    } else {
      maybe_up(c);
    }
  }
  c->want_disconnect = 0;
  if (c->free_pending) return 0;

  /* Cancellations, per-request failures and deadlines. */
  for (o = c->reqs; o && !c->free_pending; o = next) {
    next = o->next;
    if (o->cancelled) {
      if (o->sent && c->sess) {
        coap_binary_t tok = {o->toklen, o->tok};
        coap_cancel_observe(c->sess, &tok, COAP_MESSAGE_CON);
      }
      req_unlink(c, o);
      req_free(o);
    } else if (o->fail_err) {
      req_fail(c, o, o->fail_err);
    } else if (o->deadline && o->deadline <= now) {
      req_fail(c, o, CAIRN_ERR_TIMEOUT);
    }
  }
  if (c->free_pending) return 0;

  /* Send what is queued, opening a session when needed. */
  need_session = c->want_connect;
  for (o = c->reqs; o; o = o->next)
    if (!o->sent) need_session = 1;
  if (need_session && !c->sess) {
    if (open_session(c) != CAIRN_OK) {
      char why[REASON_LEN];
      snprintf(why, sizeof why, "%s", cairn_errdetail());
      c->want_connect = 0;
      while ((o = c->reqs) && !c->free_pending)
        req_fail(c, o, CAIRN_ERR_NET);
      if (!c->free_pending && c->on_state)
        c->on_state(c, 0, CAIRN_ERR_NET, why, c->state_arg);
      return 0;
    }
  }
  for (o = c->reqs; o && c->sess && !c->free_pending; o = next) {
    next = o->next;
    if (!o->sent && send_req(c, o) != CAIRN_OK) req_fail(c, o, CAIRN_ERR_NET);
  }
  for (o = c->reqs; o; o = o->next)
    if (o->deadline) {
      uint64_t w = o->deadline > now ? o->deadline - now : 1;
      if (!wait || w < wait) wait = w;
    }
  return wait;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

void cairn_net_client_opts_init(struct cairn_net_client_opts *o)
{
  memset(o, 0, sizeof *o);
  o->max_response = CAIRN_NET_RESPONSE_MAX_DEFAULT;
  o->timeout_ms = CAIRN_NET_TIMEOUT_DEFAULT_MS;
}

static int client_want_free(void *owner)
{
  return ((struct cairn_net_client *)owner)->free_pending;
}

static void client_closed(void *owner)
{
  free(owner);
}

static void client_release(struct cairn_net_client *c)
{
  struct cairn_net_observation *o;

  c->freeing = 1;
  /* Releases the session too (we never hold a second reference). */
  if (c->io.ctx) coap_free_context(c->io.ctx);
  c->io.ctx = NULL;
  c->sess = NULL;
  while ((o = c->reqs)) {
    c->reqs = o->next;
    req_free(o);
  }
  cairn__net_creds_clear(&c->creds);
  cairn_bundle_free(c->bundle);
  c->bundle = NULL;
}

static void client_do_free(void *owner)
{
  struct cairn_net_client *c = owner;

  if (c->io.handles == 0) {
    client_release(c);
    free(c);
    return;
  }
  cairn__net_io_close(&c->io); /* c is freed by the last close callback */
  client_release(c);
}

void cairn_net_client_free(struct cairn_net_client *c)
{
  if (!c) return;
  if (c->io.busy) {
    c->free_pending = 1;
    return;
  }
  client_do_free(c);
}

int cairn_net_client_new(uv_loop_t *loop,
                         const struct cairn_net_client_opts *opts,
                         struct cairn_net_client **out)
{
  struct cairn_net_client *c = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "net client: out is NULL");
  *out = NULL;
  if (!loop || !opts)
    return cairn_seterr(CAIRN_ERR_INVAL, "net client: NULL argument");
  if (!opts->server_id)
    return cairn_seterr(CAIRN_ERR_INVAL, "net client: server_id is required");
  if (opts->port == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "net client: port is required");
  cairn__net_global_init();
  if (!(c = calloc(1, sizeof *c))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  c->v.verify = client_verify;
  c->io.loop = loop;
  c->io.owner = c;
  c->io.pass = client_pass;
  c->io.want_free = client_want_free;
  c->io.do_free = client_do_free;
  c->io.closed = client_closed;
  if ((r = cairn_id_parse_str(opts->server_id, &c->server_id))) goto out;
  if ((r = cairn__net_addr(opts->host, opts->port, &c->dst))) goto out;
  c->insecure = opts->insecure_bootstrap ? 1 : 0;
  c->max_response = opts->max_response ? opts->max_response
                                       : CAIRN_NET_RESPONSE_MAX_DEFAULT;
  c->timeout_ms = opts->timeout_ms ? opts->timeout_ms
                                   : CAIRN_NET_TIMEOUT_DEFAULT_MS;
  c->on_state = opts->on_state;
  c->state_arg = opts->state_arg;
  if (!(c->io.ctx = coap_new_context(NULL))) {
    r = cairn_seterr(CAIRN_ERR_NET, "coap_new_context failed");
    goto out;
  }
  coap_set_app_data(c->io.ctx, c);
  /* Responses come back reassembled; they are from a verified server and
   * capped by max_response. */
  coap_context_set_block_mode(c->io.ctx,
                              COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  if (opts->keepalive_s) coap_context_set_keepalive(c->io.ctx,
                                                     opts->keepalive_s);
  coap_register_event_handler(c->io.ctx, on_event);
  coap_register_response_handler(c->io.ctx, on_response);
  coap_register_nack_handler(c->io.ctx, on_nack);
  if ((r = cairn__net_io_start(&c->io))) goto out;
  *out = c;
  c = NULL; /* transferred */
  r = CAIRN_OK;
out:
  if (c) client_do_free(c);
  return r;
}

int cairn_net_client_set_credentials(struct cairn_net_client *c,
                                     const char *chain_pem, size_t chain_len,
                                     const char *key_pem, size_t key_len)
{
  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "net client is NULL");
  /* A live session keeps what it loaded; libcoap reads these buffers only
   * when a session is created, and we always pass the current ones. */
  return cairn__net_creds_set(&c->creds, chain_pem, chain_len, key_pem,
                              key_len);
}

int cairn_net_client_set_bundle(struct cairn_net_client *c,
                                const struct cairn_bundle *b)
{
  struct cairn_bundle *copy = NULL;
  int r;

  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "net client is NULL");
  if (b && (r = cairn_bundle_dup(b, &copy))) return r;
  cairn_bundle_free(c->bundle);
  c->bundle = copy;
  return CAIRN_OK;
}

static int ready(const struct cairn_net_client *c)
{
  if (!c->creds.chain_pem)
    return cairn_seterr(CAIRN_ERR_INVAL, "net client has no credentials");
  if (!c->bundle && !c->insecure)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "net client has no bundle (and no "
                        "insecure_bootstrap)");
  return CAIRN_OK;
}

int cairn_net_client_connect(struct cairn_net_client *c)
{
  int r;

  if (!c || c->free_pending)
    return cairn_seterr(CAIRN_ERR_INVAL, "net client is NULL or freed");
  if ((r = ready(c))) return r;
  if (!c->sess) {
    c->want_connect = 1;
    cairn__net_io_kick(&c->io);
  }
  return CAIRN_OK;
}

int cairn_net_client_is_up(const struct cairn_net_client *c)
{
  return c && c->up;
}

const struct cairn_net_peer *cairn_net_client_peer(
    const struct cairn_net_client *c)
{
  return (c && c->up) ? &c->peer : NULL;
}

void cairn_net_client_disconnect(struct cairn_net_client *c)
{
  if (!c || !c->sess) return;
  c->want_disconnect = 1;
  cairn__net_io_kick(&c->io);
}

static int enqueue(struct cairn_net_client *c, enum cairn_net_method method,
                   const char *path, const uint8_t *cbor, size_t len,
                   int observe, cairn_net_response_fn fn, void *arg,
                   struct cairn_net_observation **out)
{
  struct cairn_net_observation *o, **pp;
  int r;

  if (!c || !fn || c->free_pending)
    return cairn_seterr(CAIRN_ERR_INVAL, "request: NULL argument");
  if (!cairn__net_method_code(method))
    return cairn_seterr(CAIRN_ERR_INVAL, "request: bad method %d",
                        (int)method);
  if ((r = cairn__net_target_check(path))) return r;
  if (len > 0 && !cbor)
    return cairn_seterr(CAIRN_ERR_INVAL, "request: body is NULL");
  if (len > CAIRN_NET_BODY_MAX_LIMIT)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "request body larger than %u",
                        CAIRN_NET_BODY_MAX_LIMIT);
  if ((r = ready(c))) return r;
  if (!(o = calloc(1, sizeof *o)) || !(o->path = cairn_strdup(path)) ||
      (len > 0 && !(o->body = malloc(len)))) {
    req_free(o);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  if (len > 0) memcpy(o->body, cbor, len);
  o->c = c;
  o->method = method;
  o->len = len;
  o->observe = observe;
  o->fn = fn;
  o->arg = arg;
  o->deadline = uv_now(c->io.loop) + c->timeout_ms;
  for (pp = &c->reqs; *pp; pp = &(*pp)->next) {
  }
  *pp = o;
  if (out) *out = o;
  cairn__net_io_kick(&c->io);
  return CAIRN_OK;
}

int cairn_net_client_request(struct cairn_net_client *c,
                             enum cairn_net_method method, const char *path,
                             const uint8_t *cbor, size_t len,
                             cairn_net_response_fn fn, void *arg)
{
  return enqueue(c, method, path, cbor, len, 0, fn, arg, NULL);
}

int cairn_net_client_observe(struct cairn_net_client *c, const char *path,
                             cairn_net_response_fn fn, void *arg,
                             struct cairn_net_observation **out)
{
  if (out) *out = NULL;
  return enqueue(c, CAIRN_NET_GET, path, NULL, 0, 1, fn, arg, out);
}

void cairn_net_observation_cancel(struct cairn_net_observation *o)
{
  if (!o || o->cancelled) return;
  o->cancelled = 1;
  o->fn = NULL;
  cairn__net_io_kick(&o->c->io);
}
