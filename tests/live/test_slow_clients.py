"""Clients that never read do not delay the others, and are closed with 1013."""

from __future__ import annotations

import asyncio
import time

from .conftest import Cluster, make_show
from .wsclient import StalledClient, Viewer

PINS = 150


async def test_stalled_clients_do_not_delay_the_room_and_get_1013(cluster: Cluster) -> None:
    async with cluster.host(cluster.a) as host:
        # A long description makes each pin frame ~5 KB, so the stalled sockets fill quickly.
        slug, product_id = await make_show(host, "slow", description="x" * 5000)
        port = cluster.b.port
        readers = [await Viewer.join(cluster.b.url, slug) for _ in range(3)]
        stalled = [await asyncio.to_thread(StalledClient, port, f"/ws/shows/{slug}") for _ in range(5)]
        try:
            for reader in readers:
                await reader.next("snapshot")
            sent_at: list[float] = []
            for _ in range(PINS):
                answer = await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})
                assert answer.status_code == 200
                sent_at.append(time.monotonic())
            # Every reading viewer gets every pin, each promptly after the host's call returned.
            for reader in readers:
                for i in range(PINS):
                    await reader.next("pin", timeout=5)
                arrived = [t for f, t in zip(reader.frames, reader.arrived) if f["type"] == "pin"]
                delays = [a - s for a, s in zip(arrived, sent_at)]
                assert max(delays) < 1.0, max(delays)
                assert reader.close_code is None
            # The stalled ones were cut off: once they do read, they find 1013 after fewer frames
            # than were sent. With 60 pins (~300 KB) one of the five sometimes received everything
            # without ever being paused, which is not explained yet (see the issue note); with 150
            # all five are cut off in every run seen.
            results = [await asyncio.to_thread(client.read_until_close, 15) for client in stalled]
            closed = [(frames, code) for frames, code in results if code == 1013]
            assert len(closed) == 5, results
            assert all(frames < PINS for frames, _ in closed), results
        finally:
            for client in stalled:
                client.close()
            for reader in readers:
                await reader.close()
