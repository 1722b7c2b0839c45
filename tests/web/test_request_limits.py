"""What a client may make a running server hold: a 100 MB body to any route is refused without the
process growing more than a few MiB, and a request that dribbles in (slowloris) is closed.

A real ``livedrop serve`` on loopback, spoken to over raw sockets: an HTTP client library would
refuse to send a body this large, or buffer it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import LivedropProcess, host_token, livedrop_env

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = 64 * 1024
HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 2
KEEP_ALIVE_S = 1


@dataclass
class Server:
    process: LivedropProcess
    token: str
    slug: str

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("limits")
    env = livedrop_env(
        data_dir,
        LIVEDROP_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT_S),
        LIVEDROP_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_S),
        LIVEDROP_KEEP_ALIVE_SECONDS=str(KEEP_ALIVE_S),
        LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000",
    )
    token = host_token(env, "limits@example.com")
    with LivedropProcess(["serve"], env) as process:
        show = httpx.post(process.url + "/api/shows", json={"title": "Limits"}, headers=_auth(token), timeout=10)
        assert show.status_code == 201, show.text
        yield Server(process, token, show.json()["slug"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.process.port), timeout=10)
    return sock


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answer(sock: socket.socket) -> bytes:
    """What the server answered before it closed (b"" when it reset the connection first)."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except OSError:
        pass
    return answer


def _send_until_refused(sock: socket.socket, piece: bytes, total: int) -> int:
    """Sends ``piece`` until ``total`` bytes went or the server closed the connection; returns
    how many bytes the socket took."""
    sent = 0
    try:
        while sent < total:
            sock.sendall(piece)
            sent += len(piece)
    except OSError:  # reset or broken pipe: the server closed it
        pass
    return sent


def declared_100_mb(server: Server, path: str, headers: dict[str, str]) -> None:
    """Content-Length: 100 MB. The 413 comes before a byte of the body is sent, and the
    connection is closed: the body never gets in."""
    with _connect(server) as sock:
        sock.sendall(_head(path, {**headers, "Content-Length": str(HUNDRED_MB)}))
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 413 "), (path, first[:200])
        assert b"payload_too_large" in first + _peek(sock), path
        sent = _send_until_refused(sock, b"x" * CHUNK, HUNDRED_MB)
        assert sent < 32 * 1024 * 1024, f"{path}: the server took {sent} bytes of a refused body"


def _peek(sock: socket.socket) -> bytes:
    sock.settimeout(2)
    try:
        return sock.recv(65536)
    except OSError:
        return b""
    finally:
        sock.settimeout(10)


def chunked_100_mb(server: Server, path: str, headers: dict[str, str], opening: bytes, refusal: bytes) -> None:
    """No Content-Length, 100 MB in chunks: counted as it streams, refused past the limit."""
    with _connect(server) as sock:
        sock.sendall(_head(path, {**headers, "Transfer-Encoding": "chunked"}))
        sock.sendall(f"{len(opening):x}\r\n".encode() + opening + b"\r\n")
        piece = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
        sent = _send_until_refused(sock, piece, HUNDRED_MB)
        # The kernel's buffers on both ends take a few MiB before the server's close is felt.
        assert sent < 32 * 1024 * 1024, f"{path}: the server read {sent} bytes of a chunked body"
        answer = _read_answer(sock)
        # Closing with body bytes unread resets the connection, which may lose the 413 on its
        # way: an answer, when one arrived, is the 413.
        assert answer == b"" or answer.startswith(b"HTTP/1.1 " + refusal), (path, answer[:200])


# A multipart form whose file part then goes on and on (the panel's CSV upload).
CSV_PART = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\ntitle,sku,size,stock,currency\r\n")


def routes(server: Server) -> list[tuple[str, dict[str, str], bytes, bytes]]:
    """(path, headers, how the body starts, the status that refuses it when chunked); the rest of
    each body is b"x" * 100 MB."""
    host = _auth(server.token)
    return [
        ("/api/buyers", {"Content-Type": "application/json"}, b'{"name": "', b"413"),  # anonymous
        ("/api/products", {**host, "Content-Type": "application/json"}, b'{"title": "', b"413"),  # a host JSON route
        ("/api/products/import", {**host, "Content-Type": "multipart/form-data; boundary=xyz"}, CSV_PART, b"413"),
        ("/api/products/import", {**host, "Content-Type": "text/csv"}, CSV_PART.rsplit(b"\r\n\r\n", 1)[1], b"413"),
        (f"/whip/{server.slug}", {**host, "Content-Type": "application/sdp"}, b"v=0\r\n", b"413"),  # SDP
        # The sign-in form: its field's own bound (8 KiB) comes first.
        ("/host/login", {"Content-Type": "application/x-www-form-urlencoded"}, b"email=", b"400"),
        ("/no/such/route", {"Content-Type": "application/json"}, b"{", b"404"),
    ]


