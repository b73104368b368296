/* edge/agent/wl/wl_api.h - the SPIFFE Workload API (service
 * "SpiffeWorkloadAPI", shared/proto/workload.proto) over a wl_cache, on a
 * gRPC server listening on a Unix socket (cairn/grpc.h).
 *
 * Every call goes through the same steps:
 *   1. the security header: exactly one "workload.spiffe.io: true", else
 *      INVALID_ARGUMENT "security header missing from request";
 *   2. the request's mandatory fields (INVALID_ARGUMENT);
 *   3. workload attestation of the connection's peer (SO_PEERCRED) on the
 *      libuv thread pool: the built-in "unix" attestor (wl_unix.h) or the
 *      opts' attest function; a failure is UNAVAILABLE "workload
 *      attestation failed";
 *   4. matching: the caller's identities are the cache entries whose
 *      selectors are all among the caller's. None: PERMISSION_DENIED
 *      "no identity issued".
 *
 * RPCs:
 *   FetchX509SVID     stream; a full snapshot at once and after every
 *                     change the caller can see: one X509SVID per matched
 *                     entry holding an SVID (entry ID order; the first is
 *                     the default identity; a later SVID whose non-empty
 *                     hint repeats an earlier one is left out), chain
 *                     leaf first, PKCS#8 key, the own bundle's
 *                     authorities; federated_bundles for the trust domains
 *                     the matched entries federate with.
 *   FetchX509Bundles  stream; own + those federated bundles (DER).
 *   FetchJWTBundles   stream; the same as standard JWKS (jwt keys only).
 *   FetchJWTSVID      unary; audience required, spiffe_id optional (must be
 *                     one of the caller's identities). One JWT-SVID per
 *                     matched SPIFFE ID, from the cache or minted through
 *                     the mint_jwt provider (concurrent requests for the
 *                     same ID and audience set share one mint). Any mint
 *                     failure: UNAVAILABLE.
 *   ValidateJWTSVID   unary; audience and svid required; validated with
 *                     cairn_jwt_validate() against the own bundle and the
 *                     caller's federated bundles; failure: INVALID_ARGUMENT
 *                     with the reason. Returns sub and the claims as a
 *                     google.protobuf.Struct (only registered claims for
 *                     tokens of a foreign trust domain).
 *   FetchWITSVID, FetchWITBundles: UNIMPLEMENTED (after the header check).
 * Map keys are "spiffe://<td>". Streams never send a message equal to the
 * previous one, and use cairn_grpc_call_send_latest(): a slow reader gets
 * the newest snapshot, never a growing queue. A stream whose caller is
 * entitled but has nothing to receive yet (no SVID or no bundle) waits up
 * to pending_ms for it, then ends with UNAVAILABLE; a stream whose caller
 * loses every matching entry ends with PERMISSION_DENIED.
 *
 * Threads: everything runs on the loop's thread, except the attest
 * function, which runs on the libuv thread pool.
 */
#ifndef CAIRN_EDGE_WL_API_H
#define CAIRN_EDGE_WL_API_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cairn/grpc.h"
#include "wl_cache.h"
#include "wl_unix.h"

struct wl_api;

#define WL_API_HEADER "workload.spiffe.io"
#define WL_API_SOCKET_MODE 0777       /* any local process may ask */
#define WL_API_PENDING_DEFAULT_MS 10000
#define WL_API_MINTS_DEFAULT 256

/* Workload attestation: appends the peer's selectors to out (sorting is
 * done by the caller). Runs on a thread-pool thread, possibly several at
 * once; must not touch the loop or the cache. A non-zero return fails the
 * call with UNAVAILABLE. */
typedef int (*wl_attest_fn)(const struct cairn_grpc_peer *peer,
                            struct wl_selectors *out, void *arg);

/* A JWT-SVID mint in progress (owned by the API). */
struct wl_jwt_req;

/* Asks the provider for a JWT-SVID of entry entry_id (SPIFFE ID spiffe_id)
 * for aud[0..naud) (sorted, without duplicates). The strings stay valid
 * until the request is done. The provider must call wl_jwt_req_done()
 * exactly once, from the loop's thread, possibly before returning (for
 * example with an error when it is offline or shutting down). */
typedef void (*wl_mint_jwt_fn)(struct wl_jwt_req *req, const char *entry_id,
                               const char *spiffe_id, const char *const *aud,
                               size_t naud, void *arg);

/* Completes a mint: token on success (checked and cached), or error (a
 * one-line reason given to the workload) with token NULL. */
void wl_jwt_req_done(struct wl_jwt_req *req, const char *token,
                     const char *error);

struct wl_api_opts {
  struct wl_cache *cache;       /* required; must outlive the API */
  const char *socket_path;      /* required; its directory must exist */
  unsigned socket_mode;         /* 0 = WL_API_SOCKET_MODE */
  /* Attestor; NULL = the built-in unix attestor with unix_opts (NULL =
   * defaults). A custom attest_arg must stay valid until the loop has run
   * after wl_api_free(). */
  wl_attest_fn attest;
  void *attest_arg;
  const struct wl_unix_opts *unix_opts;
  /* JWT-SVID provider; NULL: FetchJWTSVID answers from the cache only,
   * UNAVAILABLE on a miss. */
  wl_mint_jwt_fn mint_jwt;
  void *mint_arg;
  unsigned pending_ms;          /* 0 = WL_API_PENDING_DEFAULT_MS */
  size_t max_mints;             /* mints in flight; 0 = WL_API_MINTS_DEFAULT */
  const struct cairn_grpc_server_opts *grpc;  /* NULL = defaults */
};

void wl_api_opts_init(struct wl_api_opts *o);

/* Creates the gRPC server on loop, registers the seven RPCs and listens on
 * socket_path with socket_mode. *out: wl_api_free(). */
int wl_api_new(uv_loop_t *loop, const struct wl_api_opts *opts,
               struct wl_api **out);

/* The gRPC server (to register further services on the same socket). */
struct cairn_grpc_server *wl_api_server(struct wl_api *a);

/* Stops serving: the socket is removed and every open call is cancelled
 * (their cache subscriptions end here, so the cache may be freed right
 * after). Memory is released once the loop has run the close callbacks,
 * the attestations in progress have finished and the provider has
 * completed every mint in flight. NULL-safe. */
void wl_api_free(struct wl_api *a);

struct wl_api_stats {
  uint64_t calls;               /* RPCs received (all methods) */
  uint64_t bad_header;          /* INVALID_ARGUMENT for the header */
  uint64_t invalid;             /* other INVALID_ARGUMENT answers */
  uint64_t attest_failed;
  uint64_t denied;              /* PERMISSION_DENIED */
  uint64_t unavailable;         /* UNAVAILABLE answers */
  uint64_t unimplemented;
  uint64_t stream_msgs;         /* stream messages sent */
  uint64_t stream_suppressed;   /* updates equal to the previous message */
  uint64_t jwt_cache_hits;
  uint64_t mints;               /* mints started */
  uint64_t mints_failed;
  uint64_t mints_shared;        /* requests that joined a mint in flight */
  size_t attesting;             /* calls waiting for their attestation */
  size_t streams;               /* open streams */
  size_t pending;               /* streams waiting for their first data */
  size_t mints_in_flight;
};
void wl_api_get_stats(const struct wl_api *a, struct wl_api_stats *st);

#endif
