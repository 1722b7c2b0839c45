"""live's parts of a buyer's data (inventory.personal_data): chat (with the replay's copy of it and
the stream's), mutes, waiting-room entries, back-in-stock wishes and show reminders.

Chat lines are removed everywhere a viewer or a replay could see them: the chat table, the show's
event log in SQL (what a replay plays back: its chat overlay), the show's Redis stream (what a
resuming page is sent), and every screen now (a ``chat_deleted`` event, which also drops it from
each process's chat tail). The purchase ticker's list in Redis loses the buyer's name.

Waiting-room entries (queue offers) keep their entry ids: the published audit lists entry ids
and ranks only, never who they are, and must still verify. The map from buyer id to entry id
expires with the offer (live.waiting_room, KEEP_MS). Draw entries will be a part of their own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import inventory.waitlist as line
from inventory.models import Order
from inventory.personal_data import Subject
from live import keys
from live.models import ChatMessage, DrawEntry, Mute, Offer, Show, ShowEvent
from live.reminders import ShowReminder
from live.waitlist import WaitlistEntry

CHAT_EXPORTED = 1000  # the newest lines; a buyer with more gets those (the rest are erased all the same)
REMOVED = "[removed]"


def _in_host(query: Any, subject: Subject, show_id_column: Any) -> Any:
    if subject.host_id is None:
        return query
    return query.where(show_id_column.in_(select(Show.id).where(Show.host_id == subject.host_id)))


class ChatPart:
    name = "chat"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis,
                 chat_deleted: Callable[[int, int], Awaitable[None]]) -> None:
        self.sessions = sessions
        self.redis = redis
        self.chat_deleted = chat_deleted  # publishes chat_deleted (ShowControl's way of deleting a line)

    async def find(self, subject: Subject) -> None:
        async with self.sessions() as session:
            names = (await session.execute(_in_host(select(ChatMessage.name).where(
                ChatMessage.buyer_id == subject.buyer_id).distinct(), subject, ChatMessage.show_id))).scalars()
            subject.names.update(n for n in names if n)

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.execute(_in_host(
                select(ChatMessage, Show.slug).join(Show, Show.id == ChatMessage.show_id)
                .where(ChatMessage.buyer_id == subject.buyer_id), subject, ChatMessage.show_id)
                .order_by(ChatMessage.id.desc()).limit(CHAT_EXPORTED))).all()
        return [{"id": m.id, "show_slug": slug, "name": m.name, "text": m.text, "ts": m.ts, "deleted": m.deleted_at is not None}
                for m, slug in reversed(rows)]

    async def erase(self, subject: Subject) -> int:
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(_in_host(select(ChatMessage.id, ChatMessage.show_id, ChatMessage.deleted_at).where(
                ChatMessage.buyer_id == subject.buyer_id), subject, ChatMessage.show_id))).all()
            erased_ids = {r[0] for r in rows}
            show_ids = sorted({show_id for _, show_id, _ in rows})
            if rows:
                await session.execute(delete(ChatMessage).where(ChatMessage.id.in_(erased_ids)))
            # The replay's copy: the buyer's lines, the staff's replies quoting them, and pins of either.
            for event in (await session.execute(select(ShowEvent).where(
                    ShowEvent.show_id.in_(show_ids), ShowEvent.type.in_(("chat", "chat_pin"))))).scalars() if show_ids else ():
                payload = _anonymized(event.type, event.payload, subject, erased_ids)
                if payload is not None:
                    event.payload = payload
            ticker_shows = set(show_ids) | set((await session.execute(_in_host(select(Order.show_id).where(
                Order.buyer_id.in_((subject.buyer_id, subject.pseudonym)), Order.show_id.is_not(None)).distinct(),
                subject, Order.show_id))).scalars())
        for show_id in show_ids:
            await self._scrub_stream(show_id, subject, erased_ids)
        for show_id in sorted(ticker_shows):
            await self._scrub_ticker(show_id, subject)
        for message_id, show_id, deleted_at in rows:
            if deleted_at is None:
                await self.chat_deleted(show_id, message_id)
        return len(rows)

    async def _scrub_stream(self, show_id: int, subject: Subject, erased_ids: set[int]) -> None:
        """The show's kept events in Redis (a resuming page replays them): the buyer's lines go, and
        so do the staff's replies quoting them and pins of either (a stream entry cannot be edited).
        A page resuming across a removed seq gets a fresh snapshot instead (live.events), which
        shows the replies without the quote."""
        stale: list[str] = []
        entries: Any = await self.redis.xrange(keys.events(show_id))
        for entry_id, fields in entries or ():
            kind = fields.get("t")
            if kind not in ("chat", "chat_pin"):
                continue
            try:
                frame = json.loads(str(fields.get("f", "")))
            except ValueError:
                continue
            if isinstance(frame, dict) and _anonymized(str(kind), frame, subject, erased_ids) is not None:
                stale.append(str(entry_id))
        if stale:
            await self.redis.xdel(keys.events(show_id), *stale)

    async def _scrub_ticker(self, show_id: int, subject: Subject) -> None:
        """The purchase ticker's list (``sold``) shows buyers by first name and nothing else: the
        lines with the buyer's go (a namesake's too: the ticker is a passing display, not a record)."""
        first_names = {n.split()[0] for n in subject.names if n.split()}
        sold = keys.sold(show_id)
        items: Any = await self.redis.lrange(sold, 0, -1)
        for item in items:
            try:
                name = json.loads(item).get("name")
            except ValueError:
                continue
            if name and (name.strip() in subject.names or name.strip() in first_names):
                await self.redis.lrem(sold, 0, item)


def _anonymized(kind: str, payload: dict[str, Any], subject: Subject, erased_ids: set[int]) -> dict[str, Any] | None:
    """A ``chat`` or ``chat_pin`` event's payload with the erased buyer's name and words taken
    out, or None when it names nothing of theirs. The buyer's own line keeps its id under the
    pseudonym (a replay shows "[removed]"); a reply quoting it keeps the quote's id only."""
    if kind == "chat_pin":
        message = payload.get("message")
        if not isinstance(message, dict):
            return None
        changed = _anonymized("chat", message, subject, erased_ids)
        return None if changed is None else {**payload, "message": changed}
    out = dict(payload)
    if out.get("buyer_id") == subject.buyer_id or out.get("id") in erased_ids:
        out.update(buyer_id=subject.pseudonym, name="", text=REMOVED)
        out.pop("reply_to", None)
    quoted = out.get("reply_to")
    if isinstance(quoted, dict) and quoted.get("id") in erased_ids:
        out["reply_to"] = {"id": quoted["id"], "name": "", "text": REMOVED}
    return None if out == payload else out


