/* Unit tests for the CA manager (ca.c, ca_upstream.c): fresh start,
 * SPIRE rotation thresholds driven with cairn_time_set_fake(), journal and
 * key files across restarts (disk and memory key managers), the bundle
 * and its sequence, UpstreamAuthority "disk" (with openssl verify), the
 * upstream callback, signing rules and forced rotation. */
#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/store.h"
#include "cairn/util.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 ((time_t)1800000000) /* 2027-01-15T08:00:00Z */
#define DAY 86400
#define TD "example.org"

static int g_n; /* makes each test's files unique */

/* A path under the test directory, unique per test (64 kept at once). */
static const char *uniq(const char *what)
{
  static char b[64][512];
  static int i;
  char *p = b[i++ & 63];
  snprintf(p, 512, "%s/%s-%d", test_tmpdir(), what, g_n);
  return p;
}

static struct cairn_store *open_store(void)
{
  struct cairn_store *st = NULL;
  CHECK_OK(cairn_store_open(uniq("db"), &st));
  return st;
}

static void opts_init(struct cairn_ca_opts *o, const char *keys)
{
  memset(o, 0, sizeof *o);
  o->trust_domain = TD;
  o->keys_dir = keys;
  o->ca_ttl = DAY;
}

static struct cairn_key *gen(void)
{
  struct cairn_key *k = NULL;
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  return k;
}

static struct cairn_cert *issue(enum cairn_cert_kind kind, const char *id,
                                int64_t ttl, const struct cairn_key *subj,
                                const struct cairn_key *ikey,
                                const struct cairn_cert *issuer)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;
  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.ttl = ttl;
  t.path_len = -1;
  CHECK_OK(cairn_cert_issue(&t, subj, ikey, issuer, &c));
  return c;
}

static struct cairn_bundle *bundle_of(struct cairn_ca *ca)
{
  struct cairn_bundle *b = NULL;
  CHECK_OK(cairn_ca_bundle(ca, &b));
  return b;
}

static size_t nroots(const struct cairn_bundle *b)
{
  return cairn_cert_list_count(cairn_bundle_x509(b));
}

/* The bundle root whose SKID hex is id, as a one-element list (or an
 * empty list). */
static struct cairn_cert_list *root_by_id(const struct cairn_bundle *b,
                                          const char *id)
{
  const struct cairn_cert_list *l = cairn_bundle_x509(b);
  struct cairn_cert_list *out = NULL;
  CHECK_OK(cairn_cert_list_new(&out));
  for (size_t i = 0; i < cairn_cert_list_count(l); i++) {
    size_t n;
    char hex[129];
    const uint8_t *sk = cairn_cert_skid(cairn_cert_list_at(l, i), &n);
    if (!sk || n * 2 + 1 > sizeof hex) continue;
    cairn_hex(sk, n, hex);
    if (strcmp(hex, id) == 0)
      CHECK_OK(cairn_cert_list_push_copy(out, cairn_cert_list_at(l, i)));
  }
  return out;
}

/* Signs an X509-SVID for a fresh key; the chain or NULL. */
static struct cairn_cert_list *svid(struct cairn_ca *ca, const char *id)
{
  struct cairn_key *k = gen();
  struct cairn_cert_list *chain = NULL;
  CHECK_OK(cairn_ca_sign_x509_svid(ca, k, id, NULL, 0, 3600, &chain));
  cairn_key_free(k);
  return chain;
}

static int file_mode(const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  return (int)(st.st_mode & 0777);
}

static size_t journal_count(struct cairn_store *st, enum cairn_ca_status s)
{
  struct cairn_journal_slot *rows = NULL;
  size_t n = 0, k = 0;
  CHECK_OK(cairn_store_journal_list(st, 0, &rows, &n));
  for (size_t i = 0; i < n; i++)
    if (rows[i].status == s) k++;
  cairn_journal_slot_array_free(rows, n);
  return k;
}

static char *kid_of(const char *token)
{
  struct cairn_jwt_claims *c = NULL;
  char *kid;
  CHECK_OK(cairn_jwt_parse_unverified(token, &c));
  kid = c ? cairn_strdup(c->kid) : NULL;
  cairn_jwt_claims_free(c);
  return kid;
}

/* ---- fresh start ----------------------------------------------------- */

static void test_fresh_start(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_ca_state s;
  struct cairn_bundle *b, *stored = NULL;
  struct cairn_cert_list *chain;
  struct cairn_id id;
  char *json = NULL, path[600];
  size_t len = 0;
  uint64_t seq = 0;
  const char *keys = uniq("keys");

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, keys);
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_current.state, CAIRN_CA_SLOT_ACTIVE);
  CHECK_INT_EQ(s.jwt_current.state, CAIRN_CA_SLOT_ACTIVE);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.jwt_next.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.x509_current.not_after, T0 + DAY);
  CHECK_INT_EQ(s.x509_current.not_before, T0 - CAIRN_CERT_BACKDATE);
  CHECK_INT_EQ(s.x509_current.prepare_at,
               T0 + DAY - (DAY + CAIRN_CERT_BACKDATE) / 2);
  CHECK_INT_EQ(s.x509_next.prepare_at, 0);
  CHECK_INT_EQ(s.jwt_current.not_after, T0 + DAY);
  CHECK_INT_EQ(strlen(s.x509_current.id), 40);
  CHECK_INT_EQ(strlen(s.jwt_current.id), 32);
  CHECK_INT_EQ(s.bundle_sequence, 1);
  CHECK_INT_EQ(s.bundle_x509_count, 1);
  CHECK_INT_EQ(s.bundle_jwt_count, 1);
  CHECK_INT_EQ(s.upstream, 0);
  CHECK_STR_EQ(cairn_ca_trust_domain(ca), TD);
  CHECK_INT_EQ(cairn_ca_bundle_sequence(ca), 1);

  /* The store holds the same bundle with sequence 1. */
  CHECK_OK(cairn_store_bundle_get(st, TD, &json, &len, &seq));
  CHECK_INT_EQ(seq, 1);
  CHECK_OK(cairn_bundle_parse_json(TD, json, len, 0, &stored));
  b = bundle_of(ca);
  CHECK(stored && b && cairn_bundle_content_equal(stored, b));
  CHECK(b && cairn_bundle_jwt_find(b, s.jwt_current.id) != NULL);
  CHECK_INT_EQ(cairn_bundle_sequence(b), 1);

  /* Journal: two active rows; key files 0600 in a 0700 directory. */
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_ACTIVE), 2);
  CHECK_INT_EQ(file_mode(keys), 0700);
  snprintf(path, sizeof path, "%s/jwt-%s.pem", keys, s.jwt_current.id);
  CHECK_INT_EQ(file_mode(path), 0600);

  /* Self-signed: the SVID chain is the leaf alone; it verifies. */
  chain = svid(ca, "spiffe://" TD "/workload");
  CHECK_INT_EQ(cairn_cert_list_count(chain), 1);
  if (chain && b)
    CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, &id));
  CHECK_STR_EQ(id.str, "spiffe://" TD "/workload");
  cairn_cert_list_free(chain);

  /* A tick right away changes nothing. */
  {
    int changed = 7;
    CHECK_OK(cairn_ca_tick(ca, &changed));
    CHECK_INT_EQ(changed, 0);
    CHECK_INT_EQ(cairn_ca_bundle_sequence(ca), 1);
  }
  cairn_bundle_free(b);
out:
  cairn_bundle_free(stored);
  free(json);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* ---- rotation -------------------------------------------------------- */

