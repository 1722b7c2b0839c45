"""The show's bag paid with Stripe configured (docs/bag.md): the bag's form asks for no card number,
mounts its own Stripe.js card element (localstripe's stand-in, on loopback; never the real
Stripe), and two held items become one payment and exactly one paid order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Host, Server
from tests.browser.stripe_support import fill_card, mounted_card, record_console, record_posts, stripe_livedrop
from tests.browser.viewer_support import fill_bag_address

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Any, localstripe: str) -> Iterator[Server]:
    with stripe_livedrop(tmp_path_factory.mktemp("browser-bag-stripe"), localstripe) as running:
        yield running


def test_a_bag_of_two_paid_with_stripe_js_is_one_payment_and_one_order(host: Host, new_context: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    shoe = host.product({"42": 3}, title="Aurora Runner")
    cap = host.product({"One size": 2}, title="Night Cap", price_cents=2500)
    slug = host.live_show(product=shoe)
    host.call("PUT", f"/api/shows/{slug}/bag", 200, json={"product_ids": [cap["id"]]})

    page = new_context(390, 844, has_touch=True, is_mobile=True).new_page()
    sent_to_livedrop = record_posts(page, str(host.http.base_url))
    payments: list[str] = []
    page.on("request", lambda request: payments.append(request.url) if request.url.endswith("/bag/payment") else None)
    logs = record_console(page)

    page.goto(f"/s/{slug}")
    page.locator("#bag-button").tap()
    items = page.locator("#bag-list .bag-item")
    expect(items).to_have_count(2)
    items.nth(0).locator(".bag-add").tap()
    expect(page.locator("#bag-held .bag-hold")).to_have_count(1)
    items.nth(1).locator(".bag-add").tap()
    expect(page.locator("#bag-held .bag-hold")).to_have_count(2)
    page.locator("#bag-checkout").tap()
    expect(page.locator("#bag-card")).to_be_hidden()
    card = mounted_card(page, "#bag-stripe-card-element")
    fill_bag_address(page)
    fill_card(card)
    page.locator("#bag-pay").tap()
    try:
        expect(page.locator("#bag-done")).to_contain_text("Paid!", timeout=15_000)
    except AssertionError:
        raise AssertionError(f"not paid; the page's console: {logs}") from None
    page.screenshot(path=str(artifacts / "bag-stripe-checkout-390x844.png"))

    [order] = host.orders(slug)
    assert order["status"] == "paid" and order["total_cents"] == 12900 + 2500, order
    assert sorted(line["sku"] for line in order["lines"]) == sorted([shoe["variants"][0]["sku"], cap["variants"][0]["sku"]])
    assert payments, "the bag's one payment was asked for"
    assert not any("4242424242424242" in body for body in sent_to_livedrop), "the card number never reached livedrop"
