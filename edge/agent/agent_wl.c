/* edge/agent/agent_wl.c - see agent_wl.h. */
#include "agent_wl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/net.h"
#include "cairn/util.h"
#include "agent_state.h"

#define MOD "workload"
#define PATH_REVISION "/v1/revision"
#define PATH_ENTRIES "/v1/entries"
#define PATH_SVIDS "/v1/svids"
#define PATH_JWT "/v1/jwt"
#define PATH_FEDERATED "/v1/federated"
#define BATCH_LIMIT 500            /* protocol.md: 1..500 CSRs */
#define POLL_MS 30000              /* when /v1/revision is not observed */
#define REASON_MAX 200

/* An entry the server refused to issue for, retried after its backoff. */
struct refusal {
  char *id;
  time_t retry_at;
  unsigned backoff_s;
};

/* A key waiting for its SVID (one per CSR of the batch in flight). */
struct pending {
  char *id;
  char *spiffe_id;           /* the entry's ID when the CSR was sent */
  struct cairn_key *key;
};

/* A JWT-SVID request in flight on the session. */
struct jwt_op {
  struct ea_wl *w;
  struct wl_jwt_req *req;
  struct jwt_op *next, *prev;
};

struct ea_wl {
  uv_loop_t *loop;
  struct ea_wl_opts o;
  struct wl_cache *cache;

  struct cairn_net_client *client;   /* borrowed from the agent */
  struct cairn_net_observation *obs; /* GET /v1/revision */

  uint64_t rev;                      /* entries revision applied */
  uint64_t rev_seen;                 /* latest announced */
  int synced;                        /* a first fetch was applied */
  int fetching;
  int minting;
  struct pending *batch;
  size_t n_batch;

  struct refusal *refused;
  size_t n_refused;

  struct jwt_op *jwts;

  /* Federated bundles (GET /v1/federated), fetched when /v1/revision's
   * fingerprint moves or the entries changed. */
  uint64_t fed_seen;                 /* latest announced fingerprint */
  uint64_t fed_asked;                /* fed_seen when the fetch was sent */
  uint64_t fed_applied;
  int fed_synced;                    /* an answer was applied */
  int fed_fetching;
  int fed_again;                     /* fetch once more after this one */
  int fed_failing;
  char **fed_tds;                    /* trust domains given to the cache */
  size_t n_fed_tds;

  uv_timer_t fetch_timer;            /* retry / poll of the entries */
  uv_timer_t mint_timer;             /* next renewal or retry */
  unsigned fetch_backoff, mint_backoff;
  int fetch_failing, mint_failing;
  int handles;
  int freeing;

  uint64_t rng;
  struct ea_wl_stats st;
};

static void fetch_federated(struct ea_wl *w);

/* ---- small helpers ------------------------------------------------------ */

