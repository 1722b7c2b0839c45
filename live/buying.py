"""A buy press and a checkout, as live sees them: the show decides what sells and at what terms,
inventory holds the unit. The drop's hot path goes through here once per press.

    press -> Buying.hold -> Hub.cached_sale (or Hub.sale_for) -> StockStore.answer_at_hand
          (or StockStore.hold_in_redis) -> Hold or a Refusal value

Each trick of the hot path sits behind one seam in its own layer and is used once per press: the
sale cache in the hub (``cached_sale`` answers without a coroutine while the show's view and its
offers are unchanged), the local sold-out answer and the input checks in ``answer_at_hand``, the
hiredis lane inside ``hold_in_redis``. Refusals come back as values (a drop is mostly refusals;
raising each costs more than answering it); web renders them with the same body as raised ones.
"""

from __future__ import annotations

from inventory.bag_checkout import BagCheckout
from inventory.checkout import Checkout, CheckoutDetails
from inventory.clock import now_ms
from inventory.errors import NotFound, Refusal
from inventory.models import Order
from inventory.payments import PaymentStart
from inventory.stock import Hold, StockStore
from live.hub import Hub
from live.passes import Pass, PassBook

TICKER_NAME_CHARS = 20  # the purchase ticker shows first names only, this long at most


class Buying:
    def __init__(self, hub: Hub, stock: StockStore, checkout: Checkout, passes: PassBook) -> None:
        self.hub = hub
        self.stock = stock
        self.checkout_desk = checkout
        self.bag_desk = BagCheckout(checkout)
        self.passes = passes

    async def hold(
        self, slug: str, sku: str, quantity: int, buyer_id: str, idempotency_key: str, rate_limit: tuple[int, int],
        pass_token: str | None = None,
    ) -> Hold | Refusal:
        """Hold ``quantity`` of ``sku`` in show ``slug`` for ``buyer_id``: the hold, or why not
        (404 not_found / unknown_sku, 409 not_on_sale / sold_out / limit_reached, 403 no_pass /
        pass_expired / pass_not_yours on a queue offer, 429, 503...)."""
        sale = self.hub.cached_sale(slug, sku) or await self.hub.sale_for(slug, sku)
        if isinstance(sale, Refusal):
            return sale
        admitted: Pass | Refusal | None = None
        if sale.queue:  # a waiting room's offer: its pass first, one HMAC and no Redis (live.passes)
            admitted = self.passes.check(pass_token, sale.offer_id or 0, buyer_id, now_ms())
            if isinstance(admitted, Refusal):
                return admitted
        answer = self.stock.answer_at_hand(sale.product_id, sku, quantity, buyer_id, idempotency_key)
        if answer is None:
            answer = await self.stock.hold_in_redis(
                sale.product_id, sku, quantity, buyer_id, idempotency_key, sale.terms, rate_limit
            )
        if isinstance(admitted, Pass) and isinstance(answer, Hold):
            self.hub.waiting_room.note_used(admitted.offer_id, buyer_id, admitted.rank)
        return answer

    async def checkout(self, hold_id: str, buyer_id: str, details: CheckoutDetails) -> tuple[Order, bool]:
        """Pay for a hold (inventory.checkout); a new paid order is told to the show's viewers
        (the purchase ticker). Returns the order and whether this call made it."""
        order, created = await self.checkout_desk.checkout(hold_id, buyer_id, details)
        if created:
            await self._tell_viewers(order)
        return order, created

    async def checkout_bag(self, slug: str, hold_ids: list[str], buyer_id: str, details: CheckoutDetails) -> tuple[Order, bool]:
        """Pay for several holds of the show's bag in one order (inventory.bag_checkout); a new
        paid order is told to the purchase ticker, a line each."""
        view = await self.hub.views.get(slug)
        if view is None:
            raise NotFound("no such show")
        order, created = await self.bag_desk.checkout(view.id, hold_ids, buyer_id, details)
        if created:
            await self._tell_viewers(order)
        return order, created

    async def start_bag_payment(
        self, slug: str, hold_ids: list[str], buyer_id: str, details: CheckoutDetails, payment_method: str | None,
    ) -> tuple[PaymentStart | None, Order | None]:
        """Under Stripe: the bag's one PaymentIntent for the browser to confirm
        (inventory.bag_checkout.BagCheckout.start_payment); (None, order) once it is paid for."""
        view = await self.hub.views.get(slug)
        if view is None:
            raise NotFound("no such show")
        return await self.bag_desk.start_payment(view.id, hold_ids, buyer_id, details, payment_method)

    async def payment_succeeded(self, hold_id: str, payment_id: str | None = None) -> str:
        """The provider's word that a hold's payment went through (Stripe's webhook), perhaps
        before the buyer's own checkout call: the checkout is finished (inventory.checkout) and,
        when this call is the one that made the order paid ('completed'), the show's viewers are
        told, as the buyer's checkout would have. The buyer's call then finds the order (200)."""
        outcome = await self.checkout_desk.payment_succeeded(hold_id, payment_id)
        if outcome == "completed":
            order = await self.checkout_desk.order_for_hold(hold_id)
            if order is not None:
                await self._tell_viewers(order)
        return outcome

    async def _tell_viewers(self, order: Order) -> None:
        """A new paid order in the purchase ticker (``sold`` frames) of its show."""
        if order.show_id is None:
            return
        first_name = (order.name or "").split(" ")[0][:TICKER_NAME_CHARS] or None
        for line in order.lines:
            await self.hub.record_sale(order.show_id, line.sku, line.quantity, first_name)
