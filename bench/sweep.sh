#!/usr/bin/env bash
# Subscriber sweep (issue 9, targets 1, 2, 6): one fresh server per step,
# 100 events of 128 B at 10/s; one JSON report per line on stdout.
# Usage: bench/sweep.sh [TRANSPORT] [SUBSCRIBER COUNTS...] > sweep.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/livescore
transport=${1:-sse}
shift || true
counts=("${@:-1000 5000 10000 19000}")
for n in ${counts[@]}; do
  "$bin" bench --spawn -n "$n" --transport "$transport" --events 100 --rate 10 --size 128 --json 2>/dev/null \
    | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' || true
done
