/* b64.c - strict base64 / base64url codecs. */
#include "cairn/b64.h"
#include "cairn/err.h"

#include <stdlib.h>

static const char STD[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int cairn_b64_encode(const void *in, size_t n, int url, char **out)
{
  const uint8_t *p = in;
  const char *a = url ? URL : STD;
  size_t olen, o = 0, i;
  char *s;

  *out = NULL;
  if (n > (SIZE_MAX / 4) * 3 - 3)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "base64 input too large");
  olen = (n + 2) / 3 * 4;
  s = malloc(olen + 1);
  if (!s) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    s[o++] = a[v >> 18];
    s[o++] = a[(v >> 12) & 63];
    s[o++] = a[(v >> 6) & 63];
    s[o++] = a[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    s[o++] = a[v >> 18];
    s[o++] = a[(v >> 12) & 63];
    if (!url) {
      s[o++] = '=';
      s[o++] = '=';
    }
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    s[o++] = a[v >> 18];
    s[o++] = a[(v >> 12) & 63];
    s[o++] = a[(v >> 6) & 63];
    if (!url) s[o++] = '=';
  }
  s[o] = 0;
  *out = s;
  return CAIRN_OK;
}

static int val(char c, int url)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}

int cairn_b64_decode(const char *in, size_t n, int url, uint8_t **out,
                     size_t *outlen)
{
  size_t pad = 0, data, o = 0, i;
  uint32_t acc = 0;
  unsigned bits = 0;
  uint8_t *d;

  *out = NULL;
  *outlen = 0;
  if (!url) {
    if (n % 4) return cairn_seterr(CAIRN_ERR_PARSE, "base64: bad length");
    while (pad < 2 && n - pad > 0 && in[n - pad - 1] == '=') pad++;
  } else if (n % 4 == 1) {
    return cairn_seterr(CAIRN_ERR_PARSE, "base64url: bad length");
  }
  data = n - pad;
  d = malloc(data * 3 / 4 + 1);
  if (!d) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  for (i = 0; i < data; i++) {
    int v = val(in[i], url);
    if (v < 0) {
      free(d);
      return cairn_seterr(CAIRN_ERR_PARSE, "base64: invalid character");
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      d[o++] = (uint8_t)(acc >> bits);
    }
  }
  /* Leftover bits must be zero (canonical encoding). */
  if (bits && (acc & ((1u << bits) - 1))) {
    free(d);
    return cairn_seterr(CAIRN_ERR_PARSE, "base64: non-zero trailing bits");
  }
  *out = d;
  *outlen = o;
  return CAIRN_OK;
}