static void reason_of(const struct cairn_net_response *r, char *out,
                      size_t outlen)
{
  size_t n = 0;
  char code[5];

  cairn_net_code_str(r->code, code);
  n = (size_t)snprintf(out, outlen, "%s", code);
  if (r->body && r->content_format != CAIRN_NET_CF_CBOR && n + 2 < outlen) {
    out[n++] = ' ';
    for (size_t i = 0; i < r->body_len && i < REASON_MAX && n + 1 < outlen;
         i++) {
      unsigned char ch = r->body[i];
      out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    out[n] = '\0';
  }
}

static unsigned next_backoff(unsigned cur, const struct ea_wl_opts *o)
{
  return cur >= o->backoff_max_ms / 2 ? o->backoff_max_ms : cur * 2;
}

/* FNV-1a of a string: spreads renewals per SVID without stored state. */
static uint64_t hash_str(const char *s)
{
  uint64_t h = 1469598103934665603ULL;

  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

/* Renewal point of an SVID: 45..55 % of its lifetime, counted from
 * notBefore + CAIRN_CERT_BACKDATE (issuers backdate by that much). */
static time_t renew_at(const struct wl_svid_info *si)
{
  time_t nb = si->not_before, na = si->not_after;
  int64_t life;

  if (nb + CAIRN_CERT_BACKDATE < na) nb += CAIRN_CERT_BACKDATE;
  life = (int64_t)(na - nb);
  if (life < 1) life = 1;
  return nb + (time_t)(life * 45 / 100 +
                       (int64_t)(hash_str(si->serial) %
                                 (uint64_t)(life / 10 + 1)));
}

static struct refusal *refusal_find(struct ea_wl *w, const char *id)
{
  for (size_t i = 0; i < w->n_refused; i++)
    if (strcmp(w->refused[i].id, id) == 0) return &w->refused[i];
  return NULL;
}

static void refusal_drop(struct ea_wl *w, const char *id)
{
  for (size_t i = 0; i < w->n_refused; i++)
    if (strcmp(w->refused[i].id, id) == 0) {
      free(w->refused[i].id);
      w->refused[i] = w->refused[--w->n_refused];
      return;
    }
}

/* Records a refusal; returns 1 when it is the first for this entry. */
static int refusal_note(struct ea_wl *w, const char *id)
{
  struct refusal *f = refusal_find(w, id), *nv;
  time_t now = cairn_now();

  if (f) {
    f->backoff_s = f->backoff_s >= 1800 ? 3600 : f->backoff_s * 2;
    f->retry_at = now + (time_t)f->backoff_s;
    return 0;
  }
  nv = realloc(w->refused, (w->n_refused + 1) * sizeof *nv);
  if (!nv) return 1;
  w->refused = nv;
  f = &w->refused[w->n_refused];
  if (!(f->id = strdup(id))) return 1;
  f->backoff_s = 5;
  f->retry_at = now + 5;
  w->n_refused++;
  return 1;
}

static void batch_clear(struct ea_wl *w)
{
  for (size_t i = 0; i < w->n_batch; i++) {
    free(w->batch[i].id);
    free(w->batch[i].spiffe_id);
    cairn_key_free(w->batch[i].key);
  }
  free(w->batch);
  w->batch = NULL;
  w->n_batch = 0;
}

/* ---- lifecycle -------------------------------------------------------------- */

void ea_wl_opts_init(struct ea_wl_opts *o)
{
  memset(o, 0, sizeof *o);
  o->key_type = CAIRN_KEY_EC_P256;
  o->batch_max = EA_WL_BATCH_DEFAULT;
  o->backoff_min_ms = 1000;
  o->backoff_max_ms = 30000;
}

static void on_closed(uv_handle_t *h)
{
  struct ea_wl *w = h->data;

  if (--w->handles == 0 && w->freeing) free(w);
}

int ea_wl_new(uv_loop_t *loop, const struct ea_wl_opts *opts,
              struct ea_wl **out)
{
  struct ea_wl *w;

  if (out) *out = NULL;
  if (!loop || !opts || !opts->cache || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "ea_wl_new: NULL argument");
  if (opts->batch_max > BATCH_LIMIT)
    return cairn_seterr(CAIRN_ERR_INVAL, "batch_max above %d", BATCH_LIMIT);
  if (!(w = calloc(1, sizeof *w)))
    return cairn_seterr(CAIRN_ERR_NOMEM, "workload side");
  w->loop = loop;
  w->o = *opts;
  if (!w->o.key_type) w->o.key_type = CAIRN_KEY_EC_P256;
  if (!w->o.batch_max) w->o.batch_max = EA_WL_BATCH_DEFAULT;
  if (!w->o.backoff_min_ms) w->o.backoff_min_ms = 1000;
  if (w->o.backoff_max_ms < w->o.backoff_min_ms)
    w->o.backoff_max_ms = w->o.backoff_min_ms * 30;
  w->cache = opts->cache;
  w->fetch_backoff = w->mint_backoff = w->o.backoff_min_ms;
  w->rng = (uint64_t)uv_hrtime() ^ (uint64_t)(uintptr_t)w;
  uv_timer_init(loop, &w->fetch_timer);
  uv_timer_init(loop, &w->mint_timer);
  w->fetch_timer.data = w->mint_timer.data = w;
  w->handles = 2;
  *out = w;
  return CAIRN_OK;
}

/* Fails the JWT requests in flight: their client is going, and with it
 * their callbacks (cairn_net_client_free() calls none). */
static void jwt_fail_all(struct ea_wl *w, const char *why)
{
  while (w->jwts) {
    struct jwt_op *op = w->jwts;
    w->jwts = op->next;
    wl_jwt_req_done(op->req, NULL, why);
    w->st.jwt_failed++;
    free(op);
  }
}

void ea_wl_free(struct ea_wl *w)
{
  if (!w) return;
  if (w->obs) cairn_net_observation_cancel(w->obs);
  w->obs = NULL;
  w->client = NULL;
  jwt_fail_all(w, "the agent is shutting down");
  batch_clear(w);
  for (size_t i = 0; i < w->n_refused; i++) free(w->refused[i].id);
  free(w->refused);
  w->refused = NULL;
  w->n_refused = 0;
  for (size_t i = 0; i < w->n_fed_tds; i++) free(w->fed_tds[i]);
  free(w->fed_tds);
  w->fed_tds = NULL;
  w->n_fed_tds = 0;
  w->freeing = 1;
  uv_close((uv_handle_t *)&w->fetch_timer, on_closed);
  uv_close((uv_handle_t *)&w->mint_timer, on_closed);
}

void ea_wl_get_stats(const struct ea_wl *w, struct ea_wl_stats *st)
{
  if (!st) return;
  if (!w) {
    memset(st, 0, sizeof *st);
    return;
  }
  *st = w->st;
  st->session = w->client != NULL;
  st->entries_revision = w->rev;
}

/* ---- minting X509-SVIDs ------------------------------------------------------ */

static void schedule_mint(struct ea_wl *w, uint64_t delay_ms);
static void mint_scan(struct ea_wl *w);

struct scan {
  struct ea_wl *w;
  time_t now;
  time_t next;                   /* earliest future renewal / retry */
  const char **ids;              /* entries to issue for now */
  size_t n, cap;
  int nomem;
};

static int scan_one(const struct wl_entry *e, const struct wl_svid_info *si,
                    void *arg)
{
  struct scan *s = arg;
  struct refusal *f;
  time_t due = 0;

  if (si->present) due = renew_at(si);
  if ((f = refusal_find(s->w, e->id)) && f->retry_at > due) due = f->retry_at;
  if (due > s->now) {
    if (!s->next || due < s->next) s->next = due;
    return 0;
  }
  if (s->n == s->cap) {
    /* A full batch: the rest goes in the next one, right after. */
    s->next = s->now;
    return 1;
  }
  s->ids[s->n++] = e->id;
  return 0;
}

static void on_svids(int err, const struct cairn_net_response *r, void *arg);

/* Sends one batch: a new key and CSR for each entry in ids. */
static void send_batch(struct ea_wl *w, const char *const *ids, size_t n)
{
  struct cairn_msg_svids_req m;
  uint8_t *body = NULL;
  size_t body_len = 0;
  int r = CAIRN_ERR_NOMEM;

  memset(&m, 0, sizeof m);
  if (!(w->batch = calloc(n, sizeof *w->batch)) ||
      !(m.csrs = calloc(n, sizeof *m.csrs)))
    goto out;
  for (size_t i = 0; i < n; i++) {
    struct pending *p = &w->batch[w->n_batch];
    const struct wl_entry *e = wl_cache_entry_get(w->cache, ids[i]);
    if (!(p->id = strdup(ids[i])) ||
        !(p->spiffe_id = strdup(e ? e->spiffe_id : ""))) {
      free(p->id);
      p->id = NULL;
      goto out;
    }
    w->n_batch++;
    if ((r = cairn_key_generate(w->o.key_type, &p->key)) ||
        (r = cairn_csr_create(p->key, &m.csrs[i].csr.data,
                              &m.csrs[i].csr.len)))
      goto out;
    m.csrs[i].entry_id = p->id;
    m.n_csrs++;
  }
  if ((r = cairn_msg_svids_req_encode(&m, &body, &body_len))) goto out;
  r = cairn_net_client_request(w->client, CAIRN_NET_POST, PATH_SVIDS, body,
                               body_len, on_svids, w);
out:
  for (size_t i = 0; i < m.n_csrs; i++) free(m.csrs[i].csr.data);
  free(m.csrs);
  free(body);
  if (r) {
    CAIRN_LOGE(MOD, "cannot send %zu workload CSRs: %s", n,
               cairn_errdetail());
    batch_clear(w);
    schedule_mint(w, w->mint_backoff);
    w->mint_backoff = next_backoff(w->mint_backoff, &w->o);
    return;
  }
  CAIRN_LOGD(MOD, "asked for %zu X509-SVIDs", n);
  w->minting = 1;
}

static void mint_scan(struct ea_wl *w)
{
  struct scan s;

  uv_timer_stop(&w->mint_timer);
  if (w->minting || w->freeing) return;
  memset(&s, 0, sizeof s);
  s.w = w;
  s.now = cairn_now();
  s.cap = w->o.batch_max;
  if (!(s.ids = calloc(s.cap, sizeof *s.ids))) {
    schedule_mint(w, w->o.backoff_max_ms);
    return;
  }
  wl_cache_foreach(w->cache, scan_one, &s);
  w->st.next_renewal = s.next;
  if (s.n > 0 && w->client && wl_cache_bundle(w->cache)) {
    send_batch(w, s.ids, s.n);
  } else if (s.next) {
    /* Without a session, the next session's start scans again. */
    if (w->client)
      schedule_mint(w, s.next > s.now ? (uint64_t)(s.next - s.now) * 1000
                                      : 0);
  }
  free(s.ids);
}

static void on_mint_timer(uv_timer_t *t)
{
  mint_scan(t->data);
}

static void schedule_mint(struct ea_wl *w, uint64_t delay_ms)
{
  if (w->freeing) return;
  /* Up to 100 ms of spread so a site's renewals do not all leave at once. */
  w->rng = w->rng * 6364136223846793005ULL + 1442695040888963407ULL;
  uv_timer_start(&w->mint_timer, on_mint_timer,
                 delay_ms + ((w->rng >> 33) % 100), 0);
}

static void take_svids(struct ea_wl *w, const uint8_t *body, size_t len)
{
  struct cairn_msg_svids_resp m;
  size_t issued = 0, refused = 0;

  memset(&m, 0, sizeof m);
  if (cairn_msg_svids_resp_decode(body, len, &m) != CAIRN_OK) {
    CAIRN_LOGW(MOD, "ignoring a malformed " PATH_SVIDS " answer: %s",
               cairn_errdetail());
    goto out;
  }
  for (size_t i = 0; i < m.n_svids; i++) {
    const struct cairn_msg_svid_item *it = &m.svids[i];
    struct pending *p = NULL;
    struct cairn_cert_list *chain = NULL;
    int rc;

    for (size_t j = 0; j < w->n_batch && !p; j++)
      if (w->batch[j].key && strcmp(w->batch[j].id, it->entry_id) == 0)
        p = &w->batch[j];
    if (!p) {
      CAIRN_LOGW(MOD, "the server answered for entry %.255s, which was not "
                 "asked for", it->entry_id);
      continue;
    }
    {
      /* Changed or removed while the batch was in flight: the answer is
       * for the old entry; the next scan asks again, without backoff. */
      const struct wl_entry *now = wl_cache_entry_get(w->cache, p->id);
      if (!now || strcmp(now->spiffe_id, p->spiffe_id) != 0) {
        CAIRN_LOGD(MOD, "entry %s changed while its SVID was issued; asking "
                   "again", p->id);
        cairn_key_free(p->key);
        p->key = NULL;
        continue;
      }
    }
    if (it->error) {
      if (refusal_note(w, p->id))
        CAIRN_LOGW(MOD, "the server refused an X509-SVID for entry %s: "
                   "%.1024s", p->id, it->error);
      refused++;
    } else if ((rc = ea_chain_from_msg(&it->svid, &chain)) ||
               (rc = wl_cache_svid_set(w->cache, p->id, chain, p->key))) {
      /* An entry removed meanwhile is not a refusal. */
      if (rc != CAIRN_ERR_NOT_FOUND) {
        if (refusal_note(w, p->id))
          CAIRN_LOGW(MOD, "unusable X509-SVID for entry %s: %s", p->id,
                     cairn_errdetail());
        refused++;
      }
    } else {
      struct wl_svid_info si;
      const struct wl_entry *e = wl_cache_entry_get(w->cache, p->id);
      char t[32] = "";

      if (wl_cache_svid_info(w->cache, p->id, &si) == CAIRN_OK)
        cairn_time_format(si.not_after, t, sizeof t);
      CAIRN_LOGD(MOD, "X509-SVID for %s (entry %s) valid until %s",
                 e ? e->spiffe_id : "?", p->id, t);
      refusal_drop(w, p->id);
      issued++;
    }
    cairn_cert_list_free(chain);
    cairn_key_free(p->key);
    p->key = NULL;
  }
  w->st.svids_issued += issued;
  w->st.svids_refused += refused;
  if (issued)
    CAIRN_LOGI(MOD, "%zu X509-SVID%s issued%s", issued, issued == 1 ? "" : "s",
               refused ? " (some refused)" : "");
out:
  cairn_msg_svids_resp_clear(&m);
  /* Entries of the batch without an answer are retried like refusals. */
  for (size_t j = 0; j < w->n_batch; j++)
    if (w->batch[j].key) refusal_note(w, w->batch[j].id);
}

static void on_svids(int err, const struct cairn_net_response *r, void *arg)
{
  struct ea_wl *w = arg;
  char why[REASON_MAX + 16];

  w->minting = 0;
  if (err) {
    /* The session failed: the agent resets it and calls us again. */
    CAIRN_LOGD(MOD, PATH_SVIDS " failed: %s", cairn_strerror(err));
    batch_clear(w);
    schedule_mint(w, w->mint_backoff);
    w->mint_backoff = next_backoff(w->mint_backoff, &w->o);
    return;
  }
  if (r->code != CAIRN_NET_CREATED) {
    reason_of(r, why, sizeof why);
    if (!w->mint_failing)
      CAIRN_LOGW(MOD, "POST " PATH_SVIDS " failed: %s; retrying", why);
    w->mint_failing = 1;
    w->st.svids_refused += w->n_batch;
    batch_clear(w);
    schedule_mint(w, w->mint_backoff);
    w->mint_backoff = next_backoff(w->mint_backoff, &w->o);
    return;
  }
  w->st.svid_batches++;
  w->mint_failing = 0;
  w->mint_backoff = w->o.backoff_min_ms;
  take_svids(w, r->body, r->body_len);
  batch_clear(w);
  mint_scan(w);
}

/* ---- entries -------------------------------------------------------------- */

static void fetch_entries(struct ea_wl *w);
static void on_poll_timer(uv_timer_t *t);

static void on_fetch_timer(uv_timer_t *t)
{
  fetch_entries(t->data);
}

static void fetch_retry(struct ea_wl *w)
{
  if (w->freeing) return;
  uv_timer_start(&w->fetch_timer, on_fetch_timer, w->fetch_backoff, 0);
  w->fetch_backoff = next_backoff(w->fetch_backoff, &w->o);
}

/* ---- federated bundles ---------------------------------------------------- */

static int td_listed(char *const *v, size_t n, const char *td)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], td) == 0) return 1;
  return 0;
}

