"""The hub's view cache (live.views.ViewCache) against the hub's own clock: the sweep (run every
half second by the presence tick) stops following a show whose view is not cached, which is
also the moment right after an event dropped it and a request is loading it again. A view loaded
then must not be kept: nothing would drop it any more (the show is no longer followed, nor
known by id), so a queue offer that went live would show its seed only up to 10 s later
(MAX_AGE_S) while the buyers' ranks already showed (tests/web/test_waiting_room.py, CI's
PostgreSQL pass, 2026-12-01). And the public snapshot asked after an event is never the view of
a load that the event overtook (a load in flight, which a later request joins).

The interleaving is fixed through the cache's ``on_load`` (called after each load from SQL,
before the entry is kept): the hub is not started, so no tick sweeps but the test's. Redis and
the database may be the servers' of this folder (see conftest.py): each test makes a host, show
and product of its own."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.checkout import Checkout
from inventory.clock import now_ms
from inventory.models import Host, Product, Variant
from inventory.payments import TestPaymentProvider
from inventory.stock import StockStore
from live import offers, shows
from live.hub import Hub, HubConfig
from live.models import Offer
from live.views import ShowView


@pytest.fixture
async def hub(shared_redis: aioredis.Redis, shared_sessions: async_sessionmaker) -> AsyncIterator[Hub]:
    stock = StockStore(shared_redis)
    checkout = Checkout(shared_sessions, stock, TestPaymentProvider(shared_redis))
    yield Hub(shared_redis, shared_sessions, stock, HubConfig(), checkout.ensure_loaded)
    stock.close()


async def show_with_queue_offer(sessions: async_sessionmaker) -> tuple[str, int, int]:
    """A live show with a queue offer still scheduled (its seed secret). Returns (slug, show id, offer id)."""
    async with sessions() as session:
        host = Host(email=f"views-{secrets.token_hex(4)}@example.com", name="Ana", password_hash="x")
        session.add(host)
        await session.flush()
        product = Product(host_id=host.id, title="Aurora", price_cents=12_000, currency="EUR",
                          variants=[Variant(host_id=host.id, sku=f"AUR-{secrets.token_hex(3)}", label="41", stock=3, position=0)])
        session.add(product)
        await session.flush()
        show = await shows.create_show(session, host.id, "Drop night", slug=f"views-{secrets.token_hex(4)}")
        shows.start(show)
        now = now_ms()
        spec = offers.OfferSpec(product_id=product.id, price_cents=9_900, duration_s=600, starts_at=now + 60_000, mode="queue")
        offer = offers.create_offer(session, show.id, spec, now, units=3)
        await session.commit()
        return show.slug, show.id, offer.id


async def go_live(hub: Hub, sessions: async_sessionmaker, show_id: int, offer_id: int) -> None:
    """What the offer clock does at starts_at (live.offer_clock): the offer is stored live, then
    published (the publish drops the show's view in this process)."""
    async with sessions() as session:
        offer = await session.get(Offer, offer_id)
        assert offer is not None
        assert await offers.advance(session, offer, offer.starts_at)
        await session.commit()
    await hub.publish(show_id, "offer", offers.offer_json(offer, 3, "EUR", "Aurora"))


def during_load(hub: Hub, step: Callable[[], Awaitable[None]]) -> None:
    """Runs ``step`` once, inside the next load from SQL that may be kept (a show's first load is
    two: one to learn its id, then this one, once it is followed), between its SELECTs and the
    keeping of the entry."""
    loaded = hub.views.on_load
    done = False

    async def hook(view: ShowView) -> None:
        nonlocal done
        if loaded is not None:
            await loaded(view)
        if not done:
            done = True
            await step()

    hub.views.on_load = hook


async def seed_in_snapshot(hub: Hub, slug: str) -> str | None:
    snapshot = await hub.snapshot(slug)
    assert snapshot is not None and len(snapshot["offers"]) == 1
    return snapshot["offers"][0]["seed"]


async def test_a_view_loaded_while_the_sweep_stops_following_its_show_is_not_kept(
    hub: Hub, shared_sessions: async_sessionmaker
) -> None:
    slug, show_id, offer_id = await show_with_queue_offer(shared_sessions)

    async def sweep() -> None:
        hub.views.sweep()  # the presence tick, while the view is being loaded

    during_load(hub, sweep)
    assert await seed_in_snapshot(hub, slug) is None  # scheduled: still secret
    hub.views.on_load = hub._view_loaded
    await go_live(hub, shared_sessions, show_id, offer_id)
    assert await seed_in_snapshot(hub, slug) is not None  # the event dropped the view: it is the live one


async def test_a_view_read_before_the_offer_went_live_is_not_kept_through_a_sweep(
    hub: Hub, shared_sessions: async_sessionmaker
) -> None:
    slug, show_id, offer_id = await show_with_queue_offer(shared_sessions)

    async def live_then_sweep() -> None:
        # The load read the offer scheduled; the clock moves it live and publishes (the view's
        # generation moves on), then the presence tick sweeps.
        await go_live(hub, shared_sessions, show_id, offer_id)
        hub.views.sweep()

    during_load(hub, live_then_sweep)
    read = await hub.views.get(slug)  # what a sale asks: this caller may have the view read before the change
    assert read is not None and [o.state for o in read.offers] == ["scheduled"]
    hub.views.on_load = hub._view_loaded
    assert await seed_in_snapshot(hub, slug) is not None  # but it was not kept


async def test_a_snapshot_asked_after_an_event_is_not_the_load_the_event_overtook(
    hub: Hub, shared_sessions: async_sessionmaker
) -> None:
    slug, show_id, offer_id = await show_with_queue_offer(shared_sessions)
    paused, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        paused.set()
        await release.wait()

    during_load(hub, hold)
    early = asyncio.create_task(seed_in_snapshot(hub, slug))  # its load reads the offer scheduled, then waits
    await paused.wait()
    await go_live(hub, shared_sessions, show_id, offer_id)  # the offer is live and published: ranks may show
    late = asyncio.create_task(seed_in_snapshot(hub, slug))  # asked after the event: joins the load in flight
    for _ in range(5):
        await asyncio.sleep(0)
    release.set()
    await early  # asked before the event: either answer is true of some moment of its request
    assert await late is not None
