/* shared/src/key_int.h - libcairn internals shared by key.c, csr.c,
 * cert.c and jwt.c. Never installed, never included outside shared/src
 * (and white-box unit tests).
 *
 * IMPORTANT: <wolfssl/options.h> must be the first wolfSSL header in every
 * translation unit, otherwise Cert/DecodedCert/ecc_key layouts differ from
 * the library's (silent memory corruption). Include this header first.
 */
#ifndef CAIRN_KEY_INT_H
#define CAIRN_KEY_INT_H

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/types.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "cairn/key.h"

struct cairn_key {
  enum cairn_key_type type;
  int has_private;
  ecc_key ecc;          /* initialised with wc_ecc_init; freed by key_free */
};

/* Records a CAIRN_ERR_CRYPTO detail "<what>: wolfSSL <ret> (<text>)" and
 * returns CAIRN_ERR_CRYPTO. */
int cairn__wolf_err(int ret, const char *what);

/* Initialises an RNG (wc_InitRng) with error mapping. Free with
 * wc_FreeRng. Each operation uses its own RNG, so threads never share. */
int cairn__rng_init(WC_RNG *rng);

/* wolfSSL curve id (ECC_SECP256R1 / ECC_SECP384R1) and size in bytes. */
int cairn__key_curve_id(enum cairn_key_type t);
/* Maps a wolfSSL curve id to our type; CAIRN_ERR_UNSUPPORTED otherwise. */
int cairn__key_type_from_curve(int curve_id, enum cairn_key_type *out);

/* Allocates an empty key (ecc initialised) of the given type. */
int cairn__key_alloc(enum cairn_key_type t, struct cairn_key **out);

/* The wolfSSL key (const-cast: wolfSSL's API is not const-correct). */
static inline ecc_key *cairn__key_ecc(const struct cairn_key *k)
{
  return (ecc_key *)&k->ecc;
}

#endif