/* Gives the answer's bundles to the Workload API cache and drops the ones
 * it no longer names. An unusable bundle is skipped with a warning (its
 * trust domain keeps what the cache had). */
static int apply_federated(struct ea_wl *w,
                           const struct cairn_msg_federated_resp *m)
{
  char **tds = NULL;
  size_t n = 0;

  if (m->n_bundles && !(tds = calloc(m->n_bundles, sizeof *tds)))
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  for (size_t i = 0; i < m->n_bundles; i++) {
    const struct cairn_msg_bundle_resp *fb = &m->bundles[i];
    struct cairn_bundle *b = NULL;
    int r = cairn_bundle_parse_json(fb->trust_domain, fb->bundle,
                                    strlen(fb->bundle), 0, &b);
    if (r == CAIRN_OK) {
      cairn_bundle_set_sequence(b, fb->sequence);
      r = wl_cache_set_federated(w->cache, b);
      cairn_bundle_free(b);
    }
    if (r != CAIRN_OK)
      CAIRN_LOGW(MOD, "federated bundle of %s (sequence %llu) not used: %s",
                 fb->trust_domain, (unsigned long long)fb->sequence,
                 cairn_errdetail());
    if (!(tds[n] = cairn_strdup(fb->trust_domain))) {
      for (size_t j = 0; j < n; j++) free(tds[j]);
      free(tds);
      return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    }
    n++;
  }
  for (size_t i = 0; i < w->n_fed_tds; i++) {
    if (!td_listed(tds, n, w->fed_tds[i])) {
      (void)wl_cache_remove_federated(w->cache, w->fed_tds[i]);
      CAIRN_LOGI(MOD, "federated bundle of %s dropped", w->fed_tds[i]);
    }
    free(w->fed_tds[i]);
  }
  free(w->fed_tds);
  w->fed_tds = tds;
  w->n_fed_tds = n;
  return CAIRN_OK;
}

