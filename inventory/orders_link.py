"""A buyer's way back to their orders from any device: ask with the email the orders were made
with, get a link by email (the outbox's ``buyer.orders_link``), open it to see those orders.

The answer to the request never says whether the address has orders (no way to learn who bought
here); the email is only sent when it has. The link carries a signed, expiring token (made and
checked by the web layer); this module only finds orders and announces.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.models import Order
from inventory.outbox import announce

PENDING = "pending"
MAX_ORDERS_SHOWN = 200  # a page of orders; a buyer with more finds the rest by their receipts


def _of(email: str) -> ColumnElement[bool]:
    # Emails are kept as typed at checkout; a buyer asking may type another case.
    return func.lower(Order.email) == email.strip().lower()


class OrdersLinks:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def request(self, email: str, link_for: Callable[[str], str], locale: str | None = None) -> bool:
        """Announce a link to ``email``'s orders if it has any; True when one was announced. ``locale``:
        the language of the page that asked, for the email."""
        async with self.sessions() as session, session.begin():
            has_orders = (await session.execute(
                select(Order.id).where(_of(email), Order.status != PENDING).limit(1))).first() is not None
            if has_orders:
                announce(session, "buyer.orders_link", {"email": email.strip(), "url": link_for(email.strip().lower()),
                                                         **({"locale": locale} if locale else {})}, host_id=None)
        return has_orders

    async def orders_of(self, email: str) -> list[Order]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(Order).where(_of(email), Order.status != PENDING)
                .order_by(Order.created_at.desc(), Order.id).limit(MAX_ORDERS_SHOWN))
            return list(rows.scalars())
