#!/usr/bin/env bash
# Memory per idle WebSocket: N plain ones, then N that each sent one
# compressed (permessage-deflate) message, in one server, then all closed
# (docs/BENCHMARKS.md, "Memory per idle WebSocket, compressed").
#
#   cargo build --release --bin livescore --example idle_websockets
#   bash bench/ws_deflate_memory.sh [CONNECTIONS]      # default 6000
#   LIVESCORE_BIN=/path/to/older/livescore bash bench/ws_deflate_memory.sh   # before/after
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-6000}
BIN=${LIVESCORE_BIN:-target/release/livescore}   # another build to compare
EX=target/release/examples/idle_websockets
dir=$(mktemp -d)
"$BIN" serve --addr 127.0.0.1:0 --database-url sqlite::memory: >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^livescore listening on //p' "$dir/out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$dir/err" >&2; exit 1; }
"$EX" --addr "${url#http://}" --pid "$pid" --connections "$N"
