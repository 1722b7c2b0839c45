"""The waiting room's shuffle, exactly, so anyone can recompute it from the audit.

    seed        = 32 random bytes, picked when the offer is created, published as lowercase hex
                  at ``starts_at`` (null in the offer until then)
    commitment  = lowercase hex SHA-256 of the 32 seed bytes, published from the start
    order key   = lowercase hex HMAC-SHA256(key = the 32 seed bytes, msg = entry_id as UTF-8)
    rank        = among entries that joined before ``starts_at``: 1 for the smallest order key,
                  ascending; entries that joined at or after ``starts_at`` follow in arrival order

The host cannot steer the pick after the fact (the commitment fixes the seed before anyone joins),
and nobody can aim for a good place (the seed is secret until the line is closed). Joining early
only gets you in; it does not get you ahead.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

ALGORITHM = (
    "livedrop-queue-v1: seed = 32 random bytes (hex in the offer from starts_at); commitment = hex(sha256(seed)); "
    "order_key(entry) = hex(hmac_sha256(key=seed, msg=utf8(entry_id))); entries that joined before starts_at are "
    "ranked 1..n by order_key ascending (lowercase hex compare); later entries follow in arrival order"
)
# One slice of the ranking between yields to the event loop. 100,000 entries take about 0.2 s of
# HMACs in all on this machine; 5,000 at a time is ~10 ms, well inside the 50 ms a viewer's frames
# may wait.
SLICE = 5_000
SLICE_BUDGET_S = 0.02


def new_seed() -> bytes:
    return secrets.token_bytes(32)


def commitment_of(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def order_key(seed: bytes, entry_id: str) -> str:
    return hmac.new(seed, entry_id.encode(), hashlib.sha256).hexdigest()


def rank_of(seed: bytes, entry_ids: Sequence[str]) -> list[str]:
    """``entry_ids`` (the ones that joined before ``starts_at``) best first."""
    return sorted(entry_ids, key=lambda entry_id: order_key(seed, entry_id))


async def rank_without_blocking(seed: bytes, entry_ids: Sequence[str]) -> list[str]:
    """``rank_of``, yielding to the event loop between slices so viewers' frames keep flowing
    while a big line is ranked (the sort itself, ~60 ms for 100,000 hex strings, is one step)."""
    keyed: list[tuple[str, str]] = []
    new_hmac, sha256, started = hmac.new, hashlib.sha256, time.perf_counter()
    for start in range(0, len(entry_ids), SLICE):
        for entry_id in entry_ids[start:start + SLICE]:
            keyed.append((new_hmac(seed, entry_id.encode(), sha256).hexdigest(), entry_id))
        if time.perf_counter() - started > SLICE_BUDGET_S:
            await asyncio.sleep(0)
            started = time.perf_counter()
    keyed.sort()
    return [entry_id for _, entry_id in keyed]
