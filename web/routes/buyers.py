"""Buyers: created on first visit with no sign-up; a signed token (and the same in a cookie)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inventory.models import Buyer
from web.auth import BUYER_COOKIE, create_buyer
from web.livedrop import livedrop
from web.bodies import parse
from web.errors import ApiError
from web.openapi import api, json_content, Operation
from web.ratelimit import Limit


class BuyerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[str, Field(max_length=40)] = ""


class BuyerNameIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[str, Field(min_length=1, max_length=40)]


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def set_buyer_cookie(response: Response, request: HTTPConnection, token: str) -> None:
    secure = request.url.scheme == "https" or livedrop(request).settings.base_url.startswith("https://")
    response.set_cookie(
        BUYER_COOKIE, token, max_age=365 * 24 * 3600, httponly=True, samesite="lax", secure=secure, path="/"
    )


async def issue_buyer(request: HTTPConnection, name: str = "") -> tuple[Buyer, str]:
    """Create a buyer, counted against the per-IP limit (phones share carrier IPs: the default is generous)."""
    root = livedrop(request)
    settings = root.settings
    wait = await root.rate_limiter.retry_after_ms(
        Limit("buyers", settings.buyers_per_ip_per_minute, 60), client_ip(request)
    )
    if wait is not None:
        raise ApiError(429, "rate_limited", "too many new buyers from this address; try again shortly",
                       headers={"Retry-After": str(max(1, wait // 1000))})
    buyer = await create_buyer(root.services.sessions, name)
    return buyer, root.buyer_tokens.issue(buyer.id)


async def create(request: Request) -> JSONResponse:
    body = await parse(request, BuyerIn)
    buyer, token = await issue_buyer(request, body.name)
    response = JSONResponse({"buyer_id": buyer.id, "name": buyer.name, "token": token}, status_code=201)
    set_buyer_cookie(response, request, token)
    return response


def require_buyer(request: HTTPConnection) -> str:
    buyer_id = livedrop(request).buyer_tokens.from_request(request)
    if buyer_id is None:
        raise ApiError(401, "unauthorized", "no buyer token: POST /api/buyers first (or open a show page)")
    return buyer_id


async def me(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    runtime = livedrop(request)
    async with livedrop(request).services.sessions() as session:
        buyer = await session.get(Buyer, buyer_id)
    if buyer is None:
        raise ApiError(401, "unauthorized", "this buyer no longer exists; POST /api/buyers again")
    from web.interim_use_cases import live_holds  # noqa: PLC0415 INTERIM
    from web.routes.orders import order_json  # noqa: PLC0415 INTERIM
    holds = await live_holds(runtime, buyer_id)
    orders = [await order_json(None, o) for o in await runtime.checkout.orders_for_buyer(buyer_id)]  # type: ignore[arg-type]
    return JSONResponse({"buyer_id": buyer.id, "name": buyer.name, "holds": holds, "orders": orders})


async def rename(request: Request) -> JSONResponse:
    """The display name chat shows (the viewer page's "Change name"); later messages carry it."""
    buyer_id = require_buyer(request)
    body = await parse(request, BuyerNameIn)
    async with livedrop(request).services.sessions() as session:
        buyer = await session.get(Buyer, buyer_id)
        if buyer is None:
            raise ApiError(401, "unauthorized", "this buyer no longer exists; POST /api/buyers again")
        buyer.name = body.name
        await session.commit()
    return JSONResponse({"buyer_id": buyer_id, "name": body.name})


routes = [
    api(create, Operation("POST", "/api/buyers", "Create a buyer (no sign-up); also sets the livedrop_buyer cookie.", body=BuyerIn,
              answers={201: "{\"buyer_id\", \"name\", \"token\"}"}, errors=("malformed_json", "invalid_request", "rate_limited"),
              responses={201: {"content": json_content("NewBuyer")}})),
    api(me, Operation("GET", "/api/buyers/me", "The buyer, its live holds (with expires_at) and its orders.", "buyer",
              answers={200: "{\"buyer_id\", \"name\", \"holds\", \"orders\"}"}, errors=("unauthorized",),
              responses={200: {"content": json_content("Me")}})),
    api(rename, Operation("PATCH", "/api/buyers/me", "Change the buyer's display name (shown with its chat messages).", "buyer",
              body=BuyerNameIn, answers={200: "{\"buyer_id\", \"name\"}"},
              errors=("malformed_json", "invalid_request", "unauthorized"),
              responses={200: {"content": json_content("BuyerName")}})),
]
