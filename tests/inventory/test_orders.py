"""What a buyer is shown of its orders and holds (inventory.orders), on the real Redis and database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.checkout import Checkout
from inventory.orders import held_items, order_json
from inventory.stock import StockStore

from .conftest import details, terms


async def test_held_items_name_the_product_and_the_size(
    sessions: async_sessionmaker, stock: StockStore, checkout: Checkout, product: tuple[int, int]
) -> None:
    _, product_id = product
    assert await held_items(sessions, stock, "buyer-a") == []
    first = await stock.hold(product_id, "SN-41", 1, "buyer-a", "k1", terms(limit=2, hold_seconds=60))
    second = await stock.hold(product_id, "SN-40", 1, "buyer-a", "k2", terms(limit=2, hold_seconds=30))
    await stock.hold(product_id, "SN-42", 1, "buyer-b", "k1", terms())
    items = await held_items(sessions, stock, "buyer-a")
    assert [(i["hold_id"], i["title"], i["label"], i["state"], i["product_id"]) for i in items] == [
        (second.hold_id, "Sneaker", "SN-40", "held", product_id),  # the soonest to expire first
        (first.hold_id, "Sneaker", "SN-41", "held", product_id),
    ]
    assert items[0]["expires_at"] == second.expires_at


async def test_order_json_links_the_receipt_it_is_given(
    stock: StockStore, checkout: Checkout, product: tuple[int, int]
) -> None:
    _, product_id = product
    hold = await stock.hold(product_id, "SN-41", 2, "buyer-a", "k", terms(limit=2))
    order, _ = await checkout.checkout(hold.hold_id, "buyer-a", details())
    body = order_json(order, f"/orders/{order.id}")
    assert body["receipt_url"] == f"/orders/{order.id}"
    assert (body["order_id"], body["status"], body["total_cents"], body["hold_id"], body["buyer_id"]) == (
        order.id, "paid", 24_000, hold.hold_id, "buyer-a")
    assert body["lines"] == [{"line_id": order.lines[0].id, "refunded_quantity": 0, "restocked_quantity": 0,
                              "sku": "SN-41", "title": "Sneaker", "label": "SN-41", "quantity": 2,
                              "unit_price_cents": 12_000, "offer_id": None}]
    assert body["history"] == [] and body["refunded_cents"] == 0 and body["tracking_number"] is None
