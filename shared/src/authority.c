/* shared/src/authority.c - the server side of the tier protocol: lifecycle,
 * the server's own SVID, the bundle and revision resources, node
 * attestation and renewal. Entries, SVIDs and JWTs are in
 * authority_entries.c, the downstream resources in authority_downstream.c.
 * See cairn/authority.h and docs/library/authority.md.
 */
#include "authority_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/util.h"

#define MOD CAIRN__AUTH_MOD
#define SERVER_PATH "/spire/server"
#define AGENT_JOIN_TOKEN_PATH "/spire/agent/join_token/"
#define RETRY_S 10  /* after a failed server SVID renewal */

/* ======================================================================
 * Small helpers
 * ====================================================================== */

void cairn_authority_opts_init(struct cairn_authority_opts *o)
{
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->join_token = 1;
}

/* Copies untrusted text for a log line or a diagnostic: printable ASCII
 * only, at most outlen - 1 bytes. */
const char *cairn__auth_printable(const char *s, char *out, size_t outlen)
{
  size_t j = 0;

  for (size_t i = 0; s && s[i] && j + 1 < outlen; i++) {
    unsigned char ch = (unsigned char)s[i];
    out[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
  }
  out[j] = '\0';
  return out;
}

static const char *peer_name(const struct cairn_net_request *rq)
{
  return rq->peer->authenticated ? rq->peer->id.str : "bootstrap peer";
}

void cairn__auth_refuse(struct cairn_authority *a,
                        struct cairn_net_exchange *x,
                        const struct cairn_net_request *rq, int code,
                        const char *fmt, ...)
{
  char raw[CAIRN_NET_REASON_MAX + 1], reason[CAIRN_NET_REASON_MAX + 1];
  char cs[5];
  va_list ap;

  /* The diagnostic is one line of text (details may quote peer input). */
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  cairn__auth_printable(raw, reason, sizeof reason);
  if (code < 500) {
    a->stats.refused++;
    CAIRN_LOGW(MOD, "%s %s from %s (%s): %s %s",
               rq->method == CAIRN_NET_GET ? "GET" : "POST", rq->path,
               peer_name(rq), rq->peer->addr,
               cairn_net_code_str(code, cs), reason);
  } else {
    CAIRN_LOGE(MOD, "%s %s from %s (%s): %s %s",
               rq->method == CAIRN_NET_GET ? "GET" : "POST", rq->path,
               peer_name(rq), rq->peer->addr,
               cairn_net_code_str(code, cs), reason);
  }
  cairn_net_reply_error(x, code, "%s", reason);
}

void cairn__auth_decode_failed(struct cairn_authority *a,
                               struct cairn_net_exchange *x,
                               const struct cairn_net_request *rq, int r)
{
  char d[CAIRN_NET_REASON_MAX + 1];

  cairn__auth_printable(cairn_errdetail(), d, sizeof d);
  if (r == CAIRN_ERR_TOO_BIG)
    cairn__auth_refuse(a, x, rq, CAIRN_NET_TOO_LARGE, "%s", d);
  else if (r == CAIRN_ERR_PARSE || r == CAIRN_ERR_INVAL)
    cairn__auth_refuse(a, x, rq, CAIRN_NET_BAD_REQUEST, "%s", d);
  else
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR,
                       "cannot decode the request: %s", d);
}

int cairn__auth_need_node(struct cairn_authority *a,
                          struct cairn_net_exchange *x,
                          const struct cairn_net_request *rq,
                          struct cairn_node **node)
{
  struct cairn_node *n = NULL;
  int r;

  if (node) *node = NULL;
  if (!rq->peer->authenticated) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_UNAUTHORIZED,
                       "%s needs a node SVID", rq->path);
    return 0;
  }
  r = cairn_store_node_get(a->st, rq->peer->id.str, &n);
  if (r == CAIRN_ERR_NOT_FOUND) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_FORBIDDEN,
                       "node is not attested (evicted?)");
    return 0;
  }
  if (r) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    return 0;
  }
  if (n->banned) {
    cairn_node_free(n);
    cairn__auth_refuse(a, x, rq, CAIRN_NET_FORBIDDEN, "node is banned");
    return 0;
  }
  if (node) *node = n;
  else cairn_node_free(n);
  return 1;
}

