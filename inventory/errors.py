"""Inventory's refusals. Each has a stable ``code`` (the one in CONTRACT.md) and the HTTP status
the web layer should answer with, so a route can map any of them with one ``except``."""

from __future__ import annotations


class InventoryError(Exception):
    code = "inventory_error"
    status = 409
    default_message = "the request cannot be done"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message


class SoldOut(InventoryError):
    code, status, default_message = "sold_out", 409, "sold out"


class LimitReached(InventoryError):
    code, status, default_message = "limit_reached", 409, "the per-customer limit for this product is reached"


class UnknownSku(InventoryError):
    code, status, default_message = "unknown_sku", 404, "no such SKU for this product"


class NotOnSale(InventoryError):
    """The product's stock is not in Redis (never loaded, or Redis came back empty and reconcile
    has not run yet)."""

    code, status, default_message = "not_on_sale", 409, "this product is not on sale right now"


class IdempotencyConflict(InventoryError):
    code, status, default_message = "idempotency_conflict", 422, "this Idempotency-Key was used with another body"


class RateLimited(InventoryError):
    code, status, default_message = "rate_limited", 429, "too many buy presses; wait a moment and try again"

    def __init__(self, message: str | None = None, retry_after_ms: int = 1000) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class InvalidRequest(InventoryError):
    code, status = "invalid_request", 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class HoldExpired(InventoryError):
    code, status, default_message = "hold_expired", 410, "this hold has expired; hold the item again"


class NotFound(InventoryError):
    code, status, default_message = "not_found", 404, "not found"


class HoldLocked(InventoryError):
    """The hold is in checkout right now (another tab, or a checkout with other details)."""

    code, status, default_message = "hold_locked", 409, "this hold is being checked out"


class PaymentDeclined(InventoryError):
    code, status, default_message = "payment_declined", 402, "the card was declined"

    def __init__(self, message: str | None = None, decline_code: str = "card_declined") -> None:
        super().__init__(message)
        self.decline_code = decline_code


class SoldOutAfterAll(InventoryError):
    """The card was charged, but SQL's stock guard found every unit of the size already sold (Redis
    had come back behind and held a unit that did not exist). The charge is refunded."""

    code, status, default_message = (
        "sold_out_after_all", 409,
        "we are sorry: this size sold out while your payment went through. Your payment has been "
        "refunded in full; nothing will be charged",
    )


class Unavailable(InventoryError):
    """Redis is not yet trusted for holds (it is not the server stock was last reconciled against,
    and the rebuild from SQL is under way). Retry in a moment."""

    code, status, default_message = "unavailable", 503, "stock is being checked after a Redis restart; retry in a second"


class Oversold(InventoryError):
    """Internal: a paid checkout whose hold vanished found no unit left to take (see commit.lua).
    Checkout refunds and answers HoldExpired; routes never see this one."""

    code, status, default_message = "oversold", 410, "no unit is left for this order"
