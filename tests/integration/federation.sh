#!/bin/bash
# integration.federation: federated bundles from cairn-cloud's datastore to
# a workload, through real processes: cairn-cloud and cairn-agent on
# 127.0.0.1, driven with the real `cairn` CLI, the workload being
# `cairn-agent api fetch x509 -write DIR` and `api fetch x509-bundles`.
#
#   federation.sh CAIRN_CLOUD CAIRN CAIRN_AGENT
#
#   - a foreign root for fed.example (openssl, EC P-256, CA:TRUE, URI SAN
#     spiffe://fed.example) stored with `cairn bundle set`, then an entry
#     for this uid with -federatesWith spiffe://fed.example: the workload's
#     federated_bundle.0.0.pem is that root (SHA-256 fingerprints), and
#     FetchX509Bundles names spiffe://fed.example with that root;
#   - as root, an entry for uid 65534 without federation: setpriv'd, that
#     workload gets no federated bundle and its FetchX509Bundles names only
#     the own trust domain (skipped with a reason otherwise);
#   - `cairn bundle delete` is refused while the entry federates;
#   - `cairn bundle set` with a second, different root: the workload's
#     federated bundle becomes the new root (the agent re-fetched it);
#   - `cairn entry update -federatesWith ""`: the workload gets no
#     federated bundle any more; then `cairn bundle delete` succeeds;
#   - clean stops, no ERROR lines nor sanitizer reports in the logs.
#
# No timing assertions: every wait is a poll with a generous limit
# (IT_TIME_SCALE multiplies them), which prints what it saw on failure.
. "$(dirname "$0")/lib.sh"
AGENT=$3
[ -x "$AGENT" ] || { echo "Bail out! not an executable: $AGENT"; exit 1; }
command -v openssl >/dev/null || { echo "Bail out! openssl is not installed"; exit 1; }
it_init "$1" "$2"
# uid 65534 (setpriv) must reach the agent's socket and its own directory.
chmod 755 "$W"
MYUID=$(id -u)
FED=spiffe://fed.example
OWN=spiffe://$TD

# On failure, show the agent's log too (then lib.sh's cleanup).
fed_cleanup() {
  local rc=$?
  if [ "$IT_FAILS" -ne 0 ] || [ "$rc" -ne 0 ]; then agent_dump_logs a1; fi
  (exit "$rc")
  it_cleanup
}
trap fed_cleanup EXIT

# ---- helpers ----------------------------------------------------------------

# skip WORDS...: a skipped check (TAP "# SKIP" directive in the words).
skip() { IT_CHECKS=$((IT_CHECKS + 1)); echo "ok $IT_CHECKS - $*"; }

# fed_root NAME: a self-signed EC P-256 CA for fed.example in
# $W/NAME.pem (key $W/NAME.key).
fed_root() {
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/$1.key" -out "$W/$1.pem" -days 2 -sha256 \
    -subj "/O=fed.example/CN=fed.example $1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectAltName=URI:$FED" >"$W/openssl.log" 2>&1
}

# as_uid UID CMD...: CMD as UID (gid UID, no groups), from /.
as_uid() {
  local u=$1
  shift
  (cd / && setpriv --reuid="$u" --regid="$u" --clear-groups "$@")
}

# fetch DIR [UID]: one FetchX509SVID like a workload (as UID when given),
# written fresh to DIR (output in DIR.out). 1 when the fetch failed.
fetch() {
  local d=$1 u=${2:-}
  rm -rf "$d"
  if [ -n "$u" ]; then
    as_uid "$u" "$AGENT" api fetch x509 -socketPath "$S1" -write "$d" \
      >"$d.out" 2>&1
  else
    "$AGENT" api fetch x509 -socketPath "$S1" -write "$d" >"$d.out" 2>&1
  fi
}

# fed_files DIR: the federated bundle files written to DIR.
fed_files() { (cd "$1" 2>/dev/null && ls federated_bundle.*.pem 2>/dev/null) | tr '\n' ' '; }

