"""One decoded source track, many consumers, and never a frame two of them share.

aiortc's ``MediaRelay`` hands the *same* frame object to every subscriber. That is not safe here:
PyAV's ``CodecContext.encode`` rebases a frame's ``pts``/``time_base`` to the encoder's time base
in place ("TODO: Don't mutate time" in av/codec/context.py), aiortc's VP8 encoder sets
``pict_type`` on it to force a keyframe, ``reformat`` rewrites its colour tags for a moment, and the
recorder stamped its own ``pts``/``time_base`` on it, all from different threads. An encoder that
then meets a frame rebased by the recorder (pts 172 at 1/30 s, i.e. 5,733,333 us) after one at
6,000,000 us gets a timestamp that goes backwards, libvpx refuses it
(``avcodec_send_frame()``: Invalid data) and aiortc's sender stops for good: with recording on,
4 of 4 viewers froze within 4 s here.

So a ``FrameFanout`` reads the source once and each ``FrameSubscriber`` gets its own copy of a
frame when it asks for one (frames it never asks for are never copied). Copying a 640x360 frame
costs about 36 us, a 1280x720 one about 62 us (one memcpy per plane), a 320x180 one about 150 us
(the decoder pads its rows to 384 bytes, so rows are copied one by one): 3-25 % of the VP8
encode it feeds (1.3 ms, 8.8 ms, 0.6 ms here).

Each subscriber has a small queue of its own instead of the relay's "latest frame only" or its
unbounded buffer: the decoder can hand over two frames back to back (the jitter buffer releases a
late frame with the next one), and a one-slot mailbox then loses one of them for every viewer.
Past the queue's depth the oldest frame is dropped, so a slow consumer costs memory and delay
bounded by ``depth`` frames, never more.

The fan-out also reads the source while nobody watches, so the publisher's receive queue (which
aiortc does not bound) never grows.

Everything here runs on the media loop; none of it is thread-safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger("livedrop.media")

Frame = av.VideoFrame | av.AudioFrame


@dataclass(frozen=True)
class Delivery:
    """A frame that is the consumer's own, and when its source frame reached the fan-out."""

    frame: Frame
    arrived_ms: int  # wall clock, ms since the epoch


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def copy_frame(frame: Frame) -> Frame:
    """A new frame with the same picture or sound, ``pts``, ``time_base`` (and sample rate)."""
    copy: Frame = _copy_video(frame) if isinstance(frame, av.VideoFrame) else _copy_audio(frame)
    copy.pts = frame.pts
    if frame.time_base is not None:
        copy.time_base = frame.time_base
    return copy


def _copy_video(frame: av.VideoFrame) -> av.VideoFrame:
    copy = av.VideoFrame(frame.width, frame.height, frame.format.name)
    copy.colorspace, copy.color_range = frame.colorspace, frame.color_range  # how to read the samples
    for source, target in zip(frame.planes, copy.planes):
        if source.line_size == target.line_size and source.buffer_size == target.buffer_size:
            target.update(memoryview(source))  # type: ignore[arg-type]  # any buffer will do
        else:  # row padding differs: copy the visible part of each row
            _copy_rows(memoryview(source), source.line_size, memoryview(target), target.line_size,
                       min(source.line_size, target.line_size), target.height)
    return copy


def _copy_audio(frame: av.AudioFrame) -> av.AudioFrame:
    copy = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
    copy.sample_rate = frame.sample_rate
    for source, target in zip(frame.planes, copy.planes):
        size = min(source.buffer_size, target.buffer_size)
        memoryview(target)[:size] = memoryview(source)[:size]
    return copy


def _copy_rows(source: memoryview, source_stride: int, target: memoryview, target_stride: int,
               width: int, rows: int) -> None:
    for row in range(rows):
        start, at = row * source_stride, row * target_stride
        target[at:at + width] = source[start:start + width]


