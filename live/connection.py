"""One viewer's connection: frames go out in order, and a viewer that falls behind is dropped.

The room only ever calls ``push`` (synchronous, never awaits), so a viewer that stops reading
cannot slow anyone else down. Two ways out, depending on the server:

- ``send_frame`` (``livedrop serve``, see web.ws_protocol): the frame, framed once for the whole
  room, is written to the connection's transport at once. No task per viewer and no copy per
  viewer; the transport's buffer is the queue, bounded in bytes.
- otherwise, a bounded queue of frames drained by one writer task through ``send_text``, bounded
  in frames and by a send timeout.

Past either bound the connection is closed with 1013 ("try again later"): the browser resumes with
``?after=<last seq>`` and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from websockets.frames import Frame, Opcode

from inventory.timeouts import within
from live.frames import seq_of

from live.metrics import FRAMES_DROPPED, SLOW_CLOSES

log = logging.getLogger("livedrop.connection")

CLOSE_TOO_SLOW = 1013
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_UNKNOWN_SHOW = 4404
CLOSE_GOING_AWAY = 1001
# How long a close frame may wait for a stalled client to read the frames queued before it.
CLOSE_WAIT_S = 30.0

# The ASGI extension (in the connection's scope) through which the server offers send_frame.
SEND_FRAME = "livedrop.send_frame"

# Writes a complete WebSocket frame to the connection; returns the bytes still unsent in its
# buffer, or -1 when the connection can no longer take frames (closing, or gone).
SendFrame = Callable[[bytes], int]


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked WebSocket text frame (a server's frames are never masked, and
    permessage-deflate is off, so the bytes are the same for every connection)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


# The queue of every connection whose frames the server writes itself, once it has joined: push
# never queues for those (it writes at once), so it stays empty.
_NO_QUEUE: deque[str] = deque(maxlen=0)

# Close tasks run on their own; asyncio keeps only weak references to tasks, so we hold them.
_closing: set[asyncio.Task[None]] = set()


class Socket(Protocol):
    """What the hub needs of a WebSocket (Starlette's WebSocket has exactly this)."""

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Connection:
    __slots__ = (
        "socket", "limit", "send_timeout", "queue", "last_seq", "joining", "closed", "close_code",
        "_wake", "_writer", "_closer", "_on_close", "backlog",
        "send_frame", "byte_limit", "allowance", "__weakref__",
    )

    def __init__(self, socket: Socket, limit: int, send_timeout: float, *,
                 send_frame: SendFrame | None = None, byte_limit: int = 256 * 1024) -> None:
        self.socket = socket
        self.send_frame = send_frame
        self.byte_limit = byte_limit
        # Bytes of the first burst (snapshot, or a resume's replay) the buffer may hold on top of
        # byte_limit until it has drained once: the bound is for falling behind the live room.
        self.allowance = 0
        self.limit = limit
        self.send_timeout = send_timeout
        self.queue: deque[str] = deque()
        self.last_seq = 0  # frames with a seq at or below this are not sent again
        self.joining = True  # until the snapshot (or the replay) is out: lasting frames wait behind it
        self.closed = False
        self.close_code: int | None = None
        self._wake: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._on_close: Callable[[Connection], None] | None = None
        # Frames of the first burst (a resume may replay up to the 1,000 kept events) still in the
        # queue: they do not count against the bound, which is for falling behind the live room.
        self.backlog = 0

    def push(self, frame: str, seq: int | None = None, wire: bytes | None = None) -> bool:
        """Send or queue a frame (the same str object, and its ``wire`` bytes, for every
        connection). True when it was queued for this connection's writer task (its cost comes
        later), False when written now or dropped."""
        if self.closed:
            return False
        if seq is not None:
            if seq <= self.last_seq:
                return False
        elif self.joining:
            return False  # state frames sent before the snapshot would be older than it
        send_frame = self.send_frame
        if send_frame is not None and not self.joining:
            self._write_now(send_frame, text_frame(frame) if wire is None else wire, seq)
            return False
        if len(self.queue) - self.backlog >= self.limit:
            log.info("closing a viewer %d frames behind (1013)", len(self.queue) - self.backlog)
            self.close(CLOSE_TOO_SLOW, "too slow; reconnect with ?after=<last seq>")
            return False
        self.queue.append(frame)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        return True

    def _write_now(self, send_frame: SendFrame, wire: bytes, seq: int | None, bounded: bool = True) -> int:
        unsent = send_frame(wire)
        if unsent < 0:  # closing or gone: the receive side notices and cleans up
            self.closed = True
            return unsent
        if seq is not None and seq > self.last_seq:
            self.last_seq = seq
        if not bounded:
            return unsent
        if unsent <= self.byte_limit:
            self.allowance = 0  # the first burst has drained: from now on the plain bound applies
        elif unsent > self.byte_limit + self.allowance:
            log.info("closing a viewer %d bytes behind (1013)", unsent)
            self.close(CLOSE_TOO_SLOW, "too slow; reconnect with ?after=<last seq>")
        return unsent

    def start(self, first: list[str], last_seq: int, on_close: Callable[["Connection"], None]) -> None:
        """The join is done: send ``first`` (snapshot, or replayed events and current state),
        then whatever lasting events arrived meanwhile that ``first`` did not already cover."""
        self.last_seq = last_seq
        waiting = [f for f in self.queue if (seq_of(f) or 0) > self.last_seq]
        self.queue.clear()
        self.joining = False
        self._on_close = on_close
        send_frame = self.send_frame
        if send_frame is not None:
            unsent = 0
            for frame in (*first, *waiting):
                if self.closed:
                    return
                unsent = self._write_now(send_frame, text_frame(frame), seq_of(frame), bounded=False)
            self.allowance = max(0, unsent)  # whatever of the burst is still unsent may stay
            self.queue = _NO_QUEUE  # from now on frames go straight out: no deque (~600 bytes) per viewer
            return
        self.queue.extend(first)
        self.queue.extend(waiting)
        self.backlog = len(self.queue)
        self._writer = asyncio.create_task(self._write(), name="ws-writer")

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self.closed:
                if not self.queue:
                    self._wake = loop.create_future()
                    await self._wake
                    self._wake = None
                    continue
                # One timer for the whole burst (not one per frame: that is a measurable share of
                # fan-out time). A send that does not block costs microseconds, so a burst of a
                # full queue that takes the whole timeout means the client is not reading.
                async with asyncio.timeout(self.send_timeout):
                    while self.queue and not self.closed:
                        frame = self.queue.popleft()
                        if self.backlog:
                            self.backlog -= 1
                        await self.socket.send_text(frame)
                        if seq := seq_of(frame):
                            self.last_seq = max(self.last_seq, seq)
        except TimeoutError:
            log.info("closing a viewer that did not read for %.1fs (1013)", self.send_timeout)
            self.close(CLOSE_TOO_SLOW, "too slow; reconnect with ?after=<last seq>")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send: the receive side notices and cleans up
            log.debug("viewer send failed: %r", exc)
            self.closed = True

    def close(self, code: int, reason: str = "") -> None:
        """Stop sending and close with ``code`` in the background; the room forgets us at once."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        if self.queue:
            FRAMES_DROPPED.inc(len(self.queue))
            self.queue.clear()
        if code == CLOSE_TOO_SLOW:
            SLOW_CLOSES.inc()
        if self._on_close is not None:
            self._on_close(self)
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()  # it may be waiting for the socket to drain; the close frame goes next
        task = self._closer = asyncio.create_task(self._send_close(code, reason), name="ws-close")
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _send_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            # A stalled client gets the close frame after the frames it has not read yet; if it
            # never reads, the server stops waiting and the transport closes.
            await within(self.socket.close(code, reason), CLOSE_WAIT_S)

    async def wait_closed(self) -> None:
        """The receive side ended (the client left, or we closed): stop the writer, and let a
        close frame we started go out before the handler returns."""
        self.closed = True
        if self._on_close is not None:
            self._on_close(self)
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(BaseException):
                await self._writer
        if self._closer is not None:
            with contextlib.suppress(BaseException):
                await self._closer
