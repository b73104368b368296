/* Unit tests for jwt.c: signing, validation with every rejection rule of
 * the JWT-SVID spec (tokens with arbitrary headers and claims are crafted
 * and signed here), unverified parsing and kid generation. Times are
 * explicit `now` values or cairn_time_set_fake(). */
#include "cairn/b64.h"
#include "cairn/bundle.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/util.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((time_t)1800000000)
#define TD "example.org"
#define SUB "spiffe://example.org/ns/default/sa/web"
#define AUD "spiffe://example.org/db"

static struct cairn_key *g_k256, *g_k384, *g_other;
static struct cairn_bundle *g_b, *g_b2;
static const struct cairn_bundle *g_set[2];

static void fixtures(void)
{
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_k256));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P384, &g_k384));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_other));
  CHECK_OK(cairn_bundle_new(TD, &g_b));
  CHECK_OK(cairn_bundle_add_jwt_key(g_b, "k256", g_k256));
  CHECK_OK(cairn_bundle_add_jwt_key(g_b, "k384", g_k384));
  /* Another trust domain trusting g_other only. */
  CHECK_OK(cairn_bundle_new("other.org", &g_b2));
  CHECK_OK(cairn_bundle_add_jwt_key(g_b2, "o", g_other));
  g_set[0] = g_b2;
  g_set[1] = g_b;
}

static void free_fixtures(void)
{
  cairn_bundle_free(g_b);
  cairn_bundle_free(g_b2);
  cairn_key_free(g_k256);
  cairn_key_free(g_k384);
  cairn_key_free(g_other);
}

/* Signs arbitrary header and claims JSON texts with key: the compact JWS
 * the way an attacker or another library could write it. */
static char *craft(const struct cairn_key *key, const char *hdr,
                   const char *claims)
{
  char *h = NULL, *c = NULL, *s = NULL, *tok = NULL;
  uint8_t sig[96];
  size_t siglen = sizeof sig, n;

  CHECK_OK(cairn_b64_encode(hdr, strlen(hdr), 1, &h));
  CHECK_OK(cairn_b64_encode(claims, strlen(claims), 1, &c));
  n = strlen(h) + strlen(c) + 300;
  tok = malloc(n);
  snprintf(tok, n, "%s.%s", h, c);
  CHECK_OK(cairn_key_sign(key, tok, strlen(tok), sig, &siglen));
  CHECK_OK(cairn_b64_encode(sig, siglen, 1, &s));
  strcat(tok, ".");
  strcat(tok, s);
  free(h);
  free(c);
  free(s);
  return tok;
}

/* Claims with the given exp/iat and extra members ("" for none). */
static char *claims(const char *sub, const char *aud, long long exp,
                    const char *extra)
{
  static char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"sub\":\"%s\",\"aud\":%s,\"exp\":%lld%s}", sub, aud, exp,
           extra);
  return buf;
}

static int validate(const char *tok, time_t now)
{
  struct cairn_jwt_claims *c = (struct cairn_jwt_claims *)1;
  int r = cairn_jwt_validate(tok, g_set, 2, AUD, now, &c);
  if (r != CAIRN_OK) CHECK(c == NULL);
  cairn_jwt_claims_free(r == CAIRN_OK ? c : NULL);
  return r;
}

/* Crafts with the P-256 key and the standard header, validates at NOW. */
static int check_claims(const char *cl)
{
  char *t = craft(g_k256, "{\"alg\":\"ES256\",\"kid\":\"k256\",\"typ\":\"JWT\"}",
                  cl);
  int r = validate(t, NOW);
  free(t);
  return r;
}

static int check_header(const char *hdr)
{
  char *t = craft(g_k256, hdr, claims(SUB, "[\"" AUD "\"]", NOW + 300, ""));
  int r = validate(t, NOW);
  free(t);
  return r;
}

/* ---- tests ---- */

