/* grpc_server.c - gRPC server over a Unix socket: libuv drives the
 * sockets (uv_poll_t on non-blocking descriptors, so every write is our own
 * send(MSG_NOSIGNAL)), nghttp2 speaks HTTP/2.
 *
 * Flow: bytes read from a connection go to nghttp2_session_mem_recv(),
 * whose callbacks build a call per stream, check the request headers,
 * un-frame the request message and, when the client half-closes, run the
 * method's handler. Handlers and later callbacks only queue output (framed
 * messages, trailers) and mark the connection dirty; output is produced
 * with nghttp2_session_mem_send() after mem_recv() returns, or from a
 * uv_prepare_t before the loop blocks. Nothing that can close a stream or
 * a connection therefore runs inside an application call.
 *
 * Lifetimes: a call is freed when nghttp2 closes its stream, or when its
 * connection closes (nghttp2_session_del() does not report stream
 * closes). The connection's memory lives until libuv's close callback; the
 * server's until the last of its handles is closed.
 */
#include "grpc_int.h"

#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/util.h"

#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MOD "grpc"

/* Request paths longer than this are treated as unknown methods. */
#define PATH_MAX_LEN 1024
/* Bytes read from one connection per loop iteration (fairness). */
#define READ_CHUNK 16384
#define READS_PER_WAKEUP 4
#define ACCEPTS_PER_WAKEUP 64
/* HTTP/2 flow-control windows we grant to clients. */
#define STREAM_WINDOW (1 << 20)
#define CONN_WINDOW (4 << 20)
/* Retry delay after accept() ran out of descriptors. */
#define ACCEPT_RETRY_MS 500

struct method {
  struct method *next;
  char *path;
  enum cairn_grpc_kind kind;
  cairn_grpc_handler_fn fn;
  void *arg;
};

/* One framed response message waiting for nghttp2 to pull it. */
struct qmsg {
  struct qmsg *next;
  size_t len;  /* prefix + body */
  size_t off;  /* bytes already handed to nghttp2 */
  uint8_t data[];
};

enum call_state {
  CALL_RECV,      /* receiving the request */
  CALL_APP,       /* handed to the application */
  CALL_DONE,      /* answered (finished by the app or by us) */
  CALL_CANCELLED  /* client went away while the app held it */
};

struct conn;

struct cairn_grpc_call {
  struct conn *conn;
  struct cairn_grpc_call *prev, *next;
  int32_t id;
  enum call_state state;
  const struct method *method;
  char *path;
  /* request headers */
  unsigned is_post : 1, ct_ok : 1, md_too_big : 1;
  struct cairn_grpc_md *md;
  size_t n_md, md_bytes;
  /* request body */
  struct cairn__grpc_deframer df;
  uint8_t *req;
  size_t req_len, n_req;
  /* response */
  unsigned resp_started : 1, finishing : 1, status_sent : 1;
  struct qmsg *qhead, *qtail;
  size_t qbytes, n_sent;
  char status[4];
  char *status_msg;  /* percent-encoded; NULL when empty */
  /* application */
  cairn_grpc_cancel_fn cancel_fn;
  void *cancel_arg;
  void *data;
};

struct conn {
  struct cairn_grpc_server *srv;
  struct conn *prev, *next;
  int fd;
  uv_poll_t poll;
  int events;
  nghttp2_session *sess;
  struct cairn_grpc_call *calls;
  uint32_t n_calls;
  struct cairn_grpc_peer peer;
  struct cairn__grpc_outq out;
  unsigned closing : 1, dirty : 1;
};

struct cairn_grpc_server {
  uv_loop_t *loop;
  struct cairn_grpc_server_opts o;
  struct method *methods;
  struct conn *conns;
  nghttp2_session_callbacks *cbs;
  nghttp2_option *h2opt;
  /* listener */
  int lfd;
  uv_poll_t lpoll;
  uv_timer_t accept_timer;
  char *sock_path;
  dev_t sock_dev;
  ino_t sock_ino;
  unsigned listening : 1;
  /* deferred flushing */
  uv_prepare_t prep;
  unsigned prep_active : 1;
  /* teardown */
  int handles;    /* open libuv handles; memory is released at 0 */
  int depth;      /* nesting of our libuv callbacks */
  unsigned closing : 1, free_pending : 1;
  struct cairn_grpc_server_stats st;
};

static void conn_flush(struct conn *c);
static void conn_close(struct conn *c, int goaway);
static void server_free_now(struct cairn_grpc_server *s);
static void on_prepare(uv_prepare_t *p);
static void on_conn_poll(uv_poll_t *h, int status, int events);

/* ======================================================================
 * Options, method table
 * ====================================================================== */

void cairn_grpc_server_opts_init(struct cairn_grpc_server_opts *o)
{
  memset(o, 0, sizeof *o);
  o->max_recv_msg = CAIRN_GRPC_MSG_MAX_DEFAULT;
  o->max_send_msg = CAIRN_GRPC_MSG_MAX_DEFAULT;
  o->max_queue = CAIRN_GRPC_MSG_MAX_DEFAULT;
  o->max_streams = CAIRN_GRPC_STREAMS_DEFAULT;
  o->max_conns = CAIRN_GRPC_CONNS_DEFAULT;
  o->write_high_water = 256 * 1024;
}

static int opts_fix(struct cairn_grpc_server_opts *o,
                    const struct cairn_grpc_server_opts *in)
{
  struct cairn_grpc_server_opts d;

  cairn_grpc_server_opts_init(&d);
  *o = in ? *in : d;
  if (!o->max_recv_msg) o->max_recv_msg = d.max_recv_msg;
  if (!o->max_send_msg) o->max_send_msg = d.max_send_msg;
  if (!o->max_queue) o->max_queue = d.max_queue;
  if (!o->max_streams) o->max_streams = d.max_streams;
  if (!o->max_conns) o->max_conns = d.max_conns;
  if (!o->write_high_water) o->write_high_water = d.write_high_water;
  if (o->max_recv_msg > CAIRN_GRPC_MSG_MAX_LIMIT ||
      o->max_send_msg > CAIRN_GRPC_MSG_MAX_LIMIT)
    return cairn_seterr(CAIRN_ERR_INVAL, "gRPC message cap above %u bytes",
                        CAIRN_GRPC_MSG_MAX_LIMIT);
  return CAIRN_OK;
}

