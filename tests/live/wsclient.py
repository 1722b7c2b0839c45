"""WebSocket clients for the live tests: a reading viewer (the ``websockets`` package) and a raw
one that never reads (a tiny receive buffer, so the server sees the stall at once)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class Viewer:
    """Collects every frame; ``next`` waits (bounded) for the next frame of a type."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # time.monotonic() per frame
        self._read = 0
        self.close_code: int | None = None
        self._task = asyncio.create_task(self._pump())

    @classmethod
    async def join(cls, base_url: str, slug: str, query: str = "", **kw: Any) -> "Viewer":
        url = base_url.replace("http://", "ws://") + f"/ws/shows/{slug}" + query
        return cls(await connect(url, open_timeout=5, **kw))

    async def _pump(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
                self.arrived.append(time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code

    async def next(self, type_: str | None = None, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while self._read < len(self.frames):
                frame = self.frames[self._read]
                self._read += 1
                if (type_ is None or frame["type"] == type_) and all(frame.get(k) == v for k, v in match.items()):
                    return frame
            if time.monotonic() > deadline:
                raise AssertionError(f"no {type_} frame {match} within {timeout}s; got {[f['type'] for f in self.frames]}")
            if self._task.done():
                raise AssertionError(f"closed ({self.close_code}) before a {type_} frame {match}")
            await asyncio.sleep(0.01)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == type_]

    def lasting(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if "seq" in f and f["type"] != "snapshot"]

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def closed(self, timeout: float = 5.0) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._task), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._task, return_exceptions=True)


class StalledClient:
    """Completes the handshake, then never reads. Its receive buffer is shrunk before connecting,
    so loopback's large buffers cannot hide the stall."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(1)  # byte by byte: leave every frame unread in the kernel
        assert self.buffer.startswith(b"HTTP/1.1 101"), self.buffer

    def read_until_close(self, timeout: float) -> tuple[int, int | None]:
        """Now read everything: (frames before the close, the close code)."""
        self.sock.settimeout(0.5)
        data = b""
        frames = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            data += chunk
            while True:
                parsed = _frame(data)
                if parsed is None:
                    break
                opcode, payload, data = parsed
                if opcode == 8:
                    return frames, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                frames += 1
        return frames, None

    def close(self) -> None:
        self.sock.close()


def _frame(data: bytes) -> tuple[int, bytes, bytes] | None:
    if len(data) < 2:
        return None
    opcode = data[0] & 0x0F
    length = data[1] & 0x7F
    offset = 2
    if length == 126:
        if len(data) < 4:
            return None
        length, offset = struct.unpack("!H", data[2:4])[0], 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, offset = struct.unpack("!Q", data[2:10])[0], 10
    if len(data) < offset + length:
        return None
    return opcode, data[offset:offset + length], data[offset + length:]
