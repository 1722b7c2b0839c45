"""A queue drop's waiting room on the viewer page, in a real browser against a real server: buyers
join before the drop starts, see their place once the line is drawn (the same rank the API gives
them), watch it move live, and the one let in buys with its pass; a late joiner goes to the back.
On a small phone: the layouts fit, a refusal shows the server's message, a reload and a page that
comes back (visible again, reconnected) ask for their place again, and a hold refused for its pass
says what happened."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Host
from .test_viewer import CARD_PAYS, assert_fits, chip, expect, fill_checkout

pytestmark = pytest.mark.browser

ORDINAL = re.compile(r"^You are (\d[\d,]*)(st|nd|rd|th)(: .+)?$")


def now_ms() -> int:
    return int(time.time() * 1000)


def queue_offer(host: Host, slug: str, product: dict, starts_in_s: float, admit_per_minute: int) -> dict:
    return host.offer(slug, product, 9900, duration_s=600, starts_at=now_ms() + int(starts_in_s * 1000),
                      mode="queue", admit_per_minute=admit_per_minute)


def me(page: Any, slug: str, offer_id: int) -> Any:
    """GET .../queue/me as this page's buyer (the context's cookie)."""
    answer = page.request.get(f"/api/shows/{slug}/offers/{offer_id}/queue/me")
    return answer.json() if answer.ok else answer.status


def state_of(page: Any) -> str:
    return page.locator("#queue").get_attribute("data-state") or ""


def holds_posted(page: Any) -> list[dict]:
    """The bodies of the page's hold requests, as they are sent."""
    bodies: list[dict] = []
    page.on("request", lambda request: bodies.append(json.loads(request.post_data or "{}"))
            if request.method == "POST" and request.url.endswith("/holds") else None)
    return bodies


