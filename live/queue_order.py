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
# The ranking yields to the event loop whenever it has run this long: 100,000 entries take about
# 0.3 s of HMACs and sorting in all on this machine, and a viewer's frames may wait 50 ms at most.
# A yield lets in what is ready then; what becomes ready during the next slice is queued behind
# it, so the loop's longest block is about twice the budget (bench/queue.py measures it).
SLICE = 500  # entries between looks at the clock (~1 ms of HMACs)
SLICE_BUDGET_S = 0.005
BUCKETS = 256  # ranked by the key's first byte first: each bucket is a small sort of its own


def new_seed() -> bytes:
    return secrets.token_bytes(32)


def commitment_of(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def order_key(seed: bytes, entry_id: str) -> str:
    return hmac.new(seed, entry_id.encode(), hashlib.sha256).hexdigest()


def rank_of(seed: bytes, entry_ids: Sequence[str]) -> list[str]:
    """``entry_ids`` (the ones that joined before ``starts_at``) best first."""
    return sorted(entry_ids, key=lambda entry_id: order_key(seed, entry_id))


async def rank_without_blocking(seed: bytes, entry_ids: Sequence[str]) -> list[int]:
    """``rank_of`` as positions in ``entry_ids`` (best first), yielding to the event loop every
    ``SLICE_BUDGET_S`` so viewers' frames keep flowing while a big line is ranked.

    The same order as ``rank_of``: the raw HMAC bytes sort as their lowercase hex does, and each
    is followed by the entry's position (4 bytes, big-endian), so equal keys keep arrival order as
    sorted() does. No step sorts the whole line (100,000 keys are one 60-100 ms sort): the keys go
    to a bucket by their first byte, uniform for an HMAC, and the buckets are sorted one at a time.
    Keys are plain bytes, not tuples: the collector does not track bytes, and 100,000 tracked
    tuples made each of its young passes a 10-30 ms block of its own."""
    buckets: list[list[bytes]] = [[] for _ in range(BUCKETS)]
    keyed = hmac.new(seed, digestmod=hashlib.sha256)  # the keyed state once; each entry copies it
    started = time.perf_counter()
    for start in range(0, len(entry_ids), SLICE):
        for position in range(start, min(start + SLICE, len(entry_ids))):
            mac = keyed.copy()
            mac.update(entry_ids[position].encode())
            digest = mac.digest()
            buckets[digest[0]].append(digest + position.to_bytes(4, "big"))
        if time.perf_counter() - started > SLICE_BUDGET_S:
            await asyncio.sleep(0)
            started = time.perf_counter()
    order: list[int] = []
    from_bytes = int.from_bytes
    for bucket in buckets:
        bucket.sort()
        order.extend(from_bytes(key[32:], "big") for key in bucket)
        if time.perf_counter() - started > SLICE_BUDGET_S:
            await asyncio.sleep(0)
            started = time.perf_counter()
    return order
