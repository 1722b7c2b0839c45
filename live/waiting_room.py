"""A queue offer's waiting room, in Redis: who joined and when, their places once the line is
shuffled at ``starts_at``, and how far the line has been let in.

    join (buyer, before or after starts_at) -> an entry, once per buyer (one script call)
    starts_at -> the offer clock ranks everyone who joined before (live.queue_order), once
    every clock tick -> ``admitted_upto`` rises at the offer's rate, never further than the units
                        still available can serve (OPEN_PASSES_FACTOR x available + OPEN_PASSES_SLACK)
    me (buyer) -> rank, people ahead, admitted, and when admitted a signed pass (live.passes)

Places are whole numbers from 1: those ranked by the shuffle first, then late joiners in arrival
order (an entry's arrival number is its place, since every early entry arrived before it; the
join script stamps entries with Redis's own clock so that holds across processes). Rank ``r`` is
admitted when ``r <= admitted_upto``; its pass expires ``PASS_S`` after that moment. A place
whose pass expired or was used stops counting against the open passes.

Keys: live.keys (``queue``). They outlive the offer by ``KEEP_MS`` for the audit.
"""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from inventory import redis_replies
from inventory.clock import now_ms
from inventory.errors import RateLimited
from inventory.redis_lane import Lane, pack
from live import keys
from live.passes import PASS_S
from live.queue_order import rank_without_blocking

KEEP_MS = 30 * 24 * 3600 * 1000  # the audit stays answerable this long after the offer ends
# 300 pairs admit 385 people at a time, not 100,000 to be told "sold out" one by one; the 25 %
# covers passes that go unused, the 10 a tiny drop's first minute.
OPEN_PASSES_FACTOR = 1.25
OPEN_PASSES_SLACK = 10
RANK_READ_SLICE = 5_000  # entries read per LRANGE: a few ms to parse
RANK_WRITE_SLICE = 5_000  # ranks written per script call: a few ms of Redis time each
# Joins per script call at most: each costs Redis a few µs, so a full batch blocks it well under
# a millisecond.
JOIN_BATCH_MAX = 256

# Joins to one offer, in order (a group commit: see WaitingRoom.join). KEYS: the entries hash,
# the arrivals list, then each address's counter; ARGV: when the keys expire, the address
# window (ms), then four per join: buyer, entry id, joins allowed per address (0: no limit),
# the index of its address key in KEYS. Answers two items per join: 1 and the new record, 0
# and the buyer's existing record, or -1 and the ms until its address may join again. Entries
# are stamped with Redis's own clock, read once per call.
_JOIN = """
local out = {}
local now = false
for i = 3, #ARGV, 4 do
  local buyer = ARGV[i]
  local rec = redis.call('HGET', KEYS[1], buyer)
  local limited = false
  if not rec then
    local allowed = tonumber(ARGV[i + 2])
    if allowed > 0 then
      local counter = KEYS[tonumber(ARGV[i + 3])]
      local c = redis.call('INCR', counter)
      if c == 1 then redis.call('PEXPIRE', counter, ARGV[2]) end
      if c > allowed then limited = tostring(redis.call('PTTL', counter)) end
    end
  end
  if rec then
    out[#out + 1] = 0
    out[#out + 1] = rec
  elseif limited then
    out[#out + 1] = -1
    out[#out + 1] = limited
  else
    if not now then
      local t = redis.call('TIME')
      now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    end
    local n = redis.call('RPUSH', KEYS[2], ARGV[i + 1] .. ' ' .. buyer .. ' ' .. now)
    rec = ARGV[i + 1] .. ' ' .. n .. ' ' .. now
    redis.call('HSET', KEYS[1], buyer, rec)
    if n == 1 then
      redis.call('PEXPIREAT', KEYS[1], ARGV[1])
      redis.call('PEXPIREAT', KEYS[2], ARGV[1])
    end
    out[#out + 1] = 1
    out[#out + 1] = rec
  end
end
return out
"""

