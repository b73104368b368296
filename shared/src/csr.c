/* csr.c - PKCS#10 certificate signing requests (RFC 2986).
 *
 * Creation uses wolfSSL's certificate writer. Parsing does not use
 * wolfSSL's certificate parser: a CSR comes from an untrusted peer, and
 * wc_ParseCert would also decode the requested subject, attributes and
 * extensions that the server ignores anyway. Instead the DER is walked
 * with the bounded reader (strict DER, no trailing bytes), the public key
 * goes through cairn_key_import_der (curve check, on-curve check), and
 * the ECDSA signature over the exact CertificationRequestInfo bytes is
 * checked with wc_ecc_verify_hash.
 */
#include "key_int.h"

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/sha512.h>

#include "cairn/buf.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/pem.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ecdsa-with-SHA256/384/512 (RFC 5758); the last arc selects the hash. */
static const uint8_t OID_ECDSA_SHA2[] = {0x2a, 0x86, 0x48, 0xce,
                                         0x3d, 0x04, 0x03};

/* Room for a P-384 CSR with subject O=SPIFFE (about 330 bytes). */
#define CSR_SCRATCH 1024

int cairn_csr_create(const struct cairn_key *key, uint8_t **der, size_t *len)
{
  Cert *c = NULL;
  uint8_t buf[CSR_SCRATCH];
  WC_RNG rng;
  int ret, r, rng_ok = 0;

  *der = NULL;
  *len = 0;
  if (!key) return cairn_seterr(CAIRN_ERR_INVAL, "no key for the CSR");
  if (!cairn_key_has_private(key))
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "a CSR must be signed by a private key");
  c = wc_CertNew(NULL);
  if (!c) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  c->version = 0;
  c->sigType = key->type == CAIRN_KEY_EC_P384 ? CTC_SHA384wECDSA
                                              : CTC_SHA256wECDSA;
  memcpy(c->subject.org, "SPIFFE", sizeof "SPIFFE");
  c->subject.orgEnc = CTC_UTF8;
  ret = wc_MakeCertReq_ex(c, buf, sizeof buf, ECC_TYPE, cairn__key_ecc(key));
  if (ret < 0) {
    r = cairn__wolf_err(ret, "CSR encoding");
    goto out;
  }
  if ((r = cairn__rng_init(&rng)) != CAIRN_OK) goto out;
  rng_ok = 1;
  ret = wc_SignCert_ex(c->bodySz, c->sigType, buf, sizeof buf, ECC_TYPE,
                       cairn__key_ecc(key), &rng);
  if (ret <= 0) {
    r = cairn__wolf_err(ret, "CSR signature");
    goto out;
  }
  *der = malloc((size_t)ret);
  if (!*der) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  memcpy(*der, buf, (size_t)ret);
  *len = (size_t)ret;
  r = CAIRN_OK;
out:
  if (rng_ok) wc_FreeRng(&rng);
  wc_CertFree(c);
  return r;
}

/* Reads one TLV with the expected tag; tlv and tlvlen (optional) receive
 * the whole encoding including the header. */
static int expect(struct cairn_rd *r, uint8_t want, const uint8_t **val,
                  size_t *len, const uint8_t **tlv, size_t *tlvlen,
                  const char *what)
{
  struct cairn_rd start = *r;
  uint8_t tag;
  int rc;

  if ((rc = cairn_rd_der(r, &tag, val, len)) != CAIRN_OK) {
    char why[256];
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    return cairn_seterr(CAIRN_ERR_PARSE, "CSR: %s: %s", what, why);
  }
  if (tag != want)
    return cairn_seterr(CAIRN_ERR_PARSE, "CSR: %s: unexpected tag 0x%02x",
                        what, tag);
  if (tlv) {
    *tlvlen = r->off - start.off;
    if (cairn_rd_bytes(&start, *tlvlen, tlv) != CAIRN_OK)
      return cairn_seterr(CAIRN_ERR_INTERNAL, "CSR: reader mismatch");
  }
  return CAIRN_OK;
}

/* The signature algorithm: ecdsa-with-SHA256/384/512, no parameters.
 * Sets the hash type. */
