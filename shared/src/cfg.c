/* cfg.c - HCL subset parser for SPIRE-shaped configuration files.
 *
 * A tokenizer over a bounded reader feeds a recursive-descent parser that
 * builds the node tree. The recursion is bounded by CAIRN_CFG_DEPTH_MAX,
 * the tree by CAIRN_CFG_NODES_MAX and the input by CAIRN_CFG_MAX.
 */
#include "cairn/cfg.h"
#include "cairn/buf.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUM_TEXT_MAX 64  /* longest number literal */

struct cairn_cfg {
  enum cairn_cfg_type type;
  int line;
  int used;
  int is_int;                 /* numbers written without fraction/exponent */
  int bval;
  int64_t ival;
  double dval;
  char *key;                  /* NULL for the root and list elements */
  char *str;                  /* strings */
  char **labels;
  size_t nlabels;
  struct cairn_cfg **kids;    /* block children or list elements */
  size_t nkids, capkids;
  size_t idx;                 /* position in the parent */
  struct cairn_cfg *parent;
  const char *file;           /* the root's name */
  char *name;                 /* owned copy of the name, root only */
};

/* ---- tokenizer ---------------------------------------------------------- */

enum tk {
  TK_EOF, TK_IDENT, TK_STRING, TK_NUMBER, TK_LBRACE, TK_RBRACE, TK_LBRACK,
  TK_RBRACK, TK_EQ, TK_COMMA
};

struct parser {
  struct cairn_rd rd;
  const char *name;
  int line;                   /* line of the next unread byte */
  size_t nodes;
  /* The current token. */
  enum tk tk;
  int tline;
  struct cairn_buf text;      /* identifier, string contents, number text */
  int is_int;
  int64_t ival;
  double dval;
};

static int perr(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, int line, const char *fmt, ...)
{
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return cairn_seterr(CAIRN_ERR_CONFIG, "%s:%d: %s", p->name, line, msg);
}

static int nomem(void)
{
  return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory parsing configuration");
}

/* The byte `ahead` positions after the read position, -1 past the end. */
static int peekc(const struct parser *p, size_t ahead)
{
  struct cairn_rd t = p->rd;
  uint8_t c;
  if (cairn_rd_left(&t) <= ahead) return -1;
  if (cairn_rd_skip(&t, ahead) != CAIRN_OK || cairn_rd_peek_u8(&t, &c) != CAIRN_OK)
    return -1;
  return c;
}

static int getcx(struct parser *p)
{
  uint8_t c;
  if (cairn_rd_left(&p->rd) == 0 || cairn_rd_u8(&p->rd, &c) != CAIRN_OK) return -1;
  if (c == '\n') p->line++;
  return c;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_ident1(int c) { return is_alpha(c) || c == '_'; }
static int is_ident(int c) { return is_ident1(c) || is_digit(c) || c == '.' || c == '-'; }

static int hexval(int c)
{
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int skip_space(struct parser *p)
{
  for (;;) {
    int c = peekc(p, 0);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      getcx(p);
    } else if (c == '#' || (c == '/' && peekc(p, 1) == '/')) {
      while ((c = peekc(p, 0)) != -1 && c != '\n') getcx(p);
    } else if (c == '/' && peekc(p, 1) == '*') {
      int start = p->line;
      getcx(p);
      getcx(p);
      for (;;) {
        c = getcx(p);
        if (c == -1)
          return perr(p, start, "unterminated comment ('/*' is never closed)");
        if (c == '*' && peekc(p, 0) == '/') {
          getcx(p);
          break;
        }
      }
    } else {
      return CAIRN_OK;
    }
  }
}

/* Appends code point cp (valid, non-zero, not a surrogate) as UTF-8. */
static int put_utf8(struct cairn_buf *b, uint32_t cp)
{
  uint8_t u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (uint8_t)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (uint8_t)(0xC0 | cp >> 6);
    u[1] = (uint8_t)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (uint8_t)(0xE0 | cp >> 12);
    u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    u[2] = (uint8_t)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (uint8_t)(0xF0 | cp >> 18);
    u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    u[3] = (uint8_t)(0x80 | (cp & 0x3F));
    n = 4;
  }
  return cairn_buf_append(b, u, n);
}

/* Reads the 4 hex digits after "\u". */
static int read_hex4(struct parser *p, uint32_t *v)
{
  uint32_t x = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(peekc(p, 0));
    if (h < 0) return perr(p, p->line, "invalid \\u escape in string (needs 4 hex digits)");
    getcx(p);
    x = x << 4 | (uint32_t)h;
  }
  *v = x;
  return CAIRN_OK;
}

static int lex_escape(struct parser *p)
{
  int c = getcx(p), r;
  uint32_t cp, lo;
  char ch;

  switch (c) {
    case '"': ch = '"'; break;
    case '\\': ch = '\\'; break;
    case '/': ch = '/'; break;
    case 'n': ch = '\n'; break;
    case 't': ch = '\t'; break;
    case 'r': ch = '\r'; break;
    case 'u':
      if ((r = read_hex4(p, &cp)) != CAIRN_OK) return r;
      if (cp == 0)
        return perr(p, p->line, "\\u0000 is not allowed in strings");
      if (cp >= 0xDC00 && cp <= 0xDFFF)
        return perr(p, p->line, "invalid \\u escape in string (lone low surrogate)");
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (peekc(p, 0) != '\\' || peekc(p, 1) != 'u')
          return perr(p, p->line,
                      "invalid \\u escape in string (high surrogate without low "
                      "surrogate)");
        getcx(p);
        getcx(p);
        if ((r = read_hex4(p, &lo)) != CAIRN_OK) return r;
        if (lo < 0xDC00 || lo > 0xDFFF)
          return perr(p, p->line,
                      "invalid \\u escape in string (high surrogate without low "
                      "surrogate)");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      return put_utf8(&p->text, cp) == CAIRN_OK ? CAIRN_OK : nomem();
    case -1:
    case '\n':
      return perr(p, p->line, "unterminated string");
    default:
      if (c > 0x20 && c < 0x7F)
        return perr(p, p->line, "invalid escape '\\%c' in string", c);
      return perr(p, p->line, "invalid escape in string (byte 0x%02x after '\\')", c);
  }
  return cairn_buf_putc(&p->text, ch) == CAIRN_OK ? CAIRN_OK : nomem();
}

/* Checks and copies one multi-byte UTF-8 sequence whose lead byte c has
 * been read. */
