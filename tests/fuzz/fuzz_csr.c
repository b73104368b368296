/* Fuzz target: CSR parsing (DER and PEM) from untrusted bytes. Any CSR that
 * parses must yield a public-only key that exports and re-imports to the
 * same key. */
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_key(const struct cairn_key *pub)
{
  struct cairn_key *again = NULL;
  uint8_t *der = NULL;
  char *pem = NULL;
  size_t len = 0;

  if (cairn_key_has_private(pub)) abort();
  if (cairn_key_export_public_der(pub, &der, &len) != CAIRN_OK) abort();
  if (cairn_key_import_der(der, len, &again) != CAIRN_OK) abort();
  if (!cairn_key_public_equal(pub, again)) abort();
  if (cairn_key_export_public_pem(pub, &pem, &len) != CAIRN_OK) abort();
  free(pem);
  free(der);
  cairn_key_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn_key *pub = NULL;
  uint8_t *der = NULL;
  size_t len = 0;

  if (cairn_csr_parse(data, size, &pub) == CAIRN_OK) {
    char *pem = NULL;
    check_key(pub);
    cairn_key_free(pub);
    pub = NULL;
    /* The PEM wrapping round-trips and parses the same way. */
    if (cairn_csr_to_pem(data, size, &pem) != CAIRN_OK) abort();
    if (cairn_csr_from_pem(pem, strlen(pem), &der, &len) != CAIRN_OK) abort();
    if (len != size || memcmp(der, data, size) != 0) abort();
    if (cairn_csr_parse(der, len, &pub) != CAIRN_OK) abort();
    cairn_key_free(pub);
    pub = NULL;
    free(der);
    free(pem);
  } else if (pub) {
    abort();
  }
  /* The same bytes as PEM text. */
  if (cairn_csr_from_pem((const char *)data, size, &der, &len) == CAIRN_OK) {
    if (len == 0 || len > CAIRN_CSR_MAX) abort();
    if (cairn_csr_parse(der, len, &pub) == CAIRN_OK) check_key(pub);
    cairn_key_free(pub);
    free(der);
  } else if (der) {
    abort();
  }
  return 0;
}
