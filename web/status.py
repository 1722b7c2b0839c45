"""``livedrop status``: what an operator asks first. Who runs the background jobs (the job lease and
the worker's heartbeat), how many viewers each live show has (across every process, as Redis
counts them), and whether Redis and the database answer (with their round-trip times).

It reads only; it never starts the embedded redis-server (a data folder whose server is not
running says so) and never migrates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.timeouts import within
from live.models import Show
from live.presence import Presence
from web.database import make_engine, make_sessionmaker
from web.embedded_redis import EmbeddedRedis
from web.jobs import LEASE_KEY, WORKER_HEARTBEAT_KEY
from web.services import database_answers, make_redis
from web.settings import Settings, redacted

PROBE_TIMEOUT_S = 3.0


@dataclass
class Status:
    redis: str = "unknown"  # "ok (0.4 ms)" or "unavailable: ..."
    database: str = "unknown"
    job_lease: str | None = None  # who holds it (host:pid:nonce), or None
    job_lease_ttl_ms: int | None = None
    worker_alive: str | None = None  # the worker's heartbeat (its owner id), or None when no worker runs
    shows: list[dict[str, Any]] = field(default_factory=list)  # live shows: slug, title, viewers

    @property
    def healthy(self) -> bool:
        return self.redis.startswith("ok") and self.database.startswith("ok")

    def lines(self) -> list[str]:
        lease = (f"{self.job_lease} (expires in {self.job_lease_ttl_ms} ms)" if self.job_lease
                 else "nobody (jobs are not running: start `livedrop worker` or `livedrop serve`)")
        out = [f"redis:       {self.redis}", f"database:    {self.database}", f"job lease:   {lease}",
               f"worker:      {'alive (' + self.worker_alive + ')' if self.worker_alive else 'none running (a serve process runs the jobs)'}"]
        if not self.shows:
            out.append("live shows:  none")
        else:
            out.append(f"live shows:  {len(self.shows)}")
            out += [f"  {show['slug']:<30} {show['viewers']:>7} viewer(s)  {show['title']}" for show in self.shows]
        return out


async def gather_status(settings: Settings) -> Status:
    status = Status()
    redis_url = settings.redis_url
    if redis_url is None:
        socket_path = EmbeddedRedis(settings.data_dir).socket_path
        redis_url = f"unix://{socket_path}" if socket_path.exists() else None
    redis: aioredis.Redis | None = make_redis(redis_url) if redis_url else None
    engine: AsyncEngine = make_engine(settings.database_url, pool_size=1, max_overflow=0, pgbouncer=settings.db_pgbouncer)
    try:
        if redis is None:
            status.redis = f"unavailable: the embedded redis-server of {settings.data_dir} is not running"
        else:
            status.redis = await _timed(redis.ping(), redacted(redis_url or ""))
        status.database = await _timed(database_answers(engine), redacted(settings.database_url))
        if redis is not None and status.redis.startswith("ok"):
            pipe = redis.pipeline(transaction=False)
            pipe.get(LEASE_KEY)
            pipe.pttl(LEASE_KEY)
            pipe.get(WORKER_HEARTBEAT_KEY)
            status.job_lease, ttl, status.worker_alive = await pipe.execute()
            status.job_lease_ttl_ms = ttl if ttl and ttl > 0 else None
        if status.database.startswith("ok"):
            async with make_sessionmaker(engine)() as session:
                shows = (await session.execute(select(Show).where(Show.status == "live").order_by(Show.slug))).scalars().all()
            presence = Presence(redis) if redis is not None and status.redis.startswith("ok") else None
            for show in shows:
                viewers = (await presence.totals(show.id))[0] if presence is not None else None
                status.shows.append({"slug": show.slug, "title": show.title, "viewers": viewers})
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
    return status


async def _timed(call: Any, where: str) -> str:
    started = time.perf_counter()
    try:
        await within(call, PROBE_TIMEOUT_S)
    except Exception as exc:  # any failure: say which and where
        return f"unavailable: {type(exc).__name__} at {where}"
    return f"ok ({(time.perf_counter() - started) * 1000:.1f} ms, {where})"
