"""The verify page checks a draw's drand beacon in Chromium as the server does (issue 22): the
round's BLS signature under quicknet's public key (the vendored @noble/curves), not only that the
randomness is the signature's hash. Real recorded quicknet rounds (tests/fixtures): round 1000's
signature verifies; the same signature passed off as round 1001's (its randomness and the seed
made consistent with it, so only the signature can tell) does not, and the page says so."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Host
from .test_viewer import expect

pytestmark = pytest.mark.browser

ROUNDS = {r["round"]: r for r in json.loads(
    (Path(__file__).parents[1] / "fixtures" / "drand_quicknet_rounds.json").read_text())["rounds"]}
QUICKNET = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"


def audit_with_beacon(offer_id: int, round_: int, signature: str) -> dict[str, Any]:
    """A draw's audit computed here, as docs/draws.md says, with the given round as its beacon:
    everything but the beacon's signature is consistent, so only that check can fail."""
    secret = hashlib.sha256(b"a test's secret").digest()
    ids = sorted(f"de_entry{n:02d}" for n in range(6))
    entries_hash = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    randomness = hashlib.sha256(bytes.fromhex(signature)).hexdigest()
    seed = hashlib.sha256(b"livedrop-draw-v1" + secret + bytes.fromhex(entries_hash) + bytes.fromhex(randomness)).digest()
    order = sorted(ids, key=lambda e: hmac.new(seed, e.encode(), hashlib.sha256).hexdigest())
    entries = [{"entry_id": e, "sku": "S-1", "rank": n} for n, e in enumerate(order, start=1)]
    return {
        "offer_id": offer_id, "algorithm": "livedrop-draw-v1", "commitment": hashlib.sha256(secret).hexdigest(),
        "entries_hash": entries_hash, "secret": secret.hex(), "seed": seed.hex(),
        "beacon": {"chain": QUICKNET, "scheme": "bls-unchained-g1-rfc9380", "round": round_, "signature": signature,
                   "randomness": randomness},
        "beacon_note": "", "drawn_at": int(time.time() * 1000), "units": {"S-1": 2}, "entries": entries, "excluded": [],
        "winners": [{"entry_id": e["entry_id"], "sku": "S-1", "rank": e["rank"]} for e in entries[:2]],
        "handovers": [], "voids": [],
    }


def test_the_verify_page_checks_the_beacons_bls_signature(host: Host, new_context: Any) -> None:
    product = host.product({"S-1": 2})
    slug = host.live_show(product=product)
    offer = host.call("POST", f"/api/shows/{slug}/offers", 201, json={
        "product_id": product["id"], "price_cents": 100, "mode": "draw", "entries_close_at": int(time.time() * 1000) + 600_000})
    page = new_context(1000, 900).new_page()
    served: dict[str, Any] = {}
    page.route("**/audit", lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(served)))

    served.update(audit_with_beacon(offer["id"], 1000, ROUNDS[1000]["signature"]))
    assert served["beacon"]["randomness"] == ROUNDS[1000]["randomness"]  # the recorded round, as drand published it
    page.goto(f"/offers/{offer['id']}/verify")
    verdict = page.locator("#verdict")
    expect()(verdict).to_have_attribute("data-state", "verified", timeout=20_000)
    expect()(page.locator("#checks li.ok").first).to_be_visible()
    expect()(page.locator("#checks")).to_contain_text(
        "✓ drand round 1000's BLS signature verifies under the quicknet chain's public key")
    expect()(page.locator("#checks li.bad")).to_have_count(0)

    # Round 1000's signature passed off as round 1001's: its hash still matches, the signature does not.
    served.clear()
    served.update(audit_with_beacon(offer["id"], 1001, ROUNDS[1000]["signature"]))
    page.reload()
    expect()(verdict).to_have_attribute("data-state", "differs", timeout=20_000)
    expect()(verdict).to_contain_text("the beacon's BLS signature does not verify under drand quicknet's public key")
    expect()(page.locator("#checks li.bad")).to_have_count(1)
    expect()(page.locator("#checks li.bad")).to_contain_text("drand round 1001's BLS signature")

    # A beacon of another chain is not taken on trust either.
    served.clear()
    other = audit_with_beacon(offer["id"], 1000, ROUNDS[1000]["signature"])
    other["beacon"]["chain"] = "00" * 32
    served.update(other)
    page.reload()
    expect()(verdict).to_have_attribute("data-state", "differs", timeout=20_000)
