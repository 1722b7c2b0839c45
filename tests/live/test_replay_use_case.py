"""The replay use case (live.replay) without HTTP: when a show has a replay, what it holds, and
which recording files are ever opened. tests/web/test_replay.py checks the routes around it.
Redis and the database may be the servers' of this folder (see conftest.py): each test makes a
host, show and product of its own."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.checkout import Checkout
from inventory.clock import now_ms
from inventory.models import Host, Product, Variant
from inventory.payments import TestPaymentProvider
from inventory.stock import StockStore
from live import shows
from live.recordings import add_recording
from live.replay import Replays, recording_path


@pytest.fixture
async def stock(shared_redis: aioredis.Redis) -> AsyncIterator[StockStore]:
    store = StockStore(shared_redis)
    yield store
    store.close()


async def ended_show(sessions: async_sessionmaker, *, recorded: bool) -> tuple[str, int, str | None]:
    """An ended show that pinned a product. Returns (slug, product id, recording file or None)."""
    async with sessions() as session:
        host = Host(email=f"replay-{secrets.token_hex(4)}@example.com", name="Ana", password_hash="x")
        session.add(host)
        await session.flush()
        product = Product(host_id=host.id, title="Aurora", price_cents=12_000, currency="EUR",
                          variants=[Variant(host_id=host.id, sku="AUR-41", label="41", stock=3, position=0)])
        session.add(product)
        await session.flush()
        show = await shows.create_show(session, host.id, "Drop night")
        shows.start(show)
        show.pinned_product_id = product.id
        recording = await add_recording(session, show.id, now_ms() - 60_000) if recorded else None
        shows.end(show)
        await session.commit()
        return show.slug, product.id, recording.file if recording else None


def replays(sessions: async_sessionmaker, redis: aioredis.Redis, stock: StockStore, root: Path | None) -> Replays:
    checkout = Checkout(sessions, stock, TestPaymentProvider(redis))
    return Replays(sessions, stock, checkout.ensure_loaded, root, lambda slug: f"/files/{slug}.webm")


async def test_a_recorded_show_has_a_replay_once_its_file_is_readable(
    shared_sessions: async_sessionmaker, shared_redis: aioredis.Redis, stock: StockStore, tmp_path: Path
) -> None:
    slug, product_id, file = await ended_show(shared_sessions, recorded=True)
    assert file is not None
    use_case = replays(shared_sessions, shared_redis, stock, tmp_path)
    assert await use_case.of(slug) is None and await use_case.file_of(slug) is None  # no file on disk (yet)
    (tmp_path / file).parent.mkdir(parents=True)
    (tmp_path / file).write_bytes(b"webm")

    replay = await use_case.of(slug)
    assert replay is not None
    assert replay["recording"]["url"] == f"/files/{slug}.webm"
    assert replay["recording"]["duration_ms"] is not None and replay["recording"]["duration_ms"] >= 60_000
    assert [p["id"] for p in replay["products"]] == [product_id]
    assert replay["stock"] == {"AUR-41": 3}  # loaded into Redis from SQL to be sold again
    assert "show_id" not in replay and replay["show"]["slug"] == slug
    assert await use_case.file_of(slug) == tmp_path / file
    assert await replays(shared_sessions, shared_redis, stock, None).of(slug) is None  # no recordings folder here


async def test_a_show_without_a_recording_has_no_replay(
    shared_sessions: async_sessionmaker, shared_redis: aioredis.Redis, stock: StockStore, tmp_path: Path
) -> None:
    slug, _, _ = await ended_show(shared_sessions, recorded=False)
    use_case = replays(shared_sessions, shared_redis, stock, tmp_path)
    assert await use_case.of(slug) is None and await use_case.file_of(slug) is None
    assert await use_case.of("no-such-show") is None


def test_only_recording_file_names_are_opened(tmp_path: Path) -> None:
    (tmp_path / "show-1").mkdir()
    (tmp_path / "show-1" / "1.webm").write_bytes(b"webm")
    (tmp_path / "secret.txt").write_text("no")
    assert recording_path(tmp_path, "show-1/1.webm") == tmp_path / "show-1" / "1.webm"
    for relative in ("secret.txt", "show-1/../secret.txt", "show-1/../show-1/1.webm", "/etc/passwd", "show-1/2.webm"):
        assert recording_path(tmp_path, relative) is None
    assert recording_path(None, "show-1/1.webm") is None