static int read_sigalg(const uint8_t *p, size_t n, enum wc_HashType *ht)
{
  struct cairn_rd r;
  const uint8_t *oid;
  size_t oidlen;
  int rc;

  cairn_rd_init(&r, p, n);
  if ((rc = expect(&r, 0x06, &oid, &oidlen, NULL, NULL, "signature "
                   "algorithm")) != CAIRN_OK)
    return rc;
  *ht = WC_HASH_TYPE_NONE;
  if (oidlen == sizeof OID_ECDSA_SHA2 + 1 &&
      memcmp(oid, OID_ECDSA_SHA2, sizeof OID_ECDSA_SHA2) == 0) {
    switch (oid[oidlen - 1]) {
    case 2: *ht = WC_HASH_TYPE_SHA256; break;
    case 3: *ht = WC_HASH_TYPE_SHA384; break;
    case 4: *ht = WC_HASH_TYPE_SHA512; break;
    default: break;
    }
  }
  if (*ht == WC_HASH_TYPE_NONE)
    return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                        "CSR signature algorithm is not ECDSA with SHA-256, "
                        "SHA-384 or SHA-512");
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "CSR: unexpected signature algorithm parameters");
  return CAIRN_OK;
}

/* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }, exactly, with
 * positive integers no longer than the curve allows. */
static int check_ecdsa_sig(const uint8_t *p, size_t n, size_t coord)
{
  struct cairn_rd r, in;
  const uint8_t *v;
  size_t len;
  int rc;

  cairn_rd_init(&r, p, n);
  if ((rc = expect(&r, 0x30, &v, &len, NULL, NULL, "signature")))
    return rc;
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "CSR: trailing bytes in signature");
  cairn_rd_init(&in, v, len);
  for (int i = 0; i < 2; i++) {
    if ((rc = expect(&in, 0x02, &v, &len, NULL, NULL, "signature")))
      return rc;
    if (len == 0 || len > coord + 1 || (v[0] & 0x80))
      return cairn_seterr(CAIRN_ERR_VERIFY, "CSR: bad signature value");
  }
  if (cairn_rd_left(&in))
    return cairn_seterr(CAIRN_ERR_PARSE, "CSR: trailing bytes in signature");
  return CAIRN_OK;
}

