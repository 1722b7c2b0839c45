"""The uvicorn internals ``livedrop serve`` builds on, checked once at start.

Three subclasses and one protocol reach past uvicorn's public API: livedrop's own viewer sockets
(web.viewer_socket: ``/ws/shows/`` off the ASGI stack, about 8 KiB per idle viewer instead of 30),
the WebSocket protocol (any other WebSocket path) that offers the hub
``send_frame`` (web.ws_protocol: a frame framed once per room instead of once per viewer; at
5,000 viewers it cut server CPU per delivered frame by about a third), the HTTP protocol with
deadlines against slow clients (web.http_protocol) and its answers' head and body in one write
(web.one_write, on uvicorn's RequestResponseCycle), and the server's tick and signal handling
(web.server). uvicorn may rename any of the names they use in a minor release (pyproject caps the
version below the next untested minor). ``missing_names`` lists the ones this uvicorn lacks; where
any is missing, ``livedrop serve`` logs it and runs uvicorn's own protocols instead: slower
fan-out (frames go through ASGI ``send``, which the hub handles), no request deadlines and two
writes per HTTP answer, but a working server.
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from uvicorn.server import ServerState

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - a uvicorn without them: everything is "missing"
    HttpToolsProtocol = WebSocketsSansIOProtocol = RequestResponseCycle = None  # type: ignore[assignment,misc]

# Names used by web.ws_protocol, web.http_protocol and web.server: methods they override or call,
# and attributes they read.
WEBSOCKET_METHODS = ("handle_connect", "connection_made")
WEBSOCKET_ATTRIBUTES = ("transport", "disconnected", "close_sent", "handshake_complete")
HTTP_METHODS = (
    "connection_made", "connection_lost", "on_message_begin", "on_headers_complete", "on_body",
    "on_message_complete", "on_response_complete", "handle_websocket_upgrade",
)
HTTP_ATTRIBUTES = ("transport", "flow", "pipeline", "cycle")
# web.one_write: stands in for a cycle's transport (the write, close and is_closing its send calls)
# and reads whether its answer has started, is chunked, answers a HEAD.
CYCLE_METHODS = ("send",)
CYCLE_ATTRIBUTES = ("transport", "response_started", "chunked_encoding", "scope")
SERVER_METHODS = ("on_tick", "capture_signals")
# web.viewer_socket: uvicorn hands a WebSocket upgrade to the ``ws`` class (constructed with config,
# server_state and app_state; then connection_made, data_received of the request as it parsed it,
# set_protocol), and waits at shutdown for server_state's connections and tasks, which it joins.
SERVER_STATE_ATTRIBUTES = ("connections", "tasks")


def missing_names() -> list[str]:
    """Every private uvicorn name livedrop's subclasses use that this uvicorn lacks (empty: all there)."""
    if HttpToolsProtocol is None or WebSocketsSansIOProtocol is None or RequestResponseCycle is None:
        return ["uvicorn.protocols.http.httptools_impl / websockets_sansio_impl"]
    missing = [f"Server.{name}" for name in SERVER_METHODS if not callable(getattr(uvicorn.Server, name, None))]
    missing += [f"WebSocketsSansIOProtocol.{n}" for n in WEBSOCKET_METHODS if not callable(getattr(WebSocketsSansIOProtocol, n, None))]
    missing += [f"HttpToolsProtocol.{n}" for n in HTTP_METHODS if not callable(getattr(HttpToolsProtocol, n, None))]
    missing += [f"RequestResponseCycle.{n}" for n in CYCLE_METHODS
                if not callable(getattr(RequestResponseCycle, n, None))]
    missing += [f"ServerState.{name}" for name in SERVER_STATE_ATTRIBUTES if not hasattr(ServerState(), name)]
    missing += _instance_attributes_missing()
    return missing


def _instance_attributes_missing() -> list[str]:
    """Attributes are set in __init__: make one protocol of each kind and one request's cycle (no
    connection) and look."""
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
            "RequestResponseCycle": (_cycle(), CYCLE_ATTRIBUTES),
        }
    except Exception as exc:  # their constructors changed: the subclasses cannot be trusted either
        return [f"protocol constructors ({exc.__class__.__name__}: {exc})"]
    finally:
        loop.close()
    return [f"{kind}.{name}" for kind, (protocol, names) in made.items() for name in names if not hasattr(protocol, name)]


def _cycle() -> object:
    """A RequestResponseCycle as HttpToolsProtocol.on_headers_complete makes one (keyword for keyword)."""
    return RequestResponseCycle(
        scope={"type": "http"},  # type: ignore[typeddict-item]
        transport=None,  # type: ignore[arg-type]
        flow=None,  # type: ignore[arg-type]
        logger=logging.getLogger("uvicorn.error"),
        access_logger=logging.getLogger("uvicorn.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
