"""The show's bag through the HTTP API: the host chooses it, viewers see it (pinned first), hold
several items, and pay for them in one checkout (one order, one payment, a line per hold)."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.models import Order, OrderLine, Variant

from .buying import CARD_DECLINED, auth, checkout_body, hold, live_show_with_product, new_buyer


async def add_product(http: httpx.AsyncClient, host_token: str, title: str, stock: dict[str, int], price: int = 2500,
                      currency: str = "USD") -> dict:
    made = await http.post("/api/products", json={
        "title": title, "price_cents": price, "currency": currency,
        "variants": [{"sku": sku, "label": sku, "stock": n} for sku, n in stock.items()]}, headers=auth(host_token))
    assert made.status_code == 201, made.text
    return made.json()


async def show_with_bag(http: httpx.AsyncClient, host_token: str) -> tuple[str, dict, dict]:
    """A live show: a pinned product (AUR-42: 3) and a bag of one more (CAP-1: 2)."""
    slug, pinned = await live_show_with_product(http, host_token, {"AUR-42": 3})
    cap = await add_product(http, host_token, "Cap", {"CAP-1": 2})
    put = await http.put(f"/api/shows/{slug}/bag", json={"product_ids": [cap["id"], pinned["id"]]}, headers=auth(host_token))
    assert put.status_code == 200, put.text
    return slug, pinned, cap


async def test_the_host_chooses_the_bag_and_viewers_see_it_pinned_first(client: httpx.AsyncClient, host_token: str) -> None:
    slug, pinned, cap = await show_with_bag(client, host_token)
    snapshot = (await client.get(f"/api/shows/{slug}")).json()
    assert [p["id"] for p in snapshot["bag"]] == [pinned["id"], cap["id"]], "the pinned one first, then the host's order"
    assert snapshot["stock"]["CAP-1"] == 2, "a bag product's stock is in the snapshot"
    assert (await client.get(f"/api/shows/{slug}/bag", headers=auth(host_token))).json() == {"product_ids": [cap["id"], pinned["id"]]}

    buyer = await new_buyer(client)
    assert (await hold(client, slug, buyer, "CAP-1")).status_code == 201, "a bag product sells at list price while live"

    emptied = await client.put(f"/api/shows/{slug}/bag", json={"product_ids": []}, headers=auth(host_token))
    assert emptied.status_code == 200
    refused = await hold(client, slug, buyer, "CAP-1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_on_sale", "out of the bag: not on sale"
    assert [p["id"] for p in (await client.get(f"/api/shows/{slug}")).json()["bag"]] == [pinned["id"]]


async def test_bag_bad_input_and_other_hosts(client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    slug, pinned, cap = await show_with_bag(client, host_token)
    theirs = await add_product(client, other_host_token, "Not yours", {"NY-1": 1})
    for body, code in [
        ({"product_ids": [theirs["id"]]}, "invalid_request"),
        ({"product_ids": [cap["id"], cap["id"]]}, "invalid_request"),
        ({"product_ids": ["1"]}, "invalid_request"),
        ({"product_ids": list(range(1, 60))}, "invalid_request"),
        ({"products": []}, "invalid_request"),
    ]:
        answer = await client.put(f"/api/shows/{slug}/bag", json=body, headers=auth(host_token))
        assert answer.status_code == 422 and answer.json()["error"]["code"] == code, (body, answer.text)
    bad_json = await client.put(f"/api/shows/{slug}/bag", content=b"{", headers={**auth(host_token), "Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "malformed_json"
    other = await client.put(f"/api/shows/{slug}/bag", json={"product_ids": []}, headers=auth(other_host_token))
    assert other.status_code == 404, "another host's show is not found, never forbidden"
    assert (await client.put(f"/api/shows/{slug}/bag", json={"product_ids": []})).status_code == 401
    snapshot = (await client.get(f"/api/shows/{slug}")).json()
    assert [p["id"] for p in snapshot["bag"]] == [pinned["id"], cap["id"]], "nothing half-written"


async def test_one_checkout_pays_for_several_holds(client: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker) -> None:
    slug, pinned, cap = await show_with_bag(client, host_token)
    buyer = await new_buyer(client, "Kim")
    shoe = (await hold(client, slug, buyer, "AUR-42")).json()
    hat = (await hold(client, slug, buyer, "CAP-1")).json()
    assert shoe["expires_at"] and hat["expires_at"], "each hold has its own timer"

    body = checkout_body(hold_ids=[hat["hold_id"], shoe["hold_id"]])
    declined = await client.post(f"/api/shows/{slug}/bag/checkout", json={**body, "card_number": CARD_DECLINED}, headers=auth(buyer))
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "payment_declined"
    me = (await client.get("/api/buyers/me", headers=auth(buyer))).json()
    assert {h["hold_id"] for h in me["holds"]} == {shoe["hold_id"], hat["hold_id"]}, "a decline keeps both holds"

    paid = await client.post(f"/api/shows/{slug}/bag/checkout", json=body, headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    order = paid.json()
    assert order["status"] == "paid" and order["total_cents"] == 12900 + 2500
    assert sorted(line["sku"] for line in order["lines"]) == ["AUR-42", "CAP-1"]

    # The same bag in another order, or again: the same order (200), charged once.
    again = await client.post(f"/api/shows/{slug}/bag/checkout", json={**body, "hold_ids": [shoe["hold_id"], hat["hold_id"]]},
                              headers=auth(buyer))
    assert again.status_code == 200 and again.json()["order_id"] == order["order_id"]
    one = await client.post(f"/api/holds/{hat['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))
    assert one.status_code == 200 and one.json()["order_id"] == order["order_id"], "each hold's own checkout finds the bag's order"

    stock = (await client.get(f"/api/shows/{slug}")).json()["stock"]
    assert stock["AUR-42"] == 2 and stock["CAP-1"] == 1, "both units sold, once"
    async with sessions() as session:
        orders = (await session.execute(select(Order).where(Order.buyer_id == order["buyer_id"] if "buyer_id" in order else
                                                             Order.id == order["order_id"]))).scalars().all()
        assert len(orders) == 1
        lines = (await session.execute(select(OrderLine.hold_id).where(OrderLine.order_id == order["order_id"]))).scalars().all()
        assert sorted(lines) == sorted([shoe["hold_id"], hat["hold_id"]])
        sold = dict((await session.execute(select(Variant.sku, Variant.sold).where(Variant.sku.in_(["AUR-42", "CAP-1"])))).all())
        assert sold == {"AUR-42": 1, "CAP-1": 1}
    me = (await client.get("/api/buyers/me", headers=auth(buyer))).json()
    assert me["holds"] == [] and [o["order_id"] for o in me["orders"]] == [order["order_id"]]


async def test_bag_checkout_refusals_change_nothing(client: httpx.AsyncClient, host_token: str) -> None:
    slug, pinned, cap = await show_with_bag(client, host_token)
    buyer, other = await new_buyer(client), await new_buyer(client)
    shoe = (await hold(client, slug, buyer, "AUR-42")).json()
    hat = (await hold(client, slug, buyer, "CAP-1")).json()
    theirs = (await hold(client, slug, other, "CAP-1")).json()
    url = f"/api/shows/{slug}/bag/checkout"

    for hold_ids, status, code in [
        ([], 422, "invalid_request"),
        ([shoe["hold_id"], shoe["hold_id"]], 422, "invalid_request"),
        ([f"h{i}" for i in range(11)], 422, "invalid_request"),
        ([shoe["hold_id"], theirs["hold_id"]], 404, "not_found"),
        ([shoe["hold_id"], "1:nosuchhold"], 410, "hold_expired"),
    ]:
        answer = await client.post(url, json=checkout_body(hold_ids=hold_ids), headers=auth(buyer))
        assert answer.status_code == status and answer.json()["error"]["code"] == code, (hold_ids, answer.text)
    bad_card = await client.post(url, json=checkout_body(hold_ids=[shoe["hold_id"]], card="4242424242424241"), headers=auth(buyer))
    assert bad_card.status_code == 422 and bad_card.json()["error"]["code"] == "invalid_card"
    client.cookies.clear()  # POST /api/buyers set the last buyer's cookie
    assert (await client.post(url, json=checkout_body(hold_ids=[shoe["hold_id"]]))).status_code == 401

    # Another show's hold cannot join this show's bag.
    slug2, _ = await live_show_with_product(client, host_token, {"ZED-1": 1}, title="Zed")
    zed = (await hold(client, slug2, buyer, "ZED-1")).json()
    mixed = await client.post(url, json=checkout_body(hold_ids=[shoe["hold_id"], zed["hold_id"]]), headers=auth(buyer))
    assert mixed.status_code == 422 and mixed.json()["error"]["code"] == "bag_mixed"

    # A hold bought on its own cannot be paid again in a bag.
    alone = await client.post(f"/api/holds/{hat['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))
    assert alone.status_code == 201
    conflict = await client.post(url, json=checkout_body(hold_ids=[shoe["hold_id"], hat["hold_id"]]), headers=auth(buyer))
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "bag_conflict"

    me = (await client.get("/api/buyers/me", headers=auth(buyer))).json()
    assert {h["hold_id"] for h in me["holds"]} == {shoe["hold_id"], zed["hold_id"]}, "the other holds are untouched and unlocked"
    assert len(me["orders"]) == 1
    shoe_paid = await client.post(url, json=checkout_body(hold_ids=[shoe["hold_id"]]), headers=auth(buyer))
    assert shoe_paid.status_code == 201, "after every refusal the hold still pays"


async def test_per_customer_limits_apply_per_item(client: httpx.AsyncClient, host_token: str) -> None:
    """An offer on a bag product (one per customer) prices and limits it there too: the same email
    cannot buy a second cap through a second buyer's bag; the bag's other item is left untouched."""
    slug, pinned, cap = await show_with_bag(client, host_token)
    offer = await client.post(f"/api/shows/{slug}/offers", json={"product_id": cap["id"], "price_cents": 2000, "duration_s": 120,
                                                               "per_customer_limit": 1}, headers=auth(host_token))
    assert offer.status_code == 201, offer.text
    first, second = await new_buyer(client), await new_buyer(client)
    hat1 = (await hold(client, slug, first, "CAP-1")).json()
    assert hat1["price_cents"] == 2000 and hat1["offer_id"] == offer.json()["id"], "the live offer's terms"
    paid = await client.post(f"/api/shows/{slug}/bag/checkout", json=checkout_body(hold_ids=[hat1["hold_id"]]), headers=auth(first))
    assert paid.status_code == 201
    shoe2 = (await hold(client, slug, second, "AUR-42")).json()
    hat2 = (await hold(client, slug, second, "CAP-1")).json()
    refused = await client.post(f"/api/shows/{slug}/bag/checkout", json=checkout_body(hold_ids=[shoe2["hold_id"], hat2["hold_id"]]),
                                headers=auth(second))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "limit_reached", refused.text
    me = (await client.get("/api/buyers/me", headers=auth(second))).json()
    assert {h["hold_id"] for h in me["holds"]} == {shoe2["hold_id"], hat2["hold_id"]}, "both holds stay, unlocked"
    other_email = await client.post(f"/api/shows/{slug}/bag/checkout",
                                    json=checkout_body(email="lee@example.com", hold_ids=[shoe2["hold_id"], hat2["hold_id"]]),
                                    headers=auth(second))
    assert other_email.status_code == 201, other_email.text