# Everything GET .../queue/me needs, in one call: the entry, its place, the line, and when the
# place was admitted.
_ME = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return false end
local st = redis.call('HMGET', KEYS[3], 'pre', 'admitted_upto', 'rate')
local length = redis.call('LLEN', KEYS[4])
local rank = redis.call('HGET', KEYS[2], ARGV[1])
local n = tonumber(string.match(rec, '^%S+ (%d+) '))
if not rank and st[1] and n > tonumber(st[1]) then rank = n end
local at = false
if rank and st[2] and tonumber(rank) <= tonumber(st[2]) then
  local first = redis.call('ZRANGEBYSCORE', KEYS[5], rank, '+inf', 'LIMIT', 0, 1)
  if first[1] then at = string.match(first[1], ':(%d+)$') end
end
return {rec, rank or false, st[1] or false, st[2] or false, st[3] or false, length, at}
"""


# A slice of the shuffled line: ARGV[2] is buyer ids joined by spaces, ARGV[1] the first one's
# rank. One argument instead of 10,000 fields: redis-py packs each argument in Python, and that
# was most of a 100,000-entry ranking's time (bench/queue.py).
_RANKS = """
local rank = tonumber(ARGV[1])
for buyer in string.gmatch(ARGV[2], '[^ ]+') do
  redis.call('HSET', KEYS[1], buyer, rank)
  rank = rank + 1
end
return rank - tonumber(ARGV[1])
"""


@dataclass(frozen=True)
class Entry:
    entry_id: str
    arrival: int  # 1 for the first to join
    joined_at: int


@dataclass(frozen=True)
class Place:
    """A buyer's entry and where the line stands for it."""

    entry: Entry
    rank: int | None  # None until the line is shuffled at starts_at
    admitted_upto: int
    length: int
    rate: int | None  # places admitted per minute
    admitted_at: int | None  # when this place was admitted (ms)

    @property
    def admitted(self) -> bool:
        return self.rank is not None and self.rank <= self.admitted_upto

    @property
    def ahead(self) -> int | None:
        """People still waiting in front of this place."""
        return None if self.rank is None else max(0, self.rank - self.admitted_upto - 1)

    @property
    def eta_s(self) -> int | None:
        """Seconds until admitted at the current rate; it only rises if the rate drops."""
        if self.rank is None or not self.rate:
            return None
        return 0 if self.admitted else math.ceil((self.rank - self.admitted_upto) * 60 / self.rate)


@dataclass(frozen=True)
class Line:
    """A waiting room at a glance: the ``queue`` frame and the panel."""

    length: int
    admitted_upto: int
    ranked: bool
    passes_used: int = 0


class _JoinBatch:
    """The joins to one offer collected in one event-loop tick, and the futures they wait on."""

    def __init__(self, loop: asyncio.AbstractEventLoop, offer_id: int, expire_at: int, window_ms: int) -> None:
        self.loop = loop
        self.offer_id = offer_id
        self.expire_at = expire_at
        self.window_ms = window_ms
        self.args: list[Any] = []
        self.ip_keys: dict[str, int] = {}  # address key -> its index in KEYS (from 3)
        self.futures: list[asyncio.Future[tuple[int, str]]] = []

    def add(self, buyer_id: str, entry_id: str, allowed: int, ip_key: str) -> asyncio.Future[tuple[int, str]]:
        index = self.ip_keys.setdefault(ip_key, len(self.ip_keys) + 3)
        self.args += (buyer_id, entry_id, allowed, index)
        future: asyncio.Future[tuple[int, str]] = self.loop.create_future()
        self.futures.append(future)
        return future

    def command(self) -> tuple[list[str], list[Any]]:
        keys_ = [keys.queue(self.offer_id, "buyers"), keys.queue(self.offer_id, "entries"), *self.ip_keys]
        return keys_, [self.expire_at, self.window_ms, *self.args]


