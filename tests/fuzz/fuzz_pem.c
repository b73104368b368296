/* Fuzz target: the PEM block scanner and base64 decoders. */
#include "cairn/b64.h"
#include "cairn/err.h"
#include "cairn/pem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  char label[CAIRN_PEM_LABEL_MAX];
  size_t off = 0, n, prev;
  uint8_t *der;
  int blocks = 0;

  for (;;) {
    prev = off;
    int r = cairn_pem_next(text, size, &off, label, &der, &n, 65536);
    if (r != CAIRN_OK) break;
    if (off <= prev || off > size || n == 0) abort();
    /* Round trip: re-encode and decode again must give the same bytes. */
    {
      char *pem = NULL;
      size_t plen = 0, o2 = 0, n2;
      uint8_t *d2;
      char l2[CAIRN_PEM_LABEL_MAX];
      if (cairn_pem_append(label, der, n, &pem, &plen) != CAIRN_OK) abort();
      if (cairn_pem_next(pem, plen, &o2, l2, &d2, &n2, 65536) != CAIRN_OK) abort();
      if (n2 != n || memcmp(d2, der, n) != 0 || strcmp(l2, label) != 0) abort();
      free(d2);
      free(pem);
    }
    free(der);
    if (++blocks > 64) break;
  }
  for (int url = 0; url < 2; url++) {
    if (cairn_b64_decode(text, size, url, &der, &n) == CAIRN_OK) {
      char *enc;
      if (cairn_b64_encode(der, n, url, &enc) != CAIRN_OK) abort();
      if (strlen(enc) != size || memcmp(enc, text, size) != 0) abort();
      free(enc);
      free(der);
    }
  }
  return 0;
}
