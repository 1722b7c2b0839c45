"""What viewers may send: errors for bad frames (the connection stays open), close codes for the
rest, and none of it touches the other viewers."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .conftest import Cluster, buyer, make_show
from .wsclient import Viewer


async def test_bad_frames_get_errors_and_the_connection_stays_open(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "frames")
        _, token = await buyer(cluster.a.url, "Ana")
        bystander = await Viewer.join(cluster.b.url, slug)
        anonymous = await Viewer.join(cluster.a.url, slug)
        signed_in = await Viewer.join(cluster.a.url, slug, f"?token={token}")
        try:
            for v in (bystander, anonymous, signed_in):
                await v.next("snapshot")

            async def expect(viewer: Viewer, frame: object, code: str) -> None:
                await viewer.send(frame)
                error = await viewer.next("error", timeout=3)
                assert error["code"] == code, error
                assert isinstance(error["message"], str) and isinstance(error["ts"], int)

            await expect(anonymous, "not json", "malformed_frame")
            await expect(anonymous, "[1, 2]", "malformed_frame")
            await expect(anonymous, {"type": "dance"}, "unknown_type")
            await expect(anonymous, {"type": "chat", "text": "hello"}, "not_signed_in")
            await expect(anonymous, {"type": "react", "emoji": "🍕"}, "malformed_frame")
            await expect(signed_in, {"type": "chat", "text": "x" * 101}, "chat_too_long")

            await signed_in.send({"type": "ping"})
            await signed_in.next("pong", timeout=3)  # viewer counts may come first

            # Three messages per 10 s in these servers: the fourth is refused.
            for i in range(3):
                await signed_in.send({"type": "chat", "text": f"message {i} <b>not bold</b>"})
            for i in range(3):
                chat = await bystander.next("chat", timeout=3)
                assert chat["text"] == f"message {i} <b>not bold</b>" and chat["name"] == "Ana"
            await expect(signed_in, {"type": "chat", "text": "one too many"}, "rate_limited")

            # The host deletes one message: every screen drops it; then mutes the buyer.
            first_id = bystander.of_type("chat")[0]["id"]
            assert (await host.delete(f"/api/shows/{slug}/chat/{first_id}")).status_code == 204
            deleted = await signed_in.next("chat_deleted", timeout=3)
            assert deleted["id"] == first_id and deleted["seq"] > bystander.of_type("chat")[-1]["seq"]
            await bystander.next("chat_deleted", timeout=3, id=first_id)
            snapshot = (await host.get(f"/api/shows/{slug}")).json()
            assert [m["text"] for m in snapshot["chat"]] == ["message 1 <b>not bold</b>", "message 2 <b>not bold</b>"]
            # A muted buyer's chat is refused (another buyer: this one has used up its rate).
            muted_id, muted_token = await buyer(cluster.b.url, "Bo")
            bo = await Viewer.join(cluster.b.url, slug, f"?token={muted_token}")
            try:
                await bo.next("snapshot")
                assert (await host.post(f"/api/shows/{slug}/mutes", json={"buyer_id": muted_id})).status_code == 204
                await expect(bo, {"type": "chat", "text": "still here?"}, "muted")
                await expect(bo, {"type": "chat", "text": "hello?"}, "muted")
            finally:
                await bo.close()

            # Everyone is still connected and still gets changes.
            assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200
            for v in (bystander, anonymous, signed_in):
                await v.next("pin", timeout=3)
                assert v.close_code is None
        finally:
            for v in (bystander, anonymous, signed_in):
                await v.close()


async def test_close_codes(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        slug, product_id = await make_show(host, "codes")
    bystander = await Viewer.join(cluster.a.url, slug)
    try:
        await bystander.next("snapshot")

        big = await Viewer.join(cluster.a.url, slug, max_size=None)
        await big.next("snapshot")
        await big.send(json.dumps({"type": "chat", "text": "x" * 5000}))
        assert await big.closed(5) == 1009

        unknown = await Viewer.join(cluster.a.url, "no-such-show-here")
        assert await unknown.closed(5) == 4404

        stranger = await Viewer.join(cluster.a.url, slug, origin="https://evil.example")
        assert await stranger.closed(5) == 1008
        for origin in ("https://shop.example", cluster.a.url):  # allowed, and same host
            friend = await Viewer.join(cluster.a.url, slug, origin=origin)
            assert (await friend.next(timeout=3))["type"] == "snapshot"
            await friend.close()

        rude = await Viewer.join(cluster.a.url, slug)
        await rude.next("snapshot")
        for _ in range(30):
            try:
                await rude.send("{")
            except ConnectionClosed:
                break
        assert await rude.closed(5) == 1008

        await bystander.send({"type": "ping"})
        await bystander.next("pong", timeout=3)
        assert bystander.close_code is None
    finally:
        await bystander.close()


async def test_plain_http_to_the_socket_is_refused(cluster: Cluster) -> None:
    try:
        async with connect(cluster.a.url.replace("http", "ws") + "/ws/nowhere", open_timeout=5):
            raise AssertionError("connected to a route that does not exist")
    except InvalidStatus as exc:
        assert exc.response.status_code in (403, 404)


async def test_frames_are_parsed_strictly(cluster: Cluster) -> None:
    """A lone surrogate is valid to json.loads but to no database: it used to fail the chat
    insert and drop the socket (1006). It is malformed_frame now, as in an HTTP body, and the
    connection stays open; so is NUL, which PostgreSQL cannot store, and NaN."""
    async with cluster.host(cluster.a) as host:
        slug, _ = await make_show(host, "strict")
    _, token = await buyer(cluster.a.url, "Cy")
    bystander = await Viewer.join(cluster.a.url, slug)
    # ?after= in digits other than 0-9 is no usable position: a fresh snapshot, not an error.
    viewer = await Viewer.join(cluster.a.url, slug, f"?token={token}&after=%C2%B9")
    try:
        await bystander.next("snapshot")
        await viewer.next("snapshot")
        for frame in ('{"type": "chat", "text": "\\ud800"}', '{"type": "chat", "text": "hi \\udc00 there"}',
                      '{"type": "chat", "text": "nul \\u0000"}', '{"type": "react", "emoji": NaN}'):
            await viewer.send(frame)
            error = await viewer.next("error", timeout=3)
            assert error["code"] == "malformed_frame", (frame, error)
        # A surrogate pair is one real character and goes through.
        await viewer.send('{"type": "chat", "text": "ok \\ud83d\\ude00"}')
        chat = await bystander.next("chat", timeout=3)
        assert chat["text"] == "ok \U0001f600"
        await viewer.send({"type": "ping"})
        await viewer.next("pong", timeout=3)
        assert viewer.close_code is None
    finally:
        await viewer.close()
        await bystander.close()
