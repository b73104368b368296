/* cairn/cert.h - X.509 certificates: parse, issue X509-SVIDs and CA
 * certificates, and verify SVID chains safely.
 *
 * Issuing follows the X509-SVID spec: exactly one URI SAN (the SPIFFE
 * ID), critical basicConstraints (CA true/false) and keyUsage, EKU
 * serverAuth+clientAuth on leaves, random 127-bit serials, SKID/AKID,
 * explicit validity with notBefore backdated CAIRN_CERT_BACKDATE seconds
 * and notAfter capped at the issuer's notAfter. Intermediates may carry a
 * critical URI NameConstraints extension permitting one trust domain.
 *
 * Verification never trusts peer-supplied intermediates through wolfSSL's
 * own chain building: cairn_cert_verify() searches a path from the leaf
 * up to one of the given roots itself (issuer DN and key identifier
 * match, signature checked with the candidate's key, every issuer CA +
 * keyCertSign, valid at now, within its pathLenConstraint and
 * NameConstraints), backtracking over look-alike candidates with a bounded
 * search, and applies the X509-SVID leaf rules and the trust-domain match.
 * See docs/library/cert.md.
 *
 * Certificates and lists are immutable after parsing and may be read (and
 * verified against) from several threads at once.
 */
#ifndef CAIRN_CERT_H
#define CAIRN_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cairn/id.h"

struct cairn_key;

#define CAIRN_CERT_MAX 16384       /* largest DER certificate accepted */
#define CAIRN_CERT_CHAIN_MAX 16    /* most certificates in one chain */
#define CAIRN_CERT_BACKDATE 10     /* seconds notBefore is backdated */

/* ---- a parsed certificate (opaque, immutable after parse) ---- */
struct cairn_cert;

/* Parses one DER certificate (copied). *out: cairn_cert_free(). */
int cairn_cert_parse_der(const uint8_t *der, size_t len,
                         struct cairn_cert **out);
void cairn_cert_free(struct cairn_cert *c);
/* New reference-free deep copy. */
int cairn_cert_dup(const struct cairn_cert *c, struct cairn_cert **out);

/* Accessors; pointers stay valid while c lives. */
const uint8_t *cairn_cert_der(const struct cairn_cert *c, size_t *len);
int cairn_cert_is_ca(const struct cairn_cert *c);
time_t cairn_cert_not_before(const struct cairn_cert *c);
time_t cairn_cert_not_after(const struct cairn_cert *c);
/* The single URI SAN as a SPIFFE ID; CAIRN_ERR_NOT_FOUND when the cert
 * has none, CAIRN_ERR_POLICY when it has more than one or it is not a
 * valid SPIFFE ID. */
int cairn_cert_spiffe_id(const struct cairn_cert *c, struct cairn_id *out);
/* Public key (*out: cairn_key_free()). */
int cairn_cert_public_key(const struct cairn_cert *c, struct cairn_key **out);
/* Serial number as lower-case hex into out (needs 2*20+1 = 41 bytes). */
int cairn_cert_serial_hex(const struct cairn_cert *c, char *out,
                          size_t outlen);
/* Permitted URI NameConstraints host of a CA cert, or NULL when none. */
const char *cairn_cert_permitted_td(const struct cairn_cert *c);
/* Number of DNS SANs and the i-th one. */
size_t cairn_cert_dns_count(const struct cairn_cert *c);
const char *cairn_cert_dns_at(const struct cairn_cert *c, size_t i);
/* keyUsage bits (RFC 5280 numbering: bit n is 1 << n); 0 when the
 * certificate has no keyUsage extension. */
#define CAIRN_KU_DIGITAL_SIGNATURE 0x001u
#define CAIRN_KU_NON_REPUDIATION 0x002u
#define CAIRN_KU_KEY_ENCIPHERMENT 0x004u
#define CAIRN_KU_DATA_ENCIPHERMENT 0x008u
#define CAIRN_KU_KEY_AGREEMENT 0x010u
#define CAIRN_KU_KEY_CERT_SIGN 0x020u
#define CAIRN_KU_CRL_SIGN 0x040u
#define CAIRN_KU_ENCIPHER_ONLY 0x080u
#define CAIRN_KU_DECIPHER_ONLY 0x100u
unsigned cairn_cert_key_usage(const struct cairn_cert *c);
/* extKeyUsage purposes; 0 when the certificate has no EKU extension. */
#define CAIRN_EKU_SERVER_AUTH 0x1u
#define CAIRN_EKU_CLIENT_AUTH 0x2u
#define CAIRN_EKU_ANY 0x4u
#define CAIRN_EKU_OTHER 0x8u /* at least one purpose not listed above */
unsigned cairn_cert_ext_key_usage(const struct cairn_cert *c);
/* pathLenConstraint of a CA, or -1 when absent. */
int cairn_cert_path_len(const struct cairn_cert *c);
/* Number of URI SANs (an X509-SVID has exactly one). */
size_t cairn_cert_uri_count(const struct cairn_cert *c);
/* Subject / authority key identifier bytes (NULL, *len = 0 when absent). */
const uint8_t *cairn_cert_skid(const struct cairn_cert *c, size_t *len);
const uint8_t *cairn_cert_akid(const struct cairn_cert *c, size_t *len);
/* DER of the subject and issuer Names (byte-exact, as signed). */
const uint8_t *cairn_cert_subject_der(const struct cairn_cert *c,
                                      size_t *len);
const uint8_t *cairn_cert_issuer_der(const struct cairn_cert *c,
                                     size_t *len);
