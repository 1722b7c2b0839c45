"""Offers go live and end on time on the server, with no host action and no host browser."""

from __future__ import annotations

import asyncio
import time

import httpx

from .conftest import Cluster, buyer, make_show
from .wsclient import Viewer


async def _hold(base_url: str, slug: str, token: str, sku: str, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        return await client.post(f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 1},
                                 headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})


async def test_an_offer_goes_live_and_ends_on_time(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "offer")
        sku = f"{slug}-40"
        viewer = await Viewer.join(cluster.b.url, slug)
        try:
            await viewer.next("snapshot")
            server_now = (await host.get(f"/api/shows/{slug}")).json()["server_time"]
            created = await host.post(f"/api/shows/{slug}/offers", json={
                "product_id": product_id, "price_cents": 9000, "duration_s": 2, "starts_at": server_now + 2000,
                "quantity": 3, "per_customer_limit": 1, "hold_s": 60,
            })
            assert created.status_code == 201, created.text
            offer = created.json()
            assert offer["state"] == "scheduled" and offer["ends_at"] == offer["starts_at"] + 2000
            assert offer["remaining"] == 3 and offer["quantity"] == 3
            scheduled = await viewer.next("offer", timeout=3, state="scheduled")
            assert scheduled["id"] == offer["id"]

            _, token = await buyer(cluster.a.url)
            early = await _hold(cluster.a.url, slug, token, sku, "early")
            assert early.status_code == 409 and early.json()["error"]["code"] == "not_on_sale"

            live = await viewer.next("offer", timeout=4, state="live")
            assert 0 <= live["ts"] - offer["starts_at"] < 800, live["ts"] - offer["starts_at"]
            held = await _hold(cluster.a.url, slug, token, sku, "during")
            assert held.status_code == 201, held.text
            assert held.json()["price_cents"] == 9000 and held.json()["offer_id"] == offer["id"]
            snapshot = (await host.get(f"/api/shows/{slug}")).json()
            assert [o["id"] for o in snapshot["offers"]] == [offer["id"]] and snapshot["offers"][0]["remaining"] == 2

            ended = await viewer.next("offer", timeout=4, state="ended")
            assert 0 <= ended["ts"] - offer["ends_at"] < 800, ended["ts"] - offer["ends_at"]
            assert ended["seq"] == live["seq"] + 1 == scheduled["seq"] + 2
            _, other = await buyer(cluster.a.url)
            late = await _hold(cluster.b.url, slug, other, sku, "late")
            assert late.status_code == 409 and late.json()["error"]["code"] == "not_on_sale"
            assert (await host.get(f"/api/shows/{slug}")).json()["offers"] == []
        finally:
            await viewer.close()


async def test_a_cancelled_offer_ends_now_and_the_show_end_ends_its_offers(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "cancel")
        viewer = await Viewer.join(cluster.a.url, slug)
        try:
            await viewer.next("snapshot")
            first = (await host.post(f"/api/shows/{slug}/offers", json={
                "product_id": product_id, "price_cents": 5000, "duration_s": 600})).json()
            # Offers on one product may not overlap (409 offer_overlaps): the second comes after the first.
            second = (await host.post(f"/api/shows/{slug}/offers", json={
                "product_id": product_id, "price_cents": 6000, "duration_s": 600,
                "starts_at": first["ends_at"]})).json()
            assert first["state"] == "live"
            started = time.time() * 1000
            assert (await host.delete(f"/api/shows/{slug}/offers/{first['id']}")).status_code == 204
            ended = await viewer.next("offer", timeout=3, id=first["id"], state="ended")
            assert ended["ends_at"] <= started + 1000
            assert (await host.delete(f"/api/shows/{slug}/offers/{first['id']}")).status_code == 204  # again: no-op
            assert (await host.post(f"/api/shows/{slug}/end")).json()["status"] == "ended"
            await viewer.next("offer", timeout=3, id=second["id"], state="ended")
            show = await viewer.next("show", timeout=3)
            assert show["status"] == "ended" and show["show"]["status"] == "ended"
            await asyncio.sleep(0.3)
            assert len([f for f in viewer.of_type("offer") if f["id"] == first["id"] and f["state"] == "ended"]) == 1
        finally:
            await viewer.close()
