"""Private threads between a host and a buyer (docs/threads.md), the SQL half: one thread per
(host, buyer), its messages, read receipts, closing and blocking, and the host's response figure.

Text only, bounded (``MAX_TEXT``), stored as typed: every page escapes it when it shows it. A
message may carry one card (an order, a product, or a hold the host offers), stored as a small
JSON object that names what it points at; the pages fetch the thing itself through its own route,
which checks who may see it.

Delivery (live frames, email when no page is open) is live's (live.threads); this module only
writes and reads.
"""

from __future__ import annotations

import secrets
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from inventory.clock import now_ms
from inventory.errors import InventoryError, NotFound
from inventory.models import Base
from inventory.outbox import announce

MAX_TEXT = 2000  # characters; a chat line is 280, a customer-service question a few sentences
MAX_MESSAGES_SHOWN = 200  # the newest of a thread; older ones are kept but not paged (yet)
ANSWER_WINDOW_MS = 12 * 3600 * 1000  # TikTok Shop's 12-hour response rate
WEEK_MS = 7 * 24 * 3600 * 1000
# 1970-01-01 was a Thursday: weeks start on Monday 00:00 UTC, 3 days later.
_MONDAY_OFFSET_MS = 4 * 24 * 3600 * 1000
FIGURE_WEEKS = 8
FIGURE_MAX_MESSAGES = 50_000  # bounds one figure's work; a host with more sees the newest ones

BUYER, HOST = "buyer", "host"
OPEN, CLOSED = "open", "closed"


class ThreadClosed(InventoryError):
    code, status, default_message = "thread_closed", 409, "this conversation is closed; the seller can reopen it"


class Blocked(InventoryError):
    code, status, default_message = "blocked", 403, "the seller does not take messages from you"


class MessageTooLong(InventoryError):
    code, status, default_message = "message_too_long", 422, f"a message may be at most {MAX_TEXT} characters"


class EmptyMessage(InventoryError):
    code, status, default_message = "invalid_request", 422, "text: write something first"


class Thread(Base):
    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("host_id", "buyer_id", name="uq_threads_host_buyer"),)
    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # unguessable: it is in email links
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(8), default=OPEN)  # open | closed
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)  # the host takes no more from this buyer
    # Where "you have a message" goes when the buyer has no page open (given when asking, or the
    # email of their latest order with this host).
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    last_message_at: Mapped[int] = mapped_column(BigInteger, default=now_ms, index=True)
    buyer_read_at: Mapped[int] = mapped_column(BigInteger, default=0)
    host_read_at: Mapped[int] = mapped_column(BigInteger, default=0)
    emailed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the last "you have a message" email


