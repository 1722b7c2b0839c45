"""The email channel of the outbox: one message per event whose payload names a recipient
(``email``) and whose kind has templates (``live/email_templates/<kind>.subject|.txt|.html``),
plain text plus simple HTML, sent through SMTP (``LIVEDROP_SMTP_URL``) or, with none configured,
written as an ``.eml`` file in the data folder (the path logged), so a demo shows what would be sent.

Language: the payload's ``locale`` ("de", "pl", "fi"; the reader's page language when the event
was made by a request) or English; the templates' strings are gettext messages (live.i18n).

Links: payload URLs that start with ``/`` get the public address in front; an order's receipt link
is built from its ``order_id`` by ``receipt_path`` (the web layer owns the site's paths).
Payload fields per kind: docs/email.md.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape
from markupsafe import Markup

from inventory.outbox import OutboxEvent
from live.i18n import DEFAULT_LOCALE, supported
from live.i18n import install as install_i18n
from live.webhook_sender import SendResult

log = logging.getLogger("livedrop.email")
TEMPLATES_DIR = Path(__file__).parent / "email_templates"
SMTP_TIMEOUT_S = 20
_ADDRESS = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]{1,255}$")


def _strong_html(value: Any) -> Markup:
    return Markup("<strong>{}</strong>").format(value)


def _code_html(value: Any) -> Markup:
    return Markup("<code>{}</code>").format(value)


def _plain(value: Any) -> Any:
    return value


class EmailChannel:
    def __init__(self, *, smtp_url: str | None, mail_dir: Path, mail_from: str, base_url: str,
                 receipt_path: Callable[[str], str]) -> None:
        self.smtp_url = smtp_url
        self.mail_dir = mail_dir
        self.mail_from = mail_from
        self.base_url = base_url.rstrip("/")
        self.receipt_path = receipt_path
        # Two environments: the HTML one escapes every payload value (names and titles are typed by people).
        loader = FileSystemLoader(TEMPLATES_DIR)
        self.text_env = Environment(loader=loader, autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)
        self.html_env = Environment(loader=loader, autoescape=select_autoescape(["html"]), undefined=StrictUndefined)
        for env in (self.text_env, self.html_env):
            install_i18n(env)  # _(), money and when in the context's locale
        # A value set in bold inside a translated sentence (the sentence is one msgid for both parts).
        self.html_env.filters["strong"] = _strong_html
        self.text_env.filters["strong"] = _plain
        self.html_env.filters["code"] = _code_html  # an id (a draw entry's) in a sentence
        self.text_env.filters["code"] = _plain
        self.kinds = {p.stem for p in TEMPLATES_DIR.glob("*.txt")}

    def wants(self, kind: str, payload: dict[str, Any]) -> bool:
        email = payload.get("email")
        return kind in self.kinds and isinstance(email, str) and bool(_ADDRESS.match(email))

    def link(self, url: str) -> str:
        return self.base_url + url if url.startswith("/") else url

    def render(self, event: OutboxEvent) -> EmailMessage:
        data = dict(event.payload)
        for key in ("url", "unsubscribe_url", "tracking_url", "audit_url"):
            if isinstance(data.get(key), str):
                data[key] = self.link(data[key])
        context: dict[str, Any] = {"kind": event.kind, "event_id": event.id, **data,
                                   "locale": supported(str(data.get("locale") or "")) or DEFAULT_LOCALE}
        if "order_id" in data:
            context["receipt_url"] = self.link(self.receipt_path(str(data["order_id"])))
        if "show_slug" in data:
            context["show_url"] = self.link(f"/s/{data['show_slug']}")
        try:
            subject = self.text_env.get_template(f"{event.kind}.subject").render(context).strip()
            text = self.text_env.get_template(f"{event.kind}.txt").render(context)
            html = self.html_env.get_template(f"{event.kind}.html").render(context)
        except TemplateNotFound as exc:
            raise ValueError(f"no email template {exc.name}") from None
        message = EmailMessage()
        message["Subject"] = subject.replace("\n", " ")
        message["From"] = self.mail_from
        message["To"] = str(data["email"])
        message["Date"] = formatdate(event.created_at / 1000, usegmt=True)
        # The same id on a resend, so a mail client can tell it is the same message.
        message["Message-ID"] = make_msgid(idstring=event.id, domain=self.mail_from.rpartition("@")[2] or "livedrop")
        message["X-Livedrop-Event"] = f"{event.kind} {event.id}"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    async def send(self, event: OutboxEvent) -> SendResult:
        try:
            message = self.render(event)
        except Exception as exc:  # a payload the template cannot use: retrying will not help
            return SendResult(None, f"cannot render: {type(exc).__name__}: {exc}"[:500], retry=False)
        if self.smtp_url is None:
            path = await asyncio.to_thread(self._write_eml, event.id, message)
            log.info("email %s to %s written to %s (no LIVEDROP_SMTP_URL)", event.kind, message["To"], path)
            return SendResult(250, None, retry=False)
        try:
            await aiosmtplib.send(message, **smtp_options(self.smtp_url))
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx: the server refuses the message for good (a bad address); 4xx: try again later.
            return SendResult(exc.code, f"SMTP {exc.code} {exc.message}"[:500], retry=exc.code < 500)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return SendResult(None, f"SMTP: {type(exc).__name__}: {exc}"[:500], retry=True)
        return SendResult(250, None, retry=False)

    def _write_eml(self, event_id: str, message: EmailMessage) -> Path:
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        path = self.mail_dir / f"{event_id}.eml"
        path.write_bytes(bytes(message))
        return path


def smtp_options(url: str) -> dict[str, Any]:
    """aiosmtplib.send's keywords from smtp[s]://user:password@host:port?starttls=1."""
    parts = urlsplit(url)
    implicit_tls = parts.scheme == "smtps"
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
    options: dict[str, Any] = {
        "hostname": parts.hostname, "port": parts.port or (465 if implicit_tls else 25),
        "use_tls": implicit_tls, "start_tls": True if starttls else False, "timeout": SMTP_TIMEOUT_S,
    }
    if parts.username:
        options["username"] = unquote(parts.username)
        options["password"] = unquote(parts.password or "")
    return options
