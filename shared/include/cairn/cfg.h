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

#include "cairn/log.h"

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

/* ---- helpers for daemon configuration loaders ---------------------------
 *
 * The daemons' files share one shape: a block of settings ("server { }",
 * "agent { }"), a "plugins { }" block with one labelled block per plugin
 * and nothing else. The helpers below are what every such loader needs;
 * see srvconf.c and edge/agent/agent_conf.c for two users. Their errors
 * are CAIRN_ERR_CONFIG with the "file:line: " detail of cairn_cfg_error()
 * (the node named is said where it is not the value's own), and
 * CAIRN_ERR_NOMEM with "out of memory". Where a getter's out-parameter is
 * a char **, it owns a malloc'd string: on success the old string is
 * freed and replaced by a new copy, in every other case *out is left as
 * it was, so a loader presets the default and frees *out in its own
 * _free(). */

#define CAIRN_CFG_PATH_MAX 4096        /* longest path value */
#define CAIRN_CFG_SOCKET_PATH_MAX 107  /* sun_path minus its NUL */

/* The node an error about key should name: the first child of blk called
 * key (not marked as used), else blk itself (NULL for a NULL blk). For
 * errors about values a getter accepted, e.g.
 * cairn_cfg_error(cairn_cfg_where(blk, "port"), "port: ..."). */
const struct cairn_cfg *cairn_cfg_where(const struct cairn_cfg *blk,
                                        const char *key);

/* Replaces *dst with a copy of s (freeing the old string); on
 * CAIRN_ERR_NOMEM *dst is unchanged. */
int cairn_cfg_set_str(char **dst, const char *s);

/* The one block called key in parent (marked as used), for sections that
 * must not repeat. *out is NULL unless CAIRN_OK. CAIRN_ERR_NOT_FOUND when
 * absent; CAIRN_ERR_CONFIG when the key holds a value ("key: expected a
 * block, got a string") or when there is another block of that name
 * ("a second 'key' block (the first is at line N)", naming the second). */
int cairn_cfg_single_block(const struct cairn_cfg *parent, const char *key,
                           const struct cairn_cfg **out);

/* path itself when it is absolute (or dir is NULL), else dir + "/" + path
 * with dir's trailing slashes dropped (but "/" stays "/", giving
 * "//path"). A joined path longer than CAIRN_CFG_PATH_MAX is
 * CAIRN_ERR_CONFIG "path dir/path is too long" without a file:line prefix,
 * since no node is involved; wrap it with cairn_cfg_error(node, "%s",
 * cairn_errdetail()) where one is. *out is replaced as described above. */
int cairn_cfg_path_join(const char *dir, const char *path, char **out);

/* A path value: a string of 1..CAIRN_CFG_PATH_MAX bytes ("key: empty
 * path", "key: path longer than 4096 bytes"). With base_dir not NULL a
 * relative value is joined to it as by cairn_cfg_path_join(), and a result
 * that is too long is reported at the key's line. */
int cairn_cfg_get_path(const struct cairn_cfg *blk, const char *key,
                       const char *base_dir, char **out);
/* A path value (no base directory) that must also fit a Unix socket
 * address: at most CAIRN_CFG_SOCKET_PATH_MAX bytes ("key: 200 bytes, a
 * Unix socket path may have at most 107"). */
int cairn_cfg_get_socket_path(const struct cairn_cfg *blk, const char *key,
                              char **out);
/* A bare trust domain name checked with cairn_td_validate() ("key: give
 * the bare name ("example.org"), not a SPIFFE ID" for "spiffe://...",
 * else "key: invalid trust domain "x": <why>"). */
int cairn_cfg_get_trust_domain(const struct cairn_cfg *blk, const char *key,
                               char **out);
/* A log level name for cairn_log_level_parse() ("key: "x" is not one of
 * DEBUG, INFO, WARN, ERROR"); *out is untouched unless CAIRN_OK. */
int cairn_cfg_get_log_level(const struct cairn_cfg *blk, const char *key,
                            enum cairn_log_level *out);

/* The second half of a loader: reads the parsed tree of the file called
 * name into the loader's result, which ctx points at. */
typedef int (*cairn_cfg_load_fn)(const char *name,
                                 const struct cairn_cfg *root, void *ctx);
