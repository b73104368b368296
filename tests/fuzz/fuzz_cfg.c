/* Fuzz target: the config parser (cairn/cfg.h).
 *
 * Each input is parsed as a config file. An accepted tree is walked with
 * every accessor and getter (checking the invariants the header promises),
 * checked for unused keys before and after the getters, then printed back
 * as HCL and re-parsed: the second tree must equal the first. Any
 * CAIRN_ERR_CONFIG detail must start with the file name. */
#include "cairn/buf.h"
#include "cairn/cfg.h"
#include "cairn/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_detail(int r, const char *name)
{
  if (r == CAIRN_ERR_CONFIG && strncmp(cairn_errdetail(), name, strlen(name)) != 0) {
    fprintf(stderr, "bad detail: %s\n", cairn_errdetail());
    abort();
  }
}

/* Walks n, checking invariants and calling every getter on block children. */
static void walk(const struct cairn_cfg *n, int depth)
{
  enum cairn_cfg_type t = cairn_cfg_type(n);
  size_t count = cairn_cfg_count(n);

  if (t < CAIRN_CFG_STRING || t > CAIRN_CFG_BLOCK) abort();
  if (depth > CAIRN_CFG_DEPTH_MAX) abort();
  if (!cairn_cfg_file(n)) abort();
  if (depth > 0 && cairn_cfg_line(n) < 1) abort();
  if (cairn_cfg_label_count(n) > CAIRN_CFG_LABELS_MAX) abort();
  for (size_t i = 0; i < cairn_cfg_label_count(n); i++)
    if (!cairn_cfg_label(n, i)) abort();
  if (cairn_cfg_label(n, cairn_cfg_label_count(n))) abort();
  if (t == CAIRN_CFG_STRING && !cairn_cfg_str(n)) abort();
  if (t != CAIRN_CFG_STRING && cairn_cfg_str(n)) abort();
  if (t != CAIRN_CFG_NUMBER && (cairn_cfg_is_int(n) || cairn_cfg_num(n) != 0.0)) abort();
  if (t == CAIRN_CFG_NUMBER && cairn_cfg_is_int(n) &&
      cairn_cfg_num(n) != (double)cairn_cfg_int(n))
    abort();
  if ((t == CAIRN_CFG_STRING || t == CAIRN_CFG_NUMBER || t == CAIRN_CFG_BOOL) && count)
    abort();
  if (cairn_cfg_at(n, count)) abort();
  for (size_t i = 0; i < count; i++) {
    const struct cairn_cfg *c = cairn_cfg_at(n, i);
    if (!c) abort();
    if (t == CAIRN_CFG_LIST && cairn_cfg_key(c)) abort();
    if (t == CAIRN_CFG_BLOCK) {
      const char *key = cairn_cfg_key(c), *s;
      const struct cairn_cfg *o;
      int64_t v;
      double d;
      int b, r;
      const char *name = cairn_cfg_file(c);
      if (!key || !*key) abort();
      r = cairn_cfg_get_str(n, key, &s);
      check_detail(r, name);
      if (r == CAIRN_ERR_NOT_FOUND) abort();
      check_detail(cairn_cfg_get_int(n, key, &v), name);
      check_detail(cairn_cfg_get_int_range(n, key, 1, 65535, &v), name);
      check_detail(cairn_cfg_get_num(n, key, &d), name);
      check_detail(cairn_cfg_get_bool(n, key, &b), name);
      check_detail(cairn_cfg_get_duration(n, key, &v), name);
      check_detail(cairn_cfg_get_strlist(n, key, &o), name);
      check_detail(cairn_cfg_get_block(n, key, &o), name);
      (void)cairn_cfg_block(n, key);
    }
    walk(c, depth + 1);
  }
}

/* ---- printing ---- */

static int put_str(struct cairn_buf *b, const char *s)
{
  int r = cairn_buf_putc(b, '"');
  for (; *s && r == CAIRN_OK; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"') r = cairn_buf_puts(b, "\\\"");
    else if (c == '\\') r = cairn_buf_puts(b, "\\\\");
    else if (c == '\n') r = cairn_buf_puts(b, "\\n");
    else if (c == '\r') r = cairn_buf_puts(b, "\\r");
    else if (c == '/') r = cairn_buf_puts(b, "\\/");
    else if ((c < 0x20 && c != '\t') || c == 0x7F) r = cairn_buf_appendf(b, "\\u%04x", c);
    else r = cairn_buf_putc(b, (char)c);
  }
  return r == CAIRN_OK ? cairn_buf_putc(b, '"') : r;
}

static int print_body(struct cairn_buf *b, const struct cairn_cfg *n, int depth);

static int is_ident_key(const char *k)
{
  if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_')) return 0;
  for (; *k; k++)
    if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
          *k == '_' || *k == '.' || *k == '-'))
      return 0;
  return 1;
}

