/* tools/bench/edge_issue_client.c - cairn-bench-edge-issue: X509-SVID
 * issuance throughput of a Cairn server (cairn-edge or cairn-cloud) over
 * the real tier protocol, next to the in-process crypto bound.
 *
 *   cairn-bench-edge-issue attest -port N -td TD -bundle PEM -token T -dir DIR
 *                                 [-host 127.0.0.1]
 *   cairn-bench-edge-issue issue  -port N -td TD -dir DIR [-host 127.0.0.1]
 *                                 [-batch 100] [-batches 10] [-warmup 1]
 *                                 [-raw-seconds 2] [-raw-pool 2048]
 *   cairn-bench-edge-issue raw    [-raw-seconds 2] [-raw-pool 2048]
 *
 * attest: node attestation as cairn-agent does it (POST /v1/attest over
 *   CoAP/DTLS with a throwaway bootstrap certificate, a join token and a
 *   CSR). The node SVID chain, its key (0600) and the server's bundle go to
 *   DIR/svid.pem, DIR/svid.key and DIR/bundle.json; prints the node ID.
 * issue: opens a node session with that SVID, reads the entries
 *   authorised for the node (GET /v1/entries?since=0; at least -batch of
 *   them), makes a new key and CSR for every item of every batch, as an
 *   agent does (not timed), then sends -warmup untimed and -batches timed
 *   POST /v1/svids requests of -batch CSRs, one after the other. The clock
 *   runs from the request to the arrival of the whole answer (block-wise
 *   transfer both ways included). Every answer is then checked: one SVID
 *   per CSR, each chain verifying against the bundle to the entry's SPIFFE
 *   ID and carrying the CSR's public key. Then the raw bound (below) runs
 *   in the same process, and a table compares both.
 * raw: only the in-process bound: single-threaded loops over libcairn's
 *   wolfSSL code for -raw-seconds each, on a root -> intermediate CA like
 *   an edge's: ECDSA P-256 sign and verify with the (hot) CA key,
 *   cairn_csr_parse() of CSRs with new keys (CSR signature check),
 *   cairn_cert_issue() of a leaf, the server's crypto per SVID
 *   (csr_parse + issue), and issue + cairn_cert_verify() of the new chain
 *   (sign+verify). The CSR keys cycle through a pool of -raw-pool keys,
 *   far more than wolfSSL's FP_ECC point cache holds (15), so each one is
 *   new to it as on a server; the CA keys stay in that cache, as on a
 *   server.
 *
 * The last line is machine-readable:
 *   RESULT svids=N proto_per_s=X issue_verify_per_s=Y csr_issue_per_s=Z
 *          issue_per_s=I ratio_issue_verify=R1 ratio_csr_issue=R2
 * (proto_* and ratio_* only after issue). Exit status 0 on success, 1 on
 * any failure (including a refused item or an SVID that does not verify),
 * 2 for bad usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <uv.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/net.h"
#include "cairn/util.h"

#define EB_PROG "cairn-bench-edge-issue"
#define EB_TIMEOUT_MS 300000u     /* one request; ASan builds are slow */
#define EB_BOOT_TTL 3600
#define EB_BATCH_MAX CAIRN_MSG_SVIDS_MAX
#define EB_BATCHES_MAX 100000L
#define EB_PEM_MAX (256 * 1024)
#define EB_CSRS_MAX 200000L       /* batch * (batches + warmup) */

struct eb_args {
  const char *mode;
  const char *host;
  long port;
  const char *td;
  const char *bundle;
  const char *token;
  const char *dir;
  long batch;
  long batches;
  long warmup;
  double raw_seconds;
  long raw_pool;
};

static double eb_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int eb_fail(const char *what)
{
  const char *d = cairn_errdetail();
  fprintf(stderr, EB_PROG ": %s%s%s\n", what, d[0] ? ": " : "", d);
  return 1;
}

/* ---- one request on a loop ---------------------------------------------- */

struct eb_call {
  int done;
  int err;
  int code;
  uint8_t *body;
  size_t len;
  double t_end;
};

static void eb_on_resp(int err, const struct cairn_net_response *r, void *arg)
{
  struct eb_call *c = arg;

  c->t_end = eb_now();
  c->done = 1;
  c->err = err;
  if (err || !r) return;
  c->code = r->code;
  if (r->body && r->body_len) {
    if (!(c->body = malloc(r->body_len))) {
      c->err = CAIRN_ERR_NOMEM;
      return;
    }
    memcpy(c->body, r->body, r->body_len);
    c->len = r->body_len;
  }
}

static void eb_call_clear(struct eb_call *c)
{
  free(c->body);
  memset(c, 0, sizeof *c);
}

