"""Frames for one person: a buyer's own open pages, a host's panel (docs/threads.md).

Show events go to everyone in a show's room through the show's stream; a private message must
reach only its buyer (and the host), on whichever processes their sockets are. So private frames
travel the same road with one more stream: ``ld:{private}``, read by every process's one stream
reader (live.reader, in the same XREAD as the show streams), and pushed by each process to the
connections it has of that buyer or host, through their bounded queues like any frame. Nothing
is replayed on reconnect (private frames carry no seq): a page that reconnects asks for its
threads again over HTTP.

Whether a buyer has a page open anywhere (else the message goes by email) is a Redis hash per
buyer, one field per process with its count of that buyer's sockets, expiring unless refreshed:

    ld:{private}            stream  to ("b:<buyer id>" | "h:<host id>"), f (the frame); capped
    ld:online:b:<buyer id>  hash    process id -> sockets of that buyer there; expires in ONLINE_TTL_MS
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson
import redis.asyncio as aioredis

from inventory.clock import now_ms
from live.connection import Connection, text_frame

log = logging.getLogger("livedrop.private")

STREAM = "ld:{private}"
# Private frames are people typing: a few a second at most across a deployment. 10,000 entries is
# minutes of them, far more than a process's reader can fall behind without losing its Redis.
STREAM_MAXLEN = 10_000
ONLINE_TTL_MS = 60_000  # a process that died stops counting after this (then email resumes)
REFRESH_S = 20.0  # each process refreshes its buyers' presence well within ONLINE_TTL_MS


def buyer_to(buyer_id: str) -> str:
    return "b:" + buyer_id


def host_to(host_id: int) -> str:
    return f"h:{int(host_id)}"


def online_key(buyer_id: str) -> str:
    return "ld:online:b:" + buyer_id


class PrivateFeed:
    def __init__(self, redis: aioredis.Redis, process_id: str) -> None:
        self.redis = redis
        self.process_id = process_id
        self._by_target: dict[str, set[Connection]] = {}
        self._last_refresh = 0.0

    # -- this process's sockets ----------------------------------------------------------------------

    async def attach(self, conn: Connection, buyer_id: str | None, host_id: int | None) -> list[str]:
        """Register a socket for its buyer's (and host's) private frames; returns its targets."""
        targets = []
        if buyer_id is not None:
            targets.append(buyer_to(buyer_id))
        if host_id is not None:
            targets.append(host_to(host_id))
        for target in targets:
            self._by_target.setdefault(target, set()).add(conn)
        if buyer_id is not None:
            try:
                await self._count(buyer_id)
            except Exception as exc:  # Redis hiccup: the page works; the next refresh counts it online
                log.info("could not mark buyer online: %r", exc)
        return targets

    async def detach(self, conn: Connection, targets: list[str]) -> None:
        for target in targets:
            conns = self._by_target.get(target)
            if conns is None:
                continue
            conns.discard(conn)
            if not conns:
                del self._by_target[target]
            if target.startswith("b:"):
                await self._count(target[2:])

    async def _count(self, buyer_id: str) -> None:
        n = len(self._by_target.get(buyer_to(buyer_id), ()))
        key = online_key(buyer_id)
        pipe = self.redis.pipeline(transaction=False)
        if n:
            pipe.hset(key, self.process_id, n)
            pipe.pexpire(key, ONLINE_TTL_MS)
        else:
            pipe.hdel(key, self.process_id)
        await pipe.execute()

    async def refresh(self) -> None:
        """Keep this process's buyers counted as online (the hub's presence clock calls it)."""
        buyers = [t[2:] for t in self._by_target if t.startswith("b:")]
        if not buyers:
            return
        pipe = self.redis.pipeline(transaction=False)
        for buyer_id in buyers:
            pipe.hset(online_key(buyer_id), self.process_id, len(self._by_target[buyer_to(buyer_id)]))
            pipe.pexpire(online_key(buyer_id), ONLINE_TTL_MS)
        await pipe.execute()

    async def forget_process(self) -> None:
        """Stopping: this process's sockets no longer count."""
        buyers = [t[2:] for t in self._by_target if t.startswith("b:")]
        self._by_target.clear()
        if buyers:
            pipe = self.redis.pipeline(transaction=False)
            for buyer_id in buyers:
                pipe.hdel(online_key(buyer_id), self.process_id)
            await pipe.execute()

    # -- sending -----------------------------------------------------------------------------------------

    async def online(self, buyer_id: str) -> bool:
        """Whether the buyer has a page open on any process."""
        return bool(await self.redis.exists(online_key(buyer_id)))

    async def send(self, targets: Iterable[str], frame: dict[str, Any]) -> None:
        """One frame to every socket of each target, on every process."""
        body = orjson.dumps({**frame, "ts": now_ms()}).decode()
        pipe = self.redis.pipeline(transaction=False)
        for target in targets:
            pipe.xadd(STREAM, {"to": target, "f": body}, maxlen=STREAM_MAXLEN, approximate=True)
        await pipe.execute()

    def deliver(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        """Called by the stream reader with new entries of ``ld:{private}``: push each frame to the
        sockets of its target here (none: another process has them, or nobody)."""
        for _, fields in entries:
            conns = self._by_target.get(fields.get("to", ""))
            if not conns:
                continue
            frame = fields.get("f", "")
            wire = text_frame(frame)
            for conn in tuple(conns):
                conn.push(frame, None, wire)
