/* cairn-jwttool - test helper for the JWT-SVID / bundle interop tests.
 *
 *   cairn-jwttool mint DIR ec-p256|ec-p384 TD SUB AUD TTL
 *       Makes a JWT signing key (random kid) and a self-signed CA of the
 *       same type, a bundle for TD holding both (sequence 1, refresh hint
 *       300), and signs a JWT-SVID for SUB with audience AUD valid TTL
 *       seconds. Writes DIR/bundle.json (SPIFFE bundle), DIR/jwks.json
 *       (standard JWKS, as the Workload API serves JWT bundles),
 *       DIR/token and DIR/kid; prints the token.
 *   cairn-jwttool validate BUNDLE.json TD AUDIENCE TOKENFILE [plain]
 *       Parses the bundle for TD (plain: keys without "use" are JWT keys)
 *       and validates the token at the current time. Prints "ok SUB" and
 *       exits 0, or "error <NAME>: <detail>" and exits 1.
 *   cairn-jwttool info BUNDLE.json TD [plain]
 *       Prints "x509 N jwt M seq S hint H" for the parsed bundle, or the
 *       error as above.
 *   cairn-jwttool corpus DIR
 *       Writes the seed corpora of the fuzz targets: DIR/jwt/ (tokens signed
 *       with the fixed keys of tests/fuzz/fuzz_jwt_keys.h, valid around
 *       FUZZ_JWT_NOW, plus malformed and policy-violating ones) and
 *       DIR/bundle/ (SPIFFE bundle JSON, standard JWKS, PEM and rejected
 *       shapes).
 */
#include "cairn/b64.h"
#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_jwt_keys.h"

#define FILE_MAX (2 * 1024 * 1024)

static const char *const NAMES[CAIRN_ERR__COUNT] = {
    [CAIRN_OK] = "OK",
    [CAIRN_ERR_INTERNAL] = "INTERNAL",
    [CAIRN_ERR_NOMEM] = "NOMEM",
    [CAIRN_ERR_INVAL] = "INVAL",
    [CAIRN_ERR_PARSE] = "PARSE",
    [CAIRN_ERR_TOO_BIG] = "TOO_BIG",
    [CAIRN_ERR_IO] = "IO",
    [CAIRN_ERR_PERM] = "PERM",
    [CAIRN_ERR_NOT_FOUND] = "NOT_FOUND",
    [CAIRN_ERR_EXISTS] = "EXISTS",
    [CAIRN_ERR_CRYPTO] = "CRYPTO",
    [CAIRN_ERR_VERIFY] = "VERIFY",
    [CAIRN_ERR_EXPIRED] = "EXPIRED",
    [CAIRN_ERR_NOT_YET_VALID] = "NOT_YET_VALID",
    [CAIRN_ERR_UNTRUSTED] = "UNTRUSTED",
    [CAIRN_ERR_POLICY] = "POLICY",
    [CAIRN_ERR_UNSUPPORTED] = "UNSUPPORTED",
    [CAIRN_ERR_CONFIG] = "CONFIG",
    [CAIRN_ERR_DB] = "DB",
    [CAIRN_ERR_NET] = "NET",
    [CAIRN_ERR_TIMEOUT] = "TIMEOUT",
    [CAIRN_ERR_DENIED] = "DENIED",
    [CAIRN_ERR_AUDIENCE] = "AUDIENCE",
};

static int fail(int r)
{
  const char *n = r > 0 && r < CAIRN_ERR__COUNT && NAMES[r] ? NAMES[r] : "?";
  printf("error %s: %s\n", n, cairn_errdetail());
  return 1;
}

static void die(const char *what, int r)
{
  fprintf(stderr, "cairn-jwttool: %s: %s: %s\n", what, cairn_strerror(r),
          cairn_errdetail());
  exit(2);
}

static void write_file(const char *dir, const char *name, const char *data)
{
  char path[4096];
  int r;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if ((r = cairn_file_write_atomic(path, data, strlen(data), 0644)))
    die(path, r);
}

static char *read_text(const char *path, size_t *len)
{
  uint8_t *d = NULL;
  int r;
  if ((r = cairn_file_read(path, FILE_MAX, &d, len))) die(path, r);
  return (char *)d;
}

