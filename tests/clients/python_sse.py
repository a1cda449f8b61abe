"""Follow a livescore server's scores with httpx-sse, resuming with
Last-Event-ID after a dropped connection. Shown in docs/CLIENTS.md and run
against a real server by tests/clients.rs.

    pip install httpx httpx-sse
    python3 python_sse.py http://127.0.0.1:8000 [--last-event-id ID] [--max-events N]
"""
import argparse
import json
import sys
import time

import httpx
from httpx_sse import connect_sse


def follow(base_url, last_event_id=None, max_events=None):
    """Prints each board; reconnects on network errors. Returns the last id."""
    seen, retry = 0, 2.0
    while True:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        try:
            # Keep-alives come at least every 15 s: 60 s of silence is a dead link.
            with httpx.Client(timeout=httpx.Timeout(10.0, read=60.0)) as client:
                with connect_sse(client, "GET", f"{base_url}/api/stream",
                                 params={"topic": "scores"}, headers=headers) as source:
                    source.response.raise_for_status()
                    for sse in source.iter_sse():
                        if sse.retry:
                            retry = sse.retry / 1000
                        if not sse.data:
                            continue  # httpx-sse also yields the bare `retry:` block
                        last_event_id = sse.id or last_event_id
                        if sse.event == "update":
                            for g in json.loads(sse.data):
                                print(f"{g['away']['abbr']} {g['away']['score']} @ "
                                      f"{g['home']['abbr']} {g['home']['score']}  {g['state']}")
                        elif sse.event == "reset":
                            print(f"reset: {json.loads(sse.data)['reason']}")
                        print(f"id: {last_event_id}", flush=True)
                        seen += 1
                        if max_events and seen >= max_events:
                            return last_event_id
        except (httpx.TransportError, httpx.HTTPStatusError) as err:
            print(f"reconnecting in {retry}s: {err}", file=sys.stderr)
        time.sleep(retry)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--last-event-id")
    parser.add_argument("--max-events", type=int)
    args = parser.parse_args()
    follow(args.url.rstrip("/"), args.last_event_id, args.max_events)
