#!/bin/bash
# integration.x509_mint: SVIDs minted through the CLI verify with other
# implementations.
#
#   x509_mint.sh CAIRN_CLOUD CAIRN
#
# `cairn x509 mint -write` output passes `openssl verify -x509_strict` for
# TLS client and server use against `bundle.pem` and against `cairn bundle
# show -format pem`, shows the URI and DNS SANs in `openssl x509 -text`,
# and key.pem (0600) holds the certified key. The printed and JSON forms
# carry the same material. `cairn jwt mint` tokens validate with PyJWT
# against the JWT keys of `cairn bundle show -format spiffe`, and fail with
# a wrong audience or a changed payload.
. "$(dirname "$0")/lib.sh"
it_init "$1" "$2"
it_config 'default_x509_svid_ttl = "1h"'
it_start

ID=spiffe://$TD/workload/mint
D=$W/svid
check "x509 mint -write" cli x509 mint -spiffeID "$ID" -dns w.example.org \
  -dns alt.example.org -ttl 10m -write "$D"
for f in svid.pem key.pem bundle.pem; do
  [ -s "$D/$f" ] && ok "$f written" || bad "$f missing"
done
same "key.pem mode" "$(stat -c %a "$D/key.pem")" 600
cli bundle show -format pem >"$W/bundle.pem"

# svid.pem: the leaf first, then any intermediates (untrusted for openssl).
awk -v d="$W" '/-----BEGIN CERTIFICATE-----/ { n++ }
  { print > (d "/cert" n ".pem") }' "$D/svid.pem"
n=$(count_certs "$D/svid.pem")
untrusted=()
if [ "$n" -gt 1 ]; then
  for i in $(seq 2 "$n"); do cat "$W/cert$i.pem"; done >"$W/inter.pem"
  untrusted=(-untrusted "$W/inter.pem")
fi
note "svid.pem holds $n certificate(s)"
for purpose in sslclient sslserver; do
  check "openssl verify -x509_strict -purpose $purpose (bundle.pem)" \
    openssl verify -x509_strict -purpose "$purpose" -CAfile "$D/bundle.pem" \
    "${untrusted[@]}" "$W/cert1.pem"
done
check "openssl verify against cairn bundle show -format pem" \
  openssl verify -x509_strict -purpose sslclient -CAfile "$W/bundle.pem" \
  "${untrusted[@]}" "$W/cert1.pem"
if cmp -s <(openssl x509 -in "$W/bundle.pem" -noout -fingerprint -sha256) \
  <(openssl x509 -in "$D/bundle.pem" -noout -fingerprint -sha256); then
  ok "bundle.pem is the server's bundle"
else
  bad "bundle.pem differs from bundle show"
fi
txt=$(openssl x509 -in "$W/cert1.pem" -noout -text)
for pat in "URI:$ID" "DNS:w.example.org" "DNS:alt.example.org" "CA:FALSE" \
  "TLS Web Server Authentication, TLS Web Client Authentication"; do
  if printf '%s\n' "$txt" | grep -qF -- "$pat"; then ok "openssl x509 -text shows $pat"
  else bad "openssl x509 -text lacks $pat"; fi
done
k1=$(openssl pkey -in "$D/key.pem" -pubout 2>/dev/null)
k2=$(openssl x509 -in "$W/cert1.pem" -noout -pubkey)
if [ -n "$k1" ] && [ "$k1" = "$k2" ]; then ok "key.pem is the SVID's key"
else bad "key.pem does not match the SVID"; fi
head -n 1 "$D/key.pem" | grep -q 'BEGIN PRIVATE KEY' &&
  ok "key.pem is PKCS#8" || bad "key.pem is not PKCS#8"
life=$(py '
import datetime, subprocess, sys
def t(opt):
    s = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", opt],
                       capture_output=True, text=True).stdout.split("=", 1)[1]
    return datetime.datetime.strptime(s.strip(), "%b %d %H:%M:%S %Y %Z")
print(int((t("-enddate") - t("-startdate")).total_seconds()))
' "$W/cert1.pem")
if [ "$life" -ge 600 ] && [ "$life" -le 660 ]; then ok "-ttl 10m honoured ($life s incl. backdating)"
else bad "SVID lifetime $life s for -ttl 10m"; fi

