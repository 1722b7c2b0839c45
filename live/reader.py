"""The stream readers of a process: XREAD BLOCK over the event streams of every show this process
cares about (shows with viewers here, shows whose view is cached for sales).

On one Redis server that is a single XREAD over every show. In a Redis Cluster an XREAD may only
name keys of one slot (CROSSSLOT otherwise), so shows are grouped by their stream's slot and each
group has its own blocked XREAD (and connection); redis-py's cluster client sends each to the
primary that owns the slot, following it through a resharding or a failover. Shows hash to
16,384 slots, so a process following N live shows holds at most N blocked reads; 100 shows cost
100 idle connections spread over the primaries, well within their 10,000 clients.

The private stream (live.private_feed: frames for one buyer or one host) is read the same way:
in the one XREAD on one server; in a cluster, in the group of its slot ({private}).

Positions are kept per show, so a reconnect to Redis picks up exactly where it stopped. Following
a new show fixes its position first (the show's current seq), then wakes its group's blocked
XREAD through a small per-process stream in the same slot (tagged with a show of the group), so
the new show is read within one round trip.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from inventory import redis_replies
from inventory.faults import Outages
from inventory.redis_cluster import is_cluster, slot_of
from inventory.timeouts import raise_if_cancelled
from live import keys
from live.events import Event, entry_seq
from live.private_feed import STREAM as PRIVATE_STREAM

log = logging.getLogger("livedrop.reader")

BLOCK_MS = 2000  # below any socket timeout a Redis client may have (the embedded one has 5 s)
COUNT = 500
WAKE_TTL_MS = 60_000
SINGLE = 0  # the one group on one server
PRIVATE_WAKE = "ld:{private}:wake:"  # + process tag: in the private stream's slot


@dataclass
class _Group:
    """Shows read by one blocked XREAD, with the wake stream that interrupts it."""

    wake_key: str
    shows: set[int] = field(default_factory=set)
    wake_position: str = "0-0"
    task: asyncio.Task[None] | None = None


class StreamReader:
    def __init__(
        self, redis: aioredis.Redis, on_events: Callable[[int, list[Event]], None], outages: Outages | None = None
    ) -> None:
        self.redis = redis
        self.on_events = on_events
        self.outages = outages  # takes Redis faults: one line per outage, not one per retry
        self.cluster = is_cluster(redis)
        self.process_tag = secrets.token_hex(6)
        self.wake_key = f"ld:wake:{self.process_tag}"  # one server's group
        self._positions: dict[int, str] = {}  # show id -> last stream id read
        self._refs: dict[int, int] = {}
        self._groups: dict[int, _Group] = {}  # slot (a cluster) or SINGLE -> its group
        self._started = False
        # ld:{private} (live.private_feed): read by its slot's group once ``read_private`` fixed where.
        self._private_position: str | None = None
        self._on_private: Callable[[list[tuple[str, dict[str, str]]]], None] | None = None
        self._private_group_id = slot_of(PRIVATE_STREAM) if self.cluster else SINGLE

    def following(self, show_id: int) -> bool:
        return show_id in self._positions

    def _group_id(self, show_id: int) -> int:
        return slot_of(keys.events(show_id)) if self.cluster else SINGLE

    async def read_private(self, on_entries: Callable[[list[tuple[str, dict[str, str]]]], None]) -> None:
        """Also read the private stream, from its current end (frames sent before this process
        started are not its business: pages fetch their threads over HTTP)."""
        last = await self.redis.xrevrange(PRIVATE_STREAM, count=1)
        self._private_position = str(last[0][0]) if last else "0-0"
        self._on_private = on_entries
        group = self._groups.get(self._private_group_id)
        if group is None:
            wake_key = PRIVATE_WAKE + self.process_tag if self.cluster else self.wake_key
            group = self._groups[self._private_group_id] = _Group(wake_key)
        if self._started and group.task is None:
            self._start_group(group)
        await self._wake(group)

    def _group_of(self, show_id: int) -> _Group:
        group_id = self._group_id(show_id)
        group = self._groups.get(group_id)
        if group is None:
            wake_key = keys.prefix(show_id) + f"wake:{self.process_tag}" if self.cluster else self.wake_key
            group = self._groups[group_id] = _Group(wake_key)
        return group

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
        group = self._group_of(show_id)
        group.shows.add(show_id)
        if self._started and group.task is None:
            self._start_group(group)
        await self._wake(group)
        return seq

    def unfollow(self, show_id: int) -> None:
        left = self._refs.get(show_id, 0) - 1
        if left > 0:
            self._refs[show_id] = left
            return
        self._refs.pop(show_id, None)
        self._positions.pop(show_id, None)
        group_id = self._group_id(show_id)
        group = self._groups.get(group_id)
        if group is not None:
            group.shows.discard(show_id)
            if self.cluster and not group.shows and not (group_id == self._private_group_id and self._on_private):
                # Nobody left in this slot: its blocked read ends (its wake stream expires by itself).
                del self._groups[group_id]
                if group.task is not None:
                    group.task.cancel()

    async def _wake(self, group: _Group) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(group.wake_key, {"w": "1"}, maxlen=10, approximate=False)
        pipe.pexpire(group.wake_key, WAKE_TTL_MS)
        await pipe.execute()

    def start(self) -> None:
        self._started = True
        if not self.cluster:
            self._groups.setdefault(SINGLE, _Group(self.wake_key))
        for group in self._groups.values():
            if group.task is None:
                self._start_group(group)

    def _start_group(self, group: _Group) -> None:
        group.task = asyncio.create_task(self._run(group), name=f"stream-reader:{group.wake_key}")

    async def stop(self) -> None:
        self._started = False
        groups = list(self._groups.values())
        tasks = [g.task for g in groups if g.task is not None]
        for group in groups:
            if group.task is not None:
                group.task.cancel()
                group.task = None
        await asyncio.gather(*tasks, return_exceptions=True)
        for group in groups:
            try:
                await self.redis.delete(group.wake_key)
            except Exception:  # stopping; Redis may be gone already
                pass

    async def _run(self, group: _Group) -> None:
        backoff = 0.1
        while True:
            raise_if_cancelled()  # redis-py may swallow the cancel that stops this loop (inventory.timeouts)
            try:
                await self._read_once(group)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting or unreachable: positions are kept, retry
                if self.outages is None or self.outages.report(exc, refused=False) is None:
                    log.warning("stream reader: %s; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _read_once(self, group: _Group) -> None:
        streams = {keys.events(show_id): self._positions[show_id] for show_id in group.shows if show_id in self._positions}
        streams[group.wake_key] = group.wake_position
        private = self._private_position is not None and self._groups.get(self._private_group_id) is group
        if private:
            streams[PRIVATE_STREAM] = self._private_position  # type: ignore[assignment]
        answer = await redis_replies.xread(self.redis, streams, count=COUNT, block=BLOCK_MS)
        for key, entries in answer:
            if key == group.wake_key:
                group.wake_position = entries[-1][0]
                continue
            if private and key == PRIVATE_STREAM:
                self._private_position = entries[-1][0]
                if self._on_private is not None:
                    self._on_private(entries)
                continue
            show_id = keys.show_of_events_key(key)
            if show_id not in self._positions:
                continue  # unfollowed while we were blocked
            self._positions[show_id] = entries[-1][0]
            self.on_events(show_id, [Event(entry_seq(entry_id), f["t"], f["f"]) for entry_id, f in entries])
