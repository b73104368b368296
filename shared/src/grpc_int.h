/* grpc_int.h - internals shared by grpc_server.c, grpc_client.c, the unit
 * test and the fuzz targets: gRPC message (un)framing, grpc-message
 * percent-encoding, header checks, and an output queue for non-blocking
 * sockets. */
#ifndef CAIRN_GRPC_INT_H
#define CAIRN_GRPC_INT_H

#include "cairn/buf.h"
#include "cairn/grpc.h"

#include <stddef.h>
#include <stdint.h>

/* Length of the gRPC message prefix: flag byte + 4-byte big-endian length. */
#define CAIRN__GRPC_PREFIX 5

/* ---- incremental un-framing of untrusted bytes ---- */

/* Receives one complete message; takes ownership of msg (heap, release
 * with cairn_freezero(msg, len), never NULL). A non-zero return stops
 * cairn__grpc_deframer_feed(), which then returns that code. */
typedef int (*cairn__grpc_msg_fn)(uint8_t *msg, size_t len, void *arg);

struct cairn__grpc_deframer {
  size_t max;                       /* message cap */
  uint8_t hdr[CAIRN__GRPC_PREFIX];  /* prefix bytes seen so far */
  size_t hdr_len;
  size_t want;                      /* body bytes still missing */
  struct cairn_buf body;            /* body of the current message */
  int err;                          /* sticky error, 0 while healthy */
};

void cairn__grpc_deframer_init(struct cairn__grpc_deframer *d, size_t max);
/* Consumes all of p/n, calling fn for each completed message. Errors are
 * sticky: CAIRN_ERR_TOO_BIG (declared length past max, detected from the
 * prefix alone), CAIRN_ERR_UNSUPPORTED (compressed flag), CAIRN_ERR_PARSE
 * (flag byte other than 0 or 1), CAIRN_ERR_NOMEM, or fn's code. */
int cairn__grpc_deframer_feed(struct cairn__grpc_deframer *d,
                              const uint8_t *p, size_t n,
                              cairn__grpc_msg_fn fn, void *arg);
/* 1 when part of a message (prefix or body) has been fed. */
int cairn__grpc_deframer_partial(const struct cairn__grpc_deframer *d);
/* Frees (zeroising) a partial message. */
void cairn__grpc_deframer_cleanup(struct cairn__grpc_deframer *d);

/* Writes the uncompressed-message prefix for a body of len bytes
 * (len must fit in 32 bits). */
void cairn__grpc_prefix(uint8_t out[CAIRN__GRPC_PREFIX], size_t len);

/* ---- grpc-message ---- */

/* Percent-encodes s (at most CAIRN_GRPC_STATUS_MSG_MAX bytes of it) as the
 * gRPC spec asks: bytes outside 0x20..0x7E and '%' become %XX. out needs
 * 3 * CAIRN_GRPC_STATUS_MSG_MAX + 1 bytes; returns the encoded length. */
#define CAIRN__GRPC_PCT_OUT_MAX (3 * CAIRN_GRPC_STATUS_MSG_MAX + 1)
size_t cairn__grpc_pct_encode(const char *s, char *out);

/* Decodes an untrusted grpc-message value. Like gRPC clients it is
 * lenient: a '%' not followed by two hex digits is kept literally. The
 * result is cut at CAIRN_GRPC_STATUS_MSG_MAX bytes, and NUL and other
 * control bytes become '?', so it is safe to print. *out: free(). */
int cairn__grpc_pct_decode(const uint8_t *v, size_t n, char **out);

/* ---- header values ---- */

/* grpc-status: 1 to 3 ASCII digits; a value over 16 is returned as is (a
 * caller maps unknown codes to UNKNOWN). CAIRN_ERR_PARSE otherwise. */
int cairn__grpc_parse_status(const uint8_t *v, size_t n, int *status);
/* :status: exactly 3 digits, 100..599. */
int cairn__grpc_parse_http_status(const uint8_t *v, size_t n, int *status);
/* The gRPC status a client reports for an HTTP status without
 * grpc-status (grpc/doc/http-grpc-status-mapping.md). */
int cairn__grpc_http_to_status(int http_status);
/* 1 for "application/grpc", "application/grpc+<x>", "application/grpc;<x>". */
int cairn__grpc_content_type_ok(const uint8_t *v, size_t n);
/* 1 when name is usable as custom metadata: 1..255 bytes of [a-z0-9-_.],
 * not starting with ':' and not one of the headers the transport sets
 * (content-type, te, grpc-*, user-agent, host, connection...). */
int cairn__grpc_md_name_ok(const char *name);
/* 1 when value is 0..8191 bytes of printable ASCII (0x20..0x7E). */
int cairn__grpc_md_value_ok(const char *value);
/* grpc-timeout value for ms milliseconds ("250m", at most 8 digits, in
 * seconds or hours past that). out needs 16 bytes. */
void cairn__grpc_timeout_format(int64_t ms, char out[16]);

/* ---- output queue of a non-blocking socket ---- */

struct cairn__grpc_outq {
  uint8_t *p;
  size_t off;   /* first unsent byte */
  size_t len;   /* end of data */
  size_t cap;
};

size_t cairn__grpc_outq_pending(const struct cairn__grpc_outq *q);
int cairn__grpc_outq_append(struct cairn__grpc_outq *q, const uint8_t *p,
                            size_t n);
/* Sends what the socket takes (send(MSG_NOSIGNAL|MSG_DONTWAIT)), zeroising
 * sent bytes. CAIRN_OK (also when the socket is full) or CAIRN_ERR_IO. */
int cairn__grpc_outq_send(struct cairn__grpc_outq *q, int fd);
void cairn__grpc_outq_cleanup(struct cairn__grpc_outq *q);

/* ---- tests and fuzzing ---- */

/* Serves an already connected stream socket (e.g. one end of a
 * socketpair) as if it had been accepted; takes ownership of fd, also on
 * failure. */
int cairn__grpc_server_adopt(struct cairn_grpc_server *s, int fd);
/* The client's socket, so tests can break the connection underneath. */
int cairn__grpc_client_fd(const struct cairn_grpc_client *c);
/* A client on an already connected stream socket (takes ownership of fd,
 * also on failure), for the fuzz target. */
int cairn__grpc_client_adopt(int fd, const struct cairn_grpc_client_opts *o,
                             struct cairn_grpc_client **out);

#endif
