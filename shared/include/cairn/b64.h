/* cairn/b64.h - base64 (RFC 4648 §4) and base64url without padding (§5,
 * as JOSE requires). Decoders are strict: wrong alphabet, bad padding,
 * non-zero trailing bits and whitespace are CAIRN_ERR_PARSE. */
#ifndef CAIRN_B64_H
#define CAIRN_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encodes into a new NUL-terminated string; caller frees with free().
 * url != 0 selects base64url without padding. */
int cairn_b64_encode(const void *in, size_t n, int url, char **out);
/* Decodes into a new buffer; caller frees with free(). url != 0 expects
 * base64url without padding, else standard base64 with padding. */
int cairn_b64_decode(const char *in, size_t n, int url, uint8_t **out,
                     size_t *outlen);

#endif
