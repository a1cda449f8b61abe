#!/usr/bin/env bash
# Starts nginx + nchan (Debian's libnginx-mod-nchan) with nchan.conf in the
# foreground; prints nothing until stopped. Master and worker pids:
# pgrep -f 'nginx: (master|worker)'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run=$(mktemp -d)
exec nginx -c "$here/nchan.conf" -p "$run" -e "$run/error.log" \
    -g "daemon off; pid $run/nginx.pid; error_log $run/error.log warn;"
