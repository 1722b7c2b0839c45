"""Every string of the pages, the emails and the browser code exists in all four catalogs
(docs/translations.md): each msgid found in the templates and in Python (``tr``, ``ntr``, ``N_``)
has a translation in de, pl and fi (every plural form Polish needs), and every key the JS modules
pass to ``t(...)`` is in all four JSON catalogs under static/i18n/, plural keys with every
``Intl.PluralRules`` category of the language. Text written past the catalogs fails too: template
text outside ``_()``/``{% trans %}``, and sentences in JS string literals outside ``t()``. A string
added without its translations fails here, naming the file and the string."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from live.i18n import LOCALES, po_path, tr

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {**DEFAULT_KEYWORDS, "tr": (2,), "ntr": (2, 3)}
JINJA = "jinja2.ext:babel_extract"
SOURCES = {
    "web": [("templates/**.html", JINJA), ("**.py", "python")],
    "live": [("email_templates/**.html", JINJA), ("email_templates/**.txt", JINJA),
             ("email_templates/**.subject", JINJA), ("**.py", "python")],
}
# The plural categories Intl.PluralRules gives for integers (CLDR), per language.
PLURAL_CATEGORIES = {"en": {"one", "other"}, "de": {"one", "other"}, "fi": {"one", "other"},
                     "pl": {"one", "few", "many", "other"}}
# t("key") / t('key') with a literal key; keys are dotted lower-case words.
JS_KEY = re.compile(r"""(?<![\w.$])t\(\s*(["'])([a-z0-9_]+(?:\.[a-z0-9_]+)+)\1""")


def server_messages() -> dict[str | tuple[str, ...], list[str]]:
    """msgid (or (singular, plural)) -> where it is used."""
    found: dict[str | tuple[str, ...], list[str]] = {}
    for folder, method_map in SOURCES.items():
        for filename, _lineno, message, _comments, _context in extract_from_dir(
                ROOT / folder, method_map, keywords=KEYWORDS, options_map={"**": {"silent": "false"}}):
            key = message if isinstance(message, str) else tuple(m for m in message if m)
            if key:
                found.setdefault(key, []).append(f"{folder}/{filename}")
    return found


def js_keys() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "static").rglob("*.js")):
        if "vendor" in path.parts:
            continue
        for match in JS_KEY.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(2), []).append(str(path.relative_to(ROOT)))
    return found


def js_catalog(locale: str) -> dict[str, object]:
    return json.loads((ROOT / "static" / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))


def test_the_extractors_see_the_strings() -> None:
    # The test must be able to fail: it finds the strings it checks (not an empty set).
    messages = server_messages()
    assert "Check out" in messages and "Your order %(number)s is confirmed" in messages
    assert len(js_keys()) > 20


@pytest.mark.parametrize("locale", LOCALES)
def test_every_server_string_is_in_the_catalog(locale: str) -> None:
    with po_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    missing, untranslated = [], []
    for key, where in sorted(server_messages().items(), key=lambda item: str(item[0])):
        msgid = key if isinstance(key, str) else key[0]
        message = catalog.get(msgid)
        if message is None:
            missing.append(f"{key!r} ({where[0]})")
            continue
        if locale == "en":
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings) or (isinstance(key, tuple) and len(strings) != catalog.num_plurals):
            untranslated.append(f"{key!r} ({where[0]})")
    assert not missing, f"{po_path(locale)} misses {len(missing)} strings: " + "; ".join(missing)
    assert not untranslated, f"{po_path(locale)} leaves {len(untranslated)} untranslated: " + "; ".join(untranslated)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_js_key_is_in_the_json_catalog(locale: str) -> None:
    catalog = js_catalog(locale)
    problems = []
    for key, where in sorted(js_keys().items()):
        value = catalog.get(key)
        if value is None:
            problems.append(f"{key} missing (used in {where[0]})")
        elif isinstance(value, dict):
            if set(value) != PLURAL_CATEGORIES[locale] or not all(isinstance(v, str) and v for v in value.values()):
                problems.append(f"{key}: plural forms {sorted(value)}, {locale} needs {sorted(PLURAL_CATEGORIES[locale])}")
        elif not isinstance(value, str) or not value:
            problems.append(f"{key} is empty")
    assert not problems, f"static/i18n/{locale}.json: " + "; ".join(problems)


