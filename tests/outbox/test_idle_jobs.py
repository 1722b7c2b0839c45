"""Background jobs cost nothing when nothing changed, and are as prompt as before when something did.

The outbox job runs no SQL until a commit adds work (here: at once; in another process: through a
Redis counter), a retry it knows of comes due, or its slow safety poll; the offer clock's draws
look at SQL only when offers changed, and the idle clock sleeps until an offer is due or changes
(here or in another process); the hold sweep runs its script only for a product with a hold due. Real Redis, real database, the real app and job runner, a
real webhook receiver on 127.0.0.1; statements counted on the real engine."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.deliveries import RETRY_SCHEDULE_MS, OutboxDelivery, WebhookEndpoint
from inventory.outbox import announce
from live.outbox_signal import OutboxSignal
from live.outbox_worker import SAFETY_POLL_S, OutboxWorker
from live.webhook_sender import WebhookSender, new_secret
from live.webhook_urls import UrlPolicy
from tests.outbox.conftest import Clock, Statements
from tests.outbox.receiver import Receiver
from web.database import make_sessionmaker
from web.jobs import Job, JobRunner
from web.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(webhook_allow_private=True)  # the receiver listens on 127.0.0.1


async def shop(sessions: async_sessionmaker, receiver: Receiver, kinds: list[str]) -> int:
    """A host with one endpoint on the receiver. Returns the host id."""
    from web.auth import create_host

    host = await create_host(sessions, "idle@example.com", "a long test password")
    receiver.secret = new_secret()
    async with sessions() as session, session.begin():
        session.add(WebhookEndpoint(host_id=host.id, url=receiver.url, events=kinds, secret=receiver.secret,
                                    created_at=int(time.time() * 1000)))
    return host.id


async def paid(sessions: async_sessionmaker, host_id: int, order_id: str) -> None:
    async with sessions() as session, session.begin():
        announce(session, "order.paid", {"order_id": order_id, "number": "B00001"}, host_id=host_id)


def touching(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if table in s.lower()]


# -- the worker's poll, step by step -----------------------------------------------------------------


async def test_the_poll_runs_sql_only_when_work_was_added_here_or_elsewhere_or_a_retry_came_due(
        redis, sessions: async_sessionmaker, receiver: Receiver, clock: Clock, statements: Statements) -> None:
    signal = OutboxSignal(redis)
    signal.install(sessions)
    worker = OutboxWorker(sessions, WebhookSender(UrlPolicy(https_only=False, allow_private=True)), None,
                          clock=clock, signal=signal)
    try:
        await polls_in_order(worker, signal, sessions, receiver, clock, statements)
    finally:
        await signal.close()


async def subscribed(signal: OutboxSignal) -> None:
    async with asyncio.timeout(5):
        while not signal.listening:
            await asyncio.sleep(0.01)


async def polls_in_order(worker: OutboxWorker, signal: OutboxSignal, sessions: async_sessionmaker, receiver: Receiver,
                         clock: Clock, statements: Statements) -> None:
    host_id = await shop(sessions, receiver, ["order.paid"])
    assert await worker.poll() == 0  # the first poll looks, and subscribes
    if not signal.listening:  # not subscribed yet: the job keeps its 0.2 s period (and reads the counter)
        assert worker.idle_s() is None
    await subscribed(signal)
    assert await worker.poll() == 0  # looks once more: something may have been sent before the subscription
    idle = worker.idle_s()
    assert idle is not None and SAFETY_POLL_S - 1 < idle <= SAFETY_POLL_S  # nothing due: sleeps until the safety poll
    statements.take()
    for _ in range(5):
        assert await worker.poll() == 0
    assert statements.take() == [], "an idle poll ran SQL"

    # Added in this process: the commit tells the worker, with no wait for Redis.
    await paid(sessions, host_id, "o-here")
    assert await worker.poll() == 2  # fanned out and delivered
    assert len(receiver.received) == 1
    await asyncio.sleep(0.1)  # the coalesced message goes out: our own, so no news to us
    statements.take()
    assert await worker.poll() == 0 and statements.take() == []

    # Added in another process: its own sessions and signal; its message wakes this worker.
    elsewhere = make_sessionmaker(sessions.kw["bind"])
    OutboxSignal(signal.redis).install(elsewhere)
    receiver.answers = [503]  # this one fails: retried on the schedule
    signal.wake.clear()
    await paid(elsewhere, host_id, "o-elsewhere")
    assert await worker.poll() == 0, "looked before the other process's message was sent"
    async with asyncio.timeout(5):
        await signal.wake.wait()  # the message, after COALESCE_S
    assert await worker.poll() == 2
    assert len(receiver.received) == 2
    statements.take()
    assert await worker.poll() == 0 and statements.take() == []

    # The retry: due 10 s after the failure. Nobody signals it; the worker knows when it is due.
    assert worker.next_due == clock.now + RETRY_SCHEDULE_MS[1]
    clock.advance(RETRY_SCHEDULE_MS[1] - 1)
    assert await worker.poll() == 0 and statements.take() == []
    clock.advance(1)
    assert await worker.poll() == 1
    assert len(receiver.received) == 3 and receiver.received[2].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    async with sessions() as session:
        assert sorted(await session.scalars(select(OutboxDelivery.status))) == ["delivered", "delivered"]


async def test_without_any_signal_the_safety_poll_still_finds_the_work(
        redis, sessions: async_sessionmaker, receiver: Receiver, clock: Clock, statements: Statements,
        monkeypatch: pytest.MonkeyPatch) -> None:
    signal = OutboxSignal(redis)  # not installed: the commit below tells nobody (a row written by hand)
    worker = OutboxWorker(sessions, WebhookSender(UrlPolicy(https_only=False, allow_private=True)), None,
                          clock=clock, signal=signal)
    try:
        host_id = await shop(sessions, receiver, ["order.paid"])
        assert await worker.poll() == 0
        await subscribed(signal)
        assert await worker.poll() == 0
        await paid(sessions, host_id, "o-quiet")
        assert await worker.poll() == 0  # nothing said so
        later = time.monotonic() + SAFETY_POLL_S
        monkeypatch.setattr("live.outbox_worker.time.monotonic", lambda: later)
        assert await worker.poll() == 2
        assert len(receiver.received) == 1
    finally:
        await signal.close()


async def test_without_redis_the_poll_looks_at_sql_every_time(
        sessions: async_sessionmaker, clock: Clock, statements: Statements) -> None:
    from web.services import make_redis

    dead = make_redis("redis://127.0.0.1:1/0")  # nothing listens there
    signal = OutboxSignal(dead)
    worker = OutboxWorker(sessions, WebhookSender(UrlPolicy(https_only=False, allow_private=True)), None,
                          clock=clock, signal=signal)
    try:
        for _ in range(3):
            assert await worker.poll() == 0
            assert worker.idle_s() is None  # no subscription: the job keeps its 0.2 s period
        assert len(touching(statements.take(), "outbox_")) == 3  # as before the signal: nothing is missed
    finally:
        await signal.close()
        await dead.aclose()


# -- the job runner's wake-up --------------------------------------------------------------------------


async def test_a_woken_job_runs_at_once_when_idle_and_keeps_its_pace_when_busy(redis) -> None:
    wake = asyncio.Event()
    runs: list[float] = []
    busy = {"now": False}

    async def run() -> int:
        runs.append(time.monotonic())
        return 1 if busy["now"] else 0

    runner = JobRunner(redis, [Job("woken", 30.0, run, wake=wake)], is_worker=False)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        async with asyncio.timeout(10):
            while not runs:
                await asyncio.sleep(0.01)
        wake.set()
        async with asyncio.timeout(5):  # a 30 s wait, cut short
            while len(runs) < 2:
                await asyncio.sleep(0.01)
        busy["now"] = True
        wake.set()
        async with asyncio.timeout(5):
            while len(runs) < 3:
                await asyncio.sleep(0.01)
        wake.set()  # the last run did work: this wake-up waits for the job's pace (30 s)
        await asyncio.sleep(0.5)
        assert len(runs) == 3
        started = time.monotonic()
    finally:
        stop.set()
        await task
    assert time.monotonic() - started < 2.5  # the stop ended the wait (STOP_GRACE_S is 1.5 s)


# -- the real app, idle and then not ------------------------------------------------------------------


async def test_an_idle_app_runs_no_outbox_or_draw_sql(app, statements: Statements) -> None:
    root = app.state.livedrop
    async with asyncio.timeout(10):  # the lease taken and the jobs' first looks done
        while root.outbox._safety_at == 0.0:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    statements.take()
    await asyncio.sleep(3.0)
    seen = statements.take()
    # Before: the outbox's SELECT and the draws' SELECT five times a second each (15 + 15), the
    # draws' settle once a second. Now at most one safety look may fall in the window.
    assert len(touching(seen, "outbox_")) <= 1, touching(seen, "outbox_")
    assert len(touching(seen, "draw_entries")) <= 1, touching(seen, "draw_entries")
    assert len(touching(seen, "from offers")) <= 2, touching(seen, "from offers")


async def test_an_event_committed_in_a_request_or_another_process_leaves_promptly(
        app, client, sessions: async_sessionmaker, redis, receiver: Receiver) -> None:
    from web.auth import create_api_token

    host_id = await shop(sessions, receiver, ["show.live", "order.paid"])
    auth = {"Authorization": f"Bearer {await create_api_token(sessions, host_id)}"}
    root = app.state.livedrop
    async with asyncio.timeout(10):
        while root.outbox._safety_at == 0.0:
            await asyncio.sleep(0.05)
    assert (await client.post("/api/shows", json={"title": "Idle", "slug": "idle-show"}, headers=auth)).status_code == 201
    started = time.monotonic()
    assert (await client.post("/api/shows/idle-show/start", headers=auth)).status_code == 200
    await receiver.wait_for(1, timeout=SAFETY_POLL_S - 1)  # the signal, not the safety poll
    here_s = time.monotonic() - started
    assert receiver.received[0].verified["type"] == "show.live"

    # Another process: its own sessions and signal; the app hears of it through Redis.
    elsewhere = make_sessionmaker(sessions.kw["bind"])
    OutboxSignal(redis).install(elsewhere)
    started = time.monotonic()
    await paid(elsewhere, host_id, "o-other-process")
    await receiver.wait_for(2, timeout=SAFETY_POLL_S - 1)
    elsewhere_s = time.monotonic() - started
    assert receiver.received[1].verified["type"] == "order.paid"
    print(f"delivered {here_s * 1000:.0f} ms after the request, {elsewhere_s * 1000:.0f} ms after another process's commit")



async def sent_to_redis(redis, seconds: float, meanwhile=None) -> list[tuple[float, str]]:
    """Every command a client sent to Redis over ``seconds`` (MONITOR; not the ones scripts run),
    with Redis's time; ``meanwhile`` (a coroutine) runs while it watches."""
    seen: list[tuple[float, str]] = []

    async def watch() -> None:
        async with redis.monitor() as monitor:
            async for command in monitor.listen():
                if command["client_type"] != "lua":
                    seen.append((command["time"], command["command"]))

    watching = asyncio.create_task(watch())
    await asyncio.sleep(0.1)  # MONITOR on
    if meanwhile is not None:
        await meanwhile
    await asyncio.sleep(seconds)
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)
    return seen


