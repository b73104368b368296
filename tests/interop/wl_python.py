#!/usr/bin/python3
"""Interop of cairn-agent's Workload API (edge/agent/wl) with a real gRPC
client: python3-grpcio (gRPC C-core) against tests/interop/cairn-wl-server.

    wl_python.py SERVER_BINARY WORKLOAD_DESCRIPTOR_SET

Message classes come from the descriptor set protoc-c wrote for
shared/proto/workload.proto (with google/protobuf/struct.proto). Covers all
seven RPCs, the security header, X509-SVIDs checked with `openssl verify`
against the received bundle and with python3-cryptography, a stream that
receives rotations (short TTL and SIGUSR1), JWT-SVIDs validated with
python3-jwt against the received JWT bundle, ValidateJWTSVID's Struct
claims, attestation by uid/user/path/sha256, other uids (setpriv; skipped
when not root), concurrent streams, cancel and a clean server exit.
Prints TAP lines and "N passed, N failed, N skipped".
"""
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# Shared helpers (tests/helper/wlpb.py): beside this file when copied,
# else in the source tree (no __pycache__ written into either).
sys.dont_write_bytecode = True
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "helper")]

try:
    import grpc
    import jwt
    from cryptography import x509
    from google.protobuf import json_format
    from wlpb import (code_of, key_matches, load_classes, openssl_verify,
                      pem, split_der, uri_san)
except ImportError as e:  # a missing dependency is a failure, not a skip
    print("not ok - python3-grpcio/-protobuf/-jwt/-cryptography missing: %s" % e)
    print("0 passed, 1 failed")
    sys.exit(1)

SERVER, DESC = sys.argv[1], sys.argv[2]
PASSED = FAILED = SKIPPED = 0
TD = "spiffe://example.org"
FED = "spiffe://fed.example"
HDR = [("workload.spiffe.io", "true")]
TTL = 6


def check(cond, what):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok - %s" % what)
    else:
        FAILED += 1
        print("not ok - %s" % what)
    sys.stdout.flush()
    return cond


def skip(what, why):
    global SKIPPED
    SKIPPED += 1
    print("ok - %s # SKIP %s" % (what, why))
    sys.stdout.flush()


M = load_classes(DESC)


def rpc(ch, method, stream, req, rep):
    path = "/SpiffeWorkloadAPI/" + method
    mk = ch.unary_stream if stream else ch.unary_unary
    return mk(path, request_serializer=M[req].SerializeToString,
              response_deserializer=M[rep].FromString)


def x509svid(ch):
    return rpc(ch, "FetchX509SVID", True, "X509SVIDRequest", "X509SVIDResponse")


def serial(svid):
    return x509.load_der_x509_certificate(split_der(svid.x509_svid)[0]).serial_number


CHILD = r'''
import json, sys, grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
fds = descriptor_pb2.FileDescriptorSet()
fds.ParseFromString(open(sys.argv[2], "rb").read())
pool = descriptor_pool.DescriptorPool()
for fd in fds.file:
    pool.Add(fd)
def cls(n):
    d = pool.FindMessageTypeByName(n)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(d)
    return message_factory.MessageFactory(pool).GetPrototype(d)
Req, Rep = cls("X509SVIDRequest"), cls("X509SVIDResponse")
ch = grpc.insecure_channel("unix:" + sys.argv[1])
f = ch.unary_stream("/SpiffeWorkloadAPI/FetchX509SVID",
                    request_serializer=Req.SerializeToString,
                    response_deserializer=Rep.FromString)
try:
    it = f(Req(), metadata=[("workload.spiffe.io", "true")], timeout=10)
    r = next(it)
    it.cancel()
    print(json.dumps({"code": "OK", "ids": [s.spiffe_id for s in r.svids]}))
except grpc.RpcError as e:
    print(json.dumps({"code": e.code().name, "details": e.details()}))
'''


def as_user(work, sock, uid_spec, gid_spec):
    p = subprocess.run(["setpriv", "--reuid=" + uid_spec, "--regid=" + gid_spec,
                        "--clear-groups", "/usr/bin/python3", "-c", CHILD,
                        sock, os.path.join(work, "workload.desc")],
                       capture_output=True, text=True, timeout=60)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"code": "CHILD FAILED", "details": p.stdout + p.stderr}


