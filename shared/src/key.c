/* key.c - EC P-256/P-384 keys on wolfCrypt: generation, import/export
 * (SEC1, PKCS#8, SPKI; DER and PEM), key files, raw coordinates and
 * JWS-style signatures.
 *
 * Key containers are parsed here with the bounded DER reader, not with
 * wolfSSL's decoders: that lets us check the algorithm and curve OIDs
 * ourselves, recompute the public point from the private scalar (and
 * compare it with the one in the file) and validate every public point
 * before a key object is handed out (public_point_check() for a public
 * key, wc_ecc_check_key() for a key pair). wolfSSL is used for the
 * arithmetic and for writing SPKI.
 */
#include "key_int.h"

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/sha512.h>

#include "cairn/buf.h"
#include "cairn/err.h"
#include "cairn/pem.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest coordinate (P-384) and uncompressed point (04 || x || y). */
#define COORD_MAX 48
#define POINT_MAX (1 + 2 * COORD_MAX)
/* Scratch size for one SEC1/PKCS#8/SPKI encoding of our curves (P-384
 * PKCS#8 is under 200 bytes). */
#define DER_SCRATCH 512

static const uint8_t OID_EC_PUBLIC_KEY[] = {0x2a, 0x86, 0x48, 0xce,
                                            0x3d, 0x02, 0x01};
static const uint8_t OID_P256[] = {0x2a, 0x86, 0x48, 0xce,
                                   0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};

/* The field primes p, big-endian (SEC 2 / FIPS 186-4 D.1.2.3, D.1.2.4). */
static const uint8_t P256_PRIME[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t P384_PRIME[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff};

/* DER tags used below. */
enum {
  T_INT = 0x02,
  T_BITSTR = 0x03,
  T_OCTSTR = 0x04,
  T_NULL = 0x05,
  T_OID = 0x06,
  T_SEQ = 0x30,
  T_CTX0 = 0xa0,
  T_CTX1 = 0xa1,
  T_CTX1_PRIM = 0x81
};

/* ---- internal helpers shared with csr.c, cert.c, jwt.c ---- */

int cairn__wolf_err(int ret, const char *what)
{
  return cairn_seterr(CAIRN_ERR_CRYPTO, "%s: wolfSSL %d (%s)", what, ret,
                      wc_GetErrorString(ret));
}

int cairn__rng_init(WC_RNG *rng)
{
  int ret = wc_InitRng(rng);
  if (ret != 0) return cairn__wolf_err(ret, "RNG init");
  return CAIRN_OK;
}

int cairn__key_curve_id(enum cairn_key_type t)
{
  switch (t) {
  case CAIRN_KEY_EC_P256: return ECC_SECP256R1;
  case CAIRN_KEY_EC_P384: return ECC_SECP384R1;
  }
  return ECC_CURVE_INVALID;
}

int cairn__key_type_from_curve(int curve_id, enum cairn_key_type *out)
{
  switch (curve_id) {
  case ECC_SECP256R1: *out = CAIRN_KEY_EC_P256; return CAIRN_OK;
  case ECC_SECP384R1: *out = CAIRN_KEY_EC_P384; return CAIRN_OK;
  default: break;
  }
  return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                      "EC curve %d is not supported (only P-256 and P-384)",
                      curve_id);
}

int cairn__key_alloc(enum cairn_key_type t, struct cairn_key **out)
{
  struct cairn_key *k;
  int ret;

  *out = NULL;
  if (cairn__key_curve_id(t) == ECC_CURVE_INVALID)
    return cairn_seterr(CAIRN_ERR_INVAL, "invalid key type %d", (int)t);
  k = calloc(1, sizeof *k);
  if (!k) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if ((ret = wc_ecc_init(&k->ecc)) != 0) {
    free(k);
    return cairn__wolf_err(ret, "ecc init");
  }
  k->type = t;
  *out = k;
  return CAIRN_OK;
}

/* ---- key types ---- */

int cairn_key_type_parse(const char *s, enum cairn_key_type *out)
{
  if (s && strcmp(s, "ec-p256") == 0) {
    *out = CAIRN_KEY_EC_P256;
    return CAIRN_OK;
  }
  if (s && strcmp(s, "ec-p384") == 0) {
    *out = CAIRN_KEY_EC_P384;
    return CAIRN_OK;
  }
  return cairn_seterr(CAIRN_ERR_INVAL,
                      "unknown key type '%s' (use ec-p256 or ec-p384)",
                      s ? s : "(null)");
}

const char *cairn_key_type_name(enum cairn_key_type t)
{
  switch (t) {
  case CAIRN_KEY_EC_P256: return "ec-p256";
  case CAIRN_KEY_EC_P384: return "ec-p384";
  }
  return "unknown";
}

const char *cairn_key_type_jws_alg(enum cairn_key_type t)
{
  switch (t) {
  case CAIRN_KEY_EC_P256: return "ES256";
  case CAIRN_KEY_EC_P384: return "ES384";
  }
  return NULL;
}

const char *cairn_key_type_jwk_crv(enum cairn_key_type t)
{
  switch (t) {
  case CAIRN_KEY_EC_P256: return "P-256";
  case CAIRN_KEY_EC_P384: return "P-384";
  }
  return NULL;
}

size_t cairn_key_type_coord_len(enum cairn_key_type t)
{
  switch (t) {
  case CAIRN_KEY_EC_P256: return 32;
  case CAIRN_KEY_EC_P384: return 48;
  }
  return 0;
}

/* ---- lifecycle ---- */

void cairn_key_free(struct cairn_key *k)
{
  if (!k) return;
  wc_ecc_free(&k->ecc);
  cairn_freezero(k, sizeof *k);
}

