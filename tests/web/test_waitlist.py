"""Back in stock through the real app (docs/notify.md): a unit that comes back goes to the first on
its size's list, as a hold nobody else can take, before general sale; the deadline and "No thanks"
pass it on; when nobody waits it is on sale again. Real Redis, real database."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.clock import now_ms
from inventory.outbox import OutboxEvent
from inventory.stock import StockStore

from .buying import auth, checkout_body, hold, live_show_with_product, new_buyer


def _root(app: Any) -> Any:
    return app.state.livedrop


async def _join(client: httpx.AsyncClient, slug: str, buyer: str, variant_id: int, email: str | None = None) -> httpx.Response:
    return await client.post(f"/api/shows/{slug}/waitlist", json={"variant_id": variant_id, **({"email": email} if email else {})},
                             headers=auth(buyer))


async def _mine(client: httpx.AsyncClient, slug: str, buyer: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/shows/{slug}/waitlist/me", headers=auth(buyer))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["entries"])


async def _offers(sessions: async_sessionmaker) -> list[dict[str, Any]]:
    async with sessions() as session:
        events = (await session.execute(select(OutboxEvent).where(OutboxEvent.kind == "waitlist.offered")
                                        .order_by(OutboxEvent.created_at))).scalars().all()
        return [e.payload for e in events]


async def _hold_soon(client: httpx.AsyncClient, slug: str, buyer: str, sku: str) -> httpx.Response:
    """A hold, pressed again while the app's own sold-out flag (half a second, set by the earlier
    refusals; the sweep above ran in another StockStore) lasts."""
    for _ in range(30):
        answer = await hold(client, slug, buyer, sku)
        if answer.status_code != 409:
            return answer
        await asyncio.sleep(0.1)
    return answer


async def _balanced(app: Any, product_id: int) -> dict[str, Any]:
    counts = await _root(app).stock.counts(product_id)
    for c in counts.values():
        assert c.available + c.held + c.sold == c.loaded, counts
    return counts


async def test_a_returned_unit_is_offered_to_the_first_on_the_list_before_anyone_can_hold_it(
    client: httpx.AsyncClient, host_token: str, app: Any, sessions: async_sessionmaker,
) -> None:
    slug, product = await live_show_with_product(client, host_token, {"S9": 1, "S10": 3})
    size9, size10 = (v["id"] for v in product["variants"])
    first_holder, bea, cal, dee = [await new_buyer(client) for _ in range(4)]

    held = await hold(client, slug, first_holder, "S9")
    assert held.status_code == 201, held.text
    in_stock = await _join(client, slug, bea, size10)
    assert in_stock.status_code == 409 and in_stock.json()["error"]["code"] == "in_stock"

    joined = await _join(client, slug, bea, size9, "bea@example.com")
    assert joined.status_code == 201, joined.text
    assert joined.json()["place"] == 1 and joined.json()["state"] == "waiting"
    again = await _join(client, slug, bea, size9)
    assert again.status_code == 200 and again.json()["place"] == 1, "one entry per buyer and size"
    assert (await _join(client, slug, cal, size9, "cal@example.com")).json()["place"] == 2

    # The first holder lets go: the unit goes to Bea inside the same script, so Dee, pressing at
    # once, finds the size still sold out.
    released = await client.delete(f"/api/holds/{held.json()['hold_id']}", headers=auth(first_holder))
    assert released.status_code == 204
    refused = await hold(client, slug, dee, "S9")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "sold_out", refused.text
    [entry] = await _mine(client, slug, bea)
    assert entry["state"] == "offered" and entry["offer"]["sku"] == "S9" and entry["offer"]["price_cents"] == 12900
    assert entry["offer"]["deadline"] > now_ms() + 14 * 60_000, "default deadline: 15 minutes"
    me = (await client.get("/api/buyers/me", headers=auth(bea))).json()
    assert [h["hold_id"] for h in me["holds"]] == [entry["offer"]["hold_id"]], "the offer is an ordinary hold"
    assert (await _mine(client, slug, cal))[0]["offer"] is None

    # The job records and announces it (once, however often it runs).
    await _root(app).waitlists.deliver()
    await _root(app).waitlists.deliver()
    offers = await _offers(sessions)
    assert [(o["email"], o["variant_label"], o["product_title"]) for o in offers] == [("bea@example.com", "S9", "Aurora Runner")]
    assert offers[0]["deadline"] == entry["offer"]["deadline"] and offers[0]["url"].endswith(f"/s/{slug}")
    sizes = (await client.get("/api/waitlist", headers=auth(host_token))).json()["sizes"]
    assert [(s["sku"], s["waiting"], s["offered"]) for s in sizes] == [("S9", 1, 1)]

    # "No thanks": Cal's turn; still nobody else can hold it.
    declined = await client.post(f"/api/shows/{slug}/waitlist/offers/{entry['id']}/decline", headers=auth(bea))
    assert declined.status_code == 204, declined.text
    assert (await hold(client, slug, dee, "S9")).status_code == 409
    [cal_entry] = await _mine(client, slug, cal)
    assert cal_entry["offer"] is not None and cal_entry["offer"]["sku"] == "S9"
    twice = await client.post(f"/api/shows/{slug}/waitlist/offers/{entry['id']}/decline", headers=auth(bea))
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "offer_closed"
    not_hers = await client.post(f"/api/shows/{slug}/waitlist/offers/{cal_entry['id']}/decline", headers=auth(bea))
    assert not_hers.status_code == 404
    await _balanced(app, product["id"])

    # Cal lets the deadline pass (a sweeper whose clock is 16 minutes on): the list is empty, so
    # the unit is on general sale again and Dee gets it.
    later = StockStore(_root(app).stock.redis, clock=lambda: now_ms() + 16 * 60_000)
    assert (await later.sweep([product["id"]])).units_returned == 1
    assert await _mine(client, slug, cal) == []
    assert (await _root(app).stock.available(product["id"]))["S9"] == 1
    bought = await _hold_soon(client, slug, dee, "S9")
    assert bought.status_code == 201, bought.text
    await _balanced(app, product["id"])


async def test_the_deadline_passes_the_unit_to_the_next_and_an_accepted_offer_checks_out(
    client: httpx.AsyncClient, host_token: str, app: Any, sessions: async_sessionmaker,
) -> None:
    slug, product = await live_show_with_product(client, host_token, {"M": 1})
    size = product["variants"][0]["id"]
    first, ann, ben, other = [await new_buyer(client) for _ in range(4)]
    held = await hold(client, slug, first, "M")
    assert held.status_code == 201
    for buyer in (ann, ben):
        assert (await _join(client, slug, buyer, size)).status_code == 201

    # The first hold expires: Ann's offer.
    later = StockStore(_root(app).stock.redis, clock=lambda: now_ms() + 6 * 60_000)
    assert (await later.sweep([product["id"]])).units_returned == 1
    [ann_entry] = await _mine(client, slug, ann)
    assert ann_entry["offer"] is not None
    # Ann's deadline passes: Ben's offer (a sweeper 16 minutes on).
    much_later = StockStore(_root(app).stock.redis, clock=lambda: now_ms() + 16 * 60_000)
    await much_later.sweep([product["id"]])
    assert await _mine(client, slug, ann) == []
    [ben_entry] = await _mine(client, slug, ben)
    assert ben_entry["offer"] is not None
    assert (await hold(client, slug, other, "M")).json()["error"]["code"] == "sold_out"

    # Ben takes it: the offer is a hold, checked out as usual.
    order = await client.post(f"/api/holds/{ben_entry['offer']['hold_id']}/checkout", json=checkout_body("ben@example.com"),
                              headers=auth(ben))
    assert order.status_code == 201, order.text
    assert order.json()["status"] == "paid" and order.json()["total_cents"] >= 12900
    assert await _mine(client, slug, ben) == []
    counts = await _balanced(app, product["id"])
    assert (counts["M"].sold, counts["M"].available) == (1, 0)


async def test_a_restock_and_a_refund_serve_the_list_first(
    client: httpx.AsyncClient, host_token: str, app: Any,
) -> None:
    slug, product = await live_show_with_product(client, host_token, {"L": 1})
    size = product["variants"][0]["id"]
    first, ann, ben, other = [await new_buyer(client) for _ in range(4)]
    held = await hold(client, slug, first, "L")
    order = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body(), headers=auth(first))
    assert order.status_code == 201, order.text
    for buyer in (ann, ben):
        assert (await _join(client, slug, buyer, size)).status_code == 201

    # The host restocks one more: Ann's, not the sale's.
    patched = await client.patch(f"/api/products/{product['id']}", json={"variants": [{"sku": "L", "stock": 2}]},
                                 headers=auth(host_token))
    assert patched.status_code == 200, patched.text
    assert (await _mine(client, slug, ann))[0]["offer"] is not None
    assert (await hold(client, slug, other, "L")).json()["error"]["code"] == "sold_out"
    # A refund with restock: Ben's.
    cancelled = await client.post(f"/api/orders/{order.json()['order_id']}/cancel", headers=auth(host_token))
    assert cancelled.status_code == 200, cancelled.text
    assert (await _mine(client, slug, ben))[0]["offer"] is not None
    assert (await hold(client, slug, other, "L")).json()["error"]["code"] == "sold_out"
    await _balanced(app, product["id"])


async def test_bad_waitlist_requests(client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"XS": 0})
    buyer = await new_buyer(client)
    client.cookies.clear()  # new_buyer's cookie would sign the next request in
    no_buyer = await client.post(f"/api/shows/{slug}/waitlist", json={"variant_id": product["variants"][0]["id"]})
    assert no_buyer.status_code == 401
    for body in ({}, {"variant_id": "1"}, {"variant_id": 0}, {"variant_id": product["variants"][0]["id"], "email": "nope"},
                 {"variant_id": product["variants"][0]["id"], "email": "a@b.co" + "x" * 400}, {"variant_id": 1, "extra": 1}):
        answer = await client.post(f"/api/shows/{slug}/waitlist", json=body, headers=auth(buyer))
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request", (body, answer.text)
    other = await client.post("/api/products", headers=auth(other_host_token), json={
        "title": "Theirs", "price_cents": 100, "currency": "USD", "variants": [{"sku": "T1", "label": "T1", "stock": 0}]})
    foreign = await _join(client, slug, buyer, other.json()["variants"][0]["id"])
    assert foreign.status_code == 404, "another host's size is not in this show"
    assert (await _join(client, "no-such-show", buyer, product["variants"][0]["id"])).status_code == 404
    assert (await client.post(f"/api/shows/{slug}/waitlist/offers/wl_nothing/decline", headers=auth(buyer))).status_code == 404
    assert (await client.post(f"/api/shows/{slug}/waitlist/offers/{'x' * 100}/decline", headers=auth(buyer))).status_code == 404
    assert (await client.get("/api/waitlist")).status_code == 401
