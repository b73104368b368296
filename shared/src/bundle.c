/* bundle.c - SPIFFE trust bundles: X.509 authorities and JWT keys of one
 * trust domain, SPIFFE bundle JSON (a JWKS, parsed with jansson and
 * duplicate keys rejected) and PEM sets.
 *
 * Output is canonical: authorities are written sorted by DER bytes and JWT
 * keys sorted by kid, so two bundles with the same content produce the same
 * JSON whatever order the keys were added in.
 */
#include "cairn/bundle.h"
#include "cairn/b64.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/pem.h"
#include "cairn/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGMOD "bundle"
#define COORD_MAX 48 /* P-384 */

struct jwt_ent {
  char *kid;
  struct cairn_key *key; /* public only */
};

struct cairn_bundle {
  char td[CAIRN_TD_MAX + 1];
  uint64_t seq;
  int64_t hint;
  struct cairn_cert_list *x509; /* never NULL */
  struct jwt_ent *jwt;
  size_t njwt, capjwt;
};

/* ---- construction ---- */

int cairn_bundle_new(const char *td, struct cairn_bundle **out)
{
  struct cairn_bundle *b = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: out is NULL");
  *out = NULL;
  if (!td) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: trust domain is NULL");
  if ((r = cairn_td_validate(td)) != CAIRN_OK) return r;
  if (!(b = calloc(1, sizeof *b))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  snprintf(b->td, sizeof b->td, "%s", td);
  if ((r = cairn_cert_list_new(&b->x509)) != CAIRN_OK) goto out;
  *out = b;
  b = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_bundle_free(b);
  return r;
}

void cairn_bundle_free(struct cairn_bundle *b)
{
  if (!b) return;
  cairn_cert_list_free(b->x509);
  for (size_t i = 0; i < b->njwt; i++) {
    free(b->jwt[i].kid);
    cairn_key_free(b->jwt[i].key);
  }
  free(b->jwt);
  free(b);
}

int cairn_bundle_dup(const struct cairn_bundle *b, struct cairn_bundle **out)
{
  struct cairn_bundle *d = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: out is NULL");
  *out = NULL;
  if (!b) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL bundle");
  if ((r = cairn_bundle_new(b->td, &d)) != CAIRN_OK) return r;
  d->seq = b->seq;
  d->hint = b->hint;
  for (size_t i = 0; i < cairn_cert_list_count(b->x509); i++)
    if ((r = cairn_cert_list_push_copy(d->x509,
                                       cairn_cert_list_at(b->x509, i))))
      goto out;
  for (size_t i = 0; i < b->njwt; i++)
    if ((r = cairn_bundle_add_jwt_key(d, b->jwt[i].kid, b->jwt[i].key)))
      goto out;
  *out = d;
  d = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_bundle_free(d);
  return r;
}

const char *cairn_bundle_td(const struct cairn_bundle *b)
{
  return b ? b->td : NULL;
}
uint64_t cairn_bundle_sequence(const struct cairn_bundle *b)
{
  return b ? b->seq : 0;
}
void cairn_bundle_set_sequence(struct cairn_bundle *b, uint64_t seq)
{
  if (b) b->seq = seq;
}
int64_t cairn_bundle_refresh_hint(const struct cairn_bundle *b)
{
  return b ? b->hint : 0;
}
void cairn_bundle_set_refresh_hint(struct cairn_bundle *b, int64_t seconds)
{
  if (b) b->hint = seconds;
}

/* Re-records the current error detail behind "<prefix> <i>: " (copied
 * first: the detail buffer cannot be both source and destination). */
static int wrap_err(int r, const char *prefix, size_t i)
{
  char d[512];
  snprintf(d, sizeof d, "%s", cairn_errdetail());
  return cairn_seterr(r, "%s %zu: %s", prefix, i, d);
}

static size_t key_count(const struct cairn_bundle *b)
{
  return cairn_cert_list_count(b->x509) + b->njwt;
}

/* ---- X.509 authorities ---- */

static int x509_index(const struct cairn_bundle *b, const struct cairn_cert *c,
                      size_t *idx)
{
  for (size_t i = 0; i < cairn_cert_list_count(b->x509); i++)
    if (cairn_cert_equal(cairn_cert_list_at(b->x509, i), c)) {
      *idx = i;
      return 1;
    }
  return 0;
}

int cairn_bundle_add_x509(struct cairn_bundle *b, const struct cairn_cert *ca)
{
  struct cairn_key *pub = NULL;
  size_t idx;
  int r;

  if (!b || !ca) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL argument");
  if (x509_index(b, ca, &idx)) return CAIRN_OK;
  if (!cairn_cert_is_ca(ca))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "bundle authority is not a CA certificate");
  /* The JSON form carries the key parameters next to x5c, so only keys we
   * can express (EC P-256/P-384) are accepted. */
  if ((r = cairn_cert_public_key(ca, &pub)) != CAIRN_OK) return r;
  cairn_key_free(pub);
  if (key_count(b) >= CAIRN_BUNDLE_KEYS_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "bundle holds more than %d keys",
                        CAIRN_BUNDLE_KEYS_MAX);
  return cairn_cert_list_push_copy(b->x509, ca);
}

