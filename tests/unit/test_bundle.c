/* Unit tests for bundle.c: the in-memory set operations, SPIFFE bundle
 * JSON reading and writing (canonical output, round trips, standard JWKS)
 * with every rejection rule, the skipping rules, and PEM sets. */
#include "cairn/b64.h"
#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/util.h"
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((time_t)1800000000)
#define TD "example.org"

/* Fixtures made once: two CA roots, a leaf, three JWT keys. */
static struct cairn_key *g_ca_key, *g_ca2_key, *g_leaf_key;
static struct cairn_cert *g_ca, *g_ca2, *g_leaf;
static struct cairn_key *g_k1, *g_k2, *g_k384;

static struct cairn_cert *issue(enum cairn_cert_kind kind, const char *id,
                                const struct cairn_key *subj,
                                const struct cairn_key *ikey,
                                const struct cairn_cert *issuer)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;

  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.now = NOW;
  t.ttl = 86400;
  t.path_len = -1;
  CHECK_OK(cairn_cert_issue(&t, subj, ikey, issuer, &c));
  return c;
}

static void fixtures(void)
{
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_ca_key));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P384, &g_ca2_key));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_leaf_key));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_k1));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_k2));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P384, &g_k384));
  g_ca = issue(CAIRN_CERT_ROOT, "spiffe://" TD, g_ca_key, g_ca_key, NULL);
  g_ca2 = issue(CAIRN_CERT_ROOT, "spiffe://" TD, g_ca2_key, g_ca2_key, NULL);
  g_leaf = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/w", g_leaf_key, g_ca_key,
                 g_ca);
}

static void free_fixtures(void)
{
  cairn_cert_free(g_ca);
  cairn_cert_free(g_ca2);
  cairn_cert_free(g_leaf);
  cairn_key_free(g_ca_key);
  cairn_key_free(g_ca2_key);
  cairn_key_free(g_leaf_key);
  cairn_key_free(g_k1);
  cairn_key_free(g_k2);
  cairn_key_free(g_k384);
}

/* A bundle with both CAs and three JWT keys. */
static struct cairn_bundle *full_bundle(void)
{
  struct cairn_bundle *b = NULL;
  CHECK_OK(cairn_bundle_new(TD, &b));
  if (!b) return NULL;
  CHECK_OK(cairn_bundle_add_x509(b, g_ca));
  CHECK_OK(cairn_bundle_add_x509(b, g_ca2));
  CHECK_OK(cairn_bundle_add_jwt_key(b, "kid-1", g_k1));
  CHECK_OK(cairn_bundle_add_jwt_key(b, "kid-2", g_k2));
  CHECK_OK(cairn_bundle_add_jwt_key(b, "kid-384", g_k384));
  cairn_bundle_set_sequence(b, 7);
  cairn_bundle_set_refresh_hint(b, 300);
  return b;
}

static char *b64(const void *p, size_t n, int url)
{
  char *s = NULL;
  CHECK_OK(cairn_b64_encode(p, n, url, &s));
  return s;
}

/* JWK member strings for a key: x and y base64url. */
static void key_xy(const struct cairn_key *k, char **x, char **y)
{
  uint8_t bx[48], by[48];
  size_t cl = cairn_key_type_coord_len(cairn_key_get_type(k));
  CHECK_OK(cairn_key_public_raw(k, bx, by, cl));
  *x = b64(bx, cl, 1);
  *y = b64(by, cl, 1);
}

/* "x5c" entry string of a cert (standard base64 of its DER). */
static char *cert_b64(const struct cairn_cert *c)
{
  size_t n;
  const uint8_t *d = cairn_cert_der(c, &n);
  return b64(d, n, 0);
}

/* Parses json and returns the result code; *out keeps the bundle. */
static int parse(const char *json, int plain, struct cairn_bundle **out)
{
  struct cairn_bundle *b = (struct cairn_bundle *)1;
  int r = cairn_bundle_parse_json(TD, json, strlen(json), plain, &b);
  if (r != CAIRN_OK) CHECK(b == NULL);
  if (out)
    *out = b;
  else
    cairn_bundle_free(b);
  return r;
}

/* A JSON bundle text with one JWK built from printf-style pieces. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, f);
  CHECK(vasprintf(&s, f, ap) >= 0);
  va_end(ap);
  return s;
}

/* ---- tests ---- */