int cairn_key_generate(enum cairn_key_type type, struct cairn_key **out)
{
  struct cairn_key *k = NULL;
  WC_RNG rng;
  int rng_ok = 0, ret, r = CAIRN_ERR_INTERNAL;

  *out = NULL;
  if ((r = cairn__key_alloc(type, &k)) != CAIRN_OK) return r;
  if ((r = cairn__rng_init(&rng)) != CAIRN_OK) goto out;
  rng_ok = 1;
  ret = wc_ecc_make_key_ex(&rng, (int)cairn_key_type_coord_len(type), &k->ecc,
                           cairn__key_curve_id(type));
  if (ret != 0) {
    r = cairn__wolf_err(ret, "EC key generation");
    goto out;
  }
  k->has_private = 1;
  *out = k;
  k = NULL; /* transferred */
  r = CAIRN_OK;
out:
  if (rng_ok) wc_FreeRng(&rng);
  cairn_key_free(k);
  return r;
}

enum cairn_key_type cairn_key_get_type(const struct cairn_key *k)
{
  return k->type;
}

int cairn_key_has_private(const struct cairn_key *k)
{
  return k && k->has_private;
}

/* Uncompressed public point 04 || x || y into pt (POINT_MAX bytes). */
static int export_point(const struct cairn_key *k, uint8_t *pt, size_t *len)
{
  word32 n = POINT_MAX;
  int ret = wc_ecc_export_x963(cairn__key_ecc(k), pt, &n);
  if (ret != 0) return cairn__wolf_err(ret, "EC public point export");
  if (n != 1 + 2 * cairn_key_type_coord_len(k->type))
    return cairn_seterr(CAIRN_ERR_INTERNAL, "EC point has unexpected size %u",
                        (unsigned)n);
  *len = n;
  return CAIRN_OK;
}

int cairn_key_public_equal(const struct cairn_key *a,
                           const struct cairn_key *b)
{
  uint8_t pa[POINT_MAX], pb[POINT_MAX];
  size_t la, lb;

  if (!a || !b || a->type != b->type) return 0;
  if (export_point(a, pa, &la) != CAIRN_OK) return 0;
  if (export_point(b, pb, &lb) != CAIRN_OK) return 0;
  return la == lb && memcmp(pa, pb, la) == 0;
}

/* Public-only keys are validated by point_range_check() (on the encoding,
 * before wolfSSL sees it) and public_point_check() (after the import),
 * not by wc_ecc_check_key(), which for a public key also computes n*Q.
 * With Debian's wolfSSL (built with FP_ECC) that multiplication adds Q to
 * the per-thread fixed-point cache, allocating a ~0.8 MiB table (up to 15
 * per thread) and, with the first signature check, filling it: for every
 * new key parsed from a certificate, CSR or JWK, used or not.
 *
 * The checks are NIST SP 800-56A rev. 3 full public-key validation
 * (5.6.2.3.3) minus its last step:
 *   (1) x and y are integers in [0, p-1]. Checked on the encoded bytes:
 *       wolfSSL's import keeps an x >= p unreduced, and for a compressed
 *       x >= p computes the y of x mod p. Then the point wolfSSL stored
 *       must be the one we checked (and a computed y below p too);
 *   (2) Q is not the point at infinity (wolfSSL's affine (0, 0));
 *   (3) Q is on the curve: y^2 = x^3 - 3x + b (mod p).
 * The omitted step, n*Q = O, is implied for P-256 and P-384: both have
 * cofactor 1, so the curve's points form a group of prime order n, and by
 * Lagrange the order of any point divides n, i.e. is 1 (only O) or n. A
 * point passing (1)-(3) is thus in the prime-order group: exactly what
 * wc_ecc_check_key establishes for a public key. Keys with a scalar still
 * go through wc_ecc_check_key (scalar range, pub == d*G). */

/* (1) on the encoding pub (04 || x || y or 02/03 || x, length checked by
 * key_build). Fixed-width big-endian: memcmp orders them as integers. */
static int point_range_check(enum cairn_key_type type, const uint8_t *pub)
{
  size_t c = cairn_key_type_coord_len(type);
  const uint8_t *prime = type == CAIRN_KEY_EC_P256 ? P256_PRIME : P384_PRIME;

  if (memcmp(pub + 1, prime, c) >= 0)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "invalid %s public key: x coordinate is out of "
                        "range (not below the field prime p)",
                        cairn_key_type_jwk_crv(type));
  if (pub[0] == 0x04 && memcmp(pub + 1 + c, prime, c) >= 0)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "invalid %s public key: y coordinate is out of "
                        "range (not below the field prime p)",
                        cairn_key_type_jwk_crv(type));
  return CAIRN_OK;
}

/* The rest of (1), (2) and (3) on k, just imported from pub. */
static int public_point_check(const struct cairn_key *k, const uint8_t *pub)
{
  size_t c = cairn_key_type_coord_len(k->type), plen = 0;
  const uint8_t *prime =
      k->type == CAIRN_KEY_EC_P256 ? P256_PRIME : P384_PRIME;
  const char *crv = cairn_key_type_jwk_crv(k->type);
  uint8_t pt[POINT_MAX];
  int ret, r, zero = 1;

  if ((r = export_point(k, pt, &plen)) != CAIRN_OK) return r;
  if (memcmp(pt + 1, pub + 1, c) != 0 ||
      (pub[0] == 0x04 ? memcmp(pt + 1 + c, pub + 1 + c, c) != 0
                      : memcmp(pt + 1 + c, prime, c) >= 0 ||
                            (pt[2 * c] & 1) != (pub[0] & 1)))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "invalid %s public key: the decoded point differs "
                        "from its encoding",
                        crv);
  /* (2) */
  for (size_t i = 1; i < plen; i++)
    if (pt[i]) zero = 0;
  if (zero)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "invalid %s public key: the point at infinity",
                        crv);
  /* (3) Field arithmetic only: no scalar multiplication, no cache. */
  ret = wc_ecc_point_is_on_curve(&cairn__key_ecc(k)->pubkey, k->ecc.idx);
  if (ret == MEMORY_E) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if (ret != 0)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "invalid %s public key: point is not on the curve "
                        "(wolfSSL %d)",
                        crv, ret);
  return CAIRN_OK;
}

