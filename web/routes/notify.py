"""Show reminders and back-in-stock waiting lists (docs/notify.md): the buyer's routes, the
email's unsubscribe link (no login: the token is the capability) and the host's per-size counts."""

from __future__ import annotations

import html
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from inventory.errors import RateLimited
from web.auth import current_host, valid_email
from web.bodies import parse
from web.buyer_identity import client_ip, require_buyer
from web.errors import ApiError
from web.links import UNSUBSCRIBE_PATH
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content
from web.page_locale import page_locale
from web.ratelimit import Limit

# Asking for emails to be sent is cheap to abuse (someone else's address, many shows): bounded per
# address like new buyers are.
NOTIFY_PER_IP_PER_MINUTE = 30
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_ENTRY_ID = re.compile(r"^wl_[A-Za-z0-9_-]{1,21}$")


def _email(value: str | None) -> str | None:
    if value is not None and not valid_email(value):
        raise ValueError("is not an email address")
    return value


class ReminderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: Annotated[str, Field(min_length=3, max_length=320, description=(
        "Where the reminders go; without one, only the buyer's open page shows that the show is live"))] | None = None

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        return _email(value)


class WaitlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    variant_id: Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]
    email: Annotated[str, Field(min_length=3, max_length=320, description="Where the offer is emailed, besides the open page")] | None = None

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        return _email(value)


async def _limit(request: Request) -> None:
    wait = await livedrop(request).rate_limiter.retry_after_ms(Limit("notify", NOTIFY_PER_IP_PER_MINUTE, 60), client_ip(request))
    if wait is not None:
        raise RateLimited("too many reminder and waiting-list requests from this address; try again shortly", retry_after_ms=wait)


def _slug(request: Request) -> str:
    slug = request.path_params["slug"]
    if not re.fullmatch(r"[a-z0-9-]{1,64}", slug):
        raise ApiError(404, "not_found", "no such show")
    return str(slug)


def _entry_id(request: Request) -> str:
    entry_id = request.path_params["entry_id"]
    if not _ENTRY_ID.fullmatch(entry_id):
        raise ApiError(404, "not_found", "no such waitlist entry")
    return str(entry_id)


# -- reminders -----------------------------------------------------------------------------------

