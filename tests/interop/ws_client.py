#!/usr/bin/env python3
"""Interoperability check: the Python `websockets` package against /ws.

An independent WebSocket implementation subscribes, receives, chats and
sends a bad request, printing one line per observation for the Rust test
(tests/ws.rs) to assert on. Exits non-zero on any failure, including a
missing `websockets` package: `.ci/run` installs it.

Usage: ws_client.py ws://HOST:PORT/ws EID
"""
import json
import sys

try:
    from websockets.sync.client import connect
except ImportError as err:  # never a silent skip
    sys.exit(f"the Python 'websockets' package (>= 11) is required: pip install websockets ({err})")

TIMEOUT_S = 30


def main() -> int:
    url, eid = sys.argv[1], sys.argv[2]
    chat_topic = f"chat/{eid}"
    with connect(url, open_timeout=TIMEOUT_S, close_timeout=5) as ws:

        def until(pred):
            while True:
                msg = json.loads(ws.recv(timeout=TIMEOUT_S))
                if pred(msg):
                    return msg

        ws.send(json.dumps({"type": "subscribe", "topics": ["scores", chat_topic]}))
        ack = until(lambda m: m["type"] == "subscribed")
        print("subscribed", " ".join(ack["topics"]))

        update = until(lambda m: m["type"] == "event" and m["event"] == "update")
        print(f"update {len(update['data'])} games id={update['id']}")

        # Games are published before the list that includes them, so the
        # game is known now.
        text = "<i>hello</i> from websockets"
        ws.send(json.dumps({"type": "chat", "eid": eid, "name": "python", "text": text}))
        got = until(lambda m: m["type"] == "error" or m.get("event") == "chat")
        if got["type"] == "error":
            print("chat refused:", got["message"])
            return 1
        print(f"chat {got['data']['name']}: {got['data']['text']}")

        ws.send(json.dumps({"type": "nope"}))
        err = until(lambda m: m["type"] == "error")
        if "unknown message type" not in err["message"]:
            print("unexpected error:", err["message"])
            return 1
        print("error unknown message type")
    return 0


if __name__ == "__main__":
    sys.exit(main())
