"""Benchmark of a limited drop: how fast holds go compared with a trivial endpoint, and that
nothing is oversold. Prints JSON.

    .venv/bin/python -m bench.drop [--seconds 5] [--rounds 3] [--processes 2] [--connections 32] [--cluster]

The three measured paths (trivial endpoint, hold success, hold sold out) run in turn, ``--rounds``
times. Each round gives a pair of ratios measured seconds apart (hold / trivial, sold out /
trivial); the reported ratios are the medians of those pairs, so a slow spell of the shared
machine, or an append-only-file rewrite of the embedded Redis, costs one round, not the result.
The ratios of the paths' median rates are printed beside them.

It also reads the server's ``/metrics`` mid-drop and at the end (parsed with prometheus_client's
parser) and prints ``metrics``: the server's ``livedrop_holds_total{answer="held"}`` beside the 201s
the bench counted, and whether they are equal.

Starts its own `livedrop serve` on loopback with a fresh data folder (embedded redis-server and
SQLite, or REDIS_URL / DATABASE_URL when set) and drives it from separate processes.

``--cluster`` runs the same twice: on one Redis (the embedded one, or REDIS_URL), then on a Redis
Cluster it starts on loopback (three primaries and a replica each, Debian's redis-server; see
docs/redis-cluster.md), and prints both, the cluster's hold ratio over the single one's, and
each run's Redis time per hold on the primary that owns the drop's product (INFO commandstats:
EVALSHA's usec_per_call there, reset before the measured rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.loadgen import LoadResult, hold_presses, request_bytes, run_load
import redis as sync_redis

from inventory import keys
from inventory.stock import SaleTerms, StockStore
from tests.support import LivedropProcess, host_token, livedrop_env
from web.services import make_redis

if TYPE_CHECKING:
    from tests.redis_cluster_servers import Cluster


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def setup_show(url: str, token: str, title: str, stock: dict[str, int], limit: int) -> tuple[str, int]:
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as http:
        product = (await http.post("/api/products", json={
            "title": title, "price_cents": 10000, "currency": "USD",
            "variants": [{"sku": sku, "label": sku, "stock": n} for sku, n in stock.items()]})).json()
        slug = (await http.post("/api/shows", json={"title": title})).json()["slug"]
        await http.post(f"/api/shows/{slug}/start")
        await http.put(f"/api/shows/{slug}/pin", json={"product_id": product["id"]})
        offer = await http.post(f"/api/shows/{slug}/offers", json={
            "product_id": product["id"], "price_cents": 9000, "duration_s": 3600, "per_customer_limit": limit})
        assert offer.status_code == 201, offer.text
        return slug, product["id"]


async def make_buyers(url: str, n: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        sem = asyncio.Semaphore(50)

        async def one() -> str:
            async with sem:
                return str((await http.post("/api/buyers", json={})).json()["token"])

        return await asyncio.gather(*(one() for _ in range(n)))


async def raw_script_rate(redis_url: str, seconds: float) -> dict[str, float]:
    """The hold script straight on Redis: one call at a time, and many at once (pipelined)."""
    redis = make_redis(redis_url)
    stock = StockStore(redis)
    product_id = 999_999
    await stock.load(product_id, {"RAW": 100_000_000})
    terms = SaleTerms(unit_price_cents=100, currency="USD", per_customer_limit=100_000_000, hold_seconds=300)
    out: dict[str, float] = {}
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        await stock.hold(product_id, "RAW", 1, "raw-buyer", None, terms)
        n += 1
    out["sequential_per_second"] = round(n / seconds, 1)
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        await asyncio.gather(*(stock.hold(product_id, "RAW", 1, f"raw-{i}", None, terms) for i in range(200)))
        n += 200
    out["pipelined_per_second"] = round(n / seconds, 1)
    await redis.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="per load process")
    parser.add_argument("--cluster", action="store_true", help="also on a 3-primary Redis Cluster, and compare")
    args = parser.parse_args()
    raise_nofile()
    command = "python -m bench.drop " + " ".join(f"--{k} {v}" for k, v in vars(args).items())
    if not args.cluster:
        print(json.dumps({"command": command, **run_drop(args, None)}, indent=2))
        return

    from tests.redis_cluster_servers import Cluster

    single = run_drop(args, None)
    cluster_dir = Path(tempfile.mkdtemp(prefix="livedrop-bench-cluster-"))
    cluster = Cluster(cluster_dir)
    try:
        cluster.start()  # inside the try: a cluster that fails to form still has its nodes stopped, its folder removed
        clustered = run_drop(args, cluster)
    finally:
        cluster.stop()
        shutil.rmtree(cluster_dir, ignore_errors=True)  # after the nodes stopped: their dumps and nodes.conf
    ratio = "hold_success_vs_trivial"
    print(json.dumps({
        "command": command,
        "single_redis": single,
        "redis_cluster": clustered,
        "comparison": {
            f"{ratio}_single": single["ratios"][ratio],
            f"{ratio}_cluster": clustered["ratios"][ratio],
            "cluster_over_single": round(clustered["ratios"][ratio] / single["ratios"][ratio], 3),
            "redis_usec_per_hold_single": single["redis_time_per_hold_on_owner"]["usec_per_call"],
            "redis_usec_per_hold_cluster": clustered["redis_time_per_hold_on_owner"]["usec_per_call"],
        },
    }, indent=2))


def run_drop(args: argparse.Namespace, cluster: Cluster | None) -> dict[str, Any]:
    """One full run on a fresh server: on one Redis (``cluster`` None) or on ``cluster``
    (tests.redis_cluster_servers.Cluster)."""
    data = Path(tempfile.mkdtemp(prefix="livedrop-bench-"))
    try:
        extra = {"REDIS_URL": cluster.url} if cluster is not None else {}
        env = livedrop_env(data, LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000", LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000", **extra)
        token = host_token(env, "bench@example.com", "bench password 123")
        report: dict[str, Any] = {"redis": "cluster of 3 primaries (+1 replica each)" if cluster is not None else "one server"}

        with LivedropProcess(["serve"], env) as server:
            url = server.url
            big_slug, big_product = asyncio.run(setup_show(url, token, "Big stock", {f"BIG-{i}": 1_000_000 for i in range(6)}, 1000))
            out_slug, out_product = asyncio.run(setup_show(url, token, "Sold out", {"OUT-1": 1}, 1))
            drop_slug, drop_product = asyncio.run(setup_show(url, token, "Drop", {f"DROP-{i}": 50 for i in range(6)}, 1))
            buyers = asyncio.run(make_buyers(url, 2000))
            first = buyers[0]
            asyncio.run(_hold_once(url, out_slug, first, "OUT-1"))  # now it is sold out

            redis_url = env.get("REDIS_URL") or f"unix://{data / 'redis' / 'redis.sock'}"
            paths = {
                "trivial_endpoint": (lambda t: lambda i, k: t)(request_bytes("GET", url, "/healthz")),
                "hold_success_path": hold_presses(url, big_slug, buyers, [f"BIG-{i}" for i in range(6)]),
                "hold_sold_out_path": hold_presses(url, out_slug, buyers, ["OUT-1"]),
            }
            rounds: dict[str, list[LoadResult]] = {name: [] for name in paths}
            owner = owning_primary(redis_url, cluster, keys.version(big_product))
            with contextlib.closing(owner):
                owner.config_resetstat()
            for _ in range(args.rounds):
                for name, make in paths.items():
                    rounds[name].append(run_load(url, make, processes=args.processes, connections=args.connections,
                                                 seconds=args.seconds))
                report["redis_time_per_hold_on_owner"] = evalsha_stats(owner)
            for name, results in rounds.items():
                report[name] = median_of(results)
            during: list[dict[str, float]] = []
            scraper = threading.Timer(min(args.seconds, 3) / 2, lambda: during.append(scrape_holds(url)))
            scraper.start()  # /metrics read mid-drop: it must parse while the server is busiest
            drop = run_load(url, hold_presses(url, drop_slug, buyers, [f"DROP-{i}" for i in range(6)]), processes=args.processes,
                            connections=args.connections, seconds=min(args.seconds, 3))
            scraper.join()
            report["drop_300_units"] = drop.summary()
            # Every 201 the bench counted, against the server's own count of holds made.
            counted = 1 + sum(r.statuses.get(201, 0) for name in ("hold_success_path", "hold_sold_out_path") for r in rounds[name])
            counted += drop.statuses.get(201, 0)
            after = scrape_holds(url)
            report["metrics"] = {"scraped_mid_drop": during[0] if during else None, "holds_by_answer": after,
                                 "held_counter": after.get("held", 0), "holds_bench_counted": counted,
                                 "held_counter_equals_bench": after.get("held", 0) == counted}

            counts = asyncio.run(_counts(redis_url, [drop_product, out_product]))
            holds_made = drop.statuses.get(201, 0)
            report["oversold_units"] = max(0, holds_made - 300) + sum(max(0, -c["available"]) for c in counts)
            report["invariant_sold_held_available_equals_loaded"] = all(
                c["available"] + c["held"] + c["sold"] == c["loaded"] for c in counts)
            # Last: its 100,000-odd holds would otherwise grow Redis's append-only file into a
            # rewrite during the measured rounds.
            report["hold_script_on_redis"] = asyncio.run(raw_script_rate(redis_url, args.seconds))
    finally:
        shutil.rmtree(data, ignore_errors=True)  # after the server stopped: its SQLite file and Redis dump

    per_round = [
        {"hold_success_vs_trivial": round(h.rate / t.rate, 3), "hold_sold_out_vs_trivial": round(o.rate / t.rate, 3)}
        for t, h, o in zip(rounds["trivial_endpoint"], rounds["hold_success_path"], rounds["hold_sold_out_path"])
    ]
    median_rate = {name: statistics.median(r.rate for r in results) for name, results in rounds.items()}
    report["ratios"] = {
        "hold_success_vs_trivial": statistics.median(r["hold_success_vs_trivial"] for r in per_round),
        "hold_sold_out_vs_trivial": statistics.median(r["hold_sold_out_vs_trivial"] for r in per_round),
        "per_round": per_round,
        "of_median_rates": {
            "hold_success_vs_trivial": round(median_rate["hold_success_path"] / median_rate["trivial_endpoint"], 3),
            "hold_sold_out_vs_trivial": round(median_rate["hold_sold_out_path"] / median_rate["trivial_endpoint"], 3),
        },
        "targets": {"hold_success_vs_trivial": 0.6, "hold_sold_out_vs_trivial": 0.8},
    }
    return report


def owning_primary(redis_url: str, cluster: Cluster | None, key: str) -> sync_redis.Redis:
    """A client of the server that runs ``key``'s scripts: the one Redis, or the cluster's
    primary for the key's slot."""
    if cluster is None:
        return sync_redis.Redis.from_url(redis_url, decode_responses=True)
    return cluster.primary_of(key).client()


