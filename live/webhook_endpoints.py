"""A host's webhook endpoints: register (the URL checked, the events validated, a secret made and
shown once), list, delete, the recent deliveries of one, and redeliver one delivery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.clock import now_ms
from inventory.deliveries import DeliveryAttempt, OutboxDelivery, WebhookEndpoint, endpoint_of, webhook_channel
from inventory.errors import InvalidRequest, NotFound
from inventory.outbox import EVENT_KINDS, OutboxEvent
from live.outbox_worker import redeliver
from live.webhook_sender import new_secret
from live.webhook_urls import UrlPolicy, check_url

MAX_ENDPOINTS_PER_HOST = 20
RECENT_DELIVERIES = 50
# Events a host's webhook may name: the ones sent on a host's behalf (a reminder or an orders link
# goes to a buyer's inbox and carries links meant for that buyer alone).
WEBHOOK_KINDS: tuple[str, ...] = tuple(
    k for k in EVENT_KINDS if k not in ("show.reminder", "buyer.orders_link", "thread.message", "draw.won", "draw.lost")
)


def endpoint_json(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events), "created_at": endpoint.created_at,
        "failing_since": endpoint.failing_since, "disabled_at": endpoint.disabled_at,
    }
    if secret:
        out["secret"] = endpoint.secret
    return out


def delivery_json(delivery: OutboxDelivery, event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": delivery.id, "event_id": delivery.event_id, "type": event.kind, "channel": delivery.channel,
        "status": delivery.status, "attempts": delivery.attempts, "next_attempt_at": delivery.next_attempt_at,
        "last_status": delivery.last_status, "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at, "created_at": delivery.created_at,
    }


class WebhookEndpoints:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], policy: UrlPolicy, *, clock: Callable[[], int] = now_ms) -> None:
        self.sessions = sessions
        self.policy = policy
        self.clock = clock

    async def create(self, host_id: int, url: str, events: list[str]) -> dict[str, Any]:
        unknown = [e for e in events if e not in WEBHOOK_KINDS]
        if unknown:
            raise InvalidRequest("events", f"unknown event type(s) {', '.join(map(repr, unknown))}; one of {', '.join(WEBHOOK_KINDS)}")
        if not events:
            raise InvalidRequest("events", "name at least one event type")
        await check_url(url, self.policy)
        async with self.sessions() as session, session.begin():
            count = (await session.execute(select(func.count()).select_from(WebhookEndpoint)
                                           .where(WebhookEndpoint.host_id == host_id))).scalar_one()
            if count >= MAX_ENDPOINTS_PER_HOST:
                raise InvalidRequest("url", f"at most {MAX_ENDPOINTS_PER_HOST} endpoints per host; delete one first")
            endpoint = WebhookEndpoint(host_id=host_id, url=url, events=sorted(set(events), key=EVENT_KINDS.index),
                                       secret=new_secret(), created_at=self.clock())
            session.add(endpoint)
        return endpoint_json(endpoint, secret=True)

    async def for_host(self, host_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.execute(select(WebhookEndpoint).where(WebhookEndpoint.host_id == host_id)
                                          .order_by(WebhookEndpoint.id))).scalars()
            return [endpoint_json(e) for e in rows]

    async def _own(self, session: AsyncSession, host_id: int, endpoint_id: int) -> WebhookEndpoint:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or endpoint.host_id != host_id:
            raise NotFound("no such webhook endpoint")
        return endpoint

    async def delete(self, host_id: int, endpoint_id: int) -> None:
        async with self.sessions() as session, session.begin():
            endpoint = await self._own(session, host_id, endpoint_id)
            channel = webhook_channel(endpoint.id)
            ids = select(OutboxDelivery.id).where(OutboxDelivery.channel == channel).scalar_subquery()
            await session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids)))
            await session.execute(delete(OutboxDelivery).where(OutboxDelivery.channel == channel))
            await session.delete(endpoint)

    async def deliveries(self, host_id: int, endpoint_id: int, limit: int = RECENT_DELIVERIES) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            endpoint = await self._own(session, host_id, endpoint_id)
            rows = (await session.execute(
                select(OutboxDelivery, OutboxEvent).join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
                .where(OutboxDelivery.channel == webhook_channel(endpoint.id))
                .order_by(OutboxDelivery.created_at.desc(), OutboxDelivery.id.desc()).limit(limit)
            )).all()
            return [delivery_json(d, e) for d, e in rows]

    async def redeliver(self, host_id: int, delivery_id: int) -> dict[str, Any]:
        async with self.sessions() as session:
            delivery = await session.get(OutboxDelivery, delivery_id)
            endpoint_id = endpoint_of(delivery.channel) if delivery is not None else None
            if delivery is None or endpoint_id is None:
                raise NotFound("no such delivery")
            await self._own(session, host_id, endpoint_id)
        await redeliver(self.sessions, delivery_id, self.clock())
        async with self.sessions() as session:
            row = (await session.execute(select(OutboxDelivery, OutboxEvent).join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
                                         .where(OutboxDelivery.id == delivery_id))).one()
            return delivery_json(row[0], row[1])
