"""The waiting room's proof of work (web.queue_pow, ALTCHA's scheme) and its challenge route.

A right answer passes with one hash and one HMAC; every wrong one (wrong number, forged or
tampered signature, expired, another buyer's, another offer's, malformed) is 403 pow_invalid, a
missing one 403 pow_required. The route answers a challenge bound to the calling buyer when
LIVEDROP_QUEUE_POW is above 0, and 404 pow_off when it is 0 (the suite's default)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import redis.asyncio as aioredis
from altcha.v1 import solve_challenge
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.applications import Starlette

from tests.conftest import TEST_SECRET
from web.queue_pow import MAX_PAYLOAD_CHARS, PowInvalid, PowRequired, QueuePow
from web.settings import Settings, SettingsError

from .buying import auth, live_show_with_product, new_buyer

SECRET = "queue-pow-test-secret-0123456789"
ME, SOMEONE_ELSE = "b" * 32, "c" * 32
OFFER = 41


def encoded(fields: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(fields).encode()).decode()


def solved(issued: dict[str, Any], **changes: Any) -> str:
    """The payload a solver sends (what the ALTCHA widget sends, its `took` included), found with
    altcha's own solver; ``changes`` replace fields of it."""
    found = solve_challenge(issued["challenge"], issued["salt"], issued["algorithm"], issued["maxnumber"])
    assert found is not None
    fields = {key: issued[key] for key in ("algorithm", "challenge", "salt", "signature")}
    return encoded({**fields, "number": found.number, "took": 12, **changes})


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pow_(clock: Clock) -> QueuePow:
    return QueuePow(SECRET, 1000, clock=clock)


def refused(check: Callable[[], None]) -> str:
    with pytest.raises((PowInvalid, PowRequired)) as caught:
        check()
    assert caught.value.status == 403
    return str(caught.value.code)


# -- QueuePow -----------------------------------------------------------------------------------------

def test_a_right_answer_passes_and_the_challenge_is_what_the_widget_reads(pow_: QueuePow, clock: Clock) -> None:
    challenge = pow_.challenge(ME, OFFER)
    assert challenge["algorithm"] == "SHA-256" and challenge["maxnumber"] == 1000
    assert set(challenge) == {"algorithm", "challenge", "maxnumber", "salt", "signature", "expires_at"}
    assert challenge["expires_at"] == (int(clock.now) + 300) * 1000
    pow_.verify(solved(challenge), ME, OFFER)
    pow_.verify(solved(challenge), ME, OFFER)  # the same buyer again: harmless (joining twice is one entry)
    clock.now += 299
    pow_.verify(solved(challenge), ME, OFFER)  # still in time


def test_every_process_with_the_same_secret_accepts_what_another_issued(pow_: QueuePow) -> None:
    challenge = pow_.challenge(ME, OFFER)
    QueuePow(SECRET, 50_000).verify(solved(challenge), ME, OFFER)
    assert refused(lambda: QueuePow("another-secret-0123456789abcdef", 1000).verify(solved(challenge), ME, OFFER)) == "pow_invalid"


def test_a_missing_answer_is_pow_required(pow_: QueuePow) -> None:
    assert refused(lambda: pow_.verify(None, ME, OFFER)) == "pow_required"
    assert refused(lambda: pow_.verify("", ME, OFFER)) == "pow_required"


def test_wrong_answers_are_pow_invalid(pow_: QueuePow, clock: Clock) -> None:
    challenge = pow_.challenge(ME, OFFER)
    right = json.loads(base64.b64decode(solved(challenge)))
    wrong = {
        "a wrong number": solved(challenge, number=(right["number"] + 1) % 1001),
        "a tampered signature": solved(challenge, signature=("0" if challenge["signature"][0] != "0" else "1") + challenge["signature"][1:]),
        "the challenge of another issue": solved(challenge, challenge=pow_.challenge(ME, OFFER)["challenge"]),
        # The salt names the buyer; naming another keeps the signature but changes what it signs.
        "a salt rebound to another buyer": solved(challenge, salt=challenge["salt"].replace(ME, SOMEONE_ELSE)),
        "an unsigned challenge": encoded({**right, "signature": ""}),
        "another algorithm": solved(challenge, algorithm="SHA-1"),
    }
    for what, payload in wrong.items():
        assert refused(lambda: pow_.verify(payload, ME, OFFER)) == "pow_invalid", what
    assert refused(lambda: pow_.verify(solved(challenge), SOMEONE_ELSE, OFFER)) == "pow_invalid"  # another buyer's
    rebound = solved(challenge, salt=challenge["salt"].replace(ME, SOMEONE_ELSE))
    assert refused(lambda: pow_.verify(rebound, SOMEONE_ELSE, OFFER)) == "pow_invalid"  # ...made to look like theirs
    assert refused(lambda: pow_.verify(solved(challenge), ME, OFFER + 1)) == "pow_invalid"  # another offer's
    clock.now += 301
    assert refused(lambda: pow_.verify(solved(challenge), ME, OFFER)) == "pow_invalid"  # expired


