"""A graceful drain: 300 viewers of a process sent SIGTERM resume on another process within the
drain window and miss no event; a checkout in flight on it completes.

A third `livedrop serve` (C) joins the package's two on the same Redis and database; viewers join
C, C gets SIGTERM while the host keeps publishing through B, and each viewer closed with 1012
resumes on B with ``?after=<last seq>``, as it would through a balancer once C stops accepting.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support import LivedropProcess
from tests.web.buying import checkout_body

from .conftest import Cluster, buyer, make_show

VIEWERS = 300
DRAIN_S = 3.0


@dataclass
class Resumer:
    """A viewer that follows seq, and on a 1012 resumes at ``elsewhere`` with ?after=."""

    slug: str
    seqs: list[int] = field(default_factory=list)
    first_seq: int = -1
    close_code: int | None = None
    closed_at: float = 0.0
    resumed_at: float = 0.0
    joined: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, first_url: str, elsewhere: str, stop: asyncio.Event) -> None:
        url = first_url.replace("http://", "ws://") + f"/ws/shows/{self.slug}"
        async with connect(url, open_timeout=20, close_timeout=1) as ws:
            try:
                async for raw in ws:
                    self._take(json.loads(raw))
            except ConnectionClosed:
                pass
            self.close_code = ws.close_code
            self.closed_at = time.monotonic()
        if self.close_code != 1012:
            return
        after = self.seqs[-1] if self.seqs else self.first_seq
        url = elsewhere.replace("http://", "ws://") + f"/ws/shows/{self.slug}?after={after}"
        async with connect(url, open_timeout=20, close_timeout=1) as ws:
            self.resumed_at = time.monotonic()
            reader = asyncio.ensure_future(self._read(ws))
            await stop.wait()
            reader.cancel()

    async def _read(self, ws) -> None:  # type: ignore[no-untyped-def]
        async for raw in ws:
            self._take(json.loads(raw))

    def _take(self, frame: dict) -> None:  # type: ignore[type-arg]
        if frame["type"] == "snapshot":
            self.first_seq = frame["seq"]
            self.joined.set()
        elif "seq" in frame:
            self.seqs.append(frame["seq"])


def start_checkout(port: int, hold_id: str, token: str) -> tuple[socket.socket, bytes]:
    """A checkout whose request is in flight: the head and half the body sent, the rest held back."""
    body = json.dumps(checkout_body(email="drain@example.com")).encode()
    head = (f"POST /api/holds/{hold_id}/checkout HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(head + body[: len(body) // 2])
    return sock, body[len(body) // 2:]


def finish_checkout(sock: socket.socket, rest: bytes) -> tuple[int, dict]:  # type: ignore[type-arg]
    sock.sendall(rest)
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def test_sigterm_drains_viewers_to_another_process_and_finishes_a_checkout(cluster: Cluster) -> None:
    b = cluster.b
    async with cluster.host(b) as host:
        slug, product_id = await make_show(host, "drain")
        assert (await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})).status_code == 200
    c = LivedropProcess(["serve"], {**cluster.env, "LIVEDROP_DRAIN_SECONDS": str(DRAIN_S)}).start()
    stop = asyncio.Event()
    viewers = [Resumer(slug) for _ in range(VIEWERS)]
    tasks = [asyncio.ensure_future(v.run(c.url, b.url, stop)) for v in viewers]
    try:
        await asyncio.wait_for(asyncio.gather(*(v.joined.wait() for v in viewers)), 60)
        _, token = await buyer(c.url)
        async with httpx.AsyncClient(base_url=c.url, timeout=10) as client:
            held = await client.post(f"/api/shows/{slug}/holds", json={"sku": f"{slug}-40", "quantity": 1},
                                     headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "drain-1"})
        assert held.status_code == 201, held.text
        checkout, rest = start_checkout(c.port, held.json()["hold_id"], token)

        async with cluster.host(b) as host:
            assert c.proc is not None
            sent_at = time.monotonic()
            c.proc.send_signal(signal.SIGTERM)
            # Lasting events all through the drain, made through B: every viewer must see each once.
            published = 0
            while c.proc.poll() is None and time.monotonic() - sent_at < DRAIN_S + 10:
                path = f"/api/shows/{slug}/pin"
                answer = await (host.delete(path) if published % 2 == 0 else host.put(path, json={"product_id": product_id}))
                assert answer.status_code in (200, 204), answer.text
                published += 1
                if published == 3:  # the drain is under way: the checkout's request ends now
                    status, order = await asyncio.to_thread(finish_checkout, checkout, rest)
                    assert status == 201 and order["status"] == "paid", (status, order)
                await asyncio.sleep(0.1)
            exited_at = time.monotonic()
            assert c.proc.poll() == 0, c.output()
            # The drain took about its window (closes spread over it), not 0.17 s, and not much longer.
            assert DRAIN_S * 0.8 <= exited_at - sent_at <= DRAIN_S + 5, exited_at - sent_at
            # Events all through the window: 3 s at one pin every 0.1 s plus its round trip gives
            # 13-25 on a quiet machine; CI at load 6 managed 7 (each round trip ~0.3 s). Fewer than
            # one a second would no longer test resuming mid-drain.
            assert published >= DRAIN_S, published
            final = await host.delete(f"/api/shows/{slug}/pin") if published % 2 == 0 else \
                await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})
            assert final.status_code in (200, 204)
        last = viewers[0].first_seq + published + 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(v.seqs and v.seqs[-1] >= last for v in viewers):
            await asyncio.sleep(0.05)

        gaps = sorted(v.resumed_at - v.closed_at for v in viewers if v.resumed_at)
        print(f"drain: resume gaps p50 {gaps[len(gaps) // 2]:.3f} max {gaps[-1]:.3f}; "
              f"last resume {max(v.resumed_at for v in viewers) - sent_at:.2f} s; exit {exited_at - sent_at:.2f} s")
        for v in viewers:
            assert v.close_code == 1012
            # Moved within the window: the last close is at 80 % of it and a resume takes ~10 ms (max
            # ~0.25 s here); the 1 s of slack is for this test's own loop, which runs all 300 clients
            # on a shared 2-core machine (one run saw a resume recorded 1.2 s after its close).
            assert v.resumed_at - sent_at <= DRAIN_S + 1.0
            assert v.seqs == list(range(v.first_seq + 1, last + 1)), (v.first_seq, v.seqs)  # none missed, none twice
        closes = sorted(v.closed_at - sent_at for v in viewers)
        # Spread over the window, not all at once: a tenth of them in any tenth of the window, about.
        assert closes[-1] - closes[0] >= DRAIN_S * 0.6, (closes[0], closes[-1])
        # Half of them not before 30 % of the window has passed (evenly spread, the middle close is at
        # 40 %). Counted from the signal, not from the first close: CI once saw the first close 0.34 s
        # late at load 6 while the middle one came on time (1.23 s), and 'middle minus first' fell short.
        assert closes[VIEWERS // 2] >= DRAIN_S * 0.3, (closes[0], closes[VIEWERS // 2])
        assert closes[-1] <= DRAIN_S, closes[-1]  # the last close leaves time to resume within the window
        assert "draining: not accepting" in c.output()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        c.stop()
