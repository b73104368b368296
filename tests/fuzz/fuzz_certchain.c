/* Fuzz target: certificate parsing and chain verification.
 *
 * The input is read both as concatenated DER certificates (a TLS chain)
 * and as PEM text. Every parsed certificate goes through the accessors,
 * the PEM round trip and dup. Chains are verified
 *  - against a root generated once per process: its key is fresh, so no
 *    input can legitimately chain to it and success means a forgery bug
 *    (abort);
 *  - with the input's last certificate as the trust anchor, so real
 *    chains in the corpus (tests/fuzz/corpus/certchain, made by
 *    cairn-certtool with validity around FUZZ_NOW) reach the deep checks.
 */
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inside the validity of the corpus chains (issued at 1800000000 for ten
 * years). */
#define FUZZ_NOW ((time_t)1800000000 + 3600)

static struct cairn_cert_list *fixed_roots(void)
{
  static struct cairn_cert_list *roots;
  struct cairn_cert_template t;
  struct cairn_key *k = NULL;
  struct cairn_cert *c = NULL;

  if (roots) return roots;
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_ROOT;
  t.spiffe_id = "spiffe://example.org";
  t.now = FUZZ_NOW - 60;
  t.ttl = 86400;
  t.path_len = -1;
  if (cairn_key_generate(CAIRN_KEY_EC_P256, &k) != CAIRN_OK ||
      cairn_cert_issue(&t, k, k, NULL, &c) != CAIRN_OK ||
      cairn_cert_list_new(&roots) != CAIRN_OK ||
      cairn_cert_list_push(roots, c) != CAIRN_OK)
    abort();
  cairn_key_free(k);
  return roots;
}

static void poke(const struct cairn_cert *c)
{
  struct cairn_id id;
  struct cairn_key *k = NULL;
  struct cairn_cert *d = NULL;
  struct cairn_cert_list *l = NULL;
  char hex[41], *pem = NULL;
  size_t n, len;
  const uint8_t *p;

  (void)cairn_cert_is_ca(c);
  (void)cairn_cert_not_before(c);
  (void)cairn_cert_not_after(c);
  (void)cairn_cert_key_usage(c);
  (void)cairn_cert_ext_key_usage(c);
  (void)cairn_cert_path_len(c);
  (void)cairn_cert_uri_count(c);
  (void)cairn_cert_skid(c, &n);
  (void)cairn_cert_akid(c, &n);
  (void)cairn_cert_subject_der(c, &n);
  (void)cairn_cert_issuer_der(c, &n);
  if (cairn_cert_spiffe_id(c, &id) == CAIRN_OK &&
      cairn_id_validate(id.str) != CAIRN_OK)
    abort();
  if (cairn_cert_public_key(c, &k) == CAIRN_OK &&
      !cairn_cert_matches_key(c, k))
    abort();
  cairn_key_free(k);
  if (cairn_cert_serial_hex(c, hex, sizeof hex) != CAIRN_OK) abort();
  if (cairn_cert_permitted_td(c)) (void)strlen(cairn_cert_permitted_td(c));
  for (size_t i = 0; i < cairn_cert_dns_count(c); i++)
    (void)strlen(cairn_cert_dns_at(c, i));
  /* Round trips must reproduce the same bytes. */
  if (cairn_cert_dup(c, &d) != CAIRN_OK || !cairn_cert_equal(c, d)) abort();
  cairn_cert_free(d);
  if (cairn_cert_to_pem(c, &pem, &len) != CAIRN_OK ||
      cairn_cert_list_parse_pem(pem, len, &l) != CAIRN_OK ||
      cairn_cert_list_count(l) != 1 ||
      !cairn_cert_equal(c, cairn_cert_list_at(l, 0)))
    abort();
  p = cairn_cert_der(c, &n);
  if (!p || n == 0) abort();
  free(pem);
  cairn_cert_list_free(l);
}

static void check_chain(const struct cairn_cert_list *l)
{
  static const unsigned flags[] = {0, CAIRN_VERIFY_CA_LEAF};
  size_t n = cairn_cert_list_count(l);
  struct cairn_id id;

  for (size_t i = 0; i < n; i++) poke(cairn_cert_list_at(l, i));
  for (size_t f = 0; f < 2; f++) {
    if (cairn_cert_verify(l, fixed_roots(), NULL, FUZZ_NOW, flags[f],
                          &id) == CAIRN_OK)
      abort(); /* nothing can chain to a key generated at run time */
  }
  if (n >= 1) {
    /* Last certificate as the trust anchor, the others as the chain (or
     * the certificate alone, against itself). */
    struct cairn_cert_list *chain = NULL, *anchor = NULL;
    size_t nc = n > 1 ? n - 1 : 1;
    if (cairn_cert_list_new(&chain) || cairn_cert_list_new(&anchor)) abort();
    for (size_t i = 0; i < nc; i++)
      if (cairn_cert_list_push_copy(chain, cairn_cert_list_at(l, i)))
        abort();
    if (cairn_cert_list_push_copy(anchor, cairn_cert_list_at(l, n - 1)))
      abort();
    for (size_t f = 0; f < 2; f++) {
      const char *td = f ? NULL : "example.org";
      int r = cairn_cert_verify(chain, anchor, td, FUZZ_NOW, flags[f], &id);
      if (r == CAIRN_OK && cairn_id_validate(id.str) != CAIRN_OK) abort();
      if (r != CAIRN_OK && (r <= 0 || r >= CAIRN_ERR__COUNT)) abort();
    }
    cairn_cert_list_free(chain);
    cairn_cert_list_free(anchor);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn_cert_list *l = NULL;

  if (cairn_cert_list_parse_der(data, size, &l) == CAIRN_OK) {
    if (cairn_cert_list_count(l) == 0) abort();
    check_chain(l);
  } else if (l) {
    abort(); /* out-param must stay NULL on failure */
  }
  cairn_cert_list_free(l);
  l = NULL;
  if (cairn_cert_list_parse_pem((const char *)data, size, &l) == CAIRN_OK) {
    if (cairn_cert_list_count(l) == 0) abort();
    check_chain(l);
  } else if (l) {
    abort();
  }
  cairn_cert_list_free(l);
  return 0;
}
