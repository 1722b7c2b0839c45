"""Faults of the services livedrop stands on: Redis and the database.

``fault_of(exc)`` says which of them an exception shows to be unreachable (None: the exception is
not a dependency fault but a bug, to be answered 500 and logged with its traceback).

``Outages`` is one process's record of its current outages. The web app's exception handler,
``/readyz`` and the background loops report faults to it instead of logging each one: the first
fault of an outage is logged (one line), the dependency is then probed a few times a second, and
when it answers again one more line says how long it was gone and how many requests were refused
meanwhile. A 1.5 s Redis restart used to write about 65 tracebacks; now it writes two lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import asyncpg.exceptions
import redis.exceptions
import sqlalchemy.exc

from inventory.timeouts import raise_if_cancelled, within

log = logging.getLogger("livedrop.outage")

REDIS = "redis"
DATABASE = "database"

_REDIS_FAULTS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # refused, reset, closed; also BusyLoadingError (restarting)
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a replica answering after a failover, until clients move over
    # A Redis Cluster mid-failover: CLUSTERDOWN until the replica is promoted (1-3 node timeouts),
    # TRYAGAIN for a multi-key call on a slot mid-migration, and redis-py's "TTL exhausted" when
    # the slot kept moving; a Sentinel replica whose primary is gone answers MASTERDOWN.
    redis.exceptions.ClusterError,  # ClusterDownError too
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
    redis.exceptions.SlotNotCoveredError,
)


class RedisPoolExhausted(redis.exceptions.ConnectionError):
    """Every connection of this process's own Redis pool stayed in use for the whole wait
    (web.redis_clients.WaitingConnectionPool): the process has more calls in flight than its pool,
    which says nothing of Redis itself. A ConnectionError still, so every handler that answers a
    Redis fault 503 ``unavailable`` answers this one the same; the outage log names it for what it
    is instead of "redis unavailable". Here, not in web, so that log (this module) can tell it apart."""

    def __init__(self, max_connections: int, waited_s: float) -> None:
        super().__init__(f"redis pool exhausted: every one of {max_connections} connections busy for {waited_s:g} s")
        self.max_connections = max_connections
        self.waited_s = waited_s


_NON_LOCAL_KEY = "Script attempted to access a non local key"
_DATABASE_FAULTS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,  # refused, gone, locked, out of disk: what the DBAPI calls operational
    sqlalchemy.exc.InterfaceError,  # the connection is closed
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time: the database is not keeping up
    asyncpg.exceptions.PostgresConnectionError,  # class 08: the connection failed or is gone
    asyncpg.exceptions.OperatorInterventionError,  # class 57: starting up, shutting down, crashed
    asyncpg.exceptions.TooManyConnectionsError,
)
# asyncpg raises a refused or reset connect as the OSError itself, unwrapped by SQLAlchemy (seen
# with an engine pointed at a closed port); it counts when it came through the database driver, so
# that a client's own broken connection is not taken for a database outage.
_DRIVERS = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def fault_of(exc: BaseException) -> str | None:
    """REDIS or DATABASE when ``exc`` says that service does not answer; None otherwise."""
    if isinstance(exc, _REDIS_FAULTS):
        return REDIS
    if isinstance(exc, redis.exceptions.ResponseError) and _NON_LOCAL_KEY in str(exc):
        return REDIS  # a script on a Redis Cluster slot mid-migration (docs/redis-cluster.md): retry shortly
    if isinstance(exc, (AttributeError, TypeError)) and _raised_in(exc, ("redis.asyncio.connection",)):
        # redis-py 8.1 lets a write on a connection the server (or a failover) just closed fail as
        # the transport's own AttributeError/TypeError instead of ConnectionError
        # (redis/redis-py#4287); seen here as "'NoneType' object has no attribute 'writelines'"
        # in 2 of ~280 requests while a cluster primary was killed. A lost connection: 503.
        return REDIS
    if isinstance(exc, _DATABASE_FAULTS):
        return DATABASE
    if isinstance(exc, ConnectionError) and _raised_in(exc, _DRIVERS):
        return DATABASE
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and (
        exc.connection_invalidated or isinstance(exc.orig, _DATABASE_FAULTS)
    ):
        return DATABASE
    return None


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    """Whether code of one of ``modules`` is on ``exc``'s way up (its traceback)."""
    frame = exc.__traceback__
    while frame is not None:
        if str(frame.tb_frame.f_globals.get("__name__", "")).startswith(modules):
            return True
        frame = frame.tb_next
    return False


Probe = Callable[[], Awaitable[object]]


