"""Shopify's products/update webhook through the real app, Redis and database: a signed update
changes titles and prices and adds stock through the restock script (held units untouched); a
forged one is 401 and changes nothing; a replay adds nothing twice."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from inventory.shopify_sync import shopify_hmac
from tests.web.buying import auth, hold, new_buyer

FIXTURES = Path(__file__).parent.parent / "fixtures"
SHOPIFY_EXPORT = (FIXTURES / "shopify_products.json").read_bytes()
UPDATE = json.loads((FIXTURES / "shopify_product_update.json").read_text())
SHOP = "northwind-test.myshopify.com"
SECRET = "shpss_" + "0123456789abcdef" * 2


def signed(body: bytes, *, secret: str = SECRET, shop: str = SHOP, topic: str = "products/update",
           webhook_id: str | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Shopify-Hmac-Sha256": shopify_hmac(secret, body),
            "X-Shopify-Shop-Domain": shop, "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-API-Version": "2025-10"}


async def send(client: httpx.AsyncClient, product: dict[str, Any], **kw: Any) -> httpx.Response:
    body = json.dumps(product).encode()
    return await client.post("/webhooks/shopify", content=body, headers=signed(body, **kw))


async def catalog(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    products = (await client.get("/api/products", headers=auth(token))).json()["products"]
    return {p["title"]: (p["price_cents"], {v["sku"]: v["stock"] for v in p["variants"]}) for p in products}


@pytest.fixture
async def live_aurora(client: httpx.AsyncClient, host_token: str) -> str:
    """The Shopify export imported, the shop connected, Aurora Runner pinned in a live show
    (so its stock is in Redis) and one AUR-41 held by a buyer. Returns the show's slug."""
    imported = await client.post("/api/products/import?format=shopify-json&currency=USD", content=SHOPIFY_EXPORT,
                                 headers={**auth(host_token), "Content-Type": "application/json"})
    assert imported.status_code == 201, imported.text
    aurora = imported.json()["products"][0]
    connected = await client.put("/api/shop/shopify", json={"shop_domain": SHOP, "secret": SECRET}, headers=auth(host_token))
    assert connected.status_code == 200, connected.text
    slug = (await client.post("/api/shows", json={"title": "Drop night"}, headers=auth(host_token))).json()["slug"]
    assert (await client.post(f"/api/shows/{slug}/start", headers=auth(host_token))).status_code == 200
    assert (await client.put(f"/api/shows/{slug}/pin", json={"product_id": aurora["id"]}, headers=auth(host_token))).status_code == 200
    held = await hold(client, slug, await new_buyer(client), "AUR-41")
    assert held.status_code == 201, held.text
    return slug


async def stock_on_sale(client: httpx.AsyncClient, slug: str) -> dict[str, int]:
    return dict((await client.get(f"/api/shows/{slug}")).json()["stock"])


async def test_a_signed_update_changes_title_and_price_and_adds_stock(
        client: httpx.AsyncClient, host_token: str, live_aurora: str) -> None:
    assert await stock_on_sale(client, live_aurora) == {"AUR-41": 4, "AUR-42": 3, "AUR-43": 0}
    answer = await send(client, UPDATE)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": True, "changed": {
        "matched_skus": 3, "titles": 1, "prices": 1, "units_added": 4, "first_seen": 0, "decreases_ignored": 1,
        "stale": False}}
    after = await catalog(client, host_token)
    # AUR-41: Shopify's count rose 5 -> 9, four units added; AUR-42 fell 3 -> 1 (sold in the shop): kept.
    assert after["Aurora Runner II"] == (13900, {"AUR-41": 9, "AUR-42": 3, "AUR-43": 0})
    assert after["Court Classic"] == (8950, {"CRT-9": 12, "CRT-10": 0})  # not in the payload
    # On sale at once, through the restock script: 9 loaded, 1 still held.
    assert await stock_on_sale(client, live_aurora) == {"AUR-41": 8, "AUR-42": 3, "AUR-43": 0}

    # Later the shop receives three more: they are added too.
    later = copy.deepcopy(UPDATE)
    later["variants"][0]["inventory_quantity"] = 12
    later["updated_at"] = "2026-11-28T10:15:00-05:00"
    assert (await send(client, later)).json()["changed"]["units_added"] == 3
    assert await stock_on_sale(client, live_aurora) == {"AUR-41": 11, "AUR-42": 3, "AUR-43": 0}


