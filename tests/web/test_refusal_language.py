"""API refusals in the request's language (web/refusal_language.py): the code stays, the message is
German, Polish or Finnish when the page's language (the switch's cookie, else Accept-Language) is,
on the handler's path, the buy button's hot path and the 404 of an unknown route; English requests
keep the raised message word for word."""

from __future__ import annotations

import uuid

import httpx
import pytest

from live.i18n import tr
from web.errors import ERROR_CODES
from web.refusal_language import INVALID_FIELD, SENTENCES, refusal_message

from .buying import auth, hold, live_show_with_product, new_buyer


def test_every_code_has_a_sentence_in_each_language() -> None:
    assert set(SENTENCES) == set(ERROR_CODES), "a new error code needs a sentence (and its translations)"
    for code, sentence in SENTENCES.items():
        for locale in ("de", "pl", "fi"):
            assert tr(locale, sentence) != sentence, f"{code} is English in {locale}"
    assert refusal_message("de", "invalid_request", "price_cents: must be at least 0") == tr("de", INVALID_FIELD, field="price_cents")
    assert refusal_message("en", "sold_out", "sold out") == "sold out"
    assert refusal_message("pl", "no_such_code", "as raised") == "as raised"


@pytest.mark.parametrize(("headers", "locale"), [
    ({"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}, "de"),
    ({"Accept-Language": "de", "Cookie": "livedrop_lang=fi"}, "fi"),  # the switch beats the header
])
async def test_malformed_json_and_a_field_in_the_pages_language(client: httpx.AsyncClient, host_token: str,
                                                               headers: dict[str, str], locale: str) -> None:
    malformed = await client.post("/api/shows", content=b"{nope", headers={**auth(host_token), "Content-Type": "application/json", **headers})
    assert malformed.status_code == 400, malformed.text
    assert malformed.json()["error"] == {"code": "malformed_json", "message": tr(locale, SENTENCES["malformed_json"])}
    bad = await client.post("/api/products", headers={**auth(host_token), **headers}, json={
        "title": "Runner", "price_cents": -5, "currency": "USD", "variants": [{"sku": "X-1", "label": "42", "stock": 1}]})
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "invalid_request"
    assert bad.json()["error"]["message"] == tr(locale, INVALID_FIELD, field="price_cents") != tr("en", INVALID_FIELD, field="price_cents")
    missing = await client.get("/api/no-such-route", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"] == {"code": "not_found", "message": tr(locale, SENTENCES["not_found"])}


async def test_english_keeps_the_raised_message(client: httpx.AsyncClient, host_token: str) -> None:
    for headers in ({}, {"Accept-Language": "en-GB,en;q=0.9"}, {"Accept-Language": "sv"}):
        bad = await client.post("/api/products", headers={**auth(host_token), **headers}, json={
            "title": "Runner", "price_cents": -5, "currency": "USD", "variants": [{"sku": "X-1", "label": "42", "stock": 1}]})
        assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("price_cents: "), bad.text


async def test_the_buy_buttons_refusals_in_each_language(client: httpx.AsyncClient, host_token: str) -> None:
    sku = f"RL-{uuid.uuid4().hex[:6]}"
    slug, _ = await live_show_with_product(client, host_token, {sku: 1})
    first = await new_buyer(client)
    assert (await hold(client, slug, first, sku)).status_code == 201
    buyer = await new_buyer(client)
    english = await hold(client, slug, buyer, sku, key="en")
    assert english.status_code == 409 and english.json()["error"]["code"] == "sold_out", english.text
    for n, locale in enumerate(("pl", "de", "fi")):
        answer = await client.post(f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 1},
                                   headers={**auth(buyer), "Idempotency-Key": f"k{n}", "Accept-Language": locale})
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"] == {"code": "sold_out", "message": tr(locale, SENTENCES["sold_out"])}
    again = await hold(client, slug, buyer, sku, key="en2")  # the remembered bodies are per language
    assert again.json() == english.json()
