"""Benchmark of paid checkouts: how many a second, through the built-in test provider and through
localstripe on loopback, their p50/p99, the share of their time spent waiting on the payment
provider, and that nothing was charged twice. Prints JSON.

    .venv/bin/python -m bench.checkout [--checkouts 600] [--stripe-checkouts 60] [--concurrency 16]

For each provider it starts its own `livedrop serve` on loopback with a fresh data folder (embedded
redis-server and SQLite, or REDIS_URL / DATABASE_URL when set), makes one buyer and one hold per
checkout ahead of time, then pays them all, ``--concurrency`` at a time:

- test provider: one ``POST /api/holds/{id}/checkout`` with the paying test card;
- Stripe (localstripe started here, as tests/localstripe_server.py does): ``POST
  /api/holds/{id}/payment`` with localstripe's ``pm_card_visa`` (the server confirms the
  PaymentIntent, standing in for the browser's Stripe.js confirmation), then ``POST
  /api/holds/{id}/checkout``. Both calls count as the checkout.

The share of time on the provider: the server runs with every provider method timed (the
provider object's methods wrapped in place, so the app is otherwise the one `livedrop serve`
runs); the summed time inside provider calls, divided by the summed latency of the checkout
requests as the client saw them. Double charges: the provider's paid charges are counted (the test
provider's charge records in Redis; localstripe's succeeded PaymentIntents) and compared with the
paid orders in SQL: a hold with two paid charges, or a paid charge without an order, is a double
charge.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.localstripe_server import running_localstripe
from tests.support import LivedropProcess, host_token, livedrop_env
from web.services import make_redis

# The server, with its payment provider's methods timed. The time spent inside them goes to
# Redis (two INCRBYs after each call, outside the timed part) where the bench reads it.
_TIMED_SERVER = """
import contextvars, sys, time
import web.livedrop as livedrop

METHODS = ("charge", "refund", "find_charge", "settle", "start", "confirm", "authorize", "capture", "void")
_inside = contextvars.ContextVar("inside", default=False)
_make = livedrop.make_payments

def timed_payments(settings, services):
    provider = _make(settings, services)
    redis = services.redis
    for name in METHODS:
        method = getattr(provider, name)
        def wrap(method=method):
            async def call(*args, **kwargs):
                if _inside.get():  # a provider method calling another: counted once, by the outer one
                    return await method(*args, **kwargs)
                token = _inside.set(True)
                started = time.perf_counter_ns()
                try:
                    return await method(*args, **kwargs)
                finally:
                    spent = time.perf_counter_ns() - started
                    _inside.reset(token)
                    await redis.incrby("bench:provider:ns", spent)
                    await redis.incrby("bench:provider:calls", 1)
            return call
        setattr(provider, name, wrap())
    return provider

livedrop.make_payments = timed_payments
from web.cli import main
sys.argv = ["livedrop", *sys.argv[1:]]
main()
"""

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US", "region": "IL"}


class TimedServer(LivedropProcess):
    """`livedrop serve` with the provider timed (``_TIMED_SERVER``)."""

    def argv(self) -> list[str]:
        # Only the command differs: start() (and its stop when readiness never comes) is LivedropProcess's.
        return [sys.executable, "-c", _TIMED_SERVER, "serve", "--port", str(self.port)]


async def setup(url: str, token: str, n: int, concurrency: int) -> tuple[str, list[tuple[str, str]]]:
    """A live show with a pinned product of plenty of units, and ``n`` buyers with one hold each."""
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        product = (await http.post("/api/products", headers=auth, json={
            "title": "Bench runner", "price_cents": 12900, "currency": "USD",
            "variants": [{"sku": f"RUN-{i}", "label": str(i), "stock": 100_000} for i in range(4)]})).json()
        slug = (await http.post("/api/shows", headers=auth, json={"title": "Checkout bench"})).json()["slug"]
        assert (await http.post(f"/api/shows/{slug}/start", headers=auth)).status_code == 200
        assert (await http.put(f"/api/shows/{slug}/pin", headers=auth, json={"product_id": product["id"]})).status_code == 200
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> tuple[str, str]:
            async with gate:
                buyer = (await http.post("/api/buyers", json={})).json()["token"]
                made = await http.post(f"/api/shows/{slug}/holds", json={"sku": f"RUN-{i % 4}"},
                                       headers={"Authorization": f"Bearer {buyer}", "Idempotency-Key": uuid.uuid4().hex})
                assert made.status_code == 201, made.text
                return buyer, made.json()["hold_id"]

        return slug, list(await asyncio.gather(*(one(i) for i in range(n))))


async def pay_all(url: str, holds: list[tuple[str, str]], concurrency: int, stripe: bool) -> dict[str, Any]:
    """Pay every hold; the latency of each checkout (both calls with Stripe) as the client saw it."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    queue = list(enumerate(holds))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def worker() -> None:
            while queue:
                i, (buyer, hold_id) = queue.pop()
                headers = {"Authorization": f"Bearer {buyer}"}
                details = {"email": f"buyer{i}@example.com", "name": "Bench Buyer", "shipping": ADDRESS}
                started = time.perf_counter()
                if stripe:
                    paid = await http.post(f"/api/holds/{hold_id}/payment", headers=headers,
                                           json={**details, "payment_method": "pm_card_visa"})
                    if paid.status_code != 200 or paid.json().get("status") not in ("succeeded", "paid"):
                        statuses[f"payment_{paid.status_code}"] += 1
                        continue
                else:
                    details["card_number"] = "4242424242424242"
                answer = await http.post(f"/api/holds/{hold_id}/checkout", headers=headers, json=details)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[str(answer.status_code)] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    lat = sorted(latencies)
    return {
        "checkouts": len(lat),
        "seconds": round(seconds, 2),
        "per_second": round(statuses["201"] / seconds, 1),
        "p50_ms": round(statistics.median(lat), 1) if lat else 0.0,
        "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)], 1) if lat else 0.0,
        "statuses": dict(statuses),
        "_latency_sum_ms": sum(lat),
    }