@dataclass
class _Outage:
    since: float  # time.monotonic() of the first fault
    refused: int = 0  # requests answered 503 since


class Outages:
    """The open outages of one process, each logged once when it starts and once when it ends.

    ``probes`` tell whether a dependency answers again (a Redis PING, a database SELECT 1); a
    dependency without a probe stays reported as down until ``close``."""

    def __init__(self, probes: Mapping[str, Probe], *, probe_every_s: float = 0.25, probe_timeout_s: float = 2.0) -> None:
        self._probes = dict(probes)
        # 0.25 s: recovery is seen (and logged) within a quarter second; four PINGs a second
        # while a dependency is down cost nothing.
        self.probe_every_s = probe_every_s
        # As /readyz: a dependency that needs more than 2 s to answer one probe is not back.
        self.probe_timeout_s = probe_timeout_s
        self._open: dict[str, _Outage] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._settled: dict[str, list[Callable[[], bool]]] = {}

    def back_only_when(self, dependency: str, settled: Callable[[], bool]) -> None:
        """A dependency that answers its probe is back only once ``settled()`` is true as well.
        Redis answering PING after a restart is not Redis back: until stock is rebuilt on the new
        server (inventory.epochs), every new connection is refused. Declaring it back at the PING
        logged "back", then a second outage, then "back" again (CI, 2026-12-01: PING answered
        51 ms before the rebuild ended)."""
        self._settled.setdefault(dependency, []).append(settled)

    def report(self, exc: BaseException, *, refused: bool) -> str | None:
        """Record ``exc`` if it is a dependency fault (``refused``: a request was answered 503
        because of it). Returns the dependency, or None when ``exc`` is no dependency fault and
        the caller should treat it as the bug it is."""
        dependency = fault_of(exc)
        if dependency is None:
            return None
        outage = self._open.get(dependency)
        if outage is None:
            outage = self._open[dependency] = _Outage(time.monotonic())
            if isinstance(exc, RedisPoolExhausted):
                # Not "redis unavailable": Redis may be answering every call this process gets a connection for.
                log.warning("%s; answering 503 until it is back", exc)
            elif isinstance(exc, redis.exceptions.MaxConnectionsError):
                # The Cluster client's node pools still fail at once when full (web.redis_clients):
                # the same story as RedisPoolExhausted, told as it is.
                log.warning("redis pool full: every connection of this process to a cluster node in use (%s: %s); "
                            "answering 503 until it is back", type(exc).__name__, _first_line(exc))
            else:
                log.warning("%s unavailable (%s: %s); answering 503 until it is back", dependency, type(exc).__name__, _first_line(exc))
            self._watch(dependency)
        if refused:
            outage.refused += 1
        return dependency

    def is_down(self, dependency: str) -> bool:
        return dependency in self._open

    def retry_after_s(self, dependency: str) -> int:
        """What a refused client is told to wait (Retry-After, whole seconds): half of the outage
        so far, between 1 and 5 s. A restart (the issue measured 1.5 s) is retried after 1 s; a
        long outage spreads its clients' retries out instead of taking them all every second."""
        outage = self._open.get(dependency)
        age = 0.0 if outage is None else time.monotonic() - outage.since
        return min(5, max(1, math.ceil(age / 2)))

    async def close(self) -> None:
        watchers, self._watchers = list(self._watchers.values()), {}
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    def _watch(self, dependency: str) -> None:
        probe = self._probes.get(dependency)
        if probe is None or dependency in self._watchers:
            return
        task = asyncio.get_running_loop().create_task(self._until_back(dependency, probe), name=f"outage-{dependency}")
        self._watchers[dependency] = task

    async def _until_back(self, dependency: str, probe: Probe) -> None:
        try:
            while not (await self._answers(probe) and all(settled() for settled in self._settled.get(dependency, ()))):
                raise_if_cancelled()  # the probe's client may have swallowed the cancel (inventory.timeouts)
                await asyncio.sleep(self.probe_every_s)
        finally:
            self._watchers.pop(dependency, None)
        outage = self._open.pop(dependency)
        log.warning(
            "%s is back after %.1f s; %d requests were answered 503 meanwhile",
            dependency, time.monotonic() - outage.since, outage.refused,
        )

    async def _answers(self, probe: Probe) -> bool:
        with contextlib.suppress(Exception):  # any failure of the probe: not back yet
            await within(probe(), self.probe_timeout_s)
            return True
        return False


def _first_line(exc: BaseException) -> str:
    """SQLAlchemy's messages run over several lines (the SQL, a link); one is enough here."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