static void test_rotation(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_ca_state s0, s;
  struct cairn_bundle *b = NULL;
  struct cairn_cert_list *chain = NULL, *r_old = NULL, *r_new = NULL;
  const char *aud[] = {"svc"};
  char *tok = NULL, *kid = NULL, path[600];
  const char *keys = uniq("keys");
  int changed = 0;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, keys);
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s0);

  /* Before half-life: nothing. X.509 L = 24h + 10 s: prepare after
   * T0 + 43195; JWT L = 24h: after T0 + 43200. */
  cairn_time_set_fake(T0 + 43190);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(changed, 0);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.bundle_sequence, 1);

  /* X.509 due, JWT not yet. */
  cairn_time_set_fake(T0 + 43198);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(changed, 1);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK_INT_EQ(s.jwt_next.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.bundle_sequence, 2);
  CHECK_INT_EQ(s.bundle_x509_count, 2);
  CHECK_INT_EQ(s.bundle_jwt_count, 1);
  CHECK_STR_EQ(s.x509_current.id, s0.x509_current.id);

  /* After half-life: JWT prepared too, sequence bumped again. */
  cairn_time_set_fake(T0 + 43201);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(changed, 1);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.jwt_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK_INT_EQ(s.bundle_sequence, 3);
  CHECK_INT_EQ(s.bundle_jwt_count, 2);
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_PREPARED), 2);
  CHECK_INT_EQ(s.x509_next.not_after, T0 + 43198 + DAY);
  CHECK_INT_EQ(s.jwt_next.not_after, T0 + 43201 + DAY);

  /* SVIDs still chain to the old root only. */
  b = bundle_of(ca);
  r_old = root_by_id(b, s0.x509_current.id);
  r_new = root_by_id(b, s.x509_next.id);
  CHECK_INT_EQ(cairn_cert_list_count(r_old), 1);
  CHECK_INT_EQ(cairn_cert_list_count(r_new), 1);
  chain = svid(ca, "spiffe://" TD "/w");
  if (chain) {
    CHECK_OK(cairn_cert_verify(chain, r_old, TD, 0, 0, NULL));
    CHECK_ERR(cairn_cert_verify(chain, r_new, TD, 0, 0, NULL),
              CAIRN_ERR_UNTRUSTED);
  }
  cairn_cert_list_free(chain);
  chain = NULL;

  /* Between the thresholds: nothing. */
  cairn_time_set_fake(T0 + 60000);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(changed, 0);

  /* 5/6: X.509 activates after T0 + 71999, JWT after T0 + 72000. */
  cairn_time_set_fake(T0 + 72001);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(changed, 0); /* the bundle already held both */
  {
    struct cairn_ca_state s2;
    cairn_ca_get_status(ca, &s2);
    CHECK_INT_EQ(s2.x509_current.state, CAIRN_CA_SLOT_ACTIVE);
    CHECK_STR_EQ(s2.x509_current.id, s.x509_next.id);
    CHECK_STR_EQ(s2.jwt_current.id, s.jwt_next.id);
    CHECK_INT_EQ(s2.x509_next.state, CAIRN_CA_SLOT_EMPTY);
    CHECK_INT_EQ(s2.jwt_next.state, CAIRN_CA_SLOT_EMPTY);
    CHECK_INT_EQ(s2.bundle_x509_count, 2); /* old root stays */
    CHECK_INT_EQ(s2.bundle_sequence, 3);
  }
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_OLD), 2);
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_ACTIVE), 2);
  chain = svid(ca, "spiffe://" TD "/w");
  if (chain) {
    CHECK_OK(cairn_cert_verify(chain, r_new, TD, 0, 0, NULL));
    CHECK_ERR(cairn_cert_verify(chain, r_old, TD, 0, 0, NULL),
              CAIRN_ERR_UNTRUSTED);
  }
  CHECK_OK(cairn_ca_sign_jwt_svid(ca, "spiffe://" TD "/w", aud, 1, 60, &tok,
                                  NULL));
  kid = tok ? kid_of(tok) : NULL;
  CHECK_STR_EQ(kid, s.jwt_next.id);

  /* The old authorities expire at T0 + 86400: pruned from the bundle,
   * their journal rows and key files deleted. The new CA's own half-life
   * (T0 + 86396) has passed too, so a next one is prepared. */
  cairn_time_set_fake(T0 + DAY + 1);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(changed, 1);
  cairn_bundle_free(b);
  b = bundle_of(ca);
  cairn_cert_list_free(r_old);
  r_old = root_by_id(b, s0.x509_current.id);
  CHECK_INT_EQ(cairn_cert_list_count(r_old), 0);
  CHECK(b && cairn_bundle_jwt_find(b, s0.jwt_current.id) == NULL);
  CHECK(b && cairn_bundle_jwt_find(b, s.jwt_next.id) != NULL);
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_OLD), 0);
  snprintf(path, sizeof path, "%s/jwt-%s.pem", keys, s0.jwt_current.id);
  CHECK(access(path, F_OK) != 0);
  snprintf(path, sizeof path, "%s/jwt-%s.pem", keys, s.jwt_next.id);
  CHECK(access(path, F_OK) == 0);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK_INT_EQ(s.bundle_x509_count, 2);
  CHECK_INT_EQ(s.bundle_sequence, 4);
out:
  free(tok);
  free(kid);
  cairn_cert_list_free(chain);
  cairn_cert_list_free(r_old);
  cairn_cert_list_free(r_new);
  cairn_bundle_free(b);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* A server down for longer than the CA lifetime: the expired current is
 * replaced at once by a new one. */
static void test_long_downtime(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_ca_state s0, s;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, uniq("keys"));
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s0);
  cairn_ca_free(ca);
  ca = NULL;
  cairn_time_set_fake(T0 + 3 * DAY);
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s);
  CHECK(strcmp(s.x509_current.id, s0.x509_current.id) != 0);
  CHECK(strcmp(s.jwt_current.id, s0.jwt_current.id) != 0);
  CHECK_INT_EQ(s.bundle_x509_count, 1); /* the expired root is gone */
  CHECK_INT_EQ(s.bundle_jwt_count, 1);
  CHECK_INT_EQ(s.bundle_sequence, 2);
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_OLD), 0);
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_ACTIVE), 2);
out:
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* ---- restart --------------------------------------------------------- */

static void test_restart_disk(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_ca_state s0, s;
  struct cairn_bundle *b0 = NULL, *b = NULL;
  struct cairn_cert_list *chain = NULL;
  char path[600];
  const char *keys = uniq("keys");

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, keys);
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_time_set_fake(T0 + 50000); /* next slots prepared */
  CHECK_OK(cairn_ca_tick(ca, NULL));
  cairn_ca_get_status(ca, &s0);
  b0 = bundle_of(ca);
  cairn_ca_free(ca);
  ca = NULL;

  /* Same store and keys: same authorities, same bundle, no change. */
  cairn_time_set_fake(T0 + 50010);
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s);
  CHECK_STR_EQ(s.x509_current.id, s0.x509_current.id);
  CHECK_STR_EQ(s.x509_next.id, s0.x509_next.id);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK_STR_EQ(s.jwt_current.id, s0.jwt_current.id);
  CHECK_STR_EQ(s.jwt_next.id, s0.jwt_next.id);
  CHECK_INT_EQ(s.bundle_sequence, s0.bundle_sequence);
  b = bundle_of(ca);
  CHECK(b && b0 && cairn_bundle_content_equal(b, b0));
  chain = svid(ca, "spiffe://" TD "/after-restart");
  if (chain && b)
    CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));
  cairn_ca_free(ca);
  ca = NULL;

  /* A key file replaced by another key: that slot is skipped (retired in
   * the journal) and a new next one is prepared. */
  {
    struct cairn_key *k = gen();
    snprintf(path, sizeof path, "%s/jwt-%s.pem", keys, s0.jwt_next.id);
    CHECK_OK(cairn_key_save(k, path));
    cairn_key_free(k);
  }
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s);
  CHECK_STR_EQ(s.jwt_current.id, s0.jwt_current.id);
  CHECK_INT_EQ(s.jwt_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK(strcmp(s.jwt_next.id, s0.jwt_next.id) != 0);
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_OLD), 1);
out:
  cairn_cert_list_free(chain);
  cairn_bundle_free(b0);
  cairn_bundle_free(b);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

