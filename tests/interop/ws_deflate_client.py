#!/usr/bin/env python3
"""permessage-deflate with the Python `websockets` package against /ws.

Two connections: one as `websockets` connects by default (it offers
permessage-deflate with client_max_window_bits), one with compression off.
Both follow TOPIC; "ready" is printed once both are subscribed, then N
events are read from each and printed as `<conn> <id> <event> <data>`
lines for the Rust test (tests/compression.rs) to compare. Then the
compressed connection chats (websockets compresses what it sends once
the extension is agreed) and prints the chat it gets back.

Usage: ws_deflate_client.py ws://HOST:PORT/ws TOPIC N EID
"""
import json
import sys

try:
    from websockets.sync.client import connect
except ImportError as err:  # never a silent skip
    sys.exit(f"the Python 'websockets' package (>= 11) is required: pip install websockets ({err})")

TIMEOUT_S = 30


def until(ws, pred):
    while True:
        msg = json.loads(ws.recv(timeout=TIMEOUT_S))
        if pred(msg):
            return msg


def main() -> int:
    url, topic, n, eid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with connect(url, open_timeout=TIMEOUT_S, close_timeout=5) as dws, connect(
        url, open_timeout=TIMEOUT_S, close_timeout=5, compression=None
    ) as pws:
        print("extensions deflate:", dws.response.headers.get("Sec-WebSocket-Extensions"))
        print("extensions plain:", pws.response.headers.get("Sec-WebSocket-Extensions"))
        for ws in (dws, pws):
            ws.send(json.dumps({"type": "subscribe", "topics": [topic]}))
            until(ws, lambda m: m["type"] == "subscribed")
        print("ready", flush=True)
        for name, ws in (("deflate", dws), ("plain", pws)):
            for _ in range(n):
                m = until(ws, lambda m: m["type"] == "event" and m["topic"] == topic)
                print(name, m["id"], m["event"], json.dumps(m["data"], sort_keys=True))
        dws.send(json.dumps({"type": "subscribe", "topics": ["scores", f"chat/{eid}"]}))
        until(dws, lambda m: m["type"] == "event" and m["event"] == "update")
        text = " ".join(["compressed chat"] * 10)
        dws.send(json.dumps({"type": "chat", "eid": eid, "name": "zlib", "text": text}))
        got = until(dws, lambda m: m["type"] == "error" or m.get("event") == "chat")
        if got["type"] == "error":
            print("chat refused:", got["message"])
            return 1
        print(f"chat {got['data']['name']}: {got['data']['text'] == text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