int cairn_bundle_remove_x509(struct cairn_bundle *b,
                             const struct cairn_cert *ca)
{
  struct cairn_cert_list *nl = NULL;
  size_t idx;
  int r = CAIRN_ERR_INTERNAL;

  if (!b || !ca) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL argument");
  if (!x509_index(b, ca, &idx))
    return cairn_seterr(CAIRN_ERR_NOT_FOUND,
                        "authority not in the bundle of %s", b->td);
  /* The list type has no removal, so rebuild it without the entry. */
  if ((r = cairn_cert_list_new(&nl)) != CAIRN_OK) return r;
  for (size_t i = 0; i < cairn_cert_list_count(b->x509); i++) {
    if (i == idx) continue;
    if ((r = cairn_cert_list_push_copy(nl, cairn_cert_list_at(b->x509, i))))
      goto out;
  }
  cairn_cert_list_free(b->x509);
  b->x509 = nl;
  nl = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_cert_list_free(nl);
  return r;
}

const struct cairn_cert_list *cairn_bundle_x509(const struct cairn_bundle *b)
{
  return b ? b->x509 : NULL;
}

/* ---- JWT keys ---- */

/* A kid is 1..CAIRN_JWT_KID_MAX printable ASCII bytes: it is copied into
 * JWT headers and log lines. */
static int kid_check(const char *kid, size_t len)
{
  if (len == 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "JWT key has an empty kid");
  if (len > CAIRN_JWT_KID_MAX)
    return cairn_seterr(CAIRN_ERR_POLICY, "kid longer than %d bytes",
                        CAIRN_JWT_KID_MAX);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)kid[i] < 0x20 || (unsigned char)kid[i] > 0x7e)
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "kid must be printable ASCII");
  return CAIRN_OK;
}

static struct jwt_ent *jwt_lookup(const struct cairn_bundle *b,
                                  const char *kid)
{
  for (size_t i = 0; i < b->njwt; i++)
    if (strcmp(b->jwt[i].kid, kid) == 0) return &b->jwt[i];
  return NULL;
}