static int cmd_mint(int argc, char **argv)
{
  enum cairn_key_type type;
  struct cairn_key *jk = NULL, *ck = NULL;
  struct cairn_cert *ca = NULL;
  struct cairn_bundle *b = NULL;
  struct cairn_cert_template t;
  char kid[33], id[CAIRN_ID_MAX + 16], *json = NULL, *tok = NULL;
  const char *aud[1];
  time_t now = cairn_now();
  int r;

  if (argc != 8) return 2;
  if ((r = cairn_key_type_parse(argv[3], &type))) die("key type", r);
  if ((r = cairn_key_generate(type, &jk))) die("jwt key", r);
  if ((r = cairn_key_generate(type, &ck))) die("ca key", r);
  if ((r = cairn_jwt_new_kid(kid, sizeof kid))) die("kid", r);
  memset(&t, 0, sizeof t);
  snprintf(id, sizeof id, "spiffe://%s", argv[4]);
  t.kind = CAIRN_CERT_ROOT;
  t.spiffe_id = id;
  t.now = now;
  t.ttl = 86400;
  t.path_len = -1;
  if ((r = cairn_cert_issue(&t, ck, ck, NULL, &ca))) die("ca", r);
  if ((r = cairn_bundle_new(argv[4], &b))) die("bundle", r);
  if ((r = cairn_bundle_add_x509(b, ca))) die("bundle x509", r);
  if ((r = cairn_bundle_add_jwt_key(b, kid, jk))) die("bundle jwt", r);
  cairn_bundle_set_sequence(b, 1);
  cairn_bundle_set_refresh_hint(b, 300);
  if ((r = cairn_bundle_write_json(b, CAIRN_BUNDLE_JSON_PRETTY, &json, NULL)))
    die("bundle json", r);
  write_file(argv[2], "bundle.json", json);
  free(json);
  if ((r = cairn_bundle_write_json(b, CAIRN_BUNDLE_JSON_STANDARD_JWKS, &json,
                                   NULL)))
    die("jwks json", r);
  write_file(argv[2], "jwks.json", json);
  free(json);
  aud[0] = argv[6];
  if ((r = cairn_jwt_sign(jk, kid, argv[5], aud, 1, now,
                          now + atol(argv[7]), &tok)))
    die("sign", r);
  write_file(argv[2], "token", tok);
  write_file(argv[2], "kid", kid);
  printf("%s\n", tok);
  free(tok);
  cairn_bundle_free(b);
  cairn_cert_free(ca);
  cairn_key_free(jk);
  cairn_key_free(ck);
  return 0;
}

static int load_bundle(const char *path, const char *td, int plain,
                       struct cairn_bundle **b)
{
  size_t len;
  char *json = read_text(path, &len);
  int r = cairn_bundle_parse_json(td, json, len, plain, b);
  free(json);
  return r;
}

static int cmd_validate(int argc, char **argv)
{
  struct cairn_bundle *b = NULL;
  struct cairn_jwt_claims *c = NULL;
  const struct cairn_bundle *set[1];
  char *tok;
  size_t len;
  int r;

  if (argc != 6 && argc != 7) return 2;
  if ((r = load_bundle(argv[2], argv[3], argc == 7, &b))) return fail(r);
  tok = read_text(argv[5], &len);
  while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r')) tok[--len] = 0;
  set[0] = b;
  r = cairn_jwt_validate(tok, set, 1, argv[4], 0, &c);
  free(tok);
  cairn_bundle_free(b);
  if (r) return fail(r);
  printf("ok %s\n", c->sub.str);
  cairn_jwt_claims_free(c);
  return 0;
}

static int cmd_info(int argc, char **argv)
{
  struct cairn_bundle *b = NULL;
  int r;

  if (argc != 4 && argc != 5) return 2;
  if ((r = load_bundle(argv[2], argv[3], argc == 5, &b))) return fail(r);
  printf("x509 %zu jwt %zu seq %llu hint %lld\n",
         cairn_cert_list_count(cairn_bundle_x509(b)),
         cairn_bundle_jwt_count(b),
         (unsigned long long)cairn_bundle_sequence(b),
         (long long)cairn_bundle_refresh_hint(b));
  cairn_bundle_free(b);
  return 0;
}

