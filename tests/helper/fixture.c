/* tests/helper/fixture.c - see fixture.h */
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/util.h"
#include "test.h"

/* ---- the loop ------------------------------------------------------------ */

static void on_deadline(uv_timer_t *t)
{
  *(int *)t->data = 1;
}

int fx_loop_until(uv_loop_t *loop, int (*pred)(void *), void *arg, int ms)
{
  uv_timer_t t;
  int timed_out = 0;

  uv_timer_init(loop, &t);
  t.data = &timed_out;
  uv_timer_start(&t, on_deadline, (uint64_t)ms, 0);
  while (!pred(arg) && !timed_out) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return pred(arg);
}

struct count {
  const int *flag;
  int want;
};

/* Holds once *flag reaches want; never for a NULL flag. */
static int count_reached(void *arg)
{
  const struct count *c = arg;
  return c->flag && *c->flag >= c->want;
}

int fx_loop_until_count(uv_loop_t *loop, const int *flag, int want, int ms)
{
  struct count c = {flag, want};

  return fx_loop_until(loop, count_reached, &c, ms) || !flag;
}

void fx_loop_for(uv_loop_t *loop, int ms)
{
  fx_loop_until_count(loop, NULL, 0, ms);
}

/* ---- certificates and credentials ---------------------------------------- */

struct cairn_cert *fx_issue(enum cairn_cert_kind kind, const char *id,
                            time_t now, int64_t ttl,
                            const struct cairn_key *pub,
                            const struct cairn_key *ikey,
                            const struct cairn_cert *icert)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;

  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.now = now;
  t.ttl = ttl;
  t.path_len = -1;
  CHECK_OK(cairn_cert_issue(&t, pub, ikey, icert, &c));
  return c;
}

struct cairn_key *fx_csr_new(uint8_t **csr, size_t *len)
{
  struct cairn_key *k = NULL;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  CHECK_OK(cairn_csr_create(k, csr, len));
  return k;
}

struct cairn_cert_list *fx_chain_list(const struct cairn_msg_chain *ch)
{
  struct cairn_cert_list *l = NULL;

  CHECK_OK(cairn_cert_list_new(&l));
  for (size_t i = 0; l && i < ch->n; i++) {
    struct cairn_cert *c = NULL;
    CHECK_OK(cairn_cert_parse_der(ch->certs[i].data, ch->certs[i].len, &c));
    if (c) CHECK_OK(cairn_cert_list_push(l, c));
  }
  return l;
}

void fx_creds_free(struct fx_creds *c)
{
  free(c->chain);
  if (c->key) cairn_freezero(c->key, c->key_len);
  memset(c, 0, sizeof *c);
}

void fx_creds_bootstrap(struct fx_creds *c)
{
  struct cairn_key *k = NULL;

  memset(c, 0, sizeof *c);
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  CHECK_OK(cairn_net_bootstrap_cert(k, 600, &c->chain, &c->chain_len));
  CHECK_OK(cairn_key_export_private_pem(k, &c->key, &c->key_len));
  cairn_key_free(k);
}

void fx_creds_make(struct fx_creds *c, const struct cairn_cert *leaf,
                   const struct cairn_cert *extra,
                   const struct cairn_key *key)
{
  struct cairn_cert_list *l = NULL;

  memset(c, 0, sizeof *c);
  CHECK_OK(cairn_cert_list_new(&l));
  CHECK_OK(cairn_cert_list_push_copy(l, leaf));
  if (extra) CHECK_OK(cairn_cert_list_push_copy(l, extra));
  CHECK_OK(cairn_cert_list_to_pem(l, &c->chain, &c->chain_len));
  CHECK_OK(cairn_key_export_private_pem(key, &c->key, &c->key_len));
  CHECK_OK(cairn_cert_serial_hex(leaf, c->serial, sizeof c->serial));
  cairn_cert_list_free(l);
}

void fx_creds_leaf(struct fx_creds *c, const char *id, time_t now,
                   int64_t ttl, const struct cairn_key *ikey,
                   const struct cairn_cert *icert,
                   const struct cairn_cert *extra)
{
  struct cairn_key *k = NULL;
  struct cairn_cert *leaf;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  leaf = fx_issue(CAIRN_CERT_LEAF, id, now, ttl, k, ikey, icert);
  fx_creds_make(c, leaf, extra, k);
  snprintf(c->id, sizeof c->id, "%s", id);
  cairn_cert_free(leaf);
  cairn_key_free(k);
}

/* ---- clients and their responses ----------------------------------------- */

