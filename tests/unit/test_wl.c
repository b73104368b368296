/* tests/unit/test_wl.c - cairn-agent's Workload API side (edge/agent/wl):
 * selector sets, the workload cache (matching, SVIDs, bundles, JWT-SVIDs,
 * subscriptions, expiry), the unix attestor (on this very process and on
 * a fabricated /proc tree) and the Workload API served in-process to the
 * blocking gRPC client. */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
/* wolfSSL's FP_ECC build keeps a per-thread point cache that the loop
 * thread must release before it ends (wc_ecc_fp_free). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/grpc.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/msg.h"
#include "cairn/util.h"
#include "wl_api.h"
#include "wl_cache.h"
#include "wl_unix.h"
#include "workload.pb-c.h"

#define TD "example.org"
#define FED "fed.test"
#define TMO 5000

/* ======================================================================
 * fixtures: a CA, a JWT key, a federated bundle
 * ====================================================================== */

static struct cairn_key *g_ca_key, *g_other_key, *g_jwt_key, *g_fed_key;
static struct cairn_cert *g_ca, *g_other_ca, *g_fed_ca;
static struct cairn_bundle *g_bundle, *g_fed_bundle;

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

static void fixtures(void)
{
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_ca_key));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_other_key));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_jwt_key));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &g_fed_key));
  g_ca = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 86400, g_ca_key, g_ca_key,
               NULL);
  g_other_ca = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 86400, g_other_key,
                     g_other_key, NULL);
  g_fed_ca = issue(CAIRN_CERT_ROOT, "spiffe://" FED, 86400, g_fed_key,
                   g_fed_key, NULL);
  CHECK_OK(cairn_bundle_new(TD, &g_bundle));
  CHECK_OK(cairn_bundle_add_x509(g_bundle, g_ca));
  CHECK_OK(cairn_bundle_add_jwt_key(g_bundle, "kid1", g_jwt_key));
  CHECK_OK(cairn_bundle_new(FED, &g_fed_bundle));
  CHECK_OK(cairn_bundle_add_x509(g_fed_bundle, g_fed_ca));
  CHECK_OK(cairn_bundle_add_jwt_key(g_fed_bundle, "fedkid", g_fed_key));
}

static void fixtures_free(void)
{
  cairn_key_free(g_ca_key);
  cairn_key_free(g_other_key);
  cairn_key_free(g_jwt_key);
  cairn_key_free(g_fed_key);
  cairn_cert_free(g_ca);
  cairn_cert_free(g_other_ca);
  cairn_cert_free(g_fed_ca);
  cairn_bundle_free(g_bundle);
  cairn_bundle_free(g_fed_bundle);
}

/* An entry: sels is "type:value,type:value". */
struct ent {
  struct cairn_msg_entry m;
  struct cairn_msg_selector sel[8];
  char buf[8][2][128];
  char *fed[2];
};

static void ent_init(struct ent *e, const char *id, const char *spiffe_id,
                     const char *sels, const char *fed, const char *hint)
{
  char tmp[512], *save = NULL, *tok;
  size_t n = 0;

  memset(e, 0, sizeof *e);
  e->m.id = (char *)id;
  e->m.spiffe_id = (char *)spiffe_id;
  e->m.parent_id = (char *)"spiffe://" TD "/spire/agent/join_token/x";
  e->m.hint = (char *)(hint ? hint : "");
  e->m.revision = 1;
  snprintf(tmp, sizeof tmp, "%s", sels);
  for (tok = strtok_r(tmp, ",", &save); tok && n < 8;
       tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    *colon = '\0';
    snprintf(e->buf[n][0], sizeof e->buf[n][0], "%s", tok);
    snprintf(e->buf[n][1], sizeof e->buf[n][1], "%s", colon + 1);
    e->sel[n].type = e->buf[n][0];
    e->sel[n].value = e->buf[n][1];
    n++;
  }
  e->m.selectors = e->sel;
  e->m.n_selectors = n;
  if (fed) {
    e->fed[0] = (char *)fed;
    e->m.federates_with = e->fed;
    e->m.n_federates_with = 1;
  }
}

/* Builds a caller selector set from "type:value,...". */
static void sels(struct wl_selectors *s, const char *list)
{
  char tmp[512], *save = NULL, *tok;

  wl_selectors_clear(s);
  snprintf(tmp, sizeof tmp, "%s", list);
  for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    *colon = '\0';
    CHECK_OK(wl_selectors_add(s, tok, colon + 1));
  }
  wl_selectors_sort(s);
}

/* Issues an SVID for id and puts it into the cache for entry eid. */
static int give_svid(struct wl_cache *c, const char *eid, const char *id,
                     int64_t ttl, char serial[41])
{
  struct cairn_key *k = NULL;
  struct cairn_cert *leaf;
  struct cairn_cert_list *l = NULL;
  int r;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  leaf = issue(CAIRN_CERT_LEAF, id, ttl, k, g_ca_key, g_ca);
  if (serial) cairn_cert_serial_hex(leaf, serial, 41);
  CHECK_OK(cairn_cert_list_new(&l));
  CHECK_OK(cairn_cert_list_push(l, leaf));
  r = wl_cache_svid_set(c, eid, l, k);
  cairn_cert_list_free(l);
  cairn_key_free(k);
  return r;
}

/* ======================================================================
 * selector sets
 * ====================================================================== */

static void test_selectors(void)
{
  struct wl_selectors s = {0}, t = {0};

  CHECK_OK(wl_selectors_add(&s, "unix", "uid:1000"));
  CHECK_OK(wl_selectors_add(&s, "unix", "gid:1000"));
  CHECK_OK(wl_selectors_add(&s, "unix", "uid:1000"));
  CHECK_OK(wl_selectors_addf(&s, "k8s", "ns:%s", "default"));
  wl_selectors_sort(&s);
  CHECK_INT_EQ(s.n, 3);
  CHECK_STR_EQ(s.v[0].type, "k8s");
  CHECK_STR_EQ(s.v[1].value, "gid:1000");
  CHECK(wl_selectors_has(&s, "unix", "uid:1000"));
  CHECK(!wl_selectors_has(&s, "unix", "uid:100"));
  CHECK_ERR(wl_selectors_add(&s, "un:ix", "x"), CAIRN_ERR_INVAL);
  CHECK_ERR(wl_selectors_add(&s, "", "x"), CAIRN_ERR_INVAL);
  CHECK_ERR(wl_selectors_add(&s, "unix", ""), CAIRN_ERR_INVAL);
  CHECK_ERR(wl_selectors_add(&s, "unix", "a\nb"), CAIRN_ERR_INVAL);

  /* Subset: every selector of the entry among the caller's. */
  sels(&t, "unix:uid:1000");
  CHECK(wl_selectors_subset(t.v, t.n, s.v, s.n));
  sels(&t, "unix:uid:1000,unix:gid:1000");
  CHECK(wl_selectors_subset(t.v, t.n, s.v, s.n));
  sels(&t, "unix:uid:1000,unix:gid:1001");
  CHECK(!wl_selectors_subset(t.v, t.n, s.v, s.n));
  sels(&t, "a:a,k8s:ns:default,unix:gid:1000,unix:uid:1000");
  CHECK(!wl_selectors_subset(t.v, t.n, s.v, s.n));
  CHECK(wl_selectors_subset(s.v, s.n, t.v, t.n));
  CHECK(wl_selectors_subset(NULL, 0, s.v, s.n));
  sels(&t, "zz:z");
  CHECK(!wl_selectors_subset(t.v, t.n, s.v, s.n));
  wl_selectors_clear(&s);
  wl_selectors_clear(&t);
}

/* ======================================================================
 * the cache
 * ====================================================================== */

static uv_loop_t g_loop;

static struct wl_cache *new_cache(size_t max_entries, size_t max_jwt)
{
  struct wl_cache_opts o;
  struct wl_cache *c = NULL;

  wl_cache_opts_init(&o);
  o.trust_domain = TD;
  o.max_entries = max_entries;
  o.max_jwt = max_jwt;
  CHECK_OK(wl_cache_new(&g_loop, &o, &c));
  return c;
}

static void free_cache(struct wl_cache *c)
{
  wl_cache_free(c);
  uv_run(&g_loop, UV_RUN_DEFAULT);
}

