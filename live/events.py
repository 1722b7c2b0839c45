"""The event log of a show: lasting events with a gap-free seq, in a Redis stream and in SQL.

The seq is assigned and the event appended to the stream in one Lua script, so two processes
publishing at once can never produce a gap or an out-of-order stream. The stream keeps at least the
last ``keep`` events (MAXLEN ~) for resume; SQL keeps all of them for replay after the show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory import redis_replies
from inventory.clock import now_ms
from live import keys
from live.frames import dumps
from live.models import ShowEvent

log = logging.getLogger("livedrop.events")

KEEP_EVENTS = 1000
STREAM_TTL_MS = 7 * 24 * 3600 * 1000

# KEYS: seq, stream, stream start. ARGV: type, frame JSON without seq, keep, floor, ttl ms, ts.
# When the counter is missing (a new show, or Redis came back empty) it continues from the larger
# of the last seq SQL knows (floor) and the stream's last entry, so a seq is never handed out twice.
# The frame gets "seq" spliced in as its first field, which lets readers find it without parsing,
# then "media_ms": the event's offset into the show's video (ts minus the stream's start, which the
# web process that accepted the publisher keeps in KEYS[3]), or null while no stream runs. Read in
# the same script, so every process stamps an event alike and a stream starting or ending in between
# cannot split the frame from its SQL record.
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local floor = tonumber(ARGV[4])
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local s = tonumber(string.match(last[1][1], '^(%d+)'))
    if s > floor then floor = s end
  end
  redis.call('SET', KEYS[1], floor)
end
local seq = redis.call('INCR', KEYS[1])
local started = tonumber(redis.call('GET', KEYS[3]) or '')
local media = 'null'
if started then
  media = math.max(0, tonumber(ARGV[6]) - started)
  media = string.format('%d', media)
end
local frame = '{"seq":' .. seq .. ',"media_ms":' .. media .. ',' .. string.sub(ARGV[2], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-0', 't', ARGV[1], 'f', frame)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {seq, frame, media}
"""


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    frame: str  # the encoded frame, seq and media_ms included: sent as is


class EventLog:
    def __init__(self, redis: aioredis.Redis, sessions: async_sessionmaker, keep: int = KEEP_EVENTS) -> None:
        self.redis = redis
        self.sessions = sessions
        self.keep = keep
        self._append = redis.register_script(_APPEND)
        self._floors: dict[int, int] = {}  # show id -> last seq in SQL when first seen (Redis-loss guard)

    async def append(self, show_id: int, type_: str, fields: Mapping[str, Any],
                     appended: Callable[[int, Event], None] | None = None) -> Event:
        """Appends a lasting event; its media_ms comes from the show's stream start in Redis
        (``live.recordings.StreamClock``), so it is null while the show has no video.

        ``appended`` is called with the event as soon as the stream has it (seq assigned), before
        the SQL log write: this process's viewers need not wait for that write, nor for their
        own stream reader to read the event back (live.hub.Hub.publish)."""
        ts = now_ms()
        frame_without_seq = dumps({"type": type_, "ts": ts, **fields})
        floor = self._floors.get(show_id)
        if floor is None:
            floor = self._floors[show_id] = await self._sql_last_seq(show_id)
        # redis-py's Script reloads itself on NOSCRIPT (a restarted or flushed server).
        seq, frame, media = await self._append(
            keys=[keys.seq(show_id), keys.events(show_id), keys.stream_start(show_id)],
            args=[type_, frame_without_seq, self.keep, floor, STREAM_TTL_MS, ts],
        )
        seq = int(seq)
        media_ms = None if media in ("null", b"null") else int(media)
        event = Event(seq, type_, frame if isinstance(frame, str) else frame.decode())
        if appended is not None:
            appended(show_id, event)
        await self._record(show_id, seq, type_, fields, ts, media_ms)
        return event

    async def _record(self, show_id: int, seq: int, type_: str, fields: Mapping[str, Any], ts: int, media_ms: int | None) -> None:
        # After the XADD, so viewers never wait for SQL; a failure here loses replay, not delivery.
        try:
            async with self.sessions() as session:
                session.add(ShowEvent(show_id=show_id, seq=seq, type=type_, payload=dict(fields), ts=ts, media_ms=media_ms))
                await session.commit()
        except IntegrityError:
            log.error("show %s: seq %s is already in the event log (Redis lost its counter?)", show_id, seq)

    async def _sql_last_seq(self, show_id: int) -> int:
        async with self.sessions() as session:
            value = await session.scalar(select(func.max(ShowEvent.seq)).where(ShowEvent.show_id == show_id))
        return int(value or 0)

    async def current_seq(self, show_id: int) -> int:
        value = await self.redis.get(keys.seq(show_id))
        return int(value) if value else 0

    async def since(self, show_id: int, after: int) -> list[Event] | None:
        """Every event with a seq above ``after``, in order; None when some of them are no longer
        kept (or ``after`` is from the future, e.g. before Redis lost its data): take a snapshot."""
        current = await self.current_seq(show_id)
        if after == current:
            return []
        if after > current:
            return None
        entries = await redis_replies.xrange(self.redis, keys.events(show_id), f"{after + 1}-0")
        events = [Event(entry_seq(entry_id), fields["t"], fields["f"]) for entry_id, fields in entries]
        if not events or events[0].seq != after + 1:
            return None
        return events


def entry_seq(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])
