/* shared/src/net_server.c - the CoAP/DTLS server endpoint of net.h. */
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
  struct {
    cairn_net_handler_fn fn;
    void *arg;
    unsigned flags;
  } m[N_METHODS];
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

static void sess_free(struct net_sess *ns)
{
  if (!ns) return;
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
      sess_unlink(s, ns);
      sess_free(ns);
    }
    break;
  default:
    break;
  }
  return 0;
}

/* After every libcoap pass: put our verify function on each GnuTLS
 * session created during the pass (see net_int.h). */
static uint64_t server_pass(void *owner)
{
  struct cairn_net_server *s = owner;

  for (struct net_sess *ns = s->sessions; ns; ns = ns->next) {
    void *tls = cairn__net_tls_of(ns->cs);
    if (tls && tls != ns->hooked) {
      cairn__net_tls_hook(tls, &ns->v);
      ns->hooked = tls;
      ns->admitted = 0;
    }
  }
  return 0;
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
  uint8_t *copy;

  if (!x || x->replied)
    return cairn_seterr(CAIRN_ERR_INVAL, "reply: exchange already answered");
  if (code < 200 || code > 231 || code % 100 > 31)
    return cairn_seterr(CAIRN_ERR_INVAL, "reply: %d is not a 2.xx code",
                        code);
  if (len > 0 && !cbor)
    return cairn_seterr(CAIRN_ERR_INVAL, "reply: body is NULL");
  x->replied = 1;
  coap_pdu_set_code(x->resp, cairn__net_code_to_coap(code));
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

static void on_request(coap_resource_t *res, coap_session_t *cs,
                       const coap_pdu_t *req, const coap_string_t *query,
                       coap_pdu_t *resp)
{
  struct route *rt = coap_resource_get_userdata(res);
  struct net_sess *ns = coap_session_get_app_data(cs);
  struct cairn_net_exchange x;
  struct cairn_net_request rq;
  int method = method_index(coap_pdu_get_code(req));
  const uint8_t *body;
  size_t blen;
  char qbuf[CAIRN_NET_QUERY_MAX + 1] = "";

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

  memset(&rq, 0, sizeof rq);
  rq.method = (enum cairn_net_method)method;
  rq.path = rt->path;
  if (query && query->length > 0) {
    memcpy(qbuf, query->s, query->length);
    qbuf[query->length] = '\0';
  }
  rq.query = qbuf;
  rq.peer = &ns->peer;
  rq.body = body;
  rq.body_len = blen;
  rt->srv->stats.requests++;
  rt->m[method].fn(&x, &rq, rt->m[method].arg);
  if (!x.replied) {
    CAIRN_LOGW("net", "handler for %s gave no reply", rt->path);
    cairn_net_reply_error(&x, CAIRN_NET_INTERNAL_ERROR,
                          "handler gave no reply");
  }
  if (body && body == ns->up.data) upload_drop(ns);
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

static void server_release(struct cairn_net_server *s)
{
  struct route *rt, *rn;
  struct net_sess *ns, *nn;

  /* Polling has stopped (or never started): libcoap may close its fds. */
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
    /* Notifications confirmable: pushes must not be lost silently. */
    rt->res = uri ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI |
                                                COAP_RESOURCE_FLAGS_NOTIFY_CON)
                  : NULL;
    if (!rt->res) {
      if (uri) coap_delete_str_const(uri);
      free(rt->path);
      free(rt);
      return cairn_seterr(CAIRN_ERR_NOMEM, "coap_resource_init failed");
    }
    rt->srv = s;
    coap_resource_set_userdata(rt->res, rt);
    coap_add_resource(s->io.ctx, rt->res);
    rt->next = s->routes;
    s->routes = rt;
  }
  rt->m[method].fn = fn;
  rt->m[method].arg = arg;
  rt->m[method].flags = flags;
  coap_register_request_handler(rt->res, (coap_request_t)method, on_request);
  if (flags & CAIRN_NET_ROUTE_OBSERVABLE) {
    rt->observable = 1;
    coap_resource_set_get_observable(rt->res, 1);
  }
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
  coap_resource_notify_observers(rt->res, NULL);
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
