"""`livedrop worker` stops its parts as `livedrop serve` does (web.livedrop.Livedrop.stop): its
outbox and offer listeners end and its signals tell nothing more once the jobs stopped, and on
SIGTERM the real process unsubscribes and exits 0 promptly, its cleanup complete. Real Redis,
real database, the real job runner."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import redis as sync_redis
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from live.offer_signal import CHANNEL as OFFERS_CHANNEL
from live.outbox_signal import CHANNEL as OUTBOX_CHANNEL
from tests.support import LivedropProcess, livedrop_env, wait_until
from web.livedrop import assemble
from web.server import run_worker
from web.services import Services
from web.settings import Settings

CHANNELS = (OUTBOX_CHANNEL, OFFERS_CHANNEL)


async def subscribers(redis: aioredis.Redis) -> dict[str, int]:
    return {str(name): int(count) for name, count in await redis.pubsub_numsub(*CHANNELS)}


async def until_subscribers(redis: aioredis.Redis, count: int, seconds: float) -> None:
    """Polled: a listener that ends closes its connection (no UNSUBSCRIBE), and Redis may answer
    NUMSUB on another connection before it has read that close."""
    async with asyncio.timeout(seconds):
        while await subscribers(redis) != dict.fromkeys(CHANNELS, count):
            await asyncio.sleep(0.01)


async def test_the_worker_stops_its_listeners_and_signals_once_its_jobs_stopped(
        settings: Settings, redis: aioredis.Redis, engine: AsyncEngine, sessions: async_sessionmaker) -> None:
    settings = settings.with_overrides(worker_port=0)  # no worker HTTP: a port nobody else needs
    services = Services(settings, redis, engine, sessions)
    root = assemble(settings, services)
    outbox_signal, offer_signal = root.outbox.signal, root.shows.offer_signal
    assert outbox_signal is not None and offer_signal is not None
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, services, root, stop), name="test-worker")
    try:
        # It takes the lease; the outbox job's first poll and the offer clock's first run subscribe.
        await until_subscribers(redis, 1, 20)
    finally:
        stop.set()
        async with asyncio.timeout(30):  # every cleanup step is bounded at 5 s (web.stopping)
            await worker
    # Before the process's connections close (services.close, which the test's fixtures stand in
    # for): its listeners are gone, not left running until the process dies.
    assert not outbox_signal.listening and not offer_signal.listening
    await until_subscribers(redis, 0, 5)
    # Closed: a commit's wake-up after the stop tells nobody (before, it went out 20 ms later).
    heard = redis.pubsub(ignore_subscribe_messages=True)
    await heard.subscribe(*CHANNELS)
    try:
        outbox_signal.added()
        offer_signal.changed()
        assert await heard.get_message(timeout=0.3) is None
    finally:
        await heard.aclose()


def test_sigterm_unsubscribes_and_exits_zero_promptly(tmp_path: Path, redis: aioredis.Redis, redis_url: str, database_url: str) -> None:
    env = livedrop_env(tmp_path, REDIS_URL=redis_url, DATABASE_URL=database_url)
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    worker = LivedropProcess(["worker"], env).start(wait_ready=False)
    try:
        def subscribed(count: int) -> bool:
            return dict(client.pubsub_numsub(*CHANNELS)) == dict.fromkeys(CHANNELS, count)

        assert wait_until(lambda: subscribed(1), 30), worker.output()
        started = time.monotonic()
        assert worker.stop(signal.SIGTERM, timeout=20) == 0, worker.output()
        assert time.monotonic() - started < 10, worker.output()  # each cleanup step is bounded at 5 s; normally well under 1 s
        assert wait_until(lambda: subscribed(0), 5)
    finally:
        worker.stop()
        client.close()
    output = worker.output()
    assert output.rstrip().endswith("livedrop worker stopped"), output
    assert "stopping:" not in output and "Traceback" not in output, output  # no cleanup step slow, failed or left behind
