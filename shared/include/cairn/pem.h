/* cairn/pem.h - PEM (RFC 7468) encoding and a bounded block scanner. */
#ifndef CAIRN_PEM_H
#define CAIRN_PEM_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_PEM_LABEL_MAX 64

/* Finds the next "-----BEGIN <label>-----" ... "-----END <label>-----"
 * block in text[*off..len), decodes its base64 body (whitespace and CR/LF
 * allowed between lines, headers refused) and advances *off past it.
 * label receives the label (needs CAIRN_PEM_LABEL_MAX bytes). *der:
 * free(). Returns CAIRN_ERR_NOT_FOUND when no further BEGIN line exists,
 * CAIRN_ERR_PARSE for a malformed block (mismatched END, bad base64,
 * missing END). Blocks larger than max_der bytes are CAIRN_ERR_TOO_BIG. */
int cairn_pem_next(const char *text, size_t len, size_t *off, char *label,
                   uint8_t **der, size_t *derlen, size_t max_der);

/* Encodes der as one PEM block with 64-column lines, appended to the
 * NUL-terminated *out (realloc'd; *out may be NULL; *outlen tracks its
 * length). */
int cairn_pem_append(const char *label, const uint8_t *der, size_t len,
                     char **out, size_t *outlen);

#endif