# Printed form (spire-server layout) and JSON form.
cli x509 mint -spiffeID "$ID" >"$W/printed" || bad "x509 mint (printed) failed"
for h in "X509-SVID:" "Private key:" "Root CAs:"; do
  grep -qx -- "$h" "$W/printed" && ok "printed output has '$h'" ||
    bad "printed output lacks '$h'"
done
sed -n '/^X509-SVID:$/,/^Private key:$/p' "$W/printed" | sed '1d;$d' >"$W/p.pem"
check "printed SVID verifies" openssl verify -purpose sslclient \
  -CAfile "$W/bundle.pem" "$W/p.pem"
cli x509 mint -spiffeID "$ID" -output json >"$W/mint.json" ||
  bad "x509 mint -output json failed"
if py '
import base64, json, subprocess, sys
d = json.load(open(sys.argv[1]))
assert set(d) >= {"x509_svid", "private_key", "root_cas", "expires_at"}, d.keys()
leaf = base64.b64decode(d["x509_svid"][0])
out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-ext",
                      "subjectAltName"], input=leaf, capture_output=True).stdout
assert sys.argv[2].encode() in out, out
key = base64.b64decode(d["private_key"])
subprocess.run(["openssl", "pkey", "-inform", "DER", "-noout"], input=key,
               check=True)
' "$W/mint.json" "$ID"; then
  ok "x509 mint -output json carries DER SVID, PKCS#8 key and roots"
else
  bad "x509 mint -output json content"
fi

# ---- JWT-SVIDs ------------------------------------------------------------
cli bundle show -format spiffe >"$W/spiffe.json" || bad "bundle show -format spiffe"
tok=$(cli jwt mint -spiffeID "$ID" -audience aud-one -audience aud-two -ttl 2m)
[ -n "$tok" ] && ok "jwt mint printed a token" || bad "jwt mint printed nothing"
cat >"$W/jwtcheck.py" <<'EOF'
import json, sys, time
import jwt
from jwt.algorithms import ECAlgorithm

bundle, token, sub, aud, mode, want = sys.argv[1:7]
keys = {k["kid"]: k for k in json.load(open(bundle))["keys"]
        if k.get("use") == "jwt-svid"}
hdr = jwt.get_unverified_header(token)
assert hdr["alg"] in ("ES256", "ES384"), hdr
assert hdr["kid"] in keys, (hdr["kid"], list(keys))
pub = ECAlgorithm.from_jwk(json.dumps(keys[hdr["kid"]]))
if mode == "tamper":
    h, p, s = token.split(".")
    import base64
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["sub"] = "spiffe://example.org/evil"
    p = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    token = ".".join([h, p, s])
c = jwt.decode(token, pub, algorithms=[hdr["alg"]], audience=aud)
assert c["sub"] == sub, c
assert c["exp"] - time.time() <= 125 and c["exp"] > time.time(), c
assert set(c["aud"] if isinstance(c["aud"], list) else [c["aud"]]) == \
    set(want.split(",")), c
EOF
check "PyJWT validates the JWT-SVID with the bundle's keys" \
  /usr/bin/python3 "$W/jwtcheck.py" "$W/spiffe.json" "$tok" "$ID" \
  aud-two ok aud-one,aud-two
# The negative cases must fail for the right reason (PyJWT's exception).
/usr/bin/python3 "$W/jwtcheck.py" "$W/spiffe.json" "$tok" "$ID" aud-three ok \
  aud-one,aud-two >"$W/neg" 2>&1
if grep -q InvalidAudienceError "$W/neg"; then ok "PyJWT rejects a wrong audience"
else bad "PyJWT and a wrong audience: $(tail -n 1 "$W/neg")"; fi
/usr/bin/python3 "$W/jwtcheck.py" "$W/spiffe.json" "$tok" "$ID" aud-one \
  tamper aud-one,aud-two >"$W/neg" 2>&1
if grep -q InvalidSignatureError "$W/neg"; then ok "PyJWT rejects a changed payload"
else bad "PyJWT and a changed payload: $(tail -n 1 "$W/neg")"; fi
check "jwt mint -write (0600)" cli jwt mint -spiffeID "$ID" -audience x -ttl 2m \
  -write "$W/token.jwt"
same "token file mode" "$(stat -c %a "$W/token.jwt")" 600
tok2=$(cat "$W/token.jwt")
check "written token validates" \
  /usr/bin/python3 "$W/jwtcheck.py" "$W/spiffe.json" "$tok2" "$ID" x \
  ok x

it_stop
it_done
