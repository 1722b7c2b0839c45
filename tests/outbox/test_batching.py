"""The outbox worker works in batches: the SQL it sends does not grow with the deliveries in a batch,
an idle tick is one SELECT, a burst bigger than a batch goes out in one tick, and the outcomes of a
batch (recorded together, with executemany) land on the right rows, guarded against a redelivery
made while they were on the wire. Real database, real receiver on 127.0.0.1, the real sender."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.deliveries import RETRY_SCHEDULE_MS, DeliveryAttempt, OutboxDelivery, WebhookEndpoint
from inventory.outbox import announce
from live.outbox_worker import CLAIM_LEASE_MS, DELIVER_BATCH, FAN_OUT_BATCH, OutboxWorker, redeliver
from live.webhook_sender import WebhookSender, new_secret
from live.webhook_urls import UrlPolicy
from tests.outbox.conftest import Clock, Statements
from tests.outbox.receiver import Receiver


async def shop(sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> int:
    """A host with one endpoint on the receiver, subscribed to order.paid. Returns the host id."""
    from web.auth import create_host

    host = await create_host(sessions, "batch@example.com", "a long test password")
    receiver.secret = new_secret()
    async with sessions() as session, session.begin():
        session.add(WebhookEndpoint(host_id=host.id, url=receiver.url, events=["order.paid"], secret=receiver.secret,
                                    created_at=clock.now))
    return host.id


async def paid(sessions: async_sessionmaker, host_id: int, count: int) -> None:
    async with sessions() as session, session.begin():
        for n in range(count):
            announce(session, "order.paid", {"order_id": f"o-{n}", "number": f"B{n:05d}"}, host_id=host_id)


def worker(sessions: async_sessionmaker, clock: Clock) -> OutboxWorker:
    return OutboxWorker(sessions, WebhookSender(UrlPolicy(https_only=False, allow_private=True)), None, clock=clock)


async def test_an_idle_tick_is_one_select_and_a_batch_costs_the_same_sql_for_3_deliveries_or_60(
        sessions: async_sessionmaker, receiver: Receiver, clock: Clock, statements: Statements) -> None:
    host_id = await shop(sessions, receiver, clock)
    run = worker(sessions, clock)
    statements.take()
    assert await run.tick() == 0
    [idle] = statements.take()
    assert idle.upper().startswith("SELECT") and "FOR UPDATE" not in idle.upper(), idle

    await paid(sessions, host_id, 3)
    statements.take()
    assert await run.tick() == 3
    for_3 = statements.take()
    await paid(sessions, host_id, 60)
    statements.take()
    assert await run.tick() == 60
    for_60 = statements.take()
    assert len(for_60) == len(for_3) <= 16, (for_3, for_60)  # not one statement (or three) per delivery
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 63 and all(r.error is None for r in receiver.received)


async def test_a_burst_bigger_than_a_batch_goes_out_in_one_tick_each_event_once(
        sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> None:
    host_id = await shop(sessions, receiver, clock)
    burst = max(DELIVER_BATCH, FAN_OUT_BATCH) + 30
    await paid(sessions, host_id, burst)
    assert await worker(sessions, clock).tick() == burst
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == burst and all(r.error is None for r in receiver.received)
    async with sessions() as session:
        rows = [tuple(r) for r in await session.execute(select(OutboxDelivery.status, OutboxDelivery.attempts))]
        assert rows == [("delivered", 1)] * burst


async def test_each_outcome_of_a_batch_lands_on_its_own_delivery(
        sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> None:
    host_id = await shop(sessions, receiver, clock)
    await paid(sessions, host_id, 3)
    receiver.answers = [200, 503, 410]  # in the order the requests arrive
    assert await worker(sessions, clock).tick() == 3
    answered = {r.headers["webhook-id"]: status for r, status in zip(receiver.received, [200, 503, 410])}
    async with sessions() as session:
        deliveries = {d.event_id: d for d in (await session.execute(select(OutboxDelivery))).scalars()}
        by_answer = {status: deliveries[event_id] for event_id, status in answered.items()}
        ok, retried, refused = by_answer[200], by_answer[503], by_answer[410]
        assert (ok.status, ok.last_status, ok.delivered_at, ok.last_error) == ("delivered", 200, clock.now, None)
        assert ok.next_attempt_at == clock.now + CLAIM_LEASE_MS  # left as the claim set it
        assert (retried.status, retried.last_status, retried.delivered_at) == ("pending", 503, None)
        assert retried.next_attempt_at == clock.now + RETRY_SCHEDULE_MS[1] and "503" in (retried.last_error or "")
        assert (refused.status, refused.last_status, refused.delivered_at) == ("failed", 410, None)
        attempts = {a.delivery_id: a.status for a in (await session.execute(select(DeliveryAttempt))).scalars()}
        assert attempts == {ok.id: 200, retried.id: 503, refused.id: 410}
        endpoint = (await session.execute(select(WebhookEndpoint))).scalar_one()
        assert endpoint.failing_since is None  # one success in the batch: the endpoint works


async def test_an_outcome_does_not_overwrite_a_redelivery_made_while_it_was_on_the_wire(
        sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> None:
    host_id = await shop(sessions, receiver, clock)
    await paid(sessions, host_id, 1)
    receiver.answers = [410, 200]  # the first attempt is refused for good...
    hang = receiver.hang = asyncio.Event()
    run = asyncio.create_task(worker(sessions, clock).tick())
    await receiver.wait_for(1)
    async with sessions() as session:
        delivery_id = (await session.execute(select(OutboxDelivery.id))).scalar_one()
    assert await redeliver(sessions, delivery_id, clock.now)  # ...but the host asked for it again meanwhile
    hang.set()
    assert await run == 2  # the refusal did not mark the redelivered row failed: it went out again
    first, second = receiver.received
    assert second.headers["webhook-id"] == first.headers["webhook-id"] and second.body == first.body
    async with sessions() as session:
        delivery = await session.get(OutboxDelivery, delivery_id)
        assert delivery is not None and (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
        attempts = [a.status for a in (await session.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.id))).scalars()]
        assert attempts == [410, 200]  # every attempt recorded, the overtaken one too


async def test_a_send_is_cut_at_its_bound_and_retried_on_schedule(
        sessions: async_sessionmaker, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """So that no send outlives its claim's lease, each is bounded (shortened here from 25 s)."""
    monkeypatch.setattr("live.outbox_worker.SEND_BOUND_S", 0.3)
    host_id = await shop(sessions, receiver, clock)
    await paid(sessions, host_id, 1)
    receiver.hang = asyncio.Event()  # the receiver takes the request and never answers
    assert await asyncio.wait_for(worker(sessions, clock).tick(), 5) == 1
    async with sessions() as session:
        delivery = (await session.execute(select(OutboxDelivery))).scalar_one()
        assert (delivery.status, delivery.attempts, delivery.last_status) == ("pending", 1, None)
        assert delivery.last_error == "no answer within 0.3 s"
        assert delivery.next_attempt_at == clock.now + RETRY_SCHEDULE_MS[1]


