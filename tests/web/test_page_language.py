"""A page's language (docs/translations.md): the switch's cookie, else Accept-Language (q-values,
region subtags), else English; the pages come out in it, and a reminder asked for on a Finnish page
is announced with its language for the email."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.clock import now_ms
from inventory.outbox import OutboxEvent
from live.i18n import choose, from_accept_language, money, ntr, tr

from .buying import auth, live_show_with_product, new_buyer


def test_the_language_is_chosen_by_cookie_then_accept_language_then_english() -> None:
    assert from_accept_language("de-AT,de;q=0.9,en;q=0.8") == "de"
    assert from_accept_language("en;q=0.5, pl;q=0.9") == "pl"
    assert from_accept_language("fr-FR,fr;q=0.9,fi;q=0.3") == "fi"  # the best of the four it accepts
    assert from_accept_language("fr-FR,es") is None
    assert from_accept_language("de;q=0, pl") == "pl"  # q=0: not acceptable
    assert from_accept_language("x" * 10_000) is None and from_accept_language(",;;==,") is None
    assert choose("fi", "de-DE") == "fi" and choose("xx", "de-DE") == "de" and choose(None, None) == "en"


def test_money_keeps_the_currency_and_writes_it_the_languages_way() -> None:
    assert money(12900, "USD", "en") == "$129.00"
    assert money(12900, "USD", "de") == "129,00\xa0$"
    assert money(12900, "EUR", "fi") == "129,00\xa0€"
    assert money(1500, "JPY", "pl").endswith("500\xa0JPY")  # no minor digits
    assert tr("de", "Buy") == "Kaufen" and tr("en", "Buy") == "Buy"
    minutes = ("Too many sign-in attempts. Try again in %(num)s minute.", "Too many sign-in attempts. Try again in %(num)s minutes.")
    assert ntr("fi", *minutes, 1).endswith("1 minuutin päästä.")


async def test_pages_come_out_in_the_chosen_language(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"L-1": 3})
    lang = re.compile(r'<html lang="(\w+)">')
    german = (await client.get(f"/s/{slug}", headers={"Accept-Language": "de-DE,de;q=0.9"})).text
    assert lang.findall(german) == ["de"] and ">Kaufen</button>" in german and "Check out" not in german
    assert '<link rel="preload" href="/static/i18n/de.json"' in german
    # The switch's cookie beats the header.
    finnish = (await client.get(f"/s/{slug}", headers={"Accept-Language": "de", "Cookie": "livedrop_lang=fi"})).text
    assert lang.findall(finnish) == ["fi"] and ">Osta</button>" in finnish
    english = (await client.get(f"/s/{slug}", headers={"Accept-Language": "fr-FR"})).text
    assert lang.findall(english) == ["en"] and ">Buy</button>" in english
    missing = await client.get("/orders/nope", headers={"Accept-Language": "pl"})
    assert missing.status_code == 404 and "Nie znaleziono zamówienia" in missing.text
    login = (await client.get("/host/login", headers={"Accept-Language": "fi"})).text
    assert "Kirjaudu" in login and 'value="fi" lang="fi" title="Suomi" selected' in login


async def test_a_reminder_remembers_the_language_it_was_asked_in(
    client: httpx.AsyncClient, host_token: str, app: Any, sessions: async_sessionmaker,
) -> None:
    made = await client.post("/api/shows", json={"title": "Perjantai", "slug": "perjantai", "scheduled_at": now_ms() + 3_600_000},
                             headers=auth(host_token))
    assert made.status_code == 201, made.text
    buyer = await new_buyer(client)
    asked = await client.post("/api/shows/perjantai/reminders", json={"email": "aino@example.com"},
                              headers={**auth(buyer), "Accept-Language": "fi-FI,fi;q=0.9"})
    assert asked.status_code == 201, asked.text
    assert (await client.post("/api/shows/perjantai/start", headers=auth(host_token))).status_code == 200
    assert await app.state.livedrop.reminders.send_due() == 1
    async with sessions() as session:
        [event] = (await session.execute(select(OutboxEvent).where(OutboxEvent.kind == "show.reminder"))).scalars().all()
    assert event.payload["locale"] == "fi" and event.payload["email"] == "aino@example.com"
