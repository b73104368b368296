/* pem.c - PEM block scanner and encoder (RFC 7468, strict subset). */
#include "cairn/pem.h"
#include "cairn/b64.h"
#include "cairn/err.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char BEGIN[] = "-----BEGIN ";
static const char END[] = "-----END ";
static const char DASH5[] = "-----";

/* Finds needle in hay[from..len); returns its offset or len. */
static size_t find(const char *hay, size_t len, size_t from,
                   const char *needle)
{
  size_t nl = strlen(needle);
  for (size_t i = from; i + nl <= len; i++)
    if (memcmp(hay + i, needle, nl) == 0) return i;
  return len;
}

int cairn_pem_next(const char *text, size_t len, size_t *off, char *label,
                   uint8_t **der, size_t *derlen, size_t max_der)
{
  size_t b, lab, labend, body, e, endlab, endlabend, i, nb = 0;
  char *b64 = NULL;
  int r = CAIRN_ERR_PARSE;

  *der = NULL;
  *derlen = 0;
  label[0] = 0;
  b = find(text, len, *off, BEGIN);
  if (b == len) return CAIRN_ERR_NOT_FOUND;
  lab = b + sizeof BEGIN - 1;
  labend = find(text, len, lab, DASH5);
  if (labend == len || labend - lab >= CAIRN_PEM_LABEL_MAX)
    return cairn_seterr(CAIRN_ERR_PARSE, "PEM: malformed BEGIN line");
  for (i = lab; i < labend; i++)
    if (text[i] == '\n' || text[i] == '\r' || text[i] == 0)
      return cairn_seterr(CAIRN_ERR_PARSE, "PEM: malformed BEGIN line");
  memcpy(label, text + lab, labend - lab);
  label[labend - lab] = 0;
  body = labend + sizeof DASH5 - 1;
  e = find(text, len, body, END);
  if (e == len) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "PEM: missing END line for '%s'",
                     label);
    label[0] = 0;
    return r;
  }
  endlab = e + sizeof END - 1;
  endlabend = find(text, len, endlab, DASH5);
  if (endlabend == len || endlabend - endlab != labend - lab ||
      memcmp(text + endlab, label, labend - lab) != 0) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "PEM: END line does not match '%s'",
                     label);
    goto out;
  }
  /* Cheap early cap (the body may contain whitespace); exact check after
   * decoding. */
  if (e - body > max_der * 2 + 1024) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG, "PEM: '%s' block larger than %zu bytes",
                     label, max_der);
    goto out;
  }
  b64 = malloc(e - body + 1);
  if (!b64) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  for (i = body; i < e; i++) {
    char c = text[i];
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    if (c == ':') {
      r = cairn_seterr(CAIRN_ERR_PARSE, "PEM: headers are not supported");
      goto out;
    }
    b64[nb++] = c;
  }
  if ((r = cairn_b64_decode(b64, nb, 0, der, derlen)) != CAIRN_OK) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "PEM: bad base64 in '%s' block", label);
    goto out;
  }
  if (*derlen == 0 || *derlen > max_der) {
    r = *derlen ? cairn_seterr(CAIRN_ERR_TOO_BIG,
                               "PEM: '%s' block larger than %zu bytes", label,
                               max_der)
                : cairn_seterr(CAIRN_ERR_PARSE, "PEM: empty '%s' block", label);
    cairn_freezero(*der, *derlen);
    *der = NULL;
    *derlen = 0;
    goto out;
  }
  *off = endlabend + sizeof DASH5 - 1;
  r = CAIRN_OK;
out:
  if (b64) cairn_freezero(b64, e - body + 1);
  if (r != CAIRN_OK) label[0] = 0;
  return r;
}

int cairn_pem_append(const char *label, const uint8_t *der, size_t len,
                     char **out, size_t *outlen)
{
  char *b64 = NULL, *n;
  size_t blen, lines, need, cur = *out ? *outlen : 0, o;
  int r;

  if ((r = cairn_b64_encode(der, len, 0, &b64)) != CAIRN_OK) return r;
  blen = strlen(b64);
  lines = (blen + 63) / 64;
  need = cur + 2 * (strlen(label) + 17) + blen + lines + 1;
  n = realloc(*out, need);
  if (!n) {
    cairn_freezero(b64, blen);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  o = cur;
  o += (size_t)sprintf(n + o, "-----BEGIN %s-----\n", label);
  for (size_t i = 0; i < blen; i += 64) {
    size_t k = blen - i < 64 ? blen - i : 64;
    memcpy(n + o, b64 + i, k);
    o += k;
    n[o++] = '\n';
  }
  o += (size_t)sprintf(n + o, "-----END %s-----\n", label);
  cairn_freezero(b64, blen);
  *out = n;
  *outlen = o;
  return CAIRN_OK;
}
