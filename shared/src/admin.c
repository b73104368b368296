/* admin.c - the admin gRPC API (admin.proto) over a store and a CA manager.
 * See cairn/admin.h for the rules. Every method is unary and answered in
 * its handler: unpack, validate, work on the store / CA, pack the reply.
 * Allocations of one call are collected in a small list (struct arena)
 * and released after the reply is packed. */
#include "cairn/admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.pb-c.h"
#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/store.h"
#include "cairn/util.h"

#define MOD "admin"

/* A private code for FAILED_PRECONDITION outcomes that have no cairn_err
 * of their own (unknown parent, missing federated bundle, no active CA).
 * Never leaves this file: fail() maps it to the gRPC status. */
#define ERR_PRECONDITION (CAIRN_ERR__COUNT + 1)

/* Responses stay below this many bytes (the gRPC layer's default send cap
 * is 4 MiB); a list page that would pass it is cut early. */
#define REPLY_BUDGET (3u * 1024 * 1024)

#define DELETE_SCAN_PAGE 1000

struct arena;

struct method {
  struct cairn_admin *a;
  const char *path;
  int (*fn)(struct cairn_admin *a, struct arena *ar, const uint8_t *req,
            size_t len, ProtobufCMessage **resp);
};

struct cairn_admin {
  struct cairn_store *st;
  struct cairn_ca *ca;
  char td[CAIRN_TD_MAX + 1];
  char server_id[CAIRN_TD_MAX + 32];
  char *owner;
  char *version;
  char *scope;                        /* NULL = none */
  char upstream_status[256];
  int64_t x509_ttl, jwt_ttl;
  int64_t started_at;
  struct method *methods;
  size_t n_methods;
};

/* ======================================================================
 * Per-call allocations
 * ====================================================================== */

typedef void (*ar_free_fn)(void *p, size_t n);

struct ar_item {
  void *p;
  size_t n;
  ar_free_fn fn;
};

struct arena {
  struct ar_item *items;
  size_t n, cap;
};

static void f_free(void *p, size_t n) { (void)n; free(p); }
static void f_msg(void *p, size_t n)
{
  (void)n;
  protobuf_c_message_free_unpacked(p, NULL);
}
static void f_entries(void *p, size_t n) { cairn_entry_array_free(p, n); }
static void f_entry(void *p, size_t n) { (void)n; cairn_entry_free(p); }
static void f_nodes(void *p, size_t n) { cairn_node_array_free(p, n); }
static void f_node(void *p, size_t n) { (void)n; cairn_node_free(p); }
static void f_bundle(void *p, size_t n) { (void)n; cairn_bundle_free(p); }
static void f_certs(void *p, size_t n) { (void)n; cairn_cert_list_free(p); }
static void f_key(void *p, size_t n) { (void)n; cairn_key_free(p); }
static void f_strv(void *p, size_t n) { cairn_store_strv_free(p, n); }
static void f_token(void *p, size_t n) { (void)n; cairn_join_token_free(p); }
/* A heap string holding a secret (token): wiped, then freed. */
static void f_secret(void *p, size_t n)
{
  if (p) cairn_freezero(p, n ? n : strlen(p));
}
/* A secret string owned by something else (an unpacked request): wiped
 * only; registered after its owner, so it runs before the owner's free. */
static void f_wipe(void *p, size_t n)
{
  (void)n;
  if (p) cairn_memzero(p, strlen(p));
}

/* Hands p to the arena; on failure p is released at once. */
static int ar_own(struct arena *ar, void *p, size_t n, ar_free_fn fn)
{
  if (!p) return CAIRN_OK;
  if (ar->n == ar->cap) {
    size_t cap = ar->cap ? ar->cap * 2 : 16;
    struct ar_item *it = realloc(ar->items, cap * sizeof *it);
    if (!it) {
      fn(p, n);
      return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
    }
    ar->items = it;
    ar->cap = cap;
  }
  ar->items[ar->n].p = p;
  ar->items[ar->n].n = n;
  ar->items[ar->n].fn = fn;
  ar->n++;
  return CAIRN_OK;
}

static void *ar_calloc(struct arena *ar, size_t n, size_t size)
{
  void *p;
  if (n == 0) n = 1;
  p = calloc(n, size);
  if (!p) {
    cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
    return NULL;
  }
  if (ar_own(ar, p, 0, f_free)) return NULL;
  return p;
}

static char *ar_strdup(struct arena *ar, const char *s)
{
  size_t n = strlen(s);
  char *d = ar_calloc(ar, n + 1, 1);
  if (d) memcpy(d, s, n);
  return d;
}

static void ar_release(struct arena *ar)
{
  while (ar->n) {
    struct ar_item *it = &ar->items[--ar->n];
    it->fn(it->p, it->n);
  }
  free(ar->items);
  ar->items = NULL;
  ar->cap = 0;
}

/* ======================================================================
 * Errors
 * ====================================================================== */

int cairn_admin_grpc_status(int err)
{
  switch (err) {
    case CAIRN_OK: return CAIRN_GRPC_OK;
    case CAIRN_ERR_INVAL:
    case CAIRN_ERR_PARSE:
    case CAIRN_ERR_POLICY:
    case CAIRN_ERR_TOO_BIG:
    case CAIRN_ERR_VERIFY:
    case CAIRN_ERR_UNSUPPORTED:
    case CAIRN_ERR_AUDIENCE:
      return CAIRN_GRPC_INVALID_ARGUMENT;
    case CAIRN_ERR_NOT_FOUND: return CAIRN_GRPC_NOT_FOUND;
    case CAIRN_ERR_EXISTS: return CAIRN_GRPC_ALREADY_EXISTS;
    case CAIRN_ERR_CONFLICT: return CAIRN_GRPC_ABORTED;
    case CAIRN_ERR_DENIED:
    case CAIRN_ERR_PERM:
      return CAIRN_GRPC_PERMISSION_DENIED;
    case CAIRN_ERR_EXPIRED:
    case CAIRN_ERR_NOT_YET_VALID:
    case CAIRN_ERR_UNTRUSTED:
      return CAIRN_GRPC_FAILED_PRECONDITION;
    case CAIRN_ERR_TIMEOUT: return CAIRN_GRPC_UNAVAILABLE;
    default: return CAIRN_GRPC_INTERNAL;
  }
}

static int status_of(int err)
{
  if (err == ERR_PRECONDITION) return CAIRN_GRPC_FAILED_PRECONDITION;
  return cairn_admin_grpc_status(err);
}

/* Prefixes the current detail: "<prefix>: <detail>". Keeps the code. */
static int wrap(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int wrap(int r, const char *fmt, ...)
{
  char pre[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  return cairn_seterr(r, "%s: %s", pre, cairn_errdetail());
}

/* ======================================================================
 * Validation
 * ====================================================================== */

/* s must be a SPIFFE ID in the server's trust domain; with need_path, not
 * the trust domain ID itself. what names the field in the message. */
static int check_id(const struct cairn_admin *a, const char *what,
                    const char *s, int need_path)
{
  struct cairn_id id;

  if (!s || !s[0]) return cairn_seterr(CAIRN_ERR_INVAL, "%s is required", what);
  if (cairn_id_parse_str(s, &id) != CAIRN_OK)
    return wrap(CAIRN_ERR_INVAL, "%s \"%.200s\" is not a valid SPIFFE ID",
                what, s);
  if (!cairn_id_member_of(&id, a->td))
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "%s \"%.200s\" is not in trust domain \"%s\"", what, s,
                        a->td);
  if (need_path && cairn_id_is_td(&id))
    return cairn_seterr(CAIRN_ERR_INVAL, "%s \"%.200s\" has no path", what, s);
  return CAIRN_OK;
}

/* A DNS name for a SAN: labels of [A-Za-z0-9-] (1..63, no leading or
 * trailing '-'), optionally "*." first, at most 253 bytes. */
static int check_dns(const char *s)
{
  size_t n = strlen(s), lab = 0;
  const char *p = s;

  if (n == 0 || n > CAIRN_STORE_DNS_NAME_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "DNS name \"%.64s\" must have 1..%d "
                        "bytes", s, CAIRN_STORE_DNS_NAME_MAX);
  if (p[0] == '*' && p[1] == '.') p += 2;
  for (; ; p++) {
    char c = *p;
    if (c == '.' || c == 0) {
      if (lab == 0 || p[-1] == '-')
        return cairn_seterr(CAIRN_ERR_INVAL, "invalid DNS name \"%.200s\"", s);
      if (c == 0) break;
      lab = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || (c == '-' && lab > 0)))
      return cairn_seterr(CAIRN_ERR_INVAL, "invalid DNS name \"%.200s\"", s);
    if (++lab > 63)
      return cairn_seterr(CAIRN_ERR_INVAL, "invalid DNS name \"%.200s\": label "
                          "longer than 63", s);
  }
  return CAIRN_OK;
}

