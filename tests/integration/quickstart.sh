#!/bin/bash
# quickstart.sh QUICKSTART BUILD_DIR - runs tools/quickstart against the
# binaries of BUILD_DIR (--no-install --no-build --build-dir BUILD_DIR):
#
#  1. --help and a bad option (exit 0 / 2);
#  2. a normal run: exit 0, the eleven steps in order, the SPIFFE ID for
#     the current uid (entry, Workload API answer, leaf certificate),
#     "svid/leaf.pem: OK" from openssl verify, the offline budget, three
#     clean stops, the elapsed time; afterwards no process is left and the
#     temp directory is gone;
#  3. --keep: the directory stays with configurations, logs and the SVID,
#     which verifies again here against the cloud's root, and whose leaf
#     carries the printed SPIFFE ID; the key is 0600; no process is left;
#  4. Ctrl-C (SIGINT to the whole process group, as a terminal sends it)
#     while the agent starts (a wrapper delays it): exit 130, everything
#     stopped and removed;
#  5. a failing step (a cairn-edge that exits 1 at once): exit 1, step 4
#     named, edge.log pointed to and kept, the cloud stopped.
. "$(dirname "$0")/lib.sh"

QS=$1
B=$(cd "$2" && pwd) || exit 1
it_init "$B/cloud/cairn-cloud" "$B/tools/cairn/cairn"
unset CAIRN_SOCKET_PATH
[ -x "$QS" ] || { echo "Bail out! not an executable: $QS"; exit 1; }
QS_DIRS=""
# it_cleanup reads the exit status from $?: keep it across the rm.
trap 'qs_rc=$?; rm -rf $QS_DIRS; (exit $qs_rc); it_cleanup' EXIT

# qs OUT ARGS...: runs the quickstart with output in $W/OUT; QS_RC, QS_DIR.
qs() {
  local out=$1
  shift
  "$QS" --no-install --no-build --build-dir "$B" "$@" >"$W/$out" 2>&1
  QS_RC=$?
  qs_dir "$out"
}
qs_dir() {
  QS_DIR=$(sed -n 's/^ *working directory: \(\/tmp\/cairn-quickstart\.[^ ]*\) .*/\1/p' \
    "$W/$1" | head -n 1)
  [ -z "$QS_DIR" ] || QS_DIRS="$QS_DIRS $QS_DIR"
}
has() {  # has WHAT FILE ERE
  if grep -Eq -- "$3" "$W/$2"; then ok "$1"
  else bad "$1: no line matches /$3/ in the output"; fi
}
# no_procs FILE: every process the run started is gone.
no_procs() {
  local pids p left=""
  pids=$(sed -n 's/^ *started cairn-[a-z]* (pid \([0-9]*\),.*/\1/p' "$W/$1")
  [ -n "$pids" ] || { bad "$1: no 'started ... (pid N' lines"; return; }
  for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
  if [ -z "$left" ]; then ok "$1: the $(echo $pids | wc -w) processes it started are gone"
  else bad "$1: processes still running:$left"; fi
}
show_fail() { echo "# ---- output of the run ----"; sed 's/^/# /' "$W/$1"; }

# ---- 1. command line ------------------------------------------------------------
out=$("$QS" --help)
same "--help exits 0" "$?" 0
for s in --keep --no-install --no-build --build-dir; do
  case $out in *"$s"*) ok "--help mentions $s" ;; *) bad "--help lacks $s" ;; esac
done
"$QS" --bogus >/dev/null 2>&1
same "an unknown option exits 2" "$?" 2

# ---- 2. a normal run -------------------------------------------------------------
MY_UID=$(id -u)
qs run.out
same "the quickstart exits 0" "$QS_RC" 0
[ "$QS_RC" -eq 0 ] || show_fail run.out
if [ -n "$QS_DIR" ]; then ok "it names its working directory $QS_DIR"
else bad "no 'working directory' line"; fi
prev=0 order=1
for i in 1 2 3 4 5 6 7 8 9 10 11; do
  n=$(grep -n "^\[$i/11\] " "$W/run.out" | head -n 1 | cut -d: -f1)
  if [ -z "$n" ] || [ "$n" -le "$prev" ]; then order=0; fi
  prev=${n:-$prev}
done
same "steps [1/11] .. [11/11] appear in order" "$order" 1
ID=$(sed -n "s/^ *any process of uid $MY_UID that asks the agent gets \(spiffe:[^:]*\):\$/\1/p" \
  "$W/run.out")
case $ID in
  spiffe://example.org/site-a/?*) ok "the workload's SPIFFE ID is $ID" ;;
  *) bad "no SPIFFE ID announced for uid $MY_UID: '$ID'" ;;
esac
has "the entry selects unix:uid:$MY_UID" run.out "Selector +: unix:uid:$MY_UID\$"
has "the Workload API answer names $ID" run.out "SPIFFE ID:[[:space:]]+$ID\$"
has "the leaf carries $ID" run.out "^ +SPIFFE ID : $ID\$"
has "the chain lists leaf, intermediate and root" run.out "^ +#3 root "
has "the expiry is printed" run.out "^ +Expires +: 20[0-9-]+ [0-9:]+ UTC"
has "openssl verify -CAfile root.pem -untrusted is shown" run.out \
  '\$ openssl verify -CAfile root.pem -untrusted svid/intermediates.pem svid/leaf.pem'
has "openssl verify says OK" run.out '^ +svid/leaf\.pem: OK$'
has "the offline budget is shown" run.out \
  '^ +Offline budget +: [0-9].* on the active X\.509 CA$'
for p in agent edge cloud; do
  has "cairn-$p stops cleanly" run.out "cairn-$p stopped \(exit status 0, socket removed\)"
