/* Unit tests for csr.c: round trips, openssl interop both ways, tampering,
 * malformed and unsupported requests. wolfSSL's own CSR parser is used as
 * a second opinion on the signature checks. */
#include "test.h"

#include "key_int.h"

#include <wolfssl/wolfcrypt/asn.h>

#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/pem.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const enum cairn_key_type TYPES[] = {CAIRN_KEY_EC_P256,
                                            CAIRN_KEY_EC_P384};

/* wolfSSL's verdict on a CSR: 0 or its (negative) error code. */
static int wolf_verify(const uint8_t *der, size_t len)
{
  DecodedCert dc;
  int ret;
  wc_InitDecodedCert(&dc, der, (word32)len, NULL);
  ret = wc_ParseCert(&dc, CERTREQ_TYPE, VERIFY, NULL);
  wc_FreeDecodedCert(&dc);
  return ret;
}

static uint8_t *read_bin(const char *path, size_t *len)
{
  uint8_t *p = (uint8_t *)test_read_file(path, len);
  if (!p) test_fail(__FILE__, __LINE__, "cannot read %s", path);
  return p;
}

static void test_roundtrip(void)
{
  for (size_t i = 0; i < 2; i++) {
    struct cairn_key *k = NULL, *pub = NULL, *other = NULL;
    uint8_t *der = NULL;
    size_t len = 0;
    char out[4096];

    CHECK_OK(cairn_key_generate(TYPES[i], &k));
    if (!k) return;
    CHECK_OK(cairn_csr_create(k, &der, &len));
    if (!der) {
      cairn_key_free(k);
      return;
    }
    CHECK(len > 100 && len < 1024);
    CHECK_OK(cairn_csr_parse(der, len, &pub));
    CHECK(pub && !cairn_key_has_private(pub) && cairn_key_public_equal(k, pub));
    CHECK(pub && cairn_key_get_type(pub) == TYPES[i]);
    CHECK_INT_EQ(wolf_verify(der, len), 0);

    /* openssl accepts the self-signature, sees O=SPIFFE and the hash that
     * matches the curve. */
    CHECK_INT_EQ(test_write_file(test_path("ours.csr"), der, len), 0);
    CHECK_INT_EQ(test_sh("openssl req -in %s -inform DER -verify -noout 2>&1",
                         test_path("ours.csr")), 0);
    CHECK_INT_EQ(test_sh_out(out, sizeof out,
                             "openssl req -in %s -inform DER -noout -text",
                             test_path("ours.csr")), 0);
    CHECK(strstr(out, "Subject: O = SPIFFE\n") != NULL);
    CHECK(strstr(out, TYPES[i] == CAIRN_KEY_EC_P256 ? "ecdsa-with-SHA256"
                                                    : "ecdsa-with-SHA384"));
    /* The key openssl extracts is ours. */
    {
      char *pem = NULL;
      size_t plen = 0;
      CHECK_OK(cairn_key_export_public_pem(k, &pem, &plen));
      CHECK_INT_EQ(test_sh_out(out, sizeof out,
                               "openssl req -in %s -inform DER -noout -pubkey",
                               test_path("ours.csr")), 0);
      CHECK_STR_EQ(out, pem);
      free(pem);
    }

    /* Two CSRs of the same key differ (random ECDSA k) but both parse. */
    {
      uint8_t *d2 = NULL;
      size_t l2 = 0;
      struct cairn_key *p2 = NULL;
      CHECK_OK(cairn_csr_create(k, &d2, &l2));
      CHECK_OK(cairn_csr_parse(d2, l2, &p2));
      CHECK(p2 && cairn_key_public_equal(pub, p2));
      cairn_key_free(p2);
      free(d2);
    }
    CHECK_OK(cairn_key_generate(TYPES[i], &other));
    CHECK(!cairn_key_public_equal(other, pub));
    cairn_key_free(other);
    cairn_key_free(pub);
    free(der);
    cairn_key_free(k);
  }
  /* A public key cannot sign a CSR. */
  {
    struct cairn_key *k = NULL, *pub = NULL;
    uint8_t *der = (uint8_t *)1;
    size_t len = 9;
    CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
    CHECK_OK(cairn_key_public(k, &pub));
    CHECK_ERR(cairn_csr_create(pub, &der, &len), CAIRN_ERR_INVAL);
    CHECK(der == NULL && len == 0);
    CHECK_ERR(cairn_csr_create(NULL, &der, &len), CAIRN_ERR_INVAL);
    cairn_key_free(pub);
    cairn_key_free(k);
  }
}

