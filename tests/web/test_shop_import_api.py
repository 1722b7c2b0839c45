"""POST /api/products/import with format=shopify-json and format=woocommerce-csv: the real-format
fixtures land as products; a file with one bad line imports nothing and names it; the currency is
required; livedrop's own CSV stays the default."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.web.buying import auth

FIXTURES = Path(__file__).parent.parent / "fixtures"
SHOPIFY_EXPORT = (FIXTURES / "shopify_products.json").read_bytes()
WOO_EXPORT = (FIXTURES / "woocommerce_products.csv").read_bytes()
WOO_VNECK = (FIXTURES / "woocommerce_vneck_rows.csv").read_bytes()


async def products_of(client: httpx.AsyncClient, token: str) -> list[dict]:
    return list((await client.get("/api/products", headers=auth(token))).json()["products"])


async def test_a_shopify_export_lands_as_products(client: httpx.AsyncClient, host_token: str) -> None:
    answer = await client.post("/api/products/import", params={"format": "shopify-json", "currency": "usd"},
                               content=SHOPIFY_EXPORT, headers={**auth(host_token), "Content-Type": "application/json"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["created"] == 3
    assert answer.json()["notices"] == [
        {"product": "court-classic", "message": "variants[1] (CRT-10): stock -1 in Shopify (oversold there); imported with 0 units"}]
    products = await products_of(client, host_token)
    assert [(p["title"], p["price_cents"], p["currency"], [(v["sku"], v["label"], v["stock"]) for v in p["variants"]])
            for p in products] == [
        ("Aurora Runner", 12900, "USD", [("AUR-41", "EU 41", 5), ("AUR-42", "EU 42", 3), ("AUR-43", "EU 43", 0)]),
        ("Court Classic", 8950, "USD", [("CRT-9", "US 9", 12), ("CRT-10", "US 10", 0)]),
        ("Lace Pack", 900, "USD", [("LACE-PACK", "One size", 40)]),
    ]
    assert "<" not in products[0]["description"] and products[0]["description"].startswith("Light, fast")


async def test_a_woocommerce_export_uploaded_from_a_form_lands_as_products(client: httpx.AsyncClient, host_token: str) -> None:
    answer = await client.post("/api/products/import", files={"file": ("wc-product-export.csv", WOO_EXPORT, "text/csv")},
                               data={"format": "woocommerce-csv", "currency": "EUR"}, headers=auth(host_token))
    assert answer.status_code == 201, answer.text
    assert answer.json()["created"] == 4
    assert sorted(n["line"] for n in answer.json()["notices"]) == [4, 6, 10, 11]
    products = {p["title"]: p for p in await products_of(client, host_token)}
    assert set(products) == {"Hoodie", "Hoodie with Logo", "T-Shirt", "Beanie"}
    hoodie = products["Hoodie"]
    assert (hoodie["price_cents"], hoodie["currency"]) == (4500, "EUR")
    assert [(v["sku"], v["label"], v["stock"]) for v in hoodie["variants"]] == [
        ("woo-hoodie-red", "Red / No", 5), ("woo-hoodie-green", "Green / No", 3),
        ("woo-hoodie-blue", "Blue / No", 0), ("woo-hoodie-blue-logo", "Blue / Yes", 2)]


async def test_a_file_with_a_bad_line_imports_nothing_and_names_it(client: httpx.AsyncClient, host_token: str) -> None:
    answer = await client.post("/api/products/import?format=woocommerce-csv&currency=USD", content=WOO_EXPORT + WOO_VNECK,
                               headers={**auth(host_token), "Content-Type": "text/csv"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert [(e["line"], e["field"]) for e in error["errors"]] == [(16, "Regular price")]
    assert error["message"].startswith("line 16: Regular price: differs from line 14") and "nothing was imported" in error["message"]
    assert await products_of(client, host_token) == []

    bad_shopify = SHOPIFY_EXPORT.replace(b'"price": "89.50"', b'"price": "89.5O"', 1)
    answer = await client.post("/api/products/import?format=shopify-json&currency=USD", content=bad_shopify,
                               headers={**auth(host_token), "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["errors"] == [
        {"product": "court-classic", "field": "variants[0].price", "message": "'89.5O' is not a price like 129.00"}]
    assert await products_of(client, host_token) == []


async def test_the_format_and_the_currency_are_checked(client: httpx.AsyncClient, host_token: str) -> None:
    for query, field in (("format=magento", "format"), ("format=shopify-json", "currency"), ("format=shopify-json&currency=US$", "currency")):
        answer = await client.post(f"/api/products/import?{query}", content=SHOPIFY_EXPORT, headers=auth(host_token))
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["message"].startswith(f"{field}:")
    # Without a format, the body is livedrop's own CSV, as before.
    answer = await client.post("/api/products/import", content=SHOPIFY_EXPORT, headers=auth(host_token))
    assert answer.status_code == 422 and answer.json()["error"]["errors"][0]["line"] == 1
    assert (await client.post("/api/products/import?format=shopify-json&currency=USD", content=SHOPIFY_EXPORT)).status_code == 401
    assert await products_of(client, host_token) == []


async def test_an_upload_over_the_limit_is_refused(client: httpx.AsyncClient, host_token: str) -> None:
    big = b'{"products": [' + b" " * (4 * 1024 * 1024) + b"]}"
    answer = await client.post("/api/products/import?format=shopify-json&currency=USD", content=big, headers=auth(host_token))
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
