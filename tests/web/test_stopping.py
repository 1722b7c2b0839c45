"""web.stopping: a cleanup step that never ends costs its limit, says where it waited, and the
next step still runs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from web.stopping import bounded_step


async def _waits_for_nobody(never: asyncio.Future[None]) -> None:
    await never


async def test_a_step_that_never_ends_is_left_behind_with_where_it_waited(caplog: pytest.LogCaptureFixture) -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.ERROR, logger="livedrop.stopping"):
        finished = await bounded_step("the stuck part", _waits_for_nobody(never), limit_s=0.2)
    assert finished is False
    assert 0.2 <= loop.time() - started < 2.0
    [record] = [r for r in caplog.records if r.name == "livedrop.stopping"]
    assert "the stuck part still running" in record.getMessage()
    assert "_waits_for_nobody (test_stopping.py:" in record.getMessage()


async def test_a_failing_step_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("redis went away")

    ran: list[str] = []

    async def next_step() -> None:
        ran.append("next")

    with caplog.at_level(logging.WARNING, logger="livedrop.stopping"):
        assert await bounded_step("webhook sender", fails()) is True
        assert await bounded_step("hub", next_step()) is True
    assert ran == ["next"]
    assert any("webhook sender failed: RuntimeError('redis went away')" in r.getMessage() for r in caplog.records)


async def test_cancelling_the_caller_cancels_the_step() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    step = asyncio.ensure_future(_waits_for_nobody(never))
    caller = asyncio.create_task(bounded_step("slow", step, limit_s=30))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0)
    assert step.cancelled()
