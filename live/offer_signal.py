"""The offers' "something changed" signal, so that an idle offer clock sleeps until an offer is due.

History: the clock asked Redis five times a second which offers were due (one pipelined round
trip), so that an offer created in another process was seen within 0.2 s: ~0.35 % of a core on an
idle server, a third of what was left of its idle CPU (docs/fanout-bench.md, "Idle").

Now whatever creates, cancels, ends or moves an offer (live.control, live.draws) calls ``changed``
after Redis knows of it (the due set, keys.OFFERS_DUE). That wakes this process's clock at once
(``wake``, the job's wake-up in web.jobs) and the other processes' within ``COALESCE_S``, through
one Pub/Sub channel (live.redis_wake) that only the process running the clock listens to. The
clock knows the rest itself: the earliest due time in the set (read in its tick's round trip),
the next draw, and its 5 s SQL sweep, which stays the safety poll for a message lost while the
subscription reconnects.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis

from inventory.faults import Outages
from live.redis_wake import RedisWake

log = logging.getLogger("livedrop.offer_signal")

CHANNEL = "ld:offers:changed"
# A host's burst of edits shares one message; other processes hear of an offer this much later at
# most (the clock's tick was 0.2 s before, and an offer starts within that of its time).
COALESCE_S = 0.02


class OfferSignal:
    def __init__(self, redis: aioredis.Redis, outages: Outages | None = None) -> None:
        # Set by every ``changed`` here and every message from elsewhere (and each resubscription:
        # one may have been missed): the clock job's wake-up, which the job runner clears.
        self.wake = asyncio.Event()
        self.pubsub = RedisWake(redis, CHANNEL, coalesce_s=COALESCE_S, log=log, name="offer signal",
                                news=self._news, lost=self._news, outages=outages)
        self._news_flag = False

    @property
    def listening(self) -> bool:
        """Subscribed: news from other processes arrives as it is sent."""
        return self.pubsub.listening

    def changed(self) -> None:
        """An offer was created, cancelled, ended or moved: wake the clock here now, the other
        processes' within ``COALESCE_S``. Synchronous, never raises."""
        self._news()
        self.pubsub.tell_others()

    def take(self) -> bool:
        """True once for any number of changes (here or elsewhere) since the last call."""
        news, self._news_flag = self._news_flag, False
        return news

    def _news(self) -> None:
        self._news_flag = True
        self.wake.set()

    def ensure_listening(self) -> None:
        """Start the subscription (once; again if it ended). Called by the clock's run, so only the
        process that runs the offer clock holds one."""
        self.pubsub.ensure_listening("offer-signal")

    async def close(self) -> None:
        """Stop listening, and send what is waiting to go now (its Redis client closes next)."""
        await self.pubsub.aclose()