async def test_an_idle_app_hardly_talks_to_redis(app) -> None:
    from inventory import keys as stock_keys
    from live import keys as live_keys

    root = app.state.livedrop
    await root.stock.load(1, {"M": 3})  # a product on sale: the hold sweep has one to look at
    async with asyncio.timeout(10):  # the lease taken, the jobs' first looks done, the clock subscribed
        while root.outbox._safety_at == 0.0 or not root.shows.offer_signal.listening:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    seen = [command for _, command in await sent_to_redis(root.services.redis, 3.0)]
    clock = [c for c in seen if c == f"ZCARD {live_keys.OFFERS_DUE}"]  # one per tick
    sweep = [c for c in seen if c.startswith(("EVALSHA", "EVAL ")) and stock_keys.version(1) in c]
    print(f"idle app, 3 s: {len(seen)} commands, {len(clock)} offer clock ticks, {len(sweep)} stock scripts")
    # Before: the offer clock's pipeline (ZRANGEBYSCORE, ZCARD, ZRANGE) five times a second, 15
    # times in 3 s; now it sleeps until its 5 s safety look: at most one falls in the window.
    assert len(clock) <= 1, clock
    # Before: the hold sweep's script for the product every second (3); now a read of its due set.
    assert sweep == [], sweep


async def idle_clock(root) -> None:
    """Wait until the app's offer clock is subscribed and has settled into its sleep."""
    async with asyncio.timeout(10):
        while not root.shows.offer_signal.listening:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)  # its first looks done (a settle owed after the subscription included)
    assert not root.offer_clock._busy


