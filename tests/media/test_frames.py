"""Frames of their own for every consumer (live.media.frames), a viewer whose sender dies, and the
remote candidate policy (live.media.ice): in this process, with aiortc peers on loopback."""

from __future__ import annotations

import asyncio
import fractions
import logging
from pathlib import Path

import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import vpx
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from live.media import MediaConfig, MediaEngine, RecordingRequest
from live.media import ice
from live.media.frames import FrameFanout, copy_frame
from live.media.recording import Recorder
from tests.media.peers import NO_ICE_SERVERS, ClockTrack, PatternTrack, read_stamp, wait_for_state
from web.settings import Settings, SettingsError

RTP_CLOCK = fractions.Fraction(1, 90000)


def decoded_frames(count: int, width: int = 320, height: int = 180) -> list[av.VideoFrame]:
    """Frames as aiortc's VP8 decoder hands them over: rows padded (320 wide: 384-byte rows),
    pts on the 90 kHz RTP clock."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = RTP_CLOCK
    decoder = av.CodecContext.create("vp8", "r")
    frames = []
    for n in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane, value in zip(frame.planes, (n * 9 % 200 + 20, 128, 128)):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = n * 6000, RTP_CLOCK
        for packet in encoder.encode(frame):
            frames += decoder.decode(packet)
    for packet in encoder.encode(None):
        frames += decoder.decode(packet)
    for n, frame in enumerate(frames):
        frame.pts, frame.time_base = n * 6000, RTP_CLOCK
    return frames


class Replay(MediaStreamTrack):
    kind = "video"

    def __init__(self, frames: list[av.VideoFrame], fps: float = 200) -> None:
        super().__init__()
        self.frames, self.fps = list(frames), fps

    async def recv(self) -> av.VideoFrame:
        if not self.frames:
            raise MediaStreamError
        await asyncio.sleep(1 / self.fps)
        return self.frames.pop(0)


def test_a_copy_is_its_own() -> None:
    source = decoded_frames(1)[0]
    assert source.planes[0].line_size != source.width, "the case that needs row by row copying"
    kind = source.pict_type
    copy = copy_frame(source)
    assert isinstance(copy, av.VideoFrame)
    assert (copy.width, copy.height, copy.pts, copy.time_base) == (320, 180, 0, RTP_CLOCK)
    for a, b in zip(source.planes, copy.planes):
        for row in range(a.height):
            assert bytes(a)[row * a.line_size:row * a.line_size + a.width] == bytes(b)[row * b.line_size:row * b.line_size + b.width]
    copy.pts, copy.time_base, copy.pict_type = 7, fractions.Fraction(1, 1000), av.video.frame.PictureType.P
    assert (source.pts, source.time_base, source.pict_type) == (0, RTP_CLOCK, kind)

    sound = av.AudioFrame(format="s16", layout="stereo", samples=960)
    sound.sample_rate, sound.pts, sound.time_base = 48000, 960, fractions.Fraction(1, 48000)
    sound.planes[0].update(bytes(range(256)) * 15)
    heard = copy_frame(sound)
    assert isinstance(heard, av.AudioFrame)
    assert (heard.samples, heard.sample_rate, heard.pts) == (960, 48000, 960)
    assert bytes(heard.planes[0])[:3840] == bytes(sound.planes[0])[:3840]
    heard.pts = 0
    assert sound.pts == 960


async def test_encoders_and_a_recorder_on_one_source_never_disturb_each_other(tmp_path: Path) -> None:
    """The failure itself, without a network: two viewers' VP8 encoders (aiortc's, as its senders
    use them, on threads) and the recorder read one source. With one shared frame object, the
    recorder's timestamps reached an encoder and libvpx refused the next frame."""
    frames = decoded_frames(60)
    originals = list(frames)
    fanout = FrameFanout(Replay(frames, fps=60))
    recorder = Recorder(tmp_path / "r.webm", started_at=0)
    recorder.add(fanout.subscribe(depth=120))
    viewers = [fanout.subscribe(depth=2) for _ in range(2)]
    fanout.start()
    recorder.start()
    loop = asyncio.get_running_loop()

    async def encode(track: MediaStreamTrack) -> int:
        encoder, sent = vpx.Vp8Encoder(), 0
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return sent
            await loop.run_in_executor(None, encoder.encode, frame, sent % 10 == 0)  # type: ignore[arg-type]  # raises on a bad frame
            sent += 1

    async with asyncio.timeout(30):
        sent = await asyncio.gather(*(encode(v) for v in viewers))
        await recorder.stop()
    assert all(n >= 50 for n in sent), sent
    assert [(f.pts, f.time_base) for f in originals] == [(n * 6000, RTP_CLOCK) for n in range(60)], "a source frame was changed"
    assert recorder.frames == 60 and not recorder.failed and recorder.dropped == 0


