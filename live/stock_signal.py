"""Stock pushed, not polled: a hold, release, sale, expiry or restock wakes the stock feed.

History: the feed polled every product's version counter every 200 ms, so a hold reached other
viewers' screens at p50 114 ms, p99 212 ms (1,000 viewers, 500 holds/s; issue "speed, round 2"),
and the clock ran five times a second in every process even when nothing had changed.

Now every stock script this process runs (``StockStore.on_change``) sets ``wake`` at once, and
tells the other processes through one Redis PUBLISH per ``COALESCE_S`` at most: in a drop of 5,000
holds a second that is ~33 small messages a second per process, not one per hold (the hold script
itself publishes nothing: Redis's time per hold is the drop's ceiling). The feed then ticks at
most once per ``coalescing_window`` (30 ms, longer when its frames take long to write), so frames
per viewer stay bounded during a drop and a quiet show's change is sent at once. A slow poll
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
# The feed ticks at most once per window: 30 ms (within the 20-50 ms) while its frames are
# cheap, longer when they are not, so that writing stock frames takes at most half of the event
# loop's time whatever the audience and the machine: the window after a tick is the CPU time its
# writes took over STOCK_SHARE. Measured, not assumed: the window used to be viewers / 25,000 s
# (at most 200 ms), from a cost of 16 µs per viewer per frame that later work brought to 6-13 µs
# (bench/fanout.py, bench/drop_screen.py), so 5,000 viewers waited 200 ms where 70 ms was enough.
# The other half is the drop's holds and the host's pins: with 10,000 viewers and 2,000 presses a
# second the holds took about a quarter of the loop and the pins a fifth (docs/fanout-bench.md).
COALESCE_S = 0.03
STOCK_SHARE = 0.5
# The window is the process's, not a show's: a small show beside a large one waits as long. At
# most 1 s (it was 200 ms, which let 10,000 viewers at 19 µs a frame spend 95 % of the loop).
MAX_COALESCE_S = 1.0


def coalescing_window(write_s: float) -> float:
    """Seconds from one stock tick's start to the next one's at least, after a tick whose frames
    took ``write_s`` seconds of CPU to write."""
    return min(MAX_COALESCE_S, max(COALESCE_S, write_s / STOCK_SHARE))


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
