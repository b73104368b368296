/* Fuzz target: JWT-SVID validation and unverified parsing.
 *
 * The input is used twice: as the token text, and as "HEADER\nCLAIMS\nSIG"
 * whose three parts the harness base64url-encodes and joins into a token,
 * so that mutations of the JSON reach the header and claims rules instead
 * of dying in base64url. Each token is validated at FUZZ_JWT_NOW against
 * two bundles: example.org with the fixed keys of fuzz_jwt_keys.h (the
 * seed corpus is signed with them, so it reaches the time and audience
 * checks) plus a key generated per process under kid "fresh", and
 * other.org with the fixed P-256 key. No input can carry a valid
 * signature by the fresh key, so accepting a token with kid "fresh" means
 * a verification bug (abort). Accepted tokens must also satisfy the rules
 * the validator promises (sub in the bundle's trust domain, audience
 * present, exp within the leeway).
 */
#include "cairn/b64.h"
#include "cairn/bundle.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_jwt_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cairn_bundle *const *bundles(void)
{
  static const struct cairn_bundle *set[2];
  struct cairn_bundle *b = NULL, *o = NULL;
  struct cairn_key *k256 = NULL, *k384 = NULL, *fresh = NULL;

  if (set[0]) return set;
  if (cairn_key_import_pem(FUZZ_JWT_P256_PEM, sizeof FUZZ_JWT_P256_PEM - 1,
                           &k256) != CAIRN_OK ||
      cairn_key_import_pem(FUZZ_JWT_P384_PEM, sizeof FUZZ_JWT_P384_PEM - 1,
                           &k384) != CAIRN_OK ||
      cairn_key_generate(CAIRN_KEY_EC_P256, &fresh) != CAIRN_OK ||
      cairn_bundle_new(FUZZ_JWT_TD, &b) != CAIRN_OK ||
      cairn_bundle_new("other.org", &o) != CAIRN_OK ||
      cairn_bundle_add_jwt_key(b, FUZZ_JWT_KID256, k256) != CAIRN_OK ||
      cairn_bundle_add_jwt_key(b, FUZZ_JWT_KID384, k384) != CAIRN_OK ||
      cairn_bundle_add_jwt_key(b, "fresh", fresh) != CAIRN_OK ||
      cairn_bundle_add_jwt_key(o, "o", k256) != CAIRN_OK)
    abort();
  cairn_key_free(k256);
  cairn_key_free(k384);
  cairn_key_free(fresh);
  set[0] = b;
  set[1] = o;
  return set;
}

static void check_token(const char *tok)
{
  struct cairn_jwt_claims *c = NULL;
  char td[CAIRN_TD_MAX + 1];
  int found = 0;

  if (cairn_jwt_validate(tok, bundles(), 2, FUZZ_JWT_AUD, FUZZ_JWT_NOW, &c) ==
      CAIRN_OK) {
    if (!c || strcmp(c->kid, "fresh") == 0 || !c->claims_json ||
        c->exp < (int64_t)FUZZ_JWT_NOW - CAIRN_JWT_LEEWAY)
      abort();
    cairn_id_td(&c->sub, td);
    if (strcmp(td, FUZZ_JWT_TD) != 0 && strcmp(td, "other.org") != 0)
      abort();
    for (size_t i = 0; i < c->naud; i++)
      if (strcmp(c->aud[i], FUZZ_JWT_AUD) == 0) found = 1;
    if (!found) abort();
  }
  cairn_jwt_claims_free(c);
  c = NULL;

  if (cairn_jwt_parse_unverified(tok, &c) == CAIRN_OK) {
    if (!c || !c->claims_json || cairn_id_validate(c->sub.str) != CAIRN_OK)
      abort();
    for (size_t i = 0; i < c->naud; i++)
      if (!c->aud[i]) abort();
  }
  cairn_jwt_claims_free(c);
}

/* Joins base64url(part) for the three newline-separated parts. */
static char *assemble(const uint8_t *data, size_t size)
{
  const uint8_t *p[3], *end = data + size;
  size_t n[3], total = 0;
  char *enc[3] = {NULL, NULL, NULL}, *tok = NULL;

  p[0] = data;
  for (int i = 0; i < 3; i++) {
    const uint8_t *nl = i < 2 ? memchr(p[i], '\n', (size_t)(end - p[i])) : NULL;
    if (i < 2 && !nl) return NULL;
    n[i] = (size_t)((i < 2 ? nl : end) - p[i]);
    if (i < 2) p[i + 1] = nl + 1;
  }
  for (int i = 0; i < 3; i++) {
    if (cairn_b64_encode(p[i], n[i], 1, &enc[i]) != CAIRN_OK) goto out;
    total += strlen(enc[i]) + 1;
  }
  if ((tok = malloc(total + 1)))
    snprintf(tok, total + 1, "%s.%s.%s", enc[0], enc[1], enc[2]);
out:
  for (int i = 0; i < 3; i++) free(enc[i]);
  return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *tok;

  if (size > CAIRN_JWT_MAX + 64) return 0;
  if (!(tok = malloc(size + 1))) return 0;
  memcpy(tok, data, size);
  tok[size] = 0;
  check_token(tok);
  free(tok);
  if ((tok = assemble(data, size))) {
    check_token(tok);
    free(tok);
  }
  return 0;
}
