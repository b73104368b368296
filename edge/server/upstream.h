/* edge/server/upstream.h - cairn-edge's client of its upstream Cairn server
 * (prefix eu_).
 *
 * Node identity. The edge is a node of its upstream, exactly like an
 * agent: it reuses cairn-agent's node identity (edge/agent/agent.h) with
 * a configuration built from UpstreamAuthority "cairn" { plugin_data }.
 * It attests once with the join token (POST /v1/attest, a throwaway
 * bootstrap certificate, the upstream trusted through trust_bundle_path),
 * keeps its node SVID, its key (0600) and the upstream's bundle in
 * <data_dir>/upstream/ (agent_svid.pem, agent_svid.key, bundle.json), so
 * a restart resumes without attesting again, renews the node SVID at half
 * life and observes the upstream's GET /v1/bundle.
 *
 * On top of the node session (its DTLS client, handed over by the agent
 * module once the upstream answered on it):
 *   - eu_ca_sign() is the CA manager's upstream callback
 *     (cairn_ca_upstream_fn): POST /v1/downstream/ca with a CSR signed by
 *     the new CA key. It never blocks: the first call for a key queues the
 *     request and returns CAIRN_ERR_AGAIN; once the answer arrived,
 *     on_result() is called (the program then ticks the CA) and the next
 *     call for the same key returns the chain and roots, or the refusal.
 *   - eu_ca_publish_jwt() is the CA's JWT callback: POST
 *     /v1/downstream/jwt-key the same way.
 *   - eu_forward_jwt_keys() sends the JWT keys the edge's own downstream
 *     servers published to it on to the upstream, so every key of the
 *     trust domain reaches the root's bundle.
 *   - on_bundle() gets every bundle the upstream sends (observation,
 *     downstream answers); the program adopts it as its trust bundle.
 * Refusals (4.xx) are answered to the CA as errors (CAIRN_ERR_DENIED with
 * the upstream's reason) and the next request waits backoff_min_ms,
 * doubling up to backoff_max_ms. Transport failures and 5.xx answers keep
 * the request queued and retry it with the same backoff. A session that
 * ends while a request is on the wire queues it again.
 *
 * When the agent module stops for good (join token refused, node evicted
 * or banned, node SVID expired while offline) on_lost() is called; the
 * edge keeps issuing from its current CA until it expires.
 *
 * Threads: the loop's thread only.
 */
#ifndef CAIRN_EDGE_UPSTREAM_H
#define CAIRN_EDGE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "cairn/id.h"

struct cairn_srvconf;
struct cairn_bundle;
struct cairn_cert_list;
struct cairn_key;
struct cairn_ca;
struct eu;

#define EU_DIR "upstream"            /* under data_dir */

struct eu_opts {
  const struct cairn_srvconf *cfg;   /* not copied; must outlive the client */
  unsigned backoff_min_ms;           /* default 1000 */
  unsigned backoff_max_ms;           /* default 30000 */
  unsigned timeout_ms;               /* per request, default 10000 */
  /* An answer for the CA manager arrived: tick it now. */
  void (*on_result)(void *arg);
  /* The upstream's current trust bundle (b belongs to the client). */
  void (*on_bundle)(const struct cairn_bundle *b, void *arg);
  /* The node identity stopped for good; why is one line. */
  void (*on_lost)(const char *why, void *arg);
  void *arg;
};

void eu_opts_init(struct eu_opts *o);

/* Creates the client on loop (not owned); nothing happens before
 * eu_start(). CAIRN_ERR_INVAL when cfg has no UpstreamAuthority "cairn".
 * *out: eu_free(). */
int eu_new(uv_loop_t *loop, const struct eu_opts *opts, struct eu **out);

/* Creates <data_dir>/upstream (0700), resumes the persisted node SVID or
 * starts attesting. CAIRN_ERR_CONFIG when there is neither a persisted
 * node SVID nor a join token; the agent module's errors otherwise (with
 * a detail). */
int eu_start(struct eu *u);

/* Stops everything; the memory is released once the loop has closed the
 * handles. NULL-safe. */
void eu_free(struct eu *u);

/* cairn_ca_upstream_fn and cairn_ca_publish_jwt_fn; arg is the client. */
int eu_ca_sign(void *arg, const struct cairn_key *key, int64_t ttl,
               struct cairn_cert_list **chain, struct cairn_cert_list **roots);
int eu_ca_publish_jwt(void *arg, const char *kid, const struct cairn_key *pub,
                      int64_t not_after);

/* Forwards, one request at a time, the JWT keys downstream servers
 * published to ca that the upstream's bundle does not hold yet. Call it
 * after the bundle may have changed and now and then (it does nothing
 * while a forward is on the wire; a refused key is tried again after a
 * minute). */
void eu_forward_jwt_keys(struct eu *u, struct cairn_ca *ca);

enum eu_phase {
  EU_PHASE_NEW = 0,
  EU_PHASE_ATTESTING,   /* waiting for POST /v1/attest */
  EU_PHASE_RUNNING,     /* holds a node SVID */
  EU_PHASE_LOST         /* the node identity stopped for good */
};

struct eu_status {
  enum eu_phase phase;
  int connected;            /* a session with the node SVID is up */
  time_t since;             /* of the current connected/disconnected state */
  time_t last_contact;      /* last answer from the upstream, 0 = never */
  char node_id[CAIRN_ID_MAX + 1];  /* its node SVID's ID ("" before) */
  time_t node_not_after;
  int ca_waiting;           /* a CA request is queued or on the wire */
  char last_error[512];     /* last refusal or failure, "" when none */
};

void eu_get_status(const struct eu *u, struct eu_status *st);

/* The status as one line for health output and logs into out. */
const char *eu_status_text(const struct eu *u, char *out, size_t len);

#endif
