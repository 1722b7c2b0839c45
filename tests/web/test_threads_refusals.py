"""Issue 23's "bad input" list, each with its stable code (docs/threads.md, docs/privacy.md): too
long on every route that takes text, empty text, malformed JSON and unknown fields, HTML kept as
text, a closed thread, a block on either side, the rate limit, and keys that open one thread only
(another thread's link, another buyer, another host: 404 as for nothing)."""

from __future__ import annotations

import uuid

import httpx

from tests.web.buying import auth, live_show_with_product, new_buyer


def _code(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


async def _thread(client: httpx.AsyncClient, host_token: str, buyer: str, text: str = "Hello?") -> tuple[str, str, dict]:  # type: ignore[type-arg]
    slug, product = await live_show_with_product(client, host_token, {f"TR-{uuid.uuid4().hex[:6]}": 3})
    asked = await client.post("/api/threads", json={"show_slug": slug, "text": text}, headers=auth(buyer))
    assert asked.status_code == 201, asked.text
    return asked.json()["thread"]["id"], slug, product


async def test_text_refusals_on_every_route_that_takes_text(client: httpx.AsyncClient, host_token: str) -> None:
    kim = await new_buyer(client, "Kim")
    thread_id, slug, product = await _thread(client, host_token, kim)
    long = "x" * 10_000
    for path, who, body in (
        ("/api/threads", kim, {"show_slug": slug, "text": long}),
        (f"/api/threads/{thread_id}/messages", kim, {"text": long}),
        (f"/api/inbox/{thread_id}/messages", host_token, {"text": long}),
        (f"/api/inbox/{thread_id}/hold-offers", host_token, {"sku": product["variants"][0]["sku"], "hold_s": 600, "text": long}),
    ):
        answer = await client.post(path, json=body, headers=auth(who))
        assert _code(answer) == (422, "message_too_long"), (path, answer.text)
        assert "2000" in answer.json()["error"]["message"].replace(",", "")  # says the bound
    assert _code(await client.post("/api/threads", json={"show_slug": slug, "text": "x" * 20_001}, headers=auth(kim))) == (422, "invalid_request")
    for path, who in ((f"/api/threads/{thread_id}/messages", kim), (f"/api/inbox/{thread_id}/messages", host_token)):
        assert _code(await client.post(path, json={"text": "  \n "}, headers=auth(who))) == (422, "invalid_request"), path
        malformed = await client.post(path, content=b'{"text": "hi"', headers={**auth(who), "Content-Type": "application/json"})
        assert _code(malformed) == (400, "malformed_json"), path
        extra = await client.post(path, json={"text": "hi", "html": True}, headers=auth(who))
        assert _code(extra) == (422, "invalid_request") and "html" in extra.json()["error"]["message"], path
    bad_hold = await client.post(f"/api/inbox/{thread_id}/hold-offers", json={"sku": product["variants"][0]["sku"], "hold_s": 5},
                                 headers=auth(host_token))
    assert _code(bad_hold) == (422, "invalid_request") and "hold_s" in bad_hold.json()["error"]["message"]
    # Nothing of it got in: the thread has the first message only.
    messages = (await client.get(f"/api/inbox/{thread_id}", headers=auth(host_token))).json()["messages"]
    assert [m["text"] for m in messages] == ["Hello?"]

    # HTML and scripts are kept as typed and come back as text, to the host's inbox too.
    script = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    assert (await client.post(f"/api/threads/{thread_id}/messages", json={"text": script}, headers=auth(kim))).status_code == 201
    shown = (await client.get(f"/api/inbox/{thread_id}", headers=auth(host_token))).json()["messages"][-1]
    assert shown["text"] == script
    page = await client.get(f"/threads/{thread_id}", headers=auth(kim))  # the thread page by the buyer's own key
    assert page.status_code == 200 and "<script>alert(2)" not in page.text and "&lt;script&gt;alert(2)&lt;/script&gt;" in page.text


async def test_closed_and_blocked_threads_and_the_rate_limit(client: httpx.AsyncClient, host_token: str) -> None:
    kim = await new_buyer(client, "Kim")
    thread_id, slug, _ = await _thread(client, host_token, kim)
    assert (await client.post(f"/api/inbox/{thread_id}/state", json={"action": "close"}, headers=auth(host_token))).status_code == 200
    for path, body in ((f"/api/threads/{thread_id}/messages", {"text": "hi"}), ("/api/threads", {"show_slug": slug, "text": "hi"})):
        assert _code(await client.post(path, json=body, headers=auth(kim))) == (409, "thread_closed"), path
    # The host writing reopens it.
    answered = await client.post(f"/api/inbox/{thread_id}/messages", json={"text": "Back again"}, headers=auth(host_token))
    assert answered.status_code == 201 and answered.json()["thread"]["status"] == "open"
    assert (await client.post(f"/api/threads/{thread_id}/messages", json={"text": "thanks"}, headers=auth(kim))).status_code == 201

    assert (await client.post(f"/api/inbox/{thread_id}/state", json={"action": "block"}, headers=auth(host_token))).status_code == 200
    assert _code(await client.post(f"/api/threads/{thread_id}/messages", json={"text": "hi"}, headers=auth(kim))) == (403, "blocked")
    # The host cannot write to a buyer it blocked either (unblock first), nor offer them a hold.
    refused = await client.post(f"/api/inbox/{thread_id}/messages", json={"text": "psst"}, headers=auth(host_token))
    assert _code(refused) == (403, "blocked") and "unblock" in refused.json()["error"]["message"]
    assert (await client.post(f"/api/inbox/{thread_id}/state", json={"action": "unblock"}, headers=auth(host_token))).status_code == 200

    # 20 messages a minute per sender and thread; the 21st waits, with Retry-After.
    codes = [(await client.post(f"/api/threads/{thread_id}/messages", json={"text": f"m{i}"}, headers=auth(kim))).status_code
             for i in range(20)]
    # Tries count, refused ones too (closed, thanks, blocked above: 3), so a refused spammer gains nothing.
    assert codes[:17] == [201] * 17 and set(codes[17:]) == {429}
    limited = await client.post(f"/api/threads/{thread_id}/messages", json={"text": "one more"}, headers=auth(kim))
    assert _code(limited) == (429, "rate_limited") and int(limited.headers["Retry-After"]) >= 1


async def test_a_link_or_a_key_opens_its_own_thread_only(client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    kim, lee = await new_buyer(client, "Kim"), await new_buyer(client, "Lee")
    kims, _, _ = await _thread(client, host_token, kim)
    lees, _, _ = await _thread(client, host_token, lee)
    tokens = client._transport.app.state.livedrop.thread_link_tokens  # type: ignore[attr-defined]
    kim_id = (await client.get("/api/buyers/me", headers=auth(kim))).json()["buyer_id"]
    lee_id = (await client.get("/api/buyers/me", headers=auth(lee))).json()["buyer_id"]
    kims_link = tokens.issue(kims, kim_id)
    client.cookies.clear()  # no buyer cookie: the link is the only key
    assert (await client.get(f"/api/threads/{kims}?t={kims_link}")).status_code == 200
    # Kim's link on Lee's thread, a link Lee never got, a forged one, nothing: 404 as for no thread.
    for thread_id, query in ((lees, f"?t={kims_link}"), (lees, f"?t={tokens.issue(lees, kim_id)}"), (lees, "?t=forged"), (lees, "")):
        for method, path, body in (("GET", f"/api/threads/{thread_id}{query}", None),
                                   ("POST", f"/api/threads/{thread_id}/messages{query}", {"text": "hi"})):
            answer = await client.request(method, path, json=body)
            assert answer.status_code in (401, 404), (path, answer.status_code)
            assert answer.json()["error"]["code"] in ("unauthorized", "not_found")
        page = await client.get(f"/threads/{thread_id}{query}")
        assert page.status_code == 404 and "Lee" not in page.text
    assert (await client.get(f"/threads/{lees}?t={tokens.issue(lees, lee_id)}")).status_code == 200
    # Another host: every inbox route answers 404 for a thread not its own.
    for method, path, body in (("GET", f"/api/inbox/{kims}", None), ("GET", f"/api/inbox/{kims}/buyer", None),
                               ("POST", f"/api/inbox/{kims}/state", {"action": "block"}),
                               ("POST", f"/api/inbox/{kims}/order-link", {"order_id": "nope"}),
                               ("POST", f"/api/inbox/{kims}/hold-offers", {"sku": "X", "hold_s": 600})):
        answer = await client.request(method, path, json=body, headers=auth(other_host_token))
        assert _code(answer) == (404, "not_found"), path
    # A thread id that is not one: 404 too (not 500, not 422).
    assert _code(await client.get("/api/threads/th_" + "a" * 200, headers=auth(kim))) == (404, "not_found")