static void test_sign_validate_es256(void)
{
  const char *aud[] = {AUD, "spiffe://example.org/other"};
  struct cairn_jwt_claims *c = NULL;
  char *tok = NULL, *p1, want[512];

  CHECK_OK(cairn_jwt_sign(g_k256, "k256", SUB, aud, 2, NOW, NOW + 300, &tok));
  CHECK(tok != NULL);
  if (!tok) return;
  /* Header is exactly {"alg":"ES256","kid":"k256","typ":"JWT"}. */
  p1 = strchr(tok, '.');
  CHECK(p1 && strncmp(tok, "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsyNTYiLCJ0eXAiOiJKV1QifQ",
                      (size_t)(p1 - tok)) == 0);
  CHECK_OK(cairn_jwt_validate(tok, g_set, 2, AUD, NOW, &c));
  if (c) {
    CHECK_STR_EQ(c->sub.str, SUB);
    CHECK_STR_EQ(c->alg, "ES256");
    CHECK_STR_EQ(c->kid, "k256");
    CHECK_INT_EQ(c->naud, 2);
    CHECK_STR_EQ(c->aud[0], AUD);
    CHECK_STR_EQ(c->aud[1], "spiffe://example.org/other");
    CHECK_INT_EQ(c->exp, NOW + 300);
    CHECK_INT_EQ(c->iat, NOW);
    snprintf(want, sizeof want,
             "{\"sub\":\"%s\",\"aud\":[\"%s\",\"spiffe://example.org/other\"],"
             "\"exp\":%lld,\"iat\":%lld}", SUB, AUD, (long long)NOW + 300,
             (long long)NOW);
    CHECK_STR_EQ(c->claims_json, want);
  }
  cairn_jwt_claims_free(c);
  /* The second audience matches too; out may be NULL. */
  CHECK_OK(cairn_jwt_validate(tok, g_set, 2, "spiffe://example.org/other",
                              NOW, NULL));
  free(tok);
}

static void test_issuer(void)
{
  const char *aud[] = {AUD};
  struct cairn_jwt_claims *c = NULL;
  char *tok = NULL, want[512];

  CHECK_OK(cairn_jwt_sign_iss(g_k256, "k256", "https://oidc.example.org",
                              SUB, aud, 1, NOW, NOW + 60, &tok));
  CHECK_OK(cairn_jwt_validate(tok, g_set, 2, AUD, NOW, &c));
  if (c) {
    snprintf(want, sizeof want,
             "{\"sub\":\"%s\",\"iss\":\"https://oidc.example.org\","
             "\"aud\":[\"%s\"],\"exp\":%lld,\"iat\":%lld}", SUB, AUD,
             (long long)NOW + 60, (long long)NOW);
    CHECK_STR_EQ(c->claims_json, want);
  }
  cairn_jwt_claims_free(c);
  free(tok);
  /* An empty issuer omits the claim. */
  CHECK_OK(cairn_jwt_sign_iss(g_k256, "k256", "", SUB, aud, 1, NOW, NOW + 60,
                              &tok));
  c = NULL;
  CHECK_OK(cairn_jwt_validate(tok, g_set, 2, AUD, NOW, &c));
  CHECK(c && strstr(c->claims_json, "iss") == NULL);
  cairn_jwt_claims_free(c);
  free(tok);
}

static void test_es384(void)
{
  const char *aud[] = {AUD};
  struct cairn_jwt_claims *c = NULL;
  char *tok = NULL;

  CHECK_OK(cairn_jwt_sign(g_k384, "k384", SUB, aud, 1, NOW, NOW + 60, &tok));
  CHECK_OK(cairn_jwt_validate(tok, g_set, 2, AUD, NOW, &c));
  if (c) CHECK_STR_EQ(c->alg, "ES384");
  cairn_jwt_claims_free(c);
  free(tok);
  /* Hand-made ES384 token with the P-384 key. */
  tok = craft(g_k384, "{\"alg\":\"ES384\",\"kid\":\"k384\"}",
              claims(SUB, "\"" AUD "\"", NOW + 10, ""));
  CHECK_OK(validate(tok, NOW));
  free(tok);
}

static void test_alg_curve_mismatch(void)
{
  char *t;
  /* ES256 header naming the P-384 key (signature made with P-256). */
  t = craft(g_k256, "{\"alg\":\"ES256\",\"kid\":\"k384\"}",
            claims(SUB, "[\"" AUD "\"]", NOW + 10, ""));
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_POLICY);
  free(t);
  /* ES384 header naming the P-256 key (signature made with P-384). */
  t = craft(g_k384, "{\"alg\":\"ES384\",\"kid\":\"k256\"}",
            claims(SUB, "[\"" AUD "\"]", NOW + 10, ""));
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_POLICY);
  free(t);
}

