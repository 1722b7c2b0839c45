"""Back in stock, the show's half: who waits for which size of a show's products (SQL), their
offers, and the job that records and announces each offer (docs/notify.md).

Redis keeps the line and hands returned units to it atomically (inventory.waitlist); SQL keeps
each entry's email and state so the offer can be announced (outbox event ``waitlist.offered``,
emailed by the outbox worker) and the host can see who waits. An offer is a hold: the buyer checks
it out as usual, declines it (the hold is released and its unit goes to the next in line), or lets
it expire (the hold sweeper returns it, to the next in line again).

The buyer's page learns of its offer by asking ``mine`` (GET /api/shows/{slug}/waitlist/me, only
the buyer's own entries) every few seconds while it waits: the hub sends show-wide frames only,
and an offer is private.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

import inventory.waitlist as line
from inventory import keys
from inventory.clock import now_ms
from inventory.errors import NotFound, Refusal
from inventory.models import Base, Product, Variant
from inventory.outbox import announce
from inventory.stock import StockStore
from live import shows
from live.errors import LiveError
from live.models import Show
from live.sales import PINNED_PER_CUSTOMER_LIMIT

log = logging.getLogger("livedrop.waitlist")

DEFAULT_OFFER_S = 15 * 60


class OfferClosed(LiveError):
    code, status, default_message = "offer_closed", 409, "this offer has ended (bought, declined or past its deadline)"


class WaitlistEntry(Base):
    """A buyer waiting for one size. ``state``: waiting (in the Redis line), offered (the line
    gave them a hold until ``deadline``), declined, skipped (they already had their limit of the
    product when their turn came) or left."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (UniqueConstraint("variant_id", "buyer_id", name="uq_waitlist_variant_buyer"),)
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)  # the page's language, for the email
    state: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    hold_id: Mapped[str] = mapped_column(String(64))  # the hold the offer will be (made at join)
    joined_at: Mapped[int] = mapped_column(BigInteger)
    offered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deadline: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


# The job's look, once a second: built once (building and compiling it each run was most of its
# idle cost).
_WAITING_PRODUCTS = select(WaitlistEntry.product_id).where(WaitlistEntry.state == "waiting").distinct()


def entry_json(entry: WaitlistEntry, offer: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": entry.id, "variant_id": entry.variant_id, "sku": entry.sku, "state": entry.state,
            "joined_at": entry.joined_at, "offer": offer}


