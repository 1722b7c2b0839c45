"""The waiting room's shuffle as the offer clock computes it (in slices, by bucket) is the order
the audit documents (live.queue_order.rank_of: HMAC keys as lowercase hex, ascending)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

import pytest

from live.queue_order import rank_of, rank_without_blocking


@pytest.mark.parametrize("n", [0, 1, 2, 257, 5_000])
def test_the_clock_ranks_as_the_audit_says(n: int) -> None:
    seed = secrets.token_bytes(32)
    entry_ids = [secrets.token_hex(8) for _ in range(n)]
    positions = asyncio.run(rank_without_blocking(seed, entry_ids))
    assert sorted(positions) == list(range(n))
    ranked = [entry_ids[p] for p in positions]
    assert ranked == rank_of(seed, entry_ids)
    assert ranked == sorted(entry_ids, key=lambda e: hmac.new(seed, e.encode(), hashlib.sha256).hexdigest())