def evalsha_stats(server: sync_redis.Redis) -> dict[str, object]:
    """EVALSHA's calls and time on ``server`` since its stats were reset: the holds of the
    measured rounds (the big product's), plus the few other scripts that hash there."""
    stats = server.info("commandstats").get("cmdstat_evalsha", {})
    return {"calls": int(stats.get("calls", 0)), "usec_per_call": float(stats.get("usec_per_call", 0.0)),
            "port": server.connection_pool.connection_kwargs.get("port") or "unix socket"}


def scrape_holds(url: str, token: str | None = None) -> dict[str, float]:
    """GET /metrics, parsed with prometheus_client's parser: livedrop_holds_total by answer, and
    the hold histogram's count (``_observed``). Raises if it does not parse."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(url + "/metrics", headers=headers, timeout=10)
    answer.raise_for_status()
    holds: dict[str, float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == "livedrop_holds_total":
                holds[sample.labels["answer"]] = sample.value
            elif sample.name == "livedrop_hold_seconds_count":
                holds["_observed"] = sample.value
    return holds


def median_of(results: list[LoadResult]) -> dict[str, object]:
    """The summary of the median round by rate, with every round's rate beside it."""
    ordered = sorted(results, key=lambda r: r.rate)
    summary: dict[str, object] = dict(ordered[len(ordered) // 2].summary())
    summary["per_second_by_round"] = [round(r.rate, 1) for r in results]
    return summary


async def _hold_once(url: str, slug: str, buyer: str, sku: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(f"/api/shows/{slug}/holds", json={"sku": sku},
                                   headers={"Authorization": f"Bearer {buyer}", "Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == 201, response.text


async def _counts(redis_url: str, product_ids: list[int]) -> list[dict[str, int]]:
    redis = make_redis(redis_url)
    stock = StockStore(redis)
    out = []
    for pid in product_ids:
        for c in (await stock.counts(pid)).values():
            out.append({"loaded": c.loaded, "available": c.available, "held": c.held, "sold": c.sold})
    await redis.aclose()
    return out


if __name__ == "__main__":
    main()