int cairn__auth_need_ca(struct cairn_authority *a,
                        struct cairn_net_exchange *x,
                        const struct cairn_net_request *rq, int x509)
{
  struct cairn_ca_state s;
  const struct cairn_ca_slot_info *cur;
  time_t now = cairn_now();

  cairn_ca_get_status(a->ca, &s);
  cur = x509 ? &s.x509_current : &s.jwt_current;
  if (cur->state == CAIRN_CA_SLOT_ACTIVE && now < cur->not_after) return 1;
  cairn__auth_refuse(a, x, rq, CAIRN_NET_UNAVAILABLE, "no active %s",
                     x509 ? "X.509 CA" : "JWT signing key");
  return 0;
}

/* The CA manager's signing errors: no usable authority is 5.03, an ID or
 * argument it refuses is 4.00, anything else 5.00. */
int cairn__auth_sign_code(int r)
{
  if (r == CAIRN_ERR_NOT_FOUND || r == CAIRN_ERR_EXPIRED)
    return CAIRN_NET_UNAVAILABLE;
  if (r == CAIRN_ERR_POLICY || r == CAIRN_ERR_PARSE || r == CAIRN_ERR_INVAL)
    return CAIRN_NET_BAD_REQUEST;
  return CAIRN_NET_INTERNAL_ERROR;
}

/* A certificate list as a chain of DER byte strings pointing into l (no
 * copies: valid while l lives). *out: free() the array only. */
int cairn__auth_chain_view(const struct cairn_cert_list *l,
                           struct cairn_msg_chain *out)
{
  size_t n = cairn_cert_list_count(l);

  memset(out, 0, sizeof *out);
  if (!n || n > CAIRN_MSG_CHAIN_MAX)
    return cairn_seterr(CAIRN_ERR_INTERNAL, "chain of %zu certificates", n);
  if (!(out->certs = calloc(n, sizeof *out->certs))) return CAIRN_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    out->certs[i].data = (uint8_t *)cairn_cert_der(cairn_cert_list_at(l, i),
                                                   &out->certs[i].len);
  out->n = n;
  return CAIRN_OK;
}

/* ======================================================================
 * Bundle
 * ====================================================================== */


/* See authority_int.h. Whoever notices a new sequence first (the poll
 * timer, a handler, cairn_authority_bundle_changed()) notifies, so no
 * caller can swallow a change. */
int cairn__auth_sync_bundle(struct cairn_authority *a, int *changed)
{
  struct cairn_bundle *b = NULL;
  struct cairn_msg_bundle_resp m;
  char *json = NULL;
  uint8_t *body = NULL;
  size_t json_len = 0, body_len = 0;
  uint64_t seq;
  int r = CAIRN_ERR_INTERNAL;

  if (changed) *changed = 0;
  seq = cairn_ca_bundle_sequence(a->ca);
  if (a->bundle_set && seq == a->bundle_seq) return CAIRN_OK;
  if ((r = cairn_ca_bundle(a->ca, &b))) goto out;
  seq = cairn_bundle_sequence(b);
  if ((r = cairn_bundle_write_json(b, 0, &json, &json_len))) goto out;
  memset(&m, 0, sizeof m);
  m.trust_domain = a->td;
  m.sequence = seq;
  m.bundle = json;
  if ((r = cairn_msg_bundle_resp_encode(&m, &body, &body_len))) goto out;
  if ((r = cairn_net_server_set_bundle(a->srv, b))) goto out;
  free(a->bundle_json);
  free(a->bundle_body);
  a->bundle_json = json;
  a->bundle_json_len = json_len;
  a->bundle_body = body;
  a->bundle_body_len = body_len;
  json = NULL;
  body = NULL;
  if (a->bundle_set) {
    if (changed) *changed = 1;
    CAIRN_LOGI(MOD, "trust bundle now at sequence %llu",
               (unsigned long long)seq);
    cairn__auth_notify(a, "/v1/bundle");
    cairn__auth_notify(a, "/v1/revision");
  }
  a->bundle_seq = seq;
  a->bundle_set = 1;
  a->stats.bundle_sequence = seq;
  r = CAIRN_OK;
out:
  free(json);
  free(body);
  cairn_bundle_free(b);
  return r;
}

