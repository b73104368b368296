/* shared/src/net_tls.c - the only GnuTLS code of Cairn: hands the peer's
 * certificate chain of a libcoap DTLS session to our verifier.
 *
 * libcoap 4.3.1's GnuTLS back-end passes only the leaf to its validate
 * callback, and only after GnuTLS accepted the chain against the CAs given
 * to libcoap. We give libcoap no CA and replace the verification per
 * session instead (see net_int.h for why the hook is always in place
 * before the peer's Certificate message is processed).
 */
#include "net_int.h"

#include <gnutls/gnutls.h>

#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/log.h"

void *cairn__net_tls_of(coap_session_t *s)
{
  coap_tls_library_t lib = COAP_TLS_LIBRARY_NOTLS;
  void *tls = s ? coap_session_get_tls(s, &lib) : NULL;

  return lib == COAP_TLS_LIBRARY_GNUTLS ? tls : NULL;
}

/* Parses the peer's chain as sent (leaf first). */
static int peer_chain(gnutls_session_t gs, struct cairn_cert_list **out)
{
  const gnutls_datum_t *certs;
  unsigned int n = 0;
  struct cairn_cert_list *l = NULL;
  struct cairn_cert *c = NULL;
  int r;

  *out = NULL;
  if (gnutls_certificate_type_get2(gs, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509)
    return cairn_seterr(CAIRN_ERR_POLICY, "peer did not send X.509");
  certs = gnutls_certificate_get_peers(gs, &n);
  if (!certs || n == 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "peer sent no certificate");
  if (n > CAIRN_CERT_CHAIN_MAX)
    return cairn_seterr(CAIRN_ERR_TOO_BIG,
                        "peer sent %u certificates (at most %d)", n,
                        CAIRN_CERT_CHAIN_MAX);
  if ((r = cairn_cert_list_new(&l))) return r;
  for (unsigned int i = 0; i < n; i++) {
    if ((r = cairn_cert_parse_der(certs[i].data, certs[i].size, &c)) ||
        (r = cairn_cert_list_push(l, c))) {
      cairn_cert_free(c);
      cairn_cert_list_free(l);
      return r;
    }
    c = NULL; /* owned by l */
  }
  *out = l;
  return CAIRN_OK;
}

/* gnutls_certificate_verify_function: 0 continues the handshake, anything
 * else ends it (libcoap then sends a fatal alert). */
static int verify_cb(gnutls_session_t gs)
{
  struct cairn__net_vtarget *t = gnutls_session_get_ptr(gs);
  struct cairn_cert_list *chain = NULL;
  int r;

  if (!t) return -1;
  if ((r = peer_chain(gs, &chain)) == CAIRN_OK) r = t->verify(t, chain);
  else r = t->verify(t, NULL); /* lets the target record the refusal */
  cairn_cert_list_free(chain);
  return r == CAIRN_OK ? 0 : -1;
}

void cairn__net_tls_hook(void *tls, struct cairn__net_vtarget *t)
{
  gnutls_session_t gs = tls;

  gnutls_session_set_ptr(gs, t);
  gnutls_session_set_verify_function(gs, verify_cb);
}