static void test_time(void)
{
  const char *aud[] = {AUD};
  char *tok = NULL, extra[128];

  CHECK_OK(cairn_jwt_sign(g_k256, "k256", SUB, aud, 1, NOW, NOW + 300, &tok));
  /* exp: 60 s leeway, exactly. */
  CHECK_OK(validate(tok, NOW + 300));
  CHECK_OK(validate(tok, NOW + 360));
  CHECK_ERR(validate(tok, NOW + 361), CAIRN_ERR_EXPIRED);
  CHECK_ERR(validate(tok, NOW + 100000), CAIRN_ERR_EXPIRED);
  /* iat in the future beyond the leeway. */
  CHECK_OK(validate(tok, NOW - 60));
  CHECK_ERR(validate(tok, NOW - 61), CAIRN_ERR_NOT_YET_VALID);
  /* now == 0 takes cairn_now(). */
  cairn_time_set_fake(NOW + 361);
  CHECK_ERR(validate(tok, 0), CAIRN_ERR_EXPIRED);
  cairn_time_set_fake(NOW + 1);
  CHECK_OK(validate(tok, 0));
  cairn_time_set_fake(0);
  free(tok);

  /* nbf. */
  snprintf(extra, sizeof extra, ",\"nbf\":%lld", (long long)NOW + 61);
  CHECK_ERR(check_claims(claims(SUB, "[\"" AUD "\"]", NOW + 300, extra)),
            CAIRN_ERR_NOT_YET_VALID);
  snprintf(extra, sizeof extra, ",\"nbf\":%lld", (long long)NOW + 60);
  CHECK_OK(check_claims(claims(SUB, "[\"" AUD "\"]", NOW + 300, extra)));
  CHECK_ERR(check_claims(claims(SUB, "[\"" AUD "\"]", NOW + 300,
                                ",\"nbf\":\"soon\"")), CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims(claims(SUB, "[\"" AUD "\"]", NOW + 300,
                                ",\"iat\":null")), CAIRN_ERR_POLICY);
  /* iat claim in the future (crafted). */
  snprintf(extra, sizeof extra, ",\"iat\":%lld", (long long)NOW + 61);
  CHECK_ERR(check_claims(claims(SUB, "[\"" AUD "\"]", NOW + 300, extra)),
            CAIRN_ERR_NOT_YET_VALID);
  /* Expired long ago (crafted). */
  CHECK_ERR(check_claims(claims(SUB, "[\"" AUD "\"]", NOW - 61, "")),
            CAIRN_ERR_EXPIRED);
  CHECK_OK(check_claims(claims(SUB, "[\"" AUD "\"]", NOW - 60, "")));
  /* Fractional NumericDates round toward the stricter side. */
  {
    char cl[512];
    snprintf(cl, sizeof cl, "{\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld.5}",
             SUB, AUD, (long long)NOW - 60);
    CHECK_OK(check_claims(cl));
    snprintf(cl, sizeof cl, "{\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld.9}",
             SUB, AUD, (long long)NOW - 61);
    CHECK_ERR(check_claims(cl), CAIRN_ERR_EXPIRED);
    snprintf(cl, sizeof cl, "{\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld,"
             "\"nbf\":%lld.1}", SUB, AUD, (long long)NOW + 300,
             (long long)NOW + 60);
    CHECK_ERR(check_claims(cl), CAIRN_ERR_NOT_YET_VALID);
    snprintf(cl, sizeof cl, "{\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":1e300}",
             SUB, AUD);
    CHECK_ERR(check_claims(cl), CAIRN_ERR_POLICY);
  }
}

