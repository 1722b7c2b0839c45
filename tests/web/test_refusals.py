"""One refusal convention: every layer's refusals (inventory.errors, live.errors, the media
engine's, web's ApiError) carry a code that is documented, and reach the wire through one handler
in the same body, with Retry-After where retrying helps."""

from __future__ import annotations

import httpx

import inventory.errors
import live.errors
import live.media.engine
from inventory.errors import RateLimited, Refusal, retry_after_seconds
from web.errors import ERROR_CODES, ApiError, refusal_response

from .buying import auth, checkout_body, new_buyer

# Bases with no code of their own (ApiError's code is given, and checked, where it is raised).
ABSTRACT = {Refusal, inventory.errors.InventoryError, live.errors.LiveError, ApiError}


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_refusal_class_has_a_documented_code_and_no_name_has_two_classes() -> None:
    # Import every module that defines refusals, so __subclasses__ sees them all.
    import web.app  # noqa: F401

    refusals = _subclasses(Refusal) - ABSTRACT
    assert {live.errors.NotOnSale, live.media.engine.TooManyViewers, inventory.errors.SoldOut} <= refusals
    undocumented = {cls.__qualname__: cls.code for cls in refusals if cls.code not in ERROR_CODES and cls.code != "oversold"}
    assert not undocumented, undocumented
    names: dict[str, set[str]] = {}
    for cls in refusals:
        names.setdefault(cls.__name__, set()).add(cls.__module__)
    assert {name: modules for name, modules in names.items() if len(modules) > 1} == {}


def test_retry_after_rounds_up_and_the_handler_writes_it() -> None:
    assert [retry_after_seconds(ms) for ms in (1, 999, 1000, 1001, 59_001)] == [1, 1, 1, 2, 60]
    response = refusal_response(RateLimited("slow down", retry_after_ms=1500))
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.body == b'{"error":{"code":"rate_limited","message":"slow down"}}'


async def test_a_hold_id_of_the_wrong_shape_is_404_from_inventory(client: httpx.AsyncClient) -> None:
    buyer = await new_buyer(client)
    for method, path, body in (("DELETE", "/api/holds/not-a-hold", None),
                               ("POST", "/api/holds/not-a-hold/checkout", checkout_body())):
        answer = await client.request(method, path, json=body, headers=auth(buyer))
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", answer.text


async def test_live_refusals_reach_the_wire_through_the_one_handler(client: httpx.AsyncClient, host_token: str) -> None:
    created = await client.post("/api/shows", json={"title": "Bad slug", "slug": "ok-slug"}, headers=auth(host_token))
    assert created.status_code == 201
    taken = await client.post("/api/shows", json={"title": "Again", "slug": "ok-slug"}, headers=auth(host_token))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "slug_taken"
    bad_url = await client.patch("/api/shows/ok-slug", json={"stream_url": "javascript:alert(1)"}, headers=auth(host_token))
    assert bad_url.status_code == 422 and bad_url.json()["error"] == {
        "code": "invalid_request",
        "message": "stream_url: use an absolute http:// or https:// URL (an HLS playlist or a WHEP endpoint)",
    }
    ended = await client.post("/api/shows/ok-slug/end", headers=auth(host_token))
    assert ended.status_code == 200
    restart = await client.post("/api/shows/ok-slug/start", headers=auth(host_token))
    assert restart.status_code == 409 and restart.json()["error"]["code"] == "invalid_state"
    missing = await client.post("/api/shows/no-such-show/start", headers=auth(host_token))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
