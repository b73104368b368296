#!/bin/bash
# edge_chain.sh CLOUD CAIRN EDGE AGENT - a three-tier trust domain with real
# processes on 127.0.0.1: cairn-cloud (root), cairn-edge "region" below it,
# cairn-edge "site" below the region, and a cairn-agent attested to the
# site.
#
#  1. command line and configuration: --help, --version, a bad flag,
#     cairn-edge without an UpstreamAuthority "cairn", cairn-cloud with
#     one, UpstreamAuthority "spire" with workload_api_socket;
#  2. the region attests to the cloud with a join token but has no
#     downstream entry there: the cloud refuses its CA request (4.03), the
#     region says so in its log, stays unhealthy and asks again; once the
#     entry is marked -downstream, it gets its intermediate CA and serves;
#  3. the site attests to the region and gets its CA the same way, with
#     a scoped downstream entry (-scope /site-a, the site's scope key too):
#     its intermediate carries the trust domain's NameConstraints, and the
#     site refuses entries outside its scope;
#  4. the agent attests to the site; an entry for the current uid is
#     registered at the site; the X509-SVID fetched through the agent's
#     Workload API (cairn-agent api fetch x509 -write) carries the chain
#     leaf <- site <- region, which `openssl verify -CAfile root.pem
#     -untrusted intermediates.pem leaf.pem` accepts (and not without both
#     intermediates); the intermediates are the site's and the region's
#     active X.509 authorities;
#  5. JWT keys flow up (the cloud's bundle holds the site's key, forwarded
#     by the region) and the bundle flows down (the site holds the cloud's
#     key); `cairn healthcheck -verbose` shows the offline budget;
#  6. with the region stopped, the site restarts from its own store,
#     serves again, and reconnects when the region is back;
#  7. every server stops cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"

EDGE=$3
AGENT=$4
it_init "$1" "$2"
for b in "$EDGE" "$AGENT"; do
  [ -x "$b" ] || { echo "Bail out! not an executable: $b"; exit 1; }
done
NAMES="region site a1"
UID_NOW=$(id -u)

# ---- 1. command line and configuration ------------------------------------
out=$("$EDGE" --version)
case "$out" in "cairn-edge "[0-9]*) ok "version: $out" ;;
  *) bad "unexpected --version output: $out" ;; esac
help=$("$EDGE" --help)
for s in SYNOPSIS OPTIONS -joinToken 'UpstreamAuthority "cairn"' \
         'offline budget' 'EXIT STATUS'; do
  case "$help" in *"$s"*) ok "--help mentions $s" ;;
    *) bad "--help does not mention $s" ;; esac
done
"$EDGE" -bogus >/dev/null 2>&1
same "an unknown flag exits 2" "$?" 2

it_config 'default_x509_svid_ttl = "10m"' 'agent_ttl = "2h"'
CLOUD_PORT=$(sed -n 's/^ *bind_port = //p' "$W/cloud.conf")
out=$("$EDGE" -config "$W/cloud.conf" 2>&1)
st=$?
if [ "$st" -eq 1 ] && case "$out" in *'UpstreamAuthority "cairn" plugin is required'*) true ;; *) false ;; esac
then ok "cairn-edge without an upstream exits 1: $out"
else bad "cairn-edge without an upstream: status $st: $out"; fi

edge_config spirebad "$CLOUD_PORT" "" \
  'plugin_data: workload_api_socket = "/tmp/agent.sock"'
sed -i 's/UpstreamAuthority "cairn"/UpstreamAuthority "spire"/' \
  "$W/spirebad.conf"
if out=$(cli validate -config "$W/spirebad.conf" 2>&1); then
  bad "validate accepted workload_api_socket"
else
  case "$out" in
    *"spirebad.conf:"[0-9]*": UpstreamAuthority \"spire\": workload_api_socket is not applicable"*)
      ok "workload_api_socket is refused with file:line: $out" ;;
    *) bad "workload_api_socket: unexpected message: $out" ;;
  esac
fi
edge_config region "$CLOUD_PORT" ""
check "cairn validate accepts an edge configuration" \
  cli validate -config "$W/region.conf"
cp "$W/region.conf" "$W/asroot.conf"
sed -i "s#$W/region#$W/asroot#g" "$W/asroot.conf"
out=$("$1" -config "$W/asroot.conf" 2>&1)
st=$?
if [ "$st" -eq 1 ] && case "$out" in *"is for cairn-edge"*) true ;; *) false ;; esac
then ok "cairn-cloud refuses UpstreamAuthority \"cairn\": $out"
else bad "cairn-cloud with an upstream: status $st: $out"; fi

