"""A show's figures (live.report) on the real Redis and database, without a server: sales of this
show and elsewhere, holds now, the viewer peak, sales over time. Redis and the database may be the
servers' of this folder (see conftest.py): each test makes a host, show and product of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import secrets

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.checkout import Checkout, CheckoutDetails
from inventory.models import Host, Product, Variant
from inventory.payments import PAYING_CARD, TestPaymentProvider
from inventory.stock import SaleTerms, StockStore
from live import shows
from live.visitors import PageVisitors, conversion
from live.report import CHART_BUCKETS, ShowReport, bucket_ms_for


class Audience:
    """Stands in for live.presence.Presence: the viewers the test says there are."""

    def __init__(self) -> None:
        self.viewers = 0

    async def totals(self, show_id: int) -> tuple[int, dict[str, int]]:
        return self.viewers, {}


def details() -> CheckoutDetails:
    return CheckoutDetails(email="ada@example.com", name="Ada", card_number=PAYING_CARD,
                           shipping={"line1": "1 Main St", "city": "Lyon", "postal_code": "69001", "country": "FR"}, phone=None)


def terms(show_id: int | None, price: int = 12_000) -> SaleTerms:
    return SaleTerms(unit_price_cents=price, currency="EUR", per_customer_limit=5, hold_seconds=300, show_id=show_id)


@pytest.fixture
async def stock(shared_redis: aioredis.Redis) -> AsyncIterator[StockStore]:
    store = StockStore(shared_redis)
    yield store
    store.close()


async def live_show(sessions: async_sessionmaker) -> tuple[int, int, str, int]:
    """A new host, a live show pinning its product in two sizes (AUR-41: 4 units, AUR-42: 2).
    Returns (host id, show id, slug, product id)."""
    async with sessions() as session:
        host = Host(email=f"report-{secrets.token_hex(4)}@example.com", name="Host", password_hash="x")
        session.add(host)
        await session.flush()
        product = Product(host_id=host.id, title="Aurora", price_cents=12_000, currency="EUR", variants=[
            Variant(host_id=host.id, sku="AUR-41", label="41", stock=4, position=0),
            Variant(host_id=host.id, sku="AUR-42", label="42", stock=2, position=1)])
        session.add(product)
        await session.flush()
        show = await shows.create_show(session, host.id, "Drop night")
        shows.start(show)
        show.pinned_product_id = product.id
        await session.commit()
        return host.id, show.id, show.slug, product.id


async def test_figures_follow_sales_holds_and_viewers(
    shared_sessions: async_sessionmaker, shared_redis: aioredis.Redis, stock: StockStore
) -> None:
    host_id, show_id, slug, product_id = await live_show(shared_sessions)
    checkout = Checkout(shared_sessions, stock, TestPaymentProvider(shared_redis))
    await checkout.ensure_loaded(product_id)
    audience = Audience()
    report = ShowReport(shared_sessions, shared_redis, stock, audience)

    empty = await report.figures(host_id, slug)
    assert empty is not None
    assert (empty["units_sold"], empty["live_holds"], empty["revenue"], empty["conversion"]) == (0, 0, {}, None)
    assert [(s["sku"], s["available"], s["sold"]) for s in empty["sizes"]] == [
        ("AUR-41", 4, 0), ("AUR-42", 2, 0)]

    sku = "AUR-41"
    paid = await stock.hold(product_id, sku, 2, "buyer-a", "k", terms(show_id))
    await checkout.checkout(paid.hold_id, "buyer-a", details())
    elsewhere = await stock.hold(product_id, sku, 1, "buyer-b", "k", terms(None, price=9_000))  # sold outside any show
    await checkout.checkout(elsewhere.hold_id, "buyer-b", details())
    await stock.hold(product_id, "AUR-42", 1, "buyer-c", "k", terms(show_id))  # held, not paid
    audience.viewers = 5
    at_peak = await report.figures(host_id, slug)
    audience.viewers = 3
    figures = await report.figures(host_id, slug)
    assert at_peak is not None and figures is not None

    assert (at_peak["viewers"], at_peak["peak_viewers"]) == (5, 5)
    assert (figures["viewers"], figures["peak_viewers"], figures["replay_viewers"]) == (3, 5, 0)
    assert (figures["units_sold"], figures["orders"], figures["buyers"]) == (2, 1, 1)
    assert figures["revenue"] == {"EUR": 24_000} and figures["live_holds"] == 1
    assert figures["unique_viewers"] == 0 and figures["conversion"] is None  # nobody opened the page yet
    visitors = PageVisitors(shared_redis)
    for buyer in ("buyer-a", "viewer-x", "viewer-y", "viewer-x"):  # x opened the page twice: one viewer
        await visitors.opened(show_id, buyer)
    figures = await report.figures(host_id, slug)
    assert figures is not None and (figures["unique_viewers"], figures["conversion"]) == (3, 0.3333)
    assert conversion(2, 1) == 1.0 and conversion(0, 0) is None  # never above 100 % (buyers through the API alone)
    sizes = {s["sku"]: s for s in figures["sizes"]}
    assert (sizes[sku]["sold"], sizes[sku]["sold_all"], sizes[sku]["available"], sizes[sku]["sell_through"]) == (2, 3, 1, 0.75)
    assert (sizes["AUR-42"]["held"], sizes["AUR-42"]["available"]) == (1, 1)
    chart = figures["sales_over_time"]
    assert chart["bucket_ms"] == bucket_ms_for(chart["end"] - chart["start"])
    assert [(p["units"], p["revenue_cents"]) for p in chart["points"]] == [(2, 24_000)]
    assert chart["start"] <= chart["points"][0]["t"] <= figures["server_time"]


async def test_only_the_shows_host_gets_its_figures(
    shared_sessions: async_sessionmaker, shared_redis: aioredis.Redis, stock: StockStore
) -> None:
    _, _, slug, _ = await live_show(shared_sessions)
    other_host, _, _, _ = await live_show(shared_sessions)
    report = ShowReport(shared_sessions, shared_redis, stock, Audience())
    assert await report.figures(other_host, slug) is None
    assert await report.figures(other_host, "no-such-show") is None


def test_chart_buckets_are_nice_sizes_that_fit_the_span() -> None:
    assert bucket_ms_for(1) == 5_000
    assert bucket_ms_for(5_000 * CHART_BUCKETS) == 5_000
    assert bucket_ms_for(5_000 * CHART_BUCKETS + 1) == 10_000
    assert bucket_ms_for(3_600_000 * CHART_BUCKETS) == 3_600_000
    # Past the largest nice size: whole hours, still at most CHART_BUCKETS bars.
    span = 3_600_000 * CHART_BUCKETS * 2 + 1
    assert bucket_ms_for(span) == 3 * 3_600_000 and span / bucket_ms_for(span) <= CHART_BUCKETS
