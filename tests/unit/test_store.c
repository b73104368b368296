/* Unit tests for the SQLite store (cairn/store.h). */
#include "test.h"

#include "cairn/err.h"
#include "cairn/store.h"
#include "cairn/util.h"
#include "store_int.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TD "spiffe://example.org"
#define AGENT TD "/spire/agent/join_token/abc"
#define T0 1800000000

/* ---- helpers ---- */

static int g_dbn;

/* A fresh database path for each call. */
static const char *new_db(void)
{
  static char path[8][512];
  static int i;
  char *p = path[i++ & 7];
  snprintf(p, 512, "%s/store%d.db", test_tmpdir(), g_dbn++);
  return p;
}

static struct cairn_store *open_new(const char **pathp)
{
  const char *path = new_db();
  struct cairn_store *st = NULL;
  CHECK_OK(cairn_store_open(path, &st));
  if (pathp) *pathp = path;
  return st;
}

/* Runs SQL on a separate raw SQLite connection (bypassing the store). */
static int raw_exec(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  int rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return rc;
}

/* First column of the first row as an integer, -1 on error. */
static long long raw_int(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *s = NULL;
  long long v = -1;
  if (sqlite3_open(path, &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static void mk_entry(struct cairn_entry *e, const char *spiffe,
                     const char *parent, struct cairn_selector *sel,
                     size_t n)
{
  memset(e, 0, sizeof *e);
  e->spiffe_id = (char *)spiffe;
  e->parent_id = (char *)parent;
  e->selectors = sel;
  e->n_selectors = n;
  e->owner = "cloud";
}

static struct cairn_selector g_uid[] = {{"unix", "uid:1000"}};
static struct cairn_selector g_uid_gid[] = {{"unix", "uid:1000"},
                                            {"unix", "gid:1000"}};
static struct cairn_selector g_k8s[] = {{"k8s", "ns:default"},
                                        {"k8s", "sa:web"}};

static size_t count_entries(struct cairn_store *st,
                            const struct cairn_entry_filter *f)
{
  size_t n = 999999;
  CHECK_OK(cairn_store_entry_count(st, f, &n));
  return n;
}

static int64_t cur_revision(struct cairn_store *st)
{
  int64_t r = -1;
  CHECK_OK(cairn_store_entry_revision(st, &r, NULL));
  return r;
}

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- opening, files, migrations ---- */

static void test_open_fresh(void)
{
  const char *path = new_db();
  struct cairn_store *st = NULL;
  char wal[600];
  struct stat sb;
  int v = 0;
  mode_t old = umask(0);  /* a permissive umask must not loosen the file */

  CHECK_OK(cairn_store_open(path, &st));
  umask(old);
  CHECK(st != NULL);
  CHECK_OK(cairn_store_schema_version(st, &v));
  CHECK_INT_EQ(v, CAIRN_STORE_SCHEMA_VERSION);
  CHECK_OK(cairn_store_outbox_append(st, "audit", "x", 1, NULL, NULL));

  CHECK_INT_EQ(stat(path, &sb), 0);
  CHECK_INT_EQ(sb.st_mode & 0777, 0600);
  snprintf(wal, sizeof wal, "%s-wal", path);
  CHECK_INT_EQ(stat(wal, &sb), 0);  /* WAL mode really is on */
  CHECK_INT_EQ(sb.st_mode & 0777, 0600);

  /* Every migration step is recorded, in order. */
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM schema_version"),
               CAIRN_STORE_SCHEMA_VERSION);
  CHECK_INT_EQ(raw_int(path, "SELECT MAX(version) FROM schema_version"),
               CAIRN_STORE_SCHEMA_VERSION);
  CHECK_INT_EQ(raw_int(path, "SELECT MIN(version) FROM schema_version"), 1);
  cairn_store_close(st);
  cairn_store_close(NULL);

  /* Reopening an up-to-date store applies nothing. */
  CHECK_OK(cairn_store_open(path, &st));
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM schema_version"),
               CAIRN_STORE_SCHEMA_VERSION);
  cairn_store_close(st);
}

static void test_open_refusals(void)
{
  struct cairn_store *st = (struct cairn_store *)1;
  char p[600];

  snprintf(p, sizeof p, "%s/no/such/dir/c.db", test_tmpdir());
  CHECK_ERR(cairn_store_open(p, &st), CAIRN_ERR_NOT_FOUND);
  CHECK(st == NULL);
  CHECK(strstr(cairn_errdetail(), "does not exist") != NULL);
  CHECK_ERR(cairn_store_open("", &st), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_open(NULL, &st), CAIRN_ERR_INVAL);

  /* A store readable by others is refused, like a key file. */
  snprintf(p, sizeof p, "%s", new_db());
  CHECK_OK(cairn_store_open(p, &st));
  cairn_store_close(st);
  CHECK_INT_EQ(chmod(p, 0644), 0);
  CHECK_ERR(cairn_store_open(p, &st), CAIRN_ERR_PERM);
  CHECK(strstr(cairn_errdetail(), "0644") != NULL);
  CHECK_INT_EQ(chmod(p, 0600), 0);
  CHECK_OK(cairn_store_open(p, &st));
  cairn_store_close(st);

  /* A symlink is refused. */
  {
    char l[620];
    snprintf(l, sizeof l, "%s.link", p);
    CHECK_INT_EQ(symlink(p, l), 0);
    CHECK_ERR(cairn_store_open(l, &st), CAIRN_ERR_PERM);
  }

  /* A file that is not a database. */
  snprintf(p, sizeof p, "%s", new_db());
  {
    static const char junk[] = "this is certainly not an SQLite database, "
                               "just some text that is long enough to "
                               "fill a header page.............";
    CHECK_INT_EQ(test_write_file(p, junk, sizeof junk), 0);
    CHECK_INT_EQ(chmod(p, 0600), 0);
    CHECK_ERR(cairn_store_open(p, &st), CAIRN_ERR_DB);
    CHECK(st == NULL);
  }
}

static void test_future_schema(void)
{
  const char *path = NULL;
  struct cairn_store *st = open_new(&path);
  cairn_store_close(st);
  CHECK_INT_EQ(raw_exec(path, "INSERT INTO schema_version (version, name, "
                              "applied_at) VALUES (99, 'future', 0)"),
               SQLITE_OK);
  st = (struct cairn_store *)1;
  CHECK_ERR(cairn_store_open(path, &st), CAIRN_ERR_UNSUPPORTED);
  CHECK(st == NULL);
  CHECK(strstr(cairn_errdetail(), "99") != NULL);
  CHECK(strstr(cairn_errdetail(), "newer") != NULL);
  /* Nothing was touched. */
  CHECK_INT_EQ(raw_int(path, "SELECT MAX(version) FROM schema_version"), 99);
}

static void test_migration_upgrade(void)
{
  const char *path = new_db();
  struct cairn_store *st = NULL;
  struct cairn_entry e, *got = NULL;
  struct cairn_node n = {0}, *gn = NULL;
  size_t pending = 0;
  int v = 0;

  /* A database as a Cairn with schema version 2 left it. */
  CHECK_OK(cairn__store_open_version(path, 2, &st));
  CHECK_OK(cairn_store_schema_version(st, &v));
  CHECK_INT_EQ(v, 2);
  mk_entry(&e, TD "/web", AGENT, g_uid, 1);
  e.entry_id = "kept-entry";
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  n.spiffe_id = AGENT;
  n.attestation_type = "join_token";
  CHECK_OK(cairn_store_node_upsert(st, &n, NULL));
  /* Tables of later versions do not exist yet. */
  CHECK_ERR(cairn_store_outbox_count(st, &pending, NULL), CAIRN_ERR_DB);
  cairn_store_close(st);
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE "
                             "name = 'outbox'"),
               0);

  /* The current code upgrades it and keeps the data. */
  CHECK_OK(cairn_store_open(path, &st));
  CHECK_OK(cairn_store_schema_version(st, &v));
  CHECK_INT_EQ(v, CAIRN_STORE_SCHEMA_VERSION);
  CHECK_OK(cairn_store_entry_get(st, "kept-entry", &got));
  if (got) CHECK_STR_EQ(got->spiffe_id, TD "/web");
  cairn_entry_free(got);
  CHECK_OK(cairn_store_node_get(st, AGENT, &gn));
  cairn_node_free(gn);
  CHECK_OK(cairn_store_outbox_append(st, "audit", "x", 1, NULL, NULL));
  CHECK_OK(cairn_store_outbox_count(st, &pending, NULL));
  CHECK_INT_EQ(pending, 1);
  cairn_store_close(st);
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM schema_version"),
               CAIRN_STORE_SCHEMA_VERSION);
}

static void test_migration_atomic(void)
{
  const char *path = new_db();
  struct cairn_store *st = NULL;

  CHECK_OK(cairn__store_open_version(path, 2, &st));
  cairn_store_close(st);
  /* Something in the way of step 4: the whole upgrade (steps 3 and 4) must
   * roll back. */
  CHECK_INT_EQ(raw_exec(path, "CREATE TABLE outbox (x INTEGER)"), SQLITE_OK);
  CHECK_ERR(cairn_store_open(path, &st), CAIRN_ERR_DB);
  CHECK(st == NULL);
  CHECK(strstr(cairn_errdetail(), "migration 4") != NULL);
  CHECK_INT_EQ(raw_int(path, "SELECT MAX(version) FROM schema_version"), 2);
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE "
                             "name IN ('bundles', 'ca_journal', 'inbox')"),
               0);
  /* Once the obstacle is gone the upgrade succeeds. */
  CHECK_INT_EQ(raw_exec(path, "DROP TABLE outbox"), SQLITE_OK);
  CHECK_OK(cairn_store_open(path, &st));
  cairn_store_close(st);
  CHECK_ERR(cairn__store_open_version(path, 0, &st), CAIRN_ERR_INVAL);
}

/* Several processes create and migrate the same new file at once: all
 * succeed and every step is applied exactly once. */