/* "/<service>/<method>": both parts non-empty printable, no more slashes. */
static int method_path_ok(const char *p)
{
  const char *slash;
  size_t n = strlen(p);

  if (n < 4 || n > PATH_MAX_LEN || p[0] != '/') return 0;
  slash = strchr(p + 1, '/');
  if (!slash || slash == p + 1 || slash[1] == 0 || strchr(slash + 1, '/'))
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f) return 0;
  return 1;
}

static const struct method *method_find(const struct cairn_grpc_server *s,
                                        const char *path)
{
  for (const struct method *m = s->methods; m; m = m->next)
    if (strcmp(m->path, path) == 0) return m;
  return NULL;
}

int cairn_grpc_server_add_method(struct cairn_grpc_server *s,
                                 const char *path, enum cairn_grpc_kind kind,
                                 cairn_grpc_handler_fn fn, void *arg)
{
  struct method *m;

  if (!s || !path || !fn)
    return cairn_seterr(CAIRN_ERR_INVAL, "missing server, path or handler");
  if (kind != CAIRN_GRPC_UNARY && kind != CAIRN_GRPC_SERVER_STREAMING)
    return cairn_seterr(CAIRN_ERR_INVAL, "bad method kind %d", (int)kind);
  if (!method_path_ok(path))
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "method path must look like /pkg.Service/Method");
  if (method_find(s, path))
    return cairn_seterr(CAIRN_ERR_EXISTS, "method %s already registered",
                        path);
  m = calloc(1, sizeof *m);
  if (!m || !(m->path = cairn_strdup(path))) {
    free(m);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  m->kind = kind;
  m->fn = fn;
  m->arg = arg;
  m->next = s->methods;
  s->methods = m;
  return CAIRN_OK;
}

/* ======================================================================
 * Calls
 * ====================================================================== */

static void qmsg_free(struct qmsg *m)
{
  if (m) cairn_freezero(m, sizeof *m + m->len);
}

static void call_free(struct cairn_grpc_call *call)
{
  struct conn *c = call->conn;

  if (call->prev) call->prev->next = call->next;
  else c->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  c->n_calls--;
  c->srv->st.calls--;
  for (size_t i = 0; i < call->n_md; i++) {
    free((char *)call->md[i].name);
    free((char *)call->md[i].value);
  }
  free(call->md);
  free(call->path);
  cairn__grpc_deframer_cleanup(&call->df);
  cairn_freezero(call->req, call->req_len);
  while (call->qhead) {
    struct qmsg *m = call->qhead;
    call->qhead = m->next;
    qmsg_free(m);
  }
  free(call->status_msg);
  free(call);
}

/* The stream is gone (closed by nghttp2, or its connection closed). A
 * call the application still holds is reported through its cancel
 * callback first. */
static void call_release(struct cairn_grpc_call *call, int abandoned)
{
  struct cairn_grpc_server *s = call->conn->srv;

  if ((abandoned || call->state != CALL_DONE) && !call->status_sent)
    s->st.calls_cancelled++;
  if (call->state == CALL_APP) call->state = CALL_CANCELLED;
  if (call->state == CALL_CANCELLED && call->cancel_fn)
    call->cancel_fn(call, call->cancel_arg);
  call_free(call);
}

static void mark_dirty(struct conn *c)
{
  struct cairn_grpc_server *s = c->srv;

  if (c->closing) return;
  c->dirty = 1;
  if (!s->prep_active && !s->closing) {
    uv_prepare_start(&s->prep, on_prepare);
    s->prep_active = 1;
  }
}

#define NV(n, v, vl)                                                       \
  {                                                                        \
    (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl),                   \
        NGHTTP2_NV_FLAG_NONE                                               \
  }

/* Answers with a single HEADERS frame carrying the status (Trailers-Only);
 * no application involvement. */
static void call_trailers_only(struct cairn_grpc_call *call, int status,
                               const char *msg)
{
  char st[4], enc[CAIRN__GRPC_PCT_OUT_MAX];
  size_t elen = cairn__grpc_pct_encode(msg, enc);
  nghttp2_nv hdrs[] = {
    NV(":status", "200", 3),
    NV("content-type", "application/grpc", 16),
    NV("grpc-status", st, 0),
    NV("grpc-message", enc, elen),
  };

  snprintf(st, sizeof st, "%d", status);
  hdrs[2].valuelen = strlen(st);
  if (nghttp2_submit_response(call->conn->sess, call->id, hdrs,
                              elen ? 4 : 3, NULL) != 0)
    nghttp2_submit_rst_stream(call->conn->sess, NGHTTP2_FLAG_NONE, call->id,
                              NGHTTP2_INTERNAL_ERROR);
  call->state = CALL_DONE;
  call->resp_started = 1;
  mark_dirty(call->conn);
}

/* A request that is not gRPC at all: plain HTTP status. */
static void call_http_error(struct cairn_grpc_call *call, const char *code)
{
  nghttp2_nv hdrs[] = {NV(":status", code, 3)};

  if (nghttp2_submit_response(call->conn->sess, call->id, hdrs, 1, NULL) != 0)
    nghttp2_submit_rst_stream(call->conn->sess, NGHTTP2_FLAG_NONE, call->id,
                              NGHTTP2_INTERNAL_ERROR);
  call->state = CALL_DONE;
  call->resp_started = 1;
  mark_dirty(call->conn);
}

/* Data provider: copies queued framed messages out; defers while a live
 * call has nothing queued; after finish, ends the DATA without END_STREAM
 * and submits the trailers, which carry END_STREAM. */
