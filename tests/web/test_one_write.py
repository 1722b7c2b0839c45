"""One write per HTTP answer (web.one_write): an answer's head and body leave ``livedrop serve``
in one send, so they reach the client in one TCP segment; and everything uvicorn did with them
still holds (keep-alive, pipelining, HEAD, Connection: close, 100-continue, streamed answers,
refusals). When this uvicorn lacks a name it relies on, the fallback is uvicorn's own protocol.

Segments are counted by the client's kernel (TCP_INFO's tcpi_data_segs_in on the test's own raw
socket, loopback): the server's sockets have TCP_NODELAY, so each send() it makes is a segment of
its own; two sends (head, then body) are two. No part of the server is replaced or watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import struct
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from tests.support import LivedropProcess, free_port, host_token, livedrop_env
from web.http_protocol import ClientDeadlines
from web.server import uvicorn_config
from web.settings import Settings
from web.uvicorn_seams import missing_names

TCPI_DATA_SEGS_IN = 152  # offset of tcpi_data_segs_in in Linux's struct tcp_info (since 4.6)


def data_segments_in(sock: socket.socket) -> int:
    """Segments carrying data this socket has received (pure ACKs not counted)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, TCPI_DATA_SEGS_IN)[0])


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    segments: int  # data segments that brought it


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if (body or method in ("POST", "PUT")) and "Content-Length" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection over a raw socket, reading answers exactly."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.segments = data_segments_in(self.sock)

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_raw(request_bytes(method, path, headers, body))

    def send_raw(self, data: bytes) -> None:
        self.segments = data_segments_in(self.sock)  # what arrives from now on is the answer's
        self.sock.sendall(data)

    def answer(self, method: str = "GET") -> Answer:
        head = self._until(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        if method == "HEAD" or status in (100, 204, 304):
            body = b""
        elif headers.get("transfer-encoding") == "chunked":
            body = b"".join(self.chunks())
        else:
            body = self._exactly(int(headers["content-length"]))
        now = data_segments_in(self.sock)
        segments, self.segments = now - self.segments, now
        return Answer(status, headers, body, segments)

    def chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self._until(b"\r\n"), 16)
            chunk = self._exactly(size + 2)[:-2]
            if not size:
                return
            yield chunk

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Answer:
        self.send(method, path, headers, body)
        return self.answer(method)

    def closed_by_server(self) -> bool:
        return self.buffer == b"" and self.sock.recv(1) == b""

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def _until(self, mark: bytes) -> bytes:
        while mark not in self.buffer:
            self._more()
        found, _, self.buffer = self.buffer.partition(mark)
        return found

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._more()
        found, self.buffer = self.buffer[:n], self.buffer[n:]
        return found


# -- a real `livedrop serve` -------------------------------------------------------------------------


@dataclass
class Server:
    process: LivedropProcess
    slug: str
    buyer: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = livedrop_env(tmp_path_factory.mktemp("one-write"), LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE="1000000")
    token = host_token(env, "one-write@example.com")
    host = {"Authorization": f"Bearer {token}"}
    with LivedropProcess(["serve"], env) as process, httpx.Client(base_url=process.url, timeout=10) as http:
        product = http.post("/api/products", headers=host, json={
            "title": "Runner", "price_cents": 9000, "currency": "USD",
            "variants": [{"sku": "BIG-1", "label": "42", "stock": 10_000}, {"sku": "ONE-1", "label": "43", "stock": 1}]})
        assert product.status_code == 201, product.text
        slug = http.post("/api/shows", headers=host, json={"title": "One write"}).json()["slug"]
        assert http.post(f"/api/shows/{slug}/start", headers=host).status_code == 200
        assert http.put(f"/api/shows/{slug}/pin", headers=host, json={"product_id": product.json()["id"]}).status_code == 200
        offer = http.post(f"/api/shows/{slug}/offers", headers=host, json={
            "product_id": product.json()["id"], "price_cents": 8000, "duration_s": 3600, "per_customer_limit": 1000})
        assert offer.status_code == 201, offer.text
        buyer = http.post("/api/buyers", json={})
        assert buyer.status_code == 201, buyer.text
        yield Server(process, slug, buyer.json()["token"])


@pytest.fixture
def conn(server: Server) -> Iterator[Connection]:
    connection = Connection(server.process.port)
    yield connection
    connection.close()


def press_headers(server: Server, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.buyer}", "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json", **extra}


