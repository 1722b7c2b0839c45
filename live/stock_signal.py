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
import secrets

import redis.asyncio as aioredis

from inventory.faults import Outages
from inventory.redis_cluster import is_cluster
from inventory.timeouts import raise_if_cancelled

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


RESUBSCRIBE_S = 1.0


class StockSignal:
    def __init__(self, redis: aioredis.Redis, outages: Outages | None = None) -> None:
        self.redis = redis
        self.outages = outages
        self.wake = asyncio.Event()
        self.origin = secrets.token_hex(6)  # our own messages are not news to us
        self._publish_pending = False
        self._publishes: set[asyncio.Task[None]] = set()

    def changed(self, product_id: int | None = None) -> None:
        """Stock of ``product_id`` (None: of something) may have moved: wake the feed here now,
        and the other processes within ``COALESCE_S``. Synchronous and cheap: called after every
        stock script."""
        self.wake.set()
        if not self._publish_pending:
            self._publish_pending = True
            try:
                asyncio.get_running_loop().call_later(COALESCE_S, self._publish)
            except RuntimeError:  # no loop (a script run from a synchronous tool): nobody to tell
                self._publish_pending = False

    def _publish(self) -> None:
        self._publish_pending = False
        task = asyncio.ensure_future(self._send())
        self._publishes.add(task)
        task.add_done_callback(self._publishes.discard)

    async def _send(self) -> None:
        try:
            await self.redis.publish(CHANNEL, self.origin)
        except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
            # The other processes' safety poll finds the change; Redis being down is reported
            # by whoever meets it first.
            if self.outages is None or self.outages.report(exc, refused=False) is None:
                log.warning("stock signal: could not publish (%s)", exc)

    async def listen(self) -> None:
        """Wake the feed when another process changed stock. Runs until cancelled; resubscribes
        after a connection failure (and wakes once then: a change may have been missed)."""
        while True:
            raise_if_cancelled()  # redis-py may swallow the cancel that stops this loop (inventory.timeouts)
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                if is_cluster(self.redis):
                    # A cluster client's Pub/Sub picks its node from the slot map, which the client
                    # reads on its first command: without one yet, subscribe failed (KeyError: 5411,
                    # the channel's slot) and stock moved only by the slow poll.
                    await self.redis.initialize()
                await pubsub.subscribe(CHANNEL)
                self.wake.set()
                while True:
                    raise_if_cancelled()
                    # A bounded wait: below the client's 15 s socket timeout, which would
                    # otherwise end a quiet subscription as if the connection had failed.
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message.get("data") != self.origin:
                        self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone or restarting: try again shortly
                if self.outages is None or self.outages.report(exc, refused=False) is None:
                    log.warning("stock signal: subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(RESUBSCRIBE_S)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # closing a broken connection may fail too
                    pass
