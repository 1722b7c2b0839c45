"""Checkout: lock, charge, order, commit; retries, declines, expiry, limits and recovery."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from inventory import errors
from inventory.checkout import NUMBER_ALPHABET
from inventory.checkout import Checkout
from inventory.models import Order
from inventory.payments import TestPaymentProvider
from inventory.stock import SkuCounts

from .conftest import declined, details, terms


async def test_checkout_makes_one_paid_order_and_a_retry_returns_it(checkout, stock, payments, product):
    host_id, pid = product
    hold = await stock.hold(pid, "SN-41", 1, "buyer-a", "k", terms())
    order, created = await checkout.checkout(hold.hold_id, "buyer-a", details("Ada@Example.com "))
    assert created and order.status == "paid" and order.total_cents == 12_000 and order.currency == "EUR"
    assert order.email == "ada@example.com" and order.host_id == host_id and order.show_id == 7
    assert len(order.number) == 8 and set(order.number) <= set(NUMBER_ALPHABET)
    assert 20 <= len(order.id) <= 32
    [line] = order.lines
    assert (line.sku, line.quantity, line.unit_price_cents, line.product_id) == ("SN-41", 1, 12_000, pid)
    charge = await payments.find_charge(f"{hold.hold_id}:0")
    assert charge is not None and charge.paid and charge.id == order.payment_id

    again, created = await checkout.checkout(hold.hold_id, "buyer-a", details())
    assert not created and again.id == order.id
    assert (await stock.counts(pid))["SN-41"] == SkuCounts(3, 2, 0, 1)
    assert [o.id for o in await checkout.orders_for_buyer("buyer-a")] == [order.id]
    assert await stock.live_holds_for_buyer("buyer-a") == []
    with pytest.raises(errors.NotFound):
        await checkout.checkout(hold.hold_id, "buyer-b", details())
    with pytest.raises(errors.NotFound):
        await stock.release(hold.hold_id, "buyer-a")  # sold: not a hold any more


async def test_declined_card_unlocks_and_another_card_can_pay(checkout, stock, payments, product):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    with pytest.raises(errors.PaymentDeclined) as caught:
        await checkout.checkout(hold.hold_id, "buyer-a", declined())
    assert caught.value.status == 402
    with pytest.raises(errors.PaymentDeclined) as caught:
        await checkout.checkout(hold.hold_id, "buyer-a", details(card="1234"))
    assert caught.value.decline_code == "invalid_card"
    current = await stock.get_hold(hold.hold_id)
    assert current is not None and current.state == "held" and current.expires_at == hold.expires_at
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 1, 1, 0)
    order, created = await checkout.checkout(hold.hold_id, "buyer-a", details())
    assert created and order.payment_id == (await payments.find_charge(f"{hold.hold_id}:2")).id


async def test_expired_hold_cannot_be_checked_out_even_before_a_sweep(checkout, stock, payments, product, clock):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    clock.advance(300)
    with pytest.raises(errors.HoldExpired) as caught:
        await checkout.checkout(hold.hold_id, "buyer-a", details())
    assert caught.value.status == 410
    assert await payments.find_charge(f"{hold.hold_id}:0") is None
    with pytest.raises(errors.HoldExpired):
        await checkout.checkout(f"{pid}.unknown", "buyer-a", details())
    with pytest.raises(errors.NotFound):
        await checkout.checkout("nonsense", "buyer-a", details())


async def test_per_email_limit_holds_across_buyers_and_concurrent_checkouts(checkout, stock, sessions, product):
    _, pid = product
    holds = [await stock.hold(pid, "SN-42", 1, f"buyer-{i}", "k", terms()) for i in range(4)]
    results = await asyncio.gather(
        *(checkout.checkout(h.hold_id, h.buyer_id, details("same@example.com")) for h in holds), return_exceptions=True
    )
    paid = [r for r in results if not isinstance(r, Exception)]
    assert len(paid) == 1
    assert all(isinstance(r, errors.LimitReached) for r in results if isinstance(r, Exception))
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Order).where(Order.email == "same@example.com")) == 1
    # The refused holds are still held (they may be paid with another email).
    refused = [h for h, r in zip(holds, results) if isinstance(r, Exception)][0]
    _, created = await checkout.checkout(refused.hold_id, refused.buyer_id, details("other@example.com"))
    assert created


async def test_double_click_checkout_makes_one_order(checkout, stock, sessions, product):
    _, pid = product
    hold = await stock.hold(pid, "SN-42", 1, "buyer-a", "k", terms())
    results = await asyncio.gather(*(checkout.checkout(hold.hold_id, "buyer-a", details()) for _ in range(5)), return_exceptions=True)
    orders = {r[0].id for r in results if not isinstance(r, Exception)}
    assert len(orders) == 1, results
    assert sum(r[1] for r in results if not isinstance(r, Exception)) == 1
    assert (await stock.counts(pid))["SN-42"] == SkuCounts(5, 4, 0, 1)


async def test_hold_in_checkout_cannot_be_cancelled_or_swept(checkout, stock, product, clock):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    clock.advance(250)
    await stock.lock(hold.hold_id, "buyer-a", "ada@example.com", details().stored(), clock() + 120_000)
    with pytest.raises(errors.HoldLocked):
        await stock.release(hold.hold_id, "buyer-a")
    with pytest.raises(errors.HoldLocked):
        await stock.lock(hold.hold_id, "buyer-a", "eve@example.com", {}, clock() + 120_000)
    clock.advance(51)  # past the hold's expiry, not past the lock deadline
    result = await stock.sweep([pid])
    assert result.units_returned == 0 and result.to_recover == []
    order, _ = await checkout.checkout(hold.hold_id, "buyer-a", details())  # the checkout goes on
    assert order.status == "paid"


# -- recovery: a checkout process that died at each step -------------------------------------------


async def _crash_after_lock(checkout, stock, hold, clock, email="ada@example.com"):  # type: ignore[no-untyped-def]
    return await stock.lock(hold.hold_id, hold.buyer_id, email, {}, clock() + checkout.lock_ms)


async def test_recovery_of_a_checkout_that_died_after_the_lock(checkout, stock, payments, product, clock):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    await _crash_after_lock(checkout, stock, hold, clock)
    clock.advance(60)
    assert (await checkout.sweep([pid])).outcomes == {}  # lock deadline not reached
    clock.advance(61)
    report = await checkout.sweep([pid])
    assert report.outcomes == {hold.hold_id: "unlocked"}  # no charge: back to held, not expired yet
    assert (await stock.get_hold(hold.hold_id)).state == "held"
    clock.advance(200)  # now past the hold's expiry
    report = await checkout.sweep([pid])
    assert report.outcomes == {hold.hold_id: "released"}
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 2, 0, 0)
    assert await checkout.orders_for_buyer("buyer-a") == []


async def test_recovery_finishes_a_checkout_that_died_after_the_charge(checkout, stock, payments, product, clock):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    locked = await _crash_after_lock(checkout, stock, hold, clock)
    await checkout._start_order(locked, details().stored(), f"{hold.hold_id}:0")
    await payments.charge(f"{hold.hold_id}:0", 12_000, "EUR", "4242424242424242")
    clock.advance(121)
    report = await checkout.sweep([pid])
    assert report.outcomes == {hold.hold_id: "completed"}
    [order] = await checkout.orders_for_buyer("buyer-a")
    assert order.status == "paid" and order.email == "ada@example.com" and order.shipping["city"] == "Lyon"
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 1, 0, 1)
    # The buyer's own retry now finds the same order.
    again, created = await checkout.checkout(hold.hold_id, "buyer-a", details())
    assert again.id == order.id and not created


async def test_recovery_drops_a_pending_order_that_never_charged(checkout, stock, payments, product, clock):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    locked = await _crash_after_lock(checkout, stock, hold, clock)
    await checkout._start_order(locked, details().stored(), f"{hold.hold_id}:0")
    clock.advance(121)
    assert (await checkout.sweep([pid])).outcomes == {hold.hold_id: "unlocked"}
    assert await checkout.order_for_hold(hold.hold_id) is None
    order, created = await checkout.checkout(hold.hold_id, "buyer-a", details())  # still within the hold
    assert created and order.status == "paid"


async def test_pending_order_whose_hold_redis_lost_is_settled_from_sql(checkout, stock, payments, product, clock, redis):
    """The checkout died after charging and Redis lost the hold: only SQL has the trail."""
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    locked = await _crash_after_lock(checkout, stock, hold, clock)
    await checkout._start_order(locked, details().stored(), f"{hold.hold_id}:0")
    await payments.charge(f"{hold.hold_id}:0", 12_000, "EUR", "4242424242424242")
    other = await stock.hold(pid, "SN-41", 1, "buyer-b", "k", terms())
    locked_b = await _crash_after_lock(checkout, stock, other, clock, "b@example.com")
    await checkout._start_order(locked_b, details("b@example.com").stored(), f"{other.hold_id}:0")
    for key in [k async for k in redis.scan_iter(match=f"ld:{{p{pid}}}:*")]:
        await redis.delete(key)
    await checkout.reconcile()
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 2, 0, 0)
    clock.advance(60)
    assert (await checkout.recover_pending()) == {}  # too early: the checkout may still be running
    clock.advance(61)
    assert (await checkout.recover_pending()) == {hold.hold_id: "completed", other.hold_id: "dropped"}
    assert (await checkout.order_for_hold(hold.hold_id)).status == "paid"
    assert await checkout.order_for_hold(other.hold_id) is None
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 1, 0, 1)
    assert (await stock.counts(pid))["SN-41"] == SkuCounts(3, 3, 0, 0)


async def test_recovery_commits_a_checkout_that_died_after_the_order(checkout, stock, payments, product, clock):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    locked = await stock.lock(hold.hold_id, "buyer-a", "ada@example.com", details().stored(), clock() + 120_000)
    charge = await payments.charge(f"{hold.hold_id}:0", 12_000, "EUR", "4242424242424242")
    await checkout._write_order(locked, locked.details, charge)
    clock.advance(121)
    assert (await checkout.sweep([pid])).outcomes == {hold.hold_id: "committed"}
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 1, 0, 1)
    assert (await checkout.sweep([pid])).outcomes == {}


class StallingPayments(TestPaymentProvider):
    """The first charge waits until the test lets it go: a checkout stalled mid-payment."""

    def __init__(self, redis):  # type: ignore[no-untyped-def]
        super().__init__(redis)
        self.entered, self.go = asyncio.Event(), asyncio.Event()

    async def charge(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self.entered.is_set():
            self.entered.set()
            await self.go.wait()
        return await super().charge(*args, **kwargs)


async def test_checkout_stalled_past_its_lock_deadline_is_refunded_not_oversold(sessions, stock, redis, product, clock):
    """A checkout stalls in the payment call past its lock deadline; recovery sees no charge,
    drops the pending order and releases the hold; the units are sold to others. When the stalled
    payment goes through, the checkout refunds it: refused-without-charge, nothing oversold."""
    _, pid = product
    payments = StallingPayments(redis)
    checkout = Checkout(sessions, stock, payments)
    slow = await stock.hold(pid, "SN-40", 1, "buyer-a", "k", terms())
    stalled = asyncio.ensure_future(checkout.checkout(slow.hold_id, "buyer-a", details()))
    await payments.entered.wait()
    clock.advance(400)
    assert (await checkout.sweep([pid])).outcomes == {slow.hold_id: "released"}
    for b in ("b", "c"):
        h = await stock.hold(pid, "SN-40", 1, b, "k", terms())
        await checkout.checkout(h.hold_id, b, details(f"{b}@example.com"))
    payments.go.set()
    with pytest.raises(errors.HoldExpired):
        await stalled
    assert (await payments.find_charge(f"{slow.hold_id}:0")).status == "refunded"
    assert await checkout.order_for_hold(slow.hold_id) is None
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 0, 0, 2)


async def test_paid_order_whose_hold_vanished_takes_a_free_unit_or_is_refunded(checkout, stock, payments, product, clock, redis):
    _, pid = product
    holds = [await stock.hold(pid, "SN-40", 1, b, "k", terms()) for b in ("a", "b")]
    locked = [await _crash_after_lock(checkout, stock, h, clock, f"{h.buyer_id}@example.com") for h in holds]
    charges = [await payments.charge(f"{h.hold_id}:0", 12_000, "EUR", "4242424242424242") for h in holds]
    orders = [(await checkout._write_order(lk, details(f"{lk.buyer_id}@example.com").stored(), c))[0] for lk, c in zip(locked, charges)]
    # Redis loses both holds; meanwhile another buyer takes one of the two units.
    await redis.delete(*[f"ld:{{p{pid}}}:hold:{h.hold_id}" for h in holds])
    await redis.hincrby(f"ld:{{p{pid}}}:held", "SN-40", -2)
    await redis.hincrby(f"ld:{{p{pid}}}:avail", "SN-40", 2)
    await stock.hold(pid, "SN-40", 1, "c", "k", terms())
    assert await checkout._commit(orders[0], holds[0].hold_id, charges[0]) == "taken"
    with pytest.raises(errors.HoldExpired):
        await checkout._commit(orders[1], holds[1].hold_id, charges[1])
    assert (await checkout.get_order(orders[1].id)).status == "refunded"
    assert (await payments.find_charge(f"{holds[1].hold_id}:0")).status == "refunded"
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 0, 1, 1)