static void test_new_and_accessors(void)
{
  struct cairn_bundle *b = (struct cairn_bundle *)1;

  CHECK_ERR(cairn_bundle_new("Example.org", &b), CAIRN_ERR_PARSE);
  CHECK(b == NULL);
  CHECK_ERR(cairn_bundle_new("", &b), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_bundle_new(NULL, &b), CAIRN_ERR_INVAL);
  CHECK_OK(cairn_bundle_new(TD, &b));
  CHECK_STR_EQ(cairn_bundle_td(b), TD);
  CHECK_INT_EQ(cairn_bundle_sequence(b), 0);
  CHECK_INT_EQ(cairn_bundle_refresh_hint(b), 0);
  CHECK(cairn_bundle_x509(b) != NULL);
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(b)), 0);
  CHECK_INT_EQ(cairn_bundle_jwt_count(b), 0);
  cairn_bundle_set_sequence(b, UINT64_C(18446744073709551615));
  CHECK(cairn_bundle_sequence(b) == UINT64_C(18446744073709551615));
  cairn_bundle_set_refresh_hint(b, 3600);
  CHECK_INT_EQ(cairn_bundle_refresh_hint(b), 3600);
  cairn_bundle_free(b);
  cairn_bundle_free(NULL);
}

static void test_x509_set(void)
{
  struct cairn_bundle *b = NULL;
  const struct cairn_cert_list *l;

  CHECK_OK(cairn_bundle_new(TD, &b));
  CHECK_OK(cairn_bundle_add_x509(b, g_ca));
  CHECK_OK(cairn_bundle_add_x509(b, g_ca)); /* no-op */
  CHECK_ERR(cairn_bundle_add_x509(b, g_leaf), CAIRN_ERR_POLICY);
  CHECK_OK(cairn_bundle_add_x509(b, g_ca2));
  l = cairn_bundle_x509(b);
  CHECK_INT_EQ(cairn_cert_list_count(l), 2);
  CHECK(cairn_cert_equal(cairn_cert_list_at(l, 0), g_ca));
  CHECK_OK(cairn_bundle_remove_x509(b, g_ca));
  l = cairn_bundle_x509(b);
  CHECK_INT_EQ(cairn_cert_list_count(l), 1);
  CHECK(cairn_cert_equal(cairn_cert_list_at(l, 0), g_ca2));
  CHECK_ERR(cairn_bundle_remove_x509(b, g_ca), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_bundle_remove_x509(b, g_leaf), CAIRN_ERR_NOT_FOUND);
  cairn_bundle_free(b);
}

static void test_jwt_set(void)
{
  struct cairn_bundle *b = NULL;
  struct cairn_key *pub = NULL;
  const char *kid = NULL;
  char longkid[CAIRN_JWT_KID_MAX + 2];

  CHECK_OK(cairn_bundle_new(TD, &b));
  CHECK_OK(cairn_bundle_add_jwt_key(b, "a", g_k1));
  CHECK_OK(cairn_key_public(g_k1, &pub));
  CHECK_OK(cairn_bundle_add_jwt_key(b, "a", pub)); /* same key: no-op */
  CHECK_ERR(cairn_bundle_add_jwt_key(b, "a", g_k2), CAIRN_ERR_EXISTS);
  CHECK_OK(cairn_bundle_add_jwt_key(b, "b", g_k1)); /* same key, new kid */
  CHECK_INT_EQ(cairn_bundle_jwt_count(b), 2);
  /* The bundle stores the public half only. */
  CHECK(!cairn_key_has_private(cairn_bundle_jwt_find(b, "a")));
  CHECK(cairn_key_public_equal(cairn_bundle_jwt_find(b, "a"), g_k1));
  CHECK(cairn_bundle_jwt_find(b, "c") == NULL);
  CHECK(cairn_bundle_jwt_at(b, 1, &kid) != NULL);
  CHECK_STR_EQ(kid, "b");
  CHECK(cairn_bundle_jwt_at(b, 2, &kid) == NULL);
  CHECK(kid == NULL);
  CHECK_ERR(cairn_bundle_add_jwt_key(b, "", g_k1), CAIRN_ERR_POLICY);
  CHECK_ERR(cairn_bundle_add_jwt_key(b, "tab\there", g_k1), CAIRN_ERR_POLICY);
  memset(longkid, 'k', sizeof longkid - 1);
  longkid[sizeof longkid - 1] = 0;
  CHECK_ERR(cairn_bundle_add_jwt_key(b, longkid, g_k1), CAIRN_ERR_POLICY);
  longkid[CAIRN_JWT_KID_MAX] = 0;
  CHECK_OK(cairn_bundle_add_jwt_key(b, longkid, g_k1));
  CHECK_OK(cairn_bundle_remove_jwt_key(b, "a"));
  CHECK_ERR(cairn_bundle_remove_jwt_key(b, "a"), CAIRN_ERR_NOT_FOUND);
  CHECK(cairn_bundle_jwt_find(b, "a") == NULL);
  CHECK(cairn_bundle_jwt_find(b, "b") != NULL);
  CHECK_INT_EQ(cairn_bundle_jwt_count(b), 2);
  cairn_key_free(pub);
  cairn_bundle_free(b);
}

