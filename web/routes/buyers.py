"""Buyers: created on first visit with no sign-up; a signed token (and the same in a cookie)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse

from inventory.buyers import buyer_overview, rename_buyer
from inventory.errors import RateLimited
from web.auth import valid_email
from web.bodies import parse
from web.buyer_identity import client_ip, issue_buyer, require_buyer, set_buyer_cookie
from web.errors import ApiError
from web.links import receipt_url
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content
from web.page_locale import page_locale
from web.ratelimit import Limit


class BuyerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[str, Field(max_length=40)] = ""


class OrdersLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: Annotated[str, Field(min_length=3, max_length=320, description="The email the orders were made with")]

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        if not valid_email(value):
            raise ValueError("is not an email address")
        return value


# Per address and per email: a link costs an email, and the form is open to anyone.
ORDERS_LINK_PER_IP = Limit("orders-link-ip", 5, 60)
ORDERS_LINK_PER_EMAIL = Limit("orders-link-email", 3, 3600)


class BuyerNameIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[str, Field(min_length=1, max_length=40)]


async def create(request: Request) -> JSONResponse:
    body = await parse(request, BuyerIn)
    buyer, token = await issue_buyer(request, body.name)
    response = JSONResponse({"buyer_id": buyer.id, "name": buyer.name, "token": token}, status_code=201)
    set_buyer_cookie(response, request, token)
    return response


async def me(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    root = livedrop(request)
    overview = await buyer_overview(root.services.sessions, root.stock, root.checkout, buyer_id, receipt_url)
    if overview is None:
        raise ApiError(401, "unauthorized", "this buyer no longer exists; POST /api/buyers again")
    return JSONResponse(overview)


async def rename(request: Request) -> JSONResponse:
    """The display name chat shows (the viewer page's "Change name"); later messages carry it."""
    buyer_id = require_buyer(request)
    body = await parse(request, BuyerNameIn)
    if not await rename_buyer(livedrop(request).services.sessions, buyer_id, body.name):
        raise ApiError(401, "unauthorized", "this buyer no longer exists; POST /api/buyers again")
    return JSONResponse({"buyer_id": buyer_id, "name": body.name})


async def orders_link(request: Request) -> JSONResponse:
    """POST /api/buyers/orders-link: email a fresh link to the orders made with an address. The
    answer is the same whether or not it has orders: nobody learns who bought here."""
    body = await parse(request, OrdersLinkIn)
    root = livedrop(request)
    for limit, subject in ((ORDERS_LINK_PER_IP, client_ip(request)),
                           (ORDERS_LINK_PER_EMAIL, hashlib.sha256(body.email.lower().encode()).hexdigest()[:32])):
        wait = await root.rate_limiter.retry_after_ms(limit, subject)
        if wait is not None:
            raise RateLimited("too many links asked for; try again later", retry_after_ms=wait)
    base_url = root.settings.base_url
    await root.orders_links.request(body.email, lambda email: root.orders_link_tokens.url(base_url, email), page_locale(request))
    return JSONResponse({"sent": True, "message": "If orders were made with this address, a link to them is on its way."},
                        status_code=202)


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
    api(orders_link, Operation("POST", "/api/buyers/orders-link", "Email a link to the orders made with an address (good for "
              "a day, opens /orders on any device). The same answer whether or not the address has orders.",
              body=OrdersLinkIn, answers={202: "{\"sent\": true, \"message\"}"},
              errors=("malformed_json", "invalid_request", "rate_limited"),
              responses={202: {"content": {"application/json": {"schema": {
                  "type": "object", "properties": {"sent": {"type": "boolean"}, "message": {"type": "string"}},
                  "required": ["sent", "message"]}}}}})),
]
