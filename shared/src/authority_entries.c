/* shared/src/authority_entries.c - what a node is authorised for: the
 * entries of GET /v1/entries (with exact per-node deltas), workload
 * X509-SVIDs (POST /v1/svids) and JWT-SVIDs (POST /v1/jwt), both limited
 * to a downstream node's scope (authority_downstream.c). See
 * cairn/authority.h. */
#include "authority_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/util.h"

#define MOD CAIRN__AUTH_MOD

/* ======================================================================
 * The authorised set
 * ====================================================================== */

static int cmp_entry_id(const void *x, const void *y)
{
  const struct cairn_entry *a = *(const struct cairn_entry *const *)x;
  const struct cairn_entry *b = *(const struct cairn_entry *const *)y;
  return strcmp(a->entry_id, b->entry_id);
}

static int cmp_str(const void *x, const void *y)
{
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

void cairn__authset_clear(struct cairn__authset *s)
{
  if (!s) return;
  for (size_t i = 0; i < s->n_chunks; i++)
    cairn_entry_array_free(s->chunks[i].v, s->chunks[i].n);
  free(s->chunks);
  free(s->idx);
  memset(s, 0, sizeof *s);
}

/* Lists the entries whose parent is parent into the next chunk. */
static int load_children(struct cairn_authority *a, const char *parent,
                         struct cairn__authset *s, size_t *total)
{
  struct cairn_entry_filter f;
  size_t k = s->n_chunks;
  int r;

  memset(&f, 0, sizeof f);
  f.parent_id = parent;
  if ((r = cairn_store_entry_list(a->st, &f, &s->chunks[k].v,
                                  &s->chunks[k].n)))
    return r;
  s->n_chunks++;
  *total += s->chunks[k].n;
  if (*total > CAIRN_MSG_ENTRIES_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "more than %d entries are "
                        "authorised for %s", CAIRN_MSG_ENTRIES_MAX, parent);
  return CAIRN_OK;
}

int cairn__authset_load(struct cairn_authority *a, const char *node_id,
                        struct cairn__authset *s)
{
  const char **aliases = NULL;
  size_t n1, total = 0, k = 0;
  int r = CAIRN_ERR_INTERNAL;

  memset(s, 0, sizeof *s);
  if (!(s->chunks = calloc(1, sizeof *s->chunks))) return CAIRN_ERR_NOMEM;
  if ((r = load_children(a, node_id, s, &total))) goto out;
  n1 = s->n_level1 = s->chunks[0].n;
  if (n1) {
    void *p;
    /* One level of aliasing: the children of each distinct spiffe_id of
     * a node's entry (the node's own ID is not listed twice). */
    if (!(aliases = calloc(n1, sizeof *aliases))) {
      r = CAIRN_ERR_NOMEM;
      goto out;
    }
    for (size_t i = 0; i < n1; i++)
      aliases[i] = s->chunks[0].v[i].spiffe_id;
    qsort(aliases, n1, sizeof *aliases, cmp_str);
    if (!(p = realloc(s->chunks, (n1 + 1) * sizeof *s->chunks))) {
      r = CAIRN_ERR_NOMEM;
      goto out;
    }
    s->chunks = p;
    for (size_t i = 0; i < n1; i++) {
      if (i && !strcmp(aliases[i], aliases[i - 1])) continue;
      if (!strcmp(aliases[i], node_id)) continue;
      if ((r = load_children(a, aliases[i], s, &total))) goto out;
    }
  }
  if (total && !(s->idx = calloc(total, sizeof *s->idx))) {
    r = CAIRN_ERR_NOMEM;
    goto out;
  }
  for (size_t c = 0; c < s->n_chunks; c++)
    for (size_t i = 0; i < s->chunks[c].n; i++)
      s->idx[k++] = &s->chunks[c].v[i];
  if (k) qsort(s->idx, k, sizeof *s->idx, cmp_entry_id);
  s->n = 0;
  for (size_t i = 0; i < k; i++)
    if (!s->n || strcmp(s->idx[s->n - 1]->entry_id, s->idx[i]->entry_id))
      s->idx[s->n++] = s->idx[i];
  r = CAIRN_OK;
out:
  free(aliases);
  if (r) cairn__authset_clear(s);
  return r;
}

const struct cairn_entry *cairn__authset_find(const struct cairn__authset *s,
                                              const char *entry_id)
{
  size_t lo = 0, hi = s->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(entry_id, s->idx[mid]->entry_id);
    if (!c) return s->idx[mid];
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

int cairn__authset_snapshot(struct cairn_authority *a, const char *node_id,
                            struct cairn__authset *s, int64_t *rev)
{
  int r;

  memset(s, 0, sizeof *s);
  if ((r = cairn_store_begin_read(a->st))) return r;
  r = cairn__authset_load(a, node_id, s);
  if (!r && rev) r = cairn_store_entry_revision(a->st, rev, NULL);
  if (r) {
    cairn_store_rollback(a->st);
    cairn__authset_clear(s);
    return r;
  }
  if ((r = cairn_store_commit(a->st))) cairn__authset_clear(s);
  return r;
}

/* ======================================================================
 * Per-node record of the last /v1/entries answer
 * ====================================================================== */

struct cairn__auth_seen {
  struct cairn__auth_seen *hnext;
  struct cairn__auth_seen *prev, *next;  /* LRU list */
  char *node_id;
  int64_t revision;
  char **ids;           /* sorted; point into the same block */
  size_t n;
  size_t bytes;         /* accounted size */
};

static uint32_t hash_str(const char *s)
{
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static struct cairn__auth_seen **seen_slot(struct cairn_authority *a,
                                           const char *node_id)
{
  struct cairn__auth_seen **pp =
      &a->seen_tab[hash_str(node_id) % CAIRN__AUTH_SEEN_BUCKETS];
  while (*pp && strcmp((*pp)->node_id, node_id)) pp = &(*pp)->hnext;
  return pp;
}

static void lru_unlink(struct cairn_authority *a, struct cairn__auth_seen *e)
{
  if (e->prev) e->prev->next = e->next;
  else a->seen_head = e->next;
  if (e->next) e->next->prev = e->prev;
  else a->seen_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push(struct cairn_authority *a, struct cairn__auth_seen *e)
{
  e->next = a->seen_head;
  e->prev = NULL;
  if (a->seen_head) a->seen_head->prev = e;
  a->seen_head = e;
  if (!a->seen_tail) a->seen_tail = e;
}

/* Unlinks and frees the record at *pp. */
static void seen_drop(struct cairn_authority *a, struct cairn__auth_seen **pp)
{
  struct cairn__auth_seen *e = *pp;

  *pp = e->hnext;
  lru_unlink(a, e);
  a->seen_bytes -= e->bytes;
  free(e);
}

void cairn__auth_seen_free_all(struct cairn_authority *a)
{
  if (!a->seen_tab) return;
  while (a->seen_head) seen_drop(a, seen_slot(a, a->seen_head->node_id));
  free(a->seen_tab);
  a->seen_tab = NULL;
}

static const struct cairn__auth_seen *seen_get(struct cairn_authority *a,
                                               const char *node_id)
{
  if (!a->seen_tab) return NULL;
  return *seen_slot(a, node_id);
}

static int seen_has(const struct cairn__auth_seen *e, const char *id)
{
  return bsearch(&id, e->ids, e->n, sizeof *e->ids, cmp_str) != NULL;
}

/* Records (replacing) the answer for node_id: one block holding the
 * struct, the ID pointers and the strings. A record that cannot be kept
 * only costs the node a complete answer next time. */
static void seen_put(struct cairn_authority *a, const char *node_id,
                     int64_t revision, const struct cairn__authset *s)
{
  struct cairn__auth_seen *e, **pp;
  size_t bytes, nl = strlen(node_id) + 1;
  char *p;

  if (!a->seen_tab &&
      !(a->seen_tab = calloc(CAIRN__AUTH_SEEN_BUCKETS, sizeof *a->seen_tab)))
    return;
  pp = seen_slot(a, node_id);
  if (*pp) seen_drop(a, pp);
  bytes = sizeof *e + nl + s->n * sizeof(char *);
  for (size_t i = 0; i < s->n; i++) bytes += strlen(s->idx[i]->entry_id) + 1;
  if (bytes > CAIRN_AUTHORITY_SEEN_MAX / 4) return;
  while (a->seen_head && a->seen_bytes + bytes > CAIRN_AUTHORITY_SEEN_MAX)
    seen_drop(a, seen_slot(a, a->seen_tail->node_id));
  if (!(e = calloc(1, bytes))) return;
  e->ids = (char **)(e + 1);
  p = (char *)(e->ids + s->n);
  e->node_id = p;
  memcpy(p, node_id, nl);
  p += nl;
  for (size_t i = 0; i < s->n; i++) {
    size_t l = strlen(s->idx[i]->entry_id) + 1;
    e->ids[i] = p;
    memcpy(p, s->idx[i]->entry_id, l);
    p += l;
  }
  e->n = s->n;
  e->revision = revision;
  e->bytes = bytes;
  pp = seen_slot(a, node_id);
  *pp = e;
  lru_push(a, e);
  a->seen_bytes += bytes;
}

/* ======================================================================
 * GET /v1/entries
 * ====================================================================== */

static int dup_strv(char *const *in, size_t n, char ***out)
{
  *out = NULL;
  if (!n) return CAIRN_OK;
  if (!(*out = calloc(n, sizeof **out))) return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    if (!((*out)[i] = cairn_strdup(in[i]))) return CAIRN_ERR_NOMEM;
  return CAIRN_OK;
}

/* Heap copy of a stored entry in the protocol's shape. On failure m holds
 * what was copied (the caller clears the whole message). */
static int msg_entry(const struct cairn_entry *e, struct cairn_msg_entry *m)
{
  int r;

  memset(m, 0, sizeof *m);
  if (!(m->id = cairn_strdup(e->entry_id)) ||
      !(m->spiffe_id = cairn_strdup(e->spiffe_id)) ||
      !(m->parent_id = cairn_strdup(e->parent_id)) ||
      !(m->hint = cairn_strdup(e->hint ? e->hint : "")))
    return CAIRN_ERR_NOMEM;
  if (e->n_selectors &&
      !(m->selectors = calloc(e->n_selectors, sizeof *m->selectors)))
    return CAIRN_ERR_NOMEM;
  m->n_selectors = e->n_selectors;
  for (size_t i = 0; i < e->n_selectors; i++)
    if (!(m->selectors[i].type = cairn_strdup(e->selectors[i].type)) ||
        !(m->selectors[i].value = cairn_strdup(e->selectors[i].value)))
      return CAIRN_ERR_NOMEM;
  if ((r = dup_strv(e->dns_names, e->n_dns_names, &m->dns_names)))
    return r;
  m->n_dns_names = e->n_dns_names;
  if ((r = dup_strv(e->federates_with, e->n_federates_with,
                    &m->federates_with)))
    return r;
  m->n_federates_with = e->n_federates_with;
  m->x509_svid_ttl = e->x509_svid_ttl > 0 ? (uint64_t)e->x509_svid_ttl : 0;
  m->jwt_svid_ttl = e->jwt_svid_ttl > 0 ? (uint64_t)e->jwt_svid_ttl : 0;
  m->admin = e->admin ? 1 : 0;
  m->downstream = e->downstream ? 1 : 0;
  m->revision = e->revision > 0 ? (uint64_t)e->revision : 0;
  m->expires_at = e->expires_at > 0 ? (uint64_t)e->expires_at : 0;
  return CAIRN_OK;
}

int cairn_authority_entries(struct cairn_authority *a, const char *node_id,
                            int64_t since,
                            struct cairn_msg_entries_resp *out)
{
  struct cairn__authset s;
  const struct cairn__auth_seen *seen;
  int64_t rev = 0;
  size_t n_rm = 0;
  int full, r = CAIRN_ERR_INTERNAL;

  if (out) memset(out, 0, sizeof *out);
  if (!a || !node_id || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "authority: NULL argument");
  if ((r = cairn__authset_snapshot(a, node_id, &s, &rev))) return r;
  seen = seen_get(a, node_id);
  full = !(since > 0 && seen && seen->revision == since);
  if (s.n && !(out->entries = calloc(s.n, sizeof *out->entries))) {
    r = CAIRN_ERR_NOMEM;
    goto out;
  }
  for (size_t i = 0; i < s.n; i++) {
    const struct cairn_entry *e = s.idx[i];
    if (!full && e->revision <= since && seen_has(seen, e->entry_id))
      continue;
    if ((r = msg_entry(e, &out->entries[out->n_entries++]))) goto out;
  }
  if (!full) {
    for (size_t i = 0; i < seen->n; i++)
      if (!cairn__authset_find(&s, seen->ids[i])) n_rm++;
    if (n_rm && !(out->removed = calloc(n_rm, sizeof *out->removed))) {
      r = CAIRN_ERR_NOMEM;
      goto out;
    }
    for (size_t i = 0; i < seen->n; i++)
      if (!cairn__authset_find(&s, seen->ids[i]) &&
          !(out->removed[out->n_removed++] = cairn_strdup(seen->ids[i]))) {
        r = CAIRN_ERR_NOMEM;
        goto out;
      }
  }
  out->revision = rev > 0 ? (uint64_t)rev : 0;
  out->full = full;
  seen_put(a, node_id, rev, &s);
  r = CAIRN_OK;
out:
  if (r) cairn_msg_entries_resp_clear(out);
  cairn__authset_clear(&s);
  return r;
}

int cairn_authority_parse_since(const char *query, int64_t *since)
{
  const char *p;
  uint64_t v = 0;

  if (since) *since = 0;
  if (!since) return cairn_seterr(CAIRN_ERR_INVAL, "since: NULL");
  if (!query || !query[0]) return CAIRN_OK;
  if (strncmp(query, "since=", 6) != 0)
    return cairn_seterr(CAIRN_ERR_PARSE, "query must be since=<revision>");
  p = query + 6;
  if (!*p) return cairn_seterr(CAIRN_ERR_PARSE, "since: empty");
  if (p[0] == '0' && p[1])
    return cairn_seterr(CAIRN_ERR_PARSE, "since: leading zero");
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return cairn_seterr(CAIRN_ERR_PARSE, "since: not a decimal number");
    if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
      return cairn_seterr(CAIRN_ERR_PARSE, "since: too large");
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *since = (int64_t)v;
  return CAIRN_OK;
}

void cairn__auth_h_entries(struct cairn_net_exchange *x,
                           const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn_msg_entries_resp m;
  uint8_t *body = NULL;
  size_t len = 0;
  int64_t since = 0;
  int r;

  if (!cairn__auth_need_node(a, x, rq, NULL)) return;
  if (cairn_authority_parse_since(rq->query, &since) != CAIRN_OK) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_BAD_REQUEST, "%s",
                       cairn_errdetail());
    return;
  }
  if ((r = cairn_authority_entries(a, rq->peer->id.str, since, &m))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "entries: %s",
                       cairn_errdetail());
    return;
  }
  r = cairn_msg_entries_resp_encode(&m, &body, &len);
  cairn_msg_entries_resp_clear(&m);
  if (r) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    return;
  }
  cairn_net_reply(x, CAIRN_NET_CONTENT, body, len);
  free(body);
}

