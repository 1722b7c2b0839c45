"""A Redis that comes back behind (restarted from an append-only file a second old, or a lagging
replica promoted) is noticed by its run id before it takes a hold, and stock is rebuilt from SQL
first. Real redis-servers, started and killed here."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select

from inventory import errors
from inventory.checkout import Checkout
from inventory.epochs import RedisEpochs, saved_epoch
from inventory.models import Order
from inventory.payments import TestPaymentProvider
from inventory.stock import StockStore
from tests.redis_servers import RedisServer, SwitchingProxy, wait_replicated
from web.services import make_redis

from .conftest import details, make_product, terms


async def _parts(url: str, sessions, payments_redis, clock):  # type: ignore[no-untyped-def]
    client = make_redis(url)
    stock = StockStore(client, clock=clock)
    checkout = Checkout(sessions, stock, TestPaymentProvider(payments_redis))
    epochs = RedisEpochs(client, sessions, stock, checkout.reconcile)
    epochs.watch_connections(stock)
    await epochs.ensure()
    return client, stock, checkout, epochs


async def _sell(stock, checkout, pid: int, buyer: str) -> Order:  # type: ignore[no-untyped-def]
    hold = await stock.hold(pid, "S", 1, buyer, f"k-{buyer}", terms())
    order, _ = await checkout.checkout(hold.hold_id, buyer, details(f"{buyer}@example.com"))
    return order


async def _hold_when_trusted(stock, epochs, pid: int, buyer: str):  # type: ignore[no-untyped-def]
    """Press buy until the process trusts the server again; every press before that is refused
    as unavailable (or fails on a refused connection), never served by the stale server."""
    refused = 0
    for _ in range(200):
        try:
            return await stock.hold(pid, "S", 1, buyer, f"k-{buyer}", terms()), refused
        except errors.Unavailable:
            refused += 1
        except RedisConnectionError:  # the connection to the new server was refused by the check
            refused += 1
        await asyncio.sleep(0.05)
    raise AssertionError("holds never resumed")


@pytest.mark.slow
async def test_restart_from_an_older_aof_is_rebuilt_before_a_hold(tmp_path, redis, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    server = RedisServer(tmp_path / "redis").start()
    try:
        client, stock, checkout, epochs = await _parts(server.url, sessions, redis, clock)
        _, pid = await make_product(sessions, {"S": 3})
        await checkout.ensure_loaded(pid)
        first_run = epochs.trusted
        assert first_run == server.run_id()
        assert (await saved_epoch(sessions)).run_id == first_run  # type: ignore[union-attr]

        await _sell(stock, checkout, pid, "a")
        await asyncio.sleep(1.2)  # everysec: the sale is on disk
        server.snapshot_aof(tmp_path / "old.aof")
        await _sell(stock, checkout, pid, "b")  # the second that will be lost
        await _sell(stock, checkout, pid, "c")
        assert (await stock.available(pid))["S"] == 0

        await asyncio.to_thread(server.restart_from, tmp_path / "old.aof")
        assert server.run_id() != first_run
        with server.client() as raw:  # the stale server believes 2 are left
            assert raw.hget(f"ld:{{p{pid}}}:avail", "S") == "2"

        with pytest.raises(errors.SoldOut):  # rebuilt from SQL first: 3 sold, nothing left
            await _hold_when_trusted(stock, epochs, pid, "d")
        assert epochs.trusted == server.run_id()
        assert (await stock.available(pid))["S"] == 0
        async with sessions() as session:
            paid = (await session.execute(select(Order).where(Order.status == "paid"))).scalars().all()
        assert len(paid) == 3
        stock.close()
        await client.aclose()
    finally:
        server.stop()


@pytest.mark.slow
async def test_a_promoted_stale_replica_is_rebuilt_before_a_hold(tmp_path, redis, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    primary = RedisServer(tmp_path / "primary").start()
    replica = RedisServer(tmp_path / "replica", replica_of=primary).start()
    proxy = SwitchingProxy(primary.port).start()
    try:
        wait_replicated(primary, replica)
        client, stock, checkout, epochs = await _parts(f"redis://127.0.0.1:{proxy.port}/0", sessions, redis, clock)
        _, pid = await make_product(sessions, {"S": 4})
        await checkout.ensure_loaded(pid)
        await _sell(stock, checkout, pid, "a")
        await asyncio.sleep(0.3)
        # The replica falls behind: its link is cut (as a lagging or partitioned replica's is)
        # before the next sales reach it.
        with replica.client() as raw:
            raw.execute_command("REPLICAOF", "127.0.0.1", "1")  # points it at nothing: it stops following
        await _sell(stock, checkout, pid, "b")
        await _sell(stock, checkout, pid, "c")
        primary.kill()
        with replica.client() as raw:
            raw.execute_command("REPLICAOF", "NO", "ONE")
            assert raw.hget(f"ld:{{p{pid}}}:avail", "S") == "3"  # it missed two sales
        proxy.switch(replica.port)

        held, refused = await _hold_when_trusted(stock, epochs, pid, "d")
        assert epochs.trusted == replica.run_id()
        assert held.remaining == 0  # 4 loaded, 3 sold in SQL: this was the last one
        stock.close()
        await client.aclose()
    finally:
        proxy.stop()
        replica.stop()
        primary.stop()
