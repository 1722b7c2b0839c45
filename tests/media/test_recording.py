"""Recording and media time: a real livedrop process, a real aiortc publisher over WHIP on loopback,
real WebM files read back with PyAV; and the event log's media_ms against a real Redis and database."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import av
import httpx

from live.events import EventLog
from live.recordings import StreamClock
from live.models import ShowEvent
from live.shows import create_show
from tests.live.wsclient import Viewer as Socket
from tests.media.conftest import MediaServer
from tests.media.peers import Publisher, wait_for_state
from web.auth import create_host

CUES = b"\x1c\x53\xbb\x6b"  # the Matroska Cues element: the seek index the muxer writes on close


def recordings(server: MediaServer) -> Path:
    return Path(server.process.env["LIVEDROP_DATA_DIR"]) / "recordings"


def finished_file(folder: Path, timeout: float = 15) -> Path:
    """The one recording in ``folder`` once it is finished (cues written)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list(folder.glob("show-*/*.webm")) if folder.exists() else []
        if len(files) == 1 and CUES in files[0].read_bytes():
            return files[0]
        time.sleep(0.1)
    raise AssertionError(f"no finished recording in {folder}: {list(folder.rglob('*'))}")


def check_playable(path: Path, at_least_s: float) -> float:
    """Opens the file, checks its duration and that it seeks; returns the duration in seconds."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "vp8"
        duration = container.duration / 1_000_000
        assert duration >= at_least_s, duration
        frames = [f for f in container.decode(video)]
        assert len(frames) >= at_least_s * 5 and frames[0].width == 320
        assert frames[0].time == 0.0  # the file starts at the stream's start
        container.seek(int(duration / 2 * 1_000_000), any_frame=False)
        after_seek = next(container.decode(video))
        assert after_seek.time is not None and after_seek.time <= duration
    return duration


async def _auth(server: MediaServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


async def _product(http: httpx.AsyncClient, auth: dict[str, str]) -> dict:
    made = await http.post("/api/products", headers=auth, json={
        "title": "Rec Runner", "price_cents": 9900, "currency": "USD",
        "variants": [{"sku": f"REC-{time.monotonic_ns()}", "label": "42", "stock": 5}]})
    assert made.status_code == 201, made.text
    return made.json()


async def test_recorded_while_publishing_finished_on_whip_delete_and_media_ms(media_server: MediaServer) -> None:
    slug = media_server.new_show()
    auth = await _auth(media_server)
    async with asyncio.timeout(90), httpx.AsyncClient(base_url=media_server.url, timeout=30) as http:
        product = await _product(http, auth)
        socket = await Socket.join(media_server.url, slug)
        await socket.next("snapshot")
        # before any stream: no media time
        assert (await http.put(f"/api/shows/{slug}/pin", json={"product_id": product["id"]}, headers=auth)).status_code == 200
        assert (await socket.next("pin"))["media_ms"] is None

        publisher = Publisher(http, slug)
        try:
            accepted_at = int(time.time() * 1000)
            assert (await publisher.start(auth)).status_code == 201
            await wait_for_state(publisher.pc, {"connected"}, 20)
            await asyncio.sleep(2.0)
            assert (await http.delete(f"/api/shows/{slug}/pin", headers=auth)).status_code == 204
            unpinned = await socket.next("unpin")
            assert 1500 <= unpinned["media_ms"] <= 2000 + (int(time.time() * 1000) - accepted_at), unpinned
            await asyncio.sleep(1.0)
            assert (await http.delete(publisher.location, headers=auth)).status_code == 200
        finally:
            await publisher.close()
        path = finished_file(recordings(media_server) / "")
        assert path.parent.name.startswith("show-")
        duration = check_playable(path, 2.5)
        assert duration < 10
        # the stream is over: events carry no media time again
        assert (await http.put(f"/api/shows/{slug}/pin", json={"product_id": product["id"]}, headers=auth)).status_code == 200
        assert (await socket.next("pin"))["media_ms"] is None
        await socket.close()
        path.unlink()


async def test_recording_finished_when_the_show_ends_and_when_the_publisher_vanishes(media_server: MediaServer) -> None:
    auth = await _auth(media_server)
    async with asyncio.timeout(120), httpx.AsyncClient(base_url=media_server.url, timeout=30) as http:
        # the host ends the show with the camera still on: the video stops, the file is finished
        slug = media_server.new_show()
        publisher = Publisher(http, slug)
        try:
            assert (await publisher.start(auth)).status_code == 201
            await wait_for_state(publisher.pc, {"connected"}, 20)
            await asyncio.sleep(1.5)
            assert (await http.post(f"/api/shows/{slug}/end", headers=auth)).status_code == 200
            await wait_for_state(publisher.pc, {"closed", "failed"}, 15)
            assert (await http.get(f"/whep/{slug}")).status_code == 404
        finally:
            await publisher.close()
        path = finished_file(recordings(media_server))
        check_playable(path, 1.0)
        replay = (await http.get(f"/api/shows/{slug}/replay")).json()
        assert replay["recording"]["ended_at"] is not None and replay["recording"]["url"] == f"/s/{slug}/recording.webm"
        # an ended show takes no new publisher
        late = Publisher(http, slug)
        refused = await late.start(auth)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "invalid_state"
        await late.close()
        path.unlink()

        # the publisher's connection goes away without a WHIP DELETE: the stream ends by itself
        slug = media_server.new_show()
        socket = await Socket.join(media_server.url, slug)
        await socket.next("snapshot")
        product = await _product(http, auth)
        publisher = Publisher(http, slug)
        assert (await publisher.start(auth)).status_code == 201
        await wait_for_state(publisher.pc, {"connected"}, 20)
        await asyncio.sleep(1.5)
        await publisher.close()
        path = finished_file(recordings(media_server), timeout=40)
        check_playable(path, 1.0)
        deadline = time.monotonic() + 10
        while (await http.get(f"/whep/{slug}")).status_code != 404 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
        assert (await http.put(f"/api/shows/{slug}/pin", json={"product_id": product["id"]}, headers=auth)).status_code == 200
        assert (await socket.next("pin"))["media_ms"] is None
        await socket.close()
        path.unlink()


async def test_media_ms_is_stamped_against_the_stream_start(redis, sessions) -> None:  # type: ignore[no-untyped-def]
    host = await create_host(sessions, "clock@example.com", "a long enough password")
    async with sessions() as session:
        show = await create_show(session, host.id, "Clock")
        await session.commit()
    log = EventLog(redis, sessions)
    clock = StreamClock(redis)

    first = await log.append(show.id, "pin", {"product_id": 1})
    assert json.loads(first.frame)["media_ms"] is None

    started = int(time.time() * 1000) - 4000  # the stream started four seconds ago
    await clock.start(show.id, started)
    second = await log.append(show.id, "unpin", {"product_id": 1})
    frame = json.loads(second.frame)
    assert 4000 <= frame["media_ms"] <= 4000 + 1000 and frame["seq"] == 2
    assert frame["media_ms"] == frame["ts"] - started

    await clock.stop(show.id, started + 1)  # another stream's end: not ours, kept
    assert await clock.current(show.id) == started
    await clock.stop(show.id, started)
    third = await log.append(show.id, "pin", {"product_id": 1})
    assert json.loads(third.frame)["media_ms"] is None

    async with sessions() as session:
        from sqlalchemy import select

        rows = (await session.execute(select(ShowEvent).where(ShowEvent.show_id == show.id).order_by(ShowEvent.seq))).scalars().all()
    assert [r.media_ms for r in rows] == [None, frame["media_ms"], None]


def test_recordings_dir_setting(tmp_path: Path) -> None:
    import pytest

    from web.settings import Settings, SettingsError

    base = {"LIVEDROP_DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "test-secret-key-0123456789abcdef"}
    assert Settings.from_env(base).recordings_dir == tmp_path / "data" / "recordings"
    assert Settings.from_env({**base, "LIVEDROP_RECORDINGS_DIR": "off"}).recordings_dir is None
    chosen = tmp_path / "videos"
    assert Settings.from_env({**base, "LIVEDROP_RECORDINGS_DIR": str(chosen)}).media_config().recordings_dir == chosen
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SettingsError, match="LIVEDROP_RECORDINGS_DIR"):
        Settings.from_env({**base, "LIVEDROP_RECORDINGS_DIR": str(blocker / "sub")})


def test_audio_before_the_first_picture_does_not_cost_the_video(tmp_path: Path) -> None:
    """A browser's microphone starts before its camera: its first audio frames arrive before any
    picture. The recording must still have video (it had none: the audio's first packet wrote the
    header and opened the video encoder before its size was known)."""
    import av

    from live.media.recording import Recorder

    class Track:  # what Recorder.add reads of a subscription
        def __init__(self, kind: str) -> None:
            self.kind, self.dropped = kind, 0

    path = tmp_path / "show.webm"
    recorder = Recorder(path, started_at=1_000)
    recorder.add(Track("video"))  # type: ignore[arg-type]
    recorder.add(Track("audio"))  # type: ignore[arg-type]
    for n in range(5):  # 100 ms of sound first
        sound = av.AudioFrame(format="s16", layout="stereo", samples=960)
        sound.sample_rate = 48_000
        for plane in sound.planes:
            plane.update(bytes(plane.buffer_size))
        recorder._write("audio", sound, 1_000 + 20 * n)
    for n in range(30):  # then a second of pictures (and sound beside them)
        picture = av.VideoFrame(320, 240, "yuv420p")
        for plane in picture.planes:
            plane.update(bytes(plane.buffer_size))
        recorder._write("video", picture, 1_100 + 33 * n)
    recorder._finish()
    assert recorder.frames == 30
    with av.open(str(path)) as container:
        video = [frame for frame in container.decode(video=0)]
    assert len(video) >= 25 and video[0].width == 320
