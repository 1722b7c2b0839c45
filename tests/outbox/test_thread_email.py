"""A thread message to a buyer with no page open (docs/threads.md) is one email at a real SMTP
server (aiosmtpd), whose link opens the thread without the buyer's cookie. The app runs without its
job runner (tests/outbox/conftest.py): the test drives the outbox worker itself."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.outbox.test_email import Inbox, smtp  # noqa: F401 - the aiosmtpd fixture
from tests.web.buying import auth, live_show_with_product, new_buyer


async def test_a_message_to_a_buyer_with_no_page_open_is_one_email_with_a_working_link(
        http: httpx.AsyncClient, host_token: str, smtp: tuple[Inbox, str]) -> None:  # noqa: F811
    from live.email_channel import EmailChannel
    from live.outbox_worker import OutboxWorker
    from live.webhook_sender import WebhookSender
    from live.webhook_urls import UrlPolicy
    from web.links import receipt_url

    inbox, smtp_url = smtp
    slug, _ = await live_show_with_product(http, host_token, {f"EM-{uuid.uuid4().hex[:6]}": 2})
    kim = await new_buyer(http, "Kim")
    asked = await http.post("/api/threads", json={"show_slug": slug, "text": "Any in blue?", "email": "kim@example.com"},
                              headers=auth(kim))
    thread_id = asked.json()["thread"]["id"]
    for answer in ("Yes, tomorrow.", "In size 42 too."):  # two answers while away: one email
        assert (await http.post(f"/api/inbox/{thread_id}/messages", json={"text": answer}, headers=auth(host_token))).status_code == 201
    root = http._transport.app.state.livedrop  # type: ignore[attr-defined]
    mail = EmailChannel(smtp_url=smtp_url, mail_dir=root.settings.data_dir / "mail", mail_from="shop@example.test",
                        base_url="http://testserver", receipt_path=receipt_url)
    worker = OutboxWorker(root.services.sessions, WebhookSender(UrlPolicy(False, True)), mail)
    await worker.tick()
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "kim@example.com"
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Yes, tomorrow." in body
    link = re.search(r"https?://[^/\s]+(/threads/\S+)", body)
    assert link is not None
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as stranger:  # no cookie
        page = await stranger.get(link.group(1))
        assert page.status_code == 200 and "Yes, tomorrow." in page.text and "In size 42 too." in page.text
        tampered = await stranger.get(link.group(1)[:-3] + "abc")
        assert tampered.status_code == 404


async def test_the_thread_email_speaks_the_language_the_buyer_bought_in(
        http: httpx.AsyncClient, host_token: str, smtp: tuple[Inbox, str]) -> None:  # noqa: F811
    from live.email_channel import EmailChannel
    from live.outbox_worker import OutboxWorker
    from live.webhook_sender import WebhookSender
    from live.webhook_urls import UrlPolicy
    from web.links import receipt_url
    from tests.web.buying import checkout_body, hold

    inbox, smtp_url = smtp
    sku = f"EM-{uuid.uuid4().hex[:6]}"
    slug, _ = await live_show_with_product(http, host_token, {sku: 2})
    kim = await new_buyer(http, "Kim")
    held = await hold(http, slug, kim, sku)
    paid = await http.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body("kim@example.com"),
                           headers={**auth(kim), "Accept-Language": "pl-PL,pl;q=0.9"})
    assert paid.status_code == 201, paid.text
    asked = await http.post("/api/threads", json={"order_id": paid.json()["order_id"], "text": "Kiedy wysyłka?"}, headers=auth(kim))
    thread_id = asked.json()["thread"]["id"]
    assert (await http.post(f"/api/inbox/{thread_id}/messages", json={"text": "Jutro."}, headers=auth(host_token))).status_code == 201
    root = http._transport.app.state.livedrop  # type: ignore[attr-defined]
    mail = EmailChannel(smtp_url=smtp_url, mail_dir=root.settings.data_dir / "mail", mail_from="shop@example.test",
                        base_url="http://testserver", receipt_path=receipt_url)
    await OutboxWorker(root.services.sessions, WebhookSender(UrlPolicy(False, True)), mail).tick()
    threads = [m for m in inbox.messages if "Jutro." in m.get_body(("plain",)).get_content()]  # type: ignore[union-attr]
    assert len(threads) == 1, [m["Subject"] for m in inbox.messages]
    assert str(threads[0]["Subject"]).startswith("Odpowiedź od: "), threads[0]["Subject"]
