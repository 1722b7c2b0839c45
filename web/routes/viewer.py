"""The viewer page ``/s/{slug}`` and its calendar reminder ``/s/{slug}/reminder.ics``.

The page is server-rendered with the show's snapshot in it (so the product card is there before
the socket connects); ``static/viewer.js`` takes over from that snapshot and resumes the live
stream with ``?after=<its seq>``. The first visit gets a buyer cookie, so buying needs no sign-up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inventory.errors import Refusal
from live.i18n import tr, when
from web.buyer_identity import issue_buyer, set_buyer_cookie
from web.livedrop import livedrop
from web.page_locale import page_locale

log = logging.getLogger("livedrop.viewer")

REMINDER_DURATION_S = 3600  # a show has no planned end; an hour is what a calendar entry needs
REMINDER_ALARM_MIN = 10


# ISO 4217 currencies without two minor digits (the API's *_cents are minor units of the currency).
_MINOR_DIGITS = {**dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                                  "VND", "VUV", "XAF", "XOF", "XPF"), 0),
                 **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3)}


def price_text(cents: int, currency: str) -> str:
    """A price for link previews, which run no script: "129.00 USD", "1500 JPY"."""
    digits = _MINOR_DIGITS.get(currency.upper(), 2)
    return f"{cents / 10**digits:.{digits}f} {currency}"


def _base_url(request: Request) -> str:
    """Absolute URLs for link previews: the configured public URL, else the one the request used."""
    settings = livedrop(request).settings
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/"
    return str(request.base_url)


async def _snapshot(request: Request) -> dict[str, Any] | None:
    snapshot = await livedrop(request).shows.public_show(request.path_params["slug"])
    if snapshot is not None:
        snapshot.pop("type", None)
        snapshot.pop("ts", None)
    return snapshot


def _share_tags(request: Request, snapshot: dict[str, Any]) -> dict[str, str]:
    show = snapshot["show"]
    pinned = snapshot.get("pinned")
    base = _base_url(request)
    # Link previews are fetched by bots that mostly send no Accept-Language: those get English.
    locale = page_locale(request)
    tags = {
        "title": show["title"],
        "url": urljoin(base, f"s/{show['slug']}"),
        "description": tr(locale, "Watch live and shop the drop."),
        "image": "",
    }
    if show["status"] == "ended":
        tags["description"] = tr(locale, "This live show has ended.")
    elif show["status"] == "scheduled" and show.get("scheduled_at"):
        tags["description"] = tr(locale, "Live on %(when)s.", when=when(show["scheduled_at"], locale))
    if pinned is not None:
        price = price_text(pinned["price_cents"], pinned["currency"])
        tags["description"] = tr(locale, "Now showing: %(title)s (%(price)s).", title=pinned["title"], price=price) + " " + tags["description"]
        tags["image"] = urljoin(base, pinned["image_url"]) if pinned.get("image_url") else ""
    return tags


async def viewer_page(request: Request) -> Response:
    root = livedrop(request)
    templates = root.templates
    snapshot = await _snapshot(request)
    if snapshot is None:
        return templates.TemplateResponse(request, "viewer_missing.html", {}, status_code=404,
                                           headers={"Cache-Control": "no-store"})
    buyer_id = root.buyer_tokens.from_request(request)
    new_token: str | None = None
    if buyer_id is None:
        # First visit: a buyer now, so the buy button needs nothing else. When that fails (the
        # per-IP limit, a database hiccup), the page still works: the script makes the buyer on
        # the first buy press or chat line instead.
        try:
            buyer, new_token = await issue_buyer(request)
            buyer_id = buyer.id
        except Refusal as exc:  # the per-IP limit of new buyers
            log.info("viewer page without a new buyer: %s", exc.code)
        except Exception as exc:
            if root.services.outages.report(exc, refused=False) is None:  # an outage is logged once
                log.exception("viewer page: could not create a buyer")
    if snapshot["show"]["status"] == "ended":
        # After the show: its shoppable replay, when it was recorded (else the ended page as before).
        replay = await root.replays.of(snapshot["show"]["slug"])
        if replay is not None:
            response = templates.TemplateResponse(
                request, "replay.html",
                {"page": {"replay": replay, "buyer_id": buyer_id}, "show": replay["show"], "share": _share_tags(request, snapshot)},
                headers={"Cache-Control": "no-store"},
            )
            if new_token is not None:
                set_buyer_cookie(response, request, new_token)
            return response
    share = _share_tags(request, snapshot)
    page = {
        "snapshot": snapshot,
        "buyer_id": buyer_id,
        "ws_path": f"/ws/shows/{snapshot['show']['slug']}",
        "reminder_url": f"/s/{snapshot['show']['slug']}/reminder.ics",
        # The checkout sheet asks for a card number only with the test provider; with Stripe it
        # mounts Stripe.js (static/viewer/stripe_checkout.js).
        "payments": {"provider": "stripe", "publishable_key": root.stripe.publishable_key, "stripe_js_url": root.stripe.js_url}
        if root.stripe is not None else {"provider": "test"},
        # The waiting page of a scheduled show says who hosts it (docs/phones.md).
        "host_name": await root.shows.host_name(snapshot["show"]["slug"]) if snapshot["show"]["status"] == "scheduled" else None,
        "share_url": share["url"],  # what the share button shares (LIVEDROP_PUBLIC_URL when set)
    }
    response = templates.TemplateResponse(
        request,
        "viewer.html",
        {"page": page, "show": snapshot["show"], "pinned": snapshot.get("pinned"), "share": share},
        headers={"Cache-Control": "no-store"},
    )
    if new_token is not None:
        set_buyer_cookie(response, request, new_token)
    return response


# -- the calendar reminder (RFC 5545) -----------------------------------------------------------------


def _ics_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _ics_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545, 3.1)."""
    out: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode())
            current = b""
        current += encoded
    out.append(current.decode())
    return "\r\n ".join(out)