static void test_claims_rules(void)
{
  /* aud as a string, matching and not. */
  CHECK_OK(check_claims(claims(SUB, "\"" AUD "\"", NOW + 300, "")));
  CHECK_ERR(check_claims(claims(SUB, "\"spiffe://example.org/x\"", NOW + 300,
                                "")), CAIRN_ERR_AUDIENCE);
  CHECK_ERR(check_claims(claims(SUB, "[\"a\",\"b\"]", NOW + 300, "")),
            CAIRN_ERR_AUDIENCE);
  /* Prefix or case variants of the audience do not match. */
  CHECK_ERR(check_claims(claims(SUB, "[\"" AUD "/x\"]", NOW + 300, "")),
            CAIRN_ERR_AUDIENCE);
  CHECK_ERR(check_claims(claims(SUB, "[]", NOW + 300, "")), CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims(claims(SUB, "[1]", NOW + 300, "")), CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims(claims(SUB, "null", NOW + 300, "")),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims("{\"sub\":\"" SUB "\",\"exp\":1900000000}"),
            CAIRN_ERR_POLICY); /* no aud */
  /* No exp, no sub, bad sub. */
  CHECK_ERR(check_claims("{\"sub\":\"" SUB "\",\"aud\":\"" AUD "\"}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims("{\"aud\":\"" AUD "\",\"exp\":1900000000}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims(claims("spiffe://Example.org/x", "\"" AUD "\"",
                                NOW + 300, "")), CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims(claims("https://example.org/x", "\"" AUD "\"",
                                NOW + 300, "")), CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims(claims("spiffe://example.org/a//b", "\"" AUD "\"",
                                NOW + 300, "")), CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims("{\"sub\":5,\"aud\":\"" AUD "\",\"exp\":1900000000}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_claims(claims(SUB, "\"" AUD "\"", NOW + 300,
                                ",\"exp\":1")), CAIRN_ERR_PARSE); /* dup */
  /* Other claims are allowed and kept in claims_json. */
  {
    struct cairn_jwt_claims *c = NULL;
    char *t = craft(g_k256, "{\"alg\":\"ES256\",\"kid\":\"k256\"}",
                    claims(SUB, "\"" AUD "\"", NOW + 300,
                           ",\"jti\":\"x\",\"iss\":\"me\""));
    CHECK_OK(cairn_jwt_validate(t, g_set, 2, AUD, NOW, &c));
    if (c) {
      CHECK(strstr(c->claims_json, "\"jti\":\"x\"") != NULL);
      CHECK_INT_EQ(c->naud, 1);
      CHECK_STR_EQ(c->aud[0], AUD);
      CHECK_INT_EQ(c->iat, 0);
    }
    cairn_jwt_claims_free(c);
    free(t);
  }
}

static void test_trust(void)
{
  char *t;
  /* Unknown kid. */
  t = craft(g_k256, "{\"alg\":\"ES256\",\"kid\":\"nope\"}",
            claims(SUB, "\"" AUD "\"", NOW + 300, ""));
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_UNTRUSTED);
  free(t);
  /* A trust domain without a bundle. */
  t = craft(g_k256, "{\"alg\":\"ES256\",\"kid\":\"k256\"}",
            claims("spiffe://third.org/w", "\"" AUD "\"", NOW + 300, ""));
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_UNTRUSTED);
  free(t);
  /* The key is in the other trust domain's bundle only: a token for
   * example.org signed with it (kid "o") is untrusted, and a token for
   * other.org with example.org's kid too. */
  t = craft(g_other, "{\"alg\":\"ES256\",\"kid\":\"o\"}",
            claims(SUB, "\"" AUD "\"", NOW + 300, ""));
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_UNTRUSTED);
  free(t);
  t = craft(g_k256, "{\"alg\":\"ES256\",\"kid\":\"k256\"}",
            claims("spiffe://other.org/w", "\"" AUD "\"", NOW + 300, ""));
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_UNTRUSTED);
  free(t);
  t = craft(g_other, "{\"alg\":\"ES256\",\"kid\":\"o\"}",
            claims("spiffe://other.org/w", "\"" AUD "\"", NOW + 300, ""));
  CHECK_OK(validate(t, NOW));
  /* No bundles at all. */
  CHECK_ERR(cairn_jwt_validate(t, NULL, 0, AUD, NOW, NULL),
            CAIRN_ERR_UNTRUSTED);
  free(t);
  /* Right kid, wrong key (signed by another key). */
  t = craft(g_other, "{\"alg\":\"ES256\",\"kid\":\"k256\"}",
            claims(SUB, "\"" AUD "\"", NOW + 300, ""));
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_VERIFY);
  free(t);
}

