"""``GET /metrics``: Prometheus text format, for listed addresses or a bearer token (web.metrics)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from web.errors import ApiError
from web.livedrop import livedrop
from web.metrics import CONTENT_TYPE, allowed, render
from web.openapi import Operation, api


async def metrics(request: Request) -> Response:
    root = livedrop(request)
    settings = root.settings
    if not allowed(request.client.host if request.client else None, request.headers.get("authorization"),
                   settings.metrics_token, settings.metrics_addresses):
        raise ApiError(403, "metrics_forbidden", "this address may not read /metrics: list it in LIVEDROP_METRICS_ADDRESSES "
                                                 "or send Authorization: Bearer <LIVEDROP_METRICS_TOKEN>")
    return Response(await render(root.services, root.hub.connections_here), media_type=CONTENT_TYPE)


routes = [
    api(metrics, Operation("GET", "/metrics", "Prometheus metrics (text format) of this process; docs/metrics.md lists them.",
              answers={200: "The Prometheus text exposition."}, errors=("metrics_forbidden",),
              responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}})),
]
