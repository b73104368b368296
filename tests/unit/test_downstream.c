/* test_downstream.c - the upstream side of the downstream protocol, in
 * process (fx_authority of fixture.h, as in test_authority.c): a real
 * store (temp file) and CA manager (memory keys), the authority on
 * 127.0.0.1 with an ephemeral port, and net.h clients on the same libuv
 * loop. Covers who is a
 * downstream (entries marked downstream, expired ones, ordinary nodes),
 * POST /v1/downstream/ca (chain to the root, NameConstraints when scoped,
 * notAfter capped, the ttl option, bad CSRs, no active CA), POST
 * /v1/downstream/jwt-key (bundle, observers, idempotence, conflicts,
 * refused keys, a JWT-SVID of the downstream validating against the
 * upstream's bundle), the path scope on POST /v1/svids and /v1/jwt, and
 * GET /v1/federated with /v1/revision's fingerprint. */
#include "test.h"
#include "fixture.h"

#include "cairn/authority.h"
#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/net.h"
#include "cairn/store.h"
#include "cairn/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TD "example.org"
#define TD_ID "spiffe://example.org"
#define S_(x) ((char *)(x))
#define OUT_OF_SCOPE "is outside the downstream scope of this node"

/* The authority in process, its loop and its log (fixture.h). */
static struct fx_authority A;

static void call(struct cairn_net_client *c, enum cairn_net_method m,
                 const char *path, const uint8_t *body, size_t len,
                 struct fx_resp *r)
{
  fx_call(&A.loop, c, m, path, body, len, r, 30000);
}

/* Creates an entry parented to parent; returns its ID (free()). */
static char *make_entry(const char *spiffe_id, const char *parent,
                        const char *sel_value, int downstream,
                        const char *scope, int64_t expires_at)
{
  struct cairn_entry in = {.downstream = downstream,
                           .scope = (char *)scope,
                           .expires_at = expires_at};

  return fx_authority_entry(&A, in, spiffe_id, parent, sel_value);
}

/* ---- request bodies ------------------------------------------------- */

static void ds_ca_call(struct cairn_net_client *c, const uint8_t *csr,
                       size_t csr_len, struct fx_resp *r)
{
  struct cairn_msg_ds_ca_req m;
  uint8_t *body = NULL;
  size_t len = 0;

  memset(&m, 0, sizeof m);
  m.csr.data = (uint8_t *)csr;
  m.csr.len = csr_len;
  CHECK_OK(cairn_msg_ds_ca_req_encode(&m, &body, &len));
  call(c, CAIRN_NET_POST, "/v1/downstream/ca", body, len, r);
  free(body);
}

static void jwt_key_call(struct cairn_net_client *c, const char *kid,
                         const uint8_t *der, size_t der_len,
                         uint64_t expires_at, struct fx_resp *r)
{
  struct cairn_msg_ds_jwtkey_req m;
  uint8_t *body = NULL;
  size_t len = 0;

  memset(&m, 0, sizeof m);
  m.kid = (char *)kid;
  m.public_key.data = (uint8_t *)der;
  m.public_key.len = der_len;
  m.expires_at = expires_at;
  CHECK_OK(cairn_msg_ds_jwtkey_req_encode(&m, &body, &len));
  call(c, CAIRN_NET_POST, "/v1/downstream/jwt-key", body, len, r);
  free(body);
}

static void svids_call(struct cairn_net_client *c, char *const *entry_ids,
                       size_t n, struct cairn_msg_svids_resp *out,
                       struct fx_resp *r)
{
  struct cairn_msg_svids_req m;
  struct cairn_msg_csr_item items[8];
  struct cairn_key *k;
  uint8_t *csr = NULL, *body = NULL;
  size_t csr_len = 0, len = 0;

  memset(out, 0, sizeof *out);
  k = fx_csr_new(&csr, &csr_len);
  memset(items, 0, sizeof items);
  for (size_t i = 0; i < n && i < 8; i++) {
    items[i].entry_id = entry_ids[i];
    items[i].csr.data = csr;
    items[i].csr.len = csr_len;
  }
  memset(&m, 0, sizeof m);
  m.csrs = items;
  m.n_csrs = n;
  CHECK_OK(cairn_msg_svids_req_encode(&m, &body, &len));
  call(c, CAIRN_NET_POST, "/v1/svids", body, len, r);
  if (r->code == CAIRN_NET_CREATED)
    CHECK_OK(cairn_msg_svids_resp_decode(r->body, r->len, out));
  free(body);
  free(csr);
  cairn_key_free(k);
}

static void jwt_call(struct cairn_net_client *c, const char *entry_id,
                     struct fx_resp *r)
{
  struct cairn_msg_jwt_req m;
  char *aud[] = {"spiffe://" TD "/db"};
  uint8_t *body = NULL;
  size_t len = 0;

  memset(&m, 0, sizeof m);
  m.entry_id = (char *)entry_id;
  m.audience = aud;
  m.n_audience = 1;
  CHECK_OK(cairn_msg_jwt_req_encode(&m, &body, &len));
  call(c, CAIRN_NET_POST, "/v1/jwt", body, len, r);
  free(body);
}