async def paid_orders(url: str, token: str, slug: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        orders = (await http.get(f"/api/shows/{slug}/orders", headers={"Authorization": f"Bearer {token}"})).json()["orders"]
    return sum(1 for o in orders if o["status"] == "paid")


async def test_provider_charges(redis_url: str) -> Counter[str]:
    """Paid charges per hold, from the test provider's records in Redis (``ld:{charges}:c:<hold>:<attempt>``)."""
    redis = make_redis(redis_url)
    per_hold: Counter[str] = Counter()
    async for key in redis.scan_iter(match="ld:{charges}:c:*", count=1000):
        if await redis.hget(key, "status") == "paid":
            per_hold[str(key).removeprefix("ld:{charges}:c:").rsplit(":", 1)[0]] += 1
    await redis.aclose()
    return per_hold


def stripe_charges(api_base: str) -> Counter[str]:
    """Succeeded PaymentIntents per hold (their metadata's hold_id), from localstripe."""
    per_hold: Counter[str] = Counter()
    auth = {"Authorization": "Bearer sk_test_livedrop_bench"}
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"starting_after": after} if after else {})}
        page = httpx.get(f"{api_base}/v1/payment_intents", params=params, headers=auth, timeout=60).json()
        for pi in page["data"]:
            if pi["status"] == "succeeded":
                per_hold[(pi.get("metadata") or {}).get("hold_id", "?")] += 1
        if not page.get("has_more") or not page["data"]:
            return per_hold
        after = page["data"][-1]["id"]


async def provider_time(redis_url: str) -> tuple[float, int]:
    redis = make_redis(redis_url)
    ns = int(await redis.get("bench:provider:ns") or 0)
    calls = int(await redis.get("bench:provider:calls") or 0)
    await redis.aclose()
    return ns / 1e6, calls


def run(name: str, n: int, concurrency: int, stripe_base: str | None) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix=f"livedrop-bench-{name}-"))
    try:
        extra: dict[str, str] = {"LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE": "1000000", "LIVEDROP_BUYERS_PER_IP_PER_MINUTE": "1000000"}
        if stripe_base:
            extra.update(LIVEDROP_PAYMENTS="stripe", STRIPE_SECRET_KEY="sk_test_livedrop_bench",
                         STRIPE_PUBLISHABLE_KEY="pk_test_livedrop_bench", STRIPE_API_BASE=stripe_base)
        env = livedrop_env(data, **extra)
        token = host_token(env, "bench@example.com", "bench password 123")
        redis_url = env.get("REDIS_URL") or f"unix://{data / 'redis' / 'redis.sock'}"
        with TimedServer(["serve"], env) as server:
            slug, holds = asyncio.run(setup(server.url, token, n, concurrency))
            asyncio.run(_reset_timer(redis_url))
            result = pay_all_sync(server.url, holds, concurrency, stripe_base is not None)
            provider_ms, calls = asyncio.run(provider_time(redis_url))
            orders = asyncio.run(paid_orders(server.url, token, slug))
            charges = stripe_charges(stripe_base) if stripe_base else asyncio.run(test_provider_charges(redis_url))
    finally:
        shutil.rmtree(data, ignore_errors=True)  # after the server stopped: its SQLite file and Redis dump
    latency_sum = result.pop("_latency_sum_ms")
    result["provider_calls"] = calls
    result["provider_ms_per_call"] = round(provider_ms / calls, 2) if calls else 0.0
    result["provider_share_of_time"] = round(provider_ms / latency_sum, 3) if latency_sum else 0.0
    result["paid_orders"] = orders
    result["paid_charges"] = sum(charges.values())
    result["double_charges"] = sum(c - 1 for c in charges.values() if c > 1) + max(0, sum(charges.values()) - orders)
    return result


def pay_all_sync(url: str, holds: list[tuple[str, str]], concurrency: int, stripe: bool) -> dict[str, Any]:
    return asyncio.run(pay_all(url, holds, concurrency, stripe))


async def _reset_timer(redis_url: str) -> None:
    redis = make_redis(redis_url)
    await redis.delete("bench:provider:ns", "bench:provider:calls")
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkouts", type=int, default=600, help="through the test provider")
    parser.add_argument("--stripe-checkouts", type=int, default=60, help="through localstripe (it lists every "
                        "PaymentIntent for each lookup: it has no search, so it slows as they pile up)")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    report: dict[str, Any] = {"command": "python -m bench.checkout " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())}
    report["test_provider"] = run("test", args.checkouts, args.concurrency, None)
    with running_localstripe() as base:
        report["localstripe"] = run("stripe", args.stripe_checkouts, args.concurrency, base)
    report["double_charges"] = report["test_provider"]["double_charges"] + report["localstripe"]["double_charges"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
