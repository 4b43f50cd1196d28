# shellcheck shell=bash
# make_bench_certs DIR: a CA (DIR/ca.pem) and a server certificate for 127.0.0.1 / localhost
# (DIR/server.pem, DIR/server.key), ECDSA P-256, valid 2 days, made with openssl. Sourced by
# the security benchmarks after scripts/procs.sh (for `run`).
make_bench_certs() {
    local certs=$1
    command -v openssl >/dev/null || { echo "openssl is needed to make the test certificates" >&2; return 1; }
    mkdir -p "$certs"
    run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$certs/ca.key" -out "$certs/ca.pem" -days 2 -subj /CN=bench-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        >/dev/null 2>&1
    run openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$certs/server.key" -out "$certs/server.csr" -subj /CN=localhost >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
        >"$certs/ext.cnf"
    run openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" \
        -CAcreateserial -out "$certs/server.pem" -days 2 -extfile "$certs/ext.cnf" >/dev/null 2>&1
}