/* CSRs made by openssl, with a hostile subject and extensions: they parse,
 * and only the key is taken. */
static void test_openssl_csr(void)
{
  static const struct {
    const char *keygen, *digest;
    enum cairn_key_type t;
  } cases[] = {
      {"openssl ecparam -name prime256v1 -genkey -noout", "-sha256",
       CAIRN_KEY_EC_P256},
      {"openssl ecparam -name prime256v1 -genkey -noout", "-sha512",
       CAIRN_KEY_EC_P256},
      {"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384",
       "-sha384", CAIRN_KEY_EC_P384},
      {"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384",
       "-sha256", CAIRN_KEY_EC_P384},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char kp[512], cp[512];
    struct cairn_key *k = NULL, *pub = NULL;
    uint8_t *der = NULL, *d2 = NULL;
    size_t len = 0, l2 = 0;
    char *pem;

    snprintf(kp, sizeof kp, "%s", test_path("evil.key"));
    snprintf(cp, sizeof cp, "%s", test_path("evil.csr"));
    CHECK_INT_EQ(test_sh("%s -out %s", cases[i].keygen, kp), 0);
    CHECK_INT_EQ(test_sh("openssl req -new -key %s %s -subj "
                         "/O=EvilCorp/CN=admin -addext "
                         "subjectAltName=URI:spiffe://evil.org/admin "
                         "-addext basicConstraints=critical,CA:TRUE "
                         "-outform DER -out %s",
                         kp, cases[i].digest, cp), 0);
    pem = test_read_file(kp, &len);
    if (pem) {
      CHECK_OK(cairn_key_import_pem(pem, len, &k));
      free(pem);
    }
    der = read_bin(cp, &len);
    if (der && k) {
      CHECK_OK(cairn_csr_parse(der, len, &pub));
      CHECK(pub && cairn_key_public_equal(k, pub));
      CHECK(pub && cairn_key_get_type(pub) == cases[i].t);
      CHECK_INT_EQ(wolf_verify(der, len), 0);
      /* The PEM form too. */
      CHECK_INT_EQ(test_sh("openssl req -in %s -inform DER -out %s.pem", cp,
                           cp), 0);
      pem = test_read_file(strcat(cp, ".pem"), &l2);
      if (pem) {
        CHECK_OK(cairn_csr_from_pem(pem, l2, &d2, &l2));
        CHECK(d2 && l2 == len && memcmp(d2, der, len) == 0);
        free(d2);
        free(pem);
      }
    }
    cairn_key_free(pub);
    cairn_key_free(k);
    free(der);
  }
}