static void test_concurrent_open(void)
{
  const char *path = new_db();
  enum { N = 4 };
  pid_t pids[N];
  int ok = 0;
  for (int i = 0; i < N; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      struct cairn_store *cs = NULL;
      int r = cairn_store_open(path, &cs);
      if (r == CAIRN_OK) r = cairn_store_outbox_append(cs, "k", "x", 1, NULL,
                                                       NULL);
      if (r != CAIRN_OK)
        fprintf(stderr, "# child %d: %s: %s\n", i, cairn_strerror(r),
                cairn_errdetail());
      cairn_store_close(cs);
      _exit(r == CAIRN_OK ? 0 : 1);
    }
    CHECK(pids[i] > 0);
  }
  for (int i = 0; i < N; i++) {
    int status = 0;
    if (pids[i] <= 0) continue;
    CHECK_INT_EQ(waitpid(pids[i], &status, 0), pids[i]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ok++;
  }
  CHECK_INT_EQ(ok, N);
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM schema_version"),
               CAIRN_STORE_SCHEMA_VERSION);
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM outbox"), N);
}

/* ---- entries ---- */

static void test_entry_crud(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_entry e, e2, *got = NULL, *upd = NULL;
  struct cairn_selector sel[] = {{"unix", "uid:1000"}, {"docker", "label:a:b"},
                                 {"unix", "gid:50"}};
  char *dns[] = {"web.example.org", "www.example.org"};
  char *fed[] = {"other.org", "third.org"};
  int64_t rev = 0;

  cairn_time_set_fake(T0);
  mk_entry(&e, TD "/web", AGENT, sel, 3);
  e.x509_svid_ttl = 3600;
  e.jwt_svid_ttl = 300;
  e.dns_names = dns;
  e.n_dns_names = 2;
  e.federates_with = fed;
  e.n_federates_with = 2;
  e.admin = 1;
  e.downstream = 7;  /* any non-zero value is true */
  e.expires_at = T0 + 86400;
  e.hint = "external";
  e.owner = "site-a";
  e.scope = "/site/a";
  CHECK_OK(cairn_store_entry_create(st, &e, &got));
  if (!got) goto out;
  CHECK_INT_EQ(strlen(got->entry_id), CAIRN_STORE_UUID_LEN);
  CHECK(got->entry_id[8] == '-' && got->entry_id[14] == '4');
  CHECK_STR_EQ(got->spiffe_id, TD "/web");
  CHECK_STR_EQ(got->parent_id, AGENT);
  CHECK_INT_EQ(got->n_selectors, 3);
  /* Sorted by type then value. */
  CHECK_STR_EQ(got->selectors[0].type, "docker");
  CHECK_STR_EQ(got->selectors[0].value, "label:a:b");
  CHECK_STR_EQ(got->selectors[1].value, "gid:50");
  CHECK_STR_EQ(got->selectors[2].value, "uid:1000");
  CHECK_INT_EQ(got->x509_svid_ttl, 3600);
  CHECK_INT_EQ(got->jwt_svid_ttl, 300);
  CHECK_INT_EQ(got->n_dns_names, 2);
  CHECK_STR_EQ(got->dns_names[0], "web.example.org");
  CHECK_STR_EQ(got->dns_names[1], "www.example.org");
  CHECK_INT_EQ(got->n_federates_with, 2);
  CHECK_STR_EQ(got->federates_with[1], "third.org");
  CHECK_INT_EQ(got->admin, 1);
  CHECK_INT_EQ(got->downstream, 1);
  CHECK_INT_EQ(got->expires_at, T0 + 86400);
  CHECK_STR_EQ(got->hint, "external");
  CHECK_STR_EQ(got->owner, "site-a");
  CHECK_STR_EQ(got->scope, "/site/a");
  CHECK_INT_EQ(got->revision, 1);
  CHECK_INT_EQ(got->created_at, T0);

  /* get returns the same; optional fields come back as "" not NULL. */
  {
    struct cairn_entry *g2 = NULL, m;
    CHECK_OK(cairn_store_entry_get(st, got->entry_id, &g2));
    if (g2) CHECK_STR_EQ(g2->scope, "/site/a");
    cairn_entry_free(g2);
    mk_entry(&m, TD "/min", AGENT, g_uid, 1);
    CHECK_OK(cairn_store_entry_create(st, &m, &g2));
    if (g2) {
      CHECK_STR_EQ(g2->hint, "");
      CHECK_STR_EQ(g2->scope, "");
      CHECK_INT_EQ(g2->n_dns_names, 0);
      CHECK(g2->dns_names == NULL);
      CHECK_INT_EQ(g2->revision, 2);
    }
    cairn_entry_free(g2);
  }

  /* update replaces fields and bumps the revision */
  cairn_time_set_fake(T0 + 10);
  e2 = e;
  e2.entry_id = got->entry_id;
  e2.spiffe_id = TD "/web2";
  e2.n_dns_names = 1;
  e2.n_federates_with = 0;
  e2.hint = NULL;
  e2.admin = 0;
  e2.n_selectors = 1;
  CHECK_OK(cairn_store_entry_update(st, &e2, &upd));
  if (upd) {
    CHECK_STR_EQ(upd->spiffe_id, TD "/web2");
    CHECK_INT_EQ(upd->revision, 3);
    CHECK_INT_EQ(upd->created_at, T0);  /* kept */
    CHECK_INT_EQ(upd->n_dns_names, 1);
    CHECK_INT_EQ(upd->n_federates_with, 0);
    CHECK_INT_EQ(upd->n_selectors, 1);
    CHECK_STR_EQ(upd->hint, "");
    CHECK_INT_EQ(upd->admin, 0);
  }
  cairn_entry_free(upd);
  upd = NULL;

  /* optimistic locking: revision 1 is stale now, 3 is current */
  e2.revision = 1;
  CHECK_ERR(cairn_store_entry_update(st, &e2, NULL), CAIRN_ERR_EXISTS);
  CHECK(strstr(cairn_errdetail(), "concurrently") != NULL);
  e2.revision = 3;
  CHECK_OK(cairn_store_entry_update(st, &e2, NULL));
  e2.revision = 0;

  /* the owner cannot change */
  e2.owner = "site-b";
  CHECK_ERR(cairn_store_entry_update(st, &e2, NULL), CAIRN_ERR_POLICY);
  e2.owner = "site-a";
  e2.entry_id = "no-such-entry";
  CHECK_ERR(cairn_store_entry_update(st, &e2, NULL), CAIRN_ERR_NOT_FOUND);
  e2.entry_id = NULL;
  CHECK_ERR(cairn_store_entry_update(st, &e2, NULL), CAIRN_ERR_INVAL);

  /* caller-chosen IDs (entries replicated from an upstream) */
  {
    struct cairn_entry c;
    mk_entry(&c, TD "/custom", AGENT, g_k8s, 2);
    c.entry_id = "upstream-0001";
    CHECK_OK(cairn_store_entry_create(st, &c, NULL));
    c.spiffe_id = TD "/custom2";
    CHECK_ERR(cairn_store_entry_create(st, &c, NULL), CAIRN_ERR_EXISTS);
    CHECK(strstr(cairn_errdetail(), "upstream-0001") != NULL);
    c.entry_id = "bad id";
    CHECK_ERR(cairn_store_entry_create(st, &c, NULL), CAIRN_ERR_INVAL);
  }

  /* delete */
  CHECK_OK(cairn_store_entry_delete(st, got->entry_id, &rev));
  CHECK_INT_EQ(rev, cur_revision(st));
  CHECK_ERR(cairn_store_entry_get(st, got->entry_id, &upd), CAIRN_ERR_NOT_FOUND);
  CHECK(upd == NULL);
  CHECK_ERR(cairn_store_entry_delete(st, got->entry_id, NULL),
            CAIRN_ERR_NOT_FOUND);
  CHECK_INT_EQ(count_entries(st, NULL), 2);
out:
  cairn_entry_free(got);
  cairn_store_close(st);
  cairn_time_set_fake(0);
}

static void test_entry_cascade(void)
{
  const char *path = NULL;
  struct cairn_store *st = open_new(&path);
  struct cairn_entry e, *got = NULL;
  char *dns[] = {"a.example.org"};
  mk_entry(&e, TD "/c", AGENT, g_uid_gid, 2);
  e.dns_names = dns;
  e.n_dns_names = 1;
  CHECK_OK(cairn_store_entry_create(st, &e, &got));
  if (got) CHECK_OK(cairn_store_entry_delete(st, got->entry_id, NULL));
  cairn_entry_free(got);
  cairn_store_close(st);
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM entry_selectors"), 0);
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM entry_dns_names"), 0);
  CHECK_INT_EQ(raw_int(path, "SELECT COUNT(*) FROM entry_tombstones"), 1);
}

static void test_entry_duplicate(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_selector rev_order[] = {{"unix", "gid:1000"},
                                       {"unix", "uid:1000"}};
  struct cairn_entry e, *a = NULL;
  int64_t r0;

  mk_entry(&e, TD "/db", AGENT, g_uid_gid, 2);
  CHECK_OK(cairn_store_entry_create(st, &e, &a));
  r0 = cur_revision(st);
  /* Same SPIFFE ID, parent and selector set in another order: refused. */
  mk_entry(&e, TD "/db", AGENT, rev_order, 2);
  e.hint = "different hint does not matter";
  CHECK_ERR(cairn_store_entry_create(st, &e, NULL), CAIRN_ERR_EXISTS);
  if (a) CHECK(strstr(cairn_errdetail(), a->entry_id) != NULL);
  CHECK_INT_EQ(cur_revision(st), r0);  /* nothing happened */
  /* A different selector set, parent or SPIFFE ID is a new entry. */
  mk_entry(&e, TD "/db", AGENT, g_uid, 1);
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  mk_entry(&e, TD "/db", TD "/other-parent", g_uid_gid, 2);
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  mk_entry(&e, TD "/db2", AGENT, g_uid_gid, 2);
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  /* Updating an entry into a duplicate of another is refused too... */
  mk_entry(&e, TD "/db", AGENT, g_uid, 1);
  if (a) e.entry_id = a->entry_id;
  CHECK_ERR(cairn_store_entry_update(st, &e, NULL), CAIRN_ERR_EXISTS);
  /* ...but an entry may be updated to its own content. */
  mk_entry(&e, TD "/db", AGENT, rev_order, 2);
  if (a) e.entry_id = a->entry_id;
  CHECK_OK(cairn_store_entry_update(st, &e, NULL));
  CHECK_INT_EQ(count_entries(st, NULL), 4);
  cairn_entry_free(a);
  cairn_store_close(st);
}

