"""The hub of one process: rooms of viewers, the stream reader that feeds them, the clocks that
send stock, viewers and reactions, and ``publish`` for lasting events.

    host action -> live.control (SQL) -> Hub.publish -> Redis stream (seq) -> every process's
    StreamReader -> Hub._on_events -> Room.deliver -> each Connection's queue -> the browser

The process that published an event does not wait for its own reader: as soon as the stream has
given the event its seq, its room gets it (``_appended_here``), and the reader's copy is skipped.

Routes reach it as ``livedrop(request).hub`` (web.livedrop). It knows no HTTP: a WebSocket is anything with
``send_text`` and ``close`` plus an async iterator of the frames it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.timeouts import raise_if_cancelled, within
from inventory.clock import now_ms
from inventory.errors import NotFound, Refusal, UnknownSku
from inventory.faults import Outages
from inventory.stock import StockStore
from live import keys
from live import presence as presence_module
from live import queuefeed as queuefeed_module
from live.chat import Chat, ChatRules
from live.connection import CLOSE_GOING_AWAY, CLOSE_UNKNOWN_SHOW, Connection, SendFrame, Socket
from live.drain import drain
from live.errors import NotOnSale
from live.events import Event, EventLog
from live.frames import ChatMessageJson, EventFields, Snapshot, dumps, stock_frame, viewers_frame
from live.passes import PASS_S
from live.presence import Presence
from live.private_feed import REFRESH_S as PRIVATE_REFRESH_S, PrivateFeed
from live.visitors import PageVisitors
from live.queuefeed import QueueFeed
from live import watchers as watchers_module
from live.watchers import Watchers
from live.reader import StreamReader
from live.room import Room
from live.sales import Sale, sale_in
from live.stock_signal import StockSignal, coalescing_window
from live.stockfeed import StockFeed
from live.viewer_input import ViewerInput
from live.views import ShowView, ViewCache
from live.waiting_room import WaitingRoom

log = logging.getLogger("livedrop.hub")

VIEW_TYPES = frozenset({"show", "pin", "unpin", "offer", "bag", "chat_pin"})  # events that change a ShowView


@dataclass(frozen=True)
class HubConfig:
    queue_frames: int = 256
    queue_bytes: int = 256 * 1024  # unsent bytes per connection, where the server writes frames itself
    send_timeout_s: float = 5.0
    chat: ChatRules = ChatRules()
    hold_s: int = 300  # hold time of a pinned product outside offers
    queue_pass_s: int = PASS_S  # how long a waiting room's pass is good after admission
    # The stock feed ticks when stock moved (live.stock_signal); this is its safety net for a
    # change whose notice was lost (a resubscribe), and a bound on an idle show's clock.
    stock_poll_s: float = 1.0


class Viewer:
    """One viewer's place in the hub between ``Hub.join`` and ``Hub.leave``: small, and nothing
    in it waits (an idle viewer costs its connection's memory, so every byte here counts)."""

    __slots__ = ("conn", "room", "show_id", "buyer_id", "private_targets", "watching", "incoming")

    def __init__(self, conn: Connection, room: Room, show_id: int, buyer_id: str | None) -> None:
        self.conn = conn
        self.room = room
        self.show_id = show_id
        self.buyer_id = buyer_id
        self.private_targets: list[str] = _NO_TARGETS
        self.watching = False  # counted in the show's watchers (live.watchers): uncounted on leaving
        self.incoming: ViewerInput | None = None


_NO_TARGETS: list[str] = []  # shared by the viewers with no private feed (never appended to)


class Hub:
    def __init__(
        self,
        redis: aioredis.Redis,
        sessions: async_sessionmaker,
        stock: StockStore,
        config: HubConfig,
        ensure_loaded: Callable[[int], Awaitable[None]],
        outages: Outages | None = None,
    ) -> None:
        self.redis = redis
        # Redis and database faults of the clocks and the reader go here: one line per outage
        # instead of a traceback per tick (5 a second for the stock clock). None: logged as any.
        self.outages = outages
        self.sessions = sessions
        self.stock = stock
        self.config = config
        # Loads a product's stock into Redis from SQL (loaded minus sold) unless it is there:
        # inventory's Checkout.ensure_loaded. Never Variant.stock as is, which would resurrect
        # sold units after Redis lost its data.
        self._ensure_loaded = ensure_loaded
        self._load_locks: dict[int, asyncio.Lock] = {}
        self.log = EventLog(redis, sessions)
        self.reader = StreamReader(redis, self._on_events, outages)
        # Frames for one buyer or host (live.private_feed): the same reader, one more stream.
        self.private = PrivateFeed(redis, self.reader.wake_key)
        self.views = ViewCache(sessions, self._follow_quietly, self.reader.unfollow, self._view_loaded)
        self.chat = Chat(redis, sessions, config.chat)
        self.presence = Presence(redis)
        self.visitors = PageVisitors(redis)  # unique viewers, for the panel's conversion
        self.stockfeed = StockFeed(stock, lambda room: self.views.get(room.slug))
        self.stock_signal = StockSignal(redis, outages)
        stock.on_change = self.stock_signal.changed
        self.waiting_room = WaitingRoom(redis, config.queue_pass_s, lane=stock.lane)
        self.watchers = Watchers(redis)  # signed-in viewers per show (a giveaway's entrants must be watching)
        self.queuefeed = QueueFeed(self.waiting_room, lambda room: self.views.get(room.slug))
        self.rooms: dict[int, Room] = {}
        self._room_locks: dict[int, asyncio.Lock] = {}
        self._chat_tails: dict[int, list[ChatMessageJson]] = {}  # show id -> last messages, kept by events
        self._tasks: list[asyncio.Task[None]] = []
        # (slug, sku) -> (the view it was worked out from, valid until (ms), the sale): a drop asks
        # the same question thousands of times a second; the answer changes only with the view
        # (a new object after every show event) or at an offer's start or end.
        self._sales: dict[tuple[str, str], tuple[ShowView, int, Sale]] = {}

    # -- life cycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.reader.read_private(self.private.deliver)
        self.reader.start()
        self._tasks = [
            asyncio.create_task(self._every(PRIVATE_REFRESH_S, self.private.refresh), name="hub-private"),
            asyncio.create_task(self._every(presence_module.TICK_S, self._presence_tick), name="hub-presence"),
            asyncio.create_task(self._stock_clock(), name="hub-stock"),
            asyncio.create_task(self.stock_signal.listen(), name="hub-stock-signal"),
            asyncio.create_task(self._every(queuefeed_module.TICK_S, self._queue_tick), name="hub-queue"),
            asyncio.create_task(self._every(watchers_module.REFRESH_S, self.watchers.refresh), name="hub-watchers"),
        ]

    async def drain(self, window_s: float) -> int:
        """Tell every viewer of this process to reconnect elsewhere, spread over ``window_s``
        (live.drain); the rooms keep delivering to those not closed yet. Returns how many."""
        return await drain([conn for room in self.rooms.values() for conn in room.connections], window_s)

    def connections_here(self) -> dict[str, int]:
        """Viewers connected to this process, per show slug (for /metrics and `livedrop status`)."""
        return {room.slug: len(room.connections) for room in self.rooms.values()}

    async def stop(self) -> None:
        for room in list(self.rooms.values()):
            for conn in tuple(room.connections):
                conn.close(CLOSE_GOING_AWAY, "server restarting; reconnect with ?after=<last seq>")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        # A stock change told to the other processes within the last 30 ms goes now, while our
        # Redis client is still open (it was left to fire after the client closed, or never).
        await self.stock_signal.pubsub.aclose()  # its listener is ours, in _tasks: already ended
        await self.reader.stop()
        with contextlib.suppress(Exception):  # stopping; Redis may be gone already
            await self.private.forget_process()

    async def _every(self, seconds: float, tick: Any) -> None:
        while True:
            await self._guarded(tick)
            raise_if_cancelled()  # the tick's Redis client may have swallowed our cancel (inventory.timeouts)
            await asyncio.sleep(seconds)

    async def _stock_clock(self) -> None:
        """The stock feed, run when stock moved (woken by live.stock_signal) and at least every
        ``stock_poll_s``, but never twice within the coalescing window (30 ms; longer when the
        last tick's frames took more than 15 ms of CPU to write, live.stock_signal): a drop's thousands of holds a second become a bounded number of
        frames per viewer, a quiet show's one hold one frame at once."""
        loop = asyncio.get_running_loop()
        wake = self.stock_signal.wake
        last = 0.0
        while True:
            raise_if_cancelled()
            try:
                await within(wake.wait(), self.config.stock_poll_s)
            except TimeoutError:
                pass
            gap = last + coalescing_window(self.stockfeed.write_s) - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)
            wake.clear()  # changes from here on wake the next tick
            last = loop.time()
            await self._guarded(self._stock_tick)

    async def _guarded(self, tick: Any) -> None:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a Redis hiccup must not stop the clock; the next tick retries
            if self.outages is None or self.outages.report(exc, refused=False) is None:
                log.exception("hub clock %s failed", getattr(tick, "__name__", tick))

    async def _presence_tick(self) -> None:
        self.views.sweep()
        if self.rooms:
            await self.presence.tick(list(self.rooms.values()))

    async def _stock_tick(self) -> None:
        if self.rooms:
            await self.stockfeed.tick(list(self.rooms.values()))

    async def _queue_tick(self) -> None:
        await self.waiting_room.flush_used()
        if self.rooms:
            await self.queuefeed.tick(list(self.rooms.values()))

    # -- publishing ----------------------------------------------------------------------------------

    async def publish(self, show_id: int, type_: str, fields: EventFields) -> Event:
        """A lasting event (``show``, ``pin``, ``unpin``, ``offer``, ``chat``, ``chat_deleted``):
        gets the show's next seq and reaches every viewer on every process. Write SQL first."""
        if type_ in VIEW_TYPES:
            self.views.invalidate(show_id)  # this process answers from the new state at once
        return await self.log.append(show_id, type_, fields, self._appended_here)

    def _appended_here(self, show_id: int, event: Event) -> None:
        """An event this process just appended: its viewers get it now, not after the SQL log
        write and the stream reader's round trip (about 19 % of a pin's fan-out window at 5,000
        viewers, docs/fanout-bench.md). Only when it is the room's next seq: when an event from
        another process came first (its seq is lower) and the reader has not delivered it yet,
        the reader delivers both, in order. Either way the reader's copy is skipped by seq."""
        room = self.rooms.get(show_id)
        if room is not None and event.seq == room.delivered + 1:
            # No second invalidation: publish dropped the view before the append, and SQL had
            # the change before that, so any view loaded since is already the new one (a pin
            # would otherwise load its show's view from SQL once more: a few ms of CPU).
            self._on_events(show_id, [event], invalidate=False)

    async def record_sale(self, show_id: int, sku: str, quantity: int, name: str | None = None) -> None:
        """A paid order: feeds the purchase ticker (``sold`` frames, rate-bounded) on every process."""
        await self.presence.record_sale(show_id, sku, quantity, name)

    def _on_events(self, show_id: int, events: list[Event], invalidate: bool = True) -> None:
        """Called by the stream reader, in seq order per show, and by ``publish`` for the room's
        next event. Events already delivered here (published by this process) are skipped whole:
        ``publish`` invalidated the view before the append."""
        room = self.rooms.get(show_id)
        if room is not None and events[-1].seq <= room.delivered:
            return
        if any(e.type in VIEW_TYPES for e in events):
            if invalidate:
                self.views.invalidate(show_id)
            self.stock_signal.wake.set()  # a product newly pinned or offered: its counts go out now
        tail = self._chat_tails.get(show_id)
        for event in events:
            if room is not None:
                if event.seq != room.delivered + 1 and event.seq > room.delivered:
                    log.warning("show %s: events %s..%s were lost here; viewers resume", show_id, room.delivered + 1, event.seq - 1)
                    room.lost_events()
                    self._chat_tails.pop(show_id, None)
                    tail = None
                if event.seq <= room.delivered:
                    continue
                room.deliver(event.frame, event.seq)
            if tail is not None and event.type in ("chat", "chat_deleted"):
                _apply_chat(tail, event)
        if tail is None and room is not None:
            self._chat_tails.pop(show_id, None)

    # -- reading -----------------------------------------------------------------------------------

    async def _follow_quietly(self, show_id: int) -> None:
        await self.reader.follow(show_id)

    async def ensure_loaded(self, product_id: int) -> None:
        """Make sure a product going on sale has its stock in Redis. One load per product at a
        time here: concurrent loads fence each other (inventory's reconcile), so a second caller
        waits and then finds it loaded. A load in another process at the same moment may fence
        ours; that is fine once the product is loaded."""
        lock = self._load_locks.setdefault(product_id, asyncio.Lock())
        async with lock:
            for attempt in range(5):
                try:
                    await self._ensure_loaded(product_id)
                    return
                except RuntimeError:  # fenced by a load in another process
                    if await self.stock.is_loaded(product_id):
                        return
                    if attempt == 4:
                        raise
                    await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # step out of its way

    async def _view_loaded(self, view: ShowView) -> None:
        """What a live show sells must be in Redis (the demo seeds pins in SQL only; Redis may
        have come back empty). One EXISTS per product when it is, as it almost always is."""
        if view.status == "live":
            for product_id in view.products:
                await self.ensure_loaded(product_id)

    def cached_sale(self, slug: str, sku: str) -> Sale | None:
        """``sale_for``'s answer when it is at hand without waiting for anything (the buy
        button's usual case, answered without a coroutine); None: ask ``sale_for``."""
        view = self.views.fresh(slug)
        return None if view is None else self._remembered_sale(slug, sku, view, now_ms())

    def _remembered_sale(self, slug: str, sku: str, view: ShowView, now: int) -> Sale | None:
        """The sale remembered for (show, SKU), while the view it was read from is current and
        no offer has started or ended since."""
        cached = self._sales.get((slug, sku))
        if cached is not None and cached[0] is view and now < cached[1]:
            return cached[2]
        return None

    async def sale_for(self, slug: str, sku: str) -> Sale | Refusal:
        """What a hold of ``sku`` in show ``slug`` sells at right now; cached, no SQL per call."""
        view = await self.views.get(slug)
        if view is None:
            return NotFound("no such show")
        now = now_ms()
        remembered = self._remembered_sale(slug, sku, view, now)
        if remembered is not None:
            return remembered
        sale = sale_in(view, sku, now, self.config.hold_s)
        if isinstance(sale, Sale):
            if len(self._sales) >= SALES_CACHED:
                self._sales.clear()
            self._sales[(slug, sku)] = (view, _next_offer_change(view, now), sale)
            return sale
        if sale is not None:
            return sale
        if sku in await self.views.skus_of_host(view.host_id):
            return NotOnSale()
        return UnknownSku(f"no product with the SKU {sku!r} in this show")

    async def snapshot(self, slug: str) -> Snapshot | None:
        """The public snapshot (GET /api/shows/{slug})."""
        # ``current``, not ``get``: a request made after an event must not be answered from a load
        # the event overtook (one in flight, which ``get`` joins), next to a seq that counts it.
        view = await self.views.current(slug)
        if view is None:
            return None
        room = self.rooms.get(view.id)
        seq = room.delivered if room is not None else await self.log.current_seq(view.id)
        return await self._snapshot(view, room, seq)

    async def _snapshot(self, view: ShowView, room: Room | None, seq: int) -> Snapshot:
        stock_by_product = await self.stock.available_many(view.products) if view.products else {}
        stock: dict[str, int] = {}
        for counts in stock_by_product.values():
            stock.update(counts)
        offers = [view.offer_json(o, await self._remaining(view, o)) for o in view.offers]
        now = now_ms()
        pinned = None
        if view.pinned is not None:
            live_offer = view.live_offer_for(view.pinned.id, now)
            pinned = {**view.pinned.json, "offer_id": live_offer.id if live_offer else None}
        bag = []
        for product_id in view.bag_order():  # the pinned one first, then the host's order
            product = view.products.get(product_id)
            if product is not None:
                offer = view.live_offer_for(product_id, now)
                bag.append({**product.json, "offer_id": offer.id if offer else None})
        if room is not None:
            viewers, reactions = room.viewers, room.reactions
        else:
            viewers, reactions = await self.presence.totals(view.id)
        chat = self._chat_tails.get(view.id) if room is not None else None
        if chat is None:
            chat = await self.chat.recent(view.id)
        return {
            "type": "snapshot",
            "ts": now,
            "seq": seq,
            "server_time": now,
            "show": view.show,
            "pinned": pinned,
            "offers": offers,
            "stock": stock,
            "viewers": viewers,
            "reactions": reactions,
            "chat": list(chat),
            "bag": bag,
            "pinned_message": view.pinned_message,
            # Whether the host's camera stream (WHIP) is on: the page plays it, or waits for the
            # `video` event instead of asking GET /whep/{slug} every few seconds.
            "video": bool(await self.redis.exists(keys.stream_start(view.id))),
        }

    async def _remaining(self, view: ShowView, offer: Any) -> int | None:
        if offer.quantity is None:
            product = view.products.get(offer.product_id)
            if product is None:
                return None
            return sum((await self.stock.available(product.id)).values())
        left = await self.stock.offer_remaining(offer.product_id, offer.id)
        return offer.quantity if left is None else left

    # -- viewers -------------------------------------------------------------------------------------

    async def serve(self, socket: Socket, frames: AsyncIterator[str | bytes], slug: str, after: int | None,
                    buyer_id: str | None, send_frame: SendFrame | None = None, host_id: int | None = None) -> None:
        """Run one viewer's connection (already accepted) until it ends. ``send_frame``, when the
        server offers it, writes ready-made WebSocket frames straight to the connection.
        ``buyer_id`` and ``host_id`` (a signed-in panel) also get their private frames here.
        (``livedrop serve``'s own viewer sockets, web.viewer_socket, call ``join``, ``received``
        and ``leave`` instead: no coroutine stays parked per idle viewer.)"""
        viewer = await self.join(socket, slug, after, buyer_id, send_frame, host_id)
        if viewer is None:
            return
        try:
            async for raw in frames:
                if viewer.conn.closed:
                    break
                await self.received(viewer, raw)
        finally:
            await self.leave(viewer)

    async def join(self, socket: Socket, slug: str, after: int | None, buyer_id: str | None,
                   send_frame: SendFrame | None = None, host_id: int | None = None) -> Viewer | None:
        """A viewer's connection (already accepted) joins its show's room: its first frames are
        out (or queued) when this returns. None: no such show (closed with 4404). On an
        exception the viewer has left again (``leave``) before it is raised."""
        view = await self.views.get(slug)
        if view is None:
            await socket.close(CLOSE_UNKNOWN_SHOW, "no such show")
            return None
        room = await self._room(view)
        conn = Connection(socket, self.config.queue_frames, self.config.send_timeout_s,
                          send_frame=send_frame, byte_limit=self.config.queue_bytes)
        delivered = room.add(conn)
        viewer = Viewer(conn, room, view.id, buyer_id)
        try:
            # Read again now that we are in the room: a change delivered before we joined must be in
            # what we send first, since the room will not send it to us again.
            view = await self.views.current(slug) or view
            # Nothing the join may need is dropped while it runs; start() then keeps only what the
            # first frames do not already cover.
            conn.last_seq = delivered if after is None else min(after, delivered)
            viewer.private_targets = await self.private.attach(conn, buyer_id, host_id) or _NO_TARGETS
            first, last = await self._first_frames(view, room, after, delivered)
            conn.start(first, last, on_close=room.discard)
            if buyer_id is not None:  # after the first frames: the count never delays a join
                await self.visitors.opened(view.id, buyer_id)
                viewer.watching = True
                await self._guarded(lambda: self.watchers.joined(view.id, buyer_id))  # a Redis hiccup: not counted
        except BaseException:
            await self.leave(viewer)
            raise
        return viewer

    async def received(self, viewer: Viewer, raw: str | bytes) -> None:
        """One frame from the viewer (chat, a reaction, a ping). Its ``ViewerInput`` is made at
        the first frame: most viewers only watch, and an idle one keeps none."""
        incoming = viewer.incoming
        if incoming is None:
            incoming = viewer.incoming = ViewerInput(viewer.conn, viewer.show_id, viewer.buyer_id, self.chat,
                                                     self.presence.react, self._publish_chat)
        await incoming.handle(raw)

    async def leave(self, viewer: Viewer) -> None:
        """The connection ended (the client left, or we closed it): out of the room, the private
        feed and the counts; the room closes when it was the last viewer here."""
        room, conn, buyer_id = viewer.room, viewer.conn, viewer.buyer_id
        if buyer_id is not None and viewer.watching:
            viewer.watching = False
            await self._guarded(lambda: self.watchers.left(viewer.show_id, buyer_id))
        room.discard(conn)
        with contextlib.suppress(Exception):  # a Redis hiccup: the presence key expires by itself
            await self.private.detach(conn, viewer.private_targets)
        await conn.wait_closed()
        if not room.connections:
            await self._maybe_close_room(room)

    async def _first_frames(self, view: ShowView, room: Room, after: int | None, delivered: int) -> tuple[list[str], int]:
        if after is not None:
            missed = await self.log.since(view.id, after)
            if missed is not None:
                last = missed[-1].seq if missed else after
                state = await self._snapshot(view, room, last)
                frames = [e.frame for e in missed]
                frames.append(stock_frame(state["stock"]))
                frames.append(viewers_frame(state["viewers"]))
                return frames, last
        snapshot = await self._snapshot(view, room, delivered)
        return [dumps(snapshot)], delivered

    async def _publish_chat(self, show_id: int, fields: ChatMessageJson) -> None:
        await self.publish(show_id, "chat", fields)

    async def _room(self, view: ShowView) -> Room:
        room = self.rooms.get(view.id)
        if room is not None:
            return room
        lock = self._room_locks.setdefault(view.id, asyncio.Lock())
        async with lock:
            room = self.rooms.get(view.id)
            if room is not None:
                return room
            delivered = await self.reader.follow(view.id)
            # Registered before any other await: from here every event above ``delivered`` reaches it.
            room = self.rooms[view.id] = Room(view.id, view.slug, delivered)
            self.stock_signal.wake.set()
            room.viewers, room.reactions = await self.presence.totals(view.id)
            # SQL is written before each publish, so a tail read after the room's last delivered
            # event holds every message up to it; later events are applied to it (skipped by id).
            # Chat delivered while reading might be missing from it: then read again.
            for _ in range(3):
                before = room.delivered
                tail = await self.chat.recent(view.id)
                if room.delivered == before:
                    if self.rooms.get(view.id) is room:
                        self._chat_tails[view.id] = tail
                    break
            return room

    async def _maybe_close_room(self, room: Room) -> None:
        await asyncio.sleep(0)  # a viewer reconnecting right away keeps the room
        if room.connections or self.rooms.get(room.show_id) is not room:
            return
        del self.rooms[room.show_id]
        self._chat_tails.pop(room.show_id, None)
        self.stockfeed.forget(room.show_id)
        self.reader.unfollow(room.show_id)
        with contextlib.suppress(Exception):
            await self.presence.leave(room.show_id)