def test_the_json_catalogs_have_the_same_keys() -> None:
    english = set(js_catalog("en"))
    for locale in LOCALES:
        keys = set(js_catalog(locale))
        assert keys == english, f"{locale}.json differs from en.json: {sorted(keys ^ english)}"


def test_polish_plurals_follow_the_number() -> None:
    assert tr("pl", "Wrong email or password.") != "Wrong email or password."
    from live.i18n import ntr
    singular, plural = "Too many sign-in attempts. Try again in %(num)s minute.", "Too many sign-in attempts. Try again in %(num)s minutes."
    assert [ntr("pl", singular, plural, n).split()[-1] for n in (1, 2, 5, 22)] == ["minutę.", "minuty.", "minut.", "minuty."]


# Text a template may show untranslated: names and examples that are the same in every language.
NOT_WORDS = {"livedrop", "SKU", "USD", "CSV", "JSON", "HLS", "WHEP", "WHIP", "OBS", "Aurora", "Runner", "Shopify", "WooCommerce",
             "products", "json", "times"}
_ATTRIBUTE = re.compile(r'''\b(?:aria-label|placeholder|title|alt)\s*=\s*"([^"]*)"''')
_WORD = re.compile(r"[A-Za-z]{2,}")


def _untranslated(text: str) -> bool:
    """Whether a piece of template text has a word a reader would need in their language: not a URL,
    a path, a class list (page-viewer page-replay) or a name from NOT_WORDS."""
    tokens = [t for t in text.split() if not ("://" in t or t.startswith(("/", "(/", "(https")) or "-" in t or "." in t)]
    return any(word not in NOT_WORDS for token in tokens for word in _WORD.findall(token))


def test_templates_show_no_text_outside_gettext() -> None:
    """A string added to a template without _() or {% trans %} is English on every page: it fails here."""
    found = []
    paths = sorted([*(ROOT / "web/templates").rglob("*.html"), *(ROOT / "live/email_templates").glob("*.*")])
    assert len(paths) > 20
    for path in paths:
        source = path.read_text(encoding="utf-8")
        source = re.sub(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", " ", source, flags=re.S)  # in the catalog
        source = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
        source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "\x00", source, flags=re.S)
        source = re.sub(r"<(script|style)\b.*?</\1>", " ", source, flags=re.S)
        for match in _ATTRIBUTE.finditer(source):
            if _untranslated(match.group(1).replace("\x00", " ")):
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
        for chunk in re.sub(r"<[^>]*>", "\x00", source, flags=re.S).replace("&times;", " ").split("\x00"):
            if _untranslated(chunk):
                found.append(f"{path.relative_to(ROOT)}: {chunk.strip()[:80]!r}")
    assert not found, "untranslated template text (wrap it in _() and add it to the catalogs): " + "; ".join(found)


# A sentence in a JS string literal outside t() is English on every page. Not sentences: selectors,
# class lists, headers, comments, error details for logs. Allowed: the one fallback for browsers
# without Intl.DisplayNames.
_JS_LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`')
_JS_NOT_TEXT = re.compile(r"^\s*(//|\*|/\*|import )|querySelector|addEventListener|console\.|new Error\(|ApiError\(|matchMedia|closest\(")
JS_ALLOWED = {"United States"}
_JS_ONE_WORD = re.compile(r"""\},\s*"([A-Z][a-z]+[.…!]*)"\s*\)""")


def test_js_modules_write_no_sentence_outside_t() -> None:
    found = []
    for path in sorted((ROOT / "static").rglob("*.js")):
        if "vendor" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _JS_NOT_TEXT.search(line):
                continue
            for match in _JS_LITERAL.finditer(re.sub(r"""\bt\(\s*(["'])[^"']*\1""", "t(", line)):
                text = re.sub(r"\$\{[^}]*\}", " ", match.group(1) if match.group(1) is not None else match.group(2))
                words = [w for w in text.split() if re.fullmatch(r"[A-Za-z']+[.,!?:…]?", w)]
                if text.strip() not in JS_ALLOWED and len(words) >= 2 and (words[0][0].isupper() or re.search(r"[.!?…]$", text.strip())):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {text.strip()[:70]!r}")
            # One word as an element's text: h("span", {...}, "Pinned"), el("button", {...}, "Send").
            found.extend(f"{path.relative_to(ROOT)}:{number}: {word!r}" for word in _JS_ONE_WORD.findall(line))
    assert not found, "English sentences outside t() (add a key to static/i18n/*.json): " + "; ".join(found)