static void test_restart_memory(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_ca_state s0, s;
  struct cairn_bundle *b = NULL;
  struct cairn_cert_list *old = NULL;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, NULL);
  o.key_manager = CAIRN_CA_KM_MEMORY;
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s0);
  cairn_ca_free(ca);
  ca = NULL;

  cairn_time_set_fake(T0 + 100);
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s);
  CHECK(strcmp(s.x509_current.id, s0.x509_current.id) != 0);
  CHECK(strcmp(s.jwt_current.id, s0.jwt_current.id) != 0);
  CHECK_INT_EQ(s.bundle_x509_count, 2); /* old root stays until expiry */
  CHECK_INT_EQ(s.bundle_jwt_count, 2);
  CHECK_INT_EQ(s.bundle_sequence, 2);
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_OLD), 2);
  b = bundle_of(ca);
  old = root_by_id(b, s0.x509_current.id);
  CHECK_INT_EQ(cairn_cert_list_count(old), 1);
  cairn_bundle_free(b);
  b = NULL;

  /* After the old root's expiry it leaves the bundle. */
  cairn_time_set_fake(T0 + DAY + 1);
  CHECK_OK(cairn_ca_tick(ca, NULL));
  b = bundle_of(ca);
  cairn_cert_list_free(old);
  old = root_by_id(b, s0.x509_current.id);
  CHECK_INT_EQ(cairn_cert_list_count(old), 0);
  CHECK(b && cairn_bundle_jwt_find(b, s0.jwt_current.id) == NULL);
out:
  cairn_cert_list_free(old);
  cairn_bundle_free(b);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* ---- options --------------------------------------------------------- */

static void test_opts(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = (struct cairn_ca *)1;
  struct cairn_store *st;
  const char *keys = uniq("keys");

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, keys);
  o.trust_domain = NULL;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  CHECK(ca == NULL);
  o.trust_domain = "Bad_TD";
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  opts_init(&o, keys);
  o.ca_ttl = 30;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  o.ca_ttl = -1;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  opts_init(&o, NULL);
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  opts_init(&o, keys);
  o.key_type = (enum cairn_key_type)9;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  opts_init(&o, keys);
  o.upstream_cert_path = "/nonexistent.pem";
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG); /* no key path */
  CHECK_ERR(cairn_ca_new(NULL, st, &ca), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_ca_new(&o, NULL, &ca), CAIRN_ERR_INVAL);

  /* A keys directory group or other may access is refused. */
  CHECK_INT_EQ(test_sh("mkdir -m 0755 '%s'", uniq("openkeys")), 0);
  opts_init(&o, uniq("openkeys"));
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_PERM);
  /* Nothing was journaled by the refused attempts. */
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_ACTIVE), 0);

  /* Minimum ca_ttl and P-384 work. */
  opts_init(&o, keys);
  o.ca_ttl = CAIRN_CA_TTL_MIN;
  o.key_type = CAIRN_KEY_EC_P384;
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (ca) {
    const char *aud[] = {"a"};
    char *tok = NULL;
    struct cairn_ca_state s;
    CHECK_OK(cairn_ca_sign_jwt_svid(ca, "spiffe://" TD "/x", aud, 1, 300,
                                    &tok, NULL));
    CHECK(tok && strstr(tok, "eyJhbGciOiJFUzM4NCI") == tok); /* ES384 */
    free(tok);
    /* ca_ttl 60: prepare after 30 s, activate with 10 s left. */
    cairn_time_set_fake(T0 + 31);
    CHECK_OK(cairn_ca_tick(ca, NULL));
    cairn_ca_get_status(ca, &s);
    CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_PREPARED);
    cairn_time_set_fake(T0 + 51);
    CHECK_OK(cairn_ca_tick(ca, NULL));
    cairn_ca_get_status(ca, &s);
    CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_EMPTY);
    CHECK_INT_EQ(s.x509_current.not_after, T0 + 31 + 60);
    cairn_ca_free(ca);
  }
  cairn_store_close(st);
}

/* ---- signing rules and JWT ------------------------------------------- */

static void test_signing(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_key *k = gen();
  struct cairn_cert_list *chain = (struct cairn_cert_list *)1;
  struct cairn_bundle *b = NULL;
  struct cairn_jwt_claims *cl = NULL;
  const struct cairn_bundle *bs[1];
  const char *aud[] = {"db", "web"};
  const char *dns[] = {"w.example.org"};
  char *tok = (char *)1;
  int64_t exp = 0;
  struct cairn_ca_state s;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, uniq("keys"));
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;

  CHECK_ERR(cairn_ca_sign_x509_svid(ca, k, "spiffe://other.org/w", NULL, 0,
                                    60, &chain),
            CAIRN_ERR_POLICY);
  CHECK(chain == NULL);
  CHECK_ERR(cairn_ca_sign_x509_svid(ca, k, "spiffe://" TD, NULL, 0, 60,
                                    &chain),
            CAIRN_ERR_POLICY);
  CHECK_ERR(cairn_ca_sign_x509_svid(ca, k, "spiffe://" TD "/a//b", NULL, 0,
                                    60, &chain),
            CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_ca_sign_x509_svid(ca, k, "spiffe://" TD "/w", NULL, 0, 0,
                                    &chain),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_ca_sign_jwt_svid(ca, "spiffe://other.org/w", aud, 1, 60,
                                   &tok, NULL),
            CAIRN_ERR_POLICY);
  CHECK(tok == NULL);
  CHECK_ERR(cairn_ca_sign_jwt_svid(ca, "spiffe://" TD "/w", aud, 0, 60, &tok,
                                   NULL),
            CAIRN_ERR_INVAL);

  /* DNS names go in the SAN and the CN. */
  CHECK_OK(cairn_ca_sign_x509_svid(ca, k, "spiffe://" TD "/w", dns, 1, 600,
                                   &chain));
  if (chain) {
    const struct cairn_cert *leaf = cairn_cert_list_at(chain, 0);
    CHECK_INT_EQ(cairn_cert_dns_count(leaf), 1);
    CHECK_STR_EQ(cairn_cert_dns_at(leaf, 0), "w.example.org");
    CHECK_INT_EQ(cairn_cert_not_after(leaf), T0 + 600);
    cairn_cert_list_free(chain);
    chain = NULL;
  }

  /* JWT: validates against the manager's bundle. */
  b = bundle_of(ca);
  bs[0] = b;
  CHECK_OK(cairn_ca_sign_jwt_svid(ca, "spiffe://" TD "/w", aud, 2, 300, &tok,
                                  &exp));
  CHECK_INT_EQ(exp, T0 + 300);
  if (tok && b) {
    CHECK_OK(cairn_jwt_validate(tok, bs, 1, "web", 0, &cl));
    if (cl) {
      CHECK_STR_EQ(cl->sub.str, "spiffe://" TD "/w");
      CHECK_INT_EQ(cl->naud, 2);
      CHECK_INT_EQ(cl->exp, T0 + 300);
    }
    CHECK_ERR(cairn_jwt_validate(tok, bs, 1, "other", 0, NULL),
              CAIRN_ERR_AUDIENCE);
  }
  free(tok);
  tok = NULL;

  /* Near the end of the CA (after the next was prepared, before it is
   * activated) lifetimes are capped at the authorities' notAfter. */
  cairn_time_set_fake(T0 + 71000);
  CHECK_OK(cairn_ca_tick(ca, NULL));
  cairn_ca_get_status(ca, &s);
  CHECK_OK(cairn_ca_sign_jwt_svid(ca, "spiffe://" TD "/w", aud, 1, 5 * 3600,
                                  &tok, &exp));
  CHECK_INT_EQ(exp, T0 + DAY);
  CHECK_INT_EQ(exp, s.jwt_current.not_after);
  CHECK_OK(cairn_ca_sign_x509_svid(ca, k, "spiffe://" TD "/w", NULL, 0,
                                   5 * 3600, &chain));
  if (chain)
    CHECK_INT_EQ(cairn_cert_not_after(cairn_cert_list_at(chain, 0)), T0 + DAY);
