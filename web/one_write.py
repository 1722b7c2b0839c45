"""One write per HTTP answer whose body is known up front (the hold route's answers, every JSON
answer, every page).

uvicorn's httptools protocol writes an answer's head (status line and headers) with one
``transport.write`` when the app sends ``http.response.start``, and its body with another on
``http.response.body``: two write() calls and two TCP segments per answer (issue 20's profile put
the second at about 17 % of the hold route's samples).

``OneWrite`` stands in for the connection's transport in one request's ``RequestResponseCycle``,
until the answer's head is out. uvicorn's own ``send`` still does everything (header checks,
Content-Length or chunked, HEAD, ``Connection: close``, keep-alive, flow control, its access log);
only where its head goes changes: held, then written joined to the body's first bytes in one
write. It is held only while the body is known to follow at once (a Content-Length, or no body at
all); a chunked (streamed) answer's head, and a HEAD answer's, go when uvicorn writes them: a
stream's client may wait on the head before the first chunk, which can be minutes away.

It is no coroutine of its own: wrapping ``send`` in one cost about 2 µs of Python per answer, more
than the write() it saves (1-5 µs of system time per request here); this costs about 1 µs.
Figures: docs/hold-script.md.

web.http_protocol puts one on every request's cycle when web.uvicorn_seams finds the names it
uses in this uvicorn; otherwise ``livedrop serve`` runs uvicorn's own protocol and its two writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

# Above this the body goes in a write of its own after the head: joining copies the body. Up to
# 64 KiB the copy (1.8 µs here) is cheaper than the write() it saves; a bigger body is several
# TCP segments and writes anyway, and a page of megabytes is not worth copying for one call. The
# hold route's answers are under 400 bytes (joined in 0.06 µs).
JOIN_LIMIT = 64 * 1024


class OneWrite:
    """One request's transport, as its cycle sees it, until its answer's head is written."""

    __slots__ = ("cycle", "held", "transport")

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self.cycle: RequestResponseCycle | None = cycle
        self.transport: asyncio.Transport = cycle.transport
        self.held = b""  # the head uvicorn wrote, not yet sent
        cycle.transport = self  # type: ignore[assignment]  # the Transport methods it calls are here

    def write(self, data: bytes) -> None:
        held = self.held
        cycle = self.cycle
        if held:  # the body's first bytes (b"" for an answer without a body)
            self.held = b""
            if len(data) > JOIN_LIMIT:
                self.transport.write(held)
                self.transport.write(data)
            else:
                self.transport.write(held + data)  # the one write
            self.release()
        elif cycle is None or not cycle.response_started:  # "100 Continue", written by receive()
            self.transport.write(data)
        elif cycle.chunked_encoding or cycle.scope["method"] == "HEAD":
            self.transport.write(data)  # a head that no body follows at once: as uvicorn writes it
            self.release()
        else:
            self.held = data  # the head: uvicorn writes it last thing on http.response.start

    def release(self) -> None:
        """The head is out: the cycle writes to its transport itself again. (Left pointing here,
        cycle and OneWrite would refer to each other, and every request would leave garbage that
        only the cyclic collector frees; web.server makes its young passes rare on purpose.)"""
        cycle = self.cycle
        if cycle is not None:
            self.cycle = None
            cycle.transport = self.transport

    def flush(self) -> None:
        held, self.held = self.held, b""
        if held:
            self.transport.write(held)
        self.release()

    def close(self) -> None:
        # uvicorn closes after a failure between http.response.start and the body: the head goes
        # first, as uvicorn would have sent it.
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        # Anything else a later uvicorn may call on the transport: what is held goes first, so
        # nothing written another way can overtake the head.
        self.flush()
        return getattr(self.transport, name)
