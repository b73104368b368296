/* cairn/csr.h - PKCS#10 certificate signing requests.
 *
 * Agents create CSRs; servers parse them, verify the self-signature and
 * take only the public key: any requested subject or extension is
 * ignored, since the server decides every field of what it issues.
 */
#ifndef CAIRN_CSR_H
#define CAIRN_CSR_H

#include <stddef.h>
#include <stdint.h>

struct cairn_key;

/* Maximum DER size accepted by cairn_csr_parse(). */
#define CAIRN_CSR_MAX 8192

/* Creates a DER CSR signed by key (which must hold a private key), with
 * subject O=SPIFFE. *der owned by caller: free(). */
int cairn_csr_create(const struct cairn_key *key, uint8_t **der,
                     size_t *len);

/* Parses a DER CSR from an untrusted peer, verifies its self-signature and
 * returns its public key (*pub owned by caller: cairn_key_free()).
 * CAIRN_ERR_PARSE for malformed input (strict DER, no trailing bytes,
 * version 1), CAIRN_ERR_VERIFY for a bad signature, CAIRN_ERR_UNSUPPORTED
 * for a non-P-256/P-384 key or a signature algorithm other than ECDSA
 * with SHA-256/384/512, CAIRN_ERR_TOO_BIG past CAIRN_CSR_MAX. The subject
 * and attributes (extension requests) are skipped without being parsed. */
int cairn_csr_parse(const uint8_t *der, size_t len, struct cairn_key **pub);

/* PEM ("CERTIFICATE REQUEST") helpers. to_pem: *pem is NUL-terminated,
 * free(). from_pem: decodes the first PEM block, which must be labelled
 * "CERTIFICATE REQUEST" (or the old "NEW CERTIFICATE REQUEST"), else
 * CAIRN_ERR_PARSE; CAIRN_ERR_TOO_BIG past CAIRN_CSR_MAX; *der: free().
 * Neither checks the signature: use cairn_csr_parse(). */
int cairn_csr_to_pem(const uint8_t *der, size_t len, char **pem);
int cairn_csr_from_pem(const char *pem, size_t len, uint8_t **der,
                       size_t *derlen);

#endif
