"""Helpers for tests that buy through the HTTP API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

CARD_PAYS = "4242424242424242"
CARD_DECLINED = "4000000000000002"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def checkout_body(email: str = "kim@example.com", card: str = CARD_PAYS, **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "name": "Kim Lee",
        "card_number": card,
        "shipping": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US", "region": "IL"},
        **extra,
    }


async def live_show_with_product(
    http: httpx.AsyncClient, host_token: str, stock: dict[str, int], *, title: str = "Aurora Runner",
    offer: dict[str, Any] | None = None, slug: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A live show with one product pinned (and an offer on it when ``offer`` is given)."""
    product = await http.post(
        "/api/products",
        json={"title": title, "price_cents": 12900, "currency": "USD",
              "variants": [{"sku": sku, "label": sku, "stock": n} for sku, n in stock.items()]},
        headers=auth(host_token),
    )
    assert product.status_code == 201, product.text
    product_json = product.json()
    show = await http.post("/api/shows", json={"title": "Drop night", **({"slug": slug} if slug else {})}, headers=auth(host_token))
    assert show.status_code == 201, show.text
    slug = show.json()["slug"]
    assert (await http.post(f"/api/shows/{slug}/start", headers=auth(host_token))).status_code == 200
    pinned = await http.put(f"/api/shows/{slug}/pin", json={"product_id": product_json["id"]}, headers=auth(host_token))
    assert pinned.status_code == 200, pinned.text
    if offer is not None:
        made = await http.post(f"/api/shows/{slug}/offers", json={"product_id": product_json["id"], **offer}, headers=auth(host_token))
        assert made.status_code == 201, made.text
    return slug, product_json


async def new_buyer(http: httpx.AsyncClient, name: str = "") -> str:
    response = await http.post("/api/buyers", json={"name": name} if name else {})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


async def hold(http: httpx.AsyncClient, slug: str, buyer: str, sku: str, quantity: int = 1, key: str | None = None) -> httpx.Response:
    return await http.post(
        f"/api/shows/{slug}/holds",
        json={"sku": sku, "quantity": quantity},
        headers={**auth(buyer), "Idempotency-Key": key or uuid.uuid4().hex},
    )
