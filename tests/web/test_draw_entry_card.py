"""The card of a draw that authorizes at entry, as the viewer page sends it: ``card_number`` with
the test provider, ``payment_method`` (what Stripe.js made) under Stripe. Bad input is refused with
its stable code and nothing is entered; a declined card enters nothing and frees the buyer to try
another card."""

from __future__ import annotations

import time

import httpx

from .buying import CARD_DECLINED, auth, live_show_with_product, new_buyer
from .test_draws import entries_url, paying_card


async def test_an_authorized_entrys_card_bad_declined_then_good(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"E-1": 1})
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 4900, "mode": "draw", "authorize": True,
        "entries_close_at": int(time.time() * 1000) + 600_000})
    assert made.status_code == 201, made.text
    url = entries_url(slug, made.json()["id"])
    buyer = await new_buyer(client)
    body = {"sku": "E-1", "email": "kim@example.com"}
    for extra, code, field in [
        ({}, "invalid_request", "card_number"),  # this draw authorizes: a card is needed
        ({"payment_method": "pm_<script>"}, "invalid_request", "payment_method"),
        ({"payment_method": "x" * 300}, "invalid_request", "payment_method"),
    ]:
        refused = await client.post(url, headers=auth(buyer), json={**body, **extra})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == code, (extra, refused.text)
        assert refused.json()["error"]["message"].startswith(field), refused.text
    declined = await client.post(url, headers=auth(buyer), json={**body, "card_number": CARD_DECLINED})
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "payment_declined", declined.text
    assert (await client.get(entries_url(slug, made.json()["id"], "/me"), headers=auth(buyer))).status_code == 404
    entered = await client.post(url, headers=auth(buyer), json={**body, "card_number": paying_card(5)})
    assert entered.status_code == 201 and entered.json()["authorized_cents"] == 4900, entered.text
