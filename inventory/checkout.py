"""Checkout: turn a hold into a paid order, and finish or undo checkouts that stopped half-way.

The order of steps (DESIGN.md) is what makes a crash at any point recoverable:

1. lock the hold (Redis): no sweeper returns its units any more; the checkout details (never the
   card number) are stored on it, and its units are reserved against the email (per-email limit);
2. charge the card with ``<hold id>:<attempt>`` as the idempotency key (attempt moves on after a
   decline so another card can be tried);
3. write the Order (SQL; ``hold_id`` is unique, so two racing writers end with one order);
4. commit the hold (Redis): held -> sold.

A checkout that dies after 1 leaves a locked hold; after its lock deadline the sweeper hands it to
``recover()``: an order exists -> commit; a paid charge exists -> write the order from the stored
details and commit; otherwise unlock (or release, if expired). So every hold ends as
paid-with-order or refused-without-charge. The one exit that needs a refund is a paid order
whose hold vanished with no unit left to take (Redis lost it, or a checkout stalled past its
lock deadline and the units were sold again): the order is voided ('refunded') and the charge
refunded.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.errors import HoldExpired, NotFound, Oversold, PaymentDeclined
from inventory.models import Order, OrderLine, Product, Variant
from inventory.payments import Charge, PaymentProvider
from inventory.reconcile import reconcile
from inventory.stock import Hold, StockStore, SweepResult

log = logging.getLogger(__name__)

# Order numbers people read out: no 0/O, 1/I/L. 31**8 ≈ 8.5e11, collisions retried.
NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class CheckoutDetails:
    email: str
    name: str
    card_number: str
    shipping: dict[str, Any]
    phone: str | None = None

    def stored(self) -> dict[str, Any]:
        """What the hold record keeps for recovery: everything but the card number."""
        return {"email": normalize_email(self.email), "name": self.name, "phone": self.phone, "shipping": self.shipping}


@dataclass
class RecoveryReport:
    sweep: SweepResult
    outcomes: dict[str, str] = field(default_factory=dict)  # hold id -> what recover() did


def normalize_email(email: str) -> str:
    return email.strip().lower()


def order_number() -> str:
    return "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))


class Checkout:
    """Orders and checkouts. ``sessions``: SQLAlchemy async_sessionmaker; ``stock``: the
    process's StockStore; ``payments``: a PaymentProvider. ``lock_seconds`` is how long a
    checkout may take before recovery may step in: keep it well above a slow payment call."""

    def __init__(
        self, sessions: async_sessionmaker, stock: StockStore, payments: PaymentProvider, *, lock_seconds: int = 120
    ) -> None:
        self.sessions = sessions
        self.stock = stock
        self.payments = payments
        self.lock_ms = lock_seconds * 1000

    # -- checkout ----------------------------------------------------------------------------------

    async def checkout(self, hold_id: str, buyer_id: str, details: CheckoutDetails) -> tuple[Order, bool]:
        """Pay for a hold. Returns (order, created): created is False when the order already
        existed (a retry). Raises NotFound (unknown id, or another buyer's), HoldExpired (410),
        PaymentDeclined (402; the hold stays until it expires), LimitReached (this email already
        bought its limit), HoldLocked (being checked out with another email right now)."""
        email = normalize_email(details.email)
        existing = await self.order_for_hold(hold_id)
        if existing is not None:
            return self._existing(existing, buyer_id), False

        try:
            hold = await self.stock.lock(hold_id, buyer_id, email, details.stored(), self.stock.clock() + self.lock_ms)
        except HoldExpired:
            # Maybe it just sold by a racing retry, or by recovery, and its record is gone.
            existing = await self.order_for_hold(hold_id)
            if existing is not None:
                return self._existing(existing, buyer_id), False
            raise
        if hold.state == "sold":
            existing = await self.order_for_hold(hold_id)
            if existing is None:
                raise HoldExpired()
            return self._existing(existing, buyer_id), False

        # If the provider call itself fails we do not know whether it charged: the hold stays
        # locked and recovery looks the charge up by its key after the lock deadline.
        charge = await self.payments.charge(self.charge_key(hold), hold.total_cents, hold.currency, details.card_number)
        if charge.status == "declined":
            await self.stock.unlock(hold_id, hold.attempt)
            raise PaymentDeclined(decline_code=charge.decline_code)
        if not charge.paid:  # refunded earlier: this hold's sale was undone
            raise HoldExpired()

        order, created = await self._write_order(hold, details.stored(), charge)
        if order.status != "paid":
            raise HoldExpired()
        await self._commit(order, hold, charge)
        return order, created

    @staticmethod
    def charge_key(hold: Hold) -> str:
        return f"{hold.hold_id}:{hold.attempt}"

    def _existing(self, order: Order, buyer_id: str) -> Order:
        if order.buyer_id != buyer_id:
            raise NotFound()
        if order.status != "paid":
            raise HoldExpired()
        return order

    async def _commit(self, order: Order, hold: Hold, charge: Charge | None) -> str:
        try:
            return await self.stock.commit(
                hold.hold_id, sku=hold.sku, quantity=hold.quantity, buyer_id=order.buyer_id, email=order.email,
                offer_id=hold.offer_id,
            )
        except Oversold:
            await self._void(order, charge)
            raise HoldExpired("this hold expired before checkout finished; the payment was refunded") from None

    async def _void(self, order: Order, charge: Charge | None) -> None:
        """Undo a paid order that has no unit: void it first (so reconcile stops counting it),
        then refund."""
        async with self.sessions() as session:
            row = await session.get(Order, order.id)
            if row is not None:
                row.status = "refunded"
                await session.commit()
        order.status = "refunded"
        await self.payments.refund(charge.id if charge else order.payment_id)
        log.warning("order %s for hold %s voided and refunded: no unit left", order.id, order.hold_id)

    async def _write_order(self, hold: Hold, details: dict[str, Any], charge: Charge) -> tuple[Order, bool]:
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(Variant, Product)
                    .join(Product, Product.id == Variant.product_id)
                    .where(Variant.product_id == hold.product_id, Variant.sku == hold.sku)
                )
            ).first()
            if row is None:
                raise RuntimeError(f"hold {hold.hold_id}: variant {hold.sku!r} of product {hold.product_id} is gone")
            variant, product = row
            for _ in range(5):
                order = Order(
                    id=secrets.token_urlsafe(18),  # 24 characters, unguessable
                    number=order_number(),
                    hold_id=hold.hold_id,
                    host_id=hold.host_id if hold.host_id is not None else variant.host_id,
                    show_id=hold.show_id,
                    buyer_id=hold.buyer_id,
                    email=details["email"],
                    name=details["name"],
                    phone=details.get("phone"),
                    shipping=details["shipping"],
                    status="paid",
                    total_cents=hold.total_cents,
                    currency=hold.currency,
                    payment_id=charge.id,
                    created_at=self.stock.clock(),
                    lines=[
                        OrderLine(
                            product_id=hold.product_id, variant_id=variant.id, sku=hold.sku, title=product.title,
                            label=variant.label, quantity=hold.quantity, unit_price_cents=hold.unit_price_cents,
                            offer_id=hold.offer_id,
                        )
                    ],
                )
                session.add(order)
                try:
                    await session.commit()
                    return order, True
                except IntegrityError:
                    await session.rollback()
                existing = await self.order_for_hold(hold.hold_id)
                if existing is not None:
                    return existing, False  # a racing retry or recovery wrote it first
                # Otherwise the short number collided: draw another.
        raise RuntimeError("could not draw a free order number")

    # -- recovery ----------------------------------------------------------------------------------

    async def recover(self, hold_id: str) -> str:
        """Finish or undo a checkout that stopped (the sweeper calls this for holds locked past
        their deadline, and for expired holds that were once in checkout). Idempotent. Returns
        what it did: 'committed', 'completed', 'refunded', 'released', 'unlocked', 'gone', 'sold'."""
        hold = await self.stock.get_hold(hold_id)
        if hold is None:
            return "gone"
        if hold.state == "sold":
            return "sold"
        order = await self.order_for_hold(hold_id)
        if order is not None and order.status == "paid":
            try:
                await self._commit(order, hold, None)
            except HoldExpired:
                return "refunded"
            return "committed"
        charge = await self.payments.find_charge(self.charge_key(hold))
        if charge is not None and charge.paid and order is None:
            if hold.details:
                order, _ = await self._write_order(hold, hold.details, charge)
                if order.status == "paid":
                    try:
                        await self._commit(order, hold, charge)
                    except HoldExpired:
                        return "refunded"
                    return "completed"
            # A charge without the details to write its order (should not happen: lock stores
            # them before any charge): give the money back rather than keep it without an order.
            await self.payments.refund(charge.id)
            await self.stock.abandon(hold_id)
            return "refunded"
        if charge is not None and charge.status == "declined" and hold.state == "locked":
            await self.stock.unlock(hold_id, hold.attempt)
        return await self.stock.abandon(hold_id)

    async def sweep(self, product_ids: list[int] | None = None, *, batch: int = 100) -> RecoveryReport:
        """One expiry pass (the worker runs it every second or so): return expired holds' units,
        then recover the holds that may have a charge behind them."""
        result = await self.stock.sweep(product_ids, batch=batch, lease_ms=self.lock_ms)
        report = RecoveryReport(result)
        for hold_id in result.to_recover:
            try:
                report.outcomes[hold_id] = await self.recover(hold_id)
            except Exception:  # one bad hold must not stop the others; it comes back next lease
                log.exception("recovery of hold %s failed", hold_id)
                report.outcomes[hold_id] = "failed"
        return report

    # -- reading -----------------------------------------------------------------------------------

    async def order_for_hold(self, hold_id: str) -> Order | None:
        async with self.sessions() as session:
            return (await session.execute(select(Order).where(Order.hold_id == hold_id))).scalar_one_or_none()

    async def get_order(self, order_id: str) -> Order | None:
        async with self.sessions() as session:
            return await session.get(Order, order_id)

    async def orders_for_buyer(self, buyer_id: str) -> list[Order]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(Order).where(Order.buyer_id == buyer_id).order_by(Order.created_at.desc(), Order.id)
            )
            return list(rows.scalars())

    async def live_holds_for_buyer(self, buyer_id: str) -> list[Hold]:
        return await self.stock.live_holds_for_buyer(buyer_id)

    async def get_hold(self, hold_id: str) -> Hold | None:
        return await self.stock.get_hold(hold_id)

    async def reconcile(self, product_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
        """Rebuild Redis stock from SQL (see inventory.reconcile)."""
        return await reconcile(self.sessions, self.stock, product_ids)

    async def ensure_loaded(self, product_id: int) -> None:
        """Load a product going on sale (or reloaded after Redis lost it) from SQL, if Redis does
        not have it. Cheap when it is loaded: one EXISTS."""
        if not await self.stock.is_loaded(product_id):
            await self.reconcile([product_id])
