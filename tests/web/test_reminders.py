"""Show reminders through the real app (docs/notify.md): once per subscriber and reason, even with
two workers racing on the same database; the unsubscribe link works without login."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.clock import now_ms
from inventory.outbox import OutboxEvent
from live.reminders import DAY_MS, Reminders
from web.database import make_engine, make_sessionmaker

from .buying import auth, new_buyer

HOUR_MS = 3600 * 1000


async def _reminders_sent(sessions: async_sessionmaker) -> list[dict[str, Any]]:
    async with sessions() as session:
        events = (await session.execute(select(OutboxEvent).where(OutboxEvent.kind == "show.reminder"))).scalars().all()
        return [e.payload for e in events]


async def _scheduled_show(client: httpx.AsyncClient, host_token: str, scheduled_at: int, slug: str = "friday-drop") -> str:
    made = await client.post("/api/shows", json={"title": "Friday <drop>", "slug": slug, "scheduled_at": scheduled_at},
                             headers=auth(host_token))
    assert made.status_code == 201, made.text
    return slug


async def test_each_reminder_goes_out_once_per_subscriber_with_two_workers_racing(
    client: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, database_url: str,
) -> None:
    start = now_ms()
    scheduled = start + 2 * DAY_MS
    slug = await _scheduled_show(client, host_token, scheduled)
    emails = [f"fan{i}@example.com" for i in range(12)]
    for email in emails:
        buyer = await new_buyer(client)
        answer = await client.post(f"/api/shows/{slug}/reminders", json={"email": email}, headers=auth(buyer))
        assert answer.status_code == 201, answer.text
        assert answer.json()["sent"] == {"24h": None, "15min": None, "live": None}
    silent = await new_buyer(client)  # no email: the open page only, nothing mailed
    assert (await client.post(f"/api/shows/{slug}/reminders", json={}, headers=auth(silent))).status_code == 201

    # Two workers: two engines (two connection pools) on the same database, each with its own clock.
    other_engine = make_engine(database_url)
    clock = {"now": start}
    try:
        workers = [Reminders(sessions, lambda t: f"http://x/u?token={t}", lambda: clock["now"]),
                   Reminders(make_sessionmaker(other_engine), lambda t: f"http://x/u?token={t}", lambda: clock["now"])]

        async def race() -> int:
            return sum(await asyncio.gather(*(w.send_due() for w in workers for _ in range(2))))

        assert await race() == 0, "two days before: nothing due"
        clock["now"] = scheduled - 23 * HOUR_MS
        assert await race() == len(emails)
        assert await race() == 0
        clock["now"] = scheduled - 10 * 60_000
        assert await race() == len(emails)
        assert (await client.post(f"/api/shows/{slug}/start", headers=auth(host_token))).status_code == 200
        assert await race() == len(emails)
        assert await race() == 0
    finally:
        await other_engine.dispose()

    sent = await _reminders_sent(sessions)
    assert Counter((p["email"], p["reason"]) for p in sent) == {(e, r): 1 for e in emails for r in ("24h", "15min", "live")}
    first = sent[0]
    assert first["show_title"] == "Friday <drop>" and first["show_slug"] == slug and first["scheduled_at"] == scheduled


async def test_moments_already_past_are_not_sent_late_and_the_link_unsubscribes(
    client: httpx.AsyncClient, host_token: str, app: Any, sessions: async_sessionmaker,
) -> None:
    slug = await _scheduled_show(client, host_token, now_ms() + 3 * HOUR_MS)
    buyer = await new_buyer(client)
    made = await client.post(f"/api/shows/{slug}/reminders", json={"email": "late@example.com"}, headers=auth(buyer))
    assert made.status_code == 201 and made.json()["sent"]["24h"] is not None, "3 hours before: the 24 h one has passed"
    again = await client.post(f"/api/shows/{slug}/reminders", json={"email": "later@example.com"}, headers=auth(buyer))
    assert again.status_code == 200 and again.json()["email"] == "later@example.com"
    assert (await client.get(f"/api/shows/{slug}/reminders/me", headers=auth(buyer))).json()["email"] == "later@example.com"

    root = app.state.livedrop
    assert await root.reminders.send_due() == 0
    assert (await client.post(f"/api/shows/{slug}/start", headers=auth(host_token))).status_code == 200
    assert await root.reminders.send_due() == 1
    [payload] = await _reminders_sent(sessions)
    assert payload["reason"] == "live" and payload["email"] == "later@example.com"
    link = payload["unsubscribe_url"]
    assert link.startswith(root.settings.base_url + "/reminders/unsubscribe?token=")

    client.cookies.clear()  # the link works from a mail client: no buyer, no login
    page = await client.get(link.removeprefix(root.settings.base_url))
    assert page.status_code == 200 and "Friday &lt;drop&gt;" in page.text, page.text
    gone = await client.get(link.removeprefix(root.settings.base_url))
    assert gone.status_code == 404
    assert (await client.get("/reminders/unsubscribe?token=<script>")).status_code == 404
    assert (await client.get(f"/api/shows/{slug}/reminders/me", headers=auth(buyer))).status_code == 404


async def test_cancel_and_bad_reminder_requests(client: httpx.AsyncClient, host_token: str) -> None:
    slug = await _scheduled_show(client, host_token, now_ms() + 2 * DAY_MS)
    buyer = await new_buyer(client)
    for body in ({"email": "not an email"}, {"email": "x" * 400 + "@example.com"}, {"emial": "a@b.co"}, {"email": 5}):
        answer = await client.post(f"/api/shows/{slug}/reminders", json=body, headers=auth(buyer))
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request", (body, answer.text)
    assert (await client.post("/api/shows/nope/reminders", json={}, headers=auth(buyer))).status_code == 404
    assert (await client.post(f"/api/shows/{slug}/reminders", json={}, headers=auth(buyer))).status_code == 201
    assert (await client.delete(f"/api/shows/{slug}/reminders", headers=auth(buyer))).status_code == 204
    assert (await client.delete(f"/api/shows/{slug}/reminders", headers=auth(buyer))).status_code == 404
    assert (await client.post(f"/api/shows/{slug}/end", headers=auth(host_token))).status_code == 200
    ended = await client.post(f"/api/shows/{slug}/reminders", json={}, headers=auth(buyer))
    assert ended.status_code == 409 and ended.json()["error"]["code"] == "invalid_state"
    client.cookies.clear()
    assert (await client.post(f"/api/shows/{slug}/reminders", json={})).status_code == 401
