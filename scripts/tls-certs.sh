#!/usr/bin/env bash
# Throwaway TLS material for the secured-broker tests, made with the openssl command line:
#
#   scripts/tls-certs.sh DIR
#
# writes into DIR (created if missing):
#   ca.pem ca.key             a test CA
#   server.pem server.key     a server certificate for 127.0.0.1 / localhost, signed by the CA
#   expired.pem expired.key   the same names, signed by the CA, valid only in 2020
#   other-ca.pem              an unrelated CA (for "wrong CA" tests)
#   client.pem client.key     a client certificate signed by the CA
#   client-enc.key            the client key encrypted with the password in client-key-password.txt
# Nothing here is secret beyond the test run; DIR is meant to be a temporary directory.
set -euo pipefail

DIR="${1:?usage: scripts/tls-certs.sh DIR}"
mkdir -p "$DIR"
cd "$DIR"
command -v openssl >/dev/null || { echo "tls-certs: openssl is not installed" >&2; exit 1; }

q() { "$@" >/dev/null 2>&1 || { echo "tls-certs: failed: $*" >&2; "$@"; exit 1; }; }

key() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

key ca.key
q openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=faust-rs test CA" -out ca.pem
key other-ca.key
q openssl req -x509 -new -key other-ca.key -sha256 -days 2 -subj "/CN=faust-rs other CA" -out other-ca.pem

cat > server.ext <<'EOF'
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
cat > client.ext <<'EOF'
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
EOF

key server.key
q openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -sha256 -extfile server.ext -out server.pem

# `openssl ca` is the one 3.0 command that takes explicit validity dates.
key expired.key
q openssl req -new -key expired.key -subj "/CN=localhost" -out expired.csr
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
EOF
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr \
    -startdate 20200101000000Z -enddate 20200102000000Z -extfile server.ext -notext -out expired.pem

key client.key
q openssl req -new -key client.key -subj "/CN=faust-rs-client" -out client.csr
q openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -sha256 -extfile client.ext -out client.pem
echo "client-key-pass-$$" > client-key-password.txt
q openssl pkey -in client.key -aes256 -passout file:client-key-password.txt -out client-enc.key

rm -f ./*.csr ./*.srl