static void h_bundle(struct cairn_net_exchange *x,
                     const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;

  if (!cairn__auth_need_node(a, x, rq, NULL)) return;
  if (cairn__auth_sync_bundle(a, NULL)) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "bundle: %s",
                       cairn_errdetail());
    return;
  }
  cairn_net_reply(x, CAIRN_NET_CONTENT, a->bundle_body, a->bundle_body_len);
}

static void h_revision(struct cairn_net_exchange *x,
                       const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn_msg_revision_resp m;
  uint8_t *body = NULL;
  size_t len = 0;
  int64_t rev = 0;

  if (!cairn__auth_need_node(a, x, rq, NULL)) return;
  if (cairn_store_entry_revision(a->st, &rev, NULL)) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    return;
  }
  memset(&m, 0, sizeof m);
  m.entries = rev < 0 ? 0 : (uint64_t)rev;
  m.bundle = cairn_ca_bundle_sequence(a->ca);
  if (cairn__auth_fed_fingerprint(a, &m.federated)) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    return;
  }
  if (cairn_msg_revision_resp_encode(&m, &body, &len)) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    return;
  }
  cairn_net_reply(x, CAIRN_NET_CONTENT, body, len);
  free(body);
}

/* ======================================================================
 * The server SVID
 * ====================================================================== */

int cairn_authority_rotate_server_svid(struct cairn_authority *a)
{
  struct cairn_key *key = NULL;
  struct cairn_cert_list *chain = NULL;
  struct cairn_ca_state s;
  const struct cairn_cert *leaf;
  char *chain_pem = NULL, *key_pem = NULL;
  size_t chain_len = 0, key_len = 0;
  time_t nb, na;
  int r = CAIRN_ERR_INTERNAL;

  if (!a) return cairn_seterr(CAIRN_ERR_INVAL, "authority: NULL");
  cairn_ca_get_status(a->ca, &s);
  if ((r = cairn_key_generate(a->key_type, &key))) goto out;
  if ((r = cairn_ca_sign_x509_svid(a->ca, key, a->server_id, NULL, 0,
                                   a->server_ttl, &chain)))
    goto out;
  if ((r = cairn_cert_list_to_pem(chain, &chain_pem, &chain_len))) goto out;
  if ((r = cairn_key_export_private_pem(key, &key_pem, &key_len))) goto out;
  if ((r = cairn_net_server_set_credentials(a->srv, chain_pem, chain_len,
                                            key_pem, key_len)))
    goto out;
  leaf = cairn_cert_list_at(chain, 0);
  nb = cairn_cert_not_before(leaf);
  na = cairn_cert_not_after(leaf);
  a->svid_renew_at = nb + (na - nb) / 2;
  a->svid_retry_at = 0;
  snprintf(a->svid_ca_id, sizeof a->svid_ca_id, "%s", s.x509_current.id);
  if (cairn_cert_serial_hex(leaf, a->stats.server_serial,
                            sizeof a->stats.server_serial))
    a->stats.server_serial[0] = '\0';
  a->stats.server_not_after = na;
  a->stats.server_svids++;
  CAIRN_LOGI(MOD, "server SVID %s: serial=%s expires_at=%lld",
             a->server_id, a->stats.server_serial, (long long)na);
  r = CAIRN_OK;
out:
  if (key_pem) cairn_freezero(key_pem, key_len);
  free(chain_pem);
  cairn_cert_list_free(chain);
  cairn_key_free(key);
  return r;
}

/* Renews the server SVID at half life and when another X.509 CA became
 * active; after a failure, retries every RETRY_S seconds. */
