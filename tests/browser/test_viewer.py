"""The viewer page in a real browser: the card and countdown arrive live, buying, checkout and the
receipt, stock moving between two viewers, a hold surviving a reload, a dropped socket resuming
with ?after=, layouts at phone and desktop sizes, and unsafe text staying text."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Host, Server
from .viewer_support import fill_address

pytestmark = pytest.mark.browser

CARD_PAYS = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"

# Every visible element inside the viewport horizontally (and vertically, outside scrolling
# boxes; an upright phone's sizes are one row that swipes sideways); the page itself never scrolls
# sideways.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth, height = document.documentElement.clientHeight;
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const scrolls = el.closest(".chat-log, .reaction-floats, dialog");
    const swipes = el.closest(".chips") && getComputedStyle(el.closest(".chips")).overflowX === "auto";
    if ((!swipes && (r.left < -1 || r.right > width + 1)) || (!scrolls && (r.top < -1 || r.bottom > height + 1))) {
      bad.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} [${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.right)},${Math.round(r.bottom)}]`);
    }
  }
  return {scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth, bad};
}"""


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def chip(page: Any, label: str) -> Any:
    return page.locator("#chips button.chip", has=page.locator(".chip-label", has_text=re.compile(f"^{re.escape(label)}$")))


def countdown_seconds(text: str) -> int:
    found = re.search(r"(\d+):(\d\d)$", text.strip())
    assert found, text
    return int(found.group(1)) * 60 + int(found.group(2))


def fill_checkout(page: Any, card: str) -> None:
    fill_address(page)
    page.fill("#co-card", card)


def assert_fits(page: Any) -> None:
    result = page.evaluate(OVERFLOW_JS)
    assert result["scrollWidth"] <= result["innerWidth"], result
    assert result["bad"] == [], result["bad"]


def test_buy_from_a_live_card_to_the_receipt(host: Host, new_context: Any) -> None:
    expect_ = expect()
    product = host.product({"40": 3, "41": 5})
    slug = host.live_show()
    page = new_context().new_page()
    page.goto(f"/s/{slug}")
    expect_(page.locator("#no-product")).to_be_visible()
    expect_(page.locator("#card")).to_be_hidden()
    assert any(c["name"] == "livedrop_buyer" and c["httpOnly"] for c in page.context.cookies())

    # The host pins, then starts an offer: both arrive without a reload.
    page.evaluate("window.__sameDocument = true")
    host.pin(slug, product)
    expect_(page.locator("#product-title")).to_have_text("Aurora Runner", timeout=3000)
    expect_(chip(page, "40")).to_contain_text("3 left")
    expect_(page.locator("#price-now")).to_have_text("$129.00")
    expect_(page.locator("#offer-line")).to_be_hidden()
    host.offer(slug, product, 9900, duration_s=600)
    expect_(page.locator("#offer-countdown")).to_have_text(re.compile(r"^ends in (10:00|9:[0-5]\d)$"), timeout=3000)
    expect_(page.locator("#price-now")).to_have_text("$99.00")
    expect_(page.locator("#price-was")).to_be_visible()
    expect_(page.locator("#price-was-amount")).to_have_text("$129.00")
    first = countdown_seconds(page.locator("#offer-countdown").inner_text())
    time.sleep(1.2)
    assert countdown_seconds(page.locator("#offer-countdown").inner_text()) < first, "the offer counts down"

    # Buy: without a size the button says what to do, then a size is held.
    page.click("#buy")
    expect_(page.locator("#card-message-text")).to_have_text("Pick a size first.")
    chip(page, "40").click()
    expect_(chip(page, "40")).to_have_attribute("aria-pressed", "true")
    page.click("#buy")
    dialog = page.locator("#checkout")
    expect_(dialog).to_be_visible()
    expect_(page.locator("#checkout-countdown")).to_have_text(re.compile(r"^(5:00|4:5\d)$"))
    expect_(page.locator("#hold-countdown")).to_have_text(re.compile(r"^(5:00|4:5\d)$"))
    expect_(page.locator("#checkout-total")).to_have_text("$99.00")
    expect_(chip(page, "40")).to_contain_text("2 left", timeout=3000)
    assert page.evaluate("window.__sameDocument") is True

    # A declined card keeps the hold; the test card that pays makes the order.
    fill_checkout(page, CARD_DECLINED)
    page.click("#checkout-pay")
    expect_(page.locator("#checkout-error")).to_contain_text("declined")
    expect_(dialog).to_be_visible()
    expect_(page.locator("#hold-countdown")).to_have_text(re.compile(r"^4:[0-5]\d$|^5:00$"))
    page.fill("#co-card", CARD_PAYS)
    page.click("#checkout-pay")
    expect_(page.locator("#confirmation")).to_be_visible()
    number = page.locator("#order-number").inner_text().strip()
    assert number
    orders = host.orders(slug)
    assert [o["number"] for o in orders] == [number]
    assert orders[0]["total_cents"] == 9900 and orders[0]["lines"][0]["label"] == "40"
    expect_(page.locator("#hold-bar")).to_be_hidden()
    expect_(page.locator("#ticker")).to_contain_text("Kim just bought Aurora Runner, 40", timeout=5000)

    page.click("#receipt-link")
    page.wait_for_url(re.compile(rf"/orders/{orders[0]['order_id']}$"))
    expect_(page.locator(".order-number")).to_have_text(number)


