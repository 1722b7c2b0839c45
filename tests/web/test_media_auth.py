"""POST /api/media/auth answers MediaMTX's HTTP authorization (authMethod: http) from livedrop's
own host tokens. Every request here has MediaMTX's documented shape:
{"user", "password", "token", "ip", "action", "path", "protocol", "id", "query"}; any 2xx lets the
client in, anything else refuses. The ``client`` fixture calls from 127.0.0.1, where MediaMTX is
trusted by default; the tests of who may call build their own app and pick the caller's address
(the TCP peer) with ``httpx.ASGITransport(client=...)``."""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.applications import Starlette

from tests.conftest import TEST_SECRET
from tests.web.buying import auth
from web.routes import media_auth as media_auth_module
from web.routes.media_auth import FAILED_PUBLISH_LIMIT, FAILED_PUBLISH_PER_CALLER
from web.settings import LOOPBACK, Settings, SettingsError

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
    """Through one MediaMTX (the trusted caller), per client address as MediaMTX reports it."""
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


# -- who may call the hook, and whose budget a failure spends ------------------------------------------

HOST_IP = "203.0.113.10"  # where the real host's encoder publishes from, as MediaMTX reports it
MEDIAMTX = "127.0.0.1"  # trusted by default
STRANGER = "198.51.100.20"  # reaches livedrop's port, but is not MediaMTX
SECRET = "mtx-Secret_0123456789.abc~"
BAD = "ldh_" + "g" * 43  # a well-formed guess

OpenApp = Callable[..., Awaitable[Starlette]]


@pytest.fixture
async def open_app(
    data_dir: Path, redis_url: str, database_url: str, redis: aioredis.Redis, engine: AsyncEngine,
    sessions: async_sessionmaker,
) -> AsyncIterator[OpenApp]:
    """Opens the real app with extra environment variables read the way ``livedrop serve`` reads them."""
    from web.app import create_app
    from web.services import Services

    async with contextlib.AsyncExitStack() as stack:

        async def opened(**env: str) -> Starlette:
            base = {"LIVEDROP_DATA_DIR": str(data_dir), "SECRET_KEY": TEST_SECRET,
                    "DATABASE_URL": os.environ.get("DATABASE_URL", "")}
            settings = Settings.from_env({**base, **env}).with_overrides(redis_url=redis_url, database_url=database_url)
            app = create_app(settings, Services(settings, redis, engine, sessions))
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield opened


