/* fuzz_grpcframe.c - the parsers of untrusted gRPC bytes: request and
 * response un-framing (fed in arbitrary chunks), grpc-message decoding and
 * the header value checks. The first input byte picks the target.
 *
 * Invariants checked: chunking never changes the result of un-framing, no
 * message exceeds the cap, decoded messages are capped and printable-safe
 * and survive an encode/decode round trip. */
#include "grpc_int.h"

#include "cairn/err.h"
#include "cairn/util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tally {
  size_t n, bytes, max;
};

static int on_msg(uint8_t *msg, size_t len, void *arg)
{
  struct tally *t = arg;
  if (len > t->max) abort();
  t->n++;
  t->bytes += len;
  cairn_freezero(msg, len);
  return CAIRN_OK;
}

static void deframe(const uint8_t *p, size_t n)
{
  struct cairn__grpc_deframer a, b;
  struct tally ta = {0, 0, 0}, tb = {0, 0, 0};
  size_t cap, chunk, off = 0;
  int ra, rb = CAIRN_OK;

  if (n < 2) return;
  cap = (size_t)1 << (p[0] % 21);
  chunk = (size_t)p[1] % 23 + 1;
  p += 2;
  n -= 2;
  ta.max = tb.max = cap;
  cairn__grpc_deframer_init(&a, cap);
  cairn__grpc_deframer_init(&b, cap);
  ra = cairn__grpc_deframer_feed(&a, p, n, on_msg, &ta);
  while (off < n && rb == CAIRN_OK) {
    size_t k = n - off < chunk ? n - off : chunk;
    rb = cairn__grpc_deframer_feed(&b, p + off, k, on_msg, &tb);
    off += k;
  }
  if (ra != rb || ta.n != tb.n || ta.bytes != tb.bytes) abort();
  if (ra == CAIRN_OK) {
    if (cairn__grpc_deframer_partial(&a) != cairn__grpc_deframer_partial(&b))
      abort();
    if (ta.bytes + ta.n * CAIRN__GRPC_PREFIX > n) abort();
  }
  cairn__grpc_deframer_cleanup(&a);
  cairn__grpc_deframer_cleanup(&b);
}

static void message(const uint8_t *p, size_t n)
{
  char *dec = NULL, *dec2 = NULL, enc[CAIRN__GRPC_PCT_OUT_MAX];
  size_t len;

  if (cairn__grpc_pct_decode(p, n, &dec) != CAIRN_OK) return;
  len = strlen(dec);
  if (len > CAIRN_GRPC_STATUS_MSG_MAX) abort();
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)dec[i] < 0x20 || dec[i] == 0x7f) abort();
  cairn__grpc_pct_encode(dec, enc);
  if (cairn__grpc_pct_decode((const uint8_t *)enc, strlen(enc), &dec2) !=
          CAIRN_OK ||
      strcmp(dec, dec2) != 0)
    abort();
  free(dec);
  free(dec2);
}

static void headers(const uint8_t *p, size_t n)
{
  char *s = malloc(n + 1);
  char tmo[16];
  int st;

  if (!s) return;
  memcpy(s, p, n);
  s[n] = 0;
  if (cairn__grpc_parse_status(p, n, &st) == CAIRN_OK && (st < 0 || st > 999))
    abort();
  if (cairn__grpc_parse_http_status(p, n, &st) == CAIRN_OK &&
      (st < 100 || st > 599))
    abort();
  (void)cairn__grpc_content_type_ok(p, n);
  if (cairn__grpc_md_name_ok(s) && (s[0] == ':' || strlen(s) > 255)) abort();
  (void)cairn__grpc_md_value_ok(s);
  if (n >= 8) {
    int64_t ms;
    memcpy(&ms, p, sizeof ms);
    cairn__grpc_timeout_format(ms, tmo);
    if (strlen(tmo) > 9) abort();
  }
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  switch (data[0] % 3) {
  case 0: deframe(data + 1, size - 1); break;
  case 1: message(data + 1, size - 1); break;
  default: headers(data + 1, size - 1); break;
  }
  return 0;
}
