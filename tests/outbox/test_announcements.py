"""What is announced, and only with its change: shows, offers, the order's life and low stock,
each event written in the transaction of the change (read back from the outbox table), and the
buyer's notices for the order's life arriving by email."""

from __future__ import annotations

import email
import email.policy
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.checkout import LOW_STOCK_UNITS
from inventory.outbox import OutboxEvent
from tests.outbox.conftest import Clock
from tests.outbox.test_email import BASE, body_text, channel, worker
from tests.web.buying import auth, checkout_body, hold, new_buyer


async def events(sessions: async_sessionmaker) -> list[OutboxEvent]:
    async with sessions() as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.created_at, OutboxEvent.id))).scalars())


async def test_shows_offers_orders_and_low_stock_are_announced_once_each(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, clock: Clock, tmp_path: Path) -> None:
    host = auth(host_token)
    sku = f"LS-{uuid.uuid4().hex[:6]}"
    product = (await http.post("/api/products", headers=host, json={
        "title": "Low Runner", "price_cents": 5000, "currency": "USD",
        "variants": [{"sku": sku, "label": "42", "stock": LOW_STOCK_UNITS + 1}]})).json()
    slug = (await http.post("/api/shows", headers=host, json={"title": "Announce night"})).json()["slug"]
    assert (await http.post(f"/api/shows/{slug}/start", headers=host)).status_code == 200
    assert (await http.post(f"/api/shows/{slug}/start", headers=host)).status_code == 200  # again: no second show.live
    await http.put(f"/api/shows/{slug}/pin", headers=host, json={"product_id": product["id"]})
    offer = await http.post(f"/api/shows/{slug}/offers", headers=host, json={
        "product_id": product["id"], "price_cents": 4000, "duration_s": 600, "per_customer_limit": 5})
    assert offer.status_code == 201, offer.text

    orders = []
    for n in range(2):  # stock 4: the first sale leaves 3 (not low), the second 2 (low: announced once)
        buyer = await new_buyer(http)
        held = await hold(http, slug, buyer, sku)
        paid = await http.post(f"/api/holds/{held.json()['hold_id']}/checkout", headers=auth(buyer),
                               json=checkout_body(f"buyer{n}@example.com"))
        assert paid.status_code == 201, paid.text
        orders.append(paid.json())
    first, second = orders
    shipped = await http.post(f"/api/orders/{first['order_id']}/fulfil", headers=host,
                              json={"carrier": "UPS", "tracking_number": "1Z999AA10123456784"})
    assert shipped.status_code == 200, shipped.text
    assert (await http.post(f"/api/orders/{first['order_id']}/deliver", headers=host, json={})).status_code == 200
    cancelled = await http.post(f"/api/orders/{second['order_id']}/cancel", headers=host, json={})
    assert cancelled.status_code == 200, cancelled.text
    assert (await http.post(f"/api/shows/{slug}/end", headers=host)).status_code == 200

    kinds = sorted(e.kind for e in await events(sessions))  # events of one millisecond have no order
    assert kinds == sorted(["show.scheduled", "show.live", "offer.started", "order.paid", "order.paid", "stock.low",
                            "order.fulfilled", "order.delivered", "order.cancelled", "show.ended"])
    by_kind = {e.kind: e for e in await events(sessions)}
    assert by_kind["stock.low"].payload["sku"] == sku and by_kind["stock.low"].payload["unsold"] == LOW_STOCK_UNITS - 1
    assert by_kind["offer.started"].payload["offer_id"] == offer.json()["id"]
    assert by_kind["show.ended"].payload["slug"] == slug
    assert {e.host_id for e in await events(sessions)} == {by_kind["show.live"].host_id}

    # The buyer's notices: confirmation x2, shipping (with the tracking number), cancellation.
    mail_dir = tmp_path / "mail"
    await worker(sessions, clock, channel(None, mail_dir)).tick()
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(mail_dir.iterdir())]
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert len(mails) == 4, subjects
    [shipping] = [m for m in mails if "on its way" in str(m["Subject"])]
    text = body_text(shipping, "plain")  # type: ignore[arg-type]
    assert "UPS" in text and "1Z999AA10123456784" in text and f"{BASE}/orders/{first['order_id']}" in text
    [cancel] = [m for m in mails if "cancelled" in str(m["Subject"])]
    assert cancel["To"] == "buyer1@example.com" and "$40.00" in body_text(cancel, "plain")  # type: ignore[arg-type]


async def test_nothing_is_announced_for_a_change_that_did_not_commit(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker) -> None:
    host = auth(host_token)
    slug = (await http.post("/api/shows", headers=host, json={"title": "Refused"})).json()["slug"]
    assert (await http.post(f"/api/shows/{slug}/end", headers=host)).status_code == 200
    before = len(await events(sessions))
    refused = await http.post(f"/api/shows/{slug}/start", headers=host)  # an ended show cannot start
    assert refused.status_code == 409
    assert len(await events(sessions)) == before


async def test_a_paid_order_voided_for_want_of_a_unit_is_announced_refunded(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, outbox_app) -> None:  # type: ignore[no-untyped-def]
    from tests.outbox.test_webhooks import paid_order

    paid = await paid_order(http, host_token, "void@example.com")
    checkout = outbox_app.state.livedrop.checkout
    order = await checkout.get_order(paid["order_id"])
    await checkout._void(order, None)  # as when Redis had no unit left for the paid hold
    await checkout._void(order, None)  # again (a retry): announced once
    refunded = [e for e in await events(sessions) if e.kind == "order.refunded"]
    assert len(refunded) == 1 and refunded[0].payload["reason"] == "no_unit_left"
    assert refunded[0].payload["email"] == "void@example.com" and refunded[0].payload["refunded_cents"] == paid["total_cents"]
