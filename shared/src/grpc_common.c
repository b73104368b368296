/* grpc_common.c - parts of the gRPC layer used by both the server and the
 * client: status names, message (un)framing, grpc-message encoding, header
 * checks and the non-blocking output queue. */
#include "grpc_int.h"

#include "cairn/err.h"
#include "cairn/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *const status_names[] = {
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
};

const char *cairn_grpc_status_name(int status)
{
  if (status < 0 || status > CAIRN_GRPC_UNAUTHENTICATED) return "UNKNOWN_CODE";
  return status_names[status];
}

/* ---- un-framing ---- */

void cairn__grpc_deframer_init(struct cairn__grpc_deframer *d, size_t max)
{
  memset(d, 0, sizeof *d);
  d->max = max;
  cairn_buf_init(&d->body, max);
}

int cairn__grpc_deframer_partial(const struct cairn__grpc_deframer *d)
{
  return d->hdr_len > 0;
}

void cairn__grpc_deframer_cleanup(struct cairn__grpc_deframer *d)
{
  cairn_buf_cleanup_secure(&d->body);
  d->hdr_len = 0;
  d->want = 0;
}

/* Hands the completed body to fn and resets for the next prefix. */
static int deliver(struct cairn__grpc_deframer *d, cairn__grpc_msg_fn fn,
                   void *arg)
{
  size_t len;
  uint8_t *msg = cairn_buf_steal(&d->body, &len);

  d->hdr_len = 0;
  cairn_buf_init(&d->body, d->max);
  if (!msg) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  return fn(msg, len, arg);
}

int cairn__grpc_deframer_feed(struct cairn__grpc_deframer *d,
                              const uint8_t *p, size_t n,
                              cairn__grpc_msg_fn fn, void *arg)
{
  struct cairn_rd rd;
  const uint8_t *chunk;
  int r;

  if (d->err) return d->err;
  cairn_rd_init(&rd, p, n);
  while (cairn_rd_left(&rd) > 0) {
    if (d->hdr_len < CAIRN__GRPC_PREFIX) {
      size_t take = CAIRN__GRPC_PREFIX - d->hdr_len;
      if (take > cairn_rd_left(&rd)) take = cairn_rd_left(&rd);
      if ((r = cairn_rd_bytes(&rd, take, &chunk)) != 0) goto fail;
      memcpy(d->hdr + d->hdr_len, chunk, take);
      d->hdr_len += take;
      if (d->hdr_len < CAIRN__GRPC_PREFIX) break;
      if (d->hdr[0] == 1) {
        r = cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                         "compressed gRPC messages are not supported");
        goto fail;
      }
      if (d->hdr[0] != 0) {
        r = cairn_seterr(CAIRN_ERR_PARSE, "bad gRPC message flag 0x%02x",
                         d->hdr[0]);
        goto fail;
      }
      d->want = (size_t)d->hdr[1] << 24 | (size_t)d->hdr[2] << 16 |
                (size_t)d->hdr[3] << 8 | d->hdr[4];
      if (d->want > d->max) {
        r = cairn_seterr(CAIRN_ERR_TOO_BIG,
                         "message larger than max (%zu vs. %zu)", d->want,
                         d->max);
        goto fail;
      }
      if (d->want == 0 && (r = deliver(d, fn, arg)) != 0) goto fail;
      continue;
    }
    size_t take = d->want < cairn_rd_left(&rd) ? d->want : cairn_rd_left(&rd);
    if ((r = cairn_rd_bytes(&rd, take, &chunk)) != 0 ||
        (r = cairn_buf_append(&d->body, chunk, take)) != 0)
      goto fail;
    d->want -= take;
    if (d->want == 0 && (r = deliver(d, fn, arg)) != 0) goto fail;
  }
  return CAIRN_OK;

fail:
  d->err = r;
  cairn__grpc_deframer_cleanup(d);
  return r;
}

void cairn__grpc_prefix(uint8_t out[CAIRN__GRPC_PREFIX], size_t len)
{
  out[0] = 0;
  out[1] = (uint8_t)(len >> 24);
  out[2] = (uint8_t)(len >> 16);
  out[3] = (uint8_t)(len >> 8);
  out[4] = (uint8_t)len;
}

/* ---- grpc-message ---- */

size_t cairn__grpc_pct_encode(const char *s, char *out)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;

  for (size_t i = 0; s && s[i] && i < CAIRN_GRPC_STATUS_MSG_MAX; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch >= 0x20 && ch <= 0x7e && ch != '%') {
      out[o++] = (char)ch;
    } else {
      out[o++] = '%';
      out[o++] = hex[ch >> 4];
      out[o++] = hex[ch & 15];
    }
  }
  out[o] = 0;
  return o;
}

