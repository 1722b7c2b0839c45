"""The four languages of livedrop's pages and emails: English, German, Polish and Finnish
(docs/translations.md).

Server strings are gettext messages: ``tr(locale, "Buy")`` in Python, ``{{ _("Buy") }}`` and
``{% trans %}`` in Jinja templates (the i18n extension; ``install`` wires it), one catalog per
language in ``live/locales/<lang>/LC_MESSAGES/livedrop.po``. The ``.po`` files are the only source:
each is compiled in memory (Babel's ``read_po`` then ``write_mo``) the first time a process needs
it, and ``warm_up`` does all four at start, so neither a user nor an installer runs a build step.
The browser's strings are JSON catalogs under ``static/i18n/`` (static/common/i18n.js).

English msgids are the source text; ``en/livedrop.po`` lists them with empty translations so the
catalog test (tests/web/test_i18n_catalogs.py) can tell every catalog has every string.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, get_currency_precision
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

LOCALES: tuple[str, ...] = ("en", "de", "pl", "fi")
DEFAULT_LOCALE = "en"
# Each language named in itself, for the switch in the pages.
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "de": "Deutsch", "pl": "Polski", "fi": "Suomi"}
LOCALE_DIR = Path(__file__).parent / "locales"
DOMAIN = "livedrop"
COOKIE = "livedrop_lang"
# A header longer than this is not a browser's: read only its start (browsers send ~5 entries, <100 bytes).
_MAX_ACCEPT = 512
_MAX_ENTRIES = 16
_ENTRY = re.compile(r"^\s*([A-Za-z]{1,8})(?:[-_][A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$")


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    """The compiled catalog of one language (compiled once per process, from its .po file)."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    with po_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(fp=mo, domain=DOMAIN)


def warm_up() -> None:
    """Compile every catalog now (at process start), so a broken .po stops the start, not a page."""
    for locale in LOCALES:
        translations(locale)


def supported(value: str | None) -> str | None:
    """``value`` when it is one of the four languages (its primary subtag: "de-AT" is "de"), else None."""
    if not value:
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in LOCALES else None


def from_accept_language(header: str | None) -> str | None:
    """The best of the four languages by an ``Accept-Language`` header (RFC 9110 q-values), or None."""
    if not header:
        return None
    best: tuple[float, int, str] | None = None
    for index, entry in enumerate(header[:_MAX_ACCEPT].split(",")[:_MAX_ENTRIES]):
        match = _ENTRY.match(entry)
        if match is None:
            continue
        try:
            q = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        locale = supported(match.group(1))
        if locale is None or q <= 0:
            continue
        # Highest q wins; on a tie, the one listed first (-index).
        if best is None or (q, -index) > (best[0], best[1]):
            best = (q, -index, locale)
    return best[2] if best else None


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the one picked with the switch (cookie), else Accept-Language, else English."""
    return supported(cookie) or from_accept_language(accept_language) or DEFAULT_LOCALE


def tr(locale: str, message: str, **params: Any) -> str:
    """``message`` in ``locale``, with ``%(name)s`` placeholders filled from ``params``."""
    text = translations(locale).gettext(message)
    return text % params if params else text


def ntr(locale: str, singular: str, plural: str, n: int, **params: Any) -> str:
    """The plural form for ``n`` (Polish has three: 1 produkt, 2 produkty, 5 produktów); ``%(num)s`` is n."""
    text = translations(locale).ngettext(singular, plural, n)
    return text % {"num": n, **params}


def money(minor_units: int, currency: str, locale: str) -> str:
    """Minor units of the product's currency as ``locale`` writes them: "129,00 $" in German, "$129.00" in English."""
    code = (currency or "USD").upper()
    try:
        digits = get_currency_precision(code)
    except Exception:  # an unknown code: Babel still formats it with two digits
        digits = 2
    return format_currency(minor_units / 10**digits, code, locale=locale)


def when(ms: int, locale: str) -> str:
    """A time as ``locale`` writes it, in UTC (pages rewrite it in the reader's zone where a script runs)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return format_datetime(moment, "medium", tzinfo=UTC, locale=locale) + " UTC"


# Jinja's newstyle gettext wraps these: it fills %(name)s itself, escaping the values where autoescape is on.
@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(context.get("locale") or DEFAULT_LOCALE).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(context.get("locale") or DEFAULT_LOCALE).ngettext(singular, plural, n)


@pass_context
def _money_filter(context: Context, minor_units: int, currency: str) -> str:
    return money(minor_units, currency, context.get("locale") or DEFAULT_LOCALE)


@pass_context
def _when_filter(context: Context, ms: int) -> str:
    return when(ms, context.get("locale") or DEFAULT_LOCALE)


def install(env: Environment) -> None:
    """The i18n extension on ``env``: ``_``, ``gettext``, ``ngettext`` and ``{% trans %}`` answer in
    the context's ``locale``; ``money`` and ``when`` format in it."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = _money_filter
    env.filters["when"] = _when_filter
    env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
