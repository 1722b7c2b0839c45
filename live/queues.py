"""The waiting room's use cases: join, where am I (with the pass), the audit, the host's figures,
and the clock's part (shuffle at starts_at, let the line in at its rate).

Joining and "where am I" are a drop's hot calls (100,000 people, each asking every few seconds):
they read the offer from the view cache and make one Redis call. The audit and the host's figures
read SQL, so they work after the offer ended too.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

from sqlalchemy import func, select

from inventory.clock import now_ms
from inventory.errors import NotFound
from inventory.models import Order, OrderLine
from inventory.orders import counts_as_sold, units_sold
from live import keys
from live.control import ShowControl
from live.errors import NotAQueue, NotInQueue, QueueClosed
from live.models import Offer
from live.shows import show_by_slug
from live.passes import PassBook
from live.queue_order import ALGORITHM
from live.views import OfferView
from live.waiting_room import Place, WaitingRoom


class EntryJson(TypedDict):
    entry_id: str
    offer_id: int
    joined_at: int
    late: bool  # joined at or after starts_at: placed behind everyone who joined before, in arrival order


class PlaceJson(TypedDict):
    entry_id: str
    offer_id: int
    joined_at: int
    rank: int | None
    ahead: int | None
    admitted: bool
    admitted_upto: int
    length: int
    # The signed pass for the hold (body field "pass"), once admitted and until it expires.
    pass_: str | None
    pass_expires_at: int | None
    expired: bool  # admitted, but the pass ran out unused: the place went to the next in line
    eta_s: int | None


def place_json(offer_id: int, place: Place, pass_token: str | None, pass_expires_at: int | None, expired: bool) -> dict[str, Any]:
    return {
        "entry_id": place.entry.entry_id,
        "offer_id": offer_id,
        "joined_at": place.entry.joined_at,
        "rank": place.rank,
        "ahead": place.ahead,
        "admitted": place.admitted,
        "admitted_upto": place.admitted_upto,
        "length": place.length,
        "pass": pass_token,
        "pass_expires_at": pass_expires_at,
        "expired": expired,
        "eta_s": place.eta_s,
    }


class Queues:
    def __init__(self, control: ShowControl, passes: PassBook) -> None:
        self.control = control
        self.hub = control.hub
        self.room: WaitingRoom = control.hub.waiting_room
        self.passes = passes

    async def _queue_offer(self, slug: str, offer_id: int) -> OfferView:
        """The open queue offer ``offer_id`` of show ``slug``, from the view cache."""
        view = await self.hub.views.get(slug)
        if view is None:
            raise NotFound("no such show")
        offer = next((o for o in view.offers if o.id == offer_id), None)
        if offer is None:
            if await self._ended_offer_of(view.id, offer_id):
                raise QueueClosed()
            raise NotFound("no such offer in this show")
        if offer.mode != "queue":
            raise NotAQueue()
        if offer.ends_at <= now_ms():
            raise QueueClosed()
        return offer

    async def _ended_offer_of(self, show_id: int, offer_id: int) -> bool:
        async with self.control.sessions() as session:
            offer = await session.get(Offer, offer_id)
        return offer is not None and offer.show_id == show_id

    async def join(self, slug: str, offer_id: int, buyer_id: str, ip: str, ip_limit: tuple[int, int] | None) -> tuple[EntryJson, bool]:
        offer = await self._queue_offer(slug, offer_id)
        entry, created = await self.room.join(offer.id, buyer_id, offer.ends_at, ip, ip_limit)
        body: EntryJson = {
            "entry_id": entry.entry_id, "offer_id": offer.id, "joined_at": entry.joined_at, "late": entry.joined_at >= offer.starts_at,
        }
        return body, created

    async def place(self, slug: str, offer_id: int, buyer_id: str) -> dict[str, Any]:
        """GET .../queue/me: the buyer's place, and its pass once admitted."""
        offer = await self._queue_offer(slug, offer_id)
        place = await self.room.place(offer.id, buyer_id)
        if place is None:
            raise NotInQueue()
        pass_token = expires_at = None
        expired = False
        if place.admitted and place.rank is not None:
            expires_at = (place.admitted_at or now_ms()) + self.room.pass_s * 1000
            if expires_at > now_ms():
                pass_token = self.passes.issue(offer.id, buyer_id, place.rank, expires_at)
            else:
                expired, expires_at = True, None
        return place_json(offer.id, place, pass_token, expires_at, expired)

    async def _offer_of_show(self, slug: str, offer_id: int) -> Offer:
        async with self.control.sessions() as session:
            show = await show_by_slug(session, slug)
            offer = await session.get(Offer, offer_id)
        if show is None or offer is None or offer.show_id != show.id:
            raise NotFound("no such offer in this show")
        if offer.mode != "queue":
            raise NotAQueue("this offer has no waiting room, so nothing to audit: it sold first come")
        return offer

    async def audit(self, slug: str, offer_id: int) -> dict[str, Any]:
        """GET .../audit: everything needed to recompute the shuffle and check the admissions."""
        offer = await self._offer_of_show(slug, offer_id)
        entries, admissions = await self.room.audit(offer.id)
        revealed = offer.seed if now_ms() >= offer.starts_at else None
        return {
            "offer_id": offer.id,
            "algorithm": ALGORITHM,
            "commitment": offer.commitment,
            "seed": revealed,
            "starts_at": offer.starts_at,
            "entries": [{"entry_id": e, "joined_at": at, "rank": rank} for e, at, rank in entries],
            "admissions": [{"admitted_upto": upto, "at": at} for upto, at in admissions],
        }

    async def figures(self, host_id: int, slug: str, offer_id: int) -> dict[str, Any]:
        """The panel's view of a line: length, admitted, passes used, units sold at the offer."""
        offer = await self.control.host_offer(host_id, slug, offer_id)
        if offer.mode != "queue":
            raise NotAQueue()
        line = await self.room.line(offer.id)
        async with self.control.sessions() as session:
            sold = (await session.execute(
                select(func.coalesce(func.sum(units_sold()), 0))
                .join(Order, Order.id == OrderLine.order_id)
                .where(OrderLine.offer_id == offer.id, counts_as_sold())
            )).scalar_one()
        return {
            "offer_id": offer.id,
            "length": line.length,
            "ranked": line.ranked,
            "admitted_upto": line.admitted_upto,
            "passes_used": line.passes_used,
            "sold": int(sold),
            "admit_per_minute": offer.admit_per_minute,
            "state": offer.state,
        }

    # -- the clock ---------------------------------------------------------------------------------

    async def tick(self, now: int, queued: list[str] | None = None) -> None:
        """Shuffle lines whose offer started, and let each live line in a little further. Run by
        the offer clock (one process at a time), which may pass ``queued``, the members of
        keys.QUEUE_OFFERS it read in its own round trip."""
        redis = self.hub.redis
        if queued is None:
            queued = cast(list[str], await redis.zrange(keys.QUEUE_OFFERS, 0, -1))
        ids = [int(i) for i in queued]
        if not ids:
            return
        async with self.control.sessions() as session:
            running = list((await session.execute(select(Offer).where(Offer.id.in_(ids)))).scalars())
        for offer in running:
            if offer.state == "ended" or offer.ends_at <= now:
                await redis.zrem(keys.QUEUE_OFFERS, str(offer.id))
                continue
            # Shuffled only once the offer is stored live (the clock moved it and published the
            # seed first): nobody sees a place drawn from a seed still secret in the offer.
            if offer.state != "live" or offer.seed is None:
                continue
            if not await self.room.is_ranked(offer.id):
                await self.room.rank(offer.id, bytes.fromhex(offer.seed), offer.starts_at, offer.admit_per_minute or 60, now, offer.ends_at)
            available = await self.control.offer_remaining(offer)
            await self.room.admit(offer.id, available or 0, now)
        known = {o.id for o in running}
        for offer_id in ids:
            if offer_id not in known:  # deleted with its show
                await redis.zrem(keys.QUEUE_OFFERS, str(offer_id))
