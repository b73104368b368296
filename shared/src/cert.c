/* cert.c - X.509 certificates: a strict bounded DER parser, X509-SVID and
 * CA issuing on wolfCrypt (with our own critical basicConstraints and
 * NameConstraints spliced into the TBS), and our own chain verification.
 *
 * Why our own chain walk: wolfSSL 5.5.4's chain APIs are unsafe for
 * peer-supplied intermediates (X509_verify_cert accepted an intermediate
 * signed by an untrusted root; CertManagerLoadCABuffer turns any cert,
 * even CA:FALSE, into a trust anchor) and it ignores URI NameConstraints.
 * See docs/library/cert.md.
 */
#include "key_int.h" /* first: pulls <wolfssl/options.h> */

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/hash.h>

#if !defined(WOLFSSL_CERT_GEN) || !defined(WOLFSSL_CERT_EXT) || \
    !defined(WOLFSSL_ALT_NAMES)
#error "cert.c needs wolfSSL with certificate generation, extensions and SANs"
#endif

#include "cert_int.h"
#include "cairn/buf.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/key.h"
#include "cairn/pem.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- limits ---- */
#define MAX_EXTENSIONS 64      /* extensions in one certificate */
#define MAX_SANS 256           /* GeneralNames entries in the SAN */
#define MAX_NC_NAMES 64        /* subtrees in NameConstraints */
#define MAX_SERIAL 20          /* RFC 5280 4.1.2.2 */
#define MAX_LIST_CERTS (CAIRN_CERT_CHAIN_MAX * 4)
#define VERIFY_MAX_STEPS 4096  /* candidate issuers examined per verify */
#define DETAIL_MAX 320

/* ---- DER tags ---- */
#define T_BOOLEAN 0x01
#define T_INTEGER 0x02
#define T_BITSTRING 0x03
#define T_OCTETSTRING 0x04
#define T_OID 0x06
#define T_UTCTIME 0x17
#define T_GENTIME 0x18
#define T_SEQ 0x30
#define T_CTX0 0xa0 /* [0] constructed */
#define T_CTX1 0xa1
#define T_CTX3 0xa3
#define T_GN_DNS 0x82 /* GeneralName dNSName [2] IMPLICIT IA5String */
#define T_GN_URI 0x86 /* GeneralName uniformResourceIdentifier [6] */
#define T_AKID_KEYID 0x80

/* ---- OIDs (contents octets only) ---- */
static const uint8_t OID_ECDSA_SHA256[] = {0x2a, 0x86, 0x48, 0xce,
                                           0x3d, 0x04, 0x03, 0x02};
static const uint8_t OID_ECDSA_SHA384[] = {0x2a, 0x86, 0x48, 0xce,
                                           0x3d, 0x04, 0x03, 0x03};
static const uint8_t OID_ECDSA_SHA512[] = {0x2a, 0x86, 0x48, 0xce,
                                           0x3d, 0x04, 0x03, 0x04};
static const uint8_t OID_EC_PUBKEY[] = {0x2a, 0x86, 0x48, 0xce,
                                        0x3d, 0x02, 0x01};
static const uint8_t OID_P256[] = {0x2a, 0x86, 0x48, 0xce,
                                   0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_KP_SERVER[] = {0x2b, 0x06, 0x01, 0x05,
                                        0x05, 0x07, 0x03, 0x01};
static const uint8_t OID_KP_CLIENT[] = {0x2b, 0x06, 0x01, 0x05,
                                        0x05, 0x07, 0x03, 0x02};
static const uint8_t OID_EKU_ANY[] = {0x55, 0x1d, 0x25, 0x00};

/* Certificate extensions id-ce-* (2.5.29.n) we understand. */
enum {
  CE_SKID = 14,
  CE_KU = 15,
  CE_SAN = 17,
  CE_BC = 19,
  CE_NC = 30,
  CE_AKID = 35,
  CE_EKU = 37
};

struct cspan {
  const uint8_t *p;
  size_t len;
};

struct nc_name {
  uint8_t type;   /* T_GN_URI or T_GN_DNS */
  int excluded;   /* 0: permitted subtree, 1: excluded subtree */
  char *name;     /* the subtree base (a host / domain) */
};

struct cairn_cert {
  uint8_t *der;
  size_t der_len;
  /* Everything below points into der. */
  struct cspan tbs;      /* TBSCertificate TLV: the signed bytes */
  struct cspan issuer;   /* issuer Name TLV */
  struct cspan subject;  /* subject Name TLV */
  struct cspan spki;     /* SubjectPublicKeyInfo TLV */
  struct cspan serial;   /* INTEGER contents, sign octet stripped */
  struct cspan sig;      /* signature BIT STRING contents (no pad octet) */
  struct cspan skid;     /* keyIdentifier contents (len 0: absent) */
  struct cspan akid;
  struct cspan uri0;     /* first URI SAN */
  size_t n_uri;
  int version;           /* 1..3 */
  enum wc_HashType sig_hash; /* WC_HASH_TYPE_NONE: not ECDSA / unknown */
  struct cairn_key *pub; /* NULL when the key type is not supported */
  time_t not_before, not_after;
  int is_ca;
  int path_len;          /* -1: absent */
  unsigned ku, eku;
  int unknown_critical;  /* an extension we do not understand is critical */
  char **dns;
  size_t n_dns;
  struct nc_name *nc;
  size_t n_nc;
  int nc_unsupported;    /* a NameConstraints form we cannot enforce */
  const char *permitted_td; /* first permitted URI subtree, or NULL */
};

struct cairn_cert_list {
  struct cairn_cert **v;
  size_t n, cap;
};

/* ------------------------------------------------------------------ */
/* DER reading helpers                                                 */
/* ------------------------------------------------------------------ */

/* Records "<prefix>: <current detail>". The current detail is copied
 * first because it lives in the buffer cairn_seterr() writes. */
static int wrap_err(int code, const char *prefix, const char *what)
{
  char d[DETAIL_MAX];

  snprintf(d, sizeof d, "%s", cairn_errdetail());
  return cairn_seterr(code, "%s%s: %s", prefix, what, d);
}

/* Reads one TLV which must carry tag want. tlv (optional) receives the
 * whole encoding, val (optional) the contents. */
static int rd_tlv(struct cairn_rd *r, uint8_t want, struct cspan *tlv,
                  struct cspan *val, const char *what)
{
  struct cairn_rd t = *r;
  uint8_t tag;
  const uint8_t *v;
  size_t n;

  if (cairn_rd_der(&t, &tag, &v, &n) != CAIRN_OK)
    return wrap_err(CAIRN_ERR_PARSE, "certificate: ", what);
  if (tag != want)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: %s: tag 0x%02x, expected 0x%02x", what,
                        tag, want);
  if (tlv) {
    tlv->len = t.off - r->off;
    if (cairn_rd_bytes(r, tlv->len, &tlv->p) != CAIRN_OK)
      return cairn_seterr(CAIRN_ERR_INTERNAL, "certificate: reader state");
  } else {
    *r = t;
  }
  if (val) {
    val->p = v;
    val->len = n;
  }
  return CAIRN_OK;
}

/* Reads any TLV. */
static int rd_any(struct cairn_rd *r, uint8_t *tag, struct cspan *tlv,
                  struct cspan *val, const char *what)
{
  struct cairn_rd t = *r;
  const uint8_t *v;
  size_t n;

  if (cairn_rd_der(&t, tag, &v, &n) != CAIRN_OK)
    return wrap_err(CAIRN_ERR_PARSE, "certificate: ", what);
  if (tlv) {
    tlv->len = t.off - r->off;
    if (cairn_rd_bytes(r, tlv->len, &tlv->p) != CAIRN_OK)
      return cairn_seterr(CAIRN_ERR_INTERNAL, "certificate: reader state");
  } else {
    *r = t;
  }
  if (val) {
    val->p = v;
    val->len = n;
  }
  return CAIRN_OK;
}

static int peek_tag(const struct cairn_rd *r, uint8_t *tag)
{
  return cairn_rd_left(r) > 0 && cairn_rd_peek_u8(r, tag) == CAIRN_OK;
}

static int span_eq(struct cspan s, const uint8_t *p, size_t n)
{
  return s.len == n && memcmp(s.p, p, n) == 0;
}

/* Copies an IA5String value into a new C string; refuses NUL and bytes
 * outside printable ASCII. */
static int ia5_dup(struct cspan s, char **out, const char *what)
{
  char *c;

  *out = NULL;
  for (size_t i = 0; i < s.len; i++)
    if (s.p[i] < 0x21 || s.p[i] > 0x7e)
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "certificate: %s contains a non-printable byte",
                          what);
  c = malloc(s.len + 1);
  if (!c) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  memcpy(c, s.p, s.len);
  c[s.len] = 0;
  *out = c;
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

static int digits(const uint8_t *p, size_t n, int *v)
{
  int x = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    x = x * 10 + (p[i] - '0');
  }
  *v = x;
  return 1;
}

/* UTCTime "YYMMDDHHMMSSZ" / GeneralizedTime "YYYYMMDDHHMMSSZ" (the only
 * forms RFC 5280 allows) to time_t. */
static int parse_time(uint8_t tag, struct cspan s, time_t *out)
{
  int year, mon, day, hour, min, sec;
  size_t yl;
  struct tm tm, back;
  time_t t;

  if (tag == T_UTCTIME && s.len == 13)
    yl = 2;
  else if (tag == T_GENTIME && s.len == 15)
    yl = 4;
  else
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: validity time has a bad form");
  if (s.p[s.len - 1] != 'Z' || !digits(s.p, yl, &year) ||
      !digits(s.p + yl, 2, &mon) || !digits(s.p + yl + 2, 2, &day) ||
      !digits(s.p + yl + 4, 2, &hour) || !digits(s.p + yl + 6, 2, &min) ||
      !digits(s.p + yl + 8, 2, &sec))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: validity time has a bad form");
  if (yl == 2) year += year < 50 ? 2000 : 1900;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
      sec > 59)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: validity time out of range");
  memset(&tm, 0, sizeof tm);
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  t = timegm(&tm);
  /* Round trip to refuse days that do not exist (Feb 30). */
  if (!gmtime_r(&t, &back) || back.tm_mday != day || back.tm_mon != mon - 1)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: validity date does not exist");
  *out = t;
  return CAIRN_OK;
}

