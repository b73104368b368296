/* cli.c - flag parsing, usage text, output helpers and the admin API
 * client of the `cairn` CLI. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/b64.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/id.h"
#include "cairn/pem.h"
#include "cairn/util.h"

/* Store limits the server enforces; checked here for early, clear errors. */
#define SEL_TYPE_MAX 127
#define SEL_VALUE_MAX 1024
#define HINT_MAX 1024
#define DNS_MAX 253

/* ======================================================================
 * Memory
 * ====================================================================== */

static void oom(void)
{
  fputs("Error: out of memory\n", stderr);
  exit(1);
}

void *cli_own(struct cli *c, void *p, void (*fn)(void *))
{
  if (!p) return NULL;
  if (c->n_owned == c->cap_owned) {
    size_t cap = c->cap_owned ? c->cap_owned * 2 : 64;
    struct cli_owned *n = realloc(c->owned, cap * sizeof(*n));
    if (!n) {
      fn(p);
      oom();
    }
    c->owned = n;
    c->cap_owned = cap;
  }
  c->owned[c->n_owned].p = p;
  c->owned[c->n_owned].release = fn;
  c->n_owned++;
  return p;
}

void *cli_keep(struct cli *c, void *p)
{
  return cli_own(c, p, free);
}

static void release_json(void *p)
{
  json_decref(p);
}

json_t *cli_own_json(struct cli *c, json_t *j)
{
  return cli_own(c, j, release_json);
}

static void release_msg(void *p)
{
  protobuf_c_message_free_unpacked(p, NULL);
}

void *cli_alloc(struct cli *c, size_t n)
{
  void *p = calloc(1, n ? n : 1);
  if (!p) oom();
  return cli_keep(c, p);
}

void *cli_array(struct cli *c, size_t n, size_t size)
{
  void *p;
  if (size && n > SIZE_MAX / size) oom();
  p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom();
  return cli_keep(c, p);
}

char *cli_strdup(struct cli *c, const char *s)
{
  char *p = cairn_strdup(s ? s : "");
  if (!p) oom();
  return cli_keep(c, p);
}

void cli_cleanup(struct cli *c)
{
  size_t i;
  cairn_grpc_client_free(c->client);
  c->client = NULL;
  for (i = c->n_owned; i > 0; i--)
    c->owned[i - 1].release(c->owned[i - 1].p);
  free(c->owned);
  c->owned = NULL;
  c->n_owned = c->cap_owned = 0;
}

/* ======================================================================
 * Errors and output
 * ====================================================================== */

static void sanitize(char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

int cli_fail(const char *fmt, ...)
{
  char buf[2048];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  sanitize(buf);
  fflush(stdout);
  fprintf(stderr, "Error: %s\n", buf);
  return 1;
}

void cli_put(const char *s)
{
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    putchar(ch < 0x20 || ch == 0x7f ? '?' : ch);
  }
}

void cli_field(int width, const char *label, const char *value)
{
  printf("%-*s : ", width, label);
  cli_put(value);
  putchar('\n');
}

int cli_print_json(json_t *j)
{
  int r;
  if (!j) return cli_fail("out of memory");
  r = json_dumpf(j, stdout, JSON_INDENT(2));
  json_decref(j);
  if (r != 0) return cli_fail("cannot write JSON output");
  putchar('\n');
  return 0;
}

json_t *cli_js_str(const char *s)
{
  json_t *j;
  char *copy;
  size_t i;

  if (!s) s = "";
  j = json_string(s);
  if (j) return j;
  /* Not valid UTF-8: keep the ASCII bytes, mark the others. */
  copy = cairn_strdup(s);
  if (!copy) oom();
  for (i = 0; copy[i]; i++)
    if ((unsigned char)copy[i] >= 0x80) copy[i] = '?';
  j = json_string(copy);
  free(copy);
  if (!j) oom();
  return j;
}

json_t *cli_js_b64(const uint8_t *p, size_t n)
{
  char *s = NULL;
  json_t *j;
  if (cairn_b64_encode(p, n, 0, &s) != CAIRN_OK) oom();
  j = json_string(s);
  free(s);
  if (!j) oom();
  return j;
}

void cli_js_set(json_t *obj, const char *key, json_t *v)
{
  if (!v) oom();
  if (!obj || json_object_set_new(obj, key, v) != 0) oom();
}