static int lex_utf8(struct parser *p, int c)
{
  uint8_t u[4];
  int n, lo = 0x80, hi = 0xBF;

  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) n = 3;
  else if (c >= 0xF0 && c <= 0xF4) n = 4;
  else return perr(p, p->line, "invalid UTF-8 in string (byte 0x%02x)", c);
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;   /* no UTF-16 surrogates */
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;   /* nothing above U+10FFFF */
  u[0] = (uint8_t)c;
  for (int i = 1; i < n; i++) {
    int d = peekc(p, 0);
    if (d < lo || d > hi)
      return perr(p, p->line, "invalid UTF-8 in string (bad sequence after 0x%02x)", c);
    getcx(p);
    u[i] = (uint8_t)d;
    lo = 0x80;
    hi = 0xBF;
  }
  return cairn_buf_append(&p->text, u, (size_t)n) == CAIRN_OK ? CAIRN_OK : nomem();
}

/* The opening quote has been read. */
static int lex_string(struct parser *p)
{
  int start = p->line, r;
  for (;;) {
    int c = getcx(p);
    if (c == -1) return perr(p, start, "unterminated string");
    if (c == '\n')
      return perr(p, start, "unterminated string (a string cannot span lines)");
    if (c == '"') return CAIRN_OK;
    if (c == '\\') {
      r = lex_escape(p);
    } else if (c < 0x20 || c == 0x7F) {
      if (c == '\t') {
        r = cairn_buf_putc(&p->text, '\t') == CAIRN_OK ? CAIRN_OK : nomem();
      } else {
        r = perr(p, p->line, "control character 0x%02x in string (use an escape)", c);
      }
    } else if (c < 0x80) {
      r = cairn_buf_putc(&p->text, (char)c) == CAIRN_OK ? CAIRN_OK : nomem();
    } else {
      r = lex_utf8(p, c);
    }
    if (r != CAIRN_OK) return r;
  }
}

/* Validates number text; returns 1 (valid), 0 (invalid), -1 (leading 0). */
static int num_syntax(const char *s, int *is_int)
{
  size_t i = 0;
  *is_int = 1;
  if (s[i] == '-') i++;
  if (!is_digit(s[i])) return 0;
  if (s[i] == '0' && is_digit(s[i + 1])) return -1;
  while (is_digit(s[i])) i++;
  if (s[i] == '.') {
    i++;
    if (!is_digit(s[i])) return 0;
    while (is_digit(s[i])) i++;
    *is_int = 0;
  }
  if (s[i] == 'e' || s[i] == 'E') {
    i++;
    if (s[i] == '+' || s[i] == '-') i++;
    if (!is_digit(s[i])) return 0;
    while (is_digit(s[i])) i++;
    *is_int = 0;
  }
  return s[i] == 0;
}

static int lex_number(struct parser *p)
{
  const char *s;
  int c, prev = 0, ok;

  while ((c = peekc(p, 0)) != -1 &&
         (is_ident1(c) || is_digit(c) || c == '.' ||
          (p->text.len == 0 && c == '-') ||
          ((c == '+' || c == '-') && (prev == 'e' || prev == 'E')))) {
    if (p->text.len >= NUM_TEXT_MAX)
      return perr(p, p->tline, "number too long (more than %d characters)",
                  NUM_TEXT_MAX);
    getcx(p);
    if (cairn_buf_putc(&p->text, (char)c) != CAIRN_OK) return nomem();
    prev = c;
  }
  s = (const char *)p->text.data;
  ok = num_syntax(s, &p->is_int);
  if (ok < 0)
    return perr(p, p->tline,
                "invalid number '%s' (leading zeros are not allowed)", s);
  if (!ok) {
    for (size_t i = 0; s[i]; i++)
      if (is_alpha(s[i]) && s[i] != 'e' && s[i] != 'E')
        return perr(p, p->tline,
                    "invalid number '%s' (durations and other strings must be "
                    "quoted: \"%s\")", s, s);
    return perr(p, p->tline, "invalid number '%s'", s);
  }
  if (p->is_int) {
    int neg = s[0] == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = neg; s[i]; i++) {
      unsigned d = (unsigned)(s[i] - '0');
      if (v > (lim - d) / 10)
        return perr(p, p->tline, "integer %s is out of range (64 bits)", s);
      v = v * 10 + d;
    }
    if (neg)
      p->ival = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
      p->ival = (int64_t)v;
    p->dval = (double)p->ival;
  } else {
    char *end;
    errno = 0;
    p->dval = strtod(s, &end);
    if (*end != 0 || isinf(p->dval) || isnan(p->dval))
      return perr(p, p->tline, "number %s is out of range", s);
    p->ival = 0;
  }
  return CAIRN_OK;
}

/* Reads the next token into p. */
static int advance(struct parser *p)
{
  int c, r;

  if ((r = skip_space(p)) != CAIRN_OK) return r;
  cairn_buf_reset(&p->text);
  p->tline = p->line;
  c = peekc(p, 0);
  switch (c) {
    case -1: p->tk = TK_EOF; return CAIRN_OK;
    case '{': p->tk = TK_LBRACE; break;
    case '}': p->tk = TK_RBRACE; break;
    case '[': p->tk = TK_LBRACK; break;
    case ']': p->tk = TK_RBRACK; break;
    case '=': p->tk = TK_EQ; break;
    case ',': p->tk = TK_COMMA; break;
    case '"':
      getcx(p);
      p->tk = TK_STRING;
      if ((r = lex_string(p)) != CAIRN_OK) return r;
      /* Makes text.data a C string even for "". */
      return cairn_buf_append(&p->text, "", 0) == CAIRN_OK ? CAIRN_OK : nomem();
    default:
      if (c == '<' && peekc(p, 1) == '<')
        return perr(p, p->tline, "heredoc strings (<<) are not supported");
      if (is_digit(c) || c == '-') {
        p->tk = TK_NUMBER;
        return lex_number(p);
      }
      if (is_ident1(c)) {
        p->tk = TK_IDENT;
        while ((c = peekc(p, 0)) != -1 && is_ident(c)) {
          getcx(p);
          if (cairn_buf_putc(&p->text, (char)c) != CAIRN_OK) return nomem();
        }
        return CAIRN_OK;
      }
      if (c == 0) return perr(p, p->tline, "NUL byte in input");
      if (c > 0x20 && c < 0x7F)
        return perr(p, p->tline, "unexpected character '%c'", c);
      return perr(p, p->tline, "unexpected byte 0x%02x", c);
  }
  getcx(p);
  return CAIRN_OK;
}

/* Describes the current token for messages. */
static const char *tk_desc(const struct parser *p, char *buf, size_t n)
{
  const char *t = p->text.data ? (const char *)p->text.data : "";
  switch (p->tk) {
    case TK_EOF: return "end of file";
    case TK_IDENT: snprintf(buf, n, "'%.40s'", t); return buf;
    case TK_STRING: snprintf(buf, n, "string \"%.40s\"", t); return buf;
    case TK_NUMBER: snprintf(buf, n, "number %s", t); return buf;
    case TK_LBRACE: return "'{'";
    case TK_RBRACE: return "'}'";
    case TK_LBRACK: return "'['";
    case TK_RBRACK: return "']'";
    case TK_EQ: return "'='";
    case TK_COMMA: return "','";
  }
  return "?";
}

