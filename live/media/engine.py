"""One media process's streams: a publisher per show (WHIP) and its viewers (WHEP), with aiortc.

aiortc decodes what the publisher sends and encodes once per viewer; it cannot forward encoded
frames. So each show has one decoded source per track, fanned out through a ``MediaRelay``:
- a blackhole consumer always reads the relay, so the publisher's receive queues never grow while
  nobody watches (aiortc's remote tracks buffer without bound until someone calls ``recv``);
- viewers get unbuffered relay proxies (the latest frame wins), so a slow encoder drops frames
  instead of queueing them;
- a viewer that leaves has its peer connection closed and its proxies stopped: its encoder is freed.

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
from aiortc.contrib.media import MediaBlackhole, MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from live.media.recording import Recorder

log = logging.getLogger("livedrop.media")

MAX_SDP_BYTES = 64 * 1024


class MediaError(Exception):
    """A refusal the HTTP layer turns into a status."""


class BadOffer(MediaError):
    pass


class PublisherExists(MediaError):
    pass


class NoStream(MediaError):
    pass


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
    pass


class TooManyViewers(MediaError):
    pass


@dataclass(frozen=True)
class MediaConfig:
    ice_servers: tuple[str, ...] = ()  # stun:/turn: URLs; empty by default (works offline, no third party)
    turn_username: str | None = None
    turn_password: str | None = None
    host_addresses: tuple[str, ...] = ()  # offer only these as host candidates (empty: every interface)
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
    proxies: list[MediaStreamTrack] = field(default_factory=list)


@dataclass
class Stream:
    slug: str
    session_id: str
    pc: RTCPeerConnection
    relay: MediaRelay = field(default_factory=MediaRelay)
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)
    drains: list[MediaBlackhole] = field(default_factory=list)
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
        }

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
        for track in tracks.values():
            drain = MediaBlackhole()
            drain.addTrack(stream.relay.subscribe(track, buffered=False))
            await drain.start()
            stream.drains.append(drain)
            track.on("ended", lambda: self._end_soon(stream))
        if path is not None and record is not None:
            try:
                recorder = Recorder(path, record.started_at)
                for track in tracks.values():
                    recorder.add(stream.relay.subscribe(track, buffered=False))
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
        for drain in stream.drains:
            await drain.stop()
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
            raise TooManyViewers(f"this media process carries {self.config.max_viewers} viewers and is full")
        pc = RTCPeerConnection(self.config.rtc_configuration())
        viewer = Viewer(session_id=_new_id(), pc=pc)
        try:
            try:
                await pc.setRemoteDescription(offer)
            except Exception as exc:
                raise BadOffer(f"the SDP offer cannot be used: {exc}") from None
            wanted = {t.kind for t in pc.getTransceivers()}
            for kind, track in stream.tracks.items():
                if kind in wanted:
                    proxy = stream.relay.subscribe(track, buffered=False)
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

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and viewer.session_id in stream.viewers:
                task = asyncio.ensure_future(self._close_viewer(stream, viewer))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

        return SessionAnswer(viewer.session_id, pc.localDescription.sdp)

    async def stop_viewer(self, slug: str, session_id: str) -> None:
        stream = self._streams.get(slug)
        viewer = stream.viewers.get(session_id) if stream else None
        if stream is None or viewer is None:
            raise NoSession("no such viewing session")
        await self._close_viewer(stream, viewer)

    async def _close_viewer(self, stream: Stream, viewer: Viewer) -> None:
        stream.viewers.pop(viewer.session_id, None)
        for proxy in viewer.proxies:  # unregisters from the relay; the sender's encoder goes with the pc
            proxy.stop()
        await viewer.pc.close()

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            await self._end(stream)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