static ssize_t data_read(nghttp2_session *sess, int32_t id, uint8_t *buf,
                         size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *user)
{
  struct cairn_grpc_call *call = source->ptr;
  size_t n = 0;

  (void)user;
  while (n < length && call->qhead) {
    struct qmsg *m = call->qhead;
    size_t take = m->len - m->off;
    if (take > length - n) take = length - n;
    memcpy(buf + n, m->data + m->off, take);
    m->off += take;
    n += take;
    call->qbytes -= take;
    if (m->off == m->len) {
      call->qhead = m->next;
      if (!call->qhead) call->qtail = NULL;
      qmsg_free(m);
    }
  }
  if (!call->qhead && call->finishing) {
    nghttp2_nv tr[] = {
      NV("grpc-status", call->status, strlen(call->status)),
      NV("grpc-message", call->status_msg ? call->status_msg : "",
         call->status_msg ? strlen(call->status_msg) : 0),
    };
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    if (nghttp2_submit_trailer(sess, id, tr, call->status_msg ? 2 : 1) != 0)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return (ssize_t)n;
  }
  if (n == 0) return NGHTTP2_ERR_DEFERRED;
  return (ssize_t)n;
}

static int call_start_response(struct cairn_grpc_call *call)
{
  nghttp2_nv hdrs[] = {
    NV(":status", "200", 3),
    NV("content-type", "application/grpc", 16),
  };
  nghttp2_data_provider prd;
  int rv;

  prd.source.ptr = call;
  prd.read_callback = data_read;
  rv = nghttp2_submit_response(call->conn->sess, call->id, hdrs, 2, &prd);
  if (rv != 0)
    return cairn_seterr(CAIRN_ERR_NET, "cannot start response: %s",
                        nghttp2_strerror(rv));
  call->resp_started = 1;
  return CAIRN_OK;
}

static int call_usable(const struct cairn_grpc_call *c)
{
  if (c->state == CALL_CANCELLED || c->conn->closing)
    return cairn_seterr(CAIRN_ERR_NET, "call cancelled by the client");
  if (c->state != CALL_APP)
    return cairn_seterr(CAIRN_ERR_INVAL, "call already finished");
  return CAIRN_OK;
}

static int call_enqueue(struct cairn_grpc_call *call, const void *msg,
                        size_t len, int latest)
{
  struct cairn_grpc_server *s;
  struct qmsg *m;
  int r;

  if (!call || (!msg && len))
    return cairn_seterr(CAIRN_ERR_INVAL, "missing call or message");
  if ((r = call_usable(call)) != 0) return r;
  s = call->conn->srv;
  if (len > s->o.max_send_msg)
    return cairn_seterr(CAIRN_ERR_TOO_BIG,
                        "response message larger than max (%zu vs. %zu)",
                        len, s->o.max_send_msg);
  if (call->method->kind == CAIRN_GRPC_UNARY && call->n_sent > 0)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "a unary call has exactly one response message");
  if (latest) {
    /* Keep only a message nghttp2 has started to read. */
    struct qmsg **pp = &call->qhead;
    if (*pp && (*pp)->off > 0) pp = &(*pp)->next;
    while (*pp) {
      struct qmsg *d = *pp;
      *pp = d->next;
      call->qbytes -= d->len;
      s->st.msgs_replaced++;
      qmsg_free(d);
    }
    call->qtail = call->qhead;
  }
  /* After a latest-wins drop the queue holds at most the message in flight,
   * so the new one is always taken: memory stays at two messages. */
  if (!latest && call->qbytes > 0 &&
      call->qbytes + CAIRN__GRPC_PREFIX + len > s->o.max_queue)
    return cairn_seterr(CAIRN_ERR_TOO_BIG,
                        "outbound queue of the call is full (%zu bytes); "
                        "the client is not reading",
                        call->qbytes);
  m = malloc(sizeof *m + CAIRN__GRPC_PREFIX + len);
  if (!m) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  m->next = NULL;
  m->len = CAIRN__GRPC_PREFIX + len;
  m->off = 0;
  cairn__grpc_prefix(m->data, len);
  if (len) memcpy(m->data + CAIRN__GRPC_PREFIX, msg, len);
  if (!call->resp_started && (r = call_start_response(call)) != 0) {
    qmsg_free(m);
    return r;
  }
  if (call->qtail) call->qtail->next = m;
  else call->qhead = m;
  call->qtail = m;
  call->qbytes += m->len;
  call->n_sent++;
  nghttp2_session_resume_data(call->conn->sess, call->id);
  mark_dirty(call->conn);
  return CAIRN_OK;
}

int cairn_grpc_call_send(struct cairn_grpc_call *c, const void *msg,
                         size_t len)
{
  return call_enqueue(c, msg, len, 0);
}

int cairn_grpc_call_send_latest(struct cairn_grpc_call *c, const void *msg,
                                size_t len)
{
  return call_enqueue(c, msg, len, 1);
}

static int send_pb(struct cairn_grpc_call *c, const ProtobufCMessage *m,
                   int latest)
{
  size_t n;
  uint8_t *buf;
  int r;

  if (!c || !m) return cairn_seterr(CAIRN_ERR_INVAL, "missing message");
  n = protobuf_c_message_get_packed_size(m);
  if (n > CAIRN_GRPC_MSG_MAX_LIMIT)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "message of %zu bytes", n);
  buf = malloc(n ? n : 1);
  if (!buf) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  protobuf_c_message_pack(m, buf);
  r = call_enqueue(c, buf, n, latest);
  cairn_freezero(buf, n);
  return r;
}

int cairn_grpc_call_send_pb(struct cairn_grpc_call *c,
                            const ProtobufCMessage *m)
{
  return send_pb(c, m, 0);
}

int cairn_grpc_call_send_latest_pb(struct cairn_grpc_call *c,
                                   const ProtobufCMessage *m)
{
  return send_pb(c, m, 1);
}

