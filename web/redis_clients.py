"""The Redis client of a livedrop process, for each shape of REDIS_URL (web.redis_urls).

One server: redis-py's client, as before. A Cluster: redis-py's ``RedisCluster`` (it follows MOVED
and ASK, refreshes its slot map after a failover, sends SCRIPT LOAD to every primary); it answers
the same commands livedrop calls on a plain client, so the layers take it as one (``cast``), and the
few places that must tell them apart ask ``inventory.redis_cluster.is_cluster``. Sentinel: a plain
client whose pool asks the sentinels for the primary's address on every new connection, so after
a failover (which drops every connection) the next command reaches the promoted replica.

A burst past ``max_connections`` waits for a free connection (WaitingConnectionPool) with one
server and with Sentinel; a Cluster client still fails at once (MaxConnectionsError, see
``make_redis``).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from inventory.epochs import ConnectionCheck
from inventory.faults import RedisPoolExhausted
from web.redis_urls import parse_redis_url

# socket_timeout well above the hub's 2 s blocking stream reads, so a busy event loop is not
# mistaken for a dead Redis.
_COMMON: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 5, "socket_timeout": 15}
MAX_CONNECTIONS = 512  # per server (per node in a cluster)
# With one server or Sentinel, a command past MAX_CONNECTIONS in flight waits this long for a pooled
# connection to come free instead of failing at once. History: redis-py's default pool raises
# MaxConnectionsError, which the outage log took for Redis being down, so 800 viewers joining at
# once on a busy process (bench/drop_screen.py --split-cores) had their sockets closed and 115
# buy presses answered 503 while Redis was fine. Each join makes a few short calls, so a burst
# drains in milliseconds; a wait this long means something is wrong, and is answered 503.
POOL_WAIT_S = 5.0


class WaitingConnectionPool(aioredis.ConnectionPool):
    """The one-server client's pool, and the waiting half of the Sentinel client's
    (WaitingSentinelConnectionPool). redis-py's pool, except that a call past ``max_connections``
    waits up to ``wait_s`` for a connection to be released instead of raising MaxConnectionsError
    at once. A wait that runs out raises inventory.faults.RedisPoolExhausted (a ConnectionError:
    answered 503, logged as the pool's exhaustion rather than Redis being down).

    Not redis-py's BlockingConnectionPool: its ``asyncio.Condition`` on every call cost ~45 µs a
    command here (a GET through it 207 µs against 157, one at a time; 178 against 136 with 50 at
    once), where this pool adds nothing until it is full. The waiters are woken one per release,
    in order; one woken and then cancelled passes its turn on (``asyncio.Condition`` on Python
    3.11 loses that wake-up, leaving a waiter to time out beside a free connection)."""

    # *args: passed on to the pool it is mixed into (WaitingSentinelConnectionPool's takes the
    # service name and the Sentinel positionally).
    def __init__(self, *args: Any, wait_s: float = POOL_WAIT_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wait_s = wait_s
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        deadline: float | None = None
        while True:
            try:
                return await super().get_connection(*args, **kwargs)
            except MaxConnectionsError:
                loop = asyncio.get_running_loop()
                if deadline is None:
                    deadline = loop.time() + self.wait_s
                left = deadline - loop.time()
                if left <= 0:
                    raise RedisPoolExhausted(self.max_connections, self.wait_s) from None
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append(waiter)
                # Not asyncio.wait_for: on Python 3.11 it returns the result of a waiter woken in
                # the same step as our cancel, and the cancel is lost.
                expiry = loop.call_later(left, _wake, waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled():
                        self._wake_one()  # woken, then cancelled: the turn goes to the next
                    raise
                finally:
                    expiry.cancel()
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    async def release(self, connection: Any) -> None:
        await super().release(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            if _wake(self._waiters.popleft()):
                return


class WaitingSentinelConnectionPool(WaitingConnectionPool, SentinelConnectionPool):
    """redis-py's Sentinel pool (each new connection asks the sentinels for the primary) with
    WaitingConnectionPool's wait for a free connection: the waiting comes first in the MRO, so its
    ``get_connection`` and ``release`` wrap the Sentinel pool's, which are the plain pool's."""


def _wake(waiter: asyncio.Future[None]) -> bool:
    if waiter.done():
        return False
    waiter.set_result(None)
    return True


def make_redis(url: str, *, sentinel_password: str | None = None, max_connections: int = MAX_CONNECTIONS) -> aioredis.Redis:
    target = parse_redis_url(url)
    if target.mode == "cluster":
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            username=target.username, password=target.password, ssl=target.tls,
            # Per node. Past it a call still fails at once (MaxConnectionsError, answered 503 and
            # logged as the pool full, inventory.faults): each ClusterNode keeps its own connection list, taken synchronously
            # (acquire_connection) by four call sites in redis-py, and redis-py builds its nodes
            # by the ClusterNode name in six places, so a waiting node would mean replacing
            # redis-py internals (its module global, or NodesManager.initialize).
            max_connections=max_connections,
            # A failover takes the cluster 2-3 node timeouts (default 15 s each) to settle: the
            # client's own retry (reinitialising its slot map between tries) covers the start
            # of it; a request that still fails answers 503 with Retry-After.
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 3),
            **_COMMON,
        )
        # Not a subclass of Redis, but it answers every command livedrop sends a Redis (see above).
        return cast(aioredis.Redis, cluster)
    if target.mode == "sentinel":
        assert target.service is not None
        sentinel = Sentinel(
            list(target.nodes),
            sentinel_kwargs={"socket_connect_timeout": 2, "socket_timeout": 2,
                             "password": sentinel_password},
            username=target.username, password=target.password, db=target.db, ssl=target.tls,
            health_check_interval=30, max_connections=max_connections, retry=redis_retry(),
            redis_connect_func=ConnectionCheck().on_connect, **_COMMON,
        )
        client = sentinel.master_for(target.service, redis_class=aioredis.Redis,
                                     connection_pool_class=WaitingSentinelConnectionPool)
        client._livedrop_sentinel = sentinel  # closed with the client (close_redis)
        return cast(aioredis.Redis, client)
    pool = WaitingConnectionPool.from_url(
        url, health_check_interval=30, max_connections=max_connections, retry=redis_retry(),
        # Each new connection is checked against the server stock was rebuilt on (inventory.epochs).
        redis_connect_func=ConnectionCheck().on_connect, **_COMMON,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: closed with it


async def close_redis(client: aioredis.Redis) -> None:
    await client.aclose()
    sentinel: Sentinel | None = getattr(client, "_livedrop_sentinel", None)
    if sentinel is not None:
        for watcher in sentinel.sentinels:
            await watcher.aclose()


def redis_retry() -> Retry:
    """One immediate resend on a new connection when a command's connection turns out dead.

    That is a pooled connection Redis closed while it sat idle (a restart, a failover, an idle
    timeout): without the resend, each such connection failed the next request to use it, after
    /readyz was 200 again (tests/web/test_outage.py saw them up to 1.8 s later: connections sit in
    the pool until a burst needs them). The resend is immediate (no backoff), so it succeeds only
    when Redis itself answers right away: a command that was lost with the connection of a Redis
    that just died finds it still down, and the request is answered 503. In the rare case left
    (Redis ran the command, then the connection broke while Redis stayed up) stock and money are
    safe to send twice: the inventory scripts are idempotent state changes (a hold per buyer and
    Idempotency-Key, lock/commit/release by the hold's state, charges by their key). What is not
    idempotent would at worst show twice and moves no stock: a show event appended again (the
    hub's append script), a purchase-ticker line, a reaction or rate-limit count.

    Only ConnectionError: a TimeoutError means Redis did not answer within socket_timeout (15 s)
    and may still be running the command; sending it again would double that wait and the load."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
