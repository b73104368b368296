/* cairn/grpc.h - gRPC over a Unix socket: a libuv server and a blocking
 * client, both on nghttp2 (HTTP/2) with protobuf-c messages.
 *
 * The server serves unary and server-streaming methods on a caller's
 * uv_loop_t. Requests are collected until the client half-closes, un-framed
 * (exactly one uncompressed message, at most max_recv_msg bytes) and handed
 * to the method's handler together with a call object. The handler may
 * answer at once or keep the call and answer later from any other callback
 * on the same loop; a streaming call may send any number of messages before
 * it is finished with a gRPC status. A client that cancels or disconnects
 * is reported through the call's cancel callback.
 *
 * Call ownership: the application holds a call from the moment its handler
 * is entered until (a) it calls cairn_grpc_call_finish() or (b) the call's
 * cancel callback runs, whichever comes first. After either, the pointer
 * must not be used again: the library frees the call. An application that
 * keeps a call after its handler returns must therefore set a cancel
 * callback to learn when to drop it.
 *
 * Threads: a server and all its calls belong to the thread running its
 * loop. A client object is used by one thread at a time.
 *
 * SIGPIPE: every socket write here is a send(MSG_NOSIGNAL), so a peer that
 * goes away cannot kill the process. Programs should still ignore SIGPIPE
 * (signal(SIGPIPE, SIG_IGN)) for the other descriptors they write to.
 */
#ifndef CAIRN_GRPC_H
#define CAIRN_GRPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>
#include <uv.h>

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum cairn_grpc_status {
  CAIRN_GRPC_OK = 0,
  CAIRN_GRPC_CANCELLED = 1,
  CAIRN_GRPC_UNKNOWN = 2,
  CAIRN_GRPC_INVALID_ARGUMENT = 3,
  CAIRN_GRPC_DEADLINE_EXCEEDED = 4,
  CAIRN_GRPC_NOT_FOUND = 5,
  CAIRN_GRPC_ALREADY_EXISTS = 6,
  CAIRN_GRPC_PERMISSION_DENIED = 7,
  CAIRN_GRPC_RESOURCE_EXHAUSTED = 8,
  CAIRN_GRPC_FAILED_PRECONDITION = 9,
  CAIRN_GRPC_ABORTED = 10,
  CAIRN_GRPC_OUT_OF_RANGE = 11,
  CAIRN_GRPC_UNIMPLEMENTED = 12,
  CAIRN_GRPC_INTERNAL = 13,
  CAIRN_GRPC_UNAVAILABLE = 14,
  CAIRN_GRPC_DATA_LOSS = 15,
  CAIRN_GRPC_UNAUTHENTICATED = 16
};

/* Static upper-case name ("PERMISSION_DENIED"); "UNKNOWN_CODE" when out of
 * range. */
const char *cairn_grpc_status_name(int status);

/* Defaults and hard limits. */
#define CAIRN_GRPC_MSG_MAX_DEFAULT (4u * 1024 * 1024)  /* gRPC's default */
#define CAIRN_GRPC_MSG_MAX_LIMIT (64u * 1024 * 1024)   /* largest allowed cap */
#define CAIRN_GRPC_STREAMS_DEFAULT 100     /* concurrent calls per connection */
#define CAIRN_GRPC_CONNS_DEFAULT 1024      /* connections per server */
#define CAIRN_GRPC_METADATA_MAX 16384      /* request/response header bytes */
#define CAIRN_GRPC_METADATA_COUNT_MAX 64   /* custom metadata entries */
#define CAIRN_GRPC_STATUS_MSG_MAX 1024     /* grpc-message bytes, decoded */
/* Longest socket path: sizeof(sun_path) - 1. */
#define CAIRN_GRPC_SOCK_PATH_MAX 107

/* One metadata entry (an HTTP/2 header): lower-case name, printable ASCII
 * value. */
struct cairn_grpc_md {
  const char *name;
  const char *value;
};

/* Peer credentials captured with SO_PEERCRED when the connection was
 * accepted. pid is subject to reuse once the peer exits. */
