/* tools/bench/wl_client.c - cairn-bench-wl: FetchX509SVID latency of a
 * Workload API endpoint, measured with libcairn's blocking gRPC client.
 *
 *   cairn-bench-wl -socket PATH [-n CALLS] [-warmup CALLS] [-expect SPIFFE_ID]
 *
 * Opens one connection and makes CALLS FetchX509SVID calls on it, each
 * "unary-like": send the request, read the first stream message, cancel
 * the stream (RST_STREAM). The clock runs around each call only; every
 * response is then decoded and checked (at least one SVID; the first one's
 * SPIFFE ID equals -expect when given). -warmup calls (default 20) run
 * first and are not counted.
 *
 * Every call ends with a client RST_STREAM, and libcairn's gRPC server
 * (like any nghttp2 server with the CVE-2023-44487 mitigation) answers a
 * burst of more than 1000 of them on one connection, refilled at 33 per
 * second, with GOAWAY. So the client paces itself: past BW_RST_BURST calls
 * it waits between calls (outside the measured time) to stay under
 * BW_RST_RATE resets per second.
 *
 * Output: a short report, then one machine-readable line
 *   RESULT calls=N p50_us=X p90_us=X p99_us=X max_us=X mean_us=X bytes=B svids=S
 * Exit status 0 when every call succeeded, 1 otherwise, 2 for bad usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn/err.h"
#include "cairn/grpc.h"
#include "workload.pb-c.h"

#define BW_PATH "/SpiffeWorkloadAPI/FetchX509SVID"
#define BW_TIMEOUT_MS 30000
#define BW_MAX_CALLS 10000000L
#define BW_RST_BURST 900           /* the server allows 1000 */
#define BW_RST_RATE 30             /* per second; the server refills 33 */

static const struct cairn_grpc_md bw_md[] = {{"workload.spiffe.io", "true"}};

/* The first message of the call in flight, copied out of the client. */
struct bw_msg {
  uint8_t *data;
  size_t len;
  int nomem;
};

static int bw_on_msg(const uint8_t *msg, size_t len, void *arg)
{
  struct bw_msg *m = arg;
  uint8_t *p = len ? malloc(len) : NULL;

  if (len && !p) {
    m->nomem = 1;
    return 1;
  }
  if (len) memcpy(p, msg, len);
  free(m->data);
  m->data = p;
  m->len = len;
  return 1; /* only the first message */
}

static double bw_now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Waits until call number k (from 0, warm-up included) keeps the resets
 * within the server's budget, counted from t0 (bw_now_us()). */
static void bw_pace(long k, double t0)
{
  double due, now;

  if (k < BW_RST_BURST) return;
  due = t0 + (double)(k - BW_RST_BURST) * 1e6 / BW_RST_RATE;
  now = bw_now_us();
  if (now < due) {
    struct timespec ts;
    double w = due - now;
    ts.tv_sec = (time_t)(w / 1e6);
    ts.tv_nsec = (long)((w - (double)ts.tv_sec * 1e6) * 1e3);
    nanosleep(&ts, NULL);
  }
}

static int bw_cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted v[0..n-1]. */
static double bw_pct(const double *v, size_t n, unsigned p)
{
  size_t k = (n * p + 99) / 100;

  return v[k ? k - 1 : 0];
}

/* One call; on success *svids and *first_id describe the answer (first_id
 * points into a buffer owned by the caller, up to idlen bytes). */
static int bw_call(struct cairn_grpc_client *c, double *us, size_t *bytes,
                   size_t *svids, char *first_id, size_t idlen)
{
  struct cairn_grpc_reply r;
  struct bw_msg m = {NULL, 0, 0};
  X509SVIDResponse *resp = NULL;
  double t0;
  int rc;

  memset(&r, 0, sizeof r);
  t0 = bw_now_us();
  /* X509SVIDRequest has no fields: the request is the empty message. */
  rc = cairn_grpc_client_stream(c, BW_PATH, bw_md, 1, "", 0, BW_TIMEOUT_MS, 1,
                                bw_on_msg, &m, &r);
  *us = bw_now_us() - t0;
  if (rc != CAIRN_OK) {
    fprintf(stderr, "cairn-bench-wl: FetchX509SVID: %s: %s\n",
            cairn_strerror(rc), cairn_errdetail());
    goto out;
  }
  if (m.nomem) {
    rc = cairn_seterr(CAIRN_ERR_NOMEM, "response copy");
    fprintf(stderr, "cairn-bench-wl: out of memory\n");
    goto out;
  }
  if (r.finished || r.messages != 1 || !m.data) {
    rc = CAIRN_ERR_NET;
    fprintf(stderr, "cairn-bench-wl: FetchX509SVID ended with status %d "
            "%s after %zu message(s)\n", r.status, r.message ? r.message : "",
            r.messages);
    goto out;
  }
  if (!(resp = x509_svidresponse__unpack(NULL, m.len, m.data)) ||
      resp->n_svids == 0) {
    rc = CAIRN_ERR_PARSE;
    fprintf(stderr, "cairn-bench-wl: %s\n", resp ? "response without SVIDs"
                                                 : "malformed response");
    goto out;
  }
  *bytes = m.len;
  *svids = resp->n_svids;
  snprintf(first_id, idlen, "%s", resp->svids[0]->spiffe_id);
out:
  if (resp) x509_svidresponse__free_unpacked(resp, NULL);
  free(m.data);
  cairn_grpc_reply_cleanup(&r);
  return rc;
}