static void test_keys_cap(void)
{
  struct cairn_bundle *b = NULL;
  char kid[32];

  CHECK_OK(cairn_bundle_new(TD, &b));
  CHECK_OK(cairn_bundle_add_x509(b, g_ca));
  for (int i = 1; i < CAIRN_BUNDLE_KEYS_MAX; i++) {
    snprintf(kid, sizeof kid, "k%d", i);
    CHECK_OK(cairn_bundle_add_jwt_key(b, kid, g_k1));
  }
  CHECK_ERR(cairn_bundle_add_jwt_key(b, "one-more", g_k1), CAIRN_ERR_TOO_BIG);
  CHECK_ERR(cairn_bundle_add_x509(b, g_ca2), CAIRN_ERR_TOO_BIG);
  cairn_bundle_free(b);
}

static void test_dup_equal_find(void)
{
  struct cairn_bundle *a = full_bundle(), *d = NULL, *o = NULL, *c = NULL;
  const struct cairn_bundle *arr[4];

  CHECK_OK(cairn_bundle_dup(a, &d));
  CHECK(cairn_bundle_content_equal(a, d));
  CHECK_INT_EQ(cairn_bundle_sequence(d), 7);
  CHECK_INT_EQ(cairn_bundle_refresh_hint(d), 300);
  /* Independent copies. */
  CHECK_OK(cairn_bundle_remove_jwt_key(d, "kid-2"));
  CHECK(!cairn_bundle_content_equal(a, d));
  CHECK(cairn_bundle_jwt_find(a, "kid-2") != NULL);
  /* Order-insensitive, sequence and hint ignored. */
  CHECK_OK(cairn_bundle_new(TD, &c));
  CHECK_OK(cairn_bundle_add_jwt_key(c, "kid-384", g_k384));
  CHECK_OK(cairn_bundle_add_jwt_key(c, "kid-2", g_k2));
  CHECK_OK(cairn_bundle_add_x509(c, g_ca2));
  CHECK_OK(cairn_bundle_add_jwt_key(c, "kid-1", g_k1));
  CHECK_OK(cairn_bundle_add_x509(c, g_ca));
  CHECK(cairn_bundle_content_equal(a, c));
  /* Same kid, another key: different. */
  CHECK_OK(cairn_bundle_remove_jwt_key(c, "kid-1"));
  CHECK_OK(cairn_bundle_add_jwt_key(c, "kid-1", g_k2));
  CHECK(!cairn_bundle_content_equal(a, c));
  /* Another CA set: different. */
  CHECK_OK(cairn_bundle_dup(a, &o));
  CHECK_OK(cairn_bundle_remove_x509(o, g_ca2));
  CHECK(!cairn_bundle_content_equal(a, o));
  cairn_bundle_free(o);
  o = NULL;
  /* Another trust domain: different. */
  CHECK_OK(cairn_bundle_new("other.org", &o));
  CHECK(!cairn_bundle_content_equal(a, o));
  CHECK(!cairn_bundle_content_equal(a, NULL));

  arr[0] = NULL;
  arr[1] = o;
  arr[2] = a;
  arr[3] = d;
  CHECK(cairn_bundle_find(arr, 4, "other.org") == o);
  CHECK(cairn_bundle_find(arr, 4, TD) == a);
  CHECK(cairn_bundle_find(arr, 4, "nope.org") == NULL);
  CHECK(cairn_bundle_find(arr, 1, TD) == NULL);
  CHECK(cairn_bundle_find(NULL, 0, TD) == NULL);
  cairn_bundle_free(a);
  cairn_bundle_free(c);
  cairn_bundle_free(d);
  cairn_bundle_free(o);
}

