#!/usr/bin/python3
"""JWT-SVID and SPIFFE bundle interop with PyJWT and python3-cryptography.

    jwt_interop.py CAIRN-JWTTOOL WORKDIR

1. libcairn -> PyJWT: for ES256 and ES384, cairn-jwttool mints a key, a
   bundle and a token; PyJWT verifies the token with the public key taken
   from OUR bundle's jwt-svid JWK (jwt.PyJWK(jwk).key) and from the standard
   JWKS; the x509-svid JWK holds one std-base64 DER CA certificate that
   cryptography loads, whose key equals the JWK's x/y.
2. PyJWT -> libcairn: PyJWT signs ES256 and ES384 tokens with keys made by
   cryptography; a bundle JSON with their JWKs (use jwt-svid) is written and
   cairn-jwttool must accept the tokens, and reject a tampered one, an
   HS256 and an alg "none" token, a wrong audience, an expired token and a
   token signed by another key under the same kid.
3. A CA certificate made by cryptography in an x509-svid entry is accepted;
   a non-CA one and an entry with two certificates are refused.
"""
import base64
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOOL, WORK = sys.argv[1], sys.argv[2]
TD = "example.org"
SUB = "spiffe://example.org/ns/default/sa/web"
AUD = "spiffe://example.org/db"
CURVES = {"ES256": (ec.SECP256R1(), "P-256", 32, "ec-p256"),
          "ES384": (ec.SECP384R1(), "P-384", 48, "ec-p384")}

passed = failed = 0


def check(cond, what, extra=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - %s %s" % (what, extra))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_int(s):
    return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)),
                          "big")


def tool(*args):
    p = subprocess.run([TOOL] + list(args), capture_output=True, text=True,
                       timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


def write(name, data):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(data)
    return path


def cairn_validate(bundle_path, token, aud=AUD, plain=False):
    tp = write("tok-check", token)
    args = ["validate", bundle_path, TD, aud, tp] + (["plain"] if plain else [])
    return tool(*args)


def expect_ok(res, what):
    check(res[0] == 0 and res[1] == "ok " + SUB, what, repr(res))


def expect_err(res, name, what):
    check(res[0] == 1 and res[1].startswith("error " + name), what, repr(res))


def cairn_to_pyjwt(alg):
    crv, crvname, clen, ktype = CURVES[alg]
    d = os.path.join(WORK, "mint-" + alg)
    os.makedirs(d)
    rc, out = tool("mint", d, ktype, TD, SUB, AUD, "300")
    check(rc == 0, "%s: cairn-jwttool mint" % alg, out)
    if rc != 0:
        return
    tok = open(os.path.join(d, "token")).read().strip()
    kid = open(os.path.join(d, "kid")).read().strip()
    bundle = json.load(open(os.path.join(d, "bundle.json")))

    hdr = jwt.get_unverified_header(tok)
    check(hdr == {"alg": alg, "kid": kid, "typ": "JWT"},
          "%s: header is alg/kid/typ" % alg, repr(hdr))
    check(len(kid) == 32 and kid.isalnum(), "%s: kid is 32 base62" % alg, kid)
    check(bundle.get("spiffe_sequence") == 1 and
          bundle.get("spiffe_refresh_hint") == 300,
          "%s: bundle sequence and refresh hint" % alg, repr(bundle))

    jwks = [k for k in bundle["keys"] if k.get("use") == "jwt-svid"]
    check(len(jwks) == 1 and jwks[0].get("kid") == kid,
          "%s: one jwt-svid JWK with the kid" % alg)
    key = jwt.PyJWK(jwks[0]).key
    try:
        claims = jwt.decode(tok, key, algorithms=[alg], audience=AUD)
        check(claims["sub"] == SUB and claims["aud"] == [AUD] and
              claims["exp"] - claims["iat"] == 300,
              "%s: PyJWT verifies our token with our bundle JWK" % alg,
              repr(claims))
    except Exception as e:  # noqa: BLE001
        check(False, "%s: PyJWT verifies our token" % alg, repr(e))
    # PyJWT also refuses our token once tampered with (sanity of the setup).
    h, p, s = tok.split(".")
    forged = b64u(json.dumps({"sub": "spiffe://example.org/admin",
                              "aud": [AUD], "exp": int(time.time()) + 300})
                  .encode())
    try:
        jwt.decode(h + "." + forged + "." + s, key, algorithms=[alg],
                   audience=AUD)
        check(False, "%s: PyJWT rejects our tampered token" % alg)
    except jwt.InvalidSignatureError:
        check(True, "%s: PyJWT rejects our tampered token" % alg)

    # The standard JWKS (Workload API form): no use, no spiffe_* members.
    std = json.load(open(os.path.join(d, "jwks.json")))
    check(set(std) == {"keys"} and all("use" not in k for k in std["keys"]) and
          [k["kid"] for k in std["keys"]] == [kid],
          "%s: standard JWKS has only keys without use" % alg, repr(std))
    kset = jwt.PyJWKSet.from_dict(std)
    try:
        jwt.decode(tok, kset.keys[0].key, algorithms=[alg], audience=AUD)
        check(True, "%s: PyJWT verifies with the standard JWKS" % alg)
    except Exception as e:  # noqa: BLE001
        check(False, "%s: PyJWT verifies with the standard JWKS" % alg,
              repr(e))

    # The x509-svid entry: no kid, one std-base64 DER CA cert whose key is
    # the JWK's key.
    xs = [k for k in bundle["keys"] if k.get("use") == "x509-svid"]
    check(len(xs) == 1 and "kid" not in xs[0] and len(xs[0]["x5c"]) == 1,
          "%s: one x509-svid JWK, no kid, one x5c" % alg)
    if xs:
        der = base64.b64decode(xs[0]["x5c"][0], validate=True)
        cert = x509.load_der_x509_certificate(der)
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        check(bc.critical and bc.value.ca, "%s: x5c cert is a CA" % alg)
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName)
        check(san.value.get_values_for_type(
            x509.UniformResourceIdentifier) == ["spiffe://" + TD],
            "%s: x5c cert has the trust-domain ID" % alg)
        nums = cert.public_key().public_numbers()
        check(xs[0]["kty"] == "EC" and xs[0]["crv"] == crvname and
              b64u_int(xs[0]["x"]) == nums.x and
              b64u_int(xs[0]["y"]) == nums.y,
              "%s: x509 JWK key parameters match the certificate" % alg)
        check(isinstance(jwt.PyJWK(xs[0]).key, ec.EllipticCurvePublicKey),
              "%s: x509 JWK loads in PyJWT" % alg)

    # Our own validator agrees, with both forms.
    expect_ok(cairn_validate(os.path.join(d, "bundle.json"), tok),
              "%s: cairn validates its token" % alg)
    expect_ok(cairn_validate(os.path.join(d, "jwks.json"), tok, plain=True),
              "%s: cairn validates with the standard JWKS" % alg)


