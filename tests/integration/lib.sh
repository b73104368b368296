# tests/integration/lib.sh - helpers for integration tests that run a real
# cairn-cloud and drive it with the real `cairn` CLI. Source it from bash:
#
#   . "$(dirname "$0")/lib.sh"
#   it_init "$CLOUD" "$CAIRN"        # temp dir, cleanup trap
#   it_config 'ca_ttl = "60s"'       # $W/cloud.conf (extra server keys)
#   it_start                         # start, wait until healthy
#   check "entry count works" cli entry count
#   it_stop                          # SIGTERM, expect a clean exit
#   it_done                          # summary, exit status
#
# Everything lives in one mktemp directory under /tmp, so the socket path
# stays far below the 107-byte limit of sun_path. The EXIT trap kills every
# process started here and removes the directory (kept, with the server
# log printed, when a check failed or IT_KEEP=1).
set -u

IT_CHECKS=0
IT_FAILS=0
IT_PIDS=""
CLOUD_PID=""
# Waits are polls with generous limits: the machine is slow and ASan
# doubles run times. IT_TIME_SCALE multiplies every limit.
IT_TIME_SCALE=${IT_TIME_SCALE:-1}

ok() { IT_CHECKS=$((IT_CHECKS + 1)); echo "ok $IT_CHECKS - $*"; }
bad() {
  IT_CHECKS=$((IT_CHECKS + 1))
  IT_FAILS=$((IT_FAILS + 1))
  echo "not ok $IT_CHECKS - $*"
}
# Fatal: report, then stop the test (the trap cleans up).
die() { bad "$*"; it_done; }
note() { echo "# $*"; }

it_init() {
  CLOUD=$1
  CAIRN=$2
  for b in "$CLOUD" "$CAIRN"; do
    [ -x "$b" ] || { echo "Bail out! not an executable: $b"; exit 1; }
  done
  W=$(mktemp -d /tmp/cairn-it.XXXXXX) || exit 1
  chmod 700 "$W"
  SOCK=$W/api.sock
  TD=example.org
  SERVER_ID=spiffe://$TD/spire/server
  NODE_PREFIX=spiffe://$TD/spire/agent/join_token  # + /<token>: a node
  export CAIRN_SOCKET_PATH=$SOCK
  trap it_cleanup EXIT
  trap 'exit 130' INT TERM HUP
  note "work directory $W"
}

# it_finish: it_done, after the logs of the agents and edges named in
# $NAMES (agent_dump_logs) when a check failed.
it_finish() {
  [ "$IT_FAILS" -eq 0 ] || agent_dump_logs $NAMES
  it_done
}

# it_token CMD...: a new join token from `CMD token generate` (cli, or
# edge_cli NAME for an edge).
it_token() { "$@" token generate | sed -n 's/^Token: //p'; }

it_cleanup() {
  local rc=$? p
  trap - EXIT
  for p in $CLOUD_PID $IT_PIDS; do
    kill -KILL "$p" 2>/dev/null
  done
  for p in $CLOUD_PID $IT_PIDS; do
    wait "$p" 2>/dev/null
  done
  if [ "$IT_FAILS" -ne 0 ] || [ "$rc" -ne 0 ]; then
    if [ -f "$W/cloud.log" ]; then
      echo "# ---- last lines of cairn-cloud's log ----"
      tail -n 60 "$W/cloud.log" | sed 's/^/# /'
    fi
  fi
  if [ "${IT_KEEP:-0}" = 1 ]; then
    note "kept $W"
  else
    rm -rf "$W"
  fi
  exit "$rc"
}

it_done() {
  echo "1..$IT_CHECKS"
  if [ "$IT_FAILS" -ne 0 ]; then
    echo "# $IT_FAILS of $IT_CHECKS checks failed"
    exit 1
  fi
  echo "# all $IT_CHECKS checks passed"
  exit 0
}