int cairn_grpc_call_finish(struct cairn_grpc_call *c, int status,
                           const char *message)
{
  char enc[CAIRN__GRPC_PCT_OUT_MAX];
  int r = CAIRN_OK;

  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "missing call");
  if ((r = call_usable(c)) != 0) return r;
  if (status < 0 || status > CAIRN_GRPC_UNAUTHENTICATED) {
    r = cairn_seterr(CAIRN_ERR_INVAL, "gRPC status %d out of range", status);
    message = "handler used an invalid status";
    status = CAIRN_GRPC_UNKNOWN;
  } else if (status == CAIRN_GRPC_OK &&
             c->method->kind == CAIRN_GRPC_UNARY && c->n_sent == 0) {
    r = cairn_seterr(CAIRN_ERR_INVAL, "unary call finished without a reply");
    message = "handler sent no response";
    status = CAIRN_GRPC_INTERNAL;
  }
  if (!c->resp_started) {
    call_trailers_only(c, status, message);
    return r;
  }
  c->state = CALL_DONE;
  c->finishing = 1;
  snprintf(c->status, sizeof c->status, "%d", status);
  if (cairn__grpc_pct_encode(message, enc) > 0 &&
      !(c->status_msg = cairn_strdup(enc)))
    c->status_msg = NULL; /* out of memory: the status alone still goes */
  nghttp2_session_resume_data(c->conn->sess, c->id);
  mark_dirty(c->conn);
  return r;
}

int cairn_grpc_call_reply(struct cairn_grpc_call *c, const void *msg,
                          size_t len)
{
  int r = cairn_grpc_call_send(c, msg, len);

  if (r == CAIRN_ERR_NET || !c) return r;
  if (r != CAIRN_OK) {
    int fr = cairn_grpc_call_finish(
        c, r == CAIRN_ERR_TOO_BIG ? CAIRN_GRPC_RESOURCE_EXHAUSTED
                                  : CAIRN_GRPC_INTERNAL,
        r == CAIRN_ERR_TOO_BIG ? "response message too large"
                               : "cannot send response");
    (void)fr;
    return r;
  }
  return cairn_grpc_call_finish(c, CAIRN_GRPC_OK, NULL);
}

int cairn_grpc_call_reply_pb(struct cairn_grpc_call *c,
                             const ProtobufCMessage *m)
{
  size_t n;
  uint8_t *buf;
  int r;

  if (!c || !m) return cairn_seterr(CAIRN_ERR_INVAL, "missing message");
  n = protobuf_c_message_get_packed_size(m);
  if (n > CAIRN_GRPC_MSG_MAX_LIMIT) {
    (void)cairn_grpc_call_finish(c, CAIRN_GRPC_RESOURCE_EXHAUSTED,
                                 "response message too large");
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "message of %zu bytes", n);
  }
  buf = malloc(n ? n : 1);
  if (!buf) {
    (void)cairn_grpc_call_finish(c, CAIRN_GRPC_INTERNAL, "out of memory");
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  protobuf_c_message_pack(m, buf);
  r = cairn_grpc_call_reply(c, buf, n);
  cairn_freezero(buf, n);
  return r;
}

const char *cairn_grpc_call_path(const struct cairn_grpc_call *c)
{
  return c && c->path ? c->path : "";
}

const struct cairn_grpc_peer *cairn_grpc_call_peer(
    const struct cairn_grpc_call *c)
{
  return c ? &c->conn->peer : NULL;
}

const char *cairn_grpc_call_metadata(const struct cairn_grpc_call *c,
                                     const char *name, size_t *count)
{
  const char *first = NULL;
  size_t n = 0;

  if (c && name) {
    for (size_t i = 0; i < c->n_md; i++) {
      if (strcmp(c->md[i].name, name) != 0) continue;
      if (!first) first = c->md[i].value;
      n++;
    }
  }
  if (count) *count = n;
  return first;
}

int cairn_grpc_call_metadata_at(const struct cairn_grpc_call *c, size_t i,
                                struct cairn_grpc_md *md)
{
  if (!c || !md || i >= c->n_md)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no metadata entry %zu", i);
  *md = c->md[i];
  return CAIRN_OK;
}

void cairn_grpc_call_set_data(struct cairn_grpc_call *c, void *data)
{
  if (c) c->data = data;
}

void *cairn_grpc_call_get_data(const struct cairn_grpc_call *c)
{
  return c ? c->data : NULL;
}

void cairn_grpc_call_set_cancel(struct cairn_grpc_call *c,
                                cairn_grpc_cancel_fn fn, void *arg)
{
  if (!c) return;
  c->cancel_fn = fn;
  c->cancel_arg = arg;
}

/* ======================================================================
 * nghttp2 callbacks
 * ====================================================================== */