int cairn_bundle_add_jwt_key(struct cairn_bundle *b, const char *kid,
                             const struct cairn_key *pub)
{
  struct jwt_ent *e;
  struct cairn_key *k = NULL;
  char *kd = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (!b || !kid || !pub)
    return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL argument");
  if ((r = kid_check(kid, strlen(kid))) != CAIRN_OK) return r;
  if ((e = jwt_lookup(b, kid))) {
    if (cairn_key_public_equal(e->key, pub)) return CAIRN_OK;
    return cairn_seterr(CAIRN_ERR_EXISTS,
                        "kid '%s' is already bound to another key", kid);
  }
  if (key_count(b) >= CAIRN_BUNDLE_KEYS_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "bundle holds more than %d keys",
                        CAIRN_BUNDLE_KEYS_MAX);
  if (b->njwt == b->capjwt) {
    size_t nc = b->capjwt ? b->capjwt * 2 : 4;
    struct jwt_ent *n = realloc(b->jwt, nc * sizeof *n);
    if (!n) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    b->jwt = n;
    b->capjwt = nc;
  }
  if ((r = cairn_key_public(pub, &k)) != CAIRN_OK) goto out;
  if (!(kd = cairn_strdup(kid))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  b->jwt[b->njwt].kid = kd;
  b->jwt[b->njwt].key = k;
  b->njwt++;
  kd = NULL; /* transferred */
  k = NULL;
  r = CAIRN_OK;
out:
  free(kd);
  cairn_key_free(k);
  return r;
}

int cairn_bundle_remove_jwt_key(struct cairn_bundle *b, const char *kid)
{
  struct jwt_ent *e;
  size_t i;

  if (!b || !kid) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL argument");
  if (!(e = jwt_lookup(b, kid)))
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no JWT key with kid '%s'", kid);
  i = (size_t)(e - b->jwt);
  free(e->kid);
  cairn_key_free(e->key);
  memmove(&b->jwt[i], &b->jwt[i + 1], (b->njwt - i - 1) * sizeof *b->jwt);
  b->njwt--;
  return CAIRN_OK;
}

size_t cairn_bundle_jwt_count(const struct cairn_bundle *b)
{
  return b ? b->njwt : 0;
}

const struct cairn_key *cairn_bundle_jwt_at(const struct cairn_bundle *b,
                                            size_t i, const char **kid)
{
  if (kid) *kid = NULL;
  if (!b || i >= b->njwt) return NULL;
  if (kid) *kid = b->jwt[i].kid;
  return b->jwt[i].key;
}

const struct cairn_key *cairn_bundle_jwt_find(const struct cairn_bundle *b,
                                              const char *kid)
{
  const struct jwt_ent *e;
  if (!b || !kid) return NULL;
  e = jwt_lookup(b, kid);
  return e ? e->key : NULL;
}

int cairn_bundle_content_equal(const struct cairn_bundle *a,
                               const struct cairn_bundle *b)
{
  size_t n, idx;

  if (!a || !b) return 0;
  if (strcmp(a->td, b->td) != 0) return 0;
  n = cairn_cert_list_count(a->x509);
  if (n != cairn_cert_list_count(b->x509) || a->njwt != b->njwt) return 0;
  /* Entries are unique within a bundle, so equal counts plus inclusion
   * one way means equal sets. */
  for (size_t i = 0; i < n; i++)
    if (!x509_index(b, cairn_cert_list_at(a->x509, i), &idx)) return 0;
  for (size_t i = 0; i < a->njwt; i++) {
    const struct jwt_ent *e = jwt_lookup(b, a->jwt[i].kid);
    if (!e || !cairn_key_public_equal(e->key, a->jwt[i].key)) return 0;
  }
  return 1;
}

const struct cairn_bundle *cairn_bundle_find(
    const struct cairn_bundle *const *bundles, size_t n, const char *td)
{
  if (!bundles || !td) return NULL;
  for (size_t i = 0; i < n; i++)
    if (bundles[i] && strcmp(bundles[i]->td, td) == 0) return bundles[i];
  return NULL;
}

/* ---- canonical order for writing ---- */

static int cmp_der(const void *pa, const void *pb)
{
  const struct cairn_cert *a = *(const struct cairn_cert *const *)pa;
  const struct cairn_cert *b = *(const struct cairn_cert *const *)pb;
  size_t la, lb;
  const uint8_t *da = cairn_cert_der(a, &la), *db = cairn_cert_der(b, &lb);
  int c = memcmp(da, db, la < lb ? la : lb);
  if (c) return c;
  return la < lb ? -1 : la > lb;
}

static int cmp_kid(const void *pa, const void *pb)
{
  const struct jwt_ent *a = *(const struct jwt_ent *const *)pa;
  const struct jwt_ent *b = *(const struct jwt_ent *const *)pb;
  return strcmp(a->kid, b->kid);
}

/* Sorted views (arrays of pointers into b); free() both. */
static int sorted_views(const struct cairn_bundle *b,
                        const struct cairn_cert ***certs,
                        const struct jwt_ent ***jwts)
{
  size_t nc = cairn_cert_list_count(b->x509);

  *certs = calloc(nc ? nc : 1, sizeof **certs);
  *jwts = calloc(b->njwt ? b->njwt : 1, sizeof **jwts);
  if (!*certs || !*jwts) {
    CAIRN_SAFEFREE(certs);
    CAIRN_SAFEFREE(jwts);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  for (size_t i = 0; i < nc; i++) (*certs)[i] = cairn_cert_list_at(b->x509, i);
  for (size_t i = 0; i < b->njwt; i++) (*jwts)[i] = &b->jwt[i];
  if (nc > 1) qsort(*certs, nc, sizeof **certs, cmp_der);
  if (b->njwt > 1) qsort(*jwts, b->njwt, sizeof **jwts, cmp_kid);
  return CAIRN_OK;
}

/* ---- JSON writing ---- */

/* Sets name to a new string value; takes care of allocation failure. */
static int set_str(json_t *o, const char *name, const char *v)
{
  if (json_object_set_new(o, name, json_string(v)) != 0)
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  return CAIRN_OK;
}

/* Adds crv/x/y of key to o (the caller has set kty "EC" already, so the
 * members come out in go-jose's order). */
static int put_ec_params(json_t *o, const struct cairn_key *k)
{
  enum cairn_key_type t = cairn_key_get_type(k);
  size_t cl = cairn_key_type_coord_len(t);
  uint8_t x[COORD_MAX], y[COORD_MAX];
  char *xs = NULL, *ys = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if ((r = cairn_key_public_raw(k, x, y, cl)) != CAIRN_OK) return r;
  if ((r = cairn_b64_encode(x, cl, 1, &xs)) != CAIRN_OK) goto out;
  if ((r = cairn_b64_encode(y, cl, 1, &ys)) != CAIRN_OK) goto out;
  if ((r = set_str(o, "crv", cairn_key_type_jwk_crv(t))) ||
      (r = set_str(o, "x", xs)) || (r = set_str(o, "y", ys)))
    goto out;
  r = CAIRN_OK;
out:
  free(xs);
  free(ys);
  return r;
}

static int x509_jwk(const struct cairn_cert *c, json_t **out)
{
  struct cairn_key *pub = NULL;
  json_t *o = NULL, *arr = NULL;
  const uint8_t *der;
  size_t derlen;
  char *b64 = NULL;
  int r = CAIRN_ERR_INTERNAL;

  *out = NULL;
  if (!(o = json_object()) || !(arr = json_array())) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  if ((r = cairn_cert_public_key(c, &pub)) != CAIRN_OK) goto out;
  if ((r = set_str(o, "use", "x509-svid")) != CAIRN_OK ||
      (r = set_str(o, "kty", "EC")) != CAIRN_OK ||
      (r = put_ec_params(o, pub)) != CAIRN_OK)
    goto out;
  der = cairn_cert_der(c, &derlen);
  if ((r = cairn_b64_encode(der, derlen, 0, &b64)) != CAIRN_OK) goto out;
  if (json_array_append_new(arr, json_string(b64)) != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  r = json_object_set_new(o, "x5c", arr);
  arr = NULL; /* set_new takes it, even when it fails */
  if (r != 0) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  *out = o;
  o = NULL; /* transferred */
  r = CAIRN_OK;
out:
  free(b64);
  cairn_key_free(pub);
  json_decref(arr);
  json_decref(o);
  return r;
}

static int jwt_jwk(const struct jwt_ent *e, int standard, json_t **out)
{
  json_t *o;
  int r = CAIRN_ERR_INTERNAL;

  *out = NULL;
  if (!(o = json_object())) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if (!standard && (r = set_str(o, "use", "jwt-svid")) != CAIRN_OK) goto out;
  if ((r = set_str(o, "kty", "EC")) != CAIRN_OK) goto out;
  if ((r = set_str(o, "kid", e->kid)) != CAIRN_OK) goto out;
  if ((r = put_ec_params(o, e->key)) != CAIRN_OK) goto out;
  *out = o;
  o = NULL; /* transferred */
  r = CAIRN_OK;
out:
  json_decref(o);
  return r;
}

int cairn_bundle_write_json(const struct cairn_bundle *b, unsigned flags,
                            char **json, size_t *len)
{
  const struct cairn_cert **certs = NULL;
  const struct jwt_ent **jwts = NULL;
  json_t *root = NULL, *keys = NULL, *k;
  int standard = (flags & CAIRN_BUNDLE_JSON_STANDARD_JWKS) != 0;
  size_t nc;
  char *s;
  int r = CAIRN_ERR_INTERNAL;

  if (!json) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: out is NULL");
  *json = NULL;
  if (len) *len = 0;
  if (!b) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL bundle");
  if (!standard && b->seq > (uint64_t)INT64_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "spiffe_sequence above 2^63-1 cannot be written");
  if ((r = sorted_views(b, &certs, &jwts)) != CAIRN_OK) return r;
  nc = cairn_cert_list_count(b->x509);
  if (!(root = json_object()) || !(keys = json_array())) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  /* A standard JWKS (Workload API JWT bundles) holds JWT keys only. */
  if (!standard && !(flags & CAIRN_BUNDLE_JSON_NO_X509)) {
    for (size_t i = 0; i < nc; i++) {
      if ((r = x509_jwk(certs[i], &k)) != CAIRN_OK) goto out;
      if (json_array_append_new(keys, k) != 0) {
        r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
        goto out;
      }
    }
  }
  if (!(flags & CAIRN_BUNDLE_JSON_NO_JWT)) {
    for (size_t i = 0; i < b->njwt; i++) {
      if ((r = jwt_jwk(jwts[i], standard, &k)) != CAIRN_OK) goto out;
      if (json_array_append_new(keys, k) != 0) {
        r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
        goto out;
      }
    }
  }
  if (json_object_set_new(root, "keys", keys) != 0) {
    keys = NULL;
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  keys = NULL; /* owned by root */
  if (!standard) {
    if (json_object_set_new(root, "spiffe_sequence",
                            json_integer((json_int_t)b->seq)) != 0 ||
        (b->hint > 0 &&
         json_object_set_new(root, "spiffe_refresh_hint",
                             json_integer((json_int_t)b->hint)) != 0)) {
      r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
      goto out;
    }
  }
  s = json_dumps(root, (flags & CAIRN_BUNDLE_JSON_PRETTY)
                           ? JSON_INDENT(2)
                           : JSON_COMPACT);
  if (!s) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  *json = s;
  if (len) *len = strlen(s);
  r = CAIRN_OK;
out:
  free(certs);
  free(jwts);
  json_decref(keys);
  json_decref(root);
  return r;
}

/* ---- JSON parsing ---- */

/* Optional string member: *s NULL when absent; PARSE when not a string. */
static int get_str(json_t *o, const char *name, size_t i, const char **s,
                   size_t *len)
{
  json_t *v = json_object_get(o, name);
  *s = NULL;
  if (len) *len = 0;
  if (!v) return CAIRN_OK;
  if (!json_is_string(v))
    return cairn_seterr(CAIRN_ERR_PARSE, "bundle key %zu: '%s' is not a string",
                        i, name);
  *s = json_string_value(v);
  if (len) *len = json_string_length(v);
  return CAIRN_OK;
}

/* Decodes a base64url coordinate of exactly cl bytes into out. */
static int get_coord(json_t *o, const char *name, size_t i, size_t cl,
                     uint8_t *out)
{
  const char *s;
  size_t n, dl = 0;
  uint8_t *d = NULL;
  int r;

  if ((r = get_str(o, name, i, &s, &n)) != CAIRN_OK) return r;
  if (!s)
    return cairn_seterr(CAIRN_ERR_PARSE, "bundle key %zu: missing '%s'", i,
                        name);
  if (n > 4 * COORD_MAX ||
      cairn_b64_decode(s, n, 1, &d, &dl) != CAIRN_OK || dl != cl) {
    free(d);
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "bundle key %zu: '%s' is not a base64url %zu-byte "
                        "coordinate", i, name, cl);
  }
  memcpy(out, d, cl);
  free(d);
  return CAIRN_OK;
}

/* Parses the EC key parameters of JWK i. Returns CAIRN_OK with *out NULL
 * for a key type or curve we skip (RSA, P-521, unknown). */
static int jwk_ec_key(json_t *o, size_t i, const char *use,
                      struct cairn_key **out)
{
  const char *kty, *crv;
  enum cairn_key_type t;
  uint8_t x[COORD_MAX], y[COORD_MAX];
  size_t cl;
  int r;

  *out = NULL;
  if ((r = get_str(o, "kty", i, &kty, NULL)) != CAIRN_OK) return r;
  if (!kty)
    return cairn_seterr(CAIRN_ERR_PARSE, "bundle key %zu: missing 'kty'", i);
  if (strcmp(kty, "EC") != 0) {
    if (strcmp(kty, "RSA") == 0)
      CAIRN_LOGD(LOGMOD, "skipping %s key %zu: RSA keys are not supported",
                 use, i);
    else
      CAIRN_LOGD(LOGMOD, "skipping %s key %zu: unknown kty", use, i);
    return CAIRN_OK;
  }
  if (json_object_get(o, "d"))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "bundle key %zu carries private key material", i);
  if ((r = get_str(o, "crv", i, &crv, NULL)) != CAIRN_OK) return r;
  if (!crv)
    return cairn_seterr(CAIRN_ERR_PARSE, "bundle key %zu: missing 'crv'", i);
  if (strcmp(crv, "P-256") == 0) {
    t = CAIRN_KEY_EC_P256;
  } else if (strcmp(crv, "P-384") == 0) {
    t = CAIRN_KEY_EC_P384;
  } else {
    CAIRN_LOGD(LOGMOD, "skipping %s key %zu: unsupported curve", use, i);
    return CAIRN_OK;
  }
  cl = cairn_key_type_coord_len(t);
  if ((r = get_coord(o, "x", i, cl, x)) != CAIRN_OK) return r;
  if ((r = get_coord(o, "y", i, cl, y)) != CAIRN_OK) return r;
  if ((r = cairn_key_from_public_raw(t, x, y, cl, out)) != CAIRN_OK)
    return wrap_err(CAIRN_ERR_PARSE, "bundle key", i);
  return CAIRN_OK;
}

static int parse_x509_entry(struct cairn_bundle *b, json_t *o, size_t i)
{
  struct cairn_key *jwk = NULL, *ck = NULL;
  struct cairn_cert *c = NULL;
  json_t *x5c, *v;
  uint8_t *der = NULL;
  size_t derlen = 0, n;
  int r = CAIRN_ERR_INTERNAL;

  if (json_object_get(o, "kid"))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "bundle key %zu: x509-svid entry must not have a kid",
                        i);
  x5c = json_object_get(o, "x5c");
  if (!x5c || !json_is_array(x5c))
    return cairn_seterr(x5c ? CAIRN_ERR_PARSE : CAIRN_ERR_POLICY,
                        "bundle key %zu: x509-svid entry needs an x5c array",
                        i);
  if (json_array_size(x5c) != 1)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "bundle key %zu: expected a single certificate in "
                        "x5c, got %zu", i, json_array_size(x5c));
  if ((r = jwk_ec_key(o, i, "x509-svid", &jwk)) != CAIRN_OK) return r;
  if (!jwk) return CAIRN_OK; /* skipped (logged) */
  v = json_array_get(x5c, 0);
  if (!json_is_string(v)) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "bundle key %zu: x5c[0] is not a string",
                     i);
    goto out;
  }
  n = json_string_length(v);
  if (n > (CAIRN_CERT_MAX / 3 + 1) * 4) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG, "bundle key %zu: certificate too big",
                     i);
    goto out;
  }
  if (cairn_b64_decode(json_string_value(v), n, 0, &der, &derlen) !=
      CAIRN_OK) {
    r = cairn_seterr(CAIRN_ERR_PARSE,
                     "bundle key %zu: x5c[0] is not standard base64", i);
    goto out;
  }
  if ((r = cairn_cert_parse_der(der, derlen, &c)) != CAIRN_OK) {
    r = wrap_err(r, "bundle key", i);
    goto out;
  }
  if (!cairn_cert_is_ca(c)) {
    r = cairn_seterr(CAIRN_ERR_POLICY,
                     "bundle key %zu: x5c certificate is not a CA", i);
    goto out;
  }
  if (cairn_cert_public_key(c, &ck) != CAIRN_OK ||
      !cairn_key_public_equal(ck, jwk)) {
    r = cairn_seterr(CAIRN_ERR_PARSE,
                     "bundle key %zu: x5c certificate key does not match the "
                     "JWK parameters", i);
    goto out;
  }
  if ((r = cairn_bundle_add_x509(b, c)) != CAIRN_OK) goto out;
  r = CAIRN_OK;
