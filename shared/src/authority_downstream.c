/* shared/src/authority_downstream.c - what an upstream serves to its
 * downstream servers (cairn-edge): who is a downstream and within which
 * path scope (the downstream entries of its authorised set), the
 * intermediate CA (POST /v1/downstream/ca) and the publication of a
 * downstream's JWT keys into the bundle (POST /v1/downstream/jwt-key).
 * See cairn/authority.h and docs/protocol.md. */
#include "authority_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/util.h"

#define MOD CAIRN__AUTH_MOD

/* ======================================================================
 * The downstream grant
 * ====================================================================== */

void cairn__auth_ds_clear(struct cairn__auth_ds *d)
{
  if (!d) return;
  free(d->v);
  memset(d, 0, sizeof *d);
}

int cairn__auth_ds_load(const struct cairn__authset *s, time_t now,
                        struct cairn__auth_ds *d)
{
  size_t n = 0;

  memset(d, 0, sizeof *d);
  for (size_t i = 0; i < s->n; i++)
    if (s->idx[i]->downstream) n++;
  if (!n) return CAIRN_OK;
  if (!(d->v = calloc(n, sizeof *d->v))) return CAIRN_ERR_NOMEM;
  /* s->idx is sorted by entry ID, so "first" is deterministic. */
  for (size_t i = 0; i < s->n; i++) {
    const struct cairn_entry *e = s->idx[i];
    if (!e->downstream) continue;
    d->v[d->n++] = e;
    /* The store refuses malformed scopes; cairn_scope_match() would
     * match nothing with one anyway. */
    if (!e->scope || !e->scope[0]) d->unscoped = 1;
    if (!d->active && !(e->expires_at > 0 && e->expires_at <= (int64_t)now))
      d->active = e;
  }
  return CAIRN_OK;
}

int cairn__auth_ds_allows(const struct cairn__auth_ds *d,
                          const char *spiffe_id)
{
  if (!d->n || d->unscoped) return 1;
  for (size_t i = 0; i < d->n; i++)
    if (cairn_scope_match(d->v[i]->scope, spiffe_id)) return 1;
  return 0;
}

int cairn__auth_grant_load(struct cairn_authority *a,
                           struct cairn_net_exchange *x,
                           const struct cairn_net_request *rq, time_t now,
                           struct cairn__authset *s,
                           struct cairn__auth_ds *d)
{
  memset(s, 0, sizeof *s);
  memset(d, 0, sizeof *d);
  if (!cairn__authset_snapshot(a, rq->peer->id.str, s, NULL) &&
      !cairn__auth_ds_load(s, now, d))
    return 1;
  cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "entries: %s",
                     cairn_errdetail());
  cairn__auth_ds_clear(d);
  cairn__authset_clear(s);
  return 0;
}

/* Checks that the peer is a node with an unexpired downstream entry.
 * Returns 1 with *s and *d loaded (the caller clears both); otherwise
 * answers (4.01/4.03/5.00) and returns 0 with both cleared. */
static int need_downstream(struct cairn_authority *a,
                           struct cairn_net_exchange *x,
                           const struct cairn_net_request *rq,
                           struct cairn__authset *s, struct cairn__auth_ds *d)
{
  if (!cairn__auth_grant_load(a, x, rq, cairn_now(), s, d)) return 0;
  if (!d->active) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_FORBIDDEN,
                       d->n ? "node %s has no unexpired downstream entry"
                            : "node %s has no downstream entry",
                       rq->peer->id.str);
    goto fail;
  }
  return 1;
fail:
  cairn__auth_ds_clear(d);
  cairn__authset_clear(s);
  return 0;
}

/* ======================================================================
 * POST /v1/downstream/ca
 * ====================================================================== */

/* The lifetime of a downstream CA: the option, or the active X.509 CA's
 * own lifetime (the ca_ttl it was made with). */
static int64_t ds_ca_ttl(const struct cairn_authority *a)
{
  struct cairn_ca_state st;
  int64_t l;

  if (a->ds_ca_ttl > 0) return a->ds_ca_ttl;
  cairn_ca_get_status(a->ca, &st);
  l = st.x509_current.not_after - st.x509_current.not_before -
      CAIRN_CERT_BACKDATE;
  return l > 0 ? l : CAIRN_CA_TTL_DEFAULT;
}

