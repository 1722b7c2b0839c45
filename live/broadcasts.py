"""A show's video as the server sees it: publishing (WHIP) and playing (WHEP) through the media
backend, and what a stream's start and end mean for the show (the stream clock that stamps events
with ``media_ms``, the recording of the replay). Knows no HTTP: web/routes/media.py speaks WHIP and
WHEP and calls this.

The backend (``live.media.MediaBackend``: the engine on a thread of this process, or the `livedrop
media` process over loopback) is made on first use, so a process that never sees video never
loads aiortc; it is made without awaiting anything, so two first requests cannot make two.
Refusals are the engine's (``live.media.MediaError``, a Refusal: 400 malformed_sdp, 409
stream_taken, 404, 503 media_full, 503 unavailable); a backend that does not answer in time is
503 unavailable too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.clock import now_ms
from live.media.engine import MediaError, NoSession, RecordingRequest, SessionAnswer
from live.media.runner import MediaBackend
from live.models import Show
from live.recordings import StreamClock, add_recording, finish_recording, recording_file
from live.shows import show_by_slug

log = logging.getLogger("livedrop.media")

STATUS_CACHE_S = 2.0  # every waiting viewer page asks GET /whep/{slug}: answer most from memory
STATUS_CACHED = 10_000  # slugs remembered at most; past it the cache starts over

# Makes the backend; the callback is for streams that end by themselves (see ThreadedMedia).
BackendFactory = Callable[[Callable[[str, str], Awaitable[None]]], MediaBackend]
T = TypeVar("T")


class Broadcasts:
    def __init__(
        self,
        redis: aioredis.Redis,
        sessions: async_sessionmaker,
        make_backend: BackendFactory,
        *,
        remote: bool,
        record: bool,
        announce: Callable[[int, bool], Awaitable[object]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = StreamClock(redis)
        self._make_backend = make_backend
        self._remote = remote  # `livedrop media` runs the streams, whether or not this process made a backend
        self._record = record
        self._announce = announce  # tells viewers (a `video` event) that the stream started or stopped
        self._backend: MediaBackend | None = None
        self._status: dict[str, tuple[float, bool]] = {}  # slug -> (valid until, has a stream)
        # Bumped whenever this process starts or ends a show's stream: an answer the backend gave
        # while that happened is not remembered (a viewer page asking GET /whep/{slug} as the
        # stream ended could otherwise keep "live" in the cache for STATUS_CACHE_S after it).
        self._changes = 0
        self._publishing: dict[str, tuple[int, int]] = {}  # publishing session id -> (show id, stream start)

    def backend(self) -> MediaBackend:
        if self._backend is None:
            self._backend = self._make_backend(self._ended_by_itself)
        return self._backend

    async def close(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.close()

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, show: Show, offer: str) -> SessionAnswer:
        """The host's WHIP offer for ``show`` (theirs, not ended: the caller checked)."""
        # Time 0 of the recording and of every event's media_ms: one instant, chosen here.
        started_at = now_ms()
        record = RecordingRequest(recording_file(show.id, started_at), started_at) if self._record else None
        answer = await _answered(self.backend().publish(show.slug, offer, record))
        self._publishing[answer.session_id] = (show.id, started_at)
        self._changed(show.slug)
        await self._started(show.id, started_at, record is not None)
        return answer

    async def unpublish(self, show: Show, session_id: str) -> None:
        self._changed(show.slug)
        try:
            await _answered(self.backend().unpublish(show.slug, session_id))
        except NoSession:
            # Unless the stream had already ended by itself (the publisher's connection closed
            # before its DELETE came, as a browser's does when the host stops): in `livedrop media`
            # nobody told this process, so its end is recorded below, and the host is answered OK.
            if self._publishing.get(session_id, (None,))[0] != show.id:
                raise
        finally:
            self._changed(show.slug)
        known = self._publishing.pop(session_id, None)
        await self._ended(show.id, known[1] if known else None)  # another process accepted it: whichever runs

    async def show_ended(self, slug: str) -> None:
        """The show ended: its video stops (and its recording is finished) whoever publishes it.
        A process that never made a backend has no stream here, unless `livedrop media` runs it."""
        async with self.sessions() as session:
            show = await show_by_slug(session, slug)
        if show is None:
            return
        if self._remote or self._backend is not None:
            self._changed(slug)
            try:
                await _answered(self.backend().end_stream(slug))
            except MediaError as exc:  # the show is over either way; a replay may lack its last seconds
                log.warning("show %s ended but its stream could not be stopped: %s", slug, exc.message)
            self._changed(slug)
        await self._ended(show.id, None)

    async def _ended_by_itself(self, slug: str, session_id: str) -> None:
        # The engine ended a stream (its publisher's connection failed, or it was ended): stop
        # stamping events against it. Only in-process: `livedrop media` cannot call back, so there
        # the WHIP DELETE or the show's end does it (docs/operations.md).
        self._changed(slug)
        known = self._publishing.pop(session_id, None)
        if known is not None:
            await self._ended(known[0], known[1])

    def _changed(self, slug: str) -> None:
        self._changes += 1
        self._status.pop(slug, None)

    async def _started(self, show_id: int, started_at: int, recorded: bool) -> None:
        """A publisher was accepted: events are stamped against ``started_at`` from now on."""
        await self.clock.start(show_id, started_at)
        if self._announce is not None:
            await self._announce(show_id, True)
        if recorded:
            async with self.sessions() as session:
                await add_recording(session, show_id, started_at)
                await session.commit()

    async def _ended(self, show_id: int, started_at: int | None) -> None:
        """The stream that started at ``started_at`` (None: whichever runs) is over."""
        stopped = await self.clock.stop(show_id, started_at)
        if self._announce is not None and stopped:
            await self._announce(show_id, False)
        async with self.sessions() as session:
            await finish_recording(session, show_id, started_at, now_ms())
            await session.commit()

    # -- playing -------------------------------------------------------------------------------

    async def play(self, slug: str, offer: str) -> SessionAnswer:
        return await _answered(self.backend().play(slug, offer))

    async def stop_playing(self, slug: str, session_id: str) -> None:
        await _answered(self.backend().stop_viewer(slug, session_id))

    async def has_stream(self, slug: str) -> bool:
        """Whether the show has a stream now: the viewer page asks before (and while) it offers."""
        now = time.monotonic()
        known = self._status.get(slug)
        if known is not None and known[0] > now:
            return known[1]
        changes = self._changes
        live = await _answered(self.backend().has_stream(slug))
        if changes == self._changes:  # no stream started or ended meanwhile: the answer holds
            if len(self._status) > STATUS_CACHED:
                self._status.clear()
            self._status[slug] = (now + STATUS_CACHE_S, live)
        return live


async def _answered(call: Awaitable[T]) -> T:
    try:
        return await call
    except asyncio.TimeoutError:
        raise MediaError() from None
