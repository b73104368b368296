/* cairn/store.h - the persistent state of a Cairn server (SQLite).
 *
 * One database file per server (cairn-cloud or cairn-edge) holds the
 * registration entries, attested nodes, join tokens, trust bundles, the CA
 * journal and the edge's outbox. The file is SQLite in WAL mode with
 * synchronous=NORMAL, foreign keys on and a busy timeout (5 s by default);
 * it is created 0600 and refused when group or other may access it.
 *
 * The schema is versioned (table schema_version) and upgraded by ordered
 * migration steps, all pending steps in one transaction, when the store is
 * opened. A database written by a newer Cairn (a version this code does not
 * know) is refused with CAIRN_ERR_UNSUPPORTED. The SQL is portable (TEXT,
 * INTEGER, BIGINT, BLOB, explicit indexes, every value bound as a parameter)
 * so that a PostgreSQL backend can implement this same interface later.
 *
 * Threads: a struct cairn_store is one database connection and must be used
 * by one thread at a time. Other threads or processes open their own store
 * on the same file: readers never block, writers are serialised (one write
 * transaction at a time; a writer waits up to the busy timeout, then gets
 * CAIRN_ERR_TIMEOUT).
 *
 * Ownership: structures passed IN (entries, nodes, journal slots, filters)
 * are only read during the call and never kept, so callers may fill them
 * with pointers to any storage. Structures handed OUT are deep copies on the
 * heap owned by the caller, released with the matching _free function (all
 * NULL-safe). In returned structures, text fields are never NULL ("" when
 * empty).
 *
 * Errors: CAIRN_ERR_INVAL / CAIRN_ERR_TOO_BIG for bad or oversized input
 * (detail names the field), CAIRN_ERR_NOT_FOUND, CAIRN_ERR_EXISTS (also for
 * failed optimistic checks: "changed concurrently"), CAIRN_ERR_TIMEOUT when
 * another writer held the database past the busy timeout, CAIRN_ERR_IO for
 * disk errors, CAIRN_ERR_DB for anything else SQLite reports.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>

/* The schema version this code writes and the newest it can open. */
#define CAIRN_STORE_SCHEMA_VERSION 4

/* Input caps (bytes unless noted). */
#define CAIRN_STORE_ID_MAX 2048            /* SPIFFE IDs, path scopes */
#define CAIRN_STORE_ENTRY_ID_MAX 255       /* caller-chosen entry IDs */
#define CAIRN_STORE_SELECTORS_MAX 64       /* selectors of one entry/node */
#define CAIRN_STORE_SELECTOR_TYPE_MAX 127
#define CAIRN_STORE_SELECTOR_VALUE_MAX 1024
#define CAIRN_STORE_FILTER_SELECTORS_MAX 256  /* selectors in a filter */
#define CAIRN_STORE_DNS_MAX 64             /* DNS names of one entry */
#define CAIRN_STORE_DNS_NAME_MAX 253
#define CAIRN_STORE_FEDERATES_MAX 64       /* federates_with of one entry */
#define CAIRN_STORE_TD_MAX 255             /* trust domain names */
#define CAIRN_STORE_HINT_MAX 1024
#define CAIRN_STORE_NAME_MAX 255           /* owner, origin, key_ref */
#define CAIRN_STORE_SHORT_MAX 64           /* types, kinds, slot IDs */
#define CAIRN_STORE_SERIAL_MAX 128         /* certificate serial text */
#define CAIRN_STORE_KID_MAX 128            /* JWT key IDs */
#define CAIRN_STORE_BLOB_MAX (1024 * 1024) /* bundle JSON, chains, payloads */
#define CAIRN_STORE_PUBKEY_MAX 4096
#define CAIRN_STORE_BATCH_MAX 65536        /* entries in one batch */
#define CAIRN_STORE_TOKEN_MAX 128          /* join token text */
#define CAIRN_STORE_EVENT_ID_MAX 64        /* outbox event IDs */
#define CAIRN_STORE_UUID_LEN 36            /* generated IDs: UUID v4 text */

struct cairn_store;

/* ---- opening ------------------------------------------------------- */

