/* cairn/authority.h - the server side of the tier protocol.
 *
 * An authority serves the CoAP resources of docs/protocol.md that agents
 * and downstream servers call on a Cairn server: node attestation
 * (POST /v1/attest), node SVID renewal (POST /v1/node/renew), the trust
 * bundle (GET /v1/bundle, observable), the revision counters (GET
 * /v1/revision, observable), the entries authorised for a node (GET
 * /v1/entries), workload X509-SVIDs (POST /v1/svids), JWT-SVIDs (POST
 * /v1/jwt), and for downstream servers an intermediate CA (POST
 * /v1/downstream/ca) and the publication of their JWT keys (POST
 * /v1/downstream/jwt-key). It owns a cairn_net_server (net.h) on the
 * caller's libuv loop and works on the server's store and CA manager,
 * synchronously on the loop thread (both are single-threaded objects, as
 * for admin.h).
 *
 * Server identity. The authority mints its own X509-SVID,
 * spiffe://<td>/spire/server, with a fresh key from the CA manager. It is
 * renewed (new key) at half its life and whenever another X.509 CA becomes
 * active, and handed to the endpoint with cairn_net_server_set_credentials()
 * (new DTLS sessions use it; established ones keep theirs).
 *
 * Trust bundle. Peers are verified against the CA manager's bundle of the
 * trust domain. The authority polls the bundle sequence every poll_ms and
 * also reacts at once to cairn_authority_bundle_changed(): it then gives the
 * new bundle to the endpoint and notifies the observers of /v1/bundle and
 * /v1/revision.
 *
 * Entries. Registration entries are written by other code on the same
 * loop (the admin API). The authority polls the store's entries revision
 * every poll_ms (one small query) and notifies /v1/revision observers when
 * it moved; cairn_authority_entries_changed() does the same at once.
 *
 * Peers. Every route except /v1/attest needs a node: a peer whose verified
 * SPIFFE ID is in the store's node table and not banned. The table is read
 * on every request (and for every Observe notification), so an evicted
 * (cairn_store_node_delete) or banned node fails its next call with 4.03.
 *
 * Downstream servers. A node is a downstream when an unexpired entry of
 * its authorised set (see cairn_authority_entries()) has downstream = 1;
 * only then may it call /v1/downstream/... (4.03 "node <id> has no
 * downstream entry" otherwise). When no downstream entry of the node is
 * without a scope, the node is scoped: its intermediate CA carries a URI
 * NameConstraints permitting only the trust domain, and POST /v1/svids
 * items and POST /v1/jwt for entries whose SPIFFE ID lies outside every
 * scope (cairn_scope_match(), id.h) are refused (item error / 4.03
 * "entry <id> is outside the downstream scope of this node"). The
 * intermediate lives opts.downstream_ca_ttl, capped by the CA manager at
 * the active CA's notAfter. A published JWT key goes into the bundle
 * (cairn_ca_add_jwt_key()), whose observers are notified at once.
 *
 * Threads: one thread (the loop's). Logging: module "authority"; join
 * tokens appear only as their first 4 characters.
 */
#ifndef CAIRN_AUTHORITY_H
#define CAIRN_AUTHORITY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "cairn/key.h"

struct cairn_store;
struct cairn_ca;
struct cairn_msg_entries_resp;

#define CAIRN_AUTHORITY_POLL_MS_DEFAULT 1000
/* Request body cap of the endpoint: POST /v1/svids may carry 1 MiB; every
 * other resource refuses bodies over 64 KiB itself (4.13). */
#define CAIRN_AUTHORITY_BODY_MAX (1024u * 1024)
/* Entry owner of the alias entries made at attestation (see below). */
#define CAIRN_AUTHORITY_OWNER_DEFAULT "cloud"
/* Selector type of join-token alias entries, as SPIRE. */
#define CAIRN_AUTHORITY_ALIAS_SELECTOR "spiffe_id"
/* Memory for the per-node record of the last /v1/entries answer. */
#define CAIRN_AUTHORITY_SEEN_MAX (64u * 1024 * 1024)
/* POST /v1/downstream/jwt-key refuses a new kid (4.03) once the bundle
 * holds this many JWT keys, so downstreams cannot grow it without bound
 * (every node fetches it). */
#define CAIRN_AUTHORITY_JWT_KEYS_MAX 1024

struct cairn_authority_opts {
  /* Bare trust domain; NULL = the CA manager's. Another one than the
   * CA's is CAIRN_ERR_INVAL. */
  const char *trust_domain;
  const char *bind_addr;          /* IPv4/IPv6 literal; NULL = "0.0.0.0" */
  uint16_t port;                  /* 0 = ephemeral (cairn_authority_port) */
  /* TTLs in seconds; 0 = the defaults named. */
  int64_t default_x509_svid_ttl;  /* CAIRN_CA_X509_SVID_TTL_DEFAULT (1h) */
  int64_t default_jwt_svid_ttl;   /* CAIRN_CA_JWT_SVID_TTL_DEFAULT (5m) */
  /* Node SVIDs: SPIRE's agent_ttl, whose default is
   * default_x509_svid_ttl. */
  int64_t node_svid_ttl;
  /* The server's own SVID: default_x509_svid_ttl, as SPIRE's server. */
  int64_t server_svid_ttl;
  /* Intermediate CAs for downstream servers (POST /v1/downstream/ca), as
   * SPIRE's upstream signs them with its own ca_ttl; 0 = the lifetime of
   * the active X.509 CA (notAfter - notBefore - CAIRN_CERT_BACKDATE, i.e.
   * the ca_ttl it was made with). Capped at the active CA's notAfter. */
  int64_t downstream_ca_ttl;
  enum cairn_key_type server_key_type;  /* 0 = P-256 */
  /* Accept join_token attestation (NodeAttestor "join_token"). Without
   * it POST /v1/attest answers 4.03. */
  int join_token;
  /* Owner of the alias entries created at attestation; NULL =
   * CAIRN_AUTHORITY_OWNER_DEFAULT. */
  const char *entry_owner;
  unsigned poll_ms;               /* 0 = CAIRN_AUTHORITY_POLL_MS_DEFAULT */
  unsigned max_sessions;          /* 0 = net.h's default */
};

