"""Proof of work for joining a drop's waiting room, in ALTCHA's scheme (the `altcha` package).

When LIVEDROP_QUEUE_POW is above 0, a join carries the answer to a challenge this server issued
(GET /api/shows/{slug}/offers/{offer_id}/queue/challenge): find the number n in [0, maxnumber]
with SHA-256(salt + n) == challenge. The server draws n and keeps nothing: the challenge carries
its own signature, HMAC(key, challenge). So issuing stores nothing, and verifying is one SHA-256
of the salt and the claimed number plus one HMAC: the solver's search is never redone on the hot
path (docs/waiting-room-pow.md has what the search costs a phone).

A challenge is bound to one buyer and one offer and expires: both, and the expiry, are parameters
in its salt, which the signature covers (the salt is hashed verbatim into the challenge). A solved
payload is no use to another buyer or for another offer; the same buyer replaying it only joins
the queue it is already in.

This is ALTCHA's first challenge format (``altcha.v1``, also exported as ``create_challenge_v1``):
the one whose size is a single maxnumber, and the one the vendored widget (static/vendor/altcha,
3.x) still solves and answers in kind (its "V1" path); the newer key-derivation format has no such
single knob. Challenges are made by ``altcha.v1.create_challenge``; answers are checked here with
its hash and HMAC helpers rather than ``verify_solution``, which compares the signature with ``==``
(not in constant time) and reads the clock itself.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Final

from altcha.v1 import create_challenge, hash_hex, hmac_hex

from inventory.errors import Refusal

ALGORITHM: Final = "SHA-256"
CHALLENGE_TTL_S = 300  # time to fetch, solve (about a second on a phone) and join, with room for a slow network
MAX_PAYLOAD_CHARS = 4096  # a real payload is about 400; anything longer is refused before it is decoded
_KEY_LABEL = b"livedrop queue proof of work v1"  # the signing key is derived, so SECRET_KEY itself never signs these
_CHALLENGE_PATH = "GET /api/shows/{slug}/offers/{offer_id}/queue/challenge"


class PowRequired(Refusal):
    """LIVEDROP_QUEUE_POW is on and the join carries no answer."""

    code, status = "pow_required", 403
    default_message = (f"joining this waiting room takes a proof of work: fetch a challenge ({_CHALLENGE_PATH}), "
                       "solve it and join with {\"pow\": <the payload>}")


class PowInvalid(Refusal):
    """The answer is wrong, forged, expired, or for another buyer or offer. Nothing changed."""

    code, status = "pow_invalid", 403
    default_message = (f"the proof of work is wrong, expired or not for this buyer and offer: fetch a new challenge "
                       f"({_CHALLENGE_PATH}) and solve it again")


class QueuePow:
    """Issues ALTCHA challenges bound to a buyer and an offer, and checks their answers.

    ``secret`` is the deployment's SECRET_KEY (or any secret shared by every process): the signing
    key is derived from it, so every process verifies what any other issued. ``max_number`` is
    LIVEDROP_QUEUE_POW: the solver tries max_number / 2 hashes on average, max_number at most.
    """

    def __init__(self, secret: bytes | str, max_number: int, *, ttl_s: int = CHALLENGE_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        if max_number < 1:
            raise ValueError("max_number must be at least 1 (0 means no proof of work: build no QueuePow)")
        raw = secret.encode() if isinstance(secret, str) else secret
        self._key = hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest()
        self.max_number = max_number
        self._ttl_s = ttl_s
        self._clock = clock

    def challenge(self, buyer_id: str, offer_id: int) -> dict[str, Any]:
        """The JSON the ALTCHA widget (and static/common/pow.js) solves: algorithm, challenge,
        maxnumber, salt, signature; and expires_at (ms) for clients that want to know."""
        expires_s = int(self._clock()) + self._ttl_s
        made = create_challenge(
            algorithm=ALGORITHM,
            max_number=self.max_number,
            salt_length=12,
            hmac_key=self._key,
            salt="",
            number=None,  # a random one in [0, max_number]
            expires=datetime.datetime.fromtimestamp(expires_s, datetime.timezone.utc),
            params={"buyer": buyer_id, "offer": str(offer_id)},
        )
        return {
            "algorithm": made.algorithm,
            "challenge": made.challenge,
            "maxnumber": made.max_number,
            "salt": made.salt,
            "signature": made.signature,
            "expires_at": expires_s * 1000,
        }

    def verify(self, payload: str | None, buyer_id: str, offer_id: int) -> None:
        """Nothing when ``payload`` answers a challenge issued to ``buyer_id`` for ``offer_id``
        that has not expired; else PowRequired (no payload) or PowInvalid. One SHA-256 and one
        HMAC, whatever the payload says."""
        if not payload:
            raise PowRequired()
        fields = _decoded(payload)
        if fields is None:
            raise PowInvalid()
        salt, number, challenge, signature = fields
        # The one hash: the salt and the claimed number must give the challenge...
        if not hmac.compare_digest(hash_hex(ALGORITHM, (salt + str(number)).encode()).encode(), challenge.encode()):
            raise PowInvalid()
        # ...and the challenge must be one this server signed (constant time: the signature is the secret part).
        if not hmac.compare_digest(hmac_hex(ALGORITHM, challenge.encode(), self._key).encode(), signature.encode()):
            raise PowInvalid()
        # Signed, so the salt is exactly as issued: its parameters are this server's own.
        params = urllib.parse.parse_qs(salt.partition("?")[2])
        if params.get("buyer") != [buyer_id] or params.get("offer") != [str(offer_id)]:
            raise PowInvalid()
        expires = params.get("expires", [""])[0]
        if not (expires.isascii() and expires.isdigit()) or int(expires) < self._clock():
            raise PowInvalid()


def _decoded(payload: str) -> tuple[str, int, str, str] | None:
    """(salt, number, challenge, signature) of a base64 JSON payload, or None when it is not one.
    The widget adds fields of its own (took); they are ignored."""
    if len(payload) > MAX_PAYLOAD_CHARS:
        return None
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError, RecursionError):  # not base64, not UTF-8, not JSON, nested too deep
        return None
    if not isinstance(data, dict) or data.get("algorithm") != ALGORITHM:
        return None
    salt, number, challenge, signature = data.get("salt"), data.get("number"), data.get("challenge"), data.get("signature")
    # What this server issues is ASCII (hex, and URL-encoded parameters); anything else, a lone
    # surrogate included, is refused here rather than failing to encode later.
    if not (isinstance(salt, str) and isinstance(challenge, str) and isinstance(signature, str)):
        return None
    if not (salt.isascii() and challenge.isascii() and signature.isascii()):
        return None
    if type(number) is not int or number < 0:  # bool is an int too; and a negative n was never the answer
        return None
    # altcha issues salts ending in "&" (no parameter can be spliced onto them) and hashes them so.
    return (salt if salt.endswith("&") else salt + "&"), number, challenge, signature
