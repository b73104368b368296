/* fuzz_wlapi.c - the Workload API (edge/agent/wl) fed untrusted client
 * bytes: a fresh cache (own and federated bundle, entries for this
 * process's uid with SVIDs, one for another uid) and wl_api per input; the
 * input is written to one end of a socketpair whose other end the API's
 * gRPC server adopts, while the loop runs (waiting for every attestation
 * to complete, so the requests reach the handlers). Mints are synchronous
 * signatures, failing for audiences starting with 'x'. Afterwards the API
 * and the cache are freed: every handle must close (uv_loop_close() == 0),
 * no subscription may remain and nothing may leak.
 *
 * Seeds (corpus/wlapi/) are byte streams recorded from python3-grpcio:
 * every RPC with and without the header, a cancel, several calls on one
 * connection. */
#include "grpc_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/util.h"
#include "wl_api.h"
#include "wl_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TD "example.org"

static struct cairn_key *g_ca_key, *g_jwt_key, *g_leaf_key[3];
static struct cairn_cert_list *g_chain[3];
static struct cairn_bundle *g_bundle, *g_fed;
static char g_ids[3][64];
static char g_sock[108];

static struct cairn_cert *issue(enum cairn_cert_kind kind, const char *id,
                                const struct cairn_key *subj,
                                const struct cairn_cert *issuer)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;

  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.ttl = 7 * 86400;
  t.path_len = -1;
  if (cairn_cert_issue(&t, subj, g_ca_key, issuer, &c) != 0) abort();
  return c;
}

static void setup_once(void)
{
  struct cairn_cert *ca, *fca;
  struct cairn_key *fkey = NULL;
  int i;

  cairn_log_set_level(CAIRN_LOG_ERROR);
  if (cairn_key_generate(CAIRN_KEY_EC_P256, &g_ca_key) ||
      cairn_key_generate(CAIRN_KEY_EC_P256, &g_jwt_key) ||
      cairn_key_generate(CAIRN_KEY_EC_P256, &fkey))
    abort();
  ca = issue(CAIRN_CERT_ROOT, "spiffe://" TD, g_ca_key, NULL);
  {
    struct cairn_cert_template t;
    memset(&t, 0, sizeof t);
    t.kind = CAIRN_CERT_ROOT;
    t.spiffe_id = "spiffe://fed.test";
    t.ttl = 7 * 86400;
    t.path_len = -1;
    if (cairn_cert_issue(&t, fkey, fkey, NULL, &fca) != 0) abort();
  }
  if (cairn_bundle_new(TD, &g_bundle) || cairn_bundle_add_x509(g_bundle, ca) ||
      cairn_bundle_add_jwt_key(g_bundle, "kid1", g_jwt_key) ||
      cairn_bundle_new("fed.test", &g_fed) || cairn_bundle_add_x509(g_fed, fca) ||
      cairn_bundle_add_jwt_key(g_fed, "fkid", fkey))
    abort();
  snprintf(g_ids[0], sizeof g_ids[0], "spiffe://" TD "/uid/%d",
           (int)geteuid());
  snprintf(g_ids[1], sizeof g_ids[1], "spiffe://" TD "/both/%d",
           (int)geteuid());
  snprintf(g_ids[2], sizeof g_ids[2], "spiffe://" TD "/other");
  for (i = 0; i < 3; i++) {
    if (cairn_key_generate(CAIRN_KEY_EC_P256, &g_leaf_key[i]) ||
        cairn_cert_list_new(&g_chain[i]) ||
        cairn_cert_list_push(g_chain[i],
                             issue(CAIRN_CERT_LEAF, g_ids[i], g_leaf_key[i], ca)))
      abort();
  }
  cairn_cert_free(ca);
  cairn_cert_free(fca);
  cairn_key_free(fkey);
  snprintf(g_sock, sizeof g_sock, "/tmp/cairn-fuzz-wl-%d.sock", (int)getpid());
}

static void mint(struct wl_jwt_req *req, const char *entry_id,
                 const char *spiffe_id, const char *const *aud, size_t naud,
                 void *arg)
{
  char *tok = NULL;
  (void)entry_id;
  (void)arg;
  if (aud[0][0] == 'x') {
    wl_jwt_req_done(req, NULL, "refused");
    return;
  }
  if (cairn_jwt_sign(g_jwt_key, "kid1", spiffe_id, aud, naud, 0,
                     cairn_now() + 300, &tok) != 0)
    abort();
  wl_jwt_req_done(req, tok, NULL);
  free(tok);
}

