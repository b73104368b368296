#!/usr/bin/python3
"""Interop of the libcairn gRPC server with a real client: python3-grpcio
(gRPC C-core), talking to tests/interop/cairn-grpc-echo over a Unix socket.

    grpc_python.py SERVER_BINARY ECHO_DESCRIPTOR_SET

The message classes come from the descriptor set protoc-c wrote for
tests/proto/echo.proto; calls go through grpcio's generic API with those
classes as (de)serialisers. Covers unary, streaming, metadata, peer
credentials, status codes and messages, unknown methods, oversized
messages, cancel, deadlines, concurrency, a client killed mid-stream and a
clean server shutdown. Prints TAP lines and "N passed, N failed".
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

# Shared helpers (tests/helper/wlpb.py): beside this file when copied,
# else in the source tree (no __pycache__ written into either).
sys.dont_write_bytecode = True
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "helper")]

try:
    import grpc
    from wlpb import load_classes
except ImportError as e:  # a missing dependency is a failure, not a skip
    print("not ok - python3-grpcio / python3-protobuf missing: %s" % e)
    print("0 passed, 1 failed")
    sys.exit(1)

SERVER, DESC = sys.argv[1], sys.argv[2]
PASSED = FAILED = 0


def check(cond, what):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok - %s" % what)
    else:
        FAILED += 1
        print("not ok - %s" % what)
    sys.stdout.flush()


M = load_classes(DESC, ("EchoRequest", "EchoReply", "CountRequest",
                         "CountReply", "StatsRequest", "StatsReply"),
                 "cairn.test.")


def unary(ch, method, req_cls, rep_cls):
    return ch.unary_unary("/cairn.test.Echo/" + method,
                          request_serializer=req_cls.SerializeToString,
                          response_deserializer=rep_cls.FromString)


def stats(ch):
    return unary(ch, "Stats", M["StatsRequest"], M["StatsReply"])(
        M["StatsRequest"](), timeout=5)


def wait_stats(ch, pred, secs=5.0):
    end = time.time() + secs
    st = stats(ch)
    while not pred(st) and time.time() < end:
        time.sleep(0.02)
        st = stats(ch)
    return st


def code_of(fn):
    try:
        fn()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, None


KILLED_CLIENT = r'''
import grpc, sys
ch = grpc.insecure_channel("unix:" + sys.argv[1])
# CountRequest{count=1000, interval_ms=1, hold=true, size=65536}
req = b"\x08\xe8\x07\x10\x01\x18\x01\x20\x80\x80\x04"
it = ch.unary_stream("/cairn.test.Echo/Count")(req, timeout=30)
next(it)
print("streaming", flush=True)
sys.stdin.read()
'''


def main():
    work = tempfile.mkdtemp(prefix="cairn-grpc-py-")
    sock = os.path.join(work, "echo.sock")
    srv = subprocess.Popen([SERVER, sock, "0777"], stdout=subprocess.PIPE)
    line = srv.stdout.readline().decode().strip()
    check(line == "ready", "server starts (%r)" % line)
    check(oct(os.stat(sock).st_mode & 0o777) == "0o777",
          "workload-style socket is mode 0777")
    ch = grpc.insecure_channel("unix:" + sock)
    holder = None
    try:
        holder = run(ch, sock)
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            rc = srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            rc = "hung"
        if holder:
            holder["thread"].join(10)
        ch.close()
    if holder:
        check(holder.get("first") and
              holder.get("code") == grpc.StatusCode.UNAVAILABLE,
              "open stream ends UNAVAILABLE at server shutdown (%s)" %
              holder.get("code"))
    check(rc == 0, "server shuts down cleanly, uv_loop_close() == 0 "
          "(exit %s)" % rc)
    check(not os.path.exists(sock), "socket file removed at shutdown")
    if os.path.isdir(work) and not os.listdir(work):
        os.rmdir(work)
    print("%d passed, %d failed" % (PASSED, FAILED))
    sys.exit(1 if FAILED else 0)


def run(ch, sock):
    Echo = unary(ch, "Echo", M["EchoRequest"], M["EchoReply"])
    Count = ch.unary_stream("/cairn.test.Echo/Count",
                            request_serializer=M["CountRequest"]
                            .SerializeToString,
                            response_deserializer=M["CountReply"].FromString)

    # Unary, bytes round trip, peer credentials.
    rep = Echo(M["EchoRequest"](text="hello", data=b"\x00\x01\xff"),
               timeout=5)
    check(rep.text == "hello" and rep.data == b"\x00\x01\xff",
          "unary echo round trip")
    check(rep.peer_pid == os.getpid() and rep.peer_uid == os.getuid() and
          rep.peer_gid == os.getgid(),
          "server sees the client's SO_PEERCRED pid/uid/gid")
    check(rep.path == "/cairn.test.Echo/Echo", "call path")

    # Metadata: a single value, repeated values, as sent by C-core.
    rep, call = Echo.with_call(
        M["EchoRequest"](metadata_key="workload.spiffe.io"), timeout=5,
        metadata=(("workload.spiffe.io", "true"),))
    check(rep.metadata_value == "true" and rep.metadata_count == 1,
          "metadata workload.spiffe.io: true")
    check(call.code() == grpc.StatusCode.OK, "with_call status OK")
    rep = Echo(M["EchoRequest"](metadata_key="authorization"), timeout=5,
               metadata=(("authorization", "Bearer a"),
                         ("authorization", "Bearer b")))
    check(rep.metadata_count == 2 and rep.metadata_value == "Bearer a",
          "repeated metadata counted")

    # Status codes and messages (percent-encoding both ways).
    msg = "no identity issued: 100% caf\u00e9"
    code, details = code_of(lambda: Echo(
        M["EchoRequest"](fail_code=7, fail_message=msg), timeout=5))
    check(code == grpc.StatusCode.PERMISSION_DENIED,
          "PERMISSION_DENIED status (%s)" % code)
    check(details == msg, "grpc-message decoded by C-core (%r)" % details)
    code, details = code_of(lambda: ch.unary_unary(
        "/cairn.test.Echo/Nope")(b"", timeout=5))
    check(code == grpc.StatusCode.UNIMPLEMENTED,
          "unknown method is UNIMPLEMENTED (%s)" % code)
    code, _ = code_of(lambda: ch.unary_unary("/Other/Method")(b"", timeout=5))
    check(code == grpc.StatusCode.UNIMPLEMENTED, "unknown service too")
    code, _ = code_of(lambda: ch.unary_unary("/cairn.test.Echo/Echo")(
        b"\xff\xff", timeout=5))
    check(code == grpc.StatusCode.INVALID_ARGUMENT,
          "unparsable request is the handler's INVALID_ARGUMENT")

    # Async unary reply and a large reply (flow control).
    rep = Echo(M["EchoRequest"](text="later", delay_ms=50), timeout=5)
    check(rep.text == "later", "asynchronous unary reply")
    rep = Echo(M["EchoRequest"](reply_size=3 * 1024 * 1024), timeout=10)
    check(len(rep.data) == 3 * 1024 * 1024, "3 MiB reply")
    code, details = code_of(lambda: Echo(
        M["EchoRequest"](data=b"x" * (4 * 1024 * 1024 + 1)), timeout=10))
    check(code == grpc.StatusCode.RESOURCE_EXHAUSTED,
          "request over 4 MiB is RESOURCE_EXHAUSTED (%s: %s)" %
          (code, details))
    rep = Echo(M["EchoRequest"](text="after"), timeout=5)
    check(rep.text == "after", "channel still fine after the rejection")

    # Streaming.
    got = [m.n for m in Count(M["CountRequest"](count=5), timeout=5)]
    check(got == [1, 2, 3, 4, 5], "server streaming from the handler")
    got = [m.n for m in Count(M["CountRequest"](count=4, interval_ms=10),
                              timeout=5)]
    check(got == [1, 2, 3, 4], "server streaming pushed from a timer")
    got = [m.n for m in Count(M["CountRequest"](count=50, latest=True),
                              timeout=5)]
    check(got == [50], "latest snapshot wins: only the newest is sent")
    got = list(Count(M["CountRequest"](count=0), timeout=5))
    check(got == [], "empty stream (Trailers-Only OK)")

    base = stats(ch)
    # Cancel a held stream after two messages.
    it = Count(M["CountRequest"](count=2, hold=True), timeout=10)
    first = [next(it).n, next(it).n]
    it.cancel()
    check(first == [1, 2], "held stream delivers its messages")
    st = wait_stats(ch, lambda s: s.svc_cancels == base.svc_cancels + 1 and
                    s.svc_held == 0)
    check(st.svc_cancels == base.svc_cancels + 1 and st.svc_held == 0,
          "client cancel reaches the server and frees the call")

    # Deadline on a held stream.
    code, _ = code_of(lambda: list(Count(M["CountRequest"](count=1,
                                                           hold=True),
                                         timeout=0.3)))
    check(code == grpc.StatusCode.DEADLINE_EXCEEDED,
          "deadline on a held stream (%s)" % code)
    st = wait_stats(ch, lambda s: s.svc_cancels == base.svc_cancels + 2 and
                    s.svc_held == 0)
    check(st.svc_cancels == base.svc_cancels + 2 and st.svc_held == 0,
          "expired call freed")

    # 50 concurrent held streams on one channel (one HTTP/2 connection).
    its = [Count(M["CountRequest"](count=1, hold=True), timeout=20)
           for _ in range(50)]
    firsts = [next(i).n for i in its]
    check(firsts == [1] * 50, "50 concurrent streams get their message")
    st = stats(ch)
    check(st.svc_held == 50, "server holds 50 calls (%d)" % st.svc_held)
    for i in its:
        i.cancel()
    st = wait_stats(ch, lambda s: s.svc_held == 0)
    check(st.svc_held == 0 and st.calls == 1, "all 50 freed after cancel")

    # 20 separate connections.
    chans = [grpc.insecure_channel("unix:" + sock, options=[
        ("grpc.use_local_subchannel_pool", 1)]) for _ in range(20)]
    ok = 0
    for i, c in enumerate(chans):
        r = unary(c, "Echo", M["EchoRequest"], M["EchoReply"])(
            M["EchoRequest"](text=str(i)), timeout=5)
        ok += r.text == str(i)
    check(ok == 20, "20 connections each served")
    st = stats(ch)
    check(st.conns >= 21, "server counts the connections (%d)" % st.conns)
    for c in chans:
        c.close()
    st = wait_stats(ch, lambda s: s.conns == 1)
    check(st.conns == 1, "closed connections are released (%d)" % st.conns)

    # A client process SIGKILLed with a busy stream: no RST_STREAM, only
    # EOF while the server writes 64 KiB messages (EPIPE, never SIGPIPE).
    before = stats(ch)
    child = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, sock],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = child.stdout.readline().decode().strip()
    check(line == "streaming", "child client streaming")
    time.sleep(0.1)
    child.kill()
    child.wait()
    st = wait_stats(ch, lambda s: s.svc_cancels == before.svc_cancels + 1 and
                    s.svc_held == 0 and s.conns == 1)
    check(st.svc_cancels == before.svc_cancels + 1 and st.svc_held == 0 and
          st.conns == 1, "killed client's call and connection are freed")

    # An open stream when the server shuts down is ended for the client.
    holder = {}

    def hold():
        try:
            for _ in Count(M["CountRequest"](count=1, hold=True), timeout=20):
                holder["first"] = True
        except grpc.RpcError as e:
            holder["code"] = e.code()
    t = threading.Thread(target=hold)
    t.start()
    end = time.time() + 5
    while "first" not in holder and time.time() < end:
        time.sleep(0.01)
    holder["thread"] = t
    return holder


if __name__ == "__main__":
    main()
