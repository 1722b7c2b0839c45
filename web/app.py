"""The Starlette application: the routes, the middleware and the error handlers, wired
explicitly, around the process's ``Livedrop`` (web.livedrop), assembled in the lifespan.

``create_app(settings)`` opens its own connections in the lifespan; the CLI and tests may open them
first and hand them in (``services=``) so a bad REDIS_URL is reported before anything binds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

import static as static_package
from inventory.errors import Refusal
from web.bodies import BodyLimit
from web.errors import http_error_handler, refusal_handler, server_error_handler
from web.faults import FAULT_HANDLERS
from web.jobs import JobRunner
from web.livedrop import Livedrop, assemble
from web.stopping import bounded_step
from web.logs import RequestContext
from web.metrics import probe_forever
from web.openapi import openapi_json
from web.routes import (
    buyer_pages, buyers, draws, health, holds, live_ws, media, media_auth, metrics, notify, orders, panel, products, queue, queue_pow, replay,
    shipping, shopify, shows, host_chat, threads, viewer, webhook_endpoints, webhooks,
)
from web.services import Services, open_services
from web.settings import Settings

log = logging.getLogger("livedrop")

STATIC_DIR = Path(next(iter(static_package.__path__)))
SESSION_COOKIE = "livedrop_session"


def build_routes() -> list[BaseRoute]:
    """Every route of the app, in the order Starlette tries them."""
    return [
        # The buy button comes first: it is the hot path in a drop; then joining a waiting room,
        # which 100,000 people do before one, and entering a draw. Starlette tries each route's pattern in turn, and
        # each miss costs a regex and a scope check (~2 µs): the join was fifth, behind the
        # other hold routes, until bench/queue.py's profile showed it.
        holds.buy_route,
        queue.join_route,
        draws.entry_route,  # a draw's entries: the same crowd, before a draw closes
        *holds.routes,
        *queue.routes,
        *draws.routes,
        *health.routes,
        *metrics.routes,
        Route("/api/openapi.json", openapi_json),
        *products.routes,
        *buyers.routes,
        *orders.routes,
        *buyer_pages.routes,
        *shipping.routes,
        *shows.routes,
        *host_chat.routes,
        *notify.routes,
        *threads.routes,  # private buyer-host threads and data rights (docs/threads.md, docs/privacy.md)
        *queue_pow.routes,
        *live_ws.routes,
        *panel.routes,
        *viewer.routes,
        *media.routes,
        *media_auth.routes,
        *replay.routes,
        *webhooks.routes,
        *shopify.routes,
        *webhook_endpoints.routes,
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def create_app(settings: Settings, services: Services | None = None, *, run_jobs: bool = True) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = services is None
        svc = services if services is not None else await open_services(settings)
        root: Livedrop = assemble(settings, svc)
        app.state.livedrop = root
        await root.start()
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(probe_forever(svc), name="metrics-probe")]
        if run_jobs:
            runner = JobRunner(svc.redis, list(root.jobs), is_worker=False, outages=svc.outages)
            tasks.append(asyncio.create_task(runner.run(stop), name="job-lease"))
        try:
            yield
        finally:
            stop.set()
            tasks[0].cancel()  # the probe loop; the job lease ends on ``stop``
            await bounded_step("background jobs", asyncio.gather(*tasks, return_exceptions=True))
            await root.stop()
            if owned:
                await bounded_step("connections", svc.close())

    middleware = [
        # Outermost: the request's id, show and offer for log lines, and the sampled access log (web.logs).
        Middleware(RequestContext, sample=settings.access_log_sample),
        # Then: a body too large is refused before anything else reads a byte of it.
        Middleware(BodyLimit, larger={"/api/products/import": panel.CSV_UPLOAD_BYTES, shopify.WEBHOOK_PATH: shopify.WEBHOOK_BODY_BYTES}),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie=SESSION_COOKIE,
            same_site="lax",
            https_only=settings.base_url.startswith("https://"),
            max_age=14 * 24 * 3600,
        ),
    ]
    return Starlette(
        routes=build_routes(),
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            # Every layer's refusals (inventory, live, web's ApiError): one body (web.errors).
            Refusal: refusal_handler,
            HTTPException: http_error_handler,
            500: server_error_handler,
            **FAULT_HANDLERS,  # Redis or the database down: 503 unavailable with Retry-After (web.faults)
        },
    )
