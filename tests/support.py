"""Helpers for tests that run livedrop as a real process on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

LIVEDROP = [sys.executable, "-m", "web.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def livedrop_env(data_dir: Path, **extra: str | None) -> dict[str, str]:
    """The environment of a livedrop process: this test run's, with the data folder set and
    ``extra`` applied (a value of None removes the variable)."""
    env = dict(os.environ)
    env["LIVEDROP_DATA_DIR"] = str(data_dir)
    env.setdefault("SECRET_KEY", "test-secret-key-0123456789abcdef")
    env["PYTHONUNBUFFERED"] = "1"
    # No worker HTTP on the fixed default port: tests run side by side (a test that wants it sets a free port).
    env.setdefault("LIVEDROP_WORKER_PORT", "0")
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(args: list[str], env: dict[str, str], input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(LIVEDROP + args, env=env, input=input, capture_output=True, text=True, timeout=timeout)


def host_token(env: dict[str, str], email: str, password: str = "correct horse battery") -> str:
    """A new host ``email`` (created with the CLI, as an operator would) and an API token for it."""
    created = run_cli(["host", "create", "--email", email], env, input=password + "\n")
    assert created.returncode == 0, created.stderr
    token = run_cli(["token", "create", "--email", email], env)
    assert token.returncode == 0, token.stderr
    return token.stdout.strip().splitlines()[-1]


class LivedropProcess:
    """``livedrop <command>`` in the background; ``url`` once ready; stopped by a signal."""

    def __init__(self, args: list[str], env: dict[str, str], port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = env
        self.log_path = log_path or Path(env["LIVEDROP_DATA_DIR"]) / f"process-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        argv = LIVEDROP + self.args
        if self.args and self.args[0] in ("serve", "demo"):
            argv += ["--port", str(self.port)]
        return argv

    def start(self, wait_ready: bool = True, timeout: float = 60) -> "LivedropProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv(), env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        except BaseException:
            self._log.close()
            raise
        if wait_ready:
            try:
                self.wait_ready(timeout)
            except BaseException:
                # A start that raises hands the caller nothing to stop: `with` never runs __exit__ when
                # __enter__ raises, and `x = LivedropProcess(...).start()` never binds x. Stopped here,
                # the process cannot outlive the test or bench run. stop() stays safe to call again.
                self.stop()
                raise
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"livedrop exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"livedrop not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "LivedropProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def flush_configured_redis() -> None:
    """With REDIS_URL set (CI's second pass), empty it before a test starts its own processes:
    earlier tests of the run truncated the database (ids start again at 1), and Redis stock of
    their product 1 would pass for this test's product 1."""
    url = os.environ.get("REDIS_URL")
    if url:
        import redis  # noqa: PLC0415

        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
