"""A show's external stream: where viewers play its video when livedrop's own WHEP is not enough.

A host may name ``stream_url``: an HLS playlist (a CDN, or MediaMTX's HLS server) or a WHEP endpoint
(MediaMTX's WebRTC server, another SFU). Without one, viewers play livedrop's own WHEP. Knows no HTTP.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from inventory.errors import InvalidRequest

MAX_STREAM_URL = 2000  # the column's length (live.models.Show.stream_url)

StreamKind = Literal["hls", "whep"]


def clean_stream_url(url: str | None) -> str | None:
    """The URL to store, or None to clear it; refuses anything a browser should not be sent to.

    Only absolute http(s) URLs with a host: a ``javascript:`` or ``data:`` URL in a viewer's <video>
    (or in hls.js's loader) is never what a host meant, and a relative one would point at livedrop."""
    if url is None:
        return None
    url = url.strip()
    if not url:
        return None
    if len(url) > MAX_STREAM_URL:
        raise InvalidRequest("stream_url", f"at most {MAX_STREAM_URL} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidRequest("stream_url", "no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number, or out of range
    except ValueError:
        raise InvalidRequest("stream_url", "not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("stream_url", "use an absolute http:// or https:// URL (an HLS playlist or a WHEP endpoint)")
    if parts.username is not None or parts.password is not None:
        # Every viewer's page would carry the secret; MediaMTX readers need no credentials here.
        raise InvalidRequest("stream_url", "credentials in the URL would be shown to every viewer")
    del port
    return url


def stream_kind(url: str) -> StreamKind:
    """HLS when the path names a playlist (``.m3u8``), else WHEP (MediaMTX's is ``/<path>/whep``)."""
    return "hls" if urlsplit(url).path.lower().endswith(".m3u8") else "whep"
