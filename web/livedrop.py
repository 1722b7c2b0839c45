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
from inventory.epochs import RedisEpochs
from inventory.payments import PaymentProvider, TestPaymentProvider
from inventory.stripe_payments import StripeProvider
from inventory.shopify_sync import ShopifySync
from inventory.stock import StockStore
from live.broadcasts import Broadcasts
from live.buying import Buying
from live.chat import ChatRules
from live.control import ShowControl
from live.email_channel import EmailChannel
from live.hub import Hub, HubConfig
from live.media.runner import MediaBackend, ThreadedMedia
from live.offer_clock import OfferClock
from live.outbox_worker import OutboxWorker
from live.passes import PassBook
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
from web.money import format_money
from web.orders_link import OrdersLinkTokens
from web.queue_pow import QueuePow
from web.ratelimit import RateLimiter
from web.services import Services
from web.settings import Settings

TEMPLATES_DIR = Path(__file__).parent / "templates"
OFFER_CLOCK_EVERY_S = 0.2  # offers start and end within this of their times (sales go by the times themselves)
HOLD_EXPIRY_EVERY_S = 1.0
REDIS_EPOCH_EVERY_S = 1.0
REMINDERS_EVERY_S = 5.0  # a reminder goes out within this of its moment
WAITLIST_EVERY_S = 1.0  # an offer is announced within this of the line making it (it holds the unit already)
OUTBOX_EVERY_S = 0.2  # how soon after its commit an event starts on its way; idle, a tick is one small SELECT
STALLED_REFUNDS_EVERY_S = 30.0


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
    offer_clock: OfferClock
    queues: Queues
    buying: Buying
    broadcasts: Broadcasts
    replays: Replays
    replay_presence: ReplayPresence
    report: ShowReport
    reminders: Reminders  # show reminders (docs/notify.md)
    waitlists: Waitlists  # back-in-stock waiting lists (docs/notify.md)
    webhook_endpoints: WebhookEndpoints
    outbox: OutboxWorker
    # web
    rate_limiter: RateLimiter
    buyer_tokens: BuyerTokens
    orders_link_tokens: OrdersLinkTokens
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
        """Stop them again, in reverse order."""
        self._running.stopping.set()
        await self.outbox.webhooks.close()
        if self._running.epoch_watch is not None:
            await self._running.epoch_watch
        await self.broadcasts.close()
        await self.hub.stop()
        self.stock.close()


@dataclass
class _Running:
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    epoch_watch: asyncio.Task[None] | None = None


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
    )
    shows = ShowControl(hub, broadcasts)
    passes = PassBook(settings.secret_key)
    queues = Queues(shows, passes)
    offer_clock = OfferClock(shows, queues)
    base_url = settings.base_url
    reminders = Reminders(sessions, lambda token: unsubscribe_url(base_url, token))
    waitlists = Waitlists(sessions, stock, hub.ensure_loaded, lambda slug: show_url(base_url, slug), settings.waitlist_offer_s)
    url_policy = UrlPolicy(https_only=settings.production, allow_private=settings.webhook_allow_private)
    outbox = OutboxWorker(sessions, WebhookSender(url_policy), make_email(settings))
    # web
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.filters["money"] = format_money
    templates.env.globals["webhook_kinds"] = WEBHOOK_KINDS
    orders = OrderLife(sessions, stock, payments, checkout)
    jobs = (
        Job("hold-expiry", HOLD_EXPIRY_EVERY_S, checkout.sweep),  # expired holds back to stock, stalled checkouts settled
        Job("stalled-refunds", STALLED_REFUNDS_EVERY_S, orders.finish_stalled),  # refunds a crash left pending, finished
        # Also run by every serving process (Livedrop.start); here for a worker, which serves nothing.
        Job("redis-epoch", REDIS_EPOCH_EVERY_S, epochs.ensure),
        Job("offer-clock", OFFER_CLOCK_EVERY_S, offer_clock.tick),  # offers go live and end on time
        Job("show-reminders", REMINDERS_EVERY_S, reminders.send_due),  # 24 h, 15 min, live: once each (docs/notify.md)
        Job("waitlist-offers", WAITLIST_EVERY_S, waitlists.deliver),  # back-in-stock offers recorded and announced
        Job("outbox", OUTBOX_EVERY_S, outbox.tick),  # webhooks and email, at least once (live.outbox_worker)
    )
    return Livedrop(
        settings=settings,
        services=services,
        stock=stock,
        payments=payments,
        stripe=payments if isinstance(payments, StripeProvider) else None,
        checkout=checkout,
        orders=orders,
        orders_links=OrdersLinks(sessions),
        epochs=epochs,
        shopify=ShopifySync(sessions, stock, redis),
        hub=hub,
        shows=shows,
        offer_clock=offer_clock,
        queues=queues,
        buying=Buying(hub, stock, checkout, passes),
        broadcasts=broadcasts,
        replays=Replays(sessions, stock, hub.ensure_loaded, settings.recordings_dir, recording_url),
        replay_presence=ReplayPresence(hub.views, ReplayAudience(redis), stock),
        report=ShowReport(sessions, redis, stock, hub.presence),
        reminders=reminders,
        waitlists=waitlists,
        webhook_endpoints=WebhookEndpoints(sessions, url_policy),
        outbox=outbox,
        rate_limiter=RateLimiter(redis),
        buyer_tokens=BuyerTokens(settings.secret_key),
        orders_link_tokens=OrdersLinkTokens(settings.secret_key),
        templates=templates,
        # Keyed from SECRET_KEY (QueuePow derives its own key), so every process checks what any issued.
        queue_pow=QueuePow(settings.secret_key, settings.queue_pow) if settings.queue_pow > 0 else None,
        jobs=jobs,
    )


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
