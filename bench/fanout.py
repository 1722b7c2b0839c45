"""WebSocket fan-out benchmark: N viewers of one show on one server process; prints JSON.

    .venv/bin/python bench/fanout.py                 # 2,000 viewers
    .venv/bin/python bench/fanout.py --clients 10000

It starts ``livedrop serve`` (embedded Redis and SQLite in a temporary data folder unless REDIS_URL
/ DATABASE_URL are set), a host, a product and a live show; then opens the viewers from separate
client processes (a minimal client: handshake, then frame headers only), so the client side does
not compete with the server for the same event loop. It measures:

- memory per idle connection: the server's RSS growth from 0 to N connected viewers, divided by N;
- delivery latency: from just before the host's ``PUT /pin`` to each viewer's receipt of that pin
  (``time.monotonic`` is one clock for every process on Linux), p50/p99/max over every delivery;
- frames per second: pin frames delivered to all viewers during a burst of back-to-back pins.

With ``--drop`` a drop runs on the same server while the spaced pins are measured: bench.loadgen
processes press buy on the show's pinned product (2,000 buyers, large stock) as fast as the server
answers, as bench/drop.py does; the viewers also get the stock frames the drop makes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import multiprocessing as mp
import os
import resource
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import hold_presses, run_load  # noqa: E402
from tests.support import LivedropProcess, host_token, livedrop_env  # noqa: E402

PER_WORKER = 2500
CONNECT_CONCURRENCY = 200


# -- the client side (in worker processes) -------------------------------------------------------


class Viewer(asyncio.Protocol):
    """Handshake, then parse frame headers; for pin frames, note the seq and the arrival time."""

    def __init__(self, ready: asyncio.Future[None], pins: dict[int, float]) -> None:
        self.ready = ready
        self.pins = pins
        self.buffer = bytearray()
        self.upgraded = False
        self.frames = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
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
        while len(self.buffer) >= 2:
            length = self.buffer[1] & 0x7F
            offset = 2
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
            payload = bytes(self.buffer[offset: offset + length])
            del self.buffer[: offset + length]
            self.frames += 1
            self.on_payload(payload, now)

    def on_payload(self, payload: bytes, now: float) -> None:
        """One frame's text, arrived at ``now``: pins noted, ready at the snapshot."""
        if payload.startswith(b'{"seq":') and b'"type":"pin"' in payload[:40]:
            self.pins[int(payload[7: payload.index(b",")])] = now
        elif payload.startswith(b'{"type":"snapshot"') and not self.ready.done():
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"connection lost: {exc}"))


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _viewers(port: int, slug: str, count: int, conn: "mp.connection.Connection") -> None:
    loop = asyncio.get_running_loop()
    request = (
        f"GET /ws/shows/{slug} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    )
    viewers: list[Viewer] = []
    pins_per_viewer: list[dict[int, float]] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> None:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            pins: dict[int, float] = {}
            transport, viewer = await loop.create_connection(lambda: Viewer(ready, pins), "127.0.0.1", port)
            key = base64.b64encode(os.urandom(16)).decode()
            transport.write(request.replace("{key}", key).encode())
            await asyncio.wait_for(ready, 60)
            viewers.append(viewer)
            pins_per_viewer.append(pins)

    await asyncio.gather(*(one() for _ in range(count)))
    conn.send(("ready", len(viewers)))
    # Answer "count" (pin frames received so far) until the parent says "report", then report
    # every arrival.
    while (await loop.run_in_executor(None, conn.recv)) == "count":
        conn.send(sum(len(pins) for pins in pins_per_viewer))
    conn.send(("pins", pins_per_viewer, sum(v.frames for v in viewers)))
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()


def _worker(port: int, slug: str, count: int, conn: "mp.connection.Connection") -> None:
    _raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_viewers(port, slug, count, conn))


# -- the host side -------------------------------------------------------------------------------


def _setup(server: LivedropProcess, env: dict[str, str]) -> tuple[httpx.Client, str, int]:
    email = f"bench-{os.getpid()}@example.com"
    token = host_token(env, email, "benchmark-password")
    host = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    slug = f"fanout-{os.getpid()}"
    product = host.post("/api/products", json={
        "title": "Aurora Runner", "description": "A retro runner.", "price_cents": 12900, "currency": "EUR",
        "variants": [{"sku": f"AUR-{slug}-{n}", "label": f"EU {n}", "stock": 1_000_000} for n in range(40, 46)],
    }).json()
    host.post("/api/shows", json={"title": "Fan-out", "slug": slug}).raise_for_status()
    host.post(f"/api/shows/{slug}/start").raise_for_status()
    return host, slug, product["id"]


def _cpu_after_delivery(process: psutil.Process, pipes: list) -> object:  # type: ignore[type-arg]
    """Wait until the viewers stop receiving pins (the client processes share the cores with the
    server and may still be reading the burst), at most 60 s; the server's CPU time then."""
    deadline = time.monotonic() + 60
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        for pipe in pipes:
            pipe.send("count")
        received = sum(pipe.recv() for pipe in pipes)
        if received != last:
            last, quiet_since = received, time.monotonic()
        elif time.monotonic() - quiet_since >= 2:
            break
        time.sleep(0.5)
    return process.cpu_times()


