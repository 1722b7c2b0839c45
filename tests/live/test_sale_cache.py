"""The hub remembers what a SKU sells at (a drop asks thousands of times a second), but the answer
must change the moment an offer starts or ends, and with every new view of the show."""

from __future__ import annotations

import asyncio
import dataclasses

from inventory.clock import now_ms
from inventory.stock import StockStore
from live.hub import Hub, HubConfig
from live.sales import Sale
from live.views import OfferView, ProductView, ShowView
from web.database import make_engine, make_sessionmaker
from web.services import make_redis


class OneView:
    """Stands in for the SQL-backed view cache: the test decides what the show looks like."""

    def __init__(self, view: ShowView) -> None:
        self.view = view

    async def get(self, slug: str) -> ShowView | None:
        return self.view if slug == self.view.slug else None

    async def skus_of_host(self, host_id: int) -> set[str]:
        return set()


def show(offer_starts_in_ms: int, offer_lasts_ms: int) -> ShowView:
    now = now_ms()
    offer = OfferView(id=3, product_id=7, price_cents=500, starts_at=now + offer_starts_in_ms,
                      ends_at=now + offer_starts_in_ms + offer_lasts_ms, quantity=None, per_customer_limit=1,
                      hold_s=60, state="scheduled")
    product = ProductView(id=7, title="Runner", price_cents=1000, currency="USD", json={}, stock_loaded={"A": 5})
    return ShowView(id=1, host_id=1, slug="s", status="live", show={}, pinned_id=7, offers=(offer,), products={7: product})


async def test_the_cached_sale_follows_offer_times_and_new_views(redis_url: str, database_url: str) -> None:
    # Own clients, not the `redis`/`sessions` fixtures: those empty Redis and the tables, which
    # this package's servers (the `cluster` fixture) share when REDIS_URL/DATABASE_URL are set.
    redis = make_redis(redis_url)
    engine = make_engine(database_url)
    stock = StockStore(redis)
    hub = Hub(redis, make_sessionmaker(engine), stock, HubConfig(), lambda product_id: asyncio.sleep(0))
    views = OneView(show(offer_starts_in_ms=400, offer_lasts_ms=400))
    hub.views = views  # type: ignore[assignment]
    try:
        before = await hub.sale_for("s", "A")
        assert isinstance(before, Sale) and before.price_cents == 1000 and before.offer_id is None
        assert await hub.sale_for("s", "A") is before  # remembered
        await asyncio.sleep(0.5)  # the offer has started: no event, only the clock
        during = await hub.sale_for("s", "A")
        assert isinstance(during, Sale) and during.price_cents == 500 and during.offer_id == 3
        await asyncio.sleep(0.4)  # and ended
        after = await hub.sale_for("s", "A")
        assert isinstance(after, Sale) and after.price_cents == 1000 and after.offer_id is None
        # A show event makes a new view: the next answer is worked out from it at once.
        views.view = dataclasses.replace(views.view, pinned_id=None, offers=())
        gone = await hub.sale_for("s", "A")
        assert not isinstance(gone, Sale) and gone.code == "not_on_sale"
    finally:
        stock.close()
        await redis.aclose()
        await engine.dispose()
