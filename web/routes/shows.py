"""Host routes for shows (create, list, start, end, pin, offers, moderation) and the public
snapshot. The work is done by ``live.control`` (ShowControl); this module reads bodies, calls it
and answers. Its refusals (not_found, invalid_state, invalid_request, slug_taken) are raised as
they are and rendered by web.errors."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inventory.clock import now_ms
from live.bag import MAX_BAG_PRODUCTS
from live.control import ShowChanges, ShowControl
from live.offers import MAX_ADMIT_PER_MINUTE, MAX_CLAIM_MINUTES, OfferSpec
from live.streams import MAX_STREAM_URL, clean_stream_url
from web.auth import current_host
from web.bodies import MAX_SQL_ID, Timestamp, parse, path_id
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content

MAX_ID = MAX_SQL_ID + 1  # product ids are SQL INTEGER; PostgreSQL errs past 2**31 - 1 (a 500 found by schemathesis)
STREAM_URL_HELP = (
    "Where viewers play the video instead of livedrop's own WHEP: an absolute http(s) URL of an HLS playlist "
    "(the path ends in .m3u8) or of a WHEP endpoint (anything else). null or \"\" clears it."
)


class ShowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Annotated[str, Field(min_length=1, max_length=200)]
    slug: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")] | None = None
    scheduled_at: Timestamp | None = None
    stream_url: Annotated[str, Field(max_length=MAX_STREAM_URL, description=STREAM_URL_HELP)] | None = None


class ShowPatch(BaseModel):
    """Any of the fields; ``"stream_url": null`` (or "") clears the stream URL."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    stream_url: Annotated[str, Field(max_length=MAX_STREAM_URL, description=STREAM_URL_HELP)] | None = None


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: Annotated[int, Field(ge=1, lt=MAX_ID, strict=True)]


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: Annotated[int, Field(ge=1, lt=MAX_ID, strict=True)]
    price_cents: Annotated[int, Field(ge=0, le=100_000_000, strict=True)]
    duration_s: Annotated[int, Field(ge=1, le=7 * 24 * 3600, strict=True)] | None = Field(
        None, description="required, except for a draw (its window is entries_open_at..entries_close_at)")
    starts_at: Timestamp | None = None
    quantity: Annotated[int, Field(ge=1, le=10_000_000, strict=True)] | None = None
    per_customer_limit: Annotated[int, Field(ge=1, le=1000, strict=True)] = 1
    hold_s: Annotated[int, Field(ge=10, le=3600, strict=True)] = 300
    mode: Literal["open", "queue", "draw"] = Field("open", description=(
        "open: first come, first served. queue: a randomized waiting room; buyers join before starts_at "
        "(POST .../offers/{id}/queue) and hold with the pass they get when admitted. draw: buyers enter between "
        "entries_open_at and entries_close_at (POST .../offers/{id}/entries); then the draw gives each size's units to "
        "its best-ranked entries (docs/draws.md)."))
    admit_per_minute: Annotated[int, Field(ge=1, le=MAX_ADMIT_PER_MINUTE, strict=True)] | None = Field(
        None, description="queue offers: places let in per minute (default: twice the units, at least 60)")
    entries_open_at: Timestamp | None = Field(None, description="draw offers: entries open (default now)")
    entries_close_at: Timestamp | None = Field(None, description="draw offers: entries close and the draw runs (required)")
    claim_minutes: Annotated[int, Field(ge=1, le=MAX_CLAIM_MINUTES, strict=True)] | None = Field(
        None, description="draw offers: how long a winner's hold lasts to claim it (default 15; at most a day)")
    authorize: bool = Field(False, description="draw offers: an entry authorizes the price on the card (card_number), "
                            "captured when the winner claims, released otherwise")
    giveaway: bool = Field(False, description="draw offers: a giveaway at price 0, entries open 60-300 s from now (or "
                           "entries_open_at); entrants must be watching the show when it closes; quantity defaults to 1")
    buyers_only: bool = Field(False, description="giveaways: only buyers with a paid order from this host may enter")


class OfferPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    admit_per_minute: Annotated[int, Field(ge=1, le=MAX_ADMIT_PER_MINUTE, strict=True)]


class MuteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    buyer_id: Annotated[str, Field(min_length=1, max_length=32)]


class BagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_ids: Annotated[list[Annotated[int, Field(ge=1, lt=MAX_ID, strict=True)]], Field(max_length=MAX_BAG_PRODUCTS, description=(
        f"the products in the show's bag, in the order viewers see them (after the pinned one); at most {MAX_BAG_PRODUCTS}, "
        "[] empties it"))]


def _control(request: Request) -> ShowControl:
    return livedrop(request).shows


async def _host_id(request: Request) -> int:
    host = await current_host(request, livedrop(request).services.sessions, request.method)
    return host.id


