/* grpc_client.c - a small blocking gRPC client for command-line tools:
 * one nghttp2 client session on a Unix socket, driven with poll(2), one
 * call at a time. Everything the server sends is capped: header bytes,
 * grpc-message length, message size, and the call's time. */
#include "grpc_int.h"

#include "cairn/err.h"
#include "cairn/util.h"

#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define STREAM_WINDOW (1 << 20)
#define CONN_WINDOW (4 << 20)
#define READ_CHUNK 16384
/* Transport headers we send on top of the caller's metadata. */
#define BASE_HEADERS 9
#define MD_MAX 64

struct ccall {
  int32_t id;
  int streaming;
  size_t max_msgs;
  cairn_grpc_msg_fn fn;
  void *fn_arg;
  struct cairn_grpc_reply *r;
  /* request body: prefix + message */
  uint8_t *body;
  size_t body_len, body_off;
  /* response */
  struct cairn__grpc_deframer df;
  size_t hdr_bytes;
  int http_status;
  unsigned ct_ok : 1, have_status : 1, stop : 1, closed : 1;
  int status;
  char *raw_msg;   /* grpc-message as received (decoded at the end) */
  uint32_t close_code;
  int err;         /* first stream-level error, CAIRN_OK if none */
  char errmsg[256];
};

struct cairn_grpc_client {
  int fd;
  nghttp2_session *sess;
  struct cairn_grpc_client_opts o;
  struct cairn__grpc_outq out;
  struct ccall *cur;
  int broken;
};

void cairn_grpc_client_opts_init(struct cairn_grpc_client_opts *o)
{
  o->max_recv_msg = CAIRN_GRPC_MSG_MAX_DEFAULT;
  o->max_send_msg = CAIRN_GRPC_MSG_MAX_DEFAULT;
}

void cairn_grpc_reply_cleanup(struct cairn_grpc_reply *r)
{
  if (!r) return;
  cairn_freezero(r->data, r->len);
  free(r->message);
  memset(r, 0, sizeof *r);
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records the first stream-level error of the current call. */
static void call_fail(struct ccall *cc, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void call_fail(struct ccall *cc, int code, const char *fmt, ...)
{
  va_list ap;

  if (cc->err) return;
  cc->err = code;
  va_start(ap, fmt);
  vsnprintf(cc->errmsg, sizeof cc->errmsg, fmt, ap);
  va_end(ap);
}

/* ---- nghttp2 callbacks ---- */

static struct ccall *our_call(struct cairn_grpc_client *c, int32_t id)
{
  return c->cur && c->cur->id == id ? c->cur : NULL;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *frame,
                     const uint8_t *name, size_t nlen, const uint8_t *value,
                     size_t vlen, uint8_t flags, void *user)
{
  struct ccall *cc = our_call(user, frame->hd.stream_id);

  (void)sess;
  (void)flags;
  if (!cc || frame->hd.type != NGHTTP2_HEADERS) return 0;
  cc->hdr_bytes += nlen + vlen + 32;
  if (cc->hdr_bytes > CAIRN_GRPC_METADATA_MAX) {
    call_fail(cc, CAIRN_ERR_TOO_BIG, "response headers exceed %d bytes",
              CAIRN_GRPC_METADATA_MAX);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
    if (cairn__grpc_parse_http_status(value, vlen, &cc->http_status) != 0)
      call_fail(cc, CAIRN_ERR_PARSE, "bad :status from server");
  } else if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
    cc->ct_ok = cairn__grpc_content_type_ok(value, vlen);
  } else if (nlen == 11 && memcmp(name, "grpc-status", 11) == 0) {
    if (cc->have_status)
      call_fail(cc, CAIRN_ERR_PARSE, "grpc-status sent twice");
    else if (cairn__grpc_parse_status(value, vlen, &cc->status) != 0)
      call_fail(cc, CAIRN_ERR_PARSE, "bad grpc-status from server");
    cc->have_status = 1;
  } else if (nlen == 12 && memcmp(name, "grpc-message", 12) == 0) {
    free(cc->raw_msg);
    cc->raw_msg = NULL;
    if (cairn__grpc_pct_decode(value, vlen, &cc->raw_msg) != 0)
      call_fail(cc, CAIRN_ERR_NOMEM, "out of memory");
  }
  return 0;
}

static int on_response_msg(uint8_t *msg, size_t len, void *arg)
{
  struct ccall *cc = arg;
  struct cairn_grpc_reply *r = cc->r;
  int stop = 0;

  r->messages++;
  if (!cc->streaming) {
    if (r->data) {
      cairn_freezero(msg, len);
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "more than one message in a unary response");
    }
    r->data = msg;
    r->len = len;
    return CAIRN_OK;
  }
  if (cc->fn) stop = cc->fn(msg, len, cc->fn_arg) != 0;
  cairn_freezero(msg, len);
  if (cc->max_msgs && r->messages >= cc->max_msgs) stop = 1;
  if (stop) {
    cc->stop = 1;
    return CAIRN_ERR_INTERNAL; /* stops the deframer; not reported */
  }
  return CAIRN_OK;
}

