/* store.c - the SQLite store (see cairn/store.h and docs/library/store.md).
 *
 * Every statement is a fixed SQL text; caller values are only ever bound
 * as parameters. The few statements built at run time (list filters) are
 * assembled from fixed fragments and "?" placeholders only.
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "cairn/store.h"
#include "cairn/buf.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/log.h"
#include "cairn/util.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_DEFAULT_MS 5000
#define BUSY_MAX_MS 600000
#define QUERY_SQL_MAX (64 * 1024)

/* ------------------------------------------------------------------ */
/* Schema: ordered migration steps. A step is never edited once released;
 * changes go into a new step with the next version. */

struct migration {
  int version;
  const char *name;
  const char *sql;
};

static const struct migration g_migrations[] = {
  {1, "registration entries",
   "CREATE TABLE counters ("
   " name TEXT NOT NULL PRIMARY KEY,"
   " value BIGINT NOT NULL);"
   "CREATE TABLE entries ("
   " entry_id TEXT NOT NULL PRIMARY KEY,"
   " spiffe_id TEXT NOT NULL,"
   " parent_id TEXT NOT NULL,"
   " x509_svid_ttl INTEGER NOT NULL,"
   " jwt_svid_ttl INTEGER NOT NULL,"
   " admin INTEGER NOT NULL,"
   " downstream INTEGER NOT NULL,"
   " expires_at BIGINT NOT NULL,"
   " hint TEXT NOT NULL,"
   " owner TEXT NOT NULL,"
   " scope TEXT NOT NULL,"
   " revision BIGINT NOT NULL,"
   " created_at BIGINT NOT NULL,"
   " dedup_key TEXT NOT NULL);"
   "CREATE UNIQUE INDEX entries_dedup_key ON entries (dedup_key);"
   "CREATE INDEX entries_spiffe_id ON entries (spiffe_id);"
   "CREATE INDEX entries_parent_id ON entries (parent_id);"
   "CREATE INDEX entries_revision ON entries (revision);"
   "CREATE INDEX entries_owner ON entries (owner);"
   "CREATE INDEX entries_expires_at ON entries (expires_at);"
   "CREATE TABLE entry_selectors ("
   " entry_id TEXT NOT NULL REFERENCES entries (entry_id) ON DELETE CASCADE,"
   " type TEXT NOT NULL,"
   " value TEXT NOT NULL,"
   " PRIMARY KEY (entry_id, type, value));"
   "CREATE INDEX entry_selectors_type_value ON entry_selectors (type, value);"
   "CREATE TABLE entry_dns_names ("
   " entry_id TEXT NOT NULL REFERENCES entries (entry_id) ON DELETE CASCADE,"
   " position INTEGER NOT NULL,"
   " name TEXT NOT NULL,"
   " PRIMARY KEY (entry_id, position));"
   "CREATE TABLE entry_federates_with ("
   " entry_id TEXT NOT NULL REFERENCES entries (entry_id) ON DELETE CASCADE,"
   " position INTEGER NOT NULL,"
   " trust_domain TEXT NOT NULL,"
   " PRIMARY KEY (entry_id, position));"
   "CREATE TABLE entry_tombstones ("
   " entry_id TEXT NOT NULL PRIMARY KEY,"
   " revision BIGINT NOT NULL,"
   " owner TEXT NOT NULL,"
   " spiffe_id TEXT NOT NULL,"
   " parent_id TEXT NOT NULL);"
   "CREATE INDEX entry_tombstones_revision ON entry_tombstones (revision);"
   "INSERT INTO counters (name, value) VALUES ('entries_revision', 0);"
   "INSERT INTO counters (name, value) VALUES ('entries_floor', 0);"},
  {2, "attested nodes and join tokens",
   "CREATE TABLE attested_nodes ("
   " spiffe_id TEXT NOT NULL PRIMARY KEY,"
   " attestation_type TEXT NOT NULL,"
   " cert_serial TEXT NOT NULL,"
   " cert_not_after BIGINT NOT NULL,"
   " banned INTEGER NOT NULL,"
   " created_at BIGINT NOT NULL,"
   " updated_at BIGINT NOT NULL);"
   "CREATE INDEX attested_nodes_not_after ON attested_nodes (cert_not_after);"
   "CREATE TABLE node_selectors ("
   " spiffe_id TEXT NOT NULL"
   "  REFERENCES attested_nodes (spiffe_id) ON DELETE CASCADE,"
   " type TEXT NOT NULL,"
   " value TEXT NOT NULL,"
   " PRIMARY KEY (spiffe_id, type, value));"
   "CREATE TABLE join_tokens ("
   " token TEXT NOT NULL PRIMARY KEY,"
   " spiffe_id TEXT NOT NULL,"
   " expires_at BIGINT NOT NULL,"
   " created_at BIGINT NOT NULL,"
   " used_at BIGINT NOT NULL);"
   "CREATE INDEX join_tokens_expires_at ON join_tokens (expires_at);"},
  {3, "bundles and CA journal",
   "CREATE TABLE bundles ("
   " trust_domain TEXT NOT NULL PRIMARY KEY,"
   " sequence_number BIGINT NOT NULL,"
   " bundle_json TEXT NOT NULL,"
   " updated_at BIGINT NOT NULL);"
   "CREATE TABLE ca_journal ("
   " id BIGINT NOT NULL PRIMARY KEY,"
   " slot_id TEXT NOT NULL,"
   " kind TEXT NOT NULL CHECK (kind IN ('x509', 'jwt')),"
   " status TEXT NOT NULL CHECK (status IN ('prepared', 'active', 'old')),"
   " not_before BIGINT NOT NULL,"
   " not_after BIGINT NOT NULL,"
   " chain BLOB NOT NULL,"
   " public_key BLOB NOT NULL,"
   " key_ref TEXT NOT NULL,"
   " kid TEXT NOT NULL,"
   " created_at BIGINT NOT NULL,"
   " updated_at BIGINT NOT NULL);"
   "CREATE INDEX ca_journal_kind_status ON ca_journal (kind, status);"
   "INSERT INTO counters (name, value) VALUES ('ca_journal_id', 0);"},
  {4, "edge outbox and upstream inbox",
   "CREATE TABLE outbox ("
   " seq BIGINT NOT NULL PRIMARY KEY,"
   " event_id TEXT NOT NULL,"
   " kind TEXT NOT NULL,"
   " payload BLOB NOT NULL,"
   " created_at BIGINT NOT NULL,"
   " delivered_at BIGINT NOT NULL);"
   "CREATE UNIQUE INDEX outbox_event_id ON outbox (event_id);"
   "CREATE INDEX outbox_delivered_at ON outbox (delivered_at, seq);"
   "CREATE TABLE inbox ("
   " origin TEXT NOT NULL,"
   " event_id TEXT NOT NULL,"
   " received_at BIGINT NOT NULL,"
   " PRIMARY KEY (origin, event_id));"
   "CREATE INDEX inbox_received_at ON inbox (received_at);"
   "INSERT INTO counters (name, value) VALUES ('outbox_seq', 0);"},
};
#define N_MIGRATIONS (sizeof g_migrations / sizeof g_migrations[0])