def pyjwt_to_cairn():
    now = int(time.time())
    keys, jwks = {}, []
    for alg, (crv, crvname, clen, _) in CURVES.items():
        priv = ec.generate_private_key(crv)
        nums = priv.public_key().public_numbers()
        kid = "py-" + alg
        keys[alg] = (priv, kid)
        jwks.append({"kty": "EC", "use": "jwt-svid", "kid": kid,
                     "crv": crvname,
                     "x": b64u(nums.x.to_bytes(clen, "big")),
                     "y": b64u(nums.y.to_bytes(clen, "big"))})
    bundle = write("py-bundle.json",
                   json.dumps({"keys": jwks, "spiffe_sequence": 4}))
    rc, out = tool("info", bundle, TD)
    check(rc == 0 and out == "x509 0 jwt 2 seq 4 hint 0",
          "python-made bundle parses", out)

    claims = {"sub": SUB, "aud": [AUD], "exp": now + 300, "iat": now}
    for alg, (priv, kid) in keys.items():
        pem = priv.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        tok = jwt.encode(claims, pem, algorithm=alg, headers={"kid": kid})
        expect_ok(cairn_validate(bundle, tok),
                  "%s: cairn accepts a PyJWT token" % alg)
        tok_s = jwt.encode(dict(claims, aud=AUD), pem, algorithm=alg,
                           headers={"kid": kid})
        expect_ok(cairn_validate(bundle, tok_s),
                  "%s: cairn accepts a PyJWT token with a string aud" % alg)
        h, p, s = tok.split(".")
        forged = b64u(json.dumps(dict(claims, sub="spiffe://example.org/admin"))
                      .encode())
        expect_err(cairn_validate(bundle, h + "." + forged + "." + s),
                   "VERIFY", "%s: cairn rejects a tampered PyJWT token" % alg)
        sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        sig[5] ^= 1
        expect_err(cairn_validate(bundle, h + "." + p + "." + b64u(bytes(sig))),
                   "VERIFY", "%s: cairn rejects a flipped signature bit" % alg)
        expect_err(cairn_validate(bundle, tok, aud="spiffe://example.org/x"),
                   "AUDIENCE", "%s: cairn rejects a wrong audience" % alg)
        old = jwt.encode(dict(claims, exp=now - 120, iat=now - 600), pem,
                         algorithm=alg, headers={"kid": kid})
        expect_err(cairn_validate(bundle, old), "EXPIRED",
                   "%s: cairn rejects an expired PyJWT token" % alg)

    # Right kid, wrong key.
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    tok = jwt.encode(claims, other, algorithm="ES256",
                     headers={"kid": "py-ES256"})
    expect_err(cairn_validate(bundle, tok), "VERIFY",
               "cairn rejects a token by another key under a known kid")
    # ES384 header with the P-256 key's kid.
    tok = jwt.encode(claims, keys["ES384"][0].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), algorithm="ES384",
        headers={"kid": "py-ES256"})
    expect_err(cairn_validate(bundle, tok), "POLICY",
               "cairn rejects an alg that does not match the key's curve")
    # HMAC and unsigned tokens.
    tok = jwt.encode(claims, "secret-secret-secret-secret-1234",
                     algorithm="HS256", headers={"kid": "py-ES256"})
    expect_err(cairn_validate(bundle, tok), "UNSUPPORTED",
               "cairn rejects a PyJWT HS256 token")
    tok = jwt.encode(claims, None, algorithm="none",
                     headers={"kid": "py-ES256"})
    expect_err(cairn_validate(bundle, tok), "UNSUPPORTED",
               "cairn rejects an alg none token")
    # Extra header parameter.
    tok = jwt.encode(claims, keys["ES256"][0].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), algorithm="ES256",
        headers={"kid": "py-ES256", "jku": "https://example.org/k"})
    expect_err(cairn_validate(bundle, tok), "POLICY",
               "cairn rejects an extra header parameter")


