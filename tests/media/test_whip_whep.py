"""WHIP in, WHEP out, against a running server, with aiortc peers on loopback only."""

from __future__ import annotations

import asyncio

import httpx

from tests.media.conftest import MediaServer
from tests.media.peers import Publisher, Viewer, wait_for_state



async def test_publish_three_viewers_refusals_and_end(media_server: MediaServer) -> None:
    slug = media_server.new_show()
    auth = {"Authorization": f"Bearer {media_server.token}"}
    async with asyncio.timeout(90), httpx.AsyncClient(base_url=media_server.url, timeout=30) as http:
        assert (await http.get(f"/whep/{slug}")).status_code == 404
        early = Viewer(http, slug)
        assert (await early.start()).status_code == 404, "no stream yet"
        await early.close()

        publisher = Publisher(http, slug)
        viewers: list[Viewer] = []
        try:
            answer = await publisher.start(auth)
            assert answer.status_code == 201, answer.text
            assert answer.headers["content-type"].startswith("application/sdp")
            assert answer.headers["location"].startswith(f"/whip/{slug}/")
            candidates = [l for l in answer.text.splitlines() if l.startswith("a=candidate:")]
            assert candidates and all(" 127.0.0.1 " in l for l in candidates), candidates  # loopback only
            await wait_for_state(publisher.pc, {"connected"}, 20)
            assert (await http.get(f"/whep/{slug}")).json() == {"stream": True}

            viewers = [Viewer(http, slug) for _ in range(3)]
            for viewer in viewers:
                response = await viewer.start()
                assert response.status_code == 201, response.text
                assert response.headers["location"].startswith(f"/whep/{slug}/")
            assert len({v.location for v in viewers}) == 3
            got = await asyncio.gather(*(v.frames(5, 30) for v in viewers))
            for frames in got:
                assert len(frames) == 5 and frames[-1].width == 320 and frames[-1].height == 180

            # refusals, none of which disturbs the running stream
            intruder = Publisher(http, slug)
            offer = await intruder.offer()
            sdp = {"content-type": "application/sdp"}
            assert (await http.post(f"/whip/{slug}", content=offer, headers=sdp)).status_code == 401
            bad_token = {"Authorization": "Bearer ldh_nope", **sdp}
            assert (await http.post(f"/whip/{slug}", content=offer, headers=bad_token)).status_code == 401
            second = await http.post(f"/whip/{slug}", content=offer, headers={**auth, **sdp})
            assert second.status_code == 409 and second.json()["error"]["code"] == "stream_taken"
            other = {"Authorization": f"Bearer {media_server.other_token}", **sdp}
            assert (await http.post(f"/whip/{slug}", content=offer, headers=other)).status_code == 404
            other_slug = media_server.new_show()
            malformed = await http.post(f"/whip/{other_slug}", content="v=0\r\nthis is not sdp\r\n", headers={**auth, **sdp})
            assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_sdp"
            garbage = await http.post(f"/whip/{other_slug}", content="hello", headers={**auth, **sdp})
            assert garbage.status_code == 400
            wrong_type = await http.post(f"/whip/{other_slug}", content=offer, headers={**auth, "content-type": "text/plain"})
            assert wrong_type.status_code == 415
            assert (await http.post(f"/whep/{slug}", content="nonsense", headers=sdp)).status_code == 400
            assert (await http.delete(f"/whip/{slug}/not-the-session", headers=auth)).status_code == 404
            assert (await http.delete(publisher.location)).status_code == 401
            await intruder.close()
            for frames in await asyncio.gather(*(v.frames(3, 20) for v in viewers)):
                assert len(frames) == 3
            assert publisher.pc.connectionState == "connected"

            # one viewer leaves: only that one
            assert (await http.delete(viewers[0].location)).status_code == 200
            assert (await http.delete(viewers[0].location)).status_code == 404
            assert await viewers[0].ended(10)
            for frames in await asyncio.gather(*(v.frames(3, 20) for v in viewers[1:])):
                assert len(frames) == 3

            # the host stops: the stream ends for everyone
            assert (await http.delete(publisher.location, headers=auth)).status_code == 200
            ended = await asyncio.gather(*(v.ended(15) for v in viewers[1:]))
            assert all(ended)
            for viewer in viewers[1:]:
                await wait_for_state(viewer.pc, {"closed", "failed"}, 15)
            assert (await http.get(f"/whep/{slug}")).status_code == 404
            late = Viewer(http, slug)
            assert (await late.start()).status_code == 404
            await late.close()
            # and the show can go live again
            again = Publisher(http, slug)
            assert (await again.start(auth)).status_code == 201
            assert (await http.delete(again.location, headers=auth)).status_code == 200
            await again.close()
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()
