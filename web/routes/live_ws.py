"""``/ws/shows/{slug}[?after=N]``: a viewer's live connection. The protocol is ``live.viewer_input``
and ``live.hub`` (see docs/protocol.md); this module checks the upgrade and adapts Starlette."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import HTTPConnection
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from live.connection import CLOSE_POLICY, SEND_FRAME
from web.auth import bearer_token, host_for_token
from web.bodies import ascii_digits
from web.livedrop import Livedrop, livedrop
from web.ws_origin import origin_allowed


def after_of(websocket: HTTPConnection) -> int | None:
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
    buyer_id, host_id = await viewer_identity(websocket, root, websocket.scope.get("session"))
    hub = root.hub
    # Under `livedrop serve` the server writes each frame, framed once per process, straight to
    # every viewer (web.ws_protocol); under any other ASGI server frames go through send_text.
    send_frame = websocket.scope.get("extensions", {}).get(SEND_FRAME)
    await hub.serve(websocket, _frames(websocket), websocket.path_params["slug"], after_of(websocket), buyer_id, send_frame,
                    host_id)


async def viewer_identity(conn: HTTPConnection, root: Livedrop, session: object) -> tuple[str | None, int | None]:
    """The buyer (token or cookie) and the host (a signed-in panel's ``session``, else a host's
    API token) of a viewer's socket, as both ways in (this route, and ``livedrop serve``'s own
    viewer sockets in web.viewer_socket) find them."""
    buyer_id = root.buyer_tokens.from_request(conn)
    # A signed-in panel's socket also carries the host's inbox (docs/threads.md); the Origin check
    # before this keeps another site from riding the session cookie.
    host_id = session.get("host_id") if isinstance(session, dict) else None
    token = bearer_token(conn) if host_id is None and buyer_id is None else None
    if token:  # a host's API token (an integration's inbox), looked up only when it is no buyer's
        async with root.services.sessions() as db:
            host = await host_for_token(db, token)
        host_id = host.id if host is not None else None
    return buyer_id, host_id if isinstance(host_id, int) else None


routes = [WebSocketRoute("/ws/shows/{slug}", show_socket)]