_Static_assert(N_MIGRATIONS == CAIRN_STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* ------------------------------------------------------------------ */
/* Prepared statements, prepared on first use and kept until close. */

#define ENTRY_COLS                                                        \
  "entry_id, spiffe_id, parent_id, x509_svid_ttl, jwt_svid_ttl, admin, "  \
  "downstream, expires_at, hint, owner, scope, revision, created_at"
#define ENTRY_COLS_E                                                      \
  "e.entry_id, e.spiffe_id, e.parent_id, e.x509_svid_ttl, "               \
  "e.jwt_svid_ttl, e.admin, e.downstream, e.expires_at, e.hint, e.owner, " \
  "e.scope, e.revision, e.created_at"
#define NODE_COLS                                                         \
  "spiffe_id, attestation_type, cert_serial, cert_not_after, banned, "    \
  "created_at, updated_at"
#define TOKEN_COLS "token, spiffe_id, expires_at, created_at, used_at"
#define JOURNAL_COLS                                                      \
  "id, slot_id, kind, status, not_before, not_after, chain, public_key, " \
  "key_ref, kid, created_at, updated_at"
#define OUTBOX_COLS \
  "seq, event_id, kind, payload, created_at, delivered_at"

enum stmt_id {
  S_VERSION,
  S_COUNTER_BUMP, S_COUNTER_GET, S_COUNTER_SET,
  S_ENTRY_INSERT, S_ENTRY_UPDATE, S_ENTRY_DELETE, S_ENTRY_GET, S_ENTRY_META,
  S_ENTRY_BY_KEY, S_ENTRY_EXPIRED,
  S_ESEL_INSERT, S_ESEL_DELETE, S_ESEL_GET,
  S_DNS_INSERT, S_DNS_DELETE, S_DNS_GET,
  S_FED_INSERT, S_FED_DELETE, S_FED_GET,
  S_TOMB_INSERT, S_TOMB_DELETE, S_TOMB_PRUNE,
  S_NODE_GET, S_NODE_META, S_NODE_INSERT, S_NODE_UPDATE, S_NODE_DELETE,
  S_NODE_BAN, S_NSEL_INSERT, S_NSEL_DELETE, S_NSEL_GET,
  S_TOKEN_INSERT, S_TOKEN_GET, S_TOKEN_USE, S_TOKEN_LIST, S_TOKEN_DELETE,
  S_TOKEN_PRUNE,
  S_BUNDLE_GET, S_BUNDLE_SEQ, S_BUNDLE_INSERT, S_BUNDLE_UPDATE,
  S_BUNDLE_DELETE, S_BUNDLE_LIST, S_BUNDLE_SEQS,
  S_JOURNAL_INSERT, S_JOURNAL_STATUS, S_JOURNAL_SET, S_JOURNAL_LIST,
  S_JOURNAL_LIST_KIND, S_JOURNAL_DELETE,
  S_OUTBOX_INSERT, S_OUTBOX_EXISTS, S_OUTBOX_PENDING, S_OUTBOX_PENDING_N,
  S_OUTBOX_MARK, S_OUTBOX_DELIVERED, S_OUTBOX_COUNT, S_OUTBOX_PRUNE,
  S_INBOX_GET, S_INBOX_INSERT, S_INBOX_PRUNE,
  S__COUNT
};

static const char *const g_sql[S__COUNT] = {
  [S_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_version",
  [S_COUNTER_BUMP] = "UPDATE counters SET value = value + 1 WHERE name = ?",
  [S_COUNTER_GET] = "SELECT value FROM counters WHERE name = ?",
  [S_COUNTER_SET] = "UPDATE counters SET value = ? WHERE name = ?",
  [S_ENTRY_INSERT] =
    "INSERT INTO entries (" ENTRY_COLS ", dedup_key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  [S_ENTRY_UPDATE] =
    "UPDATE entries SET spiffe_id = ?, parent_id = ?, x509_svid_ttl = ?,"
    " jwt_svid_ttl = ?, admin = ?, downstream = ?, expires_at = ?, hint = ?,"
    " scope = ?, revision = ?, dedup_key = ? WHERE entry_id = ?",
  [S_ENTRY_DELETE] = "DELETE FROM entries WHERE entry_id = ?",
  [S_ENTRY_GET] = "SELECT " ENTRY_COLS " FROM entries WHERE entry_id = ?",
  [S_ENTRY_META] =
    "SELECT revision, owner, spiffe_id, parent_id FROM entries"
    " WHERE entry_id = ?",
  [S_ENTRY_BY_KEY] = "SELECT entry_id FROM entries WHERE dedup_key = ?",
  [S_ENTRY_EXPIRED] =
    "SELECT entry_id FROM entries WHERE expires_at > 0 AND expires_at <= ?"
    " ORDER BY entry_id",
  [S_ESEL_INSERT] =
    "INSERT INTO entry_selectors (entry_id, type, value) VALUES (?, ?, ?)",
  [S_ESEL_DELETE] = "DELETE FROM entry_selectors WHERE entry_id = ?",
  [S_ESEL_GET] =
    "SELECT type, value FROM entry_selectors WHERE entry_id = ?"
    " ORDER BY type, value",
  [S_DNS_INSERT] =
    "INSERT INTO entry_dns_names (entry_id, position, name) VALUES (?, ?, ?)",
  [S_DNS_DELETE] = "DELETE FROM entry_dns_names WHERE entry_id = ?",
  [S_DNS_GET] =
    "SELECT name FROM entry_dns_names WHERE entry_id = ? ORDER BY position",
  [S_FED_INSERT] =
    "INSERT INTO entry_federates_with (entry_id, position, trust_domain)"
    " VALUES (?, ?, ?)",
  [S_FED_DELETE] = "DELETE FROM entry_federates_with WHERE entry_id = ?",
  [S_FED_GET] =
    "SELECT trust_domain FROM entry_federates_with WHERE entry_id = ?"
    " ORDER BY position",
  [S_TOMB_INSERT] =
    "INSERT INTO entry_tombstones (entry_id, revision, owner, spiffe_id,"
    " parent_id) VALUES (?, ?, ?, ?, ?)",
  [S_TOMB_DELETE] = "DELETE FROM entry_tombstones WHERE entry_id = ?",
  [S_TOMB_PRUNE] = "DELETE FROM entry_tombstones WHERE revision <= ?",
  [S_NODE_GET] =
    "SELECT " NODE_COLS " FROM attested_nodes WHERE spiffe_id = ?",
  [S_NODE_META] =
    "SELECT banned, created_at FROM attested_nodes WHERE spiffe_id = ?",
  [S_NODE_INSERT] =
    "INSERT INTO attested_nodes (" NODE_COLS ") VALUES (?, ?, ?, ?, 0, ?, ?)",
  [S_NODE_UPDATE] =
    "UPDATE attested_nodes SET attestation_type = ?, cert_serial = ?,"
    " cert_not_after = ?, updated_at = ? WHERE spiffe_id = ?",
  [S_NODE_DELETE] = "DELETE FROM attested_nodes WHERE spiffe_id = ?",
  [S_NODE_BAN] =
    "UPDATE attested_nodes SET banned = 1, updated_at = ? WHERE spiffe_id = ?",
  [S_NSEL_INSERT] =
    "INSERT INTO node_selectors (spiffe_id, type, value) VALUES (?, ?, ?)",
  [S_NSEL_DELETE] = "DELETE FROM node_selectors WHERE spiffe_id = ?",
  [S_NSEL_GET] =
    "SELECT type, value FROM node_selectors WHERE spiffe_id = ?"
    " ORDER BY type, value",
  [S_TOKEN_INSERT] =
    "INSERT INTO join_tokens (" TOKEN_COLS ") VALUES (?, ?, ?, ?, 0)",
  [S_TOKEN_GET] = "SELECT " TOKEN_COLS " FROM join_tokens WHERE token = ?",
  [S_TOKEN_USE] =
    "UPDATE join_tokens SET used_at = ? WHERE token = ? AND used_at = 0",
  [S_TOKEN_LIST] =
    "SELECT " TOKEN_COLS " FROM join_tokens ORDER BY expires_at, token",
  [S_TOKEN_DELETE] = "DELETE FROM join_tokens WHERE token = ?",
  [S_TOKEN_PRUNE] = "DELETE FROM join_tokens WHERE expires_at <= ?",
  [S_BUNDLE_GET] =
    "SELECT bundle_json, sequence_number FROM bundles WHERE trust_domain = ?",
  [S_BUNDLE_SEQ] =
    "SELECT sequence_number FROM bundles WHERE trust_domain = ?",
  [S_BUNDLE_INSERT] =
    "INSERT INTO bundles (trust_domain, sequence_number, bundle_json,"
    " updated_at) VALUES (?, ?, ?, ?)",
  [S_BUNDLE_UPDATE] =
    "UPDATE bundles SET sequence_number = ?, bundle_json = ?, updated_at = ?"
    " WHERE trust_domain = ? AND sequence_number = ?",
  [S_BUNDLE_DELETE] = "DELETE FROM bundles WHERE trust_domain = ?",
  [S_BUNDLE_LIST] = "SELECT trust_domain FROM bundles ORDER BY trust_domain",
  [S_BUNDLE_SEQS] =
    "SELECT trust_domain, sequence_number FROM bundles ORDER BY trust_domain",
  [S_JOURNAL_INSERT] =
    "INSERT INTO ca_journal (" JOURNAL_COLS ")"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  [S_JOURNAL_STATUS] = "SELECT status FROM ca_journal WHERE id = ?",
  [S_JOURNAL_SET] =
    "UPDATE ca_journal SET status = ?, updated_at = ? WHERE id = ?",
  [S_JOURNAL_LIST] = "SELECT " JOURNAL_COLS " FROM ca_journal ORDER BY id",
  [S_JOURNAL_LIST_KIND] =
    "SELECT " JOURNAL_COLS " FROM ca_journal WHERE kind = ? ORDER BY id",
  [S_JOURNAL_DELETE] = "DELETE FROM ca_journal WHERE id = ?",
  [S_OUTBOX_INSERT] =
    "INSERT INTO outbox (" OUTBOX_COLS ") VALUES (?, ?, ?, ?, ?, 0)",
  [S_OUTBOX_EXISTS] = "SELECT seq FROM outbox WHERE event_id = ?",
  [S_OUTBOX_PENDING] =
    "SELECT " OUTBOX_COLS " FROM outbox WHERE delivered_at = 0 ORDER BY seq",
  [S_OUTBOX_PENDING_N] =
    "SELECT " OUTBOX_COLS " FROM outbox WHERE delivered_at = 0 ORDER BY seq"
    " LIMIT ?",
  [S_OUTBOX_MARK] =
    "UPDATE outbox SET delivered_at = ? WHERE event_id = ?"
    " AND delivered_at = 0",
  [S_OUTBOX_DELIVERED] =
    "SELECT COUNT(*) FROM outbox WHERE delivered_at = 0",
  [S_OUTBOX_COUNT] = "SELECT COUNT(*) FROM outbox",
  [S_OUTBOX_PRUNE] =
    "DELETE FROM outbox WHERE delivered_at > 0 AND delivered_at <= ?",
  [S_INBOX_GET] =
    "SELECT received_at FROM inbox WHERE origin = ? AND event_id = ?",
  [S_INBOX_INSERT] =
    "INSERT INTO inbox (origin, event_id, received_at) VALUES (?, ?, ?)",
  [S_INBOX_PRUNE] = "DELETE FROM inbox WHERE received_at <= ?",
};

struct cairn_store {
  sqlite3 *db;
  char *path;
  sqlite3_stmt *stmts[S__COUNT];
  int depth;      /* open transaction levels, 0 = none */
  int top_write;  /* the outermost transaction is a write transaction */
  int busy_ms;
};

/* ------------------------------------------------------------------ */
/* SQLite plumbing */

/* Maps an SQLite result code to a Cairn code and records the detail. */
static int db_err(struct cairn_store *st, int rc, const char *what)
{
  const char *msg = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return cairn_seterr(CAIRN_ERR_TIMEOUT,
                        "store: %s: database busy (another writer held it "
                        "longer than %d ms)",
                        what, st ? st->busy_ms : 0);
  case SQLITE_NOMEM:
    return cairn_seterr(CAIRN_ERR_NOMEM, "store: %s: out of memory", what);
  case SQLITE_CONSTRAINT:
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
      return cairn_seterr(CAIRN_ERR_EXISTS, "store: %s: %s", what, msg);
    return cairn_seterr(CAIRN_ERR_DB, "store: %s: %s", what, msg);
  case SQLITE_IOERR:
  case SQLITE_FULL:
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
  case SQLITE_PERM:
    return cairn_seterr(CAIRN_ERR_IO, "store: %s: %s", what, msg);
  case SQLITE_NOTADB:
  case SQLITE_CORRUPT:
    return cairn_seterr(CAIRN_ERR_DB,
                        "store: %s: not a Cairn database, or corrupt (%s)",
                        what, msg);
  default:
    return cairn_seterr(CAIRN_ERR_DB, "store: %s: %s", what, msg);
  }
}

static int nomem(void)
{
  return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
}

static int prep(struct cairn_store *st, enum stmt_id id, sqlite3_stmt **out)
{
  *out = NULL;
  if (!st->stmts[id]) {
    int rc = sqlite3_prepare_v3(st->db, g_sql[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &st->stmts[id],
                                NULL);
    if (rc != SQLITE_OK) return db_err(st, rc, "prepare");
  }
  *out = st->stmts[id];
  return CAIRN_OK;
}

static void done(sqlite3_stmt *s)
{
  if (!s) return;
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
}

/* Binding helpers return an SQLite code (SQLITE_OK == 0) so calls chain
 * with ||. Text is bound SQLITE_STATIC: callers keep it alive until done().
 */
static int b_text(sqlite3_stmt *s, int i, const char *v)
{
  return sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

static int b_int(sqlite3_stmt *s, int i, int64_t v)
{
  return sqlite3_bind_int64(s, i, v);
}

static int b_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
  /* A zero-length blob must not be bound as NULL (NOT NULL columns). */
  if (n == 0) return sqlite3_bind_zeroblob(s, i, 0);
  return sqlite3_bind_blob64(s, i, p, (sqlite3_uint64)n, SQLITE_STATIC);
}

static int bind_failed(struct cairn_store *st, sqlite3_stmt *s)
{
  int r = db_err(st, sqlite3_errcode(st->db), "bind");
  done(s);
  return r;
}

/* Steps a statement that returns no row, then resets it. */
static int run(struct cairn_store *st, sqlite3_stmt *s, const char *what)
{
  int rc = sqlite3_step(s);
  int r = CAIRN_OK;
  if (rc == SQLITE_ROW)
    r = cairn_seterr(CAIRN_ERR_INTERNAL, "store: %s: unexpected row", what);
  else if (rc != SQLITE_DONE)
    r = db_err(st, rc, what);
  done(s);
  return r;
}

/* Steps a query: *row = 1 with a row, 0 at the end. The caller resets. */
static int next(struct cairn_store *st, sqlite3_stmt *s, const char *what,
                int *row)
{
  int rc = sqlite3_step(s);
  *row = 0;
  if (rc == SQLITE_ROW) {
    *row = 1;
    return CAIRN_OK;
  }
  if (rc == SQLITE_DONE) return CAIRN_OK;
  return db_err(st, rc, what);
}

static int exec(struct cairn_store *st, const char *sql, const char *what)
{
  int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? CAIRN_OK : db_err(st, rc, what);
}

/* Copies a text column ("" for NULL). */
static int col_str(sqlite3_stmt *s, int i, char **out)
{
  const unsigned char *t = sqlite3_column_text(s, i);
  int n = sqlite3_column_bytes(s, i);
  char *c;
  *out = NULL;
  if (!t && sqlite3_column_type(s, i) != SQLITE_NULL) return nomem();
  c = malloc((size_t)n + 1);
  if (!c) return nomem();
  if (n > 0) memcpy(c, t, (size_t)n);
  c[n] = '\0';
  *out = c;
  return CAIRN_OK;
}

/* Copies a text column into a fixed buffer, truncating at max. */
static void col_fixed(sqlite3_stmt *s, int i, char *out, size_t max)
{
  const unsigned char *t = sqlite3_column_text(s, i);
  size_t n = (size_t)sqlite3_column_bytes(s, i);
  if (!t) n = 0;
  if (n > max) n = max;
  if (n) memcpy(out, t, n);
  out[n] = '\0';
}

/* Copies a blob column; *out is never NULL on success. */
static int col_blob(sqlite3_stmt *s, int i, uint8_t **out, size_t *len)
{
  const void *p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  uint8_t *c;
  *out = NULL;
  *len = 0;
  if (!p && n > 0) return nomem();
  c = malloc((size_t)n + 1);
  if (!c) return nomem();
  if (n > 0) memcpy(c, p, (size_t)n);
  c[n] = 0;
  *out = c;
  *len = (size_t)n;
  return CAIRN_OK;
}

/* Makes room for one more element in a growing array. */
static int grow(void **arr, size_t *cap, size_t n, size_t elsize)
{
  size_t ncap;
  void *p;
  if (n < *cap) return CAIRN_OK;
  ncap = *cap ? *cap * 2 : 8;
  if (ncap < *cap || ncap > SIZE_MAX / elsize) return nomem();
  p = realloc(*arr, ncap * elsize);
  if (!p) return nomem();
  memset((char *)p + *cap * elsize, 0, (ncap - *cap) * elsize);
  *arr = p;
  *cap = ncap;
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Transactions: the outermost level is BEGIN (IMMEDIATE for writes, so
 * the busy handler waits for the write lock up front instead of failing
 * on an upgrade); inner levels are savepoints. */

static int tx_begin(struct cairn_store *st, int write)
{
  int r;
  if (st->depth == 0) {
    r = exec(st, write ? "BEGIN IMMEDIATE" : "BEGIN", "begin transaction");
    if (r) return r;
    st->top_write = write;
  } else {
    if (write && !st->top_write)
      return cairn_seterr(CAIRN_ERR_INVAL,
                          "store: cannot write inside a read transaction");
    r = exec(st, "SAVEPOINT cairn_sp", "savepoint");
    if (r) return r;
  }
  st->depth++;
  return CAIRN_OK;
}

/* Undoes the innermost level. Errors are ignored: after a failed COMMIT
 * SQLite may already have rolled back. */
static void tx_rollback(struct cairn_store *st)
{
  if (st->depth <= 0) return;
  if (st->depth == 1) {
    if (!sqlite3_get_autocommit(st->db))
      sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  } else {
    sqlite3_exec(st->db, "ROLLBACK TO cairn_sp; RELEASE cairn_sp", NULL,
                 NULL, NULL);
  }
  st->depth--;
}

static int tx_commit(struct cairn_store *st)
{
  int r = exec(st, st->depth == 1 ? "COMMIT" : "RELEASE cairn_sp",
               "commit");
  if (r) {
    tx_rollback(st);
    return r;
  }
  st->depth--;
  return CAIRN_OK;
}

/* Ends a level: commit when r is CAIRN_OK, else roll back. Returns the
 * final result. */
static int tx_end(struct cairn_store *st, int r)
{
  if (r == CAIRN_OK) return tx_commit(st);
  tx_rollback(st);
  return r;
}

int cairn_store_begin(struct cairn_store *st)
{
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  return tx_begin(st, 1);
}

int cairn_store_begin_read(struct cairn_store *st)
{
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  return tx_begin(st, 0);
}

int cairn_store_commit(struct cairn_store *st)
{
  if (!st || st->depth == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "store: commit without begin");
  return tx_commit(st);
}

int cairn_store_rollback(struct cairn_store *st)
{
  if (!st || st->depth == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "store: rollback without begin");
  tx_rollback(st);
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Input checks */

enum cclass {
  CC_NAME,   /* [A-Za-z0-9._-] */
  CC_TD,     /* [a-z0-9._-] */
  CC_PRINT,  /* no control characters */
  CC_GRAPH   /* no control characters, no space */
};

static int char_ok(enum cclass c, unsigned char ch)
{
  switch (c) {
  case CC_NAME:
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
  case CC_TD:
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
  case CC_PRINT:
    return ch >= 0x20 && ch != 0x7f;
  case CC_GRAPH:
    return ch > 0x20 && ch != 0x7f;
  }
  return 0;
}

/* Checks one text input: length (strnlen, so an unterminated huge input is
 * not walked past max + 1) and character class. */
static int check_text(const char *what, const char *s, size_t max,
                      int required, enum cclass c)
{
  size_t n = s ? strnlen(s, max + 1) : 0;
  if (n == 0) {
    if (required) return cairn_seterr(CAIRN_ERR_INVAL, "%s is empty", what);
    return CAIRN_OK;
  }
  if (n > max)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%s is longer than %zu bytes",
                        what, max);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!char_ok(c, ch))
      return cairn_seterr(CAIRN_ERR_INVAL,
                          "%s has a forbidden character (0x%02x at %zu)",
                          what, ch, i);
  }
  return CAIRN_OK;
}

/* Shape check only; SPIFFE semantics are the authority's job. */
static int check_spiffe_id(const char *what, const char *s)
{
  int r = check_text(what, s, CAIRN_STORE_ID_MAX, 1, CC_GRAPH);
  if (r) return r;
  if (strncmp(s, "spiffe://", 9) != 0 || s[9] == '\0')
    return cairn_seterr(CAIRN_ERR_INVAL, "%s \"%.64s\" is not a SPIFFE ID",
                        what, s);
  return CAIRN_OK;
}

static int check_key_text(const char *what, const char *s, size_t max)
{
  /* Keys of lookups: any bounded non-empty text (a lookup of something
   * that could never have been stored simply finds nothing). */
  return check_text(what, s, max, 1, CC_PRINT);
}

static int check_selector(const char *what, const struct cairn_selector *s)
{
  int r;
  char w[80];  /* what is at most 63 bytes (callers' buffers) */
  snprintf(w, sizeof w, "%s type", what);
  if ((r = check_text(w, s->type, CAIRN_STORE_SELECTOR_TYPE_MAX, 1,
                      CC_GRAPH)))
    return r;
  if (strchr(s->type, ':'))
    return cairn_seterr(CAIRN_ERR_INVAL, "%s type \"%s\" contains ':'", what,
                        s->type);
  snprintf(w, sizeof w, "%s value", what);
  return check_text(w, s->value, CAIRN_STORE_SELECTOR_VALUE_MAX, 1,
                    CC_PRINT);
}

static int sel_cmp(const void *a, const void *b)
{
  const struct cairn_selector *x = *(const struct cairn_selector *const *)a;
  const struct cairn_selector *y = *(const struct cairn_selector *const *)b;
  int c = strcmp(x->type, y->type);
  return c ? c : strcmp(x->value, y->value);
}

/* Validates n selectors (max of them) and returns them sorted by pointer
 * in *sorted (free()). With dedup, repeats are dropped (filters); without,
 * a repeat is CAIRN_ERR_INVAL (entries, nodes). */
static int sort_selectors(const char *what, const struct cairn_selector *s,
                          size_t n, size_t min, size_t max, int dedup,
                          const struct cairn_selector ***sorted,
                          size_t *nsorted)
{
  const struct cairn_selector **v = NULL;
  size_t k = 0;
  int r;
  *sorted = NULL;
  *nsorted = 0;
  if (n < min)
    return cairn_seterr(CAIRN_ERR_INVAL, "%s: at least %zu selector needed",
                        what, min);
  if (n > max)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%s: %zu selectors (max %zu)",
                        what, n, max);
  if (n == 0) return CAIRN_OK;
  if (!s) return cairn_seterr(CAIRN_ERR_INVAL, "%s: selectors missing", what);
  for (size_t i = 0; i < n; i++) {
    char w[64];
    snprintf(w, sizeof w, "%s: selector %zu", what, i);
    if ((r = check_selector(w, &s[i]))) return r;
  }
  v = malloc(n * sizeof *v);
  if (!v) return nomem();
  for (size_t i = 0; i < n; i++) v[i] = &s[i];
  qsort(v, n, sizeof *v, sel_cmp);
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && sel_cmp(&v[k - 1], &v[i]) == 0) {
      if (dedup) continue;
      r = cairn_seterr(CAIRN_ERR_INVAL, "%s: duplicate selector %s:%s", what,
                       v[i]->type, v[i]->value);
      free(v);
      return r;
    }
    v[k++] = v[i];
  }
  *sorted = v;
  *nsorted = k;
  return CAIRN_OK;
}

/* Checks a list of strings: count, each one, and no repeats. */
static int check_strv(const char *what, char *const *v, size_t n, size_t max,
                      size_t maxlen, enum cclass c)
{
  int r;
  if (n > max)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "%s: %zu items (max %zu)", what, n,
                        max);
  if (n && !v) return cairn_seterr(CAIRN_ERR_INVAL, "%s missing", what);
  for (size_t i = 0; i < n; i++) {
    char w[64];
    snprintf(w, sizeof w, "%s %zu", what, i);
    if ((r = check_text(w, v[i], maxlen, 1, c))) return r;
    for (size_t j = 0; j < i; j++)
      if (strcmp(v[i], v[j]) == 0)
        return cairn_seterr(CAIRN_ERR_INVAL, "%s: duplicate \"%s\"", what,
                            v[i]);
  }
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Random IDs */

