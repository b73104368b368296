/* Fuzz target: key import from PEM text and DER. Any key that imports must
 * export in every format it supports, re-import to the same key, and (when
 * private) sign something its public half verifies. */
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reimport_pem(const struct cairn_key *k, char *pem, size_t len,
                         int priv)
{
  struct cairn_key *again = NULL;
  if (cairn_key_import_pem(pem, len, &again) != CAIRN_OK) abort();
  if (!cairn_key_public_equal(k, again)) abort();
  if (cairn_key_has_private(again) != priv) abort();
  cairn_key_free(again);
}

static void check_key(const struct cairn_key *k)
{
  struct cairn_key *again = NULL, *pub = NULL;
  uint8_t *der = NULL, x[48], y[48], id[20], sig[96];
  char *pem = NULL;
  size_t len = 0, c = cairn_key_type_coord_len(cairn_key_get_type(k));
  size_t sl = sizeof sig;

  if (c != 32 && c != 48) abort();
  if (cairn_key_export_public_der(k, &der, &len) != CAIRN_OK) abort();
  if (cairn_key_import_der(der, len, &pub) != CAIRN_OK) abort();
  if (!cairn_key_public_equal(k, pub)) abort();
  free(der);
  if (cairn_key_export_public_pem(k, &pem, &len) != CAIRN_OK) abort();
  reimport_pem(k, pem, len, 0);
  free(pem);
  if (cairn_key_public_raw(k, x, y, c) != CAIRN_OK) abort();
  if (cairn_key_from_public_raw(cairn_key_get_type(k), x, y, c, &again) !=
      CAIRN_OK)
    abort();
  if (!cairn_key_public_equal(k, again)) abort();
  cairn_key_free(again);
  if (cairn_key_id_sha1(k, id) != CAIRN_OK) abort();

  if (cairn_key_has_private(k)) {
    if (cairn_key_export_private_der(k, &der, &len) != CAIRN_OK) abort();
    if (cairn_key_import_der(der, len, &again) != CAIRN_OK) abort();
    if (!cairn_key_public_equal(k, again) || !cairn_key_has_private(again))
      abort();
    cairn_key_free(again);
    cairn_freezero(der, len);
    if (cairn_key_export_private_pem(k, &pem, &len) != CAIRN_OK) abort();
    reimport_pem(k, pem, len, 1);
    cairn_freezero(pem, len);
    if (cairn_key_export_pkcs8_pem(k, &pem, &len) != CAIRN_OK) abort();
    reimport_pem(k, pem, len, 1);
    cairn_freezero(pem, len);
    if (cairn_key_sign(k, "fuzz", 4, sig, &sl) != CAIRN_OK) abort();
    if (cairn_key_verify(pub, "fuzz", 4, sig, sl) != CAIRN_OK) abort();
  } else {
    if (cairn_key_export_private_der(k, &der, &len) != CAIRN_ERR_INVAL)
      abort();
  }
  cairn_key_free(pub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn_key *k = NULL;

  if (cairn_key_import_der(data, size, &k) == CAIRN_OK)
    check_key(k);
  else if (k)
    abort();
  cairn_key_free(k);
  k = NULL;
  if (cairn_key_import_pem((const char *)data, size, &k) == CAIRN_OK)
    check_key(k);
  else if (k)
    abort();
  cairn_key_free(k);
  return 0;
}
