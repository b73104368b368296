#!/bin/bash
# integration.ca_rotation: a CA rotation seen through the CLI.
#
#   ca_rotation.sh CAIRN_CLOUD CAIRN
#
# With ca_ttl = 60s (the smallest allowed) the server prepares the next CA
# at half life (~30 s) and activates it when a sixth is left (~50 s). The
# test polls `cairn bundle show` and `cairn healthcheck -output json` and
# checks: the next root and JWT key are in the bundle while the old CA is
# still active (both roots during the overlap); SVIDs minted before the
# switch chain to the old root, SVIDs minted after it chain to the new one,
# which clients already had from the bundle published at prepare time;
# JWT-SVIDs minted after the switch carry a kid published at prepare time;
# `healthcheck -verbose` shows the authorities; the expired old root
# leaves the bundle.
. "$(dirname "$0")/lib.sh"
it_init "$1" "$2"
it_config 'ca_ttl = "60s"' 'default_x509_svid_ttl = "10s"' \
  'default_jwt_svid_ttl = "10s"'
it_start
T0=$(date +%s)
ID=spiffe://$TD/rotation

# Sorted SHA-256 fingerprints of the certificates of a PEM file.
fps() {
  py '
import base64, hashlib, re, sys
t = open(sys.argv[1]).read()
blocks = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----",
                    t, re.S)
print(" ".join(sorted(hashlib.sha256(base64.b64decode("".join(b.split())))
                      .hexdigest() for b in blocks)))' "$1"
}
# The id of the authority of kind $1 in state $2 ("" when none).
authority() {
  cli healthcheck -shallow -output json 2>/dev/null | json_get "
next((a['id'] for a in d['authorities']
      if a['kind'] == '$1' and a['state'] == '$2'), '')"
}
jwt_kids() {
  py 'import json, sys
print(" ".join(sorted(k["kid"] for k in json.load(open(sys.argv[1]))["keys"]
                      if k.get("use") == "jwt-svid")))' "$1"
}
elapsed() { echo $(($(date +%s) - T0)); }

cli bundle show -format pem >"$W/root0.pem"
same "one root at start" "$(count_certs "$W/root0.pem")" 1
X0=$(authority x509 active)
J0=$(authority jwt active)
[ -n "$X0" ] && [ -n "$J0" ] && ok "active authorities x509 $X0, jwt $J0" ||
  bad "no active authorities reported"
fp0=$(fps "$W/root0.pem")

# ---- prepare: a second root appears while the first CA stays active -----
two_roots() {
  cli bundle show -format pem >"$W/b.pem" 2>/dev/null &&
    [ "$(count_certs "$W/b.pem")" -ge 2 ]
}
poll 150 two_roots || die "no second root in the bundle within 150 s"
note "second root in the bundle after $(elapsed) s"
cp "$W/b.pem" "$W/prepared.pem"
cli bundle show -format spiffe >"$W/prepared.json"
same "exactly two roots during the overlap" "$(count_certs "$W/prepared.pem")" 2
fpp=$(fps "$W/prepared.pem")
case " $fpp " in
  *" $fp0 "*) ok "the old root is still in the bundle next to the new one" ;;
  *) bad "the old root left the bundle at prepare time" ;;
esac
same "the old X.509 CA is still active" "$(authority x509 active)" "$X0"
XP=$(authority x509 prepared)
[ -n "$XP" ] && [ "$XP" != "$X0" ] && ok "prepared X.509 authority $XP" ||
  bad "no prepared X.509 authority reported ('$XP')"
check "an SVID minted before activation" \
  cli x509 mint -spiffeID "$ID" -write "$W/before"
check "... chains to the old root" \
  openssl verify -purpose sslclient -CAfile "$W/root0.pem" "$W/before/svid.pem"
# The JWT key rotates on the same schedule; wait for its next key too.
two_jwt() {
  cli bundle show -format spiffe >"$W/j.json" 2>/dev/null &&
    [ "$(jwt_kids "$W/j.json" | wc -w)" -ge 2 ]
}
poll 60 two_jwt && ok "a second JWT key is published" ||
  bad "no second JWT key within 60 s of the second root"
