"""The outbox worker: fans committed outbox events out into deliveries (one per webhook endpoint
that subscribed to the kind, plus one email when the payload names a recipient), then delivers
what is due and records every attempt. Run as a job by whichever process holds the job lease.

At least once: a delivery is claimed by pushing its ``next_attempt_at`` a lease ahead and counting
the attempt, in a committed transaction, before anything is sent. A worker killed while sending
leaves it pending; when the lease runs out another run sends it again, with the same event id and
the same body. On PostgreSQL the claims use ``FOR UPDATE SKIP LOCKED``, so several workers share
the work without sending one delivery twice at the same time; SQLite has one writer and the job
lease already makes one runner. Either way the claim's UPDATE re-checks "still pending and due" as
it writes, so a row two workers both read goes to one of them.

Fast by working in batches: the SQL per batch (claim, record, fan-out) is a fixed handful of
statements whatever the batch's size (executemany, ``IN (...)``), and a burst is worked off batch
after batch in one tick.

Free when idle: the job (``poll``) runs no SQL unless something may be due: a commit that added work
(live.outbox_signal: at once here, by Redis Pub/Sub from other processes), the earliest
``next_attempt_at`` the worker saw at its last look coming due (a retry, a crashed sender's lease),
or the safety poll (``SAFETY_POLL_S``) for a signal lost on the way; in between it sleeps (``idle_s``)
instead of waking five times a second. That look is one prebuilt SELECT (two indexed lookups)
instead of a built and compiled one every 0.2 s.

Time comes from ``clock`` (ms), so tests walk the retry schedule without waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlalchemy import BigInteger, Integer, Select, String, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.clock import now_ms
from inventory.deliveries import (
    DEAD, DELIVERED, DISABLE_AFTER_MS, EMAIL_CHANNEL, FAILED, PENDING,
    DeliveryAttempt, OutboxDelivery, WebhookEndpoint, endpoint_of, next_wait_ms, webhook_channel,
)
from inventory.outbox import OutboxEvent, mark_announced
from live.outbox_signal import OutboxSignal
from live.webhook_sender import SendResult, WebhookSender, event_body

log = logging.getLogger("livedrop.outbox")

CLAIM_LEASE_MS = 60_000
FAN_OUT_BATCH = 200
DELIVER_BATCH = 200  # claimed, sent (CONCURRENCY at a time) and recorded together
CONCURRENCY = 16
# A batch is sent in rounds (200 / 16), more than one lease could cover if its receivers are slow. So
# that no send outlives its claim's lease (after which another worker may take the delivery), each
# send is cut at SEND_BOUND_S (a webhook: 5 s to connect, 10 s per read; an SMTP exchange) and starts
# only while it can end within the lease; a delivery not started by then is released, not attempted.
SEND_BOUND_S = 25.0
START_WITHIN_S = CLAIM_LEASE_MS / 1000 - SEND_BOUND_S - 5.0  # 5 s for the claim's commit and clocks
# With a signal, the job looks at SQL at least this often anyway: work whose signal was lost (Redis
# down during the INCR, a row written by hand) waits this long at most. 0.2 s of polling was ~1 %
# of a core idle; this is 1/25 of it.
SAFETY_POLL_S = 5.0
NEVER = 2**62


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
                 *, clock: Callable[[], int] = now_ms, signal: OutboxSignal | None = None) -> None:
        self.sessions = sessions
        self.webhooks = webhooks
        self.email = email
        self.clock = clock
        self.signal = signal
        self.next_due = 0  # ms: the earliest pending next_attempt_at at the last look (NEVER: none)
        self._seen_version: str | None = None
        self._safety_at = 0.0  # time.monotonic() of the next look whatever the signal says
        self.fanned = 0  # events fanned out, counted across ticks (``poll`` starts it from 0)

    async def poll(self) -> int:
        """The job: ``tick`` when something may be due, else nothing (no SQL). Returns events fanned
        out plus deliveries attempted: 0 when there was nothing to do, and the job runner then waits
        for the next signal (web.jobs.Job.wake) up to ``idle_s``. Without a signal, every call ticks."""
        if self.signal is None:
            return await self._counted_tick()
        self.signal.ensure_listening()
        local = self.signal.take_local()
        version = self._seen_version
        if self.signal.listening:  # other processes' news comes by message
            elsewhere = self.signal.take_remote()
        else:  # not (yet, or no longer) subscribed: their counter, one GET
            try:
                version = await self.signal.version()
                elsewhere = version != self._seen_version
            except RedisError:  # without Redis, no news from other processes: look at SQL, as before the signal
                elsewhere = True
        if not (local or elsewhere or self.clock() >= self.next_due or time.monotonic() >= self._safety_at):
            return 0
        # Read before the look: work committed after the read sends news again, and the next poll
        # looks again.
        self._seen_version = version
        self._safety_at = time.monotonic() + SAFETY_POLL_S
        try:
            return await self._counted_tick()
        except BaseException:
            self.next_due = 0  # the look failed: look again next time, whatever the signal says
            raise

    def idle_s(self) -> float | None:
        """How long the job may sleep after a run that found nothing, unless woken: until the next
        known due time or the safety poll. None (the job's own period) while other processes'
        news would not wake it (no subscription: the counter is read each tick)."""
        if self.signal is None or not self.signal.listening:
            return None
        until_due = (self.next_due - self.clock()) / 1000
        return max(0.0, min(self._safety_at - time.monotonic(), until_due))

    async def _counted_tick(self) -> int:
        self.fanned = 0
        done = await self.tick()
        return done + self.fanned

    async def tick(self) -> int:
        """Fan out new events and deliver what is due, batch after batch, until nothing is left.
        Returns deliveries attempted. A burst is worked off in one tick, not one batch per tick.
        Ends knowing when the next pending delivery comes due (``next_due``)."""
        if not await self.has_work():
            return 0
        done = 0
        while True:
            fanned = await self.fan_out()
            self.fanned += fanned
            claimed = await self.claim()
            if not claimed:
                if fanned:
                    continue  # events nobody subscribed to: there may be more behind them
                await self.has_work()  # the retries and leases now pending: when to look next
                return done
            sem = asyncio.Semaphore(CONCURRENCY)
            start_by = time.monotonic() + START_WITHIN_S

            async def one(item: _Claimed) -> tuple[_Claimed, SendResult | None, int]:
                async with sem:
                    if time.monotonic() > start_by:
                        return item, None, 0  # too late to end within the lease: released
                    return await self._deliver(item)

            # The outcomes of a batch are recorded in one transaction: one commit per batch, not per
            # delivery (on SQLite each commit is a sync to disk). Until then the claims' lease stands.
            outcomes = await asyncio.gather(*(one(item) for item in claimed))
            await self.record(outcomes)
            done += sum(1 for _, result, _ in outcomes if result is not None)

    async def has_work(self) -> bool:
        """One small prebuilt SELECT (an indexed EXISTS, an indexed MIN): any events to fan out,
        and when the next pending delivery comes due (kept in ``next_due``). No locks taken."""
        now = self.clock()
        async with self.sessions() as session:
            undispatched, next_at = (await session.execute(_LOOK)).one()
        self.next_due = NEVER if next_at is None else int(next_at)
        return bool(undispatched) or self.next_due <= now

    def _locked(self, session: AsyncSession, query: Select[Any]) -> Select[Any]:
        if session.get_bind().dialect.name == "postgresql":
            return query.with_for_update(skip_locked=True)
        return query

    # -- fan-out -----------------------------------------------------------------------------------

    async def fan_out(self) -> int:
        """Every event not yet fanned out gets its deliveries, in the transaction that marks it.
        Per batch of events: one SELECT each of events, endpoints and existing deliveries, one
        multi-row INSERT of the deliveries, one UPDATE marking the events."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            query = (select(OutboxEvent.id, OutboxEvent.kind, OutboxEvent.host_id, OutboxEvent.payload)
                     .where(OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.created_at).limit(FAN_OUT_BATCH))
            events = (await session.execute(self._locked(session, query))).all()
            if not events:
                return 0
            host_ids = {e.host_id for e in events if e.host_id is not None}
            endpoints: list[tuple[int, int, list[str]]] = []
            if host_ids:
                endpoints = [(ep.id, ep.host_id, ep.events) for ep in (await session.execute(
                    select(WebhookEndpoint.id, WebhookEndpoint.host_id, WebhookEndpoint.events)
                    .where(WebhookEndpoint.host_id.in_(host_ids), WebhookEndpoint.disabled_at.is_(None))
                )).all()]
            event_ids = [e.id for e in events]
            # Deliveries already there (a fan-out whose marking did not commit, a redelivery made by
            # hand) are kept, not added twice.
            existing = {(d.event_id, d.channel) for d in (await session.execute(
                select(OutboxDelivery.event_id, OutboxDelivery.channel).where(OutboxDelivery.event_id.in_(event_ids))))}
            rows: list[dict[str, Any]] = []
            for event in events:
                channels = [webhook_channel(ep_id) for ep_id, host_id, kinds in endpoints
                            if host_id == event.host_id and event.kind in kinds]
                if self.email is not None and self.email.wants(event.kind, event.payload):
                    channels.append(EMAIL_CHANNEL)
                rows.extend({"event_id": event.id, "channel": channel, "status": PENDING, "attempts": 0,
                             "next_attempt_at": now, "created_at": now}
                            for channel in channels if (event.id, channel) not in existing)
            if rows:
                await session.execute(insert(OutboxDelivery), rows)
            await session.execute(
                update(OutboxEvent).where(OutboxEvent.id.in_(event_ids))
                .values(dispatched_at=now, dispatch_attempts=OutboxEvent.dispatch_attempts + 1)
                .execution_options(synchronize_session=False))
        return len(events)

    # -- delivery ----------------------------------------------------------------------------------

    async def claim(self, limit: int = DELIVER_BATCH) -> list[_Claimed]:
        """Take due deliveries: their attempt is counted and their lease set before anything is sent.
        One SELECT finds them (the only statement when nothing is due), one UPDATE claims them all."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            due = (select(OutboxDelivery.id).where(OutboxDelivery.status == PENDING, OutboxDelivery.next_attempt_at <= now)
                   .order_by(OutboxDelivery.next_attempt_at, OutboxDelivery.id).limit(limit))
            ids = list((await session.execute(self._locked(session, due))).scalars())
            if not ids:
                return []
            # The guard is the UPDATE's own WHERE, which the database checks at write time: still
            # pending and still due. A claim pushes the row a lease ahead, so a second worker that
            # read the same ids (SQLite has no SKIP LOCKED; a redelivery may have moved a row) finds
            # it no longer due and does not get it back: one sender per attempt. The attempt count
            # is incremented in SQL, so it is the row's count at the claim, whatever was read.
            taken = (await session.execute(
                update(OutboxDelivery)
                .where(OutboxDelivery.id.in_(ids), OutboxDelivery.status == PENDING, OutboxDelivery.next_attempt_at <= now)
                .values(attempts=OutboxDelivery.attempts + 1, next_attempt_at=now + CLAIM_LEASE_MS)
                .returning(OutboxDelivery.id, OutboxDelivery.event_id, OutboxDelivery.channel, OutboxDelivery.attempts)
                .execution_options(synchronize_session=False)
            )).all()
            if not taken:
                return []
            events = {e.id: e for e in (await session.execute(
                select(OutboxEvent).where(OutboxEvent.id.in_({t.event_id for t in taken})))).scalars()}
            endpoint_ids = {i for t in taken if (i := endpoint_of(t.channel)) is not None}
            endpoints = {ep.id: ep for ep in (await session.execute(
                select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids)))).scalars()} if endpoint_ids else {}
            claimed, gone = [], []
            for t in sorted(taken, key=lambda t: t.id):
                endpoint_id = endpoint_of(t.channel)
                endpoint = endpoints.get(endpoint_id) if endpoint_id is not None else None
                if endpoint_id is not None and (endpoint is None or endpoint.disabled_at is not None):
                    gone.append(t.id)
                    continue
                claimed.append(_Claimed(t.id, t.channel, t.attempts, events[t.event_id], endpoint))
            if gone:  # nothing will be sent: the attempt just counted is given back
                await session.execute(
                    update(OutboxDelivery).where(OutboxDelivery.id.in_(gone))
                    .values(status=FAILED, last_error="the endpoint was deleted or disabled", attempts=OutboxDelivery.attempts - 1)
                    .execution_options(synchronize_session=False))
        return claimed

    async def _deliver(self, item: _Claimed) -> tuple[_Claimed, SendResult, int]:
        started = time.monotonic()
        try:
            async with asyncio.timeout(SEND_BOUND_S):
                result = await self._send(item)
        except TimeoutError:
            result = SendResult(None, f"no answer within {SEND_BOUND_S:g} s", retry=True)
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

    async def record(self, outcomes: list[tuple[_Claimed, SendResult | None, int]]) -> None:
        """A batch's outcomes in one transaction: one executemany UPDATE of the deliveries, one
        multi-row INSERT of the attempts, one or two UPDATEs per endpoint (not per delivery).
        An outcome of None is a delivery released unsent: its attempt is given back, due now."""
        now = self.clock()
        updates: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        released: list[dict[str, Any]] = []
        endpoint_ok: dict[int, bool] = {}
        for item, result, duration_ms in outcomes:
            if result is None:
                released.append({"b_id": item.delivery_id, "b_attempts": item.attempts, "b_now": now})
                continue
            next_at = delivered_at = None
            if result.ok:
                status, delivered_at = DELIVERED, now
            elif result.retry:
                wait = next_wait_ms(item.attempts)
                status, next_at = (PENDING, now + wait) if wait is not None else (DEAD, None)
            else:
                status = FAILED
            updates.append({"b_id": item.delivery_id, "b_attempts": item.attempts, "b_status": status,
                            "b_last_status": result.status, "b_last_error": result.error,
                            "b_next": next_at, "b_delivered": delivered_at})
            attempts.append({"delivery_id": item.delivery_id, "at": now, "status": result.status,
                             "error": result.error, "duration_ms": duration_ms})
            if item.endpoint is not None:
                # One success in the batch is a working endpoint (they all share this ``now``).
                endpoint_ok[item.endpoint.id] = endpoint_ok.get(item.endpoint.id, False) or result.ok
            if not result.ok:
                log.info("outbox delivery %s of %s to %s: %s (attempt %d, %s)", item.delivery_id, item.event.id,
                         item.channel, result.error, item.attempts, status)
        async with self.sessions() as session, session.begin():
            # Only while it is still this claim's (a redeliver, or a second worker after the lease,
            # may have moved it on); the attempt is recorded either way. Core executemany (through
            # the connection: the ORM would take a list of rows as its by-primary-key bulk form).
            # ``coalesce`` keeps the column when the outcome leaves it alone (None).
            connection = await session.connection()
            if updates:
                await connection.execute(_RECORD, updates)
                await session.execute(insert(DeliveryAttempt), attempts)
            if released:
                await connection.execute(_RELEASE, released)
            for endpoint_id, ok in sorted(endpoint_ok.items()):
                await self._endpoint_health(session, endpoint_id, ok, now)

    async def _endpoint_health(self, session: AsyncSession, endpoint_id: int, ok: bool, now: int) -> None:
        if ok:
            await session.execute(update(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None)).values(failing_since=None))
            return
        await session.execute(update(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None)).values(failing_since=now))
        disabled = await session.execute(update(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.disabled_at.is_(None),
            WebhookEndpoint.failing_since <= now - DISABLE_AFTER_MS).values(disabled_at=now))
        if disabled.rowcount:  # type: ignore[attr-defined]
            log.warning("webhook endpoint %s disabled: its deliveries have failed for 3 days", endpoint_id)


# Built once: building and compiling this SELECT was most of an idle tick's cost (py-spy). The MIN
# is read from the end of ix_outbox_deliveries_due (status, next_attempt_at).
_LOOK = select(
    exists().where(OutboxEvent.dispatched_at.is_(None)),
    select(func.min(OutboxDelivery.next_attempt_at)).where(OutboxDelivery.status == PENDING).scalar_subquery(),
)

_RECORD = (
    update(OutboxDelivery)
    .where(OutboxDelivery.id == bindparam("b_id"), OutboxDelivery.attempts == bindparam("b_attempts"),
           OutboxDelivery.status == PENDING)
    .values(status=bindparam("b_status"), last_status=bindparam("b_last_status", type_=Integer),
            last_error=bindparam("b_last_error", type_=String),
            next_attempt_at=func.coalesce(bindparam("b_next", type_=BigInteger), OutboxDelivery.next_attempt_at),
            delivered_at=func.coalesce(bindparam("b_delivered", type_=BigInteger), OutboxDelivery.delivered_at))
)

_RELEASE = (
    update(OutboxDelivery)
    .where(OutboxDelivery.id == bindparam("b_id"), OutboxDelivery.attempts == bindparam("b_attempts"),
           OutboxDelivery.status == PENDING)
    .values(attempts=OutboxDelivery.attempts - 1, next_attempt_at=bindparam("b_now", type_=BigInteger))
)


async def redeliver(sessions: async_sessionmaker[AsyncSession], delivery_id: int, now: int) -> bool:
    """Put a delivery back in line now (any status); the schedule starts over. False: no such row."""
    async with sessions() as session, session.begin():
        done = await session.execute(update(OutboxDelivery).where(OutboxDelivery.id == delivery_id).values(
            status=PENDING, attempts=0, next_attempt_at=now))
        mark_announced(session)  # due now: the worker is told after the commit
    return bool(done.rowcount)  # type: ignore[attr-defined]