async def test_a_slow_subscriber_drops_its_oldest_and_finish_drains() -> None:
    frames = decoded_frames(10)
    fanout = FrameFanout(Replay(frames, fps=500))
    slow, kept = fanout.subscribe(depth=3), fanout.subscribe(depth=100)
    fanout.start()
    async with asyncio.timeout(10):
        while fanout.frames < 10:
            await asyncio.sleep(0.01)
        got = [await kept.recv() for _ in range(10)]
        assert [f.pts for f in got] == [n * 6000 for n in range(10)]
        assert slow.dropped == 7
        slow.finish()
        assert [(await slow.recv()).pts for _ in range(3)] == [42000, 48000, 54000]
        with pytest.raises(MediaStreamError):
            await slow.recv()
        await fanout.stop()
        with pytest.raises(MediaStreamError):
            await kept.recv()


async def _publish(engine: MediaEngine, track: MediaStreamTrack, extra_candidates: list[str] = [],
                   record: RecordingRequest | None = None) -> RTCPeerConnection:
    pc = RTCPeerConnection(NO_ICE_SERVERS)
    pc.addTrack(track)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    if extra_candidates:
        sdp = sdp.replace("a=end-of-candidates", "".join(f"{c}\r\n" for c in extra_candidates) + "a=end-of-candidates")
    answer = await engine.publish("show", sdp, record)
    await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    await wait_for_state(pc, {"connected"}, 20)
    return pc


