"""Dependency faults as the app answers them (web.faults, inventory.faults): 503 ``unavailable``
with ``Retry-After`` for an API call, a short page for a browser, close code 1013 for a viewer's
WebSocket; a bug of the same exception family still a 500; and one log line per outage each way.
The faults are real: clients and engines pointed at a closed port. (A Redis outage on a running
server is tests/web/test_outage.py.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import redis.exceptions
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from inventory.faults import DATABASE, REDIS, Outages, fault_of
from tests.redis_proxy import DroppingProxy
from tests.support import free_port
from web.database import make_engine
from web.errors import server_error_handler
from web.faults import FAULT_HANDLERS
from web.livedrop import make_templates
from web.services import make_redis

from .buying import auth, new_buyer



async def _fault(call: Callable[[], object]) -> Exception:
    try:
        await call()  # type: ignore[misc]
    except Exception as exc:
        return exc
    raise AssertionError("no fault")


async def _redis_down() -> Exception:
    client = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        return await _fault(client.ping)
    finally:
        await client.aclose()


async def _select_1(engine: AsyncEngine) -> None:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def _postgres_down() -> Exception:
    """asyncpg raises a refused connect unwrapped (ConnectionRefusedError)."""
    return await _fault(lambda: _select_1(make_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{free_port()}/none")))


def _sqlite_unreachable(tmp_path: Path) -> Exception:
    """A SQLite file in a folder that is not there: sqlalchemy's OperationalError. (The sync
    driver raises the same as aiosqlite, without a worker thread outliving the test's loop.)"""
    engine = create_engine(f"sqlite:///{tmp_path}/gone/livedrop.db")
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("no fault")


async def test_the_faults_are_told_apart_from_bugs(tmp_path: Path) -> None:
    assert fault_of(await _redis_down()) == REDIS
    assert fault_of(await _postgres_down()) == DATABASE
    assert fault_of(_sqlite_unreachable(tmp_path)) == DATABASE
    assert fault_of(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))) is None
    assert fault_of(ValueError("a bug")) is None
    assert fault_of(ConnectionResetError("a client gone")) is None  # not raised by a database driver


class ControlledProbe:
    """A dependency whose answer the test decides."""

    def __init__(self) -> None:
        self.up = False

    async def __call__(self) -> None:
        if not self.up:
            raise ConnectionRefusedError("still down")


def _app(faults: dict[str, Exception], outages: Outages) -> Starlette:
    async def fail(request: Request) -> None:
        raise faults[request.path_params["name"]]

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        raise faults["redis"]

    app = Starlette(
        routes=[Route("/api/fail/{name}", fail), Route("/page/{name}", fail), WebSocketRoute("/ws", socket)],
        exception_handlers={500: server_error_handler, **FAULT_HANDLERS},
    )
    # Only what the fault handlers reach of the process's Livedrop (web.livedrop).
    app.state.livedrop = SimpleNamespace(services=SimpleNamespace(outages=outages), templates=make_templates())
    return app


@pytest.fixture
async def faults(tmp_path: Path) -> dict[str, Exception]:
    return {
        "redis": await _redis_down(),
        "postgres": await _postgres_down(),
        "sqlite": _sqlite_unreachable(tmp_path),
        "bug": IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")),
        # A Redis Cluster failing over (docs/redis-cluster.md) is an outage; other error replies,
        # and an AttributeError of our own, are bugs.
        "clusterdown": redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"),
        "wrongtype": redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        "attribute_bug": AttributeError("'NoneType' object has no attribute 'sku'"),
    }


