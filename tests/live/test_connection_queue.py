"""The send queue's bound is for falling behind the room, not for the first burst a join or a
resume sends. The socket here is a stand-in that sends only when told to, so the queue's state
at each step is exact (the end-to-end resume tests are in test_resume.py)."""

from __future__ import annotations

import asyncio
import json

from live.connection import CLOSE_TOO_SLOW, Connection, text_frame


class GatedSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.closed_with: int | None = None

    async def send_text(self, data: str) -> None:
        await self.gate.wait()
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = code


def frame(seq: int) -> str:
    return json.dumps({"type": "pin", "seq": seq, "ts": 0})


async def test_a_long_replay_does_not_count_against_the_bound() -> None:
    socket = GatedSocket()
    conn = Connection(socket, limit=4, send_timeout=5)
    conn.start([frame(s) for s in range(1, 11)], last_seq=10, on_close=lambda c: None)  # 10 > limit
    conn.push(frame(11), seq=11)
    conn.push(frame(12), seq=12)
    assert not conn.closed, "two new frames behind a replay is not falling behind"
    socket.gate.set()
    for _ in range(100):
        if len(socket.sent) == 12:
            break
        await asyncio.sleep(0.01)
    assert [json.loads(f)["seq"] for f in socket.sent] == list(range(1, 13))
    conn.close(1000)


async def test_falling_behind_the_room_still_closes_with_1013() -> None:
    socket = GatedSocket()
    conn = Connection(socket, limit=4, send_timeout=5)
    conn.start([frame(s) for s in range(1, 11)], last_seq=10, on_close=lambda c: None)
    for seq in range(11, 16):  # five new frames while nothing is sent: one more than the bound
        conn.push(frame(seq), seq=seq)
    assert conn.closed and conn.close_code == CLOSE_TOO_SLOW
    socket.gate.set()


class StalledTransport:
    """What ``send_frame`` sees of a client that reads nothing: every byte stays unsent, until
    ``drain`` says the client caught up."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.unsent = 0

    def send_frame(self, wire: bytes) -> int:
        self.written.append(wire)
        self.unsent += len(wire)
        return self.unsent

    def drain(self) -> None:
        self.unsent = 0


def seqs(wires: list[bytes]) -> list[int]:
    # An unmasked text frame of under 126 bytes: two header bytes, then the JSON.
    return [json.loads(wire[2:])["seq"] for wire in wires]


async def test_written_frames_are_bounded_in_bytes_after_the_first_burst() -> None:
    transport = StalledTransport()
    one = len(text_frame(frame(12)))  # frames 12 to 15: the same size
    conn = Connection(GatedSocket(), limit=4, send_timeout=5, send_frame=transport.send_frame, byte_limit=3 * one)
    conn.start([frame(s) for s in range(1, 11)], last_seq=10, on_close=lambda c: None)  # 10 frames > the bound
    conn.push(frame(11), seq=11, wire=text_frame(frame(11)))
    assert not conn.closed, "one frame behind a replay is not falling behind"
    transport.drain()  # the client read the burst
    for seq in range(12, 15):  # three frames unread: at the bound, not past it
        conn.push(frame(seq), seq=seq, wire=text_frame(frame(seq)))
    assert not conn.closed
    assert seqs(transport.written) == list(range(1, 15))
    conn.push(frame(15), seq=15, wire=text_frame(frame(15)))
    assert conn.closed and conn.close_code == CLOSE_TOO_SLOW
    await asyncio.sleep(0)


async def test_a_frame_already_written_is_not_written_again() -> None:
    transport = StalledTransport()
    conn = Connection(GatedSocket(), limit=4, send_timeout=5, send_frame=transport.send_frame)
    conn.start([frame(5)], last_seq=5, on_close=lambda c: None)
    conn.push(frame(5), seq=5)  # the room delivers an event the replay already carried
    conn.push(frame(6), seq=6)
    assert seqs(transport.written) == [5, 6]
    conn.close(1000)
    await asyncio.sleep(0)
