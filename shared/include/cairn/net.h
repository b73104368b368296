/* cairn/net.h - CoAP over DTLS 1.2 between Cairn tiers, on libuv.
 *
 * A server endpoint serves CoAP resources; a client holds one DTLS session
 * to one server. Both run on a caller's uv_loop_t (libcoap-3-gnutls driven
 * by a uv_poll on its epoll fd plus a uv_timer; nothing blocks) and both
 * authenticate with X509-SVIDs in PKI mode. Payloads are CBOR
 * (content-format 60); the layer does not decode them.
 *
 * Trust. GnuTLS only runs the DTLS record layer. The peer's chain (DER, as
 * sent) is handed to this module during the handshake and verified with
 * cairn_cert_verify() against the bundle most recently given with
 * *_set_bundle(), in that bundle's trust domain. The verified SPIFFE ID is
 * attached to the session (struct cairn_net_peer). A server may also admit
 * "bootstrap" peers that present one self-signed certificate which does not
 * chain to the bundle (see cairn_net_bootstrap_cert()): they have no
 * SPIFFE ID and reach only routes registered with CAIRN_NET_ROUTE_BOOTSTRAP.
 * A client checks that the server's ID is exactly opts.server_id.
 *
 * Rotation. Credentials and bundles can be replaced at any time; new DTLS
 * sessions use the new values, established sessions keep theirs.
 *
 * Threads. A server or client and everything it hands out belong to the
 * thread that runs its loop. Library callbacks never run inside the call
 * that registered them (a request callback never runs inside
 * cairn_net_client_request()).
 *
 * Freeing. *_free() closes libuv handles; their memory is released when the
 * loop has run the close callbacks, so let the loop run (uv_run) before
 * uv_loop_close(). Freeing from inside one of this module's callbacks is
 * allowed; the work is then done when the callback returns.
 *
 * Block-wise transfer (RFC 7959) is used automatically in both directions
 * for bodies that do not fit one datagram. Observe (RFC 7641) is supported
 * for GET routes marked observable.
 */
#ifndef CAIRN_NET_H
#define CAIRN_NET_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "cairn/id.h"

struct cairn_bundle;
struct cairn_key;

/* ---- constants ------------------------------------------------------- */

enum cairn_net_method {
  CAIRN_NET_GET = 1,
  CAIRN_NET_POST = 2,
  CAIRN_NET_PUT = 3,
  CAIRN_NET_DELETE = 4
};

/* CoAP response codes as class * 100 + detail (4.04 is 404). */
#define CAIRN_NET_CREATED 201
#define CAIRN_NET_DELETED 202
#define CAIRN_NET_VALID 203
#define CAIRN_NET_CHANGED 204
#define CAIRN_NET_CONTENT 205
#define CAIRN_NET_CONTINUE 231
#define CAIRN_NET_BAD_REQUEST 400
#define CAIRN_NET_UNAUTHORIZED 401
#define CAIRN_NET_BAD_OPTION 402
#define CAIRN_NET_FORBIDDEN 403
#define CAIRN_NET_NOT_FOUND 404
#define CAIRN_NET_METHOD_NOT_ALLOWED 405
#define CAIRN_NET_NOT_ACCEPTABLE 406
#define CAIRN_NET_INCOMPLETE 408
#define CAIRN_NET_CONFLICT 409
#define CAIRN_NET_PRECONDITION_FAILED 412
#define CAIRN_NET_TOO_LARGE 413
#define CAIRN_NET_UNSUPPORTED_FORMAT 415
#define CAIRN_NET_INTERNAL_ERROR 500
#define CAIRN_NET_NOT_IMPLEMENTED 501
#define CAIRN_NET_UNAVAILABLE 503

#define CAIRN_NET_CF_CBOR 60  /* application/cbor */

#define CAIRN_NET_BODY_MAX_DEFAULT (64u * 1024)        /* request cap */
#define CAIRN_NET_BODY_MAX_LIMIT (16u * 1024 * 1024)   /* largest cap */
#define CAIRN_NET_RESPONSE_MAX_DEFAULT (4u * 1024 * 1024)
#define CAIRN_NET_TIMEOUT_DEFAULT_MS 10000
#define CAIRN_NET_SESSIONS_DEFAULT 1024
#define CAIRN_NET_PATH_MAX 255    /* "/v1/attest"; segments [A-Za-z0-9._-] */
#define CAIRN_NET_QUERY_MAX 255   /* "since=12" (Uri-Query options joined
                                     with '&'); longer queries get 4.00 */
