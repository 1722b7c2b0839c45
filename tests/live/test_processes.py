"""Several web processes behind one Redis: what a host does through one reaches viewers on another."""

from __future__ import annotations

import httpx

from .conftest import Cluster, buyer, make_show
from .wsclient import Viewer


async def test_a_pin_through_a_reaches_a_viewer_on_b(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "pin")
        viewer = await Viewer.join(cluster.b.url, slug)
        try:
            snapshot = await viewer.next("snapshot")
            assert snapshot["pinned"] is None and snapshot["show"]["status"] == "live"
            answer = await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})
            assert answer.status_code == 200, answer.text
            pin = await viewer.next("pin", timeout=3)
            assert pin["seq"] == snapshot["seq"] + 1
            assert pin["product"]["id"] == product_id and pin["product_id"] == product_id
            assert set(pin["stock"]) == {v["sku"] for v in pin["product"]["variants"]}
            assert isinstance(pin["ts"], int)
            # Unpin through B reaches the same viewer, next seq.
            async with cluster.host(cluster.b) as host_b:
                assert (await host_b.delete(f"/api/shows/{slug}/pin")).status_code == 204
            unpin = await viewer.next("unpin", timeout=3)
            assert unpin["seq"] == pin["seq"] + 1 and unpin["product_id"] == product_id
        finally:
            await viewer.close()


async def test_a_hold_through_b_moves_the_stock_a_viewer_on_a_sees(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "stock")
        sku = f"{slug}-40"
        assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200
        viewer = await Viewer.join(cluster.a.url, slug)
        try:
            snapshot = await viewer.next("snapshot")
            assert snapshot["stock"][sku] == 5
            _, token = await buyer(cluster.b.url)
            async with httpx.AsyncClient(base_url=cluster.b.url, timeout=10) as client:
                held = await client.post(
                    f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 2},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k1"},
                )
            assert held.status_code == 201, held.text
            assert held.json()["price_cents"] == 12000 and held.json()["remaining"] == 3
            frame = await viewer.next("stock", timeout=3)
            while frame["stock"].get(sku) != 3:
                frame = await viewer.next("stock", timeout=3)
            # The public snapshot on B agrees.
            async with httpx.AsyncClient(base_url=cluster.b.url, timeout=10) as client:
                public = (await client.get(f"/api/shows/{slug}")).json()
            assert public["stock"][sku] == 3 and public["pinned"]["id"] == product_id
        finally:
            await viewer.close()


async def test_viewers_are_counted_across_processes(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, _ = await make_show(host, "count")
    on_a = await Viewer.join(cluster.a.url, slug)
    on_b = [await Viewer.join(cluster.b.url, slug) for _ in range(2)]
    try:
        await on_a.next("viewers", timeout=5, viewers=3)
        await on_b[0].next("viewers", timeout=5, viewers=3)
        await on_a.send({"type": "react", "emoji": "🔥"})
        await on_b[1].send({"type": "react", "emoji": "🔥"})
        frame = await on_b[0].next("reactions", timeout=5)
        while frame["reactions"].get("🔥") != 2:
            frame = await on_b[0].next("reactions", timeout=5)
        await on_b[1].close()
        await on_a.next("viewers", timeout=5, viewers=2)
    finally:
        for v in [on_a, *on_b]:
            await v.close()


async def test_a_release_through_a_reaches_a_viewer_on_a_and_b_at_once(cluster: Cluster) -> None:
    """Stock is pushed, not polled: the servers' safety poll is 60 s here (conftest), so a stock
    frame within 3 s came from the hold's or release's own notice, in this process and the other."""
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "release")
        sku = f"{slug}-41"
        assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200
        on_a = await Viewer.join(cluster.a.url, slug)
        on_b = await Viewer.join(cluster.b.url, slug)
        try:
            for viewer in (on_a, on_b):
                assert (await viewer.next("snapshot"))["stock"][sku] == 5
            _, token = await buyer(cluster.a.url)
            buyer_auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=cluster.a.url, timeout=10) as client:
                held = await client.post(f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 1},
                                         headers={**buyer_auth, "Idempotency-Key": "release-1"})
                assert held.status_code == 201, held.text
                for viewer in (on_a, on_b):
                    frame = await viewer.next("stock", timeout=3)
                    while frame["stock"].get(sku) != 4:
                        frame = await viewer.next("stock", timeout=3)
                released = await client.delete(f"/api/holds/{held.json()['hold_id']}", headers=buyer_auth)
                assert released.status_code in (200, 204), released.text
            for viewer in (on_a, on_b):
                frame = await viewer.next("stock", timeout=3)
                while frame["stock"].get(sku) != 5:
                    frame = await viewer.next("stock", timeout=3)
        finally:
            await on_a.close()
            await on_b.close()