/* ---- fuzz seed corpora ---- */

/* Signs arbitrary header and claims texts (compact JWS). */
static char *craft(const struct cairn_key *k, const char *hdr,
                   const char *claims)
{
  char *h = NULL, *c = NULL, *sg = NULL, *tok;
  uint8_t sig[96];
  size_t siglen = sizeof sig, n;
  int r;

  if ((r = cairn_b64_encode(hdr, strlen(hdr), 1, &h)) ||
      (r = cairn_b64_encode(claims, strlen(claims), 1, &c)))
    die("b64", r);
  n = strlen(h) + strlen(c) + 200;
  if (!(tok = malloc(n))) die("malloc", CAIRN_ERR_NOMEM);
  snprintf(tok, n, "%s.%s", h, c);
  if ((r = cairn_key_sign(k, tok, strlen(tok), sig, &siglen)) ||
      (r = cairn_b64_encode(sig, siglen, 1, &sg)))
    die("sign", r);
  strcat(tok, ".");
  strcat(tok, sg);
  free(h);
  free(c);
  free(sg);
  return tok;
}

/* Writes "HEADER\nCLAIMS\n<raw signature>": the fuzz target's second input
 * form, which it base64url-encodes and joins itself. */
static void put_parts(const char *dir, const char *name,
                      const struct cairn_key *k, const char *hdr,
                      const char *claims)
{
  char *h = NULL, *c = NULL, *in, path[4096];
  uint8_t sig[96];
  size_t siglen = sizeof sig, n, o;
  int r;

  if ((r = cairn_b64_encode(hdr, strlen(hdr), 1, &h)) ||
      (r = cairn_b64_encode(claims, strlen(claims), 1, &c)))
    die("b64", r);
  n = strlen(h) + strlen(c) + strlen(hdr) + strlen(claims) + 200;
  if (!(in = malloc(n))) die("malloc", CAIRN_ERR_NOMEM);
  snprintf(in, n, "%s.%s", h, c);
  if ((r = cairn_key_sign(k, in, strlen(in), sig, &siglen))) die("sign", r);
  o = (size_t)snprintf(in, n, "%s\n%s\n", hdr, claims);
  memcpy(in + o, sig, siglen);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if ((r = cairn_file_write_atomic(path, in, o + siglen, 0644))) die(path, r);
  free(in);
  free(h);
  free(c);
}

static void put(const char *dir, const char *name, char *data)
{
  write_file(dir, name, data);
  free(data);
}

static char *dupstr(const char *s)
{
  char *d = cairn_strdup(s);
  if (!d) die("strdup", CAIRN_ERR_NOMEM);
  return d;
}

#define CL(extra)                                                        \
  "{\"sub\":\"spiffe://example.org/w\",\"aud\":[\"" FUZZ_JWT_AUD          \
  "\"],\"exp\":1800000300,\"iat\":1800000000" extra "}"
#define H256 "{\"alg\":\"ES256\",\"kid\":\"" FUZZ_JWT_KID256 "\",\"typ\":\"JWT\"}"

