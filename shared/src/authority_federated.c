/* shared/src/authority_federated.c - GET /v1/federated: the bundles of
 * foreign trust domains a node's workloads federate with, and the
 * fingerprint /v1/revision carries so that nodes know when to ask again
 * (docs/protocol.md). */
#include "authority_int.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/err.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/store.h"
#include "cairn/util.h"

#define MOD CAIRN__AUTH_MOD

int cairn__auth_fed_fingerprint(struct cairn_authority *a, uint64_t *fp)
{
  return cairn_store_bundle_fingerprint(a->st, a->td, fp);
}

void cairn__auth_fed_changed(struct cairn_authority *a)
{
  uint64_t fp = 0;

  if (cairn__auth_fed_fingerprint(a, &fp) != CAIRN_OK) {
    CAIRN_LOGW(MOD, "cannot read the federated bundles: %s",
               cairn_errdetail());
    return;
  }
  if (a->fed_fp_known && fp == a->fed_fp) return;
  if (a->fed_fp_known) {
    CAIRN_LOGI(MOD, "federated bundles changed");
    cairn__auth_notify(a, "/v1/revision");
  }
  a->fed_fp = fp;
  a->fed_fp_known = 1;
}

static int str_cmp(const void *x, const void *y)
{
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The foreign trust domains of the node's grant into *out (sorted, each
 * once; the strings belong to s or to *owned): every stored one for a
 * downstream server, else those its entries federate with. */
static int fed_domains(struct cairn_authority *a, const struct cairn__authset *s,
                       const struct cairn__auth_ds *d, const char ***out,
                       size_t *n, char ***owned, size_t *n_owned)
{
  const char **v = NULL;
  size_t k = 0, cap = 0;

  *out = NULL;
  *n = 0;
  *owned = NULL;
  *n_owned = 0;
  if (d->active) {
    int r = cairn_store_bundle_list(a->st, owned, n_owned);
    if (r) return r;
    cap = *n_owned;
    if (cap && !(v = calloc(cap, sizeof *v)))
      return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    for (size_t i = 0; i < *n_owned; i++)
      if (strcmp((*owned)[i], a->td) != 0) v[k++] = (*owned)[i];
  } else {
    for (size_t i = 0; i < s->n; i++) cap += s->idx[i]->n_federates_with;
    if (cap && !(v = calloc(cap, sizeof *v)))
      return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    for (size_t i = 0; i < s->n; i++)
      for (size_t j = 0; j < s->idx[i]->n_federates_with; j++)
        if (strcmp(s->idx[i]->federates_with[j], a->td) != 0)
          v[k++] = s->idx[i]->federates_with[j];
    if (k > 1) qsort(v, k, sizeof *v, str_cmp);
    {
      size_t u = 0;
      for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]) != 0) v[u++] = v[i];
      k = u;
    }
  }
  if (k == 0) {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return CAIRN_OK;
}

void cairn__auth_h_federated(struct cairn_net_exchange *x,
                             const struct cairn_net_request *rq, void *arg)
{
  struct cairn_authority *a = arg;
  struct cairn__authset s;
  struct cairn__auth_ds d;
  struct cairn_msg_federated_resp m;
  const char **tds = NULL;
  char **owned = NULL;
  size_t n = 0, n_owned = 0, len = 0;
  uint8_t *body = NULL;
  int r;

  memset(&m, 0, sizeof m);
  if (!cairn__auth_need_node(a, x, rq, NULL)) return;
  if (!cairn__auth_grant_load(a, x, rq, cairn_now(), &s, &d)) return;
  if ((r = fed_domains(a, &s, &d, &tds, &n, &owned, &n_owned))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "bundles: %s",
                       cairn_errdetail());
    goto out;
  }
  if (n > CAIRN_MSG_FEDERATED_MAX) {
    CAIRN_LOGW(MOD, "%s federates with %zu trust domains; only the first "
               "%d (by name) get their bundle", rq->peer->id.str, n,
               CAIRN_MSG_FEDERATED_MAX);
    n = CAIRN_MSG_FEDERATED_MAX;
  }
  if (n && !(m.bundles = calloc(n, sizeof *m.bundles))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    struct cairn_msg_bundle_resp *b = &m.bundles[m.n_bundles];
    char *json = NULL;
    uint64_t seq = 0;
    r = cairn_store_bundle_get(a->st, tds[i], &json, NULL, &seq);
    if (r == CAIRN_ERR_NOT_FOUND) continue; /* deleted meanwhile */
    if (r) {
      cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR,
                         "bundle of %s: %s", tds[i], cairn_errdetail());
      goto out;
    }
    b->trust_domain = cairn_strdup(tds[i]);
    b->sequence = seq;
    b->bundle = json;
    m.n_bundles++;
    if (!b->trust_domain) {
      cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "out of memory");
      goto out;
    }
  }
  if ((r = cairn_msg_federated_resp_encode(&m, &body, &len))) {
    cairn__auth_refuse(a, x, rq, CAIRN_NET_INTERNAL_ERROR, "encode: %s",
                       cairn_errdetail());
    goto out;
  }
  CAIRN_LOGD(MOD, "federated bundles for %s: %zu", rq->peer->id.str,
             m.n_bundles);
  cairn_net_reply(x, CAIRN_NET_CONTENT, body, len);
out:
  free(body);
  cairn_msg_federated_resp_clear(&m);
  free(tds);
  cairn_store_strv_free(owned, n_owned);
  cairn__auth_ds_clear(&d);
  cairn__authset_clear(&s);
}
