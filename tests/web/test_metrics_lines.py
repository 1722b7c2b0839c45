"""/metrics carries the drops' waiting rooms: people in each running line and places admitted
(web.metrics.waiting_lines), read from Redis at scrape time."""

from __future__ import annotations

import time
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.web.buying import auth, live_show_with_product, new_buyer


async def test_a_scrape_counts_each_waiting_room(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {f"ML-{uuid.uuid4().hex[:6]}": 2})
    drop = await client.post("/api/products", headers=auth(host_token), json={
        "title": "Line drop", "price_cents": 9900, "currency": "USD",
        "variants": [{"sku": f"MQ-{uuid.uuid4().hex[:6]}", "label": "EU 41", "stock": 3}]})
    offer = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": drop.json()["id"], "price_cents": 9900, "duration_s": 3600, "mode": "queue",
        "starts_at": int(time.time() * 1000) + 3_600_000})
    assert offer.status_code == 201, offer.text
    offer_id = str(offer.json()["id"])
    for name in ("Ada", "Bo", "Cy"):
        joined = await client.post(f"/api/shows/{slug}/offers/{offer_id}/queue", headers=auth(await new_buyer(client, name)), json={})
        assert joined.status_code == 201, joined.text
    scrape = await client.get("/metrics")
    assert scrape.status_code == 200, scrape.text
    samples = {(s.name, s.labels.get("offer")): s.value
               for family in text_string_to_metric_families(scrape.text) for s in family.samples}
    assert samples[("livedrop_queue_entries", offer_id)] == 3
    assert samples[("livedrop_queue_admitted", offer_id)] == 0  # it starts in an hour: nobody admitted yet