out:
  cairn_jwt_claims_free(cl);
  if (tok != (char *)1) free(tok);
  if (chain != (struct cairn_cert_list *)1) cairn_cert_list_free(chain);
  cairn_bundle_free(b);
  cairn_key_free(k);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* jwt_issuer reaches the "iss" claim of minted JWT-SVIDs. */
static void test_jwt_issuer(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_jwt_claims *cl = NULL;
  const char *aud[] = {"spiffe://" TD "/db"};
  char *tok = NULL;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, uniq("keys"));
  o.jwt_issuer = "https://issuer.example.org";
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  CHECK_OK(cairn_ca_sign_jwt_svid(ca, "spiffe://" TD "/w", aud, 1, 60, &tok,
                                  NULL));
  if (!tok) goto out;
  CHECK_OK(cairn_jwt_parse_unverified(tok, &cl));
  CHECK(cl && strstr(cl->claims_json,
                     "\"iss\":\"https://issuer.example.org\"") != NULL);
out:
  cairn_jwt_claims_free(cl);
  free(tok);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

static void test_downstream_ca(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_key *k = gen(), *wk = gen();
  struct cairn_cert_list *chain = NULL, *svidc = NULL;
  struct cairn_cert *leaf = NULL;
  struct cairn_bundle *b = NULL;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, uniq("keys"));
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  b = bundle_of(ca);
  CHECK_ERR(cairn_ca_sign_downstream_ca(ca, k, 0, 1, &chain), CAIRN_ERR_INVAL);
  CHECK_OK(cairn_ca_sign_downstream_ca(ca, k, 3600, 1, &chain));
  if (!chain || !b) goto out;
  CHECK_INT_EQ(cairn_cert_list_count(chain), 1);
  CHECK(cairn_cert_is_ca(cairn_cert_list_at(chain, 0)));
  CHECK_STR_EQ(cairn_cert_permitted_td(cairn_cert_list_at(chain, 0)), TD);
  CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0,
                             CAIRN_VERIFY_CA_LEAF, NULL));
  /* The downstream CA issues SVIDs that chain to our root. */
  leaf = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/edge/w", 600, wk, k,
               cairn_cert_list_at(chain, 0));
  CHECK_OK(cairn_cert_list_new(&svidc));
  if (leaf && svidc) {
    CHECK_OK(cairn_cert_list_push(svidc, leaf));
    leaf = NULL;
    CHECK_OK(cairn_cert_list_push_copy(svidc, cairn_cert_list_at(chain, 0)));
    CHECK_OK(cairn_cert_verify(svidc, cairn_bundle_x509(b), TD, 0, 0, NULL));
  }
  cairn_cert_list_free(chain);
  chain = NULL;
  CHECK_OK(cairn_ca_sign_downstream_ca(ca, k, 3600, 0, &chain));
  if (chain)
    CHECK(cairn_cert_permitted_td(cairn_cert_list_at(chain, 0)) == NULL);
out:
  cairn_cert_free(leaf);
  cairn_cert_list_free(svidc);
  cairn_cert_list_free(chain);
  cairn_bundle_free(b);
  cairn_key_free(k);
  cairn_key_free(wk);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* ---- forced rotation and published JWT keys ---------------------------- */