static void test_tampered(void)
{
  for (size_t ti = 0; ti < 2; ti++) {
    struct cairn_key *k = NULL, *pub = NULL;
    uint8_t *der = NULL, *m;
    size_t len = 0, flips = 0;

    CHECK_OK(cairn_key_generate(TYPES[ti], &k));
    CHECK_OK(cairn_csr_create(k, &der, &len));
    if (!der) {
      cairn_key_free(k);
      return;
    }
    m = malloc(len + 16);
    if (!m) return;

    /* A flipped bit in the last byte (inside s). */
    memcpy(m, der, len);
    m[len - 1] ^= 0x01;
    CHECK_ERR(cairn_csr_parse(m, len, &pub), CAIRN_ERR_VERIFY);
    CHECK(pub == NULL);
    CHECK(wolf_verify(m, len) != 0);

    /* "SPIFFE" -> "SPIFFF" in the subject: the signature breaks. */
    memcpy(m, der, len);
    for (size_t i = 0; i + 6 <= len; i++)
      if (memcmp(m + i, "SPIFFE", 6) == 0) {
        m[i + 5] = 'F';
        flips++;
      }
    CHECK_INT_EQ(flips, 1);
    CHECK_ERR(cairn_csr_parse(m, len, &pub), CAIRN_ERR_VERIFY);
    CHECK_INT_EQ(wolf_verify(m, len), ASN_SIG_CONFIRM_E);

    /* Every single-bit flip is rejected (or, for bits that keep the DER
     * valid and the key on the curve, fails the signature). */
    for (size_t b = 0; b < len * 8; b++) {
      int r;
      memcpy(m, der, len);
      m[b / 8] ^= (uint8_t)(1u << (b % 8));
      r = cairn_csr_parse(m, len, &pub);
      if (r == CAIRN_OK || pub) {
        test_fail(__FILE__, __LINE__, "bit %zu flipped: accepted", b);
        cairn_key_free(pub);
        pub = NULL;
        break;
      }
    }

    /* Truncations, trailing bytes, version. */
    for (size_t n = 0; n < len; n++) {
      int r = cairn_csr_parse(der, n, &pub);
      if (r != CAIRN_ERR_PARSE || pub) {
        test_fail(__FILE__, __LINE__, "truncated to %zu: %d", n, r);
        break;
      }
    }
    memcpy(m, der, len);
    m[len] = 0;
    CHECK_ERR(cairn_csr_parse(m, len + 1, &pub), CAIRN_ERR_PARSE);
    CHECK_ERR(cairn_csr_parse(m, 0, &pub), CAIRN_ERR_PARSE);
    CHECK_ERR(cairn_csr_parse(NULL, 0, &pub), CAIRN_ERR_INVAL);
    /* Version: 30 81 xx 30 81 xx 02 01 00 (P-384) or 30 xx 30 xx ... */
    memcpy(m, der, len);
    {
      size_t vo = m[1] == 0x81 ? 3 : m[1] == 0x82 ? 4 : 2;
      vo += m[vo + 1] == 0x81 ? 3 : 2;
      CHECK_INT_EQ(m[vo], 0x02);
      m[vo + 2] = 1;
      CHECK_ERR(cairn_csr_parse(m, len, &pub), CAIRN_ERR_PARSE);
    }
    free(m);
    free(der);
    cairn_key_free(k);
  }
}

static void test_malformed(void)
{
  struct cairn_key *pub = NULL;
  uint8_t *big;
  static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};

  CHECK_ERR(cairn_csr_parse((const uint8_t *)"garbage", 7, &pub),
            CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_csr_parse(junk, sizeof junk, &pub), CAIRN_ERR_PARSE);
  big = calloc(1, CAIRN_CSR_MAX + 1);
  if (big) {
    CHECK_ERR(cairn_csr_parse(big, CAIRN_CSR_MAX + 1, &pub),
              CAIRN_ERR_TOO_BIG);
    /* A well-formed-looking SEQUENCE header that claims a huge length. */
    big[0] = 0x30;
    big[1] = 0x84;
    big[2] = 0x7f;
    big[3] = big[4] = big[5] = 0xff;
    CHECK_ERR(cairn_csr_parse(big, 64, &pub), CAIRN_ERR_PARSE);
    free(big);
  }
  CHECK(pub == NULL);
}

/* RSA, P-521, Ed25519 and SHA-1 signed requests are refused as
 * unsupported (after openssl agrees they are valid). */
