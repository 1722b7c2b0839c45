"""The show's bag, the parts a viewer and a host reach next (docs/bag.md), in Chromium: holds that
come back into the bag with their timers after a reload, and the panel's "In the bag" toggle that
changes what a viewer's bag lists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from . import axe
from .conftest import HOST_EMAIL, Host
from .viewer_support import fill_bag_address

pytestmark = pytest.mark.browser


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_several_holds_come_back_into_the_bag_after_a_reload(host: Host, new_context: Any, artifacts: Path) -> None:
    shoe = host.product({"42": 3}, title="Aurora Runner")
    cap = host.product({"One size": 2}, title="Night Cap", price_cents=2500)
    sock = host.product({"M": 2}, title="Wool Sock", price_cents=900)
    slug = host.live_show(product=shoe)
    host.call("PUT", f"/api/shows/{slug}/bag", 200, json={"product_ids": [cap["id"], sock["id"]]})

    page = new_context(390, 844, has_touch=True, is_mobile=True).new_page()
    page.goto(f"/s/{slug}")
    page.locator("#bag-button").tap()
    items = page.locator("#bag-list .bag-item")
    expect()(items).to_have_count(3)
    for n in range(3):
        items.nth(n).locator(".bag-add").tap()
        expect()(page.locator("#bag-held .bag-hold")).to_have_count(n + 1)

    page.reload()
    expect()(page.locator("#bag-count")).to_have_text("3")
    page.locator("#bag-button").tap()
    held = page.locator("#bag-held .bag-hold")
    expect()(held).to_have_count(3)
    for title in ("Aurora Runner", "Night Cap", "Wool Sock"):
        expect()(page.locator("#bag-held")).to_contain_text(title)
    for n in range(3):
        expect()(held.nth(n).locator(".bag-timer")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect()(page.locator("#bag-checkout")).to_contain_text("3")
    page.screenshot(path=str(artifacts / "bag-restored-after-reload-390x844.png"))

    # The restored holds pay in one checkout; the hold bar that showed one of them clears too.
    page.locator("#bag-checkout").tap()
    fill_bag_address(page)
    page.fill("#bag-card", "4242 4242 4242 4242")
    page.locator("#bag-pay").tap()
    expect()(page.locator("#bag-done")).to_contain_text("Paid!")
    [order] = host.orders(slug)
    assert order["total_cents"] == 12900 + 2500 + 900 and len(order["lines"]) == 3, order


def test_the_panel_toggles_a_product_in_and_out_of_a_viewers_bag(host: Host, new_context: Any, artifacts: Path) -> None:
    shoe = host.product({"42": 3}, title="Panel Runner")
    host.product({"One size": 2}, title="Panel Cap", price_cents=2500)
    slug = host.live_show(product=shoe)

    viewer = new_context(390, 844).new_page()
    viewer.goto(f"/s/{slug}")
    expect()(viewer.locator("#bag-count")).to_have_text("1")  # the pinned product only

    panel = new_context(1440, 900).new_page()
    panel.goto("/host/login")
    panel.get_by_label("Email").fill(HOST_EMAIL)
    panel.get_by_label("Password").fill("browser tests password")
    panel.get_by_role("button", name="Sign in").click()
    panel.wait_for_url("**/host")
    panel.goto(f"/host/shows/{slug}")
    toggle = panel.get_by_role("checkbox", name="In the bag: Panel Cap")
    expect()(toggle).to_be_enabled()
    expect()(toggle).not_to_be_checked()
    toggle.check()
    expect()(toggle).to_be_checked()
    expect()(viewer.locator("#bag-count")).to_have_text("2")
    viewer.locator("#bag-button").click()
    expect()(viewer.locator("#bag-list .bag-item")).to_have_count(2)
    expect()(viewer.locator("#bag-list")).to_contain_text("Panel Cap")
    panel.screenshot(path=str(artifacts / "panel-bag-toggle-1440x900.png"))
    axe.check(panel, "the panel's lineup with its bag toggles")
    axe.check(viewer, "the viewer's open bag")
    assert host.call("GET", f"/api/shows/{slug}/bag", 200)["product_ids"] != []

    # A second panel of the same host sees the change; taking it out empties the viewer's bag of it.
    other = panel.context.new_page()  # the same host's session
    other.goto(f"/host/shows/{slug}")
    other_toggle = other.get_by_role("checkbox", name="In the bag: Panel Cap")
    expect()(other_toggle).to_be_checked()
    other_toggle.uncheck()
    expect()(viewer.locator("#bag-list .bag-item")).to_have_count(1)
    expect()(viewer.locator("#bag-count")).to_have_text("1")
    expect()(toggle).not_to_be_checked()
    assert host.call("GET", f"/api/shows/{slug}/bag", 200) == {"product_ids": []}