static struct cairn_grpc_call *stream_call(nghttp2_session *sess, int32_t id)
{
  return nghttp2_session_get_stream_user_data(sess, id);
}

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *frame,
                            void *user)
{
  struct conn *c = user;
  struct cairn_grpc_server *s = c->srv;
  struct cairn_grpc_call *call;

  if (frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  if (c->n_calls >= s->o.max_streams) {
    nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  call = calloc(1, sizeof *call);
  if (!call) return NGHTTP2_ERR_CALLBACK_FAILURE;
  call->conn = c;
  call->id = frame->hd.stream_id;
  call->state = CALL_RECV;
  cairn__grpc_deframer_init(&call->df, s->o.max_recv_msg);
  if (nghttp2_session_set_stream_user_data(sess, call->id, call) != 0) {
    free(call);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  call->next = c->calls;
  if (c->calls) c->calls->prev = call;
  c->calls = call;
  c->n_calls++;
  s->st.calls++;
  s->st.calls_total++;
  return 0;
}

static int name_is(const uint8_t *name, size_t len, const char *lit)
{
  return len == strlen(lit) && memcmp(name, lit, len) == 0;
}

static void md_add(struct cairn_grpc_call *call, const uint8_t *name,
                   size_t nlen, const uint8_t *value, size_t vlen)
{
  struct cairn_grpc_md *nmd;
  char *n, *v;

  /* HTTP/2 counts 32 bytes of overhead per header field. */
  call->md_bytes += nlen + vlen + 32;
  if (call->md_bytes > CAIRN_GRPC_METADATA_MAX ||
      call->n_md >= CAIRN_GRPC_METADATA_COUNT_MAX) {
    call->md_too_big = 1;
    return;
  }
  nmd = realloc(call->md, (call->n_md + 1) * sizeof *nmd);
  if (!nmd) {
    call->md_too_big = 1;
    return;
  }
  call->md = nmd;
  n = cairn_strndup((const char *)name, nlen);
  v = cairn_strndup((const char *)value, vlen);
  if (!n || !v) {
    free(n);
    free(v);
    call->md_too_big = 1;
    return;
  }
  call->md[call->n_md].name = n;
  call->md[call->n_md].value = v;
  call->n_md++;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *frame,
                     const uint8_t *name, size_t nlen, const uint8_t *value,
                     size_t vlen, uint8_t flags, void *user)
{
  struct conn *c = user;
  struct cairn_grpc_call *call;

  (void)flags;
  if (frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0; /* trailers from a client carry nothing we use */
  call = stream_call(sess, frame->hd.stream_id);
  if (!call) return 0;
  if (nlen > 0 && name[0] == ':') {
    if (name_is(name, nlen, ":path")) {
      free(call->path);
      call->path = NULL;
      if (vlen <= PATH_MAX_LEN) {
        call->path = cairn_strndup((const char *)value, vlen);
        if (!call->path) return NGHTTP2_ERR_CALLBACK_FAILURE;
        call->method = method_find(c->srv, call->path);
      }
    } else if (name_is(name, nlen, ":method")) {
      call->is_post = name_is(value, vlen, "POST");
    }
    return 0;
  }
  if (name_is(name, nlen, "content-type"))
    call->ct_ok = cairn__grpc_content_type_ok(value, vlen);
  md_add(call, name, nlen, value, vlen);
  return 0;
}

/* Request framing errors become statuses, as gRPC servers answer them. */
static void call_reject_body(struct cairn_grpc_call *call, int err)
{
  char msg[160];

  if (err == CAIRN_ERR_TOO_BIG) {
    snprintf(msg, sizeof msg, "received %s", cairn_errdetail());
    call_trailers_only(call, CAIRN_GRPC_RESOURCE_EXHAUSTED, msg);
  } else if (err == CAIRN_ERR_UNSUPPORTED) {
    call_trailers_only(call, CAIRN_GRPC_UNIMPLEMENTED,
                       "compressed messages are not supported");
  } else if (err == CAIRN_ERR_NOMEM) {
    call_trailers_only(call, CAIRN_GRPC_RESOURCE_EXHAUSTED, "out of memory");
  } else {
    call_trailers_only(call, CAIRN_GRPC_INTERNAL,
                       "malformed request: expected one gRPC message");
  }
}

static int on_request_msg(uint8_t *msg, size_t len, void *arg)
{
  struct cairn_grpc_call *call = arg;

  if (call->n_req > 0) {
    cairn_freezero(msg, len);
    return cairn_seterr(CAIRN_ERR_PARSE, "more than one request message");
  }
  call->req = msg;
  call->req_len = len;
  call->n_req = 1;
  return CAIRN_OK;
}

static int on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *user)
{
  struct cairn_grpc_call *call = stream_call(sess, id);
  int r;

  (void)flags;
  (void)user;
  if (!call || call->state != CALL_RECV) return 0;
  r = cairn__grpc_deframer_feed(&call->df, data, len, on_request_msg, call);
  if (r != CAIRN_OK) call_reject_body(call, r);
  return 0;
}

/* End of the request headers: refuse what is not a gRPC call early. */
static void check_headers(struct cairn_grpc_call *call)
{
  char msg[PATH_MAX_LEN + 32];

  if (!call->is_post) {
    call_http_error(call, "405");
  } else if (!call->ct_ok) {
    call_http_error(call, "415");
  } else if (call->md_too_big) {
    call_trailers_only(call, CAIRN_GRPC_RESOURCE_EXHAUSTED,
                       "request metadata too large");
  } else if (!call->method) {
    snprintf(msg, sizeof msg, "unknown method %s",
             call->path ? call->path : "(path too long)");
    call_trailers_only(call, CAIRN_GRPC_UNIMPLEMENTED, msg);
  }
}

/* The client half-closed: run the handler. */
static void dispatch(struct cairn_grpc_call *call)
{
  const struct method *m = call->method;

  if (cairn__grpc_deframer_partial(&call->df)) {
    call_trailers_only(call, CAIRN_GRPC_INTERNAL,
                       "request ended inside a message");
    return;
  }
  if (call->n_req != 1) {
    call_trailers_only(call, CAIRN_GRPC_INTERNAL,
                       "request carried no message");
    return;
  }
  call->state = CALL_APP;
  m->fn(call, call->req, call->req_len, m->arg);
  /* The call is still allocated here: streams only close in mem_send or
   * mem_recv, never inside an application call. */
  cairn_freezero(call->req, call->req_len);
  call->req = NULL;
  call->req_len = 0;
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *frame,
                         void *user)
{
  struct cairn_grpc_call *call;

  (void)user;
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
    return 0;
  call = stream_call(sess, frame->hd.stream_id);
  if (!call || call->state != CALL_RECV) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS &&
      frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    check_headers(call);
  if (call->state == CALL_RECV && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    dispatch(call);
  return 0;
}

static int on_frame_send(nghttp2_session *sess, const nghttp2_frame *frame,
                         void *user)
{
  struct cairn_grpc_call *call;

  (void)user;
  if (frame->hd.type != NGHTTP2_HEADERS ||
      !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  call = stream_call(sess, frame->hd.stream_id);
  if (!call) return 0;
  call->status_sent = 1;
  /* Answered before the client finished sending (an early error): tell
   * it to stop sending the rest of the request. */
  if (nghttp2_session_get_stream_remote_close(sess, call->id) == 0)
    nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, call->id,
                              NGHTTP2_NO_ERROR);
  return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code,
                           void *user)
{
  struct cairn_grpc_call *call = stream_call(sess, id);

  (void)user;
  if (!call) return 0;
  nghttp2_session_set_stream_user_data(sess, id, NULL);
  call_release(call, code != NGHTTP2_NO_ERROR);
  return 0;
}

static int on_h2_error(nghttp2_session *sess, int code, const char *msg,
                       size_t len, void *user)
{
  (void)sess;
  (void)user;
  CAIRN_LOGD(MOD, "HTTP/2 error %d: %.*s", code, (int)len, msg);
  return 0;
}

/* ======================================================================
 * Connections
 * ====================================================================== */

static void leave(struct cairn_grpc_server *s)
{
  if (--s->depth == 0 && s->free_pending && !s->closing) server_free_now(s);
}

static void release_if_done(struct cairn_grpc_server *s)
{
  struct method *m;

  if (!s->closing || s->handles > 0) return;
  while ((m = s->methods)) {
    s->methods = m->next;
    free(m->path);
    free(m);
  }
  nghttp2_session_callbacks_del(s->cbs);
  nghttp2_option_del(s->h2opt);
  free(s->sock_path);
  free(s);
}

static void on_conn_closed(uv_handle_t *h)
{
  struct conn *c = h->data;
  struct cairn_grpc_server *s = c->srv;

  close(c->fd);
  free(c);
  s->handles--;
  release_if_done(s);
}

static void conn_close(struct conn *c, int goaway)
{
  struct cairn_grpc_server *s = c->srv;
  struct cairn_grpc_call *call, *next;

  if (c->closing) return;
  c->closing = 1;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->st.conns--;
  if (goaway && c->sess) {
    /* Best effort: one non-blocking send, no waiting. */
    const uint8_t *data;
    ssize_t n;
    nghttp2_submit_goaway(c->sess, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->sess),
                          NGHTTP2_NO_ERROR, NULL, 0);
    while ((n = nghttp2_session_mem_send(c->sess, &data)) > 0 &&
           cairn__grpc_outq_pending(&c->out) < s->o.write_high_water)
      if (cairn__grpc_outq_append(&c->out, data, (size_t)n) != 0) break;
    (void)cairn__grpc_outq_send(&c->out, c->fd);
  }
  nghttp2_session_del(c->sess);
  c->sess = NULL;
  /* First mark every held call dead, so a cancel callback that touches a
   * sibling call gets CAIRN_ERR_NET instead of a freed session. */
  for (call = c->calls; call; call = call->next)
    if (call->state == CALL_APP) call->state = CALL_CANCELLED;
  for (call = c->calls; call; call = next) {
    next = call->next;
    call_release(call, 1);
  }
  cairn__grpc_outq_cleanup(&c->out);
  uv_close((uv_handle_t *)&c->poll, on_conn_closed);
}

static void conn_set_events(struct conn *c, int events)
{
  if (events == c->events) return;
  c->events = events;
  uv_poll_start(&c->poll, events, on_conn_poll);
}

/* Pulls what nghttp2 has to send (up to the high-water mark), writes what
 * the socket takes, and adjusts the poll events: while output is backed
 * up we neither read nor produce more. */
static void conn_flush(struct conn *c)
{
  struct cairn_grpc_server *s = c->srv;
  const uint8_t *data;
  ssize_t n;
  size_t pending;
  int ev;

  if (c->closing) return;
  c->dirty = 0;
  for (;;) {
    int drained = 0;
    while (cairn__grpc_outq_pending(&c->out) < s->o.write_high_water) {
      n = nghttp2_session_mem_send(c->sess, &data);
      if (n < 0) {
        CAIRN_LOGD(MOD, "mem_send: %s", nghttp2_strerror((int)n));
        conn_close(c, 0);
        return;
      }
      if (n == 0) {
        drained = 1;
        break;
      }
      if (cairn__grpc_outq_append(&c->out, data, (size_t)n) != 0) {
        conn_close(c, 0);
        return;
      }
    }
    if (cairn__grpc_outq_send(&c->out, c->fd) != 0) {
      conn_close(c, 0);
      return;
    }
    /* Stop when nghttp2 has nothing more or the socket is full. */
    if (drained || cairn__grpc_outq_pending(&c->out) > 0) break;
  }
  pending = cairn__grpc_outq_pending(&c->out);
  if (pending == 0 && !nghttp2_session_want_read(c->sess) &&
      !nghttp2_session_want_write(c->sess)) {
    conn_close(c, 0); /* GOAWAY exchanged, or a fatal protocol error */
    return;
  }
  ev = pending < s->o.write_high_water ? UV_READABLE : 0;
  if (pending) ev |= UV_WRITABLE;
  conn_set_events(c, ev);
}

static int conn_read(struct conn *c)
{
  uint8_t buf[READ_CHUNK];

  for (int i = 0; i < READS_PER_WAKEUP; i++) {
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    ssize_t rv;
    if (n == 0) return CAIRN_ERR_NET;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return CAIRN_OK;
      return CAIRN_ERR_IO;
    }
    rv = nghttp2_session_mem_recv(c->sess, buf, (size_t)n);
    cairn_memzero(buf, (size_t)n);
    if (rv < 0) {
      CAIRN_LOGD(MOD, "closing connection: %s", nghttp2_strerror((int)rv));
      return CAIRN_ERR_NET;
    }
    if ((size_t)n < sizeof buf) break;
  }
  return CAIRN_OK;
}

static void on_conn_poll(uv_poll_t *h, int status, int events)
{
  struct conn *c = h->data;
  struct cairn_grpc_server *s = c->srv;

  s->depth++;
  if (status < 0 ||
      ((events & UV_WRITABLE) && cairn__grpc_outq_send(&c->out, c->fd) != 0) ||
      ((events & UV_READABLE) && conn_read(c) != 0))
    conn_close(c, 0);
  else
    conn_flush(c);
  leave(s);
}

static int conn_new(struct cairn_grpc_server *s, int fd)
{
  struct conn *c = NULL;
  struct ucred cred;
  socklen_t clen = sizeof cred;
  nghttp2_settings_entry iv[3];
  int r = CAIRN_ERR_INTERNAL, rv;

  if (s->st.conns >= s->o.max_conns) {
    s->st.conns_rejected++;
    CAIRN_LOGW(MOD, "connection limit (%u) reached, refusing a client",
               s->o.max_conns);
    close(fd);
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "connection limit reached");
  }
  c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  c->srv = s;
  c->fd = fd;
  c->peer.pid = -1;
  c->peer.uid = (uid_t)-1;
  c->peer.gid = (gid_t)-1;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 &&
      clen == sizeof cred) {
    c->peer.pid = cred.pid;
    c->peer.uid = cred.uid;
    c->peer.gid = cred.gid;
  }
  if ((rv = nghttp2_session_server_new2(&c->sess, s->cbs, c, s->h2opt)) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, "nghttp2: %s", nghttp2_strerror(rv));
    goto fail;
  }
  /* The server preface: our SETTINGS must be the first frame we send. */
  iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
  iv[0].value = s->o.max_streams;
  iv[1].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[1].value = CAIRN_GRPC_METADATA_MAX;
  iv[2].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[2].value = STREAM_WINDOW;
  if (nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
      nghttp2_session_set_local_window_size(c->sess, NGHTTP2_FLAG_NONE, 0,
                                            CONN_WINDOW) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, "nghttp2 settings");
    goto fail;
  }
  if ((rv = uv_poll_init(s->loop, &c->poll, fd)) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "uv_poll_init: %s", uv_strerror(rv));
    goto fail;
  }
  c->poll.data = c;
  s->handles++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->st.conns++;
  s->st.conns_total++;
  c->events = UV_READABLE;
  uv_poll_start(&c->poll, UV_READABLE, on_conn_poll);
  conn_flush(c);
  return CAIRN_OK;