#define CAIRN_NET_REASON_MAX 200  /* diagnostic payload bytes */
#define CAIRN_NET_CREDS_MAX (64u * 1024)  /* chain PEM and key PEM caps */
#define CAIRN_NET_OBSERVE_MAX 16  /* observations per server session */

/* "4.04" for 404 into out (needs 5 bytes); returns out. */
char *cairn_net_code_str(int code, char out[5]);

/* The authenticated (or bootstrap) identity of the other end of a session.
 * Plain value; valid as long as the session (see where it is handed out). */
struct cairn_net_peer {
  /* 1: id was verified against the bundle. 0: a server's bootstrap peer
   * (id.str is "") or a client in insecure_bootstrap mode (id holds the
   * server's claimed, unverified ID). */
  int authenticated;
  struct cairn_id id;
  time_t not_after;   /* notAfter of the peer's leaf certificate */
  char serial[41];    /* serial of the peer's leaf, lower-case hex */
  char addr[64];      /* "127.0.0.1:5684" or "[::1]:5684" */
};

/* ---- credentials (both ends) ----------------------------------------- */

/* Our certificate chain (leaf first, then intermediates; PEM) and private
 * key (PEM, any form key.h accepts) are set on a server or client with
 * cairn_net_server_set_credentials() / cairn_net_client_set_credentials().
 * Both texts are parsed and copied (the key copy is zeroised when
 * replaced or freed); the caller keeps its buffers. CAIRN_ERR_PARSE for
 * malformed PEM, CAIRN_ERR_POLICY when the key does not match the leaf,
 * CAIRN_ERR_TOO_BIG past CAIRN_NET_CREDS_MAX. */

/* Makes the throwaway self-signed certificate a node presents before it has
 * an SVID: CA false, digitalSignature, EKU client+server auth, no SPIFFE
 * ID, subject O=SPIFFE, CN=cairn bootstrap, valid for ttl seconds.
 * key must hold a private key. *pem: NUL-terminated, free(). */
int cairn_net_bootstrap_cert(const struct cairn_key *key, int64_t ttl,
                             char **pem, size_t *len);

/* ======================================================================
 * Server
 * ====================================================================== */

struct cairn_net_server;
struct cairn_net_exchange;

struct cairn_net_server_opts {
  const char *bind_addr;  /* IPv4 or IPv6 literal; NULL = "0.0.0.0" */
  uint16_t port;          /* 0 = ephemeral (see cairn_net_server_port()) */
  size_t max_body;        /* request body cap, default
                             CAIRN_NET_BODY_MAX_DEFAULT; larger bodies get
                             4.13 with Size1 = max_body */
  unsigned max_sessions;  /* idle sessions kept before the oldest is
                             dropped; default CAIRN_NET_SESSIONS_DEFAULT */
  int allow_bootstrap;    /* admit self-signed bootstrap peers */
};

void cairn_net_server_opts_init(struct cairn_net_server_opts *o);

/* Creates a server on loop (not owned; it must outlive the server). opts
 * may be NULL for the defaults (its strings are copied). Nothing is bound
 * until cairn_net_server_listen(). *out: cairn_net_server_free(). */
int cairn_net_server_new(uv_loop_t *loop,
                         const struct cairn_net_server_opts *opts,
                         struct cairn_net_server **out);

int cairn_net_server_set_credentials(struct cairn_net_server *s,
                                     const char *chain_pem, size_t chain_len,
                                     const char *key_pem, size_t key_len);

/* The bundle peers are verified against (copied; its trust domain is the
 * one peers must belong to). CAIRN_ERR_INVAL for NULL. */
int cairn_net_server_set_bundle(struct cairn_net_server *s,
                                const struct cairn_bundle *b);

/* A request as a handler sees it. Pointers are valid during the handler. */
struct cairn_net_request {
  enum cairn_net_method method;
  const char *path;                   /* as registered, "/v1/attest" */
  const char *query;                  /* Uri-Query options joined with '&'
                                         ("since=12"), "" when none; for
                                         notifications, the observer's */
  const struct cairn_net_peer *peer;  /* never NULL */
  const uint8_t *body;                /* whole body (block-wise reassembled;
                                         content-format 60); NULL if none */
  size_t body_len;
};

/* Handles one request. It must answer with cairn_net_reply() or
 * cairn_net_reply_error() before returning (otherwise the client gets
 * 5.00). x is valid only during the call. For an observable route the
 * handler also runs for every notification, with the observer's request
 * and peer; answering a notification with an error sends that error and
 * ends the observation. */
typedef void (*cairn_net_handler_fn)(struct cairn_net_exchange *x,
                                     const struct cairn_net_request *req,
                                     void *arg);