static void check_server_svid(struct cairn_authority *a)
{
  struct cairn_ca_state s;
  time_t now = cairn_now();
  int due;

  if (a->svid_retry_at && now < a->svid_retry_at) return;
  cairn_ca_get_status(a->ca, &s);
  due = now >= a->svid_renew_at;
  if (!due && s.x509_current.state == CAIRN_CA_SLOT_ACTIVE &&
      strcmp(s.x509_current.id, a->svid_ca_id) != 0) {
    CAIRN_LOGI(MOD, "X.509 CA %s is now active: renewing the server SVID",
               s.x509_current.id);
    due = 1;
  }
  if (!due) return;
  if (cairn_authority_rotate_server_svid(a) != CAIRN_OK) {
    CAIRN_LOGE(MOD, "cannot renew the server SVID (retrying in %d s): %s",
               RETRY_S, cairn_errdetail());
    a->svid_retry_at = now + RETRY_S;
  }
}

/* ======================================================================
 * Change notifications and the poll timer
 * ====================================================================== */

void cairn__auth_notify(struct cairn_authority *a, const char *path)
{
  if (cairn_net_server_notify(a->srv, path) != CAIRN_OK)
    CAIRN_LOGW(MOD, "notify %s: %s", path, cairn_errdetail());
}

int cairn_authority_bundle_changed(struct cairn_authority *a)
{
  int r;

  if (!a) return cairn_seterr(CAIRN_ERR_INVAL, "authority: NULL");
  /* Notifies the observers when the sequence moved. */
  r = cairn__auth_sync_bundle(a, NULL);
  if (r) CAIRN_LOGE(MOD, "cannot load the trust bundle: %s",
                    cairn_errdetail());
  check_server_svid(a);
  return r;
}

int cairn_authority_entries_changed(struct cairn_authority *a)
{
  int64_t rev = 0;
  int r;

  if (!a) return cairn_seterr(CAIRN_ERR_INVAL, "authority: NULL");
  if ((r = cairn_store_entry_revision(a->st, &rev, NULL))) return r;
  if (a->entries_rev_known && rev == a->entries_rev) return CAIRN_OK;
  if (a->entries_rev_known)
    CAIRN_LOGD(MOD, "entries revision %lld -> %lld",
               (long long)a->entries_rev, (long long)rev);
  a->entries_rev = rev;
  a->stats.entries_revision = rev;
  if (a->entries_rev_known) cairn__auth_notify(a, "/v1/revision");
  a->entries_rev_known = 1;
  return CAIRN_OK;
}

static void on_poll(uv_timer_t *t)
{
  struct cairn_authority *a = t->data;

  if (!a) return;
  cairn_authority_bundle_changed(a);
  if (cairn_authority_entries_changed(a) != CAIRN_OK)
    CAIRN_LOGW(MOD, "cannot read the entries revision: %s",
               cairn_errdetail());
  cairn__auth_fed_changed(a);
}

/* ======================================================================
 * POST /v1/attest
 * ====================================================================== */

/* Refuses an attestation for a token reason. The log names the token by
 * its first 4 characters only. */
static void refuse_token(struct cairn_authority *a,
                         struct cairn_net_exchange *x,
                         const struct cairn_net_request *rq,
                         const char *tshow, const char *reason)
{
  a->stats.refused++;
  CAIRN_LOGW(MOD, "attestation refused: join token %.4s... from %s (%s): %s",
             tshow, peer_name(rq), rq->peer->addr, reason);
  cairn_net_reply_error(x, CAIRN_NET_FORBIDDEN, "%s", reason);
}

/* A join token is also the last segment of the agent ID. */
static int token_chars_ok(const char *t)
{
  if (!t[0]) return 0;
  for (; *t; t++) {
    char ch = *t;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      return 0;
  }
  return 1;
}

/* The alias entry of a join token created with an agent ID, as SPIRE
 * makes it: spiffe_id = the alias, parent = the node, selector
 * spiffe_id:<node ID>. An identical entry already there is fine. */
