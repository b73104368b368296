/* Unit tests for key.c: formats, openssl interop, key files, signatures,
 * raw coordinates and point validation. */
#include "test.h"

#include "key_int.h"

#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/pem.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const enum cairn_key_type TYPES[] = {CAIRN_KEY_EC_P256,
                                            CAIRN_KEY_EC_P384};

static const char *crv_name(enum cairn_key_type t)
{
  return t == CAIRN_KEY_EC_P256 ? "prime256v1" : "secp384r1";
}

static const char *dgst_name(enum cairn_key_type t)
{
  return t == CAIRN_KEY_EC_P256 ? "-sha256" : "-sha384";
}

/* Reads a file written by openssl (test helper; fails the test when
 * missing). */
static char *slurp(const char *path, size_t *len)
{
  char *s = test_read_file(path, len);
  if (!s) test_fail(__FILE__, __LINE__, "cannot read %s", path);
  return s;
}

static int import_pem_file(const char *path, struct cairn_key **k)
{
  size_t n = 0;
  char *s = test_read_file(path, &n);
  int r;
  if (!s) return -1;
  r = cairn_key_import_pem(s, n, k);
  free(s);
  return r;
}

static int import_der_file(const char *path, struct cairn_key **k)
{
  size_t n = 0;
  char *s = test_read_file(path, &n);
  int r;
  if (!s) return -1;
  r = cairn_key_import_der((const uint8_t *)s, n, k);
  free(s);
  return r;
}

static void test_types(void)
{
  enum cairn_key_type t;
  CHECK_OK(cairn_key_type_parse("ec-p256", &t));
  CHECK_INT_EQ(t, CAIRN_KEY_EC_P256);
  CHECK_OK(cairn_key_type_parse("ec-p384", &t));
  CHECK_INT_EQ(t, CAIRN_KEY_EC_P384);
  CHECK_ERR(cairn_key_type_parse("rsa-2048", &t), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_key_type_parse("EC-P256 ", &t), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_key_type_parse(NULL, &t), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_key_type_name(CAIRN_KEY_EC_P384), "ec-p384");
  CHECK_STR_EQ(cairn_key_type_jws_alg(CAIRN_KEY_EC_P256), "ES256");
  CHECK_STR_EQ(cairn_key_type_jws_alg(CAIRN_KEY_EC_P384), "ES384");
  CHECK_STR_EQ(cairn_key_type_jwk_crv(CAIRN_KEY_EC_P256), "P-256");
  CHECK_STR_EQ(cairn_key_type_jwk_crv(CAIRN_KEY_EC_P384), "P-384");
  CHECK_INT_EQ(cairn_key_type_coord_len(CAIRN_KEY_EC_P256), 32);
  CHECK_INT_EQ(cairn_key_type_coord_len(CAIRN_KEY_EC_P384), 48);
  CHECK_INT_EQ(cairn_key_type_coord_len((enum cairn_key_type)9), 0);
  CHECK(cairn_key_type_jws_alg((enum cairn_key_type)9) == NULL);
  CHECK_INT_EQ(cairn__key_curve_id(CAIRN_KEY_EC_P384), ECC_SECP384R1);
  CHECK_OK(cairn__key_type_from_curve(ECC_SECP256R1, &t));
  CHECK_INT_EQ(t, CAIRN_KEY_EC_P256);
  CHECK_ERR(cairn__key_type_from_curve(ECC_SECP521R1, &t),
            CAIRN_ERR_UNSUPPORTED);
  {
    struct cairn_key *k = (struct cairn_key *)1;
    CHECK_ERR(cairn_key_generate((enum cairn_key_type)0, &k), CAIRN_ERR_INVAL);
    CHECK(k == NULL);
  }
  cairn_key_free(NULL);
}

/* Every export format re-imports to the same public key; private formats
 * keep the private part and public formats drop it. */
