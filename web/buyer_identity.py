"""Who a buyer is on the web: the signed buyer token (an Authorization header or the cookie),
made on first visit with no sign-up. Shared by the routes that make buyers (POST /api/buyers,
the viewer page's first visit) and the ones that need one (buying, the buyer's own data)."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Scope

from inventory.errors import RateLimited
from inventory.models import Buyer
from web.auth import BUYER_COOKIE, create_buyer
from web.errors import ApiError
from web.livedrop import livedrop
from web.ratelimit import Limit

COOKIE_MAX_AGE_S = 365 * 24 * 3600  # a returning viewer is the same buyer (its holds, orders, chat name)


def client_ip(conn: HTTPConnection) -> str:
    return scope_ip(conn.scope)


def scope_ip(scope: Scope) -> str:
    """``client_ip`` for a plain ASGI app (no connection object)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def require_buyer(request: HTTPConnection) -> str:
    """The caller's buyer id, or 401: no valid buyer token."""
    buyer_id = livedrop(request).buyer_tokens.from_request(request)
    if buyer_id is None:
        raise ApiError(401, "unauthorized", "no buyer token: POST /api/buyers first (or open a show page)")
    return buyer_id


def scope_authorization(scope: Scope) -> bytes | None:
    """The raw Authorization header of a plain ASGI app's request: one pass, no Headers object."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value
    return None


def require_scope_buyer(scope: Scope, authorization: bytes | None) -> str:
    """``require_buyer`` for a plain ASGI app (the buy button, the queue's join, a draw entry):
    the caller's buyer id from its Authorization header (else the cookie), or 401."""
    buyer_id = livedrop(scope).buyer_tokens.from_scope(scope, authorization)
    if buyer_id is None:
        raise ApiError(401, "unauthorized", "no buyer token: POST /api/buyers first (or open a show page)")
    return buyer_id


def set_buyer_cookie(response: Response, request: HTTPConnection, token: str) -> None:
    secure = request.url.scheme == "https" or livedrop(request).settings.base_url.startswith("https://")
    response.set_cookie(
        BUYER_COOKIE, token, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="lax", secure=secure, path="/"
    )


async def issue_buyer(request: HTTPConnection, name: str = "") -> tuple[Buyer, str]:
    """Create a buyer, counted against the per-IP limit (phones share carrier IPs: the default is generous)."""
    root = livedrop(request)
    wait = await root.rate_limiter.retry_after_ms(
        Limit("buyers", root.settings.buyers_per_ip_per_minute, 60), client_ip(request)
    )
    if wait is not None:
        raise RateLimited("too many new buyers from this address; try again shortly", retry_after_ms=wait)
    buyer = await create_buyer(root.services.sessions, name)
    return buyer, root.buyer_tokens.issue(buyer.id)
