"""Private threads across processes (docs/threads.md): a buyer's socket on one server and the
host's on the other exchange messages live; a viewer of the same show sees none of it."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from websockets.asyncio.client import connect

from inventory.outbox import OutboxEvent

from web.thread_links import ThreadLinkTokens

from .conftest import Cluster, buyer, make_show
from .wsclient import Viewer


async def test_a_buyer_on_b_and_the_host_on_a_exchange_messages_live(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "threads")
        _, kim = await buyer(cluster.b.url, "Kim")
        _, lee = await buyer(cluster.b.url, "Lee")
        kim_page = await Viewer.join(cluster.b.url, slug, additional_headers={"Authorization": f"Bearer {kim}"})
        lee_page = await Viewer.join(cluster.b.url, slug, additional_headers={"Authorization": f"Bearer {lee}"})
        panel = await Viewer.join(cluster.a.url, slug, additional_headers={"Authorization": f"Bearer {cluster.token}"})
        try:
            for page in (kim_page, lee_page, panel):
                await page.next("snapshot")
            async with httpx.AsyncClient(base_url=cluster.b.url, timeout=10, headers={"Authorization": f"Bearer {kim}"}) as b:
                asked = await b.post("/api/threads", json={"show_slug": slug, "product_id": product_id, "text": "Any in 42?"})
            assert asked.status_code == 201, asked.text
            thread_id = asked.json()["thread"]["id"]
            seen = await panel.next("thread_message", timeout=5)
            assert seen["message"]["text"] == "Any in 42?" and seen["thread"]["id"] == thread_id
            answered = await host.post(f"/api/inbox/{thread_id}/messages", json={"text": "Yes, two left."})
            assert answered.status_code == 201, answered.text
            own = await kim_page.next("thread_message", timeout=5)  # the buyer's other pages see what they wrote
            assert own["message"]["sender"] == "buyer"
            got = await kim_page.next("thread_message", timeout=5)
            assert got["message"]["text"] == "Yes, two left." and got["message"]["sender"] == "host"
            # The buyer reading it turns the host's read receipt, live too.
            async with httpx.AsyncClient(base_url=cluster.b.url, timeout=10, headers={"Authorization": f"Bearer {kim}"}) as b:
                assert (await b.get(f"/api/threads/{thread_id}")).status_code == 200
            read = await panel.next("thread_read", timeout=5)
            assert read["thread"]["buyer_read_at"] >= got["message"]["created_at"]
            # Another viewer of the same show, on the same process as the buyer, saw nothing private.
            await kim_page.next("thread_read", timeout=5)
            assert not [f for f in lee_page.frames if f["type"].startswith("thread")]
        finally:
            for page in (kim_page, lee_page, panel):
                await page.close()


async def _thread_page(server_url: str, thread_id: str, query: str = "", **kw: object) -> Viewer:
    """The socket of the stand-alone thread page (static/thread_page.js)."""
    url = server_url.replace("http://", "ws://") + f"/ws/threads/{thread_id}{query}"
    return Viewer(await connect(url, open_timeout=5, **kw))  # type: ignore[arg-type]


async def test_the_thread_page_gets_its_threads_frames_from_the_other_process_and_no_others(
        cluster: Cluster, shared_sessions: async_sessionmaker) -> None:
    """The email link's page on B, the host answering on A: the answer and the read receipt reach
    the page live. The link opens that one thread: the same buyer's thread with another seller
    stays off it, and a link (or a buyer) for another thread gets 4404."""
    links = ThreadLinkTokens(cluster.env["SECRET_KEY"])
    async with cluster.host(cluster.a) as host, cluster.host(cluster.a, cluster.other_token) as other_host:
        slug, product_id = await make_show(host, "thpage")
        other_slug, _ = await make_show(other_host, "thpage-other")
        kim_id, kim = await buyer(cluster.b.url, "Kim")
        _, lee = await buyer(cluster.b.url, "Lee")
        async with httpx.AsyncClient(base_url=cluster.b.url, timeout=10, headers={"Authorization": f"Bearer {kim}"}) as b:
            asked = await b.post("/api/threads", json={"show_slug": slug, "product_id": product_id, "text": "Any in 42?",
                                                          "email": "kim-page@example.com"})
            assert asked.status_code == 201, asked.text
            elsewhere = await b.post("/api/threads", json={"show_slug": other_slug, "text": "And you?"})
            assert elsewhere.status_code == 201, elsewhere.text
        thread_id, other_thread_id = asked.json()["thread"]["id"], elsewhere.json()["thread"]["id"]

        page = await _thread_page(cluster.b.url, thread_id, f"?t={links.issue(thread_id, kim_id)}")  # no cookie: the link is the key
        by_cookie = await _thread_page(cluster.a.url, thread_id, additional_headers={"Authorization": f"Bearer {kim}"})
        try:
            first = await page.next("thread", timeout=5)
            assert first["thread"]["id"] == thread_id and first["thread"]["buyer_id"] == kim_id
            await by_cookie.next("thread", timeout=5)
            # The page counts as the buyer being online: the host's answer sends no email.
            answered = await host.post(f"/api/inbox/{thread_id}/messages", json={"text": "Yes, two left."})
            assert answered.status_code == 201, answered.text
            got = await page.next("thread_message", timeout=5)
            assert got["message"]["text"] == "Yes, two left." and got["message"]["sender"] == "host"
            assert (await by_cookie.next("thread_message", timeout=5))["message"]["text"] == "Yes, two left."
            async with shared_sessions() as session:
                emails = (await session.execute(select(OutboxEvent.payload).where(OutboxEvent.kind == "thread.message"))).scalars()
                assert not [p for p in emails if thread_id in str(p.get("url", ""))]
            # The host opening the thread turns the buyer's read receipt on the page.
            assert (await host.get(f"/api/inbox/{thread_id}")).status_code == 200
            read = await page.next("thread_read", timeout=5)
            assert read["thread"]["host_read_at"] >= asked.json()["message"]["created_at"]
            # The other seller's answer in the buyer's other thread goes to the buyer, not to this page.
            assert (await other_host.post(f"/api/inbox/{other_thread_id}/messages", json={"text": "Hi Kim"})).status_code == 201
            await page.send({"type": "ping"})
            await page.next("pong", timeout=5)  # frames arrive in order: anything for this page came before the pong
            assert [f["thread"]["id"] for f in page.frames if "thread" in f] == [thread_id] * len([f for f in page.frames if "thread" in f])
            await page.send({"type": "chat", "text": "hi"})
            assert (await page.next("error", timeout=5))["code"] == "unknown_type"
        finally:
            await page.close()
            await by_cookie.close()

        # Not this thread's key: closed with 4404, as for no thread at all.
        refusals = (
            ("?t=" + links.issue(other_thread_id, kim_id), {}),  # another thread's link
            ("?t=not-a-token", {}),
            ("", {"additional_headers": {"Authorization": f"Bearer {lee}"}}),  # another buyer
            ("", {}),  # nobody
        )
        for query, kw in refusals:
            refused = await _thread_page(cluster.a.url, thread_id, query, **kw)
            assert await refused.closed() == 4404, query
            assert not [f for f in refused.frames if f["type"].startswith("thread")]
        refused = await _thread_page(cluster.a.url, "th_nope", "?t=" + links.issue("th_nope", kim_id))
        assert await refused.closed() == 4404


async def test_an_erasure_takes_the_thread_off_every_open_page(cluster: Cluster) -> None:
    """The host erases a buyer on request (on B): the thread leaves the host's inbox on A and the
    buyer's thread page at once (``thread_erased``, the id only), not at their next reload."""
    async with cluster.host(cluster.a) as host, cluster.host(cluster.b) as host_on_b:
        slug, _ = await make_show(host, "therase")
        kim_id, kim = await buyer(cluster.b.url, "Kim")
        async with httpx.AsyncClient(base_url=cluster.b.url, timeout=10, headers={"Authorization": f"Bearer {kim}"}) as b:
            asked = await b.post("/api/threads", json={"show_slug": slug, "text": "Please forget me"})
        assert asked.status_code == 201, asked.text
        thread_id = asked.json()["thread"]["id"]
        panel = await Viewer.join(cluster.a.url, slug, additional_headers={"Authorization": f"Bearer {cluster.token}"})
        page = await _thread_page(cluster.b.url, thread_id, f"?t={ThreadLinkTokens(cluster.env['SECRET_KEY']).issue(thread_id, kim_id)}")
        try:
            await panel.next("snapshot")
            await page.next("thread")
            erased = await host_on_b.post(f"/api/buyers/{kim_id}/erase")
            assert erased.status_code == 200 and erased.json()["erased"]["messages"] == 1, erased.text
            gone = await panel.next("thread_erased", timeout=5)
            assert gone["thread"] == {"id": thread_id}
            assert (await page.next("thread_erased", timeout=5))["thread"] == {"id": thread_id}
            assert thread_id not in [t["id"] for t in (await host.get("/api/inbox")).json()["threads"]]
        finally:
            await panel.close()
            await page.close()
