"""A drop at a fixed rate on the same process as a large audience: stock on screen, pins, frames.

    PYTHONPATH=$PWD .venv/bin/python -m bench.drop_screen                          # 10,000 viewers, 2,000 presses/s
    PYTHONPATH=$PWD .venv/bin/python -m bench.drop_screen --viewers 5000 --rate 1000

Issue "speed, round 2" asks, with 10,000 viewers on one process and a drop of 2,000 presses a
second running on it: stock on screen p99 <= 250 ms, stock frames per viewer per second <= 10,
pin p99 <= 250 ms and every frame delivered. This bench measures all four in one run.

It starts ``livedrop serve`` (embedded Redis and SQLite unless REDIS_URL / DATABASE_URL are set),
a live show with a product pinned (a million units per size), and opens the viewers from
``ceil(viewers / 2,500)`` client processes (bench/fanout.py's minimal client). Then, for
``--seconds``:

- presses: buy presses on one size at exactly ``--rate`` a second, each from a new buyer (a
  signed token of its own, so no per-buyer limit is in play), from ``--press-processes``
  processes of kept-alive raw HTTP/1.1 connections (bench/stock_push.py's presser). Every press
  answered 201 says the units left after it (``remaining``).
- pins: the host pins the product every 0.5 s (``--pins`` times, starting 1 s in).

Stock on screen: for each hold and each sampled viewer (``--sample`` of them, spread evenly over
the client processes and over each one's connection order, so early and late viewers of the
room's fan-out are both in it), the first stock frame at or after the press showing its count
or less, minus the moment the press was written. Pin latency: from just before the pin call to
each viewer's receipt, over every viewer. Missing: pin deliveries that never arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.fanout import PER_WORKER, _last_seq, _raise_nofile, _setup, percentile
from bench.stock_push import LATE, _press, latencies, press_server, viewer_process


def _press_process(port: int, slug: str, sku: str, tokens: list[str], rate: float, seconds: float, start_at: float,
                   connections: int, out: Any) -> None:
    """This process's share of the presses at ``rate``, starting at ``start_at`` (monotonic)."""
    delay = start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    presses = asyncio.run(_press(port, slug, sku, tokens, rate, seconds, connections=connections))
    out.put((presses, list(LATE)))


