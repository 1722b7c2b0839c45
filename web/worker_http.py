"""The worker's own HTTP: ``/healthz``, ``/readyz`` and ``/metrics`` on ``LIVEDROP_WORKER_HOST``:
``LIVEDROP_WORKER_PORT`` (127.0.0.1:8002; port 0: none), for a supervisor's health checks and
Prometheus. The worker serves no users, so this is all it listens for.

- ``/healthz``: 200 while the worker's lease loop is turning (it ticks every 2 s; silent for 10 s,
  a job lease's length, means the loop is stuck), else 503.
- ``/readyz``: 200 when Redis and the database answer (each within 2 s), else 503 naming which.
- ``/metrics``: as on ``serve``, under the same access rules (web.metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Generator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inventory.timeouts import within
from web.jobs import LEASE_MS, JobRunner
from web.metrics import CONTENT_TYPE, allowed, render
from web.services import Services, database_answers
from web.settings import Settings

log = logging.getLogger("livedrop.worker")

STUCK_S = LEASE_MS / 1000  # no lease tick for this long: the worker is not doing its job


def worker_app(settings: Settings, services: Services, runner: JobRunner, clock: Callable[[], float]) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        silent_s = clock() - runner.last_tick
        alive = runner.last_tick > 0 and silent_s < STUCK_S
        return JSONResponse({"status": "ok" if alive else "stuck", "holds_job_lease": runner.holds_lease,
                             "last_tick_s_ago": round(silent_s, 2) if runner.last_tick else None},
                            status_code=200 if alive else 503)

    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        for name, probe in (("redis", services.redis.ping), ("database", lambda: database_answers(services.engine))):
            try:
                await within(probe(), 2)
                checks[name] = "ok"
            except Exception as exc:  # any failure means "not ready"; say which
                checks[name] = f"unavailable: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        if not allowed(request.client.host if request.client else None, request.headers.get("authorization"),
                       settings.metrics_token, settings.metrics_addresses):
            return JSONResponse({"error": {"code": "metrics_forbidden", "message": "this address may not read /metrics: list it in "
                                           "LIVEDROP_METRICS_ADDRESSES or send Authorization: Bearer <LIVEDROP_METRICS_TOKEN>"}},
                                status_code=403)
        return Response(await render(services, None), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)])


class _QuietServer(uvicorn.Server):
    """uvicorn inside the worker: the worker's own signal handlers stop it (``should_exit``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_worker_http(settings: Settings, services: Services, runner: JobRunner, stop: asyncio.Event) -> None:
    """Until ``stop``; a port already taken is logged and the worker goes on without its HTTP."""
    if settings.worker_port == 0:
        return
    loop = asyncio.get_running_loop()
    config = uvicorn.Config(worker_app(settings, services, runner, loop.time), host=settings.worker_host,
                            port=settings.worker_port, lifespan="off", access_log=False, log_config=None, log_level="warning")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(), name="worker-http")
    started = loop.time()
    while not server.started and not task.done() and loop.time() - started < 5:
        await asyncio.sleep(0.05)
    if not server.started:
        log.warning("worker: could not listen on %s:%d for /healthz, /readyz and /metrics (port taken?); going on without",
                    settings.worker_host, settings.worker_port)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        return
    log.info("worker: /healthz, /readyz and /metrics on http://%s:%d", settings.worker_host, settings.worker_port)
    await stop.wait()
    server.should_exit = True
    with contextlib.suppress(BaseException):
        await task
