/* test_authority.c - the tier protocol's server side, in process: a real
 * store (temp file) and CA manager (memory keys), the authority on
 * 127.0.0.1 with an ephemeral port, and net.h clients on the same libuv
 * loop: bootstrap attestation with join tokens, renewal, eviction and
 * bans, Observe on /v1/bundle and /v1/revision, entries with aliases and
 * deltas, SVID batches, JWT-SVIDs, the server SVID's rotation, and every
 * refusal followed by a request that still succeeds. */
#include "test.h"

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

static uv_loop_t g_loop;
static struct cairn_store *g_st;
static struct cairn_ca *g_ca;
static struct cairn_authority *g_auth;
static FILE *g_log;

/* ======================================================================
 * Loop helpers
 * ====================================================================== */

static int g_timed_out;

static void on_deadline(uv_timer_t *t)
{
  (void)t;
  g_timed_out = 1;
}

static int run_until(const int *flag, int want, int ms)
{
  uv_timer_t t;

  g_timed_out = 0;
  uv_timer_init(&g_loop, &t);
  uv_timer_start(&t, on_deadline, (uint64_t)ms, 0);
  while ((!flag || *flag < want) && !g_timed_out)
    uv_run(&g_loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&g_loop, UV_RUN_NOWAIT);
  return !flag || *flag >= want;
}

static void run_for(int ms)
{
  run_until(NULL, 0, 0);
  {
    int never = 0;
    run_until(&never, 1, ms);
  }
}

/* ======================================================================
 * Clients
 * ====================================================================== */

struct creds {
  char id[256];
  char *chain;
  size_t chain_len;
  char *key;
  size_t key_len;
  char serial[41];
};

static void creds_free(struct creds *c)
{
  free(c->chain);
  if (c->key) cairn_freezero(c->key, c->key_len);
  memset(c, 0, sizeof *c);
}

static struct cairn_net_client *client_new(const struct creds *cr)
{
  struct cairn_net_client_opts o;
  struct cairn_net_client *c = NULL;
  struct cairn_bundle *b = NULL;

  cairn_net_client_opts_init(&o);
  o.host = "127.0.0.1";
  o.port = cairn_authority_port(g_auth);
  o.server_id = SERVER_ID;
  o.timeout_ms = 8000;
  o.max_response = 16u * 1024 * 1024;
  CHECK_OK(cairn_net_client_new(&g_loop, &o, &c));
  if (!c) return NULL;
  CHECK_OK(cairn_net_client_set_credentials(c, cr->chain, cr->chain_len,
                                            cr->key, cr->key_len));
  CHECK_OK(cairn_ca_bundle(g_ca, &b));
  CHECK_OK(cairn_net_client_set_bundle(c, b));
  cairn_bundle_free(b);
  return c;
}

static void client_free(struct cairn_net_client *c)
{
  cairn_net_client_free(c);
  run_for(5);
}

struct resp {
  int done, err, code, observing;
  uint8_t *body;
  size_t len;
};

static void resp_clear(struct resp *r)
{
  free(r->body);
  memset(r, 0, sizeof *r);
}

static void on_resp(int err, const struct cairn_net_response *r, void *arg)
{
  struct resp *out = arg;

  free(out->body);
  out->body = NULL;
  out->len = 0;
  out->err = err;
  out->code = 0;
  if (r) {
    out->code = r->code;
    out->observing = r->observing;
    if (r->body_len) {
      out->body = malloc(r->body_len);
      memcpy(out->body, r->body, r->body_len);
      out->len = r->body_len;
    }
  }
  out->done++;
}

static void call(struct cairn_net_client *c, enum cairn_net_method m,
                 const char *path, const uint8_t *body, size_t len,
                 struct resp *r)
{
  resp_clear(r);
  CHECK_OK(cairn_net_client_request(c, m, path, body, len, on_resp, r));
  CHECK(run_until(&r->done, 1, 30000));
}

static const char *text(const struct resp *r)
{
  static char buf[512];
  size_t n = r->len < sizeof buf - 1 ? r->len : sizeof buf - 1;
  memcpy(buf, r->body ? (const char *)r->body : "", n);
  buf[n] = '\0';
  return buf;
}

/* A throwaway bootstrap identity. */
static void bootstrap_creds(struct creds *c)
{
  struct cairn_key *k = NULL;

  memset(c, 0, sizeof *c);
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  CHECK_OK(cairn_net_bootstrap_cert(k, 600, &c->chain, &c->chain_len));
  CHECK_OK(cairn_key_export_private_pem(k, &c->key, &c->key_len));
  cairn_key_free(k);
}

/* A fresh key and its CSR. */
static struct cairn_key *new_csr(uint8_t **csr, size_t *len)
{
  struct cairn_key *k = NULL;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  CHECK_OK(cairn_csr_create(k, csr, len));
  return k;
}

