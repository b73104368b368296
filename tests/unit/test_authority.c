/* test_authority.c - the tier protocol's server side, in process: a real
 * store (temp file) and CA manager (memory keys), the authority on
 * 127.0.0.1 with an ephemeral port, and net.h clients on the same libuv
 * loop: bootstrap attestation with join tokens, renewal, eviction and
 * bans, Observe on /v1/bundle and /v1/revision, entries with aliases and
 * deltas, SVID batches, JWT-SVIDs, the server SVID's rotation, and every
 * refusal followed by a request that still succeeds. */
#include "test.h"
#include "fixture.h"

#include "cairn/authority.h"
#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
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
#define SERVER_ID "spiffe://example.org/spire/server"
#define AGENT_PREFIX "spiffe://example.org/spire/agent/join_token/"
#define MSG_UNKNOWN "join token does not exist or has already been used"

/* The authority in process, its loop and its log (fixture.h). */
static struct fx_authority A;

static void call(struct cairn_net_client *c, enum cairn_net_method m,
                 const char *path, const uint8_t *body, size_t len,
                 struct fx_resp *r)
{
  fx_call(&A.loop, c, m, path, body, len, r, 30000);
}

/* PEM of a chain of DER certificates. */
static void chain_pem(const struct cairn_msg_chain *ch, char **pem,
                      size_t *len, char serial[41])
{
  struct cairn_cert_list *l = fx_chain_list(ch);

  CHECK_OK(cairn_cert_list_to_pem(l, pem, len));
  if (serial)
    CHECK_OK(cairn_cert_serial_hex(cairn_cert_list_at(l, 0), serial, 41));
  cairn_cert_list_free(l);
}

/* Verifies a chain against the CA's bundle; returns its ID (static). */
static const char *verify_chain(const struct cairn_msg_chain *ch,
                                time_t *not_after)
{
  static struct cairn_id id;
  struct cairn_cert_list *l = fx_chain_list(ch);
  struct cairn_bundle *b = NULL;
  int r;

  memset(&id, 0, sizeof id);
  CHECK_OK(cairn_ca_bundle(A.ca, &b));
  r = cairn_cert_verify(l, cairn_bundle_x509(b), TD, 0, 0, &id);
  CHECK_OK(r);
  if (not_after && cairn_cert_list_count(l))
    *not_after = cairn_cert_not_after(cairn_cert_list_at(l, 0));
  cairn_bundle_free(b);
  cairn_cert_list_free(l);
  return id.str;
}

static void attest_body(const char *type, const char *token,
                        const uint8_t *csr, size_t csr_len, uint8_t **out,
                        size_t *out_len)
{
  struct cairn_msg_attest_req m;

  memset(&m, 0, sizeof m);
  m.type = (char *)type;
  m.token = (char *)token;
  m.csr.data = (uint8_t *)csr;
  m.csr.len = csr_len;
  CHECK_OK(cairn_msg_attest_req_encode(&m, out, out_len));
}

static void new_token(const char *token, int64_t ttl, const char *alias)
{
  CHECK_OK(cairn_store_token_create(A.st, token, alias,
                                    (int64_t)cairn_now() + ttl, NULL));
}

/* The server still answers a good node. */
static struct fx_creds g_probe;

