"""A TCP proxy in front of the test Redis that can drop a connection the way a restarted Redis
drops an idle pooled one: the client's next command is taken and the connection closed, with the
command never passed on. The client learns its connection was dead only once it has written."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class DroppingProxy:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.drop_next = False  # set: the next command from any client closes its connection unsent
        self.connections = 0  # client connections accepted so far
        self.dropped = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def db(self) -> int:
        """The database of the Redis behind (CI's second pass uses /9, not 0)."""
        parts = urlsplit(self.redis_url)
        if parts.scheme == "unix":
            query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
            return int(query.get("db", 0))
        return int(parts.path.strip("/") or 0)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    async def __aenter__(self) -> DroppingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self.redis_url)
        if parts.scheme == "unix":
            return await asyncio.open_unix_connection(parts.path)
        return await asyncio.open_connection(parts.hostname, parts.port or 6379)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        server_reader, server_writer = await self._upstream()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        back = asyncio.ensure_future(self._pump(server_reader, client_writer))
        try:
            while data := await client_reader.read(65536):
                if self.drop_next:
                    self.drop_next = False
                    self.dropped += 1
                    return
                server_writer.write(data)
                await server_writer.drain()
        finally:
            back.cancel()
            for writer in (client_writer, server_writer):
                writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
