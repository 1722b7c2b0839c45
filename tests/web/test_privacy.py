"""Data rights (docs/privacy.md): the export holds every kind of record a buyer has; after erasure
no query by the buyer's email, name or street finds anything in SQL or Redis beyond the order
fields accounting keeps."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.models import Order
from live.chat import message_json
from tests.web.buying import auth, checkout_body, hold, live_show_with_product, new_buyer
from tests.web.test_draws import verify as verify_draw
from web.models import metadata

EMAIL, NAME, STREET = "zed.quux@example.com", "Zed Quux", "77 Erasure Lane"


async def _buyer_with_everything(client: httpx.AsyncClient, host_token: str) -> dict[str, Any]:
    sku, gone = f"PV-{uuid.uuid4().hex[:6]}", f"PV-{uuid.uuid4().hex[:6]}"
    slug, product = await live_show_with_product(client, host_token, {sku: 5, gone: 0})
    zed = await new_buyer(client, NAME)
    me = (await client.get("/api/buyers/me", headers=auth(zed))).json()
    held = await hold(client, slug, zed, sku)
    body = checkout_body(EMAIL)
    body["name"], body["shipping"]["line1"] = NAME, STREET
    paid = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=body, headers=auth(zed))
    assert paid.status_code == 201, paid.text
    assert (await hold(client, slug, zed, sku)).status_code == 201  # a live hold
    variant = next(v for v in product["variants"] if v["sku"] == gone)
    wish = await client.post(f"/api/shows/{slug}/waitlist", json={"variant_id": variant["id"], "email": EMAIL}, headers=auth(zed))
    assert wish.status_code == 201, wish.text
    asked = await client.post("/api/threads", json={"order_id": paid.json()["order_id"], "text": f"I am {NAME}, call me"},
                              headers=auth(zed))
    assert asked.status_code == 201
    # A place in a waiting room an hour ahead (a queue offer on a product of its own).
    queued = await client.post("/api/products", headers=auth(host_token), json={
        "title": "Queue drop", "price_cents": 9900, "currency": "USD",
        "variants": [{"sku": f"PQ-{uuid.uuid4().hex[:6]}", "label": "EU 41", "stock": 3}]})
    offer = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": queued.json()["id"], "price_cents": 9900, "duration_s": 3600, "mode": "queue",
        "starts_at": int(time.time() * 1000) + 3_600_000})
    assert offer.status_code == 201, offer.text
    joined = await client.post(f"/api/shows/{slug}/offers/{offer.json()['id']}/queue", headers=auth(zed), json={})
    assert joined.status_code == 201, joined.text
    # An entry in a draw open for an hour (a product of its own), with the checkout email.
    drawn = await client.post("/api/products", headers=auth(host_token), json={
        "title": "Draw drop", "price_cents": 9900, "currency": "USD",
        "variants": [{"sku": f"PD-{uuid.uuid4().hex[:6]}", "label": "EU 42", "stock": 2}]})
    now = int(time.time() * 1000)
    draw = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": drawn.json()["id"], "price_cents": 9900, "mode": "draw", "entries_open_at": now,
        "entries_close_at": now + 3_600_000, "claim_minutes": 30})
    assert draw.status_code == 201, draw.text
    entered = await client.post(f"/api/shows/{slug}/offers/{draw.json()['id']}/entries", headers=auth(zed), json={
        "sku": drawn.json()["variants"][0]["sku"], "email": EMAIL})
    assert entered.status_code == 201, entered.text
    # A chat line, through the hub as the socket's chat frame goes (store, then publish).
    root = client._transport.app.state.livedrop  # type: ignore[attr-defined]
    view = await root.hub.views.get(slug)
    line = await root.hub.chat.post(view.id, me["buyer_id"], f"hello from {NAME}")
    await root.hub.publish(view.id, "chat", message_json(line))
    # The host answers that line (its frame quotes the buyer's name and words) and pins it.
    replied = await client.post(f"/api/shows/{slug}/chat", json={"text": "welcome!", "reply_to": line.id}, headers=auth(host_token))
    assert replied.status_code in (200, 201) and replied.json()["reply_to"]["name"] == NAME, replied.text
    pinned = await client.put(f"/api/shows/{slug}/pinned-message", json={"message_id": line.id}, headers=auth(host_token))
    assert pinned.status_code == 200, pinned.text
    # A reminder for the host's next show, with the address, and a mute in this one (after the line).
    later = await client.post("/api/shows", json={"title": "Next drop", "scheduled_at": int(time.time() * 1000) + 86_400_000},
                              headers=auth(host_token))
    assert later.status_code == 201, later.text
    reminded = await client.post(f"/api/shows/{later.json()['slug']}/reminders", json={"email": EMAIL}, headers=auth(zed))
    assert reminded.status_code == 201, reminded.text
    assert (await client.post(f"/api/shows/{slug}/mutes", json={"buyer_id": me["buyer_id"]}, headers=auth(host_token))).status_code == 204
    return {"token": zed, "buyer_id": me["buyer_id"], "order": paid.json(), "slug": slug, "show_id": view.id,
            "queue_offer": offer.json()["id"], "draw_offer": draw.json()["id"], "draw_entry": entered.json()["entry_id"]}


async def _sql_rows(engine: AsyncEngine) -> list[tuple[str, str]]:
    rows = []
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(text(f"SELECT * FROM {table.name}"))).all():
                rows.append((table.name, json.dumps([str(v) for v in row])))
    return rows


async def _redis_values(redis: aioredis.Redis) -> list[tuple[str, str]]:
    out = []
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        if kind == "string":
            value: Any = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            continue
        out.append((str(key), str(key) + repr(value)))
    return out


def _finds(rows: list[tuple[str, str]]) -> list[str]:
    needle = re.compile("|".join(map(re.escape, (EMAIL, NAME, STREET))), re.IGNORECASE)
    # The purchase ticker shows a buyer by first name ("Zed bought ..."): that names them too.
    first_name = re.compile(r"""['"]name['"]: ?['"]%s['"]""" % re.escape(NAME.split()[0]))
    return [where for where, value in rows if needle.search(value) or first_name.search(value)]


async def test_export_has_every_kind_and_erasure_leaves_only_what_accounting_keeps(
        client: httpx.AsyncClient, host_token: str, other_host_token: str, engine: AsyncEngine, redis: aioredis.Redis) -> None:
    zed = await _buyer_with_everything(client, host_token)
    exported = await client.get("/api/buyers/me/data", headers=auth(zed["token"]))
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    data = exported.json()
    assert data["buyer"][0]["name"] == NAME
    assert [o["email"] for o in data["orders"]] == [EMAIL] and data["orders"][0]["shipping"]["line1"] == STREET
    assert len(data["holds"]) == 1 and data["holds"][0]["state"] == "held"
    assert [w["email"] for w in data["wishes"]] == [EMAIL]
    assert data["messages"][0]["messages"][0]["text"] == f"I am {NAME}, call me"
    assert [c["text"] for c in data["chat"]] == [f"hello from {NAME}"]
    assert [q["offer_id"] for q in data["queue_entries"]] == [zed["queue_offer"]]
    assert [(d["entry_id"], d["email"]) for d in data["draw_entries"]] == [(zed["draw_entry"], EMAIL)]
    assert [m["show_slug"] for m in data["mutes"]] == [zed["slug"]]
    assert [r["email"] for r in data["reminders"]] == [EMAIL]
    audit_path = f"/api/shows/{zed['slug']}/offers/{zed['queue_offer']}/audit"
    audit = (await client.get(audit_path)).json()
    assert [e["entry_id"] for e in audit["entries"]] == [data["queue_entries"][0]["entry_id"]]
    draw_audit_path = f"/api/shows/{zed['slug']}/offers/{zed['draw_offer']}/audit"
    # The draw is run (the host closes it early): its published audit names entry ids only.
    drawn = await client.post(f"/api/shows/{zed['slug']}/offers/{zed['draw_offer']}/draw", headers=auth(host_token))
    assert drawn.status_code == 200, drawn.text
    draw_audit = (await client.get(draw_audit_path)).json()
    assert [e["entry_id"] for e in draw_audit["entries"]] == [zed["draw_entry"]], draw_audit
    assert verify_draw(draw_audit) == []
    assert _finds(await _sql_rows(engine)) and _finds(await _redis_values(redis))  # the search below can find them

    # Someone else's export or erasure: 404, for a buyer and for a host the buyer never dealt with.
    lee = await new_buyer(client, "Lee")
    for who in (lee, other_host_token):
        for method, path in (("GET", "data"), ("POST", "erase")):
            refused = await client.request(method, f"/api/buyers/{zed['buyer_id']}/{path}", headers=auth(who))
            assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found", (who, path)
    # The seller may export for its customer (its own records).
    for_host = await client.get(f"/api/buyers/{zed['buyer_id']}/data", headers=auth(host_token))
    assert for_host.status_code == 200 and for_host.json()["scope"].startswith("host:")

    erased = await client.post("/api/buyers/me/erase", headers=auth(zed["token"]))
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["orders"] == 1 and erased.json()["erased"]["chat"] == 1
    assert erased.json()["erased"]["draw_entries"] == 1
    assert _finds(await _sql_rows(engine)) == []
    # The waiting room's published audit is the same: entry ids and ranks, no identities to remove.
    assert (await client.get(audit_path)).json() == audit
    # The draw's audit too: the entry id stays (the ranking is computed from ids only), no identity.
    assert (await client.get(draw_audit_path)).json() == draw_audit
    assert verify_draw((await client.get(draw_audit_path)).json()) == []  # and an outsider's recomputation still agrees
    assert _finds(await _redis_values(redis)) == []
    # Every screen's chat: the line is gone, unpinned, and the host's answer no longer quotes it.
    snapshot = (await client.get(f"/api/shows/{zed['slug']}")).json()
    assert snapshot["pinned_message"] is None
    assert [(m["text"], "reply_to" in m) for m in snapshot["chat"]] == [("welcome!", False)]
    # What accounting keeps: amounts, dates, lines, a pseudonymous buyer id (not the old one).
    async with engine.connect() as conn:
        order = (await conn.execute(Order.__table__.select().where(Order.id == zed["order"]["order_id"]))).one()
    assert order.total_cents == zed["order"]["total_cents"] and order.created_at > 0
    assert order.buyer_id.startswith("anon_") and order.buyer_id != zed["buyer_id"] and order.email == ""
    assert order.shipping == {"country": "US"}


async def test_retention_deletes_chat_and_messages_older_than_the_setting(client: httpx.AsyncClient, host_token: str) -> None:
    from sqlalchemy import func, select

    from inventory.threads import ThreadMessage
    from live.models import ChatMessage, ShowEvent
    from live.retention import DAY_MS, Retention

    zed = await _buyer_with_everything(client, host_token)
    root = client._transport.app.state.livedrop  # type: ignore[attr-defined]
    sessions = root.services.sessions

    async def counts() -> tuple[int, int, int]:
        async with sessions() as session:
            return (await session.scalar(select(func.count(ChatMessage.id))),
                    await session.scalar(select(func.count(ShowEvent.id)).where(ShowEvent.type.in_(("chat", "chat_pin")))),
                    await session.scalar(select(func.count(ThreadMessage.id))))

    assert await counts() == (2, 3, 1)  # the buyer's line and the host's reply; their events and the pin's
    now = root.threads.threads  # the same Threads the app uses
    keep_all = Retention(sessions, now, 0, clock=lambda: 10**13)
    assert await keep_all.run() == 0 and await counts() == (2, 3, 1)
    thirty = Retention(sessions, now, 30)
    assert await thirty.run() == 0 and await counts() == (2, 3, 1)  # all of it is younger than 30 days
    later = Retention(sessions, now, 30, clock=lambda: zed["order"]["created_at"] + 31 * DAY_MS)
    assert await later.run() == 6 and await counts() == (0, 0, 0)  # a pin's copy of a line goes with the line


def test_a_deleted_line_leaves_no_quote_in_each_process_chat_tail() -> None:
    """Each process keeps its shows' last chat lines for snapshots (live.hub): a ``chat_deleted``
    (a moderator's delete, or an erasure's) takes the line and its quote in a reply with it."""
    from live.events import Event
    from live.hub import _apply_chat

    tail: list[Any] = [
        {"id": 1, "buyer_id": "b1", "name": NAME, "text": "hello", "ts": 1},
        {"id": 2, "buyer_id": "host-1", "name": "Shop", "text": "hi!", "ts": 2, "role": "host",
         "reply_to": {"id": 1, "name": NAME, "text": "hello"}},
    ]
    _apply_chat(tail, Event(3, "chat_deleted", json.dumps({"seq": 3, "type": "chat_deleted", "id": 1})))
    assert tail == [{"id": 2, "buyer_id": "host-1", "name": "Shop", "text": "hi!", "ts": 2, "role": "host"}]


async def test_a_hosts_erasure_leaves_the_display_name_nowhere_in_its_shows_and_inbox(
        client: httpx.AsyncClient, host_token: str, engine: AsyncEngine, redis: aioredis.Redis) -> None:
    """A host erases a buyer on request: the buyer's chat handle leaves that host's chat history
    (SQL, the replay's events, the show's stream, the host's quoting reply and pin), its inbox and
    thread list. Only the buyer row keeps the name (the buyer's own, at every shop; only the
    buyer's own request blanks it)."""
    handle = f"Quill-{uuid.uuid4().hex[:6]}"
    slug, _ = await live_show_with_product(client, host_token, {f"PH-{uuid.uuid4().hex[:6]}": 2})
    quill = await new_buyer(client, handle)
    buyer_id = (await client.get("/api/buyers/me", headers=auth(quill))).json()["buyer_id"]
    root = client._transport.app.state.livedrop  # type: ignore[attr-defined]
    view = await root.hub.views.get(slug)
    line = await root.hub.chat.post(view.id, buyer_id, "is the 42 in stock?")
    await root.hub.publish(view.id, "chat", message_json(line))
    replied = await client.post(f"/api/shows/{slug}/chat", json={"text": "yes!", "reply_to": line.id}, headers=auth(host_token))
    assert replied.status_code in (200, 201) and replied.json()["reply_to"]["name"] == handle
    assert (await client.put(f"/api/shows/{slug}/pinned-message", json={"message_id": replied.json()["id"]},
                             headers=auth(host_token))).status_code == 200
    asked = await client.post("/api/threads", json={"show_slug": slug, "text": "and the 43?"}, headers=auth(quill))
    assert asked.status_code == 201

    def named(rows: list[tuple[str, str]]) -> list[str]:
        return sorted({where for where, value in rows if handle in value})

    assert named(await _sql_rows(engine)) == ["buyers", "chat_messages", "show_events"]
    assert named(await _redis_values(redis))  # the show's stream
    assert handle in json.dumps((await client.get(f"/api/shows/{slug}")).json()["pinned_message"])  # cached with the quote

    erased = await client.post(f"/api/buyers/{buyer_id}/erase", headers=auth(host_token))
    assert erased.status_code == 200, erased.text
    assert erased.json()["scope"].startswith("host:") and erased.json()["erased"]["chat"] == 1
    assert erased.json()["erased"]["messages"] == 1
    assert named(await _sql_rows(engine)) == ["buyers"]
    assert named(await _redis_values(redis)) == []
    assert (await client.get("/api/inbox", headers=auth(host_token))).json()["threads"] == []
    snapshot = (await client.get(f"/api/shows/{slug}")).json()
    assert handle not in json.dumps(snapshot)
    # The host's pinned answer stays pinned, without the quote.
    assert snapshot["pinned_message"]["id"] == replied.json()["id"] and "reply_to" not in snapshot["pinned_message"]
