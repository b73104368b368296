/* shared/src/net_common.c - net module: peer policy, credentials, paths,
 * addresses and the libcoap <-> libuv glue shared by server and client. */
#include "net_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/buf.h"
#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/util.h"
#include "cert_int.h"

/* ------------------------------------------------------------------ */
/* libcoap global setup                                                */
/* ------------------------------------------------------------------ */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* libcoap's warnings are mostly about peers we refused on purpose; keep
 * them at debug level and only surface its errors. */
static void coap_log_route(coap_log_t level, const char *message)
{
  size_t n = strlen(message);
  while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r')) n--;
  if (level <= LOG_ERR)
    cairn_log(CAIRN_LOG_WARN, "coap", "%.*s", (int)n, message);
  else
    cairn_log(CAIRN_LOG_DEBUG, "coap", "%.*s", (int)n, message);
}

static void global_init_once(void)
{
  coap_startup();
  coap_set_log_handler(coap_log_route);
  coap_set_log_level(LOG_WARNING);
}

void cairn__net_global_init(void)
{
  pthread_once(&g_once, global_init_once);
}

/* ------------------------------------------------------------------ */
/* Codes, methods, paths, addresses                                    */
/* ------------------------------------------------------------------ */

char *cairn_net_code_str(int code, char out[5])
{
  if (code < 0 || code > 731 || code % 100 > 31) code = 0;
  snprintf(out, 5, "%d.%02d", code / 100, code % 100);
  return out;
}

coap_pdu_code_t cairn__net_method_code(enum cairn_net_method m)
{
  switch (m) {
  case CAIRN_NET_GET: return COAP_REQUEST_CODE_GET;
  case CAIRN_NET_POST: return COAP_REQUEST_CODE_POST;
  case CAIRN_NET_PUT: return COAP_REQUEST_CODE_PUT;
  case CAIRN_NET_DELETE: return COAP_REQUEST_CODE_DELETE;
  }
  return 0;
}

coap_pdu_code_t cairn__net_code_to_coap(int code)
{
  return (coap_pdu_code_t)(((code / 100) << 5) | (code % 100));
}

int cairn__net_code_from_coap(coap_pdu_code_t c)
{
  return ((int)c >> 5) * 100 + ((int)c & 0x1f);
}

