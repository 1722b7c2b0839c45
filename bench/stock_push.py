"""Stock on screen after a hold: how long from a buy press to every viewer's stock frame showing it.

    PYTHONPATH=$PWD .venv/bin/python -m bench.stock_push                      # 1,000 viewers, 500 holds/s, 10 s
    PYTHONPATH=$PWD .venv/bin/python -m bench.stock_push --viewers 5000 --rate 1000

It starts ``livedrop serve`` (embedded Redis and SQLite unless REDIS_URL / DATABASE_URL are set),
a live show with a product pinned (one size with a million units), opens the viewers from a
separate process (bench/fanout.py's minimal client), and presses buy on that size at a steady
``--rate`` from this process. Every hold's answer says the units left after it (``remaining``);
a viewer has seen the hold when a stock frame shows that many or fewer (holds only, so the count
only falls). Latency is that frame's arrival minus the moment the press was sent (one monotonic
clock for every process on Linux), over every hold and every sampled viewer (``--sample``
viewers, spread evenly over the connection order, record their frames: all of them would be
millions of pairs; before 2026-12-01 the first ``--sample`` to connect). Also printed: stock frames
per viewer per second (what the coalescing window bounds) and the server's CPU per second.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import multiprocessing as mp
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from bench.fanout import CONNECT_CONCURRENCY, Viewer, _raise_nofile, _setup, percentile
from bench.queue import signed_buyers
from tests.support import LivedropProcess, livedrop_env


LATE: list[float] = []  # how long after its scheduled moment each press left


@contextlib.contextmanager
def press_server(prefix: str, presses: int) -> Iterator[tuple[LivedropProcess, dict[str, str], list[str]]]:
    """``livedrop serve`` on a new temporary data folder (named ``prefix``...), its environment, and
    ``presses`` signed buyer tokens for it (every press a new buyer, as this bench and
    bench.drop_screen press). The per-buyer and per-IP limits are lifted: every press comes from
    this one address. The folder is removed on the way out, after the server has stopped, whether or
    not it ever got ready."""
    secret = "bench-secret-" + secrets.token_hex(16)
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        env = livedrop_env(data_dir, LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000", LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000",
                           SECRET_KEY=secret)
        _, tokens = signed_buyers(secret, presses)
        with LivedropProcess(["serve"], env) as server:
            yield server, env, tokens
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)  # after the server stopped: its SQLite file and Redis dump


class StockViewer(Viewer):
    """Notes (arrival, units of ``sku``) of every stock frame."""

    def __init__(self, ready: asyncio.Future[None], sku: str, record: bool) -> None:
        super().__init__(ready, {})
        self.needle = f'"{sku}":'.encode()
        self.record = record
        self.seen: list[tuple[float, int]] = []
        self.stock_frames = 0

    def on_payload(self, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type":"stock"'):
            self.stock_frames += 1
            at = payload.find(self.needle)
            if self.record and at >= 0:
                start = at + len(self.needle)
                end = start
                while payload[end:end + 1].isdigit():
                    end += 1
                self.seen.append((now, int(payload[start:end])))
        else:
            super().on_payload(payload, now)


async def _viewers(port: int, slug: str, sku: str, count: int, stride: int, conn: Any) -> None:
    """``count`` viewers of ``slug``; every ``stride``-th one records its stock frames (spread
    over the connection order, so early and late places in the room's fan-out are both sampled).
    Sends the count connected, waits for "start" (forgetting what came before), then for
    "report": answers (each recording viewer's (arrival, units) list, stock frames received by
    all, each viewer's pins {seq: arrival}, how many the server closed)."""
    loop = asyncio.get_running_loop()
    request = (
        f"GET /ws/shows/{slug} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    viewers: list[StockViewer] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(n: int) -> None:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            transport, viewer = await loop.create_connection(lambda: StockViewer(ready, sku, n % stride == 0), "127.0.0.1", port)
            transport.write(request.encode())
            await asyncio.wait_for(ready, 60)
            viewers.append(viewer)

    await asyncio.gather(*(one(n) for n in range(count)))
    conn.send(len(viewers))
    await loop.run_in_executor(None, conn.recv)  # "start": forget what came before the presses
    for viewer in viewers:
        viewer.seen.clear()
        viewer.stock_frames = 0
        viewer.pins.clear()
    await loop.run_in_executor(None, conn.recv)  # "report"
    conn.send(([v.seen for v in viewers if v.record], sum(v.stock_frames for v in viewers), [v.pins for v in viewers],
               sum(v.closed_by_server for v in viewers)))
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()


def viewer_process(port: int, slug: str, sku: str, count: int, stride: int, conn: Any) -> None:
    """``_viewers`` in a process of its own (the client side must not share the bench's loop)."""
    _raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_viewers(port, slug, sku, count, stride, conn))


async def _press(port: int, slug: str, sku: str, tokens: list[str], rate: float, seconds: float,
                 connections: int = 32) -> list[tuple[float, int]]:
    """Buy presses at ``rate`` a second over ``connections`` kept-alive sockets (raw HTTP/1.1:
    an HTTP client library in this process could not keep 500 a second on time, and its own
    queueing would count as latency): (when the press was written, units left after it) of each
    201. A press whose connection is still waiting for its previous answer leaves late, and its
    time is when it left."""
    presses: list[tuple[float, int]] = []
    total = int(rate * seconds)
    start = time.monotonic() + 0.2

    async def connection(first: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n in range(first, total, connections):
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = json.dumps({"sku": sku, "quantity": 1}).encode()
                writer.write((f"POST /api/shows/{slug}/holds HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              f"Authorization: Bearer {tokens[n]}\r\nIdempotency-Key: p{n}\r\n"
                              f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
                sent = time.monotonic()
                LATE.append(max(0.0, sent - (start + n / rate)))
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
                answer = await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 201"):
                    presses.append((sent, int(json.loads(answer)["remaining"])))
        finally:
            writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    return presses


def latencies(presses: list[tuple[float, int]], seen_by_viewer: list[list[tuple[float, int]]]) -> list[float]:
    """For each press and viewer: the first frame at or after the press showing its count or less."""
    out: list[float] = []
    for seen in seen_by_viewer:
        times = [t for t, _ in seen]
        negated = [-units for _, units in seen]  # counts only fall: ascending when negated
        for sent, remaining in presses:
            i = max(bisect.bisect_left(negated, -remaining), bisect.bisect_left(times, sent))
            while i < len(seen) and seen[i][1] > remaining:
                i += 1
            if i < len(seen):
                out.append(seen[i][0] - sent)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0, help="buy presses a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sample", type=int, default=100, help="viewers whose frames are timed")
    args = parser.parse_args()
    _raise_nofile()
    with press_server("livedrop-stock-push-", int(args.rate * args.seconds)) as (server, env, tokens):
        host, slug, product_id = _setup(server, env)
        host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id}).raise_for_status()
        sku = host.get(f"/api/shows/{slug}").json()["pinned"]["variants"][0]["sku"]
        parent, child = mp.Pipe()
        stride = max(1, args.viewers // args.sample)
        worker = mp.Process(target=viewer_process, args=(server.port, slug, sku, args.viewers, stride, child), daemon=True)
        worker.start()
        connected = parent.recv()
        time.sleep(2)
        process = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        parent.send("start")
        cpu_before, wall_before = process.cpu_times(), time.monotonic()
        presses = asyncio.run(_press(server.port, slug, sku, tokens, args.rate, args.seconds))
        time.sleep(1.0)  # the last presses' frames
        cpu_after, wall = process.cpu_times(), time.monotonic() - wall_before
        parent.send("report")
        seen_by_viewer, stock_frames, _, _ = parent.recv()
        worker.join(10)
        host.close()
    lat = latencies(presses, seen_by_viewer)
    print(json.dumps({
        "command": "python -m bench.stock_push " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "viewers": connected,
        "holds": len(presses),
        "holds_per_second": round(len(presses) / args.seconds, 1),
        "presses_late_ms_p99": round(percentile(LATE, 99) * 1000, 1),
        "stock_on_screen_ms": {
            "p50": round(percentile(lat, 50) * 1000, 1),
            "p99": round(percentile(lat, 99) * 1000, 1),
            "max": round(max(lat) * 1000, 1) if lat else None,
            "mean": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "pairs": len(lat),
        },
        "stock_frames_per_viewer_per_second": round(stock_frames / max(1, connected) / wall, 1),
        "server_cpu_per_second": round(((cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)) / wall, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
