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


async def record_show(url: str, token: str) -> tuple[str, dict[str, dict], dict[str, float]]:
    """A live show on camera: pins A at ~1 s, B at ~3 s, unpins at ~5 s, ends at ~6.5 s. Returns the
    slug, the products and when (seconds after the publisher was accepted) each change was made."""
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
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(f"/s/{slug}")
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
