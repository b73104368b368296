/* jwt.c - JWT-SVIDs: JWS compact serialization with ES256/ES384.
 *
 * Validation order (JWT-SVID spec §3 and go-spiffe): size cap, exactly
 * three base64url parts, header JSON, alg against the allow-list before
 * anything else is looked at, typ, no other header parameter, kid; then
 * the claims (sub, exp, aud shape), the bundle of sub's trust domain, the
 * key of kid, alg against the key's curve, the signature, and only after
 * the signature the time and audience checks. JSON is parsed with jansson
 * with duplicate object keys rejected.
 */
#include "key_int.h" /* first: pulls <wolfssl/options.h> */

#include "cairn/b64.h"
#include "cairn/buf.h"
#include "cairn/bundle.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_MAX 96 /* ES384 r||s */
#define KID_LEN 32
/* NumericDate values are accepted within +-2^53 (exact as doubles). */
#define DATE_LIMIT 9007199254740992.0

/* ---- helpers ---- */

static int wrap_err(int r, const char *prefix)
{
  char d[512];
  snprintf(d, sizeof d, "%s", cairn_errdetail());
  return cairn_seterr(r, "%s: %s", prefix, d);
}

static int alg_type(const char *alg, enum cairn_key_type *t)
{
  if (strcmp(alg, "ES256") == 0) {
    *t = CAIRN_KEY_EC_P256;
    return 1;
  }
  if (strcmp(alg, "ES384") == 0) {
    *t = CAIRN_KEY_EC_P384;
    return 1;
  }
  return 0;
}

static int kid_ok(const char *kid, size_t len)
{
  if (len == 0 || len > CAIRN_JWT_KID_MAX) return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)kid[i] < 0x20 || (unsigned char)kid[i] > 0x7e) return 0;
  return 1;
}

void cairn_jwt_claims_free(struct cairn_jwt_claims *c)
{
  if (!c) return;
  for (size_t i = 0; i < c->naud; i++) free(c->aud[i]);
  free(c->aud);
  free(c->claims_json);
  free(c);
}

/* ---- signing ---- */

