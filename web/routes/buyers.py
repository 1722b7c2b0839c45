"""Buyers: created on first visit with no sign-up; a signed token (and the same in a cookie)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from inventory.buyers import buyer_overview, rename_buyer
from web.bodies import parse
from web.buyer_identity import issue_buyer, require_buyer, set_buyer_cookie
from web.errors import ApiError
from web.links import receipt_url
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content


class BuyerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[str, Field(max_length=40)] = ""


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