int cairn__net_path_check(const char *path)
{
  size_t n, seg = 0;

  if (!path || path[0] != '/')
    return cairn_seterr(CAIRN_ERR_INVAL, "path must start with '/'");
  n = strlen(path);
  if (n > CAIRN_NET_PATH_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "path longer than %d bytes",
                        CAIRN_NET_PATH_MAX);
  for (size_t i = 1; i <= n; i++) {
    char ch = path[i];
    if (ch == '/' || ch == '\0') {
      if (seg == 0)
        return cairn_seterr(CAIRN_ERR_INVAL,
                            "path has an empty segment: %s", path);
      seg = 0;
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
               (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
               ch == '-') {
      seg++;
    } else {
      return cairn_seterr(CAIRN_ERR_INVAL,
                          "path has a character outside [A-Za-z0-9._-]: %s",
                          path);
    }
  }
  return CAIRN_OK;
}

int cairn__net_addr(const char *host, uint16_t port, coap_address_t *out)
{
  struct sockaddr_in sin;
  struct sockaddr_in6 sin6;

  coap_address_init(out);
  if (!host) return cairn_seterr(CAIRN_ERR_INVAL, "address is NULL");
  if (uv_ip4_addr(host, port, &sin) == 0) {
    out->addr.sin = sin;
    out->size = sizeof sin;
    return CAIRN_OK;
  }
  if (uv_ip6_addr(host, port, &sin6) == 0) {
    out->addr.sin6 = sin6;
    out->size = sizeof sin6;
    return CAIRN_OK;
  }
  return cairn_seterr(CAIRN_ERR_INVAL,
                      "'%s' is not an IPv4 or IPv6 address literal", host);
}

void cairn__net_addr_str(const coap_address_t *a, char *out, size_t outlen)
{
  unsigned char buf[INET6_ADDRSTRLEN + 16];
  size_t n = coap_print_addr(a, buf, sizeof buf - 1);

  buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
  snprintf(out, outlen, "%s", (const char *)buf);
}

/* ------------------------------------------------------------------ */
/* Peer policy                                                         */
/* ------------------------------------------------------------------ */

static void fill_peer(const struct cairn_cert *leaf, struct cairn_net_peer *p)
{
  p->not_after = cairn_cert_not_after(leaf);
  if (cairn_cert_serial_hex(leaf, p->serial, sizeof p->serial) != CAIRN_OK)
    p->serial[0] = '\0';
}

/* Copies a DER INTEGER (unsigned, big endian) left-padded into out. */
static int int_to_raw(const uint8_t *v, size_t n, uint8_t *out, size_t w)
{
  while (n > 0 && v[0] == 0) {
    v++;
    n--;
  }
  if (n > w) return 0;
  memset(out, 0, w - n);
  memcpy(out + w - n, v, n);
  return 1;
}

/* 1 when c is self-issued and its signature verifies with its own public
 * key: ECDSA with the hash cairn_key_verify() uses for the curve (SHA-256
 * on P-256, SHA-384 on P-384), as cairn_net_bootstrap_cert() makes. */
static int self_signed(const struct cairn_cert *c)
{
  static const uint8_t oid_sha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d,
                                       0x04, 0x03, 0x02};
  static const uint8_t oid_sha384[] = {0x2a, 0x86, 0x48, 0xce, 0x3d,
                                       0x04, 0x03, 0x03};
  struct cairn_rd r, in, alg, sig;
  struct cairn_key *key = NULL;
  const uint8_t *der, *v, *tbs, *rv, *sv, *s, *i;
  size_t len, vlen, tbs_off, tbs_len, rl, sl, w, subl, issl;
  uint8_t tag, raw[2 * 48];
  const uint8_t *want;
  int ok = 0;

  s = cairn_cert_subject_der(c, &subl);
  i = cairn_cert_issuer_der(c, &issl);
  if (!s || !i || subl != issl || memcmp(s, i, subl) != 0) return 0;
  if (cairn_cert_public_key(c, &key) != CAIRN_OK) return 0;
  w = cairn_key_type_coord_len(cairn_key_get_type(key));
  want = cairn_key_get_type(key) == CAIRN_KEY_EC_P384 ? oid_sha384
                                                      : oid_sha256;
  der = cairn_cert_der(c, &len);
  cairn_rd_init(&r, der, len);
  if (cairn_rd_der(&r, &tag, &v, &vlen) || tag != 0x30) goto out;
  cairn_rd_init(&in, v, vlen);
  tbs_off = in.off;
  if (cairn_rd_der(&in, &tag, &v, &vlen) || tag != 0x30) goto out;
  tbs = in.p + tbs_off;
  tbs_len = in.off - tbs_off;
  /* AlgorithmIdentifier: the OID alone (ECDSA has no parameters). */
  if (cairn_rd_der(&in, &tag, &v, &vlen) || tag != 0x30) goto out;
  cairn_rd_init(&alg, v, vlen);
  if (cairn_rd_der(&alg, &tag, &v, &vlen) || tag != 0x06 ||
      vlen != sizeof oid_sha256 || memcmp(v, want, vlen) != 0 ||
      cairn_rd_left(&alg) != 0)
    goto out;
  /* BIT STRING, no unused bits, holding ECDSA-Sig-Value. */
  if (cairn_rd_der(&in, &tag, &v, &vlen) || tag != 0x03 || vlen < 1 ||
      v[0] != 0 || cairn_rd_left(&in) != 0)
    goto out;
  cairn_rd_init(&sig, v + 1, vlen - 1);
  if (cairn_rd_der(&sig, &tag, &v, &vlen) || tag != 0x30 ||
      cairn_rd_left(&sig) != 0)
    goto out;
  cairn_rd_init(&sig, v, vlen);
  if (cairn_rd_der(&sig, &tag, &rv, &rl) || tag != 0x02 ||
      cairn_rd_der(&sig, &tag, &sv, &sl) || tag != 0x02 ||
      cairn_rd_left(&sig) != 0)
    goto out;
  if (!int_to_raw(rv, rl, raw, w) || !int_to_raw(sv, sl, raw + w, w))
    goto out;
  ok = cairn_key_verify(key, tbs, tbs_len, raw, 2 * w) == CAIRN_OK;
out:
  cairn_key_free(key);
  return ok;
}