struct cairn_net_client *fx_client_new(uv_loop_t *loop,
                                       const struct cairn_net_client_opts *o,
                                       const struct fx_creds *cr,
                                       const struct cairn_bundle *b)
{
  struct cairn_net_client *c = NULL;

  CHECK_OK(cairn_net_client_new(loop, o, &c));
  if (!c) return NULL;
  CHECK_OK(cairn_net_client_set_credentials(c, cr->chain, cr->chain_len,
                                            cr->key, cr->key_len));
  if (b) CHECK_OK(cairn_net_client_set_bundle(c, b));
  return c;
}

void fx_client_free(uv_loop_t *loop, struct cairn_net_client *c)
{
  cairn_net_client_free(c);
  fx_loop_for(loop, 5);
}

void fx_resp_clear(struct fx_resp *r)
{
  free(r->body);
  memset(r, 0, sizeof *r);
}

void fx_on_resp(int err, const struct cairn_net_response *resp, void *arg)
{
  struct fx_resp *out = arg;

  free(out->body);
  out->body = NULL;
  out->len = 0;
  out->err = err;
  out->code = 0;
  if (resp) {
    out->code = resp->code;
    out->cf = resp->content_format;
    out->observing = resp->observing;
    if (resp->body_len) {
      out->body = malloc(resp->body_len);
      memcpy(out->body, resp->body, resp->body_len);
      out->len = resp->body_len;
    }
  }
  out->done++;
}

void fx_call(uv_loop_t *loop, struct cairn_net_client *c,
             enum cairn_net_method m, const char *path, const uint8_t *body,
             size_t len, struct fx_resp *r, int ms)
{
  fx_resp_clear(r);
  CHECK_OK(cairn_net_client_request(c, m, path, body, len, fx_on_resp, r));
  CHECK(fx_loop_until_count(loop, &r->done, 1, ms));
}

const char *fx_resp_text(const struct fx_resp *r)
{
  static char buf[512];
  size_t n = r->len < sizeof buf - 1 ? r->len : sizeof buf - 1;

  memcpy(buf, r->body ? (const char *)r->body : "", n);
  buf[n] = '\0';
  return buf;
}

/* ---- servers ------------------------------------------------------------- */

struct cairn_net_server *fx_server_start(uv_loop_t *loop, uint16_t port,
                                         const struct fx_creds *cr,
                                         const struct cairn_bundle *b,
                                         int allow_bootstrap, size_t max_body,
                                         const struct fx_route *routes)
{
  struct cairn_net_server_opts o;
  struct cairn_net_server *s = NULL;

  cairn_net_server_opts_init(&o);
  o.bind_addr = "127.0.0.1";
  o.port = port;
  o.allow_bootstrap = allow_bootstrap;
  if (max_body) o.max_body = max_body;
  CHECK_OK(cairn_net_server_new(loop, &o, &s));
  if (!s) return NULL;
  CHECK_OK(cairn_net_server_set_credentials(s, cr->chain, cr->chain_len,
                                            cr->key, cr->key_len));
  CHECK_OK(cairn_net_server_set_bundle(s, b));
  for (; routes && routes->path; routes++)
    CHECK_OK(cairn_net_server_route(s, routes->method, routes->path,
                                    routes->flags, routes->fn, NULL));
  CHECK_OK(cairn_net_server_listen(s));
  CHECK(cairn_net_server_port(s) != 0);
  return s;
}

/* ---- an authority in process --------------------------------------------- */

int fx_authority_start(struct fx_authority *a, const char *db,
                       const char *td, int poll_ms)
{
  struct cairn_ca_opts co;
  struct cairn_authority_opts ao;

  memset(a, 0, sizeof *a);
  snprintf(a->server_id, sizeof a->server_id, "spiffe://%s/spire/server", td);
  cairn_log_set_level(CAIRN_LOG_INFO);
  a->log = tmpfile();
  CHECK(a->log != NULL);
  /* CAIRN_TEST_LOG=1 shows the log (the log checks then fail). */
  if (a->log && !getenv("CAIRN_TEST_LOG")) cairn_log_set_stream(a->log);
  CHECK_INT_EQ(uv_loop_init(&a->loop), 0);
  CHECK_OK(cairn_store_open(test_path(db), &a->st));
  memset(&co, 0, sizeof co);
  co.trust_domain = td;
  co.key_manager = CAIRN_CA_KM_MEMORY;
  CHECK_OK(cairn_ca_new(&co, a->st, &a->ca));
  cairn_authority_opts_init(&ao);
  ao.bind_addr = "127.0.0.1";
  ao.poll_ms = poll_ms;
  CHECK_OK(cairn_authority_new(&a->loop, a->st, a->ca, &ao, &a->auth));
  return a->auth ? 0 : -1;
}

