"""The host talks back, through the HTTP API: staff messages with a badge, replies, the pinned
message in the snapshot, moderators (what they may and may not do), the chat's CSV."""

from __future__ import annotations

import csv
import io

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from .buying import auth, live_show_with_product, new_buyer


async def moderator_token(sessions: async_sessionmaker, email: str = "mo@example.com") -> str:
    from web.auth import create_api_token, create_host

    host = await create_host(sessions, email, "moderator password 1", name="Mo")
    return await create_api_token(sessions, host.id)


async def test_host_posts_replies_and_pins(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"AUR-42": 3})
    url = f"/api/shows/{slug}"
    said = await client.post(f"{url}/chat", json={"text": "Is there a size 44?"}, headers=auth(host_token))
    assert said.status_code == 201 and said.json()["role"] == "host" and said.json()["name"] == "ana", said.text
    reply = await client.post(f"{url}/chat", json={"text": "Yes, from Friday", "reply_to": said.json()["id"]}, headers=auth(host_token))
    assert reply.status_code == 201
    assert reply.json()["reply_to"] == {"id": said.json()["id"], "name": "ana", "text": "Is there a size 44?"}

    pinned = await client.put(f"{url}/pinned-message", json={"message_id": reply.json()["id"]}, headers=auth(host_token))
    assert pinned.status_code == 200 and pinned.json()["id"] == reply.json()["id"]
    snapshot = (await client.get(url)).json()
    assert snapshot["pinned_message"]["text"] == "Yes, from Friday" and snapshot["pinned_message"]["role"] == "host"
    assert [m.get("role") for m in snapshot["chat"][-2:]] == ["host", "host"]

    for body, status, code in [
        ({"text": ""}, 422, "invalid_request"),
        ({"text": "x" * 281}, 422, "invalid_request"),
        ({"text": "hi", "reply_to": 999999}, 404, "not_found"),
        ({"text": "hi", "reply_to": "1"}, 422, "invalid_request"),
        ({"text": "hi", "extra": 1}, 422, "invalid_request"),
    ]:
        answer = await client.post(f"{url}/chat", json=body, headers=auth(host_token))
        assert answer.status_code == status and answer.json()["error"]["code"] == code, (body, answer.text)
    missing = await client.put(f"{url}/pinned-message", json={"message_id": 999999}, headers=auth(host_token))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert (await client.get(url)).json()["pinned_message"]["id"] == reply.json()["id"], "a refused pin changes nothing"

    # Deleting the pinned message unpins it on every screen.
    assert (await client.delete(f"{url}/chat/{reply.json()['id']}", headers=auth(host_token))).status_code == 204
    assert (await client.get(url)).json()["pinned_message"] is None
    assert (await client.post(f"{url}/chat", json={"text": "no token"})).status_code == 401


async def test_moderators_moderate_but_never_sell(
    client: httpx.AsyncClient, host_token: str, other_host_token: str, sessions: async_sessionmaker
) -> None:
    slug, product = await live_show_with_product(client, host_token, {"AUR-42": 3})
    url = f"/api/shows/{slug}"
    mod = await moderator_token(sessions)
    # Not named yet: the show is as unknown to this account as to anyone.
    assert (await client.post(f"{url}/chat", json={"text": "hello"}, headers=auth(mod))).status_code == 404

    added = await client.post(f"{url}/moderators", json={"email": "Mo@Example.com"}, headers=auth(host_token))
    assert added.status_code == 201 and added.json() == {"email": "mo@example.com"}
    for body in ({"email": "not-an-email"}, {"email": "ana@example.com"}, {}):
        bad = await client.post(f"{url}/moderators", json=body, headers=auth(host_token))
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request", body
    assert (await client.get(f"{url}/moderators", headers=auth(host_token))).json() == {"moderators": ["mo@example.com"]}

    said = await client.post(f"{url}/chat", json={"text": "Welcome!"}, headers=auth(mod))
    assert said.status_code == 201 and said.json()["role"] == "moderator" and said.json()["name"] == "Mo"
    viewer = await new_buyer(client, "Vi")
    assert (await client.put(f"{url}/pinned-message", json={"message_id": said.json()["id"]}, headers=auth(mod))).status_code == 200
    assert (await client.delete(f"{url}/pinned-message", headers=auth(mod))).status_code == 204
    assert (await client.get(url)).json()["pinned_message"] is None
    muted = await client.post(f"{url}/mutes", json={"buyer_id": "abcd1234"}, headers=auth(mod))
    assert muted.status_code == 204
    assert (await client.delete(f"{url}/chat/{said.json()['id']}", headers=auth(mod))).status_code == 204
    del viewer

    # What only the host may do: 403 with a stable code, and nothing changes.
    for method, path, body in [
        ("PUT", "/pin", {"product_id": product["id"]}),
        ("DELETE", "/pin", None),
        ("POST", "/offers", {"product_id": product["id"], "price_cents": 100, "duration_s": 60}),
        ("PUT", "/bag", {"product_ids": []}),
        ("POST", "/end", None),
        ("POST", "/moderators", {"email": "x@example.com"}),
        ("GET", "/moderators", None),
    ]:
        answer = await client.request(method, f"{url}{path}", json=body, headers=auth(mod))
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "moderator_not_allowed", (method, path, answer.text)
    snapshot = (await client.get(url)).json()
    assert snapshot["pinned"]["id"] == product["id"] and snapshot["show"]["status"] == "live" and snapshot["offers"] == []

    # Another host is neither: 404 everywhere, ids do not leak.
    assert (await client.post(f"{url}/chat", json={"text": "hi"}, headers=auth(other_host_token))).status_code == 404
    assert (await client.put(f"{url}/pin", json={"product_id": product["id"]}, headers=auth(other_host_token))).status_code == 404

    assert (await client.delete(f"{url}/moderators/mo@example.com", headers=auth(host_token))).status_code == 204
    assert (await client.post(f"{url}/chat", json={"text": "still here?"}, headers=auth(mod))).status_code == 404
    assert (await client.delete(f"{url}/moderators/mo@example.com", headers=auth(host_token))).status_code == 404


async def test_chat_csv_after_the_show(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"AUR-42": 3})
    url = f"/api/shows/{slug}"
    said = await client.post(f"{url}/chat", json={"text": "=HYPERLINK(\"http://evil\")"}, headers=auth(host_token))
    assert said.status_code == 201
    early = await client.get(f"{url}/chat.csv", headers=auth(host_token))
    assert early.status_code == 409 and early.json()["error"]["code"] == "show_not_ended"
    assert (await client.post(f"{url}/end", headers=auth(host_token))).status_code == 200
    after = await client.post(f"{url}/chat", json={"text": "late"}, headers=auth(host_token))
    assert after.status_code == 409 and after.json()["error"]["code"] == "invalid_state"
    got = await client.get(f"{url}/chat.csv", headers=auth(host_token))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert f'{slug}-chat.csv' in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert len(rows) == 1 and rows[0]["role"] == "host" and rows[0]["text"].startswith("'="), "formulas are defused"
    assert (await client.get(f"{url}/chat.csv")).status_code == 401
