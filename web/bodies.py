"""Reading request bodies: malformed JSON is 400 ``malformed_json``; a body that breaks the rules is
422 ``invalid_request`` with a message naming the field (from the pydantic model at the edge).

Every body is bounded by ``BodyLimit``, the outermost middleware: a declared ``Content-Length``
above the route's limit is refused (413 ``payload_too_large``) before a byte of the body is read,
and a body without one (chunked) is counted while it streams in. So no route, whatever it reads
(JSON, a form, a CSV upload, SDP), ever holds more than its limit in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import ApiError, error_body
from web.refusal_language import refusal_message, scope_locale

Model = TypeVar("Model", bound=BaseModel)
MAX_BODY_BYTES = 256 * 1024

# Times on the wire are integer ms since the epoch (CONTRACT.md). Bounded so that nothing a client
# sends can overflow a BIGINT column or a datetime: 0 (1970) up to, not including, 3000-01-01 UTC.
MAX_TIME_MS = 32_503_680_000_000
Timestamp = Annotated[int, Field(ge=0, lt=MAX_TIME_MS, strict=True)]


class BodyLimit:
    """Pure ASGI middleware bounding every request body; see the module's docstring.

    ``larger`` names the few routes (by exact path) that may take more than ``limit``. A request
    whose ``Content-Length`` is within its limit passes untouched (the buy button's path costs one
    pass over the headers): the HTTP server delivers no more than that many bytes of body, since
    that is how it finds where the next request starts."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        declared = declared_length(scope["headers"])
        if declared is not None and declared > limit:
            await refuse_too_large(send, limit, scope_locale(scope))
            return
        try:
            if declared is not None and declared >= 0 or declared is None and scope.get("http_version") in _FRAMED_BY_HEADERS:
                # A declared length bounds what the server delivers; an HTTP/1 request with neither
                # header has no body at all (RFC 9112, 6.3), so every GET passes unwrapped too.
                await self.app(scope, receive, send)
            else:
                body = CountedBody(receive, send, limit, chunked=declared == CHUNKED)
                await self.app(scope, body.receive, body.send)
        except ClientDisconnect:
            # The client went away (or was closed for sending too slowly, web.http_protocol)
            # while its body was read: nobody to answer, and not a server error to log.
            pass


CHUNKED = -1
_FRAMED_BY_HEADERS = ("1.0", "1.1")  # HTTP versions whose body exists only with one of the two headers


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The body's declared length; CHUNKED when a Transfer-Encoding frames it (its length is
    known only at the end; it overrides any Content-Length); None when neither header is there
    (no body in HTTP/1, a body of unknown length in HTTP/2) or the length is not a number."""
    length = None
    for name, value in headers:
        if name == b"content-length":
            if not value.isdigit():  # bytes.isdigit: ASCII digits only
                return None
            length = int(value)
        elif name == b"transfer-encoding":
            return CHUNKED
    return length


class CountedBody:
    """``receive`` and ``send`` of a request whose body's length is not declared.

    ``receive`` refuses the body once more than ``limit`` bytes of it arrived: the refusal is
    raised in the route that reads (the exception handler answers 413), so the route never sees
    the rest. A chunked body still arriving when the answer starts (a refusal, or a route that
    answers without reading) gets ``Connection: close`` on that answer: uvicorn would otherwise
    go on reading it to its end, however long, to find the next request."""

    def __init__(self, receive: Receive, send: Send, limit: int, *, chunked: bool) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.complete = not chunked  # without a Transfer-Encoding, there is nothing to drain

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise too_large(self.limit)
            if not message.get("more_body", False):
                self.complete = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self.complete:
            headers = list(message.get("headers", ()))
            if not any(name.lower() == b"connection" for name, _ in headers):  # a 413 says it already
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await self._send(message)


async def refuse_too_large(send: Send, limit: int, locale: str = "en") -> None:
    """413 without reading the body; the connection is closed after it (the client may still be
    sending, and that is not worth reading)."""
    body = error_body("payload_too_large", refusal_message(locale, "payload_too_large", _too_large_message(limit)))
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})


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
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return decode_json(b"".join(chunks))
        message = await receive()


async def send_json(send: Send, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A JSON answer from a plain ASGI app (the hold and join routes): what JSONResponse sends,
    without building one."""
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": body})


def decode_json(body: bytes) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise too_large()
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


def too_large(limit: int = MAX_BODY_BYTES) -> ApiError:
    return ApiError(413, "payload_too_large", _too_large_message(limit), headers={"Connection": "close"})


def _too_large_message(limit: int) -> str:
    return f"the body is larger than {limit // 1024} KiB"


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


def ascii_digits(raw: str) -> bool:
    """Only 0-9: str.isdigit also takes "¹" (which int() refuses) and "١" (which int() reads as 1)."""
    return raw.isascii() and raw.isdigit()


# Ids are SQL INTEGER columns: PostgreSQL refuses a parameter past 2**31 - 1 with an error (a 500
# if it got that far), SQLite does not, so the bound is checked here for both.
MAX_SQL_ID = 2**31 - 1


def path_id(raw: str, what: str) -> int:
    """A numeric id from the path; anything else (not ASCII digits, or past any SQL id) is simply
    not found (404), never a 500."""
    if not ascii_digits(raw) or len(raw) > 15 or int(raw) > MAX_SQL_ID:
        raise ApiError(404, "not_found", f"no such {what}")
    return int(raw)
