/* edge/agent/wl/wl_cache.h - cairn-agent's in-memory workload cache: the
 * registration entries of the node, the current X509-SVID of each entry,
 * the own trust bundle and the federated bundles, and JWT-SVIDs per
 * (SPIFFE ID, audience set) until their half life.
 *
 * Matching. A caller whose workload attestation produced the selector set
 * S is entitled to every entry whose selectors are all in S (the
 * authorisation rule CAIRN_MATCH_SUBSET of store.h). Matched entries are
 * reported in entry ID order (byte order); the first one with an SVID is
 * the caller's default identity.
 *
 * Subscriptions. A subscriber registers its selector set and a callback.
 * Whenever something it can see changes (an entry it matches is added,
 * changed or removed, one of their SVIDs is set, cleared or expires, the
 * own bundle's content changes, a federated bundle one of its entries
 * federates with changes), it is marked; marked subscribers are called
 * once, coalesced, from a zero-delay timer on the loop, never from inside
 * a cache call. A callback may read the cache, change it, subscribe and
 * unsubscribe (itself included).
 *
 * SVID expiry. An SVID is dropped (its key zeroised) when its notAfter
 * passes, and its subscribers are told, so workloads never receive an
 * expired SVID; renewing in time is the agent's job (wl_cache_foreach()
 * shows each SVID's validity).
 *
 * Memory is bounded by caps fixed at creation (struct wl_cache_opts):
 * entries (default 10,000; each with at most CAIRN_MSG_SELECTORS_MAX
 * selectors, 64 DNS names, 64 federated trust domains, a 1 KiB hint), one
 * SVID per entry (chain of at most CAIRN_CERT_CHAIN_MAX certificates of at
 * most CAIRN_CERT_MAX bytes, typically ~1.5 KiB with its PKCS#8 key),
 * federated bundles (default 64, at most CAIRN_BUNDLE_JSON_MAX each),
 * cached JWT-SVIDs (default 4,096 of at most CAIRN_JWT_MAX bytes; expired
 * ones are purged first, then the least recently used), subscribers
 * (default 65,536). A typical entry with its SVID takes about 2.5 KiB, so
 * 1,000 identities fit in ~2.5 MiB. Private keys are held as PKCS#8 DER
 * and zeroised whenever they are dropped or replaced, and so are cached
 * JWT-SVIDs.
 *
 * Threads: a cache and everything obtained from it belong to the thread
 * running its loop.
 */
#ifndef CAIRN_EDGE_WL_CACHE_H
#define CAIRN_EDGE_WL_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "cairn/store.h"   /* struct cairn_selector */

struct cairn_msg_entry;
struct cairn_bundle;
struct cairn_cert_list;
struct cairn_key;

/* ---- selector sets -------------------------------------------------- */

/* A set of selectors owning its strings. Sorted by type, then value (byte
 * order) and free of duplicates after wl_selectors_sort(). */
struct wl_selectors {
  struct cairn_selector *v;
  size_t n;
  size_t cap;
};

#define WL_SELECTORS_MAX 4096         /* selectors of one caller */
#define WL_SELECTOR_TYPE_MAX 127
#define WL_SELECTOR_VALUE_MAX 4096    /* a unix:path can be long */

/* Appends a copy of type/value (validated like store.h's selectors: type
 * 1..127 bytes without ':' or control characters, value 1..4096 bytes
 * without control characters). CAIRN_ERR_INVAL / CAIRN_ERR_TOO_BIG. */
int wl_selectors_add(struct wl_selectors *s, const char *type,
                     const char *value);
