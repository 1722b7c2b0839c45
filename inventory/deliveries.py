"""Where outbox events go, and what became of each copy: webhook endpoints (a host's URL, the
events it wants, the secret that signs them), one delivery per event and channel, and one row per
attempt. The outbox worker (live.outbox_worker) writes these; the panel and the API read them.

A delivery's channel is ``webhook:<endpoint id>`` or ``email``. Its status:

- ``pending``: to be tried at ``next_attempt_at`` (also while a worker has it claimed: the claim
  pushes ``next_attempt_at`` forward by a lease, so a worker killed mid-delivery leaves it to be
  tried again when the lease runs out: at least once),
- ``delivered``: the receiver answered 2xx (or the email server took it),
- ``failed``: the receiver refused it for good (a 4xx other than 408 and 429), not retried,
- ``dead``: every retry of the schedule failed.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inventory.clock import now_ms
from inventory.models import Base

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# Waits before each attempt (the first right away); a delivery that failed its last is dead.
RETRY_SCHEDULE_MS: tuple[int, ...] = (
    0, 10 * SECOND_MS, MINUTE_MS, 5 * MINUTE_MS, 30 * MINUTE_MS, 2 * HOUR_MS, 6 * HOUR_MS, 12 * HOUR_MS, DAY_MS,
)
# An endpoint whose deliveries have failed without a success in between for this long is disabled.
DISABLE_AFTER_MS = 3 * DAY_MS

PENDING, DELIVERED, FAILED, DEAD = "pending", "delivered", "failed", "dead"
EMAIL_CHANNEL = "email"


def webhook_channel(endpoint_id: int) -> str:
    return f"webhook:{endpoint_id}"


def endpoint_of(channel: str) -> int | None:
    """The endpoint id of a ``webhook:<id>`` channel; None for any other channel."""
    prefix, _, rest = channel.partition(":")
    return int(rest) if prefix == "webhook" and rest.isascii() and rest.isdigit() else None


def next_wait_ms(attempts_made: int) -> int | None:
    """How long after a failed attempt (the ``attempts_made``-th) to try again; None: no more."""
    return RETRY_SCHEDULE_MS[attempts_made] if attempts_made < len(RETRY_SCHEDULE_MS) else None


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON)
    # whsec_ + base64: kept as it is because signing needs it (shown to the host once, at creation).
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    # Since when every delivery has failed (None: the last one went through); past DISABLE_AFTER_MS
    # the endpoint is disabled (disabled_at) and gets nothing more until it is added again.
    failing_since: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disabled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OutboxDelivery(Base):
    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", name="uq_outbox_deliveries_event_channel"),
        Index("ix_outbox_deliveries_due", "status", "next_attempt_at"),
        Index("ix_outbox_deliveries_channel_created", "channel", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the HTTP status (SMTP code for email)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("outbox_deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
