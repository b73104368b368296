/* edge/agent/wl/wl_cache.c - the agent's workload cache (wl_cache.h). */
#include "wl_cache.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/util.h"

#define MOD "wl"

#define TD_ID_MAX (sizeof CAIRN_ID_SCHEME - 1 + CAIRN_TD_MAX)
#define ENTRY_ID_MAX 255
#define DNS_MAX 64
#define DNS_NAME_MAX 253
#define FED_MAX 64
#define HINT_MAX 1024
#define ENTRY_SELECTORS_MAX 64
#define EXPIRY_DELAY_MAX_MS (24u * 3600 * 1000)

/* ======================================================================
 * selector sets
 * ====================================================================== */

static int sel_cmp(const struct cairn_selector *a,
                   const struct cairn_selector *b)
{
  int r = strcmp(a->type, b->type);
  return r != 0 ? r : strcmp(a->value, b->value);
}

static int sel_qcmp(const void *a, const void *b)
{
  return sel_cmp(a, b);
}

static int check_selector(const char *type, const char *value)
{
  size_t i, tl, vl;

  if (!type || !value) return cairn_seterr(CAIRN_ERR_INVAL, "selector is NULL");
  tl = strlen(type);
  vl = strlen(value);
  if (tl == 0 || vl == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "selector type and value must be "
                        "non-empty");
  if (tl > WL_SELECTOR_TYPE_MAX || vl > WL_SELECTOR_VALUE_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "selector longer than allowed");
  for (i = 0; i < tl; i++) {
    unsigned char ch = (unsigned char)type[i];
    if (ch == ':' || ch < 0x20 || ch == 0x7f)
      return cairn_seterr(CAIRN_ERR_INVAL, "selector type contains ':' or a "
                          "control character");
  }
  for (i = 0; i < vl; i++) {
    unsigned char ch = (unsigned char)value[i];
    if (ch < 0x20 || ch == 0x7f)
      return cairn_seterr(CAIRN_ERR_INVAL, "selector value contains a "
                          "control character");
  }
  return CAIRN_OK;
}

int wl_selectors_add(struct wl_selectors *s, const char *type,
                     const char *value)
{
  int r;
  char *t, *v;

  if ((r = check_selector(type, value)) != CAIRN_OK) return r;
  if (s->n >= WL_SELECTORS_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "more than %d selectors",
                        WL_SELECTORS_MAX);
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 16;
    struct cairn_selector *nv = realloc(s->v, nc * sizeof *nv);
    if (!nv) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    s->v = nv;
    s->cap = nc;
  }
  t = cairn_strdup(type);
  v = cairn_strdup(value);
  if (!t || !v) {
    free(t);
    free(v);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  s->v[s->n].type = t;
  s->v[s->n].value = v;
  s->n++;
  return CAIRN_OK;
}

int wl_selectors_addf(struct wl_selectors *s, const char *type,
                      const char *fmt, ...)
{
  char buf[WL_SELECTOR_VALUE_MAX + 2];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return cairn_seterr(CAIRN_ERR_INVAL, "bad selector format");
  if ((size_t)n >= sizeof buf)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "selector value too long");
  return wl_selectors_add(s, type, buf);
}

void wl_selectors_sort(struct wl_selectors *s)
{
  size_t i, o;

  if (s->n < 2) return;
  qsort(s->v, s->n, sizeof *s->v, sel_qcmp);
  for (i = 1, o = 1; i < s->n; i++) {
    if (sel_cmp(&s->v[i], &s->v[o - 1]) == 0) {
      free(s->v[i].type);
      free(s->v[i].value);
    } else {
      s->v[o++] = s->v[i];
    }
  }
  s->n = o;
}

int wl_selectors_has(const struct wl_selectors *s, const char *type,
                     const char *value)
{
  struct cairn_selector k;
  k.type = (char *)type;
  k.value = (char *)value;
  return s->n && bsearch(&k, s->v, s->n, sizeof *s->v, sel_qcmp) != NULL;
}

void wl_selectors_clear(struct wl_selectors *s)
{
  size_t i;
  for (i = 0; i < s->n; i++) {
    free(s->v[i].type);
    free(s->v[i].value);
  }
  free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
}

int wl_selectors_subset(const struct cairn_selector *a, size_t na,
                        const struct cairn_selector *b, size_t nb)
{
  size_t i = 0, j = 0;

  if (na > nb) return 0;
  while (i < na) {
    int r;
    if (j >= nb) return 0;
    r = sel_cmp(&a[i], &b[j]);
    if (r == 0) {
      i++;
      j++;
    } else if (r > 0) {
      j++;
    } else {
      return 0;  /* a[i] is smaller than everything left in b */
    }
  }
  return 1;
}

/* ======================================================================
 * internal types
 * ====================================================================== */

/* A bundle with the encodings the Workload API sends. */
struct wl_bstore {
  char td[CAIRN_TD_MAX + 1];
  char td_id[TD_ID_MAX + 1];
  struct cairn_bundle *b;
  uint8_t *x509_der;
  size_t x509_len;
  char *jwks;
  size_t jwks_len;
};

struct wl_item {
  struct wl_entry e;
  uint8_t *chain_der;
  size_t chain_len;
  uint8_t *key_der;          /* PKCS#8, zeroised when dropped */
  size_t key_len;
  struct wl_svid_info svid;
};

struct wl_jwt {
  struct wl_jwt *prev, *next;   /* most recently used first */
  char *key;                    /* spiffe_id \0 aud1 \0 aud2 ... */
  size_t key_len;
  char *spiffe_id;              /* points into key */
  char *token;                  /* zeroised when dropped */
  size_t token_len;
  char kid[CAIRN_JWT_KID_MAX + 1];
  time_t stale_at;              /* half life */
};

struct wl_sub {
  struct wl_cache *c;
  struct wl_sub *prev, *next;
  struct wl_selectors sel;
  wl_notify_fn fn;
  void *arg;
  int dirty;
  int dead;
};

struct wl_cache {
  uv_loop_t *loop;
  char td[CAIRN_TD_MAX + 1];
  struct wl_cache_opts opts;

  struct wl_item **items;       /* sorted by id */
  size_t n_items, cap_items;
  size_t n_svids;