# saw DIR: what the last fetch into DIR gave (for failure messages).
saw() {
  local f
  printf 'fetch output: %s; federated files: [%s]' \
    "$(tail -n 4 "$1.out" 2>/dev/null | tr '\n' ' ' | head -c 400)" "$(fed_files "$1")"
  for f in "$1"/federated_bundle.*.pem; do
    [ -f "$f" ] && printf '; %s: %s' "$(basename "$f")" "$(fps "$f")"
  done
}

# fed_is DIR FP: the fetch succeeded and wrote exactly one federated bundle,
# federated_bundle.0.0.pem, whose certificates' fingerprints are FP.
fed_is() {
  fetch "$1" || return 1
  [ "$(fed_files "$1")" = "federated_bundle.0.0.pem " ] || return 1
  [ "$(fps "$1/federated_bundle.0.0.pem")" = "$2" ]
}

# no_fed DIR [UID]: the fetch succeeded, wrote an SVID and no federated
# bundle, and the listing names no federated CA.
no_fed() {
  fetch "$1" "${2:-}" || return 1
  [ -s "$1/svid.0.pem" ] || return 1
  [ -z "$(fed_files "$1")" ] || return 1
  ! grep -q "\[$FED\]" "$1.out"
}

# bundles DIR [UID]: FetchX509Bundles (api fetch x509-bundles -write DIR),
# listing in DIR.out.
bundles() {
  local d=$1 u=${2:-}
  rm -rf "$d"
  if [ -n "$u" ]; then
    as_uid "$u" "$AGENT" api fetch x509-bundles -socketPath "$S1" -write "$d" \
      >"$d.out" 2>&1
  else
    "$AGENT" api fetch x509-bundles -socketPath "$S1" -write "$d" >"$d.out" 2>&1
  fi
}

# trust_domains DIR: the "Trust domain:" names of the listing in DIR.out.
trust_domains() {
  sed -n 's/^Trust domain:[[:space:]]*//p' "$1.out" | tr '\n' ' '
}

# bundle_fps DIR: the fingerprints of each bundle file DIR/bundle.i.pem, one
# line per file, in order.
bundle_fps() {
  local f i=0
  while f=$1/bundle.$i.pem; [ -f "$f" ]; do
    printf '%s\n' "$(fps "$f")"
    i=$((i + 1))
  done
}

# ---- cairn-cloud and an attested agent ---------------------------------------
it_start_with_agent a1
S1=$W/a1.sock
poll 30 test -S "$S1" || die "no Workload API socket at $S1"
OWN_FP=$(fps "$W/bootstrap.pem")

# ---- the foreign trust domain's bundle ------------------------------------------
fed_root fed1 || die "openssl makes the fed.example root: $(tail -n 3 "$W/openssl.log")"
fed_root fed2 || die "openssl makes the second fed.example root: $(tail -n 3 "$W/openssl.log")"
FP1=$(fps "$W/fed1.pem")
FP2=$(fps "$W/fed2.pem")
[ -n "$FP1" ] && [ -n "$FP2" ] && [ "$FP1" != "$FP2" ] ||
  die "two different fed.example roots ($FP1 / $FP2)"
if openssl x509 -in "$W/fed1.pem" -noout -text | grep -q "CA:TRUE" &&
   openssl x509 -in "$W/fed1.pem" -noout -ext subjectAltName | grep -q "URI:$FED"
then ok "openssl made a CA root for fed.example (CA:TRUE, URI SAN $FED)"
else bad "the fed.example root lacks CA:TRUE or the URI SAN"; fi
check "cairn bundle set -id fed.example -path fed1.pem" \
  cli bundle set -id fed.example -path "$W/fed1.pem"
cli bundle list -id "$FED" >"$W/list1.pem" 2>&1
same "cairn bundle list -id $FED shows the root" "$(fps "$W/list1.pem")" "$FP1"

# ---- entries: this uid federates, uid 65534 does not ------------------------------
ME=spiffe://$TD/wl/federated
PLAIN=spiffe://$TD/wl/plain
check "an entry for uid $MYUID with -federatesWith $FED" \
  cli entry create -entryID e-fed -parentID "$AID" -spiffeID "$ME" \
    -selector "unix:uid:$MYUID" -federatesWith "$FED"
