"""Buyers as they see themselves: what their page restores on load, and their display name.
Buyers are made by web (web.auth.create_buyer: a token comes with one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.checkout import Checkout
from inventory.models import Buyer
from inventory.orders import held_items, order_json
from inventory.stock import StockStore


async def buyer_overview(
    sessions: async_sessionmaker, stock: StockStore, checkout: Checkout, buyer_id: str, receipt_url: Callable[[str], str]
) -> dict[str, Any] | None:
    """What a buyer's page restores on load (GET /api/buyers/me): who they are, their live holds
    (named) and their orders. None: no such buyer (deleted since their token was issued)."""
    async with sessions() as session:
        buyer = await session.get(Buyer, buyer_id)
    if buyer is None:
        return None
    holds = await held_items(sessions, stock, buyer_id)
    orders = [order_json(order, receipt_url(order.id)) for order in await checkout.orders_for_buyer(buyer_id)]
    return {"buyer_id": buyer.id, "name": buyer.name, "holds": holds, "orders": orders}


async def rename_buyer(sessions: async_sessionmaker, buyer_id: str, name: str) -> bool:
    """The display name chat shows from the buyer's next message on; False: no such buyer."""
    async with sessions() as session:
        buyer = await session.get(Buyer, buyer_id)
        if buyer is None:
            return False
        buyer.name = name
        await session.commit()
    return True
