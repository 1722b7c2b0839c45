"""The outbox worker: fans committed outbox events out into deliveries (one per webhook endpoint
that subscribed to the kind, plus one email when the payload names a recipient), then delivers
what is due and records every attempt. Run as a job by whichever process holds the job lease.

At least once: a delivery is claimed by pushing its ``next_attempt_at`` a lease ahead and counting
the attempt, in a committed transaction, before anything is sent. A worker killed while sending
leaves it pending; when the lease runs out another run sends it again, with the same event id and
the same body. On PostgreSQL the claims use ``FOR UPDATE SKIP LOCKED``, so several workers share
the work without sending one delivery twice at the same time; SQLite has one writer and the job
lease already makes one runner.

Time comes from ``clock`` (ms), so tests walk the retry schedule without waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.clock import now_ms
from inventory.deliveries import (
    DEAD, DELIVERED, DISABLE_AFTER_MS, EMAIL_CHANNEL, FAILED, PENDING,
    DeliveryAttempt, OutboxDelivery, WebhookEndpoint, endpoint_of, next_wait_ms, webhook_channel,
)
from inventory.outbox import OutboxEvent
from live.webhook_sender import SendResult, WebhookSender, event_body

log = logging.getLogger("livedrop.outbox")

CLAIM_LEASE_MS = 60_000  # longer than a webhook's 10 s timeout and an SMTP exchange
FAN_OUT_BATCH = 200
DELIVER_BATCH = 50
CONCURRENCY = 16


class EmailSender(Protocol):
    def wants(self, kind: str, payload: dict[str, Any]) -> bool: ...

    async def send(self, event: OutboxEvent) -> SendResult: ...


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    channel: str
    attempts: int
    event: OutboxEvent
    endpoint: WebhookEndpoint | None


class OutboxWorker:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], webhooks: WebhookSender, email: EmailSender | None,
                 *, clock: Callable[[], int] = now_ms) -> None:
        self.sessions = sessions
        self.webhooks = webhooks
        self.email = email
        self.clock = clock

    async def tick(self) -> int:
        """One round: fan out new events, deliver what is due. Returns deliveries attempted."""
        await self.fan_out()
        done = 0
        while True:
            claimed = await self.claim()
            if not claimed:
                return done
            sem = asyncio.Semaphore(CONCURRENCY)

            async def one(item: _Claimed) -> tuple[_Claimed, SendResult, int]:
                async with sem:
                    return await self._deliver(item)

            # The outcomes of a batch are recorded in one transaction: one commit per batch, not per
            # delivery (on SQLite each commit is a sync to disk). Until then the claims' lease stands.
            await self.record(await asyncio.gather(*(one(item) for item in claimed)))
            done += len(claimed)

    # -- fan-out -----------------------------------------------------------------------------------

    def _locked(self, session: AsyncSession, query: Select[Any]) -> Select[Any]:
        if session.get_bind().dialect.name == "postgresql":
            return query.with_for_update(skip_locked=True)
        return query

    async def fan_out(self) -> int:
        """Every event not yet fanned out gets its deliveries, in the transaction that marks it."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            query = (select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
                     .order_by(OutboxEvent.created_at).limit(FAN_OUT_BATCH))
            events = list((await session.execute(self._locked(session, query))).scalars())
            if not events:
                return 0
            host_ids = {e.host_id for e in events if e.host_id is not None}
            endpoints: list[WebhookEndpoint] = []
            if host_ids:
                endpoints = list((await session.execute(
                    select(WebhookEndpoint).where(WebhookEndpoint.host_id.in_(host_ids), WebhookEndpoint.disabled_at.is_(None))
                )).scalars())
            # Deliveries already there (a fan-out whose marking did not commit, a redelivery made by
            # hand) are kept, not added twice.
            existing = set((await session.execute(select(OutboxDelivery.event_id, OutboxDelivery.channel).where(
                OutboxDelivery.event_id.in_([e.id for e in events])))).tuples())
            for event in events:
                channels = [webhook_channel(ep.id) for ep in endpoints if ep.host_id == event.host_id and event.kind in ep.events]
                if self.email is not None and self.email.wants(event.kind, event.payload):
                    channels.append(EMAIL_CHANNEL)
                for channel in channels:
                    if (event.id, channel) in existing:
                        continue
                    session.add(OutboxDelivery(event_id=event.id, channel=channel, status=PENDING, attempts=0,
                                               next_attempt_at=now, created_at=now))
                event.dispatched_at = now
                event.dispatch_attempts += 1
        return len(events)

    # -- delivery ----------------------------------------------------------------------------------

    async def claim(self, limit: int = DELIVER_BATCH) -> list[_Claimed]:
        """Take due deliveries: their attempt is counted and their lease set before anything is sent."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            query = (select(OutboxDelivery).where(OutboxDelivery.status == PENDING, OutboxDelivery.next_attempt_at <= now)
                     .order_by(OutboxDelivery.next_attempt_at, OutboxDelivery.id).limit(limit))
            deliveries = list((await session.execute(self._locked(session, query))).scalars())
            if not deliveries:
                return []
            events = {e.id: e for e in (await session.execute(
                select(OutboxEvent).where(OutboxEvent.id.in_({d.event_id for d in deliveries})))).scalars()}
            endpoint_ids = {i for d in deliveries if (i := endpoint_of(d.channel)) is not None}
            endpoints = {ep.id: ep for ep in (await session.execute(
                select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids)))).scalars()} if endpoint_ids else {}
            claimed = []
            for delivery in deliveries:
                endpoint_id = endpoint_of(delivery.channel)
                endpoint = endpoints.get(endpoint_id) if endpoint_id is not None else None
                if endpoint_id is not None and (endpoint is None or endpoint.disabled_at is not None):
                    delivery.status = FAILED
                    delivery.last_error = "the endpoint was deleted or disabled"
                    continue
                # Guarded by the attempt count read above: a second worker that read the same row
                # (SQLite has no SKIP LOCKED) finds it changed and leaves it. One sender per attempt.
                taken = await session.execute(
                    update(OutboxDelivery)
                    .where(OutboxDelivery.id == delivery.id, OutboxDelivery.attempts == delivery.attempts,
                           OutboxDelivery.status == PENDING)
                    .values(attempts=delivery.attempts + 1, next_attempt_at=now + CLAIM_LEASE_MS)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(_Claimed(delivery.id, delivery.channel, delivery.attempts + 1,
                                            events[delivery.event_id], endpoint))
        return claimed

    async def _deliver(self, item: _Claimed) -> tuple[_Claimed, SendResult, int]:
        started = time.monotonic()
        try:
            result = await self._send(item)
        except Exception as exc:  # a bug or an unexpected library error: recorded, retried on schedule
            log.exception("outbox delivery %s (%s) failed unexpectedly", item.delivery_id, item.channel)
            result = SendResult(None, f"{type(exc).__name__}: {exc}"[:500], retry=True)
        return item, result, int((time.monotonic() - started) * 1000)

    async def _send(self, item: _Claimed) -> SendResult:
        if item.endpoint is not None:
            body = event_body(item.event.kind, item.event.created_at, item.event.payload)
            return await self.webhooks.send(item.endpoint.url, item.endpoint.secret, item.event.id, body)
        if item.channel == EMAIL_CHANNEL and self.email is not None:
            return await self.email.send(item.event)
        return SendResult(None, f"no sender for channel {item.channel}", retry=False)

    async def record(self, outcomes: list[tuple[_Claimed, SendResult, int]]) -> None:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            for item, result, duration_ms in outcomes:
                if result.ok:
                    values: dict[str, Any] = {"status": DELIVERED, "delivered_at": now}
                elif result.retry:
                    wait = next_wait_ms(item.attempts)
                    values = {"status": PENDING, "next_attempt_at": now + wait} if wait is not None else {"status": DEAD}
                else:
                    values = {"status": FAILED}
                # Only while it is still this claim's (a redeliver, or a second worker after the lease,
                # may have moved it on); the attempt is recorded either way.
                await session.execute(
                    update(OutboxDelivery)
                    .where(OutboxDelivery.id == item.delivery_id, OutboxDelivery.attempts == item.attempts,
                           OutboxDelivery.status == PENDING)
                    .values(last_status=result.status, last_error=result.error, **values)
                )
                session.add(DeliveryAttempt(delivery_id=item.delivery_id, at=now, status=result.status,
                                            error=result.error, duration_ms=duration_ms))
                if item.endpoint is not None:
                    await self._endpoint_health(session, item.endpoint.id, result.ok, now)
                if not result.ok:
                    log.info("outbox delivery %s of %s to %s: %s (attempt %d, %s)", item.delivery_id, item.event.id,
                             item.channel, result.error, item.attempts, values["status"])

    async def _endpoint_health(self, session: AsyncSession, endpoint_id: int, ok: bool, now: int) -> None:
        if ok:
            await session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(failing_since=None))
            return
        await session.execute(update(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None)).values(failing_since=now))
        disabled = await session.execute(update(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.disabled_at.is_(None),
            WebhookEndpoint.failing_since <= now - DISABLE_AFTER_MS).values(disabled_at=now))
        if disabled.rowcount:  # type: ignore[attr-defined]
            log.warning("webhook endpoint %s disabled: its deliveries have failed for 3 days", endpoint_id)


async def redeliver(sessions: async_sessionmaker[AsyncSession], delivery_id: int, now: int) -> bool:
    """Put a delivery back in line now (any status); the schedule starts over. False: no such row."""
    async with sessions() as session, session.begin():
        done = await session.execute(update(OutboxDelivery).where(OutboxDelivery.id == delivery_id).values(
            status=PENDING, attempts=0, next_attempt_at=now))
    return bool(done.rowcount)  # type: ignore[attr-defined]