static void test_entry_validation(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_entry e;
  struct cairn_selector bad_type[] = {{"un:ix", "uid:1"}};
  struct cairn_selector empty_val[] = {{"unix", ""}};
  struct cairn_selector ctrl[] = {{"unix", "uid\n1"}};
  struct cairn_selector dup[] = {{"unix", "uid:1"}, {"unix", "uid:1"}};
  struct cairn_selector many[CAIRN_STORE_SELECTORS_MAX + 1];
  char vals[CAIRN_STORE_SELECTORS_MAX + 1][16];
  char *dns_dup[] = {"a.org", "a.org"};
  char *bad_td[] = {"Upper.org"};
  char big[CAIRN_STORE_HINT_MAX + 2];

  for (size_t i = 0; i < CAIRN_STORE_SELECTORS_MAX + 1; i++) {
    snprintf(vals[i], sizeof vals[i], "uid:%zu", i);
    many[i].type = "unix";
    many[i].value = vals[i];
  }
  memset(big, 'h', sizeof big - 1);
  big[sizeof big - 1] = '\0';

#define REJECT(code, setup)                                   \
  do {                                                        \
    mk_entry(&e, TD "/v", AGENT, g_uid, 1);                   \
    setup;                                                    \
    CHECK_ERR(cairn_store_entry_create(st, &e, NULL), code);  \
  } while (0)
  REJECT(CAIRN_ERR_INVAL, e.n_selectors = 0);
  REJECT(CAIRN_ERR_INVAL, e.selectors = bad_type);
  REJECT(CAIRN_ERR_INVAL, e.selectors = empty_val);
  REJECT(CAIRN_ERR_INVAL, e.selectors = ctrl);
  REJECT(CAIRN_ERR_INVAL, (e.selectors = dup, e.n_selectors = 2));
  REJECT(CAIRN_ERR_TOO_BIG,
         (e.selectors = many, e.n_selectors = CAIRN_STORE_SELECTORS_MAX + 1));
  REJECT(CAIRN_ERR_INVAL, e.spiffe_id = "http://example.org/x");
  REJECT(CAIRN_ERR_INVAL, e.spiffe_id = NULL);
  REJECT(CAIRN_ERR_INVAL, e.parent_id = "spiffe://");
  REJECT(CAIRN_ERR_INVAL, e.x509_svid_ttl = -1);
  REJECT(CAIRN_ERR_INVAL, e.expires_at = -5);
  REJECT(CAIRN_ERR_INVAL, (e.dns_names = dns_dup, e.n_dns_names = 2));
  REJECT(CAIRN_ERR_INVAL, (e.federates_with = bad_td, e.n_federates_with = 1));
  REJECT(CAIRN_ERR_TOO_BIG, e.hint = big);
  REJECT(CAIRN_ERR_INVAL, e.owner = NULL);
  REJECT(CAIRN_ERR_INVAL, e.owner = "site/a");
  REJECT(CAIRN_ERR_INVAL, e.scope = "/site/a");  /* not downstream */
  REJECT(CAIRN_ERR_INVAL, (e.downstream = 1, e.scope = "site/a"));
  REJECT(CAIRN_ERR_INVAL, (e.downstream = 1, e.scope = "/site/a/"));
  REJECT(CAIRN_ERR_INVAL, (e.downstream = 1, e.scope = "/site//a"));
  REJECT(CAIRN_ERR_INVAL, (e.downstream = 1, e.scope = "/site/*/a"));
#undef REJECT
  CHECK_ERR(cairn_store_entry_create(st, NULL, NULL), CAIRN_ERR_INVAL);
  /* Only the last selector is bad: the detail names it. */
  {
    struct cairn_selector two[] = {{"unix", "uid:1"}, {"", "x"}};
    mk_entry(&e, TD "/v", AGENT, two, 2);
    CHECK_ERR(cairn_store_entry_create(st, &e, NULL), CAIRN_ERR_INVAL);
    CHECK(strstr(cairn_errdetail(), "selector 1") != NULL);
  }
  CHECK_INT_EQ(count_entries(st, NULL), 0);
  CHECK_INT_EQ(cur_revision(st), 0);

  /* Values are bound, never spliced into SQL: hostile text round-trips. */
  {
    struct cairn_selector evil[] = {{"unix", "x'); DROP TABLE entries; --"}};
    struct cairn_entry *got = NULL;
    mk_entry(&e, TD "/it's", AGENT, evil, 1);
    e.hint = "\"; DELETE FROM entries; --";
    CHECK_OK(cairn_store_entry_create(st, &e, &got));
    if (got) {
      CHECK_STR_EQ(got->selectors[0].value, "x'); DROP TABLE entries; --");
      CHECK_STR_EQ(got->hint, "\"; DELETE FROM entries; --");
    }
    cairn_entry_free(got);
    {
      struct cairn_entry_filter f = {.selectors = evil, .n_selectors = 1};
      CHECK_INT_EQ(count_entries(st, &f), 1);
    }
  }
  cairn_store_close(st);
}

static void test_entry_list_filters(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_selector web[] = {{"k8s", "ns:prod"}, {"k8s", "sa:web"}};
  struct cairn_selector db[] = {{"k8s", "ns:prod"}, {"k8s", "sa:db"}};
  struct cairn_selector ns[] = {{"k8s", "ns:prod"}};
  struct cairn_selector uid[] = {{"unix", "uid:0"}};
  struct cairn_entry e, *list = NULL;
  struct cairn_entry_filter f;
  size_t n = 0;
  int64_t mid;

  mk_entry(&e, TD "/web", AGENT, web, 2);
  e.entry_id = "e1";
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  mk_entry(&e, TD "/db", AGENT, db, 2);
  e.entry_id = "e2";
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  mid = cur_revision(st);
  mk_entry(&e, TD "/ns", TD "/spire/agent/x509pop/n2", ns, 1);
  e.entry_id = "e3";
  e.owner = "site-a";
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  mk_entry(&e, TD "/root", TD "/spire/agent/x509pop/n2", uid, 1);
  e.entry_id = "e4";
  e.owner = "site-a";
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));

  CHECK_OK(cairn_store_entry_list(st, NULL, &list, &n));
  CHECK_INT_EQ(n, 4);
  if (n == 4) {
    CHECK_STR_EQ(list[0].entry_id, "e1");  /* ordered by ID */
    CHECK_STR_EQ(list[3].entry_id, "e4");
  }
  cairn_entry_array_free(list, n);

  memset(&f, 0, sizeof f);
  f.parent_id = AGENT;
  CHECK_INT_EQ(count_entries(st, &f), 2);
  f.parent_id = NULL;
  f.spiffe_id = TD "/db";
  CHECK_OK(cairn_store_entry_list(st, &f, &list, &n));
  CHECK_INT_EQ(n, 1);
  if (n == 1) CHECK_STR_EQ(list[0].entry_id, "e2");
  cairn_entry_array_free(list, n);
  f.spiffe_id = TD "/none";
  CHECK_OK(cairn_store_entry_list(st, &f, &list, &n));
  CHECK_INT_EQ(n, 0);
  CHECK(list == NULL);
  memset(&f, 0, sizeof f);
  f.owner = "site-a";
  CHECK_INT_EQ(count_entries(st, &f), 2);

  /* Selector matching. A workload with {ns:prod, sa:web, uid:0} gets the
   * entries whose selectors are all among its own (SUBSET). */
  {
    struct cairn_selector wl[] = {{"k8s", "sa:web"}, {"unix", "uid:0"},
                                  {"k8s", "ns:prod"}, {"k8s", "ns:prod"}};
    memset(&f, 0, sizeof f);
    f.selectors = wl;
    f.n_selectors = 4;  /* the repeat is ignored */
    CHECK_OK(cairn_store_entry_list(st, &f, &list, &n));
    CHECK_INT_EQ(n, 3);
    if (n == 3) {
      CHECK_STR_EQ(list[0].entry_id, "e1");
      CHECK_STR_EQ(list[1].entry_id, "e3");
      CHECK_STR_EQ(list[2].entry_id, "e4");
    }
    cairn_entry_array_free(list, n);
    f.match = CAIRN_MATCH_EXACT;
    CHECK_INT_EQ(count_entries(st, &f), 0);
    f.selectors = web;
    f.n_selectors = 2;
    CHECK_INT_EQ(count_entries(st, &f), 1);
    f.match = CAIRN_MATCH_SUPERSET;
    f.selectors = ns;
    f.n_selectors = 1;
    CHECK_INT_EQ(count_entries(st, &f), 3);  /* e1, e2, e3 */
    f.match = CAIRN_MATCH_ANY;
    f.selectors = wl;
    f.n_selectors = 2;  /* sa:web, uid:0 */
    CHECK_INT_EQ(count_entries(st, &f), 2);  /* e1, e4 */
    f.match = CAIRN_MATCH_SUBSET;
    f.selectors = ns;
    f.n_selectors = 1;
    CHECK_INT_EQ(count_entries(st, &f), 1);  /* e3 only */
    f.match = (enum cairn_selector_match)9;
    CHECK_ERR(cairn_store_entry_count(st, &f, &n), CAIRN_ERR_INVAL);
  }

  /* Revision filter and paging. */
  memset(&f, 0, sizeof f);
  f.since_revision = mid;
  CHECK_INT_EQ(count_entries(st, &f), 2);
  memset(&f, 0, sizeof f);
  f.limit = 3;
  CHECK_OK(cairn_store_entry_list(st, &f, &list, &n));
  CHECK_INT_EQ(n, 3);
  cairn_entry_array_free(list, n);
  f.after_id = "e3";
  CHECK_OK(cairn_store_entry_list(st, &f, &list, &n));
  CHECK_INT_EQ(n, 1);
  if (n == 1) CHECK_STR_EQ(list[0].entry_id, "e4");
  cairn_entry_array_free(list, n);
  /* Combined: parent + selector. */
  memset(&f, 0, sizeof f);
  f.parent_id = TD "/spire/agent/x509pop/n2";
  f.selectors = uid;
  f.n_selectors = 1;
  CHECK_INT_EQ(count_entries(st, &f), 1);
  cairn_store_close(st);
}

