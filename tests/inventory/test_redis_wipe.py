"""Redis is not durable: it is emptied in the middle of a drop, with checkouts in flight.
After reconcile nothing is sold twice, no paid order is lost, and every checkout ended as
paid-with-order or refused-without-charge.

The stock lives on a private redis-server started for this test (never the shared one); the
payment provider keeps its charges on the shared Redis, like an outside provider that does not
lose them when our Redis does.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from inventory import errors
from inventory.checkout import Checkout
from inventory.models import Order, OrderLine
from inventory.payments import TestPaymentProvider
from inventory.stock import StockStore
from web.embedded_redis import EmbeddedRedis
from web.services import make_redis

from .conftest import details, make_product, terms


@pytest.fixture
async def private_redis(tmp_path) -> AsyncIterator:  # type: ignore[no-untyped-def]
    server = EmbeddedRedis(tmp_path)
    client = make_redis(server.acquire())
    yield client
    await client.aclose()
    server.release()


class SlowPayments(TestPaymentProvider):
    """Charges take a random few milliseconds, so checkouts overlap the wipe."""

    def __init__(self, redis, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
        super().__init__(redis)
        self.rng = rng

    async def charge(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.rng.uniform(0, 0.06))
        return await super().charge(*args, **kwargs)


async def test_wipe_mid_drop_then_reconcile(private_redis, redis, sessions, clock):
    rng = random.Random(3)
    stock = StockStore(private_redis, clock=clock)
    payments = SlowPayments(redis, rng)
    checkout = Checkout(sessions, stock, payments)
    _, pid = await make_product(sessions, {"A": 10, "B": 10, "C": 10})
    await checkout.ensure_loaded(pid)
    counter = iter(range(10_000))

    async def hold(sku: str):  # type: ignore[no-untyped-def]
        n = next(counter)
        return await stock.hold(pid, sku, 1, f"buyer-{n}", "k", terms())

    async def pay(h):  # type: ignore[no-untyped-def]
        try:
            order, _ = await checkout.checkout(h.hold_id, h.buyer_id, details(f"{h.buyer_id}@example.com"))
            return order
        except errors.Refusal as exc:
            return exc.code

    # Before: 12 paid orders, 12 live holds.
    before = [await hold("ABC"[i % 3]) for i in range(24)]
    for h in before[:12]:
        assert not isinstance(await pay(h), str)

    wiped = asyncio.Event()

    async def wipe() -> None:
        await asyncio.sleep(0.025)
        await private_redis.flushall()
        await private_redis.script_flush()
        wiped.set()
        await asyncio.sleep(0.01)
        await checkout.reconcile()

    # 8 checkouts in flight across the wipe, 4 starting after it (an event, not a sleep: on a
    # loaded machine the wipe itself may be late).
    async def late(h):  # type: ignore[no-untyped-def]
        await wiped.wait()
        return await pay(h)

    outcomes = await asyncio.gather(*(pay(h) for h in before[12:20]), *(late(h) for h in before[20:24]), wipe())
    outcomes = outcomes[:12]
    assert set(o for o in outcomes if isinstance(o, str)) <= {"hold_expired"}
    assert all(o == "hold_expired" for o in outcomes[8:])  # their holds were lost

    # Every checkout ended paid-with-order or refused-without-charge.
    for h, outcome in zip(before[12:], outcomes):
        charge = await payments.find_charge(f"{h.hold_id}:0")
        if isinstance(outcome, str):
            assert charge is None or charge.status == "refunded", (h.hold_id, charge)
        else:
            assert outcome.status == "paid" and charge is not None and charge.paid and charge.id == outcome.payment_id

    # The drop goes on until everything is sold.
    while True:
        available = await stock.available(pid)
        skus = [s for s, n in available.items() if n > 0]
        if not skus:
            break
        results = await asyncio.gather(*(hold(s) for s in skus for _ in range(3)), return_exceptions=True)
        got = [r for r in results if not isinstance(r, Exception)]
        assert all(isinstance(r, errors.SoldOut) for r in results if isinstance(r, Exception))
        paid = await asyncio.gather(*(pay(h) for h in got))
        assert not any(isinstance(p, str) for p in paid), paid

    async with sessions() as session:
        rows = (
            await session.execute(
                select(OrderLine.sku, OrderLine.quantity, Order.status, Order.payment_id, Order.hold_id).join(Order)
            )
        ).all()
    sold = Counter()
    for sku, qty, status, payment_id, hold_id in rows:
        charge = await payments.find_charge(f"{hold_id}:0")
        assert charge is not None and charge.id == payment_id
        assert (status, charge.status) in {("paid", "paid"), ("refunded", "refunded")}
        if status == "paid":
            sold[sku] += qty
    # Nothing sold twice, nothing lost: exactly the units that exist, and Redis agrees with SQL.
    assert sold == {"A": 10, "B": 10, "C": 10}
    counts = await stock.counts(pid)
    assert {s: (c.loaded, c.available, c.held, c.sold) for s, c in counts.items()} == {
        s: (10, 0, 0, 10) for s in "ABC"
    }
    await checkout.reconcile()
    assert await stock.counts(pid) == counts
