/* cairn-coap-server - a net.h server for interop tests with real CoAP
 * clients (coap-client-gnutls).
 *
 *   cairn-coap-server DIR [SECONDS]
 *
 * Issues a small PKI with libcairn and writes it to DIR: ca.pem (the trust
 * domain root), agent.pem/agent.key (an agent SVID), rogue.pem/rogue.key
 * (an SVID from a CA outside the bundle), rogue-ca.pem, boot.pem/boot.key
 * (a bootstrap certificate), big.cbor (100 KB CBOR byte string). Then
 * serves CoAP over DTLS on 127.0.0.1 (ephemeral port, written to DIR/port
 * once listening) with bootstrap peers allowed, for SECONDS (default 60)
 * or until SIGTERM/SIGINT:
 *   GET  /v1/test  SVID only: CBOR text "hello <peer SPIFFE ID>"
 *   GET  /v1/open  bootstrap too: "hello <ID>" or "hello bootstrap"
 *   GET  /v1/big   5000-byte CBOR byte string (Block2)
 *   POST /v1/echo  echoes the CBOR body (max 64 KiB)
 */
#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/net.h"
#include "cairn/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TD "example.org"

static const char *g_dir;

static void die(const char *what, int r)
{
  fprintf(stderr, "cairn-coap-server: %s: %s: %s\n", what,
          cairn_strerror(r), cairn_errdetail());
  exit(1);
}

static void put(const char *name, const void *data, size_t len, mode_t mode)
{
  char path[1024];
  int r;

  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  if ((r = cairn_file_write_atomic(path, data, len, mode))) die(path, r);
}

static struct cairn_cert *issue(enum cairn_cert_kind kind, const char *id,
                                const struct cairn_key *pub,
                                const struct cairn_key *ikey,
                                const struct cairn_cert *icert)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;
  int r;

  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.ttl = 86400;
  t.path_len = -1;
  if ((r = cairn_cert_issue(&t, pub, ikey, icert, &c))) die(id, r);
  return c;
}

/* Writes name.pem (leaf [+ extra]) and name.key; returns the PEMs. */
static void save_creds(const char *name, const struct cairn_cert *leaf,
                       const struct cairn_cert *extra,
                       const struct cairn_key *key, char **chain,
                       size_t *chain_len, char **kpem, size_t *klen)
{
  struct cairn_cert_list *l = NULL;
  char fn[64];
  int r;

  if ((r = cairn_cert_list_new(&l)) ||
      (r = cairn_cert_list_push_copy(l, leaf)) ||
      (extra && (r = cairn_cert_list_push_copy(l, extra))) ||
      (r = cairn_cert_list_to_pem(l, chain, chain_len)) ||
      (r = cairn_key_export_private_pem(key, kpem, klen)))
    die(name, r);
  cairn_cert_list_free(l);
  snprintf(fn, sizeof fn, "%s.pem", name);
  put(fn, *chain, *chain_len, 0644);
  snprintf(fn, sizeof fn, "%s.key", name);
  put(fn, *kpem, *klen, 0600);
}

static void reply_text(struct cairn_net_exchange *x, const char *s)
{
  uint8_t buf[260];
  size_t n = strlen(s);

  if (n > 255) n = 255;
  buf[0] = 0x78; /* CBOR text string, one length byte */
  buf[1] = (uint8_t)n;
  memcpy(buf + 2, s, n);
  cairn_net_reply(x, CAIRN_NET_CONTENT, buf, n + 2);
}

static void h_test(struct cairn_net_exchange *x,
                   const struct cairn_net_request *rq, void *arg)
{
  char msg[CAIRN_ID_MAX + 16];
  (void)arg;
  snprintf(msg, sizeof msg, "hello %s", rq->peer->id.str);
  reply_text(x, msg);
}

static void h_open(struct cairn_net_exchange *x,
                   const struct cairn_net_request *rq, void *arg)
{
  char msg[CAIRN_ID_MAX + 16];
  (void)arg;
  snprintf(msg, sizeof msg, "hello %s",
           rq->peer->authenticated ? rq->peer->id.str : "bootstrap");
  reply_text(x, msg);
}

