#!/bin/bash
# cross_agent.sh CLOUD CAIRN EDGE NATIVE_AGENT CROSS_AGENT PROCESSOR DESC EMULATOR...
#
# cross.agent_edge (tests/cross_agent.cmake, cross builds only): the
# cross-built cairn-agent, run under qemu-user, in a trust domain of native
# programs on 127.0.0.1.
#
#   CLOUD, CAIRN, EDGE, NATIVE_AGENT  native cairn-cloud, cairn CLI,
#                      cairn-edge and cairn-agent (CAIRN_NATIVE_BUILD_DIR)
#   CROSS_AGENT        the cross-built cairn-agent
#   PROCESSOR          CMAKE_SYSTEM_PROCESSOR of the cross build (aarch64,
#                      armv7l): the ELF machine CROSS_AGENT must have
#   DESC               workload.proto's descriptor set (python3-grpcio
#                      client's message classes)
#   EMULATOR...        CMAKE_CROSSCOMPILING_EMULATOR, e.g.
#                      qemu-aarch64-static -cpu cortex-a53 -L <sysroot>
#
#  1. CROSS_AGENT is an ARM ELF file of PROCESSOR's class and machine, the
#     native programs are host ELF files, and CROSS_AGENT --version works
#     under the emulator (so the test cannot run a native agent by
#     mistake);
#  2. native cairn-cloud; a native cairn-edge attests to it with a join
#     token and gets its intermediate CA through a downstream entry;
#  3. the cross-built agent, started through the emulator (its process is
#     qemu's), attests to the edge with a join token made by the native
#     CLI; an entry for the current uid is registered at the edge;
#  4. native clients on the qemu agent's Workload API socket: `cairn-agent
#     api fetch x509 -write` and `cairn-agent healthcheck` (native
#     binaries), FetchX509SVID from python3-grpcio (same SPIFFE ID and
#     serial); the chain leaf <- edge intermediate verifies against the
#     cloud's root with `openssl verify` (and not without the
#     intermediate); the intermediate is the edge's active CA, the bundle
#     the cloud's root;
#  5. the qemu agent, the edge and the cloud stop cleanly on SIGTERM.
#
# qemu-user makes ECDSA 7-13 times slower: the waits are polls with
# generous limits (times IT_TIME_SCALE), nothing is timed.
. "$(dirname "$0")/lib.sh"

[ $# -ge 8 ] || { echo "Bail out! usage: $0 CLOUD CAIRN EDGE NATIVE_AGENT CROSS_AGENT PROCESSOR DESC EMULATOR..."; exit 1; }
NCLOUD=$1
NCAIRN=$2
EDGE=$3
NAGENT=$4
XAGENT=$5
PROC=$6
DESC=$7
shift 7
EMU=("$@")
for b in "$EDGE" "$NAGENT" "$XAGENT"; do
  [ -x "$b" ] || { echo "Bail out! not an executable: $b"; exit 1; }
done
[ -f "$DESC" ] || { echo "Bail out! no descriptor set: $DESC"; exit 1; }
command -v "${EMU[0]}" >/dev/null ||
  { echo "Bail out! emulator not found: ${EMU[0]}"; exit 1; }
it_init "$NCLOUD" "$NCAIRN"
NAMES="edge xa"
UID_NOW=$(id -u)
export IT_TIME_SCALE

# ---- 1. which binary is which ---------------------------------------------
# elf_class FILE: 1 (32-bit) or 2 (64-bit); elf_machine FILE: e_machine
# (little-endian files only, which every target here is). Empty when FILE is
# not an ELF file.
elf_class() {
  [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || return 0
  od -An -tu1 -j4 -N1 "$1" | tr -d ' '
}
elf_machine() {
  [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || return 0
  od -An -tu2 -j18 -N2 "$1" | tr -d ' '
}
case "$PROC" in
  aarch64|arm64) want_class=2 want_machine=183 want_name=AArch64
                 file_pat='ARM aarch64' ;;
  arm*)          want_class=1 want_machine=40 want_name=ARM
                 file_pat='32-bit LSB .*ARM' ;;
  *) echo "Bail out! unknown target processor '$PROC'"; exit 1 ;;
esac
same "the cross-built agent is an ELF file of class $want_class ($PROC)" \
  "$(elf_class "$XAGENT")" "$want_class"
same "the cross-built agent's ELF machine is $want_machine ($want_name)" \
  "$(elf_machine "$XAGENT")" "$want_machine"
if command -v file >/dev/null; then
  out=$(file -b "$XAGENT")
  if echo "$out" | grep -Eq -- "$file_pat"; then ok "file: $out"
  else bad "file does not say '$file_pat': $out"; fi
fi
HOST_MACHINE=$(elf_machine "$BASH")
[ -n "$HOST_MACHINE" ] || die "cannot read the ELF machine of $BASH"
[ "$HOST_MACHINE" != "$want_machine" ] ||
  die "the host is $want_name itself: this test needs a foreign target"
for b in "$NCLOUD" "$NCAIRN" "$EDGE" "$NAGENT"; do
  same "native $(basename "$b") is a host ELF file (machine $HOST_MACHINE)" \
    "$(elf_machine "$b")" "$HOST_MACHINE"