/* 1 when both hold the same DER bytes. */
int cairn_cert_equal(const struct cairn_cert *a, const struct cairn_cert *b);
/* PEM "CERTIFICATE" of this cert (NUL-terminated; free()). */
int cairn_cert_to_pem(const struct cairn_cert *c, char **pem, size_t *len);

/* ---- an ordered list of certificates (owns its certs) ---- */
struct cairn_cert_list;

int cairn_cert_list_new(struct cairn_cert_list **out);
void cairn_cert_list_free(struct cairn_cert_list *l);
size_t cairn_cert_list_count(const struct cairn_cert_list *l);
const struct cairn_cert *cairn_cert_list_at(const struct cairn_cert_list *l,
                                            size_t i);
/* Takes ownership of c on success only. */
int cairn_cert_list_push(struct cairn_cert_list *l, struct cairn_cert *c);
/* Appends a deep copy. */
int cairn_cert_list_push_copy(struct cairn_cert_list *l,
                              const struct cairn_cert *c);
/* Parses every "CERTIFICATE" block of a PEM text, in order (at most
 * CAIRN_CERT_CHAIN_MAX * 4 certificates); other block types are an
 * error; no certificate at all is CAIRN_ERR_PARSE. */
int cairn_cert_list_parse_pem(const char *pem, size_t len,
                              struct cairn_cert_list **out);
/* Parses concatenated DER certificates (as in a TLS chain). */
int cairn_cert_list_parse_der(const uint8_t *der, size_t len,
                              struct cairn_cert_list **out);
/* All certificates as concatenated PEM (free()). */
int cairn_cert_list_to_pem(const struct cairn_cert_list *l, char **pem,
                           size_t *len);
/* All certificates as concatenated DER, in order (free()); a NULL or
 * empty list gives a zero-length, non-NULL buffer. */
int cairn_cert_list_to_der(const struct cairn_cert_list *l, uint8_t **der,
                           size_t *len);

/* ---- issuing ---- */
enum cairn_cert_kind {
  CAIRN_CERT_ROOT = 1,         /* self-signed CA */
  CAIRN_CERT_INTERMEDIATE = 2, /* CA signed by issuer */
  CAIRN_CERT_LEAF = 3          /* X509-SVID signed by issuer */
};

struct cairn_cert_template {
  enum cairn_cert_kind kind;
  /* Leaf: the workload SPIFFE ID (must have a path). CA: the trust domain
   * ID "spiffe://td" (must have no path). */
  const char *spiffe_id;
  /* Optional DNS SANs (leaves only); NULL/0 for none. */
  const char *const *dns_names;
  size_t n_dns;
  /* Optional subject CN (leaves: SPIRE puts the first DNS name there);
   * subject is always O=SPIFFE plus this. NULL for none. */
  const char *common_name;
  /* Validity: notBefore = now - CAIRN_CERT_BACKDATE, notAfter = now + ttl
   * capped at the issuer's notAfter. now == 0 means cairn_now(). */
  time_t now;
  int64_t ttl;
  /* CA only: permitted URI NameConstraints trust domain (bare name) or
   * NULL for none; path_len >= 0 sets pathLenConstraint, -1 omits it. */
  const char *permitted_td;
  int path_len;
};

/* Issues a certificate for subject_pub signed by issuer_key. issuer is the
 * issuer's certificate (NULL for CAIRN_CERT_ROOT, where issuer_key must
 * be the key pair of subject_pub). Refuses (CAIRN_ERR_POLICY) an issuer
 * that is not a CA, a leaf ID outside the issuer's trust domain or
 * NameConstraints, a ttl <= 0, or an issuer already expired at now.
 * *out: cairn_cert_free(). */
int cairn_cert_issue(const struct cairn_cert_template *t,
                     const struct cairn_key *subject_pub,
                     const struct cairn_key *issuer_key,
                     const struct cairn_cert *issuer,
                     struct cairn_cert **out);

/* ---- verification ---- */
enum {
  /* Accept a CA certificate at position 0 (verifying an intermediate CA
   * chain instead of an X509-SVID leaf); leaf SVID rules then become the
   * CA SVID rules (no path). */
  CAIRN_VERIFY_CA_LEAF = 1 << 0
};

/* Verifies chain (position 0 = leaf, then intermediates in any order)
 * against roots (trust anchors, normally one bundle's x509 authorities)
 * at time now (0 = cairn_now()). td, when non-NULL, is the trust domain
 * the leaf ID must belong to. Checks: signatures along a path to a root,
 * validity of every certificate at now, CA + keyCertSign on every issuer,
 * X509-SVID leaf rules (one URI SAN, valid ID with a path, CA false,
 * digitalSignature, no keyCertSign/cRLSign), NameConstraints permitted
 * trust domains on every CA in the path, and td. On success *id_out (if
 * non-NULL) receives the leaf's SPIFFE ID. Errors: CAIRN_ERR_UNTRUSTED
 * (no path to a root), CAIRN_ERR_VERIFY (bad signature),
 * CAIRN_ERR_EXPIRED, CAIRN_ERR_NOT_YET_VALID, CAIRN_ERR_POLICY. */
int cairn_cert_verify(const struct cairn_cert_list *chain,
                      const struct cairn_cert_list *roots, const char *td,
                      time_t now, unsigned flags, struct cairn_id *id_out);

/* 1 when key is the key pair / public key of cert's subject. */
int cairn_cert_matches_key(const struct cairn_cert *c,
                           const struct cairn_key *key);

#endif