class MutesPart:
    """Mutes name only the buyer id; a host keeps them (an erased troll stays muted): exported, kept."""

    name = "mutes"

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def find(self, subject: Subject) -> None:
        return None

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.execute(_in_host(select(Mute, Show.slug).join(Show, Show.id == Mute.show_id)
                                                   .where(Mute.buyer_id == subject.buyer_id), subject, Mute.show_id))).all()
        return [{"show_slug": slug, "created_at": m.created_at} for m, slug in rows]

    async def erase(self, subject: Subject) -> int:
        return 0


class WishesPart:
    """Back-in-stock wishes (live.waitlist): exported; erasure leaves the lines and deletes the rows."""

    name = "wishes"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis) -> None:
        self.sessions = sessions
        self.redis = redis

    def _query(self, subject: Subject) -> Any:
        query = select(WaitlistEntry).where(WaitlistEntry.buyer_id == subject.buyer_id)
        return query if subject.host_id is None else query.where(WaitlistEntry.host_id == subject.host_id)

    async def find(self, subject: Subject) -> None:
        async with self.sessions() as session:
            subject.emails.update(e.email.strip().lower() for e in (await session.execute(self._query(subject))).scalars() if e.email)

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            entries = (await session.execute(self._query(subject))).scalars()
            return [{"id": e.id, "sku": e.sku, "product_id": e.product_id, "state": e.state, "email": e.email,
                     "joined_at": e.joined_at, "deadline": e.deadline} for e in entries]

    async def erase(self, subject: Subject) -> int:
        async with self.sessions() as session, session.begin():
            entries = list((await session.execute(self._query(subject))).scalars())
            for entry in entries:
                await line.leave(self.redis, entry.product_id, entry.sku, subject.buyer_id)
                await session.delete(entry)
        return len(entries)