/* The exact JSON text for a known key: pins member order and encoding. */
static void test_json_golden(void)
{
  static const uint8_t X[32] = {
      0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6,
      0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb,
      0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96};
  static const uint8_t Y[32] = {
      0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb,
      0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
      0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};
  /* The P-256 base point, so the coordinates are well known. */
  static const char WANT[] =
      "{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"g\","
      "\"crv\":\"P-256\",\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\","
      "\"y\":\"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU\"}],"
      "\"spiffe_sequence\":3,\"spiffe_refresh_hint\":60}";
  static const char WANT_STD[] =
      "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"g\",\"crv\":\"P-256\","
      "\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\","
      "\"y\":\"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU\"}]}";
  struct cairn_key *k = NULL;
  struct cairn_bundle *b = NULL;
  char *json = NULL;
  size_t len = 0;

  CHECK_OK(cairn_key_from_public_raw(CAIRN_KEY_EC_P256, X, Y, 32, &k));
  CHECK_OK(cairn_bundle_new(TD, &b));
  CHECK_OK(cairn_bundle_add_jwt_key(b, "g", k));
  cairn_bundle_set_sequence(b, 3);
  cairn_bundle_set_refresh_hint(b, 60);
  CHECK_OK(cairn_bundle_write_json(b, 0, &json, &len));
  CHECK_STR_EQ(json, WANT);
  CHECK_INT_EQ(len, strlen(WANT));
  free(json);
  CHECK_OK(cairn_bundle_write_json(b, CAIRN_BUNDLE_JSON_STANDARD_JWKS, &json,
                                   &len));
  CHECK_STR_EQ(json, WANT_STD);
  free(json);
  /* No refresh hint set: the member is left out. */
  cairn_bundle_set_refresh_hint(b, 0);
  CHECK_OK(cairn_bundle_write_json(b, 0, &json, NULL));
  CHECK(json && strstr(json, "refresh_hint") == NULL);
  CHECK(json && strstr(json, "\"spiffe_sequence\":3") != NULL);
  free(json);
  cairn_bundle_free(b);
  cairn_key_free(k);
}

static void test_json_roundtrip(void)
{
  struct cairn_bundle *a = full_bundle(), *p = NULL, *c = NULL;
  char *json = NULL, *json2 = NULL, *cb = NULL;
  size_t len;

  CHECK_OK(cairn_bundle_write_json(a, 0, &json, &len));
  CHECK_OK(cairn_bundle_parse_json(TD, json, len, 0, &p));
  CHECK(cairn_bundle_content_equal(a, p));
  CHECK_INT_EQ(cairn_bundle_sequence(p), 7);
  CHECK_INT_EQ(cairn_bundle_refresh_hint(p), 300);
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(p)), 2);
  CHECK_INT_EQ(cairn_bundle_jwt_count(p), 3);
  /* x509 entries carry one std-base64 cert, no kid, the cert's key. */
  cb = cert_b64(g_ca);
  CHECK(strstr(json, cb) != NULL);
  CHECK(strstr(json, "\"x509-svid\"") != NULL);
  CHECK(strstr(json, "\"P-384\"") != NULL);
  free(cb);

  /* Canonical: insertion order does not change the output. */
  CHECK_OK(cairn_bundle_new(TD, &c));
  CHECK_OK(cairn_bundle_add_jwt_key(c, "kid-384", g_k384));
  CHECK_OK(cairn_bundle_add_x509(c, g_ca2));
  CHECK_OK(cairn_bundle_add_jwt_key(c, "kid-2", g_k2));
  CHECK_OK(cairn_bundle_add_x509(c, g_ca));
  CHECK_OK(cairn_bundle_add_jwt_key(c, "kid-1", g_k1));
  cairn_bundle_set_sequence(c, 7);
  cairn_bundle_set_refresh_hint(c, 300);
  CHECK_OK(cairn_bundle_write_json(c, 0, &json2, NULL));
  CHECK_STR_EQ(json, json2);
  free(json2);
  /* And re-writing the parsed bundle gives the same bytes. */
  CHECK_OK(cairn_bundle_write_json(p, 0, &json2, NULL));
  CHECK_STR_EQ(json, json2);
  free(json2);
  free(json);

  /* Pretty output parses to the same content. */
  CHECK_OK(cairn_bundle_write_json(a, CAIRN_BUNDLE_JSON_PRETTY, &json, &len));
  CHECK(strchr(json, '\n') != NULL);
  cairn_bundle_free(p);
  p = NULL;
  CHECK_OK(cairn_bundle_parse_json(TD, json, len, 0, &p));
  CHECK(cairn_bundle_content_equal(a, p));
  free(json);

  /* Large sequence numbers survive; above 2^63-1 cannot be written. */
  cairn_bundle_set_sequence(a, UINT64_C(9223372036854775807));
  CHECK_OK(cairn_bundle_write_json(a, 0, &json, &len));
  cairn_bundle_free(p);
  p = NULL;
  CHECK_OK(cairn_bundle_parse_json(TD, json, len, 0, &p));
  CHECK(cairn_bundle_sequence(p) == UINT64_C(9223372036854775807));
  free(json);
  cairn_bundle_set_sequence(a, UINT64_C(9223372036854775808));
  json = (char *)1;
  CHECK_ERR(cairn_bundle_write_json(a, 0, &json, &len), CAIRN_ERR_INVAL);
  CHECK(json == NULL);
  cairn_bundle_free(a);
  cairn_bundle_free(c);
  cairn_bundle_free(p);
}

