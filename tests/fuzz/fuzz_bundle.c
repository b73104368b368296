/* Fuzz target: SPIFFE bundle JSON and PEM parsing.
 *
 * The input is parsed as bundle JSON twice (plain JWKS keys refused and
 * allowed) and as a PEM set. Every bundle that parses must survive the
 * round trips: written as SPIFFE JSON and parsed again it has the same
 * content (and writing that again gives the same bytes); written as a
 * standard JWKS and parsed as one it has the same JWT keys; its
 * authorities written as PEM parse back to the same set. dup must give an
 * equal bundle. Any difference aborts.
 */
#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TD "example.org"

static void roundtrip(const struct cairn_bundle *b)
{
  struct cairn_bundle *p = NULL, *d = NULL;
  char *json = NULL, *json2 = NULL, *pem = NULL;
  size_t len, len2, plen;

  if (cairn_bundle_write_json(b, 0, &json, &len) != CAIRN_OK) abort();
  if (cairn_bundle_parse_json(TD, json, len, 0, &p) != CAIRN_OK ||
      !cairn_bundle_content_equal(b, p) ||
      cairn_bundle_sequence(p) != cairn_bundle_sequence(b) ||
      cairn_bundle_refresh_hint(p) != cairn_bundle_refresh_hint(b))
    abort();
  if (cairn_bundle_write_json(p, 0, &json2, &len2) != CAIRN_OK ||
      len2 != len || memcmp(json, json2, len) != 0)
    abort();
  cairn_bundle_free(p);
  p = NULL;
  free(json);
  free(json2);

  if (cairn_bundle_write_json(b, CAIRN_BUNDLE_JSON_STANDARD_JWKS, &json,
                              &len) != CAIRN_OK ||
      cairn_bundle_parse_json(TD, json, len, 1, &p) != CAIRN_OK ||
      cairn_bundle_jwt_count(p) != cairn_bundle_jwt_count(b) ||
      cairn_cert_list_count(cairn_bundle_x509(p)) != 0)
    abort();
  for (size_t i = 0; i < cairn_bundle_jwt_count(b); i++) {
    const char *kid;
    const struct cairn_key *k = cairn_bundle_jwt_at(b, i, &kid);
    if (!cairn_key_public_equal(k, cairn_bundle_jwt_find(p, kid))) abort();
  }
  cairn_bundle_free(p);
  p = NULL;
  free(json);

  if (cairn_bundle_write_pem(b, &pem, &plen) != CAIRN_OK) abort();
  if (cairn_cert_list_count(cairn_bundle_x509(b)) > 0) {
    if (cairn_bundle_parse_pem(TD, pem, plen, &p) != CAIRN_OK ||
        cairn_cert_list_count(cairn_bundle_x509(p)) !=
            cairn_cert_list_count(cairn_bundle_x509(b)))
      abort();
  } else if (plen != 0) {
    abort();
  }
  cairn_bundle_free(p);
  free(pem);

  if (cairn_bundle_dup(b, &d) != CAIRN_OK || !cairn_bundle_content_equal(b, d))
    abort();
  cairn_bundle_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn_bundle *b = NULL;

  for (int plain = 0; plain < 2; plain++) {
    if (cairn_bundle_parse_json(TD, (const char *)data, size, plain, &b) ==
        CAIRN_OK) {
      roundtrip(b);
      cairn_bundle_free(b);
      b = NULL;
    }
  }
  if (cairn_bundle_parse_pem(TD, (const char *)data, size, &b) == CAIRN_OK) {
    roundtrip(b);
    cairn_bundle_free(b);
  }
  return 0;
}
