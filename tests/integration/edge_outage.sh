#!/bin/bash
# edge_outage.sh CLOUD CAIRN EDGE AGENT - an edge keeps its site running
# while the cloud is down, with real processes on 127.0.0.1: cairn-cloud
# (root), one cairn-edge "site" below it, a cairn-agent attested to the
# site, and a workload that fetches its X509-SVID through the agent's
# Workload API (cairn-agent api fetch x509 -write) about once a second.
#
# Short lifetimes make the whole story happen in about four minutes:
#   - workload X509-SVIDs live SVID_TTL (12 s) at the site, so the agent
#     renews them every ~6 s;
#   - the cloud's ca_ttl is CLOUD_CA_TTL (270 s): the site's intermediate
#     lives that long, capped at the cloud root's notAfter (the protocol's
#     rule), so the site asks for its next one at half its life (~135 s
#     after the cloud started) and activates it when a sixth of the
#     current one is left (~225 s). The next one is signed by the same
#     root, so it ends with it: at activation it has ~45 s left, minus up
#     to one CA tick (10 s);
#   - the site's ca_ttl is EDGE_CA_TTL (150 s), below the cloud's as
#     docs/edge.md asks: its activation threshold min(ca_ttl/6, 7d) = 25 s
#     stays below those 35..45 s, and its JWT key (which lives ca_ttl and
#     whose successor must be published to the cloud) outlives the outage;
#   - the cloud's agent_ttl (the site's node SVID) is long (1 h), since
#     the site cannot renew it while cut off.
#
#  1. baseline: the workload's SVID chain (leaf <- site) verifies with
#     `openssl verify` against the cloud's root;
#  2. the cloud stops (SIGTERM, exit 0) for more than three SVID
#     lifetimes; meanwhile every SVID the workload receives verifies
#     against the root, has not expired, and the serials keep changing:
#     at least three SVIDs issued after the cloud went down, the last one
#     issued after more than two SVID lifetimes of outage (so the SVID held
#     at the start of the outage had expired long before);
#  3. `cairn healthcheck -verbose` (and -output json) at the site shows the
#     upstream as not connected and the offline budget: the time left on
#     the site's intermediate, which is the one in the workload's chain
#     (again after the restart of step 4);
#  4. the site restarts while the cloud is still down: it resumes its node
#     SVID, becomes healthy from its own store with the same intermediate,
#     and the workload gets SVIDs issued by the restarted site;
#  5. the cloud comes back (same data_dir): the site reconnects, gets a
#     new intermediate (a new X.509 authority with another SKID, first
#     prepared, then active), and the workload's chain then carries it and
#     verifies against the cloud's bundle;
#  6. every process stops cleanly on SIGTERM.
#
# No figure is compared with a time limit: every wait is a poll with a
# generous limit (IT_TIME_SCALE multiplies them).
. "$(dirname "$0")/lib.sh"

EDGE=$3
AGENT=$4
it_init "$1" "$2"
for b in "$EDGE" "$AGENT"; do
  [ -x "$b" ] || { echo "Bail out! not an executable: $b"; exit 1; }
done
command -v openssl >/dev/null || { echo "Bail out! openssl is needed"; exit 1; }
NAMES="site a1"
now() { date +%s; }
UID_NOW=$(id -u)
WL_ID="spiffe://$TD/site-a/web"

SVID_TTL=12
CLOUD_CA_TTL=270
EDGE_CA_TTL=150

# ---- setup: cloud -> site -> agent -> workload ---------------------------------
it_config "ca_ttl = \"${CLOUD_CA_TTL}s\"" 'agent_ttl = "1h"' \
  'default_x509_svid_ttl = "10m"'
CLOUD_PORT=$(sed -n 's/^ *bind_port = //p' "$W/cloud.conf")
it_start
cli bundle show -format pem >"$W/root.pem" || die "cairn bundle show failed"
cp "$W/root.pem" "$W/site-up.pem"
TS=$(it_token cli)
[ -n "$TS" ] || die "no join token from the cloud"
SITE_NODE="$NODE_PREFIX/$TS"
edge_config site "$CLOUD_PORT" "$TS" "ca_ttl = \"${EDGE_CA_TTL}s\"" \
  "default_x509_svid_ttl = \"${SVID_TTL}s\"" 'agent_ttl = "10m"' \
  'plugin_data: scope = "/site-a"'
edge_start site
agent_wait_log site "attested as $SITE_NODE" 60 ||
  die "the site did not attest to the cloud"
check "a downstream entry for the site at the cloud" \
  cli entry create -parentID "$SITE_NODE" -spiffeID "spiffe://$TD/site-a" \
    -selector edge:name:site-a -downstream -scope /site-a