static void test_header_rules(void)
{
  /* Allowed shapes. */
  CHECK_OK(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\"}"));
  CHECK_OK(check_header("{\"typ\":\"JOSE\",\"kid\":\"k256\",\"alg\":\"ES256\"}"));
  /* alg allow-list, before anything else. */
  CHECK_ERR(check_header("{\"alg\":\"none\",\"kid\":\"k256\"}"),
            CAIRN_ERR_UNSUPPORTED);
  CHECK_ERR(check_header("{\"alg\":\"HS256\",\"kid\":\"k256\",\"typ\":\"JWT\"}"),
            CAIRN_ERR_UNSUPPORTED);
  CHECK_ERR(check_header("{\"alg\":\"RS256\",\"kid\":\"k256\"}"),
            CAIRN_ERR_UNSUPPORTED);
  CHECK_ERR(check_header("{\"alg\":\"PS384\",\"kid\":\"k256\"}"),
            CAIRN_ERR_UNSUPPORTED);
  CHECK_ERR(check_header("{\"alg\":\"EdDSA\",\"kid\":\"k256\"}"),
            CAIRN_ERR_UNSUPPORTED);
  CHECK_ERR(check_header("{\"alg\":\"ES512\",\"kid\":\"k256\"}"),
            CAIRN_ERR_UNSUPPORTED);
  CHECK_ERR(check_header("{\"alg\":\"es256\",\"kid\":\"k256\"}"),
            CAIRN_ERR_UNSUPPORTED);
  CHECK_ERR(check_header("{\"alg\":\"\",\"kid\":\"k256\"}"),
            CAIRN_ERR_UNSUPPORTED);
  /* alg is checked first: a bad typ and an extra member do not win. */
  CHECK_ERR(check_header("{\"typ\":\"foo\",\"x\":1,\"alg\":\"none\"}"),
            CAIRN_ERR_UNSUPPORTED);
  /* Token text with control characters stays out of error details. */
  CHECK_ERR(check_header("{\"alg\":\"x\\nFAKE LOG LINE\",\"kid\":\"k256\"}"),
            CAIRN_ERR_UNSUPPORTED);
  CHECK(strchr(cairn_errdetail(), '\n') == NULL);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\",\"a\\u001bb\":1}"),
            CAIRN_ERR_POLICY);
  CHECK(strchr(cairn_errdetail(), 0x1b) == NULL);
  CHECK_ERR(check_header("{\"kid\":\"k256\"}"), CAIRN_ERR_PARSE);
  CHECK_ERR(check_header("{\"alg\":256,\"kid\":\"k256\"}"), CAIRN_ERR_PARSE);
  /* typ, extra parameters, kid. */
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\",\"typ\":\"foo\"}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\",\"typ\":\"jwt\"}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\",\"typ\":1}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\",\"crit\":[\"b64\"]}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\",\"jku\":\"http://x\"}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\",\"cty\":\"JWT\"}"),
            CAIRN_ERR_POLICY);
  CHECK_ERR(check_header("{\"alg\":\"ES256\"}"), CAIRN_ERR_POLICY);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"\"}"), CAIRN_ERR_POLICY);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":7}"), CAIRN_ERR_POLICY);
  /* Duplicate header members (an alg smuggled past a first look). */
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\",\"alg\":\"none\"}"),
            CAIRN_ERR_PARSE);
  CHECK_ERR(check_header("[\"ES256\"]"), CAIRN_ERR_PARSE);
  CHECK_ERR(check_header("{\"alg\":\"ES256\",\"kid\":\"k256\""), CAIRN_ERR_PARSE);
}

/* Replaces token part idx (0..2) with repl. */
static char *with_part(const char *tok, int idx, const char *repl)
{
  const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  char *out = malloc(strlen(tok) + strlen(repl) + 4);
  if (!d2) return strcpy(out, tok);
  if (idx == 0)
    sprintf(out, "%s%s", repl, d1);
  else if (idx == 1)
    sprintf(out, "%.*s.%s%s", (int)(d1 - tok), tok, repl, d2);
  else
    sprintf(out, "%.*s.%s", (int)(d2 - tok), tok, repl);
  return out;
}

