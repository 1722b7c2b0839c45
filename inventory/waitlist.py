"""Back in stock, the Redis half: a waiting line per sold-out size, served before general sale.

A buyer joins the line of a size that is sold out (``join``). When units of that size come back
(a buyer lets a hold go, a hold expires, the host restocks, a refund restocks), the script that
returns them hands them straight on, one unit each and oldest entry first, as ordinary holds of
the people waiting (``waitlist_take`` in ``lua/common.lua``), and only what nobody waits for goes
back on general sale. The handing on happens inside the script that returned the units, so no
buy press can take a returned unit first: Redis runs one script at a time. The hold script itself
is unchanged; it only ever sees 'avail', which the line has already served.

An offer is therefore just a hold with a deadline (``offer_ms``) and a ``wl`` field naming the
entry: the buyer checks it out like any hold; letting it go or letting it expire returns its unit
through the same door, which hands it to the next in line. Every entry the line serves is
appended to ``ld:{p<id>}:wlnew`` for the waitlist job (``live.waitlist``) to record and announce;
``pending``/``done`` read and clear that list one item at a time, so a job that dies in between
repeats an item rather than loses it (the job's SQL claim makes the repeat a no-op).

Keys, next to the product's others (same hash tag):

    ld:{p<id>}:wl:<sku>     zset    buyer id -> when they joined (ms): the line
    ld:{p<id>}:wlt:<sku>    hash    buyer id -> the terms of the hold they will be offered
    ld:{p<id>}:wlnew        list    'offer:<entry>:<hold id>:<deadline ms>' | 'skip:<entry>'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from inventory import keys
from inventory.errors import InventoryError, StockNotLoaded, UnknownSku
from inventory.scripts import SCRIPTS
from inventory.stock import BUYER_INDEX_TTL_MS

MAX_PENDING_BATCH = 100


class InStock(InventoryError):
    code, status, default_message = "in_stock", 409, "this size is on sale right now: buy it instead of waiting"


@dataclass(frozen=True)
class OfferTerms:
    """What the hold offered to an entry is made of (fixed when the buyer joins)."""

    entry_id: str
    hold_id: str  # made when the buyer joins: unguessable, and Lua has no good random source
    unit_price_cents: int
    currency: str
    show_id: int
    host_id: int
    per_customer_limit: int
    offer_ms: int

    def packed(self) -> str:
        fields = (self.entry_id, self.hold_id, self.unit_price_cents, self.currency, self.show_id, self.host_id,
                  self.per_customer_limit, self.offer_ms, BUYER_INDEX_TTL_MS)
        return "\x1e".join(str(f) for f in fields)


@dataclass(frozen=True)
class Served:
    """One entry the line served: an offer (a hold until ``deadline``) or a skip (the buyer
    already had their limit of the product)."""

    raw: str
    entry_id: str
    hold_id: str | None
    deadline: int | None


async def join(redis: aioredis.Redis, product_id: int, sku: str, buyer_id: str, joined_ms: int, terms: OfferTerms) -> tuple[bool, int]:
    """Put the buyer in the size's line. Returns (newly joined, place from 1). Raises InStock
    (units are on sale now), UnknownSku, StockNotLoaded."""
    reply = await _script(redis, "waitlist_join", product_id, [sku, buyer_id, joined_ms, terms.packed()])
    if int(reply[0]) == 0:
        raise {"in_stock": InStock, "unknown_sku": UnknownSku, "not_on_sale": StockNotLoaded}[reply[1]]()
    return reply[1] == "joined", int(reply[2])


async def leave(redis: aioredis.Redis, product_id: int, sku: str, buyer_id: str) -> bool:
    return bool(await _script(redis, "waitlist_leave", product_id, [sku, buyer_id]))


async def place(redis: aioredis.Redis, product_id: int, sku: str, buyer_id: str) -> int | None:
    """The buyer's place in the size's line (from 1), or None when not in it (served or left)."""
    rank: Any = await redis.zrank(keys.prefix(product_id) + "wl:" + sku, buyer_id)
    return None if rank is None else int(rank) + 1


async def line_lengths(redis: aioredis.Redis, product_id: int, skus: list[str]) -> dict[str, int]:
    """How many wait for each size now (the host's view)."""
    pipe = redis.pipeline(transaction=False)
    for sku in skus:
        pipe.zcard(keys.prefix(product_id) + "wl:" + sku)
    return {sku: int(n) for sku, n in zip(skus, await pipe.execute())}


async def pending(redis: aioredis.Redis, product_id: int) -> list[Served]:
    """Entries the line served that the job has not recorded yet, oldest first."""
    raw = await redis.lrange(keys.prefix(product_id) + "wlnew", 0, MAX_PENDING_BATCH - 1)
    return [_parse(str(item)) for item in raw]


async def done(redis: aioredis.Redis, product_id: int, served: Served) -> None:
    """Recorded: drop it from the list (by value, so two jobs racing cannot drop an unread item)."""
    await redis.lrem(keys.prefix(product_id) + "wlnew", 1, served.raw)


def _parse(item: str) -> Served:
    kind, _, rest = item.partition(":")
    if kind == "offer":
        entry_id, hold_id, deadline = rest.split(":")
        return Served(item, entry_id, hold_id, int(deadline))
    return Served(item, rest, None, None)


async def _script(redis: aioredis.Redis, name: str, product_id: int, args: list[Any]) -> Any:
    return await SCRIPTS[name].call(redis, [keys.version(product_id)], [keys.prefix(product_id), *args])
