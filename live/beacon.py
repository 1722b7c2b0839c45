"""A public randomness beacon for draws: drand's quicknet chain (docs/draws.md).

When ``LIVEDROP_DRAW_BEACON`` names quicknet, a draw offer names, at its creation, the first round
of the chain after ``entries_close_at``; nobody (the operator included) knows that round's
randomness before it is published, so mixing it into the seed takes the pick out of the operator's
hands. The draw waits for the round, fetches it from ``LIVEDROP_DRAW_BEACON_URL`` (a drand HTTP
relay; api.drand.sh by default), and checks its BLS signature (scheme bls-unchained-g1-rfc9380:
the signature of sha256(round as 8 big-endian bytes) on G1, under the chain's public key on G2)
with the ``drand-verify`` library before using it. Its randomness is sha256(signature).

A round is published at ``genesis + (round - 1) * period`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

import drand_verify
import httpx

log = logging.getLogger("livedrop.beacon")

QUICKNET_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
QUICKNET_PUBLIC_KEY = (
    "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
)
QUICKNET_GENESIS_S = 1692803367
QUICKNET_PERIOD_S = 3
SCHEME = "bls-unchained-g1-rfc9380"
FETCH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class BeaconRound:
    chain: str
    round: int
    signature: str  # hex, 48 bytes (G1, compressed)
    randomness: str  # hex sha256(signature): what the seed takes


class BadBeacon(Exception):
    """A round whose signature does not verify under the chain's key: never used."""


def verify_round(round_: int, signature: str) -> str:
    """The round's randomness (hex) when its signature verifies under quicknet's key; BadBeacon otherwise."""
    try:
        randomness: str = drand_verify.verify_quicknet(round_, signature, QUICKNET_PUBLIC_KEY)
    except ValueError as exc:
        raise BadBeacon(f"drand round {round_}: the signature does not verify ({exc})") from None
    if randomness != hashlib.sha256(bytes.fromhex(signature)).hexdigest():  # the library's and ours agree
        raise BadBeacon(f"drand round {round_}: randomness is not sha256(signature)")
    return randomness


class DrandBeacon:
    def __init__(self, base_url: str, chain: str = QUICKNET_HASH) -> None:
        self.base_url = base_url.rstrip("/")
        self.chain = chain

    @staticmethod
    def round_after(ms: int) -> int:
        """The first round published strictly after ``ms`` (Unix ms)."""
        elapsed_ms = ms - QUICKNET_GENESIS_S * 1000
        return max(1, elapsed_ms // (QUICKNET_PERIOD_S * 1000) + 2)

    @staticmethod
    def published_at(round_: int) -> int:
        return (QUICKNET_GENESIS_S + (round_ - 1) * QUICKNET_PERIOD_S) * 1000

    async def fetch(self, round_: int) -> BeaconRound | None:
        """The verified round; None while it is not published (or the relay does not answer: the
        draw waits and asks again). BadBeacon when the relay answers a signature that is wrong."""
        url = f"{self.base_url}/{self.chain}/public/{int(round_)}"
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S) as http:
                answer = await http.get(url)
        except (httpx.HTTPError, asyncio.TimeoutError) as exc:
            log.warning("drand relay %s did not answer: %r", self.base_url, exc)
            return None
        if answer.status_code != 200:
            return None
        body = answer.json()
        if int(body.get("round", -1)) != round_:
            raise BadBeacon(f"asked for round {round_}, the relay answered round {body.get('round')}")
        signature = str(body.get("signature", ""))
        return BeaconRound(self.chain, round_, signature, verify_round(round_, signature))