out:
  free(der);
  cairn_cert_free(c);
  cairn_key_free(jwk);
  cairn_key_free(ck);
  return r;
}

static int parse_jwt_entry(struct cairn_bundle *b, json_t *o, size_t i)
{
  struct cairn_key *k = NULL;
  const char *kid;
  size_t kidlen;
  int r = CAIRN_ERR_INTERNAL;

  if ((r = get_str(o, "kid", i, &kid, &kidlen)) != CAIRN_OK) return r;
  if (!kid)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "bundle key %zu: jwt-svid entry has no kid", i);
  if ((r = kid_check(kid, kidlen)) != CAIRN_OK)
    return wrap_err(r, "bundle key", i);
  if ((r = jwk_ec_key(o, i, "jwt-svid", &k)) != CAIRN_OK) return r;
  if (!k) return CAIRN_OK; /* skipped (logged) */
  r = cairn_bundle_add_jwt_key(b, kid, k);
  if (r != CAIRN_OK) r = wrap_err(r, "bundle key", i);
  cairn_key_free(k);
  return r;
}

/* Reads a non-negative integer member into *v (untouched when absent). */
static int get_uint(json_t *root, const char *name, int64_t *v)
{
  json_t *j = json_object_get(root, name);
  if (!j) return CAIRN_OK;
  if (!json_is_integer(j) || json_integer_value(j) < 0)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "bundle: '%s' is not a non-negative integer", name);
  *v = (int64_t)json_integer_value(j);
  return CAIRN_OK;
}

