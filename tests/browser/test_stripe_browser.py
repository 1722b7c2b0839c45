"""A hold paid in the viewer page with Stripe configured: the checkout sheet asks for no card number,
mounts Stripe.js's card element (localstripe's stand-in, served by localstripe on loopback; never the
real Stripe), and the payment becomes exactly one paid order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Host, Server
from tests.browser.stripe_support import fill_card, mounted_card, record_console, record_posts, stripe_livedrop
from tests.browser.viewer_support import fill_address

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Any, localstripe: str) -> Iterator[Server]:
    with stripe_livedrop(tmp_path_factory.mktemp("browser-stripe"), localstripe) as running:
        yield running


def test_a_hold_paid_with_stripe_js_is_one_paid_order(host: Host, new_context: Any) -> None:
    from playwright.sync_api import expect

    product = host.product({"40": 3})
    slug = host.live_show(product=product)
    page = new_context().new_page()
    stripe_calls: list[str] = []
    page.on("request", lambda request: stripe_calls.append(request.url) if "/v1/" in request.url else None)
    sent_to_livedrop = record_posts(page, str(host.http.base_url))
    logs = record_console(page)
    page.goto(f"/s/{slug}")
    page.locator("#chips button.chip", has=page.locator(".chip-label", has_text="40")).click()
    page.click("#buy")
    expect(page.locator("#checkout")).to_be_visible()
    expect(page.locator("#co-card")).to_be_hidden()
    card = mounted_card(page, "#stripe-card-element")

    fill_address(page)
    fill_card(card)
    page.click("#checkout-pay")
    try:
        expect(page.locator("#confirmation")).to_be_visible(timeout=15_000)
    except AssertionError:
        raise AssertionError(f"no confirmation; the page's console: {logs}") from None
    number = page.locator("#order-number").inner_text().strip()

    orders = host.orders(slug)
    assert [(o["number"], o["status"]) for o in orders] == [(number, "paid")]
    assert any("/v1/tokens" in url for url in stripe_calls), "the card went to (local)stripe"
    assert not any("4242424242424242" in body for body in sent_to_livedrop), "the card number never reached livedrop"