edge_wait_healthy site 120 || die "the site did not get its CA"
ok "the site attested to the cloud and got its intermediate CA"

edge_cli site bundle show -format pem >"$W/bootstrap.pem" ||
  die "bundle show at the site failed"
TA=$(it_token edge_cli site)
[ -n "$TA" ] || die "no join token from the site"
A1="$NODE_PREFIX/$TA"
AGENT_PORT=$(edge_port site)
agent_config a1 "$TA"
agent_start a1
agent_wait_log a1 "node session up" 60 || die "the agent did not attest to the site"
ok "the agent attested to the site"
check "an entry for uid $UID_NOW at the site" \
  edge_cli site entry create -parentID "$A1" -spiffeID "$WL_ID" \
    -selector "unix:uid:$UID_NOW"

# ---- the workload ---------------------------------------------------------------
skid() {
  openssl x509 -in "$1" -noout -ext subjectKeyIdentifier 2>/dev/null |
    sed -n '2s/[: ]//gp' | tr 'A-F' 'a-f'
}
cert_time() {  # cert_time FILE startdate|enddate: unix seconds
  date -d "$(openssl x509 -in "$1" -noout "-$2" | cut -d= -f2)" +%s
}
# sample [CAFILE]: one FetchX509SVID through the agent, like a workload.
# Sets S_SERIAL, S_NB (notBefore + the 10 s backdate: the issue time),
# S_NA (notAfter), S_INT (SKID of the intermediate), S_AT (when fetched)
# and S_VERIFY ("ok" or why openssl refused the chain against CAFILE,
# default the cloud's root). Returns 1 when the fetch failed.
sample() {
  local ca=${1:-$W/root.pem} out
  rm -rf "$W/wl"
  S_AT=$(now)
  "$AGENT" api fetch x509 -socketPath "$W/a1.sock" -write "$W/wl" \
    >"$W/fetch.out" 2>&1 && [ -s "$W/wl/svid.0.pem" ] || return 1
  grep -q "$WL_ID" "$W/fetch.out" || return 1
  awk '/BEGIN CERT/{n++} n==1' "$W/wl/svid.0.pem" >"$W/leaf.pem"
  awk '/BEGIN CERT/{n++} n>1' "$W/wl/svid.0.pem" >"$W/ints.pem"
  S_SERIAL=$(openssl x509 -in "$W/leaf.pem" -noout -serial | cut -d= -f2)
  S_NB=$(($(cert_time "$W/leaf.pem" startdate) + 10))
  S_NA=$(cert_time "$W/leaf.pem" enddate)
  S_INT=$(skid "$W/ints.pem")
  if out=$(openssl verify -CAfile "$ca" -untrusted "$W/ints.pem" \
             "$W/leaf.pem" 2>&1); then S_VERIFY=ok
  else S_VERIFY=$(echo "$out" | tr '\n' ' '); fi
  return 0
}
active_x509() {
  edge_cli site healthcheck -output json 2>/dev/null |
    json_get '[a["id"] for a in d["authorities"] if a["kind"]=="x509" and a["state"]=="active"][0]'
}
x509_ids() {  # every X.509 authority of the site, "state:id" per line
  edge_cli site healthcheck -output json 2>/dev/null |
    json_get '"\n".join(a["state"]+":"+a["id"] for a in d["authorities"] if a["kind"]=="x509")'
}

# ---- 1. baseline ------------------------------------------------------------------
poll 60 sample || die "no X509-SVID from the agent: $(tail -n 3 "$W/fetch.out")"
same "the baseline SVID chain verifies against the cloud's root" "$S_VERIFY" ok
same "the SVID chain holds leaf and site intermediate" \
  "$(count_certs "$W/wl/svid.0.pem")" 2
INT1=$S_INT
same "the intermediate is the site's active X.509 CA" "$INT1" "$(active_x509)"
awk '/BEGIN CERT/{n++} n==2' "$W/wl/svid.0.pem" >"$W/int1.pem"
INT1_NA=$(cert_time "$W/int1.pem" enddate)
life=$(($(cert_time "$W/leaf.pem" enddate) - $(cert_time "$W/leaf.pem" startdate) - 10))
same "the workload SVID lives default_x509_svid_ttl ($SVID_TTL s)" "$life" "$SVID_TTL"
note "intermediate $INT1 until $(date -u -d "@$INT1_NA" +%H:%M:%S), now $(date -u +%H:%M:%S)"

