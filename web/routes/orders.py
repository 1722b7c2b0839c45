"""Orders: the buyer's own, the host's per show (JSON or CSV), and the order's life for its host:
mark shipped (one, or many from a CSV), delivered, refund, cancel (inventory.order_life,
docs/orders.md). The receipt page is web.routes.buyer_pages."""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inventory.models import Order
from inventory.order_life import CARRIER_MAX, TRACKING_MAX, host_actor
from inventory.orders import order_json, orders_csv, shown_order
from web.auth import bearer_token, current_host
from web.bodies import parse
from web.errors import ApiError
from web.links import receipt_url
from web.livedrop import livedrop
from web.openapi import TEXT, Operation, api, json_content, object_schema


async def get_order(request: Request) -> JSONResponse:
    """A buyer sees its own orders; a host sees the orders of its shows; anyone else gets 404."""
    root = livedrop(request)
    order = await shown_order(root.services.sessions, request.path_params["order_id"])
    if order is None:
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


async def show_orders(request: Request) -> Response:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    found = await root.report.orders(host.id, request.path_params["slug"])
    if found is None:
        raise ApiError(404, "not_found", "no such show")
    show, orders = found
    if request.query_params.get("format") == "csv":
        return Response(orders_csv(orders), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{show.slug}-orders.csv"'})
    return JSONResponse({"orders": [order_json(order, receipt_url(order.id)) for order in orders]})


# -- the order's life (host) -----------------------------------------------------------------------


class FulfilIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    carrier: str | None = Field(default=None, max_length=CARRIER_MAX, description="who carries it (UPS, DHL...)")
    tracking_number: str | None = Field(default=None, max_length=TRACKING_MAX)


class NoBody(BaseModel):
    """No fields: an empty body or {}."""

    model_config = ConfigDict(extra="forbid")


class RefundLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: int = Field(ge=1, le=2**53, description="a line's line_id in the order")
    quantity: int = Field(ge=1, le=100_000, description="units of that line to refund")


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[RefundLineIn] | None = Field(
        default=None, min_length=1, max_length=100, description="what to refund; none: everything left unrefunded")
    restock: bool = Field(default=False, description="put the refunded units back on sale")

    def units(self) -> dict[int, int] | None:
        if self.lines is None:
            return None
        units: dict[int, int] = {}
        for line in self.lines:
            units[line.line_id] = units.get(line.line_id, 0) + line.quantity
        return units


def _answer(order: Order) -> JSONResponse:
    return JSONResponse(order_json(order, receipt_url(order.id)))


def _request_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 255:
        raise ApiError(422, "invalid_request", "Idempotency-Key: 1 to 255 characters")
    return key


async def fulfil(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    body = await parse(request, FulfilIn)
    order = await root.orders.fulfil(host.id, request.path_params["order_id"], body.carrier, body.tracking_number,
                                     actor=host_actor(host.id))
    return _answer(order)


async def deliver(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    await parse(request, NoBody)
    return _answer(await root.orders.deliver(host.id, request.path_params["order_id"], actor=host_actor(host.id)))


async def refund(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    key = _request_key(request)
    body = await parse(request, RefundIn)
    order = await root.orders.refund(host.id, request.path_params["order_id"], body.units(), restock=body.restock,
                                     request_key=key, actor=host_actor(host.id))
    return _answer(order)


async def cancel(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    key = _request_key(request)
    await parse(request, NoBody)
    order = await root.orders.cancel(host.id, request.path_params["order_id"], request_key=key, actor=host_actor(host.id))
    return _answer(order)


MAX_SHIPMENT_ROWS = 5000
_NUMBER = ("number", "order", "order_number", "order number")
_CARRIER = ("carrier",)
_TRACKING = ("tracking", "tracking_number", "tracking number")


def shipment_rows(raw: bytes) -> list[tuple[int, str, str | None, str | None]]:
    """(line, order number, carrier, tracking) per row of the upload. A header row (number,
    carrier, tracking in any order) is optional; without one the columns are in that order."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_request", "file: not UTF-8 text") from None
    rows = list(csv.reader(io.StringIO(text)))
    columns = (0, 1, 2)
    start = 0
    if rows:
        head = [cell.strip().lower() for cell in rows[0]]
        if any(name in head for name in _NUMBER):
            def where(names: tuple[str, ...]) -> int:
                return next((head.index(name) for name in names if name in head), -1)
            columns = (where(_NUMBER), where(_CARRIER), where(_TRACKING))
            start = 1
    out = []
    for i, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        cell = [row[c].strip() if 0 <= c < len(row) else "" for c in columns]
        out.append((i, cell[0], cell[1] or None, cell[2] or None))
    if len(out) > MAX_SHIPMENT_ROWS:
        raise ApiError(422, "invalid_request", f"file: at most {MAX_SHIPMENT_ROWS} rows at a time")
    if not out:
        raise ApiError(422, "invalid_request", "file: no rows (columns: number, carrier, tracking)")
    return out


async def ship_many(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10, max_part_size=8 * 1024)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, "invalid_request", "file: attach the CSV as the form field 'file'")
        raw = await upload.read()
    else:
        raw = await request.body()
    results = await root.orders.ship_many(host.id, shipment_rows(raw), actor=host_actor(host.id))
    shipped = sum(1 for r in results if r.ok)
    body: dict[str, Any] = {"results": [r.json() for r in results], "shipped": shipped, "failed": len(results) - shipped}
    return JSONResponse(body)


_LIFE_ERRORS = ("not_found", "unauthorized", "csrf_failed", "invalid_state", "malformed_json", "invalid_request")
_OPTIONAL_KEY = [{
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "the same key again answers the order as it is and refunds nothing more",
}]


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
    # The receipt page GET /orders/{order_id} is web.routes.buyer_pages (with /orders).
    api(fulfil, Operation(
        "POST", "/api/orders/{order_id}/fulfil",
        "Mark the order shipped (paid -> fulfilled), with an optional carrier and tracking number; again before "
        "delivery: corrects them.", "host", FulfilIn, answers={200: "The order."}, errors=_LIFE_ERRORS,
        responses={200: {"content": json_content("Order")}})),
    api(deliver, Operation(
        "POST", "/api/orders/{order_id}/deliver", "Mark a shipped order delivered (again: nothing changes).", "host",
        NoBody, answers={200: "The order."}, errors=_LIFE_ERRORS, responses={200: {"content": json_content("Order")}})),
    api(refund, Operation(
        "POST", "/api/orders/{order_id}/refund",
        "Refund units of the order (lines) or all that is left (no lines), through the payment provider, with or "
        "without putting the units back on sale (restock). 422 refund_exceeds_paid past what is left unrefunded; "
        "409 invalid_state on a refunded or cancelled order.", "host", RefundIn, answers={200: "The order."},
        errors=(*_LIFE_ERRORS, "refund_exceeds_paid", "refund_failed"), query=_OPTIONAL_KEY,
        responses={200: {"content": json_content("Order")}})),
    api(cancel, Operation(
        "POST", "/api/orders/{order_id}/cancel",
        "Cancel an order before it ships: the whole payment is refunded and every unit goes back on sale. "
        "409 invalid_state once shipped (refund it instead).", "host", NoBody, answers={200: "The order."},
        errors=(*_LIFE_ERRORS, "refund_failed"), query=_OPTIONAL_KEY, responses={200: {"content": json_content("Order")}})),
    api(ship_many, Operation(
        "POST", "/api/orders/shipments",
        "Mark many orders shipped from a CSV (text/csv body, or multipart with the field 'file'): columns number, "
        "carrier, tracking (a header row is optional). Each row on its own; the answer says what became of each.",
        "host", answers={200: "{\"results\": [{row, number, ok, status | code, message}], \"shipped\", \"failed\"}"},
        errors=("invalid_request", "unauthorized", "csrf_failed", "payload_too_large"),
        responses={200: {"content": json_content("Shipments")}}, request_body={"required": True, "content": {
            "text/csv": {"schema": TEXT},
            "multipart/form-data": {"schema": object_schema({"file": {"type": "string", "contentMediaType": "text/csv"}})},
        }})),
]
