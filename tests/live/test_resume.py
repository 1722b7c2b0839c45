"""Resume with ?after=N: exactly the missed lasting events, in order, none twice, no gap."""

from __future__ import annotations

import asyncio
import json

import httpx
from redis.asyncio import Redis

from .conftest import Cluster, make_show
from .wsclient import Viewer


async def test_resume_delivers_exactly_the_missed_events_in_order(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "resume")
        first = await Viewer.join(cluster.b.url, slug)
        snapshot = await first.next("snapshot")
        assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200
        seen = await first.next("pin", timeout=3)
        await first.close()  # the connection drops

        # Missed while away: five lasting events.
        for _ in range(2):
            assert (await host.delete(f"/api/shows/{slug}/pin")).status_code == 204
            assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200
        assert (await host.post(f"/api/shows/{slug}/offers", json={
            "product_id": product_id, "price_cents": 9000, "duration_s": 60})).status_code == 201

        again = await Viewer.join(cluster.a.url, slug, f"?after={seen['seq']}")
        try:
            missed = [await again.next(timeout=3) for _ in range(5)]
            assert [f["type"] for f in missed] == ["unpin", "pin", "unpin", "pin", "offer"]
            assert [f["seq"] for f in missed] == list(range(seen["seq"] + 1, seen["seq"] + 6))
            assert missed[-1]["state"] == "live" and missed[-1]["price_cents"] == 9000
            stock = await again.next(timeout=3)
            viewers = await again.next(timeout=3)
            assert stock["type"] == "stock" and f"{slug}-40" in stock["stock"]
            assert viewers["type"] == "viewers"
            assert not again.of_type("snapshot")
        finally:
            await again.close()
        assert snapshot["seq"] < seen["seq"]


async def join_as_the_page_does(url: str, slug: str, query: str, first: str | None) -> tuple[Viewer, dict]:  # type: ignore[type-arg]
    """Join and wait for the first frame; a close with 1013 before any frame (too slow to keep up,
    which a loaded CI machine reading while two publishers hammer pins can be, seen once) is
    joined again the same way, as the viewer page does. Nothing was received, so nothing is lost."""
    for attempt in range(3):
        viewer = await Viewer.join(url, slug, query)
        try:
            return viewer, await viewer.next(first, timeout=3)
        except AssertionError:
            await viewer.close()
            if viewer.close_code != 1013 or attempt == 2:
                raise
    raise AssertionError("unreachable")


async def test_resume_while_events_keep_coming_has_no_gap_and_no_repeat(cluster: Cluster) -> None:
    """Events are published through both processes without pause while the viewer drops and
    resumes several times; every seq arrives exactly once, in order."""
    async with cluster.host(cluster.a) as host_a, cluster.host(cluster.b) as host_b:
        slug, product_id = await make_show(host_a, "churn")
        stop = asyncio.Event()

        async def publish(host: httpx.AsyncClient) -> int:
            count = 0
            while not stop.is_set() and count < 200:
                answer = await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})
                assert answer.status_code == 200, answer.text
                count += 1
            return count

        publishers = [asyncio.create_task(publish(h)) for h in (host_a, host_b)]
        seqs: list[int] = []
        viewer, snapshot = await join_as_the_page_does(cluster.a.url, slug, "", "snapshot")
        start = snapshot["seq"]
        try:
            for round_ in range(4):
                await asyncio.sleep(0.3)
                await viewer.close()
                seqs += [f["seq"] for f in viewer.lasting()]
                last = seqs[-1] if seqs else start
                server = cluster.b if round_ % 2 == 0 else cluster.a
                viewer, _ = await join_as_the_page_does(server.url, slug, f"?after={last}", None)
            stop.set()
            published = sum(await asyncio.gather(*publishers))
            final = await host_a.get(f"/api/shows/{slug}")
            want_last = final.json()["seq"]
            deadline = asyncio.get_running_loop().time() + 5
            while (not viewer.lasting() or viewer.lasting()[-1]["seq"] < want_last) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            seqs += [f["seq"] for f in viewer.lasting()]
        finally:
            stop.set()
            await viewer.close()
        assert published > 10
        assert seqs == list(range(start + 1, want_last + 1)), (start, want_last, seqs)


async def test_resume_from_before_what_is_kept_gets_a_snapshot(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "old")
        assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200
        # A seq this show never had (a client that talked to a Redis that has since been emptied).
        viewer = await Viewer.join(cluster.b.url, slug, "?after=999999")
        try:
            snapshot = await viewer.next(timeout=3)
            assert snapshot["type"] == "snapshot" and snapshot["seq"] == 2 and snapshot["pinned"]["id"] == product_id
        finally:
            await viewer.close()


async def test_resume_from_before_the_kept_events_gets_a_snapshot(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "trimmed")
        for _ in range(3):
            assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200
        # Pretend the stream has been trimmed past the first events (it keeps at least 1,000).
        redis = Redis.from_url(cluster.redis_url, decode_responses=True)
        try:
            key = None
            async for candidate in redis.scan_iter(match="ld:{s*}:events", count=1000):
                first = await redis.xrange(candidate, "1-0", "1-0")
                if first and json.loads(first[0][1]["f"]).get("slug") == slug:
                    key = candidate
            assert key is not None
            await redis.xtrim(key, minid="3-0", approximate=False)
        finally:
            await redis.aclose()
        viewer = await Viewer.join(cluster.b.url, slug, "?after=1")
        try:
            snapshot = await viewer.next(timeout=3)
            assert snapshot["type"] == "snapshot" and snapshot["seq"] == 4
        finally:
            await viewer.close()
        kept = await Viewer.join(cluster.b.url, slug, "?after=2")
        try:
            assert [(await kept.next(timeout=3))["seq"] for _ in range(2)] == [3, 4]
        finally:
            await kept.close()


async def test_resume_replays_more_events_than_the_send_queue_holds(cluster: Cluster) -> None:
    """The queue bound (64 frames in these servers) is for falling behind the room, not for the
    replay a resume asks for: a viewer that missed 150 events (~5 KB each) resumes while the host
    keeps pinning, and gets every event, never 1013."""
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "long-away", description="x" * 5000)
        viewer = await Viewer.join(cluster.b.url, slug)
        last = (await viewer.next("snapshot"))["seq"]
        await viewer.close()
        for _ in range(150):
            assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200

        async def keep_pinning() -> None:
            for _ in range(30):
                assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200

        pinning = asyncio.create_task(keep_pinning())
        again = await Viewer.join(cluster.b.url, slug, f"?after={last}")
        try:
            await pinning
            frames = [await again.next("pin", timeout=10) for _ in range(180)]
            assert [f["seq"] for f in frames] == list(range(last + 1, last + 181))
            assert again.close_code is None
        finally:
            pinning.cancel()
            await again.close()
