/* cairn/bundle.h - SPIFFE trust bundles for one trust domain.
 *
 * A bundle holds the X.509 authorities (CA certificates) and the JWT
 * signing keys (kid -> public key) of one trust domain, plus the SPIFFE
 * members spiffe_sequence and spiffe_refresh_hint. It reads and writes the
 * SPIFFE bundle JSON (a JWKS with use "x509-svid" / "jwt-svid") and PEM
 * sets. The JSON reader rejects duplicate object keys, skips keys with an
 * unknown kty or use (as the spec says), and rejects x509-svid entries
 * whose x5c does not hold exactly one certificate.
 */
#ifndef CAIRN_BUNDLE_H
#define CAIRN_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

struct cairn_cert;
struct cairn_cert_list;
struct cairn_key;

#define CAIRN_BUNDLE_JSON_MAX (1024 * 1024)  /* largest JSON accepted */
#define CAIRN_BUNDLE_KEYS_MAX 1024           /* most keys in one bundle */
#define CAIRN_JWT_KID_MAX 128                /* longest kid accepted */

struct cairn_bundle;

/* New empty bundle for trust domain td (validated bare name). Sequence 0,
 * refresh hint 0 (= not set). *out: cairn_bundle_free(). */
int cairn_bundle_new(const char *td, struct cairn_bundle **out);
void cairn_bundle_free(struct cairn_bundle *b);
int cairn_bundle_dup(const struct cairn_bundle *b, struct cairn_bundle **out);

const char *cairn_bundle_td(const struct cairn_bundle *b);
uint64_t cairn_bundle_sequence(const struct cairn_bundle *b);
void cairn_bundle_set_sequence(struct cairn_bundle *b, uint64_t seq);
int64_t cairn_bundle_refresh_hint(const struct cairn_bundle *b);
void cairn_bundle_set_refresh_hint(struct cairn_bundle *b, int64_t seconds);

/* X.509 authorities. add copies the cert; adding one already present is a
 * no-op returning CAIRN_OK; a non-CA cert is CAIRN_ERR_POLICY. */
int cairn_bundle_add_x509(struct cairn_bundle *b, const struct cairn_cert *ca);
/* CAIRN_ERR_NOT_FOUND when absent. */
int cairn_bundle_remove_x509(struct cairn_bundle *b,
                             const struct cairn_cert *ca);
/* The authorities as a list usable as roots for cairn_cert_verify(). */
const struct cairn_cert_list *cairn_bundle_x509(const struct cairn_bundle *b);

/* JWT keys. add copies the public key; the same kid with the same key is a
 * no-op, the same kid with another key is CAIRN_ERR_EXISTS. */
int cairn_bundle_add_jwt_key(struct cairn_bundle *b, const char *kid,
                             const struct cairn_key *pub);
int cairn_bundle_remove_jwt_key(struct cairn_bundle *b, const char *kid);
size_t cairn_bundle_jwt_count(const struct cairn_bundle *b);
/* i-th key; *kid (if non-NULL) receives its kid. */
const struct cairn_key *cairn_bundle_jwt_at(const struct cairn_bundle *b,
                                            size_t i, const char **kid);
/* NULL when no key has that kid. */
const struct cairn_key *cairn_bundle_jwt_find(const struct cairn_bundle *b,
                                              const char *kid);

/* 1 when both hold the same authorities and keys (order-insensitive),
 * ignoring sequence and refresh hint. */
int cairn_bundle_content_equal(const struct cairn_bundle *a,
                               const struct cairn_bundle *b);

/* JSON. */
enum {
  CAIRN_BUNDLE_JSON_NO_X509 = 1 << 0,   /* omit x509-svid keys */
  CAIRN_BUNDLE_JSON_NO_JWT = 1 << 1,    /* omit jwt-svid keys */
  /* Standard JWKS as the Workload API's JWT bundles use: no "use", no
   * spiffe_* members. */
  CAIRN_BUNDLE_JSON_STANDARD_JWKS = 1 << 2,
  CAIRN_BUNDLE_JSON_PRETTY = 1 << 3
};
/* Parses SPIFFE bundle JSON for trust domain td. A missing "keys" member
 * is CAIRN_ERR_PARSE. Plain JWKS (no "use") keys with a kid are taken as
 * JWT keys only when allow_plain_jwks is set. */
int cairn_bundle_parse_json(const char *td, const char *json, size_t len,
                            int allow_plain_jwks, struct cairn_bundle **out);
/* Writes JSON (NUL-terminated, free()). */
int cairn_bundle_write_json(const struct cairn_bundle *b, unsigned flags,
                            char **json, size_t *len);

/* PEM: the X.509 authorities as concatenated "CERTIFICATE" blocks. */
int cairn_bundle_parse_pem(const char *td, const char *pem, size_t len,
                           struct cairn_bundle **out);
int cairn_bundle_write_pem(const struct cairn_bundle *b, char **pem,
                           size_t *len);

/* Finds the bundle for trust domain td in an array; NULL when none. */
const struct cairn_bundle *cairn_bundle_find(
    const struct cairn_bundle *const *bundles, size_t n, const char *td);

#endif