cp "$W/j.json" "$W/prepared.json"

# ---- activation: the active X.509 authority changes ------------------------
switched() {
  local a
  a=$(authority x509 active) && [ -n "$a" ] && [ "$a" != "$X0" ]
}
poll 150 switched || die "the X.509 CA was not activated within 150 s"
note "new X.509 CA active after $(elapsed) s"
X1=$(authority x509 active)
same "the prepared CA became the active one" "$X1" "$XP"
cli bundle show -format pem >"$W/after.pem"
fpa=$(fps "$W/after.pem")
newfp=$(for f in $fpp; do [ "$f" = "$fp0" ] || echo "$f"; done)
case " $fpa " in
  *" $newfp "*) ok "the new root is in the bundle after activation" ;;
  *) bad "the new root is missing after activation" ;;
esac
case " $fpa " in
  *" $fp0 "*) ok "both roots in the bundle right after activation" ;;
  *) if openssl x509 -in "$W/root0.pem" -noout -checkend 0 >/dev/null; then
       bad "the old root left the bundle before it expired"
     else
       ok "the old root left the bundle after it expired"
     fi ;;
esac
check "an SVID minted after activation" \
  cli x509 mint -spiffeID "$ID" -write "$W/after"
check "... verifies against the current bundle" \
  openssl verify -x509_strict -purpose sslclient -CAfile "$W/after.pem" \
  "$W/after/svid.pem"
check "... verifies against the bundle published at prepare time" \
  openssl verify -x509_strict -purpose sslclient -CAfile "$W/prepared.pem" \
  "$W/after/svid.pem"
if openssl verify -purpose sslclient -CAfile "$W/root0.pem" \
  "$W/after/svid.pem" >/dev/null 2>&1; then
  bad "the new SVID still chains to the old root"
else
  ok "the new SVID no longer chains to the old root"
fi
verbose=$(cli healthcheck -verbose)
if printf '%s\n' "$verbose" | grep -q "^X.509 authority  : active $X1, expires .* left)"; then
  ok "healthcheck -verbose shows the active CA with its time left"
else
  bad "healthcheck -verbose: $(printf '%s' "$verbose" | grep authority)"
fi
printf '%s\n' "$verbose" | tail -n 1 | grep -qx "Server is healthy." &&
  ok "healthcheck -verbose ends with 'Server is healthy.'" ||
  bad "healthcheck -verbose last line: $(printf '%s' "$verbose" | tail -n 1)"

jwt_switched() {
  local a
  a=$(authority jwt active) && [ -n "$a" ] && [ "$a" != "$J0" ]
}
poll 60 jwt_switched && ok "the JWT key was activated" ||
  bad "the JWT key was not activated"
tok=$(cli jwt mint -spiffeID "$ID" -audience rot)
kid=$(py 'import base64, json, sys
h = sys.argv[1].split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["kid"])' "$tok")
case " $(jwt_kids "$W/prepared.json") " in
  *" $kid "*) ok "the new JWT kid $kid was published at prepare time" ;;
  *) bad "JWT kid $kid was not in the bundle at prepare time" ;;
esac
[ "$kid" != "$J0" ] && ok "JWT-SVIDs use the new key" ||
  bad "JWT-SVIDs still use the old key"

# ---- the expired old root leaves the bundle ------------------------------
# (By then the next rotation may have added a third root: only the old
# root's absence and the new root's presence matter.)
old_gone() {
  local f
  cli bundle show -format pem >"$W/b.pem" 2>/dev/null || return 1
  f=" $(fps "$W/b.pem") "
  case $f in *" $fp0 "*) return 1 ;; esac
  case $f in *" $newfp "*) return 0 ;; esac
  return 1
}
if poll 150 old_gone; then
  ok "the old root left the bundle after it expired ($(elapsed) s)"
else
  bad "the old root stays in the bundle: $(count_certs "$W/b.pem") roots"
fi

it_stop
it_done
