"""Is this Redis the one stock was last rebuilt from SQL against? If not, rebuild before holding.

Redis can come back *behind* without coming back empty: restarted from an append-only file that
lost its last second (``appendfsync everysec`` when the machine dies), or a replica promoted after
its primary died, lagging by whatever it had not received. Its keys are all there, the epoch key
(``ld:epoch``) too, so "Redis came back empty" never fires; but the holds and sales of the lost
moment are gone and their units look available again. (Measured before this module: 60 units
loaded, 86 sold in SQL.) SQL refuses such sales anyway (``Checkout._mark_paid``); this module
makes them rare by noticing the new server first.

Every redis-server process has its own ``run_id`` (INFO server): a restart gives a new one, and a
promoted replica has its own. The run id of the server stock was last reconciled against is kept
in SQL (``redis_epochs``) beside the token that reconcile left in Redis (``ld:epoch``). A process
checks the server it talks to:

* on every new connection (a restart or failover drops every connection, so every command after
  it runs on a connection that was checked first). A connection to a server other than the
  trusted one stops holds at once (``StockStore.suspend_holds``: buy presses answer 503
  ``unavailable`` with Retry-After 1) and starts ``ensure``; its own command fails with a
  ConnectionError (503 too) so a hold already on its way cannot run there;
* at start, and every second (``ensure``), which also catches a Redis emptied in place.

``ensure`` compares the server's run id and epoch token with SQL's row. Equal: trusted. Different:
one process (a short Redis claim) reconciles every product from SQL and writes the new row; the
others wait for the row, then trust the server too. Centrifugo checks its stream epochs the same
way. Operators see one warning line per change of server, one line when stock is rebuilt, and buy
presses answered 503 for the seconds in between.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.timeouts import within
from inventory import keys
from inventory.faults import REDIS, Outages
from inventory.clock import now_ms
from inventory.models import RedisEpoch
from inventory.redis_cluster import is_cluster

log = logging.getLogger(__name__)

CLAIM_MS = 120_000  # the longest a reconcile of every product may take before another process tries
# Connections opened by ``ensure`` itself (its reconcile) must not be refused by the check.
_rebuilding: contextvars.ContextVar[bool] = contextvars.ContextVar("livedrop_rebuilding", default=False)


def run_id_of(info_server: str | dict[str, Any]) -> str:
    """The ``run_id`` in an INFO server reply, parsed (redis-py) or raw text (a bare connection)."""
    if isinstance(info_server, dict):
        return str(info_server["run_id"])
    for line in info_server.splitlines():
        if line.startswith("run_id:"):
            return line[len("run_id:"):].strip()
    raise ValueError("INFO server has no run_id")


async def server_run_id(redis: aioredis.Redis) -> str:
    return (await server_identity(redis))[0]


async def server_identity(redis: aioredis.Redis) -> tuple[str, frozenset[str]]:
    """What SQL's record names (at most 64 characters) and the run ids a connection may meet.

    One server: its run id, twice. A Redis Cluster: ``cluster:`` and a digest of every primary's
    run id; a failover promotes a replica (another run id) and so changes it, and a connection
    to any primary of the set is trusted."""
    if not is_cluster(redis):
        run_id = await _info_run_id(redis)
        return run_id, frozenset((run_id,))
    from redis.asyncio.cluster import RedisCluster

    replies = await redis.info("server", target_nodes=RedisCluster.PRIMARIES)
    infos = [replies] if "run_id" in replies else list(replies.values())
    members = frozenset(run_id_of(info) for info in infos)
    digest = hashlib.sha1(",".join(sorted(members)).encode()).hexdigest()
    return f"cluster:{digest}", members


async def _info_run_id(redis: aioredis.Redis) -> str:
    return run_id_of(await redis.info("server"))


async def saved_epoch(sessions: async_sessionmaker) -> RedisEpoch | None:
    async with sessions() as session:
        return await session.get(RedisEpoch, 1)


async def save_epoch(sessions: async_sessionmaker, run_id: str, token: str, at: int) -> None:
    async with sessions() as session, session.begin():
        row = await session.get(RedisEpoch, 1)
        if row is None:
            session.add(RedisEpoch(id=1, run_id=run_id, token=token, reconciled_at=at))
        else:
            row.run_id, row.token, row.reconciled_at = run_id, token, at


def _recorded_token(saved: RedisEpoch | None, run_id: str, epoch: object) -> str | None:
    """The token, when SQL's record says stock was rebuilt on this server and left it in it."""
    if saved is not None and saved.run_id == run_id and epoch is not None and epoch == saved.token:
        return saved.token
    return None


class ConnectionCheck:
    """``on_connect`` is redis-py's ``redis_connect_func`` for a client whose connections ``RedisEpochs`` checks.
    Given to the client when it is made (``web.services.make_redis``), before any connection
    exists, because redis-py copies it into each connection it creates; ``RedisEpochs`` sets
    ``check`` later. Without a check it only does what redis-py does by default."""

    def __init__(self) -> None:
        self.check: Callable[[str], None] | None = None

    async def on_connect(self, connection: Any) -> None:
        # A bound coroutine method, not __call__: redis-py awaits the callback only when
        # asyncio.iscoroutinefunction says it is one.
        await connection.on_connect()
        check = self.check
        if check is not None:
            await connection.send_command("INFO", "server")
            check(run_id_of(await connection.read_response()))


class HoldGate(Protocol):
    """What the epoch check needs of the stock store: stop and resume holds (see StockStore)."""

    def suspend_holds(self) -> None: ...

    def resume_holds(self) -> None: ...