/* Parses path, hands the tree to fn and frees it; returns the parse error
 * or fn's result. NULL or "" is CAIRN_ERR_INVAL "no configuration file
 * given". */
int cairn_cfg_load_file(const char *path, cairn_cfg_load_fn fn, void *ctx);
/* The same for a buffer: name NULL gives "<config>"; data NULL is an empty
 * file when len is 0 and CAIRN_ERR_INVAL "no data" otherwise. */
int cairn_cfg_load_buf(const char *name, const char *data, size_t len,
                       cairn_cfg_load_fn fn, void *ctx);

/* ---- a block that says how to reach and first trust a server ------------
 *
 * cairn-agent's agent { } and cairn-edge's UpstreamAuthority "cairn"
 * plugin_data { } share these settings:
 *   server_address = "host"           IP literal or DNS host name
 *   trust_bundle_path = "bundle.pem"  exactly one of these two
 *   trust_bundle_format = "pem"       "pem" | "spiffe"; needs the path
 *   insecure_bootstrap = false
 *   join_token = "..."                a secret: zeroised when replaced
 * Each loader words its own "required" errors, which name its block. */

#define CAIRN_CFG_HOST_MAX 253   /* longest DNS host name */
#define CAIRN_CFG_TOKEN_MAX 128  /* longest join token */

enum cairn_cfg_bundle_format {
  CAIRN_CFG_BUNDLE_AUTO = 0,  /* PEM when the file holds "-----BEGIN",
                                 else SPIFFE bundle JSON */
  CAIRN_CFG_BUNDLE_PEM,
  CAIRN_CFG_BUNDLE_SPIFFE
};

/* A server address: an IPv4/IPv6 literal or a DNS host name (letters,
 * digits, '-' and '.', at most CAIRN_CFG_HOST_MAX bytes, labels of 1..63
 * bytes that neither start nor end with '-'); else "key: "x" is not an IP
 * address or a host name". *out is replaced as described above. */
int cairn_cfg_get_host(const struct cairn_cfg *blk, const char *key,
                       char **out);

/* Checks a join token: 1..CAIRN_CFG_TOKEN_MAX bytes of [A-Za-z0-9._-], not
 * "." or "..", since it becomes a path segment of a SPIFFE ID. CAIRN_OK or
 * CAIRN_ERR_INVAL with a detail (which never repeats the token). */
int cairn_cfg_check_token(const char *token);

/* A join token value checked with cairn_cfg_check_token() ("key: <why>").
 * On success the old *out is zeroised and freed (cairn_cfg_clear_secret)
 * and replaced by a new copy; otherwise *out is left as it was. */
int cairn_cfg_get_join_token(const struct cairn_cfg *blk, const char *key,
                             char **out);

/* The same for the -joinToken flag of the daemons: token is checked with
 * cairn_cfg_check_token() (CAIRN_ERR_CONFIG "-joinToken: <why>"), then
 * *dst is replaced as by cairn_cfg_get_join_token(); CAIRN_ERR_NOMEM
 * leaves *dst as it was. */
int cairn_cfg_set_join_token(char **dst, const char *token);

/* Zeroises (its strlen bytes) and frees the secret string *s and sets *s
 * to NULL. NULL-safe for s and *s. */
void cairn_cfg_clear_secret(char **s);

/* Reads trust_bundle_path (a path as by cairn_cfg_get_path without a base
 * directory, into *bundle_path), trust_bundle_format (into *format) and
 * insecure_bootstrap (into *insecure) from blk, in that order; absent keys
 * leave their outputs as they were. Checks "trust_bundle_format: "x" is
 * not "pem" or "spiffe"", "trust_bundle_format is set but
 * trust_bundle_path is not" and "only one of insecure_bootstrap and
 * trust_bundle_path can be set" (CAIRN_ERR_CONFIG at the key's line).
 * Returns CAIRN_ERR_NOT_FOUND, with everything read, when there is
 * neither a bundle path nor insecure_bootstrap = true, so the caller can
 * say what it needs the bundle for. */
int cairn_cfg_get_bootstrap(const struct cairn_cfg *blk, char **bundle_path,
                            enum cairn_cfg_bundle_format *format,
                            int *insecure);

/* cairn_cfg_single_block() for a section the file must have: when it is
 * absent, CAIRN_ERR_CONFIG "missing key { } block" at the root, followed by
 * " (hint)" when hint is not NULL. */
