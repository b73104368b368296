/* test_grpc.c - the gRPC layer: framing helpers, then a real server (the
 * echo service on its own thread and loop) against the blocking client
 * over a Unix socket. SIGPIPE is deliberately left at its default here:
 * the disconnect tests make the server write to closed peers, which must
 * not kill the process. */
#include "test.h"

#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/util.h"
#include "echo_service.h"
#include "grpc_int.h"
#include "workload.pb-c.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define M_ECHO "/cairn.test.Echo/Echo"
#define M_COUNT "/cairn.test.Echo/Count"
#define M_STATS "/cairn.test.Echo/Stats"
#define TMO 5000

/* ======================================================================
 * Framing helpers
 * ====================================================================== */

struct collect {
  int n;
  size_t lens[8];
  uint8_t first[8];
};

static int collect_msg(uint8_t *msg, size_t len, void *arg)
{
  struct collect *c = arg;
  if (c->n < 8) {
    c->lens[c->n] = len;
    c->first[c->n] = len ? msg[0] : 0;
  }
  c->n++;
  cairn_freezero(msg, len);
  return CAIRN_OK;
}

static void test_deframer(void)
{
  /* Three messages: "abc", empty, 300 bytes of 'z'. */
  uint8_t buf[5 + 3 + 5 + 5 + 300];
  struct cairn__grpc_deframer d;
  struct collect col;
  size_t n = 0;

  cairn__grpc_prefix(buf, 3);
  memcpy(buf + 5, "abc", 3);
  cairn__grpc_prefix(buf + 8, 0);
  cairn__grpc_prefix(buf + 13, 300);
  memset(buf + 18, 'z', 300);
  n = sizeof buf;

  /* Every split point gives the same three messages. */
  for (size_t cut = 0; cut <= n; cut++) {
    memset(&col, 0, sizeof col);
    cairn__grpc_deframer_init(&d, 1024);
    CHECK_OK(cairn__grpc_deframer_feed(&d, buf, cut, collect_msg, &col));
    CHECK_OK(cairn__grpc_deframer_feed(&d, buf + cut, n - cut, collect_msg,
                                       &col));
    CHECK_INT_EQ(col.n, 3);
    CHECK_INT_EQ(col.lens[0], 3);
    CHECK_INT_EQ(col.first[0], 'a');
    CHECK_INT_EQ(col.lens[1], 0);
    CHECK_INT_EQ(col.lens[2], 300);
    CHECK_INT_EQ(col.first[2], 'z');
    CHECK_INT_EQ(cairn__grpc_deframer_partial(&d), 0);
    cairn__grpc_deframer_cleanup(&d);
  }
  /* Byte by byte, with a partial message at the end. */
  memset(&col, 0, sizeof col);
  cairn__grpc_deframer_init(&d, 1024);
  for (size_t i = 0; i < n - 1; i++)
    CHECK_OK(cairn__grpc_deframer_feed(&d, buf + i, 1, collect_msg, &col));
  CHECK_INT_EQ(col.n, 2);
  CHECK_INT_EQ(cairn__grpc_deframer_partial(&d), 1);
  cairn__grpc_deframer_cleanup(&d);

  /* The size cap is enforced from the prefix alone, and errors stick. */
  memset(&col, 0, sizeof col);
  cairn__grpc_deframer_init(&d, 299);
  CHECK_ERR(cairn__grpc_deframer_feed(&d, buf, 18, collect_msg, &col),
            CAIRN_ERR_TOO_BIG);
  CHECK(strstr(cairn_errdetail(), "300 vs. 299") != NULL);
  CHECK_ERR(cairn__grpc_deframer_feed(&d, buf, 8, collect_msg, &col),
            CAIRN_ERR_TOO_BIG);
  CHECK_INT_EQ(col.n, 2);
  cairn__grpc_deframer_cleanup(&d);

  /* A 4 GiB - 1 declaration is refused without allocating. */
  {
    const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    cairn__grpc_deframer_init(&d, CAIRN_GRPC_MSG_MAX_LIMIT);
    CHECK_ERR(cairn__grpc_deframer_feed(&d, huge, sizeof huge, collect_msg,
                                        &col),
              CAIRN_ERR_TOO_BIG);
    cairn__grpc_deframer_cleanup(&d);
  }
  /* Compressed flag and unknown flags. */
  {
    const uint8_t comp[] = {1, 0, 0, 0, 1, 'x'};
    const uint8_t bad[] = {0x80, 0, 0, 0, 1, 'x'};
    cairn__grpc_deframer_init(&d, 16);
    CHECK_ERR(cairn__grpc_deframer_feed(&d, comp, sizeof comp, collect_msg,
                                        &col),
              CAIRN_ERR_UNSUPPORTED);
    cairn__grpc_deframer_cleanup(&d);
    cairn__grpc_deframer_init(&d, 16);
    CHECK_ERR(cairn__grpc_deframer_feed(&d, bad, sizeof bad, collect_msg,
                                        &col),
              CAIRN_ERR_PARSE);
    cairn__grpc_deframer_cleanup(&d);
  }
}

