/* echo_service.c - see echo_service.h. Calls that outlive their handler
 * (delayed Echo replies, timed or held Count streams) are kept in a
 * struct held with a timer, dropped on finish or on cancel. */
#include "echo_service.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/err.h"

/* Bounds on what a request may ask for, so fuzzed requests stay cheap. */
#define SIZE_CAP (8u << 20)
#define COUNT_CAP 10000

struct held {
  struct echo_svc *svc;
  struct cairn_grpc_call *call;
  uv_timer_t timer;
  /* Echo: the packed reply */
  uint8_t *reply;
  size_t reply_len;
  /* Count */
  uint32_t next, count, size;
  int hold, latest;
};

static void on_held_closed(uv_handle_t *h)
{
  struct held *hd = h->data;
  free(hd->reply);
  free(hd);
}

static void held_done(struct held *hd)
{
  hd->call = NULL;
  hd->svc->held--;
  uv_timer_stop(&hd->timer);
  uv_close((uv_handle_t *)&hd->timer, on_held_closed);
}

static void on_cancel(struct cairn_grpc_call *call, void *arg)
{
  struct held *hd = arg;
  (void)call;
  hd->svc->cancels++;
  held_done(hd);
}

static struct held *held_new(struct echo_svc *svc,
                             struct cairn_grpc_call *call)
{
  struct held *hd = calloc(1, sizeof *hd);
  if (!hd) return NULL;
  hd->svc = svc;
  hd->call = call;
  uv_timer_init(svc->loop, &hd->timer);
  hd->timer.data = hd;
  svc->held++;
  cairn_grpc_call_set_cancel(call, on_cancel, hd);
  return hd;
}

/* ---- Echo ---- */

static void on_echo_timer(uv_timer_t *t)
{
  struct held *hd = t->data;
  cairn_grpc_call_reply(hd->call, hd->reply, hd->reply_len);
  held_done(hd);
}

static void echo(struct cairn_grpc_call *call, const uint8_t *req, size_t len,
                 void *arg)
{
  struct echo_svc *svc = arg;
  Cairn__Test__EchoRequest *rq;
  Cairn__Test__EchoReply rep = CAIRN__TEST__ECHO_REPLY__INIT;
  const struct cairn_grpc_peer *peer = cairn_grpc_call_peer(call);
  uint8_t *pad = NULL;
  size_t count = 0;
  const char *mv;
  struct held *hd;

  rq = cairn__test__echo_request__unpack(NULL, len, req);
  if (!rq) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_INVALID_ARGUMENT,
                           "cannot parse EchoRequest");
    return;
  }
  if (rq->fail_code) {
    cairn_grpc_call_finish(call, rq->fail_code, rq->fail_message);
    goto out;
  }
  if (rq->reply_size > SIZE_CAP || rq->delay_ms > 60000) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_OUT_OF_RANGE, "too much");
    goto out;
  }
  rep.text = rq->text;
  rep.data = rq->data;
  if (rq->reply_size) {
    pad = malloc(rq->reply_size);
    if (!pad) {
      cairn_grpc_call_finish(call, CAIRN_GRPC_RESOURCE_EXHAUSTED, "no memory");
      goto out;
    }
    for (uint32_t i = 0; i < rq->reply_size; i++) pad[i] = (uint8_t)i;
    rep.data.data = pad;
    rep.data.len = rq->reply_size;
  }
  if (rq->metadata_key[0]) {
    mv = cairn_grpc_call_metadata(call, rq->metadata_key, &count);
    rep.metadata_value = (char *)(mv ? mv : "");
    rep.metadata_count = (uint32_t)count;
  }
  rep.peer_pid = peer->pid;
  rep.peer_uid = (int64_t)peer->uid;
  rep.peer_gid = (int64_t)peer->gid;
  rep.path = (char *)cairn_grpc_call_path(call);
  if (!rq->delay_ms) {
    cairn_grpc_call_reply_pb(call, &rep.base);
    goto out;
  }
  hd = held_new(svc, call);
  if (hd) {
    hd->reply_len = cairn__test__echo_reply__get_packed_size(&rep);
    hd->reply = malloc(hd->reply_len ? hd->reply_len : 1);
  }
  if (!hd || !hd->reply) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_RESOURCE_EXHAUSTED, "no memory");
    if (hd) held_done(hd);
    goto out;
  }
  cairn__test__echo_reply__pack(&rep, hd->reply);
  uv_timer_start(&hd->timer, on_echo_timer, rq->delay_ms, 0);
out:
  free(pad);
  cairn__test__echo_request__free_unpacked(rq, NULL);
}

/* ---- Count ---- */

/* Sends message number hd->next; 0 or a send error (then the call is
 * finished with RESOURCE_EXHAUSTED or INTERNAL). */