static void test_batch_atomic(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_entry in[3], *out = NULL;
  size_t failed = 99;
  int64_t r0;

  mk_entry(&in[0], TD "/b0", AGENT, g_uid, 1);
  mk_entry(&in[1], TD "/b1", AGENT, g_uid, 1);
  mk_entry(&in[2], TD "/b0", AGENT, g_uid, 1);  /* duplicate of in[0] */
  r0 = cur_revision(st);
  CHECK_ERR(cairn_store_entry_batch_create(st, in, 3, &out, &failed),
            CAIRN_ERR_EXISTS);
  CHECK_INT_EQ(failed, 2);
  CHECK(out == NULL);
  CHECK(strncmp(cairn_errdetail(), "entry 2: ", 9) == 0);
  CHECK_INT_EQ(count_entries(st, NULL), 0);
  CHECK_INT_EQ(cur_revision(st), r0);

  /* An invalid entry in the middle: nothing stored either. */
  mk_entry(&in[2], TD "/b2", AGENT, g_uid, 1);
  in[1].owner = "";
  CHECK_ERR(cairn_store_entry_batch_create(st, in, 3, NULL, &failed),
            CAIRN_ERR_INVAL);
  CHECK_INT_EQ(failed, 1);
  CHECK_INT_EQ(count_entries(st, NULL), 0);

  /* A good batch. */
  in[1].owner = "cloud";
  CHECK_OK(cairn_store_entry_batch_create(st, in, 3, &out, &failed));
  CHECK_INT_EQ(failed, 3);
  if (out) {
    CHECK_STR_EQ(out[2].spiffe_id, TD "/b2");
    CHECK_INT_EQ(out[2].revision, r0 + 3);
    CHECK(strcmp(out[0].entry_id, out[1].entry_id) != 0);
  }
  cairn_entry_array_free(out, 3);
  CHECK_INT_EQ(count_entries(st, NULL), 3);
  /* The same batch again conflicts on its first entry. */
  CHECK_ERR(cairn_store_entry_batch_create(st, in, 3, NULL, &failed),
            CAIRN_ERR_EXISTS);
  CHECK_INT_EQ(failed, 0);
  CHECK_OK(cairn_store_entry_batch_create(st, in, 0, NULL, NULL));
  CHECK_ERR(cairn_store_entry_batch_create(st, in, CAIRN_STORE_BATCH_MAX + 1,
                                           NULL, NULL),
            CAIRN_ERR_TOO_BIG);
  CHECK_INT_EQ(count_entries(st, NULL), 3);
  cairn_store_close(st);
}

static int has_id(const struct cairn_entry *v, size_t n, const char *id)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].entry_id, id) == 0) return 1;
  return 0;
}

static void test_revision_delta(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_entry e, *a = NULL, *b = NULL, *c = NULL;
  struct cairn_entry_delta *d = NULL;
  struct cairn_tombstone *ts = NULL;
  size_t nts = 0, pruned = 0;
  int64_t cur = -1, floor = -1, since, del_rev = 0;

  CHECK_OK(cairn_store_entry_revision(st, &cur, &floor));
  CHECK_INT_EQ(cur, 0);
  CHECK_INT_EQ(floor, 0);
  mk_entry(&e, TD "/a", AGENT, g_uid, 1);
  CHECK_OK(cairn_store_entry_create(st, &e, &a));
  mk_entry(&e, TD "/b", AGENT, g_uid, 1);
  e.owner = "site-a";
  CHECK_OK(cairn_store_entry_create(st, &e, &b));
  mk_entry(&e, TD "/c", AGENT, g_uid, 1);
  CHECK_OK(cairn_store_entry_create(st, &e, &c));
  if (!a || !b || !c) goto out;
  CHECK(a->revision < b->revision && b->revision < c->revision);

  /* Everything since 0. */
  CHECK_OK(cairn_store_entry_delta(st, 0, NULL, &d));
  if (d) {
    CHECK_INT_EQ(d->full, 0);
    CHECK_INT_EQ(d->revision, 3);
    CHECK_INT_EQ(d->n_entries, 3);
    CHECK_INT_EQ(d->n_removed, 0);
  }
  cairn_entry_delta_free(d);
  d = NULL;
  since = 3;

  /* Change b, delete a: the delta since 3 has b changed and a removed. */
  {
    struct cairn_entry bu = *b;  /* borrowed fields; b keeps ownership */
    bu.hint = "changed";
    CHECK_OK(cairn_store_entry_update(st, &bu, NULL));
  }
  CHECK_OK(cairn_store_entry_delete(st, a->entry_id, &del_rev));
  CHECK_INT_EQ(del_rev, 5);
  CHECK_OK(cairn_store_entry_delta(st, since, NULL, &d));
  if (d) {
    CHECK_INT_EQ(d->full, 0);
    CHECK_INT_EQ(d->revision, 5);
    CHECK_INT_EQ(d->n_entries, 1);
    if (d->n_entries == 1) {
      CHECK_STR_EQ(d->entries[0].entry_id, b->entry_id);
      CHECK_STR_EQ(d->entries[0].hint, "changed");
      CHECK_INT_EQ(d->entries[0].revision, 4);
    }
    CHECK_INT_EQ(d->n_removed, 1);
    if (d->n_removed == 1) {
      CHECK_STR_EQ(d->removed[0].entry_id, a->entry_id);
      CHECK_INT_EQ(d->removed[0].revision, 5);
      CHECK_STR_EQ(d->removed[0].spiffe_id, TD "/a");
      CHECK_STR_EQ(d->removed[0].owner, "cloud");
    }
  }
  cairn_entry_delta_free(d);
  d = NULL;

  /* Narrowed to one owner: site-a sees b's change, not a's removal. */
  {
    struct cairn_entry_filter f = {.owner = "site-a"};
    CHECK_OK(cairn_store_entry_delta(st, since, &f, &d));
    if (d) {
      CHECK_INT_EQ(d->n_entries, 1);
      CHECK_INT_EQ(d->n_removed, 0);
    }
    cairn_entry_delta_free(d);
    d = NULL;
    f.owner = "cloud";
    CHECK_OK(cairn_store_entry_delta(st, since, &f, &d));
    if (d) {
      CHECK_INT_EQ(d->n_entries, 0);
      CHECK_INT_EQ(d->n_removed, 1);
    }
    cairn_entry_delta_free(d);
    d = NULL;
  }

  /* Nothing since the current revision. */
  CHECK_OK(cairn_store_entry_delta(st, 5, NULL, &d));
  if (d) {
    CHECK_INT_EQ(d->full, 0);
    CHECK_INT_EQ(d->n_entries + d->n_removed, 0);
  }
  cairn_entry_delta_free(d);
  d = NULL;

  /* Re-creating a deleted ID replaces its tombstone. */
  CHECK_OK(cairn_store_entry_tombstones(st, 0, &ts, &nts));
  CHECK_INT_EQ(nts, 1);
  cairn_tombstone_array_free(ts, nts);
  mk_entry(&e, TD "/a-again", AGENT, g_uid, 1);
  e.entry_id = a->entry_id;
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  CHECK_OK(cairn_store_entry_tombstones(st, 0, &ts, &nts));
  CHECK_INT_EQ(nts, 0);
  CHECK(ts == NULL);
  CHECK_OK(cairn_store_entry_delta(st, since, NULL, &d));
  if (d) {
    CHECK_INT_EQ(d->n_entries, 2);
    CHECK(has_id(d->entries, d->n_entries, a->entry_id));
    CHECK_INT_EQ(d->n_removed, 0);
  }
  cairn_entry_delta_free(d);
  d = NULL;

  /* Prune tombstones: older deltas become full snapshots. */
  CHECK_OK(cairn_store_entry_delete(st, c->entry_id, &del_rev));  /* rev 7 */
  CHECK_OK(cairn_store_entry_tombstones_prune(st, 7, &pruned));
  CHECK_INT_EQ(pruned, 1);
  CHECK_OK(cairn_store_entry_revision(st, &cur, &floor));
  CHECK_INT_EQ(cur, 7);
  CHECK_INT_EQ(floor, 7);
  CHECK_OK(cairn_store_entry_delta(st, since, NULL, &d));
  if (d) {
    CHECK_INT_EQ(d->full, 1);
    CHECK_INT_EQ(d->n_entries, 2);  /* the complete current set: a, b */
    CHECK_INT_EQ(d->n_removed, 0);
    CHECK(!has_id(d->entries, d->n_entries, c->entry_id));
  }
  cairn_entry_delta_free(d);
  d = NULL;
  CHECK_OK(cairn_store_entry_delta(st, 7, NULL, &d));
  if (d) CHECK_INT_EQ(d->full, 0);
  cairn_entry_delta_free(d);
  d = NULL;
  /* A reader ahead of the store (restored backup) also gets everything. */
  CHECK_OK(cairn_store_entry_delta(st, 1000, NULL, &d));
  if (d) {
    CHECK_INT_EQ(d->full, 1);
    CHECK_INT_EQ(d->n_entries, 2);
  }
  cairn_entry_delta_free(d);
  d = NULL;
  CHECK_ERR(cairn_store_entry_delta(st, -1, NULL, &d), CAIRN_ERR_INVAL);
out:
  cairn_entry_free(a);
  cairn_entry_free(b);
  cairn_entry_free(c);
  cairn_store_close(st);
}

static void test_entry_prune_expired(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_entry e;
  struct cairn_tombstone *ts = NULL;
  size_t n = 0, nts = 0;
  mk_entry(&e, TD "/x1", AGENT, g_uid, 1);
  e.expires_at = T0;
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  mk_entry(&e, TD "/x2", AGENT, g_uid, 1);
  e.expires_at = T0 + 100;
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  mk_entry(&e, TD "/never", AGENT, g_uid, 1);
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  CHECK_OK(cairn_store_entry_prune_expired(st, T0 - 1, &n));
  CHECK_INT_EQ(n, 0);
  CHECK_OK(cairn_store_entry_prune_expired(st, T0, &n));
  CHECK_INT_EQ(n, 1);
  CHECK_INT_EQ(count_entries(st, NULL), 2);
  CHECK_OK(cairn_store_entry_tombstones(st, 0, &ts, &nts));
  CHECK_INT_EQ(nts, 1);
  if (nts == 1) CHECK_STR_EQ(ts[0].spiffe_id, TD "/x1");
  cairn_tombstone_array_free(ts, nts);
  CHECK_OK(cairn_store_entry_prune_expired(st, T0 + 1000000, &n));
  CHECK_INT_EQ(n, 1);
  CHECK_INT_EQ(count_entries(st, NULL), 1);
  cairn_store_close(st);
}

/* ---- transactions ---- */

