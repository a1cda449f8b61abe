#!/usr/bin/env bash
# Fuzzes a live server against its own OpenAPI description
# (/api/openapi.json, generated from the code by utoipa) with schemathesis:
# every documented operation, every check (`--checks all`: no 5xx, only
# documented statuses, content types and headers, bodies that match their
# schemas, schema-valid requests accepted, invalid ones rejected, auth not
# ignored, 405 for undocumented methods). Called by .ci/run after the Rust
# tests; fails on any finding.
#
# Nothing is excluded. The SSE endpoints (/api/livescore, /api/stream) never
# end, and schemathesis knows it: a `text/event-stream` response is read
# until the stream has sent 20 events or the request timeout passes, and
# each event it did send is checked against the documented event schema
# (`event`, `id`, `data` as JSON of the documented shape). So a streaming
# case costs up to --request-timeout. schemathesis never sends
# `Accept: text/event-stream`, so on /api/livescore it only sees the 302;
# the streams themselves (that 200, resume, reset, keep-alive) are covered
# by tests/sse.rs and the encoder's property tests (crates/livescore/src/hub/frame_props.rs).
# /ws: a valid handshake gets 101; scripts/schemathesis.toml tells the
# checks that 101 is this operation's success.
#
# Usage: scripts/schemathesis.sh [extra schemathesis args]
#   LIVESCORE_BIN   the binary to run (default target/release/livescore)
#   ST_MAX_EXAMPLES examples per operation and phase (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${LIVESCORE_BIN:-target/release/livescore}
max_examples=${ST_MAX_EXAMPLES:-40}
token="schemathesis-$$-$RANDOM"
work=$(mktemp -d)

# A server with games (the final 2015 week 1 fixture) and the publish API
# on, so the 200s and 202s are reachable, not only the errors.
"$bin" serve --addr 127.0.0.1:0 --publish-token "$token" \
  --database-url sqlite::memory: --feed tests/fixtures/ss-2015-w1-final.xml \
  >"$work/stdout" 2>"$work/stderr" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

url=""
for _ in $(seq 300); do
  url=$(sed -n 's/^livescore listening on //p' "$work/stdout")
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "livescore exited before listening:" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "livescore did not print its listening line within 30 s" >&2
  exit 1
fi
# The feed is read once the server listens; wait for its games so the
# game endpoints answer 200s too, not only 404s.
python3 - "$url" <<'PY'
import json, sys, time, urllib.request
deadline = time.monotonic() + 30
while True:
    with urllib.request.urlopen(sys.argv[1] + "/api/") as r:
        if json.load(r)["games"]:
            break
    if time.monotonic() > deadline:
        sys.exit("no games on /api/ after 30 s")
    time.sleep(0.1)
PY
echo "fuzzing $url (schemathesis $(schemathesis --version | awk '{print $NF}'))"

status=0
# Run from the temp dir: schemathesis keeps a crash cache in ./.schemathesis.
config="$PWD/scripts/schemathesis.toml"
# One worker: with two, schemathesis runs its cases on two threads and
# hypothesis parses lambda sources with ast.parse on both; CPython 3.11's
# AST constructor keeps its recursion depth in shared state, so two
# concurrent parses can fail with "SystemError: AST constructor recursion
# depth mismatch" (python/cpython#106905), a failure of the tool, not of
# the server, that once turned CI red.
(cd "$work" && schemathesis --config-file "$config" --no-color \
  run "$url/api/openapi.json" \
  --checks all \
  --max-examples "$max_examples" \
  --request-timeout 2 \
  --workers 1 \
  --header "Authorization: Bearer $token" \
  --report-dir "$work/report" \
  --generation-database :memory: \
  "$@") || status=$?

if [ "$status" -ne 0 ]; then
  echo "schemathesis found failures; server log tail:" >&2
  tail -n 40 "$work/stderr" >&2
fi
# Any panic in the server is a failure even if every answer looked right.
if grep -q "panicked" "$work/stderr"; then
  echo "the server panicked during the run:" >&2
  grep -A5 "panicked" "$work/stderr" >&2
  status=1
fi
exit "$status"