static int on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *user)
{
  struct ccall *cc = our_call(user, id);
  int r;

  (void)sess;
  (void)flags;
  if (!cc || cc->stop || cc->err) return 0;
  r = cairn__grpc_deframer_feed(&cc->df, data, len, on_response_msg, cc);
  if (r != CAIRN_OK && !cc->stop) {
    if (r == CAIRN_ERR_TOO_BIG)
      call_fail(cc, r, "response %s", cairn_errdetail());
    else if (r == CAIRN_ERR_UNSUPPORTED)
      call_fail(cc, CAIRN_ERR_PARSE, "server sent a compressed message");
    else
      call_fail(cc, r == CAIRN_ERR_NOMEM ? r : CAIRN_ERR_PARSE,
                "bad response framing: %s", cairn_errdetail());
  }
  return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code,
                           void *user)
{
  struct ccall *cc = our_call(user, id);

  (void)sess;
  if (cc) {
    cc->closed = 1;
    cc->close_code = code;
  }
  return 0;
}

static ssize_t body_read(nghttp2_session *sess, int32_t id, uint8_t *buf,
                         size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *user)
{
  struct ccall *cc = source->ptr;
  size_t n = cc->body_len - cc->body_off;

  (void)sess;
  (void)id;
  (void)user;
  if (n > length) n = length;
  memcpy(buf, cc->body + cc->body_off, n);
  cc->body_off += n;
  if (cc->body_off == cc->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* ---- connection ---- */

static int client_fail(struct cairn_grpc_client *c, int code, const char *what)
{
  c->broken = 1;
  return cairn_seterr(code, "%s", what);
}

/* Moves what nghttp2 has to send into the output queue and writes what
 * the socket takes. */
static int client_flush(struct cairn_grpc_client *c)
{
  const uint8_t *data;
  ssize_t n;

  while (cairn__grpc_outq_pending(&c->out) < (1u << 20)) {
    n = nghttp2_session_mem_send(c->sess, &data);
    if (n < 0) {
      c->broken = 1;
      return cairn_seterr(CAIRN_ERR_NET, "HTTP/2: %s",
                          nghttp2_strerror((int)n));
    }
    if (n == 0) break;
    if (cairn__grpc_outq_append(&c->out, data, (size_t)n) != 0) {
      c->broken = 1;
      return CAIRN_ERR_NOMEM;
    }
  }
  if (cairn__grpc_outq_send(&c->out, c->fd) != 0) {
    char why[128];
    /* Copy first: the detail must not be both source and target. */
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    c->broken = 1;
    return cairn_seterr(CAIRN_ERR_NET, "connection to the server lost: %s",
                        why);
  }
  return CAIRN_OK;
}

/* One round: flush, wait for the socket until deadline, read. */
static int client_pump(struct cairn_grpc_client *c, int64_t deadline)
{
  struct pollfd pfd;
  uint8_t buf[READ_CHUNK];
  int64_t left;
  int r, pr;

  if ((r = client_flush(c)) != 0) return r;
  left = deadline - now_ms();
  if (left <= 0) return cairn_seterr(CAIRN_ERR_TIMEOUT, "deadline exceeded");
  pfd.fd = c->fd;
  pfd.events = POLLIN;
  if (cairn__grpc_outq_pending(&c->out) > 0 ||
      nghttp2_session_want_write(c->sess))
    pfd.events |= POLLOUT;
  pfd.revents = 0;
  pr = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
  if (pr < 0) {
    if (errno == EINTR) return CAIRN_OK;
    return client_fail(c, CAIRN_ERR_IO, "poll failed");
  }
  if (pr == 0) return CAIRN_OK; /* the caller checks the deadline */
  if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0)
      return client_fail(c, CAIRN_ERR_NET, "server closed the connection");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        return CAIRN_OK;
      c->broken = 1;
      return cairn_seterr(CAIRN_ERR_NET, "recv: %s", strerror(errno));
    }
    ssize_t rv = nghttp2_session_mem_recv(c->sess, buf, (size_t)n);
    cairn_memzero(buf, (size_t)n);
    if (rv < 0) {
      c->broken = 1;
      return cairn_seterr(CAIRN_ERR_NET, "HTTP/2 protocol error: %s",
                          nghttp2_strerror((int)rv));
    }
  }
  return CAIRN_OK;
}

