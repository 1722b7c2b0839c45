"""The operations settings (drain, pools, metrics access, logs, the worker's port): defaults that
fit four processes in PostgreSQL's 100 connections, and a bad value refused by name."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from web.metrics import allowed
from web.settings import LOOPBACK, Settings, SettingsError


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 32, **env})


def test_defaults(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.drain_s == 10.0
    assert 4 * (settings.db_pool_size + settings.db_max_overflow) <= 100 - 3 - 5  # superusers' 3, some headroom
    assert settings.db_pgbouncer is False and settings.log_format == "text" and settings.worker_port == 8002
    assert settings.metrics_addresses == LOOPBACK and settings.metrics_token is None
    assert _settings(tmp_path, LIVEDROP_DRAIN_SECONDS="2.5").drain_s == 2.5
    with_token = _settings(tmp_path, LIVEDROP_METRICS_TOKEN="t" * 20)
    assert with_token.metrics_addresses == () and "t" * 20 not in repr(with_token)  # a token set: loopback needs it too


@pytest.mark.parametrize("variable, value, message", [
    ("LIVEDROP_DRAIN_SECONDS", "soon", "LIVEDROP_DRAIN_SECONDS: 'soon' is not a number of seconds"),
    ("LIVEDROP_DRAIN_SECONDS", "nan", "LIVEDROP_DRAIN_SECONDS: nan is out of range"),
    ("LIVEDROP_DRAIN_SECONDS", "601", "LIVEDROP_DRAIN_SECONDS: 601 is out of range"),
    ("LIVEDROP_DB_POOL_SIZE", "0", "LIVEDROP_DB_POOL_SIZE: 0 is out of range"),
    ("LIVEDROP_DB_MAX_OVERFLOW", "-1", "LIVEDROP_DB_MAX_OVERFLOW: -1 is out of range"),
    ("LIVEDROP_DB_PGBOUNCER", "maybe", "LIVEDROP_DB_PGBOUNCER: 'maybe' is not a yes/no value"),
    ("LIVEDROP_METRICS_TOKEN", "short", "LIVEDROP_METRICS_TOKEN: must be at least 16 characters long"),
    ("LIVEDROP_METRICS_TOKEN", "x" * 16 + " y", "LIVEDROP_METRICS_TOKEN: only letters, digits"),
    ("LIVEDROP_METRICS_ADDRESSES", "10.0.0.300", "LIVEDROP_METRICS_ADDRESSES: '10.0.0.300' is not an IP address or network"),
    ("LIVEDROP_LOG_FORMAT", "xml", "LIVEDROP_LOG_FORMAT: 'xml' is not one of text, json"),
    ("LIVEDROP_ACCESS_LOG_SAMPLE", "2", "LIVEDROP_ACCESS_LOG_SAMPLE: 2 is out of range"),
    ("LIVEDROP_WORKER_PORT", "70000", "LIVEDROP_WORKER_PORT: 70000 is out of range"),
])
def test_bad_values_are_refused_by_name(tmp_path: Path, variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        _settings(tmp_path, **{variable: value})


def test_who_may_read_metrics() -> None:
    office = (ipaddress.ip_network("10.1.0.0/16"),)
    assert allowed("127.0.0.1", None, None, LOOPBACK) and allowed("::1", None, None, LOOPBACK)
    assert not allowed("10.1.2.3", None, None, LOOPBACK)
    assert allowed("10.1.2.3", None, None, office) and not allowed("10.2.0.1", None, None, office)
    token = "s" * 24
    assert allowed("203.0.113.9", f"Bearer {token}", token, ()) and allowed("203.0.113.9", f"bearer {token}", token, ())
    assert not allowed("203.0.113.9", f"Bearer {token}x", token, ()) and not allowed("203.0.113.9", token, token, ())
    assert not allowed("203.0.113.9", f"Bearer {token}", None, ())  # no token configured: a sent one opens nothing
    assert not allowed(None, None, None, LOOPBACK) and not allowed("not-an-ip", None, None, LOOPBACK)
