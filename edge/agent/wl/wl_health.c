/* edge/agent/wl/wl_health.c - the gRPC health service (wl_health.h). */
#include "wl_health.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/err.h"
#include "cairn/log.h"
#include "health.pb-c.h"

#define MOD "wl.health"

struct wl_health {
  wl_health_fn fn;
  void *arg;
  int last;                 /* -1 before the first Check, else 0 / 1 */
  struct wl_health_stats st;
};

/* Control characters in the application's detail become '?', so one log
 * line stays one line. */
static void one_line(char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

static void on_check(struct cairn_grpc_call *call, const uint8_t *req,
                     size_t len, void *arg)
{
  struct wl_health *h = arg;
  Grpc__Health__V1__HealthCheckRequest *q;
  Grpc__Health__V1__HealthCheckResponse resp =
      GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  char detail[WL_HEALTH_DETAIL_MAX];
  int serving, per_service;

  h->st.checks++;
  q = grpc__health__v1__health_check_request__unpack(NULL, len, req);
  if (!q) {
    h->st.invalid++;
    cairn_grpc_call_finish(call, CAIRN_GRPC_INVALID_ARGUMENT,
                           "malformed request");
    return;
  }
  per_service = q->service && *q->service;
  grpc__health__v1__health_check_request__free_unpacked(q, NULL);
  if (per_service) {
    h->st.invalid++;
    cairn_grpc_call_finish(call, CAIRN_GRPC_INVALID_ARGUMENT,
                           "per-service health is not supported");
    return;
  }

  detail[0] = '\0';
  serving = h->fn(h->arg, detail, sizeof detail) == 1;
  detail[sizeof detail - 1] = '\0';
  one_line(detail);
  if (serving != h->last) {
    if (serving)
      CAIRN_LOGI(MOD, "health: SERVING%s%s", *detail ? ": " : "", detail);
    else
      CAIRN_LOGW(MOD, "health: NOT_SERVING%s%s", *detail ? ": " : "",
                 detail);
    h->last = serving;
  } else {
    CAIRN_LOGD(MOD, "health check: %s", serving ? "SERVING" : "NOT_SERVING");
  }
  if (serving) h->st.serving++;
  else h->st.not_serving++;
  resp.status = serving
      ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  /* The call belongs to the library afterwards, whatever the result. */
  (void)cairn_grpc_call_reply_pb(call, &resp.base);
}

int wl_health_new(struct cairn_grpc_server *srv, wl_health_fn fn, void *arg,
                  struct wl_health **out)
{
  struct wl_health *h;
  int r;

  if (out) *out = NULL;
  if (!srv || !fn || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "wl_health_new: server, callback "
                        "and out are required");
  h = calloc(1, sizeof *h);
  if (!h) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  h->fn = fn;
  h->arg = arg;
  h->last = -1;
  r = cairn_grpc_server_add_method(srv, WL_HEALTH_PATH, CAIRN_GRPC_UNARY,
                                   on_check, h);
  if (r != CAIRN_OK) {
    free(h);
    return r;
  }
  *out = h;
  return CAIRN_OK;
}

void wl_health_free(struct wl_health *h)
{
  free(h);
}

void wl_health_get_stats(const struct wl_health *h,
                         struct wl_health_stats *st)
{
  *st = h->st;
}
