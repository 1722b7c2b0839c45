"""A host event fans out in the process that published it without waiting for the SQL log write
or its own stream reader (live.hub.Hub._appended_here), and seq stays gap-free and in order on
every process: an event another process appended first is never overtaken.

The first test drives one hub in this process against the real Redis and database, with its stream
reader held back, so what reaches the room before the reader runs can only have come the local way.
The second runs two real server processes publishing at once, with viewers on both.
"""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.models import Host
from inventory.stock import StockStore
from live import shows
from live.connection import Connection
from live.events import EventLog
from live.hub import Hub, HubConfig
from live.room import Room
from web.database import make_engine, make_sessionmaker
from web.services import make_redis

from .conftest import Cluster, make_show
from .wsclient import Viewer


class Wire:
    """What a viewer's transport received: the complete frames written to it (no network)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send_frame(self, wire: bytes) -> int:
        self.frames.append(wire)
        return 0

    def seqs(self) -> list[int]:
        # A server frame of under 126 bytes has a 2-byte header; longer, 4 bytes (these are < 64 KiB).
        texts = [f[4:] if f[1] & 0x7F == 126 else f[2:] for f in self.frames]
        return [json.loads(t)["seq"] for t in texts]

    async def send_text(self, data: str) -> None:  # the Socket protocol; unused with send_frame
        raise AssertionError("frames go through send_frame")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None


async def _new_show(sessions: async_sessionmaker) -> int:
    async with sessions() as session:
        host = Host(email=f"fanout-{secrets.token_hex(4)}@example.com", name="Ana", password_hash="x")
        session.add(host)
        await session.flush()
        show = await shows.create_show(session, host.id, f"Fan-out {secrets.token_hex(3)}")
        await session.commit()
        return show.id


async def test_a_published_event_reaches_the_room_before_the_reader_and_never_overtakes_another(
    redis_url: str, database_url: str
) -> None:
    # Own clients, not the `redis`/`sessions` fixtures: those empty Redis and the tables, which
    # this package's servers (the `cluster` fixture) share when REDIS_URL/DATABASE_URL are set.
    redis = make_redis(redis_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    stock = StockStore(redis)
    hub = Hub(redis, sessions, stock, HubConfig(), lambda product_id: asyncio.sleep(0))
    other_process = EventLog(redis, sessions)
    try:
        show_id = await _new_show(sessions)
        delivered = await hub.reader.follow(show_id)
        room = hub.rooms[show_id] = Room(show_id, "s", delivered)
        wire = Wire()
        conn = Connection(wire, 64, 1.0, send_frame=wire.send_frame)
        room.add(conn)
        conn.start([], delivered, on_close=room.discard)

        # The reader is not running: the event can only reach the room the local way.
        first = await hub.publish(show_id, "chat_deleted", {"id": "a"})
        assert first.seq == delivered + 1 and wire.seqs() == [first.seq]

        # Another process appends next; this one publishes after it. Its event must wait for
        # the other one (still unread here), or the viewer would see seq jump and then go back.
        theirs = await other_process.append(show_id, "chat_deleted", {"id": "b"})
        ours = await hub.publish(show_id, "chat_deleted", {"id": "c"})
        assert (theirs.seq, ours.seq) == (first.seq + 1, first.seq + 2)
        assert wire.seqs() == [first.seq] and room.delivered == first.seq

        hub.reader.start()  # the reader delivers both, in order; its copy of ours is not sent twice
        for _ in range(200):
            if room.delivered == ours.seq:
                break
            await asyncio.sleep(0.01)
        assert wire.seqs() == [first.seq, theirs.seq, ours.seq]

        # Caught up: the next one goes out at once again, and the reader's copy is skipped.
        last = await hub.publish(show_id, "chat_deleted", {"id": "d"})
        assert wire.seqs()[-1] == last.seq
        await asyncio.sleep(0.3)  # the reader has read it back by now (one XREAD on loopback)
        assert wire.seqs() == [first.seq, theirs.seq, ours.seq, last.seq]
        assert conn.closed is False  # no gap was ever seen (a gap closes every connection with 1013)
    finally:
        await hub.stop()
        stock.close()
        await redis.aclose()
        await engine.dispose()


async def test_concurrent_events_through_two_processes_reach_every_viewer_identically(cluster: Cluster) -> None:
    """Both processes publish pins at once (each delivers its own events locally first); viewers
    on both see every seq exactly once, in order, with the same frame text everywhere."""
    async with cluster.host(cluster.a) as host_a, cluster.host(cluster.b) as host_b:
        slug, product_id = await make_show(host_a, "twofold")
        viewers = [await Viewer.join(server.url, slug) for server in (cluster.a, cluster.a, cluster.b, cluster.b)]
        try:
            starts = {(await v.next("snapshot"))["seq"] for v in viewers}
            assert len(starts) == 1  # nothing published yet: every snapshot is at the same seq
            start = starts.pop()

            async def publish(host: httpx.AsyncClient, count: int) -> None:
                for _ in range(count):
                    answer = await host.put(f"/api/shows/{slug}/pin", json={"product_id": product_id})
                    assert answer.status_code == 200, answer.text

            # Three concurrent publishers per process: events from A and B interleave closely.
            await asyncio.gather(*(publish(h, 10) for h in (host_a, host_b) for _ in range(3)))
            want = list(range(start + 1, start + 61))
            deadline = asyncio.get_running_loop().time() + 10
            while asyncio.get_running_loop().time() < deadline and any(
                len(v.lasting()) < len(want) and v.close_code is None for v in viewers
            ):
                await asyncio.sleep(0.05)
            texts = [[json.dumps(f, sort_keys=True) for f in v.lasting()] for v in viewers]
            for viewer in viewers:
                assert viewer.close_code is None, viewer.close_code
                assert [f["seq"] for f in viewer.lasting()] == want
            assert all(t == texts[0] for t in texts[1:])
        finally:
            for viewer in viewers:
                await viewer.close()
