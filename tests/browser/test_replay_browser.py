"""The shoppable replay in Debian's Chromium: a show is recorded from a real aiortc publisher over
WHIP (loopback only), the host pins products at known moments and ends the show; /s/{slug} then
plays the recording and the card follows the video's clock, when playing and after seeking."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.viewer_support import fill_address, fill_bag_address, open_viewer
from tests.support import LivedropProcess, host_token, livedrop_env

CHROMIUM = Path("/usr/bin/chromium")
EMAIL = f"replay-host-{uuid.uuid4().hex[:8]}@example.com"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"]
TOLERANCE_S = 1.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LivedropProcess, str]]:
    env = livedrop_env(tmp_path_factory.mktemp("replay-browser"), LIVEDROP_MEDIA_HOST_ADDRESSES="127.0.0.1",
                       LIVEDROP_MEDIA_REMOTE_ADDRESSES="127.0.0.1",
                       LIVEDROP_MEDIA_URL=None, LIVEDROP_BUYERS_PER_IP_PER_MINUTE="100000")
    token = host_token(env, EMAIL, "replay tests password")
    with LivedropProcess(["serve", "--host", "127.0.0.1"], env) as process:
        yield process, token


async def record_show(url: str, token: str, *, bag: bool = False) -> tuple[str, dict[str, dict], dict[str, float]]:
    """A live show on camera: pins A at ~1 s, B at ~3 s, unpins at ~5 s, ends at ~6.5 s. Returns the
    slug, the products and when (seconds after the publisher was accepted) each change was made.
    With ``bag``: a cap C, never pinned, is in the show's bag (docs/bag.md)."""
    from tests.media.peers import Publisher, wait_for_state  # noqa: PLC0415 - aiortc only where needed

    auth = {"Authorization": f"Bearer {token}"}
    slug = f"replay-{uuid.uuid4().hex[:6]}"
    async with asyncio.timeout(90), httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as http:
        products = {}
        for name in ("A", "B"):
            made = await http.post("/api/products", json={
                "title": f"Replay shoe {name}", "price_cents": 15000, "currency": "USD",
                "variants": [{"sku": f"RP-{name}-{uuid.uuid4().hex[:6]}", "label": "42", "stock": 3}]})
            assert made.status_code == 201, made.text
            products[name] = made.json()
        assert (await http.post("/api/shows", json={"title": "Replay night", "slug": slug})).status_code == 201
        assert (await http.post(f"/api/shows/{slug}/start")).status_code == 200
        if bag:
            made = await http.post("/api/products", json={
                "title": "Replay cap C", "price_cents": 2500, "currency": "USD",
                "variants": [{"sku": f"RP-C-{uuid.uuid4().hex[:6]}", "label": "One size", "stock": 2}]})
            assert made.status_code == 201, made.text
            products["C"] = made.json()
            put = await http.put(f"/api/shows/{slug}/bag", json={"product_ids": [products["C"]["id"]]})
            assert put.status_code == 200, put.text
        publisher = Publisher(http, slug, width=320, height=180, fps=15)
        at: dict[str, float] = {}
        try:
            assert (await publisher.start({})).status_code == 201
            t0 = time.monotonic()
            await wait_for_state(publisher.pc, {"connected"}, 20)

            async def when(name: str, seconds: float, call) -> None:  # type: ignore[no-untyped-def]
                await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))
                at[name] = time.monotonic() - t0
                response = await call()
                assert response.status_code in (200, 201, 204), response.text

            await when("A", 1.0, lambda: http.put(f"/api/shows/{slug}/pin", json={"product_id": products["A"]["id"]}))
            await when("offer", 2.0, lambda: http.post(f"/api/shows/{slug}/offers", json={
                "product_id": products["A"]["id"], "price_cents": 9900, "duration_s": 600}))
            await when("B", 3.0, lambda: http.put(f"/api/shows/{slug}/pin", json={"product_id": products["B"]["id"]}))
            await when("unpin", 5.0, lambda: http.delete(f"/api/shows/{slug}/pin"))
            await when("end", 6.5, lambda: http.post(f"/api/shows/{slug}/end"))
            await wait_for_state(publisher.pc, {"closed", "failed"}, 15)
        finally:
            await publisher.close()
    return slug, products, at