def _drop_requests(url: str, slug: str):  # type: ignore[no-untyped-def]
    """bench/drop.py's buy presses on this show's pinned product, from 2,000 buyers."""
    with httpx.Client(base_url=url, timeout=30) as http:
        buyers = [http.post("/api/buyers", json={}).json()["token"] for _ in range(2000)]
        skus = [v["sku"] for v in http.get(f"/api/shows/{slug}").json()["pinned"]["variants"]]
    return hold_presses(url, slug, buyers, skus)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--pins", type=int, default=20, help="spaced pins for the latency figures")
    parser.add_argument("--burst", type=int, default=30, help="back-to-back pins for frames per second")
    parser.add_argument("--drop", action="store_true", help="run a drop (bench/drop.py's hold load) during the spaced pins")
    args = parser.parse_args()
    _raise_nofile()

    data_dir = Path(tempfile.mkdtemp(prefix="livedrop-fanout-"))
    env = livedrop_env(data_dir, LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000", LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000")
    server = LivedropProcess(["serve"], env).start()
    workers: list[mp.Process] = []
    try:
        host, slug, product_id = _setup(server, env)
        process = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        time.sleep(1)
        rss_before = process.memory_info().rss

        n_workers = max(1, math.ceil(args.clients / PER_WORKER))
        pipes = []
        for i in range(n_workers):
            share = args.clients // n_workers + (1 if i < args.clients % n_workers else 0)
            parent, child = mp.Pipe()
            worker = mp.Process(target=_worker, args=(server.port, slug, share, child), daemon=True)
            worker.start()
            workers.append(worker)
            pipes.append(parent)
        connect_started = time.monotonic()
        connected = sum(pipe.recv()[1] for pipe in pipes)
        connect_s = time.monotonic() - connect_started
        time.sleep(2)  # settle: every viewer idle, counts and clocks ticked
        rss_idle = process.memory_info().rss

        sent: dict[int, float] = {}
        answered: dict[int, float] = {}  # when the host's call returned
        seq = _last_seq(host, slug)  # only this benchmark publishes: each pin is the next seq

        def pin() -> None:
            nonlocal seq
            started = time.monotonic()
            answer = host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})
            answer.raise_for_status()
            seq += 1
            sent[seq] = started
            answered[seq] = time.monotonic()

        drop_result: dict[str, object] = {}
        drop_thread = None
        if args.drop:
            host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id}).raise_for_status()
            seq += 1  # that pin is not measured
            make = _drop_requests(server.url, slug)
            drop_thread = threading.Thread(target=lambda: drop_result.update(run_load(
                server.url, make, processes=2, connections=32, seconds=args.pins * 0.5 + 1).summary()))
            drop_thread.start()
            time.sleep(1)  # the drop is under way before the first measured pin
        for _ in range(args.pins):
            pin()
            time.sleep(0.5)
        if drop_thread is not None:
            drop_thread.join()
        spaced = set(sent)
        burst_started = time.monotonic()
        for _ in range(args.burst):
            pin()
        cpu = _cpu_after_delivery(process, pipes)

        for pipe in pipes:
            pipe.send("report")
        latencies: list[float] = []
        after_answer: list[float] = []  # the fan-out alone: from the call's answer to each viewer
        burst_arrivals: list[float] = []
        frames_total = 0
        missing = 0
        for pipe in pipes:
            _, per_viewer, frames = pipe.recv()
            frames_total += frames
            for pins in per_viewer:
                for seq, started in sent.items():
                    arrived = pins.get(seq)
                    if arrived is None:
                        missing += 1
                    elif seq in spaced:
                        latencies.append(arrived - started)
                        after_answer.append(arrived - answered[seq])
                    else:
                        burst_arrivals.append(arrived)
        burst_frames = len(burst_arrivals)
        burst_span = (max(burst_arrivals) - burst_started) if burst_arrivals else float("nan")
        result = {
            "clients": args.clients,
            "connected": connected,
            "client_processes": n_workers,
            "connect_seconds": round(connect_s, 2),
            "pins_measured": len(spaced),
            "deliveries_measured": len(latencies),
            "missing_deliveries": missing,
            "latency_ms": {
                "p50": round(percentile(latencies, 50) * 1000, 1),
                "p99": round(percentile(latencies, 99) * 1000, 1),
                "max": round(max(latencies) * 1000, 1),
                "mean": round(statistics.fmean(latencies) * 1000, 1),
            },
            "pin_call_ms": {
                "p50": round(percentile([answered[s] - sent[s] for s in spaced], 50) * 1000, 1),
                "max": round(max(answered[s] - sent[s] for s in spaced) * 1000, 1),
            },
            "after_call_answer_ms": {
                "p50": round(percentile(after_answer, 50) * 1000, 1),
                "p99": round(percentile(after_answer, 99) * 1000, 1),
            },
            "memory": {
                "server_rss_mb_before": round(rss_before / 2**20, 1),
                "server_rss_mb_idle_with_clients": round(rss_idle / 2**20, 1),
                "kib_per_idle_connection": round((rss_idle - rss_before) / max(connected, 1) / 1024, 1),
            },
            "burst": {
                "pins": args.burst,
                "frames_delivered": burst_frames,
                "seconds": round(burst_span, 3),
                "frames_per_second": round(burst_frames / burst_span) if burst_arrivals else None,
            },
            "drop_during_pins": drop_result or None,
            "server_cpu_seconds": round(cpu.user + cpu.system, 1),
            "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "embedded",
            "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "sqlite",
        }
        print(json.dumps(result, indent=2))
    finally:
        for worker in workers:
            worker.terminate()
        server.stop()


def _last_seq(host: httpx.Client, slug: str) -> int:
    return int(host.get(f"/api/shows/{slug}").json()["seq"])


if __name__ == "__main__":
    main()
