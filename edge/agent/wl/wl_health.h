/* edge/agent/wl/wl_health.h - the gRPC health service (grpc.health.v1,
 * shared/proto/health.proto) on the agent's Workload API socket, asked by
 * `cairn-agent healthcheck` (and by spire-agent's or any standard gRPC
 * health client).
 *
 * Only Check is served ("/grpc.health.v1.Health/Check"); Watch is left
 * unregistered and so answered UNIMPLEMENTED, as the health protocol
 * allows. Like spire-agent:
 *   - no "workload.spiffe.io" header is needed (health probes do not send
 *     one) and no workload attestation is done;
 *   - the request's service must be "" (the server as a whole); any other
 *     name is INVALID_ARGUMENT "per-service health is not supported";
 *   - a malformed request is INVALID_ARGUMENT.
 * Otherwise the answer is SERVING when the application's callback returns
 * 1 and NOT_SERVING when it returns 0. The callback's detail text is not
 * sent (the message has no field for it): it is logged when the status
 * changes (WARN on the way to NOT_SERVING, INFO on the way back).
 *
 * Threads: everything runs on the thread of the server's loop.
 */
#ifndef CAIRN_EDGE_WL_HEALTH_H
#define CAIRN_EDGE_WL_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/grpc.h"

#define WL_HEALTH_PATH "/grpc.health.v1.Health/Check"
#define WL_HEALTH_DETAIL_MAX 256

/* Decides the answer: returns 1 for SERVING, 0 for NOT_SERVING, and may
 * write a NUL-terminated one-line reason into detail (detail_len bytes,
 * already holding ""). Called on the loop's thread for every Check; must
 * not block. */
typedef int (*wl_health_fn)(void *arg, char *detail, size_t detail_len);

struct wl_health;

/* Registers Check on srv (for the agent: wl_api_server()); fn is required,
 * arg is passed to it (not owned). *out: wl_health_free(). CAIRN_ERR_EXISTS
 * when srv already has a Check method, CAIRN_ERR_INVAL for NULL
 * arguments. */
int wl_health_new(struct cairn_grpc_server *srv, wl_health_fn fn, void *arg,
                  struct wl_health **out);

/* Releases h. The server it was registered on keeps calling it until that
 * server is freed, so free h only after cairn_grpc_server_free() (for the
 * agent: after wl_api_free()). Check never holds a call past its handler,
 * so nothing else is pending. NULL-safe. */
void wl_health_free(struct wl_health *h);

struct wl_health_stats {
  uint64_t checks;       /* Check calls received */
  uint64_t serving;      /* answered SERVING */
  uint64_t not_serving;  /* answered NOT_SERVING */
  uint64_t invalid;      /* INVALID_ARGUMENT answers */
};
void wl_health_get_stats(const struct wl_health *h,
                         struct wl_health_stats *st);

#endif
