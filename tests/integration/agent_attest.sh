#!/bin/bash
# agent_attest.sh CLOUD CAIRN AGENT - node attestation with real processes:
# a cairn-cloud serving the agent endpoint on 127.0.0.1, the `cairn` CLI and
# cairn-agent.
#
#  1. a token from `cairn token generate`, the bundle from `cairn bundle
#     show -format pem`: the agent attests, persists its SVID (key 0600),
#     and `cairn agent list` shows spiffe://td/spire/agent/join_token/<token>;
#  2. restarted, the agent resumes from data_dir without attesting (the
#     token is spent, so attesting again would fail) and still works;
#  3. it renews its node SVID at half life: the cloud runs with
#     default_x509_svid_ttl = "20s" (node SVIDs take that TTL, like SPIRE's
#     agent_ttl), so a renewal, the agent's next call, comes every ~10 s;
#  4. `cairn agent evict`: that next call gets 4.03 and the agent exits 1,
#     keeping its files;
#  5. a reused token, an expired token, a bundle of another CA and a
#     configuration for another trust domain are refused with the
#     documented errors; the server keeps serving and a token that a
#     refused agent never got to send still works;
#  6. with a 90 s TTL: the cloud stops while an agent runs, the agent keeps
#     running on its SVID and reconnects once the cloud is back.
. "$(dirname "$0")/lib.sh"

AGENT=$3
it_init "$1" "$2"
[ -x "$AGENT" ] || { echo "Bail out! not an executable: $AGENT"; exit 1; }
NAMES="a1 a2 a3 a4 a5 a6 a7"

# ---- the command line ----------------------------------------------------
out=$("$AGENT" --version)
same "cairn-agent --version" "$out" "cairn-agent $(echo "$out" | cut -d' ' -f2)"
case "$out" in "cairn-agent "[0-9]*) ok "version: $out" ;;
  *) bad "unexpected --version output: $out" ;; esac
if "$AGENT" --help | grep -q "Usage: cairn-agent"; then ok "cairn-agent --help"
else bad "cairn-agent --help prints no usage"; fi
"$AGENT" -bogus >/dev/null 2>&1
same "an unknown flag exits 2" "$?" 2

AGENT_PORT=$(free_udp_port)
it_config 'bind_address = "127.0.0.1"' "bind_port = $AGENT_PORT" \
          'default_x509_svid_ttl = "20s"'
it_start
if grep -q "bind_port=$AGENT_PORT" "$W/cloud.log"; then
  ok "cairn-cloud serves the agent endpoint on UDP $AGENT_PORT"
else
  die "cairn-cloud does not report the agent endpoint on port $AGENT_PORT"
fi
cli bundle show -format pem >"$W/bootstrap.pem" ||
  die "cairn bundle show -format pem failed"
token() { cli token generate "$@" | sed -n 's/^Token: //p'; }

# A bad configuration is refused with file:line.
agent_config bad "" 'insecure_bootstrap = "yes"'
if out=$("$AGENT" validate -config "$W/bad.conf" 2>&1); then
  bad "validate accepted a bad config"
else
  case "$out" in
    *"bad.conf:"[0-9]*": insecure_bootstrap: expected a boolean"*)
      ok "validate names file:line: $out" ;;
    *) bad "validate: unexpected message: $out" ;;
  esac
fi

# ---- 1. attestation ----------------------------------------------------------
T1=$(token)
[ -n "$T1" ] || die "cairn token generate printed no token"
ID1="$NODE_PREFIX/$T1"
agent_config a1 "$T1"
check "the a1 configuration is valid" "$AGENT" validate -config "$W/a1.conf"
agent_start a1
if agent_wait_log a1 "attested as $ID1" 60; then ok "a1 attested as $ID1"
else die "a1 did not attest"; fi
agent_wait_log a1 "node session up" 60 ||
  bad "a1 did not follow the bundle with its SVID"
same "key file mode" "$(stat -c %a "$W/a1/agent_svid.key")" 600
same "data_dir mode" "$(stat -c %a "$W/a1")" 700
[ -s "$W/a1/bundle.json" ] && ok "bundle.json persisted" ||
  bad "bundle.json missing"
if out=$(openssl verify -CAfile "$W/bootstrap.pem" "$W/a1/agent_svid.pem" 2>&1)
then ok "the persisted SVID verifies with openssl: $out"
else bad "openssl verify: $out"; fi
if openssl x509 -in "$W/a1/agent_svid.pem" -noout -ext subjectAltName |
   grep -qF "URI:$ID1"; then ok "the SVID carries $ID1"
else bad "the SVID does not carry $ID1"; fi
if cli agent list | grep -qF "$ID1"; then ok "cairn agent list shows $ID1"
else bad "cairn agent list does not show $ID1: $(cli agent list)"; fi

# ---- 2. restart: resume without attesting ------------------------------------
agent_stop a1
agent_start a1
if agent_wait_log a1 "resuming with persisted SVID $ID1 expires" 30; then
  ok "a1 resumes from data_dir"
else
  bad "a1 did not resume"
fi
agent_wait_log a1 "node session up" 60 2 ||
  bad "the resumed a1 did not reach the server"
same "a1 attested only once" "$(agent_log_count a1 'attested as')" 1
same "no refusal after the restart" "$(agent_log_count a1 'was refused')" 0
same "still one attested agent" "$(cli agent list | grep -c 'SPIFFE ID')" 1

# ---- 3. renewal ----------------------------------------------------------------
serial_before=$(openssl x509 -in "$W/a1/agent_svid.pem" -noout -serial)
if agent_wait_log a1 "renewed node SVID $ID1" 40; then
  ok "a1 renewed its node SVID"
