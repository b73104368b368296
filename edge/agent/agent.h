/* edge/agent/agent.h - cairn-agent's node identity: attestation, the
 * persisted node SVID, renewal and the trust bundle, on a libuv loop.
 *
 * Start-up (ea_agent_start):
 *   - data_dir (and the KeyManager directory) are created 0700 and locked
 *     (data_dir/cairn-agent.lock) so two agents never share them;
 *   - a persisted, unexpired node SVID whose chain verifies against the
 *     persisted bundle is resumed without contacting the server;
 *   - otherwise the agent attests: a fresh key, a throwaway bootstrap
 *     certificate (cairn_net_bootstrap_cert), POST /v1/attest with the join
 *     token and a CSR. The server is trusted through the persisted bundle,
 *     else trust_bundle_path, else (insecure_bootstrap) not at all; its ID
 *     must be spiffe://<td>/spire/server. The returned SVID must verify
 *     against the returned bundle and carry
 *     spiffe://<td>/spire/agent/join_token/<token>. Both are persisted and
 *     the agent reconnects with the SVID.
 *
 * Running: GET /v1/bundle is observed (changes are persisted and given to
 * the client); the node SVID is renewed with a new key (POST
 * /v1/node/renew) at 45..55 % of its lifetime, persisted, and the session
 * is rebuilt with it. While the server is unreachable the agent keeps its
 * SVID and retries with exponential backoff (backoff_min_ms ..
 * backoff_max_ms), logging each change of reachability once.
 *
 * Fatal conditions stop the agent by itself (exit code 1, on_exit called,
 * nothing deleted): a refused join token (4.03), a server that refuses the
 * node (4.03 on renewal or on the bundle: evicted or banned), a server
 * that fails verification during attestation, and a node SVID that
 * expires before it could be renewed (join_token nodes cannot re-attest,
 * as in SPIRE).
 *
 * Threads: everything runs on the loop's thread.
 */
#ifndef CAIRN_EDGE_AGENT_H
#define CAIRN_EDGE_AGENT_H

#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "cairn/id.h"
#include "agent_conf.h"

struct ea_agent;
struct cairn_net_client;
struct cairn_bundle;

/* Called once when the agent stopped by itself (code 1 after a fatal
 * error; the message is ea_agent_error()). The agent may be freed from
 * the callback. */
typedef void (*ea_agent_exit_fn)(struct ea_agent *a, int code, void *arg);

struct ea_agent_opts {
  const struct ea_conf *conf;  /* not copied; must outlive the agent */
  unsigned backoff_min_ms;     /* first retry delay, default 1000 */
  unsigned backoff_max_ms;     /* longest retry delay, default 30000 */
  unsigned timeout_ms;         /* per request, default 10000 */
  unsigned keepalive_s;        /* CoAP ping when idle, default 15 */
  ea_agent_exit_fn on_exit;    /* optional */
  void *arg;

  /* The workload side (agent_wl.h), optional. on_session(c) when a
   * session presenting the node SVID is up and the server answered on it
   * (c belongs to the agent), on_session(NULL) before that client goes
   * (requests still pending on it are then dropped without callbacks).
   * on_bundle(b) with the current trust bundle when running starts and
   * after every bundle answer (b belongs to the agent; copy it). Both run
   * on the loop's thread and must not stop or free the agent. */
  void (*on_session)(struct cairn_net_client *c, void *arg);
  void (*on_bundle)(const struct cairn_bundle *b, void *arg);
  void *hook_arg;
};

void ea_agent_opts_init(struct ea_agent_opts *o);

/* Creates an agent on loop (not owned). Nothing happens before
 * ea_agent_start(). *out: ea_agent_free(). */
int ea_agent_new(uv_loop_t *loop, const struct ea_agent_opts *opts,
                 struct ea_agent **out);

/* Prepares data_dir, loads the persisted state and starts resuming or
 * attesting (the network part runs on the loop). Errors found here are
 * returned with a detail (e.g. CAIRN_ERR_PERM for a key file readable by
 * others, CAIRN_ERR_EXISTS when another agent holds data_dir,
 * CAIRN_ERR_CONFIG when there is neither a persisted SVID nor a join
 * token); the agent is then stopped. */
int ea_agent_start(struct ea_agent *a);

/* Stops everything (timers, session); on_exit is not called. Idempotent.
 * Let the loop run afterwards so the handles close. */
void ea_agent_stop(struct ea_agent *a);

/* Stops the agent and frees it once its handles are closed (let the loop
 * run). NULL-safe; allowed from on_exit. */
void ea_agent_free(struct ea_agent *a);

/* 0 while running or after ea_agent_stop(), 1 after a fatal error. */
int ea_agent_exit_code(const struct ea_agent *a);
/* The fatal error's message, "" when none. */
const char *ea_agent_error(const struct ea_agent *a);

enum ea_phase {
  EA_PHASE_NEW = 0,
  EA_PHASE_ATTESTING,   /* waiting for /v1/attest */
  EA_PHASE_RUNNING,     /* holds a node SVID */
  EA_PHASE_STOPPED
};

struct ea_agent_status {
  enum ea_phase phase;
  int server_up;              /* 1 while a verified session is up */
  struct cairn_id id;         /* node SVID ID ("" before attestation) */
  char serial[41];
  time_t not_after;           /* of the node SVID, 0 when none */
  time_t renew_at;            /* planned renewal, 0 when none */
  uint64_t bundle_sequence;
  unsigned attested;          /* successful attestations (0 or 1) */
  unsigned resumed;           /* 1 when started from persisted state */
  unsigned renewals;          /* successful renewals */
  unsigned bundle_updates;    /* bundle changes received and persisted */
};

void ea_agent_get_status(const struct ea_agent *a, struct ea_agent_status *st);

#endif