fail:
  nghttp2_session_del(c->sess);
  close(fd);
  free(c);
  return r;
}

int cairn__grpc_server_adopt(struct cairn_grpc_server *s, int fd)
{
  int fl;

  if (!s || s->closing || s->free_pending) {
    close(fd);
    return cairn_seterr(CAIRN_ERR_INVAL, "server is shutting down");
  }
  fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    close(fd);
    return cairn_seterr(CAIRN_ERR_IO, "fcntl: %s", strerror(errno));
  }
  return conn_new(s, fd);
}

/* ======================================================================
 * Listener
 * ====================================================================== */

static void on_listen_poll(uv_poll_t *h, int status, int events);

static void on_accept_timer(uv_timer_t *t)
{
  struct cairn_grpc_server *s = t->data;

  if (s->listening && !s->closing)
    uv_poll_start(&s->lpoll, UV_READABLE, on_listen_poll);
}

static void on_listen_poll(uv_poll_t *h, int status, int events)
{
  struct cairn_grpc_server *s = h->data;

  (void)events;
  if (status < 0) return;
  s->depth++;
  for (int i = 0; i < ACCEPTS_PER_WAKEUP && !s->closing; i++) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        /* The pending connection stays queued and the listener would stay
         * readable: pause accepting instead of spinning. */
        CAIRN_LOGW(MOD, "accept: %s; pausing for %d ms", strerror(errno),
                   ACCEPT_RETRY_MS);
        uv_poll_stop(&s->lpoll);
        uv_timer_start(&s->accept_timer, on_accept_timer, ACCEPT_RETRY_MS, 0);
      }
      break;
    }
    (void)conn_new(s, fd);
  }
  leave(s);
}