static int print_value(struct cairn_buf *b, const struct cairn_cfg *n, int depth)
{
  int r = CAIRN_OK;
  switch (cairn_cfg_type(n)) {
    case CAIRN_CFG_STRING: return put_str(b, cairn_cfg_str(n));
    case CAIRN_CFG_BOOL: return cairn_buf_puts(b, cairn_cfg_bool(n) ? "true" : "false");
    case CAIRN_CFG_NUMBER:
      if (cairn_cfg_is_int(n))
        return cairn_buf_appendf(b, "%lld", (long long)cairn_cfg_int(n));
      {
        char t[64];
        snprintf(t, sizeof t, "%.17g", cairn_cfg_num(n));
        if (!strpbrk(t, ".e")) strcat(t, ".0");
        return cairn_buf_puts(b, t);
      }
    case CAIRN_CFG_LIST:
      r = cairn_buf_puts(b, "[\n");
      for (size_t i = 0; i < cairn_cfg_count(n) && r == CAIRN_OK; i++) {
        r = print_value(b, cairn_cfg_at(n, i), depth + 1);
        if (r == CAIRN_OK) r = cairn_buf_puts(b, i % 2 ? ",\n" : ", ");
      }
      return r == CAIRN_OK ? cairn_buf_puts(b, "]") : r;
    case CAIRN_CFG_BLOCK:
      r = cairn_buf_puts(b, "{\n");
      if (r == CAIRN_OK) r = print_body(b, n, depth + 1);
      return r == CAIRN_OK ? cairn_buf_puts(b, "}") : r;
  }
  abort();
}

static int print_body(struct cairn_buf *b, const struct cairn_cfg *n, int depth)
{
  int r = CAIRN_OK;
  for (size_t i = 0; i < cairn_cfg_count(n) && r == CAIRN_OK; i++) {
    const struct cairn_cfg *c = cairn_cfg_at(n, i);
    /* Alternate the item forms the grammar offers. */
    if ((i + (size_t)depth) % 2 && is_ident_key(cairn_cfg_key(c)))
      r = cairn_buf_puts(b, cairn_cfg_key(c));
    else
      r = put_str(b, cairn_cfg_key(c));
    if (r != CAIRN_OK) break;
    for (size_t l = 0; l < cairn_cfg_label_count(c) && r == CAIRN_OK; l++) {
      r = cairn_buf_putc(b, ' ');
      if (r == CAIRN_OK) r = put_str(b, cairn_cfg_label(c, l));
    }
    if (r != CAIRN_OK) break;
    if (cairn_cfg_type(c) == CAIRN_CFG_BLOCK && (cairn_cfg_label_count(c) || i % 2))
      r = cairn_buf_puts(b, " ");
    else
      r = cairn_buf_puts(b, " = ");
    if (r == CAIRN_OK) r = print_value(b, c, depth);
    if (r == CAIRN_OK) r = cairn_buf_puts(b, i % 3 == 2 ? ", # c\n" : "\n");
  }
  return r;
}

static void same(const struct cairn_cfg *a, const struct cairn_cfg *b)
{
  enum cairn_cfg_type t = cairn_cfg_type(a);
  if (t != cairn_cfg_type(b) || cairn_cfg_count(a) != cairn_cfg_count(b) ||
      cairn_cfg_label_count(a) != cairn_cfg_label_count(b))
    abort();
  if ((cairn_cfg_key(a) == NULL) != (cairn_cfg_key(b) == NULL)) abort();
  if (cairn_cfg_key(a) && strcmp(cairn_cfg_key(a), cairn_cfg_key(b)) != 0) abort();
  for (size_t i = 0; i < cairn_cfg_label_count(a); i++)
    if (strcmp(cairn_cfg_label(a, i), cairn_cfg_label(b, i)) != 0) abort();
  if (t == CAIRN_CFG_STRING && strcmp(cairn_cfg_str(a), cairn_cfg_str(b)) != 0) abort();
  if (t == CAIRN_CFG_NUMBER &&
      (cairn_cfg_is_int(a) != cairn_cfg_is_int(b) || cairn_cfg_int(a) != cairn_cfg_int(b) ||
       cairn_cfg_num(a) != cairn_cfg_num(b)))
    abort();
  if (cairn_cfg_bool(a) != cairn_cfg_bool(b)) abort();
  for (size_t i = 0; i < cairn_cfg_count(a); i++) same(cairn_cfg_at(a, i), cairn_cfg_at(b, i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn_cfg *root = NULL, *again = NULL;
  struct cairn_buf out;
  int r, pr;

  r = cairn_cfg_parse_buf("fuzz.conf", (const char *)data, size, &root);
  if (r != CAIRN_OK) {
    if (root) abort();
    if (r != CAIRN_ERR_CONFIG && r != CAIRN_ERR_TOO_BIG && r != CAIRN_ERR_NOMEM) abort();
    check_detail(r, "fuzz.conf:");
    return 0;
  }
  if (cairn_cfg_type(root) != CAIRN_CFG_BLOCK || cairn_cfg_key(root)) abort();

  /* Nothing is used yet: any child must be reported. */
  r = cairn_cfg_check_unused(root);
  if ((r == CAIRN_OK) != (cairn_cfg_count(root) == 0)) abort();
  if (r != CAIRN_OK && !strstr(cairn_errdetail(), "at top level")) abort();
  check_detail(r, "fuzz.conf:");

  cairn_buf_init(&out, (size_t)8 * CAIRN_CFG_MAX);
  pr = print_body(&out, root, 0);
  walk(root, 0);
  check_detail(cairn_cfg_check_unused(root), "fuzz.conf:");

  if (pr == CAIRN_OK && cairn_buf_append(&out, "", 0) == CAIRN_OK) {
    r = cairn_cfg_parse_buf("rt.conf", (const char *)out.data, out.len, &again);
    if (r == CAIRN_OK) {
      same(root, again);
    } else if (r != CAIRN_ERR_TOO_BIG) {
      fprintf(stderr, "re-parse failed: %s\n--\n%s\n--\n", cairn_errdetail(),
              (const char *)out.data);
      abort();
    }
  }
  cairn_buf_cleanup(&out);
  cairn_cfg_free(again);
  cairn_cfg_free(root);
  return 0;
}
