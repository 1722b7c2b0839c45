"""The replay over HTTP, on the real app, Redis and database: what an ended, recorded show sells
(list price, while in stock), that a replay purchase is a real order that moves stock, the replay
API and recording file, and replay viewers counted apart from live ones."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from inventory.clock import now_ms
from live.models import Show
from live.recordings import add_recording
from tests.web.buying import auth, checkout_body, hold, live_show_with_product, new_buyer

WEBM_BYTES = b"\x1a\x45\xdf\xa3" + bytes(400)  # a stand-in: these tests never decode it


async def _record(app, sessions, slug: str) -> None:  # type: ignore[no-untyped-def]
    """What an accepted WHIP leaves behind: a recording row and its file."""
    async with sessions() as session:
        show = (await session.execute(select(Show).where(Show.slug == slug))).scalar_one()
        recording = await add_recording(session, show.id, now_ms() - 60_000)
        await session.commit()
        path = app.state.livedrop.settings.recordings_dir / recording.file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(WEBM_BYTES)


async def test_a_product_bought_in_the_replay_is_a_real_order(client: httpx.AsyncClient, app, sessions, host_token: str) -> None:  # type: ignore[no-untyped-def]
    slug, product = await live_show_with_product(
        client, host_token, {"RP-40": 2, "RP-41": 1}, offer={"price_cents": 5000, "duration_s": 600})
    other = await client.post("/api/products", headers=auth(host_token), json={
        "title": "Never shown", "price_cents": 100, "currency": "USD", "variants": [{"sku": "RP-X", "label": "X", "stock": 5}]})
    assert other.status_code == 201
    await _record(app, sessions, slug)
    assert (await client.get(f"/api/shows/{slug}/replay")).status_code == 404  # not over yet
    assert (await client.post(f"/api/shows/{slug}/end", headers=auth(host_token))).status_code == 200

    replay = (await client.get(f"/api/shows/{slug}/replay")).json()
    assert [p["id"] for p in replay["products"]] == [product["id"]]
    assert replay["stock"] == {"RP-40": 2, "RP-41": 1}
    assert {e["type"] for e in replay["events"]} == {"pin", "offer"}
    assert all(e["media_ms"] >= 0 for e in replay["events"])

    buyer = await new_buyer(client)
    held = await hold(client, slug, buyer, "RP-40")
    assert held.status_code == 201, held.text
    assert held.json()["price_cents"] == 12900 and held.json()["offer_id"] is None  # list price: offers are over
    assert held.json()["remaining"] == 1
    paid = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    order = paid.json()
    assert order["status"] == "paid" and order["total_cents"] == 12900

    snapshot = (await client.get(f"/api/shows/{slug}")).json()
    assert snapshot["stock"]["RP-40"] == 1 and snapshot["show"]["status"] == "ended"
    orders = (await client.get(f"/api/shows/{slug}/orders", headers=auth(host_token))).json()["orders"]
    assert [o["order_id"] for o in orders] == [order["order_id"]]

    # sold out is sold out, and what the show never showed is not for sale
    last = await hold(client, slug, await new_buyer(client), "RP-41")
    assert last.status_code == 201
    gone = await hold(client, slug, await new_buyer(client), "RP-41")
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "sold_out"
    never = await hold(client, slug, buyer, "RP-X")
    assert never.status_code == 409 and never.json()["error"]["code"] == "not_on_sale"


async def test_an_ended_show_without_a_recording_sells_nothing(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"NR-1": 3})
    assert (await client.post(f"/api/shows/{slug}/end", headers=auth(host_token))).status_code == 200
    refused = await hold(client, slug, await new_buyer(client), "NR-1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_on_sale"
    missing = await client.get(f"/api/shows/{slug}/replay")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert (await client.get(f"/s/{slug}/recording.webm")).status_code == 404
    assert (await client.post(f"/api/shows/{slug}/replay/presence", json={"viewer_id": "abcdefgh1"})).status_code == 404
    page = await client.get(f"/s/{slug}")
    assert page.status_code == 200 and "replay-video" not in page.text


async def test_replay_page_file_and_viewers(client: httpx.AsyncClient, app, sessions, host_token: str) -> None:  # type: ignore[no-untyped-def]
    slug, _ = await live_show_with_product(client, host_token, {"RV-1": 3})
    await _record(app, sessions, slug)
    assert (await client.post(f"/api/shows/{slug}/end", headers=auth(host_token))).status_code == 200

    page = await client.get(f"/s/{slug}")
    assert page.status_code == 200 and 'id="replay-video"' in page.text and f"/s/{slug}/recording.webm" in page.text
    whole = await client.get(f"/s/{slug}/recording.webm")
    assert whole.status_code == 200 and whole.content == WEBM_BYTES and whole.headers["accept-ranges"] == "bytes"
    part = await client.get(f"/s/{slug}/recording.webm", headers={"Range": "bytes=4-13"})
    assert part.status_code == 206 and part.content == WEBM_BYTES[4:14]
    assert part.headers["content-range"] == f"bytes 4-13/{len(WEBM_BYTES)}"

    bad = await client.post(f"/api/shows/{slug}/replay/presence", json={"viewer_id": "../x"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    malformed = await client.post(f"/api/shows/{slug}/replay/presence", content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    one = (await client.post(f"/api/shows/{slug}/replay/presence", json={"viewer_id": "viewer-one"})).json()
    assert one["replay_viewers"] == 1 and one["stock"] == {"RV-1": 3}
    again = (await client.post(f"/api/shows/{slug}/replay/presence", json={"viewer_id": "viewer-one"})).json()
    assert again["replay_viewers"] == 1  # a heartbeat is not a new viewer
    two = (await client.post(f"/api/shows/{slug}/replay/presence", json={"viewer_id": "viewer-two"})).json()
    assert two["replay_viewers"] == 2
    stats = (await client.get(f"/api/shows/{slug}/stats", headers=auth(host_token))).json()
    assert stats["replay_viewers"] == 2 and stats["viewers"] == 0  # counted apart from live viewers