const char *cli_time(int64_t t, char out[32])
{
  return cairn_time_format((time_t)t, out, 32);
}

/* ======================================================================
 * Flags and usage
 * ====================================================================== */

static const struct cli_flag common_flags[] = {
  {"output", CLI_STR, "pretty|json",
   "Output format: \"pretty\" (text for people, the default) or \"json\" "
   "(one JSON document on stdout, with the field names of the admin API "
   "messages).", 0, NULL, 0, NULL, 0},
  {"socketPath", CLI_STR, "PATH",
   "Path to the server's admin API socket (default "
   "\"" CLI_DEFAULT_SOCKET "\", or $" CLI_SOCKET_ENV " when set).",
   0, NULL, 0, NULL, 0},
  {NULL, 0, NULL, NULL, 0, NULL, 0, NULL, 0}
};

static size_t count_flags(const struct cli_flag *f)
{
  size_t n = 0;
  while (f && f[n].name) n++;
  return n;
}

static void setup_flags(struct cli *c)
{
  size_t n = count_flags(c->cmd->flags), m = count_flags(common_flags), i,
         k = 0;
  c->flags = cli_array(c, n + m + 1, sizeof(*c->flags));
  for (i = 0; i < n; i++) c->flags[k++] = c->cmd->flags[i];
  for (i = 0; i < m; i++) {
    if ((c->cmd->opts & CLI_NO_SOCKET) &&
        strcmp(common_flags[i].name, "socketPath") == 0)
      continue;
    c->flags[k++] = common_flags[i];
  }
}

static struct cli_flag *find_flag(struct cli *c, const char *name,
                                  size_t len)
{
  struct cli_flag *f;
  for (f = c->flags; f->name; f++)
    if (strlen(f->name) == len && strncmp(f->name, name, len) == 0) return f;
  return NULL;
}

struct cli_flag *cli_flag(struct cli *c, const char *name)
{
  struct cli_flag *f = find_flag(c, name, strlen(name));
  if (!f) {
    fprintf(stderr, "Error: internal: unknown flag %s\n", name);
    abort();
  }
  return f;
}

int cli_isset(struct cli *c, const char *name)
{
  return cli_flag(c, name)->set;
}

const char *cli_str(struct cli *c, const char *name)
{
  struct cli_flag *f = cli_flag(c, name);
  return f->set ? f->str : NULL;
}