/* PEM of a chain of DER certificates. */
static void chain_pem(const struct cairn_msg_chain *ch, char **pem,
                      size_t *len, char serial[41])
{
  struct cairn_cert_list *l = NULL;

  CHECK_OK(cairn_cert_list_new(&l));
  for (size_t i = 0; i < ch->n; i++) {
    struct cairn_cert *c = NULL;
    CHECK_OK(cairn_cert_parse_der(ch->certs[i].data, ch->certs[i].len, &c));
    CHECK_OK(cairn_cert_list_push(l, c));
  }
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
  struct cairn_cert_list *l = NULL;
  struct cairn_bundle *b = NULL;
  int r;

  memset(&id, 0, sizeof id);
  CHECK_OK(cairn_cert_list_new(&l));
  for (size_t i = 0; i < ch->n; i++) {
    struct cairn_cert *c = NULL;
    CHECK_OK(cairn_cert_parse_der(ch->certs[i].data, ch->certs[i].len, &c));
    CHECK_OK(cairn_cert_list_push(l, c));
  }
  CHECK_OK(cairn_ca_bundle(g_ca, &b));
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

/* POST /v1/attest from a new bootstrap peer with a fresh key. On 2.01
 * *node (may be NULL) gets the node's credentials. */
static void attest(const char *token, struct resp *r, struct creds *node)
{
  struct creds boot;
  struct cairn_net_client *c;
  struct cairn_key *k;
  uint8_t *csr = NULL, *body = NULL;
  size_t csr_len = 0, len = 0;

  bootstrap_creds(&boot);
  c = client_new(&boot);
  k = new_csr(&csr, &csr_len);
  attest_body("join_token", token, csr, csr_len, &body, &len);
  call(c, CAIRN_NET_POST, "/v1/attest", body, len, r);
  if (node) memset(node, 0, sizeof *node);
  if (node && r->code == CAIRN_NET_CREATED) {
    struct cairn_msg_attest_resp m;
    CHECK_OK(cairn_msg_attest_resp_decode(r->body, r->len, &m));
    snprintf(node->id, sizeof node->id, "%s", m.spiffe_id);
    chain_pem(&m.svid, &node->chain, &node->chain_len, node->serial);
    CHECK_OK(cairn_key_export_private_pem(k, &node->key, &node->key_len));
    cairn_msg_attest_resp_clear(&m);
  }
  free(body);
  free(csr);
  cairn_key_free(k);
  client_free(c);
  creds_free(&boot);
}

static void new_token(const char *token, int64_t ttl, const char *alias)
{
  CHECK_OK(cairn_store_token_create(g_st, token, alias,
                                    (int64_t)cairn_now() + ttl, NULL));
}

/* A freshly attested node. */
static void node_new(const char *token, struct creds *node)
{
  struct resp r = {0};

  new_token(token, 600, NULL);
  attest(token, &r, node);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  resp_clear(&r);
}

/* The server still answers a good node. */
static struct creds g_probe;

static void still_serving(void)
{
  struct creds *probe = &g_probe;
  struct cairn_net_client *c;
  struct resp r = {0};

  if (!probe->chain) node_new("probe-node", probe);
  c = client_new(probe);
  call(c, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_OK(r.err);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  resp_clear(&r);
  client_free(c);
}

static char *log_text(void)
{
  long n;
  char *s;

  fflush(g_log);
  n = ftell(g_log);
  s = calloc(1, (size_t)n + 1);
  rewind(g_log);
  if (n > 0 && fread(s, 1, (size_t)n, g_log) != (size_t)n) s[0] = '\0';
  fseek(g_log, 0, SEEK_END);
  return s;
}

/* ======================================================================
 * Tests
 * ====================================================================== */

static void test_attest(void)
{
  struct creds node;
  struct resp r = {0};
  struct cairn_node *n = NULL;
  struct cairn_msg_attest_resp m;
  struct cairn_bundle *got = NULL, *want = NULL;
  struct cairn_authority_stats st0, st1;
  time_t na = 0;

  cairn_authority_get_stats(g_auth, &st0);
  new_token("tok-attest-1", 600, NULL);
  attest("tok-attest-1", &r, &node);
  CHECK_OK(r.err);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_STR_EQ(node.id, AGENT_PREFIX "tok-attest-1");
  CHECK_OK(cairn_msg_attest_resp_decode(r.body, r.len, &m));
  CHECK_STR_EQ(verify_chain(&m.svid, &na), AGENT_PREFIX "tok-attest-1");
  /* Node SVIDs get SPIRE's agent_ttl default: default_x509_svid_ttl. */
  CHECK(na > cairn_now() + 3500 && na <= cairn_now() + 3600);
  CHECK_OK(cairn_bundle_parse_json(TD, m.bundle, strlen(m.bundle), 0, &got));
  CHECK_OK(cairn_ca_bundle(g_ca, &want));
  CHECK(got && want && cairn_bundle_content_equal(got, want));
  cairn_bundle_free(got);
  cairn_bundle_free(want);
  cairn_msg_attest_resp_clear(&m);

  CHECK_OK(cairn_store_node_get(g_st, node.id, &n));
  if (n) {
    CHECK_STR_EQ(n->attestation_type, "join_token");
    CHECK_STR_EQ(n->cert_serial, node.serial);
    CHECK_INT_EQ(n->cert_not_after, na);
    CHECK_INT_EQ(n->n_selectors, 0);
    CHECK_INT_EQ(n->banned, 0);
  }
  cairn_node_free(n);
  cairn_authority_get_stats(g_auth, &st1);
  CHECK_INT_EQ(st1.attested, st0.attested + 1);

  /* The node SVID works on the node routes. */
  {
    struct cairn_net_client *c = client_new(&node);
    call(c, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
    CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
    client_free(c);
  }
  creds_free(&node);
  resp_clear(&r);
}

static void test_token_refusals(void)
{
  struct resp r = {0};
  struct cairn_join_token *toks = NULL;
  size_t n = 0;
  char *log;

  /* Reuse. */
  new_token("tok-reuse-abcdef", 600, NULL);
  attest("tok-reuse-abcdef", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  attest("tok-reuse-abcdef", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), MSG_UNKNOWN);
  still_serving();

  /* Unknown. */
  attest("zzzz-never-created", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), MSG_UNKNOWN);
  /* Not even a possible token (not an ID segment). */
  attest("with space", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), MSG_UNKNOWN);
  still_serving();

  /* Expired (still unused, and it stays unused). */
  CHECK_OK(cairn_store_token_create(g_st, "tok-expired-1", NULL,
                                    (int64_t)cairn_now() - 5, NULL));
  attest("tok-expired-1", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), "join token expired");
  still_serving();

  /* Every refusal is logged with the token's first 4 characters only
   * (a token that was used is part of its node's ID, which is logged). */
  log = log_text();
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
  CHECK_OK(cairn_store_token_list(g_st, &toks, &n));
  for (size_t i = 0; i < n; i++)
    if (!strcmp(toks[i].token, "tok-expired-1"))
      CHECK_INT_EQ(toks[i].used_at, 0);
  cairn_join_token_array_free(toks, n);
  resp_clear(&r);
}

