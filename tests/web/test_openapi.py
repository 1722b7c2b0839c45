"""The OpenAPI document stays true: every /api route of the app is in it, and it is valid."""

from __future__ import annotations

import httpx
from starlette.routing import Route

from web.openapi import documented_paths


async def test_every_api_route_is_documented(app, client: httpx.AsyncClient) -> None:
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and (route.path.startswith(("/api/", "/whip/", "/whep/", "/webhooks/")) or route.path in ("/healthz", "/readyz", "/metrics"))
        and route.path != "/api/openapi.json"
        for method in (route.methods or set()) - {"HEAD"}
    }
    documented = documented_paths(app.routes)
    missing = served - documented
    assert not missing, f"routes missing from the OpenAPI document: {sorted(missing)}"
    stale = documented - served
    assert not stale, f"documented but not served: {sorted(stale)}"

    doc = (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert "sku_taken" in doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert doc["paths"]["/api/products"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ProductIn")

    from openapi_spec_validator import validate

    validate(doc)


def test_every_success_with_a_body_has_a_schema() -> None:
    """tests/web/test_schemathesis.py checks answers against these schemas; one left out is not checked."""
    from web.app import build_routes
    from web.openapi import answered_without_schema, build_document

    routes = build_routes()
    assert not answered_without_schema(routes)
    doc = build_document("test", routes)
    hold = doc["paths"]["/api/shows/{slug}/holds"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert hold == {"$ref": "#/components/schemas/Hold"}
    assert set(doc["components"]["schemas"]["Hold"]["required"]) == {
        "hold_id", "sku", "quantity", "price_cents", "currency", "offer_id", "expires_at", "remaining"}


async def test_the_test_providers_cards_are_in_the_document(client: httpx.AsyncClient) -> None:
    """Integrators read the test cards in the OpenAPI document, not only in the source."""
    doc = (await client.get("/api/openapi.json")).json()
    card_number = doc["components"]["schemas"]["CheckoutIn"]["properties"]["card_number"]
    for text in (doc["info"]["description"], str(card_number)):
        assert "4242424242424242" in text and "4000000000000002" in text and "invalid_card" in text