/* Removes a socket file nobody listens on. A live socket or a file of
 * another type is left alone. */
static int remove_stale_socket(const char *path)
{
  struct stat st;
  struct sockaddr_un sa;
  int fd, rv, err;

  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) return CAIRN_OK;
    return cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode))
    return cairn_seterr(CAIRN_ERR_EXISTS, "%s exists and is not a socket",
                        path);
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path));
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return cairn_seterr(CAIRN_ERR_IO, "socket: %s", strerror(errno));
  rv = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  err = errno;
  close(fd);
  if (rv == 0 || err == EAGAIN)
    return cairn_seterr(CAIRN_ERR_EXISTS,
                        "%s: another server is listening on it", path);
  if (err != ECONNREFUSED)
    return cairn_seterr(CAIRN_ERR_IO, "%s: %s", path, strerror(err));
  if (unlink(path) != 0 && errno != ENOENT)
    return cairn_seterr(CAIRN_ERR_IO, "cannot remove stale socket %s: %s",
                        path, strerror(errno));
  CAIRN_LOGI(MOD, "removed stale socket %s", path);
  return CAIRN_OK;
}

int cairn_grpc_server_listen(struct cairn_grpc_server *s, const char *path,
                             unsigned mode)
{
  struct sockaddr_un sa;
  struct stat st;
  size_t len;
  int fd = -1, r = CAIRN_ERR_INTERNAL, rv, bound = 0;

  if (!s || !path || !*path)
    return cairn_seterr(CAIRN_ERR_INVAL, "missing server or socket path");
  if (s->listening || s->closing || s->free_pending)
    return cairn_seterr(CAIRN_ERR_INVAL, "server already listening");
  if (mode & ~0777u)
    return cairn_seterr(CAIRN_ERR_INVAL, "socket mode %o is not 0..0777",
                        mode);
  len = strlen(path);
  if (len > CAIRN_GRPC_SOCK_PATH_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG,
                        "socket path is %zu bytes, the limit is %d: %s", len,
                        CAIRN_GRPC_SOCK_PATH_MAX, path);
  if ((r = remove_stale_socket(path)) != 0) return r;

  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, len);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "socket: %s", strerror(errno));
    goto out;
  }
  /* Linux creates the socket file with the socket inode's mode (minus the
   * umask): set it first so the file is never looser than asked, then
   * chmod the file to the exact mode. */
  if (fchmod(fd, mode) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "fchmod socket: %s", strerror(errno));
    goto out;
  }
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    r = cairn_seterr(errno == EADDRINUSE ? CAIRN_ERR_EXISTS : CAIRN_ERR_IO,
                     "bind %s: %s", path, strerror(errno));
    goto out;
  }
  bound = 1;
  if (chmod(path, mode) != 0 || lstat(path, &st) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "chmod %s: %s", path, strerror(errno));
    goto out;
  }
  if (listen(fd, 128) != 0) {
    r = cairn_seterr(CAIRN_ERR_IO, "listen %s: %s", path, strerror(errno));
    goto out;
  }
  if (!(s->sock_path = cairn_strdup(path))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  if ((rv = uv_poll_init(s->loop, &s->lpoll, fd)) != 0) {
    CAIRN_SAFEFREE(&s->sock_path);
    r = cairn_seterr(CAIRN_ERR_IO, "uv_poll_init: %s", uv_strerror(rv));
    goto out;
  }
  s->handles++;
  s->lpoll.data = s;
  s->lfd = fd;
  s->sock_dev = st.st_dev;
  s->sock_ino = st.st_ino;
  s->listening = 1;
  uv_poll_start(&s->lpoll, UV_READABLE, on_listen_poll);
  CAIRN_LOGD(MOD, "listening on %s (mode %04o)", path, mode);
  fd = -1;
  r = CAIRN_OK;
out:
  if (fd >= 0) {
    close(fd);
    if (bound) unlink(path);
  }
  return r;
}

