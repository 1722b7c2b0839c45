"""POST /api/media/auth answers MediaMTX's HTTP authorization (authMethod: http) from livedrop's
own host tokens. Every request here has MediaMTX's documented shape:
{"user", "password", "token", "ip", "action", "path", "protocol", "id", "query"}; any 2xx lets the
client in, anything else refuses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.web.buying import auth
from web.routes.media_auth import FAILED_PUBLISH_LIMIT

URL = "/api/media/auth"


def mediamtx(action: str, path: str, *, user: str = "", password: str = "", token: str = "", query: str = "",
             protocol: str = "webrtc", ip: str = "203.0.113.7") -> dict[str, Any]:
    """A request exactly as MediaMTX sends it."""
    return {"user": user, "password": password, "token": token, "ip": ip, "action": action, "path": path,
            "protocol": protocol, "id": "5d8a2c6e-8f0b-4a9e-9a51-2f3c0f1d2e3a", "query": query}


async def show(http: httpx.AsyncClient, token: str, slug: str, *, start: bool = False, end: bool = False) -> str:
    made = await http.post("/api/shows", json={"title": "Drop night", "slug": slug}, headers=auth(token))
    assert made.status_code == 201, made.text
    if start or end:
        assert (await http.post(f"/api/shows/{slug}/start", headers=auth(token))).status_code == 200
    if end:
        assert (await http.post(f"/api/shows/{slug}/end", headers=auth(token))).status_code == 200
    return slug


def allowed(answer: httpx.Response) -> bool:
    return 200 <= answer.status_code < 300


async def test_the_owners_token_may_publish_however_mediamtx_passes_it(client: httpx.AsyncClient, host_token: str) -> None:
    slug = await show(client, host_token, "ana-live")
    ways = [
        mediamtx("publish", slug, token=host_token, protocol="webrtc"),  # WHIP, Authorization: Bearer <token>
        mediamtx("publish", slug, user="obs", password=host_token, protocol="srt"),  # SRT streamid publish:slug:obs:<token>
        mediamtx("publish", slug, user="ana", password=host_token, query=f"user=ana&pass={host_token}", protocol="rtmp"),
        mediamtx("publish", slug, query=f"token={host_token}", protocol="rtmp"),  # only in the query
        mediamtx("publish", slug, query=f"jwt={host_token}", protocol="rtsp"),
    ]
    for body in ways:
        answer = await client.post(URL, json=body)
        assert allowed(answer), (body, answer.status_code, answer.text)


async def test_publishing_is_refused_to_everyone_else(
    client: httpx.AsyncClient, host_token: str, other_host_token: str
) -> None:
    slug = await show(client, host_token, "ana-only")
    await show(client, other_host_token, "bo-show")
    cases = {
        "another host's token": (mediamtx("publish", slug, token=other_host_token), 404, "not_found"),
        "no token (RTSP asks again after a 401)": (mediamtx("publish", slug), 401, "unauthorized"),
        "a made-up token": (mediamtx("publish", slug, token="ldh_" + "x" * 43), 401, "unauthorized"),
        "a buyer-looking token as password": (mediamtx("publish", slug, user="u", password="not-a-token"), 401, "unauthorized"),
        "the owner's token on another host's show": (mediamtx("publish", "bo-show", token=host_token), 404, "not_found"),
        "an unknown show": (mediamtx("publish", "no-such-show", token=host_token), 404, "not_found"),
        "a path that is not a slug": (mediamtx("publish", "live/ana-only", token=host_token), 404, "not_found"),
    }
    for what, (body, status, code) in cases.items():
        answer = await client.post(URL, json={**body, "ip": f"198.51.100.{len(what)}"})  # apart from the rate limit
        assert answer.status_code == status, (what, answer.status_code, answer.text)
        assert answer.json()["error"]["code"] == code, what
    # The same token is still good for its own show (nothing above changed that).
    assert allowed(await client.post(URL, json=mediamtx("publish", slug, token=host_token, ip="192.0.2.1")))


async def test_reading_needs_a_live_show_and_playback_a_live_or_ended_one(
    client: httpx.AsyncClient, host_token: str, other_host_token: str
) -> None:
    await show(client, host_token, "soon")
    await show(client, host_token, "on-air", start=True)
    await show(client, host_token, "over", end=True)
    for protocol in ("hls", "webrtc", "rtsp"):
        assert allowed(await client.post(URL, json=mediamtx("read", "on-air", protocol=protocol)))
    assert allowed(await client.post(URL, json=mediamtx("playback", "on-air")))
    assert allowed(await client.post(URL, json=mediamtx("playback", "over")))

    over = await client.post(URL, json=mediamtx("read", "over", protocol="hls"))
    assert over.status_code == 409 and over.json()["error"]["code"] == "invalid_state"
    soon = await client.post(URL, json=mediamtx("read", "soon"))
    assert soon.status_code == 409
    assert (await client.post(URL, json=mediamtx("playback", "soon"))).status_code == 409
    unknown = await client.post(URL, json=mediamtx("read", "nobody-here"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert (await client.post(URL, json=mediamtx("read", ""))).status_code == 404
    # The host previews its own show before it starts; another host's token does not.
    assert allowed(await client.post(URL, json=mediamtx("read", "soon", token=host_token)))
    assert (await client.post(URL, json=mediamtx("read", "soon", token=other_host_token))).status_code == 409


@pytest.mark.parametrize("action", ["api", "metrics", "pprof", "", "PUBLISH", "delete"])
async def test_other_actions_are_always_refused(client: httpx.AsyncClient, host_token: str, action: str) -> None:
    slug = await show(client, host_token, "busy", start=True)
    answer = await client.post(URL, json=mediamtx(action, slug, token=host_token))
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "action_refused", answer.text


async def test_bad_bodies_are_refused_with_a_clear_error(client: httpx.AsyncClient) -> None:
    malformed = await client.post(URL, content=b"{\"action\": ")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    wrong_type = await client.post(URL, json={**mediamtx("read", "x"), "path": 7})
    assert wrong_type.status_code == 422 and wrong_type.json()["error"]["message"].startswith("path")
    # A field MediaMTX adds one day is ignored, not refused (refusing would lock every publisher out).
    extra = await client.post(URL, json={**mediamtx("read", "x"), "newField": 1})
    assert extra.status_code == 404


async def test_failed_publish_attempts_are_limited_per_client_address(client: httpx.AsyncClient, host_token: str) -> None:
    slug = await show(client, host_token, "guarded")
    attacker, neighbour = "203.0.113.66", "203.0.113.67"
    for _ in range(FAILED_PUBLISH_LIMIT.allowed):
        answer = await client.post(URL, json=mediamtx("publish", slug, token="ldh_guess", ip=attacker))
        assert answer.status_code == 401
    blocked = await client.post(URL, json=mediamtx("publish", slug, token="ldh_guess", ip=attacker))
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) > 0
    # Past the limit even the right token is not looked at from that address...
    assert (await client.post(URL, json=mediamtx("publish", slug, token=host_token, ip=attacker))).status_code == 429
    # ...while other addresses, and viewers, are not affected; and successes never count.
    for _ in range(FAILED_PUBLISH_LIMIT.allowed + 2):
        assert allowed(await client.post(URL, json=mediamtx("publish", slug, token=host_token, ip=neighbour)))
    assert (await client.post(URL, json=mediamtx("read", slug, ip=attacker))).status_code == 409  # scheduled: refused, not 429