int cairn__net_check_client(const struct cairn_cert_list *chain,
                            const struct cairn_bundle *bundle,
                            int allow_bootstrap, struct cairn_net_peer *peer)
{
  const struct cairn_cert *leaf;
  struct cairn_id id;
  int r;

  if (!chain || cairn_cert_list_count(chain) == 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "peer sent no certificate");
  if (!bundle)
    return cairn_seterr(CAIRN_ERR_UNTRUSTED, "no trust bundle configured");
  leaf = cairn_cert_list_at(chain, 0);
  r = cairn_cert_verify(chain, cairn_bundle_x509(bundle),
                        cairn_bundle_td(bundle), 0, 0, &id);
  if (r == CAIRN_OK) {
    peer->authenticated = 1;
    peer->id = id;
    fill_peer(leaf, peer);
    return CAIRN_OK;
  }
  /* A bootstrap peer: one self-signed end-entity certificate. The
   * handshake proves it holds the key; nothing else about it is trusted,
   * so it gets no identity. */
  if (allow_bootstrap && cairn_cert_list_count(chain) == 1 &&
      !cairn_cert_is_ca(leaf) && self_signed(leaf)) {
    memset(&peer->id, 0, sizeof peer->id);
    peer->authenticated = 0;
    fill_peer(leaf, peer);
    return CAIRN_OK;
  }
  return r;
}

int cairn__net_check_server(const struct cairn_cert_list *chain,
                            const struct cairn_bundle *bundle, int insecure,
                            const struct cairn_id *expected,
                            struct cairn_net_peer *peer)
{
  const struct cairn_cert *leaf;
  struct cairn_id id;
  int r;

  if (!chain || cairn_cert_list_count(chain) == 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "server sent no certificate");
  leaf = cairn_cert_list_at(chain, 0);
  if (insecure) {
    if ((r = cairn_cert_spiffe_id(leaf, &id)) != CAIRN_OK)
      return cairn_seterr(CAIRN_ERR_POLICY,
                          "server certificate has no single SPIFFE ID");
  } else {
    if (!bundle)
      return cairn_seterr(CAIRN_ERR_UNTRUSTED, "no trust bundle configured");
    r = cairn_cert_verify(chain, cairn_bundle_x509(bundle),
                          cairn_bundle_td(bundle), 0, 0, &id);
    if (r != CAIRN_OK) return r;
  }
  if (!cairn_id_equal(&id, expected))
    return cairn_seterr(CAIRN_ERR_DENIED, "server is %s, expected %s",
                        id.str, expected->str);
  peer->authenticated = !insecure;
  peer->id = id;
  fill_peer(leaf, peer);
  return CAIRN_OK;
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

void cairn__net_creds_clear(struct cairn__net_creds *c)
{
  if (!c) return;
  free(c->chain_pem);
  if (c->key_pem) cairn_freezero(c->key_pem, c->key_len + 1);
  memset(c, 0, sizeof *c);
}

int cairn__net_creds_set(struct cairn__net_creds *out, const char *chain_pem,
                         size_t chain_len, const char *key_pem,
                         size_t key_len)
{
  struct cairn_cert_list *chain = NULL;
  struct cairn_key *key = NULL;
  struct cairn__net_creds n = {0};
  int r = CAIRN_ERR_INTERNAL;

  if (!out || !chain_pem || !key_pem)
    return cairn_seterr(CAIRN_ERR_INVAL, "credentials: NULL argument");
  if (chain_len > CAIRN_NET_CREDS_MAX || key_len > CAIRN_NET_CREDS_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG,
                        "credentials: PEM text larger than %u bytes",
                        CAIRN_NET_CREDS_MAX);
  if ((r = cairn_cert_list_parse_pem(chain_pem, chain_len, &chain))) goto out;
  if (cairn_cert_list_count(chain) > CAIRN_CERT_CHAIN_MAX) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG,
                     "credentials: more than %d certificates in the chain",
                     CAIRN_CERT_CHAIN_MAX);
    goto out;
  }
  if ((r = cairn_key_import_pem(key_pem, key_len, &key))) goto out;
  if (!cairn_key_has_private(key)) {
    r = cairn_seterr(CAIRN_ERR_INVAL, "credentials: key has no private part");
    goto out;
  }
  if (!cairn_cert_matches_key(cairn_cert_list_at(chain, 0), key)) {
    r = cairn_seterr(CAIRN_ERR_POLICY,
                     "credentials: key does not match the leaf certificate");
    goto out;
  }
  if ((r = cairn_cert_list_to_pem(chain, &n.chain_pem, &n.chain_len)) ||
      (r = cairn_key_export_private_pem(key, &n.key_pem, &n.key_len)))
    goto out;
  cairn__net_creds_clear(out);
  *out = n;
  memset(&n, 0, sizeof n); /* transferred */
  r = CAIRN_OK;
