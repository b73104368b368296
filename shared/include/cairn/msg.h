/* cairn/msg.h - the CBOR bodies of the tier protocol (docs/protocol.md).
 *
 * One C struct per request and response body, each with four functions:
 *
 *   cairn_msg_<name>_decode(data, len, &m)  untrusted bytes -> struct
 *   cairn_msg_<name>_encode(&m, &out, &n)   struct -> canonical CBOR
 *   cairn_msg_<name>_clear(&m)              frees what m owns, zeroes it
 *   cairn_msg_<name>_equal(&a, &b)          1 when a and b hold equal values
 *
 * Decoding. Decoders read the bytes once, front to back, with libcbor's
 * streaming decoder (no item tree is built) and fill the struct directly,
 * so memory use is bounded by the input size, which is itself capped per
 * message (the CAIRN_MSG_*_MAX body caps below; CAIRN_ERR_TOO_BIG past
 * it). Everything the protocol forbids is CAIRN_ERR_PARSE with a detail
 * that names the field, e.g. "entries[3].selectors[0]: expected an array
 * of 2 text strings", "body: duplicate key \"csr\"", "token: longer than
 * 128 bytes": a body that is not one map, trailing bytes, duplicate keys,
 * missing required keys, values of the wrong type, indefinite-length
 * items, tags, floats, simple values other than true/false/null/undefined,
 * text that is not UTF-8 or contains U+0000, map keys that are not text or
 * longer than CAIRN_MSG_KEY_MAX bytes, maps of more than
 * CAIRN_MSG_MAP_PAIRS_MAX pairs, containers nested deeper than
 * CAIRN_MSG_DEPTH_MAX, and every field cap below. Cheap semantic checks are
 * part of decoding: SPIFFE IDs are validated with cairn_id_validate(),
 * trust domains with cairn_td_validate(), entry IDs and selectors against
 * the store's rules. Unknown keys are skipped (but their values must obey
 * the same well-formedness rules). Integers may use any head length;
 * unsigned integers above CAIRN_MSG_UINT_MAX are refused so every value
 * fits an int64_t.
 *
 * Encoding. Encoders first check the struct against the same rules
 * (CAIRN_ERR_INVAL naming the field; CAIRN_ERR_TOO_BIG past the body cap),
 * so whatever they produce decodes again to an equal struct. The output is
 * deterministic CBOR (RFC 8949 section 4.2.1): definite lengths, shortest
 * heads, map keys in length-then-bytewise order. *out is malloc'ed, owned
 * by the caller: free() it, or cairn_freezero(*out, *out_len) for the
 * messages that carry a credential (attest_req, jwt_resp).
 *
 * Ownership. A decoded struct owns every pointer in it (heap copies;
 * text fields are NUL-terminated and never NULL except an absent optional
 * field); release it with cairn_msg_<name>_clear(), which is NULL-safe,
 * zeroises credentials (the join token, the JWT-SVID) and leaves the
 * struct zeroed. Decoders zero *m on entry and leave it zeroed on failure.
 * Encoders only read their input, so a caller may point a struct it
 * builds for encoding at any storage (and must then not _clear it). For
 * encoding, a NULL text field means "" and booleans are any int (non-zero
 * is true).
 */
#ifndef CAIRN_MSG_H
#define CAIRN_MSG_H

#include <stddef.h>
#include <stdint.h>

/* ---- body caps (bytes) ------------------------------------------------- */
#define CAIRN_MSG_REQ_MAX (64 * 1024)              /* requests by default */
#define CAIRN_MSG_SVIDS_REQ_MAX (1024 * 1024)      /* POST /v1/svids request */
#define CAIRN_MSG_RESP_MAX (4 * 1024 * 1024)       /* responses by default */
#define CAIRN_MSG_SVIDS_RESP_MAX (8 * 1024 * 1024) /* POST /v1/svids */
#define CAIRN_MSG_ENTRIES_RESP_MAX (16 * 1024 * 1024) /* GET /v1/entries */
#define CAIRN_MSG_FEDERATED_RESP_MAX (16 * 1024 * 1024) /* GET /v1/federated */

