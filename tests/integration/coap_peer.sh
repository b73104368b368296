#!/bin/bash
# coap_peer.sh CLOUD CAIRN AGENT - a real CoAP peer against cairn-cloud:
# Debian's coap-client-gnutls (libcoap3-bin), holding the node SVID that a
# real cairn-agent obtained by join-token attestation, fetches
# GET /v1/bundle from the cloud's DTLS endpoint. coap-client exits 0 even
# when the handshake fails, so every check reads its output.
#
#  1. with the agent's SVID and key: the answer is the bundle resource (a
#     CBOR map holding trust_domain, sequence and the SPIFFE bundle JSON);
#  2. with a certificate of a CA the cloud does not trust: no answer;
#  3. with the agent evicted (`cairn agent evict`): 4.03 with the reason;
#  4. the cloud still serves afterwards.
. "$(dirname "$0")/lib.sh"

AGENT=$3
CLIENT=${COAP_CLIENT:-coap-client-gnutls}
it_init "$1" "$2"
command -v "$CLIENT" >/dev/null 2>&1 ||
  die "$CLIENT not found (apt-get install libcoap3-bin)"
NAMES=a1

it_start_with_agent a1
ID=$AID
agent_stop a1

# coap NAME ARGS...: runs coap-client, both output streams into $W/NAME.out.
coap() {
  local name=$1
  shift
  timeout 30 "$CLIENT" -B 10 "$@" >"$W/$name.out" 2>&1 || true
}
# expect NAME TEXT WHAT / expect_not NAME TEXT WHAT on a client's output.
expect() {
  if grep -aqF -- "$2" "$W/$1.out"; then ok "$3"; else
    bad "$3 (wanted '$2')"
    sed 's/^/#   /' "$W/$1.out" | cat -v | head -20
  fi
}
expect_not() {
  if grep -aqF -- "$2" "$W/$1.out"; then
    bad "$3 (unexpected '$2')"
    sed 's/^/#   /' "$W/$1.out" | cat -v | head -20
  else ok "$3"; fi
}
URI="coaps://127.0.0.1:$AGENT_PORT/v1/bundle"

# 1. The agent's SVID: the bundle resource.
coap good -m get -c "$W/a1/agent_svid.pem" -j "$W/a1/agent_svid.key" \
  -C "$W/bootstrap.pem" "$URI"
expect good "trust_domain" "coap-client with the agent SVID gets the bundle map"
expect good "$TD" "the answer names the trust domain $TD"
expect good '"keys"' "the answer carries the SPIFFE bundle JSON"
expect good "x509-svid" "the bundle holds an X.509 authority"

# 2. A rogue CA: the handshake fails, nothing comes back.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$W/rogue.key" -out "$W/rogue.pem" -days 1 -subj /O=rogue \
  -addext "subjectAltName=URI:$ID" >/dev/null 2>&1 ||
  die "openssl could not make the rogue certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$W/rogue-ca.key" -out "$W/rogue-ca.pem" -days 1 \
  -subj /O=rogue-ca -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign" >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$W/rogue-leaf.key" -out "$W/rogue-leaf.csr" -subj /O=rogue \
  >/dev/null 2>&1
printf 'subjectAltName=URI:%s\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth,serverAuth\n' \
  "$ID" >"$W/rogue.ext"
openssl x509 -req -in "$W/rogue-leaf.csr" -CA "$W/rogue-ca.pem" \
  -CAkey "$W/rogue-ca.key" -CAcreateserial -days 1 -extfile "$W/rogue.ext" \
  -out "$W/rogue-leaf.pem" >/dev/null 2>&1 ||
  die "openssl could not sign the rogue leaf"
cat "$W/rogue-leaf.pem" "$W/rogue-ca.pem" >"$W/rogue-chain.pem"
coap rogue -m get -c "$W/rogue-chain.pem" -j "$W/rogue-leaf.key" \
  -C "$W/bootstrap.pem" "$URI"
expect_not rogue "trust_domain" \
  "a certificate from a rogue CA with the agent's ID gets nothing"

# 3. Evicted: the next request is refused with the reason.
check "cairn agent evict" cli agent evict -spiffeID "$ID"
coap evicted -m get -c "$W/a1/agent_svid.pem" -j "$W/a1/agent_svid.key" \
  -C "$W/bootstrap.pem" "$URI"
expect_not evicted "trust_domain" "an evicted node no longer gets the bundle"
expect evicted "4.03" "an evicted node gets 4.03"

# 4. Still serving.
check "cairn-cloud still healthy" cli healthcheck
it_finish