else
  bad "a1 did not renew its node SVID"
fi
serial_after=$(openssl x509 -in "$W/a1/agent_svid.pem" -noout -serial)
[ "$serial_before" != "$serial_after" ] && ok "the persisted SVID changed" ||
  bad "the persisted SVID did not change"
same "key file mode after renewal" "$(stat -c %a "$W/a1/agent_svid.key")" 600
hex=$(echo "${serial_after#serial=}" | tr 'A-F' 'a-f' | sed 's/^0*//')
if cli agent show -spiffeID "$ID1" | sed -n 's/^Serial number *: *0*//p' |
   tr 'A-F' 'a-f' | grep -qx "$hex"; then
  ok "the server recorded the renewed serial"
else
  bad "cairn agent show: $(cli agent show -spiffeID "$ID1" | tr '\n' ' ')"
fi
same "a1 is still running" "$(agent_alive a1 && echo yes)" yes

# ---- 4. eviction ---------------------------------------------------------------
check "cairn agent evict" cli agent evict -spiffeID "$ID1"
if agent_wait_exit a1 40; then
  same "an evicted agent exits 1" "$AGENT_STATUS" 1
else
  bad "a1 kept running after its eviction"
fi
if grep -Eq "4.03 node is not attested \(evicted\?\).*evicted or banned" \
   "$W/a1.log"; then ok "a1 logs why it stopped"
else bad "a1's log lacks the eviction error"; fi
[ -f "$W/a1/agent_svid.pem" ] && [ -f "$W/a1/agent_svid.key" ] &&
  ok "the evicted agent kept its files" || bad "the evicted agent lost files"

# ---- 5. refusals -------------------------------------------------------------------
agent_config a2 "$T1"
agent_start a2
agent_wait_exit a2 40 || bad "a2 with a reused token did not stop"
same "a reused token: exit 1" "${AGENT_STATUS:-}" 1
if grep -qF "join token $T1 was refused: join token does not exist or has already been used" \
   "$W/a2.log"; then ok "a reused token is refused with the documented error"
else bad "a2: $(grep ERROR "$W/a2.log" | tail -n 2)"; fi
[ ! -e "$W/a2/agent_svid.pem" ] && ok "no SVID for the reused token" ||
  bad "a2 has an SVID"

T3=$(token -ttl 1)
sleep 2
agent_config a3 "$T3"
agent_start a3
agent_wait_exit a3 40 || bad "a3 with an expired token did not stop"
same "an expired token: exit 1" "${AGENT_STATUS:-}" 1
if grep -qF "join token $T3 was refused: join token expired" "$W/a3.log"; then
  ok "an expired token is refused with the documented error"
else bad "a3: $(grep ERROR "$W/a3.log" | tail -n 2)"; fi

# A bundle of another CA (same trust domain name).
T4=$(token)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$W/rogue.key" -out "$W/rogue.pem" -days 1 -subj /O=SPIFFE \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectAltName=URI:spiffe://$TD" >/dev/null 2>&1 ||
  die "openssl could not make a rogue CA"
agent_config a4 "$T4" "trust_bundle_path = \"$W/rogue.pem\""
agent_start a4
agent_wait_exit a4 40 || bad "a4 with a rogue bundle did not stop"
same "a rogue bundle: exit 1" "${AGENT_STATUS:-}" 1
if grep -Eq "cannot attest to 127.0.0.1:$AGENT_PORT: server .* refused: .*no trusted issuer" \
   "$W/a4.log"; then ok "a bundle of another CA: the server is refused"
else bad "a4: $(grep ERROR "$W/a4.log" | tail -n 2)"; fi

# The right bundle, but configured for another trust domain.
agent_config a5 "$T4" "" other.org
agent_start a5
agent_wait_exit a5 40 || bad "a5 for other.org did not stop"
same "another trust domain: exit 1" "${AGENT_STATUS:-}" 1
if grep -Eq "cannot attest .*spiffe://$TD/spire/server is not in trust domain other.org" \
   "$W/a5.log"; then ok "another trust domain: the server is refused"
else bad "a5: $(grep ERROR "$W/a5.log" | tail -n 2)"; fi

check "the server keeps serving (healthcheck)" cli healthcheck
if cli agent list | grep -q "$T4"; then bad "a refused agent got attested"
else ok "refused agents are not in the agent list"; fi

# ---- 6. the server goes away and comes back -------------------------------------
it_stop
it_config 'bind_address = "127.0.0.1"' "bind_port = $AGENT_PORT" \
          'default_x509_svid_ttl = "90s"'
it_start
# T4 was never sent by the refused agents: it still works.
ID4="$NODE_PREFIX/$T4"
agent_config a6 "$T4"
agent_start a6
if agent_wait_log a6 "attested as $ID4" 60; then
  ok "the token the refused agents never sent still attests"
else
  die "a6 did not attest"
fi
agent_wait_log a6 "node session up" 60 || bad "a6 did not reach the server"
it_stop
if agent_wait_log a6 "server 127.0.0.1:$AGENT_PORT unreachable .*running on the node SVID" 45
then ok "a6 notices the server is gone and keeps its SVID"
else bad "a6 did not report the server unreachable"; fi
sleep 4   # a few retries (1 s, 2 s, ...) against the closed port
same "a6 keeps running without the server" "$(agent_alive a6 && echo yes)" yes
it_start
if agent_wait_log a6 "server 127.0.0.1:$AGENT_PORT is reachable again" 60; then
  ok "a6 reconnects to the restarted server"
else
  bad "a6 did not reconnect"
fi
same "a6 did not attest again" "$(agent_log_count a6 'attested as')" 1
agent_stop a6
it_stop
it_finish