static void test_header_helpers(void)
{
  char enc[CAIRN__GRPC_PCT_OUT_MAX], *dec = NULL, big[2000], tmo[16];
  int st = -1;

  CHECK_INT_EQ(cairn__grpc_pct_encode("plain text", enc), 10);
  CHECK_STR_EQ(enc, "plain text");
  cairn__grpc_pct_encode("100% caf\xc3\xa9\n", enc);
  CHECK_STR_EQ(enc, "100%25 caf%C3%A9%0A");
  CHECK_OK(cairn__grpc_pct_decode((const uint8_t *)enc, strlen(enc), &dec));
  CHECK_STR_EQ(dec, "100% caf\xc3\xa9?"); /* control bytes become '?' */
  free(dec);
  /* Lenient like gRPC clients: bad escapes stay literal. */
  CHECK_OK(cairn__grpc_pct_decode((const uint8_t *)"a%zzb%4", 7, &dec));
  CHECK_STR_EQ(dec, "a%zzb%4");
  free(dec);
  CHECK_OK(cairn__grpc_pct_decode((const uint8_t *)"%00x", 4, &dec));
  CHECK_STR_EQ(dec, "?x");
  free(dec);
  /* Long messages are cut on both sides. */
  memset(big, 'm', sizeof big - 1);
  big[sizeof big - 1] = 0;
  CHECK_INT_EQ(cairn__grpc_pct_encode(big, enc), CAIRN_GRPC_STATUS_MSG_MAX);
  CHECK_OK(cairn__grpc_pct_decode((const uint8_t *)big, sizeof big - 1, &dec));
  CHECK_INT_EQ(strlen(dec), CAIRN_GRPC_STATUS_MSG_MAX);
  free(dec);

  CHECK_OK(cairn__grpc_parse_status((const uint8_t *)"12", 2, &st));
  CHECK_INT_EQ(st, 12);
  CHECK_ERR(cairn__grpc_parse_status((const uint8_t *)"", 0, &st),
            CAIRN_ERR_PARSE);
  CHECK_ERR(cairn__grpc_parse_status((const uint8_t *)"-1", 2, &st),
            CAIRN_ERR_PARSE);
  CHECK_ERR(cairn__grpc_parse_status((const uint8_t *)"1234", 4, &st),
            CAIRN_ERR_PARSE);
  CHECK_OK(cairn__grpc_parse_http_status((const uint8_t *)"415", 3, &st));
  CHECK_INT_EQ(st, 415);
  CHECK_ERR(cairn__grpc_parse_http_status((const uint8_t *)"99", 2, &st),
            CAIRN_ERR_PARSE);
  CHECK_INT_EQ(cairn__grpc_http_to_status(404), CAIRN_GRPC_UNIMPLEMENTED);
  CHECK_INT_EQ(cairn__grpc_http_to_status(503), CAIRN_GRPC_UNAVAILABLE);
  CHECK_INT_EQ(cairn__grpc_http_to_status(415), CAIRN_GRPC_UNKNOWN);

  CHECK(cairn__grpc_content_type_ok((const uint8_t *)"application/grpc", 16));
  CHECK(cairn__grpc_content_type_ok((const uint8_t *)"application/grpc+proto",
                                    22));
  CHECK(!cairn__grpc_content_type_ok((const uint8_t *)"application/grpcx",
                                     17));
  CHECK(!cairn__grpc_content_type_ok((const uint8_t *)"application/json",
                                     16));
  CHECK(cairn__grpc_md_name_ok("workload.spiffe.io"));
  CHECK(cairn__grpc_md_name_ok("authorization"));
  CHECK(!cairn__grpc_md_name_ok("Authorization"));
  CHECK(!cairn__grpc_md_name_ok(":path"));
  CHECK(!cairn__grpc_md_name_ok("grpc-timeout"));
  CHECK(!cairn__grpc_md_name_ok("content-type"));
  CHECK(!cairn__grpc_md_name_ok(""));
  CHECK(cairn__grpc_md_value_ok("Bearer abc"));
  CHECK(!cairn__grpc_md_value_ok("a\r\nb"));
  cairn__grpc_timeout_format(250, tmo);
  CHECK_STR_EQ(tmo, "250m");
  cairn__grpc_timeout_format(1000000000, tmo);
  CHECK_STR_EQ(tmo, "1000000S");

  CHECK_STR_EQ(cairn_grpc_status_name(CAIRN_GRPC_PERMISSION_DENIED),
               "PERMISSION_DENIED");
  CHECK_STR_EQ(cairn_grpc_status_name(17), "UNKNOWN_CODE");
}

/* ======================================================================
 * A server on its own thread
 * ====================================================================== */

