"""Running the processes: the web server (uvicorn) and the worker, with clean shutdown on SIGTERM
and Ctrl-C so the embedded redis-server is never left behind."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import socket
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import uvicorn

from live.connection import SEND_FRAME
from web.app import create_app
from web.http_protocol import ClientDeadlines, deadline_protocol
from web.jobs import JobRunner
from web.livedrop import assemble
from web.services import Services, open_services
from web.settings import Settings
from web.uvicorn_seams import missing_names
from web.ws_protocol import FanoutWebSocketProtocol

log = logging.getLogger("livedrop")


def raise_open_files_limit() -> int:
    """Every WebSocket is a file descriptor; the usual soft limit of 1024 caps a show at ~1000 viewers."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listening_socket(config: uvicorn.Config, send_buffer: int) -> socket.socket:
    """uvicorn's socket, with a fixed kernel send buffer that accepted connections inherit. Left
    to autotuning, loopback and LAN connections grow theirs to megabytes: a viewer that stops
    reading would hold that much kernel memory, and the server would notice the stall (and close
    it with 1013) only after filling it."""
    sock = config.bind_socket()
    if send_buffer > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    return sock


# CPython's collector looks at the young generation every 700 net new container objects. Under a
# drop that is thousands of times a second, and each pass finds the objects of the requests in
# flight (their dicts, tuples, coroutines and futures) alive, moves them to an older generation and
# scans them again there: bench/drop.py measured this at about 40 % of a hold request's CPU. Most
# of what a request makes is freed by reference counting, which this count already nets out, so
# a higher threshold costs memory only for real cycles: at most some megabytes before a pass.
YOUNG_GENERATION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Called once the app has started: what exists now (the app, its routes, templates,
    settings, connection pools) lives as long as the process, so it is frozen out of every
    later pass (gc.freeze), and young passes are made rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, 20, 100)


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it, which would kill the process before our own
    cleanup (stopping the embedded redis-server) runs; we exit normally instead. Once a second it
    closes the connections whose request is late (web.http_protocol)."""

    def __init__(self, config: uvicorn.Config, deadlines: ClientDeadlines | None) -> None:
        super().__init__(config)
        self.deadlines = deadlines  # None: uvicorn's own HTTP protocol, which keeps none

    async def on_tick(self, counter: int) -> bool:
        if counter % 10 == 0 and self.deadlines is not None:  # uvicorn ticks every 0.1 s
            self.deadlines.sweep()
        return await super().on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


async def serve(
    settings: Settings,
    *,
    before_start: Callable[[Services], Awaitable[None]] | None = None,
    after_start: Callable[[], None] | None = None,
) -> None:
    raise_open_files_limit()
    services = await open_services(settings)
    try:
        if before_start is not None:
            await before_start(services)
        app = create_app(settings, services)
        deadlines = ClientDeadlines(settings.header_timeout_s, settings.body_timeout_s, settings.keep_alive_s)
        missing = missing_names()
        if missing:
            log.warning("uvicorn %s lacks names livedrop's protocols use (%s): running uvicorn's own protocols "
                        "instead (frames sent per viewer, no request deadlines)", uvicorn.__version__, ", ".join(missing))
        else:
            log.info("WebSocket fan-out: frames framed once per room (%s offered to the hub)", SEND_FRAME)
        config = uvicorn_config(settings, app, deadlines, own_protocols=not missing)
        server = _Server(config, deadlines if not missing else None)
        started = (tune_garbage_collector,) if after_start is None else (tune_garbage_collector, after_start)
        watcher = asyncio.create_task(_call_when_started(server, *started))
        await server.serve(sockets=[listening_socket(config, settings.socket_send_buffer)])
        watcher.cancel()
    finally:
        await services.close()


def uvicorn_config(settings: Settings, app: Any, deadlines: ClientDeadlines, *, own_protocols: bool = True) -> uvicorn.Config:
    """How `livedrop serve` runs uvicorn. ``own_protocols``: livedrop's protocol subclasses
    (web.uvicorn_seams checks that they fit this uvicorn); else uvicorn's own."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # httptools, closing requests that do not arrive in time (web.http_protocol)
        http=deadline_protocol(deadlines) if own_protocols else "httptools",
        timeout_keep_alive=settings.keep_alive_s,
        # websockets-sansio, plus frames written once per room (web.ws_protocol)
        ws=FanoutWebSocketProtocol if own_protocols else "websockets-sansio",
        ws_per_message_deflate=False,  # deflate costs 60-120 KiB per connection; live frames are small
        ws_max_size=4096,
        lifespan="on",
        log_level="info",
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=5,
        backlog=4096,
    )


async def _call_when_started(server: uvicorn.Server, *callbacks: Callable[[], None]) -> None:
    while not server.started:
        await asyncio.sleep(0.05)
    for callback in callbacks:
        callback()


async def work(settings: Settings) -> None:
    """The worker: background jobs only, holding the job lease while alive."""
    services = await open_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner = JobRunner(services.redis, list(assemble(settings, services).jobs), is_worker=True, outages=services.outages)
        log.info("livedrop worker started")
        await runner.run(stop)
    finally:
        await services.close()
        log.info("livedrop worker stopped")
