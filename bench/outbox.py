"""Benchmark of the outbox: events per second from commit to a loopback receiver's 2xx, and the
delay of each (p50, p99), with 1,000 orders paid in a burst. Prints JSON.

    .venv/bin/python -m bench.outbox [--orders 1000] [--writers 8] [--backlog] [--runs 1]

With ``--backlog`` every event is committed before the worker starts: events/s is then the
worker's own (in a burst, the 8 writers and the worker share this one process's CPU, and events/s
cannot beat the commit rate); delays then include the wait for the worker's start.
With ``--runs N`` it runs N times (a fresh host and endpoint each) and adds the medians: the
machine is shared and noisy, one run says little.

What it writes: the order.paid events themselves, each in a transaction of its own (as the
checkout's commit writes it), through ``inventory.outbox.announce``; not the whole checkout path
(holds, payments), whose own speed bench/drop.py measures. The outbox adds one INSERT to that
transaction and nothing to the hold path. The worker is the real ``OutboxWorker`` run as the job
runs it (a tick, then OUTBOX_EVERY_S of rest), with the real signing ``WebhookSender``; the
receiver is a Starlette app under uvicorn on 127.0.0.1 that verifies every signature with
``standardwebhooks``. Delay: from the event's commit (its created_at) to the receiver's 2xx.
Database: DATABASE_URL when set, else a SQLite file in a fresh folder (the embedded default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from inventory.deliveries import OutboxDelivery, WebhookEndpoint, webhook_channel
from inventory.outbox import announce
from live.outbox_worker import OutboxWorker
from live.webhook_sender import WebhookSender, new_secret
from live.webhook_urls import UrlPolicy
from tests.outbox.receiver import Receiver, serve_receiver
from web.auth import create_host
from web.database import make_engine, make_sessionmaker, upgrade
from web.livedrop import OUTBOX_EVERY_S
from web.settings import Settings


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main(orders: int, writers: int, backlog: bool = False) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="livedrop-bench-outbox-"))
    try:
        settings = Settings.from_env({"LIVEDROP_DATA_DIR": str(data_dir), "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
                                      "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-key-0123456789abcdef")})
        engine = make_engine(settings.database_url)
        await upgrade(engine, lock_dir=data_dir)
        sessions = make_sessionmaker(engine)
        host = await create_host(sessions, f"bench-{time.time_ns()}@example.com", "a long bench password")

        receiver = Receiver(secret=new_secret())
        arrived_ms: dict[str, int] = {}
        original = receiver.hook

        async def timed(request):  # type: ignore[no-untyped-def]
            answer = await original(request)
            got = receiver.received[-1]
            if got.verified is not None:
                arrived_ms.setdefault(got.headers["webhook-id"], time.time_ns() // 1_000_000)
            return answer

        receiver.hook = timed  # type: ignore[method-assign]
        server, server_task = await serve_receiver(receiver)
        async with sessions() as session, session.begin():
            endpoint = WebhookEndpoint(host_id=host.id, url=receiver.url, events=["order.paid"], secret=receiver.secret,
                                       created_at=time.time_ns() // 1_000_000)
            session.add(endpoint)

        committed_ms: dict[str, int] = {}

        async def writer(start: int) -> None:
            for n in range(start, orders, writers):
                async with sessions() as session, session.begin():
                    event = announce(session, "order.paid", {"order_id": f"bench-{n}", "number": f"B{n:05d}", "total_cents": 9900,
                                                            "currency": "USD"}, host_id=host.id)
                committed_ms[event.id] = time.time_ns() // 1_000_000

        worker = OutboxWorker(sessions, WebhookSender(UrlPolicy(https_only=False, allow_private=True)), None)
        stop = asyncio.Event()

        async def job() -> None:  # as web.jobs runs it: a tick, then rest
            while not stop.is_set():
                await worker.tick()
                await asyncio.sleep(OUTBOX_EVERY_S)

        started = time.perf_counter()
        if backlog:  # every event committed before the worker starts: its own speed, not sharing the CPU with writers
            await asyncio.gather(*(writer(i) for i in range(writers)))
            wrote_s = time.perf_counter() - started
            started = time.perf_counter()
            job_task = asyncio.create_task(job())
        else:
            job_task = asyncio.create_task(job())
            await asyncio.gather(*(writer(i) for i in range(writers)))
            wrote_s = time.perf_counter() - started
        deadline = time.monotonic() + 300
        while len(arrived_ms) < orders and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        elapsed_s = time.perf_counter() - started
        stop.set()
        await job_task
        await worker.webhooks.close()
        server.should_exit = server.force_exit = True
        await server_task

        delays = [arrived_ms[i] - committed_ms[i] for i in committed_ms if i in arrived_ms]
        unverified = sum(1 for r in receiver.received if r.verified is None)
        async with sessions() as session:
            delivered = (await session.execute(select(func.count()).select_from(OutboxDelivery).where(  # this run's only
                OutboxDelivery.channel == webhook_channel(endpoint.id), OutboxDelivery.status == "delivered"))).scalar_one()
        await engine.dispose()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)  # after the engine closed: the SQLite file and the migration lock
    return {
        "benchmark": "outbox", "database": settings.database_url.split(":", 1)[0], "orders": orders, "writers": writers,
        "what_is_written": "order.paid events through inventory.outbox.announce, one transaction each (not the full checkout)",
        "job_rest_s": OUTBOX_EVERY_S, "mode": "backlog" if backlog else "burst",
        "write_s": round(wrote_s, 3), "commits_per_s": round(orders / wrote_s, 1),
        "elapsed_s": round(elapsed_s, 3), "events_per_s": round(len(arrived_ms) / elapsed_s, 1),
        "delivered": len(arrived_ms), "delivered_rows": delivered, "requests": len(receiver.received), "unverified": unverified,
        "delay_ms": {"p50": percentile(delays, 0.5), "p99": percentile(delays, 0.99), "max": max(delays)} if delays else None,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=1, help="run this many times and add the medians")
    parser.add_argument("--backlog", action="store_true",
                        help="commit every event before the worker starts (events/s and delays: the worker's alone)")
    args = parser.parse_args()
    if args.runs <= 1:
        print(json.dumps(asyncio.run(main(args.orders, args.writers, args.backlog)), indent=2))
    else:
        runs = [asyncio.run(main(args.orders, args.writers, args.backlog)) for _ in range(args.runs)]
        delays = [r["delay_ms"] for r in runs if isinstance(r["delay_ms"], dict)]
        print(json.dumps({
            "benchmark": "outbox", "runs": runs,
            "median": {"events_per_s": statistics.median(float(r["events_per_s"]) for r in runs),
                       "delay_p50_ms": statistics.median(d["p50"] for d in delays) if delays else None,
                       "delay_p99_ms": statistics.median(d["p99"] for d in delays) if delays else None},
        }, indent=2))