def split_cores(server_pid: int) -> None:
    """Every thread of the server on CPU 0, everything else of ours (this process, so the client
    and press processes it starts, and the server's embedded Redis) on CPU 1.

    On this 2-core machine the 4 client processes, the 2 press processes and Redis otherwise
    share the server's cores: with 10,000 viewers and 2,000 presses a second they held the server
    to 0.6-0.8 of a core while it had work queued. In production they are other machines."""
    os.sched_setaffinity(0, {1})
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {0})
    for child in psutil.Process(server_pid).children(recursive=True):
        for thread in child.threads():
            os.sched_setaffinity(thread.id, {1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="buy presses a second, each from a new buyer")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--pins", type=int, default=20, help="pins, 0.5 s apart, during the presses")
    parser.add_argument("--sample", type=int, default=100, help="viewers whose stock frames are timed")
    parser.add_argument("--press-processes", type=int, default=2)
    parser.add_argument("--split-cores", action="store_true",
                        help="the server alone on CPU 0; viewers, presses and Redis on CPU 1 (as if they were other machines)")
    # Many buyers press at once: with few connections each waits for its previous answer, and a
    # 100 ms fan-out would hold the rate down (16 per process kept 500 of the 2,000 a second).
    parser.add_argument("--press-connections", type=int, default=100, help="kept-alive connections per press process")
    args = parser.parse_args()
    _raise_nofile()
    n_clients = max(1, math.ceil(args.viewers / PER_WORKER))
    stride = max(1, args.viewers // args.sample)
    workers: list[mp.Process] = []
    try:
        with press_server("livedrop-drop-screen-", int(args.rate * args.seconds)) as (server, env, tokens):
            if args.split_cores:
                split_cores(server.proc.pid)  # type: ignore[union-attr]
            host, slug, product_id = _setup(server, env)
            host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id}).raise_for_status()
            sku = host.get(f"/api/shows/{slug}").json()["pinned"]["variants"][0]["sku"]
            pipes = []
            for i in range(n_clients):
                share = args.viewers // n_clients + (1 if i < args.viewers % n_clients else 0)
                parent, child = mp.Pipe()
                worker = mp.Process(target=viewer_process, args=(server.port, slug, sku, share, stride, child), daemon=True)
                worker.start()
                workers.append(worker)
                pipes.append(parent)
            connected = sum(pipe.recv() for pipe in pipes)
            time.sleep(2)
            process = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
            for pipe in pipes:
                pipe.send("start")
            seq = _last_seq(host, slug)
            sent: dict[int, float] = {}
            calls: list[float] = []  # how long each pin call took to answer (the host's wait)

            def pins() -> None:
                nonlocal seq
                time.sleep(1.0)  # the drop is under way before the first measured pin
                for _ in range(args.pins):
                    started = time.monotonic()
                    host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id}).raise_for_status()
                    calls.append(time.monotonic() - started)
                    seq += 1
                    sent[seq] = started
                    time.sleep(max(0.0, started + 0.5 - time.monotonic()))

            ctx = mp.get_context("fork")
            queue: Any = ctx.Queue()
            start_at = time.monotonic() + 0.5
            p = args.press_processes
            pressers = [ctx.Process(target=_press_process, args=(server.port, slug, sku, tokens[k::p], args.rate / p,
                                                                 args.seconds, start_at, args.press_connections, queue))
                        for k in range(p)]
            cpu_before, wall_before = process.cpu_times(), time.monotonic()
            print(f"{connected} viewers connected; pressing (server pid {server.proc.pid})", file=sys.stderr, flush=True)  # type: ignore[union-attr]
            for presser in pressers:
                presser.start()
            pinner = threading.Thread(target=pins)
            pinner.start()
            results = [queue.get(timeout=args.seconds + 120) for _ in pressers]
            for presser in pressers:
                presser.join()
            pinner.join()
            time.sleep(1.0)  # the last presses' and pins' frames
            cpu_after, wall = process.cpu_times(), time.monotonic() - wall_before
            for pipe in pipes:
                pipe.send("report")
            seen_by_viewer: list[list[tuple[float, int]]] = []
            stock_frames = 0
            pin_arrivals: list[dict[int, float]] = []
            closed = 0
            for pipe in pipes:
                seen, frames, per_viewer, closed_here = pipe.recv()
                seen_by_viewer += seen
                stock_frames += frames
                pin_arrivals += per_viewer
                closed += closed_here
            host.close()
    finally:
        for worker in workers:
            worker.terminate()
    presses = sorted(press for result in results for press in result[0])
    span = (presses[-1][0] - presses[0][0]) if len(presses) > 1 else float("nan")
    late = [x for result in results for x in result[1]]
    lat = latencies(presses, seen_by_viewer)
    pin_lat = [arrived[s] - t for arrived in pin_arrivals for s, t in sent.items() if s in arrived]
    missing = sum(1 for arrived in pin_arrivals for s in sent if s not in arrived)
    print(json.dumps({
        "command": "python -m bench.drop_screen " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "viewers": connected,
        "client_processes": n_clients,
        "holds": len(presses),
        "holds_per_second": round(len(presses) / span, 1),  # from the first press written to the last
        "presses_late_ms_p99": round(percentile(late, 99) * 1000, 1),
        "stock_on_screen_ms": {
            "p50": round(percentile(lat, 50) * 1000, 1),
            "p99": round(percentile(lat, 99) * 1000, 1),
            "max": round(max(lat) * 1000, 1) if lat else None,
            "mean": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "pairs": len(lat),
        },
        "stock_frames_per_viewer_per_second": round(stock_frames / max(1, connected) / wall, 2),
        "pin_ms": {
            "p50": round(percentile(pin_lat, 50) * 1000, 1),
            "p99": round(percentile(pin_lat, 99) * 1000, 1),
            "max": round(max(pin_lat) * 1000, 1) if pin_lat else None,
            "deliveries": len(pin_lat),
        },
        "pin_call_ms": {"p50": round(percentile(calls, 50) * 1000, 1), "max": round(max(calls) * 1000, 1)},
        # Each pin's slowest delivery, in order: one slow pin or all of them?
        "pin_max_ms_each": [round(max((a[s] for a in pin_arrivals if s in a), default=t) * 1000 - t * 1000) for s, t in sorted(sent.items())],
        "pin_call_ms_each": [round(c * 1000) for c in calls],
        "pin_deliveries_missing": missing,
        "viewers_closed_by_server": closed,
        "server_cpu_per_second": round(((cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)) / wall, 3),
        "split_cores": args.split_cores,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