@contextlib.asynccontextmanager
async def calling_from(app: Starlette, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(peer, 41000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_a_caller_neither_listed_nor_with_the_secret_is_refused_and_spends_no_budget(
    open_app: OpenApp, host_token: str
) -> None:
    app = await open_app()  # defaults: loopback only, no secret
    async with calling_from(app, MEDIAMTX) as mediamtx_http, calling_from(app, STRANGER) as stranger:
        slug = await show(mediamtx_http, host_token, "guarded-host", start=True)
        # The stranger may ask nothing, not even with the right token or about a live show...
        for body in (mediamtx("publish", slug, token=host_token), mediamtx("read", slug), mediamtx("playback", slug)):
            answer = await stranger.post(URL, json=body)
            assert answer.status_code == 403 and answer.json()["error"]["code"] == "hook_forbidden", answer.text
        # ...and thirty wrong tokens "from" the host's address, the lockout, spend nothing.
        for _ in range(30):
            assert (await stranger.post(URL, json=mediamtx("publish", slug, token=BAD, ip=HOST_IP))).status_code == 403
        assert allowed(await mediamtx_http.post(URL, json=mediamtx("publish", slug, token=host_token, ip=HOST_IP)))
        # The host's address still has its whole budget through MediaMTX (nothing above was counted).
        for _ in range(FAILED_PUBLISH_LIMIT.allowed):
            assert (await mediamtx_http.post(URL, json=mediamtx("publish", slug, token=BAD, ip=HOST_IP))).status_code == 401
        assert (await mediamtx_http.post(URL, json=mediamtx("publish", slug, token=BAD, ip=HOST_IP))).status_code == 429
    # The default trust is loopback, however the listener spells it; an address that is no IP is nobody.
    for peer, trusted in (("::1", True), ("::ffff:127.0.0.1", True), ("127.0.0.2", False), ("testclient", False)):
        async with calling_from(app, peer) as http:
            answer = await http.post(URL, json=mediamtx("read", slug))
        assert allowed(answer) is trusted and (trusted or answer.status_code == 403), (peer, answer.status_code)


async def test_one_trusted_caller_cannot_lock_out_the_clients_of_another(open_app: OpenApp, host_token: str) -> None:
    # Two trusted callers: MediaMTX on loopback, and some other listed host (a second MediaMTX, or one
    # taken over). The other one can write any ip in the body, the host's included.
    app = await open_app(LIVEDROP_MEDIA_AUTH_ADDRESSES="127.0.0.1, 10.0.0.0/24")
    async with calling_from(app, MEDIAMTX) as mediamtx_http, calling_from(app, "10.0.0.9") as other:
        slug = await show(mediamtx_http, host_token, "two-callers")
        for _ in range(FAILED_PUBLISH_LIMIT.allowed):
            assert (await other.post(URL, json=mediamtx("publish", slug, token=BAD, ip=HOST_IP))).status_code == 401
        assert (await other.post(URL, json=mediamtx("publish", slug, token=BAD, ip=HOST_IP))).status_code == 429
        assert (await other.post(URL, json=mediamtx("publish", slug, token=host_token, ip=HOST_IP))).status_code == 429
        # The real host, behind the real MediaMTX, is not locked out by the eleven failures above.
        assert allowed(await mediamtx_http.post(URL, json=mediamtx("publish", slug, token=host_token, ip=HOST_IP)))


async def test_invented_client_addresses_are_capped_per_caller(open_app: OpenApp, host_token: str) -> None:
    app = await open_app(LIVEDROP_MEDIA_AUTH_ADDRESSES="127.0.0.1,10.0.0.9")
    async with calling_from(app, MEDIAMTX) as mediamtx_http, calling_from(app, "10.0.0.9") as other:
        slug = await show(mediamtx_http, host_token, "sprayed")
        # The host published from its address before the spray (an encoder that will reconnect).
        assert allowed(await mediamtx_http.post(URL, json=mediamtx("publish", slug, token=host_token, ip=HOST_IP)))
        # Thirty wrong tokens from thirty invented addresses: past the cap, refused without a look.
        answers = [(await mediamtx_http.post(URL, json=mediamtx("publish", slug, token=BAD, ip=f"192.0.2.{i}"))).status_code
                   for i in range(1, 31)]
        cap = FAILED_PUBLISH_PER_CALLER.allowed
        assert cap < 30 and answers == [401] * cap + [429] * (30 - cap), answers
        # A new address waits out the window, even with the right token (the price of the cap)...
        assert (await mediamtx_http.post(URL, json=mediamtx("publish", slug, token=host_token, ip="192.0.2.200"))).status_code == 429
        # ...but the address that published lately is not locked out by strangers' failures...
        assert allowed(await mediamtx_http.post(URL, json=mediamtx("publish", slug, token=host_token, ip=HOST_IP)))
        # ...nor is any client of another caller: the cap is that caller's own.
        assert allowed(await other.post(URL, json=mediamtx("publish", slug, token=host_token, ip="192.0.2.200")))


async def test_an_ipv6_client_counts_as_its_whole_64(client: httpx.AsyncClient, host_token: str) -> None:
    slug = await show(client, host_token, "six")
    for i in range(1, FAILED_PUBLISH_LIMIT.allowed + 1):  # one client, rotating through its own /64
        assert (await client.post(URL, json=mediamtx("publish", slug, token=BAD, ip=f"2001:db8:1:2::{i:x}"))).status_code == 401
    assert (await client.post(URL, json=mediamtx("publish", slug, token=host_token, ip="2001:db8:1:2:ffff::1"))).status_code == 429
    assert allowed(await client.post(URL, json=mediamtx("publish", slug, token=host_token, ip="2001:db8:1:3::1")))


async def test_the_shared_secret_admits_a_caller_from_any_address(open_app: OpenApp, host_token: str) -> None:
    app = await open_app(LIVEDROP_MEDIA_AUTH_SECRET=SECRET)  # no addresses listed: the secret is asked of all
    async with calling_from(app, "192.0.2.50") as remote, calling_from(app, MEDIAMTX) as local:
        slug = await show(remote, host_token, "with-secret")
        publish = mediamtx("publish", slug, token=host_token, ip=HOST_IP)
        # authHTTPAddress: http://livedrop:8000/api/media/auth?secret=...   or   http://mediamtx:...@livedrop:8000/...
        assert allowed(await remote.post(URL, params={"secret": SECRET}, json=publish))
        assert allowed(await remote.post(URL, json=publish, auth=httpx.BasicAuth("mediamtx", SECRET)))
        assert allowed(await remote.post(URL, json=publish, auth=httpx.BasicAuth(SECRET, "")))
        wrong: dict[str, dict[str, Any]] = {
            "no secret": {}, "no secret, even from loopback": {"local": True},
            "another secret": {"params": {"secret": "x" * len(SECRET)}},
            "a prefix of it": {"params": {"secret": SECRET[:-1]}},
            "it and more": {"params": {"secret": SECRET + "x"}},
            "not ASCII": {"params": {"secret": "é" * len(SECRET)}},
            "as the Basic user, with a password": {"auth": httpx.BasicAuth(SECRET, "other")},
            "a wrong Basic password": {"auth": httpx.BasicAuth("mediamtx", SECRET.upper())},
        }
        for what, how in wrong.items():
            http = local if how.pop("local", False) else remote
            for _ in range(3):  # wrong tokens claiming the host's address, with each wrong secret
                answer = await http.post(URL, json=mediamtx("publish", slug, token=BAD, ip=HOST_IP), **how)
                assert answer.status_code == 403 and answer.json()["error"]["code"] == "hook_forbidden", what
        # None of those 24 failures was counted: the host's address has its whole budget.
        for _ in range(FAILED_PUBLISH_LIMIT.allowed):
            answer = await remote.post(URL, params={"secret": SECRET}, json=mediamtx("publish", slug, token=BAD, ip=HOST_IP))
            assert answer.status_code == 401
    # Listing addresses as well trusts them without the secret.
    both = await open_app(LIVEDROP_MEDIA_AUTH_SECRET=SECRET, LIVEDROP_MEDIA_AUTH_ADDRESSES="127.0.0.1")
    async with calling_from(both, MEDIAMTX) as local:
        assert allowed(await local.post(URL, json=mediamtx("publish", slug, token=host_token, ip="192.0.2.7")))


async def test_the_secret_is_compared_in_constant_time_and_never_logged(
    open_app: OpenApp, host_token: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    compared: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(media_auth_module.hmac, "compare_digest", spy)
    monkeypatch.setattr(media_auth_module, "_last_logged", {})
    app = await open_app(LIVEDROP_MEDIA_AUTH_SECRET=SECRET)
    caplog.set_level(logging.WARNING, logger="livedrop.media")
    async with calling_from(app, "192.0.2.50") as remote:
        slug = await show(remote, host_token, "timing")
        assert allowed(await remote.post(URL, params={"secret": SECRET}, json=mediamtx("read", slug, token=host_token)))
        assert (await remote.post(URL, params={"secret": "nope" * 5}, json=mediamtx("read", slug))).status_code == 403
        assert (await remote.post(URL, json=mediamtx("read", slug))).status_code == 403
    assert compared == [(SECRET.encode(), SECRET.encode()), (b"nope" * 5, SECRET.encode())]
    # The refusal is logged for the operator (once a minute at most), naming the caller, never the secret.
    lines = [r.getMessage() for r in caplog.records if "LIVEDROP_MEDIA_AUTH_ADDRESSES" in r.getMessage()]
    assert len(lines) == 1 and "192.0.2.50" in lines[0], lines
    assert not any(SECRET in r.getMessage() or "nope" in r.getMessage() for r in caplog.records)


def _from_env(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), "SECRET_KEY": TEST_SECRET, **env})


def test_the_hook_settings_default_to_loopback_and_to_no_addresses_once_a_secret_is_set(tmp_path: Path) -> None:
    assert _from_env(tmp_path).media_auth_addresses == LOOPBACK
    assert _from_env(tmp_path).media_auth_secret is None
    with_secret = _from_env(tmp_path, LIVEDROP_MEDIA_AUTH_SECRET=SECRET)
    assert with_secret.media_auth_secret == SECRET and with_secret.media_auth_addresses == ()
    assert SECRET not in repr(with_secret)
    listed = _from_env(tmp_path, LIVEDROP_MEDIA_AUTH_SECRET=SECRET, LIVEDROP_MEDIA_AUTH_ADDRESSES="10.1.2.3, fd00::/8,10.9.0.7/16")
    assert [str(n) for n in listed.media_auth_addresses] == ["10.1.2.3/32", "fd00::/8", "10.9.0.0/16"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LIVEDROP_MEDIA_AUTH_SECRET", "short-secret", "at least 16 characters"),
        ("LIVEDROP_MEDIA_AUTH_SECRET", "has a space in it, 0123456789", "only letters, digits"),
        ("LIVEDROP_MEDIA_AUTH_SECRET", "0123456789abcdef&secret=x", "only letters, digits"),
        ("LIVEDROP_MEDIA_AUTH_ADDRESSES", "127.0.0.1,mediamtx.internal", "'mediamtx.internal' is not an IP address"),
        ("LIVEDROP_MEDIA_AUTH_ADDRESSES", "10.0.0.0/33", "'10.0.0.0/33' is not an IP address"),
    ],
)
def test_bad_hook_settings_stop_the_start_naming_the_variable(tmp_path: Path, variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        _from_env(tmp_path, **{variable: value})
    assert str(refused.value).startswith(f"{variable}: ") and message in str(refused.value)
    if variable == "LIVEDROP_MEDIA_AUTH_SECRET":
        assert value not in str(refused.value)  # messages reach logs
