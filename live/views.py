"""What a show looks like right now (status, pinned product, open offers), built from SQL and
cached per process: the snapshot and the sale lookup both read it, so neither hits SQL per request.

The cache is kept true by the hub: every ``show``, ``pin``, ``unpin`` or ``offer`` event drops the
show's entry (in every process, through the stream reader). A generation counter per show makes
sure a view loaded while such an event arrived is not kept (nor one whose show the sweep stopped
following meanwhile), and a maximum age bounds how long a view can be wrong if the reader was cut
off from Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.catalog import product_json
from inventory.models import Product, Variant
from live import offers as offer_rules
from live.bag import bag_of
from live.chat import message_json
from live.frames import ChatMessageJson, OfferJson, ShowJson
from live.models import ChatMessage, Offer, Show
from live.recordings import has_recording, replay_product_ids
from live.shows import show_by_slug, show_json

MAX_AGE_S = 10.0  # a safety net only; events invalidate at once
IDLE_S = 60.0  # entries unused this long are dropped (and their show no longer followed)
MISSING_TTL_S = 2.0  # how long "no such show" is remembered


@dataclass(frozen=True)
class ProductView:
    id: int
    title: str
    price_cents: int
    currency: str
    json: dict
    stock_loaded: dict[str, int]  # sku -> Variant.stock (units loaded in total)

    @property
    def skus(self) -> list[str]:
        return list(self.stock_loaded)


@dataclass(frozen=True)
class OfferView:
    id: int
    product_id: int
    price_cents: int
    starts_at: int
    ends_at: int
    quantity: int | None
    per_customer_limit: int
    hold_s: int
    state: str
    mode: str = "open"
    admit_per_minute: int | None = None
    seed: str | None = None
    commitment: str | None = None
    claim_minutes: int | None = None
    authorize: bool = False
    giveaway: bool = False
    buyers_only: bool = False

    def live_at(self, now: int) -> bool:
        return self.state != "ended" and self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class ShowView:
    id: int
    host_id: int
    slug: str
    status: str
    show: ShowJson
    pinned_id: int | None
    offers: tuple[OfferView, ...]  # scheduled and live
    products: dict[int, ProductView]  # the pinned product and every open offer's product (+ replay's)
    # An ended show with a recording: its replay sells what was pinned or offered during the show.
    replay_product_ids: frozenset[int] = frozenset()
    recorded: bool = False  # ended, with a recording: it has a replay
    bag_ids: tuple[int, ...] = ()  # the show's bag, in the host's order (docs/bag.md); in ``products`` too
    pinned_message: ChatMessageJson | None = None  # the chat message pinned on every screen

    def bag_order(self) -> list[int]:
        """The bag as the viewer's sheet lists it: the pinned product first (in the bag or not),
        then the bag in the host's order."""
        order = [self.pinned_id] if self.pinned_id is not None else []
        return order + [p for p in self.bag_ids if p != self.pinned_id]

    @property
    def pinned(self) -> ProductView | None:
        return self.products.get(self.pinned_id) if self.pinned_id is not None else None

    def live_offer_for(self, product_id: int, now: int) -> OfferView | None:
        live = [o for o in self.offers if o.product_id == product_id and o.live_at(now)]
        return min(live, key=lambda o: o.price_cents) if live else None  # two at once: the buyer gets the better price

    def offer_json(self, offer: OfferView, remaining: int | None) -> OfferJson:
        product = self.products.get(offer.product_id)
        return offer_rules.offer_json(
            offer,
            remaining,
            product.currency if product else None,
            product.title if product else None,
        )


def product_view(product: Product) -> ProductView:
    return ProductView(
        id=product.id,
        title=product.title,
        price_cents=product.price_cents,
        currency=product.currency,
        json=product_json(product),
        stock_loaded={v.sku: v.stock for v in product.variants},
    )