static int make_alias_entry(struct cairn_authority *a, const char *alias,
                            const char *node_id)
{
  struct cairn_entry e;
  struct cairn_selector sel;
  int r;

  memset(&e, 0, sizeof e);
  sel.type = (char *)CAIRN_AUTHORITY_ALIAS_SELECTOR;
  sel.value = (char *)node_id;
  e.spiffe_id = (char *)alias;
  e.parent_id = (char *)node_id;
  e.selectors = &sel;
  e.n_selectors = 1;
  e.owner = a->owner;
  r = cairn_store_entry_create(a->st, &e, NULL);
  if (r == CAIRN_ERR_EXISTS) return CAIRN_OK;
  return r;
}

static void h_attest(struct cairn_net_exchange *x,
                     const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn_msg_attest_req m;
  struct cairn_msg_attest_resp resp;
  struct cairn_key *pub = NULL;
  struct cairn_join_token *tok = NULL;
  struct cairn_node *old = NULL, node;
  struct cairn_cert_list *chain = NULL;
  struct cairn_id id;
  const struct cairn_cert *leaf;
  char tshow[8], buf[CAIRN_NET_REASON_MAX + 1], serial[41];
  char idbuf[CAIRN_ID_MAX + 1];
  uint8_t *body = NULL;
  size_t body_len = 0;
  int r, in_tx = 0;

  memset(&resp, 0, sizeof resp);
  if ((r = cairn_msg_attest_req_decode(rq->body, rq->body_len, &m))) {
    cairn__auth_decode_failed(a, x, rq, r);
    return;
  }
  /* Tokens are secrets: only their first 4 characters are ever shown. */
  cairn__auth_printable(m.token, tshow, 5);
  if (!a->join_token) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_FORBIDDEN,
                       "join_token attestation is not enabled");
    goto out;
  }
  if (strcmp(m.type, "join_token") != 0) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_FORBIDDEN,
                       "attestation type \"%s\" is not supported",
                       cairn__auth_printable(m.type, buf, 65));
    goto out;
  }
  if ((r = cairn_csr_parse(m.csr.data, m.csr.len, &pub))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_BAD_REQUEST, "csr: %s",
                       cairn__auth_printable(cairn_errdetail(), buf, sizeof buf));
    goto out;
  }
  /* A token that cannot be an ID segment cannot exist in the store. */
  if (!token_chars_ok(m.token) ||
      (size_t)snprintf(idbuf, sizeof idbuf, "spiffe://%s%s%s", a->td,
                       AGENT_JOIN_TOKEN_PATH, m.token) >= sizeof idbuf ||
      cairn_id_parse_str(idbuf, &id) != CAIRN_OK) {
    refuse_token(a, x, rq, tshow,
                 "join token does not exist or has already been used");
    goto out;
  }

  /* Consume, sign and record in one write transaction: a refusal or a
   * failure after the token was consumed leaves it unused. */
  if ((r = cairn_store_begin(a->st))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    goto out;
  }
  in_tx = 1;
  r = cairn_store_token_consume(a->st, m.token, &tok);
  if (r == CAIRN_ERR_NOT_FOUND || r == CAIRN_ERR_EXPIRED) {
    refuse_token(a, x, rq, tshow,
                 r == CAIRN_ERR_EXPIRED ? "join token expired" :
                 "join token does not exist or has already been used");
    goto out;
  }
  if (r) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    goto out;
  }
  r = cairn_store_node_get(a->st, id.str, &old);
  if (r == CAIRN_OK && old->banned) {
    refuse_token(a, x, rq, tshow, "node is banned");
    goto out;
  }
  if (r != CAIRN_OK && r != CAIRN_ERR_NOT_FOUND) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    goto out;
  }
  if ((r = cairn_ca_sign_x509_svid(a->ca, pub, id.str, NULL, 0, a->node_ttl,
                                   &chain))) {
    cairn__auth_refuse(a, x, rq, cairn__auth_sign_code(r), "cannot sign: %s",
                       cairn_errdetail());
    goto out;
  }
  leaf = cairn_cert_list_at(chain, 0);
  if (cairn_cert_serial_hex(leaf, serial, sizeof serial)) serial[0] = '\0';
  memset(&node, 0, sizeof node);
  node.spiffe_id = id.str;
  node.attestation_type = "join_token";
  node.cert_serial = serial;
  node.cert_not_after = (int64_t)cairn_cert_not_after(leaf);
  r = cairn_store_node_upsert(a->st, &node, NULL);
  if (r == CAIRN_ERR_DENIED) {
    refuse_token(a, x, rq, tshow, "node is banned");
    goto out;
  }
  if (!r && tok->spiffe_id[0]) r = make_alias_entry(a, tok->spiffe_id, id.str);
  if (r) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    goto out;
  }
  if ((r = cairn__auth_sync_bundle(a, NULL))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "bundle: %s",
                       cairn_errdetail());
    goto out;
  }
  resp.spiffe_id = id.str;
  resp.bundle = a->bundle_json;
  if ((r = cairn__auth_chain_view(chain, &resp.svid)) ||
      (r = cairn_msg_attest_resp_encode(&resp, &body, &body_len))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    goto out;
  }
  in_tx = 0;
  if ((r = cairn_store_commit(a->st))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    goto out;
  }
  a->stats.attested++;
  CAIRN_LOGI(MOD, "node attested: spiffe_id=%s type=join_token serial=%s "
             "expires_at=%lld peer=%s%s%s", id.str, serial,
             (long long)node.cert_not_after, rq->peer->addr,
             tok->spiffe_id[0] ? " alias=" : "", tok->spiffe_id);
  cairn_net_reply(x, CAIRN_NET_CREATED, body, body_len);