def test_a_100_mb_body_is_refused_without_the_process_growing(server: Server) -> None:
    # Warm up: every route once with a chunked body under its limit, so what a first request
    # loads or allocates once (imports, pools, buffers) is in the baseline. Not UTF-8, so each
    # route refuses it after reading it (the SDP never reaches the media engine).
    for path, headers, _, _ in routes(server):
        with _connect(server) as sock:
            sock.sendall(_head(path, {**headers, "Transfer-Encoding": "chunked"}))
            _send_until_refused(sock, f"{CHUNK:x}\r\n".encode() + b"\xff" * CHUNK + b"\r\n", 2 * CHUNK)
            _send_until_refused(sock, b"0\r\n\r\n", 1)  # unless the route answered (and closed) early
            _read_answer(sock)
    before = rss_kib(server.pid)
    started = time.monotonic()

    for path, headers, opening, refusal in routes(server):
        declared_100_mb(server, path, headers)
        chunked_100_mb(server, path, headers, opening, refusal)

    grown = rss_kib(server.pid) - before
    assert grown < 4 * 1024, f"the process grew by {grown} KiB"
    assert time.monotonic() - started < 60
    # And the server still serves.
    assert httpx.get(server.process.url + "/healthz", timeout=5).status_code == 200


def test_a_body_under_the_limit_still_arrives_chunked(server: Server) -> None:
    """The counting does not refuse what it should let through."""
    body = b'{"name": "' + b"a" * 30 + b'"}'
    with _connect(server) as sock:
        sock.sendall(_head("/api/buyers", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
        sock.sendall(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]


async def test_requests_that_dribble_in_are_closed(server: Server) -> None:
    """Slowloris: 50 connections dribbling a request head, 10 saying nothing, 10 sending blank
    lines after a first request, 10 stalling in a body. All are closed within the header (or
    body) timeout plus the once-a-second sweep, while ordinary requests are served."""
    port = server.process.port

    async def dribble(opening: bytes, drip: bytes | None) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(opening)
        try:
            while time.monotonic() - started < 15:
                try:
                    if not await asyncio.wait_for(reader.read(65536), 0.5):  # closed by the server
                        return time.monotonic() - started
                except asyncio.TimeoutError:
                    pass
                if drip is not None:
                    writer.write(drip)
                    await writer.drain()
        except OSError:
            return time.monotonic() - started
        finally:
            writer.close()
        return float("inf")  # still open

    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    kept_alive = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    stalled_body = (b"POST /api/buyers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{")
    clients = [
        *(dribble(head, b"X-Slow: 1\r\n") for _ in range(50)),
        *(dribble(b"", None) for _ in range(10)),
        *(dribble(kept_alive, b"\r\n") for _ in range(10)),
        *(dribble(stalled_body, None) for _ in range(10)),
    ]
    slow = asyncio.gather(*clients)

    async with httpx.AsyncClient(base_url=server.process.url, timeout=5) as http:
        served = 0
        while not slow.done():
            assert (await http.get("/healthz")).status_code == 200
            served += 1
            await asyncio.sleep(0.2)
    lasted = await slow
    assert served >= 5
    heads, silent, blank_lines, bodies = lasted[:50], lasted[50:60], lasted[60:70], lasted[70:]
    bound = HEADER_TIMEOUT_S + 1.5  # the sweep runs once a second
    assert max(heads) < bound, heads
    assert max(silent) < bound, silent
    assert max(bodies) < BODY_TIMEOUT_S + 1.5, bodies
    assert max(blank_lines) < KEEP_ALIVE_S + HEADER_TIMEOUT_S + 1.5, blank_lines
    # Not closed at once, either: the bound is the configured one.
    assert min(heads + silent) > HEADER_TIMEOUT_S - 0.5, heads + silent
