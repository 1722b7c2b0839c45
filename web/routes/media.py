"""WHIP (RFC 9725) and WHEP: the host publishes a show's video, anyone plays it.

Signalling only: the SDP goes to ``live.broadcasts`` (the media backend: ``live.media`` on its own
thread in this process, or the `livedrop media` process over loopback HTTP; see web.media_process)
and its answer comes back with every server candidate in it (no trickle ICE: OBS and simple players
need that). The engine's refusals are Refusals, rendered by web.errors.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from live.media.engine import MAX_SDP_BYTES
from live.models import Show
from live.shows import show_by_slug
from web.auth import current_host
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import SDP_ANSWER, SDP_OFFER, Operation, api, json_content, schema_ref


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
    sessions = livedrop(request).services.sessions
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
    answer = await livedrop(request).broadcasts.publish(show, await _offer(request))
    return _answer(f"/whip/{slug}/{answer.session_id}", answer.sdp)


async def whip_stop(request: Request) -> Response:
    show = await _own_show(request, request.path_params["slug"])
    await livedrop(request).broadcasts.unpublish(show, request.path_params["session"])
    return Response(status_code=200)


async def whep_play(request: Request) -> Response:
    slug = request.path_params["slug"]
    answer = await livedrop(request).broadcasts.play(slug, await _offer(request))
    return _answer(f"/whep/{slug}/{answer.session_id}", answer.sdp)


async def whep_status(request: Request) -> Response:
    """Whether the show has a stream now: the viewer page asks before (and while) it offers."""
    live = await livedrop(request).broadcasts.has_stream(request.path_params["slug"])
    return JSONResponse({"stream": live}, status_code=200 if live else 404, headers={"Cache-Control": "no-store"})


async def whep_stop(request: Request) -> Response:
    await livedrop(request).broadcasts.stop_playing(request.path_params["slug"], request.path_params["session"])
    return Response(status_code=200)


routes = [
    api(whip_publish, Operation("POST", "/whip/{slug}", "Publish the show's video (WHIP, RFC 9725): an SDP offer in, the complete answer "
              "(every server candidate, no trickle ICE) out, with the session's Location to DELETE when done. The "
              "stream is recorded for the show's replay (LIVEDROP_RECORDINGS_DIR); 409 invalid_state once the show "
              "has ended. OBS: see docs/operations.md.", auth="host",
              answers={201: "The SDP answer (application/sdp); Location: /whip/{slug}/{session}"},
              errors=("unauthorized", "csrf_failed", "not_found", "invalid_state", "stream_taken", "malformed_sdp",
                      "unsupported_media_type", "payload_too_large", "unavailable"),
              responses={201: SDP_ANSWER}, request_body=SDP_OFFER)),
    api(whip_stop, Operation("DELETE", "/whip/{slug}/{session}", "Stop publishing: the stream ends and every viewer's connection "
              "closes.", auth="host", answers={200: "The stream ended"}, errors=("unauthorized", "not_found"),
              bodiless=(200,))),
    api(whep_play, Operation("POST", "/whep/{slug}", "Play the show's video (WHEP): an SDP offer (receive-only) in, the complete "
              "answer out, with the session's Location (unguessable: the only key to it).",
              answers={201: "The SDP answer (application/sdp); Location: /whep/{slug}/{session}"},
              errors=("not_found", "malformed_sdp", "unsupported_media_type", "media_full", "unavailable"),
              responses={201: SDP_ANSWER}, request_body=SDP_OFFER)),
    api(whep_status, Operation("GET", "/whep/{slug}", "Whether the show has a stream to play right now.",
              answers={200: "{\"stream\": true}", 404: "No stream (yet, or any more)"}, errors=("not_found",),
              responses={
        200: {"content": json_content("StreamStatus")},
        404: {"content": {"application/json": {"schema": {"anyOf": [schema_ref("StreamStatus"), schema_ref("Error")]}}}},
    })),
    api(whep_stop, Operation("DELETE", "/whep/{slug}/{session}", "Stop playing (only this viewer).",
              answers={200: "Stopped"}, errors=("not_found",), bodiless=(200,))),
]