/* Sends one request and runs the loop until its answer. On return c holds
 * the answer (c->err, c->code, c->body); *t0 the send time. */
static int eb_request(uv_loop_t *loop, struct cairn_net_client *cl,
                      enum cairn_net_method m, const char *path,
                      const uint8_t *body, size_t len, struct eb_call *c,
                      double *t0)
{
  int r;

  memset(c, 0, sizeof *c);
  *t0 = eb_now();
  if ((r = cairn_net_client_request(cl, m, path, body, len, eb_on_resp, c)))
    return r;
  while (!c->done) uv_run(loop, UV_RUN_ONCE);
  return CAIRN_OK;
}

/* A failed call as text: the transport error or the code and the
 * server's diagnostic. */
static void eb_call_why(const struct eb_call *c, char *out, size_t n)
{
  char code[5];

  if (c->err) {
    snprintf(out, n, "%s", cairn_strerror(c->err));
    return;
  }
  snprintf(out, n, "%s %.*s", cairn_net_code_str(c->code, code),
           (int)(c->len < 200 ? c->len : 200),
           c->body ? (const char *)c->body : "");
}

static int eb_client(uv_loop_t *loop, const struct eb_args *a,
                     const char *chain, size_t chain_len, const char *key,
                     size_t key_len, const struct cairn_bundle *b,
                     struct cairn_net_client **out)
{
  struct cairn_net_client_opts o;
  struct cairn_id sid;
  int r;

  *out = NULL;
  if ((r = cairn_id_from_parts(a->td, "/spire/server", &sid))) return r;
  cairn_net_client_opts_init(&o);
  o.host = a->host;
  o.port = (uint16_t)a->port;
  o.server_id = sid.str;
  o.timeout_ms = EB_TIMEOUT_MS;
  o.max_response = CAIRN_MSG_ENTRIES_RESP_MAX;
  if ((r = cairn_net_client_new(loop, &o, out))) return r;
  if ((r = cairn_net_client_set_credentials(*out, chain, chain_len, key,
                                            key_len)) ||
      (r = cairn_net_client_set_bundle(*out, b))) {
    cairn_net_client_free(*out);
    *out = NULL;
  }
  return r;
}

/* Frees the client and lets the loop close its handles. */
static void eb_loop_close(uv_loop_t *loop, struct cairn_net_client *cl)
{
  cairn_net_client_free(cl);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
}

static int eb_path(char *out, size_t n, const char *dir, const char *name)
{
  if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
    return cairn_seterr(CAIRN_ERR_INVAL, "%s: path too long", dir);
  return CAIRN_OK;
}

/* ---- attest ------------------------------------------------------------ */

