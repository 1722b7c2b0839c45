"""A small, fast HTTP/1.1 load generator for the benchmarks: keep-alive connections on raw asyncio
streams in several processes (httpx is far too slow to load a server). Loopback only."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# make_request(i, k) -> raw request bytes. i is unique across the whole run and spreads evenly
# (connection number + k * all connections), so i % n picks a different buyer per connection;
# k counts requests on this connection.
RequestMaker = Callable[[int, int], bytes]


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, float | int | dict[int, int]]:
        lat = sorted(self.latencies_ms)
        return {
            "requests": self.requests,
            "per_second": round(self.rate, 1),
            "p50_ms": round(statistics.median(lat), 2) if lat else 0.0,
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 2) if lat else 0.0,
            "statuses": dict(self.statuses),
        }


def request_bytes(method: str, url: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    host = urlsplit(url).netloc
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def hold_presses(url: str, slug: str, buyers: list[str], skus: list[str], passes: list[str] | None = None) -> RequestMaker:
    """Buy presses (POST /api/shows/{slug}/holds), buyer i % len(buyers) each, with a unique
    Idempotency-Key. Built ahead, per buyer and SKU, with the key left as a counter: the load
    generator shares the cores with the server, and a uuid4 plus json.dumps per request would
    count its own work against the hold endpoint (a trivial endpoint's request is one constant).
    ``passes``: each buyer's waiting-room pass (a queue offer), sent in the body's "pass"."""
    nonce = os.urandom(4).hex().encode()
    templates = []
    for n, buyer in enumerate(buyers):
        press: dict[str, object] = {"sku": skus[n % len(skus)], "quantity": 1}
        if passes is not None:
            press["pass"] = passes[n]
        body = json.dumps(press).encode()
        head, _, tail = request_bytes("POST", url, f"/api/shows/{slug}/holds", {
            "Authorization": f"Bearer {buyer}", "Idempotency-Key": "@KEY@"}, body).partition(b"@KEY@")
        templates.append((head + nonce + b"-", tail))

    def make(i: int, k: int) -> bytes:
        head, tail = templates[i % len(templates)]
        return head + str(i).encode() + tail

    return make


async def _connection(url: str, make: RequestMaker, conn_no: int, all_conns: int, deadline: float,
                      statuses: Counter, latencies: list[float], total: int | None = None) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    i = 0
    try:
        while time.perf_counter() < deadline and (total is None or conn_no + i * all_conns < total):
            started = time.perf_counter()
            writer.write(make(conn_no + i * all_conns, i))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            i += 1
    finally:
        writer.close()


def _worker(url: str, make: RequestMaker, worker: int, connections: int, workers: int, seconds: float, out: mp.Queue,
            total: int | None = None) -> None:
    async def main() -> tuple[Counter, list[float], float, float]:
        statuses: Counter = Counter()
        latencies: list[float] = []
        started = time.monotonic()  # one clock for every process on Linux
        deadline = time.perf_counter() + seconds
        all_conns = workers * connections
        await asyncio.gather(*(_connection(url, make, worker * connections + c, all_conns, deadline, statuses, latencies, total)
                               for c in range(connections)))
        return statuses, latencies, started, time.monotonic()

    statuses, latencies, started, ended = asyncio.run(main())
    out.put((dict(statuses), latencies, started, ended))


def run_load(url: str, make: RequestMaker, *, processes: int = 2, connections: int = 32, seconds: float = 5.0,
             total: int | None = None) -> LoadResult:
    """Drive ``url`` for ``seconds`` from ``processes`` processes with ``connections`` each.

    With ``total``, requests 0 .. total - 1 are made once each (``make(i, k)`` for every such i)
    and the run ends when they are answered (or after ``seconds``); its rate is then over the time
    from the first worker's start to the last one's end, not over ``seconds``."""
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, make, w, connections, processes, seconds, queue, total))
             for w in range(processes)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    statuses: Counter = Counter()
    latencies: list[float] = []
    for s, lat, _, _ in results:
        statuses.update(s)
        latencies.extend(lat)
    del elapsed  # includes process start-up; every worker ran for exactly `seconds`
    if total is not None:
        seconds = max(r[3] for r in results) - min(r[2] for r in results)
    return LoadResult(sum(statuses.values()), seconds, dict(statuses), latencies)
