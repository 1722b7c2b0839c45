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
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from inventory.timeouts import within
from live.connection import SEND_FRAME
from web.app import create_app
from web.http_protocol import ClientDeadlines, deadline_protocol
from web.jobs import JobRunner
from web.livedrop import Livedrop, assemble
from web.metrics import mark_process_dead, probe_forever
from web.services import Services, open_services
from web.settings import Settings
from web.stopping import bounded_step
from web.uvicorn_seams import missing_names
from web.worker_http import serve_worker_http
from web.viewer_socket import ViewerSocket, viewer_socket_protocol
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


# uvicorn's default WebSocket keepalive (ws_ping_interval and ws_ping_timeout), kept for the viewer sockets.
VIEWER_PING_S = 20.0

# After the viewers' drain, how long requests still running (a checkout waiting on its payment
# provider, which livedrop bounds at 25 s per send) may take before they are cancelled.
REQUEST_GRACE_S = 30.0
# Then the lifespan's cleanup (jobs stopped, hub and stream reader closed, pools closed): about 0.3 s
# normally, up to 2.5 s for a job finishing its run (web.jobs). On a loaded two-core machine a drained
# process once sat more than 10 s after "drained in 2.52 s" without a word (CI, stop 28's session);
# the cleanup logs each step slower than a second, and past this bound the process exits without it
# (nothing is lost: Redis and SQL are written before a request answers; the viewers have moved).
LIFESPAN_GRACE_S = 6.0


# WebSocket connections: livedrop's viewer sockets (web.viewer_socket) and uvicorn's, for any other path.
_WEBSOCKETS = (ViewerSocket, WebSocketsSansIOProtocol)


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it, which would kill the process before our own
    cleanup (stopping the embedded redis-server) runs; we exit normally instead. Once a second it
    closes the connections whose request is late (web.http_protocol). On SIGTERM it drains
    (``shutdown``) instead of closing every viewer at once; a second SIGTERM or Ctrl-C stops at once."""

    def __init__(self, config: uvicorn.Config, deadlines: ClientDeadlines | None,
                 drain: Callable[[float], Awaitable[int]] | None = None, drain_s: float = 0.0) -> None:
        super().__init__(config)
        self.deadlines = deadlines  # None: uvicorn's own HTTP protocol, which keeps none
        self.drain = drain  # closes this process's viewers spread over drain_s (live.drain)
        self.drain_s = drain_s
        self.draining = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.should_exit:
            self.force_exit = True  # asked twice: stop now (viewers resume anyway; nothing is lost)
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, with a drain: stop accepting (the balancer's next connection goes to
        another process), let idle HTTP connections go and busy ones finish their request, close
        viewers with 1012 spread over ``drain_s`` so they resume elsewhere a few at a time, then
        wait for the requests still running (a checkout in flight completes), then the lifespan's
        cleanup."""
        self.draining = True
        started = time.monotonic()
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        viewers = [c for c in self.server_state.connections if isinstance(c, _WEBSOCKETS)]
        for connection in list(self.server_state.connections):
            if not isinstance(connection, _WEBSOCKETS):
                connection.shutdown()  # httptools: closes it if idle, else after this response
        log.info("draining: not accepting; %d viewer(s) to move over %.1f s, %d request(s) in flight",
                 len(viewers), self.drain_s, len(self.server_state.tasks) - len(viewers))
        if self.drain is not None and self.drain_s > 0 and not self.force_exit:
            drained = asyncio.ensure_future(self.drain(self.drain_s))
            while not drained.done() and not self.force_exit:
                await asyncio.wait({drained}, timeout=0.1)
            drained.cancel()
        for connection in list(self.server_state.connections):
            if isinstance(connection, _WEBSOCKETS):
                connection.shutdown()  # a viewer that joined mid-drain, or the drain was cut short: 1012 now
        await asyncio.sleep(0.1)
        try:
            await within(self._wait_tasks_to_complete(), REQUEST_GRACE_S)
        except TimeoutError:
            log.error("draining: cancelling %d request(s) still running after %.0f s", len(self.server_state.tasks), REQUEST_GRACE_S)
            for task in self.server_state.tasks:
                task.cancel(msg="livedrop: drain grace exceeded")
        log.info("drained in %.2f s", time.monotonic() - started)
        if not self.force_exit:
            try:
                await within(self.lifespan.shutdown(), LIFESPAN_GRACE_S)
            except TimeoutError:
                log.error("shutdown: the cleanup was still running after %.0f s; exiting without it", LIFESPAN_GRACE_S)

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
            log.warning("uvicorn %s lacks names livedrop's protocols use (%s): running uvicorn's own protocols instead "
                        "(frames sent per viewer, no request deadlines, an answer's head and body in two writes)",
                        uvicorn.__version__, ", ".join(missing))
        else:
            log.info("WebSocket fan-out: frames framed once per room (%s offered to the hub); viewer sockets on "
                     "livedrop's own protocol (web.viewer_socket)", SEND_FRAME)
        config = uvicorn_config(settings, app, deadlines, own_protocols=not missing)
        server = _Server(config, deadlines if not missing else None,
                         drain=lambda window_s: app.state.livedrop.hub.drain(window_s), drain_s=settings.drain_s)
        started = (tune_garbage_collector,) if after_start is None else (tune_garbage_collector, after_start)
        watcher = asyncio.create_task(_call_when_started(server, *started))
        await server.serve(sockets=[listening_socket(config, settings.socket_send_buffer)])
        watcher.cancel()
    finally:
        await services.close()
        mark_process_dead()


