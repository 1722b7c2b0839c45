"""The waiting room's proof-of-work challenge: what a buyer solves before joining a queue offer
when LIVEDROP_QUEUE_POW is above 0 (web.queue_pow; the browser side is static/common/pow.js).

Issuing stores nothing (the challenge carries its own signature, binding and expiry), so the
route does not look the offer up: a challenge for an offer that is not a queue offer is simply
never asked for by the join, which checks the offer itself."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from web.bodies import path_id
from web.buyer_identity import require_buyer
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content


async def challenge(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    offer_id = path_id(request.path_params["offer_id"], "offer")
    pow_ = livedrop(request).queue_pow
    if pow_ is None:
        raise ApiError(404, "pow_off", "this server asks no proof of work (LIVEDROP_QUEUE_POW is 0): join with {}")
    # Never cached: each answer is a fresh random challenge with its own expiry.
    return JSONResponse(pow_.challenge(buyer_id, offer_id), headers={"Cache-Control": "no-store"})


routes = [
    api(challenge, Operation(
        "GET", "/api/shows/{slug}/offers/{offer_id}/queue/challenge",
        "An ALTCHA challenge for joining the offer's waiting room, bound to this buyer and offer; it expires "
        "after 5 minutes. Solve it (static/common/pow.js, or the vendored ALTCHA widget) and join with "
        "{\"pow\": <the base64 payload>}. 404 pow_off when the server asks no proof of work.", "buyer",
        answers={200: "{\"algorithm\", \"challenge\", \"maxnumber\", \"salt\", \"signature\", \"expires_at\"}"},
        errors=("unauthorized", "not_found", "pow_off"),
        responses={200: {"content": json_content("PowChallenge")}})),
]