/* Selectors from the wire: type and value non-empty, type without ':'. */
static int conv_selectors(struct arena *ar, Cairn__Admin__V1__Selector **in,
                          size_t n, size_t max, struct cairn_selector **out)
{
  struct cairn_selector *s;

  *out = NULL;
  if (n > max)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%zu selectors (at most %zu)", n,
                        max);
  if (!n) return CAIRN_OK;
  if (!(s = ar_calloc(ar, n, sizeof *s))) return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    const char *t = in[i]->type, *v = in[i]->value;
    if (!t[0] || !v[0])
      return cairn_seterr(CAIRN_ERR_INVAL,
                          "selector \"%.100s:%.100s\" must be type:value with "
                          "both parts non-empty", t, v);
    if (strchr(t, ':'))
      return cairn_seterr(CAIRN_ERR_INVAL,
                          "selector type \"%.100s\" must not contain ':'", t);
    s[i].type = (char *)t;
    s[i].value = (char *)v;
  }
  *out = s;
  return CAIRN_OK;
}

/* parent must be the server, an attested node or an entry's spiffe_id. */
static int parent_known(struct cairn_admin *a, const char *parent)
{
  struct cairn_entry_filter f;
  struct cairn_node *node = NULL;
  struct cairn_entry *e = NULL;
  size_t n = 0;
  int r;

  if (strcmp(parent, a->server_id) == 0) return CAIRN_OK;
  r = cairn_store_node_get(a->st, parent, &node);
  cairn_node_free(node);
  if (r == CAIRN_OK) return CAIRN_OK;
  if (r != CAIRN_ERR_NOT_FOUND) return r;
  memset(&f, 0, sizeof f);
  f.spiffe_id = parent;
  f.limit = 1;
  if ((r = cairn_store_entry_list(a->st, &f, &e, &n))) return r;
  cairn_entry_array_free(e, n);
  if (n) return CAIRN_OK;
  return cairn_seterr(ERR_PRECONDITION,
                      "parent ID %.200s is not the server, an attested agent "
                      "or a registered entry", parent);
}

/* Normalises federates_with names (bare or spiffe://td) and checks that a
 * bundle is stored for each. */
static int conv_federates(struct cairn_admin *a, struct arena *ar, char **in,
                          size_t n, char ***out)
{
  char **v;

  *out = NULL;
  if (n > CAIRN_STORE_FEDERATES_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "federates_with has %zu trust "
                        "domains (at most %d)", n, CAIRN_STORE_FEDERATES_MAX);
  if (!n) return CAIRN_OK;
  if (!(v = ar_calloc(ar, n, sizeof *v))) return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    char td[CAIRN_TD_MAX + 1];
    char *json = NULL;
    size_t len;
    uint64_t seq;
    int r;

    if (strlen(in[i]) > CAIRN_ID_MAX || cairn_td_parse(in[i], td) != CAIRN_OK)
      return wrap(CAIRN_ERR_INVAL, "federates_with \"%.200s\"", in[i]);
    if (strcmp(td, a->td) == 0)
      return cairn_seterr(CAIRN_ERR_INVAL, "federates_with \"%s\" is the "
                          "server's own trust domain", td);
    r = cairn_store_bundle_get(a->st, td, &json, &len, &seq);
    free(json);
    if (r == CAIRN_ERR_NOT_FOUND)
      return cairn_seterr(ERR_PRECONDITION, "no bundle for federated trust "
                          "domain \"%s\" (set it first with `cairn bundle "
                          "set`)", td);
    if (r) return r;
    if (!(v[i] = ar_strdup(ar, td))) return CAIRN_ERR_NOMEM;
  }
  *out = v;
  return CAIRN_OK;
}

/* cairn-edge: an ID outside the edge's scope is refused. */
static int check_scope(const struct cairn_admin *a, const char *spiffe_id)
{
  if (!a->scope || cairn_scope_match(a->scope, spiffe_id)) return CAIRN_OK;
  return cairn_seterr(CAIRN_ERR_DENIED, "%s is outside this server's scope "
                      "%s", spiffe_id, a->scope);
}

/* Turns a wire entry into a store entry (pointing into pe and the arena)
 * after checking everything the store does not check itself. For update,
 * the ID is required. The parent and federated bundles are looked up in
 * the store, so call this inside the batch's transaction. */
static int conv_entry(struct cairn_admin *a, struct arena *ar,
                      const Cairn__Admin__V1__Entry *pe, int update,
                      struct cairn_entry *e)
{
  int r;

  memset(e, 0, sizeof *e);
  if (update && !pe->id[0])
    return cairn_seterr(CAIRN_ERR_INVAL, "id is required");
  if ((r = check_id(a, "spiffe_id", pe->spiffe_id, 1)) ||
      (r = check_id(a, "parent_id", pe->parent_id, 1)))
    return r;
  if (strcmp(pe->spiffe_id, a->server_id) == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "spiffe_id %s is the server's own ID",
                        pe->spiffe_id);
  if ((r = check_scope(a, pe->spiffe_id))) return r;
  if (!pe->n_selectors)
    return cairn_seterr(CAIRN_ERR_INVAL, "at least one selector is required");
  if ((r = conv_selectors(ar, pe->selectors, pe->n_selectors,
                          CAIRN_STORE_SELECTORS_MAX, &e->selectors)))
    return r;
  e->n_selectors = pe->n_selectors;
  if (pe->x509_svid_ttl < 0 || pe->jwt_svid_ttl < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "TTLs must not be negative");
  if (pe->expires_at < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "expires_at must not be negative");
  if (pe->expires_at && pe->expires_at <= (int64_t)cairn_now())
    return cairn_seterr(CAIRN_ERR_INVAL, "expires_at %lld is in the past",
                        (long long)pe->expires_at);
  if (pe->n_dns_names > CAIRN_STORE_DNS_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%zu DNS names (at most %d)",
                        pe->n_dns_names, CAIRN_STORE_DNS_MAX);
  for (size_t i = 0; i < pe->n_dns_names; i++)
    if ((r = check_dns(pe->dns_names[i]))) return r;
  if (pe->scope[0] && !pe->downstream)
    return cairn_seterr(CAIRN_ERR_INVAL, "scope is only for downstream "
                        "entries");
  if ((r = conv_federates(a, ar, pe->federates_with, pe->n_federates_with,
                          &e->federates_with)))
    return r;
  e->n_federates_with = pe->n_federates_with;
  if ((r = parent_known(a, pe->parent_id))) return r;

  e->entry_id = pe->id;
  e->spiffe_id = pe->spiffe_id;
  e->parent_id = pe->parent_id;
  e->x509_svid_ttl = pe->x509_svid_ttl;
  e->jwt_svid_ttl = pe->jwt_svid_ttl;
  e->dns_names = pe->dns_names;
  e->n_dns_names = pe->n_dns_names;
  e->admin = pe->admin ? 1 : 0;
  e->downstream = pe->downstream ? 1 : 0;
  e->expires_at = pe->expires_at;
  e->hint = pe->hint;
  e->owner = a->owner;
  e->scope = pe->scope;
  e->revision = 0;
  return CAIRN_OK;
}

/* ======================================================================
 * Store structures -> wire messages (pointing into the arena's copies)
 * ====================================================================== */

static int pb_selectors(struct arena *ar, const struct cairn_selector *s,
                        size_t n, Cairn__Admin__V1__Selector ***out)
{
  Cairn__Admin__V1__Selector *m, **pp;

  *out = NULL;
  if (!n) return CAIRN_OK;
  if (!(m = ar_calloc(ar, n, sizeof *m)) || !(pp = ar_calloc(ar, n, sizeof *pp)))
    return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    cairn__admin__v1__selector__init(&m[i]);
    m[i].type = s[i].type;
    m[i].value = s[i].value;
    pp[i] = &m[i];
  }
  *out = pp;
  return CAIRN_OK;
}