def test_last_unit_turns_the_other_viewers_chip_sold_out(host: Host, new_context: Any) -> None:
    expect_ = expect()
    product = host.product({"40": 1, "41": 2})
    slug = host.live_show(product=product)
    first = new_context().new_page()
    second = new_context().new_page()
    first.goto(f"/s/{slug}")
    second.goto(f"/s/{slug}")
    expect_(chip(first, "40")).to_contain_text("1 left")
    expect_(first.locator("#viewer-number")).to_have_text("2", timeout=5000)
    expect_(first.locator("#live-badge")).to_be_visible()
    second.click("#reactions button[aria-label='Send love']")
    expect_(first.locator("#reaction-floats .float").first).to_be_attached(timeout=5000)
    chip(first, "40").click()  # the first viewer has it chosen, and hesitates

    chip(second, "40").click()
    second.click("#buy")
    expect_(second.locator("#checkout")).to_be_visible()
    start = time.monotonic()
    expect_(chip(first, "40")).to_be_disabled(timeout=1000)
    took = time.monotonic() - start
    expect_(chip(first, "40")).to_contain_text("Sold out", timeout=100)
    assert took < 1.0, took
    expect_(chip(first, "41")).to_be_enabled()
    # Not a dead button: the first viewer is told what happened and what to do.
    expect_(first.locator("#card-message-text")).to_have_text("40 just sold out. Pick another size.")
    expect_(first.locator("#buy")).to_be_enabled()


def test_reload_during_a_hold_shows_the_same_hold(host: Host, new_context: Any) -> None:
    expect_ = expect()
    product = host.product({"40": 4})
    slug = host.live_show(product=product)
    page = new_context().new_page()
    page.goto(f"/s/{slug}")
    chip(page, "40").click()
    page.click("#buy")
    expect_(page.locator("#checkout")).to_be_visible()
    page.keyboard.press("Escape")  # close the sheet; the hold stays
    expect_(page.locator("#checkout")).to_be_hidden()
    expect_(page.locator("#hold-bar")).to_be_visible()
    expect_(page.locator("#hold-checkout")).to_be_focused()
    before = countdown_seconds(page.locator("#hold-countdown").inner_text())
    held_at = time.monotonic()
    holds_before = page.evaluate("fetch('/api/buyers/me').then(r => r.json()).then(me => me.holds.map(h => h.hold_id))")
    assert len(holds_before) == 1

    page.reload()
    expect_(page.locator("#hold-bar")).to_be_visible()
    expect_(page.locator("#hold-label")).to_have_text("40 reserved for")
    after = countdown_seconds(page.locator("#hold-countdown").inner_text())
    elapsed = time.monotonic() - held_at
    assert abs((before - elapsed) - after) <= 2, (before, elapsed, after)
    expect_(page.locator("#buy")).to_be_hidden()
    holds_after = page.evaluate("fetch('/api/buyers/me').then(r => r.json()).then(me => me.holds.map(h => h.hold_id))")
    assert holds_after == holds_before
    expect_(chip(page, "40")).to_contain_text("3 left")

    # It can still be checked out after the reload.
    page.click("#hold-checkout")
    fill_checkout(page, CARD_PAYS)
    page.click("#checkout-pay")
    expect_(page.locator("#confirmation")).to_be_visible()


