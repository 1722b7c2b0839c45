"""A drop's waiting room: join the line, see one's place (and the pass, once admitted), the
public audit, and the host's figures. The work is live.queues' (Queues)."""

from __future__ import annotations

from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from web.auth import current_host
from web.bodies import path_id, receive_json, send_json, validate
from web.buyer_identity import require_buyer, require_scope_buyer, scope_authorization, scope_ip
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content

MAX_POW_CHARS = 4096
JOIN_WINDOW_MS = 60_000


class JoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pow: Annotated[str, Field(max_length=MAX_POW_CHARS, description=(
        "The solved ALTCHA challenge (base64 JSON) when the server asks for proof of work (LIVEDROP_QUEUE_POW > 0): "
        "GET .../queue/challenge"))] | None = None


class JoinQueue:
    """POST .../queue: joining the line, what 100,000 people do in the minutes before a drop.

    A plain ASGI app under the same middleware as every route, as the hold route is (see
    web.routes.holds.CreateHold): a join is one Redis call, and the Starlette endpoint around it
    (the Request object, the response class) cost more than the call. The checks, their order and
    their answers are the endpoint's: 401 without a buyer token, 404 for an offer id that is no
    id, 400 / 422 for a bad body (JoinIn is the rule), then the proof of work and the join, whose
    refusals are raised and rendered by the refusal handler as anywhere else."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = livedrop(scope)
        buyer_id = require_scope_buyer(scope, scope_authorization(scope))
        params = scope["path_params"]
        offer_id = path_id(params["offer_id"], "offer")
        data = await receive_json(receive)
        pow_token = None if type(data) is dict and not data else validate(JoinIn, data).pow  # {} (or no body): nearly every join
        pow_check = root.queue_pow
        if pow_check is not None:
            pow_check.verify(pow_token, buyer_id, offer_id)
        per_ip = root.settings.buyers_per_ip_per_minute  # entries per address: the same bound as new buyers
        entry, created = await root.queues.join(
            params["slug"], offer_id, buyer_id, scope_ip(scope), (per_ip, JOIN_WINDOW_MS) if per_ip else None
        )
        await send_json(send, 201 if created else 200, orjson.dumps(entry))


async def me(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    offer_id = path_id(request.path_params["offer_id"], "offer")
    place = await livedrop(request).queues.place(request.path_params["slug"], offer_id, buyer_id)
    return JSONResponse(place, headers={"Cache-Control": "no-store"})


async def figures(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    offer_id = path_id(request.path_params["offer_id"], "offer")
    return JSONResponse(await root.queues.figures(host.id, request.path_params["slug"], offer_id))


_QUEUE = "/api/shows/{slug}/offers/{offer_id}/queue"
# Joining, apart: web.app puts it right after the buy button.
join_route = api(JoinQueue(), Operation("POST", _QUEUE, "Join a queue offer's waiting room, before or after it starts (once per buyer: "
              "again answers the same entry with 200). Who joined before starts_at is shuffled then; later joiners follow "
              "in arrival order.", "buyer", JoinIn,
              answers={201: "The entry.", 200: "The same entry again."},
              errors=("not_a_queue", "queue_closed", "pow_required", "pow_invalid", "rate_limited", "not_found",
                      "malformed_json", "invalid_request", "unauthorized"),
              responses={201: {"content": json_content("QueueEntry")}, 200: {"content": json_content("QueueEntry")}}))
routes = [
    api(me, Operation("GET", _QUEUE + "/me", "The buyer's place: rank (null until starts_at), people ahead, whether admitted, "
              "and then the pass a hold on this offer must carry (good for 2 minutes after admission).", "buyer",
              answers={200: "The place."}, errors=("not_in_queue", "not_a_queue", "queue_closed", "not_found", "unauthorized"),
              responses={200: {"content": json_content("QueuePlace")}})),
    api(figures, Operation("GET", _QUEUE, "The waiting room at a glance for its host: length, admitted, passes used, units sold.",
              "host", answers={200: "The figures."}, errors=("not_a_queue", "not_found", "unauthorized"),
              responses={200: {"content": json_content("QueueFigures")}})),
]
