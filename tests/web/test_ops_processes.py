"""The operator's view of real processes, sharing one `livedrop serve` (JSON logs, every request in
the access log, a metrics token) and its data: /metrics scraped during a burst of buy presses (it
parses with prometheus_client's parser and its hold counter equals the holds the burst counted),
structured logs, the worker's own /healthz, /readyz and /metrics, and `livedrop status`."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from bench.drop import make_buyers, scrape_holds, setup_show
from bench.loadgen import hold_presses, run_load
from tests.support import LivedropProcess, flush_configured_redis, free_port, host_token, livedrop_env, run_cli, wait_until
from web.settings import Settings
from web.status import gather_status


TOKEN = secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Ops:
    server: LivedropProcess
    env: dict[str, str]
    host: str  # a host's API token
    worker_port: int


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    flush_configured_redis()
    worker_port = free_port()
    env = livedrop_env(tmp_path_factory.mktemp("ops"), LIVEDROP_METRICS_TOKEN=TOKEN, LIVEDROP_LOG_FORMAT="json",
                       LIVEDROP_ACCESS_LOG_SAMPLE="1", LIVEDROP_WORKER_PORT=str(worker_port),
                       LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000", LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000")
    token = host_token(env, f"ops-{secrets.token_hex(3)}@example.com")
    with LivedropProcess(["serve"], env) as server:
        yield Ops(server, env, token, worker_port)


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_metrics_during_a_burst_count_every_hold(ops: Ops) -> None:
    server = ops.server
    # With a token set, loopback is no longer trusted by itself: 403 with a stable code.
    refused = httpx.get(server.url + "/metrics", timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "metrics_forbidden"
    assert httpx.get(server.url + "/metrics", headers={"Authorization": "Bearer " + "x" * 32}, timeout=10).status_code == 403

    before = scrape_holds(server.url, TOKEN)
    slug, _ = asyncio.run(setup_show(server.url, ops.host, "Metrics", {"M-1": 40, "M-2": 40}, 1000))
    buyers = asyncio.run(make_buyers(server.url, 50))
    during: list[dict[str, float]] = []
    scraper = threading.Timer(0.7, lambda: during.append(scrape_holds(server.url, TOKEN)))
    scraper.start()
    burst = run_load(server.url, hold_presses(server.url, slug, buyers, ["M-1", "M-2"]), processes=1, connections=8, seconds=1.5)
    scraper.join()
    after = scrape_holds(server.url, TOKEN)

    held = burst.statuses.get(201, 0)
    assert held == 80, burst.statuses  # 80 units, many more presses: the rest sold out
    assert during and 0 < sum(during[0].values()), during  # parsed mid-burst, with presses already counted
    assert after.get("held", 0) - before.get("held", 0) == held
    assert after.get("sold_out", 0) - before.get("sold_out", 0) == burst.statuses.get(409, 0)
    assert after["_observed"] - before.get("_observed", 0) == burst.requests  # every press timed once

    text = httpx.get(server.url + "/metrics", headers=AUTH, timeout=10).text
    names = {family.name for family in text_string_to_metric_families(text)}
    for name in ("livedrop_holds", "livedrop_hold_seconds", "livedrop_checkouts", "livedrop_frames_sent",
                 "livedrop_frames_dropped", "livedrop_slow_consumer_closes", "livedrop_redis_seconds",
                 "livedrop_database_seconds", "livedrop_job_lease_held", "livedrop_viewers", "livedrop_outbox_pending"):
        assert name in names, name
    # The Grafana dashboard in docs draws only series the server exposes.
    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())
    drawn = {re.sub(r"_(total|bucket)$", "", name) for panel in dashboard["panels"] for target in panel["targets"]
             for name in re.findall(r"livedrop_[a-z_]+", target["expr"])}
    assert drawn and drawn <= names, drawn - names


def test_json_logs_carry_the_request_id_and_show_and_no_secrets(ops: Ops) -> None:
    server = ops.server
    secret_query = "tok-" + secrets.token_hex(12)
    bearer = "bear-" + secrets.token_hex(12)
    answer = httpx.get(f"{server.url}/api/shows/no-such-show?token={secret_query}",
                       headers={"X-Request-ID": "lb-42.abc", "Authorization": f"Bearer {bearer}"}, timeout=10)
    assert answer.status_code == 404
    httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "bad id with spaces"}, timeout=10)

    def records() -> list[dict]:  # type: ignore[type-arg]
        return [json.loads(line) for line in server.output().splitlines() if line.strip()]  # every line is JSON

    assert wait_until(lambda: any(r.get("path") == "/healthz" for r in records()), 5)
    show_line = next(r for r in records() if r.get("path") == "/api/shows/no-such-show")
    assert show_line["logger"] == "livedrop.access"
    assert show_line["request_id"] == "lb-42.abc" and show_line["show"] == "no-such-show"
    assert show_line["status"] == 404 and show_line["method"] == "GET" and show_line["duration_ms"] >= 0
    assert {"ts", "level", "message"} <= set(show_line)
    health = next(r for r in records() if r.get("path") == "/healthz")
    assert len(health["request_id"]) == 16 and health["request_id"] != "bad id with spaces"  # made here instead
    output = server.output()
    assert secret_query not in output and bearer not in output and TOKEN not in output


def test_worker_health_metrics_and_status(ops: Ops) -> None:
    server, env = ops.server, ops.env
    base = f"http://127.0.0.1:{ops.worker_port}"
    worker = LivedropProcess(["worker"], env).start(wait_ready=False)
    try:
        # The worker takes the job lease from serve (which stands aside for it) within a few ticks.
        assert wait_until(lambda: (r := _get(base + "/healthz")) is not None and r.status_code == 200
                          and r.json()["holds_job_lease"] is True, 20), worker.output()
        ready = httpx.get(base + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"] == {"redis": "ok", "database": "ok"}
        assert httpx.get(base + "/metrics", timeout=5).status_code == 403  # the same access rule as serve's

        def worker_samples() -> dict[str, float]:
            text = httpx.get(base + "/metrics", headers=AUTH, timeout=5).text
            return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}

        assert worker_samples()["livedrop_job_lease_held"] == 1
        assert wait_until(lambda: "livedrop_job_last_success_timestamp_seconds" in worker_samples(), 10)

        slug, _ = asyncio.run(setup_show(server.url, ops.host, f"Ops {secrets.token_hex(2)}", {"OPS-1": 3}, 1))

        async def watch_and_ask() -> dict:  # type: ignore[type-arg]
            url = server.url.replace("http://", "ws://") + f"/ws/shows/{slug}"
            async with connect(url, open_timeout=10) as one, connect(url, open_timeout=10):
                await one.recv()
                await asyncio.sleep(1.2)  # presence is written every 0.5 s
                shown = await asyncio.to_thread(run_cli, ["status", "--json"], env)
                assert shown.returncode == 0, shown.stderr
                return json.loads(shown.stdout)  # type: ignore[no-any-return]

        found = asyncio.run(watch_and_ask())
        assert found["healthy"] and found["redis"].startswith("ok") and found["database"].startswith("ok")
        assert found["worker_alive"] and found["job_lease"] == found["worker_alive"]  # the worker runs the jobs
        assert 0 < found["job_lease_ttl_ms"] <= 10_000
        assert [s["viewers"] for s in found["shows"] if s["slug"] == slug] == [2]
    finally:
        worker.stop()
    assert _get(base + "/healthz") is None  # its port is closed again once it stopped


async def test_status_names_what_is_down_without_its_password(tmp_path: Path) -> None:
    settings = Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 32,
                                  "DATABASE_URL": f"postgresql://u:secretpw@127.0.0.1:{free_port()}/none"})
    found = await gather_status(settings)
    assert not found.healthy and found.database.startswith("unavailable") and "secretpw" not in found.database
    assert found.redis.startswith("unavailable: the embedded redis-server")  # never started by status
    lines = "\n".join(found.lines())
    assert "database:    unavailable" in lines and "job lease:   nobody" in lines and "secretpw" not in lines
