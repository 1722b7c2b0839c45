"""The uvicorn internals ``livedrop serve`` builds on, checked once at start.

Three subclasses reach past uvicorn's public API: the WebSocket protocol that offers the hub
``send_frame`` (web.ws_protocol: a frame framed once per room instead of once per viewer; at
5,000 viewers it cut server CPU per delivered frame by about a third), the HTTP protocol with
deadlines against slow clients (web.http_protocol), and the server's tick and signal handling
(web.server). uvicorn may rename any of the names they use in a minor release (pyproject caps the
version below the next untested minor). ``missing_names`` lists the ones this uvicorn lacks; where
any is missing, ``livedrop serve`` logs it and runs uvicorn's own protocols instead: slower
fan-out (frames go through ASGI ``send``, which the hub handles) and no request deadlines, but a
working server.
"""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - a uvicorn without them: everything is "missing"
    HttpToolsProtocol = WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

# Names used by web.ws_protocol, web.http_protocol and web.server: methods they override or call,
# and attributes they read.
WEBSOCKET_METHODS = ("handle_connect", "connection_made")
WEBSOCKET_ATTRIBUTES = ("transport", "disconnected", "close_sent", "handshake_complete")
HTTP_METHODS = (
    "connection_made", "connection_lost", "on_message_begin", "on_headers_complete", "on_body",
    "on_message_complete", "on_response_complete", "handle_websocket_upgrade",
)
HTTP_ATTRIBUTES = ("transport", "flow", "pipeline")
SERVER_METHODS = ("on_tick", "capture_signals")


def missing_names() -> list[str]:
    """Every private uvicorn name livedrop's subclasses use that this uvicorn lacks (empty: all there)."""
    if HttpToolsProtocol is None or WebSocketsSansIOProtocol is None:
        return ["uvicorn.protocols.http.httptools_impl / websockets_sansio_impl"]
    missing = [f"Server.{name}" for name in SERVER_METHODS if not callable(getattr(uvicorn.Server, name, None))]
    missing += [f"WebSocketsSansIOProtocol.{n}" for n in WEBSOCKET_METHODS if not callable(getattr(WebSocketsSansIOProtocol, n, None))]
    missing += [f"HttpToolsProtocol.{n}" for n in HTTP_METHODS if not callable(getattr(HttpToolsProtocol, n, None))]
    missing += _instance_attributes_missing()
    return missing


def _instance_attributes_missing() -> list[str]:
    """Attributes are set in __init__: make one protocol of each kind (no connection) and look."""
    async def _noop_app(scope: object, receive: object, send: object) -> None:  # pragma: no cover
        return None

    config = uvicorn.Config(_noop_app, lifespan="off", log_config=None)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        state = ServerState()
        made = {
            "WebSocketsSansIOProtocol": (WebSocketsSansIOProtocol(config, state, {}, _loop=loop), WEBSOCKET_ATTRIBUTES),
            "HttpToolsProtocol": (HttpToolsProtocol(config, state, {}, _loop=loop), HTTP_ATTRIBUTES),
        }
    except Exception as exc:  # their constructors changed: the subclasses cannot be trusted either
        return [f"protocol constructors ({exc.__class__.__name__}: {exc})"]
    finally:
        loop.close()
    return [f"{kind}.{name}" for kind, (protocol, names) in made.items() for name in names if not hasattr(protocol, name)]
