"""Where the media engine runs, behind one small async interface the HTTP routes use.

``ThreadedMedia`` runs the engine on its own event loop in a thread of this process, so the hub's
loop only awaits a future while aiortc negotiates, and RTP/RTCP, DTLS and frame scheduling never
queue behind WebSocket fan-out (aiortc's codecs already run in their own threads and release the
GIL in libav/libvpx). The other backend, the ``livedrop media`` process, lives in web (it speaks HTTP).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from inventory.timeouts import within
from live.media.engine import MediaConfig, MediaEngine, RecordingRequest, SessionAnswer
from live.media.ice import restrict_host_addresses, restrict_remote_addresses

T = TypeVar("T")


async def _awaited(awaitable: Awaitable[T]) -> T:
    """Any awaitable as a coroutine, which is what ``run_coroutine_threadsafe`` takes."""
    return await awaitable


class MediaBackend(Protocol):
    async def publish(self, slug: str, sdp: str, record: RecordingRequest | None = None) -> SessionAnswer: ...
    async def unpublish(self, slug: str, session_id: str) -> None: ...
    async def end_stream(self, slug: str) -> bool: ...
    async def play(self, slug: str, sdp: str) -> SessionAnswer: ...
    async def stop_viewer(self, slug: str, session_id: str) -> None: ...
    async def has_stream(self, slug: str) -> bool: ...
    async def stats(self) -> dict[str, Any]: ...
    async def close(self) -> None: ...


class ThreadedMedia:
    """A MediaEngine on a dedicated thread and loop; every call hops over and back."""

    CALL_TIMEOUT_S = 20.0

    def __init__(self, config: MediaConfig, on_end: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        """``on_end(slug, session_id)`` runs on the caller's loop when a stream ends by itself
        (the publisher's connection failed) as well as when it was ended."""
        restrict_host_addresses(config.host_addresses)
        restrict_remote_addresses(config.remote_addresses)
        self._loop = asyncio.new_event_loop()
        home = asyncio.get_running_loop() if on_end is not None else None

        def ended(slug: str, session_id: str) -> None:
            if on_end is not None and home is not None and not home.is_closed():
                asyncio.run_coroutine_threadsafe(_awaited(on_end(slug, session_id)), home)

        self._engine = MediaEngine(config, on_end=ended)
        self._thread = threading.Thread(target=self._loop.run_forever, name="livedrop-media", daemon=True)
        self._thread.start()

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await make()

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return await within(asyncio.wrap_future(future), self.CALL_TIMEOUT_S)

    async def publish(self, slug: str, sdp: str, record: RecordingRequest | None = None) -> SessionAnswer:
        return await self._call(lambda: self._engine.publish(slug, sdp, record))

    async def end_stream(self, slug: str) -> bool:
        return await self._call(lambda: self._engine.end_stream(slug))

    async def unpublish(self, slug: str, session_id: str) -> None:
        await self._call(lambda: self._engine.unpublish(slug, session_id))

    async def play(self, slug: str, sdp: str) -> SessionAnswer:
        return await self._call(lambda: self._engine.play(slug, sdp))

    async def stop_viewer(self, slug: str, session_id: str) -> None:
        await self._call(lambda: self._engine.stop_viewer(slug, session_id))

    async def has_stream(self, slug: str) -> bool:
        async def ask() -> bool:
            return self._engine.has_stream(slug)

        return await self._call(ask)

    async def stats(self) -> dict[str, Any]:
        async def ask() -> dict[str, Any]:
            return self._engine.stats()

        return await self._call(ask)

    async def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            await self._call(self._engine.close)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 10)
            if not self._thread.is_alive():
                self._loop.close()
