"""The viewer sockets' keepalive (web.viewer_socket): one timer pings every viewer of the process;
a viewer that answers stays, one that does not is closed with 1011 at the next round (uvicorn's
rule). In-process uvicorn on the real app, with a 0.3 s round instead of 20 s."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import time

import httpx
import uvicorn

from tests.support import free_port
from web.viewer_socket import viewer_socket_protocol
from web.ws_protocol import FanoutWebSocketProtocol

ROUND_S = 0.3


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.data = reader, writer, b""

    @classmethod
    async def join(cls, port: int, path: str) -> "Client":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        self.writer.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask
                          + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def next(self, timeout: float) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        while True:
            length: int | None = None
            if len(self.data) >= 2:
                length, at = self.data[1] & 0x7F, 2
                if length == 126:  # the server's frames here are under 64 KiB
                    length, at = (struct.unpack("!H", self.data[2:4])[0], 4) if len(self.data) >= 4 else (None, 4)
                if length is not None and len(self.data) >= at + length:
                    opcode, payload = self.data[0] & 0x0F, self.data[at:at + length]
                    self.data = self.data[at + length:]
                    return opcode, payload
            chunk = await asyncio.wait_for(self.reader.read(65536), max(0.01, deadline - time.monotonic()))
            if not chunk:
                return -1, b""
            self.data += chunk


async def test_a_viewer_that_answers_pings_stays_one_that_does_not_is_closed_1011(app, client: httpx.AsyncClient,
                                                                                     host_token: str) -> None:
    auth = {"Authorization": f"Bearer {host_token}"}
    product = await client.post("/api/products", headers=auth, json={
        "title": "Runner", "description": "", "price_cents": 9900, "currency": "EUR",
        "variants": [{"sku": "KA-40", "label": "40", "stock": 5}]})
    assert product.status_code == 201, product.text
    assert (await client.post("/api/shows", headers=auth, json={"title": "Keepalive", "slug": "keepalive"})).status_code == 201
    assert (await client.post("/api/shows/keepalive/start", headers=auth)).status_code == 200

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                            ws=viewer_socket_protocol(app, FanoutWebSocketProtocol, ping_interval=ROUND_S))
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    viewers: list[Client] = []
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        polite = await Client.join(port, "/ws/shows/keepalive")
        quiet = await Client.join(port, "/ws/shows/keepalive")
        viewers = [polite, quiet]
        for viewer in viewers:
            assert (await viewer.next(5))[0] == 1  # the snapshot

        pings = 0
        deadline = time.monotonic() + 6 * ROUND_S
        while time.monotonic() < deadline:  # several rounds, each answered
            with contextlib.suppress(TimeoutError):
                opcode, payload = await polite.next(0.05)
                assert opcode in (1, 9), opcode  # a ping, or a state frame (viewers)
                if opcode == 9:
                    polite.send(10, payload)
                    pings += 1
        assert pings >= 3

        kinds = []  # pinged, never answers, closed: what it got since its snapshot
        while True:
            opcode, payload = await quiet.next(3 * ROUND_S)
            kinds.append(opcode)
            if opcode == 8:
                break
            assert opcode in (1, 9), opcode
        assert 9 in kinds
        assert struct.unpack("!H", payload[:2])[0] == 1011

        polite.send(1, b'{"type":"ping"}')  # still there, and served
        while True:
            opcode, payload = await polite.next(2)
            if opcode == 9:
                polite.send(10, payload)
            elif opcode == 1 and b'"pong"' in payload:
                break
    finally:
        for viewer in viewers:
            viewer.writer.close()
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
