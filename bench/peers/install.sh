#!/usr/bin/env bash
# Installs the two peers docs/BENCHMARKS.md runs side by side with livescore:
# nchan (Debian's nginx module) and the original design's Python stack
# (aiohttp + redis-py). Not part of .ci/run: only the side-by-side needs them.
set -euo pipefail
if [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ] && [ ! -e /usr/share/nginx/modules-available/mod-nchan.conf ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null
fi
python3 -c 'import aiohttp, redis' 2>/dev/null || python3 -m pip install --quiet aiohttp redis
nginx -V 2>&1 | head -1
python3 -c 'import aiohttp, redis; print("aiohttp", aiohttp.__version__, "redis-py", redis.__version__)'