/* Builds a key from a private scalar and/or a public point (X9.63
 * encoding, uncompressed or compressed). With a scalar, the public point
 * is computed from it and, when pub is also given, must match; the pair
 * is then validated with wc_ecc_check_key (point on the curve, scalar in
 * range). A public-only key is validated by point_range_check() and
 * public_point_check(). Failures here are CAIRN_ERR_PARSE: the input was
 * a bad key. */
static int key_build(enum cairn_key_type type, const uint8_t *priv,
                     size_t privlen, const uint8_t *pub, size_t publen,
                     struct cairn_key **out)
{
  struct cairn_key *k = NULL;
  size_t c = cairn_key_type_coord_len(type), plen;
  int curve = cairn__key_curve_id(type), ret, r, rng_ok = 0;
  uint8_t pt[POINT_MAX];
  WC_RNG rng;

  *out = NULL;
  if (!priv && !pub)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "EC key has neither a private nor a public part");
  if (pub && !(publen == 1 + 2 * c && pub[0] == 0x04) &&
      !(publen == 1 + c && (pub[0] == 0x02 || pub[0] == 0x03)))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "EC public point has a bad encoding for %s",
                        cairn_key_type_jwk_crv(type));
  if (priv && (privlen == 0 || privlen > c))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "EC private key has a bad length (%zu bytes)",
                        privlen);
  if ((r = cairn__key_alloc(type, &k)) != CAIRN_OK) return r;
  r = CAIRN_ERR_INTERNAL;
  if (priv) {
    ret = wc_ecc_import_private_key_ex(priv, (word32)privlen, NULL, 0,
                                       &k->ecc, curve);
    if (ret != 0) {
      r = cairn_seterr(CAIRN_ERR_PARSE, "EC private key rejected: wolfSSL %d",
                       ret);
      goto out;
    }
    if ((r = cairn__rng_init(&rng)) != CAIRN_OK) goto out;
    rng_ok = 1;
    ret = wc_ecc_make_pub_ex(&k->ecc, NULL, &rng);
    if (ret != 0) {
      r = cairn_seterr(CAIRN_ERR_PARSE,
                       "EC private key is invalid (cannot derive the "
                       "public point): wolfSSL %d",
                       ret);
      goto out;
    }
    k->has_private = 1;
    if (pub) {
      int same;
      if ((r = export_point(k, pt, &plen)) != CAIRN_OK) goto out;
      if (pub[0] == 0x04)
        same = memcmp(pub, pt, plen) == 0;
      else
        same = memcmp(pub + 1, pt + 1, c) == 0 &&
               (pt[plen - 1] & 1) == (pub[0] & 1);
      if (!same) {
        r = cairn_seterr(CAIRN_ERR_PARSE,
                         "EC public key does not match the private key");
        goto out;
      }
    }
  } else {
    if ((r = point_range_check(type, pub)) != CAIRN_OK) goto out;
    ret = wc_ecc_import_x963_ex(pub, (word32)publen, &k->ecc, curve);
    if (ret != 0) {
      r = cairn_seterr(CAIRN_ERR_PARSE, "EC public point rejected: wolfSSL %d",
                       ret);
      goto out;
    }
  }
  if (!k->has_private) {
    if ((r = public_point_check(k, pub)) != CAIRN_OK) goto out;
  } else if ((ret = wc_ecc_check_key(&k->ecc)) != 0) {
    r = cairn_seterr(CAIRN_ERR_PARSE,
                     "invalid %s key (point not on the curve or scalar out "
                     "of range): wolfSSL %d",
                     cairn_key_type_jwk_crv(type), ret);
    goto out;
  }
  *out = k;
  k = NULL; /* transferred */
  r = CAIRN_OK;
out:
  if (rng_ok) wc_FreeRng(&rng);
  cairn_memzero(pt, sizeof pt);
  cairn_key_free(k);
  return r;
}

int cairn_key_dup(const struct cairn_key *k, struct cairn_key **out)
{
  uint8_t pt[POINT_MAX], priv[COORD_MAX];
  word32 privlen = sizeof priv;
  size_t plen;
  int ret, r;

  *out = NULL;
  if (!k) return cairn_seterr(CAIRN_ERR_INVAL, "no key");
  if ((r = export_point(k, pt, &plen)) != CAIRN_OK) return r;
  if (!k->has_private) return key_build(k->type, NULL, 0, pt, plen, out);
  ret = wc_ecc_export_private_only(cairn__key_ecc(k), priv, &privlen);
  if (ret != 0) {
    r = cairn__wolf_err(ret, "EC private key export");
  } else {
    r = key_build(k->type, priv, privlen, pt, plen, out);
  }
  cairn_memzero(priv, sizeof priv);
  return r;
}

int cairn_key_public(const struct cairn_key *k, struct cairn_key **out)
{
  uint8_t pt[POINT_MAX];
  size_t plen;
  int r;

  *out = NULL;
  if (!k) return cairn_seterr(CAIRN_ERR_INVAL, "no key");
  if ((r = export_point(k, pt, &plen)) != CAIRN_OK) return r;
  return key_build(k->type, NULL, 0, pt, plen, out);
}

/* ---- DER parsing (bounded reader) ---- */

/* Maps a namedCurve OID to our type. */
static int curve_from_oid(const uint8_t *oid, size_t len,
                          enum cairn_key_type *t)
{
  if (len == sizeof OID_P256 && memcmp(oid, OID_P256, len) == 0) {
    *t = CAIRN_KEY_EC_P256;
    return CAIRN_OK;
  }
  if (len == sizeof OID_P384 && memcmp(oid, OID_P384, len) == 0) {
    *t = CAIRN_KEY_EC_P384;
    return CAIRN_OK;
  }
  return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                      "EC curve is not supported (only P-256 and P-384)");
}

/* Reads the ECParameters of SEC1 / the AlgorithmIdentifier parameters:
 * only namedCurve OIDs are accepted. */
