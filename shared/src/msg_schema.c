/* msg_schema.c - the field tables of every protocol body (docs/protocol.md)
 * and the public cairn_msg_* functions over them. A field's CBOR key is its
 * struct member's name. */
#include <stddef.h>
#include <string.h>

#include "cairn/id.h"
#include "cairn/msg.h"
#include "msg_int.h"

#define OFF(st, m) offsetof(struct cairn_msg_##st, m)

/* Text of lo..hi bytes with a semantic check. */
#define TSTR(st, m, lo, hi, chk, fl)                                        \
  { .key = #m, .type = CAIRN__MSG_TSTR, .flags = (fl), .off = OFF(st, m), \
    .min = (lo), .max = (hi), .check = (chk) }
#define BSTR(st, m, lo, hi)                                                 \
  { .key = #m, .type = CAIRN__MSG_BSTR, .off = OFF(st, m), .min = (lo),   \
    .max = (hi) }
#define UINT(st, m, hi)                                                     \
  { .key = #m, .type = CAIRN__MSG_UINT, .off = OFF(st, m), .umax = (hi) }
/* An unsigned integer that is absent when 0. */
#define UINT0(st, m, hi)                                                    \
  { .key = #m, .type = CAIRN__MSG_UINT, .flags = CAIRN__MSG_OPTIONAL,     \
    .off = OFF(st, m), .umax = (hi) }
#define BOOL(st, m) { .key = #m, .type = CAIRN__MSG_BOOL, .off = OFF(st, m) }
/* lo..hi byte strings of 1..item_hi bytes each. */
#define CHAIN(st, m, lo, hi, item_hi, fl)                                   \
  { .key = #m, .type = CAIRN__MSG_CHAIN, .flags = (fl), .off = OFF(st, m), \
    .min = (lo), .max = (hi), .item_min = 1, .item_max = (item_hi) }
/* lo..hi text strings of ilo..ihi bytes each. */
#define TSTRS(st, m, lo, hi, ilo, ihi, chk)                                 \
  { .key = #m, .type = CAIRN__MSG_TSTRS, .off = OFF(st, m),               \
    .off_n = OFF(st, n_##m), .min = (lo), .max = (hi), .item_min = (ilo),  \
    .item_max = (ihi), .check = (chk) }
#define SELECTORS(st, m, lo, hi)                                            \
  { .key = #m, .type = CAIRN__MSG_SELECTORS, .off = OFF(st, m),           \
    .off_n = OFF(st, n_##m), .min = (lo), .max = (hi) }
#define MAPS(st, m, lo, hi, desc)                                           \
  { .key = #m, .type = CAIRN__MSG_MAPS, .off = OFF(st, m),                \
    .off_n = OFF(st, n_##m), .min = (lo), .max = (hi), .sub = &(desc) }

#define DESC(name, st, cap, rl)                                             \
  static const struct cairn__msg_desc name = {                            \
    .fields = name##_fields,                                              \
    .n_fields = sizeof name##_fields / sizeof name##_fields[0],           \
    .size = sizeof(struct cairn_msg_##st), .body_max = (cap), .rule = (rl) }

#define NONE CAIRN__MSG_CHK_NONE
#define SPIFFE_ID CAIRN__MSG_CHK_ID
#define TD CAIRN__MSG_CHK_TD
#define ENTRY_ID CAIRN__MSG_CHK_ENTRY_ID
#define U64MAX CAIRN_MSG_UINT_MAX

/* ---- POST /v1/attest ---------------------------------------------------- */

static const struct cairn__msg_field attest_req_fields[] = {
  TSTR(attest_req, type, 1, CAIRN_MSG_ATTESTOR_MAX, NONE, 0),
  TSTR(attest_req, token, 1, CAIRN_MSG_TOKEN_MAX, NONE, CAIRN__MSG_SECRET),
  BSTR(attest_req, csr, 1, CAIRN_MSG_CSR_MAX),
};
DESC(attest_req, attest_req, CAIRN_MSG_REQ_MAX, NULL);

static const struct cairn__msg_field attest_resp_fields[] = {
  TSTR(attest_resp, spiffe_id, 1, CAIRN_ID_MAX, SPIFFE_ID, 0),
  CHAIN(attest_resp, svid, 1, CAIRN_MSG_CHAIN_MAX, CAIRN_MSG_CERT_MAX, 0),
  TSTR(attest_resp, bundle, 1, CAIRN_MSG_BUNDLE_MAX, NONE, 0),
};
DESC(attest_resp, attest_resp, CAIRN_MSG_RESP_MAX, NULL);

/* ---- POST /v1/node/renew ------------------------------------------------ */

static const struct cairn__msg_field renew_req_fields[] = {
  BSTR(renew_req, csr, 1, CAIRN_MSG_CSR_MAX),
};
DESC(renew_req, renew_req, CAIRN_MSG_REQ_MAX, NULL);

static const struct cairn__msg_field renew_resp_fields[] = {
  CHAIN(renew_resp, svid, 1, CAIRN_MSG_CHAIN_MAX, CAIRN_MSG_CERT_MAX, 0),
};
DESC(renew_resp, renew_resp, CAIRN_MSG_RESP_MAX, NULL);

/* ---- GET /v1/bundle ----------------------------------------------------- */

static const struct cairn__msg_field bundle_resp_fields[] = {
  TSTR(bundle_resp, trust_domain, 1, CAIRN_TD_MAX, TD, 0),
  UINT(bundle_resp, sequence, U64MAX),
  TSTR(bundle_resp, bundle, 1, CAIRN_MSG_BUNDLE_MAX, NONE, 0),
};
DESC(bundle_resp, bundle_resp, CAIRN_MSG_RESP_MAX, NULL);

/* ---- GET /v1/federated ------------------------------------------------- */

static const char *federated_resp_rule(const void *obj)
{
  const struct cairn_msg_federated_resp *m = obj;
  for (size_t i = 1; i < m->n_bundles; i++)
    if (strcmp(m->bundles[i - 1].trust_domain, m->bundles[i].trust_domain) >=
        0)
      return "bundles must be in ascending trust domain order, each once";
  return NULL;
}

static const struct cairn__msg_field federated_resp_fields[] = {
  MAPS(federated_resp, bundles, 0, CAIRN_MSG_FEDERATED_MAX, bundle_resp),
};
DESC(federated_resp, federated_resp, CAIRN_MSG_FEDERATED_RESP_MAX,
     federated_resp_rule);

/* ---- GET /v1/entries ---------------------------------------------------- */

static const struct cairn__msg_field entry_fields[] = {
  TSTR(entry, id, 1, CAIRN_MSG_ENTRY_ID_MAX, ENTRY_ID, 0),
  TSTR(entry, spiffe_id, 1, CAIRN_ID_MAX, SPIFFE_ID, 0),
  TSTR(entry, parent_id, 1, CAIRN_ID_MAX, SPIFFE_ID, 0),
  SELECTORS(entry, selectors, 1, CAIRN_MSG_SELECTORS_MAX),
  UINT(entry, x509_svid_ttl, CAIRN_MSG_TTL_MAX),
  UINT(entry, jwt_svid_ttl, CAIRN_MSG_TTL_MAX),
  TSTRS(entry, dns_names, 0, CAIRN_MSG_DNS_MAX, 1, CAIRN_MSG_DNS_NAME_MAX,
        NONE),
  TSTRS(entry, federates_with, 0, CAIRN_MSG_FEDERATES_MAX, 1, CAIRN_TD_MAX,
        TD),
  BOOL(entry, admin),
  BOOL(entry, downstream),
  UINT(entry, revision, U64MAX),
  TSTR(entry, hint, 0, CAIRN_MSG_HINT_MAX, NONE, 0),
  UINT(entry, expires_at, U64MAX),
};
DESC(entry, entry, 0, NULL);

static const struct cairn__msg_field entries_resp_fields[] = {
  UINT(entries_resp, revision, U64MAX),
  BOOL(entries_resp, full),
  MAPS(entries_resp, entries, 0, CAIRN_MSG_ENTRIES_MAX, entry),
  TSTRS(entries_resp, removed, 0, CAIRN_MSG_REMOVED_MAX, 1,
        CAIRN_MSG_ENTRY_ID_MAX, ENTRY_ID),
};
DESC(entries_resp, entries_resp, CAIRN_MSG_ENTRIES_RESP_MAX, NULL);

/* ---- GET /v1/revision --------------------------------------------------- */

static const struct cairn__msg_field revision_resp_fields[] = {
  UINT(revision_resp, entries, U64MAX),
  UINT(revision_resp, bundle, U64MAX),
  UINT0(revision_resp, federated, U64MAX),
};
DESC(revision_resp, revision_resp, CAIRN_MSG_RESP_MAX, NULL);

/* ---- POST /v1/svids ----------------------------------------------------- */

static const struct cairn__msg_field csr_item_fields[] = {
  TSTR(csr_item, entry_id, 1, CAIRN_MSG_ENTRY_ID_MAX, ENTRY_ID, 0),
  BSTR(csr_item, csr, 1, CAIRN_MSG_CSR_MAX),
};
DESC(csr_item, csr_item, 0, NULL);

static const struct cairn__msg_field svids_req_fields[] = {
  MAPS(svids_req, csrs, 1, CAIRN_MSG_SVIDS_MAX, csr_item),
};
DESC(svids_req, svids_req, CAIRN_MSG_SVIDS_REQ_MAX, NULL);

static const char *svid_item_rule(const void *obj)
{
  const struct cairn_msg_svid_item *it = obj;
  if ((it->svid.n > 0) == (it->error != NULL))
    return "needs exactly one of \"svid\" and \"error\"";
  return NULL;
}

static const struct cairn__msg_field svid_item_fields[] = {
  TSTR(svid_item, entry_id, 1, CAIRN_MSG_ENTRY_ID_MAX, ENTRY_ID, 0),
  CHAIN(svid_item, svid, 1, CAIRN_MSG_CHAIN_MAX, CAIRN_MSG_CERT_MAX,
        CAIRN__MSG_OPTIONAL),
  TSTR(svid_item, error, 1, CAIRN_MSG_ERROR_MAX, NONE, CAIRN__MSG_OPTIONAL),
};
DESC(svid_item, svid_item, 0, svid_item_rule);

static const struct cairn__msg_field svids_resp_fields[] = {
  MAPS(svids_resp, svids, 1, CAIRN_MSG_SVIDS_MAX, svid_item),
};
DESC(svids_resp, svids_resp, CAIRN_MSG_SVIDS_RESP_MAX, NULL);

/* ---- POST /v1/jwt ------------------------------------------------------- */

static const struct cairn__msg_field jwt_req_fields[] = {
  TSTR(jwt_req, entry_id, 1, CAIRN_MSG_ENTRY_ID_MAX, ENTRY_ID, 0),
  TSTRS(jwt_req, audience, 1, CAIRN_MSG_AUDIENCE_MAX, 1,
        CAIRN_MSG_AUDIENCE_LEN_MAX, NONE),
};
DESC(jwt_req, jwt_req, CAIRN_MSG_REQ_MAX, NULL);

static const struct cairn__msg_field jwt_resp_fields[] = {
  TSTR(jwt_resp, token, 1, CAIRN_MSG_JWT_MAX, NONE, CAIRN__MSG_SECRET),
  UINT(jwt_resp, expires_at, U64MAX),
};
DESC(jwt_resp, jwt_resp, CAIRN_MSG_RESP_MAX, NULL);

/* ---- POST /v1/downstream/ca --------------------------------------------- */

static const struct cairn__msg_field ds_ca_req_fields[] = {
  BSTR(ds_ca_req, csr, 1, CAIRN_MSG_CSR_MAX),
};
DESC(ds_ca_req, ds_ca_req, CAIRN_MSG_REQ_MAX, NULL);

static const struct cairn__msg_field ds_ca_resp_fields[] = {
  CHAIN(ds_ca_resp, chain, 1, CAIRN_MSG_CHAIN_MAX, CAIRN_MSG_CERT_MAX, 0),
  CHAIN(ds_ca_resp, roots, 1, CAIRN_MSG_ROOTS_MAX, CAIRN_MSG_CERT_MAX, 0),
  TSTR(ds_ca_resp, bundle, 1, CAIRN_MSG_BUNDLE_MAX, NONE, 0),
};
DESC(ds_ca_resp, ds_ca_resp, CAIRN_MSG_RESP_MAX, NULL);

/* ---- POST /v1/downstream/jwt-key ---------------------------------------- */

static const struct cairn__msg_field ds_jwtkey_req_fields[] = {
  TSTR(ds_jwtkey_req, kid, 1, CAIRN_MSG_KID_MAX, NONE, 0),
  BSTR(ds_jwtkey_req, public_key, 1, CAIRN_MSG_PUBKEY_MAX),
  UINT(ds_jwtkey_req, expires_at, U64MAX),
};
DESC(ds_jwtkey_req, ds_jwtkey_req, CAIRN_MSG_REQ_MAX, NULL);

static const struct cairn__msg_field ds_jwtkey_resp_fields[] = {
  TSTR(ds_jwtkey_resp, bundle, 1, CAIRN_MSG_BUNDLE_MAX, NONE, 0),
};
DESC(ds_jwtkey_resp, ds_jwtkey_resp, CAIRN_MSG_RESP_MAX, NULL);

/* ---- public functions --------------------------------------------------- */

#define API(name)                                                           \
  int cairn_msg_##name##_decode(const uint8_t *data, size_t len,           \
                                struct cairn_msg_##name *m)                \
  {                                                                         \
    return cairn__msg_decode(&name, data, len, m);                          \
  }                                                                         \
  int cairn_msg_##name##_encode(const struct cairn_msg_##name *m,          \
                                uint8_t **out, size_t *out_len)            \
  {                                                                         \
    return cairn__msg_encode(&name, m, out, out_len);                       \
  }                                                                         \
  void cairn_msg_##name##_clear(struct cairn_msg_##name *m)                 \
  {                                                                         \
    cairn__msg_clear(&name, m);                                             \
  }                                                                         \
  int cairn_msg_##name##_equal(const struct cairn_msg_##name *a,           \
                               const struct cairn_msg_##name *b)           \
  {                                                                         \
    return cairn__msg_equal(&name, a, b);                                   \
  }

API(attest_req)
API(attest_resp)
API(renew_req)
API(renew_resp)
API(bundle_resp)
API(federated_resp)
API(entries_resp)
API(revision_resp)
API(svids_req)
API(svids_resp)
API(jwt_req)
API(jwt_resp)
API(ds_ca_req)
API(ds_ca_resp)
API(ds_jwtkey_req)
API(ds_jwtkey_resp)
