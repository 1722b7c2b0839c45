"""The waiting room's benchmarks (issue 16): joining, the shuffle at starts_at, the hold with a
pass, and a whole drop behind a queue with viewers watching. Prints one JSON object, the issue's
targets beside the figures.

    .venv/bin/python -m bench.queue                       # the issue's sizes, ~3.5 minutes on 2 cores
    .venv/bin/python -m bench.queue --entrants 20000 --viewers 300 --rounds 3 --seconds 2   # a quick check
    .venv/bin/python -m bench.queue --parts 2,4           # some parts only

1. joins: ``--entrants`` joins (each a new entry) through POST .../queue, in ``--rounds`` rounds
   alternating with as many requests to the trivial endpoint (GET /healthz, as bench/drop.py);
   the ratio is the median of the rounds' join/trivial rates (each round's rate is its requests
   over the time from the first load process's start to the last one's end).
2. rank: WaitingRoom.rank on ``--entrants`` entries filled with WaitingRoom.join, on the bench
   server's Redis, in a process run like the server (uvloop, the server's gc settings); a task
   sleeping 1 ms in a loop beside it records the longest gap (the event loop's longest block).
3. hold with a pass: the hold route's success path on a live queue offer (2,000 admitted buyers,
   each press carrying its pass), alternating with the trivial endpoint and bench/drop.py's plain
   hold success path, ``--seconds`` each, ``--rounds`` times.
   Parts 1 and 3 also give the server's (and its embedded redis-server's) CPU time per request of
   each path: it hardly moves when other work shares the cores, unlike the rates.
4. drop: ``--units`` units behind a queue of ``--entrants`` entrants (joined through the API
   before starts_at) with ``--viewers`` WebSocket viewers of the show, on a fresh server with the
   default pass length and per-buyer limits. From starts_at every entrant asks GET .../queue/me
   once (a pool of ``--crowd-connections`` per load process, in random order: the crowd learning
   its places); the admitted buyers, told by the ``queue`` frames (a WebSocket of the bench's
   own), fetch their pass from /queue/me and press buy once, ``--buyer-clients`` at a time. Who
   stands at which place the bench reads once from the ranks the shuffle wrote in Redis (each
   entrant's own first /queue/me is in the crowd's load). No hold is checked out.
   Figures: starts_at to the last unit held (with a timeline), the viewers' ``queue`` frame
   delivery (frame ts to receipt, wall clocks of one machine), and that nothing was oversold (the
   holds answered, the API's stock and orders, Redis's counts).

Buyers are made by signing buyer tokens here with the server's SECRET_KEY, as web.auth.BuyerTokens
does (checked against it): a join, /queue/me and a hold only verify the token's signature
(web.auth.BuyerTokens.verify); none reads the buyers table. POST /api/buyers would cost 100,000
SQL inserts before the first measured request.

Starts its own ``livedrop serve`` processes on loopback with fresh data folders (embedded
redis-server and SQLite, or REDIS_URL / DATABASE_URL when set): one for parts 1-3 (rate limits
lifted, passes good for an hour so part 3's rounds keep theirs), a fresh one for part 4.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import multiprocessing as mp
import os
import random
import re
import secrets
import shutil
import statistics
import struct
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_encode

from bench.drop import median_of, raise_nofile, setup_show
from bench.loadgen import (
    LoadResult,
    RequestMaker,
    hold_presses,
    request_bytes,
    run_load,
)
from inventory import redis_replies
from inventory.clock import now_ms
from inventory.stock import StockStore
from live import keys
from live.queue_order import new_seed
from live.waiting_room import WaitingRoom
from tests.support import LivedropProcess, host_token, livedrop_env
from web.auth import BuyerTokens
from web.services import make_redis

TARGETS = {
    "join_vs_trivial": 0.7,
    "rank_seconds": 1.0,
    "rank_longest_loop_block_ms": 50.0,
    "hold_with_pass_vs_trivial": 0.6,
    "oversold_units": 0,
}
BENCH_BUYERS = 2000  # part 3: admitted buyers pressing with their passes
VIEWERS_PER_PROCESS = 2500
CONNECT_CONCURRENCY = 200
LONG = 600.0  # the cap on a run bounded by its number of requests


# -- buyers ----------------------------------------------------------------------------------------


def signed_buyers(secret: str, n: int) -> tuple[list[str], list[str]]:
    """``n`` new buyer ids and their tokens, as web.auth.BuyerTokens would issue them, ~20 µs each
    (BuyerTokens.issue derives its key every call: 100,000 would take 11 s)."""
    serializer = URLSafeSerializer(secret, salt="livedrop.buyer")
    signer = serializer.make_signer()
    key = signer.derive_key()

    def issue(buyer_id: str) -> str:
        payload = serializer.dump_payload(buyer_id)
        return (payload + signer.sep + base64_encode(signer.algorithm.get_signature(key, payload))).decode()

    ids = [secrets.token_hex(8) for _ in range(n)]
    tokens = [issue(buyer_id) for buyer_id in ids]
    reference = BuyerTokens(secret)
    assert all(reference.issue(b) == t and reference.verify(t) == b for b, t in zip(ids[:50], tokens[:50], strict=True))
    return ids, tokens


# -- the server's side of a benchmark ---------------------------------------------------------------


async def queue_show(url: str, token: str, title: str, stock: dict[str, int], *, starts_in_ms: int,
                     admit_per_minute: int | None, per_customer_limit: int) -> tuple[str, int, dict[str, Any]]:
    """A live show with a product pinned and a queue offer on it starting in ``starts_in_ms``."""
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as http:
        product = (await http.post("/api/products", json={
            "title": title, "price_cents": 10000, "currency": "USD",
            "variants": [{"sku": sku, "label": sku, "stock": n} for sku, n in stock.items()]})).json()
        slug = (await http.post("/api/shows", json={"title": title})).json()["slug"]
        (await http.post(f"/api/shows/{slug}/start")).raise_for_status()
        (await http.put(f"/api/shows/{slug}/pin", json={"product_id": product["id"]})).raise_for_status()
        body: dict[str, Any] = {"product_id": product["id"], "price_cents": 9000, "duration_s": 3600, "mode": "queue",
                                "starts_at": now_ms() + starts_in_ms, "per_customer_limit": per_customer_limit}
        if admit_per_minute is not None:
            body["admit_per_minute"] = admit_per_minute
        offer = await http.post(f"/api/shows/{slug}/offers", json=body)
        assert offer.status_code == 201, offer.text
        return slug, int(product["id"]), dict(offer.json())


def queue_path(slug: str, offer_id: int, tail: str = "") -> str:
    return f"/api/shows/{slug}/offers/{offer_id}/queue{tail}"


def joins(url: str, slug: str, offer_id: int, tokens: list[str], first: int = 0) -> RequestMaker:
    """POST .../queue with body {} by buyer ``first + i``: a new entry per request."""
    path = queue_path(slug, offer_id)
    templates = [request_bytes("POST", url, path, {"Authorization": f"Bearer {t}"}, b"{}") for t in tokens]
    return lambda i, k: templates[first + i]


def places(url: str, slug: str, offer_id: int, tokens: list[str]) -> RequestMaker:
    """GET .../queue/me by buyer i."""
    path = queue_path(slug, offer_id, "/me")
    templates = [request_bytes("GET", url, path, {"Authorization": f"Bearer {t}"}) for t in tokens]
    return lambda i, k: templates[i]


def trivial(url: str) -> RequestMaker:
    request = request_bytes("GET", url, "/healthz")
    return lambda i, k: request


async def figures(url: str, token: str, slug: str, offer_id: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        answer = await http.get(queue_path(slug, offer_id))
        answer.raise_for_status()
        return dict(answer.json())


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def sleep_until_ms(at_ms: int) -> None:
    time.sleep(max(0.0, (at_ms - now_ms()) / 1000))


def rate(results: list[LoadResult]) -> float:
    return statistics.median(r.rate for r in results)


class ServerCpu:
    """CPU time per request of each run, by path, of the server process and of its embedded
    redis-server: unlike a rate, it hardly moves when other work shares the machine's cores (the
    load processes, or anything else)."""

    def __init__(self, pid: int) -> None:
        self.processes = {"server": psutil.Process(pid)}
        redis = [p for p in self.processes["server"].children() if "redis" in p.name()]
        if redis:
            self.processes["redis"] = redis[0]
        self.us_per_request: dict[str, dict[str, list[float]]] = {}

    def run(self, name: str, url: str, make: RequestMaker, **load: Any) -> LoadResult:
        before = {k: p.cpu_times() for k, p in self.processes.items()}
        result = run_load(url, make, **load)
        for k, p in self.processes.items():
            after = p.cpu_times()
            spent = (after.user + after.system) - (before[k].user + before[k].system)
            self.us_per_request.setdefault(k, {}).setdefault(name, []).append(spent / max(1, result.requests) * 1e6)
        return result

    def medians(self) -> dict[str, dict[str, float]]:
        return {k: {name: round(statistics.median(v), 1) for name, v in by_path.items()} for k, by_path in self.us_per_request.items()}


# -- 1. joins ---------------------------------------------------------------------------------------


def bench_joins(server: LivedropProcess, token: str, tokens: list[str], args: argparse.Namespace) -> dict[str, Any]:
    url = server.url
    cpu = ServerCpu(server.proc.pid)  # type: ignore[union-attr]
    slug, _, offer = asyncio.run(queue_show(url, token, "Joins", {"J-1": 1000}, starts_in_ms=3_600_000,
                                            admit_per_minute=None, per_customer_limit=1))
    per_round = len(tokens) // args.rounds
    load = {"processes": args.processes, "connections": args.connections, "seconds": LONG, "total": per_round}
    rounds: dict[str, list[LoadResult]] = {"trivial_endpoint": [], "join": []}
    for r in range(args.rounds):
        rounds["trivial_endpoint"].append(cpu.run("trivial_endpoint", url, trivial(url), **load))
        rounds["join"].append(cpu.run("join", url, joins(url, slug, offer["id"], tokens, r * per_round), **load))
    per_round_ratio = [round(j.rate / t.rate, 3) for t, j in zip(rounds["trivial_endpoint"], rounds["join"], strict=True)]
    line = asyncio.run(figures(url, token, slug, offer["id"]))
    return {
        "joins": per_round * args.rounds,
        "requests_per_round": per_round,
        "trivial_endpoint": median_of(rounds["trivial_endpoint"]),
        "join": median_of(rounds["join"]),
        "queue_length_after": line["length"],
        "join_vs_trivial": statistics.median(per_round_ratio),
        "join_vs_trivial_per_round": per_round_ratio,
        "join_vs_trivial_of_median_rates": round(rate(rounds["join"]) / rate(rounds["trivial_endpoint"]), 3),
        "target_join_vs_trivial": TARGETS["join_vs_trivial"],
        "cpu_us_per_request": cpu.medians(),
    }


# -- 2. ranking the pre-queue -----------------------------------------------------------------------


async def _longest_block(stop: asyncio.Event) -> tuple[float, float]:
    """The longest time between wake-ups of a task that sleeps 1 ms at a time (the 1 ms included),
    and the most CPU time this thread spent between two wake-ups: the loop's own longest block,
    without the time the machine gave other processes (this one shares two cores)."""
    worst = worst_cpu = 0.0
    last, last_cpu = time.perf_counter(), time.thread_time()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now, cpu = time.perf_counter(), time.thread_time()
        worst, worst_cpu = max(worst, now - last), max(worst_cpu, cpu - last_cpu)
        last, last_cpu = now, cpu
    return worst, worst_cpu


async def _rank_rounds(redis_url: str, entrants: int, rounds: int) -> dict[str, Any]:
    from web.server import (
        tune_garbage_collector,  # the server's gc settings, in this process only
    )

    redis = make_redis(redis_url)
    room = WaitingRoom(redis)
    offer_id = 800_000_000 + random.randrange(1_000_000)
    ends_at = now_ms() + 3_600_000
    fill_started = time.perf_counter()
    for at in range(0, entrants, 250):  # 250 calls in flight: below the client's pool of connections
        await asyncio.gather(*(room.join(offer_id, f"bench-{n:07d}", ends_at, "127.0.0.1", None)
                               for n in range(at, min(entrants, at + 250))))
    fill_s = time.perf_counter() - fill_started
    await asyncio.sleep(0.01)
    starts_at = now_ms()
    tune_garbage_collector()
    seconds: list[float] = []
    cpu_seconds: list[float] = []  # this process's own (the watcher's 1 ms wake-ups included), not Redis's
    blocks: list[tuple[float, float]] = []
    for _ in range(rounds):
        stop = asyncio.Event()
        watcher = asyncio.create_task(_longest_block(stop))
        await asyncio.sleep(0.05)
        started, started_cpu = time.perf_counter(), time.thread_time()
        ranked = await room.rank(offer_id, new_seed(), starts_at, 6000, now_ms(), ends_at)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.thread_time() - started_cpu)
        stop.set()
        blocks.append(await watcher)
        assert ranked == entrants, (ranked, entrants)
    assert int(await redis.hlen(keys.queue(offer_id, "ranks"))) == entrants
    await redis.delete(*(keys.queue(offer_id, part) for part in ("entries", "buyers", "ranks", "state", "ip:127.0.0.1")))
    await redis.aclose()
    return {
        "entrants": entrants,
        "fill_with_join_seconds": round(fill_s, 2),
        "seconds": round(statistics.median(seconds), 3),
        "seconds_by_round": [round(s, 3) for s in seconds],
        "cpu_seconds": round(statistics.median(cpu_seconds), 3),
        "longest_loop_block_ms": round(statistics.median(wall for wall, _ in blocks) * 1000, 1),
        "longest_loop_block_ms_by_round": [round(wall * 1000, 1) for wall, _ in blocks],
        "longest_loop_block_cpu_ms_by_round": [round(cpu * 1000, 1) for _, cpu in blocks],
        "target_seconds": TARGETS["rank_seconds"],
        "target_longest_loop_block_ms": TARGETS["rank_longest_loop_block_ms"],
    }


def _rank_worker(redis_url: str, entrants: int, rounds: int, out: mp.Queue) -> None:
    import uvloop  # the server runs on it (web.cli)

    try:
        out.put(uvloop.run(_rank_rounds(redis_url, entrants, rounds)))
    except BaseException as exc:
        out.put({"error": repr(exc)})
        raise


def bench_rank(redis_url: str, args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_rank_worker, args=(redis_url, args.entrants, args.rounds, out))
    proc.start()
    result = dict(out.get(timeout=LONG))
    proc.join()
    return result


# -- 3. the hold with a pass ------------------------------------------------------------------------


def bench_hold_with_pass(server: LivedropProcess, token: str, secret: str, args: argparse.Namespace) -> dict[str, Any]:
    url = server.url
    cpu = ServerCpu(server.proc.pid)  # type: ignore[union-attr]
    _, buyers = signed_buyers(secret, BENCH_BUYERS)
    big_slug, _ = asyncio.run(setup_show(url, token, "Big stock", {f"BIG-{i}": 1_000_000 for i in range(6)}, 1000))
    skus = [f"QB-{i}" for i in range(6)]
    slug, _, offer = asyncio.run(queue_show(url, token, "Queue big stock", {sku: 1_000_000 for sku in skus},
                                            starts_in_ms=5000, admit_per_minute=1_000_000, per_customer_limit=1000))
    joined = run_load(url, joins(url, slug, offer["id"], buyers), processes=args.processes, connections=args.connections,
                      seconds=LONG, total=len(buyers))
    assert joined.statuses == {201: len(buyers)}, joined.statuses
    sleep_until_ms(offer["starts_at"])
    wait_for(lambda: asyncio.run(figures(url, token, slug, offer["id"]))["admitted_upto"] >= len(buyers), 60,
             "every bench buyer admitted", 0.2)
    passes = asyncio.run(_passes(url, slug, offer["id"], buyers))

    paths = {
        "trivial_endpoint": trivial(url),
        "hold_success_path": hold_presses(url, big_slug, buyers, [f"BIG-{i}" for i in range(6)]),
        "hold_with_pass_success_path": hold_presses(url, slug, buyers, skus, passes),
    }
    rounds: dict[str, list[LoadResult]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, make in paths.items():
            rounds[name].append(cpu.run(name, url, make, processes=args.processes, connections=args.connections, seconds=args.seconds))
    per_round = [
        {"hold_with_pass_vs_trivial": round(q.rate / t.rate, 3), "hold_success_vs_trivial": round(h.rate / t.rate, 3)}
        for t, h, q in zip(rounds["trivial_endpoint"], rounds["hold_success_path"], rounds["hold_with_pass_success_path"], strict=True)
    ]
    report: dict[str, Any] = {name: median_of(results) for name, results in rounds.items()}
    report.update({
        "admitted_buyers_pressing": len(buyers),
        "hold_with_pass_vs_trivial": statistics.median(r["hold_with_pass_vs_trivial"] for r in per_round),
        "hold_success_vs_trivial": statistics.median(r["hold_success_vs_trivial"] for r in per_round),
        "per_round": per_round,
        "target_hold_with_pass_vs_trivial": TARGETS["hold_with_pass_vs_trivial"],
        "target_hold_success_vs_trivial": 0.6,
        "cpu_us_per_request": cpu.medians(),
    })
    return report


async def _passes(url: str, slug: str, offer_id: int, buyers: list[str]) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=50)) as http:
        gate = asyncio.Semaphore(50)

        async def one(buyer: str) -> str:
            async with gate:
                place = (await http.get(queue_path(slug, offer_id, "/me"), headers={"Authorization": f"Bearer {buyer}"})).json()
                assert place["admitted"] and place["pass"], place
                return str(place["pass"])

        return await asyncio.gather(*(one(b) for b in buyers))


# -- 4. the drop: viewers (client processes) ---------------------------------------------------------

_TS = re.compile(rb'"ts":(\d+)')


class QueueWatcher(asyncio.Protocol):
    """A viewer of the show: the handshake, then frames; for each ``queue`` frame, its ts and when
    it arrived (wall clock ms, as the server stamps ts). Answers the server's pings (uvicorn
    closes a socket that does not within 20 s of one)."""

    def __init__(self, ready: asyncio.Future[None], frames: list[tuple[int, float]]) -> None:
        self.ready = ready
        self.frames = frames
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.time() * 1000
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                if not self.ready.done():
                    self.ready.set_exception(RuntimeError(bytes(self.buffer[:80]).decode(errors="replace")))
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            if not self.ready.done():
                self.ready.set_result(None)
        while len(self.buffer) >= 2:
            length, offset = self.buffer[1] & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < offset + length:
                return
            opcode = self.buffer[0] & 0x0F
            if opcode == 0x9 and self.transport is not None:  # ping: pong, masked as a client's frames are
                payload = bytes(self.buffer[offset: offset + length])
                mask = os.urandom(4)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask
                                     + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            head = bytes(self.buffer[offset: offset + min(length, 48)])
            if b'"type":"queue"' in head:
                ts = _TS.search(head)
                if ts:
                    self.frames.append((int(ts.group(1)), now))
            del self.buffer[: offset + length]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"connection lost: {exc}"))


async def _viewers(port: int, slug: str, count: int, conn: Any) -> None:
    loop = asyncio.get_running_loop()
    request = (f"GET /ws/shows/{slug} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n")
    watchers: list[QueueWatcher] = []
    frames: list[tuple[int, float]] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> None:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            transport, watcher = await loop.create_connection(lambda: QueueWatcher(ready, frames), "127.0.0.1", port)
            transport.write(request.replace("{key}", base64.b64encode(os.urandom(16)).decode()).encode())
            await asyncio.wait_for(ready, 60)
            watchers.append(watcher)

    await asyncio.gather(*(one() for _ in range(count)))
    conn.send(len(watchers))
    await loop.run_in_executor(None, conn.recv)  # "report"
    conn.send((frames, sum(not w.closed for w in watchers)))
    for watcher in watchers:
        if watcher.transport is not None:
            watcher.transport.close()


def _viewer_worker(port: int, slug: str, count: int, conn: Any) -> None:
    raise_nofile()
    import uvloop

    uvloop.run(_viewers(port, slug, count, conn))


# -- 4. the drop: the admitted buyers (this process) ---------------------------------------------------


class RawHttp:
    """Keep-alive HTTP/1.1 connections on raw asyncio streams, at most ``size`` at once: the
    admitted buyers' client. httpx spends more of this process's CPU per request than the server
    spends answering it, and this process shares the machine's two cores with the server."""

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.gate = asyncio.Semaphore(size)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        async with self.gate:
            reader, writer = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
            writer.write(request_bytes(method, self.url, path, headers, body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            answer = await reader.readexactly(length) if length else b""
            self.idle.append((reader, writer))
            return int(head[9:12]), answer

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


class Drop:
    """The admitted buyers: told of admissions by the ``queue`` frames, each fetches its pass and
    presses buy once."""

    def __init__(self, url: str, slug: str, offer: dict[str, Any], sku: str, units: int, token_of: dict[str, str],
                 redis_url: str, clients: int) -> None:
        self.url, self.slug, self.offer, self.sku, self.units = url, slug, offer, sku, units
        self.token_of = token_of
        self.redis_url = redis_url
        self.clients = clients
        self.statuses: Counter[int] = Counter()
        self.me_statuses: Counter[int] = Counter()
        self.held_at: list[int] = []  # wall ms of each 201
        self.admissions: list[tuple[int, int]] = []  # (admitted_upto, frame ts)
        self.ranked_at: int | None = None
        self.done = asyncio.Event()

    async def run(self, timeout: float) -> None:
        from websockets.asyncio.client import connect

        ws_url = self.url.replace("http://", "ws://") + f"/ws/shows/{self.slug}"
        http = RawHttp(self.url, self.clients)
        async with connect(ws_url, max_size=None, compression=None) as socket:
            ranks = asyncio.create_task(self._ranks())  # meanwhile, the frames are read as they come
            tasks: list[asyncio.Task[None]] = []
            served = 0
            deadline = time.monotonic() + timeout
            while not self.done.is_set() and time.monotonic() < deadline:
                try:
                    raw = await asyncio.wait_for(socket.recv(), 1.0)
                except TimeoutError:
                    continue
                frame = json.loads(raw)
                if frame.get("type") != "queue":
                    continue
                line = next((q for q in frame["queues"] if q["offer_id"] == self.offer["id"]), None)
                if line is None or line["admitted_upto"] <= served:
                    continue
                self.admissions.append((line["admitted_upto"], frame["ts"]))
                buyer_at_rank = await ranks
                for rank in range(served + 1, min(line["admitted_upto"], len(buyer_at_rank)) + 1):
                    tasks.append(asyncio.create_task(self._buyer(http, self.token_of[buyer_at_rank[rank - 1]])))
                served = line["admitted_upto"]
                if served >= len(buyer_at_rank):
                    break
            await asyncio.gather(*tasks)
            await ranks
        http.close()

    async def _ranks(self) -> list[str]:
        """Who is at which place, read once from the ranks the shuffle wrote (a stand-in for each
        buyer's own GET .../queue/me, which the crowd load makes)."""
        redis = make_redis(self.redis_url)
        state = keys.queue(self.offer["id"], "state")
        while not await redis.hexists(state, "pre"):
            await asyncio.sleep(0.02)
        self.ranked_at = now_ms()
        ranks = await redis_replies.hgetall(redis, keys.queue(self.offer["id"], "ranks"))
        await redis.aclose()
        return [buyer for buyer, _ in sorted(ranks.items(), key=lambda item: int(item[1]))]

    async def _buyer(self, http: RawHttp, token: str) -> None:
        """One admitted buyer: its pass from /queue/me, then one press."""
        if self.done.is_set():
            return
        auth = {"Authorization": f"Bearer {token}"}
        status, answer = await http.request("GET", queue_path(self.slug, self.offer["id"], "/me"), auth)
        self.me_statuses[status] += 1
        pass_token = json.loads(answer).get("pass") if status == 200 else None
        if not pass_token:
            return
        body = json.dumps({"sku": self.sku, "quantity": 1, "pass": pass_token}).encode()
        status, _ = await http.request("POST", f"/api/shows/{self.slug}/holds", {**auth, "Idempotency-Key": uuid.uuid4().hex}, body)
        self.statuses[status] += 1
        if status == 201:
            self.held_at.append(now_ms())
            if len(self.held_at) >= self.units:
                self.done.set()
        elif status == 409:
            self.done.set()  # sold out: the presses still in flight finish, no new ones start


def bench_drop(args: argparse.Namespace, secret: str, join_rate: float | None) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="livedrop-bench-queue-drop-"))
    try:
        env = livedrop_env(data, LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000", SECRET_KEY=secret)
        token = host_token(env, "drop@example.com", "bench password 123")
        ids, tokens = signed_buyers(secret, args.entrants)
        token_of = dict(zip(ids, tokens, strict=True))
        viewers: list[Any] = []  # the viewers' processes
        with LivedropProcess(["serve"], env) as server:
            url = server.url
            redis_url = env.get("REDIS_URL") or f"unix://{data / 'redis' / 'redis.sock'}"
            # The show first, with the viewers in it, then the offer (its starts_at leaves time to fill the line).
            slug = asyncio.run(_drop_show(url, token))
            pipes = []
            ctx = mp.get_context("fork")
            n_procs = max(1, math.ceil(args.viewers / VIEWERS_PER_PROCESS))
            connect_started = time.monotonic()
            for i in range(n_procs):
                share = args.viewers // n_procs + (1 if i < args.viewers % n_procs else 0)
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_viewer_worker, args=(server.port, slug, share, child), daemon=True)
                proc.start()
                viewers.append(proc)
                pipes.append(parent)
            connected = sum(pipe.recv() for pipe in pipes)
            connect_s = time.monotonic() - connect_started

            sku = "DROP-1"
            fill_s = args.entrants / (join_rate or 4000.0) * 1.5 + 5  # part 1's join rate, with a margin for the viewers
            offer = asyncio.run(_drop_offer(url, token, slug, sku, args.units, args.admit_per_minute, int(fill_s * 1000)))
            fill = run_load(url, joins(url, slug, offer["id"], tokens), processes=args.processes, connections=args.connections,
                            seconds=LONG, total=len(tokens))
            filled_before_start_s = (offer["starts_at"] - now_ms()) / 1000

            sleep_until_ms(offer["starts_at"])
            crowd_result: dict[str, LoadResult] = {}
            order = list(range(len(tokens)))
            random.shuffle(order)
            crowd_tokens = [tokens[i] for i in order]
            crowd = threading.Thread(target=lambda: crowd_result.update(crowd=run_load(
                url, places(url, slug, offer["id"], crowd_tokens), processes=args.processes, connections=args.crowd_connections,
                seconds=LONG, total=len(crowd_tokens))))
            crowd.start()
            drop = Drop(url, slug, offer, sku, args.units, token_of, redis_url, args.buyer_clients)
            asyncio.run(drop.run(timeout=240))
            drop_ended = now_ms()
            crowd.join()
            for pipe in pipes:
                pipe.send("report")
            frames: list[tuple[int, float]] = []
            still_connected = 0
            for pipe in pipes:
                got, alive = pipe.recv()
                frames.extend(got)
                still_connected += alive
            counts, api_stock, orders, line = asyncio.run(_drop_counts(url, token, redis_url, slug, offer["product_id"], offer["id"]))
            for proc in viewers:
                proc.terminate()
    finally:
        shutil.rmtree(data, ignore_errors=True)  # after the server stopped: its SQLite file and Redis dump

    starts_at = offer["starts_at"]
    held = drop.statuses.get(201, 0)
    in_drop = [recv - ts for ts, recv in frames if starts_at <= ts <= (max(drop.held_at) if drop.held_at else drop_ended)]
    everything = [recv - ts for ts, recv in frames]
    c = counts[0]
    return {
        "units": args.units,
        "entrants": args.entrants,
        "viewers": args.viewers,
        "viewers_connected": connected,
        "viewers_still_connected_at_end": still_connected,
        "viewer_connect_seconds": round(connect_s, 2),
        "admit_per_minute": args.admit_per_minute,
        "fill_joins": fill.summary(),
        "fill_finished_seconds_before_starts_at": round(filled_before_start_s, 1),
        "entrants_ranked": line["ranked_count"],
        "entrants_late": line["length"] - line["ranked_count"],  # joined after starts_at: the fill overran it
        "shuffle_done_after_starts_at_ms": (drop.ranked_at - starts_at) if drop.ranked_at else None,
        "first_admission_frame_after_starts_at_ms": (drop.admissions[0][1] - starts_at) if drop.admissions else None,
        "seconds_from_starts_at_to_last_unit_held": round((max(drop.held_at) - starts_at) / 1000, 2) if held >= args.units else None,
        "units_held": held,
        "buyer_presses": dict(drop.statuses),
        "buyer_queue_me": dict(drop.me_statuses),
        "admitted_upto_at_end": line["admitted_upto"],
        "timeline_by_second_after_starts_at": _timeline(starts_at, drop),
        "crowd_queue_me_from_starts_at": crowd_result["crowd"].summary() if crowd_result else None,
        "queue_frame_delivery_ms": {
            "during_drop": _percentiles(in_drop),
            "whole_run": _percentiles(everything),
        },
        "stock_redis": c,
        "stock_api": api_stock,
        "paid_orders_api": orders,
        "oversold_units": max(0, held - args.units) + max(0, c["held"] + c["sold"] - args.units) + max(0, -c["available"]),
        "invariant_sold_held_available_equals_loaded": c["available"] + c["held"] + c["sold"] == c["loaded"],
        "target_oversold_units": TARGETS["oversold_units"],
    }


