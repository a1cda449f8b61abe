#!/usr/bin/env bash
# Bytes on the wire per board change per client (issue 20): the demo week
# (all 16 games of 2015 week 1, every scoring change) followed by one curl
# per way of asking, each counting the body bytes it received as they came
# off the socket (compressed ones are not decompressed). Prints one line per
# way: bytes in total and per board change (the number of `update` events a
# plain client got).
# Usage: bench/bytes.sh [SPEED]   (default 2000: the week in ~30 s)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/livescore
speed=${1:-2000}
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT

"$bin" demo --speed "$speed" --addr 127.0.0.1:0 >"$dir/out" 2>"$dir/err" &
server=$!
url=
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$dir/out" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the demo did not start" >&2; cat "$dir/err" >&2; exit 1; }

# name  path  extra curl arguments
ways=(
  "plain|/api/stream?topic=scores|"
  "gzip|/api/stream?topic=scores|-H Accept-Encoding:gzip"
  "delta|/api/stream?topic=scores&delta=true|"
  "delta+gzip|/api/stream?topic=scores&delta=true|-H Accept-Encoding:gzip"
)
# Until the week is over: the replay takes about 1,800,000 s / speed of
# game time plus the pauses between games.
limit=$(( 45 * 2000 / speed + 15 ))
for way in "${ways[@]}"; do
  IFS='|' read -r name path extra <<<"$way"
  # shellcheck disable=SC2086
  curl -sN --max-time "$limit" -H 'Accept: text/event-stream' $extra \
    -o "$dir/$name.body" "$url$path" || true &
done
wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
updates=$(grep -c '^event: update' "$dir/plain.body")
if ! grep -q '"state":"final' "$dir/plain.body"; then
  echo "the week did not finish within ${limit}s" >&2
fi
echo "board changes: $updates (plain client's update events), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for way in "${ways[@]}"; do
  IFS='|' read -r name _ _ <<<"$way"
  bytes=$(stat -c %s "$dir/$name.body")
  printf '%-11s %9d bytes  %7.0f bytes per change\n' "$name" "$bytes" "$(echo "$bytes / $updates" | bc -l)"
done
