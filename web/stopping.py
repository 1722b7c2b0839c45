"""A process's cleanup, one bounded step at a time.

Each step of a shutdown (background jobs, the webhook sender, the epoch watch, the hub, the
connections) is awaited with a limit. A step slower than a second is logged by name; one still
running after ``STEP_LIMIT_S`` is logged with the stack of every task still waiting, cancelled
and left behind, so the rest of the cleanup runs and the process exits.

Why: a drained process once sat more than 10 s after "drained in 2.52 s" without a word (CI, stop
28's session), and three CI runs in a row (stops 28-29) hung for good in a test app's lifespan
exit, with the event loop idle in ``select``: something awaited a future nobody would complete.
Neither reproduced alone. With this, such a step costs ``STEP_LIMIT_S`` and says where it waited.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from types import FrameType
from typing import Any

log = logging.getLogger("livedrop.stopping")

# Every step normally ends in well under a second (about 0.3 s for the whole cleanup; up to 2.5 s
# for a job finishing its run, web.jobs.STOP_GRACE_S). 5 s is beyond any healthy step on a loaded
# two-core machine and still inside a drained process's window (web.server.LIFESPAN_GRACE_S).
STEP_LIMIT_S = 5.0
SLOW_STEP_S = 1.0
LEFT_BEHIND = "stopping: %s still running after %.0f s; cancelled and left behind. Tasks still waiting:\n%s"


async def bounded_step(name: str, step: Awaitable[object], limit_s: float = STEP_LIMIT_S) -> bool:
    """Await ``step`` for at most ``limit_s``; True when it finished (its exception, if any, is
    logged, not raised: the next step must run). A cancellation of the caller cancels the step."""
    started = time.monotonic()
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait({task}, timeout=limit_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        log.error(LEFT_BEHIND, name, limit_s, waiting_tasks())
        task.cancel()
        task.add_done_callback(_retrieved)  # nobody awaits it now: no "exception was never retrieved"
        return False
    took = time.monotonic() - started
    if took > SLOW_STEP_S:
        log.warning("stopping: %s took %.1f s", name, took)
    if not task.cancelled() and task.exception() is not None:
        log.warning("stopping: %s failed: %r", name, task.exception())
    return True


def _retrieved(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()


def waiting_tasks(frames: int = 6) -> str:
    """Every unfinished task of the running loop and where it waits (its innermost frames)."""
    lines: list[str] = []
    current = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is current or task.done():
            continue
        stack = _awaiting_frames(task)
        where = " <- ".join(f"{f.f_code.co_name} ({f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno})"
                            for f in reversed(stack[-frames:]))
        lines.append(f"  {task.get_name()}: {where or 'not started'}")
    return "\n".join(sorted(lines)) or "  (none)"


def _awaiting_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    """The task's frames from its own coroutine down to where it waits. ``Task.get_stack()`` gives
    only the outermost coroutine's frame for a suspended task, so a stuck job read
    ``_loop (jobs.py)`` instead of the line it waited on; following ``cr_await`` down the chain of
    awaited coroutines (and async generators) reaches that line."""
    frames: list[FrameType] = []
    awaited: Any = task.get_coro()
    while awaited is not None and len(frames) < 64:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None) or getattr(awaited, "ag_await", None)
    return frames
