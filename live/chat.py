"""Chat: a length cap, a rate limit per buyer and show, mutes, stored in SQL, moderated by the host.

The text is stored and sent as typed; viewers' browsers insert it as text, never as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.clock import now_ms
from inventory.models import Buyer
from live import keys
from live.frames import ChatMessageJson
from live.models import ChatMessage, Mute, Show

WINDOW_MS = 10_000
RECENT = 50


class ChatRefused(Exception):
    """A message that breaks a rule; ``code`` is the error frame's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ChatRules:
    max_length: int = 280
    per_buyer_per_10s: int = 5


@dataclass
class ChatSeat:
    """One viewer connection's place in a show's chat: the buyer it speaks as (None: it may watch,
    not chat) and whether the host has muted that buyer in this show, as last seen (mutes are never
    lifted, so once seen there is no need to ask SQL again)."""

    show_id: int
    buyer_id: str | None
    muted: bool = False


REPLY_QUOTE_CHARS = 80  # a reply carries the start of the message it answers, this long at most


def message_json(message: ChatMessage, replied: ChatMessage | None = None) -> ChatMessageJson:
    """A message; staff messages add ``role`` (the badge), replies add ``reply_to`` (the id, name
    and start of the message answered, so a screen that no longer has it still shows it)."""
    data: ChatMessageJson = {"id": message.id, "buyer_id": message.buyer_id, "name": message.name, "text": message.text,
                             "ts": message.ts}
    if message.role:
        data["role"] = message.role
    if message.reply_to_id is not None and replied is not None:
        data["reply_to"] = {"id": replied.id, "name": replied.name, "text": replied.text[:REPLY_QUOTE_CHARS]}
    return data


def display_name(buyer: Buyer | None, buyer_id: str) -> str:
    if buyer is not None and buyer.name:
        return buyer.name
    return f"viewer-{buyer_id[:4]}"