static void test_json_flags(void)
{
  struct cairn_bundle *a = full_bundle(), *p = NULL;
  char *json = NULL;
  size_t len;

  CHECK_OK(cairn_bundle_write_json(a, CAIRN_BUNDLE_JSON_NO_X509, &json, &len));
  CHECK(strstr(json, "x509-svid") == NULL && strstr(json, "x5c") == NULL);
  CHECK_OK(cairn_bundle_parse_json(TD, json, len, 0, &p));
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(p)), 0);
  CHECK_INT_EQ(cairn_bundle_jwt_count(p), 3);
  cairn_bundle_free(p);
  free(json);

  CHECK_OK(cairn_bundle_write_json(a, CAIRN_BUNDLE_JSON_NO_JWT, &json, &len));
  CHECK(strstr(json, "jwt-svid") == NULL && strstr(json, "\"kid\"") == NULL);
  CHECK_OK(cairn_bundle_parse_json(TD, json, len, 0, &p));
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(p)), 2);
  CHECK_INT_EQ(cairn_bundle_jwt_count(p), 0);
  cairn_bundle_free(p);
  free(json);

  /* Standard JWKS: JWT keys only, no "use", no spiffe_* members. */
  CHECK_OK(cairn_bundle_write_json(a, CAIRN_BUNDLE_JSON_STANDARD_JWKS, &json,
                                   &len));
  CHECK(strstr(json, "use") == NULL && strstr(json, "spiffe_") == NULL &&
        strstr(json, "x5c") == NULL);
  CHECK(strstr(json, "\"kid-384\"") != NULL);
  /* Read back as a plain JWKS only when allowed. */
  CHECK_OK(cairn_bundle_parse_json(TD, json, len, 1, &p));
  CHECK_INT_EQ(cairn_bundle_jwt_count(p), 3);
  CHECK(cairn_key_public_equal(cairn_bundle_jwt_find(p, "kid-2"), g_k2));
  cairn_bundle_free(p);
  CHECK_OK(cairn_bundle_parse_json(TD, json, len, 0, &p));
  CHECK_INT_EQ(cairn_bundle_jwt_count(p), 0);
  cairn_bundle_free(p);
  free(json);
  cairn_bundle_free(a);
}