async def test_a_replay_adds_no_stock_twice(client: httpx.AsyncClient, host_token: str, live_aurora: str) -> None:
    body = json.dumps(UPDATE).encode()
    headers = signed(body, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    first = await client.post("/webhooks/shopify", content=body, headers=headers)
    assert first.status_code == 200 and first.json()["changed"]["units_added"] == 4
    again = await client.post("/webhooks/shopify", content=body, headers=headers)  # Shopify's retry: the same id
    assert again.status_code == 200 and again.json() == {"received": True, "duplicate": True}
    # Delivered again under another id (or after the ids are forgotten): the count is the one seen.
    other_id = await send(client, UPDATE)
    assert other_id.status_code == 200 and other_id.json()["changed"]["units_added"] == 0
    assert (await catalog(client, host_token))["Aurora Runner II"][1]["AUR-41"] == 9
    assert (await stock_on_sale(client, live_aurora))["AUR-41"] == 8


@pytest.mark.parametrize("forgery", ["wrong secret", "tampered body", "no signature", "unknown shop", "shop's letters"])
async def test_a_forged_webhook_is_401_and_changes_nothing(
        client: httpx.AsyncClient, host_token: str, live_aurora: str, forgery: str) -> None:
    before = await catalog(client, host_token)
    body = json.dumps(UPDATE).encode()
    headers = signed(body)
    if forgery == "wrong secret":
        headers = signed(body, secret="not-the-apps-secret-at-all")
    elif forgery == "tampered body":
        body = body.replace(b'"139.00"', b'"1.00"')
    elif forgery == "no signature":
        del headers["X-Shopify-Hmac-Sha256"]
    elif forgery == "unknown shop":
        headers = signed(body, shop="someone-else.myshopify.com")
    else:
        headers["X-Shopify-Hmac-Sha256"] = headers["X-Shopify-Hmac-Sha256"].lower()
    answer = await client.post("/webhooks/shopify", content=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "shopify_hmac_invalid"
    assert await catalog(client, host_token) == before
    assert (await stock_on_sale(client, live_aurora))["AUR-41"] == 4


async def test_a_signed_update_with_a_bad_price_changes_nothing(
        client: httpx.AsyncClient, host_token: str, live_aurora: str) -> None:
    before = await catalog(client, host_token)
    bad = copy.deepcopy(UPDATE)
    bad["variants"][2]["price"] = "one hundred"
    answer = await send(client, bad, webhook_id="bad-price-1")
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {"code": "invalid_request", "message": "variants[2].price: 'one hundred' is not a price like 129.00"}
    assert await catalog(client, host_token) == before  # the title and AUR-41's stock are not half-written
    # The id is not spent on a refused delivery: fixed and resent, it is handled.
    assert (await send(client, UPDATE, webhook_id="bad-price-1")).json()["changed"]["units_added"] == 4


async def test_other_topics_and_products_of_no_host_are_answered_and_ignored(
        client: httpx.AsyncClient, host_token: str, live_aurora: str) -> None:
    before = await catalog(client, host_token)
    other_topic = await send(client, UPDATE, topic="products/delete")
    assert other_topic.json() == {"received": True, "ignored": "products/delete"}
    unknown = copy.deepcopy(UPDATE)
    for variant in unknown["variants"]:
        variant["sku"] = "ELSEWHERE-" + variant["sku"]
    assert (await send(client, unknown)).json()["changed"]["matched_skus"] == 0
    malformed = b'{"title": '
    answer = await client.post("/webhooks/shopify", content=malformed, headers=signed(malformed))
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "malformed_json"
    assert await catalog(client, host_token) == before


async def test_the_connection_is_the_hosts_and_its_secret_is_never_answered(
        client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    assert (await client.get("/api/shop/shopify", headers=auth(host_token))).status_code == 404
    made = await client.put("/api/shop/shopify", json={"shop_domain": "Northwind-Test.myshopify.com", "secret": SECRET},
                            headers=auth(host_token))
    assert made.status_code == 200, made.text
    assert SECRET not in made.text
    assert made.json()["shop_domain"] == SHOP and made.json()["webhook_url"].endswith("/webhooks/shopify")
    taken = await client.put("/api/shop/shopify", json={"shop_domain": SHOP, "secret": SECRET}, headers=auth(other_host_token))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "shop_taken"
    for body, field in (({"shop_domain": "evil.example.com", "secret": SECRET}, "shop_domain"),
                        ({"shop_domain": SHOP, "secret": "short"}, "secret"),
                        ({"shop_domain": SHOP, "secret": "x" * 257}, "secret")):
        refused = await client.put("/api/shop/shopify", json=body, headers=auth(host_token))
        assert refused.status_code == 422 and refused.json()["error"]["message"].startswith(field), refused.text
    assert (await client.put("/api/shop/shopify", json={"shop_domain": SHOP, "secret": SECRET})).status_code == 401
    assert (await client.delete("/api/shop/shopify", headers=auth(host_token))).status_code == 204
    # Disconnected: its webhooks are refused like forged ones.
    assert (await send(client, UPDATE)).status_code == 401


async def test_a_body_over_the_bound_is_413_before_it_is_checked(client: httpx.AsyncClient, live_aurora: str) -> None:
    body = b'{"title": "x", "variants": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    answer = await client.post("/webhooks/shopify", content=body, headers=signed(body))
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
    fits = b'{"title": "Aurora Runner", "variants": [], "pad": "' + b"x" * (600 * 1024) + b'"}'
    assert (await client.post("/webhooks/shopify", content=fits, headers=signed(fits))).status_code == 200


async def test_an_older_delivery_after_a_newer_one_changes_nothing(
        client: httpx.AsyncClient, host_token: str, live_aurora: str) -> None:
    """Shopify does not deliver in order: 5 -> 9 at 10:00 arrives after 9 -> 7 at 10:05 (two sold
    there). The late one is stale: no title, price or stock of it, so 4 units are added once."""
    newer, older = copy.deepcopy(UPDATE), copy.deepcopy(UPDATE)
    newer["variants"][0]["inventory_quantity"], newer["updated_at"] = 7, "2026-11-28T10:05:00-05:00"
    newer["title"] = "Aurora Runner III"
    older["updated_at"] = "2026-11-28T10:00:00-05:00"  # the fixture's count, 9
    assert (await send(client, newer)).json()["changed"]["units_added"] == 2  # 5 -> 7
    late = await send(client, older)
    assert late.status_code == 200 and late.json()["changed"]["stale"] is True and late.json()["changed"]["units_added"] == 0
    assert (await catalog(client, host_token))["Aurora Runner III"][1]["AUR-41"] == 7
    assert (await stock_on_sale(client, live_aurora))["AUR-41"] == 6


async def test_racing_deliveries_add_each_unit_once(client: httpx.AsyncClient, host_token: str, live_aurora: str) -> None:
    """Six deliveries at once (the shop's count of AUR-41 rising 5 -> 9 ... 14): whichever order
    they are handled in, AUR-41 ends at the shop's 14, in SQL and on sale in Redis; none is added
    twice and none is lost to another's write. A delivery refused while others hold the database
    (503) is retried, as Shopify does."""
    updates = []
    for minute, count in enumerate((9, 10, 11, 12, 13, 14)):
        update = copy.deepcopy(UPDATE)
        update["variants"][0]["inventory_quantity"] = count
        update["updated_at"] = f"2026-11-28T09:0{minute}:11-05:00"  # in the order the shop changed
        updates.append(update)

    async def deliver(product: dict[str, Any]) -> None:
        webhook_id = str(uuid.uuid4())
        for _ in range(10):
            answer = await send(client, product, webhook_id=webhook_id)
            if answer.status_code == 200:
                return
            assert answer.status_code == 503, answer.text
            await asyncio.sleep(0.2)
        raise AssertionError("never handled")

    await asyncio.gather(*(deliver(update) for update in updates))
    assert (await catalog(client, host_token))["Aurora Runner II"][1]["AUR-41"] == 14
    assert (await stock_on_sale(client, live_aurora))["AUR-41"] == 13  # one unit still held


async def test_an_address_that_keeps_forging_is_turned_away(client: httpx.AsyncClient, host_token: str, live_aurora: str) -> None:
    body = json.dumps(UPDATE).encode()
    forged = signed(body, secret="guessing-the-secret-0000")
    for _ in range(30):
        assert (await client.post("/webhooks/shopify", content=body, headers=forged)).status_code == 401
    refused = await client.post("/webhooks/shopify", content=body, headers=signed(body))  # even a good one, for now
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert (await catalog(client, host_token))["Aurora Runner"][1]["AUR-41"] == 5
