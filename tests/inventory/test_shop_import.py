"""Imports from other shops without HTTP: the real-format exports of tests/fixtures read into
products (sizes, prices in exact minor units, stock, text descriptions), problems named by line or
handle and field, and the all-or-nothing import on the real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.catalog import VariantSpec
from inventory.models import Product
from inventory.shop_import import ImportProblems, ImportTooLarge, import_shop_products, text_of_html
from inventory.shop_links import SHOPIFY, ShopStockLevel
from inventory.shopify_import import MAX_SHOPIFY_BYTES, parse_shopify_products
from inventory.woocommerce_import import parse_woocommerce_products

from .conftest import make_product

FIXTURES = Path(__file__).parent.parent / "fixtures"
SHOPIFY_EXPORT = (FIXTURES / "shopify_products.json").read_bytes()
WOO_EXPORT = (FIXTURES / "woocommerce_products.csv").read_bytes()
WOO_VNECK = (FIXTURES / "woocommerce_vneck_rows.csv").read_bytes()


def problems(call) -> list[tuple]:  # type: ignore[no-untyped-def]
    with pytest.raises(ImportProblems) as caught:
        call()
    return [(*p.where.json().values(), p.field) for p in caught.value.problems]


def test_shopify_export_gives_products_sizes_prices_and_stock() -> None:
    parsed = parse_shopify_products(SHOPIFY_EXPORT, "USD")
    aurora, court, laces = (p.spec for p in parsed.products)
    assert (aurora.title, aurora.price_cents, aurora.currency) == ("Aurora Runner", 12900, "USD")
    assert aurora.variants == (VariantSpec("AUR-41", "EU 41", 5), VariantSpec("AUR-42", "EU 42", 3), VariantSpec("AUR-43", "EU 43", 0))
    assert aurora.image_url == "https://cdn.shopify.com/s/files/1/0612/3456/7890/products/aurora-runner.jpg?v=1696256045"
    # body_html is kept as text: tags gone, entities decoded, list items on their own lines.
    assert aurora.description == "Light, fast and made for long days & late nights.\n\nRecycled mesh upper\n\nFoam midsole"
    assert court.price_cents == 8950 and court.description == "The court shoe, white on white."  # no <script> text
    # Shopify's -1 (oversold there) is 0 units here, and the host is told.
    assert court.variants[1] == VariantSpec("CRT-10", "US 10", 0)
    assert [n.json() for n in parsed.notices] == [
        {"product": "court-classic", "message": "variants[1] (CRT-10): stock -1 in Shopify (oversold there); imported with 0 units"}]
    assert laces.variants == (VariantSpec("LACE-PACK", "One size", 40),) and laces.image_url is None
    at = 1_795_210_887_000  # the export's updated_at, 2026-11-20T16:41:27-05:00
    assert parsed.products[1].shop_levels == {"CRT-9": (12, at), "CRT-10": (-1, at)}


def test_prices_are_exact_minor_units_never_floats() -> None:
    export = json.loads(SHOPIFY_EXPORT)
    for variant in export["products"][0]["variants"]:
        variant["price"] = "0.29"  # 0.29 * 100 is 28.999999999999996 as a float
    parsed = parse_shopify_products(json.dumps(export).encode(), "EUR")
    assert parsed.products[0].spec.price_cents == 29
    export["products"] = export["products"][:1]
    for variant in export["products"][0]["variants"]:
        variant["price"] = "1500"
    assert parse_shopify_products(json.dumps(export).encode(), "JPY").products[0].spec.price_cents == 1500


def test_a_shopify_export_with_one_bad_variant_names_the_product_and_field() -> None:
    export = json.loads(SHOPIFY_EXPORT)
    export["products"][1]["variants"][0]["price"] = "89,50.0"
    export["products"][2]["variants"][0]["sku"] = ""
    export["products"][0]["variants"][2]["price"] = "139.00"  # one product, one price
    assert problems(lambda: parse_shopify_products(json.dumps(export).encode(), "USD")) == [
        ("aurora-runner", "variants[2].price"), ("court-classic", "variants[0].price"), ("lace-pack", "variants[0].sku")]


def test_shopify_catalog_rules_and_repeated_skus_are_named_by_handle() -> None:
    export = json.loads(SHOPIFY_EXPORT)
    export["products"][0]["title"] = "T" * 201
    export["products"][0]["images"][0]["src"] = "javascript:alert(1)"
    export["products"][2]["variants"][0]["sku"] = "AUR-41"
    with pytest.raises(ImportProblems) as caught:
        parse_shopify_products(json.dumps(export).encode(), "USD")
    assert [p.json() for p in caught.value.problems] == [
        {"product": "aurora-runner", "field": "title", "message": "String should have at most 200 characters"},
        {"product": "aurora-runner", "field": "images[0].src", "message": "must be an http(s) URL or a /static/ path"},
        {"product": "lace-pack", "field": "variants[0].sku", "message": "the SKU 'AUR-41' is already at product 'aurora-runner'"},
    ]
    assert caught.value.summary().startswith("product 'aurora-runner': title: String should have at most 200")


@pytest.mark.parametrize(("raw", "field"), [
    (b"not json", "file"), (b'{"product": {}}', "products"), (b'{"products": []}', "products"), (b"[1, 2]", "products"),
])
def test_a_file_that_is_no_shopify_export_is_refused(raw: bytes, field: str) -> None:
    assert problems(lambda: parse_shopify_products(raw, "USD")) == [(field,)]


def test_an_oversized_shopify_file_is_refused_before_it_is_read() -> None:
    with pytest.raises(ImportTooLarge):
        parse_shopify_products(b" " * (MAX_SHOPIFY_BYTES + 1), "USD")


def test_woocommerce_export_gives_variable_products_with_their_variations() -> None:
    parsed = parse_woocommerce_products(WOO_EXPORT, "USD")
    hoodie, logo, tshirt, beanie = parsed.products
    assert hoodie.where.line == 2 and hoodie.spec.title == "Hoodie" and hoodie.spec.price_cents == 4500  # the Regular price
    assert hoodie.spec.variants == (
        VariantSpec("woo-hoodie-red", "Red / No", 5), VariantSpec("woo-hoodie-green", "Green / No", 3),
        VariantSpec("woo-hoodie-blue", "Blue / No", 0), VariantSpec("woo-hoodie-blue-logo", "Blue / Yes", 2))
    assert [w.line for w in hoodie.variant_where] == [7, 8, 9, 12]  # variations after their parent, and one after others
    assert hoodie.spec.image_url == "https://woocommercecore.mystagingwebsite.com/wp-content/uploads/2017/12/hoodie-2.jpg"
    assert hoodie.spec.description.startswith("Pellentesque habitant morbi tristique")
    assert (logo.spec.title, logo.spec.price_cents, logo.spec.variants) == (
        "Hoodie with Logo", 4500, (VariantSpec("woo-hoodie-with-logo", "One size", 7),))
    assert beanie.spec.price_cents == 2000  # its Sale price (18) is not the list price
    assert tshirt.spec.variants == (VariantSpec("woo-tshirt", "One size", 0),)
    assert sorted((n.where.line, n.message.split(":")[0]) for n in parsed.notices) == [
        (4, "woo-tshirt"), (6, "Album"), (10, "Logo Collection"), (11, "WordPress Pennant")]


def test_woocommerce_variations_at_different_prices_name_the_line() -> None:
    # The real sample's V-Neck T-Shirt: red and green at 20, blue at 15.
    assert problems(lambda: parse_woocommerce_products(WOO_EXPORT + WOO_VNECK, "USD")) == [(16, "Regular price")]


def test_woocommerce_problems_are_reported_by_line_and_column() -> None:
    lines = WOO_EXPORT.decode().splitlines()
    lines[4] = lines[4].replace(",1,12,0,0,", ",1,twelve,0,0,")  # the beanie's Stock
    lines[7] = lines[7].replace(",woo-hoodie-green,", ",,")  # a variation without SKU
    lines[2] = lines[2].replace(",,45,", ",,4.5.0,")  # Hoodie with Logo's Regular price
    assert problems(lambda: parse_woocommerce_products("\n".join(lines).encode(), "USD")) == [
        (3, "Regular price"), (5, "Stock"), (8, "SKU")]
    orphan = WOO_EXPORT.decode().replace(",woo-hoodie,,,,,,1,", ",woo-hoodie-x,,,,,,1,")
    assert problems(lambda: parse_woocommerce_products(orphan.encode(), "USD")) == [(7, "Parent")]
    assert problems(lambda: parse_woocommerce_products(b"title,sku\nA,B\n", "USD")) == [(1, "header")] * 6


def test_html_descriptions_become_text() -> None:
    assert text_of_html("<p>Fish &amp; chips</p><p>2 &lt; 3</p><style>p{}</style><script>x()</script>") == "Fish & chips\n\n2 < 3"
    assert text_of_html(None) == "" and text_of_html("plain") == "plain"


async def count_products(sessions: async_sessionmaker, host_id: int) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count(Product.id)).where(Product.host_id == host_id)) or 0)


async def test_shopify_import_creates_every_product_and_remembers_the_shops_counts(sessions: async_sessionmaker) -> None:
    host_id, _ = await make_product(sessions, {"OLD-1": 1})
    async with sessions() as session:
        products = await import_shop_products(session, host_id, parse_shopify_products(SHOPIFY_EXPORT, "USD").products, SHOPIFY)
    assert [(p.title, [(v.sku, v.stock) for v in p.variants]) for p in products] == [
        ("Aurora Runner", [("AUR-41", 5), ("AUR-42", 3), ("AUR-43", 0)]),
        ("Court Classic", [("CRT-9", 12), ("CRT-10", 0)]),
        ("Lace Pack", [("LACE-PACK", 40)])]
    assert await count_products(sessions, host_id) == 4
    async with sessions() as session:
        levels = dict((await session.execute(
            select(ShopStockLevel.sku, ShopStockLevel.quantity).where(ShopStockLevel.host_id == host_id))).all())
    assert levels == {"AUR-41": 5, "AUR-42": 3, "AUR-43": 0, "CRT-9": 12, "CRT-10": -1, "LACE-PACK": 40}


async def test_a_sku_the_host_uses_refuses_the_whole_woocommerce_file(sessions: async_sessionmaker) -> None:
    host_id, _ = await make_product(sessions, {"woo-beanie": 1})
    parsed = parse_woocommerce_products(WOO_EXPORT, "USD")
    async with sessions() as session:
        with pytest.raises(ImportProblems) as caught:
            await import_shop_products(session, host_id, parsed.products)
    assert [p.json() for p in caught.value.problems] == [
        {"line": 5, "field": "SKU", "message": "the SKU 'woo-beanie' is already used by another of your products"}]
    assert await count_products(sessions, host_id) == 1
