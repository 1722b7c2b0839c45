"""The `livedrop media` process and how the web process reaches it.

The media process owns every aiortc peer connection. It listens on loopback (LIVEDROP_MEDIA_PORT,
default 8001) with a tiny internal HTTP API that only the web processes call: SDP in, SDP out, a
session id in a header. Calls carry a key derived from SECRET_KEY, so another local user cannot
publish into a show. Viewers' and publishers' RTP goes straight to the media process (its ICE
candidates are in the answers); only the signalling passes through the web process.

    web (WHIP/WHEP, auth, show lookup)  --HTTP on loopback-->  media (aiortc, FrameFanout)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from live.media import (
    BadOffer,
    MediaEngine,
    MediaError,
    NoSession,
    NoStream,
    PublisherExists,
    RecordingRequest,
    SessionAnswer,
    TooManyViewers,
    restrict_host_addresses,
    restrict_remote_addresses,
)
from web.bodies import BodyLimit, ascii_digits
from web.settings import Settings

log = logging.getLogger("livedrop.media")

_KINDS: dict[str, type[MediaError]] = {
    "bad_offer": BadOffer,
    "publisher_exists": PublisherExists,
    "no_stream": NoStream,
    "no_session": NoSession,
    "too_many_viewers": TooManyViewers,
}
SESSION_HEADER = "x-media-session"
RECORD_FILE_HEADER = "x-record-file"  # record the stream to this file (relative to the recordings folder)
RECORD_START_HEADER = "x-record-started-at"  # ms since the epoch: time 0 of the recording


def media_key(secret_key: str) -> str:
    return hmac.new(secret_key.encode(), b"livedrop-media-process", hashlib.sha256).hexdigest()


# -- the media process's side ----------------------------------------------------------------------


def create_media_app(settings: Settings) -> Starlette:
    key = media_key(settings.secret_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config = settings.media_config()
        restrict_host_addresses(config.host_addresses)
        restrict_remote_addresses(config.remote_addresses)
        app.state.engine = MediaEngine(config)
        log.info("livedrop media ready (max %d viewers, host addresses %s, remote addresses %s)", config.max_viewers,
                 ", ".join(config.host_addresses) or "all", ", ".join(config.remote_addresses) or "default")
        try:
            yield
        finally:
            await app.state.engine.close()

    def engine(request: Request) -> MediaEngine:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given, key):
            raise PermissionError
        return request.app.state.engine

    def refused(exc: MediaError) -> JSONResponse:
        kind = next(k for k, cls in _KINDS.items() if isinstance(exc, cls))
        return JSONResponse({"kind": kind, "message": exc.message}, status_code=exc.status)

    async def handle(request: Request) -> Response:
        try:
            eng = engine(request)
        except PermissionError:
            return JSONResponse({"kind": "forbidden", "message": "wrong media key"}, status_code=403)
        slug = request.path_params["slug"]
        session_id = request.path_params.get("session")
        role = request.path_params["role"]
        try:
            if request.method == "POST":
                sdp = (await request.body()).decode("utf-8", "replace")
                if role == "publish":
                    answer = await eng.publish(slug, sdp, _record_request(request))
                else:
                    answer = await eng.play(slug, sdp)
                return Response(answer.sdp, status_code=201, media_type="application/sdp",
                                headers={SESSION_HEADER: answer.session_id})
            assert session_id is not None
            await (eng.unpublish if role == "publish" else eng.stop_viewer)(slug, session_id)
            return Response(status_code=200)
        except MediaError as exc:
            return refused(exc)

    async def stream(request: Request) -> Response:
        try:
            eng = engine(request)
        except PermissionError:
            return Response(status_code=403)
        if request.method == "DELETE":  # the show ended: end its stream, whoever publishes
            return Response(status_code=200 if await eng.end_stream(request.path_params["slug"]) else 404)
        return Response(status_code=200 if eng.has_stream(request.path_params["slug"]) else 404)

    async def stats(request: Request) -> Response:
        try:
            eng = engine(request)
        except PermissionError:
            return Response(status_code=403)
        return JSONResponse(eng.stats())

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready", "role": "media"})

    routes = [
        Route("/readyz", ready),
        Route("/internal/stats", stats),
        Route("/internal/streams/{slug}", stream, methods=["GET", "DELETE"]),
        Route("/internal/{role:str}/{slug}", handle, methods=["POST"]),
        Route("/internal/{role:str}/{slug}/{session}", handle, methods=["DELETE"]),
    ]
    # Only web processes call it (with the media key), but a body is bounded here as everywhere.
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(BodyLimit)])


def _record_request(request: Request) -> RecordingRequest | None:
    file = request.headers.get(RECORD_FILE_HEADER)
    started = request.headers.get(RECORD_START_HEADER, "")
    if not file or not ascii_digits(started):
        return None
    return RecordingRequest(file, int(started))


async def run_media(settings: Settings, host: str = "127.0.0.1", port: int | None = None) -> None:
    import uvicorn  # noqa: PLC0415

    config = uvicorn.Config(create_media_app(settings), host=host, port=port or settings.media_port,
                            lifespan="on", log_level="info", access_log=False, timeout_graceful_shutdown=5)
    await uvicorn.Server(config).serve()


# -- the web process's side ------------------------------------------------------------------------


class RemoteMedia:
    """The MediaBackend of a web process whose media runs in `livedrop media` (LIVEDROP_MEDIA_URL)."""

    def __init__(self, url: str, secret_key: str) -> None:
        self._http = httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(20.0, connect=3.0),
                                       headers={"Authorization": f"Bearer {media_key(secret_key)}"})

    async def _send(self, method: str, path: str, sdp: str | None = None,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        if sdp is not None:
            headers = {"content-type": "application/sdp", **(headers or {})}
        try:
            response = await self._http.request(method, path, content=sdp, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("the media process does not answer: %s", exc)
            raise MediaUnavailable() from None
        if response.status_code in (400, 404, 409, 503) and response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            cls = _KINDS.get(body.get("kind"))
            if cls is not None:
                raise cls(body.get("message", ""))
        if response.status_code >= 300 and response.status_code != 404:
            log.warning("the media process answered %s", response.status_code)
            raise MediaUnavailable()
        return response

    async def _start(self, role: str, slug: str, sdp: str, headers: dict[str, str] | None = None) -> SessionAnswer:
        response = await self._send("POST", f"/internal/{role}/{slug}", sdp, headers)
        return SessionAnswer(response.headers[SESSION_HEADER], response.text)

    async def publish(self, slug: str, sdp: str, record: RecordingRequest | None = None) -> SessionAnswer:
        headers = {RECORD_FILE_HEADER: record.file, RECORD_START_HEADER: str(record.started_at)} if record else None
        return await self._start("publish", slug, sdp, headers)

    async def end_stream(self, slug: str) -> bool:
        return (await self._send("DELETE", f"/internal/streams/{slug}")).status_code == 200

    async def play(self, slug: str, sdp: str) -> SessionAnswer:
        return await self._start("play", slug, sdp)

    async def unpublish(self, slug: str, session_id: str) -> None:
        await self._send("DELETE", f"/internal/publish/{slug}/{session_id}")

    async def stop_viewer(self, slug: str, session_id: str) -> None:
        await self._send("DELETE", f"/internal/play/{slug}/{session_id}")

    async def has_stream(self, slug: str) -> bool:
        return (await self._send("GET", f"/internal/streams/{slug}")).status_code == 200

    async def stats(self) -> dict[str, Any]:
        return (await self._send("GET", "/internal/stats")).json()

    async def close(self) -> None:
        await self._http.aclose()


class MediaUnavailable(MediaError):
    """The media process is down or broken: 503 unavailable for the caller."""