def test_a_forged_challenge_is_pow_invalid(pow_: QueuePow) -> None:
    """A challenge made with altcha itself but not this server's key, however well solved."""
    forger = QueuePow("not-the-servers-secret-0123456789", 1000)
    assert refused(lambda: pow_.verify(solved(forger.challenge(ME, OFFER)), ME, OFFER)) == "pow_invalid"


@pytest.mark.parametrize("payload", [
    "not base64!",
    base64.b64encode(b"\xff\xfe not utf-8").decode(),
    base64.b64encode(b"{not json").decode(),
    encoded([1, 2, 3]),  # type: ignore[arg-type]
    encoded({"algorithm": "SHA-256"}),
    encoded({"algorithm": "SHA-256", "challenge": "a", "salt": "b", "signature": "c", "number": True}),
    encoded({"algorithm": "SHA-256", "challenge": "a", "salt": "b", "signature": "c", "number": -1}),
    encoded({"algorithm": "SHA-256", "challenge": "a", "salt": "b", "signature": "c", "number": 1.5}),
    encoded({"algorithm": "SHA-256", "challenge": "\u00e9", "salt": "\ud800", "signature": "c", "number": 1}),
    base64.b64encode(b"[" * 3000).decode(),
    "A" * (MAX_PAYLOAD_CHARS + 4),
], ids=["not-base64", "not-utf8", "not-json", "not-object", "no-fields", "bool-number", "negative-number",
        "float-number", "not-ascii", "nested", "too-long"])
def test_malformed_answers_are_pow_invalid_never_an_error(pow_: QueuePow, payload: str) -> None:
    assert refused(lambda: pow_.verify(payload, ME, OFFER)) == "pow_invalid"


