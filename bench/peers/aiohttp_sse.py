#!/usr/bin/env python3
"""The original design, as a peer for docs/BENCHMARKS.md: aiohttp serving
SSE, one Redis pub/sub subscription per client. Speaks the same API as
livescore for the bench: GET /api/stream?topic=T (SSE) and
POST /api/publish with a bearer token and {"topic","event","data"} -> 202.

Run two processes on one port (SO_REUSEPORT), as the original's 2 workers:
  TOKEN=t REDIS_URL=redis://127.0.0.1:6391 bench/peers/aiohttp_sse.py 127.0.0.1 8091 &
  TOKEN=t REDIS_URL=redis://127.0.0.1:6391 bench/peers/aiohttp_sse.py 127.0.0.1 8091 &
Needs: pip install aiohttp redis.
"""
import json
import os
import sys

import redis.asyncio as aioredis
from aiohttp import web

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
TOKEN = os.environ["TOKEN"]


async def stream(request):
    topic = request.query.get("topic", "")
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    await resp.write(b"retry: 3000\n\n")
    # One Redis connection and subscription per client, as the original.
    client = aioredis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(f"{request.app['prefix']}:{topic}")
    try:
        async for msg in pubsub.listen():
            if msg["type"] == "message":
                await resp.write(msg["data"])
    finally:
        await pubsub.aclose()
        await client.aclose()
    return resp


async def publish(request):
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.json_response({"error": "bad token"}, status=401)
    body = await request.json()
    data = json.dumps(body["data"], separators=(",", ":"))
    frame = f"event: {body['event']}\ndata: {data}\n\n".encode()
    await request.app["redis"].publish(f"{request.app['prefix']}:{body['topic']}", frame)
    return web.json_response({"id": "0"}, status=202)


async def redis_ctx(app):
    app["redis"] = aioredis.from_url(REDIS_URL)
    yield
    await app["redis"].aclose()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = web.Application()
    # Shared by both processes so a publish reaches every client.
    app["prefix"] = os.environ.get("PREFIX", "peer")
    app.cleanup_ctx.append(redis_ctx)
    app.router.add_get("/api/stream", stream)
    app.router.add_post("/api/publish", publish)
    # shutdown_timeout: SIGTERM must end it even with 10,000 endless
    # streams open (aiohttp would wait 60 s for them, and a stream whose
    # Redis went away meanwhile spins and grows without bound).
    web.run_app(
        app, host=host, port=port, reuse_port=True, print=None, backlog=4096,
        shutdown_timeout=1,
    )


if __name__ == "__main__":
    main()
