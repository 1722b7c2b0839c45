"""The language of a page: the switch's cookie, else ``Accept-Language``, else English (live.i18n).

``page_context`` is the templates' context processor: every page gets ``locale`` (for
``<html lang>``, the i18n extension and the ``money``/``when`` filters) and the order statuses in it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from live.i18n import COOKIE, choose, tr


def N_(message: str) -> str:
    """Marks a message for the catalogs (tests/web/test_i18n_catalogs.py extracts it); translated where shown."""
    return message


ORDER_STATUSES: dict[str, str] = {
    "pending": N_("pending"), "paid": N_("paid"), "fulfilled": N_("shipped"), "delivered": N_("delivered"),
    "refunded": N_("refunded"), "partially_refunded": N_("partly refunded"), "cancelled": N_("cancelled"),
}


SHOW_STATUSES: dict[str, str] = {"scheduled": N_("scheduled"), "live": N_("live"), "ended": N_("ended")}


def page_locale(request: Request) -> str:
    return choose(request.cookies.get(COOKIE), request.headers.get("accept-language"))


def page_context(request: Request) -> dict[str, Any]:
    locale = page_locale(request)
    return {"locale": locale, "status_names": {key: tr(locale, text) for key, text in ORDER_STATUSES.items()},
            "show_statuses": {key: tr(locale, text) for key, text in SHOW_STATUSES.items()}}
