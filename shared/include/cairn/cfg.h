/* cairn/cfg.h - an HCL subset for SPIRE-shaped configuration files.
 *
 * Grammar (HCL 1 subset, what SPIRE's configs use):
 *   body      := { item }
 *   item      := IDENT "=" value
 *              | IDENT { STRING } "{" body "}"      (block, with labels)
 *              | IDENT "=" "{" body "}"             (object value)
 *   value     := STRING | NUMBER | "true" | "false" | list | "{" body "}"
 *   list      := "[" [ value { "," value } [","] ] "]"
 * Comments: "#" and "//" to end of line, "/" "*" ... "*" "/". Strings use
 * double quotes with the escapes \" \\ \n \t \r \/ and \uXXXX. Numbers are
 * decimal integers (64-bit) or decimals. Identifiers are
 * [A-Za-z_][A-Za-z0-9_.-]*. Keys may also be quoted strings. Item
 * separators: newlines, optionally commas.
 *
 * The parser builds a tree of nodes. Consumers read what they know with
 * the getters (which mark nodes as used) and then call
 * cairn_cfg_check_unused() so any unknown key becomes an error naming
 * file:line. A scalar key given twice in one block is an error; blocks may
 * repeat. Every error detail (cairn_errdetail()) starts with "file:line: ".
 */
#ifndef CAIRN_CFG_H
#define CAIRN_CFG_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_CFG_MAX (1024 * 1024)  /* largest file accepted */
#define CAIRN_CFG_DEPTH_MAX 32       /* deepest nesting accepted */

enum cairn_cfg_type {
  CAIRN_CFG_STRING = 1,
  CAIRN_CFG_NUMBER,
  CAIRN_CFG_BOOL,
  CAIRN_CFG_LIST,
  CAIRN_CFG_BLOCK      /* a block or an object value */
};

struct cairn_cfg;  /* a node (the root is an unnamed block) */

/* Parses a file or a buffer (name is used in error messages). *root:
 * cairn_cfg_free(). Errors: CAIRN_ERR_CONFIG with "name:line: ..." detail,
 * CAIRN_ERR_NOT_FOUND / CAIRN_ERR_IO / CAIRN_ERR_TOO_BIG for the file. */
int cairn_cfg_parse_file(const char *path, struct cairn_cfg **root);
int cairn_cfg_parse_buf(const char *name, const char *data, size_t len,
                        struct cairn_cfg **root);
void cairn_cfg_free(struct cairn_cfg *root);

/* Node introspection. */
enum cairn_cfg_type cairn_cfg_type(const struct cairn_cfg *n);
const char *cairn_cfg_key(const struct cairn_cfg *n);   /* NULL for root */
size_t cairn_cfg_label_count(const struct cairn_cfg *n);
const char *cairn_cfg_label(const struct cairn_cfg *n, size_t i);
int cairn_cfg_line(const struct cairn_cfg *n);
const char *cairn_cfg_file(const struct cairn_cfg *n);
/* Children of a block, or elements of a list, in file order. */
size_t cairn_cfg_count(const struct cairn_cfg *n);
const struct cairn_cfg *cairn_cfg_at(const struct cairn_cfg *n, size_t i);
/* Scalar values (type must match, else NULL / 0). */
const char *cairn_cfg_str(const struct cairn_cfg *n);
int64_t cairn_cfg_int(const struct cairn_cfg *n);
double cairn_cfg_num(const struct cairn_cfg *n);
int cairn_cfg_bool(const struct cairn_cfg *n);
/* Marks a node (and, for blocks, nothing below it) as used. */
void cairn_cfg_mark_used(const struct cairn_cfg *n);

/* Lookups in block parent by key. Each marks the found node as used and
 * returns CAIRN_OK, CAIRN_ERR_NOT_FOUND when the key is absent (out
 * untouched, so preset defaults stay), or CAIRN_ERR_CONFIG with a
 * "file:line: key: expected a string" style detail on a type mismatch. */
int cairn_cfg_get_str(const struct cairn_cfg *parent, const char *key,
                      const char **out);
int cairn_cfg_get_int(const struct cairn_cfg *parent, const char *key,
                      int64_t *out);
int cairn_cfg_get_bool(const struct cairn_cfg *parent, const char *key,
                       int *out);
/* A duration: a string such as "1h", "90s", "1h30m" or a bare integer
 * number of seconds. */
int cairn_cfg_get_duration(const struct cairn_cfg *parent, const char *key,
                           int64_t *seconds);
/* A list of strings; *out points at the list node (iterate with
 * cairn_cfg_count/cairn_cfg_at/cairn_cfg_str). Non-string elements are a
 * CAIRN_ERR_CONFIG. */
int cairn_cfg_get_strlist(const struct cairn_cfg *parent, const char *key,
                          const struct cairn_cfg **out);
/* The first block child named key (marks it used); NULL when none. */
const struct cairn_cfg *cairn_cfg_block(const struct cairn_cfg *parent,
                                        const char *key);

/* Returns CAIRN_ERR_CONFIG with "file:line: unknown key 'x' in block 'y'"
 * for the first node under n (recursively, in file order) that no getter
 * marked as used, else CAIRN_OK. */
int cairn_cfg_check_unused(const struct cairn_cfg *n);

/* Records a config error about node n: detail "file:line: <message>".
 * Returns CAIRN_ERR_CONFIG. */
int cairn_cfg_error(const struct cairn_cfg *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
