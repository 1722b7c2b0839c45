"""Products from a Shopify export: the Admin REST API's ``products.json`` (``{"products": [...]}``,
each with title, body_html, handle, variants[] (sku, price "129.00", option1-3, title,
inventory_quantity) and images[] (src)). The same product shape arrives in the
``products/update`` webhook (inventory.shopify_sync reads it with ``read_variants``).

Problems are named by the product's handle and the field's path in Shopify's JSON
(``variants[1].price``); the shared checks and the all-or-nothing import are inventory.shop_import's.

    parsed = parse_shopify_products(raw, "USD")   # or raises ImportProblems
    products = await import_shop_products(session, host_id, parsed.products, SHOPIFY)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from inventory.catalog import ProductSpec, VariantSpec
from inventory.csv_import import price_cents
from inventory.shop_links import shop_time_ms
from inventory.shop_import import (
    FILE,
    ImportProblem,
    ImportProblems,
    ImportTooLarge,
    Notice,
    ShopFile,
    ShopProduct,
    Where,
    check_products,
    text_of_html,
)

MAX_SHOPIFY_BYTES = 4 * 1024 * 1024  # a page of 250 products with their variants fits
MAX_SHOPIFY_PRODUCTS = 1000
ONE_SIZE = "One size"  # the label of Shopify's "Default Title" variant (a product without options)
FIELDS = {
    "title": "title", "description": "body_html", "image_url": "images[0].src", "price_cents": "variants[0].price",
    "currency": "currency", "variants": "variants",
    "sku": "variants[{i}].sku", "label": "variants[{i}].title", "stock": "variants[{i}].inventory_quantity",
}


@dataclass(frozen=True)
class ShopifyVariant:
    """One variant as Shopify describes it, read but not yet checked against livedrop's rules."""

    sku: str
    label: str
    price_cents: int | None  # None: the price was not readable (a problem was recorded)
    quantity: int | None  # Shopify's inventory_quantity; None when Shopify does not track it


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _image(product: dict[str, Any]) -> str | None:
    images = product.get("images")
    if isinstance(images, list) and images and isinstance(images[0], dict) and _text(images[0].get("src")):
        return _text(images[0].get("src"))
    image = product.get("image")
    if isinstance(image, dict) and _text(image.get("src")):
        return _text(image.get("src"))
    return None


def _label(variant: dict[str, Any]) -> str:
    title = _text(variant.get("title"))
    if not title:
        title = " / ".join(_text(variant.get(f"option{n}")) for n in (1, 2, 3) if _text(variant.get(f"option{n}")))
    return ONE_SIZE if title in ("", "Default Title") else title


def read_variants(product: dict[str, Any], currency: str, where: Where,
                  problems: list[ImportProblem]) -> list[ShopifyVariant]:
    """The variants of one Shopify product; what cannot be read is added to ``problems``."""
    raw = product.get("variants")
    if not isinstance(raw, list):
        problems.append(ImportProblem(where, "variants", "a list of variants is required"))
        return []
    found: list[ShopifyVariant] = []
    for i, variant in enumerate(raw):
        if not isinstance(variant, dict):
            problems.append(ImportProblem(where, f"variants[{i}]", "must be an object"))
            continue
        sku = _text(variant.get("sku"))
        if not sku:
            problems.append(ImportProblem(where, f"variants[{i}].sku", "a SKU is required: give every variant a SKU in Shopify"))
        price_raw = variant.get("price")
        price: int | None = None
        if isinstance(price_raw, (str, int)) and not isinstance(price_raw, bool):
            try:
                price = price_cents(str(price_raw), currency)  # "129.00" -> 12900, as a string: no float
            except ValueError as exc:
                problems.append(ImportProblem(where, f"variants[{i}].price", str(exc)))
        else:
            problems.append(ImportProblem(where, f"variants[{i}].price", "a price like \"129.00\" is required"))
        quantity = variant.get("inventory_quantity")
        if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
            problems.append(ImportProblem(where, f"variants[{i}].inventory_quantity", "must be a whole number"))
            quantity = None
        found.append(ShopifyVariant(sku, _label(variant), price, quantity))
    return found


