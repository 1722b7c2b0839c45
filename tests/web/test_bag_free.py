"""A bag made only of free holds (giveaway wins, offers at price 0) is paid as one free hold is
(inventory.checkout FREE_PAYMENT): no card, no provider call, shipping free whatever the host's
rule, the order's payment_id ``free:<order id>``; a bag with one paid item still pays by card."""

from __future__ import annotations

from typing import Any

import httpx

from inventory.payments import TestPaymentProvider

from .buying import CARD_DECLINED, auth, checkout_body, hold, new_buyer
from .test_bag_api import show_with_bag
from .test_draw_claims import flat_shipping, no_card
from . import test_stripe_checkout as stripe_checkout
from .test_stripe_checkout import details, provider_of

stripe_app = stripe_checkout.stripe_app
http = stripe_checkout.http


async def free_bag(http: httpx.AsyncClient, host_token: str) -> tuple[str, str, list[str]]:
    """A live show whose two products (the pinned AUR-42, the bag's CAP-1) are on offer at 0, with
    flat shipping of 7.00, and a buyer holding one of each."""
    slug, pinned, cap = await show_with_bag(http, host_token)
    await flat_shipping(http, host_token, slug, 700)
    for product in (pinned, cap):
        made = await http.post(f"/api/shows/{slug}/offers", headers=auth(host_token),
                               json={"product_id": product["id"], "price_cents": 0, "duration_s": 600})
        assert made.status_code == 201, made.text
    buyer = await new_buyer(http, "Kim")
    holds = [(await hold(http, slug, buyer, sku)).json() for sku in ("AUR-42", "CAP-1")]
    assert [h["price_cents"] for h in holds] == [0, 0], holds
    return slug, buyer, [h["hold_id"] for h in holds]


async def test_a_bag_of_free_holds_asks_no_card_and_no_provider(client: httpx.AsyncClient, host_token: str, app: Any) -> None:
    slug, buyer, ids = await free_bag(client, host_token)
    payments: TestPaymentProvider = app.state.livedrop.payments
    url = f"/api/shows/{slug}/bag/checkout"
    paid = await client.post(url, json={**no_card("kim@example.com"), "hold_ids": ids}, headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    order = paid.json()
    assert (order["status"], order["total_cents"], order["shipping_cents"]) == ("paid", 0, 0), order
    assert sorted(line["sku"] for line in order["lines"]) == ["AUR-42", "CAP-1"]
    stored = await app.state.livedrop.checkout.get_order(order["order_id"])
    assert stored.payment_id == f"free:{order['order_id']}", stored.payment_id
    for hold_id in ids:  # no charge under any key of the bag's holds
        assert await payments.find_charge(f"{hold_id}:0") is None and await payments.find_charge(f"{hold_id}:1") is None
    again = await client.post(url, json={**no_card("kim@example.com"), "hold_ids": ids[::-1]}, headers=auth(buyer))
    assert again.status_code == 200 and again.json()["order_id"] == order["order_id"], again.text
    stock = (await client.get(f"/api/shows/{slug}")).json()["stock"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (2, 1), "each unit sold once"


async def test_a_bag_with_one_paid_item_still_pays_by_card(client: httpx.AsyncClient, host_token: str) -> None:
    slug, pinned, cap = await show_with_bag(client, host_token)
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token),
                             json={"product_id": cap["id"], "price_cents": 0, "duration_s": 600})
    assert made.status_code == 201, made.text
    buyer = await new_buyer(client, "Kim")
    ids = [(await hold(client, slug, buyer, sku)).json()["hold_id"] for sku in ("AUR-42", "CAP-1")]
    url = f"/api/shows/{slug}/bag/checkout"
    declined = await client.post(url, json={**checkout_body(card=CARD_DECLINED), "hold_ids": ids}, headers=auth(buyer))
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "payment_declined", declined.text
    paid = await client.post(url, json={**checkout_body(), "hold_ids": ids}, headers=auth(buyer))
    assert paid.status_code == 201 and paid.json()["total_cents"] == 12900, paid.text


async def test_a_free_bag_under_stripe_makes_no_payment_intent(http: httpx.AsyncClient, stripe_app: Any, host_token: str) -> None:
    slug, buyer, ids = await free_bag(http, host_token)
    started = await http.post(f"/api/shows/{slug}/bag/payment", json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert started.status_code == 200 and started.json()["status"] == "paid", started.text
    order_id = started.json()["order_id"]
    finished = await http.post(f"/api/shows/{slug}/bag/checkout", json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert finished.status_code == 200 and finished.json()["order_id"] == order_id, finished.text
    assert finished.json()["total_cents"] == 0
    listed = (await provider_of(stripe_app).client.v1.payment_intents.list_async({"limit": 100})).to_dict()["data"]
    assert not [p for p in listed if p["metadata"].get("hold_id") in ids], "no PaymentIntent made"