static void on_federated(int err, const struct cairn_net_response *r,
                         void *arg)
{
  struct ea_wl *w = arg;
  struct cairn_msg_federated_resp m;
  char why[REASON_MAX + 16];

  w->fed_fetching = 0;
  memset(&m, 0, sizeof m);
  if (err) {
    /* The next /v1/revision answer (a new session's first) asks again. */
    CAIRN_LOGD(MOD, "GET " PATH_FEDERATED " failed: %s", cairn_strerror(err));
    return;
  }
  if (r->code != CAIRN_NET_CONTENT) {
    reason_of(r, why, sizeof why);
    if (!w->fed_failing)
      CAIRN_LOGW(MOD, "GET " PATH_FEDERATED " failed: %s", why);
    w->fed_failing = 1;
    return;
  }
  if (cairn_msg_federated_resp_decode(r->body, r->body_len, &m) ||
      apply_federated(w, &m)) {
    if (!w->fed_failing)
      CAIRN_LOGW(MOD, "cannot use the federated bundles from the server: %s",
                 cairn_errdetail());
    w->fed_failing = 1;
    cairn_msg_federated_resp_clear(&m);
    return;
  }
  if (!w->fed_synced || w->fed_applied != w->fed_asked)
    CAIRN_LOGI(MOD, "federated bundles: %zu for this node's entries",
               m.n_bundles);
  cairn_msg_federated_resp_clear(&m);
  w->fed_failing = 0;
  w->fed_synced = 1;
  w->fed_applied = w->fed_asked;
  if (w->fed_again) fetch_federated(w);
}

