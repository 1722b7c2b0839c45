"""A host's webhook endpoints (live.webhook_endpoints; docs/webhooks.md): register one (its secret is
in this answer only), list them, delete one, the recent deliveries of one, redeliver a delivery."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inventory.errors import RateLimited
from web.auth import current_host
from web.bodies import parse
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import Operation, api
from web.ratelimit import Limit


class WebhookEndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # Longer URLs are refused by the URL check with its own code (webhook_url_too_long), so the
    # bound here only keeps a silly body from being buffered twice.
    url: Annotated[str, Field(min_length=1, max_length=8192, description="https:// URL (at most 2048 characters)")]
    events: Annotated[list[Annotated[str, Field(max_length=40)]], Field(min_length=1, max_length=32,
                                                                       description="event types to send (docs/webhooks.md)")]


# Each registration resolves a host name and each redelivery sends a request on our behalf: cheap
# for the caller, so bounded per host (a host must not turn livedrop into a request cannon).
CREATE_LIMIT = Limit("webhook-create", 10, 60)
REDELIVER_LIMIT = Limit("webhook-redeliver", 30, 60)


async def _limited(request: Request, limit: Limit, host_id: int) -> None:
    wait = await livedrop(request).rate_limiter.retry_after_ms(limit, str(host_id))
    if wait is not None:
        raise RateLimited("too many webhook requests; wait a minute and try again", retry_after_ms=wait)


def _int_param(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:  # "¹".isdigit() is True
        raise ApiError(404, "not_found", f"no such {name.replace('_', ' ')}")
    return int(raw)


async def create_endpoint(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    body = await parse(request, WebhookEndpointIn)
    await _limited(request, CREATE_LIMIT, host.id)
    return JSONResponse(await root.webhook_endpoints.create(host.id, body.url, body.events), status_code=201)


async def list_endpoints(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    return JSONResponse({"endpoints": await root.webhook_endpoints.for_host(host.id)})


async def delete_endpoint(request: Request) -> Response:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    await root.webhook_endpoints.delete(host.id, _int_param(request, "endpoint_id"))
    return Response(status_code=204)


async def endpoint_deliveries(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    deliveries = await root.webhook_endpoints.deliveries(host.id, _int_param(request, "endpoint_id"))
    return JSONResponse({"deliveries": deliveries})


async def redeliver(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    await _limited(request, REDELIVER_LIMIT, host.id)
    return JSONResponse(await root.webhook_endpoints.redeliver(host.id, _int_param(request, "delivery_id")), status_code=202)


_ENDPOINT: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "url": {"type": "string"}, "events": {"type": "array", "items": {"type": "string"}},
    "created_at": {"type": "integer"}, "failing_since": {"type": ["integer", "null"]},
    "disabled_at": {"type": ["integer", "null"]}, "secret": {"type": "string"}},
    "required": ["id", "url", "events", "created_at", "failing_since", "disabled_at"]}
_DELIVERY: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "event_id": {"type": "string"}, "type": {"type": "string"}, "channel": {"type": "string"},
    "status": {"type": "string", "enum": ["pending", "delivered", "failed", "dead"]}, "attempts": {"type": "integer"},
    "next_attempt_at": {"type": "integer"}, "last_status": {"type": ["integer", "null"]},
    "last_error": {"type": ["string", "null"]}, "delivered_at": {"type": ["integer", "null"]}, "created_at": {"type": "integer"}},
    "required": ["id", "event_id", "type", "channel", "status", "attempts"]}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_URL_ERRORS = ("webhook_url_invalid", "webhook_url_too_long", "webhook_url_private")
routes = [
    api(create_endpoint, Operation(
        "POST", "/api/webhooks/endpoints", "Register a webhook endpoint; the answer carries its signing secret, shown this once.",
        "host", WebhookEndpointIn, answers={201: "The endpoint, with secret (whsec_...)."},
        errors=("malformed_json", "invalid_request", "unauthorized", "csrf_failed", "rate_limited", *_URL_ERRORS),
        responses={201: _json(_ENDPOINT)})),
    api(list_endpoints, Operation(
        "GET", "/api/webhooks/endpoints", "The host's webhook endpoints (without their secrets).", "host",
        answers={200: "{endpoints: [...]}"}, errors=("unauthorized",),
        responses={200: _json({"type": "object", "properties": {"endpoints": {"type": "array", "items": _ENDPOINT}},
                               "required": ["endpoints"]})})),
    api(delete_endpoint, Operation(
        "DELETE", "/api/webhooks/endpoints/{endpoint_id}", "Delete a webhook endpoint and its deliveries.", "host",
        answers={204: "Deleted."}, errors=("unauthorized", "csrf_failed", "not_found"))),
    api(endpoint_deliveries, Operation(
        "GET", "/api/webhooks/endpoints/{endpoint_id}/deliveries", "The endpoint's 50 most recent deliveries.", "host",
        answers={200: "{deliveries: [...]}, newest first"}, errors=("unauthorized", "not_found"),
        responses={200: _json({"type": "object", "properties": {"deliveries": {"type": "array", "items": _DELIVERY}},
                               "required": ["deliveries"]})})),
    api(redeliver, Operation(
        "POST", "/api/webhooks/deliveries/{delivery_id}/redeliver",
        "Send a delivery again now (the same event id and body); its retry schedule starts over.", "host",
        answers={202: "The delivery, pending."}, errors=("unauthorized", "csrf_failed", "not_found", "rate_limited"),
        responses={202: _json(_DELIVERY)})),
]