def main():
    work = tempfile.mkdtemp(prefix="cairn-wl-py-")
    os.chmod(work, 0o755)  # other uids must reach the socket
    shutil.copy(DESC, os.path.join(work, "workload.desc"))
    os.chmod(os.path.join(work, "workload.desc"), 0o644)
    sock = os.path.join(work, "agent.sock")
    uid = os.geteuid()
    exe = os.path.realpath("/proc/self/exe")
    with open(exe, "rb") as f:
        exe_hash = hashlib.sha256(f.read()).hexdigest()
    nobody = pwd.getpwnam("nobody").pw_uid
    entries = [
        "a-me|%s/py/me|unix:uid:%d|me|fed.example" % (TD, uid),
        "b-bin|%s/py/python|unix:uid:%d,unix:path:%s,unix:sha256:%s||" %
        (TD, uid, exe, exe_hash),
        "c-nobody|%s/py/nobody|unix:uid:%d,unix:user:nobody|nobody|" %
        (TD, nobody),
        "d-other|%s/py/other|unix:uid:12345||",
    ]
    entries[3] = entries[3] % TD
    args = [SERVER, sock, "--ttl", str(TTL), "--mint-delay-ms", "20"]
    for e in entries:
        args += ["--entry", e]
    srv = subprocess.Popen(args, stdout=subprocess.PIPE)
    line = srv.stdout.readline().decode().strip()
    check(line == "ready", "server starts (%r)" % line)
    check(oct(os.stat(sock).st_mode & 0o777) == "0o777",
          "Workload API socket is mode 0777")
    ch = grpc.insecure_channel("unix:" + sock)
    try:
        run(ch, work, sock, srv.pid)
    finally:
        ch.close()
        srv.send_signal(signal.SIGTERM)
        try:
            rc = srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            rc = -1
        check(rc == 0, "server exits cleanly on SIGTERM (status %s)" % rc)
        check(not os.path.exists(sock), "socket file removed at shutdown")
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (PASSED, FAILED, SKIPPED))
    return 1 if FAILED else 0