async def test_deliveries_that_could_not_start_within_the_lease_are_released_unsent_and_sent_next(
        sessions: async_sessionmaker, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch,
        statements: Statements) -> None:
    """One at a time, the first delivery hangs past the start window (shortened here from 30 s): the
    other two are given back (no attempt counted or recorded) and go out in the tick's next batch."""
    monkeypatch.setattr("live.outbox_worker.CONCURRENCY", 1)
    monkeypatch.setattr("live.outbox_worker.START_WITHIN_S", 0.3)
    host_id = await shop(sessions, receiver, clock)
    await paid(sessions, host_id, 3)
    hang = receiver.hang = asyncio.Event()
    run = asyncio.create_task(worker(sessions, clock).tick())
    await receiver.wait_for(1)
    await asyncio.sleep(0.5)
    hang.set()
    assert await run == 3
    claims = [s for s in statements.take() if s.upper().startswith("UPDATE OUTBOX_DELIVERIES") and "RETURNING" in s.upper()]
    assert len(claims) == 2  # the batch of 3, then the 2 released
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 3
    async with sessions() as session:
        rows = [tuple(r) for r in await session.execute(select(OutboxDelivery.status, OutboxDelivery.attempts))]
        assert rows == [("delivered", 1)] * 3
        assert len((await session.execute(select(DeliveryAttempt))).all()) == 3
