"""Two real server processes on one Redis and one database, shared by every test of this folder.

Each test makes its own show (a unique slug), so tests do not see each other's events. The
servers run with a small send queue and send timeout, so the slow-client test stalls quickly.

Tests of live's use cases in this process (test_report, test_replay_use_case) use
``shared_redis`` and ``shared_sessions`` instead of tests/conftest.py's ``redis`` and
``sessions``: with REDIS_URL and DATABASE_URL set, the servers use the same Redis and database,
and those fixtures empty both before each test. These never empty anything; tests make their own
hosts, shows and products.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import async_sessionmaker

from web.database import make_engine, make_sessionmaker
from web.embedded_redis import EmbeddedRedis
from web.services import make_redis
from tests.support import LivedropProcess, host_token, livedrop_env

SERVER_ENV = {
    "LIVEDROP_WS_QUEUE_FRAMES": "64",
    "LIVEDROP_WS_SEND_TIMEOUT_MS": "1000",
    "LIVEDROP_CHAT_PER_BUYER_PER_10S": "3",
    "LIVEDROP_CHAT_MAX_LENGTH": "100",
    "LIVEDROP_ALLOWED_ORIGINS": "https://shop.example",
    "LIVEDROP_SOCKET_SEND_BUFFER": "32768",
    # A safety poll far slower than any timeout here: a stock frame that arrives was pushed (live.stock_signal).
    "LIVEDROP_STOCK_POLL_MS": "60000",
}


@dataclass
class Cluster:
    a: LivedropProcess
    b: LivedropProcess
    token: str  # host 1
    other_token: str  # host 2
    redis_url: str  # the Redis both servers use (for tests that reach behind the servers)
    env: dict[str, str]  # the servers' environment: a test may start another process on the same data


    def host(self, server: LivedropProcess | None = None, token: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=(server or self.a).url, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=10
        )


@pytest.fixture
async def shared_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """The test run's Redis, as it is (no FLUSHDB: the servers of ``cluster`` may be using it)."""
    client = make_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def shared_sessions(database_url: str) -> AsyncIterator[async_sessionmaker]:
    """The test run's database, as it is (no emptied tables: the servers may be using it)."""
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data_dir: Path = tmp_path_factory.mktemp("live")
    env = livedrop_env(data_dir, **SERVER_ENV)
    if os.environ.get("REDIS_URL"):
        # The database is new for this run (tests/conftest.py); Redis must be too, or stock of
        # an earlier run's product 1 would pass for this run's product 1.
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        client.flushdb()
        client.close()
    a = LivedropProcess(["serve"], env).start()
    b = LivedropProcess(["serve"], env).start()
    try:
        tag = secrets.token_hex(4)
        redis_url = os.environ.get("REDIS_URL") or f"unix://{EmbeddedRedis(data_dir).socket_path}"
        yield Cluster(a, b, host_token(env, f"host-{tag}@example.com"), host_token(env, f"other-{tag}@example.com"),
                      redis_url, env)
    finally:
        a.stop()
        b.stop()


def unique_slug(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


async def make_show(host: httpx.AsyncClient, prefix: str, variants: dict[str, int] | None = None,
                    description: str = "", live: bool = True) -> tuple[str, int]:
    """A live show and one product; returns (slug, product id)."""
    slug = unique_slug(prefix)
    skus = variants or {f"{slug}-40": 5, f"{slug}-41": 5}
    product = await host.post("/api/products", json={
        "title": f"Sneaker {slug}", "description": description, "price_cents": 12000, "currency": "EUR",
        "variants": [{"sku": sku, "label": sku[-2:], "stock": n} for sku, n in skus.items()],
    })
    assert product.status_code == 201, product.text
    show = await host.post("/api/shows", json={"title": f"Show {slug}", "slug": slug})
    assert show.status_code == 201, show.text
    if live:
        started = await host.post(f"/api/shows/{slug}/start")
        assert started.status_code == 200 and started.json()["status"] == "live", started.text
    return slug, product.json()["id"]


async def buyer(server_url: str, name: str = "") -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as client:
        answer = await client.post("/api/buyers", json={"name": name} if name else {})
        assert answer.status_code == 201, answer.text
        return answer.json()["buyer_id"], answer.json()["token"]
