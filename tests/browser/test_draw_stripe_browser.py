"""A draw that authorizes at entry, with Stripe configured (localstripe and its stand-in for
Stripe.js on loopback; never the real Stripe), in Chromium at 390x844 by touch: the entry form
mounts Stripe.js's card element instead of a card-number field, a card localstripe declines is
refused in place, the test card enters (the entry sends the payment method Stripe.js made, never
the number), and after the draw the winner claims without a card: the authorization is captured
for the order's total, one paid order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Host, Server
from tests.browser.stripe_support import fill_card, mounted_card, record_posts, stripe_livedrop
from tests.browser.viewer_support import fill_address

from .test_viewer import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Any, localstripe: str) -> Iterator[Server]:
    with stripe_livedrop(tmp_path_factory.mktemp("browser-draw-stripe"), localstripe) as running:
        yield running


def test_an_authorized_draw_entered_with_stripe_js_and_claimed_without_a_card(host: Host, new_context: Any) -> None:
    product = host.product({"US 9": 1}, price_cents=12900)
    slug = host.live_show(product=product)
    host.call("PUT", f"/api/shows/{slug}/shipping", 200, json={"kind": "flat", "flat_cents": 700})
    offer = host.call("POST", f"/api/shows/{slug}/offers", 201, json={
        "product_id": product["id"], "price_cents": 4900, "mode": "draw", "authorize": True,
        "entries_close_at": int(time.time() * 1000) + 600_000})

    page = new_context(390, 844, has_touch=True, is_mobile=True).new_page()
    sent_to_livedrop = record_posts(page, str(host.http.base_url))
    page.goto(f"/s/{slug}")
    box = page.locator(".draw")
    expect()(box.locator(".draw-note")).to_contain_text("Entering authorizes $56.00 on your card")
    expect()(box.locator(".draw-card-field").first).to_be_hidden()  # the number field gives way to Stripe.js's
    card = mounted_card(page, f"#draw-stripe-card-{offer['id']}-element")

    box.locator(".draw-email").fill("kim@example.com")
    fill_card(card, "4000000000000341")  # localstripe declines it when charged (docs/payments.md)
    box.locator(".draw-enter").tap()
    expect()(box.locator(".draw-error")).to_have_text(
        "Your card was declined: nothing was authorized and you are not entered. Try another card.", timeout=15_000)
    assert host.call("GET", f"/api/shows/{slug}/offers/{offer['id']}/entries", 200)["entries"] == {}

    fill_card(card, "4242424242424242")
    box.locator(".draw-enter").tap()
    expect()(box.locator(".draw-text")).to_contain_text("$56.00 is authorized on your card", timeout=15_000)

    drawn = host.call("POST", f"/api/shows/{slug}/offers/{offer['id']}/draw", 200)
    assert len(drawn["winners"]) == 1, drawn
    expect()(box.locator(".draw-text")).to_contain_text("You won!", timeout=15_000)
    page.locator("#hold-checkout").tap()
    expect()(page.locator("#checkout-claim-note")).to_be_visible()
    expect()(page.locator("#co-card")).to_be_hidden()
    fill_address(page)
    page.locator("#checkout-pay").tap()
    expect()(page.locator("#confirmation")).to_be_visible(timeout=15_000)
    [order] = host.orders(slug)
    assert (order["status"], order["total_cents"]) == ("paid", 5600), order
    assert not any("4242424242424242" in body or "4000000000000341" in body for body in sent_to_livedrop), \
        "card numbers never reach livedrop"
    entries = [body for body in sent_to_livedrop if '"sku"' in body and '"email"' in body]
    assert len(entries) == 2 and all('"payment_method":"card_' in body.replace(" ", "") for body in entries), entries
