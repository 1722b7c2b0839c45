"""The shoppable replay of an ended show: its recording, and its pins and offers on the video's clock.

    GET  /api/shows/{slug}/replay            the recording's URL and the timeline (from SQL, by media_ms)
    GET  /s/{slug}/recording.webm            the file, with HTTP Range (seeking fetches only what it needs)
    POST /api/shows/{slug}/replay/presence   a replay page's heartbeat: replay viewers and stock

The page itself is ``/s/{slug}`` (web.routes.viewer renders ``replay.html`` once the show is over and
recorded). What a replay is, and where its file is, comes from live.replay. Buying goes through the
same hold and checkout routes as live; ``live.sales`` decides what a replay sells (list price, while
in stock).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from web.bodies import parse
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content

VIEWER_ID = r"^[A-Za-z0-9_-]{8,64}$"
NO_REPLAY = "this show has no replay: it is not over, or it was not recorded"


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    viewer_id: Annotated[str, Field(pattern=VIEWER_ID)]


async def replay_json(request: Request) -> JSONResponse:
    replay = await livedrop(request).replays.of(request.path_params["slug"])
    if replay is None:
        raise ApiError(404, "not_found", NO_REPLAY)
    return JSONResponse(replay, headers={"Cache-Control": "no-store"})


async def recording_file(request: Request) -> Response:
    path = await livedrop(request).replays.file_of(request.path_params["slug"])
    if path is None:
        raise ApiError(404, "not_found", NO_REPLAY)
    # Starlette's FileResponse answers Range requests (206, Content-Range): the browser seeks by
    # fetching the cues and then only the part it plays. The file never changes once the show ended.
    return FileResponse(path, media_type="video/webm", headers={"Cache-Control": "public, max-age=3600"})


async def presence(request: Request) -> JSONResponse:
    body = await parse(request, PresenceIn)
    answer = await livedrop(request).replay_presence.heartbeat(request.path_params["slug"], body.viewer_id)
    if answer is None:
        raise ApiError(404, "not_found", NO_REPLAY)
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


routes = [
    api(replay_json, Operation(
        "GET", "/api/shows/{slug}/replay",
        "The replay of an ended, recorded show: {show, server_time, recording: {url, started_at, ended_at, "
        "duration_ms}, events: [pin/unpin/offer events as on the WebSocket, each with media_ms: its offset into "
        "the recording], products: [what the replay sells, at list price], bag: [the products the host kept in the show's bag, "
        "in its order; sold too], stock: {SKU: units}}. Events from "
        "before the recording started have media_ms 0 (the state the video opens on).",
        answers={200: "The replay."}, errors=("not_found",),
              responses={200: {"content": json_content("Replay")}})),
    api(presence, Operation(
        "POST", "/api/shows/{slug}/replay/presence",
        "A replay page's heartbeat (every 20 s, with a random id of its own, 8 to 64 of A-Z a-z 0-9 _ -): counts "
        "replay viewers apart from live ones and answers {replay_viewers, stock, server_time}.",
        body=PresenceIn, answers={200: "Replay viewers now and the stock of what the replay sells."},
        errors=("malformed_json", "invalid_request", "not_found"),
              responses={200: {"content": json_content("ReplayPresence")}})),
    Route("/s/{slug}/recording.webm", recording_file, methods=["GET"]),
]