struct cairn_grpc_peer {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

/* ======================================================================
 * Server
 * ====================================================================== */

struct cairn_grpc_server;
struct cairn_grpc_call;

enum cairn_grpc_kind {
  CAIRN_GRPC_UNARY = 1,           /* one request, one response message */
  CAIRN_GRPC_SERVER_STREAMING = 2 /* one request, any number of responses */
};

/* Limits of a server; fill with cairn_grpc_server_opts_init() and adjust.
 * Zero fields are replaced by the defaults. */
struct cairn_grpc_server_opts {
  size_t max_recv_msg;      /* request message cap (RESOURCE_EXHAUSTED past
                               it); default CAIRN_GRPC_MSG_MAX_DEFAULT */
  size_t max_send_msg;      /* response message cap (send returns
                               CAIRN_ERR_TOO_BIG); default 4 MiB */
  size_t max_queue;         /* bytes of response messages queued per call and
                               not yet handed to HTTP/2; one message is always
                               accepted into an empty queue; default 4 MiB */
  uint32_t max_streams;     /* concurrent calls per connection, advertised as
                               SETTINGS_MAX_CONCURRENT_STREAMS; default 100 */
  uint32_t max_conns;       /* connections; more are accepted and closed at
                               once; default 1024 */
  size_t write_high_water;  /* per connection: stop producing output (and
                               reading) while this many bytes wait for the
                               socket; default 256 KiB */
};

void cairn_grpc_server_opts_init(struct cairn_grpc_server_opts *o);

/* Creates a server on loop (not owned; it must outlive the server). opts
 * may be NULL for the defaults. *out: cairn_grpc_server_free(). */
int cairn_grpc_server_new(uv_loop_t *loop,
                          const struct cairn_grpc_server_opts *opts,
                          struct cairn_grpc_server **out);

/* Handler of a method. req/len is the request message (un-framed; valid
 * only during the call; len may be 0). arg is the pointer given to
 * cairn_grpc_server_add_method(). See the ownership rule at the top. */
typedef void (*cairn_grpc_handler_fn)(struct cairn_grpc_call *call,
                                      const uint8_t *req, size_t len,
                                      void *arg);

/* Registers a method by its full path, "/<package.Service>/<Method>" (e.g.
 * "/SpiffeWorkloadAPI/FetchX509SVID"); the path is copied.
 * CAIRN_ERR_INVAL for a malformed path or kind, CAIRN_ERR_EXISTS for a
 * path already registered. Requests for unregistered paths are answered
 * with UNIMPLEMENTED. */
int cairn_grpc_server_add_method(struct cairn_grpc_server *s,
                                 const char *path, enum cairn_grpc_kind kind,
                                 cairn_grpc_handler_fn fn, void *arg);

/* Creates the Unix socket at path with exactly the given mode (e.g. 0777
 * for the Workload API, 0600 or 0660 for an admin socket) and starts
 * accepting. The file never has a looser mode than requested, whatever the
 * umask. An existing socket file nobody listens on is replaced; a socket
 * someone still listens on, or a file that is not a socket, is
 * CAIRN_ERR_EXISTS (and left alone). CAIRN_ERR_TOO_BIG when path is longer
 * than CAIRN_GRPC_SOCK_PATH_MAX, CAIRN_ERR_INVAL when already listening,
 * CAIRN_ERR_IO for socket errors (detail names the path). The directory
 * must exist. The file is removed by cairn_grpc_server_free() if it is
 * still the one created here. */
int cairn_grpc_server_listen(struct cairn_grpc_server *s, const char *path,
                             unsigned mode);

/* Counters for health output and tests. */
struct cairn_grpc_server_stats {
  uint64_t conns;           /* open connections */
  uint64_t calls;           /* open calls (all states) */
  uint64_t conns_total;     /* connections accepted */
  uint64_t conns_rejected;  /* closed at once: max_conns reached */
  uint64_t calls_total;     /* calls started */
  uint64_t calls_cancelled; /* calls the client reset or abandoned before
                               their status was sent */
  uint64_t msgs_replaced;   /* queued messages dropped by send_latest */
};
void cairn_grpc_server_get_stats(const struct cairn_grpc_server *s,
                                 struct cairn_grpc_server_stats *st);

/* Shuts the server down: stops listening and removes the socket file,
 * sends GOAWAY to every connection (best effort) and closes it. The cancel
 * callback of every call the application still holds runs during this
 * call. Memory is released when libuv has run the close callbacks, so the
 * caller must let the loop run afterwards (uv_run) before uv_loop_close(),
 * which then returns 0. Safe to call from a handler or cancel callback
 * (the work is then done when that callback returns). NULL-safe. */
void cairn_grpc_server_free(struct cairn_grpc_server *s);

/* ---- calls ---------------------------------------------------------- */

/* The request's method path ("/pkg.Service/Method"). */
const char *cairn_grpc_call_path(const struct cairn_grpc_call *c);

/* Credentials of the connection's peer (pid -1 and uid/gid (uid_t)-1 if
 * the kernel gave none). NULL only for a NULL call. */
const struct cairn_grpc_peer *cairn_grpc_call_peer(
    const struct cairn_grpc_call *c);

/* The first value of request metadata name (lower-case, e.g.
 * "workload.spiffe.io", "authorization"), or NULL when absent. *count (if
 * not NULL) gets the number of entries with that name, so a caller can
 * insist on exactly one. Pseudo-headers are not metadata. Pointers are
 * valid as long as the call. */
const char *cairn_grpc_call_metadata(const struct cairn_grpc_call *c,
                                     const char *name, size_t *count);

/* The i-th request metadata entry in arrival order; CAIRN_ERR_NOT_FOUND
 * past the end. */
int cairn_grpc_call_metadata_at(const struct cairn_grpc_call *c, size_t i,
                                struct cairn_grpc_md *md);

/* Application data attached to the call (not owned). */
void cairn_grpc_call_set_data(struct cairn_grpc_call *c, void *data);
void *cairn_grpc_call_get_data(const struct cairn_grpc_call *c);

/* Called once when the client cancels the call (RST_STREAM), its deadline
 * expires, its connection closes or the server is freed, before the
 * application finished the call. The call is freed when it returns; inside
 * it, only cairn_grpc_call_get_data() and the read-only accessors may be
 * used (send/finish fail with CAIRN_ERR_NET). */
typedef void (*cairn_grpc_cancel_fn)(struct cairn_grpc_call *call,
                                     void *arg);
void cairn_grpc_call_set_cancel(struct cairn_grpc_call *c,
                                cairn_grpc_cancel_fn fn, void *arg);

/* Queues one response message (the bytes are copied and framed). Output is
 * written when control returns to the loop. CAIRN_ERR_TOO_BIG when the
 * message exceeds max_send_msg or the call's queue would exceed max_queue
 * (the message is then not queued: a slow client; finish the call or use
 * send_latest), CAIRN_ERR_INVAL for a second message on a unary call,
 * CAIRN_ERR_NET when the call was cancelled, CAIRN_ERR_NOMEM. */
int cairn_grpc_call_send(struct cairn_grpc_call *c, const void *msg,
                         size_t len);

/* "Latest snapshot wins": like cairn_grpc_call_send(), but first drops
 * every queued message of this call that HTTP/2 has not started to send,
 * so a client that reads slowly gets the newest state and the queue never
 * holds more than the message in flight plus this one (max_queue does not
 * apply; the bound is 2 * max_send_msg). For streams whose messages are
 * complete snapshots (Workload API). */
int cairn_grpc_call_send_latest(struct cairn_grpc_call *c, const void *msg,
                                size_t len);

/* The same, packing a protobuf-c message. */
int cairn_grpc_call_send_pb(struct cairn_grpc_call *c,
                            const ProtobufCMessage *m);
int cairn_grpc_call_send_latest_pb(struct cairn_grpc_call *c,
                                   const ProtobufCMessage *m);

/* Ends the call with a gRPC status and optional message (any bytes, NULL
 * for none; sent percent-encoded, cut to CAIRN_GRPC_STATUS_MSG_MAX).
 * Queued messages are sent first, then the trailers; a call that sent no
 * message gets a Trailers-Only response. The call belongs to the library
 * afterwards, whatever the result. Finishing a unary call with
 * CAIRN_GRPC_OK and no message sends INTERNAL instead and returns
 * CAIRN_ERR_INVAL; a status outside 0..16 is sent as UNKNOWN and returns
 * CAIRN_ERR_INVAL. CAIRN_ERR_NET when the call was already cancelled,
 * CAIRN_ERR_INVAL when it was already finished. */
int cairn_grpc_call_finish(struct cairn_grpc_call *c, int status,
                           const char *message);

/* send() + finish(OK): the usual end of a unary handler. On a send error
 * the call is finished with INTERNAL (RESOURCE_EXHAUSTED for TOO_BIG) and
 * the error is returned; the call belongs to the library either way. */
int cairn_grpc_call_reply(struct cairn_grpc_call *c, const void *msg,
                          size_t len);
int cairn_grpc_call_reply_pb(struct cairn_grpc_call *c,
                             const ProtobufCMessage *m);

/* ======================================================================
 * Blocking client (for CLIs): nghttp2 over a blocking socket and poll(2).
 * ====================================================================== */

struct cairn_grpc_client;

struct cairn_grpc_client_opts {
  size_t max_recv_msg;  /* response message cap; default 4 MiB */
  size_t max_send_msg;  /* request message cap; default 4 MiB */
};

void cairn_grpc_client_opts_init(struct cairn_grpc_client_opts *o);

/* Connects to the Unix socket at path (the "unix://" prefix of
 * SPIFFE_ENDPOINT_SOCKET is accepted and stripped) within timeout_ms.
 * opts may be NULL. CAIRN_ERR_NOT_FOUND when there is no such socket,
 * CAIRN_ERR_PERM when access is denied, CAIRN_ERR_TIMEOUT, CAIRN_ERR_IO
 * (refused, other errors), CAIRN_ERR_TOO_BIG for a long path.
 * *out: cairn_grpc_client_free(). */
int cairn_grpc_client_connect(const char *path, int timeout_ms,
                              const struct cairn_grpc_client_opts *opts,
                              struct cairn_grpc_client **out);

/* Closes the connection. NULL-safe. */
void cairn_grpc_client_free(struct cairn_grpc_client *c);

/* Outcome of a call. Clear with cairn_grpc_reply_cleanup(). */
struct cairn_grpc_reply {
  int status;        /* grpc-status (enum cairn_grpc_status) */
  char *message;     /* grpc-message, percent-decoded, control bytes
                        shown as '?'; "" when none; never NULL after
                        CAIRN_OK */
  uint8_t *data;     /* unary: the response message (free()d by cleanup);
                        NULL for streaming calls and on a non-OK status */
  size_t len;
  size_t messages;   /* response messages received */
  int finished;      /* 1 when the server ended the call with a status; 0
                        when the client stopped a stream early */
};

void cairn_grpc_reply_cleanup(struct cairn_grpc_reply *r);

/* Unary call: sends req (already packed) with the given metadata to path,
 * waits at most timeout_ms (also sent as grpc-timeout) for the answer.
 * CAIRN_OK when the call ended with a gRPC status (any status; see
 * r->status); an HTTP error without grpc-status is mapped to a status as
 * gRPC clients do. Otherwise: CAIRN_ERR_TIMEOUT (the stream is cancelled),
 * CAIRN_ERR_TOO_BIG (request past max_send_msg or response past
 * max_recv_msg), CAIRN_ERR_PARSE (bad framing, missing status, more than
 * one response message, OK without a message), CAIRN_ERR_NET (connection
 * lost, stream reset or refused by the server), CAIRN_ERR_INVAL (bad
 * metadata: names must be lower-case tokens, not reserved; values printable
 * ASCII). The connection stays usable after a status, a timeout or
 * CAIRN_ERR_TOO_BIG, but not after NET or PARSE errors. *r is cleared on
 * entry; clean it up in every case. */
int cairn_grpc_client_unary(struct cairn_grpc_client *c, const char *path,
                            const struct cairn_grpc_md *md, size_t n_md,
                            const void *req, size_t req_len, int timeout_ms,
                            struct cairn_grpc_reply *r);

/* Called for each message of a server stream (msg valid only during the
 * call). Return 0 to go on, non-zero to stop: the stream is then cancelled
 * and the call returns CAIRN_OK with r->finished = 0. Must not use the
 * client object. */
typedef int (*cairn_grpc_msg_fn)(const uint8_t *msg, size_t len, void *arg);

/* Server-streaming call: like cairn_grpc_client_unary(), but every message
 * goes to fn; the call also stops (cancelling the stream) after max_msgs
 * messages when max_msgs > 0. timeout_ms bounds the whole call:
 * CAIRN_ERR_TIMEOUT when it expires first, whatever was received. */
int cairn_grpc_client_stream(struct cairn_grpc_client *c, const char *path,
                             const struct cairn_grpc_md *md, size_t n_md,
                             const void *req, size_t req_len, int timeout_ms,
                             size_t max_msgs, cairn_grpc_msg_fn fn, void *arg,
                             struct cairn_grpc_reply *r);

#endif
