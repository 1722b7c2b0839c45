"""Refusals: the house's one convention for "no, and here is why", and inventory's own.

A ``Refusal`` has a stable ``code`` (the one in CONTRACT.md), the HTTP status the web layer answers
with, a message a person can act on, and, where retrying later helps, ``retry_after_s``. Every
layer's refusals derive from it (``inventory.errors``, ``live.errors``, ``web.errors.ApiError``),
so one handler (web.errors) renders all of them. The hot path (a buy press) returns refusals as
values instead of raising them: in a drop most answers are refusals, and raising one costs more
than answering it. The generic refusals any layer may give (not found, invalid request, invalid
state, rate limited, unavailable) live here, in the lowest layer, so no layer has a twin of them.
"""

from __future__ import annotations


class Refusal(Exception):
    code = "refused"
    status = 409
    default_message = "the request cannot be done"
    retry_after_s: int | None = None  # set where asking again later can succeed (429, 503)
    details: dict[str, int] | None = None  # more fields of the error object (insufficient_stock: units_left)

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message


def retry_after_seconds(ms: float) -> int:
    """A wait in milliseconds as a Retry-After value: whole seconds, rounded up (rounding down
    would tell clients to come back before they may), at least 1."""
    return max(1, -(-int(ms) // 1000))


class NotFound(Refusal):
    code, status, default_message = "not_found", 404, "not found"


class InvalidRequest(Refusal):
    """A valid body that breaks a rule; the message names the field."""

    code, status = "invalid_request", 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class InvalidState(Refusal):
    """The show, offer or order is not in a state that allows this."""

    code, status, default_message = "invalid_state", 409, "not possible in the current state"


class RateLimited(Refusal):
    code, status, default_message = "rate_limited", 429, "too many buy presses; wait a moment and try again"

    def __init__(self, message: str | None = None, retry_after_ms: int = 1000) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms
        self.retry_after_s = retry_after_seconds(retry_after_ms)


class Unavailable(Refusal):
    """A backing part is not ready to answer (Redis being checked after a restart, the media
    process down). Retry in a moment."""

    code, status, default_message = "unavailable", 503, "stock is being checked after a Redis restart; retry in a second"
    retry_after_s = 1

    def __init__(self, message: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InventoryError(Refusal):
    """A refusal of inventory's own (stock, holds, checkout)."""

    code = "inventory_error"


class SoldOut(InventoryError):
    code, status, default_message = "sold_out", 409, "sold out"


class InsufficientStock(InventoryError):
    """A press for more units than are left, while some are: its own answer, which changes
    nothing anyone else is told (``sold_out`` is only for nothing left)."""

    code, status = "insufficient_stock", 409

    def __init__(self, units_left: int) -> None:
        super().__init__(f"only {units_left} left of this size: ask for {units_left} or fewer")
        self.units_left = units_left
        self.details = {"units_left": units_left}


class LimitReached(InventoryError):
    code, status, default_message = "limit_reached", 409, "the per-customer limit for this product is reached"


class UnknownSku(InventoryError):
    code, status, default_message = "unknown_sku", 404, "no such SKU for this product"


class StockNotLoaded(InventoryError):
    """The product's stock is not in Redis (never loaded, or Redis came back empty and reconcile
    has not run yet): to a buyer, not on sale."""

    code, status, default_message = "not_on_sale", 409, "this product is not on sale right now"


class IdempotencyConflict(InventoryError):
    code, status, default_message = "idempotency_conflict", 422, "this Idempotency-Key was used with another body"




class HoldExpired(InventoryError):
    code, status, default_message = "hold_expired", 410, "this hold has expired; hold the item again"



class HoldLocked(InventoryError):
    """The hold is in checkout right now (another tab, or a checkout with other details)."""

    code, status, default_message = "hold_locked", 409, "this hold is being checked out"


class PaymentDeclined(InventoryError):
    code, status, default_message = "payment_declined", 402, "the card was declined"

    def __init__(self, message: str | None = None, decline_code: str = "card_declined") -> None:
        super().__init__(message)
        self.decline_code = decline_code


class PaymentIncomplete(InventoryError):
    """Checkout with a browser-confirmed provider (Stripe) found no payment for the hold that went
    through: none was started, or it still needs a card or an authentication. Nothing changed; the
    hold stays, and the same call works once Stripe.js has confirmed the payment."""

    code, status, default_message = (
        "payment_incomplete", 402,
        "the payment has not gone through yet: confirm it (POST /api/holds/{hold_id}/payment, then Stripe.js) and check out again",
    )


class PaymentNotInBrowser(InventoryError):
    """POST /api/holds/{id}/payment on a server whose provider takes card numbers at checkout."""

    code, status, default_message = (
        "payment_not_in_browser", 409,
        "this server's payment provider takes the card number at checkout: POST /api/holds/{hold_id}/checkout",
    )


class SoldOutAfterAll(InventoryError):
    """The card was charged, but SQL's stock guard found every unit of the size already sold (Redis
    had come back behind and held a unit that did not exist). The charge is refunded."""

    code, status, default_message = (
        "sold_out_after_all", 409,
        "we are sorry: this size sold out while your payment went through. Your payment has been "
        "refunded in full; nothing will be charged",
    )



class Oversold(InventoryError):
    """Internal: a paid checkout whose hold vanished found no unit left to take (see commit.lua).
    Checkout refunds and answers HoldExpired; routes never see this one."""

    code, status, default_message = "oversold", 410, "no unit is left for this order"


class NotShippedTo(Refusal):
    """The seller's shipping profile does not ship to the address's country. Raised before the
    hold is locked or anything is charged: the hold stays as it was."""

    code, status, default_message = "not_shipped_to", 422, "shipping.country: the seller does not ship to this country"


# -- the show's bag: one checkout for several holds (docs/bag.md) --------------------------------


class BagMixed(InventoryError):
    """Holds of one bag checkout must share a show and a currency (one payment, one order)."""

    code, status, default_message = (
        "bag_mixed", 422, "hold_ids: every hold of one checkout must be from this show and in one currency",
    )


class BagConflict(InventoryError):
    """A hold of the bag is paid for (or being paid for) by another order."""

    code, status, default_message = (
        "bag_conflict", 409, "hold_ids: one of these holds is paid by another checkout; reload your bag and try again",
    )
