#!/usr/bin/env python3
"""Bytes on the wire per `update` per client on /api/livescore and /ws.

Four clients on raw sockets against a running server (e.g. `livescore demo
--speed 200`): SSE plain, SSE with `Accept-Encoding: gzip`, WebSocket
plain, WebSocket offering permessage-deflate (following `scores`). Each
counts the bytes it reads after the response head until it has seen N
`update` events, and prints bytes per update. No decoding library touches
the byte counts; the compressed streams are decoded with zlib only to
count their events.

Usage: wire_bytes.py HOST:PORT [N]
"""
import base64
import json
import os
import socket
import sys
import threading
import zlib


def head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(1)
        if not chunk:
            raise SystemExit("closed during the head")
        buf += chunk
    return buf.decode("latin-1")


def sse(addr, n, gzip, out, key):
    sock = socket.create_connection(addr)
    enc = "Accept-Encoding: gzip\r\n" if gzip else ""
    sock.sendall(
        f"GET /api/livescore HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{enc}\r\n".encode()
    )
    h = head(sock)
    assert ("content-encoding: gzip" in h.lower()) == gzip, h
    d = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
    total, text, updates, first = 0, b"", 0, None
    while updates < n + 1:
        b = sock.recv(65536)
        if not b:
            break
        total += len(b)
        text += d.decompress(b) if d else b
        while b"\n\n" in text:
            ev, text = text.split(b"\n\n", 1)
            if b"event: update" in ev:
                updates += 1
                if updates == 1:
                    # The first update is the board on connect: count from
                    # after it, so every counted one is a score change.
                    first = total - len(text)
    out[key] = ((total - first) / n, len(h))
    sock.close()


def ws(addr, n, deflate, out, key):
    sock = socket.create_connection(addr)
    k = base64.b64encode(os.urandom(16)).decode()
    ext = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else ""
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {k}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        ).encode()
    )
    h = head(sock)
    assert ("permessage-deflate" in h) == deflate, h
    msg = json.dumps({"type": "subscribe", "topics": ["scores"]}).encode()
    mask = os.urandom(4)
    frame = bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg))
    sock.sendall(frame)
    buf, total, updates, first = b"", 0, 0, None
    while updates < n + 1:
        b = sock.recv(65536)
        if not b:
            break
        total += len(b)
        buf += b
        while len(buf) >= 2:
            ln, at = buf[1] & 0x7F, 2
            if ln == 126:
                if len(buf) < 4:
                    break
                ln, at = int.from_bytes(buf[2:4], "big"), 4
            elif ln == 127:
                if len(buf) < 10:
                    break
                ln, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + ln:
                break
            first_byte, payload, buf = buf[0], buf[at : at + ln], buf[at + ln :]
            if first_byte & 0x40:
                payload = zlib.decompressobj(-zlib.MAX_WBITS).decompress(payload + b"\x00\x00\xff\xff")
            if first_byte & 0x0F == 1 and b'"event":"update"' in payload:
                updates += 1
                if updates == 1:
                    first = total - len(buf)
    out[key] = ((total - first) / n, len(h))
    sock.close()


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    addr = (host, int(port))
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    out = {}
    runs = [
        (sse, False, "sse plain"),
        (sse, True, "sse gzip"),
        (ws, False, "ws plain"),
        (ws, True, "ws permessage-deflate"),
    ]
    threads = [threading.Thread(target=f, args=(addr, n, c, out, k)) for f, c, k in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _, _, k in runs:
        per, _ = out[k]
        print(f"{k:24} {per:8.0f} bytes per update")


if __name__ == "__main__":
    main()
