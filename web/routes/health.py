"""Liveness and readiness: load balancers and orchestrators poll these."""

from __future__ import annotations


from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from inventory.timeouts import within
from web.livedrop import livedrop
from web.services import redis_answers
from web.openapi import Operation, api, json_content


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    services = livedrop(request).services
    checks: dict[str, str] = {}

    async def redis_ok() -> None:
        await within(redis_answers(services.redis), 2)

    async def database_ok() -> None:
        async def probe() -> None:
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await within(probe(), 2)

    for name, check in (("redis", redis_ok), ("database", database_ok)):
        try:
            await check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which
            checks[name] = f"unavailable: {type(exc).__name__}"
            services.outages.report(exc, refused=False)  # its first fault starts the outage log
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503)


routes = [
    api(healthz, Operation("GET", "/healthz", "The process is up.", answers={200: "{\"status\": \"ok\"}"},
              responses={200: {"content": json_content("Health")}})),
    api(readyz, Operation("GET", "/readyz", "Redis and the database answer.", answers={200: "ready", 503: "a service does not answer"},
              responses={200: {"content": json_content("Readiness")}, 503: {"content": json_content("Readiness")}})),
]