/* ---- tree ----------------------------------------------------------------- */

static void node_free(struct cairn_cfg *n)
{
  if (!n) return;
  for (size_t i = 0; i < n->nkids; i++) node_free(n->kids[i]);
  for (size_t i = 0; i < n->nlabels; i++) free(n->labels[i]);
  free(n->labels);
  free(n->kids);
  free(n->key);
  free(n->str);
  free(n->name);
  free(n);
}

void cairn_cfg_free(struct cairn_cfg *root)
{
  node_free(root);
}

/* Appends a new empty node to parent (which owns it from then on). */
static int add_child(struct parser *p, struct cairn_cfg *parent, int line,
                     struct cairn_cfg **out)
{
  struct cairn_cfg *n;

  if (p->nodes >= CAIRN_CFG_NODES_MAX)
    return perr(p, line, "too many items (more than %d)", CAIRN_CFG_NODES_MAX);
  if (parent->nkids == parent->capkids) {
    size_t cap = parent->capkids ? parent->capkids * 2 : 8;
    struct cairn_cfg **k = realloc(parent->kids, cap * sizeof *k);
    if (!k) return nomem();
    parent->kids = k;
    parent->capkids = cap;
  }
  n = calloc(1, sizeof *n);
  if (!n) return nomem();
  n->line = line;
  n->parent = parent;
  n->file = parent->file;
  n->idx = parent->nkids;
  parent->kids[parent->nkids++] = n;
  p->nodes++;
  *out = n;
  return CAIRN_OK;
}

static char *text_dup(const struct parser *p)
{
  return cairn_strndup(p->text.data ? (const char *)p->text.data : "", p->text.len);
}

/* ---- parser --------------------------------------------------------------- */

static int parse_value(struct parser *p, struct cairn_cfg *n, int depth);

static int cmp_key(const void *a, const void *b)
{
  const struct cairn_cfg *x = *(const struct cairn_cfg *const *)a;
  const struct cairn_cfg *y = *(const struct cairn_cfg *const *)b;
  int c = strcmp(x->key, y->key);
  if (c) return c;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* A key may repeat only when every occurrence is a block. Reports the
 * earliest (in file order) occurrence that conflicts with an earlier one. */
static int check_dups(struct parser *p, struct cairn_cfg *blk)
{
  struct cairn_cfg **v, *bad = NULL, *first = NULL;
  size_t n = blk->nkids;

  if (n < 2) return CAIRN_OK;
  v = malloc(n * sizeof *v);
  if (!v) return nomem();
  memcpy(v, blk->kids, n * sizeof *v);
  qsort(v, n, sizeof *v, cmp_key);
  for (size_t s = 0, e; s < n; s = e) {
    struct cairn_cfg *nonblock = v[s]->type != CAIRN_CFG_BLOCK ? v[s] : NULL;
    for (e = s + 1; e < n && strcmp(v[e]->key, v[s]->key) == 0; e++) {
      struct cairn_cfg *partner = NULL;
      if (v[e]->type != CAIRN_CFG_BLOCK) partner = v[s];
      else if (nonblock) partner = nonblock;
      if (!nonblock && v[e]->type != CAIRN_CFG_BLOCK) nonblock = v[e];
      if (partner && (!bad || v[e]->idx < bad->idx)) {
        bad = v[e];
        first = partner;
      }
    }
  }
  free(v);
  if (bad)
    return perr(p, bad->line,
                "duplicate key '%s' (first given on line %d; only blocks may "
                "repeat)", bad->key, first->line);
  return CAIRN_OK;
}

/* Parses items until '}' (open_line > 0: the line of the '{') or the end
 * of the input (open_line == 0, the root). Leaves the '}' current. */
static int parse_body(struct parser *p, struct cairn_cfg *blk, int depth,
                      int open_line)
{
  char d[80];
  int r;

  for (;;) {
    if (p->tk == TK_EOF) {
      if (open_line)
        return perr(p, p->tline,
                    "unexpected end of file: '{' on line %d is never closed",
                    open_line);
      break;
    }
    if (p->tk == TK_RBRACE) {
      if (!open_line) return perr(p, p->tline, "unexpected '}' (no block is open)");
      break;
    }
    if (p->tk != TK_IDENT && p->tk != TK_STRING)
      return perr(p, p->tline, "expected a key, found %s", tk_desc(p, d, sizeof d));
    {
      struct cairn_cfg *n;
      if (p->tk == TK_STRING && p->text.len == 0)
        return perr(p, p->tline, "empty key");
      if ((r = add_child(p, blk, p->tline, &n)) != CAIRN_OK) return r;
      if (!(n->key = text_dup(p))) return nomem();
      if ((r = advance(p)) != CAIRN_OK) return r;
      if (p->tk == TK_EQ) {
        if ((r = advance(p)) != CAIRN_OK) return r;
        if ((r = parse_value(p, n, depth)) != CAIRN_OK) return r;
      } else {
        while (p->tk == TK_STRING) {
          char **l;
          if (n->nlabels >= CAIRN_CFG_LABELS_MAX)
            return perr(p, p->tline, "too many labels on block '%s' (more than %d)",
                        n->key, CAIRN_CFG_LABELS_MAX);
          l = realloc(n->labels, (n->nlabels + 1) * sizeof *l);
          if (!l) return nomem();
          n->labels = l;
          if (!(l[n->nlabels] = text_dup(p))) return nomem();
          n->nlabels++;
          if ((r = advance(p)) != CAIRN_OK) return r;
        }
        if (p->tk != TK_LBRACE) {
          if (n->nlabels)
            return perr(p, p->tline, "expected '{' after the labels of '%s', found %s",
                        n->key, tk_desc(p, d, sizeof d));
          return perr(p, p->tline, "expected '=' or '{' after key '%s', found %s",
                      n->key, tk_desc(p, d, sizeof d));
        }
        if ((r = parse_value(p, n, depth)) != CAIRN_OK) return r;
      }
    }
    if (p->tk == TK_COMMA && (r = advance(p)) != CAIRN_OK) return r;
  }
  return check_dups(p, blk);
}

/* Parses the value starting at the current token into n (whose line and
 * key are set); depth is the nesting level of n's parent. */
static int parse_value(struct parser *p, struct cairn_cfg *n, int depth)
{
  char d[80];
  int r, open;

  switch (p->tk) {
    case TK_STRING:
      n->type = CAIRN_CFG_STRING;
      if (!(n->str = text_dup(p))) return nomem();
      return advance(p);
    case TK_NUMBER:
      n->type = CAIRN_CFG_NUMBER;
      n->is_int = p->is_int;
      n->ival = p->ival;
      n->dval = p->dval;
      return advance(p);
    case TK_IDENT:
      if (strcmp((const char *)p->text.data, "true") == 0 ||
          strcmp((const char *)p->text.data, "false") == 0) {
        n->type = CAIRN_CFG_BOOL;
        n->bval = p->text.data[0] == 't';
        return advance(p);
      }
      return perr(p, p->tline,
                  "unexpected '%.40s' (string values must be quoted)",
                  (const char *)p->text.data);
    case TK_LBRACE:
    case TK_LBRACK:
      if (depth + 1 > CAIRN_CFG_DEPTH_MAX)
        return perr(p, p->tline, "nesting deeper than %d levels",
                    CAIRN_CFG_DEPTH_MAX);
      open = p->tline;
      if (p->tk == TK_LBRACE) {
        n->type = CAIRN_CFG_BLOCK;
        if ((r = advance(p)) != CAIRN_OK) return r;
        if ((r = parse_body(p, n, depth + 1, open)) != CAIRN_OK) return r;
        return advance(p);  /* the '}' */
      }
      n->type = CAIRN_CFG_LIST;
      if ((r = advance(p)) != CAIRN_OK) return r;
      for (;;) {
        struct cairn_cfg *e;
        if (p->tk == TK_RBRACK) return advance(p);
        if (p->tk == TK_EOF)
          return perr(p, p->tline,
                      "unexpected end of file: '[' on line %d is never closed",
                      open);
        if ((r = add_child(p, n, p->tline, &e)) != CAIRN_OK) return r;
        if ((r = parse_value(p, e, depth + 1)) != CAIRN_OK) return r;
        if (p->tk == TK_COMMA) {
          if ((r = advance(p)) != CAIRN_OK) return r;
        } else if (p->tk != TK_RBRACK) {
          if (p->tk == TK_EOF)
            return perr(p, p->tline,
                        "unexpected end of file: '[' on line %d is never "
                        "closed", open);
          return perr(p, p->tline,
                      "expected ',' or ']' after a list element, found %s",
                      tk_desc(p, d, sizeof d));
        }
      }
    case TK_EOF:
      return perr(p, p->tline, "unexpected end of file, expected a value");
    default:
      return perr(p, p->tline, "expected a value, found %s",
                  tk_desc(p, d, sizeof d));
  }
}

int cairn_cfg_parse_buf(const char *name, const char *data, size_t len,
                        struct cairn_cfg **root)
{
  struct parser p;
  struct cairn_cfg *t = NULL;
  const char *nul;
  int r = CAIRN_ERR_INTERNAL;

  *root = NULL;
  memset(&p, 0, sizeof p);
  if (!name) name = "<config>";
  if (!data && len) return cairn_seterr(CAIRN_ERR_INVAL, "%s: no data", name);
  if (len > CAIRN_CFG_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%s: larger than %d bytes", name,
                        CAIRN_CFG_MAX);
  cairn_buf_init(&p.text, CAIRN_CFG_MAX);
  t = calloc(1, sizeof *t);
  if (!t || !(t->name = cairn_strdup(name))) {
    r = nomem();
    goto out;
  }
  t->type = CAIRN_CFG_BLOCK;
  t->file = t->name;
  p.name = t->name;
  p.line = 1;
  cairn_rd_init(&p.rd, data, len);
  nul = len ? memchr(data, 0, len) : NULL;
  if (nul) {
    /* Report the NUL's line before anything else: it cannot be text. */
    size_t off = (size_t)(nul - data);
    int line = 1;
    struct cairn_rd scan;
    const uint8_t *b;
    cairn_rd_init(&scan, data, off);
    while (cairn_rd_left(&scan)) {
      cairn_rd_bytes(&scan, 1, &b);
      if (*b == '\n') line++;
    }
    r = perr(&p, line, "NUL byte in input (not a text file?)");
    goto out;
  }
  if (peekc(&p, 0) == 0xEF && peekc(&p, 1) == 0xBB && peekc(&p, 2) == 0xBF)
    cairn_rd_skip(&p.rd, 3);
  if ((r = advance(&p)) != CAIRN_OK) goto out;
  if ((r = parse_body(&p, t, 0, 0)) != CAIRN_OK) goto out;
  *root = t;
  t = NULL;  /* handed over */
  r = CAIRN_OK;
out:
  cairn_buf_cleanup(&p.text);
  node_free(t);
  return r;
}

int cairn_cfg_parse_file(const char *path, struct cairn_cfg **root)
{
  uint8_t *data = NULL;
  size_t len = 0;
  int r;

  *root = NULL;
  if (!path) return cairn_seterr(CAIRN_ERR_INVAL, "no configuration path");
  if ((r = cairn_file_read(path, CAIRN_CFG_MAX, &data, &len)) != CAIRN_OK)
    return r;
  r = cairn_cfg_parse_buf(path, (const char *)data, len, root);
  free(data);
  return r;
}

/* ---- accessors ------------------------------------------------------------ */

enum cairn_cfg_type cairn_cfg_type(const struct cairn_cfg *n)
{
  return n ? n->type : (enum cairn_cfg_type)0;
}

const char *cairn_cfg_key(const struct cairn_cfg *n)
{
  return n ? n->key : NULL;
}

size_t cairn_cfg_label_count(const struct cairn_cfg *n)
{
  return n ? n->nlabels : 0;
}

const char *cairn_cfg_label(const struct cairn_cfg *n, size_t i)
{
  return n && i < n->nlabels ? n->labels[i] : NULL;
}

int cairn_cfg_line(const struct cairn_cfg *n)
{
  return n ? n->line : 0;
}

const char *cairn_cfg_file(const struct cairn_cfg *n)
{
  return n ? n->file : NULL;
}

size_t cairn_cfg_count(const struct cairn_cfg *n)
{
  return n ? n->nkids : 0;
}

const struct cairn_cfg *cairn_cfg_at(const struct cairn_cfg *n, size_t i)
{
  return n && i < n->nkids ? n->kids[i] : NULL;
}

const char *cairn_cfg_str(const struct cairn_cfg *n)
{
  return n && n->type == CAIRN_CFG_STRING ? n->str : NULL;
}

int64_t cairn_cfg_int(const struct cairn_cfg *n)
{
  return n && n->type == CAIRN_CFG_NUMBER && n->is_int ? n->ival : 0;
}

double cairn_cfg_num(const struct cairn_cfg *n)
{
  return n && n->type == CAIRN_CFG_NUMBER ? n->dval : 0.0;
}

int cairn_cfg_bool(const struct cairn_cfg *n)
{
  return n && n->type == CAIRN_CFG_BOOL ? n->bval : 0;
}

int cairn_cfg_is_int(const struct cairn_cfg *n)
{
  return n && n->type == CAIRN_CFG_NUMBER && n->is_int;
}

/* The tree is handed out const so consumers cannot change values; the
 * used flag is bookkeeping of the parser's own allocation. */
void cairn_cfg_mark_used(const struct cairn_cfg *n)
{
  if (n) ((struct cairn_cfg *)n)->used = 1;
}

void cairn_cfg_mark_tree_used(const struct cairn_cfg *n)
{
  if (!n) return;
  cairn_cfg_mark_used(n);
  for (size_t i = 0; i < n->nkids; i++) cairn_cfg_mark_tree_used(n->kids[i]);
}

int cairn_cfg_error(const struct cairn_cfg *n, const char *fmt, ...)
{
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!n) return cairn_seterr(CAIRN_ERR_CONFIG, "%s", msg);
  if (n->line <= 0) return cairn_seterr(CAIRN_ERR_CONFIG, "%s: %s", n->file, msg);
  return cairn_seterr(CAIRN_ERR_CONFIG, "%s:%d: %s", n->file, n->line, msg);
}

