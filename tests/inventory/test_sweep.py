"""Expiry: units come back exactly once, in small batches, even with sweepers racing."""

from __future__ import annotations

import asyncio

from inventory.stock import SkuCounts, StockStore

from .conftest import terms


async def test_two_racing_sweepers_return_each_unit_once(redis, clock, product):
    _, pid = product
    a = StockStore(redis, clock=clock)
    b = StockStore(redis.client(), clock=clock)  # its own connection pool, like another process
    await a.restock(pid, "SN-42", 305)
    holds = await asyncio.gather(*(a.hold(pid, "SN-42", 1, f"buyer-{i}", "k", terms()) for i in range(250)))
    assert len({h.hold_id for h in holds}) == 250
    clock.advance(299)
    assert (await a.sweep([pid])).units_returned == 0
    clock.advance(1)
    results = await asyncio.gather(a.sweep([pid], batch=7), b.sweep([pid], batch=7), a.sweep([pid], batch=100))
    assert sum(r.units_returned for r in results) == 250
    assert (await a.counts(pid))["SN-42"] == SkuCounts(305, 305, 0, 0)
    assert (await a.sweep([pid])).units_returned == 0
    assert await a.live_holds_for_buyer("buyer-3") == []
    # The limit is free again for everyone.
    again = await a.hold(pid, "SN-42", 1, "buyer-3", "k2", terms())
    assert again.remaining == 304
    await b.redis.aclose()


async def test_sweep_without_product_list_uses_the_loaded_products(stock, product, clock):
    _, pid = product
    await stock.load(500, {"X": 1})
    await stock.hold(pid, "SN-40", 1, "a", "k", terms())
    await stock.hold(500, "X", 1, "a", "k", terms(hold_seconds=10))
    clock.advance(11)
    assert (await stock.sweep()).units_returned == 1
    clock.advance(300)
    assert (await stock.sweep()).units_returned == 1
    assert (await stock.available(500)) == {"X": 1}


async def test_release_racing_the_sweeper_returns_units_once(stock, product, clock):
    _, pid = product
    holds = [await stock.hold(pid, "SN-42", 1, f"b{i}", "k", terms()) for i in range(5)]
    clock.advance(300)

    async def cancel(h):  # type: ignore[no-untyped-def]
        try:
            await stock.release(h.hold_id, h.buyer_id)
        except Exception:
            pass

    await asyncio.gather(stock.sweep([pid], batch=1), *(cancel(h) for h in holds))
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 5, 0, 0)