/* Appends the base64url form of json's compact text to buf. */
static int append_b64_json(struct cairn_buf *buf, json_t *j)
{
  char *s = NULL, *b = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (!(s = json_dumps(j, JSON_COMPACT)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if ((r = cairn_b64_encode(s, strlen(s), 1, &b)) != CAIRN_OK) goto out;
  r = cairn_buf_puts(buf, b);
out:
  free(s);
  free(b);
  return r;
}

/* The token buffer is capped at CAIRN_JWT_MAX: a token we would refuse
 * to validate is never produced. */
static int too_big(int r)
{
  if (r != CAIRN_ERR_TOO_BIG) return r;
  return cairn_seterr(r, "jwt sign: token longer than %d bytes",
                      CAIRN_JWT_MAX);
}

int cairn_jwt_sign(const struct cairn_key *key, const char *kid,
                   const char *sub, const char *const *aud, size_t naud,
                   time_t iat, time_t exp, char **token)
{
  return cairn_jwt_sign_iss(key, kid, NULL, sub, aud, naud, iat, exp, token);
}

int cairn_jwt_sign_iss(const struct cairn_key *key, const char *kid,
                       const char *iss, const char *sub,
                       const char *const *aud, size_t naud, time_t iat,
                       time_t exp, char **token)
{
  struct cairn_buf buf;
  json_t *hdr = NULL, *cl = NULL, *arr = NULL;
  uint8_t sig[SIG_MAX];
  size_t siglen = sizeof sig, n;
  const char *alg;
  char *sb = NULL;
  int r = CAIRN_ERR_INTERNAL;

  cairn_buf_init(&buf, CAIRN_JWT_MAX);
  if (!token) return cairn_seterr(CAIRN_ERR_INVAL, "jwt sign: out is NULL");
  *token = NULL;
  if (!key || !kid || !sub || (!aud && naud))
    return cairn_seterr(CAIRN_ERR_INVAL, "jwt sign: NULL argument");
  if (!cairn_key_has_private(key))
    return cairn_seterr(CAIRN_ERR_INVAL, "jwt sign: key has no private part");
  if (!(alg = cairn_key_type_jws_alg(cairn_key_get_type(key))))
    return cairn_seterr(CAIRN_ERR_UNSUPPORTED, "jwt sign: unsupported key");
  if (!kid_ok(kid, strlen(kid)))
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "jwt sign: kid must be 1..%d printable ASCII bytes",
                        CAIRN_JWT_KID_MAX);
  if (cairn_id_validate(sub) != CAIRN_OK)
    return wrap_err(CAIRN_ERR_INVAL, "jwt sign: sub is not a SPIFFE ID");
  if (naud < 1 || naud > CAIRN_JWT_AUD_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "jwt sign: need 1..%d audiences",
                        CAIRN_JWT_AUD_MAX);
  for (size_t i = 0; i < naud; i++)
    if (!aud[i] || !aud[i][0])
      return cairn_seterr(CAIRN_ERR_INVAL, "jwt sign: empty audience");
  if (iat == 0) iat = cairn_now();
  if (exp <= iat)
    return cairn_seterr(CAIRN_ERR_INVAL, "jwt sign: exp must be after iat");

  /* jansson keeps insertion order, so the encoding is deterministic. */
  if (!(hdr = json_object()) || !(cl = json_object()) ||
      !(arr = json_array())) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  for (size_t i = 0; i < naud; i++)
    if (json_array_append_new(arr, json_string(aud[i])) != 0) {
      r = cairn_seterr(CAIRN_ERR_INVAL, "jwt sign: audience is not UTF-8");
      goto out;
    }
  if (json_object_set_new(hdr, "alg", json_string(alg)) != 0 ||
      json_object_set_new(hdr, "kid", json_string(kid)) != 0 ||
      json_object_set_new(hdr, "typ", json_string("JWT")) != 0 ||
      json_object_set_new(cl, "sub", json_string(sub)) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  if (iss && iss[0] &&
      json_object_set_new(cl, "iss", json_string(iss)) != 0) {
    r = cairn_seterr(CAIRN_ERR_INVAL, "jwt sign: issuer is not UTF-8");
    goto out;
  }
  r = json_object_set_new(cl, "aud", arr);
  arr = NULL; /* taken by set_new, even on failure */
  if (r != 0 ||
      json_object_set_new(cl, "exp", json_integer((json_int_t)exp)) != 0 ||
      json_object_set_new(cl, "iat", json_integer((json_int_t)iat)) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  if ((r = append_b64_json(&buf, hdr)) != CAIRN_OK ||
      (r = cairn_buf_putc(&buf, '.')) != CAIRN_OK ||
      (r = append_b64_json(&buf, cl)) != CAIRN_OK) {
    r = too_big(r);
    goto out;
  }
  if ((r = cairn_key_sign(key, buf.data, buf.len, sig, &siglen)) != CAIRN_OK)
    goto out;
  if ((r = cairn_b64_encode(sig, siglen, 1, &sb)) != CAIRN_OK) goto out;
  if ((r = cairn_buf_putc(&buf, '.')) != CAIRN_OK ||
      (r = cairn_buf_puts(&buf, sb)) != CAIRN_OK) {
    r = too_big(r);
    goto out;
  }
  if (!(*token = (char *)cairn_buf_steal(&buf, &n))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  r = CAIRN_OK;
out:
  cairn_buf_cleanup(&buf);
  free(sb);
  json_decref(arr);
  json_decref(hdr);
  json_decref(cl);
  return r;
}

/* ---- parsing ---- */

struct parsed {
  const char *tok;
  size_t len;
  size_t dot1, dot2;    /* positions of the two dots */
  json_t *hdr, *cl;     /* owned */
  uint8_t sig[SIG_MAX];
  size_t siglen;
  struct cairn_jwt_claims *c; /* owned until handed over */
};

static void parsed_cleanup(struct parsed *p)
{
  json_decref(p->hdr);
  json_decref(p->cl);
  cairn_jwt_claims_free(p->c);
  memset(p, 0, sizeof *p);
}

/* Decodes base64url part [a, b) of the token and parses it as a JSON
 * object. */
static int part_json(const struct parsed *p, size_t a, size_t b,
                     const char *what, json_t **out)
{
  uint8_t *d = NULL;
  size_t dl = 0;
  json_error_t jerr;
  json_t *j;

  *out = NULL;
  if (b == a)
    return cairn_seterr(CAIRN_ERR_PARSE, "JWT %s is empty", what);
  if (cairn_b64_decode(p->tok + a, b - a, 1, &d, &dl) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_PARSE, "JWT %s is not base64url", what);
  j = json_loadb((const char *)d, dl, JSON_REJECT_DUPLICATES, &jerr);
  free(d);
  if (!j)
    return cairn_seterr(CAIRN_ERR_PARSE, "JWT %s: %s", what, jerr.text);
  if (!json_is_object(j)) {
    json_decref(j);
    return cairn_seterr(CAIRN_ERR_PARSE, "JWT %s is not a JSON object", what);
  }
  *out = j;
  return CAIRN_OK;
}

/* Splits the token and parses the header. */
static int split_and_header(const char *token, struct parsed *p)
{
  size_t ndots = 0;

  memset(p, 0, sizeof *p);
  if (!token) return cairn_seterr(CAIRN_ERR_INVAL, "JWT: NULL token");
  p->tok = token;
  p->len = strnlen(token, CAIRN_JWT_MAX + 1);
  if (p->len > CAIRN_JWT_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "JWT longer than %d bytes",
                        CAIRN_JWT_MAX);
  for (size_t i = 0; i < p->len; i++)
    if (token[i] == '.') {
      if (ndots == 0) p->dot1 = i;
      if (ndots == 1) p->dot2 = i;
      ndots++;
    }
  if (ndots != 2)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "JWT must have 3 dot-separated parts, has %zu",
                        ndots + 1);
  return part_json(p, 0, p->dot1, "header", &p->hdr);
}

/* A NumericDate claim. Integers are taken as they are; a fractional
 * value is rounded down (round_up 0) or up (round_up 1), whichever makes
 * the check stricter. *present 0 when absent. */
static int get_date(json_t *cl, const char *name, int round_up,
                    int64_t *v, int *present)
{
  json_t *j = json_object_get(cl, name);
  double d;

  *present = 0;
  *v = 0;
  if (!j) return CAIRN_OK;
  if (json_is_integer(j)) {
    *v = (int64_t)json_integer_value(j);
  } else if (json_is_real(j)) {
    d = json_real_value(j);
    if (!(d > -DATE_LIMIT && d < DATE_LIMIT))
      return cairn_seterr(CAIRN_ERR_POLICY, "JWT claim '%s' out of range",
                          name);
    *v = (int64_t)d; /* truncates toward zero */
    if (round_up && (double)*v < d) (*v)++;
    if (!round_up && (double)*v > d) (*v)--;
  } else {
    return cairn_seterr(CAIRN_ERR_POLICY, "JWT claim '%s' is not a number",
                        name);
  }
  *present = 1;
  return CAIRN_OK;
}

/* Fills p->c from the header (alg, kid) and claims. strict applies the
 * JWT-SVID rules with their error codes; otherwise anything that is
 * syntactically usable is accepted and every failure is PARSE. */
static int fill_claims(struct parsed *p, int strict)
{
  struct cairn_jwt_claims *c;
  json_t *j, *aud;
  const char *s;
  int present, r;
  int64_t v;
  int bad = strict ? CAIRN_ERR_POLICY : CAIRN_ERR_PARSE;

  if (!(c = p->c = calloc(1, sizeof *c)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  j = json_object_get(p->hdr, "alg");
  if (j && json_is_string(j) && json_string_length(j) < sizeof c->alg)
    snprintf(c->alg, sizeof c->alg, "%s", json_string_value(j));
  else if (!strict)
    return cairn_seterr(CAIRN_ERR_PARSE, "JWT header has no usable alg");
  j = json_object_get(p->hdr, "kid");
  if (j) {
    if (!json_is_string(j) ||
        !kid_ok(json_string_value(j), json_string_length(j)))
      return cairn_seterr(bad, "JWT kid is not 1..%d printable ASCII bytes",
                          CAIRN_JWT_KID_MAX);
    snprintf(c->kid, sizeof c->kid, "%s", json_string_value(j));
  } else if (strict) {
    return cairn_seterr(CAIRN_ERR_POLICY, "JWT header missing key id");
  }

  /* sub */
  j = json_object_get(p->cl, "sub");
  if (!j || !json_is_string(j))
    return cairn_seterr(bad, j ? "JWT sub is not a string"
                               : "JWT missing subject claim");
  s = json_string_value(j);
  if (cairn_id_parse(s, json_string_length(j), &c->sub) != CAIRN_OK)
    return wrap_err(bad, "JWT sub is not a valid SPIFFE ID");

  /* exp, iat */
  if ((r = get_date(p->cl, "exp", 0, &v, &present)) != CAIRN_OK)
    return strict ? r : cairn_seterr(CAIRN_ERR_PARSE, "%s", "JWT bad exp");
  if (!present && strict)
    return cairn_seterr(CAIRN_ERR_POLICY, "JWT missing exp claim");
  c->exp = v;
  if ((r = get_date(p->cl, "iat", 1, &v, &present)) != CAIRN_OK)
    return strict ? r : cairn_seterr(CAIRN_ERR_PARSE, "%s", "JWT bad iat");
  c->iat = v;

  /* aud: a string or a non-empty array of strings. */
  aud = json_object_get(p->cl, "aud");
  if (aud) {
    size_t n = json_is_array(aud) ? json_array_size(aud) : 1;
    if (!json_is_string(aud) && !json_is_array(aud))
      return cairn_seterr(bad, "JWT aud is neither a string nor an array");
    if (n == 0 || n > CAIRN_JWT_AUD_MAX)
      return cairn_seterr(bad, "JWT aud must hold 1..%d values",
                          CAIRN_JWT_AUD_MAX);
    if (!(c->aud = calloc(n, sizeof *c->aud)))
      return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    for (size_t i = 0; i < n; i++) {
      json_t *a = json_is_array(aud) ? json_array_get(aud, i) : aud;
      if (!json_is_string(a))
        return cairn_seterr(bad, "JWT aud value is not a string");
      if (!(c->aud[i] = cairn_strdup(json_string_value(a))))
        return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
      c->naud = i + 1;
    }
  } else if (strict) {
    return cairn_seterr(CAIRN_ERR_POLICY, "JWT missing aud claim");
  }
  if (!(c->claims_json = json_dumps(p->cl, JSON_COMPACT)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  return CAIRN_OK;
}

static int parse_rest(struct parsed *p, int strict)
{
  uint8_t *d = NULL;
  size_t dl = 0;
  int r;

  if ((r = part_json(p, p->dot1 + 1, p->dot2, "claims", &p->cl)) != CAIRN_OK)
    return r;
  if (p->len - p->dot2 - 1 == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "JWT signature is empty");
  if (cairn_b64_decode(p->tok + p->dot2 + 1, p->len - p->dot2 - 1, 1, &d,
                       &dl) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_PARSE, "JWT signature is not base64url");
  if (dl > SIG_MAX) {
    free(d);
    return cairn_seterr(strict ? CAIRN_ERR_VERIFY : CAIRN_ERR_PARSE,
                        "JWT signature longer than %d bytes", SIG_MAX);
  }
  memcpy(p->sig, d, dl);
  p->siglen = dl;
  free(d);
  return fill_claims(p, strict);
}

int cairn_jwt_parse_unverified(const char *token,
                               struct cairn_jwt_claims **out)
{
  struct parsed p;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "JWT: out is NULL");
  *out = NULL;
  if ((r = split_and_header(token, &p)) != CAIRN_OK) goto out;
  if ((r = parse_rest(&p, 0)) != CAIRN_OK) goto out;
  *out = p.c;
  p.c = NULL; /* transferred */
  r = CAIRN_OK;
out:
  parsed_cleanup(&p);
  return r;
}

/* ---- validation ---- */

/* Token-supplied names go into error details (and so into logs) only when
 * they are short printable ASCII. */
static const char *shown(const char *s)
{
  size_t n = strlen(s);
  if (n > 32 || !kid_ok(s, n)) return "(not shown)";
  return s;
}

/* The alg allow-list, applied before any other header processing. */
static int check_alg(json_t *hdr, enum cairn_key_type *t)
{
  json_t *j = json_object_get(hdr, "alg");
  const char *alg;

  if (!j) return cairn_seterr(CAIRN_ERR_PARSE, "JWT header has no alg");
  if (!json_is_string(j))
    return cairn_seterr(CAIRN_ERR_PARSE, "JWT alg is not a string");
  alg = json_string_value(j);
  if (alg_type(alg, t)) return CAIRN_OK;
  if (strcmp(alg, "none") == 0 || strncmp(alg, "HS", 2) == 0)
    return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                        "JWT alg '%s' is not allowed for JWT-SVIDs",
                        shown(alg));
  return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                      "JWT alg '%s' is not supported (ES256, ES384 only)",
                      shown(alg));
}

static int check_header(json_t *hdr)
{
  json_t *v;
  const char *k, *typ;

  json_object_foreach(hdr, k, v) {
    if (strcmp(k, "alg") == 0 || strcmp(k, "kid") == 0) continue;
    if (strcmp(k, "typ") == 0) {
      typ = json_is_string(v) ? json_string_value(v) : NULL;
      if (!typ || (strcmp(typ, "JWT") != 0 && strcmp(typ, "JOSE") != 0))
        return cairn_seterr(CAIRN_ERR_POLICY,
                            "JWT header type not equal to either JWT or JOSE");
      continue;
    }
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "JWT header parameter '%s' is not allowed", shown(k));
  }
  return CAIRN_OK;
}

int cairn_jwt_validate(const char *token,
                       const struct cairn_bundle *const *bundles,
                       size_t nbundles, const char *audience, time_t now,
                       struct cairn_jwt_claims **out)
{
  struct parsed p;
  const struct cairn_bundle *b;
  const struct cairn_key *key;
  enum cairn_key_type t = 0;  /* set by check_header() */
  char td[CAIRN_TD_MAX + 1];
  int64_t nbf;
  int present, found = 0;
  int r = CAIRN_ERR_INTERNAL;

  memset(&p, 0, sizeof p);
  if (out) *out = NULL;
  if (!audience || !audience[0])
    return cairn_seterr(CAIRN_ERR_INVAL, "JWT validate: audience required");
  if (!bundles && nbundles)
    return cairn_seterr(CAIRN_ERR_INVAL, "JWT validate: NULL bundles");
  if ((r = split_and_header(token, &p)) != CAIRN_OK) goto out;
  if ((r = check_alg(p.hdr, &t)) != CAIRN_OK) goto out;
  if ((r = check_header(p.hdr)) != CAIRN_OK) goto out;
  if ((r = parse_rest(&p, 1)) != CAIRN_OK) goto out;

  cairn_id_td(&p.c->sub, td);
  if (!(b = cairn_bundle_find(bundles, nbundles, td))) {
    r = cairn_seterr(CAIRN_ERR_UNTRUSTED, "no JWT bundle for trust domain %s",
                     td);
    goto out;
  }
  if (!(key = cairn_bundle_jwt_find(b, p.c->kid))) {
    r = cairn_seterr(CAIRN_ERR_UNTRUSTED,
                     "no key with kid '%s' in the bundle of %s", p.c->kid,
                     td);
    goto out;
  }
  if (cairn_key_get_type(key) != t) {
    r = cairn_seterr(CAIRN_ERR_POLICY, "JWT alg %s does not match key '%s' "
                     "(%s)", p.c->alg, p.c->kid,
                     cairn_key_type_jwk_crv(cairn_key_get_type(key)));
    goto out;
  }
  if ((r = cairn_key_verify(key, p.tok, p.dot2, p.sig, p.siglen)) !=
      CAIRN_OK) {
    r = wrap_err(CAIRN_ERR_VERIFY, "JWT signature");
    goto out;
  }

  /* Time, with CAIRN_JWT_LEEWAY either way. */
  if (now == 0) now = cairn_now();
  if ((int64_t)now - CAIRN_JWT_LEEWAY > p.c->exp) {
    r = cairn_seterr(CAIRN_ERR_EXPIRED, "JWT has expired");
    goto out;
  }
  if ((r = get_date(p.cl, "nbf", 1, &nbf, &present)) != CAIRN_OK) goto out;
  if (present && (int64_t)now + CAIRN_JWT_LEEWAY < nbf) {
    r = cairn_seterr(CAIRN_ERR_NOT_YET_VALID, "JWT is not valid yet (nbf)");
    goto out;
  }
  if (json_object_get(p.cl, "iat") &&
      (int64_t)now + CAIRN_JWT_LEEWAY < p.c->iat) {
    r = cairn_seterr(CAIRN_ERR_NOT_YET_VALID, "JWT issued in the future");
    goto out;
  }

  for (size_t i = 0; i < p.c->naud; i++)
    if (strcmp(p.c->aud[i], audience) == 0) found = 1;
  if (!found) {
    r = cairn_seterr(CAIRN_ERR_AUDIENCE, "JWT audience does not include '%s'",
                     audience);
    goto out;
  }
  if (out) {
    *out = p.c;
    p.c = NULL; /* transferred */
  }
  r = CAIRN_OK;
out:
  parsed_cleanup(&p);
  return r;
}

/* ---- kid ---- */

int cairn_jwt_new_kid(char *out, size_t outlen)
{
  static const char B62[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  uint8_t rnd[64];
  WC_RNG rng;
  size_t n = 0;
  int ret, r = CAIRN_ERR_INTERNAL;

  if (!out || outlen < KID_LEN + 1)
    return cairn_seterr(CAIRN_ERR_INVAL, "kid buffer needs %d bytes",
                        KID_LEN + 1);
  out[0] = 0;
  if ((r = cairn__rng_init(&rng)) != CAIRN_OK) return r;
  /* Rejection sampling: bytes >= 248 (= 4 * 62) are dropped so every
   * character is equally likely. */
  while (n < KID_LEN) {
    if ((ret = wc_RNG_GenerateBlock(&rng, rnd, sizeof rnd)) != 0) {
      r = cairn__wolf_err(ret, "RNG");
      goto out;
    }
    for (size_t i = 0; i < sizeof rnd && n < KID_LEN; i++)
      if (rnd[i] < 248) out[n++] = B62[rnd[i] % 62];
  }
  out[n] = 0;
  r = CAIRN_OK;
out:
  if (r != CAIRN_OK) out[0] = 0;
  cairn_memzero(rnd, sizeof rnd);
  wc_FreeRng(&rng);
  return r;
}