int cli_bool(struct cli *c, const char *name)
{
  return cli_flag(c, name)->on;
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s, int *out)
{
  static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
  static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
  size_t i;
  for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
    if (strcmp(s, yes[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcmp(s, no[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -1;
}

int cli_parse(struct cli *c, int argc, char **argv)
{
  int i;

  setup_flags(c);
  for (i = 0; i < argc; i++) {
    const char *a = argv[i], *name, *eq;
    struct cli_flag *f;
    size_t len;

    if (a[0] != '-' || a[1] == 0)
      return cli_fail("unexpected argument \"%s\" (see 'cairn %s -h')", a,
                      c->cmd->name);
    name = a + 1;
    if (*name == '-') {
      name++;
      if (*name == 0) { /* "--" ends the flags; nothing may follow */
        if (i + 1 < argc)
          return cli_fail("unexpected argument \"%s\" (see 'cairn %s -h')",
                          argv[i + 1], c->cmd->name);
        break;
      }
    }
    if (*name == '-' || *name == '=')
      return cli_fail("bad flag syntax: %s", a);
    eq = strchr(name, '=');
    len = eq ? (size_t)(eq - name) : strlen(name);
    f = find_flag(c, name, len);
    if (!f) {
      if ((len == 1 && name[0] == 'h') ||
          (len == 4 && strncmp(name, "help", 4) == 0)) {
        cli_print_usage(c->cmd, stdout);
        return 2;
      }
      return cli_fail("flag provided but not defined: -%.*s (see 'cairn %s "
                      "-h')", (int)(len > 200 ? 200 : len), name,
                      c->cmd->name);
    }
    if (f->kind == CLI_BOOL) {
      int v = 1;
      if (eq && parse_bool(eq + 1, &v) != 0)
        return cli_fail("invalid boolean value \"%s\" for -%s", eq + 1,
                        f->name);
      f->on = v;
    } else {
      const char *v;
      if (eq) {
        v = eq + 1;
      } else {
        if (i + 1 >= argc)
          return cli_fail("flag needs an argument: -%s", f->name);
        v = argv[++i];
      }
      if (f->kind == CLI_STR) {
        f->str = v;
      } else {
        if (f->n >= CLI_LIST_MAX)
          return cli_fail("too many -%s values (at most %d)", f->name,
                          CLI_LIST_MAX);
        if (!f->list)
          f->list = cli_array(c, CLI_LIST_MAX, sizeof(*f->list));
        f->list[f->n++] = v;
      }
    }
    f->set = 1;
  }
  return 0;
}

/* Writes text word-wrapped to width columns, every line indented. A '\n'
 * forces a line break, "\n\n" leaves an empty line. */
static void wrap(FILE *o, const char *text, int indent, int width)
{
  const char *p = text;
  int col = 0;

  while (*p) {
    const char *w;
    int wl;
    if (*p == '\n') {
      fputc('\n', o);
      col = 0;
      p++;
      continue;
    }
    if (*p == ' ') {
      p++;
      continue;
    }
    for (w = p; *p && *p != ' ' && *p != '\n'; p++) {}
    wl = (int)(p - w);
    if (col == 0) {
      fprintf(o, "%*s", indent, "");
      col = indent;
    } else if (col + 1 + wl > width) {
      fprintf(o, "\n%*s", indent, "");
      col = indent;
    } else {
      fputc(' ', o);
      col++;
    }
    fprintf(o, "%.*s", wl, w);
    col += wl;
  }
  if (col) fputc('\n', o);
}

static void print_flag(FILE *o, const struct cli_flag *f)
{
  fprintf(o, "  -%s", f->name);
  if (f->kind != CLI_BOOL && f->metavar) fprintf(o, " %s", f->metavar);
  fputc('\n', o);
  wrap(o, f->help, 6, 79);
}

void cli_print_usage(const struct cli_cmd *cmd, FILE *o)
{
  const struct cli_flag *f;
  size_t i;

  fprintf(o, "Usage: cairn %s%s%s\n\n", cmd->name, cmd->usage ? " " : "",
          cmd->usage ? cmd->usage : "");
  wrap(o, cmd->description, 0, 79);
  fprintf(o, "\nFlags:\n");
  for (f = cmd->flags; f && f->name; f++) print_flag(o, f);
  for (i = 0; common_flags[i].name; i++) {
    if ((cmd->opts & CLI_NO_SOCKET) &&
        strcmp(common_flags[i].name, "socketPath") == 0)
      continue;
    print_flag(o, &common_flags[i]);
  }
  if (cmd->examples) fprintf(o, "\nExamples:\n%s", cmd->examples);
  fprintf(o, "\nExit status: 0 on success; 1 on any error, reported on "
             "stderr as one line\n\"Error: <reason>\".\n");
}

/* ======================================================================
 * Validation
 * ====================================================================== */

int cli_check_id(const char *what, const char *s, int need_path)
{
  struct cairn_id *id = malloc(sizeof(*id));
  int r = 0;

  if (!id) oom();
  if (!s || !*s) {
    r = cli_fail("%s: a SPIFFE ID is required", what);
  } else if (cairn_id_parse_str(s, id) != CAIRN_OK) {
    r = cli_fail("invalid %s \"%.300s\": %s", what, s, cairn_errdetail());
  } else if (need_path && cairn_id_is_td(id)) {
    r = cli_fail("invalid %s \"%.300s\": the ID must have a path (e.g. "
                 "spiffe://%.255s/workload)", what, s, id->str + 9);
  }
  free(id);
  return r;
}

int cli_check_td(struct cli *c, const char *what, const char *s,
                 const char **out)
{
  char td[CAIRN_TD_MAX + 1];
  if (!s || !*s) return cli_fail("%s: a trust domain is required", what);
  if (cairn_td_parse(s, td) != CAIRN_OK)
    return cli_fail("invalid %s \"%.300s\": %s", what, s, cairn_errdetail());
  *out = cli_strdup(c, td);
  return 0;
}

static int has_ctl(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
  return 0;
}

static int check_selector(const char *what, const char *shown,
                          const char *type, size_t tl, const char *value)
{
  size_t i;
  if (tl == 0 || !*value)
    return cli_fail("%s \"%.300s\" must be formatted as type:value", what,
                    shown);
  if (tl > SEL_TYPE_MAX)
    return cli_fail("%s \"%.100s...\": type longer than %d bytes", what,
                    shown, SEL_TYPE_MAX);
  if (strlen(value) > SEL_VALUE_MAX)
    return cli_fail("%s \"%.100s...\": value longer than %d bytes", what,
                    shown, SEL_VALUE_MAX);
  for (i = 0; i < tl; i++)
    if ((unsigned char)type[i] < 0x20 || type[i] == 0x7f || type[i] == ':')
      return cli_fail("%s \"%.300s\": invalid character in the type", what,
                      shown);
  if (has_ctl(value))
    return cli_fail("%s \"%.300s\" contains control characters", what,
                    shown);
  return 0;
}

int cli_parse_selector(struct cli *c, const char *what, const char *s,
                       Cairn__Admin__V1__Selector **out)
{
  const char *colon = strchr(s, ':');
  Cairn__Admin__V1__Selector *sel;
  size_t tl;

  if (!colon)
    return cli_fail("%s \"%.300s\" must be formatted as type:value", what, s);
  tl = (size_t)(colon - s);
  if (check_selector(what, s, s, tl, colon + 1)) return 1;
  sel = cli_alloc(c, sizeof(*sel));
  cairn__admin__v1__selector__init(sel);
  sel->type = cli_keep(c, cairn_strndup(s, tl));
  if (!sel->type) oom();
  sel->value = (char *)(colon + 1);
  *out = sel;
  return 0;
}

int cli_make_selector(struct cli *c, const char *what, const char *type,
                      const char *value, Cairn__Admin__V1__Selector **out)
{
  Cairn__Admin__V1__Selector *sel;
  char shown[400];

  snprintf(shown, sizeof(shown), "%.150s:%.200s", type, value);
  if (check_selector(what, shown, type, strlen(type), value)) return 1;
  sel = cli_alloc(c, sizeof(*sel));
  cairn__admin__v1__selector__init(sel);
  sel->type = (char *)type;
  sel->value = (char *)value;
  *out = sel;
  return 0;
}

int cli_parse_ttl(const char *what, const char *s, int allow_zero,
                  int32_t *out)
{
  int64_t v;
  if (cairn_duration_parse(s, &v) != CAIRN_OK)
    return cli_fail("invalid value \"%.100s\" for %s: %s", s, what,
                    "expected seconds or a duration such as 90s, 10m, 1h");
  if (v > INT32_MAX)
    return cli_fail("invalid value \"%.100s\" for %s: at most %d seconds", s,
                    what, INT32_MAX);
  if (v == 0 && !allow_zero)
    return cli_fail("invalid value \"%.100s\" for %s: must be greater than "
                    "0", s, what);
  *out = (int32_t)v;
  return 0;
}

int cli_parse_int64(const char *what, const char *s, int64_t *out)
{
  char *end;
  long long v;
  if (!*s || *s < '0' || *s > '9')
    return cli_fail("invalid value \"%.100s\" for %s: expected a "
                    "non-negative integer", s, what);
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || *end)
    return cli_fail("invalid value \"%.100s\" for %s: expected a "
                    "non-negative integer", s, what);
  *out = v;
  return 0;
}

int cli_check_dns(const char *what, const char *s)
{
  const char *p = s, *label = s;
  size_t n = strlen(s);

  if (n == 0) return cli_fail("%s: empty DNS name", what);
  if (n > DNS_MAX)
    return cli_fail("%s \"%.100s...\": longer than %d bytes", what, s,
                    DNS_MAX);
  if (p[0] == '*' && p[1] == '.') p += 2; /* one leading wildcard label */
  label = p;
  for (;; p++) {
    if (*p == '.' || *p == 0) {
      size_t ll = (size_t)(p - label);
      if (ll == 0 || ll > 63)
        return cli_fail("invalid %s \"%.300s\": empty or over-long label",
                        what, s);
      if (label[0] == '-' || p[-1] == '-')
        return cli_fail("invalid %s \"%.300s\": a label starts or ends with "
                        "'-'", what, s);
      if (*p == 0) break;
      label = p + 1;
      continue;
    }
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-'))
      return cli_fail("invalid %s \"%.300s\": only letters, digits, '-' "
                      "and '.' are allowed (and a leading \"*.\")", what, s);
  }
  return 0;
}

int cli_check_hint(const char *what, const char *s)
{
  if (strlen(s) > HINT_MAX)
    return cli_fail("%s: longer than %d bytes", what, HINT_MAX);
  if (has_ctl(s)) return cli_fail("%s contains control characters", what);
  return 0;
}

/* ======================================================================
 * Input
 * ====================================================================== */

int cli_read_input(struct cli *c, const char *path, size_t max, char **data,
                   size_t *len)
{
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;

  *data = NULL;
  *len = 0;
  if (path && strcmp(path, "-") != 0) {
    if (cairn_file_read(path, max, &buf, &n) != CAIRN_OK)
      return cli_fail("cannot read %s", cairn_errdetail());
    *data = cli_keep(c, buf);
    *len = n;
    return 0;
  }
  for (;;) {
    ssize_t k;
    if (n == cap) {
      uint8_t *nb;
      if (cap > max) {
        free(buf);
        return cli_fail("standard input is larger than %zu bytes", max);
      }
      cap = cap ? cap * 2 : 8192;
      nb = realloc(buf, cap + 1);
      if (!nb) {
        free(buf);
        oom();
      }
      buf = nb;
    }
    k = read(STDIN_FILENO, buf + n, cap - n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      free(buf);
      return cli_fail("cannot read standard input: %s", strerror(errno));
    }
    if (k == 0) break;
    n += (size_t)k;
  }
  if (n > max) {
    free(buf);
    return cli_fail("standard input is larger than %zu bytes", max);
  }
  if (!buf && !(buf = malloc(1))) oom();
  buf[n] = 0;
  *data = cli_keep(c, buf);
  *len = n;
  return 0;
}

/* ======================================================================
 * Admin API
 * ====================================================================== */

static void put_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_err(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int cli_connect(struct cli *c, char *err, size_t errlen)
{
  char buf[1024];
  int rc;

  if (c->client) return 0;
  rc = cairn_grpc_client_connect(c->socket_path, CLI_CONNECT_TIMEOUT_MS,
                                 NULL, &c->client);
  if (rc == CAIRN_OK) return 0;
  if (rc == CAIRN_ERR_NOT_FOUND)
    put_err(buf, sizeof(buf), "cannot connect to the server: %s (is "
            "cairn-cloud running? see -socketPath)", cairn_errdetail());
  else
    put_err(buf, sizeof(buf), "cannot connect to the server: %s",
            cairn_errdetail());
  if (err) {
    snprintf(err, errlen, "%s", buf);
    return 1;
  }
  return cli_fail("%s", buf);
}

int cli_call(struct cli *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *rdesc, ProtobufCMessage **resp,
             char *err, size_t errlen)
{
  struct cairn_grpc_reply r;
  char path[128], buf[1400];
  uint8_t *msg = NULL;
  size_t n;
  int rc, ret = 1;

  *resp = NULL;
  memset(&r, 0, sizeof(r));
  if (cli_connect(c, err, errlen)) return 1;
  snprintf(path, sizeof(path), "/cairn.admin.v1.%s", method);
  n = protobuf_c_message_get_packed_size(req);
  msg = malloc(n ? n : 1);
  if (!msg) oom();
  protobuf_c_message_pack(req, msg);
  rc = cairn_grpc_client_unary(c->client, path, NULL, 0, msg, n,
                               CLI_CALL_TIMEOUT_MS, &r);
  if (rc != CAIRN_OK) {
    if (rc == CAIRN_ERR_TOO_BIG)
      put_err(buf, sizeof(buf), "request or response too large: %s",
              cairn_errdetail());
    else
      put_err(buf, sizeof(buf), "talking to the server: %s",
              cairn_errdetail());
    goto out;
  }
  if (r.status != CAIRN_GRPC_OK) {
    if (r.message && *r.message)
      put_err(buf, sizeof(buf), "%s", r.message);
    else
      put_err(buf, sizeof(buf), "%s", cairn_grpc_status_name(r.status));
    goto out;
  }
  *resp = protobuf_c_message_unpack(rdesc, NULL, r.len, r.data);
  if (!*resp) {
    put_err(buf, sizeof(buf), "malformed %s response from the server",
            method);
    goto out;
  }
  ret = 0;
out:
  free(msg);
  cairn_grpc_reply_cleanup(&r);
  if (ret) {
    if (err)
      snprintf(err, errlen, "%s", buf);
    else
      cli_fail("%s", buf);
  } else {
    cli_own(c, *resp, release_msg);
  }
  return ret;
}

/* ======================================================================
 * Shared JSON shapes (proto field names, as SPIRE's -output json)
 * ====================================================================== */

json_t *cli_js_strings(char *const *s, size_t n)
{
  json_t *a = json_array();
  size_t i;
  if (!a) oom();
  for (i = 0; i < n; i++)
    if (json_array_append_new(a, cli_js_str(s[i])) != 0) oom();
  return a;
}

json_t *cli_js_selectors(Cairn__Admin__V1__Selector *const *s, size_t n)
{
  json_t *a = json_array();
  size_t i;
  if (!a) oom();
  for (i = 0; i < n; i++) {
    json_t *o = json_object();
    cli_js_set(o, "type", cli_js_str(s[i]->type));
    cli_js_set(o, "value", cli_js_str(s[i]->value));
    if (json_array_append_new(a, o) != 0) oom();
  }
  return a;
}

json_t *cli_js_entry(const Cairn__Admin__V1__Entry *e)
{
  json_t *o = json_object();
  cli_js_set(o, "id", cli_js_str(e->id));
  cli_js_set(o, "spiffe_id", cli_js_str(e->spiffe_id));
  cli_js_set(o, "parent_id", cli_js_str(e->parent_id));
  cli_js_set(o, "selectors", cli_js_selectors(e->selectors, e->n_selectors));
  cli_js_set(o, "x509_svid_ttl", json_integer(e->x509_svid_ttl));
  cli_js_set(o, "jwt_svid_ttl", json_integer(e->jwt_svid_ttl));
  cli_js_set(o, "dns_names", cli_js_strings(e->dns_names, e->n_dns_names));
  cli_js_set(o, "federates_with",
             cli_js_strings(e->federates_with, e->n_federates_with));
  cli_js_set(o, "admin", json_boolean(e->admin));
  cli_js_set(o, "downstream", json_boolean(e->downstream));
  cli_js_set(o, "expires_at", json_integer(e->expires_at));
  cli_js_set(o, "hint", cli_js_str(e->hint));
  cli_js_set(o, "revision_number", json_integer(e->revision_number));
  cli_js_set(o, "created_at", json_integer(e->created_at));
  cli_js_set(o, "scope", cli_js_str(e->scope));
  cli_js_set(o, "owner", cli_js_str(e->owner));
  return o;
}

json_t *cli_js_bundle(const Cairn__Admin__V1__Bundle *b)
{
  json_t *o = json_object(), *a = json_array();
  size_t i;
  if (!a) oom();
  cli_js_set(o, "trust_domain", cli_js_str(b->trust_domain));
  cli_js_set(o, "spiffe_json", cli_js_str(b->spiffe_json));
  cli_js_set(o, "sequence_number",
             json_integer(b->sequence_number > INT64_MAX
                              ? INT64_MAX
                              : (json_int_t)b->sequence_number));
  for (i = 0; i < b->n_x509_authorities; i++)
    if (json_array_append_new(a, cli_js_b64(b->x509_authorities[i].data,
                                            b->x509_authorities[i].len)))
      oom();
  cli_js_set(o, "x509_authorities", a);
  return o;
}

int cli_bundle_pem(struct cli *c, const Cairn__Admin__V1__Bundle *b,
                   char **pem)
{
  char *out = NULL;
  size_t outlen = 0, i;

  *pem = NULL;
  for (i = 0; i < b->n_x509_authorities; i++) {
    if (cairn_pem_append("CERTIFICATE", b->x509_authorities[i].data,
                         b->x509_authorities[i].len, &out, &outlen) !=
        CAIRN_OK) {
      free(out);
      return cli_fail("cannot encode the bundle as PEM: %s",
                      cairn_errdetail());
    }
  }
  *pem = out ? cli_keep(c, out) : cli_strdup(c, "");
  return 0;
}
