"""Shipping and tax through the real app: profiles (host default, a show's own), what checkout
charges, the refusals (not shipped to, a US address without a state), the receipt and /orders."""

from __future__ import annotations

from typing import Any

import httpx

from inventory.models import Host
from tests.web.buying import auth, checkout_body, hold, live_show_with_product, new_buyer
from web.routes.buyer_pages import seller_name

PRICE = 12900  # live_show_with_product's price


def address(country: str = "US", region: str | None = "IL") -> dict[str, Any]:
    shipping: dict[str, Any] = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": country}
    if region is not None:
        shipping["region"] = region
    return shipping


async def buy(client: httpx.AsyncClient, slug: str, buyer: str, sku: str = "AR-41", **body: Any) -> httpx.Response:
    held = await hold(client, slug, buyer, sku)
    assert held.status_code == 201, held.text
    return await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", headers=auth(buyer),
                             json={**checkout_body(), **body})


async def test_a_flat_rate_is_charged_in_the_total_and_shown_on_the_receipt(client: httpx.AsyncClient, host_token: str) -> None:
    assert (await client.get("/api/shipping", headers=auth(host_token))).json()["source"] == "default"
    put = await client.put("/api/shipping", headers=auth(host_token), json={"kind": "flat", "flat_cents": 500, "free_over_cents": 20000})
    assert put.status_code == 200, put.text
    assert put.json() == {"kind": "flat", "flat_cents": 500, "free_over_cents": 20000, "countries": {}, "tax_rate_bp": 0,
                          "tax_label": "VAT", "source": "host"}
    slug, _ = await live_show_with_product(client, host_token, {"AR-41": 5})
    seen = (await client.get(f"/api/shows/{slug}/shipping")).json()
    assert (seen["kind"], seen["flat_cents"], seen["source"]) == ("flat", 500, "host")

    paid = await buy(client, slug, await new_buyer(client))
    assert paid.status_code == 201, paid.text
    order = paid.json()
    assert (order["total_cents"], order["shipping_cents"], order["tax_cents"], order["tax_label"]) == (PRICE + 500, 500, 0, None)
    assert (order["card_brand"], order["card_last4"]) == ("Visa", "4242")

    page = await client.get(order["receipt_url"])
    assert page.status_code == 200
    html = page.text
    assert "Visa ending in 4242" in html
    assert 'id="order-shipping" data-cents="500">$5.00' in html
    assert 'id="order-total" data-cents="13400"' in html and "$134.00" in html
    assert f'id="back-to-show" href="/s/{slug}"' in html
    assert "incl. VAT" not in html  # no tax configured
    assert 'id="order-seller">ana<' in html  # the host's display name
    # Without one: the email's domain, never the whole address.
    assert seller_name(Host(name="", email="ana@shop.example")) == "shop.example"
    assert "Springfield, IL" in html and "United States" in html


async def test_free_over_an_amount(client: httpx.AsyncClient, host_token: str) -> None:
    await client.put("/api/shipping", headers=auth(host_token), json={"kind": "flat", "flat_cents": 500, "free_over_cents": PRICE})
    slug, _ = await live_show_with_product(client, host_token, {"AR-41": 5})
    order = (await buy(client, slug, await new_buyer(client))).json()
    assert (order["total_cents"], order["shipping_cents"]) == (PRICE, 0)
    assert 'id="order-shipping" data-cents="0">Free' in (await client.get(order["receipt_url"])).text


async def test_a_show_ships_per_country_and_refuses_the_others_without_touching_the_hold(
    client: httpx.AsyncClient, host_token: str,
) -> None:
    await client.put("/api/shipping", headers=auth(host_token), json={"kind": "flat", "flat_cents": 500})
    slug, _ = await live_show_with_product(client, host_token, {"AR-41": 5})
    own = await client.put(f"/api/shows/{slug}/shipping", headers=auth(host_token),
                           json={"kind": "per_country", "countries": {"us": 700, "CA": 1500}})
    assert own.status_code == 200, own.text
    assert own.json()["countries"] == {"US": 700, "CA": 1500}
    assert (await client.get(f"/api/shows/{slug}/shipping")).json()["source"] == "show"

    buyer = await new_buyer(client)
    held = (await hold(client, slug, buyer, "AR-41")).json()
    refused = await client.post(f"/api/holds/{held['hold_id']}/checkout", headers=auth(buyer),
                                json=checkout_body(shipping=address("DE", None)))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "not_shipped_to"
    assert "Germany" in refused.json()["error"]["message"]
    me = (await client.get("/api/buyers/me", headers=auth(buyer))).json()
    assert me["orders"] == []  # nothing paid, no order
    [still] = me["holds"]
    assert (still["hold_id"], still["state"], still["expires_at"]) == (held["hold_id"], "held", held["expires_at"])

    # The same hold, to Canada: the show's own price.
    paid = await client.post(f"/api/holds/{held['hold_id']}/checkout", headers=auth(buyer),
                             json=checkout_body(shipping=address("CA", "ON")))
    assert paid.status_code == 201, paid.text
    assert (paid.json()["shipping_cents"], paid.json()["total_cents"]) == (1500, PRICE + 1500)

    # Back to the host's default: flat, anywhere.
    assert (await client.delete(f"/api/shows/{slug}/shipping", headers=auth(host_token))).status_code == 204
    order = (await buy(client, slug, await new_buyer(client), shipping=address("DE", None))).json()
    assert (order["shipping_cents"], order["total_cents"]) == (500, PRICE + 500)


