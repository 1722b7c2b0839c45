"""Reading request bodies: malformed JSON is 400 ``malformed_json``; a body that breaks the rules is
422 ``invalid_request`` with a message naming the field (from the pydantic model at the edge)."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from web.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)
MAX_BODY_BYTES = 256 * 1024


async def read_json(request: Request) -> Any:
    return decode_json(await request.body())


async def receive_json(receive: Receive) -> Any:
    """``read_json`` for a plain ASGI app (no Request object): stops reading past the limit."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        return decode_json(message.get("body", b""))  # the whole body in one message, as usual
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return decode_json(b"".join(chunks))
        message = await receive()


def decode_json(body: bytes) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise _too_large()
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")


def validate(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", describe(exc)) from None


async def parse(request: Request, model: type[Model]) -> Model:
    return validate(model, await read_json(request))


def describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    message = first["msg"]
    if first["type"] == "missing":
        return f"{field}: this field is required"
    if first["type"] == "extra_forbidden":
        return f"{field}: unknown field"
    return f"{field}: {message}"


def path_id(raw: str, what: str) -> int:
    """A numeric id from the path; anything else is simply not found (404), never a 500."""
    if not raw.isdigit() or len(raw) > 15:
        raise ApiError(404, "not_found", f"no such {what}")
    return int(raw)
