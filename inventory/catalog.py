"""Products and their variants in SQL: the rules a product keeps, create, list, edit, restock.
SKUs are unique per host.

The rules are here, not in the web layer's request models, because more than one door leads in:
the JSON API (web.routes.products builds its pydantic models from these constants) and the CSV
import (inventory.csv_import checks each product with ``spec_problems``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.errors import InvalidRequest, InventoryError, NotFound
from inventory.models import Product, Variant

if TYPE_CHECKING:
    from inventory.stock import StockStore

# -- the rules of a product ----------------------------------------------------------------------

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CURRENCY_PATTERN = r"^[A-Za-z]{3}$"
IMAGE_URL_PATTERN = r"^(https?://|/static/)[^\s<>\"']+$"  # no javascript: or data: URLs in a page
MAX_STOCK = 1_000_000
MAX_PRICE_CENTS = 100_000_000
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_LABEL = 64
MAX_VARIANTS = 50
IMAGE_URL_RULE = "must be an http(s) URL or a /static/ path"


class SkuTaken(InventoryError):
    code, status = "sku_taken", 409

    def __init__(self, sku: str) -> None:
        super().__init__(f"the SKU {sku!r} is already used by another of your products")
        self.sku = sku


@dataclass(frozen=True)
class VariantSpec:
    sku: str
    label: str
    stock: int


@dataclass(frozen=True)
class ProductSpec:
    """A product not made yet: what the JSON API and the CSV import hand to ``create_product``."""

    title: str
    price_cents: int
    currency: str
    variants: tuple[VariantSpec, ...]
    description: str = ""
    image_url: str | None = None


@dataclass(frozen=True)
class SpecProblem:
    """One broken rule. ``variant`` is the index of the variant it is about (``field`` is then
    that variant's field: sku, label or stock); None: the product's own field."""

    field: str
    message: str
    variant: int | None = None


def image_url_problem(value: str | None) -> str | None:
    """None when ``value`` may be shown as a product image (empty means no image)."""
    if value is None or value == "" or re.fullmatch(IMAGE_URL_PATTERN, value):
        return None
    return IMAGE_URL_RULE


# Worded as the JSON API's validation (pydantic) words the same rule, so a host reads the same
# sentence for the same mistake whether it came through the API or a CSV file.
def _length(value: str, low: int, high: int) -> str | None:
    if len(value) < low:
        return f"String should have at least {low} character{'s' if low != 1 else ''}"
    if len(value) > high:
        return f"String should have at most {high} characters"
    return None


def _pattern(value: str, pattern: str) -> str | None:
    # fullmatch: the patterns are anchored, and ``$`` alone would let a trailing newline through.
    return None if re.fullmatch(pattern, value) else f"String should match pattern '{pattern}'"


def _within(value: int, low: int, high: int) -> str | None:
    if value < low:
        return f"Input should be greater than or equal to {low}"
    if value > high:
        return f"Input should be less than or equal to {high}"
    return None


def spec_problems(spec: ProductSpec) -> list[SpecProblem]:
    """Every rule ``spec`` breaks, in the order of its fields (empty: it may be created)."""
    found: list[SpecProblem] = []

    def check(field: str, message: str | None, variant: int | None = None) -> None:
        if message is not None:
            found.append(SpecProblem(field, message, variant))

    check("title", _length(spec.title, 1, MAX_TITLE))
    check("description", _length(spec.description, 0, MAX_DESCRIPTION))
    check("image_url", image_url_problem(spec.image_url))
    check("price_cents", _within(spec.price_cents, 0, MAX_PRICE_CENTS))
    check("currency", _pattern(spec.currency, CURRENCY_PATTERN))
    for i, variant in enumerate(spec.variants):
        check("sku", _pattern(variant.sku, SKU_PATTERN), i)
        check("label", _length(variant.label, 1, MAX_LABEL), i)
        check("stock", _within(variant.stock, 0, MAX_STOCK), i)
    count = len(spec.variants)
    if count < 1:
        check("variants", f"List should have at least 1 item after validation, not {count}")
    elif count > MAX_VARIANTS:
        check("variants", f"List should have at most {MAX_VARIANTS} items after validation, not {count}")
    elif not found and len({v.sku for v in spec.variants}) != count:
        check("variants", "each SKU may appear once")
    return found


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


# -- editing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantChange:
    """A size to change (its SKU is there) or to add (then label and stock are both needed).
    None: left as it is."""

    sku: str
    label: str | None = None
    stock: int | None = None


@dataclass(frozen=True)
class ProductChanges:
    """What a host edits; None leaves a field as it is (so an image cannot be removed this way)."""

    title: str | None = None
    description: str | None = None
    image_url: str | None = None
    price_cents: int | None = None
    currency: str | None = None
    variants: tuple[VariantChange, ...] = ()


async def edit_product(
    session: AsyncSession, host_id: int, product_id: int, changes: ProductChanges, stock: StockStore
) -> Product:
    """Apply ``changes`` to one of the host's products and commit; returns it with its variants.

    Stock can only grow: a sold or held unit cannot be taken back by lowering a number, so
    lowering is refused (InvalidRequest) rather than clamped. Grown and new sizes are restocked
    in Redis after the commit, so Redis never offers a unit SQL does not have. Refusals
    (NotFound, InvalidRequest, SkuTaken) leave the product as it was."""
    product = await product_of(session, host_id, product_id)
    if product is None:
        raise NotFound("no such product")
    new_skus = [c.sku for c in changes.variants if c.sku not in {v.sku for v in product.variants}]
    try:
        restocked = await _apply(session, host_id, product, changes)
        await session.commit()
    except IntegrityError:  # a concurrent edit or create took a new SKU between check and insert
        await session.rollback()
        raise SkuTaken(new_skus[0] if new_skus else "") from None
    except (InvalidRequest, SkuTaken):
        await session.rollback()
        raise
    await session.refresh(product, ["variants"])
    if restocked:
        await restock_live(stock, product_id, restocked)
    return product


async def _apply(session: AsyncSession, host_id: int, product: Product, changes: ProductChanges) -> dict[str, int]:
    """Changes ``product`` in the session; returns the new totals of the sizes whose stock grew."""
    for name in ("title", "description", "image_url", "price_cents"):
        value = getattr(changes, name)
        if value is not None:
            setattr(product, name, value)
    if changes.currency is not None:
        product.currency = changes.currency.upper()
    restocked: dict[str, int] = {}
    by_sku = {v.sku: v for v in product.variants}
    for change in changes.variants:
        variant = by_sku.get(change.sku)
        if variant is None:  # a new size
            if change.label is None or change.stock is None:
                raise InvalidRequest("variants", f"a new SKU {change.sku!r} needs label and stock")
            if await taken_skus(session, host_id, [change.sku]):
                raise SkuTaken(change.sku)
            product.variants.append(
                Variant(host_id=host_id, sku=change.sku, label=change.label, stock=change.stock,
                        position=len(product.variants))  # after every size, the ones added just now too
            )
            restocked[change.sku] = change.stock
            continue
        if change.label is not None:
            variant.label = change.label
        if change.stock is not None:
            if change.stock < variant.stock:
                raise InvalidRequest(
                    f"variants.{change.sku}.stock", f"stock can only be raised (restock); it is {variant.stock}"
                )
            if change.stock > variant.stock:
                restocked[change.sku] = change.stock
                variant.stock = change.stock
    return restocked


async def restock_live(stock: StockStore, product_id: int, totals: dict[str, int]) -> None:
    """Units were added to a product in SQL (new totals per SKU): holdable in Redis at once.
    A product not on sale yet is loaded from SQL when it goes on sale, so it is left alone."""
    if await stock.is_loaded(product_id):
        for sku, total in totals.items():
            await stock.restock(product_id, sku, total)