static const char *type_name(enum cairn_cfg_type t)
{
  switch (t) {
    case CAIRN_CFG_STRING: return "a string";
    case CAIRN_CFG_NUMBER: return "a number";
    case CAIRN_CFG_BOOL: return "a boolean";
    case CAIRN_CFG_LIST: return "a list";
    case CAIRN_CFG_BLOCK: return "a block";
  }
  return "nothing";
}

/* Finds and marks the first child named key; NOT_FOUND otherwise. */
static int find(const struct cairn_cfg *parent, const char *key,
                const struct cairn_cfg **out)
{
  if (!parent || parent->type != CAIRN_CFG_BLOCK || !key)
    return CAIRN_ERR_NOT_FOUND;
  for (size_t i = 0; i < parent->nkids; i++) {
    if (strcmp(parent->kids[i]->key, key) == 0) {
      cairn_cfg_mark_used(parent->kids[i]);
      *out = parent->kids[i];
      return CAIRN_OK;
    }
  }
  return CAIRN_ERR_NOT_FOUND;
}

static int mismatch(const struct cairn_cfg *n, const char *want)
{
  return cairn_cfg_error(n, "%s: expected %s, got %s", n->key, want,
                         type_name(n->type));
}

int cairn_cfg_get_str(const struct cairn_cfg *parent, const char *key,
                      const char **out)
{
  const struct cairn_cfg *n = NULL;
  int r = find(parent, key, &n);
  if (r != CAIRN_OK) return r;
  if (n->type != CAIRN_CFG_STRING) return mismatch(n, "a string");
  *out = n->str;
  return CAIRN_OK;
}

static int get_int_node(const struct cairn_cfg *parent, const char *key,
                        const struct cairn_cfg **np)
{
  const struct cairn_cfg *n = NULL;
  int r = find(parent, key, &n);
  if (r != CAIRN_OK) return r;
  if (n->type != CAIRN_CFG_NUMBER) return mismatch(n, "an integer");
  if (!n->is_int)
    return cairn_cfg_error(n, "%s: expected an integer, got %g", n->key, n->dval);
  *np = n;
  return CAIRN_OK;
}

int cairn_cfg_get_int(const struct cairn_cfg *parent, const char *key,
                      int64_t *out)
{
  const struct cairn_cfg *n = NULL;
  int r = get_int_node(parent, key, &n);
  if (r != CAIRN_OK) return r;
  *out = n->ival;
  return CAIRN_OK;
}

int cairn_cfg_get_int_range(const struct cairn_cfg *parent, const char *key,
                            int64_t lo, int64_t hi, int64_t *out)
{
  const struct cairn_cfg *n = NULL;
  int r = get_int_node(parent, key, &n);
  if (r != CAIRN_OK) return r;
  if (n->ival < lo || n->ival > hi)
    return cairn_cfg_error(n, "%s: %lld is out of range (%lld..%lld)", n->key,
                           (long long)n->ival, (long long)lo, (long long)hi);
  *out = n->ival;
  return CAIRN_OK;
}

int cairn_cfg_get_num(const struct cairn_cfg *parent, const char *key,
                      double *out)
{
  const struct cairn_cfg *n = NULL;
  int r = find(parent, key, &n);
  if (r != CAIRN_OK) return r;
  if (n->type != CAIRN_CFG_NUMBER) return mismatch(n, "a number");
  *out = n->dval;
  return CAIRN_OK;
}

int cairn_cfg_get_bool(const struct cairn_cfg *parent, const char *key,
                       int *out)
{
  const struct cairn_cfg *n = NULL;
  int r = find(parent, key, &n);
  if (r != CAIRN_OK) return r;
  if (n->type != CAIRN_CFG_BOOL) return mismatch(n, "a boolean (true or false)");
  *out = n->bval;
  return CAIRN_OK;
}

int cairn_cfg_get_duration(const struct cairn_cfg *parent, const char *key,
                           int64_t *seconds)
{
  const struct cairn_cfg *n = NULL;
  int64_t v;
  int r = find(parent, key, &n);

  if (r != CAIRN_OK) return r;
  if (n->type == CAIRN_CFG_NUMBER) {
    if (!n->is_int)
      return cairn_cfg_error(n,
                             "%s: expected a duration such as \"90s\" or a "
                             "whole number of seconds, got %g", n->key, n->dval);
    if (n->ival < 0)
      return cairn_cfg_error(n, "%s: a duration cannot be negative", n->key);
    *seconds = n->ival;
    return CAIRN_OK;
  }
  if (n->type != CAIRN_CFG_STRING) return mismatch(n, "a duration");
  if (n->str[0] == '-')
    return cairn_cfg_error(n, "%s: a duration cannot be negative", n->key);
  if (cairn_duration_parse(n->str, &v) != CAIRN_OK) {
    const char *s = n->str;
    size_t l = strlen(s);
    if (l > 2 && (strcmp(s + l - 2, "ms") == 0 || strcmp(s + l - 2, "us") == 0 ||
                  strcmp(s + l - 2, "ns") == 0 ||
                  (l > 3 && strcmp(s + l - 3, "\xc2\xb5s") == 0)))
      return cairn_cfg_error(n,
                             "%s: invalid duration '%.64s' (sub-second units are "
                             "not supported; use s, m, h, d)", n->key, s);
    if (l == 0)
      return cairn_cfg_error(n, "%s: empty duration", n->key);
    /* cairn_duration_parse's detail is reused here; copy it first since
     * cairn_cfg_error overwrites the same thread-local slot. */
    {
      char why[256];
      snprintf(why, sizeof why, "%s", cairn_errdetail());
      return cairn_cfg_error(n, "%s: %s", n->key, why);
    }
  }
  *seconds = v;
  return CAIRN_OK;
}

