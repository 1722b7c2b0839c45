"""The shoppable replay of an ended show: its recording, and its pins and offers on the video's clock.

    GET  /api/shows/{slug}/replay            the recording's URL and the timeline (from SQL, by media_ms)
    GET  /s/{slug}/recording.webm            the file, with HTTP Range (seeking fetches only what it needs)
    POST /api/shows/{slug}/replay/presence   a replay page's heartbeat: replay viewers and stock

The page itself is ``/s/{slug}`` (web.routes.viewer renders ``replay.html`` once the show is over and
recorded). Buying goes through the same hold and checkout routes as live; ``live.sales`` decides
what a replay sells (list price, while in stock).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from inventory.catalog import product_json
from inventory.clock import now_ms
from inventory.models import Product
from live.recordings import ReplayAudience, replay_product_ids, replay_recording, timeline
from live.shows import show_by_slug, show_json
from web.bodies import parse
from web.livedrop import livedrop
from web.errors import ApiError
from web.openapi import api, json_content, Operation

VIEWER_ID = r"^[A-Za-z0-9_-]{8,64}$"
NO_REPLAY = "this show has no replay: it is not over, or it was not recorded"


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    viewer_id: Annotated[str, Field(pattern=VIEWER_ID)]


def _file(request: Request, relative: str) -> Path | None:
    """The recording on disk, if this process can read it (the recordings folder is shared by
    every web process and `livedrop media`; see docs/operations.md)."""
    root = livedrop(request).settings.recordings_dir
    if root is None or not re.fullmatch(r"[A-Za-z0-9_/-]+\.webm", relative) or ".." in relative:
        return None
    path = root / relative
    return path if path.is_file() else None


async def replay_of(request: Request, slug: str) -> dict[str, Any] | None:
    """Everything a replay page needs, or None when the show has no replay."""
    root = livedrop(request)
    async with root.services.sessions() as session:
        show = await show_by_slug(session, slug)
        if show is None:
            return None
        recording = await replay_recording(session, show)
        if recording is None or _file(request, recording.file) is None:
            return None
        events = [e.json() for e in await timeline(session, show.id, recording)]
        ids = await replay_product_ids(session, show.id)
        products = list((await session.execute(
            select(Product).where(Product.id.in_(ids), Product.host_id == show.host_id).order_by(Product.id)
        )).scalars()) if ids else []
        product_list = [product_json(p) for p in products]
        show_data = show_json(show)
        show_id = show.id
    hub = root.hub
    for product in product_list:  # what the replay sells must be in Redis (it may have come back empty)
        await hub.ensure_loaded(product["id"])
    stock: dict[str, int] = {}
    for counts in (await hub.stock.available_many([p["id"] for p in product_list])).values():
        stock.update(counts)
    end = recording.ended_at or show_data.get("ended_at")
    return {
        "show": show_data,
        "show_id": show_id,
        "server_time": now_ms(),
        "recording": {
            "url": f"/s/{slug}/recording.webm",
            "started_at": recording.started_at,
            "ended_at": end,
            "duration_ms": (end - recording.started_at) if end else None,
        },
        "events": events,
        "products": product_list,
        "stock": stock,
    }


async def replay_json(request: Request) -> JSONResponse:
    replay = await replay_of(request, request.path_params["slug"])
    if replay is None:
        raise ApiError(404, "not_found", NO_REPLAY)
    replay.pop("show_id")
    return JSONResponse(replay, headers={"Cache-Control": "no-store"})


async def recording_file(request: Request) -> Response:
    slug = request.path_params["slug"]
    async with livedrop(request).services.sessions() as session:
        show = await show_by_slug(session, slug)
        recording = await replay_recording(session, show) if show is not None else None
    path = _file(request, recording.file) if recording is not None else None
    if path is None:
        raise ApiError(404, "not_found", NO_REPLAY)
    # Starlette's FileResponse answers Range requests (206, Content-Range): the browser seeks by
    # fetching the cues and then only the part it plays. The file never changes once the show ended.
    return FileResponse(path, media_type="video/webm", headers={"Cache-Control": "public, max-age=3600"})


async def presence(request: Request) -> JSONResponse:
    slug = request.path_params["slug"]
    body = await parse(request, PresenceIn)
    view = await livedrop(request).hub.views.get(slug)
    if view is None or not view.recorded:
        raise ApiError(404, "not_found", NO_REPLAY)
    audience = ReplayAudience(livedrop(request).services.redis)
    count = await audience.heartbeat(view.id, body.viewer_id)
    hub = livedrop(request).hub
    stock: dict[str, int] = {}
    for counts in (await hub.stock.available_many(view.replay_product_ids)).values():
        stock.update(counts)
    return JSONResponse({"replay_viewers": count, "stock": stock, "server_time": now_ms()},
                        headers={"Cache-Control": "no-store"})


routes = [
    api(replay_json, Operation(
        "GET", "/api/shows/{slug}/replay",
        "The replay of an ended, recorded show: {show, server_time, recording: {url, started_at, ended_at, "
        "duration_ms}, events: [pin/unpin/offer events as on the WebSocket, each with media_ms: its offset into "
        "the recording], products: [what the replay sells, at list price], stock: {SKU: units}}. Events from "
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