async def reminder_ics(request: Request) -> Response:
    snapshot = await _snapshot(request)
    show = snapshot["show"] if snapshot is not None else None
    if show is None or show["status"] != "scheduled" or not show.get("scheduled_at"):
        # Only a show with a start time to remember has a reminder; a live or ended one does not.
        return Response("No upcoming start time for this show.\n", status_code=404, media_type="text/plain")
    page_url = urljoin(_base_url(request), f"s/{show['slug']}")
    host = request.url.hostname or "livedrop"
    starts = int(show["scheduled_at"])
    locale = page_locale(request)  # the calendar entry in the language of the page it was added from
    summary = tr(locale, "%(title)s (live)", title=show["title"])
    description = tr(locale, "Watch and shop live: %(url)s", url=page_url)
    alarm = tr(locale, "%(title)s goes live soon", title=show["title"])
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//livedrop//viewer reminder//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:show-{show['slug']}@{host}",
        f"DTSTAMP:{_ics_time(int(datetime.now(UTC).timestamp() * 1000))}",
        f"DTSTART:{_ics_time(starts)}",
        f"DTEND:{_ics_time(starts + REMINDER_DURATION_S * 1000)}",
        f"SUMMARY:{_ics_text(summary)}",
        f"DESCRIPTION:{_ics_text(description)}",
        f"URL:{page_url}",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        f"DESCRIPTION:{_ics_text(alarm)}",
        f"TRIGGER:-PT{REMINDER_ALARM_MIN}M",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    body = "\r\n".join(_fold(line) for line in lines) + "\r\n"
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{show["slug"]}.ics"', "Cache-Control": "no-store"},
    )


routes = [
    Route("/s/{slug}", viewer_page, methods=["GET"]),
    Route("/s/{slug}/reminder.ics", reminder_ics, methods=["GET"]),
]
