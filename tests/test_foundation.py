"""The foundation: processes, the embedded redis-server, configuration errors, the CLI."""

from __future__ import annotations

import asyncio
import os
import sys
import signal
from pathlib import Path

import httpx
import psutil
import pytest
import redis as sync_redis

from web.embedded_redis import EmbeddedRedis
from web.jobs import LEASE_KEY, Job, JobRunner
from web.settings import Settings, SettingsError

from .support import LivedropProcess, free_port, livedrop_env, run_cli, wait_until


def embedded_env(data_dir: Path) -> dict[str, str]:
    """The defaults of a fresh machine: no REDIS_URL, no DATABASE_URL, no SECRET_KEY."""
    return livedrop_env(data_dir, REDIS_URL=None, DATABASE_URL=None, SECRET_KEY=None)


def redis_server_pids(data_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "redis-server" in cmdline and str(data_dir) in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_server_leaves_no_redis_and_keeps_data(tmp_path: Path, sig: int) -> None:
    env = embedded_env(tmp_path)
    server = LivedropProcess(["serve"], env).start()
    try:
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        assert len(redis_server_pids(tmp_path)) == 1
        client = sync_redis.Redis(unix_socket_path=str(EmbeddedRedis(tmp_path).socket_path))
        client.set("survives-restart", "yes")
        client.close()
    finally:
        assert server.stop(sig) == 0, server.output()
    assert wait_until(lambda: not redis_server_pids(tmp_path), timeout=10), "redis-server left behind"

    with LivedropProcess(["serve"], env):
        client = sync_redis.Redis(unix_socket_path=str(EmbeddedRedis(tmp_path).socket_path))
        assert client.get("survives-restart") == b"yes"
        client.close()
    assert wait_until(lambda: not redis_server_pids(tmp_path), timeout=10)


def test_two_processes_share_one_redis_server(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    first = LivedropProcess(["serve"], env).start()
    try:
        second = LivedropProcess(["serve"], env).start()
    except BaseException:
        first.stop()  # the finally below is not reached: a second that never got ready must not leave the first running
        raise
    try:
        pids = redis_server_pids(tmp_path)
        assert len(pids) == 1, pids
        # The first one leaving must not stop the server under the second.
        assert first.stop() == 0
        assert redis_server_pids(tmp_path) == pids
        assert httpx.get(second.url + "/readyz").status_code == 200
    finally:
        first.stop()
        assert second.stop() == 0
    assert wait_until(lambda: not redis_server_pids(tmp_path), timeout=10)


def test_worker_adopts_the_servers_redis_and_takes_the_job_lease(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    with LivedropProcess(["serve"], env) as server:
        worker = LivedropProcess(["worker"], env).start(wait_ready=False)
        try:
            assert len(redis_server_pids(tmp_path)) == 1
            client = sync_redis.Redis(unix_socket_path=str(EmbeddedRedis(tmp_path).socket_path), decode_responses=True)
            # The worker announces itself and the server stands aside, so the worker ends up owning the lease.
            assert wait_until(lambda: str(worker.proc.pid) in (client.get(LEASE_KEY) or ""), timeout=20), (
                client.get(LEASE_KEY), worker.output(), server.output())
            client.close()
        finally:
            assert worker.stop(signal.SIGINT) == 0, worker.output()
        assert len(redis_server_pids(tmp_path)) == 1  # still used by the server
    assert wait_until(lambda: not redis_server_pids(tmp_path), timeout=10)


def test_unreachable_redis_is_named_and_exits_nonzero(tmp_path: Path) -> None:
    result = run_cli(["serve"], livedrop_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", DATABASE_URL=None))
    assert result.returncode != 0
    assert "could not reach Redis at redis://127.0.0.1:1/0" in result.stderr


def test_unreachable_database_is_named_and_exits_nonzero(tmp_path: Path) -> None:
    env = livedrop_env(tmp_path, REDIS_URL=None, DATABASE_URL="postgresql://livedrop:secret@127.0.0.1:1/nope")
    result = run_cli(["db", "upgrade"], env)
    assert result.returncode != 0
    assert "could not reach the database at postgresql+asyncpg://livedrop:***@127.0.0.1:1/nope" in result.stderr
    assert "secret" not in result.stderr
    assert not redis_server_pids(tmp_path)  # the embedded server it started was stopped again


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("LIVEDROP_PORT", "eighty", "LIVEDROP_PORT: 'eighty' is not a whole number"),
        ("LIVEDROP_PORT", "70000", "LIVEDROP_PORT: 70000 is out of range"),
        ("REDIS_URL", "http://x", "REDIS_URL: unsupported scheme 'http'"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: unsupported scheme 'mysql'"),
        ("LIVEDROP_HOLD_SECONDS", "1", "LIVEDROP_HOLD_SECONDS: 1 is out of range"),
    ],
)
def test_bad_settings_are_refused_clearly(tmp_path: Path, variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 32, variable: value})
    result = run_cli(["serve"], livedrop_env(tmp_path, **{variable: value}))
    assert result.returncode != 0 and message in result.stderr


def test_secret_key_is_required_with_database_url_and_generated_once_otherwise(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY: required when DATABASE_URL is set"):
        Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://h/db"})
    first = Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path)})
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_host_create_and_token_create(tmp_path: Path) -> None:
    env = livedrop_env(tmp_path, REDIS_URL=None, DATABASE_URL=None)
    created = run_cli(["host", "create", "--email", "Ana@Example.com"], env, input="correct horse battery\n")
    assert created.returncode == 0, created.stderr
    assert "created host ana@example.com" in created.stdout

    again = run_cli(["host", "create", "--email", "ana@example.com"], env, input="another password\n")
    assert again.returncode != 0
    assert "a host with the email ana@example.com already exists" in again.stderr

    short = run_cli(["host", "create", "--email", "bo@example.com"], env, input="short\n")
    assert short.returncode != 0 and "at least 8 characters" in short.stderr

    token = run_cli(["token", "create", "--email", "ana@example.com"], env)
    assert token.returncode == 0, token.stderr
    last_line = token.stdout.strip().splitlines()[-1]
    assert last_line.startswith("ldh_") and len(last_line) > 40

    unknown = run_cli(["token", "create", "--email", "nobody@example.com"], env)
    assert unknown.returncode != 0 and "no host with the email nobody@example.com" in unknown.stderr


