"""The panel's import with a format choice, in Debian's Chromium against a real livedrop server on
loopback: a WooCommerce export with a bad line names it and imports nothing; the Shopify export,
with the shop's currency, lands as products and says what it changed (stock not tracked)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LivedropProcess, host_token, livedrop_env

CHROMIUM = Path("/usr/bin/chromium")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EMAIL = "shop@example.com"
PASSWORD = "correct horse battery"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[test]')")
expect = sync_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivedropProcess]:
    env = livedrop_env(tmp_path_factory.mktemp("shop-import-browser"))
    host_token(env, EMAIL, PASSWORD)
    process = LivedropProcess(["serve"], env).start()
    yield process
    process.stop()


@pytest.fixture
def page(server: LivedropProcess) -> Iterator["sync_api.Page"]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = chromium.new_context(base_url=server.url)
        context.set_default_timeout(10_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        assert errors == []
        chromium.close()


def test_a_host_imports_a_shops_export_choosing_its_format(page: "sync_api.Page") -> None:
    page.goto("/host")
    page.wait_for_url("**/host/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/host")
    page.locator("#csv-import summary").click()
    expect(page.locator("#csv-currency-field")).to_be_hidden()

    # WooCommerce, with the real sample's V-Neck (variations at two prices): line 16 is named.
    page.locator("#csv-format").select_option("woocommerce-csv")
    page.locator("#csv-currency").fill("usd")
    bad = (FIXTURES / "woocommerce_products.csv").read_bytes() + (FIXTURES / "woocommerce_vneck_rows.csv").read_bytes()
    page.set_input_files("#csv-file", files=[{"name": "wc-product-export.csv", "mimeType": "text/csv", "buffer": bad}])
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#csv-errors li")).to_have_count(1)
    expect(page.locator("#csv-errors li")).to_contain_text("Line 16 · Regular price: differs from line 14")
    expect(page.locator("#product-list")).to_contain_text("No products yet.")

    # Shopify's products.json: three products, and a notice for the variant Shopify had oversold.
    page.locator("#csv-format").select_option("shopify-json")
    page.locator("#csv-currency").fill("USD")
    page.set_input_files("#csv-file", files=[{"name": "products.json", "mimeType": "application/json",
                                              "buffer": (FIXTURES / "shopify_products.json").read_bytes()}])
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#csv-result")).to_contain_text("Imported 3 products")
    expect(page.locator("#csv-notices li")).to_have_text(
        ["Product “court-classic”: variants[1] (CRT-10): stock -1 in Shopify (oversold there); imported with 0 units"])
    expect(page.locator("#product-list > li")).to_have_count(3)
    expect(page.locator("#product-list")).to_contain_text("EU 41 · AUR-41 · 5")
    expect(page.locator("#product-list")).to_contain_text("$129.00")
