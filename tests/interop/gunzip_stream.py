#!/usr/bin/env python3
"""Decodes a gzip SSE body with Python's zlib, an independent decoder.

The bytes are fed to one decompressobj(16 + MAX_WBITS) a few at a time, as
they would arrive, and the decoded text is written to stdout. With
--complete the stream must also have ended as a whole gzip member (final
block, CRC-32 and length checked by zlib), with nothing after it.

Usage: gunzip_stream.py FILE [--complete]
"""
import sys
import zlib


def main() -> int:
    path = sys.argv[1]
    complete = "--complete" in sys.argv[2:]
    data = open(path, "rb").read()
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    for i in range(0, len(data), 7):
        out += d.decompress(data[i : i + 7])
    out += d.flush(zlib.Z_SYNC_FLUSH)
    sys.stdout.buffer.write(bytes(out))
    if complete:
        if not d.eof:
            print("gzip stream not ended (no trailer)", file=sys.stderr)
            return 1
        if d.unused_data:
            print(f"{len(d.unused_data)} bytes after the gzip member", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
