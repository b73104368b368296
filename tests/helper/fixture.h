/* tests/helper/fixture.h - in-process fixtures for the unit tests of the
 * tier protocol (test_authority, test_downstream, test_net, test_agent,
 * test_agent_wl): running a libuv loop against a deadline, test
 * certificates and credentials, DTLS clients and servers on 127.0.0.1
 * with ephemeral ports, and an authority (store, CA manager, server) in
 * process.
 *
 *   static struct fx_authority A;
 *   if (fx_authority_start(&A, "t.db", "example.org", 100)) ...
 *   fx_authority_node(&A, "tok-1", &node);
 *   c = fx_authority_client(&A, &node);
 *   fx_call(&A.loop, c, CAIRN_NET_GET, "/v1/revision", NULL, 0, &r, 30000);
 *   ...
 *   fx_authority_stop(&A);
 *
 * A step that fails is a test failure (the CHECKs of test.h, reported at a
 * line of fixture.c); the fixtures carry on where they can and return NULL
 * where they cannot. What they return belongs to the caller unless said
 * otherwise.
 */
#ifndef CAIRN_TEST_FIXTURE_H
#define CAIRN_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <uv.h>

#include "cairn/authority.h"
#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/key.h"
#include "cairn/msg.h"
#include "cairn/net.h"
#include "cairn/store.h"

/* ---- the loop ------------------------------------------------------------ */

/* Runs loop until pred(arg) holds or ms elapse; returns pred(arg). */
int fx_loop_until(uv_loop_t *loop, int (*pred)(void *), void *arg, int ms);
/* Runs loop until *flag >= want or ms elapse; returns 1 when reached. A
 * NULL flag runs the loop for ms and returns 1. */
int fx_loop_until_count(uv_loop_t *loop, const int *flag, int want, int ms);
/* Runs loop for ms, whatever happens. */
void fx_loop_for(uv_loop_t *loop, int ms);

/* ---- certificates and credentials ---------------------------------------- */

/* A certificate of kind for id with the public key of pub, signed by ikey
 * (with icert; NULL for a self-signed root), valid from now (0: the
 * current time) for ttl seconds. NULL on failure. */
struct cairn_cert *fx_issue(enum cairn_cert_kind kind, const char *id,
                            time_t now, int64_t ttl,
                            const struct cairn_key *pub,
                            const struct cairn_key *ikey,
                            const struct cairn_cert *icert);

/* A fresh P-256 key (returned; NULL on failure) and its CSR (DER, in
 * *csr, free()). */
struct cairn_key *fx_csr_new(uint8_t **csr, size_t *len);

/* The certificates of a protocol chain (DER, in order) as a list (free
 * with cairn_cert_list_free()); NULL when the list cannot be made. */
struct cairn_cert_list *fx_chain_list(const struct cairn_msg_chain *ch);

/* Credentials for a client or a server, as the net.h setters take them.
 * Owned strings; fx_creds_free() releases them (zeroising the key). */
struct fx_creds {
  char id[256];      /* SPIFFE ID, when the fixture knows it */
  char *chain;       /* PEM, leaf first */
  size_t chain_len;
  char *key;         /* PKCS#8 PEM */
  size_t key_len;
  char serial[41];   /* the leaf's serial in hex, when known */
};

/* Frees c's strings and zeroes c. */
void fx_creds_free(struct fx_creds *c);
/* c (overwritten) gets a throwaway bootstrap identity: a fresh P-256 key
 * and its self-signed certificate (cairn_net_bootstrap_cert(), 600 s). */
void fx_creds_bootstrap(struct fx_creds *c);
/* c (overwritten, id left empty) gets leaf followed by extra (an issuer
 * to send along; NULL: none) as its chain, key as its key and the leaf's
 * serial. */
void fx_creds_make(struct fx_creds *c, const struct cairn_cert *leaf,
                   const struct cairn_cert *extra,
                   const struct cairn_key *key);
/* c (overwritten) gets a leaf for id with a fresh P-256 key, issued by
 * ikey/icert as by fx_issue(), and sent with extra as by fx_creds_make();
 * id is recorded. */
void fx_creds_leaf(struct fx_creds *c, const char *id, time_t now,
                   int64_t ttl, const struct cairn_key *ikey,
                   const struct cairn_cert *icert,
                   const struct cairn_cert *extra);

/* ---- clients and their responses ----------------------------------------- */

/* A client on loop with the options o (host, port, server_id, ... as the
 * test wants them), cr's credentials and the bundle b (NULL: none set).
 * NULL when it cannot be made. */
