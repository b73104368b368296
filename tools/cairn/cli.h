/* tools/cairn/cli.h - shared pieces of the `cairn` admin CLI: Go-style flag
 * parsing, usage text, the admin API client and output helpers.
 *
 * Memory: the CLI runs one command per process. Everything a command
 * builds (request messages, lists) is allocated with cli_alloc() and its
 * friends, which record the block in the struct cli and release it in
 * cli_cleanup(); out of memory ends the process with "Error: out of
 * memory". Strings inside requests point into argv or into JSON documents
 * that live until the command returns.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "admin.pb-c.h"

#define CLI_DEFAULT_SOCKET "/tmp/cairn-server/private/api.sock"
#define CLI_SOCKET_ENV "CAIRN_SOCKET_PATH"
#define CLI_CONNECT_TIMEOUT_MS 5000
#define CLI_CALL_TIMEOUT_MS 60000
#define CLI_LIST_MAX 4096          /* values of one repeatable flag */
#define CLI_INPUT_MAX (4u * 1024 * 1024)  /* -data / -path / stdin input */

enum cli_flag_kind {
  CLI_STR = 1,   /* -name value | -name=value; the last one wins */
  CLI_BOOL = 2,  /* -name | -name=true|false */
  CLI_LIST = 3   /* repeatable: every value, in order */
};

struct cli_flag {
  const char *name;      /* without the dash; NULL ends a table */
  enum cli_flag_kind kind;
  const char *metavar;   /* placeholder in usage ("ID"); NULL for bools */
  const char *help;      /* one paragraph, wrapped when printed */
  /* Set by the parser. */
  int set;               /* given at least once */
  const char *str;       /* CLI_STR: the value (points into argv) */
  int on;                /* CLI_BOOL */
  const char **list;     /* CLI_LIST: values (array owned by struct cli) */
  size_t n;
};

struct cli;

enum {
  CLI_NO_SOCKET = 1 << 0  /* the command does not talk to a server */
};

struct cli_cmd {
  const char *name;         /* "entry create" */
  const char *synopsis;     /* one line for `cairn --help` */
  const char *usage;        /* arguments after the name ("-entryID ID") */
  const char *description;  /* paragraphs separated by "\n\n" */
  const char *examples;     /* preformatted lines, may be NULL */
  const struct cli_flag *flags;  /* command-specific flags (templates,
                                    NULL-terminated; copied per run) */
  int (*run)(struct cli *c);
  unsigned opts;
};

struct cli {
  const struct cli_cmd *cmd;
  struct cli_flag *flags;     /* command flags, then the common ones */
  const char *socket_path;
  int json;                   /* -output json */
  struct cairn_grpc_client *client;
  struct cli_owned *owned;    /* released by cli_cleanup(), newest first */
  size_t n_owned, cap_owned;
};

struct cli_owned {
  void *p;
  void (*release)(void *p);
};

/* ---- commands (defined in the other files) --------------------------- */
extern const struct cli_cmd cli_entry_cmds[];
extern const struct cli_cmd cli_token_cmds[];
extern const struct cli_cmd cli_bundle_cmds[];
extern const struct cli_cmd cli_agent_cmds[];
extern const struct cli_cmd cli_svid_cmds[];
extern const struct cli_cmd cli_misc_cmds[];

/* ---- memory ------------------------------------------------------------ */
void *cli_alloc(struct cli *c, size_t n);          /* zeroed */
void *cli_array(struct cli *c, size_t n, size_t size);  /* zeroed */
char *cli_strdup(struct cli *c, const char *s);
/* Records a malloc()ed block for release at cleanup (p may be NULL). */
void *cli_keep(struct cli *c, void *p);
/* Records p for release with fn at cleanup (p may be NULL). */
void *cli_own(struct cli *c, void *p, void (*fn)(void *));
/* Keeps a JSON document (decref at cleanup); returns j. */
json_t *cli_own_json(struct cli *c, json_t *j);
void cli_cleanup(struct cli *c);

/* ---- flags ------------------------------------------------------------- */
/* Parses argv (after the command words) into c->flags. Returns 0, 1 after
 * an error (already printed) or 2 when help was asked for (printed). */