static int count_send(struct held *hd, struct cairn_grpc_call *call)
{
  Cairn__Test__CountReply rep = CAIRN__TEST__COUNT_REPLY__INIT;
  uint8_t *pad = NULL;
  int r;

  rep.n = hd->next;
  if (hd->size) {
    pad = calloc(1, hd->size);
    if (!pad) return CAIRN_ERR_NOMEM;
    memset(pad, 'x', hd->size);
    rep.pad.data = pad;
    rep.pad.len = hd->size;
  }
  r = hd->latest ? cairn_grpc_call_send_latest_pb(call, &rep.base)
                 : cairn_grpc_call_send_pb(call, &rep.base);
  free(pad);
  if (r != CAIRN_OK) {
    if (!hd->svc->send_error) hd->svc->send_error = r;
    cairn_grpc_call_finish(call,
                           r == CAIRN_ERR_TOO_BIG
                               ? CAIRN_GRPC_RESOURCE_EXHAUSTED
                               : CAIRN_GRPC_INTERNAL,
                           cairn_errdetail());
    return r;
  }
  hd->next++;
  return 0;
}

static void on_count_timer(uv_timer_t *t)
{
  struct held *hd = t->data;

  if (hd->next > hd->count) return;
  if (count_send(hd, hd->call) != 0) {
    held_done(hd);
    return;
  }
  if (hd->next > hd->count) {
    if (hd->hold) {
      uv_timer_stop(&hd->timer);
    } else {
      cairn_grpc_call_finish(hd->call, CAIRN_GRPC_OK, NULL);
      held_done(hd);
    }
  }
}

static void count(struct cairn_grpc_call *call, const uint8_t *req,
                  size_t len, void *arg)
{
  struct echo_svc *svc = arg;
  Cairn__Test__CountRequest *rq;
  struct held *hd;

  rq = cairn__test__count_request__unpack(NULL, len, req);
  if (!rq) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_INVALID_ARGUMENT,
                           "cannot parse CountRequest");
    return;
  }
  if (rq->count > COUNT_CAP || rq->size > SIZE_CAP) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_OUT_OF_RANGE, "too much");
    goto out;
  }
  hd = held_new(svc, call);
  if (!hd) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_RESOURCE_EXHAUSTED, "no memory");
    goto out;
  }
  hd->next = 1;
  hd->count = rq->count;
  hd->size = rq->size;
  hd->hold = rq->hold;
  hd->latest = rq->latest;
  if (rq->interval_ms) {
    /* The first message goes at once, the next ones on the timer. */
    if (hd->count && count_send(hd, call) != 0) {
      held_done(hd);
      goto out;
    }
    uv_timer_start(&hd->timer, on_count_timer, rq->interval_ms,
                   rq->interval_ms);
    goto out;
  }
  while (hd->next <= hd->count) {
    if (count_send(hd, call) != 0) {
      held_done(hd);
      goto out;
    }
  }
  if (!hd->hold) {
    cairn_grpc_call_finish(call, CAIRN_GRPC_OK, NULL);
    held_done(hd);
  }
out:
  cairn__test__count_request__free_unpacked(rq, NULL);
}

/* ---- Stats ---- */

static void stats(struct cairn_grpc_call *call, const uint8_t *req,
                  size_t len, void *arg)
{
  struct echo_svc *svc = arg;
  struct cairn_grpc_server_stats st;
  Cairn__Test__StatsReply rep = CAIRN__TEST__STATS_REPLY__INIT;

  (void)req;
  (void)len;
  cairn_grpc_server_get_stats(svc->srv, &st);
  rep.conns = st.conns;
  rep.calls = st.calls;
  rep.conns_total = st.conns_total;
  rep.conns_rejected = st.conns_rejected;
  rep.calls_total = st.calls_total;
  rep.calls_cancelled = st.calls_cancelled;
  rep.msgs_replaced = st.msgs_replaced;
  rep.svc_cancels = svc->cancels;
  rep.svc_held = svc->held;
  rep.svc_send_error = svc->send_error;
  cairn_grpc_call_reply_pb(call, &rep.base);
}

int echo_svc_register(struct echo_svc *svc, uv_loop_t *loop,
                      struct cairn_grpc_server *srv)
{
  int r;

  memset(svc, 0, sizeof *svc);
  svc->loop = loop;
  svc->srv = srv;
  if ((r = cairn_grpc_server_add_method(srv, "/cairn.test.Echo/Echo",
                                        CAIRN_GRPC_UNARY, echo, svc)) ||
      (r = cairn_grpc_server_add_method(srv, "/cairn.test.Echo/Count",
                                        CAIRN_GRPC_SERVER_STREAMING, count,
                                        svc)) ||
      (r = cairn_grpc_server_add_method(srv, "/cairn.test.Echo/Stats",
                                        CAIRN_GRPC_UNARY, stats, svc)))
    return r;
  return CAIRN_OK;
}