out:
  cairn__net_creds_clear(&n);
  cairn_cert_list_free(chain);
  cairn_key_free(key);
  return r;
}

void cairn__net_pki_setup(coap_dtls_pki_t *pki,
                          const struct cairn__net_creds *c)
{
  memset(pki, 0, sizeof *pki);
  pki->version = COAP_DTLS_PKI_SETUP_VERSION;
  /* Request the peer's certificate (servers) and keep libcoap's own check
   * strict: with no CA configured it refuses every peer, so a session that
   * somehow missed our verify hook fails closed. */
  pki->verify_peer_cert = 1;
  pki->check_common_ca = 0;
  pki->allow_self_signed = 0;
  pki->allow_expired_certs = 0;
  pki->cert_chain_validation = 0;
  pki->check_cert_revocation = 0;
  pki->pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
  pki->pki_key.key.pem_buf.ca_cert = NULL;
  pki->pki_key.key.pem_buf.ca_cert_len = 0;
  /* Lengths include the NUL so libcoap uses our buffers in place rather
   * than making copies (which it would free without zeroising). */
  pki->pki_key.key.pem_buf.public_cert = (const uint8_t *)c->chain_pem;
  pki->pki_key.key.pem_buf.public_cert_len = c->chain_pem ? c->chain_len + 1
                                                          : 0;
  pki->pki_key.key.pem_buf.private_key = (const uint8_t *)c->key_pem;
  pki->pki_key.key.pem_buf.private_key_len = c->key_pem ? c->key_len + 1 : 0;
}

int cairn_net_bootstrap_cert(const struct cairn_key *key, int64_t ttl,
                             char **pem, size_t *len)
{
  struct cairn__cert_spec s;
  struct cairn_cert *cert = NULL;
  time_t now;
  int r;

  if (!pem || !len)
    return cairn_seterr(CAIRN_ERR_INVAL, "bootstrap cert: NULL output");
  *pem = NULL;
  *len = 0;
  if (!key || !cairn_key_has_private(key))
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "bootstrap cert: needs a key with a private part");
  if (ttl <= 0 || ttl > 366 * 86400)
    return cairn_seterr(CAIRN_ERR_INVAL,
                        "bootstrap cert: ttl must be 1s..366d");
  now = cairn_now();
  memset(&s, 0, sizeof s);
  s.is_ca = 0;
  s.path_len = -1;
  s.key_usage = CAIRN_KU_DIGITAL_SIGNATURE;
  s.eku_tls = 1;
  s.common_name = "cairn bootstrap";
  s.not_before = now - CAIRN_CERT_BACKDATE;
  s.not_after = now + (time_t)ttl;
  /* Not an SVID (no URI SAN), so cairn_cert_issue() cannot make it; the
   * policy-free encoder writes exactly this spec. */
  if ((r = cairn__cert_encode(&s, key, key, NULL, &cert))) return r;
  r = cairn_cert_to_pem(cert, pem, len);
  cairn_cert_free(cert);
  return r;
}

/* ------------------------------------------------------------------ */
/* libcoap <-> libuv                                                   */
/* ------------------------------------------------------------------ */

static void io_run(struct cairn__net_io *io);

static void on_poll(uv_poll_t *h, int status, int events)
{
  (void)status;
  (void)events;
  io_run(h->data);
}

static void on_timer(uv_timer_t *h)
{
  io_run(h->data);
}

/* One pass: let libcoap read and dispatch whatever is ready, let the owner
 * act on what happened (outside libcoap), then run libcoap's due timeouts
 * and retransmissions and re-arm its timerfd (coap_io_prepare_epoll must
 * follow every pass). libcoap's timerfd lives in its epoll set, so the
 * uv_poll alone wakes us for its timeouts; the uv_timer covers the owner's
 * own deadlines and kicks. */
