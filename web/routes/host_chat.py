"""The host talks back (docs/host-chat.md): staff messages and replies, the pinned message,
moderators, the chat's CSV. The work is live.host_chat's; this module reads bodies, calls it and
answers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from live.host_chat import HostChat
from web.auth import current_host, valid_email
from web.bodies import MAX_SQL_ID, parse
from web.livedrop import livedrop
from web.openapi import Operation, api

MAX_ID = MAX_SQL_ID + 1


class StaffChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Field(min_length=1, max_length=2000, description="at most 280 characters once trimmed (422 beyond)")]
    reply_to: Annotated[int, Field(ge=1, lt=MAX_ID, strict=True, description="the id of the message answered")] | None = None


class PinMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: Annotated[int, Field(ge=1, lt=MAX_ID, strict=True)]


class ModeratorIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: Annotated[str, Field(min_length=3, max_length=320)]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not valid_email(value):
            raise ValueError("not an email address")
        return value.lower()


def _desk(request: Request) -> HostChat:
    return livedrop(request).host_chat


async def _actor(request: Request) -> int:
    return (await current_host(request, livedrop(request).services.sessions, request.method)).id


async def post_message(request: Request) -> JSONResponse:
    actor = await _actor(request)
    body = await parse(request, StaffChatIn)
    message = await _desk(request).say(actor, request.path_params["slug"], body.text, body.reply_to)
    return JSONResponse(message, status_code=201)


async def pin_message(request: Request) -> JSONResponse:
    actor = await _actor(request)
    body = await parse(request, PinMessageIn)
    return JSONResponse(await _desk(request).pin(actor, request.path_params["slug"], body.message_id))


async def unpin_message(request: Request) -> Response:
    actor = await _actor(request)
    await _desk(request).pin(actor, request.path_params["slug"], None)
    return Response(status_code=204)


async def chat_csv(request: Request) -> Response:
    actor = await _actor(request)
    slug = request.path_params["slug"]
    text = await _desk(request).csv(actor, slug)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{slug}-chat.csv"'})


async def list_moderators(request: Request) -> JSONResponse:
    actor = await _actor(request)
    return JSONResponse({"moderators": await _desk(request).moderators(actor, request.path_params["slug"])})


async def add_moderator(request: Request) -> JSONResponse:
    actor = await _actor(request)
    body = await parse(request, ModeratorIn)
    email = await _desk(request).add_moderator(actor, request.path_params["slug"], body.email)
    return JSONResponse({"email": email}, status_code=201)


async def remove_moderator(request: Request) -> Response:
    actor = await _actor(request)
    await _desk(request).remove_moderator(actor, request.path_params["slug"], request.path_params["email"])
    return Response(status_code=204)


_STAFF = ("unauthorized", "csrf_failed", "not_found")


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


_MESSAGE = {"type": "object", "required": ["id", "buyer_id", "name", "text", "ts"], "properties": {
    "id": {"type": "integer"}, "buyer_id": {"type": "string"}, "name": {"type": "string"}, "text": {"type": "string"},
    "ts": {"type": "integer"}, "role": {"type": "string", "enum": ["host", "moderator"]},
    "reply_to": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "text": {"type": "string"}}}}}
_EMAILS = {"type": "object", "required": ["moderators"], "properties": {"moderators": {"type": "array", "items": {"type": "string"}}}}
_EMAIL = {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}
_CSV = {"content": {"text/csv": {"schema": {"type": "string"}}}}
routes = [
    api(post_message, Operation("POST", "/api/shows/{slug}/chat", "Post in the show's chat as its host or a moderator (a badge on every "
              "screen); with reply_to, a reply that quotes the message answered.", "host", StaffChatIn,
              answers={201: "The message: {id, buyer_id, name, text, ts, role, reply_to?}"}, responses={201: _json(_MESSAGE)},
              errors=("malformed_json", "invalid_request", "invalid_state", "rate_limited", *_STAFF))),
    api(pin_message, Operation("PUT", "/api/shows/{slug}/pinned-message", "Pin one chat message on every screen (replaces the last).",
              "host", PinMessageIn, answers={200: "The pinned message."}, responses={200: _json(_MESSAGE)}, errors=("malformed_json", "invalid_request", *_STAFF))),
    api(unpin_message, Operation("DELETE", "/api/shows/{slug}/pinned-message", "Unpin the pinned message.", "host",
              answers={204: "Unpinned."}, errors=_STAFF)),
    api(chat_csv, Operation("GET", "/api/shows/{slug}/chat.csv", "The whole chat as CSV, once the show has ended (host or moderator).",
              "host", answers={200: "text/csv"}, responses={200: _CSV}, errors=("show_not_ended", *_STAFF))),
    api(list_moderators, Operation("GET", "/api/shows/{slug}/moderators", "The show's moderators (emails).", "host",
              answers={200: "{\"moderators\": [...]}"}, responses={200: _json(_EMAILS)}, errors=("moderator_not_allowed", *_STAFF))),
    api(add_moderator, Operation("POST", "/api/shows/{slug}/moderators", "Name a moderator of this show by email: a host account "
              "with that email may then post with a badge, reply, pin a message, delete and mute here.", "host", ModeratorIn,
              answers={201: "{\"email\"}"}, responses={201: _json(_EMAIL)}, errors=("malformed_json", "invalid_request", "moderator_not_allowed", *_STAFF))),
    api(remove_moderator, Operation("DELETE", "/api/shows/{slug}/moderators/{email}", "Remove a moderator.", "host",
              answers={204: "Removed."}, errors=("moderator_not_allowed", *_STAFF))),
]