/* Decodes a /v1/downstream/ca answer and checks everything that holds
 * for every downstream CA: the new CA for key first, verifying (as a CA
 * at position 0) to the returned roots and to the CA manager's bundle
 * with the trust domain ID, notAfter capped at the upstream CA's, roots
 * and bundle equal to the CA manager's. Returns the CA list (free). */
static struct cairn_cert_list *check_ds_ca(const struct fx_resp *r,
                                           const struct cairn_key *key)
{
  struct cairn_msg_ds_ca_resp m;
  struct cairn_cert_list *chain = NULL, *roots = NULL;
  struct cairn_bundle *want = NULL, *got = NULL;
  struct cairn_ca_state st;
  struct cairn_id id;
  const struct cairn_cert *ca;

  CHECK_INT_EQ(r->code, CAIRN_NET_CREATED);
  if (r->code != CAIRN_NET_CREATED) return NULL;
  CHECK_OK(cairn_msg_ds_ca_resp_decode(r->body, r->len, &m));
  chain = fx_chain_list(&m.chain);
  roots = fx_chain_list(&m.roots);
  CHECK(cairn_cert_list_count(chain) >= 1);
  ca = cairn_cert_list_at(chain, 0);
  CHECK(ca != NULL);
  if (!ca) goto out;
  CHECK(cairn_cert_is_ca(ca));
  CHECK_INT_EQ(cairn_cert_matches_key(ca, key), 1);
  /* Without the CA-leaf flag a CA at position 0 is refused. */
  CHECK(cairn_cert_verify(chain, roots, TD, 0, 0, NULL) != CAIRN_OK);
  CHECK_OK(cairn_cert_verify(chain, roots, TD, 0, CAIRN_VERIFY_CA_LEAF,
                             &id));
  CHECK_STR_EQ(id.str, TD_ID);
  CHECK_OK(cairn_ca_bundle(A.ca, &want));
  CHECK_OK(cairn_cert_verify(chain, cairn_bundle_x509(want), TD, 0,
                             CAIRN_VERIFY_CA_LEAF, NULL));
  CHECK_INT_EQ(cairn_cert_list_count(roots),
               cairn_cert_list_count(cairn_bundle_x509(want)));
  CHECK_OK(cairn_bundle_parse_json(TD, m.bundle, strlen(m.bundle), 0, &got));
  CHECK(got && want && cairn_bundle_content_equal(got, want));
  cairn_ca_get_status(A.ca, &st);
  CHECK(cairn_cert_not_after(ca) <= (time_t)st.x509_current.not_after);
  CHECK(cairn_cert_not_after(ca) > cairn_now());
out:
  cairn_bundle_free(got);
  cairn_bundle_free(want);
  cairn_cert_list_free(roots);
  cairn_msg_ds_ca_resp_clear(&m);
  return chain;
}

/* The new CA works: it issues a leaf that verifies to the upstream's
 * roots with the intermediate in the chain. */
static void check_issues(const struct cairn_cert_list *chain,
                         const struct cairn_key *key, const char *leaf_id)
{
  struct cairn_cert_template t;
  struct cairn_key *lk = NULL;
  struct cairn_cert *leaf = NULL;
  struct cairn_cert_list *l = NULL;
  struct cairn_bundle *b = NULL;
  struct cairn_id id;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &lk));
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_LEAF;
  t.spiffe_id = leaf_id;
  t.ttl = 300;
  t.path_len = -1;
  CHECK_OK(cairn_cert_issue(&t, lk, key, cairn_cert_list_at(chain, 0),
                            &leaf));
  CHECK_OK(cairn_cert_list_new(&l));
  CHECK_OK(cairn_cert_list_push(l, leaf));
  for (size_t i = 0; i < cairn_cert_list_count(chain); i++)
    CHECK_OK(cairn_cert_list_push_copy(l, cairn_cert_list_at(chain, i)));
  CHECK_OK(cairn_ca_bundle(A.ca, &b));
  CHECK_OK(cairn_cert_verify(l, cairn_bundle_x509(b), TD, 0, 0, &id));
  CHECK_STR_EQ(id.str, leaf_id);
  cairn_bundle_free(b);
  cairn_cert_list_free(l);
  cairn_key_free(lk);
}

/* ======================================================================
 * Tests
 * ====================================================================== */

