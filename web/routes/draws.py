"""Draw offers (docs/draws.md): enter, one's own entry, the host's void and figures, and the
public audit (a queue offer's too: the same route). The work is live.draws' (Draws)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from live.errors import NotADraw
from web.auth import current_host
from web.bodies import parse, path_id, receive_json, send_json, validate
from web.buyer_identity import require_buyer, require_scope_buyer, scope_authorization
from web.errors import ApiError
from web.livedrop import livedrop
from web.refusal_language import scope_locale
from web.openapi import Operation, api, json_content

MAX_POW_CHARS = 4096


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    sku: Annotated[str, Field(min_length=1, max_length=64, description="The size, locked at entry")]
    email: Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]{1,255}$",
                                description="The address the winner's hold is announced to; one entry per address")]
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="Shipping country (ISO 3166-1 alpha-2)")] | None = None
    card_number: Annotated[str, Field(min_length=12, max_length=23, description=(
        "When the draw authorizes at entry (authorize: true): the card (the built-in test provider's test cards); "
        "one entry per card"))] | None = None
    payment_method: Annotated[str, Field(pattern=r"^(pm|card|src)_[A-Za-z0-9_]{1,200}$", description=(
        "Under Stripe, when the draw authorizes at entry: the payment method Stripe.js made in the browser "
        "(pm_..., or the card_... of createToken), in place of card_number"))] | None = None
    pow: Annotated[str, Field(max_length=MAX_POW_CHARS, description="Reserved: proof of work, as for a queue (ignored "
                                                                     "while LIVEDROP_QUEUE_POW is 0)")] | None = None


class VoidIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                 description="A short code the audit lists, e.g. bot, duplicate_person")]


def _ids(request: Request) -> tuple[str, int]:
    return request.path_params["slug"], path_id(request.path_params["offer_id"], "offer")


class EnterDraw:
    """POST .../entries: what tens of thousands of buyers do in the minutes before a draw closes.

    A plain ASGI app under the same middleware as every route, as the join and the buy button are
    (web.routes.queue.JoinQueue): the Starlette endpoint around an entry (the Request object, its
    Headers, JSONResponse and the send wrappers) cost ~40% of the entry's CPU in bench/draw.py's
    profile. The checks, their order and their answers are the endpoint's: 401 without a buyer
    token, 404 for an offer id that is no id, 400 / 422 for a bad body (EntryIn is the rule),
    then the entry, whose refusals are raised and rendered by the refusal handler as anywhere else."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = livedrop(scope)
        buyer_id = require_scope_buyer(scope, scope_authorization(scope))
        params = scope["path_params"]
        offer_id = path_id(params["offer_id"], "offer")
        body = validate(EntryIn, await receive_json(receive))
        if body.card_number is not None and root.payments.confirms_in_browser:
            # As the hold's checkout (web.routes.holds): under Stripe a card number never reaches this server.
            raise ApiError(422, "invalid_request", "card_number: not taken here; send the payment_method Stripe.js made "
                                                   "in the browser, so card numbers never reach this server")
        entry = await root.draws.enter(params["slug"], offer_id, buyer_id, body.sku, body.email, body.country,
                                       body.card_number or body.payment_method, scope_locale(scope))  # the draw's emails speak the entry page's language
        await send_json(send, 201, orjson.dumps(entry))


