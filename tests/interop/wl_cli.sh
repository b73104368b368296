#!/bin/bash
# interop.wl_cli: cairn-agent's Workload API client subcommands (api fetch
# x509 / jwt / x509-bundles / jwt-bundles, api validate jwt, healthcheck;
# edge/agent/api_cli.c) against the Workload API and the gRPC health
# service served by tests/interop/cairn-wl-server (a CA in memory, entries
# for this test's uid). Outputs are checked against openssl and Python:
# written SVIDs verify against the written bundle, keys are 0600 and match
# their certificates, JWT claims decode, JSON output parses; error paths
# check the exit status (1 failure, 2 bad usage) and the one-line message.
# Another uid (nobody, with setpriv) is tried when running as root.
#
#   wl_cli.sh AGENT_BINARY SERVER_BINARY
#
# Prints TAP lines and "N passed, N failed, N skipped".
set -u
AGENT=$1 SERVER=$2
PY=/usr/bin/python3
TD=spiffe://example.org
ME=$TD/cli/me
TWO=$TD/cli/two
passed=0 failed=0 skipped=0
PIDS=""
ok() { passed=$((passed + 1)); echo "ok - $*"; }
nok() { failed=$((failed + 1)); echo "not ok - $*"; }
skip() { skipped=$((skipped + 1)); echo "ok - $1 # SKIP $2"; }
finish() {
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }

for b in "$AGENT" "$SERVER"; do
  [ -x "$b" ] || { nok "executable: $b"; finish; }
done
for t in openssl setpriv "$PY"; do
  command -v "$t" >/dev/null || { nok "$t is installed (tools/deps.sh)"; finish; }
done