  struct wl_bstore *own;        /* NULL until set */
  struct wl_bstore **feds;      /* sorted by td */
  size_t n_feds;

  struct wl_jwt *jwt_head, *jwt_tail;
  size_t n_jwt;

  struct wl_sub *subs;
  size_t n_subs;
  int flushing;
  int have_dead;

  uv_timer_t *flush_timer;
  uv_timer_t *expiry_timer;
  time_t next_expiry;           /* 0 = timer idle */

  struct wl_cache_stats st;
};

/* ======================================================================
 * helpers
 * ====================================================================== */

static void bstore_free(struct wl_bstore *bs)
{
  if (!bs) return;
  cairn_bundle_free(bs->b);
  free(bs->x509_der);
  free(bs->jwks);
  free(bs);
}

/* A bundle copy with its Workload API encodings. */
static int bstore_make(const struct cairn_bundle *b, struct wl_bstore **out)
{
  int r = CAIRN_ERR_INTERNAL;
  struct wl_bstore *bs;

  *out = NULL;
  bs = calloc(1, sizeof *bs);
  if (!bs) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  snprintf(bs->td, sizeof bs->td, "%s", cairn_bundle_td(b));
  snprintf(bs->td_id, sizeof bs->td_id, "%s%s", CAIRN_ID_SCHEME, bs->td);
  if ((r = cairn_bundle_dup(b, &bs->b)) != CAIRN_OK) goto out;
  r = cairn_cert_list_to_der(cairn_bundle_x509(bs->b), &bs->x509_der,
                             &bs->x509_len);
  if (r != CAIRN_OK) goto out;
  r = cairn_bundle_write_json(bs->b, CAIRN_BUNDLE_JSON_NO_X509 |
                                         CAIRN_BUNDLE_JSON_STANDARD_JWKS,
                              &bs->jwks, &bs->jwks_len);
  if (r != CAIRN_OK) goto out;
  *out = bs;
  bs = NULL;
  r = CAIRN_OK;
out:
  bstore_free(bs);
  return r;
}

static void bview_fill(const struct wl_bstore *bs, struct wl_bundle_view *v)
{
  v->td = bs->td;
  v->td_id = bs->td_id;
  v->bundle = bs->b;
  v->x509_der = bs->x509_der;
  v->x509_len = bs->x509_len;
  v->jwks = bs->jwks;
  v->jwks_len = bs->jwks_len;
}

static void svid_drop(struct wl_cache *c, struct wl_item *it)
{
  if (it->svid.present) c->n_svids--;
  cairn_freezero(it->key_der, it->key_len);
  free(it->chain_der);
  it->key_der = NULL;
  it->chain_der = NULL;
  it->key_len = it->chain_len = 0;
  it->svid.present = 0;
  it->svid.not_before = it->svid.not_after = 0;
  it->svid.serial[0] = '\0';
}