def read_product(product: dict[str, Any], index: int, currency: str, problems: list[ImportProblem],
                 notices: list[Notice]) -> ShopProduct | None:
    handle = _text(product.get("handle")) or f"#{index + 1}"
    where = Where(product=handle)
    before = len(problems)
    title = _text(product.get("title"))
    if not title:
        problems.append(ImportProblem(where, "title", "a title is required"))
    variants = read_variants(product, currency, where, problems)
    prices = [v.price_cents for v in variants]
    for i, price in enumerate(prices[1:], start=1):
        if price is not None and prices[0] is not None and price != prices[0]:
            problems.append(ImportProblem(
                where, f"variants[{i}].price",
                f"differs from variants[0].price ({variants[0].price_cents} vs {price} in minor units): livedrop sells a "
                "product at one price; make the prices equal or import the variants as separate products"))
    if len(problems) > before or not variants or prices[0] is None:
        return None
    specs: list[VariantSpec] = []
    levels: dict[str, tuple[int, int | None]] = {}
    seen_at = shop_time_ms(product.get("updated_at"))
    for i, v in enumerate(variants):
        if v.quantity is None or v.quantity < 0:
            reason = "not tracked by Shopify" if v.quantity is None else f"{v.quantity} in Shopify (oversold there)"
            notices.append(Notice(where, f"variants[{i}] ({v.sku}): stock {reason}; imported with 0 units"))
        units = max(v.quantity or 0, 0)
        specs.append(VariantSpec(v.sku, v.label, units))
        if v.quantity is not None:
            levels[v.sku] = (v.quantity, seen_at)
    spec = ProductSpec(
        title=title, price_cents=prices[0], currency=currency, variants=tuple(specs),
        description=text_of_html(product.get("body_html") if isinstance(product.get("body_html"), str) else ""),
        image_url=_image(product),
    )
    return ShopProduct(where, spec, tuple(where for _ in specs), FIELDS, levels)


def parse_shopify_products(raw: bytes, currency: str) -> ShopFile:
    """The products of a ``products.json`` export, priced in the shop's ``currency`` (the export
    does not say it), or ImportProblems listing every problem found."""
    if len(raw) > MAX_SHOPIFY_BYTES:
        raise ImportTooLarge(MAX_SHOPIFY_BYTES)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ImportProblems([ImportProblem(FILE, "file", f"not a JSON file: {exc}")]) from None
    products = data.get("products") if isinstance(data, dict) else None
    if not isinstance(products, list):
        raise ImportProblems([ImportProblem(FILE, "products", 'not a Shopify export: expected {"products": [...]}')])
    if not products:
        raise ImportProblems([ImportProblem(FILE, "products", "the file has no products")])
    if len(products) > MAX_SHOPIFY_PRODUCTS:
        raise ImportProblems([ImportProblem(FILE, "products", f"at most {MAX_SHOPIFY_PRODUCTS} products per import")])
    problems: list[ImportProblem] = []
    notices: list[Notice] = []
    parsed: list[ShopProduct] = []
    handles: dict[str, int] = {}
    for index, product in enumerate(products):
        if not isinstance(product, dict):
            problems.append(ImportProblem(Where(product=f"#{index + 1}"), f"products[{index}]", "must be an object"))
            continue
        handle = _text(product.get("handle"))
        if handle and handle in handles:
            problems.append(ImportProblem(Where(product=handle), "handle", f"the handle is also product #{handles[handle] + 1}"))
            continue
        handles[handle] = index
        item = read_product(product, index, currency, problems, notices)
        if item is not None:
            parsed.append(item)
    check_products(parsed, problems)
    if problems:
        raise ImportProblems(problems)
    return ShopFile(parsed, notices)
