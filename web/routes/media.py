"""WHIP (RFC 9725) and WHEP: the host publishes a show's video, anyone plays it.

Signalling only: the SDP goes to the media backend (``live.media`` on its own thread in this
process, or the `livedrop media` process over loopback HTTP; see web.media_process) and its answer
comes back with every server candidate in it (no trickle ICE: OBS and simple players need that).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from live.media.engine import MAX_SDP_BYTES, BadOffer, MediaError, NoSession, NoStream, PublisherExists, TooManyViewers
from live.shows import show_by_slug
from web.auth import current_host
from web.errors import ApiError
from web.openapi import Operation, document

STATUS_CACHE_S = 2.0  # every waiting viewer page asks GET /whep/{slug}: answer most from memory


async def media_backend(app: Any) -> Any:
    """The app's media backend, made on first use (so processes that never see video never load
    aiortc). Made without awaiting anything, so two first requests cannot make two."""
    backend = getattr(app.state, "media", None)
    if backend is None:
        settings = app.state.settings
        if settings.media_url:
            from web.media_process import RemoteMedia  # noqa: PLC0415

            backend = RemoteMedia(settings.media_url, settings.secret_key)
        else:
            from live.media.runner import ThreadedMedia  # noqa: PLC0415

            backend = ThreadedMedia(settings.media_config())
        app.state.media = backend
        app.state.media_status = {}
    return backend


async def close_media(app: Any) -> None:
    backend = getattr(app.state, "media", None)
    if backend is not None:
        app.state.media = None
        await backend.close()


async def _call(call: Any) -> Any:
    from web.media_process import MediaUnavailable  # noqa: PLC0415

    try:
        return await call
    except BadOffer as exc:
        raise ApiError(400, "malformed_sdp", str(exc)) from None
    except PublisherExists as exc:
        raise ApiError(409, "stream_taken", str(exc)) from None
    except (NoStream, NoSession) as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except TooManyViewers as exc:
        raise ApiError(503, "media_full", f"{exc}; try again in a minute", headers={"Retry-After": "30"}) from None
    except (MediaUnavailable, MediaError, asyncio.TimeoutError) as exc:
        raise ApiError(503, "unavailable", f"video is unavailable right now ({exc.__class__.__name__})") from None


async def _offer(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/sdp":
        raise ApiError(415, "unsupported_media_type", "send the SDP offer as Content-Type: application/sdp")
    body = await request.body()
    if len(body) > MAX_SDP_BYTES:
        raise ApiError(413, "payload_too_large", "the SDP offer is too large")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_sdp", "the SDP offer is not UTF-8 text") from None


async def _own_show(request: Request, slug: str) -> None:
    """The host's own show, else 404 (another host's show looks exactly like a missing one)."""
    sessions = request.app.state.services.sessions
    host = await current_host(request, sessions, request.method)
    async with sessions() as session:
        show = await show_by_slug(session, slug)
    if show is None or show.host_id != host.id:
        raise ApiError(404, "not_found", "no such show")


def _answer(location: str, sdp: str) -> Response:
    return Response(sdp, status_code=201, media_type="application/sdp",
                    headers={"Location": location, "Cache-Control": "no-store"})


async def whip_publish(request: Request) -> Response:
    slug = request.path_params["slug"]
    await _own_show(request, slug)
    offer = await _offer(request)
    backend = await media_backend(request.app)
    answer = await _call(backend.publish(slug, offer))
    request.app.state.media_status.pop(slug, None)
    return _answer(f"/whip/{slug}/{answer.session_id}", answer.sdp)


async def whip_stop(request: Request) -> Response:
    slug = request.path_params["slug"]
    await _own_show(request, slug)
    backend = await media_backend(request.app)
    await _call(backend.unpublish(slug, request.path_params["session"]))
    request.app.state.media_status.pop(slug, None)
    return Response(status_code=200)


async def whep_play(request: Request) -> Response:
    slug = request.path_params["slug"]
    offer = await _offer(request)
    backend = await media_backend(request.app)
    answer = await _call(backend.play(slug, offer))
    return _answer(f"/whep/{slug}/{answer.session_id}", answer.sdp)


async def whep_status(request: Request) -> Response:
    """Whether the show has a stream now: the viewer page asks before (and while) it offers."""
    slug = request.path_params["slug"]
    backend = await media_backend(request.app)
    cache: dict[str, tuple[float, bool]] = request.app.state.media_status
    now = time.monotonic()
    known = cache.get(slug)
    if known is not None and known[0] > now:
        live = known[1]
    else:
        live = await _call(backend.has_stream(slug))
        if len(cache) > 10_000:
            cache.clear()
        cache[slug] = (now + STATUS_CACHE_S, live)
    return JSONResponse({"stream": live}, status_code=200 if live else 404, headers={"Cache-Control": "no-store"})


async def whep_stop(request: Request) -> Response:
    backend = await media_backend(request.app)
    await _call(backend.stop_viewer(request.path_params["slug"], request.path_params["session"]))
    return Response(status_code=200)


routes = [
    Route("/whip/{slug}", whip_publish, methods=["POST"]),
    Route("/whip/{slug}/{session}", whip_stop, methods=["DELETE"]),
    Route("/whep/{slug}", whep_play, methods=["POST"]),
    Route("/whep/{slug}", whep_status, methods=["GET"]),
    Route("/whep/{slug}/{session}", whep_stop, methods=["DELETE"]),
]

document(
    Operation("POST", "/whip/{slug}", "Publish the show's video (WHIP, RFC 9725): an SDP offer in, the complete answer "
              "(every server candidate, no trickle ICE) out, with the session's Location to DELETE when done. OBS: "
              "see docs/operations.md.", auth="host",
              answers={201: "The SDP answer (application/sdp); Location: /whip/{slug}/{session}"},
              errors=("unauthorized", "csrf_failed", "not_found", "stream_taken", "malformed_sdp",
                      "unsupported_media_type", "payload_too_large", "unavailable")),
    Operation("DELETE", "/whip/{slug}/{session}", "Stop publishing: the stream ends and every viewer's connection "
              "closes.", auth="host", answers={200: "The stream ended"}, errors=("unauthorized", "not_found")),
    Operation("POST", "/whep/{slug}", "Play the show's video (WHEP): an SDP offer (receive-only) in, the complete "
              "answer out, with the session's Location (unguessable: the only key to it).",
              answers={201: "The SDP answer (application/sdp); Location: /whep/{slug}/{session}"},
              errors=("not_found", "malformed_sdp", "unsupported_media_type", "media_full", "unavailable")),
    Operation("GET", "/whep/{slug}", "Whether the show has a stream to play right now.",
              answers={200: "{\"stream\": true}", 404: "No stream (yet, or any more)"}, errors=("not_found",)),
    Operation("DELETE", "/whep/{slug}/{session}", "Stop playing (only this viewer).",
              answers={200: "Stopped"}, errors=("not_found",)),
)
