"""Logs an operator can run on: text for a terminal, or one JSON object per line
(``LIVEDROP_LOG_FORMAT=json``, through python-json-logger) with the request id, show and offer of
the request a line was written under, and a sampled access log.

What a line never carries: request headers, bodies or query strings (buyer tokens travel in the
``Authorization`` header and ``?token=``, order links in ``?t=``, MediaMTX's secret in ``?secret=``),
card data, or configured secrets (Settings keeps them out of its repr). The access log writes the
path only.

Cost on the hot path: ``RequestContext`` sets one context variable per request and draws one random
number; the request id, show and offer are worked out only when a line is written. Under a drop
the access log writes ``LIVEDROP_ACCESS_LOG_SAMPLE`` of requests (default 1 %: 100 lines a second
at 10,000 presses a second).
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import sys
import time
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("livedrop.access")

# The request being served: its ASGI scope (None outside a request: jobs, start-up).
current_scope: ContextVar[Scope | None] = ContextVar("livedrop_request", default=None)

REQUEST_ID_KEY = "livedrop.request_id"
# An id the balancer sent (HAProxy unique-id-header, nginx $request_id) is kept if it looks like one.
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Where a path names a show (its slug) and perhaps an offer.
_SHOW_PATH = re.compile(r"^/(?:api/shows|ws/shows|s|whip|whep)/([a-z0-9-]{1,64})(?:/offers/(\d{1,18}))?")


def request_id(scope: Scope) -> str:
    """The request's id: X-Request-ID as the balancer sent it, else one made now (and kept)."""
    found = scope.get(REQUEST_ID_KEY)
    if found is None:
        found = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _GOOD_ID.fullmatch(candidate):
                    found = candidate
                break
        found = scope[REQUEST_ID_KEY] = found or secrets.token_hex(8)
    return str(found)


class RequestFields(logging.Filter):
    """Adds ``request_id``, ``show`` and ``offer`` to every record written while serving a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = current_scope.get()
        if scope is not None:
            record.request_id = request_id(scope)
            match = _SHOW_PATH.match(scope.get("path", ""))
            if match:
                record.show = match.group(1)
                if match.group(2):
                    record.offer = int(match.group(2))
        return True


class RequestContext:
    """Outermost ASGI middleware: the request's scope for the log filter, and the access log
    for a sample of requests. Failures need no sample: a 500 is logged with its traceback by
    web.errors, an outage's 503s by the outage log (one line each way)."""

    def __init__(self, app: ASGIApp, sample: float) -> None:
        self.app = app
        self.sample = sample

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = current_scope.set(scope)
        try:
            if scope["type"] == "http" and random.random() < self.sample:
                await self._logged(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            current_scope.reset(token)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 0

        async def timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            _access(scope, status, (time.perf_counter() - started) * 1000)


def _access(scope: Scope, status: int, duration_ms: float) -> None:
    fields: dict[str, Any] = {"method": scope.get("method"), "path": scope.get("path"), "status": status,
                              "duration_ms": round(duration_ms, 2)}
    client = scope.get("client")
    if client:
        fields["client"] = client[0]
    access_log.info("%s %s %s", fields["method"], fields["path"], status or "-", extra=fields)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """The root logger for ``text`` (as before) or ``json`` (one object per line on stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
        ))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RequestFields())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