W=$(mktemp -d /tmp/cairn-wlcli.XXXXXX) || exit 1
chmod 755 "$W"   # other uids must reach the socket
cleanup() {
  local p
  for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  if [ "$failed" -ne 0 ]; then
    for p in "$W"/*.log; do
      [ -f "$p" ] || continue
      echo "# ---- $p"
      tail -n 30 "$p" | sed 's/^/# /'
    done
  fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
cd "$W" || exit 1
U=$(id -u)

# run ARGS...: runs the agent binary; RC, $W/out, $W/err.
run() {
  "$AGENT" "$@" >"$W/out" 2>"$W/err" </dev/null
  RC=$?
}
# expect_fail WHAT STATUS ERE ARGS...: exit STATUS, nothing on stdout, one
# line on stderr matching ERE.
expect_fail() {
  local what=$1 st=$2 pat=$3 lines
  shift 3
  run "$@"
  lines=$(wc -l <"$W/err")
  if [ "$RC" -ne "$st" ]; then
    nok "$what: exit $RC, expected $st ($(head -c 300 "$W/err"))"
  elif [ "$lines" -ne 1 ]; then
    nok "$what: $lines lines on stderr: $(head -c 400 "$W/err")"
  elif ! grep -Eq -- "$pat" "$W/err"; then
    nok "$what: '$(cat "$W/err")' does not match /$pat/"
  elif [ -s "$W/out" ]; then
    nok "$what: unexpected stdout: $(head -c 200 "$W/out")"
  else
    ok "$what: $(cat "$W/err")"
  fi
}
# expect_ok WHAT ARGS...: exit 0 and nothing on stderr.
expect_ok() {
  local what=$1
  shift
  run "$@"
  if [ "$RC" -ne 0 ]; then
    nok "$what: exit $RC: $(head -c 400 "$W/err")"
    return 1
  elif [ -s "$W/err" ]; then
    nok "$what: unexpected stderr: $(head -c 300 "$W/err")"
    return 1
  fi
  ok "$what"
}
# has WHAT FIXED-STRING: $W/out contains the line part.
has() {
  if grep -qF -- "$2" "$W/out"; then ok "$1"
  else nok "$1: '$2' not in: $(head -c 600 "$W/out")"; fi
}

# start_server NAME ARGS...: cairn-wl-server on $W/NAME.sock; waits for
# its "ready" line.
start_server() {
  local name=$1 i
  shift
  "$SERVER" "$W/$name.sock" "$@" >"$W/$name.out" 2>"$W/$name.log" &
  eval "PID_$name=$!"
  PIDS="$PIDS $!"
  for i in $(seq 1 600); do
    grep -q '^ready$' "$W/$name.out" 2>/dev/null && return 0
    kill -0 "$(eval echo \$PID_"$name")" 2>/dev/null || break
    sleep 0.1
  done
  nok "cairn-wl-server $name starts"
  finish
}
# stop_server NAME: SIGTERM; must exit 0 (every handle closed; under ASan
# also no leak).
stop_server() {
  local pid st
  pid=$(eval echo \$PID_"$1")
  kill -TERM "$pid"
  wait "$pid"
  st=$?
  check "$st" "cairn-wl-server $1 exits 0 on SIGTERM (status $st)"
}

# ---- help and bad usage (no server needed) --------------------------------
for c in "api" "api fetch x509" "api fetch jwt" "api fetch x509-bundles" \
         "api fetch jwt-bundles" "api validate jwt" "healthcheck"; do
  # shellcheck disable=SC2086
  run $c -h
  if [ "$RC" -eq 0 ] && [ ! -s "$W/err" ] &&
     grep -q "^Usage: cairn-agent $c" "$W/out" &&
     grep -q "Exit status" "$W/out"; then
    ok "$c -h: usage on stdout, exit 0"
  else
    nok "$c -h: exit $RC: $(head -c 200 "$W/out") $(head -c 200 "$W/err")"
  fi
done
run --help
if [ "$RC" -eq 0 ] && grep -q "api fetch x509" "$W/out" &&
   grep -q "healthcheck" "$W/out"; then
  ok "cairn-agent --help lists api and healthcheck"
else
  nok "cairn-agent --help lists api and healthcheck"
fi

N=$W/none.sock
expect_fail "unknown flag" 2 "^Error: flag provided but not defined: -bogus \(see 'cairn-agent api fetch x509 -h'\)$" \
  api fetch x509 -bogus
expect_fail "unknown api command" 2 "^Error: unknown command \"api frob\"" api frob
expect_fail "unknown fetch kind" 2 "^Error: unknown command \"fetch svid\"" api fetch svid
expect_fail "validate needs jwt" 2 "^Error: .*needs \"jwt\"" api validate x509
expect_fail "positional argument" 2 "^Error: unexpected argument \"extra\"" \
  api fetch x509 extra
expect_fail "flag without value" 2 "^Error: flag needs an argument: -socketPath" \
  api fetch x509 -socketPath
expect_fail "bad -timeout" 2 "^Error: invalid value \"5x\" for -timeout" \
  api fetch x509 -timeout 5x -socketPath "$N"
expect_fail "bad -output" 2 "^Error: invalid value \"yaml\" for -output" \
  api fetch x509 -output yaml -socketPath "$N"
expect_fail "fetch jwt without -audience" 2 "^Error: audience must be specified" \
  api fetch jwt -socketPath "$N"
expect_fail "fetch jwt with an empty audience" 2 "^Error: -audience values must not be empty" \
  api fetch jwt -audience a,,b -socketPath "$N"
expect_fail "fetch jwt with a bad -spiffeID" 2 "^Error: invalid -spiffeID \"example.org/x\"" \
  api fetch jwt -audience a -spiffeID example.org/x -socketPath "$N"
expect_fail "validate jwt without -svid" 2 "^Error: svid must be specified" \
  api validate jwt -audience a -socketPath "$N"
expect_fail "validate jwt without -audience" 2 "^Error: audience must be specified" \
  api validate jwt -svid x.y.z -socketPath "$N"
expect_fail "healthcheck unknown flag" 2 "^Error: flag provided but not defined: -deep" \
  healthcheck -deep
expect_fail "bad boolean" 2 "^Error: invalid boolean value \"maybe\" for -silent" \
  api fetch x509 -silent=maybe

# ---- no agent --------------------------------------------------------------
expect_fail "fetch x509, no socket" 1 "^Error: cannot connect to the Workload API: no socket at $N \(is cairn-agent running\? see -socketPath\)$" \
  api fetch x509 -socketPath "$N"
expect_fail "fetch jwt, no socket" 1 "no socket at $N" \
  api fetch jwt -audience a -socketPath "$N"
expect_fail "validate jwt, no socket" 1 "no socket at $N" \
  api validate jwt -audience a -svid x.y.z -socketPath "$N"
expect_fail "fetch x509-bundles, no socket" 1 "no socket at $N" \
  api fetch x509-bundles -socketPath "$N"
run healthcheck -socketPath "$N"
if [ "$RC" -eq 1 ] && [ ! -s "$W/out" ] &&
   grep -q "^Agent is unhealthy: unable to determine health: .*no socket at $N" "$W/err"; then
  ok "healthcheck, no socket: exit 1, $(cat "$W/err")"
else
  nok "healthcheck, no socket: exit $RC: $(cat "$W/out" "$W/err")"
fi
if [ ! -e /tmp/cairn-agent/public/api.sock ]; then
  expect_fail "default socket path" 1 "no socket at /tmp/cairn-agent/public/api.sock" \
    api fetch x509
else
  skip "default socket path" "an agent listens on /tmp/cairn-agent/public/api.sock"
fi
# A listener that never speaks HTTP/2: the timeout must end the call.
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(8)
print("ready", flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' "$W/mute.sock" >"$W/mute.out" 2>"$W/mute.log" &
PIDS="$PIDS $!"
for i in $(seq 1 100); do grep -q ready "$W/mute.out" && break; sleep 0.1; done
expect_fail "silent server: -timeout ends the call" 1 "^Error: FetchX509SVID: no answer from the agent within 1s$" \
  api fetch x509 -socketPath "$W/mute.sock" -timeout 1s

# ---- a serving agent -------------------------------------------------------
start_server main \
  --entry "a-me|$ME|unix:uid:$U|me|fed.example" \
  --entry "b-two|$TWO|unix:uid:$U||" \
  --entry "c-other|$TD/cli/other|unix:uid:12345||"
S=$W/main.sock

expect_ok "healthcheck" healthcheck -socketPath "$S" &&
  [ "$(cat "$W/out")" = "Agent is healthy." ]
check $? "healthcheck prints exactly 'Agent is healthy.'"
expect_ok "healthcheck -verbose" healthcheck -socketPath "$S" -verbose
has "verbose: checking" "Checking agent health..."
has "verbose: status" "Health status: SERVING"

expect_ok "api fetch x509" api fetch x509 -socketPath "$S"
if head -n 1 "$W/out" | grep -Eq '^Received 2 svids after [0-9.]+(ns|µs|ms|s)$'; then
  ok "first line: $(head -n 1 "$W/out")"
else
  nok "first line: $(head -n 1 "$W/out")"
fi
has "SPIFFE ID of the first SVID" "$(printf 'SPIFFE ID:\t\t%s' "$ME")"
has "SPIFFE ID of the second SVID" "$(printf 'SPIFFE ID:\t\t%s' "$TWO")"
has "hint" "$(printf 'Hint:\t\t\tme')"
has "bundle CA" "$(printf 'CA #1 Valid Until:\t')"
has "federated CA" "$(printf '[spiffe://fed.example] CA #1 Valid After:\t')"
if grep -q "cli/other" "$W/out"; then nok "other uid's entry not shown"
else ok "other uid's entry not shown"; fi
cp "$W/out" "$W/pretty.txt"

# -write into a directory that does not exist yet.
D=$W/svids/x
expect_ok "api fetch x509 -write -silent" api fetch x509 -socketPath "$S" -write "$D" -silent
if [ "$(wc -l <"$W/out")" -eq 8 ] &&
   [ "$(sed -n 1p "$W/out")" = "Writing SVID #0 to file $D/svid.0.pem." ] &&
   [ "$(sed -n 2p "$W/out")" = "Writing key #0 to file $D/svid.0.key." ] &&
   [ "$(sed -n 3p "$W/out")" = "Writing bundle #0 to file $D/bundle.0.pem." ] &&
   [ "$(sed -n 4p "$W/out")" = "Writing federated bundle #0 for trust domain spiffe://fed.example to file $D/federated_bundle.0.0.pem." ]; then
  ok "-silent prints only the 8 Writing lines"
else
  nok "-write output: $(cat "$W/out")"
fi
[ "$(stat -c %a "$D")" = 700 ]
check $? "-write created the directory with mode 0700"
for i in 0 1; do
  [ "$(stat -c %a "$D/svid.$i.key")" = 600 ]
  check $? "svid.$i.key has mode 0600 ($(stat -c %a "$D/svid.$i.key"))"
  [ "$(stat -c %a "$D/svid.$i.pem")" = 644 ] &&
    [ "$(stat -c %a "$D/bundle.$i.pem")" = 644 ]
  check $? "svid.$i.pem and bundle.$i.pem have mode 0644"
  out=$(openssl verify -CAfile "$D/bundle.$i.pem" "$D/svid.$i.pem" 2>&1)
  check $? "openssl verify svid.$i.pem against bundle.$i.pem: $out"
  a=$(openssl pkey -in "$D/svid.$i.key" -pubout 2>/dev/null)
  b=$(openssl x509 -in "$D/svid.$i.pem" -noout -pubkey 2>/dev/null)
  [ -n "$a" ] && [ "$a" = "$b" ]
  check $? "svid.$i.key is the key of svid.$i.pem"
  grep -q -- "-----BEGIN PRIVATE KEY-----" "$D/svid.$i.key"
  check $? "svid.$i.key is PKCS#8 PEM"
done
san0=$(openssl x509 -in "$D/svid.0.pem" -noout -ext subjectAltName 2>/dev/null)
case $san0 in *"URI:$ME"*) ok "svid.0.pem is $ME (the default identity)" ;;
  *) nok "svid.0.pem SAN: $san0" ;; esac
san1=$(openssl x509 -in "$D/svid.1.pem" -noout -ext subjectAltName 2>/dev/null)
case $san1 in *"URI:$TWO"*) ok "svid.1.pem is $TWO" ;;
  *) nok "svid.1.pem SAN: $san1" ;; esac
fsan=$(openssl x509 -in "$D/federated_bundle.0.0.pem" -noout -ext subjectAltName 2>/dev/null)
case $fsan in *"URI:spiffe://fed.example"*) ok "federated_bundle.0.0.pem is fed.example's CA" ;;
  *) nok "federated bundle SAN: $fsan" ;; esac
if openssl verify -CAfile "$D/federated_bundle.0.0.pem" "$D/svid.0.pem" >/dev/null 2>&1; then
  nok "svid.0.pem must not verify against the federated bundle"
else
  ok "svid.0.pem does not verify against the federated bundle"
fi
# The validity printed is the certificate's (openssl's notAfter).
na=$(openssl x509 -in "$D/svid.0.pem" -noout -enddate | sed 's/^notAfter=//')
na=$(date -u -d "$na" '+%Y-%m-%d %H:%M:%S +0000 UTC')
grep -A4 -F "$(printf 'SPIFFE ID:\t\t%s' "$ME")" "$W/pretty.txt" |
  grep -qF "$(printf 'SVID Valid Until:\t%s' "$na")"
check $? "printed SVID Valid Until matches openssl ($na)"
# Files are replaced, and the key's mode restored.
chmod 644 "$D/svid.0.key"
expect_ok "second -write over existing files" api fetch x509 -socketPath "$S" -write "$D" -silent
[ "$(stat -c %a "$D/svid.0.key")" = 600 ]
check $? "rewritten svid.0.key is 0600 again"

expect_ok "api fetch (x509 by default)" api fetch -socketPath "$S" -silent

expect_ok "api fetch x509 -output json" api fetch x509 -socketPath "$S" -output json
openssl x509 -in "$D/svid.0.pem" -outform DER -out "$W/leaf0.der"
"$PY" - "$W/out" "$W/leaf0.der" "$ME" <<'EOF'
import base64, json, sys
d = json.load(open(sys.argv[1]))
leaf = open(sys.argv[2], "rb").read()
s = d["svids"]
assert len(s) == 2, s
assert s[0]["spiffe_id"] == sys.argv[3], s[0]["spiffe_id"]
assert base64.b64decode(s[0]["x509_svid"]) == leaf, "x509_svid != svid.0.pem"
assert s[0]["hint"] == "me"
assert base64.b64decode(s[0]["x509_svid_key"])[0] == 0x30
assert list(d["federated_bundles"]) == ["spiffe://fed.example"]
assert d["crl"] == []
EOF
check $? "JSON output: proto field names, base64 DER equal to svid.0.pem"

# -config: the socket path of an agent configuration.
cat >"$W/agent.conf" <<EOC
agent {
  trust_domain = "example.org"
  server_address = "127.0.0.1"
  socket_path = "$S"
  insecure_bootstrap = true
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
}
EOC
expect_ok "-config takes socket_path from the agent configuration" \
  api fetch x509 -config "$W/agent.conf" -silent
expect_ok "healthcheck -config" healthcheck -config "$W/agent.conf"
expect_fail "-socketPath wins over -config" 1 "no socket at $N" \
  api fetch x509 -config "$W/agent.conf" -socketPath "$N"
expect_fail "missing -config file" 1 "^Error: cannot load the configuration: .*nothere.conf" \
  api fetch x509 -config "$W/nothere.conf"

# JWT-SVIDs: every identity, several audiences (repeated and comma lists).
expect_ok "api fetch jwt" api fetch jwt -socketPath "$S" -audience aud1 -audience aud2,aud3
has "token of $ME" "token($ME):"
has "token of $TWO" "token($TWO):"
has "hint of $ME" "hint($ME):"
has "own JWT bundle" "bundle($TD):"
has "federated JWT bundle" "bundle(spiffe://fed.example):"
cp "$W/out" "$W/jwt.txt"
"$PY" - "$W/jwt.txt" "$ME" "$TWO" <<'EOF'
import base64, json, sys
lines = open(sys.argv[1]).read().split("\n")
def after(label):
    return lines[lines.index(label) + 1].lstrip("\t")
def claims(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
for sid in sys.argv[2:]:
    c = claims(after("token(%s):" % sid))
    assert c["sub"] == sid, c
    assert sorted(c["aud"]) == ["aud1", "aud2", "aud3"], c
    assert c["exp"] > c["iat"], c
assert after("hint(%s):" % sys.argv[2]) == "me"
jwks = json.loads(after("bundle(spiffe://example.org):"))
assert jwks["keys"] and jwks["keys"][0]["kty"] == "EC", jwks
EOF
check $? "JWT claims (sub, aud, exp) and the JWKS decode"

expect_ok "api fetch jwt -spiffeID" api fetch jwt -socketPath "$S" -audience db -spiffeID "$TWO"
[ "$(grep -c '^token(' "$W/out")" -eq 1 ] && grep -qF "token($TWO):" "$W/out"
check $? "-spiffeID restricts the answer to one token"
TOK=$(sed -n 2p "$W/out" | tr -d '\t')
expect_fail "fetch jwt for an ID that is not ours" 1 "^Error: FetchJWTSVID: PERMISSION_DENIED: .*\\($TD/cli/other is not an identity of this process" \
  api fetch jwt -socketPath "$S" -audience db -spiffeID "$TD/cli/other"

# Round trip: the token fetched validates; wrong audience / tampering not.
expect_ok "api validate jwt (round trip)" api validate jwt -socketPath "$S" -audience db -svid "$TOK"
[ "$(sed -n 1p "$W/out")" = "SVID is valid." ] &&
  [ "$(sed -n 2p "$W/out")" = "SPIFFE ID : $TWO" ]
check $? "validate prints 'SVID is valid.' and the SPIFFE ID"
sed -n 3p "$W/out" | sed 's/^Claims    : //' |
  "$PY" -c 'import json,sys; c=json.load(sys.stdin); assert c["aud"]==["db"] and c["sub"]==sys.argv[1] and isinstance(c["exp"], int), c' "$TWO"
check $? "validate prints the claims as JSON"
"$AGENT" api validate jwt -socketPath "$S" -audience db -svid - <<<"  $TOK  " \
  >"$W/out" 2>"$W/err"
[ $? -eq 0 ] && [ "$(sed -n 1p "$W/out")" = "SVID is valid." ]
check $? "validate -svid - reads the token from stdin"
expect_fail "validate with the wrong audience" 1 "^Error: SVID is not valid: .*audience" \
  api validate jwt -socketPath "$S" -audience other -svid "$TOK"
BAD=${TOK%?}
case ${TOK: -1} in A) BAD=${BAD}B ;; *) BAD=${BAD}A ;; esac
expect_fail "validate a tampered token" 1 "^Error: SVID is not valid: " \
  api validate jwt -socketPath "$S" -audience db -svid "$BAD"
expect_ok "validate -output json" api validate jwt -socketPath "$S" -audience db -svid "$TOK" -output json
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["spiffe_id"]==sys.argv[2] and d["claims"]["aud"]==["db"], d' "$W/out" "$TWO"
check $? "validate JSON output"
expect_ok "fetch jwt -output json" api fetch jwt -socketPath "$S" -audience db -output json
"$PY" -c '
import base64, json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 2 and len(d[0]["svids"]) == 2, d
json.loads(base64.b64decode(d[1]["bundles"]["spiffe://example.org"]))
' "$W/out"
check $? "fetch jwt JSON output: [JWTSVIDResponse, JWTBundlesResponse]"

# Bundles.
expect_ok "api fetch jwt-bundles" api fetch jwt-bundles -socketPath "$S"
[ "$(grep -c '^bundle(' "$W/out")" -eq 2 ]
check $? "jwt-bundles: own and federated"
B=$W/bundles
expect_ok "api fetch x509-bundles -write" api fetch x509-bundles -socketPath "$S" -write "$B"
has "x509-bundles: own trust domain" "$(printf 'Trust domain:\t\t%s' "$TD")"
has "x509-bundles: federated trust domain" "$(printf 'Trust domain:\t\tspiffe://fed.example')"
out=$(openssl verify -CAfile "$B/bundle.0.pem" "$D/svid.1.pem" 2>&1)
check $? "svid.1.pem verifies against x509-bundles' bundle.0.pem: $out"

# The health service to a standard gRPC client (C-core via python3-grpcio).
"$PY" - "$S" <<'EOF'
import sys
import grpc
ch = grpc.insecure_channel("unix:" + sys.argv[1])
check = ch.unary_unary("/grpc.health.v1.Health/Check",
                       request_serializer=lambda b: b,
                       response_deserializer=lambda b: b)
# HealthCheckResponse{status: SERVING} is field 1 varint 1.
assert check(b"", timeout=10) == b"\x08\x01"
try:
    check(b"\x0a\x01x", timeout=10)  # service = "x"
    raise SystemExit("per-service check answered")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code()
watch = ch.unary_stream("/grpc.health.v1.Health/Watch",
                        request_serializer=lambda b: b,
                        response_deserializer=lambda b: b)
try:
    list(watch(b"", timeout=10))
    raise SystemExit("Watch answered")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code()
EOF
check $? "python3-grpcio: Health/Check SERVING, per-service INVALID_ARGUMENT, Watch UNIMPLEMENTED"

# ---- another uid: no entry -> PERMISSION_DENIED ----------------------------
if [ -n "${QEMU_LD_PREFIX:-}" ]; then
  # A cross build run through binfmt_misc: the ARM loader comes from the
  # sysroot, which other uids usually cannot read (it lives under ~root).
  skip "uid without an entry gets PERMISSION_DENIED" \
       "cross build: uid 65534 cannot load the ARM binary from $QEMU_LD_PREFIX"
elif [ "$U" -eq 0 ]; then
  cp "$AGENT" "$W/cairn-agent" && chmod 755 "$W/cairn-agent"
  as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups "$W/cairn-agent" "$@" \
      >"$W/out" 2>"$W/err" </dev/null
    RC=$?
  }
  for c in "api fetch x509" "api fetch jwt -audience db" \
           "api validate jwt -audience db -svid $TOK"; do
    # shellcheck disable=SC2086
    as_nobody $c -socketPath "$S"
    if [ "$RC" -eq 1 ] && [ ! -s "$W/out" ] && [ "$(wc -l <"$W/err")" -eq 1 ] &&
       grep -Eq '^Error: [A-Za-z0-9]+: PERMISSION_DENIED: no identity issued \(no registration entry matches this process: uid 65534, gid 65534\)$' "$W/err"; then
      ok "uid 65534, ${c%% -svid*}: $(cat "$W/err")"
    else
      nok "uid 65534, ${c%% -svid*}: exit $RC: $(cat "$W/out" "$W/err")"
    fi
  done
  as_nobody healthcheck -socketPath "$S"
  [ "$RC" -eq 0 ] && [ "$(cat "$W/out")" = "Agent is healthy." ]
  check $? "uid 65534: healthcheck needs no identity"
else
  skip "uid without an entry gets PERMISSION_DENIED" "not root (setpriv needs root)"
fi
stop_server main
[ ! -e "$S" ]
check $? "socket removed at shutdown"

# ---- an agent that is not ready ---------------------------------------------
start_server sick --health not-serving --entry "a-me|$ME|unix:uid:$U||"
expect_fail "healthcheck: NOT_SERVING" 1 '^Agent is unhealthy: agent returned status "NOT_SERVING"$' \
  healthcheck -socketPath "$W/sick.sock"
expect_ok "healthcheck -shallow accepts NOT_SERVING" healthcheck -shallow -socketPath "$W/sick.sock"
stop_server sick

finish
