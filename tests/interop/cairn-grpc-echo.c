/* cairn-grpc-echo - serves the cairn.test.Echo service (tests/proto/
 * echo.proto) on a Unix socket, for interop tests with real gRPC clients.
 *
 *   cairn-grpc-echo SOCKET [MODE]     MODE in octal, default 0600
 *
 * Prints "ready" once listening. SIGTERM or SIGINT shuts the server down;
 * the exit status is 0 only when every handle closed (uv_loop_close()
 * returned 0) and the service holds no call any more. SIGPIPE is left at
 * its default on purpose: the library must never raise it. */
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/log.h"
#include "echo_service.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static struct cairn_grpc_server *g_srv;
static uv_signal_t g_term, g_int;

static void on_signal(uv_signal_t *h, int signum)
{
  (void)h;
  fprintf(stderr, "cairn-grpc-echo: signal %d, shutting down\n", signum);
  cairn_grpc_server_free(g_srv);
  g_srv = NULL;
  uv_close((uv_handle_t *)&g_term, NULL);
  uv_close((uv_handle_t *)&g_int, NULL);
}

int main(int argc, char **argv)
{
  uv_loop_t loop;
  struct echo_svc svc;
  unsigned mode = 0600;
  int r;

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s SOCKET [MODE]\n", argv[0]);
    return 2;
  }
  if (argc == 3) mode = (unsigned)strtoul(argv[2], NULL, 8);
  if (getenv("CAIRN_GRPC_DEBUG")) cairn_log_set_level(CAIRN_LOG_DEBUG);
  uv_loop_init(&loop);
  if ((r = cairn_grpc_server_new(&loop, NULL, &g_srv)) != 0 ||
      (r = echo_svc_register(&svc, &loop, g_srv)) != 0 ||
      (r = cairn_grpc_server_listen(g_srv, argv[1], mode)) != 0) {
    fprintf(stderr, "cairn-grpc-echo: %s: %s\n", cairn_strerror(r),
            cairn_errdetail());
    return 1;
  }
  uv_signal_init(&loop, &g_term);
  uv_signal_start(&g_term, on_signal, SIGTERM);
  uv_signal_init(&loop, &g_int);
  uv_signal_start(&g_int, on_signal, SIGINT);
  printf("ready\n");
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  r = uv_loop_close(&loop);
  if (r != 0 || svc.held != 0) {
    fprintf(stderr, "cairn-grpc-echo: unclean shutdown (loop %d, held %llu)\n",
            r, (unsigned long long)svc.held);
    return 3;
  }
  return 0;
}
