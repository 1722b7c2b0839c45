"""Which buyers are watching a show right now (connected to its room on any process), for a
giveaway whose entrants must be watching when it closes (live.draws).

Each process notes its signed-in connections in one Redis hash per show, buyer -> until when
(ms). A connection's buyer is written when it joins and refreshed every ``REFRESH_S`` while it
stays, and removed when its last connection here leaves; a process that dies stops refreshing, and
its buyers stop counting ``TTL_MS`` later. A show of 10,000 signed-in viewers costs one HSET of
10,000 fields every 20 s per process: well under a millisecond of Redis time a second.
"""

from __future__ import annotations

from collections import Counter

import redis.asyncio as aioredis

from inventory.clock import now_ms
from live import keys

REFRESH_S = 20.0
TTL_MS = 45_000  # two refreshes and some: a slow tick does not drop a viewer who is there
KEY_TTL_S = 24 * 3600


class Watchers:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._here: dict[int, Counter[str]] = {}  # show id -> buyer -> connections on this process

    async def joined(self, show_id: int, buyer_id: str) -> None:
        here = self._here.setdefault(show_id, Counter())
        here[buyer_id] += 1
        await self.redis.hset(keys.watching(show_id), buyer_id, now_ms() + TTL_MS)

    async def left(self, show_id: int, buyer_id: str) -> None:
        here = self._here.get(show_id)
        if here is None:
            return
        here[buyer_id] -= 1
        if here[buyer_id] <= 0:
            del here[buyer_id]
            if not here:
                del self._here[show_id]
            await self.redis.hdel(keys.watching(show_id), buyer_id)

    async def refresh(self) -> None:
        until = now_ms() + TTL_MS
        pipe = self.redis.pipeline(transaction=False)
        for show_id, here in self._here.items():
            if here:
                pipe.hset(keys.watching(show_id), mapping={buyer: until for buyer in here})
                pipe.expire(keys.watching(show_id), KEY_TTL_S)
        await pipe.execute()

    async def watching(self, show_id: int, buyer_ids: list[str]) -> set[str]:
        """Those of ``buyer_ids`` connected to the show now."""
        if not buyer_ids:
            return set()
        values = await self.redis.hmget(keys.watching(show_id), buyer_ids)
        now = now_ms()
        return {buyer for buyer, until in zip(buyer_ids, values, strict=True) if until is not None and int(until) > now}
