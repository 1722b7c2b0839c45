"""Redis's own work per hold, and how many sold-out presses still reach Redis. Prints JSON.

    .venv/bin/python -m bench.hold_redis [--holds 20000] [--runs 5]

One hot product's holds per second are capped at about 1 / (Redis time per hold): Redis runs one
script at a time, and every hold of a product runs on the one server that owns its hash tag. So
this measures that time where it is spent, with ``INFO commandstats`` over a burst:

* ``burst``: ``--holds`` holds through ``StockStore.hold`` (the hold route's call) with a drop's
  terms: a capped offer, one unit per customer, an Idempotency-Key, the route's press rate limit,
  12 sizes; pipelined as the route pipelines them under load. Reported per successful hold:
  EVALSHA microseconds (the script's whole time in Redis) and the commands the script ran.
* ``sold_out_across_sizes``: one size sold out, another size selling from a second StockStore
  (another process) while this one looks at versions as the stock feed does. Reported: the share
  of presses on the sold-out size that went to Redis instead of being answered locally.

Runs against an embedded redis-server (``livedrop serve``'s default: AOF on, fsync every second)
in a temporary folder, or REDIS_URL when set (FLUSHDB on its database: use a spare one). Medians
of ``--runs``; each run a fresh product.

``--callgrind``: the noise-free figure instead. The embedded redis-server binary runs under
valgrind's callgrind (AOF on, fsync every second) twice, once for one ``burst`` of ``--holds``
and once for a burst of none (start, load, stop); printed per hold: every instruction the server
ran (the difference of the two totals: reading and parsing the calls, the script, the AOF, the
replies) and those under EVALSHA. Needs valgrind (``apt-get install valgrind``); ~1 minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis as sync_redis

from inventory.errors import SoldOut
from inventory.stock import SaleTerms, StockStore
from web.embedded_redis import EmbeddedRedis, redis_server_executable
from web.services import make_redis

SIZES = [f"EU-{n}" for n in range(36, 48)]
BATCH = 200  # presses in flight at once: the route's pipeline under a drop carries 100-1,000


def drop_terms(units: int) -> SaleTerms:
    return SaleTerms(unit_price_cents=9_000, currency="USD", per_customer_limit=1, hold_seconds=300,
                     offer_id=7, offer_quantity=units, show_id=3, host_id=1)


async def burst(stock: StockStore, redis: Any, product_id: int, holds: int) -> dict[str, Any]:
    per_size = holds // len(SIZES) + 1
    await stock.load(product_id, {sku: per_size for sku in SIZES})
    terms = drop_terms(per_size * len(SIZES))
    rate_limit = (10, 10_000)  # the hold route's: holds_per_buyer_per_minute // 6 per 10 s
    await redis.config_resetstat()
    made = 0
    for start in range(0, holds, BATCH):
        presses = [
            stock.hold(product_id, SIZES[n % len(SIZES)], 1, f"buyer-{product_id}-{n}", f"key-{n}", terms, rate_limit)
            for n in range(start, min(holds, start + BATCH))
        ]
        made += sum(1 for r in await asyncio.gather(*presses, return_exceptions=True) if not isinstance(r, BaseException))
    stats = await redis.info("commandstats")
    evalsha = stats.get("cmdstat_evalsha", {"usec": 0, "calls": 0})
    inner = {name.removeprefix("cmdstat_"): value for name, value in stats.items()
             if name not in ("cmdstat_evalsha", "cmdstat_config|resetstat", "cmdstat_script|load", "cmdstat_select")}
    return {
        "holds": made,
        "redis_us_per_hold": round(evalsha["usec"] / max(1, made), 2),
        "commands_per_hold": round(sum(v["calls"] for v in inner.values()) / max(1, made), 2),
        "commands": {name: round(v["calls"] / max(1, made), 2) for name, v in sorted(inner.items())},
    }


async def sold_out_across_sizes(stock: StockStore, other: StockStore, product_id: int, presses: int) -> dict[str, Any]:
    await stock.load(product_id, {"GONE": 1, "SELLING": presses + 10})
    terms = SaleTerms(unit_price_cents=9_000, currency="USD", per_customer_limit=1, hold_seconds=300)
    await other.hold(product_id, "GONE", 1, "first", None, terms)
    try:
        await stock.hold(product_id, "GONE", 1, "late", None, terms)
    except SoldOut:
        pass
    to_redis = 0
    for n in range(presses):
        await other.hold(product_id, "SELLING", 1, f"seller-{n}", None, terms)  # another size sells
        await stock.versions([product_id])  # this process's stock feed looks
        if stock.answer_at_hand(product_id, "GONE", 1, f"presser-{n}", None) is None:
            to_redis += 1
            try:
                await stock.hold(product_id, "GONE", 1, f"presser-{n}", None, terms)
            except SoldOut:
                pass
    return {"presses": presses, "share_to_redis": round(to_redis / presses, 3)}


async def run(url: str, holds: int, runs: int) -> dict[str, Any]:
    redis = make_redis(url)
    await redis.flushdb()
    stock, other = StockStore(redis), StockStore(redis)
    bursts, shares = [], []
    try:
        for n in range(runs):
            bursts.append(await burst(stock, redis, 10_000 + n, holds))
            shares.append(await sold_out_across_sizes(stock, other, 20_000 + n, 200))
    finally:
        stock.close()
        other.close()
        await redis.flushdb()
        await redis.aclose()
    return {
        "redis_us_per_hold_median": statistics.median(b["redis_us_per_hold"] for b in bursts),
        "redis_us_per_hold_runs": [b["redis_us_per_hold"] for b in bursts],
        "commands_per_hold": bursts[-1]["commands_per_hold"],
        "commands": bursts[-1]["commands"],
        "holds_per_run": bursts[-1]["holds"],
        "sold_out_presses_to_redis_share_median": statistics.median(s["share_to_redis"] for s in shares),
    }


async def one_burst(url: str, holds: int) -> dict[str, Any]:
    redis = make_redis(url)
    stock = StockStore(redis)
    try:
        return await burst(stock, redis, 10_000, holds)
    finally:
        stock.close()
        await redis.aclose()


def callgrind_instructions(holds: int) -> dict[str, int]:
    """redis-server's instructions under callgrind for one burst of ``holds``: the program's total
    and EVALSHA's inclusive count."""
    with tempfile.TemporaryDirectory(prefix="livedrop-hold-callgrind-") as folder:
        sock, out = f"{folder}/redis.sock", f"{folder}/callgrind.out"
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", redis_server_executable(),
             "--port", "0", "--unixsocket", sock, "--dir", folder, "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not os.path.exists(sock):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start under valgrind")
                time.sleep(0.1)
            time.sleep(0.5)
            asyncio.run(one_burst(f"unix://{sock}", holds))
            try:
                sync_redis.Redis(unix_socket_path=sock).shutdown(nosave=True)
            except sync_redis.ConnectionError:  # the server closes the connection instead of replying
                pass
            server.wait(timeout=120)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        totals = re.search(r"^totals: (\d+)", Path(out).read_text(), re.M)
        if totals is None:
            raise RuntimeError(f"no totals in {out}")
        total = int(totals.group(1))
        annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True, text=True, check=True).stdout
        found = re.search(r"^\s*([\d,]+) .*:evalShaCommand ", annotated, re.M)
        evalsha = int(found.group(1).replace(",", "")) if found else 0
        return {"total": total, "evalsha": evalsha}


def callgrind(holds: int) -> dict[str, Any]:
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        raise SystemExit("--callgrind needs valgrind (apt-get install valgrind)")
    idle, busy = callgrind_instructions(0), callgrind_instructions(holds)
    return {
        "redis": "embedded binary under callgrind (AOF everysec)",
        "holds": holds,
        "instructions_per_hold": round((busy["total"] - idle["total"]) / holds),
        "evalsha_instructions_per_hold": round(busy["evalsha"] / holds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holds", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true", help="count redis-server's instructions instead (valgrind)")
    args = parser.parse_args()
    if args.callgrind:
        print(json.dumps(callgrind(args.holds), indent=2))
        return
    url = os.environ.get("REDIS_URL")
    if url:
        print(json.dumps({"redis": "REDIS_URL", **asyncio.run(run(url, args.holds, args.runs))}, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="livedrop-hold-redis-") as folder:
        embedded = EmbeddedRedis(Path(folder))
        url = embedded.acquire()
        try:
            print(json.dumps({"redis": "embedded (AOF everysec)", **asyncio.run(run(url, args.holds, args.runs))}, indent=2))
        finally:
            embedded.release()


if __name__ == "__main__":
    main()