class ThreadMessage(Base):
    __tablename__ = "thread_messages"
    __table_args__ = (Index("ix_thread_messages_thread_created", "thread_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(8))  # buyer | host
    text: Mapped[str] = mapped_column(Text)
    # {"kind": "order", "order_id"} | {"kind": "product", "product_id"} | {"kind": "hold", "hold_id", ...}
    card: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms, index=True)


def new_thread_id() -> str:
    return "th_" + secrets.token_urlsafe(15)  # 20 characters, 120 random bits


def clean_text(text: str) -> str:
    """The message as stored: stripped, bounded, without NUL (PostgreSQL cannot store it)."""
    text = text.replace("\x00", "").strip()
    if not text:
        raise EmptyMessage()
    if len(text) > MAX_TEXT:
        raise MessageTooLong(f"a message may be at most {MAX_TEXT} characters; this one has {len(text)}")
    return text


def thread_json(thread: Thread, unread: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": thread.id, "host_id": thread.host_id, "buyer_id": thread.buyer_id, "status": thread.status,
        "blocked": thread.blocked, "created_at": thread.created_at, "last_message_at": thread.last_message_at,
        "buyer_read_at": thread.buyer_read_at, "host_read_at": thread.host_read_at,
    }
    if unread is not None:
        out["unread"] = unread
    return out


def message_json(message: ThreadMessage, thread: Thread) -> dict[str, Any]:
    """A message with its read receipt: read once the other side has opened the thread since."""
    other_read = thread.host_read_at if message.sender == BUYER else thread.buyer_read_at
    return {"id": message.id, "thread_id": message.thread_id, "sender": message.sender, "text": message.text,
            "card": message.card, "created_at": message.created_at, "read": other_read >= message.created_at}


@dataclass(frozen=True)
class Posted:
    thread: Thread
    message: ThreadMessage
    new_thread: bool


class Threads:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # -- reading ------------------------------------------------------------------------------------

    async def of_buyer(self, thread_id: str, buyer_id: str) -> Thread:
        """The buyer's own thread, or NotFound (another's answers the same as none)."""
        async with self.sessions() as session:
            thread = await session.get(Thread, thread_id) if len(thread_id) <= 24 else None
        if thread is None or thread.buyer_id != buyer_id:
            raise NotFound("no such conversation")
        return thread

    async def of_host(self, thread_id: str, host_id: int) -> Thread:
        async with self.sessions() as session:
            thread = await session.get(Thread, thread_id) if len(thread_id) <= 24 else None
        if thread is None or thread.host_id != host_id:
            raise NotFound("no such conversation")
        return thread

    async def between(self, host_id: int, buyer_id: str) -> Thread | None:
        async with self.sessions() as session:
            return (await session.execute(select(Thread).where(
                Thread.host_id == host_id, Thread.buyer_id == buyer_id))).scalar_one_or_none()

    async def messages(self, thread_id: str) -> tuple[Thread, list[ThreadMessage]]:
        async with self.sessions() as session:
            thread = await session.get(Thread, thread_id)
            if thread is None:
                raise NotFound("no such conversation")
            rows = (await session.execute(
                select(ThreadMessage).where(ThreadMessage.thread_id == thread_id)
                .order_by(ThreadMessage.id.desc()).limit(MAX_MESSAGES_SHOWN))).scalars().all()
        return thread, list(reversed(rows))

    async def listed(self, *, host_id: int | None = None, buyer_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """A host's (or a buyer's) threads, newest first, each with how many messages the caller has not read."""
        side_read = Thread.host_read_at if host_id is not None else Thread.buyer_read_at
        other = BUYER if host_id is not None else HOST
        unread = (select(func.count(ThreadMessage.id)).where(
            ThreadMessage.thread_id == Thread.id, ThreadMessage.sender == other,
            ThreadMessage.created_at > side_read).correlate(Thread).scalar_subquery())
        query = select(Thread, unread).order_by(Thread.last_message_at.desc(), Thread.id).limit(limit)
        query = query.where(Thread.host_id == host_id) if host_id is not None else query.where(Thread.buyer_id == buyer_id)
        async with self.sessions() as session:
            rows = (await session.execute(query)).all()
        return [thread_json(thread, int(n)) for thread, n in rows]

    # -- writing ------------------------------------------------------------------------------------

    async def post(self, host_id: int, buyer_id: str, sender: str, text: str, card: dict[str, Any] | None = None,
                   email: str | None = None) -> Posted:
        """A message in the (host, buyer) thread, made on the first message. A buyer's message to a
        closed thread is ThreadClosed, to a host that blocked them Blocked; a host may write to a
        closed thread (which reopens it) but not to a buyer it blocked (unblock first)."""
        clean = clean_text(text)
        async with self.sessions() as session, session.begin():
            thread = (await session.execute(select(Thread).where(
                Thread.host_id == host_id, Thread.buyer_id == buyer_id).with_for_update())).scalar_one_or_none()
            new = thread is None
            now = now_ms()
            if thread is None:
                thread = Thread(id=new_thread_id(), host_id=host_id, buyer_id=buyer_id, status=OPEN, blocked=False,
                                created_at=now, last_message_at=now, buyer_read_at=0, host_read_at=0)
                session.add(thread)
            if thread.blocked:
                raise Blocked() if sender == BUYER else Blocked("you blocked this buyer; unblock them to write")
            if thread.status == CLOSED:
                if sender == BUYER:
                    raise ThreadClosed()
                thread.status = OPEN
            if email:
                thread.email = email
            # Strictly rising times within a thread: read receipts compare them.
            now = max(now, thread.last_message_at + 1) if not new else now
            message = ThreadMessage(thread_id=thread.id, sender=sender, text=clean, card=card, created_at=now)
            session.add(message)
            thread.last_message_at = now
            if sender == BUYER:
                thread.buyer_read_at = now
            else:
                thread.host_read_at = now
            await session.flush()
        return Posted(thread, message, new)

    async def mark_read(self, thread_id: str, side: str) -> Thread:
        async with self.sessions() as session, session.begin():
            thread = await session.get(Thread, thread_id)
            if thread is None:
                raise NotFound("no such conversation")
            if side == BUYER:
                thread.buyer_read_at = max(thread.buyer_read_at, thread.last_message_at)
            else:
                thread.host_read_at = max(thread.host_read_at, thread.last_message_at)
        return thread

    async def set_state(self, thread_id: str, *, status: str | None = None, blocked: bool | None = None) -> Thread:
        async with self.sessions() as session, session.begin():
            thread = await session.get(Thread, thread_id)
            if thread is None:
                raise NotFound("no such conversation")
            if status is not None:
                thread.status = status
            if blocked is not None:
                thread.blocked = blocked
        return thread

    async def notify_by_email(self, thread_id: str, since: int, payload: Callable[[str], dict[str, Any]]) -> bool:
        """Announce "you have a message" (outbox ``thread.message``) once per unread stretch: not
        when the thread has no address, nor when an email went out after the buyer last read it.
        The announcement commits with the mark that it went."""
        async with self.sessions() as session, session.begin():
            thread = (await session.execute(select(Thread).where(Thread.id == thread_id).with_for_update())).scalar_one_or_none()
            if thread is None or not thread.email:
                return False
            if thread.emailed_at is not None and thread.emailed_at >= thread.buyer_read_at:
                return False
            thread.emailed_at = max(since, thread.buyer_read_at + 1)
            announce(session, "thread.message", payload(thread.email), host_id=None)
        return True

    async def forget_older_than(self, cutoff_ms: int, batch: int = 5_000) -> int:
        """Retention: messages older than the cutoff go (``batch`` at a time), and threads left
        without any. Writes nothing when nothing is that old (the job runs on every start)."""
        async with self.sessions() as session, session.begin():
            ids = list((await session.execute(
                select(ThreadMessage.id).where(ThreadMessage.created_at < cutoff_ms).limit(batch))).scalars())
            if not ids:
                return 0
            await session.execute(delete(ThreadMessage).where(ThreadMessage.id.in_(ids)))
            await session.execute(delete(Thread).where(
                Thread.last_message_at < cutoff_ms,
                ~select(ThreadMessage.id).where(ThreadMessage.thread_id == Thread.id).exists()))
        return len(ids)

    # -- the host's figure -------------------------------------------------------------------------

    async def response_figures(self, host_id: int, now: int | None = None, weeks: int = FIGURE_WEEKS) -> list[dict[str, Any]]:
        """Per week (Monday 00:00 UTC), newest first: buyer messages, the share answered within 12
        hours, and the median time to the first answer. A buyer message counts as answered by the
        host's next message in its thread; one younger than 12 hours and not yet answered is still
        pending and counts in neither figure. Medians are over each run of buyer messages (from its
        first message to the answer), so three lines in a row are one wait, not three."""
        now = now_ms() if now is None else now
        this_week = _week_start(now)
        since = this_week - (weeks - 1) * WEEK_MS
        async with self.sessions() as session:
            rows = (await session.execute(
                select(ThreadMessage.thread_id, ThreadMessage.sender, ThreadMessage.created_at)
                .join(Thread, Thread.id == ThreadMessage.thread_id)
                .where(Thread.host_id == host_id, ThreadMessage.created_at >= since)
                .order_by(ThreadMessage.thread_id, ThreadMessage.created_at, ThreadMessage.id)
                .limit(FIGURE_MAX_MESSAGES))).all()
        per_week: dict[int, dict[str, Any]] = {
            this_week - i * WEEK_MS: {"messages": 0, "answered_12h": 0, "pending": 0, "waits": []} for i in range(weeks)}
        waiting: list[int] = []  # the thread's buyer messages since the host last wrote
        current: str | None = None

        def settle(answer_at: int | None) -> None:
            for i, asked_at in enumerate(waiting):
                week = per_week.get(_week_start(asked_at))
                if week is None:
                    continue
                if answer_at is not None and answer_at - asked_at <= ANSWER_WINDOW_MS:
                    week["messages"] += 1
                    week["answered_12h"] += 1
                elif answer_at is None and now - asked_at < ANSWER_WINDOW_MS:
                    week["pending"] += 1
                else:
                    week["messages"] += 1
                if i == 0 and answer_at is not None:
                    week["waits"].append(answer_at - asked_at)
            waiting.clear()

        for thread_id, sender, at in rows:
            if thread_id != current:
                settle(None)
                current = thread_id
            if sender == BUYER:
                waiting.append(int(at))
            elif waiting:
                settle(int(at))
        settle(None)
        out = []
        for start in sorted(per_week, reverse=True):
            week = per_week[start]
            waits = week.pop("waits")
            share = week["answered_12h"] / week["messages"] if week["messages"] else None
            out.append({"week_start": start, **week,
                        "answered_12h_share": None if share is None else round(share, 4),
                        "median_first_answer_ms": int(statistics.median(waits)) if waits else None})
        return out


def _week_start(ms: int) -> int:
    return ms - (ms - _MONDAY_OFFSET_MS) % WEEK_MS


async def threads_of_buyer(session: AsyncSession, buyer_id: str, host_id: int | None) -> list[Thread]:
    query = select(Thread).where(Thread.buyer_id == buyer_id)
    if host_id is not None:
        query = query.where(Thread.host_id == host_id)
    return list((await session.execute(query.order_by(Thread.created_at))).scalars())

