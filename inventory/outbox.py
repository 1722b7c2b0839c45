"""The transactional outbox: what livedrop tells the world (webhooks, email), written in the same
SQL transaction as the change it announces.

Why a table and not a publish after commit: a process killed between the commit and the publish
would lose the announcement, and a publish before the commit would announce an order that then
rolled back. A row written with the change is announced exactly when the change exists; the outbox
worker delivers it at least once, and receivers deduplicate by the event's id.

``announce`` only adds a row to the caller's session; the caller's commit makes it real. It also
marks the session, so that after that commit the worker hears of it at once (``NOTIFY``) instead
of finding it by polling the table: an idle outbox runs no SQL (live.outbox_signal).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from inventory.clock import now_ms
from inventory.models import Base

log = logging.getLogger("livedrop.outbox")

# The kinds an event can have, the names webhook endpoints subscribe to. Kept here, in one list,
# so that the API refuses a misspelt subscription instead of silently never firing.
EVENT_KINDS: tuple[str, ...] = (
    "order.paid",
    "order.refunded",
    "order.fulfilled",
    "order.delivered",
    "order.cancelled",
    "show.scheduled",
    "show.live",
    "show.ended",
    "offer.started",
    "stock.low",
    "waitlist.offered",
    "show.reminder",
    "buyer.orders_link",
    "thread.message",  # to a buyer only (host_id None): never a webhook (live.webhook_endpoints)
    "draw.won",
    "draw.lost",
)


def new_event_id() -> str:
    # 'evt_' + 24 hex characters: 96 random bits, unique without a round trip, and short enough to
    # serve as the Standard Webhooks ``webhook-id``.
    return "evt_" + secrets.token_hex(12)


def new_event_ids(n: int) -> list[str]:
    """``n`` ids as new_event_id's, from one read of the OS's random source: a draw's 100,000
    ``draw.lost`` events spent ~0.25 s in a getrandom() call each (py-spy)."""
    raw = secrets.token_hex(12 * n)
    return ["evt_" + raw[at:at + 24] for at in range(0, 24 * n, 24)]


class OutboxEvent(Base):
    """One announcement. ``host_id`` says whose webhooks it goes to (None: no host's, e.g. a
    message to a buyer only). ``payload`` is the event's ``data`` exactly as delivered."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_host_created", "host_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_event_id)
    kind: Mapped[str] = mapped_column(String(40))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    # Set once every channel (webhooks, email) has taken its copy of the event (deliveries are
    # then tracked per channel); None: the worker has not fanned it out yet.
    dispatched_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    # How many times fan-out was tried; a poison event stops being retried after a bound.
    dispatch_attempts: Mapped[int] = mapped_column(Integer, default=0)


def announce(session: AsyncSession, kind: str, payload: dict[str, Any], *, host_id: int | None) -> OutboxEvent:
    """Add an event to ``session``: it exists when, and only when, the caller's transaction commits."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown outbox event kind {kind!r}")
    event = OutboxEvent(id=new_event_id(), kind=kind, host_id=host_id, payload=payload, created_at=now_ms())
    session.add(event)
    mark_announced(session)
    return event


# -- "something may be due": told after the commit ------------------------------------------------

ANNOUNCED = "livedrop.outbox.announced"  # Session.info: this transaction added outbox work
# Session.info (set for every session of a sessionmaker, live.outbox_signal.OutboxSignal.install):
# called, synchronously and cheaply, after a commit of a transaction that added outbox work.
NOTIFY = "livedrop.outbox.notify"


def mark_announced(session: AsyncSession | Session) -> None:
    """The transaction in ``session`` adds outbox work (an event, a delivery put back in line):
    once it commits, the worker is told. Anything that writes outbox rows without ``announce``
    calls this; a row written without it is still found, by the worker's slow safety poll."""
    session.info[ANNOUNCED] = True


@event.listens_for(Session, "after_commit")
def _told_after_commit(session: Session) -> None:
    # After the commit, never before: a worker woken earlier could look before the row is visible
    # and then sleep until its safety poll. One dict lookup per commit when nothing was announced.
    if session.info.pop(ANNOUNCED, False):
        notify: Callable[[], None] | None = session.info.get(NOTIFY)
        if notify is not None:
            try:
                notify()
            except Exception:  # the commit stands: a failure here must not turn it into an error
                log.exception("outbox: telling the worker failed; its safety poll finds the rows")


@event.listens_for(Session, "after_rollback")
def _forgotten_after_rollback(session: Session) -> None:
    session.info.pop(ANNOUNCED, None)  # the rows went with the transaction