static void test_cache_entries(void)
{
  struct wl_cache *c = new_cache(3, 0);
  struct ent a, b, d, bad;
  struct cairn_msg_entry set[2];
  const struct wl_entry *e;

  ent_init(&a, "a", "spiffe://" TD "/a", "unix:uid:1,unix:gid:2", NULL, "ha");
  ent_init(&b, "b", "spiffe://" TD "/b", "unix:uid:1", FED, NULL);
  ent_init(&d, "d", "spiffe://" TD "/d", "unix:uid:9", NULL, NULL);
  CHECK_OK(wl_cache_entry_put(c, &a.m));
  CHECK_OK(wl_cache_entry_put(c, &b.m));
  CHECK_OK(wl_cache_entry_put(c, &d.m));
  CHECK_INT_EQ(wl_cache_entry_count(c), 3);
  e = wl_cache_entry_get(c, "a");
  CHECK(e != NULL);
  if (e) {
    CHECK_STR_EQ(e->hint, "ha");
    CHECK_INT_EQ(e->n_selectors, 2);
    CHECK_STR_EQ(e->selectors[0].value, "gid:2");  /* sorted */
  }
  CHECK(wl_cache_entry_get(c, "zz") == NULL);

  /* Caps and validation. */
  ent_init(&bad, "e", "spiffe://" TD "/e", "unix:uid:1", NULL, NULL);
  CHECK_ERR(wl_cache_entry_put(c, &bad.m), CAIRN_ERR_TOO_BIG);
  ent_init(&bad, "a b", "spiffe://" TD "/e", "unix:uid:1", NULL, NULL);
  CHECK_ERR(wl_cache_entry_put(c, &bad.m), CAIRN_ERR_INVAL);
  ent_init(&bad, "a", "spiffe://other.org/e", "unix:uid:1", NULL, NULL);
  CHECK_ERR(wl_cache_entry_put(c, &bad.m), CAIRN_ERR_INVAL);
  ent_init(&bad, "a", "spiffe://" TD, "unix:uid:1", NULL, NULL);
  CHECK_ERR(wl_cache_entry_put(c, &bad.m), CAIRN_ERR_INVAL);
  ent_init(&bad, "a", "spiffe://" TD "/a", "", NULL, NULL);
  CHECK_ERR(wl_cache_entry_put(c, &bad.m), CAIRN_ERR_INVAL);
  ent_init(&bad, "a", "spiffe://" TD "/a", "unix:uid:1,unix:uid:1", NULL,
           NULL);
  CHECK_ERR(wl_cache_entry_put(c, &bad.m), CAIRN_ERR_INVAL);
  ent_init(&bad, "a", "spiffe://" TD "/a", "unix:uid:1", TD, NULL);
  CHECK_ERR(wl_cache_entry_put(c, &bad.m), CAIRN_ERR_INVAL);
  /* A failed put leaves the old entry. */
  e = wl_cache_entry_get(c, "a");
  CHECK(e && e->n_selectors == 2);

  /* Full sync: "d" goes, "a" stays, "c" arrives. All or nothing. */
  set[0] = a.m;
  ent_init(&bad, "c", "spiffe://" TD "/c", "unix:uid:3", NULL, NULL);
  set[1] = bad.m;
  set[1].spiffe_id = (char *)"spiffe://bad td/x";
  CHECK_ERR(wl_cache_entries_replace(c, set, 2), CAIRN_ERR_INVAL);
  CHECK_INT_EQ(wl_cache_entry_count(c), 3);
  set[1] = bad.m;
  CHECK_OK(wl_cache_entries_replace(c, set, 2));
  CHECK_INT_EQ(wl_cache_entry_count(c), 2);
  CHECK(wl_cache_entry_get(c, "c") != NULL);
  CHECK(wl_cache_entry_get(c, "d") == NULL);
  set[1] = a.m;
  CHECK_ERR(wl_cache_entries_replace(c, set, 2), CAIRN_ERR_INVAL);
  CHECK_OK(wl_cache_entry_remove(c, "c"));
  CHECK_ERR(wl_cache_entry_remove(c, "c"), CAIRN_ERR_NOT_FOUND);
  CHECK_OK(wl_cache_entries_replace(c, NULL, 0));
  CHECK_INT_EQ(wl_cache_entry_count(c), 0);
  free_cache(c);
}

static void test_cache_match_svid(void)
{
  struct wl_cache *c = new_cache(0, 0);
  struct ent a, b, x;
  struct wl_selectors caller = {0};
  struct wl_view v;
  struct wl_svid_info info;
  struct cairn_key *k = NULL, *imported = NULL;
  struct cairn_cert *leaf;
  struct cairn_cert_list *l = NULL, *parsed = NULL;
  char serial[41];

  ent_init(&a, "a", "spiffe://" TD "/a", "unix:uid:1000", NULL, "web");
  ent_init(&b, "b", "spiffe://" TD "/b", "unix:uid:1000,unix:gid:50", FED,
           NULL);
  ent_init(&x, "x", "spiffe://" TD "/x", "unix:uid:2000", FED, NULL);
  CHECK_OK(wl_cache_entry_put(c, &b.m));
  CHECK_OK(wl_cache_entry_put(c, &a.m));
  CHECK_OK(wl_cache_entry_put(c, &x.m));
  CHECK_OK(wl_cache_set_federated(c, g_fed_bundle));
  CHECK_ERR(wl_cache_set_federated(c, g_bundle), CAIRN_ERR_INVAL);

  /* uid only: "a"; uid + gid: "a" and "b" in ID order. */
  sels(&caller, "unix:uid:1000,unix:user:me");
  CHECK_OK(wl_cache_view(c, caller.v, caller.n, &v));
  CHECK_INT_EQ(v.n_idents, 1);
  CHECK_INT_EQ(v.n_svids, 0);
  CHECK_INT_EQ(v.has_bundle, 0);
  CHECK_INT_EQ(v.n_federated, 0);
  wl_view_clear(&v);
  sels(&caller, "unix:uid:1000,unix:gid:50");
  CHECK_OK(wl_cache_view(c, caller.v, caller.n, &v));
  CHECK_INT_EQ(v.n_idents, 2);
  if (v.n_idents == 2) {
    CHECK_STR_EQ(v.idents[0].entry->id, "a");
    CHECK_STR_EQ(v.idents[1].entry->id, "b");
  }
  CHECK_INT_EQ(v.n_federated, 1);
  if (v.n_federated == 1) {
    CHECK_STR_EQ(v.federated[0].td_id, "spiffe://" FED);
    CHECK(v.federated[0].x509_len > 100);
    CHECK(strstr(v.federated[0].jwks, "fedkid") != NULL);
    CHECK(strstr(v.federated[0].jwks, "\"use\"") == NULL);
  }
  wl_view_clear(&v);
  sels(&caller, "unix:uid:3000");
  CHECK_OK(wl_cache_view(c, caller.v, caller.n, &v));
  CHECK_INT_EQ(v.n_idents, 0);
  wl_view_clear(&v);

  /* SVIDs: wrong ID, wrong key, untrusted chain, then a good one. */
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  leaf = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/b", 3600, k, g_ca_key, g_ca);
  CHECK_OK(cairn_cert_list_new(&l));
  CHECK_OK(cairn_cert_list_push(l, leaf));
  CHECK_ERR(wl_cache_svid_set(c, "a", l, k), CAIRN_ERR_POLICY);
  CHECK_ERR(wl_cache_svid_set(c, "zz", l, k), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(wl_cache_svid_set(c, "b", l, g_ca_key), CAIRN_ERR_POLICY);
  cairn_cert_list_free(l);
  l = NULL;
  CHECK_OK(wl_cache_set_bundle(c, g_bundle));
  leaf = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/b", 3600, k, g_other_key,
               g_other_ca);
  CHECK_OK(cairn_cert_list_new(&l));
  CHECK_OK(cairn_cert_list_push(l, leaf));
  CHECK_ERR(wl_cache_svid_set(c, "b", l, k), CAIRN_ERR_UNTRUSTED);
  cairn_cert_list_free(l);
  cairn_key_free(k);
  CHECK_OK(give_svid(c, "b", "spiffe://" TD "/b", 3600, serial));
  CHECK_OK(wl_cache_svid_info(c, "b", &info));
  CHECK_INT_EQ(info.present, 1);
  CHECK_STR_EQ(info.serial, serial);
  CHECK_INT_EQ(info.generation, 1);
  CHECK_OK(wl_cache_svid_info(c, "a", &info));
  CHECK_INT_EQ(info.present, 0);

  CHECK_OK(wl_cache_view(c, caller.v, 0, &v));
  CHECK_INT_EQ(v.n_idents, 0);
  wl_view_clear(&v);
  sels(&caller, "unix:uid:1000,unix:gid:50");
  CHECK_OK(wl_cache_view(c, caller.v, caller.n, &v));
  CHECK_INT_EQ(v.n_svids, 1);
  CHECK_INT_EQ(v.has_bundle, 1);
  if (v.n_idents == 2 && v.idents[1].chain_der) {
    size_t rl;
    const uint8_t *root = cairn_cert_der(g_ca, &rl);
    CHECK(v.idents[0].chain_der == NULL);
    CHECK_OK(cairn_cert_list_parse_der(v.idents[1].chain_der,
                                       v.idents[1].chain_len, &parsed));
    /* The key is PKCS#8 DER of the leaf's key pair. */
    CHECK_OK(cairn_key_import_der(v.idents[1].key_der, v.idents[1].key_len,
                                  &imported));
    CHECK(v.idents[1].key_der[0] == 0x30);
    if (parsed && imported)
      CHECK(cairn_cert_matches_key(cairn_cert_list_at(parsed, 0), imported));
    CHECK_INT_EQ(v.own.x509_len, rl);
    CHECK(memcmp(v.own.x509_der, root, rl) == 0);
    CHECK_STR_EQ(v.own.td_id, "spiffe://" TD);
  }
  wl_view_clear(&v);
  cairn_cert_list_free(parsed);
  cairn_key_free(imported);

  /* Re-putting "b" with a new revision or selectors keeps the SVID; a new
   * SPIFFE ID drops it. */
  b.m.revision = 7;
  CHECK_OK(wl_cache_entry_put(c, &b.m));
  CHECK_OK(wl_cache_svid_info(c, "b", &info));
  CHECK_INT_EQ(info.present, 1);
  CHECK_INT_EQ(wl_cache_entry_get(c, "b")->revision, 7);
  ent_init(&b, "b", "spiffe://" TD "/b", "unix:uid:1000", FED, NULL);
  CHECK_OK(wl_cache_entry_put(c, &b.m));
  CHECK_OK(wl_cache_svid_info(c, "b", &info));
  CHECK_INT_EQ(info.present, 1);
  ent_init(&b, "b", "spiffe://" TD "/b2", "unix:uid:1000", FED, NULL);
  CHECK_OK(wl_cache_entry_put(c, &b.m));
  CHECK_OK(wl_cache_svid_info(c, "b", &info));
  CHECK_INT_EQ(info.present, 0);
  CHECK_INT_EQ(info.generation, 1);
  CHECK_OK(give_svid(c, "b", "spiffe://" TD "/b2", 3600, NULL));
  CHECK_OK(wl_cache_svid_clear(c, "b"));
  CHECK_OK(wl_cache_svid_info(c, "b", &info));
  CHECK_INT_EQ(info.present, 0);
  CHECK_INT_EQ(info.generation, 2);
  CHECK_OK(wl_cache_remove_federated(c, FED));
  CHECK_ERR(wl_cache_remove_federated(c, FED), CAIRN_ERR_NOT_FOUND);
  wl_selectors_clear(&caller);
  free_cache(c);
}

