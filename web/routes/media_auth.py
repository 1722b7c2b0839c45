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
only in ``query`` (``token``, ``jwt`` or ``pass``).

Who may ask. The body's ``ip`` is MediaMTX's word about its client, worth something only when MediaMTX
is the one saying it. So the hook answers only a caller whose own address (the TCP peer, as uvicorn
reports it after ``proxy_headers``) is in ``LIVEDROP_MEDIA_AUTH_ADDRESSES`` (loopback by default), or
one that presents ``LIVEDROP_MEDIA_AUTH_SECRET`` (``?secret=`` in the URL, or as the Basic-auth
password: MediaMTX can only be given a URL). Anyone else gets 403 ``hook_forbidden`` before the body is
read, and counts toward nothing.

Failed publish attempts are limited per (caller, client address): past the limit the token is not even
looked at. The caller is part of the key so that no caller, even a trusted one, can spend another
caller's budget: the lockout the old per-``ip`` key allowed ("eleven bad tokens claiming the host's
address") needs the attacker to be the host's own MediaMTX. The client address is part of it so that
one publisher's bad tokens through MediaMTX never lock out the other publishers behind the same
MediaMTX. Invented or rotated client addresses (a trusted caller can write any ``ip``; an IPv6 client
owns a whole /64, counted as one) are bounded by a cap per caller; a client address that published
successfully lately is exempt from that cap, so a host reconnecting mid-show is not locked out by a
flood of strangers' failures. Tokens are 256 random bits: the limits bound the work and noise of
guessing, they are not what makes guessing hopeless. See docs/operations.md.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import time
from typing import Annotated
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from inventory.errors import RateLimited
from live.models import Show
from live.shows import show_by_slug
from live.slugs import SLUG_PATTERN
from web.auth import host_for_token
from web.bodies import parse
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import Operation, api
from web.ratelimit import Limit
from web.settings import Settings

log = logging.getLogger("livedrop.media")

FAILED_PUBLISH_LIMIT = Limit("media-auth-failed", 10, 300)  # wrong tokens per (caller, client address) in 5 min
# Wrong tokens per caller (one MediaMTX) in five minutes, whatever client address it reports. An
# address stops counting once blocked (10), so this trips only when three or more addresses fail
# together: a spray of invented or rotated addresses, or enough misconfigured encoders to deserve a look.
FAILED_PUBLISH_PER_CALLER = Limit("media-auth-failed-caller", 25, 300)
KNOWN_GOOD_S = 7 * 86400  # how long a client address that published stays exempt from the caller cap
KNOWN_GOOD_PREFIX = "ld:media-auth:ok:"
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


def presented_secret(request: Request) -> str | None:
    """The shared secret as MediaMTX can send it: ``?secret=`` in authHTTPAddress, or the password
    (the user, when there is no password) of ``http://user:secret@host/...``, which Go's HTTP client
    turns into Basic auth."""
    value = request.query_params.get("secret")
    if value:
        return value
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password or user or None