out:
  if (in_tx) cairn_store_rollback(a->st);
  free(resp.svid.certs);
  free(body);
  cairn_cert_list_free(chain);
  cairn_node_free(old);
  cairn_join_token_free(tok);
  cairn_key_free(pub);
  cairn_msg_attest_req_clear(&m);
  cairn_memzero(&id, sizeof id);
  cairn_memzero(idbuf, sizeof idbuf);
}

/* ======================================================================
 * POST /v1/node/renew
 * ====================================================================== */

static void h_renew(struct cairn_net_exchange *x,
                    const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn_msg_renew_req m;
  struct cairn_msg_renew_resp resp;
  struct cairn_node *node = NULL, upd;
  struct cairn_key *pub = NULL;
  struct cairn_cert_list *chain = NULL;
  const struct cairn_cert *leaf;
  char serial[41], buf[CAIRN_NET_REASON_MAX + 1];
  uint8_t *body = NULL;
  size_t body_len = 0;
  int r;

  memset(&m, 0, sizeof m);
  memset(&resp, 0, sizeof resp);
  if (!cairn__auth_need_node(a, x, rq, &node)) goto out;
  if ((r = cairn_msg_renew_req_decode(rq->body, rq->body_len, &m))) {
    cairn__auth_decode_failed(a, x, rq, r);
    goto out;
  }
  if ((r = cairn_csr_parse(m.csr.data, m.csr.len, &pub))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_BAD_REQUEST, "csr: %s",
                       cairn__auth_printable(cairn_errdetail(), buf, sizeof buf));
    goto out;
  }
  if ((r = cairn_ca_sign_x509_svid(a->ca, pub, node->spiffe_id, NULL, 0,
                                   a->node_ttl, &chain))) {
    cairn__auth_refuse(a, x, rq, cairn__auth_sign_code(r), "cannot sign: %s",
                       cairn_errdetail());
    goto out;
  }
  leaf = cairn_cert_list_at(chain, 0);
  if (cairn_cert_serial_hex(leaf, serial, sizeof serial)) serial[0] = '\0';
  upd = *node;
  upd.cert_serial = serial;
  upd.cert_not_after = (int64_t)cairn_cert_not_after(leaf);
  r = cairn_store_node_upsert(a->st, &upd, NULL);
  if (r == CAIRN_ERR_DENIED) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_FORBIDDEN, "node is banned");
    goto out;
  }
  if (r) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "datastore: %s",
                       cairn_errdetail());
    goto out;
  }
  if ((r = cairn__auth_chain_view(chain, &resp.svid)) ||
      (r = cairn_msg_renew_resp_encode(&resp, &body, &body_len))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    goto out;
  }
  a->stats.renewed++;
  CAIRN_LOGI(MOD, "node SVID renewed: spiffe_id=%s serial=%s "
             "expires_at=%lld", node->spiffe_id, serial,
             (long long)upd.cert_not_after);
  cairn_net_reply(x, CAIRN_NET_CREATED, body, body_len);
