"""Recordings of a show's video, the stream clock events are stamped against, and the replay.

    WHIP accepted (web)  -> StreamClock.start: ld:{s<id>}:stream_start = now, and a Recording row
    every lasting event   -> live.events stamps media_ms = ts - stream_start (one Lua call)
    publisher leaves / show ends -> the media engine finishes the file; StreamClock.stop; ended_at
    after the show        -> live.replay: the recording and a timeline of pins and offers by media_ms

Knows no HTTP and no media engine: the web layer wires the engine's start and end to these calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.clock import now_ms
from live import keys
from live.models import BagItem, Offer, Recording, Show, ShowEvent

STREAM_START_TTL_MS = 48 * 3600 * 1000  # a safety net: a web process that died mid-stream never cleared it
REPLAY_VIEWER_TTL_MS = 45_000  # a replay page's heartbeat comes every 20 s
REPLAY_EVENT_TYPES = ("pin", "unpin", "offer")

# KEYS: stream start. ARGV: the start it must still hold. Deletes only our own stream's start, so a
# publisher that reconnected (a new start) is not cleared by the old session's late end.
_STOP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: replay viewers. ARGV: now, viewer id, expires at, key ttl. Returns the replay viewers now.
_HEARTBEAT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return redis.call('ZCARD', KEYS[1])
"""


class StreamClock:
    """When each show's stream started (ms), in Redis so every web process stamps events alike."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._stop = redis.register_script(_STOP)

    async def start(self, show_id: int, started_at: int) -> None:
        await self.redis.set(keys.stream_start(show_id), started_at, px=STREAM_START_TTL_MS)

    async def stop(self, show_id: int, started_at: int | None = None) -> bool:
        """The stream ended. With ``started_at``, only if it is still that stream. True: it was
        running and is now stopped (so viewers are told once, not at every later end call)."""
        if started_at is None:
            return bool(await self.redis.delete(keys.stream_start(show_id)))
        return bool(await self._stop(keys=[keys.stream_start(show_id)], args=[str(started_at)]))

    async def current(self, show_id: int) -> int | None:
        value = await self.redis.get(keys.stream_start(show_id))
        return int(value) if value else None


class ReplayAudience:
    """People watching a show's replay, counted apart from its live viewers: each replay page
    sends a heartbeat with its own random id; an id whose heartbeat stopped drops out."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._heartbeat = redis.register_script(_HEARTBEAT)

    async def heartbeat(self, show_id: int, viewer_id: str) -> int:
        now = now_ms()
        count = await self._heartbeat(keys=[keys.replay_viewers(show_id)],
                                      args=[now, viewer_id, now + REPLAY_VIEWER_TTL_MS, REPLAY_VIEWER_TTL_MS * 10])
        return int(count)

    async def count(self, show_id: int) -> int:
        return await self.heartbeat(show_id, "")


# -- SQL -------------------------------------------------------------------------------------------


def recording_file(show_id: int, started_at: int) -> str:
    """Where a stream is recorded, relative to the recordings folder: one folder per show."""
    return f"show-{int(show_id)}/{int(started_at)}.webm"


async def add_recording(session: AsyncSession, show_id: int, started_at: int) -> Recording:
    recording = Recording(show_id=show_id, file=recording_file(show_id, started_at), started_at=started_at)
    session.add(recording)
    return recording


async def finish_recording(session: AsyncSession, show_id: int, started_at: int | None, at: int) -> None:
    """Marks the recording of the stream that started at ``started_at`` (None: every one still
    open of the show) as ended at ``at``."""
    query = update(Recording).where(Recording.show_id == show_id, Recording.ended_at.is_(None))
    if started_at is not None:
        query = query.where(Recording.started_at == started_at)
    await session.execute(query.values(ended_at=at))


async def replay_recording(session: AsyncSession, show: Show) -> Recording | None:
    """The recording a replay plays: the longest of the show's (a publisher that dropped and came
    back leaves several; see docs/operations.md). None while the show is not over."""
    if show.status != "ended":
        return None
    rows = list((await session.execute(select(Recording).where(Recording.show_id == show.id))).scalars())
    if not rows:
        return None
    end = show.ended_at or now_ms()
    return max(rows, key=lambda r: ((r.ended_at or end) - r.started_at, r.id))


async def has_recording(session: AsyncSession, show_id: int) -> bool:
    return (await session.execute(select(Recording.id).where(Recording.show_id == show_id).limit(1))).first() is not None


async def replay_product_ids(session: AsyncSession, show_id: int) -> set[int]:
    """Every product pinned or offered during the show, and every product the host kept in its bag
    (docs/bag.md): what its replay sells (at list price). A product taken out of the bag before the
    end, and never pinned or offered, is not sold there."""
    ids = set((await session.execute(select(Offer.product_id).where(Offer.show_id == show_id))).scalars())
    ids |= set((await session.execute(select(BagItem.product_id).where(BagItem.show_id == show_id))).scalars())
    pins = await session.execute(select(ShowEvent.payload).where(ShowEvent.show_id == show_id, ShowEvent.type == "pin"))
    for payload in pins.scalars():
        if isinstance(payload, dict) and isinstance(payload.get("product_id"), int):
            ids.add(payload["product_id"])
    pinned = await session.scalar(select(Show.pinned_product_id).where(Show.id == show_id))
    if pinned is not None:
        ids.add(pinned)
    return ids


@dataclass(frozen=True)
class TimelineEvent:
    seq: int
    type: str
    media_ms: int
    ts: int
    payload: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return {**self.payload, "seq": self.seq, "type": self.type, "media_ms": self.media_ms, "ts": self.ts}


async def timeline(session: AsyncSession, show_id: int, recording: Recording) -> list[TimelineEvent]:
    """The replay's pins, unpins and offers, each at its media_ms in ``recording``.

    Events stamped during this recording carry their media_ms from SQL. Events from before it
    (the host pinned, then went on camera) get 0: they are the state the video opens on. Events
    after it ended are left out."""
    rows = (await session.execute(
        select(ShowEvent).where(ShowEvent.show_id == show_id, ShowEvent.type.in_(REPLAY_EVENT_TYPES))
        .order_by(ShowEvent.seq)
    )).scalars()
    events: list[TimelineEvent] = []
    for row in rows:
        if row.media_ms is not None and row.ts - row.media_ms == recording.started_at:
            at = int(row.media_ms)
        else:  # before this recording (or stamped without a stream clock): by its time
            at = max(0, int(row.ts) - recording.started_at)
        if recording.ended_at is not None and row.ts > recording.ended_at:
            continue
        payload = row.payload if isinstance(row.payload, dict) else {}
        events.append(TimelineEvent(int(row.seq), row.type, at, int(row.ts), payload))
    return events