/* Sets up the HTTP/2 session on a connected socket (owned from here on,
 * also on failure) and sends the client preface. */
static int client_new(int fd, const struct cairn_grpc_client_opts *opts,
                      struct cairn_grpc_client **out)
{
  struct cairn_grpc_client *c = NULL;
  nghttp2_session_callbacks *cbs = NULL;
  nghttp2_settings_entry iv[3];
  int r = CAIRN_ERR_INTERNAL;

  c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  c->fd = fd;
  cairn_grpc_client_opts_init(&c->o);
  if (opts) {
    if (opts->max_recv_msg) c->o.max_recv_msg = opts->max_recv_msg;
    if (opts->max_send_msg) c->o.max_send_msg = opts->max_send_msg;
  }
  if (c->o.max_recv_msg > CAIRN_GRPC_MSG_MAX_LIMIT ||
      c->o.max_send_msg > CAIRN_GRPC_MSG_MAX_LIMIT) {
    r = cairn_seterr(CAIRN_ERR_INVAL, "message cap above %u bytes",
                     CAIRN_GRPC_MSG_MAX_LIMIT);
    goto out;
  }
  if (nghttp2_session_callbacks_new(&cbs) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
                                                            on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
                                                         on_stream_close);
  if (nghttp2_session_client_new(&c->sess, cbs, c) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  iv[0].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
  iv[0].value = 0;
  iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[1].value = STREAM_WINDOW;
  iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[2].value = CAIRN_GRPC_METADATA_MAX;
  if (nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
      nghttp2_session_set_local_window_size(c->sess, NGHTTP2_FLAG_NONE, 0,
                                            CONN_WINDOW) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, "nghttp2 settings");
    goto out;
  }
  if ((r = client_flush(c)) != 0) goto out;
  *out = c;
  c = NULL;
  r = CAIRN_OK;
out:
  nghttp2_session_callbacks_del(cbs);
  cairn_grpc_client_free(c);
  return r;
}

int cairn_grpc_client_connect(const char *path, int timeout_ms,
                              const struct cairn_grpc_client_opts *opts,
                              struct cairn_grpc_client **out)
{
  struct sockaddr_un sa;
  int64_t deadline;
  size_t len;
  int fd, e;

  if (out) *out = NULL;
  if (!path || !out || timeout_ms <= 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "missing path or timeout");
  if (strncmp(path, "unix://", 7) == 0) path += 7;
  len = strlen(path);
  if (len == 0) return cairn_seterr(CAIRN_ERR_INVAL, "empty socket path");
  if (len > CAIRN_GRPC_SOCK_PATH_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "socket path too long: %s", path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return cairn_seterr(CAIRN_ERR_IO, "socket: %s", strerror(errno));
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, len);
  deadline = now_ms() + timeout_ms;
  /* A non-blocking Unix connect completes at once or fails with EAGAIN
   * while the listener's backlog is full. */
  while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN && now_ms() < deadline) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
      continue;
    }
    close(fd);
    if (e == EAGAIN)
      return cairn_seterr(CAIRN_ERR_TIMEOUT, "connect %s: backlog full",
                          path);
    if (e == ENOENT)
      return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no socket at %s", path);
    if (e == EACCES || e == EPERM)
      return cairn_seterr(CAIRN_ERR_PERM, "connect %s: %s", path,
                          strerror(e));
    return cairn_seterr(CAIRN_ERR_IO, "connect %s: %s", path, strerror(e));
  }
  return client_new(fd, opts, out);
}

int cairn__grpc_client_adopt(int fd, const struct cairn_grpc_client_opts *o,
                             struct cairn_grpc_client **out)
{
  int fl;

  *out = NULL;
  fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    close(fd);
    return cairn_seterr(CAIRN_ERR_IO, "fcntl: %s", strerror(errno));
  }
  return client_new(fd, o, out);
}

void cairn_grpc_client_free(struct cairn_grpc_client *c)
{
  if (!c) return;
  if (c->sess && !c->broken) {
    /* Polite close: GOAWAY, one non-blocking attempt to send it. */
    nghttp2_submit_goaway(c->sess, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR,
                          NULL, 0);
    (void)client_flush(c);
  }
  nghttp2_session_del(c->sess);
  if (c->fd >= 0) close(c->fd);
  cairn__grpc_outq_cleanup(&c->out);
  free(c);
}

