"""A hold paid in the viewer page with Stripe configured: the checkout sheet asks for no card number,
mounts Stripe.js's card element (localstripe's stand-in, served by localstripe on loopback; never the
real Stripe), and the payment becomes exactly one paid order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import HOST_EMAIL, Host, Server
from tests.conftest import STRIPE_PUBLISHABLE_KEY, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
from tests.support import LivedropProcess, host_token, livedrop_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Any, localstripe: str) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("browser-stripe")
    env = livedrop_env(data, LIVEDROP_BUYERS_PER_IP_PER_MINUTE="100000", LIVEDROP_PAYMENTS="stripe",
                       STRIPE_SECRET_KEY=STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY=STRIPE_PUBLISHABLE_KEY,
                       STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE=localstripe)
    token = host_token(env, HOST_EMAIL, "browser tests password")
    process = LivedropProcess(["serve", "--host", "127.0.0.1"], env).start()
    try:
        yield Server(process.url, token, process)
    finally:
        process.stop()


def test_a_hold_paid_with_stripe_js_is_one_paid_order(host: Host, new_context: Any) -> None:
    from playwright.sync_api import expect

    product = host.product({"40": 3})
    slug = host.live_show(product=product)
    page = new_context().new_page()
    stripe_calls: list[str] = []
    page.on("request", lambda request: stripe_calls.append(request.url) if "/v1/" in request.url else None)
    sent_to_livedrop: list[str] = []
    page.on("request", lambda request: sent_to_livedrop.append(request.post_data or "")
            if request.url.startswith(host.http.base_url.__str__().rstrip("/")) and request.method == "POST" else None)
    logs: list[str] = []
    page.on("console", lambda message: logs.append(message.text))
    page.on("response", lambda response: logs.append(f"{response.status} {response.url}") if response.status >= 400 else None)
    page.goto(f"/s/{slug}")
    page.locator("#chips button.chip", has=page.locator(".chip-label", has_text="40")).click()
    page.click("#buy")
    expect(page.locator("#checkout")).to_be_visible()
    expect(page.locator("#co-card")).to_be_hidden()
    card = page.locator("#stripe-card-element")
    expect(card.locator("input[placeholder=number]")).to_be_visible(timeout=10_000)

    page.fill("#co-name", "Kim Lee")
    page.fill("#co-email", "kim@example.com")
    page.fill("#co-line1", "1 Main St")
    page.fill("#co-city", "Springfield")
    page.fill("#co-postal", "12345")
    page.select_option("#co-country", "US")
    page.select_option("#co-region", "IL")  # US addresses need a state (the list loads with the sheet)
    card.locator("input[placeholder=number]").fill("4242424242424242")
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("30")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")
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