static void test_attest_malformed(void)
{
  struct creds boot;
  struct cairn_net_client *c;
  struct cairn_msg_attest_req m;
  struct resp r = {0};
  uint8_t *body = NULL, *csr = NULL;
  size_t len = 0, csr_len = 0;
  struct cairn_key *k;
  char want[512];
  /* A map whose value is a tag: well-formed CBOR, refused by the schema. */
  static const uint8_t tagged[] = {0xa1, 0x64, 't', 'y', 'p', 'e', 0xc1,
                                   0x00};
  static const uint8_t garbage[] = {0xff, 0x13, 0x37, 0x00, 0x42};

  new_token("tok-malformed", 600, NULL);
  bootstrap_creds(&boot);
  c = client_new(&boot);

  /* Garbage CBOR: 4.00 with the decoder's own detail. */
  CHECK_ERR(cairn_msg_attest_req_decode(garbage, sizeof garbage, &m),
            CAIRN_ERR_PARSE);
  snprintf(want, sizeof want, "%s", cairn_errdetail());
  call(c, CAIRN_NET_POST, "/v1/attest", garbage, sizeof garbage, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK_STR_EQ(text(&r), want);
  CHECK_ERR(cairn_msg_attest_req_decode(tagged, sizeof tagged, &m),
            CAIRN_ERR_PARSE);
  snprintf(want, sizeof want, "%s", cairn_errdetail());
  call(c, CAIRN_NET_POST, "/v1/attest", tagged, sizeof tagged, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK_STR_EQ(text(&r), want);
  /* No body at all. */
  call(c, CAIRN_NET_POST, "/v1/attest", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);

  /* A CSR that is not one: 4.00 and the token is not consumed. */
  attest_body("join_token", "tok-malformed", (const uint8_t *)"notacsr", 7,
              &body, &len);
  call(c, CAIRN_NET_POST, "/v1/attest", body, len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strncmp(text(&r), "csr: ", 5) == 0);
  free(body);

  /* An attestor that does not exist. */
  k = new_csr(&csr, &csr_len);
  attest_body("x509pop", "tok-malformed", csr, csr_len, &body, &len);
  call(c, CAIRN_NET_POST, "/v1/attest", body, len, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), "attestation type \"x509pop\" is not supported");
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
  client_free(c);
  creds_free(&boot);
  resp_clear(&r);
  still_serving();
}

static void test_too_big(void)
{
  struct creds boot, node;
  struct cairn_net_client *c;
  struct resp r = {0};
  size_t big = 1000 * 1000, huge = 2 * 1024 * 1024;
  uint8_t *body = calloc(1, huge);

  bootstrap_creds(&boot);
  c = client_new(&boot);
  /* 1 MB: within the endpoint's 1 MiB (for /v1/svids) but over the
   * 64 KiB of /v1/attest. */
  call(c, CAIRN_NET_POST, "/v1/attest", body, big, &r);
  CHECK_OK(r.err);
  CHECK_INT_EQ(r.code, CAIRN_NET_TOO_LARGE);
  CHECK(strstr(text(&r), "65536") != NULL);      /* the decoder's cap */
  /* 2 MiB: refused by the endpoint itself. */
  call(c, CAIRN_NET_POST, "/v1/attest", body, huge, &r);
  CHECK_OK(r.err);
  CHECK_INT_EQ(r.code, CAIRN_NET_TOO_LARGE);
  CHECK(strstr(text(&r), "1048576") != NULL);    /* the endpoint's */
  client_free(c);
  creds_free(&boot);

  node_new("tok-too-big", &node);
  c = client_new(&node);
  call(c, CAIRN_NET_POST, "/v1/jwt", body, 70 * 1024, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_TOO_LARGE);
  client_free(c);
  creds_free(&node);
  free(body);
  resp_clear(&r);
  still_serving();
}

/* A leaf for id signed by a root of its own (not in the bundle). */
static void foreign_creds(const char *td_id, const char *id, struct creds *out)
{
  struct cairn_key *rk = NULL, *lk = NULL;
  struct cairn_cert *root = NULL, *leaf = NULL;
  struct cairn_cert_template t;
  struct cairn_cert_list *l = NULL;

  memset(out, 0, sizeof *out);
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &rk));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &lk));
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_ROOT;
  t.spiffe_id = td_id;
  t.ttl = 3600;
  t.path_len = -1;
  CHECK_OK(cairn_cert_issue(&t, rk, rk, NULL, &root));
  t.kind = CAIRN_CERT_LEAF;
  t.spiffe_id = id;
  CHECK_OK(cairn_cert_issue(&t, lk, rk, root, &leaf));
  CHECK_OK(cairn_cert_list_new(&l));
  CHECK_OK(cairn_cert_list_push_copy(l, leaf));
  CHECK_OK(cairn_cert_list_to_pem(l, &out->chain, &out->chain_len));
  CHECK_OK(cairn_key_export_private_pem(lk, &out->key, &out->key_len));
  cairn_cert_list_free(l);
  cairn_cert_free(root);
  cairn_cert_free(leaf);
  cairn_key_free(rk);
  cairn_key_free(lk);
}