def test_replay_follows_the_video_when_playing_and_seeking(replay_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, token = replay_server
    slug, products, at = asyncio.run(record_show(server.url, token))
    a, b = str(products["A"]["id"]), str(products["B"]["id"])

    replay = httpx.get(f"{server.url}/api/shows/{slug}/replay", timeout=10).json()
    offsets = {(e["type"], e.get("product_id")): e["media_ms"] / 1000 for e in replay["events"] if e["type"] != "offer"}
    pin_a, pin_b = offsets[("pin", products["A"]["id"])], offsets[("pin", products["B"]["id"])]
    unpin = offsets[("unpin", products["B"]["id"])]
    # media_ms is the moment the host acted, measured from the stream's start
    for expected, got in ((at["A"], pin_a), (at["B"], pin_b), (at["unpin"], unpin)):
        assert abs(expected - got) <= TOLERANCE_S, (expected, got)
    ranged = httpx.get(f"{server.url}{replay['recording']['url']}", headers={"Range": "bytes=0-99"}, timeout=10)
    assert ranged.status_code == 206 and len(ranged.content) == 100 and ranged.headers["content-type"] == "video/webm"

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server.url)
            context.set_default_timeout(20_000)
            problems: list[str] = []
            page = open_viewer(context, slug, problems)
            root = page.locator("#replay")
            expect(root).to_be_visible()
            page.wait_for_function("() => document.querySelector('#replay-video').readyState >= 1")
            duration = page.evaluate("document.querySelector('#replay-video').duration")
            assert 5.5 <= duration <= 9, duration  # a finite duration: the muxer wrote it when the show ended
            expect(root).to_have_attribute("data-pinned", "")

            # play from the start: log the video's time whenever the card changes product
            page.evaluate("""() => {
              const v = document.querySelector('#replay-video'), r = document.querySelector('#replay');
              window.changes = [];
              new MutationObserver(() => window.changes.push([r.dataset.pinned, v.currentTime, r.dataset.offer]))
                .observe(r, {attributes: true, attributeFilter: ['data-pinned']});
              v.muted = true; return v.play();
            }""")
            page.wait_for_function("() => document.querySelector('#replay-video').ended", timeout=30_000)
            changes = page.evaluate("window.changes")
            seen = {pinned: t for pinned, t, _ in changes}
            assert set(seen) == {a, b, ""}, changes
            assert abs(next(t for pid, t, _ in changes if pid == a) - pin_a) <= TOLERANCE_S, changes
            assert abs(next(t for pid, t, _ in changes if pid == b) - pin_b) <= TOLERANCE_S, changes
            assert abs(next(t for pid, t, _ in changes if pid == "" ) - unpin) <= TOLERANCE_S, changes
            expect(root).to_have_attribute("data-pinned", "")
            expect(page.locator("#card")).to_be_hidden()

            def seek(seconds: float) -> None:
                page.evaluate(f"() => {{ const v = document.querySelector('#replay-video'); v.pause(); v.currentTime = {seconds}; }}")
                page.wait_for_function(f"() => {{ const v = document.querySelector('#replay-video'); "
                                       f"return !v.seeking && Math.abs(v.currentTime - {seconds}) < 0.5 }}")

            # seeking back shows what was pinned at that moment, and un-pins what came later
            seek((pin_b + unpin) / 2)
            expect(root).to_have_attribute("data-pinned", b)
            expect(page.locator("#product-title")).to_have_text("Replay shoe B")
            seek((pin_a + pin_b) / 2 + 0.3)
            expect(root).to_have_attribute("data-pinned", a)
            expect(page.locator("#product-title")).to_have_text("Replay shoe A")
            # the offer's moment is shown, and the card sells at list price (the offer is over)
            expect(page.locator("#replay-offer")).to_be_visible()
            expect(page.locator("#price-now")).to_contain_text("150")
            seek(max(0.0, pin_a - 0.8))
            expect(root).to_have_attribute("data-pinned", "")
            expect(page.locator("#card")).to_be_hidden()
            seek(unpin + 0.5)
            expect(root).to_have_attribute("data-pinned", "")
            expect(page.locator("#replay-viewers")).to_have_text("1")
            page.screenshot(path=str(tmp_path / "replay.png"))
            assert not problems, problems
        finally:
            browser.close()