void cairn__auth_h_ds_ca(struct cairn_net_exchange *x,
                         const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn_msg_ds_ca_req m;
  struct cairn_msg_ds_ca_resp resp;
  struct cairn__authset s;
  struct cairn__auth_ds d;
  struct cairn_key *pub = NULL;
  struct cairn_cert_list *chain = NULL;
  struct cairn_bundle *b = NULL;
  const struct cairn_cert_list *roots;
  const struct cairn_cert *ca;
  char serial[41], buf[CAIRN_NET_REASON_MAX + 1];
  uint8_t *body = NULL;
  size_t len = 0, n_roots;
  int r, constrain, have_set = 0;

  memset(&m, 0, sizeof m);
  memset(&resp, 0, sizeof resp);
  if (!cairn__auth_need_node(a, x, rq, NULL)) return;
  if ((r = cairn_msg_ds_ca_req_decode(rq->body, rq->body_len, &m))) {
    cairn__auth_decode_failed(a, x, rq, r);
    return;
  }
  if (!need_downstream(a, x, rq, &s, &d)) goto out;
  have_set = 1;
  if (!cairn__auth_need_ca(a, x, rq, 1)) goto out;
  if ((r = cairn_csr_parse(m.csr.data, m.csr.len, &pub))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_BAD_REQUEST, "csr: %s",
                       cairn__auth_printable(cairn_errdetail(), buf,
                                             sizeof buf));
    goto out;
  }
  /* A scoped downstream may only issue in the trust domain (X.509 URI
   * name constraints cannot express paths; the path scope is enforced
   * by the downstream itself and by this server for what it mints). */
  constrain = !d.unscoped;
  if ((r = cairn_ca_sign_downstream_ca(a->ca, pub, ds_ca_ttl(a), constrain,
                                       &chain))) {
    cairn__auth_refuse(a, x, rq, cairn__auth_sign_code(r), "cannot sign: %s",
                       cairn_errdetail());
    goto out;
  }
  if ((r = cairn__auth_sync_bundle(a, NULL)) ||
      (r = cairn_ca_bundle(a->ca, &b))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "bundle: %s",
                       cairn_errdetail());
    goto out;
  }
  roots = cairn_bundle_x509(b);
  n_roots = cairn_cert_list_count(roots);
  if (!n_roots || n_roots > CAIRN_MSG_ROOTS_MAX) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR,
                       "the bundle holds %zu X.509 authorities", n_roots);
    goto out;
  }
  resp.bundle = a->bundle_json;
  if ((r = cairn__auth_chain_view(chain, &resp.chain)) ||
      (r = cairn__auth_chain_view(roots, &resp.roots)) ||
      (r = cairn_msg_ds_ca_resp_encode(&resp, &body, &len))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    goto out;
  }
  ca = cairn_cert_list_at(chain, 0);
  if (cairn_cert_serial_hex(ca, serial, sizeof serial)) serial[0] = '\0';
  a->stats.downstream_cas++;
  CAIRN_LOGI(MOD, "downstream CA for %s (entry %s): serial=%s "
             "expires_at=%lld name_constraints=%s", rq->peer->id.str,
             d.active->entry_id, serial, (long long)cairn_cert_not_after(ca),
             constrain ? a->td : "none");
  cairn_net_reply(x, CAIRN_NET_CREATED, body, len);
out:
  free(resp.chain.certs);
  free(resp.roots.certs);
  free(body);
  cairn_bundle_free(b);
  cairn_cert_list_free(chain);
  cairn_key_free(pub);
  if (have_set) {
    cairn__auth_ds_clear(&d);
    cairn__authset_clear(&s);
  }
  cairn_msg_ds_ca_req_clear(&m);
}

/* ======================================================================
 * POST /v1/downstream/jwt-key
 * ====================================================================== */

/* The answer to cairn_ca_add_jwt_key()'s errors. */
static int add_key_code(int r)
{
  if (r == CAIRN_ERR_EXISTS) return CAIRN_NET_CONFLICT;
  if (r == CAIRN_ERR_EXPIRED || r == CAIRN_ERR_INVAL)
    return CAIRN_NET_BAD_REQUEST;
  return CAIRN_NET_INTERNAL_ERROR;
}

