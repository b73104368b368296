#!/bin/bash
# integration.cloud_restart: state survives a restart of cairn-cloud.
#
#   cloud_restart.sh CAIRN_CLOUD CAIRN
#
# Creates a federated bundle, join tokens and entries of every kind (node
# entries, DNS names, TTLs, federatesWith, admin, downstream, expiry, hint,
# custom ID, a -data batch), notes the root CA and the JWT keys, stops the
# server with SIGTERM, starts it again on the same data_dir and finds every
# entry with every field, every token (re-creating one with the same value
# is refused), the federated bundle, and the same root and JWT keys. Also
# `cairn validate -config` on the good file and on broken ones.
. "$(dirname "$0")/lib.sh"
it_init "$1" "$2"
it_config 'ca_ttl = "24h"'

# ---- validate, offline ----------------------------------------------------
out=$(cli validate -config "$W/cloud.conf" 2>&1)
same "validate accepts the test config" "$out" "Configuration is valid."
sed '2a\  bogus_key = 1' "$W/cloud.conf" >"$W/bad.conf"
expect_err "validate names file:line of an unknown key" 'bad\.conf:3:.*bogus_key' \
  cli validate -config "$W/bad.conf"
sed 's/trust_domain = "example.org"/trust_domain = "spiffe:\/\/Bad"/' \
  "$W/cloud.conf" >"$W/bad2.conf"
expect_err "validate rejects a bad trust domain" 'bad2\.conf:[0-9]+' \
  cli validate -config "$W/bad2.conf"
expect_err "validate reports a missing file" 'nope\.conf' \
  cli validate -config "$W/nope.conf"

it_start

# ---- a federated bundle (entries may only federate with known ones) -----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$W/partner.key" -out "$W/partner.pem" -days 30 \
  -subj "/O=Partner" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectAltName=URI:spiffe://partner.org" >/dev/null 2>&1 ||
  die "openssl cannot make the partner CA"
check "bundle set partner.org (PEM from -path)" \
  cli bundle set -id spiffe://partner.org -path "$W/partner.pem"
check "bundle set other.org (PEM on stdin)" \
  sh -c "\"$CAIRN\" bundle set -id other.org < \"$W/partner.pem\""

# ---- join tokens -------------------------------------------------------------
tok1=$(cli token generate -ttl 1h | sed -n 's/^Token: //p')
tok2=$(cli token generate -output json | json_get 'd["value"]')
tok3=$(cli token generate -ttl 7200 -token fixed-token-3 \
  -spiffeID spiffe://$TD/rack/a | sed -n 's/^Token: //p')
[ -n "$tok1" ] && [ -n "$tok2" ] && ok "tokens generated: $tok1 $tok2" ||
  bad "token generate printed no token"
same "token generate -token keeps the value" "$tok3" fixed-token-3
expect_err "a token value that exists is refused" 'exist' \
  cli token generate -token fixed-token-3

# ---- entries -------------------------------------------------------------------
exp=$(($(date +%s) + 30 * 86400))
check "node entry (parent = server)" \
  cli entry create -parentID "$SERVER_ID" -spiffeID spiffe://$TD/node/a \
  -selector "join_token:$tok1"
check "node entry with -node" \
  cli entry create -node -spiffeID spiffe://$TD/node/b -selector "join_token:$tok2"
check "workload entry with DNS, TTLs, federatesWith, hint" \
  cli entry create -parentID spiffe://$TD/node/a -spiffeID spiffe://$TD/web \
  -selector unix:uid:1000 -selector unix:gid:1000 -dns web.example.org \
  -dns www.example.org -x509SVIDTTL 3600 -jwtSVIDTTL 5m \
  -federatesWith spiffe://partner.org -federatesWith other.org -hint web
check "admin entry" \
  cli entry create -parentID spiffe://$TD/node/a -spiffeID spiffe://$TD/admin \
  -selector unix:uid:0 -admin
check "downstream entry with expiry" \
  cli entry create -parentID "$SERVER_ID" -spiffeID spiffe://$TD/edge/site1 \
  -selector "join_token:$tok3" -downstream -entryExpiry "$exp"
check "entry with a custom ID (-flag=value form)" \
  cli entry create -entryID=custom-id-1 -parentID=spiffe://$TD/node/b \
  -spiffeID=spiffe://$TD/db -selector=unix:uid:1001
cat >"$W/batch.json" <<EOF
{"entries": [
  {"spiffe_id": "spiffe://$TD/batch/one", "parent_id": "spiffe://$TD/node/a",
   "selectors": [{"type": "unix", "value": "uid:2001"}], "x509_svid_ttl": 600},
  {"spiffeId": "spiffe://$TD/batch/two", "parentId": "spiffe://$TD/batch/one",
   "selectors": [{"type": "k8s", "value": "ns:default"}, "k8s:sa:two"],
   "dnsNames": ["two.example.org"], "federatesWith": ["partner.org"],
   "admin": false, "downstream": false, "hint": "nested"}
]}
EOF
check "-data batch of two entries (one nested under the other)" \
  cli entry create -data "$W/batch.json"
out=$(cli entry count)
same "entry count after creating 8" "$out" "8 registration entries"

# Update: only the given fields change.
check "entry update -x509SVIDTTL keeps the other fields" \
  cli entry update -entryID custom-id-1 -x509SVIDTTL 2h -dns db.example.org
out=$(cli entry show -entryID custom-id-1 -output json |
  json_get 'd["entries"][0]["x509_svid_ttl"], d["entries"][0]["dns_names"], d["entries"][0]["selectors"], d["entries"][0]["revision_number"] > 0')
same "the update is stored" "$out" \
  "7200 ['db.example.org'] [{'type': 'unix', 'value': 'uid:1001'}] True"

# Snapshot of everything, then restart.
cli entry show -output json >"$W/entries.before" || bad "entry show failed"
cli bundle show -format pem >"$W/root.before" || bad "bundle show failed"
cli bundle show -format spiffe >"$W/spiffe.before" || bad "bundle show -format spiffe"
cli bundle list -output json >"$W/fed.before" || bad "bundle list failed"
n=$(count_certs "$W/root.before")
same "one root in the bundle" "$n" 1
pretty=$(cli entry show)
case $pretty in
  "Found 8 entries"*) ok "entry show pretty header" ;;
  *) bad "entry show pretty: $(printf '%s' "$pretty" | head -n 2)" ;;
