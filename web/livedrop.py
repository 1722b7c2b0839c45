"""The composition root: one ``Livedrop`` per process, built by ``assemble`` in dependency order
(connections -> inventory -> live -> web's own parts -> jobs), reached by routes through
``livedrop(request)``. Everything a route needs is a typed field here; nothing is looked up by
name, set lazily on ``app.state`` or imported late to dodge a cycle.

    services (Redis, SQL)            web.services
      -> stock, payments, checkout, epochs         inventory
      -> hub, shows, offer clock, buying, broadcasts, replays, report  live
      -> rate limiter, buyer tokens, templates, queue proof of work   web
      -> jobs (run by whichever process holds the lease, web.jobs)

``create_app`` (web.app) assembles it in the app's lifespan; the worker and the CLI assemble it
from their own connections (``livedrop worker``, ``livedrop inventory reconcile``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from inventory.checkout import Checkout
from inventory.order_life import OrderLife
from inventory.orders_link import OrdersLinks
from inventory.personal_data import BuyerPart, PersonalData
from inventory.personal_parts import HoldsPart, OrdersPart, OutboxPart, ThreadsPart
from inventory.threads import Threads
from inventory.epochs import RedisEpochs
from inventory.payments import PaymentProvider, TestPaymentProvider
from inventory.stripe_payments import StripeProvider
from inventory.shopify_sync import ShopifySync
from inventory.stock import StockStore
from live.broadcasts import Broadcasts
from live.buying import Buying
from live.host_chat import HostChat
from live.chat import ChatRules
from live.control import ShowControl
from live.email_channel import EmailChannel
from live.hub import Hub, HubConfig
from live.i18n import install as install_i18n
from live.i18n import warm_up
from live.media.runner import MediaBackend, ThreadedMedia
from live.offer_clock import OfferClock
from live.offer_signal import OfferSignal
from live.outbox_signal import OutboxSignal
from live.outbox_worker import OutboxWorker
from live.private_feed import STREAM as PRIVATE_STREAM
from live.personal_parts import ChatPart, DrawEntriesPart, MutesPart, QueueEntriesPart, RemindersPart, WishesPart
from live.retention import Retention
from live.threads import ThreadDesk
from live.passes import PassBook
from live.beacon import DrandBeacon
from live.draws import Draws
from live.queues import Queues
from live.recordings import ReplayAudience
from live.reminders import Reminders
from live.replay import ReplayPresence, Replays
from live.report import ShowReport
from live.waitlist import Waitlists
from live.webhook_endpoints import WEBHOOK_KINDS, WebhookEndpoints
from live.webhook_sender import WebhookSender
from live.webhook_urls import UrlPolicy
from web.auth import BuyerTokens
from web.jobs import Job
from web.links import receipt_url, recording_url, show_url, unsubscribe_url
from web.media_process import RemoteMedia
from web.page_locale import page_context
from web.orders_link import OrdersLinkTokens
from web.thread_links import ThreadLinkTokens
from web.queue_pow import QueuePow
from web.ratelimit import RateLimiter
from web.services import Services
from web.settings import Settings
from web.stopping import bounded_step

log = logging.getLogger("livedrop")
TEMPLATES_DIR = Path(__file__).parent / "templates"
OFFER_CLOCK_EVERY_S = 0.2  # offers start and end within this of their times (sales go by the times themselves)
HOLD_EXPIRY_EVERY_S = 1.0
REDIS_EPOCH_EVERY_S = 1.0
REMINDERS_EVERY_S = 5.0  # a reminder goes out within this of its moment
WAITLIST_EVERY_S = 1.0  # an offer is announced within this of the line making it (it holds the unit already)
# The pace at which a burst is worked off, and how soon after its commit in another process an
# event starts on its way while the job has no subscription (with one, or in this process, at once).
OUTBOX_EVERY_S = 0.2
STALLED_REFUNDS_EVERY_S = 30.0
RETENTION_EVERY_S = 3600.0  # chat and messages past LIVEDROP_CHAT_RETENTION_DAYS go within the hour


@dataclass(frozen=True)
class Livedrop:
    settings: Settings
    services: Services
    # inventory
    stock: StockStore
    payments: PaymentProvider
    stripe: StripeProvider | None  # the same object as payments when LIVEDROP_PAYMENTS=stripe (its webhooks, its keys)
    checkout: Checkout
    orders: OrderLife  # an order's life after payment: shipped, delivered, refunded, cancelled
    orders_links: OrdersLinks  # a fresh link to one's orders, by email
    epochs: RedisEpochs
    shopify: ShopifySync  # a host's Shopify shop: its products/update webhook (docs/shop-import.md)
    # live
    hub: Hub
    shows: ShowControl
    host_chat: HostChat  # the host talks back: staff messages, the pinned message, moderators (docs/host-chat.md)
    offer_clock: OfferClock
    queues: Queues
    draws: Draws
    buying: Buying
    broadcasts: Broadcasts
    replays: Replays
    replay_presence: ReplayPresence
    report: ShowReport
    reminders: Reminders  # show reminders (docs/notify.md)
    waitlists: Waitlists  # back-in-stock waiting lists (docs/notify.md)
    webhook_endpoints: WebhookEndpoints
    outbox: OutboxWorker
    threads: ThreadDesk  # private buyer-host threads (docs/threads.md)
    personal_data: PersonalData  # export and erasure of a buyer's data (docs/privacy.md)
    # web
    rate_limiter: RateLimiter
    buyer_tokens: BuyerTokens
    orders_link_tokens: OrdersLinkTokens
    thread_link_tokens: ThreadLinkTokens
    templates: Jinja2Templates
    # The waiting room's proof of work; None when LIVEDROP_QUEUE_POW is 0 (joins carry none).
    queue_pow: QueuePow | None
    # Every periodic job of a deployment; run by exactly one process at a time (web.jobs).
    jobs: tuple[Job, ...]
    _running: "_Running" = field(default_factory=lambda: _Running())

    async def start(self) -> None:
        """Start this process's own background tasks (the Redis epoch watch, the hub's stream
        reader and clocks). Stock is rebuilt from SQL unless Redis is the server it was last
        rebuilt against; then every new connection is checked, and the server once a second
        (inventory.epochs)."""
        self.epochs.watch_connections(self.stock)
        await self.epochs.ensure()
        self._running.epoch_watch = asyncio.create_task(self.epochs.run(self._running.stopping), name="redis-epoch")
        await self.hub.start()

    async def stop(self) -> None:
        """Stop them again, in reverse order, each step bounded (web.stopping): a drained process
        must exit inside its window (web.server.LIFESPAN_GRACE_S)."""
        self._running.stopping.set()
        await bounded_step("webhook sender", self.outbox.webhooks.close())
        if self.outbox.signal is not None:
            await bounded_step("outbox signal", self.outbox.signal.close())
        if self.shows.offer_signal is not None:
            await bounded_step("offer signal", self.shows.offer_signal.close())
        if self._running.epoch_watch is not None:
            await bounded_step("redis epoch watch", self._running.epoch_watch)
        await bounded_step("broadcasts", self.broadcasts.close())
        await bounded_step("hub", self.hub.stop())
        await bounded_step("draw entries", self.draws.writer.close())  # its SQLite thread and connection
        self.stock.close()


@dataclass
class _Running:
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    epoch_watch: asyncio.Task[None] | None = None


def make_templates() -> Jinja2Templates:
    """The pages' templates: every page in the reader's language (web.page_locale), money and
    times formatted in it. Also what a test app renders its error pages with."""
    warm_up()
    templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[page_context])
    install_i18n(templates.env)
    templates.env.globals["webhook_kinds"] = WEBHOOK_KINDS
    return templates


def assemble(settings: Settings, services: Services) -> Livedrop:
    """Every part of a livedrop process, built from its settings and connections in dependency
    order. ``settings`` is the process's (the app's may differ from the ones its connections were
    opened with: tests override limits)."""
    redis, sessions = services.redis, services.sessions
    # inventory
    stock = StockStore(redis)
    payments = make_payments(settings, services)
    checkout = Checkout(sessions, stock, payments)
    epochs = RedisEpochs(redis, sessions, stock, checkout.reconcile, outages=services.outages)
    # live
    hub_config = HubConfig(
        queue_frames=settings.ws_queue_frames,
        queue_bytes=settings.ws_queue_bytes,
        send_timeout_s=settings.ws_send_timeout_s,
        chat=ChatRules(settings.chat_max_length, settings.chat_messages_per_buyer_per_10s),
        hold_s=settings.hold_seconds,
        queue_pass_s=settings.queue_pass_seconds,
        stock_poll_s=settings.stock_poll_ms / 1000,
    )
    hub = Hub(redis, sessions, stock, hub_config, checkout.ensure_loaded, services.outages)
    broadcasts = Broadcasts(
        redis, sessions, media_backend_factory(settings),
        remote=settings.media_url is not None, record=settings.recordings_dir is not None,
        announce=lambda show_id, on: hub.publish(show_id, "video", {"on": on}),
    )
    beacon = DrandBeacon(settings.draw_beacon_url, settings.draw_beacon) if settings.draw_beacon else None
    # An offer created, cancelled or moved wakes the offer clock (here at once, elsewhere through
    # Redis), so the idle clock sleeps until its next due time (live.offer_signal).
    offer_signal = OfferSignal(redis, services.outages)
    shows = ShowControl(hub, broadcasts, beacon, offer_signal)
    passes = PassBook(settings.secret_key)
    queues = Queues(shows, passes)
    draws = Draws(shows, payments)
    checkout.authorizations = draws  # a draw winner's claim captures what the entry authorized
    offer_clock = OfferClock(shows, queues, draws, every_s=OFFER_CLOCK_EVERY_S, signal=offer_signal)
    base_url = settings.base_url
    reminders = Reminders(sessions, lambda token: unsubscribe_url(base_url, token))
    waitlists = Waitlists(sessions, stock, hub.ensure_loaded, lambda slug: show_url(base_url, slug), settings.waitlist_offer_s)
    url_policy = UrlPolicy(https_only=settings.production, allow_private=settings.webhook_allow_private)
    # Commits that add outbox work tell the worker (here at once, elsewhere through Redis), so the
    # job runs no SQL while nothing was added (live.outbox_signal).
    outbox_signal = OutboxSignal(redis, services.outages)
    outbox_signal.install(sessions)
    outbox = OutboxWorker(sessions, WebhookSender(url_policy), make_email(settings), signal=outbox_signal)
    # web
    templates = make_templates()
    orders = OrderLife(sessions, stock, payments, checkout)
    orders_links = OrdersLinks(sessions)
    orders_link_tokens = OrdersLinkTokens(settings.secret_key)
    thread_link_tokens = ThreadLinkTokens(settings.secret_key)
    threads = Threads(sessions)
    thread_desk = ThreadDesk(
        threads, sessions, hub.private, stock, hub.ensure_loaded, orders_links,
        thread_url=lambda thread_id, buyer_id: thread_link_tokens.url(base_url, thread_id, buyer_id),
        orders_link_for=lambda email: orders_link_tokens.url(base_url, email),
    )
    # One part per feature that keeps records about buyers, in export order; a feature added
    # later adds its part here.
    personal_data = PersonalData(sessions, settings.secret_key, [
        BuyerPart(sessions), OrdersPart(sessions, redis), HoldsPart(stock), ThreadsPart(sessions, redis, PRIVATE_STREAM, thread_desk.erased),
        ChatPart(sessions, redis, shows.erase_chat_line), MutesPart(sessions), QueueEntriesPart(sessions, redis),
        WishesPart(sessions, redis), RemindersPart(sessions), DrawEntriesPart(sessions), OutboxPart(sessions),
    ])
    retention = Retention(sessions, threads, settings.chat_retention_days)
    running = _Running()
    jobs = (
        Job("hold-expiry", HOLD_EXPIRY_EVERY_S, checkout.sweep),  # expired holds back to stock, stalled checkouts settled
        Job("stalled-refunds", STALLED_REFUNDS_EVERY_S, orders.finish_stalled),  # refunds a crash left pending, finished
        # For a worker, which serves nothing: a serving process has its own watch (Livedrop.start).
        Job("redis-epoch", REDIS_EPOCH_EVERY_S, lambda: _unless_watched(running, epochs)),
        # Offers go live and end on time; idle, it sleeps until the next due time or an offer changes.
        Job("offer-clock", OFFER_CLOCK_EVERY_S, offer_clock.run, wake=offer_signal.wake, idle_s=offer_clock.idle_s),
        Job("show-reminders", REMINDERS_EVERY_S, reminders.send_due),  # 24 h, 15 min, live: once each (docs/notify.md)
        Job("waitlist-offers", WAITLIST_EVERY_S, waitlists.deliver),  # back-in-stock offers recorded and announced
        # Webhooks and email, at least once (live.outbox_worker); idle, it sleeps until signalled.
        Job("outbox", OUTBOX_EVERY_S, outbox.poll, wake=outbox_signal.wake, idle_s=outbox.idle_s),
        Job("retention", RETENTION_EVERY_S, retention.run),  # LIVEDROP_CHAT_RETENTION_DAYS (docs/privacy.md)
    )
    return Livedrop(
        settings=settings,
        services=services,
        stock=stock,
        payments=payments,
        stripe=payments if isinstance(payments, StripeProvider) else None,
        checkout=checkout,
        orders=orders,
        orders_links=orders_links,
        epochs=epochs,
        shopify=ShopifySync(sessions, stock, redis),
        hub=hub,
        shows=shows,
        host_chat=HostChat(hub),
        offer_clock=offer_clock,
        queues=queues,
        draws=draws,
        buying=Buying(hub, stock, checkout, passes),
        broadcasts=broadcasts,
        replays=Replays(sessions, stock, hub.ensure_loaded, settings.recordings_dir, recording_url),
        replay_presence=ReplayPresence(hub.views, ReplayAudience(redis), stock),
        report=ShowReport(sessions, redis, stock, hub.presence),
        reminders=reminders,
        waitlists=waitlists,
        webhook_endpoints=WebhookEndpoints(sessions, url_policy),
        outbox=outbox,
        threads=thread_desk,
        personal_data=personal_data,
        rate_limiter=RateLimiter(redis),
        buyer_tokens=BuyerTokens(settings.secret_key),
        orders_link_tokens=orders_link_tokens,
        thread_link_tokens=thread_link_tokens,
        templates=templates,
        # Keyed from SECRET_KEY (QueuePow derives its own key), so every process checks what any issued.
        queue_pow=QueuePow(settings.secret_key, settings.queue_pow) if settings.queue_pow > 0 else None,
        jobs=jobs,
        _running=running,
    )


async def _unless_watched(running: "_Running", epochs: RedisEpochs) -> None:
    """The Redis epoch check, unless this process's own watch (Livedrop.start) makes it already:
    in ``serve`` it ran twice a second (an INFO and a GET each time), here and in the watch."""
    if running.epoch_watch is None or running.epoch_watch.done():
        await epochs.ensure()


def make_payments(settings: Settings, services: Services) -> PaymentProvider:
    """The payment provider LIVEDROP_PAYMENTS names: the built-in test provider (the default), or
    Stripe (docs/payments.md)."""
    if settings.payments == "stripe":
        assert settings.stripe_secret_key and settings.stripe_publishable_key  # checked by Settings.from_env
        return StripeProvider(
            settings.stripe_secret_key, settings.stripe_publishable_key,
            webhook_secret=settings.stripe_webhook_secret, api_base=settings.stripe_api_base,
        )
    return TestPaymentProvider(services.payments_redis or services.redis)


def make_email(settings: Settings) -> EmailChannel:
    """The outbox's email channel: SMTP at LIVEDROP_SMTP_URL, or .eml files in the data folder."""
    host = (urlsplit(settings.public_url).hostname if settings.public_url else None) or "localhost"
    return EmailChannel(
        smtp_url=settings.smtp_url, mail_dir=settings.data_dir / "outbox-mail",
        mail_from=settings.mail_from or f"livedrop@{host}", base_url=settings.base_url, receipt_path=receipt_url,
    )


def media_backend_factory(settings: Settings) -> Callable[[Callable[[str, str], Awaitable[None]]], MediaBackend]:
    """The video backend ``Broadcasts`` makes on first use: `livedrop media` over loopback when
    LIVEDROP_MEDIA_URL is set, else the engine on a thread of this process."""

    def make(on_end: Callable[[str, str], Awaitable[None]]) -> MediaBackend:
        if settings.media_url:
            return RemoteMedia(settings.media_url, settings.secret_key)
        return ThreadedMedia(settings.media_config(), on_end=on_end)

    return make


def livedrop(conn: HTTPConnection | Scope) -> Livedrop:
    """The process's Livedrop, from any request or WebSocket (or the raw ASGI scope of the buy
    button's route): the one way routes reach it."""
    app = conn["app"] if type(conn) is dict else conn.app  # type: ignore[union-attr]
    root: Livedrop = app.state.livedrop
    return root
