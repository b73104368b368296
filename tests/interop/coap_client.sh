#!/bin/sh
# CoAP over DTLS interop with a real peer: Debian's coap-client-gnutls
# (libcoap3-bin) against cairn-coap-server (net.h server with an SVID).
#
#   coap_client.sh SERVER_TOOL WORKDIR
#
# coap-client exits 0 even when the handshake fails, so every check reads
# its output (stdout + stderr) instead of its exit status.
set -eu

TOOL=$1
W=$2
CLIENT=${COAP_CLIENT:-coap-client-gnutls}
rm -rf "$W"
mkdir -p "$W"
FAILS=0
CHECKS=0

ok() { CHECKS=$((CHECKS + 1)); echo "ok - $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "not ok - $*"; }

if ! command -v "$CLIENT" >/dev/null 2>&1; then
  echo "not ok - $CLIENT not found (apt-get install libcoap3-bin)"
  exit 1
fi

"$TOOL" "$W" 90 >"$W/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT INT TERM

i=0
while [ ! -s "$W/port" ]; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 $PID 2>/dev/null; then
    echo "not ok - server did not start"
    cat "$W/server.log"
    exit 1
  fi
  sleep 0.1
done
PORT=$(cat "$W/port")
URI="coaps://127.0.0.1:$PORT"

# cc NAME ARGS...: runs the client, output (both streams) into $W/NAME.out.
cc() {
  name=$1
  shift
  timeout 30 "$CLIENT" -B 10 "$@" >"$W/$name.out" 2>&1 || true
}

# expect NAME TEXT WHAT: the output of NAME contains TEXT.
expect() {
  if grep -qF -- "$2" "$W/$1.out"; then ok "$3"; else
    bad "$3 (wanted '$2')"
    sed 's/^/#   /' "$W/$1.out"
  fi
}

# expect_not NAME TEXT WHAT: the output of NAME does not contain TEXT.
expect_not() {
  if grep -qF -- "$2" "$W/$1.out"; then
    bad "$3 (unexpected '$2')"
    sed 's/^/#   /' "$W/$1.out"
  else ok "$3"; fi
}

AGENT="-c $W/agent.pem -j $W/agent.key -C $W/ca.pem"
AGENT_ID=spiffe://example.org/spire/agent/join_token/interop

# 1. Mutual authentication: the server's handler sees our SPIFFE ID, and
#    coap-client verified the server's chain (leaf + intermediate) itself.
# shellcheck disable=SC2086
cc test -m get $AGENT "$URI/v1/test"
expect test "hello $AGENT_ID" "GET /v1/test with an agent SVID returns the peer's SPIFFE ID"

# 2. The layer's own answers, with their reasons.
# shellcheck disable=SC2086
cc notfound -m get $AGENT "$URI/v1/nope"
expect notfound "4.04" "unknown path answers 4.04"
# shellcheck disable=SC2086
cc method -m delete $AGENT "$URI/v1/test"
expect method "4.05" "wrong method answers 4.05"
# shellcheck disable=SC2086
cc format -m post -t text/plain -e hello $AGENT "$URI/v1/echo"
expect format "4.15" "a text/plain body answers 4.15"
expect format "application/cbor" "4.15 carries a reason"
# shellcheck disable=SC2086
cc echo -m post -t cbor -e cairn-echo $AGENT "$URI/v1/echo"
expect echo "cairn-echo" "a CBOR body is accepted and echoed"
# shellcheck disable=SC2086
cc toobig -m post -t cbor -f "$W/big.cbor" $AGENT "$URI/v1/echo"
expect toobig "4.13" "a 100 KB body (Block1) answers 4.13"
expect toobig "larger than 65536" "4.13 carries a reason"

# 3. Block2: a 5000-byte response reassembled by coap-client.
# shellcheck disable=SC2086
cc big -m get $AGENT -o "$W/big.out" "$URI/v1/big"
if [ -f "$W/big.out" ] && [ "$(wc -c <"$W/big.out")" -eq 5000 ]; then
  ok "GET /v1/big returns 5000 bytes block-wise"
else
  bad "GET /v1/big returns 5000 bytes block-wise"
  cat "$W/big.out" 2>/dev/null | head -c 200
fi

# 4. A certificate from a CA outside the bundle is refused in the handshake.
cc rogue -m get -c "$W/rogue.pem" -j "$W/rogue.key" -C "$W/ca.pem" "$URI/v1/test"
expect_not rogue "hello" "a rogue-CA client gets no answer"
expect rogue "Handshake failed" "the rogue-CA client sees the handshake fail"

# 5. Bootstrap certificate: allowed for the bootstrap route only.
cc bootopen -m get -c "$W/boot.pem" -j "$W/boot.key" -C "$W/ca.pem" "$URI/v1/open"
expect bootopen "hello bootstrap" "a bootstrap peer reaches the bootstrap route without an ID"
cc boottest -m get -c "$W/boot.pem" -j "$W/boot.key" -C "$W/ca.pem" "$URI/v1/test"
expect boottest "4.01" "a bootstrap peer gets 4.01 on an SVID route"
expect_not boottest "hello" "a bootstrap peer gets no SVID-only content"

# 6. The client side checks the server too: with another CA as its trust
#    anchor, coap-client refuses our server.
cc wrongca -m get -c "$W/agent.pem" -j "$W/agent.key" -C "$W/rogue-ca.pem" "$URI/v1/test"
expect_not wrongca "hello" "coap-client with a foreign CA refuses the server"

# 7. The server survived all of it and still serves.
# shellcheck disable=SC2086
cc again -m get $AGENT "$URI/v1/test"
expect again "hello $AGENT_ID" "the server still serves after the refusals"
if kill -0 $PID 2>/dev/null; then ok "server process alive"; else bad "server process alive"; fi

kill $PID 2>/dev/null || true
RC=0
wait $PID || RC=$?
trap - EXIT INT TERM
if [ "$RC" -eq 0 ]; then ok "server exited cleanly on SIGTERM"; else
  bad "server exited cleanly on SIGTERM (status $RC)"
  sed 's/^/#   /' "$W/server.log"
fi
if grep -q "rejected=1 " "$W/server.log"; then ok "server counted one rejected handshake"; else
  bad "server counted one rejected handshake"
  sed 's/^/#   /' "$W/server.log"
fi

echo "1..$CHECKS"
echo "# $((CHECKS - FAILS)) passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