static void fetch_federated(struct ea_wl *w)
{
  if (!w->client || w->freeing) return;
  if (w->fed_fetching) {
    w->fed_again = 1;
    return;
  }
  w->fed_again = 0;
  w->fed_asked = w->fed_seen;
  if (cairn_net_client_request(w->client, CAIRN_NET_GET, PATH_FEDERATED, NULL,
                               0, on_federated, w) != CAIRN_OK) {
    CAIRN_LOGE(MOD, "cannot ask for the federated bundles: %s",
               cairn_errdetail());
    return;
  }
  w->fed_fetching = 1;
}

static int apply_entries(struct ea_wl *w, const struct cairn_msg_entries_resp *m)
{
  int r;

  if (m->full) {
    if ((r = wl_cache_entries_replace(w->cache, m->entries, m->n_entries)))
      return r;
    w->st.full_syncs++;
  } else {
    for (size_t i = 0; i < m->n_removed; i++) {
      refusal_drop(w, m->removed[i]);
      if ((r = wl_cache_entry_remove(w->cache, m->removed[i])) &&
          r != CAIRN_ERR_NOT_FOUND)
        return r;
    }
    for (size_t i = 0; i < m->n_entries; i++) {
      refusal_drop(w, m->entries[i].id);
      if ((r = wl_cache_entry_put(w->cache, &m->entries[i])))
        return cairn_seterr(r, "entry %s: %s", m->entries[i].id,
                            cairn_errdetail());
    }
  }
  return CAIRN_OK;
}