static void test_transactions(void)
{
  const char *path = NULL;
  struct cairn_store *st = open_new(&path);
  struct cairn_entry e;

  /* rollback undoes several calls */
  CHECK_OK(cairn_store_begin(st));
  mk_entry(&e, TD "/t1", AGENT, g_uid, 1);
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  CHECK_OK(cairn_store_token_create(st, "tok-tx", NULL, T0, NULL));
  CHECK_OK(cairn_store_rollback(st));
  CHECK_INT_EQ(count_entries(st, NULL), 0);
  CHECK_INT_EQ(cur_revision(st), 0);
  CHECK_ERR(cairn_store_token_consume(st, "tok-tx", NULL),
            CAIRN_ERR_NOT_FOUND);

  /* A failing call inside a caller's transaction undoes only itself. */
  CHECK_OK(cairn_store_begin(st));
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  CHECK_ERR(cairn_store_entry_create(st, &e, NULL), CAIRN_ERR_EXISTS);
  mk_entry(&e, TD "/t2", AGENT, g_uid, 1);
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  CHECK_OK(cairn_store_commit(st));
  CHECK_INT_EQ(count_entries(st, NULL), 2);

  /* Nesting. */
  CHECK_OK(cairn_store_begin(st));
  CHECK_OK(cairn_store_begin(st));
  CHECK_OK(cairn_store_bundle_put(st, "example.org", "{}", 2,
                                  CAIRN_STORE_SEQ_NONE, 1));
  CHECK_OK(cairn_store_rollback(st));
  CHECK_OK(cairn_store_outbox_append(st, "audit", "a", 1, "ev-nest", NULL));
  CHECK_OK(cairn_store_commit(st));
  {
    char *j = NULL;
    size_t p = 0;
    CHECK_ERR(cairn_store_bundle_get(st, "example.org", &j, NULL, NULL),
              CAIRN_ERR_NOT_FOUND);
    CHECK(j == NULL);
    CHECK_OK(cairn_store_outbox_count(st, &p, NULL));
    CHECK_INT_EQ(p, 1);
  }

  /* Misuse. */
  CHECK_ERR(cairn_store_commit(st), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_rollback(st), CAIRN_ERR_INVAL);
  CHECK_OK(cairn_store_begin_read(st));
  CHECK_INT_EQ(count_entries(st, NULL), 2);
  mk_entry(&e, TD "/t3", AGENT, g_uid, 1);
  CHECK_ERR(cairn_store_entry_create(st, &e, NULL), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_begin(st), CAIRN_ERR_INVAL);
  CHECK_OK(cairn_store_commit(st));

  /* Closing with a transaction open rolls it back. */
  CHECK_OK(cairn_store_begin(st));
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  cairn_store_close(st);
  CHECK_OK(cairn_store_open(path, &st));
  CHECK_INT_EQ(count_entries(st, NULL), 2);
  cairn_store_close(st);
}

/* ---- attested nodes ---- */

static void test_nodes(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_selector sel[] = {{"x509pop", "subject:cn:n1"},
                                 {"k8s_psat", "cluster:c1"}};
  struct cairn_node n = {0}, *got = NULL, *list = NULL;
  struct cairn_node_filter f;
  size_t cnt = 0;

  cairn_time_set_fake(T0);
  n.spiffe_id = TD "/spire/agent/x509pop/n1";
  n.attestation_type = "x509pop";
  n.selectors = sel;
  n.n_selectors = 2;
  n.cert_serial = "0a1b2c";
  n.cert_not_after = T0 + 3600;
  n.banned = 1;  /* ignored: only ban() bans */
  CHECK_OK(cairn_store_node_upsert(st, &n, &got));
  if (got) {
    CHECK_STR_EQ(got->attestation_type, "x509pop");
    CHECK_INT_EQ(got->n_selectors, 2);
    if (got->n_selectors == 2) CHECK_STR_EQ(got->selectors[0].type, "k8s_psat");
    CHECK_STR_EQ(got->cert_serial, "0a1b2c");
    CHECK_INT_EQ(got->cert_not_after, T0 + 3600);
    CHECK_INT_EQ(got->banned, 0);
    CHECK_INT_EQ(got->created_at, T0);
    CHECK_INT_EQ(got->updated_at, T0);
  }
  cairn_node_free(got);
  got = NULL;

  /* Renewal: new serial, fewer selectors; created_at kept. */
  cairn_time_set_fake(T0 + 60);
  n.cert_serial = "0d0e";
  n.cert_not_after = T0 + 7200;
  n.n_selectors = 1;
  CHECK_OK(cairn_store_node_upsert(st, &n, NULL));
  CHECK_OK(cairn_store_node_get(st, n.spiffe_id, &got));
  if (got) {
    CHECK_STR_EQ(got->cert_serial, "0d0e");
    CHECK_INT_EQ(got->n_selectors, 1);
    CHECK_INT_EQ(got->created_at, T0);
    CHECK_INT_EQ(got->updated_at, T0 + 60);
  }
  cairn_node_free(got);
  got = NULL;

  /* A second node, join_token, no selectors, expiring earlier. */
  {
    struct cairn_node m = {0};
    m.spiffe_id = AGENT;
    m.attestation_type = "join_token";
    m.cert_not_after = T0 + 100;
    CHECK_OK(cairn_store_node_upsert(st, &m, NULL));
    m.attestation_type = "bad type!";
    CHECK_ERR(cairn_store_node_upsert(st, &m, NULL), CAIRN_ERR_INVAL);
    m.attestation_type = "join_token";
    m.spiffe_id = "not-an-id";
    CHECK_ERR(cairn_store_node_upsert(st, &m, NULL), CAIRN_ERR_INVAL);
  }
  CHECK_OK(cairn_store_node_list(st, NULL, &list, &cnt));
  CHECK_INT_EQ(cnt, 2);
  if (cnt == 2) CHECK_STR_EQ(list[0].spiffe_id, AGENT);  /* ordered */
  cairn_node_array_free(list, cnt);
  memset(&f, 0, sizeof f);
  f.attestation_type = "x509pop";
  CHECK_OK(cairn_store_node_count(st, &f, &cnt));
  CHECK_INT_EQ(cnt, 1);
  memset(&f, 0, sizeof f);
  f.expires_before = T0 + 1000;
  CHECK_OK(cairn_store_node_list(st, &f, &list, &cnt));
  CHECK_INT_EQ(cnt, 1);
  if (cnt == 1) CHECK_STR_EQ(list[0].spiffe_id, AGENT);
  cairn_node_array_free(list, cnt);
  memset(&f, 0, sizeof f);
  f.limit = 1;
  f.after_id = AGENT;
  CHECK_OK(cairn_store_node_list(st, &f, &list, &cnt));
  CHECK_INT_EQ(cnt, 1);
  if (cnt == 1) CHECK_STR_EQ(list[0].spiffe_id, n.spiffe_id);
  cairn_node_array_free(list, cnt);

  /* Ban: stays listed, cannot be refreshed. */
  CHECK_OK(cairn_store_node_ban(st, n.spiffe_id));
  CHECK_ERR(cairn_store_node_upsert(st, &n, NULL), CAIRN_ERR_DENIED);
  memset(&f, 0, sizeof f);
  f.banned = CAIRN_NODE_BANNED;
  CHECK_OK(cairn_store_node_count(st, &f, &cnt));
  CHECK_INT_EQ(cnt, 1);
  f.banned = CAIRN_NODE_NOT_BANNED;
  CHECK_OK(cairn_store_node_count(st, &f, &cnt));
  CHECK_INT_EQ(cnt, 1);
  CHECK_ERR(cairn_store_node_ban(st, TD "/spire/agent/none"),
            CAIRN_ERR_NOT_FOUND);

  /* Evict: gone, and then it may attest again. */
  CHECK_OK(cairn_store_node_delete(st, n.spiffe_id));
  CHECK_ERR(cairn_store_node_get(st, n.spiffe_id, &got), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_store_node_delete(st, n.spiffe_id), CAIRN_ERR_NOT_FOUND);
  CHECK_OK(cairn_store_node_upsert(st, &n, &got));
  if (got) CHECK_INT_EQ(got->banned, 0);
  cairn_node_free(got);
  cairn_store_close(st);
  cairn_time_set_fake(0);
}

/* ---- join tokens ---- */

