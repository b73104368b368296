#!/bin/bash
# integration.agent_wl: the SPIFFE Workload API of a real cairn-agent that
# syncs its entries and SVIDs from a real cairn-cloud, driven with the real
# `cairn` CLI, seen by real clients: python3-grpcio (tests/integration/
# agent_wl.py) and grpc-go (tests/interop/wl_go/main.go, built offline in
# GOPATH mode as tests/interop/wl_go.sh does).
#
#   agent_wl.sh CAIRN_CLOUD CAIRN CAIRN_AGENT WORKLOAD_DESC WORKLOAD_PROTO GO_BUILD_DIR
#
# Part 1 (ca_ttl 24h; the workload entries ask for 20 s X509-SVIDs with
# -x509SVIDTTL, so the node SVID keeps the default 1 h and survives the
# server's downtime below):
#   - before any entry: PERMISSION_DENIED; the socket is mode 0777;
#   - every RPC (python3-grpcio): the security header, FetchX509SVID
#     (openssl verify -CAfile bundle [-untrusted intermediates] leaf),
#     FetchX509Bundles and FetchJWTBundles (equal to `cairn bundle show`),
#     FetchJWTSVID (python3-jwt against the JWKS: aud, sub),
#     ValidateJWTSVID, FetchWITSVID/FetchWITBundles -> UNIMPLEMENTED;
#   - a renewed SVID (new serial) arrives on an open FetchX509SVID stream;
#   - as root, setpriv: uid 65534 gets its own identity, uid 65533 (no
#     entry) PERMISSION_DENIED (skipped with a reason otherwise);
#   - the grpc-go client (header, SVID + rotation, bundles, JWT, WIT, 50
#     streams);
#   - an entry created / deleted with the CLI appears in / leaves an open
#     stream (the SVID list grows and shrinks); the last entry of a caller
#     deleted: its stream ends with PERMISSION_DENIED;
#   - cairn-cloud stopped: the agent reports it unreachable and keeps
#     serving its cached SVIDs to new calls, the open stream stays open;
#     cairn-cloud back: the agent follows deletions again.
# Part 2 (a fresh server with ca_ttl 60 s, so it prepares its next CA after
# ~30 s: there is no CLI command that forces a new root): the new root and
# JWT key reach open FetchX509Bundles / FetchJWTBundles streams.
#
# No timing assertions: every wait is a poll with a generous limit
# (IT_TIME_SCALE multiplies them).
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
AGENT=$3 DESC=$4 PROTO=$5 GOOUT=$6
[ -x "$AGENT" ] || { echo "Bail out! not an executable: $AGENT"; exit 1; }
[ -f "$DESC" ] || { echo "Bail out! no descriptor set: $DESC"; exit 1; }
it_init "$1" "$2"
# Other uids (setpriv) must reach the socket and the client files.
chmod 755 "$W"
mkdir -p "$W/pub"
cp "$HERE/agent_wl.py" "$HERE/../helper/wlpb.py" "$DESC" "$W/pub/"
chmod 755 "$W/pub"
chmod 644 "$W/pub/"*
PYC="$W/pub/agent_wl.py"
WDESC="$W/pub/$(basename "$DESC")"
MYUID=$(id -u)
export IT_TIME_SCALE

# On failure, show the agents' logs too (then lib.sh's cleanup).
aw_cleanup() {
  local rc=$?
  if [ "$IT_FAILS" -ne 0 ] || [ "$rc" -ne 0 ]; then agent_dump_logs a1 a2; fi
  (exit "$rc")
  it_cleanup
}
trap aw_cleanup EXIT

# ---- helpers ----------------------------------------------------------------

