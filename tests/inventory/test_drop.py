"""A limited drop: thousands of concurrent hold attempts on a few hundred units."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from sqlalchemy import func, select

from inventory import errors
from inventory.models import Order, OrderLine

from .conftest import details, make_product, terms


async def test_drop_5000_attempts_2000_buyers_300_units(sessions, checkout, stock):
    _, pid = await make_product(sessions, {"S40": 100, "S41": 120, "S42": 80})
    await checkout.ensure_loaded(pid)
    rng = random.Random(7)
    attempts = [(f"buyer-{rng.randrange(2000)}", rng.choice(["S40", "S41", "S42"]), f"key-{n}") for n in range(5000)]

    async def attempt(buyer: str, sku: str, key: str):  # type: ignore[no-untyped-def]
        try:
            return await stock.hold(pid, sku, 1, buyer, key, terms())
        except errors.Refusal as exc:
            return exc.code

    started = time.monotonic()
    results = await asyncio.gather(*(attempt(*a) for a in attempts))
    elapsed = time.monotonic() - started
    holds = [r for r in results if not isinstance(r, str)]
    refusals = Counter(r for r in results if isinstance(r, str))
    assert len(holds) == 300, refusals
    assert set(refusals) <= {"sold_out", "limit_reached"}
    per_buyer = Counter(h.buyer_id for h in holds)
    assert max(per_buyer.values()) == 1
    assert Counter(h.sku for h in holds) == {"S40": 100, "S41": 120, "S42": 80}
    assert await stock.available(pid) == {"S40": 0, "S41": 0, "S42": 0}
    assert elapsed < 20, elapsed

    gate = asyncio.Semaphore(16)

    async def pay(h):  # type: ignore[no-untyped-def]
        async with gate:
            return await checkout.checkout(h.hold_id, h.buyer_id, details(f"{h.buyer_id}@example.com"))

    paid = await asyncio.gather(*(pay(h) for h in holds))
    assert all(created for _, created in paid)
    assert len({o.id for o, _ in paid}) == 300 and len({o.number for o, _ in paid}) == 300
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 300
        assert await s.scalar(select(func.sum(OrderLine.quantity))) == 300
    counts = await stock.counts(pid)
    assert {s: (c.available, c.held, c.sold) for s, c in counts.items()} == {
        "S40": (0, 0, 100), "S41": (0, 0, 120), "S42": (0, 0, 80)
    }

    first = holds[0]
    again, created = await checkout.checkout(first.hold_id, first.buyer_id, details(f"{first.buyer_id}@example.com"))
    assert not created and again.id == paid[0][0].id
    stranger = next(f"buyer-{i}" for i in range(2000) if f"buyer-{i}" not in per_buyer)
    try:
        await checkout.checkout(first.hold_id, stranger, details("x@example.com"))
    except errors.NotFound:
        pass
    else:
        raise AssertionError("another buyer's hold must be not_found")
    try:
        await stock.release(holds[1].hold_id, stranger)
    except errors.NotFound:
        pass
    else:
        raise AssertionError("another buyer's hold must be not_found")