class FrameSubscriber(MediaStreamTrack):
    """A consumer's view of a source: ``recv`` returns a frame no one else holds.

    When whoever reads it stops it (aiortc's sender does when its RTP loop ends, for whatever
    reason), it emits "ended" like any track; the engine listens for that.
    """

    def __init__(self, fanout: FrameFanout, depth: int) -> None:
        super().__init__()
        self.kind = fanout.source.kind
        self._fanout: FrameFanout | None = fanout
        self._pending: deque[tuple[Frame, int]] = deque(maxlen=depth)
        self._ready = asyncio.Event()
        self._source_ended = False
        self.delivered = 0  # frames this consumer took
        self.dropped = 0  # frames it was too slow for (pushed out of its queue)
        # time.monotonic() when it last took a frame and went off with it (to encode and send it);
        # None while it waits in recv, or before it ever asked
        self.busy_since: float | None = None

    def _offer(self, frame: Frame, arrived_ms: int) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append((frame, arrived_ms))
        self._ready.set()

    def _end(self) -> None:
        self._source_ended = True
        self._ready.set()

    async def next(self) -> Delivery:
        """The next frame (a copy of its own) and when its source reached the fan-out."""
        self.busy_since = None
        while not self._pending:
            if self._source_ended or self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame, arrived_ms = self._pending.popleft()
        self.delivered += 1
        self.busy_since = time.monotonic()
        return Delivery(copy_frame(frame), arrived_ms)

    async def recv(self) -> Frame:
        return (await self.next()).frame

    def finish(self) -> None:
        """Take no more frames: ``recv`` returns the ones queued, then raises MediaStreamError."""
        if self._fanout is not None:
            self._fanout._unsubscribe(self)
            self._fanout = None
        self._end()

    def stop(self) -> None:
        if self._fanout is not None:
            self._fanout._unsubscribe(self)
            self._fanout = None
        self._pending.clear()
        self._ready.set()  # a recv waiting now raises MediaStreamError
        super().stop()


class FrameFanout:
    """Reads ``source`` from ``start`` until it ends or ``stop``, offering each frame to every
    subscriber. ``on_stall(subscriber)`` is called once for a subscriber that took a frame more
    than ``stall_s`` seconds ago and has not asked for the next one while frames kept coming:
    whatever reads it (an encoder, a sender) is stuck, or died without stopping it."""

    def __init__(self, source: MediaStreamTrack, stall_s: float = 10.0,
                 on_stall: Callable[[FrameSubscriber], None] | None = None) -> None:
        self.source = source
        self.frames = 0  # frames read from the source
        self._subscribers: set[FrameSubscriber] = set()
        self._stalled: set[FrameSubscriber] = set()
        self._stall_s = stall_s
        self._on_stall = on_stall
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, depth: int = 2) -> FrameSubscriber:
        subscriber = FrameSubscriber(self, depth)
        if self._task is not None and self._task.done():
            subscriber._end()
        else:
            self._subscribers.add(subscriber)
        return subscriber

    def _unsubscribe(self, subscriber: FrameSubscriber) -> None:
        self._subscribers.discard(subscriber)
        self._stalled.discard(subscriber)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"fanout-{self.source.kind}")

    async def _run(self) -> None:
        try:
            while True:
                try:
                    frame = await self.source.recv()
                except MediaStreamError:
                    return
                if not isinstance(frame, (av.VideoFrame, av.AudioFrame)):
                    continue  # an encoded packet: aiortc's remote tracks only give decoded frames
                self.frames += 1
                arrived = now_ms()
                for subscriber in self._subscribers:
                    subscriber._offer(frame, arrived)
                if self._on_stall is not None:
                    self._check_stalls()
        finally:
            for subscriber in list(self._subscribers):
                subscriber._end()

    def _check_stalls(self) -> None:
        deadline = time.monotonic() - self._stall_s
        for subscriber in list(self._subscribers):
            busy = subscriber.busy_since
            if busy is not None and busy < deadline and subscriber not in self._stalled:
                self._stalled.add(subscriber)
                assert self._on_stall is not None
                try:
                    self._on_stall(subscriber)
                except Exception:
                    log.exception("fan-out: on_stall failed")

    async def stop(self) -> None:
        """Stop reading; every subscriber's recv ends (MediaStreamError) once its queue is empty."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        else:
            for subscriber in list(self._subscribers):
                subscriber._end()