int cairn__grpc_client_fd(const struct cairn_grpc_client *c)
{
  return c ? c->fd : -1;
}

/* ---- calls ---- */

static int build_headers(nghttp2_nv *nv, const char *path,
                         const struct cairn_grpc_md *md, size_t n_md,
                         const char *timeout)
{
  size_t n = 0;

#define ADD(k, v)                                                          \
  do {                                                                     \
    nv[n].name = (uint8_t *)(k);                                           \
    nv[n].value = (uint8_t *)(v);                                          \
    nv[n].namelen = strlen(k);                                             \
    nv[n].valuelen = strlen(v);                                            \
    nv[n].flags = NGHTTP2_NV_FLAG_NONE;                                    \
    n++;                                                                   \
  } while (0)
  ADD(":method", "POST");
  ADD(":scheme", "http");
  ADD(":path", path);
  ADD(":authority", "localhost");
  ADD("content-type", "application/grpc");
  ADD("te", "trailers");
  ADD("user-agent", "cairn-grpc/0.1");
  ADD("grpc-timeout", timeout);
  for (size_t i = 0; i < n_md; i++) ADD(md[i].name, md[i].value);
#undef ADD
  return (int)n;
}

static int check_request(const char *path, const struct cairn_grpc_md *md,
                         size_t n_md)
{
  size_t bytes = 0;

  if (!path || path[0] != '/' || strlen(path) > 1024 ||
      !cairn__grpc_md_value_ok(path))
    return cairn_seterr(CAIRN_ERR_INVAL, "bad method path");
  if (n_md > MD_MAX || (n_md && !md))
    return cairn_seterr(CAIRN_ERR_INVAL, "too many metadata entries");
  for (size_t i = 0; i < n_md; i++) {
    if (!cairn__grpc_md_name_ok(md[i].name))
      return cairn_seterr(CAIRN_ERR_INVAL, "bad metadata name '%s'",
                          md[i].name ? md[i].name : "(null)");
    if (!cairn__grpc_md_value_ok(md[i].value))
      return cairn_seterr(CAIRN_ERR_INVAL, "bad value for metadata '%s'",
                          md[i].name);
    bytes += strlen(md[i].name) + strlen(md[i].value) + 32;
  }
  if (bytes > CAIRN_GRPC_METADATA_MAX / 2)
    return cairn_seterr(CAIRN_ERR_INVAL, "request metadata too large");
  return CAIRN_OK;
}

/* Cancels the stream (best effort) when we leave a call early. */
static void call_cancel(struct cairn_grpc_client *c, struct ccall *cc)
{
  if (cc->closed || c->broken) return;
  nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, cc->id,
                            NGHTTP2_CANCEL);
  (void)client_flush(c);
}

/* Turns the state of a closed (or stopped) call into the reply. */
static int call_result(struct ccall *cc)
{
  struct cairn_grpc_reply *r = cc->r;

  if (cc->err) return cairn_seterr(cc->err, "%s", cc->errmsg);
  if (cc->stop && !cc->have_status) {
    r->status = CAIRN_GRPC_CANCELLED;
    r->finished = 0;
    return CAIRN_OK;
  }
  if (cc->have_status) {
    if (cc->http_status != 200 || !cc->ct_ok)
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "not a gRPC response (HTTP status %d)",
                          cc->http_status);
    r->status = cc->status > CAIRN_GRPC_UNAUTHENTICATED ? CAIRN_GRPC_UNKNOWN
                                                        : cc->status;
    r->finished = 1;
    if (cc->raw_msg) {
      r->message = cc->raw_msg;
      cc->raw_msg = NULL;
    }
    if (r->status != CAIRN_GRPC_OK) {
      cairn_freezero(r->data, r->len);
      r->data = NULL;
      r->len = 0;
    } else if (!cc->streaming && !r->data) {
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "unary response OK without a message");
    }
    if (cairn__grpc_deframer_partial(&cc->df))
      return cairn_seterr(CAIRN_ERR_PARSE, "response ended inside a message");
    return CAIRN_OK;
  }
  if (cc->http_status && cc->http_status != 200) {
    char m[64];
    r->status = cairn__grpc_http_to_status(cc->http_status);
    r->finished = 1;
    snprintf(m, sizeof m, "HTTP status %d", cc->http_status);
    r->message = cairn_strdup(m);
    cairn_freezero(r->data, r->len);
    r->data = NULL;
    r->len = 0;
    return r->message ? CAIRN_OK : cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  if (cc->close_code != NGHTTP2_NO_ERROR)
    return cairn_seterr(CAIRN_ERR_NET,
                        "stream reset by the server (HTTP/2 error %u)",
                        cc->close_code);
  return cairn_seterr(CAIRN_ERR_PARSE, "response without grpc-status");
}

