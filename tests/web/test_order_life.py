"""The order's life through the real app: shipped -> delivered, refunds per line with and without
restock, cancel, and every refusal (issue 17; inventory.order_life, docs/orders.md)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.models import Variant

from .buying import auth, checkout_body, hold, live_show_with_product, new_buyer


async def stock_of(client: httpx.AsyncClient, slug: str) -> dict[str, int]:
    return (await client.get(f"/api/shows/{slug}")).json()["stock"]


async def bought(client: httpx.AsyncClient, slug: str, sku: str = "S1", quantity: int = 1) -> tuple[str, dict[str, Any]]:
    buyer = await new_buyer(client)
    held = await hold(client, slug, buyer, sku, quantity)
    assert held.status_code == 201, held.text
    paid = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    return buyer, paid.json()


async def provider_refunds(app: Any, order_id: str, sessions: async_sessionmaker) -> list[int]:
    from inventory.models import Order

    from web.livedrop import Livedrop

    root: Livedrop = app.state.livedrop
    async with sessions() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return await root.payments.refunds(order.payment_id)  # type: ignore[attr-defined]


async def sold_in_sql(sessions: async_sessionmaker, sku: str) -> int:
    async with sessions() as session:
        return int((await session.execute(select(Variant.sold).where(Variant.sku == sku))).scalar_one())


async def test_full_life_paid_shipped_delivered_with_history(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 3})
    buyer, order = await bought(client, slug)
    oid = order["order_id"]
    assert order["history"] == [] and order["refunded_cents"] == 0 and order["lines"][0]["line_id"] >= 1

    early = await client.post(f"/api/orders/{oid}/deliver", headers=auth(host_token))
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_state"

    shipped = await client.post(f"/api/orders/{oid}/fulfil", json={"carrier": "UPS", "tracking_number": "1Z999"},
                                headers=auth(host_token))
    assert shipped.status_code == 200, shipped.text
    body = shipped.json()
    assert body["status"] == "fulfilled" and body["carrier"] == "UPS" and body["tracking_number"] == "1Z999"
    assert body["fulfilled_at"] is not None
    again = await client.post(f"/api/orders/{oid}/fulfil", json={"carrier": "UPS", "tracking_number": "1Z999"},
                              headers=auth(host_token))
    assert again.status_code == 200 and len(again.json()["history"]) == 1, "the same shipment again changes nothing"

    delivered = await client.post(f"/api/orders/{oid}/deliver", headers=auth(host_token))
    assert delivered.status_code == 200 and delivered.json()["status"] == "delivered"
    history = delivered.json()["history"]
    assert [e["kind"] for e in history] == ["fulfilled", "delivered"]
    host_id = history[0]["actor"]
    assert host_id.startswith("host:") and all(e["actor"] == host_id for e in history)
    assert history[0]["data"] == {"carrier": "UPS", "tracking_number": "1Z999"}
    assert history[0]["at"] <= history[1]["at"]

    # The buyer sees the same life on its order.
    mine = (await client.get(f"/api/orders/{oid}", headers=auth(buyer))).json()
    assert mine["status"] == "delivered" and mine["tracking_number"] == "1Z999" and len(mine["history"]) == 2

    late = await client.post(f"/api/orders/{oid}/cancel", headers=auth(host_token))
    assert late.status_code == 409 and late.json()["error"]["code"] == "invalid_state"


async def test_cancel_before_fulfilment_refunds_and_restocks(client: httpx.AsyncClient, host_token: str, app: Any,
                                                           sessions: async_sessionmaker) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 2})
    _, order = await bought(client, slug)
    assert (await stock_of(client, slug))["S1"] == 1 and await sold_in_sql(sessions, "S1") == 1

    cancelled = await client.post(f"/api/orders/{order['order_id']}/cancel", headers=auth(host_token))
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["refunded_cents"] == order["total_cents"]
    assert body["lines"][0]["refunded_quantity"] == 1 and body["lines"][0]["restocked_quantity"] == 1
    assert [e["kind"] for e in body["history"]] == ["cancelled"]
    assert (await stock_of(client, slug))["S1"] == 2, "the unit is back on sale"
    assert await sold_in_sql(sessions, "S1") == 0
    assert await provider_refunds(app, order["order_id"], sessions) == [order["total_cents"]]

    again = await client.post(f"/api/orders/{order['order_id']}/cancel", headers=auth(host_token))
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert await provider_refunds(app, order["order_id"], sessions) == [order["total_cents"]], "never twice"
    assert (await stock_of(client, slug))["S1"] == 2
    refund = await client.post(f"/api/orders/{order['order_id']}/refund", json={}, headers=auth(host_token))
    assert refund.status_code == 409 and refund.json()["error"]["code"] == "invalid_state"


async def test_cancel_after_fulfilment_is_refused(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 2})
    _, order = await bought(client, slug)
    assert (await client.post(f"/api/orders/{order['order_id']}/fulfil", json={}, headers=auth(host_token))).status_code == 200
    refused = await client.post(f"/api/orders/{order['order_id']}/cancel", headers=auth(host_token))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invalid_state"
    assert (await stock_of(client, slug))["S1"] == 1


async def test_refund_one_unit_with_and_without_restock(client: httpx.AsyncClient, host_token: str, app: Any,
                                                      sessions: async_sessionmaker) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 5})
    # Quantity 2 on one line: refund one unit with restock, then the other without.
    buyer = await new_buyer(client)
    held = await hold(client, slug, buyer, "S1", 2)
    assert held.status_code == 201, held.text
    order = (await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))).json()
    oid, line_id, unit = order["order_id"], order["lines"][0]["line_id"], order["lines"][0]["unit_price_cents"]
    assert (await stock_of(client, slug))["S1"] == 3

    one = await client.post(f"/api/orders/{oid}/refund", json={"lines": [{"line_id": line_id, "quantity": 1}], "restock": True},
                            headers=auth(host_token))
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["status"] == "partially_refunded" and body["refunded_cents"] == unit
    assert body["lines"][0]["refunded_quantity"] == 1 and body["lines"][0]["restocked_quantity"] == 1
    assert (await stock_of(client, slug))["S1"] == 4, "the restocked unit is on sale again"
    assert await sold_in_sql(sessions, "S1") == 1

    rest = await client.post(f"/api/orders/{oid}/refund", json={"lines": [{"line_id": line_id, "quantity": 1}], "restock": False},
                             headers=auth(host_token))
    assert rest.status_code == 200, rest.text
    assert rest.json()["status"] == "refunded" and rest.json()["refunded_cents"] == order["total_cents"]
    assert rest.json()["lines"][0]["restocked_quantity"] == 1
    assert (await stock_of(client, slug))["S1"] == 4, "without restock the unit stays off sale"
    assert await sold_in_sql(sessions, "S1") == 1
    assert await provider_refunds(app, oid, sessions) == [unit, order["total_cents"] - unit]
    assert [e["kind"] for e in rest.json()["history"]] == ["partially_refunded", "refunded"]
    assert rest.json()["history"][0]["data"]["restock"] is True and rest.json()["history"][1]["data"]["restock"] is False

    # The show's figures count what stays sold.
    stats = (await client.get(f"/api/shows/{slug}/stats", headers=auth(host_token))).json()
    assert stats["units_sold"] == 1 and stats["revenue"].get("USD", 0) == 0


async def test_a_retried_refund_does_not_refund_twice_and_more_than_paid_is_422(
    client: httpx.AsyncClient, host_token: str, app: Any, sessions: async_sessionmaker
) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 5})
    _, order = await bought(client, slug)
    oid, line_id = order["order_id"], order["lines"][0]["line_id"]

    too_many = await client.post(f"/api/orders/{oid}/refund", json={"lines": [{"line_id": line_id, "quantity": 2}], "restock": True},
                                 headers=auth(host_token))
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "refund_exceeds_paid"
    unknown = await client.post(f"/api/orders/{oid}/refund", json={"lines": [{"line_id": line_id + 999, "quantity": 1}]},
                                headers=auth(host_token))
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "invalid_request"
    assert await provider_refunds(app, oid, sessions) == []

    headers = {**auth(host_token), "Idempotency-Key": "refund-click-1"}
    first = await client.post(f"/api/orders/{oid}/refund", json={"restock": True}, headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "refunded", first.text
    second = await client.post(f"/api/orders/{oid}/refund", json={"restock": True}, headers=headers)
    assert second.status_code == 200 and second.json() == first.json(), "the same key: the same answer"
    assert await provider_refunds(app, oid, sessions) == [order["total_cents"]], "one refund at the provider"
    assert (await stock_of(client, slug))["S1"] == 5, "restocked once"
    without_key = await client.post(f"/api/orders/{oid}/refund", json={"restock": True}, headers=auth(host_token))
    assert without_key.status_code == 409 and without_key.json()["error"]["code"] == "invalid_state"
    assert await provider_refunds(app, oid, sessions) == [order["total_cents"]]
    over = await client.post(f"/api/orders/{oid}/refund", json={"lines": [{"line_id": line_id, "quantity": 1}]},
                             headers=auth(host_token))
    assert over.status_code == 409


async def test_a_refund_interrupted_after_the_provider_call_is_finished_once(
    client: httpx.AsyncClient, host_token: str, app: Any, sessions: async_sessionmaker
) -> None:
    """A refund written 'pending' whose process died after the provider refunded is finished by
    the next call on the order, with the same provider key: one refund, one restock."""
    from inventory.models import Order
    from inventory.orders import refund_marker

    root = app.state.livedrop
    slug, _ = await live_show_with_product(client, host_token, {"S1": 5})
    _, order = await bought(client, slug)
    oid = order["order_id"]
    pending = await root.orders._start_refund(oid, None, restock=True, kind="refund", request_key=None, actor="system")
    async with sessions() as session:
        charge_id = (await session.get(Order, oid)).payment_id
    await root.payments.refund(charge_id, pending.amount_cents, refund_marker(oid, pending.n))  # then the process died
    assert (await stock_of(client, slug))["S1"] == 4

    again = await client.post(f"/api/orders/{oid}/refund", json={"restock": True}, headers=auth(host_token))
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state", "the pending one finished it all"
    body = (await client.get(f"/api/orders/{oid}", headers=auth(host_token))).json()
    assert body["status"] == "refunded" and [e["actor"] for e in body["history"]] == ["system"]
    assert await provider_refunds(app, oid, sessions) == [order["total_cents"]]
    assert (await stock_of(client, slug))["S1"] == 5
    assert await root.orders.finish_pending(oid) == 0


async def test_the_background_job_finishes_a_refund_a_crash_left_pending(
    client: httpx.AsyncClient, host_token: str, app: Any, sessions: async_sessionmaker
) -> None:
    """A refund written 'pending' by a process that died before asking the provider, on an order
    nobody touches again: the stalled-refunds job finishes it once it is old enough, and only
    once (one provider refund, one restock)."""
    root = app.state.livedrop
    assert "stalled-refunds" in [job.name for job in root.jobs]
    slug, _ = await live_show_with_product(client, host_token, {"S1": 5})
    _, order = await bought(client, slug)
    oid = order["order_id"]
    await root.orders._start_refund(oid, None, restock=True, kind="refund", request_key=None, actor="system")
    assert await root.orders.finish_stalled() == {}, "a refund being made right now is its caller's"
    assert await provider_refunds(app, oid, sessions) == [] and (await stock_of(client, slug))["S1"] == 4

    assert await root.orders.finish_stalled(older_than_s=0) == {oid: "finished"}
    assert await root.orders.finish_stalled(older_than_s=0) == {}
    assert await provider_refunds(app, oid, sessions) == [order["total_cents"]]
    body = (await client.get(f"/api/orders/{oid}", headers=auth(host_token))).json()
    assert body["status"] == "refunded" and body["refunded_cents"] == order["total_cents"]
    assert (await stock_of(client, slug))["S1"] == 5 and await sold_in_sql(sessions, "S1") == 0


async def test_buyers_and_other_hosts_cannot_touch_the_life(client: httpx.AsyncClient, host_token: str,
                                                           other_host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 3})
    buyer, order = await bought(client, slug)
    oid = order["order_id"]
    for path, body in (("fulfil", {}), ("deliver", {}), ("refund", {"restock": True}), ("cancel", {})):
        as_buyer = await client.post(f"/api/orders/{oid}/{path}", json=body, headers=auth(buyer))
        assert as_buyer.status_code in (401, 404), (path, as_buyer.text)
        nobody = await client.post(f"/api/orders/{oid}/{path}", json=body)
        assert nobody.status_code == 401, (path, nobody.text)
        other = await client.post(f"/api/orders/{oid}/{path}", json=body, headers=auth(other_host_token))
        assert other.status_code == 404 and other.json()["error"]["code"] == "not_found", (path, other.text)
        missing = await client.post(f"/api/orders/nosuchorder/{path}", json=body, headers=auth(host_token))
        assert missing.status_code == 404
    assert (await client.get(f"/api/orders/{oid}", headers=auth(host_token))).json()["status"] == "paid"
    assert (await stock_of(client, slug))["S1"] == 2


async def test_bulk_mark_shipped_from_csv(client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 5})
    _, a = await bought(client, slug)
    _, b = await bought(client, slug)
    _, c = await bought(client, slug)
    assert (await client.post(f"/api/orders/{c['order_id']}/cancel", headers=auth(host_token))).status_code == 200
    other_slug, _ = await live_show_with_product(client, other_host_token, {"T1": 2}, title="Other")
    _, foreign = await bought(client, other_slug, "T1")
    upload = (
        "number,carrier,tracking\n"
        f"{a['number']},UPS,1ZA\n"
        f"{b['number'].lower()},DHL,JD0002\n"
        f"{c['number']},UPS,1ZC\n"
        f"{foreign['number']},UPS,1ZF\n"
        "NOPE1234,UPS,1ZX\n"
    )
    answer = await client.post("/api/orders/shipments", content=upload,
                               headers={**auth(host_token), "Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["shipped"] == 2 and body["failed"] == 3
    results = body["results"]
    assert [r["row"] for r in results] == [2, 3, 4, 5, 6]
    assert results[0]["ok"] and results[0]["status"] == "fulfilled" and results[1]["ok"]
    assert results[2]["code"] == "invalid_state" and results[3]["code"] == "not_found" and results[4]["code"] == "not_found"
    shipped_b = (await client.get(f"/api/orders/{b['order_id']}", headers=auth(host_token))).json()
    assert shipped_b["carrier"] == "DHL" and shipped_b["tracking_number"] == "JD0002"
    empty = await client.post("/api/orders/shipments", content="", headers={**auth(host_token), "Content-Type": "text/csv"})
    assert empty.status_code == 422