static int rand_bytes(void *p, size_t n)
{
  uint8_t *b = p;
  size_t off = 0;
  while (off < n) {
    ssize_t k = getrandom(b + off, n - off, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      return cairn_seterr(CAIRN_ERR_IO, "getrandom: %s", strerror(errno));
    }
    off += (size_t)k;
  }
  return CAIRN_OK;
}

/* Random UUID version 4 in the canonical lower-case 8-4-4-4-12 form. */
static int gen_uuid(char out[CAIRN_STORE_UUID_LEN + 1])
{
  static const char hx[] = "0123456789abcdef";
  uint8_t b[16];
  size_t o = 0;
  int r = rand_bytes(b, sizeof b);
  if (r) return r;
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  for (size_t i = 0; i < sizeof b; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hx[b[i] >> 4];
    out[o++] = hx[b[i] & 15];
  }
  out[o] = '\0';
  cairn_memzero(b, sizeof b);
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Opening and migrations */

static int schema_version(struct cairn_store *st, int *v)
{
  sqlite3_stmt *s;
  int row, r;
  *v = 0;
  if ((r = prep(st, S_VERSION, &s))) return r;
  r = next(st, s, "read schema version", &row);
  if (r == CAIRN_OK && row) {
    int64_t x = sqlite3_column_int64(s, 0);
    *v = x > INT_MAX ? INT_MAX : (int)x;
  }
  done(s);
  return r;
}

/* Reads the schema version without taking the write lock (0 for a fresh
 * file). Looking the table up in sqlite_master is SQLite's catalogue; a
 * PostgreSQL backend would ask information_schema.tables. */
static int read_version(struct cairn_store *st, int *v)
{
  sqlite3_stmt *s = NULL;
  int r, rc, row = 0;
  *v = 0;
  if ((r = tx_begin(st, 0))) return r;
  rc = sqlite3_prepare_v2(st->db,
                          "SELECT COUNT(*) FROM sqlite_master WHERE "
                          "type = 'table' AND name = 'schema_version'",
                          -1, &s, NULL);
  if (rc != SQLITE_OK) {
    r = db_err(st, rc, "read schema");
    goto out;
  }
  if ((r = next(st, s, "read schema", &row))) goto out;
  if (row && sqlite3_column_int64(s, 0) > 0) r = schema_version(st, v);
out:
  sqlite3_finalize(s);
  return tx_end(st, r);
}

static int version_check(struct cairn_store *st, int cur)
{
  if (cur > CAIRN_STORE_SCHEMA_VERSION)
    return cairn_seterr(CAIRN_ERR_UNSUPPORTED,
                        "store: %s has schema version %d, newer than this "
                        "Cairn supports (%d); use a newer Cairn or restore a "
                        "backup",
                        st->path, cur, CAIRN_STORE_SCHEMA_VERSION);
  return CAIRN_OK;
}

/* Brings the schema to version target. Opening an up-to-date store only
 * reads, so it never waits for another process's write transaction; an
 * upgrade takes the write lock and re-reads the version under it, so two
 * processes opening an old file at once migrate it exactly once. */
static int migrate(struct cairn_store *st, int target)
{
  int cur = 0, from, r;
  sqlite3_stmt *ins = NULL;

  if ((r = read_version(st, &cur)) || (r = version_check(st, cur)))
    return r;
  if (cur >= target) return CAIRN_OK;

  if ((r = tx_begin(st, 1))) return r;
  r = exec(st,
           "CREATE TABLE IF NOT EXISTS schema_version ("
           " version INTEGER NOT NULL PRIMARY KEY,"
           " name TEXT NOT NULL,"
           " applied_at BIGINT NOT NULL)",
           "create schema_version");
  if (r) goto out;
  if ((r = schema_version(st, &cur)) || (r = version_check(st, cur)))
    goto out;
  from = cur;
  r = sqlite3_prepare_v2(st->db,
                         "INSERT INTO schema_version (version, name, "
                         "applied_at) VALUES (?, ?, ?)",
                         -1, &ins, NULL);
  if (r != SQLITE_OK) {
    r = db_err(st, r, "prepare");
    goto out;
  }
  r = CAIRN_OK;
  for (size_t i = 0; i < N_MIGRATIONS; i++) {
    const struct migration *m = &g_migrations[i];
    int rc;
    if (m->version <= cur || m->version > target) continue;
    rc = sqlite3_exec(st->db, m->sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
      r = cairn_seterr(CAIRN_ERR_DB, "store: %s: migration %d (%s): %s",
                       st->path, m->version, m->name,
                       sqlite3_errmsg(st->db));
      goto out;
    }
    if (b_int(ins, 1, m->version) || b_text(ins, 2, m->name) ||
        b_int(ins, 3, (int64_t)cairn_now())) {
      r = bind_failed(st, ins);
      goto out;
    }
    if ((r = run(st, ins, "record migration"))) goto out;
    cur = m->version;
  }
  if (cur != from)
    CAIRN_LOGI("store", "%s: schema upgraded from version %d to %d",
               st->path, from, cur);
  r = CAIRN_OK;
out:
  sqlite3_finalize(ins);
  return tx_end(st, r);
}

/* Creates the file 0600 if missing; refuses symlinks, non-regular files
 * and modes that let group or other in. */
static int prepare_file(const char *path)
{
  struct stat sb;
  char *dir = NULL, *slash;
  int r = CAIRN_ERR_INTERNAL;

  dir = cairn_strdup(path);
  if (!dir) return nomem();
  slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else strcpy(dir, ".");
  if (stat(dir, &sb) != 0) {
    r = errno == ENOENT
            ? cairn_seterr(CAIRN_ERR_NOT_FOUND,
                           "store: data directory %s does not exist", dir)
            : cairn_seterr(CAIRN_ERR_IO, "store: %s: %s", dir,
                           strerror(errno));
    goto out;
  }
  if (!S_ISDIR(sb.st_mode)) {
    r = cairn_seterr(CAIRN_ERR_IO, "store: %s is not a directory", dir);
    goto out;
  }
  for (int tries = 0;; tries++) {
    if (lstat(path, &sb) == 0) break;
    if (errno != ENOENT || tries > 0) {
      r = cairn_seterr(CAIRN_ERR_IO, "store: %s: %s", path, strerror(errno));
      goto out;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    if (fd < 0 && errno != EEXIST) {
      r = cairn_seterr(CAIRN_ERR_IO, "store: cannot create %s: %s", path,
                       strerror(errno));
      goto out;
    }
    if (fd >= 0) {
      /* The umask may have removed bits, never added them; be exact. */
      if (fchmod(fd, 0600) != 0) {
        r = cairn_seterr(CAIRN_ERR_IO, "store: chmod %s: %s", path,
                         strerror(errno));
        close(fd);
        goto out;
      }
      close(fd);
    }
  }
  if (S_ISLNK(sb.st_mode)) {
    r = cairn_seterr(CAIRN_ERR_PERM, "store: %s is a symbolic link", path);
    goto out;
  }
  if (!S_ISREG(sb.st_mode)) {
    r = cairn_seterr(CAIRN_ERR_PERM, "store: %s is not a regular file", path);
    goto out;
  }
  if (sb.st_mode & 077) {
    r = cairn_seterr(CAIRN_ERR_PERM,
                     "store: %s has mode %04o; it holds join tokens and "
                     "must not be accessible by group or other (chmod 600)",
                     path, (unsigned)(sb.st_mode & 07777));
    goto out;
  }
  r = CAIRN_OK;
out:
  free(dir);
  return r;
}

static int store_open(const char *path, int target, struct cairn_store **out)
{
  struct cairn_store *st = NULL;
  sqlite3_stmt *s = NULL;
  int r = CAIRN_ERR_INTERNAL, rc;

  *out = NULL;
  if (!path || !*path)
    return cairn_seterr(CAIRN_ERR_INVAL, "store: no database path");
  if (strnlen(path, PATH_MAX) >= PATH_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "store: database path too long");
  if ((r = prepare_file(path))) return r;

  st = calloc(1, sizeof *st);
  if (!st) return nomem();
  st->busy_ms = BUSY_DEFAULT_MS;
  st->path = cairn_strdup(path);
  if (!st->path) {
    r = nomem();
    goto out;
  }
  rc = sqlite3_open_v2(path, &st->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                           SQLITE_OPEN_NOFOLLOW,
                       NULL);
  if (rc != SQLITE_OK) {
    r = db_err(st, rc, "open");
    goto out;
  }
  sqlite3_extended_result_codes(st->db, 1);
  sqlite3_busy_timeout(st->db, st->busy_ms);
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);

  /* WAL persists in the file; check that it took (it cannot on some
   * file systems). */
  rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
  if (rc != SQLITE_OK) {
    r = db_err(st, rc, "set WAL mode");
    goto out;
  }
  /* Switching a fresh file to WAL while another process does the same can
   * return SQLITE_BUSY without consulting the busy handler (SQLite avoids
   * a deadlock there), so retry by hand within the busy timeout. */
  for (int waited = 0;; waited += 10) {
    rc = sqlite3_step(s);
    if ((rc & 0xff) != SQLITE_BUSY || waited >= st->busy_ms) break;
    sqlite3_reset(s);
    usleep(10 * 1000);
  }
  if (rc != SQLITE_ROW) {
    r = db_err(st, rc, "set WAL mode");
    goto out;
  }
  {
    const char *mode = (const char *)sqlite3_column_text(s, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
      r = cairn_seterr(CAIRN_ERR_DB, "store: %s: journal mode is %s, not wal",
                       path, mode ? mode : "?");
      goto out;
    }
  }
  sqlite3_finalize(s);
  s = NULL;
  if ((r = exec(st, "PRAGMA synchronous=NORMAL", "set synchronous")) ||
      (r = exec(st, "PRAGMA foreign_keys=ON", "enable foreign keys")))
    goto out;
  if ((r = migrate(st, target))) goto out;

  *out = st;
  st = NULL; /* handed over */
  r = CAIRN_OK;
out:
  sqlite3_finalize(s);
  cairn_store_close(st);
  return r;
}

int cairn_store_open(const char *path, struct cairn_store **out)
{
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "store: no out parameter");
  return store_open(path, CAIRN_STORE_SCHEMA_VERSION, out);
}

int cairn__store_open_version(const char *path, int version,
                              struct cairn_store **out)
{
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "store: no out parameter");
  *out = NULL;
  if (version < 1 || version > CAIRN_STORE_SCHEMA_VERSION)
    return cairn_seterr(CAIRN_ERR_INVAL, "store: no schema version %d",
                        version);
  return store_open(path, version, out);
}

void cairn_store_close(struct cairn_store *st)
{
  if (!st) return;
  if (st->db) {
    while (st->depth > 0) tx_rollback(st);
    for (int i = 0; i < S__COUNT; i++) sqlite3_finalize(st->stmts[i]);
    if (sqlite3_close(st->db) != SQLITE_OK)
      CAIRN_LOGW("store", "%s: close: %s", st->path ? st->path : "?",
                 sqlite3_errmsg(st->db));
  }
  free(st->path);
  free(st);
}

int cairn_store_set_busy_timeout(struct cairn_store *st, int ms)
{
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if (ms < 0 || ms > BUSY_MAX_MS)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "store: busy timeout %d ms out of range 0..%d", ms,
                        BUSY_MAX_MS);
  st->busy_ms = ms;
  sqlite3_busy_timeout(st->db, ms);
  return CAIRN_OK;
}

int cairn_store_schema_version(struct cairn_store *st, int *version)
{
  if (!st || !version) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  return schema_version(st, version);
}

/* ------------------------------------------------------------------ */
/* Counters (revisions, journal IDs, outbox sequence) */

static int counter_get(struct cairn_store *st, const char *name, int64_t *v)
{
  sqlite3_stmt *s;
  int r, row;
  *v = 0;
  if ((r = prep(st, S_COUNTER_GET, &s))) return r;
  if (b_text(s, 1, name)) return bind_failed(st, s);
  r = next(st, s, "read counter", &row);
  if (r == CAIRN_OK && !row)
    r = cairn_seterr(CAIRN_ERR_DB, "store: counter %s missing", name);
  if (r == CAIRN_OK) *v = sqlite3_column_int64(s, 0);
  done(s);
  return r;
}

static int counter_set(struct cairn_store *st, const char *name, int64_t v)
{
  sqlite3_stmt *s;
  int r;
  if ((r = prep(st, S_COUNTER_SET, &s))) return r;
  if (b_int(s, 1, v) || b_text(s, 2, name)) return bind_failed(st, s);
  return run(st, s, "set counter");
}

/* Must run inside a write transaction. */
static int counter_next(struct cairn_store *st, const char *name, int64_t *v)
{
  sqlite3_stmt *s;
  int r;
  *v = 0;
  if ((r = prep(st, S_COUNTER_BUMP, &s))) return r;
  if (b_text(s, 1, name)) return bind_failed(st, s);
  if ((r = run(st, s, "bump counter"))) return r;
  if (sqlite3_changes(st->db) != 1)
    return cairn_seterr(CAIRN_ERR_DB, "store: counter %s missing", name);
  return counter_get(st, name, v);
}

/* Runs a one-parameter text statement (deletes, bans) and reports how many
 * rows it changed. */
static int run_key(struct cairn_store *st, enum stmt_id id, const char *key,
                   const char *what, int *changed)
{
  sqlite3_stmt *s;
  int r;
  *changed = 0;
  if ((r = prep(st, id, &s))) return r;
  if (b_text(s, 1, key)) return bind_failed(st, s);
  if ((r = run(st, s, what))) return r;
  *changed = sqlite3_changes(st->db);
  return CAIRN_OK;
}