enum {
  /* Bootstrap peers may call the route (without it they get 4.01). */
  CAIRN_NET_ROUTE_BOOTSTRAP = 1 << 0,
  /* GET only: clients may observe it; see cairn_net_server_notify(). A
   * GET with Observe 0 and no body registers when the handler answers
   * 2.xx (the answer then carries Observe), up to CAIRN_NET_OBSERVE_MAX
   * observations per session (beyond, answers carry no Observe). An
   * observation ends on deregistration (Observe 1), an error answer, a
   * notification the client rejects or never acknowledges, or the end of
   * the session; freeing the server sends observers a 4.04. */
  CAIRN_NET_ROUTE_OBSERVABLE = 1 << 1
};

/* Registers fn for (method, path); the path is copied. Before any handler
 * runs the layer answers by itself: 4.04 for an unknown path, 4.05 for a
 * method without a handler, 4.01 for a bootstrap peer on a route without
 * CAIRN_NET_ROUTE_BOOTSTRAP, 4.15 for a body whose content-format is not
 * 60, 4.13 for a body over max_body. CAIRN_ERR_INVAL for a bad path,
 * method or flags, CAIRN_ERR_EXISTS for a duplicate. Routes may be added
 * before or after listen. */
int cairn_net_server_route(struct cairn_net_server *s,
                           enum cairn_net_method method, const char *path,
                           unsigned flags, cairn_net_handler_fn fn,
                           void *arg);

/* Binds the DTLS endpoint (credentials and bundle must be set first:
 * CAIRN_ERR_INVAL otherwise) and starts serving. CAIRN_ERR_IO when the
 * address cannot be bound, CAIRN_ERR_INVAL when already listening. */
int cairn_net_server_listen(struct cairn_net_server *s);

/* The bound UDP port (the real one when opts.port was 0); 0 before
 * listen. */
uint16_t cairn_net_server_port(const struct cairn_net_server *s);

/* Tells the observers of an observable route that it changed: its handler
 * runs again for each of them (soon, on the loop) and the results are
 * pushed. CAIRN_ERR_NOT_FOUND when no observable GET route has that
 * path. */
int cairn_net_server_notify(struct cairn_net_server *s, const char *path);

/* Answers with code (2.xx) and an optional CBOR body (copied; sent
 * block-wise when large, with content-format 60). CAIRN_ERR_INVAL for a
 * code outside 2.00-2.31 or a second reply, CAIRN_ERR_NOMEM. */
int cairn_net_reply(struct cairn_net_exchange *x, int code,
                    const uint8_t *cbor, size_t len);

/* Answers with an error code (4.xx/5.xx) and a diagnostic payload (UTF-8
 * text, cut to CAIRN_NET_REASON_MAX bytes, no content-format) as RFC 7252
 * section 5.5.2 describes. fmt may be NULL. CAIRN_ERR_INVAL for a code
 * below 4.00 or a second reply. */
