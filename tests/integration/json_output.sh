#!/bin/bash
# integration.json_output: `-output json` prints one JSON document for
# every command, with the field names of the admin API messages.
#
#   json_output.sh CAIRN_CLOUD CAIRN
#
# Each output is parsed with python3's json module and its key fields are
# checked; `entry show -output json` output can be fed back with -data.
. "$(dirname "$0")/lib.sh"
it_init "$1" "$2"
it_config
it_start

# js "what" PYEXPR CMD...: CMD must succeed and print JSON on stdout for
# which the Python expression PYEXPR (document d) is true.
js() {
  local what=$1 expr=$2 rc
  shift 2
  "$@" >"$W/out" 2>"$W/err"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    bad "$what: exit $rc: $(head -c 300 "$W/err")"
  elif py 'import json, sys; json.load(sys.stdin)' <"$W/out" 2>/dev/null; then
    if py "import json, sys
d = json.load(sys.stdin)
sys.exit(0 if ($expr) else 1)" <"$W/out"; then
      ok "$what"
    else
      bad "$what: '$expr' is false for $(head -c 400 "$W/out")"
    fi
  else
    bad "$what: not JSON: $(head -c 300 "$W/out")"
  fi
}

P=$SERVER_ID
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$W/p.key" -out "$W/p.pem" -days 30 -subj "/O=Partner" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 ||
  die "openssl cannot make a CA"

js "bundle set" 'd["trust_domain"] == "partner.org" and len(d["x509_authorities"]) == 1' \
  cli bundle set -id partner.org -path "$W/p.pem" -output json
js "entry create" \
  'd["entries"][0]["spiffe_id"] == "spiffe://example.org/j1" and d["entries"][0]["selectors"] == [{"type": "unix", "value": "uid:1"}] and d["entries"][0]["federates_with"] == ["partner.org"] and d["entries"][0]["admin"] is True and d["entries"][0]["owner"] == "cloud" and d["entries"][0]["id"] != ""' \
  cli entry create -parentID "$P" -spiffeID spiffe://$TD/j1 -selector unix:uid:1 \
  -federatesWith partner.org -admin -dns j1.example.org -output json
ID1=$(json_get 'd["entries"][0]["id"]' <"$W/out")
js "entry create -data" 'len(d["entries"]) == 2' \
  cli entry create -output json -data - <<EOF
{"entries": [
  {"spiffe_id": "spiffe://$TD/j2", "parent_id": "$P", "selectors": ["unix:uid:2"]},
  {"spiffe_id": "spiffe://$TD/j3", "parent_id": "spiffe://$TD/j2",
   "selectors": [{"type": "unix", "value": "uid:3"}], "jwt_svid_ttl": 60}
]}
EOF
js "entry show" \
  'len(d["entries"]) == 3 and sorted(d["entries"][0]) == sorted(["id", "spiffe_id", "parent_id", "selectors", "x509_svid_ttl", "jwt_svid_ttl", "dns_names", "federates_with", "admin", "downstream", "expires_at", "hint", "revision_number", "created_at", "scope", "owner"])' \
  cli entry show -output json
js "entry show -entryID" 'd["entries"][0]["id"] == "'"$ID1"'"' \
  cli entry show -entryID "$ID1" -output json
js "entry show -selector" \
  '[e["spiffe_id"] for e in d["entries"]] == ["spiffe://example.org/j3"]' \
  cli entry show -selector unix:uid:3 -output json
js "entry update" 'd["entries"][0]["x509_svid_ttl"] == 120' \
  cli entry update -entryID "$ID1" -x509SVIDTTL 2m -output json
js "entry count" 'd == {"count": 3}' cli entry count -output json

# Round trip: edit `entry show -output json` and feed it to entry update.
cli entry show -entryID "$ID1" -output json |
  py 'import json, sys
d = json.load(sys.stdin)
d["entries"][0]["hint"] = "round-trip"
json.dump(d, sys.stdout)' >"$W/rt.json"
js "entry update -data with entry show output" \
  'd["entries"][0]["hint"] == "round-trip" and d["entries"][0]["x509_svid_ttl"] == 120' \
  cli entry update -data "$W/rt.json" -output json
js "entry delete" 'd == {"ids": ["'"$ID1"'"]}' \
  cli entry delete -entryID "$ID1" -output json

js "token generate" 'len(d["value"]) > 0 and d["expires_at"] > 0' \
  cli token generate -output json
js "bundle show" \
  'd["trust_domain"] == "example.org" and len(d["x509_authorities"]) >= 1 and "keys" in json.loads(d["spiffe_json"]) and d["sequence_number"] >= 1' \
  cli bundle show -output json
js "bundle list" '[b["trust_domain"] for b in d["bundles"]] == ["partner.org"]' \
  cli bundle list -output json
js "bundle list -id" 'd["trust_domain"] == "partner.org"' \
  cli bundle list -id partner.org -output json
js "agent list" 'd == {"agents": []}' cli agent list -output json
js "agent count" 'd == {"count": 0}' cli agent count -output json
js "x509 mint" 'len(d["x509_svid"]) >= 1 and len(d["root_cas"]) >= 1' \
  cli x509 mint -spiffeID spiffe://$TD/m -output json
js "x509 mint -write" 'd["key_path"].endswith("/key.pem")' \
  cli x509 mint -spiffeID spiffe://$TD/m -write "$W/m" -output json
js "jwt mint" 'd["token"].count(".") == 2 and d["expires_at"] > 0' \
  cli jwt mint -spiffeID spiffe://$TD/m -audience a -output json
js "healthcheck" \
  'd["healthy"] is True and d["trust_domain"] == "example.org" and {a["kind"] for a in d["authorities"]} == {"x509", "jwt"}' \
  cli healthcheck -output json
js "healthcheck -verbose -shallow" 'd["healthy"] is True' \
  cli healthcheck -verbose -shallow -output json
js "validate" 'd["valid"] is True and d["trust_domain"] == "example.org"' \
  cli validate -config "$W/cloud.conf" -output json
js "bundle delete" 'd == {}' cli bundle delete -id partner.org -output json

# Failures still print a JSON document where one is promised.
printf 'server {\n  nonsense = 1\n}\n' >"$W/bad.conf"
cli validate -config "$W/bad.conf" -output json >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" -eq 1 ] && json_get 'd["valid"] is False and "bad.conf" in d["error"]' \
  <"$W/out" | grep -qx True && grep -q '^Error: ' "$W/err"; then
  ok "validate of a bad file: JSON with the error, exit 1"
else
  bad "validate of a bad file: exit $rc, $(cat "$W/out" "$W/err")"
fi
cli healthcheck -output json -socketPath "$W/none.sock" >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" -eq 1 ] && json_get 'd["healthy"] is False' <"$W/out" | grep -qx True
then
  ok "healthcheck without a server: JSON with healthy false, exit 1"
else
  bad "healthcheck without a server: exit $rc, $(cat "$W/out" "$W/err")"
fi

it_stop
it_done