/* ---- structure caps ------------------------------------------------------ */
#define CAIRN_MSG_DEPTH_MAX 5        /* nested arrays/maps, body map = 1 */
#define CAIRN_MSG_MAP_PAIRS_MAX 32   /* key/value pairs in any map */
#define CAIRN_MSG_KEY_MAX 64         /* bytes of any map key */
#define CAIRN_MSG_UINT_MAX ((uint64_t)INT64_MAX)
#define CAIRN_MSG_TTL_MAX ((uint64_t)INT32_MAX)  /* x509/jwt_svid_ttl */

/* ---- field caps (bytes unless noted) ------------------------------------- */
#define CAIRN_MSG_CHAIN_MAX 16          /* certificates in a chain */
#define CAIRN_MSG_CERT_MAX 16384        /* one DER certificate */
#define CAIRN_MSG_ROOTS_MAX 64          /* roots in a downstream CA answer */
#define CAIRN_MSG_CSR_MAX 8192          /* PKCS#10 DER */
#define CAIRN_MSG_BUNDLE_MAX (1024 * 1024)  /* SPIFFE bundle JSON */
#define CAIRN_MSG_ATTESTOR_MAX 64       /* attest "type" */
#define CAIRN_MSG_TOKEN_MAX 128         /* join token */
#define CAIRN_MSG_ENTRY_ID_MAX 255      /* [A-Za-z0-9._-] */
#define CAIRN_MSG_SELECTORS_MAX 64      /* selectors of an entry (1..) */
#define CAIRN_MSG_SELECTOR_TYPE_MAX 127
#define CAIRN_MSG_SELECTOR_VALUE_MAX 1024
#define CAIRN_MSG_DNS_MAX 64            /* DNS names of an entry */
#define CAIRN_MSG_DNS_NAME_MAX 253
#define CAIRN_MSG_FEDERATES_MAX 64      /* federates_with of an entry */
#define CAIRN_MSG_HINT_MAX 1024
#define CAIRN_MSG_ENTRIES_MAX 65536     /* entries in one delta */
#define CAIRN_MSG_REMOVED_MAX 65536     /* removed IDs in one delta */
#define CAIRN_MSG_SVIDS_MAX 500         /* CSRs / SVIDs in one batch */
#define CAIRN_MSG_ERROR_MAX 1024        /* per-item error text */
#define CAIRN_MSG_AUDIENCE_MAX 32       /* audiences of a JWT request */
#define CAIRN_MSG_AUDIENCE_LEN_MAX 1024 /* one audience */
#define CAIRN_MSG_JWT_MAX 16384         /* a JWT-SVID */
#define CAIRN_MSG_KID_MAX 128           /* JWT key ID */
#define CAIRN_MSG_PUBKEY_MAX 4096       /* SPKI DER */
#define CAIRN_MSG_FEDERATED_MAX 64      /* bundles in a federated answer */

/* ---- value shapes ------------------------------------------------------ */

/* A CBOR byte string. */
struct cairn_msg_bytes {
  uint8_t *data;
  size_t len;
};

/* An array of byte strings: a certificate chain (leaf first, never the
 * root) or a set of root certificates, each DER. */
struct cairn_msg_chain {
  struct cairn_msg_bytes *certs;
  size_t n;
};

/* ["type", "value"]: type 1..127 bytes without ':' or control
 * characters, value 1..1024 bytes. */
struct cairn_msg_selector {
  char *type;
  char *value;
};