# relay CMD...: runs a client that prints TAP lines ("ok - ..." /
# "not ok - ...") and turns each into a check of this test; other lines
# become comments. A non-zero exit without a reported failure fails too.
relay() {
  local line rc=0 fails=0
  while IFS= read -r line; do
    case $line in
      "ok - "*) ok "${line#ok - }" ;;
      "not ok - "*) bad "${line#not ok - }"; fails=$((fails + 1)) ;;
      __rc=*) rc=${line#__rc=} ;;
      *) echo "# $line" ;;
    esac
  done < <("$@" 2>&1; echo "__rc=$?")
  [ "$rc" -eq 0 ] || [ "$fails" -gt 0 ] || bad "$(basename "$1") exited with status $rc"
}

# skip WORDS...: a skipped check (TAP "# SKIP" directive in the words).
skip() { IT_CHECKS=$((IT_CHECKS + 1)); echo "ok $IT_CHECKS - $*"; }

# wl SOCK ARGS...: the python client on the agent socket SOCK.
wl() {
  local sock=$1
  shift
  /usr/bin/python3 "$PYC" "$WDESC" "$sock" "$@"
}

# wl_as UID SOCK ARGS...: the same, run as UID (gid UID, no groups).
wl_as() {
  local u=$1 sock=$2
  shift 2
  (cd / && setpriv --reuid="$u" --regid="$u" --clear-groups \
    /usr/bin/python3 "$PYC" "$WDESC" "$sock" "$@")
}

# fetch_is JSON PYEXPR: evaluates PYEXPR with d = the fetch result.
fetch_is() { printf '%s' "$1" | json_get "$2" 2>/dev/null | grep -qx True; }

# watch_start NAME UID SOCK KIND: a background stream recording every
# message to $W/watch-NAME.jsonl (UID "" = this user).
watch_start() {
  local name=$1 u=$2 sock=$3 kind=$4 out=$W/watch-$1.jsonl
  : >"$out"
  chmod 666 "$out"
  if [ -n "$u" ]; then
    wl_as "$u" "$sock" watch "$kind" "$out" 900 >>"$W/watch-$name.log" 2>&1 &
  else
    wl "$sock" watch "$kind" "$out" 900 >>"$W/watch-$name.log" 2>&1 &
  fi
  IT_PIDS="$IT_PIDS $!"
}

# watch_lines NAME: messages recorded so far.
watch_lines() { wc -l <"$W/watch-$1.jsonl"; }

# watch_has NAME FROM PYEXPR: some record after the first FROM ones
# satisfies PYEXPR (d = the record).
watch_has() {
  py 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]]
sys.exit(0 if any(eval(sys.argv[3], {}, {"d": d}) for d in recs) else 1)' \
    "$W/watch-$1.jsonl" "$2" "$3"
}

# watch_wait NAME FROM PYEXPR LIMIT WHAT: polls watch_has; one check.
watch_wait() {
  if poll "$4" watch_has "$1" "$2" "$3"; then ok "$5"
  else bad "$5 (within $4 s): $(tail -n 3 "$W/watch-$1.jsonl" | tr '\n' ' ' | head -c 600)"; fi
}

# The sorted kids of the JWT keys of a JWKS / SPIFFE bundle file.
kids() {
  py 'import json, sys
print(" ".join(sorted(k["kid"] for k in json.load(open(sys.argv[1]))["keys"]
                      if k.get("use", "jwt-svid") == "jwt-svid")))' "$1"
}

# entry_create ID ARGS...: `cairn entry create -entryID ID ARGS...`.
entry_create() {
  local id=$1
  shift
  check "cairn entry create $id" cli entry create -entryID "$id" "$@"
}

