"""Shows and what happens in them, in SQL: shows, offers, chat, mutes and the event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
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
    # The chat message pinned on every screen (a code, a question answered): docs/host-chat.md.
    pinned_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


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
    # Draw offers (live.draws, docs/draws.md): the winners' claim window, whether an entry
    # authorizes the price on the card, the frozen entries' hash and when the draw ran.
    claim_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    authorize: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    entries_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    drawn_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A giveaway: a draw at price 0 run during the show, its entrants watching when it closes;
    # buyers_only: only buyers with a paid order from this host may enter.
    giveaway: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    buyers_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The drand round named at creation (the first after entries_close_at), and once fetched and
    # verified its signature and randomness (live.beacon).
    beacon_chain: Mapped[str | None] = mapped_column(String(64), nullable=True)
    beacon_round: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    beacon_signature: Mapped[str | None] = mapped_column(String(192), nullable=True)
    beacon_randomness: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    ts: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # 'host' or 'moderator' for the show's staff (a badge on every screen); None: a viewer.
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reply_to_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the message answered


class BagItem(Base):
    """A product in the show's bag: browsable from the viewer page and on sale at list price while
    the show is live (docs/bag.md). The host chooses them; ``position`` is the host's order."""

    __tablename__ = "show_bag_items"
    __table_args__ = (UniqueConstraint("show_id", "product_id", name="uq_show_bag_show_product"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)


class Moderator(Base):
    """A host account (by its email) that may moderate one show: post with a badge, reply, pin a
    message, delete and mute; never change products or offers (docs/host-chat.md)."""

    __tablename__ = "show_moderators"
    __table_args__ = (UniqueConstraint("show_id", "email", name="uq_show_moderators_show_email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


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


class DrawEntry(Base):
    """One entry of a draw offer: a buyer, a size, and the checkout identity it entered with.

    ``email`` and ``card_fingerprint`` (and ``buyer_id``) are the entrant's identity: a GDPR
    erasure nulls them and the audit keeps the entry id, its size and its rank. ``status``:
    entered | excluded (voided by the host before the draw, ``reason``) | won | claimed | lapsed;
    an entry still ``entered`` once the offer is drawn lost."""

    __tablename__ = "draw_entries"
    __table_args__ = (
        UniqueConstraint("offer_id", "buyer_id", name="uq_draw_entries_offer_buyer"),
        UniqueConstraint("offer_id", "email", name="uq_draw_entries_offer_email"),
        UniqueConstraint("offer_id", "card_fingerprint", name="uq_draw_entries_offer_card"),
    )
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    buyer_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sku: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    card_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    charge_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the authorization, when the offer takes one
    status: Mapped[str] = mapped_column(String(12), default="entered", index=True)  # the clock looks for 'won' every second
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)  # winners' (and hand-over recipients') rank
    hold_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)  # the entry page's language, for the draw's emails


class DrawLog(Base):
    """What happened to a draw's units after the draw: a hand-over to the next-ranked entry of the
    size (``to_entry_id``), or a winner's void (``reason``); listed in the audit."""

    __tablename__ = "draw_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # handover | void
    entry_id: Mapped[str] = mapped_column(String(24))
    to_entry_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    sku: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    at: Mapped[int] = mapped_column(BigInteger)
