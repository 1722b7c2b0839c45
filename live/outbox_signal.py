"""The outbox's "something may be due" signal, so that an idle outbox job runs no SQL and hardly
wakes up.

History: the job asked SQL five times a second whether anything was due (one small SELECT, most
of its cost SQLAlchemy building and compiling it): with nothing happening, that and the offer
clock were nearly all of an idle server's CPU (docs/fanout-bench.md, "Idle").

Now a commit that added outbox work (``inventory.outbox.announce``, a delivery put back in line)
calls ``added`` right after it commits. That wakes this process's worker at once (``wake``, the
job's wake-up in web.jobs) and tells the other processes, at most once per ``COALESCE_S`` (a
drop's hundreds of paid orders a second cost ~50 messages a second per process, not one each):
a PUBLISH, which the worker's subscription (``ensure_listening``, started by the worker's first poll) turns
into a wake-up within milliseconds, and an INCR of a version counter, which a worker without a
subscription (Redis restarting, the first poll) compares with the value it last saw, one GET a
tick. What the signal cannot say (a retry's time coming due, a crashed sender's lease running
out) the worker knows from its own last look at the table (``OutboxWorker``), and a slow safety
poll covers a message lost while the subscription reconnects.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.faults import Outages
from inventory.outbox import NOTIFY
from live.redis_wake import RedisWake

log = logging.getLogger("livedrop.outbox")

# Tagged {ld}: in a Redis Cluster it sits in the global keys' slot (inventory.keys), with the lease.
VERSION_KEY = "ld:{ld}:outbox:version"
CHANNEL = "ld:outbox:added"
# A burst's commits share one message: other processes hear of them this much later at most (well
# inside the 0.2 s a tick waited before).
COALESCE_S = 0.02


class OutboxSignal:
    def __init__(self, redis: aioredis.Redis, outages: Outages | None = None) -> None:
        self.redis = redis
        self.outages = outages
        # Set by every ``added`` here and every message from elsewhere: the outbox job's wake-up
        # (web.jobs.Job.wake), which the job runner clears. The flags are the worker's own copy.
        self.wake = asyncio.Event()
        # The Pub/Sub channel and its coalesced messages (live.redis_wake). A lost subscription
        # wakes the worker too: it goes back to its tick (polling the counter) until we are back.
        self.pubsub = RedisWake(redis, CHANNEL, coalesce_s=COALESCE_S, log=log, name="outbox signal",
                                news=self._news, lost=self.wake.set, before_send=self._count, outages=outages)
        self._local = False
        self._remote = False

    @property
    def listening(self) -> bool:
        """Subscribed: messages from other processes arrive as they are sent."""
        return self.pubsub.listening

    def install(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Every session ``sessions`` makes from now on calls ``added`` after a commit that added
        outbox work (inventory.outbox's after-commit hook)."""
        info = dict(sessions.kw.get("info") or {})
        info[NOTIFY] = self.added
        sessions.configure(info=info)

    def added(self) -> None:
        """Outbox work was committed: wake the worker here now, the other processes' within
        ``COALESCE_S``. Synchronous, never raises (called from a commit hook)."""
        self._local = True
        self.wake.set()
        self.pubsub.tell_others()

    def take_local(self) -> bool:
        """True once for any number of ``added`` since the last call (this process's own commits)."""
        local, self._local = self._local, False
        return local

    def take_remote(self) -> bool:
        """True once for any number of messages from other processes since the last call (and once
        after each (re)subscription: one may have been missed meanwhile)."""
        remote, self._remote = self._remote, False
        return remote

    async def version(self) -> str | None:
        """The counter every process bumps: a new value means work was added somewhere. Raises
        RedisError (the worker then looks at SQL, as it did before the signal)."""
        value = await self.redis.get(VERSION_KEY)
        return None if value is None else str(value)

    async def _count(self) -> None:
        """Before each message: the counter a worker without a subscription compares."""
        await self.redis.incr(VERSION_KEY)

    def _news(self) -> None:
        self._remote = True
        self.wake.set()

    # -- the worker's side ------------------------------------------------------------------------

    def ensure_listening(self) -> None:
        """Start the subscription (once; again if it ended). Called by the worker's poll, so only a
        process that runs the outbox job holds one."""
        self.pubsub.ensure_listening("outbox-signal")

    async def close(self) -> None:
        """Stop listening, and send what is waiting to go now (its Redis client closes next;
        live.redis_wake.RedisWake.aclose says how long it may take)."""
        await self.pubsub.aclose()
