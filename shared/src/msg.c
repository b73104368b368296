/* msg.c - the table-driven CBOR codec of the tier protocol (msg_int.h).
 *
 * Decoding never builds a libcbor item tree: cbor_stream_decode() reads one
 * head (or one whole definite string) at a time from a bounded reader and
 * reports it through callbacks into a small token; the schema walk below
 * decides what each token may be. Every count is checked against the
 * field's cap and against the bytes left (each item needs at least one
 * byte) before anything is allocated, so memory stays proportional to the
 * (capped) input. Recursion is bounded by CAIRN_MSG_DEPTH_MAX.
 */
#include "msg_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "cairn/buf.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/msg.h"
#include "cairn/util.h"

#define PATH_MAX_LEN 480

/* ---- tokens from libcbor's streaming decoder ------------------------- */

enum tk {
  TK_NONE, TK_UINT, TK_NINT, TK_BSTR, TK_TSTR, TK_ARRAY, TK_MAP, TK_BOOL,
  TK_NULL, TK_UNDEF, TK_TAG, TK_FLOAT, TK_INDEF, TK_BREAK
};

struct tok {
  enum tk kind;
  uint64_t u;          /* UINT/NINT value, ARRAY/MAP count, BOOL */
  const uint8_t *p;    /* BSTR/TSTR bytes (inside the input) */
  size_t len;
};

static void tok_set(void *c, enum tk kind, uint64_t u)
{
  struct tok *t = c;
  t->kind = kind;
  t->u = u;
}

static void cb_u8(void *c, uint8_t v) { tok_set(c, TK_UINT, v); }
static void cb_u16(void *c, uint16_t v) { tok_set(c, TK_UINT, v); }
static void cb_u32(void *c, uint32_t v) { tok_set(c, TK_UINT, v); }
static void cb_u64(void *c, uint64_t v) { tok_set(c, TK_UINT, v); }
static void cb_n8(void *c, uint8_t v) { tok_set(c, TK_NINT, v); }
static void cb_n16(void *c, uint16_t v) { tok_set(c, TK_NINT, v); }
static void cb_n32(void *c, uint32_t v) { tok_set(c, TK_NINT, v); }
static void cb_n64(void *c, uint64_t v) { tok_set(c, TK_NINT, v); }
static void cb_indef(void *c) { tok_set(c, TK_INDEF, 0); }
static void cb_array(void *c, size_t n) { tok_set(c, TK_ARRAY, n); }
static void cb_map(void *c, size_t n) { tok_set(c, TK_MAP, n); }
static void cb_tag(void *c, uint64_t v) { tok_set(c, TK_TAG, v); }
static void cb_f4(void *c, float v) { (void)v; tok_set(c, TK_FLOAT, 0); }
static void cb_f8(void *c, double v) { (void)v; tok_set(c, TK_FLOAT, 0); }
static void cb_undef(void *c) { tok_set(c, TK_UNDEF, 0); }
static void cb_null(void *c) { tok_set(c, TK_NULL, 0); }
static void cb_bool(void *c, bool v) { tok_set(c, TK_BOOL, v ? 1 : 0); }
static void cb_break(void *c) { tok_set(c, TK_BREAK, 0); }

static void cb_str(void *c, cbor_data p, size_t n, enum tk kind)
{
  struct tok *t = c;
  t->kind = kind;
  t->p = p;
  t->len = n;
}
static void cb_bstr(void *c, cbor_data p, size_t n) { cb_str(c, p, n, TK_BSTR); }
static void cb_tstr(void *c, cbor_data p, size_t n) { cb_str(c, p, n, TK_TSTR); }

static const struct cbor_callbacks callbacks = {
  .uint8 = cb_u8, .uint16 = cb_u16, .uint32 = cb_u32, .uint64 = cb_u64,
  .negint8 = cb_n8, .negint16 = cb_n16, .negint32 = cb_n32,
  .negint64 = cb_n64,
  .byte_string = cb_bstr, .byte_string_start = cb_indef,
  .string = cb_tstr, .string_start = cb_indef,
  .array_start = cb_array, .indef_array_start = cb_indef,
  .map_start = cb_map, .indef_map_start = cb_indef,
  .tag = cb_tag,
  .float2 = cb_f4, .float4 = cb_f4, .float8 = cb_f8,
  .undefined = cb_undef, .null = cb_null, .boolean = cb_bool,
  .indef_break = cb_break,
};

/* ---- walk context: input, output, path for error details --------------- */

struct ctx {
  int code;                 /* CAIRN_ERR_PARSE (decode) or _INVAL (encode) */
  struct cairn_rd rd;       /* decode: the input */
  int depth;                /* decode: open arrays/maps */
  uint8_t *out;             /* encode: NULL while measuring */
  size_t olen;              /* encode: bytes produced (or needed) */
  char path[PATH_MAX_LEN];  /* "entries[3].selectors[0]", "" = the body */
  size_t plen;
};

static int fail(struct ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, int code, const char *fmt, ...)
{
  char msg[320];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return cairn_seterr(code, "%s: %s", c->plen ? c->path : "body", msg);
}

/* Copies n bytes of (possibly hostile) key text as printable ASCII. */
static void sanitize(char *dst, size_t dstlen, const uint8_t *s, size_t n)
{
  size_t i;
  for (i = 0; i < n && i + 1 < dstlen; i++)
    dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
  dst[i] = '\0';
}

