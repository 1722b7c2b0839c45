"""Whether a WebSocket's ``Origin`` may open a livedrop socket (a show's, a thread page's): shared
by the socket routes, so one site's page cannot ride a viewer's cookie into another's socket."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from web.settings import Settings


def origin_allowed(websocket: HTTPConnection, settings: Settings) -> bool:
    """Browsers always send Origin; a page on another site must not ride a viewer's cookie.
    No Origin: not a browser (a bot, a test, a native app), which has no cookie to abuse."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    allowed = settings.allowed_origins
    if "*" in allowed or origin in allowed:
        return True
    if settings.public_url and origin == _origin_of(settings.public_url):
        return True
    return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