static void corpus_jwt(const char *dir, const struct cairn_key *k256,
                       const struct cairn_key *k384)
{
  const char *aud[] = {FUZZ_JWT_AUD, "spiffe://example.org/x"};
  time_t now = FUZZ_JWT_NOW;
  char *t, buf[4096];
  int r;

  if ((r = cairn_jwt_sign(k256, FUZZ_JWT_KID256, "spiffe://example.org/w", aud,
                          2, now, now + 300, &t)))
    die("sign", r);
  put(dir, "es256-valid", t);
  if ((r = cairn_jwt_sign(k384, FUZZ_JWT_KID384, "spiffe://example.org/w", aud,
                          1, now, now + 300, &t)))
    die("sign", r);
  put(dir, "es384-valid", t);
  if ((r = cairn_jwt_sign(k256, "o", "spiffe://other.org/w", aud, 1, now,
                          now + 300, &t)))
    die("sign", r);
  put(dir, "other-td", t);
  put(dir, "aud-string", craft(k256, H256,
      "{\"sub\":\"spiffe://example.org/w\",\"aud\":\"" FUZZ_JWT_AUD
      "\",\"exp\":1800000300}"));
  put(dir, "extra-claims", craft(k256, H256, CL(",\"nbf\":1799999990,"
      "\"jti\":\"x\",\"iss\":\"me\",\"n\":{\"a\":[1,2.5,null,true]}")));
  put(dir, "exp-fraction", craft(k256, H256,
      "{\"sub\":\"spiffe://example.org/w\",\"aud\":\"" FUZZ_JWT_AUD
      "\",\"exp\":1799999940.5}"));
  put(dir, "expired", craft(k256, H256,
      "{\"sub\":\"spiffe://example.org/w\",\"aud\":\"" FUZZ_JWT_AUD
      "\",\"exp\":1799999000}"));
  put(dir, "nbf-future", craft(k256, H256, CL(",\"nbf\":1800000100")));
  put(dir, "wrong-aud", craft(k256, H256,
      "{\"sub\":\"spiffe://example.org/w\",\"aud\":[\"a\",\"b\"],"
      "\"exp\":1800000300}"));
  put(dir, "typ-jose", craft(k256, "{\"typ\":\"JOSE\",\"alg\":\"ES256\","
      "\"kid\":\"" FUZZ_JWT_KID256 "\"}", CL("")));
  put(dir, "typ-foo", craft(k256, "{\"alg\":\"ES256\",\"kid\":\""
      FUZZ_JWT_KID256 "\",\"typ\":\"foo\"}", CL("")));
  put(dir, "extra-header", craft(k256, "{\"alg\":\"ES256\",\"kid\":\""
      FUZZ_JWT_KID256 "\",\"jku\":\"https://x\"}", CL("")));
  put(dir, "no-kid", craft(k256, "{\"alg\":\"ES256\"}", CL("")));
  put(dir, "unknown-kid", craft(k256, "{\"alg\":\"ES256\",\"kid\":\"zz\"}",
                                CL("")));
  put(dir, "fresh-kid", craft(k256, "{\"alg\":\"ES256\",\"kid\":\"fresh\"}",
                              CL("")));
  put(dir, "alg-mismatch", craft(k384, "{\"alg\":\"ES384\",\"kid\":\""
      FUZZ_JWT_KID256 "\"}", CL("")));
  put(dir, "dup-header", craft(k256, "{\"alg\":\"ES256\",\"kid\":\""
      FUZZ_JWT_KID256 "\",\"alg\":\"none\"}", CL("")));
  put(dir, "dup-claim", craft(k256, H256, CL(",\"exp\":1")));
  put(dir, "bad-sub", craft(k256, H256,
      "{\"sub\":\"spiffe://example.org/a/../b\",\"aud\":\"" FUZZ_JWT_AUD
      "\",\"exp\":1800000300}"));
  put(dir, "no-exp", craft(k256, H256,
      "{\"sub\":\"spiffe://example.org/w\",\"aud\":\"" FUZZ_JWT_AUD "\"}"));
  put(dir, "hs256", dupstr(
      "eyJhbGciOiJIUzI1NiIsImtpZCI6ImZ1enotMjU2IiwidHlwIjoiSldUIn0."
      "eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy93IiwiYXVkIjoic3BpZmZlOi8vZXhh"
      "bXBsZS5vcmcvZGIiLCJleHAiOjE4MDAwMDAzMDB9."
      "c2lnbmF0dXJlLW9mLXNvbWUtc29ydA"));
  put(dir, "alg-none", dupstr(
      "eyJhbGciOiJub25lIiwia2lkIjoiZnV6ei0yNTYifQ."
      "eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy93IiwiYXVkIjoic3BpZmZlOi8vZXhh"
      "bXBsZS5vcmcvZGIiLCJleHAiOjE4MDAwMDAzMDB9."));
  t = craft(k256, H256, CL(""));
  snprintf(buf, sizeof buf, "%s", t);
  buf[strlen(buf) - 3] ^= 1; /* tampered signature */
  put(dir, "tampered", dupstr(buf));
  snprintf(buf, sizeof buf, "%.*s", (int)(strrchr(t, '.') - t), t);
  put(dir, "two-parts", dupstr(buf));
  snprintf(buf, sizeof buf, "%s.e30", t);
  put(dir, "four-parts", dupstr(buf));
  free(t);
  put_parts(dir, "parts-es256", k256, H256, CL(",\"nbf\":1799999999"));
  put_parts(dir, "parts-es384", k384, "{\"alg\":\"ES384\",\"kid\":\""
            FUZZ_JWT_KID384 "\",\"typ\":\"JOSE\"}", CL(""));
  put_parts(dir, "parts-other-td", k256, "{\"alg\":\"ES256\",\"kid\":\"o\"}",
            "{\"sub\":\"spiffe://other.org/w\",\"aud\":\"" FUZZ_JWT_AUD
            "\",\"exp\":1800000300.25,\"x\":[{\"y\":null}]}");
  put_parts(dir, "parts-expired", k256, H256,
            "{\"sub\":\"spiffe://example.org/w\",\"aud\":[\"" FUZZ_JWT_AUD
            "\"],\"exp\":1799999939}");
  put(dir, "json-serialization",
      dupstr("{\"payload\":\"e30\",\"signatures\":[{\"protected\":\"e30\","
             "\"signature\":\"AA\"}]}"));
}