cli entry show -entryID e-fed -output json >"$W/e-fed.json" 2>&1
same "the stored entry federates with fed.example" \
  "$(json_get "[x for e in d['entries'] for x in e.get('federates_with', [])]" <"$W/e-fed.json" 2>&1)" \
  "['fed.example']"
if [ "$MYUID" -eq 0 ]; then
  check "an entry for uid 65534 without federation" \
    cli entry create -entryID e-plain -parentID "$AID" -spiffeID "$PLAIN" \
      -selector unix:uid:65534
fi

# ---- the workload gets the federated bundle ------------------------------------------
WL=$W/wl
if poll 120 fed_is "$WL" "$FP1"; then
  ok "the workload's federated_bundle.0.0.pem is the fed.example root"
else
  bad "the workload never got fed1 as its federated bundle (within $((120 * IT_TIME_SCALE)) s): $(saw "$WL")"
fi
grep -q "SPIFFE ID:[[:space:]]*$ME" "$WL.out" &&
  ok "... with the SVID of $ME" || bad "... SVID listing: $(head -c 400 "$WL.out")"
same "... and the own bundle.0.pem is the server's root" "$(fps "$WL/bundle.0.pem")" "$OWN_FP"
grep -q "^\[$FED\] CA #1 Valid" "$WL.out" &&
  ok "api fetch x509 lists [$FED] CA #1" ||
  bad "api fetch x509 does not list [$FED] CA #1: $(tr '\n' ' ' <"$WL.out" | head -c 600)"
# A workload verifying a peer of fed.example: a leaf signed by the root,
# checked against the bundle the Workload API handed out.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$W/peer.key" -out "$W/peer.csr" -subj "/CN=peer" >>"$W/openssl.log" 2>&1
printf 'subjectAltName=URI:%s/peer\nbasicConstraints=critical,CA:FALSE\n' "$FED" >"$W/peer.ext"
openssl x509 -req -in "$W/peer.csr" -CA "$W/fed1.pem" -CAkey "$W/fed1.key" \
  -CAcreateserial -days 1 -sha256 -extfile "$W/peer.ext" -out "$W/peer.pem" \
  >>"$W/openssl.log" 2>&1
if [ -f "$WL/federated_bundle.0.0.pem" ] &&
   out=$(openssl verify -CAfile "$WL/federated_bundle.0.0.pem" "$W/peer.pem" 2>&1)
then ok "a fed.example peer's certificate verifies against the federated bundle"
else bad "openssl verify against the federated bundle: ${out:-no file}"; fi

if bundles "$W/xb"; then
  same "api fetch x509-bundles names the own and the federated trust domain" \
    "$(trust_domains "$W/xb")" "$OWN $FED "
  bundle_fps "$W/xb" >"$W/xb.fps"
  if grep -qxF "$FP1" "$W/xb.fps" && grep -qxF "$OWN_FP" "$W/xb.fps"; then
    ok "... and writes the fed.example root and the server's root"
  else
    bad "... bundle files' fingerprints: $(tr '\n' ' ' <"$W/xb.fps") (want $FP1 and $OWN_FP)"
  fi
else
  bad "api fetch x509-bundles: $(tr '\n' ' ' <"$W/xb.out" | head -c 400)"
fi

# ---- another uid, no federation ------------------------------------------------------
if [ "$MYUID" -eq 0 ]; then
  mkdir -p "$W/u65534"
  chown 65534:65534 "$W/u65534"
  NB=$W/u65534/wl
  if poll 90 no_fed "$NB" 65534 && grep -q "SPIFFE ID:[[:space:]]*$PLAIN" "$NB.out"
  then ok "uid 65534 (no federatesWith) gets $PLAIN and no federated bundle"
  else bad "uid 65534: $(saw "$NB")"; fi
  if bundles "$W/u65534/xb" 65534; then
    same "uid 65534's api fetch x509-bundles names only the own trust domain" \
      "$(trust_domains "$W/u65534/xb")" "$OWN "
  else
    bad "uid 65534's api fetch x509-bundles: $(tr '\n' ' ' <"$W/u65534/xb.out" | head -c 400)"
  fi
