"""Orders and holds as their buyer (or the host) is shown them: an order's JSON, and a buyer's
live holds named by product title and size label.

Knows no URLs: the caller says where an order's receipt is (web.links.receipt_url).
"""

from __future__ import annotations

import csv
import io
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.models import Order, OrderLine, Product, Variant
from inventory.stock import HoldJson, StockStore

# An order's statuses (its life: inventory.order_life, docs/orders.md). 'pending' is a checkout
# whose payment is not known yet; 'refunded' is also what checkout makes of a paid order it had
# to undo (refund_reason sold_out_after_all / no_unit_left: nothing was ever sold).
PENDING, PAID, FULFILLED, DELIVERED = "pending", "paid", "fulfilled", "delivered"
PARTIALLY_REFUNDED, REFUNDED, CANCELLED = "partially_refunded", "refunded", "cancelled"
# Refunded or cancelled by its host (Order.refund_reason): its units were sold, some maybe restocked.
REQUESTED = "requested"
# Orders whose goods are (still, partly) the buyer's: they count as sold.
SELLING = (PAID, FULFILLED, DELIVERED, PARTIALLY_REFUNDED)
# Every status an order reaches once its payment went through.
AFTER_PAYMENT = (*SELLING, REFUNDED, CANCELLED)


def counts_as_sold() -> ColumnElement[bool]:
    """The orders whose lines count in ``variants.sold`` (each line by ``units_sold()``): paid
    ones, whatever happened to them since, but not the ones checkout undid (nothing was sold)."""
    return or_(
        Order.status.in_(SELLING),
        and_(Order.status.in_((REFUNDED, CANCELLED)), Order.refund_reason == REQUESTED),
    )


def units_sold() -> ColumnElement[int]:
    """A line's units that stay sold: the ones not put back on sale by a refund."""
    return OrderLine.quantity - OrderLine.restocked_quantity


def refund_marker(order_id: str, n: int) -> str:
    """A refund's key: the provider's idempotency key, and the restock's marker in Redis."""
    return f"refund:{order_id}:{n}"


def restock_marker(order_id: str, n: int, line_id: int) -> str:
    """A restock's marker in Redis (``StockStore.unsell``): one per refund and line."""
    return f"{refund_marker(order_id, n)}:{line_id}"


class OrderEventJson(TypedDict):
    kind: str
    at: int
    actor: str
    data: dict[str, Any]


class OrderLineJson(TypedDict):
    line_id: int
    refunded_quantity: int
    restocked_quantity: int
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
    carrier: str | None
    tracking_number: str | None
    fulfilled_at: int | None
    delivered_at: int | None
    refunded_cents: int
    history: list[OrderEventJson]


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
                "line_id": line.id,
                "refunded_quantity": line.refunded_quantity or 0,
                "restocked_quantity": line.restocked_quantity or 0,
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
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "fulfilled_at": order.fulfilled_at,
        "delivered_at": order.delivered_at,
        "refunded_cents": order.refunded_cents or 0,
        "history": [
            {"kind": event.kind, "at": event.at, "actor": event.actor, "data": event.data or {}} for event in order.events
        ],
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
               "postal_code", "region", "country", "carrier", "tracking_number", "refunded_cents"]


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
                   ship.get("city", ""), ship.get("postal_code", ""), ship.get("region", ""), ship.get("country", ""),
                   order.carrier or "", order.tracking_number or "", order.refunded_cents or 0]
            writer.writerow([_csv_safe(v) for v in row])
    return buffer.getvalue()


def _csv_safe(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas; a buyer's name must not."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
