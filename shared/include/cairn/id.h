/* cairn/id.h - SPIFFE IDs and trust domains (SPIFFE-ID spec).
 *
 * Parsing follows the spec exactly (and go-spiffe's error order): scheme
 * "spiffe://" lower-case, trust domain [a-z0-9._-]{1,255}, path segments
 * [a-zA-Z0-9._-]+, no empty or dot segments, no trailing slash, no
 * percent-encoding, query, fragment, port or userinfo, whole ID at most
 * CAIRN_ID_MAX bytes. Errors are CAIRN_ERR_PARSE with a detail text
 * (cairn_errdetail()) such as "trust domain is missing".
 *
 * struct cairn_id is a plain value (no heap); copy it freely.
 */
#ifndef CAIRN_ID_H
#define CAIRN_ID_H

#include <stddef.h>

#define CAIRN_ID_MAX 2048   /* bytes, including "spiffe://" */
#define CAIRN_TD_MAX 255    /* bytes of a trust domain name */
#define CAIRN_ID_SCHEME "spiffe://"

struct cairn_id {
  char str[CAIRN_ID_MAX + 1];  /* the full, validated ID */
  size_t td_len;               /* trust domain = str + 9, td_len bytes */
};

/* Validates s (len bytes, need not be NUL-terminated) and fills *out. */
int cairn_id_parse(const char *s, size_t len, struct cairn_id *out);
/* Convenience for NUL-terminated strings. */
int cairn_id_parse_str(const char *s, struct cairn_id *out);
/* Validates without keeping the result. */
int cairn_id_validate(const char *s);

/* Builds spiffe://<td><path>; path may be "" or NULL (trust-domain ID) and
 * must start with '/' otherwise. Both parts are validated. */
int cairn_id_from_parts(const char *td, const char *path,
                        struct cairn_id *out);

/* Copies the trust domain name into out (needs CAIRN_TD_MAX + 1). */
void cairn_id_td(const struct cairn_id *id, char *out);
/* Pointer to the path inside id->str ("" when none). */
const char *cairn_id_path(const struct cairn_id *id);
/* 1 when the ID has no path (names the trust domain itself). */
int cairn_id_is_td(const struct cairn_id *id);
/* 1 when id belongs to trust domain td (a bare name). */
int cairn_id_member_of(const struct cairn_id *id, const char *td);
/* 1 when equal (byte-exact, which is correct after validation). */
int cairn_id_equal(const struct cairn_id *a, const struct cairn_id *b);

/* Validates a bare trust domain name ("example.org"). */
int cairn_td_validate(const char *td);
/* Accepts "example.org" or "spiffe://example.org[/path]" and writes the
 * bare name into out (needs CAIRN_TD_MAX + 1). */
int cairn_td_parse(const char *s, char *out);

/* 1 when path (a validated ID path, may be "") is inside scope. A scope is
 * a path such as "/site/a" (matches itself and anything below it) or
 * "/site/a/ *" written without the space (matches only below it). "" or
 * "/ *" matches everything. */
int cairn_id_path_in_scope(const char *path, const char *scope);

/* Validates a path scope (the scope of a downstream entry): "" or "/ *"
 * (everything), or a valid ID path ("/site/a": no empty, dot or trailing
 * segments, [A-Za-z0-9._-] only) optionally followed by "/ *" (both
 * written without the space). CAIRN_ERR_PARSE with a detail otherwise
 * (e.g. "/site/a/", "site/a", "/site//a", a '*' anywhere but in that
 * final "/ *"), CAIRN_ERR_INVAL for NULL. */
int cairn_scope_validate(const char *scope);

/* 1 when spiffe_id is a valid SPIFFE ID whose path is inside scope
 * (cairn_id_path_in_scope()) and scope is valid (cairn_scope_validate());
 * 0 otherwise, including NULL arguments, so a malformed scope matches
 * nothing. The trust domain is not compared: callers check membership
 * (cairn_id_member_of()) themselves. No side effect except that a
 * refusal may replace the thread's error detail (cairn_errdetail()). */
int cairn_scope_match(const char *scope, const char *spiffe_id);

#endif