static void on_entries(int err, const struct cairn_net_response *r, void *arg)
{
  struct ea_wl *w = arg;
  struct cairn_msg_entries_resp m;
  char why[REASON_MAX + 16];

  w->fetching = 0;
  if (err) {
    CAIRN_LOGD(MOD, "GET " PATH_ENTRIES " failed: %s", cairn_strerror(err));
    fetch_retry(w);
    return;
  }
  if (r->code != CAIRN_NET_CONTENT) {
    reason_of(r, why, sizeof why);
    if (!w->fetch_failing)
      CAIRN_LOGW(MOD, "GET " PATH_ENTRIES " failed: %s; retrying", why);
    w->fetch_failing = 1;
    fetch_retry(w);
    return;
  }
  memset(&m, 0, sizeof m);
  if (cairn_msg_entries_resp_decode(r->body, r->body_len, &m) ||
      apply_entries(w, &m)) {
    if (!w->fetch_failing)
      CAIRN_LOGW(MOD, "cannot use the entries from the server: %s; "
                 "fetching them all again", cairn_errdetail());
    w->fetch_failing = 1;
    cairn_msg_entries_resp_clear(&m);
    w->rev = 0;  /* a full set next time */
    w->synced = 0;
    fetch_retry(w);
    return;
  }
  w->st.entry_fetches++;
  w->fetch_failing = 0;
  w->fetch_backoff = w->o.backoff_min_ms;
  if (!w->synced || m.n_entries || m.n_removed)
    CAIRN_LOGI(MOD, "registration entries at revision %llu: %zu for this "
               "node (%s%zu changed, %zu removed)",
               (unsigned long long)m.revision,
               wl_cache_entry_count(w->cache), m.full ? "full set, " : "",
               m.n_entries, m.n_removed);
  w->rev = m.revision;
  w->synced = 1;
  /* An entry's federates_with may have changed. */
  if (m.full || m.n_entries || m.n_removed || !w->fed_synced)
    fetch_federated(w);
  cairn_msg_entries_resp_clear(&m);
  if (w->rev_seen > w->rev) {
    /* Announced while this fetch was in flight: once more, not forever
     * (a server whose revision went backwards never reaches rev_seen). */
    w->rev_seen = 0;
    fetch_entries(w);
  }
  mint_scan(w);
  /* Not observed: keep polling (a retry may have taken the timer). */
  if (!w->obs && !w->fetching && w->client && !w->freeing)
    uv_timer_start(&w->fetch_timer, on_poll_timer, POLL_MS, 0);
}

