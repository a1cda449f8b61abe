#!/usr/bin/env bash
# Fan-out at the floor (issue 23): interleaved rounds of livescore with the
# fast path, livescore without it (--fast-path false) and nchan, each run
# measuring the bare-write floor in the same invocation. One line per run
# on stdout: who, then the figures docs/BENCHMARKS.md quotes.
# Needs bench/peers/install.sh (nchan); starts and stops nchan itself.
# Usage: bench/floor.sh [ROUNDS] [SUBSCRIBERS] [EXTRA BENCH FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/livescore
rounds=${1:-3}
n=${2:-10000}
shift 2 || true
B=("$bin" bench -n "$n" --events 100 --rate 10 --size 128 --json "$@")

bench/peers/nchan.sh &
nchan=$!
trap 'kill $nchan 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fs -o /dev/null "http://127.0.0.1:8090/pub?id=warm" -d x && break
  sleep 0.1
done
nginx_pids=$(pgrep -f 'nginx: (master|worker)' | paste -sd,)

read -r -d '' SUMMARY <<'PY' || true
import json, sys
who = sys.argv[1]
r = json.load(sys.stdin)
s, f, v = r.get('server') or {}, r.get('floor') or {}, r.get('vs_floor') or {}
fl = f.get('latency_ms') or {}
load = open('/proc/loadavg').read().split()[0]
print(f"{who:6} load={load} lost={r['lost']} p50={r['latency_ms']['p50']:.1f} "
      f"p99={r['latency_ms']['p99']:.1f} kib/conn={s.get('kib_per_conn', 0):.2f} "
      f"cpu_us={s.get('cpu_us_per_delivery', 0):.2f} floor_cpu_us={f.get('cpu_us_per_write', 0):.2f} "
      f"floor_p99={fl.get('p99', 0):.1f} floor_last_byte={fl.get('max', 0):.1f} "
      f"cpu_vs_floor={v.get('cpu') or 0:.2f} p99_vs_floor={v.get('p99') or 0:.2f}")
PY
summary() { python3 -c "$SUMMARY" "$1"; }

for _ in $(seq "$rounds"); do
  "${B[@]}" --spawn 2>/dev/null | summary fast
  LIVESCORE_FAST_PATH=false "${B[@]}" --spawn 2>/dev/null | summary task
  "${B[@]}" --url http://127.0.0.1:8090 --nchan --server-pid "$nginx_pids" 2>/dev/null | summary nchan
done
