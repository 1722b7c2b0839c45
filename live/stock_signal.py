"""Stock pushed, not polled: a hold, release, sale, expiry or restock wakes the stock feed.

History: the feed polled every product's version counter every 200 ms, so a hold reached other
viewers' screens at p50 114 ms, p99 212 ms (1,000 viewers, 500 holds/s; issue "speed, round 2"),
and the clock ran five times a second in every process even when nothing had changed.

Now every stock script this process runs (``StockStore.on_change``) sets ``wake`` at once, and
tells the other processes through one Redis PUBLISH per ``COALESCE_S`` at most: in a drop of 5,000
holds a second that is ~33 small messages a second per process, not one per hold (the hold script
itself publishes nothing: Redis's time per hold is the drop's ceiling). The feed then ticks at
most once per ``coalescing_window`` (30 ms, longer with thousands of viewers), so frames per
viewer stay bounded during a drop and a quiet show's change is sent at once. A slow poll
(``LIVEDROP_STOCK_POLL_MS``) stays as the safety net for a message lost while the subscription
reconnects.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis

from inventory.faults import Outages
from live.redis_wake import RedisWake

log = logging.getLogger("livedrop.stock_signal")

CHANNEL = "ld:stock:changed"
# The feed ticks at most once per window: 30 ms (within the 20-50 ms) for a process with
# up to 750 viewers, longer with more, so that stock frames never cost more than ~40 % of a core:
# a frame is ~16 µs of server CPU per viewer (bench/fanout.py), so viewers x 16 µs / window <= 0.4 s
# a second gives window = viewers / 25,000 s (1,000 viewers: 40 ms; 5,000: the old 200 ms).
COALESCE_S = 0.03
MAX_COALESCE_S = 0.2
VIEWERS_PER_COALESCE_S = 25_000


def coalescing_window(viewers: int) -> float:
    """Seconds between two stock ticks at least, for a process with ``viewers`` connections."""
    return min(MAX_COALESCE_S, max(COALESCE_S, viewers / VIEWERS_PER_COALESCE_S))


class StockSignal:
    def __init__(self, redis: aioredis.Redis, outages: Outages | None = None) -> None:
        self.redis = redis
        self.outages = outages
        self.wake = asyncio.Event()
        # The Pub/Sub channel and its coalesced messages (live.redis_wake): a message from another
        # process, and each (re)subscription (a change may have been missed), wakes the feed.
        self.pubsub = RedisWake(redis, CHANNEL, coalesce_s=COALESCE_S, log=log, name="stock signal",
                                news=self.wake.set, outages=outages)

    def changed(self, product_id: int | None = None) -> None:
        """Stock of ``product_id`` (None: of something) may have moved: wake the feed here now,
        and the other processes within ``COALESCE_S``. Synchronous and cheap: called after every
        stock script."""
        self.wake.set()
        self.pubsub.tell_others()

    async def listen(self) -> None:
        """Wake the feed when another process changed stock. Runs until cancelled; resubscribes
        after a connection failure (and wakes once then: a change may have been missed)."""
        await self.pubsub.listen()