def run(ch, work, sock, srv_pid):
    me, pyid = TD + "/py/me", TD + "/py/python"

    # ---- security header ------------------------------------------------
    c, d = code_of(lambda: next(x509svid(ch)(M["X509SVIDRequest"](),
                                              timeout=5)))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and
          d == "security header missing from request",
          "stream without the security header: %s %r" % (c, d))
    c, d = code_of(lambda: rpc(ch, "FetchJWTSVID", False, "JWTSVIDRequest",
                               "JWTSVIDResponse")(
        M["JWTSVIDRequest"](audience=["a"]), timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and
          d == "security header missing from request",
          "unary call without the security header: %s %r" % (c, d))
    c, d = code_of(lambda: rpc(ch, "FetchJWTSVID", False, "JWTSVIDRequest",
                               "JWTSVIDResponse")(
        M["JWTSVIDRequest"](audience=["a"]), timeout=5,
        metadata=[("workload.spiffe.io", "false")]))
    check(c == grpc.StatusCode.INVALID_ARGUMENT, "header value 'false' refused")

    # ---- FetchX509SVID: first message, contents, rotation -----------------
    t0 = time.time()
    it = x509svid(ch)(M["X509SVIDRequest"](), metadata=HDR, timeout=60)
    first = next(it)
    check(time.time() - t0 < 2.0, "first X509SVIDResponse at once (%.0f ms)" %
          ((time.time() - t0) * 1000))
    ids = [s.spiffe_id for s in first.svids]
    check(ids == [me, pyid], "identities by uid and by path+sha256 of the "
          "python binary, default first: %s" % ids)
    check(first.svids[0].hint == "me", "hint delivered")
    check(list(first.federated_bundles.keys()) == [FED],
          "federated_bundles keyed spiffe://fed.example: %s" %
          list(first.federated_bundles.keys()))
    for i, s in enumerate(first.svids):
        ok, out = openssl_verify(work, "svid%d" % i, s)
        check(ok, "openssl verify of %s against the received bundle: %s" %
              (s.spiffe_id, out.strip()))
        check(key_matches(s), "PKCS#8 key of %s matches its certificate" %
              s.spiffe_id)
        cert = x509.load_der_x509_certificate(split_der(s.x509_svid)[0])
        check(uri_san(cert) == [s.spiffe_id], "URI SAN is the SPIFFE ID")
    cert = x509.load_der_x509_certificate(split_der(first.svids[0].x509_svid)[0])
    life = (cert.not_valid_after - cert.not_valid_before).total_seconds()
    check(life <= TTL + 11, "short-TTL SVID (%d s incl. backdating)" % life)
    # The server re-issues at half the TTL: the open stream gets it.
    t0 = time.time()
    second = next(it)
    waited = time.time() - t0
    check(serial(second.svids[0]) != serial(first.svids[0]) and
          serial(second.svids[1]) != serial(first.svids[1]),
          "rotation received on the same stream after %.1f s" % waited)
    ok, out = openssl_verify(work, "rot", second.svids[0])
    check(ok and key_matches(second.svids[0]), "rotated SVID verifies")
    it.cancel()

    # ---- bundles --------------------------------------------------------
    bit = rpc(ch, "FetchX509Bundles", True, "X509BundlesRequest",
              "X509BundlesResponse")(M["X509BundlesRequest"](), metadata=HDR,
                                     timeout=30)
    b = next(bit)
    bit.cancel()
    check(sorted(b.bundles.keys()) == [TD, FED],
          "FetchX509Bundles keys: %s" % sorted(b.bundles.keys()))
    check(b.bundles[TD] == first.svids[0].bundle,
          "own X.509 bundle equals the SVID's bundle")
    check(b.bundles[FED] == first.federated_bundles[FED],
          "federated X.509 bundle consistent")
    jit = rpc(ch, "FetchJWTBundles", True, "JWTBundlesRequest",
              "JWTBundlesResponse")(M["JWTBundlesRequest"](), metadata=HDR,
                                    timeout=30)
    jb = next(jit)
    jit.cancel()
    check(sorted(jb.bundles.keys()) == [TD, FED],
          "FetchJWTBundles keys: %s" % sorted(jb.bundles.keys()))
    jwks = json.loads(jb.bundles[TD])
    check(len(jwks["keys"]) == 1 and "kid" in jwks["keys"][0] and
          "use" not in jwks["keys"][0] and "spiffe_sequence" not in jwks,
          "own JWT bundle is a standard JWKS")

    # ---- FetchJWTSVID + python3-jwt --------------------------------------
    fetch_jwt = rpc(ch, "FetchJWTSVID", False, "JWTSVIDRequest",
                    "JWTSVIDResponse")
    c, d = code_of(lambda: fetch_jwt(M["JWTSVIDRequest"](), metadata=HDR,
                                     timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and
          d == "audience must be specified", "FetchJWTSVID without audience")
    r = fetch_jwt(M["JWTSVIDRequest"](audience=["aud1", "aud2"]),
                  metadata=HDR, timeout=10)
    check([s.spiffe_id for s in r.svids] == [me, pyid],
          "FetchJWTSVID: one token per identity")
    keyset = jwt.PyJWKSet.from_dict(jwks)
    token = r.svids[0].svid
    hdr = jwt.get_unverified_header(token)
    key = [k for k in keyset.keys if k.key_id == hdr["kid"]]
    claims = None
    try:
        claims = jwt.decode(token, key[0].key, algorithms=["ES256"],
                            audience="aud1")
    except Exception as e:  # reported as a failed check
        print("# python3-jwt: %r" % e)
    check(claims is not None and claims["sub"] == me and
          sorted(claims["aud"]) == ["aud1", "aud2"],
          "python3-jwt validates the JWT-SVID against the JWT bundle")
    r2 = fetch_jwt(M["JWTSVIDRequest"](audience=["aud2", "aud1"],
                                       spiffe_id=me), metadata=HDR, timeout=10)
    check(len(r2.svids) == 1 and r2.svids[0].svid == token,
          "cached JWT-SVID for the same audience set (any order)")
    c, d = code_of(lambda: fetch_jwt(M["JWTSVIDRequest"](
        audience=["a"], spiffe_id=TD + "/py/other"), metadata=HDR, timeout=5))
    check(c == grpc.StatusCode.PERMISSION_DENIED,
          "JWT-SVID for someone else's ID: %s %r" % (c, d))

    # ---- ValidateJWTSVID ------------------------------------------------
    validate = rpc(ch, "ValidateJWTSVID", False, "ValidateJWTSVIDRequest",
                   "ValidateJWTSVIDResponse")
    v = validate(M["ValidateJWTSVIDRequest"](audience="aud2", svid=token),
                 metadata=HDR, timeout=10)
    cl = json_format.MessageToDict(v.claims)
    check(v.spiffe_id == me and cl.get("sub") == me and
          sorted(cl.get("aud", [])) == ["aud1", "aud2"] and
          isinstance(cl.get("exp"), float),
          "ValidateJWTSVID: spiffe_id and Struct claims %s" % cl)
    c, d = code_of(lambda: validate(M["ValidateJWTSVIDRequest"](
        audience="nope", svid=token), metadata=HDR, timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT, "wrong audience: %s %r" % (c, d))
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    c, d = code_of(lambda: validate(M["ValidateJWTSVIDRequest"](
        audience="aud1", svid=forged), metadata=HDR, timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT, "forged signature: %s %r" %
          (c, d))
    c, d = code_of(lambda: validate(M["ValidateJWTSVIDRequest"](
        audience="aud1"), metadata=HDR, timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and d == "svid must be specified",
          "ValidateJWTSVID without svid")

    # ---- WIT and unknown methods ----------------------------------------
    for m, rq, rp in (("FetchWITSVID", "WITSVIDRequest", "WITSVIDResponse"),
                      ("FetchWITBundles", "WITBundlesRequest",
                       "WITBundlesResponse")):
        c, d = code_of(lambda: next(rpc(ch, m, True, rq, rp)(
            M[rq](), metadata=HDR, timeout=5)))
        check(c == grpc.StatusCode.UNIMPLEMENTED, "%s: %s" % (m, c))
    c, d = code_of(lambda: ch.unary_unary("/SpiffeWorkloadAPI/Nope")(
        b"", metadata=HDR, timeout=5))
    check(c == grpc.StatusCode.UNIMPLEMENTED, "unknown method: %s" % c)

    # ---- 20 concurrent streams, a SIGUSR1 rotation reaches all ------------
    streams = [x509svid(ch)(M["X509SVIDRequest"](), metadata=HDR, timeout=60)
               for _ in range(20)]
    firsts = [next(s) for s in streams]
    check(all(len(f.svids) == 2 for f in firsts), "20 concurrent streams")
    os.kill(srv_pid, signal.SIGUSR1)
    seconds = [next(s) for s in streams]
    check(all(serial(b.svids[0]) != serial(a.svids[0])
              for a, b in zip(firsts, seconds)),
          "rotation delivered to all 20 streams")
    for s in streams:
        s.cancel()

    # ---- other uids (setpriv) -------------------------------------------
    if os.geteuid() != 0:
        for what in ("nobody gets its own identity", "uid 12345 gets another",
                     "uid 12346 (no entry) gets PERMISSION_DENIED"):
            skip(what, "needs root for setpriv")
        return
    r = as_user(work, sock, "nobody", "nogroup")
    check(r.get("code") == "OK" and r.get("ids") == [TD + "/py/nobody"],
          "uid nobody gets spiffe://example.org/py/nobody: %s" % r)
    r = as_user(work, sock, "12345", "12345")
    check(r.get("code") == "OK" and r.get("ids") == [TD + "/py/other"],
          "uid 12345 gets spiffe://example.org/py/other: %s" % r)
    r = as_user(work, sock, "12346", "12346")
    check(r.get("code") == "PERMISSION_DENIED" and
          r.get("details") == "no identity issued",
          "uid 12346 without an entry: %s" % r)


if __name__ == "__main__":
    sys.exit(main())
