"""Draw offers' benchmarks (issue 22). Prints one JSON object, the issue's targets beside the figures.

    .venv/bin/python -m bench.draw                              # the issue's sizes (100,000 entries)
    .venv/bin/python -m bench.draw --entries 20000 --rounds 3   # a quick check

1. entries: ``--entries`` entries (each a new buyer, a new email) through POST .../entries, in
   ``--rounds`` rounds alternating with as many requests to the trivial endpoint (GET /healthz, as
   bench/queue.py); the figure is the median of the rounds' entry/trivial rate ratios.
2. the draw over those entries (3 sizes, 300 units): POST .../draw, with the time to rank every
   entry and create the winners' holds as the server measured it (``timings.rank_and_holds_ms``;
   the 1 s grace after the close is not in it), and the commit (winners, the outbox's emails).
3. verifying the audit in Chromium: /offers/{id}/verify, Web Crypto over every entry; the page's
   own measure (``data-ms``: SHA-256s, HMACs, sort, every check) and the wall time from navigation
   to the verdict (the audit's download and parse included).

Buyers are signed here with the server's SECRET_KEY (bench.queue.signed_buyers): POST /api/buyers
would cost 100,000 inserts before the first measured request. Starts its own ``livedrop serve`` on
loopback with a fresh data folder (embedded redis-server and SQLite, or REDIS_URL / DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.drop import median_of, raise_nofile
from bench.loadgen import LoadResult, RequestMaker, request_bytes
from bench.queue import ServerCpu, signed_buyers, trivial
from inventory.clock import now_ms
from tests.support import LivedropProcess, host_token, livedrop_env

TARGETS = {"entry_vs_trivial": 0.7, "draw_seconds": 2.0, "verify_in_chromium_seconds": 5.0}
SIZES = {"D-40": 100, "D-41": 100, "D-42": 100}
LONG = 600.0
CHROMIUM = "/usr/bin/chromium"


async def draw_offer(url: str, token: str) -> tuple[str, int]:
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as http:
        product = (await http.post("/api/products", json={
            "title": "Draw bench", "price_cents": 10000, "currency": "USD",
            "variants": [{"sku": sku, "label": sku, "stock": n} for sku, n in SIZES.items()]})).json()
        slug = (await http.post("/api/shows", json={"title": "Draw bench"})).json()["slug"]
        (await http.post(f"/api/shows/{slug}/start")).raise_for_status()
        (await http.put(f"/api/shows/{slug}/pin", json={"product_id": product["id"]})).raise_for_status()
        offer = await http.post(f"/api/shows/{slug}/offers", json={
            "product_id": product["id"], "price_cents": 9000, "mode": "draw", "entries_close_at": now_ms() + 3_600_000})
        assert offer.status_code == 201, offer.text
        return slug, int(offer.json()["id"])


def entries(url: str, slug: str, offer_id: int, tokens: list[str], first: int) -> RequestMaker:
    path = f"/api/shows/{slug}/offers/{offer_id}/entries"
    skus = list(SIZES)
    templates = [request_bytes("POST", url, path, {"Authorization": f"Bearer {t}"},
                               json.dumps({"sku": skus[n % 3], "email": f"e{n}@bench.example"}).encode())
                 for n, t in enumerate(tokens)]
    return lambda i, k: templates[first + i]


def bench_entries(server: LivedropProcess, slug: str, offer_id: int, tokens: list[str], args: argparse.Namespace) -> dict[str, Any]:
    url = server.url
    cpu = ServerCpu(server.proc.pid)  # type: ignore[union-attr]
    per_round = len(tokens) // args.rounds
    load = {"processes": args.processes, "connections": args.connections, "seconds": LONG, "total": per_round}
    rounds: dict[str, list[LoadResult]] = {"trivial_endpoint": [], "entry": []}
    for r in range(args.rounds):
        rounds["trivial_endpoint"].append(cpu.run("trivial_endpoint", url, trivial(url), **load))
        rounds["entry"].append(cpu.run("entry", url, entries(url, slug, offer_id, tokens, r * per_round), **load))
    ratios = [round(e.rate / t.rate, 3) for t, e in zip(rounds["trivial_endpoint"], rounds["entry"], strict=True)]
    return {
        "entries": per_round * args.rounds,
        "trivial_endpoint": median_of(rounds["trivial_endpoint"]),
        "entry": median_of(rounds["entry"]),
        "entry_vs_trivial": statistics.median(ratios),
        "entry_vs_trivial_per_round": ratios,
        "target_entry_vs_trivial": TARGETS["entry_vs_trivial"],
        "cpu_us_per_request": cpu.medians(),
    }


def bench_draw(url: str, token: str, slug: str, offer_id: int) -> dict[str, Any]:
    started = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as http:
        answer = http.post(f"/api/shows/{slug}/offers/{offer_id}/draw")
        answer.raise_for_status()
        figures = answer.json()
        entered = sum(figures["entries"].values())
    timings = figures.get("timings", {})
    return {
        "entries": entered,
        "winners": len(figures["winners"]),
        "rank_and_holds_seconds": round(timings.get("rank_and_holds_ms", 0) / 1000, 3),
        "commit_seconds": round(timings.get("commit_ms", 0) / 1000, 3),
        "of_which_seconds": {part: round(timings.get(f"{part}_ms", 0) / 1000, 3) for part in ("read", "rank", "holds")},
        "request_seconds": round(time.perf_counter() - started, 3),
        "target_draw_seconds": TARGETS["draw_seconds"],
    }


def bench_verify(url: str, offer_id: int, rounds: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    page_ms: list[float] = []
    wall_s: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            for _ in range(rounds):
                started = time.perf_counter()
                page.goto(f"{url}/offers/{offer_id}/verify")
                page.wait_for_function("document.getElementById('verdict').dataset.state === 'verified' || "
                                       "document.getElementById('verdict').dataset.state === 'differs'", timeout=120_000)
                wall_s.append(time.perf_counter() - started)
                assert page.get_attribute("#verdict", "data-state") == "verified", page.text_content("#verdict")
                page_ms.append(float(page.get_attribute("#verdict", "data-ms") or 0))
        finally:
            browser.close()
    return {
        "verify_in_page_seconds": round(statistics.median(page_ms) / 1000, 3),
        "navigation_to_verdict_seconds": round(statistics.median(wall_s), 3),
        "by_round_seconds": [round(s, 3) for s in wall_s],
        "target_verify_in_chromium_seconds": TARGETS["verify_in_chromium_seconds"],
    }


def run(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The parts asked for, against a server of its own on ``data`` (a fresh folder)."""
    env = livedrop_env(data, LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000", LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000")
    token = host_token(env, "bench-draw@example.com", "bench draw password")
    server = LivedropProcess(["serve", "--host", "127.0.0.1"], env).start()
    try:
        slug, offer_id = asyncio.run(draw_offer(server.url, token))
        _, tokens = signed_buyers(env["SECRET_KEY"], args.entries)
        parts = set(args.parts.split(","))
        report: dict[str, Any] = {"entries": bench_entries(server, slug, offer_id, tokens, args)}
        if "draw" in parts:
            report["draw"] = bench_draw(server.url, token, slug, offer_id)
        if "verify" in parts:
            report["verify"] = bench_verify(server.url, offer_id, 3)
    finally:
        server.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--parts", default="entries,draw,verify", help="which parts to run (comma-separated; draw and "
                        "verify need entries)")
    args = parser.parse_args()
    raise_nofile()
    data = Path(tempfile.mkdtemp(prefix="bench-draw-"))
    try:
        report = run(data, args)
    finally:
        shutil.rmtree(data, ignore_errors=True)  # its SQLite file, Redis dump and 100,000 emails: ~60 MB a run
    report["summary"] = {
        "entry_vs_trivial": report["entries"]["entry_vs_trivial"],
        "draw_rank_and_holds_seconds": report.get("draw", {}).get("rank_and_holds_seconds"),
        "verify_in_chromium_seconds": report.get("verify", {}).get("navigation_to_verdict_seconds"),
        "targets": TARGETS,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
