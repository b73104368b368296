/* id.c - SPIFFE ID and trust-domain parsing (SPIFFE-ID spec, go-spiffe
 * error texts and order). */
#include "cairn/id.h"

#include <string.h>

#include "cairn/err.h"

#define SCHEME_LEN 9 /* strlen("spiffe://") */

static const char ERR_EMPTY[] = "cannot be empty";
static const char ERR_SCHEME[] = "scheme is missing or invalid";
static const char ERR_TD_CHARS[] =
    "trust domain characters are limited to lowercase letters, numbers, "
    "dots, dashes, and underscores";
static const char ERR_TD_MISSING[] = "trust domain is missing";
static const char ERR_TD_LONG[] = "trust domain is longer than 255 bytes";
static const char ERR_ID_LONG[] = "SPIFFE ID is longer than 2048 bytes";
static const char ERR_LEADING[] = "path must have a leading slash";
static const char ERR_EMPTY_SEG[] = "path cannot contain empty segments";
static const char ERR_DOT_SEG[] = "path cannot contain dot segments";
static const char ERR_PATH_CHARS[] =
    "path segment characters are limited to letters, numbers, dots, "
    "dashes, and underscores";
static const char ERR_TRAILING[] = "path cannot have a trailing slash";

static int td_char(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

static int path_char(unsigned char c)
{
  return td_char(c) || (c >= 'A' && c <= 'Z');
}

/* seg points at a finished segment including its leading '/'. */
static int check_segment(const char *seg, size_t n, int final)
{
  if (n == 1)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s",
                        final ? ERR_TRAILING : ERR_EMPTY_SEG);
  if ((n == 2 && seg[1] == '.') || (n == 3 && seg[1] == '.' && seg[2] == '.'))
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_DOT_SEG);
  return CAIRN_OK;
}

/* Validates an ID path ("" or "/a/b"), go-spiffe's ValidatePath. */
static int validate_path(const char *p, size_t len)
{
  size_t seg = 0, i;
  int r;

  if (len == 0)
    return CAIRN_OK;
  if (p[0] != '/')
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_LEADING);
  for (i = 1; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '/') {
      if ((r = check_segment(p + seg, i - seg, 0)) != CAIRN_OK)
        return r;
      seg = i;
      continue;
    }
    if (!path_char(c))
      return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_PATH_CHARS);
  }
  return check_segment(p + seg, len - seg, 1);
}

int cairn_id_parse(const char *s, size_t len, struct cairn_id *out)
{
  size_t i;
  int r;

  if (out) {
    out->str[0] = '\0';
    out->td_len = 0;
  }
  if (!s || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL argument");
  if (len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_EMPTY);
  if (len < SCHEME_LEN || memcmp(s, CAIRN_ID_SCHEME, SCHEME_LEN) != 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_SCHEME);
  for (i = SCHEME_LEN; i < len && s[i] != '/'; i++)
    if (!td_char((unsigned char)s[i]))
      return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_TD_CHARS);
  if (i == SCHEME_LEN)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_TD_MISSING);
  if (i - SCHEME_LEN > CAIRN_TD_MAX)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_TD_LONG);
  if ((r = validate_path(s + i, len - i)) != CAIRN_OK)
    return r;
  if (len > CAIRN_ID_MAX)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_ID_LONG);
  memcpy(out->str, s, len);
  out->str[len] = '\0';
  out->td_len = i - SCHEME_LEN;
  return CAIRN_OK;
}

int cairn_id_parse_str(const char *s, struct cairn_id *out)
{
  if (!s)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL argument");
  /* strnlen keeps an absurdly long string from being scanned twice. */
  return cairn_id_parse(s, strnlen(s, CAIRN_ID_MAX + 1), out);
}

int cairn_id_validate(const char *s)
{
  struct cairn_id id;
  return cairn_id_parse_str(s, &id);
}

int cairn_id_from_parts(const char *td, const char *path,
                        struct cairn_id *out)
{
  size_t tl, pl;
  int r;

