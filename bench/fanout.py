"""WebSocket fan-out benchmark: N viewers of one show on one server process; prints JSON.

    PYTHONPATH=$PWD .venv/bin/python -m bench.fanout                   # 2,000 viewers
    PYTHONPATH=$PWD .venv/bin/python -m bench.fanout --clients 10000

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
import contextlib
import json
import math
import multiprocessing as mp
import os
import resource
import secrets
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        self.closed_by_server = False
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
            opcode = self.buffer[0] & 0x0F
            payload = bytes(self.buffer[offset: offset + length])
            del self.buffer[: offset + length]
            if opcode == 0x9:  # ping: a browser answers on its own, and uvicorn closes (1011) a socket that does not
                self.pong(payload)
                continue
            if opcode == 0x8:
                self.closed_by_server = True
                continue
            self.frames += 1
            self.on_payload(payload, now)

    def pong(self, payload: bytes) -> None:
        """A pong with the ping's payload (at most 125 bytes), masked as a client's frames must be."""
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if self.transport is not None:
            self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)

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


async def _viewers(port: int, path: str, count: int, conn: "mp.connection.Connection") -> None:
    loop = asyncio.get_running_loop()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
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
    conn.send(("pins", pins_per_viewer, sum(v.frames for v in viewers), sum(len(v.buffer) for v in viewers),
               sum(v.closed_by_server for v in viewers)))
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()


def _worker(port: int, path: str, count: int, conn: "mp.connection.Connection") -> None:
    _raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_viewers(port, path, count, conn))


# -- the servers measured ------------------------------------------------------------------------

FLOOR_DIR = ROOT / "bench" / "ws_floor"


@dataclass
class Target:
    """A server under measurement: where its viewers connect, and how one pin is published."""

    name: str
    port: int
    path: str
    process: psutil.Process
    publish: Callable[[], None]  # one pin; returns once the server answered the call
    last_seq: int  # the seq before the first measured pin: each publish is the next one
    collect: Callable[[], None] = lambda: None  # before a memory reading: a full gc where offered


def _setup(server: LivedropProcess, env: dict[str, str]) -> tuple[httpx.Client, str, int]:
    email = f"bench-{os.getpid()}-{secrets.token_hex(3)}@example.com"
    token = host_token(env, email, "benchmark-password")
    host = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    slug = f"fanout-{os.getpid()}-{secrets.token_hex(3)}"
    product = host.post("/api/products", json={
        "title": "Aurora Runner", "description": "A retro runner.", "price_cents": 12900, "currency": "EUR",
        "variants": [{"sku": f"AUR-{slug}-{n}", "label": f"EU {n}", "stock": 1_000_000} for n in range(40, 46)],
    }).json()
    host.post("/api/shows", json={"title": "Fan-out", "slug": slug}).raise_for_status()
    host.post(f"/api/shows/{slug}/start").raise_for_status()
    return host, slug, product["id"]


def _pin_body(host: httpx.Client, slug: str, product_id: int) -> str:
    """A pin frame as livedrop sends it, without its seq: what the floor broadcasts, so both
    servers send frames of the same size."""
    snapshot = host.get(f"/api/shows/{slug}").json()
    fields = {"media_ms": None, "type": "pin", "ts": int(time.time() * 1000), "product_id": product_id,
              "product": snapshot["pinned"], "stock": snapshot["stock"]}
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def _ensure_ws() -> None:
    """``ws`` from npm into bench/ws_floor/node_modules, once (package-lock.json pins the version)."""
    if not (FLOOR_DIR / "node_modules" / "ws").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(FLOOR_DIR)],
                       check=True, stdout=subprocess.DEVNULL, timeout=300)


@contextlib.contextmanager
def node_floor(pin_body: str) -> Iterator[Target]:
    """bench/ws_floor/server.js on a loopback port, as a Target; stopped on the way out."""
    _ensure_ws()
    proc = subprocess.Popen(["node", "--expose-gc", str(FLOOR_DIR / "server.js"), "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

        def publish() -> None:
            http.put("/pin", content=pin_body).raise_for_status()

        def collect() -> None:
            http.post("/gc").raise_for_status()
            time.sleep(0.2)

        yield Target("node-ws", port, "/ws", psutil.Process(proc.pid), publish, 0, collect)
        http.close()
    finally:
        proc.terminate()
        proc.wait(10)


# -- one measurement -------------------------------------------------------------------------------


def _cpu_after_delivery(process: psutil.Process, pipes: list, expected: int) -> object:  # type: ignore[type-arg]
    """Wait until the viewers have every pin (``expected`` receipts in all), or stop receiving for
    30 s (the client processes share the cores with the server, and on a loaded machine one may
    be starved for seconds), at most 180 s; the server's CPU time then."""
    deadline = time.monotonic() + 180
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        for pipe in pipes:
            pipe.send("count")
        received = sum(pipe.recv() for pipe in pipes)
        if received >= expected:
            break
        if received != last:
            last, quiet_since = received, time.monotonic()
        elif time.monotonic() - quiet_since >= 30:
            break
        time.sleep(0.1)
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