static int pb_entry(struct arena *ar, const struct cairn_entry *e,
                    Cairn__Admin__V1__Entry *pe)
{
  cairn__admin__v1__entry__init(pe);
  pe->id = e->entry_id;
  pe->spiffe_id = e->spiffe_id;
  pe->parent_id = e->parent_id;
  pe->n_selectors = e->n_selectors;
  pe->x509_svid_ttl = e->x509_svid_ttl;
  pe->jwt_svid_ttl = e->jwt_svid_ttl;
  pe->n_dns_names = e->n_dns_names;
  pe->dns_names = e->dns_names;
  pe->n_federates_with = e->n_federates_with;
  pe->federates_with = e->federates_with;
  pe->admin = e->admin != 0;
  pe->downstream = e->downstream != 0;
  pe->expires_at = e->expires_at;
  pe->hint = e->hint;
  pe->revision_number = e->revision;
  pe->created_at = e->created_at;
  pe->scope = e->scope;
  pe->owner = e->owner;
  return pb_selectors(ar, e->selectors, e->n_selectors, &pe->selectors);
}

/* An array of n wire entries for store entries (owned by the arena). */
static int pb_entries(struct arena *ar, const struct cairn_entry *e, size_t n,
                      Cairn__Admin__V1__Entry ***out)
{
  Cairn__Admin__V1__Entry *m, **pp;
  int r;

  *out = NULL;
  if (!n) return CAIRN_OK;
  if (!(m = ar_calloc(ar, n, sizeof *m)) || !(pp = ar_calloc(ar, n, sizeof *pp)))
    return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    if ((r = pb_entry(ar, &e[i], &m[i]))) return r;
    pp[i] = &m[i];
  }
  *out = pp;
  return CAIRN_OK;
}

static int pb_agent(struct arena *ar, const struct cairn_node *n,
                    Cairn__Admin__V1__Agent *pa)
{
  cairn__admin__v1__agent__init(pa);
  pa->spiffe_id = n->spiffe_id;
  pa->attestation_type = n->attestation_type;
  pa->n_selectors = n->n_selectors;
  pa->x509svid_serial_number = n->cert_serial;
  pa->x509svid_expires_at = n->cert_not_after;
  pa->banned = n->banned != 0;
  pa->created_at = n->created_at;
  pa->updated_at = n->updated_at;
  return pb_selectors(ar, n->selectors, n->n_selectors, &pa->selectors);
}

/* A wire bundle for b; json is its SPIFFE JSON (owned by the arena). */
static int pb_bundle(struct arena *ar, const struct cairn_bundle *b,
                     char *json, Cairn__Admin__V1__Bundle *pb)
{
  const struct cairn_cert_list *l = cairn_bundle_x509(b);
  size_t n = cairn_cert_list_count(l);

  cairn__admin__v1__bundle__init(pb);
  pb->trust_domain = (char *)cairn_bundle_td(b);
  pb->spiffe_json = json;
  pb->sequence_number = cairn_bundle_sequence(b);
  if (n) {
    if (!(pb->x509_authorities = ar_calloc(ar, n, sizeof *pb->x509_authorities)))
      return CAIRN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
      size_t len;
      const uint8_t *der = cairn_cert_der(cairn_cert_list_at(l, i), &len);
      pb->x509_authorities[i].data = (uint8_t *)der;
      pb->x509_authorities[i].len = len;
    }
  }
  pb->n_x509_authorities = n;
  return CAIRN_OK;
}

/* Loads a stored federated bundle: parsed (kept in the arena) and its
 * canonical JSON. */
static int load_fed_bundle(struct cairn_admin *a, struct arena *ar,
                           const char *td, Cairn__Admin__V1__Bundle *pb)
{
  struct cairn_bundle *b = NULL;
  char *json = NULL;
  size_t len;
  uint64_t seq;
  int r;

  r = cairn_store_bundle_get(a->st, td, &json, &len, &seq);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no bundle for trust domain "
                        "\"%s\"", td);
  if (r) return r;
  if ((r = ar_own(ar, json, 0, f_free))) return r;
  if ((r = cairn_bundle_parse_json(td, json, len, 0, &b)))
    return wrap(CAIRN_ERR_INTERNAL, "stored bundle of \"%s\" is unreadable",
                td);
  if ((r = ar_own(ar, b, 0, f_bundle))) return r;
  cairn_bundle_set_sequence(b, seq);
  return pb_bundle(ar, b, json, pb);
}

/* A trust domain from a request: bare or spiffe://td, not our own. */
static int req_td(const struct cairn_admin *a, const char *s, char *td)
{
  if (!s[0]) return cairn_seterr(CAIRN_ERR_INVAL, "trust_domain is required");
  if (strlen(s) > CAIRN_ID_MAX || cairn_td_parse(s, td) != CAIRN_OK)
    return wrap(CAIRN_ERR_INVAL, "trust_domain \"%.200s\"", s);
  if (strcmp(td, a->td) == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "\"%s\" is the server's own trust "
                        "domain; its bundle is managed by the CA (see "
                        "GetBundle)", td);
  return CAIRN_OK;
}

