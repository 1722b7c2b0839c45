"""Products and their variants in SQL: create, list, edit, restock. SKUs are unique per host."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.models import Product, Variant


class SkuTaken(ValueError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"the SKU {sku!r} is already used by another of your products")
        self.sku = sku


class StockDecrease(ValueError):
    pass


@dataclass(frozen=True)
class VariantSpec:
    sku: str
    label: str
    stock: int


@dataclass(frozen=True)
class ProductSpec:
    title: str
    price_cents: int
    currency: str
    variants: tuple[VariantSpec, ...]
    description: str = ""
    image_url: str | None = None


async def taken_skus(session: AsyncSession, host_id: int, skus: list[str], exclude_product: int | None = None) -> list[str]:
    query = select(Variant.sku).where(Variant.host_id == host_id, Variant.sku.in_(skus))
    if exclude_product is not None:
        query = query.where(Variant.product_id != exclude_product)
    return list((await session.execute(query)).scalars())


async def create_product(session: AsyncSession, host_id: int, spec: ProductSpec) -> Product:
    """Adds the product to the session and flushes; the caller commits (so a CSV import is all or nothing)."""
    taken = await taken_skus(session, host_id, [v.sku for v in spec.variants])
    if taken:
        raise SkuTaken(taken[0])
    product = Product(
        host_id=host_id,
        title=spec.title,
        description=spec.description,
        image_url=spec.image_url,
        price_cents=spec.price_cents,
        currency=spec.currency.upper(),
        variants=[
            Variant(host_id=host_id, sku=v.sku, label=v.label, stock=v.stock, position=i)
            for i, v in enumerate(spec.variants)
        ],
    )
    session.add(product)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent create took the SKU between our check and the insert
        raise SkuTaken(spec.variants[0].sku) from None
    return product


async def products_of(session: AsyncSession, host_id: int) -> list[Product]:
    return list((await session.execute(select(Product).where(Product.host_id == host_id).order_by(Product.id))).scalars())


async def product_of(session: AsyncSession, host_id: int, product_id: int) -> Product | None:
    product = await session.get(Product, product_id)
    return product if product is not None and product.host_id == host_id else None


def product_json(product: Product) -> dict:
    return {
        "id": product.id,
        "title": product.title,
        "description": product.description,
        "image_url": product.image_url,
        "price_cents": product.price_cents,
        "currency": product.currency,
        "variants": [{"id": v.id, "sku": v.sku, "label": v.label, "stock": v.stock} for v in product.variants],
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }
