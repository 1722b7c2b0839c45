"""Stock as a value: one stock frame per tick per show whose stock moved, each with the latest
count per SKU, however many holds happened in between. The hub ticks it when stock moved, at
most once per ``live.stock_signal.coalescing_window`` (see there), which it sizes from
``write_s``: the CPU time the last tick's frames took to write.

Each tick reads one version counter per product on sale here (inventory bumps it whenever
available stock changes) and reads the counts only of products whose version moved. A drop of
10,000 holds a second therefore costs each viewer at most one small frame per window
(33 a second with few viewers, 5 with 5,000 in the process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from inventory.stock import StockStore
from live.frames import stock_frame
from live.room import Room
from live.views import ShowView

log = logging.getLogger("livedrop.stockfeed")

# What a frame costs a connection that only queues it (the ASGI path: its task wakes, Starlette's
# send_text, the server's framing and write): a no-op send_text alone measured 24-26 µs per
# viewer at 1,000 viewers (a review's script, on the 2-core machine); a real write adds the
# system call (~5-20 µs, docs/fanout-bench.md).
QUEUED_FRAME_S = 40e-6


class StockFeed:
    def __init__(self, stock: StockStore, view_of: Callable[[Room], Awaitable[ShowView | None]]) -> None:
        self.stock = stock
        self.view_of = view_of
        self._versions: dict[int, int] = {}  # product id -> version last sent (by this process)
        self._sent: dict[int, set[int]] = {}  # show id -> products its viewers have counts for
        # CPU seconds the last tick spent writing its frames (plus QUEUED_FRAME_S per frame only
        # queued); 0 when it sent none. The hub sizes its coalescing window from it.
        self.write_s = 0.0

    async def tick(self, rooms: Iterable[Room]) -> None:
        wanted: list[tuple[Room, ShowView]] = []
        for room in rooms:
            view = await self.view_of(room)
            if view is not None and view.products:
                wanted.append((room, view))
        product_ids = {pid for _, view in wanted for pid in view.products}
        if not product_ids:
            return
        versions = await self.stock.versions(product_ids)
        changed = {pid for pid, v in versions.items() if self._versions.get(pid) != v}
        for room, view in wanted:
            # A product newly pinned or offered in this show needs its counts sent once too.
            sent = self._sent.setdefault(room.show_id, set())
            new = set(view.products) - sent
            if new:
                changed |= new
        if not changed:
            return
        counts = await self.stock.available_many(changed)
        write_s = 0.0
        offers_left: dict[int, int | None] = {}
        for room, view in wanted:
            mine = changed & set(view.products)
            if not mine:
                continue
            stock: dict[str, int] = {}
            for pid in mine:
                stock.update(counts.get(pid, {}))
            for offer in view.offers:
                if offer.product_id in mine and offer.quantity is not None and offer.id not in offers_left:
                    offers_left[offer.id] = await self.stock.offer_remaining(offer.product_id, offer.id)
            remaining = {str(o.id): offers_left[o.id] for o in view.offers if o.id in offers_left}
            # CPU time, not wall time: a process the machine preempts must not read as a slow
            # write and starve its own viewers of stock. A connection without send_frame (not
            # under `livedrop serve`) only queues here; its writer task pays later, unmeasured.
            started = time.thread_time()
            queued = room.deliver(stock_frame(stock, remaining))
            write_s += time.thread_time() - started + queued * QUEUED_FRAME_S
            self._sent[room.show_id] = set(view.products)
        self._versions.update({pid: versions.get(pid, 0) for pid in changed})
        # Once, at the end: the clock reads it after the tick, and a tick that failed midway
        # leaves the last whole tick's figure.
        self.write_s = write_s

    def forget(self, show_id: int) -> None:
        self._sent.pop(show_id, None)
