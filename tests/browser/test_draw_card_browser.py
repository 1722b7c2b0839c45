"""A draw that authorizes the price at entry, in Chromium at 390x844 by touch, against a real
server and the built-in test provider: the entry form asks for the card and says the amount it
authorizes (the price and the shipping) and that it is charged only on a win; a declined card is
refused in place, with its message, and enters nothing; the test card enters; after the draw the
winner claims from the checkout sheet without typing the card again (the authorization is captured
for the order's total)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from . import axe
from .conftest import Host
from .test_viewer import expect
from .viewer_support import fill_address, open_viewer

pytestmark = pytest.mark.browser


def test_an_authorized_draw_is_entered_with_a_card_and_claimed_without_it(host: Host, new_context: Any) -> None:
    product = host.product({"US 9": 1}, title="Aurora Runner", price_cents=12900)
    slug = host.live_show(product=product)
    host.call("PUT", f"/api/shows/{slug}/shipping", 200, json={"kind": "flat", "flat_cents": 700})
    offer = host.call("POST", f"/api/shows/{slug}/offers", 201, json={
        "product_id": product["id"], "price_cents": 4900, "mode": "draw", "authorize": True,
        "entries_close_at": int(time.time() * 1000) + 600_000})

    page = open_viewer(new_context(390, 844, has_touch=True, is_mobile=True), slug)
    box = page.locator(".draw")
    expect()(box.locator(".draw-clock")).to_contain_text("Entries close in")
    expect()(box.get_by_label("Card number")).to_be_visible()
    # The amount before entering: 49.00 + 7.00 shipping, charged only on a win.
    expect()(box.locator(".draw-note")).to_have_text(
        "Entering authorizes $56.00 on your card (the price and shipping). It is only charged if you win; "
        "otherwise it is released.")
    axe.check(page, "a draw's entry form with its card field")

    box.locator(".draw-email").fill("kim@example.com")
    box.get_by_label("Card number").fill("4000 0000 0000 0002")
    box.locator(".draw-enter").tap()
    error = box.locator(".draw-error")
    expect()(error).to_have_text("Your card was declined: nothing was authorized and you are not entered. Try another card.")
    expect()(box.get_by_label("Card number")).to_be_focused()
    expect()(box.locator(".draw-form")).to_be_visible()
    figures = host.call("GET", f"/api/shows/{slug}/offers/{offer['id']}/entries", 200)
    assert figures["entries"] == {}, f"a declined card enters nothing: {figures}"

    box.get_by_label("Card number").fill("4242 4242 4242 4242")
    box.locator(".draw-enter").tap()
    expect()(box.locator(".draw-text")).to_contain_text("You're in. Entry de_")
    expect()(box.locator(".draw-text")).to_contain_text("$56.00 is authorized on your card: charged only if you win, released otherwise.")
    expect()(error).to_be_hidden()
    expect()(box.locator(".draw-form")).to_be_hidden()

    drawn = host.call("POST", f"/api/shows/{slug}/offers/{offer['id']}/draw", 200)
    assert len(drawn["winners"]) == 1, drawn
    expect()(box.locator(".draw-text")).to_contain_text("You won!", timeout=15_000)
    page.locator("#hold-checkout").tap()
    expect()(page.locator("#checkout")).to_be_visible()
    expect()(page.locator("#co-card")).to_be_hidden()
    expect()(page.locator("#checkout-claim-note")).to_have_text(
        "No card needed: the amount authorized when you entered pays for it (only the total is charged, the rest is released).")
    expect()(page.locator("#checkout-total")).to_have_text("$56.00")
    fill_address(page)
    page.locator("#checkout-pay").tap()
    expect()(page.locator("#confirmation")).to_be_visible()
    [order] = host.orders(slug)
    assert (order["status"], order["total_cents"], order["shipping_cents"]) == ("paid", 5600, 700), order
    mine = page.evaluate(f"fetch('/api/shows/{slug}/offers/{offer['id']}/entries/me').then((r) => r.json())")
    assert mine["status"] == "claimed", mine


def test_a_claim_whose_total_outgrew_the_authorization_asks_for_a_card(host: Host, new_context: Any) -> None:
    """The host raises shipping after the entry: the claim without a card is refused and nothing is
    captured; the sheet then shows the card field, says why, and the card pays the new total."""
    product = host.product({"US 9": 1}, title="Aurora Runner", price_cents=12900)
    slug = host.live_show(product=product)
    host.call("PUT", f"/api/shows/{slug}/shipping", 200, json={"kind": "flat", "flat_cents": 700})
    offer = host.call("POST", f"/api/shows/{slug}/offers", 201, json={
        "product_id": product["id"], "price_cents": 4900, "mode": "draw", "authorize": True,
        "entries_close_at": int(time.time() * 1000) + 600_000})
    page = open_viewer(new_context(390, 844, has_touch=True, is_mobile=True), slug)
    box = page.locator(".draw")
    box.locator(".draw-email").fill("lee@example.com")
    box.get_by_label("Card number").fill("4242424242424242")
    box.locator(".draw-enter").tap()
    expect()(box.locator(".draw-text")).to_contain_text("$56.00 is authorized on your card")
    host.call("POST", f"/api/shows/{slug}/offers/{offer['id']}/draw", 200)
    expect()(box.locator(".draw-text")).to_contain_text("You won!", timeout=15_000)
    host.call("PUT", f"/api/shows/{slug}/shipping", 200, json={"kind": "flat", "flat_cents": 1500})

    page.locator("#hold-checkout").tap()
    expect()(page.locator("#co-card")).to_be_hidden()
    fill_address(page, "Lee Kim", "lee@example.com")
    page.locator("#checkout-pay").tap()
    expect()(page.locator("#checkout-error")).to_have_text(
        "The total is more than your entry authorized: pay by card. The authorization is released once you have paid.")
    expect()(page.locator("#co-card")).to_be_visible()
    expect()(page.locator("#checkout-claim-note")).to_be_hidden()
    assert host.orders(slug) == [], "nothing captured, no order"
    page.fill("#co-card", "4242 4242 4242 4242")
    page.locator("#checkout-pay").tap()
    expect()(page.locator("#confirmation")).to_be_visible()
    [order] = host.orders(slug)
    assert (order["status"], order["total_cents"], order["shipping_cents"]) == ("paid", 6400, 1500), order