/* The same with a printf-formatted value. */
int wl_selectors_addf(struct wl_selectors *s, const char *type,
                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sorts and removes duplicates. */
void wl_selectors_sort(struct wl_selectors *s);
/* 1 when the sorted set has type:value. */
int wl_selectors_has(const struct wl_selectors *s, const char *type,
                     const char *value);
/* Frees the strings and the array; the set is empty and reusable. */
void wl_selectors_clear(struct wl_selectors *s);

/* 1 when every selector of a (na, sorted) is in b (nb, sorted): the
 * entry-matches-caller rule. */
int wl_selectors_subset(const struct cairn_selector *a, size_t na,
                        const struct cairn_selector *b, size_t nb);

/* ---- the cache -------------------------------------------------------- */

struct wl_cache;
struct wl_sub;

#define WL_CACHE_ENTRIES_DEFAULT 10000
#define WL_CACHE_FEDERATED_DEFAULT 64
#define WL_CACHE_JWT_DEFAULT 4096
#define WL_CACHE_SUBS_DEFAULT 65536

struct wl_cache_opts {
  const char *trust_domain;   /* required: the agent's bare trust domain */
  size_t max_entries;         /* 0 = WL_CACHE_ENTRIES_DEFAULT */
  size_t max_federated;       /* 0 = WL_CACHE_FEDERATED_DEFAULT */
  size_t max_jwt;             /* 0 = WL_CACHE_JWT_DEFAULT */
  size_t max_subscribers;     /* 0 = WL_CACHE_SUBS_DEFAULT */
};

void wl_cache_opts_init(struct wl_cache_opts *o);

/* Creates an empty cache on loop (not owned). *out: wl_cache_free(). */
int wl_cache_new(uv_loop_t *loop, const struct wl_cache_opts *opts,
                 struct wl_cache **out);

/* Frees everything (keys zeroised); remaining subscriptions die with it
 * and must not be used any more. Not from inside a notify callback. The memory of the two timer handles is
 * released when the loop has run the close callbacks. NULL-safe. */
void wl_cache_free(struct wl_cache *c);

/* The trust domain the cache was created for. */
const char *wl_cache_td(const struct wl_cache *c);

/* ---- entries ---- */

/* A registration entry as held by the cache (read-only; owned by the
 * cache; valid until that entry is next put or removed). Selectors are
 * sorted. */
struct wl_entry {
  char *id;
  char *spiffe_id;
  char *parent_id;
  struct cairn_selector *selectors;
  size_t n_selectors;
  int64_t x509_svid_ttl;     /* seconds, 0 = server default */
  int64_t jwt_svid_ttl;
  char **dns_names;
  size_t n_dns_names;
  char **federates_with;     /* bare trust domain names */
  size_t n_federates_with;
  char *hint;                /* "" when none */
  int admin;
  int downstream;
  int64_t revision;
  int64_t expires_at;        /* 0 = never */
};

/* Inserts or replaces (by id) an entry received from the server. The
 * SPIFFE ID must belong to the cache's trust domain. The entry's SVID is
 * kept when the SPIFFE ID and DNS names are unchanged, and dropped
 * otherwise (the old certificate no longer describes the entry).
 * Subscribers are told only when something but the revision changed.
 * CAIRN_ERR_INVAL (bad field, detail names it), CAIRN_ERR_TOO_BIG
 * (max_entries reached). */
int wl_cache_entry_put(struct wl_cache *c, const struct cairn_msg_entry *e);

/* Removes an entry (and its SVID); CAIRN_ERR_NOT_FOUND when absent. Cached
 * JWT-SVIDs of its SPIFFE ID go too when no other entry has that ID. */
int wl_cache_entry_remove(struct wl_cache *c, const char *id);

/* Replaces the whole entry set by entries[0..n) (a full sync): entries
 * not in it are removed, the others put. All or nothing: on error the
 * cache is unchanged. */
int wl_cache_entries_replace(struct wl_cache *c,
                             const struct cairn_msg_entry *entries,
                             size_t n);

size_t wl_cache_entry_count(const struct wl_cache *c);
/* NULL when absent. */
const struct wl_entry *wl_cache_entry_get(const struct wl_cache *c,
                                          const char *id);

/* ---- X509-SVIDs ---- */

/* Validity of an entry's SVID. */
struct wl_svid_info {
  int present;               /* 0: no SVID (never issued, dropped, expired) */
  time_t not_before;
  time_t not_after;
  char serial[41];           /* lower-case hex */
  uint64_t generation;       /* grows with every SVID set for the entry */
};

/* Sets the SVID of entry id: chain (leaf first, then intermediates) and
 * the leaf's private key; both are copied (the key as PKCS#8 DER). The
 * leaf must carry the entry's SPIFFE ID, match the key and be valid now;
 * when the own bundle is set the chain must verify against it
 * (cairn_cert_verify()), so workloads always receive SVIDs that verify
 * against the bundle they receive. CAIRN_ERR_NOT_FOUND (no entry),
 * CAIRN_ERR_POLICY (wrong ID, key mismatch), CAIRN_ERR_EXPIRED and the
 * verification errors. */
int wl_cache_svid_set(struct wl_cache *c, const char *id,
                      const struct cairn_cert_list *chain,
                      const struct cairn_key *key);
/* Drops an entry's SVID (zeroising the key). CAIRN_ERR_NOT_FOUND when
 * the entry is absent; no-op without an SVID. */
int wl_cache_svid_clear(struct wl_cache *c, const char *id);
/* CAIRN_ERR_NOT_FOUND when the entry is absent. */
int wl_cache_svid_info(const struct wl_cache *c, const char *id,
                       struct wl_svid_info *out);

/* Calls fn for every entry in ID order with its SVID state; stops when fn
 * returns non-zero. fn must not change the cache. */
typedef int (*wl_entry_fn)(const struct wl_entry *e,
                           const struct wl_svid_info *svid, void *arg);
void wl_cache_foreach(const struct wl_cache *c, wl_entry_fn fn, void *arg);

/* ---- bundles ---- */

/* Sets the own trust domain's bundle (copied; its trust domain must be
 * the cache's). Subscribers are told when the authorities or JWT keys
 * changed, not for a new sequence number alone. */
int wl_cache_set_bundle(struct wl_cache *c, const struct cairn_bundle *b);
/* The own bundle, NULL before the first wl_cache_set_bundle(). */
const struct cairn_bundle *wl_cache_bundle(const struct wl_cache *c);

/* Sets or replaces the bundle of a foreign trust domain (copied).
 * CAIRN_ERR_INVAL for the own trust domain, CAIRN_ERR_TOO_BIG past
 * max_federated. */
int wl_cache_set_federated(struct wl_cache *c, const struct cairn_bundle *b);
/* CAIRN_ERR_NOT_FOUND when absent. */
int wl_cache_remove_federated(struct wl_cache *c, const char *td);
size_t wl_cache_federated_count(const struct wl_cache *c);

/* ---- JWT-SVIDs ---- */

/* The longest audience (bytes) a JWT-SVID request may name. */
#define WL_AUDIENCE_LEN_MAX 1024

/* The cached JWT-SVID of spiffe_id for exactly this audience set (order
 * and duplicates do not matter), or NULL when there is none that is still
 * before its half life at now (0 = cairn_now()). The string belongs to the
 * cache: copy it before changing the cache. */
const char *wl_cache_jwt_get(struct wl_cache *c, const char *spiffe_id,
                             const char *const *aud, size_t naud, time_t now);

/* Caches token (checked: a syntactically valid JWT-SVID whose sub is
 * spiffe_id, whose aud holds every requested audience, and whose exp is
 * after now) until its half life, (iat or now) + (exp - iat) / 2. The
 * least recently used token goes when max_jwt is reached.
 * CAIRN_ERR_POLICY for a token that does not fit the request,
 * CAIRN_ERR_EXPIRED. */
int wl_cache_jwt_put(struct wl_cache *c, const char *spiffe_id,
                     const char *const *aud, size_t naud, const char *token,
                     time_t now);
size_t wl_cache_jwt_count(const struct wl_cache *c);

/* ---- what a caller sees ---- */

/* One matched entry. chain/key are NULL (0 length) when it has no SVID. */
struct wl_ident {
  const struct wl_entry *entry;
  const uint8_t *chain_der;   /* concatenated DER, leaf first */
  size_t chain_len;
  const uint8_t *key_der;     /* PKCS#8 */
  size_t key_len;
  time_t not_after;
};

/* A bundle as the Workload API sends it. */
struct wl_bundle_view {
  const char *td;             /* bare name */
  const char *td_id;          /* "spiffe://td", the Workload API map key */
  const struct cairn_bundle *bundle;
  const uint8_t *x509_der;    /* concatenated DER of the authorities */
  size_t x509_len;
  const char *jwks;           /* standard JWKS of the JWT keys */
  size_t jwks_len;
};

struct wl_view {
  struct wl_ident *idents;    /* matched entries, ID order */
  size_t n_idents;
  size_t n_svids;             /* matched entries holding an SVID */
  int has_bundle;             /* own bundle set */
  struct wl_bundle_view own;  /* valid when has_bundle */
  struct wl_bundle_view *federated;  /* the federated bundles the matched
                                        entries federate with and that the
                                        cache holds, by trust domain */
  size_t n_federated;
};

/* Fills *v with what a caller with the sorted selector set sel sees. The
 * pointers inside refer to cache memory: use them at once, before the
 * cache is changed, then wl_view_clear(). */
int wl_cache_view(const struct wl_cache *c, const struct cairn_selector *sel,
                  size_t n, struct wl_view *v);
void wl_view_clear(struct wl_view *v);

/* ---- subscriptions ---- */

typedef void (*wl_notify_fn)(struct wl_sub *sub, void *arg);

/* Subscribes a caller with selectors sel[0..n) (copied, sorted here).
 * CAIRN_ERR_TOO_BIG past max_subscribers. *out: wl_cache_unsubscribe(). */
int wl_cache_subscribe(struct wl_cache *c, const struct cairn_selector *sel,
                       size_t n, wl_notify_fn fn, void *arg,
                       struct wl_sub **out);
/* Ends a subscription; safe from any notify callback. NULL-safe. */
void wl_cache_unsubscribe(struct wl_sub *s);
/* The subscription's (sorted) selectors. */
const struct cairn_selector *wl_sub_selectors(const struct wl_sub *s,
                                              size_t *n);

/* Counters for health output and tests. */
struct wl_cache_stats {
  size_t entries;
  size_t svids;
  size_t federated;
  size_t jwts;
  size_t subscribers;
  uint64_t notifications;     /* subscriber callbacks run */
  uint64_t flushes;           /* coalesced notification rounds */
  uint64_t svids_expired;     /* SVIDs dropped at notAfter */
  uint64_t jwt_hits;
  uint64_t jwt_misses;
  uint64_t jwt_evicted;       /* dropped for room (not for age) */
};
void wl_cache_get_stats(const struct wl_cache *c, struct wl_cache_stats *st);

#endif
