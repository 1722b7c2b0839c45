"""A burst of Redis calls past the pool's size waits for a connection instead of failing.

redis-py's default pool raises MaxConnectionsError for the call past ``max_connections``; the
outage log took that for Redis being down, so 800 viewers joining at once closed sockets and
answered buy presses 503 while Redis was fine (web.redis_clients, POOL_WAIT_S).
"""

from __future__ import annotations

import asyncio

from web.redis_clients import make_redis


async def test_calls_past_the_pool_size_wait_for_a_free_connection(redis_url: str) -> None:
    redis = make_redis(redis_url, max_connections=4)
    try:
        key = "test:pool:empty-list"
        # Each BLPOP holds its connection for 0.1 s: 20 at once need 5 rounds of the 4 connections.
        replies = await asyncio.gather(*(redis.blpop([key], timeout=0.1) for _ in range(20)), return_exceptions=True)
        assert replies == [None] * 20, [r for r in replies if r is not None][:3]
        pool = redis.connection_pool
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 4
    finally:
        await redis.aclose()
