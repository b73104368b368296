/* fuzz_grpcclient.c - the blocking client fed with untrusted server bytes:
 * the input (after a mode byte) is written to one end of a socketpair,
 * followed by EOF, and the client on the other end makes a unary or a
 * streaming call (then a second one if the connection survived).
 *
 * Invariants checked: a call that returns CAIRN_OK has a status in 0..16
 * and a message string; a unary OK reply has data within the cap; a
 * stream never delivers a message above the cap or more than max_msgs.
 * Seeds (corpus/grpcclient/) are recorded server responses. */
#include "grpc_int.h"

#include "cairn/err.h"
#include "cairn/grpc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CAP 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
  size_t n, max;
};

static int on_msg(const uint8_t *msg, size_t len, void *arg)
{
  struct seen *s = arg;
  (void)msg;
  if (len > CAP) abort();
  s->n++;
  return 0;
}

static int one_call(struct cairn_grpc_client *c, int mode)
{
  struct cairn_grpc_reply r;
  struct cairn_grpc_md md[] = {{"workload.spiffe.io", "true"}};
  struct seen s = {0, 0};
  int rc;

  if (mode == 0) {
    rc = cairn_grpc_client_unary(c, "/cairn.test.Echo/Echo", md, 1, "\x0a\x01x",
                                 3, 1000, &r);
  } else {
    s.max = mode == 2 ? 2 : 0;
    rc = cairn_grpc_client_stream(c, "/cairn.test.Echo/Count", md, 1,
                                  "\x08\x03", 2, 1000, s.max, on_msg, &s, &r);
    if (s.max && s.n > s.max) abort();
  }
  if (rc == CAIRN_OK) {
    if (!r.message || r.status < 0 || r.status > CAIRN_GRPC_UNAUTHENTICATED)
      abort();
    if (mode == 0 && r.status == CAIRN_GRPC_OK && (!r.data || r.len > CAP))
      abort();
    if (mode != 0 && r.data) abort();
  }
  cairn_grpc_reply_cleanup(&r);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn_grpc_client *c = NULL;
  struct cairn_grpc_client_opts o;
  int sv[2], mode, rc;
  size_t off = 1;

  if (size < 1 || size > 65536) return 0;
  mode = data[0] % 3;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
  while (off < size) {
    ssize_t n = write(sv[1], data + off, size - off);
    if (n <= 0) abort();
    off += (size_t)n;
  }
  shutdown(sv[1], SHUT_WR);
  cairn_grpc_client_opts_init(&o);
  o.max_recv_msg = CAP;
  if (cairn__grpc_client_adopt(sv[0], &o, &c) == CAIRN_OK) {
    rc = one_call(c, mode);
    if (rc == CAIRN_OK || rc == CAIRN_ERR_TOO_BIG || rc == CAIRN_ERR_TIMEOUT)
      (void)one_call(c, (mode + 1) % 3);
    cairn_grpc_client_free(c);
  }
  close(sv[1]);
  return 0;
}