/* Ordinary nodes, and nodes whose only downstream entry expired. */
static void test_not_downstream(void)
{
  struct fx_creds node, old;
  struct cairn_net_client *c;
  struct cairn_key *k, *jk = NULL;
  struct fx_resp r = {0};
  uint8_t *csr = NULL, *spki = NULL;
  size_t csr_len = 0, spki_len = 0;
  char want[512], *e1, *e2, *log;
  struct cairn_authority_stats s0, s1;

  fx_authority_node(&A, "tok-plain", &node);
  /* A workload entry is not a downstream entry. */
  e1 = make_entry(TD_ID "/plain/web", node.id, "uid:1", 0, NULL, 0);
  k = fx_csr_new(&csr, &csr_len);
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &jk));
  CHECK_OK(cairn_key_export_public_der(jk, &spki, &spki_len));
  cairn_authority_get_stats(A.auth, &s0);

  c = fx_authority_client(&A, &node);
  ds_ca_call(c, csr, csr_len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  snprintf(want, sizeof want, "node %s has no downstream entry", node.id);
  CHECK_STR_EQ(fx_resp_text(&r), want);
  jwt_key_call(c, "plain-kid", spki, spki_len,
               (uint64_t)cairn_now() + 3600, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), want);
  /* Nothing was published. */
  {
    struct cairn_bundle *b = NULL;
    CHECK_OK(cairn_ca_bundle(A.ca, &b));
    CHECK(cairn_bundle_jwt_find(b, "plain-kid") == NULL);
    cairn_bundle_free(b);
  }
  fx_client_free(&A.loop, c);
  cairn_authority_get_stats(A.auth, &s1);
  CHECK_INT_EQ(s1.refused, s0.refused + 2);
  CHECK_INT_EQ(s1.downstream_cas, s0.downstream_cas);
  /* Refusals are logged with the node and the reason. */
  log = fx_authority_log(&A);
  CHECK(strstr(log, "POST /v1/downstream/ca from ") != NULL);
  CHECK(strstr(log, "POST /v1/downstream/jwt-key from ") != NULL);
  CHECK(strstr(log, want) != NULL);
  free(log);

  /* A downstream entry that expired grants nothing. */
  fx_authority_node(&A, "tok-expired-ds", &old);
  e2 = make_entry(TD_ID "/old/edge", old.id, "uid:2", 1, NULL,
                  (int64_t)cairn_now() - 5);
  c = fx_authority_client(&A, &old);
  ds_ca_call(c, csr, csr_len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  snprintf(want, sizeof want, "node %s has no unexpired downstream entry",
           old.id);
  CHECK_STR_EQ(fx_resp_text(&r), want);
  fx_client_free(&A.loop, c);

  free(e1);
  free(e2);
  free(csr);
  free(spki);
  cairn_key_free(k);
  cairn_key_free(jk);
  fx_creds_free(&node);
  fx_creds_free(&old);
  fx_resp_clear(&r);
}

static void test_ds_ca_unscoped(void)
{
  struct fx_creds node;
  struct cairn_net_client *c;
  struct cairn_key *k;
  struct cairn_cert_list *chain;
  struct cairn_authority_stats s0, s1;
  struct fx_resp r = {0};
  uint8_t *csr = NULL;
  size_t csr_len = 0;
  char *e;

  fx_authority_node(&A, "tok-ds-free", &node);
  e = make_entry(TD_ID "/edge/free", node.id, "uid:10", 1, NULL, 0);
  k = fx_csr_new(&csr, &csr_len);
  cairn_authority_get_stats(A.auth, &s0);
  c = fx_authority_client(&A, &node);
  ds_ca_call(c, csr, csr_len, &r);
  chain = check_ds_ca(&r, k);
  if (chain) {
    const struct cairn_cert *ca = cairn_cert_list_at(chain, 0);
    struct cairn_ca_state st;
    /* No scope: no NameConstraints. */
    CHECK(cairn_cert_permitted_td(ca) == NULL);
    /* The default lifetime is the active CA's (24h), so it is capped at
     * the active CA's notAfter. */
    cairn_ca_get_status(A.ca, &st);
    CHECK_INT_EQ(cairn_cert_not_after(ca), st.x509_current.not_after);
    /* A self-signed upstream: the chain is just the new CA. */
    CHECK_INT_EQ(cairn_cert_list_count(chain), 1);
    check_issues(chain, k, TD_ID "/anywhere/web");
  }
  cairn_cert_list_free(chain);
  cairn_authority_get_stats(A.auth, &s1);
  CHECK_INT_EQ(s1.downstream_cas, s0.downstream_cas + 1);
  fx_client_free(&A.loop, c);
  free(e);
  free(csr);
  cairn_key_free(k);
  fx_creds_free(&node);
  fx_resp_clear(&r);
}

static void test_ds_ca_scoped(void)
{
  struct fx_creds node;
  struct cairn_net_client *c;
  struct cairn_key *k;
  struct cairn_cert_list *chain;
  struct fx_resp r = {0};
  uint8_t *csr = NULL;
  size_t csr_len = 0;
  char *e;

  fx_authority_node(&A, "tok-ds-scoped", &node);
  e = make_entry(TD_ID "/site/a/edge", node.id, "uid:11", 1, "/site/a", 0);
  k = fx_csr_new(&csr, &csr_len);
  c = fx_authority_client(&A, &node);
  ds_ca_call(c, csr, csr_len, &r);
  chain = check_ds_ca(&r, k);
  if (chain) {
    const struct cairn_cert *ca = cairn_cert_list_at(chain, 0);
    CHECK(cairn_cert_permitted_td(ca) != NULL);
    CHECK_STR_EQ(cairn_cert_permitted_td(ca), TD);
    check_issues(chain, k, TD_ID "/site/a/web");
  }
  cairn_cert_list_free(chain);
  fx_client_free(&A.loop, c);
  free(e);
  free(csr);
  cairn_key_free(k);
  fx_creds_free(&node);
  fx_resp_clear(&r);
}

