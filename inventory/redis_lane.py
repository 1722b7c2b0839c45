"""One pipelined Redis connection for the drop's hot path (the hold script).

redis-py spends more of a core per command than the hold script spends in Redis: every command
goes through its pipeline object, a packer, a per-reply timeout and the connection pool. During a
drop that is the difference between holds at a third and at more than half of a trivial
endpoint's rate. The lane keeps only what the hot path needs: hiredis packs the commands and
parses the replies, everything submitted in one event-loop tick leaves in one write, and the
replies come back in order on a single connection (Redis answers a connection's commands in the
order it sent them). Everything else (locks, checkout, sweeps, the hub) stays on redis-py.

The lane speaks to the same server as the process's redis-py client (TCP or unix socket, with its
username, password and database; under Sentinel, the primary the sentinels name when the lane
connects). TLS (``rediss://``) is left to redis-py: ``RedisLane.for_client`` returns None for it
and the caller keeps using redis-py's pipeline. A Redis Cluster has a lane per primary
(inventory.redis_cluster).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import BusyLoadingError, NoScriptError, ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from inventory.timeouts import within


def pack(*args: Any) -> bytes:
    """One command as RESP. (hiredis's stub declares ``pack_command``'s argument a tuple of one
    item; it takes any number.)"""
    return hiredis.pack_command(args)


def resp_items(args: Sequence[Any]) -> bytes:
    """``args`` as RESP bulk strings without the array header, so that parts packed at different
    times (a script's fixed arguments once, each call's own ones per call) can be joined under
    one header: ``b"*%d\\r\\n" % count + part + part``."""
    packed = pack(*args)
    return packed[packed.index(b"\r\n") + 2 :]


class Lane(Protocol):
    """A pipelined path to Redis for the hot path: ``RedisLane`` (one server) or
    ``inventory.redis_cluster.ClusterLane`` (a lane per primary, routed by ``key``)."""

    on_connect: Callable[[str], None] | None

    @property
    def writes(self) -> int: ...

    async def send(self, command: bytes, *, idempotent: bool = False, key: str | None = None) -> Any: ...

    def close(self) -> None: ...


class ConnectionLost(RedisConnectionError):
    """The lane's connection broke while this call waited for its reply. ``written``: whether its
    command had been written to the connection (Redis may have run it) or not (it cannot have)."""

    def __init__(self, message: str, *, written: bool) -> None:
        super().__init__(message)
        self.written = written


@dataclass(frozen=True)
class LaneAddress:
    host: str | None = None
    port: int | None = None
    path: str | None = None  # a unix socket
    username: str | None = None
    password: str | None = None
    db: int = 0
    timeout_s: float = 15.0  # no reply for this long: the connection is dropped, callers hear it


class RedisLane:
    """``await lane.call(*args)`` -> the reply (strings decoded as UTF-8). Error replies raise
    redis-py's ``ResponseError`` (``NoScriptError`` for NOSCRIPT), connection trouble raises its
    ``ConnectionError`` / ``TimeoutError``, so callers handle both clients alike. Connects on first
    use and again after a failure. One event loop only."""

    def __init__(self, address: LaneAddress) -> None:
        self.address = address
        self.writes = 0  # batches written; tests read it to see pipelining happen
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader(encoding="utf-8")
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._connecting: asyncio.Future[None] | None = None
        self._answered = 0
        self._watchdog: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Called with the server's INFO server text on every new connection, before any call is
        # written to it; raising refuses the connection (inventory.epochs: a server that is not
        # the one stock was rebuilt against must not take a hold).
        self.on_connect: Callable[[str], None] | None = None
        # Sentinel: asked for the primary's (host, port) before each connect, so a lane whose
        # connection a failover broke reconnects to the promoted replica.
        self.resolve: Callable[[], Awaitable[tuple[str, int]]] | None = None

    @classmethod
    def for_client(cls, redis: aioredis.Redis) -> RedisLane | None:
        """A lane to the server ``redis`` talks to, or None when it is not a plain TCP or unix
        socket connection (TLS, or a client built some other way)."""
        pool = getattr(redis, "connection_pool", None)  # a RedisCluster has none: inventory.redis_cluster
        if pool is None:
            return None
        kwargs = pool.connection_kwargs
        common = LaneAddress(
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            db=int(kwargs.get("db") or 0),
            timeout_s=float(kwargs.get("socket_timeout") or 15.0),
        )
        if isinstance(pool, SentinelConnectionPool) and pool.connection_class is SentinelManagedConnection:
            lane = cls(dataclasses.replace(common, host="", port=0))
            lane.resolve = pool.get_master_address
            return lane
        if pool.connection_class is UnixDomainSocketConnection:
            return cls(dataclasses.replace(common, path=kwargs["path"]))
        if pool.connection_class is Connection:
            return cls(dataclasses.replace(common, host=kwargs.get("host", "localhost"), port=int(kwargs.get("port", 6379))))
        return None

    async def call(self, *args: Any) -> Any:
        return await self.send(pack(*args))

    async def send(self, command: bytes, *, idempotent: bool = False, key: str | None = None) -> Any:
        """``call`` for a command already packed (RESP), e.g. from ``resp_items`` parts. ``key``:
        the command's first key (a ClusterLane routes by it; one server needs none).

        When the connection turns out dead with the command on it, the command is sent once more
        on a new connection if that is safe: always when it was never written (Redis cannot have
        run it), and when it was written only if ``idempotent`` (running it twice answers the same
        as once: a hold with an Idempotency-Key, see hold.lua). This is what a Redis restart looks
        like to the lane: the first presses after it meet the old connection. A refused connect
        and a timeout are not retried: Redis is down or stuck, and the caller answers 503."""
        if self._transport is None or self._loop is not asyncio.get_running_loop():
            await self._connect()
        try:
            return await self._submit(command)
        except ConnectionLost as lost:
            if lost.written and not idempotent:
                raise  # Redis may have run it: sending it again could run it twice
        if self._transport is None:  # not yet reconnected by another caller's retry
            await self._connect()
        return await self._submit(command)

    async def send_asking(self, command: bytes) -> Any:
        """``ASKING`` and ``command`` back to back on this connection (nothing can come between
        them: both are queued in one synchronous step), as a cluster node answering ``ASK``
        wants: the slot is being imported here and this one command may run on it."""
        if self._transport is None or self._loop is not asyncio.get_running_loop():
            await self._connect()
        asking, reply = self._submit(pack("ASKING")), self._submit(command)
        results = await asyncio.gather(asking, reply, return_exceptions=True)
        result = results[1]
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- sending -----------------------------------------------------------------------------

    def _submit(self, command: bytes) -> asyncio.Future[Any]:
        loop = self._loop
        assert loop is not None
        future: asyncio.Future[Any] = loop.create_future()
        self._outgoing.append(command)
        self._waiting.append(future)
        if not self._flush_scheduled:
            # Not written at once: whatever else is submitted in this tick joins the same write.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        if self._watchdog is None:
            self._arm_watchdog(loop)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._outgoing:
            return
        if self._transport is None:
            # Lost after these were submitted (connection_lost already failed the calls before
            # them): fail them too, as never written, rather than leave them waiting forever.
            self._lost(None)
            return
        data, self._outgoing = b"".join(self._outgoing), []
        self._transport.write(data)
        self.writes += 1

    # -- receiving ---------------------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        while True:
            reply = self._reader.gets()
            if reply is False:
                return
            self._answered += 1
            future = waiting.popleft()
            if future.done():  # its caller was cancelled; the reply still had to be read
                continue
            if isinstance(reply, hiredis.ReplyError):
                if str(reply).startswith("READONLY") and self.resolve is not None and self._transport is not None:
                    # Sentinel demoted this server (a failover while it stayed up): drop the
                    # connection so the next call asks the sentinels again.
                    self._transport.close()
                future.set_exception(_response_error(str(reply)))
            else:
                future.set_result(reply)

    def _lost(self, exc: BaseException | None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        # The last len(_outgoing) waiting calls were submitted but not yet written.
        written = len(self._waiting) - len(self._outgoing)
        self._forget_connection()
        message = f"connection to Redis lost: {exc}"
        timed_out = exc if isinstance(exc, RedisTimeoutError) else None  # passed on as it is: never resent
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(timed_out or ConnectionLost(message, written=written > 0))
            written -= 1

    def _forget_connection(self) -> None:
        """No connection: nothing waiting to be written, nothing half-read."""
        self._transport = None
        self._reader = hiredis.Reader(encoding="utf-8")
        self._outgoing = []
        self._flush_scheduled = False
        self._watchdog = None

    # -- a stuck server ----------------------------------------------------------------------

    def _arm_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        # One timer for the whole connection instead of a timeout per call (which would cost
        # the hot path more than the call itself): if nothing was answered for timeout_s while
        # calls wait, the connection is dropped and every waiting caller hears TimeoutError.
        answered_then = self._answered
        self._watchdog = loop.call_later(self.address.timeout_s, self._check_stuck, answered_then)

    def _check_stuck(self, answered_then: int) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        if self._answered == answered_then and self._transport is not None:
            transport = self._transport
            self._lost(RedisTimeoutError(f"Redis did not answer for {self.address.timeout_s:g} s"))
            transport.abort()
            return
        self._arm_watchdog(asyncio.get_running_loop())

    # -- connecting --------------------------------------------------------------------------

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Used from another event loop (tests run one per test): start afresh there; the old
            # loop's transport cannot be touched from here.
            self._forget_connection()
            self._waiting.clear()
            self._connecting = None
            self._loop = loop
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._open())
        await asyncio.shield(self._connecting)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        if self.resolve is not None:
            try:
                host, port = await self.resolve()
            except RedisError as exc:  # no sentinel answers, or none knows a primary: an outage (503)
                raise RedisConnectionError(f"cannot find the Redis primary: {exc}") from exc
            self.address = dataclasses.replace(self.address, host=str(host), port=int(port))
        address = self.address
        try:
            if address.path is not None:
                connecting = loop.create_unix_connection(lambda: _LaneProtocol(self), address.path)
            else:
                # for_client gives a TCP address both; None would mean "any" to create_connection
                assert address.host is not None and address.port is not None, "a lane address needs a path, or a host and a port"
                connecting = loop.create_connection(lambda: _LaneProtocol(self), address.host, address.port)
            transport, _ = await within(connecting, min(5.0, address.timeout_s))
        except (OSError, asyncio.TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
        self._transport = transport
        setup: list[tuple[Any, ...]] = []
        if address.password is not None:
            setup.append(("AUTH", address.username, address.password) if address.username else ("AUTH", address.password))
        if address.db:
            setup.append(("SELECT", address.db))
        if setup:
            try:
                await asyncio.gather(*(self._submit(pack(*command)) for command in setup))
            except RedisError:  # a refused AUTH, or LOADING from a Redis still reading its file
                self._lost(None)
                transport.close()
                raise
        if self.on_connect is not None:
            info = await self._submit(pack("INFO", "server"))
            try:
                self.on_connect(info)
            except Exception:
                self._lost(None)
                transport.close()
                raise


class _LaneProtocol(asyncio.Protocol):
    def __init__(self, lane: RedisLane) -> None:
        self.lane = lane
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # batches must not wait for acks

    def data_received(self, data: bytes) -> None:
        self.lane._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lane._transport is self.transport:  # not an older connection closing late
            self.lane._lost(exc)


def _response_error(message: str) -> RedisError:
    """The exception redis-py's own parser would raise for this error reply."""
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    if message.startswith("READONLY"):
        return ReadOnlyError(message)  # a replica: an outage until clients reach the primary (503)
    if message.startswith("LOADING"):
        # A restarted Redis answers LOADING while it reads its append-only file: an outage (503
        # and a retry), as redis-py says with BusyLoadingError, a ConnectionError. As a plain
        # ResponseError it was a 500 (seen once in CI's fault test, right after the restart).
        return BusyLoadingError(message)
    return ResponseError(message)