static void still_serving(void)
{
  struct fx_creds *probe = &g_probe;
  struct cairn_net_client *c;
  struct fx_resp r = {0};

  if (!probe->chain) fx_authority_node(&A, "probe-node", probe);
  c = fx_authority_client(&A, probe);
  call(c, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_OK(r.err);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  fx_resp_clear(&r);
  fx_client_free(&A.loop, c);
}

/* ======================================================================
 * Tests
 * ====================================================================== */

static void test_attest(void)
{
  struct fx_creds node;
  struct fx_resp r = {0};
  struct cairn_node *n = NULL;
  struct cairn_msg_attest_resp m;
  struct cairn_bundle *got = NULL, *want = NULL;
  struct cairn_authority_stats st0, st1;
  time_t na = 0;

  cairn_authority_get_stats(A.auth, &st0);
  new_token("tok-attest-1", 600, NULL);
  fx_authority_attest(&A, "tok-attest-1", &r, &node);
  CHECK_OK(r.err);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_STR_EQ(node.id, AGENT_PREFIX "tok-attest-1");
  CHECK_OK(cairn_msg_attest_resp_decode(r.body, r.len, &m));
  CHECK_STR_EQ(verify_chain(&m.svid, &na), AGENT_PREFIX "tok-attest-1");
  /* Node SVIDs get SPIRE's agent_ttl default: default_x509_svid_ttl. */
  CHECK(na > cairn_now() + 3500 && na <= cairn_now() + 3600);
  CHECK_OK(cairn_bundle_parse_json(TD, m.bundle, strlen(m.bundle), 0, &got));
  CHECK_OK(cairn_ca_bundle(A.ca, &want));
  CHECK(got && want && cairn_bundle_content_equal(got, want));
  cairn_bundle_free(got);
  cairn_bundle_free(want);
  cairn_msg_attest_resp_clear(&m);

  CHECK_OK(cairn_store_node_get(A.st, node.id, &n));
  if (n) {
    CHECK_STR_EQ(n->attestation_type, "join_token");
    CHECK_STR_EQ(n->cert_serial, node.serial);
    CHECK_INT_EQ(n->cert_not_after, na);
    CHECK_INT_EQ(n->n_selectors, 0);
    CHECK_INT_EQ(n->banned, 0);
  }
  cairn_node_free(n);
  cairn_authority_get_stats(A.auth, &st1);
  CHECK_INT_EQ(st1.attested, st0.attested + 1);

  /* The node SVID works on the node routes. */
  {
    struct cairn_net_client *c = fx_authority_client(&A, &node);
    call(c, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
    CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
    fx_client_free(&A.loop, c);
  }
  fx_creds_free(&node);
  fx_resp_clear(&r);
}

static void test_token_refusals(void)
{
  struct fx_resp r = {0};
  struct cairn_join_token *toks = NULL;
  size_t n = 0;
  char *log;

  /* Reuse. */
  new_token("tok-reuse-abcdef", 600, NULL);
  fx_authority_attest(&A, "tok-reuse-abcdef", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  fx_authority_attest(&A, "tok-reuse-abcdef", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), MSG_UNKNOWN);
  still_serving();

  /* Unknown. */
  fx_authority_attest(&A, "zzzz-never-created", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), MSG_UNKNOWN);
  /* Not even a possible token (not an ID segment). */
  fx_authority_attest(&A, "with space", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), MSG_UNKNOWN);
  still_serving();

  /* Expired (still unused, and it stays unused). */
  CHECK_OK(cairn_store_token_create(A.st, "tok-expired-1", NULL,
                                    (int64_t)cairn_now() - 5, NULL));
  fx_authority_attest(&A, "tok-expired-1", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), "join token expired");
  still_serving();

  /* Every refusal is logged with the token's first 4 characters only
   * (a token that was used is part of its node's ID, which is logged). */
  log = fx_authority_log(&A);
  CHECK(strstr(log, "attestation refused: join token tok-... ") != NULL);
  CHECK(strstr(log, "attestation refused: join token zzzz... ") != NULL);
  CHECK(strstr(log, "attestation refused: join token with... ") != NULL);
  CHECK(strstr(log, "zzzz-never") == NULL);
  CHECK(strstr(log, "tok-expired") == NULL);
  CHECK(strstr(log, "with space") == NULL);
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
    if (strstr(line, "refused")) CHECK(strstr(line, "tok-reuse") == NULL);
  free(log);

  /* Nothing consumed a token it refused. */
  CHECK_OK(cairn_store_token_list(A.st, &toks, &n));
  for (size_t i = 0; i < n; i++)
    if (!strcmp(toks[i].token, "tok-expired-1"))
      CHECK_INT_EQ(toks[i].used_at, 0);
  cairn_join_token_array_free(toks, n);
  fx_resp_clear(&r);
}

static void test_attest_malformed(void)
{
  struct fx_creds boot;
  struct cairn_net_client *c;
  struct cairn_msg_attest_req m;
  struct fx_resp r = {0};
  uint8_t *body = NULL, *csr = NULL;
  size_t len = 0, csr_len = 0;
  struct cairn_key *k;
  char want[512];
  /* A map whose value is a tag: well-formed CBOR, refused by the schema. */
  static const uint8_t tagged[] = {0xa1, 0x64, 't', 'y', 'p', 'e', 0xc1,
                                   0x00};
  static const uint8_t garbage[] = {0xff, 0x13, 0x37, 0x00, 0x42};

  new_token("tok-malformed", 600, NULL);
  fx_creds_bootstrap(&boot);
  c = fx_authority_client(&A, &boot);

  /* Garbage CBOR: 4.00 with the decoder's own detail. */
  CHECK_ERR(cairn_msg_attest_req_decode(garbage, sizeof garbage, &m),
            CAIRN_ERR_PARSE);
  snprintf(want, sizeof want, "%s", cairn_errdetail());
  call(c, CAIRN_NET_POST, "/v1/attest", garbage, sizeof garbage, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK_STR_EQ(fx_resp_text(&r), want);
  CHECK_ERR(cairn_msg_attest_req_decode(tagged, sizeof tagged, &m),
            CAIRN_ERR_PARSE);
  snprintf(want, sizeof want, "%s", cairn_errdetail());
  call(c, CAIRN_NET_POST, "/v1/attest", tagged, sizeof tagged, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK_STR_EQ(fx_resp_text(&r), want);
  /* No body at all. */
  call(c, CAIRN_NET_POST, "/v1/attest", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);

  /* A CSR that is not one: 4.00 and the token is not consumed. */
  attest_body("join_token", "tok-malformed", (const uint8_t *)"notacsr", 7,
              &body, &len);
  call(c, CAIRN_NET_POST, "/v1/attest", body, len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strncmp(fx_resp_text(&r), "csr: ", 5) == 0);
  free(body);

  /* An attestor that does not exist. */
  k = fx_csr_new(&csr, &csr_len);
  attest_body("x509pop", "tok-malformed", csr, csr_len, &body, &len);
  call(c, CAIRN_NET_POST, "/v1/attest", body, len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r),
               "attestation type \"x509pop\" is not supported");
  free(body);

  /* A bootstrap peer reaches nothing else. */
  call(c, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_UNAUTHORIZED);
  call(c, CAIRN_NET_POST, "/v1/node/renew", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_UNAUTHORIZED);

  /* The token survived all of it. */
  attest_body("join_token", "tok-malformed", csr, csr_len, &body, &len);
  call(c, CAIRN_NET_POST, "/v1/attest", body, len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  free(body);
  free(csr);
  cairn_key_free(k);
  fx_client_free(&A.loop, c);
  fx_creds_free(&boot);
  fx_resp_clear(&r);
  still_serving();
}

static void test_too_big(void)
{
  struct fx_creds boot, node;
  struct cairn_net_client *c;
  struct fx_resp r = {0};
  size_t big = 1000 * 1000, huge = 2 * 1024 * 1024;
  uint8_t *body = calloc(1, huge);

  fx_creds_bootstrap(&boot);
  c = fx_authority_client(&A, &boot);
  /* 1 MB: within the endpoint's 1 MiB (for /v1/svids) but over the
   * 64 KiB of /v1/attest. */
  call(c, CAIRN_NET_POST, "/v1/attest", body, big, &r);
  CHECK_OK(r.err);
  CHECK_INT_EQ(r.code, CAIRN_NET_TOO_LARGE);
  CHECK(strstr(fx_resp_text(&r), "65536") != NULL);      /* the decoder's cap */
  /* 2 MiB: refused by the endpoint itself. */
  call(c, CAIRN_NET_POST, "/v1/attest", body, huge, &r);
  CHECK_OK(r.err);
  CHECK_INT_EQ(r.code, CAIRN_NET_TOO_LARGE);
  CHECK(strstr(fx_resp_text(&r), "1048576") != NULL);    /* the endpoint's */
  fx_client_free(&A.loop, c);
  fx_creds_free(&boot);

  fx_authority_node(&A, "tok-too-big", &node);
  c = fx_authority_client(&A, &node);
  call(c, CAIRN_NET_POST, "/v1/jwt", body, 70 * 1024, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_TOO_LARGE);
  fx_client_free(&A.loop, c);
  fx_creds_free(&node);
  free(body);
  fx_resp_clear(&r);
  still_serving();
}

/* A leaf for id signed by a root of its own (not in the bundle). */
static void foreign_creds(const char *td_id, const char *id,
                          struct fx_creds *out)
{
  struct cairn_key *rk = NULL;
  struct cairn_cert *root;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &rk));
  root = fx_issue(CAIRN_CERT_ROOT, td_id, 0, 3600, rk, rk, NULL);
  fx_creds_leaf(out, id, 0, 3600, rk, root, NULL);
  cairn_cert_free(root);
  cairn_key_free(rk);
}