static void test_forced(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_ca_state s0, s;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, uniq("keys"));
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s0);
  CHECK_ERR(cairn_ca_activate_x509(ca), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_ca_activate_jwt(ca), CAIRN_ERR_NOT_FOUND);
  cairn_time_set_fake(T0 + 10);
  CHECK_OK(cairn_ca_prepare_x509(ca));
  CHECK_ERR(cairn_ca_prepare_x509(ca), CAIRN_ERR_EXISTS);
  CHECK_OK(cairn_ca_prepare_jwt(ca));
  CHECK_ERR(cairn_ca_prepare_jwt(ca), CAIRN_ERR_EXISTS);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK_INT_EQ(s.jwt_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK_INT_EQ(s.bundle_x509_count, 2);
  CHECK_INT_EQ(s.bundle_sequence, 3);
  /* An ordinary tick does not activate early. */
  CHECK_OK(cairn_ca_tick(ca, NULL));
  cairn_ca_get_status(ca, &s);
  CHECK_STR_EQ(s.x509_current.id, s0.x509_current.id);
  CHECK_OK(cairn_ca_activate_x509(ca));
  CHECK_OK(cairn_ca_activate_jwt(ca));
  cairn_ca_get_status(ca, &s0);
  CHECK_STR_EQ(s0.x509_current.id, s.x509_next.id);
  CHECK_STR_EQ(s0.jwt_current.id, s.jwt_next.id);
  CHECK_INT_EQ(s0.x509_next.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_ERR(cairn_ca_activate_x509(ca), CAIRN_ERR_NOT_FOUND);
out:
  cairn_ca_free(ca);
  cairn_store_close(st);
}

static void test_add_jwt_key(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_key *k = gen(), *k2 = gen();
  struct cairn_bundle *b = NULL;
  const struct cairn_bundle *bs[1];
  const char *aud[] = {"x"};
  char *tok = NULL;
  int changed = 0;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  opts_init(&o, uniq("keys"));
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  CHECK_ERR(cairn_ca_add_jwt_key(ca, "ds-1", k, T0), CAIRN_ERR_EXPIRED);
  CHECK_ERR(cairn_ca_add_jwt_key(ca, "", k, T0 + 10), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_ca_add_jwt_key(ca, "a b", k, T0 + 10), CAIRN_ERR_INVAL);
  CHECK_OK(cairn_ca_add_jwt_key(ca, "ds-1", k, T0 + 3600));
  CHECK_INT_EQ(cairn_ca_bundle_sequence(ca), 2);
  CHECK_OK(cairn_ca_add_jwt_key(ca, "ds-1", k, T0 + 3600)); /* no-op */
  CHECK_INT_EQ(cairn_ca_bundle_sequence(ca), 2);
  CHECK_ERR(cairn_ca_add_jwt_key(ca, "ds-1", k2, T0 + 3600), CAIRN_ERR_EXISTS);

  /* A token the downstream server signs validates with our bundle. */
  b = bundle_of(ca);
  bs[0] = b;
  CHECK_INT_EQ(cairn_bundle_jwt_count(b), 2);
  CHECK_OK(cairn_jwt_sign(k, "ds-1", "spiffe://" TD "/edge/w", aud, 1, 0,
                          T0 + 60, &tok));
  if (tok) CHECK_OK(cairn_jwt_validate(tok, bs, 1, "x", 0, NULL));
  cairn_bundle_free(b);
  b = NULL;

  /* Expired: pruned on tick, its journal row deleted. */
  cairn_time_set_fake(T0 + 3601);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(changed, 1);
  b = bundle_of(ca);
  CHECK(b && cairn_bundle_jwt_find(b, "ds-1") == NULL);
  CHECK_INT_EQ(cairn_bundle_jwt_count(b), 1);
  CHECK_INT_EQ(journal_count(st, CAIRN_CA_OLD), 0);
out:
  free(tok);
  cairn_bundle_free(b);
  cairn_key_free(k);
  cairn_key_free(k2);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* ---- UpstreamAuthority "disk" ------------------------------------------ */

static void write_pem(const char *path, const struct cairn_cert *c)
{
  char *pem = NULL;
  size_t len = 0;
  CHECK_OK(cairn_cert_to_pem(c, &pem, &len));
  if (pem) CHECK_INT_EQ(test_write_file(path, pem, len), 0);
  free(pem);
}

static void write_chain_pem(const char *path,
                            const struct cairn_cert_list *l, size_t from)
{
  struct cairn_cert_list *part = NULL;
  char *pem = NULL;
  size_t len = 0;
  CHECK_OK(cairn_cert_list_new(&part));
  for (size_t i = from; part && i < cairn_cert_list_count(l); i++)
    CHECK_OK(cairn_cert_list_push_copy(part, cairn_cert_list_at(l, i)));
  if (part && cairn_cert_list_count(part)) {
    CHECK_OK(cairn_cert_list_to_pem(part, &pem, &len));
    if (pem) CHECK_INT_EQ(test_write_file(path, pem, len), 0);
  } else {
    CHECK_INT_EQ(test_write_file(path, "", 0), 0);
  }
  free(pem);
  cairn_cert_list_free(part);
}

static void test_upstream_disk(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_key *rk = gen();
  struct cairn_cert *root = NULL;
  struct cairn_bundle *b = NULL;
  struct cairn_cert_list *chain = NULL;
  struct cairn_ca_state s;
  const char *rootp = uniq("up-root.pem"), *keyp = uniq("up-root.key");
  const char *interp = uniq("inter.pem"), *leafp = uniq("leaf.pem");

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 30 * DAY, rk, rk, NULL);
  if (!root) goto out;
  write_pem(rootp, root);
  CHECK_OK(cairn_key_save(rk, keyp));
  opts_init(&o, uniq("keys"));
  o.upstream_cert_path = rootp;
  o.upstream_key_path = keyp;
  o.ca_common_name = "Cairn test CA";
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.upstream, 1);
  CHECK_INT_EQ(s.bundle_x509_count, 1);
  CHECK_INT_EQ(s.bundle_sequence, 1);
  b = bundle_of(ca);
  CHECK(b && cairn_cert_equal(cairn_cert_list_at(cairn_bundle_x509(b), 0),
                              root));

  /* Chain = leaf + intermediate; verifies with cairn and openssl. */
  chain = svid(ca, "spiffe://" TD "/db");
  if (!chain || !b) goto out;
  CHECK_INT_EQ(cairn_cert_list_count(chain), 2);
  CHECK(!cairn_cert_equal(cairn_cert_list_at(chain, 1), root));
  CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));
  write_pem(leafp, cairn_cert_list_at(chain, 0));
  write_chain_pem(interp, chain, 1);
  CHECK_INT_EQ(test_sh("openssl verify -x509_strict -attime %lld -CAfile '%s' "
                       "-untrusted '%s' '%s' >/dev/null",
                       (long long)T0 + 60, rootp, interp, leafp),
               0);
  /* Negative control: without the intermediate openssl must fail. */
  CHECK(test_sh("openssl verify -x509_strict -attime %lld -CAfile '%s' '%s' "
                ">/dev/null 2>&1",
                (long long)T0 + 60, rootp, leafp) != 0);

  /* The intermediate is capped at the upstream notAfter: with 30 days of
   * upstream and ca_ttl 24h it is not; after a rotation it still chains. */
  CHECK_INT_EQ(s.x509_current.not_after, T0 + DAY);
  cairn_time_set_fake(T0 + 72001);
  CHECK_OK(cairn_ca_tick(ca, NULL)); /* prepares */
  CHECK_OK(cairn_ca_tick(ca, NULL)); /* activates */
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.bundle_x509_count, 1); /* still the upstream root only */
  cairn_cert_list_free(chain);
  chain = svid(ca, "spiffe://" TD "/db");
  if (chain)
    CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));

  /* Restart: the intermediate comes back from the journal (not taken for
   * a self-signed root), the chain is still leaf + intermediate. */
  cairn_ca_free(ca);
  ca = NULL;
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  {
    struct cairn_ca_state s2;
    cairn_ca_get_status(ca, &s2);
    CHECK_STR_EQ(s2.x509_current.id, s.x509_current.id);
    CHECK_INT_EQ(s2.bundle_sequence, s.bundle_sequence);
  }
  cairn_cert_list_free(chain);
  chain = svid(ca, "spiffe://" TD "/db");
  CHECK_INT_EQ(cairn_cert_list_count(chain), 2);
  if (chain)
    CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));
out:
  cairn_cert_list_free(chain);
  cairn_bundle_free(b);
  cairn_cert_free(root);
  cairn_key_free(rk);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* Upstream CA that is itself an intermediate: bundle_file_path holds the
 * root and SVID chains carry the upstream intermediate too. */
static void test_upstream_disk_intermediate(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_key *rk = gen(), *uk = gen();
  struct cairn_cert *root = NULL, *up = NULL;
  struct cairn_bundle *b = NULL;
  struct cairn_cert_list *chain = NULL, *dchain = NULL;
  const char *rootp = uniq("r.pem"), *upp = uniq("u.pem"),
             *ukp = uniq("u.key"), *interp = uniq("i.pem"),
             *leafp = uniq("l.pem");

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 30 * DAY, rk, rk, NULL);
  up = root ? issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, 20 * DAY, uk, rk,
                    root)
            : NULL;
  if (!up) goto out;
  write_pem(rootp, root);
  write_pem(upp, up);
  CHECK_OK(cairn_key_save(uk, ukp));
  opts_init(&o, uniq("keys"));
  o.upstream_cert_path = upp;
  o.upstream_key_path = ukp;
  /* Without a bundle file a non-self-signed upstream is refused. */
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  /* A bundle that does not hold the upstream's root is refused too, and
   * its roots do not enter the trust bundle. */
  {
    struct cairn_key *xk = gen();
    struct cairn_cert *x = issue(CAIRN_CERT_ROOT, "spiffe://" TD, DAY, xk, xk,
                                 NULL);
    if (x) write_pem(uniq("x.pem"), x);
    o.upstream_bundle_path = uniq("x.pem");
    CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_UNTRUSTED);
    CHECK(strstr(cairn_errdetail(), "upstream roots") != NULL);
    cairn_cert_free(x);
    cairn_key_free(xk);
  }
  o.upstream_bundle_path = rootp;
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca) goto out;
  b = bundle_of(ca);
  chain = svid(ca, "spiffe://" TD "/db");
  if (!chain || !b) goto out;
  CHECK_INT_EQ(cairn_cert_list_count(chain), 3);
  CHECK(cairn_cert_equal(cairn_cert_list_at(chain, 2), up));
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(b)), 1);
  CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));
  write_pem(leafp, cairn_cert_list_at(chain, 0));
  write_chain_pem(interp, chain, 1);
  CHECK_INT_EQ(test_sh("openssl verify -x509_strict -attime %lld -CAfile '%s' "
                       "-untrusted '%s' '%s' >/dev/null",
                       (long long)T0 + 60, rootp, interp, leafp),
               0);
  /* Downstream CA chain: new CA + intermediate + upstream. */
  {
    struct cairn_key *dk = gen();
    CHECK_OK(cairn_ca_sign_downstream_ca(ca, dk, 3600, 1, &dchain));
    if (dchain) {
      CHECK_INT_EQ(cairn_cert_list_count(dchain), 3);
      CHECK_OK(cairn_cert_verify(dchain, cairn_bundle_x509(b), TD, 0,
                                 CAIRN_VERIFY_CA_LEAF, NULL));
    }
    cairn_key_free(dk);
  }