else
  skip "uid 65534 (no federatesWith) gets no federated bundle" \
    "# SKIP needs root for setpriv (running as uid $MYUID)"
fi

# ---- the bundle is in use ------------------------------------------------------------
expect_err "cairn bundle delete is refused while e-fed federates with fed.example" \
  'e-fed|federat|in use|FAILED_PRECONDITION' cli bundle delete -id fed.example

# ---- a new root for fed.example reaches the workload -----------------------------------
check "cairn bundle set -id fed.example -path fed2.pem (a different root)" \
  cli bundle set -id fed.example -path "$W/fed2.pem"
cli bundle list -id "$FED" >"$W/list2.pem" 2>&1
same "cairn bundle list -id $FED shows the new root" "$(fps "$W/list2.pem")" "$FP2"
if poll 120 fed_is "$WL" "$FP2"; then
  ok "the workload's federated bundle becomes the new root"
else
  bad "the workload's federated bundle never became fed2 ($FP2) within $((120 * IT_TIME_SCALE)) s: $(saw "$WL")"
fi
if bundles "$W/xb2" && bundle_fps "$W/xb2" >"$W/xb2.fps" &&
   grep -qxF "$FP2" "$W/xb2.fps" && ! grep -qF "$FP1" "$W/xb2.fps"; then
  ok "api fetch x509-bundles has the new root, not the old one"
else
  bad "api fetch x509-bundles after the replacement: $(tr '\n' ' ' <"$W/xb2.out" | head -c 300); $(tr '\n' ' ' <"$W/xb2.fps" 2>/dev/null)"
fi

# ---- the entry stops federating ----------------------------------------------------------
check "cairn entry update -entryID e-fed -federatesWith \"\"" \
  cli entry update -entryID e-fed -federatesWith ""
cli entry show -entryID e-fed -output json >"$W/e-fed2.json" 2>&1
same "the stored entry federates with nothing" \
  "$(json_get "[x for e in d['entries'] for x in e.get('federates_with', [])]" <"$W/e-fed2.json" 2>&1)" \
  "[]"
if poll 120 no_fed "$WL"; then
  ok "the workload gets no federated bundle any more"
else
  bad "the workload still gets a federated bundle after $((120 * IT_TIME_SCALE)) s: $(saw "$WL")"
fi
grep -q "SPIFFE ID:[[:space:]]*$ME" "$WL.out" &&
  ok "... and still its SVID $ME" || bad "... SVID listing: $(head -c 400 "$WL.out")"
if bundles "$W/xb3"; then
  same "api fetch x509-bundles names only the own trust domain" \
    "$(trust_domains "$W/xb3")" "$OWN "
else
  bad "api fetch x509-bundles: $(tr '\n' ' ' <"$W/xb3.out" | head -c 400)"
fi
check "cairn bundle delete -id fed.example succeeds now" cli bundle delete -id fed.example
cli bundle list >"$W/list3.out" 2>&1
same "cairn bundle list holds no fed.example bundle" \
  "$(grep -c 'fed.example' "$W/list3.out")" 0
# The workload keeps its SVID after the deletion (nothing else changed).
if poll 60 no_fed "$WL"; then ok "the workload still gets its SVID after the bundle deletion"
else bad "after the bundle deletion: $(saw "$WL")"; fi

# ---- stop ----------------------------------------------------------------------------------
agent_stop a1
[ -e "$S1" ] && bad "the agent left its socket behind" ||
  ok "the agent removed its socket at shutdown"
it_stop
same "no ERROR lines in the agent's log" "$(agent_log_count a1 ' ERROR ')" 0
same "no ERROR lines in cairn-cloud's log" "$(grep -c ' ERROR ' "$W/cloud.log")" 0
same "no sanitizer report in the logs" \
  "$(cat "$W/a1.log" "$W/cloud.log" | grep -Ec 'Sanitizer|runtime error:')" 0
it_done