static void test_tokens(void)
{
  struct cairn_store *st = open_new(NULL);
  struct cairn_join_token *t = NULL, *c = NULL, *list = NULL;
  size_t n = 0;
  char tok[CAIRN_STORE_TOKEN_MAX + 1] = "";

  cairn_time_set_fake(T0);
  CHECK_OK(cairn_store_token_create(st, NULL, AGENT, T0 + 600, &t));
  if (t) {
    CHECK_INT_EQ(strlen(t->token), CAIRN_STORE_UUID_LEN);
    CHECK_STR_EQ(t->spiffe_id, AGENT);
    CHECK_INT_EQ(t->expires_at, T0 + 600);
    CHECK_INT_EQ(t->created_at, T0);
    CHECK_INT_EQ(t->used_at, 0);
    snprintf(tok, sizeof tok, "%s", t->token);
  }
  cairn_join_token_free(t);
  t = NULL;
  /* Two generated tokens differ. */
  CHECK_OK(cairn_store_token_create(st, "", NULL, T0 + 600, &t));
  if (t) {
    CHECK(strcmp(t->token, tok) != 0);
    CHECK_STR_EQ(t->spiffe_id, "");
  }
  cairn_join_token_free(t);
  t = NULL;

  /* Single use. */
  CHECK_OK(cairn_store_token_consume(st, tok, &c));
  if (c) {
    CHECK_STR_EQ(c->spiffe_id, AGENT);
    CHECK_INT_EQ(c->used_at, T0);
  }
  cairn_join_token_free(c);
  c = NULL;
  CHECK_ERR(cairn_store_token_consume(st, tok, &c), CAIRN_ERR_NOT_FOUND);
  CHECK(strstr(cairn_errdetail(), "already used") != NULL);
  CHECK(c == NULL);
  CHECK_ERR(cairn_store_token_consume(st, "nope", NULL), CAIRN_ERR_NOT_FOUND);
  CHECK(strstr(cairn_errdetail(), "unknown") != NULL);

  /* Custom tokens, duplicates, bad input. */
  CHECK_OK(cairn_store_token_create(st, "my-token_1", NULL, T0 + 10, NULL));
  CHECK_ERR(cairn_store_token_create(st, "my-token_1", NULL, T0 + 10, NULL),
            CAIRN_ERR_EXISTS);
  CHECK_ERR(cairn_store_token_create(st, "has space", NULL, T0 + 10, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_token_create(st, "x", NULL, 0, NULL), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_token_create(st, "y", "bad-id", T0 + 1, NULL),
            CAIRN_ERR_INVAL);

  /* Expiry: at expires_at the token is expired, and stays unused. */
  cairn_time_set_fake(T0 + 10);
  CHECK_ERR(cairn_store_token_consume(st, "my-token_1", NULL),
            CAIRN_ERR_EXPIRED);
  CHECK_OK(cairn_store_token_list(st, &list, &n));
  CHECK_INT_EQ(n, 3);
  if (n == 3) {
    CHECK_STR_EQ(list[0].token, "my-token_1");  /* earliest expiry first */
    CHECK_INT_EQ(list[0].used_at, 0);
  }
  cairn_join_token_array_free(list, n);
  CHECK_OK(cairn_store_token_prune(st, T0 + 10, &n));
  CHECK_INT_EQ(n, 1);
  CHECK_ERR(cairn_store_token_consume(st, "my-token_1", NULL),
            CAIRN_ERR_NOT_FOUND);
  CHECK_OK(cairn_store_token_delete(st, tok));
  CHECK_ERR(cairn_store_token_delete(st, tok), CAIRN_ERR_NOT_FOUND);
  CHECK_OK(cairn_store_token_list(st, &list, &n));
  CHECK_INT_EQ(n, 1);
  cairn_join_token_array_free(list, n);
  cairn_store_close(st);
  cairn_time_set_fake(0);
}

/* Several processes race to consume one token: exactly one wins. */
static void test_token_race(void)
{
  const char *path = NULL;
  struct cairn_store *st = open_new(&path);
  enum { N = 4 };
  pid_t pids[N];
  int wins = 0, losses = 0;

  CHECK_OK(cairn_store_token_create(st, "race-token", NULL, INT64_MAX, NULL));
  cairn_store_close(st);  /* no connection may cross fork() */
  for (int i = 0; i < N; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      struct cairn_store *cs = NULL;
      int r = cairn_store_open(path, &cs);
      if (r == CAIRN_OK) r = cairn_store_token_consume(cs, "race-token", NULL);
      cairn_store_close(cs);
      _exit(r == CAIRN_OK ? 0 : r == CAIRN_ERR_NOT_FOUND ? 1 : 2);
    }
    CHECK(pids[i] > 0);
  }
  for (int i = 0; i < N; i++) {
    int status = 0;
    if (pids[i] <= 0) continue;
    CHECK_INT_EQ(waitpid(pids[i], &status, 0), pids[i]);
    CHECK(WIFEXITED(status));
    if (WEXITSTATUS(status) == 0) wins++;
    else if (WEXITSTATUS(status) == 1) losses++;
  }
  CHECK_INT_EQ(wins, 1);
  CHECK_INT_EQ(losses, N - 1);
}

/* ---- bundles ---- */

static void test_bundles(void)
{
  const char *path = NULL;
  struct cairn_store *a = open_new(&path), *b = NULL;
  static const char j1[] = "{\"keys\":[],\"spiffe_sequence\":1}";
  static const char j2[] = "{\"keys\":[],\"spiffe_sequence\":2}";
  char *json = NULL, **tds = NULL;
  size_t len = 0, n = 0;
  uint64_t seq = 0, seq_b = 0;

  CHECK_ERR(cairn_store_bundle_get(a, "example.org", &json, &len, &seq),
            CAIRN_ERR_NOT_FOUND);
  CHECK(json == NULL);
  CHECK_ERR(cairn_store_bundle_put(a, "example.org", j1, strlen(j1), 0, 1),
            CAIRN_ERR_NOT_FOUND);
  CHECK_OK(cairn_store_bundle_put(a, "example.org", j1, strlen(j1),
                                  CAIRN_STORE_SEQ_NONE, 1));
  CHECK_ERR(cairn_store_bundle_put(a, "example.org", j1, strlen(j1),
                                   CAIRN_STORE_SEQ_NONE, 1),
            CAIRN_ERR_EXISTS);
  CHECK_OK(cairn_store_bundle_get(a, "example.org", &json, &len, &seq));
  CHECK_STR_EQ(json, j1);
  CHECK_INT_EQ(len, strlen(j1));
  CHECK_INT_EQ(seq, 1);
  free(json);
  json = NULL;

  /* Two writers read sequence 1; the first put wins, the second must not
   * overwrite it. */
  CHECK_OK(cairn_store_open(path, &b));
  CHECK_OK(cairn_store_bundle_get(b, "example.org", &json, NULL, &seq_b));
  free(json);
  json = NULL;
  CHECK_INT_EQ(seq_b, 1);
  CHECK_OK(cairn_store_bundle_put(a, "example.org", j2, strlen(j2), seq, 2));
  CHECK_ERR(cairn_store_bundle_put(b, "example.org", "{\"lost\":1}", 10,
                                   seq_b, 2),
            CAIRN_ERR_EXISTS);
  CHECK(strstr(cairn_errdetail(), "concurrently") != NULL);
  /* b re-reads and retries. */
  CHECK_OK(cairn_store_bundle_get(b, "example.org", &json, NULL, &seq_b));
  CHECK_STR_EQ(json, j2);
  free(json);
  json = NULL;
  CHECK_OK(cairn_store_bundle_put(b, "example.org", "{\"v\":3}", 7, seq_b,
                                  seq_b + 1));
  CHECK_OK(cairn_store_bundle_get(a, "example.org", &json, NULL, &seq));
  CHECK_STR_EQ(json, "{\"v\":3}");
  CHECK_INT_EQ(seq, 3);
  free(json);
  json = NULL;
  cairn_store_close(b);

  /* The fingerprint of the other domains' bundles: 0 for none, and it
   * moves with every put and delete, never for the left-out domain. */
  {
    uint64_t f0 = 9, f1 = 0, f2 = 0, f3 = 0, f4 = 0;
    CHECK_OK(cairn_store_bundle_fingerprint(a, "example.org", &f0));
    CHECK_INT_EQ(f0, 0);
    CHECK_OK(cairn_store_bundle_put(a, "fed.example", j1, strlen(j1),
                                    CAIRN_STORE_SEQ_NONE, 1));
    CHECK_OK(cairn_store_bundle_fingerprint(a, "example.org", &f1));
    CHECK(f1 != 0 && f1 <= (uint64_t)INT64_MAX);
    CHECK_OK(cairn_store_bundle_put(a, "example.org", "{\"v\":4}", 7, 3, 4));
    CHECK_OK(cairn_store_bundle_fingerprint(a, "example.org", &f2));
    CHECK_INT_EQ(f2, f1);
    CHECK_OK(cairn_store_bundle_fingerprint(a, NULL, &f3));
    CHECK(f3 != f1);
    CHECK_OK(cairn_store_bundle_put(a, "fed.example", j2, strlen(j2), 1, 2));
    CHECK_OK(cairn_store_bundle_fingerprint(a, "example.org", &f2));
    CHECK(f2 != f1 && f2 != 0);
    CHECK_OK(cairn_store_bundle_put(a, "fed2.example", j1, strlen(j1),
                                    CAIRN_STORE_SEQ_NONE, 1));
    CHECK_OK(cairn_store_bundle_fingerprint(a, "example.org", &f4));
    CHECK(f4 != f2 && f4 != f1 && f4 != 0);
    CHECK_OK(cairn_store_bundle_delete(a, "fed2.example"));
    CHECK_OK(cairn_store_bundle_fingerprint(a, "example.org", &f3));
    CHECK_INT_EQ(f3, f2);
    CHECK_OK(cairn_store_bundle_delete(a, "fed.example"));
    CHECK_OK(cairn_store_bundle_fingerprint(a, "example.org", &f3));
    CHECK_INT_EQ(f3, 0);
    CHECK_ERR(cairn_store_bundle_fingerprint(a, NULL, NULL), CAIRN_ERR_INVAL);
  }

  /* Input checks. */
  CHECK_ERR(cairn_store_bundle_put(a, "example.org", "{}", 2, 4, 4),
            CAIRN_ERR_INVAL);  /* sequence must grow */
  CHECK_ERR(cairn_store_bundle_put(a, "example.org", "{\0}", 3, 3, 4),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_bundle_put(a, "example.org", "", 0, 3, 4),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_bundle_put(a, "Example.org", "{}", 2,
                                   CAIRN_STORE_SEQ_NONE, 1),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_bundle_put(a, "example.org", "{}", 2, 3,
                                   (uint64_t)INT64_MAX + 1),
            CAIRN_ERR_TOO_BIG);
  {
    size_t big = CAIRN_STORE_BLOB_MAX + 1;
    char *p = malloc(big);
    if (p) {
      memset(p, ' ', big);
      CHECK_ERR(cairn_store_bundle_put(a, "example.org", p, big, 3, 4),
                CAIRN_ERR_TOO_BIG);
    }
    free(p);
  }

  /* Federated bundles: list and delete. */
  CHECK_OK(cairn_store_bundle_put(a, "aaa.org", "{}", 2, CAIRN_STORE_SEQ_NONE,
                                  0));
  CHECK_OK(cairn_store_bundle_list(a, &tds, &n));
  CHECK_INT_EQ(n, 2);
  if (n == 2) {
    CHECK_STR_EQ(tds[0], "aaa.org");
    CHECK_STR_EQ(tds[1], "example.org");
  }
  cairn_store_strv_free(tds, n);
  CHECK_OK(cairn_store_bundle_delete(a, "aaa.org"));
  CHECK_ERR(cairn_store_bundle_delete(a, "aaa.org"), CAIRN_ERR_NOT_FOUND);
  cairn_store_close(a);
}

/* ---- CA journal ---- */