/* A registration entry as sent to a node (GET /v1/entries). */
struct cairn_msg_entry {
  char *id;                     /* entry ID, 1..255 of [A-Za-z0-9._-] */
  char *spiffe_id;              /* valid SPIFFE ID */
  char *parent_id;              /* valid SPIFFE ID */
  struct cairn_msg_selector *selectors;  /* 1..CAIRN_MSG_SELECTORS_MAX */
  size_t n_selectors;
  uint64_t x509_svid_ttl;       /* seconds, <= CAIRN_MSG_TTL_MAX */
  uint64_t jwt_svid_ttl;        /* seconds, <= CAIRN_MSG_TTL_MAX */
  char **dns_names;             /* 0..64 names of 1..253 bytes */
  size_t n_dns_names;
  char **federates_with;        /* 0..64 bare trust domain names */
  size_t n_federates_with;
  int admin;                    /* 0 or 1 */
  int downstream;               /* 0 or 1 */
  uint64_t revision;
  char *hint;                   /* 0..1024 bytes, "" when none */
  uint64_t expires_at;          /* unix seconds, 0 = never */
};

/* ---- POST /v1/attest ------------------------------------------------------ */

/* {"type", "token", "csr"}; body <= CAIRN_MSG_REQ_MAX. */
struct cairn_msg_attest_req {
  char *type;                   /* 1..64 bytes, "join_token" */
  char *token;                  /* 1..128 bytes; zeroised by _clear */
  struct cairn_msg_bytes csr;   /* 1..CAIRN_MSG_CSR_MAX */
};

/* {"spiffe_id", "svid", "bundle"}; body <= CAIRN_MSG_RESP_MAX. */
struct cairn_msg_attest_resp {
  char *spiffe_id;              /* the node's SPIFFE ID */
  struct cairn_msg_chain svid;  /* 1..16 certificates of 1..16384 bytes */
  char *bundle;                 /* SPIFFE bundle JSON, 1..1 MiB */
};

/* ---- POST /v1/node/renew -------------------------------------------------- */

struct cairn_msg_renew_req {    /* {"csr"}; body <= CAIRN_MSG_REQ_MAX */
  struct cairn_msg_bytes csr;
};

struct cairn_msg_renew_resp {   /* {"svid"}; body <= CAIRN_MSG_RESP_MAX */
  struct cairn_msg_chain svid;
};

/* ---- GET /v1/bundle ------------------------------------------------------- */

/* {"trust_domain", "sequence", "bundle"}; body <= CAIRN_MSG_RESP_MAX. */
struct cairn_msg_bundle_resp {
  char *trust_domain;           /* bare name, cairn_td_validate() */
  uint64_t sequence;
  char *bundle;                 /* 1..1 MiB */
};

/* ---- GET /v1/federated --------------------------------------------------- */

/* {"bundles": [bundle, ...]}: 0..CAIRN_MSG_FEDERATED_MAX bundles of other
 * trust domains, each shaped as GET /v1/bundle's body, in strictly
 * ascending trust-domain name order (no domain twice);
 * body <= CAIRN_MSG_FEDERATED_RESP_MAX. */
struct cairn_msg_federated_resp {
  struct cairn_msg_bundle_resp *bundles;
  size_t n_bundles;
};

/* ---- GET /v1/entries?since=N -------------------------------------------- */

/* {"revision", "full", "entries", "removed"};
 * body <= CAIRN_MSG_ENTRIES_RESP_MAX. */
struct cairn_msg_entries_resp {
  uint64_t revision;
  int full;                     /* 0 or 1 */
  struct cairn_msg_entry *entries;  /* 0..CAIRN_MSG_ENTRIES_MAX */
  size_t n_entries;
  char **removed;               /* 0..CAIRN_MSG_REMOVED_MAX entry IDs */
  size_t n_removed;
};

/* ---- GET /v1/revision ----------------------------------------------------- */

/* {"entries", "bundle", "federated"}; "federated" is absent when 0. */
struct cairn_msg_revision_resp {
  uint64_t entries;             /* entries revision */
  uint64_t bundle;              /* bundle sequence */
  uint64_t federated;           /* fingerprint of the federated bundles,
                                   0 = none (GET /v1/federated) */
};

/* ---- POST /v1/svids ------------------------------------------------------- */