static void test_json_reject(void)
{
  struct cairn_bundle *b = NULL;
  char *ca = cert_b64(g_ca), *leaf = cert_b64(g_leaf), *ca2 = cert_b64(g_ca2);
  char *x, *y, *x2, *y2, *s;

  key_xy(g_ca_key, &x, &y);
  key_xy(g_k2, &x2, &y2);
#define JWT_ENT(kid, xx, yy)                                              \
  "{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"" kid "\",\"crv\":"    \
  "\"P-256\",\"x\":\"" xx "\",\"y\":\"" yy "\"}"

  /* The good shapes these negatives are derived from. */
  s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\"]}]}", x, y, ca);
  CHECK_OK(parse(s, 0, &b));
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(b)), 1);
  CHECK_INT_EQ(cairn_bundle_sequence(b), 0);
  cairn_bundle_free(b);
  free(s);
  s = fmt("{\"keys\":[" JWT_ENT("k", "%s", "%s") "]}", x, y);
  CHECK_OK(parse(s, 0, NULL));
  free(s);

  /* Syntax. */
  CHECK_ERR(parse("", 0, NULL), CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{", 0, NULL), CAIRN_ERR_PARSE);
  CHECK_ERR(parse("[]", 0, NULL), CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{}", 0, NULL), CAIRN_ERR_PARSE); /* no keys */
  CHECK_ERR(parse("{\"spiffe_sequence\":1}", 0, NULL), CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{\"keys\":{}}", 0, NULL), CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{\"keys\":[1]}", 0, NULL), CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{\"keys\":[],\"keys\":[]}", 0, NULL), CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{\"keys\":[],\"spiffe_sequence\":-1}", 0, NULL),
            CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{\"keys\":[],\"spiffe_sequence\":\"1\"}", 0, NULL),
            CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{\"keys\":[],\"spiffe_sequence\":1.5}", 0, NULL),
            CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{\"keys\":[],\"spiffe_sequence\":99999999999999999999}", 0,
                  NULL), CAIRN_ERR_PARSE);
  CHECK_ERR(parse("{\"keys\":[],\"spiffe_refresh_hint\":true}", 0, NULL),
            CAIRN_ERR_PARSE);
  CHECK_OK(parse("{\"keys\":[],\"spiffe_sequence\":5,\"other\":{}}", 0, &b));
  CHECK_INT_EQ(cairn_bundle_sequence(b), 5);
  cairn_bundle_free(b);
  CHECK_ERR(cairn_bundle_parse_json(TD, "{\"keys\":[]}\0x", 13, 0, &b),
            CAIRN_ERR_PARSE);

  /* Duplicate members inside a JWK. */
  s = fmt("{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"a\","
          "\"kid\":\"b\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);

  /* x5c with 0 or 2 certificates, missing, not an array, not a string. */
  s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[]}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_POLICY);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\",\"%s\"]}]}", x, y, ca, ca2);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_POLICY);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_POLICY);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\",\"x5c\":\"%s\"}]}", x, y, ca);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[7]}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);

  /* A leaf (non-CA) certificate as authority. */
  {
    char *lx, *ly;
    key_xy(g_leaf_key, &lx, &ly);
    s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":"
            "\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\"]}]}", lx, ly,
            leaf);
    CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_POLICY);
    free(s);
    free(lx);
    free(ly);
  }

  /* kid on an x509-svid entry. */
  s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"kid\":\"k\","
          "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\"]}]}", x,
          y, ca);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_POLICY);
  free(s);

  /* x5c key and the JWK parameters disagree. */
  s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\"]}]}", x2, y2, ca);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);

  /* x5c in base64url or with junk; a DER that is no certificate. */
  {
    char *u = cairn_strdup(ca);
    for (char *q = u; *q; q++) {
      if (*q == '+') *q = '-';
      if (*q == '/') *q = '_';
    }
    if (strcmp(u, ca) != 0) {
      s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":"
              "\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\"]}]}", x, y,
              u);
      CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
      free(s);
    }
    free(u);
    s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":"
            "\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\\n\"]}]}", x, y,
            ca);
    CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
    free(s);
    s = fmt("{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":"
            "\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"MAMCAQE=\"]}]}", x,
            y);
    CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
    free(s);
  }

  /* jwt-svid entry without kid, with an empty or non-string kid. */
  s = fmt("{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_POLICY);
  free(s);
  s = fmt("{\"keys\":[" JWT_ENT("", "%s", "%s") "]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_POLICY);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":5,"
          "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);

  /* Same kid, different key; same kid, same key is fine. */
  s = fmt("{\"keys\":[" JWT_ENT("k", "%s", "%s") "," JWT_ENT("k", "%s", "%s")
          "]}", x, y, x2, y2);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_EXISTS);
  free(s);
  s = fmt("{\"keys\":[" JWT_ENT("k", "%s", "%s") "," JWT_ENT("k", "%s", "%s")
          "]}", x, y, x, y);
  CHECK_OK(parse(s, 0, &b));
  CHECK_INT_EQ(cairn_bundle_jwt_count(b), 1);
  cairn_bundle_free(b);
  free(s);

  /* Bad coordinates: base64 with padding, std alphabet, wrong length, a
   * point off the curve, missing y, missing kty/crv, private "d". */
  s = fmt("{\"keys\":[" JWT_ENT("k", "%s=", "%s") "]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  s = fmt("{\"keys\":[" JWT_ENT("k", "%s", "%sAA") "]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  s = fmt("{\"keys\":[" JWT_ENT("k", "%s", "%s") "]}", x, x);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  s = fmt("{\"keys\":[" JWT_ENT("k", "%s", "+/+/") "]}", x);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"k\","
          "\"crv\":\"P-256\",\"x\":\"%s\"}]}", x);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"jwt-svid\",\"kid\":\"k\","
          "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"k\","
          "\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  s = fmt("{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"k\","
          "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"AA\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_POLICY);
  free(s);
  s = fmt("{\"keys\":[{\"use\":7,\"kty\":\"EC\",\"kid\":\"k\","
          "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
  /* A P-256 key labelled P-384 has the wrong coordinate length. */
  s = fmt("{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"k\","
          "\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
  CHECK_ERR(parse(s, 0, NULL), CAIRN_ERR_PARSE);
  free(s);
#undef JWT_ENT
  free(x);
  free(y);
  free(x2);
  free(y2);
  free(ca);
  free(ca2);
  free(leaf);
}

static void test_json_skip(void)
{
  struct cairn_bundle *b = NULL;
  char *x, *y, *s, *ca = cert_b64(g_ca), logbuf[4096];
  FILE *lf = tmpfile();
  size_t n;

  key_xy(g_k1, &x, &y);
  /* Unknown use, missing use, unknown kty, RSA (both uses), P-521: all
   * skipped; the one good key remains. */
  s = fmt("{\"keys\":["
          "{\"use\":\"wit-svid\",\"kty\":\"EC\",\"kid\":\"w\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\"},"
          "{\"kty\":\"EC\",\"kid\":\"nouse\",\"crv\":\"P-256\","
          "\"x\":\"%s\",\"y\":\"%s\"},"
          "{\"use\":\"jwt-svid\",\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":"
          "\"Ed25519\",\"x\":\"AAAA\"},"
          "{\"use\":\"jwt-svid\",\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"AQAB\","
          "\"e\":\"AQAB\"},"
          "{\"use\":\"x509-svid\",\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\","
          "\"x5c\":[\"%s\"]},"
          "{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"p521\",\"crv\":"
          "\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},"
          "{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"good\",\"crv\":"
          "\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
          x, y, x, y, ca, x, y);
  CHECK(lf != NULL);
  cairn_log_set_stream(lf);
  cairn_log_set_level(CAIRN_LOG_DEBUG);
  CHECK_OK(parse(s, 0, &b));
  cairn_log_set_level(CAIRN_LOG_INFO);
  cairn_log_set_stream(NULL);
  CHECK_INT_EQ(cairn_bundle_jwt_count(b), 1);
  CHECK(cairn_bundle_jwt_find(b, "good") != NULL);
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(b)), 0);
  cairn_bundle_free(b);
  /* The RSA skip is logged at debug level. */
  if (lf) {
    rewind(lf);
    n = fread(logbuf, 1, sizeof logbuf - 1, lf);
    logbuf[n] = 0;
    CHECK(strstr(logbuf, "RSA keys are not supported") != NULL);
    fclose(lf);
  }
  /* With plain JWKS allowed, the key without "use" is taken. */
  CHECK_OK(parse(s, 1, &b));
  CHECK_INT_EQ(cairn_bundle_jwt_count(b), 2);
  CHECK(cairn_bundle_jwt_find(b, "nouse") != NULL);
  cairn_bundle_free(b);
  free(s);
  free(x);
  free(y);
  free(ca);
}

static void test_json_caps(void)
{
  struct cairn_bundle *b = (struct cairn_bundle *)1;
  char *big;
  size_t n = CAIRN_BUNDLE_JSON_MAX + 1, o = 0;

  /* Over the byte cap (checked before parsing). */
  big = malloc(n + 1);
  memset(big, ' ', n);
  memcpy(big, "{\"keys\":[]}", 11);
  big[n] = 0;
  CHECK_ERR(cairn_bundle_parse_json(TD, big, n, 0, &b), CAIRN_ERR_TOO_BIG);
  CHECK(b == NULL);
  /* Exactly at the cap is fine. */
  CHECK_OK(cairn_bundle_parse_json(TD, big, n - 1, 0, &b));
  cairn_bundle_free(b);
  /* Over the key-count cap. */
  o = (size_t)sprintf(big, "{\"keys\":[");
  for (int i = 0; i <= CAIRN_BUNDLE_KEYS_MAX; i++)
    o += (size_t)sprintf(big + o, "%s{}", i ? "," : "");
  o += (size_t)sprintf(big + o, "]}");
  CHECK_ERR(cairn_bundle_parse_json(TD, big, o, 0, &b), CAIRN_ERR_TOO_BIG);
  /* Deep nesting is an error, not a crash. */
  o = (size_t)sprintf(big, "{\"keys\":[],\"x\":");
  for (int i = 0; i < 100000; i++) big[o++] = '[';
  for (int i = 0; i < 100000; i++) big[o++] = ']';
  big[o++] = '}';
  CHECK_ERR(cairn_bundle_parse_json(TD, big, o, 0, &b), CAIRN_ERR_PARSE);
  free(big);
}

static void test_pem(void)
{
  struct cairn_bundle *a = full_bundle(), *p = NULL, *e = NULL;
  char *pem = NULL, *pem2 = NULL, *leafpem = NULL;
  size_t len, l2;

  CHECK_OK(cairn_bundle_write_pem(a, &pem, &len));
  CHECK_INT_EQ(len, strlen(pem));
  CHECK_OK(cairn_bundle_parse_pem(TD, pem, len, &p));
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(p)), 2);
  CHECK_INT_EQ(cairn_bundle_jwt_count(p), 0);
  CHECK_OK(cairn_bundle_write_pem(p, &pem2, &l2));
  CHECK_STR_EQ(pem, pem2);
  free(pem2);
  /* Sorted like the JSON, so insertion order does not matter. */
  CHECK_OK(cairn_bundle_new(TD, &e));
  CHECK_OK(cairn_bundle_add_x509(e, g_ca2));
  CHECK_OK(cairn_bundle_add_x509(e, g_ca));
  CHECK_OK(cairn_bundle_write_pem(e, &pem2, &l2));
  CHECK_STR_EQ(pem, pem2);
  free(pem2);
  cairn_bundle_free(e);
  e = NULL;
  /* An empty bundle writes an empty text; parsing nothing fails. */
  CHECK_OK(cairn_bundle_new(TD, &e));
  CHECK_OK(cairn_bundle_write_pem(e, &pem2, &l2));
  CHECK_STR_EQ(pem2, "");
  CHECK_INT_EQ(l2, 0);
  free(pem2);
  cairn_bundle_free(e);
  e = (struct cairn_bundle *)1;
  CHECK_ERR(cairn_bundle_parse_pem(TD, "", 0, &e), CAIRN_ERR_PARSE);
  CHECK(e == NULL);
  CHECK_ERR(cairn_bundle_parse_pem(TD, "junk", 4, &e), CAIRN_ERR_PARSE);
  /* A leaf is no authority. */
  CHECK_OK(cairn_cert_to_pem(g_leaf, &leafpem, &l2));
  CHECK_ERR(cairn_bundle_parse_pem(TD, leafpem, l2, &e), CAIRN_ERR_POLICY);
  CHECK_ERR(cairn_bundle_parse_pem("BAD", pem, len, &e), CAIRN_ERR_PARSE);
  free(leafpem);
  free(pem);
  cairn_bundle_free(a);
  cairn_bundle_free(p);
}

int main(void)
{
  fixtures();
  RUN(test_new_and_accessors);
  RUN(test_x509_set);
  RUN(test_jwt_set);
  RUN(test_keys_cap);
  RUN(test_dup_equal_find);
  RUN(test_json_golden);
  RUN(test_json_roundtrip);
  RUN(test_json_flags);
  RUN(test_json_reject);
  RUN(test_json_skip);
  RUN(test_json_caps);
  RUN(test_pem);
  free_fixtures();
  return test_done();
}