static void test_handshake_refused(void)
{
  struct fx_creds other_td, rogue;
  struct cairn_net_client *c;
  struct fx_resp r = {0};

  /* Another trust domain's SVID. */
  foreign_creds("spiffe://other.org", "spiffe://other.org/spire/agent/x",
                &other_td);
  c = fx_authority_client(&A, &other_td);
  call(c, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_ERR(r.err, CAIRN_ERR_NET);
  fx_client_free(&A.loop, c);
  /* Our trust domain, but a rogue CA. */
  foreign_creds("spiffe://" TD, AGENT_PREFIX "tok-attest-1", &rogue);
  c = fx_authority_client(&A, &rogue);
  call(c, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_ERR(r.err, CAIRN_ERR_NET);
  call(c, CAIRN_NET_POST, "/v1/attest", NULL, 0, &r);
  CHECK_ERR(r.err, CAIRN_ERR_NET);
  fx_client_free(&A.loop, c);
  fx_creds_free(&other_td);
  fx_creds_free(&rogue);
  fx_resp_clear(&r);
  still_serving();
}

static void renew(struct cairn_net_client *c, struct fx_resp *r,
                  struct cairn_key **key)
{
  struct cairn_msg_renew_req m;
  uint8_t *csr = NULL, *body = NULL;
  size_t csr_len = 0, len = 0;

  *key = fx_csr_new(&csr, &csr_len);
  memset(&m, 0, sizeof m);
  m.csr.data = csr;
  m.csr.len = csr_len;
  CHECK_OK(cairn_msg_renew_req_encode(&m, &body, &len));
  call(c, CAIRN_NET_POST, "/v1/node/renew", body, len, r);
  free(body);
  free(csr);
}

static void test_renew(void)
{
  struct fx_creds node, renewed;
  struct cairn_net_client *c;
  struct cairn_msg_renew_resp m;
  struct cairn_node *n = NULL;
  struct cairn_key *k = NULL;
  struct fx_resp r = {0};

  fx_authority_node(&A, "tok-renew", &node);
  c = fx_authority_client(&A, &node);
  renew(c, &r, &k);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_OK(cairn_msg_renew_resp_decode(r.body, r.len, &m));
  CHECK_STR_EQ(verify_chain(&m.svid, NULL), node.id);
  memset(&renewed, 0, sizeof renewed);
  snprintf(renewed.id, sizeof renewed.id, "%s", node.id);
  chain_pem(&m.svid, &renewed.chain, &renewed.chain_len, renewed.serial);
  CHECK_OK(cairn_key_export_private_pem(k, &renewed.key, &renewed.key_len));
  CHECK(strcmp(renewed.serial, node.serial) != 0);
  cairn_msg_renew_resp_clear(&m);
  cairn_key_free(k);
  CHECK_OK(cairn_store_node_get(A.st, node.id, &n));
  if (n) CHECK_STR_EQ(n->cert_serial, renewed.serial);
  cairn_node_free(n);
  fx_client_free(&A.loop, c);

  /* The renewed SVID opens new sessions. */
  c = fx_authority_client(&A, &renewed);
  call(c, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  /* A malformed renewal. */
  call(c, CAIRN_NET_POST, "/v1/node/renew", (const uint8_t *)"\xa0", 1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strstr(fx_resp_text(&r), "csr") != NULL);
  fx_client_free(&A.loop, c);
  fx_creds_free(&node);
  fx_creds_free(&renewed);
  fx_resp_clear(&r);
  still_serving();
}

static void test_evict_and_ban(void)
{
  struct fx_creds a, b;
  struct cairn_net_client *ca, *cb;
  struct cairn_key *k = NULL;
  struct cairn_join_token *toks = NULL;
  struct fx_resp r = {0};
  size_t n = 0;

  fx_authority_node(&A, "tok-evict", &a);
  fx_authority_node(&A, "tok-ban", &b);
  ca = fx_authority_client(&A, &a);
  cb = fx_authority_client(&A, &b);
  call(ca, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  call(cb, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);

  /* Evicted: the next call on the same session fails. */
  CHECK_OK(cairn_store_node_delete(A.st, a.id));
  call(ca, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), "node is not attested (evicted?)");
  renew(ca, &r, &k);
  cairn_key_free(k);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), "node is not attested (evicted?)");
  call(ca, CAIRN_NET_GET, "/v1/entries", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  call(ca, CAIRN_NET_POST, "/v1/jwt", (const uint8_t *)"\xa0", 1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  call(ca, CAIRN_NET_POST, "/v1/svids", (const uint8_t *)"\xa0", 1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  call(ca, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);

  /* Banned. */
  CHECK_OK(cairn_store_node_ban(A.st, b.id));
  call(cb, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), "node is banned");
  renew(cb, &r, &k);
  cairn_key_free(k);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), "node is banned");
  /* A banned node cannot attest again, even with its token re-issued;
   * the token is not consumed by the refusal. */
  CHECK_OK(cairn_store_token_delete(A.st, "tok-ban"));
  new_token("tok-ban", 600, NULL);
  fx_authority_attest(&A, "tok-ban", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(fx_resp_text(&r), "node is banned");
  CHECK_OK(cairn_store_token_list(A.st, &toks, &n));
  for (size_t i = 0; i < n; i++)
    if (!strcmp(toks[i].token, "tok-ban")) CHECK_INT_EQ(toks[i].used_at, 0);
  cairn_join_token_array_free(toks, n);
  fx_client_free(&A.loop, ca);
  fx_client_free(&A.loop, cb);
  fx_creds_free(&a);
  fx_creds_free(&b);
  fx_resp_clear(&r);
  still_serving();
}

static void test_alias_token(void)
{
  struct fx_creds node;
  struct cairn_entry *e = NULL;
  struct cairn_entry_filter f;
  size_t n = 0;

  new_token("tok-alias", 600, "spiffe://" TD "/site/gateway");
  {
    struct fx_resp r = {0};
    fx_authority_attest(&A, "tok-alias", &r, &node);
    CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
    fx_resp_clear(&r);
  }
  /* The node's ID is still the token ID; the alias is an entry. */
  CHECK_STR_EQ(node.id, AGENT_PREFIX "tok-alias");
  memset(&f, 0, sizeof f);
  f.parent_id = node.id;
  CHECK_OK(cairn_store_entry_list(A.st, &f, &e, &n));
  CHECK_INT_EQ(n, 1);
  if (n == 1) {
    CHECK_STR_EQ(e[0].spiffe_id, "spiffe://" TD "/site/gateway");
    CHECK_INT_EQ(e[0].n_selectors, 1);
    CHECK_STR_EQ(e[0].selectors[0].type, "spiffe_id");
    CHECK_STR_EQ(e[0].selectors[0].value, node.id);
    CHECK_STR_EQ(e[0].owner, "cloud");
  }
  cairn_entry_array_free(e, n);
  fx_creds_free(&node);
}

/* ---- Observe ------------------------------------------------------- */

static void test_observe(void)
{
  struct fx_creds node;
  struct cairn_net_client *c;
  struct fx_resp ob = {0}, orv = {0};
  struct cairn_msg_bundle_resp b;
  struct cairn_msg_revision_resp rv;
  struct cairn_net_observation *o1 = NULL, *o2 = NULL;
  struct cairn_entry in;
  struct cairn_selector sel = {"unix", "uid:1"};
  uint64_t seq0;

  /* Take in the entries earlier tests wrote, so the poll timer does not
   * announce them (with the revision that is already current) while this
   * test waits for its own change. */
  CHECK_OK(cairn_authority_entries_changed(A.auth));
  fx_authority_node(&A, "tok-observe", &node);
  c = fx_authority_client(&A, &node);
  CHECK_OK(cairn_net_client_observe(c, "/v1/bundle", fx_on_resp, &ob, &o1));
  CHECK_OK(cairn_net_client_observe(c, "/v1/revision", fx_on_resp, &orv, &o2));
  CHECK(fx_loop_until_count(&A.loop, &ob.done, 1, 10000));
  CHECK(fx_loop_until_count(&A.loop, &orv.done, 1, 10000));
  CHECK_INT_EQ(ob.code, CAIRN_NET_CONTENT);
  CHECK_INT_EQ(ob.observing, 1);
  CHECK_OK(cairn_msg_bundle_resp_decode(ob.body, ob.len, &b));
  CHECK_STR_EQ(b.trust_domain, TD);
  seq0 = b.sequence;
  CHECK_INT_EQ(seq0, cairn_ca_bundle_sequence(A.ca));
  cairn_msg_bundle_resp_clear(&b);

  /* A new root: both observers hear about it. */
  CHECK_OK(cairn_ca_prepare_x509(A.ca));
  CHECK_OK(cairn_authority_bundle_changed(A.auth));
  CHECK(fx_loop_until_count(&A.loop, &ob.done, 2, 10000));
  CHECK(fx_loop_until_count(&A.loop, &orv.done, 2, 10000));
  CHECK_OK(cairn_msg_bundle_resp_decode(ob.body, ob.len, &b));
  CHECK_INT_EQ(b.sequence, seq0 + 1);
  cairn_msg_bundle_resp_clear(&b);
  CHECK_OK(cairn_msg_revision_resp_decode(orv.body, orv.len, &rv));
  CHECK_INT_EQ(rv.bundle, seq0 + 1);

  /* An entry written elsewhere: /v1/revision moves (the poll timer). */
  memset(&in, 0, sizeof in);
  in.spiffe_id = "spiffe://" TD "/observed";
  in.parent_id = node.id;
  in.selectors = &sel;
  in.n_selectors = 1;
  in.owner = "cloud";
  CHECK_OK(cairn_store_entry_create(A.st, &in, NULL));
  CHECK(fx_loop_until_count(&A.loop, &orv.done, 3, 10000));
  {
    struct cairn_msg_revision_resp rv2;
    CHECK_OK(cairn_msg_revision_resp_decode(orv.body, orv.len, &rv2));
    CHECK(rv2.entries > rv.entries);
  }
  CHECK_INT_EQ(ob.done, 2);  /* the bundle did not change */

  /* Evicted: the next notification ends the observation with 4.03. */
  CHECK_OK(cairn_store_node_delete(A.st, node.id));
  in.spiffe_id = "spiffe://" TD "/observed/2";
  CHECK_OK(cairn_store_entry_create(A.st, &in, NULL));
  CHECK_OK(cairn_authority_entries_changed(A.auth));
  CHECK(fx_loop_until_count(&A.loop, &orv.done, 4, 10000));
  CHECK_INT_EQ(orv.code, CAIRN_NET_FORBIDDEN);
  CHECK_INT_EQ(orv.observing, 0);
  CHECK_STR_EQ(fx_resp_text(&orv), "node is not attested (evicted?)");
  fx_client_free(&A.loop, c);
  fx_creds_free(&node);
  fx_resp_clear(&ob);
  fx_resp_clear(&orv);
  still_serving();
}

/* ---- entries --------------------------------------------------------- */

static char *make_entry(const char *spiffe_id, const char *parent,
                        const char *sel_value, int32_t x509_ttl)
{
  return fx_authority_entry(&A, (struct cairn_entry){.x509_svid_ttl = x509_ttl},
                            spiffe_id, parent, sel_value);
}

static int has_entry(const struct cairn_msg_entries_resp *m, const char *id)
{
  for (size_t i = 0; i < m->n_entries; i++)
    if (!strcmp(m->entries[i].id, id)) return 1;
  return 0;
}

static int has_removed(const struct cairn_msg_entries_resp *m,
                       const char *id)
{
  for (size_t i = 0; i < m->n_removed; i++)
    if (!strcmp(m->removed[i], id)) return 1;
  return 0;
}

static void test_entries(void)
{
  struct fx_creds node, other;
  struct cairn_net_client *c;
  struct cairn_msg_entries_resp m;
  struct cairn_entry *e = NULL;
  struct fx_resp r = {0};
  char *alias, *w1, *w2, *foreign, *far, *w3;
  uint64_t rev;

  fx_authority_node(&A, "tok-entries", &node);
  fx_authority_node(&A, "tok-entries-other", &other);
  /* alias (parent: node) -> w1 (parent: alias); w2 (parent: node);
   * foreign (parent: the other node); far (parent: w1's ID, two levels
   * down, not authorised). */
  alias = make_entry("spiffe://" TD "/alias/e", node.id, "uid:10", 0);
  w1 = make_entry("spiffe://" TD "/w1", "spiffe://" TD "/alias/e", "uid:11",
                  0);
  w2 = make_entry("spiffe://" TD "/w2", node.id, "uid:12", 0);
  foreign = make_entry("spiffe://" TD "/foreign", other.id, "uid:13", 0);
  far = make_entry("spiffe://" TD "/far", "spiffe://" TD "/w1", "uid:14", 0);

  c = fx_authority_client(&A, &node);
  call(c, CAIRN_NET_GET, "/v1/entries", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  CHECK_OK(cairn_msg_entries_resp_decode(r.body, r.len, &m));
  CHECK_INT_EQ(m.full, 1);
  CHECK_INT_EQ(m.n_entries, 3);
  CHECK(has_entry(&m, alias) && has_entry(&m, w1) && has_entry(&m, w2));
  CHECK(!has_entry(&m, foreign) && !has_entry(&m, far));
  CHECK_INT_EQ(m.n_removed, 0);
  for (size_t i = 0; i < m.n_entries; i++)
    if (!strcmp(m.entries[i].id, w1)) {
      CHECK_STR_EQ(m.entries[i].spiffe_id, "spiffe://" TD "/w1");
      CHECK_STR_EQ(m.entries[i].parent_id, "spiffe://" TD "/alias/e");
      CHECK_INT_EQ(m.entries[i].n_selectors, 1);
      CHECK_STR_EQ(m.entries[i].selectors[0].value, "uid:11");
    }
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);

  /* The same over the wire: ?since=<last revision> is an empty delta. */
  {
    char path[64];
    snprintf(path, sizeof path, "/v1/entries?since=%lld", (long long)rev);
    call(c, CAIRN_NET_GET, path, NULL, 0, &r);
    CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
    CHECK_OK(cairn_msg_entries_resp_decode(r.body, r.len, &m));
    CHECK_INT_EQ(m.full, 0);
    CHECK_INT_EQ(m.n_entries + m.n_removed, 0);
    cairn_msg_entries_resp_clear(&m);
    /* A malformed query is 4.00 with the parser's reason. */
    call(c, CAIRN_NET_GET, "/v1/entries?since=01", NULL, 0, &r);
    CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
    call(c, CAIRN_NET_GET, "/v1/entries?after=3", NULL, 0, &r);
    CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  }
  fx_client_free(&A.loop, c);

  /* Exact deltas from the revision of the last answer. */
  CHECK_OK(cairn_authority_entries(A.auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries, 0);
  CHECK_INT_EQ(m.n_removed, 0);
  CHECK_INT_EQ(m.revision, rev);
  cairn_msg_entries_resp_clear(&m);

  /* An unrelated change: nothing for this node, and no foreign IDs. */
  CHECK_OK(cairn_store_entry_delete(A.st, foreign, NULL));
  CHECK_OK(cairn_authority_entries(A.auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries + m.n_removed, 0);
  CHECK(m.revision > rev);
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);

  /* An update and a new entry under the alias; a deletion. */
  CHECK_OK(cairn_store_entry_get(A.st, w2, &e));
  if (e) {
    free(e->hint);
    e->hint = cairn_strdup("changed");
    e->revision = 0;
    CHECK_OK(cairn_store_entry_update(A.st, e, NULL));
  }
  cairn_entry_free(e);
  e = NULL;
  w3 = make_entry("spiffe://" TD "/w3", "spiffe://" TD "/alias/e", "uid:15",
                  0);
  CHECK_OK(cairn_store_entry_delete(A.st, w1, NULL));
  CHECK_OK(cairn_authority_entries(A.auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries, 2);
  CHECK(has_entry(&m, w2) && has_entry(&m, w3));
  CHECK_INT_EQ(m.n_removed, 1);
  CHECK(has_removed(&m, w1));
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);

  /* The alias moves away from the node: it and its child are removed,
   * although the child itself did not change. */
  CHECK_OK(cairn_store_entry_get(A.st, alias, &e));
  if (e) {
    free(e->parent_id);
    e->parent_id = cairn_strdup(other.id);
    e->revision = 0;
    CHECK_OK(cairn_store_entry_update(A.st, e, NULL));
  }
  cairn_entry_free(e);
  e = NULL;
  CHECK_OK(cairn_authority_entries(A.auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries, 0);
  CHECK_INT_EQ(m.n_removed, 2);
  CHECK(has_removed(&m, alias) && has_removed(&m, w3));
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);
  /* ... and back: both return although w3 is unchanged. */
  CHECK_OK(cairn_store_entry_get(A.st, alias, &e));
  if (e) {
    free(e->parent_id);
    e->parent_id = cairn_strdup(node.id);
    e->revision = 0;
    CHECK_OK(cairn_store_entry_update(A.st, e, NULL));
  }
  cairn_entry_free(e);
  CHECK_OK(cairn_authority_entries(A.auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries, 2);
  CHECK(has_entry(&m, alias) && has_entry(&m, w3));
  CHECK_INT_EQ(m.n_removed, 0);
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);

  /* Another since than the remembered one: the complete set. */
  CHECK_OK(cairn_authority_entries(A.auth, node.id, (int64_t)rev - 1, &m));
  CHECK_INT_EQ(m.full, 1);
  CHECK_INT_EQ(m.n_entries, 3);
  cairn_msg_entries_resp_clear(&m);
  CHECK_OK(cairn_authority_entries(A.auth, "spiffe://" TD "/nobody", 0, &m));
  CHECK_INT_EQ(m.full, 1);
  CHECK_INT_EQ(m.n_entries, 0);
  cairn_msg_entries_resp_clear(&m);

  free(alias);
  free(w1);
  free(w2);
  free(w3);
  free(foreign);
  free(far);
  fx_creds_free(&node);
  fx_creds_free(&other);
  fx_resp_clear(&r);
}

static void test_parse_since(void)
{
  int64_t v = -1;

  CHECK_OK(cairn_authority_parse_since(NULL, &v));
  CHECK_INT_EQ(v, 0);
  CHECK_OK(cairn_authority_parse_since("", &v));
  CHECK_INT_EQ(v, 0);
  CHECK_OK(cairn_authority_parse_since("since=0", &v));
  CHECK_INT_EQ(v, 0);
  CHECK_OK(cairn_authority_parse_since("since=42", &v));
  CHECK_INT_EQ(v, 42);
  CHECK_OK(cairn_authority_parse_since("since=9223372036854775807", &v));
  CHECK_INT_EQ(v, INT64_MAX);
  CHECK_ERR(cairn_authority_parse_since("since=9223372036854775808", &v),
            CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_authority_parse_since("since=", &v), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_authority_parse_since("since=01", &v), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_authority_parse_since("since=-1", &v), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_authority_parse_since("since=1x", &v), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_authority_parse_since("rev=1", &v), CAIRN_ERR_PARSE);
  CHECK_INT_EQ(v, 0);
}

/* ---- SVIDs and JWTs --------------------------------------------------- */

static void test_svids(void)
{
  struct fx_creds node, other;
  struct cairn_net_client *c;
  struct cairn_msg_svids_req rq;
  struct cairn_msg_svids_resp m;
  struct cairn_msg_csr_item items[4];
  struct cairn_key *k1, *k2;
  struct fx_resp r = {0};
  uint8_t *csr1 = NULL, *csr2 = NULL, *body = NULL;
  size_t l1 = 0, l2 = 0, len = 0;
  char *e1, *e2, *eo;
  time_t na = 0;

  fx_authority_node(&A, "tok-svids", &node);
  fx_authority_node(&A, "tok-svids-other", &other);
  e1 = make_entry("spiffe://" TD "/svid/one", node.id, "uid:20", 600);
  e2 = make_entry("spiffe://" TD "/svid/two", node.id, "uid:21", 0);
  eo = make_entry("spiffe://" TD "/svid/other", other.id, "uid:22", 0);
  k1 = fx_csr_new(&csr1, &l1);
  k2 = fx_csr_new(&csr2, &l2);
  memset(items, 0, sizeof items);
  items[0].entry_id = e1;
  items[0].csr.data = csr1;
  items[0].csr.len = l1;
  items[1].entry_id = eo;              /* another node's entry */
  items[1].csr.data = csr2;
  items[1].csr.len = l2;
  items[2].entry_id = e2;
  items[2].csr.data = (uint8_t *)"bad";
  items[2].csr.len = 3;
  items[3].entry_id = e2;
  items[3].csr.data = csr2;
  items[3].csr.len = l2;
  memset(&rq, 0, sizeof rq);
  rq.csrs = items;
  rq.n_csrs = 4;
  CHECK_OK(cairn_msg_svids_req_encode(&rq, &body, &len));

  c = fx_authority_client(&A, &node);
  call(c, CAIRN_NET_POST, "/v1/svids", body, len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_OK(cairn_msg_svids_resp_decode(r.body, r.len, &m));
  CHECK_INT_EQ(m.n_svids, 4);
  if (m.n_svids == 4) {
    CHECK_STR_EQ(m.svids[0].entry_id, e1);
    CHECK(m.svids[0].error == NULL);
    CHECK_STR_EQ(verify_chain(&m.svids[0].svid, &na),
                 "spiffe://" TD "/svid/one");
    /* The entry's TTL (600 s), not the default. */
    CHECK(na > cairn_now() + 500 && na <= cairn_now() + 600);
    CHECK_STR_EQ(m.svids[1].entry_id, eo);
    CHECK_INT_EQ(m.svids[1].svid.n, 0);
    CHECK(m.svids[1].error && strstr(m.svids[1].error,
                                     "is not authorised for this node"));
    CHECK(m.svids[2].error && !strncmp(m.svids[2].error, "csr: ", 5));
    CHECK(m.svids[3].error == NULL);
    CHECK_STR_EQ(verify_chain(&m.svids[3].svid, &na),
                 "spiffe://" TD "/svid/two");
    CHECK(na > cairn_now() + 3500);
  }
  cairn_msg_svids_resp_clear(&m);
  free(body);
  /* An empty batch is malformed. */
  call(c, CAIRN_NET_POST, "/v1/svids", (const uint8_t *)"\xa1\x64" "csrs\x80",
       7, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  fx_client_free(&A.loop, c);
  cairn_key_free(k1);
  cairn_key_free(k2);
  free(csr1);
  free(csr2);
  free(e1);
  free(e2);
  free(eo);
  fx_creds_free(&node);
  fx_creds_free(&other);
  fx_resp_clear(&r);
  still_serving();
}

static void jwt_call(struct cairn_net_client *c, const char *entry_id,
                     struct fx_resp *r)
{
  struct cairn_msg_jwt_req m;
  char *aud[] = {"spiffe://" TD "/db", "other-audience"};
  uint8_t *body = NULL;
  size_t len = 0;

  memset(&m, 0, sizeof m);
  m.entry_id = (char *)entry_id;
  m.audience = aud;
  m.n_audience = 2;
  CHECK_OK(cairn_msg_jwt_req_encode(&m, &body, &len));
  call(c, CAIRN_NET_POST, "/v1/jwt", body, len, r);
  free(body);
}

static void test_jwt(void)
{
  struct fx_creds node, other;
  struct cairn_net_client *c;
  struct cairn_msg_jwt_resp m;
  struct cairn_bundle *b = NULL;
  struct cairn_jwt_claims *cl = NULL;
  struct fx_resp r = {0};
  char *e, *eo;

  fx_authority_node(&A, "tok-jwt", &node);
  fx_authority_node(&A, "tok-jwt-other", &other);
  e = make_entry("spiffe://" TD "/jwt/one", node.id, "uid:30", 0);
  eo = make_entry("spiffe://" TD "/jwt/other", other.id, "uid:31", 0);
  c = fx_authority_client(&A, &node);
  jwt_call(c, e, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_OK(cairn_msg_jwt_resp_decode(r.body, r.len, &m));
  CHECK_OK(cairn_ca_bundle(A.ca, &b));
  CHECK_OK(cairn_jwt_validate(m.token, (const struct cairn_bundle *const *)&b,
                              1, "other-audience", 0, &cl));
  if (cl) {
    CHECK_STR_EQ(cl->sub.str, "spiffe://" TD "/jwt/one");
    CHECK_INT_EQ(cl->naud, 2);
    CHECK_INT_EQ(cl->exp, m.expires_at);
    /* default_jwt_svid_ttl: 5 minutes. */
    CHECK(cl->exp > (int64_t)cairn_now() + 250);
    CHECK(cl->exp <= (int64_t)cairn_now() + 300);
  }
  cairn_jwt_claims_free(cl);
  cairn_bundle_free(b);
  cairn_msg_jwt_resp_clear(&m);

  jwt_call(c, eo, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK(strstr(fx_resp_text(&r), "is not authorised for this node") != NULL);
  jwt_call(c, "no-such-entry", &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  call(c, CAIRN_NET_POST, "/v1/jwt", (const uint8_t *)"\xa0", 1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  fx_client_free(&A.loop, c);
  free(e);
  free(eo);
  fx_creds_free(&node);
  fx_creds_free(&other);
  fx_resp_clear(&r);
  still_serving();
}

/* ---- routes, server SVID, options ------------------------------------ */

static void test_routes(void)
{
  struct fx_creds node;
  struct cairn_net_client *c;
  struct fx_resp r = {0};

  fx_authority_node(&A, "tok-routes", &node);
  c = fx_authority_client(&A, &node);
  call(c, CAIRN_NET_GET, "/v1/nope", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_NOT_FOUND);
  call(c, CAIRN_NET_POST, "/v1/downstream/ca", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);  /* see test_downstream.c */
  call(c, CAIRN_NET_GET, "/v1/attest", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_METHOD_NOT_ALLOWED);
  call(c, CAIRN_NET_POST, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_METHOD_NOT_ALLOWED);
  call(c, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  fx_client_free(&A.loop, c);
  fx_creds_free(&node);
  fx_resp_clear(&r);
}

static void test_server_svid(void)
{
  struct cairn_authority_stats s0, s1, s2;
  struct fx_creds node;
  struct cairn_net_client *c;
  const struct cairn_net_peer *p;
  struct fx_resp r = {0};
  time_t now = cairn_now();
  int rc;

  fx_authority_node(&A, "tok-server-svid", &node);
  cairn_authority_get_stats(A.auth, &s0);
  CHECK(s0.server_svids >= 1);
  CHECK(s0.server_not_after > now + 3500);

  /* Another X.509 CA becomes active: a new server SVID at once. */
  rc = cairn_ca_prepare_x509(A.ca);
  CHECK(rc == CAIRN_OK || rc == CAIRN_ERR_EXISTS);
  CHECK_OK(cairn_ca_activate_x509(A.ca));
  CHECK_OK(cairn_authority_bundle_changed(A.auth));
  cairn_authority_get_stats(A.auth, &s1);
  CHECK_INT_EQ(s1.server_svids, s0.server_svids + 1);
  CHECK(strcmp(s1.server_serial, s0.server_serial) != 0);
  /* A new session sees it and verifies it against the bundle. */
  c = fx_authority_client(&A, &node);
  call(c, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  p = cairn_net_client_peer(c);
  CHECK(p != NULL);
  if (p) {
    CHECK_STR_EQ(p->serial, s1.server_serial);
    CHECK_STR_EQ(p->id.str, SERVER_ID);
  }
  fx_client_free(&A.loop, c);

  /* Half life: the poll timer renews it. */
  cairn_time_set_fake(now + 1800 + 5);
  CHECK_OK(cairn_authority_bundle_changed(A.auth));
  cairn_time_set_fake(0);
  cairn_authority_get_stats(A.auth, &s2);
  CHECK_INT_EQ(s2.server_svids, s1.server_svids + 1);
  CHECK(strcmp(s2.server_serial, s1.server_serial) != 0);
  /* (That one is not valid yet in real time: rotate again now.) */
  CHECK_OK(cairn_authority_rotate_server_svid(A.auth));
  cairn_authority_get_stats(A.auth, &s1);
  CHECK_INT_EQ(s1.server_svids, s2.server_svids + 1);
  fx_creds_free(&node);
  fx_resp_clear(&r);
  still_serving();
}

static void test_opts(void)
{
  struct cairn_authority_opts o;
  struct cairn_authority *a = NULL;

  cairn_authority_opts_init(&o);
  CHECK_INT_EQ(o.join_token, 1);
  o.bind_addr = "127.0.0.1";
  o.trust_domain = "other.org";
  CHECK_ERR(cairn_authority_new(&A.loop, A.st, A.ca, &o, &a), CAIRN_ERR_INVAL);
  CHECK(a == NULL);
  o.trust_domain = TD;
  o.node_svid_ttl = -1;
  CHECK_ERR(cairn_authority_new(&A.loop, A.st, A.ca, &o, &a), CAIRN_ERR_INVAL);
  o.node_svid_ttl = 0;
  /* An address that is not an IP literal. */
  o.bind_addr = "localhost";
  CHECK_ERR(cairn_authority_new(&A.loop, A.st, A.ca, &o, &a), CAIRN_ERR_INVAL);
  CHECK(a == NULL);
  o.bind_addr = "127.0.0.1";
  fx_loop_for(&A.loop, 5);
  CHECK_ERR(cairn_authority_new(NULL, A.st, A.ca, &o, &a), CAIRN_ERR_INVAL);

  /* join_token off: 4.03. */
  o.port = 0;
  o.join_token = 0;
  CHECK_OK(cairn_authority_new(&A.loop, A.st, A.ca, &o, &a));
  if (a) {
    struct cairn_authority *keep = A.auth;
    struct fx_resp r = {0};
    A.auth = a;
    new_token("tok-disabled", 600, NULL);
    fx_authority_attest(&A, "tok-disabled", &r, NULL);
    CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
    CHECK_STR_EQ(fx_resp_text(&r), "join_token attestation is not enabled");
    fx_resp_clear(&r);
    A.auth = keep;
  }
  cairn_authority_free(a);
  fx_loop_for(&A.loop, 5);
}

int main(void)
{
  if (fx_authority_start(&A, "authority.db", TD, 100)) return test_done();

  RUN(test_attest);
  RUN(test_token_refusals);
  RUN(test_attest_malformed);
  RUN(test_too_big);
  RUN(test_handshake_refused);
  RUN(test_renew);
  RUN(test_evict_and_ban);
  RUN(test_alias_token);
  RUN(test_observe);
  RUN(test_entries);
  RUN(test_parse_since);
  RUN(test_svids);
  RUN(test_jwt);
  RUN(test_routes);
  RUN(test_server_svid);
  RUN(test_opts);

  fx_creds_free(&g_probe);
  fx_authority_stop(&A);
  return test_done();
}