# ---- 2. the region below the cloud ---------------------------------------
it_start
cli bundle show -format pem >"$W/root.pem" || die "cairn bundle show failed"
cp "$W/root.pem" "$W/region-up.pem"
TR=$(it_token cli)
[ -n "$TR" ] || die "no join token from the cloud"
REGION_NODE="$NODE_PREFIX/$TR"
edge_config region "$CLOUD_PORT" "$TR"
edge_start region
agent_wait_log region "attested as $REGION_NODE" 60 ||
  die "the region did not attest to the cloud"
ok "the region attested to the cloud as $REGION_NODE"
same "node key file mode" "$(stat -c %a "$W/region/upstream/agent_svid.key")" 600
if agent_wait_log region \
     "refused POST /v1/downstream/ca .*4\.03 .*has no downstream entry" 60
then ok "without a downstream entry the cloud refuses the region's CA (logged)"
else bad "the region did not log the refused CA request"; fi
if edge_healthy region; then bad "the region is healthy without a CA"
else ok "the region reports unhealthy without a CA"; fi
agent_alive region || die "the region exited after the refusal"
same "no endpoint without a CA" "$(agent_log_count region 'cairn-edge ready')" 0

check "a downstream entry for the region at the cloud" \
  cli entry create -parentID "$REGION_NODE" -spiffeID "spiffe://$TD/region" \
    -selector edge:name:region -downstream
edge_wait_healthy region 120 || die "the region did not get its CA"
ok "the region got its intermediate CA and is healthy"
agent_wait_log region "cairn-edge ready: .*bind_port=$(edge_port region)" 30 ||
  bad "the region did not log its ready line"

# ---- 3. the site below the region -------------------------------------------
edge_cli region bundle show -format pem >"$W/site-up.pem" ||
  die "bundle show at the region failed"
if cmp -s "$W/site-up.pem" "$W/root.pem"; then
  ok "the region's bundle holds the cloud's root"
else bad "the region's bundle differs from the cloud's roots"; fi
TS=$(it_token edge_cli region)
[ -n "$TS" ] || die "no join token from the region"
SITE_NODE="$NODE_PREFIX/$TS"
edge_config site "$(edge_port region)" "" 'plugin_data: scope = "/site-a"'
edge_start site -joinToken "$TS"
agent_wait_log site "attested as $SITE_NODE" 60 ||
  die "the site did not attest to the region"
ok "the site attested to the region (token from -joinToken)"
check "a downstream entry for the site at the region" \
  edge_cli region entry create -parentID "$SITE_NODE" \
    -spiffeID "spiffe://$TD/site-a" -selector edge:name:site-a -downstream \
    -scope /site-a
edge_wait_healthy site 120 || die "the site did not get its CA"
ok "the site got its intermediate CA from the region"

# ---- 4. an agent at the site and a workload SVID -------------------------------
edge_cli site bundle show -format pem >"$W/bootstrap.pem"
TA=$(it_token edge_cli site)
AGENT_PORT=$(edge_port site)
agent_config a1 "$TA"
agent_start a1
agent_wait_log a1 "node session up" 60 || die "the agent did not attest to the site"
ok "the agent attested to the site"
A1="$NODE_PREFIX/$TA"
check "an entry for uid $UID_NOW at the site" \
  edge_cli site entry create -parentID "$A1" \
    -spiffeID "spiffe://$TD/site-a/web" -selector "unix:uid:$UID_NOW"
edge_cli site entry create -parentID "$A1" -spiffeID "spiffe://$TD/web" \
  -selector "unix:uid:$UID_NOW" >"$W/out" 2>"$W/err"
st=$?
if [ "$st" -ne 0 ] && grep -q "outside this server's scope /site-a" "$W/err"
then ok "the site refuses an entry outside its scope: $(cat "$W/err")"
else bad "entry outside the scope: status $st: $(cat "$W/err" "$W/out")"; fi

fetch() {
  rm -rf "$W/wl"
  mkdir -p "$W/wl"
  "$AGENT" api fetch x509 -socketPath "$W/a1.sock" -write "$W/wl" \
    >"$W/fetch.out" 2>&1 && [ -s "$W/wl/svid.0.pem" ]
}
poll 60 fetch || die "no X509-SVID from the agent: $(tail -n 3 "$W/fetch.out")"
grep -q "spiffe://$TD/site-a/web" "$W/fetch.out" &&
  ok "the agent serves spiffe://$TD/site-a/web" ||
  bad "the fetched SVID is not spiffe://$TD/site-a/web: $(head -n 5 "$W/fetch.out")"
same "the SVID chain holds leaf, site and region" \
  "$(count_certs "$W/wl/svid.0.pem")" 3
awk '/BEGIN CERT/{n++} n==1' "$W/wl/svid.0.pem" >"$W/leaf.pem"
awk '/BEGIN CERT/{n++} n>1' "$W/wl/svid.0.pem" >"$W/intermediates.pem"
awk '/BEGIN CERT/{n++} n==2' "$W/wl/svid.0.pem" >"$W/int-site.pem"
awk '/BEGIN CERT/{n++} n==3' "$W/wl/svid.0.pem" >"$W/int-region.pem"
if out=$(openssl verify -CAfile "$W/root.pem" -untrusted "$W/intermediates.pem" \
           "$W/leaf.pem" 2>&1); then
  ok "openssl verify: leaf <- site <- region <- root: $out"