static size_t push_key(struct ctx *c, const char *key, size_t n)
{
  size_t saved = c->plen;
  char clean[CAIRN_MSG_KEY_MAX + 1];

  sanitize(clean, sizeof clean, (const uint8_t *)key, n);
  snprintf(c->path + c->plen, sizeof c->path - c->plen, "%s%s",
           c->plen ? "." : "", clean);
  c->plen += strlen(c->path + c->plen);
  return saved;
}

static size_t push_index(struct ctx *c, size_t i)
{
  size_t saved = c->plen;
  snprintf(c->path + c->plen, sizeof c->path - c->plen, "[%zu]", i);
  c->plen += strlen(c->path + c->plen);
  return saved;
}

static void pop(struct ctx *c, size_t saved)
{
  c->plen = saved;
  c->path[saved] = '\0';
}

/* ---- text rules shared by decoder and encoder --------------------------- */

/* Length and encoding of a text value; what names it inside a compound
 * value ("selector type") or is NULL for the field itself. */
static int check_text(struct ctx *c, const char *what, const uint8_t *s,
                      size_t len, size_t min, size_t max)
{
  const char *w = what ? what : "", *sp = what ? " " : "";
  int u;

  if (len < min)
    return min == 1 ? fail(c, c->code, "%s%smust not be empty", w, sp)
                    : fail(c, c->code, "%s%sshorter than %zu bytes", w, sp,
                           min);
  if (len > max)
    return fail(c, c->code, "%s%slonger than %zu bytes", w, sp, max);
  u = cairn_utf8_check(s, len);
  if (u == 1)
    return fail(c, c->code, "%s%snot valid UTF-8", w, what ? " is " : "");
  if (u == 2)
    return fail(c, c->code, "%s%scontains a NUL character", w, sp);
  return CAIRN_OK;
}

