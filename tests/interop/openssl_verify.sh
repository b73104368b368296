#!/bin/sh
# Certificate interop with the openssl CLI, both directions.
#
#   openssl_verify.sh CERTTOOL WORKDIR
#
# 1. Chains issued by libcairn (2 and 3 levels, P-256 and P-384) pass
#    `openssl verify -x509_strict` for TLS client and server use, carry the
#    X509-SVID extensions as openssl prints them, and a leaf outside an
#    intermediate's URI NameConstraints is rejected by openssl.
# 2. Chains made by `openssl req`/`openssl x509` verify with
#    cairn_cert_verify(); rogue chains (an intermediate signed by another
#    root with the same DN, with and without AKID), a leaf outside
#    NameConstraints and a certificate signed by a leaf are rejected by
#    both.
set -eu

TOOL=$1
W=$2
rm -rf "$W"
mkdir -p "$W"
FAILS=0
CHECKS=0

ok() { CHECKS=$((CHECKS + 1)); echo "ok - $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "not ok - $*"; }

# expect_ok "what" cmd...: the command must succeed.
expect_ok() {
  what=$1
  shift
  if out=$("$@" 2>&1); then ok "$what"; else bad "$what: $out"; fi
}

# expect_fail "what" "pattern" cmd...: must fail, output must match pattern.
expect_fail() {
  what=$1
  pat=$2
  shift 2
  if out=$("$@" 2>&1); then
    bad "$what: unexpectedly accepted: $out"
  elif printf '%s\n' "$out" | grep -q -- "$pat"; then
    ok "$what"
  else
    bad "$what: failed without '$pat': $out"
  fi
}

# has "what" file pattern...: every pattern occurs in `openssl x509 -text`.
has() {
  what=$1
  file=$2
  shift 2
  txt=$(openssl x509 -in "$file" -noout -text)
  for pat in "$@"; do
    if printf '%s\n' "$txt" | grep -q -F -- "$pat"; then
      ok "$what shows '$pat'"
    else
      bad "$what lacks '$pat'"
    fi
  done
}

lacks() {
  what=$1
  file=$2
  pat=$3
  if openssl x509 -in "$file" -noout -text | grep -q -F -- "$pat"; then
    bad "$what unexpectedly shows '$pat'"
  else
    ok "$what has no '$pat'"
  fi
}

# SKID = SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280
# method 1), as openssl prints it.
skid_of_key() {
  n=$2
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
    tail -c "$n" | openssl dgst -sha1 -r | cut -c1-40 |
    tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//'
}
ext_value() {
  openssl x509 -in "$1" -noout -text | grep -A1 -F "$2" | tail -n 1 |
    tr -d ' '
}

# ---- 1. libcairn chains checked by openssl ------------------------------
for curve in p256 p384; do
  d=$W/$curve
  "$TOOL" gen "$d" "$curve"
  if [ $curve = p256 ]; then alg=ecdsa-with-SHA256; pl=65; else
    alg=ecdsa-with-SHA384; pl=97; fi
  for purpose in sslclient sslserver; do
    expect_ok "$curve 2-level $purpose" openssl verify -x509_strict \
      -purpose $purpose -CAfile "$d/root.pem" -untrusted "$d/inter.pem" \
      "$d/leaf.pem"
    expect_ok "$curve 3-level $purpose" openssl verify -x509_strict \
      -purpose $purpose -CAfile "$d/root.pem" -untrusted "$d/untrusted3.pem" \
      "$d/leaf3.pem"
  done
  expect_ok "$curve intermediate (CA chain)" openssl verify -x509_strict \
    -CAfile "$d/root.pem" "$d/inter.pem"
  has "$curve leaf" "$d/leaf.pem" \
    "X509v3 Basic Constraints: critical" "CA:FALSE" \
    "X509v3 Key Usage: critical" "Digital Signature" \
    "URI:spiffe://example.org/ns/default/sa/web" "DNS:web.example.org" \
    "TLS Web Server Authentication, TLS Web Client Authentication" \
    "X509v3 Subject Key Identifier" "X509v3 Authority Key Identifier" \
    "Subject: O = SPIFFE" "Signature Algorithm: $alg"
  lacks "$curve leaf" "$d/leaf.pem" "Certificate Sign"
  has "$curve intermediate" "$d/inter.pem" \
    "X509v3 Basic Constraints: critical" "CA:TRUE, pathlen:0" \
    "X509v3 Key Usage: critical" "Certificate Sign, CRL Sign" \
    "X509v3 Name Constraints: critical" "URI:example.org" \
    "URI:spiffe://example.org" "Signature Algorithm: $alg"
  lacks "$curve intermediate" "$d/inter.pem" "Digital Signature"
  has "$curve root" "$d/root.pem" "X509v3 Basic Constraints: critical" \
    "CA:TRUE" "Certificate Sign, CRL Sign" "URI:spiffe://example.org"
  lacks "$curve root" "$d/root.pem" "Name Constraints"
  has "$curve region" "$d/region.pem" "CA:TRUE, pathlen:1" \
    "X509v3 Name Constraints: critical"
  # Key identifiers: method 1 hashes, AKID = issuer SKID.
  for c in root inter leaf; do
    want=$(skid_of_key "$d/$c.pem" $pl)
    got=$(ext_value "$d/$c.pem" "Subject Key Identifier")
    if [ "$want" = "$got" ]; then ok "$curve $c SKID is SHA-1 of the key";
    else bad "$curve $c SKID $got != $want"; fi
  done
  if [ "$(ext_value "$d/leaf.pem" "Authority Key Identifier")" = \
       "$(ext_value "$d/inter.pem" "Subject Key Identifier")" ]; then
    ok "$curve leaf AKID = intermediate SKID"
  else bad "$curve leaf AKID != intermediate SKID"; fi
  # openssl enforces the URI NameConstraints of our intermediates.
  expect_fail "$curve openssl rejects leaf outside NameConstraints" \
    "permitted subtree violation" openssl verify -x509_strict \
    -CAfile "$d/root.pem" -untrusted "$d/inter.pem" "$d/evil-leaf.pem"
  # And libcairn agrees with openssl on the same files.
  expect_ok "$curve cairn verifies 2-level" \
    "$TOOL" verify "$d/root.pem" "$d/chain.pem" example.org
  expect_ok "$curve cairn verifies 3-level" \
    "$TOOL" verify "$d/root.pem" "$d/chain3.pem" example.org
  cat "$d/evil-leaf.pem" "$d/inter.pem" >"$d/evil-chain.pem"
  expect_fail "$curve cairn rejects leaf outside NameConstraints" \
    "policy violation" "$TOOL" verify "$d/root.pem" "$d/evil-chain.pem"
done

# ---- 2. openssl chains checked by libcairn ------------------------------
O=$W/ossl
mkdir -p "$O"
cat >"$O/ext.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
O = SPIFFE
[v3_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = URI:spiffe://example.org
[v3_inter]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = URI:spiffe://example.org
nameConstraints = critical, permitted;URI:example.org
[v3_inter_noakid]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = none
subjectAltName = URI:spiffe://example.org
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = URI:spiffe://example.org/ossl/workload, DNS:ossl.example.org
[v3_evil]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = URI:spiffe://evil.org/x
EOF

# mkroot NAME CURVE SUBJECT
mkroot() {
  openssl req -x509 -new -config "$O/ext.cnf" -extensions v3_root \
    -newkey ec -pkeyopt "ec_paramgen_curve:$2" -nodes \
    -keyout "$O/$1.key" -out "$O/$1.pem" -subj "$3" -days 2 2>/dev/null
}
# mkcert NAME CURVE SUBJECT ISSUER EXTSECTION
mkcert() {
  openssl req -new -config "$O/ext.cnf" -newkey ec \
    -pkeyopt "ec_paramgen_curve:$2" -nodes -keyout "$O/$1.key" \
    -out "$O/$1.csr" -subj "$3" 2>/dev/null
  openssl x509 -req -in "$O/$1.csr" -CA "$O/$4.pem" -CAkey "$O/$4.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 1 -extfile "$O/ext.cnf" \
    -extensions "$5" -out "$O/$1.pem" 2>/dev/null
}

for curve in P-256 P-384; do
  mkroot root $curve "/O=SPIFFE/CN=ossl root"
  mkcert inter $curve "/O=SPIFFE/CN=ossl inter" root v3_inter
  mkcert leaf $curve "/O=SPIFFE/CN=ossl leaf" inter v3_leaf
  cat "$O/leaf.pem" "$O/inter.pem" >"$O/chain.pem"
  expect_ok "$curve openssl accepts its own chain" openssl verify \
    -x509_strict -purpose sslclient -CAfile "$O/root.pem" \
    -untrusted "$O/inter.pem" "$O/leaf.pem"
  if out=$("$TOOL" verify "$O/root.pem" "$O/chain.pem" example.org) &&
     [ "$out" = "spiffe://example.org/ossl/workload" ]; then
    ok "$curve cairn verifies the openssl chain"
  else
    bad "$curve cairn rejects the openssl chain: $out"
  fi
  expect_ok "$curve cairn verifies the openssl intermediate as CA" \
    "$TOOL" verify "$O/root.pem" "$O/inter.pem" example.org ca
  expect_fail "$curve cairn: openssl chain, other trust domain" \
    "untrusted" "$TOOL" verify "$O/root.pem" "$O/chain.pem" other.org

  # Rogue: another root with the very same DN signs an intermediate with
  # the same DN as the real one.
  mkroot rogue-root $curve "/O=SPIFFE/CN=ossl root"
  mkcert rogue-inter $curve "/O=SPIFFE/CN=ossl inter" rogue-root v3_inter
  mkcert rogue-leaf $curve "/O=SPIFFE/CN=ossl leaf" rogue-inter v3_leaf
  cat "$O/rogue-leaf.pem" "$O/rogue-inter.pem" >"$O/rogue-chain.pem"
  expect_fail "$curve openssl rejects the rogue chain" "error" \
    openssl verify -CAfile "$O/root.pem" -untrusted "$O/rogue-inter.pem" \
    "$O/rogue-leaf.pem"
  expect_fail "$curve cairn rejects the rogue chain" "untrusted" \
    "$TOOL" verify "$O/root.pem" "$O/rogue-chain.pem" example.org
  # Without an AKID only the signature check can catch it.
  mkcert rogue-inter2 $curve "/O=SPIFFE/CN=ossl inter" rogue-root \
    v3_inter_noakid
  mkcert rogue-leaf2 $curve "/O=SPIFFE/CN=ossl leaf" rogue-inter2 v3_leaf
  cat "$O/rogue-leaf2.pem" "$O/rogue-inter2.pem" >"$O/rogue-chain2.pem"
  expect_fail "$curve openssl rejects the rogue chain without AKID" "error" \
    openssl verify -CAfile "$O/root.pem" -untrusted "$O/rogue-inter2.pem" \
    "$O/rogue-leaf2.pem"
  expect_fail "$curve cairn rejects the rogue chain without AKID" \
    "verification failed" \
    "$TOOL" verify "$O/root.pem" "$O/rogue-chain2.pem" example.org

  # Leaf outside the intermediate's NameConstraints.
  mkcert evil $curve "/O=SPIFFE/CN=evil" inter v3_evil
  cat "$O/evil.pem" "$O/inter.pem" >"$O/evil-chain.pem"
  expect_fail "$curve openssl rejects its leaf outside NameConstraints" \
    "permitted subtree violation" openssl verify -CAfile "$O/root.pem" \
    -untrusted "$O/inter.pem" "$O/evil.pem"
  expect_fail "$curve cairn rejects the openssl leaf outside NameConstraints" \
    "policy violation" "$TOOL" verify "$O/root.pem" "$O/evil-chain.pem"

  # A certificate signed by the (CA:FALSE) leaf.
  mkcert byleaf $curve "/O=SPIFFE/CN=by leaf" leaf v3_leaf
  cat "$O/byleaf.pem" "$O/leaf.pem" "$O/inter.pem" >"$O/byleaf-chain.pem"
  expect_fail "$curve openssl rejects a cert signed by a leaf" "error" \
    openssl verify -CAfile "$O/root.pem" -untrusted "$O/leaf.pem" \
    -untrusted "$O/inter.pem" "$O/byleaf.pem"
  expect_fail "$curve cairn rejects a cert signed by a leaf" \
    "policy violation" \
    "$TOOL" verify "$O/root.pem" "$O/byleaf-chain.pem" example.org
done

echo "# $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
