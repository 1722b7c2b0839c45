"""Viewers, reactions and the purchase ticker, counted across processes at a bounded rate.

Every tick each process writes its own viewer count per show into a Redis hash (with an expiry
time in the value, so a crashed process stops counting), adds the reactions its viewers sent
since the last tick, and reads the totals back: one pipeline per tick for every show it serves.
Viewers see a ``viewers`` or ``reactions`` frame only when the total changed, and at most a few
``sold`` frames per tick, however many sales there were.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from collections.abc import Iterable
from typing import TypeGuard

import redis.asyncio as aioredis

from inventory.clock import now_ms
from live import keys
from live.frames import SoldJson, reactions_frame, sold_frame, viewers_frame
from live.room import Room

log = logging.getLogger("livedrop.presence")

TICK_S = 0.5
VIEWER_TTL_MS = 5_000  # a process that stops refreshing drops out of the count after this
KEY_TTL_MS = 24 * 3600 * 1000
SOLD_KEEP = 20
SOLD_PER_TICK = 2

REACTIONS = ("❤️", "🔥", "😂", "😮", "👏", "👍")


class Presence:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.process_id = secrets.token_hex(6)
        self._reactions: dict[int, Counter[str]] = {}  # not yet added to Redis
        self._sold_seen: dict[int, int] = {}

    def react(self, show_id: int, emoji: str) -> None:
        self._reactions.setdefault(show_id, Counter())[emoji] += 1

    async def record_sale(self, show_id: int, sku: str, quantity: int, name: str | None = None) -> None:
        entry: SoldJson = {"sku": sku, "quantity": int(quantity)}
        if name:
            entry["name"] = name[:40]
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(keys.sold(show_id), json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(keys.sold(show_id), -SOLD_KEEP, -1)
        pipe.incr(keys.sold_count(show_id))
        pipe.pexpire(keys.sold(show_id), KEY_TTL_MS)
        pipe.pexpire(keys.sold_count(show_id), KEY_TTL_MS)
        await pipe.execute()

    async def tick(self, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        now = now_ms()
        pipe = self.redis.pipeline(transaction=False)
        added: list[int] = []  # per room: how many HINCRBY answers to skip
        for room in rooms:
            sid = room.show_id
            pipe.hset(keys.viewers(sid), self.process_id, f"{len(room)}:{now + VIEWER_TTL_MS}")
            pipe.pexpire(keys.viewers(sid), KEY_TTL_MS)
            pipe.hgetall(keys.viewers(sid))
            new = self._reactions.pop(sid, Counter())
            for emoji, n in new.items():
                pipe.hincrby(keys.reactions(sid), emoji, n)
            added.append(len(new))
            pipe.pexpire(keys.reactions(sid), KEY_TTL_MS)
            pipe.hgetall(keys.reactions(sid))
            pipe.get(keys.sold_count(sid))
        self._reactions.clear()  # reactions for shows without a room here: nobody to count them for
        results = iter(await pipe.execute())
        stale: list[tuple[int, str]] = []
        sold_due: list[tuple[Room, int]] = []
        for room, n_added in zip(rooms, added):
            next(results)  # hset
            next(results)  # pexpire
            counts: dict[str, str] = next(results)
            viewers = 0
            for process, value in counts.items():
                count, _, expires = value.partition(":")
                if int(expires or 0) < now:
                    stale.append((room.show_id, process))
                else:
                    viewers += int(count)
            for _ in range(n_added + 1):  # the HINCRBYs and the PEXPIRE
                next(results)
            reactions = {k: int(v) for k, v in next(results).items()}
            sold_count = int(next(results) or 0)
            if viewers != room.viewers:
                room.viewers = viewers
                room.deliver(viewers_frame(viewers))
            if reactions != room.reactions:
                room.reactions = reactions
                room.deliver(reactions_frame(reactions))
            seen = self._sold_seen.get(room.show_id)
            self._sold_seen[room.show_id] = sold_count
            if seen is not None and sold_count > seen:
                sold_due.append((room, min(sold_count - seen, SOLD_PER_TICK)))
        if stale:
            pipe = self.redis.pipeline(transaction=False)
            for show_id, process in stale:
                pipe.hdel(keys.viewers(show_id), process)
            await pipe.execute()
        for room, n in sold_due:
            for raw in await self.redis.lrange(keys.sold(room.show_id), -n, -1):
                room.deliver(sold_frame(json.loads(raw)))

    async def leave(self, show_id: int) -> None:
        """No viewers of this show here any more: stop counting for it."""
        self._sold_seen.pop(show_id, None)
        await self.redis.hdel(keys.viewers(show_id), self.process_id)

    async def totals(self, show_id: int) -> tuple[int, dict[str, int]]:
        """Viewers and reactions as Redis has them (for snapshots of shows not served here)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.viewers(show_id))
        pipe.hgetall(keys.reactions(show_id))
        counts, reactions = await pipe.execute()
        now = now_ms()
        viewers = 0
        for value in counts.values():
            count, _, expires = value.partition(":")
            if int(expires or 0) >= now:
                viewers += int(count)
        return viewers, {k: int(v) for k, v in reactions.items()}


def allowed_reaction(emoji: object) -> TypeGuard[str]:
    return isinstance(emoji, str) and emoji in REACTIONS

