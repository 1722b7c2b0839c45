"""The site's own paths that API answers link to. Routes declare these paths (web.routes.orders
for receipts, web.routes.replay for recordings); the bodies of other layers get them from here,
so inventory and live stay free of URLs."""

from __future__ import annotations


def receipt_url(order_id: str) -> str:
    """The receipt page of an order (relative: the browser resolves it against the page)."""
    return f"/orders/{order_id}"


def recording_url(slug: str) -> str:
    """The recording file of a show's replay (served with HTTP Range)."""
    return f"/s/{slug}/recording.webm"
