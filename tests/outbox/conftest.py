"""The outbox tests run the real app without its job runner: each test drives its own
``OutboxWorker`` (the same class the job runs) on a clock it controls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.outbox.receiver import Receiver, serve_receiver
from web.settings import Settings


class Clock:
    """Milliseconds that move only when the test says so."""

    def __init__(self, start: int = 1_900_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def outbox_settings(settings: Settings) -> Settings:
    return settings.with_overrides(webhook_allow_private=True)  # the receivers listen on 127.0.0.1


@pytest.fixture
async def outbox_app(outbox_settings: Settings, redis, engine, sessions):  # type: ignore[no-untyped-def]
    from web.app import create_app
    from web.services import Services

    application = create_app(outbox_settings, Services(outbox_settings, redis, engine, sessions), run_jobs=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(outbox_app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=outbox_app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    server, task = await serve_receiver(hook)
    yield hook
    if hook.hang is not None:
        hook.hang.set()
    # Workers keep connections alive; a graceful shutdown would wait for them.
    server.should_exit = server.force_exit = True
    await task


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Statements:
    """Every statement the engine sends, as text with its whitespace collapsed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        self.seen.append(" ".join(statement.split()))

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[Statements]:
    counter = Statements()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine.sync_engine, "before_cursor_execute", counter)
