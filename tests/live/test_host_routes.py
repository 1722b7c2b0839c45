"""Host routes: a host sees and changes only its own shows (anything else is 404)."""

from __future__ import annotations

import httpx

from .conftest import Cluster, make_show


async def test_another_hosts_show_and_products_are_not_found(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host, cluster.host(cluster.b, cluster.other_token) as other:
        slug, product_id = await make_show(host, "mine")
        _, other_product = await make_show(other, "theirs")
        for method, path, body in [
            ("POST", f"/api/shows/{slug}/start", None),
            ("POST", f"/api/shows/{slug}/end", None),
            ("PUT", f"/api/shows/{slug}/pin", {"product_id": product_id}),
            ("DELETE", f"/api/shows/{slug}/pin", None),
            ("POST", f"/api/shows/{slug}/offers", {"product_id": product_id, "price_cents": 1, "duration_s": 5}),
            ("DELETE", f"/api/shows/{slug}/offers/1", None),
            ("DELETE", f"/api/shows/{slug}/chat/1", None),
            ("POST", f"/api/shows/{slug}/mutes", {"buyer_id": "abc"}),
        ]:
            answer = await other.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "not_found"
        assert slug not in [s["slug"] for s in (await other.get("/api/shows")).json()["shows"]]
        assert slug in [s["slug"] for s in (await host.get("/api/shows")).json()["shows"]]
        # Pinning another host's product in my own show: that product does not exist for me.
        answer = await host.put(f"/api/shows/{slug}/pin", json={"product_id": other_product})
        assert answer.status_code == 404
        # The show is untouched: still live, nothing pinned.
        snapshot = (await host.get(f"/api/shows/{slug}")).json()
        assert snapshot["show"]["status"] == "live" and snapshot["pinned"] is None


async def test_show_routes_validate_and_answer_per_contract(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        created = await host.post("/api/shows", json={"title": "Spring Drop!"})
        assert created.status_code == 201 and created.json()["status"] == "scheduled"
        slug = created.json()["slug"]
        assert slug.startswith("spring-drop")
        again = await host.post("/api/shows", json={"title": "Spring Drop!"})
        assert again.json()["slug"] != slug
        taken = await host.post("/api/shows", json={"title": "x", "slug": slug})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "slug_taken"
        bad = await host.post("/api/shows", json={"title": "x", "slug": "Not A Slug"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        extra = await host.post("/api/shows", json={"title": "x", "colour": "red"})
        assert extra.status_code == 422 and "colour" in extra.json()["error"]["message"]
        broken = await host.post("/api/shows", content=b"{", headers={"content-type": "application/json"})
        assert broken.status_code == 400 and broken.json()["error"]["code"] == "malformed_json"
        offer = await host.post(f"/api/shows/{slug}/offers", json={"product_id": 1, "price_cents": 1, "duration_s": 0})
        assert offer.status_code == 422 and "duration_s" in offer.json()["error"]["message"]
        assert (await host.post(f"/api/shows/{slug}/end")).json()["status"] == "ended"
        restart = await host.post(f"/api/shows/{slug}/start")
        assert restart.status_code == 409 and restart.json()["error"]["code"] == "invalid_state"
    async with httpx.AsyncClient(base_url=cluster.a.url) as anonymous:
        assert (await anonymous.post("/api/shows", json={"title": "x"})).status_code == 401
        assert (await anonymous.get("/api/shows/no-such-show")).status_code == 404