def test_demo_seeds_idempotently_and_serves(tmp_path: Path) -> None:
    env = livedrop_env(tmp_path, REDIS_URL=None, DATABASE_URL=None, SECRET_KEY=None)
    for _ in range(2):  # a second start must not duplicate anything
        with LivedropProcess(["demo"], env) as demo:
            assert wait_until(lambda: "host login:" in demo.output(), timeout=10)
            out = demo.output()
            assert f"{demo.url.replace('127.0.0.1', 'localhost')}/s/demo" in out
            assert "demo@livedrop.local" in out
            assert "on a phone:" in out and "Go live on camera" in out  # how to open it from a phone (web/lan.py)
    import sqlite3

    db = sqlite3.connect(tmp_path / "livedrop.sqlite3")
    assert db.execute("select count(*) from products").fetchone()[0] == 3
    assert db.execute("select count(*) from variants").fetchone()[0] == 18
    assert db.execute("select status, pinned_product_id is not null from shows where slug='demo'").fetchone() == ("live", 1)
    db.close()


async def test_exactly_one_job_runner_holds_the_lease(redis) -> None:
    runs: dict[str, int] = {"a": 0, "b": 0}

    def job(name: str) -> Job:
        async def run() -> None:
            runs[name] += 1

        return Job(name, 0.01, run)

    a = JobRunner(redis, [job("a")], is_worker=False)
    b = JobRunner(redis, [job("b")], is_worker=False)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(a.run(stop)), asyncio.create_task(b.run(stop))]
    for _ in range(100):  # up to 5 s on a loaded machine
        if runs["a"] or runs["b"]:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert [a.holds_lease, b.holds_lease].count(True) == 1
    assert (runs["a"] > 0) != (runs["b"] > 0), runs
    stop.set()
    await asyncio.gather(*tasks)
    assert await redis.get(LEASE_KEY) is None  # released on the way out


async def test_migrations_from_several_processes_at_once_do_not_race(tmp_path: Path) -> None:
    """Three `db upgrade` at once on an empty database (SQLite file lock, or PostgreSQL advisory lock)."""
    database_url = os.environ.get("DATABASE_URL")
    fresh = None
    if database_url and database_url.startswith("postgres"):
        from .conftest import _admin, _asyncpg_dsn

        fresh = f"livedrop_migrate_{os.getpid()}"
        await _admin(_asyncpg_dsn(database_url), f'DROP DATABASE IF EXISTS "{fresh}"', f'CREATE DATABASE "{fresh}"')
        database_url = database_url.rpartition("/")[0] + "/" + fresh
    env = livedrop_env(tmp_path, REDIS_URL=None, DATABASE_URL=database_url)
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-m", "web.cli", "db", "upgrade", env=env,
                                             stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for _ in range(3)
    ]
    results = [await p.communicate() for p in procs]
    if fresh is not None:
        await _admin(_asyncpg_dsn(os.environ["DATABASE_URL"]), f'DROP DATABASE "{fresh}" WITH (FORCE)')
    assert [p.returncode for p in procs] == [0, 0, 0], results


def _processes_of(data_dir: Path) -> list[psutil.Process]:
    """Live processes whose environment names ``data_dir`` as their data folder: a livedrop process
    started on it and anything it started in turn (an embedded redis-server included)."""
    found = []
    for proc in psutil.process_iter(["environ", "cmdline"]):
        environ = proc.info.get("environ") or {}  # None: another user's process
        # The embedded redis-server is started with an environment of its own: it is known by its
        # socket's path, inside the data folder, on its command line.
        cmdline = " ".join(proc.info.get("cmdline") or ())
        if environ.get("LIVEDROP_DATA_DIR") == str(data_dir) or f"{data_dir}/" in cmdline:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def test_a_start_that_never_gets_ready_leaves_no_process_behind(tmp_path: Path) -> None:
    # A `with LivedropProcess(...)` whose start raises never runs __exit__, and `x = ....start()` binds
    # nothing: start itself must stop what it started.
    server = LivedropProcess(["serve"], livedrop_env(tmp_path))
    server.url = f"http://127.0.0.1:{free_port()}"  # readiness asked where nothing listens: it never comes
    try:
        with pytest.raises(AssertionError, match="not ready after"):
            server.start(timeout=3)
        assert server.proc is not None and server.proc.poll() is not None, "the server outlived its failed start"
        assert wait_until(lambda: not _processes_of(tmp_path), timeout=10), _processes_of(tmp_path)
    finally:
        for proc in _processes_of(tmp_path):  # without the fix: not left running for the rest of the run
            proc.kill()