def uvicorn_config(settings: Settings, app: Any, deadlines: ClientDeadlines, *, own_protocols: bool = True) -> uvicorn.Config:
    """How `livedrop serve` runs uvicorn. ``own_protocols``: livedrop's protocol subclasses
    (web.uvicorn_seams checks that they fit this uvicorn); else uvicorn's own."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # httptools, closing requests that do not arrive in time (web.http_protocol), an answer's
        # head and body in one write (web.one_write)
        http=deadline_protocol(deadlines) if own_protocols else "httptools",
        timeout_keep_alive=settings.keep_alive_s,
        # /ws/shows/: livedrop's own protocol, no task per idle viewer (web.viewer_socket); any
        # other path: websockets-sansio, plus frames written once per room (web.ws_protocol)
        ws=viewer_socket_protocol(app, FanoutWebSocketProtocol, ping_interval=VIEWER_PING_S) if own_protocols else "websockets-sansio",
        ws_per_message_deflate=False,  # deflate costs 60-120 KiB per connection; live frames are small
        ws_max_size=4096,
        lifespan="on",
        log_level="info",
        # JSON logs: uvicorn's own loggers go through the root logger's JSON handler (web.logs);
        # text: uvicorn's usual lines.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        access_log=False,  # web.logs keeps a sampled one
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
    """The worker: background jobs only, holding the job lease while alive, until SIGTERM or
    Ctrl-C (then stopped as cleanly as `livedrop serve`)."""
    services = await open_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    run = asyncio.current_task()

    def on_signal() -> None:
        """The first signal stops the worker cleanly; a second one (the operator insists) cancels
        the cleanup, as uvicorn's second Ctrl-C does for serve."""
        if stop.is_set() and run is not None:
            run.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await run_worker(settings, services, assemble(settings, services), stop)
    except asyncio.CancelledError:
        log.warning("livedrop worker: a second signal cut the cleanup short")
    finally:
        await services.close()
        mark_process_dead()
        log.info("livedrop worker stopped")


async def run_worker(settings: Settings, services: Services, root: Livedrop, stop: asyncio.Event) -> None:
    """``root``'s jobs (under the job lease), the worker's HTTP and the metrics probe until
    ``stop``; then ``root``'s own cleanup, as serve's lifespan runs it (web.app). Without it the
    worker's outbox and offer listeners were left to die with the process, and a wake-up waiting
    to go to the other processes (live.redis_wake, coalesced for 20 ms) was not sent."""
    runner = JobRunner(services.redis, list(root.jobs), is_worker=True, outages=services.outages)
    log.info("livedrop worker started")
    http = asyncio.create_task(serve_worker_http(settings, services, runner, stop), name="worker-http")
    probes = asyncio.create_task(probe_forever(services), name="metrics-probe")
    try:
        await runner.run(stop)
    finally:
        stop.set()  # already set, unless the runner failed: the HTTP ends with it
        probes.cancel()
        await bounded_step("worker http and metrics probe", asyncio.gather(http, probes, return_exceptions=True))
        await root.stop()  # each step bounded (web.stopping)