static char *bundle_text(const struct cairn_bundle *b, unsigned flags)
{
  char *s = NULL;
  int r;
  if ((r = cairn_bundle_write_json(b, flags, &s, NULL))) die("json", r);
  return s;
}

static void corpus_bundle(const char *dir, const struct cairn_key *k256,
                          const struct cairn_key *k384)
{
  struct cairn_key *ck = NULL, *ck2 = NULL, *lk = NULL;
  struct cairn_cert *ca = NULL, *ca2 = NULL, *leaf = NULL;
  struct cairn_bundle *b = NULL;
  struct cairn_cert_template t;
  const uint8_t *der;
  size_t dl;
  char *cb = NULL, *lb = NULL, *s, *pem;
  int r;

  if ((r = cairn_key_generate(CAIRN_KEY_EC_P256, &ck)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P384, &ck2)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &lk)))
    die("keygen", r);
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_ROOT;
  t.spiffe_id = "spiffe://" FUZZ_JWT_TD;
  t.now = FUZZ_JWT_NOW;
  t.ttl = 86400;
  t.path_len = -1;
  if ((r = cairn_cert_issue(&t, ck, ck, NULL, &ca)) ||
      (r = cairn_cert_issue(&t, ck2, ck2, NULL, &ca2)))
    die("ca", r);
  t.kind = CAIRN_CERT_LEAF;
  t.spiffe_id = "spiffe://" FUZZ_JWT_TD "/w";
  if ((r = cairn_cert_issue(&t, lk, ck, ca, &leaf))) die("leaf", r);
  if ((r = cairn_bundle_new(FUZZ_JWT_TD, &b)) ||
      (r = cairn_bundle_add_x509(b, ca)) ||
      (r = cairn_bundle_add_x509(b, ca2)) ||
      (r = cairn_bundle_add_jwt_key(b, FUZZ_JWT_KID256, k256)) ||
      (r = cairn_bundle_add_jwt_key(b, FUZZ_JWT_KID384, k384)))
    die("bundle", r);
  cairn_bundle_set_sequence(b, 42);
  cairn_bundle_set_refresh_hint(b, 300);
  put(dir, "full.json", bundle_text(b, 0));
  put(dir, "full-pretty.json", bundle_text(b, CAIRN_BUNDLE_JSON_PRETTY));
  put(dir, "jwks.json", bundle_text(b, CAIRN_BUNDLE_JSON_STANDARD_JWKS));
  put(dir, "x509-only.json", bundle_text(b, CAIRN_BUNDLE_JSON_NO_JWT));
  if ((r = cairn_bundle_write_pem(b, &pem, NULL))) die("pem", r);
  put(dir, "cas.pem", pem);

  der = cairn_cert_der(ca, &dl);
  if ((r = cairn_b64_encode(der, dl, 0, &cb))) die("b64", r);
  der = cairn_cert_der(leaf, &dl);
  if ((r = cairn_b64_encode(der, dl, 0, &lb))) die("b64", r);
  /* Entries the reader skips or refuses; the x/y values are the P-256
   * base point. */