/* Encodes t as a complete time TLV: UTCTime for 1950..2049, otherwise
 * GeneralizedTime (RFC 5280 4.1.2.5). out needs 17 bytes. */
static int encode_time(time_t t, uint8_t *out, int *len)
{
  struct tm tm;
  char s[32];

  if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 ||
      tm.tm_year + 1900 > 9999)
    return cairn_seterr(CAIRN_ERR_INVAL, "certificate time out of range");
  if (tm.tm_year + 1900 >= 1950 && tm.tm_year + 1900 < 2050) {
    if (snprintf(s, sizeof s, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec) != 13)
      return cairn_seterr(CAIRN_ERR_INTERNAL, "time format");
    out[0] = T_UTCTIME;
    out[1] = 13;
  } else {
    if (snprintf(s, sizeof s, "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec) != 15)
      return cairn_seterr(CAIRN_ERR_INTERNAL, "time format");
    out[0] = T_GENTIME;
    out[1] = 15;
  }
  memcpy(out + 2, s, out[1]);
  *len = 2 + out[1];
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

static int parse_alg_hash(struct cspan alg, enum wc_HashType *h)
{
  struct cairn_rd r;
  struct cspan oid;
  int ret;

  *h = WC_HASH_TYPE_NONE;
  cairn_rd_init(&r, alg.p, alg.len);
  if ((ret = rd_tlv(&r, T_OID, NULL, &oid, "signature algorithm")))
    return ret;
  /* ECDSA AlgorithmIdentifiers have no parameters (RFC 5758); anything
   * else is simply not a signature we can check. */
  if (cairn_rd_left(&r) != 0) return CAIRN_OK;
  if (span_eq(oid, OID_ECDSA_SHA256, sizeof OID_ECDSA_SHA256))
    *h = WC_HASH_TYPE_SHA256;
  else if (span_eq(oid, OID_ECDSA_SHA384, sizeof OID_ECDSA_SHA384))
    *h = WC_HASH_TYPE_SHA384;
  else if (span_eq(oid, OID_ECDSA_SHA512, sizeof OID_ECDSA_SHA512))
    *h = WC_HASH_TYPE_SHA512;
  return CAIRN_OK;
}

static int parse_spki(struct cairn_cert *c)
{
  struct cairn_rd r, a;
  struct cspan alg, oid, curve, bits;
  enum cairn_key_type want;
  int ret;
  uint8_t tag;

  cairn_rd_init(&r, c->spki.p, c->spki.len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &bits, "subjectPublicKeyInfo")))
    return ret;
  cairn_rd_init(&r, bits.p, bits.len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &alg, "public key algorithm")) ||
      (ret = rd_tlv(&r, T_BITSTRING, NULL, &bits, "public key")))
    return ret;
  if (cairn_rd_left(&r) != 0)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: trailing data in subjectPublicKeyInfo");
  cairn_rd_init(&a, alg.p, alg.len);
  if ((ret = rd_tlv(&a, T_OID, NULL, &oid, "public key algorithm")))
    return ret;
  if (!span_eq(oid, OID_EC_PUBKEY, sizeof OID_EC_PUBKEY))
    return CAIRN_OK; /* not EC: parsed, but never usable for verifying */
  if (!peek_tag(&a, &tag) || tag != T_OID) return CAIRN_OK;
  if ((ret = rd_tlv(&a, T_OID, NULL, &curve, "EC curve"))) return ret;
  if (span_eq(curve, OID_P256, sizeof OID_P256))
    want = CAIRN_KEY_EC_P256;
  else if (span_eq(curve, OID_P384, sizeof OID_P384))
    want = CAIRN_KEY_EC_P384;
  else
    return CAIRN_OK; /* another curve: unsupported, not malformed */
  if (cairn_key_import_der(c->spki.p, c->spki.len, &c->pub) != CAIRN_OK) {
    c->pub = NULL;
    return wrap_err(CAIRN_ERR_PARSE, "certificate: ", "bad EC public key");
  }
  if (cairn_key_get_type(c->pub) != want)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: public key curve mismatch");
  return CAIRN_OK;
}

static int parse_bool(struct cspan v, int *out)
{
  if (v.len != 1)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad BOOLEAN");
  *out = v.p[0] != 0;
  return CAIRN_OK;
}

static int ext_bc(struct cairn_cert *c, struct cspan v)
{
  struct cairn_rd r, s;
  struct cspan seq, b, n;
  uint8_t tag;
  int ret, ca = 0;

  cairn_rd_init(&r, v.p, v.len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &seq, "basicConstraints"))) return ret;
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: basicConstraints");
  cairn_rd_init(&s, seq.p, seq.len);
  if (peek_tag(&s, &tag) && tag == T_BOOLEAN) {
    if ((ret = rd_tlv(&s, T_BOOLEAN, NULL, &b, "basicConstraints cA")) ||
        (ret = parse_bool(b, &ca)))
      return ret;
  }
  if (peek_tag(&s, &tag) && tag == T_INTEGER) {
    if ((ret = rd_tlv(&s, T_INTEGER, NULL, &n, "pathLenConstraint")))
      return ret;
    if (n.len == 0 || n.len > 2 || (n.p[0] & 0x80))
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "certificate: bad pathLenConstraint");
    c->path_len = n.len == 1 ? n.p[0] : (n.p[0] << 8 | n.p[1]);
  }
  if (cairn_rd_left(&s))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: trailing data in basicConstraints");
  c->is_ca = ca;
  if (!ca) c->path_len = -1;
  return CAIRN_OK;
}

static int ext_ku(struct cairn_cert *c, struct cspan v)
{
  struct cairn_rd r;
  struct cspan b;
  int ret;
  unsigned ku = 0;

  cairn_rd_init(&r, v.p, v.len);
  if ((ret = rd_tlv(&r, T_BITSTRING, NULL, &b, "keyUsage"))) return ret;
  if (cairn_rd_left(&r) || b.len < 2 || b.len > 3 || b.p[0] > 7)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad keyUsage");
  for (unsigned i = 0; i < 9 && i / 8 + 1 < b.len; i++)
    if (b.p[1 + i / 8] & (0x80u >> (i % 8))) ku |= 1u << i;
  if (ku == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: empty keyUsage");
  c->ku = ku;
  return CAIRN_OK;
}

static int ext_eku(struct cairn_cert *c, struct cspan v)
{
  struct cairn_rd r, s;
  struct cspan seq, oid;
  int ret;
  unsigned eku = 0;

  cairn_rd_init(&r, v.p, v.len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &seq, "extKeyUsage"))) return ret;
  if (cairn_rd_left(&r) || seq.len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad extKeyUsage");
  cairn_rd_init(&s, seq.p, seq.len);
  while (cairn_rd_left(&s)) {
    if ((ret = rd_tlv(&s, T_OID, NULL, &oid, "extKeyUsage purpose")))
      return ret;
    if (span_eq(oid, OID_KP_SERVER, sizeof OID_KP_SERVER))
      eku |= CAIRN_EKU_SERVER_AUTH;
    else if (span_eq(oid, OID_KP_CLIENT, sizeof OID_KP_CLIENT))
      eku |= CAIRN_EKU_CLIENT_AUTH;
    else if (span_eq(oid, OID_EKU_ANY, sizeof OID_EKU_ANY))
      eku |= CAIRN_EKU_ANY;
    else
      eku |= CAIRN_EKU_OTHER;
  }
  c->eku = eku;
  return CAIRN_OK;
}

static int ext_san(struct cairn_cert *c, struct cspan v)
{
  struct cairn_rd r, s;
  struct cspan seq, gn;
  uint8_t tag;
  int ret;
  size_t count = 0;

  cairn_rd_init(&r, v.p, v.len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &seq, "subjectAltName"))) return ret;
  if (cairn_rd_left(&r) || seq.len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad subjectAltName");
  cairn_rd_init(&s, seq.p, seq.len);
  while (cairn_rd_left(&s)) {
    if (++count > MAX_SANS)
      return cairn_seterr(CAIRN_ERR_TOO_BIG,
                          "certificate: more than %d subjectAltNames",
                          MAX_SANS);
    if ((ret = rd_any(&s, &tag, NULL, &gn, "subjectAltName entry")))
      return ret;
    if (tag == T_GN_URI) {
      if (gn.len == 0)
        return cairn_seterr(CAIRN_ERR_PARSE, "certificate: empty URI SAN");
      if (c->n_uri++ == 0) c->uri0 = gn;
    } else if (tag == T_GN_DNS) {
      char **nv, *name;
      if ((ret = ia5_dup(gn, &name, "DNS SAN"))) return ret;
      nv = realloc(c->dns, (c->n_dns + 1) * sizeof *nv);
      if (!nv) {
        free(name);
        return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
      }
      c->dns = nv;
      c->dns[c->n_dns++] = name;
    }
    /* Other GeneralName forms (IP, email, otherName...) are allowed and
     * ignored. */
  }
  return CAIRN_OK;
}

static int keyid(struct cspan v, struct cspan *out, const char *what)
{
  if (v.len == 0 || v.len > 64)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad %s", what);
  *out = v;
  return CAIRN_OK;
}

static int ext_skid(struct cairn_cert *c, struct cspan v)
{
  struct cairn_rd r;
  struct cspan id;
  int ret;

  cairn_rd_init(&r, v.p, v.len);
  if ((ret = rd_tlv(&r, T_OCTETSTRING, NULL, &id, "subjectKeyIdentifier")))
    return ret;
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad SKID");
  return keyid(id, &c->skid, "subjectKeyIdentifier");
}

