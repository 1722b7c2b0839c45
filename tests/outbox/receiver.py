"""A webhook receiver on 127.0.0.1, as a shop would write one: a tiny Starlette app under uvicorn that
checks every delivery with ``standardwebhooks.Webhook(secret).verify`` and records what came.

``answers`` is a queue of statuses to answer with (then 200); ``hang`` makes the next request wait
until released, so a test can kill the worker while a delivery is on the wire."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: Any  # the parsed body when the signature verified, else None
    error: str | None


@dataclass
class Receiver:
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    hang: asyncio.Event | None = None
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            verified, error = Webhook(self.secret).verify(body, headers), None
        except Exception as exc:  # recorded: the test asserts every delivery verified
            verified, error = None, f"{type(exc).__name__}: {exc}"
        self.received.append(Received(headers, body, verified, error))
        self.arrived.set()
        if self.hang is not None:
            hang, self.hang = self.hang, None
            await hang.wait()
        status = self.answers.pop(0) if self.answers else 200
        return Response(status_code=status)

    async def wait_for(self, count: int, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def serve_receiver(receiver: Receiver) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                          timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            receiver.url = f"http://127.0.0.1:{port}/hook"
            return server, task
        await asyncio.sleep(0.02)
    raise AssertionError("the receiver did not start")


class ThreadedReceiver:
    """The receiver on a thread of its own (for tests that are not async: the browser tests)."""

    def __init__(self) -> None:
        import threading

        self.receiver = Receiver()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server, task = await serve_receiver(self.receiver)
        self._ready.set()
        await task

    def __enter__(self) -> Receiver:
        self._thread.start()
        assert self._ready.wait(10), "the receiver did not start"
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        if self._server is not None and self._loop is not None:
            server = self._server

            def stop() -> None:
                server.should_exit = server.force_exit = True

            self._loop.call_soon_threadsafe(stop)
        self._thread.join(10)
