"""REDIS_URL's three shapes: one server, a Redis Cluster, or a Sentinel-watched primary.

    redis://[user:password@]host:6379/0         one server (also rediss:// and unix://)
    redis+cluster://[user:password@]host:port,host:port/
                                                a Redis Cluster: any of its nodes (the client
                                                learns the rest); LIVEDROP_REDIS_CLUSTER=1 reads
                                                a redis:// or rediss:// URL this way too
    redis+sentinel://[user:password@]sentinel:26379,sentinel:26379/<service>[/db]
                                                the primary that these sentinels name <service>;
                                                followed through failovers (docs/redis-cluster.md)

The password, if any, is the data nodes'; the sentinels are asked without one unless
LIVEDROP_SENTINEL_PASSWORD is set (sentinels usually have their own, or none; web.settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

Mode = Literal["single", "cluster", "sentinel"]

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SINGLE_SCHEMES = ("redis", "rediss", "unix")
MAX_NODES = 64  # more seed nodes than any cluster needs: a typo list, not a topology


class RedisUrlError(ValueError):
    """The URL cannot name a Redis; the message says what to write instead."""


@dataclass(frozen=True)
class RedisTarget:
    mode: Mode
    url: str  # single: the URL as given (redis-py reads it); otherwise as given, for messages
    nodes: tuple[tuple[str, int], ...] = ()  # cluster seeds or sentinels
    service: str | None = None  # sentinel: the primary's name
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: bool = False


def parse_redis_url(raw: str, *, cluster: bool = False, variable: str = "REDIS_URL") -> RedisTarget:
    """``raw`` as a target; ``cluster`` (LIVEDROP_REDIS_CLUSTER=1) reads redis:// as a cluster seed list.
    Raises RedisUrlError with a message that names ``variable``."""
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if cluster and scheme in ("redis", "rediss"):
        raw, scheme = scheme + "+cluster" + raw[len(scheme):], scheme + "+cluster"
    if scheme in SINGLE_SCHEMES:
        return RedisTarget("single", raw, tls=scheme == "rediss")
    if scheme not in CLUSTER_SCHEMES + SENTINEL_SCHEMES:
        raise RedisUrlError(
            f"{variable}: unsupported scheme {scheme!r}; use redis://host:6379/0, "
            "redis+cluster://host:7000,host:7001/ or redis+sentinel://host:26379,host:26380/mymaster"
        )
    parts = urlsplit(raw)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    nodes = tuple(_node(text, variable, 26379 if scheme in SENTINEL_SCHEMES else 6379) for text in hosts.split(",") if text)
    if not nodes:
        raise RedisUrlError(f"{variable}: name at least one node, e.g. {scheme}://127.0.0.1:7000/")
    if len(nodes) > MAX_NODES:
        raise RedisUrlError(f"{variable}: at most {MAX_NODES} nodes")
    path = [p for p in parts.path.split("/") if p]
    tls = scheme.startswith("rediss")
    user, secret = unquote(username) or None, unquote(password) if password else None
    if scheme in CLUSTER_SCHEMES:
        if path and path != ["0"]:
            raise RedisUrlError(f"{variable}: a Redis Cluster has only database 0; end the URL with / or /0")
        return RedisTarget("cluster", raw, nodes, username=user, password=secret, tls=tls)
    if not path:
        raise RedisUrlError(f"{variable}: name the primary after the sentinels, e.g. {scheme}://127.0.0.1:26379/mymaster")
    if len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise RedisUrlError(f"{variable}: expected /<service>[/<db>] after the sentinels")
    return RedisTarget("sentinel", raw, nodes, service=unquote(path[0]), db=int(path[1]) if len(path) == 2 else 0,
                       username=user, password=secret, tls=tls)


def _node(text: str, variable: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RedisUrlError(f"{variable}: {text!r} is not host:port")
    return host.strip("[]"), int(port)