static int read_curve(struct cairn_rd *r, enum cairn_key_type *t)
{
  uint8_t tag;
  const uint8_t *v;
  size_t n;
  int rc;

  if ((rc = cairn_rd_der(r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag != T_OID)
    return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                        "EC keys with explicit curve parameters are not "
                        "supported (use a named curve)");
  return curve_from_oid(v, n, t);
}

/* AlgorithmIdentifier { id-ecPublicKey, namedCurve }. */
static int read_algid(const uint8_t *p, size_t len, enum cairn_key_type *t)
{
  struct cairn_rd r;
  uint8_t tag;
  const uint8_t *v;
  size_t n;
  int rc;

  cairn_rd_init(&r, p, len);
  if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag != T_OID)
    return cairn_seterr(CAIRN_ERR_PARSE, "key algorithm is not an OID");
  if (n != sizeof OID_EC_PUBLIC_KEY || memcmp(v, OID_EC_PUBLIC_KEY, n) != 0)
    return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                        "key algorithm is not EC (only EC P-256 and P-384 "
                        "keys are supported)");
  if ((rc = read_curve(&r, t)) != CAIRN_OK) return rc;
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "trailing bytes in key algorithm");
  return CAIRN_OK;
}

/* BIT STRING content with zero unused bits -> point bytes. */
static int bitstr_point(const uint8_t *v, size_t n, const uint8_t **pt,
                        size_t *ptlen)
{
  if (n < 2 || v[0] != 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "bad EC public key BIT STRING");
  *pt = v + 1;
  *ptlen = n - 1;
  return CAIRN_OK;
}

/* The parts of a key found in a container. */
struct key_parts {
  int have_type;
  enum cairn_key_type type;
  const uint8_t *priv, *pub;
  size_t privlen, publen;
};

/* Reads the ONE TLV that must make up the whole input and checks its
 * tag. */
static int read_whole(const uint8_t *der, size_t len, uint8_t want,
                      const uint8_t **v, size_t *n, const char *what)
{
  struct cairn_rd r;
  uint8_t tag;
  int rc;

  cairn_rd_init(&r, der, len);
  if ((rc = cairn_rd_der(&r, &tag, v, n)) != CAIRN_OK) return rc;
  if (tag != want)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s: unexpected DER tag 0x%02x",
                        what, tag);
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "%s: trailing bytes", what);
  return CAIRN_OK;
}

/* SEC1 ECPrivateKey (RFC 5915): SEQUENCE { version 1, privateKey OCTET
 * STRING, [0] parameters OPTIONAL, [1] publicKey OPTIONAL }. When kp
 * already has a type (from PKCS#8), parameters, if present, must agree. */
static int parse_sec1(const uint8_t *der, size_t len, struct key_parts *kp)
{
  struct cairn_rd r, in;
  uint8_t tag;
  const uint8_t *v, *seq;
  size_t n, seqlen;
  int rc;

  if ((rc = read_whole(der, len, T_SEQ, &seq, &seqlen, "EC private key")))
    return rc;
  cairn_rd_init(&r, seq, seqlen);
  if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag != T_INT || n != 1 || v[0] != 1)
    return cairn_seterr(CAIRN_ERR_PARSE, "EC private key: bad version");
  if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag != T_OCTSTR)
    return cairn_seterr(CAIRN_ERR_PARSE, "EC private key: bad privateKey");
  kp->priv = v;
  kp->privlen = n;
  if (cairn_rd_left(&r) && cairn_rd_peek_u8(&r, &tag) == CAIRN_OK &&
      tag == T_CTX0) {
    enum cairn_key_type t;
    if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
    cairn_rd_init(&in, v, n);
    if ((rc = read_curve(&in, &t)) != CAIRN_OK) return rc;
    if (cairn_rd_left(&in))
      return cairn_seterr(CAIRN_ERR_PARSE, "EC private key: bad parameters");
    if (kp->have_type && kp->type != t)
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "EC private key: curve differs from the PKCS#8 "
                          "algorithm");
    kp->have_type = 1;
    kp->type = t;
  }
  if (cairn_rd_left(&r) && cairn_rd_peek_u8(&r, &tag) == CAIRN_OK &&
      tag == T_CTX1) {
    if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
    cairn_rd_init(&in, v, n);
    if ((rc = cairn_rd_der(&in, &tag, &v, &n)) != CAIRN_OK) return rc;
    if (tag != T_BITSTR || cairn_rd_left(&in))
      return cairn_seterr(CAIRN_ERR_PARSE, "EC private key: bad publicKey");
    if ((rc = bitstr_point(v, n, &kp->pub, &kp->publen)) != CAIRN_OK)
      return rc;
  }
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "EC private key: trailing fields");
  if (!kp->have_type)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "EC private key does not name its curve");
  return CAIRN_OK;
}

/* PKCS#8 PrivateKeyInfo / OneAsymmetricKey (RFC 5958), unencrypted:
 * SEQUENCE { version 0|1, AlgorithmIdentifier, OCTET STRING { SEC1 },
 * [0] attributes OPTIONAL, [1] publicKey OPTIONAL }. */
static int parse_pkcs8(const uint8_t *der, size_t len, struct key_parts *kp)
{
  struct cairn_rd r;
  uint8_t tag;
  const uint8_t *v, *seq, *inner;
  size_t n, seqlen, innerlen;
  int rc;

  if ((rc = read_whole(der, len, T_SEQ, &seq, &seqlen, "PKCS#8 key")))
    return rc;
  cairn_rd_init(&r, seq, seqlen);
  if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag != T_INT || n != 1 || v[0] > 1)
    return cairn_seterr(CAIRN_ERR_PARSE, "PKCS#8 key: bad version");
  if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag != T_SEQ)
    return cairn_seterr(CAIRN_ERR_PARSE, "PKCS#8 key: bad algorithm");
  if ((rc = read_algid(v, n, &kp->type)) != CAIRN_OK) return rc;
  kp->have_type = 1;
  if ((rc = cairn_rd_der(&r, &tag, &inner, &innerlen)) != CAIRN_OK) return rc;
  if (tag != T_OCTSTR)
    return cairn_seterr(CAIRN_ERR_PARSE, "PKCS#8 key: bad privateKey");
  /* Attributes and the v2 public key are allowed and ignored: the public
   * point is recomputed from the scalar. */
  while (cairn_rd_left(&r)) {
    if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
    if (tag != T_CTX0 && tag != T_CTX1_PRIM)
      return cairn_seterr(CAIRN_ERR_PARSE, "PKCS#8 key: trailing fields");
  }
  return parse_sec1(inner, innerlen, kp);
}

/* SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING }. */
static int parse_spki(const uint8_t *der, size_t len, struct key_parts *kp)
{
  struct cairn_rd r;
  uint8_t tag;
  const uint8_t *v, *seq;
  size_t n, seqlen;
  int rc;

  if ((rc = read_whole(der, len, T_SEQ, &seq, &seqlen, "public key")))
    return rc;
  cairn_rd_init(&r, seq, seqlen);
  if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag != T_SEQ)
    return cairn_seterr(CAIRN_ERR_PARSE, "public key: bad algorithm");
  if ((rc = read_algid(v, n, &kp->type)) != CAIRN_OK) return rc;
  kp->have_type = 1;
  if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag != T_BITSTR || cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "public key: bad subjectPublicKey");
  return bitstr_point(v, n, &kp->pub, &kp->publen);
}

enum key_fmt { FMT_DETECT, FMT_SEC1, FMT_PKCS8, FMT_SPKI };

/* Tells SEC1, PKCS#8 and SPKI apart by the first two fields. */
static int detect_format(const uint8_t *der, size_t len, enum key_fmt *fmt)
{
  struct cairn_rd r;
  uint8_t tag;
  const uint8_t *v;
  size_t n;
  int rc;

  if ((rc = read_whole(der, len, T_SEQ, &v, &n, "key")) != CAIRN_OK)
    return rc;
  cairn_rd_init(&r, v, n);
  if ((rc = cairn_rd_der(&r, &tag, &v, &n)) != CAIRN_OK) return rc;
  if (tag == T_SEQ) {
    *fmt = FMT_SPKI;
    return CAIRN_OK;
  }
  if (tag == T_INT && cairn_rd_peek_u8(&r, &tag) == CAIRN_OK) {
    if (tag == T_OCTSTR) {
      *fmt = FMT_SEC1;
      return CAIRN_OK;
    }
    if (tag == T_SEQ) {
      *fmt = FMT_PKCS8;
      return CAIRN_OK;
    }
    if (tag == T_INT)
      return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                          "DER looks like an RSA or DSA key: only EC P-256 "
                          "and P-384 keys are supported");
  }
  return cairn_seterr(CAIRN_ERR_PARSE,
                      "DER is not an EC private key (SEC1, PKCS#8) or a "
                      "public key (SPKI)");
}

static int import_der_fmt(const uint8_t *der, size_t len, enum key_fmt fmt,
                          struct cairn_key **out)
{
  struct key_parts kp;
  int rc;

  *out = NULL;
  memset(&kp, 0, sizeof kp);
  if (len > CAIRN_KEY_DER_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "key DER larger than %d bytes",
                        CAIRN_KEY_DER_MAX);
  if (fmt == FMT_DETECT && (rc = detect_format(der, len, &fmt)) != CAIRN_OK)
    return rc;
  switch (fmt) {
  case FMT_SEC1: rc = parse_sec1(der, len, &kp); break;
  case FMT_PKCS8: rc = parse_pkcs8(der, len, &kp); break;
  default: rc = parse_spki(der, len, &kp); break;
  }
  if (rc != CAIRN_OK) return rc;
  return key_build(kp.type, kp.priv, kp.privlen, kp.pub, kp.publen, out);
}

int cairn_key_import_der(const uint8_t *der, size_t len,
                         struct cairn_key **out)
{
  *out = NULL;
  if (!der) return cairn_seterr(CAIRN_ERR_INVAL, "no key DER");
  return import_der_fmt(der, len, FMT_DETECT, out);
}

int cairn_key_import_pem(const char *pem, size_t len, struct cairn_key **out)
{
  char label[CAIRN_PEM_LABEL_MAX];
  uint8_t *der = NULL;
  size_t derlen = 0, off = 0;
  enum key_fmt fmt;
  int r;

  *out = NULL;
  if (!pem) return cairn_seterr(CAIRN_ERR_INVAL, "no key PEM");
  if (len > CAIRN_KEY_PEM_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "key PEM larger than %d bytes",
                        CAIRN_KEY_PEM_MAX);
  for (;;) {
    r = cairn_pem_next(pem, len, &off, label, &der, &derlen,
                       CAIRN_KEY_DER_MAX);
    if (r == CAIRN_ERR_NOT_FOUND)
      return cairn_seterr(CAIRN_ERR_PARSE, "no key PEM block found");
    if (r != CAIRN_OK) return r;
    /* "openssl ecparam -genkey" writes the curve before the key. */
    if (strcmp(label, "EC PARAMETERS") != 0) break;
    cairn_freezero(der, derlen);
    der = NULL;
  }
  if (strcmp(label, "EC PRIVATE KEY") == 0) {
    fmt = FMT_SEC1;
  } else if (strcmp(label, "PRIVATE KEY") == 0) {
    fmt = FMT_PKCS8;
  } else if (strcmp(label, "PUBLIC KEY") == 0) {
    fmt = FMT_SPKI;
  } else {
    r = cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                     "PEM block '%s' is not a supported key (EC PRIVATE "
                     "KEY, PRIVATE KEY or PUBLIC KEY)",
                     label);
    goto out;
  }
  r = import_der_fmt(der, derlen, fmt, out);