int cairn_net_reply_error(struct cairn_net_exchange *x, int code,
                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct cairn_net_server_stats {
  uint64_t sessions;         /* server sessions alive (incl. handshaking) */
  uint64_t handshakes_ok;    /* peers admitted with an SVID */
  uint64_t bootstrap_ok;     /* peers admitted as bootstrap */
  uint64_t rejected;         /* peers refused during the handshake */
  uint64_t requests;         /* handler calls */
  uint64_t refused;          /* requests answered 4.xx by the layer */
  uint64_t observations;     /* observations alive */
};
void cairn_net_server_get_stats(const struct cairn_net_server *s,
                                struct cairn_net_server_stats *st);

/* Stops serving and frees everything (see "Freeing" above). NULL-safe. */
void cairn_net_server_free(struct cairn_net_server *s);

/* ======================================================================
 * Client
 * ====================================================================== */

struct cairn_net_client;
struct cairn_net_observation;

/* Session state changes: up = 1 once the DTLS session is established and
 * the server verified; up = 0 when a session ends or fails to come up,
 * with err (CAIRN_ERR_DENIED: the server's ID is not server_id;
 * CAIRN_ERR_UNTRUSTED, CAIRN_ERR_EXPIRED, CAIRN_ERR_POLICY...: its chain
 * was refused; CAIRN_ERR_NET: handshake failed or session closed) and a
 * reason text valid during the call. */
typedef void (*cairn_net_state_fn)(struct cairn_net_client *c, int up,
                                   int err, const char *reason, void *arg);

struct cairn_net_client_opts {
  const char *host;       /* server IPv4 or IPv6 literal (required) */
  uint16_t port;          /* required */
  const char *server_id;  /* required: the server's exact SPIFFE ID */
  /* Accept the server without verifying its chain (first contact without
   * a bundle, as SPIRE's insecure_bootstrap); its leaf must still carry
   * server_id. Not a security property: use only to fetch a bundle. */
  int insecure_bootstrap;
  size_t max_response;    /* response body cap, default 4 MiB */
  unsigned timeout_ms;    /* per request (until the first response of an
                             observation), default 10 s */
  unsigned keepalive_s;   /* CoAP ping after this many idle seconds, so a
                             dead server ends the session (and its
                             observations); 0 = off (default) */
  cairn_net_state_fn on_state;  /* optional */
  void *state_arg;
};

void cairn_net_client_opts_init(struct cairn_net_client_opts *o);

/* Creates a client on loop (not owned). Strings in opts are copied. No
 * session is opened until a request, an observation or
 * cairn_net_client_connect(). *out: cairn_net_client_free(). */
int cairn_net_client_new(uv_loop_t *loop,
                         const struct cairn_net_client_opts *opts,
                         struct cairn_net_client **out);

int cairn_net_client_set_credentials(struct cairn_net_client *c,
                                     const char *chain_pem, size_t chain_len,
                                     const char *key_pem, size_t key_len);

/* The bundle the server is verified against (copied). Required unless
 * insecure_bootstrap; NULL clears it. */
int cairn_net_client_set_bundle(struct cairn_net_client *c,
                                const struct cairn_bundle *b);

/* Opens the DTLS session now (it is otherwise opened on demand; after it
 * goes down the next request opens a new one with the current credentials
 * and bundle). CAIRN_ERR_INVAL without credentials or bundle. */
int cairn_net_client_connect(struct cairn_net_client *c);

/* 1 while a verified session is up. */
int cairn_net_client_is_up(const struct cairn_net_client *c);

/* The verified server while up, else NULL. Valid until the session ends. */
const struct cairn_net_peer *cairn_net_client_peer(
    const struct cairn_net_client *c);

/* Ends the current session (pending requests and observations fail with
 * CAIRN_ERR_NET). The next request opens a new one. */
void cairn_net_client_disconnect(struct cairn_net_client *c);

/* A response. Pointers are valid during the callback. */
struct cairn_net_response {
  int code;                 /* 205, 404... */
  const uint8_t *body;      /* whole body (reassembled); NULL if none */
  size_t body_len;
  int content_format;       /* -1 when absent; error replies carry a
                               diagnostic text without one */
  int observing;            /* observations: 1 while notifications will
                               follow, 0 in the last callback */
};

/* err is CAIRN_OK when a response arrived (any code; r != NULL), else
 * r == NULL and err is CAIRN_ERR_TIMEOUT, CAIRN_ERR_TOO_BIG (response past
 * max_response), CAIRN_ERR_NET (session failed or closed, message
 * rejected) or one of the state callback's verification errors. */
typedef void (*cairn_net_response_fn)(int err,
                                      const struct cairn_net_response *r,
                                      void *arg);

/* Sends a confirmable request with an optional CBOR body (copied; sent
 * block-wise when large). path may end in a query, "/v1/entries?since=4"
 * (sent as Uri-Query options; query bytes [A-Za-z0-9._-=&]). fn is called exactly once, later on the loop,
 * unless the client is freed first (then never). CAIRN_ERR_INVAL for a
 * bad path or method, missing credentials or bundle; fn is not called on
 * an error return. */
int cairn_net_client_request(struct cairn_net_client *c,
                             enum cairn_net_method method, const char *path,
                             const uint8_t *cbor, size_t len,
                             cairn_net_response_fn fn, void *arg);

/* Observes a GET resource: fn gets the first response and every
 * notification. The observation ends, after one last callback, when
 * that callback has err != CAIRN_OK or r->observing == 0 (the server sent
 * a response without Observe, e.g. an error, or the session ended); the
 * handle is then invalid. *out (may be NULL) receives a handle for
 * cairn_net_observation_cancel(). */
int cairn_net_client_observe(struct cairn_net_client *c, const char *path,
                             cairn_net_response_fn fn, void *arg,
                             struct cairn_net_observation **out);

/* Deregisters (best effort) and frees the observation; fn is not called
 * again. Must not be used after the observation ended. NULL-safe. */
void cairn_net_observation_cancel(struct cairn_net_observation *o);

/* Closes the session and frees everything; pending callbacks are not
 * called (see "Freeing" above). NULL-safe. */
void cairn_net_client_free(struct cairn_net_client *c);

#endif