static int ext_akid(struct cairn_cert *c, struct cspan v)
{
  struct cairn_rd r, s;
  struct cspan seq, item;
  uint8_t tag;
  int ret;

  cairn_rd_init(&r, v.p, v.len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &seq, "authorityKeyIdentifier")))
    return ret;
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad AKID");
  cairn_rd_init(&s, seq.p, seq.len);
  while (cairn_rd_left(&s)) {
    if ((ret = rd_any(&s, &tag, NULL, &item, "authorityKeyIdentifier")))
      return ret;
    if (tag == T_AKID_KEYID) {
      if ((ret = keyid(item, &c->akid, "authorityKeyIdentifier")))
        return ret;
    } else if (tag != 0xa1 && tag != 0x82) {
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "certificate: bad authorityKeyIdentifier field");
    }
  }
  return CAIRN_OK;
}

static int nc_subtrees(struct cairn_cert *c, struct cspan v, int excluded)
{
  struct cairn_rd r, st;
  struct cspan sub, base;
  uint8_t tag;
  int ret;

  cairn_rd_init(&r, v.p, v.len);
  if (v.len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: empty NameConstraints subtrees");
  while (cairn_rd_left(&r)) {
    if ((ret = rd_tlv(&r, T_SEQ, NULL, &sub, "GeneralSubtree"))) return ret;
    cairn_rd_init(&st, sub.p, sub.len);
    if ((ret = rd_any(&st, &tag, NULL, &base, "GeneralSubtree base")))
      return ret;
    /* minimum/maximum must be absent in RFC 5280's profile; a subtree we
     * cannot interpret makes the whole extension unenforceable. */
    if (cairn_rd_left(&st) ||
        (tag != T_GN_URI && tag != T_GN_DNS) || base.len == 0) {
      c->nc_unsupported = 1;
      continue;
    }
    if (c->n_nc >= MAX_NC_NAMES)
      return cairn_seterr(CAIRN_ERR_TOO_BIG,
                          "certificate: more than %d NameConstraints",
                          MAX_NC_NAMES);
    {
      struct nc_name *nv = realloc(c->nc, (c->n_nc + 1) * sizeof *nv);
      char *name;
      if (!nv) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
      c->nc = nv;
      if ((ret = ia5_dup(base, &name, "NameConstraints name"))) return ret;
      c->nc[c->n_nc].type = tag;
      c->nc[c->n_nc].excluded = excluded;
      c->nc[c->n_nc].name = name;
      c->n_nc++;
    }
  }
  return CAIRN_OK;
}

static int ext_nc(struct cairn_cert *c, struct cspan v)
{
  struct cairn_rd r, s;
  struct cspan seq, part;
  uint8_t tag;
  int ret;

  cairn_rd_init(&r, v.p, v.len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &seq, "NameConstraints"))) return ret;
  if (cairn_rd_left(&r) || seq.len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad NameConstraints");
  cairn_rd_init(&s, seq.p, seq.len);
  if (peek_tag(&s, &tag) && tag == T_CTX0) {
    if ((ret = rd_tlv(&s, T_CTX0, NULL, &part, "permittedSubtrees")) ||
        (ret = nc_subtrees(c, part, 0)))
      return ret;
  }
  if (peek_tag(&s, &tag) && tag == T_CTX1) {
    if ((ret = rd_tlv(&s, T_CTX1, NULL, &part, "excludedSubtrees")) ||
        (ret = nc_subtrees(c, part, 1)))
      return ret;
  }
  if (cairn_rd_left(&s))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: trailing data in NameConstraints");
  for (size_t i = 0; i < c->n_nc; i++)
    if (c->nc[i].type == T_GN_URI && !c->nc[i].excluded) {
      c->permitted_td = c->nc[i].name;
      break;
    }
  return CAIRN_OK;
}

static int parse_extensions(struct cairn_cert *c, struct cspan v)
{
  static const uint8_t ce_prefix[] = {0x55, 0x1d};
  struct cairn_rd r, s;
  struct cspan seq, ext, oid, b, val;
  uint8_t tag;
  int ret, crit, n = 0;
  uint64_t seen = 0;

  cairn_rd_init(&r, v.p, v.len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &seq, "extensions"))) return ret;
  if (cairn_rd_left(&r) || seq.len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad extensions");
  cairn_rd_init(&r, seq.p, seq.len);
  while (cairn_rd_left(&r)) {
    if (++n > MAX_EXTENSIONS)
      return cairn_seterr(CAIRN_ERR_TOO_BIG,
                          "certificate: more than %d extensions",
                          MAX_EXTENSIONS);
    if ((ret = rd_tlv(&r, T_SEQ, NULL, &ext, "extension"))) return ret;
    cairn_rd_init(&s, ext.p, ext.len);
    if ((ret = rd_tlv(&s, T_OID, NULL, &oid, "extension id"))) return ret;
    crit = 0;
    if (peek_tag(&s, &tag) && tag == T_BOOLEAN) {
      if ((ret = rd_tlv(&s, T_BOOLEAN, NULL, &b, "extension critical")) ||
          (ret = parse_bool(b, &crit)))
        return ret;
    }
    if ((ret = rd_tlv(&s, T_OCTETSTRING, NULL, &val, "extension value")))
      return ret;
    if (cairn_rd_left(&s))
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "certificate: trailing data in extension");
    if (oid.len != 3 || memcmp(oid.p, ce_prefix, 2) != 0 ||
        (oid.p[2] != CE_SKID && oid.p[2] != CE_KU && oid.p[2] != CE_SAN &&
         oid.p[2] != CE_BC && oid.p[2] != CE_NC && oid.p[2] != CE_AKID &&
         oid.p[2] != CE_EKU)) {
      if (crit) c->unknown_critical = 1;
      continue;
    }
    if (seen & (1ull << oid.p[2]))
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "certificate: duplicate extension 2.5.29.%u",
                          oid.p[2]);
    seen |= 1ull << oid.p[2];
    switch (oid.p[2]) {
    case CE_SKID: ret = ext_skid(c, val); break;
    case CE_KU: ret = ext_ku(c, val); break;
    case CE_SAN: ret = ext_san(c, val); break;
    case CE_BC: ret = ext_bc(c, val); break;
    case CE_NC: ret = ext_nc(c, val); break;
    case CE_AKID: ret = ext_akid(c, val); break;
    default: ret = ext_eku(c, val); break;
    }
    if (ret) return ret;
  }
  return CAIRN_OK;
}

static int parse_tbs(struct cairn_cert *c, struct cspan tbs,
                     struct cspan *tbs_alg)
{
  struct cairn_rd r, v;
  struct cspan ver, serial, validity, t1, t2, ext;
  uint8_t tag, tag1, tag2;
  int ret;

  cairn_rd_init(&r, tbs.p, tbs.len);
  c->version = 1;
  if (peek_tag(&r, &tag) && tag == T_CTX0) {
    struct cairn_rd vr;
    struct cspan vi;
    if ((ret = rd_tlv(&r, T_CTX0, NULL, &ver, "version"))) return ret;
    cairn_rd_init(&vr, ver.p, ver.len);
    if ((ret = rd_tlv(&vr, T_INTEGER, NULL, &vi, "version"))) return ret;
    if (cairn_rd_left(&vr) || vi.len != 1 || vi.p[0] > 2)
      return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad version");
    c->version = vi.p[0] + 1;
  }
  if ((ret = rd_tlv(&r, T_INTEGER, NULL, &serial, "serialNumber")))
    return ret;
  if (serial.len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: empty serialNumber");
  if (serial.len > 1 && serial.p[0] == 0 && (serial.p[1] & 0x80)) {
    serial.p++;
    serial.len--;
  }
  if (serial.len > MAX_SERIAL)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: serialNumber longer than %d octets",
                        MAX_SERIAL);
  c->serial = serial;
  if ((ret = rd_tlv(&r, T_SEQ, tbs_alg, NULL, "signature algorithm")) ||
      (ret = rd_tlv(&r, T_SEQ, &c->issuer, NULL, "issuer")) ||
      (ret = rd_tlv(&r, T_SEQ, NULL, &validity, "validity")) ||
      (ret = rd_tlv(&r, T_SEQ, &c->subject, NULL, "subject")) ||
      (ret = rd_tlv(&r, T_SEQ, &c->spki, NULL, "subjectPublicKeyInfo")))
    return ret;
  cairn_rd_init(&v, validity.p, validity.len);
  if ((ret = rd_any(&v, &tag1, NULL, &t1, "notBefore")) ||
      (ret = rd_any(&v, &tag2, NULL, &t2, "notAfter")))
    return ret;
  if (cairn_rd_left(&v))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: trailing data in validity");
  if ((ret = parse_time(tag1, t1, &c->not_before)) ||
      (ret = parse_time(tag2, t2, &c->not_after)))
    return ret;
  /* issuerUniqueID [1] and subjectUniqueID [2] (v2+) are skipped. */
  if (peek_tag(&r, &tag) && tag == 0x81 && c->version >= 2 &&
      (ret = rd_any(&r, &tag, NULL, NULL, "issuerUniqueID")))
    return ret;
  if (peek_tag(&r, &tag) && tag == 0x82 && c->version >= 2 &&
      (ret = rd_any(&r, &tag, NULL, NULL, "subjectUniqueID")))
    return ret;
  if (peek_tag(&r, &tag) && tag == T_CTX3) {
    if (c->version != 3)
      return cairn_seterr(CAIRN_ERR_PARSE,
                          "certificate: extensions in a v%d certificate",
                          c->version);
    if ((ret = rd_tlv(&r, T_CTX3, NULL, &ext, "extensions")) ||
        (ret = parse_extensions(c, ext)))
      return ret;
  }
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: trailing data in TBSCertificate");
  return parse_spki(c);
}

