"""The Starlette application: one object that composes inventory, live and the routes.

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
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import static as static_package
from web.auth import BuyerTokens
from web.bodies import BodyLimit
from web.errors import ApiError, api_error_handler, http_error_handler, server_error_handler
from web.faults import FAULT_HANDLERS
from web.jobs import Job, JobRunner
from web.money import format_money
from web.openapi import openapi_json
from web.routes import buyers, health, holds, orders, products
from web.routes import live_ws, media, media_auth, panel, replay, shows, viewer
from web.runtime import Runtime
from web.services import Services, open_services
from web.settings import Settings

log = logging.getLogger("livedrop")

WEB_DIR = Path(__file__).parent
STATIC_DIR = Path(next(iter(static_package.__path__)))
SESSION_COOKIE = "livedrop_session"


def background_jobs(runtime: Runtime) -> list[Job]:
    """Every periodic job of a livedrop deployment; run by exactly one process (see web.jobs)."""
    return runtime.jobs()


def create_app(settings: Settings, services: Services | None = None, *, run_jobs: bool = True) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = services is None
        svc = services if services is not None else await open_services(settings)
        app.state.services = svc
        runtime = app.state.runtime = Runtime(svc)
        await runtime.start()
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if run_jobs:
            runner = JobRunner(svc.redis, background_jobs(runtime), is_worker=False, outages=svc.outages)
            tasks.append(asyncio.create_task(runner.run(stop), name="job-lease"))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await media.close_media(app)
            await runtime.stop()
            if owned:
                await svc.close()

    routes = [
        # Starlette tries routes in order: the buy button comes first, it is the hot path in a drop.
        *holds.routes,
        *health.routes,
        Route("/api/openapi.json", openapi_json),
        *products.routes,
        *buyers.routes,
        *orders.routes,
        *shows.routes,
        *live_ws.routes,
        *panel.routes,
        *viewer.routes,
        *media.routes,
        *media_auth.routes,
        *replay.routes,
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [
        # Outermost: a body too large is refused before anything else reads a byte of it.
        Middleware(BodyLimit, larger={"/api/products/import": panel.CSV_UPLOAD_BYTES}),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie=SESSION_COOKIE,
            same_site="lax",
            https_only=settings.base_url.startswith("https://"),
            max_age=14 * 24 * 3600,
        )
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            ApiError: api_error_handler, HTTPException: http_error_handler, 500: server_error_handler,
            **FAULT_HANDLERS,  # Redis or the database down: 503 unavailable with Retry-After (web.faults)
        },
    )
    app.state.settings = settings
    app.state.buyer_tokens = BuyerTokens(settings.secret_key)
    app.state.templates = Jinja2Templates(directory=WEB_DIR / "templates")
    app.state.templates.env.filters["money"] = format_money
    return app
