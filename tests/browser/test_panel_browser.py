"""The host control panel in a real browser (Debian's Chromium through Playwright) against a real
livedrop server on loopback: sign in, products by form and by CSV, a show started, pinned and put
on offer, a sale by a viewer that the figures, the chart and the CSV show within two seconds; the
show screen at 1440x900 without anything overflowing (screenshots in artifacts/); and its live
socket resuming like the viewer's (a silent connection noticed by its ping, a closed one back when
the browser is online, both with ?after=)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import LivedropProcess, host_token, livedrop_env
from tests.web.buying import CARD_PAYS

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
EMAIL = "ana@example.com"
PASSWORD = "correct horse battery"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[test]')")
expect = sync_api.expect


# -- a server, a host, a browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivedropProcess]:
    data_dir = tmp_path_factory.mktemp("panel-browser")
    env = livedrop_env(data_dir)
    token = host_token(env, EMAIL, PASSWORD)
    process = LivedropProcess(["serve"], env).start()
    process.host_token = token  # type: ignore[attr-defined]
    yield process
    process.stop()


@pytest.fixture(scope="module")
def panel_browser() -> Iterator["sync_api.Browser"]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def panel_page(panel_browser: "sync_api.Browser", panel_server: LivedropProcess) -> Iterator["sync_api.Page"]:
    context = panel_browser.new_context(viewport={"width": 1440, "height": 900}, base_url=panel_server.url, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # Refused API calls (the bad CSV's 422) are logged by Chromium as failed loads; they are expected.
    page.on("console", lambda msg: problems.append(f"console: {msg.text}")
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.problems = problems  # type: ignore[attr-defined]
    yield page
    context.close()


def sign_in(page: "sync_api.Page") -> None:
    page.goto("/host")
    page.wait_for_url("**/host/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/host")


def buy(server: LivedropProcess, slug: str, sku: str, name: str = "Kim Lee") -> dict:
    """A viewer buys one unit through the HTTP API, as the viewer page does."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        buyer = http.post("/api/buyers", json={"name": name.split()[0]})
        assert buyer.status_code == 201, buyer.text
        token = {"Authorization": f"Bearer {buyer.json()['token']}"}
        held = http.post(f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 1},
                         headers={**token, "Idempotency-Key": uuid.uuid4().hex})
        assert held.status_code == 201, held.text
        paid = http.post(f"/api/holds/{held.json()['hold_id']}/checkout", headers=token, json={
            "email": f"{uuid.uuid4().hex[:8]}@example.com", "name": name, "card_number": CARD_PAYS,
            "shipping": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US", "region": "IL"}})
        assert paid.status_code == 201, paid.text
        return paid.json()


# -- the show, start to sale -------------------------------------------------------------------------

PRODUCTS_CSV = b"""title,sku,size,stock,price,currency,image_url,description
Court Classic,CRT-9,US 9,4,89.00,USD,/static/img/sneaker-2.svg,Leather court shoe
Court Classic,CRT-10,US 10,2,89.00,USD,/static/img/sneaker-2.svg,
"""
BAD_CSV = b"""title,sku,size,stock,price,currency
Trail Blazer,TRL-1,S,3,59.00,USD
Trail Blazer,TRL-2,M,-1,59.00,USD
"""


def test_a_host_runs_a_show_and_sees_the_sale(panel_page: "sync_api.Page", panel_server: LivedropProcess) -> None:
    server, page = panel_server, panel_page
    sign_in(page)

    # A product by the form, with two sizes.
    form = page.locator("#product-form")
    form.get_by_label("Title").fill("Aurora Runner")
    form.get_by_label("Price").fill("129.00")
    form.get_by_label("Image URL").fill("/static/img/sneaker-1.svg")
    rows = form.locator("#size-rows tr")
    rows.nth(0).get_by_label("SKU").fill("AUR-42")
    rows.nth(0).get_by_label("Size", exact=True).fill("EU 42")
    rows.nth(0).get_by_label("Stock").fill("5")
    form.get_by_role("button", name="+ Add size").click()
    rows.nth(1).get_by_label("SKU").fill("AUR-43")
    rows.nth(1).get_by_label("Size", exact=True).fill("EU 43")
    rows.nth(1).get_by_label("Stock").fill("3")
    form.get_by_role("button", name="Create product").click()
    expect(page.locator("#product-list")).to_contain_text("Aurora Runner")
    expect(page.locator("#product-list")).to_contain_text("EU 43 · AUR-43 · 3")
    # Restock: two more units of EU 43.
    aurora = page.locator("#product-list > li", has_text="Aurora Runner")
    aurora.get_by_role("button", name="Edit / restock").click()
    aurora.get_by_label("Units to add to EU 43").fill("2")
    aurora.get_by_role("button", name="Save").click()
    expect(aurora).to_contain_text("EU 43 · AUR-43 · 5")
    expect(aurora.locator(".edit-box")).to_have_count(0)

    # A bad CSV: line 3 is reported and nothing is imported; then a good one.
    page.locator("#csv-import summary").click()
    page.set_input_files("#csv-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": BAD_CSV}])
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#csv-errors li")).to_have_text(["Line 3 · stock: must be 0 or more (it is -1)"])
    expect(page.locator("#csv-result")).to_contain_text("Nothing was imported")
    expect(page.locator("#product-list")).not_to_contain_text("Trail Blazer")
    page.set_input_files("#csv-file", files=[{"name": "products.csv", "mimeType": "text/csv", "buffer": PRODUCTS_CSV}])
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#csv-result")).to_contain_text("Imported 1 product")
    expect(page.locator("#product-list > li")).to_have_count(2)
    expect(page.locator("#product-list")).to_contain_text("Court Classic")

    # A show: created, opened, started.
    page.locator("#show-form").get_by_label("Title").fill("Friday drop")
    page.get_by_role("button", name="Create show").click()
    show_item = page.locator("#show-list li[data-slug='friday-drop']")
    expect(show_item).to_contain_text("Friday drop")
    expect(show_item.locator("input")).to_have_value('<iframe src="' + server.url + '/s/friday-drop" title="Friday drop (live shopping)" '
                                                      'width="420" height="760" style="border:0;max-width:100%" '
                                                      'allow="autoplay; fullscreen; clipboard-write" loading="lazy"></iframe>')
    show_item.get_by_role("link", name="Open show screen").click()
    page.wait_for_url("**/host/shows/friday-drop")
    expect(page.locator("#conn-state")).to_have_text("connected")
    page.get_by_role("button", name="Go live").click()
    expect(page.locator("#show-status")).to_have_text("live")
    expect(page.get_by_role("link", name="Viewer page ↗")).to_have_attribute("href", "/s/friday-drop")

    # Pin by click, then the "pin next" shortcut walks the lineup (and wraps around).
    lineup = page.locator("#lineup > li")
    expect(lineup).to_have_count(2)
    page.get_by_role("button", name="Pin Aurora Runner").click()
    expect(page.locator("#lineup > li.pinned")).to_contain_text("Aurora Runner")
    expect(page.locator("#shortcuts")).to_contain_text("pin next product")
    page.locator("body").press("n")
    expect(page.locator("#lineup > li.pinned")).to_contain_text("Court Classic")
    page.locator("body").press("n")
    expect(page.locator("#lineup > li.pinned")).to_contain_text("Aurora Runner")
    expect(page.get_by_role("button", name="Unpin Aurora Runner")).to_have_attribute("aria-pressed", "true")

    # An offer: composed, live with its countdown, ended; the shortcut starts it again.
    page.get_by_label("Product").select_option(label="Aurora Runner ($129.00)")
    page.locator("#offer-price").fill("99.00")
    page.get_by_label("Duration (s)").fill("120")
    page.locator("#offer-quantity").fill("3")
    page.get_by_label("Per customer").fill("1")
    page.get_by_label("Hold time (s)").fill("300")
    page.get_by_role("button", name="Start offer").click()
    live_offer = page.locator("#offers li[data-state='live']")
    expect(live_offer).to_have_count(1)
    expect(live_offer.locator(".countdown")).to_have_text(_re(r"^[12]:\d\d$"))
    expect(live_offer).to_contain_text("$99.00")
    live_offer.get_by_role("button", name="End now").click()
    expect(page.locator("#offers li[data-state='live']")).to_have_count(0)
    page.locator("body").press("r")
    expect(page.locator("#offers li[data-state='live']")).to_have_count(1)
    expect(page.locator("#offers li[data-state='live']")).to_contain_text("3 of 3 left")

    # A viewer buys; the host's figures, chart and orders show it within two seconds.
    expect(page.locator("#fig-units")).to_have_text("0")
    order = buy(server, "friday-drop", "AUR-42")
    bought_at = time.monotonic()
    left = lambda: max(100, 2000 - (time.monotonic() - bought_at) * 1000)  # noqa: E731
    expect(page.locator("#fig-units")).to_have_text("1", timeout=left())
    expect(page.locator("#sales-chart")).to_have_attribute("data-units", "1", timeout=left())
    expect(page.locator("#fig-revenue")).to_have_text("$99.00", timeout=left())
    expect(page.locator("#orders")).to_contain_text(order["number"], timeout=left())
    assert time.monotonic() - bought_at <= 2.0
    expect(page.locator("#sales-chart rect.bar")).to_have_count(1)
    expect(page.locator("#sizes tr[data-sku='AUR-42']")).to_contain_text("20%")  # 1 of 5 sold
    expect(page.locator("#lineup li.pinned .chip[data-sku='AUR-42']")).to_have_text("EU 42: 4")
    expect(page.locator("#offers li[data-state='live']")).to_contain_text("2 of 3 left")

    # The orders CSV has the order.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text()
    assert download.value.suggested_filename == "friday-drop-orders.csv"
    assert order["number"] in text and "AUR-42" in text and "9900" in text

    # Ending the show from the panel.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End show").click()
    expect(page.locator("#show-status")).to_have_text("ended")
    assert page.problems == []  # type: ignore[attr-defined]