static void test_tamper_and_syntax(void)
{
  const char *aud[] = {AUD};
  char *tok = NULL, *t, *pl = NULL, *other = NULL;
  size_t n;

  CHECK_OK(cairn_jwt_sign(g_k256, "k256", SUB, aud, 1, NOW, NOW + 300, &tok));
  n = strlen(tok);

  /* Payload swapped for another (valid, unsigned) claims set. */
  const char *cl = "{\"sub\":\"spiffe://example.org/admin\",\"aud\":[\"" AUD
                   "\"],\"exp\":1900000000}";
  CHECK_OK(cairn_b64_encode(cl, strlen(cl), 1, &pl));
  t = with_part(tok, 1, pl);
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_VERIFY);
  free(t);
  /* One signature character flipped. */
  t = cairn_strdup(tok);
  t[n - 5] = t[n - 5] == 'A' ? 'B' : 'A';
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_VERIFY);
  free(t);
  /* Signature of another token. */
  CHECK_OK(cairn_jwt_sign(g_k256, "k256", SUB, aud, 1, NOW, NOW + 301,
                          &other));
  t = with_part(tok, 2, strrchr(other, '.') + 1);
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_VERIFY);
  free(t);
  /* Truncated / overlong / zero / empty signature. */
  t = with_part(tok, 2, "AAAA");
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_VERIFY);
  free(t);
  {
    char zeros[200];
    memset(zeros, 'A', 86);
    zeros[86] = 0; /* 64 zero bytes */
    t = with_part(tok, 2, zeros);
    CHECK_ERR(validate(t, NOW), CAIRN_ERR_VERIFY);
    free(t);
    memset(zeros, 'A', 180);
    zeros[180] = 0; /* 135 bytes */
    t = with_part(tok, 2, zeros);
    CHECK_ERR(validate(t, NOW), CAIRN_ERR_VERIFY);
    free(t);
  }
  t = with_part(tok, 2, "");
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_PARSE);
  free(t);
  /* Strict base64url: padding, std alphabet, whitespace. */
  t = with_part(tok, 1, "e30=");
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_PARSE);
  free(t);
  t = with_part(tok, 1, "e3+/");
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_PARSE);
  free(t);
  {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s ", tok);
    CHECK_ERR(validate(buf, NOW), CAIRN_ERR_PARSE);
    /* 2 and 4 parts. */
    snprintf(buf, sizeof buf, "%.*s", (int)(strrchr(tok, '.') - tok), tok);
    CHECK_ERR(validate(buf, NOW), CAIRN_ERR_PARSE);
    snprintf(buf, sizeof buf, "%s.AAAA", tok);
    CHECK_ERR(validate(buf, NOW), CAIRN_ERR_PARSE);
    snprintf(buf, sizeof buf, "%s.", tok);
    CHECK_ERR(validate(buf, NOW), CAIRN_ERR_PARSE);
  }
  CHECK_ERR(validate("", NOW), CAIRN_ERR_PARSE);
  CHECK_ERR(validate("..", NOW), CAIRN_ERR_PARSE);
  CHECK_ERR(validate("a.b.c", NOW), CAIRN_ERR_PARSE);
  /* JWS JSON serialization is not accepted. */
  CHECK_ERR(validate("{\"payload\":\"e30\",\"signatures\":[]}", NOW),
            CAIRN_ERR_PARSE);
  /* Payload that is not an object. */
  t = with_part(tok, 1, "WzFd"); /* [1] */
  CHECK_ERR(validate(t, NOW), CAIRN_ERR_PARSE);
  free(t);

  /* Size cap. */
  {
    char *big = malloc(CAIRN_JWT_MAX + 2);
    memset(big, 'A', CAIRN_JWT_MAX + 1);
    big[CAIRN_JWT_MAX + 1] = 0;
    big[10] = '.';
    big[20] = '.';
    CHECK_ERR(validate(big, NOW), CAIRN_ERR_TOO_BIG);
    struct cairn_jwt_claims *c = (struct cairn_jwt_claims *)1;
    CHECK_ERR(cairn_jwt_parse_unverified(big, &c), CAIRN_ERR_TOO_BIG);
    CHECK(c == NULL);
    free(big);
  }
  /* Arguments. */
  CHECK_ERR(cairn_jwt_validate(tok, g_set, 2, "", NOW, NULL), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_validate(tok, g_set, 2, NULL, NOW, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_validate(NULL, g_set, 2, AUD, NOW, NULL),
            CAIRN_ERR_INVAL);
  CHECK_OK(validate(tok, NOW));
  free(pl);
  free(other);
  free(tok);
}