static void fetch_entries(struct ea_wl *w)
{
  char path[64];

  uv_timer_stop(&w->fetch_timer);
  if (!w->client || w->fetching || w->freeing) return;
  snprintf(path, sizeof path, PATH_ENTRIES "?since=%llu",
           (unsigned long long)w->rev);
  if (cairn_net_client_request(w->client, CAIRN_NET_GET, path, NULL, 0,
                               on_entries, w) != CAIRN_OK) {
    CAIRN_LOGE(MOD, "cannot ask for the entries: %s", cairn_errdetail());
    fetch_retry(w);
    return;
  }
  w->fetching = 1;
}

static void observe_revision(struct ea_wl *w);

static void on_poll_timer(uv_timer_t *t)
{
  struct ea_wl *w = t->data;

  observe_revision(w);
}

static void on_revision(int err, const struct cairn_net_response *r,
                        void *arg)
{
  struct ea_wl *w = arg;
  struct cairn_msg_revision_resp m;

  if (err || !r->observing) w->obs = NULL;
  if (err) {
    /* A failed session is replaced by the agent (on_session(NULL) stops
     * this timer); a lone failed observation is retried by the poll. */
    if (w->client && !w->freeing)
      uv_timer_start(&w->fetch_timer, on_poll_timer, w->fetch_backoff, 0);
    w->fetch_backoff = next_backoff(w->fetch_backoff, &w->o);
    return;
  }
  if (r->code != CAIRN_NET_CONTENT ||
      cairn_msg_revision_resp_decode(r->body, r->body_len, &m)) {
    char why[REASON_MAX + 16];
    if (r->code == CAIRN_NET_CONTENT)
      snprintf(why, sizeof why, "malformed: %s", cairn_errdetail());
    else
      reason_of(r, why, sizeof why);
    CAIRN_LOGW(MOD, "GET " PATH_REVISION ": %s", why);
  } else {
    if (m.entries > w->rev_seen) w->rev_seen = m.entries;
    if (!w->synced || m.entries != w->rev) fetch_entries(w);
    w->fed_seen = m.federated;
    if (w->synced && (!w->fed_synced || m.federated != w->fed_applied))
      fetch_federated(w);
  }
  if (!w->obs && w->client && !w->freeing) {
    /* Not (or no longer) observed: poll instead. */
    CAIRN_LOGD(MOD, PATH_REVISION " is not observed; polling");
    uv_timer_start(&w->fetch_timer, on_poll_timer, POLL_MS, 0);
  }
}

static void observe_revision(struct ea_wl *w)
{
  if (!w->client || w->obs || w->freeing) return;
  if (cairn_net_client_observe(w->client, PATH_REVISION, on_revision, w,
                               &w->obs) != CAIRN_OK) {
    CAIRN_LOGE(MOD, "cannot observe " PATH_REVISION ": %s",
               cairn_errdetail());
    w->obs = NULL;
    fetch_entries(w); /* at least once, then by the poll timer */
    uv_timer_start(&w->fetch_timer, on_poll_timer, POLL_MS, 0);
  }
}

/* ---- hooks ------------------------------------------------------------------ */