static void roundtrip_one(enum cairn_key_type t)
{
  struct cairn_key *k = NULL, *k2 = NULL, *pub = NULL;
  uint8_t *der = NULL;
  char *pem = NULL;
  size_t len = 0;
  uint8_t id1[20], id2[20];

  CHECK_OK(cairn_key_generate(t, &k));
  if (!k) return;
  CHECK_INT_EQ(cairn_key_get_type(k), t);
  CHECK(cairn_key_has_private(k));
  CHECK_OK(cairn_key_id_sha1(k, id1));

  CHECK_OK(cairn_key_export_private_der(k, &der, &len));
  CHECK_OK(cairn_key_import_der(der, len, &k2));
  CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
  CHECK(k2 && cairn_key_get_type(k2) == t);
  cairn_freezero(der, len);
  cairn_key_free(k2);
  k2 = NULL;

  CHECK_OK(cairn_key_export_private_pem(k, &pem, &len));
  CHECK(pem && strncmp(pem, "-----BEGIN EC PRIVATE KEY-----\n", 31) == 0);
  CHECK(pem && strlen(pem) == len);
  CHECK_OK(cairn_key_import_pem(pem, len, &k2));
  CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
  cairn_freezero(pem, len);
  cairn_key_free(k2);
  k2 = NULL;

  CHECK_OK(cairn_key_export_pkcs8_pem(k, &pem, &len));
  CHECK(pem && strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
  CHECK_OK(cairn_key_import_pem(pem, len, &k2));
  CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
  cairn_freezero(pem, len);
  cairn_key_free(k2);
  k2 = NULL;

  CHECK_OK(cairn_key_export_public_der(k, &der, &len));
  CHECK_OK(cairn_key_import_der(der, len, &k2));
  CHECK(k2 && !cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
  free(der);
  /* A public key cannot export or sign privately. */
  if (k2) {
    uint8_t sig[96];
    size_t sl = sizeof sig;
    CHECK_ERR(cairn_key_export_private_der(k2, &der, &len), CAIRN_ERR_INVAL);
    CHECK(der == NULL && len == 0);
    CHECK_ERR(cairn_key_export_pkcs8_pem(k2, &pem, &len), CAIRN_ERR_INVAL);
    CHECK(pem == NULL);
    CHECK_ERR(cairn_key_sign(k2, "m", 1, sig, &sl), CAIRN_ERR_INVAL);
    CHECK_OK(cairn_key_id_sha1(k2, id2));
    CHECK(memcmp(id1, id2, 20) == 0);
  }
  cairn_key_free(k2);
  k2 = NULL;

  CHECK_OK(cairn_key_export_public_pem(k, &pem, &len));
  CHECK(pem && strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
  CHECK_OK(cairn_key_import_pem(pem, len, &k2));
  CHECK(k2 && !cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
  free(pem);
  cairn_key_free(k2);
  k2 = NULL;

  CHECK_OK(cairn_key_dup(k, &k2));
  CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
  CHECK_OK(cairn_key_public(k, &pub));
  CHECK(pub && !cairn_key_has_private(pub) && cairn_key_public_equal(k, pub));
  cairn_key_free(k2);
  k2 = NULL;
  CHECK_OK(cairn_key_dup(pub, &k2));
  CHECK(k2 && !cairn_key_has_private(k2) && cairn_key_public_equal(pub, k2));
  cairn_key_free(k2);
  k2 = NULL;

  /* A different key, and a key of the other type, are not equal. */
  CHECK_OK(cairn_key_generate(t, &k2));
  CHECK(!cairn_key_public_equal(k, k2));
  CHECK_OK(cairn_key_id_sha1(k2, id2));
  CHECK(memcmp(id1, id2, 20) != 0);
  cairn_key_free(k2);
  k2 = NULL;
  CHECK_OK(cairn_key_generate(t == CAIRN_KEY_EC_P256 ? CAIRN_KEY_EC_P384
                                                     : CAIRN_KEY_EC_P256,
                              &k2));
  CHECK(!cairn_key_public_equal(k, k2));
  CHECK(!cairn_key_public_equal(k, NULL));

  cairn_key_free(k2);
  cairn_key_free(pub);
  cairn_key_free(k);
}

static void test_roundtrip(void)
{
  for (size_t i = 0; i < 2; i++) roundtrip_one(TYPES[i]);
}

/* PKCS#8 DER is exactly the decoded body of the PKCS#8 PEM, re-imports
 * with its private part, and a public-only key is refused like the PEM
 * variant. */
static void pkcs8_der_one(enum cairn_key_type t)
{
  struct cairn_key *k = NULL, *k2 = NULL, *pub = NULL;
  uint8_t *der = NULL, *body = NULL;
  char *pem = NULL;
  size_t len = 0, blen = 0, plen = 0, off = 0;
  char label[CAIRN_PEM_LABEL_MAX] = "";

  CHECK_OK(cairn_key_generate(t, &k));
  if (!k) return;
  CHECK_OK(cairn_key_export_pkcs8_der(k, &der, &len));
  CHECK_OK(cairn_key_export_pkcs8_pem(k, &pem, &plen));
  CHECK_OK(cairn_pem_next(pem, plen, &off, label, &body, &blen,
                          CAIRN_KEY_DER_MAX));
  CHECK_STR_EQ(label, "PRIVATE KEY");
  CHECK(der && body && len > 0 && len == blen &&
        memcmp(der, body, len) == 0);
  CHECK_OK(cairn_key_import_der(der, len, &k2));
  CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
  cairn_key_free(k2);
  k2 = NULL;
  /* Not the SEC1 encoding. */
  cairn_freezero(body, blen);
  body = NULL;
  CHECK_OK(cairn_key_export_private_der(k, &body, &blen));
  CHECK(body && (blen != len || memcmp(body, der, len) != 0));
  cairn_freezero(body, blen);
  cairn_freezero(der, len);
  cairn_freezero(pem, plen);

  CHECK_OK(cairn_key_public(k, &pub));
  if (pub) {
    der = (uint8_t *)"x";
    len = 7;
    CHECK_ERR(cairn_key_export_pkcs8_der(pub, &der, &len), CAIRN_ERR_INVAL);
    CHECK(der == NULL && len == 0);
    pem = (char *)"x";
    plen = 7;
    CHECK_ERR(cairn_key_export_pkcs8_pem(pub, &pem, &plen), CAIRN_ERR_INVAL);
    CHECK(pem == NULL && plen == 0);
  }
  cairn_key_free(pub);
  cairn_key_free(k);
}

static void test_pkcs8_der(void)
{
  for (size_t i = 0; i < 2; i++) pkcs8_der_one(TYPES[i]);
}

/* openssl reads what we write, and derives the same public key and key
 * identifier. */
static void test_openssl_reads_ours(void)
{
  for (size_t i = 0; i < 2; i++) {
    struct cairn_key *k = NULL;
    char *pem = NULL, out[4096];
    size_t len = 0;
    uint8_t id[20];
    char hex[41], *ospub;

    CHECK_OK(cairn_key_generate(TYPES[i], &k));
    if (!k) return;
    CHECK_OK(cairn_key_save(k, test_path("ours.key")));
    CHECK_INT_EQ(test_sh("openssl ec -in %s -check -noout 2>&1",
                         test_path("ours.key")), 0);
    CHECK_OK(cairn_key_export_pkcs8_pem(k, &pem, &len));
    CHECK_INT_EQ(test_write_file(test_path("ours.p8"), pem, len), 0);
    cairn_freezero(pem, len);
    CHECK_INT_EQ(test_sh("openssl pkey -in %s -check -noout 2>&1",
                         test_path("ours.p8")), 0);
    /* openssl's PKCS#8 rendering of our SEC1 key is accepted by us too. */
    CHECK_INT_EQ(test_sh("openssl pkey -in %s -out %s", test_path("ours.key"),
                         test_path("ossl.p8")), 0);

    /* Our SPKI PEM is byte-identical to openssl's for the same key. */
    CHECK_OK(cairn_key_export_public_pem(k, &pem, &len));
    CHECK_INT_EQ(test_sh_out(out, sizeof out, "openssl pkey -in %s -pubout",
                             test_path("ours.p8")), 0);
    CHECK_STR_EQ(out, pem);
    CHECK_INT_EQ(test_write_file(test_path("ours.pub"), pem, len), 0);
    free(pem);
    CHECK_INT_EQ(test_sh("openssl pkey -pubin -in %s -noout 2>&1",
                         test_path("ours.pub")), 0);
    ospub = slurp(test_path("ossl.p8"), &len);
    if (ospub) {
      struct cairn_key *k2 = NULL;
      CHECK_OK(cairn_key_import_pem(ospub, len, &k2));
      CHECK(k2 && cairn_key_public_equal(k, k2) && cairn_key_has_private(k2));
      cairn_key_free(k2);
      free(ospub);
    }

    /* SHA-1 key id = SHA-1 of the BIT STRING content of the SPKI. */
    CHECK_OK(cairn_key_id_sha1(k, id));
    cairn_hex(id, 20, hex);
    CHECK_INT_EQ(test_sh_out(out, sizeof out,
                             "openssl pkey -pubin -in %s -outform DER | "
                             "tail -c %zu | openssl sha1 -r | cut -c1-40",
                             test_path("ours.pub"),
                             1 + 2 * cairn_key_type_coord_len(TYPES[i])),
                 0);
    out[40] = 0;
    CHECK_STR_EQ(out, hex);
    cairn_key_free(k);
  }
}

/* We read what openssl writes, in every container, and reject what we do
 * not support. */
static void test_openssl_keys_import(void)
{
  for (size_t i = 0; i < 2; i++) {
    enum cairn_key_type t = TYPES[i];
    struct cairn_key *k = NULL, *k2 = NULL;
    char *pem = NULL, out[4096];
    size_t len;
    char sec1[512], p8[512];

    /* test_path() rotates static buffers: keep our own copies. */
    snprintf(sec1, sizeof sec1, "%s", test_path("o.sec1"));
    snprintf(p8, sizeof p8, "%s", test_path("o.p8"));

    /* ecparam writes an "EC PARAMETERS" block before the key. */
    CHECK_INT_EQ(test_sh("openssl ecparam -name %s -genkey -out %s",
                         crv_name(t), sec1), 0);
    CHECK_OK(import_pem_file(sec1, &k));
    if (!k) continue;
    CHECK_INT_EQ(cairn_key_get_type(k), t);
    CHECK(cairn_key_has_private(k));
    CHECK_OK(cairn_key_export_public_pem(k, &pem, &len));
    CHECK_INT_EQ(test_sh_out(out, sizeof out, "openssl pkey -in %s -pubout",
                             sec1), 0);
    CHECK_STR_EQ(out, pem);
    free(pem);

    /* DER: SEC1, PKCS#8, SPKI. */
    CHECK_INT_EQ(test_sh("openssl ec -in %s -outform DER -out %s 2>/dev/null",
                         sec1, test_path("o.der")), 0);
    CHECK_OK(import_der_file(test_path("o.der"), &k2));
    CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
    cairn_key_free(k2);
    k2 = NULL;
    CHECK_INT_EQ(test_sh("openssl pkey -in %s -outform DER -out %s", sec1,
                         test_path("o.p8der")), 0);
    CHECK_OK(import_der_file(test_path("o.p8der"), &k2));
    CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
    cairn_key_free(k2);
    k2 = NULL;
    CHECK_INT_EQ(test_sh("openssl pkey -in %s -pubout -outform DER -out %s",
                         sec1, test_path("o.spki")), 0);
    CHECK_OK(import_der_file(test_path("o.spki"), &k2));
    CHECK(k2 && !cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
    cairn_key_free(k2);
    k2 = NULL;

    /* Compressed public point. */
    CHECK_INT_EQ(test_sh("openssl ec -in %s -pubout -conv_form compressed "
                         "-out %s 2>/dev/null",
                         sec1, test_path("o.cpub")), 0);
    CHECK_OK(import_pem_file(test_path("o.cpub"), &k2));
    CHECK(k2 && cairn_key_public_equal(k, k2));
    cairn_key_free(k2);
    k2 = NULL;
    /* SEC1 with a compressed public part, and without any public part:
     * the point is recomputed from the scalar. */
    CHECK_INT_EQ(test_sh("openssl ec -in %s -conv_form compressed -out %s "
                         "2>/dev/null",
                         sec1, test_path("o.csec1")), 0);
    CHECK_OK(import_pem_file(test_path("o.csec1"), &k2));
    CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
    cairn_key_free(k2);
    k2 = NULL;
    CHECK_INT_EQ(test_sh("openssl ec -in %s -no_public -out %s 2>/dev/null",
                         sec1, test_path("o.nopub")), 0);
    CHECK_OK(import_pem_file(test_path("o.nopub"), &k2));
    CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
    if (k2) {
      /* And re-exported with the public part, which openssl checks. */
      CHECK_OK(cairn_key_save(k2, test_path("o.resaved")));
      CHECK_INT_EQ(test_sh("openssl ec -in %s -check -noout 2>&1",
                           test_path("o.resaved")), 0);
    }
    cairn_key_free(k2);
    k2 = NULL;
    /* Explicit curve parameters are refused. */
    CHECK_INT_EQ(test_sh("openssl ec -in %s -param_enc explicit -out %s "
                         "2>/dev/null",
                         sec1, test_path("o.expl")), 0);
    CHECK_ERR(import_pem_file(test_path("o.expl"), &k2),
              CAIRN_ERR_UNSUPPORTED);
    CHECK(k2 == NULL);
    cairn_key_free(k);
    k = NULL;

    /* genpkey writes PKCS#8 (no curve inside the inner SEC1). */
    CHECK_INT_EQ(test_sh("openssl genpkey -algorithm EC -pkeyopt "
                         "ec_paramgen_curve:%s -out %s",
                         t == CAIRN_KEY_EC_P256 ? "P-256" : "P-384", p8), 0);
    CHECK_OK(import_pem_file(p8, &k));
    CHECK(k && cairn_key_get_type(k) == t && cairn_key_has_private(k));
    if (k) {
      CHECK_OK(cairn_key_export_public_pem(k, &pem, &len));
      CHECK_INT_EQ(test_sh_out(out, sizeof out, "openssl pkey -in %s -pubout",
                               p8), 0);
      CHECK_STR_EQ(out, pem);
      free(pem);
    }
    cairn_key_free(k);
    k = NULL;
  }

  {
    struct cairn_key *k = NULL;
    char f[512];
    static const char *const cmds[] = {
        "openssl ecparam -name secp521r1 -genkey -noout -out \"$F\"",
        "openssl ecparam -name secp521r1 -genkey -noout | openssl ec -pubout "
        "-out \"$F\" 2>/dev/null",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 "
        "-out \"$F\"",
        "openssl ecparam -name secp256k1 -genkey -noout -out \"$F\"",
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out \"$F\"",
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 | "
        "openssl rsa -traditional -out \"$F\" 2>/dev/null",
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 | "
        "openssl pkey -pubout -out \"$F\"",
        "openssl genpkey -algorithm ED25519 -out \"$F\"",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | "
        "openssl pkcs8 -topk8 -passout pass:x -out \"$F\"",
    };
    snprintf(f, sizeof f, "%s", test_path("bad.pem"));
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
      CHECK_INT_EQ(test_sh("F='%s'; %s", f, cmds[i]), 0);
      CHECK_ERR(import_pem_file(f, &k), CAIRN_ERR_UNSUPPORTED);
      CHECK(k == NULL);
      /* The DER form of the same key is refused the same way. */
      if (i != 5 && i != 8) {
        CHECK_INT_EQ(test_sh("openssl pkey %s -in %s -outform DER -out %s",
                             i == 1 || i == 6 ? "-pubin" : "", f,
                             test_path("bad.der")), 0);
        CHECK_ERR(import_der_file(test_path("bad.der"), &k),
                  CAIRN_ERR_UNSUPPORTED);
        CHECK(k == NULL);
      }
    }
  }
}

static void test_files(void)
{
  struct cairn_key *k = NULL, *k2 = NULL;
  char f[512];
  struct stat st;
  mode_t old;

  snprintf(f, sizeof f, "%s", test_path("file.key"));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  if (!k) return;
  /* The mode is 0600 whatever the umask. */
  old = umask(0);
  CHECK_OK(cairn_key_save(k, f));
  umask(077);
  CHECK_OK(cairn_key_save(k, test_path("file2.key")));
  umask(old);
  CHECK_INT_EQ(stat(f, &st), 0);
  CHECK_INT_EQ(st.st_mode & 07777, 0600);
  CHECK_INT_EQ(stat(test_path("file2.key"), &st), 0);
  CHECK_INT_EQ(st.st_mode & 07777, 0600);
  CHECK_OK(cairn_key_load(f, &k2));
  CHECK(k2 && cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
  cairn_key_free(k2);
  k2 = NULL;
  /* Saving over an existing file replaces it atomically. */
  CHECK_OK(cairn_key_save(k, f));
  CHECK_INT_EQ(test_sh("ls %s | grep -c tmp >/dev/null", test_tmpdir()), 1);

  CHECK_INT_EQ(chmod(f, 0644), 0);
  CHECK_ERR(cairn_key_load(f, &k2), CAIRN_ERR_PERM);
  CHECK(k2 == NULL);
  CHECK(strstr(cairn_errdetail(), f) != NULL);
  CHECK_INT_EQ(chmod(f, 0640), 0);
  CHECK_ERR(cairn_key_load(f, &k2), CAIRN_ERR_PERM);
  CHECK_INT_EQ(chmod(f, 0604), 0);
  CHECK_ERR(cairn_key_load(f, &k2), CAIRN_ERR_PERM);
  CHECK_INT_EQ(chmod(f, 0400), 0);
  CHECK_OK(cairn_key_load(f, &k2));
  CHECK(k2 && cairn_key_public_equal(k, k2));
  cairn_key_free(k2);
  k2 = NULL;
  CHECK_INT_EQ(chmod(f, 0600), 0);

  CHECK_ERR(cairn_key_load(test_path("missing.key"), &k2),
            CAIRN_ERR_NOT_FOUND);
  /* A public key is not a key file; garbage names the file. */
  {
    char *pem = NULL;
    size_t len = 0;
    char g[512];
    snprintf(g, sizeof g, "%s", test_path("pub.key"));
    CHECK_OK(cairn_key_export_public_pem(k, &pem, &len));
    CHECK_OK(cairn_file_write_atomic(g, pem, len, 0600));
    free(pem);
    CHECK_ERR(cairn_key_load(g, &k2), CAIRN_ERR_PARSE);
    CHECK(k2 == NULL);
    CHECK_OK(cairn_file_write_atomic(g, "hello", 5, 0600));
    CHECK_ERR(cairn_key_load(g, &k2), CAIRN_ERR_PARSE);
    CHECK(strstr(cairn_errdetail(), g) != NULL);
  }
  /* Saving to a directory that does not exist fails cleanly. */
  CHECK_ERR(cairn_key_save(k, test_path("nodir/x.key")), CAIRN_ERR_IO);
  cairn_key_free(k);
}

/* ECDSA DER <-> raw r||s for the openssl interop (test-only helpers). */
static size_t der_int(uint8_t *o, const uint8_t *v, size_t n)
{
  size_t i = 0, k = 0;
  while (i < n - 1 && v[i] == 0) i++;
  o[k++] = 0x02;
  o[k++] = (uint8_t)(n - i + (v[i] & 0x80 ? 1 : 0));
  if (v[i] & 0x80) o[k++] = 0;
  memcpy(o + k, v + i, n - i);
  return k + n - i;
}

static size_t raw_to_der(const uint8_t *sig, size_t c, uint8_t *out)
{
  uint8_t body[128];
  size_t n = der_int(body, sig, c);
  size_t k = 0;
  n += der_int(body + n, sig + c, c);
  out[k++] = 0x30;
  if (n >= 0x80) out[k++] = 0x81;
  out[k++] = (uint8_t)n;
  memcpy(out + k, body, n);
  return k + n;
}

static int der_to_raw(const uint8_t *d, size_t n, size_t c, uint8_t *sig)
{
  size_t o = 2;
  if (n < 8 || d[0] != 0x30) return -1;
  if (d[1] == 0x81) o = 3;
  memset(sig, 0, 2 * c);
  for (int i = 0; i < 2; i++) {
    size_t l;
    if (o + 2 > n || d[o] != 0x02) return -1;
    l = d[o + 1];
    o += 2;
    if (o + l > n) return -1;
    if (l > c + 1) return -1;
    if (l == c + 1) {
      o++;
      l--;
    }
    memcpy(sig + i * c + c - l, d + o, l);
    o += l;
  }
  return 0;
}

static void test_sign_verify(void)
{
  for (size_t ti = 0; ti < 2; ti++) {
    enum cairn_key_type t = TYPES[ti];
    size_t c = cairn_key_type_coord_len(t);
    struct cairn_key *k = NULL, *other = NULL, *pub = NULL;
    uint8_t sig[96], bad[96];
    size_t sl;
    int shorts = 0, i;
    char msg[64];

    CHECK_OK(cairn_key_generate(t, &k));
    CHECK_OK(cairn_key_generate(t, &other));
    if (!k || !other) return;
    CHECK_OK(cairn_key_public(k, &pub));

    /* 500 round trips, then more until a signature with a short r or s
     * (about 1 in 128) has been seen and verified. */
    for (i = 0; i < 500 || (shorts == 0 && i < 6000); i++) {
      int n = snprintf(msg, sizeof msg, "header.payload-%d", i);
      sl = sizeof sig;
      CHECK_OK(cairn_key_sign(k, msg, (size_t)n, sig, &sl));
      CHECK_INT_EQ(sl, 2 * c);
      if (sig[0] == 0 || sig[c] == 0) shorts++;
      if (cairn_key_verify(pub, msg, (size_t)n, sig, sl) != CAIRN_OK) {
        test_fail(__FILE__, __LINE__, "round trip %d failed: %s", i,
                  cairn_errdetail());
        break;
      }
    }
    CHECK(shorts > 0);

    sl = sizeof sig;
    CHECK_OK(cairn_key_sign(k, "hello", 5, sig, &sl));
    CHECK_OK(cairn_key_verify(k, "hello", 5, sig, sl));
    CHECK_ERR(cairn_key_verify(pub, "hellp", 5, sig, sl), CAIRN_ERR_VERIFY);
    CHECK_ERR(cairn_key_verify(pub, "hello", 4, sig, sl), CAIRN_ERR_VERIFY);
    CHECK_ERR(cairn_key_verify(other, "hello", 5, sig, sl), CAIRN_ERR_VERIFY);
    for (size_t b = 0; b < 2 * c * 8; b += 7) {
      memcpy(bad, sig, sl);
      bad[b / 8] ^= (uint8_t)(1u << (b % 8));
      CHECK_ERR(cairn_key_verify(pub, "hello", 5, bad, sl), CAIRN_ERR_VERIFY);
    }
    CHECK_ERR(cairn_key_verify(pub, "hello", 5, sig, sl - 1),
              CAIRN_ERR_VERIFY);
    CHECK_ERR(cairn_key_verify(pub, "hello", 5, sig, 0), CAIRN_ERR_VERIFY);
    memset(bad, 0, sizeof bad);
    CHECK_ERR(cairn_key_verify(pub, "hello", 5, bad, sl), CAIRN_ERR_VERIFY);
    memset(bad, 0xff, sizeof bad);
    CHECK_ERR(cairn_key_verify(pub, "hello", 5, bad, sl), CAIRN_ERR_VERIFY);
    /* s replaced by n - s is the other valid-looking signature; ECDSA
     * accepts it, so only check that swapping r and s fails. */
    memcpy(bad, sig + c, c);
    memcpy(bad + c, sig, c);
    CHECK_ERR(cairn_key_verify(pub, "hello", 5, bad, sl), CAIRN_ERR_VERIFY);
    /* Too small an output buffer. */
    sl = 2 * c - 1;
    CHECK_ERR(cairn_key_sign(k, "hello", 5, sig, &sl), CAIRN_ERR_INVAL);
    /* Empty message. */
    sl = sizeof sig;
    CHECK_OK(cairn_key_sign(k, "", 0, sig, &sl));
    CHECK_OK(cairn_key_verify(pub, "", 0, sig, sl));

    /* openssl verifies ours with the right hash, and we verify openssl's. */
    {
      uint8_t d[160];
      size_t dl;
      char *pem = NULL, *s;
      size_t pl = 0;
      CHECK_INT_EQ(test_write_file(test_path("msg"), "interop message", 15),
                   0);
      sl = sizeof sig;
      CHECK_OK(cairn_key_sign(k, "interop message", 15, sig, &sl));
      dl = raw_to_der(sig, c, d);
      CHECK_INT_EQ(test_write_file(test_path("sig.der"), d, dl), 0);
      CHECK_OK(cairn_key_export_public_pem(k, &pem, &pl));
      CHECK_INT_EQ(test_write_file(test_path("k.pub"), pem, pl), 0);
      free(pem);
      CHECK_INT_EQ(test_sh("openssl dgst %s -verify %s -signature %s %s "
                           ">/dev/null",
                           dgst_name(t), test_path("k.pub"),
                           test_path("sig.der"), test_path("msg")), 0);
      /* Wrong hash for the curve: openssl must reject it. */
      CHECK(test_sh("openssl dgst %s -verify %s -signature %s %s "
                    ">/dev/null 2>&1",
                    t == CAIRN_KEY_EC_P256 ? "-sha384" : "-sha256",
                    test_path("k.pub"), test_path("sig.der"),
                    test_path("msg")) != 0);

      CHECK_OK(cairn_key_save(k, test_path("k.key")));
      CHECK_INT_EQ(test_sh("openssl dgst %s -sign %s -out %s %s", dgst_name(t),
                           test_path("k.key"), test_path("osig.der"),
                           test_path("msg")), 0);
      s = slurp(test_path("osig.der"), &dl);
      if (s) {
        CHECK_INT_EQ(der_to_raw((uint8_t *)s, dl, c, sig), 0);
        CHECK_OK(cairn_key_verify(pub, "interop message", 15, sig, 2 * c));
        CHECK_ERR(cairn_key_verify(pub, "interop messagf", 15, sig, 2 * c),
                  CAIRN_ERR_VERIFY);
        free(s);
      }
    }
    cairn_key_free(pub);
    cairn_key_free(other);
    cairn_key_free(k);
  }
}

static void test_raw(void)
{
  for (size_t ti = 0; ti < 2; ti++) {
    enum cairn_key_type t = TYPES[ti];
    size_t c = cairn_key_type_coord_len(t);
    struct cairn_key *k = NULL, *k2 = NULL;
    uint8_t x[48], y[48], x2[48], y2[48];
    int found = 0;

    /* Find a key with a leading zero byte in x (about 1 in 256) to check
     * the left padding. */
    for (int i = 0; i < 4000 && !found; i++) {
      cairn_key_free(k);
      k = NULL;
      CHECK_OK(cairn_key_generate(t, &k));
      if (!k) return;
      CHECK_OK(cairn_key_public_raw(k, x, y, c));
      found = x[0] == 0;
    }
    CHECK(found);
    CHECK_OK(cairn_key_from_public_raw(t, x, y, c, &k2));
    CHECK(k2 && !cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
    if (k2) {
      CHECK_OK(cairn_key_public_raw(k2, x2, y2, c));
      CHECK(memcmp(x, x2, c) == 0 && memcmp(y, y2, c) == 0);
    }
    cairn_key_free(k2);
    k2 = NULL;
    /* A signature by k verifies with the key rebuilt from raw coords. */
    {
      uint8_t sig[96];
      size_t sl = sizeof sig;
      CHECK_OK(cairn_key_sign(k, "m", 1, sig, &sl));
      CHECK_OK(cairn_key_from_public_raw(t, x, y, c, &k2));
      if (k2) CHECK_OK(cairn_key_verify(k2, "m", 1, sig, sl));
      cairn_key_free(k2);
      k2 = NULL;
    }

    CHECK_ERR(cairn_key_public_raw(k, x2, y2, c + 1), CAIRN_ERR_INVAL);
    CHECK_ERR(cairn_key_from_public_raw(t, x, y, c - 1, &k2),
              CAIRN_ERR_PARSE);
    CHECK_ERR(cairn_key_from_public_raw((enum cairn_key_type)7, x, y, c, &k2),
              CAIRN_ERR_INVAL);
    /* Off-curve points: y + 1, the point (0, 0), x = y = 0xff..ff (>= p). */
    memcpy(y2, y, c);
    y2[c - 1] ^= 1;
    CHECK_ERR(cairn_key_from_public_raw(t, x, y2, c, &k2), CAIRN_ERR_PARSE);
    CHECK(k2 == NULL);
    memset(x2, 0, c);
    memset(y2, 0, c);
    CHECK_ERR(cairn_key_from_public_raw(t, x2, y2, c, &k2), CAIRN_ERR_PARSE);
    memset(x2, 0xff, c);
    memset(y2, 0xff, c);
    CHECK_ERR(cairn_key_from_public_raw(t, x2, y2, c, &k2), CAIRN_ERR_PARSE);
    /* The P-256 coordinates are not a P-384 point (and vice versa). */
    if (t == CAIRN_KEY_EC_P256) {
      uint8_t bx[48] = {0}, by[48] = {0};
      memcpy(bx + 16, x, 32);
      memcpy(by + 16, y, 32);
      CHECK_ERR(cairn_key_from_public_raw(CAIRN_KEY_EC_P384, bx, by, 48, &k2),
                CAIRN_ERR_PARSE);
    }
    cairn_key_free(k);
  }
}

/* ---- public-key validation (public_point_check in key.c) ---- */

/* The field primes, big-endian; compared with wolfSSL's curve table
 * below so that a typo here cannot hide one in key.c. */
static const uint8_t PRIME256[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t PRIME384[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff};

/* v (n bytes, big-endian) += d (may be negative); no overflow expected. */
static void be_add(uint8_t *v, size_t n, int d)
{
  int carry = d;
  for (size_t i = n; i-- > 0 && carry;) {
    int s = v[i] + carry;
    v[i] = (uint8_t)(s & 0xff);
    carry = s >> 8; /* arithmetic shift: -1 borrows */
  }
}

/* SubjectPublicKeyInfo for the encoded point pt on curve t, into buf
 * (160 bytes); returns its length. */
static size_t spki_of(enum cairn_key_type t, const uint8_t *pt, size_t ptlen,
                      uint8_t *buf)
{
  static const uint8_t alg256[] = {0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                   0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
                                   0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static const uint8_t alg384[] = {0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
                                   0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                                   0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  const uint8_t *alg = t == CAIRN_KEY_EC_P256 ? alg256 : alg384;
  size_t al = t == CAIRN_KEY_EC_P256 ? sizeof alg256 : sizeof alg384, o = 0;

  buf[o++] = 0x30;
  buf[o++] = (uint8_t)(al + 3 + ptlen);
  memcpy(buf + o, alg, al);
  o += al;
  buf[o++] = 0x03;
  buf[o++] = (uint8_t)(ptlen + 1);
  buf[o++] = 0;
  memcpy(buf + o, pt, ptlen);
  return o + ptlen;
}

/* Imports the point prefix || x (|| y when y is given) as an SPKI and, for
 * an uncompressed point, as raw JWK coordinates; each must give want, and
 * a failure must name `needle` in its detail. */
static void expect_point(int line, enum cairn_key_type t, uint8_t prefix,
                         const uint8_t *x, const uint8_t *y, int want,
                         const char *needle)
{
  size_t c = cairn_key_type_coord_len(t), ptlen = 1 + c + (y ? c : 0);
  uint8_t pt[97], der[160];
  struct cairn_key *k = NULL;
  int r;

  pt[0] = prefix;
  memcpy(pt + 1, x, c);
  if (y) memcpy(pt + 1 + c, y, c);
  for (int path = 0; path < (y ? 2 : 1); path++) {
    if (path == 0)
      r = cairn_key_import_der(der, spki_of(t, pt, ptlen, der), &k);
    else
      r = cairn_key_from_public_raw(t, x, y, c, &k);
    if (r != want || (r == CAIRN_OK) != (k != NULL))
      test_fail(__FILE__, line, "%s %s point %02x..: got %d, want %d [%s]",
                cairn_key_type_jwk_crv(t), path ? "raw" : "SPKI", prefix, r,
                want, cairn_errdetail());
    else if (r != CAIRN_OK && needle && !strstr(cairn_errdetail(), needle))
      test_fail(__FILE__, line, "%s %s point: detail \"%s\" lacks \"%s\"",
                cairn_key_type_jwk_crv(t), path ? "raw" : "SPKI",
                cairn_errdetail(), needle);
    cairn_key_free(k);
    k = NULL;
  }
}

/* Public-only keys: coordinates in [0, p-1], not the point at infinity,
 * on the curve; compressed points too. Boundaries at p pin the prime. */
static void test_public_validation(void)
{
  for (size_t ti = 0; ti < 2; ti++) {
    enum cairn_key_type t = TYPES[ti];
    size_t c = cairn_key_type_coord_len(t);
    const uint8_t *prime = t == CAIRN_KEY_EC_P256 ? PRIME256 : PRIME384;
    struct cairn_key *k = NULL, *k2 = NULL;
    uint8_t x[48], y[48], x0[48], y0[48], v[48], w[48], pt[97], der[160];
    uint8_t *exp = NULL;
    size_t elen = 0;
    char hex[97];
    int found, ok;

    /* Our copy of p is wolfSSL's. */
    {
      const ecc_set_type *dp = wc_ecc_get_curve_params(
          wc_ecc_get_curve_idx(cairn__key_curve_id(t)));
      for (size_t i = 0; i < c; i++)
        snprintf(hex + 2 * i, 3, "%02X", prime[i]);
      CHECK(dp && strcasecmp(dp->prime, hex) == 0);
    }

    /* A valid key: uncompressed (SPKI and raw) and compressed. */
    CHECK_OK(cairn_key_generate(t, &k));
    if (!k) return;
    CHECK_OK(cairn_key_public_raw(k, x, y, c));
    expect_point(__LINE__, t, 0x04, x, y, CAIRN_OK, NULL);
    expect_point(__LINE__, t, (uint8_t)(0x02 | (y[c - 1] & 1)), x, NULL,
                 CAIRN_OK, NULL);
    pt[0] = (uint8_t)(0x02 | (y[c - 1] & 1));
    memcpy(pt + 1, x, c);
    CHECK_OK(cairn_key_import_der(der, spki_of(t, pt, 1 + c, der), &k2));
    CHECK(k2 && !cairn_key_has_private(k2) && cairn_key_public_equal(k, k2));
    cairn_key_free(k2);
    k2 = NULL;
    /* (spki_of writes what the exporter writes) */
    CHECK_OK(cairn_key_export_public_der(k, &exp, &elen));
    pt[0] = 0x04;
    memcpy(pt + 1 + c, y, c);
    CHECK(exp && elen == spki_of(t, pt, 1 + 2 * c, der) &&
          memcmp(exp, der, elen) == 0);
    free(exp);

    /* The smallest x0 that is a point's x (0 for both curves): (x0, y0). */
    found = 0;
    for (int i = 0; i < 64 && !found; i++) {
      memset(x0, 0, c);
      x0[c - 1] = (uint8_t)i;
      pt[0] = 0x02;
      memcpy(pt + 1, x0, c);
      found = cairn_key_import_der(der, spki_of(t, pt, 1 + c, der), &k2) ==
              CAIRN_OK;
    }
    CHECK(found && k2);
    if (!k2) goto next;
    CHECK_OK(cairn_key_public_raw(k2, x0, y0, c));
    cairn_key_free(k2);
    k2 = NULL;

    /* x = x0 + p: x mod p is on the curve, so only the range check stops
     * it, compressed (wolfSSL's import accepts it) and uncompressed. */
    memcpy(v, prime, c);
    be_add(v, c, x0[c - 1]);
    expect_point(__LINE__, t, (uint8_t)(0x02 | (y0[c - 1] & 1)), v, NULL,
                 CAIRN_ERR_PARSE, "x coordinate is out of range");
    expect_point(__LINE__, t, 0x04, v, y0, CAIRN_ERR_PARSE,
                 "x coordinate is out of range");
    /* x = p + 5, x = p, x = 2^n - 1. */
    be_add(v, c, 5);
    expect_point(__LINE__, t, 0x04, v, y0, CAIRN_ERR_PARSE,
                 "x coordinate is out of range");
    expect_point(__LINE__, t, 0x04, prime, y, CAIRN_ERR_PARSE,
                 "x coordinate is out of range");
    expect_point(__LINE__, t, 0x02, prime, NULL, CAIRN_ERR_PARSE,
                 "x coordinate is out of range");
    memset(v, 0xff, c);
    expect_point(__LINE__, t, 0x04, v, y, CAIRN_ERR_PARSE,
                 "x coordinate is out of range");
    expect_point(__LINE__, t, 0x03, v, NULL, CAIRN_ERR_PARSE,
                 "x coordinate is out of range");

    /* y = p, y = p + 1, y = 2^n - 1 with a valid x. */
    memcpy(w, prime, c);
    expect_point(__LINE__, t, 0x04, x, w, CAIRN_ERR_PARSE,
                 "y coordinate is out of range");
    be_add(w, c, 1);
    expect_point(__LINE__, t, 0x04, x, w, CAIRN_ERR_PARSE,
                 "y coordinate is out of range");
    memset(w, 0xff, c);
    expect_point(__LINE__, t, 0x04, x0, w, CAIRN_ERR_PARSE,
                 "y coordinate is out of range");

    /* Off the curve: y + 1, y0 - 1; and (x0, p - y0) is its negation, on
     * the curve. */
    memcpy(w, y, c);
    be_add(w, c, 1);
    expect_point(__LINE__, t, 0x04, x, w, CAIRN_ERR_PARSE,
                 "not on the curve");
    memcpy(w, y0, c);
    be_add(w, c, -1);
    expect_point(__LINE__, t, 0x04, x0, w, CAIRN_ERR_PARSE,
                 "not on the curve");
    {
      int borrow = 0;
      for (size_t i = c; i-- > 0;) {
        int d = prime[i] - y0[i] - borrow;
        borrow = d < 0;
        w[i] = (uint8_t)(d & 0xff);
      }
    }
    expect_point(__LINE__, t, 0x04, x0, w, CAIRN_OK, NULL);

    /* The identity: (0, 0) is wolfSSL's encoding of the point at infinity;
     * SEC1's one-byte 00 encoding is refused as an encoding. */
    memset(v, 0, c);
    memset(w, 0, c);
    expect_point(__LINE__, t, 0x04, v, w, CAIRN_ERR_PARSE,
                 "point at infinity");
    pt[0] = 0x00;
    CHECK_ERR(cairn_key_import_der(der, spki_of(t, pt, 1, der), &k2),
              CAIRN_ERR_PARSE);
    CHECK(strstr(cairn_errdetail(), "bad encoding") != NULL);
    CHECK(k2 == NULL);

    /* A compressed x with no square root is refused by the import. */
    found = 0;
    for (int i = 1; i < 64 && !found; i++) {
      memset(v, 0, c);
      v[c - 1] = (uint8_t)i;
      pt[0] = 0x02;
      memcpy(pt + 1, v, c);
      found = cairn_key_import_der(der, spki_of(t, pt, 1 + c, der), &k2) ==
              CAIRN_ERR_PARSE;
      cairn_key_free(k2);
      k2 = NULL;
    }
    CHECK(found && strstr(cairn_errdetail(), "public point rejected"));

    /* Just below p: every x = p - i is either a point's x (accepted) or
     * has no square root, never "out of range"; some are accepted. */
    ok = 0;
    for (int i = 1; i <= 64; i++) {
      int r;
      memcpy(v, prime, c);
      be_add(v, c, -i);
      pt[0] = 0x02;
      memcpy(pt + 1, v, c);
      r = cairn_key_import_der(der, spki_of(t, pt, 1 + c, der), &k2);
      if (r == CAIRN_OK) {
        ok++;
      } else if (r != CAIRN_ERR_PARSE ||
                 !strstr(cairn_errdetail(), "public point rejected")) {
        test_fail(__FILE__, __LINE__, "x = p - %d: %d [%s]", i, r,
                  cairn_errdetail());
      }
      cairn_key_free(k2);
      k2 = NULL;
    }
    CHECK(ok > 0);
  next:
    cairn_key_free(k2);
    cairn_key_free(k);
  }
}

/* Hand-made and mangled containers. */
static void test_import_negative(void)
{
  struct cairn_key *a = NULL, *b = NULL, *k = NULL;
  uint8_t *der = NULL, *der2 = NULL, *m;
  size_t len = 0, len2 = 0;
  char *pem = NULL;
  size_t plen = 0;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &a));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &b));
  if (!a || !b) return;

  /* Every truncation of each container fails with PARSE. */
  CHECK_OK(cairn_key_export_private_der(a, &der, &len));
  for (size_t n = 0; n < len; n++) {
    int r = cairn_key_import_der(der, n, &k);
    if (r != CAIRN_ERR_PARSE || k) {
      test_fail(__FILE__, __LINE__, "SEC1 truncated to %zu: %d", n, r);
      break;
    }
  }
  /* Trailing garbage. */
  m = malloc(len + 1);
  if (m) {
    memcpy(m, der, len);
    m[len] = 0;
    CHECK_ERR(cairn_key_import_der(m, len + 1, &k), CAIRN_ERR_PARSE);
    free(m);
  }
  /* SEC1 layout (P-256, from wolfSSL): 30 77 02 01 01 04 20 <d:32> a0 0a
   * <oid> a1 44 03 42 00 04 <x> <y>. Splice b's public point into a's key:
   * the mismatch is detected. */
  CHECK_INT_EQ(len, 121);
  CHECK_OK(cairn_key_export_private_der(b, &der2, &len2));
  if (len == 121 && len2 == 121) {
    uint8_t mix[121];
    memcpy(mix, der, 121);
    memcpy(mix + 56, der2 + 56, 65);
    CHECK_ERR(cairn_key_import_der(mix, 121, &k), CAIRN_ERR_PARSE);
    CHECK(strstr(cairn_errdetail(), "does not match") != NULL);
    /* A zero scalar, and the group order n, are refused. */
    memcpy(mix, der, 121);
    memset(mix + 7, 0, 32);
    CHECK_ERR(cairn_key_import_der(mix, 121, &k), CAIRN_ERR_PARSE);
    {
      static const uint8_t n256[32] = {
          0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
          0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
      memcpy(mix + 7, n256, 32);
      CHECK_ERR(cairn_key_import_der(mix, 121, &k), CAIRN_ERR_PARSE);
      memset(mix + 7, 0xff, 32);
      CHECK_ERR(cairn_key_import_der(mix, 121, &k), CAIRN_ERR_PARSE);
    }
    /* A one-byte scalar (d = 1, so the public key is the generator G) and
     * no public part: imported, and exported again padded to 32 bytes. */
    {
      static const uint8_t one[] = {0x30, 0x12, 0x02, 0x01, 0x01, 0x04, 0x01,
                                    0x01, 0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
      static const uint8_t gx[4] = {0x6b, 0x17, 0xd1, 0xf2};
      uint8_t x[32], y[32], *d1 = NULL;
      size_t l1 = 0;
      CHECK_OK(cairn_key_import_der(one, sizeof one, &k));
      CHECK(k && cairn_key_has_private(k));
      if (k) {
        CHECK_OK(cairn_key_public_raw(k, x, y, 32));
        CHECK(memcmp(x, gx, 4) == 0);
        CHECK_OK(cairn_key_export_private_der(k, &d1, &l1));
        CHECK_INT_EQ(l1, 121);
        CHECK(d1 && d1[6] == 32 && d1[38] == 0x01 && d1[7] == 0);
        cairn_freezero(d1, l1);
      }
      cairn_key_free(k);
      k = NULL;
    }
    /* Wrong version. */
    memcpy(mix, der, 121);
    mix[4] = 2;
    CHECK_ERR(cairn_key_import_der(mix, 121, &k), CAIRN_ERR_PARSE);
    /* An unknown curve OID (prime256v1's last arc changed). */
    memcpy(mix, der, 121);
    mix[50] ^= 0x0f;
    CHECK_ERR(cairn_key_import_der(mix, 121, &k), CAIRN_ERR_UNSUPPORTED);
    CHECK(k == NULL);
  }
  cairn_freezero(der2, len2);
  der2 = NULL;

  /* Label / content mismatch: SEC1 bytes under "PUBLIC KEY". */
  {
    char *p2 = NULL;
    size_t l2 = 0;
    CHECK_OK(cairn_pem_append("PUBLIC KEY", der, len, &p2, &l2));
    CHECK_ERR(cairn_key_import_pem(p2, l2, &k), CAIRN_ERR_PARSE);
    cairn_freezero(p2, l2);
    p2 = NULL;
    CHECK_OK(cairn_pem_append("PRIVATE KEY", der, len, &p2, &l2));
    CHECK_ERR(cairn_key_import_pem(p2, l2, &k), CAIRN_ERR_PARSE);
    cairn_freezero(p2, l2);
    p2 = NULL;
    CHECK_OK(cairn_pem_append("CERTIFICATE", der, len, &p2, &l2));
    CHECK_ERR(cairn_key_import_pem(p2, l2, &k), CAIRN_ERR_UNSUPPORTED);
    cairn_freezero(p2, l2);
  }
  cairn_freezero(der, len);
  der = NULL;

  /* SPKI: truncations, a flipped point byte (off the curve). */
  CHECK_OK(cairn_key_export_public_der(a, &der, &len));
  for (size_t n = 0; n < len; n++) {
    int r = cairn_key_import_der(der, n, &k);
    if (r != CAIRN_ERR_PARSE || k) {
      test_fail(__FILE__, __LINE__, "SPKI truncated to %zu: %d", n, r);
      break;
    }
  }
  der[len - 1] ^= 0x01;
  CHECK_ERR(cairn_key_import_der(der, len, &k), CAIRN_ERR_PARSE);
  CHECK(k == NULL);
  der[len - 1] ^= 0x01;
  der[len - 66] = 0x01; /* unused-bits octet of the BIT STRING */
  CHECK_ERR(cairn_key_import_der(der, len, &k), CAIRN_ERR_PARSE);
  free(der);
  der = NULL;

  /* PKCS#8: truncations. */
  CHECK_OK(cairn_key_export_pkcs8_pem(a, &pem, &plen));
  for (size_t n = 0; n < plen; n += 3) {
    int r = cairn_key_import_pem(pem, n, &k);
    if (r == CAIRN_OK || k) {
      test_fail(__FILE__, __LINE__, "PKCS#8 PEM truncated to %zu: ok", n);
      break;
    }
  }
  cairn_freezero(pem, plen);

  /* Garbage, empty, NULL, oversized. */
  CHECK_ERR(cairn_key_import_pem("hello", 5, &k), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_key_import_pem("", 0, &k), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_key_import_der((const uint8_t *)"\x30\x00", 2, &k),
            CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_key_import_der((const uint8_t *)"", 0, &k), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_key_import_der(NULL, 0, &k), CAIRN_ERR_INVAL);
  m = calloc(1, CAIRN_KEY_PEM_MAX + 1);
  if (m) {
    CHECK_ERR(cairn_key_import_der(m, CAIRN_KEY_DER_MAX + 1, &k),
              CAIRN_ERR_TOO_BIG);
    CHECK_ERR(cairn_key_import_pem((char *)m, CAIRN_KEY_PEM_MAX + 1, &k),
              CAIRN_ERR_TOO_BIG);
    free(m);
  }
  CHECK(k == NULL);
  cairn_key_free(a);
  cairn_key_free(b);
}

int main(void)
{
  RUN(test_types);
  RUN(test_roundtrip);
  RUN(test_pkcs8_der);
  RUN(test_openssl_reads_ours);
  RUN(test_openssl_keys_import);
  RUN(test_files);
  RUN(test_sign_verify);
  RUN(test_raw);
  RUN(test_public_validation);
  RUN(test_import_negative);
  return test_done();
}