/* ======================================================================
 * Server object
 * ====================================================================== */

static void on_prepare(uv_prepare_t *p)
{
  struct cairn_grpc_server *s = p->data;
  struct conn *c, *next;

  s->depth++;
  /* A flush closes at most its own connection; cancel callbacks run from
   * there may mark others dirty, hence the second look. */
  for (c = s->conns; c; c = next) {
    next = c->next;
    if (c->dirty) conn_flush(c);
  }
  for (c = s->conns; c; c = c->next)
    if (c->dirty) break;
  if (!c && s->prep_active) {
    uv_prepare_stop(&s->prep);
    s->prep_active = 0;
  }
  leave(s);
}

static void on_server_handle_closed(uv_handle_t *h)
{
  struct cairn_grpc_server *s = h->data;

  s->handles--;
  release_if_done(s);
}

static void on_listener_closed(uv_handle_t *h)
{
  struct cairn_grpc_server *s = h->data;

  close(s->lfd);
  s->lfd = -1;
  on_server_handle_closed(h);
}

int cairn_grpc_server_new(uv_loop_t *loop,
                          const struct cairn_grpc_server_opts *opts,
                          struct cairn_grpc_server **out)
{
  struct cairn_grpc_server *s = NULL;
  nghttp2_session_callbacks *cbs = NULL;
  nghttp2_option *h2opt = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (out) *out = NULL;
  if (!loop || !out) return cairn_seterr(CAIRN_ERR_INVAL, "missing loop");
  s = calloc(1, sizeof *s);
  if (!s) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if ((r = opts_fix(&s->o, opts)) != 0) goto fail;
  s->loop = loop;
  s->lfd = -1;
  if (nghttp2_session_callbacks_new(&cbs) != 0 ||
      nghttp2_option_new(&h2opt) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto fail;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                          on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
                                                            on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
                                                         on_stream_close);
  nghttp2_session_callbacks_set_error_callback2(cbs, on_h2_error);
#ifdef CAIRN_HAVE_NGHTTP2_RESET_RATE_LIMIT
  /* Rapid reset (CVE-2023-44487): at most 1000 RST_STREAMs in a burst,
   * refilled at 33 per second; past that the connection gets GOAWAY. */
  nghttp2_option_set_stream_reset_rate_limit(h2opt, 1000, 33);
#endif
#ifdef CAIRN_HAVE_NGHTTP2_MAX_CONTINUATIONS
  /* CONTINUATION flood (CVE-2024-28182). */
  nghttp2_option_set_max_continuations(h2opt, 8);
#endif
  s->cbs = cbs;
  s->h2opt = h2opt;
  cbs = NULL;
  h2opt = NULL;
  uv_prepare_init(loop, &s->prep);
  s->prep.data = s;
  s->handles++;
  uv_timer_init(loop, &s->accept_timer);
  s->accept_timer.data = s;
  s->handles++;
  *out = s;
  return CAIRN_OK;

fail:
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(h2opt);
  free(s);
  return r;
}

void cairn_grpc_server_get_stats(const struct cairn_grpc_server *s,
                                 struct cairn_grpc_server_stats *st)
{
  if (!st) return;
  if (!s) {
    memset(st, 0, sizeof *st);
    return;
  }
  *st = s->st;
}

static void server_free_now(struct cairn_grpc_server *s)
{
  struct stat st;

  s->closing = 1;
  s->depth++; /* cancel callbacks below may call cairn_grpc_server_free() */
  if (s->listening) {
    s->listening = 0;
    uv_poll_stop(&s->lpoll);
    uv_close((uv_handle_t *)&s->lpoll, on_listener_closed);
    if (s->sock_path && lstat(s->sock_path, &st) == 0 &&
        st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
      unlink(s->sock_path);
  }
  uv_close((uv_handle_t *)&s->accept_timer, on_server_handle_closed);
  uv_close((uv_handle_t *)&s->prep, on_server_handle_closed);
  s->prep_active = 0;
  while (s->conns) conn_close(s->conns, 1);
  s->depth--;
}

void cairn_grpc_server_free(struct cairn_grpc_server *s)
{
  if (!s || s->closing || s->free_pending) return;
  if (s->depth > 0) {
    s->free_pending = 1; /* inside one of our callbacks: finish there */
    return;
  }
  server_free_now(s);
}