static void test_sign_args(void)
{
  const char *aud[CAIRN_JWT_AUD_MAX + 1];
  const char *emp[] = {""};
  struct cairn_key *pub = NULL;
  struct cairn_jwt_claims *c = NULL;
  char *tok = (char *)1, longkid[CAIRN_JWT_KID_MAX + 2];

  for (size_t i = 0; i <= CAIRN_JWT_AUD_MAX; i++) aud[i] = AUD;
  CHECK_OK(cairn_key_public(g_k256, &pub));
  CHECK_ERR(cairn_jwt_sign(pub, "k", SUB, aud, 1, NOW, NOW + 1, &tok),
            CAIRN_ERR_INVAL);
  CHECK(tok == NULL);
  CHECK_ERR(cairn_jwt_sign(g_k256, "k", "spiffe://example.org/", aud, 1, NOW,
                           NOW + 1, &tok), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_sign(g_k256, "k", SUB, aud, 0, NOW, NOW + 1, &tok),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_sign(g_k256, "k", SUB, aud, CAIRN_JWT_AUD_MAX + 1, NOW,
                           NOW + 1, &tok), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_sign(g_k256, "k", SUB, emp, 1, NOW, NOW + 1, &tok),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_sign(g_k256, "k", SUB, aud, 1, NOW, NOW, &tok),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_sign(g_k256, "", SUB, aud, 1, NOW, NOW + 1, &tok),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_sign(g_k256, "a\"b\n", SUB, aud, 1, NOW, NOW + 1, &tok),
            CAIRN_ERR_INVAL);
  memset(longkid, 'k', sizeof longkid - 1);
  longkid[sizeof longkid - 1] = 0;
  CHECK_ERR(cairn_jwt_sign(g_k256, longkid, SUB, aud, 1, NOW, NOW + 1, &tok),
            CAIRN_ERR_INVAL);
  /* The most audiences, and a kid with JSON-special characters. */
  CHECK_OK(cairn_jwt_sign(g_k256, "k\"\\/", SUB, aud, CAIRN_JWT_AUD_MAX, NOW,
                          NOW + 1, &tok));
  CHECK_OK(cairn_jwt_parse_unverified(tok, &c));
  if (c) {
    CHECK_STR_EQ(c->kid, "k\"\\/");
    CHECK_INT_EQ(c->naud, CAIRN_JWT_AUD_MAX);
  }
  cairn_jwt_claims_free(c);
  free(tok);
  /* iat == 0 means cairn_now(). */
  cairn_time_set_fake(NOW + 5);
  CHECK_OK(cairn_jwt_sign(g_k256, "k256", SUB, aud, 1, 0, NOW + 100, &tok));
  cairn_time_set_fake(0);
  c = NULL;
  CHECK_OK(cairn_jwt_validate(tok, g_set, 2, AUD, NOW, &c));
  if (c) CHECK_INT_EQ(c->iat, NOW + 5);
  cairn_jwt_claims_free(c);
  free(tok);
  /* A token over CAIRN_JWT_MAX is never produced. */
  {
    static char huge[CAIRN_ID_MAX + 1];
    const char *hv[CAIRN_JWT_AUD_MAX];
    memcpy(huge, "spiffe://example.org/", 21);
    memset(huge + 21, 'a', CAIRN_ID_MAX - 21);
    for (size_t i = 0; i < CAIRN_JWT_AUD_MAX; i++) hv[i] = huge;
    CHECK_ERR(cairn_jwt_sign(g_k256, "k", huge, hv, CAIRN_JWT_AUD_MAX, NOW,
                             NOW + 1, &tok), CAIRN_ERR_TOO_BIG);
    CHECK(tok == NULL);
  }
  cairn_key_free(pub);
}

