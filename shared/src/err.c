/* err.c - error codes, text and the thread-local detail. */
#include "cairn/err.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char g_detail[512];

static const char *const g_text[CAIRN_ERR__COUNT] = {
  [CAIRN_OK] = "success",
  [CAIRN_ERR_INTERNAL] = "internal error",
  [CAIRN_ERR_NOMEM] = "out of memory",
  [CAIRN_ERR_INVAL] = "invalid argument",
  [CAIRN_ERR_PARSE] = "malformed input",
  [CAIRN_ERR_TOO_BIG] = "input too large",
  [CAIRN_ERR_IO] = "I/O error",
  [CAIRN_ERR_PERM] = "permission problem",
  [CAIRN_ERR_NOT_FOUND] = "not found",
  [CAIRN_ERR_EXISTS] = "already exists",
  [CAIRN_ERR_CRYPTO] = "cryptographic library failure",
  [CAIRN_ERR_VERIFY] = "verification failed",
  [CAIRN_ERR_EXPIRED] = "expired",
  [CAIRN_ERR_NOT_YET_VALID] = "not yet valid",
  [CAIRN_ERR_UNTRUSTED] = "untrusted",
  [CAIRN_ERR_POLICY] = "policy violation",
  [CAIRN_ERR_UNSUPPORTED] = "unsupported",
  [CAIRN_ERR_CONFIG] = "configuration error",
  [CAIRN_ERR_DB] = "store error",
  [CAIRN_ERR_NET] = "network error",
  [CAIRN_ERR_TIMEOUT] = "timed out",
  [CAIRN_ERR_DENIED] = "permission denied",
  [CAIRN_ERR_AUDIENCE] = "audience mismatch",
  [CAIRN_ERR_CONFLICT] = "conflicting concurrent change",
  [CAIRN_ERR_AGAIN] = "in progress, try again later",
};

const char *cairn_strerror(int code)
{
  if (code < 0 || code >= CAIRN_ERR__COUNT || !g_text[code])
    return "unknown error";
  return g_text[code];
}

int cairn_vseterr(int code, const char *fmt, va_list ap)
{
  /* Format into a scratch buffer first: callers may pass cairn_errdetail()
   * itself as an argument ("context: %s"). */
  char tmp[sizeof g_detail];

  if (!fmt)
    snprintf(tmp, sizeof tmp, "%s", cairn_strerror(code));
  else
    vsnprintf(tmp, sizeof tmp, fmt, ap);
  memcpy(g_detail, tmp, sizeof g_detail);
  return code;
}

int cairn_seterr(int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  cairn_vseterr(code, fmt, ap);
  va_end(ap);
  return code;
}

const char *cairn_errdetail(void)
{
  return g_detail;
}

void cairn_clearerr(void)
{
  g_detail[0] = 0;
}
