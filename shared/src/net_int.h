/* shared/src/net_int.h - internals of the net module (net_common.c,
 * net_tls.c, net_server.c, net_client.c). Never installed.
 *
 * How peers are verified (see docs/library/net.md): every DTLS context is
 * given our credentials only (no CA at all) with verify_peer_cert = 1 and
 * allow_self_signed = 0, so libcoap's own GnuTLS verification would refuse
 * every peer. Before the peer's Certificate message can arrive, each
 * GnuTLS session gets a session-level verify function
 * (gnutls_session_set_verify_function, which overrides the credentials'
 * one) that hands the peer's DER chain to a struct cairn__net_vtarget.
 * Clients hook their session right after creating it; servers hook new
 * sessions after each libcoap pass, which is always before the
 * cookie-verified ClientHello is processed: a fresh GnuTLS session has a
 * fresh cookie key, so at least one round trip separates its creation
 * from the handshake proper, and one coap_io_process() pass reads at most
 * one datagram per endpoint (each server context has exactly one
 * endpoint, so libcoap's epoll loop never needs a second round).
 */
#ifndef CAIRN_NET_INT_H
#define CAIRN_NET_INT_H

#include <stddef.h>
#include <stdint.h>

#include <coap3/coap.h>
#include <uv.h>

#include "cairn/net.h"

struct cairn_bundle;
struct cairn_cert_list;

/* ---- one-time libcoap setup (coap_startup, log routing) ---- */
void cairn__net_global_init(void);

/* ---- verification hook (net_tls.c) ---- */

/* Receives the peer's chain (leaf first, as sent, parsed) during the
 * handshake; returns CAIRN_OK to admit the peer. chain is NULL when the
 * peer's certificates could not be read (cairn_errdetail() says why): the
 * target records the refusal and returns an error. */
struct cairn__net_vtarget {
  int (*verify)(struct cairn__net_vtarget *t,
                const struct cairn_cert_list *chain);
};

/* The GnuTLS session of a libcoap session, or NULL. */
void *cairn__net_tls_of(coap_session_t *s);
/* Installs the verify function on tls (a gnutls_session_t) with target
 * t; t must outlive the GnuTLS session or be unhooked. */
void cairn__net_tls_hook(void *tls, struct cairn__net_vtarget *t);

/* ---- policy (net_common.c) ---- */

/* Server side: verifies chain against bundle (in its trust domain) and
 * fills *peer (authenticated = 1). With allow_bootstrap, a chain of one
 * self-issued non-CA certificate that does not verify is admitted as a
 * bootstrap peer (authenticated = 0, empty ID). Errors as
 * cairn_cert_verify(), detail set. peer->addr is left alone. */
int cairn__net_check_client(const struct cairn_cert_list *chain,
                            const struct cairn_bundle *bundle,
                            int allow_bootstrap, struct cairn_net_peer *peer);

/* Client side: verifies the server chain against bundle (skipped when
 * insecure; bundle may then be NULL), then requires the leaf ID to equal
 * expected (CAIRN_ERR_DENIED otherwise). */
int cairn__net_check_server(const struct cairn_cert_list *chain,
                            const struct cairn_bundle *bundle, int insecure,
                            const struct cairn_id *expected,
                            struct cairn_net_peer *peer);

/* ---- credentials ---- */

struct cairn__net_creds {
  char *chain_pem;  /* normalised PEM, NUL-terminated */
  size_t chain_len; /* excluding the NUL */
  char *key_pem;    /* SEC1 PEM, NUL-terminated; zeroised on free */
  size_t key_len;
};

/* Parses, checks (key matches leaf) and normalises; *out is replaced only
 * on success (old contents freed). */
int cairn__net_creds_set(struct cairn__net_creds *out, const char *chain_pem,
                         size_t chain_len, const char *key_pem,
                         size_t key_len);
void cairn__net_creds_clear(struct cairn__net_creds *c);

/* Fills a coap_dtls_pki_t that points into c (c must stay alive while a
 * libcoap context may create sessions with it). */
void cairn__net_pki_setup(coap_dtls_pki_t *pki,
                          const struct cairn__net_creds *c);

/* ---- paths, addresses, codes ---- */

/* Validates "/seg/seg" (segments [A-Za-z0-9._-]+, at most
 * CAIRN_NET_PATH_MAX bytes). */
int cairn__net_path_check(const char *path);
/* A client target: a path optionally followed by "?a=1&b=2" (query bytes
 * [A-Za-z0-9._-=&], no empty part, at most CAIRN_NET_QUERY_MAX). */
int cairn__net_target_check(const char *target);
/* CoAP request code for a method; 0 when invalid. */
coap_pdu_code_t cairn__net_method_code(enum cairn_net_method m);
/* 205 <-> COAP_RESPONSE_CODE(205). */
coap_pdu_code_t cairn__net_code_to_coap(int code);
int cairn__net_code_from_coap(coap_pdu_code_t c);
/* Parses an IPv4/IPv6 literal + port into a coap_address_t. */
int cairn__net_addr(const char *host, uint16_t port, coap_address_t *out);
/* "1.2.3.4:5" / "[::1]:5" of a libcoap address into out. */
void cairn__net_addr_str(const coap_address_t *a, char *out, size_t outlen);

/* ---- libcoap <-> libuv glue ---- */

struct cairn__net_io {
  uv_loop_t *loop;
  coap_context_t *ctx;
  uv_poll_t poll;
  uv_timer_t timer;
  int handles;     /* initialised handles not yet closed */
  int busy;        /* inside a pass: defer kicks and frees */
  int kick;        /* run another pass on the next loop iteration */
  /* Called after each libcoap pass (outside libcoap), while busy. Returns
   * the milliseconds after which the owner wants another pass (0 = no
   * wish). */
  uint64_t (*pass)(void *owner);
  /* Called when busy drops to 0 and the owner asked to be freed. */
  int (*want_free)(void *owner);
  void (*do_free)(void *owner);
  /* Called when the last handle is closed: release the owner's memory. */
  void (*closed)(void *owner);
  void *owner;
};

/* Starts polling ctx's epoll fd and the timer. CAIRN_ERR_NET when libcoap
 * has no epoll fd. */
int cairn__net_io_start(struct cairn__net_io *io);
/* Asks for a pass soon (next loop iteration). */
void cairn__net_io_kick(struct cairn__net_io *io);
/* Closes the handles (polling stops at once; ctx may then be freed);
 * io->closed runs from the last close callback (or at once when no handle
 * was started). */
void cairn__net_io_close(struct cairn__net_io *io);

#endif
