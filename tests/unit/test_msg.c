/* tests/unit/test_msg.c - the CBOR bodies of the tier protocol (msg.h).
 *
 * Every message: round trip (struct -> bytes -> equal struct -> same bytes)
 * and the protocol's refusal classes applied to each of its keys (missing,
 * duplicate, wrong type, tag, float, indefinite length, bad text, trailing
 * bytes, unknown keys, nesting, map size, truncation, body cap). Mutated
 * bodies are built by loading a valid encoding into a libcbor tree (test
 * code only), editing it and serialising it again. Then per-message caps at
 * and past their bound, on the decoder and on the encoder, and hand-written
 * byte vectors. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/msg.h"
#include "test.h"

#define S(x) ((char *)(x))
#define N_(a) (sizeof(a) / sizeof((a)[0]))

/* ---- sample messages ---------------------------------------------------- */

static uint8_t der_a[] = {0x30, 0x03, 0x02, 0x01, 0x01};
static uint8_t der_b[] = {0x30, 0x04, 0x02, 0x02, 0x01, 0x00};
static uint8_t der_c[] = {0x30, 0x00};
static uint8_t csr_der[] = {0x30, 0x05, 0x02, 0x03, 0x01, 0x00, 0x01};
static struct cairn_msg_bytes chain2[] = {{der_a, sizeof der_a},
                                          {der_b, sizeof der_b}};
static struct cairn_msg_bytes roots1[] = {{der_c, sizeof der_c}};
static const char BUNDLE[] = "{\"keys\":[],\"spiffe_sequence\":3}";
static const char AGENT[] = "spiffe://example.org/spire/agent/join_token/abc";

static struct cairn_msg_selector sel0[] = {{S("unix"), S("uid:1000")},
                                           {S("k8s"), S("ns:default")}};
static struct cairn_msg_selector sel1[] = {{S("unix"), S("gid:0")}};
static char *dns0[] = {S("web.example.org"), S("web")};
static char *fed0[] = {S("other.org")};
static char *removed2[] = {S("gone-1"), S("0b6f6d2e-9a4f-4f7e-8c1e-1f2a3b4c5d6e")};

static struct cairn_msg_entry entries4[] = {
  {.id = S("e0"), .spiffe_id = S("spiffe://example.org/web"),
   .parent_id = S(AGENT), .selectors = sel0, .n_selectors = 2,
   .x509_svid_ttl = 3600, .jwt_svid_ttl = 300, .dns_names = dns0,
   .n_dns_names = 2, .federates_with = fed0, .n_federates_with = 1,
   .admin = 1, .revision = 7, .hint = S("caf\xc3\xa9 \xe2\x9c\x93"),
   .expires_at = 1900000000},
  {.id = S("e1"), .spiffe_id = S("spiffe://example.org/db"),
   .parent_id = S(AGENT), .selectors = sel1, .n_selectors = 1,
   .revision = 8, .hint = S("")},
  {.id = S("node-alias"), .spiffe_id = S("spiffe://example.org/site/a"),
   .parent_id = S(AGENT), .selectors = sel1, .n_selectors = 1,
   .downstream = 1, .x509_svid_ttl = 2147483647, .revision = 9,
   .hint = S("h"), .expires_at = INT64_MAX},
  {.id = S("e3"), .spiffe_id = S("spiffe://example.org/site/a/x"),
   .parent_id = S("spiffe://example.org/site/a"), .selectors = sel0,
   .n_selectors = 2, .revision = 10, .hint = S("")},
};

static struct cairn_msg_csr_item csrs2[] = {
  {S("e0"), {csr_der, sizeof csr_der}},
  {S("e1"), {csr_der, sizeof csr_der}},
};
static struct cairn_msg_svid_item svids2[] = {
  {S("e0"), {chain2, 2}, NULL},
  {S("e1"), {NULL, 0}, S("entry is not authorised for this node")},
};
static char *aud2[] = {S("aud1"), S("spiffe://example.org/db")};

static void s_attest_req(struct cairn_msg_attest_req *m)
{
  memset(m, 0, sizeof *m);
  m->type = S("join_token");
  m->token = S("4c1b3e9a-token");
  m->csr.data = csr_der;
  m->csr.len = sizeof csr_der;
}

static void s_attest_resp(struct cairn_msg_attest_resp *m)
{
  memset(m, 0, sizeof *m);
  m->spiffe_id = S(AGENT);
  m->svid.certs = chain2;
  m->svid.n = 2;
  m->bundle = S(BUNDLE);
}

static void s_renew_req(struct cairn_msg_renew_req *m)
{
  memset(m, 0, sizeof *m);
  m->csr.data = csr_der;
  m->csr.len = sizeof csr_der;
}

static void s_renew_resp(struct cairn_msg_renew_resp *m)
{
  memset(m, 0, sizeof *m);
  m->svid.certs = chain2;
  m->svid.n = 2;
}

static void s_bundle_resp(struct cairn_msg_bundle_resp *m)
{
  memset(m, 0, sizeof *m);
  m->trust_domain = S("example.org");
  m->sequence = 42;
  m->bundle = S(BUNDLE);
}

static struct cairn_msg_bundle_resp feds[2] = {
    {S("a.example"), 1, S(BUNDLE)}, {S("b.example"), 7, S(BUNDLE)}};

static void s_federated_resp(struct cairn_msg_federated_resp *m)
{
  memset(m, 0, sizeof *m);
  m->bundles = feds;
  m->n_bundles = 2;
}

static void s_entries_resp(struct cairn_msg_entries_resp *m)
{
  memset(m, 0, sizeof *m);
  m->revision = 1234;
  m->full = 0;
  m->entries = entries4;
  m->n_entries = N_(entries4);
  m->removed = removed2;
  m->n_removed = N_(removed2);
}

static void s_revision_resp(struct cairn_msg_revision_resp *m)
{
  memset(m, 0, sizeof *m);
  m->entries = 17;
  m->bundle = 3;
}

static void s_svids_req(struct cairn_msg_svids_req *m)
{
  memset(m, 0, sizeof *m);
  m->csrs = csrs2;
  m->n_csrs = N_(csrs2);
}

static void s_svids_resp(struct cairn_msg_svids_resp *m)
{
  memset(m, 0, sizeof *m);
  m->svids = svids2;
  m->n_svids = N_(svids2);
}

static void s_jwt_req(struct cairn_msg_jwt_req *m)
{
  memset(m, 0, sizeof *m);
  m->entry_id = S("e0");
  m->audience = aud2;
  m->n_audience = N_(aud2);
}

static void s_jwt_resp(struct cairn_msg_jwt_resp *m)
{
  memset(m, 0, sizeof *m);
  m->token = S("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");
  m->expires_at = 1900000000;
}

static void s_ds_ca_req(struct cairn_msg_ds_ca_req *m)
{
  memset(m, 0, sizeof *m);
  m->csr.data = csr_der;
  m->csr.len = sizeof csr_der;
}

static void s_ds_ca_resp(struct cairn_msg_ds_ca_resp *m)
{
  memset(m, 0, sizeof *m);
  m->chain.certs = chain2;
  m->chain.n = 2;
  m->roots.certs = roots1;
  m->roots.n = 1;
  m->bundle = S(BUNDLE);
}

static void s_ds_jwtkey_req(struct cairn_msg_ds_jwtkey_req *m)
{
  memset(m, 0, sizeof *m);
  m->kid = S("k1");
  m->public_key.data = der_c;
  m->public_key.len = sizeof der_c;
  m->expires_at = 1900000000;
}

static void s_ds_jwtkey_resp(struct cairn_msg_ds_jwtkey_resp *m)
{
  memset(m, 0, sizeof *m);
  m->bundle = S(BUNDLE);
}

/* ---- per-message glue ---------------------------------------------------- */

/* dec_X: decode + clear, checks *m is zero after a failure.
 * enc_X: encodes the sample.
 * same_X: 1 when bytes decode to a struct equal to the sample, 0 when
 *         they decode to something else, -1 when they do not decode.
 * roundtrip_X: the round-trip test. */