static int eb_attest(const struct eb_args *a)
{
  uv_loop_t loop;
  struct cairn_net_client *cl = NULL;
  struct cairn_bundle *boot_b = NULL, *b = NULL;
  struct cairn_key *key = NULL, *boot = NULL;
  struct cairn_cert_list *chain = NULL;
  struct cairn_msg_attest_req rq;
  struct cairn_msg_attest_resp rs;
  struct cairn_id id;
  struct eb_call c;
  uint8_t *pem = NULL, *csr = NULL, *body = NULL;
  char *boot_pem = NULL, *boot_key = NULL, *chain_pem = NULL;
  size_t pem_len = 0, csr_len = 0, body_len = 0, boot_len = 0;
  size_t boot_key_len = 0, chain_len = 0;
  char path[PATH_MAX], why[300];
  double t0;
  int rc = 1, loop_ok = 0;

  memset(&rq, 0, sizeof rq);
  memset(&rs, 0, sizeof rs);
  memset(&c, 0, sizeof c);
  if (cairn_file_read(a->bundle, EB_PEM_MAX, &pem, &pem_len) ||
      cairn_bundle_parse_pem(a->td, (const char *)pem, pem_len, &boot_b)) {
    rc = eb_fail("cannot read the bootstrap bundle");
    goto out;
  }
  if (cairn_key_generate(CAIRN_KEY_EC_P256, &key) ||
      cairn_csr_create(key, &csr, &csr_len) ||
      cairn_key_generate(CAIRN_KEY_EC_P256, &boot) ||
      cairn_net_bootstrap_cert(boot, EB_BOOT_TTL, &boot_pem, &boot_len) ||
      cairn_key_export_private_pem(boot, &boot_key, &boot_key_len)) {
    rc = eb_fail("cannot make the keys");
    goto out;
  }
  rq.type = "join_token";
  rq.token = (char *)a->token;
  rq.csr.data = csr;
  rq.csr.len = csr_len;
  if (cairn_msg_attest_req_encode(&rq, &body, &body_len)) {
    rc = eb_fail("cannot encode the attestation");
    goto out;
  }
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, EB_PROG ": cannot create the event loop\n");
    goto out;
  }
  loop_ok = 1;
  if (eb_client(&loop, a, boot_pem, boot_len, boot_key, boot_key_len, boot_b,
                &cl) ||
      eb_request(&loop, cl, CAIRN_NET_POST, "/v1/attest", body, body_len, &c,
                 &t0)) {
    rc = eb_fail("cannot send the attestation");
    goto out;
  }
  if (c.err || c.code != CAIRN_NET_CREATED) {
    eb_call_why(&c, why, sizeof why);
    fprintf(stderr, EB_PROG ": attestation refused: %s\n", why);
    goto out;
  }
  if (cairn_msg_attest_resp_decode(c.body, c.len, &rs) ||
      cairn_bundle_parse_json(a->td, rs.bundle, strlen(rs.bundle), 0, &b) ||
      cairn_cert_list_new(&chain)) {
    rc = eb_fail("bad attestation answer");
    goto out;
  }
  for (size_t i = 0; i < rs.svid.n; i++) {
    struct cairn_cert *one = NULL;
    if (cairn_cert_parse_der(rs.svid.certs[i].data, rs.svid.certs[i].len,
                             &one) ||
        cairn_cert_list_push(chain, one)) {
      cairn_cert_free(one);
      rc = eb_fail("bad node SVID");
      goto out;
    }
  }
  if (cairn_cert_verify(chain, cairn_bundle_x509(b), a->td, 0, 0, &id) ||
      !cairn_cert_matches_key(cairn_cert_list_at(chain, 0), key)) {
    rc = eb_fail("the node SVID does not verify against the bundle");
    goto out;
  }
  if (cairn_mkdir_p(a->dir, 0700) ||
      cairn_cert_list_to_pem(chain, &chain_pem, &chain_len) ||
      eb_path(path, sizeof path, a->dir, "svid.key") ||
      cairn_key_save(key, path) ||
      eb_path(path, sizeof path, a->dir, "svid.pem") ||
      cairn_file_write_atomic(path, chain_pem, chain_len, 0644) ||
      eb_path(path, sizeof path, a->dir, "bundle.json") ||
      cairn_file_write_atomic(path, rs.bundle, strlen(rs.bundle), 0644)) {
    rc = eb_fail("cannot write the node SVID");
    goto out;
  }
  printf("attested as %s\n", id.str);
  rc = 0;
out:
  eb_call_clear(&c);
  if (loop_ok) eb_loop_close(&loop, cl);
  cairn_msg_attest_resp_clear(&rs);
  cairn_cert_list_free(chain);
  cairn_bundle_free(boot_b);
  cairn_bundle_free(b);
  cairn_key_free(key);
  cairn_key_free(boot);
  free(pem);
  free(csr);
  if (body) cairn_freezero(body, body_len);
  free(boot_pem);
  if (boot_key) cairn_freezero(boot_key, boot_key_len);
  free(chain_pem);
  return rc;
}

/* ---- keys and CSRs -------------------------------------------------------- */

/* n fresh P-256 key pairs and their CSRs, as an agent makes one for every
 * SVID. With keep_keys the key pairs are kept (the raw loops issue from
 * them); otherwise only each public key's SPKI DER (to check answers). */
struct eb_pool {
  size_t n;
  struct cairn_key **keys;
  uint8_t **spki;
  size_t *spki_len;
  uint8_t **csrs;
  size_t *csr_lens;
};

static void eb_pool_free(struct eb_pool *p)
{
  for (size_t i = 0; i < p->n; i++) {
    if (p->keys) cairn_key_free(p->keys[i]);
    if (p->spki) free(p->spki[i]);
    if (p->csrs) free(p->csrs[i]);
  }
  free(p->keys);
  free(p->spki);
  free(p->spki_len);
  free(p->csrs);
  free(p->csr_lens);
  memset(p, 0, sizeof *p);
}

static int eb_pool_make(struct eb_pool *p, size_t n, int keep_keys)
{
  int r = CAIRN_OK;

  memset(p, 0, sizeof *p);
  if (!(p->csrs = calloc(n, sizeof *p->csrs)) ||
      !(p->csr_lens = calloc(n, sizeof *p->csr_lens)) ||
      (keep_keys && !(p->keys = calloc(n, sizeof *p->keys))) ||
      (!keep_keys && (!(p->spki = calloc(n, sizeof *p->spki)) ||
                      !(p->spki_len = calloc(n, sizeof *p->spki_len)))))
    return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  p->n = n;
  for (size_t i = 0; i < n && !r; i++) {
    struct cairn_key *k = NULL;

    if ((r = cairn_key_generate(CAIRN_KEY_EC_P256, &k)) ||
        (r = cairn_csr_create(k, &p->csrs[i], &p->csr_lens[i])) ||
        (!keep_keys &&
         (r = cairn_key_export_public_der(k, &p->spki[i], &p->spki_len[i])))) {
      cairn_key_free(k);
      break;
    }
    if (keep_keys) p->keys[i] = k;
    else cairn_key_free(k);
  }
  return r;
}

