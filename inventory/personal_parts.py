"""inventory's parts of a buyer's data (inventory.personal_data): orders, holds, threads, and what
the outbox still carries about them.

Orders are anonymized, not deleted: accounting must keep amounts, dates, lines, tax and refunds
(and the country, which sets the tax), under a pseudonymous buyer id. The email, name, phone and
street address go, in SQL and in the order's hold record in Redis (a sold hold keeps the checkout
details for recovery).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory import keys
from inventory.models import Order
from inventory.outbox import OutboxEvent
from inventory.personal_data import Subject
from inventory.stock import StockStore
from inventory.threads import Thread, ThreadMessage, threads_of_buyer

ERASED = "[erased]"
MAX_SCRUBBED_EVENTS = 10_000  # outbox events rewritten per erasure (a buyer has a handful)


def _orders_query(subject: Subject) -> Any:
    query = select(Order).where(Order.buyer_id == subject.buyer_id)
    return query if subject.host_id is None else query.where(Order.host_id == subject.host_id)


class OrdersPart:
    name = "orders"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis) -> None:
        self.sessions = sessions
        self.redis = redis

    async def find(self, subject: Subject) -> None:
        async with self.sessions() as session:
            for order in (await session.execute(_orders_query(subject))).scalars():
                subject.emails.add(order.email.strip().lower())
                subject.names.add(order.name.strip())

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            orders = list((await session.execute(_orders_query(subject).order_by(Order.created_at))).scalars())
        return [{
            "order_id": o.id, "number": o.number, "status": o.status, "created_at": o.created_at, "host_id": o.host_id,
            "email": o.email, "name": o.name, "phone": o.phone, "shipping": o.shipping, "total_cents": o.total_cents,
            "currency": o.currency, "refunded_cents": o.refunded_cents, "carrier": o.carrier, "tracking_number": o.tracking_number,
            "lines": [{"line_id": line.id, "sku": line.sku, "title": line.title, "label": line.label, "quantity": line.quantity,
                       "refunded_quantity": line.refunded_quantity,
                       "unit_price_cents": line.unit_price_cents} for line in o.lines],
        } for o in orders]

    async def erase(self, subject: Subject) -> int:
        async with self.sessions() as session, session.begin():
            orders = list((await session.execute(_orders_query(subject))).scalars())
            for order in orders:
                country = order.shipping.get("country") if isinstance(order.shipping, dict) else None
                order.email, order.name, order.phone = "", "", None
                order.shipping = {"country": country} if country else {}
                order.buyer_id = subject.pseudonym
                order.carrier = order.tracking_number = None  # a tracking number finds the address
            hold_ids = [o.hold_id for o in orders]
            product_ids = sorted({line.product_id for o in orders for line in o.lines})
        await _scrub_holds(self.redis, hold_ids)
        await self._scrub_email_counts(product_ids, subject)
        return len(orders)

    async def _scrub_email_counts(self, product_ids: list[int], subject: Subject) -> None:
        """The per-email limit's counts (``ld:{p<id>}:emails``) name the address: they go (the
        erased address could buy its limit again; the buyer asked to be forgotten)."""
        for product_id in product_ids:
            key = keys.prefix(product_id) + "emails"
            fields: Any = await self.redis.hkeys(key)
            named = [f for f in fields if str(f).strip().lower() in subject.emails]
            if named:
                await self.redis.hdel(key, *named)


async def _scrub_holds(redis: aioredis.Redis, hold_ids: list[str]) -> None:
    """The checkout details (email, name, address) a hold record keeps while and after it sells."""
    if not hold_ids:
        return
    pipe = redis.pipeline(transaction=False)
    for hold_id in hold_ids:
        try:
            pipe.hdel(keys.hold(keys.product_of_hold(hold_id), hold_id), "em", "det")
        except ValueError:
            continue
    await pipe.execute()


class HoldsPart:
    """Live holds (Redis only): exported; erasure lets them go back to stock."""

    name = "holds"

    def __init__(self, stock: StockStore) -> None:
        self.stock = stock

    async def find(self, subject: Subject) -> None:
        return None

    async def _holds(self, subject: Subject) -> list[Any]:
        holds = await self.stock.live_holds_for_buyer(subject.buyer_id)
        return [h for h in holds if subject.host_id is None or h.host_id == subject.host_id]

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        return [{**h.to_json(), "state": h.state, "product_id": h.product_id, "host_id": h.host_id} for h in await self._holds(subject)]

    async def erase(self, subject: Subject) -> int:
        n = 0
        for hold in await self._holds(subject):
            if hold.state == "held":
                try:
                    await self.stock.release(hold.hold_id, subject.buyer_id)
                except Exception:  # sold or gone meanwhile: nothing to let go
                    pass
            await _scrub_holds(self.stock.redis, [hold.hold_id])
            n += 1
        return n


class ThreadsPart:
    """Private threads and their messages: deleted on erasure (nothing in them must be kept), with
    the frames that carried them in the private stream (``ld:{private}``)."""

    name = "messages"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, stream: str,
                 erased: Callable[[list[tuple[str, int, str]]], Awaitable[None]] | None = None) -> None:
        self.sessions = sessions
        self.redis = redis
        self.stream = stream
        # Tells the open pages (the host's inbox, the buyer's) that these (thread id, host id,
        # buyer id) are gone (live.threads.ThreadDesk.erased), so no screen keeps showing them.
        self.erased = erased

    async def find(self, subject: Subject) -> None:
        async with self.sessions() as session:
            for thread in await threads_of_buyer(session, subject.buyer_id, subject.host_id):
                if thread.email:
                    subject.emails.add(thread.email.strip().lower())

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            threads = await threads_of_buyer(session, subject.buyer_id, subject.host_id)
            out = []
            for thread in threads:
                messages = (await session.execute(select(ThreadMessage).where(ThreadMessage.thread_id == thread.id)
                                                  .order_by(ThreadMessage.id))).scalars()
                out.append({"thread_id": thread.id, "host_id": thread.host_id, "status": thread.status, "email": thread.email,
                            "created_at": thread.created_at,
                            "messages": [{"sender": m.sender, "text": m.text, "card": m.card, "created_at": m.created_at}
                                         for m in messages]})
        return out

    async def erase(self, subject: Subject) -> int:
        async with self.sessions() as session, session.begin():
            gone = [(t.id, t.host_id, t.buyer_id) for t in await threads_of_buyer(session, subject.buyer_id, subject.host_id)]
            ids = [thread_id for thread_id, _, _ in gone]
            if ids:
                await session.execute(delete(ThreadMessage).where(ThreadMessage.thread_id.in_(ids)))
                await session.execute(delete(Thread).where(Thread.id.in_(ids)))
        if ids:
            entries: Any = await self.redis.xrange(self.stream)
            stale = [str(entry_id) for entry_id, fields in entries or ()
                     if any(thread_id in str(fields.get("f", "")) for thread_id in ids)]
            if stale:
                await self.redis.xdel(self.stream, *stale)
            if self.erased is not None:
                await self.erased(gone)
        return len(ids)


class OutboxPart:
    """Emails and webhooks about the buyer: not yet sent, they are dropped; sent ones keep their
    record with the buyer's details blanked."""

    name = "outbox"

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def find(self, subject: Subject) -> None:
        return None

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        return []  # what was sent is in the other parts' records; the mail itself is in the buyer's inbox

    async def erase(self, subject: Subject) -> int:
        needles = sorted({*subject.emails, subject.buyer_id})
        if not needles:
            return 0
        text = func.lower(cast(OutboxEvent.payload, String))
        query = select(OutboxEvent).where(or_(*(text.contains(n.lower()) for n in needles))).limit(MAX_SCRUBBED_EVENTS)
        if subject.host_id is not None:
            query = query.where(or_(OutboxEvent.host_id == subject.host_id, OutboxEvent.host_id.is_(None)))
        n = 0
        async with self.sessions() as session, session.begin():
            for event in (await session.execute(query)).scalars():
                n += 1
                if event.dispatched_at is None:
                    await session.delete(event)
                else:
                    event.payload = scrub(event.payload, subject)
        return n


def scrub(value: Any, subject: Subject) -> Any:
    """``value`` with every string naming the buyer (an email, a name, the id) blanked, and
    addresses dropped."""
    if isinstance(value, dict):
        return {k: (ERASED if k in ("shipping", "phone", "address") else scrub(v, subject)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, subject) for v in value]
    if isinstance(value, str):
        low = value.strip().lower()
        if low in subject.emails or value.strip() in subject.names or subject.buyer_id in value or any(e in low for e in subject.emails):
            return ERASED
    return value