async def create_show(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, ShowIn)
    stream_url = clean_stream_url(body.stream_url)
    show = await _control(request).create(host_id, body.title, body.slug, body.scheduled_at, stream_url)
    return JSONResponse(show, status_code=201)


async def update_show(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, ShowPatch)
    if "title" in body.model_fields_set and body.title is None:
        raise ApiError(422, "invalid_request", "title: a show needs a title (leave the field out to keep it)")
    changes = ShowChanges(
        title=body.title,
        stream_url=clean_stream_url(body.stream_url),
        set_stream_url="stream_url" in body.model_fields_set,
    )
    return JSONResponse(await _control(request).update(host_id, request.path_params["slug"], changes))


async def list_shows(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    return JSONResponse({"shows": await _control(request).list(host_id)})


async def start_show(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    return JSONResponse(await _control(request).start(host_id, request.path_params["slug"]))


async def end_show(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    return JSONResponse(await _control(request).end(host_id, request.path_params["slug"]))


async def pin(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, PinIn)
    return JSONResponse(await _control(request).pin(host_id, request.path_params["slug"], body.product_id))


async def unpin(request: Request) -> Response:
    host_id = await _host_id(request)
    await _control(request).unpin(host_id, request.path_params["slug"])
    return Response(status_code=204)


async def create_offer(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, OfferIn)
    starts_at = body.starts_at if body.starts_at is not None else now_ms()
    duration_s = body.duration_s
    if body.mode == "draw":
        starts_at = body.entries_open_at if body.entries_open_at is not None else starts_at
        if body.entries_close_at is None:
            if duration_s is None:  # "a giveaway of 120 s, now" from the panel sends duration_s
                raise ApiError(422, "invalid_request", "entries_close_at: a draw needs the time its entries close")
        elif body.entries_close_at <= starts_at:
            raise ApiError(422, "invalid_request", "entries_close_at: must be after entries_open_at")
        else:
            duration_s = max(1, (body.entries_close_at - starts_at) // 1000)
    else:
        for name in ("entries_open_at", "entries_close_at"):
            if getattr(body, name) is not None:
                raise ApiError(422, "invalid_request", f"{name}: only a draw offer has an entry window")
    if duration_s is None:
        raise ApiError(422, "invalid_request", "duration_s: required (seconds the offer runs)")
    spec = OfferSpec(
        product_id=body.product_id,
        price_cents=body.price_cents,
        duration_s=duration_s,
        starts_at=starts_at,
        quantity=body.quantity if body.quantity is not None or not body.giveaway else 1,
        per_customer_limit=body.per_customer_limit,
        hold_s=body.hold_s,
        mode=body.mode,
        admit_per_minute=body.admit_per_minute,
        claim_minutes=body.claim_minutes,
        authorize=body.authorize,
        giveaway=body.giveaway,
        buyers_only=body.buyers_only,
        close_at=body.entries_close_at if body.mode == "draw" else None,
    )
    offer = await _control(request).create_offer(host_id, request.path_params["slug"], spec)
    return JSONResponse(offer, status_code=201)


async def update_offer(request: Request) -> JSONResponse:
    """The admission rate of a queue offer's waiting room, also while it runs."""
    host_id = await _host_id(request)
    offer_id = path_id(request.path_params["offer_id"], "offer")
    body = await parse(request, OfferPatch)
    return JSONResponse(await _control(request).set_admission_rate(host_id, request.path_params["slug"], offer_id, body.admit_per_minute))


async def cancel_offer(request: Request) -> Response:
    host_id = await _host_id(request)
    offer_id = path_id(request.path_params["offer_id"], "offer")
    await _control(request).cancel_offer(host_id, request.path_params["slug"], offer_id)
    return Response(status_code=204)


async def delete_chat(request: Request) -> Response:
    host_id = await _host_id(request)
    message_id = path_id(request.path_params["message_id"], "message")
    await _control(request).delete_chat(host_id, request.path_params["slug"], message_id)
    return Response(status_code=204)


async def mute(request: Request) -> Response:
    host_id = await _host_id(request)
    body = await parse(request, MuteIn)
    await _control(request).mute(host_id, request.path_params["slug"], body.buyer_id)
    return Response(status_code=204)


async def get_bag(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    return JSONResponse({"product_ids": await _control(request).bag(host_id, request.path_params["slug"])})


async def put_bag(request: Request) -> JSONResponse:
    host_id = await _host_id(request)
    body = await parse(request, BagIn)
    return JSONResponse({"product_ids": await _control(request).set_bag(host_id, request.path_params["slug"], body.product_ids)})


async def public_snapshot(request: Request) -> JSONResponse:
    snapshot = await _control(request).public_show(request.path_params["slug"])
    if snapshot is None:
        raise ApiError(404, "not_found", "no such show")
    snapshot.pop("type", None)
    snapshot.pop("ts", None)
    return JSONResponse(snapshot, headers={"Cache-Control": "no-store"})


_HOST = ("unauthorized", "csrf_failed", "moderator_not_allowed")
_BAG = {"content": {"application/json": {"schema": {"type": "object", "required": ["product_ids"], "properties": {
    "product_ids": {"type": "array", "items": {"type": "integer"}}}}}}}
routes = [
    api(create_show, Operation("POST", "/api/shows", "Create a show (status scheduled); the slug defaults to the slugified title.", "host", ShowIn,
              answers={201: "The show."}, errors=("malformed_json", "invalid_request", "slug_taken", *_HOST),
              responses={201: {"content": json_content("Show")}})),
    api(list_shows, Operation("GET", "/api/shows", "The host's shows.", "host", answers={200: "{\"shows\": [...]}"}, errors=_HOST,
              responses={200: {"content": json_content("ShowList")}})),
    api(public_snapshot, Operation("GET", "/api/shows/{slug}", "The public snapshot of a show (what a viewer sees on join).",
              answers={200: "The snapshot."}, errors=("not_found",),
              responses={200: {"content": json_content("Snapshot")}})),
    api(update_show, Operation("PATCH", "/api/shows/{slug}", "Rename the show or set its stream_url (an external HLS playlist or WHEP "
              "endpoint viewers play instead of livedrop's own WHEP; null clears it). Open viewer pages switch at once "
              "(a show event).", "host", ShowPatch, answers={200: "The show."},
              errors=("malformed_json", "invalid_request", "not_found", *_HOST),
              responses={200: {"content": json_content("Show")}})),
    api(start_show, Operation("POST", "/api/shows/{slug}/start", "Go live.", "host", answers={200: "The show, status live."},
              errors=("not_found", "invalid_state", *_HOST),
              responses={200: {"content": json_content("Show")}})),
    api(end_show, Operation("POST", "/api/shows/{slug}/end", "End the show (and its offers, its video and its recording).", "host", answers={200: "The show, status ended."},
              errors=("not_found", *_HOST),
              responses={200: {"content": json_content("Show")}})),
    api(pin, Operation("PUT", "/api/shows/{slug}/pin", "Pin a product: on sale at list price while the show is live.", "host", PinIn,
              answers={200: "The pinned product, with offer_id."},
              errors=("malformed_json", "invalid_request", "not_found", "invalid_state", *_HOST),
              responses={200: {"content": json_content("PinnedProduct")}})),
    api(unpin, Operation("DELETE", "/api/shows/{slug}/pin", "Unpin.", "host", answers={204: "Unpinned."}, errors=("not_found", *_HOST))),
    api(create_offer, Operation("POST", "/api/shows/{slug}/offers", "A countdown offer with absolute start and end times and a unit cap.", "host",
              OfferIn, answers={201: "The offer."},
              errors=("malformed_json", "invalid_request", "offer_above_list", "offer_overlaps", "not_found", "invalid_state", *_HOST),
              responses={201: {"content": json_content("Offer")}})),
    api(update_offer, Operation("PATCH", "/api/shows/{slug}/offers/{offer_id}", "Change a queue offer's admission rate (admit_per_minute), "
              "also while its line is being let in.", "host", OfferPatch, answers={200: "The offer."},
              errors=("malformed_json", "invalid_request", "not_found", "invalid_state", *_HOST),
              responses={200: {"content": json_content("Offer")}})),
    api(cancel_offer, Operation("DELETE", "/api/shows/{slug}/offers/{offer_id}", "End an offer now.", "host", answers={204: "Ended."},
              errors=("not_found", *_HOST))),
    api(delete_chat, Operation("DELETE", "/api/shows/{slug}/chat/{message_id}", "Delete a chat message from every screen "
              "(the show's host or one of its moderators; a pinned message is unpinned with it).", "host",
              answers={204: "Deleted."}, errors=("not_found", *_HOST))),
    api(mute, Operation("POST", "/api/shows/{slug}/mutes", "Mute a buyer's chat in this show (the show's host or one of its moderators).", "host", MuteIn,
              answers={204: "Muted."}, errors=("malformed_json", "invalid_request", "not_found", *_HOST))),
    api(get_bag, Operation("GET", "/api/shows/{slug}/bag", "The products in the show's bag, in order (docs/bag.md).", "host",
              answers={200: "{\"product_ids\": [...]}"}, responses={200: _BAG}, errors=("not_found", "moderator_not_allowed", *_HOST))),
    api(put_bag, Operation("PUT", "/api/shows/{slug}/bag", "Choose the products in the show's bag: browsable from the viewer page and "
              "on sale at list price while the show is live (docs/bag.md). Every screen gets a bag event.", "host", BagIn,
              answers={200: "{\"product_ids\": [...]}"}, responses={200: _BAG},
              errors=("malformed_json", "invalid_request", "not_found", "invalid_state", "moderator_not_allowed", *_HOST))),
]