/* Opens (creating it 0600 if missing) the database file at path and brings
 * its schema up to CAIRN_STORE_SCHEMA_VERSION. The directory must exist
 * (CAIRN_ERR_NOT_FOUND otherwise). A symlink, a non-regular file or a file
 * that group or other may access is CAIRN_ERR_PERM; a file that is not a
 * database is CAIRN_ERR_DB; a schema newer than this code is
 * CAIRN_ERR_UNSUPPORTED; a failed migration (CAIRN_ERR_DB, detail names
 * the step) leaves the file at its old version. Opening an up-to-date file
 * only reads, so it does not wait for another process's writes; an upgrade
 * takes the write lock. *out: cairn_store_close(). */
int cairn_store_open(const char *path, struct cairn_store **out);
/* Rolls back any transaction left open, finalises statements, closes the
 * file. NULL-safe. */
void cairn_store_close(struct cairn_store *st);

/* How long a writer waits for another connection's write transaction
 * (milliseconds, 0..600000; default 5000). */
int cairn_store_set_busy_timeout(struct cairn_store *st, int ms);
/* The schema version of the open database (== CAIRN_STORE_SCHEMA_VERSION
 * after a successful open). */
int cairn_store_schema_version(struct cairn_store *st, int *version);

/* ---- transactions -------------------------------------------------- */

/* Groups several calls into one atomic unit. cairn_store_begin() starts a
 * write transaction (it takes the database's write lock at once, waiting
 * up to the busy timeout); cairn_store_begin_read() starts a read-only
 * snapshot (when it is the outermost level, writes inside it are
 * CAIRN_ERR_INVAL). Transactions nest: an
 * inner begin is a savepoint, so a failing call inside a caller's
 * transaction undoes only its own changes and the caller decides whether
 * to commit or roll back the rest. Every begin needs exactly one commit or
 * rollback; commit/rollback without a begin is CAIRN_ERR_INVAL. Keep
 * write transactions short: they block every other writer. */
int cairn_store_begin(struct cairn_store *st);
int cairn_store_begin_read(struct cairn_store *st);
int cairn_store_commit(struct cairn_store *st);
int cairn_store_rollback(struct cairn_store *st);

/* ---- selectors ----------------------------------------------------- */

/* A selector "type:value" (SPIRE's Selector). type is non-empty, has no
 * ':' and no control characters; value is non-empty and may contain ':'
 * ("unix" + "uid:1000"). Returned selector lists are sorted by type, then
 * value (byte order). */
struct cairn_selector {
  char *type;
  char *value;
};

/* How a selector filter matches an item's selector set S against the
 * filter's set F. SUBSET (the zero value) is the authorisation rule: S is
 * a subset of F (every selector of the entry is among the workload's). */
enum cairn_selector_match {
  CAIRN_MATCH_SUBSET = 0,   /* S within F */
  CAIRN_MATCH_EXACT = 1,    /* S == F */
  CAIRN_MATCH_SUPERSET = 2, /* S contains all of F */
  CAIRN_MATCH_ANY = 3       /* S and F share at least one selector */
};

/* ---- registration entries ----------------------------------------- */

/* A registration entry with SPIRE's fields plus Cairn's owner and scope.
 * As input, NULL text fields mean "" and the bookkeeping fields are
 * ignored except where stated. */
struct cairn_entry {
  /* Create: NULL/"" lets the store generate a UUID v4 (as SPIRE does);
   * otherwise 1..255 of [A-Za-z0-9._-] (entries replicated from an
   * upstream keep their ID). Update/delete: selects the entry. */
  char *entry_id;
  char *spiffe_id;              /* "spiffe://..." */
  char *parent_id;              /* agent, node alias or server ID */
  struct cairn_selector *selectors;  /* 1..CAIRN_STORE_SELECTORS_MAX */
  size_t n_selectors;
  int32_t x509_svid_ttl;        /* seconds, 0 = server default */
  int32_t jwt_svid_ttl;         /* seconds, 0 = server default */
  char **dns_names;             /* in order; first is also the CN */
  size_t n_dns_names;
  char **federates_with;        /* bare trust domain names */
  size_t n_federates_with;
  int admin;                    /* 0 or 1 */
  int downstream;               /* 0 or 1 */
  int64_t expires_at;           /* unix seconds, 0 = never */
  char *hint;
  /* Who may write the entry: "cloud" or a site name ([A-Za-z0-9._-]).
   * Required; cannot change on update (delete and re-create instead). */
  char *owner;
  /* Downstream entries only: the path scope the downstream server may mint
   * under ("/site/a", "/site/a/ *" without the space), "" = none. */
  char *scope;
  /* Set by the store: the value of the global entries revision counter at
   * the entry's last change, so it grows on every change. On update, a
   * non-zero value is the revision the caller read: the update fails with
   * CAIRN_ERR_EXISTS if the entry changed since (optimistic locking). */
  int64_t revision;
  int64_t created_at;           /* set by the store (cairn_now()) */
};

