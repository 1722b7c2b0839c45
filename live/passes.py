"""Waiting-room passes: what an admitted buyer shows the hold route, checked with one HMAC and
no Redis round trip (the hold route's budget is one round trip, for the hold itself).

    pass = "<offer id>.<buyer id>.<rank>.<expires at ms>.<signature>"
    signature = base64url(HMAC-SHA256(key, the four fields joined by "."))[:22]  (128 bits)

The key is derived from the server's secret, so every web process checks every other's passes.
A pass names its buyer, so a pass passed around is refused (pass_not_yours), and its rank, so a
used pass can be counted against its place in the line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from inventory.errors import Refusal
from live.errors import NoPass, PassExpired, PassNotYours

PASS_S = 120  # a pass is good this long after its place is admitted
MAX_PASS_CHARS = 160


@dataclass(frozen=True)
class Pass:
    offer_id: int
    buyer_id: str
    rank: int
    expires_at: int


class PassBook:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"livedrop-queue-pass-v1", hashlib.sha256).digest()

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode()[:22]

    def issue(self, offer_id: int, buyer_id: str, rank: int, expires_at: int) -> str:
        body = f"{offer_id}.{buyer_id}.{rank}.{expires_at}"
        return f"{body}.{self._sign(body)}"

    def check(self, token: str | None, offer_id: int, buyer_id: str, now: int) -> Pass | Refusal:
        """The pass, or why it does not let ``buyer_id`` hold in offer ``offer_id`` at ``now``."""
        if not token:
            return NoPass()
        if len(token) > MAX_PASS_CHARS:
            return NoPass("this is not a pass")
        body, _, signature = token.rpartition(".")
        if not hmac.compare_digest(self._sign(body), signature):
            return NoPass("this is not a pass livedrop gave out; fetch yours from GET .../queue/me")
        offer, buyer, rank, expires_at = body.split(".")  # signed by us: the shape is ours
        if int(offer) != offer_id:
            return NoPass("this pass is for another offer")
        if buyer != buyer_id:
            return PassNotYours()
        if now >= int(expires_at):
            return PassExpired()
        return Pass(offer_id, buyer, int(rank), int(expires_at))
