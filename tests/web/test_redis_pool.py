"""A burst of Redis calls past the pool's size waits for a connection instead of failing
(web.redis_clients.WaitingConnectionPool).

redis-py's default pool raises MaxConnectionsError for the call past ``max_connections``; the
outage log took that for Redis being down, so 800 viewers joining at once closed sockets and
answered buy presses 503 while Redis was fine. A wait that runs out is still answered 503, but
logged as the pool's exhaustion, not as Redis unavailable.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from inventory.faults import Outages, RedisPoolExhausted
from web.redis_clients import WaitingConnectionPool, make_redis

from .test_faults import _app, _fault


async def test_calls_past_the_pool_size_wait_for_a_free_connection(redis_url: str) -> None:
    redis = make_redis(redis_url, max_connections=4)
    try:
        await twenty_blpops_through_four_connections(redis)
    finally:
        await redis.aclose()


async def twenty_blpops_through_four_connections(redis: Redis) -> WaitingConnectionPool:
    """``redis`` (made with max_connections=4) answers 20 BLPOPs at once, each holding its
    connection for 0.1 s (5 rounds of the 4 connections), and never opens a fifth. Its pool."""
    replies = await asyncio.gather(*(redis.blpop(["test:pool:empty-list"], timeout=0.1) for _ in range(20)),
                                   return_exceptions=True)
    assert replies == [None] * 20, [r for r in replies if r is not None][:3]
    pool = redis.connection_pool
    assert isinstance(pool, WaitingConnectionPool)
    assert len(pool._available_connections) + len(pool._in_use_connections) <= 4
    return pool


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


async def test_a_wait_past_wait_s_is_a_connection_error_that_names_the_pool(redis_url: str) -> None:
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=1, wait_s=0.2)
    try:
        held = await pool.get_connection()
        started = time.monotonic()
        with pytest.raises(RedisPoolExhausted, match=r"^redis pool exhausted: every one of 1 connections busy for 0\.2 s$") as raised:
            await pool.get_connection()
        assert isinstance(raised.value, RedisConnectionError)  # so every Redis fault handler still takes it
        assert 0.15 <= time.monotonic() - started <= 1.0
        await pool.release(held)
        await pool.release(await pool.get_connection())  # and the pool works on
    finally:
        await pool.aclose()


async def test_an_exhausted_pool_is_answered_503_unavailable_and_logged_as_the_pool(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis = make_redis(redis_url, max_connections=1)
    pool = redis.connection_pool
    assert isinstance(pool, WaitingConnectionPool)
    pool.wait_s = 0.2  # POOL_WAIT_S (5 s) is what a process waits; the test need not
    held = await pool.get_connection()
    try:
        exhausted = await _fault(redis.ping)  # through the client, as a request's call meets it
    finally:
        await pool.release(held)
        await redis.aclose()
    assert isinstance(exhausted, RedisPoolExhausted), repr(exhausted)
    response, lines = await _answered_and_logged(exhausted, caplog)
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable", response.text
    assert response.headers["retry-after"] == "1"
    assert lines == ["redis pool exhausted: every one of 1 connections busy for 0.2 s; answering 503 until it is back"], lines


async def test_a_full_cluster_node_pool_is_logged_as_the_pool(caplog: pytest.LogCaptureFixture) -> None:
    """The Cluster client's node pools still raise MaxConnectionsError at once (redis-py builds its
    nodes itself): answered 503 as any Redis fault, but logged as the pool, not as Redis down."""
    response, lines = await _answered_and_logged(MaxConnectionsError("Too many connections"), caplog)
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable", response.text
    assert lines == ["redis pool full: every connection of this process to a cluster node in use "
                     "(MaxConnectionsError: Too many connections); answering 503 until it is back"], lines


async def _answered_and_logged(fault: Exception, caplog: pytest.LogCaptureFixture) -> tuple[httpx.Response, list[str]]:
    """A request meeting ``fault`` through the real fault handlers: the answer, and the outage
    log's lines."""
    outages = Outages({})
    transport = httpx.ASGITransport(app=_app({"redis": fault}, outages))
    try:
        with caplog.at_level(logging.WARNING, logger="livedrop.outage"):
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                response = await http.get("/api/fail/redis")
    finally:
        await outages.close()
    return response, [r.getMessage() for r in caplog.records if r.name == "livedrop.outage"]
