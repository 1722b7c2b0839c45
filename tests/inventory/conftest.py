"""Fixtures for the inventory core: a clock the test moves, a catalog in SQL, and the real
StockStore / Checkout on the real Redis and database of tests/conftest.py."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.checkout import Checkout, CheckoutDetails
from inventory.clock import now_ms
from inventory.models import Host, Product, Variant
from inventory.payments import DECLINED_CARD, PAYING_CARD, TestPaymentProvider
from inventory.stock import SaleTerms, StockStore

_emails = itertools.count(1)


class FakeClock:
    """Milliseconds that only move when the test says so. It starts at the real time so order
    timestamps look normal."""

    def __init__(self, start: int | None = None) -> None:
        self.t = now_ms() if start is None else start

    def __call__(self) -> int:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += int(seconds * 1000)


def details(email: str = "ada@example.com", card: str = PAYING_CARD, name: str = "Ada") -> CheckoutDetails:
    return CheckoutDetails(
        email=email, name=name, card_number=card,
        shipping={"line1": "1 Main St", "city": "Lyon", "postal_code": "69001", "country": "FR"}, phone=None,
    )


def declined(email: str = "ada@example.com") -> CheckoutDetails:
    return details(email, DECLINED_CARD)


def terms(limit: int = 1, **kw: object) -> SaleTerms:
    base = dict(unit_price_cents=12_000, currency="EUR", per_customer_limit=limit, hold_seconds=300, show_id=7)
    base.update(kw)
    return SaleTerms(**base)  # type: ignore[arg-type]


async def make_product(sessions: async_sessionmaker, stock: Mapping[str, int], price: int = 12_000) -> tuple[int, int]:
    """A host with one product and its variants in SQL. Returns (host_id, product_id)."""
    async with sessions() as session:
        host = Host(email=f"host{next(_emails)}@example.com", name="Host", password_hash="x")
        session.add(host)
        await session.flush()
        product = Product(host_id=host.id, title="Sneaker", price_cents=price, currency="EUR")
        session.add(product)
        await session.flush()
        for pos, (sku, units) in enumerate(stock.items()):
            session.add(Variant(product_id=product.id, host_id=host.id, sku=sku, label=sku, position=pos, stock=units))
        await session.commit()
        return host.id, product.id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def stock(redis, clock) -> AsyncIterator[StockStore]:  # type: ignore[no-untyped-def]
    store = StockStore(redis, clock=clock)
    yield store
    store.close()


@pytest.fixture
def payments(redis) -> TestPaymentProvider:  # type: ignore[no-untyped-def]
    return TestPaymentProvider(redis)


@pytest.fixture
def checkout(sessions, stock, payments) -> Checkout:  # type: ignore[no-untyped-def]
    return Checkout(sessions, stock, payments)


@pytest.fixture
async def product(sessions, checkout) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Sneaker in three sizes (2, 3, 5 units), loaded into Redis from SQL."""
    host_id, product_id = await make_product(sessions, {"SN-40": 2, "SN-41": 3, "SN-42": 5})
    await checkout.ensure_loaded(product_id)
    return host_id, product_id