struct cairn_net_client *fx_client_new(uv_loop_t *loop,
                                       const struct cairn_net_client_opts *o,
                                       const struct fx_creds *cr,
                                       const struct cairn_bundle *b);
/* Frees c and runs loop for 5 ms, so that its session is closed. */
void fx_client_free(uv_loop_t *loop, struct cairn_net_client *c);

/* What a request (or each notification of an observation) answered. */
struct fx_resp {
  int done;          /* answers so far */
  int err, code, cf, observing;
  uint8_t *body;     /* a copy (malloc()ed), NULL when empty */
  size_t len;
};

/* Frees the body and zeroes r. */
void fx_resp_clear(struct fx_resp *r);
/* A cairn_net_response_fn for a struct fx_resp arg: records err and, with
 * a response, its code, content format, observing flag and body (code is
 * 0 without one); counts the answer in done. */
void fx_on_resp(int err, const struct cairn_net_response *resp, void *arg);
/* One request on c, waited for up to ms on loop (failing the test when it
 * does not end); *r is cleared first. */
void fx_call(uv_loop_t *loop, struct cairn_net_client *c,
             enum cairn_net_method m, const char *path, const uint8_t *body,
             size_t len, struct fx_resp *r, int ms);
/* r's body as text (at most 511 bytes; a static buffer). */
const char *fx_resp_text(const struct fx_resp *r);

/* ---- servers ------------------------------------------------------------- */

/* One route of a test server (see cairn_net_server_route(); arg NULL). */
struct fx_route {
  enum cairn_net_method method;
  const char *path;
  unsigned flags;
  cairn_net_handler_fn fn;
};

/* A server on loop listening on 127.0.0.1:port (0: an ephemeral port,
 * cairn_net_server_port()), with cr's credentials, the bundle b,
 * allow_bootstrap, max_body (0: net.h's default) and the routes of the
 * array ending with a NULL path. NULL when it cannot be made. */
struct cairn_net_server *fx_server_start(uv_loop_t *loop, uint16_t port,
                                         const struct fx_creds *cr,
                                         const struct cairn_bundle *b,
                                         int allow_bootstrap, size_t max_body,
                                         const struct fx_route *routes);

/* ---- an authority in process --------------------------------------------- */

/* A store (test_path(db)), a CA manager for td with memory keys and the
 * authority on 127.0.0.1 (ephemeral port) on its own loop. The library's
 * log goes to the file log (see fx_authority_log()) unless the
 * environment has CAIRN_TEST_LOG. The fields are for the test to use;
 * auth may be swapped for another authority on loop for a while. */
struct fx_authority {
  uv_loop_t loop;
  struct cairn_store *st;
  struct cairn_ca *ca;
  struct cairn_authority *auth;
  FILE *log;
  char server_id[300];   /* "spiffe://<td>/spire/server" */
};

/* Starts a (zeroed or stopped) a as described above; the authority polls
 * the store every poll_ms. Returns 0, or -1 when the authority could not
 * be started (the test has failed). */
int fx_authority_start(struct fx_authority *a, const char *db,
                       const char *td, int poll_ms);
/* Frees the authority, runs the loop for 20 ms, checks that every handle
 * of the loop was closed, then closes the loop, the CA manager, the store
 * and the log. */
void fx_authority_stop(struct fx_authority *a);
/* Everything logged so far (free()). */
char *fx_authority_log(struct fx_authority *a);
/* A client of the authority with cr's credentials and the CA manager's
 * bundle (timeout 8 s, responses up to 16 MiB). */
struct cairn_net_client *fx_authority_client(struct fx_authority *a,
                                             const struct fx_creds *cr);
/* Creates a registration entry in a's store: in (the fields the test
 * wants, e.g. (struct cairn_entry){.downstream = 1}) with spiffe_id,
 * parent_id, the one selector unix:sel_value and owner "cloud". Returns
 * its entry ID (free(); "?" when it could not be created). */
char *fx_authority_entry(struct fx_authority *a, struct cairn_entry in,
                         const char *spiffe_id, const char *parent,
                         const char *sel_value);
/* POST /v1/attest with the join token token, from a fresh bootstrap peer
 * and a fresh node key; *r gets the answer (30 s at most). node (may be
 * NULL) is zeroed and, on 2.01, gets the node's credentials: its SPIFFE
 * ID, its SVID chain, key and serial. */
void fx_authority_attest(struct fx_authority *a, const char *token,
                         struct fx_resp *r, struct fx_creds *node);
/* Creates the join token token (valid for 600 s) and attests with it,
 * which must give 2.01: a new node in *node. */
void fx_authority_node(struct fx_authority *a, const char *token,
                       struct fx_creds *node);

#endif