async def _drop_show(url: str, token: str) -> str:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        slug = str((await http.post("/api/shows", json={"title": "The drop"})).json()["slug"])
        (await http.post(f"/api/shows/{slug}/start")).raise_for_status()
        return slug


async def _drop_offer(url: str, token: str, slug: str, sku: str, units: int, admit_per_minute: int, starts_in_ms: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        product = (await http.post("/api/products", json={
            "title": "The drop", "price_cents": 10000, "currency": "USD",
            "variants": [{"sku": sku, "label": sku, "stock": units}]})).json()
        (await http.put(f"/api/shows/{slug}/pin", json={"product_id": product["id"]})).raise_for_status()
        offer = await http.post(f"/api/shows/{slug}/offers", json={
            "product_id": product["id"], "price_cents": 9000, "duration_s": 3600, "mode": "queue", "per_customer_limit": 1,
            "starts_at": now_ms() + starts_in_ms, "admit_per_minute": admit_per_minute})
        assert offer.status_code == 201, offer.text
        return {**offer.json(), "product_id": product["id"]}


async def _drop_counts(url: str, token: str, redis_url: str, slug: str, product_id: int, offer_id: int) -> tuple[
        list[dict[str, int]], dict[str, int], int, dict[str, Any]]:
    """Redis's counts of the drop's units, the API's stock and paid orders, the line's figures."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        show = (await http.get(f"/api/shows/{slug}")).json()
        orders = (await http.get(f"/api/shows/{slug}/orders")).json()["orders"]
        line = dict((await http.get(queue_path(slug, offer_id))).json())
    redis = make_redis(redis_url)
    counts = [{"loaded": c.loaded, "available": c.available, "held": c.held, "sold": c.sold}
              for c in (await StockStore(redis).counts(product_id)).values()]
    line["ranked_count"] = int(await redis_replies.hget(redis, keys.queue(offer_id, "state"), "pre") or 0)
    await redis.aclose()
    return counts, dict(show["stock"]), len(orders), line


def _timeline(starts_at: int, drop: Drop) -> list[dict[str, int]]:
    """Each second from starts_at to the last unit held: the line's admitted_upto by then (as the
    queue frames told) and the units held by then."""
    if not drop.held_at:
        return []
    out = []
    for second in range(1, math.ceil((max(drop.held_at) - starts_at) / 1000) + 1):
        until = starts_at + second * 1000
        out.append({
            "s": second,
            "admitted_upto": max((upto for upto, ts in drop.admissions if ts <= until), default=0),
            "held": sum(1 for at in drop.held_at if at <= until),
        })
    return out


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"frames": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    return {
        "frames": len(ordered),
        "p50": round(ordered[len(ordered) // 2], 1),
        "p99": round(ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)], 1),
        "max": round(ordered[-1], 1),
    }


# -- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entrants", type=int, default=100_000, help="joins in part 1, entries ranked in 2, the drop's line in 4")
    parser.add_argument("--viewers", type=int, default=2000, help="WebSocket viewers of the drop's show (part 4)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (parts 1, 3) and rankings (part 2)")
    parser.add_argument("--seconds", type=float, default=4.0, help="per path and round in part 3")
    parser.add_argument("--units", type=int, default=300, help="the drop's units (part 4)")
    parser.add_argument("--admit-per-minute", type=int, default=6000, help="the drop's admission rate (part 4)")
    parser.add_argument("--processes", type=int, default=2, help="load processes")
    parser.add_argument("--connections", type=int, default=32, help="per load process")
    parser.add_argument("--crowd-connections", type=int, default=16, help="per load process: the crowd's /queue/me in part 4")
    parser.add_argument("--buyer-clients", type=int, default=64, help="admitted buyers pressing at once in part 4")
    parser.add_argument("--parts", default="1,2,3,4", help="which parts to run, e.g. 1,3")
    args = parser.parse_args()
    parts = {int(p) for p in args.parts.split(",") if p}
    raise_nofile()

    secret = "bench-secret-" + secrets.token_hex(16)
    report: dict[str, Any] = {
        "command": "python -m bench.queue " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "targets": TARGETS,
    }
    join_rate = None
    if parts & {1, 2, 3}:
        data = Path(tempfile.mkdtemp(prefix="livedrop-bench-queue-"))
        try:
            env = livedrop_env(data, LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000", LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000",
                               LIVEDROP_QUEUE_PASS_S="3600", SECRET_KEY=secret)
            token = host_token(env, "bench@example.com", "bench password 123")
            with LivedropProcess(["serve"], env) as server:
                if 1 in parts:
                    _, tokens = signed_buyers(secret, args.entrants)
                    report["1_joins"] = bench_joins(server, token, tokens, args)
                    join_rate = report["1_joins"]["join"]["per_second"]
                if 3 in parts:
                    report["3_hold_with_pass"] = bench_hold_with_pass(server, token, secret, args)
                if 2 in parts:  # last on this server: its 100,000 entries are Redis's, not the routes'
                    redis_url = env.get("REDIS_URL") or f"unix://{data / 'redis' / 'redis.sock'}"
                    report["2_rank"] = bench_rank(redis_url, args)
        finally:
            shutil.rmtree(data, ignore_errors=True)  # after the server stopped: its SQLite file and Redis dump
    if 4 in parts:
        report["4_drop"] = bench_drop(args, secret, join_rate)
    report["summary"] = summary(report)
    print(json.dumps(report, indent=2))


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures beside their targets."""
    out: dict[str, Any] = {}
    if "1_joins" in report:
        out["join_vs_trivial"] = [report["1_joins"]["join_vs_trivial"], ">=", TARGETS["join_vs_trivial"]]
    if "2_rank" in report:
        out["rank_seconds"] = [report["2_rank"]["seconds"], "<", TARGETS["rank_seconds"]]
        out["rank_longest_loop_block_ms"] = [report["2_rank"]["longest_loop_block_ms"], "<=", TARGETS["rank_longest_loop_block_ms"]]
    if "3_hold_with_pass" in report:
        out["hold_with_pass_vs_trivial"] = [report["3_hold_with_pass"]["hold_with_pass_vs_trivial"], ">=",
                                            TARGETS["hold_with_pass_vs_trivial"]]
        out["hold_success_vs_trivial_same_run"] = report["3_hold_with_pass"]["hold_success_vs_trivial"]
    if "4_drop" in report:
        drop = report["4_drop"]
        out["drop_seconds_from_starts_at_to_last_unit_held"] = drop["seconds_from_starts_at_to_last_unit_held"]
        out["queue_frame_delivery_p99_ms_during_drop"] = drop["queue_frame_delivery_ms"]["during_drop"]["p99"]
        out["oversold_units"] = [drop["oversold_units"], "==", TARGETS["oversold_units"]]
    return out


if __name__ == "__main__":
    main()
