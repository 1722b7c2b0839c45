"""A Redis Pub/Sub channel that wakes this process when another one has news: the part that
live.outbox_signal, live.offer_signal and live.stock_signal share.

``tell_others`` sends one message per ``coalesce_s`` at most (a burst shares it), tagged with this
process's ``origin``. ``listen`` subscribes, then calls ``news`` once subscribed (a message may
have been sent while we were not) and for every message from another process; after a failure it
calls ``lost``, waits ``RESUBSCRIBE_S`` and subscribes again. Redis being down is reported to the
outage log, or logged here. ``ensure_listening`` and ``aclose`` are the life cycle of a listener
started on demand (the outbox worker's and the offer clock's; the hub runs the stock one itself).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from inventory.faults import Outages
from inventory.redis_cluster import is_cluster
from inventory.timeouts import raise_if_cancelled

RESUBSCRIBE_S = 1.0
# A bounded wait for the next message: below the client's 15 s socket timeout, which would
# otherwise end a quiet subscription as if the connection had failed.
MESSAGE_WAIT_S = 5.0


class RedisWake:
    def __init__(self, redis: aioredis.Redis, channel: str, *, coalesce_s: float, log: logging.Logger, name: str,
                 news: Callable[[], None], lost: Callable[[], None] | None = None,
                 before_send: Callable[[], Awaitable[object]] | None = None, outages: Outages | None = None) -> None:
        """``name`` starts this channel's log lines; ``before_send`` runs before each message (a
        counter for those without a subscription), its failure ending that message as its own."""
        self.redis = redis
        self.channel = channel
        self.coalesce_s = coalesce_s
        self.log = log
        self.name = name
        self.news = news
        self.lost = lost
        self.before_send = before_send
        self.outages = outages
        self.origin = secrets.token_hex(6)  # our own messages are not news to us
        self.listening = False  # subscribed: messages from other processes arrive as they are sent
        self._send_at: asyncio.TimerHandle | None = None  # the next message, when one is waiting to go
        self._sends: set[asyncio.Task[None]] = set()
        self._closed = False
        self._listener: asyncio.Task[None] | None = None  # ``listen``, once ``ensure_listening`` started it

    # -- telling the others -----------------------------------------------------------------------

    def tell_others(self) -> None:
        """Send a message within ``coalesce_s`` (one for every call until it goes). Synchronous,
        never raises (called from commit hooks and after every stock script)."""
        if self._send_at is not None or self._closed:
            return
        try:
            self._send_at = asyncio.get_running_loop().call_later(self.coalesce_s, self._send_now)
        except RuntimeError:  # no loop (a synchronous tool, or a script run from one): their safety poll finds it
            pass

    def close(self) -> None:
        """Tell nothing more, and send what is waiting to go now (``sent`` waits for it)."""
        self._closed = True
        if self._send_at is not None:
            self._send_at.cancel()
            self._send_now()

    async def sent(self) -> None:
        """Wait for the messages on their way."""
        if self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)

    def _send_now(self) -> None:
        self._send_at = None
        task = asyncio.ensure_future(self._send())
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self) -> None:
        try:
            if self.before_send is not None:
                await self.before_send()
            await self.redis.publish(self.channel, self.origin)
        except RedisError as exc:
            # The other processes' safety poll finds the news; Redis being down is reported by
            # whoever meets it first.
            if self.outages is None or self.outages.report(exc, refused=False) is None:
                self.log.warning("%s: could not tell other processes (%s)", self.name, exc)

    # -- hearing them -----------------------------------------------------------------------------

    def ensure_listening(self, task_name: str) -> None:
        """Start ``listen`` as a task named ``task_name`` (once; again if it ended; never after a
        close). Called by the job that wants the news, so only a process running it subscribes."""
        if self._closed:
            return
        ended = self._listener
        if ended is not None and not ended.done():
            return
        if ended is not None and not ended.cancelled() and ended.exception() is not None:
            # listen only ends by a cancel, or when a hook (news, lost) raised in its except branch
            self.log.error("%s: the listener failed; starting it again", self.name, exc_info=ended.exception())
        self._listener = asyncio.create_task(self.listen(), name=task_name)

    async def aclose(self) -> None:
        """``close``, then stop the listener ``ensure_listening`` started and wait for both: the
        message waiting to go is sent before the listener's end is awaited (its Redis client closes
        next, and a slow listener must not hold the message back).

        Not bounded here: the app's cleanup runs it as a step bounded at 5 s that says where it
        waited (web.stopping; via web.livedrop.Livedrop.stop). A cancel redis-py swallowed ends the
        listener at its next look (``raise_if_cancelled``), within one ``MESSAGE_WAIT_S``."""
        self.close()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
        await self.sent()
        if listener is not None:
            await asyncio.wait({listener})

    async def listen(self) -> None:
        """Call ``news`` when another process has some. Runs until cancelled; resubscribes after a
        connection failure (and calls ``news`` once then: a message may have been missed)."""
        while True:
            raise_if_cancelled()  # redis-py may swallow the cancel that stops this loop (inventory.timeouts)
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                if is_cluster(self.redis):
                    # A cluster client's Pub/Sub picks its node from the slot map, which the client
                    # reads on its first command: without one yet, subscribe failed (KeyError: 5411,
                    # the stock channel's slot) and stock moved only by the slow poll.
                    await self.redis.initialize()
                await pubsub.subscribe(self.channel)
                self.listening = True
                self.news()  # sent while we were not subscribed: looked for once
                while True:
                    raise_if_cancelled()
                    message = await pubsub.get_message(timeout=MESSAGE_WAIT_S)
                    if message is not None and message.get("data") != self.origin:
                        self.news()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone or restarting: try again shortly (the owner polls meanwhile)
                if self.outages is None or self.outages.report(exc, refused=False) is None:
                    self.log.warning("%s: subscription lost (%s); resubscribing", self.name, exc)
                self.listening = False
                if self.lost is not None:
                    self.lost()
                await asyncio.sleep(RESUBSCRIBE_S)
            finally:
                self.listening = False
                try:
                    await pubsub.aclose()
                except Exception:  # closing a broken connection may fail too
                    pass