def test_three_buyers_wait_their_turn_and_the_first_buys(host: Host, new_context: Any) -> None:
    expect_ = expect()
    started = time.monotonic()
    product = host.product({"40": 1, "41": 1})
    slug = host.live_show(product=product)
    # One place let in every 3 s: slow enough to watch the line move, quick enough for a test.
    offer = queue_offer(host, slug, product, starts_in_s=12, admit_per_minute=20)
    assert offer["mode"] == "queue" and offer["seed"] is None

    pages = [new_context(390, 844).new_page() for _ in range(3)]
    posted = {id(page): holds_posted(page) for page in pages}
    for page in pages:
        page.goto(f"/s/{slug}")
        expect_(page.locator("#queue-join")).to_have_text("Join the line")
        expect_(page.locator("#buy")).to_be_hidden()  # nothing is on sale before the drop
        expect_(page.locator("#queue-status")).to_have_text(re.compile(r"^Drop starts in 0:[01]\d$"))
        expect_(page.locator("#queue-detail")).to_have_text(
            re.compile(r"^Everyone who joins before .+ gets a random place; joining early does not put you ahead\.$"))

    entries = {}
    for page in pages:
        page.click("#queue-join")
        expect_(page.locator("#queue-status")).to_have_text("You're in line.")
        expect_(page.locator("#queue-detail")).to_have_text("Places are drawn at random when the drop starts.")
        expect_(page.locator("#queue-join")).to_be_hidden()
        place = me(page, slug, offer["id"])
        assert place["rank"] is None and place["pass"] is None
        entries[id(page)] = place["entry_id"]
        expect_(page.locator("#queue-entry")).to_have_text(f"Entry {place['entry_id']}")
        audit = page.locator("#queue-audit")
        expect_(audit).to_have_text("Check the draw")
        assert audit.get_attribute("href") == f"/api/shows/{slug}/offers/{offer['id']}/audit"
        assert_fits(page)
    assert now_ms() < offer["starts_at"], "everyone joined before the drop started (the test set it too soon)"
    assert len(set(entries.values())) == 3

    # The drop starts: the line is drawn, and each page shows the rank the API gives its buyer.
    ranks = {}
    for page in pages:
        expect_(page.locator("#queue")).to_have_attribute("data-rank", re.compile(r"^\d+$"), timeout=15_000)
        rank = int(page.locator("#queue").get_attribute("data-rank"))
        place = me(page, slug, offer["id"])
        assert rank == place["rank"], (rank, place)
        assert place["entry_id"] == entries[id(page)]
        expect_(page.locator("#queue-draw")).to_contain_text(f"Your number in the draw: {rank}")
        ranks[rank] = page
    assert sorted(ranks) == [1, 2, 3]
    audit = pages[0].request.get(f"/api/shows/{slug}/offers/{offer['id']}/audit").json()
    assert {e["entry_id"]: e["rank"] for e in audit["entries"]} == {entries[id(p)]: r for r, p in ranks.items()}
    assert audit["seed"], "the seed is public from starts_at"

    # The last of the three watches its place move up (frames, no reload), then it is let in.
    last = ranks[3]
    seen: list[int] = []
    deadline = time.monotonic() + 15
    while state_of(last) != "admitted":
        assert time.monotonic() < deadline, f"never admitted; positions seen {seen}"
        # One read of the page: the place, the sentence that says it, and whether Buy shows.
        position, text, buy_hidden = last.evaluate(
            "() => [document.getElementById('queue').dataset.position, document.getElementById('queue-status').textContent,"
            " document.getElementById('buy').hidden]")
        if position and (not seen or seen[-1] != int(position)):
            seen.append(int(position))
            found = ORDINAL.match(text)
            assert found and found.group(1) == position, text
            assert buy_hidden, "no Buy before the buyer's turn"
        time.sleep(0.1)
    assert len(seen) >= 2 and seen == sorted(seen, reverse=True) and seen[-1] < seen[0], seen
    expect_(last.locator("#queue-status")).to_have_text("It's your turn!")

    # A late joiner can still join: at the back of the line.
    late = new_context(390, 844).new_page()
    late.goto(f"/s/{slug}")
    expect_(late.locator("#queue-status")).to_have_text("The drop has started")
    expect_(late.locator("#queue-detail")).to_have_text("You can still join: new places go to the back of the line.")
    late.click("#queue-join")
    expect_(late.locator("#queue")).to_have_attribute("data-rank", "4")
    assert me(late, slug, offer["id"])["rank"] == 4

    # The first one in buys: Buy shows with the pass's countdown, and the hold carries the pass.
    first = ranks[1]
    expect_(first.locator("#queue")).to_have_attribute("data-state", "admitted")
    expect_(first.locator("#queue-timer")).to_have_text(re.compile(r"^Your pass expires in (2:00|1:[0-5]\d)$"))
    expect_(first.locator("#buy")).to_be_visible()
    chip(first, "40").click()
    first.click("#buy")
    expect_(first.locator("#checkout")).to_be_visible()
    pass_token = me(first, slug, offer["id"])["pass"]
    assert posted[id(first)] and posted[id(first)][-1].get("pass") == pass_token, posted[id(first)]
    fill_checkout(first, CARD_PAYS)
    first.click("#checkout-pay")
    expect_(first.locator("#confirmation")).to_be_visible()
    number = first.locator("#order-number").inner_text().strip()
    orders = host.orders(slug)
    assert [o["number"] for o in orders] == [number]
    assert orders[0]["status"] == "paid" and orders[0]["total_cents"] == 9900
    assert orders[0]["lines"][0]["offer_id"] == offer["id"] and orders[0]["lines"][0]["label"] == "40"
    first.click("#confirmation-close")
    expect_(first.locator("#queue")).to_have_attribute("data-state", "done")  # one per buyer: no Buy again
    expect_(first.locator("#buy")).to_be_hidden()
    assert time.monotonic() - started < 60


