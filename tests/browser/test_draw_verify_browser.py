"""A draw's audit recomputed in Chromium by /offers/{id}/verify (Web Crypto), against a real
server: 1,000 entries over 3 sizes verify; one entry changed after the close does not, and the
page says where; a buyer finds their own entry by its id."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from .conftest import Host, Server
from .test_viewer import expect

pytestmark = pytest.mark.browser

ENTRANTS = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


async def enter_all(url: str, slug: str, offer_id: int, skus: list[str]) -> list[str]:
    """ENTRANTS buyers enter, 50 at a time; their entry ids."""
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        async def one(i: int) -> str:
            token = (await http.post("/api/buyers", json={})).json()["token"]
            answer = await http.post(f"/api/shows/{slug}/offers/{offer_id}/entries", headers={"Authorization": f"Bearer {token}"},
                                     json={"sku": skus[i % 3], "email": f"v{i}@example.com"})
            assert answer.status_code == 201, answer.text
            return str(answer.json()["entry_id"])
        ids: list[str] = []
        for at in range(0, ENTRANTS, 50):
            ids += await asyncio.gather(*(one(i) for i in range(at, at + 50)))
        return ids


def test_the_verify_page_recomputes_a_thousand_entry_draw(host: Host, server: Server, new_context: Any) -> None:
    product = host.product({"40": 5, "41": 3, "42": 4})
    slug = host.live_show(product=product)
    offer = host.call("POST", f"/api/shows/{slug}/offers", 201, json={
        "product_id": product["id"], "price_cents": 9900, "mode": "draw", "entries_open_at": now_ms(),
        "entries_close_at": now_ms() + 3_600_000})
    skus = [v["sku"] for v in product["variants"]]
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API runs a loop on this thread
        ids = pool.submit(asyncio.run, enter_all(server.url, slug, offer["id"], skus)).result()
    host.call("POST", f"/api/shows/{slug}/offers/{offer['id']}/entries/{ids[9]}/void", 200, json={"reason": "bot"})
    host.call("POST", f"/api/shows/{slug}/offers/{offer['id']}/draw", 200)
    audit = host.call("GET", f"/api/shows/{slug}/offers/{offer['id']}/audit", 200)
    winner = audit["winners"][0]["entry_id"]

    page = new_context(1000, 900).new_page()
    page.goto(f"/offers/{offer['id']}/verify?entry={winner}")
    verdict = page.locator("#verdict")
    expect()(verdict).to_have_attribute("data-state", "verified", timeout=20_000)
    expect()(verdict).to_have_text("Verified: this draw is exactly what its published commitment, entries and seed produce.")
    expect()(page.locator("#checks li.ok")).to_have_count(7)  # commitment, hash, seed, ranks, 3 sizes
    expect()(page.locator("#found")).to_contain_text(f"Entry {winner}")
    expect()(page.locator("#found")).to_contain_text("won")
    page.fill("#entry", ids[9])
    page.click("text=Find my entry")
    expect()(page.locator("#found")).to_have_text("Excluded before the draw (bot).")

    # One entry changed after the close: the page says where it differs.
    def tampered(route: Any) -> None:
        changed = json.loads(route.fetch().text())
        changed["entries"][500]["entry_id"] = "de_changed_after"
        route.fulfill(status=200, content_type="application/json", body=json.dumps(changed))
    page.route("**/audit", tampered)
    page.reload()
    expect()(verdict).to_have_attribute("data-state", "differs", timeout=20_000)
    expect()(verdict).to_contain_text("the entries do not hash to the published entries hash")
    expect()(page.locator("#checks li.bad").first).to_contain_text("entries hash")
