"""Retention (LIVEDROP_CHAT_RETENTION_DAYS, docs/privacy.md): chat lines and private messages
older than the setting are deleted, with the replay's copy of those chat lines.

Run as a job (web.livedrop) every RETENTION_EVERY_S; each run deletes in bounded batches, so a
first run on years of chat does not hold a table lock for long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.clock import now_ms
from inventory.threads import Threads
from live.models import ChatMessage, ShowEvent

DAY_MS = 24 * 3600 * 1000
BATCH = 5_000  # rows per statement


@dataclass
class Retention:
    sessions: async_sessionmaker[AsyncSession]
    threads: Threads
    days: int  # 0: keep forever
    clock: Callable[[], int] = now_ms

    async def run(self) -> int:
        """One pass; returns how many rows went."""
        if self.days <= 0:
            return 0
        cutoff = self.clock() - self.days * DAY_MS
        gone = 0
        async with self.sessions() as session, session.begin():
            ids = list((await session.execute(select(ChatMessage.id).where(ChatMessage.ts < cutoff).limit(BATCH))).scalars())
            if ids:
                await session.execute(delete(ChatMessage).where(ChatMessage.id.in_(ids)))
                gone += len(ids)
            # The replay's chat overlay plays these back; chat_deleted events naming them stay (ids
            # only). A pin carries a copy of the line pinned (its name and words): it goes too.
            events = list((await session.execute(select(ShowEvent.id).where(
                ShowEvent.type.in_(("chat", "chat_pin")), ShowEvent.ts < cutoff).limit(BATCH))).scalars())
            if events:
                await session.execute(delete(ShowEvent).where(ShowEvent.id.in_(events)))
                gone += len(events)
        gone += await self.threads.forget_older_than(cutoff)
        return gone
