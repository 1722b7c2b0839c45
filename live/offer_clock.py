"""The offer clock: offers go live and end on time on the server, with no browser open.

A background job (one process at a time, see web.jobs) calls ``tick`` a few times a second. It asks
Redis which offers are due (a sorted set by time, filled when an offer is created), so most
ticks cost one ZRANGEBYSCORE and no SQL. Every few seconds it also asks SQL, which catches offers
whose due entry Redis lost.
"""

from __future__ import annotations

import time

from inventory import redis_replies
from inventory.clock import now_ms
from inventory.models import Product
from live import keys, offers
from live.announcements import announce_offer_started
from live.control import ShowControl
from live.models import Show
from live.queues import Queues

SQL_SWEEP_EVERY_S = 5.0


class OfferClock:
    def __init__(self, control: ShowControl, queues: Queues) -> None:
        self.control = control
        self.queues = queues
        self._swept_at = 0.0

    async def tick(self) -> int:
        """Moves every due offer to its state now and publishes it, then moves the waiting rooms
        along (live.queues); returns how many offers moved."""
        moved = await self._move_offers()
        await self.queues.tick(now_ms())
        return moved

    async def _move_offers(self) -> int:
        redis = self.control.hub.redis
        now = now_ms()
        due_ids = [int(i) for i in await redis_replies.zrangebyscore(redis, keys.OFFERS_DUE, "-inf", now)]
        sweep = time.monotonic() - self._swept_at >= SQL_SWEEP_EVERY_S
        if not due_ids and not sweep:
            return 0
        if sweep:
            self._swept_at = time.monotonic()
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
        return moved
