"""Orders: the buyer's own, the host's per show (JSON or CSV), and the receipt page."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from inventory.models import Order
from inventory.orders import order_json
from live.shows import show_by_slug
from web.auth import bearer_token, current_host
from web.errors import ApiError
from web.links import receipt_url
from web.livedrop import livedrop
from web.openapi import TEXT, Operation, api, json_content


async def get_order(request: Request) -> JSONResponse:
    """A buyer sees its own orders; a host sees the orders of its shows; anyone else gets 404."""
    root = livedrop(request)
    order_id = request.path_params["order_id"]
    async with root.services.sessions() as session:
        order = await session.get(Order, order_id) if len(order_id) <= 32 else None
    if order is None or order.status == "pending":  # pending: its payment is not known yet
        raise ApiError(404, "not_found", "no such order")
    buyer_id = root.buyer_tokens.from_request(request)
    if buyer_id is not None and buyer_id == order.buyer_id:
        return JSONResponse(order_json(order, receipt_url(order.id)))
    if bearer_token(request) is not None or request.session.get("host_id") is not None:
        try:
            host = await current_host(request, root.services.sessions, request.method)
        except ApiError:
            host = None
        if host is not None and host.id == order.host_id:
            return JSONResponse(order_json(order, receipt_url(order.id)))
    raise ApiError(404, "not_found", "no such order")


CSV_COLUMNS = ["number", "order_id", "created_at", "status", "name", "email", "phone", "sku", "title", "label",
               "quantity", "unit_price_cents", "total_cents", "currency", "offer_id", "line1", "line2", "city",
               "postal_code", "region", "country"]


def _csv_safe(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas; a buyer's name must not."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def show_orders(request: Request) -> Response:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    async with root.services.sessions() as session:
        show = await show_by_slug(session, request.path_params["slug"])
        if show is None or show.host_id != host.id:
            raise ApiError(404, "not_found", "no such show")
        orders = list(
            (await session.execute(
                select(Order)
                .where(Order.show_id == show.id, Order.status != "pending")  # pending: payment not known yet
                .order_by(Order.created_at, Order.id)
            )).scalars()
        )
    if request.query_params.get("format") == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for order in orders:
            for line in order.lines:
                ship = order.shipping or {}
                row = [order.number, order.id, order.created_at, order.status, order.name, order.email, order.phone or "",
                       line.sku, line.title, line.label, line.quantity, line.unit_price_cents, order.total_cents,
                       order.currency, line.offer_id or "", ship.get("line1", ""), ship.get("line2", ""),
                       ship.get("city", ""), ship.get("postal_code", ""), ship.get("region", ""), ship.get("country", "")]
                writer.writerow([_csv_safe(v) for v in row])
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{show.slug}-orders.csv"'},
        )
    return JSONResponse({"orders": [order_json(order, receipt_url(order.id)) for order in orders]})


async def receipt_page(request: Request) -> HTMLResponse:
    order_id = request.path_params["order_id"]
    async with livedrop(request).services.sessions() as session:
        order = await session.get(Order, order_id) if len(order_id) <= 32 else None
    templates = livedrop(request).templates
    if order is None or order.status == "pending":
        return templates.TemplateResponse(request, "receipt_missing.html", {}, status_code=404)
    return templates.TemplateResponse(request, "receipt.html", {"order": order})


routes = [
    api(get_order, Operation("GET", "/api/orders/{order_id}", "An order: the buyer's own, or one of the host's shows.", "buyer-or-host",
              answers={200: "The order."}, errors=("not_found",),
              responses={200: {"content": json_content("Order")}})),
    api(show_orders, Operation("GET", "/api/shows/{slug}/orders", "The show's orders; ?format=csv for a download.", "host",
              answers={200: "{\"orders\": [...]} or text/csv"}, errors=("not_found", "unauthorized"),
              responses={
        200: {"content": {**json_content("OrderList"), "text/csv": {"schema": TEXT}}},
    }, query=[
        {"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["csv"]},
         "description": "csv: a download (text/csv), one row per order line"},
    ])),
    Route("/orders/{order_id}", receipt_page, methods=["GET"]),
]
