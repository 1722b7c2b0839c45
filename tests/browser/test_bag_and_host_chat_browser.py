"""The show's bag and the host who talks back, in Chromium: a bag checkout of two items at 390x844
by touch, and a host's reply pinned on two viewers' screens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import HOST_EMAIL, Host, Server
from .viewer_support import fill_bag_address

pytestmark = pytest.mark.browser


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_bag_checkout_of_two_items_by_touch(host: Host, new_context: Any, artifacts: Path) -> None:
    shoe = host.product({"42": 3, "43": 3}, title="Aurora Runner")
    cap = host.product({"One size": 2}, title="Night Cap", price_cents=2500)
    slug = host.live_show(product=shoe)
    host.call("PUT", f"/api/shows/{slug}/bag", 200, json={"product_ids": [cap["id"]]})

    page = new_context(390, 844, has_touch=True, is_mobile=True).new_page()
    page.goto(f"/s/{slug}")
    expect()(page.locator("#bag-count")).to_have_text("2")
    page.locator("#bag-button").tap()
    items = page.locator("#bag-list .bag-item")
    expect()(items).to_have_count(2)
    expect()(items.nth(0)).to_contain_text("Aurora Runner")  # the pinned one first
    expect()(items.nth(0)).to_contain_text("On screen now")
    items.nth(0).locator(".bag-add").tap()
    expect()(page.locator("#bag-held .bag-hold")).to_have_count(1)
    items.nth(1).locator(".bag-add").tap()
    held = page.locator("#bag-held .bag-hold")
    expect()(held).to_have_count(2)
    expect()(held.nth(0).locator(".bag-timer")).to_have_text(re.compile(r"\d+:\d\d"))
    expect()(held.nth(1).locator(".bag-timer")).to_have_text(re.compile(r"\d+:\d\d"))
    page.locator("#bag-checkout").tap()
    fill_bag_address(page)
    page.fill("#bag-card", "4242 4242 4242 4242")
    page.locator("#bag-pay").tap()
    expect()(page.locator("#bag-done")).to_contain_text("Paid!")
    page.screenshot(path=str(artifacts / "bag-checkout-390x844.png"))

    orders = host.orders(slug)
    assert len(orders) == 1, orders
    assert sorted(line["sku"] for line in orders[0]["lines"]) == sorted([shoe["variants"][0]["sku"], cap["variants"][0]["sku"]])
    assert orders[0]["total_cents"] == 12900 + 2500


def test_a_host_reply_pinned_on_two_viewers_screens(server: Server, host: Host, new_context: Any, artifacts: Path) -> None:
    shoe = host.product({"42": 3})
    slug = host.live_show(product=shoe)
    viewers = []
    for _ in range(2):
        page = new_context(390, 844).new_page()
        page.goto(f"/s/{slug}")
        viewers.append(page)
    asker = viewers[0]
    asker.fill("#chat-text", "Is there a size 44?")
    asker.press("#chat-text", "Enter")
    expect()(viewers[1].locator("#chat-log")).to_contain_text("Is there a size 44?")

    panel = new_context(1440, 900).new_page()
    panel.goto("/host/login")
    panel.get_by_label("Email").fill(HOST_EMAIL)
    panel.get_by_label("Password").fill("browser tests password")
    panel.get_by_role("button", name="Sign in").click()
    panel.wait_for_url("**/host")
    panel.goto(f"/host/shows/{slug}")
    question = panel.locator("#chat li[data-message-id]", has_text="Is there a size 44?")
    question.get_by_role("button", name=re.compile("^Reply to")).click()
    panel.fill("#host-chat-text", "Yes, from Friday")
    panel.click("#host-chat-send")
    answer = panel.locator("#chat li[data-message-id]", has_text="Yes, from Friday")
    expect()(answer).to_be_visible()
    answer.get_by_role("button", name=re.compile("^Pin message")).click()
    expect()(panel.locator("#host-chat-pinned")).to_contain_text("Yes, from Friday")

    for page in viewers:
        pinned = page.locator("#chat-pinned")
        expect()(pinned).to_be_visible()
        expect()(pinned).to_contain_text("Yes, from Friday")
        line = page.locator("#chat-log li", has_text="Yes, from Friday")
        expect()(line.locator(".chat-badge-host")).to_be_visible()
        expect()(line.locator(".chat-quote")).to_contain_text("Is there a size 44?")
    viewers[1].screenshot(path=str(artifacts / "host-reply-pinned-390x844.png"))

    # Unpinned from the panel: gone from both screens.
    panel.click("#host-chat-unpin")
    for page in viewers:
        expect()(page.locator("#chat-pinned")).to_be_hidden()
