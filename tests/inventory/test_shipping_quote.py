"""inventory.shipping: what a profile charges, and the tax inside a tax-inclusive total."""

from __future__ import annotations

import pytest

from inventory.errors import InvalidRequest, NotShippedTo
from inventory.shipping import ShippingProfile, check_address, included_tax, quote


def test_shipping_flat_free_over_and_per_country() -> None:
    assert ShippingProfile().shipping_cents(100, "ZW") == 0
    flat = ShippingProfile(kind="flat", flat_cents=500, free_over_cents=10000)
    assert flat.shipping_cents(9999, "DE") == 500
    assert flat.shipping_cents(10000, "DE") == 0  # "free over": at or above the amount
    per = ShippingProfile(kind="per_country", countries={"US": 700, "CA": 1500}, free_over_cents=20000)
    assert per.shipping_cents(100, "us") == 700
    assert per.shipping_cents(100, "CA") == 1500
    assert per.shipping_cents(20000, "CA") == 0
    with pytest.raises(NotShippedTo):
        per.shipping_cents(100, "DE")
    with pytest.raises(NotShippedTo):
        per.shipping_cents(50000, "DE")  # free shipping does not reach a country not shipped to


def test_included_tax_rounds_halves_up_once_over_the_order() -> None:
    assert included_tax(12000, 2000) == 2000
    assert included_tax(13400, 2000) == 2233  # 2233.33
    assert included_tax(6, 2000) == 1  # exactly 1.0
    assert included_tax(3, 2000) == 1  # 0.5 -> 1
    assert included_tax(2, 2000) == 0  # 0.33 -> 0
    assert included_tax(10000, 0) == 0
    money = quote(ShippingProfile(kind="flat", flat_cents=500, tax_rate_bp=2000), 12900, "FR")
    assert (money.total_cents, money.shipping_cents, money.tax_cents, money.tax_label) == (13400, 500, 2233, "VAT")
    assert quote(ShippingProfile(), 12900, "FR").tax_label is None


def test_profiles_and_addresses_are_checked() -> None:
    with pytest.raises(InvalidRequest):
        ShippingProfile(kind="per_country")
    with pytest.raises(InvalidRequest):
        ShippingProfile(kind="per_country", countries={"UK": 500})  # GB is the code
    assert ShippingProfile.from_json(ShippingProfile(kind="flat", flat_cents=5).to_json()) == ShippingProfile(kind="flat", flat_cents=5)
    assert check_address({"country": "ca", "region": "on"})["region"] == "ON"
    assert check_address({"country": "de"}) == {"country": "DE"}
    with pytest.raises(InvalidRequest, match="shipping.region"):
        check_address({"country": "US"})
    with pytest.raises(InvalidRequest, match="shipping.country"):
        check_address({"country": "XX"})


def test_the_card_on_the_receipt_is_what_the_provider_says() -> None:
    from inventory.payments import card_brand
    from inventory.stripe_payments import _card_of

    assert (card_brand("4242424242424242"), card_brand("5555555555554444"), card_brand("378282246310005")) == (
        "Visa", "Mastercard", "American Express")
    assert card_brand("9999") == ""
    stripe_shaped = {"latest_charge": {"payment_method_details": {"card": {"brand": "amex", "last4": "0005"}}}}
    assert _card_of(stripe_shaped) == ("American Express", "0005")
    assert _card_of({"latest_charge": "ch_123"}) == ("", "")  # not expanded: unknown
    assert _card_of({"charges": {"data": [{"payment_method_details": {"card": {"brand": "visa", "last4": "4242"}}}]}}) == ("Visa", "4242")