static void put_entry(struct wl_cache *c, const char *id, const char *sid,
                      const char *s1, const char *s2, int fed)
{
  struct cairn_msg_selector sel[2] = {{(char *)"unix", (char *)s1},
                                      {(char *)"unix", (char *)s2}};
  char *fedv[1] = {(char *)"fed.test"};
  struct cairn_msg_entry e;

  memset(&e, 0, sizeof e);
  e.id = (char *)id;
  e.spiffe_id = (char *)sid;
  e.parent_id = (char *)"spiffe://" TD "/spire/agent/join_token/f";
  e.selectors = sel;
  e.n_selectors = s2 ? 2 : 1;
  e.hint = (char *)(fed ? "h" : "");
  if (fed) {
    e.federates_with = fedv;
    e.n_federates_with = 1;
  }
  if (wl_cache_entry_put(c, &e) != 0) abort();
}

static void drain(int fd)
{
  uint8_t buf[65536];
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  uv_loop_t loop;
  struct wl_cache_opts co;
  struct wl_cache *cache = NULL;
  struct wl_api_opts ao;
  struct wl_api *api = NULL;
  struct cairn_grpc_server_opts go;
  struct wl_api_stats st;
  struct wl_cache_stats cst;
  struct wl_unix_opts uo;
  char uid[32], gid[32];
  int sv[2], i;
  size_t off = 0;

  if (size > 1 << 20) return 0;
  if (!ready) {
    setup_once();
    ready = 1;
  }
  if (uv_loop_init(&loop) != 0) abort();
  wl_cache_opts_init(&co);
  co.trust_domain = TD;
  if (wl_cache_new(&loop, &co, &cache) != 0) abort();
  snprintf(uid, sizeof uid, "uid:%d", (int)geteuid());
  snprintf(gid, sizeof gid, "gid:%d", (int)getegid());
  put_entry(cache, "e0", g_ids[0], uid, NULL, 1);
  put_entry(cache, "e1", g_ids[1], uid, gid, 0);
  put_entry(cache, "e2", g_ids[2], "uid:99999", NULL, 0);
  if (wl_cache_set_bundle(cache, g_bundle) ||
      wl_cache_set_federated(cache, g_fed))
    abort();
  for (i = 0; i < 3; i++) {
    static const char *const ids[] = {"e0", "e1", "e2"};
    if (wl_cache_svid_set(cache, ids[i], g_chain[i], g_leaf_key[i]) != 0)
      abort();
  }
  cairn_grpc_server_opts_init(&go);
  go.max_recv_msg = 64 * 1024;
  go.max_streams = 16;
  wl_api_opts_init(&ao);
  ao.cache = cache;
  ao.socket_path = g_sock;
  ao.mint_jwt = mint;
  ao.pending_ms = 50;
  ao.grpc = &go;
  /* The unix attestor on this very process, without hashing the (large,
   * instrumented) binary for every input. */
  wl_unix_opts_init(&uo);
  uo.no_sha256 = 1;
  ao.unix_opts = &uo;
  if (wl_api_new(&loop, &ao, &api) != 0) abort();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
    abort();
  if (cairn__grpc_server_adopt(wl_api_server(api), sv[0]) != 0) abort();
  for (int round = 0; round < 64; round++) {
    if (off < size) {
      ssize_t n = send(sv[1], data + off, size - off,
                       MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) off += (size_t)n;
      else if (n < 0 && errno != EAGAIN) off = size;
    } else if (round > 4) {
      break;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    /* Let the attestations (thread pool) finish so requests get handled. */
    for (;;) {
      wl_api_get_stats(api, &st);
      if (st.attesting == 0) break;
      uv_run(&loop, UV_RUN_ONCE);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    drain(sv[1]);
  }
  if (getenv("CAIRN_FUZZ_DEBUG")) {
    wl_api_get_stats(api, &st);
    fprintf(stderr, "calls %llu bad_header %llu invalid %llu denied %llu "
            "stream_msgs %llu mints %llu unimplemented %llu\n",
            (unsigned long long)st.calls, (unsigned long long)st.bad_header,
            (unsigned long long)st.invalid, (unsigned long long)st.denied,
            (unsigned long long)st.stream_msgs, (unsigned long long)st.mints,
            (unsigned long long)st.unimplemented);
  }
  wl_api_free(api);
  wl_cache_get_stats(cache, &cst);
  if (cst.subscribers != 0) abort();
  wl_cache_free(cache);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) abort();
  close(sv[1]);
  return 0;
}