async def test_a_fault_is_503_unavailable_with_retry_after_and_a_bug_is_still_500(faults: dict[str, Exception]) -> None:
    outages = Outages({})
    transport = httpx.ASGITransport(app=_app(faults, outages), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for name in ("redis", "postgres", "sqlite"):
            response = await http.get(f"/api/fail/{name}")
            assert response.status_code == 503, (name, response.text)
            assert response.json()["error"]["code"] == "unavailable"
            assert response.headers["retry-after"] == "1"  # a fresh outage: retry after a second
        page = await http.get("/page/redis", headers={"Accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 503 and page.headers["retry-after"] == "1"
        assert "text/html" in page.headers["content-type"] and "Back in a moment" in page.text
        assert '<meta http-equiv="refresh" content="1">' in page.text
        bug = await http.get("/api/fail/bug")
        assert bug.status_code == 500 and bug.json()["error"]["code"] == "internal_error"
        assert (await http.get("/api/fail/clusterdown")).status_code == 503
        for name in ("wrongtype", "attribute_bug"):
            other_bug = await http.get(f"/api/fail/{name}")
            assert other_bug.status_code == 500 and other_bug.json()["error"]["code"] == "internal_error", name
    assert outages.is_down(REDIS) and outages.is_down(DATABASE)
    await outages.close()


async def test_a_viewer_socket_during_an_outage_is_closed_with_1013() -> None:
    app = _app({"redis": await _redis_down()}, Outages({}))
    incoming: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": "/ws", "raw_path": b"/ws",
             "root_path": "", "query_string": b"", "headers": [], "server": ("test", 80), "client": ("127.0.0.1", 5000),
             "subprotocols": []}
    await app(scope, incoming.get, send)  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"], sent
    assert sent[-1]["code"] == 1013  # try again later: the viewer's page reconnects


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    faults: dict[str, Exception], caplog: pytest.LogCaptureFixture
) -> None:
    redis_probe = ControlledProbe()
    outages = Outages({REDIS: redis_probe}, probe_every_s=0.01)
    transport = httpx.ASGITransport(app=_app(faults, outages))
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answers = await asyncio.gather(*(http.get("/api/fail/redis") for _ in range(30)))
            assert {r.status_code for r in answers} == {503}
            assert outages.retry_after_s(REDIS) == 1
            redis_probe.up = True
            for _ in range(200):
                if not outages.is_down(REDIS):
                    break
                await asyncio.sleep(0.01)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("livedrop")]
    assert len(lines) == 2, lines
    assert lines[0].startswith("redis unavailable (ConnectionError: ")
    assert lines[1].startswith("redis is back after ") and lines[1].endswith("; 30 requests were answered 503 meanwhile")
    await outages.close()


@pytest.fixture
async def closed_port_engine() -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{free_port()}/none")
    yield engine
    await engine.dispose()


async def test_the_database_down_under_the_real_app_is_503_and_then_it_works_again(
    app: Starlette, client: httpx.AsyncClient, closed_port_engine: AsyncEngine
) -> None:
    buyer = await new_buyer(client)
    client.cookies.clear()
    services = app.state.livedrop.services
    working = services.engine
    # Every part of the app reaches the database through this one sessionmaker (and /readyz
    # through services.engine): pointing both at a closed port takes the database away.
    services.sessions.configure(bind=closed_port_engine)
    services.engine = closed_port_engine
    try:
        me = await client.get("/api/buyers/me", headers=auth(buyer))
        created = await client.post("/api/buyers", json={})
        ready = await client.get("/readyz")
    finally:
        services.sessions.configure(bind=working)
        services.engine = working
    for response in (me, created):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "unavailable" and response.headers["retry-after"].isdigit()
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unavailable")
    assert (await client.get("/api/buyers/me", headers=auth(buyer))).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    for _ in range(100):  # the probe sees the database answer again within a quarter second
        if not services.outages.is_down(DATABASE):
            break
        await asyncio.sleep(0.05)
    assert not services.outages.is_down(DATABASE)


async def test_a_redis_command_on_a_dropped_connection_is_sent_once_more_on_a_new_one(redis_url: str) -> None:
    async with DroppingProxy(redis_url) as proxy:
        client = make_redis(proxy.url)
        try:
            await client.delete("faults:resent")
            assert await client.incr("faults:resent") == 1
            proxy.drop_next = True  # as a Redis that restarted: the pooled connection is dead
            assert await client.incr("faults:resent") == 2  # answered, not a ConnectionError
            assert (proxy.dropped, proxy.connections) == (1, 2)
        finally:
            await client.aclose()
