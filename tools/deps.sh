# tools/deps.sh - the Debian packages Cairn needs, and an installer.
# Sourced by tools/test (and the other tools/ scripts); not run directly.

CAIRN_DEB_PACKAGES=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # libraries
  libwolfssl-dev libcoap3-dev libsqlite3-dev libuv1-dev libcbor-dev
  libgnutls28-dev  # net_tls.c reads the DTLS peer's chain through GnuTLS
  libjansson-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
  libprotobuf-dev  # google/protobuf/struct.proto for the Workload API
  # real peers used by the interop tests
  openssl python3 python3-jwt python3-cryptography libcoap3-bin
  python3-grpcio python3-protobuf
  # grpc-go client of the Workload API interop test (tests/interop/wl_go.sh),
  # built offline in GOPATH mode; protobuf 1-5 (not 1-3) so grpc-go's codec
  # understands the APIv2 code protoc-gen-go generates
  golang-go golang-google-grpc-dev golang-google-protobuf-dev
  golang-github-golang-protobuf-1-5-dev protobuf-compiler protoc-gen-go
  protoc-gen-go-grpc util-linux  # setpriv: other uids in interop.wl_python
)

cairn_missing_deps() {
  local p
  for p in "${CAIRN_DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      echo "$p"
    fi
  done
}

cairn_install_deps() {
  local missing sudo=""
  missing=$(cairn_missing_deps)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || {
      echo "missing packages and no sudo: $missing" >&2
      return 1
    }
    sudo=sudo
  fi
  echo "== installing:" $missing
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}
