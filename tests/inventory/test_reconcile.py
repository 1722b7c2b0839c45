"""Reconcile against checkouts in flight, step by step: each interleaving of "SQL read",
"order written", "Redis commit", "Redis emptied" and "reconcile script" must end with
available = loaded - sold exactly (or lower for a moment, never higher)."""

from __future__ import annotations

from inventory import errors
from inventory.reconcile import read_product
from inventory.stock import SkuCounts

from .conftest import details, terms


async def _ordered(checkout, stock, pid, buyer, clock):  # type: ignore[no-untyped-def]
    """A checkout stopped after writing its order, before its Redis commit."""
    hold = await stock.hold(pid, "SN-42", 1, buyer, "k", terms())
    locked = await stock.lock(hold.hold_id, buyer, f"{buyer}@example.com", details(f"{buyer}@example.com").stored(), clock() + 120_000)
    charge = await checkout.payments.charge(f"{hold.hold_id}:0", 12_000, "EUR", "4242424242424242")
    order, _ = await checkout._write_order(locked, locked.details, charge)
    return locked, order, charge


async def _reconcile_around(checkout, stock, pid, clock, between=None):  # type: ignore[no-untyped-def]
    token = await stock.begin_reconcile(pid)
    data = await read_product(checkout.sessions, pid, clock() - 2 * stock.sold_retention_ms)
    if between is not None:
        await between()
    return await stock.finish_reconcile(pid, token, data)


async def test_reconcile_of_a_quiet_product_changes_nothing(checkout, stock, product, clock):
    _, pid = product
    h = await stock.hold(pid, "SN-42", 2, "a", "k", terms(limit=2))
    await checkout.checkout(h.hold_id, "a", details())
    await stock.hold(pid, "SN-42", 1, "b", "k", terms())
    before = await stock.counts(pid)
    await checkout.reconcile([pid])
    assert await stock.counts(pid) == before == {**before, "SN-42": SkuCounts(5, 2, 1, 2)}
    # Limits survive a reconcile: the buyer still has 2 units.
    try:
        await stock.hold(pid, "SN-40", 1, "a", "k2", terms(limit=2))
    except errors.LimitReached:
        pass
    else:
        raise AssertionError("limit was lost")


async def test_locked_hold_whose_order_is_in_the_sql_read(checkout, stock, product, clock):
    _, pid = product
    locked, order, charge = await _ordered(checkout, stock, pid, "a", clock)
    assert await _reconcile_around(checkout, stock, pid, clock)
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)
    assert await stock.commit(locked.hold_id, sku="SN-42", quantity=1, buyer_id="a", email=order.email, offer_id=None) == "already"
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)


async def test_order_written_after_the_sql_read(checkout, stock, product, clock):
    _, pid = product
    hold = await stock.hold(pid, "SN-42", 1, "a", "k", terms())
    locked = await stock.lock(hold.hold_id, "a", "a@example.com", details("a@example.com").stored(), clock() + 120_000)
    charge = await checkout.payments.charge(f"{hold.hold_id}:0", 12_000, "EUR", "4242424242424242")
    order = None

    async def write() -> None:
        nonlocal order
        order, _ = await checkout._write_order(locked, locked.details, charge)

    assert await _reconcile_around(checkout, stock, pid, clock, write)
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 1, 0)  # still a hold in Redis
    assert await stock.commit(locked.hold_id, sku="SN-42", quantity=1, buyer_id="a", email="a@example.com", offer_id=None) == "committed"
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)


async def test_wipe_then_order_in_sql_read_then_late_commit(checkout, stock, product, clock, redis):
    _, pid = product
    locked, order, _ = await _ordered(checkout, stock, pid, "a", clock)
    await redis.flushdb()
    await checkout.reconcile([pid])
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)
    # The commit comes after: the units are counted by SQL already and are not taken twice.
    assert await stock.commit(locked.hold_id, sku="SN-42", quantity=1, buyer_id="a", email=order.email, offer_id=None) == "already"
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)


