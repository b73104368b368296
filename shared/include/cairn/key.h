/* cairn/key.h - EC keys (P-256 default, P-384) on wolfCrypt.
 *
 * struct cairn_key is opaque and holds either a key pair or a public key
 * only. The private scalar lives only inside it and is zeroised by
 * cairn_key_free(). Exported private material (PEM/DER) is returned in
 * heap buffers that the caller must release with cairn_freezero().
 * Private-key files are written 0600 and refused when group/other can
 * read or write them.
 *
 * Every key object holds a validated public point (on the curve; for a
 * key pair, the point computed from the scalar). One key object must not
 * be used by two threads at the same time: give each thread its own copy
 * with cairn_key_dup().
 */
#ifndef CAIRN_KEY_H
#define CAIRN_KEY_H

#include <stddef.h>
#include <stdint.h>

enum cairn_key_type {
  CAIRN_KEY_EC_P256 = 1,
  CAIRN_KEY_EC_P384 = 2
};

struct cairn_key;

/* Input caps: a key's DER encoding, and a key PEM text or key file. */
#define CAIRN_KEY_DER_MAX 4096
#define CAIRN_KEY_PEM_MAX 65536

/* "ec-p256" / "ec-p384" (SPIRE's key_type names). CAIRN_ERR_INVAL else. */
int cairn_key_type_parse(const char *s, enum cairn_key_type *out);
/* Static name; "unknown" for an invalid type. */
const char *cairn_key_type_name(enum cairn_key_type t);
/* JOSE names: "ES256"/"ES384", curve "P-256"/"P-384"; coordinate bytes
 * 32/48. For an invalid type: NULL, NULL and 0. */
const char *cairn_key_type_jws_alg(enum cairn_key_type t);
const char *cairn_key_type_jwk_crv(enum cairn_key_type t);
size_t cairn_key_type_coord_len(enum cairn_key_type t);

/* Generates a new key pair. *out owned by caller: cairn_key_free(). */
int cairn_key_generate(enum cairn_key_type type, struct cairn_key **out);
/* NULL-safe; zeroises private material. */
void cairn_key_free(struct cairn_key *k);
/* Deep copy (keeps private part if present). */
int cairn_key_dup(const struct cairn_key *k, struct cairn_key **out);
/* Copy of the public half only. */
int cairn_key_public(const struct cairn_key *k, struct cairn_key **out);

enum cairn_key_type cairn_key_get_type(const struct cairn_key *k);
int cairn_key_has_private(const struct cairn_key *k);
/* 1 when both keys have the same public point (and type). */
int cairn_key_public_equal(const struct cairn_key *a,
                           const struct cairn_key *b);

/* Import. PEM accepts "EC PRIVATE KEY" (SEC1), "PRIVATE KEY" (PKCS#8,
 * unencrypted) and "PUBLIC KEY" (SPKI); leading "EC PARAMETERS" blocks
 * are skipped and the first key block is used. DER: SEC1/PKCS#8 private
 * or SPKI public, detected. Curves other than P-256/P-384, explicit curve
 * parameters, other algorithms (RSA, Ed25519) and encrypted keys are
 * CAIRN_ERR_UNSUPPORTED; malformed input, points off the curve, scalars
 * out of range and a public part that does not match the scalar are
 * CAIRN_ERR_PARSE; inputs past the caps above are CAIRN_ERR_TOO_BIG. */
int cairn_key_import_pem(const char *pem, size_t len, struct cairn_key **out);
int cairn_key_import_der(const uint8_t *der, size_t len,
                         struct cairn_key **out);

/* Export. Private exports (SEC1 DER / "EC PRIVATE KEY" PEM, and PKCS#8
 * DER / "PRIVATE KEY" PEM) need a private key; free the result with
 * cairn_freezero(p, len). Public exports are SPKI; free with free().
 * PEM outputs are NUL-terminated (len excludes the NUL). */
int cairn_key_export_private_der(const struct cairn_key *k, uint8_t **der,
                                 size_t *len);
/* PKCS#8 DER (the body of the "PRIVATE KEY" PEM below). *der: free with
 * cairn_freezero(*der, *len); same errors as cairn_key_export_pkcs8_pem
 * (a key without a private part is CAIRN_ERR_INVAL; *der NULL, *len 0). */
int cairn_key_export_pkcs8_der(const struct cairn_key *k, uint8_t **der,
                               size_t *len);
int cairn_key_export_private_pem(const struct cairn_key *k, char **pem,
                                 size_t *len);
int cairn_key_export_pkcs8_pem(const struct cairn_key *k, char **pem,
                               size_t *len);
int cairn_key_export_public_der(const struct cairn_key *k, uint8_t **der,
                                size_t *len);
int cairn_key_export_public_pem(const struct cairn_key *k, char **pem,
                                size_t *len);

/* Private key file: writes the SEC1 PEM atomically with mode 0600. */
int cairn_key_save(const struct cairn_key *k, const char *path);
/* Loads a private key file (any PEM form above, but it must hold a
 * private key); CAIRN_ERR_PERM when the file mode allows any group/other
 * access (detail names the path and mode), CAIRN_ERR_NOT_FOUND when it is
 * missing. *out: cairn_key_free(). */
int cairn_key_load(const char *path, struct cairn_key **out);

/* Raw public coordinates, each cairn_key_type_coord_len() bytes, big
 * endian, left-padded (JWK x/y). public_raw: CAIRN_ERR_INVAL when
 * coord_len is not the key's. from_public_raw: CAIRN_ERR_PARSE for a
 * wrong coord_len or a point that is not on the curve. */
int cairn_key_public_raw(const struct cairn_key *k, uint8_t *x, uint8_t *y,
                         size_t coord_len);
int cairn_key_from_public_raw(enum cairn_key_type type, const uint8_t *x,
                              const uint8_t *y, size_t coord_len,
                              struct cairn_key **out);

/* JWS-style signatures: hashes msg with SHA-256 (P-256) or SHA-384
 * (P-384) and produces/checks raw r||s, each left-padded to the
 * coordinate length (sig is 64 or 96 bytes). *siglen is in/out. Verify
 * returns CAIRN_OK or CAIRN_ERR_VERIFY. */
int cairn_key_sign(const struct cairn_key *k, const void *msg, size_t len,
                   uint8_t *sig, size_t *siglen);
int cairn_key_verify(const struct cairn_key *k, const void *msg, size_t len,
                     const uint8_t *sig, size_t siglen);

/* SHA-1 of the public point (RFC 5280 key identifier method 1), 20 B. */
int cairn_key_id_sha1(const struct cairn_key *k, uint8_t out[20]);

#endif
