#!/usr/bin/python3
"""Workload API client for integration.agent_wl (tests/integration/
agent_wl.sh): python3-grpcio (gRPC C-core) against a real cairn-agent.

    agent_wl.py DESC SOCKET fetch
    agent_wl.py DESC SOCKET rpcs WORKDIR SPIFFE_ID
    agent_wl.py DESC SOCKET rotation WORKDIR SPIFFE_ID
    agent_wl.py DESC SOCKET watch svid|x509bundles|jwtbundles OUTFILE SECONDS

DESC is the descriptor set protoc-c wrote for shared/proto/workload.proto
(with struct.proto). Limits are multiplied by $IT_TIME_SCALE.

- fetch: one FetchX509SVID (first message, then cancel); prints one JSON
  line {"code", "details", "ids", "serials"}. Also run under setpriv for
  other uids.
- rpcs: every RPC of the API, the security header, the X509-SVID checked
  with `openssl verify` (bundle as -CAfile, intermediates as -untrusted),
  the JWT-SVID with python3-jwt against the JWKS of FetchJWTBundles.
  Writes WORKDIR/agent-bundle.pem and WORKDIR/agent-jwks.json for the
  shell to compare with the server's bundle. Prints TAP lines.
- rotation: one FetchX509SVID stream; waits on it for an SVID with a new
  serial (no reconnect) and verifies it. Prints TAP lines.
- watch: one stream; appends a JSON line to OUTFILE per message
  (svid: {"ids", "serials", "roots"}; x509bundles: {"bundles": {td:
  [sha256 of each root]}}; jwtbundles: {"kids": {td: [kid...]}}) and,
  when the stream ends, {"end": code, "details": ...}. Stops after
  SECONDS.
"""
import hashlib
import json
import os
import sys
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
    print("not ok - python3-grpcio/-protobuf/-jwt/-cryptography: %s" % e)
    sys.exit(1)

HDR = [("workload.spiffe.io", "true")]
TD = "spiffe://example.org"
SCALE = float(os.environ.get("IT_TIME_SCALE", "1") or 1)
FAILED = 0


def check(cond, what):
    global FAILED
    if not cond:
        FAILED += 1
    print("%s - %s" % ("ok" if cond else "not ok", what.replace("\n", " ")))
    sys.stdout.flush()
    return cond


M = {}

RPCS = {  # method: (streaming, request, response)
    "FetchX509SVID": (True, "X509SVIDRequest", "X509SVIDResponse"),
    "FetchX509Bundles": (True, "X509BundlesRequest", "X509BundlesResponse"),
    "FetchJWTSVID": (False, "JWTSVIDRequest", "JWTSVIDResponse"),
    "FetchJWTBundles": (True, "JWTBundlesRequest", "JWTBundlesResponse"),
    "ValidateJWTSVID": (False, "ValidateJWTSVIDRequest",
                        "ValidateJWTSVIDResponse"),
    "FetchWITSVID": (True, "WITSVIDRequest", "WITSVIDResponse"),
    "FetchWITBundles": (True, "WITBundlesRequest", "WITBundlesResponse"),
}


def rpc(ch, method):
    stream, req, rep = RPCS[method]
    mk = ch.unary_stream if stream else ch.unary_unary
    return mk("/SpiffeWorkloadAPI/" + method,
              request_serializer=M[req].SerializeToString,
              response_deserializer=M[rep].FromString)


def req(method, **kw):
    return M[RPCS[method][1]](**kw)


def fingerprints(blob):
    return sorted(hashlib.sha256(d).hexdigest() for d in split_der(blob))


def leaf(svid):
    return x509.load_der_x509_certificate(split_der(svid.x509_svid)[0])


def serial(svid):
    return "%x" % leaf(svid).serial_number