esac
for f in "Entry ID         : custom-id-1" \
  "SPIFFE ID        : spiffe://$TD/web" "Selector         : unix:uid:1000" \
  "DNS name         : www.example.org" "FederatesWith    : partner.org" \
  "X509-SVID TTL    : 3600" "JWT-SVID TTL     : 300" "Admin            : true" \
  "Downstream       : true" "Hint             : web" "Expiration time  : "; do
  if printf '%s\n' "$pretty" | grep -qF -- "$f"; then ok "entry show prints '$f'"
  else bad "entry show lacks '$f'"; fi
done

it_stop
it_start

cli entry show -output json >"$W/entries.after" || bad "entry show failed"
if py '
import json, sys
a = json.load(open(sys.argv[1]))["entries"]
b = json.load(open(sys.argv[2]))["entries"]
ka = {e["id"]: e for e in a}
kb = {e["id"]: e for e in b}
assert len(a) == 8 and ka == kb, (len(a), len(b))
' "$W/entries.before" "$W/entries.after"; then
  ok "all 8 entries back after restart, every field equal"
else
  bad "entries differ after restart"
fi
cli bundle show -format pem >"$W/root.after"
if cmp -s "$W/root.before" "$W/root.after"; then ok "same root after restart"
else bad "the root changed across the restart"; fi
if py '
import json, sys
def kids(p):
    return sorted(k["kid"] for k in json.load(open(p))["keys"]
                  if k.get("use") == "jwt-svid")
a, b = kids(sys.argv[1]), kids(sys.argv[2])
assert a and a == b, (a, b)
' "$W/spiffe.before" <(cli bundle show -format spiffe); then
  ok "same JWT keys after restart"
else
  bad "JWT keys changed across the restart"
fi
cli bundle list -output json >"$W/fed.after"
if py '
import json, sys
a = json.load(open(sys.argv[1]))["bundles"]
b = json.load(open(sys.argv[2]))["bundles"]
assert sorted(x["trust_domain"] for x in a) == ["other.org", "partner.org"]
assert sorted(a, key=lambda x: x["trust_domain"]) == \
    sorted(b, key=lambda x: x["trust_domain"])
' "$W/fed.before" "$W/fed.after"; then
  ok "federated bundles back after restart"
else
  bad "federated bundles differ after restart"
fi
for t in "$tok1" "$tok2" fixed-token-3; do
  expect_err "token $t still stored after restart" 'exist' \
    cli token generate -token "$t"
done
check "a new token value is accepted" cli token generate -token brand-new-4
check "entries still usable as parents after restart" \
  cli entry create -parentID spiffe://$TD/batch/two -spiffeID spiffe://$TD/late \
  -selector unix:uid:3000
out=$(cli entry count)
same "entry count after restart + 1" "$out" "9 registration entries"
check "entry delete" cli entry delete -entryID custom-id-1
out=$(cli entry count -spiffeID spiffe://$TD/db)
same "deleted entry gone" "$out" "0 registration entries"

it_stop
it_done