static int run_int(struct cairn_store *st, enum stmt_id id, int64_t v,
                   const char *what, size_t *changed)
{
  sqlite3_stmt *s;
  int r;
  if (changed) *changed = 0;
  if ((r = prep(st, id, &s))) return r;
  if (b_int(s, 1, v)) return bind_failed(st, s);
  if ((r = run(st, s, what))) return r;
  if (changed) *changed = (size_t)sqlite3_changes(st->db);
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Freeing */

static void selectors_free(struct cairn_selector *s, size_t n)
{
  if (!s) return;
  for (size_t i = 0; i < n; i++) {
    free(s[i].type);
    free(s[i].value);
  }
  free(s);
}

void cairn_store_strv_free(char **v, size_t n)
{
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

void cairn_entry_clear(struct cairn_entry *e)
{
  if (!e) return;
  free(e->entry_id);
  free(e->spiffe_id);
  free(e->parent_id);
  selectors_free(e->selectors, e->n_selectors);
  cairn_store_strv_free(e->dns_names, e->n_dns_names);
  cairn_store_strv_free(e->federates_with, e->n_federates_with);
  free(e->hint);
  free(e->owner);
  free(e->scope);
  memset(e, 0, sizeof *e);
}

void cairn_entry_free(struct cairn_entry *e)
{
  cairn_entry_clear(e);
  free(e);
}

void cairn_entry_array_free(struct cairn_entry *a, size_t n)
{
  if (!a) return;
  for (size_t i = 0; i < n; i++) cairn_entry_clear(&a[i]);
  free(a);
}

void cairn_tombstone_array_free(struct cairn_tombstone *a, size_t n)
{
  if (!a) return;
  for (size_t i = 0; i < n; i++) {
    free(a[i].entry_id);
    free(a[i].owner);
    free(a[i].spiffe_id);
    free(a[i].parent_id);
  }
  free(a);
}

void cairn_entry_delta_free(struct cairn_entry_delta *d)
{
  if (!d) return;
  cairn_entry_array_free(d->entries, d->n_entries);
  cairn_tombstone_array_free(d->removed, d->n_removed);
  free(d);
}

void cairn_node_clear(struct cairn_node *n)
{
  if (!n) return;
  free(n->spiffe_id);
  free(n->attestation_type);
  selectors_free(n->selectors, n->n_selectors);
  free(n->cert_serial);
  memset(n, 0, sizeof *n);
}

void cairn_node_free(struct cairn_node *n)
{
  cairn_node_clear(n);
  free(n);
}

void cairn_node_array_free(struct cairn_node *a, size_t n)
{
  if (!a) return;
  for (size_t i = 0; i < n; i++) cairn_node_clear(&a[i]);
  free(a);
}

static void token_clear(struct cairn_join_token *t)
{
  free(t->spiffe_id);
  cairn_memzero(t, sizeof *t);
}

void cairn_join_token_free(struct cairn_join_token *t)
{
  if (!t) return;
  token_clear(t);
  free(t);
}

void cairn_join_token_array_free(struct cairn_join_token *a, size_t n)
{
  if (!a) return;
  for (size_t i = 0; i < n; i++) token_clear(&a[i]);
  free(a);
}

void cairn_journal_slot_array_free(struct cairn_journal_slot *a, size_t n)
{
  if (!a) return;
  for (size_t i = 0; i < n; i++) {
    free(a[i].slot_id);
    free(a[i].chain);
    free(a[i].public_key);
    free(a[i].key_ref);
    free(a[i].kid);
  }
  free(a);
}

void cairn_outbox_array_free(struct cairn_outbox_rec *a, size_t n)
{
  if (!a) return;
  for (size_t i = 0; i < n; i++) {
    free(a[i].kind);
    free(a[i].payload);
  }
  free(a);
}

/* ------------------------------------------------------------------ */
/* Loading child rows */

/* Selector rows (type, value) of one entry or node. */
static int load_selectors(struct cairn_store *st, enum stmt_id id,
                          const char *key, struct cairn_selector **out,
                          size_t *n)
{
  struct cairn_selector *v = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s;
  int r, row;
  *out = NULL;
  *n = 0;
  if ((r = prep(st, id, &s))) return r;
  if (b_text(s, 1, key)) return bind_failed(st, s);
  for (;;) {
    if ((r = next(st, s, "read selectors", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    if ((r = col_str(s, 0, &v[k].type)) || (r = col_str(s, 1, &v[k].value))) {
      k++;
      break;
    }
    k++;
  }
  done(s);
  if (r) {
    selectors_free(v, k);
    return r;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

/* One-column text rows of one entry (DNS names, trust domains). */
static int load_strv(struct cairn_store *st, enum stmt_id id,
                     const char *key, char ***out, size_t *n)
{
  char **v = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s;
  int r, row;
  *out = NULL;
  *n = 0;
  if ((r = prep(st, id, &s))) return r;
  if (b_text(s, 1, key)) return bind_failed(st, s);
  for (;;) {
    if ((r = next(st, s, "read list", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    if ((r = col_str(s, 0, &v[k]))) break;
    k++;
  }
  done(s);
  if (r) {
    cairn_store_strv_free(v, k);
    return r;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

static int insert_selectors(struct cairn_store *st, enum stmt_id id,
                            const char *key,
                            const struct cairn_selector *const *sel,
                            size_t n)
{
  sqlite3_stmt *s;
  int r;
  if ((r = prep(st, id, &s))) return r;
  for (size_t i = 0; i < n; i++) {
    if (b_text(s, 1, key) || b_text(s, 2, sel[i]->type) ||
        b_text(s, 3, sel[i]->value))
      return bind_failed(st, s);
    if ((r = run(st, s, "insert selector"))) return r;
  }
  return CAIRN_OK;
}

static int insert_strv(struct cairn_store *st, enum stmt_id id,
                       const char *key, char *const *v, size_t n)
{
  sqlite3_stmt *s;
  int r;
  if ((r = prep(st, id, &s))) return r;
  for (size_t i = 0; i < n; i++) {
    if (b_text(s, 1, key) || b_int(s, 2, (int64_t)i) || b_text(s, 3, v[i]))
      return bind_failed(st, s);
    if ((r = run(st, s, "insert list item"))) return r;
  }
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Entries */

/* Fills e from a row of ENTRY_COLS (starting at column 0) and loads its
 * selectors, DNS names and trust domains. */
static int entry_from_row(struct cairn_store *st, sqlite3_stmt *s,
                          struct cairn_entry *e)
{
  int r;
  memset(e, 0, sizeof *e);
  if ((r = col_str(s, 0, &e->entry_id)) || (r = col_str(s, 1, &e->spiffe_id)) ||
      (r = col_str(s, 2, &e->parent_id)) || (r = col_str(s, 8, &e->hint)) ||
      (r = col_str(s, 9, &e->owner)) || (r = col_str(s, 10, &e->scope)))
    goto fail;
  e->x509_svid_ttl = (int32_t)sqlite3_column_int64(s, 3);
  e->jwt_svid_ttl = (int32_t)sqlite3_column_int64(s, 4);
  e->admin = sqlite3_column_int64(s, 5) != 0;
  e->downstream = sqlite3_column_int64(s, 6) != 0;
  e->expires_at = sqlite3_column_int64(s, 7);
  e->revision = sqlite3_column_int64(s, 11);
  e->created_at = sqlite3_column_int64(s, 12);
  if ((r = load_selectors(st, S_ESEL_GET, e->entry_id, &e->selectors,
                          &e->n_selectors)) ||
      (r = load_strv(st, S_DNS_GET, e->entry_id, &e->dns_names,
                     &e->n_dns_names)) ||
      (r = load_strv(st, S_FED_GET, e->entry_id, &e->federates_with,
                     &e->n_federates_with)))
    goto fail;
  return CAIRN_OK;
fail:
  cairn_entry_clear(e);
  return r;
}

/* Loads entry id into *e (CAIRN_ERR_NOT_FOUND if absent). */
static int entry_load(struct cairn_store *st, const char *id,
                      struct cairn_entry *e)
{
  sqlite3_stmt *s;
  int r, row;
  memset(e, 0, sizeof *e);
  if ((r = prep(st, S_ENTRY_GET, &s))) return r;
  if (b_text(s, 1, id)) return bind_failed(st, s);
  r = next(st, s, "read entry", &row);
  if (r == CAIRN_OK && !row)
    r = cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no entry with id %s", id);
  /* entry_from_row uses other statements only, so s stays positioned. */
  if (r == CAIRN_OK) r = entry_from_row(st, s, e);
  done(s);
  return r;
}

/* Validated entry input plus what is derived from it. */
struct entry_in {
  const struct cairn_entry *e;
  const struct cairn_selector **sel;  /* sorted */
  size_t nsel;
  char key[2 * WC_SHA256_DIGEST_SIZE + 1];  /* dedup key, hex */
};

static void entry_in_clear(struct entry_in *ei)
{
  free(ei->sel);
  memset(ei, 0, sizeof *ei);
}

static int hash_field(wc_Sha256 *h, const char *p)
{
  size_t n = strlen(p);
  uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
  if (wc_Sha256Update(h, len, sizeof len) != 0 ||
      wc_Sha256Update(h, (const uint8_t *)p, (word32)n) != 0)
    return cairn_seterr(CAIRN_ERR_CRYPTO, "store: SHA-256 update failed");
  return CAIRN_OK;
}

/* The duplicate-detection key: SHA-256 over spiffe_id, parent_id and the
 * sorted selector set, each field length-prefixed so that no two different
 * inputs share an encoding. A UNIQUE index on it makes duplicates
 * impossible whatever the caller does. */
static int entry_dedup_key(struct entry_in *ei)
{
  wc_Sha256 h;
  uint8_t d[WC_SHA256_DIGEST_SIZE];
  int r = CAIRN_OK;
  if (wc_InitSha256(&h) != 0)
    return cairn_seterr(CAIRN_ERR_CRYPTO, "store: SHA-256 init failed");
  if ((r = hash_field(&h, "cairn-entry-v1")) ||
      (r = hash_field(&h, ei->e->spiffe_id)) ||
      (r = hash_field(&h, ei->e->parent_id)))
    goto out;
  for (size_t i = 0; i < ei->nsel; i++)
    if ((r = hash_field(&h, ei->sel[i]->type)) ||
        (r = hash_field(&h, ei->sel[i]->value)))
      goto out;
  if (wc_Sha256Final(&h, d) != 0) {
    r = cairn_seterr(CAIRN_ERR_CRYPTO, "store: SHA-256 final failed");
    goto out;
  }
  cairn_hex(d, sizeof d, ei->key);
out:
  wc_Sha256Free(&h);
  return r;
}

/* Validates an entry for create (need_id = 0) or update (need_id = 1). */
static int entry_check(const struct cairn_entry *e, int need_id,
                       struct entry_in *ei)
{
  int r;
  memset(ei, 0, sizeof *ei);
  if (!e) return cairn_seterr(CAIRN_ERR_INVAL, "store: no entry");
  ei->e = e;
  if ((r = check_text("entry_id", e->entry_id, CAIRN_STORE_ENTRY_ID_MAX,
                      need_id, CC_NAME)) ||
      (r = check_spiffe_id("spiffe_id", e->spiffe_id)) ||
      (r = check_spiffe_id("parent_id", e->parent_id)))
    return r;
  if (e->x509_svid_ttl < 0 || e->jwt_svid_ttl < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry TTLs must not be negative");
  if (e->expires_at < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry expires_at is negative");
  if (e->revision < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "entry revision is negative");
  if ((r = check_strv("dns_names", e->dns_names, e->n_dns_names,
                      CAIRN_STORE_DNS_MAX, CAIRN_STORE_DNS_NAME_MAX,
                      CC_GRAPH)) ||
      (r = check_strv("federates_with", e->federates_with,
                      e->n_federates_with, CAIRN_STORE_FEDERATES_MAX,
                      CAIRN_STORE_TD_MAX, CC_TD)) ||
      (r = check_text("hint", e->hint, CAIRN_STORE_HINT_MAX, 0, CC_PRINT)) ||
      (r = check_text("owner", e->owner, CAIRN_STORE_NAME_MAX, 1, CC_NAME)) ||
      (r = check_text("scope", e->scope, CAIRN_STORE_ID_MAX, 0, CC_GRAPH)))
    return r;
  if (e->scope && e->scope[0]) {
    if (cairn_scope_validate(e->scope) != CAIRN_OK)
      return cairn_seterr(CAIRN_ERR_INVAL, "scope \"%.64s\": %s", e->scope,
                          cairn_errdetail());
    if (!e->downstream)
      return cairn_seterr(CAIRN_ERR_INVAL,
                          "scope is only for downstream entries");
  }
  if ((r = sort_selectors("entry", e->selectors, e->n_selectors, 1,
                          CAIRN_STORE_SELECTORS_MAX, 0, &ei->sel, &ei->nsel)))
    return r;
  if ((r = entry_dedup_key(ei))) {
    entry_in_clear(ei);
    return r;
  }
  return CAIRN_OK;
}

struct entry_meta {
  int64_t revision;
  char *owner, *spiffe_id, *parent_id;
};

static void entry_meta_clear(struct entry_meta *m)
{
  free(m->owner);
  free(m->spiffe_id);
  free(m->parent_id);
  memset(m, 0, sizeof *m);
}

/* *found = 0 when the entry does not exist. */
static int entry_meta(struct cairn_store *st, const char *id,
                      struct entry_meta *m, int *found)
{
  sqlite3_stmt *s;
  int r, row;
  memset(m, 0, sizeof *m);
  *found = 0;
  if ((r = prep(st, S_ENTRY_META, &s))) return r;
  if (b_text(s, 1, id)) return bind_failed(st, s);
  r = next(st, s, "read entry", &row);
  if (r == CAIRN_OK && row) {
    m->revision = sqlite3_column_int64(s, 0);
    if ((r = col_str(s, 1, &m->owner)) || (r = col_str(s, 2, &m->spiffe_id)) ||
        (r = col_str(s, 3, &m->parent_id)))
      entry_meta_clear(m);
    else
      *found = 1;
  }
  done(s);
  return r;
}

/* The ID of the entry holding dedup key `key`, if any (into out). */
static int entry_by_key(struct cairn_store *st, const char *key, char **out)
{
  sqlite3_stmt *s;
  int r, row;
  *out = NULL;
  if ((r = prep(st, S_ENTRY_BY_KEY, &s))) return r;
  if (b_text(s, 1, key)) return bind_failed(st, s);
  r = next(st, s, "find duplicate", &row);
  if (r == CAIRN_OK && row) r = col_str(s, 0, out);
  done(s);
  return r;
}

static int entry_children(struct cairn_store *st, const char *id,
                          const struct entry_in *ei, int replace)
{
  int r, ch;
  if (replace &&
      ((r = run_key(st, S_ESEL_DELETE, id, "replace selectors", &ch)) ||
       (r = run_key(st, S_DNS_DELETE, id, "replace DNS names", &ch)) ||
       (r = run_key(st, S_FED_DELETE, id, "replace federates_with", &ch))))
    return r;
  if ((r = insert_selectors(st, S_ESEL_INSERT, id, ei->sel, ei->nsel)) ||
      (r = insert_strv(st, S_DNS_INSERT, id, ei->e->dns_names,
                       ei->e->n_dns_names)) ||
      (r = insert_strv(st, S_FED_INSERT, id, ei->e->federates_with,
                       ei->e->n_federates_with)))
    return r;
  return CAIRN_OK;
}

/* Creates one validated entry; runs inside a write transaction. If out is
 * non-NULL the stored entry is loaded into it. */
static int entry_create_one(struct cairn_store *st, const struct entry_in *ei,
                            struct cairn_entry *out)
{
  const struct cairn_entry *e = ei->e;
  char genid[CAIRN_STORE_UUID_LEN + 1];
  const char *id = e->entry_id;
  char *dup = NULL;
  struct entry_meta m;
  sqlite3_stmt *s;
  int64_t rev, now = (int64_t)cairn_now();
  int r, found, ch;

  if (id && *id) {
    if ((r = entry_meta(st, id, &m, &found))) return r;
    entry_meta_clear(&m);
    if (found)
      return cairn_seterr(CAIRN_ERR_EXISTS, "entry id %s already exists", id);
  } else {
    if ((r = gen_uuid(genid))) return r;
    id = genid;
  }
  if ((r = entry_by_key(st, ei->key, &dup))) return r;
  if (dup) {
    r = cairn_seterr(CAIRN_ERR_EXISTS,
                     "an entry with the same SPIFFE ID, parent ID and "
                     "selectors already exists (id %s)",
                     dup);
    free(dup);
    return r;
  }
  if ((r = counter_next(st, "entries_revision", &rev))) return r;
  if ((r = prep(st, S_ENTRY_INSERT, &s))) return r;
  if (b_text(s, 1, id) || b_text(s, 2, e->spiffe_id) ||
      b_text(s, 3, e->parent_id) || b_int(s, 4, e->x509_svid_ttl) ||
      b_int(s, 5, e->jwt_svid_ttl) || b_int(s, 6, e->admin ? 1 : 0) ||
      b_int(s, 7, e->downstream ? 1 : 0) || b_int(s, 8, e->expires_at) ||
      b_text(s, 9, e->hint) || b_text(s, 10, e->owner) ||
      b_text(s, 11, e->scope) || b_int(s, 12, rev) || b_int(s, 13, now) ||
      b_text(s, 14, ei->key))
    return bind_failed(st, s);
  if ((r = run(st, s, "insert entry"))) return r;
  if ((r = entry_children(st, id, ei, 0))) return r;
  /* A re-created ID is an upsert for delta readers, not a removal. */
  if ((r = run_key(st, S_TOMB_DELETE, id, "drop tombstone", &ch))) return r;
  if (out) return entry_load(st, id, out);
  return CAIRN_OK;
}

int cairn_store_entry_create(struct cairn_store *st,
                             const struct cairn_entry *in,
                             struct cairn_entry **out)
{
  struct entry_in ei;
  struct cairn_entry *res = NULL;
  int r;
  if (out) *out = NULL;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = entry_check(in, 0, &ei))) return r;
  if (out && !(res = calloc(1, sizeof *res))) {
    entry_in_clear(&ei);
    return nomem();
  }
  if ((r = tx_begin(st, 1)) == CAIRN_OK)
    r = tx_end(st, entry_create_one(st, &ei, res));
  entry_in_clear(&ei);
  if (r) {
    cairn_entry_free(res);
    return r;
  }
  if (out) *out = res;
  return CAIRN_OK;
}

/* Prefixes the current error detail with "entry <i>: ". */
static int entry_err(int r, size_t i)
{
  char d[512];
  snprintf(d, sizeof d, "%s", cairn_errdetail());
  return cairn_seterr(r, "entry %zu: %s", i, d);
}

int cairn_store_entry_batch_create(struct cairn_store *st,
                                   const struct cairn_entry *in, size_t n,
                                   struct cairn_entry **out, size_t *failed)
{
  struct cairn_entry *res = NULL;
  struct entry_in ei;
  size_t i = 0;
  int r;
  if (out) *out = NULL;
  if (failed) *failed = n;
  if (!st || (n && !in))
    return cairn_seterr(CAIRN_ERR_INVAL, "store: bad batch arguments");
  if (n > CAIRN_STORE_BATCH_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "batch of %zu entries (max %d)", n,
                        CAIRN_STORE_BATCH_MAX);
  if (out && n && !(res = calloc(n, sizeof *res))) return nomem();
  if ((r = tx_begin(st, 1))) goto out;
  for (i = 0; i < n; i++) {
    if ((r = entry_check(&in[i], 0, &ei))) break;
    r = entry_create_one(st, &ei, res ? &res[i] : NULL);
    entry_in_clear(&ei);
    if (r) break;
  }
  if (r) {
    r = entry_err(r, i);
    if (failed) *failed = i;
  }
  r = tx_end(st, r);
out:
  if (r) {
    cairn_entry_array_free(res, n);
    return r;
  }
  if (out) *out = res;
  return CAIRN_OK;
}

static int entry_update_tx(struct cairn_store *st, const struct entry_in *ei,
                           struct cairn_entry *out)
{
  const struct cairn_entry *e = ei->e;
  struct entry_meta m;
  char *dup = NULL;
  sqlite3_stmt *s;
  int64_t rev;
  int r, found;

  if ((r = entry_meta(st, e->entry_id, &m, &found))) return r;
  if (!found)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no entry with id %s",
                        e->entry_id);
  if (e->revision && e->revision != m.revision) {
    r = cairn_seterr(CAIRN_ERR_EXISTS,
                     "entry %s changed concurrently (revision %lld, "
                     "expected %lld)",
                     e->entry_id, (long long)m.revision,
                     (long long)e->revision);
    entry_meta_clear(&m);
    return r;
  }
  if (strcmp(m.owner, e->owner) != 0) {
    r = cairn_seterr(CAIRN_ERR_POLICY,
                     "entry %s is owned by %s; its owner cannot change",
                     e->entry_id, m.owner);
    entry_meta_clear(&m);
    return r;
  }
  entry_meta_clear(&m);
  if ((r = entry_by_key(st, ei->key, &dup))) return r;
  if (dup && strcmp(dup, e->entry_id) != 0) {
    r = cairn_seterr(CAIRN_ERR_EXISTS,
                     "an entry with the same SPIFFE ID, parent ID and "
                     "selectors already exists (id %s)",
                     dup);
    free(dup);
    return r;
  }
  free(dup);
  if ((r = counter_next(st, "entries_revision", &rev))) return r;
  if ((r = prep(st, S_ENTRY_UPDATE, &s))) return r;
  if (b_text(s, 1, e->spiffe_id) || b_text(s, 2, e->parent_id) ||
      b_int(s, 3, e->x509_svid_ttl) || b_int(s, 4, e->jwt_svid_ttl) ||
      b_int(s, 5, e->admin ? 1 : 0) || b_int(s, 6, e->downstream ? 1 : 0) ||
      b_int(s, 7, e->expires_at) || b_text(s, 8, e->hint) ||
      b_text(s, 9, e->scope) || b_int(s, 10, rev) || b_text(s, 11, ei->key) ||
      b_text(s, 12, e->entry_id))
    return bind_failed(st, s);
  if ((r = run(st, s, "update entry"))) return r;
  if ((r = entry_children(st, e->entry_id, ei, 1))) return r;
  if (out) return entry_load(st, e->entry_id, out);
  return CAIRN_OK;
}

int cairn_store_entry_update(struct cairn_store *st,
                             const struct cairn_entry *in,
                             struct cairn_entry **out)
{
  struct entry_in ei;
  struct cairn_entry *res = NULL;
  int r;
  if (out) *out = NULL;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = entry_check(in, 1, &ei))) return r;
  if (out && !(res = calloc(1, sizeof *res))) {
    entry_in_clear(&ei);
    return nomem();
  }
  if ((r = tx_begin(st, 1)) == CAIRN_OK)
    r = tx_end(st, entry_update_tx(st, &ei, res));
  entry_in_clear(&ei);
  if (r) {
    cairn_entry_free(res);
    return r;
  }
  if (out) *out = res;
  return CAIRN_OK;
}

/* Deletes one entry and writes its tombstone; inside a write transaction. */
static int entry_delete_tx(struct cairn_store *st, const char *id,
                           int64_t *revision)
{
  struct entry_meta m;
  sqlite3_stmt *s;
  int64_t rev;
  int r, found, ch;

  if ((r = entry_meta(st, id, &m, &found))) return r;
  if (!found)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no entry with id %s", id);
  if ((r = counter_next(st, "entries_revision", &rev))) goto out;
  if ((r = run_key(st, S_ENTRY_DELETE, id, "delete entry", &ch))) goto out;
  if ((r = run_key(st, S_TOMB_DELETE, id, "drop tombstone", &ch))) goto out;
  if ((r = prep(st, S_TOMB_INSERT, &s))) goto out;
  if (b_text(s, 1, id) || b_int(s, 2, rev) || b_text(s, 3, m.owner) ||
      b_text(s, 4, m.spiffe_id) || b_text(s, 5, m.parent_id)) {
    r = bind_failed(st, s);
    goto out;
  }
  if ((r = run(st, s, "insert tombstone"))) goto out;
  if (revision) *revision = rev;
  r = CAIRN_OK;
out:
  entry_meta_clear(&m);
  return r;
}

int cairn_store_entry_delete(struct cairn_store *st, const char *entry_id,
                             int64_t *revision)
{
  int r;
  if (revision) *revision = 0;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_key_text("entry_id", entry_id, CAIRN_STORE_ENTRY_ID_MAX)))
    return r;
  if ((r = tx_begin(st, 1))) return r;
  return tx_end(st, entry_delete_tx(st, entry_id, revision));
}

int cairn_store_entry_get(struct cairn_store *st, const char *entry_id,
                          struct cairn_entry **out)
{
  struct cairn_entry *e;
  int r;
  if (out) *out = NULL;
  if (!st || !out) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = check_key_text("entry_id", entry_id, CAIRN_STORE_ENTRY_ID_MAX)))
    return r;
  if (!(e = calloc(1, sizeof *e))) return nomem();
  if ((r = tx_begin(st, 0)) == CAIRN_OK)
    r = tx_end(st, entry_load(st, entry_id, e));
  if (r) {
    free(e);
    return r;
  }
  *out = e;
  return CAIRN_OK;
}

/* ---- entry queries built from a filter ---- */

struct entry_query {
  const struct cairn_entry_filter *f;
  const struct cairn_selector **sel;  /* filter selectors, sorted, unique */
  size_t nsel;
};

static int query_init(struct entry_query *q,
                      const struct cairn_entry_filter *f)
{
  static const struct cairn_entry_filter none;
  int r;
  memset(q, 0, sizeof *q);
  q->f = f ? f : &none;
  f = q->f;
  if ((f->parent_id &&
       (r = check_key_text("filter parent_id", f->parent_id,
                           CAIRN_STORE_ID_MAX))) ||
      (f->spiffe_id &&
       (r = check_key_text("filter spiffe_id", f->spiffe_id,
                           CAIRN_STORE_ID_MAX))) ||
      (f->owner && (r = check_key_text("filter owner", f->owner,
                                       CAIRN_STORE_NAME_MAX))) ||
      (f->after_id && (r = check_text("filter after_id", f->after_id,
                                      CAIRN_STORE_ENTRY_ID_MAX, 0,
                                      CC_PRINT))))
    return r;
  if (f->since_revision < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "filter since_revision is negative");
  if (f->match > CAIRN_MATCH_ANY)
    return cairn_seterr(CAIRN_ERR_INVAL, "filter: unknown selector match %d",
                        (int)f->match);
#if SIZE_MAX > INT64_MAX  /* a size_t always fits on 32-bit targets */
  if (f->limit > INT64_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "filter limit too large");
#endif
  return sort_selectors("filter", f->selectors, f->n_selectors, 0,
                        CAIRN_STORE_FILTER_SELECTORS_MAX, 1, &q->sel,
                        &q->nsel);
}

/* Appends "(s.type = ? AND s.value = ?) OR ..." for the filter set. */
static int sql_in_set(struct cairn_buf *b, size_t n)
{
  int r = cairn_buf_puts(b, "(");
  for (size_t i = 0; i < n && !r; i++)
    r = cairn_buf_puts(b, i ? " OR (s.type = ? AND s.value = ?)"
                            : "(s.type = ? AND s.value = ?)");
  if (!r) r = cairn_buf_puts(b, ")");
  return r;
}

/* The WHERE clause (after "WHERE 1 = 1") of an entry query. With b set it
 * appends SQL; with s set it binds the parameters, from *ix on, in the same
 * order. One function for both keeps placeholders and values in step. */
static int query_where(const struct entry_query *q, struct cairn_buf *b,
                       sqlite3_stmt *s, int *ix, int paging, int revision)
{
  const struct cairn_entry_filter *f = q->f;
  int r = CAIRN_OK;
#define CLAUSE(cond, sql, bindcall)                                       \
  do {                                                                    \
    if (!(cond)) break;                                                   \
    if (b && (r = cairn_buf_puts(b, sql))) return r;                      \
    if (s && (bindcall)) return SQLITE_ERROR;                             \
  } while (0)
  CLAUSE(f->parent_id, " AND e.parent_id = ?", b_text(s, (*ix)++, f->parent_id));
  CLAUSE(f->spiffe_id, " AND e.spiffe_id = ?", b_text(s, (*ix)++, f->spiffe_id));
  CLAUSE(f->owner, " AND e.owner = ?", b_text(s, (*ix)++, f->owner));
  CLAUSE(revision && f->since_revision > 0, " AND e.revision > ?",
         b_int(s, (*ix)++, f->since_revision));
  CLAUSE(paging && f->after_id, " AND e.entry_id > ?",
         b_text(s, (*ix)++, f->after_id));
#undef CLAUSE
  if (q->nsel == 0) return CAIRN_OK;
  /* SUBSET: no selector of the entry lies outside the set. SUPERSET: as
   * many of the entry's selectors lie in the set as the set has (the set
   * is deduplicated). EXACT: both. ANY: at least one lies in the set. */
  for (int pass = 0; pass < 2; pass++) {
    int outside = 0, count = 0, any = 0;
    const char *pre;
    switch (f->match) {
    case CAIRN_MATCH_SUBSET: outside = pass == 0; break;
    case CAIRN_MATCH_EXACT: outside = pass == 0; count = pass == 1; break;
    case CAIRN_MATCH_SUPERSET: count = pass == 0; break;
    case CAIRN_MATCH_ANY: any = pass == 0; break;
    }
    if (outside)
      pre = " AND NOT EXISTS (SELECT 1 FROM entry_selectors s"
            " WHERE s.entry_id = e.entry_id AND NOT ";
    else if (count)
      pre = " AND (SELECT COUNT(*) FROM entry_selectors s"
            " WHERE s.entry_id = e.entry_id AND ";
    else if (any)
      pre = " AND EXISTS (SELECT 1 FROM entry_selectors s"
            " WHERE s.entry_id = e.entry_id AND ";
    else
      continue;
    if (b && ((r = cairn_buf_puts(b, pre)) || (r = sql_in_set(b, q->nsel)) ||
              (r = cairn_buf_puts(b, count ? ") = ?" : ")"))))
      return r;
    if (s) {
      for (size_t i = 0; i < q->nsel; i++)
        if (b_text(s, (*ix)++, q->sel[i]->type) ||
            b_text(s, (*ix)++, q->sel[i]->value))
          return SQLITE_ERROR;
      if (count && b_int(s, (*ix)++, (int64_t)q->nsel)) return SQLITE_ERROR;
    }
  }
  return CAIRN_OK;
}

/* Prepares "<head> WHERE 1 = 1 <filter> <tail>" and binds the filter. */
static int query_prepare(struct cairn_store *st, const struct entry_query *q,
                         const char *head, const char *tail, int paging,
                         sqlite3_stmt **out)
{
  struct cairn_buf b;
  sqlite3_stmt *s = NULL;
  int r, rc, ix = 1;
  *out = NULL;
  cairn_buf_init(&b, QUERY_SQL_MAX);
  if ((r = cairn_buf_puts(&b, head)) || (r = cairn_buf_puts(&b, " WHERE 1 = 1")) ||
      (r = query_where(q, &b, NULL, NULL, paging, 1)) ||
      (r = cairn_buf_puts(&b, tail)))
    goto out;
  rc = sqlite3_prepare_v2(st->db, (const char *)b.data, (int)b.len, &s, NULL);
  if (rc != SQLITE_OK) {
    r = db_err(st, rc, "prepare query");
    goto out;
  }
  if (query_where(q, NULL, s, &ix, paging, 1) ||
      (paging && q->f->limit && b_int(s, ix++, (int64_t)q->f->limit))) {
    r = db_err(st, sqlite3_errcode(st->db), "bind");
    goto out;
  }
  *out = s;
  s = NULL;
  r = CAIRN_OK;
out:
  sqlite3_finalize(s);
  cairn_buf_cleanup(&b);
  return r;
}

static int entry_list_tx(struct cairn_store *st, const struct entry_query *q,
                         struct cairn_entry **out, size_t *n)
{
  struct cairn_entry *v = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s = NULL;
  int r, row;
  r = query_prepare(st, q, "SELECT " ENTRY_COLS_E " FROM entries e",
                    q->f->limit ? " ORDER BY e.entry_id LIMIT ?"
                                : " ORDER BY e.entry_id",
                    1, &s);
  if (r) return r;
  for (;;) {
    if ((r = next(st, s, "list entries", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    if ((r = entry_from_row(st, s, &v[k]))) break;
    k++;
  }
  sqlite3_finalize(s);
  if (r) {
    cairn_entry_array_free(v, k);
    return r;
  }
  if (k == 0) {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

int cairn_store_entry_list(struct cairn_store *st,
                           const struct cairn_entry_filter *filter,
                           struct cairn_entry **out, size_t *n)
{
  struct entry_query q;
  int r;
  if (out) *out = NULL;
  if (n) *n = 0;
  if (!st || !out || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = query_init(&q, filter))) return r;
  if ((r = tx_begin(st, 0)) == CAIRN_OK)
    r = tx_end(st, entry_list_tx(st, &q, out, n));
  free(q.sel);
  if (r) {
    cairn_entry_array_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return r;
}

int cairn_store_entry_count(struct cairn_store *st,
                            const struct cairn_entry_filter *filter,
                            size_t *n)
{
  struct entry_query q;
  sqlite3_stmt *s = NULL;
  int r, row;
  if (n) *n = 0;
  if (!st || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = query_init(&q, filter))) return r;
  r = query_prepare(st, &q, "SELECT COUNT(*) FROM entries e", "", 0, &s);
  if (r == CAIRN_OK) {
    r = next(st, s, "count entries", &row);
    if (r == CAIRN_OK && row) *n = (size_t)sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  free(q.sel);
  return r;
}

int cairn_store_entry_prune_expired(struct cairn_store *st, int64_t now,
                                    size_t *removed)
{
  char **ids = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s;
  int r, row;
  if (removed) *removed = 0;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = tx_begin(st, 1))) return r;
  if ((r = prep(st, S_ENTRY_EXPIRED, &s))) goto out;
  if (b_int(s, 1, now)) {
    r = bind_failed(st, s);
    goto out;
  }
  for (;;) {
    if ((r = next(st, s, "find expired entries", &row)) || !row) break;
    if ((r = grow((void **)&ids, &cap, k, sizeof *ids))) break;
    if ((r = col_str(s, 0, &ids[k]))) break;
    k++;
  }
  done(s);
  for (size_t i = 0; i < k && !r; i++) r = entry_delete_tx(st, ids[i], NULL);
  if (r == CAIRN_OK && removed) *removed = k;
out:
  cairn_store_strv_free(ids, k);
  return tx_end(st, r);
}

/* ---- revisions, tombstones, deltas ---- */

int cairn_store_entry_revision(struct cairn_store *st, int64_t *current,
                               int64_t *floor)
{
  int64_t c = 0, f = 0;
  int r;
  if (current) *current = 0;
  if (floor) *floor = 0;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = tx_begin(st, 0))) return r;
  r = counter_get(st, "entries_revision", &c);
  if (!r) r = counter_get(st, "entries_floor", &f);
  if ((r = tx_end(st, r))) return r;
  if (current) *current = c;
  if (floor) *floor = f;
  return CAIRN_OK;
}

static int tombstones_tx(struct cairn_store *st, int64_t since,
                         const struct cairn_entry_filter *f,
                         struct cairn_tombstone **out, size_t *n)
{
  struct cairn_tombstone *v = NULL;
  size_t k = 0, cap = 0;
  struct cairn_buf b;
  sqlite3_stmt *s = NULL;
  int r, rc, row, ix = 1;

  cairn_buf_init(&b, 1024);
  if ((r = cairn_buf_puts(&b, "SELECT entry_id, revision, owner, spiffe_id,"
                              " parent_id FROM entry_tombstones"
                              " WHERE revision > ?")) ||
      (f && f->parent_id && (r = cairn_buf_puts(&b, " AND parent_id = ?"))) ||
      (f && f->spiffe_id && (r = cairn_buf_puts(&b, " AND spiffe_id = ?"))) ||
      (f && f->owner && (r = cairn_buf_puts(&b, " AND owner = ?"))) ||
      (r = cairn_buf_puts(&b, " ORDER BY revision")))
    goto out;
  rc = sqlite3_prepare_v2(st->db, (const char *)b.data, (int)b.len, &s, NULL);
  if (rc != SQLITE_OK) {
    r = db_err(st, rc, "prepare tombstones");
    goto out;
  }
  if (b_int(s, ix++, since) ||
      (f && f->parent_id && b_text(s, ix++, f->parent_id)) ||
      (f && f->spiffe_id && b_text(s, ix++, f->spiffe_id)) ||
      (f && f->owner && b_text(s, ix++, f->owner))) {
    r = db_err(st, sqlite3_errcode(st->db), "bind");
    goto out;
  }
  for (;;) {
    if ((r = next(st, s, "list tombstones", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    k++;
    v[k - 1].revision = sqlite3_column_int64(s, 1);
    if ((r = col_str(s, 0, &v[k - 1].entry_id)) ||
        (r = col_str(s, 2, &v[k - 1].owner)) ||
        (r = col_str(s, 3, &v[k - 1].spiffe_id)) ||
        (r = col_str(s, 4, &v[k - 1].parent_id)))
      break;
  }
out:
  sqlite3_finalize(s);
  cairn_buf_cleanup(&b);
  if (r) {
    cairn_tombstone_array_free(v, k);
    return r;
  }
  if (k == 0) {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

int cairn_store_entry_tombstones(struct cairn_store *st, int64_t since,
                                 struct cairn_tombstone **out, size_t *n)
{
  int r;
  if (out) *out = NULL;
  if (n) *n = 0;
  if (!st || !out || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = tx_begin(st, 0))) return r;
  return tx_end(st, tombstones_tx(st, since, NULL, out, n));
}

int cairn_store_entry_tombstones_prune(struct cairn_store *st, int64_t upto,
                                       size_t *removed)
{
  int64_t floor = 0, cur = 0;
  int r;
  if (removed) *removed = 0;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = tx_begin(st, 1))) return r;
  if ((r = counter_get(st, "entries_floor", &floor)) ||
      (r = counter_get(st, "entries_revision", &cur)))
    goto out;
  if (upto > cur) upto = cur;
  if ((r = run_int(st, S_TOMB_PRUNE, upto, "prune tombstones", removed)))
    goto out;
  if (upto > floor) r = counter_set(st, "entries_floor", upto);
out:
  return tx_end(st, r);
}

/* Runs inside a read transaction. f is the filter q was built from; its
 * since_revision is set here once the full/partial decision is made. */
static int delta_tx(struct cairn_store *st, int64_t since,
                    struct cairn_entry_filter *f, const struct entry_query *q,
                    struct cairn_entry_delta *d)
{
  int64_t floor = 0;
  int r;
  if ((r = counter_get(st, "entries_revision", &d->revision)) ||
      (r = counter_get(st, "entries_floor", &floor)))
    return r;
  d->full = since < floor || since > d->revision;
  f->since_revision = d->full ? 0 : since;
  if ((r = entry_list_tx(st, q, &d->entries, &d->n_entries))) return r;
  if (!d->full)
    return tombstones_tx(st, since, f, &d->removed, &d->n_removed);
  return CAIRN_OK;
}

int cairn_store_entry_delta(struct cairn_store *st, int64_t since,
                            const struct cairn_entry_filter *filter,
                            struct cairn_entry_delta **out)
{
  struct cairn_entry_filter f = {0};
  struct cairn_entry_delta *d = NULL;
  struct entry_query q;
  int r;
  if (out) *out = NULL;
  if (!st || !out) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if (since < 0) return cairn_seterr(CAIRN_ERR_INVAL, "delta: since < 0");
  if (filter) f = *filter;
  f.after_id = NULL;
  f.limit = 0;
  f.since_revision = 0;
  if ((r = query_init(&q, &f))) return r;  /* q.f points to f */
  if (!(d = calloc(1, sizeof *d))) {
    free(q.sel);
    return nomem();
  }
  if ((r = tx_begin(st, 0)) == CAIRN_OK)
    r = tx_end(st, delta_tx(st, since, &f, &q, d));
  free(q.sel);
  if (r) {
    cairn_entry_delta_free(d);
    return r;
  }
  *out = d;
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Attested nodes */

static int node_from_row(struct cairn_store *st, sqlite3_stmt *s,
                         struct cairn_node *n)
{
  int r;
  memset(n, 0, sizeof *n);
  if ((r = col_str(s, 0, &n->spiffe_id)) ||
      (r = col_str(s, 1, &n->attestation_type)) ||
      (r = col_str(s, 2, &n->cert_serial)))
    goto fail;
  n->cert_not_after = sqlite3_column_int64(s, 3);
  n->banned = sqlite3_column_int64(s, 4) != 0;
  n->created_at = sqlite3_column_int64(s, 5);
  n->updated_at = sqlite3_column_int64(s, 6);
  if ((r = load_selectors(st, S_NSEL_GET, n->spiffe_id, &n->selectors,
                          &n->n_selectors)))
    goto fail;
  return CAIRN_OK;
fail:
  cairn_node_clear(n);
  return r;
}

static int node_load(struct cairn_store *st, const char *id,
                     struct cairn_node *n)
{
  sqlite3_stmt *s;
  int r, row;
  memset(n, 0, sizeof *n);
  if ((r = prep(st, S_NODE_GET, &s))) return r;
  if (b_text(s, 1, id)) return bind_failed(st, s);
  r = next(st, s, "read node", &row);
  if (r == CAIRN_OK && !row)
    r = cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no attested node %s", id);
  if (r == CAIRN_OK) r = node_from_row(st, s, n);
  done(s);
  return r;
}

static int node_upsert_tx(struct cairn_store *st, const struct cairn_node *in,
                          const struct cairn_selector *const *sel,
                          size_t nsel, struct cairn_node *out)
{
  sqlite3_stmt *s;
  int64_t now = (int64_t)cairn_now();
  int r, row, exists = 0, banned = 0, ch;

  if ((r = prep(st, S_NODE_META, &s))) return r;
  if (b_text(s, 1, in->spiffe_id)) return bind_failed(st, s);
  r = next(st, s, "read node", &row);
  if (r == CAIRN_OK && row) {
    exists = 1;
    banned = sqlite3_column_int64(s, 0) != 0;
  }
  done(s);
  if (r) return r;
  if (banned)
    return cairn_seterr(CAIRN_ERR_DENIED,
                        "node %s is banned; evict it before it can attest "
                        "again",
                        in->spiffe_id);
  if (exists) {
    if ((r = prep(st, S_NODE_UPDATE, &s))) return r;
    if (b_text(s, 1, in->attestation_type) || b_text(s, 2, in->cert_serial) ||
        b_int(s, 3, in->cert_not_after) || b_int(s, 4, now) ||
        b_text(s, 5, in->spiffe_id))
      return bind_failed(st, s);
    if ((r = run(st, s, "update node"))) return r;
    if ((r = run_key(st, S_NSEL_DELETE, in->spiffe_id, "replace selectors",
                     &ch)))
      return r;
  } else {
    if ((r = prep(st, S_NODE_INSERT, &s))) return r;
    if (b_text(s, 1, in->spiffe_id) || b_text(s, 2, in->attestation_type) ||
        b_text(s, 3, in->cert_serial) || b_int(s, 4, in->cert_not_after) ||
        b_int(s, 5, now) || b_int(s, 6, now))
      return bind_failed(st, s);
    if ((r = run(st, s, "insert node"))) return r;
  }
  if ((r = insert_selectors(st, S_NSEL_INSERT, in->spiffe_id, sel, nsel)))
    return r;
  if (out) return node_load(st, in->spiffe_id, out);
  return CAIRN_OK;
}

int cairn_store_node_upsert(struct cairn_store *st,
                            const struct cairn_node *in,
                            struct cairn_node **out)
{
  const struct cairn_selector **sel = NULL;
  struct cairn_node *res = NULL;
  size_t nsel = 0;
  int r;
  if (out) *out = NULL;
  if (!st || !in) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = check_spiffe_id("node spiffe_id", in->spiffe_id)) ||
      (r = check_text("attestation_type", in->attestation_type,
                      CAIRN_STORE_SHORT_MAX, 1, CC_NAME)) ||
      (r = check_text("cert_serial", in->cert_serial, CAIRN_STORE_SERIAL_MAX,
                      0, CC_GRAPH)))
    return r;
  if (in->cert_not_after < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "node cert_not_after is negative");
  if ((r = sort_selectors("node", in->selectors, in->n_selectors, 0,
                          CAIRN_STORE_SELECTORS_MAX, 0, &sel, &nsel)))
    return r;
  if (out && !(res = calloc(1, sizeof *res))) {
    free(sel);
    return nomem();
  }
  if ((r = tx_begin(st, 1)) == CAIRN_OK)
    r = tx_end(st, node_upsert_tx(st, in, sel, nsel, res));
  free(sel);
  if (r) {
    cairn_node_free(res);
    return r;
  }
  if (out) *out = res;
  return CAIRN_OK;
}

int cairn_store_node_get(struct cairn_store *st, const char *spiffe_id,
                         struct cairn_node **out)
{
  struct cairn_node *n;
  int r;
  if (out) *out = NULL;
  if (!st || !out) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = check_key_text("node spiffe_id", spiffe_id, CAIRN_STORE_ID_MAX)))
    return r;
  if (!(n = calloc(1, sizeof *n))) return nomem();
  if ((r = tx_begin(st, 0)) == CAIRN_OK)
    r = tx_end(st, node_load(st, spiffe_id, n));
  if (r) {
    free(n);
    return r;
  }
  *out = n;
  return CAIRN_OK;
}

/* Runs a keyed one-row change in its own write transaction;
 * CAIRN_ERR_NOT_FOUND (with `missing` as detail) when no row matched. */
static int change_one(struct cairn_store *st, enum stmt_id id,
                      const char *key, const char *what, const char *missing)
{
  int r, ch = 0;
  if ((r = tx_begin(st, 1))) return r;
  r = run_key(st, id, key, what, &ch);
  if (r == CAIRN_OK && ch == 0)
    r = cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: %s %s", missing, key);
  return tx_end(st, r);
}

int cairn_store_node_delete(struct cairn_store *st, const char *spiffe_id)
{
  int r;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_key_text("node spiffe_id", spiffe_id, CAIRN_STORE_ID_MAX)))
    return r;
  return change_one(st, S_NODE_DELETE, spiffe_id, "evict node",
                    "no attested node");
}

int cairn_store_node_ban(struct cairn_store *st, const char *spiffe_id)
{
  sqlite3_stmt *s;
  int r;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_key_text("node spiffe_id", spiffe_id, CAIRN_STORE_ID_MAX)))
    return r;
  if ((r = tx_begin(st, 1))) return r;
  if ((r = prep(st, S_NODE_BAN, &s))) goto out;
  if (b_int(s, 1, (int64_t)cairn_now()) || b_text(s, 2, spiffe_id)) {
    r = bind_failed(st, s);
    goto out;
  }
  if ((r = run(st, s, "ban node"))) goto out;
  if (sqlite3_changes(st->db) == 0)
    r = cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no attested node %s",
                     spiffe_id);
out:
  return tx_end(st, r);
}

static int node_query(struct cairn_store *st,
                      const struct cairn_node_filter *f, int count,
                      sqlite3_stmt **out)
{
  static const struct cairn_node_filter none;
  struct cairn_buf b;
  sqlite3_stmt *s = NULL;
  int r, rc, ix = 1;
  *out = NULL;
  if (!f) f = &none;
  if ((f->attestation_type &&
       (r = check_key_text("filter attestation_type", f->attestation_type,
                           CAIRN_STORE_SHORT_MAX))) ||
      (f->after_id && (r = check_text("filter after_id", f->after_id,
                                      CAIRN_STORE_ID_MAX, 0, CC_PRINT))))
    return r;
  if (f->banned > CAIRN_NODE_NOT_BANNED)
    return cairn_seterr(CAIRN_ERR_INVAL, "filter: bad banned value");
#if SIZE_MAX > INT64_MAX  /* a size_t always fits on 32-bit targets */
  if (f->limit > INT64_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "filter limit too large");
#endif
  cairn_buf_init(&b, 4096);
  if ((r = cairn_buf_puts(&b, count ? "SELECT COUNT(*) FROM attested_nodes"
                                    : "SELECT " NODE_COLS
                                      " FROM attested_nodes")) ||
      (r = cairn_buf_puts(&b, " WHERE 1 = 1")) ||
      (f->attestation_type &&
       (r = cairn_buf_puts(&b, " AND attestation_type = ?"))) ||
      (f->banned == CAIRN_NODE_BANNED &&
       (r = cairn_buf_puts(&b, " AND banned = 1"))) ||
      (f->banned == CAIRN_NODE_NOT_BANNED &&
       (r = cairn_buf_puts(&b, " AND banned = 0"))) ||
      (f->expires_before &&
       (r = cairn_buf_puts(&b, " AND cert_not_after < ?"))) ||
      (!count && f->after_id && (r = cairn_buf_puts(&b, " AND spiffe_id > ?"))) ||
      (!count && (r = cairn_buf_puts(&b, " ORDER BY spiffe_id"))) ||
      (!count && f->limit && (r = cairn_buf_puts(&b, " LIMIT ?"))))
    goto out;
  rc = sqlite3_prepare_v2(st->db, (const char *)b.data, (int)b.len, &s, NULL);
  if (rc != SQLITE_OK) {
    r = db_err(st, rc, "prepare node query");
    goto out;
  }
  if ((f->attestation_type && b_text(s, ix++, f->attestation_type)) ||
      (f->expires_before && b_int(s, ix++, f->expires_before)) ||
      (!count && f->after_id && b_text(s, ix++, f->after_id)) ||
      (!count && f->limit && b_int(s, ix++, (int64_t)f->limit))) {
    r = db_err(st, sqlite3_errcode(st->db), "bind");
    goto out;
  }
  *out = s;
  s = NULL;
  r = CAIRN_OK;
out:
  sqlite3_finalize(s);
  cairn_buf_cleanup(&b);
  return r;
}

static int node_list_tx(struct cairn_store *st,
                        const struct cairn_node_filter *f,
                        struct cairn_node **out, size_t *n)
{
  struct cairn_node *v = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s = NULL;
  int r, row;
  if ((r = node_query(st, f, 0, &s))) return r;
  for (;;) {
    if ((r = next(st, s, "list nodes", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    if ((r = node_from_row(st, s, &v[k]))) break;
    k++;
  }
  sqlite3_finalize(s);
  if (r) {
    cairn_node_array_free(v, k);
    return r;
  }
  if (k == 0) {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

int cairn_store_node_list(struct cairn_store *st,
                          const struct cairn_node_filter *filter,
                          struct cairn_node **out, size_t *n)
{
  int r;
  if (out) *out = NULL;
  if (n) *n = 0;
  if (!st || !out || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = tx_begin(st, 0))) return r;
  return tx_end(st, node_list_tx(st, filter, out, n));
}

int cairn_store_node_count(struct cairn_store *st,
                           const struct cairn_node_filter *filter,
                           size_t *n)
{
  sqlite3_stmt *s = NULL;
  int r, row;
  if (n) *n = 0;
  if (!st || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = node_query(st, filter, 1, &s))) return r;
  r = next(st, s, "count nodes", &row);
  if (r == CAIRN_OK && row) *n = (size_t)sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return r;
}

/* ------------------------------------------------------------------ */
/* Join tokens */

static int token_from_row(sqlite3_stmt *s, struct cairn_join_token *t)
{
  memset(t, 0, sizeof *t);
  col_fixed(s, 0, t->token, CAIRN_STORE_TOKEN_MAX);
  t->expires_at = sqlite3_column_int64(s, 2);
  t->created_at = sqlite3_column_int64(s, 3);
  t->used_at = sqlite3_column_int64(s, 4);
  return col_str(s, 1, &t->spiffe_id);
}

/* Reads token into *t; *found = 0 when absent. */
static int token_load(struct cairn_store *st, const char *token,
                      struct cairn_join_token *t, int *found)
{
  sqlite3_stmt *s;
  int r, row;
  *found = 0;
  memset(t, 0, sizeof *t);
  if ((r = prep(st, S_TOKEN_GET, &s))) return r;
  if (b_text(s, 1, token)) return bind_failed(st, s);
  r = next(st, s, "read join token", &row);
  if (r == CAIRN_OK && row) {
    r = token_from_row(s, t);
    if (r == CAIRN_OK) *found = 1;
  }
  done(s);
  return r;
}

static int token_create_tx(struct cairn_store *st, const char *token,
                           const char *spiffe_id, int64_t expires_at,
                           struct cairn_join_token *out)
{
  struct cairn_join_token old;
  sqlite3_stmt *s;
  int r, found;
  if ((r = token_load(st, token, &old, &found))) return r;
  token_clear(&old);
  if (found)
    return cairn_seterr(CAIRN_ERR_EXISTS, "store: join token already exists");
  if ((r = prep(st, S_TOKEN_INSERT, &s))) return r;
  if (b_text(s, 1, token) || b_text(s, 2, spiffe_id) ||
      b_int(s, 3, expires_at) || b_int(s, 4, (int64_t)cairn_now()))
    return bind_failed(st, s);
  if ((r = run(st, s, "insert join token"))) return r;
  if (out) {
    if ((r = token_load(st, token, out, &found))) return r;
    if (!found)
      return cairn_seterr(CAIRN_ERR_INTERNAL, "store: join token vanished");
  }
  return CAIRN_OK;
}

int cairn_store_token_create(struct cairn_store *st, const char *token,
                             const char *spiffe_id, int64_t expires_at,
                             struct cairn_join_token **out)
{
  char gen[CAIRN_STORE_UUID_LEN + 1];
  struct cairn_join_token *res = NULL;
  int r;
  if (out) *out = NULL;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if (token && *token) {
    if ((r = check_text("join token", token, CAIRN_STORE_TOKEN_MAX, 1,
                        CC_NAME)))
      return r;
  } else {
    if ((r = gen_uuid(gen))) return r;
    token = gen;
  }
  if (spiffe_id && *spiffe_id &&
      (r = check_spiffe_id("join token spiffe_id", spiffe_id)))
    goto out;
  if (expires_at <= 0) {
    r = cairn_seterr(CAIRN_ERR_INVAL, "join token needs an expiry time");
    goto out;
  }
  if (out && !(res = calloc(1, sizeof *res))) {
    r = nomem();
    goto out;
  }
  if ((r = tx_begin(st, 1)) == CAIRN_OK)
    r = tx_end(st, token_create_tx(st, token, spiffe_id, expires_at, res));
out:
  cairn_memzero(gen, sizeof gen);
  if (r) {
    cairn_join_token_free(res);
    return r;
  }
  if (out) *out = res;
  return CAIRN_OK;
}

static int token_consume_tx(struct cairn_store *st, const char *token,
                            struct cairn_join_token *t)
{
  sqlite3_stmt *s;
  int64_t now = (int64_t)cairn_now();
  int r, found;
  if ((r = token_load(st, token, t, &found))) return r;
  if (!found)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: unknown join token");
  if (t->used_at)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND,
                        "store: join token already used");
  if (now >= t->expires_at)
    return cairn_seterr(CAIRN_ERR_EXPIRED, "store: join token expired");
  if ((r = prep(st, S_TOKEN_USE, &s))) return r;
  if (b_int(s, 1, now) || b_text(s, 2, token)) return bind_failed(st, s);
  if ((r = run(st, s, "use join token"))) return r;
  /* The write lock makes the read above current; this is a safety net. */
  if (sqlite3_changes(st->db) != 1)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND,
                        "store: join token already used");
  t->used_at = now;
  return CAIRN_OK;
}

int cairn_store_token_consume(struct cairn_store *st, const char *token,
                              struct cairn_join_token **out)
{
  struct cairn_join_token *t;
  int r;
  if (out) *out = NULL;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_key_text("join token", token, CAIRN_STORE_TOKEN_MAX)))
    return r;
  if (!(t = calloc(1, sizeof *t))) return nomem();
  if ((r = tx_begin(st, 1)) == CAIRN_OK)
    r = tx_end(st, token_consume_tx(st, token, t));
  if (r || !out) {
    cairn_join_token_free(t);
    return r;
  }
  *out = t;
  return CAIRN_OK;
}

