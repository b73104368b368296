/* cairn/cfg.h - an HCL subset for SPIRE-shaped configuration files.
 *
 * Grammar (HCL 1 subset, what SPIRE's configs use):
 *   body      := { item [","] }
 *   item      := key "=" value
 *              | key { STRING } "{" body "}"        (block, with labels)
 *   key       := IDENT | STRING
 *   value     := STRING | NUMBER | "true" | "false" | list | "{" body "}"
 *   list      := "[" [ value { "," value } [","] ] "]"
 * "key = { ... }" (an object value) and "key { ... }" (a block) both give a
 * CAIRN_CFG_BLOCK node. Comments: "#" and "//" to end of line, "/" "*" ...
 * "*" "/" (not nested). Newlines are plain whitespace: items need no
 * separator ("a = 1 b = 2" is two items) and may be followed by one comma.
 * Strings use double quotes, stay on one line and know the escapes \" \\
 * \n \t \r \/ and \uXXXX (surrogate pairs combined); raw bytes must be
 * valid UTF-8 without control characters other than tab, and \u0000 is
 * refused so every string is a C string. Numbers are
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: without fraction and
 * exponent they are 64-bit integers (overflow is an error), otherwise
 * finite decimals. Leading zeros (HCL 1 reads them as octal), hex, heredocs
 * and unquoted strings are refused with a hint. Identifiers are
 * [A-Za-z_][A-Za-z0-9_.-]*. A UTF-8 byte order mark at the start is
 * skipped; a NUL byte anywhere is an error.
 *
 * Limits: CAIRN_CFG_MAX bytes of input, CAIRN_CFG_DEPTH_MAX nested blocks
 * and lists, CAIRN_CFG_NODES_MAX nodes, CAIRN_CFG_LABELS_MAX labels per
 * block.
 *
 * The parser builds a tree of nodes. Consumers read what they know with
 * the getters (which mark nodes as used) and then call
 * cairn_cfg_check_unused() so any unknown key becomes an error naming
 * file:line. A key given twice in one block is an error naming both lines
 * unless every occurrence is a block (blocks may repeat, e.g. two
 * "KeyManager" plugins). Every CAIRN_ERR_CONFIG detail (cairn_errdetail())
 * starts with "file:line: " ("file: " for errors about the root node).
 *
 * A tree is not thread-safe while getters mark nodes; read it from one
 * thread. Strings returned by the accessors belong to the tree and live
 * until cairn_cfg_free(root).
 */
#ifndef CAIRN_CFG_H
#define CAIRN_CFG_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_CFG_MAX (1024 * 1024)  /* largest file accepted */
#define CAIRN_CFG_DEPTH_MAX 32       /* deepest nesting accepted */
#define CAIRN_CFG_NODES_MAX 65536    /* most nodes (items, list elements) */
#define CAIRN_CFG_LABELS_MAX 8       /* most labels on one block */

enum cairn_cfg_type {
  CAIRN_CFG_STRING = 1,
  CAIRN_CFG_NUMBER,
  CAIRN_CFG_BOOL,
  CAIRN_CFG_LIST,
  CAIRN_CFG_BLOCK      /* a block or an object value */
};

struct cairn_cfg;  /* a node (the root is an unnamed block) */

/* Parses a file or a buffer (name is used in error messages; NULL gives
 * "<config>"). On success *root is a new tree, free it with
 * cairn_cfg_free(); on failure *root is NULL. An empty input gives an
 * empty root. Errors: CAIRN_ERR_CONFIG with "name:line: ..." detail,
 * CAIRN_ERR_TOO_BIG past CAIRN_CFG_MAX, CAIRN_ERR_NOMEM, and for the file
 * CAIRN_ERR_NOT_FOUND / CAIRN_ERR_IO (also: not a regular file) /
 * CAIRN_ERR_PERM, each with the path in the detail. */
int cairn_cfg_parse_file(const char *path, struct cairn_cfg **root);
int cairn_cfg_parse_buf(const char *name, const char *data, size_t len,
                        struct cairn_cfg **root);
/* Frees a whole tree; only for roots. NULL-safe. */
void cairn_cfg_free(struct cairn_cfg *root);

/* Node introspection. All accept NULL (giving 0 / NULL). */
enum cairn_cfg_type cairn_cfg_type(const struct cairn_cfg *n);
/* NULL for the root and for list elements. */
const char *cairn_cfg_key(const struct cairn_cfg *n);
size_t cairn_cfg_label_count(const struct cairn_cfg *n);
const char *cairn_cfg_label(const struct cairn_cfg *n, size_t i);
/* 1-based line of the node's key (of the value for list elements), 0 for
 * the root. */