out:
  cairn_cert_list_free(chain);
  cairn_cert_list_free(dchain);
  cairn_bundle_free(b);
  cairn_cert_free(root);
  cairn_cert_free(up);
  cairn_key_free(rk);
  cairn_key_free(uk);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

static void test_upstream_disk_refused(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct cairn_key *rk = gen(), *other = gen(), *lk = gen();
  struct cairn_cert *root = NULL, *shortroot = NULL, *leaf = NULL;
  const char *rootp = uniq("root.pem"), *keyp = uniq("root.key"),
             *shortp = uniq("short.pem"), *leafp = uniq("leafca.pem"),
             *lkeyp = uniq("leaf.key"), *otherp = uniq("other.key");
  FILE *logf;
  char *log = NULL;

  g_n++;
  cairn_time_set_fake(T0);
  st = open_store();
  root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 30 * DAY, rk, rk, NULL);
  shortroot = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 3600, rk, rk, NULL);
  leaf = root ? issue(CAIRN_CERT_LEAF, "spiffe://" TD "/not-a-ca", DAY, lk,
                      rk, root)
              : NULL;
  if (!root || !shortroot || !leaf) goto out;
  write_pem(rootp, root);
  write_pem(shortp, shortroot);
  write_pem(leafp, leaf);
  CHECK_OK(cairn_key_save(rk, keyp));
  CHECK_OK(cairn_key_save(lk, lkeyp));
  CHECK_OK(cairn_key_save(other, otherp));

  opts_init(&o, uniq("keys"));
  o.upstream_key_path = keyp;

  /* Upstream expiring in 1 h, ca_ttl 24 h (threshold 4 h): refused and
   * logged. */
  logf = fopen(uniq("log"), "w+");
  cairn_log_set_stream(logf);
  cairn_log_set_level(CAIRN_LOG_INFO);
  o.upstream_cert_path = shortp;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_POLICY);
  CHECK(strstr(cairn_errdetail(), "activation threshold") != NULL);
  cairn_log_set_stream(NULL);
  cairn_log_set_level(CAIRN_LOG_WARN);
  if (logf) fclose(logf);
  log = test_read_file(uniq("log"), NULL);
  CHECK(log && strstr(log, "X509 CA preparation failed") != NULL);
  CHECK(log && strstr(log, "JWT key prepared: ") != NULL);
  CHECK(log && strstr(log, "PRIVATE") == NULL);
  /* ... but with ca_ttl 4 h (threshold 40 min) the capped 1 h is enough. */
  o.ca_ttl = 4 * 3600;
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (ca) {
    struct cairn_ca_state s;
    cairn_ca_get_status(ca, &s);
    CHECK_INT_EQ(s.x509_current.not_after, T0 + 3600);
    cairn_ca_free(ca);
    ca = NULL;
  }
  o.ca_ttl = DAY;

  /* Not a CA. */
  o.upstream_cert_path = leafp;
  o.upstream_key_path = lkeyp;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  /* Key does not match the certificate. */
  o.upstream_cert_path = rootp;
  o.upstream_key_path = otherp;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  /* Key file 0644. */
  o.upstream_key_path = keyp;
  CHECK_INT_EQ(chmod(keyp, 0644), 0);
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_PERM);
  CHECK_INT_EQ(chmod(keyp, 0600), 0);
  /* Missing file. */
  o.upstream_cert_path = uniq("missing.pem");
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_NOT_FOUND);
  CHECK(ca == NULL);
out:
  free(log);
  cairn_cert_free(root);
  cairn_cert_free(shortroot);
  cairn_cert_free(leaf);
  cairn_key_free(rk);
  cairn_key_free(other);
  cairn_key_free(lk);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* ---- upstream callback ------------------------------------------------- */

struct fake_up {
  struct cairn_key *key;
  struct cairn_cert *root;
  int fail;          /* error to return, 0 = sign */
  int wrong_key;     /* sign some other key */
  int calls, published;
  char last_kid[64];
};

static int fake_sign(void *arg, const struct cairn_key *pub, int64_t ttl,
                     struct cairn_cert_list **chain,
                     struct cairn_cert_list **roots)
{
  struct fake_up *u = arg;
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;
  struct cairn_key *other = NULL;
  int r;

  u->calls++;
  if (u->fail) return cairn_seterr(u->fail, "upstream unreachable (test)");
  if (u->wrong_key && (r = cairn_key_generate(CAIRN_KEY_EC_P256, &other)))
    return r;
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_INTERMEDIATE;
  t.spiffe_id = "spiffe://" TD;
  t.ttl = ttl;
  t.path_len = -1;
  r = cairn_cert_issue(&t, other ? other : pub, u->key, u->root, &c);
  cairn_key_free(other);
  if (r) return r;
  if ((r = cairn_cert_list_new(chain)) ||
      (r = cairn_cert_list_push(*chain, c)) ||
      (r = cairn_cert_list_new(roots)) ||
      (r = cairn_cert_list_push_copy(*roots, u->root)))
    return r; /* (leaks on allocation failure only) */
  return CAIRN_OK;
}

static int fake_publish(void *arg, const char *kid,
                        const struct cairn_key *pub, int64_t not_after)
{
  struct fake_up *u = arg;
  (void)pub;
  (void)not_after;
  u->published++;
  snprintf(u->last_kid, sizeof u->last_kid, "%s", kid);
  return CAIRN_OK;
}