void ea_wl_on_session(struct cairn_net_client *c, void *arg)
{
  struct ea_wl *w = arg;

  if (!w || w->freeing) return;
  if (!c) {
    /* The client goes with everything pending on it. */
    if (w->obs) cairn_net_observation_cancel(w->obs);
    w->obs = NULL;
    w->client = NULL;
    w->fetching = 0;
    w->minting = 0;
    w->fed_fetching = 0;
    w->fed_again = 0;
    w->fed_synced = 0; /* asked again on the next session */
    batch_clear(w);
    jwt_fail_all(w, "the session with the server ended");
    uv_timer_stop(&w->fetch_timer);
    uv_timer_stop(&w->mint_timer);
    return;
  }
  w->client = c;
  w->fetch_backoff = w->mint_backoff = w->o.backoff_min_ms;
  observe_revision(w);
  mint_scan(w);
}

void ea_wl_on_bundle(const struct cairn_bundle *b, void *arg)
{
  struct ea_wl *w = arg;

  if (!w || !b || w->freeing) return;
  if (wl_cache_set_bundle(w->cache, b) != CAIRN_OK) {
    CAIRN_LOGE(MOD, "cannot give the trust bundle to the Workload API: %s",
               cairn_errdetail());
    return;
  }
  /* SVIDs wait for a bundle to verify against. */
  if (w->client) mint_scan(w);
}

/* ---- JWT-SVIDs ------------------------------------------------------------ */

static void on_jwt(int err, const struct cairn_net_response *r, void *arg)
{
  struct jwt_op *op = arg;
  struct ea_wl *w = op->w;
  struct cairn_msg_jwt_resp m;
  char why[REASON_MAX + 48];

  if (op->prev) op->prev->next = op->next;
  else w->jwts = op->next;
  if (op->next) op->next->prev = op->prev;
  memset(&m, 0, sizeof m);
  if (err) {
    snprintf(why, sizeof why, "the server did not answer: %s",
             cairn_strerror(err));
  } else if (r->code != CAIRN_NET_CREATED) {
    char rs[REASON_MAX + 16];
    reason_of(r, rs, sizeof rs);
    snprintf(why, sizeof why, "the server refused: %s", rs);
  } else if (cairn_msg_jwt_resp_decode(r->body, r->body_len, &m)) {
    snprintf(why, sizeof why, "malformed answer from the server");
  } else {
    w->st.jwt_minted++;
    wl_jwt_req_done(op->req, m.token, NULL);
    cairn_msg_jwt_resp_clear(&m);
    free(op);
    return;
  }
  cairn_msg_jwt_resp_clear(&m);
  CAIRN_LOGW(MOD, "JWT-SVID: %s", why);
  w->st.jwt_failed++;
  wl_jwt_req_done(op->req, NULL, why);
  free(op);
}

void ea_wl_mint_jwt(struct wl_jwt_req *req, const char *entry_id,
                    const char *spiffe_id, const char *const *aud,
                    size_t naud, void *arg)
{
  struct ea_wl *w = arg;
  struct cairn_msg_jwt_req m;
  struct jwt_op *op = NULL;
  uint8_t *body = NULL;
  size_t body_len = 0;

  (void)spiffe_id;
  if (!w || w->freeing) {
    if (w) w->st.jwt_failed++;
    wl_jwt_req_done(req, NULL, "the agent is shutting down");
    return;
  }
  if (!w->client) {
    w->st.jwt_failed++;
    wl_jwt_req_done(req, NULL, "the agent's server is unreachable");
    return;
  }
  memset(&m, 0, sizeof m);
  m.entry_id = (char *)entry_id;
  m.audience = (char **)aud;
  m.n_audience = naud;
  if (!(op = calloc(1, sizeof *op)) ||
      cairn_msg_jwt_req_encode(&m, &body, &body_len) ||
      cairn_net_client_request(w->client, CAIRN_NET_POST, PATH_JWT, body,
                               body_len, on_jwt, op)) {
    CAIRN_LOGE(MOD, "cannot ask for a JWT-SVID: %s", cairn_errdetail());
    free(op);
    free(body);
    w->st.jwt_failed++;
    wl_jwt_req_done(req, NULL, "the agent cannot reach its server");
    return;
  }
  free(body);
  op->w = w;
  op->req = req;
  op->next = w->jwts;
  if (w->jwts) w->jwts->prev = op;
  w->jwts = op;
}