def test_no_queue_pow_below_one_and_the_setting_is_read_and_bounded(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        QueuePow(SECRET, 0)
    env = {"LIVEDROP_DATA_DIR": str(tmp_path), "SECRET_KEY": TEST_SECRET}
    assert Settings.from_env(env).queue_pow == 0
    assert Settings.from_env({**env, "LIVEDROP_QUEUE_POW": "100000"}).queue_pow == 100_000
    for bad in ("-1", "lots", "1000001"):
        with pytest.raises(SettingsError, match="LIVEDROP_QUEUE_POW"):
            Settings.from_env({**env, "LIVEDROP_QUEUE_POW": bad})


# -- GET /api/shows/{slug}/offers/{offer_id}/queue/challenge --------------------------------------------

def challenge_path(offer_id: int | str = OFFER) -> str:
    return f"/api/shows/drop-night/offers/{offer_id}/queue/challenge"


async def test_off_the_route_answers_pow_off_and_livedrop_has_no_queue_pow(app: Starlette, client: httpx.AsyncClient) -> None:
    assert app.state.livedrop.queue_pow is None
    buyer = await new_buyer(client)
    answer = await client.get(challenge_path(), headers=auth(buyer))
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "pow_off", answer.text
    client.cookies.clear()  # POST /api/buyers set the buyer cookie too
    assert (await client.get(challenge_path())).json()["error"]["code"] == "unauthorized"


@pytest.fixture
async def pow_app(data_dir: Path, redis_url: str, database_url: str, redis: aioredis.Redis, engine: AsyncEngine,
                  sessions: async_sessionmaker) -> AsyncIterator[Starlette]:
    """The real app with LIVEDROP_QUEUE_POW=1000, read the way `livedrop serve` reads it."""
    from web.app import create_app
    from web.services import Services

    env = {"LIVEDROP_DATA_DIR": str(data_dir), "SECRET_KEY": TEST_SECRET, "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
           "LIVEDROP_QUEUE_POW": "1000"}
    settings = Settings.from_env(env).with_overrides(redis_url=redis_url, database_url=database_url)
    app = create_app(settings, Services(settings, redis, engine, sessions))
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def calling(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_on_the_route_answers_a_challenge_bound_to_the_caller(pow_app: Starlette) -> None:
    pow_ = pow_app.state.livedrop.queue_pow
    assert isinstance(pow_, QueuePow) and pow_.max_number == 1000
    async with calling(pow_app) as http:
        me = await new_buyer(http)
        someone_else = await new_buyer(http)
        my_id = (await http.get("/api/buyers/me", headers=auth(me))).json()["buyer_id"]
        their_id = (await http.get("/api/buyers/me", headers=auth(someone_else))).json()["buyer_id"]

        answer = await http.get(challenge_path(), headers=auth(me))
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        challenge = answer.json()
        document = (await http.get("/api/openapi.json")).json()
        jsonschema.validate(challenge, {**document["components"]["schemas"]["PowChallenge"], "components": document["components"]})
        assert challenge["maxnumber"] == 1000

        pow_.verify(solved(challenge), my_id, OFFER)
        for buyer_id, offer_id in ((their_id, OFFER), (my_id, OFFER + 1)):
            assert refused(lambda: pow_.verify(solved(challenge), buyer_id, offer_id)) == "pow_invalid"

        not_an_offer = await http.get(challenge_path("nope"), headers=auth(me))
        assert not_an_offer.status_code == 404 and not_an_offer.json()["error"]["code"] == "not_found"
        http.cookies.clear()  # POST /api/buyers set the buyer cookie too
        assert (await http.get(challenge_path())).status_code == 401


# -- POST /api/shows/{slug}/offers/{offer_id}/queue, with the proof of work on ---------------------------

async def test_a_join_needs_a_right_answer_and_a_wrong_one_changes_nothing(pow_app: Starlette, host_token: str) -> None:
    async with calling(pow_app) as http:
        slug, product = await live_show_with_product(http, host_token, {"P-41": 3})
        made = await http.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
            "product_id": product["id"], "price_cents": 9900, "duration_s": 600, "mode": "queue",
            "starts_at": int(time.time() * 1000) + 60_000,
        })
        assert made.status_code == 201, made.text
        offer_id = made.json()["id"]
        queue = f"/api/shows/{slug}/offers/{offer_id}/queue"
        me, someone_else = await new_buyer(http), await new_buyer(http)
        http.cookies.clear()  # each call says who it is by its token

        async def length() -> int:
            figures = await http.get(queue, headers=auth(host_token))
            assert figures.status_code == 200, figures.text
            return int(figures.json()["length"])

        async def join(buyer: str, body: dict[str, Any]) -> httpx.Response:
            return await http.post(queue, json=body, headers=auth(buyer))

        challenge = (await http.get(queue + "/challenge", headers=auth(me))).json()
        right = solved(challenge)
        number = json.loads(base64.b64decode(right))["number"]
        for buyer, body, code in (
            (me, {}, "pow_required"),
            (me, {"pow": solved(challenge, number=(number + 1) % 1001)}, "pow_invalid"),
            (me, {"pow": "not even base64"}, "pow_invalid"),
            (someone_else, {"pow": right}, "pow_invalid"),  # solved by me, for me
        ):
            refused_join = await join(buyer, body)
            assert refused_join.status_code == 403 and refused_join.json()["error"]["code"] == code, refused_join.text
        assert await length() == 0
        assert (await http.get(queue + "/me", headers=auth(me))).json()["error"]["code"] == "not_in_queue"

        first = await join(me, {"pow": right})
        assert first.status_code == 201, first.text
        again = await join(me, {"pow": right})  # the same buyer replaying it: the same entry
        assert again.status_code == 200 and again.json()["entry_id"] == first.json()["entry_id"]
        assert await length() == 1
