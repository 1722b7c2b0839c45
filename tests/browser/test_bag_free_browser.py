"""A bag of free holds (offers at price 0, as giveaway wins are) checked out in Chromium at 390x844
by touch: the bag's sheet asks no card, and the order is paid at 0 without the payment provider."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Host
from .viewer_support import fill_bag_address
from .test_viewer import expect

pytestmark = pytest.mark.browser


def test_a_bag_of_free_holds_is_checked_out_without_a_card(host: Host, new_context: Any) -> None:
    shoe = host.product({"42": 3}, title="Aurora Runner")
    cap = host.product({"One size": 2}, title="Night Cap", price_cents=2500)
    slug = host.live_show(product=shoe)
    host.call("PUT", f"/api/shows/{slug}/bag", 200, json={"product_ids": [cap["id"]]})
    host.call("PUT", f"/api/shows/{slug}/shipping", 200, json={"kind": "flat", "flat_cents": 700})
    for product in (shoe, cap):
        host.offer(slug, product, 0)

    page = new_context(390, 844, has_touch=True, is_mobile=True).new_page()
    page.goto(f"/s/{slug}")
    page.locator("#bag-button").tap()
    items = page.locator("#bag-list .bag-item")
    expect()(items).to_have_count(2)
    items.nth(0).locator(".bag-add").tap()
    expect()(page.locator("#bag-held .bag-hold")).to_have_count(1)
    items.nth(1).locator(".bag-add").tap()
    expect()(page.locator("#bag-held .bag-hold")).to_have_count(2)
    page.locator("#bag-checkout").tap()
    expect()(page.locator("#bag-name")).to_be_visible()
    expect()(page.locator("#bag-card")).to_be_hidden()
    fill_bag_address(page)
    page.locator("#bag-pay").tap()
    expect()(page.locator("#bag-done")).to_contain_text("Paid!")
    [order] = host.orders(slug)
    assert (order["status"], order["total_cents"], order["shipping_cents"]) == ("paid", 0, 0), order
    assert len(order["lines"]) == 2