async def _watch(engine: MediaEngine) -> tuple[RTCPeerConnection, asyncio.Future[MediaStreamTrack]]:
    pc = RTCPeerConnection(NO_ICE_SERVERS)
    pc.addTransceiver("video", direction="recvonly")
    track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    pc.on("track", lambda t: None if track.done() else track.set_result(t))
    await pc.setLocalDescription(await pc.createOffer())
    answer = await engine.play("show", pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    return pc, track


async def test_a_viewer_whose_sender_dies_is_logged_once_and_closed(monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """If an encoder fails anyway, aiortc's sender gives up on its track for good: the engine
    notices, says so once, and closes that viewer's connection (its page then reconnects); the
    other viewer does not notice a thing."""
    original = vpx.Vp8Encoder.encode
    doomed: set[int] = set()

    def encode(self: vpx.Vp8Encoder, frame: av.VideoFrame, force_keyframe: bool = False):  # type: ignore[no-untyped-def]
        if id(self) in doomed:
            raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input", "avcodec_send_frame()")
        return original(self, frame, force_keyframe)

    engine = MediaEngine(MediaConfig(host_addresses=("127.0.0.1",), remote_addresses=("127.0.0.1",)))
    peers: list[RTCPeerConnection] = []
    caplog.set_level(logging.WARNING, logger="livedrop.media")
    try:
        async with asyncio.timeout(60):
            peers.append(await _publish(engine, PatternTrack()))
            monkeypatch.setattr(vpx.Vp8Encoder, "encode", encode)
            watching = [await _watch(engine) for _ in range(2)]
            peers += [pc for pc, _ in watching]
            tracks = [await t for _, t in watching]
            for track in tracks:
                await asyncio.wait_for(track.recv(), 10)
            # the server's encoder of one viewer fails from now on (aiortc's sender made it lazily)
            server_viewer = next(iter(engine._streams["show"].viewers.values()))
            doomed.add(id(server_viewer.pc.getSenders()[0]._RTCRtpSender__encoder))  # type: ignore[attr-defined]
            # the doomed viewer's connection is closed by the server; the other one keeps playing
            ended = await asyncio.wait([asyncio.ensure_future(wait_for_state(pc, {"closed", "failed"}, 15))
                                        for pc, _ in watching], return_when=asyncio.FIRST_COMPLETED)
            assert ended[0]
            assert engine.sender_failures == 1 and engine.stats()["viewers"] == 1
            survivor = next(t for (pc, _), t in zip(watching, tracks) if pc.connectionState == "connected")
            for _ in range(30):
                await asyncio.wait_for(survivor.recv(), 5)
            # a viewer that leaves without a word stops its sender too: that is no failure
            for pc, _ in watching:
                await pc.close()
            while engine.stats()["viewers"]:
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)
            assert engine.sender_failures == 1
    finally:
        await engine.close()
        for pc in peers:
            await pc.close()
    failures = [r for r in caplog.records if r.name == "livedrop.media" and "closing its connection" in r.getMessage()]
    assert len(failures) == 1 and "video sender stopped" in failures[0].getMessage()


async def test_remote_candidates_outside_the_policy_are_never_checked(tmp_path: Path) -> None:
    """The publisher names an address of a (documentation) network, a link-local one and an mDNS
    name besides its 127.0.0.1: the server checks 127.0.0.1 alone, resolves no name, and the
    stream (recorded, with the clock painted in) plays."""
    ice.ledger.clear()
    engine = MediaEngine(MediaConfig(host_addresses=("127.0.0.1",), remote_addresses=("127.0.0.1",),
                                     recordings_dir=tmp_path))
    extra = ["a=candidate:9 1 udp 2130706431 192.0.2.7 40000 typ host",
             "a=candidate:8 1 udp 2130706431 169.254.3.4 40001 typ host",
             "a=candidate:7 1 udp 2130706431 4b1b1c5e-0000-4000-8000-000000000001.local 40002 typ host"]
    peers: list[RTCPeerConnection] = []
    try:
        async with asyncio.timeout(30):
            peers.append(await _publish(engine, ClockTrack(), extra, RecordingRequest("r.webm", 0)))
            pc, track = await _watch(engine)
            peers.append(pc)
            frame = await asyncio.wait_for((await track).recv(), 10)
            assert read_stamp(frame) is not None
    finally:
        await engine.close()
        for pc in peers:
            await pc.close()
    seen: dict = engine.stats()["ice"]  # type: ignore[assignment]
    assert set(seen["checked"]) == {"127.0.0.1"}, seen
    assert seen["ignored"]["candidate outside the remote address policy"] >= 2, seen
    assert seen["ignored"]["mDNS name with a remote address list"] >= 1, seen


def test_remote_address_policy() -> None:
    default = ice.RemotePolicy()
    for host in ("127.0.0.1", "127.8.0.1", "::1", "::ffff:127.0.0.1", "169.254.169.254", "fe80::1", "fe80::1%eth0",
                 "0.0.0.0", "224.0.0.251", "240.0.0.1", "ff02::fb", "abc.local"):
        assert not default.allows(host), host
    for host in ("203.0.113.9", "10.1.2.3", "192.168.1.20", "2001:db8::1", "fd00::1"):
        assert default.allows(host), host
    listed = ice.RemotePolicy(ice.parse_remote_addresses(["127.0.0.1", "10.0.0.0/8"]))
    assert listed.allows("127.0.0.1") and listed.allows("::ffff:127.0.0.1") and listed.allows("10.9.9.9")
    assert not listed.allows("127.0.0.2") and not listed.allows("192.168.1.1") and not listed.allows("x.local")
    public = ice.RemotePolicy(ice.parse_remote_addresses(["public"]))
    assert public.allows("8.8.8.8") and public.allows("2606:4700::1")
    assert not any(public.allows(h) for h in ("10.0.0.1", "192.168.0.1", "100.64.0.1", "127.0.0.1", "169.254.1.1"))
    with pytest.raises(ValueError, match="localhost"):
        ice.parse_remote_addresses(["localhost"])


def test_remote_addresses_setting(tmp_path: Path) -> None:
    base = {"LIVEDROP_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).media_config().remote_addresses == ()
    chosen = Settings.from_env(base | {"LIVEDROP_MEDIA_REMOTE_ADDRESSES": "127.0.0.1, 10.0.0.0/8,Public"})
    assert chosen.media_config().remote_addresses == ("127.0.0.1/32", "10.0.0.0/8", "public")
    for bad in ("localhost", "10.0.0.0/33", "*"):
        with pytest.raises(SettingsError, match="LIVEDROP_MEDIA_REMOTE_ADDRESSES"):
            Settings.from_env(base | {"LIVEDROP_MEDIA_REMOTE_ADDRESSES": bad})
