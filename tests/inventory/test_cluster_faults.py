"""What a Redis Cluster or Sentinel says while it fails over or reshards is an outage (503 with
Retry-After, one log line), not a bug (500): inventory.faults."""

from __future__ import annotations

import pytest
from redis.exceptions import ClusterDownError, MasterDownError, ResponseError, SlotNotCoveredError, TryAgainError

from inventory.faults import REDIS, fault_of


@pytest.mark.parametrize("exc", [
    ClusterDownError("CLUSTERDOWN The cluster is down"),
    TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
    MasterDownError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
    SlotNotCoveredError('Slot "12" not covered by the cluster.'),
    ResponseError("ERR Script attempted to access a non local key in a cluster node script: abc, on @user_script:131."),
])
def test_a_cluster_in_transition_is_an_outage(exc: Exception) -> None:
    assert fault_of(exc) == REDIS


def test_other_error_replies_stay_bugs() -> None:
    assert fault_of(ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")) is None


async def test_a_write_on_a_connection_closed_under_it_is_an_outage() -> None:
    """redis-py 8.1 raises the transport's AttributeError when a failover closed the connection
    between two commands (redis/redis-py#4287): an outage, like the ConnectionError it means."""
    from redis.asyncio.connection import Connection

    connection = Connection(host="127.0.0.1", port=1)  # never connected: no writer, as after the close
    connection._writer = None
    try:
        await connection._send_packed_command([b"PING\r\n"])
    except (AttributeError, TypeError) as exc:
        assert fault_of(exc) == REDIS
    else:
        raise AssertionError("expected the transport's own error")
    try:
        raise AttributeError("'NoneType' object has no attribute 'name'")  # raised here, not in redis
    except AttributeError as exc:
        assert fault_of(exc) is None
