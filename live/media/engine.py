"""One media process's streams: a publisher per show (WHIP) and its viewers (WHEP), with aiortc.

aiortc decodes what the publisher sends and encodes once per viewer; it cannot forward encoded
frames. So each show has one decoded source per track, fanned out by a ``FrameFanout``
(live.media.frames):
- it always reads the source, so the publisher's receive queues never grow while nobody watches
  (aiortc's remote tracks buffer without bound until someone calls ``recv``);
- every viewer and the recorder get frames of their own (encoders rewrite a frame's timestamps in
  place; a shared frame killed every viewer's encoder within seconds), through a queue of
  ``VIEWER_QUEUE_FRAMES``, so a slow encoder drops frames instead of queueing them;
- a viewer whose sender stops while its connection is up (its encoder raised: aiortc logs the
  traceback and gives up on that track for good) or gets stuck is logged once and has its
  connection closed, so its player notices and reconnects instead of showing a frozen picture;
- a viewer that leaves has its peer connection closed and its subscriptions stopped: its encoder
  is freed.

Everything here runs on one event loop (see ``runner``); none of it is thread-safe.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from live.errors import LiveError
from live.media import ice
from live.media.frames import FrameFanout, FrameSubscriber
from live.media.recording import QUEUE_FRAMES, Recorder

log = logging.getLogger("livedrop.media")

MAX_SDP_BYTES = 64 * 1024
# A viewer's queue: two frames, so two decoded back to back both reach its encoder, and a viewer
# whose encoder stays behind is at most one frame (67 ms at 15 fps) later than the others.
VIEWER_QUEUE_FRAMES = 2
# How long a viewer's sender may hold a frame before it counts as stuck: a VP8 encode takes 1-9 ms
# (640x360 to 1280x720 here); 10 s is no slow machine, it is a hung encoder or a dead sender.
STALL_S = 10.0
# A sender also stops when its connection goes away; that is not a failure. Its connection state
# says which, once the state change (which runs on this loop too) has had this long to land.
SENDER_GRACE_S = 0.5


class MediaError(LiveError):
    """A refusal of the video engine (inventory.errors.Refusal); this one: video is down."""

    code, status, default_message = "unavailable", 503, "video is unavailable right now; retry in a moment"
    retry_after_s: int | None = 5


class BadOffer(MediaError):
    code, status, default_message, retry_after_s = "malformed_sdp", 400, "the SDP offer cannot be used", None


class PublisherExists(MediaError):
    code, status, default_message, retry_after_s = "stream_taken", 409, "this show already has a publisher", None


class NoStream(MediaError):
    code, status, default_message, retry_after_s = "not_found", 404, "this show has no stream right now", None


@dataclass(frozen=True)
class RecordingRequest:
    """Record the stream to ``file`` (relative to the recordings folder), with time 0 at
    ``started_at`` (ms since the epoch): the instant the web process stamps events against."""

    file: str
    started_at: int


# What a recording's relative path may look like: folders and a name, no "..", no absolute path.
_RECORDING_FILE = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64})*\.webm$")


def recording_path(root: Path, file: str) -> Path:
    if not _RECORDING_FILE.match(file):
        raise BadOffer(f"not a recording file name: {file!r}")
    return root / file


class NoSession(MediaError):
    code, status, default_message, retry_after_s = "not_found", 404, "no such session", None


class TooManyViewers(MediaError):
    code, status, default_message, retry_after_s = "media_full", 503, "this media process is full", 30


@dataclass(frozen=True)
class MediaConfig:
    ice_servers: tuple[str, ...] = ()  # stun:/turn: URLs; empty by default (works offline, no third party)
    turn_username: str | None = None
    turn_password: str | None = None
    host_addresses: tuple[str, ...] = ()  # offer only these as host candidates (empty: every interface)
    # check only remote candidates in these addresses/networks (empty: any but loopback, link-local...)
    remote_addresses: tuple[str, ...] = ()
    max_viewers: int = 16  # per process: about 0.055 core per viewer at 640x360, 15 fps
    recordings_dir: Path | None = None  # where streams are recorded (None: not recorded)

    def rtc_configuration(self) -> RTCConfiguration:
        # aiortc falls back to a public Google STUN server when given None: always pass a list.
        servers = [
            RTCIceServer(urls=url, username=self.turn_username, credential=self.turn_password)
            if url.startswith(("turn:", "turns:")) else RTCIceServer(urls=url)
            for url in self.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)


@dataclass(frozen=True)
class SessionAnswer:
    session_id: str
    sdp: str


@dataclass
class Viewer:
    session_id: str
    pc: RTCPeerConnection
    proxies: list[FrameSubscriber] = field(default_factory=list)
    closing: bool = False  # we are closing it: its senders stopping now is no failure


@dataclass
class Stream:
    slug: str
    session_id: str
    pc: RTCPeerConnection
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)
    fanouts: dict[str, FrameFanout] = field(default_factory=dict)
    viewers: dict[str, Viewer] = field(default_factory=dict)
    recorder: Recorder | None = None
    ended: bool = False


def parse_offer(sdp: str) -> RTCSessionDescription:
    """A cheap shape check before aiortc's parser (which accepts some nonsense silently)."""
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise BadOffer("the SDP offer is too large")
    lines = [line.strip() for line in sdp.strip().splitlines()]
    if not lines or lines[0] != "v=0":
        raise BadOffer("not an SDP offer: it must start with v=0")
    if not any(line.startswith(("m=video ", "m=audio ")) for line in lines):
        raise BadOffer("the SDP offer has no audio or video section")
    return RTCSessionDescription(sdp=sdp, type="offer")