/* Parses the certificate whose DER c->der already holds. */
static int parse_cert(struct cairn_cert *c)
{
  struct cairn_rd r, s;
  struct cspan body, tbs_alg, alg, sig;
  int ret;

  c->path_len = -1;
  cairn_rd_init(&r, c->der, c->der_len);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &body, "Certificate"))) return ret;
  if (cairn_rd_left(&r))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: trailing data after the certificate");
  cairn_rd_init(&s, body.p, body.len);
  if ((ret = rd_tlv(&s, T_SEQ, &c->tbs, &body, "TBSCertificate")) ||
      (ret = rd_tlv(&s, T_SEQ, &alg, NULL, "signatureAlgorithm")) ||
      (ret = rd_tlv(&s, T_BITSTRING, NULL, &sig, "signatureValue")))
    return ret;
  if (cairn_rd_left(&s))
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: trailing data in Certificate");
  if (sig.len < 2 || sig.p[0] != 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: bad signatureValue");
  c->sig.p = sig.p + 1;
  c->sig.len = sig.len - 1;
  if ((ret = parse_tbs(c, body, &tbs_alg))) return ret;
  if (tbs_alg.len != alg.len || memcmp(tbs_alg.p, alg.p, alg.len) != 0)
    return cairn_seterr(CAIRN_ERR_PARSE,
                        "certificate: signature algorithm differs between "
                        "TBSCertificate and Certificate");
  {
    struct cspan inner = {alg.p, alg.len};
    struct cairn_rd a;
    cairn_rd_init(&a, alg.p, alg.len);
    if ((ret = rd_tlv(&a, T_SEQ, NULL, &inner, "signatureAlgorithm")))
      return ret;
    return parse_alg_hash(inner, &c->sig_hash);
  }
}

void cairn_cert_free(struct cairn_cert *c)
{
  if (!c) return;
  for (size_t i = 0; i < c->n_dns; i++) free(c->dns[i]);
  free(c->dns);
  for (size_t i = 0; i < c->n_nc; i++) free(c->nc[i].name);
  free(c->nc);
  cairn_key_free(c->pub);
  free(c->der);
  free(c);
}

int cairn_cert_parse_der(const uint8_t *der, size_t len,
                         struct cairn_cert **out)
{
  struct cairn_cert *c = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "cert parse: out is NULL");
  *out = NULL;
  if (!der || len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate: empty input");
  if (len > CAIRN_CERT_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG,
                        "certificate: %zu bytes, more than %d", len,
                        CAIRN_CERT_MAX);
  c = calloc(1, sizeof *c);
  if (!c || !(c->der = malloc(len))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  memcpy(c->der, der, len);
  c->der_len = len;
  if ((r = parse_cert(c)) != CAIRN_OK) goto out;
  *out = c;
  c = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_cert_free(c);
  return r;
}

int cairn_cert_dup(const struct cairn_cert *c, struct cairn_cert **out)
{
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "cert dup: out is NULL");
  *out = NULL;
  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "cert dup: NULL cert");
  return cairn_cert_parse_der(c->der, c->der_len, out);
}

/* ---- accessors ---- */

const uint8_t *cairn_cert_der(const struct cairn_cert *c, size_t *len)
{
  *len = c->der_len;
  return c->der;
}

int cairn_cert_is_ca(const struct cairn_cert *c) { return c->is_ca; }
time_t cairn_cert_not_before(const struct cairn_cert *c)
{
  return c->not_before;
}
time_t cairn_cert_not_after(const struct cairn_cert *c)
{
  return c->not_after;
}
unsigned cairn_cert_key_usage(const struct cairn_cert *c) { return c->ku; }
unsigned cairn_cert_ext_key_usage(const struct cairn_cert *c)
{
  return c->eku;
}
int cairn_cert_path_len(const struct cairn_cert *c) { return c->path_len; }
size_t cairn_cert_uri_count(const struct cairn_cert *c) { return c->n_uri; }

const uint8_t *cairn_cert_skid(const struct cairn_cert *c, size_t *len)
{
  *len = c->skid.len;
  return c->skid.len ? c->skid.p : NULL;
}

const uint8_t *cairn_cert_akid(const struct cairn_cert *c, size_t *len)
{
  *len = c->akid.len;
  return c->akid.len ? c->akid.p : NULL;
}

const uint8_t *cairn_cert_subject_der(const struct cairn_cert *c,
                                      size_t *len)
{
  *len = c->subject.len;
  return c->subject.p;
}

const uint8_t *cairn_cert_issuer_der(const struct cairn_cert *c,
                                     size_t *len)
{
  *len = c->issuer.len;
  return c->issuer.p;
}

int cairn_cert_spiffe_id(const struct cairn_cert *c, struct cairn_id *out)
{
  char detail[DETAIL_MAX];

  if (!c || !out) return cairn_seterr(CAIRN_ERR_INVAL, "cert: NULL argument");
  if (c->n_uri == 0)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "certificate has no URI SAN");
  if (c->n_uri > 1)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "certificate has %zu URI SANs, an SVID must have "
                        "exactly one",
                        c->n_uri);
  if (cairn_id_parse((const char *)c->uri0.p, c->uri0.len, out) !=
      CAIRN_OK) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "URI SAN is not a valid SPIFFE ID: %s", detail);
  }
  return CAIRN_OK;
}

int cairn_cert_public_key(const struct cairn_cert *c, struct cairn_key **out)
{
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "cert: out is NULL");
  *out = NULL;
  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "cert: NULL certificate");
  if (!c->pub)
    return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                        "certificate key is not EC P-256/P-384");
  return cairn_key_dup(c->pub, out);
}

int cairn_cert_serial_hex(const struct cairn_cert *c, char *out,
                          size_t outlen)
{
  const uint8_t *p = c->serial.p;
  size_t n = c->serial.len;

  /* Minimal representation: drop leading zero octets. */
  while (n > 1 && p[0] == 0) {
    p++;
    n--;
  }
  if (!out || outlen < 2 * n + 1)
    return cairn_seterr(CAIRN_ERR_INVAL, "serial hex: buffer too small");
  cairn_hex(p, n, out);
  return CAIRN_OK;
}

const char *cairn_cert_permitted_td(const struct cairn_cert *c)
{
  return c->permitted_td;
}

size_t cairn_cert_dns_count(const struct cairn_cert *c) { return c->n_dns; }

const char *cairn_cert_dns_at(const struct cairn_cert *c, size_t i)
{
  return i < c->n_dns ? c->dns[i] : NULL;
}

int cairn_cert_equal(const struct cairn_cert *a, const struct cairn_cert *b)
{
  return a && b && a->der_len == b->der_len &&
         memcmp(a->der, b->der, a->der_len) == 0;
}

int cairn_cert_to_pem(const struct cairn_cert *c, char **pem, size_t *len)
{
  char *p = NULL;
  size_t n = 0;
  int r;

  if (!pem) return cairn_seterr(CAIRN_ERR_INVAL, "cert pem: out is NULL");
  *pem = NULL;
  if (len) *len = 0;
  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "cert pem: NULL certificate");
  if ((r = cairn_pem_append("CERTIFICATE", c->der, c->der_len, &p, &n))) {
    free(p);
    return r;
  }
  *pem = p;
  if (len) *len = n;
  return CAIRN_OK;
}

int cairn_cert_matches_key(const struct cairn_cert *c,
                           const struct cairn_key *key)
{
  return c && key && c->pub && cairn_key_public_equal(c->pub, key) == 1;
}

/* ------------------------------------------------------------------ */
/* Lists                                                               */
/* ------------------------------------------------------------------ */

int cairn_cert_list_new(struct cairn_cert_list **out)
{
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "cert list: out is NULL");
  *out = calloc(1, sizeof **out);
  return *out ? CAIRN_OK : cairn_seterr(CAIRN_ERR_NOMEM, NULL);
}

void cairn_cert_list_free(struct cairn_cert_list *l)
{
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) cairn_cert_free(l->v[i]);
  free(l->v);
  free(l);
}

size_t cairn_cert_list_count(const struct cairn_cert_list *l)
{
  return l ? l->n : 0;
}

const struct cairn_cert *cairn_cert_list_at(const struct cairn_cert_list *l,
                                            size_t i)
{
  return l && i < l->n ? l->v[i] : NULL;
}

int cairn_cert_list_push(struct cairn_cert_list *l, struct cairn_cert *c)
{
  if (!l || !c) return cairn_seterr(CAIRN_ERR_INVAL, "cert list: NULL");
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 4;
    struct cairn_cert **nv = realloc(l->v, ncap * sizeof *nv);
    if (!nv) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    l->v = nv;
    l->cap = ncap;
  }
  l->v[l->n++] = c;
  return CAIRN_OK;
}

int cairn_cert_list_push_copy(struct cairn_cert_list *l,
                              const struct cairn_cert *c)
{
  struct cairn_cert *d;
  int r;

  if (!l) return cairn_seterr(CAIRN_ERR_INVAL, "cert list: NULL");
  if ((r = cairn_cert_dup(c, &d))) return r;
  if ((r = cairn_cert_list_push(l, d))) cairn_cert_free(d);
  return r;
}

int cairn_cert_list_parse_pem(const char *pem, size_t len,
                              struct cairn_cert_list **out)
{
  struct cairn_cert_list *l = NULL;
  struct cairn_cert *c = NULL;
  char label[CAIRN_PEM_LABEL_MAX];
  uint8_t *der = NULL;
  size_t off = 0, derlen;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "cert list: out is NULL");
  *out = NULL;
  if (!pem) return cairn_seterr(CAIRN_ERR_INVAL, "cert list: NULL input");
  if ((r = cairn_cert_list_new(&l))) goto out;
  for (;;) {
    r = cairn_pem_next(pem, len, &off, label, &der, &derlen, CAIRN_CERT_MAX);
    if (r == CAIRN_ERR_NOT_FOUND) break;
    if (r != CAIRN_OK) goto out;
    if (strcmp(label, "CERTIFICATE") != 0) {
      r = cairn_seterr(CAIRN_ERR_PARSE,
                       "PEM block '%s' where a CERTIFICATE was expected",
                       label);
      goto out;
    }
    if (l->n >= MAX_LIST_CERTS) {
      r = cairn_seterr(CAIRN_ERR_TOO_BIG, "more than %d certificates",
                       MAX_LIST_CERTS);
      goto out;
    }
    if ((r = cairn_cert_parse_der(der, derlen, &c))) goto out;
    CAIRN_SAFEFREE(&der);
    if ((r = cairn_cert_list_push(l, c))) goto out;
    c = NULL; /* owned by the list */
  }
  if (l->n == 0) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "no CERTIFICATE block found");
    goto out;
  }
  *out = l;
  l = NULL;
  r = CAIRN_OK;
out:
  free(der);
  cairn_cert_free(c);
  cairn_cert_list_free(l);
  return r;
}

