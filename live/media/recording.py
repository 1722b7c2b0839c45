"""Records a show's stream to a WebM file (VP8 video, Opus audio) that browsers play and seek.

Built the way aiortc's ``MediaRecorder`` (aiortc.contrib.media) works (read decoded frames, encode
with PyAV, mux), with differences that matter for a live server:
- encoding runs on a worker thread of its own, not on the media loop: libvpx with MediaRecorder's
  defaults (the "good" deadline) took about 100 ms of a core per 640x360 frame here, which would
  stall RTP for every viewer; we ask for the realtime deadline (about 20 ms at worst);
- it reads its own ``FrameSubscriber`` (live.media.frames): frames that are its alone, since it
  rewrites their timestamps, and a queue of ``QUEUE_FRAMES`` so a moment's delay on the worker
  thread (a slow disk, a busy core) loses no frame, while a recorder that stays behind drops the
  oldest instead of growing without bound;
- time 0 of the file is the stream's start (``started_at``, the same instant events are stamped
  against, see ``live.events``), not its first frame: the first frame is placed at 0 and every later
  one at the wall-clock time it reached the server, so a replay's currentTime equals an event's
  media_ms. The encoder counts in milliseconds too: at its default 1/30 s two frames that arrive
  within 33 ms of each other would share a timestamp, which the WebM muxer refuses.

On ``stop`` the encoders are flushed and the container closed: the WebM muxer then writes the
duration and the cues (the seek index), which is what makes the file seekable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError

from live.media.frames import FrameSubscriber

log = logging.getLogger("livedrop.media")

VIDEO_OPTIONS = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
VIDEO_BIT_RATE = 1_200_000
MS = fractions.Fraction(1, 1000)
# Frames a recorder may be behind before it drops the oldest: 8 s at 15 fps, 4 s at 30 fps. On a
# 2-core machine shared with other work its worker fell 4 s behind at times (writes of 17 ms median,
# 120-290 ms at worst, against 2 ms alone). Held decoded frames: 41 MB at 640x360, 166 MB at
# 1280x720, and only while it catches up.
QUEUE_FRAMES = 120
# On stop, how long the frames still queued may take to be written: a full queue of 120 frames at
# 2-20 ms each is 0.2-2.4 s; past this the rest is dropped so the show's end is not held up.
DRAIN_S = 5.0


class Recorder:
    """One stream's recording. ``add`` tracks, ``start``, and ``stop`` once (idempotent)."""

    def __init__(self, path: Path, started_at: int) -> None:
        self.path = path
        self.started_at = started_at
        self.frames = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container: Any = av.open(str(path), mode="w", format="webm")
        self._streams: dict[str, Any] = {}
        self._tracks: list[FrameSubscriber] = []
        self.failed: Counter[str] = Counter()  # frames of each kind that could not be written
        self._tasks: list[asyncio.Task[None]] = []
        self._last_pts: dict[str, int] = {}
        self._audio_next: int | None = None  # next audio pts (samples), once audio started
        # One thread: the container is not thread-safe, and encode + mux of both tracks must be serial.
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="livedrop-recorder")
        self._stopping = False  # stop() was called
        self._stopped = False  # the file is being finished: frames still handed over are ignored

    def add(self, track: FrameSubscriber) -> None:
        """Record ``track`` (subscribe it with ``depth=QUEUE_FRAMES``)."""
        if track.kind == "video":
            stream = self._container.add_stream("libvpx", rate=30)
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = VIDEO_BIT_RATE
            stream.codec_context.time_base = MS  # pts are ms: see the module's docstring
            stream.codec_context.options = dict(VIDEO_OPTIONS)
        elif track.kind == "audio":
            stream = self._container.add_stream("libopus", rate=48000)
        else:
            return
        self._streams[track.kind] = stream
        self._tracks.append(track)

    @property
    def dropped(self) -> int:
        """Frames that did not fit in the queue while the worker was behind."""
        return sum(track.dropped for track in self._tracks)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for track in self._tracks:
            self._tasks.append(loop.create_task(self._run(track), name=f"record-{track.kind}"))

    async def _run(self, track: FrameSubscriber) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                delivery = await track.next()
            except MediaStreamError:
                return
            try:
                await loop.run_in_executor(self._worker, self._write, track.kind, delivery.frame, delivery.arrived_ms)
            except Exception:  # one bad frame (a size change the encoder refuses) must not end the recording
                self.failed[track.kind] += 1
                if self.failed[track.kind] == 1:  # once: the count is in the "finished" line
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
        else:
            if self.frames == 0 and "video" in self._streams:
                # Audio before the first picture is left out: muxing its packet would write the
                # file's header, which opens the video encoder before its size is known, and every
                # video frame after would fail ("Cannot change width after codec is open"): a
                # browser's microphone starts before its camera, and such recordings had no video.
                # The file starts on the first picture anyway.
                return
            # Audio timestamps count samples, gap-free (the encoder's FIFO insists): the first frame
            # sits at its wall-clock offset, the rest follow it sample by sample.
            rate = frame.sample_rate
            if self._audio_next is None:
                self._audio_next = max(0, (arrived - self.started_at) * rate // 1000)
            frame.pts, frame.time_base = self._audio_next, fractions.Fraction(1, rate)
            self._audio_next += frame.samples
        for packet in stream.encode(frame):
            self._container.mux(packet)
        if kind == "video":
            self.frames += 1  # written (a frame that raised above is counted in self.failed)

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
        """Write the frames still queued (at most ``DRAIN_S``), then finish the file: flush the
        encoders, write the duration and cues, close it."""
        if self._stopping:
            return
        self._stopping = True
        for track in self._tracks:
            track.finish()
        _, pending = await asyncio.wait(self._tasks, timeout=DRAIN_S) if self._tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for track in self._tracks:
            track.stop()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._worker, self._finish)
        finally:
            self._worker.shutdown(wait=False)
        dropped = self.dropped
        if self.failed or dropped:
            log.warning("recording %s finished (%d video frames; %d frames could not be written, %d dropped "
                        "because the recorder was behind)", self.path, self.frames, sum(self.failed.values()), dropped)
        else:
            log.info("recording %s finished (%d video frames)", self.path, self.frames)
