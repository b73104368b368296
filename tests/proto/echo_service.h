/* echo_service.h - the cairn.test.Echo service (tests/proto/echo.proto) on
 * the libcairn gRPC server, shared by the unit test, the interop server and
 * the fuzz target. */
#ifndef CAIRN_TEST_ECHO_SERVICE_H
#define CAIRN_TEST_ECHO_SERVICE_H

#include <stdint.h>
#include <uv.h>

#include "cairn/grpc.h"
#include "echo.pb-c.h"

struct echo_svc {
  uv_loop_t *loop;
  struct cairn_grpc_server *srv;
  uint64_t cancels;  /* cancel callbacks seen */
  uint64_t held;     /* calls held across loop iterations */
  int send_error;    /* first failed send of a Count stream */
};

/* Registers /cairn.test.Echo/{Echo,Count,Stats} on srv. svc must outlive
 * the server. */
int echo_svc_register(struct echo_svc *svc, uv_loop_t *loop,
                      struct cairn_grpc_server *srv);

#endif