@dataclass
class Waitlists:
    sessions: async_sessionmaker[AsyncSession]
    stock: StockStore
    ensure_loaded: Callable[[int], Awaitable[None]]
    show_url: Callable[[str], str]  # the absolute viewer page of a show (for the email)
    offer_s: int = DEFAULT_OFFER_S
    clock: Callable[[], int] = now_ms

    # -- the buyer -------------------------------------------------------------------------------

    async def join(self, slug: str, buyer_id: str, variant_id: int, email: str | None,
                   locale: str | None = None) -> tuple[dict[str, Any], bool]:
        """Put the buyer in the line of a sold-out size of this show's host. Returns (the entry,
        newly joined). InStock (409 in_stock) when units are on sale now; NotFound for a show or
        size that is not there."""
        async with self.sessions() as session:
            show = await shows.show_by_slug(session, slug)
            variant = await session.get(Variant, variant_id)
            if show is None:
                raise NotFound("no such show")
            if variant is None or variant.host_id != show.host_id:
                raise NotFound("no such size in this show's products")
            product = await session.get(Product, variant.product_id)
            assert product is not None
            await self.ensure_loaded(product.id)
            entry = (await session.execute(select(WaitlistEntry).where(
                WaitlistEntry.variant_id == variant.id, WaitlistEntry.buyer_id == buyer_id))).scalar_one_or_none()
            now = self.clock()
            fresh = entry is None or entry.state != "waiting"
            if entry is None:
                entry = WaitlistEntry(id=_new_entry_id(), variant_id=variant.id, buyer_id=buyer_id)
                session.add(entry)
            if fresh:
                # A new place at the back of the line, and a new hold id: the old one may be a hold
                # the buyer still has or had.
                entry.hold_id, entry.state, entry.joined_at = keys.new_hold_id(product.id), "waiting", now
                entry.offered_at = entry.deadline = None
            entry.show_id, entry.host_id, entry.product_id, entry.sku = show.id, show.host_id, product.id, variant.sku
            if email:
                entry.email = email
            if locale:
                entry.locale = locale  # the offer's email speaks it
            await session.flush()
            terms = line.OfferTerms(
                entry_id=entry.id, hold_id=entry.hold_id, unit_price_cents=product.price_cents, currency=product.currency,
                show_id=show.id, host_id=show.host_id, per_customer_limit=PINNED_PER_CUSTOMER_LIMIT, offer_ms=self.offer_s * 1000,
            )
            # Redis first, SQL's commit second: a size that is on sale refuses (InStock) and nothing
            # is written. Should the commit fail after Redis took the entry, the job finds an offer
            # with no entry and releases its hold, which passes the unit on (``deliver``).
            joined, place = await line.join(self.stock.redis, product.id, variant.sku, buyer_id, entry.joined_at, terms)
            await session.commit()
            return {**entry_json(entry), "place": place}, joined

    async def mine(self, slug: str, buyer_id: str) -> list[dict[str, Any]]:
        """The buyer's entries in this show, each with its offer while one is open."""
        async with self.sessions() as session:
            rows = (await session.execute(
                select(WaitlistEntry, Variant.label, Product.title)
                .join(Show, Show.id == WaitlistEntry.show_id)
                .join(Variant, Variant.id == WaitlistEntry.variant_id)
                .join(Product, Product.id == WaitlistEntry.product_id)
                .where(Show.slug == slug, WaitlistEntry.buyer_id == buyer_id,
                       WaitlistEntry.state.in_(("waiting", "offered")))
                .order_by(WaitlistEntry.joined_at)
            )).all()
        out = []
        for entry, label, title in rows:
            offer = await self._open_offer(entry)
            item: dict[str, Any] = {**entry_json(entry, offer), "variant_label": label, "product_title": title}
            if offer is not None:
                item["state"] = "offered"
            else:
                # Not offered now: still in the line (SQL may not know yet that the line served it
                # and the offer is already over)?
                place = await line.place(self.stock.redis, entry.product_id, entry.sku, buyer_id)
                if place is None:
                    continue
                item["state"], item["place"] = "waiting", place
            out.append(item)
        return out

    async def decline(self, slug: str, buyer_id: str, entry_id: str) -> None:
        """"No thanks": the offer's hold is released, and with it the unit goes to the next in line
        (or on sale when nobody waits). OfferClosed when there is no open offer to decline."""
        async with self.sessions() as session:
            entry = await self._own(session, slug, buyer_id, entry_id)
            offer = await self._open_offer(entry)
            if offer is None:
                raise OfferClosed()
            await self.stock.release(entry.hold_id, buyer_id)  # HoldLocked while it is in checkout
            entry.state = "declined"
            await session.commit()

    async def leave(self, slug: str, buyer_id: str, entry_id: str) -> None:
        """Leave the line (an open offer is declined)."""
        async with self.sessions() as session:
            entry = await self._own(session, slug, buyer_id, entry_id)
            if await self._open_offer(entry) is not None:
                await self.stock.release(entry.hold_id, buyer_id)
            await line.leave(self.stock.redis, entry.product_id, entry.sku, buyer_id)
            entry.state = "left"
            await session.commit()

    async def _own(self, session: AsyncSession, slug: str, buyer_id: str, entry_id: str) -> WaitlistEntry:
        entry = await session.get(WaitlistEntry, entry_id) if len(entry_id) <= 24 else None
        show = await shows.show_by_slug(session, slug)
        if entry is None or show is None or entry.buyer_id != buyer_id or entry.show_id != show.id:
            raise NotFound("no such waitlist entry")
        return entry

    async def _open_offer(self, entry: WaitlistEntry) -> dict[str, Any] | None:
        """The entry's offer while its hold still holds the unit, from Redis (so it shows the moment
        the line makes it, before the job has recorded it)."""
        hold = await self.stock.get_hold(entry.hold_id)
        if hold is None or hold.buyer_id != entry.buyer_id or hold.state == "sold":
            return None
        if hold.state == "held" and hold.expires_at <= self.clock():
            return None
        return {"hold_id": hold.hold_id, "sku": hold.sku, "quantity": hold.quantity, "price_cents": hold.unit_price_cents,
                "currency": hold.currency, "expires_at": hold.expires_at, "deadline": hold.expires_at, "state": hold.state}

    # -- the host --------------------------------------------------------------------------------

    async def for_host(self, host_id: int) -> list[dict[str, Any]]:
        """Per size of the host's products with anyone on its list: how many wait, how many hold an
        open offer."""
        now = self.clock()
        async with self.sessions() as session:
            rows = (await session.execute(
                select(WaitlistEntry.product_id, WaitlistEntry.variant_id, WaitlistEntry.sku, WaitlistEntry.state,
                       func.count())
                .where(WaitlistEntry.host_id == host_id,
                       (WaitlistEntry.state == "waiting") | ((WaitlistEntry.state == "offered") & (WaitlistEntry.deadline > now)))
                .group_by(WaitlistEntry.product_id, WaitlistEntry.variant_id, WaitlistEntry.sku, WaitlistEntry.state)
            )).all()
        sizes: dict[int, dict[str, Any]] = {}
        for product_id, variant_id, sku, state, n in rows:
            size = sizes.setdefault(variant_id, {"product_id": product_id, "variant_id": variant_id, "sku": sku,
                                                 "waiting": 0, "offered": 0})
            size[state] += int(n)
        # The line itself is Redis's: an entry the line served a moment ago is still 'waiting' in
        # SQL until the job records it.
        by_product: dict[int, list[str]] = {}
        for size in sizes.values():
            by_product.setdefault(size["product_id"], []).append(size["sku"])
        for product_id, skus in by_product.items():
            waiting = await line.line_lengths(self.stock.redis, product_id, skus)
            for size in sizes.values():
                if size["product_id"] == product_id:
                    size["waiting"] = waiting[size["sku"]]
        return sorted(sizes.values(), key=lambda s: (s["product_id"], s["variant_id"]))

    # -- the job ---------------------------------------------------------------------------------

    async def deliver(self) -> int:
        """Record and announce every entry the lines served since the last run. Returns how many.
        Safe with two workers: each item is claimed by an UPDATE ... WHERE state = 'waiting' in the
        transaction that announces it, and dropped from Redis only after that commits."""
        async with self.sessions() as session:
            product_ids = (await session.execute(_WAITING_PRODUCTS)).scalars().all()
        handled = 0
        for product_id in product_ids:
            for served in await line.pending(self.stock.redis, product_id):
                await self._record(served)
                await line.done(self.stock.redis, product_id, served)
                handled += 1
        return handled

    async def _record(self, served: line.Served) -> None:
        async with self.sessions() as session:
            entry = await session.get(WaitlistEntry, served.entry_id)
            if entry is None or (served.hold_id is not None and entry.hold_id != served.hold_id):
                # Redis took an entry whose SQL row never committed (or was replaced): give the unit on.
                if served.hold_id is not None:
                    hold = await self.stock.get_hold(served.hold_id)
                    if hold is not None and hold.state == "held":
                        await _release_quietly(self.stock, served.hold_id, hold.buyer_id)
                return
            if served.hold_id is None:
                await session.execute(update(WaitlistEntry).where(
                    WaitlistEntry.id == entry.id, WaitlistEntry.state == "waiting").values(state="skipped"))
                await session.commit()
                return
            claimed = await session.execute(
                update(WaitlistEntry)
                .where(WaitlistEntry.id == entry.id, WaitlistEntry.state == "waiting", WaitlistEntry.hold_id == served.hold_id)
                .values(state="offered", offered_at=self.clock(), deadline=served.deadline)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 1 and entry.email:  # type: ignore[attr-defined]
                show = await session.get(Show, entry.show_id)
                variant = await session.get(Variant, entry.variant_id)
                product = await session.get(Product, entry.product_id)
                announce(session, "waitlist.offered", {
                    "email": entry.email,
                    "product_title": product.title if product else "",
                    "variant_label": variant.label if variant else entry.sku,
                    "deadline": served.deadline,
                    "url": self.show_url(show.slug) if show else "",
                    **({"locale": entry.locale} if entry.locale else {}),
                }, host_id=entry.host_id)
            await session.commit()


async def _release_quietly(stock: StockStore, hold_id: str, buyer_id: str) -> None:
    try:
        await stock.release(hold_id, buyer_id)
    except Refusal:
        pass  # already gone or in checkout: nothing to hand on


def _new_entry_id() -> str:
    return "wl_" + secrets.token_urlsafe(12)  # 16 characters, no ':' (Redis items are ':'-joined)