static int entry_id_char(unsigned char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

/* Semantic check of a validated, NUL-terminated text value. */
static int check_sem(struct ctx *c, enum cairn__msg_check chk, const char *s)
{
  char detail[256];

  switch (chk) {
  case CAIRN__MSG_CHK_NONE:
    return CAIRN_OK;
  case CAIRN__MSG_CHK_ID:
    if (cairn_id_validate(s) == CAIRN_OK)
      return CAIRN_OK;
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return fail(c, c->code, "not a valid SPIFFE ID: %s", detail);
  case CAIRN__MSG_CHK_TD:
    if (cairn_td_validate(s) == CAIRN_OK)
      return CAIRN_OK;
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return fail(c, c->code, "not a valid trust domain: %s", detail);
  case CAIRN__MSG_CHK_ENTRY_ID:
    for (const char *p = s; *p; p++)
      if (!entry_id_char((unsigned char)*p))
        return fail(c, c->code,
                    "entry ID characters are limited to letters, numbers, "
                    "dots, dashes, and underscores");
    return CAIRN_OK;
  }
  return cairn_seterr(CAIRN_ERR_INTERNAL, "unknown check %d", (int)chk);
}

/* Selector rules (the store's): type 1..127 bytes without ':' or control
 * characters, value 1..1024 bytes. */
static int check_selector(struct ctx *c, const char *type, size_t tlen,
                          const char *value, size_t vlen)
{
  int r = check_text(c, "selector type", (const uint8_t *)type, tlen, 1,
                     CAIRN_MSG_SELECTOR_TYPE_MAX);
  if (r)
    return r;
  for (size_t i = 0; i < tlen; i++) {
    unsigned char ch = (unsigned char)type[i];
    if (ch == ':')
      return fail(c, c->code, "selector type must not contain ':'");
    if (ch < 0x20 || ch == 0x7f)
      return fail(c, c->code,
                  "selector type must not contain control characters");
  }
  return check_text(c, "selector value", (const uint8_t *)value, vlen, 1,
                    CAIRN_MSG_SELECTOR_VALUE_MAX);
}

static int check_count(struct ctx *c, size_t n, size_t min, size_t max)
{
  if (n > max)
    return fail(c, c->code, "more than %zu items", max);
  if (n < min)
    return min == 1 ? fail(c, c->code, "must not be empty")
                    : fail(c, c->code, "fewer than %zu items", min);
  return CAIRN_OK;
}

/* Field helpers: the member at f->off / f->off_n of obj. */
static void *at(void *obj, size_t off)
{
  return (char *)obj + off;
}

static const void *cat(const void *obj, size_t off)
{
  return (const char *)obj + off;
}

/* Generic array pointers (MAPS) are moved with memcpy, not through a
 * void ** lvalue, to respect C's aliasing rules. */
static void *get_ptr(const void *obj, size_t off)
{
  void *p;
  memcpy(&p, cat(obj, off), sizeof p);
  return p;
}

static void set_ptr(void *obj, size_t off, void *p)
{
  memcpy(at(obj, off), &p, sizeof p);
}

/* ======================================================================
 * Decoding
 * ====================================================================== */

static int next(struct ctx *c, struct tok *t)
{
  struct cairn_rd peek = c->rd;
  size_t left = cairn_rd_left(&c->rd);
  const uint8_t *cur;
  struct cbor_decoder_result res;
  uint8_t ib;

  memset(t, 0, sizeof *t);
  if (left == 0 || cairn_rd_peek_u8(&peek, &ib) != CAIRN_OK)
    return fail(c, CAIRN_ERR_PARSE, "unexpected end of input");
  /* Lengths and counts with an 8-byte argument: libcbor converts them to
   * size_t, which truncates on 32-bit targets. Nothing here can be that
   * large, so refuse any that does not fit 32 bits on every target. */
  if ((ib >> 5) >= 2 && (ib >> 5) <= 5 && (ib & 0x1f) == 27) {
    uint32_t hi;
    if (cairn_rd_skip(&peek, 1) != CAIRN_OK ||
        cairn_rd_be32(&peek, &hi) != CAIRN_OK)
      return fail(c, CAIRN_ERR_PARSE, "unexpected end of input");
    if (hi != 0)
      return fail(c, CAIRN_ERR_PARSE, "length too large");
  }
  peek = c->rd;
  if (cairn_rd_bytes(&peek, left, &cur) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_INTERNAL, "reader out of step");
  res = cbor_stream_decode(cur, left, &callbacks, t);
  if (res.status == CBOR_DECODER_NEDATA)
    return fail(c, CAIRN_ERR_PARSE, "unexpected end of input");
  if (res.status != CBOR_DECODER_FINISHED || t->kind == TK_NONE ||
      res.read == 0)
    return fail(c, CAIRN_ERR_PARSE, "malformed CBOR");
  if (cairn_rd_skip(&c->rd, res.read) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_INTERNAL, "reader out of step");
  return CAIRN_OK;
}

/* The error for a token that is not what the schema wants: the protocol's
 * blanket refusals first, then "expected <want>". */
static int type_err(struct ctx *c, const struct tok *t, const char *want)
{
  switch (t->kind) {
  case TK_TAG:
    return fail(c, CAIRN_ERR_PARSE, "tags are not allowed");
  case TK_FLOAT:
    return fail(c, CAIRN_ERR_PARSE, "floats are not allowed");
  case TK_INDEF:
    return fail(c, CAIRN_ERR_PARSE,
                "indefinite-length items are not allowed");
  case TK_BREAK:
    return fail(c, CAIRN_ERR_PARSE, "malformed CBOR (unexpected break)");
  default:
    return fail(c, CAIRN_ERR_PARSE, "expected %s", want);
  }
}

/* After an ARRAY or MAP token with n items (map: 2n): one more level, and
 * enough bytes left for the items. */
static int enter(struct ctx *c, uint64_t items)
{
  if (c->depth >= CAIRN_MSG_DEPTH_MAX)
    return fail(c, CAIRN_ERR_PARSE, "nested deeper than %d levels",
                CAIRN_MSG_DEPTH_MAX);
  if (items > cairn_rd_left(&c->rd))
    return fail(c, CAIRN_ERR_PARSE, "unexpected end of input");
  c->depth++;
  return CAIRN_OK;
}

static int dec_map_body(struct ctx *c, const struct cairn__msg_desc *md,
                        void *obj, const struct tok *mt);

/* Reads one array head for a field: count within min..max, fits input. */
static int dec_array(struct ctx *c, size_t min, size_t max, const char *want,
                     size_t *n)
{
  struct tok t;
  int r;

  if ((r = next(c, &t)) != CAIRN_OK)
    return r;
  if (t.kind != TK_ARRAY)
    return type_err(c, &t, want);
  if (t.u > max)
    return fail(c, CAIRN_ERR_PARSE, "more than %zu items", max);
  if ((r = check_count(c, (size_t)t.u, min, max)) != CAIRN_OK)
    return r;
  if ((r = enter(c, t.u)) != CAIRN_OK)
    return r;
  *n = (size_t)t.u;
  return CAIRN_OK;
}

/* Skips one value of an unknown key; it must still be well-formed under
 * the protocol's rules. */
static int skip_value(struct ctx *c)
{
  struct tok t;
  int r;

  if ((r = next(c, &t)) != CAIRN_OK)
    return r;
  switch (t.kind) {
  case TK_UINT: case TK_NINT: case TK_BSTR: case TK_BOOL: case TK_NULL:
  case TK_UNDEF:
    return CAIRN_OK;
  case TK_TSTR:
    return check_text(c, NULL, t.p, t.len, 0, SIZE_MAX);
  case TK_ARRAY:
    if ((r = enter(c, t.u)) != CAIRN_OK)
      return r;
    for (uint64_t i = 0; i < t.u; i++) {
      size_t saved = push_index(c, (size_t)i);
      r = skip_value(c);
      pop(c, saved);
      if (r)
        return r;
    }
    c->depth--;
    return CAIRN_OK;
  case TK_MAP:
    return dec_map_body(c, NULL, NULL, &t);
  default:
    return type_err(c, &t, "a value");
  }
}

static int dec_tstr(struct ctx *c, size_t min, size_t max,
                    enum cairn__msg_check chk, char **out)
{
  struct tok t;
  char *s;
  int r;

  if ((r = next(c, &t)) != CAIRN_OK)
    return r;
  if (t.kind != TK_TSTR)
    return type_err(c, &t, "a text string");
  if ((r = check_text(c, NULL, t.p, t.len, min, max)) != CAIRN_OK)
    return r;
  if (!(s = malloc(t.len + 1)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  memcpy(s, t.p, t.len);
  s[t.len] = '\0';
  *out = s;
  return check_sem(c, chk, s);
}

static int dec_bstr(struct ctx *c, size_t min, size_t max,
                    struct cairn_msg_bytes *out)
{
  struct tok t;
  int r;

  if ((r = next(c, &t)) != CAIRN_OK)
    return r;
  if (t.kind != TK_BSTR)
    return type_err(c, &t, "a byte string");
  if (t.len < min)
    return min == 1 ? fail(c, CAIRN_ERR_PARSE, "must not be empty")
                    : fail(c, CAIRN_ERR_PARSE, "shorter than %zu bytes", min);
  if (t.len > max)
    return fail(c, CAIRN_ERR_PARSE, "longer than %zu bytes", max);
  if (!(out->data = malloc(t.len ? t.len : 1)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  if (t.len)
    memcpy(out->data, t.p, t.len);
  out->len = t.len;
  return CAIRN_OK;
}

static int dec_uint(struct ctx *c, uint64_t max, uint64_t *out)
{
  struct tok t;
  int r;

  if ((r = next(c, &t)) != CAIRN_OK)
    return r;
  if (t.kind != TK_UINT)
    return type_err(c, &t, "an unsigned integer");
  if (t.u > max)
    return fail(c, CAIRN_ERR_PARSE, "larger than %" PRIu64, max);
  *out = t.u;
  return CAIRN_OK;
}

static int dec_bool(struct ctx *c, int *out)
{
  struct tok t;
  int r;

  if ((r = next(c, &t)) != CAIRN_OK)
    return r;
  if (t.kind != TK_BOOL)
    return type_err(c, &t, "a bool");
  *out = (int)t.u;
  return CAIRN_OK;
}

static int dec_chain(struct ctx *c, const struct cairn__msg_field *f,
                     struct cairn_msg_chain *ch)
{
  size_t n;
  int r;

  if ((r = dec_array(c, f->min, f->max, "an array of byte strings", &n)))
    return r;
  if (n && !(ch->certs = calloc(n, sizeof *ch->certs)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  ch->n = n;
  for (size_t i = 0; i < n; i++) {
    size_t saved = push_index(c, i);
    r = dec_bstr(c, f->item_min, f->item_max, &ch->certs[i]);
    pop(c, saved);
    if (r)
      return r;
  }
  c->depth--;
  return CAIRN_OK;
}

static int dec_tstrs(struct ctx *c, const struct cairn__msg_field *f,
                     char ***arr, size_t *count)
{
  size_t n;
  int r;

  if ((r = dec_array(c, f->min, f->max, "an array of text strings", &n)))
    return r;
  if (n && !(*arr = calloc(n, sizeof **arr)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  *count = n;
  for (size_t i = 0; i < n; i++) {
    size_t saved = push_index(c, i);
    r = dec_tstr(c, f->item_min, f->item_max, f->check, &(*arr)[i]);
    pop(c, saved);
    if (r)
      return r;
  }
  c->depth--;
  return CAIRN_OK;
}

static const char SELECTOR_SHAPE[] = "an array of 2 text strings";

static int dec_selector(struct ctx *c, struct cairn_msg_selector *sel)
{
  struct tok t, ty, va;
  int r;

  if ((r = next(c, &t)) != CAIRN_OK)
    return r;
  if (t.kind != TK_ARRAY || t.u != 2)
    return type_err(c, &t, SELECTOR_SHAPE);
  if ((r = enter(c, 2)) != CAIRN_OK)
    return r;
  if ((r = next(c, &ty)) != CAIRN_OK)
    return r;
  if (ty.kind != TK_TSTR)
    return type_err(c, &ty, SELECTOR_SHAPE);
  if ((r = next(c, &va)) != CAIRN_OK)
    return r;
  if (va.kind != TK_TSTR)
    return type_err(c, &va, SELECTOR_SHAPE);
  c->depth--;
  if ((r = check_selector(c, (const char *)ty.p, ty.len, (const char *)va.p,
                          va.len)) != CAIRN_OK)
    return r;
  if (!(sel->type = cairn_strndup((const char *)ty.p, ty.len)) ||
      !(sel->value = cairn_strndup((const char *)va.p, va.len)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  return CAIRN_OK;
}

static int dec_selectors(struct ctx *c, const struct cairn__msg_field *f,
                         struct cairn_msg_selector **arr, size_t *count)
{
  size_t n;
  int r;

  if ((r = dec_array(c, f->min, f->max, "an array of selectors", &n)))
    return r;
  if (n && !(*arr = calloc(n, sizeof **arr)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  *count = n;
  for (size_t i = 0; i < n; i++) {
    size_t saved = push_index(c, i);
    r = dec_selector(c, &(*arr)[i]);
    pop(c, saved);
    if (r)
      return r;
  }
  c->depth--;
  return CAIRN_OK;
}

static int dec_map(struct ctx *c, const struct cairn__msg_desc *md,
                   void *obj);

static int dec_maps(struct ctx *c, const struct cairn__msg_field *f,
                    void *obj)
{
  const struct cairn__msg_desc *sub = f->sub;
  size_t n;
  char *arr = NULL;
  int r;

  if ((r = dec_array(c, f->min, f->max, "an array of maps", &n)))
    return r;
  if (n && !(arr = calloc(n, sub->size)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  /* Handed to the struct at once so a failure below frees it. */
  set_ptr(obj, f->off, arr);
  *(size_t *)at(obj, f->off_n) = n;
  for (size_t i = 0; i < n; i++) {
    size_t saved = push_index(c, i);
    r = dec_map(c, sub, arr + i * sub->size);
    pop(c, saved);
    if (r)
      return r;
  }
  c->depth--;
  return CAIRN_OK;
}

static int dec_field(struct ctx *c, const struct cairn__msg_field *f,
                     void *obj)
{
  switch (f->type) {
  case CAIRN__MSG_TSTR:
    return dec_tstr(c, f->min, f->max, f->check, (char **)at(obj, f->off));
  case CAIRN__MSG_BSTR:
    return dec_bstr(c, f->min, f->max, at(obj, f->off));
  case CAIRN__MSG_UINT:
    return dec_uint(c, f->umax, at(obj, f->off));
  case CAIRN__MSG_BOOL:
    return dec_bool(c, at(obj, f->off));
  case CAIRN__MSG_CHAIN:
    return dec_chain(c, f, at(obj, f->off));
  case CAIRN__MSG_TSTRS:
    return dec_tstrs(c, f, at(obj, f->off), at(obj, f->off_n));
  case CAIRN__MSG_SELECTORS:
    return dec_selectors(c, f, at(obj, f->off), at(obj, f->off_n));
  case CAIRN__MSG_MAPS:
    return dec_maps(c, f, obj);
  }
  return cairn_seterr(CAIRN_ERR_INTERNAL, "unknown field type");
}

/* A map whose head token mt was read: known keys (md may be NULL, for
 * skipped values) are decoded into obj, unknown ones skipped. */
static int dec_map_body(struct ctx *c, const struct cairn__msg_desc *md,
                        void *obj, const struct tok *mt)
{
  struct {
    const uint8_t *p;
    size_t len;
  } keys[CAIRN_MSG_MAP_PAIRS_MAX];
  uint64_t seen = 0;
  size_t n;
  int r;

  if (mt->u > CAIRN_MSG_MAP_PAIRS_MAX)
    return fail(c, CAIRN_ERR_PARSE, "map has more than %d keys",
                CAIRN_MSG_MAP_PAIRS_MAX);
  n = (size_t)mt->u;
  if ((r = enter(c, 2 * (uint64_t)n)) != CAIRN_OK)
    return r;
  for (size_t i = 0; i < n; i++) {
    struct tok kt;
    const struct cairn__msg_field *f = NULL;
    size_t fi = 0, saved;

    if ((r = next(c, &kt)) != CAIRN_OK)
      return r;
    if (kt.kind != TK_TSTR)
      return kt.kind == TK_TAG || kt.kind == TK_FLOAT ||
                     kt.kind == TK_INDEF || kt.kind == TK_BREAK
                 ? type_err(c, &kt, "")
                 : fail(c, CAIRN_ERR_PARSE, "map keys must be text strings");
    if (kt.len > CAIRN_MSG_KEY_MAX)
      return fail(c, CAIRN_ERR_PARSE, "map key longer than %d bytes",
                  CAIRN_MSG_KEY_MAX);
    if (cairn_utf8_check(kt.p, kt.len) != 0)
      return fail(c, CAIRN_ERR_PARSE, "map key is not valid UTF-8");
    for (size_t j = 0; j < i; j++) {
      if (keys[j].len == kt.len && memcmp(keys[j].p, kt.p, kt.len) == 0) {
        char clean[CAIRN_MSG_KEY_MAX + 1];
        sanitize(clean, sizeof clean, kt.p, kt.len);
        return fail(c, CAIRN_ERR_PARSE, "duplicate key \"%s\"", clean);
      }
    }
    keys[i].p = kt.p;
    keys[i].len = kt.len;
    if (md) {
      for (fi = 0; fi < md->n_fields; fi++) {
        const char *k = md->fields[fi].key;
        if (strlen(k) == kt.len && memcmp(k, kt.p, kt.len) == 0) {
          f = &md->fields[fi];
          break;
        }
      }
    }
    saved = push_key(c, (const char *)kt.p, kt.len);
    if (f) {
      r = dec_field(c, f, obj);
      seen |= (uint64_t)1 << fi;
    } else {
      r = skip_value(c);
    }
    pop(c, saved);
    if (r)
      return r;
  }
  c->depth--;
  if (!md)
    return CAIRN_OK;
  for (size_t fi = 0; fi < md->n_fields; fi++) {
    if (!(md->fields[fi].flags & CAIRN__MSG_OPTIONAL) &&
        !(seen & ((uint64_t)1 << fi)))
      return fail(c, CAIRN_ERR_PARSE, "missing key \"%s\"",
                  md->fields[fi].key);
  }
  if (md->rule) {
    const char *why = md->rule(obj);
    if (why)
      return fail(c, CAIRN_ERR_PARSE, "%s", why);
  }
  return CAIRN_OK;
}

static int dec_map(struct ctx *c, const struct cairn__msg_desc *md,
                   void *obj)
{
  struct tok t;
  int r;

  if ((r = next(c, &t)) != CAIRN_OK)
    return r;
  if (t.kind != TK_MAP)
    return type_err(c, &t, "a map");
  return dec_map_body(c, md, obj, &t);
}

int cairn__msg_decode(const struct cairn__msg_desc *md, const uint8_t *data,
                      size_t len, void *out)
{
  struct ctx *c;
  int r;

  if (!md || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL argument");
  memset(out, 0, md->size);
  if (!data && len)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL data");
  if (len > md->body_max)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "body: larger than %zu bytes",
                        md->body_max);
  if (len == 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "body: empty");
  if (!(c = calloc(1, sizeof *c)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  c->code = CAIRN_ERR_PARSE;
  cairn_rd_init(&c->rd, data, len);
  r = dec_map(c, md, out);
  if (r == CAIRN_OK && cairn_rd_left(&c->rd) != 0)
    r = fail(c, CAIRN_ERR_PARSE, "trailing bytes after the map");
  if (r != CAIRN_OK)
    cairn__msg_clear(md, out);
  free(c);
  return r;
}

/* ======================================================================
 * Encoding: two passes over the same code, the first measuring (out ==
 * NULL) and validating, the second writing into an exact-size buffer.
 * ====================================================================== */

static void put(struct ctx *c, const void *p, size_t n)
{
  if (c->out && n)
    memcpy(c->out + c->olen, p, n);
  c->olen += n;
}

static void put_uint(struct ctx *c, uint64_t v)
{
  unsigned char h[9];
  put(c, h, cbor_encode_uint(v, h, sizeof h));
}

static void put_array(struct ctx *c, size_t n)
{
  unsigned char h[9];
  put(c, h, cbor_encode_array_start(n, h, sizeof h));
}

static void put_tstr(struct ctx *c, const char *s, size_t n)
{
  unsigned char h[9];
  put(c, h, cbor_encode_string_start(n, h, sizeof h));
  put(c, s, n);
}

static void put_bstr(struct ctx *c, const uint8_t *p, size_t n)
{
  unsigned char h[9];
  put(c, h, cbor_encode_bytestring_start(n, h, sizeof h));
  put(c, p, n);
}

static int enc_tstr(struct ctx *c, const char *s, size_t min, size_t max,
                    enum cairn__msg_check chk)
{
  size_t n;
  int r;

  if (!s)
    s = "";
  n = strlen(s);
  if ((r = check_text(c, NULL, (const uint8_t *)s, n, min, max)) != CAIRN_OK)
    return r;
  if ((r = check_sem(c, chk, s)) != CAIRN_OK)
    return r;
  put_tstr(c, s, n);
  return CAIRN_OK;
}

static int enc_bstr(struct ctx *c, const struct cairn_msg_bytes *b,
                    size_t min, size_t max)
{
  if (!b->data && b->len)
    return fail(c, CAIRN_ERR_INVAL, "NULL data with %zu bytes", b->len);
  if (b->len < min)
    return fail(c, CAIRN_ERR_INVAL, "must not be empty");
  if (b->len > max)
    return fail(c, CAIRN_ERR_INVAL, "longer than %zu bytes", max);
  put_bstr(c, b->data, b->len);
  return CAIRN_OK;
}

static int enc_array_head(struct ctx *c, const void *arr, size_t n,
                          size_t min, size_t max)
{
  int r;
  if (!arr && n)
    return fail(c, CAIRN_ERR_INVAL, "NULL array with %zu items", n);
  if ((r = check_count(c, n, min, max)) != CAIRN_OK)
    return r;
  put_array(c, n);
  return CAIRN_OK;
}

static int enc_map(struct ctx *c, const struct cairn__msg_desc *md,
                   const void *obj);

static int enc_field(struct ctx *c, const struct cairn__msg_field *f,
                     const void *obj)
{
  int r;

  switch (f->type) {
  case CAIRN__MSG_TSTR:
    return enc_tstr(c, *(char *const *)cat(obj, f->off), f->min, f->max,
                    f->check);
  case CAIRN__MSG_BSTR:
    return enc_bstr(c, cat(obj, f->off), f->min, f->max);
  case CAIRN__MSG_UINT: {
    uint64_t v = *(const uint64_t *)cat(obj, f->off);
    if (v > f->umax)
      return fail(c, CAIRN_ERR_INVAL, "larger than %" PRIu64, f->umax);
    put_uint(c, v);
    return CAIRN_OK;
  }
  case CAIRN__MSG_BOOL: {
    uint8_t b = *(const int *)cat(obj, f->off) ? 0xf5 : 0xf4;
    put(c, &b, 1);
    return CAIRN_OK;
  }
  case CAIRN__MSG_CHAIN: {
    const struct cairn_msg_chain *ch = cat(obj, f->off);
    if ((r = enc_array_head(c, ch->certs, ch->n, f->min, f->max)))
      return r;
    for (size_t i = 0; i < ch->n; i++) {
      size_t saved = push_index(c, i);
      r = enc_bstr(c, &ch->certs[i], f->item_min, f->item_max);
      pop(c, saved);
      if (r)
        return r;
    }
    return CAIRN_OK;
  }
  case CAIRN__MSG_TSTRS: {
    char *const *arr = *(char **const *)cat(obj, f->off);
    size_t n = *(const size_t *)cat(obj, f->off_n);
    if ((r = enc_array_head(c, arr, n, f->min, f->max)))
      return r;
    for (size_t i = 0; i < n; i++) {
      size_t saved = push_index(c, i);
      r = enc_tstr(c, arr[i], f->item_min, f->item_max, f->check);
      pop(c, saved);
      if (r)
        return r;
    }
    return CAIRN_OK;
  }
  case CAIRN__MSG_SELECTORS: {
    const struct cairn_msg_selector *arr =
        *(struct cairn_msg_selector *const *)cat(obj, f->off);
    size_t n = *(const size_t *)cat(obj, f->off_n);
    if ((r = enc_array_head(c, arr, n, f->min, f->max)))
      return r;
    for (size_t i = 0; i < n; i++) {
      const char *ty = arr[i].type ? arr[i].type : "";
      const char *va = arr[i].value ? arr[i].value : "";
      size_t saved = push_index(c, i);
      r = check_selector(c, ty, strlen(ty), va, strlen(va));
      if (r == CAIRN_OK) {
        put_array(c, 2);
        put_tstr(c, ty, strlen(ty));
        put_tstr(c, va, strlen(va));
      }
      pop(c, saved);
      if (r)
        return r;
    }
    return CAIRN_OK;
  }
  case CAIRN__MSG_MAPS: {
    const char *arr = get_ptr(obj, f->off);
    size_t n = *(const size_t *)cat(obj, f->off_n);
    if ((r = enc_array_head(c, arr, n, f->min, f->max)))
      return r;
    for (size_t i = 0; i < n; i++) {
      size_t saved = push_index(c, i);
      r = enc_map(c, f->sub, arr + i * f->sub->size);
      pop(c, saved);
      if (r)
        return r;
    }
    return CAIRN_OK;
  }
  }
  return cairn_seterr(CAIRN_ERR_INTERNAL, "unknown field type");
}

static int present(const struct cairn__msg_field *f, const void *obj)
{
  if (!(f->flags & CAIRN__MSG_OPTIONAL))
    return 1;
  switch (f->type) {
  case CAIRN__MSG_TSTR:
    return *(char *const *)cat(obj, f->off) != NULL;
  case CAIRN__MSG_CHAIN:
    return ((const struct cairn_msg_chain *)cat(obj, f->off))->n > 0;
  case CAIRN__MSG_UINT:
    return *(const uint64_t *)cat(obj, f->off) != 0;
  default:
    return 1;
  }
}

/* Deterministic key order: shorter keys first, then bytewise. */
static int key_before(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  return la != lb ? la < lb : memcmp(a, b, la) < 0;
}

static int enc_map(struct ctx *c, const struct cairn__msg_desc *md,
                   const void *obj)
{
  size_t idx[CAIRN_MSG_MAP_PAIRS_MAX], n = 0;
  unsigned char h[9];
  int r;

  if (md->n_fields > CAIRN_MSG_MAP_PAIRS_MAX)
    return cairn_seterr(CAIRN_ERR_INTERNAL, "schema has too many fields");
  if (md->rule) {
    const char *why = md->rule(obj);
    if (why)
      return fail(c, CAIRN_ERR_INVAL, "%s", why);
  }
  for (size_t i = 0; i < md->n_fields; i++) {
    if (!present(&md->fields[i], obj))
      continue;
    size_t j = n++;
    while (j > 0 && key_before(md->fields[i].key, md->fields[idx[j - 1]].key)) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  put(c, h, cbor_encode_map_start(n, h, sizeof h));
  for (size_t k = 0; k < n; k++) {
    const struct cairn__msg_field *f = &md->fields[idx[k]];
    size_t saved;
    put_tstr(c, f->key, strlen(f->key));
    saved = push_key(c, f->key, strlen(f->key));
    r = enc_field(c, f, obj);
    pop(c, saved);
    if (r)
      return r;
  }
  return CAIRN_OK;
}

int cairn__msg_encode(const struct cairn__msg_desc *md, const void *in,
                      uint8_t **out, size_t *out_len)
{
  struct ctx *c = NULL;
  uint8_t *buf = NULL;
  size_t need = 0;
  int r = CAIRN_ERR_INTERNAL;

  if (out)
    *out = NULL;
  if (out_len)
    *out_len = 0;
  if (!md || !in || !out || !out_len)
    return cairn_seterr(CAIRN_ERR_INVAL, "NULL argument");
  if (!(c = calloc(1, sizeof *c)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  c->code = CAIRN_ERR_INVAL;
  if ((r = enc_map(c, md, in)) != CAIRN_OK)
    goto out;
  need = c->olen;
  if (need > md->body_max) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG, "body: larger than %zu bytes",
                     md->body_max);
    goto out;
  }
  if (!(buf = malloc(need))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  memset(c, 0, sizeof *c);
  c->code = CAIRN_ERR_INVAL;
  c->out = buf;
  if ((r = enc_map(c, md, in)) != CAIRN_OK)
    goto out;
  if (c->olen != need) {
    r = cairn_seterr(CAIRN_ERR_INTERNAL, "encoder size changed");
    goto out;
  }
  *out = buf;
  *out_len = need;
  buf = NULL;
  r = CAIRN_OK;
out:
  cairn_freezero(buf, need);
  free(c);
  return r;
}

/* ======================================================================
 * Clearing and comparing
 * ====================================================================== */

static void free_str(char *s, int secret)
{
  if (s && secret)
    cairn_freezero(s, strlen(s) + 1);
  else
    free(s);
}

static void clear_chain(struct cairn_msg_chain *ch)
{
  for (size_t i = 0; ch->certs && i < ch->n; i++)
    free(ch->certs[i].data);
  free(ch->certs);
  ch->certs = NULL;
  ch->n = 0;
}

void cairn__msg_clear(const struct cairn__msg_desc *md, void *obj)
{
  if (!md || !obj)
    return;
  for (size_t i = 0; i < md->n_fields; i++) {
    const struct cairn__msg_field *f = &md->fields[i];
    switch (f->type) {
    case CAIRN__MSG_TSTR:
      free_str(*(char **)at(obj, f->off), f->flags & CAIRN__MSG_SECRET);
      break;
    case CAIRN__MSG_BSTR:
      free(((struct cairn_msg_bytes *)at(obj, f->off))->data);
      break;
    case CAIRN__MSG_UINT:
    case CAIRN__MSG_BOOL:
      break;
    case CAIRN__MSG_CHAIN:
      clear_chain(at(obj, f->off));
      break;
    case CAIRN__MSG_TSTRS: {
      char **arr = *(char ***)at(obj, f->off);
      size_t n = *(size_t *)at(obj, f->off_n);
      for (size_t j = 0; arr && j < n; j++)
        free_str(arr[j], f->flags & CAIRN__MSG_SECRET);
      free(arr);
      break;
    }
    case CAIRN__MSG_SELECTORS: {
      struct cairn_msg_selector *arr =
          *(struct cairn_msg_selector **)at(obj, f->off);
      size_t n = *(size_t *)at(obj, f->off_n);
      for (size_t j = 0; arr && j < n; j++) {
        free(arr[j].type);
        free(arr[j].value);
      }
      free(arr);
      break;
    }
    case CAIRN__MSG_MAPS: {
      char *arr = get_ptr(obj, f->off);
      size_t n = *(size_t *)at(obj, f->off_n);
      for (size_t j = 0; arr && j < n; j++)
        cairn__msg_clear(f->sub, arr + j * f->sub->size);
      free(arr);
      break;
    }
    }
  }
  memset(obj, 0, md->size);
}

static int str_eq(const char *a, const char *b)
{
  return strcmp(a ? a : "", b ? b : "") == 0;
}

static int bytes_eq(const struct cairn_msg_bytes *a,
                    const struct cairn_msg_bytes *b)
{
  if (a->len != b->len)
    return 0;
  if (a->len == 0 || !a->data || !b->data)
    return a->len == 0 || a->data == b->data;
  return memcmp(a->data, b->data, a->len) == 0;
}

int cairn__msg_equal(const struct cairn__msg_desc *md, const void *a,
                     const void *b)
{
  if (!md || !a || !b)
    return a == b;
  for (size_t i = 0; i < md->n_fields; i++) {
    const struct cairn__msg_field *f = &md->fields[i];
    switch (f->type) {
    case CAIRN__MSG_TSTR: {
      const char *x = *(char *const *)cat(a, f->off);
      const char *y = *(char *const *)cat(b, f->off);
      if ((f->flags & CAIRN__MSG_OPTIONAL) && (!x) != (!y))
        return 0;
      if (!str_eq(x, y))
        return 0;
      break;
    }
    case CAIRN__MSG_BSTR:
      if (!bytes_eq(cat(a, f->off), cat(b, f->off)))
        return 0;
      break;
    case CAIRN__MSG_UINT:
      if (*(const uint64_t *)cat(a, f->off) != *(const uint64_t *)cat(b, f->off))
        return 0;
      break;
    case CAIRN__MSG_BOOL:
      if (!*(const int *)cat(a, f->off) != !*(const int *)cat(b, f->off))
        return 0;
      break;
    case CAIRN__MSG_CHAIN: {
      const struct cairn_msg_chain *x = cat(a, f->off), *y = cat(b, f->off);
      if (x->n != y->n)
        return 0;
      if (x->n && (!x->certs || !y->certs)) {  /* malformed input structs */
        if (x->certs != y->certs)
          return 0;
        break;
      }
      for (size_t j = 0; j < x->n; j++)
        if (!bytes_eq(&x->certs[j], &y->certs[j]))
          return 0;
      break;
    }
    case CAIRN__MSG_TSTRS: {
      char *const *x = *(char **const *)cat(a, f->off);
      char *const *y = *(char **const *)cat(b, f->off);
      size_t n = *(const size_t *)cat(a, f->off_n);
      if (n != *(const size_t *)cat(b, f->off_n))
        return 0;
      if (n && (!x || !y)) {
        if (x != y)
          return 0;
        break;
      }
      for (size_t j = 0; j < n; j++)
        if (!str_eq(x[j], y[j]))
          return 0;
      break;
    }
    case CAIRN__MSG_SELECTORS: {
      const struct cairn_msg_selector *x =
          *(struct cairn_msg_selector *const *)cat(a, f->off);
      const struct cairn_msg_selector *y =
          *(struct cairn_msg_selector *const *)cat(b, f->off);
      size_t n = *(const size_t *)cat(a, f->off_n);
      if (n != *(const size_t *)cat(b, f->off_n))
        return 0;
      if (n && (!x || !y)) {
        if (x != y)
          return 0;
        break;
      }
      for (size_t j = 0; j < n; j++)
        if (!str_eq(x[j].type, y[j].type) || !str_eq(x[j].value, y[j].value))
          return 0;
      break;
    }
    case CAIRN__MSG_MAPS: {
      const char *x = get_ptr(a, f->off), *y = get_ptr(b, f->off);
      size_t n = *(const size_t *)cat(a, f->off_n);
      if (n != *(const size_t *)cat(b, f->off_n))
        return 0;
      if (n && (!x || !y)) {
        if (x != y)
          return 0;
        break;
      }
      for (size_t j = 0; j < n; j++)
        if (!cairn__msg_equal(f->sub, x + j * f->sub->size,
                              y + j * f->sub->size))
          return 0;
      break;
    }
    }
  }
  return 1;
}
