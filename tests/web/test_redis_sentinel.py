"""livedrop on Redis Sentinel: a real primary, its replica and three sentinels on loopback,
started for this module and stopped at its end (tests.redis_cluster_servers).

What must hold (issue 21): ``REDIS_URL=redis+sentinel://…/mymaster`` finds the primary through
the sentinels, and when the primary is killed mid-drop and the sentinels promote its replica,
livedrop follows (buyers hear 503 with Retry-After meanwhile, never a 500), and nothing is sold
that SQL does not have. And, as on one server (tests/web/test_redis_pool.py), a burst of calls past
the pool's size waits for a free connection instead of failing as if Redis were down.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from redis.asyncio.sentinel import SentinelManagedConnection

from inventory.faults import RedisPoolExhausted
from inventory.redis_lane import RedisLane
from inventory.stock import SaleTerms, StockStore
from tests.redis_cluster_servers import SentinelGroup, require_system_redis
from tests.redis_servers import RedisServer
from tests.support import LivedropProcess, host_token, livedrop_env
from web.redis_clients import WaitingSentinelConnectionPool, close_redis
from web.services import make_redis

from .buying import auth, live_show_with_product
from .test_redis_pool import twenty_blpops_through_four_connections
from .test_redis_faults import ALLOWED, Tally, _buyer


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    require_system_redis()
    running = SentinelGroup(tmp_path_factory.mktemp("sentinel")).start()
    try:
        yield running
    finally:
        running.stop()


async def _until(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.1)
    return False


async def _until_ready(http: httpx.AsyncClient, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await http.get("/readyz")).status_code == 200:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_the_client_finds_the_primary_through_the_sentinels(group: SentinelGroup) -> None:
    redis = make_redis(group.url)
    try:
        assert int((await redis.info("server"))["tcp_port"]) == group.primary_port() == group.primary.port
        stock = StockStore(redis)
        await stock.load(7, {"S-1": 3})
        # Holds take the pipelined lane to the primary the sentinels name, as on one server.
        assert isinstance(stock.lane, RedisLane)
        terms = SaleTerms(unit_price_cents=100, currency="USD", per_customer_limit=1)
        await asyncio.gather(*(stock.hold(7, "S-1", 1, f"b{n}", f"k{n}", terms) for n in range(2)))
        assert stock.lane.writes >= 1 and stock.lane.address.port == group.primary.port
        stock.close()
        with contextlib.closing(group.replica.client()) as replica:
            deadline = time.monotonic() + 5
            while replica.hget("ld:{p7}:avail", "S-1") != "1" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert replica.hget("ld:{p7}:avail", "S-1") == "1", "the writes did not go to the primary the replica follows"
    finally:
        await redis.aclose()


async def test_calls_past_the_pool_size_wait_for_a_free_connection(group: SentinelGroup) -> None:
    """As with one server (tests/web/test_redis_pool.py): redis-py's Sentinel pool raises
    MaxConnectionsError for the call past ``max_connections``, which a burst of viewers joining
    would meet and the outage log would take for Redis being down."""
    redis = make_redis(group.url, max_connections=4)
    try:
        pool = await twenty_blpops_through_four_connections(redis)
        assert isinstance(pool, WaitingSentinelConnectionPool)
        ports = {cast(SentinelManagedConnection, c).port for c in pool._available_connections}
        assert ports == {group.primary_port()}  # still the sentinels' primary
    finally:
        await close_redis(redis)


async def test_a_sentinel_wait_past_wait_s_is_the_pools_exhaustion(group: SentinelGroup) -> None:
    redis = make_redis(group.url, max_connections=1)
    pool = redis.connection_pool
    assert isinstance(pool, WaitingSentinelConnectionPool)
    pool.wait_s = 0.2  # POOL_WAIT_S (5 s) is what a process waits; the test need not
    try:
        held = await pool.get_connection()
        started = time.monotonic()
        with pytest.raises(RedisPoolExhausted, match=r"^redis pool exhausted: every one of 1 connections busy for 0\.2 s$"):
            await redis.ping()  # through the client, as a request's call meets it
        assert 0.15 <= time.monotonic() - started <= 1.0
        await pool.release(held)
        assert await redis.ping()  # and the pool works on
    finally:
        await close_redis(redis)


async def test_a_drop_follows_a_sentinel_failover(group: SentinelGroup, tmp_path: Path) -> None:
    payments = RedisServer(tmp_path / "payments").start()
    env = livedrop_env(tmp_path / "livedrop", REDIS_URL=group.url, LIVEDROP_PAYMENTS_REDIS_URL=payments.url,
                       LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000")
    (tmp_path / "livedrop").mkdir()
    token = host_token(env, f"sentinel-{uuid.uuid4().hex[:8]}@example.com", "a long enough password")
    sizes = {"SN-1": 15, "SN-2": 15}
    tally = Tally()
    try:
        with LivedropProcess(["serve"], env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=60, keepalive_expiry=2)) as http:  # idle < the server's 5 s keep-alive: never reuse a closing one
                slug, _ = await live_show_with_product(http, token, sizes, title="Sentinel Runner")
                http.cookies.clear()
                buyers = [(await http.post("/api/buyers", json={})).json()["token"] for _ in range(90)]
                http.cookies.clear()
                rng = random.Random(5)
                drop = [asyncio.create_task(_buyer(http, slug, b, i, tally, rng, sizes)) for i, b in enumerate(buyers[:45])]
                await asyncio.sleep(0.3)
                await asyncio.to_thread(group.primary.kill)
                # The second half presses while the primary is gone: 503 until the failover.
                drop += [asyncio.create_task(_buyer(http, slug, b, 45 + i, tally, rng, sizes)) for i, b in enumerate(buyers[45:])]
                await asyncio.gather(*drop)
                assert await _until(lambda: group.primary_port() == group.replica.port, 15), "the sentinels did not promote the replica"
                # After the failover the process works on the promoted replica.
                assert await _until_ready(http), "/readyz did not come back after the failover"
                orders = (await http.get(f"/api/shows/{slug}/orders", headers=auth(token))).json()["orders"]
            log = server.output()
    finally:
        payments.stop()

    assert not tally.server_errors, tally.server_errors[:5]
    assert set(tally.statuses) <= ALLOWED, tally.statuses
    assert tally.statuses[503] > 0, f"the failover was never felt: {tally.statuses}"
    paid = {o["order_id"]: o for o in orders if o["status"] == "paid"}
    sold = Counter(o["lines"][0]["sku"] for o in paid.values())
    assert all(sold[sku] <= units for sku, units in sizes.items()), f"oversold: {sold}"
    assert set(tally.paid) <= set(paid), "a buyer was told an order is paid that SQL does not have"
    assert sum(sold.values()) >= 10, f"the drop barely sold: {sold} {tally.statuses}"
    # The promoted replica is another server: stock was rebuilt from SQL before it took a hold.
    assert "rebuilding from SQL" in log, log[-3000:]
