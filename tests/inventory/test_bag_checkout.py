"""One checkout for several holds (inventory.bag_checkout): a crash after the charge or before it is
finished or undone by the sweeper's recovery of any hold of the bag, as a one-hold checkout is."""

from __future__ import annotations

from inventory.bag_checkout import BagCheckout
from inventory.stock import SkuCounts

from .conftest import details, terms


async def _crash_after_pending(checkout, stock, pid, clock):  # type: ignore[no-untyped-def]
    """Both holds locked and the bag's pending order written; the process dies here."""
    desk = BagCheckout(checkout)
    holds = sorted([await stock.hold(pid, "SN-40", 1, "buyer-a", "k1", terms(limit=2)),
                    await stock.hold(pid, "SN-41", 1, "buyer-a", "k2", terms(limit=2))], key=lambda h: h.hold_id)
    locked = [await stock.lock(h.hold_id, "buyer-a", "ada@example.com", {}, clock() + checkout.lock_ms) for h in holds]
    money = await desk._quote(locked, details().shipping)
    key = checkout.charge_key(locked[0])
    order = await desk._start_order(locked, details(), money, key)
    return desk, locked, order, key


async def test_recovery_of_any_hold_finishes_a_bag_paid_before_the_crash(checkout, stock, payments, product, clock):
    _, pid = product
    desk, locked, order, key = await _crash_after_pending(checkout, stock, pid, clock)
    assert order.total_cents == 24_000 and len(order.lines) == 2
    await payments.charge(key, order.total_cents, "EUR", "4242424242424242")
    clock.advance(400)  # past both holds' expiry and the lock deadline
    report = await checkout.sweep([pid])
    assert set(report.outcomes) == {h.hold_id for h in locked}
    # The first hold's recovery completes the whole order (every line's unit sold); the second finds itself sold.
    assert sorted(report.outcomes.values()) == ["completed", "sold"], report.outcomes
    [paid] = await checkout.orders_for_buyer("buyer-a")
    assert paid.id == order.id and paid.status == "paid"
    counts = await stock.counts(pid)
    assert counts["SN-40"] == SkuCounts(2, 1, 0, 1) and counts["SN-41"] == SkuCounts(3, 2, 0, 1), "each unit sold once"
    again, created = await desk.checkout(None, [h.hold_id for h in reversed(locked)], "buyer-a", details())  # type: ignore[arg-type]
    assert again.id == order.id and not created, "the buyer's retry finds the same order"


async def test_recovery_drops_a_bag_that_never_charged_and_frees_every_hold(checkout, stock, payments, product, clock):
    _, pid = product
    desk, locked, order, key = await _crash_after_pending(checkout, stock, pid, clock)
    clock.advance(400)
    await checkout.sweep([pid])
    await checkout.sweep([pid])
    assert await checkout.orders_for_buyer("buyer-a") == []
    assert await checkout.get_order(order.id) is None, "the pending order is dropped"
    counts = await stock.counts(pid)
    assert counts["SN-40"].available == 2 and counts["SN-41"].available == 3, "both units back on sale"
    assert await payments.find_charge(key) is None