struct cairn_msg_csr_item {     /* {"entry_id", "csr"} */
  char *entry_id;
  struct cairn_msg_bytes csr;   /* 1..CAIRN_MSG_CSR_MAX */
};

/* {"csrs": [item, ...]} with 1..500 items; body <= CAIRN_MSG_SVIDS_REQ_MAX. */
struct cairn_msg_svids_req {
  struct cairn_msg_csr_item *csrs;
  size_t n_csrs;
};

/* {"entry_id", "svid"} or {"entry_id", "error"}: exactly one of svid
 * (n > 0) and error (non-NULL, 1..1024 bytes) is set. */
struct cairn_msg_svid_item {
  char *entry_id;
  struct cairn_msg_chain svid;
  char *error;
};

/* {"svids": [item, ...]} with 1..500 items;
 * body <= CAIRN_MSG_SVIDS_RESP_MAX. */
struct cairn_msg_svids_resp {
  struct cairn_msg_svid_item *svids;
  size_t n_svids;
};

/* ---- POST /v1/jwt --------------------------------------------------------- */

/* {"entry_id", "audience"}; body <= CAIRN_MSG_REQ_MAX. */
struct cairn_msg_jwt_req {
  char *entry_id;
  char **audience;              /* 1..32 strings of 1..1024 bytes */
  size_t n_audience;
};

/* {"token", "expires_at"}; body <= CAIRN_MSG_RESP_MAX. */
struct cairn_msg_jwt_resp {
  char *token;                  /* 1..16384 bytes; zeroised by _clear */
  uint64_t expires_at;
};

/* ---- POST /v1/downstream/ca ---------------------------------------------- */

struct cairn_msg_ds_ca_req {    /* {"csr"}; body <= CAIRN_MSG_REQ_MAX */
  struct cairn_msg_bytes csr;
};

/* {"chain", "roots", "bundle"}; body <= CAIRN_MSG_RESP_MAX. */
struct cairn_msg_ds_ca_resp {
  struct cairn_msg_chain chain; /* 1..16: new intermediate first */
  struct cairn_msg_chain roots; /* 1..64 root certificates */
  char *bundle;
};

/* ---- POST /v1/downstream/jwt-key ----------------------------------------- */

/* {"kid", "public_key", "expires_at"}; body <= CAIRN_MSG_REQ_MAX. */
struct cairn_msg_ds_jwtkey_req {
  char *kid;                    /* 1..128 bytes */
  struct cairn_msg_bytes public_key;  /* SPKI DER, 1..4096 bytes */
  uint64_t expires_at;
};

struct cairn_msg_ds_jwtkey_resp {  /* {"bundle"}; <= CAIRN_MSG_RESP_MAX */
  char *bundle;
};

/* ---- functions -------------------------------------------------------------
 * decode: CAIRN_OK, CAIRN_ERR_PARSE (detail names the field),
 *         CAIRN_ERR_TOO_BIG (len over the body cap), CAIRN_ERR_NOMEM,
 *         CAIRN_ERR_INVAL (NULL arguments).
 * encode: CAIRN_OK, CAIRN_ERR_INVAL (a field breaks the rules; detail
 *         names it), CAIRN_ERR_TOO_BIG (over the body cap), CAIRN_ERR_NOMEM.
 * clear:  NULL-safe.
 * equal:  1 when equal field by field (NULL text equals ""), else 0.
 */
int cairn_msg_attest_req_decode(const uint8_t *data, size_t len,
                                struct cairn_msg_attest_req *m);
int cairn_msg_attest_req_encode(const struct cairn_msg_attest_req *m,
                                uint8_t **out, size_t *out_len);
void cairn_msg_attest_req_clear(struct cairn_msg_attest_req *m);
int cairn_msg_attest_req_equal(const struct cairn_msg_attest_req *a,
                               const struct cairn_msg_attest_req *b);

