"""A draw that mixes in a drand beacon (issue 22): the offer names the first quicknet round after
its close; the draw fetches that round from a relay (here a loopback stand-in serving real
recorded quicknet rounds), verifies its BLS signature, and the audit recomputes with it. A relay
that answers a signature that does not verify gets no draw."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import drand_verify
import httpx
import pytest
from sqlalchemy import update

from live.beacon import QUICKNET_HASH, DrandBeacon
from live.models import Offer
from web.settings import Settings

from .buying import auth, live_show_with_product, new_buyer
from .test_draws import entries_url, until, verify

ROUNDS = json.loads((Path(__file__).parents[1] / "fixtures" / "drand_quicknet_rounds.json").read_text())["rounds"]
SIGNATURE = {r["round"]: r["signature"] for r in ROUNDS}
# Round 1001 answered with round 1000's signature: a relay that lies.
SIGNATURE[1001] = SIGNATURE[1000]


@pytest.fixture(scope="module")
def relay() -> Iterator[str]:
    """A drand HTTP relay on loopback: GET /<chain>/public/<round> for the recorded rounds."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = self.path.strip("/").split("/")
            round_ = int(parts[2]) if len(parts) == 3 and parts[0] == QUICKNET_HASH and parts[1] == "public" else -1
            if round_ not in SIGNATURE:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps({"round": round_, "signature": SIGNATURE[round_],
                               "randomness": hashlib.sha256(bytes.fromhex(SIGNATURE[round_])).hexdigest()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(settings: Settings, relay: str) -> Settings:
    return settings.with_overrides(buyers_per_ip_per_minute=100_000, draw_beacon=QUICKNET_HASH, draw_beacon_url=relay)


async def a_draw_with_entries(client: httpx.AsyncClient, host_token: str, n: int) -> tuple[str, dict[str, Any]]:
    slug, product = await live_show_with_product(client, host_token, {"B-40": 2, "B-41": 2})
    close = int(time.time() * 1000) + 3_600_000
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 5000, "mode": "draw", "entries_close_at": close})
    assert made.status_code == 201, made.text
    offer = made.json()
    for i in range(n):
        answer = await client.post(entries_url(slug, offer["id"]), headers=auth(await new_buyer(client)),
                                   json={"sku": ("B-40", "B-41")[i % 2], "email": f"b{i}@example.com"})
        assert answer.status_code == 201, answer.text
    audit = (await client.get(f"/api/shows/{slug}/offers/{offer['id']}/audit")).json()
    # Named at creation: the first quicknet round after the close, not yet published.
    assert audit["beacon"]["round"] == DrandBeacon.round_after(close) and audit["beacon"]["signature"] is None
    assert DrandBeacon.published_at(audit["beacon"]["round"]) > close
    return slug, offer


async def close_with_round(sessions: Any, offer_id: int, round_: int) -> None:
    """The entries close now, and the round the draw waits for is a recorded one (the real first
    round after this close is in the future, and tests never reach the internet)."""
    async with sessions() as session:
        await session.execute(update(Offer).where(Offer.id == offer_id).values(
            ends_at=int(time.time() * 1000) - 2000, beacon_round=round_))
        await session.commit()


async def test_a_draw_mixes_in_a_verified_drand_round(client: httpx.AsyncClient, host_token: str, sessions: Any) -> None:
    slug, offer = await a_draw_with_entries(client, host_token, 12)
    await close_with_round(sessions, offer["id"], 1000)

    async def drawn() -> dict[str, Any] | None:
        got = (await client.get(f"/api/shows/{slug}/offers/{offer['id']}/audit")).json()
        return got if got["seed"] else None
    audit = await until(drawn, what="the draw with its beacon")
    beacon = audit["beacon"]
    assert beacon["round"] == 1000 and beacon["signature"] == SIGNATURE[1000] and beacon["scheme"] == "bls-unchained-g1-rfc9380"
    assert drand_verify.verify_quicknet(1000, beacon["signature"]) == beacon["randomness"]  # an outsider's check
    assert "nobody, the operator included" in audit["beacon_note"]
    assert verify(audit) == []
    # Without the beacon's bytes the seed is another: it is really mixed in.
    assert "seed" in verify({**audit, "beacon": None})
    assert len(audit["winners"]) == 4


async def test_a_round_whose_signature_does_not_verify_is_never_used(
    client: httpx.AsyncClient, host_token: str, sessions: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    slug, offer = await a_draw_with_entries(client, host_token, 3)
    await close_with_round(sessions, offer["id"], 1001)

    async def refused() -> bool:
        return any("does not verify" in r.getMessage() for r in caplog.records)
    await until(refused, what="the bad round refused")
    await asyncio.sleep(0.5)
    audit = (await client.get(f"/api/shows/{slug}/offers/{offer['id']}/audit")).json()
    assert audit["seed"] is None and audit["secret"] is None and audit["winners"] == []
