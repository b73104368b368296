/* shared/src/authority_int.h - private parts of the authority (authority.h)
 * shared by authority.c (lifecycle, server SVID, bundle, attestation,
 * renewal), authority_entries.c (authorisation, entries, SVIDs, JWTs) and
 * authority_downstream.c (downstream servers: their grant and scope, the
 * intermediate CA, published JWT keys). */
#ifndef CAIRN_AUTHORITY_INT_H
#define CAIRN_AUTHORITY_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "cairn/authority.h"
#include "cairn/id.h"
#include "cairn/net.h"
#include "cairn/store.h"

#define CAIRN__AUTH_MOD "authority"

struct cairn_authority {
  uv_loop_t *loop;
  struct cairn_store *st;
  struct cairn_ca *ca;
  struct cairn_net_server *srv;
  uv_timer_t *timer;            /* heap: freed by its close callback */

  char td[CAIRN_TD_MAX + 1];
  char server_id[CAIRN_ID_MAX + 1];
  int64_t x509_ttl, jwt_ttl, node_ttl, server_ttl;
  int64_t ds_ca_ttl;            /* 0: the active X.509 CA's lifetime */
  enum cairn_key_type key_type;
  int join_token;
  char *owner;
  unsigned poll_ms;

  /* The server SVID. */
  time_t svid_renew_at;
  time_t svid_retry_at;         /* after a failed renewal */
  char svid_ca_id[129];         /* the X.509 CA that signed it */

  /* The bundle the endpoint verifies with, and caches built from it. */
  uint64_t bundle_seq;
  int bundle_set;
  char *bundle_json;            /* SPIFFE bundle JSON of bundle_seq */
  size_t bundle_json_len;
  uint8_t *bundle_body;         /* encoded GET /v1/bundle answer */
  size_t bundle_body_len;

  int64_t entries_rev;
  int entries_rev_known;

  /* Fingerprint of the federated bundles (cairn_store_bundle_fingerprint()
   * without our own trust domain) as last seen by the poll. */
  uint64_t fed_fp;
  int fed_fp_known;

  /* Per node: the last /v1/entries answer (hash table + LRU list). */
  struct cairn__auth_seen **seen_tab;
  struct cairn__auth_seen *seen_head, *seen_tail;  /* most recent first */
  size_t seen_bytes;

  struct cairn_authority_stats stats;
};

#define CAIRN__AUTH_SEEN_BUCKETS 4096

/* Frees the per-node records of /v1/entries answers. */
void cairn__auth_seen_free_all(struct cairn_authority *a);

/* See authority.c. */
int cairn__auth_sign_code(int r);
/* Brings the endpoint's bundle and the cached answers (bundle_json,
 * bundle_body) to the CA manager's current bundle; when its sequence
 * moved, also notifies the observers of /v1/bundle and /v1/revision.
 * *changed (may be NULL): 1 when it moved. */
int cairn__auth_sync_bundle(struct cairn_authority *a, int *changed);
struct cairn_msg_chain;
struct cairn_cert_list;
int cairn__auth_chain_view(const struct cairn_cert_list *l,
                           struct cairn_msg_chain *out);
const char *cairn__auth_printable(const char *s, char *out, size_t outlen);

/* The entries authorised for one node: the store's list chunks (owned)
 * and an index sorted by entry_id without duplicates. */
struct cairn__authset {
  struct {
    struct cairn_entry *v;
    size_t n;
  } *chunks;
  size_t n_chunks;
  const struct cairn_entry **idx;
  size_t n;
  size_t n_level1;              /* entries whose parent is the node */
};

int cairn__authset_load(struct cairn_authority *a, const char *node_id,
                        struct cairn__authset *s);
const struct cairn_entry *cairn__authset_find(const struct cairn__authset *s,
                                              const char *entry_id);
void cairn__authset_clear(struct cairn__authset *s);
/* cairn__authset_load() inside one read snapshot, with the entries
 * revision of that snapshot (*rev may be NULL). */
int cairn__authset_snapshot(struct cairn_authority *a, const char *node_id,
                            struct cairn__authset *s, int64_t *rev);

/* The downstream grant of a node (authority_downstream.c): the entries of
 * its authorised set marked downstream. */
