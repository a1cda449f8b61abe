#!/usr/bin/env bash
# Throughput ramp (issue 9, target 3): 10,000 SSE subscribers, the publish
# rate raised step by step (8 publish requests in flight), each step a
# fresh server; one JSON report per
# line on stdout. Usage: bench/ramp.sh [SUBSCRIBERS] [RATES...] > ramp.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/livescore
n=${1:-10000}
shift || true
rates=("${@:-20 40 80 160}")
for rate in ${rates[@]}; do
  events=$(python3 -c "print(max(100, int($rate * 5)))")
  "$bin" bench --spawn -n "$n" --events "$events" --rate "$rate" --publishers 8 --json 2>/dev/null \
    | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' || true
done
