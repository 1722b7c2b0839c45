"""WHIP (RFC 9725) and WHEP: the host publishes a show's video, anyone plays it.

Signalling only: the SDP goes to the media backend (``live.media`` on its own thread in this
process, or the `livedrop media` process over loopback HTTP; see web.media_process) and its answer
comes back with every server candidate in it (no trickle ICE: OBS and simple players need that).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inventory.clock import now_ms
from live.media.engine import (
    MAX_SDP_BYTES,
    BadOffer,
    MediaError,
    NoSession,
    NoStream,
    PublisherExists,
    RecordingRequest,
    TooManyViewers,
)
from live.models import Show
from live.recordings import StreamClock, add_recording, finish_recording, recording_file
from live.shows import show_by_slug
from web.auth import current_host
from web.errors import ApiError
from web.openapi import Operation, document

log = logging.getLogger("livedrop.media")

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

            async def ended(slug: str, session_id: str) -> None:
                # The engine ended a stream (its publisher's connection failed, or it was ended):
                # stop stamping events against it. Only in-process: `livedrop media` cannot call
                # back, so there the WHIP DELETE or the show's end does it (docs/operations.md).
                known = app.state.media_sessions.pop(session_id, None)
                if known is not None:
                    await stream_ended(app, known[0], known[1])

            backend = ThreadedMedia(settings.media_config(), on_end=ended)
        app.state.media = backend
        app.state.media_status = {}
        app.state.media_sessions = {}  # publishing session id -> (show id, stream start)
    return backend


async def stream_started(app: Any, show_id: int, started_at: int, recorded: bool) -> None:
    """A publisher was accepted: events are stamped against ``started_at`` from now on."""
    await StreamClock(app.state.services.redis).start(show_id, started_at)
    if recorded:
        async with app.state.services.sessions() as session:
            await add_recording(session, show_id, started_at)
            await session.commit()


async def stream_ended(app: Any, show_id: int, started_at: int | None) -> None:
    """The stream that started at ``started_at`` (None: whichever runs) is over."""
    await StreamClock(app.state.services.redis).stop(show_id, started_at)
    async with app.state.services.sessions() as session:
        await finish_recording(session, show_id, started_at, now_ms())
        await session.commit()


async def end_show_stream(app: Any, slug: str) -> None:
    """The show ended: its video stops (and its recording is finished) whoever publishes it.
    A process that never made a media backend has no stream here, unless `livedrop media` runs it."""
    settings = app.state.settings
    async with app.state.services.sessions() as session:
        show = await show_by_slug(session, slug)
    if show is None:
        return
    if settings.media_url or getattr(app.state, "media", None) is not None:
        backend = await media_backend(app)
        try:
            await _call(backend.end_stream(slug))
        except ApiError as exc:  # the show is over either way; a replay may lack its last seconds
            log.warning("show %s ended but its stream could not be stopped: %s", slug, exc.message)
        app.state.media_status.pop(slug, None)
    await stream_ended(app, show.id, None)


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


async def _own_show(request: Request, slug: str) -> Show:
    """The host's own show, else 404 (another host's show looks exactly like a missing one)."""
    sessions = request.app.state.services.sessions
    host = await current_host(request, sessions, request.method)
    async with sessions() as session:
        show = await show_by_slug(session, slug)
    if show is None or show.host_id != host.id:
        raise ApiError(404, "not_found", "no such show")
    return show


def _answer(location: str, sdp: str) -> Response:
    return Response(sdp, status_code=201, media_type="application/sdp",
                    headers={"Location": location, "Cache-Control": "no-store"})


async def whip_publish(request: Request) -> Response:
    slug = request.path_params["slug"]
    show = await _own_show(request, slug)
    if show.status == "ended":
        raise ApiError(409, "invalid_state", "this show has ended; create a new one to go live again")
    offer = await _offer(request)
    app = request.app
    backend = await media_backend(app)
    # Time 0 of the recording and of every event's media_ms: one instant, chosen here.
    started_at = now_ms()
    record = RecordingRequest(recording_file(show.id, started_at), started_at) if app.state.settings.recordings_dir else None
    answer = await _call(backend.publish(slug, offer, record))
    app.state.media_sessions[answer.session_id] = (show.id, started_at)
    await stream_started(app, show.id, started_at, record is not None)
    app.state.media_status.pop(slug, None)
    return _answer(f"/whip/{slug}/{answer.session_id}", answer.sdp)


async def whip_stop(request: Request) -> Response:
    slug = request.path_params["slug"]
    show = await _own_show(request, slug)
    app = request.app
    backend = await media_backend(app)
    session_id = request.path_params["session"]
    await _call(backend.unpublish(slug, session_id))
    known = app.state.media_sessions.pop(session_id, None)
    await stream_ended(app, show.id, known[1] if known else None)  # another process accepted it: whichever runs
    app.state.media_status.pop(slug, None)
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
              "(every server candidate, no trickle ICE) out, with the session's Location to DELETE when done. The "
              "stream is recorded for the show's replay (LIVEDROP_RECORDINGS_DIR); 409 invalid_state once the show "
              "has ended. OBS: see docs/operations.md.", auth="host",
              answers={201: "The SDP answer (application/sdp); Location: /whip/{slug}/{session}"},
              errors=("unauthorized", "csrf_failed", "not_found", "invalid_state", "stream_taken", "malformed_sdp",
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
