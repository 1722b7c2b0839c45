"""Idle CPU: what a ``livedrop serve`` process costs when nothing happens; prints JSON.

    PYTHONPATH=$PWD .venv/bin/python -m bench.idle                        # 0 and 200 viewers, 30 s, 3 runs
    PYTHONPATH=$PWD .venv/bin/python -m bench.idle --viewers 0,1000 --seconds 60 --runs 5

Starts ``livedrop serve`` (embedded Redis and SQLite in a temporary data folder unless REDIS_URL /
DATABASE_URL are set) with a host, a product and a live show, so the process holds the job lease and
runs every background job (no worker is started). For each viewer count it connects that many idle
viewers (bench.fanout's client, in its own process), waits for them to settle, then reads the
server's user + system CPU time over ``--seconds`` of nothing happening: CPU % of one core. One
fresh server per run; the medians over runs, with the load average, are what to quote.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import _setup, _worker  # noqa: E402
from tests.support import LivedropProcess, livedrop_env  # noqa: E402

SETTLE_S = 3.0  # viewers' handshakes done, the show's first clocks ticked


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def one_run(viewer_counts: list[int], seconds: float) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="livedrop-idle-"))
    env = livedrop_env(data_dir)
    server = LivedropProcess(["serve"], env)
    result: dict[str, Any] = {}
    try:
        server.start()  # inside the try: a server that never gets ready is still stopped and its folder removed
        host, slug, _ = _setup(server, env)
        host.close()
        assert server.proc is not None
        process = psutil.Process(server.proc.pid)
        for count in viewer_counts:
            workers: list[tuple[mp.Process, Any]] = []
            connected = 0
            if count:
                parent, child = mp.Pipe()
                worker = mp.Process(target=_worker, args=(server.port, f"/ws/shows/{slug}", count, child), daemon=True)
                worker.start()
                workers.append((worker, parent))
                connected = parent.recv()[1]
            time.sleep(SETTLE_S)
            before, started = cpu_seconds(process), time.monotonic()
            time.sleep(seconds)
            used, elapsed = cpu_seconds(process) - before, time.monotonic() - started
            result[str(count)] = {"connected": connected, "cpu_percent_of_a_core": round(used / elapsed * 100, 3),
                                  "load_average_1m": round(os.getloadavg()[0], 2)}
            for worker, parent in workers:
                parent.send("report")  # the client reports and closes its viewers
                parent.recv()
                worker.join(10)
                if worker.is_alive():
                    worker.kill()
    finally:
        if server.proc is not None:  # None: start() failed before the process began
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", default="0,200", help="comma-separated idle viewer counts, measured in turn")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of nothing happening per reading")
    parser.add_argument("--runs", type=int, default=3, help="fresh servers, one after the other; medians")
    args = parser.parse_args()
    counts = [int(c) for c in args.viewers.split(",")]
    runs = [one_run(counts, args.seconds) for _ in range(args.runs)]
    medians = {str(c): statistics.median(r[str(c)]["cpu_percent_of_a_core"] for r in runs) for c in counts}
    print(json.dumps({
        "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "embedded",
        "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "sqlite",
        "seconds": args.seconds, "runs": runs, "median_cpu_percent_of_a_core": medians,
        "load_average": open("/proc/loadavg").read().split()[:3],
    }, indent=2))


if __name__ == "__main__":
    main()