def svid_ok(work, name, svid, want_id):
    ok, out = openssl_verify(work, name, svid, "sslclient")
    check(ok, "openssl verify of %s's X509-SVID (%d certificate(s) in the "
          "chain) against the bundle of the response: %s" %
          (want_id, len(split_der(svid.x509_svid)), out))
    check(uri_san(leaf(svid)) == [want_id],
          "its URI SAN is %s" % want_id)
    check(key_matches(svid), "its PKCS#8 key matches the certificate")


# ---- fetch ----------------------------------------------------------------

def cmd_fetch(ch):
    try:
        it = rpc(ch, "FetchX509SVID")(req("FetchX509SVID"), metadata=HDR,
                                       timeout=30 * SCALE)
        r = next(it)
        it.cancel()
        print(json.dumps({"code": "OK", "ids": [s.spiffe_id for s in r.svids],
                          "serials": [serial(s) for s in r.svids]}))
    except grpc.RpcError as e:
        print(json.dumps({"code": e.code().name, "details": e.details()}))
    return 0


# ---- rpcs -----------------------------------------------------------------

def cmd_rpcs(ch, work, me):
    t = 30 * SCALE
    # The security header.
    c, d = code_of(lambda: next(rpc(ch, "FetchX509SVID")(
        req("FetchX509SVID"), timeout=t)))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and
          d == "security header missing from request",
          "FetchX509SVID without the security header: %s %r" % (c, d))
    c, d = code_of(lambda: rpc(ch, "FetchJWTSVID")(
        req("FetchJWTSVID", audience=["a"]), timeout=t))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and
          d == "security header missing from request",
          "FetchJWTSVID without the security header: %s %r" % (c, d))
    c, d = code_of(lambda: rpc(ch, "ValidateJWTSVID")(
        req("ValidateJWTSVID", audience="a", svid="x.y.z"), timeout=t,
        metadata=[("workload.spiffe.io", "false")]))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and
          d == "security header missing from request",
          "ValidateJWTSVID with header value 'false': %s %r" % (c, d))

    # FetchX509SVID.
    it = rpc(ch, "FetchX509SVID")(req("FetchX509SVID"), metadata=HDR,
                                   timeout=t)
    x = next(it)
    it.cancel()
    ids = [s.spiffe_id for s in x.svids]
    check(ids == [me], "FetchX509SVID: the caller's identity %s" % ids)
    if ids:
        svid_ok(work, "svid", x.svids[0], me)
        lf = leaf(x.svids[0])
        life = (lf.not_valid_after - lf.not_valid_before).total_seconds()
        check(life <= 20 + 10 + 2, "the entry's 20 s X509-SVID TTL "
              "(%d s with the 10 s backdating)" % life)
    check(len(x.federated_bundles) == 0,
          "no federated bundles (the entry federates with nobody): %s" %
          list(x.federated_bundles.keys()))

    # FetchX509Bundles.
    it = rpc(ch, "FetchX509Bundles")(req("FetchX509Bundles"), metadata=HDR,
                                      timeout=t)
    xb = next(it)
    it.cancel()
    check(list(xb.bundles.keys()) == [TD],
          "FetchX509Bundles: the own trust domain %s" % list(xb.bundles.keys()))
    own = xb.bundles.get(TD, b"")
    check(x.svids and own == x.svids[0].bundle,
          "FetchX509Bundles' roots equal the X509-SVID's bundle")
    with open(os.path.join(work, "agent-bundle.pem"), "wb") as f:
        f.write(pem(split_der(own)))

    # FetchJWTBundles.
    it = rpc(ch, "FetchJWTBundles")(req("FetchJWTBundles"), metadata=HDR,
                                     timeout=t)
    jb = next(it)
    it.cancel()
    check(list(jb.bundles.keys()) == [TD],
          "FetchJWTBundles: the own trust domain %s" % list(jb.bundles.keys()))
    jwks = json.loads(jb.bundles.get(TD, b"{}"))
    with open(os.path.join(work, "agent-jwks.json"), "w") as f:
        json.dump(jwks, f)
    check(len(jwks.get("keys", [])) >= 1 and
          all("kid" in k and "use" not in k for k in jwks["keys"]) and
          "spiffe_sequence" not in jwks,
          "the JWT bundle is a plain JWKS with kids (%d key(s))" %
          len(jwks.get("keys", [])))

    # FetchJWTSVID, checked with python3-jwt.
    fetch_jwt = rpc(ch, "FetchJWTSVID")
    c, d = code_of(lambda: fetch_jwt(req("FetchJWTSVID"), metadata=HDR,
                                     timeout=t))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and
          d == "audience must be specified",
          "FetchJWTSVID without audience: %s %r" % (c, d))
    r = fetch_jwt(req("FetchJWTSVID", audience=["aud-a", "aud-b"]),
                  metadata=HDR, timeout=t)
    check([s.spiffe_id for s in r.svids] == [me],
          "FetchJWTSVID: one token for %s" % [s.spiffe_id for s in r.svids])
    token = r.svids[0].svid if r.svids else ""
    claims, err, keys = None, None, []
    try:
        kid = jwt.get_unverified_header(token)["kid"]
        keys = [k for k in jwt.PyJWKSet.from_dict(jwks).keys
                if k.key_id == kid]
        claims = jwt.decode(token, keys[0].key, algorithms=["ES256", "ES384"],
                            audience="aud-b")
    except Exception as e:  # reported as a failed check
        err = repr(e)
    check(claims is not None and claims.get("sub") == me and
          sorted(claims.get("aud", [])) == ["aud-a", "aud-b"],
          "python3-jwt validates the JWT-SVID against FetchJWTBundles' JWKS "
          "(aud, sub): %s" % (err or "sub %s" % claims.get("sub")))
    wrong = None
    try:
        if keys:
            jwt.decode(token, keys[0].key, algorithms=["ES256", "ES384"],
                       audience="aud-c")
    except jwt.InvalidAudienceError as e:
        wrong = e
    except Exception as e:
        print("# unexpected: %r" % e)
    check(wrong is not None, "python3-jwt refuses it for another audience")
    r2 = fetch_jwt(req("FetchJWTSVID", audience=["aud-b", "aud-a"],
                       spiffe_id=me), metadata=HDR, timeout=t)
    check(len(r2.svids) == 1 and r2.svids[0].svid == token,
          "the same audiences in another order get the cached token")
    c, d = code_of(lambda: fetch_jwt(req(
        "FetchJWTSVID", audience=["a"], spiffe_id=TD + "/not-mine"),
        metadata=HDR, timeout=t))
    check(c == grpc.StatusCode.PERMISSION_DENIED and d == "no identity issued",
          "FetchJWTSVID for an ID that is not the caller's: %s %r" % (c, d))

    # ValidateJWTSVID.
    validate = rpc(ch, "ValidateJWTSVID")
    c, d, v = grpc.StatusCode.OK, None, None
    try:
        v = validate(req("ValidateJWTSVID", audience="aud-a", svid=token),
                     metadata=HDR, timeout=t)
    except grpc.RpcError as e:
        c, d = e.code(), e.details()
    cl = json_format.MessageToDict(v.claims) if v else {}
    check(v is not None and v.spiffe_id == me and cl.get("sub") == me and
          sorted(cl.get("aud", [])) == ["aud-a", "aud-b"] and
          isinstance(cl.get("exp"), float),
          "ValidateJWTSVID: spiffe_id and claims %s (%s %r)" % (cl, c, d))
    c, d = code_of(lambda: validate(req(
        "ValidateJWTSVID", audience="aud-c", svid=token), metadata=HDR,
        timeout=t))
    check(c == grpc.StatusCode.INVALID_ARGUMENT,
          "ValidateJWTSVID with another audience: %s %r" % (c, d))
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    c, d = code_of(lambda: validate(req(
        "ValidateJWTSVID", audience="aud-a", svid=forged), metadata=HDR,
        timeout=t))
    check(c == grpc.StatusCode.INVALID_ARGUMENT,
          "ValidateJWTSVID of a forged signature: %s %r" % (c, d))

    # WIT-SVIDs are not supported.
    for m in ("FetchWITSVID", "FetchWITBundles"):
        c, d = code_of(lambda: next(rpc(ch, m)(req(m), metadata=HDR,
                                               timeout=t)))
        check(c == grpc.StatusCode.UNIMPLEMENTED,
              "%s: %s %r" % (m, c, d))
    return 0


