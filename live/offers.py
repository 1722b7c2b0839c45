"""Countdown offers in SQL: a price for a product between two absolute times, with a unit cap.

An offer's state follows the clock: ``scheduled`` before ``starts_at``, ``live`` until ``ends_at``,
then ``ended`` (or ended early by the host, or with its show). The offer clock (``live.offer_clock``)
moves the stored state and publishes each change; whether a hold may use the offer is decided by
the times themselves (``live.sales``), so a sale never depends on how late the clock ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.errors import InvalidRequest
from live.errors import OfferAboveList, OfferOverlaps
from live.frames import OfferJson
from live.models import Offer
from live.beacon import DrandBeacon as Beacon
from live.queue_order import commitment_of, new_seed

MAX_DURATION_S = 7 * 24 * 3600
MODES = ("open", "queue", "draw")
MAX_ADMIT_PER_MINUTE = 1_000_000
# A winner's claim window: minutes in a live show, up to a day after (the hold's expiry).
MAX_CLAIM_MINUTES = 24 * 60
DEFAULT_CLAIM_MINUTES = 15
# A giveaway runs during the show: long enough to enter from a phone, short enough to keep watching.
GIVEAWAY_MIN_S, GIVEAWAY_MAX_S = 60, 300


@dataclass(frozen=True)
class OfferSpec:
    product_id: int
    price_cents: int
    duration_s: int
    starts_at: int
    quantity: int | None = None
    per_customer_limit: int = 1
    hold_s: int = 300
    mode: str = "open"
    admit_per_minute: int | None = None  # queue offers; None: default_admit_per_minute
    claim_minutes: int | None = None  # draw offers: how long a winner has to claim (default 15)
    authorize: bool = False  # draw offers: an entry authorizes the price on the card
    giveaway: bool = False  # a draw at price 0 with a short window, run during the show
    buyers_only: bool = False  # giveaways: only buyers with a paid order from this host
    close_at: int | None = None  # draws: entries_close_at to the millisecond (duration_s is whole seconds)

    @property
    def ends_at(self) -> int:
        return self.close_at if self.close_at is not None else self.starts_at + self.duration_s * 1000


def state_at(starts_at: int, ends_at: int, now: int) -> str:
    if now < starts_at:
        return "scheduled"
    return "live" if now < ends_at else "ended"


def default_admit_per_minute(units: int) -> int:
    """Twice the units a minute: a drop of 300 pairs lets in 600 people a minute (the open-pass
    bound in live.waiting_room keeps it from running ahead of the stock), a tiny one 60."""
    return max(60, min(MAX_ADMIT_PER_MINUTE, 2 * units))


def create_offer(
    session: AsyncSession, show_id: int, spec: OfferSpec, now: int, units: int = 0, beacon: Beacon | None = None,
) -> Offer:
    """``units``: what the offer can sell (its cap or the product's stock), for the default rate.
    ``beacon``: a draw names the first round of this chain after its entries close."""
    if spec.price_cents < 0:
        raise InvalidRequest("price_cents", "must be 0 or more")
    if not 1 <= spec.duration_s <= MAX_DURATION_S:
        raise InvalidRequest("duration_s", f"must be between 1 and {MAX_DURATION_S}")
    if spec.quantity is not None and spec.quantity < 1:
        raise InvalidRequest("quantity", "must be at least 1")
    if spec.per_customer_limit < 1:
        raise InvalidRequest("per_customer_limit", "must be at least 1")
    if not 10 <= spec.hold_s <= 3600:
        raise InvalidRequest("hold_s", "must be between 10 and 3600")
    if spec.mode not in MODES:
        raise InvalidRequest("mode", "must be open, queue or draw")
    if spec.mode != "draw":
        if spec.claim_minutes is not None:
            raise InvalidRequest("claim_minutes", "only a draw offer has winners who claim")
        if spec.authorize:
            raise InvalidRequest("authorize", "only a draw offer authorizes at entry")
    elif spec.claim_minutes is not None and not 1 <= spec.claim_minutes <= MAX_CLAIM_MINUTES:
        raise InvalidRequest("claim_minutes", f"must be between 1 and {MAX_CLAIM_MINUTES} (a day)")
    if spec.giveaway:
        if spec.mode != "draw":
            raise InvalidRequest("giveaway", "a giveaway is a draw: send mode draw")
        if spec.price_cents != 0:
            raise InvalidRequest("price_cents", "a giveaway is free: 0")
        if spec.authorize:
            raise InvalidRequest("authorize", "a giveaway is free: there is nothing to authorize")
        if not GIVEAWAY_MIN_S <= spec.duration_s <= GIVEAWAY_MAX_S:
            raise InvalidRequest("entries_close_at", f"a giveaway's entries stay open {GIVEAWAY_MIN_S} to {GIVEAWAY_MAX_S} seconds")
    elif spec.buyers_only:
        raise InvalidRequest("buyers_only", "only a giveaway is for buyers only")
    if spec.admit_per_minute is not None:
        if spec.mode != "queue":
            raise InvalidRequest("admit_per_minute", "only a queue offer admits buyers at a rate")
        if not 1 <= spec.admit_per_minute <= MAX_ADMIT_PER_MINUTE:
            raise InvalidRequest("admit_per_minute", f"must be between 1 and {MAX_ADMIT_PER_MINUTE}")
    ends_at = spec.ends_at
    if ends_at <= now:
        raise InvalidRequest("starts_at", "the offer would already be over")
    seed = commitment = None
    admit_per_minute = None
    if spec.mode == "queue":
        if spec.starts_at <= now:
            raise InvalidRequest("starts_at", "a queue offer needs time for people to join: start it in the future")
        raw = new_seed()
        seed, commitment = raw.hex(), commitment_of(raw)
        admit_per_minute = spec.admit_per_minute or default_admit_per_minute(spec.quantity or units)
    if spec.mode == "draw":
        # The secret is committed now, before anyone enters; it is revealed by the draw (live.draws).
        raw = new_seed()
        seed, commitment = raw.hex(), commitment_of(raw)
    offer = Offer(
        show_id=show_id,
        product_id=spec.product_id,
        price_cents=spec.price_cents,
        starts_at=spec.starts_at,
        ends_at=ends_at,
        quantity=spec.quantity,
        per_customer_limit=spec.per_customer_limit,
        hold_s=spec.hold_s,
        state=state_at(spec.starts_at, ends_at, now),
        created_at=now,
        mode=spec.mode,
        admit_per_minute=admit_per_minute,
        seed=seed,
        commitment=commitment,
        claim_minutes=(spec.claim_minutes or DEFAULT_CLAIM_MINUTES) if spec.mode == "draw" else None,
        authorize=spec.authorize,
        giveaway=spec.giveaway,
        buyers_only=spec.buyers_only,
    )
    if spec.mode == "draw" and beacon is not None:
        offer.beacon_chain, offer.beacon_round = beacon.chain, beacon.round_after(ends_at)
    session.add(offer)
    return offer


async def check_fits(session: AsyncSession, show_id: int, spec: OfferSpec, list_price_cents: int, now: int) -> None:
    """Refuses an offer that would lie: priced above the list price (422 offer_above_list), or
    running at the same time as another offer on the same product in this show (409
    offer_overlaps; an ended one, or one whose time is up, does not count)."""
    if spec.price_cents > list_price_cents:
        raise OfferAboveList(
            f"price_cents: {spec.price_cents} is above the product's list price ({list_price_cents}); "
            "an offer must not cost more than the list price it is shown against"
        )
    clash = (await session.execute(
        select(Offer.id).where(
            Offer.show_id == show_id, Offer.product_id == spec.product_id, Offer.state != "ended",
            Offer.ends_at > now, Offer.starts_at < spec.ends_at, Offer.ends_at > spec.starts_at,
        ).limit(1)
    )).scalar_one_or_none()
    if clash is not None:
        raise OfferOverlaps(
            f"offer {clash} on this product runs at the same time; end it first, or pick times that do not overlap"
        )


async def open_offers(session: AsyncSession, show_id: int) -> list[Offer]:
    """The offers viewers see: scheduled and live ones, soonest first."""
    query = (
        select(Offer)
        .where(Offer.show_id == show_id, Offer.state != "ended")
        .order_by(Offer.starts_at, Offer.id)
    )
    return list((await session.execute(query)).scalars())


async def end_offer(session: AsyncSession, offer: Offer, now: int) -> bool:
    """Ends it now. False when it had already ended (a conditional update, so the host's cancel
    and the clock cannot both announce the end)."""
    result = await session.execute(
        update(Offer).where(Offer.id == offer.id, Offer.state != "ended").values(state="ended", ends_at=min(offer.ends_at, now))
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    offer.state, offer.ends_at = "ended", min(offer.ends_at, now)
    return True


async def advance(session: AsyncSession, offer: Offer, now: int) -> bool:
    """Moves the stored state to what the clock says; True when it changed (and should be announced)."""
    target = state_at(offer.starts_at, offer.ends_at, now)
    if target == offer.state:
        return False
    result = await session.execute(
        update(Offer).where(Offer.id == offer.id, Offer.state == offer.state).values(state=target)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    offer.state = target
    return True


async def due_offers(session: AsyncSession, now: int, ids: list[int] | None = None) -> list[Offer]:
    """Offers whose stored state is behind the clock (among ``ids`` when given)."""
    query = select(Offer).where(
        or_(
            (Offer.state == "scheduled") & (Offer.starts_at <= now),
            (Offer.state == "live") & (Offer.ends_at <= now),
        )
    )
    if ids is not None:
        query = query.where(Offer.id.in_(ids))
    return list((await session.execute(query.order_by(Offer.starts_at, Offer.id))).scalars())


async def end_all(session: AsyncSession, show_id: int, now: int) -> list[Offer]:
    """The show ended: so do its offers. Returns the ones that changed."""
    ended = []
    for offer in await open_offers(session, show_id):
        if await end_offer(session, offer, now):
            ended.append(offer)
    return ended


class OfferFields(Protocol):
    """What ``offer_json`` reads: an Offer row, or its cached copy (``live.views.OfferView``)."""

    @property
    def id(self) -> int: ...
    @property
    def product_id(self) -> int: ...
    @property
    def price_cents(self) -> int: ...
    @property
    def starts_at(self) -> int: ...
    @property
    def ends_at(self) -> int: ...
    @property
    def quantity(self) -> int | None: ...
    @property
    def per_customer_limit(self) -> int: ...
    @property
    def hold_s(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def admit_per_minute(self) -> int | None: ...
    @property
    def seed(self) -> str | None: ...
    @property
    def commitment(self) -> str | None: ...
    @property
    def claim_minutes(self) -> int | None: ...
    @property
    def authorize(self) -> bool: ...
    @property
    def giveaway(self) -> bool: ...
    @property
    def buyers_only(self) -> bool: ...


def offer_json(
    offer: OfferFields, remaining: int | None, currency: str | None = None, title: str | None = None
) -> OfferJson:
    data: OfferJson = {
        "id": offer.id,
        "product_id": offer.product_id,
        "title": title,
        "price_cents": offer.price_cents,
        "currency": currency,
        "starts_at": offer.starts_at,
        "ends_at": offer.ends_at,
        "quantity": offer.quantity,
        "remaining": remaining,
        "per_customer_limit": offer.per_customer_limit,
        "hold_s": offer.hold_s,
        "state": offer.state,
        "mode": offer.mode,
        "admit_per_minute": offer.admit_per_minute,
        "commitment": offer.commitment,
        # Secret until the line is closed at starts_at: whoever knew it could pick a good entry.
        # A draw's secret is revealed by the draw, in its audit only (GET .../audit).
        "seed": offer.seed if offer.state != "scheduled" and offer.mode != "draw" else None,
        "claim_minutes": offer.claim_minutes,
        "authorize": bool(offer.authorize),
    }
    if offer.mode == "draw":
        data["entries_open_at"], data["entries_close_at"] = offer.starts_at, offer.ends_at
        data["giveaway"], data["buyers_only"] = bool(offer.giveaway), bool(offer.buyers_only)
    return data