def _apply_chat(tail: list[ChatMessageJson], event: Event) -> None:
    data = json.loads(event.frame)
    if event.type == "chat_pin":
        return
    if event.type == "chat":
        if all(m["id"] != data["id"] for m in tail):
            message: ChatMessageJson = {"id": data["id"], "buyer_id": data["buyer_id"], "name": data["name"],
                                        "text": data["text"], "ts": data["ts"]}
            if "role" in data:
                message["role"] = data["role"]
            if "reply_to" in data:
                message["reply_to"] = data["reply_to"]
            tail.append(message)
            del tail[:-50]
    else:
        # A deleted line goes, and so does its quote in the replies to it (a moderator's delete
        # or a buyer's erasure: the words and the name must not live on in someone's answer).
        tail[:] = [m for m in tail if m["id"] != data["id"]]
        for m in tail:
            quoted = m.get("reply_to")
            if quoted is not None and quoted["id"] == data["id"]:
                del m["reply_to"]


SALES_CACHED = 10_000  # (show, SKU) answers kept per process; past it the cache starts afresh


def _next_offer_change(view: ShowView, now: int) -> int:
    """The first offer start or end after ``now``: until then a sale worked out now stays true."""
    times = [t for offer in view.offers for t in (offer.starts_at, offer.ends_at) if t > now]
    return min(times, default=now + 3_600_000)
