"""The live parts of a Runtime: the hub, the host controls, the offer clock, and the two hooks the
buying routes use (``sales``: what a SKU sells at in a show; ``on_sold``: feed the ticker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inventory.models import Order
from inventory.stock import SaleTerms
from live.chat import ChatRules
from live.offer_clock import OfferClock
from live.control import ShowControl
from live.hub import Hub, HubConfig
from live.sales import NotOnSale
from web.errors import ApiError
from web.jobs import Job

if TYPE_CHECKING:
    from web.runtime import Runtime

OFFER_CLOCK_EVERY_S = 0.2

_REFUSALS = {
    "unknown_show": (404, "not_found"),
    "unknown_sku": (404, "unknown_sku"),
    "not_on_sale": (409, "not_on_sale"),
}


def build_live(runtime: "Runtime") -> dict[str, Any]:
    services = runtime.services
    settings = services.settings
    config = HubConfig(
        queue_frames=settings.ws_queue_frames,
        queue_bytes=settings.ws_queue_bytes,
        send_timeout_s=settings.ws_send_timeout_s,
        chat=ChatRules(settings.chat_max_length, settings.chat_messages_per_buyer_per_10s),
        hold_s=settings.hold_seconds,
    )
    hub = Hub(services.redis, services.sessions, runtime.stock, config, runtime.checkout.ensure_loaded, services.outages)
    control = ShowControl(hub)

    async def sales(slug: str, sku: str) -> tuple[int, SaleTerms]:
        sale = await hub.sale_for(slug, sku)
        if isinstance(sale, NotOnSale):
            status, code = _REFUSALS[sale.reason]
            raise ApiError(status, code, sale.message)
        return sale.product_id, sale.terms

    def cached_sale(slug: str, sku: str) -> tuple[int, SaleTerms] | None:
        sale = hub.cached_sale(slug, sku)
        return None if sale is None else (sale.product_id, sale.terms)

    async def on_sold(order: Order) -> None:
        if order.show_id is None:
            return
        first_name = (order.name or "").split(" ")[0][:20] or None  # a ticker shows first names only
        for line in order.lines:
            await hub.record_sale(order.show_id, line.sku, line.quantity, first_name)

    return {"hub": hub, "show_control": control, "offer_clock": OfferClock(control), "sales": sales, "cached_sale": cached_sale,
            "on_sold": on_sold}


def live_jobs(parts: dict[str, Any]) -> list[Job]:
    clock: OfferClock = parts["offer_clock"]
    return [Job("offer-clock", OFFER_CLOCK_EVERY_S, clock.tick)]