  if (out) {
    out->str[0] = '\0';
    out->td_len = 0;
  }
  if (!td || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL argument");
  if ((r = cairn_td_validate(td)) != CAIRN_OK)
    return r;
  if (!path)
    path = "";
  tl = strlen(td);
  pl = strnlen(path, CAIRN_ID_MAX + 1);
  if ((r = validate_path(path, pl)) != CAIRN_OK)
    return r;
  if (SCHEME_LEN + tl + pl > CAIRN_ID_MAX)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_ID_LONG);
  memcpy(out->str, CAIRN_ID_SCHEME, SCHEME_LEN);
  memcpy(out->str + SCHEME_LEN, td, tl);
  memcpy(out->str + SCHEME_LEN + tl, path, pl);
  out->str[SCHEME_LEN + tl + pl] = '\0';
  out->td_len = tl;
  return CAIRN_OK;
}

void cairn_id_td(const struct cairn_id *id, char *out)
{
  memcpy(out, id->str + SCHEME_LEN, id->td_len);
  out[id->td_len] = '\0';
}

const char *cairn_id_path(const struct cairn_id *id)
{
  return id->str + SCHEME_LEN + id->td_len;
}

int cairn_id_is_td(const struct cairn_id *id)
{
  return id->str[SCHEME_LEN + id->td_len] == '\0';
}

int cairn_id_member_of(const struct cairn_id *id, const char *td)
{
  if (!id || !td || id->td_len == 0)
    return 0;
  return strlen(td) == id->td_len &&
         memcmp(id->str + SCHEME_LEN, td, id->td_len) == 0;
}

int cairn_id_equal(const struct cairn_id *a, const struct cairn_id *b)
{
  return a && b && strcmp(a->str, b->str) == 0;
}

int cairn_td_validate(const char *td)
{
  size_t i, n;

  if (!td)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL argument");
  n = strnlen(td, CAIRN_TD_MAX + 1);
  if (n == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_TD_MISSING);
  for (i = 0; i < n; i++)
    if (!td_char((unsigned char)td[i]))
      return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_TD_CHARS);
  if (n > CAIRN_TD_MAX)
    return cairn_seterr(CAIRN_ERR_PARSE, "%s", ERR_TD_LONG);
  return CAIRN_OK;
}

int cairn_td_parse(const char *s, char *out)
{
  struct cairn_id id;
  int r;

  if (out)
    out[0] = '\0';
  if (!s || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL argument");
  if (strstr(s, ":/")) {
    if ((r = cairn_id_parse_str(s, &id)) != CAIRN_OK)
      return r;
    cairn_id_td(&id, out);
    return CAIRN_OK;
  }
  if ((r = cairn_td_validate(s)) != CAIRN_OK)
    return r;
  memcpy(out, s, strlen(s) + 1);
  return CAIRN_OK;
}

int cairn_id_path_in_scope(const char *path, const char *scope)
{
  size_t sl;
  int below_only = 0;

  if (!path || !scope)
    return 0;
  sl = strlen(scope);
  if (sl >= 2 && scope[sl - 2] == '/' && scope[sl - 1] == '*') {
    below_only = 1;
    sl -= 2;
  }
  if (sl == 0) /* "" and "/ *" both match everything */
    return 1;
  if (strncmp(path, scope, sl) != 0)
    return 0;
  if (path[sl] == '\0')
    return !below_only;
  return path[sl] == '/';
}

int cairn_scope_validate(const char *scope)
{
  size_t n;

  if (!scope)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL argument");
  n = strnlen(scope, CAIRN_ID_MAX + 1);
  if (n >= 2 && scope[n - 2] == '/' && scope[n - 1] == '*')
    n -= 2;
  if (n == 0)
    return CAIRN_OK;
  /* The shortest ID with this path: "spiffe://x" + path. */
  if (SCHEME_LEN + 1 + n > CAIRN_ID_MAX)
    return cairn_seterr(CAIRN_ERR_PARSE, "scope is longer than any SPIFFE "
                        "ID path");
  return validate_path(scope, n);
}

int cairn_scope_match(const char *scope, const char *spiffe_id)
{
  struct cairn_id id;

  if (!scope || !spiffe_id)
    return 0;
  return cairn_scope_validate(scope) == CAIRN_OK &&
         cairn_id_parse_str(spiffe_id, &id) == CAIRN_OK &&
         cairn_id_path_in_scope(cairn_id_path(&id), scope);
}
