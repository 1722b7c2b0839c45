"""Holds: the hold script's answers, and that a refused hold changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from inventory import errors
from inventory.stock import SkuCounts, StockStore

from .conftest import terms


async def test_hold_takes_units_and_returns_the_contract_shape(stock, product):
    _, pid = product
    hold = await stock.hold(pid, "SN-41", 1, "buyer-a", "k1", terms(host_id=3))
    assert hold.to_json() == {
        "hold_id": hold.hold_id, "sku": "SN-41", "quantity": 1, "price_cents": 12_000, "currency": "EUR",
        "offer_id": None, "expires_at": stock.clock() + 300_000, "remaining": 2,
    }
    assert hold.hold_id.startswith(f"{pid}.")
    assert (await stock.counts(pid))["SN-41"] == SkuCounts(loaded=3, available=2, held=1, sold=0)
    stored = await stock.get_hold(hold.hold_id)
    assert stored is not None and (stored.buyer_id, stored.show_id, stored.host_id, stored.state) == ("buyer-a", 7, 3, "held")
    assert [h.hold_id for h in await stock.live_holds_for_buyer("buyer-a")] == [hold.hold_id]


async def test_same_key_same_body_replays_other_body_conflicts(stock, product):
    _, pid = product
    first = await stock.hold(pid, "SN-42", 1, "buyer-a", "k1", terms(limit=3))
    again = await stock.hold(pid, "SN-42", 1, "buyer-a", "k1", terms(limit=3))
    assert again.replayed and again.to_json() == first.to_json()
    with pytest.raises(errors.IdempotencyConflict):
        await stock.hold(pid, "SN-42", 2, "buyer-a", "k1", terms(limit=3))
    with pytest.raises(errors.IdempotencyConflict):
        await stock.hold(pid, "SN-40", 1, "buyer-a", "k1", terms(limit=3))
    # The key belongs to the buyer: another buyer's "k1" is a new hold.
    other = await stock.hold(pid, "SN-42", 1, "buyer-b", "k1", terms(limit=3))
    assert other.hold_id != first.hold_id
    assert (await stock.available(pid))["SN-42"] == 3


@pytest.mark.parametrize(
    ("sku", "qty", "error"),
    [
        ("NOPE", 1, errors.UnknownSku),
        ("", 1, errors.UnknownSku),
        ("SN-41", 0, errors.InvalidRequest),
        ("SN-41", -1, errors.InvalidRequest),
        ("SN-41", 10_000, errors.InvalidRequest),
        ("SN-41", True, errors.InvalidRequest),
        ("SN-41", 2, errors.LimitReached),  # limit 1
        ("SN-40", 3, errors.InsufficientStock),  # only 2 units: its own answer, not sold out
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(stock, product, sku, qty, error):
    _, pid = product
    before = await stock.counts(pid)
    version = (await stock.versions([pid]))[pid]
    with pytest.raises(error) as caught:
        await stock.hold(pid, sku, qty, "buyer-a", "k1", terms())
    assert caught.value.code in {"unknown_sku", "invalid_request", "limit_reached", "insufficient_stock"}
    assert await stock.counts(pid) == before
    assert (await stock.versions([pid]))[pid] == version
    # The key was not used up by the refusal.
    assert (await stock.hold(pid, "SN-42", 1, "buyer-a", "k1", terms())).replayed is False


async def test_limit_counts_units_across_sizes(stock, product):
    _, pid = product
    await stock.hold(pid, "SN-40", 1, "buyer-a", "a", terms(limit=2))
    await stock.hold(pid, "SN-41", 1, "buyer-a", "b", terms(limit=2))
    with pytest.raises(errors.LimitReached):
        await stock.hold(pid, "SN-42", 1, "buyer-a", "c", terms(limit=2))


async def test_release_returns_units_once_and_only_for_the_owner(stock, product):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 2, "buyer-a", "a", terms(limit=2))
    with pytest.raises(errors.NotFound):
        await stock.release(hold.hold_id, "buyer-b")
    assert await stock.release(hold.hold_id, "buyer-a") == 2
    with pytest.raises(errors.NotFound):
        await stock.release(hold.hold_id, "buyer-a")
    with pytest.raises(errors.NotFound):
        await stock.release("garbage", "buyer-a")
    assert (await stock.counts(pid))["SN-40"] == SkuCounts(2, 2, 0, 0)
    assert await stock.live_holds_for_buyer("buyer-a") == []
    # The limit counts live holds only: the buyer may hold again.
    await stock.hold(pid, "SN-40", 2, "buyer-a", "b", terms(limit=2))


async def test_offer_cap_spans_sizes_and_unlimited_offers(stock, product):
    _, pid = product
    await stock.open_offer(pid, 11, 2)
    await stock.open_offer(pid, 12, None)
    t = terms(limit=5, offer_id=11, unit_price_cents=9_000)
    first = await stock.hold(pid, "SN-41", 1, "a", "1", t)
    assert first.offer_id == 11 and first.unit_price_cents == 9_000
    await stock.hold(pid, "SN-42", 1, "b", "1", t)
    assert await stock.offer_remaining(pid, 11) == 0
    with pytest.raises(errors.SoldOut):
        await stock.hold(pid, "SN-40", 1, "c", "1", t)
    # The SKU itself is not sold out: no local flag was set for it.
    await stock.hold(pid, "SN-40", 1, "c", "2", terms(limit=5, offer_id=12))
    assert await stock.offer_remaining(pid, 12) is None
    await stock.release(first.hold_id, "a")
    assert await stock.offer_remaining(pid, 11) == 1
    # An offer Redis has not seen gets its cap from the terms.
    await stock.hold(pid, "SN-42", 1, "d", "1", terms(offer_id=13, offer_quantity=1))
    with pytest.raises(errors.SoldOut):
        await stock.hold(pid, "SN-42", 1, "e", "1", terms(offer_id=13, offer_quantity=1))


async def test_load_twice_does_not_double_and_restock_is_absolute(stock, redis):
    assert await stock.load(99, {"A": 5, "B": 1}) == 2
    assert await stock.load(99, {"A": 5, "B": 1}) == 0
    assert await stock.available(99) == {"A": 5, "B": 1}
    hold = await stock.hold(99, "B", 1, "x", "k", terms())
    assert hold.remaining == 0
    v = (await stock.versions([99]))[99]
    assert await stock.restock(99, "B", 4) == 3
    assert await stock.restock(99, "B", 4) == 3  # a retry does not add again
    assert (await stock.versions([99]))[99] > v
    assert (await stock.counts(99))["B"] == SkuCounts(4, 3, 1, 0)


async def test_not_loaded_product_is_not_on_sale(stock):
    with pytest.raises(errors.StockNotLoaded):
        await stock.hold(12345, "A", 1, "x", "k", terms())


async def test_sold_out_flag_answers_locally_until_stock_moves(stock, product, redis):
    _, pid = product
    hold = await stock.hold(pid, "SN-40", 2, "a", "k", terms(limit=2))
    with pytest.raises(errors.SoldOut):
        await stock.hold(pid, "SN-40", 1, "b", "k", terms())
    # Now the flag answers: prove it by making Redis unable to answer.
    calls = 0
    original = stock._send

    def counting(*args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(*args)

    stock._send = counting  # type: ignore[method-assign]
    with pytest.raises(errors.SoldOut):
        await stock.hold(pid, "SN-40", 1, "c", "k", terms())
    assert calls == 0
    # A replay of a hold made here is still answered as the first time.
    again = await stock.hold(pid, "SN-40", 2, "a", "k", terms(limit=2))
    assert again.replayed and again.hold_id == hold.hold_id and calls == 0
    with pytest.raises(errors.IdempotencyConflict):  # the same key with another body
        await stock.hold(pid, "SN-40", 1, "a", "k", terms(limit=2))
    # The buy button's route asks the same answers first, without a coroutine.
    assert isinstance(stock.answer_at_hand(pid, "SN-40", 1, "d", "k"), errors.SoldOut)
    assert stock.answer_at_hand(pid, "SN-40", 2, "a", "k").hold_id == hold.hold_id  # type: ignore[union-attr]
    assert stock.answer_at_hand(pid, "SN-41", 1, "d", "k") is None  # not flagged: ask Redis
    assert calls == 0
    # A release seen through the version counter clears the flag at once.
    await stock.release(hold.hold_id, "a")
    await stock.versions([pid])
    got = await stock.hold(pid, "SN-40", 1, "c", "k", terms())
    assert got.remaining == 1 and calls > 0


async def test_sold_out_flag_survives_holds_on_other_sizes_and_lapses_when_units_return(stock, product, redis, clock):
    """Sizes are one product with one version counter. Another process selling size 41 moves it;
    size 40, sold out, must keep its local answer (issue 20: 0.57-0.83 of its presses went back to
    Redis), while a unit of 40 coming back elsewhere must end the flag on the next look."""
    _, pid = product
    other = StockStore(redis, clock=clock)  # a second process on the same Redis
    try:
        taken = await other.hold(pid, "SN-40", 2, "a", "k", terms(limit=2))
        with pytest.raises(errors.SoldOut):
            await stock.hold(pid, "SN-40", 1, "b", "k", terms())
        await stock.versions([pid])
        for n in range(3):  # size 41 sells on the other process: the product's version moves
            await other.hold(pid, "SN-41", 1, f"buyer-{n}", "k", terms())
            await stock.versions([pid])
            assert isinstance(stock.answer_at_hand(pid, "SN-40", 1, "c", "k"), errors.SoldOut)
        assert stock.answer_at_hand(pid, "SN-41", 1, "c", "k") is None  # never flagged
        await other.release(taken.hold_id, "a")  # size 40 has units again, over there
        await stock.versions([pid])
        assert stock.answer_at_hand(pid, "SN-40", 1, "c", "k") is None
        got = await stock.hold(pid, "SN-40", 1, "c", "k", terms())
        assert got.remaining == 1
    finally:
        other.close()


async def test_concurrent_holds_are_pipelined(stock, product):
    _, pid = product
    await stock.hold(pid, "SN-42", 1, "warm-up", "k", terms())  # connects the lane
    lane = stock._lane
    assert lane is not None  # the test Redis is TCP or a unix socket, never TLS
    writes_before = lane.writes
    results = await asyncio.gather(
        *(stock.hold(pid, "SN-42", 1, f"b{i}", "k", terms()) for i in range(50)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 4
    assert all(isinstance(r, errors.SoldOut) for r in results if isinstance(r, Exception))
    assert lane.writes - writes_before == 1  # 50 scripts submitted in one tick leave in one write


async def test_buyers_hash_is_a_hash_table_after_load_and_reconcile(stock, product, checkout, redis):
    """A ziplist (listpack in Redis 7) is searched field by field: every hold's three reads and
    writes of the buyers hash scanned it whole until it had 512 buyers (docs/hold-script.md)."""
    await stock.load(90_001, {"X-1": 1})  # load.lua (stock.load)
    assert await redis.object("encoding", "ld:{p90001}:buyers") == "hashtable"
    _, pid = product  # loaded by reconcile.lua (Checkout.ensure_loaded)
    buyers = f"ld:{{p{pid}}}:buyers"
    assert await redis.object("encoding", buyers) == "hashtable"
    await stock.hold(pid, "SN-42", 1, "buyer-a", "k", terms())
    await checkout.reconcile([pid])
    assert await redis.object("encoding", buyers) == "hashtable"
    # The field that keeps it so is no buyer: buyer-a still has their unit, and only theirs.
    assert await redis.hget(buyers, "buyer-a") == "1"
    with pytest.raises(errors.LimitReached):
        await stock.hold(pid, "SN-41", 1, "buyer-a", "k2", terms())
    assert (await stock.hold(pid, "SN-41", 1, "buyer-b", "k", terms())).remaining == 2


async def test_an_answer_and_a_hold_stored_by_the_previous_script_still_serve(stock, product, redis, clock):
    """What the previous hold script wrote in a running deployment: its stored answer replays
    (and conflicts with another body), and its hold expires once, giving its unit back."""
    _, pid = product
    p = f"ld:{{p{pid}}}:"
    hid, exp = f"{pid}.previousscript0", clock() + 300_000
    # As hold.lua wrote them before: the packed record, its due time, the buyer's record.
    packed = "\x1e".join(["buyer-a", "SN-41", "1", "12000", "EUR", "", "7", "", str(exp), "1", str(clock())])
    await redis.hincrby(p + "avail", "SN-41", -1)
    await redis.hincrby(p + "buyers", "buyer-a", 1)
    await redis.hset(p + "hold:" + hid, "r", packed)
    await redis.zadd(p + "due", {hid: exp})
    await redis.hset(p + "b:buyer-a", mapping={"h:" + hid: "1", "i:k1": "\x1e".join(["SN-41\x1f1", hid, "2", packed])})
    again = await stock.hold(pid, "SN-41", 1, "buyer-a", "k1", terms())
    assert again.replayed and (again.hold_id, again.sku, again.remaining, again.expires_at, again.show_id) == (hid, "SN-41", 2, exp, 7)
    with pytest.raises(errors.IdempotencyConflict):
        await stock.hold(pid, "SN-42", 1, "buyer-a", "k1", terms())
    assert [h.hold_id for h in await stock.live_holds_for_buyer("buyer-a")] == [hid]
    clock.advance(301)
    assert (await stock.sweep([pid])).units_returned == 1
    assert (await stock.sweep([pid])).units_returned == 0
    assert (await stock.counts(pid))["SN-41"] == SkuCounts(loaded=3, available=3, held=0, sold=0)