/* ---- subscriptions -------------------------------------------------- */

struct notes {
  int count;
  int unsub_self;
  struct wl_sub *sub;
};

static void on_note(struct wl_sub *sub, void *arg)
{
  struct notes *n = arg;
  n->count++;
  if (n->unsub_self) {
    wl_cache_unsubscribe(sub);
    n->sub = NULL;
  }
}

static void spin(void)
{
  uv_run(&g_loop, UV_RUN_NOWAIT);
  uv_run(&g_loop, UV_RUN_NOWAIT);
}

static void test_cache_subscribe(void)
{
  struct wl_cache *c = new_cache(0, 0);
  struct ent a, b, x;
  struct wl_selectors s1 = {0}, s2 = {0};
  struct notes n1 = {0}, n2 = {0};
  struct wl_cache_stats st;
  struct cairn_bundle *nb = NULL;

  ent_init(&a, "a", "spiffe://" TD "/a", "unix:uid:1", NULL, NULL);
  ent_init(&b, "b", "spiffe://" TD "/b", "unix:uid:2", FED, NULL);
  sels(&s1, "unix:uid:1,unix:gid:1");
  sels(&s2, "unix:uid:2");
  CHECK_OK(wl_cache_subscribe(c, s1.v, s1.n, on_note, &n1, &n1.sub));
  CHECK_OK(wl_cache_subscribe(c, s2.v, s2.n, on_note, &n2, &n2.sub));

  /* Several changes within one loop turn: one coalesced notification,
   * and only to the subscriber that sees them. */
  CHECK_OK(wl_cache_entry_put(c, &a.m));
  CHECK_OK(give_svid(c, "a", "spiffe://" TD "/a", 3600, NULL));
  CHECK_INT_EQ(n1.count, 0);  /* never from inside a cache call */
  spin();
  CHECK_INT_EQ(n1.count, 1);
  CHECK_INT_EQ(n2.count, 0);
  /* An unrelated entry; a revision-only change: nothing. */
  ent_init(&x, "x", "spiffe://" TD "/x", "unix:uid:3", NULL, NULL);
  CHECK_OK(wl_cache_entry_put(c, &x.m));
  a.m.revision = 2;
  CHECK_OK(wl_cache_entry_put(c, &a.m));
  spin();
  CHECK_INT_EQ(n1.count, 1);
  /* Entry gains a selector the caller lacks: the caller loses it. */
  ent_init(&a, "a", "spiffe://" TD "/a", "unix:uid:1,unix:gid:9", NULL, NULL);
  CHECK_OK(wl_cache_entry_put(c, &a.m));
  spin();
  CHECK_INT_EQ(n1.count, 2);
  /* The own bundle: everybody; the same content again: nobody. */
  CHECK_OK(wl_cache_set_bundle(c, g_bundle));
  spin();
  CHECK_INT_EQ(n1.count, 3);
  CHECK_INT_EQ(n2.count, 1);
  CHECK_OK(cairn_bundle_dup(g_bundle, &nb));
  cairn_bundle_set_sequence(nb, 99);
  CHECK_OK(wl_cache_set_bundle(c, nb));
  spin();
  CHECK_INT_EQ(n1.count, 3);
  CHECK_INT_EQ(n2.count, 1);
  /* Federated bundle: only the subscriber whose entry federates. */
  CHECK_OK(wl_cache_entry_put(c, &b.m));
  spin();
  CHECK_INT_EQ(n2.count, 2);
  CHECK_OK(wl_cache_set_federated(c, g_fed_bundle));
  spin();
  CHECK_INT_EQ(n1.count, 3);
  CHECK_INT_EQ(n2.count, 3);
  CHECK_OK(wl_cache_set_federated(c, g_fed_bundle));  /* unchanged */
  spin();
  CHECK_INT_EQ(n2.count, 3);
  /* Removing an entry notifies; unsubscribing from inside a callback. */
  n2.unsub_self = 1;
  CHECK_OK(wl_cache_entry_remove(c, "b"));
  spin();
  CHECK_INT_EQ(n2.count, 4);
  CHECK(n2.sub == NULL);
  CHECK_OK(wl_cache_entry_put(c, &b.m));
  spin();
  CHECK_INT_EQ(n2.count, 4);
  wl_cache_get_stats(c, &st);
  CHECK_INT_EQ(st.subscribers, 1);
  CHECK_INT_EQ(st.entries, 3);
  CHECK_INT_EQ(st.svids, 1);
  CHECK(st.flushes >= 5);
  wl_cache_unsubscribe(n1.sub);
  wl_cache_get_stats(c, &st);
  CHECK_INT_EQ(st.subscribers, 0);
  cairn_bundle_free(nb);
  wl_selectors_clear(&s1);
  wl_selectors_clear(&s2);
  free_cache(c);
}

static void on_stop(uv_timer_t *t)
{
  uv_stop(t->loop);
}

