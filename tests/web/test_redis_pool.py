"""A burst of Redis calls past the pool's size waits for a connection instead of failing
(web.redis_clients.WaitingConnectionPool).

redis-py's default pool raises MaxConnectionsError for the call past ``max_connections``; the
outage log took that for Redis being down, so 800 viewers joining at once closed sockets and
answered buy presses 503 while Redis was fine.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from web.redis_clients import WaitingConnectionPool, make_redis


async def test_calls_past_the_pool_size_wait_for_a_free_connection(redis_url: str) -> None:
    redis = make_redis(redis_url, max_connections=4)
    try:
        key = "test:pool:empty-list"
        # Each BLPOP holds its connection for 0.1 s: 20 at once need 5 rounds of the 4 connections.
        replies = await asyncio.gather(*(redis.blpop([key], timeout=0.1) for _ in range(20)), return_exceptions=True)
        assert replies == [None] * 20, [r for r in replies if r is not None][:3]
        pool = redis.connection_pool
        assert isinstance(pool, WaitingConnectionPool)
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 4
    finally:
        await redis.aclose()


async def test_a_waiter_woken_then_cancelled_passes_its_turn_on(redis_url: str) -> None:
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=1, wait_s=3.0)
    try:
        held = await pool.get_connection()
        first = asyncio.create_task(pool.get_connection())
        second = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.05)  # both wait
        await pool.release(held)  # wakes the first...
        first.cancel()  # ...which is cancelled before it could run (a client gone mid-request)
        started = time.monotonic()
        connection = await asyncio.wait_for(second, 1.0)  # not after wait_s: the turn came to it
        assert time.monotonic() - started < 0.5
        await pool.release(connection)
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        await pool.aclose()


async def test_a_wait_past_wait_s_is_a_connection_error(redis_url: str) -> None:
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=1, wait_s=0.2)
    try:
        held = await pool.get_connection()
        started = time.monotonic()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await pool.get_connection()  # answered 503 by the outage handling, as any Redis fault
        assert 0.15 <= time.monotonic() - started <= 1.0
        await pool.release(held)
        await pool.release(await pool.get_connection())  # and the pool works on
    finally:
        await pool.aclose()
