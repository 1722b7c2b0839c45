"""live.redis_wake, the Pub/Sub part of the stock, outbox and offer signals, on the real Redis: a
burst is one message, our own messages are no news, a lost subscription is reported and comes back
with news (one may have been missed), a closing process sends what was waiting to go, and the
listener started on demand is started once and ended by ``aclose``."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from live.redis_wake import RedisWake

log = logging.getLogger("tests.redis_wake")
NAME = "redis-wake-test"  # the listener's connections, so that the test cuts its own and nobody else's


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


class Heard:
    """Every message on the channel, whoever sent it."""

    def __init__(self, pubsub: aioredis.client.PubSub) -> None:
        self.pubsub = pubsub
        self.origins: list[str] = []

    async def next(self) -> str:
        async with asyncio.timeout(5):
            while True:
                message = await self.pubsub.get_message(timeout=1.0)
                if message is not None:
                    self.origins.append(message["data"])
                    return str(message["data"])


@pytest.fixture
def channel() -> str:
    return f"ld:test:wake:{uuid.uuid4().hex}"  # the shared Redis: a channel of this test's own


@pytest.fixture
async def heard(shared_redis: aioredis.Redis, channel: str) -> AsyncIterator[Heard]:
    pubsub = shared_redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    yield Heard(pubsub)
    await pubsub.aclose()


async def test_a_burst_is_one_message_our_own_are_no_news_and_a_lost_subscription_comes_back(
        shared_redis: aioredis.Redis, redis_url: str, channel: str, heard: Heard) -> None:
    listener = aioredis.Redis.from_url(redis_url, decode_responses=True, client_name=NAME)
    news: list[int] = []
    lost: list[int] = []
    here = RedisWake(listener, channel, coalesce_s=0.01, log=log, name="here",
                     news=lambda: news.append(1), lost=lambda: lost.append(1))
    there = RedisWake(shared_redis, channel, coalesce_s=0.01, log=log, name="there", news=lambda: None)
    listening = asyncio.create_task(here.listen())
    try:
        await until(lambda: here.listening)
        assert len(news) == 1  # subscribed: something may have been sent meanwhile

        for _ in range(100):
            there.tell_others()
        assert await heard.next() == there.origin
        await until(lambda: len(news) == 2)
        here.tell_others()  # our own: no news to us
        assert await heard.next() == here.origin
        there.tell_others()
        assert await heard.next() == there.origin
        await until(lambda: len(news) == 3)
        assert heard.origins == [there.origin, here.origin, there.origin]  # the burst of 100 was one message
        assert len(news) == 3

        [mine] = [c for c in await shared_redis.client_list(_type="pubsub") if c["name"] == NAME]
        await shared_redis.client_kill_filter(_id=mine["id"])
        await until(lambda: lost == [1])
        await until(lambda: here.listening and len(news) == 4)  # back, and told to look once
        there.tell_others()
        await until(lambda: len(news) == 5)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await listener.aclose()
    assert not here.listening


async def test_closing_sends_what_was_waiting_to_go_and_nothing_after(shared_redis: aioredis.Redis, channel: str, heard: Heard) -> None:
    slow = RedisWake(shared_redis, channel, coalesce_s=60.0, log=log, name="slow", news=lambda: None)
    slow.tell_others()
    slow.close()  # without it the message would leave in a minute
    await slow.sent()
    assert await heard.next() == slow.origin
    slow.tell_others()
    await slow.sent()
    assert await heard.pubsub.get_message(timeout=0.2) is None  # closed: nothing more goes


async def test_the_listener_starts_once_and_aclose_sends_what_was_waiting_then_ends_it(
        shared_redis: aioredis.Redis, channel: str, heard: Heard) -> None:
    task_name = f"wake-listener-{channel}"
    news: list[int] = []
    slow = RedisWake(shared_redis, channel, coalesce_s=60.0, log=log, name="slow", news=lambda: news.append(1))

    def listeners() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if t.get_name() == task_name and not t.done()]

    async def subscribers() -> int:
        [(_, count)] = await shared_redis.pubsub_numsub(channel)
        return int(count)

    slow.ensure_listening(task_name)
    slow.ensure_listening(task_name)  # the second call finds it running
    [listener] = listeners()
    await until(lambda: slow.listening)
    assert await subscribers() == 2  # ours and the test's
    slow.ensure_listening(task_name)
    assert listeners() == [listener]

    slow.tell_others()  # would leave in a minute
    async with asyncio.timeout(5):
        await slow.aclose()
    assert await heard.next() == slow.origin  # sent at close
    assert listener.done() and not slow.listening
    # Unsubscribed: only the test's own is left. Polled: the listener's connection is closed, not
    # unsubscribed, and Redis may answer NUMSUB on another connection before it reads that close.
    async with asyncio.timeout(5):
        while await subscribers() != 1:
            await asyncio.sleep(0.005)
    slow.ensure_listening(task_name)  # closed: nothing starts again
    assert listeners() == []
    assert news == [1]  # only the look once subscribed