async def mine(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    slug, offer_id = _ids(request)
    return JSONResponse(await livedrop(request).draws.mine(slug, offer_id, buyer_id), headers={"Cache-Control": "no-store"})


async def void(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    slug, offer_id = _ids(request)
    body = await parse(request, VoidIn)
    entry_id = request.path_params["entry_id"][:24]
    return JSONResponse(await root.draws.void_entry(host.id, slug, offer_id, entry_id, body.reason))


async def figures(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    slug, offer_id = _ids(request)
    return JSONResponse(await root.draws.figures(host.id, slug, offer_id), headers={"Cache-Control": "no-store"})


async def draw_now(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    slug, offer_id = _ids(request)
    return JSONResponse(await root.draws.close_now(host.id, slug, offer_id))


async def verify_page(request: Request) -> HTMLResponse:
    """/offers/{id}/verify: the audit recomputed in the browser (static/verify/verify.js)."""
    root = livedrop(request)
    offer_id = path_id(request.path_params["offer_id"], "offer")
    slug = await root.draws.slug_of(offer_id)
    if slug is None:
        return HTMLResponse("<!doctype html><title>Not found</title><p>No draw with that id.</p>", status_code=404)
    return root.templates.TemplateResponse(request, "verify.html", {
        "offer_id": offer_id, "audit_url": f"/api/shows/{slug}/offers/{offer_id}/audit",
    })


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def audit(request: Request) -> JSONResponse:
    """A draw's audit, or a queue offer's (the same route since part 1)."""
    root = livedrop(request)
    slug, offer_id = _ids(request)
    try:
        # orjson: 100,000 entries are ~5 MB of JSON, about 4 times faster than the json module.
        return ORJSONResponse(await root.draws.audit(slug, offer_id))
    except NotADraw:
        return JSONResponse(await root.queues.audit(slug, offer_id))


_ENTRIES = "/api/shows/{slug}/offers/{offer_id}/entries"
# Entering, apart: web.app puts it right after the waiting room's join (what tens of thousands do
# before a draw closes; each route Starlette tries before it costs a pattern miss).
entry_route = api(EnterDraw(), Operation("POST", _ENTRIES, "Enter a draw offer between entries_open_at and entries_close_at: one size, "
              "locked; one entry per buyer, per email, and per card when the draw authorizes at entry.", "buyer", EntryIn,
              answers={201: "The entry."},
              errors=("not_a_draw", "draw_not_open", "draw_closed", "already_entered", "email_already_entered",
                      "card_already_entered", "buyers_only", "unknown_sku", "payment_declined", "not_found", "malformed_json",
                      "invalid_request", "unauthorized"),
              responses={201: {"content": json_content("DrawEntry")}}))
routes = [
    api(mine, Operation("GET", _ENTRIES + "/me", "The buyer's entry: status entered (before the draw), won (with the hold "
              "to claim and its deadline), lost, claimed or lapsed.", "buyer", answers={200: "The entry."},
              errors=("not_entered", "not_a_draw", "not_found", "unauthorized"),
              responses={200: {"content": json_content("DrawEntryStatus")}})),
    api(figures, Operation("GET", _ENTRIES, "The draw for its host: entries per size; after the draw, the winners and "
              "their claims.", "host", answers={200: "The figures."}, errors=("not_a_draw", "not_found", "unauthorized"),
              responses={200: {"content": json_content("DrawFigures")}})),
    api(void, Operation("POST", _ENTRIES + "/{entry_id}/void", "Exclude an entry before the draw (a bot, say) with a "
              "reason the audit lists.", "host", VoidIn, answers={200: "The entry, excluded."},
              errors=("already_drawn", "not_a_draw", "not_found", "malformed_json", "invalid_request", "unauthorized"),
              responses={200: {"content": json_content("DrawVoid")}})),
    api(draw_now, Operation("POST", "/api/shows/{slug}/offers/{offer_id}/draw", "Close the draw's entries now and run "
              "the draw (a live show's \"the draw is now\"); answers the figures with the winners.", "host",
              answers={200: "The figures after the draw."}, errors=("already_drawn", "not_a_draw", "not_found", "unauthorized"),
              responses={200: {"content": json_content("DrawFigures")}})),
    api(audit, Operation("GET", "/api/shows/{slug}/offers/{offer_id}/audit", "Everything needed to recompute a queue "
              "offer's shuffle (docs/waiting-room.md) or a draw (docs/draws.md): algorithm, commitment, the seed once "
              "revealed, every entry with its rank; a draw's also the entries hash, the secret, exclusions, winners, "
              "hand-overs and voids.", answers={200: "The audit."}, errors=("not_a_queue", "not_found"),
              responses={200: {"content": json_content("Audit")}})),
    Route("/offers/{offer_id}/verify", verify_page, methods=["GET"]),
]
