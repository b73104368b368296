/* cairn/err.h - the one error enum of Cairn.
 *
 * Every function in libcairn that can fail returns an int that is either
 * CAIRN_OK (0) or one of the positive codes below. A failing function may
 * also record a human-readable detail ("trust domain is missing",
 * "cloud.conf:12: unknown key 'foo'") in a thread-local slot, read with
 * cairn_errdetail(). The detail stays until the next cairn_seterr() or
 * cairn_clearerr() on the same thread.
 */
#ifndef CAIRN_ERR_H
#define CAIRN_ERR_H

#include <stdarg.h>

enum cairn_err {
  CAIRN_OK = 0,
  CAIRN_ERR_INTERNAL,       /* a bug or "cannot happen" state */
  CAIRN_ERR_NOMEM,          /* allocation failed */
  CAIRN_ERR_INVAL,          /* invalid argument passed by the caller */
  CAIRN_ERR_PARSE,          /* malformed input (ID, PEM, DER, JSON, CBOR...) */
  CAIRN_ERR_TOO_BIG,        /* input exceeds a documented limit */
  CAIRN_ERR_IO,             /* file or socket I/O failed (errno in detail) */
  CAIRN_ERR_PERM,           /* file permissions too open / not allowed */
  CAIRN_ERR_NOT_FOUND,      /* no such item */
  CAIRN_ERR_EXISTS,         /* item already exists / duplicate */
  CAIRN_ERR_CRYPTO,         /* crypto library failure (wolfSSL code in detail) */
  CAIRN_ERR_VERIFY,         /* signature or chain verification failed */
  CAIRN_ERR_EXPIRED,        /* certificate or token expired */
  CAIRN_ERR_NOT_YET_VALID,  /* certificate or token not yet valid */
  CAIRN_ERR_UNTRUSTED,      /* no trust anchor / bundle for the trust domain */
  CAIRN_ERR_POLICY,         /* violates the SPIFFE / X509-SVID / JWT-SVID rules */
  CAIRN_ERR_UNSUPPORTED,    /* algorithm or feature not supported */
  CAIRN_ERR_CONFIG,         /* configuration error (file:line in detail) */
  CAIRN_ERR_DB,             /* store failure */
  CAIRN_ERR_NET,            /* network / protocol failure */
  CAIRN_ERR_TIMEOUT,        /* operation timed out */
  CAIRN_ERR_DENIED,         /* caller not authorised */
  CAIRN_ERR_AUDIENCE,       /* JWT audience mismatch */
  CAIRN_ERR_CONFLICT,       /* optimistic check failed (revision changed) */
  CAIRN_ERR_AGAIN,          /* started asynchronously; ask again later */
  CAIRN_ERR__COUNT
};

/* Static, never NULL, English text for a code ("invalid argument"). */
const char *cairn_strerror(int code);

/* Records a printf-style detail for the current thread and returns code,
 * so callers can write `return cairn_seterr(CAIRN_ERR_PARSE, "...");`.
 * fmt may be NULL (detail becomes cairn_strerror(code)). Details longer
 * than 511 bytes are truncated. */
int cairn_seterr(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cairn_vseterr(int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The last detail recorded on this thread, or "" when none. The pointer is
 * valid until the next cairn_seterr()/cairn_clearerr() on this thread. */
const char *cairn_errdetail(void);

/* Clears the detail of the current thread. */
void cairn_clearerr(void);

#endif