static void test_ds_ca_refusals(void)
{
  struct fx_creds node;
  struct cairn_net_client *c;
  struct cairn_key *k, *pk = NULL;
  struct fx_resp r = {0};
  uint8_t *csr = NULL;
  size_t csr_len = 0;
  char want[512], *e;
  static const uint8_t garbage[] = {0xff, 0x13, 0x37, 0x00, 0x42};
  struct cairn_msg_ds_ca_req m;

  fx_authority_node(&A, "tok-ds-refuse", &node);
  e = make_entry(TD_ID "/edge/refuse", node.id, "uid:12", 1, NULL, 0);
  c = fx_authority_client(&A, &node);
  /* A CSR that is not one. */
  ds_ca_call(c, (const uint8_t *)"notacsr", 7, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strncmp(fx_resp_text(&r), "csr: ", 5) == 0);
  /* A CSR whose signature does not verify (one byte of it flipped). */
  k = fx_csr_new(&csr, &csr_len);
  csr[csr_len - 3] ^= 0x01;
  ds_ca_call(c, csr, csr_len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strncmp(fx_resp_text(&r), "csr: ", 5) == 0);
  csr[csr_len - 3] ^= 0x01;
  /* Bodies that are not the message: the decoder's detail. */
  CHECK_ERR(cairn_msg_ds_ca_req_decode(garbage, sizeof garbage, &m),
            CAIRN_ERR_PARSE);
  snprintf(want, sizeof want, "%s", cairn_errdetail());
  call(c, CAIRN_NET_POST, "/v1/downstream/ca", garbage, sizeof garbage, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK_STR_EQ(fx_resp_text(&r), want);
  call(c, CAIRN_NET_POST, "/v1/downstream/ca", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  call(c, CAIRN_NET_GET, "/v1/downstream/ca", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_METHOD_NOT_ALLOWED);

  /* No active CA (the clock past the CA's notAfter, on an established
   * session): 5.03. */
  {
    struct cairn_ca_state st;
    cairn_ca_get_status(A.ca, &st);
    cairn_time_set_fake((time_t)st.x509_current.not_after + 1);
    ds_ca_call(c, csr, csr_len, &r);
    cairn_time_set_fake(0);
    CHECK_INT_EQ(r.code, CAIRN_NET_UNAVAILABLE);
    CHECK_STR_EQ(fx_resp_text(&r), "no active X.509 CA");
  }
  /* Still serving: the good CSR now works. */
  ds_ca_call(c, csr, csr_len, &r);
  {
    struct cairn_cert_list *chain = check_ds_ca(&r, k);
    cairn_cert_list_free(chain);
  }
  /* A P-384 key is fine too. */
  free(csr);
  csr = NULL;
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P384, &pk));
  CHECK_OK(cairn_csr_create(pk, &csr, &csr_len));
  ds_ca_call(c, csr, csr_len, &r);
  {
    struct cairn_cert_list *chain = check_ds_ca(&r, pk);
    cairn_cert_list_free(chain);
  }
  fx_client_free(&A.loop, c);
  free(e);
  free(csr);
  cairn_key_free(k);
  cairn_key_free(pk);
  fx_creds_free(&node);
  fx_resp_clear(&r);
}

/* opts.downstream_ca_ttl: a second authority on the same store and CA. */
static void test_ds_ca_ttl(void)
{
  struct cairn_authority_opts o;
  struct cairn_authority *a = NULL, *keep = A.auth;
  struct fx_creds node;
  struct cairn_net_client *c;
  struct cairn_key *k;
  struct fx_resp r = {0};
  uint8_t *csr = NULL;
  size_t csr_len = 0;
  char *e;

  cairn_authority_opts_init(&o);
  o.bind_addr = "127.0.0.1";
  o.downstream_ca_ttl = -1;
  CHECK_ERR(cairn_authority_new(&A.loop, A.st, A.ca, &o, &a),
            CAIRN_ERR_INVAL);
  CHECK(strstr(cairn_errdetail(), "downstream_ca_ttl") != NULL);
  fx_loop_for(&A.loop, 5);
  o.downstream_ca_ttl = 600;
  CHECK_OK(cairn_authority_new(&A.loop, A.st, A.ca, &o, &a));
  if (!a) return;
  A.auth = a;
  fx_authority_node(&A, "tok-ds-ttl", &node);
  e = make_entry(TD_ID "/edge/ttl", node.id, "uid:13", 1, NULL, 0);
  k = fx_csr_new(&csr, &csr_len);
  c = fx_authority_client(&A, &node);
  ds_ca_call(c, csr, csr_len, &r);
  {
    struct cairn_cert_list *chain = check_ds_ca(&r, k);
    if (chain) {
      time_t na = cairn_cert_not_after(cairn_cert_list_at(chain, 0));
      CHECK(na > cairn_now() + 500 && na <= cairn_now() + 600);
    }
    cairn_cert_list_free(chain);
  }
  fx_client_free(&A.loop, c);
  A.auth = keep;
  cairn_authority_free(a);
  fx_loop_for(&A.loop, 5);
  free(e);
  free(csr);
  cairn_key_free(k);
  fx_creds_free(&node);
  fx_resp_clear(&r);
}