def test_a_dropped_socket_resumes_with_after(host: Host, new_context: Any) -> None:
    expect_ = expect()
    product = host.product({"40": 5})
    slug = host.live_show(product=product)
    page = new_context().new_page()
    urls: list[str] = []
    routes: list[Any] = []
    blocked = threading.Event()

    def route(ws: Any) -> None:
        urls.append(ws.url)
        if blocked.is_set():
            ws.close(code=4000, reason="test: network down")
            return
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(re.compile(r".*/ws/shows/.*"), route)
    page.goto(f"/s/{slug}")
    expect_(page.locator("#product-title")).to_be_visible()
    expect_(page.locator("#conn-status")).to_be_hidden()
    page.wait_for_timeout(300)
    assert re.search(r"after=\d+", urls[0]), "the first connection resumes from the page's snapshot"
    page.evaluate("window.__sameDocument = true")

    blocked.set()
    routes[-1].close(code=4000, reason="test: drop")
    expect_(page.locator("#conn-status")).to_have_text("Reconnecting…")
    host.offer(slug, product, 7500, duration_s=300)  # happens while this viewer is away
    page.wait_for_timeout(800)
    blocked.clear()

    expect_(page.locator("#conn-status")).to_be_hidden(timeout=10_000)
    expect_(page.locator("#price-now")).to_have_text("$75.00")
    expect_(page.locator("#offer-countdown")).to_have_text(re.compile(r"^ends in [45]:\d\d$"))
    assert page.evaluate("window.__sameDocument") is True, "recovered without a reload"
    last = int(re.search(r"after=(\d+)", urls[0]).group(1))  # type: ignore[union-attr]
    assert re.search(rf"after={last}(&|$)", urls[-1]), urls


def test_layouts_fit_and_screenshots(host: Host, new_context: Any, artifacts: Path) -> None:
    expect_ = expect()
    product = host.product({"EU 40": 4, "EU 41": 9, "EU 42": 14, "EU 43": 0, "EU 44": 8, "EU 45": 3},
                           title="Aurora Runner OG")
    slug = host.live_show(title="Sneaker Drop Live", product=product)
    host.offer(slug, product, 9900, duration_s=900, quantity=20)
    for width, height in ((390, 844), (1440, 900)):
        page = new_context(width, height).new_page()
        page.goto(f"/s/{slug}")
        expect_(page.locator("#offer-line")).to_be_visible()
        for line in ("Those are fire 🔥", "Is EU 42 true to size?"):
            page.fill("#chat-text", line)
            page.press("#chat-text", "Enter")
            expect_(page.locator("#chat-log")).to_contain_text(line)
        expect_(chip(page, "EU 43")).to_be_disabled()
        assert_fits(page)
        page.screenshot(path=str(artifacts / f"viewer-{width}x{height}.png"))

        chip(page, "EU 42").click()
        page.click("#buy")
        expect_(page.locator("#checkout")).to_be_visible()
        page.wait_for_timeout(300)  # the sheet's entrance
        assert_fits(page)
        page.screenshot(path=str(artifacts / f"viewer-{width}x{height}-checkout.png"))
        page.keyboard.press("Escape")
        expect_(page.locator("#hold-bar")).to_be_visible()
        assert_fits(page)
        page.screenshot(path=str(artifacts / f"viewer-{width}x{height}-hold.png"))
        page.click("#hold-release")
        expect_(page.locator("#buy")).to_be_visible()