void fx_authority_stop(struct fx_authority *a)
{
  cairn_authority_free(a->auth);
  a->auth = NULL;
  fx_loop_for(&a->loop, 20);
  CHECK_INT_EQ(uv_loop_close(&a->loop), 0);
  cairn_ca_free(a->ca);
  a->ca = NULL;
  cairn_store_close(a->st);
  a->st = NULL;
  cairn_log_set_stream(NULL);
  if (a->log) fclose(a->log);
  a->log = NULL;
}

char *fx_authority_log(struct fx_authority *a)
{
  long n;
  char *s;

  fflush(a->log);
  n = ftell(a->log);
  s = calloc(1, (size_t)n + 1);
  rewind(a->log);
  if (n > 0 && fread(s, 1, (size_t)n, a->log) != (size_t)n) s[0] = '\0';
  fseek(a->log, 0, SEEK_END);
  return s;
}

struct cairn_net_client *fx_authority_client(struct fx_authority *a,
                                             const struct fx_creds *cr)
{
  struct cairn_net_client_opts o;
  struct cairn_net_client *c;
  struct cairn_bundle *b = NULL;

  cairn_net_client_opts_init(&o);
  o.host = "127.0.0.1";
  o.port = cairn_authority_port(a->auth);
  o.server_id = a->server_id;
  o.timeout_ms = 8000;
  o.max_response = 16u * 1024 * 1024;
  CHECK_OK(cairn_ca_bundle(a->ca, &b));
  c = fx_client_new(&a->loop, &o, cr, b);
  cairn_bundle_free(b);
  return c;
}

char *fx_authority_entry(struct fx_authority *a, struct cairn_entry in,
                         const char *spiffe_id, const char *parent,
                         const char *sel_value)
{
  struct cairn_entry *out = NULL;
  struct cairn_selector sel;
  char *id;

  sel.type = "unix";
  sel.value = (char *)sel_value;
  in.spiffe_id = (char *)spiffe_id;
  in.parent_id = (char *)parent;
  in.selectors = &sel;
  in.n_selectors = 1;
  in.owner = "cloud";
  CHECK_OK(cairn_store_entry_create(a->st, &in, &out));
  id = cairn_strdup(out ? out->entry_id : "?");
  cairn_entry_free(out);
  return id;
}

void fx_authority_attest(struct fx_authority *a, const char *token,
                         struct fx_resp *r, struct fx_creds *node)
{
  struct fx_creds boot;
  struct cairn_net_client *c;
  struct cairn_key *k;
  struct cairn_msg_attest_req m;
  uint8_t *csr = NULL, *body = NULL;
  size_t csr_len = 0, len = 0;

  fx_creds_bootstrap(&boot);
  c = fx_authority_client(a, &boot);
  k = fx_csr_new(&csr, &csr_len);
  memset(&m, 0, sizeof m);
  m.type = "join_token";
  m.token = (char *)token;
  m.csr.data = csr;
  m.csr.len = csr_len;
  CHECK_OK(cairn_msg_attest_req_encode(&m, &body, &len));
  fx_call(&a->loop, c, CAIRN_NET_POST, "/v1/attest", body, len, r, 30000);
  if (node) memset(node, 0, sizeof *node);
  if (node && r->code == CAIRN_NET_CREATED) {
    struct cairn_msg_attest_resp am;
    struct cairn_cert_list *l;
    CHECK_OK(cairn_msg_attest_resp_decode(r->body, r->len, &am));
    snprintf(node->id, sizeof node->id, "%s",
             am.spiffe_id ? am.spiffe_id : "");
    l = fx_chain_list(&am.svid);
    CHECK_OK(cairn_cert_list_to_pem(l, &node->chain, &node->chain_len));
    CHECK_OK(cairn_cert_serial_hex(cairn_cert_list_at(l, 0), node->serial,
                                   sizeof node->serial));
    CHECK_OK(cairn_key_export_private_pem(k, &node->key, &node->key_len));
    cairn_cert_list_free(l);
    cairn_msg_attest_resp_clear(&am);
  }
  free(body);
  free(csr);
  cairn_key_free(k);
  fx_client_free(&a->loop, c);
  fx_creds_free(&boot);
}

void fx_authority_node(struct fx_authority *a, const char *token,
                       struct fx_creds *node)
{
  struct fx_resp r = {0};

  CHECK_OK(cairn_store_token_create(a->st, token, NULL,
                                    (int64_t)cairn_now() + 600, NULL));
  fx_authority_attest(a, token, &r, node);
  CHECK_INT_EQ(r.code, CAIRN_NET_CREATED);
  fx_resp_clear(&r);
}