else bad "openssl verify failed: $out"; fi
for one in site region; do
  if openssl verify -CAfile "$W/root.pem" -untrusted "$W/int-$one.pem" \
       "$W/leaf.pem" >/dev/null 2>&1; then
    bad "the leaf verifies with the $one intermediate alone"
  else ok "the leaf needs more than the $one intermediate"; fi
done
skid() {
  openssl x509 -in "$1" -noout -ext subjectKeyIdentifier 2>/dev/null |
    sed -n '2s/[: ]//gp' | tr 'A-F' 'a-f'
}
active_x509() {
  edge_cli "$1" healthcheck -output json |
    json_get '[a["id"] for a in d["authorities"] if a["kind"]=="x509" and a["state"]=="active"][0]'
}
same "the first intermediate is the site's active CA" \
  "$(skid "$W/int-site.pem")" "$(active_x509 site)"
same "the second intermediate is the region's active CA" \
  "$(skid "$W/int-region.pem")" "$(active_x509 region)"
if openssl x509 -in "$W/int-site.pem" -noout -ext nameConstraints 2>/dev/null |
     grep -q "URI:.*$TD"; then
  ok "the site's intermediate is name-constrained to $TD (scoped entry)"
else bad "the site's intermediate carries no NameConstraints"; fi
if cmp -s <(openssl x509 -in "$W/wl/bundle.0.pem") \
          <(openssl x509 -in "$W/root.pem"); then
  ok "the agent's bundle is the cloud's root"
else bad "the agent's bundle is not the cloud's root"; fi

# ---- 5. JWT keys up, bundle down, offline budget ---------------------------------
jwt_kid() {
  edge_cli "$1" healthcheck -output json |
    json_get '[a["id"] for a in d["authorities"] if a["kind"]=="jwt" and a["state"]=="active"][0]'
}
has_kid() {  # has_kid KID CLI-ARGS...: the server's bundle holds KID
  local kid=$1
  shift
  "$@" bundle show -format spiffe | json_get \
    "'$kid' in [k.get('kid') for k in d['keys']]" | grep -q True
}
SITE_KID=$(jwt_kid site)
CLOUD_KID=$(cli healthcheck -output json |
  json_get '[a["id"] for a in d["authorities"] if a["kind"]=="jwt" and a["state"]=="active"][0]')
if poll 60 has_kid "$SITE_KID" cli; then
  ok "the cloud's bundle holds the site's JWT key (forwarded by the region)"
else bad "the site's JWT key $SITE_KID did not reach the cloud"; fi
if poll 60 has_kid "$CLOUD_KID" edge_cli site; then
  ok "the site's bundle holds the cloud's JWT key"
else bad "the cloud's JWT key $CLOUD_KID did not reach the site"; fi
agent_wait_log region "forwarding a downstream server's JWT key $SITE_KID" 5 ||
  bad "the region did not log the forward"
out=$(edge_cli site healthcheck -verbose)
for s in "Offline budget   : [0-9].* on the active X.509 CA" \
         "Next X.509 CA    : not ready yet" "Scope            : /site-a" \
         "Upstream status  : connected to 127.0.0.1:$(edge_port region)"; do
  if echo "$out" | grep -Eq -- "$s"; then ok "healthcheck -verbose: $s"
  else bad "healthcheck -verbose lacks /$s/: $out"; fi
done
agent_wait_log site "offline budget: .* left on the active X.509 CA" 5 ||
  bad "the site did not log its offline budget"

# ---- 6. restart without the upstream ---------------------------------------------
edge_stop region
edge_stop site
edge_start site
edge_wait_healthy site 60 || die "the site did not restart without its upstream"
ok "the site restarted from its own store while the region is down"
agent_wait_log site "resuming with persisted SVID $SITE_NODE" 5 ||
  bad "the site did not resume its node SVID"
if edge_cli site healthcheck -verbose |
     grep -q "Upstream status  : not connected"; then
  ok "healthcheck shows the upstream as not connected"
else bad "healthcheck does not show the lost upstream"; fi
poll 60 fetch || bad "no X509-SVID while the region is down"
n=$(agent_log_count site "is reachable again")
edge_start region
if agent_wait_log site "is reachable again" 120 $((n + 1)); then
  ok "the site reconnected to the restarted region"
else bad "the site did not reconnect to the region"; fi

# ---- 7. clean stops --------------------------------------------------------------
agent_stop a1
edge_stop site
edge_stop region
for n in site region; do
  if [ -e "$W/$n.sock" ]; then bad "$n left its socket behind"
  else ok "$n removed its socket"; fi
done
it_stop
it_finish