static void test_journal(void)
{
  struct cairn_store *st = open_new(NULL);
  static const uint8_t chain[] = {0x30, 0x82, 0x00, 0x00, 0x01};
  static const uint8_t pub[] = {0x30, 0x59, 0x00, 0xff};
  struct cairn_journal_slot s = {0}, *list = NULL;
  int64_t x = 0, j = 0;
  size_t n = 0;

  cairn_time_set_fake(T0);
  s.slot_id = "A";
  s.kind = CAIRN_CA_X509;
  s.status = CAIRN_CA_PREPARED;
  s.not_before = T0;
  s.not_after = T0 + 86400;
  s.chain = (uint8_t *)chain;
  s.chain_len = sizeof chain;
  s.public_key = (uint8_t *)pub;
  s.public_key_len = sizeof pub;
  s.key_ref = "x509-A.key";
  CHECK_OK(cairn_store_journal_insert(st, &s, &x));
  CHECK(x > 0);
  s.kind = CAIRN_CA_JWT;
  s.chain = NULL;
  s.chain_len = 0;
  s.key_ref = "jwt-A.key";
  CHECK_ERR(cairn_store_journal_insert(st, &s, &j), CAIRN_ERR_INVAL);  /* kid */
  s.kid = "kid-1";
  CHECK_OK(cairn_store_journal_insert(st, &s, &j));
  CHECK(j > x);

  /* Refusals: key paths and bytes never go in. */
  s.key_ref = "../keys/jwt-A.key";
  CHECK_ERR(cairn_store_journal_insert(st, &s, NULL), CAIRN_ERR_INVAL);
  s.key_ref = "..";
  CHECK_ERR(cairn_store_journal_insert(st, &s, NULL), CAIRN_ERR_INVAL);
  s.key_ref = "jwt-A.key";
  s.not_after = T0 - 1;
  CHECK_ERR(cairn_store_journal_insert(st, &s, NULL), CAIRN_ERR_INVAL);
  s.not_after = T0 + 86400;
  s.kind = CAIRN_CA_X509;
  CHECK_ERR(cairn_store_journal_insert(st, &s, NULL), CAIRN_ERR_INVAL);
  s.kind = (enum cairn_ca_kind)7;
  CHECK_ERR(cairn_store_journal_insert(st, &s, NULL), CAIRN_ERR_INVAL);

  CHECK_OK(cairn_store_journal_list(st, 0, &list, &n));
  CHECK_INT_EQ(n, 2);
  if (n == 2) {
    CHECK_INT_EQ(list[0].id, x);
    CHECK_INT_EQ(list[0].kind, CAIRN_CA_X509);
    CHECK_INT_EQ(list[0].status, CAIRN_CA_PREPARED);
    CHECK_STR_EQ(list[0].slot_id, "A");
    CHECK_INT_EQ(list[0].chain_len, sizeof chain);
    CHECK(memcmp(list[0].chain, chain, sizeof chain) == 0);
    CHECK_INT_EQ(list[0].public_key_len, sizeof pub);
    CHECK(memcmp(list[0].public_key, pub, sizeof pub) == 0);
    CHECK_STR_EQ(list[0].key_ref, "x509-A.key");
    CHECK_STR_EQ(list[0].kid, "");
    CHECK_INT_EQ(list[0].not_after, T0 + 86400);
    CHECK_INT_EQ(list[1].kind, CAIRN_CA_JWT);
    CHECK_INT_EQ(list[1].chain_len, 0);
    CHECK(list[1].chain != NULL);
    CHECK_STR_EQ(list[1].kid, "kid-1");
  }
  cairn_journal_slot_array_free(list, n);
  CHECK_OK(cairn_store_journal_list(st, CAIRN_CA_JWT, &list, &n));
  CHECK_INT_EQ(n, 1);
  cairn_journal_slot_array_free(list, n);

  /* Status moves forward only. */
  cairn_time_set_fake(T0 + 5);
  CHECK_OK(cairn_store_journal_set_status(st, x, CAIRN_CA_ACTIVE));
  CHECK_OK(cairn_store_journal_set_status(st, x, CAIRN_CA_ACTIVE));
  CHECK_ERR(cairn_store_journal_set_status(st, x, CAIRN_CA_PREPARED),
            CAIRN_ERR_POLICY);
  CHECK_OK(cairn_store_journal_set_status(st, x, CAIRN_CA_OLD));
  CHECK_ERR(cairn_store_journal_set_status(st, x, CAIRN_CA_ACTIVE),
            CAIRN_ERR_POLICY);
  CHECK_OK(cairn_store_journal_set_status(st, j, CAIRN_CA_OLD));
  CHECK_ERR(cairn_store_journal_set_status(st, 999, CAIRN_CA_OLD),
            CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_store_journal_set_status(st, x, (enum cairn_ca_status)0),
            CAIRN_ERR_INVAL);
  CHECK_OK(cairn_store_journal_list(st, CAIRN_CA_X509, &list, &n));
  if (n == 1) {
    CHECK_INT_EQ(list[0].status, CAIRN_CA_OLD);
    CHECK_INT_EQ(list[0].created_at, T0);
    CHECK_INT_EQ(list[0].updated_at, T0 + 5);
  }
  cairn_journal_slot_array_free(list, n);
  CHECK_OK(cairn_store_journal_delete(st, x));
  CHECK_ERR(cairn_store_journal_delete(st, x), CAIRN_ERR_NOT_FOUND);
  CHECK_OK(cairn_store_journal_list(st, 0, &list, &n));
  CHECK_INT_EQ(n, 1);
  cairn_journal_slot_array_free(list, n);
  cairn_store_close(st);
  cairn_time_set_fake(0);
}

/* ---- outbox and inbox ---- */

