"""A show's room on this process: its connections, and the seq it has delivered up to.

``deliver`` is synchronous: the frame (one str, encoded and framed once) is written to, or queued
for, every connection and nothing is awaited, so the time to fan out is a loop over a list.
"""

from __future__ import annotations

from live.connection import CLOSE_TOO_SLOW, Connection, text_frame
from live.metrics import FRAMES_SENT


class Room:
    __slots__ = ("show_id", "slug", "connections", "delivered", "viewers", "reactions", "__weakref__")

    def __init__(self, show_id: int, slug: str, delivered: int) -> None:
        self.show_id = show_id
        self.slug = slug
        self.connections: set[Connection] = set()
        self.delivered = delivered  # the last seq handed to the connections (the reader's position)
        self.viewers = 0  # across every process, as last counted
        self.reactions: dict[str, int] = {}

    def add(self, conn: Connection) -> int:
        """Join; returns the seq delivered so far (a snapshot taken now must cover up to it)."""
        self.connections.add(conn)
        return self.delivered

    def discard(self, conn: Connection) -> None:
        self.connections.discard(conn)

    def deliver(self, frame: str, seq: int | None = None) -> int:
        """``frame`` to every connection; returns how many only queued it (their writer tasks
        send it later: not under `livedrop serve`)."""
        if seq is not None:
            self.delivered = seq
        wire = text_frame(frame)  # framed once: the same bytes go to every connection that takes them
        connections = tuple(self.connections)  # a copy: a full queue removes its connection
        queued = 0
        for conn in connections:
            queued += conn.push(frame, seq, wire)
        FRAMES_SENT.inc(len(connections))  # once per frame, not per viewer
        return queued

    def lost_events(self) -> None:
        """The reader saw a gap (this process fell more than the kept events behind, or Redis lost
        the stream): every connection reconnects and resumes, which replays or re-snapshots."""
        for conn in tuple(self.connections):
            conn.close(CLOSE_TOO_SLOW, "events were lost here; reconnect with ?after=<last seq>")

    def __len__(self) -> int:
        return len(self.connections)
