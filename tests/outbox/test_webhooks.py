"""Signed webhooks from the outbox, end to end: a real order paid through the API, the real
worker, a real receiver on 127.0.0.1 that verifies every delivery with ``standardwebhooks``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.deliveries import DAY_MS, RETRY_SCHEDULE_MS, DeliveryAttempt, OutboxDelivery, WebhookEndpoint
from inventory.outbox import OutboxEvent, announce
from live.outbox_worker import CLAIM_LEASE_MS, OutboxWorker
from live.webhook_endpoints import WebhookEndpoints
from live.webhook_sender import WebhookSender
from live.webhook_urls import UrlPolicy, WebhookUrlPrivate
from tests.outbox.conftest import Clock
from tests.outbox.receiver import Receiver
from tests.web.buying import auth, checkout_body, hold, live_show_with_product, new_buyer

ALLOW_LOOPBACK = UrlPolicy(https_only=False, allow_private=True)


def worker(sessions: async_sessionmaker, clock: Clock) -> OutboxWorker:
    return OutboxWorker(sessions, WebhookSender(ALLOW_LOOPBACK), None, clock=clock)


async def register(http: httpx.AsyncClient, token: str, receiver: Receiver, events: list[str]) -> dict[str, Any]:
    made = await http.post("/api/webhooks/endpoints", json={"url": receiver.url, "events": events}, headers=auth(token))
    assert made.status_code == 201, made.text
    endpoint = made.json()
    assert endpoint["secret"].startswith("whsec_") and len(endpoint["secret"]) >= 6 + 32
    receiver.secret = endpoint["secret"]
    return endpoint


async def paid_order(http: httpx.AsyncClient, token: str, email: str = "kim@example.com") -> dict[str, Any]:
    sku = f"AR-{uuid.uuid4().hex[:8]}"
    slug, _ = await live_show_with_product(http, token, {sku: 3})
    buyer = await new_buyer(http)
    held = await hold(http, slug, buyer, sku)
    assert held.status_code == 201, held.text
    paid = await http.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body(email), headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    return dict(paid.json())


async def test_a_paid_order_reaches_the_receiver_signed_and_is_listed_delivered(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> None:
    endpoint = await register(http, host_token, receiver, ["order.paid"])
    listed = (await http.get("/api/webhooks/endpoints", headers=auth(host_token))).json()["endpoints"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]  # shown once, at creation

    order = await paid_order(http, host_token)
    assert await worker(sessions, clock).tick() == 1

    [got] = receiver.received
    assert got.error is None, got.error
    assert got.verified["type"] == "order.paid"
    data = got.verified["data"]
    assert (data["order_id"], data["number"], data["email"], data["total_cents"]) == (
        order["order_id"], order["number"], "kim@example.com", order["total_cents"])
    assert got.headers["webhook-id"].startswith("evt_") and got.headers["webhook-signature"].startswith("v1,")

    deliveries = (await http.get(f"/api/webhooks/endpoints/{endpoint['id']}/deliveries", headers=auth(host_token))).json()
    [row] = deliveries["deliveries"]
    assert (row["status"], row["event_id"], row["type"], row["attempts"], row["last_status"]) == (
        "delivered", got.headers["webhook-id"], "order.paid", 1, 200)

    # Redeliver: the same event id and body again, freshly signed.
    again = await http.post(f"/api/webhooks/deliveries/{row['id']}/redeliver", headers=auth(host_token))
    assert again.status_code == 202 and again.json()["status"] == "pending"
    await worker(sessions, clock).tick()
    assert len(receiver.received) == 2 and receiver.received[1].error is None
    assert receiver.received[1].headers["webhook-id"] == got.headers["webhook-id"] and receiver.received[1].body == got.body


async def test_an_endpoint_gets_only_its_events_and_only_its_hosts(
        http: httpx.AsyncClient, host_token: str, other_host_token: str, sessions: async_sessionmaker,
        receiver: Receiver, clock: Clock) -> None:
    endpoint = await register(http, host_token, receiver, ["show.live"])
    await paid_order(http, host_token)  # starts a show (show.live) and pays an order (order.paid)
    await paid_order(http, other_host_token)  # the other host's: never to this endpoint
    await worker(sessions, clock).tick()
    assert [r.verified["type"] for r in receiver.received] == ["show.live"]
    assert all(r.error is None for r in receiver.received)
    other = await http.get(f"/api/webhooks/endpoints/{endpoint['id']}/deliveries", headers=auth(other_host_token))
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    gone = await http.delete(f"/api/webhooks/endpoints/{endpoint['id']}", headers=auth(other_host_token))
    assert gone.status_code == 404
    assert (await http.delete(f"/api/webhooks/endpoints/{endpoint['id']}", headers=auth(host_token))).status_code == 204
    assert (await http.get("/api/webhooks/endpoints", headers=auth(host_token))).json() == {"endpoints": []}


async def test_a_worker_killed_mid_delivery_delivers_after_restart_with_the_same_id_and_body(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> None:
    await register(http, host_token, receiver, ["order.paid"])
    order = await paid_order(http, host_token)
    receiver.hang = asyncio.Event()  # the first delivery is on the wire when the worker dies
    first_run = asyncio.create_task(worker(sessions, clock).tick())
    await receiver.wait_for(1)
    first_run.cancel()
    await asyncio.gather(first_run, return_exceptions=True)
    async with sessions() as session:
        [delivery] = (await session.execute(select(OutboxDelivery))).scalars()
        assert (delivery.status, delivery.attempts) == ("pending", 1)  # claimed, never answered

    # A new process, before the claim's lease runs out: nothing is sent twice at once.
    restarted = worker(sessions, clock)
    assert await restarted.tick() == 0
    clock.advance(CLAIM_LEASE_MS)
    assert await restarted.tick() == 1

    first, second = receiver.received
    assert second.error is None and first.error is None
    assert second.headers["webhook-id"] == first.headers["webhook-id"] and second.body == first.body
    assert second.verified["data"]["order_id"] == order["order_id"]
    async with sessions() as session:
        [delivery] = (await session.execute(select(OutboxDelivery))).scalars()
        assert (delivery.status, delivery.attempts) == ("delivered", 2)


async def test_retries_follow_the_schedule_then_the_delivery_is_dead_and_the_endpoint_disabled_after_3_days(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> None:
    endpoint = await register(http, host_token, receiver, ["order.paid"])
    receiver.answers = [503, 500, 429, 408] + [502] * 20
    await paid_order(http, host_token)
    run = worker(sessions, clock)
    start = clock.now
    tried_at: list[int] = []
    waits = list(RETRY_SCHEDULE_MS[1:]) + [None]
    await run.tick()
    tried_at.append(clock.now)
    for wait in waits:
        if wait is None:
            break
        clock.advance(wait - 1)
        assert await run.tick() == 0, f"tried before the {wait} ms wait was over"
        clock.advance(1)
        assert await run.tick() == 1
        tried_at.append(clock.now)
    assert [b - a for a, b in zip(tried_at, tried_at[1:])] == list(RETRY_SCHEDULE_MS[1:])
    clock.advance(10 * DAY_MS)
    assert await run.tick() == 0
    async with sessions() as session:
        [delivery] = (await session.execute(select(OutboxDelivery))).scalars()
        assert (delivery.status, delivery.attempts, delivery.last_status) == ("dead", 9, 502)
        attempts = list((await session.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.id))).scalars())
        assert [a.status for a in attempts] == [503, 500, 429, 408, 502, 502, 502, 502, 502]
        assert [a.at - start for a in attempts] == [t - start for t in tried_at]
        ep = await session.get(WebhookEndpoint, endpoint["id"])
        assert ep is not None and ep.failing_since == start and ep.disabled_at is None  # 44.6 h of failures so far
    assert len(receiver.received) == 9 and all(r.error is None for r in receiver.received)

    # Days later the next event fails too: failing for more than 3 days, the endpoint is disabled...
    await paid_order(http, host_token, "later@example.com")
    assert await run.tick() == 1
    async with sessions() as session:
        ep = await session.get(WebhookEndpoint, endpoint["id"])
        assert ep is not None and ep.disabled_at == clock.now
    # ...and gets nothing more.
    await paid_order(http, host_token, "after@example.com")
    clock.advance(DAY_MS)
    assert await run.tick() == 0
    assert len(receiver.received) == 10
    listed = (await http.get("/api/webhooks/endpoints", headers=auth(host_token))).json()["endpoints"]
    assert listed[0]["disabled_at"] is not None


async def test_a_4xx_is_not_retried_and_a_success_clears_the_failing_mark(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> None:
    endpoint = await register(http, host_token, receiver, ["order.paid"])
    receiver.answers = [410]
    await paid_order(http, host_token, "a@example.com")
    run = worker(sessions, clock)
    await run.tick()
    clock.advance(DAY_MS)
    await run.tick()
    assert len(receiver.received) == 1
    async with sessions() as session:
        [delivery] = (await session.execute(select(OutboxDelivery))).scalars()
        assert (delivery.status, delivery.last_status, delivery.last_error) == ("failed", 410, "HTTP 410 Gone")
        assert (await session.get(WebhookEndpoint, endpoint["id"])).failing_since is not None  # type: ignore[union-attr]
    await paid_order(http, host_token, "b@example.com")
    await run.tick()
    async with sessions() as session:
        assert (await session.get(WebhookEndpoint, endpoint["id"])).failing_since is None  # type: ignore[union-attr]


async def test_bad_endpoint_urls_are_refused_with_stable_codes(http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker) -> None:
    async def refused(url: str, events: list[str] | None = None) -> tuple[int, str, str]:
        answer = await http.post("/api/webhooks/endpoints", json={"url": url, "events": events or ["order.paid"]},
                                 headers=auth(host_token))
        error = answer.json()["error"]
        return answer.status_code, error["code"], error["message"]

    assert (await refused("ftp://shop.example/hook"))[:2] == (422, "webhook_url_invalid")
    assert (await refused("javascript:alert(1)"))[:2] == (422, "webhook_url_invalid")
    assert (await refused("http://shop.example/hook"))[:2] == (422, "webhook_url_invalid")  # http only to loopback
    assert (await refused("https://user:pw@shop.example/hook"))[:2] == (422, "webhook_url_invalid")
    status, code, message = await refused("https://shop.example/" + "a" * 5000)
    assert (status, code) == (422, "webhook_url_too_long") and "2048" in message
    status, code, message = await refused("https://shop.example/hook", ["order.paid", "order.exploded"])
    assert (status, code) == (422, "invalid_request") and "order.exploded" in message
    assert (await http.get("/api/webhooks/endpoints", headers=auth(host_token))).json() == {"endpoints": []}

    # Private addresses, without the operator's permission: refused at registration...
    strict = WebhookEndpoints(sessions, UrlPolicy(https_only=False, allow_private=False))
    for url in ("http://127.0.0.1:9/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest/meta-data",
                "https://[::1]/hook", "https://[::ffff:192.168.0.1]/hook", "https://0.0.0.0/hook", "http://localhost/hook"):
        try:
            await strict.create(1, url, ["order.paid"])
        except WebhookUrlPrivate as refusal:
            assert refusal.status == 422 and "LIVEDROP_WEBHOOK_ALLOW_PRIVATE" in refusal.message
        else:
            raise AssertionError(f"{url} was accepted")
    # ...and in production only https://
    production = WebhookEndpoints(sessions, UrlPolicy(https_only=True, allow_private=True))
    try:
        await production.create(1, "http://127.0.0.1:9/hook", ["order.paid"])
    except Exception as refusal:
        assert getattr(refusal, "code", None) == "webhook_url_invalid"
    else:
        raise AssertionError("http:// accepted in production")


async def test_the_address_is_checked_again_at_delivery(sessions: async_sessionmaker, host_token: str, clock: Clock,
                                                        receiver: Receiver) -> None:
    """An endpoint registered while private addresses were allowed (or a name that now resolves to
    one) is not called when they are not: the delivery fails without a request."""
    async with sessions() as session, session.begin():
        host_id = (await session.execute(select(WebhookEndpoint.host_id))).scalar()  # none yet
        from web.auth import host_for_token
        host = await host_for_token(session, host_token)
        assert host is not None and host_id is None
        session.add(WebhookEndpoint(host_id=host.id, url=receiver.url, events=["order.paid"], secret="whsec_" + "A" * 44,
                                    created_at=clock.now))
        announce(session, "order.paid", {"order_id": "x"}, host_id=host.id)
    strict = OutboxWorker(sessions, WebhookSender(UrlPolicy(https_only=False, allow_private=False)), None, clock=clock)
    await strict.tick()
    assert receiver.received == []
    async with sessions() as session:
        [delivery] = (await session.execute(select(OutboxDelivery))).scalars()
        assert delivery.status == "failed" and "private" in (delivery.last_error or "")
        assert (await session.execute(select(OutboxEvent.dispatched_at))).scalar() is not None


async def test_two_workers_racing_send_each_delivery_once(
        http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker, receiver: Receiver, clock: Clock) -> None:
    await register(http, host_token, receiver, ["order.paid"])
    for n in range(6):
        await paid_order(http, host_token, f"race{n}@example.com")
    one, two = worker(sessions, clock), worker(sessions, clock)
    outcomes = await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick(), return_exceptions=True)
    # A worker that lost a race on SQLite's write lock fails its tick (the job runs again); none sends twice.
    await one.tick()
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 6, (ids, outcomes)
    assert all(r.error is None for r in receiver.received)


async def test_redeliveries_are_rate_limited_per_host(http: httpx.AsyncClient, host_token: str, sessions: async_sessionmaker,
                                                      receiver: Receiver, clock: Clock) -> None:
    from web.routes.webhook_endpoints import REDELIVER_LIMIT

    endpoint = await register(http, host_token, receiver, ["order.paid"])
    await paid_order(http, host_token)
    await worker(sessions, clock).tick()
    [row] = (await http.get(f"/api/webhooks/endpoints/{endpoint['id']}/deliveries", headers=auth(host_token))).json()["deliveries"]
    answers = [await http.post(f"/api/webhooks/deliveries/{row['id']}/redeliver", headers=auth(host_token))
               for _ in range(REDELIVER_LIMIT.allowed + 1)]
    assert [a.status_code for a in answers] == [202] * REDELIVER_LIMIT.allowed + [429]
    assert answers[-1].json()["error"]["code"] == "rate_limited" and int(answers[-1].headers["retry-after"]) >= 1