async def test_an_idle_clock_wakes_for_an_offer_changed_in_another_process(app, redis) -> None:
    from live import keys as live_keys
    from live.offer_signal import OfferSignal

    root = app.state.livedrop
    await idle_clock(root)
    elsewhere = OfferSignal(redis)  # another process's: what its ShowControl calls after a change
    told: list[float] = []

    async def change() -> None:
        await asyncio.sleep(0.3)
        told.append(time.time())
        elsewhere.changed()

    seen = await sent_to_redis(redis, 1.0, change())
    ticks = [at for at, command in seen if command == f"ZCARD {live_keys.OFFERS_DUE}"]
    assert any(0 <= at - told[0] < 0.5 for at in ticks), (told, ticks)  # woken, not the 5 s safety poll
    await elsewhere.pubsub.sent()


async def test_an_idle_clock_starts_and_ends_an_offer_on_time(app, client, sessions: async_sessionmaker) -> None:
    from live.models import Offer
    from tests.web.buying import auth, live_show_with_product
    from web.auth import create_api_token, create_host

    root = app.state.livedrop
    host = await create_host(sessions, "clock@example.com", "a long test password")
    token = await create_api_token(sessions, host.id)
    slug, product = await live_show_with_product(client, token, {"M": 2})
    await idle_clock(root)
    now = (await client.get(f"/api/shows/{slug}")).json()["server_time"]
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(token), json={
        "product_id": product["id"], "price_cents": 900, "starts_at": now + 1500, "duration_s": 1})
    assert made.status_code == 201, made.text
    offer_id, starts_at, ends_at = made.json()["id"], made.json()["starts_at"], made.json()["ends_at"]
    moved: dict[str, int] = {}
    async with asyncio.timeout(6):
        while "ended" not in moved:
            async with sessions() as session:
                state = await session.scalar(select(Offer.state).where(Offer.id == offer_id))
            moved.setdefault(str(state), int(time.time() * 1000))
            await asyncio.sleep(0.01)
    # The clock slept until each due time (no tick in between): as prompt as its 0.2 s tick was.
    assert 0 <= moved["live"] - starts_at < 300, moved["live"] - starts_at
    assert 0 <= moved["ended"] - ends_at < 300, moved["ended"] - ends_at