# it_config [server keys...]: writes $W/cloud.conf (and $W/data). Each
# argument is one line inside server { }, overriding nothing: give only keys
# the base config does not set (trust_domain, data_dir, socket_path,
# log_level are set here). IT_KEYMANAGER ("disk"/"memory") picks the key
# manager.
it_config() {
  local extra="" l
  for l in "$@"; do extra="$extra  $l
"; done
  # The CoAP endpoint listens on loopback only, on a free port unless the
  # caller chose one (parallel tests must not share the default 8081).
  case $extra in
    *bind_port*) ;;
    *) extra="$extra  bind_address = \"127.0.0.1\"
  bind_port = $(py 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
" ;;
  esac
  mkdir -p "$W/data"
  chmod 700 "$W/data"
  cat >"$W/cloud.conf" <<EOF
server {
  trust_domain = "$TD"
  data_dir = "$W/data"
  socket_path = "$SOCK"
  log_level = "DEBUG"
$extra}

plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "datastore.sqlite3"
    }
  }
  KeyManager "${IT_KEYMANAGER:-disk}" {
    plugin_data {}
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
}
EOF
}

# cli ARGS...: runs the CLI against the test server.
cli() { "$CAIRN" "$@"; }

# it_start: starts cairn-cloud in the background and polls until
# `cairn healthcheck` passes (or the server dies, or the limit passes).
it_start() {
  local limit=$((90 * IT_TIME_SCALE)) start
  "$CLOUD" -config "$W/cloud.conf" >>"$W/cloud.log" 2>&1 &
  CLOUD_PID=$!
  start=$(date +%s)
  while :; do
    if ! kill -0 "$CLOUD_PID" 2>/dev/null; then
      wait "$CLOUD_PID"
      local st=$?
      CLOUD_PID=""
      die "cairn-cloud exited during startup (status $st)"
    fi
    if [ -S "$SOCK" ] && "$CAIRN" healthcheck >/dev/null 2>&1; then
      note "cairn-cloud $CLOUD_PID healthy after $(($(date +%s) - start)) s"
      return 0
    fi
    if [ $(($(date +%s) - start)) -ge "$limit" ]; then
      die "cairn-cloud not healthy within $limit s"
    fi
    sleep 0.2
  done
}

# it_stop: SIGTERM and wait for a clean exit (status 0) and the socket
# file to be gone.
it_stop() {
  local limit=$((60 * IT_TIME_SCALE)) start st
  [ -n "$CLOUD_PID" ] || return 0
  kill -TERM "$CLOUD_PID"
  start=$(date +%s)
  while kill -0 "$CLOUD_PID" 2>/dev/null; do
    if [ $(($(date +%s) - start)) -ge "$limit" ]; then
      kill -KILL "$CLOUD_PID"
      wait "$CLOUD_PID" 2>/dev/null
      CLOUD_PID=""
      die "cairn-cloud ignored SIGTERM for $limit s"
    fi
    sleep 0.1
  done
  wait "$CLOUD_PID"
  st=$?
  CLOUD_PID=""
  if [ "$st" -eq 0 ]; then ok "cairn-cloud exits 0 on SIGTERM"
  else bad "cairn-cloud exited with status $st on SIGTERM"; fi
  if [ -e "$SOCK" ]; then bad "socket file left behind after shutdown"
  else ok "socket file removed at shutdown"; fi
}

# check "what" CMD...: the command must succeed.
check() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$what"
  else bad "$what: exit $?: $(printf '%s' "$out" | tail -n 3)"; fi
}

