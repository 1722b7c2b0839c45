"""Orders and holds as their buyer (or the host) is shown them: an order's JSON, and a buyer's
live holds named by product title and size label.

Knows no URLs: the caller says where an order's receipt is (web.links.receipt_url).
"""

from __future__ import annotations

import csv
import io
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.models import Order, Product, Variant
from inventory.stock import HoldJson, StockStore


class OrderLineJson(TypedDict):
    sku: str
    title: str
    label: str
    quantity: int
    unit_price_cents: int
    offer_id: int | None


class OrderJson(TypedDict):
    """An order on the wire (checkout answers it; GET /api/orders/{id}, a buyer's page, a show's orders)."""

    order_id: str
    number: str
    status: str
    total_cents: int  # the lines plus shipping_cents; tax_cents is included in it
    shipping_cents: int
    tax_cents: int
    tax_label: str | None  # "VAT"; None: no tax
    tax_rate_bp: int  # 2000 = 20 %
    card_brand: str | None  # as the payment provider says: "Visa"; None when unknown
    card_last4: str | None
    currency: str
    lines: list[OrderLineJson]
    name: str
    email: str
    phone: str | None
    shipping: dict[str, Any] | None
    hold_id: str | None
    buyer_id: str | None
    created_at: int
    receipt_url: str


class HeldItemJson(HoldJson):
    """A live hold as a buyer's page lists it: what it reserves, named, and whether it is in checkout."""

    state: str
    product_id: int
    title: str
    label: str


def order_json(order: Order, receipt_url: str) -> OrderJson:
    return {
        "order_id": order.id,
        "number": order.number,
        "status": order.status,
        "total_cents": order.total_cents,
        "shipping_cents": order.shipping_cents or 0,
        "tax_cents": order.tax_cents or 0,
        "tax_label": order.tax_label,
        "tax_rate_bp": order.tax_rate_bp or 0,
        "card_brand": order.card_brand,
        "card_last4": order.card_last4,
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


async def held_items(sessions: async_sessionmaker, stock: StockStore, buyer_id: str) -> list[HeldItemJson]:
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
    items: list[HeldItemJson] = []
    for hold in holds:
        title, label = names.get((hold.product_id, hold.sku), ("", hold.sku))
        items.append(HeldItemJson(**hold.to_json(), state=hold.state, product_id=hold.product_id, title=title, label=label))
    return items



ORDER_ID_MAX = 32  # order ids are shorter; a longer one is not looked up


async def shown_order(sessions: async_sessionmaker, order_id: str) -> Order | None:
    """The order as anyone may be shown it (its buyer, its host, its receipt page): None when
    there is no such order or it is pending (its payment is not known yet)."""
    if len(order_id) > ORDER_ID_MAX:
        return None
    async with sessions() as session:
        order = await session.get(Order, order_id)
    return None if order is None or order.status == "pending" else order


async def orders_of_show(sessions: async_sessionmaker, show_id: int) -> list[Order]:
    """A show's orders, oldest first, but pending ones (payment not known yet)."""
    async with sessions() as session:
        return list((await session.execute(
            select(Order).where(Order.show_id == show_id, Order.status != "pending").order_by(Order.created_at, Order.id)
        )).scalars())


CSV_COLUMNS = ["number", "order_id", "created_at", "status", "name", "email", "phone", "sku", "title", "label",
               "quantity", "unit_price_cents", "total_cents", "currency", "offer_id", "line1", "line2", "city",
               "postal_code", "region", "country"]


def orders_csv(orders: list[Order]) -> str:
    """One row per order line, for a spreadsheet (the host's download)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for order in orders:
        ship = order.shipping or {}
        for line in order.lines:
            row = [order.number, order.id, order.created_at, order.status, order.name, order.email, order.phone or "",
                   line.sku, line.title, line.label, line.quantity, line.unit_price_cents, order.total_cents,
                   order.currency, line.offer_id or "", ship.get("line1", ""), ship.get("line2", ""),
                   ship.get("city", ""), ship.get("postal_code", ""), ship.get("region", ""), ship.get("country", "")]
            writer.writerow([_csv_safe(v) for v in row])
    return buffer.getvalue()


def _csv_safe(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas; a buyer's name must not."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