class RedisEpochs:
    """Checks the Redis server behind ``redis`` against SQL's record and rebuilds stock when it
    is another one. ``reconcile_all`` rebuilds every product from SQL and returns nothing of use
    (``inventory.reconcile.reconcile`` with no product list)."""

    def __init__(
        self, redis: aioredis.Redis, sessions: async_sessionmaker, gate: HoldGate,
        reconcile_all: Callable[[], Awaitable[object]], *, clock: Callable[[], int] = now_ms,
        outages: Outages | None = None,
    ) -> None:
        self.redis = redis
        self.sessions = sessions
        self.gate = gate
        self.reconcile_all = reconcile_all
        self.clock = clock
        self.outages = outages  # an outage is logged there once, not here once a second
        self.trusted: str | None = None  # run id of the server holds may run on (a cluster: server_identity)
        self.trusted_members: frozenset[str] = frozenset()  # run ids of its primaries
        self._token: str | None = None
        self._ensuring: asyncio.Task[None] | None = None
        self._warned_about: str | None = None
        self._members: frozenset[str] = frozenset()
        self._suspended = False  # holds stopped by this check, until a server is trusted again
        if outages is not None:
            outages.back_only_when(REDIS, self.settled)

    # -- the check on every new connection -----------------------------------------------------

    def watch_connections(self, stock: Any = None) -> bool:
        """Check every connection ``redis`` opens from now on, and those of the stock store's
        hold lane. False when the client was not made with a ``ConnectionCheck`` (then only the
        periodic check runs)."""
        if stock is not None:
            stock.check_lane_connections(lambda info: self.connected_to(run_id_of(info)))
        pool = getattr(self.redis, "connection_pool", None)  # a RedisCluster has none: checked each second
        hook = None if pool is None else getattr(pool.connection_kwargs.get("redis_connect_func"), "__self__", None)
        if isinstance(hook, ConnectionCheck):
            hook.check = self.connected_to
            return True
        return False

    def connected_to(self, run_id: str) -> None:
        """A connection was opened to the server ``run_id``. Raises ConnectionError when it is
        not the trusted one (outside ``ensure``), after stopping holds and starting ``ensure``."""
        if run_id == self.trusted or run_id in self.trusted_members or _rebuilding.get():
            return
        self._suspend_holds()
        if self.trusted is not None and self._warned_about != run_id:
            self._warned_about = run_id
            log.warning("Redis is another server now (run id %s, was %s): holds wait until stock is rebuilt from SQL",
                        run_id[:12], self.trusted[:12])
        self.start_ensure()
        raise RedisConnectionError("Redis is not the server stock was reconciled against; checking stock")

    def start_ensure(self) -> None:
        if self._ensuring is None or self._ensuring.done():
            self._ensuring = asyncio.ensure_future(self._ensure_quietly())

    async def _ensure_quietly(self) -> None:
        try:
            await self.ensure()
        except Exception as exc:  # Redis or SQL down: the periodic check tries again
            if self.outages is None or self.outages.report(exc, refused=False) is None:
                log.warning("Redis epoch check failed (%s); trying again", exc)

    # -- the check itself ------------------------------------------------------------------------

    async def ensure(self) -> None:
        """Trust the server when SQL's record says its stock was rebuilt; otherwise rebuild it
        (one process) or wait for the process that does. Holds are suspended meanwhile."""
        token = _rebuilding.set(True)
        try:
            await self._ensure()
        finally:
            _rebuilding.reset(token)

    async def _ensure(self) -> None:
        run_id, members = await server_identity(self.redis)
        epoch = await self.redis.get(keys.EPOCH)
        if run_id == self.trusted and epoch is not None and epoch == self._token:
            return
        self._members = members
        self._suspend_holds()
        claim = f"{keys.EPOCH}:rebuilding"
        deadline = self.clock() + CLAIM_MS
        while True:
            saved = await saved_epoch(self.sessions)
            token = _recorded_token(saved, run_id, epoch)
            if token is not None:
                self._trust(run_id, token)
                return
            if await self.redis.set(claim, run_id, nx=True, px=CLAIM_MS):
                break
            if self.clock() > deadline:
                raise TimeoutError("another process has been rebuilding stock for too long")
            await asyncio.sleep(0.1)  # another process is rebuilding: wait for its record
            epoch = await self.redis.get(keys.EPOCH)
        try:
            if self._warned_about != run_id:
                self._warned_about = run_id
                log.warning("Redis (run id %s) is not the server stock was last rebuilt against: rebuilding from SQL",
                            run_id[:12])
            started = self.clock()
            await self.reconcile_all()  # records the server and a new token in SQL and Redis
            log.warning("stock rebuilt from SQL on Redis run id %s in %d ms; holds resume", run_id[:12], self.clock() - started)
        finally:
            await self.redis.delete(claim)
        saved, epoch = await saved_epoch(self.sessions), await self.redis.get(keys.EPOCH)
        token = _recorded_token(saved, run_id, epoch)
        if token is not None:
            self._trust(run_id, token)
        # else: the server changed again during the rebuild; the next check starts over

    def _trust(self, run_id: str, token: str) -> None:
        self.trusted, self._token = run_id, token
        self.trusted_members = self._members
        self._suspended = False
        self.gate.resume_holds()

    def _suspend_holds(self) -> None:
        self._suspended = True
        self.gate.suspend_holds()

    def settled(self) -> bool:
        """No rebuild pending: holds run on a trusted server (the outage log's "back" waits for it)."""
        return not self._suspended and (self._ensuring is None or self._ensuring.done())

    async def run(self, stop: asyncio.Event, every_s: float = 1.0) -> None:
        """Check once a second until ``stop``: catches a Redis emptied in place (FLUSHALL) and a
        server change seen by no new connection yet."""
        while not stop.is_set():
            await self._ensure_quietly()
            try:
                await within(stop.wait(), every_s)
            except TimeoutError:
                pass