static void test_parse_unverified(void)
{
  const char *aud[] = {AUD};
  struct cairn_jwt_claims *c = NULL;
  char *tok = NULL, *t;

  /* Expired and signed by an unknown key: still parses. */
  CHECK_OK(cairn_jwt_sign(g_other, "zz", SUB, aud, 1, NOW - 1000, NOW - 900,
                          &tok));
  CHECK_OK(cairn_jwt_parse_unverified(tok, &c));
  if (c) {
    CHECK_STR_EQ(c->sub.str, SUB);
    CHECK_STR_EQ(c->kid, "zz");
    CHECK_STR_EQ(c->alg, "ES256");
    CHECK_INT_EQ(c->exp, NOW - 900);
  }
  cairn_jwt_claims_free(c);
  c = NULL;
  free(tok);
  /* Syntax errors are still errors. */
  CHECK_ERR(cairn_jwt_parse_unverified("a.b", &c), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_jwt_parse_unverified("e30.e30.AA", &c), CAIRN_ERR_PARSE);
  t = craft(g_k256, "{\"alg\":\"ES256\"}", "{\"sub\":\"nope\"}");
  CHECK_ERR(cairn_jwt_parse_unverified(t, &c), CAIRN_ERR_PARSE);
  free(t);
  /* No aud, no exp, no kid: fine for display. */
  t = craft(g_k256, "{\"alg\":\"ES256\"}", "{\"sub\":\"" SUB "\"}");
  CHECK_OK(cairn_jwt_parse_unverified(t, &c));
  if (c) {
    CHECK_INT_EQ(c->naud, 0);
    CHECK_INT_EQ(c->exp, 0);
    CHECK_STR_EQ(c->kid, "");
  }
  cairn_jwt_claims_free(c);
  c = NULL;
  free(t);
  t = craft(g_k256, "{\"alg\":\"ES256\"}", "{\"sub\":\"" SUB "\",\"aud\":3}");
  CHECK_ERR(cairn_jwt_parse_unverified(t, &c), CAIRN_ERR_PARSE);
  free(t);
  CHECK_ERR(cairn_jwt_parse_unverified(NULL, &c), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_parse_unverified("x", NULL), CAIRN_ERR_INVAL);
}

static void test_new_kid(void)
{
  static const char B62[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  char a[33], b[33], small[32];
  unsigned counts[62] = {0}, lo = ~0u, hi = 0;
  double chi2 = 0;

  CHECK_ERR(cairn_jwt_new_kid(small, sizeof small), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_jwt_new_kid(NULL, 33), CAIRN_ERR_INVAL);
  CHECK_OK(cairn_jwt_new_kid(a, sizeof a));
  CHECK_OK(cairn_jwt_new_kid(b, sizeof b));
  CHECK_INT_EQ(strlen(a), 32);
  CHECK(strcmp(a, b) != 0);
  /* 1000 kids = 32000 characters: every base62 character shows up about
   * 516 times; the bounds are > 8 standard deviations wide. */
  for (int i = 0; i < 1000; i++) {
    CHECK_OK(cairn_jwt_new_kid(a, sizeof a));
    for (int j = 0; j < 32; j++) {
      const char *p = strchr(B62, a[j]);
      if (!p || !a[j]) {
        CHECK(!"kid character outside base62");
        return;
      }
      counts[p - B62]++;
    }
  }
  for (int i = 0; i < 62; i++) {
    double d = (double)counts[i] - 32000.0 / 62;
    chi2 += d * d / (32000.0 / 62);
    if (counts[i] < lo) lo = counts[i];
    if (counts[i] > hi) hi = counts[i];
  }
  CHECK(lo > 330);
  CHECK(hi < 710);
  /* Chi-square with 61 degrees of freedom: about 61 +- 11 when uniform;
   * a plain "byte % 62" (8 characters 25% more likely) gives about 200. */
  CHECK(chi2 < 140);
}

int main(void)
{
  fixtures();
  RUN(test_sign_validate_es256);
  RUN(test_issuer);
  RUN(test_es384);
  RUN(test_alg_curve_mismatch);
  RUN(test_time);
  RUN(test_claims_rules);
  RUN(test_trust);
  RUN(test_header_rules);
  RUN(test_tamper_and_syntax);
  RUN(test_sign_args);
  RUN(test_parse_unverified);
  RUN(test_new_kid);
  free_fixtures();
  return test_done();
}