static int token_list_tx(struct cairn_store *st,
                         struct cairn_join_token **out, size_t *n)
{
  struct cairn_join_token *v = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s;
  int r, row;
  if ((r = prep(st, S_TOKEN_LIST, &s))) return r;
  for (;;) {
    if ((r = next(st, s, "list join tokens", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    r = token_from_row(s, &v[k]);
    k++;
    if (r) break;
  }
  done(s);
  if (r) {
    cairn_join_token_array_free(v, k);
    return r;
  }
  if (k == 0) {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

int cairn_store_token_list(struct cairn_store *st,
                           struct cairn_join_token **out, size_t *n)
{
  int r;
  if (out) *out = NULL;
  if (n) *n = 0;
  if (!st || !out || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = tx_begin(st, 0))) return r;
  return tx_end(st, token_list_tx(st, out, n));
}

int cairn_store_token_delete(struct cairn_store *st, const char *token)
{
  int r;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_key_text("join token", token, CAIRN_STORE_TOKEN_MAX)))
    return r;
  if ((r = tx_begin(st, 1))) return r;
  {
    int ch = 0;
    r = run_key(st, S_TOKEN_DELETE, token, "delete join token", &ch);
    if (r == CAIRN_OK && ch == 0)
      r = cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: unknown join token");
  }
  return tx_end(st, r);
}

int cairn_store_token_prune(struct cairn_store *st, int64_t now,
                            size_t *removed)
{
  int r;
  if (removed) *removed = 0;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = tx_begin(st, 1))) return r;
  return tx_end(st, run_int(st, S_TOKEN_PRUNE, now, "prune join tokens",
                            removed));
}