static void test_cache_expiry(void)
{
  struct wl_cache *c = new_cache(0, 0);
  struct ent a;
  struct wl_selectors s = {0};
  struct notes n = {0};
  struct wl_svid_info info;
  struct wl_cache_stats st;
  uv_timer_t t;

  ent_init(&a, "a", "spiffe://" TD "/a", "unix:uid:1", NULL, NULL);
  CHECK_OK(wl_cache_entry_put(c, &a.m));
  CHECK_OK(wl_cache_set_bundle(c, g_bundle));
  sels(&s, "unix:uid:1");
  CHECK_OK(wl_cache_subscribe(c, s.v, s.n, on_note, &n, &n.sub));
  /* An SVID valid for three more seconds is dropped when it expires
   * (not one: under qemu-user, issuing and verifying it takes a while). */
  CHECK_OK(give_svid(c, "a", "spiffe://" TD "/a", 3, NULL));
  spin();
  CHECK_INT_EQ(n.count, 1);
  uv_timer_init(&g_loop, &t);
  uv_timer_start(&t, on_stop, 8000, 0);
  while (n.count < 2 && uv_is_active((uv_handle_t *)&t))
    uv_run(&g_loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&g_loop, UV_RUN_NOWAIT);
  CHECK_INT_EQ(n.count, 2);
  CHECK_OK(wl_cache_svid_info(c, "a", &info));
  CHECK_INT_EQ(info.present, 0);
  wl_cache_get_stats(c, &st);
  CHECK_INT_EQ(st.svids_expired, 1);
  CHECK_INT_EQ(st.svids, 0);
  wl_cache_unsubscribe(n.sub);
  wl_selectors_clear(&s);
  free_cache(c);
}

/* ---- JWT-SVIDs ------------------------------------------------------- */

static char *sign(const char *sub, const char *const *aud, size_t naud,
                  time_t iat, time_t exp, const char *kid)
{
  char *tok = NULL;
  CHECK_OK(cairn_jwt_sign(g_jwt_key, kid, sub, aud, naud, iat, exp, &tok));
  return tok;
}

static void test_cache_jwt(void)
{
  struct wl_cache *c = new_cache(0, 2);
  const char *ab[] = {"a", "b"}, *ba[] = {"b", "a", "b"}, *a1[] = {"a"};
  const char *cc[] = {"c"}, *dd[] = {"d"};
  const char *id = "spiffe://" TD "/w";
  time_t now = 1900000000;
  char *t1, *t2, *t3;
  struct ent e;
  struct wl_cache_stats st;
  struct cairn_bundle *nb = NULL;

  ent_init(&e, "w", id, "unix:uid:1", NULL, NULL);
  CHECK_OK(wl_cache_entry_put(c, &e.m));
  cairn_time_set_fake(now);
  t1 = sign(id, ab, 2, now, now + 300, "kid1");
  CHECK(wl_cache_jwt_get(c, id, ab, 2, 0) == NULL);
  CHECK_OK(wl_cache_jwt_put(c, id, ba, 3, t1, 0));
  /* Audience order and duplicates do not matter; a different set does. */
  CHECK_STR_EQ(wl_cache_jwt_get(c, id, ba, 3, 0), t1);
  CHECK_STR_EQ(wl_cache_jwt_get(c, id, ab, 2, 0), t1);
  CHECK(wl_cache_jwt_get(c, id, a1, 1, 0) == NULL);
  CHECK(wl_cache_jwt_get(c, "spiffe://" TD "/v", ab, 2, 0) == NULL);
  /* Half life: valid until iat + 150. */
  CHECK(wl_cache_jwt_get(c, id, ab, 2, now + 149) != NULL);
  CHECK(wl_cache_jwt_get(c, id, ab, 2, now + 150) == NULL);
  CHECK_INT_EQ(wl_cache_jwt_count(c), 0);

  /* Tokens that do not fit the request. */
  CHECK_ERR(wl_cache_jwt_put(c, "spiffe://" TD "/v", ab, 2, t1, 0),
            CAIRN_ERR_POLICY);
  CHECK_ERR(wl_cache_jwt_put(c, id, cc, 1, t1, 0), CAIRN_ERR_POLICY);
  CHECK_ERR(wl_cache_jwt_put(c, id, ab, 2, t1, now + 400), CAIRN_ERR_EXPIRED);
  CHECK_ERR(wl_cache_jwt_put(c, id, ab, 2, "not.a.jwt", 0), CAIRN_ERR_PARSE);
  CHECK_ERR(wl_cache_jwt_put(c, id, ab, 0, t1, 0), CAIRN_ERR_INVAL);

  /* LRU eviction with max_jwt = 2. */
  t2 = sign(id, cc, 1, now, now + 300, "kid1");
  t3 = sign(id, dd, 1, now, now + 300, "kid1");
  CHECK_OK(wl_cache_jwt_put(c, id, ab, 2, t1, 0));
  CHECK_OK(wl_cache_jwt_put(c, id, cc, 1, t2, 0));
  CHECK(wl_cache_jwt_get(c, id, ab, 2, 0) != NULL);  /* ab most recent */
  CHECK_OK(wl_cache_jwt_put(c, id, dd, 1, t3, 0));
  CHECK_INT_EQ(wl_cache_jwt_count(c), 2);
  CHECK(wl_cache_jwt_get(c, id, cc, 1, 0) == NULL);
  CHECK(wl_cache_jwt_get(c, id, ab, 2, 0) != NULL);
  CHECK(wl_cache_jwt_get(c, id, dd, 1, 0) != NULL);
  wl_cache_get_stats(c, &st);
  CHECK_INT_EQ(st.jwt_evicted, 1);

  /* A bundle without kid1 drops tokens signed with it. */
  CHECK_OK(wl_cache_set_bundle(c, g_bundle));
  CHECK_INT_EQ(wl_cache_jwt_count(c), 2);
  CHECK_OK(cairn_bundle_dup(g_bundle, &nb));
  CHECK_OK(cairn_bundle_remove_jwt_key(nb, "kid1"));
  CHECK_OK(cairn_bundle_add_jwt_key(nb, "kid2", g_jwt_key));
  CHECK_OK(wl_cache_set_bundle(c, nb));
  CHECK_INT_EQ(wl_cache_jwt_count(c), 0);
  /* Removing the last entry with the ID drops its tokens. */
  CHECK_OK(wl_cache_jwt_put(c, id, ab, 2, t1, 0));
  CHECK_INT_EQ(wl_cache_jwt_count(c), 1);
  CHECK_OK(wl_cache_entry_remove(c, "w"));
  CHECK_INT_EQ(wl_cache_jwt_count(c), 0);
  cairn_time_set_fake(0);
  free(t1);
  free(t2);
  free(t3);
  cairn_bundle_free(nb);
  free_cache(c);
}

/* ======================================================================
 * the unix attestor
 * ====================================================================== */

static void chomp(char *s)
{
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = '\0';
}