done
out=$("${EMU[@]}" "$XAGENT" --version 2>&1)
case "$out" in "cairn-agent "[0-9]*) ok "under ${EMU[0]}: $out" ;;
  *) bad "the cross-built agent --version under ${EMU[0]}: $out" ;; esac
out=$("$NAGENT" --version 2>&1)
case "$out" in "cairn-agent "[0-9]*) ok "native client: $out" ;;
  *) bad "the native agent --version: $out" ;; esac

# ---- 2. cloud and edge (native) ----------------------------------------------
it_config 'agent_ttl = "2h"'
CLOUD_PORT=$(sed -n 's/^ *bind_port = //p' "$W/cloud.conf")
it_start
cli bundle show -format pem >"$W/root.pem" || die "cairn bundle show failed"
cp "$W/root.pem" "$W/edge-up.pem"
TE=$(it_token cli)
[ -n "$TE" ] || die "no join token from the cloud"
EDGE_NODE="$NODE_PREFIX/$TE"
edge_config edge "$CLOUD_PORT" "$TE" 'default_x509_svid_ttl = "1h"'
edge_start edge
agent_wait_log edge "attested as $EDGE_NODE" 120 ||
  die "the edge did not attest to the cloud"
ok "the native edge attested to the cloud as $EDGE_NODE"
check "a downstream entry for the edge at the cloud" \
  cli entry create -parentID "$EDGE_NODE" -spiffeID "spiffe://$TD/site" \
    -selector edge:name:site -downstream
edge_wait_healthy edge 180 || die "the edge did not get its CA"
ok "the edge got its intermediate CA and is healthy"

# ---- 3. the cross-built agent under qemu --------------------------------------
edge_cli edge bundle show -format pem >"$W/bootstrap.pem" ||
  die "bundle show at the edge failed"
TA=$(it_token edge_cli edge)
[ -n "$TA" ] || die "no join token from the edge"
XA_NODE="$NODE_PREFIX/$TA"
# shellcheck disable=SC2034  # read by agent_config (lib.sh)
AGENT_PORT=$(edge_port edge)
agent_config xa "$TA"
# As lib.sh's agent_start, with the emulator in front.
echo "# ---- start $(date -u +%H:%M:%S) under ${EMU[*]}" >>"$W/xa.log"
"${EMU[@]}" "$XAGENT" -config "$W/xa.conf" >>"$W/xa.log" 2>&1 &
AGENT_PID_xa=$!
IT_PIDS="$IT_PIDS $AGENT_PID_xa"
# Right after the fork the child may still be bash: wait for the exec.
bash_exe=$(readlink -f "$BASH")
for _ in $(seq 100); do
  exe=$(readlink "/proc/$AGENT_PID_xa/exe" 2>/dev/null)
  [ "$exe" = "$bash_exe" ] || break
  sleep 0.1
done
case "$(basename "$exe")" in
  qemu-*) ok "the agent's process $AGENT_PID_xa is qemu-user ($exe)" ;;
  *) bad "the agent's process $AGENT_PID_xa runs '$exe', not qemu-user" ;;
esac
if agent_wait_log xa "node session up" 300; then
  ok "the qemu agent attested to the native edge"
else
  agent_alive xa || die "the qemu agent exited (see its log)"
  die "the qemu agent did not attest to the edge within 300 s"
fi
if agent_wait_log xa "attested as $XA_NODE" 5; then
  ok "its node ID is $XA_NODE"
else bad "the qemu agent did not log 'attested as $XA_NODE'"; fi
if edge_cli edge agent list 2>&1 | grep -q -- "$XA_NODE"; then
  ok "cairn agent list at the edge shows the qemu agent"
else bad "the edge does not list $XA_NODE"; fi
WL_ID="spiffe://$TD/site/cross-$PROC"
check "an entry for uid $UID_NOW at the edge" \
  edge_cli edge entry create -parentID "$XA_NODE" -spiffeID "$WL_ID" \
    -selector "unix:uid:$UID_NOW"

# ---- 4. native clients ------------------------------------------------------------
healthy() {
  "$NAGENT" healthcheck -socketPath "$W/xa.sock" -timeout 30s >/dev/null 2>&1
}
if poll 120 healthy; then ok "native cairn-agent healthcheck: the qemu agent serves"
else bad "native healthcheck against the qemu agent failed"; fi
fetch() {
  rm -rf "$W/wl"
  "$NAGENT" api fetch x509 -socketPath "$W/xa.sock" -timeout 60s \
    -write "$W/wl" >"$W/fetch.out" 2>&1 && [ -s "$W/wl/svid.0.pem" ]
}
poll 300 fetch ||
  die "no X509-SVID from the qemu agent: $(tail -n 3 "$W/fetch.out")"
ok "native cairn-agent api fetch x509 -write got an SVID from the qemu agent"
if grep -Eq "^SPIFFE ID:[[:space:]]*$WL_ID\$" "$W/fetch.out"; then
  ok "the qemu agent serves $WL_ID"