void cairn_authority_opts_init(struct cairn_authority_opts *o);

struct cairn_authority;

/* Creates the authority on loop (not owned) over store and ca (neither
 * owned; all three must outlive it): checks opts, mints the server SVID,
 * creates the endpoint with bootstrap peers allowed, registers the routes
 * and binds (so the port is known on return). opts is copied. Errors:
 * CAIRN_ERR_INVAL (opts), CAIRN_ERR_NOT_FOUND / CAIRN_ERR_EXPIRED (no
 * active X.509 CA), CAIRN_ERR_IO (the address cannot be bound),
 * CAIRN_ERR_NET, CAIRN_ERR_NOMEM. *out: cairn_authority_free(). */
int cairn_authority_new(uv_loop_t *loop, struct cairn_store *store,
                        struct cairn_ca *ca,
                        const struct cairn_authority_opts *opts,
                        struct cairn_authority **out);

/* Stops serving and frees everything; like net.h's *_free(), handle
 * memory is released when the loop has run the close callbacks. NULL-safe.
 * Free it before the store and the CA manager. */
void cairn_authority_free(struct cairn_authority *a);

/* The bound UDP port. */
uint16_t cairn_authority_port(const struct cairn_authority *a);

/* Call after the CA manager's bundle may have changed (cairn_ca_tick()
 * reported it, a forced prepare/activate, cairn_ca_add_jwt_key()). When
 * its sequence moved: the endpoint verifies peers with the new bundle, and
 * /v1/bundle and /v1/revision observers are notified. Also renews the
 * server SVID when another X.509 CA is now active. The poll timer does the
 * same within poll_ms; calling this only makes it immediate. */
int cairn_authority_bundle_changed(struct cairn_authority *a);

/* Call after registration entries were written: when the store's entries
 * revision moved, /v1/revision observers are notified. The poll timer
 * does the same within poll_ms. */
int cairn_authority_entries_changed(struct cairn_authority *a);

/* Mints a new server SVID (fresh key) now and installs it. */
int cairn_authority_rotate_server_svid(struct cairn_authority *a);

struct cairn_authority_stats {
  uint64_t attested;          /* successful attestations */
  uint64_t renewed;           /* node SVID renewals */
  uint64_t svids;             /* workload X509-SVIDs issued */
  uint64_t jwts;              /* JWT-SVIDs issued */
  uint64_t downstream_cas;    /* intermediate CAs for downstream servers */
  uint64_t jwt_keys;          /* downstream JWT keys published (new or
                               * repeated) */
  uint64_t refused;           /* requests answered 4.xx by the authority */
  uint64_t server_svids;      /* server SVIDs minted (1 after _new) */
  char server_serial[41];     /* the current server SVID's serial (hex) */
  time_t server_not_after;
  uint64_t bundle_sequence;   /* the sequence the endpoint verifies with */
  int64_t entries_revision;   /* the last entries revision seen */
};
void cairn_authority_get_stats(const struct cairn_authority *a,
                               struct cairn_authority_stats *st);

/* The entries authorised for node_id (a SPIFFE ID) as the body of GET
 * /v1/entries?since=<since>. An entry is authorised when its parent_id is
 * node_id, or when its parent_id is the spiffe_id of an entry whose
 * parent_id is node_id (one level of node aliasing).
 *
 * Deltas. The store keeps no history of an entry's earlier parent, so a
 * filtered store delta cannot see an entry that moved away from a node.
 * The authority therefore remembers, per node, the revision and the entry
 * IDs of the last answer it built (in memory, at most
 * CAIRN_AUTHORITY_SEEN_MAX bytes for all nodes, least recently used
 * dropped first). When since equals that revision the answer is an exact
 * delta (full = 0): entries = the authorised entries changed after since
 * or newly authorised (an alias that appeared), removed = the IDs of that
 * answer that are no longer authorised (deleted, moved, alias gone).
 * Otherwise (since 0, a node not remembered, e.g. after a restart, or
 * another since) the answer is the complete set (full = 1), which is
 * always correct. revision is the store's entries revision of the
 * snapshot the set was read from (the node passes it as since next
 * time). Entry TTLs are sent as stored (0 = the server default).
 *
 * *out is filled with heap copies: cairn_msg_entries_resp_clear(). Errors:
 * the store's, CAIRN_ERR_TOO_BIG past CAIRN_MSG_ENTRIES_MAX entries. */
int cairn_authority_entries(struct cairn_authority *a, const char *node_id,
                            int64_t since,
                            struct cairn_msg_entries_resp *out);

/* Parses the query of GET /v1/entries: NULL or "" is 0, otherwise exactly
 * "since=<decimal>" (0..2^63-1, no sign, no leading zeros beyond "0").
 * CAIRN_ERR_PARSE with a detail otherwise. */
int cairn_authority_parse_since(const char *query, int64_t *since);

#endif
