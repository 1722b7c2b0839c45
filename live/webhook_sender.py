"""Sends one outbox event to one webhook endpoint, signed the Standard Webhooks way.

Body: ``{"type": kind, "timestamp": ISO 8601 of the event's creation, "data": payload}``, the same
bytes on every attempt (so a receiver deduplicating by ``webhook-id`` sees one event). Headers:
``webhook-id`` (the event id), ``webhook-timestamp`` (seconds, when this attempt is sent),
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.

The connection goes to the address ``live.webhook_urls.check_url`` approved just before (the Host
header and TLS name stay the URL's), so a name re-pointed at a private address between the check
and the connect is not followed. Redirects are not followed either: a 3xx is a refusal.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from standardwebhooks import Webhook

from live.errors import LiveError
from live.webhook_urls import CheckedUrl, UrlPolicy, check_url

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_ERROR_CHARS = 500


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes: the Standard Webhooks secret format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def event_body(kind: str, created_at_ms: int, payload: dict[str, Any]) -> bytes:
    stamp = datetime.fromtimestamp(created_at_ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
    return orjson.dumps({"type": kind, "timestamp": stamp.replace("+00:00", "Z"), "data": payload})


def signed_headers(secret: str, event_id: str, body: bytes, sent_at_s: float | None = None) -> dict[str, str]:
    sent = datetime.fromtimestamp(int(sent_at_s if sent_at_s is not None else time.time()), tz=timezone.utc)
    return {
        "content-type": "application/json",
        "user-agent": "livedrop-webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, sent, body.decode()),
    }


@dataclass(frozen=True)
class SendResult:
    status: int | None  # the HTTP status; None: no answer (network error, timeout, refused address)
    error: str | None
    retry: bool  # whether the schedule goes on (network errors, 408, 429, 5xx)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender:
    def __init__(self, policy: UrlPolicy, client: httpx.AsyncClient | None = None) -> None:
        self.policy = policy
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, secret: str, event_id: str, body: bytes) -> SendResult:
        try:
            checked = await check_url(url, self.policy)
        except LiveError as refused:  # the name now points somewhere we must not go: no retry
            return SendResult(None, refused.message, retry=False)
        headers = signed_headers(secret, event_id, body)
        request_url, extensions = _pinned(checked)
        headers["host"] = checked.host if checked.port in (80, 443) else f"{checked.host}:{checked.port}"
        try:
            answer = await self._client.post(request_url, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS] or type(exc).__name__, retry=True)
        status = answer.status_code
        if 200 <= status < 300:
            return SendResult(status, None, retry=False)
        retry = status in (408, 429) or status >= 500
        reason = answer.reason_phrase or ""
        if 300 <= status < 400:
            reason = f"redirect to {answer.headers.get('location', '?')} not followed; register the final URL"
        return SendResult(status, f"HTTP {status} {reason}".strip()[:MAX_ERROR_CHARS], retry=retry)


def _pinned(checked: CheckedUrl) -> tuple[str, dict[str, Any]]:
    """The URL with its host replaced by the approved address; TLS still checks the URL's name."""
    parts = urlsplit(checked.url)
    address = f"[{checked.address}]" if ":" in checked.address else checked.address
    netloc = f"{address}:{checked.port}"
    extensions: dict[str, Any] = {"sni_hostname": checked.host} if checked.scheme == "https" else {}
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), extensions