# Builds the grpc-go client into $GOOUT/wl-go-client like
# tests/interop/wl_go.sh: protoc-gen-go + protoc-gen-go-grpc, GOPATH mode,
# offline (Debian's packages under /usr/share/gocode).
build_go_client() {
  local gp=$GOOUT/gopath t
  local pkg=$gp/src/cairnwl
  for t in go protoc protoc-gen-go protoc-gen-go-grpc; do
    command -v "$t" >/dev/null ||
      { bad "$t is installed (see tools/deps.sh)"; return 1; }
  done
  [ -d /usr/share/gocode/src/google.golang.org/grpc ] ||
    { bad "golang-google-grpc-dev is installed"; return 1; }
  mkdir -p "$pkg/wlpb" "$pkg/client" "$GOOUT/gocache"
  if ! protoc -I"$(dirname "$PROTO")" -I/usr/include \
      --go_out="$pkg/wlpb" --go_opt=paths=source_relative \
      --go_opt=M"$(basename "$PROTO")"=cairnwl/wlpb \
      --go-grpc_out="$pkg/wlpb" --go-grpc_opt=paths=source_relative \
      --go-grpc_opt=M"$(basename "$PROTO")"=cairnwl/wlpb \
      "$PROTO" 2>"$GOOUT/protoc.log"; then
    bad "protoc generates the Go client: $(cat "$GOOUT/protoc.log")"
    return 1
  fi
  cp "$HERE/../interop/wl_go/main.go" "$pkg/client/main.go"
  if ! (cd "$pkg/client" && GO111MODULE=off GOPATH="$gp:/usr/share/gocode" \
        GOCACHE="$GOOUT/gocache" GOPROXY=off GOFLAGS='' GOTOOLCHAIN=local \
        go build -o "$GOOUT/wl-go-client" .) >"$GOOUT/build.log" 2>&1; then
    bad "go build in GOPATH mode: $(tail -20 "$GOOUT/build.log")"
    return 1
  fi
  ok "grpc-go client built offline ($(go version | cut -d' ' -f3))"
}

# Build the Go client first: on a cold cache it takes a while, and no
# SVID may run out meanwhile.
build_go_client
GO_OK=$?

# ============================================================================
# Part 1
# ============================================================================
it_start_with_agent a1
S1=$W/a1.sock
poll 30 test -S "$S1" || die "no Workload API socket at $S1"
same "the Workload API socket is mode 0777" "$(stat -c %a "$S1")" 777

r=$(wl "$S1" fetch)
fetch_is "$r" "d['code'] == 'PERMISSION_DENIED' and d['details'] == 'no identity issued'" &&
  ok "no entry yet: PERMISSION_DENIED no identity issued" ||
  bad "no entry yet: $r"

ME=spiffe://$TD/wl/uid-$MYUID
NOBODY=spiffe://$TD/wl/nobody
entry_create e-me -parentID "$AID" -spiffeID "$ME" -selector "unix:uid:$MYUID" \
  -x509SVIDTTL 20
if [ "$MYUID" -eq 0 ]; then
  entry_create e-nobody -parentID "$AID" -spiffeID "$NOBODY" \
    -selector unix:uid:65534 -x509SVIDTTL 20
fi
# The agent hears of the new entries (observe /v1/revision), fetches them
# and their SVIDs; the stream's pending wait (10 s) may run out first.
me_served() {
  r=$(wl "$S1" fetch)
  fetch_is "$r" "d['code'] == 'OK' and d['ids'] == ['$ME']"
}
poll 90 me_served && ok "FetchX509SVID serves $ME" ||
  die "FetchX509SVID never served $ME: $r"

# ---- every RPC ---------------------------------------------------------------
relay wl "$S1" rpcs "$W" "$ME"
cli bundle show -format pem >"$W/server-bundle.pem"
cli bundle show -format spiffe >"$W/server-bundle.json"
same "the agent's X.509 bundle is the server's (cairn bundle show)" \
  "$(fps "$W/agent-bundle.pem")" "$(fps "$W/server-bundle.pem")"
same "the agent's JWT keys are the server's" \
  "$(kids "$W/agent-jwks.json")" "$(kids "$W/server-bundle.json")"

# ---- rotation on an open stream ------------------------------------------------
relay wl "$S1" rotation "$W" "$ME"

# ---- other uids ---------------------------------------------------------------------
if [ "$MYUID" -eq 0 ]; then
  r=$(wl_as 65534 "$S1" fetch)
  fetch_is "$r" "d['code'] == 'OK' and d['ids'] == ['$NOBODY']" &&
    ok "uid 65534 gets its own identity $NOBODY" || bad "uid 65534: $r"
  r=$(wl_as 65533 "$S1" fetch)
  fetch_is "$r" "d['code'] == 'PERMISSION_DENIED' and d['details'] == 'no identity issued'" &&
    ok "uid 65533 (no entry) gets PERMISSION_DENIED" || bad "uid 65533: $r"