# ---- rotation -------------------------------------------------------------

def cmd_rotation(ch, work, me):
    it = rpc(ch, "FetchX509SVID")(req("FetchX509SVID"), metadata=HDR,
                                   timeout=180 * SCALE)
    try:
        first = next(it)
        s0 = serial(first.svids[0])
        t0 = time.time()
        for n in range(1, 6):
            nxt = next(it)
            if nxt.svids and serial(nxt.svids[0]) != s0:
                break
            print("# message %d on the stream kept serial %s" % (n, s0))
        s1 = serial(nxt.svids[0]) if nxt.svids else ""
        check([s.spiffe_id for s in nxt.svids] == [me] and s1 != s0,
              "the open FetchX509SVID stream received a renewed X509-SVID "
              "after %.1f s: serial %s -> %s" % (time.time() - t0, s0, s1))
        if nxt.svids:
            svid_ok(work, "rotated", nxt.svids[0], me)
            check(leaf(nxt.svids[0]).not_valid_after >
                  leaf(first.svids[0]).not_valid_after,
                  "the renewed SVID expires later")
    except grpc.RpcError as e:
        check(False, "rotation on an open stream: %s %r" %
              (e.code(), e.details()))
    except StopIteration:
        check(False, "rotation on an open stream: the stream ended")
    finally:
        it.cancel()
    return 0


