"""`livedrop media` as its own process: the web process only relays signalling to it over loopback.
Also an OBS-shaped publisher: H.264 only, and no candidates in its offer (no trickle either)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from aiortc import RTCRtpSender

from tests.media.conftest import MediaServer, make_hosts, media_env
from tests.media.peers import Publisher, Viewer, wait_for_state
from tests.support import LivedropProcess, free_port


@pytest.fixture(scope="module")
def split_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MediaServer, LivedropProcess]]:
    env = media_env(tmp_path_factory, "media-split")
    token, other = make_hosts(env)
    media_port = free_port()
    media = LivedropProcess(["media", "--port", str(media_port)], env, port=media_port).start()
    try:
        web_env = dict(env, LIVEDROP_MEDIA_URL=media.url)
        with LivedropProcess(["serve", "--host", "127.0.0.1"], web_env) as web:
            yield MediaServer(web.url, token, other, web), media
    finally:
        media.stop()


def obs_like(sdp: str) -> str:
    """What OBS's WHIP output sends: every candidate line removed (it does not trickle them either)."""
    return "".join(line + "\r\n" for line in sdp.splitlines() if not line.startswith(("a=candidate:", "a=end-of-candidates")))


async def test_h264_publisher_without_candidates_through_media_process(split_server) -> None:  # type: ignore[no-untyped-def]
    server, media = split_server
    slug = server.new_show()
    auth = {"Authorization": f"Bearer {server.token}"}
    async with asyncio.timeout(60), httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        publisher = Publisher(http, slug)
        h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
        publisher.pc.getTransceivers()[0].setCodecPreferences(h264)
        viewer = Viewer(http, slug)
        try:
            offer = obs_like(await publisher.offer())
            assert "H264" in offer and "VP8" not in offer and "a=candidate" not in offer
            response = await http.post(f"/whip/{slug}", content=offer, headers={"content-type": "application/sdp", **auth})
            assert response.status_code == 201, response.text
            assert "H264" in response.text and "a=candidate:" in response.text
            from aiortc import RTCSessionDescription

            await publisher.pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
            await wait_for_state(publisher.pc, {"connected"}, 20)

            assert (await viewer.start()).status_code == 201
            frames = await viewer.frames(5, 30)
            assert frames[-1].width == 320

            stats = httpx.get(media.url + "/internal/stats", timeout=5)
            assert stats.status_code == 403, "the media process answers only the web processes"

            assert (await http.delete(response.headers["location"], headers=auth)).status_code == 200
            assert await viewer.ended(15)
            assert (await http.get(f"/whep/{slug}")).status_code == 404
        finally:
            await viewer.close()
            await publisher.close()


async def test_a_stream_that_ended_before_its_delete_is_stopped_all_the_same(split_server) -> None:  # type: ignore[no-untyped-def]
    """A browser host closes its connection first and DELETEs after (static/panel/camera.js): the
    media process has ended the stream by itself by then and cannot tell the web process. The
    DELETE is still the end of that stream: answered 200, the show has no stream any more, and
    its recording is finished (seen once as a 404 and a "live" answer cached after the stop)."""
    from sqlalchemy import select

    from live.models import Recording, Show
    from web.database import make_engine
    from web.settings import Settings

    server, _media = split_server
    slug = server.new_show()
    auth = {"Authorization": f"Bearer {server.token}"}
    async with asyncio.timeout(60), httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        publisher = Publisher(http, slug)
        viewer = Viewer(http, slug)
        try:
            assert (await publisher.start(auth)).status_code == 201
            await wait_for_state(publisher.pc, {"connected"}, 20)
            assert (await viewer.start()).status_code == 201
            await viewer.frames(3, 30)
            assert (await http.get(f"/whep/{slug}")).status_code == 200  # "live", now remembered for a moment

            await publisher.close()  # the connection goes first...
            assert await viewer.ended(20)  # ...and the media process ends the stream by itself
            assert publisher.location is not None
            stopped = await http.delete(publisher.location, headers=auth)  # then the host's DELETE
            assert stopped.status_code == 200, stopped.text
            assert (await http.get(f"/whep/{slug}")).status_code == 404
        finally:
            await viewer.close()
            await publisher.close()

    engine = make_engine(Settings.from_env(server.process.env, create_data_dir=False).database_url)
    try:
        async with engine.connect() as conn:
            ended = (await conn.execute(
                select(Recording.ended_at).join(Show, Show.id == Recording.show_id).where(Show.slug == slug)
            )).scalars().all()
    finally:
        await engine.dispose()
    assert ended and all(at is not None for at in ended), ended
