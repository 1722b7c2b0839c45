"""Rate limits kept in Redis, so they hold across every web process.

A fixed window per key, counted by one Lua call (INCR, and PEXPIRE on the first hit). Cheap where
abuse is cheap: buyer creation per IP, holds per buyer, chat per buyer.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return redis.call('PTTL', KEYS[1]) end
return -1
"""

# Looks without counting: for limits on failures only, checked before the attempt and counted after it fails.
_PEEK = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return redis.call('PTTL', KEYS[1]) end
return -1
"""


@dataclass(frozen=True)
class Limit:
    name: str
    allowed: int
    window_s: float


class RateLimiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._hit = redis.register_script(_HIT)
        self._peek = redis.register_script(_PEEK)

    async def retry_after_ms(self, limit: Limit, subject: str) -> int | None:
        """Counts one hit; None when allowed, else the milliseconds until the window resets."""
        window_ms = int(limit.window_s * 1000)
        wait = int(await self._hit(keys=[f"ld:rl:{limit.name}:{subject}"], args=[window_ms, limit.allowed]))
        return None if wait < 0 else max(wait, 1)

    async def blocked_ms(self, limit: Limit, subject: str) -> int | None:
        """Without counting: None while hits remain in the window, else the milliseconds until it resets."""
        wait = int(await self._peek(keys=[f"ld:rl:{limit.name}:{subject}"], args=[limit.allowed]))
        return None if wait < 0 else max(wait, 1)