/* ======================================================================
 * POST /v1/svids
 * ====================================================================== */

/* Why an authorised-set lookup refuses entry_id now, or NULL. */
static const char *entry_refusal(const struct cairn_entry *e, time_t now)
{
  if (!e) return "is not authorised for this node";
  if (e->expires_at > 0 && e->expires_at <= (int64_t)now)
    return "has expired";
  return NULL;
}

/* Sets an item's error text: what, then the printable part of detail. */
static int item_error(struct cairn_msg_svid_item *it, const char *what,
                      const char *detail)
{
  char buf[CAIRN_MSG_ERROR_MAX + 1], d[CAIRN_MSG_ERROR_MAX / 2];

  snprintf(buf, sizeof buf, "%s%s", what,
           cairn__auth_printable(detail, d, sizeof d));
  if (!(it->error = cairn_strdup(buf))) return CAIRN_ERR_NOMEM;
  return CAIRN_OK;
}

void cairn__auth_h_svids(struct cairn_net_exchange *x,
                         const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn_msg_svids_req m;
  struct cairn_msg_svids_resp resp;
  struct cairn_cert_list **chains = NULL;
  struct cairn__authset s;
  struct cairn__auth_ds ds;
  const char *first_oos = NULL;  /* first entry refused for its scope */
  uint8_t *body = NULL;
  size_t len = 0, issued = 0, n_oos = 0;
  time_t now = cairn_now();
  int r;

  memset(&m, 0, sizeof m);
  memset(&resp, 0, sizeof resp);
  memset(&s, 0, sizeof s);
  memset(&ds, 0, sizeof ds);
  if (!cairn__auth_need_node(a, x, rq, NULL)) return;
  if ((r = cairn_msg_svids_req_decode(rq->body, rq->body_len, &m))) {
    cairn__auth_decode_failed(a, x, rq, r);
    return;
  }
  if (!cairn__auth_need_ca(a, x, rq, 1)) goto out;
  if (!cairn__auth_grant_load(a, x, rq, now, &s, &ds)) goto out;
  if (!(resp.svids = calloc(m.n_csrs, sizeof *resp.svids)) ||
      !(chains = calloc(m.n_csrs, sizeof *chains))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "out of memory");
    goto out;
  }
  resp.n_svids = m.n_csrs;
  for (size_t i = 0; i < m.n_csrs; i++) {
    const struct cairn_msg_csr_item *in = &m.csrs[i];
    struct cairn_msg_svid_item *it = &resp.svids[i];
    const struct cairn_entry *e = cairn__authset_find(&s, in->entry_id);
    const char *why = entry_refusal(e, now);
    struct cairn_key *pub = NULL;
    int64_t ttl;

    if (!why && !cairn__auth_ds_allows(&ds, e->spiffe_id)) {
      why = CAIRN__AUTH_OUT_OF_SCOPE;
      if (!n_oos++) first_oos = in->entry_id;
    }
    it->entry_id = in->entry_id;
    if (why) {
      char what[CAIRN_MSG_ENTRY_ID_MAX + 16];
      snprintf(what, sizeof what, "entry %s ", in->entry_id);
      r = item_error(it, what, why);
    } else if ((r = cairn_csr_parse(in->csr.data, in->csr.len, &pub))) {
      r = item_error(it, "csr: ", cairn_errdetail());
    } else {
      ttl = e->x509_svid_ttl > 0 ? e->x509_svid_ttl : a->x509_ttl;
      r = cairn_ca_sign_x509_svid(a->ca, pub, e->spiffe_id,
                                  (const char *const *)e->dns_names,
                                  e->n_dns_names, ttl, &chains[i]);
      if (r) r = item_error(it, "cannot sign: ", cairn_errdetail());
      else if (!(r = cairn__auth_chain_view(chains[i], &it->svid))) issued++;
    }
    cairn_key_free(pub);
    if (r) {
      cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "item %zu: %s",
                         i, cairn_errdetail());
      goto out;
    }
  }
  if ((r = cairn_msg_svids_resp_encode(&resp, &body, &len))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    goto out;
  }
  a->stats.svids += issued;
  if (n_oos)
    CAIRN_LOGW(MOD, "X509-SVIDs for %s: %zu item(s) refused outside the "
               "node's downstream scope (first: entry %s)", rq->peer->id.str,
               n_oos, first_oos);
  CAIRN_LOGI(MOD, "X509-SVIDs for %s: %zu issued, %zu refused",
             rq->peer->id.str, issued, m.n_csrs - issued);
  cairn_net_reply(x, CAIRN_NET_CREATED, body, len);
