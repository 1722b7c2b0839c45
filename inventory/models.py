"""The catalog and sales records in SQL: hosts (the sellers), products, variants, buyers, orders.

Times are integer milliseconds since the epoch (as on the wire), which keeps SQLite and PostgreSQL
identical. Holds are not here: they live in Redis only (see ``inventory.stock``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from inventory.clock import now_ms


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Host(Base):
    """A seller account: owns products and shows, logs into the control panel."""

    __tablename__ = "hosts"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms, onupdate=now_ms)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.position", cascade="all, delete-orphan", lazy="selectin"
    )


class Variant(Base):
    """One size (or colour) of a product. ``stock`` is units loaded in total, sold ones included;
    ``sold`` is the units in paid orders. ``sold <= stock`` is the last guard against overselling:
    an order becomes paid only if it can move ``sold`` within ``stock`` (``Checkout._mark_paid``),
    whatever Redis said when the unit was held."""

    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("host_id", "sku", name="uq_variants_host_sku"),
        CheckConstraint("sold >= 0 AND sold <= stock", name="ck_variants_sold_within_stock"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    sold: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    product: Mapped[Product] = relationship(back_populates="variants")


class Buyer(Base):
    """A viewer who may buy: created on first visit, identified by a signed token, no sign-up."""

    __tablename__ = "buyers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_show_created", "show_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # unguessable
    number: Mapped[str] = mapped_column(String(16), unique=True)  # short, for people
    hold_id: Mapped[str] = mapped_column(String(64), unique=True)  # exactly one order per hold
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    # The sales channel (a show); inventory does not know shows, so this is a plain column.
    show_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    buyer_id: Mapped[str] = mapped_column(String(32), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    shipping: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending | paid | fulfilled | delivered | partially_refunded | refunded | cancelled
    # (the order's life: inventory.order_life, docs/orders.md)
    status: Mapped[str] = mapped_column(String(24), default="paid")
    total_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    # Why a 'refunded' order was undone: 'sold_out_after_all' (SQL's stock guard refused it),
    # 'no_unit_left' (its hold vanished and Redis had no unit to take); None for older rows.
    # 'requested': refunded (or cancelled) by its host, through the order's life.
    refund_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # What total_cents is made of (inventory.shipping): the lines, plus shipping_cents; tax_cents
    # is the tax already included in that total (prices are tax-inclusive), 0 without tax.
    shipping_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    tax_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    tax_label: Mapped[str | None] = mapped_column(String(16), nullable=True)  # "VAT", "GST"; None: no tax
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 2000 = 20 %
    # What the payment provider says of the card (for the receipt): "Visa", "4242"; None if unknown.
    card_brand: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    # The order's life after payment (inventory.order_life): shipped with what, when; delivered
    # when; how much of the payment went back.
    carrier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    fulfilled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The page's language when it was bought ("de", "pl", "fi"; None: English): its emails use it.
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", lazy="selectin", order_by="OrderLine.id"
    )
    events: Mapped[list[OrderEvent]] = relationship(cascade="all, delete-orphan", lazy="selectin", order_by="OrderEvent.id")


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (Index("ix_order_lines_hold_id", "hold_id", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    offer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The hold this line pays for when its order pays for several (the show's bag, docs/bag.md);
    # None: the order's own hold_id. Unique: a hold is paid by one order line at most.
    hold_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Units of this line whose money went back, and of those, units put back on sale (their
    # ``variants.sold`` moved back down). Units sold = quantity - restocked_quantity.
    refunded_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    restocked_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    order: Mapped[Order] = relationship(back_populates="lines")


class ShippingProfileRow(Base):
    """A host's shipping and tax profile (``inventory.shipping.ShippingProfile`` as JSON): its
    default (``show_id`` 0) or one show's own (the show's id; a plain column, inventory does not
    know shows)."""

    __tablename__ = "shipping_profiles"
    __table_args__ = (UniqueConstraint("host_id", "show_id", name="uq_shipping_profiles_host_show"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    show_id: Mapped[int] = mapped_column(Integer, default=0)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms, onupdate=now_ms)
class OrderEvent(Base):
    """One change in an order's life: what, who (``host:<id>`` or ``system``) and when. Shown as
    the order's ``history``."""

    __tablename__ = "order_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class OrderRefund(Base):
    """One refund of (part of) an order, written 'pending' before the provider is asked and
    'done' once it answered: the provider's idempotency key is ``refund:<order id>:<n>``, so a
    refund interrupted half-way is finished with the same key, never made twice."""

    __tablename__ = "order_refunds"
    __table_args__ = (
        UniqueConstraint("order_id", "n", name="uq_order_refunds_n"),
        UniqueConstraint("order_id", "request_key", name="uq_order_refunds_request_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    n: Mapped[int] = mapped_column(Integer)
    request_key: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the caller's Idempotency-Key
    kind: Mapped[str] = mapped_column(String(16))  # refund | cancel
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"<line id>": units}
    restock: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    provider_refund_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class RedisEpoch(Base):
    """The Redis server (its ``run_id``) whose stock was last rebuilt from SQL, and the token that
    reconcile left in it (``ld:epoch``). One row. A process that meets a Redis with another run id
    (restarted from an older AOF, a promoted replica) reconciles before it takes a hold there
    (``inventory.epochs``)."""

    __tablename__ = "redis_epochs"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64))
    reconciled_at: Mapped[int] = mapped_column(BigInteger)
