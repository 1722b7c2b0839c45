"""``/metrics``: who may read it, what a scrape gathers, and the probes behind the latency series.

The counters and histograms are defined in live.metrics and kept by prometheus-client. A scrape
adds what is read at that moment: this process's viewers per show (the hub's rooms) and the
outbox's queue (pending events and the age of the oldest, one indexed SQL query) and the drops'
waiting rooms (entries and places admitted per running queue offer, two Redis reads each). With
``PROMETHEUS_MULTIPROC_DIR`` set, the counters of every process writing to that folder are
added up (prometheus-client's MultiProcessCollector); the per-scrape gauges are this process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.timeouts import raise_if_cancelled, within
from inventory.clock import now_ms
from inventory.outbox import OutboxEvent
from live import keys as live_keys
from live.metrics import DATABASE_SECONDS, REDIS_SECONDS
from web.services import Services, database_answers
from web.settings import Network

log = logging.getLogger("livedrop.metrics")

PROBE_EVERY_S = 5.0  # Redis and database round trips: 2 tiny calls per process per 5 s
QUEUE_QUERY_S = 1.0  # a scrape never waits longer than this on SQL


def allowed(client_host: str | None, authorization: str | None, token: str | None, addresses: tuple[Network, ...]) -> bool:
    """A scrape from a listed address (the TCP peer, or a trusted proxy's X-Forwarded-For, as
    uvicorn's proxy_headers sets it), or one that sends ``Authorization: Bearer <token>``
    (compared in constant time)."""
    if token is not None and authorization is not None:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    if client_host is None:
        return False
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return False
    return any(address in network for network in addresses)


class LiveGauges:
    """A collector read at scrape time: ``viewers`` (slug -> connections here) and queue figures."""

    def __init__(self, viewers: Callable[[], dict[str, int]] | None, queue: tuple[int, float] | None,
                 lines: dict[int, tuple[int, int]] | None = None) -> None:
        self.viewers = viewers
        self.queue = queue
        self.lines = lines  # queue offer id -> (entries, places admitted so far)

    def collect(self) -> Iterable[Metric]:
        if self.viewers is not None:
            family = GaugeMetricFamily("livedrop_viewers", "Viewers connected to this process, per show", labels=["show"])
            for slug, count in sorted(self.viewers().items()):
                family.add_metric([slug], count)
            yield family
        if self.queue is not None:
            pending, oldest_age_s = self.queue
            yield GaugeMetricFamily("livedrop_outbox_pending", "Webhooks and emails committed and not yet sent", value=pending)
            yield GaugeMetricFamily("livedrop_outbox_oldest_age_seconds",
                                    "Age of the oldest unsent outbox event (0 when none): the outbox's lag", value=oldest_age_s)
        if self.lines is not None:
            entries = GaugeMetricFamily("livedrop_queue_entries", "People in a drop's waiting room (queue offers running)",
                                        labels=["offer"])
            admitted = GaugeMetricFamily("livedrop_queue_admitted", "Places of a drop's waiting room admitted so far",
                                         labels=["offer"])
            for offer_id, (count, upto) in sorted(self.lines.items()):
                entries.add_metric([str(offer_id)], count)
                admitted.add_metric([str(offer_id)], upto)
            yield entries
            yield admitted


async def outbox_queue(sessions: async_sessionmaker) -> tuple[int, float] | None:
    """(pending events, age of the oldest in seconds), or None when the database does not answer in time."""
    async def query() -> tuple[int, float]:
        async with sessions() as session:
            row = (await session.execute(
                select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.dispatched_at.is_(None)))).one()
        pending, oldest = int(row[0]), row[1]
        return pending, 0.0 if oldest is None else max(0.0, (now_ms() - oldest) / 1000)

    try:
        return await within(query(), QUEUE_QUERY_S)
    except Exception:  # a scrape during an outage still answers, without these two
        return None


async def waiting_lines(redis: Any) -> dict[int, tuple[int, int]] | None:
    """Queue offer id -> (entries, admitted up to) for the waiting rooms the admission clock still
    raises (live.keys.QUEUE_OFFERS); None when Redis does not answer in time. Two reads per line:
    a drop has a handful of lines at once, not thousands."""
    async def query() -> dict[int, tuple[int, int]]:
        lines: dict[int, tuple[int, int]] = {}
        for raw in await redis.zrange(live_keys.QUEUE_OFFERS, 0, 99):
            offer_id = int(raw)
            count = await redis.llen(live_keys.queue(offer_id, "entries"))
            upto = await redis.hget(live_keys.queue(offer_id, "state"), "admitted_upto")
            lines[offer_id] = (int(count), int(upto or 0))
        return lines

    try:
        return await within(query(), QUEUE_QUERY_S)
    except Exception:  # a scrape during an outage still answers, without these
        return None


async def render(services: Services, viewers: Callable[[], dict[str, int]] | None) -> bytes:
    """The Prometheus text exposition of this process (or of every process, in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        base = generate_latest(registry)
    else:
        base = generate_latest(REGISTRY)
    live = CollectorRegistry(auto_describe=False)
    live.register(LiveGauges(viewers, await outbox_queue(services.sessions), await waiting_lines(services.redis)))
    return base + generate_latest(live)


CONTENT_TYPE = CONTENT_TYPE_LATEST


async def probe_forever(services: Services) -> None:
    """Round trips to Redis and the database every PROBE_EVERY_S: the latency series that need no
    instrumenting of the hot paths. A failed probe is the outage log's business, not ours."""
    while True:
        started = time.perf_counter()
        with contextlib.suppress(Exception):
            await within(services.redis.ping(), 2)
            REDIS_SECONDS.observe(time.perf_counter() - started)
        started = time.perf_counter()
        with contextlib.suppress(Exception):
            await within(database_answers(services.engine), 2)
            DATABASE_SECONDS.observe(time.perf_counter() - started)
        raise_if_cancelled()  # redis-py may have swallowed the cancel that stops this loop (inventory.timeouts)
        await asyncio.sleep(PROBE_EVERY_S)


def mark_process_dead() -> None:
    """In multiprocess mode, a process's live gauges stop counting once it exits."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(os.getpid())