class EntryIds:
    """Entry ids (16 hex digits, as secrets.token_hex(8)) from the OS's random source, 256 at a
    time: one getrandom() call per join was ~1 µs of its CPU. A forked child empties its copy of
    the pool (os.register_at_fork), so two processes never hand out the same ids."""

    BATCH = 256

    def __init__(self) -> None:
        self._pool: list[str] = []
        os.register_at_fork(after_in_child=self._pool.clear)

    def new(self) -> str:
        pool = self._pool
        if not pool:
            raw = os.urandom(8 * self.BATCH).hex()
            pool.extend(raw[i:i + 16] for i in range(0, len(raw), 16))
        return pool.pop()


_ENTRY_IDS = EntryIds()  # one per process: its fork hook is registered once


def _entry(record: str) -> Entry:
    entry_id, arrival, joined_at = record.split(" ")
    return Entry(entry_id, int(arrival), int(joined_at))


class WaitingRoom:
    def __init__(self, redis: aioredis.Redis, pass_s: int = PASS_S, lane: Lane | None = None) -> None:
        self.redis = redis
        self.pass_s = pass_s  # a pass is good this long after its place is admitted
        # Joins go through the stock store's hold lane when there is one (inventory.redis_lane):
        # redis-py's script call was a third of a join's CPU (bench/queue.py).
        self.lane = lane
        self._join = redis.register_script(_JOIN)
        self._me = redis.register_script(_ME)
        self._ranks = redis.register_script(_RANKS)
        self._used: dict[int, dict[str, int]] = {}  # offer id -> buyer -> rank, not yet written
        self._batches: dict[int, _JoinBatch] = {}  # offer id -> the joins of this tick, not yet sent
        self._commits: set[asyncio.Task[None]] = set()

    # -- buyers ------------------------------------------------------------------------------------

    async def join(
        self, offer_id: int, buyer_id: str, ends_at: int, ip: str, ip_limit: tuple[int, int] | None
    ) -> tuple[Entry, bool]:
        """The buyer's entry, and whether this call made it. ``ip_limit`` is (joins, window ms)
        per address, counted for new entries only; RateLimited past it.

        A group commit: the joins to one offer that arrive in the same event-loop tick go to
        Redis as one script call, sent at the start of the next tick. In the minutes before a
        drop 64 connections' worth of joins arrive per tick, and one call for a batch of them
        costs Redis and this process a share of one call's fixed cost instead of one each
        (bench/queue.py part 1; docs/waiting-room-bench.md)."""
        allowed, window_ms = ip_limit or (0, 0)
        batch = self._batches.get(offer_id)
        if batch is None or len(batch.futures) >= JOIN_BATCH_MAX or batch.window_ms != window_ms:
            batch = self._start_batch(offer_id, ends_at, window_ms)
        future = batch.add(buyer_id, _ENTRY_IDS.new(), allowed, keys.queue(offer_id, "ip:" + ip[:64]))
        created, record = await future
        if created < 0:
            raise RateLimited("too many people joined from this address; try again shortly", retry_after_ms=max(1, int(record)))
        return _entry(record), created == 1

    def _start_batch(self, offer_id: int, ends_at: int, window_ms: int) -> _JoinBatch:
        loop = asyncio.get_running_loop()
        batch = _JoinBatch(loop, offer_id, ends_at + KEEP_MS, window_ms)
        self._batches[offer_id] = batch
        # The task's first step runs in the next tick, after every request already read in this
        # one: they join the batch first.
        task = loop.create_task(self._commit(batch))
        self._commits.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._commits.discard)
        return batch

    async def _commit(self, batch: _JoinBatch) -> None:
        if self._batches.get(batch.offer_id) is batch:
            del self._batches[batch.offer_id]  # closed: later joins start the next batch
        keys_, args = batch.command()
        try:
            if self.lane is None:
                reply = await self._join(keys=keys_, args=args)
            else:
                reply = await self._join_on_lane(self.lane, keys_, args)
        except BaseException as exc:  # every join of the batch hears it (503 through the refusal handler)
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for n, future in enumerate(batch.futures):
            if not future.done():  # a join whose request was cancelled meanwhile
                future.set_result((int(reply[2 * n]), reply[2 * n + 1]))

    async def _join_on_lane(self, lane: Lane, keys_: list[str], args: list[Any]) -> Any:
        # Sent again on a new connection if the first one broke after writing it: a join that
        # did run answers its entry again (as a repeated join, 200 instead of 201).
        command = pack("EVALSHA", self._join.sha, len(keys_), *keys_, *args)
        try:
            return await lane.send(command, idempotent=True, key=keys_[0])
        except NoScriptError:  # a Redis that restarted empty, or flushed its scripts
            await self.redis.script_load(_JOIN)
            return await lane.send(command, idempotent=True, key=keys_[0])

    async def place(self, offer_id: int, buyer_id: str) -> Place | None:
        """Where ``buyer_id`` stands in the line; None: not in it."""
        reply = await self._me(
            keys=[keys.queue(offer_id, part) for part in ("buyers", "ranks", "state", "entries", "admitted")],
            args=[buyer_id],
        )
        if not reply:
            return None
        record, rank, _pre, upto, rate, length, admitted_at = reply
        return Place(
            entry=_entry(record),
            rank=int(rank) if rank else None,
            admitted_upto=int(upto or 0),
            length=int(length),
            rate=int(rate) if rate else None,
            admitted_at=int(admitted_at) if admitted_at else None,
        )

    def note_used(self, offer_id: int, buyer_id: str, rank: int) -> None:
        """A pass got its buyer a hold: its place stops counting as open. Written by ``flush_used``
        a moment later (the hold route's budget is one Redis round trip); a process that dies
        first loses the note, and the place counts as open until its pass expires."""
        self._used.setdefault(offer_id, {})[buyer_id] = rank

    async def flush_used(self) -> None:
        if not self._used:
            return
        pending, self._used = self._used, {}
        pipe = self.redis.pipeline(transaction=False)
        for offer_id, ranks in pending.items():
            pipe.zadd(keys.queue(offer_id, "used"), dict(ranks))
        await pipe.execute()

    # -- the clock ---------------------------------------------------------------------------------

    async def is_ranked(self, offer_id: int) -> bool:
        return bool(await self.redis.hexists(keys.queue(offer_id, "state"), "pre"))

    async def rank(self, offer_id: int, seed: bytes, starts_at: int, rate: int, now: int, ends_at: int) -> int:
        """Shuffle everyone who joined before ``starts_at``; returns how many. Idempotent: a clock
        that died halfway ranks again from the same entries and seed, to the same places."""
        entries_key = keys.queue(offer_id, "entries")
        entry_ids: list[str] = []  # of those who joined before starts_at, in arrival order
        buyer_ids: list[str] = []
        start = 0
        while True:
            records = cast(list[str], await self.redis.lrange(entries_key, start, start + RANK_READ_SLICE - 1))
            for record in records:
                entry_id, buyer_id, joined_at = record.split(" ")
                if int(joined_at) >= starts_at:
                    break
                entry_ids.append(entry_id)
                buyer_ids.append(buyer_id)
            else:
                if len(records) == RANK_READ_SLICE:
                    start += RANK_READ_SLICE
                    continue
            break
        order = await rank_without_blocking(seed, entry_ids)
        ranks_key = keys.queue(offer_id, "ranks")
        for at in range(0, len(order), RANK_WRITE_SLICE):
            chunk = " ".join([buyer_ids[position] for position in order[at:at + RANK_WRITE_SLICE]])
            await self._ranks(keys=[ranks_key], args=[at + 1, chunk])
        state = keys.queue(offer_id, "state")
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(state, "admitted_upto", 0)
        # Admission starts when the places are known, not at the tick that began the shuffle: a
        # 100,000 line takes 0.7-1.6 s to rank here, which at 6,000 a minute was a burst of up to
        # 160 places let in at once on the first tick.
        pipe.hset(state, "raised_at", max(now, now_ms()))
        pipe.hsetnx(state, "rate", rate)
        pipe.hset(state, "pre", len(order))  # last: a place is known once this is there
        for key in ("ranks", "state", "entries", "buyers"):
            pipe.pexpireat(keys.queue(offer_id, key), ends_at + KEEP_MS)
        await pipe.execute()
        return len(order)

    async def admit(self, offer_id: int, available: int, now: int) -> int:
        """Raise the line by what the rate allows since the last tick, as far as the units still
        available can serve; returns ``admitted_upto``. Run by the one clock process."""
        state = keys.queue(offer_id, "state")
        fields = await self.redis.hmget(state, ["admitted_upto", "raised_at", "rate", "carry"])
        upto, raised_at, rate = int(fields[0] or 0), int(fields[1] or now), int(fields[2] or 0)
        credit = float(fields[3] or 0) + rate * max(0, now - raised_at) / 60_000
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(keys.queue(offer_id, "entries"))
        pipe.zrevrangebyscore(keys.queue(offer_id, "admitted_at"), now - self.pass_s * 1000, "-inf", start=0, num=1)
        length, old = await pipe.execute()
        upto_old = int(old[0]) if old else 0  # places admitted pass_s ago or earlier: expired or used
        used_recent = int(await self.redis.zcount(keys.queue(offer_id, "used"), upto_old + 1, upto)) if upto > upto_old else 0
        open_passes = upto - upto_old - used_recent
        room = math.ceil(OPEN_PASSES_FACTOR * max(0, available)) + OPEN_PASSES_SLACK - open_passes
        step = min(int(credit), max(0, room), max(0, int(length) - upto))
        # Credit the line could not use (no one waiting, or no units for more) is dropped: a pause
        # must not turn into a burst of admissions afterwards.
        carry = credit - step if step == int(credit) else 0.0
        pipe = self.redis.pipeline(transaction=False)
        if step > 0:
            upto += step
            pipe.zadd(keys.queue(offer_id, "admitted"), {f"{upto}:{now}": upto})
            pipe.zadd(keys.queue(offer_id, "admitted_at"), {str(upto): now})
            pipe.hset(state, "admitted_upto", upto)
        pipe.hset(state, mapping={"raised_at": now, "carry": round(min(carry, 1.0), 6)})
        await pipe.execute()
        return upto

    async def set_rate(self, offer_id: int, rate: int) -> None:
        await self.redis.hset(keys.queue(offer_id, "state"), "rate", rate)

    # -- reading -----------------------------------------------------------------------------------

    async def lines(self, offer_ids: list[int]) -> dict[int, Line]:
        pipe = self.redis.pipeline(transaction=False)
        for offer_id in offer_ids:
            pipe.llen(keys.queue(offer_id, "entries"))
            pipe.hmget(keys.queue(offer_id, "state"), ["admitted_upto", "pre"])
        replies = await pipe.execute()
        return {
            offer_id: Line(int(replies[2 * i]), int(replies[2 * i + 1][0] or 0), replies[2 * i + 1][1] is not None)
            for i, offer_id in enumerate(offer_ids)
        }

    async def line(self, offer_id: int) -> Line:
        line = (await self.lines([offer_id]))[offer_id]
        used = int(await self.redis.zcard(keys.queue(offer_id, "used")))
        return Line(line.length, line.admitted_upto, line.ranked, used)

    async def audit(self, offer_id: int) -> tuple[list[tuple[str, int, int | None]], list[tuple[int, int]]]:
        """Every entry as (entry id, joined at, rank) in arrival order, and every admission as
        (admitted up to place, at)."""
        records = cast(list[str], await self.redis.lrange(keys.queue(offer_id, "entries"), 0, -1))
        ranks = await redis_replies.hgetall(self.redis, keys.queue(offer_id, "ranks"))
        ranked = await self.is_ranked(offer_id)
        entries: list[tuple[str, int, int | None]] = []
        for arrival, record in enumerate(records, start=1):
            entry_id, buyer_id, joined_at = record.split(" ")
            rank = ranks.get(buyer_id)
            entries.append((entry_id, int(joined_at), int(rank) if rank else (arrival if ranked else None)))
        admissions = cast(list[str], await self.redis.zrange(keys.queue(offer_id, "admitted"), 0, -1))
        steps = [(int(upto), int(at)) for upto, at in (member.split(":") for member in admissions)]
        return entries, steps