# ---- 2. the cloud goes down ---------------------------------------------------------
it_stop
OUT_START=$(now)
# track LABEL SINCE MIN_AGE: samples until at least three SVIDs issued
# after SINCE were received, the newest one issued at least MIN_AGE s after
# SINCE. Every SVID received must verify against the root and be unexpired.
# Sets T_FRESH (distinct fresh serials), T_LAST_NB; 1 on timeout.
track() {
  local what=$1 since=$2 age=$3 limit start seen="" n=0 fails=0 badv=0
  limit=$(((age + 120) * IT_TIME_SCALE))
  start=$(now)
  T_FRESH=0
  T_LAST_NB=0
  while :; do
    if sample; then
      n=$((n + 1))
      if [ "$S_VERIFY" != ok ]; then
        badv=$((badv + 1))
        [ "$badv" -gt 1 ] ||
          bad "$what: an SVID whose chain does not verify against the root: $S_VERIFY"
      elif [ "$S_NA" -le "$S_AT" ]; then
        badv=$((badv + 1))
        [ "$badv" -gt 1 ] || bad "$what: an expired SVID (notAfter $S_NA, now $S_AT)"
      elif [ "$S_NB" -ge "$since" ]; then
        case " $seen " in *" $S_SERIAL "*) ;;
          *) seen="$seen $S_SERIAL"; T_FRESH=$((T_FRESH + 1))
             [ "$S_NB" -le "$T_LAST_NB" ] || T_LAST_NB=$S_NB ;;
        esac
      fi
    else
      fails=$((fails + 1))
    fi
    if [ "$T_FRESH" -ge 3 ] && [ $((T_LAST_NB - since)) -ge "$age" ]; then
      break
    fi
    if [ $(($(now) - start)) -ge "$limit" ]; then
      note "$what: $n samples, $fails failed fetches, fresh serials:$seen"
      return 1
    fi
    sleep 1
  done
  note "$what: $n samples over $(($(now) - start)) s, $fails failed fetches, $T_FRESH fresh serials"
  [ "$badv" -eq 0 ] && [ "$fails" -eq 0 ]
}
if track "cloud down" "$OUT_START" $((2 * SVID_TTL + 1)); then
  ok "with the cloud down the workload keeps getting fresh SVIDs ($T_FRESH new serials, each verifying against the root)"
elif [ "$T_FRESH" -ge 3 ]; then
  bad "with the cloud down: fresh SVIDs arrived, but some fetches failed or did not verify"
else
  bad "with the cloud down the workload got only $T_FRESH fresh SVIDs"
fi
same "the SVIDs still come from the site's intermediate" "$S_INT" "$INT1"
# The outage lasts more than three SVID lifetimes before the site restarts.
while [ $(($(now) - OUT_START)) -le $((3 * SVID_TTL)) ]; do sleep 1; done

# ---- 3. the offline budget during the outage ----------------------------------------
not_connected() {
  edge_cli site healthcheck -verbose 2>/dev/null |
    grep -q "^Upstream status  : not connected to 127.0.0.1:$CLOUD_PORT"
}
if poll 60 not_connected; then ok "the site reports its upstream as not connected"
else bad "the site does not report the lost upstream: $(edge_cli site healthcheck -verbose 2>&1)"; fi
check_budget() {  # check_budget LABEL: healthcheck -verbose and -output json
  local out js b t1 t2
  out=$(edge_cli site healthcheck -verbose 2>&1)
  if echo "$out" | grep -Eq "^Offline budget   : ([0-9]+[hms])+ on the active X.509 CA$"
  then ok "$1: healthcheck -verbose shows $(echo "$out" | grep '^Offline budget')"
  else bad "$1: healthcheck -verbose shows no offline budget: $out"; fi
  t1=$(now)
  js=$(edge_cli site healthcheck -output json 2>&1)
  t2=$(now)
  b=$(echo "$js" | json_get 'd.get("offline_budget_seconds", -1)')
  # The budget is the time left on the intermediate the workload's chain
  # carries, counted by the site between t1 and t2.
  if [ "$b" -gt 0 ] && [ "$b" -ge $((INT1_NA - t2)) ] &&
     [ "$b" -le $((INT1_NA - t1)) ]; then
    ok "$1: offline_budget_seconds $b = the intermediate's notAfter - now"
  else bad "$1: offline_budget_seconds $b, the intermediate has $((INT1_NA - t1)) s left"; fi
  if echo "$js" | json_get 'd["healthy"] and "not connected" in d["upstream_status"]' |
       grep -q True; then ok "$1: -output json: healthy, upstream not connected"
  else bad "$1: -output json: $js"; fi
}
check_budget "cloud down"

# ---- 4. the site restarts during the outage ---------------------------------------
edge_stop site
RESTART_AT=$(now)
n_resume=$(agent_log_count site "resuming with persisted SVID $SITE_NODE")
edge_start site
if edge_wait_healthy site 60; then
  ok "the site restarted and is healthy while the cloud is down"