int cairn_msg_attest_resp_decode(const uint8_t *data, size_t len,
                                 struct cairn_msg_attest_resp *m);
int cairn_msg_attest_resp_encode(const struct cairn_msg_attest_resp *m,
                                 uint8_t **out, size_t *out_len);
void cairn_msg_attest_resp_clear(struct cairn_msg_attest_resp *m);
int cairn_msg_attest_resp_equal(const struct cairn_msg_attest_resp *a,
                                const struct cairn_msg_attest_resp *b);

int cairn_msg_renew_req_decode(const uint8_t *data, size_t len,
                               struct cairn_msg_renew_req *m);
int cairn_msg_renew_req_encode(const struct cairn_msg_renew_req *m,
                               uint8_t **out, size_t *out_len);
void cairn_msg_renew_req_clear(struct cairn_msg_renew_req *m);
int cairn_msg_renew_req_equal(const struct cairn_msg_renew_req *a,
                              const struct cairn_msg_renew_req *b);

int cairn_msg_renew_resp_decode(const uint8_t *data, size_t len,
                                struct cairn_msg_renew_resp *m);
int cairn_msg_renew_resp_encode(const struct cairn_msg_renew_resp *m,
                                uint8_t **out, size_t *out_len);
void cairn_msg_renew_resp_clear(struct cairn_msg_renew_resp *m);
int cairn_msg_renew_resp_equal(const struct cairn_msg_renew_resp *a,
                               const struct cairn_msg_renew_resp *b);

int cairn_msg_bundle_resp_decode(const uint8_t *data, size_t len,
                                 struct cairn_msg_bundle_resp *m);
int cairn_msg_bundle_resp_encode(const struct cairn_msg_bundle_resp *m,
                                 uint8_t **out, size_t *out_len);
void cairn_msg_bundle_resp_clear(struct cairn_msg_bundle_resp *m);
int cairn_msg_bundle_resp_equal(const struct cairn_msg_bundle_resp *a,
                                const struct cairn_msg_bundle_resp *b);

int cairn_msg_federated_resp_decode(const uint8_t *data, size_t len,
                                    struct cairn_msg_federated_resp *m);
int cairn_msg_federated_resp_encode(const struct cairn_msg_federated_resp *m,
                                    uint8_t **out, size_t *out_len);
void cairn_msg_federated_resp_clear(struct cairn_msg_federated_resp *m);
int cairn_msg_federated_resp_equal(const struct cairn_msg_federated_resp *a,
                                   const struct cairn_msg_federated_resp *b);

int cairn_msg_entries_resp_decode(const uint8_t *data, size_t len,
                                  struct cairn_msg_entries_resp *m);
int cairn_msg_entries_resp_encode(const struct cairn_msg_entries_resp *m,
                                  uint8_t **out, size_t *out_len);
void cairn_msg_entries_resp_clear(struct cairn_msg_entries_resp *m);
int cairn_msg_entries_resp_equal(const struct cairn_msg_entries_resp *a,
                                 const struct cairn_msg_entries_resp *b);

int cairn_msg_revision_resp_decode(const uint8_t *data, size_t len,
                                   struct cairn_msg_revision_resp *m);
int cairn_msg_revision_resp_encode(const struct cairn_msg_revision_resp *m,
                                   uint8_t **out, size_t *out_len);
void cairn_msg_revision_resp_clear(struct cairn_msg_revision_resp *m);
int cairn_msg_revision_resp_equal(const struct cairn_msg_revision_resp *a,
                                  const struct cairn_msg_revision_resp *b);

int cairn_msg_svids_req_decode(const uint8_t *data, size_t len,
                               struct cairn_msg_svids_req *m);
int cairn_msg_svids_req_encode(const struct cairn_msg_svids_req *m,
                               uint8_t **out, size_t *out_len);
void cairn_msg_svids_req_clear(struct cairn_msg_svids_req *m);
int cairn_msg_svids_req_equal(const struct cairn_msg_svids_req *a,
                              const struct cairn_msg_svids_req *b);