out:
  free(resp.svid.certs);
  free(body);
  cairn_cert_list_free(chain);
  cairn_key_free(pub);
  cairn_node_free(node);
  cairn_msg_renew_req_clear(&m);
}

/* ======================================================================
 * Lifecycle
 * ====================================================================== */

static void timer_closed(uv_handle_t *h)
{
  free(h);
}

void cairn_authority_free(struct cairn_authority *a)
{
  if (!a) return;
  cairn_net_server_free(a->srv);
  if (a->timer) {
    a->timer->data = NULL;
    uv_timer_stop(a->timer);
    uv_close((uv_handle_t *)a->timer, timer_closed);
  }
  cairn__auth_seen_free_all(a);
  free(a->owner);
  free(a->bundle_json);
  free(a->bundle_body);
  cairn_memzero(a, sizeof *a);
  free(a);
}

uint16_t cairn_authority_port(const struct cairn_authority *a)
{
  return a ? cairn_net_server_port(a->srv) : 0;
}

void cairn_authority_get_stats(const struct cairn_authority *a,
                               struct cairn_authority_stats *st)
{
  if (!st) return;
  memset(st, 0, sizeof *st);
  if (a) *st = a->stats;
}

static int ttl_opt(const char *name, int64_t v, int64_t def, int64_t *out)
{
  if (v < 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "authority: %s must not be "
                        "negative", name);
  *out = v ? v : def;
  return CAIRN_OK;
}

static const struct {
  enum cairn_net_method method;
  const char *path;
  unsigned flags;
  cairn_net_handler_fn fn;
} g_routes[] = {
  {CAIRN_NET_POST, "/v1/attest", CAIRN_NET_ROUTE_BOOTSTRAP, h_attest},
  {CAIRN_NET_POST, "/v1/node/renew", 0, h_renew},
  {CAIRN_NET_GET, "/v1/bundle", CAIRN_NET_ROUTE_OBSERVABLE, h_bundle},
  {CAIRN_NET_GET, "/v1/revision", CAIRN_NET_ROUTE_OBSERVABLE, h_revision},
  {CAIRN_NET_GET, "/v1/entries", 0, cairn__auth_h_entries},
  {CAIRN_NET_GET, "/v1/federated", 0, cairn__auth_h_federated},
  {CAIRN_NET_POST, "/v1/svids", 0, cairn__auth_h_svids},
  {CAIRN_NET_POST, "/v1/jwt", 0, cairn__auth_h_jwt},
  {CAIRN_NET_POST, "/v1/downstream/ca", 0, cairn__auth_h_ds_ca},
  {CAIRN_NET_POST, "/v1/downstream/jwt-key", 0, cairn__auth_h_ds_jwt_key},
};

int cairn_authority_new(uv_loop_t *loop, struct cairn_store *store,
                        struct cairn_ca *ca,
                        const struct cairn_authority_opts *opts,
                        struct cairn_authority **out)
{
  struct cairn_authority_opts defo;
  struct cairn_net_server_opts no;
  struct cairn_authority *a = NULL;
  const char *td;
  int r = CAIRN_ERR_INTERNAL;