async def test_wipe_then_order_written_after_the_sql_read_then_commit(checkout, stock, product, clock, redis):
    _, pid = product
    hold = await stock.hold(pid, "SN-42", 1, "a", "k", terms())
    locked = await stock.lock(hold.hold_id, "a", "a@example.com", details("a@example.com").stored(), clock() + 120_000)
    charge = await checkout.payments.charge(f"{hold.hold_id}:0", 12_000, "EUR", "4242424242424242")
    await redis.flushdb()

    async def write() -> None:
        await checkout._write_order(locked, locked.details, charge)

    assert await _reconcile_around(checkout, stock, pid, clock, write)
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 5, 0, 0)  # Redis knows nothing of it yet
    assert await stock.commit(locked.hold_id, sku="SN-42", quantity=1, buyer_id="a", email="a@example.com", offer_id=None) == "taken"
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)
    await checkout.reconcile([pid])
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)


async def test_commit_between_the_wipe_and_the_reconcile_script(checkout, stock, product, clock, redis):
    _, pid = product
    hold = await stock.hold(pid, "SN-42", 1, "a", "k", terms())
    locked = await stock.lock(hold.hold_id, "a", "a@example.com", details("a@example.com").stored(), clock() + 120_000)
    charge = await checkout.payments.charge(f"{hold.hold_id}:0", 12_000, "EUR", "4242424242424242")
    await redis.flushdb()

    async def write_and_commit() -> None:
        await checkout._write_order(locked, locked.details, charge)
        # Not loaded: the commit leaves a sold record for the reconcile script to count.
        assert await stock.commit(locked.hold_id, sku="SN-42", quantity=1, buyer_id="a", email="a@example.com", offer_id=None) == "taken"

    assert await _reconcile_around(checkout, stock, pid, clock, write_and_commit)
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)


async def test_wipe_during_reconcile_is_fenced(checkout, stock, product, clock, redis):
    _, pid = product
    await _ordered(checkout, stock, pid, "a", clock)

    async def wipe() -> None:
        await redis.flushdb()

    assert not await _reconcile_around(checkout, stock, pid, clock, wipe)
    assert await stock.counts(pid) == {}
    assert await stock.needs_reconcile()
    await checkout.reconcile()
    assert not await stock.needs_reconcile()
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)


async def test_lost_holds_answer_hold_expired_and_the_buyer_can_hold_again(checkout, stock, product, redis):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 2, "a", "k", terms(limit=2))
    await redis.flushdb()
    try:
        await stock.hold(pid, "SN-40", 1, "b", "k", terms())
    except errors.StockNotLoaded:
        pass
    else:
        raise AssertionError("an empty Redis must not sell")
    await checkout.reconcile()
    try:
        await checkout.checkout(hold.hold_id, "a", details())
    except errors.HoldExpired:
        pass
    else:
        raise AssertionError("a lost hold must answer hold_expired")
    again = await stock.hold(pid, "SN-40", 2, "a", "k", terms(limit=2))
    assert again.remaining == 0 and not again.replayed  # the idempotency record was lost with Redis


async def test_concurrent_loads_of_one_product_all_succeed(redis, sessions, clock) -> None:
    """Two web processes pinning the same product at once both see it loaded, never an error."""
    import asyncio

    from inventory.checkout import Checkout
    from inventory.payments import TestPaymentProvider
    from inventory.stock import StockStore

    from .conftest import make_product

    _, pid = await make_product(sessions, {"A": 5, "B": 3})
    checkouts = [Checkout(sessions, StockStore(redis, clock=clock), TestPaymentProvider(redis)) for _ in range(6)]
    await asyncio.gather(*(c.ensure_loaded(pid) for c in checkouts))
    assert await checkouts[0].stock.available(pid) == {"A": 5, "B": 3}
