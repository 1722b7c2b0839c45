"""The Lua scripts of ``inventory/lua``: loaded once per server, called by SHA (EVALSHA).

Every product script gets ``common.lua`` prepended, takes the product's version key as KEYS[1]
and the product's key prefix as ARGV[1] (see ``inventory.keys``). A server that lost its script
cache (restart, SCRIPT FLUSH, failover) answers NOSCRIPT: the script is loaded again and the
call repeated, which is safe because a NOSCRIPT call did not run.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

# Scripts that work on one product's keys (common.lua is prepended to each).
PRODUCT_SCRIPTS = (
    "hold",
    "release",
    "lock",
    "unlock",
    "abandon",
    "commit",
    "forfeit",
    "sweep",
    "load",
    "restock",
    "unsell",
    "reconcile",
    "waitlist_join",
    "waitlist_leave",
)
# Scripts with their own key conventions.
PLAIN_SCRIPTS = ("charge", "refund")


def _read(name: str) -> str:
    return resources.files("inventory").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class Script:
    """One script's source and SHA1; ``call`` runs it with EVALSHA and reloads on NOSCRIPT."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def load(self, redis: aioredis.Redis) -> None:
        await redis.script_load(self.source)

    async def call(self, redis: aioredis.Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.load(redis)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)


def _build() -> dict[str, Script]:
    common = _read("common")
    scripts = {name: Script(name, common + "\n" + _read(name)) for name in PRODUCT_SCRIPTS}
    scripts.update({name: Script(name, _read(name)) for name in PLAIN_SCRIPTS})
    return scripts


# Read once at import: the sources are package data and never change while the process runs.
SCRIPTS: dict[str, Script] = _build()


async def load_all(redis: aioredis.Redis) -> None:
    """Load every script (at start, so the first drop does not pay for it)."""
    for script in SCRIPTS.values():
        await script.load(redis)
