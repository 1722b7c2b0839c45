"""Background jobs (hold expiry, offer clocks, ...) and the Redis lease that makes exactly one
process run them.

`livedrop worker` always competes for the lease. `serve` competes too, so a deployment without a
worker still runs its jobs, but it stands aside while a worker is alive (the worker announces
itself with a heartbeat key), so a dedicated worker takes over the background load.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from inventory.timeouts import within
from inventory.faults import Outages
from live.metrics import JOB_FAILURES, JOB_LAST_SUCCESS, JOB_LEASE
from web.stopping import bounded_step

log = logging.getLogger("livedrop.jobs")

# Tagged {ld}: in a Redis Cluster the lease sits in the global keys' slot (inventory.keys).
LEASE_KEY = "ld:{ld}:jobs:lease"
WORKER_HEARTBEAT_KEY = "ld:{ld}:jobs:worker-alive"
LEASE_MS = 10_000
RENEW_EVERY_S = 2.0
# A job told to stop finishes the run it is in, for at most this long, before it is cancelled.
# Cancelled inside a database transaction, a job could leave its SQLite connection holding the
# write lock with nothing running on it (seen: issue 21's failover test, where losing the Redis
# lease stopped the outbox job mid-claim and every checkout then waited 30 s on the lock). Well
# inside LEASE_MS: nobody else can hold the lease before ours runs out.
STOP_GRACE_S = 1.5
# Then, cancelled, it has this long to unwind (its transaction rolled back) before it is left behind.
CANCEL_GRACE_S = 1.0

# Renew or release only a lease we still own: compare-and-set, one round trip.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Job:
    """One periodic job: ``run`` is called every ``every_s`` seconds while this process holds the lease.

    ``wake``, when given, is set by whoever has work for the job (live.outbox_signal): a job whose
    last run found nothing to do (returned a false value) runs at once rather than at the end of
    its wait, and waits ``idle_s()`` seconds (None: ``every_s``) for it. One whose last run did
    work keeps its pace: a burst is worked off in the batches of ``every_s``, not in a run per
    wake-up. The runner clears it."""

    name: str
    every_s: float
    run: Callable[[], Awaitable[object]]
    wake: asyncio.Event | None = None
    idle_s: Callable[[], float | None] | None = None


class JobRunner:
    def __init__(self, redis: aioredis.Redis, jobs: list[Job], *, is_worker: bool, outages: Outages | None = None) -> None:
        self.redis = redis
        # Where Redis and database faults go instead of a warning per tick and a traceback per
        # job run (one line per outage); None: logged here, as any failure.
        self.outages = outages
        self.jobs = jobs
        self.is_worker = is_worker
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.holds_lease = False
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._job_tasks: list[asyncio.Task[None]] = []
        self._jobs_stop = asyncio.Event()  # set: the running jobs end after their current run
        self.last_tick = 0.0  # loop.time() of the last lease tick: the worker's /healthz heartbeat

    async def run(self, stop: asyncio.Event) -> None:
        """Compete for the lease until ``stop`` is set; run the jobs while holding it."""
        try:
            while not stop.is_set():
                await self._tick()
                self.last_tick = asyncio.get_running_loop().time()
                try:
                    await within(stop.wait(), RENEW_EVERY_S)
                except TimeoutError:
                    pass
        finally:
            await self._give_up()

    async def _tick(self) -> None:
        try:
            if self.is_worker:
                await self.redis.set(WORKER_HEARTBEAT_KEY, self.owner, px=LEASE_MS)
            if self.holds_lease:
                stand_aside = not self.is_worker and await self.redis.exists(WORKER_HEARTBEAT_KEY)
                if stand_aside or not await self._renew(keys=[LEASE_KEY], args=[self.owner, LEASE_MS]):
                    await self._give_up()
            elif self.is_worker or not await self.redis.exists(WORKER_HEARTBEAT_KEY):
                if await self.redis.set(LEASE_KEY, self.owner, nx=True, px=LEASE_MS):
                    self._start_jobs()
        except RedisError as exc:
            # Without Redis we cannot prove we hold the lease: stop the jobs, try again later.
            # Any Redis error, not only a lost connection: a Redis Cluster mid-failover answers
            # CLUSTERDOWN or MOVED, and an uncaught one ended this task without a line (issue 21).
            if not self._reported(exc):
                log.warning("job lease: Redis unavailable (%s)", exc)
            await self._stop_jobs()
            self.holds_lease = False

    def _start_jobs(self) -> None:
        self.holds_lease = True
        JOB_LEASE.set(1)
        log.info("background jobs: running in this process (%s)", self.owner)
        self._jobs_stop = stop = asyncio.Event()
        self._job_tasks = [asyncio.create_task(self._loop(job, stop), name=f"job:{job.name}") for job in self.jobs]

    async def _loop(self, job: Job, stop: asyncio.Event) -> None:
        this = asyncio.current_task()
        succeeded = JOB_LAST_SUCCESS.labels(job.name)
        failed = JOB_FAILURES.labels(job.name)
        while not stop.is_set():
            busy: object = True
            if job.wake is not None:
                job.wake.clear()  # what woke it is looked at by this run
            try:
                busy = await job.run()
                succeeded.set_to_current_time()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failing job must not take the others down; it runs again next tick
                failed.inc()
                if not self._reported(exc):
                    log.exception("background job %s failed", job.name)
            # Some client libraries swallow a CancelledError that lands inside them; without this
            # check a job told to stop would go on running forever.
            if this is not None and this.cancelling():
                raise asyncio.CancelledError
            # ``_stop_jobs`` sets the wake-up too, so either wait ends when the jobs are told to stop.
            # within (asyncio.timeout), not wait_for: no task made per wait, no cancellation lost.
            until, wait_s = stop, job.every_s
            if job.wake is not None and not busy:
                until = job.wake
                idle_s = job.idle_s() if job.idle_s is not None else None
                # Never shorter than the period: a due time is kept to within ``every_s``, as before.
                wait_s = max(job.every_s, idle_s) if idle_s is not None else job.every_s
            try:
                await within(until.wait(), wait_s)
            except TimeoutError:
                pass

    def _reported(self, exc: BaseException) -> bool:
        """True when ``exc`` is a dependency fault the outage log took (it says when it is over)."""
        return self.outages is not None and self.outages.report(exc, refused=False) is not None

    async def _stop_jobs(self) -> None:
        JOB_LEASE.set(0)
        tasks, self._job_tasks = self._job_tasks, []
        self._jobs_stop.set()
        for job in self.jobs:
            if job.wake is not None and tasks:
                job.wake.set()  # a job waiting on its wake-up sees the stop now, not at its next tick
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S)  # each ends after its current run
        if not late:
            return
        for task in late:  # stuck (a dependency that does not answer): cancelled after all
            task.cancel()
        # Bounded too: a library that swallows the cancellation must not hold up the process's
        # shutdown (a test app's lifespan once waited here for good), nor the lease loop, which
        # stops the jobs here when the lease is lost (``_tick``). Neither that nor the worker's exit
        # runs under the app's cleanup steps, so the bound is ours; a job still running after it
        # is logged with where it waits (web.stopping).
        names = ", ".join(sorted(task.get_name() for task in late))
        await bounded_step(f"background jobs ({names})", asyncio.gather(*late, return_exceptions=True), CANCEL_GRACE_S)
        for task in late:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("background job %s ended with %r", task.get_name(), task.exception())

    async def _give_up(self) -> None:
        await self._stop_jobs()
        if self.holds_lease:
            self.holds_lease = False
            try:
                await self._release(keys=[LEASE_KEY], args=[self.owner])
                if self.is_worker:
                    await self.redis.delete(WORKER_HEARTBEAT_KEY)
            except RedisError:
                pass