static void test_handshake_refused(void)
{
  struct creds other_td, rogue;
  struct cairn_net_client *c;
  struct resp r = {0};

  /* Another trust domain's SVID. */
  foreign_creds("spiffe://other.org", "spiffe://other.org/spire/agent/x",
                &other_td);
  c = client_new(&other_td);
  call(c, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_ERR(r.err, CAIRN_ERR_NET);
  client_free(c);
  /* Our trust domain, but a rogue CA. */
  foreign_creds("spiffe://" TD, AGENT_PREFIX "tok-attest-1", &rogue);
  c = client_new(&rogue);
  call(c, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_ERR(r.err, CAIRN_ERR_NET);
  call(c, CAIRN_NET_POST, "/v1/attest", NULL, 0, &r);
  CHECK_ERR(r.err, CAIRN_ERR_NET);
  client_free(c);
  creds_free(&other_td);
  creds_free(&rogue);
  resp_clear(&r);
  still_serving();
}

static void renew(struct cairn_net_client *c, struct resp *r,
                  struct cairn_key **key)
{
  struct cairn_msg_renew_req m;
  uint8_t *csr = NULL, *body = NULL;
  size_t csr_len = 0, len = 0;

  *key = new_csr(&csr, &csr_len);
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
  struct creds node, renewed;
  struct cairn_net_client *c;
  struct cairn_msg_renew_resp m;
  struct cairn_node *n = NULL;
  struct cairn_key *k = NULL;
  struct resp r = {0};

  node_new("tok-renew", &node);
  c = client_new(&node);
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
  CHECK_OK(cairn_store_node_get(g_st, node.id, &n));
  if (n) CHECK_STR_EQ(n->cert_serial, renewed.serial);
  cairn_node_free(n);
  client_free(c);

  /* The renewed SVID opens new sessions. */
  c = client_new(&renewed);
  call(c, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  /* A malformed renewal. */
  call(c, CAIRN_NET_POST, "/v1/node/renew", (const uint8_t *)"\xa0", 1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  CHECK(strstr(text(&r), "csr") != NULL);
  client_free(c);
  creds_free(&node);
  creds_free(&renewed);
  resp_clear(&r);
  still_serving();
}

static void test_evict_and_ban(void)
{
  struct creds a, b;
  struct cairn_net_client *ca, *cb;
  struct cairn_key *k = NULL;
  struct cairn_join_token *toks = NULL;
  struct resp r = {0};
  size_t n = 0;

  node_new("tok-evict", &a);
  node_new("tok-ban", &b);
  ca = client_new(&a);
  cb = client_new(&b);
  call(ca, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  call(cb, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);

  /* Evicted: the next call on the same session fails. */
  CHECK_OK(cairn_store_node_delete(g_st, a.id));
  call(ca, CAIRN_NET_GET, "/v1/bundle", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), "node is not attested (evicted?)");
  renew(ca, &r, &k);
  cairn_key_free(k);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), "node is not attested (evicted?)");
  call(ca, CAIRN_NET_GET, "/v1/entries", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  call(ca, CAIRN_NET_POST, "/v1/jwt", (const uint8_t *)"\xa0", 1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  call(ca, CAIRN_NET_POST, "/v1/svids", (const uint8_t *)"\xa0", 1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  call(ca, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);

  /* Banned. */
  CHECK_OK(cairn_store_node_ban(g_st, b.id));
  call(cb, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), "node is banned");
  renew(cb, &r, &k);
  cairn_key_free(k);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), "node is banned");
  /* A banned node cannot attest again, even with its token re-issued;
   * the token is not consumed by the refusal. */
  CHECK_OK(cairn_store_token_delete(g_st, "tok-ban"));
  new_token("tok-ban", 600, NULL);
  attest("tok-ban", &r, NULL);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  CHECK_STR_EQ(text(&r), "node is banned");
  CHECK_OK(cairn_store_token_list(g_st, &toks, &n));
  for (size_t i = 0; i < n; i++)
    if (!strcmp(toks[i].token, "tok-ban")) CHECK_INT_EQ(toks[i].used_at, 0);
  cairn_join_token_array_free(toks, n);
  client_free(ca);
  client_free(cb);
  creds_free(&a);
  creds_free(&b);
  resp_clear(&r);
  still_serving();
}

static void test_alias_token(void)
{
  struct creds node;
  struct cairn_entry *e = NULL;
  struct cairn_entry_filter f;
  size_t n = 0;

  new_token("tok-alias", 600, "spiffe://" TD "/site/gateway");
  {
    struct resp r = {0};
    attest("tok-alias", &r, &node);
    CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
    resp_clear(&r);
  }
  /* The node's ID is still the token ID; the alias is an entry. */
  CHECK_STR_EQ(node.id, AGENT_PREFIX "tok-alias");
  memset(&f, 0, sizeof f);
  f.parent_id = node.id;
  CHECK_OK(cairn_store_entry_list(g_st, &f, &e, &n));
  CHECK_INT_EQ(n, 1);
  if (n == 1) {
    CHECK_STR_EQ(e[0].spiffe_id, "spiffe://" TD "/site/gateway");
    CHECK_INT_EQ(e[0].n_selectors, 1);
    CHECK_STR_EQ(e[0].selectors[0].type, "spiffe_id");
    CHECK_STR_EQ(e[0].selectors[0].value, node.id);
    CHECK_STR_EQ(e[0].owner, "cloud");
  }
  cairn_entry_array_free(e, n);
  creds_free(&node);
}

/* ---- Observe ------------------------------------------------------- */

static void test_observe(void)
{
  struct creds node;
  struct cairn_net_client *c;
  struct resp ob = {0}, orv = {0};
  struct cairn_msg_bundle_resp b;
  struct cairn_msg_revision_resp rv;
  struct cairn_net_observation *o1 = NULL, *o2 = NULL;
  struct cairn_entry in;
  struct cairn_selector sel = {"unix", "uid:1"};
  uint64_t seq0;

  /* Take in the entries earlier tests wrote, so the poll timer does not
   * announce them (with the revision that is already current) while this
   * test waits for its own change. */
  CHECK_OK(cairn_authority_entries_changed(g_auth));
  node_new("tok-observe", &node);
  c = client_new(&node);
  CHECK_OK(cairn_net_client_observe(c, "/v1/bundle", on_resp, &ob, &o1));
  CHECK_OK(cairn_net_client_observe(c, "/v1/revision", on_resp, &orv, &o2));
  CHECK(run_until(&ob.done, 1, 10000));
  CHECK(run_until(&orv.done, 1, 10000));
  CHECK_INT_EQ(ob.code, CAIRN_NET_CONTENT);
  CHECK_INT_EQ(ob.observing, 1);
  CHECK_OK(cairn_msg_bundle_resp_decode(ob.body, ob.len, &b));
  CHECK_STR_EQ(b.trust_domain, TD);
  seq0 = b.sequence;
  CHECK_INT_EQ(seq0, cairn_ca_bundle_sequence(g_ca));
  cairn_msg_bundle_resp_clear(&b);

  /* A new root: both observers hear about it. */
  CHECK_OK(cairn_ca_prepare_x509(g_ca));
  CHECK_OK(cairn_authority_bundle_changed(g_auth));
  CHECK(run_until(&ob.done, 2, 10000));
  CHECK(run_until(&orv.done, 2, 10000));
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
  CHECK_OK(cairn_store_entry_create(g_st, &in, NULL));
  CHECK(run_until(&orv.done, 3, 10000));
  {
    struct cairn_msg_revision_resp rv2;
    CHECK_OK(cairn_msg_revision_resp_decode(orv.body, orv.len, &rv2));
    CHECK(rv2.entries > rv.entries);
  }
  CHECK_INT_EQ(ob.done, 2);  /* the bundle did not change */

  /* Evicted: the next notification ends the observation with 4.03. */
  CHECK_OK(cairn_store_node_delete(g_st, node.id));
  in.spiffe_id = "spiffe://" TD "/observed/2";
  CHECK_OK(cairn_store_entry_create(g_st, &in, NULL));
  CHECK_OK(cairn_authority_entries_changed(g_auth));
  CHECK(run_until(&orv.done, 4, 10000));
  CHECK_INT_EQ(orv.code, CAIRN_NET_FORBIDDEN);
  CHECK_INT_EQ(orv.observing, 0);
  CHECK_STR_EQ(text(&orv), "node is not attested (evicted?)");
  client_free(c);
  creds_free(&node);
  resp_clear(&ob);
  resp_clear(&orv);
  still_serving();
}

/* ---- entries --------------------------------------------------------- */

static char *make_entry(const char *spiffe_id, const char *parent,
                        const char *sel_value, int32_t x509_ttl)
{
  struct cairn_entry in, *out = NULL;
  struct cairn_selector sel;
  char *id;

  memset(&in, 0, sizeof in);
  sel.type = "unix";
  sel.value = (char *)sel_value;
  in.spiffe_id = (char *)spiffe_id;
  in.parent_id = (char *)parent;
  in.selectors = &sel;
  in.n_selectors = 1;
  in.owner = "cloud";
  in.x509_svid_ttl = x509_ttl;
  CHECK_OK(cairn_store_entry_create(g_st, &in, &out));
  id = out ? cairn_strdup(out->entry_id) : cairn_strdup("?");
  cairn_entry_free(out);
  return id;
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
  struct creds node, other;
  struct cairn_net_client *c;
  struct cairn_msg_entries_resp m;
  struct cairn_entry *e = NULL;
  struct resp r = {0};
  char *alias, *w1, *w2, *foreign, *far, *w3;
  uint64_t rev;

  node_new("tok-entries", &node);
  node_new("tok-entries-other", &other);
  /* alias (parent: node) -> w1 (parent: alias); w2 (parent: node);
   * foreign (parent: the other node); far (parent: w1's ID, two levels
   * down, not authorised). */
  alias = make_entry("spiffe://" TD "/alias/e", node.id, "uid:10", 0);
  w1 = make_entry("spiffe://" TD "/w1", "spiffe://" TD "/alias/e", "uid:11",
                  0);
  w2 = make_entry("spiffe://" TD "/w2", node.id, "uid:12", 0);
  foreign = make_entry("spiffe://" TD "/foreign", other.id, "uid:13", 0);
  far = make_entry("spiffe://" TD "/far", "spiffe://" TD "/w1", "uid:14", 0);

  c = client_new(&node);
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
  client_free(c);

  /* Exact deltas from the revision of the last answer. */
  CHECK_OK(cairn_authority_entries(g_auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries, 0);
  CHECK_INT_EQ(m.n_removed, 0);
  CHECK_INT_EQ(m.revision, rev);
  cairn_msg_entries_resp_clear(&m);

  /* An unrelated change: nothing for this node, and no foreign IDs. */
  CHECK_OK(cairn_store_entry_delete(g_st, foreign, NULL));
  CHECK_OK(cairn_authority_entries(g_auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries + m.n_removed, 0);
  CHECK(m.revision > rev);
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);

  /* An update and a new entry under the alias; a deletion. */
  CHECK_OK(cairn_store_entry_get(g_st, w2, &e));
  if (e) {
    free(e->hint);
    e->hint = cairn_strdup("changed");
    e->revision = 0;
    CHECK_OK(cairn_store_entry_update(g_st, e, NULL));
  }
  cairn_entry_free(e);
  e = NULL;
  w3 = make_entry("spiffe://" TD "/w3", "spiffe://" TD "/alias/e", "uid:15",
                  0);
  CHECK_OK(cairn_store_entry_delete(g_st, w1, NULL));
  CHECK_OK(cairn_authority_entries(g_auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries, 2);
  CHECK(has_entry(&m, w2) && has_entry(&m, w3));
  CHECK_INT_EQ(m.n_removed, 1);
  CHECK(has_removed(&m, w1));
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);

  /* The alias moves away from the node: it and its child are removed,
   * although the child itself did not change. */
  CHECK_OK(cairn_store_entry_get(g_st, alias, &e));
  if (e) {
    free(e->parent_id);
    e->parent_id = cairn_strdup(other.id);
    e->revision = 0;
    CHECK_OK(cairn_store_entry_update(g_st, e, NULL));
  }
  cairn_entry_free(e);
  e = NULL;
  CHECK_OK(cairn_authority_entries(g_auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries, 0);
  CHECK_INT_EQ(m.n_removed, 2);
  CHECK(has_removed(&m, alias) && has_removed(&m, w3));
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);
  /* ... and back: both return although w3 is unchanged. */
  CHECK_OK(cairn_store_entry_get(g_st, alias, &e));
  if (e) {
    free(e->parent_id);
    e->parent_id = cairn_strdup(node.id);
    e->revision = 0;
    CHECK_OK(cairn_store_entry_update(g_st, e, NULL));
  }
  cairn_entry_free(e);
  CHECK_OK(cairn_authority_entries(g_auth, node.id, (int64_t)rev, &m));
  CHECK_INT_EQ(m.full, 0);
  CHECK_INT_EQ(m.n_entries, 2);
  CHECK(has_entry(&m, alias) && has_entry(&m, w3));
  CHECK_INT_EQ(m.n_removed, 0);
  rev = m.revision;
  cairn_msg_entries_resp_clear(&m);

  /* Another since than the remembered one: the complete set. */
  CHECK_OK(cairn_authority_entries(g_auth, node.id, (int64_t)rev - 1, &m));
  CHECK_INT_EQ(m.full, 1);
  CHECK_INT_EQ(m.n_entries, 3);
  cairn_msg_entries_resp_clear(&m);
  CHECK_OK(cairn_authority_entries(g_auth, "spiffe://" TD "/nobody", 0, &m));
  CHECK_INT_EQ(m.full, 1);
  CHECK_INT_EQ(m.n_entries, 0);
  cairn_msg_entries_resp_clear(&m);

  free(alias);
  free(w1);
  free(w2);
  free(w3);
  free(foreign);
  free(far);
  creds_free(&node);
  creds_free(&other);
  resp_clear(&r);
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
  struct creds node, other;
  struct cairn_net_client *c;
  struct cairn_msg_svids_req rq;
  struct cairn_msg_svids_resp m;
  struct cairn_msg_csr_item items[4];
  struct cairn_key *k1, *k2;
  struct resp r = {0};
  uint8_t *csr1 = NULL, *csr2 = NULL, *body = NULL;
  size_t l1 = 0, l2 = 0, len = 0;
  char *e1, *e2, *eo;
  time_t na = 0;

  node_new("tok-svids", &node);
  node_new("tok-svids-other", &other);
  e1 = make_entry("spiffe://" TD "/svid/one", node.id, "uid:20", 600);
  e2 = make_entry("spiffe://" TD "/svid/two", node.id, "uid:21", 0);
  eo = make_entry("spiffe://" TD "/svid/other", other.id, "uid:22", 0);
  k1 = new_csr(&csr1, &l1);
  k2 = new_csr(&csr2, &l2);
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

  c = client_new(&node);
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
  client_free(c);
  cairn_key_free(k1);
  cairn_key_free(k2);
  free(csr1);
  free(csr2);
  free(e1);
  free(e2);
  free(eo);
  creds_free(&node);
  creds_free(&other);
  resp_clear(&r);
  still_serving();
}

static void jwt_call(struct cairn_net_client *c, const char *entry_id,
                     struct resp *r)
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
  struct creds node, other;
  struct cairn_net_client *c;
  struct cairn_msg_jwt_resp m;
  struct cairn_bundle *b = NULL;
  struct cairn_jwt_claims *cl = NULL;
  struct resp r = {0};
  char *e, *eo;

  node_new("tok-jwt", &node);
  node_new("tok-jwt-other", &other);
  e = make_entry("spiffe://" TD "/jwt/one", node.id, "uid:30", 0);
  eo = make_entry("spiffe://" TD "/jwt/other", other.id, "uid:31", 0);
  c = client_new(&node);
  jwt_call(c, e, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  CHECK_OK(cairn_msg_jwt_resp_decode(r.body, r.len, &m));
  CHECK_OK(cairn_ca_bundle(g_ca, &b));
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
  CHECK(strstr(text(&r), "is not authorised for this node") != NULL);
  jwt_call(c, "no-such-entry", &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
  call(c, CAIRN_NET_POST, "/v1/jwt", (const uint8_t *)"\xa0", 1, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_BAD_REQUEST);
  client_free(c);
  free(e);
  free(eo);
  creds_free(&node);
  creds_free(&other);
  resp_clear(&r);
  still_serving();
}

/* ---- routes, server SVID, options ------------------------------------ */

static void test_routes(void)
{
  struct creds node;
  struct cairn_net_client *c;
  struct resp r = {0};

  node_new("tok-routes", &node);
  c = client_new(&node);
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
  client_free(c);
  creds_free(&node);
  resp_clear(&r);
}

static void test_server_svid(void)
{
  struct cairn_authority_stats s0, s1, s2;
  struct creds node;
  struct cairn_net_client *c;
  const struct cairn_net_peer *p;
  struct resp r = {0};
  time_t now = cairn_now();
  int rc;

  node_new("tok-server-svid", &node);
  cairn_authority_get_stats(g_auth, &s0);
  CHECK(s0.server_svids >= 1);
  CHECK(s0.server_not_after > now + 3500);

  /* Another X.509 CA becomes active: a new server SVID at once. */
  rc = cairn_ca_prepare_x509(g_ca);
  CHECK(rc == CAIRN_OK || rc == CAIRN_ERR_EXISTS);
  CHECK_OK(cairn_ca_activate_x509(g_ca));
  CHECK_OK(cairn_authority_bundle_changed(g_auth));
  cairn_authority_get_stats(g_auth, &s1);
  CHECK_INT_EQ(s1.server_svids, s0.server_svids + 1);
  CHECK(strcmp(s1.server_serial, s0.server_serial) != 0);
  /* A new session sees it and verifies it against the bundle. */
  c = client_new(&node);
  call(c, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r);
  CHECK_INT_EQ(r.code, CAIRN_NET_CONTENT);
  p = cairn_net_client_peer(c);
  CHECK(p != NULL);
  if (p) {
    CHECK_STR_EQ(p->serial, s1.server_serial);
    CHECK_STR_EQ(p->id.str, SERVER_ID);
  }
  client_free(c);

  /* Half life: the poll timer renews it. */
  cairn_time_set_fake(now + 1800 + 5);
  CHECK_OK(cairn_authority_bundle_changed(g_auth));
  cairn_time_set_fake(0);
  cairn_authority_get_stats(g_auth, &s2);
  CHECK_INT_EQ(s2.server_svids, s1.server_svids + 1);
  CHECK(strcmp(s2.server_serial, s1.server_serial) != 0);
  /* (That one is not valid yet in real time: rotate again now.) */
  CHECK_OK(cairn_authority_rotate_server_svid(g_auth));
  cairn_authority_get_stats(g_auth, &s1);
  CHECK_INT_EQ(s1.server_svids, s2.server_svids + 1);
  creds_free(&node);
  resp_clear(&r);
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
  CHECK_ERR(cairn_authority_new(&g_loop, g_st, g_ca, &o, &a), CAIRN_ERR_INVAL);
  CHECK(a == NULL);
  o.trust_domain = TD;
  o.node_svid_ttl = -1;
  CHECK_ERR(cairn_authority_new(&g_loop, g_st, g_ca, &o, &a), CAIRN_ERR_INVAL);
  o.node_svid_ttl = 0;
  /* An address that is not an IP literal. */
  o.bind_addr = "localhost";
  CHECK_ERR(cairn_authority_new(&g_loop, g_st, g_ca, &o, &a), CAIRN_ERR_INVAL);
  CHECK(a == NULL);
  o.bind_addr = "127.0.0.1";
  run_for(5);
  CHECK_ERR(cairn_authority_new(NULL, g_st, g_ca, &o, &a), CAIRN_ERR_INVAL);

  /* join_token off: 4.03. */
  o.port = 0;
  o.join_token = 0;
  CHECK_OK(cairn_authority_new(&g_loop, g_st, g_ca, &o, &a));
  if (a) {
    struct cairn_authority *keep = g_auth;
    struct resp r = {0};
    g_auth = a;
    new_token("tok-disabled", 600, NULL);
    attest("tok-disabled", &r, NULL);
    CHECK_INT_EQ(r.code, CAIRN_NET_FORBIDDEN);
    CHECK_STR_EQ(text(&r), "join_token attestation is not enabled");
    resp_clear(&r);
    g_auth = keep;
  }
  cairn_authority_free(a);
  run_for(5);
}

int main(void)
{
  struct cairn_ca_opts co;
  struct cairn_authority_opts ao;

  cairn_log_set_level(CAIRN_LOG_INFO);
  g_log = tmpfile();
  /* CAIRN_TEST_LOG=1 shows the log (the token checks then fail). */
  if (!getenv("CAIRN_TEST_LOG")) cairn_log_set_stream(g_log);
  CHECK_INT_EQ(uv_loop_init(&g_loop), 0);
  CHECK_OK(cairn_store_open(test_path("authority.db"), &g_st));
  memset(&co, 0, sizeof co);
  co.trust_domain = TD;
  co.key_manager = CAIRN_CA_KM_MEMORY;
  CHECK_OK(cairn_ca_new(&co, g_st, &g_ca));
  cairn_authority_opts_init(&ao);
  ao.bind_addr = "127.0.0.1";
  ao.poll_ms = 100;
  CHECK_OK(cairn_authority_new(&g_loop, g_st, g_ca, &ao, &g_auth));
  if (!g_auth) return test_done();

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

  cairn_authority_free(g_auth);
  creds_free(&g_probe);
  run_for(20);
  CHECK_INT_EQ(uv_loop_close(&g_loop), 0);
  cairn_ca_free(g_ca);
  cairn_store_close(g_st);
  cairn_log_set_stream(NULL);
  fclose(g_log);
  return test_done();
}