#define XY "\"crv\":\"P-256\",\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\"," \
           "\"y\":\"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU\""
  put(dir, "skipped.json", dupstr(
      "{\"keys\":[{\"use\":\"wit-svid\",\"kty\":\"EC\",\"kid\":\"w\"," XY "},"
      "{\"use\":\"jwt-svid\",\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"AQAB\","
      "\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"plain\"," XY "},"
      "{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"g\"," XY "},"
      "{\"use\":\"jwt-svid\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"e\","
      "\"x\":\"AA\"}],\"spiffe_sequence\":1,\"spiffe_refresh_hint\":60,"
      "\"extra\":{\"a\":[1,2]}}"));
  put(dir, "empty.json", dupstr("{\"keys\":[]}"));
  put(dir, "no-keys.json", dupstr("{\"spiffe_sequence\":1}"));
  put(dir, "dup-member.json", dupstr("{\"keys\":[],\"keys\":[]}"));
  put(dir, "jwt-no-kid.json", dupstr(
      "{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\"," XY "}]}"));
  put(dir, "kid-conflict.json", dupstr(
      "{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"g\"," XY "},"
      "{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"g\",\"crv\":\"P-256\","
      "\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\","
      "\"y\":\"sBy9HAHlgGVxGBS1g_Bh6dQxzKmUzqExNEm_l8hArgo\"}]}"));
  s = malloc(strlen(cb) * 2 + 512);
  if (!s) die("malloc", CAIRN_ERR_NOMEM);
  sprintf(s, "{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"kid\":\"k\","
          XY ",\"x5c\":[\"%s\"]}]}", cb);
  put(dir, "x509-kid.json", s);
  s = malloc(strlen(cb) * 2 + 512);
  if (!s) die("malloc", CAIRN_ERR_NOMEM);
  sprintf(s, "{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\"," XY
          ",\"x5c\":[\"%s\",\"%s\"]}]}", cb, cb);
  put(dir, "x509-two.json", s);
  s = malloc(strlen(lb) + 512);
  if (!s) die("malloc", CAIRN_ERR_NOMEM);
  sprintf(s, "{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\"," XY
          ",\"x5c\":[\"%s\"]}]}", lb);
  put(dir, "x509-leaf.json", s);
#undef XY
  free(cb);
  free(lb);
  cairn_bundle_free(b);
  cairn_cert_free(ca);
  cairn_cert_free(ca2);
  cairn_cert_free(leaf);
  cairn_key_free(ck);
  cairn_key_free(ck2);
  cairn_key_free(lk);
}

static int cmd_corpus(int argc, char **argv)
{
  struct cairn_key *k256 = NULL, *k384 = NULL;
  char d[4096];
  int r;

  if (argc != 3) return 2;
  if ((r = cairn_key_import_pem(FUZZ_JWT_P256_PEM,
                                sizeof FUZZ_JWT_P256_PEM - 1, &k256)) ||
      (r = cairn_key_import_pem(FUZZ_JWT_P384_PEM,
                                sizeof FUZZ_JWT_P384_PEM - 1, &k384)))
    die("fixed keys", r);
  snprintf(d, sizeof d, "%s/jwt", argv[2]);
  if ((r = cairn_mkdir_p(d, 0755))) die(d, r);
  corpus_jwt(d, k256, k384);
  snprintf(d, sizeof d, "%s/bundle", argv[2]);
  if ((r = cairn_mkdir_p(d, 0755))) die(d, r);
  corpus_bundle(d, k256, k384);
  cairn_key_free(k256);
  cairn_key_free(k384);
  return 0;
}

int main(int argc, char **argv)
{
  int r = 2;
  if (argc >= 2 && strcmp(argv[1], "mint") == 0) r = cmd_mint(argc, argv);
  else if (argc >= 2 && strcmp(argv[1], "validate") == 0)
    r = cmd_validate(argc, argv);
  else if (argc >= 2 && strcmp(argv[1], "info") == 0) r = cmd_info(argc, argv);
  else if (argc >= 2 && strcmp(argv[1], "corpus") == 0)
    r = cmd_corpus(argc, argv);
  if (r == 2)
    fprintf(stderr, "usage: cairn-jwttool mint DIR TYPE TD SUB AUD TTL | "
                    "validate BUNDLE TD AUD TOKENFILE [plain] | "
                    "info BUNDLE TD [plain] | corpus DIR\n");
  return r;
}
