"""inventory.timeouts.within: a cancellation that lands as the awaited thing finishes is kept
(asyncio.wait_for on Python 3.11 drops it, and a clock loop stopped that way runs forever)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from inventory.timeouts import within

ROOT = Path(__file__).resolve().parents[2]


async def _clock(wait: object, event: asyncio.Event, ticks: list[int]) -> None:
    """A loop like the hub's stock clock: wait for a wake-up or a timeout, tick, again."""
    while True:
        try:
            await wait(event.wait(), 1.0)  # type: ignore[operator]
        except TimeoutError:
            pass
        event.clear()
        ticks.append(1)
        await asyncio.sleep(0.01)


async def _cancel_as_it_wakes(wait: object) -> bool:
    """Cancel the clock in the same loop iteration as its event fires; True if it stopped."""
    event = asyncio.Event()
    ticks: list[int] = []
    clock = asyncio.create_task(_clock(wait, event, ticks))
    await asyncio.sleep(0.05)  # parked in the wait
    event.set()  # the inner wait finishes in the next iteration...
    await asyncio.sleep(0)
    clock.cancel()  # ...and the cancellation lands on the same one
    done, _ = await asyncio.wait({clock}, timeout=0.5)
    if not done:
        clock.cancel()  # a second cancel always gets through
        await asyncio.wait({clock}, timeout=0.5)
    return bool(done)


async def test_within_keeps_a_cancellation_that_races_the_wake_up() -> None:
    assert all([await _cancel_as_it_wakes(within) for _ in range(20)])


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 rebuilt wait_for on asyncio.timeout")
async def test_wait_for_on_this_python_loses_it_which_is_why_within_exists() -> None:
    assert not any([await _cancel_as_it_wakes(asyncio.wait_for) for _ in range(3)])


async def test_within_times_out_and_passes_results_through() -> None:
    assert await within(asyncio.sleep(0, result="answer"), 1) == "answer"
    with pytest.raises(TimeoutError):
        await within(asyncio.sleep(5), 0.05)


def test_no_module_awaits_asyncio_wait_for() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for layer in ("inventory", "live", "web")
        for path in sorted((ROOT / layer).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\basyncio\.wait_for\(", line) and not line.lstrip().startswith("#")
    ]
    assert offenders == [], "use inventory.timeouts.within: asyncio.wait_for loses cancellations on 3.11"


async def _swallows_a_cancel(swallowed: list[int]) -> None:
    """What redis-py's send does on 3.11 when a cancel lands as it finishes (inventory.timeouts);
    only the first one, so that the test can still stop a loop that does not check."""
    try:
        await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        if swallowed:
            raise
        swallowed.append(1)


async def test_a_loop_checking_raise_if_cancelled_stops_although_a_library_swallowed_the_cancel() -> None:
    from inventory.timeouts import raise_if_cancelled

    async def loop(check: bool) -> None:
        swallowed: list[int] = []
        while True:
            if check:
                raise_if_cancelled()
            await _swallows_a_cancel(swallowed)

    for check, stops in ((True, True), (False, False)):
        task = asyncio.create_task(loop(check))
        await asyncio.sleep(0.005)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.3)
        assert bool(done) is stops, check
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=0.3)