struct cairn__auth_ds {
  const struct cairn_entry **v; /* every downstream entry, expired ones
                                   too (heap array of pointers into the
                                   set: valid while the set lives) */
  size_t n;
  /* The first unexpired one (by entry ID), NULL when there is none: the
   * node may call /v1/downstream/... only when this is set. */
  const struct cairn_entry *active;
  /* 1 when some downstream entry has no scope: the node is a downstream
   * without a path limit. Otherwise (n > 0) it may only mint IDs inside
   * one of the entries' scopes. */
  int unscoped;
};

/* Collects the downstream entries of s at time now. CAIRN_ERR_NOMEM. */
int cairn__auth_ds_load(const struct cairn__authset *s, time_t now,
                        struct cairn__auth_ds *d);
void cairn__auth_ds_clear(struct cairn__auth_ds *d);
/* The entries the peer of rq may use (cairn__authset_snapshot()) and its
 * downstream grant at now, into *s and *d (the caller clears both).
 * Returns 1; on failure answers 5.00 and returns 0 with both cleared. */
int cairn__auth_grant_load(struct cairn_authority *a,
                           struct cairn_net_exchange *x,
                           const struct cairn_net_request *rq, time_t now,
                           struct cairn__authset *s,
                           struct cairn__auth_ds *d);
/* 1 when a node with grant d may get an SVID for spiffe_id: it has no
 * downstream entry at all (an ordinary node; its entries are its own
 * authorisation), or one without a scope, or spiffe_id is inside the
 * scope of one of them (cairn_scope_match()). A malformed stored scope
 * matches nothing. Expired downstream entries still limit: a downstream
 * does not lose its scope when its entry expires. */
int cairn__auth_ds_allows(const struct cairn__auth_ds *d,
                          const char *spiffe_id);
/* The refusal text of an out-of-scope entry ID. */
#define CAIRN__AUTH_OUT_OF_SCOPE "is outside the downstream scope of this node"

/* Answers a refusal (4.xx/5.xx) with a one-line reason, counts 4.xx in
 * the stats and logs it at WARN (4.xx) or ERROR (5.xx) with the peer. */
void cairn__auth_refuse(struct cairn_authority *a,
                        struct cairn_net_exchange *x,
                        const struct cairn_net_request *rq, int code,
                        const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Maps a decoder's result to 4.00 (PARSE), 4.13 (TOO_BIG) or 5.00 and
 * answers with its detail. */
void cairn__auth_decode_failed(struct cairn_authority *a,
                               struct cairn_net_exchange *x,
                               const struct cairn_net_request *rq, int r);

/* Checks that the peer is a node: authenticated, in the node table, not
 * banned. Returns 1 when it is (with *node, if non-NULL, its record:
 * cairn_node_free()); otherwise answers (4.01/4.03/5.00) and returns 0. */
int cairn__auth_need_node(struct cairn_authority *a,
                          struct cairn_net_exchange *x,
                          const struct cairn_net_request *rq,
                          struct cairn_node **node);

/* Answers 5.03 and returns 0 when no X.509 CA can sign now (x509 = 1) or
 * no JWT key (x509 = 0); returns 1 otherwise. */
int cairn__auth_need_ca(struct cairn_authority *a,
                        struct cairn_net_exchange *x,
                        const struct cairn_net_request *rq, int x509);

/* Handlers of authority_entries.c. */
void cairn__auth_h_entries(struct cairn_net_exchange *x,
                           const struct cairn_net_request *rq, void *arg);
void cairn__auth_h_svids(struct cairn_net_exchange *x,
                         const struct cairn_net_request *rq, void *arg);
void cairn__auth_h_jwt(struct cairn_net_exchange *x,
                       const struct cairn_net_request *rq, void *arg);

/* Handlers of authority_downstream.c. */
void cairn__auth_h_ds_ca(struct cairn_net_exchange *x,
                         const struct cairn_net_request *rq, void *arg);
/* authority_federated.c: the fingerprint /v1/revision carries; the poll's
 * check, which notifies /v1/revision's observers when it moved; and GET
 * /v1/federated. */
int cairn__auth_fed_fingerprint(struct cairn_authority *a, uint64_t *fp);
void cairn__auth_fed_changed(struct cairn_authority *a);
void cairn__auth_h_federated(struct cairn_net_exchange *x,
                             const struct cairn_net_request *rq, void *arg);
/* Tells the observers of path (a warning when that fails). */
void cairn__auth_notify(struct cairn_authority *a, const char *path);

void cairn__auth_h_ds_jwt_key(struct cairn_net_exchange *x,
                              const struct cairn_net_request *rq, void *arg);

#endif
