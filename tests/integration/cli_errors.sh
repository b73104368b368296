#!/bin/bash
# integration.cli_errors: bad input gets one line "Error: ..." on stderr,
# exit status 1, and leaves nothing behind on the server.
#
#   cli_errors.sh CAIRN_CLOUD CAIRN
#
# Input the CLI can judge (malformed SPIFFE IDs, selectors, TTLs, flags) is
# also run against a socket where nobody listens: the error must still be
# the validation error, which proves the CLI rejects it before connecting.
# Input only the server can judge (unknown parent, duplicate, foreign trust
# domain, a batch with one bad entry) must leave `entry count` unchanged.
. "$(dirname "$0")/lib.sh"
it_init "$1" "$2"
it_config
it_start

NOSOCK=$W/nobody.sock
P=$SERVER_ID
good=(-parentID "$P" -spiffeID spiffe://$TD/ok -selector unix:uid:1)

# Client-side checks: same error with and without a server.
client_err() {
  local what=$1 pat=$2
  shift 2
  expect_err "$what" "$pat" cli "$@"
  # (after the command words, so a flag at the end still lacks its value)
  expect_err "$what (no server)" "$pat" cli "$1" "$2" -socketPath "$NOSOCK" \
    "${@:3}"
}

client_err "SPIFFE ID with upper-case trust domain" 'invalid -spiffeID.*trust domain' \
  entry create -parentID "$P" -spiffeID spiffe://Example.org/x -selector a:b
client_err "SPIFFE ID with a trailing slash" 'invalid -spiffeID' \
  entry create -parentID "$P" -spiffeID spiffe://$TD/x/ -selector a:b
client_err "SPIFFE ID with another scheme" 'invalid -spiffeID.*scheme' \
  entry create -parentID "$P" -spiffeID https://$TD/x -selector a:b
client_err "SPIFFE ID without a path" 'must have a path' \
  entry create -parentID "$P" -spiffeID spiffe://$TD -selector a:b
client_err "malformed parent ID" 'invalid -parentID' \
  entry create -parentID spiffe://$TD/a//b -spiffeID spiffe://$TD/x -selector a:b
client_err "selector without ':'" 'selector "unixuid1000" must be formatted as type:value' \
  entry create -parentID "$P" -spiffeID spiffe://$TD/x -selector unixuid1000
client_err "selector with an empty value" 'must be formatted as type:value' \
  entry create -parentID "$P" -spiffeID spiffe://$TD/x -selector unix:
client_err "selector with an empty type" 'must be formatted as type:value' \
  entry create -parentID "$P" -spiffeID spiffe://$TD/x -selector :uid:1
client_err "entry without selectors" 'at least one -selector' \
  entry create -parentID "$P" -spiffeID spiffe://$TD/x
client_err "entry without -spiffeID" '-spiffeID is required' \
  entry create -parentID "$P" -selector a:b
client_err "negative TTL" 'invalid value "-5" for -x509SVIDTTL' \
  entry create "${good[@]}" -x509SVIDTTL -5
client_err "TTL that is not a number" 'invalid value "soon" for -jwtSVIDTTL' \
  entry create "${good[@]}" -jwtSVIDTTL soon
client_err "TTL past 32 bits" 'at most 2147483647' \
  entry create "${good[@]}" -x509SVIDTTL 99999999999
client_err "bad DNS name" 'invalid -dns' \
  entry create "${good[@]}" -dns 'bad name.example.org'
client_err "bad federatesWith" 'invalid -federatesWith' \
  entry create "${good[@]}" -federatesWith 'spiffe://Partner.org'
client_err "bad entryExpiry" 'invalid value "tomorrow" for -entryExpiry' \
  entry create "${good[@]}" -entryExpiry tomorrow
client_err "unknown flag" 'flag provided but not defined: -bogus' \
  entry create "${good[@]}" -bogus 1
client_err "flag without its value" 'flag needs an argument: -spiffeID' \
  entry create -parentID "$P" -selector a:b -spiffeID
client_err "bad boolean" 'invalid boolean value "yes" for -admin' \
  entry create "${good[@]}" -admin=yes
client_err "stray argument" 'unexpected argument "extra"' \
  entry create "${good[@]}" extra
client_err "-node together with -parentID" 'cannot be used together' \
  entry create -node "${good[@]}"
client_err "bad -output" 'invalid value "yaml" for -output' \
  entry count -output yaml
client_err "bad -matchSelectorsOn" 'matchSelectorsOn' \
  entry show -selector a:b -matchSelectorsOn most
client_err "token with TTL 0" 'must be greater than 0' token generate -ttl 0
client_err "bad bundle format" 'invalid value "der" for -format' \
  bundle show -format der
client_err "x509 mint without -spiffeID" '-spiffeID is required' x509 mint
client_err "jwt mint without -audience" 'audience' \
  jwt mint -spiffeID spiffe://$TD/x
client_err "entry update without -entryID" '-entryID is required' \
  entry update -x509SVIDTTL 60
expect_err "unknown command" 'unknown command "frobnicate"' cli frobnicate
expect_err "unknown subcommand" 'unknown subcommand "entry list"' cli entry list
expect_err "missing subcommand" 'missing subcommand' cli entry

# Bundle input is parsed before it is sent.
printf 'not a certificate\n' >"$W/junk.pem"
client_err "bundle set with junk PEM" 'invalid PEM bundle' \
  bundle set -id partner.org -path "$W/junk.pem"

# -data batches checked by the CLI: nothing is sent.
cat >"$W/bad-client.json" <<EOF
{"entries": [
  {"spiffe_id": "spiffe://$TD/b1", "parent_id": "$P",
   "selectors": [{"type": "unix", "value": "uid:1"}]},
  {"spiffe_id": "spiffe://$TD/b2", "parent_id": "$P",
   "selectors": [{"type": "unix", "value": ""}]}
]}
EOF
client_err "-data batch with a bad selector in entry 1" '^Error: entry 1: ' \
  entry create -data "$W/bad-client.json"
printf '{"entries": [{"spiffe_id": "spiffe://%s/b1", "colour": "red"}]}' "$TD" \
  >"$W/bad-field.json"
client_err "-data with an unknown field" 'entry 0: unknown field "colour"' \
  entry create -data "$W/bad-field.json"
printf '{"entries": [' >"$W/bad-json.json"
client_err "-data that is not JSON" 'cannot parse' \
  entry create -data "$W/bad-json.json"

# Unreachable server.
expect_err "no server on the socket" 'cannot connect to the server' \
  cli entry count -socketPath "$NOSOCK"
"$CAIRN" healthcheck -socketPath "$NOSOCK" >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q '^Server is unhealthy: cannot connect' "$W/err" &&
  [ "$(wc -l <"$W/err")" -eq 1 ]; then
  ok "healthcheck without a server: $(cat "$W/err")"
else
  bad "healthcheck without a server: exit $rc, $(cat "$W/err")"
fi

# ---- errors only the server can find; nothing may be stored -------------
check "a first entry" cli entry create "${good[@]}"
base=$(cli entry count)
same "one entry stored" "$base" "1 registration entry"

expect_err "unknown parent" 'parent' \
  cli entry create -parentID spiffe://$TD/nobody -spiffeID spiffe://$TD/x \
  -selector a:b
expect_err "duplicate entry" 'exist' cli entry create "${good[@]}"
expect_err "SPIFFE ID of another trust domain" 'trust domain' \
  cli entry create -parentID "$P" -spiffeID spiffe://other.org/x -selector a:b
expect_err "federatesWith a trust domain without a bundle" 'bundle' \
  cli entry create -parentID "$P" -spiffeID spiffe://$TD/y -selector a:b \
  -federatesWith nobundle.org
expect_err "entryExpiry in the past" 'past' \
  cli entry create -parentID "$P" -spiffeID spiffe://$TD/y -selector a:b \
  -entryExpiry 1000
cat >"$W/bad-server.json" <<EOF
{"entries": [
  {"spiffe_id": "spiffe://$TD/s0", "parent_id": "$P",
   "selectors": [{"type": "unix", "value": "uid:10"}]},
  {"spiffe_id": "spiffe://$TD/s1", "parent_id": "spiffe://$TD/s0",
   "selectors": [{"type": "unix", "value": "uid:11"}]},
  {"spiffe_id": "spiffe://$TD/s2", "parent_id": "spiffe://$TD/unknown",
   "selectors": [{"type": "unix", "value": "uid:12"}]}
]}
EOF
expect_err "-data batch with an unknown parent in entry 2" '^Error: entry 2: ' \
  cli entry create -data "$W/bad-server.json"
cat >"$W/dup-batch.json" <<EOF
{"entries": [
  {"spiffe_id": "spiffe://$TD/d0", "parent_id": "$P",
   "selectors": [{"type": "unix", "value": "uid:20"}]},
  {"spiffe_id": "spiffe://$TD/d0", "parent_id": "$P",
   "selectors": [{"type": "unix", "value": "uid:20"}]}
]}
EOF
expect_err "-data batch with a duplicate inside" '^Error: entry 1: .*exist' \
  cli entry create -data "$W/dup-batch.json"
out=$(cli entry count)
same "entry count unchanged after the failed creates" "$out" "$base"
for id in s0 s1 d0; do
  out=$(cli entry count -spiffeID spiffe://$TD/$id)
  same "no partial batch entry $id" "$out" "0 registration entries"
done

id=$(cli entry show -output json | json_get 'd["entries"][0]["id"]')
expect_err "update of an unknown entry" 'no entry' \
  cli entry update -entryID no-such-entry -x509SVIDTTL 60
expect_err "update with an unknown parent" 'parent' \
  cli entry update -entryID "$id" -parentID spiffe://$TD/nobody
expect_err "delete of an unknown entry" 'no entry' \
  cli entry delete -entryID no-such-entry
expect_err "batch delete with one unknown ID deletes nothing" 'no entry' \
  cli entry delete -entryID "$id" -entryID no-such-entry
out=$(cli entry count)
same "entry count unchanged after the failed updates/deletes" "$out" "$base"
out=$(cli entry show -entryID "$id" -output json |
  json_get 'd["entries"][0]["parent_id"]')
same "failed update left the entry alone" "$out" "$P"
expect_err "show of an unknown entry" 'no entry' \
  cli entry show -entryID no-such-entry
expect_err "agent show of an unknown agent" 'no attested agent' \
  cli agent show -spiffeID spiffe://$TD/spire/agent/join_token/none
cli bundle show >"$W/own.pem"
expect_err "bundle set for the server's own trust domain" 'own trust domain' \
  cli bundle set -id $TD -path "$W/own.pem"
expect_err "bundle delete of an unknown trust domain" 'no bundle' \
  cli bundle delete -id nobody.org

it_stop
it_done
