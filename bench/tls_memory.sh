#!/usr/bin/env bash
# Memory per idle SSE stream: plain HTTP/1.1, TLS + HTTP/1.1, and HTTP/2
# (one stream per connection, and 100 streams per connection), a fresh
# server for each (docs/BENCHMARKS.md, "TLS and HTTP/2").
#
#   cargo build --release --bin livescore --example idle_streams
#   bash bench/tls_memory.sh [STREAMS]      # default 5000
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
BIN=target/release/livescore
EX=target/release/examples/idle_streams
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE 2>/dev/null

# run NAME MODE CONNECTIONS STREAMS [server flags…]
run() {
  local name=$1 mode=$2 conns=$3 streams=$4
  shift 4
  "$BIN" serve --addr 127.0.0.1:0 --database-url sqlite::memory: "$@" \
    >"$dir/out" 2>"$dir/err" &
  local pid=$!
  local url=""
  for _ in $(seq 100); do
    url=$(sed -n 's/^livescore listening on //p' "$dir/out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  printf '%-28s ' "$name"
  "$EX" --url "$url" --cacert "$dir/cert.pem" --pid "$pid" --mode "$mode" \
    --connections "$conns" --streams "$streams"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

tls=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem")
run "plain HTTP/1.1" h1 "$N" 1
run "TLS + HTTP/1.1" h1 "$N" 1 "${tls[@]}"
run "HTTP/2, 1 stream/conn" h2 "$N" 1 "${tls[@]}"
run "HTTP/2, 100 streams/conn" h2 $((N / 100)) 100 "${tls[@]}"