int cairn_cfg_get_strlist(const struct cairn_cfg *parent, const char *key,
                          const struct cairn_cfg **out)
{
  const struct cairn_cfg *n = NULL;
  int r = find(parent, key, &n);
  if (r != CAIRN_OK) return r;
  if (n->type != CAIRN_CFG_LIST) return mismatch(n, "a list of strings");
  for (size_t i = 0; i < n->nkids; i++)
    if (n->kids[i]->type != CAIRN_CFG_STRING)
      return cairn_cfg_error(n->kids[i],
                             "%s: expected a list of strings, element %zu is %s",
                             n->key, i + 1, type_name(n->kids[i]->type));
  *out = n;
  return CAIRN_OK;
}

const struct cairn_cfg *cairn_cfg_block(const struct cairn_cfg *parent,
                                        const char *key)
{
  if (!parent || parent->type != CAIRN_CFG_BLOCK || !key) return NULL;
  for (size_t i = 0; i < parent->nkids; i++) {
    const struct cairn_cfg *c = parent->kids[i];
    if (c->type == CAIRN_CFG_BLOCK && strcmp(c->key, key) == 0) {
      cairn_cfg_mark_used(c);
      return c;
    }
  }
  return NULL;
}

int cairn_cfg_get_block(const struct cairn_cfg *parent, const char *key,
                        const struct cairn_cfg **out)
{
  const struct cairn_cfg *n = NULL;
  int r = find(parent, key, &n);
  if (r != CAIRN_OK) return r;
  if (n->type != CAIRN_CFG_BLOCK) return mismatch(n, "a block");
  *out = n;
  return CAIRN_OK;
}

/* ---- unused keys ---------------------------------------------------------- */

/* Writes the dotted path of block b (labels quoted, list positions as
 * [i]) into out, truncating with "..." when it does not fit. */
static void block_path(const struct cairn_cfg *b, char *out, size_t outlen)
{
  const struct cairn_cfg *chain[CAIRN_CFG_DEPTH_MAX + 2];
  size_t n = 0, o = 0;

  for (; b && b->parent && n < sizeof chain / sizeof *chain; b = b->parent)
    chain[n++] = b;
  out[0] = 0;
  while (n--) {
    const struct cairn_cfg *c = chain[n];
    int k;
    if (c->key)
      k = snprintf(out + o, outlen - o, "%s%s", o ? "." : "", c->key);
    else
      k = snprintf(out + o, outlen - o, "[%zu]", c->idx);
    if (k < 0 || (size_t)k >= outlen - o) goto trunc;
    o += (size_t)k;
    for (size_t i = 0; i < c->nlabels; i++) {
      k = snprintf(out + o, outlen - o, " \"%s\"", c->labels[i]);
      if (k < 0 || (size_t)k >= outlen - o) goto trunc;
      o += (size_t)k;
    }
  }
  return;
trunc:
  if (outlen >= 4) memcpy(out + outlen - 4, "...", 4);
}

static int unused_walk(const struct cairn_cfg *n)
{
  int r;
  for (size_t i = 0; i < n->nkids; i++) {
    const struct cairn_cfg *c = n->kids[i];
    if (n->type == CAIRN_CFG_BLOCK && !c->used) {
      char path[200];
      if (!n->parent)
        return cairn_cfg_error(c, "unknown key '%.100s' at top level", c->key);
      block_path(n, path, sizeof path);
      return cairn_cfg_error(c, "unknown key '%.100s' in block '%s'", c->key,
                             path);
    }
    if ((r = unused_walk(c)) != CAIRN_OK) return r;
  }
  return CAIRN_OK;
}

int cairn_cfg_check_unused(const struct cairn_cfg *n)
{
  return n ? unused_walk(n) : CAIRN_OK;
}

/* ---- helpers for daemon loaders ----------------------------------------- */

const struct cairn_cfg *cairn_cfg_where(const struct cairn_cfg *blk,
                                        const char *key)
{
  for (size_t i = 0; key && i < cairn_cfg_count(blk); i++) {
    const struct cairn_cfg *n = blk->kids[i];
    if (n->key && strcmp(n->key, key) == 0) return n;
  }
  return blk;
}

int cairn_cfg_set_str(char **dst, const char *s)
{
  char *d = cairn_strdup(s);
  if (!d) return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  free(*dst);
  *dst = d;
  return CAIRN_OK;
}

int cairn_cfg_single_block(const struct cairn_cfg *parent, const char *key,
                           const struct cairn_cfg **out)
{
  const struct cairn_cfg *first = NULL;
  int r;

  *out = NULL;
  if ((r = cairn_cfg_get_block(parent, key, &first)) != CAIRN_OK) return r;
  for (size_t i = 0; i < parent->nkids; i++) {
    const struct cairn_cfg *n = parent->kids[i];
    if (n != first && strcmp(n->key, key) == 0)
      return cairn_cfg_error(n, "a second '%s' block (the first is at line %d)",
                             key, first->line);
  }
  *out = first;
  return CAIRN_OK;
}

int cairn_cfg_path_join(const char *dir, const char *path, char **out)
{
  size_t dl, pl;
  char *s;

  if (!path) return cairn_seterr(CAIRN_ERR_INVAL, "no path");
  if (!dir || path[0] == '/') return cairn_cfg_set_str(out, path);
  dl = strlen(dir);
  pl = strlen(path);
  while (dl > 1 && dir[dl - 1] == '/') dl--;
  if (dl + 1 + pl > CAIRN_CFG_PATH_MAX)
    return cairn_seterr(CAIRN_ERR_CONFIG, "path %s/%s is too long", dir, path);
  s = malloc(dl + 1 + pl + 1);
  if (!s) return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  memcpy(s, dir, dl);
  s[dl] = '/';
  memcpy(s + dl + 1, path, pl + 1);
  free(*out);
  *out = s;
  return CAIRN_OK;
}

/* A path string of 1..CAIRN_CFG_PATH_MAX bytes, not copied. */
static int get_path_str(const struct cairn_cfg *blk, const char *key,
                        const struct cairn_cfg **np)
{
  const struct cairn_cfg *n = NULL;
  int r = find(blk, key, &n);

  if (r != CAIRN_OK) return r;
  if (n->type != CAIRN_CFG_STRING) return mismatch(n, "a string");
  if (!n->str[0]) return cairn_cfg_error(n, "%s: empty path", key);
  if (strlen(n->str) > CAIRN_CFG_PATH_MAX)
    return cairn_cfg_error(n, "%s: path longer than %d bytes", key,
                           CAIRN_CFG_PATH_MAX);
  *np = n;
  return CAIRN_OK;
}

int cairn_cfg_get_path(const struct cairn_cfg *blk, const char *key,
                       const char *base_dir, char **out)
{
  const struct cairn_cfg *n = NULL;
  int r = get_path_str(blk, key, &n);

  if (r != CAIRN_OK) return r;
  r = cairn_cfg_path_join(base_dir, n->str, out);
  if (r == CAIRN_ERR_CONFIG) return cairn_cfg_error(n, "%s", cairn_errdetail());
  return r;
}