async def test_us_and_ca_addresses_need_a_known_state_and_countries_are_iso(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"AR-41": 5})
    buyer = await new_buyer(client)
    held = (await hold(client, slug, buyer, "AR-41")).json()
    for shipping, field in ((address("US", None), "shipping.region"), (address("US", "ZZ"), "shipping.region"),
                            (address("CA", "IL"), "shipping.region"), (address("XX", None), "shipping.country")):
        answer = await client.post(f"/api/holds/{held['hold_id']}/checkout", headers=auth(buyer), json=checkout_body(shipping=shipping))
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "invalid_request"
        assert answer.json()["error"]["message"].startswith(field + ":")
    [still] = (await client.get("/api/buyers/me", headers=auth(buyer))).json()["holds"]
    assert still["state"] == "held"
    paid = await client.post(f"/api/holds/{held['hold_id']}/checkout", headers=auth(buyer),
                             json=checkout_body(shipping=address("us", "il")))
    assert paid.status_code == 201, paid.text
    assert (paid.json()["shipping"]["country"], paid.json()["shipping"]["region"]) == ("US", "IL")
    countries = (await client.get("/api/countries")).json()
    assert {"code": "DE", "name": "Germany"} in countries["countries"]
    assert {"code": "ON", "name": "Ontario"} in countries["regions"]["CA"]


async def test_a_tax_inclusive_price_shows_the_included_vat_on_the_receipt(client: httpx.AsyncClient, host_token: str) -> None:
    await client.put("/api/shipping", headers=auth(host_token),
                     json={"kind": "flat", "flat_cents": 500, "tax_rate_bp": 2000, "tax_label": "VAT"})
    slug, _ = await live_show_with_product(client, host_token, {"AR-41": 5})
    order = (await buy(client, slug, await new_buyer(client))).json()
    # 134.00 includes 20 % VAT: 134.00 / 1.2 * 0.2 = 22.333... -> 22.33; the total does not change.
    assert (order["total_cents"], order["tax_cents"], order["tax_label"], order["tax_rate_bp"]) == (13400, 2233, "VAT", 2000)
    html = (await client.get(order["receipt_url"])).text
    assert "incl. VAT (20 %)" in html
    assert 'id="order-tax" data-cents="2233">$22.33' in html


async def test_the_orders_page_lists_only_this_browsers_buyers_orders(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"AR-41": 5, "AR-42": 5})
    kim, lee = await new_buyer(client), await new_buyer(client)
    mine = (await buy(client, slug, kim, "AR-41")).json()
    theirs = (await buy(client, slug, lee, "AR-42", email="lee@example.com")).json()

    client.cookies.set("livedrop_buyer", kim)
    page = await client.get("/orders")
    assert page.status_code == 200
    assert f'href="{mine["receipt_url"]}"' in page.text and mine["number"] in page.text
    assert theirs["number"] not in page.text and theirs["order_id"] not in page.text
    client.cookies.clear()
    nobody = await client.get("/orders")
    assert nobody.status_code == 200 and 'id="no-orders"' in nobody.text and mine["number"] not in nobody.text
    # GET /api/buyers/me lists them too.
    assert [o["order_id"] for o in (await client.get("/api/buyers/me", headers=auth(kim))).json()["orders"]] == [mine["order_id"]]


async def test_profiles_are_the_hosts_own(client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"AR-41": 5})
    flat = {"kind": "flat", "flat_cents": 500}
    assert (await client.put(f"/api/shows/{slug}/shipping", headers=auth(other_host_token), json=flat)).status_code == 404
    assert (await client.delete(f"/api/shows/{slug}/shipping", headers=auth(other_host_token))).status_code == 404
    assert (await client.put("/api/shipping", json=flat)).status_code == 401
    assert (await client.get("/api/shows/nope/shipping")).status_code == 404
    for body, field in (({"kind": "per_country"}, "countries"), ({"kind": "per_country", "countries": {"XX": 5}}, "countries"),
                        ({"kind": "flat", "flat_cents": -1}, "flat_cents"), ({"tax_rate_bp": 10001}, "tax_rate_bp"),
                        ({"kind": "weekly"}, "kind")):
        answer = await client.put("/api/shipping", headers=auth(host_token), json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["message"].startswith(field), answer.text
    # The other host's default does not reach this host's show.
    await client.put("/api/shipping", headers=auth(other_host_token), json=flat)
    assert (await client.get(f"/api/shows/{slug}/shipping")).json()["source"] == "default"