def offer_view(offer: Offer) -> OfferView:
    return OfferView(
        offer.id, offer.product_id, offer.price_cents, offer.starts_at, offer.ends_at, offer.quantity,
        offer.per_customer_limit, offer.hold_s, offer.state, offer.mode, offer.admit_per_minute, offer.seed,
        offer.commitment, offer.claim_minutes, bool(offer.authorize), bool(offer.giveaway), bool(offer.buyers_only),
    )


async def load_view(sessions: async_sessionmaker, slug: str) -> ShowView | None:
    async with sessions() as session:
        show = await show_by_slug(session, slug)
        if show is None:
            return None
        return await _view_of(session, show)


async def _view_of(session: AsyncSession, show: Show) -> ShowView:
    open_offers = await offer_rules.open_offers(session, show.id)
    product_ids = {o.product_id for o in open_offers}
    bag_ids = await bag_of(session, show.id)
    product_ids |= set(bag_ids)
    pinned_message = None
    if show.pinned_message_id is not None:
        message = await session.scalar(select(ChatMessage).where(
            ChatMessage.id == show.pinned_message_id, ChatMessage.deleted_at.is_(None)))
        if message is not None:
            replied = await session.get(ChatMessage, message.reply_to_id) if message.reply_to_id is not None else None
            pinned_message = message_json(message, replied)
    if show.pinned_product_id is not None:
        product_ids.add(show.pinned_product_id)
    replay_ids: set[int] = set()
    recorded = show.status == "ended" and await has_recording(session, show.id)
    if recorded:
        replay_ids = await replay_product_ids(session, show.id)
        product_ids |= replay_ids
    products: dict[int, ProductView] = {}
    if product_ids:
        rows = (await session.execute(select(Product).where(Product.id.in_(product_ids)))).scalars()
        products = {p.id: product_view(p) for p in rows}
    return ShowView(
        id=show.id,
        host_id=show.host_id,
        slug=show.slug,
        status=show.status,
        show=show_json(show),
        pinned_id=show.pinned_product_id,
        offers=tuple(offer_view(o) for o in open_offers),
        products=products,
        replay_product_ids=frozenset(replay_ids & set(products)),
        recorded=recorded,
        bag_ids=tuple(p for p in bag_ids if p in products),
        pinned_message=pinned_message,
    )


async def host_skus(sessions: async_sessionmaker, host_id: int) -> frozenset[str]:
    async with sessions() as session:
        return frozenset((await session.execute(select(Variant.sku).where(Variant.host_id == host_id))).scalars())


@dataclass
class _Entry:
    view: ShowView | None
    loaded_at: float
    used_at: float


