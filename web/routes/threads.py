"""Private threads between a buyer and a host (docs/threads.md): the buyer's routes (by cookie or
token, or by the capability link of an email), the host's inbox, the thread page, and the data
rights routes (docs/privacy.md). Each parses, calls one use case of ``live.threads.ThreadDesk`` or
``inventory.personal_data.PersonalData``, and answers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from inventory.errors import NotFound, RateLimited
from live.connection import CLOSE_POLICY, CLOSE_UNKNOWN_SHOW, SEND_FRAME
from inventory.threads import BUYER, HOST, Posted, Thread, message_json, thread_json
from web.auth import current_host, valid_email
from web.bodies import parse
from web.buyer_identity import require_buyer
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content
from web.ratelimit import Limit
from web.ws_origin import origin_allowed

_THREAD_ID = re.compile(r"^th_[A-Za-z0-9_-]{1,21}$")
# People typing: 20 messages a minute per sender and thread is a fast conversation and a slow
# spammer; new threads are counted on their own (20 a minute per sender), so one busy
# conversation does not stop a seller from answering another.
MESSAGES_PER_MINUTE = 20
EXPORTS_PER_HOUR = 10  # an export reads every table; erasure is one-way and needs no more than a few
_TEXT = Annotated[str, Field(min_length=1, max_length=20_000, description="The message (at most 2,000 characters: longer is 422 message_too_long)")]


class AskIn(BaseModel):
    """A buyer starts (or continues) the thread with a show's host, or with the seller of an order."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: _TEXT
    show_slug: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")] | None = None
    product_id: Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)] | None = None
    order_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=320, description="Where answers go when no page of yours is open")] | None = None

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        if value is not None and not valid_email(value):
            raise ValueError("is not an email address")
        return value


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: _TEXT


class HostMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: _TEXT
    order_id: Annotated[str, Field(min_length=1, max_length=32, description="Attach this order as a card")] | None = None
    product_id: Annotated[int, Field(ge=1, le=2**31 - 1, strict=True, description="Attach this product as a card")] | None = None


class HostStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: _TEXT
    order_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    show_slug: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")] | None = None
    chat_message_id: Annotated[int, Field(ge=1, lt=2**31, strict=True)] | None = None  # an SQL integer id (PostgreSQL: 32 bits)


class HoldOfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    hold_s: Annotated[int, Field(ge=60, le=48 * 3600, strict=True, description="How long the unit waits for the buyer")] = 3600
    text: Annotated[str, Field(max_length=20_000)] = ""


class OrderLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: Annotated[str, Field(min_length=1, max_length=32)]


class ThreadStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["close", "reopen", "block", "unblock"]


def _thread_id(request: Request) -> str:
    thread_id = request.path_params["thread_id"]
    if not _THREAD_ID.fullmatch(thread_id):
        raise ApiError(404, "not_found", "no such conversation")
    return str(thread_id)


async def _limit(request: Request, who: str) -> None:
    wait = await livedrop(request).rate_limiter.retry_after_ms(Limit("thread-msg", MESSAGES_PER_MINUTE, 60), who)
    if wait is not None:
        raise RateLimited(f"at most {MESSAGES_PER_MINUTE} messages a minute; wait a moment", retry_after_ms=wait)


def _posted(posted: Posted) -> JSONResponse:
    return JSONResponse({"thread": thread_json(posted.thread), "message": message_json(posted.message, posted.thread)},
                        status_code=201)


async def _thread_buyer(request: Request, thread_id: str) -> Thread:
    """The thread, as its buyer: by the buyer's cookie or token, or by the email's link (``?t=``)."""
    root = livedrop(request)
    token = request.query_params.get("t")
    buyer_id = root.thread_link_tokens.buyer_of(token, thread_id) if token else None
    if buyer_id is None:
        buyer_id = require_buyer(request)
    return await root.threads.threads.of_buyer(thread_id, buyer_id)


# -- the buyer -----------------------------------------------------------------------------------------