void cairn__auth_h_ds_jwt_key(struct cairn_net_exchange *x,
                              const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn_msg_ds_jwtkey_req m;
  struct cairn_msg_ds_jwtkey_resp resp;
  struct cairn__authset s;
  struct cairn__auth_ds d;
  struct cairn_key *pub = NULL;
  struct cairn_bundle *b = NULL;
  char buf[CAIRN_NET_REASON_MAX + 1], kid[CAIRN_MSG_KID_MAX + 1];
  uint8_t *body = NULL;
  size_t len = 0;
  int r, have_set = 0;

  memset(&m, 0, sizeof m);
  memset(&resp, 0, sizeof resp);
  if (!cairn__auth_need_node(a, x, rq, NULL)) return;
  if ((r = cairn_msg_ds_jwtkey_req_decode(rq->body, rq->body_len, &m))) {
    cairn__auth_decode_failed(a, x, rq, r);
    return;
  }
  cairn__auth_printable(m.kid, kid, sizeof kid);
  if (!need_downstream(a, x, rq, &s, &d)) goto out;
  have_set = 1;
  /* SPKI DER of an EC P-256/P-384 key; the importer refuses other
   * algorithms and curves (CAIRN_ERR_UNSUPPORTED) and bad points. */
  if ((r = cairn_key_import_der(m.public_key.data, m.public_key.len, &pub))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_BAD_REQUEST, "public_key: %s",
                       cairn__auth_printable(cairn_errdetail(), buf,
                                             sizeof buf));
    goto out;
  }
  if (cairn_key_has_private(pub)) {
    /* Someone sent a private key: do not keep it around. */
    cairn_memzero(m.public_key.data, m.public_key.len);
    cairn__auth_refuse(a, x, rq, CAIRN_NET_BAD_REQUEST,
                       "public_key: must be a SubjectPublicKeyInfo, not a "
                       "private key");
    goto out;
  }
  if (m.expires_at <= (uint64_t)cairn_now()) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_BAD_REQUEST,
                       "JWT key %s: expires_at is not in the future", kid);
    goto out;
  }
  if ((r = cairn_ca_bundle(a->ca, &b))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "bundle: %s",
                       cairn_errdetail());
    goto out;
  }
  if (!cairn_bundle_jwt_find(b, m.kid) &&
      cairn_bundle_jwt_count(b) >= CAIRN_AUTHORITY_JWT_KEYS_MAX) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_FORBIDDEN,
                       "the trust bundle already holds %d JWT keys",
                       CAIRN_AUTHORITY_JWT_KEYS_MAX);
    goto out;
  }
  if ((r = cairn_ca_add_jwt_key(a->ca, m.kid, pub, (int64_t)m.expires_at))) {
    cairn__auth_refuse(a, x, rq, add_key_code(r), "%s",
                       cairn__auth_printable(cairn_errdetail(), buf,
                                             sizeof buf));
    goto out;
  }
  /* The bundle changed (unless the key was there already): observers of
   * /v1/bundle and /v1/revision are notified now, not at the next poll. */
  if ((r = cairn__auth_sync_bundle(a, NULL))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "bundle: %s",
                       cairn_errdetail());
    goto out;
  }
  resp.bundle = a->bundle_json;
  if ((r = cairn_msg_ds_jwtkey_resp_encode(&resp, &body, &len))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    goto out;
  }
  a->stats.jwt_keys++;
  CAIRN_LOGI(MOD, "JWT key of downstream %s (entry %s) published: kid=%s "
             "expires_at=%llu bundle_sequence=%llu", rq->peer->id.str,
             d.active->entry_id, kid, (unsigned long long)m.expires_at,
             (unsigned long long)a->bundle_seq);
  cairn_net_reply(x, CAIRN_NET_CREATED, body, len);
out:
  free(body);
  cairn_bundle_free(b);
  cairn_key_free(pub);
  if (have_set) {
    cairn__auth_ds_clear(&d);
    cairn__authset_clear(&s);
  }
  cairn_msg_ds_jwtkey_req_clear(&m);
}
