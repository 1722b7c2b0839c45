"""The host's controls, as use cases: change SQL, put stock on sale, publish the lasting event.

Every function takes the acting host and answers ``NotFound`` for a show or product of another
host, exactly as for one that does not exist (404, never 403). Refusals are inventory.errors'
and live.errors' (a code, a status, a message), raised; web renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.catalog import product_json, product_of
from inventory.clock import now_ms
from inventory.errors import InvalidRequest, InvalidState, NotFound
from inventory.models import Host, Product
from live import bag, keys, offers, shows, staff
from live.announcements import announce_offer_started, announce_show
from live.beacon import DrandBeacon
from live.broadcasts import Broadcasts
from live.frames import OfferJson, ShowJson
from live.errors import ModeratorNotAllowed
from live.hub import Hub
from live.models import ChatMessage, Offer, Show
from live.offer_signal import OfferSignal
from live.offers import OfferSpec


ProductIds = list[int]  # (ShowControl has a method named list)
ProductList = list[dict[str, Any]]


@dataclass(frozen=True)
class ShowChanges:
    """What a host changes on a show. ``stream_url`` None with ``set_stream_url`` clears it
    (viewers go back to livedrop's own WHEP); without ``set_stream_url`` it is left alone."""

    title: str | None = None
    stream_url: str | None = None
    set_stream_url: bool = False


@dataclass
class ShowControl:
    hub: Hub
    broadcasts: Broadcasts | None = None  # None: no video to stop when a show ends (tests of live alone)
    beacon: DrandBeacon | None = None  # draws name a round of it (LIVEDROP_DRAW_BEACON)
    # Wakes the offer clock (here and in the process that runs it) when an offer is created,
    # cancelled, ended or moved: idle, the clock sleeps until its next known due time.
    offer_signal: OfferSignal | None = None

    def offers_changed(self) -> None:
        """Tell the offer clock an offer changed (after Redis's due set knows of it)."""
        if self.offer_signal is not None:
            self.offer_signal.changed()

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.hub.sessions

    async def _show(self, session: AsyncSession, host_id: int, slug: str) -> Show:
        """The host's own show; a moderator of it gets 403 moderator_not_allowed (live.staff)."""
        show = await shows.show_by_slug(session, slug)
        if show is None or show.host_id != host_id:
            if show is not None and await staff.role_of(session, show, host_id) == "moderator":
                raise ModeratorNotAllowed()
            raise NotFound("no such show")
        return show

    async def _product(self, session: AsyncSession, host_id: int, product_id: int) -> Product:
        product = await product_of(session, host_id, product_id)
        if product is None:
            raise NotFound("no such product")
        return product

    async def _on_sale(self, product: Product) -> dict[str, int]:
        """Make sure the product's stock is in Redis and return the units available per SKU."""
        await self.hub.ensure_loaded(product.id)
        return await self.hub.stock.available(product.id)

    # -- shows ---------------------------------------------------------------------------------------

    async def create(
        self, host_id: int, title: str, slug: str | None, scheduled_at: int | None, stream_url: str | None = None
    ) -> ShowJson:
        async with self.sessions() as session:
            show = await shows.create_show(session, host_id, title, slug, scheduled_at, stream_url)
            announce_show(session, show)
            await session.commit()
            return shows.show_json(show)

    async def update(self, host_id: int, slug: str, changes: ShowChanges) -> ShowJson:
        """Renames the show or changes (or clears) its stream URL. A change reaches every viewer as a
        ``show`` event, so open pages switch to the new stream without a reload."""
        async with self.sessions() as session:
            show = await self._show(session, host_id, slug)
            before = shows.show_json(show)
            if changes.title is not None:
                show.title = changes.title
            if changes.set_stream_url:
                show.stream_url = changes.stream_url
            await session.commit()
            data = shows.show_json(show)
        if data != before:
            await self.hub.publish(show.id, "show", {**data, "show": data})
        return data

    async def list(self, host_id: int) -> list[ShowJson]:
        async with self.sessions() as session:
            return [shows.show_json(s) for s in await shows.shows_of(session, host_id)]

    async def start(self, host_id: int, slug: str) -> ShowJson:
        async with self.sessions() as session:
            show = await self._show(session, host_id, slug)
            was = show.status
            shows.start(show)  # InvalidState once the show has ended
            pinned = await product_of(session, host_id, show.pinned_product_id) if show.pinned_product_id else None
            if was != show.status:
                announce_show(session, show)
            await session.commit()
            data = shows.show_json(show)
        if pinned is not None:
            await self._on_sale(pinned)
        if was != show.status:
            await self.hub.publish(show.id, "show", {**data, "show": data})
        return data

    async def end(self, host_id: int, slug: str) -> ShowJson:
        now = now_ms()
        async with self.sessions() as session:
            show = await self._show(session, host_id, slug)
            was = show.status
            shows.end(show)
            ended = await offers.end_all(session, show.id, now)
            if was != show.status:
                announce_show(session, show)
            await session.commit()
            data = shows.show_json(show)
        if ended:
            self.offers_changed()  # a draw among them comes due now
        for offer in ended:
            await self.publish_offer(show.id, offer)
        if was != show.status:
            await self.hub.publish(show.id, "show", {**data, "show": data})
        if self.broadcasts is not None:
            # The show is over, so is its video: the publisher is cut off and the recording
            # finished (a host who forgets to stop the camera must not keep streaming into it).
            await self.broadcasts.show_ended(slug)
        return data

    # -- pin -----------------------------------------------------------------------------------------

    async def pin(self, host_id: int, slug: str, product_id: int) -> dict[str, Any]:
        async with self.sessions() as session:
            show = await self._show(session, host_id, slug)
            if show.status == "ended":
                raise InvalidState("this show has ended")
            product = await self._product(session, host_id, product_id)
            show.pinned_product_id = product.id
            await session.commit()
            pinned = product_json(product)
        stock = await self._on_sale(product)
        view = await self.hub.views.get_fresh(slug)
        live_offer = view.live_offer_for(product.id, now_ms()) if view is not None else None
        pinned["offer_id"] = live_offer.id if live_offer else None
        await self.hub.publish(show.id, "pin", {"product_id": product.id, "product": pinned, "stock": stock})
        return pinned

    async def unpin(self, host_id: int, slug: str) -> None:
        async with self.sessions() as session:
            show = await self._show(session, host_id, slug)
            was = show.pinned_product_id
            show.pinned_product_id = None
            await session.commit()
        if was is not None:
            await self.hub.publish(show.id, "unpin", {"product_id": was})

    # -- the show's bag (live.bag, docs/bag.md) ---------------------------------------------------------

    async def bag(self, host_id: int, slug: str) -> ProductIds:
        async with self.sessions() as session:
            show = await self._show(session, host_id, slug)
            return await bag.bag_of(session, show.id)

    async def set_bag(self, host_id: int, slug: str, product_ids: ProductIds) -> ProductIds:
        """The bag becomes ``product_ids``: on every screen at once (a ``bag`` event with the
        products and their stock), and on sale while the show is live."""
        async with self.sessions() as session:
            show = await self._show(session, host_id, slug)
            if show.status == "ended":
                raise InvalidState("this show has ended")
            products = await bag.replace_bag(session, show.id, host_id, product_ids)
            await session.commit()
            stock: dict[str, int] = {}
            if show.status == "live":
                for product in products:
                    stock.update(await self._on_sale(product))
        self.hub.views.invalidate(show.id)
        view = await self.hub.views.get_fresh(slug)
        now = now_ms()
        listed: ProductList = []
        if view is not None:
            for product_id in view.bag_order():
                product_view = view.products.get(product_id)
                if product_view is not None:
                    offer = view.live_offer_for(product_id, now)
                    listed.append({**product_view.json, "offer_id": offer.id if offer else None})
        await self.hub.publish(show.id, "bag", {"products": listed, "stock": stock})
        return product_ids

    # -- offers ----------------------------------------------------------------------------------------

    async def create_offer(self, host_id: int, slug: str, spec: OfferSpec) -> OfferJson:
        now = now_ms()
        async with self.sessions() as session:
            show = await self._show(session, host_id, slug)
            if show.status == "ended":
                raise InvalidState("this show has ended")
            product = await self._product(session, host_id, spec.product_id)
            await offers.check_fits(session, show.id, spec, product.price_cents, now)
            units = sum((await self._on_sale(product)).values())
            offer = offers.create_offer(session, show.id, spec, now, units, self.beacon)
            if offer.state == "live":  # else the offer clock announces it when it starts
                await session.flush()  # the offer's id, for the announcement
                announce_offer_started(session, show, offer)
            await session.commit()
        await self.hub.stock.open_offer(product.id, offer.id, offer.quantity)
        if offer.mode == "queue" and offer.admit_per_minute is not None:
            await self.hub.waiting_room.set_rate(offer.id, offer.admit_per_minute)
            await self.hub.redis.zadd(keys.QUEUE_OFFERS, {str(offer.id): offer.ends_at})
        # The offer clock looks at it when it starts (or, already live, when it ends).
        due = offer.starts_at if offer.state == "scheduled" else offer.ends_at
        await self.hub.redis.zadd(keys.OFFERS_DUE, {str(offer.id): due})
        self.offers_changed()
        return await self.publish_offer(show.id, offer, product)

    async def _show_offer(self, session: AsyncSession, host_id: int, slug: str, offer_id: int) -> tuple[Show, Offer]:
        """The host's show and one of its offers; NotFound for anyone else's."""
        show = await self._show(session, host_id, slug)
        offer = await session.get(Offer, offer_id)
        if offer is None or offer.show_id != show.id:
            raise NotFound("no such offer")
        return show, offer

    async def host_offer(self, host_id: int, slug: str, offer_id: int) -> Offer:
        """One offer of the host's show; NotFound for anyone else's."""
        async with self.sessions() as session:
            _, offer = await self._show_offer(session, host_id, slug, offer_id)
            return offer

    async def set_admission_rate(self, host_id: int, slug: str, offer_id: int, admit_per_minute: int) -> OfferJson:
        """Change how fast a queue offer's line is let in, also while it runs (the clock reads the
        rate from Redis every tick; SQL keeps it for the offer's JSON and a Redis that forgot)."""
        if not 1 <= admit_per_minute <= offers.MAX_ADMIT_PER_MINUTE:
            raise InvalidRequest("admit_per_minute", f"must be between 1 and {offers.MAX_ADMIT_PER_MINUTE}")
        async with self.sessions() as session:
            show, offer = await self._show_offer(session, host_id, slug, offer_id)
            if offer.mode != "queue":
                raise InvalidRequest("admit_per_minute", "only a queue offer admits buyers at a rate")
            if offer.state == "ended":
                raise InvalidState("this offer has ended")
            offer.admit_per_minute = admit_per_minute
            await session.commit()
        await self.hub.waiting_room.set_rate(offer.id, admit_per_minute)
        self.offers_changed()
        return await self.publish_offer(show.id, offer)

    async def cancel_offer(self, host_id: int, slug: str, offer_id: int) -> None:
        async with self.sessions() as session:
            show, offer = await self._show_offer(session, host_id, slug, offer_id)
            changed = await offers.end_offer(session, offer, now_ms())
            await session.commit()
        await self.hub.redis.zrem(keys.OFFERS_DUE, str(offer.id))
        self.offers_changed()
        if changed:
            await self.publish_offer(show.id, offer)

    async def publish_offer(self, show_id: int, offer: Offer, product: Product | None = None) -> OfferJson:
        if product is None:
            async with self.sessions() as session:
                product = await session.get(Product, offer.product_id)
        remaining = await self.offer_remaining(offer)
        data = offers.offer_json(offer, remaining, product.currency if product else None, product.title if product else None)
        await self.hub.publish(show_id, "offer", data)
        return data

    async def offer_remaining(self, offer: Offer) -> int | None:
        if offer.state == "ended":
            return 0
        left = await self.hub.stock.offer_remaining(offer.product_id, offer.id)
        if left is not None:
            return left
        return sum((await self.hub.stock.available(offer.product_id)).values())

    # -- moderation ------------------------------------------------------------------------------------

    # The host and the show's moderators (live.staff) may both delete and mute.

    async def delete_chat(self, host_id: int, slug: str, message_id: int) -> None:
        async with self.sessions() as session:
            show, _ = await staff.staff_show(session, host_id, slug)
            was_pinned = show.pinned_message_id == message_id
        deleted = await self.hub.chat.delete(show.id, message_id)
        if deleted is None:
            raise NotFound("no such message")
        if deleted:
            await self.hub.publish(show.id, "chat_deleted", {"id": message_id})
            if was_pinned:  # a deleted message does not stay pinned on anyone's screen
                await self.hub.chat.set_pinned(show.id, None)
                await self.hub.publish(show.id, "chat_pin", {"message": None})

    async def erase_chat_line(self, show_id: int, message_id: int) -> None:
        """A line removed by a buyer's erasure (live.personal_parts): every screen drops it, and
        it does not stay pinned (as a moderator's delete)."""
        await self.hub.publish(show_id, "chat_deleted", {"id": message_id})
        async with self.sessions() as session:
            show = await session.get(Show, show_id)
            pinned_id = show.pinned_message_id if show is not None else None
            pinned = await session.get(ChatMessage, pinned_id) if pinned_id is not None else None
        if pinned_id == message_id:
            await self.hub.chat.set_pinned(show_id, None)
            await self.hub.publish(show_id, "chat_pin", {"message": None})
        elif pinned is not None and pinned.reply_to_id == message_id:  # a pinned answer to it: pinned again, without the quote
            await self.hub.publish(show_id, "chat_pin", {"message": await self.hub.chat.shown(show_id, pinned.id)})

    async def mute(self, host_id: int, slug: str, buyer_id: str) -> None:
        async with self.sessions() as session:
            show, _ = await staff.staff_show(session, host_id, slug)
        await self.hub.chat.mute(show.id, buyer_id)

    async def public_show(self, slug: str) -> dict[str, Any] | None:
        """The show's snapshot as a plain dict (GET /api/shows/{slug} leaves out its type and ts)."""
        snapshot = await self.hub.snapshot(slug)
        return None if snapshot is None else dict(snapshot)

    async def host_name(self, slug: str) -> str | None:
        """Who hosts the show, as the host named themselves (None: unnamed or no such show). The
        waiting page of a scheduled show says it; the live page does not ask (one query a page)."""
        async with self.sessions() as session:
            show = await shows.show_by_slug(session, slug)
            host = await session.get(Host, show.host_id) if show is not None else None
        return (host.name or None) if host is not None else None


__all__ = ["OfferSpec", "ShowChanges", "ShowControl"]