def test_waiting_room_on_a_small_phone(host: Host, new_context: Any, artifacts: Path) -> None:
    expect_ = expect()
    product = host.product({"EU 40": 3, "EU 41": 3, "EU 42": 3}, title="Aurora Runner OG")
    slug = host.live_show(title="Sneaker Drop Live", product=product)
    offer = queue_offer(host, slug, product, starts_in_s=12, admit_per_minute=60)
    page = new_context(320, 568).new_page()
    posted = holds_posted(page)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if request.url.endswith("/queue/me") else None)
    page.goto(f"/s/{slug}")
    expect_(page.locator("#queue-join")).to_be_visible()
    assert_fits(page)
    page.screenshot(path=str(artifacts / "viewer-queue-320x568-join.png"))

    # A refusal shows the server's own message, never its code.
    join_url = re.compile(rf".*/api/shows/{slug}/offers/{offer['id']}/queue$")
    page.route(join_url, lambda route: route.fulfill(status=429, headers={"Retry-After": "5"}, json={"error": {
        "code": "rate_limited", "message": "too many people joined from this address; try again shortly"}}))
    page.click("#queue-join")
    expect_(page.locator("#queue-error")).to_have_text("Too many people joined from this address; try again shortly.")
    assert "rate_limited" not in page.locator("#card").inner_text()
    page.unroute(join_url)
    page.click("#queue-join")
    expect_(page.locator("#queue-status")).to_have_text("You're in line.")
    expect_(page.locator("#queue-error")).to_be_hidden()
    entry = page.locator("#queue-entry").inner_text()
    assert_fits(page)
    page.screenshot(path=str(artifacts / "viewer-queue-320x568-in-line.png"))

    # A reload finds the place again (GET .../queue/me), and so does a page that comes back.
    page.reload()
    expect_(page.locator("#queue-status")).to_have_text("You're in line.")
    expect_(page.locator("#queue-entry")).to_have_text(entry)
    expect_(page.locator("#queue-join")).to_be_hidden()
    before = len(asked)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_timeout(300)
    assert len(asked) > before, asked

    # Admitted (alone in a line let in at one a second): sizes, Buy and the pass's countdown fit.
    expect_(page.locator("#queue")).to_have_attribute("data-state", "admitted", timeout=15_000)
    expect_(page.locator("#queue-timer")).to_have_text(re.compile(r"^Your pass expires in (2:00|1:[0-5]\d)$"))
    expect_(page.locator("#buy")).to_be_visible()
    expect_(chip(page, "EU 41")).to_be_visible()
    assert_fits(page)
    page.screenshot(path=str(artifacts / "viewer-queue-320x568-your-turn.png"))

    # A hold refused for its pass: no_pass asks for the place again; pass_expired says the place went on.
    staged: list[str] = []
    page.route(re.compile(r".*/api/shows/[^/]+/holds$"), lambda route: route.fulfill(status=403, json={"error": {
        "code": staged.pop(0), "message": "staged"}}) if staged else route.continue_())
    chip(page, "EU 41").click()
    staged.append("no_pass")
    with page.expect_response(lambda response: response.url.endswith("/queue/me")):  # it asks for its place again
        page.click("#buy")
    expect_(page.locator("#buy")).to_have_text("Buy EU 41 · $99.00")
    expect_(page.locator("#card-message")).to_be_hidden()
    assert not staged and posted[-1]["pass"] == me(page, slug, offer["id"])["pass"], posted
    staged.append("pass_expired")
    page.click("#buy")
    expect_(page.locator("#card-message-text")).to_have_text("Your pass ran out, so your place went to the next person in line.")
    expect_(page.locator("#queue-status")).to_have_text("Your pass ran out.")
    expect_(page.locator("#buy")).to_be_hidden()
    assert "pass_expired" not in page.locator("#card").inner_text()
    assert_fits(page)


def test_a_reconnected_socket_asks_for_the_place_again(host: Host, new_context: Any) -> None:
    expect_ = expect()
    product = host.product({"40": 2})
    slug = host.live_show(product=product)
    offer = queue_offer(host, slug, product, starts_in_s=30, admit_per_minute=60)
    page = new_context(390, 844).new_page()
    sockets: list[Any] = []

    def route(ws: Any) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r".*/ws/shows/.*"), route)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if request.url.endswith("/queue/me") else None)
    page.goto(f"/s/{slug}")
    page.click("#queue-join")
    expect_(page.locator("#queue-status")).to_have_text("You're in line.")
    expect_(page.locator("#conn-status")).to_be_hidden()
    opened = len(sockets)
    before = len(asked)
    sockets[-1].close(code=4000, reason="test: drop")
    expect_(page.locator("#conn-status")).to_be_hidden(timeout=10_000)
    deadline = time.monotonic() + 5
    while len(asked) == before and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(sockets) > opened and len(asked) > before, (len(sockets), asked)
    assert me(page, slug, offer["id"])["entry_id"] in page.locator("#queue-entry").inner_text()
