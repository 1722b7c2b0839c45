"""A draw's pick, exactly, so anyone can recompute it from the audit (docs/draws.md).

    secret       = 32 random bytes picked when the offer is created
    commitment   = lowercase hex SHA-256 of the secret, in the offer from its creation
    entries_hash = lowercase hex SHA-256 of the UTF-8 entry ids, sorted ascending, joined by "\\n"
                   (every entry at the close, those the host excluded before the draw too)
    seed         = lowercase hex SHA-256 of b"livedrop-draw-v1" + secret + the 32 bytes of
                   entries_hash + the beacon's 32 randomness bytes (nothing without a beacon)
    rank key     = lowercase hex HMAC-SHA256(key = the 32 seed bytes, msg = entry_id as UTF-8)
    rank         = 1 for the smallest key, ascending, among entries not excluded
    winners      = walking the ranks from 1: an entry wins when its size still has a unit (and the
                   offer's cap, when it has one, is not reached)

The host committed to the secret before anyone entered and cannot change the list after the close
(its hash is in the seed); with a beacon nobody, the operator included, knew the seed before the
beacon's round.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence

ALGORITHM = "livedrop-draw-v1"


def entries_hash(entry_ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(entry_ids)).encode()).hexdigest()


def draw_seed(secret: bytes, entries_hash_hex: str, beacon: bytes = b"") -> bytes:
    return hashlib.sha256(ALGORITHM.encode() + secret + bytes.fromhex(entries_hash_hex) + beacon).digest()


def rank_key(seed: bytes, entry_id: str) -> str:
    return hmac.new(seed, entry_id.encode(), hashlib.sha256).hexdigest()


def ranked(seed: bytes, entry_ids: Sequence[str]) -> list[str]:
    """``entry_ids`` best first. 100,000 entries: about 0.15 s of HMACs and a sort here (bench/draw.py)."""
    keyed = hmac.new(seed, digestmod=hashlib.sha256)  # the keyed state once; each entry copies it
    keys: list[tuple[bytes, str]] = []
    for entry_id in entry_ids:
        mac = keyed.copy()
        mac.update(entry_id.encode())
        keys.append((mac.digest(), entry_id))  # raw bytes sort as their lowercase hex does
    keys.sort()
    return [entry_id for _, entry_id in keys]


def winners(order: Sequence[str], sku_of: Mapping[str, str], units: Mapping[str, int], cap: int | None) -> list[str]:
    """The winning entries, best first: each size's units to its best-ranked entries."""
    left = dict(units)
    total = cap
    won: list[str] = []
    for entry_id in order:
        if total is not None and total <= 0:
            break
        sku = sku_of[entry_id]
        if left.get(sku, 0) > 0:
            left[sku] -= 1
            won.append(entry_id)
            if total is not None:
                total -= 1
    return won