def test_hold_route_answers_are_one_segment_each_on_one_kept_alive_connection(server: Server, conn: Connection) -> None:
    path = f"/api/shows/{server.slug}/holds"
    answers = [conn.request("POST", path, press_headers(server), b'{"sku": "BIG-1", "quantity": 1}') for _ in range(20)]
    assert [a.status for a in answers] == [201] * 20, answers[0].body
    assert all(orjson.loads(a.body)["sku"] == "BIG-1" for a in answers)
    assert [a.segments for a in answers] == [1] * 20  # uvicorn's own protocol: 2 each (head, body)
    assert "connection" not in answers[-1].headers  # kept alive throughout

    sold = conn.request("POST", path, press_headers(server), b'{"sku": "ONE-1", "quantity": 1}')
    refused = conn.request("POST", path, press_headers(server), b'{"sku": "ONE-1", "quantity": 1}')
    assert (sold.status, refused.status) == (201, 409)
    assert orjson.loads(refused.body)["error"]["code"] in ("sold_out", "insufficient_stock")
    assert refused.segments == 1


def test_a_refused_body_is_one_segment_and_the_connection_serves_on(server: Server, conn: Connection) -> None:
    path = f"/api/shows/{server.slug}/holds"
    bad = conn.request("POST", path, press_headers(server), b'{"sku": "BIG-1", "quantity": 0}')
    assert bad.status == 422 and orjson.loads(bad.body)["error"]["code"] == "invalid_request"
    malformed = conn.request("POST", path, press_headers(server), b'{"sku": ')
    assert malformed.status == 400 and orjson.loads(malformed.body)["error"]["code"] == "malformed_json"
    assert (bad.segments, malformed.segments) == (1, 1)
    assert conn.request("GET", "/healthz").status == 200


def test_a_too_large_body_is_refused_in_one_segment_then_closed(server: Server, conn: Connection) -> None:
    path = f"/api/shows/{server.slug}/holds"
    conn.send("POST", path, {**press_headers(server), "Content-Length": str(10 * 1024 * 1024)})  # the body never comes
    too_large = conn.answer()
    assert too_large.status == 413 and orjson.loads(too_large.body)["error"]["code"] == "payload_too_large"
    assert too_large.headers["connection"] == "close" and too_large.segments == 1
    assert conn.closed_by_server()


def test_pipelined_requests_are_answered_in_order_one_segment_each(server: Server, conn: Connection) -> None:
    # Three requests in one send: uvicorn queues the second and third (their cycles made while
    # the first runs) and answers them in turn.
    path = f"/api/shows/{server.slug}/holds"
    press = b'{"sku": "BIG-1", "quantity": 2}'
    conn.send_raw(request_bytes("GET", "/healthz") + request_bytes("POST", path, press_headers(server), press)
                  + request_bytes("GET", "/nowhere"))
    first, second, third = conn.answer(), conn.answer(), conn.answer()
    assert (first.status, second.status, third.status) == (200, 201, 404)
    assert orjson.loads(first.body) == {"status": "ok"} and orjson.loads(second.body)["quantity"] == 2
    # The three may share segments (the kernel can bundle answers queued back to back), never
    # more than one each.
    assert first.segments + second.segments + third.segments <= 3


def test_head_gets_the_head_alone_and_the_connection_serves_on(server: Server, conn: Connection) -> None:
    got = conn.request("GET", "/healthz")
    head = conn.request("HEAD", "/healthz")
    assert head.status == 200 and head.headers["content-length"] == got.headers["content-length"]
    assert head.body == b"" and head.segments == 1
    after = conn.request("GET", "/healthz")  # no stray body bytes in front of this answer
    assert after.status == 200 and orjson.loads(after.body) == {"status": "ok"}


def test_connection_close_is_answered_in_one_segment_then_closed(server: Server, conn: Connection) -> None:
    answer = conn.request("GET", "/healthz", {"Connection": "close"})
    assert answer.status == 200 and answer.headers["connection"] == "close" and answer.segments == 1
    assert conn.closed_by_server()


def test_expect_100_continue_then_the_answer(server: Server, conn: Connection) -> None:
    path = f"/api/shows/{server.slug}/holds"
    body = b'{"sku": "BIG-1", "quantity": 1}'
    headers = press_headers(server, **{"Content-Length": str(len(body)), "Expect": "100-continue"})
    conn.send_raw(request_bytes("POST", path, headers))
    assert conn.answer().status == 100  # written while the route reads its body, before any answer
    conn.send_raw(body)
    held = conn.answer()
    assert held.status == 201 and held.segments == 1


def test_livedrop_serve_takes_its_own_protocols(server: Server) -> None:
    # The segment counts above are of livedrop's protocol, not of a fallback.
    assert "lacks names" not in server.process.output()


# -- uvicorn_config on loopback, in this process ---------------------------------------------------

RELEASE = asyncio.Event()