# expect_err "what" PATTERN CMD...: the command must fail (exit 1) with
# nothing on stdout and exactly one line on stderr, "Error: ..." matching
# the extended regular expression PATTERN.
expect_err() {
  local what=$1 pat=$2 rc lines
  shift 2
  "$@" >"$W/out" 2>"$W/err"
  rc=$?
  lines=$(wc -l <"$W/err")
  if [ "$rc" -ne 1 ]; then
    bad "$what: exit status $rc, expected 1 ($(head -c 300 "$W/err"))"
  elif [ "$lines" -ne 1 ]; then
    bad "$what: $lines lines on stderr, expected one: $(head -c 300 "$W/err")"
  elif ! grep -q '^Error: ' "$W/err"; then
    bad "$what: stderr does not start with 'Error: ': $(cat "$W/err")"
  elif ! grep -Eq -- "$pat" "$W/err"; then
    bad "$what: '$(cat "$W/err")' does not match /$pat/"
  elif [ -s "$W/out" ]; then
    bad "$what: unexpected output on stdout: $(head -c 200 "$W/out")"
  else
    ok "$what: $(cat "$W/err")"
  fi
}

# same "what" A B: the two strings must be equal.
same() {
  if [ "$2" = "$3" ]; then ok "$1"
  else bad "$1: '$(printf '%s' "$2" | head -c 200)' != '$(printf '%s' "$3" | head -c 200)'"; fi
}

# py SCRIPT ARGS...: runs /usr/bin/python3 -c SCRIPT.
py() { /usr/bin/python3 -c "$@"; }

# json_get EXPR: reads JSON on stdin, prints the Python expression EXPR
# evaluated with the document bound to d.
json_get() { py "import json,sys; d=json.load(sys.stdin); print($1)"; }

# count_certs FILE|-: number of PEM certificates.
count_certs() { grep -c -- '-----BEGIN CERTIFICATE-----' "${1:--}"; }

# poll LIMIT_SECONDS CMD...: runs CMD until it succeeds; 1 on timeout.
poll() {
  local limit=$(($1 * IT_TIME_SCALE)) start
  shift
  start=$(date +%s)
  until "$@"; do
    [ $(($(date +%s) - start)) -lt "$limit" ] || return 1
    [ -z "$CLOUD_PID" ] || kill -0 "$CLOUD_PID" 2>/dev/null ||
      die "cairn-cloud died (see its log)"
    sleep 0.5
  done
}

# ---- cairn-agent helpers (tests/integration/agent_*.sh) --------------------
# Agents run next to the cloud of it_start: $AGENT is the cairn-agent binary
# and AGENT_PORT the cloud's bind_port (set both before agent_config). Each
# agent NAME has its config $W/NAME.conf, data_dir $W/NAME and log
# $W/NAME.log; its PID is in AGENT_PID_NAME and in IT_PIDS, so the EXIT
# trap kills it.

