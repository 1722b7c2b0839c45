"""Orders and holds as their buyer (or the host) is shown them: an order's JSON, and a buyer's
live holds named by product title and size label.

Knows no URLs: the caller says where an order's receipt is (web.links.receipt_url).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.models import Order, Product, Variant
from inventory.stock import StockStore


def order_json(order: Order, receipt_url: str) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "number": order.number,
        "status": order.status,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "lines": [
            {
                "sku": line.sku,
                "title": line.title,
                "label": line.label,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
                "offer_id": line.offer_id,
            }
            for line in order.lines
        ],
        "name": order.name,
        "email": order.email,
        "phone": order.phone,
        "shipping": order.shipping,
        "hold_id": order.hold_id,
        "buyer_id": order.buyer_id,
        "created_at": order.created_at,
        "receipt_url": receipt_url,
    }


async def held_items(sessions: async_sessionmaker, stock: StockStore, buyer_id: str) -> list[dict[str, Any]]:
    """The buyer's live holds (soonest to expire first), each with the product's title and the
    size's label, so a page reloaded after the product was unpinned can still say what is
    reserved. A product deleted since shows as its SKU with no title."""
    holds = await stock.live_holds_for_buyer(buyer_id)
    if not holds:
        return []
    async with sessions() as session:
        rows = await session.execute(
            select(Variant.product_id, Variant.sku, Variant.label, Product.title)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.product_id.in_({hold.product_id for hold in holds}))
        )
        names = {(r.product_id, r.sku): (r.title, r.label) for r in rows}
    items = []
    for hold in holds:
        title, label = names.get((hold.product_id, hold.sku), ("", hold.sku))
        items.append(hold.to_json() | {"state": hold.state, "product_id": hold.product_id, "title": title, "label": label})
    return items