async def streamed(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        await RELEASE.wait()  # a stream's first chunk may be long in coming (an event feed)
        yield b"first,"
        yield b"second"

    return StreamingResponse(chunks(), media_type="text/plain")


async def small(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def empty(request: Request) -> Response:
    return Response(status_code=204)


async def big(request: Request) -> Response:
    return Response(b"x" * 300_000, media_type="application/octet-stream")


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


class HalfAnswer:
    """Starts an answer, then fails before its body (a raw ASGI app: Starlette would not)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        raise RuntimeError("a bug between the head and the body")


TOY = Starlette(routes=[Route("/stream", streamed), Route("/small", small), Route("/empty", empty), Route("/big", big),
                        Route("/broken", broken), Route("/half", HalfAnswer())])


@contextlib.asynccontextmanager
async def toy_server(tmp_path: Path, *, own_protocols: bool) -> AsyncIterator[int]:
    port = free_port()
    settings = Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), "LIVEDROP_PORT": str(port)})
    config = uvicorn_config(settings, TOY, ClientDeadlines(10, 30, 5), own_protocols=own_protocols)
    config.log_level = "critical"  # /broken's traceback is expected
    config.lifespan = "off"
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(250):
            if server.started:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("uvicorn did not start")
        yield port
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def in_thread(call: Any, *args: Any) -> Any:
    return await asyncio.to_thread(call, *args)


async def test_a_streamed_answer_s_head_goes_at_once_and_its_chunks_follow(tmp_path: Path) -> None:
    RELEASE.clear()
    async with toy_server(tmp_path, own_protocols=True) as port:
        conn = Connection(port)
        try:
            conn.send("GET", "/stream")
            # The head arrives while the first chunk is still waited on: not held for it.
            head = await in_thread(conn._until, b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head
            RELEASE.set()
            chunks = await in_thread(lambda: list(conn.chunks()))
            assert chunks == [b"first,", b"second"]
            after = await in_thread(conn.request, "GET", "/small")  # kept alive after the stream
            assert after.status == 200 and after.body == b'{"ok":true}' and after.segments == 1
        finally:
            conn.close()


async def test_empty_large_and_failed_answers(tmp_path: Path) -> None:
    async with toy_server(tmp_path, own_protocols=True) as port:
        conn = Connection(port)
        try:
            empty_answer = await in_thread(conn.request, "GET", "/empty")
            assert empty_answer.status == 204 and empty_answer.segments == 1
            large = await in_thread(conn.request, "GET", "/big")
            assert large.status == 200 and large.body == b"x" * 300_000
            failed = await in_thread(conn.request, "GET", "/broken")  # uvicorn's own 500, then closed
            assert failed.status == 500 and failed.body == b"Internal Server Error" and failed.segments == 1
            assert await in_thread(conn.closed_by_server)
        finally:
            conn.close()


async def test_a_failure_between_head_and_body_sends_the_head_then_closes(tmp_path: Path) -> None:
    # As uvicorn does: its head was written when the app started the answer; then it closes.
    async with toy_server(tmp_path, own_protocols=True) as port:
        conn = Connection(port)
        try:
            conn.send("GET", "/half")
            head = await in_thread(conn._until, b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"content-length: 5" in head
            assert await in_thread(conn.closed_by_server)
        finally:
            conn.close()


async def test_an_answer_leaves_no_garbage_behind(tmp_path: Path) -> None:
    # The cycle and its OneWrite refer to each other until the head is out; left so, each
    # request would be freed only by the cyclic collector, which livedrop serve runs rarely.
    async with toy_server(tmp_path, own_protocols=True) as port:
        conn = Connection(port)
        try:
            await in_thread(conn.request, "GET", "/small")
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for path in ("/small", "/empty", "/stream", "/small"):
                    RELEASE.set()
                    assert (await in_thread(conn.request, "GET", path)).status in (200, 204)
                gc.collect()
                left = [type(o).__name__ for o in gc.garbage if type(o).__name__ in ("OneWrite", "RequestResponseCycle")]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
            assert left == []
        finally:
            conn.close()


async def test_the_fallback_is_uvicorn_s_two_writes_and_still_answers(tmp_path: Path) -> None:
    # What livedrop serve runs when uvicorn lacks a name: uvicorn's own protocol. Also shows the
    # segment count above can fail: here each answer takes two.
    async with toy_server(tmp_path, own_protocols=False) as port:
        conn = Connection(port)
        try:
            answers = [await in_thread(conn.request, "GET", "/small") for _ in range(5)]
            assert [a.status for a in answers] == [200] * 5 and all(a.body == b'{"ok":true}' for a in answers)
            assert [a.segments for a in answers] == [2] * 5
        finally:
            conn.close()


def test_a_uvicorn_without_the_cycle_s_send_is_caught_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # As a uvicorn release that renamed it would be: serve then logs it and falls back (above).
    monkeypatch.delattr(RequestResponseCycle, "send")
    assert "RequestResponseCycle.send" in missing_names()
