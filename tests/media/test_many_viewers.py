"""A publisher and 1, 4 and 9 viewers joining together while the stream is recorded: every viewer
gets the source's frames for the whole run and the recording has every one of them.

With one frame object shared by every viewer's encoder and the recorder, each rewrote its
timestamps in place, an encoder met a timestamp that went backwards and stopped for good: 4 of 4
viewers froze within 4 s. The publisher paints each frame's number and the wall clock into it
(tests.media.peers.ClockTrack), so a viewer knows which frames it got and how late; the recording
is decoded and its frame numbers must run without a gap.

`livedrop media` runs on its own here (with `serve` in front), so its /internal/stats can be read:
every ICE check it sent went to 127.0.0.1, and no viewer's sender failed. The full soak (10 runs of
30 s) is bench/media.py --soak.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import httpx
import pytest

from tests.media.conftest import MediaServer, make_hosts, media_env
from tests.media.peers import ClockTrack, Publisher, Viewer, read_stamp, wait_for_state
from tests.support import LivedropProcess, free_port
from web.media_process import media_key

RUN_S = 8.0
FPS = 15
# A viewer must get this share of the frames the publisher made while it watched, at least
# MIN_WINDOW_SHARE of them in every second, and never wait MAX_GAP_MS for a frame: a frozen viewer
# gets nothing from the second its encoder dies (within 0-9 s, median 2.8 s, before the fix). On an
# idle machine viewers get 97-100 %; the margins are for a 2-core machine running other test suites
# at once (load 8-10), where the media process, starved of CPU, dropped frames for 9 viewers whose
# encoders fell behind and one got 78 %.
MIN_SHARE = 0.6
MIN_WINDOW_SHARE = 0.3
MAX_GAP_MS = 1500
FAILURE_LINES = ("could not be written", "sender stopped", "has held a", "dropped because", "Traceback")


@dataclass
class Split:
    web: MediaServer
    media: LivedropProcess

    def stats(self) -> dict:
        key = media_key(self.media.env["SECRET_KEY"])
        response = httpx.get(f"{self.media.url}/internal/stats", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def recordings(self) -> Path:
        return Path(self.media.env["LIVEDROP_DATA_DIR"]) / "recordings"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Split]:
    env = media_env(tmp_path_factory, "media-many")
    token, other = make_hosts(env)
    port = free_port()
    media = LivedropProcess(["media", "--port", str(port)], env, port=port).start()
    try:
        with LivedropProcess(["serve", "--host", "127.0.0.1"], dict(env, LIVEDROP_MEDIA_URL=media.url)) as web:
            yield Split(MediaServer(web.url, token, other, web), media)
    finally:
        media.stop()


@dataclass
class Watch:
    """What one viewer got: (arrival ms, frame number, painted ms) per frame."""

    joined_ms: int
    frames: list[tuple[int, int, int]] = field(default_factory=list)
    unreadable: int = 0


async def watch(viewer: Viewer, until: float, got: Watch) -> None:
    track = await asyncio.wait_for(viewer.track, 10)
    while time.monotonic() < until:
        try:
            frame = await asyncio.wait_for(track.recv(), max(0.1, until - time.monotonic()))
        except asyncio.TimeoutError:
            return
        stamp = read_stamp(frame)
        if stamp is None:
            got.unreadable += 1
        else:
            got.frames.append((time.time_ns() // 1_000_000, *stamp))


def recorded_numbers(path: Path) -> list[int | None]:
    """The frame number of every frame in the file (None: its stamp could not be read)."""
    with av.open(str(path)) as container:
        return [stamp[0] if (stamp := read_stamp(frame)) else None
                for frame in container.decode(container.streams.video[0])]


def assert_every_frame(numbers: list[int | None]) -> None:
    """Frame numbers run without a gap: between two readable ones, exactly as many frames as
    their numbers say (a rare unreadable stamp stands for the frame it hides)."""
    readable = [(i, n) for i, n in enumerate(numbers) if n is not None]
    assert len(readable) >= 0.95 * len(numbers), f"{len(numbers) - len(readable)} of {len(numbers)} stamps unreadable"
    for (i, a), (j, b) in zip(readable, readable[1:]):
        assert b - a == j - i, f"frames {a} to {b} are {j - i} frames in the recording (missing or doubled)"


def finished_recording(folder: Path, before: set[Path], timeout: float = 20) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [p for p in folder.glob("show-*/*.webm") if p not in before]
        if len(new) == 1 and b"\x1c\x53\xbb\x6b" in new[0].read_bytes():  # Cues: the file was finished
            return new[0]
        time.sleep(0.1)
    raise AssertionError(f"no finished recording in {folder}")


@pytest.mark.parametrize("viewers", [1, 4, 9])
async def test_viewers_joining_together_get_every_frame_while_recording(split: Split, viewers: int) -> None:
    slug = split.web.new_show()
    auth = {"Authorization": f"Bearer {split.web.token}"}
    before = set(split.recordings().glob("show-*/*.webm"))
    log_before = len(split.media.output())
    async with asyncio.timeout(90), httpx.AsyncClient(base_url=split.web.url, timeout=30) as http:
        track = ClockTrack(320, 180, FPS)
        publisher = Publisher(http, slug, track=track)
        group = [Viewer(http, slug) for _ in range(viewers)]
        try:
            assert (await publisher.start(auth)).status_code == 201
            await wait_for_state(publisher.pc, {"connected"}, 20)
            await asyncio.sleep(0.5)
            # they join together: the case that froze them
            answers = await asyncio.gather(*(v.start() for v in group))
            assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
            joined = time.time_ns() // 1_000_000
            until = time.monotonic() + RUN_S
            watches = [Watch(joined) for _ in group]
            await asyncio.gather(*(watch(v, until, w) for v, w in zip(group, watches)))
            stats = split.stats()
            assert (await http.delete(publisher.location, headers=auth)).status_code == 200
        finally:
            for viewer in group:
                await viewer.close()
            await publisher.close()

    sent = {seq: ms for seq, ms in track.sent}
    latencies = []
    print(f"{viewers} viewers got {[len(w.frames) for w in watches]} frames ({[w.unreadable for w in watches]} "
          f"unreadable); server: {stats['frames'].get(slug)}")
    for i, got in enumerate(watches):
        assert got.frames, f"viewer {i} got no frame"
        numbers = [seq for _, seq, _ in got.frames]
        assert numbers == sorted(set(numbers)), f"viewer {i}: frames out of order or twice"
        first_ms, last_ms = got.frames[0][2], got.frames[-1][2]
        made = [seq for seq, ms in sent.items() if first_ms <= ms <= last_ms]
        share = len(numbers) / len(made)
        assert share >= MIN_SHARE, f"viewer {i} got {len(numbers)} of {len(made)} frames"
        assert last_ms - first_ms >= (RUN_S - 3) * 1000, f"viewer {i} stopped getting frames {last_ms - first_ms} ms in"
        gaps = [b[0] - a[0] for a, b in zip(got.frames, got.frames[1:])]
        assert max(gaps, default=0) < MAX_GAP_MS, f"viewer {i} waited {max(gaps)} ms for a frame"
        for start in range(first_ms, last_ms - 1000, 1000):
            in_window = sum(1 for _, _, ms in got.frames if start <= ms < start + 1000)
            made_in_window = sum(1 for ms in sent.values() if start <= ms < start + 1000)
            assert in_window >= MIN_WINDOW_SHARE * made_in_window, (
                f"viewer {i}: {in_window} of {made_in_window} frames in the second from {start - first_ms} ms")
        assert got.unreadable <= len(got.frames) // 20, f"viewer {i}: {got.unreadable} unreadable stamps"
        latencies += [arrived - painted for arrived, _, painted in got.frames]
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"{viewers} viewers: latency p50 {p50} ms, p99 {p99} ms over {len(latencies)} frames")
    # 200-370 ms on that loaded machine (every thread hop waits for a core), far less when idle; a
    # queue that grows would be seconds
    assert p50 < 1000, f"publisher to viewer p50 {p50} ms"

    # the server's side: no sender failed, and every connectivity check it sent went to loopback
    assert stats["sender_failures"] == 0, stats
    assert stats["ice"]["checked"] and set(stats["ice"]["checked"]) == {"127.0.0.1"}, stats["ice"]

    path = finished_recording(split.recordings(), before)
    numbers = recorded_numbers(path)
    assert_every_frame(numbers)
    readable = [n for n in numbers if n is not None]
    seen = max(seq for got in watches for _, seq, _ in got.frames)
    assert readable[0] <= 3 and readable[-1] >= seen, (readable[0], readable[-1], seen)
    log = split.media.output()[log_before:]
    assert not [line for line in log.splitlines() if any(f in line for f in FAILURE_LINES)], log
    path.unlink()