int cli_parse(struct cli *c, int argc, char **argv);
/* The flag named name (must exist: a missing name is a bug and aborts). */
struct cli_flag *cli_flag(struct cli *c, const char *name);
int cli_isset(struct cli *c, const char *name);
/* CLI_STR value or NULL when not given. */
const char *cli_str(struct cli *c, const char *name);
int cli_bool(struct cli *c, const char *name);
void cli_print_usage(const struct cli_cmd *cmd, FILE *f);

/* ---- errors and output ------------------------------------------------- */
/* Prints "Error: <message>" as one line on stderr (control characters
 * shown as '?') and returns 1, the exit status. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes s to stdout with control characters shown as '?'. */
void cli_put(const char *s);
/* "label : value\n" with the label padded to width and value sanitised. */
void cli_field(int width, const char *label, const char *value);
/* Prints j (indented) on stdout and releases it. 1 on failure. */
int cli_print_json(json_t *j);
/* A JSON string for s; bytes that are not valid UTF-8 become '?'. */
json_t *cli_js_str(const char *s);
/* Base64 (standard, padded) of bytes as a JSON string. */
json_t *cli_js_b64(const uint8_t *p, size_t n);
/* Sets key on obj to v, taking the reference (no-op for a NULL obj). */
void cli_js_set(json_t *obj, const char *key, json_t *v);
/* Formats an RFC 3339 time into out (32 bytes). */
const char *cli_time(int64_t t, char out[32]);

/* ---- validation -------------------------------------------------------- */
/* Each prints "Error: ..." and returns 1 on failure, 0 on success. what
 * names the source ("-spiffeID", "entry 2: spiffe_id"). */
int cli_check_id(const char *what, const char *s, int need_path);
/* td may be "example.org" or "spiffe://example.org"; *out points to a
 * cli-owned bare name. */
int cli_check_td(struct cli *c, const char *what, const char *s,
                 const char **out);
int cli_parse_selector(struct cli *c, const char *what, const char *s,
                       Cairn__Admin__V1__Selector **out);
/* The same from separate parts (JSON input); the strings are not copied. */
int cli_make_selector(struct cli *c, const char *what, const char *type,
                      const char *value, Cairn__Admin__V1__Selector **out);
/* A TTL: seconds or a duration ("1h30m"); 0 allowed when allow_zero. */
int cli_parse_ttl(const char *what, const char *s, int allow_zero,
                  int32_t *out);
/* A non-negative integer (unix seconds). */
int cli_parse_int64(const char *what, const char *s, int64_t *out);
int cli_check_dns(const char *what, const char *s);
int cli_check_hint(const char *what, const char *s);

/* ---- input ------------------------------------------------------------- */
/* Reads a file ("-" or NULL = stdin) of at most max bytes, NUL-terminated
 * (cli-owned). Prints the error and returns 1 on failure. */
int cli_read_input(struct cli *c, const char *path, size_t max, char **data,
                   size_t *len);

/* ---- admin API ----------------------------------------------------------- */
/* Connects (once) to c->socket_path. Returns 0, or 1 after printing the
 * error, or fills err (when non-NULL) instead of printing. */
int cli_connect(struct cli *c, char *err, size_t errlen);
/* Unary call to "/cairn.admin.v1.<method>" (method "Entries/GetEntry").
 * On success *resp is the unpacked response, released at cleanup. On
 * failure prints "Error: <grpc message>" (or the transport error) and
 * returns 1; when err is non-NULL the message goes there instead. */
int cli_call(struct cli *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *rdesc, ProtobufCMessage **resp,
             char *err, size_t errlen);

/* ---- shared JSON shapes ------------------------------------------------- */
json_t *cli_js_entry(const Cairn__Admin__V1__Entry *e);
json_t *cli_js_bundle(const Cairn__Admin__V1__Bundle *b);
json_t *cli_js_selectors(Cairn__Admin__V1__Selector *const *s, size_t n);
json_t *cli_js_strings(char *const *s, size_t n);
/* Bundle X.509 authorities as concatenated PEM (cli-owned; "" if none). */
int cli_bundle_pem(struct cli *c, const Cairn__Admin__V1__Bundle *b,
                   char **pem);

#endif