#define MSGFNS(name)                                                        \
  static int dec_##name(const uint8_t *d, size_t n)                        \
  {                                                                        \
    struct cairn_msg_##name m, zero;                                       \
    int r = cairn_msg_##name##_decode(d, n, &m);                           \
    memset(&zero, 0, sizeof zero);                                         \
    if (r != CAIRN_OK && memcmp(&m, &zero, sizeof m) != 0)                 \
      test_fail(__FILE__, __LINE__, #name ": output not zero on failure"); \
    cairn_msg_##name##_clear(&m);                                          \
    return r;                                                              \
  }                                                                        \
  static int enc_##name(uint8_t **o, size_t *n)                            \
  {                                                                        \
    struct cairn_msg_##name m;                                             \
    s_##name(&m);                                                          \
    return cairn_msg_##name##_encode(&m, o, n);                            \
  }                                                                        \
  static int same_##name(const uint8_t *d, size_t n)                       \
  {                                                                        \
    struct cairn_msg_##name m, s;                                          \
    int eq;                                                                \
    if (cairn_msg_##name##_decode(d, n, &m) != CAIRN_OK)                   \
      return -1;                                                           \
    s_##name(&s);                                                          \
    eq = cairn_msg_##name##_equal(&m, &s);                                 \
    cairn_msg_##name##_clear(&m);                                          \
    return eq;                                                             \
  }                                                                        \
  static void roundtrip_##name(void)                                       \
  {                                                                        \
    struct cairn_msg_##name m, d, zero;                                    \
    uint8_t *o = NULL, *o2 = NULL;                                         \
    size_t n = 0, n2 = 0;                                                  \
    s_##name(&m);                                                          \
    memset(&zero, 0, sizeof zero);                                         \
    CHECK_OK(cairn_msg_##name##_encode(&m, &o, &n));                       \
    CHECK_OK(cairn_msg_##name##_decode(o, n, &d));                         \
    CHECK(cairn_msg_##name##_equal(&m, &d));                               \
    CHECK(cairn_msg_##name##_equal(&d, &m));                               \
    CHECK_OK(cairn_msg_##name##_encode(&d, &o2, &n2));                     \
    CHECK(n == n2 && o && o2 && memcmp(o, o2, n) == 0);                    \
    free(o2);                                                              \
    cairn_msg_##name##_clear(&d);                                          \
    CHECK(memcmp(&d, &zero, sizeof d) == 0);                               \
    cairn_msg_##name##_clear(&d);                                          \
    cairn_msg_##name##_clear(NULL);                                        \
    CHECK_ERR(cairn_msg_##name##_decode(NULL, 1, &d), CAIRN_ERR_INVAL);    \
    CHECK_ERR(cairn_msg_##name##_decode(o, n, NULL), CAIRN_ERR_INVAL);     \
    CHECK_ERR(cairn_msg_##name##_encode(NULL, &o2, &n2), CAIRN_ERR_INVAL); \
    CHECK(o2 == NULL && n2 == 0);                                          \
    free(o);                                                               \
  }

MSGFNS(attest_req)
MSGFNS(attest_resp)
MSGFNS(renew_req)
MSGFNS(renew_resp)
MSGFNS(bundle_resp)
MSGFNS(federated_resp)
MSGFNS(entries_resp)
MSGFNS(revision_resp)
MSGFNS(svids_req)
MSGFNS(svids_resp)
MSGFNS(jwt_req)
MSGFNS(jwt_resp)
MSGFNS(ds_ca_req)
MSGFNS(ds_ca_resp)
MSGFNS(ds_jwtkey_req)
MSGFNS(ds_jwtkey_resp)

struct keyspec {
  const char *key;
  const char *want;   /* "expected ..." text for a value of the wrong type */
};

struct msgdef {
  const char *name;
  int (*dec)(const uint8_t *, size_t);
  int (*enc)(uint8_t **, size_t *);
  int (*same)(const uint8_t *, size_t);
  size_t body_max;
  struct keyspec keys[5];
};

#define T_TSTR "a text string"
#define T_BSTR "a byte string"
#define T_UINT "an unsigned integer"
#define T_BOOL "a bool"
#define T_CHAIN "an array of byte strings"
#define T_TSTRS "an array of text strings"
#define T_MAPS "an array of maps"
#define DEF(name, cap, ...) \
  {#name, dec_##name, enc_##name, same_##name, cap, {__VA_ARGS__}}

static const struct msgdef defs[] = {
  DEF(attest_req, CAIRN_MSG_REQ_MAX, {"type", T_TSTR}, {"token", T_TSTR},
      {"csr", T_BSTR}),
  DEF(attest_resp, CAIRN_MSG_RESP_MAX, {"spiffe_id", T_TSTR},
      {"svid", T_CHAIN}, {"bundle", T_TSTR}),
  DEF(renew_req, CAIRN_MSG_REQ_MAX, {"csr", T_BSTR}),
  DEF(renew_resp, CAIRN_MSG_RESP_MAX, {"svid", T_CHAIN}),
  DEF(bundle_resp, CAIRN_MSG_RESP_MAX, {"trust_domain", T_TSTR},
      {"sequence", T_UINT}, {"bundle", T_TSTR}),
  DEF(federated_resp, CAIRN_MSG_FEDERATED_RESP_MAX, {"bundles", T_MAPS}),
  DEF(entries_resp, CAIRN_MSG_ENTRIES_RESP_MAX, {"revision", T_UINT},
      {"full", T_BOOL}, {"entries", T_MAPS}, {"removed", T_TSTRS}),
  DEF(revision_resp, CAIRN_MSG_RESP_MAX, {"entries", T_UINT},
      {"bundle", T_UINT}),
  DEF(svids_req, CAIRN_MSG_SVIDS_REQ_MAX, {"csrs", T_MAPS}),
  DEF(svids_resp, CAIRN_MSG_SVIDS_RESP_MAX, {"svids", T_MAPS}),
  DEF(jwt_req, CAIRN_MSG_REQ_MAX, {"entry_id", T_TSTR},
      {"audience", T_TSTRS}),
  DEF(jwt_resp, CAIRN_MSG_RESP_MAX, {"token", T_TSTR},
      {"expires_at", T_UINT}),
  DEF(ds_ca_req, CAIRN_MSG_REQ_MAX, {"csr", T_BSTR}),
  DEF(ds_ca_resp, CAIRN_MSG_RESP_MAX, {"chain", T_CHAIN}, {"roots", T_CHAIN},
      {"bundle", T_TSTR}),
  DEF(ds_jwtkey_req, CAIRN_MSG_REQ_MAX, {"kid", T_TSTR},
      {"public_key", T_BSTR}, {"expires_at", T_UINT}),
  DEF(ds_jwtkey_resp, CAIRN_MSG_RESP_MAX, {"bundle", T_TSTR}),
};

static const struct msgdef *def_of(const char *name)
{
  for (size_t i = 0; i < N_(defs); i++)
    if (strcmp(defs[i].name, name) == 0)
      return &defs[i];
  return NULL;
}

/* ---- libcbor tree editing (test side only) ------------------------------- */

static cbor_item_t *load(const uint8_t *p, size_t n)
{
  struct cbor_load_result res;
  cbor_item_t *it = cbor_load(p, n, &res);
  if (!it || res.read != n) {
    test_fail(__FILE__, __LINE__, "cbor_load failed");
    exit(2);
  }
  return it;
}

static uint8_t *dump(const cbor_item_t *it, size_t *n)
{
  unsigned char *buf = NULL;
  size_t cap = 0;
  *n = cbor_serialize_alloc(it, &buf, &cap);
  if (*n == 0) {
    test_fail(__FILE__, __LINE__, "cbor_serialize_alloc failed");
    exit(2);
  }
  return buf;
}

/* The slot holding the item at path ("entries.3.selectors.0"). */
static cbor_item_t **slot(cbor_item_t **root, const char *path)
{
  char buf[256], *save = NULL, *seg;
  cbor_item_t **cur = root;

  snprintf(buf, sizeof buf, "%s", path);
  for (seg = strtok_r(buf, ".", &save); seg;
       seg = strtok_r(NULL, ".", &save)) {
    cbor_item_t *it = *cur;
    cur = NULL;
    if (cbor_isa_map(it)) {
      struct cbor_pair *p = cbor_map_handle(it);
      for (size_t i = 0; i < cbor_map_size(it); i++)
        if (cbor_isa_string(p[i].key) &&
            cbor_string_length(p[i].key) == strlen(seg) &&
            memcmp(cbor_string_handle(p[i].key), seg, strlen(seg)) == 0)
          cur = &p[i].value;
    } else if (cbor_isa_array(it)) {
      size_t i = (size_t)strtoul(seg, NULL, 10);
      if (i < cbor_array_size(it))
        cur = &cbor_array_handle(it)[i];
    }
    if (!cur) {
      test_fail(__FILE__, __LINE__, "no item at %s", path);
      exit(2);
    }
  }
  return cur;
}

/* A copy of map without key drop (may be NULL), with its first pair
 * repeated when dup, and with an extra pair (key, val) when key is set
 * (val is consumed). */
static cbor_item_t *map_edit(cbor_item_t *map, const char *drop, int dup,
                             cbor_item_t *key, cbor_item_t *val)
{
  struct cbor_pair *p = cbor_map_handle(map);
  size_t n = cbor_map_size(map);
  cbor_item_t *out = cbor_new_definite_map(n + 2);

  for (size_t i = 0; i < n; i++) {
    if (drop && cbor_string_length(p[i].key) == strlen(drop) &&
        memcmp(cbor_string_handle(p[i].key), drop, strlen(drop)) == 0)
      continue;
    cbor_map_add(out, p[i]);
  }
  if (dup && n)
    cbor_map_add(out, p[0]);
  if (key)
    cbor_map_add(out, (struct cbor_pair){.key = cbor_move(key),
                                         .value = cbor_move(val)});
  return out;
}

/* Replaces the item at path (root when "") by v (consumed). */
static void put_item(cbor_item_t **root, const char *path, cbor_item_t *v)
{
  cbor_item_t **s = path[0] ? slot(root, path) : root;
  cbor_decref(s);
  *s = v;
}

/* The sample of def d with the item at path replaced by v (consumed). */
static uint8_t *with_item(const struct msgdef *d, const char *path,
                          cbor_item_t *v, size_t *n)
{
  uint8_t *enc, *out;
  size_t len;
  cbor_item_t *root;

  if (d->enc(&enc, &len) != CAIRN_OK) {
    test_fail(__FILE__, __LINE__, "%s: sample does not encode: %s", d->name,
              cairn_errdetail());
    exit(2);
  }
  root = load(enc, len);
  free(enc);
  put_item(&root, path, v);
  out = dump(root, n);
  cbor_decref(&root);
  return out;
}

/* The sample of d with the map at path ("" = body) edited by map_edit. */
static uint8_t *with_map(const struct msgdef *d, const char *path,
                         const char *drop, int dup, cbor_item_t *key,
                         cbor_item_t *val, size_t *n)
{
  uint8_t *enc, *out;
  size_t len;
  cbor_item_t *root, **s;

  if (d->enc(&enc, &len) != CAIRN_OK) {
    test_fail(__FILE__, __LINE__, "%s: sample does not encode", d->name);
    exit(2);
  }
  root = load(enc, len);
  free(enc);
  s = path[0] ? slot(&root, path) : &root;
  put_item(&root, path, map_edit(*s, drop, dup, key, val));
  out = dump(root, n);
  cbor_decref(&root);
  return out;
}

/* Decodes bytes (freed) with d and checks the code and the exact detail
 * (want NULL: only the code). */
#define EXPECT(d, bytes, n, code, want) \
  expect_at(__LINE__, d, bytes, n, code, want)

static void expect_at(int line, const struct msgdef *d, uint8_t *bytes,
                      size_t n, int code, const char *want)
{
  int r = d->dec(bytes, n);
  if (r != code)
    test_fail(__FILE__, line, "%s: got %d (%s), want %d [%s]", d->name, r,
              cairn_strerror(r), code, cairn_errdetail());
  else if (want && strcmp(cairn_errdetail(), want) != 0)
    test_fail(__FILE__, line, "%s: detail \"%s\", want \"%s\"", d->name,
              cairn_errdetail(), want);
  free(bytes);
}

static cbor_item_t *str_n(const char *s, size_t n)
{
  return cbor_build_stringn(s, n);
}

static cbor_item_t *str_rep(char c, size_t n)
{
  char *s = malloc(n ? n : 1);
  cbor_item_t *it;
  memset(s, c, n);
  it = cbor_build_stringn(s, n);
  free(s);
  return it;
}

static cbor_item_t *bstr_rep(uint8_t c, size_t n)
{
  uint8_t *s = malloc(n ? n : 1);
  cbor_item_t *it;
  memset(s, c, n);
  it = cbor_build_bytestring(s, n);
  free(s);
  return it;
}

/* [[[...[]...]]]: depth nested arrays. */
static cbor_item_t *nested(int depth)
{
  cbor_item_t *it = cbor_new_definite_array(0);
  for (int i = 1; i < depth; i++) {
    cbor_item_t *outer = cbor_new_definite_array(1);
    cbor_array_push(outer, cbor_move(it));
    it = outer;
  }
  return it;
}

/* ---- round trips ----------------------------------------------------------- */

static void test_roundtrip_all(void)
{
  roundtrip_attest_req();
  roundtrip_attest_resp();
  roundtrip_renew_req();
  roundtrip_renew_resp();
  roundtrip_bundle_resp();
  roundtrip_federated_resp();
  roundtrip_entries_resp();
  roundtrip_revision_resp();
  roundtrip_svids_req();
  roundtrip_svids_resp();
  roundtrip_jwt_req();
  roundtrip_jwt_resp();
  roundtrip_ds_ca_req();
  roundtrip_ds_ca_resp();
  roundtrip_ds_jwtkey_req();
  roundtrip_ds_jwtkey_resp();
}

/* Deterministic encoding: exact bytes, keys shorter-first then bytewise. */
static void test_canonical_bytes(void)
{
  struct cairn_msg_revision_resp rv = {.entries = 17, .bundle = 3};
  struct cairn_msg_attest_req ar;
  struct cairn_msg_entries_resp er;
  static const uint8_t want_rv[] = {
    0xa2, 0x66, 'b', 'u', 'n', 'd', 'l', 'e', 0x03,
    0x67, 'e', 'n', 't', 'r', 'i', 'e', 's', 0x11};
  static const uint8_t want_ar[] = {
    0xa3, 0x63, 'c', 's', 'r', 0x47, 0x30, 0x05, 0x02, 0x03, 0x01, 0x00,
    0x01, 0x64, 't', 'y', 'p', 'e', 0x6a, 'j', 'o', 'i', 'n', '_', 't',
    'o', 'k', 'e', 'n', 0x65, 't', 'o', 'k', 'e', 'n', 0x62, 'a', 'b'};
  static const uint8_t want_er[] = {
    0xa4, 0x64, 'f', 'u', 'l', 'l', 0xf5, 0x67, 'e', 'n', 't', 'r', 'i',
    'e', 's', 0x80, 0x67, 'r', 'e', 'm', 'o', 'v', 'e', 'd', 0x80, 0x68,
    'r', 'e', 'v', 'i', 's', 'i', 'o', 'n', 0x1b, 0x7f, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff};
  uint8_t *o;
  size_t n;

  CHECK_OK(cairn_msg_revision_resp_encode(&rv, &o, &n));
  CHECK(n == sizeof want_rv && memcmp(o, want_rv, n) == 0);
  free(o);

  s_attest_req(&ar);
  ar.token = S("ab");
  CHECK_OK(cairn_msg_attest_req_encode(&ar, &o, &n));
  CHECK(n == sizeof want_ar && memcmp(o, want_ar, n) == 0);
  free(o);

  memset(&er, 0, sizeof er);
  er.full = 5;  /* any non-zero int is true */
  er.revision = INT64_MAX;
  CHECK_OK(cairn_msg_entries_resp_encode(&er, &o, &n));
  CHECK(n == sizeof want_er && memcmp(o, want_er, n) == 0);
  free(o);
}

/* equal() compares every field, NULL text as "", optional text by
 * presence. */
static void test_equal(void)
{
  struct cairn_msg_entries_resp a, b;
  struct cairn_msg_entry es[4];
  struct cairn_msg_selector sx[2];
  struct cairn_msg_svid_item it[2];
  struct cairn_msg_svids_resp ra, rb;
  struct cairn_msg_attest_resp xa, xb;
  struct cairn_msg_bytes cx[2];
  uint8_t other = 0x31;

  s_entries_resp(&a);
  s_entries_resp(&b);
  b.entries = es;
  memcpy(es, entries4, sizeof es);
  CHECK(cairn_msg_entries_resp_equal(&a, &b));
  es[1].hint = NULL;  /* "" */
  CHECK(cairn_msg_entries_resp_equal(&a, &b));
  es[1].hint = S("x");
  CHECK(!cairn_msg_entries_resp_equal(&a, &b));
  memcpy(es, entries4, sizeof es);
  memcpy(sx, sel0, sizeof sx);
  es[3].selectors = sx;
  sx[1].value = S("ns:other");
  CHECK(!cairn_msg_entries_resp_equal(&a, &b));
  memcpy(es, entries4, sizeof es);
  es[0].admin = 7;  /* still true */
  CHECK(cairn_msg_entries_resp_equal(&a, &b));
  es[0].admin = 0;
  CHECK(!cairn_msg_entries_resp_equal(&a, &b));
  memcpy(es, entries4, sizeof es);
  es[2].expires_at--;
  CHECK(!cairn_msg_entries_resp_equal(&a, &b));
  memcpy(es, entries4, sizeof es);
  es[0].n_dns_names = 1;
  CHECK(!cairn_msg_entries_resp_equal(&a, &b));
  memcpy(es, entries4, sizeof es);
  b.n_removed = 1;
  CHECK(!cairn_msg_entries_resp_equal(&a, &b));
  b.n_removed = 2;
  b.full = 1;
  CHECK(!cairn_msg_entries_resp_equal(&a, &b));
  b.full = 0;
  b.n_entries = 3;
  CHECK(!cairn_msg_entries_resp_equal(&a, &b));

  s_svids_resp(&ra);
  s_svids_resp(&rb);
  memcpy(it, svids2, sizeof it);
  rb.svids = it;
  CHECK(cairn_msg_svids_resp_equal(&ra, &rb));
  it[0].error = S("");  /* present, though empty: differs from absent */
  CHECK(!cairn_msg_svids_resp_equal(&ra, &rb));

  s_attest_resp(&xa);
  s_attest_resp(&xb);
  memcpy(cx, chain2, sizeof cx);
  xb.svid.certs = cx;
  CHECK(cairn_msg_attest_resp_equal(&xa, &xb));
  cx[1].data = &other;
  cx[1].len = 1;
  CHECK(!cairn_msg_attest_resp_equal(&xa, &xb));
  cx[1] = chain2[1];
  xb.spiffe_id = S("spiffe://example.org/other");
  CHECK(!cairn_msg_attest_resp_equal(&xa, &xb));
  CHECK(cairn_msg_attest_resp_equal(NULL, NULL));
  CHECK(!cairn_msg_attest_resp_equal(&xa, NULL));
}

/* ---- the refusal classes, for every message and key ------------------------ */

static void refusals_of(const struct msgdef *d)
{
  char want[512];
  uint8_t *b, *enc;
  size_t n, len;

  CHECK_OK(d->enc(&enc, &len));
  CHECK(d->same(enc, len) == 1);

  /* The body as a whole. */
  EXPECT(d, NULL, 0, CAIRN_ERR_PARSE, "body: empty");
  b = malloc(len + 1);
  memcpy(b, enc, len);
  b[len] = 0x00;
  EXPECT(d, b, len + 1, CAIRN_ERR_PARSE, "body: trailing bytes after the map");
  b = malloc(len + 1);
  memcpy(b, enc, len);
  b[len] = 0xa0;
  EXPECT(d, b, len + 1, CAIRN_ERR_PARSE, "body: trailing bytes after the map");
  b = malloc(1);
  b[0] = 0x80;
  EXPECT(d, b, 1, CAIRN_ERR_PARSE, "body: expected a map");
  {
    cbor_item_t *root = load(enc, len), *im = cbor_new_indefinite_map();
    for (size_t i = 0; i < cbor_map_size(root); i++)
      cbor_map_add(im, cbor_map_handle(root)[i]);
    b = dump(im, &n);
    CHECK(b[0] == 0xbf && b[n - 1] == 0xff);
    EXPECT(d, b, n, CAIRN_ERR_PARSE,
           "body: indefinite-length items are not allowed");
    cbor_decref(&im);
    im = cbor_build_tag(55799, root);
    b = dump(im, &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, "body: tags are not allowed");
    cbor_decref(&im);
    cbor_decref(&root);
  }
  /* Every truncation fails cleanly. */
  for (size_t i = 1; i < len; i++) {
    int r = d->dec(enc, i);
    const char *det = cairn_errdetail();
    size_t dl = strlen(det), sl = strlen("unexpected end of input");
    if (r != CAIRN_ERR_PARSE || dl < sl ||
        strcmp(det + dl - sl, "unexpected end of input") != 0)
      test_fail(__FILE__, __LINE__, "%s: prefix %zu: %d [%s]", d->name, i, r,
                det);
  }
  /* Duplicate key: the first key (in canonical order) again at the end. */
  {
    cbor_item_t *root = load(enc, len);
    snprintf(want, sizeof want, "body: duplicate key \"%.*s\"",
             (int)cbor_string_length(cbor_map_handle(root)[0].key),
             (const char *)cbor_string_handle(cbor_map_handle(root)[0].key));
    cbor_decref(&root);
    b = with_map(d, "", NULL, 1, NULL, NULL, &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
  }
  /* Unknown keys are ignored, whatever well-formed value they carry. */
  {
    cbor_item_t *v = cbor_new_definite_map(2), *a = cbor_new_definite_array(5);
    cbor_array_push(a, cbor_move(cbor_build_uint8(1)));
    cbor_array_push(a, cbor_move(cbor_build_bytestring((cbor_data) "\0", 1)));
    cbor_array_push(a, cbor_move(cbor_build_string("x")));
    cbor_array_push(a, cbor_move(cbor_build_bool(true)));
    cbor_array_push(a, cbor_move(cbor_new_null()));
    cbor_map_add(v, (struct cbor_pair){cbor_move(cbor_build_string("a")),
                                       cbor_move(a)});
    cbor_map_add(v, (struct cbor_pair){cbor_move(cbor_build_string("b")),
                                       cbor_move(cbor_build_negint8(2))});
    b = with_map(d, "", NULL, 0, cbor_build_string("zz"), v, &n);
    CHECK(d->same(b, n) == 1);
    free(b);
    b = with_map(d, "", NULL, 0, cbor_build_string("zz"), nested(4), &n);
    CHECK(d->same(b, n) == 1);
    free(b);
    b = with_map(d, "", NULL, 0, str_rep('k', CAIRN_MSG_KEY_MAX),
                 cbor_new_undef(), &n);
    CHECK(d->same(b, n) == 1);
    free(b);
  }
  /* ... but they obey the same rules. */
  b = with_map(d, "", NULL, 0, cbor_build_string("zz"), nested(5), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE,
         "zz[0][0][0][0]: nested deeper than 5 levels");
  b = with_map(d, "", NULL, 0, cbor_build_string("zz"),
               cbor_build_float2(1.5f), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE, "zz: floats are not allowed");
  b = with_map(d, "", NULL, 0, str_n("a\nb", 3),
               cbor_build_tag(1, cbor_move(cbor_build_uint8(0))), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE, "a?b: tags are not allowed");
  b = with_map(d, "", NULL, 0, cbor_build_string("zz"),
               cbor_new_indefinite_bytestring(), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE,
         "zz: indefinite-length items are not allowed");
  b = with_map(d, "", NULL, 0, cbor_build_string("zz"), str_n("\xff", 1), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE, "zz: not valid UTF-8");
  {
    cbor_item_t *v = cbor_new_definite_map(2);
    cbor_map_add(v, (struct cbor_pair){cbor_move(cbor_build_string("a")),
                                       cbor_move(cbor_build_uint8(1))});
    cbor_map_add(v, (struct cbor_pair){cbor_move(cbor_build_string("a")),
                                       cbor_move(cbor_build_uint8(2))});
    b = with_map(d, "", NULL, 0, cbor_build_string("zz"), v, &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, "zz: duplicate key \"a\"");
  }
  b = with_map(d, "", NULL, 0, str_rep('k', CAIRN_MSG_KEY_MAX + 1),
               cbor_build_uint8(0), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE, "body: map key longer than 64 bytes");
  b = with_map(d, "", NULL, 0, str_n("\xc0\x80", 2), cbor_build_uint8(0), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE, "body: map key is not valid UTF-8");
  b = with_map(d, "", NULL, 0, cbor_build_uint8(1), cbor_build_uint8(0), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE, "body: map keys must be text strings");
  /* At most 32 pairs in a map. */
  {
    cbor_item_t *root = load(enc, len);
    size_t have = cbor_map_size(root);
    for (int extra = 0; extra < 2; extra++) {
      size_t total = CAIRN_MSG_MAP_PAIRS_MAX + (size_t)extra;
      cbor_item_t *m = cbor_new_definite_map(total);
      for (size_t i = 0; i < have; i++)
        cbor_map_add(m, cbor_map_handle(root)[i]);
      for (size_t i = have; i < total; i++) {
        char k[24];
        snprintf(k, sizeof k, "x%zu", i);
        cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string(k)),
                                           cbor_move(cbor_build_uint8(0))});
      }
      b = dump(m, &n);
      if (extra)
        EXPECT(d, b, n, CAIRN_ERR_PARSE, "body: map has more than 32 keys");
      else {
        CHECK(d->same(b, n) == 1);
        free(b);
      }
      cbor_decref(&m);
    }
    cbor_decref(&root);
  }
  /* The body cap: exactly at it (padded by an unknown key), and past it. */
  {
    cbor_item_t *root = load(enc, len), *m;
    size_t base, pad;
    m = map_edit(root, NULL, 0, cbor_build_string("pad"),
                 cbor_build_bytestring((cbor_data) "", 0));
    b = dump(m, &base);
    free(b);
    cbor_decref(&m);
    /* base has an empty bstr (1-byte head); find the pad whose head and
     * bytes fill the body up to the cap. */
    for (size_t h = 2; h <= 9; h++) {
      unsigned char hb[9];
      pad = d->body_max - (base - 1) - h;
      if (cbor_encode_bytestring_start(pad, hb, sizeof hb) == h)
        break;
    }
    m = map_edit(root, NULL, 0, cbor_build_string("pad"), bstr_rep(7, pad));
    b = dump(m, &n);
    CHECK_INT_EQ(n, d->body_max);
    CHECK(d->same(b, n) == 1);
    free(b);
    cbor_decref(&m);
    cbor_decref(&root);
    b = calloc(1, d->body_max + 1);
    snprintf(want, sizeof want, "body: larger than %zu bytes", d->body_max);
    EXPECT(d, b, d->body_max + 1, CAIRN_ERR_TOO_BIG, want);
  }

  /* Each key: missing, wrong type, tagged, float, indefinite, bad text. */
  for (size_t k = 0; k < N_(d->keys) && d->keys[k].key; k++) {
    const char *key = d->keys[k].key, *w = d->keys[k].want;
    int text = strcmp(w, T_TSTR) == 0;

    snprintf(want, sizeof want, "body: missing key \"%s\"", key);
    b = with_map(d, "", key, 0, NULL, NULL, &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);

    snprintf(want, sizeof want, "%s: expected %s", key, w);
    b = with_item(d, key, text ? cbor_build_uint8(7) : cbor_build_string("x"),
                  &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    b = with_item(d, key, cbor_new_null(), &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    if (strcmp(w, T_UINT) == 0) {
      b = with_item(d, key, cbor_build_negint8(0), &n);
      EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
      snprintf(want, sizeof want, "%s: larger than 9223372036854775807", key);
      b = with_item(d, key, cbor_build_uint64((uint64_t)INT64_MAX + 1), &n);
      EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    }

    snprintf(want, sizeof want, "%s: tags are not allowed", key);
    {
      cbor_item_t *root = load(enc, len);
      cbor_item_t *v = cbor_incref(*slot(&root, key));
      cbor_decref(&root);
      b = with_item(d, key, cbor_build_tag(24, cbor_move(v)), &n);
      EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    }
    snprintf(want, sizeof want, "%s: floats are not allowed", key);
    b = with_item(d, key, cbor_build_float8(1.0), &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    snprintf(want, sizeof want, "%s: indefinite-length items are not allowed",
             key);
    b = with_item(d, key, cbor_new_indefinite_array(), &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    b = with_item(d, key, cbor_new_indefinite_string(), &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    b = with_item(d, key, cbor_new_indefinite_bytestring(), &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    b = with_item(d, key, cbor_new_indefinite_map(), &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);

    if (text) {
      snprintf(want, sizeof want, "%s: not valid UTF-8", key);
      b = with_item(d, key, str_n("ab\xc3(", 4), &n);
      EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
      b = with_item(d, key, str_n("\xed\xa0\x80", 3), &n);  /* surrogate */
      EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
      b = with_item(d, key, str_n("\xe0\x80\xaf", 3), &n);  /* overlong */
      EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
      snprintf(want, sizeof want, "%s: contains a NUL character", key);
      b = with_item(d, key, str_n("a\0b", 3), &n);
      EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
      snprintf(want, sizeof want, "%s: must not be empty", key);
      b = with_item(d, key, str_n("", 0), &n);
      EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
    }
  }
  free(enc);
}

static void test_refusals_every_message(void)
{
  for (size_t i = 0; i < N_(defs); i++)
    refusals_of(&defs[i]);
}

/* /v1/revision's "federated": absent when 0, so older bodies decode to 0
 * and a 0 encodes as before. */
static void test_revision_federated(void)
{
  struct cairn_msg_revision_resp m = {3, 4, 0}, d;
  uint8_t *o = NULL;
  size_t n = 0;

  CHECK_OK(cairn_msg_revision_resp_encode(&m, &o, &n));
  /* {"bundle": 4, "entries": 3} */
  CHECK_INT_EQ(n, 1 + 7 + 1 + 8 + 1);
  CHECK(o && o[0] == 0xa2);
  CHECK_OK(cairn_msg_revision_resp_decode(o, n, &d));
  CHECK(d.federated == 0 && d.entries == 3 && d.bundle == 4);
  free(o);
  o = NULL;
  m.federated = (uint64_t)INT64_MAX;
  CHECK_OK(cairn_msg_revision_resp_encode(&m, &o, &n));
  CHECK(o && o[0] == 0xa3);
  CHECK_OK(cairn_msg_revision_resp_decode(o, n, &d));
  CHECK(d.federated == (uint64_t)INT64_MAX);
  CHECK(cairn_msg_revision_resp_equal(&m, &d));
  free(o);
  o = NULL;
  m.federated = (uint64_t)INT64_MAX + 1;
  CHECK_ERR(cairn_msg_revision_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
}

/* GET /v1/federated: trust domains strictly ascending, at most 64. */
static void test_federated_order(void)
{
  struct cairn_msg_bundle_resp b[CAIRN_MSG_FEDERATED_MAX + 1];
  struct cairn_msg_federated_resp m, d;
  char names[CAIRN_MSG_FEDERATED_MAX + 1][16];
  uint8_t *o = NULL;
  size_t n = 0;

  for (size_t i = 0; i < N_(b); i++) {
    snprintf(names[i], sizeof names[i], "td%03zu.example", i);
    b[i].trust_domain = names[i];
    b[i].sequence = i;
    b[i].bundle = S(BUNDLE);
  }
  memset(&m, 0, sizeof m);
  m.bundles = b;
  m.n_bundles = CAIRN_MSG_FEDERATED_MAX;
  CHECK_OK(cairn_msg_federated_resp_encode(&m, &o, &n));
  CHECK_OK(cairn_msg_federated_resp_decode(o, n, &d));
  CHECK_INT_EQ(d.n_bundles, CAIRN_MSG_FEDERATED_MAX);
  cairn_msg_federated_resp_clear(&d);
  free(o);
  o = NULL;
  m.n_bundles = CAIRN_MSG_FEDERATED_MAX + 1;
  CHECK_ERR(cairn_msg_federated_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  /* Out of order, or a domain twice: refused both ways. */
  m.n_bundles = 2;
  m.bundles = b + 1;
  b[2].trust_domain = names[0];
  CHECK_ERR(cairn_msg_federated_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK(strstr(cairn_errdetail(), "ascending trust domain order") != NULL);
  b[2].trust_domain = names[1];
  CHECK_ERR(cairn_msg_federated_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  {
    /* {"bundles": [b, a]} by hand from two single-bundle encodings. */
    struct cairn_msg_federated_resp one;
    uint8_t *x = NULL, *y = NULL, *cat;
    size_t nx = 0, ny = 0, hdr = 1 + 1 + 7 + 1; /* map1, "bundles", arr */
    memset(&one, 0, sizeof one);
    one.n_bundles = 1;
    one.bundles = &b[3];
    CHECK_OK(cairn_msg_federated_resp_encode(&one, &x, &nx));
    one.bundles = &b[2];
    CHECK_OK(cairn_msg_federated_resp_encode(&one, &y, &ny));
    cat = malloc(nx + ny);
    memcpy(cat, x, nx);
    cat[hdr - 1] = 0x82; /* array of 2 */
    memcpy(cat + nx, y + hdr, ny - hdr);
    CHECK_ERR(cairn_msg_federated_resp_decode(cat, nx + ny - hdr, &d),
              CAIRN_ERR_PARSE);
    CHECK(strstr(cairn_errdetail(), "ascending trust domain order") != NULL);
    free(cat);
    free(x);
    free(y);
  }
}

/* ---- hand-written byte vectors (renew_req: {"csr": h'01'}) ---------------- */

struct vec {
  const char *bytes;
  size_t len;
  int code;
  const char *want;
};
#define V(lit, code, want) {lit, sizeof(lit) - 1, code, want}

static void test_byte_vectors(void)
{
  static const struct vec vecs[] = {
    V("\xa1\x63" "csr" "\x41\x01", CAIRN_OK, NULL),
    /* Long heads are accepted (not canonical, but well-formed). */
    V("\xa1\x63" "csr" "\x58\x01\x01", CAIRN_OK, NULL),
    V("\xb8\x01\x63" "csr" "\x5b\x00\x00\x00\x00\x00\x00\x00\x01\x01",
      CAIRN_OK, NULL),
    V("\xa2\x63" "csr" "\x41\x01\x63" "csr" "\x41\x02", CAIRN_ERR_PARSE,
      "body: duplicate key \"csr\""),
    V("\xa2\x63" "csr" "\x41\x01\x7b\x00\x00\x00\x00\x00\x00\x00\x03" "csr"
      "\x41\x02", CAIRN_ERR_PARSE, "body: duplicate key \"csr\""),
    V("\xbf\x63" "csr" "\x41\x01\xff", CAIRN_ERR_PARSE,
      "body: indefinite-length items are not allowed"),
    V("\xa1\x63" "csr" "\x5f\x41\x01\xff", CAIRN_ERR_PARSE,
      "csr: indefinite-length items are not allowed"),
    V("\xa1\x7f\x63" "csr" "\xff\x41\x01", CAIRN_ERR_PARSE,
      "body: indefinite-length items are not allowed"),
    V("\xa1\x63" "csr" "\xd8\x18\x41\x01", CAIRN_ERR_PARSE,
      "csr: tags are not allowed"),
    V("\xc0\xa1\x63" "csr" "\x41\x01", CAIRN_ERR_PARSE,
      "body: tags are not allowed"),
    V("\xa1\xd9\xd9\xf7\x63" "csr" "\x41\x01", CAIRN_ERR_PARSE,
      "body: tags are not allowed"),
    V("\xa1\x63" "csr" "\x41\x01\x00", CAIRN_ERR_PARSE,
      "body: trailing bytes after the map"),
    V("\xa1\x63" "csr" "\x41\x01\xa1\x63" "csr" "\x41\x01", CAIRN_ERR_PARSE,
      "body: trailing bytes after the map"),
    V("\xa1\x63" "csr" "\xf9\x3c\x00", CAIRN_ERR_PARSE,
      "csr: floats are not allowed"),
    V("\xa1\x63" "csr" "\xfa\x3f\x80\x00\x00", CAIRN_ERR_PARSE,
      "csr: floats are not allowed"),
    V("\xa1\x63" "csr" "\xf6", CAIRN_ERR_PARSE, "csr: expected a byte string"),
    V("\xa1\x63" "csr" "\xf7", CAIRN_ERR_PARSE, "csr: expected a byte string"),
    V("\xa1\x63" "csr" "\xf5", CAIRN_ERR_PARSE, "csr: expected a byte string"),
    V("\xa1\x63" "csr" "\x40", CAIRN_ERR_PARSE, "csr: must not be empty"),
    V("\xa1\x63" "csr" "\xf8\x20", CAIRN_ERR_PARSE, "csr: malformed CBOR"),
    V("\xa1\x63" "csr" "\xf0", CAIRN_ERR_PARSE, "csr: malformed CBOR"),
    V("\xa1\x63" "csr" "\x1c", CAIRN_ERR_PARSE, "csr: malformed CBOR"),
    V("\xa1\x63" "csr" "\xff", CAIRN_ERR_PARSE,
      "csr: malformed CBOR (unexpected break)"),
    V("\xa1\x63" "csr", CAIRN_ERR_PARSE, "csr: unexpected end of input"),
    V("\xa1\x63" "csr" "\x42\x01", CAIRN_ERR_PARSE,
      "csr: unexpected end of input"),
    V("\xa1\x63" "cs", CAIRN_ERR_PARSE, "body: unexpected end of input"),
    V("\xa2\x63" "csr" "\x41\x01", CAIRN_ERR_PARSE,
      "body: unexpected end of input"),
    V("\xa1\x63" "csr" "\x5b\x00\x00\x00\x01\x00\x00\x00\x00", CAIRN_ERR_PARSE,
      "csr: length too large"),
    V("\xa1\x63" "csr" "\x5b\xff\xff\xff\xff\xff\xff\xff\xff", CAIRN_ERR_PARSE,
      "csr: length too large"),
    V("\xa1\x63" "csr" "\x5a\xff\xff\xff\xff", CAIRN_ERR_PARSE,
      "csr: unexpected end of input"),
    V("\xbb\x00\x00\x00\x01\x00\x00\x00\x00", CAIRN_ERR_PARSE,
      "body: length too large"),
    V("\xba\xff\xff\xff\xff", CAIRN_ERR_PARSE,
      "body: map has more than 32 keys"),
    V("\xa0", CAIRN_ERR_PARSE, "body: missing key \"csr\""),
    V("\x80", CAIRN_ERR_PARSE, "body: expected a map"),
    V("\x41\x01", CAIRN_ERR_PARSE, "body: expected a map"),
    V("\xa1\x01\x41\x01", CAIRN_ERR_PARSE,
      "body: map keys must be text strings"),
    V("\xa1\x43" "csr" "\x41\x01", CAIRN_ERR_PARSE,
      "body: map keys must be text strings"),
    V("\xa1\x61\xff\x41\x01", CAIRN_ERR_PARSE,
      "body: map key is not valid UTF-8"),
    V("\xa1\x63" "cs\0" "\x41\x01", CAIRN_ERR_PARSE,
      "body: map key is not valid UTF-8"),
    V("\xa1\xc1\x63" "csr" "\x41\x01", CAIRN_ERR_PARSE,
      "body: tags are not allowed"),
    V("\xa1\x63" "CSR" "\x41\x01", CAIRN_ERR_PARSE, "body: missing key \"csr\""),
    V("\xa1\x63" "csr" "\x41\x01\xff", CAIRN_ERR_PARSE,
      "body: trailing bytes after the map"),
  };
  const struct msgdef *d = def_of("renew_req");

  for (size_t i = 0; i < N_(vecs); i++) {
    int r;
    uint8_t *b = malloc(vecs[i].len);
    memcpy(b, vecs[i].bytes, vecs[i].len);
    r = d->dec(b, vecs[i].len);
    if (r != vecs[i].code ||
        (vecs[i].want && strcmp(cairn_errdetail(), vecs[i].want) != 0))
      test_fail(__FILE__, __LINE__, "vector %zu: got %d [%s], want %d [%s]",
                i, r, cairn_errdetail(), vecs[i].code,
                vecs[i].want ? vecs[i].want : "");
    free(b);
  }
  /* The decoded value of the long-head vector. */
  {
    struct cairn_msg_renew_req m;
    CHECK_OK(cairn_msg_renew_req_decode(
        (const uint8_t *)"\xb8\x01\x63" "csr"
                         "\x5b\x00\x00\x00\x00\x00\x00\x00\x01\x2a",
        16, &m));
    CHECK(m.csr.len == 1 && m.csr.data[0] == 0x2a);
    cairn_msg_renew_req_clear(&m);
  }
  /* An array head claiming more items than there are bytes. */
  {
    const struct msgdef *e = def_of("entries_resp");
    static const char v[] = "\xa1\x67" "removed" "\x99\x03\xe8\x61" "a";
    uint8_t *b = malloc(sizeof v - 1);
    memcpy(b, v, sizeof v - 1);
    EXPECT(e, b, sizeof v - 1, CAIRN_ERR_PARSE,
           "removed: unexpected end of input");
  }
}

/* ---- per-message caps and rules -------------------------------------------- */

/* At the bound: decodes. Past it: refused with want. */
#define AT_AND_PAST(d, path, at_item, past_item, want)                       \
  do {                                                                       \
    size_t n_;                                                               \
    uint8_t *b_ = with_item(d, path, at_item, &n_);                          \
    EXPECT(d, b_, n_, CAIRN_OK, NULL);                                       \
    b_ = with_item(d, path, past_item, &n_);                                 \
    EXPECT(d, b_, n_, CAIRN_ERR_PARSE, want);                                \
  } while (0)

static cbor_item_t *bstr_array(size_t count, size_t each)
{
  cbor_item_t *a = cbor_new_definite_array(count);
  for (size_t i = 0; i < count; i++)
    cbor_array_push(a, cbor_move(bstr_rep(0x30, each)));
  return a;
}

static cbor_item_t *tstr_array(size_t count, const char *each)
{
  cbor_item_t *a = cbor_new_definite_array(count);
  for (size_t i = 0; i < count; i++)
    cbor_array_push(a, cbor_move(cbor_build_string(each)));
  return a;
}

static cbor_item_t *selector(const char *t, size_t tl, const char *v,
                             size_t vl)
{
  cbor_item_t *a = cbor_new_definite_array(2);
  cbor_array_push(a, cbor_move(str_n(t, tl)));
  cbor_array_push(a, cbor_move(str_n(v, vl)));
  return a;
}

static void test_caps_attest(void)
{
  const struct msgdef *rq = def_of("attest_req"), *rs = def_of("attest_resp");
  struct cairn_msg_attest_req m;
  char tok[CAIRN_MSG_TOKEN_MAX + 2];
  uint8_t *o = (uint8_t *)"x";
  size_t n = 1;

  AT_AND_PAST(rq, "token", str_rep('t', 128), str_rep('t', 129),
              "token: longer than 128 bytes");
  AT_AND_PAST(rq, "type", str_rep('t', 64), str_rep('t', 65),
              "type: longer than 64 bytes");
  AT_AND_PAST(rq, "csr", bstr_rep(1, 8192), bstr_rep(1, 8193),
              "csr: longer than 8192 bytes");
  /* The encoder applies the same caps and names the field. */
  s_attest_req(&m);
  memset(tok, 't', sizeof tok);
  tok[CAIRN_MSG_TOKEN_MAX + 1] = '\0';
  m.token = tok;
  CHECK_ERR(cairn_msg_attest_req_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "token: longer than 128 bytes");
  CHECK(o == NULL && n == 0);
  m.token = NULL;
  CHECK_ERR(cairn_msg_attest_req_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "token: must not be empty");
  m.token = S("ok");
  m.csr.data = NULL;
  CHECK_ERR(cairn_msg_attest_req_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "csr: NULL data with 7 bytes");
  m.csr.len = 0;
  CHECK_ERR(cairn_msg_attest_req_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "csr: must not be empty");

  AT_AND_PAST(rs, "svid", bstr_array(16, 10), bstr_array(17, 10),
              "svid: more than 16 items");
  AT_AND_PAST(rs, "svid.1", bstr_rep(2, 16384), bstr_rep(2, 16385),
              "svid[1]: longer than 16384 bytes");
  AT_AND_PAST(rs, "svid", bstr_array(1, 1), cbor_new_definite_array(0),
              "svid: must not be empty");
  AT_AND_PAST(rs, "svid.0", bstr_rep(2, 1), bstr_rep(2, 0),
              "svid[0]: must not be empty");
  AT_AND_PAST(rs, "svid.1", bstr_rep(2, 1), cbor_build_string("x"),
              "svid[1]: expected a byte string");
  AT_AND_PAST(rs, "bundle", str_rep('{', CAIRN_MSG_BUNDLE_MAX),
              str_rep('{', CAIRN_MSG_BUNDLE_MAX + 1),
              "bundle: longer than 1048576 bytes");
  AT_AND_PAST(rs, "spiffe_id", cbor_build_string("spiffe://td/x"),
              cbor_build_string("spiffe://TD/x"),
              "spiffe_id: not a valid SPIFFE ID: trust domain characters are "
              "limited to lowercase letters, numbers, dots, dashes, and "
              "underscores");
  {
    char id[CAIRN_ID_MAX + 2] = "spiffe://td/";
    memset(id + 12, 'a', sizeof id - 13);
    id[CAIRN_ID_MAX] = '\0';
    AT_AND_PAST(rs, "spiffe_id", cbor_build_string(id),
                str_rep('a', CAIRN_ID_MAX + 1),
                "spiffe_id: longer than 2048 bytes");
  }
  AT_AND_PAST(rs, "spiffe_id", cbor_build_string("spiffe://td"),
              cbor_build_string("spiffe://td/a//b"),
              "spiffe_id: not a valid SPIFFE ID: path cannot contain empty "
              "segments");
  {
    struct cairn_msg_attest_resp m2;
    s_attest_resp(&m2);
    m2.spiffe_id = S("https://example.org/x");
    CHECK_ERR(cairn_msg_attest_resp_encode(&m2, &o, &n), CAIRN_ERR_INVAL);
    CHECK_STR_EQ(cairn_errdetail(),
                 "spiffe_id: not a valid SPIFFE ID: scheme is missing or "
                 "invalid");
    s_attest_resp(&m2);
    m2.svid.certs = NULL;
    CHECK_ERR(cairn_msg_attest_resp_encode(&m2, &o, &n), CAIRN_ERR_INVAL);
    CHECK_STR_EQ(cairn_errdetail(), "svid: NULL array with 2 items");
    s_attest_resp(&m2);
    m2.svid.n = 17;
    CHECK_ERR(cairn_msg_attest_resp_encode(&m2, &o, &n), CAIRN_ERR_INVAL);
    CHECK_STR_EQ(cairn_errdetail(), "svid: more than 16 items");
  }
}

static void test_caps_renew_bundle_revision(void)
{
  const struct msgdef *d;
  struct cairn_msg_bundle_resp b;
  struct cairn_msg_revision_resp rv = {.entries = (uint64_t)INT64_MAX + 1};
  uint8_t *o;
  size_t n;

  d = def_of("renew_req");
  AT_AND_PAST(d, "csr", bstr_rep(1, 8192), bstr_rep(1, 8193),
              "csr: longer than 8192 bytes");
  d = def_of("renew_resp");
  AT_AND_PAST(d, "svid", bstr_array(16, 16384), bstr_array(17, 1),
              "svid: more than 16 items");
  d = def_of("ds_ca_req");
  AT_AND_PAST(d, "csr", bstr_rep(1, 8192), bstr_rep(1, 8193),
              "csr: longer than 8192 bytes");

  d = def_of("bundle_resp");
  AT_AND_PAST(d, "trust_domain", str_rep('a', 255), str_rep('a', 256),
              "trust_domain: longer than 255 bytes");
  AT_AND_PAST(d, "trust_domain", cbor_build_string("a-b_c.d"),
              cbor_build_string("spiffe://example.org"),
              "trust_domain: not a valid trust domain: trust domain "
              "characters are limited to lowercase letters, numbers, dots, "
              "dashes, and underscores");
  AT_AND_PAST(d, "sequence", cbor_build_uint64(INT64_MAX),
              cbor_build_uint64(UINT64_MAX),
              "sequence: larger than 9223372036854775807");
  s_bundle_resp(&b);
  b.trust_domain = S("Example.org");
  CHECK_ERR(cairn_msg_bundle_resp_encode(&b, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(),
               "trust_domain: not a valid trust domain: trust domain "
               "characters are limited to lowercase letters, numbers, dots, "
               "dashes, and underscores");

  d = def_of("revision_resp");
  AT_AND_PAST(d, "bundle", cbor_build_uint8(0), cbor_build_negint64(5),
              "bundle: expected an unsigned integer");
  CHECK_ERR(cairn_msg_revision_resp_encode(&rv, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "entries: larger than 9223372036854775807");
}

static void test_caps_entries(void)
{
  const struct msgdef *d = def_of("entries_resp");
  uint8_t *b;
  size_t n;

  /* The example of the brief, and the other selector shapes. */
  AT_AND_PAST(d, "entries.3.selectors.0", selector("unix", 4, "uid:0", 5),
              cbor_build_string("unix:uid:1000"),
              "entries[3].selectors[0]: expected an array of 2 text strings");
  b = with_item(d, "entries.3.selectors.0", tstr_array(3, "a"), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE,
         "entries[3].selectors[0]: expected an array of 2 text strings");
  b = with_item(d, "entries.3.selectors.1.1", cbor_build_uint8(1), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE,
         "entries[3].selectors[1]: expected an array of 2 text strings");
  b = with_item(d, "entries.3.selectors.1.0", cbor_new_indefinite_string(),
                &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE,
         "entries[3].selectors[1]: indefinite-length items are not allowed");
  AT_AND_PAST(d, "entries.0.selectors.1", selector("t", 1, "v", 1),
              selector("", 0, "v", 1),
              "entries[0].selectors[1]: selector type must not be empty");
  AT_AND_PAST(d, "entries.0.selectors.1", selector("t", 1, "v", 1),
              selector("t", 1, "", 0),
              "entries[0].selectors[1]: selector value must not be empty");
  AT_AND_PAST(d, "entries.0.selectors.0", selector("a.b", 3, "x:y:z", 5),
              selector("a:b", 3, "v", 1),
              "entries[0].selectors[0]: selector type must not contain ':'");
  AT_AND_PAST(d, "entries.0.selectors.0", selector("a b", 3, "\t", 1),
              selector("a\tb", 3, "v", 1),
              "entries[0].selectors[0]: selector type must not contain "
              "control characters");
  AT_AND_PAST(d, "entries.0.selectors.0", selector("t", 1, "v", 1),
              selector("t", 1, "v\xff", 2),
              "entries[0].selectors[0]: selector value is not valid UTF-8");
  {
    char big[1100];
    memset(big, 'x', sizeof big);
    AT_AND_PAST(d, "entries.0.selectors.0", selector(big, 127, big, 1024),
                selector(big, 128, "v", 1),
                "entries[0].selectors[0]: selector type longer than 127 "
                "bytes");
    AT_AND_PAST(d, "entries.0.selectors.0", selector(big, 1, big, 1024),
                selector("t", 1, big, 1025),
                "entries[0].selectors[0]: selector value longer than 1024 "
                "bytes");
  }
  {
    cbor_item_t *a64 = cbor_new_definite_array(64), *a65;
    a65 = cbor_new_definite_array(65);
    for (int i = 0; i < 65; i++) {
      char v[16];
      snprintf(v, sizeof v, "%d", i);
      if (i < 64)
        cbor_array_push(a64, cbor_move(selector("t", 1, v, strlen(v))));
      cbor_array_push(a65, cbor_move(selector("t", 1, v, strlen(v))));
    }
    AT_AND_PAST(d, "entries.1.selectors", a64, a65,
                "entries[1].selectors: more than 64 items");
  }
  {
    cbor_item_t *one = cbor_new_definite_array(1);
    cbor_array_push(one, cbor_move(selector("t", 1, "v", 1)));
    AT_AND_PAST(d, "entries.1.selectors", one, cbor_new_definite_array(0),
                "entries[1].selectors: must not be empty");
  }

  /* IDs. */
  AT_AND_PAST(d, "entries.1.spiffe_id", cbor_build_string("spiffe://a/b"),
              cbor_build_string("spiffe://a/b/"),
              "entries[1].spiffe_id: not a valid SPIFFE ID: path cannot have "
              "a trailing slash");
  AT_AND_PAST(d, "entries.2.parent_id", cbor_build_string("spiffe://a"),
              cbor_build_string("http://a"),
              "entries[2].parent_id: not a valid SPIFFE ID: scheme is missing "
              "or invalid");
  AT_AND_PAST(d, "entries.0.id", str_rep('Z', 255), str_rep('Z', 256),
              "entries[0].id: longer than 255 bytes");
  AT_AND_PAST(d, "entries.0.id", cbor_build_string("A-z_0.9"),
              cbor_build_string("a/b"),
              "entries[0].id: entry ID characters are limited to letters, "
              "numbers, dots, dashes, and underscores");
  AT_AND_PAST(d, "removed.1", cbor_build_string("x"),
              cbor_build_string("x y"),
              "removed[1]: entry ID characters are limited to letters, "
              "numbers, dots, dashes, and underscores");
  AT_AND_PAST(d, "removed.0", cbor_build_string("x"), cbor_build_string(""),
              "removed[0]: must not be empty");
  AT_AND_PAST(d, "entries.0.federates_with.0",
              cbor_build_string("b.example"),
              cbor_build_string("spiffe://b.example"),
              "entries[0].federates_with[0]: not a valid trust domain: trust "
              "domain characters are limited to lowercase letters, numbers, "
              "dots, dashes, and underscores");

  /* Numbers, bools, lists. */
  AT_AND_PAST(d, "entries.0.x509_svid_ttl", cbor_build_uint32(2147483647u),
              cbor_build_uint32(2147483648u),
              "entries[0].x509_svid_ttl: larger than 2147483647");
  AT_AND_PAST(d, "entries.3.jwt_svid_ttl", cbor_build_uint8(0),
              cbor_build_uint64(1ull << 40),
              "entries[3].jwt_svid_ttl: larger than 2147483647");
  AT_AND_PAST(d, "entries.2.expires_at", cbor_build_uint64(INT64_MAX),
              cbor_build_uint64((uint64_t)INT64_MAX + 1),
              "entries[2].expires_at: larger than 9223372036854775807");
  AT_AND_PAST(d, "entries.0.admin", cbor_build_bool(false),
              cbor_build_uint8(1), "entries[0].admin: expected a bool");
  AT_AND_PAST(d, "entries.0.downstream", cbor_build_bool(true),
              cbor_new_null(), "entries[0].downstream: expected a bool");
  AT_AND_PAST(d, "entries.0.dns_names", tstr_array(64, "a"),
              tstr_array(65, "a"), "entries[0].dns_names: more than 64 items");
  AT_AND_PAST(d, "entries.0.dns_names.1", str_rep('d', 253),
              str_rep('d', 254), "entries[0].dns_names[1]: longer than 253 bytes");
  AT_AND_PAST(d, "entries.0.dns_names.0", str_rep('d', 1), str_rep('d', 0),
              "entries[0].dns_names[0]: must not be empty");
  AT_AND_PAST(d, "entries.0.federates_with", tstr_array(64, "t"),
              tstr_array(65, "t"),
              "entries[0].federates_with: more than 64 items");
  AT_AND_PAST(d, "entries.1.hint", str_rep('h', 1024), str_rep('h', 1025),
              "entries[1].hint: longer than 1024 bytes");
  AT_AND_PAST(d, "entries.1.hint", str_rep('h', 0), cbor_build_uint8(0),
              "entries[1].hint: expected a text string");
  b = with_item(d, "entries.1", cbor_build_string("e"), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE, "entries[1]: expected a map");
}

static void test_entries_nested_maps(void)
{
  const struct msgdef *d = def_of("entries_resp");
  static const char *keys[] = {"id", "spiffe_id", "parent_id", "selectors",
                               "x509_svid_ttl", "jwt_svid_ttl", "dns_names",
                               "federates_with", "admin", "downstream",
                               "revision", "hint", "expires_at"};
  char want[128];
  uint8_t *b;
  size_t n;

  for (size_t i = 0; i < N_(keys); i++) {
    snprintf(want, sizeof want, "entries[2]: missing key \"%s\"", keys[i]);
    b = with_map(d, "entries.2", keys[i], 0, NULL, NULL, &n);
    EXPECT(d, b, n, CAIRN_ERR_PARSE, want);
  }
  b = with_map(d, "entries.2", NULL, 1, NULL, NULL, &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE, "entries[2]: duplicate key \"id\"");
  b = with_map(d, "entries.1", NULL, 0, cbor_build_string("future"),
               cbor_build_string("ok"), &n);
  EXPECT(d, b, n, CAIRN_OK, NULL);
  b = with_map(d, "entries.1", NULL, 0, cbor_build_string("future"),
               nested(2), &n);
  EXPECT(d, b, n, CAIRN_OK, NULL);
  b = with_map(d, "entries.1", NULL, 0, cbor_build_string("future"),
               nested(3), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE,
         "entries[1].future[0][0]: nested deeper than 5 levels");
  b = with_item(d, "entries.0.selectors.0", nested(2), &n);
  EXPECT(d, b, n, CAIRN_ERR_PARSE,
         "entries[0].selectors[0]: expected an array of 2 text strings");
}

/* Bulk bounds: the entries and removed counts, on both sides. */
static void test_caps_entries_counts(void)
{
  const struct msgdef *d = def_of("entries_resp");
  struct cairn_msg_entries_resp m, out;
  struct cairn_msg_entry *many;
  static char *ids[] = {S("r")};
  uint8_t *o;
  size_t n;
  static const char over[] = "\xa1\x67" "entries" "\x9a\x00\x01\x00\x01";

  many = calloc(CAIRN_MSG_ENTRIES_MAX + 1, sizeof *many);
  for (size_t i = 0; i <= CAIRN_MSG_ENTRIES_MAX; i++)
    many[i] = entries4[1];
  s_entries_resp(&m);
  m.entries = many;
  m.n_entries = CAIRN_MSG_ENTRIES_MAX;
  CHECK_OK(cairn_msg_entries_resp_encode(&m, &o, &n));
  CHECK(n < CAIRN_MSG_ENTRIES_RESP_MAX);
  CHECK_OK(cairn_msg_entries_resp_decode(o, n, &out));
  CHECK_INT_EQ(out.n_entries, CAIRN_MSG_ENTRIES_MAX);
  CHECK(cairn_msg_entries_resp_equal(&m, &out));
  cairn_msg_entries_resp_clear(&out);
  free(o);
  m.n_entries = CAIRN_MSG_ENTRIES_MAX + 1;
  CHECK_ERR(cairn_msg_entries_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "entries: more than 65536 items");
  /* 16 MiB is the body cap: long hints push this one over it. */
  {
    static char hint[1025];
    memset(hint, 'h', 1024);
    for (size_t i = 0; i < CAIRN_MSG_ENTRIES_MAX; i++)
      many[i].hint = hint;
    m.n_entries = CAIRN_MSG_ENTRIES_MAX;
    CHECK_ERR(cairn_msg_entries_resp_encode(&m, &o, &n), CAIRN_ERR_TOO_BIG);
    CHECK_STR_EQ(cairn_errdetail(), "body: larger than 16777216 bytes");
  }
  free(many);
  s_entries_resp(&m);
  m.removed = ids;
  m.n_removed = CAIRN_MSG_REMOVED_MAX + 1;
  CHECK_ERR(cairn_msg_entries_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "removed: more than 65536 items");
  {
    uint8_t *b = malloc(sizeof over - 1);
    memcpy(b, over, sizeof over - 1);
    EXPECT(d, b, sizeof over - 1, CAIRN_ERR_PARSE,
           "entries: more than 65536 items");
  }
  /* Encoder-side nested checks name the full path. */
  {
    struct cairn_msg_entry es[4];
    struct cairn_msg_selector bad = {S("unix"), S("")};
    memcpy(es, entries4, sizeof es);
    s_entries_resp(&m);
    m.entries = es;
    es[3].selectors = &bad;
    es[3].n_selectors = 1;
    CHECK_ERR(cairn_msg_entries_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
    CHECK_STR_EQ(cairn_errdetail(),
                 "entries[3].selectors[0]: selector value must not be empty");
    memcpy(es, entries4, sizeof es);
    es[2].hint = S("\xc3");
    CHECK_ERR(cairn_msg_entries_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
    CHECK_STR_EQ(cairn_errdetail(), "entries[2].hint: not valid UTF-8");
    memcpy(es, entries4, sizeof es);
    es[1].x509_svid_ttl = 1ull << 31;
    CHECK_ERR(cairn_msg_entries_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
    CHECK_STR_EQ(cairn_errdetail(),
                 "entries[1].x509_svid_ttl: larger than 2147483647");
    memcpy(es, entries4, sizeof es);
    es[0].federates_with[0] = S("spiffe://other.org");
    CHECK_ERR(cairn_msg_entries_resp_encode(&m, &o, &n), CAIRN_ERR_INVAL);
    CHECK(strncmp(cairn_errdetail(),
                  "entries[0].federates_with[0]: not a valid trust domain: ",
                  56) == 0);
    fed0[0] = S("other.org");
    memcpy(es, entries4, sizeof es);
    es[0].hint = NULL;  /* NULL text means "" */
    CHECK_OK(cairn_msg_entries_resp_encode(&m, &o, &n));
    free(o);
  }
}

static void test_caps_svids(void)
{
  const struct msgdef *rq = def_of("svids_req"), *rs = def_of("svids_resp");
  struct cairn_msg_svids_req m;
  struct cairn_msg_svids_resp r;
  struct cairn_msg_csr_item *items;
  struct cairn_msg_svid_item it2[2];
  static uint8_t big[CAIRN_MSG_CSR_MAX];
  uint8_t *o, *b;
  size_t n;
  static const char over[] = "\xa1\x64" "csrs" "\x99\x01\xf5";

  items = calloc(CAIRN_MSG_SVIDS_MAX + 1, sizeof *items);
  for (size_t i = 0; i <= CAIRN_MSG_SVIDS_MAX; i++)
    items[i] = csrs2[0];
  m.csrs = items;
  m.n_csrs = CAIRN_MSG_SVIDS_MAX;
  CHECK_OK(cairn_msg_svids_req_encode(&m, &o, &n));
  {
    struct cairn_msg_svids_req out;
    CHECK_OK(cairn_msg_svids_req_decode(o, n, &out));
    CHECK_INT_EQ(out.n_csrs, CAIRN_MSG_SVIDS_MAX);
    CHECK(cairn_msg_svids_req_equal(&m, &out));
    cairn_msg_svids_req_clear(&out);
  }
  free(o);
  m.n_csrs = CAIRN_MSG_SVIDS_MAX + 1;
  CHECK_ERR(cairn_msg_svids_req_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "csrs: more than 500 items");
  m.n_csrs = 0;
  CHECK_ERR(cairn_msg_svids_req_encode(&m, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "csrs: must not be empty");
  /* 500 CSRs of 8 KiB are over the 1 MiB body cap. */
  for (size_t i = 0; i < CAIRN_MSG_SVIDS_MAX; i++) {
    items[i].csr.data = big;
    items[i].csr.len = sizeof big;
  }
  m.n_csrs = CAIRN_MSG_SVIDS_MAX;
  CHECK_ERR(cairn_msg_svids_req_encode(&m, &o, &n), CAIRN_ERR_TOO_BIG);
  CHECK_STR_EQ(cairn_errdetail(), "body: larger than 1048576 bytes");
  free(items);
  b = malloc(sizeof over - 1);
  memcpy(b, over, sizeof over - 1);
  EXPECT(rq, b, sizeof over - 1, CAIRN_ERR_PARSE, "csrs: more than 500 items");
  AT_AND_PAST(rq, "csrs.1.csr", bstr_rep(1, 8192), bstr_rep(1, 0),
              "csrs[1].csr: must not be empty");
  AT_AND_PAST(rq, "csrs.0.entry_id", cbor_build_string("x"),
              cbor_build_string("x:y"),
              "csrs[0].entry_id: entry ID characters are limited to letters, "
              "numbers, dots, dashes, and underscores");
  b = with_item(rq, "csrs", cbor_new_definite_array(0), &n);
  EXPECT(rq, b, n, CAIRN_ERR_PARSE, "csrs: must not be empty");
  b = with_map(rq, "csrs.0", "entry_id", 0, NULL, NULL, &n);
  EXPECT(rq, b, n, CAIRN_ERR_PARSE, "csrs[0]: missing key \"entry_id\"");
  b = with_item(rq, "csrs.1", tstr_array(2, "a"), &n);
  EXPECT(rq, b, n, CAIRN_ERR_PARSE, "csrs[1]: expected a map");

  /* Items hold exactly one of svid and error. */
  b = with_map(rs, "svids.1", NULL, 0, cbor_build_string("svid"),
               bstr_array(1, 4), &n);
  EXPECT(rs, b, n, CAIRN_ERR_PARSE,
         "svids[1]: needs exactly one of \"svid\" and \"error\"");
  b = with_map(rs, "svids.0", "svid", 0, NULL, NULL, &n);
  EXPECT(rs, b, n, CAIRN_ERR_PARSE,
         "svids[0]: needs exactly one of \"svid\" and \"error\"");
  AT_AND_PAST(rs, "svids.1.error", str_rep('e', 1024), str_rep('e', 1025),
              "svids[1].error: longer than 1024 bytes");
  AT_AND_PAST(rs, "svids.1.error", str_rep('e', 1), str_rep('e', 0),
              "svids[1].error: must not be empty");
  AT_AND_PAST(rs, "svids.0.svid", bstr_array(16, 2), bstr_array(0, 2),
              "svids[0].svid: must not be empty");
  memcpy(it2, svids2, sizeof it2);
  r.svids = it2;
  r.n_svids = 2;
  it2[0].error = S("refused");
  CHECK_ERR(cairn_msg_svids_resp_encode(&r, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(),
               "svids[0]: needs exactly one of \"svid\" and \"error\"");
  memcpy(it2, svids2, sizeof it2);
  it2[1].error = NULL;
  CHECK_ERR(cairn_msg_svids_resp_encode(&r, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(),
               "svids[1]: needs exactly one of \"svid\" and \"error\"");
  /* An item with an error decodes with svid empty, and vice versa. */
  {
    struct cairn_msg_svids_resp out;
    CHECK_OK(enc_svids_resp(&o, &n));
    CHECK_OK(cairn_msg_svids_resp_decode(o, n, &out));
    CHECK(out.svids[0].error == NULL && out.svids[0].svid.n == 2);
    CHECK(out.svids[1].svid.n == 0 && out.svids[1].svid.certs == NULL);
    CHECK_STR_EQ(out.svids[1].error, "entry is not authorised for this node");
    cairn_msg_svids_resp_clear(&out);
    free(o);
  }
}

static void test_caps_jwt_downstream(void)
{
  const struct msgdef *d;
  struct cairn_msg_jwt_req j;
  char *aud[33];
  uint8_t *o;
  size_t n;

  d = def_of("jwt_req");
  AT_AND_PAST(d, "audience", tstr_array(32, "a"), tstr_array(33, "a"),
              "audience: more than 32 items");
  AT_AND_PAST(d, "audience", tstr_array(1, "a"), tstr_array(0, "a"),
              "audience: must not be empty");
  AT_AND_PAST(d, "audience.1", str_rep('a', 1024), str_rep('a', 1025),
              "audience[1]: longer than 1024 bytes");
  AT_AND_PAST(d, "audience.1", str_rep('a', 1), str_rep('a', 0),
              "audience[1]: must not be empty");
  AT_AND_PAST(d, "audience.0", str_rep('a', 1), cbor_build_bytestring(
              (cbor_data) "a", 1), "audience[0]: expected a text string");
  AT_AND_PAST(d, "entry_id", str_rep('e', 255), str_rep('e', 256),
              "entry_id: longer than 255 bytes");
  s_jwt_req(&j);
  for (int i = 0; i < 33; i++)
    aud[i] = S("x");
  j.audience = aud;
  j.n_audience = 33;
  CHECK_ERR(cairn_msg_jwt_req_encode(&j, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "audience: more than 32 items");
  j.n_audience = 2;
  aud[1] = NULL;
  CHECK_ERR(cairn_msg_jwt_req_encode(&j, &o, &n), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "audience[1]: must not be empty");

  d = def_of("jwt_resp");
  AT_AND_PAST(d, "token", str_rep('j', 16384), str_rep('j', 16385),
              "token: longer than 16384 bytes");

  d = def_of("ds_ca_resp");
  AT_AND_PAST(d, "roots", bstr_array(64, 100), bstr_array(65, 1),
              "roots: more than 64 items");
  AT_AND_PAST(d, "roots", bstr_array(1, 1), bstr_array(0, 1),
              "roots: must not be empty");
  AT_AND_PAST(d, "chain.1", bstr_rep(3, 16384), bstr_rep(3, 0),
              "chain[1]: must not be empty");
  AT_AND_PAST(d, "chain", bstr_array(16, 16384), bstr_array(17, 1),
              "chain: more than 16 items");
  AT_AND_PAST(d, "bundle", str_rep('b', 1), str_rep('b', 0),
              "bundle: must not be empty");

  d = def_of("ds_jwtkey_req");
  AT_AND_PAST(d, "kid", str_rep('k', 128), str_rep('k', 129),
              "kid: longer than 128 bytes");
  AT_AND_PAST(d, "public_key", bstr_rep(4, 4096), bstr_rep(4, 4097),
              "public_key: longer than 4096 bytes");
  AT_AND_PAST(d, "public_key", bstr_rep(4, 1), bstr_rep(4, 0),
              "public_key: must not be empty");
  AT_AND_PAST(d, "expires_at", cbor_build_uint8(0), cbor_build_float4(2.0f),
              "expires_at: floats are not allowed");

  d = def_of("ds_jwtkey_resp");
  AT_AND_PAST(d, "bundle", str_rep('b', CAIRN_MSG_BUNDLE_MAX),
              str_rep('b', CAIRN_MSG_BUNDLE_MAX + 1),
              "bundle: longer than 1048576 bytes");
}

int main(void)
{
  RUN(test_roundtrip_all);
  RUN(test_canonical_bytes);
  RUN(test_equal);
  RUN(test_refusals_every_message);
  RUN(test_byte_vectors);
  RUN(test_caps_attest);
  RUN(test_caps_renew_bundle_revision);
  RUN(test_caps_entries);
  RUN(test_entries_nested_maps);
  RUN(test_caps_entries_counts);
  RUN(test_caps_svids);
  RUN(test_caps_jwt_downstream);
  RUN(test_federated_order);
  RUN(test_revision_federated);
  return test_done();
}