static int hexval(uint8_t c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int cairn__grpc_pct_decode(const uint8_t *v, size_t n, char **out)
{
  struct cairn_rd rd;
  char *s;
  size_t o = 0;

  *out = NULL;
  s = malloc(CAIRN_GRPC_STATUS_MSG_MAX + 1);
  if (!s) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  cairn_rd_init(&rd, v, n);
  while (o < CAIRN_GRPC_STATUS_MSG_MAX && cairn_rd_left(&rd) > 0) {
    uint8_t c, h1, h2;
    (void)cairn_rd_u8(&rd, &c);
    if (c == '%' && cairn_rd_left(&rd) >= 2) {
      struct cairn_rd peek = rd;
      (void)cairn_rd_u8(&peek, &h1);
      (void)cairn_rd_u8(&peek, &h2);
      if (hexval(h1) >= 0 && hexval(h2) >= 0) {
        c = (uint8_t)(hexval(h1) << 4 | hexval(h2));
        rd = peek;
      }
    }
    s[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  s[o] = 0;
  *out = s;
  return CAIRN_OK;
}

/* ---- header values ---- */

int cairn__grpc_parse_status(const uint8_t *v, size_t n, int *status)
{
  int x = 0;

  if (n == 0 || n > 3)
    return cairn_seterr(CAIRN_ERR_PARSE, "bad grpc-status length");
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return cairn_seterr(CAIRN_ERR_PARSE, "grpc-status is not a number");
    x = x * 10 + (v[i] - '0');
  }
  *status = x;
  return CAIRN_OK;
}

int cairn__grpc_parse_http_status(const uint8_t *v, size_t n, int *status)
{
  int x = 0;

  if (n != 3) return cairn_seterr(CAIRN_ERR_PARSE, "bad :status");
  for (size_t i = 0; i < 3; i++) {
    if (v[i] < '0' || v[i] > '9')
      return cairn_seterr(CAIRN_ERR_PARSE, "bad :status");
    x = x * 10 + (v[i] - '0');
  }
  if (x < 100 || x > 599) return cairn_seterr(CAIRN_ERR_PARSE, "bad :status");
  *status = x;
  return CAIRN_OK;
}

int cairn__grpc_http_to_status(int http_status)
{
  switch (http_status) {
  case 400: return CAIRN_GRPC_INTERNAL;
  case 401: return CAIRN_GRPC_UNAUTHENTICATED;
  case 403: return CAIRN_GRPC_PERMISSION_DENIED;
  case 404: return CAIRN_GRPC_UNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504: return CAIRN_GRPC_UNAVAILABLE;
  default: return CAIRN_GRPC_UNKNOWN;
  }
}

int cairn__grpc_content_type_ok(const uint8_t *v, size_t n)
{
  static const char ct[] = "application/grpc";
  const size_t l = sizeof ct - 1;

  if (n < l || memcmp(v, ct, l) != 0) return 0;
  return n == l || v[l] == '+' || v[l] == ';';
}

int cairn__grpc_md_name_ok(const char *name)
{
  static const char *const reserved[] = {
    "content-type", "te", "user-agent", "host", "connection", "keep-alive",
    "proxy-connection", "transfer-encoding", "upgrade", "content-length",
  };
  size_t n;

  if (!name) return 0;
  n = strlen(name);
  if (n == 0 || n > 255) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
          ch == '_' || ch == '.'))
      return 0;
  }
  if (strncmp(name, "grpc-", 5) == 0) return 0;
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcmp(name, reserved[i]) == 0) return 0;
  return 1;
}

int cairn__grpc_md_value_ok(const char *value)
{
  size_t n;

  if (!value) return 0;
  n = strlen(value);
  if (n > 8191) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
      return 0;
  return 1;
}

void cairn__grpc_timeout_format(int64_t ms, char out[16])
{
  if (ms < 0) ms = 0;
  if (ms <= 99999999)
    snprintf(out, 16, "%" PRId64 "m", ms);
  else if (ms / 1000 <= 99999999)
    snprintf(out, 16, "%" PRId64 "S", ms / 1000);
  else
    snprintf(out, 16, "%" PRId64 "H", ms / 3600000 > 99999999
                                          ? (int64_t)99999999
                                          : ms / 3600000);
}

/* ---- output queue ---- */

size_t cairn__grpc_outq_pending(const struct cairn__grpc_outq *q)
{
  return q->len - q->off;
}

int cairn__grpc_outq_append(struct cairn__grpc_outq *q, const uint8_t *p,
                            size_t n)
{
  size_t pending = q->len - q->off;

  if (pending == 0) q->off = q->len = 0;
  if (q->cap - q->len < n) {
    if (q->cap - pending >= n) {
      /* Slide the unsent bytes to the front; the sent part is zero. */
      memmove(q->p, q->p + q->off, pending);
      cairn_memzero(q->p + pending, q->len - pending);
    } else {
      size_t ncap = q->cap ? q->cap : 16384;
      uint8_t *np;
      while (ncap - pending < n) {
        if (ncap > SIZE_MAX / 2) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
        ncap *= 2;
      }
      np = malloc(ncap);
      if (!np) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
      if (pending) memcpy(np, q->p + q->off, pending);
      cairn_freezero(q->p, q->cap);
      q->p = np;
      q->cap = ncap;
    }
    q->off = 0;
    q->len = pending;
  }
  memcpy(q->p + q->len, p, n);
  q->len += n;
  return CAIRN_OK;
}

int cairn__grpc_outq_send(struct cairn__grpc_outq *q, int fd)
{
  while (q->off < q->len) {
    ssize_t n = send(fd, q->p + q->off, q->len - q->off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return cairn_seterr(CAIRN_ERR_IO, "send: %s", strerror(errno));
    }
    cairn_memzero(q->p + q->off, (size_t)n);
    q->off += (size_t)n;
  }
  if (q->off == q->len) q->off = q->len = 0;
  return CAIRN_OK;
}

void cairn__grpc_outq_cleanup(struct cairn__grpc_outq *q)
{
  cairn_freezero(q->p, q->cap);
  memset(q, 0, sizeof *q);
}