int cairn_cert_list_parse_der(const uint8_t *der, size_t len,
                              struct cairn_cert_list **out)
{
  struct cairn_cert_list *l = NULL;
  struct cairn_cert *c = NULL;
  struct cairn_rd rd;
  struct cspan tlv;
  uint8_t tag;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "cert list: out is NULL");
  *out = NULL;
  if (!der || len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "certificate chain: empty input");
  if ((r = cairn_cert_list_new(&l))) goto out;
  cairn_rd_init(&rd, der, len);
  while (cairn_rd_left(&rd)) {
    if (l->n >= MAX_LIST_CERTS) {
      r = cairn_seterr(CAIRN_ERR_TOO_BIG, "more than %d certificates",
                       MAX_LIST_CERTS);
      goto out;
    }
    if ((r = rd_any(&rd, &tag, &tlv, NULL, "certificate chain"))) goto out;
    if (tag != T_SEQ) {
      r = cairn_seterr(CAIRN_ERR_PARSE,
                       "certificate chain: element %zu is not a SEQUENCE",
                       l->n);
      goto out;
    }
    if ((r = cairn_cert_parse_der(tlv.p, tlv.len, &c))) goto out;
    if ((r = cairn_cert_list_push(l, c))) goto out;
    c = NULL; /* owned by the list */
  }
  *out = l;
  l = NULL;
  r = CAIRN_OK;
out:
  cairn_cert_free(c);
  cairn_cert_list_free(l);
  return r;
}

int cairn_cert_list_to_pem(const struct cairn_cert_list *l, char **pem,
                           size_t *len)
{
  char *p = NULL;
  size_t n = 0;
  int r;

  if (!pem) return cairn_seterr(CAIRN_ERR_INVAL, "cert list: out is NULL");
  *pem = NULL;
  if (len) *len = 0;
  if (!l || l->n == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "cert list: empty list");
  for (size_t i = 0; i < l->n; i++) {
    r = cairn_pem_append("CERTIFICATE", l->v[i]->der, l->v[i]->der_len, &p,
                         &n);
    if (r) {
      free(p);
      return r;
    }
  }
  *pem = p;
  if (len) *len = n;
  return CAIRN_OK;
}

int cairn_cert_list_to_der(const struct cairn_cert_list *l, uint8_t **der,
                           size_t *len)
{
  size_t total = 0, off = 0, n = l ? l->n : 0;

  if (!der || !len)
    return cairn_seterr(CAIRN_ERR_INVAL, "cert list: out is NULL");
  *der = NULL;
  *len = 0;
  for (size_t i = 0; i < n; i++) total += l->v[i]->der_len;
  if (!(*der = malloc(total ? total : 1)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  for (size_t i = 0; i < n; i++) {
    memcpy(*der + off, l->v[i]->der, l->v[i]->der_len);
    off += l->v[i]->der_len;
  }
  *len = total;
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Signatures                                                          */
/* ------------------------------------------------------------------ */

/* Verifies c's signature over its TBSCertificate with key. */
static int cert_sig_check(const struct cairn_cert *c,
                          const struct cairn_key *key)
{
  uint8_t digest[WC_MAX_DIGEST_SIZE];
  int dlen, ret, res = 0;

  if (!key || c->sig_hash == WC_HASH_TYPE_NONE)
    return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                        "not an ECDSA signature with a P-256/P-384 key");
  dlen = wc_HashGetDigestSize(c->sig_hash);
  if (dlen <= 0 || (size_t)dlen > sizeof digest ||
      c->tbs.len > 0xffffffffu || c->sig.len > 0xffffffffu)
    return cairn_seterr(CAIRN_ERR_INTERNAL, "digest size");
  ret = wc_Hash(c->sig_hash, c->tbs.p, (word32)c->tbs.len, digest,
                (word32)dlen);
  if (ret != 0) return cairn__wolf_err(ret, "hashing TBSCertificate");
  ret = wc_ecc_verify_hash(c->sig.p, (word32)c->sig.len, digest,
                           (word32)dlen, &res, cairn__key_ecc(key));
  if (ret != 0 || res != 1)
    return cairn_seterr(CAIRN_ERR_VERIFY, "certificate signature invalid");
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* NameConstraints matching (RFC 5280 4.2.1.10)                        */
/* ------------------------------------------------------------------ */

/* URI constraints name a host ("example.org": exactly that host) or a
 * domain (".example.org": any host below it). */
static int nc_uri_match(const char *host, const char *base)
{
  size_t hl = strlen(host), bl = strlen(base);

  if (base[0] == '.')
    return hl > bl && strcasecmp(host + hl - bl, base) == 0;
  return strcasecmp(host, base) == 0;
}

/* DNS constraints: "example.org" matches itself and every name below it;
 * ".example.org" only names below it. */
static int nc_dns_match(const char *name, const char *base)
{
  size_t nl = strlen(name), bl = strlen(base);

  if (base[0] == '.')
    return nl > bl && strcasecmp(name + nl - bl, base) == 0;
  if (nl == bl) return strcasecmp(name, base) == 0;
  return nl > bl && name[nl - bl - 1] == '.' &&
         strcasecmp(name + nl - bl, base) == 0;
}

/* Checks one name against the constraints of type `type` of ca. Returns
 * 1 when allowed. */
static int nc_allows(const struct cairn_cert *ca, uint8_t type,
                     const char *name)
{
  int permitted_any = 0, permitted_hit = 0;

  for (size_t i = 0; i < ca->n_nc; i++) {
    const struct nc_name *e = &ca->nc[i];
    int m;
    if (e->type != type) continue;
    m = type == T_GN_URI ? nc_uri_match(name, e->name)
                         : nc_dns_match(name, e->name);
    if (e->excluded && m) return 0;
    if (!e->excluded) {
      permitted_any = 1;
      permitted_hit |= m;
    }
  }
  return !permitted_any || permitted_hit;
}

/* Applies ca's NameConstraints to the subject's SPIFFE ID (its trust
 * domain is the URI host) and DNS SANs. what names ca in the detail. */
static int nc_check(const struct cairn_cert *ca, const char *what,
                    const struct cairn_id *id, const struct cairn_cert *subj)
{
  char td[CAIRN_TD_MAX + 1];

  if (ca->n_nc == 0 && !ca->nc_unsupported) return CAIRN_OK;
  if (ca->nc_unsupported)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "%s has NameConstraints of a form Cairn cannot "
                        "enforce (only URI and DNS subtrees are supported)",
                        what);
  cairn_id_td(id, td);
  if (!nc_allows(ca, T_GN_URI, td))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "%s is outside the NameConstraints of %s "
                        "(permitted: %s)",
                        id->str, what,
                        ca->permitted_td ? ca->permitted_td : "-");
  for (size_t i = 0; subj && i < subj->n_dns; i++)
    if (!nc_allows(ca, T_GN_DNS, subj->dns[i]))
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "DNS name %s is outside the NameConstraints of %s",
                          subj->dns[i], what);
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Issuing                                                             */
/* ------------------------------------------------------------------ */

static int put_tlv(struct cairn_buf *b, uint8_t tag, const void *v, size_t n)
{
  uint8_t h[6];
  size_t hl = 0;
  int r;

  h[hl++] = tag;
  if (n < 0x80) {
    h[hl++] = (uint8_t)n;
  } else if (n <= 0xff) {
    h[hl++] = 0x81;
    h[hl++] = (uint8_t)n;
  } else if (n <= 0xffff) {
    h[hl++] = 0x82;
    h[hl++] = (uint8_t)(n >> 8);
    h[hl++] = (uint8_t)n;
  } else if (n <= 0xffffff) {
    h[hl++] = 0x83;
    h[hl++] = (uint8_t)(n >> 16);
    h[hl++] = (uint8_t)(n >> 8);
    h[hl++] = (uint8_t)n;
  } else {
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "DER element too large");
  }
  if ((r = cairn_buf_append(b, h, hl))) return r;
  return n ? cairn_buf_append(b, v, n) : CAIRN_OK;
}

/* Appends Extension ::= SEQUENCE { id-ce-n, critical TRUE, OCTET STRING
 * { value } } to b. */
static int put_ext(struct cairn_buf *b, uint8_t ce, const struct cairn_buf *v)
{
  static const uint8_t crit[] = {T_BOOLEAN, 0x01, 0xff};
  uint8_t oid[] = {T_OID, 0x03, 0x55, 0x1d, ce};
  struct cairn_buf e;
  int r;

  cairn_buf_init(&e, CAIRN_CERT_MAX);
  if (!(r = cairn_buf_append(&e, oid, sizeof oid)) &&
      !(r = cairn_buf_append(&e, crit, sizeof crit)) &&
      !(r = put_tlv(&e, T_OCTETSTRING, v->data, v->len)))
    r = put_tlv(b, T_SEQ, e.data, e.len);
  cairn_buf_cleanup(&e);
  return r;
}

/* basicConstraints, always critical (wolfSSL 5.5.4 cannot mark it). */
static int put_bc(struct cairn_buf *exts, int is_ca, int path_len)
{
  static const uint8_t ca_true[] = {T_BOOLEAN, 0x01, 0xff};
  struct cairn_buf in, seq;
  int r;

  cairn_buf_init(&in, 64);
  cairn_buf_init(&seq, 64);
  r = CAIRN_OK;
  if (is_ca) {
    r = cairn_buf_append(&in, ca_true, sizeof ca_true);
    if (!r && path_len >= 0) {
      uint8_t pl[2];
      size_t n = 0;
      if (path_len >= 0x80) pl[n++] = 0;
      pl[n++] = (uint8_t)path_len;
      r = put_tlv(&in, T_INTEGER, pl, n);
    }
  }
  if (!r && !(r = put_tlv(&seq, T_SEQ, in.data, in.len)))
    r = put_ext(exts, CE_BC, &seq);
  cairn_buf_cleanup(&in);
  cairn_buf_cleanup(&seq);
  return r;
}