  if (out) *out = NULL;
  if (!loop || !store || !ca || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "authority: NULL argument");
  if (!opts) {
    cairn_authority_opts_init(&defo);
    opts = &defo;
  }
  td = cairn_ca_trust_domain(ca);
  if (opts->trust_domain && strcmp(opts->trust_domain, td) != 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "authority: trust domain %s is not "
                        "the CA's (%s)", opts->trust_domain, td);
  if (opts->server_key_type && !cairn_key_type_name(opts->server_key_type))
    return cairn_seterr(CAIRN_ERR_INVAL, "authority: bad server key type");
  if (!(a = calloc(1, sizeof *a))) return CAIRN_ERR_NOMEM;
  a->loop = loop;
  a->st = store;
  a->ca = ca;
  snprintf(a->td, sizeof a->td, "%s", td);
  snprintf(a->server_id, sizeof a->server_id, "spiffe://%s" SERVER_PATH, td);
  if ((r = ttl_opt("default_x509_svid_ttl", opts->default_x509_svid_ttl,
                   CAIRN_CA_X509_SVID_TTL_DEFAULT, &a->x509_ttl)) ||
      (r = ttl_opt("default_jwt_svid_ttl", opts->default_jwt_svid_ttl,
                   CAIRN_CA_JWT_SVID_TTL_DEFAULT, &a->jwt_ttl)) ||
      (r = ttl_opt("node_svid_ttl", opts->node_svid_ttl, a->x509_ttl,
                   &a->node_ttl)) ||
      (r = ttl_opt("server_svid_ttl", opts->server_svid_ttl, a->x509_ttl,
                   &a->server_ttl)) ||
      (r = ttl_opt("downstream_ca_ttl", opts->downstream_ca_ttl, 0,
                   &a->ds_ca_ttl)))
    goto out;
  a->key_type = opts->server_key_type ? opts->server_key_type
                                      : CAIRN_KEY_EC_P256;
  a->join_token = opts->join_token;
  a->poll_ms = opts->poll_ms ? opts->poll_ms : CAIRN_AUTHORITY_POLL_MS_DEFAULT;
  if (!(a->owner = cairn_strdup(opts->entry_owner ? opts->entry_owner
                                    : CAIRN_AUTHORITY_OWNER_DEFAULT))) {
    r = CAIRN_ERR_NOMEM;
    goto out;
  }

  cairn_net_server_opts_init(&no);
  no.bind_addr = opts->bind_addr;
  no.port = opts->port;
  no.max_body = CAIRN_AUTHORITY_BODY_MAX;
  no.max_sessions = opts->max_sessions;
  no.allow_bootstrap = 1;
  if ((r = cairn_net_server_new(loop, &no, &a->srv))) goto out;
  if ((r = cairn_authority_rotate_server_svid(a))) goto out;
  if ((r = cairn__auth_sync_bundle(a, NULL))) goto out;
  for (size_t i = 0; i < sizeof g_routes / sizeof g_routes[0]; i++)
    if ((r = cairn_net_server_route(a->srv, g_routes[i].method,
                                    g_routes[i].path, g_routes[i].flags,
                                    g_routes[i].fn, a)))
      goto out;
  if ((r = cairn_authority_entries_changed(a))) goto out;
  if (!(a->timer = malloc(sizeof *a->timer))) {
    r = CAIRN_ERR_NOMEM;
    goto out;
  }
  if (uv_timer_init(loop, a->timer) != 0) {
    free(a->timer);
    a->timer = NULL;
    r = cairn_seterr(CAIRN_ERR_INTERNAL, "authority: uv_timer_init failed");
    goto out;
  }
  a->timer->data = a;
  if ((r = cairn_net_server_listen(a->srv))) goto out;
  uv_timer_start(a->timer, on_poll, a->poll_ms, a->poll_ms);
  CAIRN_LOGI(MOD, "serving %s on %s port %u (join_token attestation %s)",
             a->server_id, opts->bind_addr ? opts->bind_addr : "0.0.0.0",
             (unsigned)cairn_net_server_port(a->srv),
             a->join_token ? "on" : "off");
  *out = a;
  a = NULL;
  r = CAIRN_OK;
out:
  if (a) {
    /* Keep the detail of the failure across the frees. */
    char d[512];
    snprintf(d, sizeof d, "%s", cairn_errdetail());
    cairn_authority_free(a);
    cairn_seterr(r, "%s", d);
  }
  return r;
}
