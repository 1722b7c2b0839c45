"""The buyer's way back: the receipt page ``/orders/{order_id}`` and ``/orders``, the orders of
the browser's buyer (its livedrop_buyer cookie).

A receipt link is a capability URL: order ids are unguessable (24 random URL-safe characters),
and anyone holding the link sees the order (docs/payments.md, "Receipt links"). ``/orders`` shows
only the cookie's buyer's orders, or, with ``?t=``, those of the email a fresh link was sent to
(POST /api/buyers/orders-link; web.orders_link).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from inventory.countries import COUNTRIES
from inventory.models import Host
from inventory.orders import OrderJson, order_json, shown_order
from live.i18n import when
from live.models import Show
from web.links import receipt_url
from web.livedrop import livedrop
from web.page_locale import page_locale


def seller_name(host: Host | None) -> str:
    """The host's display name, else its email's domain (never the whole address)."""
    if host is None:
        return ""
    return host.name.strip() or host.email.rpartition("@")[2]


def _fulfilment(order: OrderJson) -> dict[str, Any]:
    """Carrier and tracking when the order has them (the order life-cycle adds them to order_json,
    at the top level or under "fulfilment"); {} otherwise."""
    data: dict[str, Any] = dict(order)
    nested = data.get("fulfilment") or data.get("fulfillment")
    source = nested if isinstance(nested, dict) else data
    return {key: source[key] for key in ("carrier", "tracking_number", "tracking_url", "fulfilled_at", "delivered_at")
            if source.get(key)}


async def receipt_page(request: Request) -> HTMLResponse:
    root = livedrop(request)
    order = await shown_order(root.services.sessions, request.path_params["order_id"])
    if order is None:
        return root.templates.TemplateResponse(request, "receipt_missing.html", {}, status_code=404,
                                               headers={"Cache-Control": "no-store"})
    async with root.services.sessions() as session:
        host = await session.get(Host, order.host_id)
        show = await session.get(Show, order.show_id) if order.show_id is not None else None
    shown = order_json(order, receipt_url(order.id))
    country = str((shown["shipping"] or {}).get("country", ""))
    return root.templates.TemplateResponse(request, "receipt.html", {
        "order": shown,
        "subtotal_cents": sum(line["quantity"] * line["unit_price_cents"] for line in shown["lines"]),
        "when": when(shown["created_at"], page_locale(request)),
        "seller": seller_name(host),
        "show": {"slug": show.slug, "title": show.title} if show is not None else None,
        "country_name": COUNTRIES.get(country, country),
        "fulfilment": _fulfilment(shown),
        "tax_percent": f"{shown['tax_rate_bp'] / 100:g}",
    }, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _rows(orders: list[Any], locale: str) -> list[dict[str, Any]]:
    rows = []
    for order in orders:
        shown = order_json(order, receipt_url(order.id))
        rows.append({"order": shown, "when": when(shown["created_at"], locale),
                     "summary": ", ".join(f"{line['title']} ({line['label']})" + (f" × {line['quantity']}" if line["quantity"] > 1 else "")
                                        for line in shown["lines"])})
    return rows


async def orders_page(request: Request) -> HTMLResponse:
    """The browser's buyer's orders; with ``?t=`` (the emailed link, a day long) that email's."""
    root = livedrop(request)
    token = request.query_params.get("t")
    emailed_to = root.orders_link_tokens.email_of(token) if token else None
    if emailed_to is not None:
        orders = await root.orders_links.orders_of(emailed_to)
        signed_in = True
    else:
        buyer_id = root.buyer_tokens.from_request(request)
        orders = await root.checkout.orders_for_buyer(buyer_id) if buyer_id is not None else []
        signed_in = buyer_id is not None
    return root.templates.TemplateResponse(request, "orders.html", {
        "orders": _rows(orders, page_locale(request)), "signed_in": signed_in, "emailed_to": emailed_to, "link_expired": bool(token) and emailed_to is None,
    }, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


routes = [
    Route("/orders", orders_page, methods=["GET"]),
    Route("/orders/{order_id}", receipt_page, methods=["GET"]),
]
