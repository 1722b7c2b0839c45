"""The checkout sheet prices shipping for the chosen country before paying (Chromium): the card
shows the show's terms, the sheet's total moves with the country, a country the show does not
ship to cannot be paid for, and the receipt shows the shipping, the included VAT and the card."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import Host
from .viewer_support import fill_address

pytestmark = pytest.mark.browser


def test_the_sheet_shows_shipping_for_the_chosen_country_before_paying(host: Host, new_context: Any) -> None:
    from playwright.sync_api import expect

    product = host.product({"41": 3})
    slug = host.live_show(product=product)
    host.call("PUT", f"/api/shows/{slug}/shipping", 200,
              json={"kind": "per_country", "countries": {"US": 700, "CA": 1500}, "tax_rate_bp": 2000, "tax_label": "VAT"})
    page = new_context().new_page()
    page.goto(f"/s/{slug}")
    expect(page.locator("#shipping-line")).to_have_text("Ships to 2 countries, from $7.00 · Prices include VAT (20 %)")

    page.locator("#chips button.chip").first.click()
    page.click("#buy")
    expect(page.locator("#checkout")).to_be_visible()
    fill_address(page)
    # 129.00 + 7.00 = 136.00, of which 20 % VAT: 22.67.
    expect(page.locator("#checkout-shipping")).to_have_text("Shipping to United States: $7.00 · Total $136.00 (incl. VAT $22.67)")
    expect(page.locator("#checkout-pay")).to_have_text("Pay $136.00")

    page.select_option("#co-country", "CA")
    expect(page.locator("#co-region-label")).to_have_text("Province")
    expect(page.locator("#checkout-shipping")).to_have_text(re.compile(r"^Shipping to Canada: \$15\.00 · Total \$144\.00"))
    expect(page.locator("#checkout-total")).to_have_text("$144.00")

    page.select_option("#co-country", "DE")
    expect(page.locator("#co-region-field")).to_be_hidden()
    expect(page.locator("#checkout-shipping")).to_have_text("The seller doesn't ship to Germany. Choose another country.")
    page.fill("#co-card", "4242 4242 4242 4242")
    page.click("#checkout-pay")
    expect(page.locator("#checkout-error")).to_contain_text("doesn't ship to Germany")
    assert host.orders(slug) == []

    page.select_option("#co-country", "CA")
    page.select_option("#co-region", "ON")
    page.click("#checkout-pay")
    expect(page.locator("#confirmation")).to_be_visible()
    [order] = host.orders(slug)
    assert (order["total_cents"], order["shipping_cents"], order["tax_cents"]) == (14400, 1500, 2400)
    assert order["shipping"]["region"] == "ON"

    page.click("#receipt-link")
    expect(page.locator("#order-shipping")).to_have_text("$15.00")
    expect(page.locator("#order-tax")).to_have_text("$24.00")
    expect(page.locator("#order-card")).to_have_text("Visa ending in 4242")
    expect(page.locator("#back-to-show")).to_have_attribute("href", f"/s/{slug}")


def test_the_host_sets_shipping_and_tax_in_the_panel(host: Host, new_context: Any) -> None:
    from playwright.sync_api import expect

    from .conftest import HOST_EMAIL

    page = new_context(1280, 900).new_page()
    page.goto("/host/login")
    page.get_by_label("Email").fill(HOST_EMAIL)
    page.get_by_label("Password").fill("browser tests password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/host")
    page.select_option("#ship-kind", "per_country")
    expect(page.locator("#ship-flat")).to_be_hidden()
    page.fill("#ship-countries", "us 7.00\nCA 15")
    page.fill("#ship-free-over", "200")
    page.fill("#ship-tax-rate", "20")
    page.click("#ship-save")
    expect(page.locator("#flash")).to_contain_text("Shipping settings saved.")
    saved = host.call("GET", "/api/shipping", 200)
    assert (saved["kind"], saved["countries"], saved["free_over_cents"], saved["tax_rate_bp"], saved["source"]) == (
        "per_country", {"US": 700, "CA": 1500}, 20000, 2000, "host")
    page.fill("#ship-countries", "XX 7.00")
    page.click("#ship-save")
    expect(page.locator("#ship-error")).to_contain_text("countries")
    page.reload()
    expect(page.locator("#ship-countries")).to_have_value("US 7.00\nCA 15.00")
    host.call("PUT", "/api/shipping", 200, json={"kind": "none"})  # the module's other tests expect no default