def _new_id() -> str:
    return secrets.token_urlsafe(18)  # the Location is the only key to a viewer's session


class MediaEngine:
    def __init__(self, config: MediaConfig, on_end: Callable[[str, str], None] | None = None) -> None:
        """``on_end(slug, session_id)`` is called (on this loop) once a stream has ended for any
        reason, its recording finished: a WHIP DELETE, the show ending, the publisher's
        connection failing."""
        self.config = config
        self.on_end = on_end
        self._streams: dict[str, Stream] = {}
        self._reserved: set[str] = set()  # slugs whose publisher is mid-handshake
        self._closing: set[asyncio.Task[None]] = set()
        self.sender_failures = 0  # viewers whose sender stopped or stuck while connected (since start)

    # -- questions -----------------------------------------------------------------------------------

    def has_stream(self, slug: str) -> bool:
        stream = self._streams.get(slug)
        return stream is not None and not stream.ended

    def viewer_count(self) -> int:
        return sum(len(s.viewers) for s in self._streams.values())

    def stats(self) -> dict[str, object]:
        return {
            "streams": len(self._streams),
            "viewers": self.viewer_count(),
            "max_viewers": self.config.max_viewers,
            "shows": {slug: len(s.viewers) for slug, s in self._streams.items()},
            "sender_failures": self.sender_failures,
            "frames": {slug: self._frame_counts(s) for slug, s in self._streams.items()},
            "ice": ice.ledger.snapshot(),
        }

    @staticmethod
    def _frame_counts(stream: Stream) -> dict[str, object]:
        """Where a stream's frames went: read from the publisher, dropped for viewers whose
        encoders were behind (their queues overflowed), written to and dropped by the recording."""
        counts: dict[str, object] = {
            "in": {kind: fanout.frames for kind, fanout in stream.fanouts.items()},
            "viewers_dropped": sum(p.dropped for v in stream.viewers.values() for p in v.proxies),
        }
        if stream.recorder is not None:
            counts["recorded"] = stream.recorder.frames
            counts["recorder_dropped"] = stream.recorder.dropped
        return counts

    # -- publishing (WHIP) ---------------------------------------------------------------------------

    async def publish(self, slug: str, sdp: str, record: RecordingRequest | None = None) -> SessionAnswer:
        offer = parse_offer(sdp)
        path = recording_path(self.config.recordings_dir, record.file) if record and self.config.recordings_dir else None
        if slug in self._streams or slug in self._reserved:
            raise PublisherExists("this show already has a publisher")
        self._reserved.add(slug)
        pc = RTCPeerConnection(self.config.rtc_configuration())
        tracks: dict[str, MediaStreamTrack] = {}
        pc.on("track", lambda track: tracks.setdefault(track.kind, track))
        try:
            try:
                await pc.setRemoteDescription(offer)
            except Exception as exc:  # aiortc raises ValueError, KeyError... on SDP it cannot use
                raise BadOffer(f"the SDP offer cannot be used: {exc}") from None
            if "video" not in tracks:
                raise BadOffer("the SDP offer sends no video")
            for transceiver in pc.getTransceivers():
                transceiver.direction = "recvonly"
            await pc.setLocalDescription(await pc.createAnswer())  # gathers every candidate: no trickle
        except BaseException:
            self._reserved.discard(slug)
            await pc.close()
            raise
        stream = Stream(slug=slug, session_id=_new_id(), pc=pc, tracks=tracks)
        for kind, track in tracks.items():
            fanout = FrameFanout(track, stall_s=STALL_S, on_stall=lambda sub: self._stalled(stream, sub))
            fanout.start()
            stream.fanouts[kind] = fanout
            track.on("ended", lambda: self._end_soon(stream))
        if path is not None and record is not None:
            try:
                recorder = Recorder(path, record.started_at)
                for fanout in stream.fanouts.values():
                    recorder.add(fanout.subscribe(depth=QUEUE_FRAMES))
                recorder.start()
                stream.recorder = recorder
            except Exception:  # a full disk must not keep the show off the air
                log.exception("stream %s: cannot record to %s", slug, path)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._end_soon(stream)

        self._reserved.discard(slug)
        self._streams[slug] = stream
        log.info("stream %s: publisher %s connected (%s)", slug, stream.session_id[:6], ", ".join(tracks))
        return SessionAnswer(stream.session_id, pc.localDescription.sdp)

    async def unpublish(self, slug: str, session_id: str) -> None:
        stream = self._streams.get(slug)
        if stream is None or stream.session_id != session_id:
            raise NoSession("no such publishing session")
        await self._end(stream)

    async def end_stream(self, slug: str) -> bool:
        """The show ended: end its stream whoever publishes it. False when it had none."""
        stream = self._streams.get(slug)
        if stream is None:
            return False
        await self._end(stream)
        return True

    def _end_soon(self, stream: Stream) -> None:
        if not stream.ended:
            task = asyncio.ensure_future(self._end(stream))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _end(self, stream: Stream) -> None:
        """The stream is over: every viewer's connection is closed (that is how they see it end)."""
        if stream.ended:
            return
        stream.ended = True
        if self._streams.get(stream.slug) is stream:
            del self._streams[stream.slug]
        for viewer in list(stream.viewers.values()):
            await self._close_viewer(stream, viewer)
        if stream.recorder is not None:
            try:
                await stream.recorder.stop()
            except Exception:
                log.exception("stream %s: the recording could not be finished", stream.slug)
        for fanout in stream.fanouts.values():
            await fanout.stop()
        await stream.pc.close()
        log.info("stream %s ended", stream.slug)
        if self.on_end is not None:
            try:
                self.on_end(stream.slug, stream.session_id)
            except Exception:
                log.exception("stream %s: on_end failed", stream.slug)

    # -- playback (WHEP) -----------------------------------------------------------------------------

    async def play(self, slug: str, sdp: str) -> SessionAnswer:
        offer = parse_offer(sdp)
        stream = self._streams.get(slug)
        if stream is None or stream.ended:
            raise NoStream("this show has no stream right now")
        if self.viewer_count() >= self.config.max_viewers:
            raise TooManyViewers(f"this media process carries {self.config.max_viewers} viewers and is full; try again in a minute")
        pc = RTCPeerConnection(self.config.rtc_configuration())
        viewer = Viewer(session_id=_new_id(), pc=pc)
        try:
            try:
                await pc.setRemoteDescription(offer)
            except Exception as exc:
                raise BadOffer(f"the SDP offer cannot be used: {exc}") from None
            wanted = {t.kind for t in pc.getTransceivers()}
            for kind, fanout in stream.fanouts.items():
                if kind in wanted:
                    proxy = fanout.subscribe(depth=VIEWER_QUEUE_FRAMES)
                    viewer.proxies.append(proxy)
                    pc.addTrack(proxy)
            if not viewer.proxies:
                raise BadOffer("the SDP offer receives neither audio nor video")
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            for proxy in viewer.proxies:
                proxy.stop()
            await pc.close()
            raise
        if stream.ended:  # the publisher left while we negotiated
            for proxy in viewer.proxies:
                proxy.stop()
            await pc.close()
            raise NoStream("the stream ended")
        stream.viewers[viewer.session_id] = viewer
        for proxy in viewer.proxies:
            # aiortc's sender stops its track when its RTP loop ends, for any reason
            proxy.on("ended", lambda proxy=proxy: self._sender_stopped(stream, viewer, proxy))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and viewer.session_id in stream.viewers:
                self._close_viewer_soon(stream, viewer)

        return SessionAnswer(viewer.session_id, pc.localDescription.sdp)

    def _sender_stopped(self, stream: Stream, viewer: Viewer, proxy: FrameSubscriber) -> None:
        """One of a viewer's tracks stopped without us closing the viewer: its connection is going
        away (fine), or its sender died with the connection up (aiortc logged why, as a warning
        from aiortc.rtcrtpsender, and will send this viewer nothing more on that track)."""
        if viewer.closing:
            return

        def decide() -> None:
            if viewer.closing or stream.viewers.get(viewer.session_id) is not viewer:
                return
            if viewer.pc.connectionState == "connected":
                self._viewer_failed(stream, viewer, f"its {proxy.kind} sender stopped (its encoder failed?)")
            else:
                self._close_viewer_soon(stream, viewer)

        asyncio.get_running_loop().call_later(SENDER_GRACE_S, decide)

    def _stalled(self, stream: Stream, subscriber: FrameSubscriber) -> None:
        for viewer in list(stream.viewers.values()):
            if subscriber in viewer.proxies and not viewer.closing:
                self._viewer_failed(stream, viewer, f"its {subscriber.kind} sender has held a frame for "
                                    f"{STALL_S:.0f} s (a stuck encoder?)")
                return
        if stream.recorder is not None:
            log.warning("stream %s: the recorder has held a %s frame for %.0f s", stream.slug, subscriber.kind, STALL_S)

    def _viewer_failed(self, stream: Stream, viewer: Viewer, why: str) -> None:
        """Logged once per viewer (closing it makes sure of that): a frozen picture must not go
        unnoticed, and closing the connection is what makes the viewer's page reconnect."""
        self.sender_failures += 1
        log.warning("stream %s: viewer %s: %s; closing its connection so its player reconnects",
                    stream.slug, viewer.session_id[:6], why)
        self._close_viewer_soon(stream, viewer)

    def _close_viewer_soon(self, stream: Stream, viewer: Viewer) -> None:
        if viewer.closing:
            return
        viewer.closing = True
        task = asyncio.ensure_future(self._close_viewer(stream, viewer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def stop_viewer(self, slug: str, session_id: str) -> None:
        stream = self._streams.get(slug)
        viewer = stream.viewers.get(session_id) if stream else None
        if stream is None or viewer is None:
            raise NoSession("no such viewing session")
        await self._close_viewer(stream, viewer)

    async def _close_viewer(self, stream: Stream, viewer: Viewer) -> None:
        viewer.closing = True
        stream.viewers.pop(viewer.session_id, None)
        for proxy in viewer.proxies:  # unsubscribes from the fan-out; the sender's encoder goes with the pc
            proxy.stop()
        await viewer.pc.close()

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            await self._end(stream)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
