/* shared/src/authority_int.h - private parts of the authority (authority.h)
 * shared by authority.c (lifecycle, server SVID, bundle, attestation,
 * renewal) and authority_entries.c (authorisation, entries, SVIDs, JWTs). */
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

#endif
