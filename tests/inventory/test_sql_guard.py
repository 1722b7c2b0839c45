"""SQL is the last guard: Redis can come back *behind* (AOF everysec loses up to a second, a
failover promotes a lagging replica), believe sold units are available again, and hold them a
second time. An order becomes paid only if its variant's sold units stay within stock in the
same transaction; a refused charge is refunded, the buyer hears 409 sold_out_after_all, and the
hold's phantom units never return to stock.

Redis going back in time is made here the way it happens: every key of the product is copied
(DUMP) at one moment and put back (RESTORE) after more sales, on the real Redis.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inventory import errors, keys
from inventory.checkout import REFUNDED, SOLD_OUT_AFTER_ALL, Checkout
from inventory.models import Order, Variant
from inventory.payments import TestPaymentProvider
from inventory.stock import StockStore

from .conftest import details, make_product, terms


async def snapshot(redis, product_id: int) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """Every key of the product and the charges, as DUMP payloads: Redis at this moment."""
    raw = redis.connection_pool  # DUMP payloads are bytes: use a client that does not decode
    from redis.asyncio import Redis

    client = Redis(connection_pool=type(raw)(connection_class=raw.connection_class, **{**raw.connection_kwargs, "decode_responses": False}))
    try:
        names = [k async for k in client.scan_iter(match=keys.prefix(product_id).encode() + b"*")]
        return {name.decode(): await client.dump(name) for name in names}
    finally:
        await client.aclose()


async def go_back_to(redis, product_id: int, saved: dict[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    """Redis loses everything the product's keys saw since ``snapshot`` (as a restart from an
    older AOF does); the epoch key and script cache stay, as they would."""
    from redis.asyncio import Redis

    raw = redis.connection_pool
    client = Redis(connection_pool=type(raw)(connection_class=raw.connection_class, **{**raw.connection_kwargs, "decode_responses": False}))
    try:
        names = [k async for k in client.scan_iter(match=keys.prefix(product_id).encode() + b"*")]
        if names:
            await client.delete(*names)
        for name, payload in saved.items():
            await client.restore(name, 0, payload, replace=True)
    finally:
        await client.aclose()


async def paid_units(sessions, sku: str) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        orders = (await session.execute(select(Order).where(Order.status == "paid"))).scalars().all()
        return sum(line.quantity for order in orders for line in order.lines if line.sku == sku)


async def test_redis_behind_cannot_oversell(redis, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    stock = StockStore(redis, clock=clock)
    payments = TestPaymentProvider(redis)
    checkout = Checkout(sessions, stock, payments)
    _, pid = await make_product(sessions, {"S": 2})
    await checkout.ensure_loaded(pid)

    saved = await snapshot(redis, pid)  # Redis as it was a second ago: 2 available
    for n in range(2):
        hold = await stock.hold(pid, "S", 1, f"early{n}", f"k{n}", terms())
        order, created = await checkout.checkout(hold.hold_id, f"early{n}", details(f"early{n}@example.com"))
        assert created and order.status == "paid"
    assert (await stock.available(pid))["S"] == 0

    await go_back_to(redis, pid, saved)  # the last second is lost: Redis believes 2 are left
    assert (await stock.available(pid))["S"] == 2

    late = await stock.hold(pid, "S", 1, "late", "k-late", terms())  # Redis lets it through
    with pytest.raises(errors.SoldOutAfterAll) as refused:
        await checkout.checkout(late.hold_id, "late", details("late@example.com"))
    assert refused.value.status == 409 and "refunded" in refused.value.message

    # Never more paid than stock, in SQL, whatever Redis said.
    assert await paid_units(sessions, "S") == 2
    async with sessions() as session:
        variant = (await session.execute(select(Variant).where(Variant.sku == "S"))).scalar_one()
        assert (variant.sold, variant.stock) == (2, 2)
        order = (await session.execute(select(Order).where(Order.hold_id == late.hold_id))).scalar_one()
    assert (order.status, order.refund_reason) == (REFUNDED, SOLD_OUT_AFTER_ALL)
    charge = await payments.find_charge(f"{late.hold_id}:0")
    assert charge is not None and charge.status == "refunded"  # the money went back

    # The hold's phantom unit did not come back; the product was rebuilt from SQL.
    assert await stock.get_hold(late.hold_id) is None
    assert (await stock.available(pid))["S"] == 0
    counts = (await stock.counts(pid))["S"]
    assert (counts.available, counts.held, counts.sold, counts.loaded) == (0, 0, 2, 2)

    # A retried checkout hears the same answer, and recovery leaves it so.
    with pytest.raises(errors.SoldOutAfterAll):
        await checkout.checkout(late.hold_id, "late", details("late@example.com"))
    assert await checkout.recover_order(order) == SOLD_OUT_AFTER_ALL
    assert await paid_units(sessions, "S") == 2


async def test_sold_counter_follows_paid_orders(redis, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    """variants.sold moves with every order that becomes paid and every paid order undone."""
    stock = StockStore(redis, clock=clock)
    checkout = Checkout(sessions, stock, TestPaymentProvider(redis))
    _, pid = await make_product(sessions, {"A": 3})
    await checkout.ensure_loaded(pid)
    hold = await stock.hold(pid, "A", 2, "b1", "k1", terms(limit=2))
    order, _ = await checkout.checkout(hold.hold_id, "b1", details())
    async with sessions() as session:
        assert (await session.execute(select(Variant.sold).where(Variant.sku == "A"))).scalar_one() == 2
    await checkout._void(order, None)  # a paid order undone (its hold had no unit left)
    async with sessions() as session:
        assert (await session.execute(select(Variant.sold).where(Variant.sku == "A"))).scalar_one() == 0
        refreshed = await session.get(Order, order.id)
    assert refreshed is not None and refreshed.status == REFUNDED
