"""Buying through the HTTP API: hold, checkout, orders, and every documented refusal."""

from __future__ import annotations

import csv
import io

import httpx

from .buying import CARD_DECLINED, auth, checkout_body, hold, live_show_with_product, new_buyer


async def stock_of(client: httpx.AsyncClient, slug: str) -> dict[str, int]:
    return (await client.get(f"/api/shows/{slug}")).json()["stock"]


async def test_hold_checkout_and_order(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"AUR-42": 3, "AUR-43": 1})
    buyer = await new_buyer(client, "Kim")

    held = await hold(client, slug, buyer, "AUR-42", key="press-1")
    assert held.status_code == 201, held.text
    body = held.json()
    assert body["sku"] == "AUR-42" and body["quantity"] == 1 and body["remaining"] == 2
    assert body["price_cents"] == 12900 and body["currency"] == "USD" and body["offer_id"] is None
    assert (await stock_of(client, slug))["AUR-42"] == 2

    replay = await hold(client, slug, buyer, "AUR-42", key="press-1")
    assert replay.status_code == 201 and replay.json() == body, "same key, same answer"
    conflict = await hold(client, slug, buyer, "AUR-43", key="press-1")
    assert conflict.status_code == 422 and conflict.json()["error"]["code"] == "idempotency_conflict"

    me = (await client.get("/api/buyers/me", headers=auth(buyer))).json()
    assert [h["hold_id"] for h in me["holds"]] == [body["hold_id"]]
    assert me["holds"][0]["title"] == "Aurora Runner" and me["holds"][0]["label"] == "AUR-42"
    assert me["holds"][0]["expires_at"] == body["expires_at"]

    paid = await client.post(f"/api/holds/{body['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    order = paid.json()
    assert order["status"] == "paid" and order["total_cents"] == 12900 and len(order["number"]) >= 6
    assert order["lines"][0]["sku"] == "AUR-42" and order["lines"][0]["quantity"] == 1

    again = await client.post(f"/api/holds/{body['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))
    assert again.status_code == 200 and again.json()["order_id"] == order["order_id"]
    assert (await stock_of(client, slug))["AUR-42"] == 2, "a sale does not return the unit"

    mine = await client.get(f"/api/orders/{order['order_id']}", headers=auth(buyer))
    assert mine.status_code == 200 and mine.json()["number"] == order["number"]
    host_view = await client.get(f"/api/orders/{order['order_id']}", headers=auth(host_token))
    assert host_view.status_code == 200
    me = (await client.get("/api/buyers/me", headers=auth(buyer))).json()
    assert me["holds"] == [] and [o["order_id"] for o in me["orders"]] == [order["order_id"]]

    receipt = await client.get(f"/orders/{order['order_id']}")
    assert receipt.status_code == 200 and order["number"] in receipt.text


async def test_buyers_only_touch_their_own_holds_and_orders(
    client: httpx.AsyncClient, host_token: str, other_host_token: str
) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 5})
    ana, bo = await new_buyer(client), await new_buyer(client)
    held = (await hold(client, slug, ana, "S1")).json()

    for request in (
        client.delete(f"/api/holds/{held['hold_id']}", headers=auth(bo)),
        client.post(f"/api/holds/{held['hold_id']}/checkout", json=checkout_body(), headers=auth(bo)),
    ):
        response = await request
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", response.text

    order = (await client.post(f"/api/holds/{held['hold_id']}/checkout", json=checkout_body(), headers=auth(ana))).json()
    assert (await client.get(f"/api/orders/{order['order_id']}", headers=auth(bo))).status_code == 404
    assert (await client.get(f"/api/orders/{order['order_id']}", headers=auth(other_host_token))).status_code == 404
    assert (await client.get(f"/api/orders/{order['order_id']}")).status_code == 404
    assert (await client.get(f"/api/shows/{slug}/orders", headers=auth(other_host_token))).status_code == 404


