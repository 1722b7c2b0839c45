"""The viewer page on every phone, and the panel after the show (issue 19's defects), in Debian's
Chromium driven by touch: Buy and the hold bar reachable from 320x568 up in both orientations, the
checkout sheet's Pay and title in sight, chat that keeps a refused line, the ended and scheduled
pages, the skip link, no WHEP polling without a stream, share; the panel's controls after End, an
ended offer's unsold units, conversion, the camera beside the figures, toasts, the QR code; axe-core
on the live page, the open checkout, the ended page and the panel. Screenshots of each state at
each size go to artifacts/phones/."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import axe
from .conftest import HOST_EMAIL, Host, Server
from .viewer_support import fill_address

pytestmark = pytest.mark.browser

SIZES = [(320, 568), (390, 844), (844, 390), (1440, 900)]
PHONES = SIZES[:3]
TWELVE_SIZES = {f"EU {n} · US {n - 33}": 50 for n in range(36, 48)}
CARD_DECLINED = "4000 0000 0000 0002"
CARD_PAYS = "4242 4242 4242 4242"
PASSWORD = "browser tests password"  # what tests/browser/conftest.py's server gives HOST_EMAIL

# Whether a control is reachable by touch: scrolled into view only through boxes a finger can
# scroll (overflow auto/scroll; the page's body does not scroll), inside the viewport, and on top
# (nothing covers its middle).
REACHABLE_JS = """(selector) => {
  const el = document.querySelector(selector);
  if (!el || el.hidden || !el.offsetParent) return { ok: false, why: "not shown" };
  el.scrollIntoView({ block: "nearest", inline: "nearest" });
  const r = el.getBoundingClientRect();
  const inView = r.width > 0 && r.height > 0 && r.top >= -0.5 && r.left >= -0.5 && r.bottom <= innerHeight + 0.5 && r.right <= innerWidth + 0.5;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  const onTop = Boolean(hit) && (hit === el || el.contains(hit));
  const locked = [];
  for (let box = el.parentElement; box; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (box.scrollTop > 0 && !["auto", "scroll"].includes(style.overflowY)) locked.push(`${box.tagName}#${box.id}.${box.className}`);
    if (box.scrollLeft > 0 && !["auto", "scroll"].includes(style.overflowX)) locked.push(`${box.tagName}#${box.id}.${box.className}`);
  }
  return { ok: inView && onTop && locked.length === 0, inView, onTop, locked,
           hit: hit ? `${hit.tagName}#${hit.id}.${hit.className}` : null, rect: [r.left, r.top, r.right, r.bottom] };
}"""

# The share of `a`'s area that `b` covers.
COVERED_JS = """([a, b]) => {
  const r = document.querySelector(a).getBoundingClientRect(), s = document.querySelector(b).getBoundingClientRect();
  const w = Math.max(0, Math.min(r.right, s.right) - Math.max(r.left, s.left));
  const h = Math.max(0, Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top));
  return (w * h) / Math.max(1, r.width * r.height);
}"""


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def shot(page: Any, artifacts: Path, state: str) -> None:
    folder = artifacts / "phones"
    folder.mkdir(exist_ok=True)
    size = page.viewport_size
    page.screenshot(path=str(folder / f"{state}-{size['width']}x{size['height']}.png"))


def reachable(page: Any, selector: str) -> None:
    page.evaluate("() => Promise.all(document.getAnimations().filter((a) => a.effect?.getTiming().iterations !== Infinity).map((a) => a.finished))")
    result = page.evaluate(REACHABLE_JS, selector)
    assert result["ok"], f"{selector} is not reachable by touch at {page.viewport_size}: {result}"


def phone(new_context: Any, width: int, height: int, **options: Any) -> Any:
    touch = width < 900 or height < 520
    return new_context(width, height, has_touch=touch, is_mobile=touch, **options).new_page()


# -- the viewer page on a phone ---------------------------------------------------------------------


def test_buy_and_the_hold_bar_by_touch_at_every_size(host: Host, new_context: Any, artifacts: Path) -> None:
    expect_ = expect()
    product = host.product(TWELVE_SIZES, title="Aurora Runner Limited Edition in Midnight Blue, twelve sizes")
    slug = host.live_show("Small phones, big sizes: the Saturday drop", product)
    host.offer(slug, product, 9900)  # the offer's line and countdown take their room in the card too
    for width, height in SIZES:
        page = phone(new_context, width, height)
        page.goto(f"/s/{slug}")
        expect_(page.locator("#chips button.chip")).to_have_count(12)
        reachable(page, "#buy")
        last = page.locator("#chips button.chip").last
        last.tap() if width < 900 or height < 520 else last.click()
        expect_(last).to_have_attribute("aria-pressed", "true")
        reachable(page, "#buy")
        if width == 844:  # sideways: chat and the card beside the video, not on the title or over the picture
            reachable(page, "#live-badge")
            reachable(page, "#show-title")
            covered = page.evaluate(COVERED_JS, [".stage", "#card"])
            assert covered < 0.35, f"the card covers {covered:.0%} of the video at 844x390"
        shot(page, artifacts, "live")
        if (width, height) == (390, 844):
            axe.check(page, "the live viewer page")
        page.locator("#buy").tap() if width < 900 or height < 520 else page.locator("#buy").click()
        sheet = page.locator("#checkout")
        expect_(sheet).to_be_visible()
        reachable(page, "#checkout-pay")
        reachable(page, "#checkout-title")
        if height > width:  # upright: the top of the video stays in sight above the sheet
            assert sheet.bounding_box()["y"] >= 0.15 * height, sheet.bounding_box()
        shot(page, artifacts, "checkout")
        if (width, height) == (390, 844):
            axe.check(page, "the open checkout sheet")
        page.click("#checkout-close")
        expect_(page.locator("#hold-bar")).to_be_visible()
        reachable(page, "#hold-checkout")
        reachable(page, "#hold-release")
        shot(page, artifacts, "hold")
        page.click("#hold-release")  # the unit goes back for the next size
        expect_(page.locator("#hold-bar")).to_be_hidden()
        page.context.close()


def test_the_checkout_sheet_keeps_its_title_and_forgets_a_declined_card(host: Host, new_context: Any) -> None:
    expect_ = expect()
    product = host.product({"42": 5})
    slug = host.live_show("Declined", product)
    page = phone(new_context, 390, 844)
    page.goto(f"/s/{slug}")
    page.locator("#chips button.chip").first.tap()
    page.locator("#buy").tap()
    expect_(page.locator("#checkout")).to_be_visible()
    fill_address(page)
    page.fill("#co-card", CARD_DECLINED)
    page.locator("#checkout-pay").tap()
    expect_(page.locator("#checkout-error")).to_contain_text("declined")
    reachable(page, "#checkout-error")
    title = page.evaluate("() => { const r = document.querySelector('#checkout-title').getBoundingClientRect();"
                          " const hit = document.elementFromPoint(r.left + 5, r.top + r.height / 2);"
                          " return hit && hit.id === 'checkout-title' && r.top >= 0 && r.bottom <= innerHeight; }")
    assert title, "after the error the sheet's title scrolled away"
    page.click("#checkout-close")
    page.click("#hold-release")
    expect_(page.locator("#hold-bar")).to_be_hidden()
    page.locator("#chips button.chip").first.tap()
    page.locator("#buy").tap()
    expect_(page.locator("#checkout")).to_be_visible()
    assert page.input_value("#co-card") == "", "the declined card number waited for the next checkout"
    assert page.input_value("#co-name") == "Kim Lee"  # the address is kept on purpose (never the card)


def test_chat_keeps_a_refused_line_and_clamps_long_ones(host: Host, new_context: Any) -> None:
    expect_ = expect()
    slug = host.live_show("Chatty", host.product({"42": 1}))
    page = phone(new_context, 390, 844)
    page.goto(f"/s/{slug}")
    chat_as = page.locator("#chat-as")
    expect_(chat_as).to_have_text(re.compile(r"^Chatting as viewer-[0-9a-z]{4}$"))
    guest = chat_as.inner_text().removeprefix("Chatting as ")
    field = page.locator("#chat-text")
    background = page.evaluate("() => getComputedStyle(document.querySelector('#chat-text')).backgroundColor")
    alpha = float(re.findall(r"[\d.]+", background)[3]) if background.startswith("rgba") else 1.0
    assert alpha >= 0.85, f"the chat input shows the picture through it: {background}"

    long_line = ("Does the EU 44 run small? " * 11)[:280]
    sent = [long_line] + [f"quick {n}" for n in range(4)]
    for text in sent:  # five lines: the most one buyer may send in 10 s
        field.fill(text)
        field.press("Enter")
        expect_(page.locator("#chat-log li.mine")).to_have_count(sent.index(text) + 1)
        expect_(field).to_have_value("")  # emptied once the server sent it back, not before
    expect_(page.locator("#chat-log li.mine .chat-name").first).to_have_text(guest)

    field.fill("one too many")
    field.press("Enter")
    expect_(page.locator("#chat-error")).to_contain_text("sending messages quickly")
    expect_(field).to_have_value("one too many")  # refused: still there to send again
    expect_(page.locator("#chat-error")).to_be_hidden(timeout=9_000)  # and the warning goes by itself

    line = page.locator("#chat-log li.clamped").first
    line_height = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('#chat-log li')).lineHeight)")
    closed = line.bounding_box()["height"]
    assert closed <= 2 * line_height + 12, f"a 280-character line takes {closed}px"
    line.tap()
    expect_(line).to_have_attribute("aria-expanded", "true")
    assert line.bounding_box()["height"] > closed + line_height


def test_scheduled_and_ended_pages_at_every_size(host: Host, new_context: Any, artifacts: Path) -> None:
    expect_ = expect()
    product = host.product({"40": 2, "41": 2})
    starts = int(time.time() * 1000) + 26 * 3600 * 1000
    slug = host.call("POST", "/api/shows", 201, json={"title": "Friday drop", "scheduled_at": starts})["slug"]
    host.pin(slug, product)
    for width, height in SIZES:
        page = phone(new_context, width, height)
        page.goto(f"/s/{slug}")
        expect_(page.locator("#show-state-text")).to_contain_text("Goes live")
        for selector in ("#remind-form", "#upcoming-share", "#card", "#share-button"):
            expect_(page.locator(selector)).to_be_visible()
        shot(page, artifacts, "scheduled")
        page.context.close()

    host.call("POST", f"/api/shows/{slug}/start", 200)
    host.call("POST", f"/api/shows/{slug}/end", 200)
    for width, height in SIZES:
        page = phone(new_context, width, height)
        page.goto(f"/s/{slug}")
        expect_(page.locator("#show-state-text")).to_have_text("This show has ended. Thanks for watching!")
        for selector in ("#viewer-count", "#chat-form", "#chat-as", "#buy"):
            expect_(page.locator(selector)).to_be_hidden()
        still = page.locator("#stream-still")
        if still.is_visible():
            overlap = page.evaluate(COVERED_JS, ["#show-state", "#stream-still"])
            assert overlap == 0, f"the ended notice overlaps the still at {width}x{height}"
        shot(page, artifacts, "ended")
        if (width, height) == (390, 844):
            axe.check(page, "the ended viewer page")
        page.context.close()


def test_the_skip_link_and_no_whep_polling_without_a_stream(host: Host, new_context: Any) -> None:
    slug = host.live_show("Keyboard", host.product({"42": 3}))
    page = new_context(390, 844).new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/whep/" in request.url else None)
    page.goto(f"/s/{slug}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip-to-buy"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "buy"  # two key presses, not 17 Tab stops
    page.wait_for_timeout(2_500)  # the old page asked GET /whep/{slug} at once and every 3-5 s
    assert asked == [], f"the page polled WHEP though the show says there is no stream: {asked}"


def test_share_uses_the_web_share_api_or_copies_the_link(host: Host, new_context: Any, server: Server) -> None:
    expect_ = expect()
    slug = host.live_show("Share me", host.product({"42": 3}))
    link = f"{server.url}/s/{slug}"
    sharing = phone(new_context, 390, 844)
    sharing.add_init_script("navigator.share = (data) => { window.shared = data; return Promise.resolve(); };")
    sharing.goto(f"/s/{slug}")
    sharing.locator("#share-button").tap()
    sharing.wait_for_function("() => window.shared !== undefined")
    assert sharing.evaluate("window.shared.url") == link

    copying = phone(new_context, 390, 844, permissions=["clipboard-read", "clipboard-write"])
    copying.add_init_script("delete Navigator.prototype.share;")
    copying.goto(f"/s/{slug}")
    copying.locator("#share-button").tap()
    expect_(copying.locator("#share-status")).to_contain_text("Link copied")
    assert copying.evaluate("navigator.clipboard.readText()") == link


# -- the panel --------------------------------------------------------------------------------------


def _buy(server: Server, slug: str, sku: str) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        token = {"Authorization": f"Bearer {http.post('/api/buyers', json={}).json()['token']}"}
        held = http.post(f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 1},
                         headers={**token, "Idempotency-Key": f"k-{time.monotonic_ns()}"})
        assert held.status_code == 201, held.text
        paid = http.post(f"/api/holds/{held.json()['hold_id']}/checkout", headers=token, json={
            "email": f"b{time.monotonic_ns()}@example.com", "name": "Kim Lee", "card_number": CARD_PAYS,
            "shipping": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US", "region": "IL"}})
        assert paid.status_code == 201, paid.text


def test_the_panel_after_the_show_and_its_figures(host: Host, new_context: Any, server: Server, artifacts: Path) -> None:
    expect_ = expect()
    shoe = host.product({"42": 5, "43": 5}, title="Court Classic")
    other = host.product({"9": 3}, title="Court Low")
    slug = host.live_show("Panel after the show", shoe)
    for _ in range(4):  # four viewers come and go: four unique viewers, never more than one at a time
        viewer = new_context(390, 844).new_page()
        viewer.goto(f"/s/{slug}")
        expect_(viewer.locator("#viewer-number")).to_have_text("1")
        viewer.context.close()

    page = new_context(1440, 900).new_page()
    page.goto("/host/login")
    page.get_by_label("Email").fill(HOST_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/host")
    # the schedule date box shows a whole date and time: as wide as the same input on its own
    clipped = page.evaluate("""() => {
      const field = document.querySelector('#show-when'), probe = document.createElement('input');
      probe.type = 'datetime-local'; probe.style.cssText = 'position:absolute;width:auto;min-width:0;visibility:hidden';
      document.body.append(probe); const need = probe.getBoundingClientRect().width; probe.remove();
      return [field.getBoundingClientRect().width, need]; }""")
    assert clipped[0] >= clipped[1] - 1, f"the schedule date box is {clipped[0]}px, its date and time need {clipped[1]}px"

    page.goto(f"/host/shows/{slug}")
    expect_(page.locator("#conn-state")).to_have_text("connected")
    offer = host.offer(slug, shoe, 9900, quantity=4)
    _buy(server, slug, shoe["variants"][0]["sku"])  # at the offer's price: 3 of 4 left
    expect_(page.locator(f"#offers li[data-offer-id='{offer['id']}'] [data-remaining-of]")).to_contain_text("3 of 4 left")
    page.locator(f"#offers li[data-offer-id='{offer['id']}']").get_by_role("button", name="End now").click()
    expect_(page.locator(f"#offers li[data-offer-id='{offer['id']}'] [data-remaining-of]")).to_contain_text("ended · 3 of 4 unsold")
    _buy(server, slug, shoe["variants"][1]["sku"])  # at list price: 2 buyers (through the API), 4 opened the page
    expect_(page.locator("#fig-units")).to_have_text("2")
    # 2 buyers over 4 unique viewers; it read "200%": 2 buyers over a peak of 1 (the panel itself)
    expect_(page.locator("#fig-conversion")).to_have_text("50%")

    figures, camera = page.locator("#figures-panel").bounding_box(), page.locator("#camera-panel").bounding_box()
    assert camera["y"] < figures["y"] + figures["height"] and camera["x"] >= figures["x"] + figures["width"], (figures, camera)
    qr = page.locator("#share-panel svg.qr-code")
    expect_(qr.locator("title")).to_have_text(re.compile(re.escape(f"/s/{slug}") + "$"))
    assert qr.locator("path").count() >= 2
    assert page.input_value("#share-url").endswith(f"/s/{slug}")

    for _ in range(5):  # five pins, five toasts: two stay, away from the lineup
        page.keyboard.press("n")
        page.wait_for_timeout(150)
    expect_(page.locator("#flash .alert")).to_have_count(2)
    assert page.evaluate(COVERED_JS, ["#lineup-panel", "#flash"]) == 0
    shot(page, artifacts, "panel-live")
    axe.check(page, "the panel of a live show")

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#end-show")
    expect_(page.locator("#show-status")).to_have_text("ended")
    pins: list[str] = []
    page.on("request", lambda request: pins.append(request.url) if request.url.endswith("/pin") else None)
    page.keyboard.press("n")
    page.keyboard.press("r")
    for name in (f"Pin {other['title']}", f"Offer… {other['title']}"):
        expect_(page.get_by_role("button", name=name)).to_be_disabled()
    expect_(page.locator("#offer-start")).to_be_disabled()
    expect_(page.locator("#shortcuts")).to_be_hidden()
    page.wait_for_timeout(300)
    assert pins == [], pins
    shot(page, artifacts, "panel-ended")