static int client_call(struct cairn_grpc_client *c, const char *path,
                       const struct cairn_grpc_md *md, size_t n_md,
                       const void *req, size_t req_len, int timeout_ms,
                       int streaming, size_t max_msgs, cairn_grpc_msg_fn fn,
                       void *arg, struct cairn_grpc_reply *r)
{
  struct ccall cc;
  nghttp2_nv nv[BASE_HEADERS + MD_MAX];
  nghttp2_data_provider prd;
  char tmo[16];
  int64_t deadline;
  int n, rc = CAIRN_ERR_INTERNAL;

  if (r) memset(r, 0, sizeof *r);
  if (!c || !r || (!req && req_len) || timeout_ms <= 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "missing client, reply or timeout");
  if (c->broken)
    return cairn_seterr(CAIRN_ERR_NET, "connection is no longer usable");
  if ((rc = check_request(path, md, n_md)) != 0) return rc;
  if (req_len > c->o.max_send_msg)
    return cairn_seterr(CAIRN_ERR_TOO_BIG,
                        "request message larger than max (%zu vs. %zu)",
                        req_len, c->o.max_send_msg);

  memset(&cc, 0, sizeof cc);
  cc.streaming = streaming;
  cc.max_msgs = max_msgs;
  cc.fn = fn;
  cc.fn_arg = arg;
  cc.r = r;
  cairn__grpc_deframer_init(&cc.df, c->o.max_recv_msg);
  cc.body_len = CAIRN__GRPC_PREFIX + req_len;
  cc.body = malloc(cc.body_len);
  if (!cc.body) {
    rc = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  cairn__grpc_prefix(cc.body, req_len);
  if (req_len) memcpy(cc.body + CAIRN__GRPC_PREFIX, req, req_len);

  cairn__grpc_timeout_format(timeout_ms, tmo);
  n = build_headers(nv, path, md, n_md, tmo);
  prd.source.ptr = &cc;
  prd.read_callback = body_read;
  cc.id = nghttp2_submit_request(c->sess, NULL, nv, (size_t)n, &prd, NULL);
  if (cc.id < 0) {
    rc = cairn_seterr(CAIRN_ERR_NET, "cannot start call: %s",
                      nghttp2_strerror(cc.id));
    goto out;
  }
  c->cur = &cc;
  deadline = now_ms() + timeout_ms;
  rc = CAIRN_OK;
  while (!cc.closed && !cc.stop && !cc.err) {
    if ((rc = client_pump(c, deadline)) != 0) break;
    if (!cc.closed && !cc.stop && !cc.err && now_ms() >= deadline) {
      rc = cairn_seterr(CAIRN_ERR_TIMEOUT, "deadline exceeded after %d ms",
                        timeout_ms);
      break;
    }
  }
  if (!cc.closed) call_cancel(c, &cc);
  c->cur = NULL;
  if (rc == CAIRN_OK) rc = call_result(&cc);

out:
  c->cur = NULL;
  cairn__grpc_deframer_cleanup(&cc.df);
  cairn_freezero(cc.body, cc.body_len);
  free(cc.raw_msg);
  if (!r->message && !(r->message = cairn_strdup("")) && rc == CAIRN_OK)
    rc = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if (streaming || rc != CAIRN_OK) {
    cairn_freezero(r->data, r->len);
    r->data = NULL;
    r->len = 0;
  }
  return rc;
}

int cairn_grpc_client_unary(struct cairn_grpc_client *c, const char *path,
                            const struct cairn_grpc_md *md, size_t n_md,
                            const void *req, size_t req_len, int timeout_ms,
                            struct cairn_grpc_reply *r)
{
  return client_call(c, path, md, n_md, req, req_len, timeout_ms, 0, 0, NULL,
                     NULL, r);
}

int cairn_grpc_client_stream(struct cairn_grpc_client *c, const char *path,
                             const struct cairn_grpc_md *md, size_t n_md,
                             const void *req, size_t req_len, int timeout_ms,
                             size_t max_msgs, cairn_grpc_msg_fn fn, void *arg,
                             struct cairn_grpc_reply *r)
{
  return client_call(c, path, md, n_md, req, req_len, timeout_ms, 1,
                     max_msgs, fn, arg, r);
}
