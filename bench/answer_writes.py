"""What an HTTP answer costs ``livedrop serve`` in writes and CPU: the hold route (a buy press that
holds) and the trivial endpoint (GET /healthz). Prints JSON.

    .venv/bin/python -m bench.answer_writes [--seconds 3] [--rounds 5] [--strace]

Per path and round (the two alternate, as in bench/drop.py): the rate, the server process's CPU
time per request (bench.queue.ServerCpu: it hardly moves when other work shares the cores, unlike
a rate; its system part beside it) and its write calls per request: ``syscw`` of /proc/<pid>/io, which counts write() and
writev(), the calls uvloop (libuv) sends with; the ratio hold / trivial is the median of the
rounds' ratios. ``--strace`` then attaches ``strace -f -c -e trace=write,writev,sendto,sendmsg``
to the server for one more round of each path (strace slows the server several times over:
its calls per request are the figure, not its rates).

Written for issue 20 (one write per answer, web.one_write): run it on a commit before that
change and after to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.drop import make_buyers, raise_nofile, setup_show
from bench.loadgen import LoadResult, RequestMaker, hold_presses, run_load
from bench.queue import ServerCpu, trivial
from tests.support import LivedropProcess, host_token, livedrop_env


def writes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise RuntimeError("no syscw in /proc/<pid>/io")


def straced(pid: int, url: str, make: RequestMaker, load: dict[str, Any]) -> dict[str, Any]:
    """One round under ``strace -c``: each traced call's count per request."""
    tracer = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=write,writev,sendto,sendmsg", "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # strace attaches to every thread first
        result = run_load(url, make, **load)
    finally:
        tracer.send_signal(signal.SIGINT)
        _, table = tracer.communicate(timeout=30)
    calls: dict[str, int] = {}
    for line in table.splitlines():
        cells = line.split()
        if len(cells) >= 5 and cells[-1] in ("write", "writev", "sendto", "sendmsg") and cells[3].isdigit():
            calls[cells[-1]] = int(cells[3])
    return {"requests": result.requests, "calls_per_request": {k: round(v / max(1, result.requests), 3) for k, v in calls.items()},
            "all_per_request": round(sum(calls.values()) / max(1, result.requests), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="per load process")
    parser.add_argument("--strace", action="store_true", help="then one round of each path under strace -c")
    args = parser.parse_args()
    raise_nofile()
    data = Path(tempfile.mkdtemp(prefix="livedrop-bench-writes-"))
    try:
        env = livedrop_env(data, LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000", LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000")
        token = host_token(env, "bench@example.com", "bench password 123")
        load = {"processes": args.processes, "connections": args.connections, "seconds": args.seconds}
        report: dict[str, Any] = {"command": "python -m bench.answer_writes " + " ".join(f"--{k} {v}" for k, v in vars(args).items())}
        with LivedropProcess(["serve"], env) as server:
            url = server.url
            pid = server.proc.pid  # type: ignore[union-attr]
            slug, _ = asyncio.run(setup_show(url, token, "Big stock", {f"BIG-{i}": 1_000_000 for i in range(6)}, 1000))
            buyers = asyncio.run(make_buyers(url, 2000))
            paths = {"trivial_endpoint": trivial(url), "hold_success_path": hold_presses(url, slug, buyers, [f"BIG-{i}" for i in range(6)])}
            cpu = ServerCpu(pid)
            server_process = psutil.Process(pid)
            rounds: dict[str, list[LoadResult]] = {name: [] for name in paths}
            write_calls: dict[str, list[float]] = {name: [] for name in paths}
            system_us: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(args.rounds):
                for name, make in paths.items():
                    before, system_before = writes(pid), server_process.cpu_times().system
                    result = cpu.run(name, url, make, **load)
                    requests = max(1, result.requests)
                    write_calls[name].append((writes(pid) - before) / requests)
                    system_us[name].append((server_process.cpu_times().system - system_before) / requests * 1e6)
                    rounds[name].append(result)
            ratios = [h.rate / t.rate for t, h in zip(rounds["trivial_endpoint"], rounds["hold_success_path"])]
            for name, results in rounds.items():
                report[name] = {
                    "per_second_by_round": [round(r.rate, 1) for r in results],
                    "statuses": _summed(results),
                    "server_write_calls_per_request": round(statistics.median(write_calls[name]), 3),
                    # the kernel's share (sends, and loopback delivers a send's segment in the sender's time)
                    "server_system_cpu_us_per_request": round(statistics.median(system_us[name]), 1),
                }
            report["cpu_us_per_request"] = cpu.medians()
            report["hold_success_vs_trivial"] = {"median_of_rounds": round(statistics.median(ratios), 3),
                                                 "per_round": [round(r, 3) for r in ratios]}
            if args.strace:
                if shutil.which("strace") is None:
                    report["strace"] = "strace not installed"
                else:
                    report["strace"] = {name: straced(pid, url, make, load) for name, make in paths.items()}
    finally:
        shutil.rmtree(data, ignore_errors=True)  # after the server stopped: its SQLite file and Redis dump
    print(json.dumps(report, indent=2))


def _summed(results: list[LoadResult]) -> dict[str, int]:
    total: dict[str, int] = {}
    for result in results:
        for status, n in result.statuses.items():
            total[str(status)] = total.get(str(status), 0) + n
    return total


if __name__ == "__main__":
    main()
