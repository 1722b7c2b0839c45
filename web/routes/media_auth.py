"""MediaMTX's HTTP authorization (``authMethod: http``), answered from livedrop's own accounts.

MediaMTX POSTs ``{"user", "password", "token", "ip", "action", "path", "protocol", "id", "query"}``
for every publisher and reader, and lets the client in on any 2xx answer. livedrop answers:

- ``publish`` to path ``<slug>``: only with an API token of the host that owns that show;
- ``read``: a show that is live (its host's token may also read it before it starts, to preview);
- ``playback`` (MediaMTX's recordings): a show that is live or has ended;
- anything else (``api``, ``metrics``, ``pprof``): never; exclude those with ``authHTTPExclude`` and
  protect them another way.

The token may arrive as ``token`` (WHIP/WHEP ``Authorization: Bearer``, RTSP/RTMP ``?token=``), as
``password`` (SRT ``streamid=publish:<slug>:<any user>:<token>``, RTMP ``?user=…&pass=``, HTTP Basic), or
only in ``query`` (``token``, ``jwt`` or ``pass``). Failed publish attempts are limited per client
address (MediaMTX's ``ip``): past the limit the token is not even looked at. See docs/operations.md.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from live.models import Show
from live.shows import show_by_slug
from live.slugs import SLUG_PATTERN
from web.auth import host_for_token
from web.bodies import parse
from web.errors import ApiError
from web.openapi import Operation, document
from web.ratelimit import Limit

FAILED_PUBLISH_LIMIT = Limit("media-auth-failed", 10, 300)  # wrong tokens per client address in five minutes
QUERY_TOKEN_KEYS = ("token", "jwt", "pass")
MAX_FIELD = 4096

Text = Annotated[str, Field(max_length=MAX_FIELD)] | None


class MediaAuthIn(BaseModel):
    """The body MediaMTX sends (its documented shape). Unknown fields are ignored, not refused: a
    newer MediaMTX adding one must not lock every publisher out."""

    model_config = ConfigDict(extra="ignore")
    user: Text = None
    password: Text = None
    token: Text = None
    ip: Text = None
    action: Text = None
    path: Text = None
    protocol: Text = None
    id: Text = None
    query: Text = None


def presented_token(body: MediaAuthIn) -> str | None:
    """The credential the client gave, wherever its protocol put it."""
    for value in (body.token, body.password):
        if value and value.strip():
            return value.strip()
    if body.query:
        params = parse_qs(body.query.lstrip("?"), keep_blank_values=False)
        for key in QUERY_TOKEN_KEYS:
            for value in params.get(key, []):
                if value.strip():
                    return value.strip()
    return None


def show_slug(path: str | None) -> str | None:
    """MediaMTX's path is the show's slug (``demo``, not ``live/demo``); anything else names no show."""
    slug = (path or "").strip("/")
    return slug if SLUG_PATTERN.match(slug) else None


def _allowed() -> Response:
    return Response(status_code=204)


def _refused(status: int, code: str, message: str) -> ApiError:
    # 401 asks RTSP clients for credentials (they send none until asked); the other answers are final.
    headers = {"WWW-Authenticate": 'Basic realm="livedrop"'} if status == 401 else None
    return ApiError(status, code, message, headers=headers)


async def _find(request: Request, slug: str | None) -> Show | None:
    if slug is None:
        return None
    async with request.app.state.services.sessions() as session:
        return await show_by_slug(session, slug)


async def _host_id_of(request: Request, token: str) -> int | None:
    async with request.app.state.services.sessions() as session:
        host = await host_for_token(session, token)
    return host.id if host is not None else None


async def media_auth(request: Request) -> Response:
    body = await parse(request, MediaAuthIn)
    action = (body.action or "").strip()
    if action not in ("publish", "read", "playback"):
        raise _refused(403, "action_refused", f"livedrop does not authorize the action {action!r}")
    slug = show_slug(body.path)
    token = presented_token(body)
    if action == "publish":
        return await _publish(request, body, slug, token)
    show = await _find(request, slug)
    if show is None:
        raise _refused(404, "not_found", "no show at this path")
    if show.status == "live" or (action == "playback" and show.status == "ended"):
        return _allowed()
    if token is not None and await _host_id_of(request, token) == show.host_id:
        return _allowed()  # the host previewing its own stream before the show starts
    raise _refused(409, "invalid_state", f"the show is {show.status}")


async def _publish(request: Request, body: MediaAuthIn, slug: str | None, token: str | None) -> Response:
    if token is None:
        raise _refused(401, "unauthorized", "publishing needs a host API token (Bearer token, ?token=, or password)")
    limiter = request.app.state.runtime.rate_limiter
    # MediaMTX is the caller for every client, so its own address says nothing: the client's does.
    subject = (body.ip or "").strip() or (request.client.host if request.client else "unknown")
    wait = await limiter.blocked_ms(FAILED_PUBLISH_LIMIT, subject)
    if wait is not None:
        raise ApiError(429, "rate_limited", "too many failed publish attempts from this address; wait and retry",
                       headers={"Retry-After": str(max(1, -(-wait // 1000)))})
    host_id = await _host_id_of(request, token)
    show = await _find(request, slug) if host_id is not None else None
    if host_id is not None and show is not None and show.host_id == host_id:
        return _allowed()
    await limiter.retry_after_ms(FAILED_PUBLISH_LIMIT, subject)  # counts the failure
    if host_id is None:
        raise _refused(401, "unauthorized", "the token is not a livedrop host API token")
    # Another host's show answers exactly like a missing one, so slugs do not leak.
    raise _refused(404, "not_found", "no such show of yours at this path")


routes = [Route("/api/media/auth", media_auth, methods=["POST"])]

document(
    Operation("POST", "/api/media/auth", "MediaMTX's HTTP authorization (authMethod: http, authHTTPAddress). publish "
              "to path <slug> needs an API token of the show's host (as token, password, or ?token= / ?jwt= / ?pass= in "
              "query); read needs a live show; playback a live or ended show; api, metrics and pprof are refused. Any 2xx "
              "lets the client in. Failed publish attempts are limited per client address (ip).", body=MediaAuthIn,
              answers={204: "Allowed."},
              errors=("malformed_json", "invalid_request", "unauthorized", "not_found", "invalid_state",
                      "action_refused", "rate_limited")),
)