class RemindersPart:
    name = "reminders"

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    def _query(self, subject: Subject) -> Any:
        return _in_host(select(ShowReminder).where(ShowReminder.buyer_id == subject.buyer_id), subject, ShowReminder.show_id)

    async def find(self, subject: Subject) -> None:
        async with self.sessions() as session:
            subject.emails.update(r.email.strip().lower() for r in (await session.execute(self._query(subject))).scalars() if r.email)

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            return [{"show_id": r.show_id, "email": r.email, "created_at": r.created_at}
                    for r in (await session.execute(self._query(subject))).scalars()]

    async def erase(self, subject: Subject) -> int:
        async with self.sessions() as session, session.begin():
            rows = list((await session.execute(self._query(subject))).scalars())
            for row in rows:
                await session.delete(row)
        return len(rows)


class QueueEntriesPart:
    """Places in waiting rooms (Redis): exported; kept on erasure (ids only, see above)."""

    name = "queue_entries"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis) -> None:
        self.sessions = sessions
        self.redis = redis

    async def find(self, subject: Subject) -> None:
        return None

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        query = select(Offer.id, Show.slug).join(Show, Show.id == Offer.show_id).where(Offer.mode == "queue")
        if subject.host_id is not None:
            query = query.where(Show.host_id == subject.host_id)
        async with self.sessions() as session:
            offers = (await session.execute(query.order_by(Offer.id.desc()).limit(500))).all()
        if not offers:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for offer_id, _ in offers:
            pipe.hget(keys.queue(offer_id, "buyers"), subject.buyer_id)
        out = []
        for (offer_id, slug), raw in zip(offers, await pipe.execute()):
            if raw:
                entry_id, _, joined_at = str(raw).split(" ")[:3]
                out.append({"offer_id": offer_id, "show_slug": slug, "entry_id": entry_id, "joined_at": int(joined_at)})
        return out

    async def erase(self, subject: Subject) -> int:
        return 0


class DrawEntriesPart:
    """Draw and giveaway entries (live.draws): exported; erasure blanks who entered (buyer id,
    email, card fingerprint, country) and keeps the entry id, size, status and rank, so the
    draw's audit still recomputes (docs/draws.md: the ranking uses entry ids only)."""

    name = "draw_entries"

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    def _query(self, subject: Subject) -> Any:
        query = (select(DrawEntry, Offer.show_id).join(Offer, Offer.id == DrawEntry.offer_id)
                 .where(DrawEntry.buyer_id == subject.buyer_id))
        return _in_host(query, subject, Offer.show_id)

    async def find(self, subject: Subject) -> None:
        async with self.sessions() as session:
            rows = (await session.execute(self._query(subject))).all()
        subject.emails.update(entry.email for entry, _ in rows if entry.email)

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.execute(self._query(subject).order_by(DrawEntry.created_at))).all()
        return [{"entry_id": e.id, "offer_id": e.offer_id, "sku": e.sku, "email": e.email, "country": e.country,
                 "status": e.status, "rank": e.rank, "hold_id": e.hold_id, "created_at": e.created_at} for e, _ in rows]

    async def erase(self, subject: Subject) -> int:
        async with self.sessions() as session, session.begin():
            ids = [entry.id for entry, _ in (await session.execute(self._query(subject))).all()]
            if ids:
                await session.execute(update(DrawEntry).where(DrawEntry.id.in_(ids)).values(
                    buyer_id=None, email=None, card_fingerprint=None, country=None))
        return len(ids)
