"""livedrop through a real PgBouncer in transaction pooling mode (Debian's pgbouncer, started here
on a loopback port in front of the test run's PostgreSQL). Skipped on the SQLite default and where
pgbouncer is not installed (.ci/run installs it)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from bench.drop import make_buyers, setup_show
from tests.support import LivedropProcess, flush_configured_redis, free_port, host_token, livedrop_env
from tests.web.buying import checkout_body
from web.database import make_engine

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
DATABASE_URL = os.environ.get("DATABASE_URL", "")

pytestmark = pytest.mark.skipif(not DATABASE_URL.startswith("postgres") or PGBOUNCER is None,
                                reason="needs PostgreSQL (DATABASE_URL) and pgbouncer")


@pytest.fixture(scope="module")
def pgbouncer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test database's URL, through a PgBouncer with 2 server connections per database, so
    consecutive transactions of one client land on different server connections all the time."""
    assert PGBOUNCER is not None
    folder: Path = tmp_path_factory.mktemp("pgbouncer")
    folder.chmod(0o755)  # pgbouncer refuses to run as root: it drops to `nobody`, which reads the config
    parts = urlsplit(DATABASE_URL)
    port = free_port()
    config = folder / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={parts.hostname or '127.0.0.1'} port={parts.port or 5432} user={parts.username or 'postgres'}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 200\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    config.chmod(0o644)
    argv = [PGBOUNCER, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(config)]
    log = open(folder / "pgbouncer.log", "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while b"listening on" not in (folder / "pgbouncer.log").read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, (folder / "pgbouncer.log").read_text()
            time.sleep(0.05)
        yield parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}").geturl()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


async def _workload(url: str, pgbouncer: bool) -> None:
    """Ten clients, twenty short transactions each, two statements per transaction."""
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=10, max_overflow=0, pgbouncer=pgbouncer)

    async def client(i: int) -> None:
        for j in range(20):
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT :a + 1"), {"a": i})).scalar() == i + 1
                assert (await conn.execute(text("SELECT CAST(:b AS text) || 'x'"), {"b": str(j)})).scalar() == f"{j}x"
                await conn.commit()

    try:
        await asyncio.gather(*(client(i) for i in range(10)))
    finally:
        await engine.dispose()


async def test_statement_caches_off_is_what_transaction_pooling_needs(pgbouncer: str) -> None:
    await _workload(pgbouncer, pgbouncer=True)
    # The same work with asyncpg's defaults breaks on prepared statements: the setting is needed.
    with pytest.raises(Exception, match="prepared statement"):
        await _workload(pgbouncer, pgbouncer=False)


def test_a_server_through_pgbouncer_sells_and_checks_out(pgbouncer: str, tmp_path: Path) -> None:
    flush_configured_redis()
    env = livedrop_env(tmp_path, DATABASE_URL=pgbouncer, LIVEDROP_DB_PGBOUNCER="1", LIVEDROP_DB_POOL_SIZE="4",
                       LIVEDROP_DB_MAX_OVERFLOW="2")
    token = host_token(env, f"pgb-{secrets.token_hex(3)}@example.com")
    with LivedropProcess(["serve"], env) as server:
        slug, _ = asyncio.run(setup_show(server.url, token, "Through PgBouncer", {"PGB-1": 6}, 1))
        buyers = asyncio.run(make_buyers(server.url, 8))

        async def buy(n: int, buyer: str) -> int:
            async with httpx.AsyncClient(base_url=server.url, timeout=20, headers={"Authorization": f"Bearer {buyer}"}) as client:
                held = await client.post(f"/api/shows/{slug}/holds", json={"sku": "PGB-1"},
                                         headers={"Idempotency-Key": secrets.token_hex(8)})
                if held.status_code != 201:
                    assert held.json()["error"]["code"] == "sold_out", held.text
                    return 0
                paid = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body(email=f"pgb{n}@example.com"))
                assert paid.status_code == 201 and paid.json()["status"] == "paid", paid.text
                return 1

        async def all_buyers() -> list[int]:
            return list(await asyncio.gather(*(buy(n, b) for n, b in enumerate(buyers))))

        assert sum(asyncio.run(all_buyers())) == 6  # 8 buyers, 6 units, every checkout through PgBouncer
        assert "prepared statement" not in server.output()