/* ---- the raw bound ------------------------------------------------------- */

#define EB_RAW_IDS 100

/* A root -> intermediate CA like an edge's, a pool of leaf keys and CSRs
 * (each used once per pass; the pool is far larger than wolfSSL's 15-entry
 * FP_ECC point cache, so every CSR key is new to it, as on a server), and
 * the SPIFFE IDs the leaves get. */
struct eb_raw {
  struct cairn_key *root_key, *int_key;
  struct cairn_cert *root, *inter;
  struct cairn_cert_list *roots;
  struct eb_pool pool;
  struct cairn_id ids[EB_RAW_IDS];  /* spiffe://<td>/bench/w<i> */
};

struct eb_rate {
  const char *name;
  long ops;
  double secs;
};

static double eb_per_s(const struct eb_rate *r)
{
  return r->secs > 0 ? (double)r->ops / r->secs : 0;
}

static void eb_raw_free(struct eb_raw *w)
{
  eb_pool_free(&w->pool);
  cairn_cert_list_free(w->roots);
  cairn_cert_free(w->root);
  cairn_cert_free(w->inter);
  cairn_key_free(w->root_key);
  cairn_key_free(w->int_key);
  memset(w, 0, sizeof *w);
}

static int eb_raw_setup(struct eb_raw *w, const char *td, size_t n)
{
  struct cairn_cert_template t;
  struct cairn_id tdid;
  int r;

  memset(w, 0, sizeof *w);
  if ((r = cairn_id_from_parts(td, NULL, &tdid))) return r;
  for (size_t i = 0; i < EB_RAW_IDS; i++) {
    char path[32];
    snprintf(path, sizeof path, "/bench/w%zu", i);
    if ((r = cairn_id_from_parts(td, path, &w->ids[i]))) return r;
  }
  if ((r = cairn_key_generate(CAIRN_KEY_EC_P256, &w->root_key)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &w->int_key)))
    return r;
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_ROOT;
  t.spiffe_id = tdid.str;
  t.ttl = 86400;
  t.path_len = -1;
  if ((r = cairn_cert_issue(&t, w->root_key, w->root_key, NULL, &w->root)))
    return r;
  t.kind = CAIRN_CERT_INTERMEDIATE;
  t.ttl = 43200;
  if ((r = cairn_cert_issue(&t, w->int_key, w->root_key, w->root,
                            &w->inter)) ||
      (r = cairn_cert_list_new(&w->roots)) ||
      (r = cairn_cert_list_push_copy(w->roots, w->root)))
    return r;
  return eb_pool_make(&w->pool, n, 1);
}

enum eb_op {
  EB_SIGN = 0,      /* ECDSA P-256 sign of 256 bytes */
  EB_VERIFY,        /* its verification */
  EB_CSR,           /* cairn_csr_parse */
  EB_ISSUE,         /* cairn_cert_issue of a leaf */
  EB_CSR_ISSUE,     /* csr_parse + issue: the server's crypto per SVID */
  EB_ISSUE_VERIFY,  /* issue + cairn_cert_verify of leaf <- int <- root */
  EB_OP__N
};

static const char *const eb_op_names[EB_OP__N] = {
  "ECDSA P-256 sign, CA key (cairn_key_sign)",
  "ECDSA P-256 verify, CA key (cairn_key_verify)",
  "CSR parse + signature check, new key (cairn_csr_parse)",
  "leaf X509-SVID issue (cairn_cert_issue)",
  "csr_parse + cert_issue (server crypto per SVID)",
  "cert_issue + cert_verify of the chain (sign+verify)",
};

