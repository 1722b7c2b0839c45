"""Shows and what happens in them, in SQL: shows, offers, chat, mutes and the event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inventory.clock import now_ms
from inventory.models import Base


class Show(Base):
    __tablename__ = "shows"
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | live | ended
    scheduled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ended_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pinned_product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), nullable=True
    )
    stream_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Offer(Base):
    """A countdown offer: a price for a product between two absolute times, with a unit cap."""

    __tablename__ = "offers"
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[int] = mapped_column(BigInteger)
    ends_at: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: every unit
    per_customer_limit: Mapped[int] = mapped_column(Integer, default=1)
    hold_s: Mapped[int] = mapped_column(Integer, default=300)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | live | ended
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    # open: first come, first served; queue: a randomized waiting room (live.waiting_room).
    mode: Mapped[str] = mapped_column(String(8), default="open", server_default="open")
    admit_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)  # queue offers
    # The waiting room's shuffle: 32 random bytes (hex) kept secret until starts_at, and their
    # SHA-256 published from the start (live.queue_order).
    seed: Mapped[str | None] = mapped_column(String(64), nullable=True)
    commitment: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    ts: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Mute(Base):
    __tablename__ = "mutes"
    __table_args__ = (UniqueConstraint("show_id", "buyer_id", name="uq_mutes_show_buyer"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    buyer_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class ShowEvent(Base):
    """Every lasting event of a show, with its gap-free seq: the record a replay plays back."""

    __tablename__ = "show_events"
    __table_args__ = (UniqueConstraint("show_id", "seq", name="uq_show_events_show_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    ts: Mapped[int] = mapped_column(BigInteger)
    media_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Recording(Base):
    """One recorded stream of a show: from a publisher's WHIP until it left or the show ended.

    ``file`` is relative to the recordings folder (LIVEDROP_RECORDINGS_DIR); ``started_at`` is the
    stream start that events were stamped against (their media_ms), and time 0 of the file.
    """

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    file: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
