"""A show's figures for its host: viewers now and at peak, holds, sales, revenue, per-size stock
and sales over time. What the control panel polls while a show runs, and reads after it ended.

    report = ShowReport(sessions, redis, stock, presence)
    figures = await report.figures(host_id, slug)     # None: no such show of this host

Sales come from SQL (only paid orders count), stock and holds from Redis as they are right now,
viewers from the hub's presence. The peak is kept in Redis (``keys.peak_viewers``), raised by
whichever panel polls when the audience is largest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from sqlalchemy import ColumnElement, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.clock import now_ms
from inventory.models import Order, OrderLine, Product
from inventory.orders import counts_as_sold, orders_of_show, units_sold
from inventory.stock import StockStore
from live import keys
from live.models import Offer, Show, ShowEvent
from live.recordings import ReplayAudience
from live.shows import show_by_slug
from live.visitors import PageVisitors, conversion

# Keep the highest viewer count seen; a plain GET-compare-SET from Python could lower it when
# two panels poll at once.
_PEAK = """
local seen = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
if now > seen then
  redis.call('SET', KEYS[1], now)
  seen = now
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return seen
"""
PEAK_TTL_MS = 30 * 24 * 3600 * 1000  # a month after its last poll: long enough to read after the show
CHART_BUCKETS = 60
# Bucket sizes a person reads at a glance on a chart's axis (5 s ... 1 h).
_NICE_BUCKETS_MS = (5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000)


class ViewerCount(Protocol):
    """Live viewers of a show across every process (live.presence.Presence)."""

    async def totals(self, show_id: int) -> tuple[int, dict[str, int]]: ...


def bucket_ms_for(span_ms: int) -> int:
    """The smallest nice bucket that draws ``span_ms`` in at most CHART_BUCKETS bars; past the
    largest, whole multiples of it."""
    for size in _NICE_BUCKETS_MS:
        if span_ms <= size * CHART_BUCKETS:
            return size
    return _NICE_BUCKETS_MS[-1] * max(1, -(-span_ms // (_NICE_BUCKETS_MS[-1] * CHART_BUCKETS)))


class PeakViewers:
    """The highest live viewer count a show's figures have seen."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._peak = redis.register_script(_PEAK)

    async def seen(self, show_id: int, viewers_now: int) -> int:
        """Records ``viewers_now`` and returns the peak, this count included."""
        return int(await self._peak(keys=[keys.peak_viewers(show_id)], args=[viewers_now, PEAK_TTL_MS]))


@dataclass(frozen=True)
class _Sales:
    """What SQL says about a show's sales."""

    products: list[Product]  # sold or put on sale in the show, the host's own, by id
    sold_here: dict[int, tuple[int, int]]  # variant id -> units, cents paid in this show
    sold_anywhere: dict[int, int]  # variant id -> units paid through any show
    revenue: dict[str, int]  # currency -> cents
    orders: int
    buyers: int
    origin: int
    end: int
    bucket_ms: int
    timeline: list[dict[str, int]]


class ShowReport:
    def __init__(
        self, sessions: async_sessionmaker, redis: aioredis.Redis, stock: StockStore, presence: ViewerCount
    ) -> None:
        self.sessions = sessions
        self.stock = stock
        self.presence = presence
        self.peak = PeakViewers(redis)
        self.visitors = PageVisitors(redis)
        self.replay_audience = ReplayAudience(redis)

    async def orders(self, host_id: int, slug: str) -> tuple[Show, list[Order]] | None:
        """The show and its orders (oldest first, none pending); None when the host has no such show."""
        async with self.sessions() as session:
            show = await show_by_slug(session, slug)
        if show is None or show.host_id != host_id:
            return None
        return show, await orders_of_show(self.sessions, show.id)

    async def figures(self, host_id: int, slug: str) -> dict[str, Any] | None:
        """The show's figures as the API answers them; None when the host has no such show."""
        now = now_ms()
        async with self.sessions() as session:
            show = await show_by_slug(session, slug)
            if show is None or show.host_id != host_id:
                return None
            sales = await _sales(session, show, now)
        viewers, _ = await self.presence.totals(show.id)
        replay_viewers = await self.replay_audience.count(show.id)  # apart from live ones
        peak = await self.peak.seen(show.id, viewers)
        sizes = await self._sizes(sales)
        buyers = sales.buyers
        unique = await self.visitors.count(show.id)
        return {
            "slug": show.slug,
            "status": show.status,
            "server_time": now,
            "viewers": viewers,
            "replay_viewers": replay_viewers,
            "peak_viewers": peak,
            "live_holds": sum(size["held"] for size in sizes),
            "units_sold": sum(units for units, _ in sales.sold_here.values()),
            "orders": sales.orders,
            "buyers": buyers,
            "revenue": sales.revenue,
            "unique_viewers": unique,
            "conversion": conversion(buyers, unique),
            "sizes": sizes,
            "sales_over_time": {"start": sales.origin, "end": sales.end, "bucket_ms": sales.bucket_ms, "points": sales.timeline},
        }

    async def _sizes(self, sales: _Sales) -> list[dict[str, Any]]:
        """Per size: stock loaded, available and held now (Redis; from SQL while not on sale),
        sold here and anywhere, and sell-through."""
        sizes: list[dict[str, Any]] = []
        for product in sales.products:
            counts = await self.stock.counts(product.id)
            for variant in product.variants:
                c = counts.get(variant.sku)
                sold_all = sales.sold_anywhere.get(variant.id, 0)
                sizes.append({
                    "product_id": product.id, "title": product.title, "sku": variant.sku, "label": variant.label,
                    "loaded": variant.stock,
                    "available": c.available if c is not None else max(variant.stock - sold_all, 0),
                    "held": c.held if c is not None else 0,
                    "sold": sales.sold_here.get(variant.id, (0, 0))[0], "sold_all": sold_all,
                    # Sell-through: the share of the size's stock sold, through any show.
                    "sell_through": round(sold_all / variant.stock, 4) if variant.stock else None,
                })
        return sizes


