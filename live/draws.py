"""Draw offers' use cases (docs/draws.md): enter, where do I stand, the host's void and figures,
the draw itself at ``entries_close_at``, the winners' claims and hand-overs, and the audit.

    entries_open_at .. entries_close_at   buyers enter (one per buyer, per email, per card)
    the clock, at entries_close_at        the list is frozen, hashed, ranked (live.draw_order);
                                          each size's units go to its best-ranked entries as holds
                                          that expire at the claim deadline; everyone is told
    the clock, every second after         a winner's paid order -> claimed; a winner's hold gone
                                          unpaid -> lapsed, its unit handed to the next-ranked
                                          entry of the size (logged in the audit)

Entries live in SQL (``draw_entries``): the draw is rare and must last; the audit is read from
it. The identities in an entry (buyer, email, card fingerprint) sit in columns a GDPR erasure can
null while the entry id, size and rank stay.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update

from inventory.clock import now_ms
from inventory.errors import InvalidRequest, NotFound, PaymentDeclined, Refusal, SoldOut, UnknownSku
from inventory.models import Buyer, Order, Product, Variant
from inventory.orders import SELLING
from inventory.outbox import OutboxEvent, announce, mark_announced, new_event_ids
from inventory.payments import PaymentProvider
from inventory.shipping import FLAT, NONE, profile_for
from inventory.stock import Hold, SaleTerms
from live import draw_order, keys
from live.beacon import QUICKNET_HASH, SCHEME, BadBeacon, BeaconRound, DrandBeacon
from live.control import ShowControl
from live.draw_entries import EntryIds, EntryWriter
from live.errors import (
    AlreadyDrawn, AlreadyEntered, BuyersOnly, CardAlreadyEntered, DrawClosed, DrawNotOpen, EmailAlreadyEntered, NotADraw, NotEntered,
)
from live.frames import DrawEventFields, DrawWinnerJson
from live.i18n import supported
from live.models import DrawEntry, DrawLog, Offer, Show
from live.shows import show_by_slug
from live.views import OfferView

log = logging.getLogger("livedrop.draws")

SETTLE_EVERY_S = 1.0  # winners' holds looked at once a second: a claim window is minutes long
HOLD_BATCH = 500  # winners' holds made concurrently (one pipelined script call each)
VOID_BATCH = 200  # authorizations let go concurrently
MAX_REASON = 32
# The draw waits this long after entries_close_at: an entry that passed the time check just before
# the close has committed by then (an INSERT takes milliseconds). One slower than that is removed
# after the draw (Draws._drop_late), so the frozen list and the audit always agree.
DRAW_GRACE_MS = 1000
BEACON_RETRY_MS = 5000
DRAW_LOCK_MS = 120_000  # longer than any draw takes (100,000 entries: seconds), short enough to retry after a crash
DEFAULT_BEACON_URL = "https://api.drand.sh"
NEVER = 2**62
_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)  # a draw's rows: id, sku, status
# The clock's look (Draws.tick): when the first undrawn draw offer's entries close. Built once.
_FIRST_UNDRAWN = select(func.min(Offer.ends_at)).where(Offer.mode == "draw", Offer.drawn_at.is_(None))
NO_BEACON = (
    "no beacon: the seed depends only on the server's secret (committed before entries opened) and the entries; "
    "the operator, who knows the secret, could have biased the pick by choosing which entries to exclude"
)


BEACON_NOTE = (
    "the seed mixes in the randomness of the named drand round, published after entries closed: nobody, the operator "
    "included, could know it in advance. Check the round's BLS signature against the chain's public key "
    "(bls-unchained-g1-rfc9380); its randomness is sha256(signature)"
)


_ENTRY_IDS = EntryIds()


def new_entry_id() -> str:
    return _ENTRY_IDS.new()  # 19 characters, URL-safe ASCII (sorts the same in any language)


class Draws:
    def __init__(self, control: ShowControl, payments: PaymentProvider) -> None:
        self.control = control
        self.hub = control.hub
        self.stock = control.hub.stock
        self.payments = payments
        self._settled_at = 0.0
        self._next_draw_at = 0  # ms: the first undrawn draw's time at the clock's last look (NEVER: none)
        self._winners = True  # the last settle found winners, or a draw made some since
        self._settle_owed = False  # offers changed since the last settle: winners may have appeared elsewhere
        self.writer = EntryWriter(control.sessions)  # entries, group-committed (live.draw_entries)
        self.timings: dict[int, dict[str, float]] = {}  # offer id -> how long its draw took here
        self._beacon_retry: dict[int, int] = {}  # offer id -> not before (ms): a relay that fails is asked every 5 s
        # A drawn offer's ranked entries, for its audit: offer id -> (how many entries, the audit's
        # "entries" list, rank by entry). Ranks never change once drawn; a count that moved (an
        # entry dropped as late) recomputes them. 100,000 entries: ~1 s of SQL and HMACs a request.
        self._ranked: dict[int, tuple[int, list[dict[str, Any]], dict[str, int]]] = {}

    @property
    def sessions(self) -> Any:
        return self.control.sessions

    async def _offer(self, slug: str, offer_id: int) -> tuple[Show, Offer]:
        async with self.sessions() as session:
            show = await show_by_slug(session, slug)
            offer = await session.get(Offer, offer_id)
        if show is None or offer is None or offer.show_id != show.id:
            raise NotFound("no such offer in this show")
        if offer.mode != "draw":
            raise NotADraw()
        return show, offer

    # -- buyers ------------------------------------------------------------------------------------

    async def enter(
        self, slug: str, offer_id: int, buyer_id: str, sku: str, email: str, country: str | None, card_number: str | None,
        locale: str | None = None,
    ) -> dict[str, Any]:
        """The buyer's new entry; refusals: draw_not_open, draw_closed, unknown_sku, already_entered,
        email_already_entered, card_already_entered, payment_declined (the authorization).

        The offer, its sizes and its currency come from the view cache (no SQL); the entry is one
        INSERT whose unique keys refuse a second entry of the buyer, the email or the card. ``locale``:
        the entry page's language, which the draw's won/lost emails speak."""
        offer, skus, currency, host_id = await self._open_draw(slug, offer_id)
        now = now_ms()
        if now < offer.starts_at:
            raise DrawNotOpen()
        if now >= offer.ends_at:
            raise DrawClosed()
        if sku not in skus:
            raise UnknownSku(f"sku: {sku!r} is not a size of this draw's product")
        email = email.strip().lower()
        if offer.buyers_only and not await self._bought_from(host_id, buyer_id):
            raise BuyersOnly()
        entry_id = new_entry_id()
        charge_id = fingerprint = None
        authorized_cents = 0
        if offer.authorize:
            if not card_number:
                raise InvalidRequest("card_number", "this draw authorizes the price on your card at entry: send card_number")
            # Asked first, so a second entry of the buyer or email costs no authorization.
            refusal = await self._duplicate(offer.id, buyer_id, email, None)
            if refusal is not None:
                raise refusal
            # The price and the shipping: a win's claim captures the order's total (inventory.checkout),
            # never more than this, and Stripe captures no more than was authorized.
            authorized_cents = offer.price_cents + await self._shipping_allowance(slug, host_id, offer.price_cents, country)
            charge = await self.payments.authorize(f"draw:{entry_id}", authorized_cents, currency, card_number)
            if charge.status != "authorized":
                raise PaymentDeclined(decline_code=charge.decline_code or "card_declined")
            charge_id, fingerprint = charge.id, charge.card_fingerprint or None
        row = {"id": entry_id, "offer_id": offer.id, "buyer_id": buyer_id, "sku": sku, "email": email,
               "card_fingerprint": fingerprint, "country": country, "charge_id": charge_id, "status": "entered",
               "rank": None, "hold_id": None, "reason": None, "created_at": now, "locale": supported(locale or "")}
        if not await self.writer.add(row):  # a unique key refused it: which one?
            refusal = await self._duplicate(offer.id, buyer_id, email, fingerprint)
            if charge_id is not None:  # nothing half-written: the authorization is let go
                await self.payments.void(charge_id)
            raise refusal or CardAlreadyEntered()
        return {"entry_id": entry_id, "offer_id": offer.id, "sku": sku, "status": "entered", "entered_at": now,
                "commitment": offer.commitment, "entries_close_at": offer.ends_at,
                **({"authorized_cents": authorized_cents} if charge_id is not None else {})}

    async def _shipping_allowance(self, slug: str, host_id: int, price_cents: int, country: str | None) -> int:
        """What shipping a win's order may add to the price, under the host's rules for the show
        now: to ``country`` when the entry names it (NotShippedTo when the host does not ship
        there), else the dearest destination. Tax is included in prices, so nothing more."""
        view = await self.hub.views.get(slug)
        profile, _ = await profile_for(self.sessions, host_id, view.id if view is not None else None)
        if country:
            return profile.shipping_cents(price_cents, country)
        if profile.kind == NONE or (profile.free_over_cents is not None and price_cents >= profile.free_over_cents):
            return 0
        return profile.flat_cents if profile.kind == FLAT else max(profile.countries.values(), default=0)

    async def _bought_from(self, host_id: int, buyer_id: str) -> bool:
        async with self.sessions() as session:
            return (await session.execute(
                select(Order.id).where(Order.host_id == host_id, Order.buyer_id == buyer_id, Order.status.in_(SELLING)).limit(1)
            )).first() is not None

    async def _open_draw(self, slug: str, offer_id: int) -> tuple[OfferView, set[str], str, int]:
        """A draw offer still open for entries (its view, sizes and currency); DrawClosed once it is not."""
        view = await self.hub.views.get(slug)
        offer = next((o for o in view.offers if o.id == offer_id), None) if view is not None else None
        product = view.products.get(offer.product_id) if view is not None and offer is not None else None
        if offer is None or product is None:
            await self._offer(slug, offer_id)  # NotFound or NotADraw; else it is a draw that ended
            raise DrawClosed()
        if offer.mode != "draw":
            raise NotADraw()
        assert view is not None
        return offer, set(product.stock_loaded), product.currency, view.host_id

    async def _duplicate(self, offer_id: int, buyer_id: str, email: str, fingerprint: str | None) -> Refusal | None:
        """Which unique key an entry of ``buyer_id`` / ``email`` / the card would break; None: none."""
        async with self.sessions() as session:
            same = (DrawEntry.buyer_id == buyer_id) | (DrawEntry.email == email)
            if fingerprint is not None:
                same = same | (DrawEntry.card_fingerprint == fingerprint)
            rows = (await session.execute(
                select(DrawEntry.buyer_id, DrawEntry.email, DrawEntry.card_fingerprint).where(DrawEntry.offer_id == offer_id, same)
            )).all()
        if any(b == buyer_id for b, _, _ in rows):
            return AlreadyEntered()
        if any(e == email for _, e, _ in rows):
            return EmailAlreadyEntered()
        if rows:
            return CardAlreadyEntered()
        return None

    async def mine(self, slug: str, offer_id: int, buyer_id: str) -> dict[str, Any]:
        """GET .../entries/me: ``status`` entered (before the draw), won, lost, claimed or lapsed."""
        _, offer = await self._offer(slug, offer_id)
        async with self.sessions() as session:
            entry = (await session.execute(
                select(DrawEntry).where(DrawEntry.offer_id == offer.id, DrawEntry.buyer_id == buyer_id)
            )).scalar_one_or_none()
        if entry is None:
            raise NotEntered()
        status = entry.status
        if status == "won" and entry.hold_id is not None and await self._paid(entry.hold_id):
            status = "claimed"
        elif status == "excluded" or (status == "entered" and offer.drawn_at is not None):
            status = "lost"
        deadline = None
        if status == "won" and entry.hold_id is not None:
            hold = await self.stock.get_hold(entry.hold_id)
            deadline = hold.expires_at if hold is not None else None
        return {"entry_id": entry.id, "sku": entry.sku, "status": status, "hold_id": entry.hold_id if status in ("won", "claimed") else None,
                "claim_deadline": deadline, "rank": entry.rank, "excluded_reason": entry.reason if entry.status == "excluded" else None}

    async def _paid(self, hold_id: str) -> bool:
        async with self.sessions() as session:
            status = (await session.execute(select(Order.status).where(Order.hold_id == hold_id))).scalar_one_or_none()
        return status in SELLING

    async def authorization_for(self, hold_id: str) -> str | None:
        """inventory.checkout.Authorizations: a winner's claim captures what the entry authorized."""
        async with self.sessions() as session:
            return (await session.execute(
                select(DrawEntry.charge_id).where(DrawEntry.hold_id == hold_id, DrawEntry.status == "won")
            )).scalar_one_or_none()

    # -- the host ----------------------------------------------------------------------------------

    async def void_entry(self, host_id: int, slug: str, offer_id: int, entry_id: str, reason: str) -> dict[str, Any]:
        """Exclude an entry before the draw (a bot, say), with a short reason code the audit lists."""
        offer = await self.control.host_offer(host_id, slug, offer_id)
        if offer.mode != "draw":
            raise NotADraw()
        if not reason or len(reason) > MAX_REASON or not all(c.isalnum() or c in "_-" for c in reason):
            raise InvalidRequest("reason", f"a short code (letters, digits, _ or -; at most {MAX_REASON}), e.g. bot")
        async with self.sessions() as session:
            # Guarded by the offer's drawn_at in the same statement: a void racing the draw loses.
            drawn = (await session.execute(select(Offer.drawn_at).where(Offer.id == offer.id))).scalar_one()
            if drawn is not None:
                raise AlreadyDrawn()
            entry = await session.get(DrawEntry, entry_id)
            if entry is None or entry.offer_id != offer.id:
                raise NotFound("no such entry in this draw")
            if entry.status == "entered":
                entry.status, entry.reason = "excluded", reason
            await session.commit()
            return {"entry_id": entry.id, "status": entry.status, "reason": entry.reason}

    async def close_now(self, host_id: int, slug: str, offer_id: int) -> dict[str, Any]:
        """The host closes the entries now and the draw runs (in a live show: "the draw is now")."""
        offer = await self.control.host_offer(host_id, slug, offer_id)
        if offer.mode != "draw":
            raise NotADraw()
        now = now_ms()
        async with self.sessions() as session:
            values: dict[str, Any] = {"ends_at": min(offer.ends_at, now)}
            if offer.beacon_round is not None:
                # The first round after the new close: still unknown to anyone now, as the first
                # after the old one was at creation.
                values["beacon_round"] = DrandBeacon.round_after(values["ends_at"])
            closed = await session.execute(
                update(Offer).where(Offer.id == offer.id, Offer.drawn_at.is_(None)).values(**values)
            )
            await session.commit()
            fresh = await session.get(Offer, offer.id)
        if closed.rowcount != 1 or fresh is None:
            raise AlreadyDrawn("this draw has already run")
        self.control.offers_changed()  # the clock (maybe elsewhere) draws it if this request does not
        await asyncio.sleep(DRAW_GRACE_MS / 1000)
        if not await self.draw(fresh, now_ms()):
            await self._until_drawn(offer.id)  # the offer clock's tick took it first: its result is ours
        figures = await self.figures(host_id, slug, offer_id)
        if offer.id in self.timings:
            figures["timings"] = self.timings.pop(offer.id)
        return figures

    async def _until_drawn(self, offer_id: int, timeout_s: float = 60.0) -> None:
        """Wait while another task draws the offer, up to ``timeout_s``: until it let go of the
        offer, so its losers' authorizations are voided and everyone told, as after our own draw."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and await self.hub.redis.exists(keys.drawing(offer_id)):
            await asyncio.sleep(0.05)

    async def figures(self, host_id: int, slug: str, offer_id: int) -> dict[str, Any]:
        """The panel: entries per size while open; winners and claims after the draw."""
        offer = await self.control.host_offer(host_id, slug, offer_id)
        if offer.mode != "draw":
            raise NotADraw()
        async with self.sessions() as session:
            rows = (await session.execute(
                select(DrawEntry.sku, DrawEntry.status, func.count()).where(DrawEntry.offer_id == offer.id)
                .group_by(DrawEntry.sku, DrawEntry.status)
            )).all()
            winners = list((await session.execute(
                select(DrawEntry).where(DrawEntry.offer_id == offer.id, DrawEntry.status.in_(("won", "claimed", "lapsed")))
                .order_by(DrawEntry.rank)
            )).scalars())
        per_size: Counter[str] = Counter()
        excluded = 0
        for sku, status, n in rows:
            if status == "excluded":
                excluded += n
            else:
                per_size[sku] += n
        return {
            "offer_id": offer.id, "state": offer.state, "drawn_at": offer.drawn_at, "excluded": excluded,
            "entries": dict(sorted(per_size.items())),
            "winners": [{"entry_id": w.id, "sku": w.sku, "rank": w.rank, "status": w.status, "hold_id": w.hold_id} for w in winners],
        }

    # -- the audit ---------------------------------------------------------------------------------

    async def slug_of(self, offer_id: int) -> str | None:
        """The show of a draw or queue offer, for the verify page (None: no such audited offer)."""
        async with self.sessions() as session:
            row = (await session.execute(
                select(Show.slug).join(Offer, Offer.show_id == Show.id).where(Offer.id == offer_id, Offer.mode.in_(("draw", "queue")))
            )).scalar_one_or_none()
        return row

    async def audit(self, slug: str, offer_id: int) -> dict[str, Any]:
        _, offer = await self._offer(slug, offer_id)
        drawn = offer.drawn_at is not None and offer.seed is not None and offer.entries_hash is not None
        async with self.sessions() as session:
            count = (await session.execute(select(func.count()).where(DrawEntry.offer_id == offer.id))).scalar_one()
            cached = self._ranked.get(offer.id) if drawn else None
            where: ColumnElement[bool] = DrawEntry.offer_id == offer.id
            if cached is not None and cached[0] == count:  # only the exclusions are read again
                where = where & (DrawEntry.status == "excluded")
            else:
                cached = None
            entries = (await session.execute(select(DrawEntry.id, DrawEntry.sku, DrawEntry.status, DrawEntry.reason).where(where))).all()
            logged = list((await session.execute(
                select(DrawLog).where(DrawLog.offer_id == offer.id).order_by(DrawLog.id)
            )).scalars())
        beacon_bytes = bytes.fromhex(offer.beacon_randomness) if offer.beacon_randomness else b""
        seed = draw_order.draw_seed(bytes.fromhex(offer.seed or ""), offer.entries_hash or "", beacon_bytes) if drawn else None
        if cached is not None:
            _, listed_json, rank_of = cached
        else:
            eligible = [(e.id, e.sku) for e in entries if e.status != "excluded"]
            rank_of = {}
            if seed is not None:
                order = await asyncio.to_thread(draw_order.ranked, seed, [entry_id for entry_id, _ in eligible])
                rank_of = {entry_id: n for n, entry_id in enumerate(order, start=1)}
            listed = sorted(eligible, key=lambda e: rank_of.get(e[0], 0)) if seed is not None else sorted(eligible)
            listed_json = [{"entry_id": entry_id, "sku": sku, "rank": rank_of.get(entry_id)} for entry_id, sku in listed]
            if seed is not None:
                self._remember_ranks(offer.id, count, listed_json, rank_of)
        winners = [row for row in logged if row.kind == "won"]
        # Each size's units as the draw gave them (a size's count of winners at the draw).
        units = Counter(row.sku for row in winners)
        return {
            "offer_id": offer.id,
            "algorithm": draw_order.ALGORITHM,
            "commitment": offer.commitment,
            "entries_open_at": offer.starts_at,
            "entries_close_at": offer.ends_at,
            "claim_minutes": offer.claim_minutes,
            "quantity": offer.quantity,
            "entries_hash": offer.entries_hash,
            "secret": offer.seed if drawn else None,
            "seed": seed.hex() if seed is not None else None,
            "beacon": None if offer.beacon_round is None else {
                "chain": offer.beacon_chain, "scheme": SCHEME, "round": offer.beacon_round,
                "signature": offer.beacon_signature, "randomness": offer.beacon_randomness,
            },
            "beacon_note": NO_BEACON if offer.beacon_round is None else BEACON_NOTE,
            "drawn_at": offer.drawn_at,
            "units": dict(sorted(units.items())) if drawn else None,
            "entries": listed_json,
            "excluded": sorted(({"entry_id": e.id, "reason": e.reason} for e in entries if e.status == "excluded"),
                               key=lambda x: x["entry_id"]),
            "winners": [{"entry_id": w.entry_id, "sku": w.sku, "rank": rank_of.get(w.entry_id)} for w in winners],
            "handovers": [{"from_entry_id": h.entry_id, "to_entry_id": h.to_entry_id, "sku": h.sku, "reason": h.reason,
                           "rank": rank_of.get(h.to_entry_id) if h.to_entry_id else None, "at": h.at}
                          for h in logged if h.kind == "handover"],
            "voids": [{"entry_id": v.entry_id, "sku": v.sku, "reason": v.reason, "at": v.at, "at_draw": v.at == offer.drawn_at}
                      for v in logged if v.kind == "void"],
        }

    def _remember_ranks(self, offer_id: int, count: int, listed: list[dict[str, Any]], rank_of: dict[str, int]) -> None:
        self._ranked.pop(offer_id, None)
        self._ranked[offer_id] = (count, listed, rank_of)
        while len(self._ranked) > 8:  # a few recent draws' worth of memory (100,000 entries: ~30 MB)
            del self._ranked[next(iter(self._ranked))]

    # -- the clock ---------------------------------------------------------------------------------

    async def tick(self, now: int, *, recheck: bool = True) -> None:
        """Draw every draw offer whose entries closed, then (once a second) settle winners' holds.

        ``recheck`` False (the offer clock: no offer changed since the last tick) trusts what the
        last look found: no SQL until the next known draw comes due, and no settling while there
        were no winners (none appear without a draw or a changed offer). Idle, a tick is free."""
        if recheck:
            self._settle_owed = True  # maybe winners (a draw elsewhere): the next settle says
        if recheck or now >= self._next_draw_at:
            async with self.sessions() as session:
                first = (await session.execute(_FIRST_UNDRAWN)).scalar()
            self._next_draw_at = NEVER if first is None else int(first) + DRAW_GRACE_MS
        due: list[Offer] = []
        if now >= self._next_draw_at:
            async with self.sessions() as session:
                due = list((await session.execute(
                    select(Offer).where(Offer.mode == "draw", Offer.drawn_at.is_(None), Offer.ends_at <= now - DRAW_GRACE_MS)
                )).scalars())
        for offer in due:
            await self.draw(offer, now)
        if due or ((self._settle_owed or self._winners) and time.monotonic() - self._settled_at >= SETTLE_EVERY_S):
            self._settled_at = time.monotonic()
            self._settle_owed = False
            await self.settle(now)

    def due_at(self) -> int:
        """ms: when the offer clock must tick next for the draws (NEVER: nothing known). While
        winners' claims are settled (once a second), or a draw is due or waits for its beacon, now;
        after offers changed, when the settle's second is over (winners may have been drawn elsewhere)."""
        if self._winners:
            return 0
        if self._settle_owed:  # a look at the winners, once the settle's second is over
            owed = now_ms() + int(max(0.0, SETTLE_EVERY_S - (time.monotonic() - self._settled_at)) * 1000)
            return min(owed, self._next_draw_at)
        return self._next_draw_at

    async def draw(self, offer: Offer, now: int) -> int:
        """Rank the frozen entries and give each size's units to its best-ranked entries; returns
        how many won. Idempotent until it commits: the seed depends only on the frozen list, and a
        winner's hold is keyed by its entry (a second run finds the same holds). One run at a time
        per offer, across processes (keys.drawing): another one under way answers 0 at once."""
        assert offer.seed is not None
        lock, token = keys.drawing(offer.id), secrets.token_hex(8)
        if not await self.hub.redis.set(lock, token, nx=True, px=DRAW_LOCK_MS):
            return 0
        try:
            self._winners = True  # settled from the next tick on, whether this process or another drew it
            return await self._draw(offer, now)
        finally:
            if await self.hub.redis.get(lock) == token:  # not ours once it expired and another took it
                await self.hub.redis.delete(lock)

    async def _draw(self, offer: Offer, now: int) -> int:
        assert offer.seed is not None
        started = time.perf_counter()
        beacon = b""
        if offer.beacon_round is not None:
            fetched = await self._beacon_of(offer, now)
            if fetched is None:
                return 0  # not published yet, or the relay did not answer: the next tick asks again
            offer.beacon_signature, offer.beacon_randomness = fetched.signature, fetched.randomness
            beacon = bytes.fromhex(fetched.randomness)
        if offer.giveaway:
            await self._exclude_not_watching(offer)
        async with self.sessions() as session:
            show = await session.get(Show, offer.show_id)
            product = await session.get(Product, offer.product_id)
        if show is None or product is None:
            return 0
        entries = await self.writer.read(offer.id)  # (id, sku, status): the winners' buyers are read for them alone
        read = time.perf_counter()
        # Columns and dicts built by map/zip, not per-row Python: at 100,000 entries the comprehensions
        # over the rows' attributes took ~0.3 s of the draw under load (py-spy).
        ids = list(map(_FIRST, entries))
        hashed = draw_order.entries_hash(ids)
        seed = draw_order.draw_seed(bytes.fromhex(offer.seed), hashed, beacon)
        excluded = {e[0] for e in entries if e[2] == "excluded"} if "excluded" in map(_THIRD, entries) else set()
        order = await asyncio.to_thread(draw_order.ranked, seed, [i for i in ids if i not in excluded] if excluded else ids)
        rank_of = dict(zip(order, range(1, len(order) + 1)))
        sku_of = dict(zip(ids, map(_SECOND, entries)))
        ranked_at = time.perf_counter()
        await self.hub.ensure_loaded(offer.product_id)
        units = await self.stock.available(offer.product_id)
        cap = await self.stock.offer_remaining(offer.product_id, offer.id) if offer.quantity is not None else None
        terms = self._terms(offer, show, product.currency)
        won: dict[str, Hold] = {}
        skipped: dict[str, str] = {}  # entry -> why it could not get its unit (logged as a void at the draw)
        while True:
            left = {sku: n - sum(1 for w in won.values() if w.sku == sku) for sku, n in units.items()}
            candidates = draw_order.winners((e for e in order if e not in won and e not in skipped), sku_of, left,
                                            None if cap is None else cap - len(won))
            if not candidates:
                break
            for at in range(0, len(candidates), HOLD_BATCH):
                batch = candidates[at:at + HOLD_BATCH]
                buyer_of = await self._buyers(batch)
                results = await asyncio.gather(*(self._hold_for(offer, e, sku_of[e], buyer_of.get(e), terms) for e in batch))
                for entry_id, result in zip(batch, results, strict=True):
                    if isinstance(result, Hold):
                        won[entry_id] = result
                    elif isinstance(result, SoldOut):  # the size has fewer units than counted: no more of it
                        units[sku_of[entry_id]] = sum(1 for w in won.values() if w.sku == sku_of[entry_id])
                    else:
                        skipped[entry_id] = result.code[:MAX_REASON]
        ranked_and_held = time.perf_counter()
        committed = await self._commit_draw(offer, show, product, hashed, now, won, skipped, rank_of, sku_of)
        if not committed:
            return 0
        self.control.offers_changed()  # winners to settle: the clock's process (maybe not this one) ticks for them
        # What the draw took (bench/draw.py reads it from POST .../draw): ranking and the winners'
        # holds (the beacon's fetch included), then writing it all and telling everyone.
        self.timings[offer.id] = {"entries": len(entries), "rank_and_holds_ms": round((ranked_and_held - started) * 1000, 1),
                                  "read_ms": round((read - started) * 1000, 1), "rank_ms": round((ranked_at - read) * 1000, 1),
                                  "holds_ms": round((ranked_and_held - ranked_at) * 1000, 1),
                                  "commit_ms": round((time.perf_counter() - ranked_and_held) * 1000, 1)}
        while len(self.timings) > 100:  # the clock's draws are never asked for: keep the last few
            del self.timings[next(iter(self.timings))]
        await self._drop_late(offer.id, set(ids))
        # The audit's ranked entries, from this draw's own ranking: its first reader (the verify
        # page just after the result) does not wait for 100,000 rows and HMACs again.
        self._remember_ranks(offer.id, len(entries), [{"entry_id": e, "sku": sku_of[e], "rank": n} for n, e in enumerate(order, start=1)],
                             rank_of)
        await self._void_losers(offer.id)
        log.info("draw offer=%s entries=%d winners=%d", offer.id, len(entries), len(won))
        await self.control.publish_offer(offer.show_id, offer, product)
        await self._publish_result(offer, won, rank_of)
        return len(won)

    async def _buyers(self, entry_ids: list[str]) -> dict[str, str | None]:
        """The buyers of a draw's winning entries (None: erased)."""
        async with self.sessions() as session:
            return dict((await session.execute(
                select(DrawEntry.id, DrawEntry.buyer_id).where(DrawEntry.id.in_(entry_ids))
            )).all())

    async def _exclude_not_watching(self, offer: Offer) -> None:
        """A giveaway's entrants must be watching when it closes: the others are excluded (reason
        not_watching) before the list is frozen, so the audit lists them with the host's voids."""
        async with self.sessions() as session:
            entered = (await session.execute(
                select(DrawEntry.id, DrawEntry.buyer_id).where(DrawEntry.offer_id == offer.id, DrawEntry.status == "entered")
            )).all()
        watching = await self.hub.watchers.watching(offer.show_id, [b for _, b in entered if b])
        away = [i for i, b in entered if b not in watching]
        if away:
            async with self.sessions() as session:
                await session.execute(
                    update(DrawEntry).where(DrawEntry.id.in_(away), DrawEntry.status == "entered")
                    .values(status="excluded", reason="not_watching")
                )
                await session.commit()

    async def _publish_result(self, offer: Offer, won: dict[str, Hold], rank_of: dict[str, int]) -> None:
        """The ``draw`` event: every screen shows the result at once (a giveaway names its winners
        by their display name; a draw gives counts only, each entrant asks for their own status)."""
        winners: list[DrawWinnerJson] = []
        for entry_id, hold in sorted(won.items(), key=lambda w: rank_of[w[0]]):
            winners.append({"entry_id": entry_id, "sku": hold.sku, "rank": rank_of[entry_id]})
        if offer.giveaway and won:
            async with self.sessions() as session:
                names = dict((await session.execute(
                    select(Buyer.id, Buyer.name).where(Buyer.id.in_([h.buyer_id for h in won.values()]))
                )).all())
            by_entry = {e: names.get(h.buyer_id) or "" for e, h in won.items()}
            for winner in winners:
                winner["name"] = by_entry.get(winner["entry_id"], "")
        fields: DrawEventFields = {
            "offer_id": offer.id, "giveaway": bool(offer.giveaway), "drawn_at": offer.drawn_at,
            "entries": len(rank_of), "winners": winners if offer.giveaway else [], "won": len(winners),
            "audit_url": f"/offers/{offer.id}/verify",
        }
        await self.hub.publish(offer.show_id, "draw", fields)

    async def _beacon_of(self, offer: Offer, now: int) -> BeaconRound | None:
        """The offer's drand round, verified; None until it can be had. A round whose signature
        does not verify is never used (logged as an error: the draw waits for an operator)."""
        assert offer.beacon_round is not None
        beacon = self.control.beacon or DrandBeacon(DEFAULT_BEACON_URL, offer.beacon_chain or QUICKNET_HASH)
        if now < beacon.published_at(offer.beacon_round) or now < self._beacon_retry.get(offer.id, 0):
            return None
        self._beacon_retry[offer.id] = now + BEACON_RETRY_MS
        try:
            return await beacon.fetch(offer.beacon_round)
        except BadBeacon as exc:
            log.error("draw offer=%s: %s; not drawn", offer.id, exc)
            return None

    def _terms(self, offer: Offer, show: Show, currency: str) -> SaleTerms:
        return SaleTerms(
            unit_price_cents=offer.price_cents, currency=currency, per_customer_limit=offer.per_customer_limit,
            hold_seconds=(offer.claim_minutes or 15) * 60, offer_id=offer.id, offer_quantity=offer.quantity,
            show_id=show.id, host_id=show.host_id,
        )

    async def _hold_for(self, offer: Offer, entry_id: str, sku: str, buyer_id: str | None, terms: SaleTerms) -> Hold | Refusal:
        if buyer_id is None:  # erased: nobody to give the unit to
            return InvalidRequest("", "erased")
        try:
            return await self.stock.hold(offer.product_id, sku, 1, buyer_id, f"draw:{entry_id}", terms)
        except Refusal as refusal:
            return refusal

    async def _commit_draw(
        self, offer: Offer, show: Show, product: Product, hashed: str, now: int, won: dict[str, Hold], skipped: dict[str, str],
        rank_of: dict[str, int], sku_of: dict[str, str],
    ) -> bool:
        async with self.sessions() as session:
            claimed = await session.execute(
                update(Offer).where(Offer.id == offer.id, Offer.drawn_at.is_(None))
                .values(drawn_at=now, entries_hash=hashed, state="ended", beacon_signature=offer.beacon_signature,
                        beacon_randomness=offer.beacon_randomness)
            )
            if claimed.rowcount != 1:
                await session.rollback()
                return False
            if won:
                await session.execute(
                    update(DrawEntry).execution_options(synchronize_session=False),
                    [{"id": e, "status": "won", "rank": rank_of[e], "hold_id": h.hold_id} for e, h in won.items()],
                )
            for entry_id, hold in sorted(won.items(), key=lambda w: rank_of[w[0]]):
                session.add(DrawLog(offer_id=offer.id, kind="won", entry_id=entry_id, sku=hold.sku, reason="drawn", at=now))
            for entry_id, reason in skipped.items():
                session.add(DrawLog(offer_id=offer.id, kind="void", entry_id=entry_id, sku=sku_of[entry_id], reason=reason, at=now))
            rows = (await session.execute(
                select(DrawEntry.id, DrawEntry.email, DrawEntry.sku, DrawEntry.locale).where(DrawEntry.offer_id == offer.id)
            )).all()
            labels = dict((await session.execute(
                select(Variant.sku, Variant.label).where(Variant.product_id == product.id)
            )).all())
            told: list[dict[str, Any]] = []  # one executemany: 100,000 ORM objects took seconds
            event_ids = iter(new_event_ids(len(rows)))
            for entry_id, email, sku, locale in rows:
                if not email:
                    continue
                payload = {"email": email, "product_title": product.title, "variant_label": labels.get(sku, sku),
                           "entry_id": entry_id, "url": f"/s/{show.slug}", "audit_url": f"/offers/{offer.id}/verify",
                           **({"locale": locale} if locale else {})}
                if entry_id in won:
                    announce(session, "draw.won", {**payload, "deadline": won[entry_id].expires_at}, host_id=show.host_id)
                elif rank_of.get(entry_id) is not None:
                    told.append({"id": next(event_ids), "kind": "draw.lost", "host_id": show.host_id, "payload": payload,
                                 "created_at": now, "dispatch_attempts": 0})
            if told:
                await session.execute(insert(OutboxEvent), told)
                mark_announced(session)  # rows added without ``announce``: the outbox worker is told all the same
            await session.commit()
        offer.drawn_at, offer.entries_hash, offer.state = now, hashed, "ended"
        return True

    async def _drop_late(self, offer_id: int, frozen: set[str]) -> None:
        """Entries written after the draw read the list (a request that stalled past the grace):
        they came after the close, so they are not in the draw; removed, their authorizations let go."""
        async with self.sessions() as session:
            count = (await session.execute(select(func.count()).where(DrawEntry.offer_id == offer_id))).scalar_one()
            if count == len(frozen):
                return
            rows = (await session.execute(select(DrawEntry.id, DrawEntry.charge_id).where(DrawEntry.offer_id == offer_id))).all()
            late = [(i, c) for i, c in rows if i not in frozen]
            await session.execute(delete(DrawEntry).where(DrawEntry.id.in_([i for i, _ in late])))
            await session.commit()
        log.warning("draw offer=%s: %d entries written after the close were dropped", offer_id, len(late))
        await self._void([c for _, c in late])

    async def _void_losers(self, offer_id: int) -> None:
        """Authorizations of entries that did not win are let go at the draw (a unit handed over
        later is paid by card at its claim)."""
        async with self.sessions() as session:
            charges = list((await session.execute(
                select(DrawEntry.charge_id).where(
                    DrawEntry.offer_id == offer_id, DrawEntry.charge_id.is_not(None), DrawEntry.status.in_(("entered", "excluded"))
                )
            )).scalars())
            await session.execute(
                # Only the rows with an authorization: without this an unauthorized draw's UPDATE
                # rewrote every one of its 100,000 rows to set a NULL that was already there.
                update(DrawEntry).where(DrawEntry.offer_id == offer_id, DrawEntry.charge_id.is_not(None),
                                        DrawEntry.status.in_(("entered", "excluded")))
                .values(charge_id=None)
            )
            await session.commit()
        await self._void(charges)

    async def _void(self, charges: list[str | None]) -> None:
        for at in range(0, len(charges), VOID_BATCH):
            results = await asyncio.gather(*(self.payments.void(c) for c in charges[at:at + VOID_BATCH] if c),
                                           return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    log.warning("draw: an authorization could not be voided: %r", result)

    async def settle(self, now: int) -> None:
        """Winners who paid are claimed; a winner whose hold is gone unpaid (expired at the claim
        deadline, or given up) lapses and the unit goes to the next-ranked entry of the size."""
        async with self.sessions() as session:
            winners = list((await session.execute(
                select(DrawEntry).where(DrawEntry.status == "won").order_by(DrawEntry.offer_id, DrawEntry.rank)
            )).scalars())
            self._winners = bool(winners)
            holds = [w.hold_id for w in winners if w.hold_id is not None]
            paid = set((await session.execute(
                select(Order.hold_id).where(Order.hold_id.in_(holds), Order.status.in_(SELLING))
            )).scalars()) if holds else set()
        for entry in winners:
            if entry.hold_id is None:
                continue
            if entry.hold_id in paid:
                await self._set_status(entry.id, "won", "claimed")
                continue
            hold = await self.stock.get_hold(entry.hold_id)
            if hold is not None:
                continue  # still held (or in checkout): the winner has time
            await self._hand_over(entry, now)

    async def _set_status(self, entry_id: str, was: str, status: str, **values: Any) -> bool:
        async with self.sessions() as session:
            done = await session.execute(
                update(DrawEntry).where(DrawEntry.id == entry_id, DrawEntry.status == was).values(status=status, **values)
            )
            await session.commit()
        return bool(done.rowcount == 1)

    async def _hand_over(self, lapsed: DrawEntry, now: int) -> None:
        async with self.sessions() as session:
            offer = await session.get(Offer, lapsed.offer_id)
            show = await session.get(Show, offer.show_id) if offer else None
            product = await session.get(Product, offer.product_id) if offer else None
            candidates = (await session.execute(
                select(DrawEntry.id, DrawEntry.buyer_id).where(
                    DrawEntry.offer_id == lapsed.offer_id, DrawEntry.sku == lapsed.sku, DrawEntry.status == "entered"
                )
            )).all()
        if offer is None or show is None or product is None or offer.seed is None or offer.entries_hash is None:
            return
        if lapsed.charge_id and await self._captured(lapsed.charge_id):
            # The claim captured the authorization and died before its order committed (and Redis
            # lost the hold meanwhile): not a lapse. Checkout's recovery finds the pending order
            # and makes it paid with this capture (inventory.checkout.recover_order).
            return
        if not await self._set_status(lapsed.id, "won", "lapsed", charge_id=None):
            return  # another settler got there first
        if lapsed.charge_id:
            await self._void([lapsed.charge_id])
        reason = "unclaimed" if offer.drawn_at is not None and now >= offer.drawn_at + (offer.claim_minutes or 15) * 60_000 else "released"
        seed = draw_order.draw_seed(bytes.fromhex(offer.seed), offer.entries_hash,
                                    bytes.fromhex(offer.beacon_randomness) if offer.beacon_randomness else b"")
        ranks: dict[str, int] = {}
        to: str | None = None
        hold: Hold | None = None
        if candidates:
            # Ranks among every eligible entry (the audit's), so the hand-over names the same rank.
            async with self.sessions() as session:
                eligible = list((await session.execute(
                    select(DrawEntry.id).where(DrawEntry.offer_id == offer.id, DrawEntry.status != "excluded")
                )).scalars())
            ranks = {e: n for n, e in enumerate(await asyncio.to_thread(draw_order.ranked, seed, eligible), start=1)}
            terms = self._terms(offer, show, product.currency)
            for entry_id, buyer_id in sorted(candidates, key=lambda c: ranks[c[0]]):
                result = await self._hold_for(offer, entry_id, lapsed.sku, buyer_id, terms)
                if isinstance(result, Hold):
                    to, hold = entry_id, result
                    break
                if isinstance(result, SoldOut):
                    break  # the unit is gone (sold elsewhere meanwhile): nothing to hand over
                await self._log(offer.id, "void", entry_id, None, lapsed.sku, result.code[:MAX_REASON], now)
                await self._set_status(entry_id, "entered", "lapsed")
        async with self.sessions() as session:
            session.add(DrawLog(offer_id=offer.id, kind="handover", entry_id=lapsed.id, to_entry_id=to, sku=lapsed.sku,
                                reason=reason, at=now))
            if to is not None and hold is not None:
                await session.execute(
                    update(DrawEntry).where(DrawEntry.id == to, DrawEntry.status == "entered")
                    .values(status="won", rank=ranks[to], hold_id=hold.hold_id, charge_id=None)
                )
                winner = await session.get(DrawEntry, to)
                if winner is not None and winner.email:
                    label = (await session.execute(
                        select(Variant.label).where(Variant.product_id == product.id, Variant.sku == lapsed.sku)
                    )).scalar_one_or_none()
                    announce(session, "draw.won", {
                        "email": winner.email, "product_title": product.title, "variant_label": label or lapsed.sku,
                        "entry_id": to, "url": f"/s/{show.slug}", "audit_url": f"/offers/{offer.id}/verify",
                        "deadline": hold.expires_at, **({"locale": winner.locale} if winner.locale else {}),
                    }, host_id=show.host_id)
            await session.commit()

    async def _captured(self, charge_id: str) -> bool:
        charge = await self.payments.get_charge(charge_id)
        return charge is not None and charge.paid

    async def _log(self, offer_id: int, kind: str, entry_id: str, to: str | None, sku: str, reason: str, at: int) -> None:
        async with self.sessions() as session:
            session.add(DrawLog(offer_id=offer_id, kind=kind, entry_id=entry_id, to_entry_id=to, sku=sku, reason=reason, at=at))
            await session.commit()