out:
  cairn_freezero(der, derlen);
  cairn_memzero(label, sizeof label);
  return r;
}

/* ---- export ---- */

/* Copies n bytes into a new heap buffer (plus a NUL byte). */
static int dup_bytes(const uint8_t *p, size_t n, uint8_t **out)
{
  *out = malloc(n + 1);
  if (!*out) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  memcpy(*out, p, n);
  (*out)[n] = 0;
  return CAIRN_OK;
}

/* Writes a DER header (tag, length < 65536) at p; returns its size. */
static size_t der_hdr(uint8_t *p, uint8_t tag, size_t len)
{
  p[0] = tag;
  if (len < 0x80) {
    p[1] = (uint8_t)len;
    return 2;
  }
  if (len < 0x100) {
    p[1] = 0x81;
    p[2] = (uint8_t)len;
    return 3;
  }
  p[1] = 0x82;
  p[2] = (uint8_t)(len >> 8);
  p[3] = (uint8_t)len;
  return 4;
}

/* SEC1 ECPrivateKey (RFC 5915) with parameters and public key, into buf
 * (DER_SCRATCH bytes). Encoded here rather than with wc_EccKeyToDer so
 * that every copy of the scalar is in a buffer we zeroise. */
static int sec1_der(const struct cairn_key *k, uint8_t *buf, size_t *len)
{
  uint8_t d[COORD_MAX], pt[POINT_MAX];
  word32 dl = sizeof d;
  size_t c, plen = 0, oidlen, body, o;
  const uint8_t *oid;
  int ret, r;

  if (!k) return cairn_seterr(CAIRN_ERR_INVAL, "no key");
  if (!k->has_private)
    return cairn_seterr(CAIRN_ERR_INVAL, "key has no private part");
  c = cairn_key_type_coord_len(k->type);
  ret = wc_ecc_export_private_only(cairn__key_ecc(k), d, &dl);
  if (ret != 0 || dl == 0 || dl > c) {
    r = cairn__wolf_err(ret, "EC private key export");
    goto out;
  }
  if (dl < c) { /* left-pad to the field size, as RFC 5915 asks */
    memmove(d + (c - dl), d, dl);
    memset(d, 0, c - dl);
  }
  if ((r = export_point(k, pt, &plen)) != CAIRN_OK) goto out;
  if (k->type == CAIRN_KEY_EC_P256) {
    oid = OID_P256;
    oidlen = sizeof OID_P256;
  } else {
    oid = OID_P384;
    oidlen = sizeof OID_P384;
  }
  /* version + privateKey + [0] { OID } + [1] { BIT STRING { 00 point } }:
   * every part is shorter than 128 bytes. */
  body = 3 + (2 + c) + (2 + 2 + oidlen) + (2 + 2 + 1 + plen);
  o = der_hdr(buf, T_SEQ, body);
  buf[o++] = T_INT;
  buf[o++] = 1;
  buf[o++] = 1;
  o += der_hdr(buf + o, T_OCTSTR, c);
  memcpy(buf + o, d, c);
  o += c;
  o += der_hdr(buf + o, T_CTX0, 2 + oidlen);
  o += der_hdr(buf + o, T_OID, oidlen);
  memcpy(buf + o, oid, oidlen);
  o += oidlen;
  o += der_hdr(buf + o, T_CTX1, 2 + 1 + plen);
  o += der_hdr(buf + o, T_BITSTR, 1 + plen);
  buf[o++] = 0;
  memcpy(buf + o, pt, plen);
  o += plen;
  *len = o;
  r = CAIRN_OK;
out:
  cairn_memzero(d, sizeof d);
  return r;
}

/* PKCS#8 v1 wrapping of the SEC1 encoding into buf (DER_SCRATCH bytes). */
static int pkcs8_der(const struct cairn_key *k, uint8_t *buf, size_t *len)
{
  uint8_t sec1[DER_SCRATCH], alg[32], hdr[4];
  size_t sec1len = 0, alglen, body, o = 0, h;
  const uint8_t *curve;
  size_t curvelen;
  int r;

  if ((r = sec1_der(k, sec1, &sec1len)) != CAIRN_OK) goto out;
  if (k->type == CAIRN_KEY_EC_P256) {
    curve = OID_P256;
    curvelen = sizeof OID_P256;
  } else {
    curve = OID_P384;
    curvelen = sizeof OID_P384;
  }
  alglen = der_hdr(alg, T_OID, sizeof OID_EC_PUBLIC_KEY);
  memcpy(alg + alglen, OID_EC_PUBLIC_KEY, sizeof OID_EC_PUBLIC_KEY);
  alglen += sizeof OID_EC_PUBLIC_KEY;
  alglen += der_hdr(alg + alglen, T_OID, curvelen);
  memcpy(alg + alglen, curve, curvelen);
  alglen += curvelen;
  /* version (3) + algorithm SEQUENCE + OCTET STRING { sec1 } */
  body = 3 + der_hdr(hdr, T_SEQ, alglen) + alglen +
         der_hdr(hdr, T_OCTSTR, sec1len) + sec1len;
  h = der_hdr(hdr, T_SEQ, body);
  if (h + body > DER_SCRATCH) {
    r = cairn_seterr(CAIRN_ERR_INTERNAL, "PKCS#8 encoding too large");
    goto out;
  }
  o = der_hdr(buf, T_SEQ, body);
  buf[o++] = T_INT;
  buf[o++] = 1;
  buf[o++] = 0;
  o += der_hdr(buf + o, T_SEQ, alglen);
  memcpy(buf + o, alg, alglen);
  o += alglen;
  o += der_hdr(buf + o, T_OCTSTR, sec1len);
  memcpy(buf + o, sec1, sec1len);
  o += sec1len;
  *len = o;
  r = CAIRN_OK;
out:
  cairn_memzero(sec1, sizeof sec1);
  return r;
}

