/* cairn/jwt.h - JWT-SVIDs (JWS compact serialization, ES256/ES384).
 *
 * Signing emits header {"alg","kid","typ":"JWT"} and claims sub, aud
 * (array), exp, iat. Validation follows the JWT-SVID spec: alg checked
 * first against the allow-list (ES256, ES384 here; "none", HS*, RS*, PS*
 * and anything else are refused), typ JWT or JOSE when present, no other
 * header parameters, kid required, sub a valid SPIFFE ID whose trust
 * domain selects the bundle, signature checked with the bundle key of the
 * header kid, exp required, and a 60 s leeway on exp/nbf/iat. The
 * signature is raw r||s left-padded to the curve size.
 */
#ifndef CAIRN_JWT_H
#define CAIRN_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cairn/id.h"

struct cairn_key;
struct cairn_bundle;

#define CAIRN_JWT_MAX 16384    /* longest token accepted, in bytes */
#define CAIRN_JWT_LEEWAY 60    /* seconds */
#define CAIRN_JWT_AUD_MAX 32   /* most audiences */

/* Signs a JWT-SVID. aud must hold 1..CAIRN_JWT_AUD_MAX non-empty strings;
 * sub must be a valid SPIFFE ID; exp > iat; iat == 0 means cairn_now().
 * *token: NUL-terminated, free(). */
int cairn_jwt_sign(const struct cairn_key *key, const char *kid,
                   const char *sub, const char *const *aud, size_t naud,
                   time_t iat, time_t exp, char **token);
/* The same with an "iss" claim (the server's jwt_issuer); iss NULL or ""
 * omits it. */
int cairn_jwt_sign_iss(const struct cairn_key *key, const char *kid,
                       const char *iss, const char *sub,
                       const char *const *aud, size_t naud, time_t iat,
                       time_t exp, char **token);

struct cairn_jwt_claims {
  struct cairn_id sub;
  char alg[8];
  char kid[129];
  char **aud;        /* naud strings */
  size_t naud;
  int64_t exp;
  int64_t iat;       /* 0 when absent */
  char *claims_json; /* the whole claims object as compact JSON */
};
void cairn_jwt_claims_free(struct cairn_jwt_claims *c);

/* Validates token against bundles (one per trust domain) for audience
 * (required, non-empty) at now (0 = cairn_now()). *out (if non-NULL):
 * cairn_jwt_claims_free(). Errors: CAIRN_ERR_PARSE (malformed),
 * CAIRN_ERR_UNSUPPORTED (alg), CAIRN_ERR_POLICY (header/claims rules),
 * CAIRN_ERR_UNTRUSTED (no bundle / no key for kid), CAIRN_ERR_VERIFY,
 * CAIRN_ERR_EXPIRED, CAIRN_ERR_NOT_YET_VALID, CAIRN_ERR_AUDIENCE. */
int cairn_jwt_validate(const char *token, const struct cairn_bundle *const *bundles,
                       size_t nbundles, const char *audience, time_t now,
                       struct cairn_jwt_claims **out);

/* Parses header and claims without verifying anything but syntax (for
 * display). */
int cairn_jwt_parse_unverified(const char *token,
                               struct cairn_jwt_claims **out);

/* A random kid (32 base62 characters, as SPIRE's). out needs 33 bytes. */
int cairn_jwt_new_kid(char *out, size_t outlen);

#endif