/* One operation on item i of the pool. */
static int eb_op_once(struct eb_raw *w, enum eb_op op, size_t i,
                      const uint8_t *msg, uint8_t *sig, size_t *siglen)
{
  struct cairn_cert_template t;
  struct cairn_cert *leaf = NULL;
  struct cairn_cert_list *chain = NULL;
  struct cairn_key *pub = NULL;
  const struct eb_pool *p = &w->pool;
  int r;

  switch (op) {
  case EB_SIGN:
    *siglen = 64;
    return cairn_key_sign(w->int_key, msg, 256, sig, siglen);
  case EB_VERIFY:
    return cairn_key_verify(w->int_key, msg, 256, sig, *siglen);
  case EB_CSR:
    r = cairn_csr_parse(p->csrs[i], p->csr_lens[i], &pub);
    cairn_key_free(pub);
    return r;
  default:
    break;
  }
  if (op == EB_CSR_ISSUE &&
      (r = cairn_csr_parse(p->csrs[i], p->csr_lens[i], &pub)))
    return r;
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_LEAF;
  t.spiffe_id = w->ids[i % EB_RAW_IDS].str;
  t.ttl = 3600;
  t.path_len = -1;
  if ((r = cairn_cert_issue(&t, pub ? pub : p->keys[i], w->int_key, w->inter,
                            &leaf)))
    goto out;
  if (op == EB_ISSUE_VERIFY) {
    if ((r = cairn_cert_list_new(&chain)) ||
        (r = cairn_cert_list_push(chain, leaf)))
      goto out;
    leaf = NULL;
    if ((r = cairn_cert_list_push_copy(chain, w->inter)) ||
        (r = cairn_cert_verify(chain, w->roots, NULL, 0, 0, NULL)))
      goto out;
  }
out:
  cairn_cert_free(leaf);
  cairn_cert_list_free(chain);
  cairn_key_free(pub);
  return r;
}

/* Runs each operation for about `seconds`, cycling through the pool. */
static int eb_raw_run(struct eb_raw *w, double seconds,
                      struct eb_rate rates[EB_OP__N])
{
  uint8_t msg[256], sig[96];
  size_t siglen = sizeof sig, n = w->pool.n, i = 0;
  int r;

  for (size_t k = 0; k < sizeof msg; k++) msg[k] = (uint8_t)k;
  if ((r = cairn_key_sign(w->int_key, msg, sizeof msg, sig, &siglen)))
    return r;
  for (int op = 0; op < EB_OP__N; op++) {
    double t0, t;
    long ops = 0;

    /* A few untimed calls first (the CA keys' FP_ECC tables). */
    for (int k = 0; k < 8; k++, i++)
      if ((r = eb_op_once(w, (enum eb_op)op, i % n, msg, sig, &siglen)))
        return r;
    t0 = eb_now();
    do {
      for (int k = 0; k < 8; k++, i++, ops++)
        if ((r = eb_op_once(w, (enum eb_op)op, i % n, msg, sig, &siglen)))
          return r;
      t = eb_now() - t0;
    } while (t < seconds);
    rates[op].name = eb_op_names[op];
    rates[op].ops = ops;
    rates[op].secs = t;
  }
  return CAIRN_OK;
}

/* ---- issue ---------------------------------------------------------------- */

static int eb_cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

struct eb_item {
  char *entry_id;
  struct cairn_id spiffe_id;
};

/* Checks an answer to a batch (CSRs p[off..off+n) for items[0..n)): one
 * SVID per item, each verifying against the bundle to the entry's ID and
 * carrying the CSR's public key. */
static int eb_check(const struct eb_call *c, const struct eb_item *items,
                    const struct eb_pool *p, size_t off, size_t n,
                    const struct cairn_bundle *b, const char *td,
                    size_t *svids)
{
  struct cairn_msg_svids_resp rs;
  int r;

  *svids = 0;
  if ((r = cairn_msg_svids_resp_decode(c->body, c->len, &rs))) return r;
  if (rs.n_svids != n) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "%zu items in the answer, %zu sent",
                     rs.n_svids, n);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    const struct cairn_msg_svid_item *it = &rs.svids[i];
    struct cairn_cert_list *chain = NULL;
    struct cairn_key *pub = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0;
    struct cairn_id id;

    if (strcmp(it->entry_id, items[i].entry_id) != 0) {
      r = cairn_seterr(CAIRN_ERR_PARSE, "item %zu is for entry %s, not %s",
                       i, it->entry_id, items[i].entry_id);
      goto out;
    }
    if (it->error) {
      r = cairn_seterr(CAIRN_ERR_DENIED, "entry %s refused: %s",
                       it->entry_id, it->error);
      goto out;
    }
    if ((r = cairn_cert_list_new(&chain))) goto out;
    for (size_t j = 0; j < it->svid.n && !r; j++) {
      struct cairn_cert *one = NULL;
      if ((r = cairn_cert_parse_der(it->svid.certs[j].data,
                                    it->svid.certs[j].len, &one)) ||
          (r = cairn_cert_list_push(chain, one)))
        cairn_cert_free(one);
    }
    if (!r) r = cairn_cert_verify(chain, cairn_bundle_x509(b), td, 0, 0, &id);
    if (!r && !cairn_id_equal(&id, &items[i].spiffe_id))
      r = cairn_seterr(CAIRN_ERR_POLICY, "SVID for %s, entry %s is %s",
                       id.str, it->entry_id, items[i].spiffe_id.str);
    if (!r &&
        !(r = cairn_cert_public_key(cairn_cert_list_at(chain, 0), &pub)) &&
        !(r = cairn_key_export_public_der(pub, &der, &der_len)) &&
        (der_len != p->spki_len[off + i] ||
         memcmp(der, p->spki[off + i], der_len) != 0))
      r = cairn_seterr(CAIRN_ERR_POLICY, "SVID %zu is not for its CSR's key",
                       i);
    free(der);
    cairn_key_free(pub);
    cairn_cert_list_free(chain);
    if (r) goto out;
    (*svids)++;
  }