/* ------------------------------------------------------------------ */
/* Bundles */

static int check_td(const char *td)
{
  return check_text("trust domain", td, CAIRN_STORE_TD_MAX, 1, CC_TD);
}

static int bundle_get_tx(struct cairn_store *st, const char *td, char **json,
                         size_t *len, uint64_t *seq)
{
  sqlite3_stmt *s;
  uint8_t *p = NULL;
  size_t n = 0;
  int r, row;
  if ((r = prep(st, S_BUNDLE_GET, &s))) return r;
  if (b_text(s, 1, td)) return bind_failed(st, s);
  r = next(st, s, "read bundle", &row);
  if (r == CAIRN_OK && !row)
    r = cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no bundle for %s", td);
  if (r == CAIRN_OK) r = col_blob(s, 0, &p, &n);
  if (r == CAIRN_OK) {
    int64_t v = sqlite3_column_int64(s, 1);
    *seq = v < 0 ? 0 : (uint64_t)v;
    *json = (char *)p;
    *len = n;
  }
  done(s);
  return r;
}

int cairn_store_bundle_get(struct cairn_store *st, const char *td,
                           char **json, size_t *len, uint64_t *sequence)
{
  uint64_t seq = 0;
  char *j = NULL;
  size_t n = 0;
  int r;
  if (json) *json = NULL;
  if (len) *len = 0;
  if (sequence) *sequence = 0;
  if (!st || !json) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = check_td(td))) return r;
  if ((r = tx_begin(st, 0))) return r;
  if ((r = tx_end(st, bundle_get_tx(st, td, &j, &n, &seq)))) {
    free(j);
    return r;
  }
  *json = j;
  if (len) *len = n;
  if (sequence) *sequence = seq;
  return CAIRN_OK;
}