def test_unsafe_input_shows_as_text(host: Host, new_context: Any, server: Server) -> None:
    expect_ = expect()
    evil_title = '<img src=x onerror="window.__pwned=1">Boom</h2><script>window.__pwned=2</script>'
    evil_chat = '<b>hi</b><img src=x onerror="window.__pwned=3"><script>window.__pwned=4</script>'
    evil_name = "<i>Kim</i>"
    product = host.product({"<b>40</b>": 2}, title=evil_title, image_url=None)
    slug = host.live_show(title="</title><script>window.__pwned=5</script>", product=product)
    writer = new_context().new_page()
    reader = new_context(1440, 900).new_page()
    writer.goto(f"/s/{slug}")
    reader.goto(f"/s/{slug}")

    writer.click("#name-edit")
    writer.fill("#name-input", evil_name)
    writer.press("#name-input", "Enter")
    expect_(writer.locator("#chat-as")).to_have_text(f"Chatting as {evil_name}")
    writer.fill("#chat-text", evil_chat)
    writer.click("#chat-form button[type=submit]")

    for page in (writer, reader):
        line = page.locator("#chat-log li").last
        expect_(line.locator(".chat-text")).to_have_text(evil_chat)
        expect_(line.locator(".chat-name")).to_have_text(evil_name)
        expect_(page.locator("#product-title")).to_have_text(evil_title)
        expect_(page.locator("#show-title")).to_have_text("</title><script>window.__pwned=5</script>")
        assert page.title().startswith("</title><script>")
        assert page.locator("img[src='x'], #chat-log b, #chat-log i, .card b").count() == 0
        expect_(chip(page, "<b>40</b>")).to_contain_text("2 left")

    chip(writer, "<b>40</b>").click()
    writer.click("#buy")
    expect_(writer.locator("#checkout-item")).to_have_text(f"{evil_title}, <b>40</b>")
    fill_checkout(writer, CARD_PAYS)
    writer.click("#checkout-pay")
    expect_(writer.locator("#order-summary")).to_contain_text(f"{evil_title}, <b>40</b>.")
    expect_(reader.locator("#ticker")).to_contain_text(f"Kim just bought {evil_title}, <b>40</b>", timeout=5000)
    writer.click("#receipt-link")
    expect_(writer.locator(".receipt-lines tbody td").first).to_have_text(evil_title)
    for page in (writer, reader):
        assert page.evaluate("window.__pwned") is None
        assert page.locator("img[src='x']").count() == 0


