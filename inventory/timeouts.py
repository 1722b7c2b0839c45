"""``within``: asyncio.wait_for without Python 3.11's lost cancellation.

On Python 3.11, ``asyncio.wait_for`` returns the inner result when the task is cancelled in the
same loop iteration as the inner awaitable finishes: the cancellation is swallowed (CPython
gh-86296, fixed in 3.12 by rebuilding wait_for on ``asyncio.timeout``). A loop that awaits
``wait_for`` and is stopped with ``task.cancel()`` then goes on forever, and whoever awaits the
task waits forever with the event loop idle in ``select``. That is how three CI runs in a row
(stops 28-29) hung in a test app's cleanup, in a different test each time (about 1 cleanup in
1,000): the metrics probe's ``wait_for(redis.ping(), 2)`` and the stock clock's
``wait_for(wake.wait(), 1)`` loop until cancelled. ``asyncio.timeout`` (3.11+) keeps the
cancellation, so every timeout in livedrop goes through here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """``await awaitable``, raising TimeoutError after ``seconds`` (None: no limit), and a
    cancellation of the caller always propagates."""
    async with asyncio.timeout(seconds):
        return await awaitable


def raise_if_cancelled() -> None:
    """Raise CancelledError when the current task has been told to stop, although what it awaited
    returned normally. Called by every loop that runs until cancelled, before each of its waits.

    ``within`` is not enough: redis-py sends every command through ``asyncio.wait_for`` (its
    socket_timeout, redis/asyncio/connection.py ``send_packed_command``), so on Python 3.11 a
    cancellation that lands as a command's send finishes is swallowed inside the library. A test
    app that pinged Redis at start-up lost its metrics probe's cancel that way in 3 teardowns of 3
    (tests/web/test_openapi.py, before this check)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
