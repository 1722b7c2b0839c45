"""``livedrop serve``'s own viewer sockets: ``/ws/shows/{slug}`` on a plain asyncio protocol.

Through ASGI an idle viewer costs about 30 KiB: uvicorn's protocol object and its sansio parser,
a task parked in ``receive()`` for the whole connection, the scope, Starlette's ``WebSocket``, the
hub's coroutine frame, timers for keepalive. Here a viewer is this protocol (``__slots__``), the
hub's ``Connection`` and ``Viewer``, and nothing that waits: a task runs only while something
happens (the join, a frame the viewer sent, the leave), one timer pings every viewer of the
process in turn, and the hub writes its frames (framed once per room) straight to the transport.

The protocol is the same as the route's (web.routes.live_ws, docs/protocol.md): accepted first,
then the Origin check (1008), the buyer (token or cookie), a signed-in panel's session or a host's
API token, ``?after=`` resume, 4404 for an unknown show, 1013 while Redis or the database is out,
frames over 4096 bytes closed with 1009, ping/pong, 1012 on a drain. uvicorn parses the HTTP
request and hands the upgrade over (its ``ws`` protocol class is this one); any other WebSocket
path, or a handshake this module does not accept, goes to uvicorn's own WebSocket protocol
(web.ws_protocol) unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import struct
from collections import deque
from typing import Any
from urllib.parse import unquote

import itsdangerous
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection
from websockets.utils import accept_key

from inventory.timeouts import within
from live.connection import CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_WAIT_S
from live.drain import CLOSE_SERVICE_RESTART, DRAIN_REASON
from live.hub import Hub, Viewer
from live.viewer_input import MAX_FRAME_BYTES
from web.faults import CLOSE_TRY_AGAIN_LATER, FAULT_HANDLERS
from web.routes.live_ws import after_of, viewer_identity
from web.ws_origin import origin_allowed

try:  # websockets' C helper; the pure-Python one where it is not built
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

log = logging.getLogger("livedrop.viewer_socket")

PREFIX = "/ws/shows/"
MAX_MESSAGE = MAX_FRAME_BYTES  # bytes of one message from a viewer (4096; docs/protocol.md: 1009 above it)
MAX_PENDING = 32  # messages read but not handled yet: past it, reading pauses (as uvicorn's ws_max_queue)
CLOSE_TIMEOUT_S = 10.0  # after our close frame, how long the client has to answer before the TCP close
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_BAD_DATA = 1007
CLOSE_INTERNAL_ERROR = 1011
_FAULTS = tuple(FAULT_HANDLERS)

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
_PING = b"\x89\x00"  # an empty ping, unmasked (a server's frames never are)


def _frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked frame with FIN (control frames: payload <= 125 bytes)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + struct.pack("!H", n) + payload
    return bytes((0x80 | opcode, 127)) + struct.pack("!Q", n) + payload


def _close_frame(code: int, reason: str) -> bytes:
    # At most 123 bytes of reason (a control frame's 125), never cut inside a character.
    return _frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:123].decode(errors="ignore").encode())


def viewer_socket_protocol(app: Any, fallback: type[asyncio.Protocol], ping_interval: float | None = 20.0) -> type[ViewerSocket]:
    """The ``ws`` protocol class for uvicorn: viewer sockets for ``app`` (the Starlette app whose
    ``state.livedrop`` is the process's Livedrop), everything else to ``fallback``."""
    sessions = _session_settings(app)
    return type("ServeViewerSocket", (ViewerSocket,), {"__slots__": (), "app": app, "fallback": fallback,
                                                        "sessions": sessions, "ping_interval": ping_interval})


def _session_settings(app: Any) -> SessionMiddleware | None:
    """The app's SessionMiddleware, made once with the same arguments: its cookie name, signer and
    maximum age read a signed-in panel's session exactly as the middleware would."""
    for middleware in getattr(app, "user_middleware", ()):
        if middleware.cls is SessionMiddleware:
            return SessionMiddleware(None, *middleware.args, **middleware.kwargs)  # type: ignore[arg-type]
    return None


class ViewerSocket(asyncio.Protocol):
    # Set on the per-server subclass (viewer_socket_protocol).
    app: Any = None
    fallback: type[asyncio.Protocol] | None = None
    sessions: SessionMiddleware | None = None
    ping_interval: float | None = 20.0
    # One keepalive round for every viewer of the process (not a timer per viewer): see _keepalive.
    _keepalive_timer: asyncio.TimerHandle | None = None

    __slots__ = (
        "transport", "server_state", "config", "app_state", "delegate", "viewer", "close_sent", "closed",
        "_buf", "_fragments", "_inbox", "_busy", "_paused", "_pong_due", "_closed_waiter",
    )

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server_state = server_state
        self.config: Any = config  # both only for a handshake handed to the fallback; dropped after
        self.app_state: dict[str, Any] | None = app_state
        self.delegate: asyncio.Protocol | None = None
        self.viewer: Viewer | None = None  # from the end of the join until the leave
        self.close_sent = False
        self.closed = False  # the transport is gone
        self._buf = b""  # bytes of a frame not complete yet
        self._fragments: bytearray | None = None  # a fragmented message so far (its first byte: the opcode)
        self._inbox: deque[str | bytes] | None = None  # messages waiting for the join or the one before
        self._busy = False  # a task is joining, handling messages or leaving: it takes the inbox
        self._paused = False
        self._pong_due = False  # pinged in the last keepalive round, no pong yet
        self._closed_waiter: asyncio.Future[None] | None = None

    # -- asyncio ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.delegate is not None:
            self.delegate.data_received(data)
        elif self.config is not None:  # the first bytes: the upgrade request as uvicorn parsed it
            self._handshake(data)
        elif not self.closed:
            self._read(self._buf + data if self._buf else data)

    def eof_received(self) -> bool | None:
        if self.delegate is not None:
            return self.delegate.eof_received()
        return None

    def pause_writing(self) -> None:
        if self.delegate is not None:
            self.delegate.pause_writing()

    def resume_writing(self) -> None:
        if self.delegate is not None:
            self.delegate.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.delegate is not None:
            self.delegate.connection_lost(exc)
            return
        self.closed = True
        self.server_state.connections.discard(self)
        waiter = self._closed_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.viewer is not None and not self._busy:
            self._run(self._leave())

    # -- the handshake ---------------------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        config, app_state = self.config, self.app_state
        self.config = self.app_state = None
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        request = lines[0].split(b" ")
        headers = [(name.lower(), value) for name, _, value in (line.partition(b": ") for line in lines[1:])]
        target = request[1] if len(request) == 3 else b""
        raw_path, _, query = target.partition(b"?")
        path = unquote(raw_path.decode("ascii", "replace"))
        slug = path[len(PREFIX):] if path.startswith(PREFIX) else ""
        key = _accept_key(headers)
        if not slug or "/" in slug or request[0] != b"GET" or key is None:
            # Not a viewer socket, or a handshake to refuse: uvicorn's own protocol, as before.
            assert self.fallback is not None
            delegate = self.delegate = self.fallback(config=config, server_state=self.server_state,  # type: ignore[call-arg]
                                                     app_state=app_state)
            delegate.connection_made(self.transport)
            delegate.data_received(data)
            return
        connections = self.server_state.connections
        connections.add(self)
        if type(self)._keepalive_timer is None:
            type(self)._start_keepalive(connections)
        # Accept first, as the route does: every refusal reaches the client as a close code.
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: " + key + b"\r\n\r\n")
        scope = {"type": "websocket", "path": path, "raw_path": raw_path, "query_string": query, "headers": headers,
                 "app": self.app, "root_path": "", "scheme": "ws", "path_params": {"slug": slug},
                 "client": self.transport.get_extra_info("peername"), "server": self.transport.get_extra_info("sockname")}
        self._busy = True
        self._run(self._join(scope, slug))
        if rest:
            self._read(rest)

    async def _join(self, scope: dict[str, Any], slug: str) -> None:
        root = self.app.state.livedrop
        try:
            conn = HTTPConnection(scope)
            if not origin_allowed(conn, root.settings):
                self._close_now(CLOSE_POLICY, "origin not allowed")
                return
            buyer_id, host_id = await viewer_identity(conn, root, self._session(conn))
            self.viewer = await root.hub.join(self, slug, after_of(conn), buyer_id, self.send_frame, host_id)
        except Exception as exc:
            self._failed(exc)
            return
        finally:
            self._busy = False
        if self.viewer is not None:
            self._next()

    def _session(self, conn: HTTPConnection) -> dict[str, Any] | None:
        sessions = self.sessions
        cookie = conn.cookies.get(sessions.session_cookie) if sessions is not None else None
        if sessions is None or cookie is None:
            return None
        try:
            data = sessions.signer.unsign(cookie.encode(), max_age=sessions.max_age)
            session = json.loads(base64.b64decode(data))
        except (itsdangerous.BadSignature, ValueError):
            return None
        return session if isinstance(session, dict) else None

    # -- what the hub calls (live.connection.Socket, SendFrame) ------------------------------------------

    def send_frame(self, wire: bytes) -> int:
        transport = self.transport
        if self.close_sent or self.closed or transport.is_closing():
            return -1
        transport.write(wire)
        return transport.get_write_buffer_size()

    async def send_text(self, data: str) -> None:  # the hub writes through send_frame; kept for the Socket protocol
        if self.send_frame(_frame(OP_TEXT, data.encode())) < 0:
            raise ConnectionError("viewer socket closed")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Send a close frame (after the frames still unsent) and wait until the client answered
        and the connection is gone; cancelled (Connection's 30 s), the transport is aborted."""
        self._send_close(code, reason or "")
        if self.closed:
            return
        waiter = self._closed_waiter
        if waiter is None:
            waiter = self._closed_waiter = asyncio.get_running_loop().create_future()
        try:
            # A stalled client reads the close frame only after the frames before it; one that
            # never does is cut off (Connection's own wait is as long).
            await within(asyncio.shield(waiter), CLOSE_WAIT_S)
        except TimeoutError:
            self.transport.abort()
        except asyncio.CancelledError:
            self.transport.abort()
            raise

    def shutdown(self) -> None:
        """uvicorn's (and the drain's last) word to every connection: a viewer closes with 1012."""
        if self.delegate is not None:
            self.delegate.shutdown()  # type: ignore[attr-defined]
        elif self.close_sent:  # closing already, the client has not answered: no more waiting
            self.transport.close()
        elif self.viewer is not None:
            self.viewer.conn.close(CLOSE_SERVICE_RESTART, DRAIN_REASON)
        else:
            self._close_now(CLOSE_SERVICE_RESTART, DRAIN_REASON)

    def _send_close(self, code: int, reason: str) -> None:
        if self.close_sent or self.closed or self.transport.is_closing():
            return
        self.close_sent = True
        self.transport.write(_close_frame(code, reason))

    def _close_now(self, code: int, reason: str) -> None:
        """Close without waiting: the close frame now, the TCP close when the client answers, or
        cut off after CLOSE_TIMEOUT_S (a no-op on a transport already closed)."""
        self._send_close(code, reason)
        if not self.closed:
            asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self.transport.abort)

    # -- reading -----------------------------------------------------------------------------------------

    def _read(self, data: bytes) -> None:
        """Parse complete frames out of ``data``; keep the rest for the next read."""
        view = memoryview(data)
        size = len(data)
        at = 0
        while size - at >= 2:
            first, second = view[at], view[at + 1]
            opcode, length, head = first & 0x0F, second & 0x7F, 2
            if first & 0x70 or not second & 0x80:  # extension bits (none agreed) or an unmasked client frame
                return self._fail(CLOSE_PROTOCOL_ERROR, "protocol error")
            if length == 126:
                if size - at < 4:
                    break
                length, head = struct.unpack_from("!H", view, at + 2)[0], 4
            elif length == 127:
                if size - at < 10:
                    break
                length, head = struct.unpack_from("!Q", view, at + 2)[0], 10
            if opcode >= OP_CLOSE:
                if not first & 0x80 or length > 125:
                    return self._fail(CLOSE_PROTOCOL_ERROR, "bad control frame")
            elif length + (len(self._fragments) - 1 if self._fragments is not None else 0) > MAX_MESSAGE:
                # Refused from the header alone: a viewer never makes us hold more than 4 KiB.
                return self._fail(CLOSE_TOO_BIG, "frames are limited to 4 KiB")
            end = at + head + 4 + length
            if end > size:
                break
            payload = apply_mask(view[at + head + 4:end], bytes(view[at + head:at + head + 4]))
            at = end
            if opcode >= OP_CLOSE:
                self._control(opcode, payload)
                if self.close_sent and opcode == OP_CLOSE:
                    return
            elif not self._data(opcode, bool(first & 0x80), payload):
                return
        self._buf = data[at:] if at < size else b""

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            if not self.close_sent:
                self.transport.write(_frame(OP_PONG, payload))
        elif opcode == OP_PONG:
            self._pong_due = False
        elif opcode == OP_CLOSE:
            # The client closes (or answers ours): its code back, then the TCP close.
            if not self.close_sent and not self.transport.is_closing():
                self.close_sent = True
                self.transport.write(_frame(OP_CLOSE, payload[:2]))
            self.transport.close()
        else:
            self._fail(CLOSE_PROTOCOL_ERROR, "unknown opcode")

    def _data(self, opcode: int, fin: bool, payload: bytes) -> bool:
        fragments = self._fragments
        if opcode == OP_CONT:
            if fragments is None:
                self._fail(CLOSE_PROTOCOL_ERROR, "unexpected continuation")
                return False
            fragments += payload
            if not fin:
                return True
            self._fragments = None
            opcode, payload = fragments[0], bytes(fragments[1:])
        elif opcode in (OP_TEXT, OP_BINARY):
            if fragments is not None:
                self._fail(CLOSE_PROTOCOL_ERROR, "expected a continuation")
                return False
            if not fin:
                self._fragments = bytearray((opcode,)) + payload
                return True
        else:
            self._fail(CLOSE_PROTOCOL_ERROR, "unknown opcode")
            return False
        if self.close_sent:
            return True  # closing: what the client still sends is discarded
        message: str | bytes = payload
        if opcode == OP_TEXT:
            try:
                message = payload.decode()
            except UnicodeDecodeError:
                self._fail(CLOSE_BAD_DATA, "invalid UTF-8")
                return False
        self._received(message)
        return True

    def _fail(self, code: int, reason: str) -> None:
        self._buf = b""
        self._fragments = None
        if self.viewer is not None:
            self.viewer.conn.close(code, reason)  # out of the room at once; the close frame follows
        else:
            self._close_now(code, reason)

    def _received(self, message: str | bytes) -> None:
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(message)
        if self._busy or self.viewer is None:
            if len(inbox) >= MAX_PENDING and not self._paused:
                self._paused = True
                self.transport.pause_reading()
            return
        self._next()

    def _next(self) -> None:
        if self._inbox or (self.closed and self.viewer is not None):
            self._busy = True
            self._run(self._handle())

    async def _handle(self) -> None:
        """The messages read so far, one at a time, as the route's loop did; then the leave, if
        the connection went meanwhile."""
        viewer, inbox = self.viewer, self._inbox
        assert viewer is not None
        root = self.app.state.livedrop
        try:
            while inbox and not self.closed and not viewer.conn.closed:
                await root.hub.received(viewer, inbox.popleft())
                if self._paused and len(inbox) < MAX_PENDING // 2:
                    self._paused = False
                    self.transport.resume_reading()
        except Exception as exc:
            self._failed(exc)
        finally:
            self._busy = False
        if self.closed:
            await self._leave()
        elif inbox and not viewer.conn.closed:
            self._next()
        else:
            self._inbox = None  # an idle viewer keeps no deque (and a closing one reads no more)
            if self._paused:  # the client's close frame is still to be read
                self._paused = False
                self.transport.resume_reading()

    async def _leave(self) -> None:
        viewer = self.viewer
        if viewer is not None:
            self.viewer = None
            hub: Hub = self.app.state.livedrop.hub
            await hub.leave(viewer)

    def _failed(self, exc: Exception) -> None:
        """A join or a message failed: 1013 when Redis or the database is out (web.faults, the
        same report), else 1011 and the traceback."""
        outages = self.app.state.livedrop.services.outages
        if isinstance(exc, _FAULTS) and outages.report(exc, refused=True) is not None:
            code, reason = CLOSE_TRY_AGAIN_LATER, "briefly unavailable; reconnect"
        else:
            log.error("viewer socket failed", exc_info=exc)
            code, reason = CLOSE_INTERNAL_ERROR, "internal error"
        if self.viewer is not None:
            self.viewer.conn.close(code, reason)
        else:
            self._close_now(code, reason)

    # -- tasks and keepalive -------------------------------------------------------------------------------

    def _run(self, work: Any) -> None:
        """A task for a moment of work; uvicorn's shutdown waits for those in server_state.tasks."""
        task = asyncio.get_running_loop().create_task(work)
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    @classmethod
    def _keepalive(cls, connections: set[Any]) -> None:
        """Every ``ping_interval``: close (1011) the viewers that did not answer the last round's
        ping, ping the others. uvicorn's rule (20 s, then 20 s for the pong) with one timer for
        every viewer of the process instead of two per viewer; it stops when none is left."""
        cls._keepalive_timer = None
        seen = 0
        for socket in list(connections):
            if not isinstance(socket, ViewerSocket) or socket.closed:
                continue
            seen += 1  # one still joining keeps the timer going too
            if socket.close_sent or socket.viewer is None:
                continue
            if socket._pong_due:
                socket.viewer.conn.close(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
            else:
                socket._pong_due = True
                socket.transport.write(_PING)
        if seen:
            cls._start_keepalive(connections)

    @classmethod
    def _start_keepalive(cls, connections: set[Any]) -> None:
        if cls.ping_interval:
            cls._keepalive_timer = asyncio.get_running_loop().call_later(cls.ping_interval, cls._keepalive, connections)


def _accept_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """Sec-WebSocket-Accept for a valid upgrade request (RFC 6455 4.2.1), else None."""
    found = dict(headers)
    if b"websocket" not in found.get(b"upgrade", b"").lower() or b"upgrade" not in found.get(b"connection", b"").lower():
        return None
    if found.get(b"sec-websocket-version") != b"13":
        return None
    key = found.get(b"sec-websocket-key", b"")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except binascii.Error:
        return None
    return accept_key(key.decode()).encode()