static int spki_der(const struct cairn_key *k, uint8_t *buf, size_t *len)
{
  int ret;

  if (!k) return cairn_seterr(CAIRN_ERR_INVAL, "no key");
  ret = wc_EccPublicKeyToDer(cairn__key_ecc(k), buf, DER_SCRATCH, 1);
  if (ret <= 0) return cairn__wolf_err(ret, "EC public key encoding");
  *len = (size_t)ret;
  return CAIRN_OK;
}

/* PEM-encodes der under label into a new NUL-terminated string. The
 * caller zeroises der; *pem is zeroised by the caller when private. */
static int to_pem(const char *label, const uint8_t *der, size_t derlen,
                  char **pem, size_t *len)
{
  char *p = NULL;
  size_t plen = 0;
  int r = cairn_pem_append(label, der, derlen, &p, &plen);
  if (r != CAIRN_OK) return r;
  *pem = p;
  *len = plen;
  return CAIRN_OK;
}

int cairn_key_export_private_der(const struct cairn_key *k, uint8_t **der,
                                 size_t *len)
{
  uint8_t buf[DER_SCRATCH];
  size_t n = 0;
  int r;

  *der = NULL;
  *len = 0;
  if ((r = sec1_der(k, buf, &n)) == CAIRN_OK &&
      (r = dup_bytes(buf, n, der)) == CAIRN_OK)
    *len = n;
  cairn_memzero(buf, sizeof buf);
  return r;
}

int cairn_key_export_private_pem(const struct cairn_key *k, char **pem,
                                 size_t *len)
{
  uint8_t buf[DER_SCRATCH];
  size_t n = 0;
  int r;

  *pem = NULL;
  *len = 0;
  if ((r = sec1_der(k, buf, &n)) == CAIRN_OK)
    r = to_pem("EC PRIVATE KEY", buf, n, pem, len);
  cairn_memzero(buf, sizeof buf);
  return r;
}

int cairn_key_export_pkcs8_der(const struct cairn_key *k, uint8_t **der,
                               size_t *len)
{
  uint8_t buf[DER_SCRATCH];
  size_t n = 0;
  int r;

  *der = NULL;
  *len = 0;
  if ((r = pkcs8_der(k, buf, &n)) == CAIRN_OK &&
      (r = dup_bytes(buf, n, der)) == CAIRN_OK)
    *len = n;
  cairn_memzero(buf, sizeof buf);
  return r;
}

int cairn_key_export_pkcs8_pem(const struct cairn_key *k, char **pem,
                               size_t *len)
{
  uint8_t buf[DER_SCRATCH];
  size_t n = 0;
  int r;

  *pem = NULL;
  *len = 0;
  if ((r = pkcs8_der(k, buf, &n)) == CAIRN_OK)
    r = to_pem("PRIVATE KEY", buf, n, pem, len);
  cairn_memzero(buf, sizeof buf);
  return r;
}

int cairn_key_export_public_der(const struct cairn_key *k, uint8_t **der,
                                size_t *len)
{
  uint8_t buf[DER_SCRATCH];
  size_t n = 0;
  int r;

  *der = NULL;
  *len = 0;
  if ((r = spki_der(k, buf, &n)) == CAIRN_OK &&
      (r = dup_bytes(buf, n, der)) == CAIRN_OK)
    *len = n;
  return r;
}

int cairn_key_export_public_pem(const struct cairn_key *k, char **pem,
                                size_t *len)
{
  uint8_t buf[DER_SCRATCH];
  size_t n = 0;
  int r;

  *pem = NULL;
  *len = 0;
  if ((r = spki_der(k, buf, &n)) == CAIRN_OK)
    r = to_pem("PUBLIC KEY", buf, n, pem, len);
  return r;
}

/* ---- files ---- */

int cairn_key_save(const struct cairn_key *k, const char *path)
{
  char *pem = NULL;
  size_t len = 0;
  int r;

  if (!path) return cairn_seterr(CAIRN_ERR_INVAL, "no key path");
  if ((r = cairn_key_export_private_pem(k, &pem, &len)) != CAIRN_OK)
    return r;
  r = cairn_file_write_atomic(path, pem, len, 0600);
  cairn_freezero(pem, len);
  return r;
}

int cairn_key_load(const char *path, struct cairn_key **out)
{
  uint8_t *data = NULL;
  size_t len = 0;
  int r;

  *out = NULL;
  if (!path) return cairn_seterr(CAIRN_ERR_INVAL, "no key path");
  r = cairn_file_read_private(path, CAIRN_KEY_PEM_MAX, &data, &len);
  if (r != CAIRN_OK) return r;
  r = cairn_key_import_pem((const char *)data, len, out);
  if (r != CAIRN_OK) {
    /* Keep the parser's reason but say which file it was. */
    char detail[512];
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    r = cairn_seterr(r, "%s: %s", path, detail);
  } else if (!(*out)->has_private) {
    cairn_key_free(*out);
    *out = NULL;
    r = cairn_seterr(CAIRN_ERR_PARSE, "%s: holds a public key, not a private "
                                      "key", path);
  }
  cairn_freezero(data, len);
  return r;
}

/* ---- raw coordinates ---- */

int cairn_key_public_raw(const struct cairn_key *k, uint8_t *x, uint8_t *y,
                         size_t coord_len)
{
  uint8_t pt[POINT_MAX];
  size_t plen;
  int r;

  if (!k || !x || !y) return cairn_seterr(CAIRN_ERR_INVAL, "no key");
  if (coord_len != cairn_key_type_coord_len(k->type))
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "coordinate length %zu does not match %s", coord_len,
                        cairn_key_type_jwk_crv(k->type));
  if ((r = export_point(k, pt, &plen)) != CAIRN_OK) return r;
  memcpy(x, pt + 1, coord_len);
  memcpy(y, pt + 1 + coord_len, coord_len);
  return CAIRN_OK;
}

int cairn_key_from_public_raw(enum cairn_key_type type, const uint8_t *x,
                              const uint8_t *y, size_t coord_len,
                              struct cairn_key **out)
{
  uint8_t pt[POINT_MAX];

