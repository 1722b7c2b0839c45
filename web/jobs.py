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

from inventory.faults import Outages

log = logging.getLogger("livedrop.jobs")

LEASE_KEY = "ld:jobs:lease"
WORKER_HEARTBEAT_KEY = "ld:jobs:worker-alive"
LEASE_MS = 10_000
RENEW_EVERY_S = 2.0

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
    """One periodic job: ``run`` is called every ``every_s`` seconds while this process holds the lease."""

    name: str
    every_s: float
    run: Callable[[], Awaitable[object]]


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

    async def run(self, stop: asyncio.Event) -> None:
        """Compete for the lease until ``stop`` is set; run the jobs while holding it."""
        try:
            while not stop.is_set():
                await self._tick()
                try:
                    await asyncio.wait_for(stop.wait(), RENEW_EVERY_S)
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
        except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
            # Without Redis we cannot prove we hold the lease: stop the jobs, try again later.
            if not self._reported(exc):
                log.warning("job lease: Redis unavailable (%s)", exc)
            await self._stop_jobs()
            self.holds_lease = False

    def _start_jobs(self) -> None:
        self.holds_lease = True
        log.info("background jobs: running in this process (%s)", self.owner)
        self._job_tasks = [asyncio.create_task(self._loop(job), name=f"job:{job.name}") for job in self.jobs]

    async def _loop(self, job: Job) -> None:
        this = asyncio.current_task()
        while True:
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failing job must not take the others down; it runs again next tick
                if not self._reported(exc):
                    log.exception("background job %s failed", job.name)
            # Some client libraries swallow a CancelledError that lands inside them; without this
            # check a job told to stop would go on running forever.
            if this is not None and this.cancelling():
                raise asyncio.CancelledError
            await asyncio.sleep(job.every_s)

    def _reported(self, exc: BaseException) -> bool:
        """True when ``exc`` is a dependency fault the outage log took (it says when it is over)."""
        return self.outages is not None and self.outages.report(exc, refused=False) is not None

    async def _stop_jobs(self) -> None:
        tasks, self._job_tasks = self._job_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _give_up(self) -> None:
        await self._stop_jobs()
        if self.holds_lease:
            self.holds_lease = False
            try:
                await self._release(keys=[LEASE_KEY], args=[self.owner])
                if self.is_worker:
                    await self.redis.delete(WORKER_HEARTBEAT_KEY)
            except (aioredis.ConnectionError, aioredis.TimeoutError):
                pass
