"""Claiming a draw's win, on the real app, Redis and SQL (issue 22's gaps): a giveaway's winner
gives an address and pays nothing (no card, no provider call, shipping free); an entry that
authorized the price authorized its shipping too, and the claim captures exactly the order's
total; a claim whose process dies between the capture and the order's commit is finished by
recovery with one order and one capture."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from inventory.checkout import Checkout
from inventory.payments import TestPaymentProvider
from live.models import DrawLog, Offer
from web.settings import Settings

from .buying import auth, checkout_body, live_show_with_product, new_buyer
from .test_draws import entries_url, paying_card, until


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(buyers_per_ip_per_minute=100_000)


def now_ms() -> int:
    return int(time.time() * 1000)


def no_card(email: str) -> dict[str, Any]:
    body = checkout_body(email)
    del body["card_number"]
    return body


async def buyer_id_of(client: httpx.AsyncClient, token: str) -> str:
    return str((await client.get("/api/buyers/me", headers=auth(token))).json()["buyer_id"])


async def flat_shipping(client: httpx.AsyncClient, host_token: str, slug: str, cents: int) -> None:
    answer = await client.put(f"/api/shows/{slug}/shipping", headers=auth(host_token),
                              json={"kind": "flat", "flat_cents": cents, "tax_rate_bp": 2000})
    assert answer.status_code == 200, answer.text


async def draw_now(client: httpx.AsyncClient, host_token: str, slug: str, offer_id: int) -> dict[str, Any]:
    drawn = await client.post(f"/api/shows/{slug}/offers/{offer_id}/draw", headers=auth(host_token))
    assert drawn.status_code == 200, drawn.text
    return dict(drawn.json())


async def test_a_giveaways_winner_gives_an_address_and_pays_nothing(client: httpx.AsyncClient, host_token: str, app: Any) -> None:
    slug, product = await live_show_with_product(client, host_token, {"G-1": 1})
    await flat_shipping(client, host_token, slug, 700)  # the host's rule for everything else it sells
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "mode": "draw", "giveaway": True, "price_cents": 0, "duration_s": 60})
    assert made.status_code == 201, made.text
    offer_id = made.json()["id"]
    winner = await new_buyer(client)
    entered = await client.post(entries_url(slug, offer_id), headers=auth(winner), json={"sku": "G-1", "email": "win@example.com"})
    assert entered.status_code == 201, entered.text
    # Entrants must be watching when it closes: what the viewer page's socket does when it joins.
    root = app.state.livedrop
    show_id = (await root.hub.views.get(slug)).id
    await root.hub.watchers.joined(show_id, await buyer_id_of(client, winner))
    await draw_now(client, host_token, slug, offer_id)
    mine = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(winner))).json()
    assert mine["status"] == "won" and mine["hold_id"], mine

    hold = (await client.get("/api/buyers/me", headers=auth(winner))).json()["holds"][0]
    assert hold["hold_id"] == mine["hold_id"] and hold["price_cents"] == 0
    claim = await client.post(f"/api/holds/{mine['hold_id']}/checkout", headers=auth(winner), json=no_card("win@example.com"))
    assert claim.status_code == 201, claim.text
    order = claim.json()
    assert order["status"] == "paid" and order["total_cents"] == 0 and order["shipping_cents"] == 0, order
    assert order["shipping"]["line1"] == "1 Main St"
    payments: TestPaymentProvider = root.payments
    assert await payments.find_charge(f"{mine['hold_id']}:0") is None  # no provider was asked
    again = await client.post(f"/api/holds/{mine['hold_id']}/checkout", headers=auth(winner), json=no_card("win@example.com"))
    assert again.status_code == 200 and again.json()["order_id"] == order["order_id"], again.text
    counts = (await root.stock.counts(product["id"]))["G-1"]
    assert counts.sold == 1 and counts.available == 0 and counts.held == 0, counts

    async def claimed() -> bool:
        me = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(winner))).json()
        return bool(me["status"] == "claimed")
    await until(claimed, what="the giveaway claimed")


async def test_a_claim_captures_the_orders_total_shipping_included(client: httpx.AsyncClient, host_token: str, app: Any) -> None:
    slug, product = await live_show_with_product(client, host_token, {"C-1": 2})
    await flat_shipping(client, host_token, slug, 700)
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 9900, "mode": "draw", "entries_close_at": now_ms() + 3_600_000,
        "authorize": True})
    assert made.status_code == 201, made.text
    offer_id = made.json()["id"]
    buyers = [await new_buyer(client) for _ in range(2)]
    entries = []
    for n, buyer in enumerate(buyers):
        entered = await client.post(entries_url(slug, offer_id), headers=auth(buyer), json={
            "sku": "C-1", "email": f"fan{n}@example.com", "card_number": paying_card(700 + n)})
        assert entered.status_code == 201, entered.text
        assert entered.json()["authorized_cents"] == 9900 + 700, entered.text  # the price and its shipping
        entries.append(entered.json()["entry_id"])
    # A card is still asked for a paid hold that has no authorization behind it (the usual checkout).
    assert len((await draw_now(client, host_token, slug, offer_id))["winners"]) == 2
    payments: TestPaymentProvider = app.state.livedrop.payments

    # The first winner claims without a card: the authorization is captured for the order's total.
    first = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(buyers[0]))).json()
    claim = await client.post(f"/api/holds/{first['hold_id']}/checkout", headers=auth(buyers[0]), json=no_card("fan0@example.com"))
    assert claim.status_code == 201, claim.text
    order = claim.json()
    assert order["total_cents"] == 9900 + 700 and order["shipping_cents"] == 700, order
    captured = await payments.find_charge(f"draw:{entries[0]}")
    assert captured is not None and captured.status == "paid" and captured.amount_cents == order["total_cents"]

    # The host raises shipping after the entries: the second claim's total is more than its entry
    # authorized. Without a card it is refused and nothing changes; with one it is paid by card and
    # only then is the authorization let go.
    await flat_shipping(client, host_token, slug, 1500)
    second = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(buyers[1]))).json()
    refused = await client.post(f"/api/holds/{second['hold_id']}/checkout", headers=auth(buyers[1]), json=no_card("fan1@example.com"))
    assert refused.status_code == 422 and refused.json()["error"]["message"].startswith("card_number:"), refused.text
    assert (await payments.find_charge(f"draw:{entries[1]}")).status == "authorized"
    held = (await app.state.livedrop.stock.get_hold(second["hold_id"]))
    assert held is not None and held.state == "held"
    paid = await client.post(f"/api/holds/{second['hold_id']}/checkout", headers=auth(buyers[1]), json=checkout_body("fan1@example.com"))
    assert paid.status_code == 201, paid.text
    assert paid.json()["total_cents"] == 9900 + 1500
    by_card = await payments.find_charge(f"{second['hold_id']}:{held.attempt}")
    assert by_card is not None and by_card.status == "paid" and by_card.amount_cents == 9900 + 1500
    assert (await payments.find_charge(f"draw:{entries[1]}")).status == "voided"


async def _one_winner(client: httpx.AsyncClient, host_token: str, sku: str) -> tuple[str, int, str, str, str]:
    slug, product = await live_show_with_product(client, host_token, {sku: 1})
    await flat_shipping(client, host_token, slug, 500)
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 4900, "mode": "draw", "entries_close_at": now_ms() + 3_600_000,
        "authorize": True})
    assert made.status_code == 201, made.text
    buyer = await new_buyer(client)
    entered = await client.post(entries_url(slug, made.json()["id"]), headers=auth(buyer), json={
        "sku": sku, "email": "kim@example.com", "card_number": paying_card(900)})
    assert entered.status_code == 201, entered.text
    await draw_now(client, host_token, slug, made.json()["id"])
    mine = (await client.get(entries_url(slug, made.json()["id"], "/me"), headers=auth(buyer))).json()
    assert mine["status"] == "won", mine
    return slug, made.json()["id"], buyer, mine["hold_id"], entered.json()["entry_id"]


async def test_a_claim_killed_between_the_capture_and_the_order_is_recovered_once(
    client: httpx.AsyncClient, host_token: str, app: Any,
) -> None:
    slug, offer_id, buyer, hold_id, entry_id = await _one_winner(client, host_token, "K-1")
    root = app.state.livedrop
    checkout: Checkout = root.checkout
    payments: TestPaymentProvider = root.payments
    buyer_id = await buyer_id_of(client, buyer)
    authorization = await payments.find_charge(f"draw:{entry_id}")
    assert authorization is not None and authorization.status == "authorized"

    # The claim's steps as Checkout.checkout takes them, and the process killed right after the
    # provider captured: the order is still pending in SQL, the hold locked in Redis.
    details = checkout_body("kim@example.com")
    stored = {"email": "kim@example.com", "name": details["name"], "phone": None, "shipping": details["shipping"], "locale": None}
    locked = await root.stock.lock(hold_id, buyer_id, "kim@example.com", {}, root.stock.clock() + checkout.lock_ms)
    pending = await checkout._start_order(locked, stored, Checkout.charge_key(locked))
    assert pending.status == "pending" and pending.total_cents == 4900 + 500
    captured = await payments.capture(authorization.id, pending.total_cents)
    assert captured.status == "paid"

    # The sweeper hands the locked hold to recovery (here called as it would be): the capture is
    # found, the order made paid with it, the unit sold. Nothing is captured or refunded again.
    assert await checkout.recover(hold_id) == "completed"
    order = await checkout.order_for_hold(hold_id)
    assert order is not None and order.status == "paid" and order.payment_id == authorization.id
    assert order.total_cents == 4900 + 500
    assert await checkout.recover(hold_id) in ("sold", "gone")  # again: nothing more to do
    after = await payments.get_charge(authorization.id)
    assert after is not None and after.status == "paid" and after.amount_cents == order.total_cents
    assert await payments.refunds(authorization.id) == []
    # The winner's page retries the claim: the same order, no second payment.
    retry = await client.post(f"/api/holds/{hold_id}/checkout", headers=auth(buyer), json=checkout_body("kim@example.com"))
    assert retry.status_code == 200 and retry.json()["order_id"] == order.id, retry.text
    assert await payments.find_charge(f"{hold_id}:{locked.attempt}") is None  # no card charged
    orders = (await client.get(f"/api/shows/{slug}/orders", headers=auth(host_token))).json()
    assert len([o for o in orders["orders"] if o["status"] == "paid"]) == 1, orders

    async def claimed() -> bool:
        me = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(buyer))).json()
        return bool(me["status"] == "claimed")
    await until(claimed, what="the recovered claim seen")


async def test_a_claim_killed_before_the_capture_is_dropped_and_can_be_made_again(
    client: httpx.AsyncClient, host_token: str, app: Any,
) -> None:
    _, _, buyer, hold_id, entry_id = await _one_winner(client, host_token, "K-2")
    root = app.state.livedrop
    checkout: Checkout = root.checkout
    payments: TestPaymentProvider = root.payments
    buyer_id = await buyer_id_of(client, buyer)
    details = checkout_body("kim@example.com")
    stored = {"email": "kim@example.com", "name": details["name"], "phone": None, "shipping": details["shipping"], "locale": None}
    locked = await root.stock.lock(hold_id, buyer_id, "kim@example.com", {}, root.stock.clock() + checkout.lock_ms)
    await checkout._start_order(locked, stored, Checkout.charge_key(locked))
    # Killed before the provider was asked: recovery never captures on its own.
    assert await checkout.recover(hold_id) in ("unlocked", "released")
    assert await checkout.order_for_hold(hold_id) is None
    assert (await payments.find_charge(f"draw:{entry_id}")).status == "authorized"
    claim = await client.post(f"/api/holds/{hold_id}/checkout", headers=auth(buyer), json=no_card("kim@example.com"))
    assert claim.status_code == 201 and claim.json()["total_cents"] == 4900 + 500, claim.text
    assert (await payments.find_charge(f"draw:{entry_id}")).status == "paid"


async def test_one_draw_at_a_time_per_offer(client: httpx.AsyncClient, host_token: str, app: Any) -> None:
    """The host's "draw now" and the offer clock's tick a second later used to both read and rank
    every entry (100,000 entries: each at half speed, 12 s instead of 1). A second draw of the
    offer while one runs answers 0 at once; the first draws it, once."""
    slug, product = await live_show_with_product(client, host_token, {"L-1": 2, "L-2": 2})
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 100, "mode": "draw", "entries_close_at": now_ms() + 600_000})
    offer_id = made.json()["id"]
    for n in range(40):
        entered = await client.post(entries_url(slug, offer_id), headers=auth(await new_buyer(client)),
                                    json={"sku": ("L-1", "L-2")[n % 2], "email": f"l{n}@example.com"})
        assert entered.status_code == 201, entered.text
    draws = app.state.livedrop.draws
    async with draws.sessions() as session:
        await session.execute(update(Offer).where(Offer.id == offer_id).values(ends_at=now_ms() - 5000))
        await session.commit()
        offer = await session.get(Offer, offer_id)
    first = asyncio.create_task(draws.draw(offer, now_ms()))
    for _ in range(5000):  # until the first holds the offer's draw
        if await app.state.livedrop.hub.redis.exists(f"ld:{{d{offer_id}}}:drawing"):
            break
        await asyncio.sleep(0)
    else:
        pytest.fail("the first draw never took the offer's drawing key")
    async with draws.sessions() as session:
        again = await session.get(Offer, offer_id)
    assert await draws.draw(again, now_ms()) == 0
    assert not first.done(), "the second draw waited for nothing: it must answer at once"
    assert await first == 4
    async with draws.sessions() as session:
        won = (await session.execute(select(func.count()).where(DrawLog.offer_id == offer_id, DrawLog.kind == "won"))).scalar_one()
    assert won == 4
    assert not await app.state.livedrop.hub.redis.exists(f"ld:{{d{offer_id}}}:drawing")  # let go
