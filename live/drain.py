"""A graceful drain: a process that is stopping tells its viewers to move, a few at a time.

On SIGTERM (web.server) every viewer of the process must reconnect elsewhere. Closing them all at
once (what uvicorn does: 1012 to every socket in the same millisecond) sends the whole audience to
the other processes in one burst: 10,000 resumes each asking Redis for the events they missed and
a snapshot. Spreading the closes evenly over a window (``LIVEDROP_DRAIN_SECONDS``, default 10, its
first 8 s) turns that burst into a steady stream of about 1,250 resumes a second, which the other processes absorb
while they keep serving their own viewers. Each viewer is closed with 1012 ("service restart"),
knows the last seq it saw, and resumes with ``?after=`` through the balancer: nothing is missed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable

from live.connection import Connection
from live.metrics import DRAIN_CLOSES

log = logging.getLogger("livedrop.drain")

CLOSE_SERVICE_RESTART = 1012
DRAIN_REASON = "server restarting; reconnect with ?after=<last seq>"


# Closes are spread over this share of the window; the rest is for the last viewers to resume
# elsewhere (a resume took well under 0.5 s in tests/live/test_drain.py), so every viewer has
# moved by the end of the window: 8 s of closes and 2 s of reconnects with the default 10.
CLOSING_SHARE = 0.8


async def drain(connections: Iterable[Connection], window_s: float) -> int:
    """Close every connection with 1012, spread evenly over the first CLOSING_SHARE of
    ``window_s`` seconds (in a random order, so no show moves all at once). Returns how many were
    closed. A connection that closed on its own meanwhile is skipped."""
    pending = [conn for conn in connections if not conn.closed]
    random.shuffle(pending)
    if not pending:
        return 0
    started = time.monotonic()
    # The last close lands at the end of the window; the first after one step, not at once, so
    # even a single viewer is not closed before the balancer has seen this process stop accepting.
    step = window_s * CLOSING_SHARE / len(pending)
    closed = 0
    for index, conn in enumerate(pending, start=1):
        delay = started + index * step - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if not conn.closed:
            conn.close(CLOSE_SERVICE_RESTART, DRAIN_REASON)
            closed += 1
            DRAIN_CLOSES.inc()
    log.info("drain: %d viewer(s) told to reconnect elsewhere over %.1f s", closed, time.monotonic() - started)
    return closed