# free_udp_port: a UDP port on 127.0.0.1 that is free right now.
free_udp_port() {
  py 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# agent_config NAME TOKEN [BOOTSTRAP_LINE [TRUST_DOMAIN]]: writes
# $W/NAME.conf. TOKEN may be "" (no join_token line). BOOTSTRAP_LINE says
# how the server is trusted on first contact (default: trust_bundle_path =
# $W/bootstrap.pem).
agent_config() {
  local name=$1 token=$2 boot=${3:-"trust_bundle_path = \"$W/bootstrap.pem\""}
  local td=${4:-$TD} tok=""
  [ -n "$token" ] && tok="join_token = \"$token\""
  cat >"$W/$name.conf" <<EOC
agent {
  trust_domain = "$td"
  server_address = "127.0.0.1"
  server_port = $AGENT_PORT
  data_dir = "$W/$name"
  socket_path = "$W/$name.sock"
  log_level = "DEBUG"
  $boot
  $tok
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "disk" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
EOC
}

# fps FILE: the sorted SHA-256 fingerprints of the certificates of a PEM
# file (empty for a file without certificates).
fps() {
  py 'import base64, hashlib, re, sys
t = open(sys.argv[1]).read()
b = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", t, re.S)
print(" ".join(sorted(hashlib.sha256(base64.b64decode("".join(x.split()))).hexdigest() for x in b)))' "$1"
}

# it_start_with_agent NAME: starts cairn-cloud with its node endpoint on a
# free UDP port (AGENT_PORT), writes its bundle to $W/bootstrap.pem, and
# starts agent NAME with a fresh join token; dies unless it attests. Sets
# AID (the agent's SPIFFE ID) and checks "cairn-agent attested as AID".
it_start_with_agent() {
  local name=$1 token
  AGENT_PORT=$(free_udp_port)
  it_config 'bind_address = "127.0.0.1"' "bind_port = $AGENT_PORT"
  it_start
  cli bundle show -format pem >"$W/bootstrap.pem" ||
    die "cairn bundle show -format pem failed"
  token=$(it_token cli)
  [ -n "$token" ] || die "cairn token generate printed no token"
  AID=$NODE_PREFIX/$token
  agent_config "$name" "$token"
  agent_start "$name"
  agent_wait_log "$name" "attested as $AID" 60 ||
    die "cairn-agent $name did not attest"
  ok "cairn-agent attested as $AID"
}

# agent_start NAME [FLAGS...]: starts cairn-agent -config $W/NAME.conf in
# the background (log appended to $W/NAME.log).
agent_start() {
  local name=$1 pid
  shift
  echo "# ---- start $(date -u +%H:%M:%S)" >>"$W/$name.log"
  "$AGENT" -config "$W/$name.conf" "$@" >>"$W/$name.log" 2>&1 &
  pid=$!
  IT_PIDS="$IT_PIDS $pid"
  eval "AGENT_PID_$name=$pid"
}

# agent_pid NAME: the PID of the agent's last start.
agent_pid() { eval "echo \${AGENT_PID_$1:-}"; }

# agent_alive NAME: 0 while the agent's process runs.
agent_alive() {
  local pid
  pid=$(agent_pid "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# agent_log_count NAME PATTERN: lines of $W/NAME.log matching the extended
# regular expression PATTERN.
agent_log_count() { grep -Ec -- "$2" "$W/$1.log" 2>/dev/null || true; }

# agent_wait_log NAME PATTERN LIMIT [COUNT]: waits until at least COUNT
# (default 1) lines of the log match PATTERN; 1 on timeout.
agent_wait_log() {
  local name=$1 pat=$2 limit=$(($3 * IT_TIME_SCALE)) want=${4:-1} start
  start=$(date +%s)
  while [ "$(agent_log_count "$name" "$pat")" -lt "$want" ]; do
    [ $(($(date +%s) - start)) -lt "$limit" ] || return 1
    sleep 0.2
  done
}

# agent_wait_exit NAME LIMIT: waits for the agent to exit and sets
# AGENT_STATUS to its exit status (KILLs it and returns 1 on timeout).
agent_wait_exit() {
  local name=$1 limit=$(($2 * IT_TIME_SCALE)) pid start
  pid=$(agent_pid "$name")
  start=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    if [ $(($(date +%s) - start)) -ge "$limit" ]; then
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      AGENT_STATUS=""
      return 1
    fi
    sleep 0.2
  done
  wait "$pid"
  AGENT_STATUS=$?
  return 0
}

# agent_stop NAME: SIGTERM; the agent must exit 0 within the limit.
agent_stop() {
  local name=$1
  kill -TERM "$(agent_pid "$name")" 2>/dev/null
  if ! agent_wait_exit "$name" 30; then
    bad "cairn-agent $name ignored SIGTERM"
  elif [ "$AGENT_STATUS" -eq 0 ]; then
    ok "cairn-agent $name exits 0 on SIGTERM"
  else
    bad "cairn-agent $name exited with status $AGENT_STATUS on SIGTERM"
  fi
}

# agent_dump_logs NAME...: prints the tail of each agent's log (for a
# failed run).
agent_dump_logs() {
  local n
  for n in "$@"; do
    [ -f "$W/$n.log" ] || continue
    echo "# ---- last lines of cairn-agent $n's log ----"
    tail -n 40 "$W/$n.log" | sed 's/^/# /'
  done
}

# ---- cairn-edge helpers (tests/integration/edge_*.sh) ----------------------
# An edge NAME has its config $W/NAME.conf, data_dir $W/NAME, admin socket
# $W/NAME.sock, log $W/NAME.log and a free UDP port in EDGE_PORT_NAME; it
# trusts its upstream through $W/NAME-up.pem (write it before the start).
# $EDGE is the cairn-edge binary. edge_start records the PID like
# agent_start does, so agent_pid, agent_alive, agent_wait_log,
# agent_log_count, agent_wait_exit and agent_stop work for edges too.

# edge_config NAME UPSTREAM_PORT TOKEN [SERVER_LINE...]: writes $W/NAME.conf.
# TOKEN may be "" (no join_token line). Each SERVER_LINE goes into server
# { }; a line starting with "plugin_data:" goes into the UpstreamAuthority's
# plugin_data instead (e.g. 'plugin_data: scope = "/site-a"').
edge_config() {
  local name=$1 up=$2 token=$3 srv="" pd="" l port
  shift 3
  for l in "$@"; do
    case $l in
      plugin_data:*) pd="$pd      ${l#plugin_data:}
" ;;
      *) srv="$srv  $l
" ;;
    esac
  done
  [ -n "$token" ] && pd="$pd      join_token = \"$token\"
"
  port=$(free_udp_port)
  eval "EDGE_PORT_$name=$port"
  cat >"$W/$name.conf" <<EOC
server {
  trust_domain = "$TD"
  data_dir = "$W/$name"
  socket_path = "$W/$name.sock"
  bind_address = "127.0.0.1"
  bind_port = $port
  log_level = "DEBUG"
$srv}
plugins {
  DataStore "sql" { plugin_data { connection_string = "datastore.sqlite3" } }
  KeyManager "disk" { plugin_data {} }
  UpstreamAuthority "cairn" {
    plugin_data {
      server_address = "127.0.0.1"
      server_port = $up
      trust_bundle_path = "$W/$name-up.pem"
$pd    }
  }
  NodeAttestor "join_token" { plugin_data {} }
}
EOC
}

# edge_port NAME: the edge's bind_port.
edge_port() { eval "echo \${EDGE_PORT_$1:-}"; }

# edge_start NAME [FLAGS...]: starts cairn-edge -config $W/NAME.conf in the
# background (log appended to $W/NAME.log).
edge_start() {
  local name=$1 pid
  shift
  echo "# ---- start $(date -u +%H:%M:%S)" >>"$W/$name.log"
  "$EDGE" -config "$W/$name.conf" "$@" >>"$W/$name.log" 2>&1 &
  pid=$!
  IT_PIDS="$IT_PIDS $pid"
  eval "AGENT_PID_$name=$pid"
}

# edge_cli NAME ARGS...: the CLI against the edge's admin socket.
edge_cli() {
  local name=$1
  shift
  "$CAIRN" "$@" -socketPath "$W/$name.sock"
}

# edge_stop NAME: SIGTERM; the edge must exit 0 within the limit.
edge_stop() {
  local name=$1
  kill -TERM "$(agent_pid "$name")" 2>/dev/null
  if ! agent_wait_exit "$name" 30; then
    bad "cairn-edge $name ignored SIGTERM"
  elif [ "$AGENT_STATUS" -eq 0 ]; then
    ok "cairn-edge $name exits 0 on SIGTERM"
  else
    bad "cairn-edge $name exited with status $AGENT_STATUS on SIGTERM"
  fi
}

# edge_healthy NAME: 0 when `cairn healthcheck` passes against the edge.
edge_healthy() { edge_cli "$1" healthcheck >/dev/null 2>&1; }

# edge_wait_healthy NAME LIMIT: polls edge_healthy; 1 on timeout or when
# the edge exited.
edge_wait_healthy() {
  local name=$1 limit=$(($2 * IT_TIME_SCALE)) start
  start=$(date +%s)
  until edge_healthy "$name"; do
    agent_alive "$name" || return 1
    [ $(($(date +%s) - start)) -lt "$limit" ] || return 1
    sleep 0.5
  done
}
