"""Dependency faults on the wire: while Redis or the database does not answer, every request that
needs it is answered 503 ``unavailable`` with ``Retry-After``, never 500.

The one mapping place: ``FAULT_HANDLERS`` is registered with the app (web.app) for every exception
type a dependency fault can come as, raised from any route, the raw-ASGI buy button included. An
API call gets the JSON error body, a page a short HTML page that reloads itself, a WebSocket the
close code 1013 (try again later; the viewer's page reconnects). The fault is reported to the
process's ``Outages`` (inventory.faults), which logs one line when the outage starts and one when
it ends, so a refused request writes no traceback. An exception of those types that is not a
dependency fault (an IntegrityError is a DBAPIError too) is raised on, to the 500 handler.
"""

from __future__ import annotations

import contextlib
from typing import cast

import asyncpg.exceptions
import redis.exceptions
import sqlalchemy.exc
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ExceptionHandler
from starlette.websockets import WebSocket, WebSocketState

from web.errors import error_response
from web.page_locale import page_locale
from web.refusal_language import refusal_message
from web.livedrop import livedrop

CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 registry: "Try Again Later"; the viewer's page reconnects


async def dependency_fault(conn: HTTPConnection, exc: Exception) -> Response | None:
    outages = livedrop(conn).services.outages
    dependency = outages.report(exc, refused=True)
    if dependency is None:
        raise exc  # a bug, not an outage: the 500 handler answers and logs it with its traceback
    retry_after = outages.retry_after_s(dependency)
    if isinstance(conn, WebSocket):
        await _close_try_again(conn)
        return None
    assert isinstance(conn, Request)
    return unavailable(conn, retry_after)


def unavailable(request: Request, retry_after_s: int) -> Response:
    headers = {"Retry-After": str(retry_after_s)}
    if _wants_page(request):
        return livedrop(request).templates.TemplateResponse(
            request, "unavailable.html", {"retry_after_s": retry_after_s}, status_code=503, headers=headers
        )
    message = refusal_message(page_locale(request), "unavailable", f"briefly unavailable; retry in {retry_after_s} s")
    return error_response(503, "unavailable", message, headers)


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (a viewer page, the panel, a receipt), not an API call."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def _close_try_again(websocket: WebSocket) -> None:
    # The route accepts before it reads anything from Redis; a socket still connecting is accepted
    # first, so the client sees 1013 rather than a refused handshake it cannot tell apart.
    with contextlib.suppress(RuntimeError, OSError):  # the client may be gone, or the socket closed
        if websocket.client_state == WebSocketState.CONNECTING:
            await websocket.accept()
        if websocket.client_state == WebSocketState.CONNECTED:
            await websocket.close(CLOSE_TRY_AGAIN_LATER, "briefly unavailable; reconnect")


# Every type a dependency fault reaches a route as (inventory.faults.fault_of decides which
# instances are faults). Starlette picks the handler by the exception's class hierarchy.
_FAULT_TYPES: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    # A Redis Cluster or Sentinel mid-failover or resharding (CLUSTERDOWN, TRYAGAIN, MASTERDOWN,
    # a slot with no primary, a script refused on a migrating slot: docs/redis-cluster.md).
    redis.exceptions.ResponseError,
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,
    # redis-py 8.1 can raise a closed transport's own error for a lost connection
    # (redis/redis-py#4287); fault_of takes only those raised inside redis-py's connection.
    AttributeError,
    TypeError,
    sqlalchemy.exc.DBAPIError,
    sqlalchemy.exc.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    ConnectionError,
)

# One handler for both kinds of connection (it tells them apart); Starlette types the two apart.
FAULT_HANDLERS: dict[type[Exception], ExceptionHandler] = {cls: cast(ExceptionHandler, dependency_fault) for cls in _FAULT_TYPES}
