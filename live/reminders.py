"""Show reminders: a buyer asks to be told when a scheduled show is near (docs/notify.md).

Each subscription is sent at most once for each reason: ``24h`` and ``15min`` before the show's
``scheduled_at``, and ``live`` when it goes live. The job (``send_due``) finds what is due and
claims each send with an UPDATE ... WHERE sent_<reason>_at IS NULL in the transaction that
announces it (outbox event ``show.reminder``; the outbox worker emails it): two workers racing
both try the UPDATE, the database lets exactly one of them change the row (rowcount 1), and only
that one announces. A reason whose moment had passed when the buyer subscribed (or that a later
one overtook: the show went live before the 15 minute mark was seen) is marked passed, not sent.

The unsubscribe link carries a random token (a capability: whoever has the email may stop it,
no login), stored with the subscription and shown only in the buyer's own emails.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from inventory.clock import now_ms
from inventory.errors import InvalidState, NotFound
from inventory.models import Base
from inventory.outbox import announce
from live import shows
from live.models import Show

DAY_MS = 24 * 3600 * 1000
QUARTER_MS = 15 * 60 * 1000
BATCH = 500
REASONS = ("24h", "15min", "live")


class ShowReminder(Base):
    __tablename__ = "show_reminders"
    __table_args__ = (UniqueConstraint("show_id", "buyer_id", name="uq_show_reminders_show_buyer"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)  # None: the open page only
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)  # the page's language, for the emails
    token: Mapped[str] = mapped_column(String(64), unique=True)  # uq_show_reminders_token
    created_at: Mapped[int] = mapped_column(BigInteger)
    # When each reminder was sent (or passed: its moment was over before it could be); None: not yet.
    sent_24h_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sent_15min_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sent_live_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


_SENT = {"24h": ShowReminder.sent_24h_at, "15min": ShowReminder.sent_15min_at, "live": ShowReminder.sent_live_at}


def due_reason(show: Show, now: int) -> str | None:
    """The reminder a subscription of ``show`` is due now, before looking at what was sent."""
    if show.status == "live":
        return "live"
    if show.status != "scheduled" or show.scheduled_at is None:
        return None
    if now >= show.scheduled_at - QUARTER_MS:
        return "15min"
    if now >= show.scheduled_at - DAY_MS:
        return "24h"
    return None


def reminder_json(reminder: ShowReminder, slug: str) -> dict[str, Any]:
    return {"show_slug": slug, "email": reminder.email, "created_at": reminder.created_at,
            "sent": {reason: getattr(reminder, f"sent_{reason}_at") for reason in REASONS}}


@dataclass
class Reminders:
    sessions: async_sessionmaker[AsyncSession]
    unsubscribe_url: Callable[[str], str]  # the absolute link for a token (web.routes.notify)
    clock: Callable[[], int] = now_ms

    async def subscribe(self, slug: str, buyer_id: str, email: str | None,
                        locale: str | None = None) -> tuple[dict[str, Any], bool]:
        """Remind the buyer of a scheduled (or live) show. Returns (the subscription, new). Again
        with another email: that email from now on. ``locale``: the page's language, for the emails."""
        async with self.sessions() as session:
            show = await self._show(session, slug)
            if show.status == "ended":
                raise InvalidState("the show has ended: there is nothing to remind you of")
            reminder = await self._mine(session, show.id, buyer_id)
            new = reminder is None
            now = self.clock()
            if reminder is None:
                reminder = ShowReminder(show_id=show.id, buyer_id=buyer_id, token=secrets.token_urlsafe(32), created_at=now)
                # Moments that have already come are not sent late: subscribing 3 hours before
                # the show does not mail "starts in 24 hours" (the buyer is on the page; the next
                # moment, 15 minutes before, is what they asked for).
                due = due_reason(show, now)
                if due is not None:
                    for reason in REASONS[:REASONS.index(due) + 1]:
                        setattr(reminder, f"sent_{reason}_at", now)
                session.add(reminder)
            if email is not None:
                reminder.email = email
            if locale is not None:
                reminder.locale = locale
            await session.commit()
            return reminder_json(reminder, show.slug), new

    async def get(self, slug: str, buyer_id: str) -> dict[str, Any]:
        async with self.sessions() as session:
            show = await self._show(session, slug)
            reminder = await self._mine(session, show.id, buyer_id)
            if reminder is None:
                raise NotFound("no reminder for this show")
            return reminder_json(reminder, show.slug)

    async def cancel(self, slug: str, buyer_id: str) -> None:
        async with self.sessions() as session:
            show = await self._show(session, slug)
            done = await session.execute(
                delete(ShowReminder).where(ShowReminder.show_id == show.id, ShowReminder.buyer_id == buyer_id))
            await session.commit()
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound("no reminder for this show")

    async def unsubscribe(self, token: str) -> str | None:
        """The email's link: stop that subscription. Returns the show's title, or None for a token
        that names nothing (already unsubscribed, or never valid)."""
        async with self.sessions() as session:
            reminder = (await session.execute(select(ShowReminder).where(ShowReminder.token == token))).scalar_one_or_none()
            if reminder is None:
                return None
            show = await session.get(Show, reminder.show_id)
            await session.delete(reminder)
            await session.commit()
            return show.title if show else ""

    # -- the job ---------------------------------------------------------------------------------

    async def send_due(self) -> int:
        """Announce every reminder that is due. Returns how many this run sent."""
        now = self.clock()
        async with self.sessions() as session:
            rows = (await session.execute(
                select(ShowReminder.id, Show)
                .join(Show, Show.id == ShowReminder.show_id)
                .where(ShowReminder.email.is_not(None), or_(
                    (Show.status == "live") & ShowReminder.sent_live_at.is_(None),
                    (Show.status == "scheduled") & (Show.scheduled_at <= now + DAY_MS)
                    & (ShowReminder.sent_24h_at.is_(None) | ShowReminder.sent_15min_at.is_(None)),
                ))
                .limit(BATCH)
            )).all()
            due = [(reminder_id, show.id, due_reason(show, now)) for reminder_id, show in rows]
        sent = 0
        for reminder_id, show_id, reason in due:
            if reason is not None and await self._send(reminder_id, show_id, reason, now):
                sent += 1
        return sent

    async def _send(self, reminder_id: int, show_id: int, reason: str, now: int) -> bool:
        async with self.sessions() as session:
            # The claim: only the run whose UPDATE changes the row announces. Reasons before this
            # one that were never sent are marked passed in the same statement.
            earlier = {f"sent_{r}_at": _coalesce(_SENT[r], now) for r in REASONS[:REASONS.index(reason)]}
            claimed = await session.execute(
                update(ShowReminder)
                .where(ShowReminder.id == reminder_id, _SENT[reason].is_(None))
                .values({f"sent_{reason}_at": now, **earlier})
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                return False
            reminder = await session.get(ShowReminder, reminder_id)
            show = await session.get(Show, show_id)
            assert reminder is not None and show is not None and reminder.email is not None
            announce(session, "show.reminder", {
                "email": reminder.email,
                "show_title": show.title,
                "show_slug": show.slug,
                "scheduled_at": show.scheduled_at,
                "reason": reason,
                "unsubscribe_url": self.unsubscribe_url(reminder.token),
                **({"locale": reminder.locale} if reminder.locale else {}),
            }, host_id=None)
            await session.commit()
            return True

    async def _show(self, session: AsyncSession, slug: str) -> Show:
        show = await shows.show_by_slug(session, slug)
        if show is None:
            raise NotFound("no such show")
        return show

    async def _mine(self, session: AsyncSession, show_id: int, buyer_id: str) -> ShowReminder | None:
        return (await session.execute(select(ShowReminder).where(
            ShowReminder.show_id == show_id, ShowReminder.buyer_id == buyer_id))).scalar_one_or_none()


def _coalesce(column: Any, value: int) -> Any:
    return func.coalesce(column, value)