int cairn_msg_svids_resp_decode(const uint8_t *data, size_t len,
                                struct cairn_msg_svids_resp *m);
int cairn_msg_svids_resp_encode(const struct cairn_msg_svids_resp *m,
                                uint8_t **out, size_t *out_len);
void cairn_msg_svids_resp_clear(struct cairn_msg_svids_resp *m);
int cairn_msg_svids_resp_equal(const struct cairn_msg_svids_resp *a,
                               const struct cairn_msg_svids_resp *b);

int cairn_msg_jwt_req_decode(const uint8_t *data, size_t len,
                             struct cairn_msg_jwt_req *m);
int cairn_msg_jwt_req_encode(const struct cairn_msg_jwt_req *m,
                             uint8_t **out, size_t *out_len);
void cairn_msg_jwt_req_clear(struct cairn_msg_jwt_req *m);
int cairn_msg_jwt_req_equal(const struct cairn_msg_jwt_req *a,
                            const struct cairn_msg_jwt_req *b);

int cairn_msg_jwt_resp_decode(const uint8_t *data, size_t len,
                              struct cairn_msg_jwt_resp *m);
int cairn_msg_jwt_resp_encode(const struct cairn_msg_jwt_resp *m,
                              uint8_t **out, size_t *out_len);
void cairn_msg_jwt_resp_clear(struct cairn_msg_jwt_resp *m);
int cairn_msg_jwt_resp_equal(const struct cairn_msg_jwt_resp *a,
                             const struct cairn_msg_jwt_resp *b);

int cairn_msg_ds_ca_req_decode(const uint8_t *data, size_t len,
                               struct cairn_msg_ds_ca_req *m);
int cairn_msg_ds_ca_req_encode(const struct cairn_msg_ds_ca_req *m,
                               uint8_t **out, size_t *out_len);
void cairn_msg_ds_ca_req_clear(struct cairn_msg_ds_ca_req *m);
int cairn_msg_ds_ca_req_equal(const struct cairn_msg_ds_ca_req *a,
                              const struct cairn_msg_ds_ca_req *b);

int cairn_msg_ds_ca_resp_decode(const uint8_t *data, size_t len,
                                struct cairn_msg_ds_ca_resp *m);
int cairn_msg_ds_ca_resp_encode(const struct cairn_msg_ds_ca_resp *m,
                                uint8_t **out, size_t *out_len);
void cairn_msg_ds_ca_resp_clear(struct cairn_msg_ds_ca_resp *m);
int cairn_msg_ds_ca_resp_equal(const struct cairn_msg_ds_ca_resp *a,
                               const struct cairn_msg_ds_ca_resp *b);

int cairn_msg_ds_jwtkey_req_decode(const uint8_t *data, size_t len,
                                   struct cairn_msg_ds_jwtkey_req *m);
int cairn_msg_ds_jwtkey_req_encode(const struct cairn_msg_ds_jwtkey_req *m,
                                   uint8_t **out, size_t *out_len);
void cairn_msg_ds_jwtkey_req_clear(struct cairn_msg_ds_jwtkey_req *m);
int cairn_msg_ds_jwtkey_req_equal(const struct cairn_msg_ds_jwtkey_req *a,
                                  const struct cairn_msg_ds_jwtkey_req *b);

int cairn_msg_ds_jwtkey_resp_decode(const uint8_t *data, size_t len,
                                    struct cairn_msg_ds_jwtkey_resp *m);
int cairn_msg_ds_jwtkey_resp_encode(const struct cairn_msg_ds_jwtkey_resp *m,
                                    uint8_t **out, size_t *out_len);
void cairn_msg_ds_jwtkey_resp_clear(struct cairn_msg_ds_jwtkey_resp *m);
int cairn_msg_ds_jwtkey_resp_equal(const struct cairn_msg_ds_jwtkey_resp *a,
                                   const struct cairn_msg_ds_jwtkey_resp *b);

#endif
