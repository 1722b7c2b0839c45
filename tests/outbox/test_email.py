"""The outbox's email channel: an order paid through the API is confirmed by email at a real
SMTP server in-process (aiosmtpd), with a receipt link that opens the order's receipt; with no
SMTP configured the email is written as an .eml file; every template kind renders."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session, SMTP
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.deliveries import OutboxDelivery
from inventory.outbox import OutboxEvent, new_event_id
from live.email_channel import EmailChannel, smtp_options
from live.outbox_worker import OutboxWorker
from live.webhook_sender import WebhookSender
from live.webhook_urls import UrlPolicy
from tests.outbox.conftest import Clock
from tests.outbox.receiver import Receiver
from tests.outbox.test_webhooks import paid_order, register
from web.links import receipt_url

BASE = "https://live.example.test"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 OK"


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"shop", b"p@ss word")
    return AuthResult(success=ok)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, str]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's Controller cannot start on port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_authenticate,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    try:
        yield inbox, f"smtp://shop:p%40ss%20word@127.0.0.1:{port}"
    finally:
        controller.stop()


def channel(smtp_url: str | None, mail_dir: Path) -> EmailChannel:
    return EmailChannel(smtp_url=smtp_url, mail_dir=mail_dir, mail_from="shop@live.example.test", base_url=BASE,
                        receipt_path=receipt_url)


def worker(sessions: async_sessionmaker, clock: Clock, email_channel: EmailChannel) -> OutboxWorker:
    return OutboxWorker(sessions, WebhookSender(UrlPolicy(False, True)), email_channel, clock=clock)


def body_text(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


async def test_the_order_confirmation_arrives_with_the_receipt_link(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, smtp: tuple[Inbox, str],
        clock: Clock, tmp_path: Path, receiver: Receiver) -> None:
    inbox, url = smtp
    await register(http, host_token, receiver, ["order.paid"])  # the same event to a webhook too
    order = await paid_order(http, host_token, "kim@example.com")
    assert await worker(sessions, clock, channel(url, tmp_path)).tick() == 2
    [hook] = receiver.received
    assert hook.error is None and hook.verified["data"]["order_id"] == order["order_id"]

    [message] = inbox.messages
    assert inbox.envelopes == [("shop@live.example.test", ["kim@example.com"])]
    assert message["To"] == "kim@example.com" and order["number"] in message["Subject"]
    text, html = body_text(message, "plain"), body_text(message, "html")
    link = f"{BASE}/orders/{order['order_id']}"
    assert link in text and f'href="{link}"' in html
    # The link is the receipt: its path opens this order's receipt page.
    [found] = re.findall(r"https://\S+/orders/\S+", text)
    page = await http.get(found.removeprefix(BASE))
    assert page.status_code == 200 and order["number"] in page.text
    async with sessions() as session:
        [delivery] = (await session.execute(select(OutboxDelivery).where(OutboxDelivery.channel == "email"))).scalars()
        assert (delivery.status, delivery.last_status) == ("delivered", 250)
    assert list(tmp_path.iterdir()) == []  # SMTP configured: no .eml files


async def test_an_smtp_server_that_does_not_answer_is_retried_not_lost(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, smtp: tuple[Inbox, str],
        clock: Clock, tmp_path: Path) -> None:
    inbox, url = smtp
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    await paid_order(http, host_token)
    down = url.rsplit(":", 1)[0] + f":{dead_port}"
    await worker(sessions, clock, channel(down, tmp_path)).tick()
    async with sessions() as session:
        [delivery] = (await session.execute(select(OutboxDelivery))).scalars()
        assert (delivery.status, delivery.attempts, delivery.last_status) == ("pending", 1, None), delivery.last_error
        assert delivery.last_error and "p@ss" not in delivery.last_error  # the password never lands in the record
    clock.advance(10_000)  # the schedule's second attempt, now to the server that answers
    await worker(sessions, clock, channel(url, tmp_path)).tick()
    assert len(inbox.messages) == 1


async def test_without_smtp_the_email_is_written_as_an_eml_file(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, clock: Clock, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    order = await paid_order(http, host_token, "eml@example.com")
    caplog.set_level("INFO", logger="livedrop.email")
    await worker(sessions, clock, channel(None, tmp_path / "outbox-mail")).tick()
    [path] = list((tmp_path / "outbox-mail").iterdir())
    assert path.suffix == ".eml" and str(path) in caplog.text
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "eml@example.com"
    assert f"{BASE}/orders/{order['order_id']}" in body_text(message, "plain")  # type: ignore[arg-type]


def test_every_kind_with_templates_renders_text_and_escaped_html(tmp_path: Path) -> None:
    mail = channel(None, tmp_path)
    payloads: dict[str, dict[str, Any]] = {
        "order.paid": {"order_id": "o1", "number": "N1", "total_cents": 12900, "currency": "USD", "name": "<b>Kim</b>",
                       "lines": [{"title": "Runner", "label": "42", "quantity": 1, "price_cents": 12900}]},
        "order.refunded": {"order_id": "o1", "number": "N1", "refunded_cents": 500, "currency": "USD"},
        "order.cancelled": {"order_id": "o1", "number": "N1", "total_cents": 500, "currency": "USD"},
        "order.fulfilled": {"order_id": "o1", "number": "N1", "carrier": "UPS", "tracking_number": "1Z999"},
        "show.reminder": {"show_title": "Drop <night>", "show_slug": "drop", "scheduled_at": 1_900_000_000_000,
                          "reason": "15min", "unsubscribe_url": "/reminders/u/abc"},
        "waitlist.offered": {"product_title": "Runner", "variant_label": "42", "deadline": 1_900_000_000_000,
                             "url": "/s/drop?offer=1"},
        "buyer.orders_link": {"url": "/orders?t=abc"},
        "thread.message": {"seller": "Drop <night>", "preview": "<b>Kim</b>, it fits", "url": "/threads/th_1?t=abc"},
        "draw.won": {"product_title": "Runner <b>Kim</b>", "variant_label": "42", "entry_id": "de_abc", "url": "/s/drop",
                     "audit_url": "/offers/1/verify", "deadline": 1_900_000_000_000},
        "draw.lost": {"product_title": "Drop <night>", "variant_label": "42", "entry_id": "de_abc", "url": "/s/drop",
                      "audit_url": "/offers/1/verify"},
    }
    assert set(payloads) == mail.kinds
    for kind, payload in payloads.items():
        event = OutboxEvent(id=new_event_id(), kind=kind, host_id=None, payload={"email": "a@example.com", **payload},
                            created_at=1_900_000_000_000)
        assert mail.wants(kind, event.payload) and not mail.wants(kind, payload)  # no recipient, no email
        message = mail.render(event)
        text, html = body_text(message, "plain"), body_text(message, "html")
        assert message["Subject"] and text.strip() and "<html" in html
        assert "<b>Kim</b>" not in html and "Drop <night>" not in html  # escaped in HTML
    reminder = mail.render(OutboxEvent(id="evt_1", kind="show.reminder", host_id=None, created_at=1,
                                       payload={"email": "a@example.com", **payloads["show.reminder"]}))
    assert f"{BASE}/reminders/u/abc" in body_text(reminder, "plain") and f"{BASE}/s/drop" in body_text(reminder, "plain")
    assert not mail.wants("order.paid", {"email": "not an address"})


def test_smtp_urls_parse_into_login_and_tls_options() -> None:
    assert smtp_options("smtp://u%40x:p%3Aw@mail.example:587?starttls=1") == {
        "hostname": "mail.example", "port": 587, "use_tls": False, "start_tls": True, "timeout": 20,
        "username": "u@x", "password": "p:w"}
    assert smtp_options("smtps://mail.example")["use_tls"] is True and smtp_options("smtps://mail.example")["port"] == 465
    assert "username" not in smtp_options("smtp://127.0.0.1:2525")
