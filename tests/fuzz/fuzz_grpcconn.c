/* fuzz_grpcconn.c - one server connection fed with untrusted bytes: the
 * input is written to one end of a socketpair whose other end the server
 * adopts, while the loop runs and the server's output is drained. Then the
 * server is freed; every handle must close (uv_loop_close() == 0) and
 * nothing may leak. The echo service gives the bytes real methods to
 * reach (unary, streaming, held calls, async replies).
 *
 * Seeds (corpus/grpcconn/) are client byte streams: preface, SETTINGS,
 * requests with metadata, cancels, oversized and compressed messages. */
#include "grpc_int.h"

#include "cairn/grpc.h"
#include "echo_service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(int fd)
{
  uint8_t buf[65536];
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uv_loop_t loop;
  struct cairn_grpc_server *s = NULL;
  struct cairn_grpc_server_opts o;
  struct echo_svc svc;
  int sv[2];
  size_t off = 0;

  if (size > 1 << 20) return 0;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
    abort();
  if (uv_loop_init(&loop) != 0) abort();
  cairn_grpc_server_opts_init(&o);
  o.max_recv_msg = 64 * 1024;
  o.max_send_msg = 64 * 1024;
  o.max_queue = 128 * 1024;
  o.max_streams = 16;
  if (cairn_grpc_server_new(&loop, &o, &s) != 0 ||
      echo_svc_register(&svc, &loop, s) != 0 ||
      cairn__grpc_server_adopt(s, sv[0]) != 0)
    abort();
  for (int round = 0; round < 64; round++) {
    if (off < size) {
      ssize_t n = send(sv[1], data + off, size - off,
                       MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) off += (size_t)n;
      else if (n < 0 && errno != EAGAIN) off = size;
    } else if (round > 4) {
      break;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    drain(sv[1]);
  }
  cairn_grpc_server_free(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) abort();
  if (svc.held != 0) abort();
  close(sv[1]);
  return 0;
}