static void test_upstream_callback(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct fake_up u;
  struct cairn_bundle *b = NULL;
  struct cairn_cert_list *chain = NULL;
  struct cairn_ca_state s0, s;
  int changed = 0;

  g_n++;
  memset(&u, 0, sizeof u);
  cairn_time_set_fake(T0);
  st = open_store();
  u.key = gen();
  u.root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 30 * DAY, u.key, u.key,
                 NULL);
  opts_init(&o, uniq("keys"));
  o.upstream_fn = fake_sign;
  o.publish_jwt_fn = fake_publish;
  o.upstream_arg = &u;

  /* Disk files and a callback exclude each other. */
  o.upstream_cert_path = "/x.pem";
  o.upstream_key_path = "/x.key";
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_CONFIG);
  o.upstream_cert_path = o.upstream_key_path = NULL;
  /* A callback signing the wrong key is refused. */
  u.wrong_key = 1;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_POLICY);
  u.wrong_key = 0;
  /* Unreachable at start: the server cannot start. */
  u.fail = CAIRN_ERR_NET;
  CHECK_ERR(cairn_ca_new(&o, st, &ca), CAIRN_ERR_NET);
  u.fail = 0;

  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca || !u.root) goto out;
  cairn_ca_get_status(ca, &s0);
  CHECK_INT_EQ(s0.upstream, 2);
  CHECK(u.published >= 1);
  CHECK_STR_EQ(u.last_kid, s0.jwt_current.id);
  b = bundle_of(ca);
  CHECK_INT_EQ(nroots(b), 1);
  CHECK(b && cairn_cert_equal(cairn_cert_list_at(cairn_bundle_x509(b), 0),
                              u.root));
  chain = svid(ca, "spiffe://" TD "/w");
  if (chain && b) {
    CHECK_INT_EQ(cairn_cert_list_count(chain), 2);
    CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));
  }
  cairn_cert_list_free(chain);
  chain = NULL;

  /* Upstream unreachable when the next CA is due: tick error, the JWT key
   * is still prepared, the current X.509 CA keeps signing. */
  u.fail = CAIRN_ERR_NET;
  cairn_time_set_fake(T0 + 43300);
  CHECK_ERR(cairn_ca_tick(ca, &changed), CAIRN_ERR_NET);
  CHECK(strstr(cairn_errdetail(), "unreachable") != NULL);
  CHECK_INT_EQ(changed, 1); /* the JWT key went into the bundle */
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.jwt_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK_STR_EQ(s.x509_current.id, s0.x509_current.id);
  chain = svid(ca, "spiffe://" TD "/w");
  if (chain && b)
    CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));
  cairn_cert_list_free(chain);
  chain = NULL;

  /* Back: the next tick prepares it. */
  u.fail = 0;
  CHECK_OK(cairn_ca_tick(ca, &changed));
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_PREPARED);
  CHECK_INT_EQ(s.bundle_x509_count, 1); /* same upstream root */

  /* Restart with the upstream unreachable: the journal's slots are
   * enough, no upstream call is needed. */
  u.fail = CAIRN_ERR_NET;
  u.calls = 0;
  cairn_ca_free(ca);
  ca = NULL;
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  CHECK_INT_EQ(u.calls, 0);
  if (ca) {
    chain = svid(ca, "spiffe://" TD "/w");
    CHECK_INT_EQ(cairn_cert_list_count(chain), 2);
    if (chain && b)
      CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));
  }
out:
  cairn_cert_list_free(chain);
  cairn_bundle_free(b);
  cairn_cert_free(u.root);
  cairn_key_free(u.key);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

/* ---- asynchronous upstream (cairn-edge) --------------------------------- */

/* An upstream that answers later: the first call for a key starts a
 * "request" and returns CAIRN_ERR_AGAIN; once answered, the next call for
 * the same key gets the result. */
struct async_up {
  struct cairn_key *key;
  struct cairn_cert *root;
  int answered;         /* the pending request may be answered now */
  int refuse;           /* answer with this error */
  int64_t ttl;          /* lifetime given (0 = as asked) */
  int calls, again, signed_n, jwt_calls, jwt_again, jwt_ok;
  struct cairn_key *asked;   /* public key of the pending request */
  char jwt_kid[130];
  int64_t jwt_not_after;
};

static int same_pub(const struct cairn_key *a, const struct cairn_key *b)
{
  return a && b && cairn_key_public_equal(a, b) == 1;
}

static int async_sign(void *arg, const struct cairn_key *key, int64_t ttl,
                      struct cairn_cert_list **chain,
                      struct cairn_cert_list **roots)
{
  struct async_up *u = arg;
  struct cairn_cert *c = NULL;
  int r;

  u->calls++;
  if (!same_pub(u->asked, key)) {
    cairn_key_free(u->asked);
    u->asked = NULL;
    CHECK_OK(cairn_key_public(key, &u->asked));
    u->again++;
    return cairn_seterr(CAIRN_ERR_AGAIN, "asked the upstream (test)");
  }
  if (!u->answered) {
    u->again++;
    return cairn_seterr(CAIRN_ERR_AGAIN, "still waiting (test)");
  }
  cairn_key_free(u->asked);
  u->asked = NULL;
  if (u->refuse) return cairn_seterr(u->refuse, "refused (test)");
  c = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, u->ttl ? u->ttl : ttl,
            key, u->key, u->root);
  if (!c) return CAIRN_ERR_INTERNAL;
  if ((r = cairn_cert_list_new(chain)) ||
      (r = cairn_cert_list_push(*chain, c)) ||
      (r = cairn_cert_list_new(roots)) ||
      (r = cairn_cert_list_push_copy(*roots, u->root)))
    return r;
  u->signed_n++;
  return CAIRN_OK;
}

static int async_publish(void *arg, const char *kid,
                         const struct cairn_key *pub, int64_t not_after)
{
  struct async_up *u = arg;

  (void)pub;
  u->jwt_calls++;
  if (strcmp(u->jwt_kid, kid) != 0) {
    snprintf(u->jwt_kid, sizeof u->jwt_kid, "%s", kid);
    u->jwt_not_after = not_after;
    u->jwt_again++;
    return cairn_seterr(CAIRN_ERR_AGAIN, "publishing (test)");
  }
  CHECK_INT_EQ(not_after, u->jwt_not_after); /* the same key again */
  if (!u->answered) {
    u->jwt_again++;
    return cairn_seterr(CAIRN_ERR_AGAIN, "still publishing (test)");
  }
  u->jwt_ok++;
  return CAIRN_OK;
}