else bad "the fetched SVID is not $WL_ID: $(head -n 5 "$W/fetch.out")"; fi
same "the chain holds the leaf and the edge's intermediate" \
  "$(count_certs "$W/wl/svid.0.pem")" 2
same "svid.0.key is mode 600" "$(stat -c %a "$W/wl/svid.0.key")" 600
awk '/BEGIN CERT/{n++} n==1' "$W/wl/svid.0.pem" >"$W/leaf.pem"
awk '/BEGIN CERT/{n++} n==2' "$W/wl/svid.0.pem" >"$W/int-edge.pem"
if out=$(openssl verify -CAfile "$W/root.pem" -untrusted "$W/int-edge.pem" \
           "$W/leaf.pem" 2>&1); then
  ok "openssl verify: leaf <- edge intermediate <- cloud root: $out"
else bad "openssl verify failed: $out"; fi
if openssl verify -CAfile "$W/root.pem" "$W/leaf.pem" >/dev/null 2>&1; then
  bad "the leaf verifies against the root without the intermediate"
else ok "the leaf does not verify without the edge's intermediate"; fi
if openssl x509 -in "$W/leaf.pem" -noout -ext subjectAltName 2>/dev/null |
     grep -q "URI:$WL_ID\$"; then
  ok "the leaf's URI SAN is $WL_ID"
else bad "the leaf's URI SAN is not $WL_ID"; fi
lpub=$(openssl x509 -in "$W/leaf.pem" -noout -pubkey 2>/dev/null)
kpub=$(openssl pkey -in "$W/wl/svid.0.key" -pubout 2>/dev/null)
if [ -n "$lpub" ] && [ "$lpub" = "$kpub" ]; then
  ok "the key the qemu agent made belongs to the leaf"
else bad "svid.0.key does not match the leaf's public key"; fi
skid() {
  openssl x509 -in "$1" -noout -ext subjectKeyIdentifier 2>/dev/null |
    sed -n '2s/[: ]//gp' | tr 'A-F' 'a-f'
}
EDGE_CA=$(edge_cli edge healthcheck -output json |
  json_get '[a["id"] for a in d["authorities"] if a["kind"]=="x509" and a["state"]=="active"][0]')
same "the intermediate is the edge's active X.509 CA" \
  "$(skid "$W/int-edge.pem")" "$EDGE_CA"
if cmp -s <(openssl x509 -in "$W/wl/bundle.0.pem") \
          <(openssl x509 -in "$W/root.pem"); then
  ok "the agent's bundle is the cloud's root"
else bad "the agent's bundle is not the cloud's root"; fi

# python3-grpcio (gRPC C-core) as a second native client: the first
# FetchX509SVID message; prints "<code> <ids> <leaf serials, hex>".
grpc_fetch() {
  /usr/bin/python3 - "$DESC" "$W/xa.sock" "$((60 * IT_TIME_SCALE))" <<'EOP'
import sys
try:
    import grpc
    from cryptography import x509
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as e:  # a missing dependency is a failure, not a skip
    print("IMPORT %s" % e)
    sys.exit(0)
desc, sock, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
fds = descriptor_pb2.FileDescriptorSet()
with open(desc, "rb") as f:
    fds.ParseFromString(f.read())
pool = descriptor_pool.DescriptorPool()
for fd in fds.file:
    pool.Add(fd)
def cls(name):
    d = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(d)
    return message_factory.MessageFactory(pool).GetPrototype(d)  # protobuf 3.21
req, rep = cls("X509SVIDRequest"), cls("X509SVIDResponse")
ch = grpc.insecure_channel("unix:" + sock)
call = ch.unary_stream("/SpiffeWorkloadAPI/FetchX509SVID",
                       request_serializer=req.SerializeToString,
                       response_deserializer=rep.FromString)
try:
    it = call(req(), metadata=[("workload.spiffe.io", "true")], timeout=limit)
    r = next(it)
    it.cancel()
except grpc.RpcError as e:
    print("%s %s" % (e.code().name, e.details()))
    sys.exit(0)
serials = []
for s in r.svids:  # x509_svid: DER certificates, leaf first
    n = s.x509_svid[1]
    end = 2 + (n if n < 0x80 else (n & 0x7F) + int.from_bytes(
        s.x509_svid[2:2 + (n & 0x7F)], "big"))
    serials.append("%x" % x509.load_der_x509_certificate(
        s.x509_svid[:end]).serial_number)
print("OK %s %s" % (",".join(s.spiffe_id for s in r.svids), ",".join(serials)))
EOP
}
LEAF_SERIAL=$(openssl x509 -in "$W/leaf.pem" -noout -serial |
  sed 's/^serial=0*//' | tr 'A-F' 'a-f')
same "python3-grpcio FetchX509SVID: the same identity and serial" \
  "$(grpc_fetch 2>&1 | tail -n 1)" "OK $WL_ID $LEAF_SERIAL"

# ---- 5. clean stops ------------------------------------------------------------------
agent_stop xa
if [ -e "$W/xa.sock" ]; then bad "the qemu agent left its socket behind"
else ok "the qemu agent removed its socket"; fi
edge_stop edge
it_stop
it_finish