def _re(pattern: str):  # type: ignore[no-untyped-def]
    import re

    return re.compile(pattern)


# -- the show screen at 1440x900 -----------------------------------------------------------------------


def _api(server: LivedropProcess, method: str, path: str, body: dict | None = None) -> dict | None:
    answer = httpx.request(method, server.url + path, json=body, timeout=10,
                           headers={"Authorization": f"Bearer {server.host_token}"})  # type: ignore[attr-defined]
    assert answer.status_code < 300, answer.text
    return answer.json() if answer.content else None


def _chat(server: LivedropProcess, slug: str, text: str) -> None:
    from websockets.sync.client import connect

    with httpx.Client(base_url=server.url) as http:
        token = http.post("/api/buyers", json={"name": "Lou"}).json()["token"]
    with connect(f"ws://127.0.0.1:{server.port}/ws/shows/{slug}?token={token}") as ws:
        ws.recv(timeout=10)  # the snapshot
        ws.send(json.dumps({"type": "chat", "text": text}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=10))
            if frame.get("type") == "chat" and frame.get("text") == text:
                return
            assert frame.get("type") != "error", frame
    raise AssertionError("the chat message never came back")


def _no_overflow(page: "sync_api.Page", panels: list[str]) -> None:
    sizes = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth, innerHeight]")
    assert sizes[0] <= sizes[1], f"the page scrolls sideways: {sizes[0]} > {sizes[1]}"
    for selector in panels:
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= sizes[1] + 0.5, (selector, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= sizes[2] + 0.5, (selector, box)


def test_the_panel_fits_1440x900(panel_page: "sync_api.Page", panel_server: LivedropProcess) -> None:
    server, page = panel_server, panel_page
    ARTIFACTS.mkdir(exist_ok=True)
    long_title = "Aurora Runner Limited Edition with an unusually long product title for the lineup"
    product = _api(server, "POST", "/api/products", {
        "title": long_title, "price_cents": 12900, "currency": "USD", "image_url": "/static/img/sneaker-3.svg",
        "variants": [{"sku": f"LAY-{n}", "label": f"EU {n}", "stock": 6} for n in range(38, 47)]})
    _api(server, "POST", "/api/products", {
        "title": "Court Low", "price_cents": 8900, "currency": "USD", "image_url": "/static/img/sneaker-2.svg",
        "variants": [{"sku": "LOW-9", "label": "US 9", "stock": 4}]})
    show = _api(server, "POST", "/api/shows", {"title": "Layout check: the Saturday sneaker drop, live from the studio"})
    slug = show["slug"]  # type: ignore[index]
    _api(server, "POST", f"/api/shows/{slug}/start")
    _api(server, "PUT", f"/api/shows/{slug}/pin", {"product_id": product["id"]})  # type: ignore[index]
    _api(server, "POST", f"/api/shows/{slug}/offers", {"product_id": product["id"], "price_cents": 9900, "duration_s": 600, "quantity": 20})  # type: ignore[index]
    buy(server, slug, "LAY-42", "Sam Ortiz")
    buy(server, slug, "LAY-43", "Ira Chen")
    _chat(server, slug, "Is size 44 still there? " + "x" * 60)

    sign_in(page)
    expect(page.locator("#show-list > li")).not_to_have_count(0)
    _no_overflow(page, [".topbar", "#shows-panel h2", "#products-panel h2"])
    page.screenshot(path=str(ARTIFACTS / "panel-home-1440x900.png"))

    page.goto(f"/host/shows/{slug}")
    expect(page.locator("#fig-units")).to_have_text("2")
    expect(page.locator("#orders tr")).to_have_count(2)
    expect(page.locator("#chat li[data-message-id]")).to_have_count(1)
    expect(page.locator("#offers li[data-state='live'] .countdown")).to_have_text(_re(r"^\d+:\d\d$"))
    _no_overflow(page, [".show-bar", "#lineup-panel", "#figures-panel", "#offer-panel", "#sizes-panel", "#chat-panel",
                        "#fig-conversion", "#sales-chart", "#offer-start", "#end-show"])
    page.screenshot(path=str(ARTIFACTS / "panel-show-1440x900.png"))
    assert (ARTIFACTS / "panel-show-1440x900.png").stat().st_size > 10_000

    # The chat tools work from the same screen.
    message = page.locator("#chat li[data-message-id]")
    message.get_by_role("button", name="Mute Lou").click()
    expect(message).to_contain_text("muted")
    page.locator("#chat li[data-message-id]").get_by_role("button", name="Delete message from Lou").click()
    expect(page.locator("#chat li[data-message-id]")).to_have_count(0)
    assert page.problems == []  # type: ignore[attr-defined]


# -- the show screen's live socket: the viewer's resume ----------------------------------------------


class _Link:
    """One routed WebSocket of the page, forwarding frames both ways until it is made silent."""

    def __init__(self, ws: "sync_api.WebSocketRoute") -> None:
        self.ws = ws
        self.silent = False
        server = ws.connect_to_server()
        ws.on_message(lambda message: None if self.silent else server.send(message))
        server.on_message(lambda message: None if self.silent else ws.send(message))


def test_the_show_screen_resumes_like_the_viewer(panel_page: "sync_api.Page", panel_server: LivedropProcess) -> None:
    """The show screen's socket is common/live.js, as the viewer page's is. A connection that goes
    silent without closing (the network dropped it; the browser cannot tell) is noticed by its
    unanswered ping, and the next one resumes with ?after=<last seq>: what the show did meanwhile
    appears. A socket that closed while the browser was offline comes back the moment it is online,
    not at the end of a backoff. The page's timers run on Playwright's clock, so the test waits no
    15 s for a ping; with timers paused, only the online event can bring the socket back."""
    server, page = panel_server, panel_page
    product = _api(server, "POST", "/api/products", {
        "title": "Resume Runner", "price_cents": 12900, "currency": "USD",
        "variants": [{"sku": f"RES-{uuid.uuid4().hex[:6]}", "label": "EU 42", "stock": 5}]})
    slug = _api(server, "POST", "/api/shows", {"title": "Resume check"})["slug"]  # type: ignore[index]
    _api(server, "POST", f"/api/shows/{slug}/start")

    urls: list[str] = []
    links: list[_Link] = []
    refuse = {"on": False}

    def route(ws: "sync_api.WebSocketRoute") -> None:
        urls.append(ws.url)
        if refuse["on"]:
            ws.close(code=4000, reason="test: network down")
            return
        links.append(_Link(ws))

    sign_in(page)
    page.clock.install()
    page.route_web_socket(_re(r".*/ws/shows/.*"), route)
    page.goto(f"/host/shows/{slug}")
    expect(page.locator("#conn-state")).to_have_text("connected")
    expect(page.locator("#chat .empty")).to_have_text("No messages yet.")  # drawn from the snapshot: it has arrived
    expect(page.locator("#lineup > li", has_text="Resume Runner")).to_have_count(1)
    expect(page.locator("#lineup > li.pinned")).to_have_count(0)
    seq = _api(server, "GET", f"/api/shows/{slug}")["seq"]  # type: ignore[index]
    assert len(urls) == 1 and "after=" not in urls[0], urls  # a new page starts from a snapshot

    # Silence: nothing passes either way, and nothing closes.
    links[-1].silent = True
    _api(server, "PUT", f"/api/shows/{slug}/pin", {"product_id": product["id"]})  # type: ignore[index]
    _api(server, "POST", f"/api/shows/{slug}/offers", {"product_id": product["id"], "price_cents": 9900, "duration_s": 600})  # type: ignore[index]
    _chat(server, slug, "Anyone there?")
    page.wait_for_timeout(500)
    expect(page.locator("#lineup > li.pinned")).to_have_count(0)
    expect(page.locator("#conn-state")).to_have_text("connected")  # the browser cannot tell

    page.clock.fast_forward(15_000)  # the next ping goes out, and nothing answers it
    page.clock.fast_forward(10_000)  # no pong in time: that connection is dead
    expect(page.locator("#lineup > li.pinned")).to_contain_text("Resume Runner")
    expect(page.locator("#offers li[data-state='live']")).to_contain_text("$99.00")
    expect(page.locator("#chat li[data-message-id]")).to_contain_text("Anyone there?")
    expect(page.locator("#conn-state")).to_have_text("connected")
    assert len(urls) == 2 and re.search(rf"after={seq}(&|$)", urls[1]), (seq, urls)

    # Offline: the socket closes, and while timers are paused no backoff can bring it back.
    seq = _api(server, "GET", f"/api/shows/{slug}")["seq"]  # type: ignore[index]
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    refuse["on"] = True
    page.context.set_offline(True)
    links[-1].ws.close(code=1001, reason="test: the network went away")
    expect(page.locator("#conn-state")).to_have_text("reconnecting…")
    _api(server, "DELETE", f"/api/shows/{slug}/pin")
    _chat(server, slug, "Back yet?")
    refuse["on"] = False
    page.wait_for_timeout(1000)
    expect(page.locator("#conn-state")).to_have_text("reconnecting…")
    assert len(urls) == 2, urls

    page.context.set_offline(False)  # the browser's "online" event: reconnect now
    expect(page.locator("#conn-state")).to_have_text("connected")
    expect(page.locator("#lineup > li.pinned")).to_have_count(0)
    expect(page.locator("#chat li[data-message-id]").last).to_contain_text("Back yet?")
    assert len(urls) == 3 and re.search(rf"after={seq}(&|$)", urls[2]), (seq, urls)
    page.clock.resume()
    assert page.problems == []  # type: ignore[attr-defined]
