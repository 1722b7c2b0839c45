"""A host's link to its shop elsewhere (Shopify): which shop, the secret its webhooks are signed
with, and the shop's last known stock count of each SKU.

Why keep the shop's counts: Shopify's ``inventory_quantity`` is the shop's own absolute count,
not livedrop's. Only its movements mean something here: a rise is new stock (a delivery came in)
that livedrop adds to its own units; a fall is a sale in the shop, which livedrop's units (some
held or sold in a show) have nothing to give back to. So livedrop remembers the count it last saw
(at import, then at every webhook) and acts on the difference; a webhook replayed or delivered
twice then changes nothing, since its count is the one already seen.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from inventory.clock import now_ms
from inventory.models import Base

SHOPIFY = "shopify"
SHOP_DOMAIN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}\.myshopify\.com$"  # stored lower-case
MIN_SECRET = 16
MAX_SECRET = 256


class ShopConnection(Base):
    """One host's shop. The secret is kept as given: checking a webhook's HMAC needs it (it is
    never sent back by the API, nor logged)."""

    __tablename__ = "shop_connections"
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), unique=True)
    platform: Mapped[str] = mapped_column(String(16), default=SHOPIFY)
    shop_domain: Mapped[str] = mapped_column(String(255), unique=True)
    secret: Mapped[str] = mapped_column(String(MAX_SECRET))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class ShopStockLevel(Base):
    """The shop's count of one of the host's SKUs when livedrop last saw it."""

    __tablename__ = "shop_stock_levels"
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    # When the shop said so (its product's updated_at, ms): deliveries can arrive out of order, and
    # an older count must not undo a newer one (a "fall" then a "rise" would add units twice).
    seen_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms, onupdate=now_ms)


def shop_time_ms(raw: object) -> int | None:
    """Shopify's ``updated_at`` ("2026-11-28T09:02:11-05:00") in ms since the epoch; None when absent or unreadable."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1000) if moment.tzinfo is not None else None


async def record_levels(session: AsyncSession, host_id: int, platform: str, levels: dict[str, tuple[int, int | None]]) -> None:
    """Remember the shop's counts and when it said them (in the caller's transaction).
    ``platform`` is for the day a second shop sends counts; only Shopify does today."""
    assert platform == SHOPIFY, platform
    existing = {
        row.sku: row for row in (await session.execute(
            select(ShopStockLevel).where(ShopStockLevel.host_id == host_id, ShopStockLevel.sku.in_(list(levels)))
        )).scalars()
    }
    for sku, (quantity, seen_at) in levels.items():
        row = existing.get(sku)
        if row is None:
            session.add(ShopStockLevel(host_id=host_id, sku=sku, quantity=quantity, seen_at=seen_at, updated_at=now_ms()))
        else:
            row.quantity, row.seen_at = quantity, seen_at


async def connection_of_host(session: AsyncSession, host_id: int) -> ShopConnection | None:
    return (await session.execute(select(ShopConnection).where(ShopConnection.host_id == host_id))).scalar_one_or_none()


async def connection_of_domain(session: AsyncSession, shop_domain: str) -> ShopConnection | None:
    return (await session.execute(
        select(ShopConnection).where(ShopConnection.shop_domain == shop_domain.lower())
    )).scalar_one_or_none()