int cairn_csr_parse(const uint8_t *der, size_t len, struct cairn_key **pub)
{
  struct cairn_rd r, info;
  const uint8_t *v, *csr, *tbs, *spki, *algp, *sigp;
  size_t n, csrlen, tbslen, spkilen, alglen, siglen, hlen;
  struct cairn_key *key = NULL;
  enum wc_HashType ht = WC_HASH_TYPE_NONE;
  uint8_t h[WC_MAX_DIGEST_SIZE];
  int ret, ok = 0, rc;

  *pub = NULL;
  if (!der) return cairn_seterr(CAIRN_ERR_INVAL, "no CSR");
  if (len > CAIRN_CSR_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "CSR larger than %d bytes",
                        CAIRN_CSR_MAX);

  /* CertificationRequest ::= SEQUENCE { info, signatureAlgorithm,
   * signature BIT STRING }, and nothing after it. */
  cairn_rd_init(&r, der, len);
  if ((rc = expect(&r, 0x30, &csr, &csrlen, NULL, NULL, "outer SEQUENCE")))
    return rc;
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "CSR: trailing bytes");
  cairn_rd_init(&r, csr, csrlen);
  if ((rc = expect(&r, 0x30, &v, &n, &tbs, &tbslen, "request info")))
    return rc;
  if ((rc = expect(&r, 0x30, &algp, &alglen, NULL, NULL, "algorithm")))
    return rc;
  if ((rc = expect(&r, 0x03, &sigp, &siglen, NULL, NULL, "signature")))
    return rc;
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "CSR: trailing fields");

  /* CertificationRequestInfo ::= SEQUENCE { version 0, subject Name,
   * subjectPKInfo, attributes [0] }. Subject and attributes are skipped
   * unparsed: the server decides every field of what it issues. */
  cairn_rd_init(&info, v, n);
  if ((rc = expect(&info, 0x02, &v, &n, NULL, NULL, "version")))
    return rc;
  if (n != 1 || v[0] != 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "CSR: version is not 1 (0)");
  if ((rc = expect(&info, 0x30, &v, &n, NULL, NULL, "subject"))) return rc;
  if ((rc = expect(&info, 0x30, &v, &n, &spki, &spkilen, "public key")))
    return rc;
  if ((rc = expect(&info, 0xa0, &v, &n, NULL, NULL, "attributes")))
    return rc;
  if (cairn_rd_left(&info))
    return cairn_seterr(CAIRN_ERR_PARSE, "CSR: trailing request fields");

  if ((rc = cairn_key_import_der(spki, spkilen, &key)) != CAIRN_OK) {
    char why[256];
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    return cairn_seterr(rc == CAIRN_ERR_UNSUPPORTED ? rc : CAIRN_ERR_PARSE,
                        "CSR: public key: %s", why);
  }
  rc = CAIRN_ERR_INTERNAL;
  if (cairn_key_has_private(key)) {
    rc = cairn_seterr(CAIRN_ERR_PARSE, "CSR: bad public key");
    goto out;
  }
  if ((rc = read_sigalg(algp, alglen, &ht)) != CAIRN_OK) goto out;
  if (siglen < 2 || sigp[0] != 0) {
    rc = cairn_seterr(CAIRN_ERR_PARSE, "CSR: bad signature BIT STRING");
    goto out;
  }
  if ((rc = check_ecdsa_sig(sigp + 1, siglen - 1,
                            cairn_key_type_coord_len(key->type))))
    goto out;
  ret = wc_HashGetDigestSize(ht);
  if (ret <= 0 || (size_t)ret > sizeof h) {
    rc = cairn__wolf_err(ret, "CSR hash");
    goto out;
  }
  hlen = (size_t)ret;
  ret = wc_Hash(ht, tbs, (word32)tbslen, h, (word32)hlen);
  if (ret != 0) {
    rc = cairn__wolf_err(ret, "CSR hash");
    goto out;
  }
  ret = wc_ecc_verify_hash(sigp + 1, (word32)(siglen - 1), h, (word32)hlen,
                           &ok, cairn__key_ecc(key));
  if (ret == MEMORY_E) {
    rc = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  if (ret != 0 || ok != 1) {
    rc = cairn_seterr(CAIRN_ERR_VERIFY,
                      "CSR self-signature does not verify");
    goto out;
  }
  *pub = key;
  key = NULL; /* transferred */
  rc = CAIRN_OK;
out:
  cairn_key_free(key);
  return rc;
}

int cairn_csr_to_pem(const uint8_t *der, size_t len, char **pem)
{
  size_t plen = 0;

  *pem = NULL;
  if (!der || len == 0) return cairn_seterr(CAIRN_ERR_INVAL, "no CSR");
  return cairn_pem_append("CERTIFICATE REQUEST", der, len, pem, &plen);
}

int cairn_csr_from_pem(const char *pem, size_t len, uint8_t **der,
                       size_t *derlen)
{
  char label[CAIRN_PEM_LABEL_MAX];
  size_t off = 0;
  int r;

  *der = NULL;
  *derlen = 0;
  if (!pem) return cairn_seterr(CAIRN_ERR_INVAL, "no CSR PEM");
  r = cairn_pem_next(pem, len, &off, label, der, derlen, CAIRN_CSR_MAX);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_seterr(CAIRN_ERR_PARSE, "no CERTIFICATE REQUEST PEM block");
  if (r != CAIRN_OK) return r;
  /* "NEW CERTIFICATE REQUEST" is what older tools (openssl req -newhdr,
   * Netscape) write. */
  if (strcmp(label, "CERTIFICATE REQUEST") != 0 &&
      strcmp(label, "NEW CERTIFICATE REQUEST") != 0) {
    free(*der);
    *der = NULL;
    *derlen = 0;
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "PEM block '%s' is not a CERTIFICATE REQUEST", label);
  }
  return CAIRN_OK;
}