/* NameConstraints { permittedSubtrees [0] { { uri: host } } }, critical. */
static int put_nc(struct cairn_buf *exts, const char *host)
{
  struct cairn_buf a, b;
  int r;

  cairn_buf_init(&a, 1024);
  cairn_buf_init(&b, 1024);
  if (!(r = put_tlv(&a, T_GN_URI, host, strlen(host))) &&
      !(r = put_tlv(&b, T_SEQ, a.data, a.len))) {
    cairn_buf_reset(&a);
    if (!(r = put_tlv(&a, T_CTX0, b.data, b.len))) {
      cairn_buf_reset(&b);
      if (!(r = put_tlv(&b, T_SEQ, a.data, a.len)))
        r = put_ext(exts, CE_NC, &b);
    }
  }
  cairn_buf_cleanup(&a);
  cairn_buf_cleanup(&b);
  return r;
}

/* Rewrites the TBSCertificate wolfSSL made: optionally replaces the issuer
 * Name with issuer_name (byte-exact) and appends the Extension TLVs in
 * exts to the [3] extensions. */
static int tbs_rewrite(const uint8_t *tbs, size_t tbslen,
                       const struct cspan *issuer_name,
                       const struct cairn_buf *exts, struct cairn_buf *out)
{
  struct cairn_rd r, f;
  struct cspan body, tlv, val;
  struct cairn_buf nb, xs, x3;
  uint8_t tag;
  int ret, field = 0, first = 1, did_ext = 0;

  cairn_buf_init(&nb, CAIRN_CERT_MAX);
  cairn_buf_init(&xs, CAIRN_CERT_MAX);
  cairn_buf_init(&x3, CAIRN_CERT_MAX);
  cairn_rd_init(&r, tbs, tbslen);
  if ((ret = rd_tlv(&r, T_SEQ, NULL, &body, "TBS from wolfSSL"))) goto out;
  if (cairn_rd_left(&r)) {
    ret = cairn_seterr(CAIRN_ERR_INTERNAL, "wolfSSL TBS has trailing data");
    goto out;
  }
  cairn_rd_init(&f, body.p, body.len);
  while (cairn_rd_left(&f)) {
    if ((ret = rd_any(&f, &tag, &tlv, &val, "TBS field"))) goto out;
    if (first && tag == T_CTX0) {
      first = 0;
      ret = cairn_buf_append(&nb, tlv.p, tlv.len);
    } else if (tag == T_CTX3) {
      struct cairn_rd e;
      struct cspan seq;
      cairn_rd_init(&e, val.p, val.len);
      if ((ret = rd_tlv(&e, T_SEQ, NULL, &seq, "TBS extensions"))) goto out;
      if (!(ret = cairn_buf_append(&xs, seq.p, seq.len)) &&
          !(ret = cairn_buf_append(&xs, exts->data, exts->len)) &&
          !(ret = put_tlv(&x3, T_SEQ, xs.data, xs.len)))
        ret = put_tlv(&nb, T_CTX3, x3.data, x3.len);
      did_ext = 1;
    } else {
      first = 0;
      if (field == 2 && issuer_name)
        ret = cairn_buf_append(&nb, issuer_name->p, issuer_name->len);
      else
        ret = cairn_buf_append(&nb, tlv.p, tlv.len);
      field++;
    }
    if (ret) goto out;
  }
  if (!did_ext && exts->len) {
    if ((ret = put_tlv(&x3, T_SEQ, exts->data, exts->len)) ||
        (ret = put_tlv(&xs, T_CTX3, x3.data, x3.len)) ||
        (ret = cairn_buf_append(&nb, xs.data, xs.len)))
      goto out;
  }
  ret = put_tlv(out, T_SEQ, nb.data, nb.len);
out:
  cairn_buf_cleanup(&nb);
  cairn_buf_cleanup(&xs);
  cairn_buf_cleanup(&x3);
  return ret;
}

static int set_key_usage(Cert *c, unsigned ku)
{
  static const char *const names[] = {
      "digitalSignature", "nonRepudiation", "keyEncipherment",
      "dataEncipherment", "keyAgreement",   "keyCertSign",
      "cRLSign",          "encipherOnly",   "decipherOnly"};
  char s[200] = "";
  size_t n = 0;
  int ret;

  for (unsigned i = 0; i < 9; i++)
    if (ku & (1u << i))
      n += (size_t)snprintf(s + n, sizeof s - n, "%s%s", n ? "," : "",
                            names[i]);
  if (!s[0]) return CAIRN_OK;
  ret = wc_SetKeyUsage(c, s);
  return ret ? cairn__wolf_err(ret, "setting keyUsage") : CAIRN_OK;
}

static int random_serial(WC_RNG *rng, Cert *c)
{
  /* 127 random bits: top bit clear so the INTEGER is positive without a
   * pad octet, first octet non-zero so it is always 16 octets long. */
  for (int tries = 0; tries < 64; tries++) {
    int ret = wc_RNG_GenerateBlock(rng, c->serial, 16);
    if (ret) return cairn__wolf_err(ret, "generating a serial number");
    c->serial[0] &= 0x7f;
    if (c->serial[0] != 0) {
      c->serialSz = 16;
      return CAIRN_OK;
    }
  }
  return cairn_seterr(CAIRN_ERR_CRYPTO, "RNG keeps returning zero bytes");
}

int cairn__cert_encode(const struct cairn__cert_spec *s,
                       const struct cairn_key *subject_pub,
                       const struct cairn_key *issuer_key,
                       const struct cairn_cert *issuer,
                       struct cairn_cert **out)
{
  struct cairn_buf gn, san, exts, tbs;
  struct cairn_cert *cert = NULL;
  Cert *c = NULL;
  WC_RNG rng;
  uint8_t *der = NULL, akid[20];
  int rng_ok = 0, ret, n, r = CAIRN_ERR_INTERNAL;

  cairn_buf_init(&gn, CTC_MAX_ALT_SIZE);
  cairn_buf_init(&san, CTC_MAX_ALT_SIZE);
  cairn_buf_init(&exts, CAIRN_CERT_MAX);
  cairn_buf_init(&tbs, CAIRN_CERT_MAX);
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "cert encode: out is NULL");
  *out = NULL;
  if (!s || !subject_pub || !issuer_key)
    return cairn_seterr(CAIRN_ERR_INVAL, "cert encode: NULL argument");
  if (!cairn_key_has_private(issuer_key))
    return cairn_seterr(CAIRN_ERR_INVAL, "issuer key has no private part");
  if (s->common_name && strlen(s->common_name) >= CTC_NAME_SIZE)
    return cairn_seterr(CAIRN_ERR_INVAL, "common name longer than %d bytes",
                        CTC_NAME_SIZE - 1);
  if (s->path_len > 255)
    return cairn_seterr(CAIRN_ERR_INVAL, "path_len larger than 255");

  if (!(c = wc_CertNew(NULL)) || !(der = malloc(CAIRN_CERT_MAX))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  if ((r = cairn__rng_init(&rng))) goto out;
  rng_ok = 1;

  c->version = 2; /* v3 */
  c->sigType = cairn_key_get_type(issuer_key) == CAIRN_KEY_EC_P384
                   ? CTC_SHA384wECDSA
                   : CTC_SHA256wECDSA;
  c->selfSigned = 1; /* issuer Name replaced below when issuer != NULL */
  c->isCA = 0;       /* our own critical basicConstraints is spliced in */
  c->basicConstSet = 0;
  memcpy(c->subject.org, "SPIFFE", sizeof "SPIFFE");
  c->subject.orgEnc = CTC_UTF8;
  if (s->common_name) {
    /* Length checked above: fits with its NUL. */
    memcpy(c->subject.commonName, s->common_name,
           strlen(s->common_name) + 1);
    c->subject.commonNameEnc = CTC_UTF8;
  }
  if ((r = random_serial(&rng, c))) goto out;
  if ((r = encode_time(s->not_before, c->beforeDate, &c->beforeDateSz)) ||
      (r = encode_time(s->not_after, c->afterDate, &c->afterDateSz)))
    goto out;
  if ((r = set_key_usage(c, s->key_usage))) goto out;
  if (s->eku_tls && (ret = wc_SetExtKeyUsage(c, "serverAuth,clientAuth"))) {
    r = cairn__wolf_err(ret, "setting extKeyUsage");
    goto out;
  }

  /* subjectAltName: URIs then DNS names. */
  for (size_t i = 0; i < s->n_uris; i++)
    if ((r = put_tlv(&gn, T_GN_URI, s->uris[i], strlen(s->uris[i]))))
      goto out;
  for (size_t i = 0; i < s->n_dns; i++)
    if ((r = put_tlv(&gn, T_GN_DNS, s->dns[i], strlen(s->dns[i])))) goto out;
  if (gn.len) {
    if ((r = put_tlv(&san, T_SEQ, gn.data, gn.len))) goto out;
    memcpy(c->altNames, san.data, san.len);
    c->altNamesSz = (int)san.len;
    c->altNamesCrit = 0;
  }

  /* Key identifiers: SHA-1 of the public point (RFC 5280 method 1); the
   * AKID repeats the issuer's SKID so path builders can match them. */
  if (s->skid_len) {
    if (s->skid_len > CTC_MAX_SKID_SIZE) {
      r = cairn_seterr(CAIRN_ERR_INVAL, "SKID too long");
      goto out;
    }
    memcpy(c->skid, s->skid, s->skid_len);
    c->skidSz = (int)s->skid_len;
  } else {
    if ((r = cairn_key_id_sha1(subject_pub, c->skid))) goto out;
    c->skidSz = 20;
  }
  if (s->akid_len) {
    if (s->akid_len > CTC_MAX_AKID_SIZE) {
      r = cairn_seterr(CAIRN_ERR_INVAL, "AKID too long");
      goto out;
    }
    memcpy(c->akid, s->akid, s->akid_len);
    c->akidSz = (int)s->akid_len;
  } else if (!issuer && s->skid_len) {
    memcpy(c->akid, c->skid, (size_t)c->skidSz);
    c->akidSz = c->skidSz;
  } else if (issuer && issuer->skid.len) {
    if (issuer->skid.len > CTC_MAX_AKID_SIZE) {
      r = cairn_seterr(CAIRN_ERR_UNSUPPORTED, "issuer SKID too long");
      goto out;
    }
    memcpy(c->akid, issuer->skid.p, issuer->skid.len);
    c->akidSz = (int)issuer->skid.len;
  } else {
    if ((r = cairn_key_id_sha1(issuer_key, akid))) goto out;
    memcpy(c->akid, akid, sizeof akid);
    c->akidSz = sizeof akid;
  }
#ifdef WOLFSSL_AKID_NAME
  c->rawAkid = 0; /* akid holds a bare keyIdentifier */
#endif

  ret = wc_MakeCert_ex(c, der, CAIRN_CERT_MAX, ECC_TYPE,
                       cairn__key_ecc(subject_pub), &rng);
  if (ret < 0) {
    r = cairn__wolf_err(ret, "encoding the certificate");
    goto out;
  }
  if ((r = put_bc(&exts, s->is_ca, s->is_ca ? s->path_len : -1))) goto out;
  if (s->permitted_td && (r = put_nc(&exts, s->permitted_td))) goto out;
  if (s->extra_ext_len &&
      (r = cairn_buf_append(&exts, s->extra_ext, s->extra_ext_len)))
    goto out;
  if ((r = tbs_rewrite(der, (size_t)c->bodySz, issuer ? &issuer->subject : NULL,
                       &exts, &tbs)))
    goto out;
  if (tbs.len > CAIRN_CERT_MAX - 200) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG, "certificate too large");
    goto out;
  }
  memcpy(der, tbs.data, tbs.len);
  n = wc_SignCert_ex((int)tbs.len, c->sigType, der, CAIRN_CERT_MAX, ECC_TYPE,
                     cairn__key_ecc(issuer_key), &rng);
  if (n < 0) {
    r = cairn__wolf_err(n, "signing the certificate");
    goto out;
  }
  if ((r = cairn_cert_parse_der(der, (size_t)n, &cert))) goto out;
  /* Sign-then-verify: never hand out a certificate that does not check
   * against the issuer key (catches encoder and key faults). */
  if ((r = cert_sig_check(cert, issuer_key))) {
    r = cairn_seterr(CAIRN_ERR_INTERNAL,
                     "issued certificate does not verify with the issuer key");
    goto out;
  }
  *out = cert;
  cert = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_cert_free(cert);
  if (rng_ok) wc_FreeRng(&rng);
  wc_CertFree(c);
  free(der);
  cairn_buf_cleanup(&gn);
  cairn_buf_cleanup(&san);
  cairn_buf_cleanup(&exts);
  cairn_buf_cleanup(&tbs);
  return r;
}