static void bw_usage(void)
{
  fprintf(stderr, "usage: cairn-bench-wl -socket PATH [-n CALLS] "
          "[-warmup CALLS] [-expect SPIFFE_ID]\n");
}

static int bw_num(const char *s, long *out)
{
  char *end;
  long v = strtol(s, &end, 10);

  if (*s == '\0' || *end != '\0' || v < 0 || v > BW_MAX_CALLS) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv)
{
  const char *sock = NULL, *expect = NULL;
  long n = 1000, warm = 20;
  struct cairn_grpc_client *c = NULL;
  double *lat = NULL, sum = 0, t0;
  size_t bytes = 0, svids = 0, failed = 0;
  char id[2048];
  int rc, status = 1;

  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (f[0] == '-' && f[1] == '-') f++;
    if (i + 1 >= argc) {
      bw_usage();
      return 2;
    }
    if (strcmp(f, "-socket") == 0) {
      sock = argv[++i];
    } else if (strcmp(f, "-expect") == 0) {
      expect = argv[++i];
    } else if (strcmp(f, "-n") == 0) {
      if (bw_num(argv[++i], &n) || n == 0) {
        bw_usage();
        return 2;
      }
    } else if (strcmp(f, "-warmup") == 0) {
      if (bw_num(argv[++i], &warm)) {
        bw_usage();
        return 2;
      }
    } else {
      bw_usage();
      return 2;
    }
  }
  if (!sock) {
    bw_usage();
    return 2;
  }
  if (!(lat = calloc((size_t)n, sizeof *lat))) {
    fprintf(stderr, "cairn-bench-wl: out of memory\n");
    return 1;
  }
  if ((rc = cairn_grpc_client_connect(sock, 5000, NULL, &c))) {
    fprintf(stderr, "cairn-bench-wl: cannot connect to %s: %s\n", sock,
            cairn_errdetail());
    goto out;
  }
  t0 = bw_now_us();
  for (long i = 0; i < warm; i++) {
    double us;
    size_t b, s;
    bw_pace(i, t0);
    if (bw_call(c, &us, &b, &s, id, sizeof id)) goto out;
  }
  for (long i = 0; i < n; i++) {
    size_t b = 0, s = 0;
    bw_pace(warm + i, t0);
    if (bw_call(c, &lat[i], &b, &s, id, sizeof id)) {
      failed++;
      /* The connection is unusable after NET or PARSE errors. */
      goto out;
    }
    if (expect && strcmp(id, expect) != 0) {
      fprintf(stderr, "cairn-bench-wl: got %s, expected %s\n", id, expect);
      failed++;
      goto out;
    }
    bytes = b;
    svids = s;
    sum += lat[i];
  }
  qsort(lat, (size_t)n, sizeof *lat, bw_cmp);
  printf("FetchX509SVID on %s: %ld calls on one connection (after %ld "
         "warm-up calls), %zu SVID(s), %zu bytes per response\n", sock, n,
         warm, svids, bytes);
  printf("  p50 %.0f us  p90 %.0f us  p99 %.0f us  max %.0f us  mean %.0f "
         "us\n", bw_pct(lat, (size_t)n, 50), bw_pct(lat, (size_t)n, 90),
         bw_pct(lat, (size_t)n, 99), lat[n - 1], sum / (double)n);
  printf("RESULT calls=%ld p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f "
         "mean_us=%.0f bytes=%zu svids=%zu\n", n, bw_pct(lat, (size_t)n, 50),
         bw_pct(lat, (size_t)n, 90), bw_pct(lat, (size_t)n, 99), lat[n - 1],
         sum / (double)n, bytes, svids);
  status = 0;
out:
  if (status && failed)
    fprintf(stderr, "cairn-bench-wl: a call failed; no figures\n");
  cairn_grpc_client_free(c);
  free(lat);
  return status;
}