static void h_big(struct cairn_net_exchange *x,
                  const struct cairn_net_request *rq, void *arg)
{
  uint8_t buf[5000];
  (void)rq;
  (void)arg;
  buf[0] = 0x59; /* CBOR byte string, two length bytes: 4997 */
  buf[1] = (uint8_t)(4997 >> 8);
  buf[2] = (uint8_t)(4997 & 0xff);
  for (size_t i = 3; i < sizeof buf; i++) buf[i] = (uint8_t)('a' + i % 26);
  cairn_net_reply(x, CAIRN_NET_CONTENT, buf, sizeof buf);
}

static void h_echo(struct cairn_net_exchange *x,
                   const struct cairn_net_request *rq, void *arg)
{
  (void)arg;
  cairn_net_reply(x, CAIRN_NET_CHANGED, rq->body, rq->body_len);
}

static void on_stop(uv_handle_t *h)
{
  uv_stop(h->loop);
}

static void on_signal(uv_signal_t *s, int sig)
{
  (void)sig;
  on_stop((uv_handle_t *)s);
}

static void on_timer(uv_timer_t *t)
{
  on_stop((uv_handle_t *)t);
}

static void close_all(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

int main(int argc, char **argv)
{
  struct cairn_key *rk = NULL, *ik = NULL, *sk = NULL, *ak = NULL,
                   *xk = NULL, *xak = NULL, *bk = NULL;
  struct cairn_cert *root, *inter, *srv, *agent, *xroot, *xagent;
  struct cairn_bundle *b = NULL;
  struct cairn_net_server_opts o;
  struct cairn_net_server *s = NULL;
  char *chain, *key, *pem, port[16];
  size_t chain_len, key_len, len;
  uint8_t *big;
  uv_loop_t loop;
  uv_signal_t sig_term, sig_int;
  uv_timer_t timer;
  int r, secs = argc > 2 ? atoi(argv[2]) : 60;

  if (argc < 2) {
    fprintf(stderr, "usage: cairn-coap-server DIR [SECONDS]\n");
    return 2;
  }
  g_dir = argv[1];
  signal(SIGPIPE, SIG_IGN);
  cairn_log_set_level(getenv("CAIRN_NET_DEBUG") ? CAIRN_LOG_DEBUG
                                                : CAIRN_LOG_INFO);

  if ((r = cairn_key_generate(CAIRN_KEY_EC_P256, &rk)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &ik)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &sk)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &ak)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &xk)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &xak)) ||
      (r = cairn_key_generate(CAIRN_KEY_EC_P256, &bk)))
    die("keygen", r);
  root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, rk, rk, NULL);
  inter = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, ik, rk, root);
  srv = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/spire/server", sk, ik, inter);
  agent = issue(CAIRN_CERT_LEAF,
                "spiffe://" TD "/spire/agent/join_token/interop", ak, rk,
                root);
  xroot = issue(CAIRN_CERT_ROOT, "spiffe://" TD, xk, xk, NULL);
  xagent = issue(CAIRN_CERT_LEAF,
                 "spiffe://" TD "/spire/agent/join_token/rogue", xak, xk,
                 xroot);

  if ((r = cairn_cert_to_pem(root, &pem, &len))) die("ca.pem", r);
  put("ca.pem", pem, len, 0644);
  free(pem);
  if ((r = cairn_cert_to_pem(xroot, &pem, &len))) die("rogue-ca.pem", r);
  put("rogue-ca.pem", pem, len, 0644);
  free(pem);
  save_creds("agent", agent, NULL, ak, &chain, &chain_len, &key, &key_len);
  free(chain);
  cairn_freezero(key, key_len);
  save_creds("rogue", xagent, NULL, xak, &chain, &chain_len, &key,
             &key_len);
  free(chain);
  cairn_freezero(key, key_len);
  if ((r = cairn_net_bootstrap_cert(bk, 3600, &pem, &len)))
    die("bootstrap cert", r);
  put("boot.pem", pem, len, 0644);
  free(pem);
  if ((r = cairn_key_export_private_pem(bk, &key, &key_len)))
    die("boot.key", r);
  put("boot.key", key, key_len, 0600);
  cairn_freezero(key, key_len);
  /* A CBOR byte string of 100 KB (header 5A + 4-byte length). */
  len = 100 * 1024;
  big = calloc(1, len);
  big[0] = 0x5a;
  big[1] = (uint8_t)((len - 5) >> 24);
  big[2] = (uint8_t)((len - 5) >> 16);
  big[3] = (uint8_t)((len - 5) >> 8);
  big[4] = (uint8_t)(len - 5);
  put("big.cbor", big, len, 0644);
  free(big);

  if ((r = cairn_bundle_new(TD, &b)) || (r = cairn_bundle_add_x509(b, root)))
    die("bundle", r);
  if (uv_loop_init(&loop) != 0) die("uv_loop_init", CAIRN_ERR_INTERNAL);
  cairn_net_server_opts_init(&o);
  o.bind_addr = "127.0.0.1";
  o.allow_bootstrap = 1;
  if ((r = cairn_net_server_new(&loop, &o, &s))) die("server", r);
  save_creds("server", srv, inter, sk, &chain, &chain_len, &key, &key_len);
  if ((r = cairn_net_server_set_credentials(s, chain, chain_len, key,
                                            key_len)) ||
      (r = cairn_net_server_set_bundle(s, b)) ||
      (r = cairn_net_server_route(s, CAIRN_NET_GET, "/v1/test", 0, h_test,
                                  NULL)) ||
      (r = cairn_net_server_route(s, CAIRN_NET_GET, "/v1/open",
                                  CAIRN_NET_ROUTE_BOOTSTRAP, h_open, NULL)) ||
      (r = cairn_net_server_route(s, CAIRN_NET_GET, "/v1/big", 0, h_big,
                                  NULL)) ||
      (r = cairn_net_server_route(s, CAIRN_NET_POST, "/v1/echo", 0, h_echo,
                                  NULL)) ||
      (r = cairn_net_server_listen(s)))
    die("server setup", r);
  free(chain);
  cairn_freezero(key, key_len);
  snprintf(port, sizeof port, "%u\n", (unsigned)cairn_net_server_port(s));
  put("port", port, strlen(port), 0644);

  uv_signal_init(&loop, &sig_term);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_init(&loop, &sig_int);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_timer_init(&loop, &timer);
  uv_timer_start(&timer, on_timer, (uint64_t)(secs > 0 ? secs : 60) * 1000,
                 0);
  uv_run(&loop, UV_RUN_DEFAULT);

  {
    struct cairn_net_server_stats st;
    cairn_net_server_get_stats(s, &st);
    fprintf(stderr,
            "cairn-coap-server: handshakes_ok=%llu bootstrap_ok=%llu "
            "rejected=%llu requests=%llu refused=%llu\n",
            (unsigned long long)st.handshakes_ok,
            (unsigned long long)st.bootstrap_ok,
            (unsigned long long)st.rejected,
            (unsigned long long)st.requests,
            (unsigned long long)st.refused);
  }
  cairn_net_server_free(s);
  uv_walk(&loop, close_all, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  r = uv_loop_close(&loop);
  cairn_bundle_free(b);
  cairn_cert_free(root);
  cairn_cert_free(inter);
  cairn_cert_free(srv);
  cairn_cert_free(agent);
  cairn_cert_free(xroot);
  cairn_cert_free(xagent);
  cairn_key_free(rk);
  cairn_key_free(ik);
  cairn_key_free(sk);
  cairn_key_free(ak);
  cairn_key_free(xk);
  cairn_key_free(xak);
  cairn_key_free(bk);
  return r == 0 ? 0 : 1;
}