int cairn_cfg_line(const struct cairn_cfg *n);
const char *cairn_cfg_file(const struct cairn_cfg *n);
/* Children of a block, or elements of a list, in file order. */
size_t cairn_cfg_count(const struct cairn_cfg *n);
const struct cairn_cfg *cairn_cfg_at(const struct cairn_cfg *n, size_t i);
/* Scalar values (type must match, else NULL / 0). cairn_cfg_int gives the
 * value of an integer number and 0 for a decimal (see cairn_cfg_is_int);
 * cairn_cfg_num gives any number as a double. */
const char *cairn_cfg_str(const struct cairn_cfg *n);
int64_t cairn_cfg_int(const struct cairn_cfg *n);
double cairn_cfg_num(const struct cairn_cfg *n);
int cairn_cfg_bool(const struct cairn_cfg *n);
/* 1 for a number written as an integer (no fraction, no exponent). */
int cairn_cfg_is_int(const struct cairn_cfg *n);
/* Marks a node (and, for blocks, nothing below it) as used. */
void cairn_cfg_mark_used(const struct cairn_cfg *n);
/* Marks a node and everything below it as used (for a section that is
 * deliberately ignored, e.g. a disabled plugin's plugin_data). */
void cairn_cfg_mark_tree_used(const struct cairn_cfg *n);

/* Lookups in block parent by key (the first child with that key). Each
 * marks the found node as used and returns CAIRN_OK, CAIRN_ERR_NOT_FOUND
 * when the key is absent or parent is NULL or not a block (out untouched,
 * so preset defaults stay), or CAIRN_ERR_CONFIG with a
 * "file:line: key: expected a string, got a number" style detail on a type
 * mismatch (out untouched too). */
int cairn_cfg_get_str(const struct cairn_cfg *parent, const char *key,
                      const char **out);
/* An integer number; a decimal such as 1.5 is "expected an integer". */
int cairn_cfg_get_int(const struct cairn_cfg *parent, const char *key,
                      int64_t *out);
/* Like cairn_cfg_get_int, and a value outside lo..hi is CAIRN_ERR_CONFIG
 * "file:line: key: 70000 is out of range (1..65535)". */
int cairn_cfg_get_int_range(const struct cairn_cfg *parent, const char *key,
                            int64_t lo, int64_t hi, int64_t *out);
/* Any number (integer or decimal) as a double. */
int cairn_cfg_get_num(const struct cairn_cfg *parent, const char *key,
                      double *out);
int cairn_cfg_get_bool(const struct cairn_cfg *parent, const char *key,
                       int *out);
/* A duration: a string such as "1h", "90s", "1h30m", "7d" (units s, m, h,
 * d, combinable; see cairn_duration_parse) or a non-negative integer number
 * of seconds (bare 90 or "90"). Negative values, decimals, sub-second units
 * ("500ms"), overflow and garbage are CAIRN_ERR_CONFIG. */
int cairn_cfg_get_duration(const struct cairn_cfg *parent, const char *key,
                           int64_t *seconds);
/* A list of strings; *out points at the list node (iterate with
 * cairn_cfg_count/cairn_cfg_at/cairn_cfg_str). Non-string elements are a
 * CAIRN_ERR_CONFIG naming the element's line. */
int cairn_cfg_get_strlist(const struct cairn_cfg *parent, const char *key,
                          const struct cairn_cfg **out);
/* The first block child named key (marks it used); NULL when none.
 * Repeated blocks: iterate with cairn_cfg_count/cairn_cfg_at and mark each
 * with cairn_cfg_mark_used. */
const struct cairn_cfg *cairn_cfg_block(const struct cairn_cfg *parent,
                                        const char *key);
/* Like cairn_cfg_block with the getters' return codes: CAIRN_ERR_NOT_FOUND
 * when absent, CAIRN_ERR_CONFIG "key: expected a block, got a string"
 * when the key holds a value. */
int cairn_cfg_get_block(const struct cairn_cfg *parent, const char *key,
                        const struct cairn_cfg **out);

/* Returns CAIRN_ERR_CONFIG with "file:line: unknown key 'x' in block 'y'"
 * (y is the dotted path of the enclosing block with its labels, e.g.
 * 'plugins.DataStore "sql".plugin_data'; "at top level" for children of
 * the root) for the first node under n (recursively, in file order) that
 * no getter marked as used, else CAIRN_OK. Below a used block every child
 * must be used too; the elements of a used list need no marking, but keys
 * inside block elements of a list do. */
int cairn_cfg_check_unused(const struct cairn_cfg *n);

/* Records a config error about node n: detail "file:line: <message>"
 * ("file: <message>" for the root, "<message>" for NULL). Returns
 * CAIRN_ERR_CONFIG. */
int cairn_cfg_error(const struct cairn_cfg *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