def make_cert(ca):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "py")])
    now = datetime.datetime.utcnow()
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=1))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True)
         .add_extension(x509.KeyUsage(
             digital_signature=not ca, content_commitment=False,
             key_encipherment=False, data_encipherment=False,
             key_agreement=False, key_cert_sign=ca, crl_sign=ca,
             encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectAlternativeName(
             [x509.UniformResourceIdentifier("spiffe://" + TD)]),
             critical=False))
    cert = b.sign(key, hashes.SHA256())
    nums = key.public_key().public_numbers()
    return {"use": "x509-svid", "kty": "EC", "crv": "P-256",
            "x": b64u(nums.x.to_bytes(32, "big")),
            "y": b64u(nums.y.to_bytes(32, "big")),
            "x5c": [base64.b64encode(
                cert.public_bytes(serialization.Encoding.DER)).decode()]}


def python_x509_bundle():
    ca, ca2, leaf = make_cert(True), make_cert(True), make_cert(False)
    p = write("py-x509.json", json.dumps({"keys": [ca, ca2],
                                          "spiffe_refresh_hint": 60}))
    rc, out = tool("info", p, TD)
    check(rc == 0 and out == "x509 2 jwt 0 seq 0 hint 60",
          "cryptography-made CA certs parse as x509-svid entries", out)
    p = write("py-x509-leaf.json", json.dumps({"keys": [leaf]}))
    rc, out = tool("info", p, TD)
    check(rc == 1 and out.startswith("error POLICY"),
          "a non-CA cert in x5c is refused", out)
    two = dict(ca, x5c=ca["x5c"] + ca2["x5c"])
    p = write("py-x509-two.json", json.dumps({"keys": [two]}))
    rc, out = tool("info", p, TD)
    check(rc == 1 and out.startswith("error POLICY"),
          "an x5c with two certificates is refused", out)
    dup = '{"keys":[],"keys":[]}'
    rc, out = tool("info", write("py-dup.json", dup), TD)
    check(rc == 1 and out.startswith("error PARSE"),
          "duplicate JSON members are refused", out)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    print("# PyJWT %s" % jwt.__version__)
    for alg in CURVES:
        cairn_to_pyjwt(alg)
    pyjwt_to_cairn()
    python_x509_bundle()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