# ---- watch ----------------------------------------------------------------

def cmd_watch(ch, kind, out, seconds):
    method = {"svid": "FetchX509SVID", "x509bundles": "FetchX509Bundles",
              "jwtbundles": "FetchJWTBundles"}[kind]
    it = rpc(ch, method)(req(method), metadata=HDR, timeout=seconds * SCALE)

    def emit(doc):
        doc["t"] = round(time.time(), 3)
        with open(out, "a") as f:
            f.write(json.dumps(doc, sort_keys=True) + "\n")

    try:
        for m in it:
            if kind == "svid":
                emit({"ids": sorted(s.spiffe_id for s in m.svids),
                      "serials": [serial(s) for s in m.svids],
                      "roots": fingerprints(m.svids[0].bundle)
                      if m.svids else []})
            elif kind == "x509bundles":
                emit({"bundles": {td: fingerprints(b)
                                  for td, b in m.bundles.items()}})
            else:
                emit({"kids": {td: sorted(k["kid"] for k in
                                          json.loads(b).get("keys", []))
                               for td, b in m.bundles.items()}})
        emit({"end": "OK", "details": ""})
    except grpc.RpcError as e:
        emit({"end": e.code().name, "details": e.details()})
    return 0


def main():
    global M
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    M = load_classes(sys.argv[1])
    sock, cmd, args = sys.argv[2], sys.argv[3], sys.argv[4:]
    ch = grpc.insecure_channel("unix:" + sock)
    try:
        if cmd == "fetch":
            return cmd_fetch(ch)
        if cmd == "rpcs":
            cmd_rpcs(ch, args[0], args[1])
        elif cmd == "rotation":
            cmd_rotation(ch, args[0], args[1])
        elif cmd == "watch":
            return cmd_watch(ch, args[0], args[1], float(args[2]))
        else:
            print(__doc__)
            return 2
    finally:
        ch.close()
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