done
has "the elapsed time after the build is printed" run.out \
  '^All 11 steps passed in [0-9.]+ s after the build'
no_procs run.out
if [ -n "$QS_DIR" ] && [ ! -e "$QS_DIR" ]; then ok "the temp directory is removed"
else bad "the temp directory '$QS_DIR' is still there"; fi

# ---- 3. --keep ------------------------------------------------------------------------
qs keep.out --keep
same "--keep: exits 0" "$QS_RC" 0
[ "$QS_RC" -eq 0 ] || show_fail keep.out
no_procs keep.out
D=$QS_DIR
missing=""
for f in cloud.conf edge.conf agent.conf cloud.log edge.log agent.log root.pem \
         svid/svid.0.pem svid/svid.0.key svid/leaf.pem svid/intermediates.pem; do
  [ -s "$D/$f" ] || missing="$missing $f"
done
same "--keep: configurations, logs and the SVID are kept in $D" "$missing" ""
if out=$(openssl verify -CAfile "$D/root.pem" -untrusted "$D/svid/intermediates.pem" \
           "$D/svid/leaf.pem" 2>&1); then
  ok "the kept SVID verifies against the cloud's root: $out"
else bad "the kept SVID does not verify: $out"; fi
uri=$(openssl x509 -in "$D/svid/leaf.pem" -noout -ext subjectAltName 2>/dev/null |
  grep -o 'URI:[^,]*' | sed 's/^URI://')
KID=$(sed -n 's/^ *SPIFFE ID : \(spiffe:.*\)$/\1/p' "$W/keep.out" | tail -n 1)
same "the leaf's URI SAN is the printed SPIFFE ID" "$uri" "$KID"
same "the SVID key is 0600" "$(stat -c %a "$D/svid/svid.0.key" 2>/dev/null)" 600
if grep -q "cairn-edge ready" "$D/edge.log" && grep -q "cairn-cloud ready" "$D/cloud.log"
then ok "the kept logs hold the servers' ready lines"
else bad "the kept logs lack the ready lines"; fi
rm -rf "$D"

# fake_build DIR: a build directory whose binaries are links to $B's
# (replace one to change its behaviour).
fake_build() {
  mkdir -p "$1/cloud" "$1/edge/server" "$1/edge/agent" "$1/tools/cairn"
  ln -sf "$B/cloud/cairn-cloud" "$1/cloud/"
  ln -sf "$B/edge/server/cairn-edge" "$1/edge/server/"
  ln -sf "$B/edge/agent/cairn-agent" "$1/edge/agent/"
  ln -sf "$B/tools/cairn/cairn" "$1/tools/cairn/"
}

# ---- 4. Ctrl-C ----------------------------------------------------------------------------
# The agent daemon starts 20 s late (a wrapper sleeps first), so the run
# is surely in step 5 when the signal comes. A background job of a script
# ignores SIGINT, and bash cannot trap a signal ignored at entry: restore
# the default and start a new process group, as an interactive shell
# would, then signal the whole group as a terminal's Ctrl-C does.
S=$W/slow
fake_build "$S"
rm "$S/edge/agent/cairn-agent"
printf '%s\n' '#!/bin/sh' \
  'if [ "$1" = -config ]; then' \
  '  trap '"'"'kill $! 2>/dev/null; exit 143'"'"' TERM' \
  '  sleep 20 & wait $!' \
  'fi' \
  "exec $B/edge/agent/cairn-agent \"\$@\"" >"$S/edge/agent/cairn-agent"
chmod +x "$S/edge/agent/cairn-agent"
/usr/bin/python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' "$QS" --no-install --no-build \
  --build-dir "$S" >"$W/int.out" 2>&1 &
QPID=$!
IT_PIDS="$IT_PIDS $QPID"
if poll 120 grep -q "waiting until the agent has attested" "$W/int.out"; then
  kill -INT -- "-$QPID"
  wait "$QPID"
  same "Ctrl-C: exits 130" "$?" 130
  has "Ctrl-C: says it stops everything" int.out "^Interrupted: stopping everything"
  qs_dir int.out
  no_procs int.out
  if [ -n "$QS_DIR" ] && [ ! -e "$QS_DIR" ]; then ok "Ctrl-C: the temp directory is removed"
  else bad "Ctrl-C: the temp directory '$QS_DIR' is still there"; fi
else
  bad "the run for Ctrl-C never reached step 5"
  show_fail int.out
fi

# ---- 5. a failing step ---------------------------------------------------------------------
F=$W/fake
fake_build "$F"
rm "$F/edge/server/cairn-edge"
printf '#!/bin/sh\necho "cairn-edge: simulated failure for the test" >&2\nexit 1\n' \
  >"$F/edge/server/cairn-edge"
chmod +x "$F/edge/server/cairn-edge"
"$QS" --no-install --no-build --build-dir "$F" >"$W/fail.out" 2>&1
same "a failing step: exits 1" "$?" 1
qs_dir fail.out
has "the failing step is named" fail.out \
  '^✗ Step 4/11 failed: Start an edge server'
has "the reason names cairn-edge's exit and its log" fail.out \
  "cairn-edge exited \(status 1\) .*see $QS_DIR/edge\.log"
has "the tail of edge.log is shown" fail.out "simulated failure for the test"
has "it says where the logs are kept" fail.out "^\(logs: cloud\.log edge\.log; remove it with"
if grep -q "simulated failure" "$QS_DIR/edge.log" 2>/dev/null; then
  ok "the directory and edge.log are kept after a failure"
else bad "edge.log is not kept in '$QS_DIR'"; fi
no_procs fail.out

it_done