else die "the site did not restart without the cloud"; fi
agent_wait_log site "resuming with persisted SVID $SITE_NODE" 5 $((n_resume + 1)) ||
  bad "the restarted site did not resume its node SVID"
same "the restarted site has the same active intermediate" "$(active_x509)" "$INT1"
check_budget "after the restart"
if track "after the site restart" "$RESTART_AT" 0; then
  ok "the restarted site issues fresh SVIDs to the workload ($T_FRESH new serials)"
else bad "no fresh SVIDs from the restarted site"; fi
# The restarted site issued them (its log is appended after the marker).
issued=$(awk -v m="# ---- start" '$0 ~ m {n++} n == 2' "$W/site.log" |
  grep -Ec "X509-SVIDs for $A1: [1-9][0-9]* issued")
if [ "$issued" -ge 1 ]; then ok "the restarted site logged $issued X509-SVID batches for the agent"
else bad "the restarted site logged no X509-SVID issue for the agent"; fi
note "outage so far: $(($(now) - OUT_START)) s (SVID lifetime $SVID_TTL s)"
if [ $(($(now) - OUT_START)) -gt $((3 * SVID_TTL)) ]; then
  ok "the outage lasted more than three SVID lifetimes"
else bad "the outage was shorter than three SVID lifetimes"; fi

# ---- 5. the cloud comes back -----------------------------------------------------
n_up=$(agent_log_count site "is reachable again")
it_start
if agent_wait_log site "is reachable again" 120 $((n_up + 1)); then
  ok "the site reconnected to the cloud"
else bad "the site did not reconnect to the cloud"; fi
connected() {
  edge_cli site healthcheck -verbose 2>/dev/null |
    grep -q "^Upstream status  : connected to 127.0.0.1:$CLOUD_PORT"
}
if poll 60 connected; then ok "healthcheck shows the upstream connected again"
else bad "healthcheck does not show the upstream connected"; fi
new_int() {  # a second X.509 authority at the site, other than INT1
  NEW_INT=$(x509_ids | grep -v ":$INT1\$" | head -n 1)
  [ -n "$NEW_INT" ]
}
# The next intermediate is due at half the current one's life.
wait_new=$((INT1_NA - $(now)))
[ "$wait_new" -gt 60 ] || wait_new=60
if poll "$wait_new" new_int; then
  ok "the site got a new intermediate from the cloud: $NEW_INT"
else die "no new intermediate at the site: $(x509_ids | tr '\n' ' ')"; fi
INT2=${NEW_INT#*:}
INT2_NA=$(edge_cli site healthcheck -output json |
  json_get "[a['not_after'] for a in d['authorities'] if a['id']=='$INT2'][0]")
note "new intermediate until $(date -u -d "@$INT2_NA" +%H:%M:%S), the first one until $(date -u -d "@$INT1_NA" +%H:%M:%S)"
if [ "${NEW_INT%%:*}" = prepared ]; then
  if edge_cli site healthcheck -verbose | grep -q "^Next X.509 CA    : ready (prepared)"
  then ok "healthcheck -verbose: Next X.509 CA ready (prepared)"
  else bad "healthcheck -verbose does not show the prepared intermediate"; fi
fi
cli bundle show -format pem >"$W/roots-now.pem" || bad "cairn bundle show failed"
# The workload's chain moves to a new intermediate once it is activated,
# when a sixth of the current one's life is left. (Usually INT2; a later
# one only if the site rotated again meanwhile.)
in_chain() { sample "$W/roots-now.pem" && [ "$S_INT" != "$INT1" ]; }
wait_act=$((INT1_NA - $(now) + 60))
if poll "$wait_act" in_chain; then
  ok "the workload's chain carries a new intermediate $S_INT (prepared one: $INT2)"
  same "the new chain verifies against the cloud's bundle" "$S_VERIFY" ok
  if x509_ids | grep -q ":$S_INT\$"; then
    ok "the new intermediate is an X.509 authority of the site: $(x509_ids | tr '\n' ' ')"
  else bad "the chain's intermediate $S_INT is not the site's: $(x509_ids | tr '\n' ' ')"; fi
  if [ "$S_NA" -gt "$S_AT" ]; then ok "the SVID under the new intermediate is valid"
  else bad "the SVID under the new intermediate has expired"; fi
else bad "the workload never got an SVID under a new intermediate: $(x509_ids | tr '\n' ' ')"; fi

# ---- 6. clean stops ---------------------------------------------------------------
agent_stop a1
edge_stop site
[ -e "$W/site.sock" ] && bad "the site left its socket behind"
it_stop
it_finish
