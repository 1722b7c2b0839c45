"""The offer clock: offers go live and end on time on the server, with no browser open.

A background job (one process at a time, see web.jobs) calls ``tick`` a few times a second. It asks
Redis which offers are due (a sorted set by time, filled when an offer is created), so most
ticks cost one pipelined ZRANGEBYSCORE + ZCARD and no SQL. Every few seconds it also asks SQL,
which catches offers whose due entry Redis lost. The draws' clock (live.draws) looks at SQL only
when the offers changed (one moved here, the set's size changed: one created or cancelled in any
process), at that SQL sweep, or when a draw it knows of comes due: idle, it runs none (it was a
SELECT five times a second, a third of an idle server's CPU).

Idle, the job does not tick at all (``run``, ``idle_s``): with no offer due within a tick, no
waiting room in the queue set and no draw due or winners to settle, it sleeps until the earliest
due time it read, the next draw, or its SQL sweep (the 5 s safety poll), unless an offer changes
in any process (live.offer_signal wakes it). Before, it ran its Redis round trip five times a
second to notice an offer created elsewhere within 0.2 s: ~0.35 % of a core, idle.
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
from live.offer_signal import OfferSignal
from live.queues import Queues

SQL_SWEEP_EVERY_S = 5.0
NEVER_MS = 2**62
# An idle clock wakes this long after the due time it sleeps for: a timer may fire a little early
# (the loop's clock is not the wall clock), and a tick 1 ms early would leave the offer to the
# next tick, a period later.
WAKE_LATE_S = 0.005


class OfferClock:
    def __init__(self, control: ShowControl, queues: Queues, draws: Draws | None = None, *,
                 every_s: float = 0.2, signal: OfferSignal | None = None) -> None:
        """``every_s``: the job's period, kept while anything is due within it; ``signal``: the
        wake-up an idle clock sleeps on (None: it ticks every period, as before)."""
        self.control = control
        self.queues = queues
        self.draws = draws
        self.every_s = every_s
        self.signal = signal
        self._busy = True  # the last tick found something due or running: tick again after a period
        self._next_due_ms: int | None = None  # the earliest due time in the set after the last tick
        self._swept_at = 0.0
        self._offers_known: int | None = None  # the due set's size at the last tick
        self._changed = True  # offers may have changed since the draws last looked

    async def run(self) -> bool:
        """The job's run (web.jobs): a tick; True while the clock must keep ticking every period,
        False when it may sleep for ``idle_s`` or until an offer changes."""
        if self.signal is not None:
            self.signal.ensure_listening()
            if self.signal.take():
                self._changed = True
        await self.tick()
        return self._busy or self.signal is None or not self.signal.listening

    def idle_s(self) -> float | None:
        """Seconds an idle clock may sleep: until the earliest due time it knows (an offer's, the
        next draw's) or its SQL sweep, whichever comes first."""
        until_sweep = max(0.0, SQL_SWEEP_EVERY_S - (time.monotonic() - self._swept_at))
        due_ms = min(self._next_due_ms if self._next_due_ms is not None else NEVER_MS,
                     self.draws.due_at() if self.draws is not None else NEVER_MS)
        if due_ms >= NEVER_MS:
            return until_sweep
        return min(until_sweep, max(0.0, (due_ms - now_ms()) / 1000) + WAKE_LATE_S)

    async def tick(self) -> int:
        """Moves every due offer to its state now and publishes it, then moves the waiting rooms
        along (live.queues); returns how many offers moved."""
        moved, queued = await self._move_offers()
        await self.queues.tick(now_ms(), queued)
        if self.draws is not None:  # draw offers whose entries closed are drawn; winners' claims settled
            changed, self._changed = self._changed or moved > 0, False
            await self.draws.tick(now_ms(), recheck=changed)
        # Busy (tick again after a period, as before the signal): anything moved (the set changed
        # under us), a waiting room is running, or something comes due within the next period.
        horizon = now_ms() + int(self.every_s * 1000)
        next_due = min(self._next_due_ms if self._next_due_ms is not None else NEVER_MS,
                       self.draws.due_at() if self.draws is not None else NEVER_MS)
        self._busy = moved > 0 or bool(queued) or next_due <= horizon
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
        pipe.zrangebyscore(keys.OFFERS_DUE, f"({now}", "+inf", start=0, num=1, withscores=True)  # the next due time
        due_reply, size, queued, upcoming = await pipe.execute()
        due_ids = [int(i) for i in due_reply]
        # Due ones are moved below, and their new due times read at the next tick (busy meanwhile).
        self._next_due_ms = now if due_ids else (int(upcoming[0][1]) if upcoming else None)
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
