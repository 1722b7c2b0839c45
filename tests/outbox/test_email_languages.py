"""Emails in the buyer's language (docs/translations.md): an order bought on a page in Polish is
confirmed in Polish at a real SMTP server (its money written the Polish way, the currency the
product's); a link to one's orders asked for on a German page comes in German; every kind renders
in de, pl and fi with subjects and bodies that differ from the English ones; an unknown locale
falls back to English."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.models import Order
from inventory.outbox import OutboxEvent, new_event_id
from live.i18n import tr
from tests.outbox.conftest import Clock
from tests.outbox.test_email import Inbox, body_text, channel, smtp, worker
from tests.web.buying import auth, checkout_body, hold, live_show_with_product, new_buyer

__all__ = ["smtp"]  # the SMTP server fixture, shared with test_email

PAYLOADS: dict[str, dict[str, Any]] = {
    "order.paid": {"order_id": "o1", "number": "N1", "total_cents": 12900, "currency": "USD", "name": "Kim",
                   "lines": [{"title": "Runner", "label": "42", "quantity": 1, "price_cents": 12900}]},
    "order.refunded": {"order_id": "o1", "number": "N1", "refunded_cents": 500, "currency": "USD"},
    "order.cancelled": {"order_id": "o1", "number": "N1", "total_cents": 500, "currency": "USD"},
    "order.fulfilled": {"order_id": "o1", "number": "N1", "carrier": "UPS", "tracking_number": "1Z999"},
    "show.reminder": {"show_title": "Drop", "show_slug": "drop", "scheduled_at": 1_900_000_000_000,
                      "reason": "15min", "unsubscribe_url": "/reminders/u/abc"},
    "waitlist.offered": {"product_title": "Runner", "variant_label": "42", "deadline": 1_900_000_000_000, "url": "/s/drop"},
    "buyer.orders_link": {"url": "/orders?t=abc"},
    "thread.message": {"seller": "Drop", "preview": "it fits", "url": "/threads/th_1?t=abc"},
    "draw.won": {"product_title": "Runner", "variant_label": "42", "entry_id": "de_abc", "url": "/s/drop",
                 "audit_url": "/offers/1/verify", "deadline": 1_900_000_000_000},
    "draw.lost": {"product_title": "Runner", "variant_label": "42", "entry_id": "de_abc", "url": "/s/drop",
                  "audit_url": "/offers/1/verify"},
}


def render(tmp_path: Path, kind: str, locale: str | None) -> tuple[str, str, str]:
    payload = {"email": "a@example.com", **PAYLOADS[kind], **({"locale": locale} if locale else {})}
    message = channel(None, tmp_path).render(OutboxEvent(id=new_event_id(), kind=kind, host_id=None, payload=payload,
                                                        created_at=1_900_000_000_000))
    return str(message["Subject"]), body_text(message, "plain"), body_text(message, "html")


def test_every_kind_renders_in_each_language(tmp_path: Path) -> None:
    assert set(PAYLOADS) == channel(None, tmp_path).kinds
    for kind in PAYLOADS:
        english = render(tmp_path, kind, None)
        assert render(tmp_path, kind, "xx") == english, "an unknown locale is English"
        for locale in ("de", "pl", "fi"):
            subject, text, html = render(tmp_path, kind, locale)
            assert subject != english[0] and text != english[1], f"{kind} in {locale} is still English"
            assert f'<html lang="{locale}">' in html
            assert "Hi," not in text and "Your receipt" not in text, f"{kind} in {locale}: {text}"
    subject, text, _ = render(tmp_path, "order.paid", "pl")
    assert subject == "Twoje zamówienie N1 jest potwierdzone"
    assert "129,00\xa0USD" in text  # Polish money, the product's currency


async def test_an_order_bought_in_polish_is_confirmed_in_polish(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, smtp: tuple[Inbox, str],
        clock: Clock, tmp_path: Path) -> None:
    inbox, url = smtp
    sku = f"PL-{uuid.uuid4().hex[:8]}"
    slug, _ = await live_show_with_product(http, host_token, {sku: 3})
    buyer = await new_buyer(http)
    held = await hold(http, slug, buyer, sku)
    assert held.status_code == 201, held.text
    paid = await http.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body("ola@example.com"),
                           headers={**auth(buyer), "Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"})
    assert paid.status_code == 201, paid.text
    async with sessions() as session:
        assert (await session.execute(select(Order.locale).where(Order.id == paid.json()["order_id"]))).scalar_one() == "pl"
    # The link to one's orders, asked for on a page switched to German (the cookie beats the header).
    asked = await http.post("/api/buyers/orders-link", json={"email": "ola@example.com"},
                            headers={"Accept-Language": "pl", "Cookie": "livedrop_lang=de"})
    assert asked.status_code == 202, asked.text
    assert await worker(sessions, clock, channel(url, tmp_path)).tick() == 2

    confirmation = next(m for m in inbox.messages if "/orders/" in body_text(m, "plain"))
    assert confirmation["Subject"] == f"Twoje zamówienie {paid.json()['number']} jest potwierdzone"
    text = body_text(confirmation, "plain")
    assert "Dziękujemy: zamówienie" in text and "129,00\xa0USD" in text
    link = next(m for m in inbox.messages if m is not confirmation)
    assert link["Subject"] == "Deine Bestellungen" and "Hallo," in body_text(link, "plain")


async def test_draw_results_come_in_each_entrants_language(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, smtp: tuple[Inbox, str],
        clock: Clock, tmp_path: Path) -> None:
    """Two entrants of a one-unit draw, one on a Polish page, one on a page switched to German: the
    winner's and the loser's emails each speak the language the entry was made in."""
    inbox, url = smtp
    sku = f"DR-{uuid.uuid4().hex[:8]}"
    slug, product = await live_show_with_product(http, host_token, {sku: 1})
    now = int(time.time() * 1000)
    made = await http.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 9900, "mode": "draw", "entries_open_at": now,
        "entries_close_at": now + 3_600_000})
    assert made.status_code == 201, made.text
    entries = f"/api/shows/{slug}/offers/{made.json()['id']}/entries"
    languages = {"ola@example.com": ({"Accept-Language": "pl-PL,pl;q=0.9"}, "pl"),
                 "jonas@example.com": ({"Accept-Language": "en", "Cookie": "livedrop_lang=de"}, "de")}
    for address, (headers, _) in languages.items():
        entered = await http.post(entries, json={"sku": sku, "email": address}, headers={**auth(await new_buyer(http)), **headers})
        assert entered.status_code == 201, entered.text
    drawn = await http.post(f"/api/shows/{slug}/offers/{made.json()['id']}/draw", headers=auth(host_token))
    assert drawn.status_code == 200 and len(drawn.json()["winners"]) == 1, drawn.text
    assert await worker(sessions, clock, channel(url, tmp_path)).tick() == 2

    subjects = {"draw.won": "You won the draw for %(product)s (%(size)s)",
                "draw.lost": "The draw for %(product)s (%(size)s): not this time"}
    names = {"product": product["title"], "size": product["variants"][0]["label"]}
    kinds = set()
    for message in inbox.messages:
        _, locale = languages[str(message["To"])]
        kind = str(message["X-Livedrop-Event"]).split()[0]
        kinds.add(kind)
        assert str(message["Subject"]) == tr(locale, subjects[kind], **names) != tr("en", subjects[kind], **names), (kind, locale)
        assert f'<html lang="{locale}">' in body_text(message, "html"), (kind, locale)
    assert kinds == {"draw.won", "draw.lost"}
