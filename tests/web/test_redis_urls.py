"""REDIS_URL's shapes (web.redis_urls): one server, a Redis Cluster, Sentinel; and the clear
error an operator gets for one that names none of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from web.redis_urls import RedisUrlError, parse_redis_url
from web.settings import Settings, SettingsError


def test_cluster_urls_name_their_seed_nodes_and_credentials() -> None:
    target = parse_redis_url("redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002/")
    assert target.mode == "cluster"
    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002))
    assert (target.username, target.password, target.tls) == ("app", "s@cret", False)
    assert parse_redis_url("rediss+cluster://h:7000/0").tls


def test_the_cluster_flag_reads_a_plain_url_as_a_cluster() -> None:
    target = parse_redis_url("redis://10.0.0.1:7000/", cluster=True)
    assert target.mode == "cluster" and target.url == "redis+cluster://10.0.0.1:7000/"
    assert target.nodes == (("10.0.0.1", 7000),)
    assert parse_redis_url("unix:///tmp/redis.sock", cluster=True).mode == "single"  # a socket is never a cluster


def test_sentinel_urls_name_the_sentinels_the_service_and_the_database() -> None:
    target = parse_redis_url("redis+sentinel://:pw@s1:26379,s2/mymaster/2")
    assert target.mode == "sentinel"
    assert target.nodes == (("s1", 26379), ("s2", 26379))  # the sentinel port by default
    assert (target.service, target.db, target.password) == ("mymaster", 2, "pw")


@pytest.mark.parametrize(("url", "says"), [
    ("http://h:6379/0", "unsupported scheme 'http'"),
    ("redis+cluster:///", "name at least one node"),
    ("redis+cluster://h:7000/3", "only database 0"),
    ("redis+cluster://h:notaport/", "is not host:port"),
    ("redis+cluster://h:70000/", "is not host:port"),
    ("redis+sentinel://s1:26379/", "name the primary"),
    ("redis+sentinel://s1:26379/mymaster/x", "/<service>[/<db>]"),
    ("redis+cluster://" + ",".join(f"h:{7000 + n}" for n in range(65)) + "/", "at most 64 nodes"),
])
def test_a_url_naming_no_redis_is_refused_with_a_message(url: str, says: str) -> None:
    with pytest.raises(RedisUrlError, match=r".*") as refused:
        parse_redis_url(url)
    assert says in str(refused.value) and "REDIS_URL" in str(refused.value)


def test_settings_take_the_cluster_flag_and_refuse_a_bad_url(tmp_path: Path) -> None:
    base = {"LIVEDROP_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 32}
    settings = Settings.from_env({**base, "REDIS_URL": "redis://127.0.0.1:7000/", "LIVEDROP_REDIS_CLUSTER": "1"})
    assert settings.redis_url == "redis+cluster://127.0.0.1:7000/"
    assert Settings.from_env({**base, "REDIS_URL": "redis+sentinel://127.0.0.1:26379/mymaster"}).redis_url.startswith("redis+sentinel")
    with pytest.raises(SettingsError, match="REDIS_URL: unsupported scheme 'memcached'"):
        Settings.from_env({**base, "REDIS_URL": "memcached://127.0.0.1:11211"})
    with pytest.raises(SettingsError, match="LIVEDROP_REDIS_CLUSTER"):
        Settings.from_env({**base, "REDIS_URL": "redis://127.0.0.1:7000/", "LIVEDROP_REDIS_CLUSTER": "maybe"})