async def _product_ids(session: AsyncSession, show: Show) -> set[int]:
    """Which products this show has sold or put on sale: pinned now or before, offered, ordered."""
    ids: set[int] = set()
    if show.pinned_product_id:
        ids.add(show.pinned_product_id)
    ids.update((await session.execute(select(Offer.product_id).where(Offer.show_id == show.id))).scalars())
    for payload in (await session.execute(
        select(ShowEvent.payload).where(ShowEvent.show_id == show.id, ShowEvent.type == "pin")
    )).scalars():
        if isinstance(payload, dict) and isinstance(payload.get("product_id"), int):
            ids.add(payload["product_id"])
    ids.update((await session.execute(
        select(OrderLine.product_id).distinct().join(Order, Order.id == OrderLine.order_id).where(Order.show_id == show.id)
    )).scalars())
    return ids


async def _sales(session: AsyncSession, show: Show, now: int) -> _Sales:
    paid: ColumnElement[bool] = (Order.show_id == show.id) & counts_as_sold()
    product_ids = await _product_ids(session, show)
    products = list((await session.execute(
        select(Product).where(Product.id.in_(product_ids), Product.host_id == show.host_id).order_by(Product.id)
    )).scalars()) if product_ids else []
    sold_here = {
        variant_id: (int(units), int(cents))
        for variant_id, units, cents in await session.execute(
            select(OrderLine.variant_id, func.sum(units_sold()), func.sum(units_sold() * OrderLine.unit_price_cents))
            .join(Order, Order.id == OrderLine.order_id).where(paid).group_by(OrderLine.variant_id)
        )
    }
    variant_ids = [v.id for p in products for v in p.variants]
    sold_anywhere = {
        variant_id: int(units)
        for variant_id, units in await session.execute(
            select(OrderLine.variant_id, func.sum(units_sold())).join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.variant_id.in_(variant_ids), counts_as_sold()).group_by(OrderLine.variant_id)
        )
    } if variant_ids else {}
    revenue = {
        currency: int(cents)
        for currency, cents in await session.execute(
            select(Order.currency, func.sum(Order.total_cents - Order.refunded_cents)).where(paid).group_by(Order.currency)
        )
    }
    orders, buyers = (await session.execute(
        select(func.count(Order.id), func.count(distinct(Order.buyer_id))).where(paid)
    )).one()
    origin = show.started_at or show.created_at
    end = show.ended_at or now
    bucket = bucket_ms_for(max(end - origin, 1))
    slot = (Order.created_at - origin) // bucket
    timeline = [
        {"t": origin + int(n) * bucket, "units": int(units or 0), "revenue_cents": int(cents or 0)}
        for n, units, cents in await session.execute(
            select(slot, func.sum(units_sold()), func.sum(units_sold() * OrderLine.unit_price_cents))
            .join(OrderLine, OrderLine.order_id == Order.id).where(paid).group_by(slot).order_by(slot)
        )
    ]
    return _Sales(products, sold_here, sold_anywhere, revenue, int(orders or 0), int(buyers or 0),
                  origin, end, bucket, timeline)