static int bundle_put_tx(struct cairn_store *st, const char *td,
                         const char *json, size_t len, uint64_t expected,
                         uint64_t new_seq)
{
  sqlite3_stmt *s;
  int64_t now = (int64_t)cairn_now();
  int r, row, exists = 0;
  uint64_t stored = 0;

  if ((r = prep(st, S_BUNDLE_SEQ, &s))) return r;
  if (b_text(s, 1, td)) return bind_failed(st, s);
  r = next(st, s, "read bundle sequence", &row);
  if (r == CAIRN_OK && row) {
    exists = 1;
    stored = (uint64_t)sqlite3_column_int64(s, 0);
  }
  done(s);
  if (r) return r;
  if (expected == CAIRN_STORE_SEQ_NONE) {
    if (exists)
      return cairn_seterr(CAIRN_ERR_EXISTS,
                          "bundle for %s changed concurrently: it exists now "
                          "(sequence %llu)",
                          td, (unsigned long long)stored);
    if ((r = prep(st, S_BUNDLE_INSERT, &s))) return r;
    if (b_text(s, 1, td) || b_int(s, 2, (int64_t)new_seq) ||
        sqlite3_bind_text64(s, 3, json, len, SQLITE_STATIC, SQLITE_UTF8) ||
        b_int(s, 4, now))
      return bind_failed(st, s);
    return run(st, s, "insert bundle");
  }
  if (!exists)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND,
                        "no bundle for %s (expected sequence %llu)", td,
                        (unsigned long long)expected);
  if (stored != expected)
    return cairn_seterr(CAIRN_ERR_EXISTS,
                        "bundle for %s changed concurrently: stored sequence "
                        "%llu, expected %llu",
                        td, (unsigned long long)stored,
                        (unsigned long long)expected);
  if ((r = prep(st, S_BUNDLE_UPDATE, &s))) return r;
  if (b_int(s, 1, (int64_t)new_seq) ||
      sqlite3_bind_text64(s, 2, json, len, SQLITE_STATIC, SQLITE_UTF8) ||
      b_int(s, 3, now) || b_text(s, 4, td) || b_int(s, 5, (int64_t)expected))
    return bind_failed(st, s);
  if ((r = run(st, s, "update bundle"))) return r;
  if (sqlite3_changes(st->db) != 1)
    return cairn_seterr(CAIRN_ERR_EXISTS,
                        "bundle for %s changed concurrently", td);
  return CAIRN_OK;
}

int cairn_store_bundle_put(struct cairn_store *st, const char *td,
                           const char *json, size_t len,
                           uint64_t expected_seq, uint64_t new_seq)
{
  int r;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_td(td))) return r;
  if (!json || len == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "bundle JSON is empty");
  if (len > CAIRN_STORE_BLOB_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "bundle JSON is %zu bytes (max %d)",
                        len, CAIRN_STORE_BLOB_MAX);
  if (memchr(json, '\0', len))
    return cairn_seterr(CAIRN_ERR_INVAL, "bundle JSON contains a NUL byte");
  if (new_seq > (uint64_t)INT64_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "bundle sequence %llu too large",
                        (unsigned long long)new_seq);
  if (expected_seq != CAIRN_STORE_SEQ_NONE && new_seq <= expected_seq)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "bundle sequence must grow (%llu -> %llu)",
                        (unsigned long long)expected_seq,
                        (unsigned long long)new_seq);
  if ((r = tx_begin(st, 1))) return r;
  return tx_end(st, bundle_put_tx(st, td, json, len, expected_seq, new_seq));
}

int cairn_store_bundle_delete(struct cairn_store *st, const char *td)
{
  int r;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_td(td))) return r;
  return change_one(st, S_BUNDLE_DELETE, td, "delete bundle",
                    "no bundle for");
}

