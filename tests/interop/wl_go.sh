#!/bin/bash
# interop.wl_go: grpc-go (Debian's golang-google-grpc-dev) against cairn-agent's
# Workload API served by cairn-wl-server. The client is generated from
# shared/proto/workload.proto with protoc-gen-go and protoc-gen-go-grpc and
# built offline in GOPATH mode (GO111MODULE=off, GOPATH including
# /usr/share/gocode, GOPROXY=off): nothing is downloaded.
#
#   wl_go.sh SERVER_BINARY WORKLOAD_PROTO BUILD_DIR
#
# Prints TAP lines and "N passed, N failed".
set -u
SERVER=$1 PROTO=$2 OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
nok() { failed=$((failed + 1)); echo "not ok - $*"; }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# Tools: tools/deps.sh installs them (golang-go golang-google-grpc-dev
# golang-google-protobuf-dev protoc-gen-go protoc-gen-go-grpc
# protobuf-compiler); a missing one is a failure, not a skip.
for t in go protoc protoc-gen-go protoc-gen-go-grpc; do
  command -v "$t" >/dev/null || { nok "$t is installed (see tools/deps.sh)"; finish; }
done
[ -d /usr/share/gocode/src/google.golang.org/grpc ] ||
  { nok "golang-google-grpc-dev is installed"; finish; }

# Generate and build (cached in BUILD_DIR across runs).
GP=$OUT/gopath
PKG=$GP/src/cairnwl
mkdir -p "$PKG/wlpb" "$PKG/client" "$OUT/gocache"
if ! protoc -I"$(dirname "$PROTO")" -I/usr/include \
    --go_out="$PKG/wlpb" --go_opt=paths=source_relative \
    --go_opt=M"$(basename "$PROTO")"=cairnwl/wlpb \
    --go-grpc_out="$PKG/wlpb" --go-grpc_opt=paths=source_relative \
    --go-grpc_opt=M"$(basename "$PROTO")"=cairnwl/wlpb \
    "$PROTO" 2>"$OUT/protoc.log"; then
  nok "protoc-gen-go / protoc-gen-go-grpc generate the client: $(cat "$OUT/protoc.log")"
  finish
fi
ok "Go code generated from workload.proto (workload.pb.go, workload_grpc.pb.go)"
cp "$HERE/wl_go/main.go" "$PKG/client/main.go"
if ! (cd "$PKG/client" && GO111MODULE=off GOPATH="$GP:/usr/share/gocode" \
      GOCACHE="$OUT/gocache" GOPROXY=off GOFLAGS='' GOTOOLCHAIN=local \
      go build -o "$OUT/wl-go-client" . ) >"$OUT/build.log" 2>&1; then
  nok "go build in GOPATH mode: $(tail -20 "$OUT/build.log")"
  finish
fi
gover=$(go version | cut -d' ' -f3)
grpcver=$(dpkg-query -W -f='${Version}' golang-google-grpc-dev 2>/dev/null)
ok "grpc-go client built offline ($gover, grpc-go $grpcver)"

WORK=$(mktemp -d /tmp/cairn-wl-go-XXXXXX)
SRV_PID=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
SOCK=$WORK/agent.sock
ME="spiffe://example.org/go/uid-$(id -u)"
"$SERVER" "$SOCK" --ttl 6 --mint-delay-ms 10 \
  --entry "go-me|$ME|unix:uid:$(id -u)||fed.example" \
  --entry "go-other|spiffe://example.org/go/other|unix:uid:12345||" \
  >"$WORK/server.out" 2>"$WORK/server.err" &
SRV_PID=$!
for _ in $(seq 100); do
  grep -q ready "$WORK/server.out" 2>/dev/null && break
  sleep 0.1
done
if ! grep -q ready "$WORK/server.out"; then
  nok "server starts: $(cat "$WORK/server.err")"
  finish
fi
ok "server starts"

"$OUT/wl-go-client" "$SOCK" "$ME" >"$WORK/client.out" 2>&1
rc=$?
# The client's own summary line is shown as a comment: the last line of this
# script is the one summary of the test.
sed -E 's/^([0-9]+ passed, [0-9]+ failed)$/# client: \1/' "$WORK/client.out"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/client.out")
cp=$(echo "$summary" | cut -d' ' -f1)
cf=$(echo "$summary" | cut -d' ' -f3)
if [ -z "$summary" ]; then
  nok "client ran to the end (status $rc)"
else
  passed=$((passed + cp)) failed=$((failed + cf))
  [ "$rc" -eq 0 ] || [ "$cf" -gt 0 ] || nok "client exit status $rc"
fi

kill -TERM "$SRV_PID"
wait "$SRV_PID"
src=$?
SRV_PID=
if [ "$src" -eq 0 ]; then
  ok "server exits cleanly"
else
  nok "server exit status $src: $(tail -5 "$WORK/server.err")"
fi
finish