#define UNPACK(type, fn, ar, req, len, out)                                  \
  do {                                                                       \
    (out) = fn(NULL, (len), (req));                                          \
    if (!(out))                                                              \
      return cairn_seterr(CAIRN_ERR_PARSE, "cannot parse " #type);           \
    if (ar_own((ar), (out), 0, f_msg)) return CAIRN_ERR_NOMEM;               \
  } while (0)

/* ======================================================================
 * Entries
 * ====================================================================== */

static int conv_filter(struct arena *ar, const Cairn__Admin__V1__EntryFilter *pf,
                       struct cairn_entry_filter *f)
{
  struct cairn_selector *sel = NULL;
  int r;

  memset(f, 0, sizeof *f);
  if (!pf) return CAIRN_OK;
  if (pf->by_spiffe_id[0]) {
    if (cairn_id_validate(pf->by_spiffe_id) != CAIRN_OK)
      return wrap(CAIRN_ERR_INVAL, "filter by_spiffe_id");
    f->spiffe_id = pf->by_spiffe_id;
  }
  if (pf->by_parent_id[0]) {
    if (cairn_id_validate(pf->by_parent_id) != CAIRN_OK)
      return wrap(CAIRN_ERR_INVAL, "filter by_parent_id");
    f->parent_id = pf->by_parent_id;
  }
  if ((int)pf->match < 0 || (int)pf->match > CAIRN_MATCH_ANY)
    return cairn_seterr(CAIRN_ERR_INVAL, "filter match %d is unknown",
                        (int)pf->match);
  if ((r = conv_selectors(ar, pf->by_selectors, pf->n_by_selectors,
                          CAIRN_STORE_FILTER_SELECTORS_MAX, &sel)))
    return wrap(r, "filter");
  f->selectors = sel;
  f->n_selectors = pf->n_by_selectors;
  f->match = (enum cairn_selector_match)pf->match;
  return CAIRN_OK;
}

static int m_count_entries(struct cairn_admin *a, struct arena *ar,
                           const uint8_t *req, size_t len,
                           ProtobufCMessage **resp)
{
  Cairn__Admin__V1__CountEntriesRequest *rq;
  Cairn__Admin__V1__CountEntriesResponse *rs;
  struct cairn_entry_filter f;
  size_t n = 0;
  int r;

  UNPACK(CountEntriesRequest, cairn__admin__v1__count_entries_request__unpack,
         ar, req, len, rq);
  if ((r = conv_filter(ar, rq->filter, &f))) return r;
  if ((r = cairn_store_entry_count(a->st, &f, &n))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__count_entries_response__init(rs);
  rs->count = (int64_t)n;
  *resp = &rs->base;
  return CAIRN_OK;
}

/* page_size from the wire: 0 = default, capped at the maximum. */
static int page_size(int32_t v, size_t *out)
{
  if (v < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "page_size must not be negative");
  *out = v == 0 ? CAIRN_ADMIN_PAGE_DEFAULT
                : (v > CAIRN_ADMIN_PAGE_MAX ? CAIRN_ADMIN_PAGE_MAX : (size_t)v);
  return CAIRN_OK;
}

static int m_list_entries(struct cairn_admin *a, struct arena *ar,
                          const uint8_t *req, size_t len,
                          ProtobufCMessage **resp)
{
  Cairn__Admin__V1__ListEntriesRequest *rq;
  Cairn__Admin__V1__ListEntriesResponse *rs;
  struct cairn_entry_filter f;
  struct cairn_entry *e = NULL;
  size_t n = 0, size = 0, keep, bytes = 0;
  int r;

  UNPACK(ListEntriesRequest, cairn__admin__v1__list_entries_request__unpack,
         ar, req, len, rq);
  if ((r = conv_filter(ar, rq->filter, &f))) return r;
  if ((r = page_size(rq->page_size, &size))) return r;
  if (strlen(rq->page_token) > CAIRN_STORE_ENTRY_ID_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "page_token is too long");
  if (rq->page_token[0]) f.after_id = rq->page_token;
  f.limit = size + 1;
  if ((r = cairn_store_entry_list(a->st, &f, &e, &n))) return r;
  if ((r = ar_own(ar, e, n, f_entries))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__list_entries_response__init(rs);
  keep = n > size ? size : n;
  if ((r = pb_entries(ar, e, keep, &rs->entries))) return r;
  /* Cut the page where the reply would outgrow the budget. */
  for (size_t i = 0; i < keep; i++) {
    bytes += cairn__admin__v1__entry__get_packed_size(rs->entries[i]) + 8;
    if (bytes > REPLY_BUDGET && i > 0) {
      keep = i;
      break;
    }
  }
  rs->n_entries = keep;
  if (keep < n) rs->next_page_token = e[keep - 1].entry_id;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_get_entry(struct cairn_admin *a, struct arena *ar,
                       const uint8_t *req, size_t len, ProtobufCMessage **resp)
{
  Cairn__Admin__V1__GetEntryRequest *rq;
  Cairn__Admin__V1__Entry *rs;
  struct cairn_entry *e = NULL;
  int r;

  UNPACK(GetEntryRequest, cairn__admin__v1__get_entry_request__unpack, ar, req,
         len, rq);
  if (!rq->id[0]) return cairn_seterr(CAIRN_ERR_INVAL, "id is required");
  if (strlen(rq->id) > CAIRN_STORE_ENTRY_ID_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "id is too long");
  r = cairn_store_entry_get(a->st, rq->id, &e);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_seterr(r, "no entry with id %s", rq->id);
  if (r) return r;
  if ((r = ar_own(ar, e, 0, f_entry))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  if ((r = pb_entry(ar, e, rs))) return r;
  *resp = &rs->base;
  return CAIRN_OK;
}

/* Ends a batch: commit on success, else roll back and prefix the detail
 * with the failing entry's index. */
static int batch_end(struct cairn_admin *a, int r, size_t i, int indexed)
{
  if (r == CAIRN_OK) {
    r = cairn_store_commit(a->st);
    if (r) cairn_store_rollback(a->st);
    return r;
  }
  {
    char why[512];
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    cairn_store_rollback(a->st);
    if (indexed) return cairn_seterr(r, "entry %zu: %s", i, why);
    return cairn_seterr(r, "%s", why);
  }
}

/* A zeroed array of n store entries for a batch's results, freed (with
 * whatever the batch moved into it) by the arena. */
static int entries_out(struct arena *ar, size_t n, struct cairn_entry **out)
{
  *out = calloc(n ? n : 1, sizeof **out);
  if (!*out) return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  return ar_own(ar, *out, n, f_entries);
}

static int m_batch_create(struct cairn_admin *a, struct arena *ar,
                          const uint8_t *req, size_t len,
                          ProtobufCMessage **resp)
{
  Cairn__Admin__V1__BatchCreateEntryRequest *rq;
  Cairn__Admin__V1__BatchCreateEntryResponse *rs;
  struct cairn_entry *out;
  size_t i = 0;
  int r;

  UNPACK(BatchCreateEntryRequest,
         cairn__admin__v1__batch_create_entry_request__unpack, ar, req, len, rq);
  if (rq->n_entries > CAIRN_STORE_BATCH_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%zu entries in one batch (at most "
                        "%d)", rq->n_entries, CAIRN_STORE_BATCH_MAX);
  if ((r = entries_out(ar, rq->n_entries, &out))) return r;
  if ((r = cairn_store_begin(a->st))) return r;
  for (i = 0; i < rq->n_entries; i++) {
    struct cairn_entry e;
    struct cairn_entry *stored = NULL;
    if ((r = conv_entry(a, ar, rq->entries[i], 0, &e))) break;
    if ((r = cairn_store_entry_create(a->st, &e, &stored))) break;
    out[i] = *stored;
    free(stored);
  }
  if ((r = batch_end(a, r, i, 1))) return r;
  for (i = 0; i < rq->n_entries; i++)
    CAIRN_LOGI(MOD, "entry created: id=%s spiffe_id=%s parent_id=%s "
               "revision=%lld", out[i].entry_id, out[i].spiffe_id,
               out[i].parent_id, (long long)out[i].revision);
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__batch_create_entry_response__init(rs);
  if ((r = pb_entries(ar, out, rq->n_entries, &rs->entries))) return r;
  rs->n_entries = rq->n_entries;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_batch_update(struct cairn_admin *a, struct arena *ar,
                          const uint8_t *req, size_t len,
                          ProtobufCMessage **resp)
{
  Cairn__Admin__V1__BatchUpdateEntryRequest *rq;
  Cairn__Admin__V1__BatchUpdateEntryResponse *rs;
  struct cairn_entry *out;
  size_t i = 0;
  int r;

  UNPACK(BatchUpdateEntryRequest,
         cairn__admin__v1__batch_update_entry_request__unpack, ar, req, len, rq);
  if (rq->n_entries > CAIRN_STORE_BATCH_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%zu entries in one batch (at most "
                        "%d)", rq->n_entries, CAIRN_STORE_BATCH_MAX);
  if ((r = entries_out(ar, rq->n_entries, &out))) return r;
  if ((r = cairn_store_begin(a->st))) return r;
  for (i = 0; i < rq->n_entries; i++) {
    const Cairn__Admin__V1__Entry *pe = rq->entries[i];
    struct cairn_entry e;
    struct cairn_entry *cur = NULL, *stored = NULL;

    if ((r = conv_entry(a, ar, pe, 1, &e))) break;
    r = cairn_store_entry_get(a->st, pe->id, &cur);
    if (r == CAIRN_ERR_NOT_FOUND) {
      r = cairn_seterr(r, "no entry with id %.255s", pe->id);
      break;
    }
    if (r) break;
    if (strcmp(cur->owner, a->owner) != 0) {
      r = cairn_seterr(CAIRN_ERR_DENIED, "entry %s belongs to \"%s\" and "
                       "cannot be changed here", pe->id, cur->owner);
    } else if (pe->revision_number && pe->revision_number != cur->revision) {
      r = cairn_seterr(CAIRN_ERR_CONFLICT, "entry %s changed concurrently "
                       "(revision %lld, expected %lld)", pe->id,
                       (long long)cur->revision,
                       (long long)pe->revision_number);
    }
    cairn_entry_free(cur);
    if (r) break;
    if ((r = cairn_store_entry_update(a->st, &e, &stored))) break;
    out[i] = *stored;
    free(stored);
  }
  if ((r = batch_end(a, r, i, 1))) return r;
  for (i = 0; i < rq->n_entries; i++)
    CAIRN_LOGI(MOD, "entry updated: id=%s spiffe_id=%s parent_id=%s "
               "revision=%lld", out[i].entry_id, out[i].spiffe_id,
               out[i].parent_id, (long long)out[i].revision);
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__batch_update_entry_response__init(rs);
  if ((r = pb_entries(ar, out, rq->n_entries, &rs->entries))) return r;
  rs->n_entries = rq->n_entries;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_batch_delete(struct cairn_admin *a, struct arena *ar,
                          const uint8_t *req, size_t len,
                          ProtobufCMessage **resp)
{
  Cairn__Admin__V1__BatchDeleteEntryRequest *rq;
  Cairn__Admin__V1__BatchDeleteEntryResponse *rs;
  size_t i = 0;
  int r;

  UNPACK(BatchDeleteEntryRequest,
         cairn__admin__v1__batch_delete_entry_request__unpack, ar, req, len, rq);
  if (rq->n_ids > CAIRN_STORE_BATCH_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%zu IDs in one batch (at most %d)",
                        rq->n_ids, CAIRN_STORE_BATCH_MAX);
  if ((r = cairn_store_begin(a->st))) return r;
  for (i = 0; i < rq->n_ids; i++) {
    const char *id = rq->ids[i];
    if (!id[0]) {
      r = cairn_seterr(CAIRN_ERR_INVAL, "id is required");
      break;
    }
    if (strlen(id) > CAIRN_STORE_ENTRY_ID_MAX) {
      r = cairn_seterr(CAIRN_ERR_INVAL, "id is too long");
      break;
    }
    r = cairn_store_entry_delete(a->st, id, NULL);
    if (r == CAIRN_ERR_NOT_FOUND) r = cairn_seterr(r, "no entry with id %s", id);
    if (r) break;
  }
  if ((r = batch_end(a, r, i, 1))) return r;
  for (i = 0; i < rq->n_ids; i++)
    CAIRN_LOGI(MOD, "entry deleted: id=%s", rq->ids[i]);
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__batch_delete_entry_response__init(rs);
  rs->n_ids = rq->n_ids;
  rs->ids = rq->ids;
  *resp = &rs->base;
  return CAIRN_OK;
}

/* ======================================================================
 * Agents and join tokens
 * ====================================================================== */

static int node_filter(const char *type, int32_t banned,
                       struct cairn_node_filter *f)
{
  memset(f, 0, sizeof *f);
  if (banned < 0 || banned > 2)
    return cairn_seterr(CAIRN_ERR_INVAL, "by_banned must be 0 (any), 1 "
                        "(banned) or 2 (not banned)");
  if (strlen(type) > CAIRN_STORE_SHORT_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "by_attestation_type is too long");
  f->attestation_type = type[0] ? type : NULL;
  f->banned = (enum cairn_node_banned_filter)banned;
  return CAIRN_OK;
}

static int m_count_agents(struct cairn_admin *a, struct arena *ar,
                          const uint8_t *req, size_t len,
                          ProtobufCMessage **resp)
{
  Cairn__Admin__V1__CountAgentsRequest *rq;
  Cairn__Admin__V1__CountAgentsResponse *rs;
  struct cairn_node_filter f;
  size_t n = 0;
  int r;

  UNPACK(CountAgentsRequest, cairn__admin__v1__count_agents_request__unpack,
         ar, req, len, rq);
  if ((r = node_filter(rq->by_attestation_type, rq->by_banned, &f))) return r;
  if ((r = cairn_store_node_count(a->st, &f, &n))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__count_agents_response__init(rs);
  rs->count = (int64_t)n;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_list_agents(struct cairn_admin *a, struct arena *ar,
                         const uint8_t *req, size_t len,
                         ProtobufCMessage **resp)
{
  Cairn__Admin__V1__ListAgentsRequest *rq;
  Cairn__Admin__V1__ListAgentsResponse *rs;
  Cairn__Admin__V1__Agent *m;
  struct cairn_node_filter f;
  struct cairn_node *nodes = NULL;
  size_t n = 0, size = 0, keep, bytes = 0;
  int r;

  UNPACK(ListAgentsRequest, cairn__admin__v1__list_agents_request__unpack, ar,
         req, len, rq);
  if ((r = node_filter(rq->by_attestation_type, rq->by_banned, &f))) return r;
  if ((r = page_size(rq->page_size, &size))) return r;
  if (strlen(rq->page_token) > CAIRN_STORE_ID_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "page_token is too long");
  if (rq->page_token[0]) f.after_id = rq->page_token;
  f.limit = size + 1;
  if ((r = cairn_store_node_list(a->st, &f, &nodes, &n))) return r;
  if ((r = ar_own(ar, nodes, n, f_nodes))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__list_agents_response__init(rs);
  keep = n > size ? size : n;
  if (keep) {
    if (!(m = ar_calloc(ar, keep, sizeof *m)) ||
        !(rs->agents = ar_calloc(ar, keep, sizeof *rs->agents)))
      return CAIRN_ERR_NOMEM;
    for (size_t i = 0; i < keep; i++) {
      if ((r = pb_agent(ar, &nodes[i], &m[i]))) return r;
      rs->agents[i] = &m[i];
      bytes += cairn__admin__v1__agent__get_packed_size(&m[i]) + 8;
      if (bytes > REPLY_BUDGET && i > 0) {
        keep = i;
        break;
      }
    }
  }
  rs->n_agents = keep;
  if (keep < n) rs->next_page_token = nodes[keep - 1].spiffe_id;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int agent_req(struct cairn_admin *a, struct arena *ar,
                     const uint8_t *req, size_t len, const char **id)
{
  Cairn__Admin__V1__AgentIdRequest *rq;
  int r;

  UNPACK(AgentIdRequest, cairn__admin__v1__agent_id_request__unpack, ar, req,
         len, rq);
  if ((r = check_id(a, "spiffe_id", rq->spiffe_id, 1))) return r;
  *id = rq->spiffe_id;
  return CAIRN_OK;
}

static int m_get_agent(struct cairn_admin *a, struct arena *ar,
                       const uint8_t *req, size_t len, ProtobufCMessage **resp)
{
  Cairn__Admin__V1__Agent *rs;
  struct cairn_node *node = NULL;
  const char *id;
  int r;

  if ((r = agent_req(a, ar, req, len, &id))) return r;
  r = cairn_store_node_get(a->st, id, &node);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_seterr(r, "no attested agent %s", id);
  if (r) return r;
  if ((r = ar_own(ar, node, 0, f_node))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  if ((r = pb_agent(ar, node, rs))) return r;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int empty_reply(struct arena *ar, ProtobufCMessage **resp)
{
  Cairn__Admin__V1__Empty *rs = ar_calloc(ar, 1, sizeof *rs);
  if (!rs) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__empty__init(rs);
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_delete_agent(struct cairn_admin *a, struct arena *ar,
                          const uint8_t *req, size_t len,
                          ProtobufCMessage **resp)
{
  const char *id;
  int r;

  if ((r = agent_req(a, ar, req, len, &id))) return r;
  r = cairn_store_node_delete(a->st, id);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_seterr(r, "no attested agent %s", id);
  if (r) return r;
  CAIRN_LOGI(MOD, "agent evicted: spiffe_id=%s", id);
  return empty_reply(ar, resp);
}

static int m_ban_agent(struct cairn_admin *a, struct arena *ar,
                       const uint8_t *req, size_t len, ProtobufCMessage **resp)
{
  const char *id;
  int r;

  if ((r = agent_req(a, ar, req, len, &id))) return r;
  r = cairn_store_node_ban(a->st, id);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_seterr(r, "no attested agent %s", id);
  if (r) return r;
  CAIRN_LOGI(MOD, "agent banned: spiffe_id=%s", id);
  return empty_reply(ar, resp);
}

static int m_create_join_token(struct cairn_admin *a, struct arena *ar,
                               const uint8_t *req, size_t len,
                               ProtobufCMessage **resp)
{
  Cairn__Admin__V1__CreateJoinTokenRequest *rq;
  Cairn__Admin__V1__JoinToken *rs;
  struct cairn_join_token *t = NULL;
  char *value;
  int64_t exp;
  int r;

  UNPACK(CreateJoinTokenRequest,
         cairn__admin__v1__create_join_token_request__unpack, ar, req, len, rq);
  /* The request may carry a chosen token: wipe it with the message. */
  if (rq->token[0] && (r = ar_own(ar, rq->token, 0, f_wipe))) return r;
  if (rq->ttl <= 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "ttl must be greater than 0");
  if (rq->agent_id[0] && (r = check_id(a, "agent_id", rq->agent_id, 1)))
    return r;
  exp = (int64_t)cairn_now() + rq->ttl;
  r = cairn_store_token_create(a->st, rq->token[0] ? rq->token : NULL,
                               rq->agent_id[0] ? rq->agent_id : NULL, exp, &t);
  if (r == CAIRN_ERR_EXISTS)
    return cairn_seterr(r, "join token already exists");
  if (r) return r;
  if ((r = ar_own(ar, t, 0, f_token))) return r;
  CAIRN_LOGI(MOD, "join token created: token=%.4s... expires_at=%lld%s%s",
             t->token, (long long)t->expires_at,
             t->spiffe_id[0] ? " agent_id=" : "", t->spiffe_id);
  if (!(value = cairn_strdup(t->token))) return CAIRN_ERR_NOMEM;
  if ((r = ar_own(ar, value, 0, f_secret))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__join_token__init(rs);
  rs->value = value;
  rs->expires_at = t->expires_at;
  *resp = &rs->base;
  return CAIRN_OK;
}

/* ======================================================================
 * Bundles
 * ====================================================================== */

static int m_get_bundle(struct cairn_admin *a, struct arena *ar,
                        const uint8_t *req, size_t len,
                        ProtobufCMessage **resp)
{
  Cairn__Admin__V1__GetBundleRequest *rq;
  Cairn__Admin__V1__Bundle *rs;
  struct cairn_bundle *b = NULL;
  char *json = NULL;
  int r;

  UNPACK(GetBundleRequest, cairn__admin__v1__get_bundle_request__unpack, ar,
         req, len, rq);
  (void)rq;
  if ((r = cairn_ca_bundle(a->ca, &b))) return r;
  if ((r = ar_own(ar, b, 0, f_bundle))) return r;
  if ((r = cairn_bundle_write_json(b, 0, &json, NULL))) return r;
  if ((r = ar_own(ar, json, 0, f_free))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  if ((r = pb_bundle(ar, b, json, rs))) return r;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_list_fed_bundles(struct cairn_admin *a, struct arena *ar,
                              const uint8_t *req, size_t len,
                              ProtobufCMessage **resp)
{
  Cairn__Admin__V1__ListFederatedBundlesRequest *rq;
  Cairn__Admin__V1__ListFederatedBundlesResponse *rs;
  Cairn__Admin__V1__Bundle *m;
  char **tds = NULL;
  size_t n = 0, k = 0;
  int r;

  UNPACK(ListFederatedBundlesRequest,
         cairn__admin__v1__list_federated_bundles_request__unpack, ar, req,
         len, rq);
  (void)rq;
  if ((r = cairn_store_bundle_list(a->st, &tds, &n))) return r;
  if ((r = ar_own(ar, tds, n, f_strv))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__list_federated_bundles_response__init(rs);
  if (!(m = ar_calloc(ar, n, sizeof *m)) ||
      !(rs->bundles = ar_calloc(ar, n, sizeof *rs->bundles)))
    return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(tds[i], a->td) == 0) continue;
    r = load_fed_bundle(a, ar, tds[i], &m[k]);
    if (r == CAIRN_ERR_NOT_FOUND) continue;  /* deleted meanwhile */
    if (r) return r;
    rs->bundles[k] = &m[k];
    k++;
  }
  rs->n_bundles = k;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_get_fed_bundle(struct cairn_admin *a, struct arena *ar,
                            const uint8_t *req, size_t len,
                            ProtobufCMessage **resp)
{
  Cairn__Admin__V1__GetFederatedBundleRequest *rq;
  Cairn__Admin__V1__Bundle *rs;
  char td[CAIRN_TD_MAX + 1];
  int r;

  UNPACK(GetFederatedBundleRequest,
         cairn__admin__v1__get_federated_bundle_request__unpack, ar, req, len,
         rq);
  if ((r = req_td(a, rq->trust_domain, td))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  if ((r = load_fed_bundle(a, ar, td, rs))) return r;
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_set_fed_bundle(struct cairn_admin *a, struct arena *ar,
                            const uint8_t *req, size_t len,
                            ProtobufCMessage **resp)
{
  Cairn__Admin__V1__SetFederatedBundleRequest *rq;
  Cairn__Admin__V1__Bundle *rs;
  struct cairn_bundle *b = NULL;
  char td[CAIRN_TD_MAX + 1];
  char *json = NULL;
  uint64_t given, seq = 0;
  int r, tries;

  UNPACK(SetFederatedBundleRequest,
         cairn__admin__v1__set_federated_bundle_request__unpack, ar, req, len,
         rq);
  if ((r = req_td(a, rq->trust_domain, td))) return r;
  if (!!rq->spiffe_json[0] == !!rq->x509_pem[0])
    return cairn_seterr(CAIRN_ERR_INVAL, "give exactly one of spiffe_json and "
                        "x509_pem");
  if (rq->spiffe_json[0])
    r = cairn_bundle_parse_json(td, rq->spiffe_json, strlen(rq->spiffe_json), 0,
                                &b);
  else
    r = cairn_bundle_parse_pem(td, rq->x509_pem, strlen(rq->x509_pem), &b);
  if (r) return wrap(r, "bundle for \"%s\"", td);
  if ((r = ar_own(ar, b, 0, f_bundle))) return r;
  if (!cairn_cert_list_count(cairn_bundle_x509(b)) && !cairn_bundle_jwt_count(b))
    return cairn_seterr(CAIRN_ERR_INVAL, "bundle for \"%s\" has no X.509 "
                        "authorities and no JWT keys", td);
  given = cairn_bundle_sequence(b);
  if (given > (uint64_t)INT64_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "spiffe_sequence %llu is too large",
                        (unsigned long long)given);
  /* The stored sequence only grows: the bundle's own when it is newer,
   * else one more than the stored one. Retry if another writer (another
   * process on the same store) got in between. */
  for (tries = 0; tries < 3; tries++) {
    char *old = NULL;
    size_t olen;
    uint64_t oseq = CAIRN_STORE_SEQ_NONE;

    r = cairn_store_bundle_get(a->st, td, &old, &olen, &oseq);
    free(old);
    if (r == CAIRN_ERR_NOT_FOUND) oseq = CAIRN_STORE_SEQ_NONE;
    else if (r) return r;
    if (oseq == CAIRN_STORE_SEQ_NONE) seq = given ? given : 1;
    else if (oseq >= (uint64_t)INT64_MAX)
      return cairn_seterr(CAIRN_ERR_INVAL, "stored sequence is at its maximum");
    else seq = given > oseq ? given : oseq + 1;
    cairn_bundle_set_sequence(b, seq);
    free(json);
    json = NULL;
    if ((r = cairn_bundle_write_json(b, 0, &json, NULL))) return r;
    r = cairn_store_bundle_put(a->st, td, json, strlen(json), oseq, seq);
    if (r != CAIRN_ERR_EXISTS && r != CAIRN_ERR_NOT_FOUND) break;
  }
  if (r) {
    free(json);
    return r;
  }
  if ((r = ar_own(ar, json, 0, f_free))) return r;
  CAIRN_LOGI(MOD, "federated bundle set: trust_domain=%s sequence=%llu "
             "x509_authorities=%zu jwt_keys=%zu", td, (unsigned long long)seq,
             cairn_cert_list_count(cairn_bundle_x509(b)),
             cairn_bundle_jwt_count(b));
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  if ((r = pb_bundle(ar, b, json, rs))) return r;
  *resp = &rs->base;
  return CAIRN_OK;
}

/* CAIRN_OK when no entry federates with td, else ERR_PRECONDITION naming
 * one of them. Scans every entry in pages (an admin operation). */
static int check_unfederated(struct cairn_admin *a, const char *td)
{
  char after[CAIRN_STORE_ENTRY_ID_MAX + 1] = "";
  size_t users = 0;
  char first[CAIRN_STORE_ENTRY_ID_MAX + 1] = "";
  int r;

  for (;;) {
    struct cairn_entry_filter f;
    struct cairn_entry *e = NULL;
    size_t n = 0;

    memset(&f, 0, sizeof f);
    f.after_id = after[0] ? after : NULL;
    f.limit = DELETE_SCAN_PAGE;
    if ((r = cairn_store_entry_list(a->st, &f, &e, &n))) return r;
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < e[i].n_federates_with; j++)
        if (strcmp(e[i].federates_with[j], td) == 0) {
          if (!users++) snprintf(first, sizeof first, "%s", e[i].entry_id);
          break;
        }
    if (n) snprintf(after, sizeof after, "%s", e[n - 1].entry_id);
    cairn_entry_array_free(e, n);
    if (n < DELETE_SCAN_PAGE) break;
  }
  if (users)
    return cairn_seterr(ERR_PRECONDITION, "%zu entries federate with \"%s\" "
                        "(e.g. %s); update or delete them first", users, td,
                        first);
  return CAIRN_OK;
}

static int m_delete_fed_bundle(struct cairn_admin *a, struct arena *ar,
                               const uint8_t *req, size_t len,
                               ProtobufCMessage **resp)
{
  Cairn__Admin__V1__DeleteFederatedBundleRequest *rq;
  char td[CAIRN_TD_MAX + 1];
  int r;

  UNPACK(DeleteFederatedBundleRequest,
         cairn__admin__v1__delete_federated_bundle_request__unpack, ar, req,
         len, rq);
  if ((r = req_td(a, rq->trust_domain, td))) return r;
  if ((r = cairn_store_begin(a->st))) return r;
  r = check_unfederated(a, td);
  if (!r) {
    r = cairn_store_bundle_delete(a->st, td);
    if (r == CAIRN_ERR_NOT_FOUND)
      r = cairn_seterr(r, "no bundle for trust domain \"%s\"", td);
  }
  if ((r = batch_end(a, r, 0, 0))) return r;
  CAIRN_LOGI(MOD, "federated bundle deleted: trust_domain=%s", td);
  return empty_reply(ar, resp);
}

/* ======================================================================
 * Minting
 * ====================================================================== */

/* NOT_FOUND from the CA means it has no active authority. */
static int ca_err(int r)
{
  if (r == CAIRN_ERR_NOT_FOUND)
    return wrap(ERR_PRECONDITION, "the CA cannot sign now");
  return r;
}

static int m_mint_x509(struct cairn_admin *a, struct arena *ar,
                       const uint8_t *req, size_t len,
                       ProtobufCMessage **resp)
{
  Cairn__Admin__V1__MintX509SVIDRequest *rq;
  Cairn__Admin__V1__MintX509SVIDResponse *rs;
  struct cairn_key *pub = NULL;
  struct cairn_cert_list *chain = NULL;
  struct cairn_bundle *b = NULL;
  const struct cairn_cert_list *roots;
  const struct cairn_cert *leaf;
  char serial[64];
  size_t n;
  int64_t ttl;
  int r;

  UNPACK(MintX509SVIDRequest, cairn__admin__v1__mint_x509_svidrequest__unpack,
         ar, req, len, rq);
  if (!rq->csr.len) return cairn_seterr(CAIRN_ERR_INVAL, "csr is required");
  if ((r = check_id(a, "spiffe_id", rq->spiffe_id, 1)) ||
      (r = check_scope(a, rq->spiffe_id)))
    return r;
  if (rq->n_dns_names > CAIRN_STORE_DNS_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%zu DNS names (at most %d)",
                        rq->n_dns_names, CAIRN_STORE_DNS_MAX);
  for (size_t i = 0; i < rq->n_dns_names; i++)
    if ((r = check_dns(rq->dns_names[i]))) return r;
  if (rq->ttl < 0) return cairn_seterr(CAIRN_ERR_INVAL, "ttl must not be negative");
  ttl = rq->ttl ? rq->ttl : a->x509_ttl;
  if ((r = cairn_csr_parse(rq->csr.data, rq->csr.len, &pub)))
    return wrap(r, "csr");
  if ((r = ar_own(ar, pub, 0, f_key))) return r;
  r = cairn_ca_sign_x509_svid(a->ca, pub, rq->spiffe_id,
                              (const char *const *)rq->dns_names,
                              rq->n_dns_names, ttl, &chain);
  if (r) return ca_err(r);
  if ((r = ar_own(ar, chain, 0, f_certs))) return r;
  if ((r = cairn_ca_bundle(a->ca, &b))) return r;
  if ((r = ar_own(ar, b, 0, f_bundle))) return r;
  roots = cairn_bundle_x509(b);

  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__mint_x509_svidresponse__init(rs);
  n = cairn_cert_list_count(chain);
  if (!(rs->svid = ar_calloc(ar, n, sizeof *rs->svid))) return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    rs->svid[i].data = (uint8_t *)cairn_cert_der(cairn_cert_list_at(chain, i),
                                                 &rs->svid[i].len);
  rs->n_svid = n;
  n = cairn_cert_list_count(roots);
  if (!(rs->root_cas = ar_calloc(ar, n, sizeof *rs->root_cas)))
    return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    rs->root_cas[i].data = (uint8_t *)cairn_cert_der(cairn_cert_list_at(roots, i),
                                                     &rs->root_cas[i].len);
  rs->n_root_cas = n;
  leaf = cairn_cert_list_at(chain, 0);
  rs->expires_at = (int64_t)cairn_cert_not_after(leaf);
  if (cairn_cert_serial_hex(leaf, serial, sizeof serial)) serial[0] = 0;
  CAIRN_LOGI(MOD, "x509-svid minted: spiffe_id=%s serial=%s expires_at=%lld",
             rq->spiffe_id, serial, (long long)rs->expires_at);
  *resp = &rs->base;
  return CAIRN_OK;
}

static int m_mint_jwt(struct cairn_admin *a, struct arena *ar,
                      const uint8_t *req, size_t len, ProtobufCMessage **resp)
{
  Cairn__Admin__V1__MintJWTSVIDRequest *rq;
  Cairn__Admin__V1__MintJWTSVIDResponse *rs;
  char *token = NULL;
  int64_t ttl, exp = 0;
  int r;

  UNPACK(MintJWTSVIDRequest, cairn__admin__v1__mint_jwtsvidrequest__unpack, ar,
         req, len, rq);
  if ((r = check_id(a, "spiffe_id", rq->spiffe_id, 1)) ||
      (r = check_scope(a, rq->spiffe_id)))
    return r;
  if (!rq->n_audience)
    return cairn_seterr(CAIRN_ERR_INVAL, "at least one audience is required");
  if (rq->n_audience > CAIRN_JWT_AUD_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "%zu audiences (at most %d)",
                        rq->n_audience, CAIRN_JWT_AUD_MAX);
  for (size_t i = 0; i < rq->n_audience; i++)
    if (!rq->audience[i][0])
      return cairn_seterr(CAIRN_ERR_INVAL, "audience %zu is empty", i);
  if (rq->ttl < 0) return cairn_seterr(CAIRN_ERR_INVAL, "ttl must not be negative");
  ttl = rq->ttl ? rq->ttl : a->jwt_ttl;
  r = cairn_ca_sign_jwt_svid(a->ca, rq->spiffe_id,
                             (const char *const *)rq->audience, rq->n_audience,
                             ttl, &token, &exp);
  if (r) return ca_err(r);
  if ((r = ar_own(ar, token, 0, f_secret))) return r;
  if (!(rs = ar_calloc(ar, 1, sizeof *rs))) return CAIRN_ERR_NOMEM;
  cairn__admin__v1__mint_jwtsvidresponse__init(rs);
  rs->token = token;
  rs->expires_at = exp;
  CAIRN_LOGI(MOD, "jwt-svid minted: spiffe_id=%s audience=%s%s expires_at=%lld",
             rq->spiffe_id, rq->audience[0], rq->n_audience > 1 ? ",..." : "",
             (long long)exp);
  *resp = &rs->base;
  return CAIRN_OK;
}

/* ======================================================================
 * Health
 * ====================================================================== */

static int add_authority(struct arena *ar, Cairn__Admin__V1__HealthResponse *rs,
                         Cairn__Admin__V1__Authority *slots, const char *kind,
                         const struct cairn_ca_slot_info *si)
{
  Cairn__Admin__V1__Authority *m;

  if (si->state == CAIRN_CA_SLOT_EMPTY) return CAIRN_OK;
  m = &slots[rs->n_authorities];
  cairn__admin__v1__authority__init(m);
  m->kind = (char *)kind;
  m->state = si->state == CAIRN_CA_SLOT_ACTIVE ? "active" : "prepared";
  if (!(m->id = ar_strdup(ar, si->id))) return CAIRN_ERR_NOMEM;
  m->not_before = si->not_before;
  m->not_after = si->not_after;
  rs->authorities[rs->n_authorities++] = m;
  return CAIRN_OK;
}

static int m_health(struct cairn_admin *a, struct arena *ar,
                    const uint8_t *req, size_t len, ProtobufCMessage **resp)
{
  Cairn__Admin__V1__HealthRequest *rq;
  Cairn__Admin__V1__HealthResponse *rs;
  Cairn__Admin__V1__Authority *slots;
  struct cairn_ca_state cs;
  size_t entries = 0, agents = 0;
  int r;

  UNPACK(HealthRequest, cairn__admin__v1__health_request__unpack, ar, req, len,
         rq);
  (void)rq;
  if ((r = cairn_store_entry_count(a->st, NULL, &entries)) ||
      (r = cairn_store_node_count(a->st, NULL, &agents)))
    return r;
  cairn_ca_get_status(a->ca, &cs);
  if (!(rs = ar_calloc(ar, 1, sizeof *rs)) ||
      !(slots = ar_calloc(ar, 4, sizeof *slots)))
    return CAIRN_ERR_NOMEM;
  cairn__admin__v1__health_response__init(rs);
  if (!(rs->authorities = ar_calloc(ar, 4, sizeof *rs->authorities)))
    return CAIRN_ERR_NOMEM;
  if ((r = add_authority(ar, rs, slots, "x509", &cs.x509_current)) ||
      (r = add_authority(ar, rs, slots, "x509", &cs.x509_next)) ||
      (r = add_authority(ar, rs, slots, "jwt", &cs.jwt_current)) ||
      (r = add_authority(ar, rs, slots, "jwt", &cs.jwt_next)))
    return r;
  rs->healthy = cs.x509_current.state == CAIRN_CA_SLOT_ACTIVE &&
                cs.jwt_current.state == CAIRN_CA_SLOT_ACTIVE;
  rs->trust_domain = a->td;
  rs->version = a->version;
  rs->uptime_seconds = (int64_t)cairn_now() - a->started_at;
  if (rs->uptime_seconds < 0) rs->uptime_seconds = 0;
  rs->bundle_sequence = cs.bundle_sequence;
  rs->entries = (int64_t)entries;
  rs->agents = (int64_t)agents;
  rs->upstream = cs.upstream == 1 ? "disk"
                 : cs.upstream == 2 ? "cairn" : "self-signed";
  if (cs.x509_current.state == CAIRN_CA_SLOT_ACTIVE &&
      cs.x509_current.not_after > (int64_t)cairn_now())
    rs->offline_budget_seconds =
        cs.x509_current.not_after - (int64_t)cairn_now();
  rs->next_x509_ready = cs.x509_next.state == CAIRN_CA_SLOT_PREPARED;
  rs->upstream_status = a->upstream_status;
  rs->scope = a->scope ? a->scope : "";
  *resp = &rs->base;
  return CAIRN_OK;
}

/* ======================================================================
 * Registration and dispatch
 * ====================================================================== */

static const struct {
  const char *path;
  int (*fn)(struct cairn_admin *, struct arena *, const uint8_t *, size_t,
            ProtobufCMessage **);
} g_methods[] = {
    {"/cairn.admin.v1.Entries/CountEntries", m_count_entries},
    {"/cairn.admin.v1.Entries/ListEntries", m_list_entries},
    {"/cairn.admin.v1.Entries/GetEntry", m_get_entry},
    {"/cairn.admin.v1.Entries/BatchCreateEntry", m_batch_create},
    {"/cairn.admin.v1.Entries/BatchUpdateEntry", m_batch_update},
    {"/cairn.admin.v1.Entries/BatchDeleteEntry", m_batch_delete},
    {"/cairn.admin.v1.Agents/CountAgents", m_count_agents},
    {"/cairn.admin.v1.Agents/ListAgents", m_list_agents},
    {"/cairn.admin.v1.Agents/GetAgent", m_get_agent},
    {"/cairn.admin.v1.Agents/DeleteAgent", m_delete_agent},
    {"/cairn.admin.v1.Agents/BanAgent", m_ban_agent},
    {"/cairn.admin.v1.Agents/CreateJoinToken", m_create_join_token},
    {"/cairn.admin.v1.Bundles/GetBundle", m_get_bundle},
    {"/cairn.admin.v1.Bundles/ListFederatedBundles", m_list_fed_bundles},
    {"/cairn.admin.v1.Bundles/GetFederatedBundle", m_get_fed_bundle},
    {"/cairn.admin.v1.Bundles/SetFederatedBundle", m_set_fed_bundle},
    {"/cairn.admin.v1.Bundles/DeleteFederatedBundle", m_delete_fed_bundle},
    {"/cairn.admin.v1.SVIDs/MintX509SVID", m_mint_x509},
    {"/cairn.admin.v1.SVIDs/MintJWTSVID", m_mint_jwt},
    {"/cairn.admin.v1.Health/Check", m_health},
};
#define N_METHODS (sizeof g_methods / sizeof g_methods[0])

static void on_call(struct cairn_grpc_call *call, const uint8_t *req,
                    size_t len, void *arg)
{
  struct method *m = arg;
  struct arena ar;
  ProtobufCMessage *resp = NULL;
  int r;

  memset(&ar, 0, sizeof ar);
  cairn_clearerr();
  r = m->fn(m->a, &ar, req, len, &resp);
  if (r == CAIRN_OK && resp) {
    cairn_grpc_call_reply_pb(call, resp);
  } else {
    int st = status_of(r ? r : CAIRN_ERR_INTERNAL);
    const char *msg = cairn_errdetail();
    if (!msg[0]) msg = cairn_strerror(r);
    if (st == CAIRN_GRPC_INTERNAL)
      CAIRN_LOGE(MOD, "%s: %s", m->path, msg);
    else
      CAIRN_LOGD(MOD, "%s: %s: %s", m->path, cairn_grpc_status_name(st), msg);
    cairn_grpc_call_finish(call, st, msg);
  }
  ar_release(&ar);
}

int cairn_admin_new(const struct cairn_admin_opts *opts,
                    struct cairn_store *store, struct cairn_ca *ca,
                    struct cairn_admin **out)
{
  struct cairn_admin *a;
  const char *td;
  int r = CAIRN_ERR_NOMEM;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "admin: no output");
  *out = NULL;
  if (!opts || !store || !ca)
    return cairn_seterr(CAIRN_ERR_INVAL, "admin: options, store and CA are "
                        "required");
  if (opts->default_x509_svid_ttl < 0 || opts->default_jwt_svid_ttl < 0 ||
      opts->default_x509_svid_ttl > INT32_MAX ||
      opts->default_jwt_svid_ttl > INT32_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "admin: default TTLs out of range");
  td = cairn_ca_trust_domain(ca);
  if (!td || cairn_td_validate(td) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_INVAL, "admin: the CA has no valid trust "
                        "domain");
  if (!(a = calloc(1, sizeof *a))) return cairn_seterr(r, "out of memory");
  a->st = store;
  a->ca = ca;
  snprintf(a->td, sizeof a->td, "%s", td);
  snprintf(a->server_id, sizeof a->server_id, "spiffe://%s/spire/server", td);
  a->x509_ttl = opts->default_x509_svid_ttl ? opts->default_x509_svid_ttl
                                            : CAIRN_CA_X509_SVID_TTL_DEFAULT;
  a->jwt_ttl = opts->default_jwt_svid_ttl ? opts->default_jwt_svid_ttl
                                          : CAIRN_CA_JWT_SVID_TTL_DEFAULT;
  a->started_at = opts->started_at ? opts->started_at : (int64_t)cairn_now();
  a->owner = cairn_strdup(opts->owner ? opts->owner : CAIRN_ADMIN_OWNER_CLOUD);
  a->version = cairn_strdup(opts->version ? opts->version : "");
  if (opts->scope && opts->scope[0] && !(a->scope = cairn_strdup(opts->scope))) {
    cairn_admin_free(a);
    return cairn_seterr(r, "out of memory");
  }
  a->methods = calloc(N_METHODS, sizeof *a->methods);
  if (!a->owner || !a->version || !a->methods) {
    cairn_admin_free(a);
    return cairn_seterr(r, "out of memory");
  }
  for (size_t i = 0; i < N_METHODS; i++) {
    a->methods[i].a = a;
    a->methods[i].path = g_methods[i].path;
    a->methods[i].fn = g_methods[i].fn;
  }
  a->n_methods = N_METHODS;
  *out = a;
  return CAIRN_OK;
}

int cairn_admin_register(struct cairn_admin *a, struct cairn_grpc_server *srv)
{
  int r;

  if (!a || !srv) return cairn_seterr(CAIRN_ERR_INVAL, "admin: bad arguments");
  for (size_t i = 0; i < a->n_methods; i++)
    if ((r = cairn_grpc_server_add_method(srv, a->methods[i].path,
                                          CAIRN_GRPC_UNARY, on_call,
                                          &a->methods[i])))
      return r;
  return CAIRN_OK;
}

void cairn_admin_set_upstream_status(struct cairn_admin *a, const char *s)
{
  if (!a) return;
  snprintf(a->upstream_status, sizeof a->upstream_status, "%s", s ? s : "");
}

void cairn_admin_free(struct cairn_admin *a)
{
  if (!a) return;
  free(a->owner);
  free(a->scope);
  free(a->version);
  free(a->methods);
  free(a);
}
