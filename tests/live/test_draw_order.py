"""live.draw_order: the pick as docs/draws.md writes it, whatever the code does to be quick."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterator

import pytest

from inventory.outbox import new_event_id, new_event_ids
from live import draw_order
from live.draw_entries import EntryIds


def test_ranked_is_the_documented_hmac_order() -> None:
    """The docs' recipe: sorted by lowercase hex HMAC-SHA256(seed, entry_id), smallest first."""
    ids = EntryIds()
    entry_ids = [ids.new() for _ in range(2000)] + ["de_short", "dé_non_ascii", "x" * 80]
    for _ in range(3):
        seed = os.urandom(32)
        expected = sorted(entry_ids, key=lambda e: hmac.new(seed, e.encode(), hashlib.sha256).hexdigest())
        assert draw_order.ranked(seed, entry_ids) == expected
        assert draw_order.ranked(seed, []) == []
    with pytest.raises(ValueError):
        draw_order.ranked(os.urandom(65), entry_ids)  # HMAC would hash such a key first: never a seed


def test_winners_give_each_size_its_best_ranked_entries_and_stop_reading() -> None:
    order = [f"e{n}" for n in range(1000)]
    sku_of = {e: ("A" if n % 3 else "B") for n, e in enumerate(order)}
    read = 0

    def walk() -> Iterator[str]:
        nonlocal read
        for entry_id in order:
            read += 1
            yield entry_id

    won = draw_order.winners(walk(), sku_of, {"A": 2, "B": 2, "C": 5, "D": 0, "E": -1}, None)
    assert won == ["e0", "e1", "e2", "e3"]  # B, A, A, B: C has no entries and D, E no units
    assert read == len(order)  # C's units are never given: every entry had to be looked at
    read = 0
    won = draw_order.winners(walk(), sku_of, {"A": 2, "B": 2}, None)
    assert won == ["e0", "e1", "e2", "e3"] and read == 4  # every unit given: no more of the order is read
    read = 0
    assert draw_order.winners(walk(), sku_of, {"A": 5, "B": 5}, 3) == ["e0", "e1", "e2"] and read == 3  # the offer's cap
    assert draw_order.winners(walk(), sku_of, {"A": 5}, 0) == []
    assert draw_order.winners(order, sku_of, {}, None) == []


def test_event_ids_made_together_look_like_one_at_a_time() -> None:
    shape = re.compile(r"^evt_[0-9a-f]{24}$")
    made = new_event_ids(5000)
    assert len(made) == 5000 and len(set(made)) == 5000
    assert all(shape.match(i) for i in made) and shape.match(new_event_id())
    assert new_event_ids(0) == []
