"""Private threads through the real app (docs/threads.md): who may read what, the refusals with
their codes, order cards, hold offers, and the response figure."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.web.buying import auth, checkout_body, hold, live_show_with_product, new_buyer


async def _show(client: httpx.AsyncClient, host_token: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    return await live_show_with_product(client, host_token, {f"TH-{uuid.uuid4().hex[:6]}": 3})


# The buyer's list read its sellers' names through Result.tuples(), deprecated in SQLAlchemy 2.1.
@pytest.mark.filterwarnings("error::sqlalchemy.exc.SADeprecationWarning")
async def test_a_buyer_asks_the_host_answers_and_nobody_else_can_read_it(
        client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    slug, product = await _show(client, host_token)
    kim, lee = await new_buyer(client, "Kim"), await new_buyer(client, "Lee")
    asked = await client.post("/api/threads", json={"show_slug": slug, "product_id": product["id"], "text": "Does it run small?"},
                              headers=auth(kim))
    assert asked.status_code == 201, asked.text
    thread_id = asked.json()["thread"]["id"]
    assert asked.json()["message"]["card"] == {"kind": "product", "product_id": product["id"], "title": product["title"]}
    assert asked.json()["message"]["read"] is False
    # The buyer's list names the seller as the thread page does (the host's name; ana@example.com: "ana").
    for query in ({}, {"show_slug": slug}):
        listed = (await client.get("/api/threads", params=query, headers=auth(kim))).json()["threads"]
        assert [(t["id"], t["seller"]) for t in listed] == [(thread_id, "ana")]
    assert (await client.get("/api/threads", headers=auth(lee))).json()["threads"] == []

    inbox = (await client.get("/api/inbox", headers=auth(host_token))).json()["threads"]
    assert [(t["id"], t["unread"]) for t in inbox] == [(thread_id, 1)]
    opened = await client.get(f"/api/inbox/{thread_id}", headers=auth(host_token))
    assert opened.status_code == 200 and opened.json()["messages"][0]["read"] is True  # the host opened it: read receipt
    answered = await client.post(f"/api/inbox/{thread_id}/messages", json={"text": "True to size."}, headers=auth(host_token))
    assert answered.status_code == 201, answered.text

    mine = (await client.get(f"/api/threads/{thread_id}", headers=auth(kim))).json()
    assert [m["text"] for m in mine["messages"]] == ["Does it run small?", "True to size."]
    # Someone else's thread answers exactly like no thread: 404, for a buyer and for a host.
    for who, path in ((lee, f"/api/threads/{thread_id}"), (other_host_token, f"/api/inbox/{thread_id}")):
        refused = await client.get(path, headers=auth(who))
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    refused = await client.post(f"/api/threads/{thread_id}/messages", json={"text": "hi"}, headers=auth(lee))
    assert refused.status_code == 404
    refused = await client.post(f"/api/inbox/{thread_id}/messages", json={"text": "hi"}, headers=auth(other_host_token))
    assert refused.status_code == 404


async def test_bad_messages_closed_threads_and_blocks_get_their_codes(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await _show(client, host_token)
    kim = await new_buyer(client, "Kim")
    too_long = await client.post("/api/threads", json={"show_slug": slug, "text": "x" * 10_000}, headers=auth(kim))
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "message_too_long"
    script = "<script>alert(1)</script><b>hi</b>"
    asked = await client.post("/api/threads", json={"show_slug": slug, "text": script}, headers=auth(kim))
    assert asked.status_code == 201 and asked.json()["message"]["text"] == script  # kept as typed: text, not HTML
    thread_id = asked.json()["thread"]["id"]
    # The email link's page shows it as text.
    token = client._transport.app.state.livedrop.thread_link_tokens.issue(thread_id, asked.json()["thread"]["buyer_id"])  # type: ignore[attr-defined]
    page = await client.get(f"/threads/{thread_id}?t={token}")
    assert page.status_code == 200 and "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text

    closed = await client.post(f"/api/inbox/{thread_id}/state", json={"action": "close"}, headers=auth(host_token))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    refused = await client.post(f"/api/threads/{thread_id}/messages", json={"text": "hello?"}, headers=auth(kim))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "thread_closed"
    assert (await client.post(f"/api/inbox/{thread_id}/state", json={"action": "reopen"}, headers=auth(host_token))).status_code == 200
    assert (await client.post(f"/api/threads/{thread_id}/messages", json={"text": "hello?"}, headers=auth(kim))).status_code == 201

    assert (await client.post(f"/api/inbox/{thread_id}/state", json={"action": "block"}, headers=auth(host_token))).status_code == 200
    for body in ({"text": "let me in"},):
        refused = await client.post(f"/api/threads/{thread_id}/messages", json=body, headers=auth(kim))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "blocked"
    refused = await client.post("/api/threads", json={"show_slug": slug, "text": "again"}, headers=auth(kim))
    assert refused.json()["error"]["code"] == "blocked"
    messages = (await client.get(f"/api/inbox/{thread_id}", headers=auth(host_token))).json()["messages"]
    assert [m["text"] for m in messages] == [script, "hello?"]  # nothing from the blocked buyer got in
    empty = await client.post(f"/api/threads/{thread_id}/messages", json={"text": "   "}, headers=auth(kim))
    assert empty.status_code in (403, 422)
    bad = await client.post(f"/api/inbox/{thread_id}/state", json={"action": "explode"}, headers=auth(host_token))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


async def test_an_order_card_opens_the_order_and_a_hold_offer_is_bought(client: httpx.AsyncClient, host_token: str) -> None:
    sku = f"TH-{uuid.uuid4().hex[:6]}"
    slug, product = await live_show_with_product(client, host_token, {sku: 3})
    kim = await new_buyer(client, "Kim")
    held = await hold(client, slug, kim, sku)
    paid = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body("kim@example.com"), headers=auth(kim))
    order_id = paid.json()["order_id"]
    asked = await client.post("/api/threads", json={"order_id": order_id, "text": "Where is my parcel?"}, headers=auth(kim))
    assert asked.status_code == 201, asked.text
    card = asked.json()["message"]["card"]
    assert card["kind"] == "order" and card["order_id"] == order_id
    opened = await client.get(f"/api/orders/{card['order_id']}", headers=auth(kim))
    assert opened.status_code == 200 and opened.json()["number"] == paid.json()["number"]
    lee = await new_buyer(client, "Lee")  # another buyer's order cannot start a thread
    assert (await client.post("/api/threads", json={"order_id": order_id, "text": "mine?"}, headers=auth(lee))).status_code == 404

    thread_id = asked.json()["thread"]["id"]
    beside = (await client.get(f"/api/inbox/{thread_id}/buyer", headers=auth(host_token))).json()
    assert [(o["order_id"], o["status"]) for o in beside["orders"]] == [(order_id, "paid")]
    offered = await client.post(f"/api/inbox/{thread_id}/hold-offers", json={"sku": sku, "hold_s": 600, "text": "One more?"},
                                headers=auth(host_token))
    assert offered.status_code == 201, offered.text
    hold_card = offered.json()["message"]["card"]
    assert hold_card["kind"] == "hold" and hold_card["sku"] == sku
    beside = (await client.get(f"/api/inbox/{thread_id}/buyer", headers=auth(host_token))).json()
    assert [h["hold_id"] for h in beside["holds"]] == [hold_card["hold_id"]]
    bought = await client.post(f"/api/holds/{hold_card['hold_id']}/checkout", json=checkout_body("kim@example.com"), headers=auth(kim))
    assert bought.status_code == 201 and bought.json()["status"] == "paid"
    # Someone else's hold offer is not theirs to pay.
    bad = await client.post(f"/api/inbox/{thread_id}/hold-offers", json={"sku": "NOPE", "hold_s": 600}, headers=auth(host_token))
    assert bad.status_code == 404


async def test_the_response_figure_counts_answers_within_12_hours(client: httpx.AsyncClient, host_token: str) -> None:
    from inventory.threads import ANSWER_WINDOW_MS, ThreadMessage

    slug, _ = await _show(client, host_token)
    kim = await new_buyer(client)
    thread_id = (await client.post("/api/threads", json={"show_slug": slug, "text": "q1"}, headers=auth(kim))).json()["thread"]["id"]
    await client.post(f"/api/inbox/{thread_id}/messages", json={"text": "a1"}, headers=auth(host_token))
    # Move the conversation back in time: q1 answered after an hour, then q2 left 13 hours unanswered.
    root = client._transport.app.state.livedrop  # type: ignore[attr-defined]
    async with root.services.sessions() as session, session.begin():
        rows = list((await session.execute(
            ThreadMessage.__table__.select().where(ThreadMessage.thread_id == thread_id).order_by(ThreadMessage.id))).all())
        base = rows[0].created_at - 2 * ANSWER_WINDOW_MS
        await session.execute(ThreadMessage.__table__.update().where(ThreadMessage.id == rows[0].id).values(created_at=base))
        await session.execute(ThreadMessage.__table__.update().where(ThreadMessage.id == rows[1].id).values(created_at=base + 3_600_000))
        session.add(ThreadMessage(thread_id=thread_id, sender="buyer", text="q2", created_at=base + 3_700_000))
    weeks = (await client.get("/api/inbox/figures", headers=auth(host_token))).json()["weeks"]
    total = {k: sum(w[k] for w in weeks) for k in ("messages", "answered_12h", "pending")}
    assert total == {"messages": 2, "answered_12h": 1, "pending": 0}
    medians = [w["median_first_answer_ms"] for w in weeks if w["median_first_answer_ms"] is not None]
    assert medians == [3_600_000]
