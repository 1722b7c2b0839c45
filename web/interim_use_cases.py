"""INTERIM (deleted when the use-case moves land): the old Runtime's buyer and restock helpers."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from inventory.models import Product, Variant
from web.livedrop import Livedrop


async def restocked(root: Livedrop, product_id: int, totals: dict[str, int]) -> None:
    if await root.stock.is_loaded(product_id):
        for sku, total in totals.items():
            await root.stock.restock(product_id, sku, total)


async def live_holds(root: Livedrop, buyer_id: str) -> list[dict[str, Any]]:
    holds = await root.stock.live_holds_for_buyer(buyer_id)
    if not holds:
        return []
    async with root.services.sessions() as session:
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