/* Frees everything an entry points to and zeroes it (for entries inside
 * arrays); _free also frees the struct; _array_free clears n entries and
 * frees the array. All NULL-safe. */
void cairn_entry_clear(struct cairn_entry *e);
void cairn_entry_free(struct cairn_entry *e);
void cairn_entry_array_free(struct cairn_entry *a, size_t n);

/* Creates an entry. An entry with the same spiffe_id, parent_id and
 * selector set (in any order) already present is CAIRN_ERR_EXISTS, as in
 * SPIRE; so is an existing entry_id. Duplicate selectors, DNS names or
 * trust domains inside the entry are CAIRN_ERR_INVAL, and so is a scope on
 * a non-downstream entry. *out (may be NULL) receives the stored entry:
 * cairn_entry_free(). */
int cairn_store_entry_create(struct cairn_store *st,
                             const struct cairn_entry *in,
                             struct cairn_entry **out);
/* Creates n entries in one transaction: all or none. On failure nothing is
 * stored, *failed (may be NULL) is the index of the offending entry (n when
 * the failure was not an entry's) and the detail starts "entry <i>: ".
 * *out (may be NULL) receives an array of the n stored entries:
 * cairn_entry_array_free(*out, n). */
int cairn_store_entry_batch_create(struct cairn_store *st,
                                   const struct cairn_entry *in, size_t n,
                                   struct cairn_entry **out, size_t *failed);
/* Replaces every field of entry in->entry_id except entry_id, owner and
 * created_at (a different owner is CAIRN_ERR_POLICY), and gives it a new
 * revision. CAIRN_ERR_NOT_FOUND if absent; CAIRN_ERR_EXISTS when the new
 * content duplicates another entry or in->revision is stale. */
int cairn_store_entry_update(struct cairn_store *st,
                             const struct cairn_entry *in,
                             struct cairn_entry **out);
/* Deletes an entry and records a tombstone (ID + the new revision).
 * *revision (may be NULL) receives that revision. */
int cairn_store_entry_delete(struct cairn_store *st, const char *entry_id,
                             int64_t *revision);
/* *out: cairn_entry_free(). CAIRN_ERR_NOT_FOUND if absent. */
int cairn_store_entry_get(struct cairn_store *st, const char *entry_id,
                          struct cairn_entry **out);

/* Filter for list/count; a zeroed struct matches everything. */
struct cairn_entry_filter {
  const char *parent_id;        /* exact match, NULL = any */
  const char *spiffe_id;        /* exact match, NULL = any */
  const char *owner;            /* exact match, NULL = any */
  const struct cairn_selector *selectors;  /* n_selectors == 0: any */
  size_t n_selectors;
  enum cairn_selector_match match;
  int64_t since_revision;       /* only revision > since_revision */
  const char *after_id;         /* paging: only entry_id > after_id */
  size_t limit;                 /* at most this many, 0 = no limit */
};

/* Entries matching filter (NULL = all), ordered by entry_id (byte order).
 * *out: cairn_entry_array_free(*out, *n); *out is NULL when *n is 0. */
int cairn_store_entry_list(struct cairn_store *st,
                           const struct cairn_entry_filter *filter,
                           struct cairn_entry **out, size_t *n);
/* Number of entries matching filter (after_id and limit ignored). */
int cairn_store_entry_count(struct cairn_store *st,
                            const struct cairn_entry_filter *filter,
                            size_t *n);

/* Deletes (with tombstones) every entry whose expires_at is set and
 * <= now. *removed may be NULL. */
int cairn_store_entry_prune_expired(struct cairn_store *st, int64_t now,
                                    size_t *removed);

/* ---- revisions, tombstones and deltas ------------------------------- */

/* A deleted entry: its ID, the revision of the deletion, and the owner,
 * SPIFFE ID and parent ID it had (so deltas can be filtered). */
struct cairn_tombstone {
  char *entry_id;
  int64_t revision;
  char *owner;
  char *spiffe_id;
  char *parent_id;
};
void cairn_tombstone_array_free(struct cairn_tombstone *a, size_t n);

/* *current: the global entries revision (0 for a fresh store; every
 * create, update and delete adds 1). *floor: deltas are complete only for
 * since >= floor, because tombstones up to it were pruned. Either may be
 * NULL. */
int cairn_store_entry_revision(struct cairn_store *st, int64_t *current,
                               int64_t *floor);
/* Tombstones with revision > since, in revision order. */
int cairn_store_entry_tombstones(struct cairn_store *st, int64_t since,
                                 struct cairn_tombstone **out, size_t *n);
/* Drops tombstones with revision <= upto and raises the floor to upto.
 * *removed may be NULL. */
int cairn_store_entry_tombstones_prune(struct cairn_store *st, int64_t upto,
                                       size_t *removed);

/* What changed since a revision, read from one consistent snapshot. */
struct cairn_entry_delta {
  /* 1 when since was older than the tombstone floor or newer than the
   * store (e.g. a restored database): entries then holds the complete
   * current set and the caller must drop every entry not in it. */
  int full;
  int64_t revision;             /* pass as since next time */
  struct cairn_entry *entries;  /* created or changed (upserts) */
  size_t n_entries;
  struct cairn_tombstone *removed;  /* deleted since */
  size_t n_removed;
};
void cairn_entry_delta_free(struct cairn_entry_delta *d);

/* Entries changed and removed after revision since. filter (may be NULL)
 * narrows both lists by parent_id, spiffe_id and owner; its selector part
 * narrows only the entries (tombstones keep no selectors, so removed may
 * name entries the caller never had: ignore those); since_revision,
 * after_id and limit are ignored. *out: cairn_entry_delta_free(). */
int cairn_store_entry_delta(struct cairn_store *st, int64_t since,
                            const struct cairn_entry_filter *filter,
                            struct cairn_entry_delta **out);

/* ---- attested nodes ------------------------------------------------ */

struct cairn_node {
  char *spiffe_id;              /* the agent / downstream server ID */
  char *attestation_type;       /* "join_token", "x509pop", ... */
  struct cairn_selector *selectors;  /* 0..CAIRN_STORE_SELECTORS_MAX */
  size_t n_selectors;
  char *cert_serial;            /* serial of its current SVID (text) */
  int64_t cert_not_after;       /* unix seconds */
  int banned;                   /* set only by cairn_store_node_ban() */
  int64_t created_at;           /* set by the store */
  int64_t updated_at;           /* set by the store */
};
void cairn_node_clear(struct cairn_node *n);
void cairn_node_free(struct cairn_node *n);
void cairn_node_array_free(struct cairn_node *a, size_t n);

/* Inserts or replaces the node with in->spiffe_id (created_at is kept;
 * in->banned is ignored). A banned node cannot be refreshed:
 * CAIRN_ERR_DENIED (evict it first). *out may be NULL. */
int cairn_store_node_upsert(struct cairn_store *st,
                            const struct cairn_node *in,
                            struct cairn_node **out);
int cairn_store_node_get(struct cairn_store *st, const char *spiffe_id,
                         struct cairn_node **out);
/* Evicts (deletes) a node; it may attest again afterwards. */
int cairn_store_node_delete(struct cairn_store *st, const char *spiffe_id);
/* Marks a node banned (it stays listed and cannot be refreshed). */
int cairn_store_node_ban(struct cairn_store *st, const char *spiffe_id);

enum cairn_node_banned_filter {
  CAIRN_NODE_ANY = 0,
  CAIRN_NODE_BANNED = 1,
  CAIRN_NODE_NOT_BANNED = 2
};
struct cairn_node_filter {      /* a zeroed struct matches everything */
  const char *attestation_type; /* NULL = any */
  enum cairn_node_banned_filter banned;
  int64_t expires_before;       /* cert_not_after < this, 0 = any */
  const char *after_id;         /* paging: spiffe_id > after_id */
  size_t limit;                 /* 0 = no limit */
};
/* Ordered by spiffe_id. *out: cairn_node_array_free(*out, *n). */
int cairn_store_node_list(struct cairn_store *st,
                          const struct cairn_node_filter *filter,
                          struct cairn_node **out, size_t *n);
