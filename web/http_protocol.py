"""uvicorn's httptools protocol with deadlines on what the client sends (against slowloris).

uvicorn closes a kept-alive connection that stays idle (``timeout_keep_alive``), but it has no
bound on how long a request may take to arrive: the keep-alive timer is not armed on a new
connection, and any byte cancels it (even the blank lines a parser skips between requests). A
client that connects and sends nothing, or dribbles a request head a byte every few seconds,
holds a socket, a protocol and a parser forever; a few thousand such clients use up the
process's file descriptors.

So every connection of ``livedrop serve`` has a deadline in its server's ``ClientDeadlines``
while the server waits on the client:

- the request head: complete within ``header_timeout`` (nginx's client_header_timeout) of the
  connection being made or of the request's first byte; on a kept-alive connection, at the
  latest ``keep_alive + header_timeout`` after the last response;
- the request body: at most ``body_timeout`` between two reads of it (nginx's
  client_body_timeout). Time while reading is paused does not count: then the app is behind
  (it has not taken the body buffered so far), not the client.

``sweep`` closes the late ones; web.server calls it once a second from uvicorn's own tick. The
cost per request is a few dict operations and clock reads; there is no timer per request.

It also gives each request's cycle a ``web.one_write.OneWrite``: an answer's head and body in one
write.
"""

from __future__ import annotations

import asyncio
import logging
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from web.one_write import OneWrite

log = logging.getLogger("livedrop")


class ClientDeadlines:
    """The connections a server waits on, each with the time (monotonic) it must be done by."""

    def __init__(self, header_timeout: float, body_timeout: float, keep_alive: float) -> None:
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.keep_alive = keep_alive
        self.heads: dict[DeadlineHttpProtocol, float] = {}  # a complete request head by then
        self.bodies: dict[DeadlineHttpProtocol, float] = {}  # the next bytes of body by then

    def sweep(self, now: float | None = None) -> int:
        """Closes every connection past its deadline; returns how many."""
        now = time.monotonic() if now is None else now
        late = [protocol for protocol, deadline in self.heads.items() if now > deadline]
        for protocol, deadline in list(self.bodies.items()):
            if protocol.flow.read_paused:
                self.bodies[protocol] = now + self.body_timeout  # the app's turn, not the client's
            elif now > deadline:
                late.append(protocol)
        for protocol in late:
            self.forget(protocol)
            if not protocol.transport.is_closing():
                protocol.transport.close()
        if late:
            log.info("closed %d connection(s) whose request did not arrive in time", len(late))
        return len(late)

    def forget(self, protocol: DeadlineHttpProtocol) -> None:
        self.heads.pop(protocol, None)
        self.bodies.pop(protocol, None)


def deadline_protocol(deadlines: ClientDeadlines) -> type[DeadlineHttpProtocol]:
    """The protocol class to give uvicorn (``http=``), bound to one server's deadlines."""
    return type("DeadlineHttpProtocol", (DeadlineHttpProtocol,), {"deadlines": deadlines})


class DeadlineHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol, keeping its deadline in ``deadlines`` while it waits on its client."""

    deadlines: ClientDeadlines

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.deadlines.heads[self] = time.monotonic() + self.deadlines.header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadlines.forget(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        # The request's first byte: its head is due within the header timeout, or earlier if
        # the connection's deadline (made, or idle since the last response) comes first.
        heads = self.deadlines.heads
        due = time.monotonic() + self.deadlines.header_timeout
        if heads.get(self, due) >= due:
            heads[self] = due
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        deadlines = self.deadlines
        deadlines.heads.pop(self, None)
        # Until on_message_complete, which comes at once for a request without a body.
        deadlines.bodies[self] = time.monotonic() + deadlines.body_timeout
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before:  # a request to answer (not a WebSocket upgrade), queued or started
            OneWrite(self.cycle)

    def on_body(self, body: bytes) -> None:
        deadlines = self.deadlines
        if self in deadlines.bodies:
            deadlines.bodies[self] = time.monotonic() + deadlines.body_timeout
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.deadlines.bodies.pop(self, None)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        waiting = not self.pipeline  # else the next request, already read, starts now
        super().on_response_complete()
        if waiting and not self.transport.is_closing():
            # Idle up to the keep-alive timeout (uvicorn closes it then if no byte came), then
            # the next head: bytes that start no request (blank lines) cannot keep it open.
            deadlines = self.deadlines
            due = time.monotonic() + deadlines.keep_alive + deadlines.header_timeout
            if deadlines.heads.get(self, due) >= due:  # a next request already begun keeps its own
                deadlines.heads[self] = due

    def handle_websocket_upgrade(self) -> None:
        # The connection now belongs to the WebSocket protocol, which has its own pings and
        # timeouts; this object never hears of it again.
        self.deadlines.forget(self)
        super().handle_websocket_upgrade()