out:
  cairn_msg_svids_resp_clear(&rs);
  return r;
}

static void eb_row(const char *what, const char *value)
{
  printf("| %-58s | %-26s |\n", what, value);
}

static void eb_rate_row(const struct eb_rate *r)
{
  char v[64];
  double ps = eb_per_s(r);
  snprintf(v, sizeof v, "%8.0f /s  %8.1f us", ps, ps > 0 ? 1e6 / ps : 0);
  eb_row(r->name, v);
}

/* The SPIFFE ID of the node SVID in pem. */
static int eb_node_id(const uint8_t *pem, size_t len, struct cairn_id *id)
{
  struct cairn_cert_list *l = NULL;
  int r;

  if (!(r = cairn_cert_list_parse_pem((const char *)pem, len, &l)))
    r = cairn_cert_spiffe_id(cairn_cert_list_at(l, 0), id);
  cairn_cert_list_free(l);
  return r;
}

static int eb_issue(const struct eb_args *a, int proto)
{
  uv_loop_t loop;
  struct cairn_net_client *cl = NULL;
  struct cairn_bundle *b = NULL;
  struct cairn_msg_entries_resp es;
  struct cairn_msg_svids_req rq;
  struct eb_item *items = NULL;
  struct eb_pool pool;
  struct eb_raw w;
  struct eb_rate rates[EB_OP__N];
  struct eb_call c;
  struct cairn_id node;
  uint8_t *chain_pem = NULL, *key_pem = NULL, *bjson = NULL, *body = NULL;
  size_t chain_len = 0, key_len = 0, bjson_len = 0, body_len = 0, n = 0;
  size_t total = 0, rounds = 0;
  double *times = NULL, sum = 0, t0, wall0 = 0, wall = 0, proto_ps = 0;
  char path[PATH_MAX], why[300], v[64];
  int rc = 1, loop_ok = 0;

  memset(&es, 0, sizeof es);
  memset(&rq, 0, sizeof rq);
  memset(&c, 0, sizeof c);
  memset(rates, 0, sizeof rates);
  memset(&pool, 0, sizeof pool);
  memset(&w, 0, sizeof w);
  memset(&node, 0, sizeof node);
  n = (size_t)a->batch;
  rounds = (size_t)(a->warmup + a->batches);
  if (!proto) goto raw;

  if (eb_path(path, sizeof path, a->dir, "svid.pem") ||
      cairn_file_read(path, EB_PEM_MAX, &chain_pem, &chain_len) ||
      eb_node_id(chain_pem, chain_len, &node) ||
      eb_path(path, sizeof path, a->dir, "svid.key") ||
      cairn_file_read_private(path, EB_PEM_MAX, &key_pem, &key_len) ||
      eb_path(path, sizeof path, a->dir, "bundle.json") ||
      cairn_file_read(path, CAIRN_MSG_BUNDLE_MAX, &bjson, &bjson_len) ||
      cairn_bundle_parse_json(a->td, (const char *)bjson, bjson_len, 0, &b)) {
    rc = eb_fail("cannot read the node SVID (run attest first)");
    goto out;
  }
  /* A new key and CSR for every item of every batch (not timed). */
  if (eb_pool_make(&pool, n * rounds, 0)) {
    rc = eb_fail("cannot make the keys");
    goto out;
  }
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, EB_PROG ": cannot create the event loop\n");
    goto out;
  }
  loop_ok = 1;
  if (eb_client(&loop, a, (const char *)chain_pem, chain_len,
                (const char *)key_pem, key_len, b, &cl) ||
      eb_request(&loop, cl, CAIRN_NET_GET, "/v1/entries?since=0", NULL, 0,
                 &c, &t0)) {
    rc = eb_fail("cannot start the node session");
    goto out;
  }
  if (c.err || c.code != CAIRN_NET_CONTENT) {
    eb_call_why(&c, why, sizeof why);
    fprintf(stderr, EB_PROG ": GET /v1/entries: %s\n", why);
    goto out;
  }
  if (cairn_msg_entries_resp_decode(c.body, c.len, &es)) {
    rc = eb_fail("bad entries answer");
    goto out;
  }
  eb_call_clear(&c);
  if (es.n_entries < n) {
    fprintf(stderr, EB_PROG ": %zu entries for %s, -batch is %zu\n",
            es.n_entries, node.str, n);
    goto out;
  }
  if (!(items = calloc(n, sizeof *items)) ||
      !(rq.csrs = calloc(n, sizeof *rq.csrs)) ||
      !(times = calloc((size_t)a->batches, sizeof *times))) {
    fprintf(stderr, EB_PROG ": out of memory\n");
    goto out;
  }
  rq.n_csrs = n;
  for (size_t i = 0; i < n; i++) {
    items[i].entry_id = es.entries[i].id;
    if (cairn_id_parse_str(es.entries[i].spiffe_id, &items[i].spiffe_id)) {
      rc = eb_fail("bad entry");
      goto out;
    }
    rq.csrs[i].entry_id = es.entries[i].id;
  }
  for (size_t k = 0; k < rounds; k++) {
    size_t got = 0, off = k * n;
    long timed = (long)k - a->warmup;

    for (size_t i = 0; i < n; i++) {
      rq.csrs[i].csr.data = pool.csrs[off + i];
      rq.csrs[i].csr.len = pool.csr_lens[off + i];
    }
    free(body);
    body = NULL;
    if (cairn_msg_svids_req_encode(&rq, &body, &body_len)) {
      rc = eb_fail("cannot encode the batch");
      goto out;
    }
    if (timed == 0) wall0 = eb_now();
    if (eb_request(&loop, cl, CAIRN_NET_POST, "/v1/svids", body, body_len,
                   &c, &t0)) {
      rc = eb_fail("cannot send POST /v1/svids");
      goto out;
    }
    if (c.err || c.code != CAIRN_NET_CREATED) {
      eb_call_why(&c, why, sizeof why);
      fprintf(stderr, EB_PROG ": POST /v1/svids: %s\n", why);
      goto out;
    }
    if (timed >= 0) {
      times[timed] = c.t_end - t0;
      sum += times[timed];
    }
    if (eb_check(&c, items, &pool, off, n, b, a->td, &got)) {
      rc = eb_fail("bad POST /v1/svids answer");
      goto out;
    }
    if (timed >= 0) total += got;
    eb_call_clear(&c);
  }
  wall = eb_now() - wall0;
  proto_ps = sum > 0 ? (double)total / sum : 0;

