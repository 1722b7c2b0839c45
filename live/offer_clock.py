"""The offer clock: offers go live and end on time on the server, with no browser open.

A background job (one process at a time, see web.jobs) calls ``tick`` a few times a second. It asks
Redis which offers are due (a sorted set by time, filled when an offer is created), so most
ticks cost one pipelined ZRANGEBYSCORE + ZCARD and no SQL. Every few seconds it also asks SQL,
which catches offers whose due entry Redis lost. The draws' clock (live.draws) looks at SQL only
when the offers changed (one moved here, the set's size changed: one created or cancelled in any
process), at that SQL sweep, or when a draw it knows of comes due: idle, it runs none (it was a
SELECT five times a second, a third of an idle server's CPU).
"""

from __future__ import annotations

import time

from inventory.clock import now_ms
from inventory.models import Product
from live import keys, offers
from live.announcements import announce_offer_started
from live.control import ShowControl
from live.models import Show
from live.draws import Draws
from live.queues import Queues

SQL_SWEEP_EVERY_S = 5.0


class OfferClock:
    def __init__(self, control: ShowControl, queues: Queues, draws: Draws | None = None) -> None:
        self.control = control
        self.queues = queues
        self.draws = draws
        self._swept_at = 0.0
        self._offers_known: int | None = None  # the due set's size at the last tick
        self._changed = True  # offers may have changed since the draws last looked

    async def tick(self) -> int:
        """Moves every due offer to its state now and publishes it, then moves the waiting rooms
        along (live.queues); returns how many offers moved."""
        moved, queued = await self._move_offers()
        await self.queues.tick(now_ms(), queued)
        if self.draws is not None:  # draw offers whose entries closed are drawn; winners' claims settled
            changed, self._changed = self._changed or moved > 0, False
            await self.draws.tick(now_ms(), recheck=changed)
        return moved

    async def _move_offers(self) -> tuple[int, list[str]]:
        """Returns how many offers moved, and the waiting rooms' offers (keys.QUEUE_OFFERS), read
        in the same round trip: idle, a tick is that one round trip."""
        redis = self.control.hub.redis
        now = now_ms()
        pipe = redis.pipeline(transaction=False)
        pipe.zrangebyscore(keys.OFFERS_DUE, "-inf", now)
        pipe.zcard(keys.OFFERS_DUE)
        pipe.zrange(keys.QUEUE_OFFERS, 0, -1)
        due_reply, size, queued = await pipe.execute()
        due_ids = [int(i) for i in due_reply]
        if size != self._offers_known:
            self._offers_known, self._changed = int(size), True
        sweep = time.monotonic() - self._swept_at >= SQL_SWEEP_EVERY_S
        if not due_ids and not sweep:
            return 0, queued
        if sweep:
            self._swept_at = time.monotonic()
            self._changed = True
        moved = 0
        async with self.control.sessions() as session:
            due = await offers.due_offers(session, now, None if sweep else due_ids)
            changed = [o for o in due if await offers.advance(session, o, now)]
            for offer in changed:
                if offer.state == "live":
                    show = await session.get(Show, offer.show_id)
                    if show is not None:
                        announce_offer_started(session, show, offer)
            await session.commit()
            products = {o.product_id: await session.get(Product, o.product_id) for o in changed}
        for offer in changed:
            await self.control.publish_offer(offer.show_id, offer, products.get(offer.product_id))
            moved += 1
        pipe = redis.pipeline(transaction=False)
        handled = {o.id for o in due}
        for offer in due:
            if offer.state == "live":
                pipe.zadd(keys.OFFERS_DUE, {str(offer.id): offer.ends_at})
            else:
                pipe.zrem(keys.OFFERS_DUE, str(offer.id))
        for offer_id in due_ids:
            if offer_id not in handled:  # ended or cancelled meanwhile: nothing left to do
                pipe.zrem(keys.OFFERS_DUE, str(offer_id))
        await pipe.execute()
        return moved, queued