static void test_unsupported(void)
{
  static const char *const keygen[] = {
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024",
      "openssl ecparam -name secp521r1 -genkey -noout",
      "openssl genpkey -algorithm ED25519",
      "openssl ecparam -name prime256v1 -genkey -noout",
  };
  for (size_t i = 0; i < sizeof keygen / sizeof keygen[0]; i++) {
    char kp[512], cp[512];
    struct cairn_key *pub = NULL;
    uint8_t *der;
    size_t len = 0;

    snprintf(kp, sizeof kp, "%s", test_path("u.key"));
    snprintf(cp, sizeof cp, "%s", test_path("u.csr"));
    CHECK_INT_EQ(test_sh("%s -out %s", keygen[i], kp), 0);
    CHECK_INT_EQ(test_sh("openssl req -new -key %s %s -subj /O=x -outform DER "
                         "-out %s",
                         kp, i == 3 ? "-sha1" : i == 2 ? "" : "-sha256", cp),
                 0);
    CHECK_INT_EQ(test_sh("openssl req -in %s -inform DER -verify -noout "
                         ">/dev/null 2>&1",
                         cp), 0);
    der = read_bin(cp, &len);
    if (der) {
      CHECK_ERR(cairn_csr_parse(der, len, &pub), CAIRN_ERR_UNSUPPORTED);
      CHECK(pub == NULL);
      free(der);
    }
  }
}

static void test_pem(void)
{
  struct cairn_key *k = NULL, *pub = NULL;
  uint8_t *der = NULL, *d2 = NULL;
  size_t len = 0, l2 = 0;
  char *pem = NULL;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P384, &k));
  CHECK_OK(cairn_csr_create(k, &der, &len));
  if (!der) goto out;
  CHECK_OK(cairn_csr_to_pem(der, len, &pem));
  CHECK(pem && strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0);
  if (!pem) goto out;
  CHECK_OK(cairn_csr_from_pem(pem, strlen(pem), &d2, &l2));
  CHECK(d2 && l2 == len && memcmp(d2, der, len) == 0);
  free(d2);
  d2 = NULL;
  /* openssl reads our PEM. */
  CHECK_INT_EQ(test_write_file(test_path("ours.csr.pem"), pem, strlen(pem)),
               0);
  CHECK_INT_EQ(test_sh("openssl req -in %s -verify -noout 2>&1",
                       test_path("ours.csr.pem")), 0);
  free(pem);
  pem = NULL;
  /* The old "NEW CERTIFICATE REQUEST" label is accepted, others not. */
  CHECK_OK(cairn_pem_append("NEW CERTIFICATE REQUEST", der, len, &pem, &l2));
  CHECK_OK(cairn_csr_from_pem(pem, strlen(pem), &d2, &l2));
  CHECK_OK(cairn_csr_parse(d2, l2, &pub));
  CHECK(pub && cairn_key_public_equal(k, pub));
  free(d2);
  d2 = NULL;
  free(pem);
  pem = NULL;
  CHECK_OK(cairn_pem_append("CERTIFICATE", der, len, &pem, &l2));
  CHECK_ERR(cairn_csr_from_pem(pem, strlen(pem), &d2, &l2), CAIRN_ERR_PARSE);
  CHECK(d2 == NULL && l2 == 0);
  free(pem);
  pem = NULL;
  CHECK_ERR(cairn_csr_from_pem("nothing here", 12, &d2, &l2), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_csr_to_pem(der, 0, &pem), CAIRN_ERR_INVAL);
  CHECK(pem == NULL);
  /* Oversized PEM body. */
  {
    uint8_t *big = calloc(1, CAIRN_CSR_MAX + 1);
    char *bp = NULL;
    size_t bl = 0;
    if (big) {
      CHECK_OK(cairn_pem_append("CERTIFICATE REQUEST", big, CAIRN_CSR_MAX + 1,
                                &bp, &bl));
      CHECK_ERR(cairn_csr_from_pem(bp, bl, &d2, &l2), CAIRN_ERR_TOO_BIG);
      free(bp);
      free(big);
    }
  }
out:
  cairn_key_free(pub);
  free(der);
  cairn_key_free(k);
}

int main(void)
{
  RUN(test_roundtrip);
  RUN(test_openssl_csr);
  RUN(test_tampered);
  RUN(test_malformed);
  RUN(test_unsupported);
  RUN(test_pem);
  return test_done();
}