static void test_outbox(void)
{
  struct cairn_store *st = open_new(NULL);
  static const uint8_t bin[] = {0x00, 0xff, 0x00, 0x41};
  char id1[CAIRN_STORE_EVENT_ID_MAX + 1], id3[CAIRN_STORE_EVENT_ID_MAX + 1];
  struct cairn_outbox_rec *v = NULL;
  size_t n = 0, pending = 0, total = 0;
  int fresh = -1;

  cairn_time_set_fake(T0);
  CHECK_OK(cairn_store_outbox_append(st, "node.attested", bin, sizeof bin,
                                     NULL, id1));
  CHECK_INT_EQ(strlen(id1), CAIRN_STORE_UUID_LEN);
  CHECK_OK(cairn_store_outbox_append(st, "svid.issued", "abc", 3, "ev-2",
                                     NULL));
  CHECK_OK(cairn_store_outbox_append(st, "audit", NULL, 0, "ev-3", id3));
  CHECK_STR_EQ(id3, "ev-3");
  CHECK_ERR(cairn_store_outbox_append(st, "audit", "x", 1, "ev-2", NULL),
            CAIRN_ERR_EXISTS);
  CHECK_ERR(cairn_store_outbox_append(st, "bad kind", "x", 1, NULL, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_outbox_append(st, "audit", NULL, 5, NULL, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_store_outbox_append(st, "audit", "x",
                                      CAIRN_STORE_BLOB_MAX + 1, NULL, NULL),
            CAIRN_ERR_TOO_BIG);

  CHECK_OK(cairn_store_outbox_pending(st, 0, &v, &n));
  CHECK_INT_EQ(n, 3);
  if (n == 3) {
    CHECK_STR_EQ(v[0].event_id, id1);
    CHECK_STR_EQ(v[0].kind, "node.attested");
    CHECK_INT_EQ(v[0].payload_len, sizeof bin);
    CHECK(memcmp(v[0].payload, bin, sizeof bin) == 0);
    CHECK_INT_EQ(v[0].created_at, T0);
    CHECK_INT_EQ(v[0].delivered_at, 0);
    CHECK_STR_EQ(v[1].event_id, "ev-2");
    CHECK_STR_EQ(v[2].event_id, "ev-3");
    CHECK_INT_EQ(v[2].payload_len, 0);
    CHECK(v[0].seq < v[1].seq && v[1].seq < v[2].seq);
  }
  cairn_outbox_array_free(v, n);
  CHECK_OK(cairn_store_outbox_pending(st, 2, &v, &n));
  CHECK_INT_EQ(n, 2);
  cairn_outbox_array_free(v, n);

  /* Delivery is recorded once; repeating it is harmless. */
  CHECK_OK(cairn_store_outbox_mark_delivered(st, "ev-2"));
  cairn_time_set_fake(T0 + 50);
  CHECK_OK(cairn_store_outbox_mark_delivered(st, "ev-2"));
  CHECK_ERR(cairn_store_outbox_mark_delivered(st, "ev-none"),
            CAIRN_ERR_NOT_FOUND);
  CHECK_OK(cairn_store_outbox_count(st, &pending, &total));
  CHECK_INT_EQ(pending, 2);
  CHECK_INT_EQ(total, 3);
  CHECK_OK(cairn_store_outbox_pending(st, 0, &v, &n));
  CHECK_INT_EQ(n, 2);
  if (n == 2) {
    CHECK_STR_EQ(v[0].event_id, id1);
    CHECK_STR_EQ(v[1].event_id, "ev-3");
  }
  cairn_outbox_array_free(v, n);
  /* Prune uses the first delivery time (T0), not the repeat (T0 + 50). */
  CHECK_OK(cairn_store_outbox_prune(st, T0 - 1, &n));
  CHECK_INT_EQ(n, 0);
  CHECK_OK(cairn_store_outbox_prune(st, T0, &n));
  CHECK_INT_EQ(n, 1);
  CHECK_OK(cairn_store_outbox_count(st, &pending, &total));
  CHECK_INT_EQ(pending, 2);
  CHECK_INT_EQ(total, 2);

  /* Inbox: the upstream applies each event once. */
  CHECK_OK(cairn_store_inbox_record(st, "site-a", "ev-2", &fresh));
  CHECK_INT_EQ(fresh, 1);
  CHECK_OK(cairn_store_inbox_record(st, "site-a", "ev-2", &fresh));
  CHECK_INT_EQ(fresh, 0);
  CHECK_OK(cairn_store_inbox_record(st, "site-b", "ev-2", &fresh));
  CHECK_INT_EQ(fresh, 1);
  /* Recorded together with its effect: a rolled-back apply is no record. */
  CHECK_OK(cairn_store_begin(st));
  CHECK_OK(cairn_store_inbox_record(st, "site-a", "ev-9", &fresh));
  CHECK_INT_EQ(fresh, 1);
  CHECK_OK(cairn_store_rollback(st));
  CHECK_OK(cairn_store_inbox_record(st, "site-a", "ev-9", &fresh));
  CHECK_INT_EQ(fresh, 1);
  CHECK_ERR(cairn_store_inbox_record(st, "site/a", "ev-9", &fresh),
            CAIRN_ERR_INVAL);
  CHECK_OK(cairn_store_inbox_prune(st, T0 + 50, &n));
  CHECK_INT_EQ(n, 3);  /* site-a/ev-2, site-b/ev-2, site-a/ev-9 */
  cairn_store_close(st);
  cairn_time_set_fake(0);
}

/* ---- persistence ---- */

static void test_reopen(void)
{
  const char *path = NULL;
  struct cairn_store *st = open_new(&path);
  struct cairn_entry e, *list = NULL;
  struct cairn_node nd = {0}, *gn = NULL;
  struct cairn_journal_slot js = {0}, *jl = NULL;
  struct cairn_outbox_rec *ob = NULL;
  static const uint8_t pub[] = {1, 2, 3};
  char *json = NULL;
  uint64_t seq = 0;
  size_t n = 0;
  int64_t rev = 0, floor = 0;

  mk_entry(&e, TD "/p1", AGENT, g_k8s, 2);
  e.entry_id = "persist-1";
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  mk_entry(&e, TD "/p2", AGENT, g_k8s, 2);
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  CHECK_OK(cairn_store_entry_delete(st, "persist-1", NULL));
  nd.spiffe_id = AGENT;
  nd.attestation_type = "join_token";
  CHECK_OK(cairn_store_node_upsert(st, &nd, NULL));
  CHECK_OK(cairn_store_token_create(st, "persist-token", NULL, INT64_MAX,
                                    NULL));
  CHECK_OK(cairn_store_bundle_put(st, "example.org", "{\"keys\":[]}", 11,
                                  CAIRN_STORE_SEQ_NONE, 5));
  js.slot_id = "B";
  js.kind = CAIRN_CA_JWT;
  js.status = CAIRN_CA_ACTIVE;
  js.public_key = (uint8_t *)pub;
  js.public_key_len = sizeof pub;
  js.key_ref = "jwt-B.key";
  js.kid = "k";
  CHECK_OK(cairn_store_journal_insert(st, &js, NULL));
  CHECK_OK(cairn_store_outbox_append(st, "audit", "p", 1, "persist-ev", NULL));
  cairn_store_close(st);

  CHECK_OK(cairn_store_open(path, &st));
  CHECK_OK(cairn_store_entry_list(st, NULL, &list, &n));
  CHECK_INT_EQ(n, 1);
  if (n == 1) CHECK_STR_EQ(list[0].spiffe_id, TD "/p2");
  cairn_entry_array_free(list, n);
  CHECK_OK(cairn_store_entry_revision(st, &rev, &floor));
  CHECK_INT_EQ(rev, 3);
  {
    struct cairn_tombstone *ts = NULL;
    CHECK_OK(cairn_store_entry_tombstones(st, 0, &ts, &n));
    CHECK_INT_EQ(n, 1);
    cairn_tombstone_array_free(ts, n);
  }
  CHECK_OK(cairn_store_node_get(st, AGENT, &gn));
  cairn_node_free(gn);
  CHECK_OK(cairn_store_bundle_get(st, "example.org", &json, NULL, &seq));
  CHECK_STR_EQ(json, "{\"keys\":[]}");
  CHECK_INT_EQ(seq, 5);
  free(json);
  CHECK_OK(cairn_store_journal_list(st, 0, &jl, &n));
  CHECK_INT_EQ(n, 1);
  if (n == 1) CHECK_STR_EQ(jl[0].kid, "k");
  cairn_journal_slot_array_free(jl, n);
  CHECK_OK(cairn_store_outbox_pending(st, 0, &ob, &n));
  CHECK_INT_EQ(n, 1);
  cairn_outbox_array_free(ob, n);
  /* Counters continue where they were. */
  mk_entry(&e, TD "/p3", AGENT, g_k8s, 2);
  {
    struct cairn_entry *got = NULL;
    CHECK_OK(cairn_store_entry_create(st, &e, &got));
    if (got) CHECK_INT_EQ(got->revision, 4);
    cairn_entry_free(got);
  }
  CHECK_OK(cairn_store_token_consume(st, "persist-token", NULL));
  cairn_store_close(st);
}

/* ---- a second process writing concurrently ---- */

static void test_concurrent_writer(void)
{
  const char *path = NULL;
  struct cairn_store *st = open_new(&path);
  struct cairn_entry e;
  int held[2], go[2];
  pid_t pid;
  char c = 0;
  double t0, waited;

  cairn_store_close(st);  /* no connection may cross fork() */
  st = NULL;
  CHECK_INT_EQ(pipe(held), 0);
  CHECK_INT_EQ(pipe(go), 0);
  pid = fork();
  if (pid == 0) {
    /* Child: hold a write transaction until told, then commit late. */
    struct cairn_store *cs = NULL;
    struct cairn_entry ce;
    int ok = 1;
    close(held[0]);
    close(go[1]);
    ok = ok && cairn_store_open(path, &cs) == CAIRN_OK;
    ok = ok && cairn_store_begin(cs) == CAIRN_OK;
    mk_entry(&ce, TD "/child", AGENT, g_uid, 1);
    ok = ok && cairn_store_entry_create(cs, &ce, NULL) == CAIRN_OK;
    if (write(held[1], ok ? "h" : "f", 1) != 1) ok = 0;
    if (read(go[0], &c, 1) != 1) ok = 0;
    usleep(300 * 1000);
    ok = ok && cairn_store_commit(cs) == CAIRN_OK;
    cairn_store_close(cs);
    _exit(ok ? 0 : 1);
  }
  CHECK(pid > 0);
  close(held[1]);
  close(go[0]);
  if (pid <= 0) return;
  CHECK_INT_EQ(read(held[0], &c, 1), 1);
  CHECK_INT_EQ(c, 'h');

  /* Opening an up-to-date store does not wait for the writer... */
  t0 = now_s();
  CHECK_OK(cairn_store_open(path, &st));
  CHECK(now_s() - t0 < 1.0);
  if (!st) goto out;
  /* ...readers are never blocked, and see only committed data. */
  CHECK_INT_EQ(count_entries(st, NULL), 0);
  /* A writer with a short busy timeout gives up with a clear error. */
  CHECK_OK(cairn_store_set_busy_timeout(st, 100));
  mk_entry(&e, TD "/parent", AGENT, g_uid, 1);
  t0 = now_s();
  CHECK_ERR(cairn_store_entry_create(st, &e, NULL), CAIRN_ERR_TIMEOUT);
  CHECK(now_s() - t0 >= 0.08);
  CHECK(strstr(cairn_errdetail(), "busy") != NULL);
  CHECK_ERR(cairn_store_set_busy_timeout(st, -1), CAIRN_ERR_INVAL);
  /* With the default it waits for the other writer and then succeeds. */
  CHECK_OK(cairn_store_set_busy_timeout(st, 5000));
  CHECK_INT_EQ(write(go[1], "g", 1), 1);
  t0 = now_s();
  CHECK_OK(cairn_store_entry_create(st, &e, NULL));
  waited = now_s() - t0;
  printf("# second writer waited %.3f s for the first to commit\n", waited);
  CHECK(waited >= 0.2);
  CHECK_INT_EQ(count_entries(st, NULL), 2);
  CHECK_INT_EQ(cur_revision(st), 2);
out:
  {
    int status = 0;
    if (st == NULL) (void)!write(go[1], "g", 1);
    CHECK_INT_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  close(held[0]);
  close(go[1]);
  cairn_store_close(st);
}

/* ---- scale ---- */

static void test_batch_10k(void)
{
  enum { N = 10000 };
  struct cairn_store *st = open_new(NULL);
  struct cairn_entry *in = calloc(N, sizeof *in), *list = NULL;
  struct cairn_selector *sel = calloc(2 * N, sizeof *sel);
  char (*ids)[64] = calloc(N, sizeof *ids);
  char (*vals)[32] = calloc(N, sizeof *vals);
  size_t n = 0;
  double t0, t1, t2, t3;

  if (!in || !sel || !ids || !vals) {
    CHECK(0);
    goto out;
  }
  for (size_t i = 0; i < N; i++) {
    snprintf(ids[i], sizeof ids[i], TD "/ns/default/sa/w%zu", i);
    snprintf(vals[i], sizeof vals[i], "sa:w%zu", i);
    sel[2 * i].type = "k8s";
    sel[2 * i].value = "ns:default";
    sel[2 * i + 1].type = "k8s";
    sel[2 * i + 1].value = vals[i];
    mk_entry(&in[i], ids[i], AGENT, &sel[2 * i], 2);
  }
  t0 = now_s();
  CHECK_OK(cairn_store_entry_batch_create(st, in, N, NULL, NULL));
  t1 = now_s();
  CHECK_INT_EQ(count_entries(st, NULL), N);
  CHECK_OK(cairn_store_entry_list(st, NULL, &list, &n));
  t2 = now_s();
  CHECK_INT_EQ(n, N);
  cairn_entry_array_free(list, n);
  {
    /* The authorisation query for one workload. */
    struct cairn_selector wl[] = {{"k8s", "ns:default"}, {"k8s", "sa:w4242"},
                                  {"unix", "uid:0"}};
    struct cairn_entry_filter f = {.parent_id = AGENT, .selectors = wl,
                                   .n_selectors = 3};
    CHECK_OK(cairn_store_entry_list(st, &f, &list, &n));
    t3 = now_s();
    CHECK_INT_EQ(n, 1);
    if (n == 1) CHECK_STR_EQ(list[0].spiffe_id, TD "/ns/default/sa/w4242");
    cairn_entry_array_free(list, n);
  }
  printf("# batch create %d entries: %.3f s; list all: %.3f s; "
         "selector match: %.3f s\n",
         N, t1 - t0, t2 - t1, t3 - t2);
out:
  free(in);
  free(sel);
  free(ids);
  free(vals);
  cairn_store_close(st);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  RUN(test_open_fresh);
  RUN(test_open_refusals);
  RUN(test_future_schema);
  RUN(test_migration_upgrade);
  RUN(test_migration_atomic);
  RUN(test_concurrent_open);
  RUN(test_entry_crud);
  RUN(test_entry_cascade);
  RUN(test_entry_duplicate);
  RUN(test_entry_validation);
  RUN(test_entry_list_filters);
  RUN(test_batch_atomic);
  RUN(test_revision_delta);
  RUN(test_entry_prune_expired);
  RUN(test_transactions);
  RUN(test_nodes);
  RUN(test_tokens);
  RUN(test_token_race);
  RUN(test_bundles);
  RUN(test_journal);
  RUN(test_outbox);
  RUN(test_reopen);
  RUN(test_concurrent_writer);
  RUN(test_batch_10k);
  return test_done();
}