async def ask(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    body = await parse(request, AskIn)
    await _limit(request, f"b:{buyer_id}:new")
    desk = livedrop(request).threads
    if body.order_id is not None:
        return _posted(await desk.ask_about_order(buyer_id, body.order_id, body.text))
    if body.show_slug is None:
        raise ApiError(422, "invalid_request", "show_slug: name the show (or order_id, an order of yours)")
    return _posted(await desk.ask_about_product(buyer_id, body.show_slug, body.text, body.product_id, body.email))


async def my_threads(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    slug = request.query_params.get("show_slug")
    if slug is not None and not re.fullmatch(r"[a-z0-9-]{1,64}", slug):
        raise ApiError(422, "invalid_request", "show_slug: a show's slug")
    return JSONResponse({"threads": await livedrop(request).threads.buyer_threads(buyer_id, slug)})


async def buyer_thread(request: Request) -> JSONResponse:
    thread = await _thread_buyer(request, _thread_id(request))
    return JSONResponse(await livedrop(request).threads.read(thread, BUYER))


async def buyer_reply(request: Request) -> JSONResponse:
    thread = await _thread_buyer(request, _thread_id(request))
    body = await parse(request, ReplyIn)
    await _limit(request, f"b:{thread.buyer_id}:{thread.id}")
    return _posted(await livedrop(request).threads.buyer_reply(thread.buyer_id, thread.id, body.text))


async def thread_page(request: Request) -> HTMLResponse:
    """The email's link: the thread, readable and answerable without the cookie (the link is the key)."""
    root = livedrop(request)
    thread_id = request.path_params["thread_id"]
    try:
        thread = await _thread_buyer(request, thread_id if _THREAD_ID.fullmatch(thread_id) else "")
    except (ApiError, NotFound):
        return HTMLResponse("<!doctype html><title>Conversation</title><p>This link is not valid any more.</p>", status_code=404,
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    data = await root.threads.read(thread, BUYER)
    # The link's token is in the URL: kept out of caches and out of Referer headers to other sites.
    return root.templates.TemplateResponse(request, "thread.html", {"data": data, "token": request.query_params.get("t", "")},
                                           headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def _received(websocket: WebSocket) -> AsyncIterator[str | bytes]:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        yield text if text is not None else (message.get("bytes") or b"")


async def thread_socket(websocket: WebSocket) -> None:
    """``/ws/threads/{id}[?t=<link token>]``: the thread page's live frames (its buyer's private
    frames about this thread, from every process). The same keys as the page: the thread's link
    token, or the cookie (or bearer token) of the thread's own buyer. Anything else closes with
    4404, the same as no such thread."""
    root = livedrop(websocket)
    await websocket.accept()
    if not origin_allowed(websocket, root.settings):
        await websocket.close(CLOSE_POLICY, "origin not allowed")
        return
    thread_id = websocket.path_params["thread_id"]
    token = websocket.query_params.get("t")
    buyer_id = root.thread_link_tokens.buyer_of(token, thread_id) if token else None
    if buyer_id is None:
        buyer_id = root.buyer_tokens.from_request(websocket)
    try:
        if buyer_id is None or not _THREAD_ID.fullmatch(thread_id):
            raise NotFound("no such conversation")
        thread = await root.threads.threads.of_buyer(thread_id, buyer_id)
    except NotFound:
        await websocket.close(CLOSE_UNKNOWN_SHOW, "no such conversation")
        return
    config = root.hub.config
    await root.threads.follow(websocket, _received(websocket), thread, websocket.scope.get("extensions", {}).get(SEND_FRAME),
                              config.queue_frames, config.send_timeout_s)


# -- the host ------------------------------------------------------------------------------------------

async def _host_id(request: Request) -> int:
    root = livedrop(request)
    return (await current_host(request, root.services.sessions, request.method)).id


async def inbox(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    return JSONResponse({"threads": await livedrop(request).threads.threads.listed(host_id=host_id)})


async def host_start(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, HostStartIn)
    await _limit(request, f"h:{host_id}:new")
    return _posted(await livedrop(request).threads.host_start(host_id, body.text, body.order_id, body.show_slug, body.chat_message_id))


async def host_thread(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    desk = livedrop(request).threads
    return JSONResponse(await desk.read(await desk.threads.of_host(_thread_id(request), host_id), HOST))


async def host_reply(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, HostMessageIn)
    await _limit(request, f"h:{host_id}:{_thread_id(request)}")
    return _posted(await livedrop(request).threads.host_reply(host_id, _thread_id(request), body.text, body.order_id, body.product_id))


async def thread_state(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, ThreadStateIn)
    return JSONResponse(await livedrop(request).threads.set_state(host_id, _thread_id(request), body.action))


async def beside(request: Request) -> JSONResponse:
    """The side view: what livedrop holds about this buyer at this host (orders with their
    states, live holds, queue entries, wishes, chat, mutes...), the same registry as an export."""
    host_id = await _host_id(request)
    root = livedrop(request)
    thread = await root.threads.threads.of_host(_thread_id(request), host_id)
    data = await root.personal_data.export(thread.buyer_id, host_id)
    return JSONResponse({"buyer_id": thread.buyer_id, **{k: v for k, v in data.items() if k not in ("buyer_id", "scope", "exported_at")}})


async def offer_hold(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, HoldOfferIn)
    return _posted(await livedrop(request).threads.offer_hold(host_id, _thread_id(request), body.sku, body.hold_s, body.text))


async def resend_order_link(request: Request) -> Response:
    host_id = await _host_id(request)
    body = await parse(request, OrderLinkIn)
    await livedrop(request).threads.resend_order_link(host_id, _thread_id(request), body.order_id)
    return Response(status_code=204)


async def figures(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    return JSONResponse({"weeks": await livedrop(request).threads.threads.response_figures(host_id)})


# -- data rights ---------------------------------------------------------------------------------------

async def _export_limit(request: Request, who: str) -> None:
    wait = await livedrop(request).rate_limiter.retry_after_ms(Limit("export", EXPORTS_PER_HOUR, 3600), who)
    if wait is not None:
        raise RateLimited("too many exports or erasures; try again later", retry_after_ms=wait)


def _download(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="livedrop-my-data.json"',
                                       "Cache-Control": "no-store"})


async def _for(request: Request) -> tuple[str, int | None]:
    """Whose data a /api/buyers/{buyer_id}/... call is about, and for whom: the buyer themselves
    (``me`` or their own id: everything), or a signed-in host for a buyer who bought from it or
    wrote to it (that host's records). Anyone else: 404 not_found, the same as no such buyer."""
    root = livedrop(request)
    buyer_id = str(request.path_params["buyer_id"])
    host_id = None
    if buyer_id != "me" and (request.headers.get("authorization") or request.session.get("host_id") is not None):
        try:
            host_id = await _host_id(request)
        except ApiError as refused:
            if refused.code == "csrf_failed":
                raise
    if host_id is not None:
        if len(buyer_id) <= 32 and await root.personal_data.concerns_host(buyer_id, host_id):
            return buyer_id, host_id
        raise ApiError(404, "not_found", "no such buyer among your customers")
    me = require_buyer(request)
    if buyer_id not in ("me", me):
        raise ApiError(404, "not_found", "no such buyer")
    return me, None


async def export_data(request: Request) -> JSONResponse:
    buyer_id, host_id = await _for(request)
    await _export_limit(request, buyer_id)
    return _download(await livedrop(request).personal_data.export(buyer_id, host_id))


async def erase_data(request: Request) -> JSONResponse:
    buyer_id, host_id = await _for(request)
    await _export_limit(request, buyer_id)
    erased = await livedrop(request).personal_data.erase(buyer_id, host_id)
    return JSONResponse({"buyer_id": buyer_id, "scope": "all" if host_id is None else f"host:{host_id}", "erased": erased})


_BUYER = ("unauthorized", "not_found")
_HOST = ("unauthorized", "csrf_failed", "not_found")
_POSTING = ("malformed_json", "invalid_request", "message_too_long", "rate_limited")
routes = [
    api(ask, Operation("POST", "/api/threads", (
        "Ask the seller privately: about a show's product (show_slug, product_id) or about an order of yours "
        "(order_id, attached as a card). One thread per buyer and seller; later questions continue it."), "buyer",
        body=AskIn, answers={201: "{thread, message}"}, responses={201: {"content": json_content("ThreadPosted")}}, errors=(*_POSTING, "thread_closed", "blocked", *_BUYER))),
    api(my_threads, Operation("GET", "/api/threads", (
        "The buyer's threads, newest first, with unread counts; ?show_slug= keeps the one with that show's host."), "buyer",
        query=({"name": "show_slug", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}},),
        answers={200: "{threads}"}, responses={200: {"content": json_content("ThreadList")}}, errors=("invalid_request", *_BUYER))),
    api(buyer_thread, Operation("GET", "/api/threads/{thread_id}", (
        "A thread and its messages (read receipts: `read`); opening it marks the seller's messages read. "
        "Also by the email's link: ?t=<token>."), "buyer", answers={200: "{thread, messages, seller}"}, responses={200: {"content": json_content("ThreadRead")}}, errors=_BUYER)),
    api(buyer_reply, Operation("POST", "/api/threads/{thread_id}/messages", "Answer in a thread (also with ?t=).", "buyer",
        body=ReplyIn, answers={201: "{thread, message}"}, responses={201: {"content": json_content("ThreadPosted")}}, errors=(*_POSTING, "thread_closed", "blocked", *_BUYER))),
    Route("/threads/{thread_id}", thread_page),
    WebSocketRoute("/ws/threads/{thread_id}", thread_socket),
    api(inbox, Operation("GET", "/api/inbox", "The host's threads, newest first, with unread counts.", "host",
        answers={200: "{threads}"}, responses={200: {"content": json_content("ThreadList")}}, errors=_HOST)),
    api(host_start, Operation("POST", "/api/inbox", (
        "Write to a buyer first: about an order (order_id, attached as a card) or to whoever wrote a chat line "
        "(show_slug, chat_message_id)."), "host", body=HostStartIn, answers={201: "{thread, message}"}, responses={201: {"content": json_content("ThreadPosted")}},
        errors=(*_POSTING, "blocked", *_HOST))),
    api(figures, Operation("GET", "/api/inbox/figures", (
        "Per week (Monday 00:00 UTC), newest first: buyer messages, the share answered within 12 hours, "
        "and the median time to the first answer."), "host", answers={200: "{weeks}"}, responses={200: {"content": json_content("InboxFigures")}}, errors=_HOST)),
    api(host_thread, Operation("GET", "/api/inbox/{thread_id}", "A thread and its messages; marks the buyer's read.", "host",
        answers={200: "{thread, messages}"}, responses={200: {"content": json_content("ThreadRead")}}, errors=_HOST)),
    api(host_reply, Operation("POST", "/api/inbox/{thread_id}/messages", (
        "Answer; an order or product of yours may ride along as a card. Writing reopens a closed thread. "
        "A buyer with no page open gets one email (until they read it) with a link into the thread."), "host",
        body=HostMessageIn, answers={201: "{thread, message}"}, responses={201: {"content": json_content("ThreadPosted")}}, errors=(*_POSTING, "blocked", *_HOST))),
    api(thread_state, Operation("POST", "/api/inbox/{thread_id}/state", (
        "close | reopen | block | unblock. A closed thread refuses the buyer's messages (thread_closed); "
        "a blocked buyer's are refused too (blocked)."), "host", body=ThreadStateIn, answers={200: "the thread"}, responses={200: {"content": json_content("Thread")}},
        errors=("malformed_json", "invalid_request", *_HOST))),
    api(beside, Operation("GET", "/api/inbox/{thread_id}/buyer", (
        "Beside the thread: this buyer's orders with you (with their states), live holds, waiting-room entries, "
        "back-in-stock wishes, chat in your shows, mutes."), "host", answers={200: "the buyer's records at this host"}, responses={200: {"content": json_content("BuyerRecords")}},
        errors=_HOST)),
    api(offer_hold, Operation("POST", "/api/inbox/{thread_id}/hold-offers", (
        "Put one unit of a size aside for the buyer until a deadline (hold_s) at list price; a hold card goes in "
        "the thread, and the buyer checks it out like any hold."), "host", body=HoldOfferIn,
        answers={201: "{thread, message}"}, responses={201: {"content": json_content("ThreadPosted")}},
        errors=("malformed_json", "invalid_request", "sold_out", "limit_reached", "blocked", *_HOST))),
    api(resend_order_link, Operation("POST", "/api/inbox/{thread_id}/order-link", (
        "Email the buyer a fresh link to their orders (to the order's address)."), "host", body=OrderLinkIn,
        answers={204: "sent"}, errors=("malformed_json", "invalid_request", *_HOST))),
    api(export_data, Operation("GET", "/api/buyers/{buyer_id}/data", (
        "Everything livedrop holds about a buyer as JSON (orders, holds, queue entries, wishes, messages, chat, "
        "mutes, reminders): `me` (or one's own id) for the buyer; a host may ask for a buyer who bought from it or "
        "wrote to it (its own records). Anyone else's: 404."), "buyer-or-host", answers={200: "the export"}, responses={200: {"content": json_content("DataExport")}},
        errors=("rate_limited", "csrf_failed", *_BUYER))),
    api(erase_data, Operation("POST", "/api/buyers/{buyer_id}/erase", (
        "Erase a buyer's personal data (docs/privacy.md): removed or anonymized everywhere; orders keep amounts, "
        "dates and a pseudonymous buyer id. A host's request covers its own records. Anyone else's: 404."),
        "buyer-or-host", answers={200: "{buyer_id, scope, erased}"}, responses={200: {"content": json_content("Erasure")}}, errors=("rate_limited", "csrf_failed", *_BUYER))),
]