/* DNS SANs on issued leaves: LDH labels, optional leading "*." */
static int dns_name_ok(const char *s)
{
  size_t n = strlen(s), label = 0;

  if (n == 0 || n > 253) return 0;
  if (s[0] == '*') {
    if (s[1] != '.' || n < 3) return 0;
    s += 2;
  }
  for (; *s; s++) {
    char ch = *s;
    if (ch == '.') {
      if (label == 0 || s[-1] == '-') return 0;
      label = 0;
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
               (ch >= '0' && ch <= '9') || (ch == '-' && label > 0)) {
      if (++label > 63) return 0;
    } else {
      return 0;
    }
  }
  return label > 0 && s[-1] != '-';
}

/* Validity check used for issuers and chain members. */
static int valid_at(const struct cairn_cert *c, time_t now, const char *what)
{
  char t[64];

  if (now < c->not_before)
    return cairn_seterr(CAIRN_ERR_NOT_YET_VALID, "%s is not valid before %s",
                        what, cairn_time_format(c->not_before, t, sizeof t));
  if (now > c->not_after)
    return cairn_seterr(CAIRN_ERR_EXPIRED, "%s expired at %s", what,
                        cairn_time_format(c->not_after, t, sizeof t));
  return CAIRN_OK;
}

int cairn_cert_issue(const struct cairn_cert_template *t,
                     const struct cairn_key *subject_pub,
                     const struct cairn_key *issuer_key,
                     const struct cairn_cert *issuer,
                     struct cairn_cert **out)
{
  struct cairn__cert_spec s;
  struct cairn_id id, iss_id;
  char detail[DETAIL_MAX], td[CAIRN_TD_MAX + 1], itd[CAIRN_TD_MAX + 1];
  const char *uri;
  time_t now;
  int r;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "cert issue: out is NULL");
  *out = NULL;
  if (!t || !subject_pub || !issuer_key || !t->spiffe_id)
    return cairn_seterr(CAIRN_ERR_INVAL, "cert issue: NULL argument");
  if (t->kind != CAIRN_CERT_ROOT && t->kind != CAIRN_CERT_INTERMEDIATE &&
      t->kind != CAIRN_CERT_LEAF)
    return cairn_seterr(CAIRN_ERR_INVAL, "cert issue: unknown kind %d",
                        (int)t->kind);
  if (!cairn_key_has_private(issuer_key))
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "cert issue: issuer_key has no private key");
  if ((t->kind == CAIRN_CERT_ROOT) != (issuer == NULL))
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "cert issue: a root has no issuer certificate, "
                        "every other kind needs one");
  if (t->ttl <= 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "cert issue: ttl must be > 0");
  now = t->now ? t->now : cairn_now();
  if (t->ttl > (int64_t)253402300799 - (int64_t)now)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "cert issue: ttl runs past the year 9999");
  if (cairn_id_parse_str(t->spiffe_id, &id) != CAIRN_OK) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return cairn_seterr(CAIRN_ERR_INVAL, "cert issue: spiffe_id: %s",
                        detail);
  }
  cairn_id_td(&id, td);
  if (t->kind == CAIRN_CERT_LEAF && cairn_id_is_td(&id))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "an X509-SVID leaf needs a SPIFFE ID with a path, "
                        "got %s",
                        id.str);
  if (t->kind != CAIRN_CERT_LEAF && !cairn_id_is_td(&id))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "a CA certificate's SPIFFE ID must have no path, "
                        "got %s",
                        id.str);
  if (t->kind != CAIRN_CERT_LEAF && t->n_dns)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "cert issue: DNS SANs are for leaves only");
  if (t->n_dns && !t->dns_names)
    return cairn_seterr(CAIRN_ERR_INVAL, "cert issue: dns_names is NULL");
  for (size_t i = 0; i < t->n_dns; i++)
    if (!t->dns_names[i] || !dns_name_ok(t->dns_names[i]))
      return cairn_seterr(CAIRN_ERR_INVAL, "cert issue: bad DNS name '%s'",
                          t->dns_names[i] ? t->dns_names[i] : "(null)");
  if (t->permitted_td) {
    if (t->kind == CAIRN_CERT_LEAF)
      return cairn_seterr(CAIRN_ERR_INVAL,
                          "cert issue: NameConstraints are for CAs only");
    if (cairn_td_validate(t->permitted_td) != CAIRN_OK) {
      snprintf(detail, sizeof detail, "%s", cairn_errdetail());
      return cairn_seterr(CAIRN_ERR_INVAL, "cert issue: permitted_td: %s",
                          detail);
    }
    if (strcmp(t->permitted_td, td) != 0)
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "permitted_td %s does not cover the CA's own "
                          "trust domain %s",
                          t->permitted_td, td);
  }
  if (t->kind != CAIRN_CERT_LEAF && t->path_len < -1)
    return cairn_seterr(CAIRN_ERR_INVAL, "cert issue: path_len < -1");

  memset(&s, 0, sizeof s);
  s.not_before = now - CAIRN_CERT_BACKDATE;
  s.not_after = now + (time_t)t->ttl;
  if (t->kind == CAIRN_CERT_ROOT) {
    if (cairn_key_public_equal(issuer_key, subject_pub) != 1)
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "a root must be signed by its own key: issuer_key "
                          "is not the key pair of subject_pub");
  } else {
    if (!issuer->is_ca || !(issuer->ku & CAIRN_KU_KEY_CERT_SIGN))
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "issuer certificate is not a CA with keyCertSign");
    if (!cairn_cert_matches_key(issuer, issuer_key))
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "issuer_key does not match the issuer certificate");
    if (valid_at(issuer, now, "issuer certificate") != CAIRN_OK)
      return wrap_err(CAIRN_ERR_POLICY, "cannot issue", "");
    if (t->kind == CAIRN_CERT_INTERMEDIATE && issuer->path_len == 0)
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "issuer has pathLenConstraint 0 and cannot issue "
                          "CA certificates");
    if (t->kind == CAIRN_CERT_LEAF) {
      if (cairn_cert_spiffe_id(issuer, &iss_id) != CAIRN_OK)
        return cairn_seterr(CAIRN_ERR_POLICY,
                            "issuer certificate has no single valid SPIFFE "
                            "ID");
      cairn_id_td(&iss_id, itd);
      if (strcmp(itd, td) != 0)
        return cairn_seterr(CAIRN_ERR_POLICY,
                            "%s is outside the issuer's trust domain %s",
                            id.str, itd);
    }
    if ((r = nc_check(issuer, "the issuer", &id, NULL))) return r;
    for (size_t i = 0; i < t->n_dns; i++)
      if (!nc_allows(issuer, T_GN_DNS, t->dns_names[i]))
        return cairn_seterr(CAIRN_ERR_POLICY,
                            "DNS name %s is outside the issuer's "
                            "NameConstraints",
                            t->dns_names[i]);
    if (s.not_after > issuer->not_after) s.not_after = issuer->not_after;
    if (s.not_before < issuer->not_before) s.not_before = issuer->not_before;
  }
  if (s.not_after <= s.not_before)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "validity would be empty (issuer expires too soon)");

  uri = id.str;
  s.uris = &uri;
  s.n_uris = 1;
  s.dns = t->dns_names;
  s.n_dns = t->n_dns;
  s.common_name = t->common_name;
  if (t->kind == CAIRN_CERT_LEAF) {
    s.is_ca = 0;
    s.path_len = -1;
    s.key_usage = CAIRN_KU_DIGITAL_SIGNATURE;
    s.eku_tls = 1;
  } else {
    s.is_ca = 1;
    s.path_len = t->path_len;
    s.key_usage = CAIRN_KU_KEY_CERT_SIGN | CAIRN_KU_CRL_SIGN;
    s.permitted_td = t->permitted_td;
  }
  return cairn__cert_encode(&s, subject_pub, issuer_key, issuer, out);
}

