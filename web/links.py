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


UNSUBSCRIBE_PATH = "/reminders/unsubscribe"


def unsubscribe_url(base_url: str, token: str) -> str:
    """A reminder email's unsubscribe link (absolute: it is read in a mail client)."""
    return f"{base_url}{UNSUBSCRIBE_PATH}?token={token}"


def show_url(base_url: str, slug: str) -> str:
    """A show's viewer page (absolute, for emails)."""
    return f"{base_url}/s/{slug}"