int cairn_store_node_count(struct cairn_store *st,
                           const struct cairn_node_filter *filter,
                           size_t *n);

/* ---- join tokens --------------------------------------------------- */

/* The token is a bearer secret: _free functions zeroise it. */
struct cairn_join_token {
  char token[CAIRN_STORE_TOKEN_MAX + 1];
  char *spiffe_id;              /* optional alias for the node, "" = none */
  int64_t expires_at;
  int64_t created_at;
  int64_t used_at;              /* 0 = not used yet */
};
void cairn_join_token_free(struct cairn_join_token *t);
void cairn_join_token_array_free(struct cairn_join_token *a, size_t n);

/* Stores a join token valid until expires_at (> 0). token NULL/"" lets the
 * store generate a random UUID v4 (122 random bits), otherwise 1..128 of
 * [A-Za-z0-9._-]; an existing token is CAIRN_ERR_EXISTS. spiffe_id may be
 * NULL. *out (may be NULL): cairn_join_token_free(). */
int cairn_store_token_create(struct cairn_store *st, const char *token,
                             const char *spiffe_id, int64_t expires_at,
                             struct cairn_join_token **out);
/* Uses a token up, atomically (two concurrent consumers: exactly one
 * wins). Unknown or already used: CAIRN_ERR_NOT_FOUND (the detail says
 * which); expired (cairn_now() >= expires_at): CAIRN_ERR_EXPIRED. *out
 * (may be NULL) receives the token record. */
int cairn_store_token_consume(struct cairn_store *st, const char *token,
                              struct cairn_join_token **out);
/* All tokens (used ones too), ordered by expiry. */
int cairn_store_token_list(struct cairn_store *st,
                           struct cairn_join_token **out, size_t *n);
int cairn_store_token_delete(struct cairn_store *st, const char *token);
/* Deletes tokens with expires_at <= now. *removed may be NULL. */
int cairn_store_token_prune(struct cairn_store *st, int64_t now,
                            size_t *removed);

/* ---- bundles ------------------------------------------------------- */

/* expected_seq value meaning "no bundle stored yet for this domain". */
#define CAIRN_STORE_SEQ_NONE UINT64_MAX

/* The SPIFFE bundle JSON for trust domain td, stored as given (this module
 * does not parse it), and its sequence number. *json is NUL-terminated,
 * free(). CAIRN_ERR_NOT_FOUND when none. */
int cairn_store_bundle_get(struct cairn_store *st, const char *td,
                           char **json, size_t *len, uint64_t *sequence);
/* Stores json (1..CAIRN_STORE_BLOB_MAX bytes, no NUL) with sequence
 * new_seq if the stored sequence is still expected_seq
 * (CAIRN_STORE_SEQ_NONE: no bundle yet). Otherwise CAIRN_ERR_EXISTS
 * ("changed concurrently": re-read, re-apply, retry), or
 * CAIRN_ERR_NOT_FOUND when a bundle was expected but none is stored.
 * new_seq must be greater than expected_seq and at most INT64_MAX. */
int cairn_store_bundle_put(struct cairn_store *st, const char *td,
                           const char *json, size_t len,
                           uint64_t expected_seq, uint64_t new_seq);
int cairn_store_bundle_delete(struct cairn_store *st, const char *td);
/* Trust domains with a bundle, sorted. Free: cairn_store_strv_free(). */
int cairn_store_bundle_list(struct cairn_store *st, char ***tds, size_t *n);
/* A fingerprint of the stored bundles' trust domains and sequence numbers,
 * leaving out the trust domain except (may be NULL): 0 when there is none,
 * else 1..INT64_MAX, and it changes (but for a 2^-63 chance) whenever a
 * bundle is stored, replaced or deleted. */
int cairn_store_bundle_fingerprint(struct cairn_store *st, const char *except,
                                   uint64_t *fp);

/* Frees n strings and the array. NULL-safe. */
void cairn_store_strv_free(char **v, size_t n);

/* ---- CA journal ---------------------------------------------------- */

enum cairn_ca_kind { CAIRN_CA_X509 = 1, CAIRN_CA_JWT = 2 };
/* Only forward moves: prepared -> active -> old (or prepared -> old). */
enum cairn_ca_status {
  CAIRN_CA_PREPARED = 1,
  CAIRN_CA_ACTIVE = 2,
  CAIRN_CA_OLD = 3
};