@dataclass
class ViewCache:
    """slug -> ShowView, loaded once per change. ``follow``/``unfollow`` tell the stream reader
    which shows this process must hear about while their view is cached."""

    sessions: async_sessionmaker
    follow: Callable[[int], Awaitable[None]]
    unfollow: Callable[[int], None]
    on_load: Callable[[ShowView], Awaitable[None]] | None = None  # after each load from SQL
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _slugs: dict[int, str] = field(default_factory=dict)  # show id -> slug, for invalidation
    _ids: dict[str, int] = field(default_factory=dict)  # slug -> show id (slugs never change)
    _followed: set[int] = field(default_factory=set)
    _generation: dict[int, int] = field(default_factory=dict)
    _loading: dict[str, asyncio.Future[ShowView | None]] = field(default_factory=dict)
    _skus: dict[int, tuple[float, frozenset[str]]] = field(default_factory=dict)

    def fresh(self, slug: str) -> ShowView | None:
        """The cached view of ``slug`` while it is fresh; None when ``get`` must be asked."""
        entry = self._entries.get(slug)
        if entry is None or entry.view is None:
            return None
        now = time.monotonic()
        if now - entry.loaded_at >= MAX_AGE_S:
            return None
        entry.used_at = now
        return entry.view

    async def get(self, slug: str) -> ShowView | None:
        view = self.fresh(slug)
        if view is not None:
            return view
        entry = self._entries.get(slug)
        if entry is not None and entry.view is None:  # a show known not to exist, for a little while
            now = time.monotonic()
            if now - entry.loaded_at < MISSING_TTL_S:
                entry.used_at = now
                return None
        pending = self._loading.get(slug)
        if pending is not None:  # one load per show at a time, however many requests ask
            return await asyncio.shield(pending)
        future: asyncio.Future[ShowView | None] = asyncio.get_running_loop().create_future()
        self._loading[slug] = future
        try:
            view = await self._load(slug)
            future.set_result(view)
            return view
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._loading[slug]

    async def _load(self, slug: str) -> ShowView | None:
        show_id = self._ids.get(slug)
        if show_id is None or show_id not in self._followed:
            first = await load_view(self.sessions, slug)
            if first is None:
                self._entries[slug] = _Entry(None, time.monotonic(), time.monotonic())
                return None
            # Hear about changes from now on, then load again: a change made between the first
            # load and the follow would otherwise go unnoticed until MAX_AGE_S.
            show_id = first.id
            await self.follow(show_id)
            self._followed.add(show_id)
            self._slugs[show_id], self._ids[slug] = slug, show_id
        generation = self._generation.get(show_id, 0)
        view = await load_view(self.sessions, slug)
        if view is not None and self.on_load is not None:
            await self.on_load(view)
        if view is None or generation != self._generation.get(show_id, 0) or show_id not in self._followed:
            # Changed while loading, or the sweep stopped following the show meanwhile (its entry
            # was not there yet): answer this caller, keep nothing. The sweep also forgets the
            # show's slug and generation, so a kept entry would be dropped by no event at all and
            # stay wrong for up to MAX_AGE_S (a live queue offer's seed still hidden).
            return view
        now = time.monotonic()
        self._entries[slug] = _Entry(view, now, now)
        return view

    async def current(self, slug: str) -> ShowView | None:
        """Like ``get``, but never a view that a change overtook while it was loading (``get``
        may answer with one, which is fine for a sale and wrong for a snapshot: the snapshot
        must reflect every event delivered so far)."""
        view = await self.get(slug)
        for _ in range(5):
            entry = self._entries.get(slug)
            if view is None or (entry is not None and entry.view is view):
                break
            view = await self.get(slug)
        return view

    async def get_fresh(self, slug: str) -> ShowView | None:
        """After a change made in this process: drop the entry and load again."""
        self._entries.pop(slug, None)
        return await self.get(slug)

    def invalidate(self, show_id: int) -> None:
        self._generation[show_id] = self._generation.get(show_id, 0) + 1
        slug = self._slugs.get(show_id)
        if slug is not None:
            self._entries.pop(slug, None)

    async def skus_of_host(self, host_id: int) -> frozenset[str]:
        """Every SKU of a host (to tell unknown_sku from not_on_sale), cached for a few seconds."""
        now = time.monotonic()
        cached = self._skus.get(host_id)
        if cached is not None and now - cached[0] < MAX_AGE_S:
            return cached[1]
        skus = await host_skus(self.sessions, host_id)
        self._skus[host_id] = (now, skus)
        return skus

    def sweep(self) -> None:
        """Drop idle entries and stop following their shows (called by the hub's clock)."""
        now = time.monotonic()
        for slug, entry in list(self._entries.items()):
            if now - entry.used_at > IDLE_S:
                del self._entries[slug]
        live_ids = {e.view.id for e in self._entries.values() if e.view is not None}
        for show_id in list(self._followed - live_ids):
            self._followed.discard(show_id)
            self._ids.pop(self._slugs.pop(show_id, ""), None)
            self._generation.pop(show_id, None)
            self.unfollow(show_id)
        for host_id, (at, _) in list(self._skus.items()):
            if now - at > IDLE_S:
                del self._skus[host_id]
