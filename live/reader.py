"""The one stream reader of a process: a single XREAD BLOCK over the event streams of every show
this process cares about (shows with viewers here, shows whose view is cached for sales).

Positions are kept per show, so a reconnect to Redis picks up exactly where it stopped. Following
a new show fixes its position first (the show's current seq), then wakes the blocked XREAD through
a small per-process stream, so the new show is read within one round trip.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

import redis.asyncio as aioredis

from inventory import redis_replies
from inventory.faults import Outages
from live import keys
from live.events import Event, entry_seq

log = logging.getLogger("livedrop.reader")

BLOCK_MS = 2000  # below any socket timeout a Redis client may have (the embedded one has 5 s)
COUNT = 500
WAKE_TTL_MS = 60_000


class StreamReader:
    def __init__(
        self, redis: aioredis.Redis, on_events: Callable[[int, list[Event]], None], outages: Outages | None = None
    ) -> None:
        self.redis = redis
        self.on_events = on_events
        self.outages = outages  # takes Redis faults: one line per outage, not one per retry
        self.wake_key = f"ld:wake:{secrets.token_hex(6)}"
        self._positions: dict[int, str] = {}  # show id -> last stream id read
        self._refs: dict[int, int] = {}
        self._wake_position = "0-0"
        self._task: asyncio.Task[None] | None = None

    def following(self, show_id: int) -> bool:
        return show_id in self._positions

    async def follow(self, show_id: int) -> int:
        """Start (or keep) reading a show; returns the seq from which events will be delivered
        (every event above it reaches ``on_events``)."""
        self._refs[show_id] = self._refs.get(show_id, 0) + 1
        if show_id in self._positions:
            return entry_seq(self._positions[show_id])
        value = await self.redis.get(keys.seq(show_id))
        if show_id in self._positions:  # another follower raced us through the await
            return entry_seq(self._positions[show_id])
        seq = int(value or 0)
        self._positions[show_id] = f"{seq}-0"
        await self._wake()
        return seq

    def unfollow(self, show_id: int) -> None:
        left = self._refs.get(show_id, 0) - 1
        if left > 0:
            self._refs[show_id] = left
            return
        self._refs.pop(show_id, None)
        self._positions.pop(show_id, None)

    async def _wake(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(self.wake_key, {"w": "1"}, maxlen=10, approximate=False)
        pipe.pexpire(self.wake_key, WAKE_TTL_MS)
        await pipe.execute()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-reader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.redis.delete(self.wake_key)
        except Exception:  # stopping; Redis may be gone already
            pass

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._read_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting or unreachable: positions are kept, retry
                if self.outages is None or self.outages.report(exc, refused=False) is None:
                    log.warning("stream reader: %s; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _read_once(self) -> None:
        streams = {keys.events(show_id): position for show_id, position in self._positions.items()}
        streams[self.wake_key] = self._wake_position
        answer = await redis_replies.xread(self.redis, streams, count=COUNT, block=BLOCK_MS)
        for key, entries in answer:
            if key == self.wake_key:
                self._wake_position = entries[-1][0]
                continue
            show_id = keys.show_of_events_key(key)
            if show_id not in self._positions:
                continue  # unfollowed while we were blocked
            self._positions[show_id] = entries[-1][0]
            self.on_events(show_id, [Event(entry_seq(entry_id), f["t"], f["f"]) for entry_id, f in entries])
