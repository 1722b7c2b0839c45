"""The connections a livedrop process holds: Redis, the SQL engine, and the embedded redis-server
when no REDIS_URL is set. Built from settings at start (never at import), checked before use, and
closed in reverse order."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from inventory.epochs import ConnectionCheck
from inventory.faults import DATABASE, REDIS, Outages
from web.database import make_engine, make_sessionmaker, pending_migrations, upgrade
from web.embedded_redis import EmbeddedRedis
from web.settings import Settings, redacted


class ServiceUnreachable(RuntimeError):
    """Redis or the database did not answer; the message names which and where."""


@dataclass
class Services:
    settings: Settings
    redis: aioredis.Redis
    engine: AsyncEngine
    sessions: async_sessionmaker
    embedded_redis: EmbeddedRedis | None = None
    payments_redis: aioredis.Redis | None = None  # the test payment provider's own (None: ``redis``)
    # Redis and database outages, logged once each way (inventory.faults); probed with the same
    # calls as /readyz.
    outages: Outages = field(init=False)

    def __post_init__(self) -> None:
        self.outages = Outages({REDIS: self.redis.ping, DATABASE: lambda: database_answers(self.engine)})

    async def close(self) -> None:
        await self.outages.close()
        if self.payments_redis is not None:
            await self.payments_redis.aclose()
        await self.redis.aclose()
        await self.engine.dispose()
        if self.embedded_redis is not None:
            self.embedded_redis.release()
            self.embedded_redis = None


def make_redis(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        # socket_timeout well above the hub's 2 s blocking stream reads, so a busy event loop is not
        # mistaken for a dead Redis.
        url, decode_responses=True, socket_connect_timeout=5, socket_timeout=15, health_check_interval=30,
        max_connections=512, retry=redis_retry(),
        # Each new connection is checked against the server stock was rebuilt on (inventory.epochs).
        redis_connect_func=ConnectionCheck().on_connect,
    )


def redis_retry() -> Retry:
    """One immediate resend on a new connection when a command's connection turns out dead.

    That is a pooled connection Redis closed while it sat idle (a restart, a failover, an idle
    timeout): without the resend, each such connection failed the next request to use it, after
    /readyz was 200 again (tests/web/test_outage.py saw them up to 1.8 s later: connections sit in
    the pool until a burst needs them). The resend is immediate (no backoff), so it succeeds only
    when Redis itself answers right away: a command that was lost with the connection of a Redis
    that just died finds it still down, and the request is answered 503. In the rare case left
    (Redis ran the command, then the connection broke while Redis stayed up) stock and money are
    safe to send twice: the inventory scripts are idempotent state changes (a hold per buyer and
    Idempotency-Key, lock/commit/release by the hold's state, charges by their key). What is not
    idempotent would at worst show twice and moves no stock: a show event appended again (the
    hub's append script), a purchase-ticker line, a reaction or rate-limit count.

    Only ConnectionError: a TimeoutError means Redis did not answer within socket_timeout (15 s)
    and may still be running the command; sending it again would double that wait and the load."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


async def open_services(settings: Settings, *, migrate: bool | None = None) -> Services:
    """Connect to Redis and the database (starting the embedded redis-server if needed) and check
    that both answer. With ``migrate`` (default: the setting), pending migrations are applied;
    without it, pending migrations are an error."""
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if redis_url is None:
        embedded = EmbeddedRedis(settings.data_dir)
        redis_url = embedded.acquire()
    redis_client = make_redis(redis_url)
    engine = make_engine(settings.database_url)
    services = Services(settings, redis_client, engine, make_sessionmaker(engine), embedded)
    if settings.payments_redis_url is not None:
        services.payments_redis = make_redis(settings.payments_redis_url)
    try:
        await check_redis(redis_client, redis_url)
        await check_database(engine, settings.database_url)
        should_migrate = settings.migrate_on_start if migrate is None else migrate
        if should_migrate:
            await upgrade(engine, lock_dir=settings.data_dir)
        elif await pending_migrations(engine):
            raise ServiceUnreachable(
                f"the database at {redacted(settings.database_url)} has pending migrations; "
                "run `livedrop db upgrade` first"
            )
    except BaseException:
        await services.close()
        raise
    return services


async def check_redis(client: aioredis.Redis, url: str) -> None:
    try:
        await client.ping()
    except Exception as exc:  # redis raises several unrelated types for "cannot connect"
        raise ServiceUnreachable(f"could not reach Redis at {redacted(url)}: {exc}") from exc


async def database_answers(engine: AsyncEngine) -> None:
    """SELECT 1 on a connection of the pool; raises when the database does not answer."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_database(engine: AsyncEngine, url: str) -> None:
    try:
        await database_answers(engine)
    except Exception as exc:
        raise ServiceUnreachable(f"could not reach the database at {redacted(url)}: {exc}") from exc