static void strv_free(char **v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void item_free(struct wl_item *it)
{
  size_t i;

  if (!it) return;
  cairn_freezero(it->key_der, it->key_len);
  free(it->chain_der);
  free(it->e.id);
  free(it->e.spiffe_id);
  free(it->e.parent_id);
  for (i = 0; i < it->e.n_selectors; i++) {
    free(it->e.selectors[i].type);
    free(it->e.selectors[i].value);
  }
  free(it->e.selectors);
  strv_free(it->e.dns_names, it->e.n_dns_names);
  strv_free(it->e.federates_with, it->e.n_federates_with);
  free(it->e.hint);
  free(it);
}

static int check_entry_id(const char *id)
{
  size_t i, n;

  if (!id || !*id) return cairn_seterr(CAIRN_ERR_INVAL, "entry id is empty");
  n = strlen(id);
  if (n > ENTRY_ID_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry id longer than %d bytes",
                        ENTRY_ID_MAX);
  for (i = 0; i < n; i++) {
    char ch = id[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      return cairn_seterr(CAIRN_ERR_INVAL, "entry id has a character outside "
                          "[A-Za-z0-9._-]");
  }
  return CAIRN_OK;
}

static int strv_copy(char *const *in, size_t n, char ***out)
{
  size_t i;
  char **v;

  *out = NULL;
  if (n == 0) return CAIRN_OK;
  v = calloc(n, sizeof *v);
  if (!v) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  for (i = 0; i < n; i++) {
    if (!in[i] || !(v[i] = cairn_strdup(in[i]))) {
      strv_free(v, i);
      return in[i] ? cairn_seterr(CAIRN_ERR_NOMEM, NULL)
                   : cairn_seterr(CAIRN_ERR_INVAL, "NULL string in list");
    }
  }
  *out = v;
  return CAIRN_OK;
}

/* Validates a server entry and builds the cache's copy (no SVID). */
static int item_make(const struct wl_cache *c, const struct cairn_msg_entry *m,
                     struct wl_item **out)
{
  int r = CAIRN_ERR_INTERNAL;
  struct wl_item *it = NULL;
  struct wl_selectors sel = {0};
  struct cairn_id id;
  size_t i, j;

  *out = NULL;
  if (!m) return cairn_seterr(CAIRN_ERR_INVAL, "entry is NULL");
  if ((r = check_entry_id(m->id)) != CAIRN_OK) return r;
  if (!m->spiffe_id || cairn_id_parse_str(m->spiffe_id, &id) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: invalid spiffe_id", m->id);
  if (!cairn_id_member_of(&id, c->td) || cairn_id_is_td(&id))
    return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: spiffe_id %s is not a "
                        "workload ID in trust domain %s", m->id, id.str, c->td);
  if (m->parent_id && *m->parent_id && cairn_id_validate(m->parent_id) != 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: invalid parent_id", m->id);
  if (m->n_selectors == 0 || m->n_selectors > ENTRY_SELECTORS_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: needs 1..%d selectors",
                        m->id, ENTRY_SELECTORS_MAX);
  if (m->n_dns_names > DNS_MAX || m->n_federates_with > FED_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: too many DNS names or "
                        "federated trust domains", m->id);
  if (m->hint && strlen(m->hint) > HINT_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: hint longer than %d bytes",
                        m->id, HINT_MAX);
  if (m->x509_svid_ttl > INT32_MAX || m->jwt_svid_ttl > INT32_MAX ||
      m->revision > (uint64_t)INT64_MAX || m->expires_at > (uint64_t)INT64_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: number out of range",
                        m->id);
  for (i = 0; i < m->n_dns_names; i++) {
    size_t n = m->dns_names[i] ? strlen(m->dns_names[i]) : 0;
    if (n == 0 || n > DNS_NAME_MAX)
      return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: bad DNS name", m->id);
  }
  for (i = 0; i < m->n_federates_with; i++) {
    if (!m->federates_with[i] ||
        cairn_td_validate(m->federates_with[i]) != CAIRN_OK ||
        strcmp(m->federates_with[i], c->td) == 0)
      return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: bad federated trust "
                          "domain", m->id);
    for (j = 0; j < i; j++)
      if (strcmp(m->federates_with[i], m->federates_with[j]) == 0)
        return cairn_seterr(CAIRN_ERR_INVAL, "entry %s: federated trust "
                            "domain listed twice", m->id);
  }
  for (i = 0; i < m->n_selectors; i++) {
    r = wl_selectors_add(&sel, m->selectors[i].type, m->selectors[i].value);
    if (r != CAIRN_OK) {
      cairn_seterr(r, "entry %s: selector %zu: %s", m->id, i,
                   cairn_errdetail());
      goto out;
    }
  }
  wl_selectors_sort(&sel);
  if (sel.n != m->n_selectors) {
    r = cairn_seterr(CAIRN_ERR_INVAL, "entry %s: duplicate selectors", m->id);
    goto out;
  }

  it = calloc(1, sizeof *it);
  if (!it) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  it->e.id = cairn_strdup(m->id);
  it->e.spiffe_id = cairn_strdup(m->spiffe_id);
  it->e.parent_id = cairn_strdup(m->parent_id ? m->parent_id : "");
  it->e.hint = cairn_strdup(m->hint ? m->hint : "");
  if (!it->e.id || !it->e.spiffe_id || !it->e.parent_id || !it->e.hint) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  it->e.selectors = sel.v;
  it->e.n_selectors = sel.n;
  sel.v = NULL;
  sel.n = sel.cap = 0;
  if ((r = strv_copy(m->dns_names, m->n_dns_names, &it->e.dns_names)) != 0)
    goto out;
  it->e.n_dns_names = m->n_dns_names;
  r = strv_copy(m->federates_with, m->n_federates_with,
                &it->e.federates_with);
  if (r != CAIRN_OK) goto out;
  it->e.n_federates_with = m->n_federates_with;
  it->e.x509_svid_ttl = (int64_t)m->x509_svid_ttl;
  it->e.jwt_svid_ttl = (int64_t)m->jwt_svid_ttl;
  it->e.admin = m->admin ? 1 : 0;
  it->e.downstream = m->downstream ? 1 : 0;
  it->e.revision = (int64_t)m->revision;
  it->e.expires_at = (int64_t)m->expires_at;
  *out = it;
  it = NULL;
  r = CAIRN_OK;
out:
  wl_selectors_clear(&sel);
  item_free(it);
  return r;
}

static int strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
  size_t i;
  if (na != nb) return 0;
  for (i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0) return 0;
  return 1;
}

/* 1 when the SVID issued for a is still right for b. */
static int same_svid_subject(const struct wl_entry *a, const struct wl_entry *b)
{
  return strcmp(a->spiffe_id, b->spiffe_id) == 0 &&
         strv_equal(a->dns_names, a->n_dns_names, b->dns_names,
                    b->n_dns_names);
}

/* 1 when everything but the revision is equal. */
static int same_entry(const struct wl_entry *a, const struct wl_entry *b)
{
  size_t i;

  if (!same_svid_subject(a, b) || strcmp(a->parent_id, b->parent_id) != 0 ||
      strcmp(a->hint, b->hint) != 0 || a->x509_svid_ttl != b->x509_svid_ttl ||
      a->jwt_svid_ttl != b->jwt_svid_ttl || a->admin != b->admin ||
      a->downstream != b->downstream || a->expires_at != b->expires_at ||
      a->n_selectors != b->n_selectors ||
      !strv_equal(a->federates_with, a->n_federates_with, b->federates_with,
                  b->n_federates_with))
    return 0;
  for (i = 0; i < a->n_selectors; i++)
    if (sel_cmp(&a->selectors[i], &b->selectors[i]) != 0) return 0;
  return 1;
}

/* Binary search: index of id, or the insertion point with *found = 0. */
static size_t item_find(const struct wl_cache *c, const char *id, int *found)
{
  size_t lo = 0, hi = c->n_items;

  *found = 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int r = strcmp(c->items[mid]->e.id, id);
    if (r == 0) {
      *found = 1;
      return mid;
    }
    if (r < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int items_reserve(struct wl_cache *c, size_t n)
{
  struct wl_item **nv;
  size_t nc;

  if (n <= c->cap_items) return CAIRN_OK;
  nc = c->cap_items ? c->cap_items : 16;
  while (nc < n) nc *= 2;
  nv = realloc(c->items, nc * sizeof *nv);
  if (!nv) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  c->items = nv;
  c->cap_items = nc;
  return CAIRN_OK;
}

/* ======================================================================
 * notification
 * ====================================================================== */

static void on_flush(uv_timer_t *t);

static void schedule_flush(struct wl_cache *c)
{
  if (!uv_is_active((uv_handle_t *)c->flush_timer))
    uv_timer_start(c->flush_timer, on_flush, 0, 0);
}

/* Marks every subscriber that sees entry e. */
static void mark_entry(struct wl_cache *c, const struct wl_entry *e)
{
  struct wl_sub *s;
  int any = 0;

  for (s = c->subs; s; s = s->next) {
    if (s->dead || s->dirty) continue;
    if (wl_selectors_subset(e->selectors, e->n_selectors, s->sel.v,
                            s->sel.n)) {
      s->dirty = 1;
      any = 1;
    }
  }
  if (any) schedule_flush(c);
}

static void mark_all(struct wl_cache *c)
{
  struct wl_sub *s;
  int any = 0;

  for (s = c->subs; s; s = s->next) {
    if (s->dead) continue;
    s->dirty = 1;
    any = 1;
  }
  if (any) schedule_flush(c);
}

static int entry_federates(const struct wl_entry *e, const char *td)
{
  size_t i;
  for (i = 0; i < e->n_federates_with; i++)
    if (strcmp(e->federates_with[i], td) == 0) return 1;
  return 0;
}

/* Marks the subscribers of every entry federating with td. */
static void mark_federating(struct wl_cache *c, const char *td)
{
  size_t i;
  for (i = 0; i < c->n_items; i++)
    if (entry_federates(&c->items[i]->e, td)) mark_entry(c, &c->items[i]->e);
}

static void sub_unlink_free(struct wl_sub *s)
{
  struct wl_cache *c = s->c;
  if (s->prev) s->prev->next = s->next;
  else c->subs = s->next;
  if (s->next) s->next->prev = s->prev;
  wl_selectors_clear(&s->sel);
  free(s);
}

static void on_flush(uv_timer_t *t)
{
  struct wl_cache *c = t->data;
  struct wl_sub *s, *next;

  if (!c) return;
  c->flushing = 1;
  c->st.flushes++;
  for (s = c->subs; s; s = s->next) {
    if (s->dead || !s->dirty) continue;
    s->dirty = 0;
    c->st.notifications++;
    s->fn(s, s->arg);
  }
  c->flushing = 0;
  if (c->have_dead) {
    for (s = c->subs; s; s = next) {
      next = s->next;
      if (s->dead) sub_unlink_free(s);
    }
    c->have_dead = 0;
  }
}

/* ======================================================================
 * SVID expiry
 * ====================================================================== */

static void on_expiry(uv_timer_t *t);

static void arm_expiry(struct wl_cache *c, time_t not_after)
{
  time_t now = cairn_now();
  uint64_t ms;

  if (c->next_expiry != 0 && c->next_expiry <= not_after) return;
  c->next_expiry = not_after;
  ms = not_after > now ? (uint64_t)(not_after - now) * 1000u : 0;
  if (ms > EXPIRY_DELAY_MAX_MS) ms = EXPIRY_DELAY_MAX_MS;
  uv_timer_start(c->expiry_timer, on_expiry, ms, 0);
}

static void on_expiry(uv_timer_t *t)
{
  struct wl_cache *c = t->data;
  time_t now, next = 0;
  size_t i;

  if (!c) return;
  now = cairn_now();
  c->next_expiry = 0;
  for (i = 0; i < c->n_items; i++) {
    struct wl_item *it = c->items[i];
    if (!it->svid.present) continue;
    if (it->svid.not_after <= now) {
      CAIRN_LOGW(MOD, "X509-SVID of entry %s (%s) expired; dropped",
                 it->e.id, it->e.spiffe_id);
      svid_drop(c, it);
      c->st.svids_expired++;
      mark_entry(c, &it->e);
    } else if (next == 0 || it->svid.not_after < next) {
      next = it->svid.not_after;
    }
  }
  if (next != 0) arm_expiry(c, next);
}

/* ======================================================================
 * life cycle
 * ====================================================================== */

void wl_cache_opts_init(struct wl_cache_opts *o)
{
  memset(o, 0, sizeof *o);
}

int wl_cache_new(uv_loop_t *loop, const struct wl_cache_opts *opts,
                 struct wl_cache **out)
{
  struct wl_cache *c;

  *out = NULL;
  if (!loop || !opts || !opts->trust_domain)
    return cairn_seterr(CAIRN_ERR_INVAL, "wl_cache_new: loop and trust "
                        "domain are required");
  if (cairn_td_validate(opts->trust_domain) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_INVAL, "invalid trust domain \"%s\"",
                        opts->trust_domain);
  c = calloc(1, sizeof *c);
  if (!c) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  c->flush_timer = calloc(1, sizeof *c->flush_timer);
  c->expiry_timer = calloc(1, sizeof *c->expiry_timer);
  if (!c->flush_timer || !c->expiry_timer) {
    free(c->flush_timer);
    free(c->expiry_timer);
    free(c);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  c->loop = loop;
  snprintf(c->td, sizeof c->td, "%s", opts->trust_domain);
  c->opts = *opts;
  c->opts.trust_domain = c->td;
  if (!c->opts.max_entries) c->opts.max_entries = WL_CACHE_ENTRIES_DEFAULT;
  if (!c->opts.max_federated)
    c->opts.max_federated = WL_CACHE_FEDERATED_DEFAULT;
  if (!c->opts.max_jwt) c->opts.max_jwt = WL_CACHE_JWT_DEFAULT;
  if (!c->opts.max_subscribers) c->opts.max_subscribers = WL_CACHE_SUBS_DEFAULT;
  uv_timer_init(loop, c->flush_timer);
  uv_timer_init(loop, c->expiry_timer);
  c->flush_timer->data = c;
  c->expiry_timer->data = c;
  *out = c;
  return CAIRN_OK;
}

static void on_timer_closed(uv_handle_t *h)
{
  free(h);
}

static void jwt_free(struct wl_jwt *j)
{
  if (!j) return;
  cairn_freezero(j->token, j->token_len);
  free(j->key);
  free(j);
}

static void jwt_unlink(struct wl_cache *c, struct wl_jwt *j)
{
  if (j->prev) j->prev->next = j->next;
  else c->jwt_head = j->next;
  if (j->next) j->next->prev = j->prev;
  else c->jwt_tail = j->prev;
  j->prev = j->next = NULL;
  c->n_jwt--;
}

void wl_cache_free(struct wl_cache *c)
{
  size_t i;
  struct wl_sub *s, *ns;
  struct wl_jwt *j, *nj;

  if (!c) return;
  c->flush_timer->data = NULL;
  c->expiry_timer->data = NULL;
  uv_close((uv_handle_t *)c->flush_timer, on_timer_closed);
  uv_close((uv_handle_t *)c->expiry_timer, on_timer_closed);
  for (i = 0; i < c->n_items; i++) item_free(c->items[i]);
  free(c->items);
  bstore_free(c->own);
  for (i = 0; i < c->n_feds; i++) bstore_free(c->feds[i]);
  free(c->feds);
  for (j = c->jwt_head; j; j = nj) {
    nj = j->next;
    jwt_free(j);
  }
  for (s = c->subs; s; s = ns) {
    ns = s->next;
    wl_selectors_clear(&s->sel);
    free(s);
  }
  free(c);
}

const char *wl_cache_td(const struct wl_cache *c)
{
  return c->td;
}

/* ======================================================================
 * entries
 * ====================================================================== */

static int spiffe_id_in_use(const struct wl_cache *c, const char *id)
{
  size_t i;
  for (i = 0; i < c->n_items; i++)
    if (strcmp(c->items[i]->e.spiffe_id, id) == 0) return 1;
  return 0;
}

static void jwt_drop_id(struct wl_cache *c, const char *spiffe_id)
{
  struct wl_jwt *j, *nj;
  for (j = c->jwt_head; j; j = nj) {
    nj = j->next;
    if (strcmp(j->spiffe_id, spiffe_id) == 0) {
      jwt_unlink(c, j);
      jwt_free(j);
    }
  }
}

/* Puts a built item (cannot fail once the array has room). */
static void put_item(struct wl_cache *c, struct wl_item *ne)
{
  int found;
  size_t pos = item_find(c, ne->e.id, &found);

  if (found) {
    struct wl_item *old = c->items[pos];
    if (same_entry(&old->e, &ne->e)) {
      old->e.revision = ne->e.revision;
      item_free(ne);
      return;
    }
    if (same_svid_subject(&old->e, &ne->e)) {
      ne->chain_der = old->chain_der;
      ne->chain_len = old->chain_len;
      ne->key_der = old->key_der;
      ne->key_len = old->key_len;
      ne->svid = old->svid;
      old->chain_der = old->key_der = NULL;
      old->key_len = old->chain_len = 0;
      old->svid.present = 0;
    } else {
      ne->svid.generation = old->svid.generation;
      svid_drop(c, old);
    }
    mark_entry(c, &old->e);
    c->items[pos] = ne;
    mark_entry(c, &ne->e);
    if (strcmp(old->e.spiffe_id, ne->e.spiffe_id) != 0 &&
        !spiffe_id_in_use(c, old->e.spiffe_id))
      jwt_drop_id(c, old->e.spiffe_id);
    item_free(old);
    return;
  }
  memmove(&c->items[pos + 1], &c->items[pos],
          (c->n_items - pos) * sizeof *c->items);
  c->items[pos] = ne;
  c->n_items++;
  mark_entry(c, &ne->e);
}

int wl_cache_entry_put(struct wl_cache *c, const struct cairn_msg_entry *e)
{
  int r, found;
  struct wl_item *ne;

  if ((r = item_make(c, e, &ne)) != CAIRN_OK) return r;
  item_find(c, ne->e.id, &found);
  if (!found && c->n_items >= c->opts.max_entries) {
    item_free(ne);
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "more than %zu entries",
                        c->opts.max_entries);
  }
  if ((r = items_reserve(c, c->n_items + 1)) != CAIRN_OK) {
    item_free(ne);
    return r;
  }
  put_item(c, ne);
  return CAIRN_OK;
}

static void remove_at(struct wl_cache *c, size_t pos)
{
  struct wl_item *it = c->items[pos];

  svid_drop(c, it);
  mark_entry(c, &it->e);
  memmove(&c->items[pos], &c->items[pos + 1],
          (c->n_items - pos - 1) * sizeof *c->items);
  c->n_items--;
  if (!spiffe_id_in_use(c, it->e.spiffe_id)) jwt_drop_id(c, it->e.spiffe_id);
  item_free(it);
}

int wl_cache_entry_remove(struct wl_cache *c, const char *id)
{
  int found;
  size_t pos;

  if (!id) return cairn_seterr(CAIRN_ERR_INVAL, "entry id is NULL");
  pos = item_find(c, id, &found);
  if (!found) return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no entry %s", id);
  remove_at(c, pos);
  return CAIRN_OK;
}

static int item_ptr_cmp(const void *a, const void *b)
{
  const struct wl_item *x = *(const struct wl_item *const *)a;
  const struct wl_item *y = *(const struct wl_item *const *)b;
  return strcmp(x->e.id, y->e.id);
}

int wl_cache_entries_replace(struct wl_cache *c,
                             const struct cairn_msg_entry *entries, size_t n)
{
  int r = CAIRN_ERR_INTERNAL;
  struct wl_item **nv = NULL;
  size_t i, built = 0;

  if (n > c->opts.max_entries)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "more than %zu entries",
                        c->opts.max_entries);
  if (n) {
    nv = calloc(n, sizeof *nv);
    if (!nv) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  for (built = 0; built < n; built++)
    if ((r = item_make(c, &entries[built], &nv[built])) != CAIRN_OK) goto out;
  if (n) qsort(nv, n, sizeof *nv, item_ptr_cmp);
  for (i = 1; i < n; i++)
    if (strcmp(nv[i]->e.id, nv[i - 1]->e.id) == 0) {
      r = cairn_seterr(CAIRN_ERR_INVAL, "entry %s listed twice", nv[i]->e.id);
      goto out;
    }
  if ((r = items_reserve(c, c->n_items + n)) != CAIRN_OK) goto out;
  /* Remove what is not in the new set, then put the rest. */
  for (i = c->n_items; i-- > 0;) {
    struct wl_item key, *kp = &key;
    key.e.id = c->items[i]->e.id;
    if (!n || !bsearch(&kp, nv, n, sizeof *nv, item_ptr_cmp))
      remove_at(c, i);
  }
  for (i = 0; i < n; i++) {
    put_item(c, nv[i]);
    nv[i] = NULL;
  }
  r = CAIRN_OK;
out:
  for (i = 0; i < built && nv; i++) item_free(nv[i]);
  free(nv);
  return r;
}

size_t wl_cache_entry_count(const struct wl_cache *c)
{
  return c->n_items;
}

const struct wl_entry *wl_cache_entry_get(const struct wl_cache *c,
                                          const char *id)
{
  int found;
  size_t pos;
  if (!id) return NULL;
  pos = item_find(c, id, &found);
  return found ? &c->items[pos]->e : NULL;
}

/* ======================================================================
 * SVIDs
 * ====================================================================== */

int wl_cache_svid_set(struct wl_cache *c, const char *id,
                      const struct cairn_cert_list *chain,
                      const struct cairn_key *key)
{
  int r = CAIRN_ERR_INTERNAL, found;
  size_t pos, n;
  struct wl_item *it;
  const struct cairn_cert *leaf;
  struct cairn_id lid;
  uint8_t *der = NULL, *kder = NULL;
  size_t dlen = 0, klen = 0;
  time_t now = cairn_now();

  if (!id || !chain || !key)
    return cairn_seterr(CAIRN_ERR_INVAL, "wl_cache_svid_set: NULL argument");
  pos = item_find(c, id, &found);
  if (!found) return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no entry %s", id);
  it = c->items[pos];
  n = cairn_cert_list_count(chain);
  if (n == 0) return cairn_seterr(CAIRN_ERR_INVAL, "empty certificate chain");
  if (n > CAIRN_CERT_CHAIN_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "chain of more than %d "
                        "certificates", CAIRN_CERT_CHAIN_MAX);
  leaf = cairn_cert_list_at(chain, 0);
  if ((r = cairn_cert_spiffe_id(leaf, &lid)) != CAIRN_OK) return r;
  if (strcmp(lid.str, it->e.spiffe_id) != 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "SVID for entry %s carries %s, not "
                        "%s", id, lid.str, it->e.spiffe_id);
  if (!cairn_key_has_private(key) || !cairn_cert_matches_key(leaf, key))
    return cairn_seterr(CAIRN_ERR_POLICY, "SVID for entry %s does not match "
                        "its private key", id);
  if (cairn_cert_not_after(leaf) <= now)
    return cairn_seterr(CAIRN_ERR_EXPIRED, "SVID for entry %s has expired",
                        id);
  if (c->own) {
    r = cairn_cert_verify(chain, cairn_bundle_x509(c->own->b), c->td, now, 0,
                          NULL);
    if (r != CAIRN_OK) {
      return cairn_seterr(r, "SVID for entry %s does not verify against the "
                          "trust bundle: %s", id, cairn_errdetail());
    }
  }
  if ((r = cairn_cert_list_to_der(chain, &der, &dlen)) != CAIRN_OK) return r;
  if ((r = cairn_key_export_pkcs8_der(key, &kder, &klen)) != CAIRN_OK) {
    free(der);
    return r;
  }
  svid_drop(c, it);
  it->chain_der = der;
  it->chain_len = dlen;
  it->key_der = kder;
  it->key_len = klen;
  it->svid.present = 1;
  it->svid.not_before = cairn_cert_not_before(leaf);
  it->svid.not_after = cairn_cert_not_after(leaf);
  if (cairn_cert_serial_hex(leaf, it->svid.serial, sizeof it->svid.serial) !=
      CAIRN_OK)
    it->svid.serial[0] = '\0';
  it->svid.generation++;
  c->n_svids++;
  arm_expiry(c, it->svid.not_after);
  mark_entry(c, &it->e);
  return CAIRN_OK;
}

int wl_cache_svid_clear(struct wl_cache *c, const char *id)
{
  int found;
  size_t pos;
  struct wl_item *it;

  if (!id) return cairn_seterr(CAIRN_ERR_INVAL, "entry id is NULL");
  pos = item_find(c, id, &found);
  if (!found) return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no entry %s", id);
  it = c->items[pos];
  if (!it->svid.present) return CAIRN_OK;
  svid_drop(c, it);
  mark_entry(c, &it->e);
  return CAIRN_OK;
}

int wl_cache_svid_info(const struct wl_cache *c, const char *id,
                       struct wl_svid_info *out)
{
  int found;
  size_t pos;

  memset(out, 0, sizeof *out);
  if (!id) return cairn_seterr(CAIRN_ERR_INVAL, "entry id is NULL");
  pos = item_find(c, id, &found);
  if (!found) return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no entry %s", id);
  *out = c->items[pos]->svid;
  return CAIRN_OK;
}

void wl_cache_foreach(const struct wl_cache *c, wl_entry_fn fn, void *arg)
{
  size_t i;
  for (i = 0; i < c->n_items; i++)
    if (fn(&c->items[i]->e, &c->items[i]->svid, arg) != 0) return;
}

/* ======================================================================
 * bundles
 * ====================================================================== */

/* Drops cached JWT-SVIDs whose signing key left the own bundle. */
static void jwt_drop_unknown_kids(struct wl_cache *c)
{
  struct wl_jwt *j, *nj;
  struct cairn_id id;

  for (j = c->jwt_head; j; j = nj) {
    nj = j->next;
    if (cairn_id_parse_str(j->spiffe_id, &id) == CAIRN_OK &&
        cairn_id_member_of(&id, c->td) &&
        !cairn_bundle_jwt_find(c->own->b, j->kid)) {
      jwt_unlink(c, j);
      jwt_free(j);
    }
  }
}

int wl_cache_set_bundle(struct wl_cache *c, const struct cairn_bundle *b)
{
  int r, changed;
  struct wl_bstore *bs;

  if (!b) return cairn_seterr(CAIRN_ERR_INVAL, "bundle is NULL");
  if (strcmp(cairn_bundle_td(b), c->td) != 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "bundle of %s is not the own trust "
                        "domain %s", cairn_bundle_td(b), c->td);
  if ((r = bstore_make(b, &bs)) != CAIRN_OK) return r;
  changed = !c->own || !cairn_bundle_content_equal(c->own->b, bs->b);
  bstore_free(c->own);
  c->own = bs;
  if (changed) {
    jwt_drop_unknown_kids(c);
    mark_all(c);
  }
  return CAIRN_OK;
}

const struct cairn_bundle *wl_cache_bundle(const struct wl_cache *c)
{
  return c->own ? c->own->b : NULL;
}

static size_t fed_find(const struct wl_cache *c, const char *td, int *found)
{
  size_t lo = 0, hi = c->n_feds;

  *found = 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int r = strcmp(c->feds[mid]->td, td);
    if (r == 0) {
      *found = 1;
      return mid;
    }
    if (r < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

int wl_cache_set_federated(struct wl_cache *c, const struct cairn_bundle *b)
{
  int r, found, changed;
  size_t pos;
  struct wl_bstore *bs;

  if (!b) return cairn_seterr(CAIRN_ERR_INVAL, "bundle is NULL");
  if (strcmp(cairn_bundle_td(b), c->td) == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "%s is the own trust domain, not a "
                        "federated one", c->td);
  pos = fed_find(c, cairn_bundle_td(b), &found);
  if (!found && c->n_feds >= c->opts.max_federated)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "more than %zu federated bundles",
                        c->opts.max_federated);
  if ((r = bstore_make(b, &bs)) != CAIRN_OK) return r;
  if (found) {
    changed = !cairn_bundle_content_equal(c->feds[pos]->b, bs->b);
    bstore_free(c->feds[pos]);
    c->feds[pos] = bs;
  } else {
    struct wl_bstore **nv = realloc(c->feds, (c->n_feds + 1) * sizeof *nv);
    if (!nv) {
      bstore_free(bs);
      return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    }
    c->feds = nv;
    memmove(&c->feds[pos + 1], &c->feds[pos],
            (c->n_feds - pos) * sizeof *c->feds);
    c->feds[pos] = bs;
    c->n_feds++;
    changed = 1;
  }
  if (changed) mark_federating(c, bs->td);
  return CAIRN_OK;
}

int wl_cache_remove_federated(struct wl_cache *c, const char *td)
{
  int found;
  size_t pos;
  char name[CAIRN_TD_MAX + 1];

  if (!td) return cairn_seterr(CAIRN_ERR_INVAL, "trust domain is NULL");
  pos = fed_find(c, td, &found);
  if (!found)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no federated bundle for %s", td);
  snprintf(name, sizeof name, "%s", c->feds[pos]->td);
  bstore_free(c->feds[pos]);
  memmove(&c->feds[pos], &c->feds[pos + 1],
          (c->n_feds - pos - 1) * sizeof *c->feds);
  c->n_feds--;
  mark_federating(c, name);
  return CAIRN_OK;
}

size_t wl_cache_federated_count(const struct wl_cache *c)
{
  return c->n_feds;
}

/* ======================================================================
 * JWT-SVIDs
 * ====================================================================== */

static int str_qcmp(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The cache key "spiffe_id\0aud1\0aud2..." with the audiences sorted and
 * deduplicated. *key: free(). */
static int jwt_key(const char *spiffe_id, const char *const *aud, size_t naud,
                   char **key, size_t *key_len)
{
  const char *sorted[CAIRN_JWT_AUD_MAX];
  size_t i, len, off;
  char *k;

  *key = NULL;
  *key_len = 0;
  if (!spiffe_id || !*spiffe_id || strlen(spiffe_id) > CAIRN_ID_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "bad SPIFFE ID");
  if (naud == 0 || naud > CAIRN_JWT_AUD_MAX || !aud)
    return cairn_seterr(CAIRN_ERR_INVAL, "1..%d audiences needed",
                        CAIRN_JWT_AUD_MAX);
  len = strlen(spiffe_id) + 1;
  for (i = 0; i < naud; i++) {
    size_t n = aud[i] ? strlen(aud[i]) : 0;
    if (n == 0 || n > WL_AUDIENCE_LEN_MAX)
      return cairn_seterr(CAIRN_ERR_INVAL, "audience must be 1..%d bytes",
                          WL_AUDIENCE_LEN_MAX);
    sorted[i] = aud[i];
  }
  qsort(sorted, naud, sizeof *sorted, str_qcmp);
  for (i = 0; i < naud; i++)
    if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
      len += strlen(sorted[i]) + 1;
  k = malloc(len);
  if (!k) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  off = strlen(spiffe_id) + 1;
  memcpy(k, spiffe_id, off);
  for (i = 0; i < naud; i++) {
    size_t n;
    if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0) continue;
    n = strlen(sorted[i]) + 1;
    memcpy(k + off, sorted[i], n);
    off += n;
  }
  *key = k;
  *key_len = len;
  return CAIRN_OK;
}

static struct wl_jwt *jwt_lookup(const struct wl_cache *c, const char *key,
                                 size_t key_len)
{
  struct wl_jwt *j;
  for (j = c->jwt_head; j; j = j->next)
    if (j->key_len == key_len && memcmp(j->key, key, key_len) == 0) return j;
  return NULL;
}

static void jwt_push_front(struct wl_cache *c, struct wl_jwt *j)
{
  j->prev = NULL;
  j->next = c->jwt_head;
  if (c->jwt_head) c->jwt_head->prev = j;
  else c->jwt_tail = j;
  c->jwt_head = j;
  c->n_jwt++;
}

const char *wl_cache_jwt_get(struct wl_cache *c, const char *spiffe_id,
                             const char *const *aud, size_t naud, time_t now)
{
  char *key;
  size_t key_len;
  struct wl_jwt *j;

  if (jwt_key(spiffe_id, aud, naud, &key, &key_len) != CAIRN_OK) return NULL;
  if (now == 0) now = cairn_now();
  j = jwt_lookup(c, key, key_len);
  free(key);
  if (!j) {
    c->st.jwt_misses++;
    return NULL;
  }
  if (now >= j->stale_at) {
    jwt_unlink(c, j);
    jwt_free(j);
    c->st.jwt_misses++;
    return NULL;
  }
  jwt_unlink(c, j);
  jwt_push_front(c, j);
  c->st.jwt_hits++;
  return j->token;
}

int wl_cache_jwt_put(struct wl_cache *c, const char *spiffe_id,
                     const char *const *aud, size_t naud, const char *token,
                     time_t now)
{
  int r = CAIRN_ERR_INTERNAL;
  char *key = NULL;
  size_t key_len, i, k;
  struct cairn_jwt_claims *cl = NULL;
  struct wl_jwt *j = NULL, *old, *p, *pp;
  int64_t iat;

  if (!token) return cairn_seterr(CAIRN_ERR_INVAL, "token is NULL");
  if (strlen(token) > CAIRN_JWT_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "token longer than %d bytes",
                        CAIRN_JWT_MAX);
  if ((r = jwt_key(spiffe_id, aud, naud, &key, &key_len)) != CAIRN_OK)
    return r;
  if (now == 0) now = cairn_now();
  if ((r = cairn_jwt_parse_unverified(token, &cl)) != CAIRN_OK) goto out;
  if (strcmp(cl->sub.str, spiffe_id) != 0) {
    r = cairn_seterr(CAIRN_ERR_POLICY, "JWT-SVID subject %s is not %s",
                     cl->sub.str, spiffe_id);
    goto out;
  }
  for (i = 0; i < naud; i++) {
    for (k = 0; k < cl->naud; k++)
      if (strcmp(cl->aud[k], aud[i]) == 0) break;
    if (k == cl->naud) {
      r = cairn_seterr(CAIRN_ERR_POLICY, "JWT-SVID lacks audience %s", aud[i]);
      goto out;
    }
  }
  if (cl->exp <= (int64_t)now) {
    r = cairn_seterr(CAIRN_ERR_EXPIRED, "JWT-SVID has expired");
    goto out;
  }
  iat = cl->iat > 0 && cl->iat <= (int64_t)now ? cl->iat : (int64_t)now;
  j = calloc(1, sizeof *j);
  if (!j || !(j->token = cairn_strdup(token))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  j->token_len = strlen(token);
  j->key = key;
  j->key_len = key_len;
  j->spiffe_id = key;
  key = NULL;
  snprintf(j->kid, sizeof j->kid, "%s", cl->kid);
  j->stale_at = (time_t)(iat + (cl->exp - iat) / 2);
  if (j->stale_at <= now) {  /* already past its half life: not kept */
    r = CAIRN_OK;
    goto out;
  }
  if ((old = jwt_lookup(c, j->key, j->key_len)) != NULL) {
    jwt_unlink(c, old);
    jwt_free(old);
  }
  if (c->n_jwt >= c->opts.max_jwt) {
    for (p = c->jwt_head; p; p = pp) {
      pp = p->next;
      if (now >= p->stale_at) {
        jwt_unlink(c, p);
        jwt_free(p);
      }
    }
    while (c->n_jwt >= c->opts.max_jwt && c->jwt_tail) {
      p = c->jwt_tail;
      jwt_unlink(c, p);
      jwt_free(p);
      c->st.jwt_evicted++;
    }
  }
  jwt_push_front(c, j);
  j = NULL;
  r = CAIRN_OK;
out:
  jwt_free(j);
  free(key);
  cairn_jwt_claims_free(cl);
  return r;
}

size_t wl_cache_jwt_count(const struct wl_cache *c)
{
  return c->n_jwt;
}

/* ======================================================================
 * views
 * ====================================================================== */

int wl_cache_view(const struct wl_cache *c, const struct cairn_selector *sel,
                  size_t n, struct wl_view *v)
{
  size_t i, k, cap = 0;
  unsigned char *mark = NULL;
  time_t now = cairn_now();

  memset(v, 0, sizeof *v);
  if (c->n_feds) {
    mark = calloc(c->n_feds, 1);
    if (!mark) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  /* One pass over the entries; the array grows by doubling. */
  for (i = 0; i < c->n_items; i++) {
    const struct wl_item *it = c->items[i];
    struct wl_ident *id;
    if (!wl_selectors_subset(it->e.selectors, it->e.n_selectors, sel, n))
      continue;
    if (v->n_idents == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      struct wl_ident *grown;
      if (ncap > c->n_items) ncap = c->n_items;
      grown = realloc(v->idents, ncap * sizeof *grown);
      if (!grown) {
        free(mark);
        wl_view_clear(v);
        return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
      }
      v->idents = grown;
      cap = ncap;
    }
    id = &v->idents[v->n_idents++];
    memset(id, 0, sizeof *id);
    id->entry = &it->e;
    if (it->svid.present && it->svid.not_after > now) {
      id->chain_der = it->chain_der;
      id->chain_len = it->chain_len;
      id->key_der = it->key_der;
      id->key_len = it->key_len;
      id->not_after = it->svid.not_after;
      v->n_svids++;
    }
    for (k = 0; k < it->e.n_federates_with; k++) {
      int found;
      size_t pos = fed_find(c, it->e.federates_with[k], &found);
      if (found) mark[pos] = 1;
    }
  }
  if (c->own) {
    v->has_bundle = 1;
    bview_fill(c->own, &v->own);
  }
  for (i = 0, k = 0; i < c->n_feds; i++) k += mark[i];
  if (k) {
    v->federated = calloc(k, sizeof *v->federated);
    if (!v->federated) {
      free(mark);
      wl_view_clear(v);
      return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    }
    for (i = 0; i < c->n_feds; i++)
      if (mark[i]) bview_fill(c->feds[i], &v->federated[v->n_federated++]);
  }
  free(mark);
  return CAIRN_OK;
}

void wl_view_clear(struct wl_view *v)
{
  free(v->idents);
  free(v->federated);
  memset(v, 0, sizeof *v);
}

/* ======================================================================
 * subscriptions
 * ====================================================================== */

int wl_cache_subscribe(struct wl_cache *c, const struct cairn_selector *sel,
                       size_t n, wl_notify_fn fn, void *arg,
                       struct wl_sub **out)
{
  int r;
  size_t i;
  struct wl_sub *s;

  *out = NULL;
  if (!fn) return cairn_seterr(CAIRN_ERR_INVAL, "notify callback is NULL");
  if (c->n_subs >= c->opts.max_subscribers)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "more than %zu subscribers",
                        c->opts.max_subscribers);
  s = calloc(1, sizeof *s);
  if (!s) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  for (i = 0; i < n; i++) {
    if ((r = wl_selectors_add(&s->sel, sel[i].type, sel[i].value)) != 0) {
      wl_selectors_clear(&s->sel);
      free(s);
      return r;
    }
  }
  wl_selectors_sort(&s->sel);
  s->c = c;
  s->fn = fn;
  s->arg = arg;
  s->next = c->subs;
  if (c->subs) c->subs->prev = s;
  c->subs = s;
  c->n_subs++;
  *out = s;
  return CAIRN_OK;
}

void wl_cache_unsubscribe(struct wl_sub *s)
{
  struct wl_cache *c;

  if (!s || s->dead) return;
  c = s->c;
  c->n_subs--;
  if (c->flushing) {
    s->dead = 1;
    s->fn = NULL;
    c->have_dead = 1;
    return;
  }
  sub_unlink_free(s);
}

const struct cairn_selector *wl_sub_selectors(const struct wl_sub *s,
                                              size_t *n)
{
  *n = s->sel.n;
  return s->sel.v;
}

void wl_cache_get_stats(const struct wl_cache *c, struct wl_cache_stats *st)
{
  *st = c->st;
  st->entries = c->n_items;
  st->svids = c->n_svids;
  st->federated = c->n_feds;
  st->jwts = c->n_jwt;
  st->subscribers = c->n_subs;
}