/* An Ed25519 SubjectPublicKeyInfo (RFC 8410 test key). */
static const uint8_t g_ed25519_spki[] = {
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
  0x19, 0xbf, 0x44, 0x09, 0x69, 0x84, 0xcd, 0xfe, 0x85, 0x41, 0xba, 0xc1,
  0x67, 0xdc, 0x3b, 0x96, 0xc8, 0x50, 0x86, 0xaa, 0x30, 0xb6, 0xb6, 0xcb,
  0x0c, 0x5c, 0x38, 0xad, 0x70, 0x31, 0x66, 0xe1};

static void test_jwt_key(void)
{
  struct fx_creds node, watcher;
  struct cairn_net_client *c, *w;
  struct cairn_net_observation *o1 = NULL, *o2 = NULL;
  struct cairn_key *jk = NULL, *jk2 = NULL, *jk384 = NULL;
  struct cairn_msg_ds_jwtkey_resp m;
  struct cairn_msg_bundle_resp bm;
  struct cairn_msg_revision_resp rv;
  struct cairn_bundle *b = NULL;
  struct cairn_authority_stats s0, s1;
  struct fx_resp r = {0}, ob = {0}, orv = {0};
  uint8_t *spki = NULL, *spki2 = NULL, *spki384 = NULL, *priv = NULL;
  size_t spki_len = 0, spki2_len = 0, spki384_len = 0, priv_len = 0;
  uint64_t seq0, exp = (uint64_t)cairn_now() + 3600;
  char *e;

  fx_authority_node(&A, "tok-ds-jwt", &node);
  fx_authority_node(&A, "tok-ds-watch", &watcher);
  e = make_entry(TD_ID "/edge/jwt", node.id, "uid:14", 1, "/site/j", 0);
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &jk));
  CHECK_OK(cairn_key_export_public_der(jk, &spki, &spki_len));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &jk2));
  CHECK_OK(cairn_key_export_public_der(jk2, &spki2, &spki2_len));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P384, &jk384));
  CHECK_OK(cairn_key_export_public_der(jk384, &spki384, &spki384_len));
  CHECK_OK(cairn_key_export_private_der(jk2, &priv, &priv_len));

  /* An ordinary node observes the bundle and the revisions. */
  CHECK_OK(cairn_authority_bundle_changed(A.auth));
  CHECK_OK(cairn_authority_entries_changed(A.auth));
  w = fx_authority_client(&A, &watcher);
  CHECK_OK(cairn_net_client_observe(w, "/v1/bundle", fx_on_resp, &ob, &o1));
  CHECK_OK(cairn_net_client_observe(w, "/v1/revision", fx_on_resp, &orv, &o2));
  CHECK(fx_loop_until_count(&A.loop, &ob.done, 1, 10000));
  CHECK(fx_loop_until_count(&A.loop, &orv.done, 1, 10000));
  CHECK_OK(cairn_msg_bundle_resp_decode(ob.body, ob.len, &bm));
  seq0 = bm.sequence;
  cairn_msg_bundle_resp_clear(&bm);

  cairn_authority_get_stats(A.auth, &s0);
  c = fx_authority_client(&A, &node);
  jwt_key_call(c, "edge-kid-1", spki, spki_len, exp, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_OK(cairn_msg_ds_jwtkey_resp_decode(r.body, r.len, &m));
  CHECK_OK(cairn_bundle_parse_json(TD, m.bundle, strlen(m.bundle), 0, &b));
  if (b) {
    const struct cairn_key *got = cairn_bundle_jwt_find(b, "edge-kid-1");
    CHECK(got != NULL);
    if (got) CHECK_INT_EQ(cairn_key_public_equal(got, jk), 1);
    CHECK_INT_EQ(cairn_bundle_sequence(b), seq0 + 1);
  }
  cairn_bundle_free(b);
  b = NULL;
  cairn_msg_ds_jwtkey_resp_clear(&m);
  cairn_authority_get_stats(A.auth, &s1);
  CHECK_INT_EQ(s1.jwt_keys, s0.jwt_keys + 1);
  CHECK_INT_EQ(s1.bundle_sequence, seq0 + 1);

  /* Both observers hear about it (no poll involved: the handler
   * notifies). */
  CHECK(fx_loop_until_count(&A.loop, &ob.done, 2, 10000));
  CHECK(fx_loop_until_count(&A.loop, &orv.done, 2, 10000));
  CHECK_OK(cairn_msg_bundle_resp_decode(ob.body, ob.len, &bm));
  CHECK_INT_EQ(bm.sequence, seq0 + 1);
  CHECK(strstr(bm.bundle, "edge-kid-1") != NULL);
  cairn_msg_bundle_resp_clear(&bm);
  CHECK_OK(cairn_msg_revision_resp_decode(orv.body, orv.len, &rv));
  CHECK_INT_EQ(rv.bundle, seq0 + 1);

  /* A plain GET /v1/bundle has it too. */
  call(w, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  CHECK_OK(cairn_msg_bundle_resp_decode(r.body, r.len, &bm));
  CHECK(strstr(bm.bundle, "edge-kid-1") != NULL);
  cairn_msg_bundle_resp_clear(&bm);

  /* A JWT-SVID the downstream signs with that key validates against the
   * upstream's bundle. */
  {
    char *tok = NULL;
    const char *aud[] = {"svc"};
    struct cairn_jwt_claims *cl = NULL;
    time_t now = cairn_now();
    CHECK_OK(cairn_jwt_sign(jk, "edge-kid-1", TD_ID "/site/j/web", aud, 1,
                            now, now + 60, &tok));
    CHECK_OK(cairn_ca_bundle(A.ca, &b));
    CHECK_OK(cairn_jwt_validate(tok, (const struct cairn_bundle *const *)&b,
                                1, "svc", 0, &cl));
    if (cl) CHECK_STR_EQ(cl->sub.str, TD_ID "/site/j/web");
    cairn_jwt_claims_free(cl);
    cairn_bundle_free(b);
    b = NULL;
    free(tok);
  }

  /* The same key again: 2.01, nothing changes. */
  jwt_key_call(c, "edge-kid-1", spki, spki_len, exp, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_INT_EQ(cairn_ca_bundle_sequence(A.ca), seq0 + 1);
  /* The same kid with another key: 4.09. */
  jwt_key_call(c, "edge-kid-1", spki2, spki2_len, exp, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONFLICT);
  CHECK(strstr(fx_resp_text(&r), "edge-kid-1") != NULL);
  /* The kid of the upstream's own JWT key: 4.09 as well. */
  {
    struct cairn_ca_state st;
    cairn_ca_get_status(A.ca, &st);
    jwt_key_call(c, st.jwt_current.id, spki2, spki2_len, exp, &r);
    CHECK_INT_EQ(r.code, CAIRN_NET_CONFLICT);
  }
  /* Expired, or expiring now. */
  jwt_key_call(c, "edge-kid-old", spki2, spki2_len,
               (uint64_t)cairn_now() - 10, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strstr(fx_resp_text(&r), "expires_at") != NULL);
  jwt_key_call(c, "edge-kid-old", spki2, spki2_len, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  /* Keys that are not EC P-256/P-384 public keys. */
  jwt_key_call(c, "edge-kid-ed", g_ed25519_spki, sizeof g_ed25519_spki, exp,
               &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strncmp(fx_resp_text(&r), "public_key: ", 12) == 0);
  jwt_key_call(c, "edge-kid-junk", (const uint8_t *)"junk", 4, exp, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strncmp(fx_resp_text(&r), "public_key: ", 12) == 0);
  jwt_key_call(c, "edge-kid-priv", priv, priv_len, exp, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strstr(fx_resp_text(&r), "not a private key") != NULL);
  /* A kid the bundle cannot carry (not printable ASCII). */
  jwt_key_call(c, "edge kid", spki2, spki2_len, exp, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  /* None of those reached the bundle. */
  CHECK_INT_EQ(cairn_ca_bundle_sequence(A.ca), seq0 + 1);
  /* P-384 is accepted. */
  jwt_key_call(c, "edge-kid-384", spki384, spki384_len, exp, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_INT_EQ(cairn_ca_bundle_sequence(A.ca), seq0 + 2);
  CHECK(fx_loop_until_count(&A.loop, &ob.done, 3, 10000));
  CHECK_OK(cairn_msg_bundle_resp_decode(ob.body, ob.len, &bm));
  CHECK_INT_EQ(bm.sequence, seq0 + 2);
  cairn_msg_bundle_resp_clear(&bm);

  fx_client_free(&A.loop, c);
  fx_client_free(&A.loop, w);
  free(e);
  free(spki);
  free(spki2);
  free(spki384);
  cairn_freezero(priv, priv_len);
  cairn_key_free(jk);
  cairn_key_free(jk2);
  cairn_key_free(jk384);
  fx_creds_free(&node);
  fx_creds_free(&watcher);
  fx_resp_clear(&r);
  fx_resp_clear(&ob);
  fx_resp_clear(&orv);
}

/* The path scope on what the upstream mints for a downstream node. */
static void test_scope(void)
{
  struct fx_creds node, star, multi, plain;
  struct cairn_net_client *c;
  struct cairn_msg_svids_resp m;
  struct fx_resp r = {0};
  char *ids[6], *ds, *ds2, *ds3, *ds4, *p1, *s_self, *s_in, *m_a, *m_c, *m_x;
  char want[512], *log;

  /* "/site/a": the path itself and everything under it. */
  fx_authority_node(&A, "tok-scope", &node);
  ds = make_entry(TD_ID "/site/a/edge", node.id, "uid:40", 1, "/site/a", 0);
  ids[0] = make_entry(TD_ID "/site/a", node.id, "uid:41", 0, NULL, 0);
  ids[1] = make_entry(TD_ID "/site/a/web", node.id, "uid:42", 0, NULL, 0);
  ids[2] = make_entry(TD_ID "/site/b/web", node.id, "uid:43", 0, NULL, 0);
  ids[3] = make_entry(TD_ID "/site/ab", node.id, "uid:44", 0, NULL, 0);
  ids[4] = make_entry(TD_ID "/site", node.id, "uid:45", 0, NULL, 0);
  c = fx_authority_client(&A, &node);
  svids_call(c, ids, 5, &m, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_INT_EQ(m.n_svids, 5);
  if (m.n_svids == 5) {
    CHECK(m.svids[0].error == NULL && m.svids[0].svid.n >= 1);
    CHECK(m.svids[1].error == NULL && m.svids[1].svid.n >= 1);
    for (size_t i = 2; i < 5; i++) {
      snprintf(want, sizeof want, "entry %s " OUT_OF_SCOPE, ids[i]);
      CHECK_STR_EQ(m.svids[i].error, want);
      CHECK_INT_EQ(m.svids[i].svid.n, 0);
    }
  }
  cairn_msg_svids_resp_clear(&m);
  jwt_call(c, ids[1], &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  jwt_call(c, ids[2], &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  snprintf(want, sizeof want, "entry %s " OUT_OF_SCOPE, ids[2]);
  CHECK_STR_EQ(fx_resp_text(&r), want);
  fx_client_free(&A.loop, c);
  log = fx_authority_log(&A);
  CHECK(strstr(log, "refused outside the node's downstream scope") != NULL);
  CHECK(strstr(log, want) != NULL);
  free(log);

  /* "/site/s/ *" (no space): strictly below; the path itself is out. */
  fx_authority_node(&A, "tok-scope-star", &star);
  ds2 = make_entry(TD_ID "/site/s/edge", star.id, "uid:50", 1, "/site/s/*",
                   0);
  s_self = make_entry(TD_ID "/site/s", star.id, "uid:51", 0, NULL, 0);
  s_in = make_entry(TD_ID "/site/s/x/y", star.id, "uid:52", 0, NULL, 0);
  c = fx_authority_client(&A, &star);
  ids[5] = s_self;
  svids_call(c, &ids[5], 1, &m, &r);
  CHECK_INT_EQ(m.n_svids, 1);
  if (m.n_svids == 1)
    CHECK(m.svids[0].error && strstr(m.svids[0].error, OUT_OF_SCOPE));
  cairn_msg_svids_resp_clear(&m);
  jwt_call(c, s_self, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  jwt_call(c, s_in, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  fx_client_free(&A.loop, c);

  /* Two scoped downstream entries: either scope will do. */
  fx_authority_node(&A, "tok-scope-multi", &multi);
  ds3 = make_entry(TD_ID "/site/m/edge", multi.id, "uid:60", 1, "/site/m",
                   0);
  ds4 = make_entry(TD_ID "/site/n/edge", multi.id, "uid:61", 1, "/site/n/*",
                   0);
  m_a = make_entry(TD_ID "/site/m/web", multi.id, "uid:62", 0, NULL, 0);
  m_c = make_entry(TD_ID "/site/n/web", multi.id, "uid:63", 0, NULL, 0);
  m_x = make_entry(TD_ID "/site/m2", multi.id, "uid:64", 0, NULL, 0);
  c = fx_authority_client(&A, &multi);
  jwt_call(c, m_a, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  jwt_call(c, m_c, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  jwt_call(c, m_x, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  fx_client_free(&A.loop, c);

  /* An ordinary node is not limited by anyone's scope. */
  fx_authority_node(&A, "tok-scope-plain", &plain);
  p1 = make_entry(TD_ID "/site/b/web", plain.id, "uid:70", 0, NULL, 0);
  c = fx_authority_client(&A, &plain);
  jwt_call(c, p1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  svids_call(c, &p1, 1, &m, &r);
  CHECK_INT_EQ(m.n_svids, 1);
  if (m.n_svids == 1) CHECK(m.svids[0].error == NULL);
  cairn_msg_svids_resp_clear(&m);
  fx_client_free(&A.loop, c);

  /* The scope outlives its entry's expiry: an expired scoped downstream
   * entry still limits the node (and no longer makes it a downstream). */
  {
    struct cairn_entry *e = NULL;
    CHECK_OK(cairn_store_entry_get(A.st, ds, &e));
    if (e) {
      e->expires_at = (int64_t)cairn_now() - 1;
      e->revision = 0;
      CHECK_OK(cairn_store_entry_update(A.st, e, NULL));
    }
    cairn_entry_free(e);
    c = fx_authority_client(&A, &node);
    jwt_call(c, ids[2], &r);
    CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
    CHECK(strstr(fx_resp_text(&r), OUT_OF_SCOPE) != NULL);
    jwt_call(c, ids[1], &r);
    CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
    fx_client_free(&A.loop, c);
  }

  for (size_t i = 0; i < 5; i++) free(ids[i]);
  free(ds);
  free(ds2);
  free(ds3);
  free(ds4);
  free(p1);
  free(s_self);
  free(s_in);
  free(m_a);
  free(m_c);
  free(m_x);
  fx_creds_free(&node);
  fx_creds_free(&star);
  fx_creds_free(&multi);
  fx_creds_free(&plain);
  fx_resp_clear(&r);
}

/* GET /v1/federated: a node gets the bundles its entries federate with
 * (sorted, each once, not its own trust domain, none it cannot use); a
 * downstream gets every one; /v1/revision's fingerprint moves with them. */
static void fed_call(struct cairn_net_client *c,
                     struct cairn_msg_federated_resp *m)
{
  struct fx_resp r = {0};

  memset(m, 0, sizeof *m);
  call(c, CAIRN_NET_GET, "/v1/federated", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  if (r.code == CAIRN_NET_CONTENT)
    CHECK_OK(cairn_msg_federated_resp_decode(r.body, r.len, m));
  fx_resp_clear(&r);
}

static uint64_t fed_fingerprint(struct cairn_net_client *c)
{
  struct cairn_msg_revision_resp m;
  struct fx_resp r = {0};
  uint64_t fp = 0;

  call(c, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  if (r.code == CAIRN_NET_CONTENT &&
      cairn_msg_revision_resp_decode(r.body, r.len, &m) == CAIRN_OK)
    fp = m.federated;
  fx_resp_clear(&r);
  return fp;
}

static void test_federated(void)
{
  static const char j[] = "{\"keys\":[],\"spiffe_sequence\":1}";
  char *f2[] = {S_("fed2.example")}, *f12[] = {S_("fed2.example"),
                                               S_("fed1.example"),
                                               S_(TD)};
  struct fx_creds node, lone, ds;
  struct cairn_net_client *c;
  struct cairn_msg_federated_resp m;
  char *e[4];
  uint64_t fp0, fp1, fp2;

  fx_authority_node(&A, "tok-fed", &node);
  fx_authority_node(&A, "tok-fed-lone", &lone);
  fx_authority_node(&A, "tok-fed-ds", &ds);
  c = fx_authority_client(&A, &node);
  fp0 = fed_fingerprint(c);
  CHECK_OK(cairn_store_bundle_put(A.st, "fed1.example", j, strlen(j),
                                  CAIRN_STORE_SEQ_NONE, 1));
  CHECK_OK(cairn_store_bundle_put(A.st, "fed2.example", j, strlen(j),
                                  CAIRN_STORE_SEQ_NONE, 5));
  CHECK_OK(cairn_store_bundle_put(A.st, "fed3.example", j, strlen(j),
                                  CAIRN_STORE_SEQ_NONE, 1));
  fp1 = fed_fingerprint(c);
  CHECK(fp1 != fp0 && fp1 != 0);

  e[0] = fx_authority_entry(&A, (struct cairn_entry){.federates_with = f2,
                                                      .n_federates_with = 1},
                            TD_ID "/fed/a", node.id, "uid:90");
  e[1] = fx_authority_entry(&A, (struct cairn_entry){.federates_with = f12,
                                                      .n_federates_with = 3},
                            TD_ID "/fed/b", node.id, "uid:91");
  e[2] = make_entry(TD_ID "/fed/lone", lone.id, "uid:92", 0, NULL, 0);
  e[3] = make_entry(TD_ID "/fed/edge", ds.id, "uid:93", 1, NULL, 0);

  fed_call(c, &m);
  CHECK_INT_EQ(m.n_bundles, 2);
  if (m.n_bundles == 2) {
    CHECK_STR_EQ(m.bundles[0].trust_domain, "fed1.example");
    CHECK_INT_EQ(m.bundles[0].sequence, 1);
    CHECK_STR_EQ(m.bundles[1].trust_domain, "fed2.example");
    CHECK_INT_EQ(m.bundles[1].sequence, 5);
    CHECK_STR_EQ(m.bundles[1].bundle, j);
  }
  cairn_msg_federated_resp_clear(&m);
  fx_client_free(&A.loop, c);

  c = fx_authority_client(&A, &lone);
  fed_call(c, &m);
  CHECK_INT_EQ(m.n_bundles, 0);
  cairn_msg_federated_resp_clear(&m);
  fx_client_free(&A.loop, c);

  c = fx_authority_client(&A, &ds);
  fed_call(c, &m);
  CHECK_INT_EQ(m.n_bundles, 3);
  if (m.n_bundles == 3)
    CHECK_STR_EQ(m.bundles[2].trust_domain, "fed3.example");
  cairn_msg_federated_resp_clear(&m);
  /* A new sequence, then a deletion: the fingerprint moves each time. */
  CHECK_OK(cairn_store_bundle_put(A.st, "fed3.example", j, strlen(j), 1, 2));
  fp2 = fed_fingerprint(c);
  CHECK(fp2 != fp1 && fp2 != 0);
  CHECK_OK(cairn_store_bundle_delete(A.st, "fed3.example"));
  CHECK(fed_fingerprint(c) != fp2);
  fed_call(c, &m);
  CHECK_INT_EQ(m.n_bundles, 2);
  cairn_msg_federated_resp_clear(&m);
  fx_client_free(&A.loop, c);

  CHECK_OK(cairn_store_bundle_delete(A.st, "fed1.example"));
  CHECK_OK(cairn_store_bundle_delete(A.st, "fed2.example"));
  for (size_t i = 0; i < 4; i++) free(e[i]);
  fx_creds_free(&node);
  fx_creds_free(&lone);
  fx_creds_free(&ds);
}

int main(void)
{
  /* A long poll: the tests see what the handlers do themselves. */
  if (fx_authority_start(&A, "downstream.db", TD, 60000)) return test_done();

  RUN(test_not_downstream);
  RUN(test_ds_ca_unscoped);
  RUN(test_ds_ca_scoped);
  RUN(test_ds_ca_refusals);
  RUN(test_ds_ca_ttl);
  RUN(test_jwt_key);
  RUN(test_scope);
  RUN(test_federated);

  fx_authority_stop(&A);
  return test_done();
}
