"""A fresh link to one's orders by email (issue 17's "buyer's way back", sent through the outbox):
the request answers the same whether or not the address bought, the email goes out only when it
did, and the link opens that address's orders on any device for a day."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.outbox import OutboxEvent
from web.orders_link import OrdersLinkTokens

from .buying import auth, checkout_body, hold, live_show_with_product, new_buyer


async def links_announced(sessions: async_sessionmaker) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.execute(select(OutboxEvent).where(OutboxEvent.kind == "buyer.orders_link"))
        return [dict(e.payload) for e in rows.scalars()]


async def test_a_link_by_email_opens_that_addresses_orders(client: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker,
                                                           app: Any) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"OL-1": 3})
    buyer = await new_buyer(client)
    held = await hold(client, slug, buyer, "OL-1", key="ol-1")
    assert held.status_code == 201, held.text
    paid = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body("Kim.Lee@example.com"),
                             headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    number = paid.json()["number"]

    # Another device: no cookie, no buyer token. The address typed in another case still matches.
    client.cookies.clear()
    asked = await client.post("/api/buyers/orders-link", json={"email": "kim.lee@EXAMPLE.com"})
    assert asked.status_code == 202 and asked.json()["sent"] is True
    nobody = await client.post("/api/buyers/orders-link", json={"email": "nobody@example.com"})
    assert nobody.status_code == 202 and nobody.json() == asked.json()  # nothing tells who bought here
    [sent] = await links_announced(sessions)
    assert sent["email"] == "kim.lee@EXAMPLE.com"
    path = re.sub(r"^https?://[^/]+", "", sent["url"])
    assert path.startswith("/orders?t=")

    page = await client.get(path)
    assert page.status_code == 200 and f"Order {number}" in page.text and "kim.lee@example.com" in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"

    # A link altered, made with another secret, or older than a day shows nothing.
    forged = OrdersLinkTokens("another-secret-0123456789abcdef").issue("kim.lee@example.com")
    for bad in (path[:-2] + "xx", f"/orders?t={forged}"):
        shown = await client.get(bad)
        assert shown.status_code == 200 and f"Order {number}" not in shown.text and 'id="link-expired"' in shown.text
    tokens = app.state.livedrop.orders_link_tokens
    old = tokens._serializer.dumps("kim.lee@example.com")  # signed now, checked a day and a minute later
    import time as time_module
    real_time = time_module.time
    try:
        time_module.time = lambda: real_time() + 24 * 3600 + 60  # type: ignore[assignment]
        assert tokens.email_of(old) is None
    finally:
        time_module.time = real_time  # type: ignore[assignment]
    assert tokens.email_of(old) == "kim.lee@example.com"


async def test_bad_addresses_and_too_many_requests_are_refused(client: httpx.AsyncClient) -> None:
    for body in ({"email": "not-an-address"}, {"email": "a@b"}, {"email": "x" * 320 + "@example.com"}, {}, {"email": 5}):
        answer = await client.post("/api/buyers/orders-link", json=body)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request", (body, answer.text)
    statuses = [(await client.post("/api/buyers/orders-link", json={"email": f"k{n}@example.com"})).status_code for n in range(6)]
    assert statuses[:5] == [202] * 5
    assert statuses[5] == 429
