/* cairn/buf.h - bounded reader and capped growable buffer.
 *
 * All untrusted bytes are read through struct cairn_rd: every read checks
 * the remaining length and fails with CAIRN_ERR_PARSE instead of reading
 * past the end. Nothing outside buf.c does pointer arithmetic on packet
 * bytes. struct cairn_buf is a growable byte buffer with a hard maximum
 * fixed at init (CAIRN_ERR_TOO_BIG past it); it always keeps a NUL byte
 * after the data so text can be used as a C string.
 */
#ifndef CAIRN_BUF_H
#define CAIRN_BUF_H

#include <stddef.h>
#include <stdint.h>

/* ---- bounded reader (does not own the bytes) ---- */
struct cairn_rd {
  const uint8_t *p;
  size_t len;
  size_t off;
};

void cairn_rd_init(struct cairn_rd *r, const void *data, size_t len);
size_t cairn_rd_left(const struct cairn_rd *r);
/* Each returns CAIRN_OK or CAIRN_ERR_PARSE (short input); on error the
 * reader position is unchanged and out-params are untouched. */
int cairn_rd_u8(struct cairn_rd *r, uint8_t *v);
int cairn_rd_peek_u8(const struct cairn_rd *r, uint8_t *v);
int cairn_rd_be16(struct cairn_rd *r, uint16_t *v);
int cairn_rd_be32(struct cairn_rd *r, uint32_t *v);
/* Returns a pointer into the reader's data for n bytes and advances. */
int cairn_rd_bytes(struct cairn_rd *r, size_t n, const uint8_t **out);
int cairn_rd_skip(struct cairn_rd *r, size_t n);
/* Reads one DER TLV (definite length, up to 4 length octets, single-byte
 * tags only). *val points into the reader's data. */
int cairn_rd_der(struct cairn_rd *r, uint8_t *tag, const uint8_t **val,
                 size_t *len);

/* ---- capped growable buffer (owns data) ---- */
struct cairn_buf {
  uint8_t *data;  /* NUL-terminated after len; NULL until first append */
  size_t len;
  size_t cap;
  size_t max;     /* hard cap on len */
};

/* Initialises an empty buffer that may grow to max bytes. No allocation. */
void cairn_buf_init(struct cairn_buf *b, size_t max);
int cairn_buf_append(struct cairn_buf *b, const void *data, size_t len);
int cairn_buf_putc(struct cairn_buf *b, char c);
int cairn_buf_puts(struct cairn_buf *b, const char *s);
int cairn_buf_appendf(struct cairn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping the allocation. */
void cairn_buf_reset(struct cairn_buf *b);
/* Frees the data; the buffer is then empty and reusable. */
void cairn_buf_cleanup(struct cairn_buf *b);
/* Like cairn_buf_cleanup but zeroises the whole allocation first (for
 * buffers that held secrets). */
void cairn_buf_cleanup_secure(struct cairn_buf *b);
/* Hands the data to the caller (free with free()/cairn_freezero()); the
 * buffer becomes empty. Returns an allocated "" for an empty buffer, NULL
 * only on allocation failure. */
uint8_t *cairn_buf_steal(struct cairn_buf *b, size_t *len);

#endif