def _address(raw: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((raw or "").strip())
    except ValueError:
        return None
    # A dual-stack listener reports IPv4 callers as ::ffff:a.b.c.d; they are the IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def caller_key(request: Request) -> str:
    """The hook's caller: the TCP peer (a trusted proxy's X-Forwarded-For, with uvicorn's proxy_headers)."""
    address = _address(request.client.host if request.client else None)
    return str(address) if address is not None else "unknown"


def client_key(ip: str | None) -> str:
    """The publisher's address as MediaMTX reports it: IPv6 by /64, which one client usually owns whole."""
    address = _address(ip)
    if address is None:
        return "-"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def caller_trusted(request: Request, settings: Settings) -> bool:
    """A configured MediaMTX address, or the right secret. The secret is compared in constant time
    (hmac.compare_digest, on bytes: on str it refuses non-ASCII), so timing does not spell it out."""
    secret = settings.media_auth_secret
    if secret is not None:
        presented = presented_secret(request)
        if presented is not None and hmac.compare_digest(presented.encode(), secret.encode()):
            return True
    address = _address(request.client.host if request.client else None)
    return address is not None and any(address in network for network in settings.media_auth_addresses)


_last_logged: dict[str, float] = {}


def _warn_now_and_then(kind: str, message: str, *args: object) -> None:
    # What these lines report (a MediaMTX that is not trusted, so every publisher is refused; a spray
    # of wrong tokens) the operator must see, but a flood of strangers must not fill the log: at most
    # one line of each kind a minute per process.
    now = time.monotonic()
    if now - _last_logged.get(kind, -60.0) >= 60:
        _last_logged[kind] = now
        log.warning(message + " (at most one such line a minute)", *args)


def _allowed() -> Response:
    return Response(status_code=204)


def _refused(status: int, code: str, message: str) -> ApiError:
    # 401 asks RTSP clients for credentials (they send none until asked); the other answers are final.
    headers = {"WWW-Authenticate": 'Basic realm="livedrop"'} if status == 401 else None
    return ApiError(status, code, message, headers=headers)


async def _find(request: Request, slug: str | None) -> Show | None:
    if slug is None:
        return None
    async with livedrop(request).services.sessions() as session:
        return await show_by_slug(session, slug)


async def _host_id_of(request: Request, token: str) -> int | None:
    async with livedrop(request).services.sessions() as session:
        host = await host_for_token(session, token)
    return host.id if host is not None else None


async def media_auth(request: Request) -> Response:
    if not caller_trusted(request, livedrop(request).settings):
        _warn_now_and_then("refused", "POST /api/media/auth from %s refused: not in LIVEDROP_MEDIA_AUTH_ADDRESSES "
                           "and without the right LIVEDROP_MEDIA_AUTH_SECRET", caller_key(request))
        raise _refused(403, "hook_forbidden", "this address may not call the media authorization hook: list it in "
                       "LIVEDROP_MEDIA_AUTH_ADDRESSES or send LIVEDROP_MEDIA_AUTH_SECRET")
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
    root = livedrop(request)
    limiter, redis = root.rate_limiter, root.services.redis
    # Keyed by the caller first (see the module's docstring): a trusted caller's reported ip is
    # believed, but only within that caller's own budget.
    caller = caller_key(request)
    subject = f"{caller}|{client_key(body.ip)}"
    wait = await limiter.blocked_ms(FAILED_PUBLISH_LIMIT, subject)
    if wait is not None:
        raise _rate_limited(wait, "too many failed publish attempts from this address")
    if not await redis.exists(KNOWN_GOOD_PREFIX + subject):
        wait = await limiter.blocked_ms(FAILED_PUBLISH_PER_CALLER, caller)
        if wait is not None:
            _warn_now_and_then("capped", "media auth: %d failed publish attempts through %s within %d s; client "
                               "addresses that have not published lately wait (this one: %s)",
                               FAILED_PUBLISH_PER_CALLER.allowed, caller, int(FAILED_PUBLISH_PER_CALLER.window_s),
                               client_key(body.ip))
            raise _rate_limited(wait, "too many failed publish attempts through this media server")
    host_id = await _host_id_of(request, token)
    show = await _find(request, slug) if host_id is not None else None
    if host_id is not None and show is not None and show.host_id == host_id:
        await redis.set(KNOWN_GOOD_PREFIX + subject, "1", ex=KNOWN_GOOD_S)
        return _allowed()
    await limiter.retry_after_ms(FAILED_PUBLISH_LIMIT, subject)  # counts the failure, for both limits
    await limiter.retry_after_ms(FAILED_PUBLISH_PER_CALLER, caller)
    if host_id is None:
        raise _refused(401, "unauthorized", "the token is not a livedrop host API token")
    # Another host's show answers exactly like a missing one, so slugs do not leak.
    raise _refused(404, "not_found", "no such show of yours at this path")


def _rate_limited(wait_ms: int, why: str) -> RateLimited:
    return RateLimited(f"{why}; wait and retry", retry_after_ms=wait_ms)


routes = [
    api(media_auth, Operation("POST", "/api/media/auth", "MediaMTX's HTTP authorization (authMethod: http, authHTTPAddress). publish "
              "to path <slug> needs an API token of the show's host (as token, password, or ?token= / ?jwt= / ?pass= in "
              "query); read needs a live show; playback a live or ended show; api, metrics and pprof are refused. Any 2xx "
              "lets the client in. Only callers in LIVEDROP_MEDIA_AUTH_ADDRESSES (loopback by default), or with "
              "LIVEDROP_MEDIA_AUTH_SECRET as ?secret= or the Basic-auth password, are answered; others get 403 "
              "hook_forbidden. Failed publish attempts are limited per caller and client address (ip), and per "
              "caller.", body=MediaAuthIn,
              answers={204: "Allowed."},
              errors=("hook_forbidden", "malformed_json", "invalid_request", "unauthorized", "not_found",
                      "invalid_state", "action_refused", "rate_limited"))),
]