async def test_release_returns_units_and_declined_card_keeps_the_hold(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 2})
    buyer = await new_buyer(client)
    first = (await hold(client, slug, buyer, "S1")).json()
    assert (await stock_of(client, slug))["S1"] == 1
    released = await client.delete(f"/api/holds/{first['hold_id']}", headers=auth(buyer))
    assert released.status_code == 204
    assert (await stock_of(client, slug))["S1"] == 2
    assert (await client.delete(f"/api/holds/{first['hold_id']}", headers=auth(buyer))).status_code == 404

    second = (await hold(client, slug, buyer, "S1")).json()
    declined = await client.post(f"/api/holds/{second['hold_id']}/checkout", json=checkout_body(card=CARD_DECLINED), headers=auth(buyer))
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "payment_declined"
    assert (await stock_of(client, slug))["S1"] == 1, "a declined card keeps the hold"
    paid = await client.post(f"/api/holds/{second['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))
    assert paid.status_code == 201, paid.text


async def test_sold_out_limit_and_not_on_sale(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(
        client, host_token, {"S1": 1, "S2": 5}, offer={"price_cents": 9900, "duration_s": 60, "per_customer_limit": 1}
    )
    ana, bo = await new_buyer(client), await new_buyer(client)
    won = await hold(client, slug, ana, "S1")
    assert won.status_code == 201 and won.json()["price_cents"] == 9900 and won.json()["offer_id"] is not None
    sold_out = await hold(client, slug, bo, "S1")
    assert sold_out.status_code == 409 and sold_out.json()["error"]["code"] == "sold_out"
    over = await hold(client, slug, ana, "S2")
    assert over.status_code == 409 and over.json()["error"]["code"] == "limit_reached"

    # The email limit counts across buyers: a second buyer checking out with the same email.
    order = await client.post(f"/api/holds/{won.json()['hold_id']}/checkout", json=checkout_body("same@example.com"), headers=auth(ana))
    assert order.status_code == 201
    bo_hold = await hold(client, slug, bo, "S2")
    assert bo_hold.status_code == 201
    same_email = await client.post(f"/api/holds/{bo_hold.json()['hold_id']}/checkout", json=checkout_body("Same@Example.com"), headers=auth(bo))
    assert same_email.status_code == 409 and same_email.json()["error"]["code"] == "limit_reached"

    other = await client.post("/api/products", json={"title": "Not pinned", "price_cents": 100, "currency": "USD",
                                                      "variants": [{"sku": "NP-1", "label": "one", "stock": 5}]}, headers=auth(host_token))
    assert other.status_code == 201
    not_on_sale = await hold(client, slug, bo, "NP-1")
    assert not_on_sale.status_code == 409 and not_on_sale.json()["error"]["code"] == "not_on_sale"
    unknown = await hold(client, slug, bo, "NOPE")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_sku"
    no_show = await hold(client, "no-such-show", bo, "S1")
    assert no_show.status_code == 404


async def test_bad_input_changes_nothing(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 10})
    buyer = await new_buyer(client)
    before = await stock_of(client, slug)

    for quantity in (0, 10_000, -1, "2"):
        response = await client.post(f"/api/shows/{slug}/holds", json={"sku": "S1", "quantity": quantity},
                                     headers={**auth(buyer), "Idempotency-Key": f"q{quantity}"})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_request" and "quantity" in response.json()["error"]["message"]
    missing_key = await client.post(f"/api/shows/{slug}/holds", json={"sku": "S1", "quantity": 1}, headers=auth(buyer))
    assert missing_key.status_code == 400 and missing_key.json()["error"]["code"] == "idempotency_key_required"
    malformed = await client.post(f"/api/shows/{slug}/holds", content=b'{"sku": "S1",',
                                  headers={**auth(buyer), "Idempotency-Key": "m", "content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    client.cookies.clear()  # the buyer cookie from POST /api/buyers would sign us in
    anonymous = await client.post(f"/api/shows/{slug}/holds", json={"sku": "S1"}, headers={"Idempotency-Key": "a"})
    assert anonymous.status_code == 401
    assert await stock_of(client, slug) == before

    held = (await hold(client, slug, buyer, "S1")).json()
    no_shipping = checkout_body()
    del no_shipping["shipping"]
    for body, field in ((no_shipping, "shipping"), (checkout_body(email="not-an-email"), "email"),
                        (checkout_body(card="42"), "card_number"),
                        ({**checkout_body(), "shipping": {"line1": "x", "city": "y", "postal_code": "1", "country": "USA"}}, "shipping.country")):
        response = await client.post(f"/api/holds/{held['hold_id']}/checkout", json=body, headers=auth(buyer))
        assert response.status_code == 422 and response.json()["error"]["message"].startswith(field), response.text
    assert (await client.get(f"/api/shows/{slug}/orders", headers=auth(host_token))).json()["orders"] == []
    assert (await stock_of(client, slug))["S1"] == before["S1"] - 1


async def test_host_orders_json_and_csv_are_safe(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 3})
    buyer = await new_buyer(client)
    held = (await hold(client, slug, buyer, "S1")).json()
    body = checkout_body(name="=HYPERLINK(\"http://evil\")")
    body["name"] = "=HYPERLINK(\"http://evil\")"
    order = await client.post(f"/api/holds/{held['hold_id']}/checkout", json=body, headers=auth(buyer))
    assert order.status_code == 201
    listed = (await client.get(f"/api/shows/{slug}/orders", headers=auth(host_token))).json()["orders"]
    assert [o["order_id"] for o in listed] == [order.json()["order_id"]]
    download = await client.get(f"/api/shows/{slug}/orders?format=csv", headers=auth(host_token))
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert rows[0]["number"] == order.json()["number"] and rows[0]["sku"] == "S1"
    assert rows[0]["name"].startswith("'="), "a formula in a name must not run in a spreadsheet"


async def test_receipt_escapes_what_buyers_typed(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 1}, title="<b>Bold</b> shoe")
    buyer = await new_buyer(client)
    held = (await hold(client, slug, buyer, "S1")).json()
    body = checkout_body()
    body["name"] = "<script>alert(1)</script>"
    order = (await client.post(f"/api/holds/{held['hold_id']}/checkout", json=body, headers=auth(buyer))).json()
    page = (await client.get(f"/orders/{order['order_id']}")).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>Bold</b>" not in page
    assert (await client.get("/orders/does-not-exist")).status_code == 404


async def test_buy_presses_are_rate_limited_per_buyer(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 100})
    ana, bo = await new_buyer(client), await new_buyer(client)
    allowed = client._transport.app.state.livedrop.settings.holds_per_buyer_per_minute // 6  # type: ignore[attr-defined]
    statuses = [(await hold(client, slug, ana, "S1")).status_code for _ in range(allowed)]
    assert statuses == [201] * allowed
    limited = await hold(client, slug, ana, "S1")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert (await hold(client, slug, bo, "S1")).status_code == 201, "another buyer is not slowed down"


def test_money_uses_the_currencys_decimals() -> None:
    from web.money import format_money

    assert format_money(12900, "usd") == "129.00 USD"
    assert format_money(150000, "JPY") == "150,000 JPY"
    assert format_money(1234, "KWD") == "1.234 KWD"
