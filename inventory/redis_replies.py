"""Typed replies of livedrop's Redis client, for the commands whose reply shape callers rely on.

redis-py annotates a command's reply for every way a client may be set up (bytes or str, with
scores or without, RESP2 or RESP3), so ``hgetall`` is ``dict[bytes | str, bytes | str]`` and an
``xread`` reply is hardly typed at all. livedrop's client (web.services) has
``decode_responses=True`` and speaks RESP2, which every layer already relies on: these say so once,
with the shape that follows from it, instead of a cast at every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import redis.asyncio as aioredis
from redis.typing import KeyT, StreamIdT

# A stream entry: its id ("<ms>-<n>") and its fields.
StreamEntry = tuple[str, dict[str, str]]


async def hgetall(redis: aioredis.Redis, key: str) -> dict[str, str]:
    return cast(dict[str, str], await redis.hgetall(key))


async def hget(redis: aioredis.Redis, key: str, field: str) -> str | None:
    return cast("str | None", await redis.hget(key, field))


async def zrangebyscore(redis: aioredis.Redis, key: str, low: float | str, high: float | str) -> list[str]:
    """Members only (no scores)."""
    return cast(list[str], await redis.zrangebyscore(key, low, high))


async def xrange(redis: aioredis.Redis, key: str, low: str = "-", high: str = "+") -> list[StreamEntry]:
    return cast(list[StreamEntry], await redis.xrange(key, min=low, max=high))


async def xread(
    redis: aioredis.Redis, streams: Mapping[str, str], *, count: int, block: int
) -> list[tuple[str, list[StreamEntry]]]:
    """``streams``: stream key -> the last id read. The streams with new entries, in RESP2's shape
    (a list of pairs; RESP3 would answer a dict); an empty list when ``block`` ms passed without any."""
    wanted: dict[KeyT, StreamIdT] = {key: last for key, last in streams.items()}
    return cast(list[tuple[str, list[StreamEntry]]], await redis.xread(wanted, count=count, block=block) or [])