class Chat:
    def __init__(self, redis: aioredis.Redis, sessions: async_sessionmaker, rules: ChatRules) -> None:
        self.redis = redis
        self.sessions = sessions
        self.rules = rules

    async def say(self, seat: ChatSeat, text: object) -> ChatMessage:
        """A message from ``seat``: checked, within the rate, not muted, stored. Raises ChatRefused
        (``not_signed_in``, ``muted``, ``malformed_frame``, ``chat_too_long``, ``rate_limited``).
        The caller publishes it."""
        if seat.buyer_id is None:
            raise ChatRefused("not_signed_in", "chat needs a buyer: POST /api/buyers, then the cookie or ?token=")
        if seat.muted:
            raise ChatRefused("muted", "the host has muted you in this show")
        try:
            clean = self.check_text(text)
            await self.within_rate(seat.show_id, seat.buyer_id)
            return await self.post(seat.show_id, seat.buyer_id, clean)
        except ChatRefused as refused:
            if refused.code == "muted":
                seat.muted = True
            raise

    def check_text(self, text: object) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ChatRefused("malformed_frame", "chat needs a non-empty \"text\"")
        if "\x00" in text:  # valid JSON, but PostgreSQL cannot store it in text
            raise ChatRefused("malformed_frame", "chat text may not contain NUL characters")
        text = text.strip()
        if len(text) > self.rules.max_length:
            raise ChatRefused("chat_too_long", f"a message may be at most {self.rules.max_length} characters")
        return text

    async def within_rate(self, show_id: int, buyer_id: str) -> None:
        """Fixed 10 s windows in Redis, so the limit holds across processes and reconnects."""
        key = keys.chat_rate(show_id, buyer_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(key, 0, px=WINDOW_MS, nx=True)  # starts the window (INCR keeps the expiry)
        pipe.incr(key)
        _, count = await pipe.execute()
        if int(count) > self.rules.per_buyer_per_10s:
            raise ChatRefused("rate_limited", f"at most {self.rules.per_buyer_per_10s} messages per 10 seconds")

    async def post(self, show_id: int, buyer_id: str, text: str) -> ChatMessage:
        """Stores the message (mutes checked in the same session). The caller publishes it."""
        async with self.sessions() as session:
            if await is_muted(session, show_id, buyer_id):
                raise ChatRefused("muted", "the host has muted you in this show")
            buyer = await session.get(Buyer, buyer_id)
            message = ChatMessage(show_id=show_id, buyer_id=buyer_id, name=display_name(buyer, buyer_id), text=text, ts=now_ms())
            session.add(message)
            await session.commit()
            return message

    async def recent(self, show_id: int) -> list[ChatMessageJson]:
        async with self.sessions() as session:
            query = (
                select(ChatMessage)
                .where(ChatMessage.show_id == show_id, ChatMessage.deleted_at.is_(None))
                .order_by(ChatMessage.id.desc())
                .limit(RECENT)
            )
            rows = list((await session.execute(query)).scalars())
            replied = await self._replied(session, rows)
        return [message_json(m, replied.get(m.reply_to_id or 0)) for m in reversed(rows)]

    async def _replied(self, session: AsyncSession, rows: list[ChatMessage]) -> dict[int, ChatMessage]:
        ids = {m.reply_to_id for m in rows if m.reply_to_id is not None}
        if not ids:
            return {}
        found = (await session.execute(select(ChatMessage).where(ChatMessage.id.in_(ids)))).scalars()
        return {m.id: m for m in found}

    async def post_as_staff(self, show_id: int, staff_id: str, name: str, role: str, text: str,
                            reply_to_id: int | None) -> tuple[ChatMessage, ChatMessage | None]:
        """A message of the show's host or a moderator (a badge on every screen), perhaps a reply.
        Returns it and the message it answers; ChatRefused ``not_found`` when that message is not
        one of this show's (or was deleted)."""
        async with self.sessions() as session:
            replied = None
            if reply_to_id is not None:
                replied = await session.scalar(select(ChatMessage).where(
                    ChatMessage.id == reply_to_id, ChatMessage.show_id == show_id, ChatMessage.deleted_at.is_(None)))
                if replied is None:
                    raise ChatRefused("not_found", "reply_to: no such message in this show's chat")
            message = ChatMessage(show_id=show_id, buyer_id=staff_id, name=name, text=text, ts=now_ms(), role=role,
                                  reply_to_id=reply_to_id)
            session.add(message)
            await session.commit()
            return message, replied

    async def shown(self, show_id: int, message_id: int) -> ChatMessageJson | None:
        """One message of the show as screens show it, None if it is not (or no longer) there."""
        async with self.sessions() as session:
            message = await session.scalar(select(ChatMessage).where(
                ChatMessage.id == message_id, ChatMessage.show_id == show_id, ChatMessage.deleted_at.is_(None)))
            if message is None:
                return None
            replied = await self._replied(session, [message])
            return message_json(message, replied.get(message.reply_to_id or 0))

    async def set_pinned(self, show_id: int, message_id: int | None) -> None:
        async with self.sessions() as session:
            await session.execute(update(Show).where(Show.id == show_id).values(pinned_message_id=message_id))
            await session.commit()

    async def log(self, show_id: int) -> list[ChatMessage]:
        """Every message of the show, deleted ones too (the CSV says which), oldest first."""
        async with self.sessions() as session:
            rows = await session.execute(select(ChatMessage).where(ChatMessage.show_id == show_id).order_by(ChatMessage.id))
            return list(rows.scalars())

    async def delete(self, show_id: int, message_id: int) -> bool | None:
        """True: deleted now; False: it was already; None: no such message in this show."""
        async with self.sessions() as session:
            found = await session.scalar(
                select(ChatMessage.id).where(ChatMessage.id == message_id, ChatMessage.show_id == show_id)
            )
            if found is None:
                return None
            result = await session.execute(
                update(ChatMessage)
                .where(ChatMessage.id == message_id, ChatMessage.deleted_at.is_(None))
                .values(deleted_at=now_ms())
            )
            await session.commit()
            return result.rowcount == 1

    async def mute(self, show_id: int, buyer_id: str) -> None:
        async with self.sessions() as session:
            session.add(Mute(show_id=show_id, buyer_id=buyer_id, created_at=now_ms()))
            try:
                await session.commit()
            except IntegrityError:  # muted already: fine
                await session.rollback()


async def is_muted(session: AsyncSession, show_id: int, buyer_id: str) -> bool:
    found = await session.scalar(select(Mute.id).where(Mute.show_id == show_id, Mute.buyer_id == buyer_id))
    return found is not None
