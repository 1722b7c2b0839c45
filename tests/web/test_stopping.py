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


async def test_a_job_that_swallows_its_cancel_is_left_behind_with_where_it_waits_and_the_lease_released(
        redis, caplog: pytest.LogCaptureFixture) -> None:
    """web.jobs: a stopped job gets STOP_GRACE_S to finish its run, then CANCEL_GRACE_S once
    cancelled; one still running (a library swallowed the cancel) is logged with its stack, and
    the runner goes on (here: releases the lease and ends)."""
    from web.jobs import LEASE_KEY, Job, JobRunner

    entered, release = asyncio.Event(), asyncio.Event()

    async def _swallows_its_cancel() -> None:
        entered.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                pass  # as a client library that loses the cancellation would

    runner = JobRunner(redis, [Job("stubborn", 30.0, _swallows_its_cancel)], is_worker=False)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        async with asyncio.timeout(10):
            await entered.wait()
        [job] = [t for t in asyncio.all_tasks() if t.get_name() == "job:stubborn"]
        with caplog.at_level(logging.ERROR, logger="livedrop.stopping"):
            stop.set()
            async with asyncio.timeout(10):  # 1.5 s to finish, 1 s once cancelled; never for good
                await running
        [record] = [r for r in caplog.records if r.name == "livedrop.stopping"]
        assert "background jobs (job:stubborn) still running" in record.getMessage()
        # Where it waits, innermost first, down the chain of awaited coroutines (Task.get_stack()
        # alone gives only the outermost frame, the runner's loop, which says nothing about why).
        assert "job:stubborn: wait (locks.py:" in record.getMessage()
        assert "_swallows_its_cancel (test_stopping.py:" in record.getMessage()
        assert "_loop (jobs.py:" in record.getMessage()
        assert not job.done()  # left behind
        assert await redis.get(LEASE_KEY) is None  # and the lease released after all
    finally:
        release.set()
        stop.set()
        await asyncio.gather(running, *[t for t in asyncio.all_tasks() if t.get_name() == "job:stubborn"],
                             return_exceptions=True)