else
  skip "uid 65534 gets its own identity, uid 65533 PERMISSION_DENIED, and" \
    "uid 65534's stream ends when its entry goes" \
    "# SKIP needs root for setpriv (running as uid $MYUID)"
fi

# ---- grpc-go ------------------------------------------------------------------------
if [ "$GO_OK" -eq 0 ]; then
  relay "$GOOUT/wl-go-client" "$S1" "$ME" -
fi

# ---- entries created and deleted under an open stream ---------------------------
watch_start me "" "$S1" svid
watch_wait me 0 "d.get('ids') == ['$ME']" 60 "stream A: first message [$ME]"
if [ "$MYUID" -eq 0 ]; then
  watch_start nobody 65534 "$S1" svid
  watch_wait nobody 0 "d.get('ids') == ['$NOBODY']" 60 \
    "stream B (uid 65534): first message [$NOBODY]"
fi
EXTRA=spiffe://$TD/wl/extra
n=$(watch_lines me)
entry_create e-extra -parentID "$AID" -spiffeID "$EXTRA" \
  -selector "unix:uid:$MYUID" -x509SVIDTTL 20
watch_wait me "$n" "d.get('ids') == sorted(['$ME', '$EXTRA'])" 90 \
  "stream A receives the new entry's SVID: [$ME, $EXTRA]"
n=$(watch_lines me)
check "cairn entry delete e-extra" cli entry delete -entryID e-extra
watch_wait me "$n" "d.get('ids') == ['$ME']" 90 \
  "stream A: the deleted entry's SVID leaves the list: [$ME]"
if [ "$MYUID" -eq 0 ]; then
  check "cairn entry delete e-nobody" cli entry delete -entryID e-nobody
  watch_wait nobody 0 "d.get('end') == 'PERMISSION_DENIED' and d.get('details') == 'no identity issued'" 90 \
    "stream B ends with PERMISSION_DENIED once its only entry is deleted"
  r=$(wl_as 65534 "$S1" fetch)
  fetch_is "$r" "d['code'] == 'PERMISSION_DENIED'" &&
    ok "uid 65534 now gets PERMISSION_DENIED" || bad "uid 65534 after delete: $r"
fi

# ---- cairn-cloud stopped: the cache keeps serving ---------------------------------
# STAY has the default 1 h TTL: it outlives the downtime (ME's 20 s SVID may
# expire meanwhile and is then left out, never sent expired).
STAY=spiffe://$TD/wl/stay
n=$(watch_lines me)
entry_create e-stay -parentID "$AID" -spiffeID "$STAY" -selector "unix:uid:$MYUID"
watch_wait me "$n" "d.get('ids') == sorted(['$ME', '$STAY'])" 90 \
  "stream A: [$ME, $STAY]"
it_stop
if agent_wait_log a1 "server 127.0.0.1:$AGENT_PORT unreachable .*running on the node SVID" 60
then ok "the agent reports the server unreachable"
else bad "the agent did not report the server unreachable"; fi
r=$(wl "$S1" fetch)
fetch_is "$r" "d['code'] == 'OK' and '$STAY' in d['ids']" &&
  ok "server down: a new FetchX509SVID still gets the cached SVIDs $r" ||
  bad "server down: FetchX509SVID: $r"
watch_has me 0 "'end' in d" && bad "stream A ended while the server was down" ||
  ok "stream A stays open while the server is down"
it_start
if agent_wait_log a1 "server 127.0.0.1:$AGENT_PORT is reachable again" 90
then ok "the agent is back in touch with the server"
else bad "the agent did not report the server reachable again"; fi