static void io_run(struct cairn__net_io *io)
{
  coap_tick_t now;
  unsigned ms;
  uint64_t want;

  if (!io->ctx) return;
  io->busy++;
  io->kick = 0;
  coap_io_process(io->ctx, COAP_IO_NO_WAIT);
  want = io->pass(io->owner);
  coap_ticks(&now);
  ms = coap_io_prepare_epoll(io->ctx, now);
  io->busy--;
  if (io->busy == 0 && io->want_free(io->owner)) {
    io->do_free(io->owner);
    return;
  }
  if (want && (ms == 0 || want < ms)) ms = (unsigned)want;
  if (io->kick)
    uv_timer_start(&io->timer, on_timer, 0, 0);
  else if (ms)
    uv_timer_start(&io->timer, on_timer, ms, 0);
  else
    uv_timer_stop(&io->timer);
}

int cairn__net_io_start(struct cairn__net_io *io)
{
  int fd = coap_context_get_coap_fd(io->ctx);
  int e;

  if (fd < 0)
    return cairn_seterr(CAIRN_ERR_NET, "libcoap was built without epoll");
  if ((e = uv_timer_init(io->loop, &io->timer)))
    return cairn_seterr(CAIRN_ERR_NET, "uv_timer_init: %s", uv_strerror(e));
  io->timer.data = io;
  io->handles++;
  if ((e = uv_poll_init(io->loop, &io->poll, fd)))
    return cairn_seterr(CAIRN_ERR_NET, "uv_poll_init: %s", uv_strerror(e));
  io->poll.data = io;
  io->handles++;
  if ((e = uv_poll_start(&io->poll, UV_READABLE, on_poll)))
    return cairn_seterr(CAIRN_ERR_NET, "uv_poll_start: %s", uv_strerror(e));
  cairn__net_io_kick(io);
  return CAIRN_OK;
}

void cairn__net_io_kick(struct cairn__net_io *io)
{
  if (io->handles != 2 || !io->ctx) return;
  if (io->busy)
    io->kick = 1;
  else
    uv_timer_start(&io->timer, on_timer, 0, 0);
}

static void on_io_closed(uv_handle_t *h)
{
  struct cairn__net_io *io = h->data;
  if (--io->handles == 0) io->closed(io->owner);
}

void cairn__net_io_close(struct cairn__net_io *io)
{
  int n = io->handles;

  if (n == 0) {
    io->closed(io->owner);
    return;
  }
  /* uv_close stops a poll handle at once, so libcoap may close the epoll
   * fd right after this returns. The timer is initialised first, so with
   * one handle it is the timer. */
  uv_close((uv_handle_t *)&io->timer, on_io_closed);
  if (n == 2) uv_close((uv_handle_t *)&io->poll, on_io_closed);
}

int cairn__net_target_check(const char *target)
{
  char path[CAIRN_NET_PATH_MAX + 1];
  const char *q;
  size_t n;
  int r;

  if (!target)
    return cairn_seterr(CAIRN_ERR_INVAL, "path must start with '/'");
  q = strchr(target, '?');
  if (!q) return cairn__net_path_check(target);
  n = (size_t)(q - target);
  if (n > CAIRN_NET_PATH_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "path longer than %d bytes",
                        CAIRN_NET_PATH_MAX);
  memcpy(path, target, n);
  path[n] = '\0';
  if ((r = cairn__net_path_check(path))) return r;
  q++;
  n = strlen(q);
  if (n == 0 || n > CAIRN_NET_QUERY_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "query must be 1..%d bytes",
                        CAIRN_NET_QUERY_MAX);
  for (size_t i = 0; i < n; i++) {
    char ch = q[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
          ch == '=' || ch == '&'))
      return cairn_seterr(CAIRN_ERR_INVAL,
                          "query may hold only [A-Za-z0-9._-=&]: %s", q);
    if (ch == '&' && (i == 0 || i + 1 == n || q[i + 1] == '&'))
      return cairn_seterr(CAIRN_ERR_INVAL, "query has an empty part: %s", q);
  }
  return CAIRN_OK;
}