static void test_unix_self(void)
{
  struct wl_unix *u = NULL;
  struct wl_unix_opts o;
  struct wl_selectors s = {0};
  struct cairn_grpc_peer p = {getpid(), geteuid(), getegid()};
  struct wl_unix_stats st;
  char out[4096], exe[4096], want[4200], *tok, *save = NULL;
  ssize_t n;

  CHECK_OK(wl_unix_new(NULL, &u));
  CHECK_OK(wl_unix_attest(u, &p, &s));
  snprintf(want, sizeof want, "uid:%d", (int)geteuid());
  CHECK(wl_selectors_has(&s, "unix", want));
  snprintf(want, sizeof want, "gid:%d", (int)getegid());
  CHECK(wl_selectors_has(&s, "unix", want));
  CHECK_INT_EQ(test_sh_out(out, sizeof out, "id -un"), 0);
  chomp(out);
  snprintf(want, sizeof want, "user:%s", out);
  CHECK(wl_selectors_has(&s, "unix", want));
  CHECK_INT_EQ(test_sh_out(out, sizeof out, "id -gn"), 0);
  chomp(out);
  snprintf(want, sizeof want, "group:%s", out);
  CHECK(wl_selectors_has(&s, "unix", want));
  /* Supplementary groups ("id -G" lists the primary one too). */
  CHECK_INT_EQ(test_sh_out(out, sizeof out, "id -G"), 0);
  chomp(out);
  for (tok = strtok_r(out, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    snprintf(want, sizeof want, "gid:%s", tok);
    CHECK(wl_selectors_has(&s, "unix", want));
  }
  n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(n > 0);
  exe[n > 0 ? n : 0] = '\0';
  snprintf(want, sizeof want, "path:%s", exe);
  CHECK(wl_selectors_has(&s, "unix", want));
  CHECK_INT_EQ(test_sh_out(out, sizeof out, "sha256sum '%s' | cut -c1-64",
                           exe), 0);
  chomp(out);
  CHECK_INT_EQ(strlen(out), 64);
  snprintf(want, sizeof want, "sha256:%s", out);
  CHECK(wl_selectors_has(&s, "unix", want));

  /* A second attestation hashes nothing. */
  wl_selectors_clear(&s);
  CHECK_OK(wl_unix_attest(u, &p, &s));
  CHECK(wl_selectors_has(&s, "unix", want));
  wl_unix_get_stats(u, &st);
  CHECK_INT_EQ(st.hashes, 1);
  CHECK_INT_EQ(st.hash_hits, 1);
  CHECK_INT_EQ(st.reuse_detected, 0);

  /* Credentials that do not belong to the process at pid: only the
   * socket's selectors. */
  wl_selectors_clear(&s);
  p.uid = geteuid() + 4242;
  CHECK_OK(wl_unix_attest(u, &p, &s));
  snprintf(want, sizeof want, "uid:%d", (int)geteuid() + 4242);
  CHECK(wl_selectors_has(&s, "unix", want));
  snprintf(want, sizeof want, "path:%s", exe);
  CHECK(!wl_selectors_has(&s, "unix", want));
  wl_unix_get_stats(u, &st);
  CHECK_INT_EQ(st.reuse_detected, 1);
  p.uid = (uid_t)-1;
  CHECK_ERR(wl_unix_attest(u, &p, &s), CAIRN_ERR_DENIED);
  wl_selectors_clear(&s);
  wl_unix_free(u);

  /* A process that is gone. */
  {
    pid_t child = fork();
    int status;
    if (child == 0) _exit(0);
    waitpid(child, &status, 0);
    CHECK_OK(wl_unix_new(NULL, &u));
    p.pid = child;
    p.uid = geteuid();
    CHECK_OK(wl_unix_attest(u, &p, &s));
    snprintf(want, sizeof want, "uid:%d", (int)geteuid());
    CHECK(wl_selectors_has(&s, "unix", want));
    snprintf(want, sizeof want, "path:%s", exe);
    CHECK(!wl_selectors_has(&s, "unix", want));
    wl_selectors_clear(&s);
    wl_unix_free(u);
  }

  /* Caps: no hash past hash_max; no path at all with no_path. */
  wl_unix_opts_init(&o);
  o.hash_max = 1;
  CHECK_OK(wl_unix_new(&o, &u));
  p.pid = getpid();
  CHECK_OK(wl_unix_attest(u, &p, &s));
  snprintf(want, sizeof want, "path:%s", exe);
  CHECK(wl_selectors_has(&s, "unix", want));
  for (size_t i = 0; i < s.n; i++)
    CHECK(strncmp(s.v[i].value, "sha256:", 7) != 0);
  wl_selectors_clear(&s);
  wl_unix_free(u);
  o.hash_max = 0;
  o.no_path = 1;
  CHECK_OK(wl_unix_new(&o, &u));
  CHECK_OK(wl_unix_attest(u, &p, &s));
  CHECK(!wl_selectors_has(&s, "unix", want));
  wl_selectors_clear(&s);
  wl_unix_free(u);
}

/* A fabricated /proc: a command name with spaces and parentheses, groups,
 * and an exe link to a file whose hash we know. */
static void test_unix_fake_proc(void)
{
  struct wl_unix *u = NULL;
  struct wl_unix_opts o;
  struct wl_selectors s = {0};
  struct cairn_grpc_peer p = {4242, 1234, 5678};
  char dir[512], bin[512], out[256], want[700];
  const char *stat_text =
      "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
      "777 1000 100\n";
  const char *status_text =
      "Name:\ta\nUmask:\t0022\nUid:\t1000\t1234\t1234\t1234\n"
      "Gid:\t5678\t5678\t5678\t5678\nGroups:\t5678 10 20 \n";

  snprintf(dir, sizeof dir, "%s", test_path("proc/4242"));
  CHECK_INT_EQ(test_sh("mkdir -p '%s'", dir), 0);
  snprintf(bin, sizeof bin, "%s", test_path("bin-x"));
  CHECK_OK(test_write_file(bin, "hello\n", 6));
  CHECK_OK(test_write_file(test_path("proc/4242/stat"), stat_text,
                           strlen(stat_text)));
  CHECK_OK(test_write_file(test_path("proc/4242/status"), status_text,
                           strlen(status_text)));
  CHECK_INT_EQ(symlink(bin, test_path("proc/4242/exe")), 0);
  wl_unix_opts_init(&o);
  o.proc_root = test_path("proc");
  CHECK_OK(wl_unix_new(&o, &u));
  CHECK_OK(wl_unix_attest(u, &p, &s));
  CHECK(wl_selectors_has(&s, "unix", "uid:1234"));
  CHECK(wl_selectors_has(&s, "unix", "gid:5678"));
  CHECK(wl_selectors_has(&s, "unix", "gid:10"));
  CHECK(wl_selectors_has(&s, "unix", "gid:20"));
  CHECK(wl_selectors_has(&s, "unix", "supplementary_gid:20"));
  CHECK(!wl_selectors_has(&s, "unix", "supplementary_gid:1000"));
  snprintf(want, sizeof want, "path:%s", bin);
  CHECK(wl_selectors_has(&s, "unix", want));
  CHECK_INT_EQ(test_sh_out(out, sizeof out, "printf 'hello\\n' | sha256sum | "
                           "cut -c1-64"), 0);
  chomp(out);
  snprintf(want, sizeof want, "sha256:%s", out);
  CHECK(wl_selectors_has(&s, "unix", want));
  wl_selectors_clear(&s);

  /* The binary changes (new mtime/size): hashed again. */
  CHECK_OK(test_write_file(bin, "hello again\n", 12));
  CHECK_OK(wl_unix_attest(u, &p, &s));
  CHECK(!wl_selectors_has(&s, "unix", want));
  wl_selectors_clear(&s);

  /* The euid in status differs from the socket's: /proc selectors go. */
  p.uid = 999;
  CHECK_OK(wl_unix_attest(u, &p, &s));
  CHECK(wl_selectors_has(&s, "unix", "uid:999"));
  CHECK(!wl_selectors_has(&s, "unix", "gid:20"));
  wl_selectors_clear(&s);
  /* A stat file without a start time: /proc selectors go. */
  CHECK_OK(test_write_file(test_path("proc/4242/stat"), "4242 (x) S 1\n", 13));
  p.uid = 1234;
  CHECK_OK(wl_unix_attest(u, &p, &s));
  CHECK(!wl_selectors_has(&s, "unix", "gid:20"));
  wl_selectors_clear(&s);
  wl_unix_free(u);
}

/* ======================================================================
 * the Workload API, in-process
 * ====================================================================== */

struct api_env {
  uv_loop_t loop;
  uv_async_t async;
  uv_sem_t sem;
  pthread_t thread;
  void (*fn)(void *);
  void *arg;
  struct wl_cache *cache;
  struct wl_api *api;
  char sock[256];
  /* mint provider */
  int mint_async;
  int mint_fail;
  int mints;
  struct wl_jwt_req *queued[16];
  char *queued_tok[16];
  int n_queued;
  uv_timer_t mint_timer;
};

static struct api_env E;

static void on_async(uv_async_t *h)
{
  (void)h;
  if (E.fn) {
    E.fn(E.arg);
    E.fn = NULL;
    uv_sem_post(&E.sem);
  }
}

/* Runs fn(arg) on the loop thread and waits for it. */
static void on_loop(void (*fn)(void *), void *arg)
{
  E.fn = fn;
  E.arg = arg;
  uv_async_send(&E.async);
  uv_sem_wait(&E.sem);
}

static void *loop_main(void *arg)
{
  (void)arg;
  uv_run(&E.loop, UV_RUN_DEFAULT);
  wc_ecc_fp_free();
  return NULL;
}

static void on_mint_timer(uv_timer_t *t)
{
  int i;
  (void)t;
  for (i = 0; i < E.n_queued; i++) {
    wl_jwt_req_done(E.queued[i], E.queued_tok[i],
                    E.queued_tok[i] ? NULL : "server says no");
    free(E.queued_tok[i]);
  }
  E.n_queued = 0;
}

static void mint(struct wl_jwt_req *req, const char *entry_id,
                 const char *spiffe_id, const char *const *aud, size_t naud,
                 void *arg)
{
  char *tok = NULL;
  (void)arg;
  (void)entry_id;
  E.mints++;
  if (!E.mint_fail)
    cairn_jwt_sign(g_jwt_key, "kid1", spiffe_id, aud, naud, 0,
                   cairn_now() + 300, &tok);
  if (!E.mint_async) {
    wl_jwt_req_done(req, tok, tok ? NULL : "server says no");
    free(tok);
    return;
  }
  E.queued[E.n_queued] = req;
  E.queued_tok[E.n_queued++] = tok;
  uv_timer_start(&E.mint_timer, on_mint_timer, 20, 0);
}

static char g_me[64], g_me2[64], g_other[64];

static void setup_api(void *arg)
{
  struct wl_cache_opts co;
  struct wl_api_opts ao;
  struct ent a, b, x;
  char sel[128], sel2[160];
  (void)arg;

  wl_cache_opts_init(&co);
  co.trust_domain = TD;
  CHECK_OK(wl_cache_new(&E.loop, &co, &E.cache));
  snprintf(sel, sizeof sel, "unix:uid:%d", (int)geteuid());
  snprintf(sel2, sizeof sel2, "unix:uid:%d,unix:gid:%d", (int)geteuid(),
           (int)getegid());
  ent_init(&a, "e1", g_me, sel, FED, "one");
  ent_init(&b, "e2", g_me2, sel2, NULL, "two");
  ent_init(&x, "e3", g_other, "unix:uid:99999", NULL, NULL);
  CHECK_OK(wl_cache_entry_put(E.cache, &a.m));
  CHECK_OK(wl_cache_entry_put(E.cache, &b.m));
  CHECK_OK(wl_cache_entry_put(E.cache, &x.m));
  CHECK_OK(wl_cache_set_bundle(E.cache, g_bundle));
  CHECK_OK(wl_cache_set_federated(E.cache, g_fed_bundle));
  CHECK_OK(give_svid(E.cache, "e1", g_me, 3600, NULL));
  CHECK_OK(give_svid(E.cache, "e2", g_me2, 3600, NULL));
  CHECK_OK(give_svid(E.cache, "e3", g_other, 3600, NULL));
  wl_api_opts_init(&ao);
  ao.cache = E.cache;
  ao.socket_path = E.sock;
  ao.mint_jwt = mint;
  ao.pending_ms = 400;
  CHECK_OK(wl_api_new(&E.loop, &ao, &E.api));
  uv_timer_init(&E.loop, &E.mint_timer);
}

static void teardown_api(void *arg)
{
  (void)arg;
  wl_api_free(E.api);
  wl_cache_free(E.cache);
  uv_close((uv_handle_t *)&E.mint_timer, NULL);
  uv_close((uv_handle_t *)&E.async, NULL);
}

static const struct cairn_grpc_md HDR[] = {{"workload.spiffe.io", "true"}};

static int unary(struct cairn_grpc_client *c, const char *m,
                 const ProtobufCMessage *req, int with_header,
                 struct cairn_grpc_reply *r)
{
  uint8_t buf[4096];
  size_t n = protobuf_c_message_pack(req, buf);
  char path[128];
  snprintf(path, sizeof path, "/SpiffeWorkloadAPI/%s", m);
  return cairn_grpc_client_unary(c, path, with_header ? HDR : NULL,
                                 with_header ? 1 : 0, buf, n, TMO, r);
}

/* Stream collector: keeps the last message; runs an action on the loop
 * after the first one. */
struct coll {
  uint8_t *first;
  size_t first_len;
  uint8_t *last;
  size_t last_len;
  size_t n;
  void (*after_first)(void *);
  void *arg;
};

static int on_msg(const uint8_t *msg, size_t len, void *arg)
{
  struct coll *c = arg;
  free(c->last);
  c->last = malloc(len ? len : 1);
  memcpy(c->last, msg, len);
  c->last_len = len;
  c->n++;
  if (c->n == 1) {
    c->first = malloc(len ? len : 1);
    memcpy(c->first, msg, len);
    c->first_len = len;
  }
  if (c->n == 1 && c->after_first) on_loop(c->after_first, c->arg);
  return 0;
}

static int stream(struct cairn_grpc_client *c, const char *m, size_t max,
                  int with_header, struct coll *col,
                  struct cairn_grpc_reply *r)
{
  char path[128];
  snprintf(path, sizeof path, "/SpiffeWorkloadAPI/%s", m);
  return cairn_grpc_client_stream(c, path, with_header ? HDR : NULL,
                                  with_header ? 1 : 0, "", 0, TMO, max,
                                  on_msg, col, r);
}

static void rotate_e1(void *arg)
{
  (void)arg;
  CHECK_OK(give_svid(E.cache, "e1", g_me, 3600, NULL));
}

static void drop_my_entries(void *arg)
{
  (void)arg;
  CHECK_OK(wl_cache_entry_remove(E.cache, "e1"));
  CHECK_OK(wl_cache_entry_remove(E.cache, "e2"));
}

static void restore_my_entries(void *arg)
{
  struct ent a;
  char sel[128];
  (void)arg;
  snprintf(sel, sizeof sel, "unix:uid:%d", (int)geteuid());
  ent_init(&a, "e1", g_me, sel, FED, "one");
  CHECK_OK(wl_cache_entry_put(E.cache, &a.m));
}

static void give_e1(void *arg)
{
  (void)arg;
  CHECK_OK(give_svid(E.cache, "e1", g_me, 3600, NULL));
}

static void get_api_stats(void *arg)
{
  wl_api_get_stats(E.api, arg);
}

static void test_api(void)
{
  struct cairn_grpc_client *c = NULL;
  struct cairn_grpc_reply r;
  struct coll col;
  struct stat sb;
  X509SVIDRequest xreq = X509_SVIDREQUEST__INIT;
  JWTSVIDRequest jreq = JWTSVIDREQUEST__INIT;
  ValidateJWTSVIDRequest vreq = VALIDATE_JWTSVIDREQUEST__INIT;
  X509SVIDResponse *xr;
  X509BundlesResponse *xb;
  JWTBundlesResponse *jb;
  JWTSVIDResponse *jr;
  ValidateJWTSVIDResponse *vr;
  char *aud2[] = {"svc-b", "svc-a"}, *aud1[] = {"svc-a"};
  char token[CAIRN_JWT_MAX + 1] = "", serial1[41] = "";
  struct wl_api_stats st;
  size_t i;

  snprintf(g_me, sizeof g_me, "spiffe://" TD "/uid/%d", (int)geteuid());
  snprintf(g_me2, sizeof g_me2, "spiffe://" TD "/uidgid/%d", (int)geteuid());
  snprintf(g_other, sizeof g_other, "spiffe://" TD "/other");
  memset(&E, 0, sizeof E);
  snprintf(E.sock, sizeof E.sock, "%s", test_path("wl.sock"));
  CHECK_INT_EQ(uv_loop_init(&E.loop), 0);
  CHECK_INT_EQ(uv_sem_init(&E.sem, 0), 0);
  uv_async_init(&E.loop, &E.async, on_async);
  CHECK_INT_EQ(pthread_create(&E.thread, NULL, loop_main, NULL), 0);
  on_loop(setup_api, NULL);
  if (!E.api) goto out;
  CHECK_INT_EQ(stat(E.sock, &sb), 0);
  CHECK_INT_EQ(sb.st_mode & 0777, 0777);
  CHECK_OK(cairn_grpc_client_connect(E.sock, TMO, NULL, &c));
  if (!c) goto out;

  /* The security header, for a stream, a unary call and WIT. */
  memset(&col, 0, sizeof col);
  CHECK_OK(stream(c, "FetchX509SVID", 1, 0, &col, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_STR_EQ(r.message, "security header missing from request");
  cairn_grpc_reply_cleanup(&r);
  jreq.audience = aud1;
  jreq.n_audience = 1;
  CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 0, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_STR_EQ(r.message, "security header missing from request");
  cairn_grpc_reply_cleanup(&r);
  {
    const struct cairn_grpc_md f[] = {{"workload.spiffe.io", "false"}};
    const struct cairn_grpc_md two[] = {{"workload.spiffe.io", "true"},
                                        {"workload.spiffe.io", "true"}};
    CHECK_OK(cairn_grpc_client_unary(c, "/SpiffeWorkloadAPI/FetchJWTSVID", f,
                                     1, "", 0, TMO, &r));
    CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
    cairn_grpc_reply_cleanup(&r);
    CHECK_OK(cairn_grpc_client_unary(c, "/SpiffeWorkloadAPI/FetchJWTSVID",
                                     two, 2, "", 0, TMO, &r));
    CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
    cairn_grpc_reply_cleanup(&r);
  }
  CHECK_OK(stream(c, "FetchWITSVID", 1, 1, &col, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_UNIMPLEMENTED);
  cairn_grpc_reply_cleanup(&r);
  CHECK_OK(stream(c, "FetchWITBundles", 1, 0, &col, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  cairn_grpc_reply_cleanup(&r);
  CHECK_OK(stream(c, "FetchWITBundles", 1, 1, &col, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_UNIMPLEMENTED);
  cairn_grpc_reply_cleanup(&r);
  CHECK_INT_EQ(col.n, 0);

  /* FetchX509SVID: both of my identities, in entry order, with the
   * federated bundle of e1; then a rotation on the same stream. */
  memset(&col, 0, sizeof col);
  col.after_first = rotate_e1;
  CHECK_OK(stream(c, "FetchX509SVID", 2, 1, &col, &r));
  CHECK_INT_EQ(r.finished, 0);
  CHECK_INT_EQ(col.n, 2);
  cairn_grpc_reply_cleanup(&r);
  xr = col.last ? x509_svidresponse__unpack(NULL, col.last_len, col.last)
                : NULL;
  CHECK(xr != NULL);
  if (xr) {
    CHECK_INT_EQ(xr->n_svids, 2);
    if (xr->n_svids == 2) {
      struct cairn_cert_list *chain = NULL, *roots = NULL;
      struct cairn_key *k = NULL;
      struct cairn_id id;
      CHECK_STR_EQ(xr->svids[0]->spiffe_id, g_me);
      CHECK_STR_EQ(xr->svids[0]->hint, "one");
      CHECK_STR_EQ(xr->svids[1]->spiffe_id, g_me2);
      CHECK_OK(cairn_cert_list_parse_der(xr->svids[0]->x509_svid.data,
                                         xr->svids[0]->x509_svid.len, &chain));
      CHECK_OK(cairn_cert_list_parse_der(xr->svids[0]->bundle.data,
                                         xr->svids[0]->bundle.len, &roots));
      CHECK_OK(cairn_key_import_der(xr->svids[0]->x509_svid_key.data,
                                    xr->svids[0]->x509_svid_key.len, &k));
      if (chain && roots && k) {
        CHECK_OK(cairn_cert_verify(chain, roots, TD, 0, 0, &id));
        CHECK_STR_EQ(id.str, g_me);
        CHECK(cairn_cert_matches_key(cairn_cert_list_at(chain, 0), k));
        cairn_cert_serial_hex(cairn_cert_list_at(chain, 0), serial1, 41);
      }
      cairn_cert_list_free(chain);
      cairn_cert_list_free(roots);
      cairn_key_free(k);
    }
    CHECK_INT_EQ(xr->n_federated_bundles, 1);
    if (xr->n_federated_bundles == 1)
      CHECK_STR_EQ(xr->federated_bundles[0]->key, "spiffe://" FED);
    x509_svidresponse__free_unpacked(xr, NULL);
  }
  /* The first message held e1's previous SVID; e2's is unchanged. */
  xr = col.first ? x509_svidresponse__unpack(NULL, col.first_len, col.first)
                 : NULL;
  CHECK(xr && xr->n_svids == 2);
  if (xr && xr->n_svids == 2) {
    struct cairn_cert_list *chain = NULL;
    char serial0[41] = "";
    CHECK_OK(cairn_cert_list_parse_der(xr->svids[0]->x509_svid.data,
                                       xr->svids[0]->x509_svid.len, &chain));
    if (chain) cairn_cert_serial_hex(cairn_cert_list_at(chain, 0), serial0, 41);
    CHECK(serial0[0] && serial1[0] && strcmp(serial0, serial1) != 0);
    cairn_cert_list_free(chain);
  }
  if (xr) x509_svidresponse__free_unpacked(xr, NULL);
  free(col.first);
  free(col.last);

  /* FetchX509Bundles and FetchJWTBundles. */
  memset(&col, 0, sizeof col);
  CHECK_OK(stream(c, "FetchX509Bundles", 1, 1, &col, &r));
  cairn_grpc_reply_cleanup(&r);
  xb = col.last ? x509_bundles_response__unpack(NULL, col.last_len, col.last)
                : NULL;
  CHECK(xb && xb->n_bundles == 2);
  if (xb && xb->n_bundles == 2) {
    int own = 0, fed = 0;
    for (i = 0; i < 2; i++) {
      own |= strcmp(xb->bundles[i]->key, "spiffe://" TD) == 0;
      fed |= strcmp(xb->bundles[i]->key, "spiffe://" FED) == 0;
    }
    CHECK(own && fed);
  }
  if (xb) x509_bundles_response__free_unpacked(xb, NULL);
  free(col.first);
  free(col.last);
  memset(&col, 0, sizeof col);
  CHECK_OK(stream(c, "FetchJWTBundles", 1, 1, &col, &r));
  cairn_grpc_reply_cleanup(&r);
  jb = col.last ? jwtbundles_response__unpack(NULL, col.last_len, col.last)
                : NULL;
  CHECK(jb && jb->n_bundles == 2);
  for (i = 0; jb && i < jb->n_bundles; i++) {
    json_error_t je;
    json_t *j = json_loadb((const char *)jb->bundles[i]->value.data,
                           jb->bundles[i]->value.len, 0, &je);
    CHECK(j && json_is_array(json_object_get(j, "keys")));
    CHECK(json_object_get(j, "spiffe_sequence") == NULL);
    if (strcmp(jb->bundles[i]->key, "spiffe://" TD) == 0)
      CHECK_STR_EQ(json_string_value(json_object_get(
                       json_array_get(json_object_get(j, "keys"), 0), "kid")),
                   "kid1");
    json_decref(j);
  }
  if (jb) jwtbundles_response__free_unpacked(jb, NULL);
  free(col.first);
  free(col.last);

  /* An SVID rotation does not change what a bundle stream shows: no
   * second message (the client gives up after 500 ms). */
  memset(&col, 0, sizeof col);
  col.after_first = rotate_e1;
  CHECK_ERR(cairn_grpc_client_stream(c, "/SpiffeWorkloadAPI/FetchJWTBundles",
                                     HDR, 1, "", 0, 500, 0, on_msg, &col, &r),
            CAIRN_ERR_TIMEOUT);
  CHECK_INT_EQ(col.n, 1);
  cairn_grpc_reply_cleanup(&r);
  free(col.first);
  free(col.last);
  on_loop(get_api_stats, &st);
  CHECK(st.stream_suppressed >= 1);

  /* FetchJWTSVID: validation, then one token per identity, minted
   * asynchronously once and then served from the cache. */
  jreq.audience = NULL;
  jreq.n_audience = 0;
  CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_STR_EQ(r.message, "audience must be specified");
  cairn_grpc_reply_cleanup(&r);
  E.mint_async = 1;
  jreq.audience = aud2;
  jreq.n_audience = 2;
  CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  jr = r.data ? jwtsvidresponse__unpack(NULL, r.len, r.data) : NULL;
  CHECK(jr && jr->n_svids == 2);
  if (jr && jr->n_svids == 2) {
    CHECK_STR_EQ(jr->svids[0]->spiffe_id, g_me);
    CHECK_STR_EQ(jr->svids[0]->hint, "one");
    snprintf(token, sizeof token, "%s", jr->svids[0]->svid);
  }
  if (jr) jwtsvidresponse__free_unpacked(jr, NULL);
  cairn_grpc_reply_cleanup(&r);
  CHECK_INT_EQ(E.mints, 2);
  jreq.spiffe_id = g_me;
  CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  jr = r.data ? jwtsvidresponse__unpack(NULL, r.len, r.data) : NULL;
  CHECK(jr && jr->n_svids == 1);
  if (jr && jr->n_svids == 1) CHECK_STR_EQ(jr->svids[0]->svid, token);
  if (jr) jwtsvidresponse__free_unpacked(jr, NULL);
  cairn_grpc_reply_cleanup(&r);
  CHECK_INT_EQ(E.mints, 2);
  /* Someone else's ID, an invalid ID, a failing mint. */
  jreq.spiffe_id = g_other;
  CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_PERMISSION_DENIED);
  CHECK_STR_EQ(r.message, "no identity issued");
  cairn_grpc_reply_cleanup(&r);
  jreq.spiffe_id = "spiffe://Bad.TD/x";
  CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  cairn_grpc_reply_cleanup(&r);
  jreq.spiffe_id = g_me;
  {
    char *bad_aud[] = {"ok", "\xc3\x28"};
    jreq.audience = bad_aud;
    jreq.n_audience = 2;
    CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 1, &r));
    CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
    CHECK_STR_EQ(r.message, "request strings must be valid UTF-8");
    cairn_grpc_reply_cleanup(&r);
  }
  jreq.audience = aud1;
  jreq.n_audience = 1;
  E.mint_fail = 1;
  CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_UNAVAILABLE);
  CHECK(strstr(r.message, "server says no") != NULL);
  cairn_grpc_reply_cleanup(&r);
  E.mint_fail = 0;
  E.mint_async = 0;  /* synchronous provider */
  CHECK_OK(unary(c, "FetchJWTSVID", &jreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  cairn_grpc_reply_cleanup(&r);

  /* ValidateJWTSVID. */
  vreq.audience = "svc-a";
  vreq.svid = token;
  CHECK_OK(unary(c, "ValidateJWTSVID", &vreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  vr = r.data ? validate_jwtsvidresponse__unpack(NULL, r.len, r.data) : NULL;
  CHECK(vr != NULL);
  if (vr) {
    int saw_aud = 0, saw_sub = 0;
    CHECK_STR_EQ(vr->spiffe_id, g_me);
    CHECK(vr->claims != NULL);
    for (i = 0; vr->claims && i < vr->claims->n_fields; i++) {
      Google__Protobuf__Struct__FieldsEntry *fe = vr->claims->fields[i];
      if (strcmp(fe->key, "aud") == 0) {
        saw_aud = fe->value->kind_case ==
                      GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE &&
                  fe->value->list_value->n_values == 2;
      } else if (strcmp(fe->key, "sub") == 0) {
        saw_sub = fe->value->kind_case ==
                      GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE &&
                  strcmp(fe->value->string_value, g_me) == 0;
      } else if (strcmp(fe->key, "exp") == 0) {
        CHECK_INT_EQ(fe->value->kind_case,
                     GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
      }
    }
    CHECK(saw_aud);
    CHECK(saw_sub);
    validate_jwtsvidresponse__free_unpacked(vr, NULL);
  }
  cairn_grpc_reply_cleanup(&r);
  vreq.audience = "svc-zzz";
  CHECK_OK(unary(c, "ValidateJWTSVID", &vreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  cairn_grpc_reply_cleanup(&r);
  vreq.audience = "";
  CHECK_OK(unary(c, "ValidateJWTSVID", &vreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_STR_EQ(r.message, "audience must be specified");
  cairn_grpc_reply_cleanup(&r);
  vreq.audience = "svc-a";
  vreq.svid = "";
  CHECK_OK(unary(c, "ValidateJWTSVID", &vreq.base, 1, &r));
  CHECK_STR_EQ(r.message, "svid must be specified");
  cairn_grpc_reply_cleanup(&r);
  CHECK_OK(cairn_grpc_client_unary(c, "/SpiffeWorkloadAPI/ValidateJWTSVID",
                                   HDR, 1, "\xff\xff", 2, TMO, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_STR_EQ(r.message, "malformed request");
  cairn_grpc_reply_cleanup(&r);

  /* Entitlement drops to zero mid-stream: PERMISSION_DENIED; and at the
   * start of a call. */
  memset(&col, 0, sizeof col);
  col.after_first = drop_my_entries;
  CHECK_OK(stream(c, "FetchX509SVID", 5, 1, &col, &r));
  CHECK_INT_EQ(col.n, 1);
  CHECK_INT_EQ(r.finished, 1);
  CHECK_INT_EQ(r.status, CAIRN_GRPC_PERMISSION_DENIED);
  CHECK_STR_EQ(r.message, "no identity issued");
  cairn_grpc_reply_cleanup(&r);
  free(col.first);
  free(col.last);
  memset(&col, 0, sizeof col);
  CHECK_OK(stream(c, "FetchJWTBundles", 1, 1, &col, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_PERMISSION_DENIED);
  cairn_grpc_reply_cleanup(&r);
  CHECK_OK(unary(c, "ValidateJWTSVID", &vreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);  /* empty svid */
  cairn_grpc_reply_cleanup(&r);
  vreq.svid = token;
  CHECK_OK(unary(c, "ValidateJWTSVID", &vreq.base, 1, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_PERMISSION_DENIED);
  cairn_grpc_reply_cleanup(&r);

  /* An entry without an SVID yet: the stream waits, then times out
   * (pending_ms = 400) with UNAVAILABLE... */
  on_loop(restore_my_entries, NULL);
  memset(&col, 0, sizeof col);
  CHECK_OK(stream(c, "FetchX509SVID", 1, 1, &col, &r));
  CHECK_INT_EQ(col.n, 0);
  CHECK_INT_EQ(r.status, CAIRN_GRPC_UNAVAILABLE);
  cairn_grpc_reply_cleanup(&r);
  /* ...but bundles are there already, and the SVID arrives later. */
  CHECK_OK(stream(c, "FetchX509Bundles", 1, 1, &col, &r));
  CHECK_INT_EQ(col.n, 1);
  cairn_grpc_reply_cleanup(&r);
  free(col.first);
  free(col.last);
  on_loop(give_e1, NULL);
  memset(&col, 0, sizeof col);
  CHECK_OK(stream(c, "FetchX509SVID", 1, 1, &col, &r));
  CHECK_INT_EQ(col.n, 1);
  cairn_grpc_reply_cleanup(&r);
  xr = col.last ? x509_svidresponse__unpack(NULL, col.last_len, col.last)
                : NULL;
  CHECK(xr && xr->n_svids == 1);
  if (xr) x509_svidresponse__free_unpacked(xr, NULL);
  free(col.first);
  free(col.last);

  /* Client-side stops reach the server as RST_STREAM: wait for them. */
  for (i = 0; i < 200; i++) {
    on_loop(get_api_stats, &st);
    if (st.streams == 0) break;
    usleep(10000);
  }
  CHECK(st.calls >= 25);
  CHECK_INT_EQ(st.bad_header, 5);
  CHECK_INT_EQ(st.unimplemented, 2);
  CHECK(st.denied >= 3);
  CHECK_INT_EQ(st.mints, 4);
  CHECK(st.jwt_cache_hits >= 1);
  CHECK_INT_EQ(st.streams, 0);
  CHECK_INT_EQ(st.pending, 0);
  CHECK_INT_EQ(st.mints_in_flight, 0);
  (void)xreq;
out:
  cairn_grpc_client_free(c);
  on_loop(teardown_api, NULL);
  pthread_join(E.thread, NULL);
  CHECK_INT_EQ(uv_loop_close(&E.loop), 0);
  uv_sem_destroy(&E.sem);
}

int main(void)
{
  uv_loop_init(&g_loop);
  fixtures();
  RUN(test_selectors);
  RUN(test_cache_entries);
  RUN(test_cache_match_svid);
  RUN(test_cache_subscribe);
  RUN(test_cache_jwt);
  RUN(test_cache_expiry);
  RUN(test_unix_self);
  RUN(test_unix_fake_proc);
  RUN(test_api);
  fixtures_free();
  CHECK_INT_EQ(uv_loop_close(&g_loop), 0);
  return test_done();
}
