"""Back in stock and reminders in Chromium (docs/notify.md): "Notify me" on a sold-out size; the
host restocks through the API; the offer appears on that page (held for this buyer only: another
buyer's press is refused) and Buy checks it out. "Remind me" on a scheduled show sets a reminder."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from .conftest import HOST_EMAIL, Host, Server
from .test_viewer import CARD_PAYS, expect, fill_checkout

pytestmark = pytest.mark.browser


def _other_buyer(server: Server) -> httpx.Client:
    http = httpx.Client(base_url=server.url, timeout=30)
    token = http.post("/api/buyers", json={}).json()["token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def _hold(http: httpx.Client, slug: str, sku: str) -> httpx.Response:
    return http.post(f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 1}, headers={"Idempotency-Key": uuid.uuid4().hex})


def test_notify_me_then_the_offer_appears_and_buy_checks_it_out(host: Host, server: Server, new_context: Any) -> None:
    expect_ = expect()
    product = host.product({"40": 1, "41": 3}, price_cents=9900)
    sku40 = product["variants"][0]["sku"]
    slug = host.live_show(product=product)
    other = _other_buyer(server)
    try:
        held = _hold(other, slug, sku40)
        assert held.status_code == 201, held.text
        # The other buyer's order takes the last 40 for good.
        paid = other.post(f"/api/holds/{held.json()['hold_id']}/checkout", json={
            "email": "other@example.com", "name": "Other", "card_number": "4242424242424242",
            "shipping": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US", "region": "IL"}})
        assert paid.status_code == 201, paid.text

        page = new_context().new_page()
        page.goto(f"/s/{slug}")
        notify = page.locator("#waitlist-sizes button", has_text="Notify me · 40")
        expect_(notify).to_be_visible()
        expect_(page.locator("#waitlist-sizes button", has_text="41")).to_have_count(0)
        page.fill("#waitlist-email", "kim@example.com")
        notify.click()
        expect_(page.locator("#waitlist-text")).to_have_text("40: you're number 1 on the list.")
        expect_(notify).to_have_count(0)
        expect_(page.locator("#waitlist-offer")).to_be_hidden()

        # The host sees who waits for the size beside its stock in the panel's lineup.
        panel = new_context(1440, 900).new_page()
        panel.goto("/host/login")
        panel.get_by_label("Email").fill(HOST_EMAIL)
        panel.get_by_label("Password").fill("browser tests password")
        panel.get_by_role("button", name="Sign in").click()
        panel.wait_for_url("**/host")
        panel.goto(f"/host/shows/{slug}")
        expect_(panel.locator(f'#lineup .chip[data-sku="{sku40}"]')).to_have_text("40: 0 · 1 waiting")

        # The host restocks one pair of 40: it is this page's buyer's, not the sale's.
        host.call("PATCH", f"/api/products/{product['id']}", 200, json={"variants": [{"sku": sku40, "stock": 2}]})
        offer = page.locator("#waitlist-offer")
        expect_(offer).to_be_visible(timeout=8000)
        expect_(page.locator("#waitlist-offer-text")).to_contain_text("40 is back, and held for you at $99.00 until")
        refused = _hold(other, slug, sku40)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "sold_out", refused.text

        page.click("#waitlist-buy")
        expect_(page.locator("#checkout")).to_be_visible()
        expect_(page.locator("#hold-bar")).to_be_visible()
        expect_(page.locator("#checkout-total")).to_have_text("$99.00")
        fill_checkout(page, CARD_PAYS)
        page.click("#checkout-pay")
        expect_(page.locator("#confirmation")).to_be_visible()
        orders = host.orders(slug)
        assert sorted(o["lines"][0]["label"] for o in orders) == ["40", "40"]
        assert len({o["number"] for o in orders}) == 2
    finally:
        other.close()


def test_remind_me_on_a_scheduled_show(host: Host, new_context: Any) -> None:
    expect_ = expect()
    slug = f"later-{uuid.uuid4().hex[:6]}"
    host.call("POST", "/api/shows", 201, json={"title": "Later", "slug": slug, "scheduled_at": 4_102_444_800_000})
    page = new_context().new_page()
    page.goto(f"/s/{slug}")
    expect_(page.locator("#remind-form")).to_be_visible()
    page.fill("#remind-email", "fan@example.com")
    page.click("#remind-button")
    expect_(page.locator("#remind-status-text")).to_have_text(re.compile("we'll email fan@example.com 24 hours and 15 minutes before"))
    page.reload()
    expect_(page.locator("#remind-status-text")).to_contain_text("fan@example.com")
    page.click("#remind-cancel")
    expect_(page.locator("#remind-form")).to_be_visible()
