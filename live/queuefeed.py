"""Where the waiting rooms stand, pushed: at most one ``queue`` frame per show every ``TICK_S``,
carrying each open queue offer's ``admitted_upto`` and length. A viewer works out its own place
from it (its rank, from GET .../queue/me, minus ``admitted_upto``), so 100,000 people in line
cost one frame per room, never one per viewer.

A frame goes out when a line moved, and every ``REPEAT_S`` regardless, so a viewer who joined
the room after the last change catches up without asking.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from live.frames import QueueLineJson, queue_frame
from live.room import Room
from live.views import ShowView
from live.waiting_room import WaitingRoom

TICK_S = 0.5  # the bound: two frames a second per room at most
REPEAT_S = 5.0


class QueueFeed:
    def __init__(self, waiting_room: WaitingRoom, view_of: Callable[[Room], Awaitable[ShowView | None]]) -> None:
        self.waiting_room = waiting_room
        self.view_of = view_of
        self._sent: dict[int, tuple[list[QueueLineJson], float]] = {}  # show id -> last lines sent, when

    async def tick(self, rooms: Iterable[Room]) -> None:
        wanted: list[tuple[Room, list[int]]] = []
        for room in rooms:
            view = await self.view_of(room)
            if view is None:
                continue
            ids = [o.id for o in view.offers if o.mode == "queue" and o.state != "ended"]
            if ids:
                wanted.append((room, ids))
            else:
                self._sent.pop(room.show_id, None)
        if not wanted:
            return
        lines = await self.waiting_room.lines([offer_id for _, ids in wanted for offer_id in ids])
        now = time.monotonic()
        for room, ids in wanted:
            payload: list[QueueLineJson] = [
                {"offer_id": i, "admitted_upto": lines[i].admitted_upto, "length": lines[i].length, "ranked": lines[i].ranked}
                for i in ids
            ]
            last = self._sent.get(room.show_id)
            if last is None or last[0] != payload or now - last[1] >= REPEAT_S:
                room.deliver(queue_frame(payload))
                self._sent[room.show_id] = (payload, now)