def test_the_replay_sells_in_the_page_by_touch(replay_server) -> None:  # type: ignore[no-untyped-def]
    """The hold route sells a recorded show's products at list price after the end (201); the page
    must too: Buy, not "no longer on sale here" (issue 19). On a phone, by touch."""
    server, token = replay_server
    slug, products, at = asyncio.run(record_show(server.url, token))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=server.url, has_touch=True, is_mobile=True)
            context.set_default_timeout(20_000)
            page = open_viewer(context, slug)
            page.wait_for_function("() => document.querySelector('#replay-video').readyState >= 1")
            seconds = (at["B"] + at["unpin"]) / 2
            page.evaluate(f"() => {{ const v = document.querySelector('#replay-video'); v.pause(); v.currentTime = {seconds}; }}")
            expect(page.locator("#replay")).to_have_attribute("data-pinned", str(products["B"]["id"]))
            expect(page.locator("#card-message-text")).not_to_contain_text("no longer on sale")
            page.locator("#chips button.chip").first.tap()
            buy = page.locator("#buy")
            expect(buy).to_contain_text("150.00")
            buy.tap()
            expect(page.locator("#checkout")).to_be_visible()
            fill_address(page)
            page.fill("#co-card", "4242 4242 4242 4242")
            page.locator("#checkout-pay").tap()
            expect(page.locator("#confirmation")).to_be_visible()
            expect(page.locator("#order-summary")).to_contain_text("Replay shoe B")
            expect(page.locator("#order-summary")).to_contain_text("150.00")
        finally:
            browser.close()


def test_the_bag_kept_at_the_end_sells_in_the_replay_by_touch(replay_server) -> None:  # type: ignore[no-untyped-def]
    """The host kept a cap (never pinned) in the show's bag: the replay page has the bag button, and
    the cap is held from the bag's sheet and paid in its checkout at list price (docs/bag.md)."""
    server, token = replay_server
    slug, products, at = asyncio.run(record_show(server.url, token, bag=True))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=server.url, has_touch=True, is_mobile=True)
            context.set_default_timeout(20_000)
            problems: list[str] = []
            page = open_viewer(context, slug, problems)
            page.wait_for_function("() => document.querySelector('#replay-video').readyState >= 1")
            expect(page.locator("#bag-count")).to_have_text("1")
            page.locator("#bag-button").tap()
            items = page.locator("#bag-list .bag-item")
            expect(items).to_have_count(1)
            expect(items.nth(0)).to_contain_text("Replay cap C")
            items.nth(0).locator(".bag-add").tap()
            expect(page.locator("#bag-held .bag-hold")).to_have_count(1)
            page.locator("#bag-checkout").tap()
            fill_bag_address(page)
            page.fill("#bag-card", "4242 4242 4242 4242")
            page.locator("#bag-pay").tap()
            expect(page.locator("#bag-done")).to_contain_text("Paid!")
            assert not problems, problems
        finally:
            browser.close()
    auth = {"Authorization": f"Bearer {token}"}
    orders = httpx.get(f"{server.url}/api/shows/{slug}/orders", headers=auth, timeout=10).json()["orders"]
    assert [(o["status"], o["total_cents"]) for o in orders] == [("paid", 2500)], orders
