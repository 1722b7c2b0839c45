"""The connections a livedrop process holds: Redis, the SQL engine, and the embedded redis-server
when no REDIS_URL is set. Built from settings at start (never at import), checked before use, and
closed in reverse order."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from inventory.faults import DATABASE, REDIS, Outages
from web.database import make_engine, make_sessionmaker, pending_migrations, upgrade
from inventory.redis_cluster import is_cluster
from web.embedded_redis import EmbeddedRedis
from web.redis_clients import close_redis, make_redis, redis_retry

__all__ = ["Services", "ServiceUnreachable", "make_redis", "redis_retry", "open_services"]
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
        self.outages = Outages({REDIS: lambda: redis_answers(self.redis), DATABASE: lambda: database_answers(self.engine)})

    async def close(self) -> None:
        await self.outages.close()
        if self.payments_redis is not None:
            await close_redis(self.payments_redis)
        await close_redis(self.redis)
        await self.engine.dispose()
        if self.embedded_redis is not None:
            self.embedded_redis.release()
            self.embedded_redis = None


async def open_services(settings: Settings, *, migrate: bool | None = None) -> Services:
    """Connect to Redis and the database (starting the embedded redis-server if needed) and check
    that both answer. With ``migrate`` (default: the setting), pending migrations are applied;
    without it, pending migrations are an error."""
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if redis_url is None:
        embedded = EmbeddedRedis(settings.data_dir)
        redis_url = embedded.acquire()
    redis_client = make_redis(redis_url, sentinel_password=settings.sentinel_password)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                         pgbouncer=settings.db_pgbouncer)
    services = Services(settings, redis_client, engine, make_sessionmaker(engine), embedded)
    if settings.payments_redis_url is not None:
        services.payments_redis = make_redis(settings.payments_redis_url, sentinel_password=settings.sentinel_password)
    try:
        await check_redis(redis_client, redis_url)
        await check_database(engine, settings.database_url)
        should_migrate = settings.migrate_on_start if migrate is None else migrate
        if should_migrate:
            await upgrade(engine, lock_dir=settings.data_dir, transaction_pooling=settings.db_pgbouncer)
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
        await redis_answers(client)
    except Exception as exc:  # redis raises several unrelated types for "cannot connect"
        raise ServiceUnreachable(f"could not reach Redis at {redacted(url)}: {exc}") from exc


async def redis_answers(redis: aioredis.Redis) -> None:
    """PING; in a Redis Cluster every primary, so /readyz and the outage log say a cluster with a
    primary down (before its replica is promoted) is not all there."""
    if is_cluster(redis):
        await redis.ping(target_nodes=RedisCluster.PRIMARIES)
    else:
        await redis.ping()


async def database_answers(engine: AsyncEngine) -> None:
    """SELECT 1 on a connection of the pool; raises when the database does not answer."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_database(engine: AsyncEngine, url: str) -> None:
    try:
        await database_answers(engine)
    except Exception as exc:
        raise ServiceUnreachable(f"could not reach the database at {redacted(url)}: {exc}") from exc
