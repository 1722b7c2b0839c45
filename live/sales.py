"""What is on sale in a show for a SKU, right now: the hold route's question, answered from the
view cache (no SQL per request during a drop).

On sale means the show is live and the SKU's product is in a live offer (offer price, cap, limit
and hold time) or pinned (list price). When both, the offer wins. An offer is live by its times,
not by the clock job's last tick, so the first and last second of a drop are exact.

After the show, its replay keeps selling: in an ended show that has a recording, every product
that was pinned or offered during it is on sale at list price with the pinned terms (offers are
over), while its stock lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from inventory.stock import SaleTerms
from live.errors import NotOnSale
from live.views import ShowView

# A pinned product outside any offer sells at list price; these are its terms.
PINNED_PER_CUSTOMER_LIMIT = 10


@dataclass(frozen=True)
class Sale:
    show_id: int
    host_id: int
    product_id: int
    sku: str
    price_cents: int
    currency: str
    offer_id: int | None
    offer_quantity: int | None  # units at the offer price across sizes; None: every unit
    per_customer_limit: int
    hold_s: int
    queue: bool = False  # a queue offer's price: only with a pass from its waiting room

    @cached_property
    def terms(self) -> SaleTerms:
        """The terms inventory holds at. Built once per Sale: the hub hands the same Sale to every
        hold of a drop (see Hub.sale_for)."""
        return SaleTerms(
            unit_price_cents=self.price_cents,
            currency=self.currency,
            per_customer_limit=self.per_customer_limit,
            hold_seconds=self.hold_s,
            offer_id=self.offer_id,
            offer_quantity=self.offer_quantity,
            show_id=self.show_id,
            host_id=self.host_id,
        )


def sale_in(view: ShowView, sku: str, now: int, pinned_hold_s: int) -> Sale | NotOnSale | None:
    """The sale for ``sku`` in ``view``; None when the SKU is not one of the show's products (the
    caller then tells unknown_sku from not_on_sale with the host's catalog)."""
    product = next((p for p in view.products.values() if sku in p.stock_loaded), None)
    if product is None:
        return None
    if view.status == "ended" and product.id in view.replay_product_ids:
        return Sale(
            view.id, view.host_id, product.id, sku, product.price_cents, product.currency, None, None,
            PINNED_PER_CUSTOMER_LIMIT, pinned_hold_s,
        )
    if view.status != "live":
        return NotOnSale(f"the show is {view.status}, nothing is on sale")
    # A draw's units go to its winners (live.draws), whose holds are made by the draw, not a press.
    if any(o.product_id == product.id and o.mode == "draw" and now < o.ends_at for o in view.offers):
        return NotOnSale("this product goes to the winners of a draw: enter it, and the winners get a hold")
    offer = view.live_offer_for(product.id, now)
    if offer is not None:
        return Sale(
            view.id, view.host_id, product.id, sku, offer.price_cents, product.currency, offer.id, offer.quantity,
            offer.per_customer_limit, offer.hold_s, offer.mode == "queue",
        )
    if any(o.product_id == product.id and o.mode == "queue" and now < o.ends_at for o in view.offers):
        # Its units wait for the waiting room: pinned at list price before the drop starts, a
        # script would buy them there first.
        return NotOnSale("this product drops through a waiting room: join the line and buy with your pass when admitted")
    if product.id == view.pinned_id or product.id in view.bag_ids:  # the bag sells at list price too (docs/bag.md)
        return Sale(
            view.id, view.host_id, product.id, sku, product.price_cents, product.currency, None, None,
            PINNED_PER_CUSTOMER_LIMIT, pinned_hold_s,
        )
    return NotOnSale()
