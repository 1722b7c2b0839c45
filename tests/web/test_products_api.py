"""The catalog API: validation, SKU uniqueness per host, host isolation, restock rules."""

from __future__ import annotations

import httpx

SNEAKER = {
    "title": "Aurora Runner",
    "price_cents": 12900,
    "currency": "usd",
    "variants": [{"sku": "AUR-42", "label": "EU 42", "stock": 5}, {"sku": "AUR-43", "label": "EU 43", "stock": 2}],
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_create_list_and_restock(client: httpx.AsyncClient, host_token: str) -> None:
    created = await client.post("/api/products", json=SNEAKER, headers=auth(host_token))
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["currency"] == "USD" and [v["sku"] for v in product["variants"]] == ["AUR-42", "AUR-43"]

    listed = await client.get("/api/products", headers=auth(host_token))
    assert [p["id"] for p in listed.json()["products"]] == [product["id"]]

    patched = await client.patch(
        f"/api/products/{product['id']}",
        json={"title": "Aurora Runner OG", "variants": [{"sku": "AUR-42", "stock": 9}, {"sku": "AUR-44", "label": "EU 44", "stock": 1}]},
        headers=auth(host_token),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "Aurora Runner OG"
    assert {v["sku"]: v["stock"] for v in patched.json()["variants"]} == {"AUR-42": 9, "AUR-43": 2, "AUR-44": 1}

    lowered = await client.patch(
        f"/api/products/{product['id']}", json={"variants": [{"sku": "AUR-42", "stock": 1}]}, headers=auth(host_token)
    )
    assert lowered.status_code == 422
    assert lowered.json()["error"]["code"] == "invalid_request"
    assert "stock can only be raised" in lowered.json()["error"]["message"]


async def test_sku_is_unique_per_host_only(client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    assert (await client.post("/api/products", json=SNEAKER, headers=auth(host_token))).status_code == 201
    again = await client.post("/api/products", json=SNEAKER, headers=auth(host_token))
    assert again.status_code == 409 and again.json()["error"]["code"] == "sku_taken"
    other = await client.post("/api/products", json=SNEAKER, headers=auth(other_host_token))
    assert other.status_code == 201


async def test_hosts_cannot_see_or_touch_each_others_products(
    client: httpx.AsyncClient, host_token: str, other_host_token: str
) -> None:
    product = (await client.post("/api/products", json=SNEAKER, headers=auth(host_token))).json()
    assert (await client.get("/api/products", headers=auth(other_host_token))).json()["products"] == []
    touched = await client.patch(f"/api/products/{product['id']}", json={"title": "mine now"}, headers=auth(other_host_token))
    assert touched.status_code == 404 and touched.json()["error"]["code"] == "not_found"


async def test_bad_input_is_refused_with_the_field_named(client: httpx.AsyncClient, host_token: str) -> None:
    bad = await client.post("/api/products", content=b"{not json", headers={**auth(host_token), "content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_json"
    cases = [
        ({**SNEAKER, "price_cents": -1}, "price_cents"),
        ({**SNEAKER, "price_cents": "12.90"}, "price_cents"),
        ({**SNEAKER, "currency": "dollars"}, "currency"),
        ({**SNEAKER, "variants": []}, "variants"),
        ({**SNEAKER, "variants": [{"sku": "A 1", "label": "x", "stock": 1}]}, "variants.0.sku"),
        ({**SNEAKER, "variants": [{"sku": "A1", "label": "x", "stock": -3}]}, "variants.0.stock"),
        ({**SNEAKER, "image_url": "javascript:alert(1)"}, "image_url"),
        ({**SNEAKER, "colour": "red"}, "colour"),
        ({k: v for k, v in SNEAKER.items() if k != "title"}, "title"),
    ]
    for body, field in cases:
        response = await client.post("/api/products", json=body, headers=auth(host_token))
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and error["message"].startswith(field), error
    assert (await client.get("/api/products", headers=auth(host_token))).json()["products"] == []


async def test_host_routes_need_a_valid_token(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/products")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    wrong = await client.get("/api/products", headers=auth("ldh_not-a-token"))
    assert wrong.status_code == 401


async def test_buyers_get_a_token_and_a_cookie(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/buyers", json={"name": "Kim"})
    assert created.status_code == 201
    body = created.json()
    cookie = created.headers["set-cookie"]
    assert "livedrop_buyer=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    me = await client.get("/api/buyers/me", headers=auth(body["token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {"buyer_id": body["buyer_id"], "name": "Kim", "holds": [], "orders": []}
    forged = await client.get("/api/buyers/me", headers=auth(body["token"] + "x"))
    assert forged.status_code == 401