int cairn_bundle_parse_json(const char *td, const char *json, size_t len,
                            int allow_plain_jwks, struct cairn_bundle **out)
{
  struct cairn_bundle *b = NULL;
  json_t *root = NULL, *keys;
  json_error_t jerr;
  int64_t seq = 0, hint = 0;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: out is NULL");
  *out = NULL;
  if (!json && len) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL JSON");
  if (len > CAIRN_BUNDLE_JSON_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "bundle JSON larger than %d bytes",
                        CAIRN_BUNDLE_JSON_MAX);
  if ((r = cairn_bundle_new(td, &b)) != CAIRN_OK) return r;
  root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "bundle JSON: %s (line %d)", jerr.text,
                     jerr.line);
    goto out;
  }
  if (!json_is_object(root)) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "bundle JSON is not an object");
    goto out;
  }
  keys = json_object_get(root, "keys");
  if (!keys || !json_is_array(keys)) {
    r = cairn_seterr(CAIRN_ERR_PARSE, keys ? "bundle: 'keys' is not an array"
                                           : "bundle: no 'keys' member");
    goto out;
  }
  if (json_array_size(keys) > CAIRN_BUNDLE_KEYS_MAX) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG, "bundle has more than %d keys",
                     CAIRN_BUNDLE_KEYS_MAX);
    goto out;
  }
  if ((r = get_uint(root, "spiffe_sequence", &seq)) != CAIRN_OK ||
      (r = get_uint(root, "spiffe_refresh_hint", &hint)) != CAIRN_OK)
    goto out;
  b->seq = (uint64_t)seq;
  b->hint = hint;
  for (size_t i = 0; i < json_array_size(keys); i++) {
    json_t *k = json_array_get(keys, i);
    const char *use;
    if (!json_is_object(k)) {
      r = cairn_seterr(CAIRN_ERR_PARSE, "bundle key %zu is not an object", i);
      goto out;
    }
    if ((r = get_str(k, "use", i, &use, NULL)) != CAIRN_OK) goto out;
    if (!use) {
      /* Standard JWKS (Workload API JWT bundles) have no "use"; their keys
       * are JWT keys when the caller says so. */
      if (allow_plain_jwks && json_object_get(k, "kid")) {
        if ((r = parse_jwt_entry(b, k, i)) != CAIRN_OK) goto out;
      } else {
        CAIRN_LOGD(LOGMOD, "skipping bundle key %zu: no 'use'", i);
      }
    } else if (strcmp(use, "x509-svid") == 0) {
      if ((r = parse_x509_entry(b, k, i)) != CAIRN_OK) goto out;
    } else if (strcmp(use, "jwt-svid") == 0) {
      if ((r = parse_jwt_entry(b, k, i)) != CAIRN_OK) goto out;
    } else {
      CAIRN_LOGD(LOGMOD, "skipping bundle key %zu: unknown use", i);
    }
  }
  *out = b;
  b = NULL; /* transferred */
  r = CAIRN_OK;
