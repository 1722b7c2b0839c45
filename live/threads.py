"""Private threads, the live half (docs/threads.md): who may start one and about what, delivering
each message to the other side's open pages (live.private_feed) or, when the buyer has none open,
by email through the outbox, and the host's actions from the thread (offer a hold on a size,
resend the order link).

Every method checks ownership first and answers NotFound for anything not the caller's, so a
thread, order or product id of someone else tells nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.clock import now_ms
from inventory.errors import InvalidRequest, NotFound
from inventory.models import Host, Order, Product, Variant
from inventory.orders_link import OrdersLinks
from inventory.stock import SaleTerms, StockStore
from inventory.threads import BUYER, CLOSED, HOST, OPEN, Posted, Thread, Threads, message_json, thread_json
from live import shows
from live.connection import CLOSE_POLICY, CLOSE_TOO_BIG, Connection, SendFrame, Socket
from live.frames import dumps, error_frame, pong_frame
from live.models import ChatMessage
from live.private_feed import PrivateFeed, buyer_to, host_to
from live.sales import PINNED_PER_CUSTOMER_LIMIT

HOLD_OFFER_MIN_S, HOLD_OFFER_MAX_S = 60, 48 * 3600  # a minute to two days to decide
EMAIL_PREVIEW = 300  # characters of the message in the email; the rest is behind the link
PAGE_FRAME_BYTES = 4096  # what a thread page may send: pings (as a show's socket, live.viewer_input)
PAGE_STRIKES = 10  # bad frames before a thread page's socket is closed (1008)


class ThreadPageConnection(Connection):
    """The socket of one stand-alone thread page (``/ws/threads/{id}``): it is attached to its
    buyer's private frames like any of the buyer's pages, and lets through only the frames about
    its own thread. Whoever holds a thread's link may read that thread, not the buyer's others."""

    __slots__ = ("thread_id",)

    def __init__(self, thread_id: str, socket: Socket, limit: int, send_timeout: float, *,
                 send_frame: SendFrame | None = None) -> None:
        super().__init__(socket, limit, send_timeout, send_frame=send_frame)
        self.thread_id = thread_id

    def push(self, frame: str, seq: int | None = None, wire: bytes | None = None) -> bool:
        if seq is None and not self.joining and not self._about_this_thread(frame):
            return False
        return super().push(frame, seq, wire)

    def _about_this_thread(self, frame: str) -> bool:
        # Private frames are people typing (a few a second): parsing each one is cheap enough.
        try:
            data = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return False
        if data.get("type") in ("pong", "error"):
            return True  # our own answers to what the page sent
        thread = data.get("thread")
        return isinstance(thread, dict) and thread.get("id") == self.thread_id


@dataclass
class ThreadDesk:
    threads: Threads
    sessions: async_sessionmaker[AsyncSession]
    private: PrivateFeed
    stock: StockStore
    ensure_loaded: Callable[[int], Awaitable[None]]
    orders_links: OrdersLinks
    # The buyer's capability link into a thread (absolute, for emails; web.thread_links).
    thread_url: Callable[[str, str], str]
    orders_link_for: Callable[[str], str]  # a fresh /orders?t= link for an email (web.orders_link)

    # -- the buyer -------------------------------------------------------------------------------------

    async def ask_about_product(self, buyer_id: str, slug: str, text: str, product_id: int | None,
                                email: str | None) -> Posted:
        """"Ask privately" from a show's page: to the show's host, with the product on screen as a card."""
        async with self.sessions() as session:
            show = await shows.show_by_slug(session, slug)
            if show is None:
                raise NotFound("no such show")
            card = None
            if product_id is not None:
                product = await session.get(Product, product_id)
                if product is None or product.host_id != show.host_id:
                    raise NotFound("no such product in this show")
                card = {"kind": "product", "product_id": product.id, "title": product.title}
        posted = await self.threads.post(show.host_id, buyer_id, BUYER, text, card, email=email or await self._email_of(buyer_id, show.host_id))
        await self._deliver(posted)
        return posted

    async def ask_about_order(self, buyer_id: str, order_id: str, text: str) -> Posted:
        """"Message the seller about this order" from the receipt: the order as a card."""
        order = await self._order(order_id)
        if order is None or order.buyer_id != buyer_id:
            raise NotFound("no such order")
        card = {"kind": "order", "order_id": order.id, "number": order.number}
        posted = await self.threads.post(order.host_id, buyer_id, BUYER, text, card, email=order.email or None)
        await self._deliver(posted)
        return posted

    async def buyer_threads(self, buyer_id: str, slug: str | None) -> list[dict[str, Any]]:
        """The buyer's threads, each with its ``seller`` (the host's name, as the thread page
        shows it); with ``slug``, only the one with that show's host (if any)."""
        threads = await self.threads.listed(buyer_id=buyer_id)
        async with self.sessions() as session:
            if slug is not None:
                show = await shows.show_by_slug(session, slug)
                threads = [t for t in threads if show is not None and t["host_id"] == show.host_id]
            host_ids = {t["host_id"] for t in threads}
            names = dict((await session.execute(select(Host.id, Host.name).where(Host.id.in_(host_ids)))).all()) if host_ids else {}
        return [{**t, "seller": names.get(t["host_id"]) or "The seller"} for t in threads]

    async def buyer_reply(self, buyer_id: str, thread_id: str, text: str) -> Posted:
        thread = await self.threads.of_buyer(thread_id, buyer_id)
        posted = await self.threads.post(thread.host_id, buyer_id, BUYER, text)
        await self._deliver(posted)
        return posted

    async def read(self, thread: Thread, side: str) -> dict[str, Any]:
        """The thread and its messages, marked read by ``side`` (the other side's receipts turn)."""
        thread = await self.threads.mark_read(thread.id, side)
        thread, messages = await self.threads.messages(thread.id)
        await self.private.send([buyer_to(thread.buyer_id), host_to(thread.host_id)],
                                {"type": "thread_read", "thread": thread_json(thread)})
        return {"thread": thread_json(thread), "messages": [message_json(m, thread) for m in messages],
                "seller": await self._host_name(thread.host_id)}

    # -- the host ----------------------------------------------------------------------------------------

    async def host_start(self, host_id: int, text: str, order_id: str | None, slug: str | None,
                         chat_message_id: int | None) -> Posted:
        """The host writes first: about an order (its card attached), or to whoever wrote a chat line."""
        card = None
        if order_id is not None:
            order = await self._order(order_id)
            if order is None or order.host_id != host_id:
                raise NotFound("no such order")
            buyer_id, email = order.buyer_id, order.email or None
            card = {"kind": "order", "order_id": order.id, "number": order.number}
        elif slug is not None and chat_message_id is not None:
            async with self.sessions() as session:
                show = await shows.show_by_slug(session, slug)
                message = await session.get(ChatMessage, chat_message_id)
            if show is None or show.host_id != host_id or message is None or message.show_id != show.id:
                raise NotFound("no such chat message in your shows")
            buyer_id, email = message.buyer_id, None
        else:
            raise InvalidRequest("order_id", "name an order (order_id) or a chat line (show_slug and chat_message_id)")
        posted = await self.threads.post(host_id, buyer_id, HOST, text, card, email=email or await self._email_of(buyer_id, host_id))
        await self._deliver(posted)
        return posted

    async def host_reply(self, host_id: int, thread_id: str, text: str, order_id: str | None = None,
                         product_id: int | None = None) -> Posted:
        thread = await self.threads.of_host(thread_id, host_id)
        card = await self._host_card(thread, order_id, product_id)
        posted = await self.threads.post(host_id, thread.buyer_id, HOST, text, card)
        await self._deliver(posted)
        return posted

    async def set_state(self, host_id: int, thread_id: str, action: str) -> dict[str, Any]:
        await self.threads.of_host(thread_id, host_id)
        actions: dict[str, dict[str, Any]] = {
            "close": {"status": CLOSED}, "reopen": {"status": OPEN}, "block": {"blocked": True}, "unblock": {"blocked": False},
        }
        changes = actions[action]
        thread = await self.threads.set_state(thread_id, **changes)
        await self.private.send([buyer_to(thread.buyer_id), host_to(thread.host_id)], {"type": "thread", "thread": thread_json(thread)})
        return thread_json(thread)

    async def offer_hold(self, host_id: int, thread_id: str, sku: str, hold_s: int, text: str) -> Posted:
        """Hold one unit of a size for the buyer until a deadline, at list price, and say so in
        the thread: the buyer checks the hold out like any other (POST /api/holds/{id}/checkout)."""
        thread = await self.threads.of_host(thread_id, host_id)
        if not HOLD_OFFER_MIN_S <= hold_s <= HOLD_OFFER_MAX_S:
            raise InvalidRequest("hold_s", f"between {HOLD_OFFER_MIN_S} and {HOLD_OFFER_MAX_S} seconds")
        async with self.sessions() as session:
            variant = (await session.execute(select(Variant).where(Variant.host_id == host_id, Variant.sku == sku))).scalar_one_or_none()
            product = await session.get(Product, variant.product_id) if variant is not None else None
        if variant is None or product is None:
            raise NotFound("no size with that SKU among your products")
        await self.ensure_loaded(product.id)
        terms = SaleTerms(unit_price_cents=product.price_cents, currency=product.currency,
                          per_customer_limit=PINNED_PER_CUSTOMER_LIMIT, hold_seconds=hold_s, host_id=host_id)
        hold = await self.stock.hold(product.id, sku, 1, thread.buyer_id, None, terms)
        card = {"kind": "hold", "hold_id": hold.hold_id, "product_id": product.id, "title": product.title, "sku": sku,
                "label": variant.label, "price_cents": hold.unit_price_cents, "currency": hold.currency,
                "expires_at": hold.expires_at}
        posted = await self.threads.post(host_id, thread.buyer_id, HOST, text or f"I've put {product.title} ({variant.label}) aside for you.", card)
        await self._deliver(posted)
        return posted

    async def resend_order_link(self, host_id: int, thread_id: str, order_id: str) -> None:
        """The buyer's orders link again, by email to the address the order was made with."""
        thread = await self.threads.of_host(thread_id, host_id)
        order = await self._order(order_id)
        if order is None or order.host_id != host_id or order.buyer_id != thread.buyer_id or not order.email:
            raise NotFound("no such order of this buyer")
        await self.orders_links.request(order.email, self.orders_link_for)

    async def erased(self, threads: list[tuple[str, int, str]]) -> None:
        """Threads a data erasure deleted (inventory.personal_parts.ThreadsPart): every open page of
        their host and buyer drops them (``thread_erased``, the thread's id only)."""
        for thread_id, host_id, buyer_id in threads:
            await self.private.send([buyer_to(buyer_id), host_to(host_id)], {"type": "thread_erased", "thread": {"id": thread_id}})

    # -- the stand-alone thread page ----------------------------------------------------------------

    async def follow(self, socket: Socket, frames: AsyncIterator[str | bytes], thread: Thread,
                     send_frame: SendFrame | None, queue_frames: int, send_timeout_s: float) -> None:
        """Run the socket of a thread page (opened by its buyer's cookie or by the thread's link;
        the route checked which thread and whose) until it ends: the thread's own private frames
        (``thread_message``, ``thread_read``, ``thread``), through the hub's private fan-out, so a
        host answering on any process reaches it. The page counts as the buyer being online (no
        email while it is open). First frame: ``thread``, the thread as it is now; a page that
        reconnects fetches its messages again over HTTP (private frames are not replayed)."""
        conn = ThreadPageConnection(thread.id, socket, queue_frames, send_timeout_s, send_frame=send_frame)
        targets: list[str] = []
        strikes = 0
        try:
            targets = await self.private.attach(conn, thread.buyer_id, None)
            conn.start([dumps({"type": "thread", "ts": now_ms(), "thread": thread_json(thread)})], 0, on_close=lambda _: None)
            async for raw in frames:
                if conn.closed:
                    break
                if len(raw) > PAGE_FRAME_BYTES:
                    conn.close(CLOSE_TOO_BIG, "frames are limited to 4 KiB")
                    break
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    data = None
                if isinstance(data, dict) and data.get("type") == "ping":
                    conn.push(pong_frame())
                    continue
                strikes += 1
                conn.push(error_frame("unknown_type", 'a thread page sends only {"type": "ping"}; messages go by POST'))
                if strikes > PAGE_STRIKES:
                    conn.close(CLOSE_POLICY, "too many bad frames")
        finally:
            with contextlib.suppress(Exception):  # a Redis hiccup: the presence key expires by itself
                await self.private.detach(conn, targets)
            await conn.wait_closed()

    # -- delivery ---------------------------------------------------------------------------------------

    async def _deliver(self, posted: Posted) -> None:
        thread, message = posted.thread, posted.message
        frame = {"type": "thread_message", "thread": thread_json(thread), "message": message_json(message, thread)}
        await self.private.send([buyer_to(thread.buyer_id), host_to(thread.host_id)], frame)
        if message.sender == HOST and not await self.private.online(thread.buyer_id):
            seller = await self._host_name(thread.host_id)
            locale = await self._locale_of(thread.buyer_id, thread.host_id)
            await self.threads.notify_by_email(thread.id, message.created_at, lambda email: {
                "email": email, "seller": seller, "preview": message.text[:EMAIL_PREVIEW],
                "url": self.thread_url(thread.id, thread.buyer_id), **({"locale": locale} if locale else {})})

    async def _host_card(self, thread: Thread, order_id: str | None, product_id: int | None) -> dict[str, Any] | None:
        if order_id is not None:
            order = await self._order(order_id)
            if order is None or order.host_id != thread.host_id or order.buyer_id != thread.buyer_id:
                raise NotFound("no such order of this buyer")
            return {"kind": "order", "order_id": order.id, "number": order.number}
        if product_id is not None:
            async with self.sessions() as session:
                product = await session.get(Product, product_id)
            if product is None or product.host_id != thread.host_id:
                raise NotFound("no such product")
            return {"kind": "product", "product_id": product.id, "title": product.title}
        return None

    async def _order(self, order_id: str) -> Order | None:
        if len(order_id) > 32:
            return None
        async with self.sessions() as session:
            order = await session.get(Order, order_id)
        return None if order is None or order.status == "pending" else order

    async def _email_of(self, buyer_id: str, host_id: int) -> str | None:
        """The address of the buyer's latest order with this host (where their receipts go)."""
        async with self.sessions() as session:
            return (await session.execute(
                select(Order.email).where(Order.buyer_id == buyer_id, Order.host_id == host_id, Order.email != "")
                .order_by(Order.created_at.desc()).limit(1))).scalar_one_or_none()

    async def _locale_of(self, buyer_id: str, host_id: int) -> str | None:
        """The page language of the buyer's latest order with this host that has one (orders.locale):
        the thread's email is written in it. A buyer with no such order (a thread started from the
        chat) gets English."""
        async with self.sessions() as session:
            return (await session.execute(
                select(Order.locale).where(Order.buyer_id == buyer_id, Order.host_id == host_id, Order.locale.is_not(None))
                .order_by(Order.created_at.desc()).limit(1))).scalar_one_or_none()

    async def _host_name(self, host_id: int) -> str:
        async with self.sessions() as session:
            host = await session.get(Host, host_id)
        return (host.name or "The seller") if host is not None else "The seller"