int cairn_cfg_get_socket_path(const struct cairn_cfg *blk, const char *key,
                              char **out)
{
  const struct cairn_cfg *n = NULL;
  int r = get_path_str(blk, key, &n);

  if (r != CAIRN_OK) return r;
  if (strlen(n->str) > CAIRN_CFG_SOCKET_PATH_MAX)
    return cairn_cfg_error(n, "%s: %zu bytes, a Unix socket path may have at "
                           "most %d", key, strlen(n->str),
                           CAIRN_CFG_SOCKET_PATH_MAX);
  return cairn_cfg_set_str(out, n->str);
}

int cairn_cfg_get_trust_domain(const struct cairn_cfg *blk, const char *key,
                               char **out)
{
  const struct cairn_cfg *n = NULL;
  int r = find(blk, key, &n);

  if (r != CAIRN_OK) return r;
  if (n->type != CAIRN_CFG_STRING) return mismatch(n, "a string");
  if (cairn_td_validate(n->str) != CAIRN_OK) {
    char why[256];
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    if (strncmp(n->str, "spiffe://", 9) == 0)
      return cairn_cfg_error(n, "%s: give the bare name (\"%.200s\"), not a "
                             "SPIFFE ID", key, n->str + 9);
    return cairn_cfg_error(n, "%s: invalid trust domain \"%.200s\": %s", key,
                           n->str, why);
  }
  return cairn_cfg_set_str(out, n->str);
}

int cairn_cfg_get_log_level(const struct cairn_cfg *blk, const char *key,
                            enum cairn_log_level *out)
{
  const char *s = NULL;
  enum cairn_log_level l;
  int r = cairn_cfg_get_str(blk, key, &s);

  if (r != CAIRN_OK) return r;
  if (cairn_log_level_parse(s, &l) != CAIRN_OK)
    return cairn_cfg_error(cairn_cfg_where(blk, key),
                           "%s: \"%.64s\" is not one of DEBUG, INFO, WARN, "
                           "ERROR", key, s);
  *out = l;
  return CAIRN_OK;
}

int cairn_cfg_load_file(const char *path, cairn_cfg_load_fn fn, void *ctx)
{
  struct cairn_cfg *root = NULL;
  int r;

  if (!path || !path[0])
    return cairn_seterr(CAIRN_ERR_INVAL, "no configuration file given");
  if ((r = cairn_cfg_parse_file(path, &root)) != CAIRN_OK) return r;
  r = fn(path, root, ctx);
  cairn_cfg_free(root);
  return r;
}

int cairn_cfg_load_buf(const char *name, const char *data, size_t len,
                       cairn_cfg_load_fn fn, void *ctx)
{
  struct cairn_cfg *root = NULL;
  int r;

  if (!data && len) return cairn_seterr(CAIRN_ERR_INVAL, "no data");
  if (!name) name = "<config>";
  r = cairn_cfg_parse_buf(name, data ? data : "", len, &root);
  if (r != CAIRN_OK) return r;
  r = fn(name, root, ctx);
  cairn_cfg_free(root);
  return r;
}

/* ---- reaching a server --------------------------------------------------- */

/* An IPv4/IPv6 literal or a DNS host name. */
static int host_ok(const char *s)
{
  unsigned char tmp[16];
  size_t n = strlen(s), label = 0;

  if (inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1)
    return 1;
  if (n == 0 || n > CAIRN_CFG_HOST_MAX) return 0;
  for (size_t i = 0; i <= n; i++) {
    char ch = s[i];
    if (ch == '.' || ch == '\0') {
      if (label == 0 || label > 63 || s[i - 1] == '-') return 0;
      label = 0;
      continue;
    }
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '-'))
      return 0;
    if (label == 0 && ch == '-') return 0;
    label++;
  }
  return 1;
}

int cairn_cfg_get_host(const struct cairn_cfg *blk, const char *key,
                       char **out)
{
  const char *s = NULL;
  int r = cairn_cfg_get_str(blk, key, &s);

  if (r != CAIRN_OK) return r;
  if (!host_ok(s))
    return cairn_cfg_error(cairn_cfg_where(blk, key),
                           "%s: \"%.200s\" is not an IP address or a host "
                           "name", key, s);
  return cairn_cfg_set_str(out, s);
}

int cairn_cfg_check_token(const char *t)
{
  size_t n;

  if (!t || !t[0]) return cairn_seterr(CAIRN_ERR_INVAL, "join token is empty");
  n = strlen(t);
  if (n > CAIRN_CFG_TOKEN_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "join token is longer than %d bytes",
                        CAIRN_CFG_TOKEN_MAX);
  for (size_t i = 0; i < n; i++)
    if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
          (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_' ||
          t[i] == '.'))
      return cairn_seterr(CAIRN_ERR_INVAL, "join token may only hold letters, "
                          "digits, '-', '_' and '.'");
  if (strspn(t, ".") == n)
    return cairn_seterr(CAIRN_ERR_INVAL, "join token cannot be \".\" or "
                        "\"..\"");
  return CAIRN_OK;
}

void cairn_cfg_clear_secret(char **s)
{
  if (!s || !*s) return;
  cairn_freezero(*s, strlen(*s));
  *s = NULL;
}

/* Replaces the secret *dst with a copy of a checked token. */
static int replace_token(char **dst, const char *token)
{
  char *t = cairn_strdup(token);

  if (!t) return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  cairn_cfg_clear_secret(dst);
  *dst = t;
  return CAIRN_OK;
}

int cairn_cfg_get_join_token(const struct cairn_cfg *blk, const char *key,
                             char **out)
{
  const char *s = NULL;
  int r = cairn_cfg_get_str(blk, key, &s);

  if (r != CAIRN_OK) return r;
  if (cairn_cfg_check_token(s) != CAIRN_OK)
    return cairn_cfg_error(cairn_cfg_where(blk, key), "%s: %s", key,
                           cairn_errdetail());
  return replace_token(out, s);
}

int cairn_cfg_set_join_token(char **dst, const char *token)
{
  if (cairn_cfg_check_token(token) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_CONFIG, "-joinToken: %s", cairn_errdetail());
  return replace_token(dst, token);
}