/* ------------------------------------------------------------------ */
/* Verification                                                        */
/* ------------------------------------------------------------------ */

/* Failures found while searching are ranked; the best-ranked one is
 * reported when no path succeeds. */
enum { RANK_NONE, RANK_NO_ISSUER, RANK_SIGNATURE, RANK_RULE };

struct vctx {
  const struct cairn_cert_list *chain, *roots;
  size_t n, m;           /* chain and root counts */
  time_t now;
  unsigned flags;
  const struct cairn_id *leaf_id;
  const struct cairn_cert *leaf;
  uint8_t *sigmemo;      /* n x (n + m): 0 unknown, 1 good, 2 bad */
  size_t steps;
  int aborted;
  int err_rank, err;
  char err_detail[DETAIL_MAX];
};

static const struct cairn_cert *node_cert(const struct vctx *v, size_t i)
{
  return i < v->n ? v->chain->v[i] : v->roots->v[i - v->n];
}

static void node_name(const struct vctx *v, size_t i, char *buf, size_t len)
{
  if (i == 0)
    snprintf(buf, len, "the leaf (chain[0])");
  else if (i < v->n)
    snprintf(buf, len, "intermediate chain[%zu]", i);
  else
    snprintf(buf, len, "root[%zu]", i - v->n);
}

/* Keeps the detail of the most specific failure (cairn_errdetail()). */
static void note(struct vctx *v, int rank, int err)
{
  if (rank <= v->err_rank) return;
  v->err_rank = rank;
  v->err = err;
  snprintf(v->err_detail, sizeof v->err_detail, "%s", cairn_errdetail());
}

/* Rules every issuer in the path must satisfy; cand sits at position
 * pos of the path (leaf = 0), so pos - 1 intermediates lie below it. */
static int check_issuer(struct vctx *v, size_t cand, size_t pos)
{
  const struct cairn_cert *c = node_cert(v, cand);
  char what[48];
  size_t below = pos - 1 + ((v->flags & CAIRN_VERIFY_CA_LEAF) ? 1 : 0);
  int r;

  node_name(v, cand, what, sizeof what);
  if (!c->is_ca)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "%s signed the certificate below it but is not a CA",
                        what);
  if (!(c->ku & CAIRN_KU_KEY_CERT_SIGN))
    return cairn_seterr(CAIRN_ERR_POLICY, "%s lacks keyUsage keyCertSign",
                        what);
  if (c->unknown_critical)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "%s has an unsupported critical extension", what);
  if ((r = valid_at(c, v->now, what))) return r;
  if (c->path_len >= 0 && below > (size_t)c->path_len)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "%s allows %d intermediate(s) below it (path "
                        "length), the chain has %zu",
                        what, c->path_len, below);
  return nc_check(c, what, v->leaf_id, v->leaf);
}

/* Finds an issuer for node `child` at path position pos and continues up
 * to a root. used marks chain members already in the path. */
static int find_issuer(struct vctx *v, size_t child, size_t pos,
                       uint32_t used)
{
  const struct cairn_cert *cc = node_cert(v, child);
  char cw[48], iw[48];

  if (pos >= CAIRN_CERT_CHAIN_MAX) {
    cairn_seterr(CAIRN_ERR_POLICY, "certification path longer than %d",
                 CAIRN_CERT_CHAIN_MAX);
    note(v, RANK_RULE, CAIRN_ERR_POLICY);
    return 0;
  }
  /* Roots first, then the presented intermediates in order. */
  for (size_t k = 0; k < v->m + v->n; k++) {
    size_t cand = k < v->m ? v->n + k : k - v->m;
    const struct cairn_cert *ic;
    uint8_t *memo;
    int r;

    if (cand < v->n && (cand == 0 || (used & (1u << cand)))) continue;
    ic = node_cert(v, cand);
    if (ic->subject.len != cc->issuer.len ||
        memcmp(ic->subject.p, cc->issuer.p, cc->issuer.len) != 0)
      continue;
    node_name(v, child, cw, sizeof cw);
    node_name(v, cand, iw, sizeof iw);
    if (cc->akid.len && ic->skid.len &&
        (cc->akid.len != ic->skid.len ||
         memcmp(cc->akid.p, ic->skid.p, ic->skid.len) != 0)) {
      cairn_seterr(CAIRN_ERR_UNTRUSTED,
                   "no trusted issuer for %s (its authority key ID matches "
                   "no candidate)",
                   cw);
      note(v, RANK_NO_ISSUER, CAIRN_ERR_UNTRUSTED);
      continue;
    }
    /* Only candidates that pass the cheap name and key-ID filters count:
     * each can cost a signature check and a recursion. */
    if (++v->steps > VERIFY_MAX_STEPS) {
      cairn_seterr(CAIRN_ERR_UNTRUSTED,
                   "certification path search gave up after %d candidate "
                   "issuers",
                   VERIFY_MAX_STEPS);
      v->err_rank = RANK_RULE + 1;
      v->err = CAIRN_ERR_UNTRUSTED;
      snprintf(v->err_detail, sizeof v->err_detail, "%s", cairn_errdetail());
      v->aborted = 1;
      return 0;
    }
    memo = &v->sigmemo[child * (v->n + v->m) + cand];
    if (*memo == 0) *memo = cert_sig_check(cc, ic->pub) == CAIRN_OK ? 1 : 2;
    if (*memo != 1) {
      cairn_seterr(CAIRN_ERR_VERIFY,
                   "signature of %s does not verify with the key of %s", cw,
                   iw);
      note(v, RANK_SIGNATURE, CAIRN_ERR_VERIFY);
      continue;
    }
    if ((r = check_issuer(v, cand, pos + 1))) {
      note(v, RANK_RULE, r);
      continue;
    }
    if (cand >= v->n) return 1; /* reached a trust anchor */
    if (find_issuer(v, cand, pos + 1, used | (1u << cand))) return 1;
    if (v->aborted) return 0;
  }
  if (v->err_rank == RANK_NONE) {
    node_name(v, child, cw, sizeof cw);
    cairn_seterr(CAIRN_ERR_UNTRUSTED,
                 "no issuer of %s among the roots or the chain", cw);
    note(v, RANK_NO_ISSUER, CAIRN_ERR_UNTRUSTED);
  }
  return 0;
}

/* X509-SVID rules for the certificate at position 0. */
static int check_leaf(const struct cairn_cert *leaf, unsigned flags,
                      struct cairn_id *id)
{
  int r;

  if (leaf->unknown_critical)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "leaf has an unsupported critical extension");
  r = cairn_cert_spiffe_id(leaf, id);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_seterr(CAIRN_ERR_POLICY, "leaf has no URI SAN");
  if (r) return r;
  if (flags & CAIRN_VERIFY_CA_LEAF) {
    if (!leaf->is_ca || !(leaf->ku & CAIRN_KU_KEY_CERT_SIGN))
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "certificate is not a CA with keyCertSign");
    if (!cairn_id_is_td(id))
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "CA certificate ID %s must not have a path",
                          id->str);
    return CAIRN_OK;
  }
  if (leaf->is_ca)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "leaf is a CA certificate (cA=true)");
  if (cairn_id_is_td(id))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "leaf SPIFFE ID %s has no path", id->str);
  if (!(leaf->ku & CAIRN_KU_DIGITAL_SIGNATURE))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "leaf keyUsage lacks digitalSignature");
  if (leaf->ku & (CAIRN_KU_KEY_CERT_SIGN | CAIRN_KU_CRL_SIGN))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "leaf keyUsage has keyCertSign or cRLSign");
  return CAIRN_OK;
}

int cairn_cert_verify(const struct cairn_cert_list *chain,
                      const struct cairn_cert_list *roots, const char *td,
                      time_t now, unsigned flags, struct cairn_id *id_out)
{
  struct vctx v;
  struct cairn_id id;
  char want_td[CAIRN_TD_MAX + 1], leaf_td[CAIRN_TD_MAX + 1];
  char detail[DETAIL_MAX];
  int r;

  if (!chain || chain->n == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "empty certificate chain");
  if (chain->n > CAIRN_CERT_CHAIN_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG,
                        "certificate chain has %zu certificates, at most %d "
                        "are accepted",
                        chain->n, CAIRN_CERT_CHAIN_MAX);
  if (!roots || roots->n == 0)
    return cairn_seterr(CAIRN_ERR_UNTRUSTED, "no trust anchors");
  if (flags & ~(unsigned)CAIRN_VERIFY_CA_LEAF)
    return cairn_seterr(CAIRN_ERR_INVAL, "unknown verify flags 0x%x", flags);
  if (td && cairn_td_parse(td, want_td) != CAIRN_OK) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return cairn_seterr(CAIRN_ERR_INVAL, "trust domain: %s", detail);
  }
  if (!now) now = cairn_now();

  if ((r = check_leaf(chain->v[0], flags, &id))) return r;
  if (td) {
    cairn_id_td(&id, leaf_td);
    if (strcmp(leaf_td, want_td) != 0)
      return cairn_seterr(CAIRN_ERR_UNTRUSTED,
                          "%s is not in trust domain %s", id.str, want_td);
  }
  if ((r = valid_at(chain->v[0], now, "the leaf"))) return r;

  memset(&v, 0, sizeof v);
  v.chain = chain;
  v.roots = roots;
  v.n = chain->n;
  v.m = roots->n;
  v.now = now;
  v.flags = flags;
  v.leaf_id = &id;
  v.leaf = chain->v[0];
  v.sigmemo = calloc(v.n, v.n + v.m);
  if (!v.sigmemo) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if (find_issuer(&v, 0, 0, 1u)) {
    r = CAIRN_OK;
  } else {
    r = v.err ? v.err : CAIRN_ERR_UNTRUSTED;
    cairn_seterr(r, "%s", v.err_detail[0] ? v.err_detail : "no path");
  }
  free(v.sigmemo);
  if (r == CAIRN_OK && id_out) *id_out = id;
  return r;
}
