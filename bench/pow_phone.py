"""What the waiting room's proof of work costs a browser: static/common/pow.js solving real
challenges (web.queue_pow) in Chromium, at several LIVEDROP_QUEUE_POW values, with and without
4x CPU throttling (DevTools' stand-in for a mid-range phone); prints JSON.

    .venv/bin/python bench/pow_phone.py                       # 50k, 100k, 250k; 12 runs each; 1x and 4x
    .venv/bin/python bench/pow_phone.py --max 100000 --runs 30 --throttle 1 6

A loopback server serves a blank page, static/ and the challenges (QueuePow, as the app issues
them); Debian's Chromium (/usr/bin/chromium, through Playwright, launched as the browser tests
launch it) imports pow.js and solves. Every answer is checked with QueuePow.verify, so a figure
counts only answers the server accepts.

The secret number is drawn uniformly from [0, maxnumber], so one solve takes anywhere from
nothing to the whole range. So each setting measures the fixed part (``fixed_ms``: loading the
widget, starting its workers, the fetch; solves of a maxnumber of 1) and the solving speed
(``hashes_per_s``: the numbers reached over the time past the fixed part, over every run), and
gives from them ``expected_ms`` (a buyer's average, number = maxnumber / 2) and ``worst_ms``
(number = maxnumber); ``measured`` has the raw runs. ``workers`` is how many the widget solved
with: navigator.hardwareConcurrency here, as on a phone (at most 4 with 4 GB of memory or less).

CPU throttling is DevTools' Emulation.setCPUThrottlingRate on the page. Chromium aims it at the
page's main thread; a worker's own DevTools target refuses it ("Operation is only supported for
pages, not workers"), and the widget solves in workers, which it slows less and unevenly.
``digest_rates`` shows, per setting, what the rate really did to SHA-256 digests in the page and
in a worker. So ``phone_estimate``
is the full-speed solving speed divided by the largest rate asked for (a phone at that fraction
of this machine's speed on every thread, with as many workers), plus the fixed part as measured
throttled. ``load_average`` is the machine's before and after: other work skews every figure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from web.queue_pow import QueuePow  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]  # as tests/browser
SECRET = "bench-pow-secret-0123456789abcdef"
BUYER, OFFER = "bench-buyer", 1
PAGE = b"<!doctype html><meta charset=utf-8><title>pow bench</title><body></body>"

SOLVE = """async ({url, workers}) => {
  const { solvePow } = await import("/static/common/pow.js");
  const started = performance.now();
  const payload = await solvePow(url, workers ? { workers } : {});
  return { ms: performance.now() - started, payload };
}"""


class Handler(SimpleHTTPRequestHandler):
    """/ is the blank page, /challenge?max=N a fresh challenge, /static/* the repository's static/."""

    pows: dict[int, QueuePow] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(ROOT), **kwargs)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        if parts.path == "/":
            return self._send(200, "text/html", PAGE)
        if parts.path == "/challenge":
            max_number = int(parse_qs(parts.query)["max"][0])
            pow_ = self.pows.setdefault(max_number, QueuePow(SECRET, max_number))
            return self._send(200, "application/json", json.dumps(pow_.challenge(BUYER, OFFER)).encode())
        if parts.path.startswith("/static/"):
            return super().do_GET()
        return self._send(404, "text/plain", b"not found")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        if self.path.startswith("/static/"):
            self.send_header("Cache-Control", "no-store")  # each page loads the widget as a first visit would
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


# How much a throttling rate really slows each thread: SHA-256 digests for a second, in the page and
# in a Web Worker, the way the widget's solver makes them (one crypto.subtle call at a time).
DIGEST_RATES = """async () => {
  const body = `async function digests() {
    const data = new TextEncoder().encode("0123456789abcdef?expires=1&buyer=b&offer=1&0000000");
    const started = performance.now(); let n = 0;
    while (performance.now() - started < 1000) { data[data.length - 1] = n & 255; await crypto.subtle.digest("SHA-256", data); n++; }
    return n;
  }`;
  const url = URL.createObjectURL(new Blob([body + "; onmessage = async () => postMessage(await digests());"]));
  const worker = new Worker(url);
  const inWorker = await new Promise((resolve) => { worker.onmessage = (e) => resolve(e.data); worker.postMessage(0); });
  worker.terminate();
  const inPage = await new Function(body + "; return digests();")();
  return { page_digests_per_s: inPage, worker_digests_per_s: inWorker };
}"""


def throttled_page(browser: Any, base: str, rate: float) -> Any:
    """A page of its own context, throttled with Emulation.setCPUThrottlingRate. Chromium aims it
    at the page's main thread; a worker's own target refuses it ("Operation is only supported for
    pages, not workers"), so what it does to the widget's workers is measured (digest_rates)."""
    context = browser.new_context()
    page = context.new_page()
    context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": rate})
    page.goto(base + "/")
    return page


def solve(page: Any, base: str, max_number: int, workers: int | None) -> dict[str, float]:
    page.reload()  # a fresh page each time: the widget is loaded and its workers started, as for a buyer
    answer = page.evaluate(SOLVE, {"url": f"{base}/challenge?max={max_number}", "workers": workers})
    pow_ = Handler.pows.setdefault(max_number, QueuePow(SECRET, max_number))
    pow_.verify(answer["payload"], BUYER, OFFER)  # only answers the server accepts count
    number = json.loads(base64.b64decode(answer["payload"]))["number"]
    return {"max_number": max_number, "number": number, "ms": round(answer["ms"], 1)}


def measure(browser: Any, base: str, rate: float, max_numbers: list[int], runs: int, workers: int | None) -> dict[str, Any]:
    page = throttled_page(browser, base, rate)
    digest_rates = page.evaluate(DIGEST_RATES)
    used_workers = workers or page.evaluate("navigator.hardwareConcurrency")
    # The fixed part (loading the widget, starting its workers, the fetch): solves of a maxnumber of 1.
    fixed_ms = statistics.median(solve(page, base, 1, workers)["ms"] for _ in range(5))
    measured = [solve(page, base, m, workers) for m in max_numbers for _ in range(runs)]
    page.context.close()
    searched_ms = sum(max(r["ms"] - fixed_ms, 1.0) for r in measured)
    hashes_per_s = sum(r["number"] for r in measured) / searched_ms * 1000
    return {
        "cpu_throttling": rate,
        "workers": used_workers,
        "digest_rates": digest_rates,
        "fixed_ms": round(fixed_ms),
        "hashes_per_s": round(hashes_per_s),
        "by_max_number": {str(m): {**_estimate(m, fixed_ms, hashes_per_s), **_measured([r for r in measured if r["max_number"] == m])}
                          for m in max_numbers},
        "measured": measured,
    }


def _estimate(max_number: int, fixed_ms: float, hashes_per_s: float) -> dict[str, int]:
    """A buyer's average (the number is uniform in [0, maxnumber]) and the worst case, from the speed."""
    return {
        "expected_ms": round(fixed_ms + max_number / 2 / hashes_per_s * 1000),
        "worst_ms": round(fixed_ms + max_number / hashes_per_s * 1000),
    }


def _measured(runs: list[dict[str, float]]) -> dict[str, int]:
    return {"measured_mean_ms": round(statistics.fmean(r["ms"] for r in runs)), "measured_max_ms": round(max(r["ms"] for r in runs))}


def phone_estimate(results: list[dict[str, Any]], max_numbers: list[int], slowdown: float) -> dict[str, Any]:
    """A phone with this machine's worker count at 1/slowdown of its speed on every thread: the
    unthrottled solving speed divided by ``slowdown``, and the fixed part as measured throttled."""
    full = next(r for r in results if r["cpu_throttling"] == 1)
    throttled = next((r for r in results if r["cpu_throttling"] == slowdown), full)
    hashes_per_s = full["hashes_per_s"] / slowdown
    return {
        "how": f"hashes_per_s at full speed / {slowdown:g}; fixed_ms measured at CPU throttling {throttled['cpu_throttling']:g}",
        "workers": full["workers"],
        "hashes_per_s": round(hashes_per_s),
        "by_max_number": {str(m): _estimate(m, throttled["fixed_ms"], hashes_per_s) for m in max_numbers},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max", type=int, nargs="+", default=[50_000, 100_000, 250_000], help="maxnumber values")
    parser.add_argument("--runs", type=int, default=12, help="solves per maxnumber and throttling rate")
    parser.add_argument("--throttle", type=float, nargs="+", default=[1, 4], help="CPU throttling rates")
    parser.add_argument("--workers", type=int, default=None, help="workers (default: the widget's, one per core)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    load_before = [round(x, 2) for x in os.getloadavg()]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"  # loopback is a secure context: crypto.subtle works
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            results = [measure(browser, base, rate, args.max, args.runs, args.workers) for rate in sorted({1.0, *args.throttle})]
            version = browser.version
        finally:
            browser.close()
    server.shutdown()
    print(json.dumps({
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "browser": f"Chromium {version}",
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "runs_per_setting": args.runs,
        "phone_estimate": phone_estimate(results, args.max, max(args.throttle)),
        "results": results,
    }, indent=2))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