int cairn_cfg_get_bootstrap(const struct cairn_cfg *blk, char **bundle_path,
                            enum cairn_cfg_bundle_format *format,
                            int *insecure)
{
  const char *s = NULL;
  int r;

  r = cairn_cfg_get_path(blk, "trust_bundle_path", NULL, bundle_path);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  r = cairn_cfg_get_str(blk, "trust_bundle_format", &s);
  if (r == CAIRN_OK) {
    if (strcmp(s, "pem") == 0)
      *format = CAIRN_CFG_BUNDLE_PEM;
    else if (strcmp(s, "spiffe") == 0)
      *format = CAIRN_CFG_BUNDLE_SPIFFE;
    else
      return cairn_cfg_error(cairn_cfg_where(blk, "trust_bundle_format"),
                             "trust_bundle_format: \"%.64s\" is not \"pem\" "
                             "or \"spiffe\"", s);
    if (!*bundle_path)
      return cairn_cfg_error(cairn_cfg_where(blk, "trust_bundle_format"),
                             "trust_bundle_format is set but "
                             "trust_bundle_path is not");
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  r = cairn_cfg_get_bool(blk, "insecure_bootstrap", insecure);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  if (*insecure && *bundle_path)
    return cairn_cfg_error(cairn_cfg_where(blk, "insecure_bootstrap"),
                           "only one of insecure_bootstrap and "
                           "trust_bundle_path can be set");
  if (!*insecure && !*bundle_path) return CAIRN_ERR_NOT_FOUND;
  return CAIRN_OK;
}

int cairn_cfg_required_block(const struct cairn_cfg *root, const char *key,
                             const char *hint, const struct cairn_cfg **out)
{
  int r = cairn_cfg_single_block(root, key, out);

  if (r != CAIRN_ERR_NOT_FOUND) return r;
  return cairn_cfg_error(root, "missing %s { } block%s%s%s", key,
                         hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
}

/* ---- plugins -------------------------------------------------------------- */

int cairn_cfg_plugins_init(struct cairn_cfg_plugins *it,
                           const struct cairn_cfg *plugins,
                           const char *program,
                           const struct cairn_cfg_plugin_type *types,
                           size_t ntypes)
{
  if (!it || !program || !types || ntypes == 0 ||
      ntypes > CAIRN_CFG_PLUGIN_TYPES_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "invalid plugin type table");
  if (plugins && plugins->type != CAIRN_CFG_BLOCK)
    return cairn_seterr(CAIRN_ERR_INVAL, "plugins is not a block");
  memset(it, 0, sizeof *it);
  it->plugins = plugins;
  it->program = program;
  it->types = types;
  it->ntypes = ntypes;
  return CAIRN_OK;
}

/* Writes the items of a NULL-terminated list (or the first n of an array
 * of types when names is NULL) as "A, B, C" or, quoted, "\"a\" and \"b\"". */
static void name_list(char *out, size_t outlen, const char *const *names,
                      const struct cairn_cfg_plugin_type *types, size_t n)
{
  size_t o = 0;

  out[0] = 0;
  if (names)
    for (n = 0; names[n]; n++) {}
  for (size_t i = 0; i < n; i++) {
    const char *sep = i == 0 ? "" : (names && i + 1 == n ? " and " : ", ");
    int k = names ? snprintf(out + o, outlen - o, "%s\"%s\"", sep, names[i])
                  : snprintf(out + o, outlen - o, "%s%s", sep, types[i].name);
    if (k < 0 || (size_t)k >= outlen - o) return;  /* truncated */
    o += (size_t)k;
  }
}

/* Checks one plugin block; CAIRN_OK with p filled for an enabled one,
 * CAIRN_ERR_NOT_FOUND for a disabled one. */
static int plugin_check(struct cairn_cfg_plugins *it,
                        const struct cairn_cfg *pb, struct cairn_cfg_plugin *p)
{
  static const char *const external[] = {"plugin_cmd", "plugin_checksum",
                                         "plugin_data_file"};
  const struct cairn_cfg_plugin_type *pt;
  const struct cairn_cfg *pd = NULL;
  char list[300];
  size_t t;
  int enabled = 1, r;

  cairn_cfg_mark_used(pb);
  for (t = 0; t < it->ntypes; t++)
    if (strcmp(pb->key, it->types[t].name) == 0) break;
  if (t == it->ntypes) {
    name_list(list, sizeof list, NULL, it->types, it->ntypes);
    return cairn_cfg_error(pb, "unknown plugin type '%.64s' (%s has %s)",
                           pb->key, it->program, list);
  }
  pt = &it->types[t];
  if (pb->type != CAIRN_CFG_BLOCK || pb->nlabels != 1)
    return cairn_cfg_error(pb, "%s: expected a plugin block %s \"<name>\" "
                           "{ plugin_data { ... } }", pb->key, pb->key);
  r = cairn_cfg_get_bool(pb, "enabled", &enabled);
  if (r != CAIRN_OK && r != CAIRN_ERR_NOT_FOUND) return r;
  if (!enabled) {
    cairn_cfg_mark_tree_used(pb);
    return CAIRN_ERR_NOT_FOUND;
  }
  for (size_t i = 0; i < pb->nkids; i++)
    for (size_t j = 0; j < sizeof external / sizeof *external; j++)
      if (strcmp(pb->kids[i]->key, external[j]) == 0)
        return cairn_cfg_error(pb->kids[i],
                               "%s: external plugins are not supported; "
                               "Cairn's plugins are built in and take "
                               "plugin_data { }", external[j]);
  r = cairn_cfg_get_block(pb, "plugin_data", &pd);
  if (r == CAIRN_ERR_NOT_FOUND) pd = NULL;
  else if (r != CAIRN_OK) return r;
  if (!pt->multi && it->first[t])
    return cairn_cfg_error(pb, "a second %s plugin; only one may be enabled "
                           "(the first is at line %d)", pt->name,
                           it->first[t]->line);
  if (!it->first[t]) it->first[t] = pb;
  if (pt->names) {
    size_t i;
    for (i = 0; pt->names[i]; i++)
      if (strcmp(pb->labels[0], pt->names[i]) == 0) break;
    if (!pt->names[i]) {
      name_list(list, sizeof list, pt->names, NULL, 0);
      return cairn_cfg_error(pb, "unknown %s plugin \"%.64s\" (Cairn has %s)",
                             pt->name, pb->labels[0], list);
    }
  }
  p->type = t;
  p->type_name = pt->name;
  p->name = pb->labels[0];
  p->block = pb;
  p->data = pd;
  return CAIRN_OK;
}

int cairn_cfg_plugins_next(struct cairn_cfg_plugins *it,
                           struct cairn_cfg_plugin *p)
{
  memset(p, 0, sizeof *p);
  while (it->pos < cairn_cfg_count(it->plugins)) {
    int r = plugin_check(it, it->plugins->kids[it->pos++], p);
    if (r != CAIRN_ERR_NOT_FOUND) return r;
  }
  return CAIRN_ERR_NOT_FOUND;
}

const struct cairn_cfg *cairn_cfg_plugins_first(
    const struct cairn_cfg_plugins *it, size_t type)
{
  return it && type < it->ntypes ? it->first[type] : NULL;
}