out:
  json_decref(root);
  cairn_bundle_free(b);
  return r;
}

/* ---- PEM ---- */

int cairn_bundle_parse_pem(const char *td, const char *pem, size_t len,
                           struct cairn_bundle **out)
{
  struct cairn_bundle *b = NULL;
  struct cairn_cert_list *l = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: out is NULL");
  *out = NULL;
  if (!pem && len) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL PEM");
  if (len > CAIRN_BUNDLE_JSON_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "bundle PEM larger than %d bytes",
                        CAIRN_BUNDLE_JSON_MAX);
  if ((r = cairn_bundle_new(td, &b)) != CAIRN_OK) return r;
  if ((r = cairn_cert_list_parse_pem(pem ? pem : "", len, &l)) != CAIRN_OK)
    goto out;
  for (size_t i = 0; i < cairn_cert_list_count(l); i++)
    if ((r = cairn_bundle_add_x509(b, cairn_cert_list_at(l, i))) != CAIRN_OK) {
      r = wrap_err(r, "bundle PEM certificate", i);
      goto out;
    }
  *out = b;
  b = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_cert_list_free(l);
  cairn_bundle_free(b);
  return r;
}

int cairn_bundle_write_pem(const struct cairn_bundle *b, char **pem,
                           size_t *len)
{
  const struct cairn_cert **certs = NULL;
  const struct jwt_ent **jwts = NULL;
  char *p = NULL;
  size_t n = 0;
  int r = CAIRN_ERR_INTERNAL;

  if (!pem) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: out is NULL");
  *pem = NULL;
  if (len) *len = 0;
  if (!b) return cairn_seterr(CAIRN_ERR_INVAL, "bundle: NULL bundle");
  if ((r = sorted_views(b, &certs, &jwts)) != CAIRN_OK) return r;
  for (size_t i = 0; i < cairn_cert_list_count(b->x509); i++) {
    const uint8_t *der;
    size_t dl;
    der = cairn_cert_der(certs[i], &dl);
    if ((r = cairn_pem_append("CERTIFICATE", der, dl, &p, &n)) != CAIRN_OK)
      goto out;
  }
  if (!p && !(p = cairn_strdup(""))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  *pem = p;
  p = NULL; /* transferred */
  if (len) *len = n;
  r = CAIRN_OK;
out:
  free(p);
  free(certs);
  free(jwts);
  return r;
}
