"""Records a show's stream to a WebM file (VP8 video, Opus audio) that browsers play and seek.

Built the way aiortc's ``MediaRecorder`` (aiortc.contrib.media) works (read decoded frames, encode
with PyAV, mux), with three differences that matter for a live server:
- encoding runs on a worker thread of its own, not on the media loop: libvpx with MediaRecorder's
  defaults (the "good" deadline) took about 100 ms of a core per 640x360 frame here, which would
  stall RTP for every viewer; we ask for the realtime deadline (about 20 ms at worst);
- it reads unbuffered relay subscriptions, so when the encoder falls behind frames are skipped
  instead of queued without bound;
- time 0 of the file is the stream's start (``started_at``, the same instant events are stamped
  against, see ``live.events``), not its first frame: the first frame is placed at 0 and every later
  one at its wall-clock offset, so a replay's currentTime equals an event's media_ms.

On ``stop`` the encoders are flushed and the container closed: the WebM muxer then writes the
duration and the cues (the seek index), which is what makes the file seekable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import logging
import time
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger("livedrop.media")

VIDEO_OPTIONS = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
VIDEO_BIT_RATE = 1_200_000
MS = fractions.Fraction(1, 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Recorder:
    """One stream's recording. ``add`` tracks, ``start``, and ``stop`` once (idempotent)."""

    def __init__(self, path: Path, started_at: int) -> None:
        self.path = path
        self.started_at = started_at
        self.frames = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container: Any = av.open(str(path), mode="w", format="webm")
        self._streams: dict[str, Any] = {}
        self._tracks: list[MediaStreamTrack] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._last_pts: dict[str, int] = {}
        self._audio_next: int | None = None  # next audio pts (samples), once audio started
        # One thread: the container is not thread-safe, and encode + mux of both tracks must be serial.
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="livedrop-recorder")
        self._stopped = False

    def add(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            stream = self._container.add_stream("libvpx", rate=30)
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = VIDEO_BIT_RATE
            stream.codec_context.options = dict(VIDEO_OPTIONS)
        elif track.kind == "audio":
            stream = self._container.add_stream("libopus", rate=48000)
        else:
            return
        self._streams[track.kind] = stream
        self._tracks.append(track)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for track in self._tracks:
            self._tasks.append(loop.create_task(self._run(track), name=f"record-{track.kind}"))

    async def _run(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            arrived = now_ms()
            try:
                await loop.run_in_executor(self._worker, self._write, track.kind, frame, arrived)
            except Exception:  # one bad frame (a size change the encoder refuses) must not end the recording
                log.exception("recording %s: a %s frame could not be written", self.path.name, track.kind)

    def _write(self, kind: str, frame: Any, arrived: int) -> None:
        if self._stopped:
            return
        stream = self._streams[kind]
        if kind == "video":
            if self.frames == 0:
                stream.width, stream.height = frame.width, frame.height
                pts = 0  # the file starts at the stream's start, on the first picture
            else:
                pts = max(arrived - self.started_at, self._last_pts.get(kind, -1) + 1)
            if (frame.width, frame.height) != (stream.width, stream.height):
                frame = frame.reformat(width=stream.width, height=stream.height)
            frame.pts, frame.time_base = pts, MS
            self._last_pts[kind] = pts
            self.frames += 1
        else:
            # Audio timestamps count samples, gap-free (the encoder's FIFO insists): the first frame
            # sits at its wall-clock offset, the rest follow it sample by sample.
            rate = frame.sample_rate
            if self._audio_next is None:
                self._audio_next = max(0, (arrived - self.started_at) * rate // 1000)
            frame.pts, frame.time_base = self._audio_next, fractions.Fraction(1, rate)
            self._audio_next += frame.samples
        for packet in stream.encode(frame):
            self._container.mux(packet)

    def _finish(self) -> None:
        self._stopped = True
        try:
            for stream in self._streams.values():
                try:
                    for packet in stream.encode(None):
                        self._container.mux(packet)
                except Exception:  # a stream that never got a frame has nothing to flush
                    log.debug("recording %s: nothing to flush", self.path.name, exc_info=True)
        finally:
            try:
                self._container.close()
            except Exception:  # nothing was ever written (the publisher sent no frame): no file
                log.warning("recording %s: no frames, no file", self.path.name)
                self.path.unlink(missing_ok=True)

    async def stop(self) -> None:
        """Finish the file: flush the encoders, write the duration and cues, close it."""
        if self._stopped:
            return
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for track in self._tracks:
            track.stop()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._worker, self._finish)
        finally:
            self._worker.shutdown(wait=False)
        log.info("recording %s finished (%d video frames)", self.path, self.frames)
