"""The pages in German, Polish and Finnish (docs/translations.md): a phone whose browser asks for one
of them (Accept-Language) gets the viewer page, the checkout, the receipt and /orders in it, with no
English string left, money and counts written the language's way (the currency stays the product's),
Polish plurals by Intl.PluralRules; the switch in the page changes the language and a cookie keeps it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from live.i18n import po_path

from .conftest import HOST_EMAIL, Host

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CARD_PAYS = "4242 4242 4242 4242"
# Words that are English and no word of de/pl/fi UI text ("Chat", "Show", "Host", "Name", "Link" are German too).
ENGLISH_WORDS = ("the", "your", "you", "and", "with", "this", "that", "for", "from", "are", "not", "now", "left", "buy",
                 "sold", "out", "offer", "reserved", "check", "pay", "order", "shipping", "email", "size", "send",
                 "watching", "reconnecting", "card", "address", "city", "country", "postal", "total", "free", "back",
                 "receipt", "thank", "orders", "date", "seller", "price", "item", "items")
EMAIL = re.compile(r"\S+@\S+")
IDENTIFIER = re.compile(r"\b[a-z_]+(?:\.[a-z_]+)+\b")  # event kinds ("order.paid") are names, not words
ENGLISH_WORD = re.compile(r"\b(" + "|".join(ENGLISH_WORDS) + r")\b", re.IGNORECASE)

# Every visible text (text nodes of visible elements, and the labels a screen reader or a hover shows),
# except each language's own name in the switch and the product data the host typed.
TEXTS_JS = """() => {
  const out = [];
  const visible = (el) => el.checkVisibility ? el.checkVisibility({ visibilityProperty: true }) : el.offsetParent !== null;
  const skip = (el) => el.closest("option, code, kbd, [data-user-content], .chat-name, #product-title, #checkout-item, .chip-label, .lineup .title, .product-list .title, .show-list .title, #show-title");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    const text = node.textContent.trim();
    if (!text || !el || skip(el) || !visible(el) || el.closest("script, style, noscript")) continue;
    out.push(text);
  }
  for (const el of document.querySelectorAll("[aria-label], [placeholder], [title], img[alt]")) {
    if (skip(el) || !visible(el)) continue;
    for (const attr of ["aria-label", "placeholder", "title", "alt"]) {
      const value = (el.getAttribute(attr) || "").trim();
      if (value) out.push(value);
    }
  }
  out.push(document.title);
  return out;
}"""


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def english_strings() -> list[re.Pattern[str]]:
    """Every English string of the catalogs as a pattern (placeholders match anything)."""
    texts: list[str] = []
    for value in json.loads((ROOT / "static/i18n/en.json").read_text(encoding="utf-8")).values():
        texts.extend(value.values() if isinstance(value, dict) else [value])
    with po_path("en").open("rb") as po:
        for message in read_po(po):
            if message.id:
                texts.extend(message.id if isinstance(message.id, tuple) else [message.id])
    patterns = []
    for text in texts:
        literal = re.split(r"\{\w+\}|%\(\w+\)s|<[^>]+>", text)
        if sum(len(part.strip()) for part in literal) < 4:
            continue  # "{size}, {stock}", "SKU": nothing English to find
        patterns.append(re.compile(r"^\s*" + r".+?".join(re.escape(part) for part in literal) + r"\s*$", re.DOTALL))
    return patterns


def translated_values(locale: str) -> set[str]:
    values: set[str] = set()
    for value in json.loads((ROOT / f"static/i18n/{locale}.json").read_text(encoding="utf-8")).values():
        values.update(value.values() if isinstance(value, dict) else [value])
    with po_path(locale).open("rb") as po:
        for message in read_po(po):
            values.update(message.string if isinstance(message.string, tuple) else [message.string])
    return values


def assert_no_english(page: Any, locale: str, where: str, patterns: list[re.Pattern[str]], own: set[str]) -> None:
    texts = page.evaluate(TEXTS_JS)
    assert len(texts) > 5, f"{where}: nothing read from the page"
    left = []
    for text in texts:
        text = IDENTIFIER.sub("", EMAIL.sub("", text))  # the buyer's address is the buyer's
        if text in own:
            continue  # the same word in both languages ("Chat", "Live", "SKU")
        if ENGLISH_WORD.search(text) or any(p.match(text) for p in patterns):
            left.append(text)
    assert not left, f"{where} in {locale} still has English: {left}"


@pytest.mark.parametrize("locale, accept", [("de", "de-DE,de;q=0.9,en;q=0.5"), ("pl", "pl-PL,pl;q=0.9"), ("fi", "fi-FI,fi;q=0.9,en;q=0.8")])
def test_viewer_checkout_and_receipt_in_one_language(host: Host, new_context: Any, artifacts: Path, locale: str, accept: str) -> None:
    expect_ = expect()
    patterns, own = english_strings(), translated_values(locale)
    product = host.product({"42": 1, "43": 3, "44": 5}, title="Zephyr 9000")
    slug = host.live_show(title="Drop 42", product=product)
    host.offer(slug, product, 9900, duration_s=600)
    context = new_context(locale=f"{locale}-{locale.upper()}", extra_http_headers={"Accept-Language": accept})
    page = context.new_page()
    page.goto(f"/s/{slug}")
    expect_(page.locator("html")).to_have_attribute("lang", locale)
    expect_(page.locator("#product-title")).to_have_text("Zephyr 9000")
    expect_(page.locator("#offer-countdown")).to_be_visible()

    # Money as the language writes it, in the product's currency (never converted).
    expected_price = page.evaluate(f"new Intl.NumberFormat('{locale}', {{style: 'currency', currency: 'USD'}}).format(99)")
    expect_(page.locator("#price-now")).to_have_text(expected_price)
    assert "99,00" in expected_price
    if locale == "pl":  # one, few, many: Intl.PluralRules picks the form per count
        expect_(page.locator('#chips button[data-sku$="-0"] .chip-stock')).to_have_text("Została 1")
        expect_(page.locator('#chips button[data-sku$="-1"] .chip-stock')).to_have_text("Zostały 3")
        expect_(page.locator('#chips button[data-sku$="-2"] .chip-stock')).to_have_text("Zostało 5")
    assert_no_english(page, locale, "the viewer page", patterns, own)

    page.locator('#chips button[data-sku$="-2"]').click()
    page.click("#buy")
    expect_(page.locator("#checkout")).to_be_visible()
    expect_(page.locator("#hold-bar")).to_be_visible()
    page.fill("#co-name", "Kim Lee")
    page.fill("#co-email", "kim@example.com")
    page.fill("#co-line1", "Hauptstraße 1")
    page.fill("#co-city", "Berlin")
    page.fill("#co-postal", "10115")
    page.select_option("#co-country", "DE")
    page.fill("#co-card", CARD_PAYS)
    assert_no_english(page, locale, "the checkout", patterns, own)
    page.screenshot(path=str(artifacts / f"i18n-checkout-{locale}.png"))

    page.click("#checkout-pay")
    expect_(page.locator("#confirmation")).to_be_visible()
    assert_no_english(page, locale, "the confirmation", patterns, own)
    page.click("#receipt-link")
    page.wait_for_url(re.compile(r"/orders/[^/]+$"))
    expect_(page.locator(".order-number")).to_be_visible()
    assert_no_english(page, locale, "the receipt", patterns, own)
    page.goto("/orders")
    expect_(page.locator("#order-list li")).to_have_count(1)
    assert_no_english(page, locale, "/orders", patterns, own)


def test_the_switch_changes_the_language_and_a_cookie_keeps_it(host: Host, new_context: Any) -> None:
    expect_ = expect()
    slug = host.live_show(title="Drop 43")
    page = new_context(extra_http_headers={"Accept-Language": "en-US,en;q=0.9"}).new_page()
    page.goto(f"/s/{slug}")
    expect_(page.locator("html")).to_have_attribute("lang", "en")
    expect_(page.locator("#no-product")).to_have_text("The host will show the next product in a moment.")
    with page.expect_navigation():
        page.select_option("#lang-switch", "fi")
    expect_(page.locator("html")).to_have_attribute("lang", "fi")
    expect_(page.locator("#no-product")).to_have_text("Juontaja esittelee kohta seuraavan tuotteen.")
    expect_(page.locator("#chat-as")).to_have_text(re.compile(r"^Chattailet (vieraana|nimellä viewer-\w+)$"))
    assert any(c["name"] == "livedrop_lang" and c["value"] == "fi" for c in page.context.cookies())
    page.goto("/orders")  # every page, not only the one switched on
    expect_(page.locator("h1")).to_have_text("Tilauksesi")


def test_the_panel_in_german(host: Host, new_context: Any, artifacts: Path) -> None:
    expect_ = expect()
    patterns, own = english_strings(), translated_values("de")
    product = host.product({"42": 2, "43": 4}, title="Zephyr 9001")
    slug = host.live_show(title="Drop 44", product=product)
    host.offer(slug, product, 9900, duration_s=600)
    page = new_context(1440, 900, locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"}).new_page()
    page.goto("/host/login")
    assert_no_english(page, "de", "the sign-in page", patterns, own)
    page.get_by_label("E-Mail").fill(HOST_EMAIL)
    page.get_by_label("Passwort").fill("browser tests password")
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url("**/host")
    expect_(page.locator("#show-list li").first).to_be_visible()
    expect_(page.locator("#product-list li").first).to_be_visible()
    assert_no_english(page, "de", "the panel's home", patterns, own)
    page.goto(f"/host/shows/{slug}")
    expect_(page.locator("#conn-state")).to_have_text("verbunden")
    expect_(page.locator("#offers li").first).to_contain_text("wer zuerst kommt")
    expect_(page.locator("#show-status")).to_have_text("live")
    assert_no_english(page, "de", "the show screen", patterns, own)
    page.screenshot(path=str(artifacts / "i18n-panel-de.png"), full_page=True)
