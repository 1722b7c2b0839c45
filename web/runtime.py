"""The live parts of one process, built from its connections in the app's lifespan and reached by
routes as ``request.app.state.runtime``. Also the operations the CLI shares with the app."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from inventory.checkout import Checkout
from inventory.epochs import RedisEpochs
from inventory.models import Order, Product, Variant
from inventory.payments import TestPaymentProvider
from inventory.stock import SaleTerms, StockStore
from web.errors import ApiError
from web.jobs import Job
from web.ratelimit import RateLimiter
from web.services import Services


@dataclass
class Runtime:
    services: Services
    # Filled in as the parts land: inventory (stock, checkout, payments) and live (hub, sales).
    parts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        redis = self.services.redis
        self.rate_limiter = RateLimiter(redis)
        self.stock = StockStore(redis)
        self.payments = TestPaymentProvider(self.services.payments_redis or redis)
        self.checkout = Checkout(self.services.sessions, self.stock, self.payments)
        self.epochs = RedisEpochs(
            redis, self.services.sessions, self.stock, self.checkout.reconcile, outages=self.services.outages
        )
        self._epoch_watch: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        from web.live_parts import build_live  # noqa: PLC0415 - it needs this module's Runtime type

        self.parts.update(build_live(self))  # hub, show_control, offer_clock, sales, on_sold

    # -- inventory, as the routes need it ---------------------------------------------------------

    async def restocked(self, product_id: int, totals: dict[str, int]) -> None:
        """Units were added to a product in SQL (new totals per SKU): holdable in Redis at once.
        A product not on sale yet is loaded from SQL when it goes on sale."""
        if await self.stock.is_loaded(product_id):
            for sku, total in totals.items():
                await self.stock.restock(product_id, sku, total)

    async def live_holds(self, buyer_id: str) -> list[dict[str, Any]]:
        """The buyer's live holds, with the product's title and the size's label, so a page
        reloaded after the product was unpinned can still say what is reserved."""
        holds = await self.stock.live_holds_for_buyer(buyer_id)
        if not holds:
            return []
        async with self.services.sessions() as session:
            rows = await session.execute(
                select(Variant.product_id, Variant.sku, Variant.label, Product.title)
                .join(Product, Product.id == Variant.product_id)
                .where(Variant.product_id.in_({hold.product_id for hold in holds}))
            )
            names = {(r.product_id, r.sku): (r.title, r.label) for r in rows}
        out = []
        for hold in holds:
            title, label = names.get((hold.product_id, hold.sku), ("", hold.sku))
            out.append(hold.to_json() | {"state": hold.state, "product_id": hold.product_id, "title": title, "label": label})
        return out

    async def orders_of_buyer(self, buyer_id: str) -> list[dict[str, Any]]:
        from web.routes.orders import order_json  # noqa: PLC0415 - routes import the runtime's module

        return [await order_json(None, order) for order in await self.checkout.orders_for_buyer(buyer_id)]  # type: ignore[arg-type]

    def cached_sale(self, slug: str, sku: str) -> tuple[int, SaleTerms] | None:
        """``sale_for`` when live has the answer at hand (no waiting); None: await ``sale_for``."""
        cached = self.parts.get("cached_sale")
        return None if cached is None else cached(slug, sku)

    async def sale_for(self, slug: str, sku: str) -> tuple[int, SaleTerms]:
        """Which product a SKU is, and at what terms it sells in this show right now; or the
        refusal (404 show, 404 unknown_sku, 409 not_on_sale). Answered by live's sales cache."""
        sales = self.parts.get("sales")
        if sales is None:
            raise ApiError(409, "not_on_sale", "nothing is on sale in this show right now")
        return await sales(slug, sku)

    async def sold(self, order: Order) -> None:
        """A new paid order: tell the show's viewers (purchase ticker), if the hub is running."""
        hook = self.parts.get("on_sold")
        if hook is not None:
            await hook(order)

    def jobs(self) -> list[Job]:
        """inventory's periodic work: expired holds back to stock, stalled checkouts finished or
        undone, and stock rebuilt from SQL when Redis comes back empty."""

        from web.live_parts import live_jobs  # noqa: PLC0415

        return [
            Job("hold-expiry", 1.0, self.checkout.sweep),
            # Also run by every serving process (start()); here for a worker, which serves nothing.
            Job("redis-epoch", 1.0, self.epochs.ensure),
            *live_jobs(self.parts),  # offers go live and end on time
        ]

    async def start(self) -> None:
        """Start per-process background tasks (stream readers, conflation clocks)."""
        # Stock is rebuilt from SQL unless Redis is the server it was last rebuilt against; then
        # every new connection is checked, and the server once a second (inventory.epochs).
        self.epochs.watch_connections(self.stock)
        await self.epochs.ensure()
        self._epoch_watch = asyncio.create_task(self.epochs.run(self._stopping), name="redis-epoch")
        await self.parts["hub"].start()

    async def stop(self) -> None:
        """Stop them again, in reverse order."""
        self._stopping.set()
        if self._epoch_watch is not None:
            await self._epoch_watch
        await self.parts["hub"].stop()
        self.stock.close()


async def reconcile_all(services: Services) -> int:
    """Rebuild Redis stock of every product from SQL; returns how many products were reconciled."""
    runtime = Runtime(services)
    return len(await runtime.checkout.reconcile())