  *out = NULL;
  if (cairn__key_curve_id(type) == ECC_CURVE_INVALID || !x || !y)
    return cairn_seterr(CAIRN_ERR_INVAL, "invalid key type or coordinates");
  if (coord_len != cairn_key_type_coord_len(type))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "coordinate length %zu does not match %s", coord_len,
                        cairn_key_type_jwk_crv(type));
  pt[0] = 0x04;
  memcpy(pt + 1, x, coord_len);
  memcpy(pt + 1 + coord_len, y, coord_len);
  return key_build(type, NULL, 0, pt, 1 + 2 * coord_len, out);
}

/* ---- signatures ---- */

/* SHA-256 (P-256) or SHA-384 (P-384) of msg into h. */
static int jws_hash(enum cairn_key_type t, const void *msg, size_t len,
                    uint8_t h[WC_SHA384_DIGEST_SIZE], word32 *hlen)
{
  int ret;

  if (len > 0xffffffffu)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "message too large to sign");
  if (t == CAIRN_KEY_EC_P256) {
    ret = wc_Sha256Hash(msg, (word32)len, h);
    *hlen = WC_SHA256_DIGEST_SIZE;
  } else {
    ret = wc_Sha384Hash(msg, (word32)len, h);
    *hlen = WC_SHA384_DIGEST_SIZE;
  }
  if (ret != 0) return cairn__wolf_err(ret, "hash");
  return CAIRN_OK;
}

int cairn_key_sign(const struct cairn_key *k, const void *msg, size_t len,
                   uint8_t *sig, size_t *siglen)
{
  uint8_t h[WC_SHA384_DIGEST_SIZE], der[DER_SCRATCH];
  uint8_t rr[COORD_MAX], ss[COORD_MAX];
  word32 hlen = 0, derlen = sizeof der, rl = sizeof rr, sl = sizeof ss;
  size_t c;
  WC_RNG rng;
  int ret, r, rng_ok = 0;

  if (!k || (!msg && len) || !sig || !siglen)
    return cairn_seterr(CAIRN_ERR_INVAL, "bad sign arguments");
  if (!k->has_private)
    return cairn_seterr(CAIRN_ERR_INVAL, "key has no private part");
  c = cairn_key_type_coord_len(k->type);
  if (*siglen < 2 * c)
    return cairn_seterr(CAIRN_ERR_INVAL, "signature buffer too small (%zu < "
                        "%zu)", *siglen, 2 * c);
  if ((r = jws_hash(k->type, msg ? msg : "", len, h, &hlen)) != CAIRN_OK)
    goto out;
  if ((r = cairn__rng_init(&rng)) != CAIRN_OK) goto out;
  rng_ok = 1;
  ret = wc_ecc_sign_hash(h, hlen, der, &derlen, &rng, cairn__key_ecc(k));
  if (ret != 0) {
    r = cairn__wolf_err(ret, "ECDSA sign");
    goto out;
  }
  ret = wc_ecc_sig_to_rs(der, derlen, rr, &rl, ss, &sl);
  if (ret != 0 || rl > c || sl > c) {
    r = cairn__wolf_err(ret, "ECDSA signature conversion");
    goto out;
  }
  /* r and s come back minimal-length; JWS needs both left-padded. */
  memset(sig, 0, 2 * c);
  memcpy(sig + c - rl, rr, rl);
  memcpy(sig + 2 * c - sl, ss, sl);
  *siglen = 2 * c;
  r = CAIRN_OK;
out:
  if (rng_ok) wc_FreeRng(&rng);
  cairn_memzero(h, sizeof h);
  return r;
}

int cairn_key_verify(const struct cairn_key *k, const void *msg, size_t len,
                     const uint8_t *sig, size_t siglen)
{
  uint8_t h[WC_SHA384_DIGEST_SIZE], der[DER_SCRATCH];
  word32 hlen = 0, derlen = sizeof der;
  size_t c;
  int ret, r, ok = 0, rz = 1, sz = 1;

  if (!k || (!msg && len) || !sig)
    return cairn_seterr(CAIRN_ERR_INVAL, "bad verify arguments");
  c = cairn_key_type_coord_len(k->type);
  if (siglen != 2 * c)
    return cairn_seterr(CAIRN_ERR_VERIFY,
                        "%s signature must be %zu bytes, got %zu",
                        cairn_key_type_jws_alg(k->type), 2 * c, siglen);
  for (size_t i = 0; i < c; i++) {
    if (sig[i]) rz = 0;
    if (sig[c + i]) sz = 0;
  }
  if (rz || sz)
    return cairn_seterr(CAIRN_ERR_VERIFY, "signature has r or s = 0");
  if ((r = jws_hash(k->type, msg ? msg : "", len, h, &hlen)) != CAIRN_OK)
    return r;
  ret = wc_ecc_rs_raw_to_sig(sig, (word32)c, sig + c, (word32)c, der,
                             &derlen);
  if (ret != 0) return cairn__wolf_err(ret, "ECDSA signature conversion");
  ret = wc_ecc_verify_hash(der, derlen, h, hlen, &ok, cairn__key_ecc(k));
  if (ret == MEMORY_E) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if (ret != 0 || ok != 1)
    return cairn_seterr(CAIRN_ERR_VERIFY, "%s signature does not verify",
                        cairn_key_type_jws_alg(k->type));
  return CAIRN_OK;
}

int cairn_key_id_sha1(const struct cairn_key *k, uint8_t out[20])
{
  uint8_t pt[POINT_MAX];
  size_t plen;
  int ret, r;

  if (!k || !out) return cairn_seterr(CAIRN_ERR_INVAL, "no key");
  if ((r = export_point(k, pt, &plen)) != CAIRN_OK) return r;
  ret = wc_ShaHash(pt, (word32)plen, out);
  if (ret != 0) return cairn__wolf_err(ret, "SHA-1");
  return CAIRN_OK;
}