raw:
  if (eb_raw_setup(&w, a->td, (size_t)a->raw_pool) ||
      eb_raw_run(&w, a->raw_seconds, rates)) {
    rc = eb_fail("raw loop failed");
    goto out;
  }

  printf("\nX509-SVID issuance: %s\n", proto ? "server over CoAP/DTLS vs "
         "in-process bound" : "in-process bound");
  if (proto)
    printf("  server %s:%ld, node %s\n  %ld timed batches of %zu CSRs "
           "(POST /v1/svids, one at a time, %ld untimed warm-up), a new "
           "key per CSR\n", a->host, a->port, node.str, a->batches, n,
           a->warmup);
  printf("  raw loops: one thread, %.1f s each, %ld CSR keys cycled\n\n",
         a->raw_seconds, a->raw_pool);
  eb_row("measure", "value");
  eb_row("----------------------------------------------------------",
         "--------------------------");
  if (proto) {
    qsort(times, (size_t)a->batches, sizeof *times, eb_cmp_double);
    snprintf(v, sizeof v, "%zu", total);
    eb_row("X509-SVIDs issued and checked (timed batches)", v);
    snprintf(v, sizeof v, "%.1f / %.1f / %.1f ms", times[0] * 1e3,
             times[(size_t)a->batches / 2] * 1e3,
             times[(size_t)a->batches - 1] * 1e3);
    eb_row("batch round trip min / median / max", v);
    snprintf(v, sizeof v, "%8.0f /s  %8.1f us", proto_ps,
             proto_ps > 0 ? 1e6 / proto_ps : 0);
    eb_row("server over the protocol (CSRs/s, batch time only)", v);
    snprintf(v, sizeof v, "%.2f s", wall);
    eb_row("wall time of the timed batches incl. client checks", v);
  }
  for (int op = 0; op < EB_OP__N; op++) eb_rate_row(&rates[op]);
  if (proto) {
    snprintf(v, sizeof v, "%.2f",
             proto_ps / eb_per_s(&rates[EB_CSR_ISSUE]));
    eb_row("ratio protocol / (csr_parse + cert_issue)", v);
    snprintf(v, sizeof v, "%.2f",
             proto_ps / eb_per_s(&rates[EB_ISSUE_VERIFY]));
    eb_row("ratio protocol / (cert_issue + cert_verify)", v);
  }
  printf("\nRESULT svids=%zu", total);
  if (proto) printf(" proto_per_s=%.1f", proto_ps);
  printf(" issue_verify_per_s=%.1f csr_issue_per_s=%.1f issue_per_s=%.1f",
         eb_per_s(&rates[EB_ISSUE_VERIFY]), eb_per_s(&rates[EB_CSR_ISSUE]),
         eb_per_s(&rates[EB_ISSUE]));
  if (proto)
    printf(" ratio_issue_verify=%.3f ratio_csr_issue=%.3f",
           proto_ps / eb_per_s(&rates[EB_ISSUE_VERIFY]),
           proto_ps / eb_per_s(&rates[EB_CSR_ISSUE]));
  printf("\n");
  rc = 0;