static void test_upstream_async(void)
{
  struct cairn_ca_opts o;
  struct cairn_ca *ca = NULL;
  struct cairn_store *st;
  struct async_up u;
  struct cairn_ca_state s;
  struct cairn_bundle *ub = NULL, *b = NULL;
  struct cairn_key *other = NULL, *first = NULL, *extra = NULL, *pk = NULL;
  struct cairn_cert *oroot = NULL;
  struct cairn_cert_list *chain = NULL;
  struct cairn_ca_published_key *keys = NULL;
  size_t nkeys = 0;
  char kid0[130];
  int changed = 0;

  g_n++;
  memset(&u, 0, sizeof u);
  cairn_time_set_fake(T0);
  st = open_store();
  u.key = gen();
  other = gen();
  extra = gen();
  pk = gen();
  u.root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 30 * DAY, u.key, u.key,
                 NULL);
  oroot = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 30 * DAY, other, other,
                NULL);
  opts_init(&o, uniq("keys"));
  o.upstream_fn = async_sign;
  o.publish_jwt_fn = async_publish;
  o.upstream_arg = &u;

  /* A fresh manager only starts the requests: no authority yet, both
   * pending, no error. */
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  if (!ca || !u.root) goto out;
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_current.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.jwt_current.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.x509_pending, 1);
  CHECK_INT_EQ(s.jwt_pending, 1);
  CHECK_INT_EQ(s.x509_current.prepare_at, 0); /* no active slot */
  CHECK_INT_EQ(u.again, 1);
  CHECK_INT_EQ(u.jwt_again, 1);
  CHECK_ERR(cairn_ca_sign_x509_svid(ca, other, "spiffe://" TD "/w", NULL, 0,
                                    60, &chain),
            CAIRN_ERR_NOT_FOUND);
  snprintf(kid0, sizeof kid0, "%s", u.jwt_kid);
  CHECK_OK(cairn_key_public(u.asked, &first));

  /* Still waiting: the same key and kid are offered again; a tick is no
   * failure. */
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(u.again, 2);
  CHECK(same_pub(u.asked, first));
  CHECK_STR_EQ(u.jwt_kid, kid0);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_pending, 1);

  /* A refusal drops the pending key: the next attempt uses a new one. */
  u.answered = 1;
  u.refuse = CAIRN_ERR_DENIED;
  cairn_time_set_fake(T0 + 10);
  CHECK_ERR(cairn_ca_tick(ca, &changed), CAIRN_ERR_DENIED);
  CHECK(strstr(cairn_errdetail(), "refused (test)") != NULL);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_pending, 0);
  CHECK_INT_EQ(s.jwt_current.state, CAIRN_CA_SLOT_ACTIVE); /* published */
  CHECK_STR_EQ(s.jwt_current.id, kid0);
  u.refuse = 0;
  u.answered = 0;
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK(u.asked && !same_pub(u.asked, first));

  /* The answer: the CA is prepared and activated at once, and signs. */
  u.answered = 1;
  cairn_time_set_fake(T0 + 20);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  CHECK_INT_EQ(u.signed_n, 1);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_current.state, CAIRN_CA_SLOT_ACTIVE);
  CHECK_INT_EQ(s.x509_pending, 0);
  /* Lifetime under 60 days: the next one is prepared at half life. */
  CHECK(s.x509_current.not_after - s.x509_current.not_before < 60 * DAY);
  CHECK_INT_EQ(s.x509_current.prepare_at,
               s.x509_current.not_after -
                   (s.x509_current.not_after - s.x509_current.not_before) / 2);
  CHECK_OK(cairn_ca_sign_x509_svid(ca, other, "spiffe://" TD "/w", NULL, 0,
                                   60, &chain));
  CHECK_INT_EQ(cairn_cert_list_count(chain), 2);
  b = bundle_of(ca);
  if (b && chain)
    CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(b), TD, 0, 0, NULL));
  cairn_cert_list_free(chain);
  chain = NULL;
  cairn_bundle_free(b);
  b = NULL;

  /* The upstream's bundle: its roots and JWT keys are adopted; our own
   * JWT key stays. */
  CHECK_OK(cairn_bundle_new(TD, &ub));
  CHECK_OK(cairn_bundle_add_x509(ub, u.root));
  CHECK_OK(cairn_bundle_add_x509(ub, oroot));
  CHECK_OK(cairn_bundle_add_jwt_key(ub, "upstream-kid", extra));
  CHECK_ERR(cairn_ca_set_upstream_bundle(ca, NULL, NULL), CAIRN_ERR_INVAL);
  CHECK_OK(cairn_ca_set_upstream_bundle(ca, ub, &changed));
  CHECK_INT_EQ(changed, 1);
  b = bundle_of(ca);
  CHECK_INT_EQ(nroots(b), 2);
  CHECK(b && cairn_bundle_jwt_find(b, "upstream-kid") != NULL);
  CHECK(b && cairn_bundle_jwt_find(b, kid0) != NULL);
  cairn_bundle_free(b);
  b = NULL;
  CHECK_OK(cairn_ca_set_upstream_bundle(ca, ub, &changed));
  CHECK_INT_EQ(changed, 0);
  /* A downstream server's key published here stays too, and is listed
   * for forwarding. */
  CHECK_OK(cairn_ca_add_jwt_key(ca, "down-kid", pk, T0 + DAY));
  CHECK_OK(cairn_ca_published_keys(ca, &keys, &nkeys));
  CHECK_INT_EQ(nkeys, 1);
  if (nkeys == 1) {
    CHECK_STR_EQ(keys[0].kid, "down-kid");
    CHECK_INT_EQ(keys[0].not_after, T0 + DAY);
    CHECK(same_pub(keys[0].pub, pk));
  }
  cairn_ca_published_keys_free(keys, nkeys);
  keys = NULL;
  /* What leaves the upstream's bundle leaves ours. */
  CHECK_OK(cairn_bundle_remove_x509(ub, oroot));
  CHECK_OK(cairn_bundle_remove_jwt_key(ub, "upstream-kid"));
  CHECK_OK(cairn_ca_set_upstream_bundle(ca, ub, &changed));
  CHECK_INT_EQ(changed, 1);
  b = bundle_of(ca);
  CHECK_INT_EQ(nroots(b), 1);
  CHECK(b && cairn_bundle_jwt_find(b, "upstream-kid") == NULL);
  CHECK(b && cairn_bundle_jwt_find(b, kid0) != NULL);
  CHECK(b && cairn_bundle_jwt_find(b, "down-kid") != NULL);
  cairn_bundle_free(b);
  b = NULL;
  /* Another trust domain or no roots: refused. */
  cairn_bundle_free(ub);
  ub = NULL;
  CHECK_OK(cairn_bundle_new("other.org", &ub));
  CHECK_OK(cairn_bundle_add_x509(ub, u.root));
  CHECK_ERR(cairn_ca_set_upstream_bundle(ca, ub, NULL), CAIRN_ERR_POLICY);
  cairn_bundle_free(ub);
  CHECK_OK(cairn_bundle_new(TD, &ub));
  CHECK_ERR(cairn_ca_set_upstream_bundle(ca, ub, NULL), CAIRN_ERR_POLICY);

  /* At half life the next CA is asked for; the upstream caps it below the
   * activation threshold (4h for a 24h ca_ttl): refused, never activated,
   * the current CA keeps signing. */
  u.answered = 0;
  cairn_time_set_fake(T0 + DAY / 2 + 60);
  CHECK_OK(cairn_ca_tick(ca, &changed));
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_pending, 1);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_EMPTY);
  u.answered = 1;
  u.ttl = 3 * 3600;
  CHECK_ERR(cairn_ca_tick(ca, &changed), CAIRN_ERR_POLICY);
  CHECK(strstr(cairn_errdetail(), "activation threshold") != NULL);
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_EMPTY);
  CHECK_INT_EQ(s.x509_pending, 0);
  CHECK_OK(cairn_ca_sign_x509_svid(ca, other, "spiffe://" TD "/w", NULL, 0,
                                   60, &chain));
  cairn_cert_list_free(chain);
  chain = NULL;
  /* A full lifetime comes back: prepared, and activated at 20h. */
  u.ttl = 0;
  u.answered = 0;
  CHECK_OK(cairn_ca_tick(ca, &changed));
  u.answered = 1;
  CHECK_OK(cairn_ca_tick(ca, &changed));
  cairn_ca_get_status(ca, &s);
  CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_PREPARED);

  /* Restart while the upstream cannot answer: the journal's slots are
   * enough, nothing is asked. */
  u.answered = 0;
  u.calls = u.jwt_calls = 0;
  cairn_ca_free(ca);
  ca = NULL;
  CHECK_OK(cairn_ca_new(&o, st, &ca));
  CHECK_INT_EQ(u.calls, 0);
  if (ca) {
    cairn_ca_get_status(ca, &s);
    CHECK_INT_EQ(s.x509_current.state, CAIRN_CA_SLOT_ACTIVE);
    CHECK_INT_EQ(s.x509_next.state, CAIRN_CA_SLOT_PREPARED);
    b = bundle_of(ca);
    CHECK(b && cairn_bundle_jwt_find(b, "down-kid") != NULL);
  }
out:
  cairn_cert_list_free(chain);
  cairn_bundle_free(ub);
  cairn_bundle_free(b);
  cairn_cert_free(u.root);
  cairn_cert_free(oroot);
  cairn_key_free(u.key);
  cairn_key_free(u.asked);
  cairn_key_free(first);
  cairn_key_free(other);
  cairn_key_free(extra);
  cairn_key_free(pk);
  cairn_ca_free(ca);
  cairn_store_close(st);
}

int main(void)
{
  cairn_log_set_level(CAIRN_LOG_WARN);
  RUN(test_fresh_start);
  RUN(test_rotation);
  RUN(test_long_downtime);
  RUN(test_restart_disk);
  RUN(test_restart_memory);
  RUN(test_opts);
  RUN(test_signing);
  RUN(test_jwt_issuer);
  RUN(test_downstream_ca);
  RUN(test_forced);
  RUN(test_add_jwt_key);
  RUN(test_upstream_disk);
  RUN(test_upstream_disk_intermediate);
  RUN(test_upstream_disk_refused);
  RUN(test_upstream_callback);
  RUN(test_upstream_async);
  cairn_time_set_fake(0);
  return test_done();
}