class Strace:
    """``strace -c -f`` attached to the server during the burst: system calls per delivered frame."""

    def __init__(self, pid: int) -> None:
        self.out = Path(tempfile.mkstemp(prefix="fanout-strace-")[1])
        self.proc = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", str(self.out)],
                                     stderr=subprocess.DEVNULL)
        time.sleep(1)  # attached to every thread before the first pin

    def stop(self) -> dict[str, int]:
        """{syscall: calls} and "total", from strace's summary table."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)
        calls: dict[str, int] = {}
        for line in self.out.read_text().splitlines():
            parts = line.split()
            # "% time  seconds  usecs/call  calls  [errors]  syscall", the last row's name "total"
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[3].isdigit():
                calls[parts[-1]] = int(parts[3])
        self.out.unlink()
        return calls


def measure(target: Target, args: argparse.Namespace, drop: Callable[[], dict[str, object]] | None = None) -> dict[str, object]:
    """Connect ``args.clients`` viewers to ``target``, then the spaced pins (latency) and the burst
    (CPU and system calls per delivered frame); the figures of this one server."""
    process = target.process
    target.collect()
    time.sleep(1)
    rss_before = process.memory_info().rss
    n_workers = max(1, math.ceil(args.clients / PER_WORKER))
    pipes = []
    workers: list[mp.Process] = []
    try:
        for i in range(n_workers):
            share = args.clients // n_workers + (1 if i < args.clients % n_workers else 0)
            parent, child = mp.Pipe()
            worker = mp.Process(target=_worker, args=(target.port, target.path, share, child), daemon=True)
            worker.start()
            workers.append(worker)
            pipes.append(parent)
        connect_started = time.monotonic()
        connected = sum(pipe.recv()[1] for pipe in pipes)
        connect_s = time.monotonic() - connect_started
        time.sleep(2)  # settle: every viewer idle, counts and clocks ticked
        target.collect()
        rss_idle = process.memory_info().rss
        if args.memory_only:
            return {"server": target.name, "connected": connected, "memory": _memory(rss_before, rss_idle, connected),
                    "load_average_1m": round(os.getloadavg()[0], 2)}
        idle_before = process.cpu_times()
        time.sleep(args.idle)  # nothing happens: what the server's own clocks cost
        idle_after = process.cpu_times()
        idle_cpu = (idle_after.user + idle_after.system) - (idle_before.user + idle_before.system)

        sent: dict[int, float] = {}
        answered: dict[int, float] = {}  # when the call returned
        seq = target.last_seq

        def pin() -> None:
            nonlocal seq
            started = time.monotonic()
            target.publish()
            seq += 1
            sent[seq] = started
            answered[seq] = time.monotonic()

        drop_result: dict[str, object] = {}
        drop_thread = None
        if drop is not None:
            drop_thread = threading.Thread(target=lambda: drop_result.update(drop()))
            drop_thread.start()
            time.sleep(1)  # the drop is under way before the first measured pin
        for _ in range(args.pins):
            pin()
            time.sleep(0.5)
        if drop_thread is not None:
            drop_thread.join()
        spaced = set(sent)
        strace = Strace(process.pid) if args.strace else None
        cpu_before = process.cpu_times()
        burst_started = time.monotonic()
        for _ in range(args.burst):
            pin()
        cpu = _cpu_after_delivery(process, pipes, connected * len(sent))
        syscalls = strace.stop() if strace is not None else None

        for pipe in pipes:
            pipe.send("report")
        latencies: list[float] = []
        after_answer: list[float] = []  # the fan-out alone: from the call's answer to each viewer
        burst_arrivals: list[float] = []
        frames_total = 0
        missing = 0
        viewers_short = 0  # viewers missing at least one pin: a few stuck sockets, or everyone late?
        viewers_with_holes = 0
        client_unparsed = 0  # bytes the clients received but have not parsed (a partial frame)
        closed_by_server = 0  # viewers that got a close frame
        for pipe in pipes:
            _, per_viewer, frames, unparsed, closed = pipe.recv()
            frames_total += frames
            client_unparsed += unparsed
            closed_by_server += closed
            for pins in per_viewer:
                viewers_short += len(pins) < len(sent)
                # A hole (a pin missing before one that arrived) is a lost frame, not a late one.
                got = [s for s in sorted(sent) if s in pins]
                viewers_with_holes += bool(got) and len(got) < len([s for s in sent if s <= got[-1]])
                for s, started in sent.items():
                    arrived = pins.get(s)
                    if arrived is None:
                        missing += 1
                    elif s in spaced:
                        latencies.append(arrived - started)
                        after_answer.append(arrived - answered[s])
                    else:
                        burst_arrivals.append(arrived)
    finally:
        for worker in workers:
            worker.terminate()
    burst_frames = len(burst_arrivals)
    burst_span = (max(burst_arrivals) - burst_started) if burst_arrivals else float("nan")
    burst_cpu = (cpu.user + cpu.system) - (cpu_before.user + cpu_before.system)  # type: ignore[attr-defined]
    return {
        "server": target.name,
        "clients": args.clients,
        "connected": connected,
        "client_processes": n_workers,
        "connect_seconds": round(connect_s, 2),
        "pins_measured": len(spaced),
        "deliveries_measured": len(latencies),
        "missing_deliveries": missing,
        "viewers_missing_some": viewers_short,
        "viewers_with_holes": viewers_with_holes,
        "client_unparsed_bytes": client_unparsed,
        "viewers_closed_by_server": closed_by_server,
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
        "memory": _memory(rss_before, rss_idle, connected),
        "idle_cpu_percent_of_a_core": round(idle_cpu / args.idle * 100, 2) if args.idle else None,
        "burst": {
            "pins": args.burst,
            "frames_delivered": burst_frames,
            "seconds": round(burst_span, 3),
            "frames_per_second": round(burst_frames / burst_span) if burst_arrivals else None,
            "server_cpu_seconds": round(burst_cpu, 3),
            "cpu_us_per_frame": round(burst_cpu / burst_frames * 1e6, 2) if burst_frames else None,
            "syscalls_per_frame": round(syscalls["total"] / burst_frames, 2) if syscalls and burst_frames else None,
            "syscalls_top": dict(sorted(((k, v) for k, v in (syscalls or {}).items() if k != "total"),
                                        key=lambda kv: -kv[1])[:6]) or None,
        },
        "drop_during_pins": drop_result or None,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _memory(rss_before: int, rss_idle: int, connected: int) -> dict[str, float]:
    return {
        "server_rss_mb_before": round(rss_before / 2**20, 1),
        "server_rss_mb_idle_with_clients": round(rss_idle / 2**20, 1),
        "kib_per_idle_connection": round((rss_idle - rss_before) / max(connected, 1) / 1024, 1),
    }


def _ratio(ours: float | None, floor: float | None) -> float | None:
    return round(ours / floor, 2) if ours is not None and floor else None


def ratios(ours: dict[str, Any], floor: dict[str, Any]) -> dict[str, float | None]:
    """livedrop's figures over the floor's (lower is better; 1.0: at the floor)."""
    return {
        "cpu_per_frame": _ratio(ours["burst"]["cpu_us_per_frame"], floor["burst"]["cpu_us_per_frame"]),
        "p99": _ratio(ours["latency_ms"]["p99"], floor["latency_ms"]["p99"]),
        "p50": _ratio(ours["latency_ms"]["p50"], floor["latency_ms"]["p50"]),
        "memory_per_idle_connection": _ratio(ours["memory"]["kib_per_idle_connection"], floor["memory"]["kib_per_idle_connection"]),
        "syscalls_per_frame": _ratio(ours["burst"]["syscalls_per_frame"], floor["burst"]["syscalls_per_frame"]),
    }


# -- the run ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--pins", type=int, default=20, help="spaced pins for the latency figures")
    parser.add_argument("--burst", type=int, default=30, help="back-to-back pins for CPU and frames per second")
    parser.add_argument("--drop", action="store_true", help="run a drop (bench/drop.py's hold load) during the spaced pins")
    parser.add_argument("--floor", action="store_true", help="also measure a minimal Node ws broadcast server with the same clients; print the ratios")
    parser.add_argument("--runs", type=int, default=1, help="with --floor or --memory-only: runs (of both servers), one after the other; medians")
    parser.add_argument("--memory-only", action="store_true", help="connect the viewers, read the memory per idle connection, stop (no pins)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of nothing happening with every viewer connected: the idle CPU")
    parser.add_argument("--strace", action="store_true", help="count system calls during the burst (strace -c; slows the burst)")
    args = parser.parse_args()
    _raise_nofile()

    runs: list[dict[str, Any]] = []
    for _ in range(args.runs if args.floor or args.memory_only else 1):
        # A fresh server per run: one that already held N connections reuses their freed memory,
        # and its RSS would not grow with the next N.
        data_dir = Path(tempfile.mkdtemp(prefix="livedrop-fanout-"))
        env = livedrop_env(data_dir, LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000", LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000")
        server = LivedropProcess(["serve"], env)
        try:
            server.start()  # inside the try: a server that never gets ready is still stopped and its folder removed
            host, slug, product_id = _setup(server, env)
            drop = None
            if args.drop:
                host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id}).raise_for_status()
                make = _drop_requests(server.url, slug)
                drop = lambda: run_load(server.url, make, processes=2, connections=32,  # noqa: E731
                                        seconds=args.pins * 0.5 + 1).summary()

            def pin(host: httpx.Client = host, slug: str = slug, product_id: int = product_id) -> None:
                host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id}).raise_for_status()

            ours = Target("livedrop", server.port, f"/ws/shows/{slug}", psutil.Process(server.proc.pid),  # type: ignore[union-attr]
                          pin, _last_seq(host, slug))
            run: dict[str, Any] = {"livedrop": measure(ours, args, drop)}
            if args.floor and not args.memory_only:
                with node_floor(_pin_body(host, slug, product_id)) as floor:
                    run["node_ws_floor"] = measure(floor, args)
                run["ratios"] = ratios(run["livedrop"], run["node_ws_floor"])
            host.close()
            runs.append(run)
        finally:
            if server.proc is not None:  # None: start() failed before the process began
                server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)  # its SQLite file and Redis dump: one folder per run otherwise left in /tmp
    result: dict[str, Any] = {
        "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "embedded",
        "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "sqlite",
    }
    if len(runs) == 1:
        result.update(runs[0])
    else:
        result["runs"] = runs

        def median_of(server: str, *path: str) -> float | None:
            values = []
            for run in runs:
                value: Any = run[server]
                for key in path:
                    value = value[key]
                values.append(value)
            return statistics.median(values) if all(v is not None for v in values) else None

        if args.memory_only:
            result["medians"] = {"livedrop": {"kib_per_idle_connection": median_of("livedrop", "memory", "kib_per_idle_connection")}}
            print(json.dumps(result, indent=2))
            return
        result["medians"] = {server: {
            "cpu_us_per_frame": median_of(server, "burst", "cpu_us_per_frame"),
            "latency_p99_ms": median_of(server, "latency_ms", "p99"),
            "kib_per_idle_connection": median_of(server, "memory", "kib_per_idle_connection"),
            "missing_deliveries": median_of(server, "missing_deliveries"),
        } for server in ("livedrop", "node_ws_floor")}
        result["median_ratios"] = {
            key: statistics.median(r["ratios"][key] for r in runs) if all(r["ratios"][key] is not None for r in runs) else None
            for key in runs[0]["ratios"]
        }
    print(json.dumps(result, indent=2))


def _last_seq(host: httpx.Client, slug: str) -> int:
    return int(host.get(f"/api/shows/{slug}").json()["seq"])


if __name__ == "__main__":
    main()