struct srv {
  pthread_t th;
  uv_loop_t loop;
  uv_async_t stop;
  struct cairn_grpc_server *s;
  struct echo_svc svc;
  struct cairn_grpc_server_opts opts;
  char path[108];
  unsigned mode;
  int started, listen_rc, close_rc;
  /* results recorded by the Admin methods below, read after srv_stop() */
  int api[16];
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static void on_stop(uv_async_t *a)
{
  struct srv *t = a->data;
  cairn_grpc_server_free(t->s);
  uv_close((uv_handle_t *)a, NULL);
}

/* A method that answers and then shuts the whole server down from inside
 * its handler. */
static void shutdown_method(struct cairn_grpc_call *call, const uint8_t *req,
                            size_t len, void *arg)
{
  struct srv *t = arg;
  (void)req;
  (void)len;
  cairn_grpc_call_reply(call, "", 0);
  cairn_grpc_server_free(t->s);
  uv_close((uv_handle_t *)&t->stop, NULL);
}

/* Exercises the call API on a unary call; results go to t->api[0..8]. */
static void api_method(struct cairn_grpc_call *call, const uint8_t *req,
                       size_t len, void *arg)
{
  struct srv *t = arg;
  struct cairn_grpc_md md;
  size_t i, n_x = 0;
  int tag = 42;

  (void)req;
  (void)len;
  cairn_grpc_call_set_data(call, &tag);
  t->api[0] = cairn_grpc_call_get_data(call) == &tag;
  for (i = 0; cairn_grpc_call_metadata_at(call, i, &md) == CAIRN_OK; i++)
    if (strcmp(md.name, "x-k") == 0 && strcmp(md.value, "v") == 0) n_x++;
  t->api[1] = (int)n_x;
  t->api[2] = cairn_grpc_call_metadata_at(call, i, &md);
  t->api[3] = cairn_grpc_call_send(call, "one", 3);
  t->api[4] = cairn_grpc_call_send(call, "two", 3);        /* unary: 1 max */
  t->api[5] = cairn_grpc_call_send_latest(call, "two", 3);
  t->api[6] = cairn_grpc_call_finish(call, CAIRN_GRPC_OK, NULL);
}

/* Finishes a unary call OK without a reply: the client gets INTERNAL. */
static void api_noreply(struct cairn_grpc_call *call, const uint8_t *req,
                        size_t len, void *arg)
{
  struct srv *t = arg;
  (void)req;
  (void)len;
  t->api[7] = cairn_grpc_call_finish(call, CAIRN_GRPC_OK, NULL);
}

/* In a cancel callback the call can no longer send or finish. */
static void api_on_cancel(struct cairn_grpc_call *call, void *arg)
{
  struct srv *t = arg;
  t->api[8] = cairn_grpc_call_send(call, "x", 1);
  t->api[9] = cairn_grpc_call_finish(call, CAIRN_GRPC_OK, NULL);
  t->api[10] = cairn_grpc_call_get_data(call) == t;
  t->api[11]++;
}

static void api_hold(struct cairn_grpc_call *call, const uint8_t *req,
                     size_t len, void *arg)
{
  (void)req;
  (void)len;
  cairn_grpc_call_set_data(call, arg);
  cairn_grpc_call_set_cancel(call, api_on_cancel, arg);
  cairn_grpc_call_send(call, "first", 5);
}

static void *server_main(void *arg)
{
  struct srv *t = arg;
  int r;

  uv_loop_init(&t->loop);
  uv_async_init(&t->loop, &t->stop, on_stop);
  t->stop.data = t;
  r = cairn_grpc_server_new(&t->loop, &t->opts, &t->s);
  if (!r) r = echo_svc_register(&t->svc, &t->loop, t->s);
  if (!r)
    r = cairn_grpc_server_add_method(t->s, "/cairn.test.Admin/Shutdown",
                                     CAIRN_GRPC_UNARY, shutdown_method, t);
  if (!r)
    r = cairn_grpc_server_add_method(t->s, "/cairn.test.Admin/Api",
                                     CAIRN_GRPC_UNARY, api_method, t);
  if (!r)
    r = cairn_grpc_server_add_method(t->s, "/cairn.test.Admin/NoReply",
                                     CAIRN_GRPC_UNARY, api_noreply, t);
  if (!r)
    r = cairn_grpc_server_add_method(t->s, "/cairn.test.Admin/Hold",
                                     CAIRN_GRPC_SERVER_STREAMING, api_hold, t);
  if (!r) r = cairn_grpc_server_listen(t->s, t->path, t->mode);
  pthread_mutex_lock(&t->mu);
  t->listen_rc = r;
  t->started = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (r) {
    cairn_grpc_server_free(t->s);
    uv_close((uv_handle_t *)&t->stop, NULL);
  }
  uv_run(&t->loop, UV_RUN_DEFAULT);
  t->close_rc = uv_loop_close(&t->loop);
  return NULL;
}

static int srv_start(struct srv *t, const char *name,
                     const struct cairn_grpc_server_opts *opts)
{
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
  snprintf(t->path, sizeof t->path, "%s", test_path(name));
  t->mode = 0600;
  if (opts) t->opts = *opts;
  else cairn_grpc_server_opts_init(&t->opts);
  if (pthread_create(&t->th, NULL, server_main, t) != 0) return -1;
  pthread_mutex_lock(&t->mu);
  while (!t->started) pthread_cond_wait(&t->cv, &t->mu);
  pthread_mutex_unlock(&t->mu);
  return t->listen_rc;
}

/* Stops the server thread; the loop must close cleanly. */
static void srv_stop(struct srv *t)
{
  uv_async_send(&t->stop);
  pthread_join(t->th, NULL);
  CHECK_INT_EQ(t->close_rc, 0);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
}

/* The thread is gone (the server shut itself down): just join. */
static void srv_join(struct srv *t)
{
  pthread_join(t->th, NULL);
  CHECK_INT_EQ(t->close_rc, 0);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
}

static struct cairn_grpc_client *connect_to(const struct srv *t,
                                            size_t max_recv, size_t max_send)
{
  struct cairn_grpc_client *c = NULL;
  struct cairn_grpc_client_opts o;

  cairn_grpc_client_opts_init(&o);
  if (max_recv) o.max_recv_msg = max_recv;
  if (max_send) o.max_send_msg = max_send;
  CHECK_OK(cairn_grpc_client_connect(t->path, TMO, &o, &c));
  return c;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- calls ---- */

static int echo_call(struct cairn_grpc_client *c,
                     const Cairn__Test__EchoRequest *rq,
                     const struct cairn_grpc_md *md, size_t n_md,
                     struct cairn_grpc_reply *r, Cairn__Test__EchoReply **rep)
{
  size_t n = cairn__test__echo_request__get_packed_size(rq);
  uint8_t *buf = malloc(n ? n : 1);
  int rc;

  *rep = NULL;
  cairn__test__echo_request__pack(rq, buf);
  rc = cairn_grpc_client_unary(c, M_ECHO, md, n_md, buf, n, TMO, r);
  free(buf);
  if (rc == CAIRN_OK && r->status == CAIRN_GRPC_OK)
    *rep = cairn__test__echo_reply__unpack(NULL, r->len, r->data);
  return rc;
}

static Cairn__Test__StatsReply *get_stats(struct cairn_grpc_client *c)
{
  struct cairn_grpc_reply r;
  Cairn__Test__StatsReply *st = NULL;

  if (cairn_grpc_client_unary(c, M_STATS, NULL, 0, NULL, 0, TMO, &r) ==
          CAIRN_OK &&
      r.status == CAIRN_GRPC_OK)
    st = cairn__test__stats_reply__unpack(NULL, r.len, r.data);
  cairn_grpc_reply_cleanup(&r);
  return st;
}

/* Polls Stats until the server holds `calls` open calls (the Stats call
 * itself included) and `held` service-held calls, for up to 3 s. */
static Cairn__Test__StatsReply *wait_calls(struct cairn_grpc_client *c,
                                           uint64_t calls, uint64_t held)
{
  for (int i = 0; i < 300; i++) {
    Cairn__Test__StatsReply *st = get_stats(c);
    if (st && st->calls == calls && st->svc_held == held) return st;
    cairn__test__stats_reply__free_unpacked(st, NULL);
    sleep_ms(10);
  }
  return get_stats(c);
}

struct counted {
  int n;
  uint32_t last, max_seen;
  int increasing;
  int stop_after;     /* return non-zero once n reaches it (0: never) */
  int sleep_first_ms; /* stall after the first message */
  int kill_fd;        /* shut this socket down after the first message */
};

static int on_count_msg(const uint8_t *msg, size_t len, void *arg)
{
  struct counted *k = arg;
  Cairn__Test__CountReply *m = cairn__test__count_reply__unpack(NULL, len, msg);

  if (!m) return 1;
  if (k->n > 0 && m->n <= k->last) k->increasing = 0;
  k->last = m->n;
  k->n++;
  cairn__test__count_reply__free_unpacked(m, NULL);
  if (k->n == 1 && k->sleep_first_ms) sleep_ms(k->sleep_first_ms);
  if (k->n == 1 && k->kill_fd >= 0) shutdown(k->kill_fd, SHUT_RDWR);
  return k->stop_after && k->n >= k->stop_after;
}

static int count_call(struct cairn_grpc_client *c,
                      const Cairn__Test__CountRequest *rq, size_t max_msgs,
                      int timeout_ms, struct counted *k,
                      struct cairn_grpc_reply *r)
{
  uint8_t buf[128];
  size_t n = cairn__test__count_request__pack(rq, buf);

  k->increasing = 1;
  return cairn_grpc_client_stream(c, M_COUNT, NULL, 0, buf, n, timeout_ms,
                                  max_msgs, on_count_msg, k, r);
}

/* ======================================================================
 * Tests
 * ====================================================================== */

static void nop_handler(struct cairn_grpc_call *call, const uint8_t *req,
                        size_t len, void *arg)
{
  (void)req;
  (void)len;
  (void)arg;
  cairn_grpc_call_finish(call, CAIRN_GRPC_OK, NULL);
}

static void test_server_setup(void)
{
  uv_loop_t loop;
  struct cairn_grpc_server *a = NULL, *b = NULL;
  struct cairn_grpc_server_opts o;
  struct stat st;
  char longpath[200];
  const char *sock = test_path("setup.sock");
  const char *file = test_path("plain-file");
  mode_t old;

  uv_loop_init(&loop);
  CHECK_ERR(cairn_grpc_server_new(NULL, NULL, &a), CAIRN_ERR_INVAL);
  cairn_grpc_server_opts_init(&o);
  o.max_recv_msg = CAIRN_GRPC_MSG_MAX_LIMIT + 1;
  CHECK_ERR(cairn_grpc_server_new(&loop, &o, &a), CAIRN_ERR_INVAL);
  CHECK(a == NULL);
  CHECK_OK(cairn_grpc_server_new(&loop, NULL, &a));

  /* Method paths. */
  CHECK_OK(cairn_grpc_server_add_method(a, "/SpiffeWorkloadAPI/FetchX509SVID",
                                        CAIRN_GRPC_SERVER_STREAMING,
                                        nop_handler, NULL));
  CHECK_ERR(cairn_grpc_server_add_method(a, "/SpiffeWorkloadAPI/FetchX509SVID",
                                         CAIRN_GRPC_UNARY, nop_handler, NULL),
            CAIRN_ERR_EXISTS);
  CHECK_ERR(cairn_grpc_server_add_method(a, "SpiffeWorkloadAPI/X",
                                         CAIRN_GRPC_UNARY, nop_handler, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_grpc_server_add_method(a, "/a/b/c", CAIRN_GRPC_UNARY,
                                         nop_handler, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_grpc_server_add_method(a, "//b", CAIRN_GRPC_UNARY,
                                         nop_handler, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_grpc_server_add_method(a, "/a b/c", CAIRN_GRPC_UNARY,
                                         nop_handler, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_grpc_server_add_method(a, "/a/b", 7, nop_handler, NULL),
            CAIRN_ERR_INVAL);

  /* Socket paths: too long; a file that is not a socket is left alone. */
  memset(longpath, 'x', sizeof longpath - 1);
  longpath[0] = '/';
  longpath[sizeof longpath - 1] = 0;
  CHECK_ERR(cairn_grpc_server_listen(a, longpath, 0600), CAIRN_ERR_TOO_BIG);
  CHECK_INT_EQ(test_write_file(file, "keep", 4), 0);
  CHECK_ERR(cairn_grpc_server_listen(a, file, 0600), CAIRN_ERR_EXISTS);
  CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4);
  CHECK_ERR(cairn_grpc_server_listen(a, sock, 01777), CAIRN_ERR_INVAL);

  /* A stale socket file (bound, nobody listening) is replaced. */
  {
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    close(fd);
    CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
  }
  /* The exact mode whatever the umask: 0777 although umask is 022. */
  old = umask(022);
  CHECK_OK(cairn_grpc_server_listen(a, sock, 0777));
  umask(old);
  CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
  CHECK_INT_EQ(st.st_mode & 0777, 0777);
  CHECK_ERR(cairn_grpc_server_listen(a, sock, 0777), CAIRN_ERR_INVAL);

  /* A live socket belongs to someone else: refused, not removed. */
  CHECK_OK(cairn_grpc_server_new(&loop, NULL, &b));
  CHECK_ERR(cairn_grpc_server_listen(b, sock, 0600), CAIRN_ERR_EXISTS);
  CHECK(strstr(cairn_errdetail(), "listening") != NULL);
  CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
  cairn_grpc_server_free(a);
  CHECK(stat(sock, &st) != 0 && errno == ENOENT); /* removed on free */

  /* A restrictive mode under a permissive umask. */
  old = umask(0);
  CHECK_OK(cairn_grpc_server_listen(b, sock, 0600));
  umask(old);
  CHECK(stat(sock, &st) == 0);
  CHECK_INT_EQ(st.st_mode & 0777, 0600);
  cairn_grpc_server_free(b);
  cairn_grpc_server_free(NULL);

  CHECK_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_INT_EQ(uv_loop_close(&loop), 0);

  /* Client side: nobody there, bad arguments. */
  {
    struct cairn_grpc_client *c = NULL;
    CHECK_ERR(cairn_grpc_client_connect(sock, 1000, NULL, &c),
              CAIRN_ERR_NOT_FOUND);
    CHECK_ERR(cairn_grpc_client_connect(file, 1000, NULL, &c), CAIRN_ERR_IO);
    CHECK_ERR(cairn_grpc_client_connect(longpath, 1000, NULL, &c),
              CAIRN_ERR_TOO_BIG);
    CHECK_ERR(cairn_grpc_client_connect(sock, 0, NULL, &c), CAIRN_ERR_INVAL);
    CHECK(c == NULL);
    cairn_grpc_client_free(NULL);
  }
}

static void test_unary(void)
{
  struct srv t;
  struct cairn_grpc_client *c;
  struct cairn_grpc_reply r;
  Cairn__Test__EchoRequest rq = CAIRN__TEST__ECHO_REQUEST__INIT;
  Cairn__Test__EchoReply *rep;
  uint8_t bin[] = {0, 1, 2, 0xff};
  char path[220];

  if (srv_start(&t, "unary.sock", NULL) != 0) {
    CHECK(0);
    return;
  }
  /* The SPIFFE_ENDPOINT_SOCKET form works too. */
  snprintf(path, sizeof path, "unix://%s", t.path);
  c = NULL;
  CHECK_OK(cairn_grpc_client_connect(path, TMO, NULL, &c));
  cairn_grpc_client_free(c);
  c = connect_to(&t, 0, 0);

  rq.text = "hello";
  rq.data.data = bin;
  rq.data.len = sizeof bin;
  CHECK_OK(echo_call(c, &rq, NULL, 0, &r, &rep));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK_INT_EQ(r.finished, 1);
  CHECK_INT_EQ(r.messages, 1);
  CHECK_STR_EQ(r.message, "");
  CHECK(rep != NULL);
  if (rep) {
    CHECK_STR_EQ(rep->text, "hello");
    CHECK(rep->data.len == 4 && memcmp(rep->data.data, bin, 4) == 0);
    /* Peer credentials: this very process. */
    CHECK_INT_EQ(rep->peer_pid, getpid());
    CHECK_INT_EQ(rep->peer_uid, getuid());
    CHECK_INT_EQ(rep->peer_gid, getgid());
    CHECK_STR_EQ(rep->path, M_ECHO);
  }
  cairn__test__echo_reply__free_unpacked(rep, NULL);
  cairn_grpc_reply_cleanup(&r);

  /* Metadata: one value, two values, none. */
  {
    struct cairn_grpc_md md[] = {{"workload.spiffe.io", "true"},
                                 {"x-twice", "a"},
                                 {"x-twice", "b"}};
    memset(&rq, 0, sizeof rq);
    cairn__test__echo_request__init(&rq);
    rq.metadata_key = "workload.spiffe.io";
    CHECK_OK(echo_call(c, &rq, md, 3, &r, &rep));
    CHECK(rep && strcmp(rep->metadata_value, "true") == 0 &&
          rep->metadata_count == 1);
    cairn__test__echo_reply__free_unpacked(rep, NULL);
    cairn_grpc_reply_cleanup(&r);
    rq.metadata_key = "x-twice";
    CHECK_OK(echo_call(c, &rq, md, 3, &r, &rep));
    CHECK(rep && strcmp(rep->metadata_value, "a") == 0 &&
          rep->metadata_count == 2);
    cairn__test__echo_reply__free_unpacked(rep, NULL);
    cairn_grpc_reply_cleanup(&r);
    rq.metadata_key = "authorization";
    CHECK_OK(echo_call(c, &rq, md, 3, &r, &rep));
    CHECK(rep && rep->metadata_value[0] == 0 && rep->metadata_count == 0);
    cairn__test__echo_reply__free_unpacked(rep, NULL);
    cairn_grpc_reply_cleanup(&r);
    /* Bad metadata is refused before anything is sent. */
    {
      struct cairn_grpc_md bad[] = {{"X-Upper", "v"}};
      struct cairn_grpc_md badv[] = {{"x-ok", "line\nbreak"}};
      struct cairn_grpc_md res[] = {{"grpc-timeout", "1S"}};
      CHECK_ERR(echo_call(c, &rq, bad, 1, &r, &rep), CAIRN_ERR_INVAL);
      cairn_grpc_reply_cleanup(&r);
      CHECK_ERR(echo_call(c, &rq, badv, 1, &r, &rep), CAIRN_ERR_INVAL);
      cairn_grpc_reply_cleanup(&r);
      CHECK_ERR(echo_call(c, &rq, res, 1, &r, &rep), CAIRN_ERR_INVAL);
      cairn_grpc_reply_cleanup(&r);
    }
  }

  /* Error statuses: Trailers-Only, message percent-encoded on the wire. */
  memset(&rq, 0, sizeof rq);
  cairn__test__echo_request__init(&rq);
  rq.fail_code = CAIRN_GRPC_PERMISSION_DENIED;
  rq.fail_message = "no identity issued: 100% caf\xc3\xa9";
  CHECK_OK(echo_call(c, &rq, NULL, 0, &r, &rep));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_PERMISSION_DENIED);
  CHECK_STR_EQ(r.message, "no identity issued: 100% caf\xc3\xa9");
  CHECK(r.data == NULL && r.messages == 0 && rep == NULL);
  cairn_grpc_reply_cleanup(&r);
  /* A status outside 0..16 from a handler goes out as UNKNOWN. */
  rq.fail_code = 99;
  CHECK_OK(echo_call(c, &rq, NULL, 0, &r, &rep));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_UNKNOWN);
  cairn_grpc_reply_cleanup(&r);

  /* Asynchronous reply from a timer. */
  memset(&rq, 0, sizeof rq);
  cairn__test__echo_request__init(&rq);
  rq.text = "later";
  rq.delay_ms = 30;
  CHECK_OK(echo_call(c, &rq, NULL, 0, &r, &rep));
  CHECK(rep && strcmp(rep->text, "later") == 0);
  cairn__test__echo_reply__free_unpacked(rep, NULL);
  cairn_grpc_reply_cleanup(&r);

  /* Unknown method; a request that is not a valid EchoRequest. */
  CHECK_OK(cairn_grpc_client_unary(c, "/cairn.test.Echo/Nope", NULL, 0, "", 0,
                                   TMO, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_UNIMPLEMENTED);
  CHECK_STR_EQ(r.message, "unknown method /cairn.test.Echo/Nope");
  cairn_grpc_reply_cleanup(&r);
  CHECK_OK(cairn_grpc_client_unary(c, M_ECHO, NULL, 0, "\xff\xff\xff", 3, TMO,
                                   &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
  cairn_grpc_reply_cleanup(&r);

  /* Client deadline on a slow unary call: TIMEOUT, connection still fine,
   * the server drops the call when the cancel arrives. */
  rq.delay_ms = 2000;
  {
    uint8_t buf[64];
    size_t n = cairn__test__echo_request__pack(&rq, buf);
    CHECK_ERR(cairn_grpc_client_unary(c, M_ECHO, NULL, 0, buf, n, 100, &r),
              CAIRN_ERR_TIMEOUT);
    cairn_grpc_reply_cleanup(&r);
  }
  {
    Cairn__Test__StatsReply *st = wait_calls(c, 1, 0);
    CHECK(st && st->calls == 1 && st->svc_held == 0 && st->svc_cancels == 1);
    cairn__test__stats_reply__free_unpacked(st, NULL);
  }
  cairn_grpc_client_free(c);
  srv_stop(&t);
}

static void test_streaming(void)
{
  struct srv t;
  struct cairn_grpc_client *c;
  struct cairn_grpc_reply r;
  Cairn__Test__CountRequest rq = CAIRN__TEST__COUNT_REQUEST__INIT;
  struct counted k;
  Cairn__Test__StatsReply *st;

  if (srv_start(&t, "stream.sock", NULL) != 0) {
    CHECK(0);
    return;
  }
  c = connect_to(&t, 0, 0);

  /* All messages from the handler, then OK. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  rq.count = 5;
  CHECK_OK(count_call(c, &rq, 0, TMO, &k, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK_INT_EQ(r.finished, 1);
  CHECK_INT_EQ(r.messages, 5);
  CHECK_INT_EQ(k.n, 5);
  CHECK_INT_EQ(k.last, 5);
  CHECK(k.increasing);
  CHECK(r.data == NULL);
  cairn_grpc_reply_cleanup(&r);

  /* Messages pushed later from a timer. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  rq.count = 4;
  rq.interval_ms = 5;
  CHECK_OK(count_call(c, &rq, 0, TMO, &k, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK_INT_EQ(k.n, 4);
  CHECK(k.increasing && k.last == 4);
  cairn_grpc_reply_cleanup(&r);

  /* An empty stream: Trailers-Only OK. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  rq.count = 0;
  rq.interval_ms = 0;
  CHECK_OK(count_call(c, &rq, 0, TMO, &k, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK_INT_EQ(r.messages, 0);
  cairn_grpc_reply_cleanup(&r);

  /* A held stream, read 2 messages (max_msgs), then cancelled. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  rq.count = 3;
  rq.hold = 1;
  CHECK_OK(count_call(c, &rq, 2, TMO, &k, &r));
  CHECK_INT_EQ(r.finished, 0);
  CHECK_INT_EQ(r.status, CAIRN_GRPC_CANCELLED);
  CHECK_INT_EQ(k.n, 2);
  cairn_grpc_reply_cleanup(&r);
  /* The same, stopped by the callback. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  k.stop_after = 1;
  CHECK_OK(count_call(c, &rq, 0, TMO, &k, &r));
  CHECK_INT_EQ(r.finished, 0);
  CHECK_INT_EQ(k.n, 1);
  cairn_grpc_reply_cleanup(&r);
  /* Timing out on a held stream after its messages. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  CHECK_ERR(count_call(c, &rq, 0, 150, &k, &r), CAIRN_ERR_TIMEOUT);
  CHECK_INT_EQ(k.n, 3);
  cairn_grpc_reply_cleanup(&r);
  /* Every cancelled call was freed and reported to the service. */
  st = wait_calls(c, 1, 0);
  CHECK(st != NULL);
  if (st) {
    CHECK_INT_EQ(st->calls, 1);
    CHECK_INT_EQ(st->svc_held, 0);
    CHECK_INT_EQ(st->svc_cancels, 3);
    CHECK_INT_EQ(st->calls_cancelled, 3);
  }
  cairn__test__stats_reply__free_unpacked(st, NULL);

  /* The connection is still good for more calls. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  rq.hold = 0;
  rq.count = 2;
  CHECK_OK(count_call(c, &rq, 0, TMO, &k, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK_INT_EQ(k.n, 2);
  cairn_grpc_reply_cleanup(&r);

  cairn_grpc_client_free(c);
  srv_stop(&t);
}

static void test_disconnect(void)
{
  struct srv t;
  struct cairn_grpc_client *c, *stats;
  struct cairn_grpc_reply r;
  Cairn__Test__CountRequest rq = CAIRN__TEST__COUNT_REQUEST__INIT;
  struct counted k;
  Cairn__Test__StatsReply *st;

  CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR); /* a SIGPIPE would kill us */
  if (srv_start(&t, "disc.sock", NULL) != 0) {
    CHECK(0);
    return;
  }
  stats = connect_to(&t, 0, 0);

  /* The client's socket dies under an open stream while the server keeps
   * writing 64 KiB messages every millisecond: no RST_STREAM, just EOF and
   * EPIPE. The server frees the call and survives. */
  for (int round = 0; round < 3; round++) {
    c = connect_to(&t, 0, 0);
    memset(&k, 0, sizeof k);
    k.kill_fd = cairn__grpc_client_fd(c);
    rq.count = 1000;
    rq.interval_ms = 1;
    rq.size = 65536;
    rq.hold = 1;
    rq.latest = round == 2;
    CHECK_ERR(count_call(c, &rq, 0, TMO, &k, &r), CAIRN_ERR_NET);
    CHECK(k.n >= 1);
    cairn_grpc_reply_cleanup(&r);
    /* The client object is unusable now, but freeing it is fine. */
    CHECK_ERR(count_call(c, &rq, 0, TMO, &k, &r), CAIRN_ERR_NET);
    cairn_grpc_reply_cleanup(&r);
    cairn_grpc_client_free(c);
  }
  st = wait_calls(stats, 1, 0);
  CHECK(st && st->calls == 1 && st->svc_held == 0 && st->svc_cancels == 3 &&
        st->conns == 1);
  cairn__test__stats_reply__free_unpacked(st, NULL);

  /* Garbage instead of HTTP/2: the server hangs up, nothing else. */
  {
    struct sockaddr_un sa;
    char buf[256];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t.path);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27) == 27);
    ssize_t n;
    do {
      n = read(fd, buf, sizeof buf); /* the server's SETTINGS, then EOF */
    } while (n > 0);
    CHECK_INT_EQ(n, 0);
    close(fd);
  }
  st = get_stats(stats);
  CHECK(st && st->conns == 1);
  cairn__test__stats_reply__free_unpacked(st, NULL);
  cairn_grpc_client_free(stats);
  srv_stop(&t);
}

static void test_limits(void)
{
  struct srv t;
  struct cairn_grpc_client *c;
  struct cairn_grpc_reply r;
  Cairn__Test__EchoRequest rq = CAIRN__TEST__ECHO_REQUEST__INIT;
  Cairn__Test__EchoReply *rep;
  uint8_t *big = malloc(CAIRN_GRPC_MSG_MAX_DEFAULT + 1);

  if (!big || srv_start(&t, "limits.sock", NULL) != 0) {
    CHECK(0);
    free(big);
    return;
  }
  memset(big, 'B', CAIRN_GRPC_MSG_MAX_DEFAULT + 1);
  c = connect_to(&t, 0, 8u << 20);

  /* A request message of 4 MiB + 1 (the raw bytes, as a length-delimited
   * field would not matter): RESOURCE_EXHAUSTED, from the prefix alone. */
  CHECK_OK(cairn_grpc_client_unary(c, M_ECHO, NULL, 0, big,
                                   CAIRN_GRPC_MSG_MAX_DEFAULT + 1, TMO, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_RESOURCE_EXHAUSTED);
  CHECK(strstr(r.message, "larger than max") != NULL);
  cairn_grpc_reply_cleanup(&r);
  /* Just under the cap in both directions works. */
  rq.data.data = big;
  rq.data.len = CAIRN_GRPC_MSG_MAX_DEFAULT - 256;
  CHECK_OK(echo_call(c, &rq, NULL, 0, &r, &rep));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK(rep && rep->data.len == CAIRN_GRPC_MSG_MAX_DEFAULT - 256);
  cairn__test__echo_reply__free_unpacked(rep, NULL);
  cairn_grpc_reply_cleanup(&r);
  /* The server refuses to send a reply above its own cap. */
  rq.data.len = 0;
  rq.reply_size = CAIRN_GRPC_MSG_MAX_DEFAULT;
  CHECK_OK(echo_call(c, &rq, NULL, 0, &r, &rep));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_RESOURCE_EXHAUSTED);
  cairn_grpc_reply_cleanup(&r);
  cairn_grpc_client_free(c);

  /* The client's caps: request refused locally, response too large. */
  c = connect_to(&t, 1024, 0);
  CHECK_ERR(cairn_grpc_client_unary(c, M_ECHO, NULL, 0, big,
                                    CAIRN_GRPC_MSG_MAX_DEFAULT + 1, TMO, &r),
            CAIRN_ERR_TOO_BIG);
  cairn_grpc_reply_cleanup(&r);
  rq.reply_size = 2048;
  CHECK_ERR(echo_call(c, &rq, NULL, 0, &r, &rep), CAIRN_ERR_TOO_BIG);
  CHECK(strstr(cairn_errdetail(), "larger than max") != NULL);
  cairn_grpc_reply_cleanup(&r);
  rq.reply_size = 100; /* the connection survived */
  CHECK_OK(echo_call(c, &rq, NULL, 0, &r, &rep));
  CHECK(rep && rep->data.len == 100);
  cairn__test__echo_reply__free_unpacked(rep, NULL);
  cairn_grpc_reply_cleanup(&r);
  cairn_grpc_client_free(c);
  free(big);
  srv_stop(&t);
}

static void test_queue(void)
{
  struct srv t;
  struct cairn_grpc_server_opts o;
  struct cairn_grpc_client *c;
  struct cairn_grpc_reply r;
  Cairn__Test__CountRequest rq = CAIRN__TEST__COUNT_REQUEST__INIT;
  Cairn__Test__StatsReply *st;
  struct counted k;

  cairn_grpc_server_opts_init(&o);
  o.max_queue = 64 * 1024;
  if (srv_start(&t, "queue.sock", &o) != 0) {
    CHECK(0);
    return;
  }
  c = connect_to(&t, 0, 0);

  /* Plain sends past the per-call queue cap fail: the handler ends the
   * stream with RESOURCE_EXHAUSTED after what fitted. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  rq.count = 100;
  rq.size = 4096;
  CHECK_OK(count_call(c, &rq, 0, TMO, &k, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_RESOURCE_EXHAUSTED);
  CHECK(strstr(r.message, "queue") != NULL);
  CHECK(k.n > 0 && k.n < 100);
  CHECK(k.increasing);
  cairn_grpc_reply_cleanup(&r);
  st = get_stats(c);
  CHECK(st && st->svc_send_error == CAIRN_ERR_TOO_BIG);
  cairn__test__stats_reply__free_unpacked(st, NULL);

  /* Latest snapshot wins: 100 snapshots queued by the handler before any
   * output, only the last one is sent. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  rq.latest = 1;
  CHECK_OK(count_call(c, &rq, 0, TMO, &k, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK_INT_EQ(k.n, 1);
  CHECK_INT_EQ(k.last, 100);
  cairn_grpc_reply_cleanup(&r);
  st = get_stats(c);
  CHECK(st && st->msgs_replaced == 99);
  cairn__test__stats_reply__free_unpacked(st, NULL);

  /* A slow reader of a 1 ms stream of 64 KiB snapshots: the client stalls
   * 300 ms after the first message, the server keeps replacing what it
   * could not send, and the client then gets the newest state, in order,
   * ending with the last one. */
  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  k.sleep_first_ms = 300;
  rq.count = 200;
  rq.interval_ms = 1;
  rq.size = 65536;
  CHECK_OK(count_call(c, &rq, 0, 10000, &k, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK(k.n < 200);
  CHECK_INT_EQ(k.last, 200);
  CHECK(k.increasing);
  cairn_grpc_reply_cleanup(&r);
  st = get_stats(c);
  CHECK(st && st->msgs_replaced > 99);
  cairn__test__stats_reply__free_unpacked(st, NULL);
  cairn_grpc_client_free(c);
  srv_stop(&t);
}

static void test_many_conns(void)
{
  enum { N = 64 };
  struct srv t;
  struct cairn_grpc_server_opts o;
  struct cairn_grpc_client *cs[N], *c, *extra = NULL;
  struct cairn_grpc_reply r;
  Cairn__Test__EchoRequest rq = CAIRN__TEST__ECHO_REQUEST__INIT;
  Cairn__Test__EchoReply *rep;
  Cairn__Test__StatsReply *st;
  int ok = 0;

  cairn_grpc_server_opts_init(&o);
  o.max_conns = N + 1;
  if (srv_start(&t, "many.sock", &o) != 0) {
    CHECK(0);
    return;
  }
  c = connect_to(&t, 0, 0);
  for (int i = 0; i < N; i++) cs[i] = connect_to(&t, 0, 0);
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < N; i++) {
      char text[16];
      snprintf(text, sizeof text, "c%d", i);
      rq.text = text;
      if (cs[i] && echo_call(cs[i], &rq, NULL, 0, &r, &rep) == CAIRN_OK &&
          rep && strcmp(rep->text, text) == 0)
        ok++;
      cairn__test__echo_reply__free_unpacked(rep, NULL);
      cairn_grpc_reply_cleanup(&r);
    }
  }
  CHECK_INT_EQ(ok, 2 * N);
  st = get_stats(c);
  CHECK(st && st->conns == N + 1 && st->conns_rejected == 0);
  cairn__test__stats_reply__free_unpacked(st, NULL);

  /* One more than max_conns: accepted and closed at once. */
  /* The client notices while sending its preface or at its first call. */
  {
    int rc = cairn_grpc_client_connect(t.path, TMO, NULL, &extra);
    rq.text = "x";
    if (rc == CAIRN_OK) rc = echo_call(extra, &rq, NULL, 0, &r, &rep);
    CHECK_INT_EQ(rc, CAIRN_ERR_NET);
    cairn_grpc_reply_cleanup(&r);
  }
  cairn_grpc_client_free(extra);
  st = get_stats(c);
  CHECK(st && st->conns_rejected == 1);
  cairn__test__stats_reply__free_unpacked(st, NULL);

  for (int i = 0; i < N; i++) cairn_grpc_client_free(cs[i]);
  for (int i = 0; i < 300; i++) {
    st = get_stats(c);
    if (st && st->conns == 1) break;
    cairn__test__stats_reply__free_unpacked(st, NULL);
    st = NULL;
    sleep_ms(10);
  }
  CHECK(st && st->conns == 1);
  cairn__test__stats_reply__free_unpacked(st, NULL);
  cairn_grpc_client_free(c);
  srv_stop(&t);
}

struct holder {
  const struct srv *t;
  int rc, n;
};

static void *hold_stream(void *arg)
{
  struct holder *h = arg;
  struct cairn_grpc_client *c = NULL;
  struct cairn_grpc_reply r;
  Cairn__Test__CountRequest rq = CAIRN__TEST__COUNT_REQUEST__INIT;
  struct counted k;

  memset(&k, 0, sizeof k);
  k.kill_fd = -1;
  rq.count = 1;
  rq.hold = 1;
  h->rc = -1;
  if (cairn_grpc_client_connect(h->t->path, TMO, NULL, &c) != CAIRN_OK)
    return NULL;
  h->rc = count_call(c, &rq, 0, TMO, &k, &r);
  h->n = k.n;
  cairn_grpc_reply_cleanup(&r);
  cairn_grpc_client_free(c);
  return NULL;
}

static void test_shutdown(void)
{
  struct srv t;
  struct cairn_grpc_client *c;
  struct cairn_grpc_reply r;
  struct holder h[3];
  pthread_t th[3];
  Cairn__Test__StatsReply *st;
  struct stat sst;

  /* Shutdown with calls held open by the service: their cancel callbacks
   * run, the clients see the connection go, the loop closes with 0. */
  if (srv_start(&t, "shut.sock", NULL) != 0) {
    CHECK(0);
    return;
  }
  c = connect_to(&t, 0, 0);
  for (int i = 0; i < 3; i++) {
    h[i].t = &t;
    pthread_create(&th[i], NULL, hold_stream, &h[i]);
  }
  st = wait_calls(c, 4, 3);
  CHECK(st && st->svc_held == 3);
  cairn__test__stats_reply__free_unpacked(st, NULL);
  srv_stop(&t);
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    CHECK_INT_EQ(h[i].rc, CAIRN_ERR_NET);
    CHECK_INT_EQ(h[i].n, 1);
  }
  CHECK_INT_EQ(t.svc.cancels, 3);
  CHECK_INT_EQ(t.svc.held, 0);
  CHECK(stat(t.path, &sst) != 0); /* socket file removed */
  CHECK_ERR(cairn_grpc_client_unary(c, M_STATS, NULL, 0, NULL, 0, TMO, &r),
            CAIRN_ERR_NET);
  cairn_grpc_reply_cleanup(&r);
  cairn_grpc_client_free(c);

  /* A handler may shut the server down; its own reply still goes out. */
  if (srv_start(&t, "shut2.sock", NULL) != 0) {
    CHECK(0);
    return;
  }
  c = connect_to(&t, 0, 0);
  CHECK_OK(cairn_grpc_client_unary(c, "/cairn.test.Admin/Shutdown", NULL, 0,
                                   NULL, 0, TMO, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  cairn_grpc_reply_cleanup(&r);
  srv_join(&t);
  cairn_grpc_client_free(c);
}

/* The generated Workload API code uses the spec's field numbers: check
 * the wire bytes of a small X509SVIDResponse and a Struct claim. */
static void test_workload_proto(void)
{
  X509SVID svid = X509_SVID__INIT, *svids[1] = {&svid};
  X509SVIDResponse rsp = X509_SVIDRESPONSE__INIT;
  X509SVIDResponse__FederatedBundlesEntry fe =
      X509_SVIDRESPONSE__FEDERATED_BUNDLES_ENTRY__INIT, *fes[1] = {&fe};
  Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
  Google__Protobuf__Struct__FieldsEntry f =
      GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT, *fs[1] = {&f};
  Google__Protobuf__Struct claims = GOOGLE__PROTOBUF__STRUCT__INIT;
  ValidateJWTSVIDResponse vr = VALIDATE_JWTSVIDRESPONSE__INIT;
  uint8_t buf[256];
  size_t n;
  static const uint8_t want_svid[] = {
    0x0a, 0x14,                                   /* svids (1) */
    0x0a, 0x03, 'i', 'd', '1',                    /* spiffe_id (1) */
    0x12, 0x01, 'C',                              /* x509_svid (2) */
    0x1a, 0x01, 'K',                              /* x509_svid_key (3) */
    0x22, 0x01, 'B',                              /* bundle (4) */
    0x2a, 0x04, 'h', 'i', 'n', 't',               /* hint (5) */
    0x1a, 0x07,                                   /* federated_bundles (3) */
    0x0a, 0x02, 't', 'd', 0x12, 0x01, 'F',        /* key 1, value 2 */
  };
  static const uint8_t want_claims[] = {
    0x0a, 0x02, 'i', 'd',                         /* spiffe_id (1) */
    0x12, 0x0a,                                   /* claims (2): Struct */
    0x0a, 0x08,                                   /* fields entry (1) */
    0x0a, 0x01, 'a',                              /* key */
    0x12, 0x03, 0x1a, 0x01, 'x',                  /* Value.string_value (3) */
  };

  svid.spiffe_id = "id1";
  svid.x509_svid.data = (uint8_t *)"C";
  svid.x509_svid.len = 1;
  svid.x509_svid_key.data = (uint8_t *)"K";
  svid.x509_svid_key.len = 1;
  svid.bundle.data = (uint8_t *)"B";
  svid.bundle.len = 1;
  svid.hint = "hint";
  fe.key = "td";
  fe.value.data = (uint8_t *)"F";
  fe.value.len = 1;
  rsp.n_svids = 1;
  rsp.svids = svids;
  rsp.n_federated_bundles = 1;
  rsp.federated_bundles = fes;
  n = x509_svidresponse__get_packed_size(&rsp);
  CHECK_INT_EQ(n, sizeof want_svid);
  if (n == sizeof want_svid) {
    x509_svidresponse__pack(&rsp, buf);
    CHECK(memcmp(buf, want_svid, n) == 0);
  }

  v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
  v.string_value = "x";
  f.key = "a";
  f.value = &v;
  claims.n_fields = 1;
  claims.fields = fs;
  vr.spiffe_id = "id";
  vr.claims = &claims;
  n = validate_jwtsvidresponse__get_packed_size(&vr);
  CHECK_INT_EQ(n, sizeof want_claims);
  if (n == sizeof want_claims) {
    validate_jwtsvidresponse__pack(&vr, buf);
    CHECK(memcmp(buf, want_claims, n) == 0);
  }
}

/* ---- rapid reset (CVE-2023-44487) ---- */

struct rr {
  int goaway;
  uint32_t code;
};

static int rr_frame(nghttp2_session *sess, const nghttp2_frame *frame,
                    void *user)
{
  struct rr *rr = user;
  (void)sess;
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    rr->goaway = 1;
    rr->code = frame->goaway.error_code;
  }
  return 0;
}

static int rr_pump(nghttp2_session *sess, int fd)
{
  const uint8_t *data;
  uint8_t buf[16384];
  ssize_t n;

  while ((n = nghttp2_session_mem_send(sess, &data)) > 0)
    if (send(fd, data, (size_t)n, MSG_NOSIGNAL) != n) return -1;
  while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    if (nghttp2_session_mem_recv(sess, buf, (size_t)n) < 0) return -1;
  return n == 0 ? -1 : 0;
}

/* A client that opens and immediately resets stream after stream is cut
 * off with GOAWAY; the server carries on. */
static void test_rapid_reset(void)
{
  struct srv t;
  struct cairn_grpc_client *c;
  nghttp2_session_callbacks *cbs;
  nghttp2_session *sess;
  struct sockaddr_un sa;
  struct rr rr = {0, 0};
  Cairn__Test__StatsReply *st;
  nghttp2_nv hdrs[] = {
    {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
    {(uint8_t *)":path", (uint8_t *)M_ECHO, 5, strlen(M_ECHO), 0},
    {(uint8_t *)":authority", (uint8_t *)"x", 10, 1, 0},
    {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, 0},
  };
  int fd, i;

  if (srv_start(&t, "rr.sock", NULL) != 0) {
    CHECK(0);
    return;
  }
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t.path);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, rr_frame);
  nghttp2_session_client_new(&sess, cbs, &rr);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(sess, NGHTTP2_FLAG_NONE, NULL, 0);
  for (i = 0; i < 5000 && !rr.goaway; i++) {
    int32_t id = nghttp2_submit_request(sess, NULL, hdrs, 5, NULL, NULL);
    if (id < 0 || rr_pump(sess, fd) != 0) break;
    nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    if (rr_pump(sess, fd) != 0) break;
  }
  for (int k = 0; k < 100 && !rr.goaway; k++) {
    if (rr_pump(sess, fd) != 0) break;
    sleep_ms(5);
  }
  /* nghttp2 tears the session down with GOAWAY(INTERNAL_ERROR) once the
   * burst of 1000 resets is used up. */
  CHECK(rr.goaway);
  CHECK(rr.code != NGHTTP2_NO_ERROR);
  CHECK(i >= 1000 && i < 5000);
  nghttp2_session_del(sess);
  close(fd);

  c = connect_to(&t, 0, 0);
  st = wait_calls(c, 1, 0);
  CHECK(st && st->calls == 1 && st->conns == 1);
  cairn__test__stats_reply__free_unpacked(st, NULL);
  cairn_grpc_client_free(c);
  srv_stop(&t);
}

static int first_only(const uint8_t *msg, size_t len, void *arg)
{
  (void)arg;
  return len == 5 && memcmp(msg, "first", 5) == 0 ? 1 : -1;
}

static void test_call_api(void)
{
  struct srv t;
  struct cairn_grpc_client *c;
  struct cairn_grpc_reply r;
  struct cairn_grpc_md md[] = {{"x-k", "v"}, {"x-other", "w"}, {"x-k", "v"}};

  if (srv_start(&t, "api.sock", NULL) != 0) {
    CHECK(0);
    return;
  }
  c = connect_to(&t, 0, 0);
  CHECK_OK(cairn_grpc_client_unary(c, "/cairn.test.Admin/Api", md, 3, NULL, 0,
                                   TMO, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_OK);
  CHECK(r.len == 3 && memcmp(r.data, "one", 3) == 0);
  cairn_grpc_reply_cleanup(&r);
  CHECK_OK(cairn_grpc_client_unary(c, "/cairn.test.Admin/NoReply", NULL, 0,
                                   NULL, 0, TMO, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_INTERNAL);
  CHECK_STR_EQ(r.message, "handler sent no response");
  cairn_grpc_reply_cleanup(&r);
  CHECK_OK(cairn_grpc_client_stream(c, "/cairn.test.Admin/Hold", NULL, 0,
                                    NULL, 0, TMO, 0, first_only, NULL, &r));
  CHECK_INT_EQ(r.messages, 1);
  CHECK_INT_EQ(r.finished, 0);
  cairn_grpc_reply_cleanup(&r);
  cairn_grpc_client_free(c);
  srv_stop(&t);

  CHECK_INT_EQ(t.api[0], 1);                  /* set/get data */
  CHECK_INT_EQ(t.api[1], 2);                  /* metadata_at saw x-k twice */
  CHECK_INT_EQ(t.api[2], CAIRN_ERR_NOT_FOUND);
  CHECK_INT_EQ(t.api[3], CAIRN_OK);
  CHECK_INT_EQ(t.api[4], CAIRN_ERR_INVAL);    /* second unary message */
  CHECK_INT_EQ(t.api[5], CAIRN_ERR_INVAL);
  CHECK_INT_EQ(t.api[6], CAIRN_OK);
  CHECK_INT_EQ(t.api[7], CAIRN_ERR_INVAL);    /* OK without a reply */
  CHECK_INT_EQ(t.api[8], CAIRN_ERR_NET);      /* send in cancel callback */
  CHECK_INT_EQ(t.api[9], CAIRN_ERR_NET);
  CHECK_INT_EQ(t.api[10], 1);
  CHECK_INT_EQ(t.api[11], 1);                 /* cancel callback ran once */
}

int main(void)
{
  RUN(test_deframer);
  RUN(test_header_helpers);
  RUN(test_workload_proto);
  RUN(test_server_setup);
  RUN(test_unary);
  RUN(test_streaming);
  RUN(test_call_api);
  RUN(test_disconnect);
  RUN(test_limits);
  RUN(test_queue);
  RUN(test_many_conns);
  RUN(test_rapid_reset);
  RUN(test_shutdown);
  return test_done();
}