out:
  for (size_t i = 0; resp.svids && i < resp.n_svids; i++) {
    free(resp.svids[i].svid.certs);
    free(resp.svids[i].error);
  }
  for (size_t i = 0; chains && i < m.n_csrs; i++)
    cairn_cert_list_free(chains[i]);
  free(chains);
  free(resp.svids);
  free(body);
  cairn__auth_ds_clear(&ds);
  cairn__authset_clear(&s);
  cairn_msg_svids_req_clear(&m);
}

/* ======================================================================
 * POST /v1/jwt
 * ====================================================================== */

void cairn__auth_h_jwt(struct cairn_net_exchange *x,
                       const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn_msg_jwt_req m;
  struct cairn_msg_jwt_resp resp;
  struct cairn__authset s;
  struct cairn__auth_ds ds;
  const struct cairn_entry *e;
  const char *why;
  char *token = NULL;
  uint8_t *body = NULL;
  size_t len = 0;
  int64_t exp = 0, ttl;
  time_t now = cairn_now();
  int r;

  memset(&m, 0, sizeof m);
  memset(&s, 0, sizeof s);
  memset(&ds, 0, sizeof ds);
  if (!cairn__auth_need_node(a, x, rq, NULL)) return;
  if ((r = cairn_msg_jwt_req_decode(rq->body, rq->body_len, &m))) {
    cairn__auth_decode_failed(a, x, rq, r);
    return;
  }
  if (!cairn__auth_need_ca(a, x, rq, 0)) goto out;
  if (!cairn__auth_grant_load(a, x, rq, now, &s, &ds)) goto out;
  e = cairn__authset_find(&s, m.entry_id);
  if (!(why = entry_refusal(e, now)) &&
      !cairn__auth_ds_allows(&ds, e->spiffe_id))
    why = CAIRN__AUTH_OUT_OF_SCOPE;
  if (why) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_FORBIDDEN, "entry %s %s",
                       m.entry_id, why);
    goto out;
  }
  ttl = e->jwt_svid_ttl > 0 ? e->jwt_svid_ttl : a->jwt_ttl;
  if ((r = cairn_ca_sign_jwt_svid(a->ca, e->spiffe_id,
                                  (const char *const *)m.audience,
                                  m.n_audience, ttl, &token, &exp))) {
    cairn__auth_refuse(a, x, rq, cairn__auth_sign_code(r), "cannot sign: %s",
                       cairn_errdetail());
    goto out;
  }
  memset(&resp, 0, sizeof resp);
  resp.token = token;
  resp.expires_at = exp > 0 ? (uint64_t)exp : 0;
  if ((r = cairn_msg_jwt_resp_encode(&resp, &body, &len))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    goto out;
  }
  a->stats.jwts++;
  CAIRN_LOGI(MOD, "JWT-SVID for %s: spiffe_id=%s audiences=%zu "
             "expires_at=%lld", rq->peer->id.str, e->spiffe_id, m.n_audience,
             (long long)exp);
  cairn_net_reply(x, CAIRN_NET_CREATED, body, len);
out:
  if (body) cairn_freezero(body, len);
  if (token) cairn_freezero(token, strlen(token) + 1);
  cairn__auth_ds_clear(&ds);
  cairn__authset_clear(&s);
  cairn_msg_jwt_req_clear(&m);
}