async def remind(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    body = await parse(request, ReminderIn)
    await _limit(request)
    reminder, new = await livedrop(request).reminders.subscribe(_slug(request), buyer_id, body.email, page_locale(request))
    return JSONResponse(reminder, status_code=201 if new else 200)


async def my_reminder(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    return JSONResponse(await livedrop(request).reminders.get(_slug(request), buyer_id))


async def forget(request: Request) -> Response:
    buyer_id = require_buyer(request)
    await livedrop(request).reminders.cancel(_slug(request), buyer_id)
    return Response(status_code=204)


async def unsubscribe(request: Request) -> HTMLResponse:
    """The link in every reminder email. GET works from any mail client without login; POST is the
    one-click form of the same (RFC 8058's List-Unsubscribe-Post)."""
    token = request.query_params.get("token", "")
    title = await livedrop(request).reminders.unsubscribe(token) if _TOKEN.fullmatch(token) else None
    if title is None:
        text, status = "This link is not valid any more: you are not subscribed (or were unsubscribed already).", 404
    else:
        text, status = f"You will get no more reminders of \u201c{title}\u201d.", 200
    page = ("<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>Reminders</title><body><main><h1>Reminders</h1><p id=unsubscribe-result>{html.escape(text)}</p></main>")
    return HTMLResponse(page, status_code=status)


# -- back in stock -------------------------------------------------------------------------------

async def join_waitlist(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    body = await parse(request, WaitlistIn)
    await _limit(request)
    entry, new = await livedrop(request).waitlists.join(_slug(request), buyer_id, body.variant_id, body.email, page_locale(request))
    return JSONResponse(entry, status_code=201 if new else 200)


async def my_waitlist(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    return JSONResponse({"entries": await livedrop(request).waitlists.mine(_slug(request), buyer_id)})


async def decline(request: Request) -> Response:
    buyer_id = require_buyer(request)
    await livedrop(request).waitlists.decline(_slug(request), buyer_id, _entry_id(request))
    return Response(status_code=204)


async def leave(request: Request) -> Response:
    buyer_id = require_buyer(request)
    await livedrop(request).waitlists.leave(_slug(request), buyer_id, _entry_id(request))
    return Response(status_code=204)


async def host_waitlist(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    return JSONResponse({"sizes": await root.waitlists.for_host(host.id)})


_BUYER_ERRORS = ("unauthorized", "not_found")
routes = [
    api(remind, Operation("POST", "/api/shows/{slug}/reminders", (
        "Remind me of this show: emails 24 h and 15 min before scheduled_at and when it goes live, once each "
        "(each with an unsubscribe link). Again: updates the email."), "buyer", body=ReminderIn,
        answers={201: "the reminder", 200: "the reminder (it existed)"},
        errors=("malformed_json", "invalid_request", "invalid_state", "rate_limited", *_BUYER_ERRORS),
        responses={201: {"content": json_content("Reminder")}, 200: {"content": json_content("Reminder")}})),
    api(my_reminder, Operation("GET", "/api/shows/{slug}/reminders/me", "The buyer's reminder of this show.", "buyer",
        answers={200: "the reminder"}, errors=_BUYER_ERRORS, responses={200: {"content": json_content("Reminder")}})),
    api(forget, Operation("DELETE", "/api/shows/{slug}/reminders", "No more reminders of this show.", "buyer",
        answers={204: "cancelled"}, errors=_BUYER_ERRORS)),
    Route(UNSUBSCRIBE_PATH, unsubscribe, methods=["GET", "POST"]),
    api(join_waitlist, Operation("POST", "/api/shows/{slug}/waitlist", (
        "Notify me when this sold-out size is back: when units return, the first on its list get a hold of one "
        "unit each until a deadline (LIVEDROP_WAITLIST_OFFER_S), before general sale. One entry per buyer and size."),
        "buyer", body=WaitlistIn, answers={201: "the entry, with its place", 200: "the entry (already on the list)"},
        errors=("malformed_json", "invalid_request", "in_stock", "not_on_sale", "unknown_sku", "rate_limited", *_BUYER_ERRORS),
        responses={201: {"content": json_content("WaitlistEntry")}, 200: {"content": json_content("WaitlistEntry")}})),
    api(my_waitlist, Operation("GET", "/api/shows/{slug}/waitlist/me", (
        "The buyer's waiting-list entries in this show; an entry whose offer is open has it in `offer` "
        "(its hold: check it out with POST /api/holds/{hold_id}/checkout). The page polls this while it waits."), "buyer",
        answers={200: "{\"entries\"}"}, errors=_BUYER_ERRORS, responses={200: {"content": json_content("WaitlistMine")}})),
    api(decline, Operation("POST", "/api/shows/{slug}/waitlist/offers/{entry_id}/decline",
        "No thanks: the offer's unit goes to the next on the list, or on sale when nobody waits.", "buyer",
        answers={204: "declined"}, errors=("offer_closed", "hold_locked", *_BUYER_ERRORS))),
    api(leave, Operation("DELETE", "/api/shows/{slug}/waitlist/{entry_id}", "Leave the list (an open offer is declined).",
        "buyer", answers={204: "left"}, errors=("hold_locked", *_BUYER_ERRORS))),
    api(host_waitlist, Operation("GET", "/api/waitlist", "Per size of the host's products: how many wait, how many hold an open offer.",
        "host", answers={200: "{\"sizes\"}"}, errors=("unauthorized",), responses={200: {"content": json_content("WaitlistSizes")}})),
]