def test_refusals_say_what_to_do_next(host: Host, new_context: Any) -> None:
    """Each refusal of a buy press or a payment: a plain sentence and a next step, never a dead
    button. The hold route's answers are staged here (the API tests cover when the server gives them)."""
    expect_ = expect()
    product = host.product({"40": 3, "41": 3})
    slug = host.live_show(product=product)
    page = new_context(reduced_motion="reduce").new_page()
    staged: list[Any] = []
    presses: list[str] = []

    def holds(route: Any) -> None:
        presses.append(route.request.headers.get("idempotency-key", ""))
        answer = staged.pop(0) if staged else None
        if answer is None:
            route.continue_()
        elif answer == "network":
            route.abort("internetdisconnected")
        else:
            status, code, headers = answer
            route.fulfill(status=status, json={"error": {"code": code, "message": "staged"}}, headers=headers)

    page.route(re.compile(r".*/api/shows/[^/]+/holds$"), holds)
    page.goto(f"/s/{slug}")
    message, action, buy = page.locator("#card-message-text"), page.locator("#card-message-action"), page.locator("#buy")

    # Keyboard only: focus a size, choose it with Space, press buy with Enter.
    chip(page, "41").focus()
    page.keyboard.press("Space")
    expect_(chip(page, "41")).to_have_attribute("aria-pressed", "true")

    staged.append((409, "not_on_sale", {}))
    buy.focus()
    page.keyboard.press("Enter")
    expect_(message).to_contain_text("This isn't on sale right now")
    expect_(action).to_have_text("Try again")
    expect_(buy).to_be_enabled()

    staged.extend([(429, "rate_limited", {"Retry-After": "1"}), None])  # then the real server
    action.click()
    expect_(message).to_contain_text("Trying again in 1 s")
    expect_(page.locator("#checkout")).to_be_visible(timeout=5000)
    assert presses[-1] == presses[-2] and presses[-2] != presses[-3], "a retry of one press reuses its key; a new press gets a new one"
    page.keyboard.press("Escape")
    page.click("#hold-release")
    expect_(message).to_contain_text("41 is back on sale")

    staged.append("network")
    buy.click()
    expect_(message).to_contain_text("We couldn't reach the shop")
    expect_(action).to_have_text("Try again")

    staged.append((409, "limit_reached", {}))
    buy.click()
    expect_(message).to_contain_text("as many of these as one person may")

    staged.append((409, "sold_out", {}))
    buy.click()
    expect_(message).to_have_text("Sorry, 41 just sold out. Pick another size.")
    expect_(chip(page, "41")).to_be_disabled()
    buy.click()
    expect_(message).to_have_text("Pick a size first.")
    expect_(chip(page, "40")).to_be_focused()

    # A payment the server says expired: back on sale, with a way to try again.
    page.route(re.compile(r".*/api/holds/[^/]+/checkout$"),
               lambda route: route.fulfill(status=410, json={"error": {"code": "hold_expired", "message": "staged"}}))
    chip(page, "40").click()
    buy.click()
    fill_checkout(page, CARD_PAYS)
    page.click("#checkout-pay")
    expect_(page.locator("#checkout")).to_be_hidden()
    expect_(message).to_have_text("Your reservation ran out, so 40 went back on sale.")
    expect_(action).to_have_text("Try again")
    page.unroute(re.compile(r".*/api/holds/[^/]+/checkout$"))
    action.click()
    expect_(page.locator("#checkout")).to_be_visible()

    # Reduced motion: a reaction is sent, but nothing floats across the screen.
    page.keyboard.press("Escape")
    page.click("#reactions button[aria-label='Send fire']")
    page.wait_for_timeout(300)
    assert page.locator("#reaction-floats .float").count() == 0


def test_scheduled_live_and_ended(host: Host, new_context: Any) -> None:
    expect_ = expect()
    product = host.product({"40": 2})
    starts = int(time.time() * 1000) + 2 * 3600 * 1000 + 60_000
    slug = host.call("POST", "/api/shows", 201, json={"title": "Friday drop", "scheduled_at": starts})["slug"]
    host.pin(slug, product)
    page = new_context().new_page()
    page.goto(f"/s/{slug}")
    expect_(page.locator("#show-state-text")).to_contain_text("Goes live")
    expect_(page.locator("#show-state-text")).to_contain_text("in 2 hours")
    expect_(page.locator("#live-badge")).to_be_hidden()
    reminder = page.locator("#reminder-link")
    expect_(reminder).to_be_visible()
    ics = page.request.get(reminder.get_attribute("href"))
    assert ics.ok and ics.headers["content-type"].startswith("text/calendar") and "BEGIN:VEVENT" in ics.text()
    expect_(page.locator("#card-message-text")).to_have_text("On sale when the show goes live.")
    expect_(page.locator("#buy")).to_be_hidden()

    host.call("POST", f"/api/shows/{slug}/start", 200)
    expect_(page.locator("#live-badge")).to_be_visible()
    expect_(page.locator("#show-state")).to_be_hidden()
    expect_(page.locator("#buy")).to_be_visible()

    host.call("POST", f"/api/shows/{slug}/end", 200)
    expect_(page.locator("#show-state-text")).to_have_text("This show has ended. Thanks for watching!")
    expect_(page.locator("#live-badge")).to_be_hidden()
    expect_(page.locator("#buy")).to_be_hidden()
    expect_(page.locator("#card-message-text")).to_contain_text("The show has ended")
