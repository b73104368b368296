/* buf.c - bounded reader and capped growable buffer. */
#include "cairn/buf.h"
#include "cairn/err.h"
#include "cairn/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cairn_rd_init(struct cairn_rd *r, const void *data, size_t len)
{
  r->p = data;
  r->len = data ? len : 0;
  r->off = 0;
}

size_t cairn_rd_left(const struct cairn_rd *r)
{
  return r->len - r->off;
}

static int short_input(void)
{
  return cairn_seterr(CAIRN_ERR_PARSE, "unexpected end of input");
}

int cairn_rd_peek_u8(const struct cairn_rd *r, uint8_t *v)
{
  if (cairn_rd_left(r) < 1) return short_input();
  *v = r->p[r->off];
  return CAIRN_OK;
}

int cairn_rd_u8(struct cairn_rd *r, uint8_t *v)
{
  if (cairn_rd_left(r) < 1) return short_input();
  *v = r->p[r->off++];
  return CAIRN_OK;
}

int cairn_rd_be16(struct cairn_rd *r, uint16_t *v)
{
  if (cairn_rd_left(r) < 2) return short_input();
  *v = (uint16_t)((unsigned)r->p[r->off] << 8 | r->p[r->off + 1]);
  r->off += 2;
  return CAIRN_OK;
}

int cairn_rd_be32(struct cairn_rd *r, uint32_t *v)
{
  if (cairn_rd_left(r) < 4) return short_input();
  *v = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
       (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
  r->off += 4;
  return CAIRN_OK;
}

int cairn_rd_bytes(struct cairn_rd *r, size_t n, const uint8_t **out)
{
  if (cairn_rd_left(r) < n) return short_input();
  *out = r->p + r->off;
  r->off += n;
  return CAIRN_OK;
}

int cairn_rd_skip(struct cairn_rd *r, size_t n)
{
  if (cairn_rd_left(r) < n) return short_input();
  r->off += n;
  return CAIRN_OK;
}

int cairn_rd_der(struct cairn_rd *r, uint8_t *tag, const uint8_t **val,
                 size_t *len)
{
  struct cairn_rd t = *r;
  uint8_t tg, b;
  size_t n = 0;

  if (cairn_rd_u8(&t, &tg) || cairn_rd_u8(&t, &b)) return short_input();
  if ((tg & 0x1f) == 0x1f)
    return cairn_seterr(CAIRN_ERR_PARSE, "DER: multi-byte tags not supported");
  if (b < 0x80) {
    n = b;
  } else {
    unsigned cnt = b & 0x7f;
    if (cnt == 0 || cnt > 4)
      return cairn_seterr(CAIRN_ERR_PARSE, "DER: bad length encoding");
    for (unsigned i = 0; i < cnt; i++) {
      if (cairn_rd_u8(&t, &b)) return short_input();
      if (i == 0 && b == 0)
        return cairn_seterr(CAIRN_ERR_PARSE, "DER: non-minimal length");
      n = n << 8 | b;
    }
    if (n < 0x80)
      return cairn_seterr(CAIRN_ERR_PARSE, "DER: non-minimal length");
  }
  if (cairn_rd_left(&t) < n)
    return cairn_seterr(CAIRN_ERR_PARSE, "DER: length exceeds input");
  *tag = tg;
  *val = t.p + t.off;
  *len = n;
  t.off += n;
  *r = t;
  return CAIRN_OK;
}

/* ---- growable buffer ---- */

void cairn_buf_init(struct cairn_buf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

static int buf_reserve(struct cairn_buf *b, size_t extra)
{
  size_t need, ncap;
  uint8_t *nd;

  if (extra > b->max || b->len > b->max - extra)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "buffer limit of %zu bytes reached",
                        b->max);
  need = b->len + extra + 1; /* room for the NUL */
  if (need <= b->cap) return CAIRN_OK;
  ncap = b->cap ? b->cap : 64;
  while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
  if (ncap > b->max + 1) ncap = b->max + 1;
  nd = realloc(b->data, ncap);
  if (!nd) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  b->data = nd;
  b->cap = ncap;
  return CAIRN_OK;
}

int cairn_buf_append(struct cairn_buf *b, const void *data, size_t len)
{
  int r = buf_reserve(b, len);
  if (r) return r;
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = 0;
  return CAIRN_OK;
}

int cairn_buf_putc(struct cairn_buf *b, char c)
{
  return cairn_buf_append(b, &c, 1);
}

int cairn_buf_puts(struct cairn_buf *b, const char *s)
{
  return cairn_buf_append(b, s, strlen(s));
}

int cairn_buf_appendf(struct cairn_buf *b, const char *fmt, ...)
{
  va_list ap;
  int n, r;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return cairn_seterr(CAIRN_ERR_INVAL, "bad format");
  if ((r = buf_reserve(b, (size_t)n)) != 0) return r;
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return CAIRN_OK;
}

void cairn_buf_reset(struct cairn_buf *b)
{
  b->len = 0;
  if (b->data) b->data[0] = 0;
}

void cairn_buf_cleanup(struct cairn_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void cairn_buf_cleanup_secure(struct cairn_buf *b)
{
  cairn_freezero(b->data, b->cap);
  b->data = NULL;
  b->len = b->cap = 0;
}

uint8_t *cairn_buf_steal(struct cairn_buf *b, size_t *len)
{
  uint8_t *d = b->data;
  if (!d) {
    d = calloc(1, 1);
    if (!d) return NULL;
  }
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}
