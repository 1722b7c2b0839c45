"""The SQL engine and migrations.

Migrations run under a lock so several processes starting at once do not race: a PostgreSQL
advisory lock, or for the SQLite default a file lock in the data folder.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import uuid
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).parent
MIGRATION_LOCK_ID = 0x6C697665  # "live": the PostgreSQL advisory lock key


# Per process: 10 kept plus 10 more under a burst. Four processes (three `serve` and a worker) then
# open at most 80 connections, inside PostgreSQL's default max_connections of 100 with room for
# `livedrop status`, migrations run by hand and an operator's psql. The old 20 + 20 passed 100
# with three web processes and a worker. docs/deployment.md says how to size them.
DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_OVERFLOW = 10


def make_engine(database_url: str, *, pool_size: int = DEFAULT_POOL_SIZE, max_overflow: int = DEFAULT_MAX_OVERFLOW,
                pgbouncer: bool = False) -> AsyncEngine:
    """The engine of ``database_url``. ``pgbouncer``: the URL is a PgBouncer in transaction pooling
    mode, where consecutive transactions of one client may run on different server connections, so
    a statement prepared on one is unknown on the next (asyncpg: "prepared statement ... does not
    exist"). asyncpg's and SQLAlchemy's statement caches are turned off and each statement gets a
    name of its own, so two clients never collide on one server connection either."""
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
            # WAL lets the web and worker processes read while one writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives a crash of the process (only power loss may drop the last
            # commits) and saves an fsync per commit: thousands of new buyers arrive in a drop.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {}
    if pgbouncer:
        connect_args = {
            "statement_cache_size": 0,  # asyncpg's own cache
            "prepared_statement_cache_size": 0,  # SQLAlchemy's asyncpg dialect's cache
            "prepared_statement_name_func": lambda: f"__livedrop_{uuid.uuid4().hex}__",
        }
    return create_async_engine(database_url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
                               connect_args=connect_args)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def pending_migrations(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_revision)
    return current != _head_revision()


async def upgrade(engine: AsyncEngine, lock_dir: Path | None = None, *, transaction_pooling: bool = False) -> None:
    """Apply every pending migration, holding the migration lock while doing so."""
    if engine.dialect.name == "postgresql" and transaction_pooling:
        # Through PgBouncer (transaction pooling) a session's advisory lock could be taken on one
        # server connection and released on another: one transaction, with a lock that ends with it.
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_ID})
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
        return
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_ID})
            try:
                await conn.commit()
                await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
                await conn.commit()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_ID})
                await conn.commit()
        return

    lock_path = (lock_dir or Path.cwd()) / "migrate.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