/* One journal row. The key itself never enters the store: key_ref names
 * the key file ([A-Za-z0-9._-], no path). */
struct cairn_journal_slot {
  int64_t id;                   /* set by the store, increasing */
  char *slot_id;                /* the caller's slot name, e.g. "A" */
  enum cairn_ca_kind kind;
  enum cairn_ca_status status;
  int64_t not_before;
  int64_t not_after;            /* >= not_before */
  uint8_t *chain;               /* cert chain DER or PEM as given;
                                 * required for X.509, may be empty for JWT */
  size_t chain_len;
  uint8_t *public_key;          /* SPKI DER (required) */
  size_t public_key_len;
  char *key_ref;                /* key file name (required) */
  char *kid;                    /* JWT key ID (required for JWT) */
  int64_t created_at;           /* set by the store */
  int64_t updated_at;           /* set by the store */
};
void cairn_journal_slot_array_free(struct cairn_journal_slot *a, size_t n);

/* *id (may be NULL) receives the row ID. */
int cairn_store_journal_insert(struct cairn_store *st,
                               const struct cairn_journal_slot *in,
                               int64_t *id);
/* Moves row id to status; the same status is a no-op, a backward move is
 * CAIRN_ERR_POLICY, an unknown id CAIRN_ERR_NOT_FOUND. */
int cairn_store_journal_set_status(struct cairn_store *st, int64_t id,
                                   enum cairn_ca_status status);
/* Rows of one kind (0 = both), oldest first. */
int cairn_store_journal_list(struct cairn_store *st, enum cairn_ca_kind kind,
                             struct cairn_journal_slot **out, size_t *n);
int cairn_store_journal_delete(struct cairn_store *st, int64_t id);

/* ---- outbox (edge) and inbox (upstream) ------------------------------ */

/* A record an edge keeps until its upstream has it: an attested node, an
 * issued SVID serial, an audit event... payload is opaque here. */
struct cairn_outbox_rec {
  int64_t seq;                  /* append order */
  char event_id[CAIRN_STORE_EVENT_ID_MAX + 1];
  char *kind;
  uint8_t *payload;
  size_t payload_len;
  int64_t created_at;
  int64_t delivered_at;         /* 0 = pending */
};
void cairn_outbox_array_free(struct cairn_outbox_rec *a, size_t n);

/* Appends a record. event_id NULL/"" generates a UUID v4; a given one is
 * 1..64 of [A-Za-z0-9._-] and must be new (CAIRN_ERR_EXISTS). kind is 1..64
 * of [A-Za-z0-9._-]; payload up to CAIRN_STORE_BLOB_MAX bytes. id_out (may
 * be NULL) receives the event ID. */
int cairn_store_outbox_append(struct cairn_store *st, const char *kind,
                              const void *payload, size_t len,
                              const char *event_id,
                              char id_out[CAIRN_STORE_EVENT_ID_MAX + 1]);
/* Undelivered records in append order, at most limit (0 = all). */
int cairn_store_outbox_pending(struct cairn_store *st, size_t limit,
                               struct cairn_outbox_rec **out, size_t *n);
/* Marks a record delivered. Marking it again is harmless (CAIRN_OK, the
 * first delivery time stays); an unknown ID is CAIRN_ERR_NOT_FOUND. */
int cairn_store_outbox_mark_delivered(struct cairn_store *st,
                                      const char *event_id);
/* Counts; either pointer may be NULL. */
int cairn_store_outbox_count(struct cairn_store *st, size_t *pending,
                             size_t *total);
/* Deletes delivered records with delivered_at <= before. */
int cairn_store_outbox_prune(struct cairn_store *st, int64_t before,
                             size_t *removed);

/* The receiving half of exactly-once delivery: records that event_id from
 * origin (a site name) has been applied. *fresh = 1 the first time, 0 for
 * a repeat. Call it inside the transaction that applies the event, so the
 * event and its record commit together. */
int cairn_store_inbox_record(struct cairn_store *st, const char *origin,
                             const char *event_id, int *fresh);
/* Forgets inbox records received at or before `before` (repeats older than
 * that would then be applied again). */
int cairn_store_inbox_prune(struct cairn_store *st, int64_t before,
                            size_t *removed);

#endif
