"""The connections a livedrop process holds: Redis, the SQL engine, and the embedded redis-server
when no REDIS_URL is set. Built from settings at start (never at import), checked before use, and
closed in reverse order."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

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

    async def close(self) -> None:
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
        max_connections=512,
    )


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


async def check_database(engine: AsyncEngine, url: str) -> None:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnreachable(f"could not reach the database at {redacted(url)}: {exc}") from exc
