/* edge/agent/agent_wl.h - cairn-agent's workload side: keeps the workload
 * cache (wl/wl_cache.h) in step with the server over the node session.
 *
 *   - Entries: GET /v1/revision is observed; when its entries number moves,
 *     GET /v1/entries?since=<applied revision> fetches the delta (or the
 *     full set) and applies it to the cache. An idle node costs one
 *     notification per change, never a periodic full list.
 *   - X509-SVIDs: every entry without an SVID, and every SVID past its
 *     renewal point (45..55 % of its lifetime, spread per SVID), gets a
 *     fresh key (workload_x509_svid_key_type) and a CSR; CSRs go in
 *     batches (POST /v1/svids, at most batch_max per request) and the
 *     answers go into the cache, which pushes them to open streams. An
 *     item the server refuses is retried with its own backoff.
 *   - JWT-SVIDs: the mint provider of the Workload API (wl_api.h), one
 *     POST /v1/jwt per request.
 *   - Bundle: the agent's trust bundle is given to the cache.
 *
 * The session comes from the agent (agent.h hooks): ea_wl_on_session(c, w)
 * when one is up, ea_wl_on_session(NULL, w) when it goes; requests that were
 * in flight are forgotten (JWT requests fail with a reason) and everything
 * resumes on the next session. While the server is unreachable the cache
 * keeps serving what it holds until each SVID expires.
 *
 * Threads: everything runs on the loop's thread.
 */
#ifndef CAIRN_EDGE_AGENT_WL_H
#define CAIRN_EDGE_AGENT_WL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "cairn/key.h"
#include "wl_api.h"
#include "wl_cache.h"

struct cairn_net_client;
struct cairn_bundle;
struct ea_wl;

#define EA_WL_BATCH_DEFAULT 100   /* CSRs per POST /v1/svids (max 500) */

struct ea_wl_opts {
  struct wl_cache *cache;       /* required; not owned, must outlive it */
  enum cairn_key_type key_type; /* workload keys; 0 = EC P-256 */
  size_t batch_max;             /* 0 = EA_WL_BATCH_DEFAULT; <= 500 */
  unsigned backoff_min_ms;      /* retry of a failed fetch/mint, 1000 */
  unsigned backoff_max_ms;      /* 30000 */
};

void ea_wl_opts_init(struct ea_wl_opts *o);

/* Creates the workload side on loop. *out: ea_wl_free(). */
int ea_wl_new(uv_loop_t *loop, const struct ea_wl_opts *opts,
              struct ea_wl **out);

/* Stops everything (pending JWT requests fail) and frees once the timers
 * are closed (let the loop run). Call it after the agent stopped (its
 * on_session(NULL) came), so no request is pending on its client.
 * NULL-safe. */
void ea_wl_free(struct ea_wl *w);

/* Hooks for struct ea_agent_opts (arg is the struct ea_wl). */
void ea_wl_on_session(struct cairn_net_client *c, void *arg);
void ea_wl_on_bundle(const struct cairn_bundle *b, void *arg);

/* The mint provider for struct wl_api_opts (mint_arg is the struct ea_wl). */
void ea_wl_mint_jwt(struct wl_jwt_req *req, const char *entry_id,
                    const char *spiffe_id, const char *const *aud,
                    size_t naud, void *arg);

struct ea_wl_stats {
  int session;                  /* 1 while a session is up */
  uint64_t entries_revision;    /* applied; 0 before the first fetch */
  uint64_t entry_fetches;       /* GET /v1/entries answered */
  uint64_t full_syncs;          /* of which full sets */
  uint64_t svid_batches;        /* POST /v1/svids answered */
  uint64_t svids_issued;        /* SVIDs received and cached */
  uint64_t svids_refused;       /* items the server or the cache refused */
  uint64_t jwt_minted;
  uint64_t jwt_failed;
  time_t next_renewal;          /* earliest planned SVID renewal, 0 none */
};

void ea_wl_get_stats(const struct ea_wl *w, struct ea_wl_stats *st);

#endif