# The last entries of a caller deleted: its stream ends.
check "cairn entry delete e-me e-stay" cli entry delete -entryID e-me -entryID e-stay
watch_wait me 0 "d.get('end') == 'PERMISSION_DENIED' and d.get('details') == 'no identity issued'" 120 \
  "stream A ends with PERMISSION_DENIED once the caller's last entries are deleted"
r=$(wl "$S1" fetch)
fetch_is "$r" "d['code'] == 'PERMISSION_DENIED'" &&
  ok "a new FetchX509SVID gets PERMISSION_DENIED" || bad "after delete: $r"
agent_stop a1
[ -e "$S1" ] && bad "the agent left its socket behind" ||
  ok "the agent removed its socket at shutdown"
same "no ERROR lines in the agent's log" "$(agent_log_count a1 ' ERROR ')" 0
it_stop

# ============================================================================
# Part 2: a bundle change reaches open bundle streams
# ============================================================================
rm -rf "$W/data" "$W/cloud.conf"
AGENT_PORT=$(free_udp_port)
it_config 'bind_address = "127.0.0.1"' "bind_port = $AGENT_PORT" \
  'ca_ttl = "60s"' 'default_x509_svid_ttl = "10s"' 'default_jwt_svid_ttl = "10s"'
it_start
cli bundle show -format pem >"$W/bootstrap.pem"
T2=$(cli token generate | sed -n 's/^Token: //p')
AID2=spiffe://$TD/spire/agent/join_token/$T2
agent_config a2 "$T2"
agent_start a2
agent_wait_log a2 "attested as $AID2" 60 || die "a2 did not attest"
S2=$W/a2.sock
ROT=spiffe://$TD/wl/rotation
entry_create e-rot -parentID "$AID2" -spiffeID "$ROT" -selector "unix:uid:$MYUID"
rot_served() {
  r=$(wl "$S2" fetch)
  fetch_is "$r" "d['code'] == 'OK' and d['ids'] == ['$ROT']"
}
poll 90 rot_served && ok "FetchX509SVID serves $ROT" || die "$ROT not served: $r"
watch_start xb "" "$S2" x509bundles
watch_start jb "" "$S2" jwtbundles
ONE="spiffe://$TD"
watch_wait xb 0 "len(d.get('bundles', {}).get('$ONE', [])) == 1" 60 \
  "FetchX509Bundles stream: one root first"
watch_wait jb 0 "len(d.get('kids', {}).get('$ONE', [])) == 1" 60 \
  "FetchJWTBundles stream: one JWT key first"
first_root=$(head -n 1 "$W/watch-xb.jsonl" | json_get "' '.join(d['bundles']['$ONE'])")
same "... the server's root" "$first_root" "$(fps "$W/bootstrap.pem")"
# The server prepares its next CA and JWT key at half of ca_ttl.
watch_wait xb 1 "len(d.get('bundles', {}).get('$ONE', [])) == 2 and '$first_root' in d['bundles']['$ONE']" 150 \
  "the open FetchX509Bundles stream receives the bundle with the prepared root next to the first"
cli bundle show -format pem >"$W/server-bundle2.pem"
two=$(tail -n 1 "$W/watch-xb.jsonl" | json_get "' '.join(d['bundles']['$ONE'])")
case $(count_certs "$W/server-bundle2.pem") in
  2) same "... the same two roots as cairn bundle show" "$two" "$(fps "$W/server-bundle2.pem")" ;;
  *) note "the server's bundle moved on meanwhile; roots not compared" ;;
esac
watch_wait jb 1 "len(d.get('kids', {}).get('$ONE', [])) == 2" 150 \
  "the open FetchJWTBundles stream receives the prepared JWT key"
agent_wait_log a2 "trust bundle updated" 30 &&
  ok "the agent logged the bundle update" || bad "no 'trust bundle updated' in a2's log"
watch_has xb 0 "'end' in d" && bad "the bundle stream ended: $(tail -n 1 "$W/watch-xb.jsonl")" ||
  ok "the bundle stream is still open"
agent_stop a2
same "no ERROR lines in a2's log" "$(agent_log_count a2 ' ERROR ')" 0
it_stop
it_done