static int bundle_list_tx(struct cairn_store *st, char ***out, size_t *n)
{
  char **v = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s;
  int r, row;
  if ((r = prep(st, S_BUNDLE_LIST, &s))) return r;
  for (;;) {
    if ((r = next(st, s, "list bundles", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    if ((r = col_str(s, 0, &v[k]))) break;
    k++;
  }
  done(s);
  if (r) {
    cairn_store_strv_free(v, k);
    return r;
  }
  if (k == 0) {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

int cairn_store_bundle_list(struct cairn_store *st, char ***tds, size_t *n)
{
  int r;
  if (tds) *tds = NULL;
  if (n) *n = 0;
  if (!st || !tds || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = tx_begin(st, 0))) return r;
  return tx_end(st, bundle_list_tx(st, tds, n));
}

static int bundle_fp_tx(struct cairn_store *st, const char *except,
                        uint64_t *fp)
{
  uint64_t h = 14695981039346656037ull; /* FNV-1a 64 */
  sqlite3_stmt *s;
  int r, row, any = 0;

  if ((r = prep(st, S_BUNDLE_SEQS, &s))) return r;
  for (;;) {
    const unsigned char *td;
    uint64_t seq;
    if ((r = next(st, s, "list bundle sequences", &row)) || !row) break;
    td = sqlite3_column_text(s, 0);
    if (!td || (except && strcmp((const char *)td, except) == 0)) continue;
    seq = (uint64_t)sqlite3_column_int64(s, 1);
    for (const unsigned char *p = td;; p++) {
      h = (h ^ *p) * 1099511628211ull; /* the NUL ends the name */
      if (!*p) break;
    }
    for (int i = 0; i < 8; i++)
      h = (h ^ ((seq >> (8 * i)) & 0xff)) * 1099511628211ull;
    any = 1;
  }
  done(s);
  if (r) return r;
  /* 0 only for "none"; at most INT64_MAX (a CBOR uint of the protocol). */
  h &= (uint64_t)INT64_MAX;
  *fp = any ? (h ? h : 1) : 0;
  return CAIRN_OK;
}

int cairn_store_bundle_fingerprint(struct cairn_store *st, const char *except,
                                   uint64_t *fp)
{
  int r;
  if (fp) *fp = 0;
  if (!st || !fp) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = tx_begin(st, 0))) return r;
  return tx_end(st, bundle_fp_tx(st, except, fp));
}

/* ------------------------------------------------------------------ */
/* CA journal */

static const char *kind_name(enum cairn_ca_kind k)
{
  return k == CAIRN_CA_X509 ? "x509" : k == CAIRN_CA_JWT ? "jwt" : NULL;
}

static const char *status_name(enum cairn_ca_status s)
{
  switch (s) {
  case CAIRN_CA_PREPARED: return "prepared";
  case CAIRN_CA_ACTIVE: return "active";
  case CAIRN_CA_OLD: return "old";
  }
  return NULL;
}

static int status_parse(const char *s)
{
  if (!s) return 0;
  if (strcmp(s, "prepared") == 0) return CAIRN_CA_PREPARED;
  if (strcmp(s, "active") == 0) return CAIRN_CA_ACTIVE;
  if (strcmp(s, "old") == 0) return CAIRN_CA_OLD;
  return 0;
}

static int check_key_ref(const char *ref)
{
  int r = check_text("key_ref", ref, CAIRN_STORE_NAME_MAX, 1, CC_NAME);
  if (r) return r;
  if (strcmp(ref, ".") == 0 || strcmp(ref, "..") == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "key_ref must name a file");
  return CAIRN_OK;
}

int cairn_store_journal_insert(struct cairn_store *st,
                               const struct cairn_journal_slot *in,
                               int64_t *id)
{
  const char *kind, *status;
  sqlite3_stmt *s;
  int64_t rid = 0, now = (int64_t)cairn_now();
  int r;
  if (id) *id = 0;
  if (!st || !in) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  kind = kind_name(in->kind);
  status = status_name(in->status);
  if (!kind) return cairn_seterr(CAIRN_ERR_INVAL, "journal: bad kind");
  if (!status) return cairn_seterr(CAIRN_ERR_INVAL, "journal: bad status");
  if ((r = check_text("journal slot_id", in->slot_id, CAIRN_STORE_SHORT_MAX, 1,
                      CC_NAME)) ||
      (r = check_key_ref(in->key_ref)) ||
      (r = check_text("journal kid", in->kid, CAIRN_STORE_KID_MAX,
                      in->kind == CAIRN_CA_JWT, CC_GRAPH)))
    return r;
  if (in->not_before < 0 || in->not_after < in->not_before)
    return cairn_seterr(CAIRN_ERR_INVAL, "journal: bad validity period");
  if (in->chain_len > CAIRN_STORE_BLOB_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "journal: chain too large");
  if ((in->chain_len && !in->chain) ||
      (in->kind == CAIRN_CA_X509 && in->chain_len == 0))
    return cairn_seterr(CAIRN_ERR_INVAL, "journal: X.509 slot without chain");
  if (!in->public_key || in->public_key_len == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "journal: public key missing");
  if (in->public_key_len > CAIRN_STORE_PUBKEY_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "journal: public key too large");

  if ((r = tx_begin(st, 1))) return r;
  if ((r = counter_next(st, "ca_journal_id", &rid))) goto out;
  if ((r = prep(st, S_JOURNAL_INSERT, &s))) goto out;
  if (b_int(s, 1, rid) || b_text(s, 2, in->slot_id) || b_text(s, 3, kind) ||
      b_text(s, 4, status) || b_int(s, 5, in->not_before) ||
      b_int(s, 6, in->not_after) || b_blob(s, 7, in->chain, in->chain_len) ||
      b_blob(s, 8, in->public_key, in->public_key_len) ||
      b_text(s, 9, in->key_ref) || b_text(s, 10, in->kid) ||
      b_int(s, 11, now) || b_int(s, 12, now)) {
    r = bind_failed(st, s);
    goto out;
  }
  r = run(st, s, "insert journal slot");
out:
  r = tx_end(st, r);
  if (r == CAIRN_OK && id) *id = rid;
  return r;
}

static int journal_set_tx(struct cairn_store *st, int64_t id,
                          enum cairn_ca_status status)
{
  sqlite3_stmt *s;
  char cur[16];
  int r, row, c;
  if ((r = prep(st, S_JOURNAL_STATUS, &s))) return r;
  if (b_int(s, 1, id)) return bind_failed(st, s);
  r = next(st, s, "read journal slot", &row);
  if (r == CAIRN_OK && row) col_fixed(s, 0, cur, sizeof cur - 1);
  done(s);
  if (r) return r;
  if (!row)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no journal slot %lld",
                        (long long)id);
  c = status_parse(cur);
  if ((int)status == c) return CAIRN_OK;
  if ((int)status < c)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "journal slot %lld cannot go from %s back to %s",
                        (long long)id, cur, status_name(status));
  if ((r = prep(st, S_JOURNAL_SET, &s))) return r;
  if (b_text(s, 1, status_name(status)) ||
      b_int(s, 2, (int64_t)cairn_now()) || b_int(s, 3, id))
    return bind_failed(st, s);
  return run(st, s, "update journal slot");
}

int cairn_store_journal_set_status(struct cairn_store *st, int64_t id,
                                   enum cairn_ca_status status)
{
  int r;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if (!status_name(status))
    return cairn_seterr(CAIRN_ERR_INVAL, "journal: bad status");
  if ((r = tx_begin(st, 1))) return r;
  return tx_end(st, journal_set_tx(st, id, status));
}

static int journal_list_tx(struct cairn_store *st, enum cairn_ca_kind kind,
                           struct cairn_journal_slot **out, size_t *n)
{
  struct cairn_journal_slot *v = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s;
  int r, row;
  if (kind) {
    if ((r = prep(st, S_JOURNAL_LIST_KIND, &s))) return r;
    if (b_text(s, 1, kind_name(kind))) return bind_failed(st, s);
  } else if ((r = prep(st, S_JOURNAL_LIST, &s))) {
    return r;
  }
  for (;;) {
    struct cairn_journal_slot *j;
    char buf[16];
    if ((r = next(st, s, "list journal", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    j = &v[k++];
    j->id = sqlite3_column_int64(s, 0);
    col_fixed(s, 2, buf, sizeof buf - 1);
    j->kind = strcmp(buf, "jwt") == 0 ? CAIRN_CA_JWT : CAIRN_CA_X509;
    col_fixed(s, 3, buf, sizeof buf - 1);
    j->status = (enum cairn_ca_status)status_parse(buf);
    j->not_before = sqlite3_column_int64(s, 4);
    j->not_after = sqlite3_column_int64(s, 5);
    j->created_at = sqlite3_column_int64(s, 10);
    j->updated_at = sqlite3_column_int64(s, 11);
    if ((r = col_str(s, 1, &j->slot_id)) ||
        (r = col_blob(s, 6, &j->chain, &j->chain_len)) ||
        (r = col_blob(s, 7, &j->public_key, &j->public_key_len)) ||
        (r = col_str(s, 8, &j->key_ref)) || (r = col_str(s, 9, &j->kid)))
      break;
  }
  done(s);
  if (r) {
    cairn_journal_slot_array_free(v, k);
    return r;
  }
  if (k == 0) {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

int cairn_store_journal_list(struct cairn_store *st, enum cairn_ca_kind kind,
                             struct cairn_journal_slot **out, size_t *n)
{
  int r;
  if (out) *out = NULL;
  if (n) *n = 0;
  if (!st || !out || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if (kind && !kind_name(kind))
    return cairn_seterr(CAIRN_ERR_INVAL, "journal: bad kind");
  if ((r = tx_begin(st, 0))) return r;
  return tx_end(st, journal_list_tx(st, kind, out, n));
}

int cairn_store_journal_delete(struct cairn_store *st, int64_t id)
{
  size_t ch = 0;
  int r;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = tx_begin(st, 1))) return r;
  r = run_int(st, S_JOURNAL_DELETE, id, "delete journal slot", &ch);
  if (r == CAIRN_OK && ch == 0)
    r = cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no journal slot %lld",
                     (long long)id);
  return tx_end(st, r);
}

/* ------------------------------------------------------------------ */
/* Outbox and inbox */

static int outbox_append_tx(struct cairn_store *st, const char *kind,
                            const void *payload, size_t len, const char *eid)
{
  sqlite3_stmt *s;
  int64_t seq;
  int r, row;
  if ((r = prep(st, S_OUTBOX_EXISTS, &s))) return r;
  if (b_text(s, 1, eid)) return bind_failed(st, s);
  r = next(st, s, "find outbox record", &row);
  done(s);
  if (r) return r;
  if (row)
    return cairn_seterr(CAIRN_ERR_EXISTS, "outbox event %s already exists",
                        eid);
  if ((r = counter_next(st, "outbox_seq", &seq))) return r;
  if ((r = prep(st, S_OUTBOX_INSERT, &s))) return r;
  if (b_int(s, 1, seq) || b_text(s, 2, eid) || b_text(s, 3, kind) ||
      b_blob(s, 4, payload, len) || b_int(s, 5, (int64_t)cairn_now()))
    return bind_failed(st, s);
  return run(st, s, "append outbox record");
}

int cairn_store_outbox_append(struct cairn_store *st, const char *kind,
                              const void *payload, size_t len,
                              const char *event_id,
                              char id_out[CAIRN_STORE_EVENT_ID_MAX + 1])
{
  char gen[CAIRN_STORE_UUID_LEN + 1];
  int r;
  if (id_out) id_out[0] = '\0';
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_text("outbox kind", kind, CAIRN_STORE_SHORT_MAX, 1,
                      CC_NAME)))
    return r;
  if (len > CAIRN_STORE_BLOB_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG, "outbox payload is %zu bytes "
                        "(max %d)", len, CAIRN_STORE_BLOB_MAX);
  if (len && !payload)
    return cairn_seterr(CAIRN_ERR_INVAL, "outbox payload missing");
  if (event_id && *event_id) {
    if ((r = check_text("outbox event_id", event_id, CAIRN_STORE_EVENT_ID_MAX,
                        1, CC_NAME)))
      return r;
  } else {
    if ((r = gen_uuid(gen))) return r;
    event_id = gen;
  }
  if ((r = tx_begin(st, 1))) return r;
  if ((r = tx_end(st, outbox_append_tx(st, kind, payload, len, event_id))))
    return r;
  if (id_out) snprintf(id_out, CAIRN_STORE_EVENT_ID_MAX + 1, "%s", event_id);
  return CAIRN_OK;
}

static int outbox_pending_tx(struct cairn_store *st, size_t limit,
                             struct cairn_outbox_rec **out, size_t *n)
{
  struct cairn_outbox_rec *v = NULL;
  size_t k = 0, cap = 0;
  sqlite3_stmt *s;
  int r, row;
  if (limit) {
    if ((r = prep(st, S_OUTBOX_PENDING_N, &s))) return r;
    if (b_int(s, 1, (int64_t)limit)) return bind_failed(st, s);
  } else if ((r = prep(st, S_OUTBOX_PENDING, &s))) {
    return r;
  }
  for (;;) {
    struct cairn_outbox_rec *o;
    if ((r = next(st, s, "list outbox", &row)) || !row) break;
    if ((r = grow((void **)&v, &cap, k, sizeof *v))) break;
    o = &v[k++];
    o->seq = sqlite3_column_int64(s, 0);
    col_fixed(s, 1, o->event_id, CAIRN_STORE_EVENT_ID_MAX);
    o->created_at = sqlite3_column_int64(s, 4);
    o->delivered_at = sqlite3_column_int64(s, 5);
    if ((r = col_str(s, 2, &o->kind)) ||
        (r = col_blob(s, 3, &o->payload, &o->payload_len)))
      break;
  }
  done(s);
  if (r) {
    cairn_outbox_array_free(v, k);
    return r;
  }
  if (k == 0) {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

int cairn_store_outbox_pending(struct cairn_store *st, size_t limit,
                               struct cairn_outbox_rec **out, size_t *n)
{
  int r;
  if (out) *out = NULL;
  if (n) *n = 0;
  if (!st || !out || !n) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
#if SIZE_MAX > INT64_MAX  /* a size_t always fits on 32-bit targets */
  if (limit > INT64_MAX) return cairn_seterr(CAIRN_ERR_INVAL, "bad limit");
#endif
  if ((r = tx_begin(st, 0))) return r;
  return tx_end(st, outbox_pending_tx(st, limit, out, n));
}

static int outbox_mark_tx(struct cairn_store *st, const char *eid)
{
  sqlite3_stmt *s;
  int r, row;
  if ((r = prep(st, S_OUTBOX_MARK, &s))) return r;
  if (b_int(s, 1, (int64_t)cairn_now()) || b_text(s, 2, eid))
    return bind_failed(st, s);
  if ((r = run(st, s, "mark outbox record"))) return r;
  if (sqlite3_changes(st->db) == 1) return CAIRN_OK;
  /* Nothing changed: delivered before (fine) or unknown. */
  if ((r = prep(st, S_OUTBOX_EXISTS, &s))) return r;
  if (b_text(s, 1, eid)) return bind_failed(st, s);
  r = next(st, s, "find outbox record", &row);
  done(s);
  if (r == CAIRN_OK && !row)
    r = cairn_seterr(CAIRN_ERR_NOT_FOUND, "store: no outbox event %s", eid);
  return r;
}

int cairn_store_outbox_mark_delivered(struct cairn_store *st,
                                      const char *event_id)
{
  int r;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = check_key_text("outbox event_id", event_id,
                          CAIRN_STORE_EVENT_ID_MAX)))
    return r;
  if ((r = tx_begin(st, 1))) return r;
  return tx_end(st, outbox_mark_tx(st, event_id));
}

static int count_stmt(struct cairn_store *st, enum stmt_id id, size_t *n)
{
  sqlite3_stmt *s;
  int r, row;
  *n = 0;
  if ((r = prep(st, id, &s))) return r;
  r = next(st, s, "count", &row);
  if (r == CAIRN_OK && row) *n = (size_t)sqlite3_column_int64(s, 0);
  done(s);
  return r;
}

int cairn_store_outbox_count(struct cairn_store *st, size_t *pending,
                             size_t *total)
{
  size_t p = 0, t = 0;
  int r;
  if (pending) *pending = 0;
  if (total) *total = 0;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = tx_begin(st, 0))) return r;
  r = count_stmt(st, S_OUTBOX_DELIVERED, &p);
  if (!r) r = count_stmt(st, S_OUTBOX_COUNT, &t);
  if ((r = tx_end(st, r))) return r;
  if (pending) *pending = p;
  if (total) *total = t;
  return CAIRN_OK;
}

int cairn_store_outbox_prune(struct cairn_store *st, int64_t before,
                             size_t *removed)
{
  int r;
  if (removed) *removed = 0;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = tx_begin(st, 1))) return r;
  return tx_end(st, run_int(st, S_OUTBOX_PRUNE, before, "prune outbox",
                            removed));
}

static int inbox_record_tx(struct cairn_store *st, const char *origin,
                           const char *eid, int *fresh)
{
  sqlite3_stmt *s;
  int r, row;
  if ((r = prep(st, S_INBOX_GET, &s))) return r;
  if (b_text(s, 1, origin) || b_text(s, 2, eid)) return bind_failed(st, s);
  r = next(st, s, "find inbox record", &row);
  done(s);
  if (r) return r;
  if (row) {
    *fresh = 0;
    return CAIRN_OK;
  }
  if ((r = prep(st, S_INBOX_INSERT, &s))) return r;
  if (b_text(s, 1, origin) || b_text(s, 2, eid) ||
      b_int(s, 3, (int64_t)cairn_now()))
    return bind_failed(st, s);
  if ((r = run(st, s, "record inbox event"))) return r;
  *fresh = 1;
  return CAIRN_OK;
}

int cairn_store_inbox_record(struct cairn_store *st, const char *origin,
                             const char *event_id, int *fresh)
{
  int f = 0, r;
  if (fresh) *fresh = 0;
  if (!st || !fresh) return cairn_seterr(CAIRN_ERR_INVAL, "store: bad args");
  if ((r = check_text("inbox origin", origin, CAIRN_STORE_NAME_MAX, 1,
                      CC_NAME)) ||
      (r = check_text("inbox event_id", event_id, CAIRN_STORE_EVENT_ID_MAX, 1,
                      CC_NAME)))
    return r;
  if ((r = tx_begin(st, 1))) return r;
  if ((r = tx_end(st, inbox_record_tx(st, origin, event_id, &f)))) return r;
  *fresh = f;
  return CAIRN_OK;
}

int cairn_store_inbox_prune(struct cairn_store *st, int64_t before,
                            size_t *removed)
{
  int r;
  if (removed) *removed = 0;
  if (!st) return cairn_seterr(CAIRN_ERR_INVAL, "store: no store");
  if ((r = tx_begin(st, 1))) return r;
  return tx_end(st, run_int(st, S_INBOX_PRUNE, before, "prune inbox",
                            removed));
}
