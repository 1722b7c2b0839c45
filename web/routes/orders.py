"""Orders: the buyer's own, the host's per show (JSON or CSV). The receipt page is web.routes.buyer_pages."""

from __future__ import annotations


from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inventory.orders import order_json, orders_csv, shown_order
from web.auth import bearer_token, current_host
from web.errors import ApiError
from web.links import receipt_url
from web.livedrop import livedrop
from web.openapi import TEXT, Operation, api, json_content


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
]
