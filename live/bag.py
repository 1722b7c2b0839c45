"""The show's bag: the products a viewer can browse and hold from the viewer page, besides the
pinned one (TikTok LIVE's bag). The host chooses them and their order; while the show is live each
sells at list price, with the pinned product's per-customer limit, unless a live offer prices it
(then the offer's terms) or a waiting room holds it (then only with a pass): live.sales. docs/bag.md.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.errors import InvalidRequest
from inventory.models import Product
from live.models import BagItem

MAX_BAG_PRODUCTS = 50  # a show's lineup; the viewer's sheet scrolls, 50 keeps its snapshot small (~50 KB)


async def bag_of(session: AsyncSession, show_id: int) -> list[int]:
    """The product ids in the show's bag, in the host's order."""
    rows = await session.execute(select(BagItem.product_id).where(BagItem.show_id == show_id).order_by(BagItem.position))
    return list(rows.scalars())


async def replace_bag(session: AsyncSession, show_id: int, host_id: int, product_ids: list[int]) -> list[Product]:
    """Make the bag exactly ``product_ids`` (in that order). Every id must be one of the host's
    products (422 naming the first that is not: another host's product is as unknown as none).
    Nothing is written when one is refused. The caller commits."""
    if len(product_ids) != len(set(product_ids)):
        raise InvalidRequest("product_ids", "each product may be in the bag once")
    if len(product_ids) > MAX_BAG_PRODUCTS:
        raise InvalidRequest("product_ids", f"at most {MAX_BAG_PRODUCTS} products")
    found = {p.id: p for p in (await session.execute(
        select(Product).where(Product.id.in_(product_ids), Product.host_id == host_id))).scalars()} if product_ids else {}
    for product_id in product_ids:
        if product_id not in found:
            raise InvalidRequest("product_ids", f"no product {product_id} in your catalog")
    await session.execute(delete(BagItem).where(BagItem.show_id == show_id))
    for position, product_id in enumerate(product_ids):
        session.add(BagItem(show_id=show_id, product_id=product_id, position=position))
    return [found[p] for p in product_ids]
