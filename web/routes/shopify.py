"""A host's Shopify shop: connect it (``PUT /api/shop/shopify``: the shop's domain and the app's
webhook secret), and ``POST /webhooks/shopify``, where Shopify's ``products/update`` webhook
updates titles and prices and adds new stock (inventory.shopify_sync; docs/shop-import.md).

The webhook is checked before anything else (its HMAC, with the secret of the shop it names),
deduplicated by ``X-Shopify-Webhook-Id``, and handled before the answer: the work is one SQL
transaction and a restock script, well inside the five seconds Shopify waits, and an answer
after the work lets a failure (503) bring Shopify's retry instead of losing the update.
"""

from __future__ import annotations

import logging
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inventory.errors import retry_after_seconds
from inventory.shop_links import MAX_SECRET, MIN_SECRET, SHOP_DOMAIN_PATTERN, ShopConnection
from inventory.shopify_sync import ShopifySignatureInvalid
from web.auth import current_host
from web.bodies import parse
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content
from web.ratelimit import Limit

log = logging.getLogger("livedrop.shopify")
PRODUCTS_UPDATE = "products/update"
WEBHOOK_PATH = "/webhooks/shopify"
# A product with a few hundred variants is well over the usual 256 KiB; the body is read before its
# HMAC can be checked, so the bound stays modest (web.bodies.BodyLimit enforces it).
WEBHOOK_BODY_BYTES = 1024 * 1024
FORGED_LIMIT = Limit("shopify-forged", 30, 60)  # webhooks with a wrong signature per address per minute


class ShopifyConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    shop_domain: Annotated[str, Field(pattern=SHOP_DOMAIN_PATTERN, max_length=255)]
    # The app's client secret (Shopify signs webhooks with it); never answered back.
    secret: Annotated[str, Field(min_length=MIN_SECRET, max_length=MAX_SECRET, pattern=r"^[\x21-\x7e]+$")]


def _public_base(request: Request) -> str:
    public_url = livedrop(request).settings.public_url
    return public_url.rstrip("/") if public_url else str(request.base_url).rstrip("/")


def _connection_json(request: Request, connection: ShopConnection) -> dict:
    return {"platform": connection.platform, "shop_domain": connection.shop_domain,
            "webhook_url": _public_base(request) + WEBHOOK_PATH, "topics": [PRODUCTS_UPDATE],
            "created_at": connection.created_at}


async def connect(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    body = await parse(request, ShopifyConnectionIn)
    connection = await root.shopify.connect(host.id, body.shop_domain, body.secret)  # 409 shop_taken
    return JSONResponse(_connection_json(request, connection))


async def show_connection(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    return JSONResponse(_connection_json(request, await root.shopify.connection(host.id)))  # 404 when none


async def disconnect(request: Request) -> Response:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    await root.shopify.disconnect(host.id)
    return Response(status_code=204)


async def shopify_webhook(request: Request) -> JSONResponse:
    root = livedrop(request)
    client_ip = request.client.host if request.client else "unknown"
    # Forging costs nothing and each try costs us a read of the body and a database lookup, so an
    # address that keeps failing is turned away before either (Shopify's own deliveries never fail).
    wait = await root.rate_limiter.blocked_ms(FORGED_LIMIT, client_ip)
    if wait is not None:
        raise ApiError(429, "rate_limited", "too many webhooks with a wrong signature from this address; wait and retry",
                       retry_after_s=retry_after_seconds(wait))
    body = await request.body()  # bounded by web.bodies.BodyLimit
    headers = request.headers
    try:
        connection = await root.shopify.verify(headers.get("x-shopify-shop-domain"), body, headers.get("x-shopify-hmac-sha256"))
    except ShopifySignatureInvalid:
        await root.rate_limiter.retry_after_ms(FORGED_LIMIT, client_ip)  # counts the failure
        raise
    topic = headers.get("x-shopify-topic", "")
    if topic != PRODUCTS_UPDATE:
        return JSONResponse({"received": True, "ignored": topic[:100]})
    try:  # not web.bodies.decode_json: this body may be larger than its bound, and BodyLimit bounded it
        product = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    webhook_id = headers.get("x-shopify-webhook-id")
    if not await root.shopify.first_delivery(connection.host_id, webhook_id):
        return JSONResponse({"received": True, "duplicate": True})
    try:
        outcome = await root.shopify.product_updated(connection.host_id, product)  # 422 invalid_request: nothing changed
    except BaseException:
        await root.shopify.forget_delivery(connection.host_id, webhook_id)  # Shopify's retry is then handled
        raise
    log.info("shopify products/update %s (host %d): %s", webhook_id, connection.host_id, outcome.json())
    return JSONResponse({"received": True, "changed": outcome.json()})


_CONNECTION_ERRORS = ("unauthorized", "csrf_failed")

routes = [
    api(connect, Operation(
        "PUT", "/api/shop/shopify",
        "Connect the host's Shopify shop: its myshopify.com domain and the app's secret that signs its webhooks. "
        "Then subscribe the shop's products/update webhook to webhook_url (docs/shop-import.md).",
        "host", ShopifyConnectionIn, answers={200: "The connection (the secret is never answered)."},
        errors=("malformed_json", "invalid_request", "shop_taken", *_CONNECTION_ERRORS),
        responses={200: {"content": json_content("ShopConnection")}})),
    api(show_connection, Operation(
        "GET", "/api/shop/shopify", "The host's Shopify connection.", "host", answers={200: "The connection."},
        errors=("not_found", *_CONNECTION_ERRORS), responses={200: {"content": json_content("ShopConnection")}})),
    api(disconnect, Operation(
        "DELETE", "/api/shop/shopify", "Disconnect the host's Shopify shop; its webhooks are refused from then on.", "host",
        answers={204: "Disconnected."}, errors=("not_found", *_CONNECTION_ERRORS))),
    api(shopify_webhook, Operation(
        "POST", WEBHOOK_PATH,
        "Shopify's webhook endpoint (topic products/update): titles and prices of the products with the same SKUs follow "
        "the shop, and a rise of a variant's inventory_quantity adds that many units (a fall is a sale in the shop: "
        "livedrop's units stay). Signed by X-Shopify-Hmac-Sha256 with the connected shop's secret; deduplicated by "
        "X-Shopify-Webhook-Id.",
        request_body={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        headers=("X-Shopify-Hmac-Sha256", "X-Shopify-Shop-Domain", "X-Shopify-Topic", "X-Shopify-Webhook-Id"),
        answers={200: "{received: true, changed: {...}}; duplicate: true for a webhook id already handled; ignored: the "
                      "topic, for topics other than products/update."},
        errors=("shopify_hmac_invalid", "malformed_json", "invalid_request", "payload_too_large", "rate_limited"),
        responses={200: {"content": json_content("ShopifyWebhook")}})),
]