out:
  eb_call_clear(&c);
  if (loop_ok) eb_loop_close(&loop, cl);
  free(rq.csrs);
  free(items);
  free(times);
  free(body);
  cairn_msg_entries_resp_clear(&es);
  eb_pool_free(&pool);
  eb_raw_free(&w);
  cairn_bundle_free(b);
  free(chain_pem);
  if (key_pem) cairn_freezero(key_pem, key_len);
  free(bjson);
  return rc;
}

/* ---- command line ------------------------------------------------------- */

static int eb_usage(void)
{
  fprintf(stderr,
          "usage: " EB_PROG " attest -port N -td TD -bundle PEM -token T "
          "-dir DIR [-host ADDR]\n"
          "       " EB_PROG " issue -port N -td TD -dir DIR [-host ADDR] "
          "[-batch 100] [-batches 10] [-warmup 1] [-raw-seconds 2] "
          "[-raw-pool 2048]\n"
          "       " EB_PROG " raw [-raw-seconds 2] [-raw-pool 2048]\n"
          "  (batch <= 500, batch * (batches + warmup) <= 200000)\n");
  return 2;
}

static int eb_long(const char *s, long lo, long hi, long *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv)
{
  struct eb_args a;

  memset(&a, 0, sizeof a);
  a.host = "127.0.0.1";
  a.td = "example.org";
  a.batch = 100;
  a.batches = 10;
  a.warmup = 1;
  a.raw_seconds = 2;
  a.raw_pool = 2048;
  if (argc < 2) return eb_usage();
  a.mode = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *f = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    char *end;

    if (!val) return eb_usage();
    i++;
    if (!strcmp(f, "-host")) a.host = val;
    else if (!strcmp(f, "-td")) a.td = val;
    else if (!strcmp(f, "-bundle")) a.bundle = val;
    else if (!strcmp(f, "-token")) a.token = val;
    else if (!strcmp(f, "-dir")) a.dir = val;
    else if (!strcmp(f, "-port")) {
      if (eb_long(val, 1, 65535, &a.port)) return eb_usage();
    } else if (!strcmp(f, "-batch")) {
      if (eb_long(val, 1, EB_BATCH_MAX, &a.batch)) return eb_usage();
    } else if (!strcmp(f, "-batches")) {
      if (eb_long(val, 1, EB_BATCHES_MAX, &a.batches)) return eb_usage();
    } else if (!strcmp(f, "-warmup")) {
      if (eb_long(val, 0, EB_BATCHES_MAX, &a.warmup)) return eb_usage();
    } else if (!strcmp(f, "-raw-pool")) {
      if (eb_long(val, 16, 1000000, &a.raw_pool)) return eb_usage();
    } else if (!strcmp(f, "-raw-seconds")) {
      errno = 0;
      a.raw_seconds = strtod(val, &end);
      if (errno || end == val || *end || !(a.raw_seconds >= 0.01) ||
          a.raw_seconds > 3600)
        return eb_usage();
    } else {
      return eb_usage();
    }
  }
  if (cairn_td_validate(a.td) ||
      a.batch * (a.batches + a.warmup) > EB_CSRS_MAX)
    return eb_usage();
  cairn_log_set_level(CAIRN_LOG_WARN);
  if (!strcmp(a.mode, "attest")) {
    if (!a.port || !a.bundle || !a.token || !a.dir) return eb_usage();
    return eb_attest(&a);
  }
  if (!strcmp(a.mode, "issue")) {
    if (!a.port || !a.dir) return eb_usage();
    return eb_issue(&a, 1);
  }
  if (!strcmp(a.mode, "raw")) return eb_issue(&a, 0);
  return eb_usage();
}
