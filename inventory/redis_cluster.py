"""Redis Cluster: what livedrop does differently when its client is redis-py's ``RedisCluster``.

Keys: every key a script or a multi-key command touches shares one hash tag (``{p<id>}`` per
product, ``{s<id>}`` per show, ``{q<id>}`` per waiting room; global keys ``{ld}``), so each such
call lands on one slot (inventory.keys, live.keys). Three things still need the topology:

* The hold lane (``ClusterLane``): one ``RedisLane`` (pipelined, hiredis) per primary; each
  command goes to the primary that owns its key's slot, and follows ``MOVED`` (a resharding or a
  failover: the slot map is refreshed) and ``ASK`` (a slot half-way through a migration:
  ``ASKING`` and the command, back to back on the target's connection). A redirected command was
  not run, so sending it again is always safe. redis-py's own cluster pipeline refuses EVALSHA.
* The stream reader groups shows by slot (live.reader): XREAD takes keys of one slot only.
* The epoch check (inventory.epochs) trusts the set of primaries' run ids, not one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, TryAgainError
from redis.exceptions import TimeoutError as RedisTimeoutError

from inventory.redis_lane import LaneAddress, RedisLane

log = logging.getLogger(__name__)

NON_LOCAL_KEY = "Script attempted to access a non local key"
MAX_REDIRECTS = 8  # a slot moved twice (reshard then failover) needs 2; more is a cluster in trouble
TRYAGAIN_WAIT_S = 0.02  # TRYAGAIN: a multi-key call met a slot mid-migration; MIGRATE takes ms


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, RedisCluster)


def slot_of(key: str) -> int:
    return int(key_slot(key.encode()))


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class ClusterLane:
    """The hold lane of a Redis Cluster: ``await lane.send(command, key=k)`` runs the packed
    ``command`` on the primary that owns ``k``'s slot. Errors as RedisLane's."""

    def __init__(self, cluster: RedisCluster, common: LaneAddress) -> None:
        self.cluster = cluster
        self.common = common
        self._lanes: dict[tuple[str, int], RedisLane] = {}
        self._moved: dict[int, tuple[str, int]] = {}  # slot -> owner learned from MOVED, until the map refresh
        self._refresh: asyncio.Task[None] | None = None
        self._on_connect: Any = None
        self.redirects = 0  # MOVED and ASK followed; tests read it

    @classmethod
    def for_cluster(cls, cluster: RedisCluster) -> ClusterLane | None:
        kwargs = cluster.connection_kwargs
        if kwargs.get("ssl") or kwargs.get("connection_class") not in (None, aioredis.Connection):
            return None  # TLS: redis-py's client, one call at a time (StockStore)
        return cls(cluster, LaneAddress(
            username=kwargs.get("username"), password=kwargs.get("password"),
            timeout_s=float(kwargs.get("socket_timeout") or 15.0),
        ))

    @property
    def writes(self) -> int:
        return sum(lane.writes for lane in self._lanes.values())

    @property
    def on_connect(self) -> Any:
        return self._on_connect

    @on_connect.setter
    def on_connect(self, check: Any) -> None:
        self._on_connect = check
        for lane in self._lanes.values():
            lane.on_connect = check

    def close(self) -> None:
        for lane in self._lanes.values():
            lane.close()

    async def call(self, *args: Any, key: str) -> Any:
        from inventory.redis_lane import pack

        return await self.send(pack(*args), key=key)

    async def send(self, command: bytes, *, idempotent: bool = False, key: str | None = None) -> Any:
        if key is None:
            raise ValueError("a cluster lane needs the command's key to find its node")
        slot = slot_of(key)
        address = await self._owner(slot)
        asking = False
        for attempt in range(MAX_REDIRECTS):
            lane = self._lane(address)
            try:
                if asking:
                    return await lane.send_asking(command)
                return await lane.send(command, idempotent=idempotent)
            except ResponseError as exc:
                message = str(exc)
                if message.startswith("MOVED "):
                    address, asking = _address(message.split()[2]), False
                    self._moved[slot] = address
                    self._refresh_map()
                elif message.startswith("ASK "):
                    address, asking = _address(message.split()[2]), True
                elif message.startswith(("TRYAGAIN", "CLUSTERDOWN")):
                    await asyncio.sleep(TRYAGAIN_WAIT_S * (attempt + 1))
                elif NON_LOCAL_KEY in message:
                    # The slot is MIGRATING and the script touched a key the source no longer (or
                    # not yet) has; Redis refused that one access, not the script's earlier ones.
                    # A hold with an Idempotency-Key meets it at its first new key, the
                    # idempotency record, before it writes stock: safe to send again once the keys
                    # have moved (then ASK). Anything else: 503, the caller may retry.
                    if not idempotent:
                        raise TryAgainError(f"slot {slot} is migrating: {message}") from exc
                    await asyncio.sleep(TRYAGAIN_WAIT_S * (attempt + 1))
                else:
                    raise
                self.redirects += 1
                if attempt >= 2:
                    # MOVED back and forth: the nodes are being told the slot's new owner one by
                    # one (CLUSTER SETSLOT NODE); a few ms settle it.
                    await asyncio.sleep(TRYAGAIN_WAIT_S * attempt)
            except (RedisConnectionError, RedisTimeoutError):
                # A primary died (or is unreachable): its replica will be promoted. Forget what
                # MOVED taught us about this slot and reread the map, so the next press finds the
                # new owner; this one answers 503 (it may have run on the old one: not resent).
                self._moved.pop(slot, None)
                self._refresh_map()
                raise
        raise RedisConnectionError(f"slot {slot} kept moving ({MAX_REDIRECTS} redirects); the cluster is resharding or failing over")

    async def _owner(self, slot: int) -> tuple[str, int]:
        moved = self._moved.get(slot)
        if moved is not None:
            return moved
        manager = self.cluster.nodes_manager
        if not manager.slots_cache:
            await self.cluster.initialize()
        node = manager.get_node_from_slot(slot)
        return node.host, int(node.port)

    def _lane(self, address: tuple[str, int]) -> RedisLane:
        lane = self._lanes.get(address)
        if lane is None:
            lane = self._lanes[address] = RedisLane(dataclasses.replace(self.common, host=address[0], port=address[1]))
            lane.on_connect = self._on_connect
        return lane

    def _refresh_map(self) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._reread())

    async def _reread(self) -> None:
        try:
            await self.cluster.nodes_manager.initialize()
            self._moved.clear()  # the map knows now
        except Exception as exc:  # the cluster is mid-failover; the next error tries again
            log.info("cluster slot map refresh failed (%s)", exc)
