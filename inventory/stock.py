"""Hot stock and holds in Redis: ``StockStore`` wraps the Lua scripts of ``inventory/lua``.

Every change of stock is one script (atomic, one round trip); Python never reads, computes and
writes back. Two things keep a drop cheap for one process:

* Pipelining: ``hold()`` calls made at about the same time (the same event-loop tick, or while
  the previous batch is in flight) go to Redis as one pipeline of EVALSHAs. One batch is in
  flight at a time, so under load batches grow instead of connections.
* A local sold-out flag: once a SKU answers ``sold_out`` it answers so locally for
  ``sold_out_ttl`` seconds without a round trip, or until the product's version counter is seen
  to move (a release, expiry or restock) and the size has units again, whichever comes first.

Time: every script gets ``now`` from ``clock`` (milliseconds), never Redis TIME, so tests control it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from inventory import keys, redis_replies
from inventory.clock import now_ms
from inventory.errors import (
    HoldExpired,
    HoldLocked,
    IdempotencyConflict,
    InsufficientStock,
    InvalidRequest,
    LimitReached,
    NotFound,
    Oversold,
    RateLimited,
    Refusal,
    SoldOut,
    StockNotLoaded,
    UnknownSku,
    Unavailable,
)
from inventory.redis_cluster import ClusterLane, is_cluster
from inventory.redis_lane import Lane, RedisLane, resp_items
from inventory.scripts import SCRIPTS

log = logging.getLogger(__name__)

MAX_QUANTITY = 1000  # per hold; larger asks are malformed rather than "over the limit"
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
SOLD_RETENTION_MS = 3600 * 1000  # sold records stay this long so reconcile can match them to SQL
# The buyer's record of a product (keys.buyer_record) keeps both the index of their holds and
# their idempotency answers, so it lives as long as the longer of the two: the same day.
BUYER_INDEX_TTL_MS = IDEMPOTENCY_TTL_MS
# The fields hold.lua packs into a new hold's one field 'r', in order (common.lua's load_record).
PACKED_HOLD_FIELDS = ("b", "sku", "q", "p", "c", "o", "sh", "ho", "x", "lim", "t")

_ERRORS = {
    "sold_out": SoldOut,
    "limit_reached": LimitReached,
    "unknown_sku": UnknownSku,
    "not_on_sale": StockNotLoaded,
    "idempotency_conflict": IdempotencyConflict,
    "hold_expired": HoldExpired,
    "not_found": NotFound,
    "hold_locked": HoldLocked,
}


class HoldJson(TypedDict):
    """A hold on the wire (POST /api/shows/{slug}/holds answers it)."""

    hold_id: str
    sku: str
    quantity: int
    price_cents: int
    currency: str
    offer_id: int | None
    expires_at: int
    remaining: int | None


@dataclass(frozen=True)
class SaleTerms:
    """What a hold is sold at. The hub builds it from the pinned product or the live offer."""

    unit_price_cents: int
    currency: str
    per_customer_limit: int = 1  # units per buyer (and per email) per product, across sizes
    hold_seconds: int = 300
    offer_id: int | None = None
    # The offer's cap (units at the offer price across sizes; None: every unit). Used the first
    # time Redis sees the offer if open_offer() was not called, e.g. after Redis was emptied.
    offer_quantity: int | None = None
    show_id: int | None = None  # the sales channel; stored on the hold and copied to the order
    host_id: int | None = None


@dataclass(slots=True)
class Hold:
    hold_id: str
    product_id: int
    buyer_id: str
    sku: str
    quantity: int
    unit_price_cents: int
    currency: str
    offer_id: int | None
    expires_at: int
    show_id: int | None = None
    host_id: int | None = None
    state: str = "held"  # held | locked (in checkout) | sold
    per_customer_limit: int = 1
    remaining: int | None = None  # units of the SKU left right after the hold (hold() only)
    replayed: bool = False  # hold(): True when an earlier call with the same key made it
    attempt: int = 0  # payment attempts declined so far; part of the charge's idempotency key
    email: str | None = None  # set while locked / once sold
    details: dict[str, Any] | None = None  # checkout details, stored while locked (recovery)
    lock_deadline: int | None = None

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity

    def to_json(self) -> HoldJson:
        """The hold as the HTTP API returns it (CONTRACT.md, POST /api/shows/{slug}/holds)."""
        return {
            "hold_id": self.hold_id,
            "sku": self.sku,
            "quantity": self.quantity,
            "price_cents": self.unit_price_cents,
            "currency": self.currency,
            "offer_id": self.offer_id,
            "expires_at": self.expires_at,
            "remaining": self.remaining,
        }

    @classmethod
    def from_record(cls, hold_id: str, rec: Mapping[str, str]) -> Hold:
        packed = rec.get("r")
        if packed is not None:  # a hold.lua record: see common.lua's load_record
            rec = {**dict(zip(PACKED_HOLD_FIELDS, packed.split("\x1e"))), **rec}
        details = rec.get("det") or ""
        return cls(
            hold_id=hold_id,
            product_id=keys.product_of_hold(hold_id),
            buyer_id=rec.get("b", ""),
            sku=rec.get("sku", ""),
            quantity=int(rec.get("q", 0)),
            unit_price_cents=int(rec.get("p") or 0),
            currency=rec.get("c", ""),
            offer_id=_opt_int(rec.get("o")),
            expires_at=int(rec.get("x") or 0),
            show_id=_opt_int(rec.get("sh")),
            host_id=_opt_int(rec.get("ho")),
            state=rec.get("st", "held"),
            per_customer_limit=int(rec.get("lim") or 0),
            attempt=int(rec.get("att") or 0),
            email=rec.get("em") or None,
            details=json.loads(details) if details else None,
            lock_deadline=_opt_int(rec.get("ld")) or None,
        )


@dataclass(frozen=True)
class SkuCounts:
    loaded: int
    available: int
    held: int
    sold: int


@dataclass
class SweepResult:
    units_returned: int = 0
    # Holds that may have a charge behind them (locked past their lock deadline, or once in
    # checkout and now expired): Checkout.recover() decides their fate.
    to_recover: list[str] = field(default_factory=list)


@dataclass
class ReconcileInput:
    """What reconcile needs from SQL for one product (read in one statement, see reconcile.py)."""

    loaded: dict[str, int]  # sku -> Variant.stock
    sold: dict[str, int]  # sku -> units in paid orders
    recent_orders: list[tuple[str, str, int, str, str, int | None]]  # hold, sku, qty, buyer, email, offer
    buyers: dict[str, int]  # buyer -> units in paid orders
    emails: dict[str, int]
    offers: dict[int, int]
    # refund:<order>:<n> of the restocks this read counts (read after the lines: see reconcile.py)
    restocked: list[str] = field(default_factory=list)


# Product scripts after which the units on sale may have moved (sweep says itself: only when it
# returned units). commit moves held -> sold, forfeit drops a hold, lock / unlock touch one hold: available is
# the same.
_MOVES_STOCK = frozenset({"release", "abandon", "load", "restock", "unsell", "reconcile"})

class StockStore:
    """Stock, holds and their life cycle in Redis. One per process; ``redis`` must be a
    ``redis.asyncio.Redis`` with ``decode_responses=True``."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        clock: Callable[[], int] = now_ms,
        sold_out_ttl: float = 0.5,
        max_batch: int = 1000,
        sold_retention_ms: int = SOLD_RETENTION_MS,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.sold_out_ttl = sold_out_ttl
        self.sold_retention_ms = sold_retention_ms
        # The hold script goes through the lane (hiredis, one connection per server, one write
        # per tick); a TLS client has no lane and uses redis-py's pipeline instead (a cluster's
        # refuses EVALSHA: there each hold is its own call).
        self._cluster = is_cluster(redis)
        self._lane: Lane | None = ClusterLane.for_cluster(redis) if self._cluster else RedisLane.for_client(redis)  # type: ignore[arg-type]
        self._pipeliner = _Pipeliner(redis, max_batch)
        self._loading: dict[str, asyncio.Future[None]] = {}
        # (product, sku) -> monotonic deadline of the local sold-out answer
        self._sold_out: dict[tuple[int, str], float] = {}
        # Called with a product id after a script here may have moved its available units (a
        # hold, release, expiry, restock, refund, load): live's stock feed pushes the change
        # instead of polling for it (live.stock_signal). Synchronous; None: nobody listens.
        self.on_change: Callable[[int], None] | None = None
        self._versions: dict[int, int] = {}
        # Successful holds made here, so a replayed Idempotency-Key is not answered by the local
        # sold-out flag. Bounded; a replay landing on another process goes to Redis anyway once
        # the (short) flag is gone.
        self._recent: OrderedDict[tuple[int, str, str], tuple[str, Hold]] = OrderedDict()
        self._sales: dict[tuple[int, int, tuple[int, int] | None], _HoldSale] = {}
        # Set while Redis is not (yet) known to be the server stock was rebuilt against
        # (inventory.epochs): a hold there could take a unit that SQL already sold.
        self.holds_suspended = False
    @property
    def lane(self) -> Lane | None:
        """The hold lane, for other calls a drop makes by the thousand on the same server (the
        waiting room's join): their commands share its writes, and its connections' epoch check.
        None without one (TLS)."""
        return self._lane

    def check_lane_connections(self, on_connect: Callable[[str], None]) -> None:
        """Have the hold lane call ``on_connect`` with INFO server on each connection it opens
        (inventory.epochs); raising refuses the connection."""
        if self._lane is not None:
            self._lane.on_connect = on_connect

    def suspend_holds(self) -> None:
        self.holds_suspended = True

    def resume_holds(self) -> None:
        self.holds_suspended = False
        self._sold_out.clear()  # flags set on the old server say nothing of the new one

    # -- holds -----------------------------------------------------------------------------------

    async def hold(
        self,
        product_id: int,
        sku: str,
        quantity: int,
        buyer_id: str,
        idempotency_key: str | None,
        terms: SaleTerms,
        rate_limit: tuple[int, int] | None = None,
    ) -> Hold:
        """Hold ``quantity`` units of ``sku`` for ``buyer_id``. Returns the Hold (``replayed`` when
        the same key and body were seen before: the first answer again). ``rate_limit`` is
        (presses allowed, window in ms) per buyer and product, counted in the same script.
        Raises SoldOut, LimitReached, UnknownSku, StockNotLoaded, IdempotencyConflict,
        InvalidRequest, RateLimited, Unavailable (Redis is being checked, see inventory.epochs)."""
        result = self.answer_at_hand(product_id, sku, quantity, buyer_id, idempotency_key)
        if result is None:
            result = await self.hold_in_redis(product_id, sku, quantity, buyer_id, idempotency_key, terms, rate_limit)
        if isinstance(result, Refusal):
            raise result
        return result

    async def hold_in_redis(
        self,
        product_id: int,
        sku: str,
        quantity: int,
        buyer_id: str,
        idempotency_key: str | None,
        terms: SaleTerms,
        rate_limit: tuple[int, int] | None = None,
    ) -> Hold | Refusal:
        """The hold script's answer to a press ``answer_at_hand`` had no answer for (it checked
        the input too: call it first, once per press)."""
        if self.holds_suspended:
            return Unavailable()
        fingerprint = f"{sku}\x1f{quantity}"
        recent_key = (product_id, buyer_id, idempotency_key or "")
        sale = self._sale_arguments(product_id, terms, rate_limit)
        hold_id, now = keys.new_hold_id(product_id), self.clock()
        press = (hold_id, buyer_id, sku, quantity, now, now + sale.hold_ms, now + sale.rate_window_ms,
                 "i:" + idempotency_key if idempotency_key else "")
        reply = await self._pipelined(sale, press)
        if isinstance(reply, int):  # a new hold: the script answers only the units left
            if self.on_change is not None:
                self.on_change(product_id)
            result = Hold(hold_id, product_id, buyer_id, sku, quantity, terms.unit_price_cents, terms.currency,
                          terms.offer_id, now + terms.hold_seconds * 1000, terms.show_id, terms.host_id,
                          per_customer_limit=terms.per_customer_limit, remaining=reply)
        elif reply[0] == 0:
            code = reply[1]
            if code == "sold_out" and reply[3] == "stock":
                self._sold_out[(product_id, sku)] = time.monotonic() + self.sold_out_ttl
            if code == "rate_limited":
                return RateLimited(retry_after_ms=max(1, int(reply[2])))
            if code == "insufficient_stock":
                return InsufficientStock(int(reply[2]))
            return _ERRORS[code]()
        else:  # the answer stored under this Idempotency-Key when the hold was made
            _, hid, r_sku, q, price, cur, oid, exp, rem, show, host = reply
            result = Hold(
                hold_id=hid,
                product_id=int(product_id),
                buyer_id=buyer_id,
                sku=r_sku,
                quantity=int(q),
                unit_price_cents=int(price),
                currency=cur,
                offer_id=_opt_int(oid),
                expires_at=int(exp),
                show_id=_opt_int(show),
                host_id=_opt_int(host),
                per_customer_limit=int(terms.per_customer_limit),
                remaining=int(rem),
                replayed=True,
            )
        if idempotency_key:
            self._remember(recent_key, fingerprint, result)
        return result

    async def release(self, hold_id: str, buyer_id: str) -> int:
        """The buyer cancels: the units go back to stock (exactly once). Returns units of the SKU
        available now. Raises NotFound (unknown, someone else's, or sold) or HoldLocked."""
        product_id = _product(hold_id)
        reply = await self._script("release", product_id, [hold_id, buyer_id])
        if reply[0] == 0:
            raise _ERRORS[reply[1]]()
        self._clear_sold_out(product_id)
        return int(reply[2])

    async def get_hold(self, hold_id: str) -> Hold | None:
        """The hold in any state (held, locked, sold while its record is kept), or None."""
        try:
            product_id = keys.product_of_hold(hold_id)
        except ValueError:
            return None
        rec = await redis_replies.hgetall(self.redis, keys.hold(product_id, hold_id))
        return Hold.from_record(hold_id, rec) if rec else None

    async def live_holds_for_buyer(self, buyer_id: str) -> list[Hold]:
        """The buyer's holds that still hold units (held and not expired, or in checkout).
        The index is per product (it lives with the product's keys, written by the hold script),
        so this reads it for every product on sale: one pipelined round trip, then one more."""
        product_ids = sorted(int(p) for p in await self.redis.smembers(keys.PRODUCTS))
        if not product_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for product_id in product_ids:
            pipe.hkeys(keys.buyer_record(product_id, buyer_id))
        ids = sorted(field[2:] for fields in await pipe.execute() for field in fields if field.startswith("h:"))
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for hid in ids:
            pipe.hgetall(keys.hold(keys.product_of_hold(hid), hid))
        records = await pipe.execute()
        now = self.clock()
        live, stale = [], []
        for hid, rec in zip(ids, records):
            hold = Hold.from_record(hid, rec) if rec else None
            if hold is None or hold.state == "sold":
                stale.append(hid)
            elif hold.state == "locked" or hold.expires_at > now:
                live.append(hold)
        if stale:
            pipe = self.redis.pipeline(transaction=False)
            for hid in stale:
                pipe.hdel(keys.buyer_record(keys.product_of_hold(hid), buyer_id), "h:" + hid)
            await pipe.execute()
        return sorted(live, key=lambda h: h.expires_at)

    # -- checkout steps (used by inventory.checkout) ------------------------------------------------

    async def lock(self, hold_id: str, buyer_id: str, email: str, details: Mapping[str, Any], deadline_ms: int) -> Hold:
        """Lock the hold for checkout until ``deadline_ms`` and reserve it against ``email``.
        Returns the Hold (state 'locked', or 'sold' if it was already sold). Raises HoldExpired,
        NotFound, HoldLocked (in checkout with another email), LimitReached (per email)."""
        product_id = _product(hold_id)
        reply = await self._script(
            "lock", product_id, [hold_id, buyer_id, self.clock(), deadline_ms, email, json.dumps(dict(details))]
        )
        if reply[0] == 0:
            raise _ERRORS[reply[1]]()
        return Hold.from_record(hold_id, _pairs(reply[1]))

    async def unlock(self, hold_id: str, attempt: int) -> bool:
        """Payment declined: back to 'held' (original expiry), next attempt number."""
        reply = await self._script("unlock", _product(hold_id), [hold_id, attempt])
        return reply[0] == 1

    async def commit(
        self, hold_id: str, *, sku: str, quantity: int, buyer_id: str, email: str, offer_id: int | None
    ) -> str:
        """The order is in SQL: mark the units sold. Returns 'committed', 'already' or 'taken' (the
        hold was gone; units taken from stock). Raises Oversold when no unit is left to take."""
        product_id = _product(hold_id)
        args = [hold_id, self.clock(), self.sold_retention_ms, sku, quantity, buyer_id, email, "" if offer_id is None else offer_id]
        reply = await self._script("commit", product_id, args)
        if reply[0] == 0:
            raise Oversold()
        return str(reply[1])

    async def forfeit(self, hold_id: str) -> bool:
        """SQL refused the hold's order (its size was sold out after all): drop the hold without
        giving its units back (see forfeit.lua). Reconcile the product after this. False when
        the hold is gone or sold."""
        product_id = _product(hold_id)
        reply = await self._script("forfeit", product_id, [hold_id])
        return bool(reply[0])

    async def abandon(self, hold_id: str) -> str:
        """Recovery found neither order nor charge: unlock, or release if expired. Returns
        'released', 'unlocked', 'gone' or 'sold'."""
        product_id = _product(hold_id)
        reply = await self._script("abandon", product_id, [hold_id, self.clock()])
        if reply[1] == "released":
            self._clear_sold_out(product_id)
        return str(reply[1])

    async def sweep(self, product_ids: Iterable[int] | None = None, *, batch: int = 100, lease_ms: int = 60_000) -> SweepResult:
        """Return the units of expired holds, ``batch`` holds per script call. Safe to run in
        several processes at once. Holds that need a look at payments come back in
        ``to_recover`` (their due time moved ``lease_ms`` on, so a racing sweeper skips them)."""
        if product_ids is None:
            product_ids = sorted(int(p) for p in await self.redis.smembers(keys.PRODUCTS))
        result = SweepResult()
        for product_id in await self._with_holds_due(list(product_ids)):
            while True:
                looked, units, recover = await self._script("sweep", product_id, [self.clock(), batch, lease_ms])
                result.units_returned += int(units)
                result.to_recover.extend(recover)
                if int(units):
                    self._clear_sold_out(product_id)
                    if self.on_change is not None:
                        self.on_change(product_id)
                if int(looked) < batch:
                    break
        return result

    async def _with_holds_due(self, product_ids: list[int]) -> list[int]:
        """The products whose due set (the hold script's ``due``: expiry, lock deadline or
        recovery lease per hold) has an entry due now: one pipelined round trip for all of them,
        read-only, so that an idle sweep runs no script. It ran the sweep script for every
        product every second: a round trip per product, idle (docs/fanout-bench.md, "Idle")."""
        if not product_ids:
            return []
        now = self.clock()
        pipe = self.redis.pipeline(transaction=False)
        for product_id in product_ids:
            pipe.zrangebyscore(keys.prefix(product_id) + "due", "-inf", now, start=0, num=1)
        return [p for p, first in zip(product_ids, await pipe.execute(), strict=True) if first]

    # -- stock -------------------------------------------------------------------------------------

    async def load(self, product_id: int, stock: Mapping[str, int]) -> int:
        """Put SKUs on sale with their units loaded; SKUs already loaded are left alone (loading
        twice never doubles stock). Returns how many SKUs were newly loaded. After Redis lost
        data, use Checkout.reconcile (it reads SQL) instead."""
        args: list[Any] = []
        for sku, units in stock.items():
            args += [sku, int(units)]
        n = int(await self._script("load", product_id, args))
        await self.redis.sadd(keys.PRODUCTS, int(product_id))
        return n

    async def restock(self, product_id: int, sku: str, loaded_total: int) -> int:
        """Set the SKU's units loaded to ``loaded_total`` (the new Variant.stock; absolute so a
        retry cannot add twice). Returns units available now."""
        _, available = await self._script("restock", product_id, [sku, int(loaded_total)])
        await self.redis.sadd(keys.PRODUCTS, int(product_id))
        self._clear_sold_out(product_id)
        return int(available)

    async def unsell(
        self, marker: str, product_id: int, *, sku: str, quantity: int, buyer_id: str, email: str, offer_id: int | None,
    ) -> str:
        """A refund with restock: the units go back on sale (sold -> available), once per
        ``marker`` (``refund:<order id>:<n>``). SQL's ``variants.sold`` moved first. Returns
        'restocked', 'not_loaded' (the coming reconcile counts them from SQL) or 'already'."""
        reply = await self._script(
            "unsell", product_id, [marker, sku, int(quantity), buyer_id, email, "" if offer_id is None else int(offer_id)],
        )
        self._clear_sold_out(product_id)
        return str(reply[1])

    async def open_offer(self, product_id: int, offer_id: int, quantity: int | None) -> None:
        """Set an offer's cap: units at the offer price across sizes (None: every unit).
        Idempotent; holds naming the offer are refused as sold_out once the cap is used."""
        await self.redis.hset(keys.prefix(product_id) + "offer_used", f"c:{int(offer_id)}", -1 if quantity is None else int(quantity))
        if self.on_change is not None:
            self.on_change(product_id)

    async def offer_remaining(self, product_id: int, offer_id: int) -> int | None:
        """Units that can really be sold at the offer price: what is left of its cap (held and
        sold ones count as used) or of the product's stock, whichever is lower. None: no cap."""
        p = keys.prefix(product_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(p + "offer_used", f"c:{int(offer_id)}", str(int(offer_id)))
        pipe.hvals(p + "avail")
        (cap, used), available = await pipe.execute()
        if cap is None or int(cap) < 0:
            return None
        return max(0, min(int(cap) - int(used or 0), sum(int(units) for units in available)))

    async def available(self, product_id: int) -> dict[str, int]:
        """sku -> units available to hold right now."""
        raw = await redis_replies.hgetall(self.redis, keys.prefix(product_id) + "avail")
        return {sku: int(v) for sku, v in raw.items()}

    async def available_many(self, product_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        ids = list(product_ids)
        pipe = self.redis.pipeline(transaction=False)
        for product_id in ids:
            pipe.hgetall(keys.prefix(product_id) + "avail")
        raws = await pipe.execute()
        return {pid: {sku: int(v) for sku, v in raw.items()} for pid, raw in zip(ids, raws)}

    async def versions(self, product_ids: Iterable[int]) -> dict[int, int]:
        """product -> stock version. The hub polls this (one pipelined GET per product) and reads
        ``available`` only for products whose version moved. 0: never loaded."""
        ids = list(product_ids)
        pipe = self.redis.pipeline(transaction=False)
        for product_id in ids:
            pipe.get(keys.version(product_id))
        values = await pipe.execute()
        seen = {pid: int(v or 0) for pid, v in zip(ids, values)}
        moved = set()
        for pid, version in seen.items():
            if self._versions.get(pid) != version:
                self._versions[pid] = version
                moved.add(pid)
        flagged = [key for key in self._sold_out if key[0] in moved]
        if flagged:
            await self._recheck_sold_out(flagged)
        return seen

    async def _recheck_sold_out(self, flagged: list[tuple[int, str]]) -> None:
        """The version is the product's, and a sneaker's sizes are one product: a hold on size 43
        moves it as much as a release of size 42. Clearing every flag of the product on a move
        sent 0.57-0.83 of the presses on a sold-out size back to Redis while another size sold
        (normally 0.008). Instead, a moved product's flagged sizes are read (one HMGET) and only
        those with units again lose their flag; the others keep it until it lapses."""
        by_product: dict[int, list[str]] = {}
        for pid, sku in flagged:
            by_product.setdefault(pid, []).append(sku)
        pipe = self.redis.pipeline(transaction=False)
        for pid, skus in by_product.items():
            pipe.hmget(keys.prefix(pid) + "avail", skus)
        for (pid, skus), units in zip(by_product.items(), await pipe.execute()):
            for sku, left in zip(skus, units):
                if left is None or int(left) > 0:
                    self._sold_out.pop((pid, sku), None)

    async def counts(self, product_id: int) -> dict[str, SkuCounts]:
        """sku -> loaded / available / held / sold, for operators and tests."""
        p = keys.prefix(product_id)
        pipe = self.redis.pipeline(transaction=False)
        for name in ("loaded", "avail", "sold"):
            pipe.hgetall(p + name)
        loaded, avail, sold = await pipe.execute()
        skus = set(loaded) | set(avail) | set(sold)
        # Units in live holds are what is neither available nor sold: the scripts keep no 'held'
        # counter (it cost every hold one write).
        return {
            s: SkuCounts(int(loaded.get(s, 0)), int(avail.get(s, 0)),
                         int(loaded.get(s, 0)) - int(avail.get(s, 0)) - int(sold.get(s, 0)), int(sold.get(s, 0)))
            for s in sorted(skus)
        }

    # -- reconcile (the SQL side is inventory.reconcile) -------------------------------------------

    async def claim_load(self, product_id: int, ttl_ms: int = 15_000) -> bool:
        """One loader at a time per product (across processes); the claim lapses if its holder dies."""
        return bool(await self.redis.set(keys.prefix(product_id) + "loading", "1", nx=True, px=ttl_ms))

    async def release_load(self, product_id: int) -> None:
        await self.redis.delete(keys.prefix(product_id) + "loading")

    async def is_loaded(self, product_id: int) -> bool:
        return bool(await self.redis.exists(keys.prefix(product_id) + "loaded"))

    async def needs_reconcile(self) -> bool:
        """True when Redis has no reconcile mark: it is new or came back empty."""
        return not await self.redis.exists(keys.EPOCH)

    @staticmethod
    def new_epoch_token() -> str:
        return secrets.token_hex(16)

    async def mark_reconciled(self, token: str | None = None) -> None:
        """Every product was rebuilt from SQL: leave the epoch token (see inventory.epochs)."""
        await self.redis.set(keys.EPOCH, token or self.new_epoch_token())

    async def begin_reconcile(self, product_id: int) -> str:
        """Set the fence before SQL is read (see reconcile.lua)."""
        token = secrets.token_hex(8)
        await self.redis.set(keys.prefix(product_id) + "recon", token, px=300_000)
        return token

    async def finish_reconcile(self, product_id: int, token: str, data: ReconcileInput) -> bool:
        """Rebuild the product's counters; False when fenced (Redis emptied or another reconcile
        started since begin_reconcile): read SQL again and retry."""
        args: list[Any] = [token, self.clock(), self.sold_retention_ms, len(data.loaded)]
        for sku, units in data.loaded.items():
            args += [sku, int(units), int(data.sold.get(sku, 0))]
        args.append(len(data.recent_orders))
        for hold_id, sku, qty, buyer, email, offer in data.recent_orders:
            args += [hold_id, sku, int(qty), buyer, email, "" if offer is None else int(offer)]
        for mapping in (data.buyers, data.emails, data.offers):
            args.append(len(mapping))
            for k, v in mapping.items():
                args += [k, int(v)]
        args += [len(data.restocked), *data.restocked]
        reply = await self._script("reconcile", product_id, args)
        if reply[0] == 0:
            return False
        await self.redis.sadd(keys.PRODUCTS, int(product_id))
        self._clear_sold_out(product_id)
        return True

    # -- plumbing ----------------------------------------------------------------------------------

    async def _script(self, name: str, product_id: int, args: list[Any]) -> Any:
        reply = await SCRIPTS[name].call(self.redis, [keys.version(product_id)], [keys.prefix(product_id), *args])
        if name in _MOVES_STOCK and self.on_change is not None:
            self.on_change(product_id)
        return reply

    def _sale_arguments(self, product_id: int, terms: SaleTerms, rate_limit: tuple[int, int] | None) -> _HoldSale:
        """The hold script's arguments that are the same for every press on one sale, built and
        packed once per (product, terms, rate limit) rather than per press."""
        cache_key = (product_id, id(terms), rate_limit)
        sale = self._sales.get(cache_key)
        if sale is not None and sale.terms is terms:
            return sale
        if len(self._sales) >= 1000:
            self._sales.clear()
        sale = self._sales[cache_key] = _HoldSale.of(product_id, terms, rate_limit)
        return sale

    async def _pipelined(self, sale: _HoldSale, press: tuple[Any, ...]) -> Any:
        """The hold script, sent with whatever else is submitted at about the same time."""
        try:
            return await self._send(sale, press)
        except NoScriptError:
            # A whole batch hears NOSCRIPT at once: load the script once, not once per caller.
            script = SCRIPTS["hold"]
            loading = self._loading.get(script.name)
            if loading is None or loading.done():
                loading = self._loading[script.name] = asyncio.ensure_future(script.load(self.redis))
            await asyncio.shield(loading)
            return await self._send(sale, press)

    def _send(self, sale: _HoldSale, press: tuple[Any, ...]) -> Awaitable[Any]:
        if self._lane is not None:
            # A press with an Idempotency-Key (its last argument) is safe to send again when the
            # lane's connection breaks after writing it: hold.lua answers a repeat with the first hold.
            return self._lane.send(sale.packed + resp_items(press), idempotent=press[-1] != "", key=sale.version_key)
        script = SCRIPTS["hold"]
        if self._cluster:
            return script.call(self.redis, list(sale.keys), [*sale.arguments, *press])

        def add(pipe: Any) -> None:
            pipe.evalsha(script.sha, len(sale.keys), *sale.keys, *sale.arguments, *press)

        return self._pipeliner.submit(add)

    def close(self) -> None:
        """Close the hold lane's connection (redis-py's client is closed by its owner)."""
        if self._lane is not None:
            self._lane.close()

    def answer_at_hand(
        self, product_id: int, sku: str, quantity: int, buyer_id: str, idempotency_key: str | None
    ) -> Hold | Refusal | None:
        """The answer to a press that this process has without Redis: the input's refusal if it
        is malformed; while the SKU is flagged sold out, the hold this buyer made earlier under
        the same Idempotency-Key (or the conflict, if the body differs), else ``sold_out``.
        None: ask Redis (``hold_in_redis``). Not a coroutine: in a drop this is most answers."""
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            return InvalidRequest("quantity", f"must be a whole number from 1 to {MAX_QUANTITY}")
        if not isinstance(sku, str) or not sku or len(sku) > 64:
            return UnknownSku()
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
            return InvalidRequest("Idempotency-Key", "must be 1 to 255 characters")
        if not self._locally_sold_out(product_id, sku):
            return None
        mine = self._recent.get((product_id, buyer_id, idempotency_key)) if idempotency_key else None
        if mine is None:
            return SoldOut()
        if mine[0] != f"{sku}\x1f{quantity}":
            return IdempotencyConflict()
        return _replay(mine[1])

    def _locally_sold_out(self, product_id: int, sku: str) -> bool:
        flag = self._sold_out.get((product_id, sku))
        if flag is None:
            return False
        if time.monotonic() >= flag:
            del self._sold_out[(product_id, sku)]
            return False
        return True

    def _clear_sold_out(self, product_id: int) -> None:
        for key in [k for k in self._sold_out if k[0] == product_id]:
            del self._sold_out[key]

    def _remember(self, key: tuple[int, str, str], fingerprint: str, hold: Hold) -> None:
        # Keys are unique per press, so insertion order is age order: no move_to_end needed.
        self._recent[key] = (fingerprint, hold)
        if len(self._recent) > 10_000:
            self._recent.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _HoldSale:
    """The fixed part of a hold script call for one sale: its arguments, and the same already
    packed as RESP from EVALSHA up to the first per-press argument (the lane's fast path)."""

    terms: SaleTerms  # kept, so that the id() the cache is keyed by cannot be reused meanwhile
    version_key: str
    keys: tuple[str, ...]  # the version key, then avail, buyers, offer_used, due (hold.lua's KEYS)
    arguments: tuple[Any, ...]
    packed: bytes
    hold_ms: int  # a press sends its expiry and its rate window's end, not the sale's durations
    rate_window_ms: int

    # hold_id, buyer, sku, quantity, now, expires, rate window end, 'i:' + idempotency key (last:
    # the lane resends a press that has one)
    PRESS_ARGUMENTS = 8

    @classmethod
    def of(cls, product_id: int, terms: SaleTerms, rate_limit: tuple[int, int] | None) -> _HoldSale:
        # The record's fields that are the sale's, in PACKED_HOLD_FIELDS order (p, c, o, sh, ho),
        # joined once here: one argument instead of five on every press (~830 instructions each).
        record_part = "\x1e".join(
            str(value) for value in (int(terms.unit_price_cents), terms.currency, _opt_text(terms.offer_id),
                                     _opt_text(terms.show_id), _opt_text(terms.host_id))
        )
        arguments = (
            keys.prefix(product_id),
            record_part,
            _opt_text(terms.offer_id),
            -1 if terms.offer_quantity is None else int(terms.offer_quantity),
            "" if terms.offer_id is None else f"c:{int(terms.offer_id)}",  # the cap's field in offer_used
            int(terms.per_customer_limit),
            rate_limit[0] if rate_limit else 0,
            BUYER_INDEX_TTL_MS,
        )
        version_key = keys.version(product_id)
        p = keys.prefix(product_id)
        script_keys = (version_key, p + "avail", p + "buyers", p + "offer_used", p + "due")
        head = ("EVALSHA", SCRIPTS["hold"].sha, len(script_keys), *script_keys, *arguments)
        packed = b"*%d\r\n" % (len(head) + cls.PRESS_ARGUMENTS) + resp_items(head)
        return cls(terms, version_key, script_keys, arguments, packed, int(terms.hold_seconds) * 1000,
                   rate_limit[1] if rate_limit else 0)


class _Pipeliner:
    """Collects commands submitted at about the same time into one pipeline (no MULTI). One
    pipeline is in flight at a time; what arrives meanwhile goes in the next one."""

    def __init__(self, redis: aioredis.Redis, max_batch: int) -> None:
        self.redis = redis
        self.max_batch = max_batch
        self._pending: list[tuple[Callable[[Any], None], asyncio.Future[Any]]] = []
        self._running = False

    def submit(self, add: Callable[[Any], None]) -> asyncio.Future[Any]:
        """``add`` puts exactly one command on the pipeline; the future gets its reply (or its
        error as an exception)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((add, future))
        if not self._running:
            self._running = True
            # A task, not an inline send: calls made in this same tick join the batch first.
            asyncio.get_running_loop().create_task(self._drain())
        return future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                pipe = self.redis.pipeline(transaction=False)
                for add, _ in batch:
                    add(pipe)
                try:
                    replies = await pipe.execute(raise_on_error=False)
                except Exception as exc:  # connection trouble: every caller of the batch hears it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), reply in zip(batch, replies):
                    if future.done():  # the caller was cancelled
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        finally:
            self._running = False


def _replay(hold: Hold) -> Hold:
    return replace(hold, replayed=True)


def _product(hold_id: str) -> int:
    try:
        return keys.product_of_hold(hold_id)
    except ValueError:
        raise NotFound() from None


def _opt_text(value: int | None) -> str:
    return "" if value is None else str(int(value))


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _pairs(flat: list[str]) -> dict[str, str]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}
