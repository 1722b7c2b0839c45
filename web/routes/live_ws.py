"""``/ws/shows/{slug}[?after=N]``: a viewer's live connection. The protocol is ``live.viewer_input``
and ``live.hub`` (see docs/protocol.md); this module checks the upgrade and adapts Starlette."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from live.connection import CLOSE_POLICY, SEND_FRAME
from web.bodies import ascii_digits
from web.livedrop import livedrop
from web.settings import Settings


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Browsers always send Origin; a page on another site must not ride a viewer's cookie.
    No Origin: not a browser (a bot, a test, a native app), which has no cookie to abuse."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    allowed = settings.allowed_origins
    if "*" in allowed or origin in allowed:
        return True
    if settings.public_url and origin == _origin_of(settings.public_url):
        return True
    return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _after(websocket: WebSocket) -> int | None:
    raw = websocket.query_params.get("after")
    if raw is None or not ascii_digits(raw) or len(raw) > 18:
        return None  # no (usable) position: a fresh snapshot
    return int(raw)


async def _frames(websocket: WebSocket) -> AsyncIterator[str | bytes]:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        yield text if text is not None else (message.get("bytes") or b"")


async def show_socket(websocket: WebSocket) -> None:
    root = livedrop(websocket)
    # Accept first, so every refusal reaches the client as a close code it can act on.
    await websocket.accept()
    if not origin_allowed(websocket, root.settings):
        await websocket.close(CLOSE_POLICY, "origin not allowed")
        return
    buyer_id = root.buyer_tokens.from_request(websocket)
    hub = root.hub
    # Under `livedrop serve` the server writes each frame, framed once per process, straight to
    # every viewer (web.ws_protocol); under any other ASGI server frames go through send_text.
    send_frame = websocket.scope.get("extensions", {}).get(SEND_FRAME)
    await hub.serve(websocket, _frames(websocket), websocket.path_params["slug"], _after(websocket), buyer_id, send_frame)


routes = [WebSocketRoute("/ws/shows/{slug}", show_socket)]