int cairn_cfg_required_block(const struct cairn_cfg *root, const char *key,
                             const char *hint, const struct cairn_cfg **out);

/* ---- plugins { } ----------------------------------------------------------
 *
 * SPIRE's plugin syntax: every child of the plugins block is
 *   Type "name" { enabled = true  plugin_data { ... } }
 * The iterator checks everything about the blocks that is not specific to
 * one plugin, in this order, naming the plugin block's line:
 *   - the type is one of the loader's ("unknown plugin type 'X' (<program>
 *     has A, B, C)", the types in the loader's order);
 *   - it is a block with exactly one label ("X: expected a plugin block X
 *     "<name>" { plugin_data { ... } }");
 *   - "enabled" is a boolean if given; a disabled plugin is skipped, and
 *     its whole block marked as used;
 *   - none of plugin_cmd, plugin_checksum, plugin_data_file is present
 *     ("plugin_cmd: external plugins are not supported; Cairn's plugins
 *     are built in and take plugin_data { }", at that key's line);
 *   - plugin_data, if present, is a block (it is marked as used; the keys
 *     inside are for the loader to read);
 *   - for a type that is not multi, no earlier enabled block had the same
 *     type ("a second X plugin; only one may be enabled (the first is at
 *     line N)");
 *   - the label is one of the type's names when it lists any ("unknown X
 *     plugin "y" (Cairn has "a" and "b")").
 * Usage:
 *   struct cairn_cfg_plugins it;
 *   struct cairn_cfg_plugin p;
 *   if ((r = cairn_cfg_plugins_init(&it, plugins, "Cairn", types, n)))
 *     return r;
 *   while ((r = cairn_cfg_plugins_next(&it, &p)) == CAIRN_OK)
 *     if ((r = load_one(&p))) return r;
 *   if (r != CAIRN_ERR_NOT_FOUND) return r;
 *   if (!cairn_cfg_plugins_first(&it, MY_DATASTORE)) ... required ...
 */

#define CAIRN_CFG_PLUGIN_TYPES_MAX 16  /* most plugin types of one loader */

struct cairn_cfg_plugin_type {
  const char *name;          /* the block's key, e.g. "KeyManager" */
  int multi;                 /* 1: several enabled blocks of this type are
                                allowed (the loader checks what it needs) */
  const char *const *names;  /* built-in plugin names, NULL-terminated;
                                NULL accepts any label */
};

/* One enabled plugin. Pointers belong to the tree and the types array. */
struct cairn_cfg_plugin {
  size_t type;                    /* index into the loader's types */
  const char *type_name;          /* types[type].name */
  const char *name;               /* the label, e.g. "disk" */
  const struct cairn_cfg *block;  /* the plugin block */
  const struct cairn_cfg *data;   /* its plugin_data, NULL when absent */
};

/* Iterator state; the fields are private. */
struct cairn_cfg_plugins {
  const struct cairn_cfg *plugins;
  const char *program;
  const struct cairn_cfg_plugin_type *types;
  size_t ntypes, pos;
  const struct cairn_cfg *first[CAIRN_CFG_PLUGIN_TYPES_MAX];
};

/* Starts iterating over the children of the block plugins (NULL: none).
 * program names the daemon in the unknown-type error. types (1 to
 * CAIRN_CFG_PLUGIN_TYPES_MAX of them) and program must outlive the
 * iterator. CAIRN_ERR_INVAL for a bad table or a plugins that is not a
 * block. */
int cairn_cfg_plugins_init(struct cairn_cfg_plugins *it,
                           const struct cairn_cfg *plugins,
                           const char *program,
                           const struct cairn_cfg_plugin_type *types,
                           size_t ntypes);
/* The next enabled plugin in file order: CAIRN_OK with *p filled,
 * CAIRN_ERR_NOT_FOUND after the last one, or CAIRN_ERR_CONFIG for a block
 * that fails the checks above (iterating further is then undefined). */
int cairn_cfg_plugins_next(struct cairn_cfg_plugins *it,
                           struct cairn_cfg_plugin *p);
/* The block of the first enabled plugin of a type seen so far (after the
 * loop: in the whole file), NULL when none. */
const struct cairn_cfg *cairn_cfg_plugins_first(
    const struct cairn_cfg_plugins *it, size_t type);

#endif
