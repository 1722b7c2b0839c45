"""Checkout: turn a hold into a paid order, and finish or undo checkouts that stopped half-way.

The steps, in an order that makes a crash at any point recoverable:

1. lock the hold (Redis): no sweeper returns its units any more, and its units are reserved
   against the email (per-email limit, atomic with the lock);
2. write the order as 'pending' (SQL; ``hold_id`` is unique, so racing writers share one row).
   This is the durable trail of the checkout, written before any money moves: Redis may lose
   the hold, SQL keeps the trail. ``payment_id`` holds the charge's idempotency key meanwhile;
3. charge the card with ``<hold id>:<attempt>`` as the idempotency key (the attempt moves on
   after a decline, so another card can be tried);
4. mark the order 'paid' (a conditional UPDATE: only a still-pending order) and, in the same
   transaction, move its variant's ``sold`` within ``stock`` (SQL is the last guard: Redis may
   have come back behind and held a unit that does not exist). Declined: delete the pending row
   and unlock the hold. Refused by the guard: the order becomes 'refunded' (reason
   'sold_out_after_all'), the charge is refunded, the hold is forfeited (its phantom units do not
   go back to stock) and the product is reconciled from SQL;
5. commit the hold (Redis): held -> sold.

A checkout that dies leaves a locked hold and/or a pending order. After the lock deadline the
sweeper hands the hold to ``recover()``, and ``recover_pending()`` finds pending orders in SQL
whose hold Redis lost. Both end in ``recover_order``: a paid charge -> order paid, units sold;
no paid charge -> pending row deleted, hold unlocked or released. So every checkout ends as
paid-with-order or refused-without-charge. The exits that need a refund: a paid order whose hold
vanished with no unit left to take (the order becomes 'refunded'), and a checkout that stalled
so long that recovery dropped its pending order before its charge went through.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory import keys
from inventory.errors import (
    HoldExpired, NotFound, NotShippedTo, Oversold, PaymentDeclined, PaymentIncomplete, PaymentNotInBrowser, SoldOutAfterAll,
)
from inventory.models import Order, OrderLine, Product, Variant
from inventory.orders import REQUESTED, SELLING
from inventory.outbox import announce
from inventory.payments import INCOMPLETE, Charge, PaymentProvider, PaymentStart
from inventory.reconcile import ReconcileFenced, reconcile
from inventory.shipping import Quote, ShippingProfile, profile_for, quote
from inventory.stock import Hold, StockStore, SweepResult

log = logging.getLogger(__name__)

# Order numbers people read out: no 0/O, 1/I/L. 31**8 ≈ 8.5e11, collisions retried.
NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
# An order is 'pending' from just before the charge until the charge is known, then 'paid'
# (declined: the pending row is deleted), or 'refunded' when a paid order had to be undone.
# Only 'paid' orders count as sold; lists shown to people should show 'paid' and 'refunded'.
PENDING = "pending"
REFUNDED = "refunded"
# Why a paid order was undone (Order.refund_reason).
SOLD_OUT_AFTER_ALL = "sold_out_after_all"  # SQL's stock guard refused it
NO_UNIT_LEFT = "no_unit_left"  # its hold vanished and Redis had no unit to take
WEBHOOK_EVENTS_KEPT_S = 30 * 24 * 3600  # Stripe retries a delivery for up to 3 days


# stock.low is announced by the sale that leaves fewer unsold units of a size than this (counted in
# SQL, where the sale commits: units held in Redis are not sold yet, so the hold path is untouched).
LOW_STOCK_UNITS = 3


@dataclass(frozen=True)
class CheckoutDetails:
    email: str
    name: str
    card_number: str | None  # None with a browser-confirmed provider (Stripe): never sent to livedrop
    shipping: dict[str, Any]
    phone: str | None = None

    def stored(self) -> dict[str, Any]:
        """What the hold record keeps for recovery: everything but the card number."""
        return {"email": normalize_email(self.email), "name": self.name, "phone": self.phone, "shipping": self.shipping}


@dataclass
class RecoveryReport:
    sweep: SweepResult
    outcomes: dict[str, str] = field(default_factory=dict)  # hold id -> what recover() did


def was_sold(order: Order) -> bool:
    """Paid for and sold, whatever its life did since (shipped, refunded or cancelled by its
    host); not pending, not undone by checkout."""
    return order.status in SELLING or (order.status in ("refunded", "cancelled") and order.refund_reason == REQUESTED)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def order_number() -> str:
    return "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))


class Checkout:
    """Orders and checkouts. ``sessions``: SQLAlchemy async_sessionmaker; ``stock``: the
    process's StockStore; ``payments``: a PaymentProvider. ``lock_seconds`` is how long a
    checkout may take before recovery may step in: keep it well above a slow payment call."""

    def __init__(
        self, sessions: async_sessionmaker, stock: StockStore, payments: PaymentProvider, *, lock_seconds: int = 120,
        pending_scan_seconds: int = 30,
    ) -> None:
        self.sessions = sessions
        self.stock = stock
        self.payments = payments
        self.lock_ms = lock_seconds * 1000
        self.pending_scan_ms = pending_scan_seconds * 1000
        self._last_pending_scan = -(10**15)

    # -- checkout ----------------------------------------------------------------------------------

    async def checkout(self, hold_id: str, buyer_id: str, details: CheckoutDetails) -> tuple[Order, bool]:
        """Pay for a hold. Returns (order, created): created is False when the order already
        existed (a retry). Raises NotFound (unknown id, or another buyer's), HoldExpired (410),
        PaymentDeclined (402; the hold stays until it expires), LimitReached (this email already
        bought its limit), HoldLocked (being checked out with another email right now)."""
        email = normalize_email(details.email)
        existing = await self.order_for_hold(hold_id)
        if existing is not None and existing.status != PENDING:
            return self._existing(existing, buyer_id), False
        # Refused before anything is locked or charged: the hold stays exactly as it was.
        await self.check_ships(hold_id, buyer_id, details.shipping)

        try:
            hold = await self.stock.lock(hold_id, buyer_id, email, {}, await self._lock_deadline(hold_id))
        except HoldExpired:
            # Maybe it just sold by a racing retry, or by recovery, and its record is gone.
            existing = await self.order_for_hold(hold_id)
            if existing is not None and was_sold(existing):
                return self._existing(existing, buyer_id), False
            raise
        if hold.state == "sold":
            existing = await self.order_for_hold(hold_id)
            if existing is None or not was_sold(existing):
                raise HoldExpired()
            return self._existing(existing, buyer_id), False

        # The pending order is the durable trail of this checkout: it is written before any money
        # moves, so recovery finds it even if Redis loses the hold (see recover_order).
        key = self.charge_key(hold)
        order = await self._start_order_or_unlock(hold, details.stored(), key)
        if was_sold(order):
            return self._existing(order, buyer_id), False
        # If the provider call itself fails we do not know whether it charged: the pending order
        # and the locked hold stay, and recovery looks the charge up by its key.
        # The order's total: the lines plus shipping (inventory.shipping), as the pending order says.
        charge = await self.payments.charge(key, order.total_cents, order.currency, details.card_number)
        if charge.status == INCOMPLETE:
            # Browser-confirmed (Stripe): the buyer may still confirm, or try another card. Nothing
            # is undone; the pending order and the lock stay until the lock deadline (recovery).
            if charge.decline_code:
                raise PaymentDeclined(decline_code=charge.decline_code)
            raise PaymentIncomplete()
        if charge.status == "declined":
            await self._drop_pending(order.id)
            await self.stock.unlock(hold_id, hold.attempt)
            raise PaymentDeclined(decline_code=charge.decline_code)
        if not charge.paid:  # refunded earlier: this hold's sale was undone
            await self._drop_pending(order.id)
            raise HoldExpired()
        paid, created = await self._mark_paid(order.id, charge)
        if paid is None:
            # Recovery gave up on this checkout while we were paying (we stalled past the lock
            # deadline) and dropped the pending order: give the money back.
            await self.payments.refund(charge.id)
            raise HoldExpired("this checkout took too long; the payment was refunded")
        if paid.status == REFUNDED and paid.refund_reason == SOLD_OUT_AFTER_ALL:
            await self._settle_refused(paid)
            raise SoldOutAfterAll()
        await self._commit(paid, hold.hold_id, charge)
        return paid, created

    @staticmethod
    def charge_key(hold: Hold) -> str:
        return f"{hold.hold_id}:{hold.attempt}"

    async def _lock_deadline(self, hold_id: str) -> int:
        """How long a checkout may take before recovery steps in. A browser-confirmed payment
        (Stripe) is confirmed by the buyer, who types a card and may pass 3-D Secure: its lock runs
        until the hold's own expiry plus ``lock_ms``, so recovery never cancels a payment the
        buyer still has time for."""
        deadline = self.stock.clock() + self.lock_ms
        if self.payments.confirms_in_browser:
            hold = await self.stock.get_hold(hold_id)
            if hold is not None:
                deadline = max(deadline, hold.expires_at + self.lock_ms)
        return deadline

    # -- browser-confirmed payments (Stripe) ---------------------------------------------------

    async def start_payment(
        self, hold_id: str, buyer_id: str, details: CheckoutDetails, payment_method: str | None = None,
    ) -> tuple[PaymentStart | None, Order | None]:
        """The first half of a checkout whose payment the browser confirms: lock the hold, write
        the pending order (the durable trail, before any money can move) and make the hold's
        PaymentIntent; with ``payment_method`` (made by Stripe.js), confirm it on the server.
        Returns (payment, None), or (None, order) when the hold is paid for already. Raises what
        checkout raises, and PaymentNotInBrowser with a provider that takes card numbers."""
        if not self.payments.confirms_in_browser:
            raise PaymentNotInBrowser()
        existing = await self.order_for_hold(hold_id)
        if existing is not None and existing.status != PENDING:
            return None, self._existing(existing, buyer_id)
        await self.check_ships(hold_id, buyer_id, details.shipping)
        email = normalize_email(details.email)
        try:
            hold = await self.stock.lock(hold_id, buyer_id, email, details.stored(), await self._lock_deadline(hold_id))
        except HoldExpired:
            existing = await self.order_for_hold(hold_id)
            if existing is not None and was_sold(existing):
                return None, self._existing(existing, buyer_id)
            raise
        if hold.state == "sold":
            existing = await self.order_for_hold(hold_id)
            if existing is None or not was_sold(existing):
                raise HoldExpired()
            return None, self._existing(existing, buyer_id)
        key = self.charge_key(hold)
        order = await self._start_order_or_unlock(hold, details.stored(), key)
        if was_sold(order):
            return None, self._existing(order, buyer_id)
        payment = await self.payments.start(key, order.total_cents, order.currency)
        if payment_method and payment.status in ("requires_payment_method", "requires_confirmation"):
            payment = await self.payments.confirm(payment.payment_id, payment_method)
            if payment.decline_code:
                raise PaymentDeclined(decline_code=payment.decline_code)
        return payment, None

    async def payment_succeeded(self, hold_id: str) -> str:
        """A provider says a payment of the hold went through (Stripe's payment_intent.succeeded
        webhook). Finishes the checkout if the server stopped between the charge and the order
        (the same steps as recovery: mark the pending order paid, sell the units), and gives the
        money back when the hold's checkout was given up before it went through. Idempotent.
        Returns what it did: 'completed', 'already', 'refunded', 'waiting' or the recovery outcome."""
        order = await self.order_for_hold(hold_id)
        if order is not None and order.status != PENDING:
            return "already"
        if order is not None:
            charge = await self.payments.find_charge(order.payment_id)
            if charge is None or not charge.paid:
                return "waiting"  # not paid after all (a late event): the checkout or recovery decides
            return await self.recover_order(order)
        hold = await self.stock.get_hold(hold_id)
        if hold is not None and hold.state == "locked":
            return "waiting"  # a checkout is between its lock and its pending order: it finds the payment
        charge = await self.payments.find_charge(f"{hold_id}:0")
        if charge is not None and charge.paid:
            # No order and no checkout: the hold ended (or its checkout was dropped) before the
            # payment went through. Never kept.
            await self.payments.refund(charge.id)
            log.warning("hold %s was paid (%s) with no checkout left to finish: refunded", hold_id, charge.id)
            return "refunded"
        return "none"

    async def first_delivery(self, event_id: str) -> bool:
        """True the first time a provider's event id is seen (webhook deduplication): the ids are
        kept in Redis for 30 days. Handling an event twice is harmless anyway (every step is
        idempotent); this spares the work and the provider calls."""
        return bool(await self.stock.redis.set(keys.webhook_event(event_id), "1", nx=True, ex=WEBHOOK_EVENTS_KEPT_S))

    def _existing(self, order: Order, buyer_id: str) -> Order:
        if order.buyer_id != buyer_id:
            raise NotFound()
        if order.status == REFUNDED and order.refund_reason == SOLD_OUT_AFTER_ALL:
            raise SoldOutAfterAll()  # a retry hears what the first call heard
        if not was_sold(order):
            raise HoldExpired()
        return order

    async def _commit(self, order: Order, hold_id: str, charge: Charge | None) -> str:
        [line] = order.lines
        try:
            return await self.stock.commit(
                hold_id, sku=line.sku, quantity=line.quantity, buyer_id=order.buyer_id, email=order.email,
                offer_id=line.offer_id,
            )
        except Oversold:
            await self._void(order, charge)
            raise HoldExpired("this hold expired before checkout finished; the payment was refunded") from None

    async def _void(self, order: Order, charge: Charge | None) -> None:
        """Undo a paid order that has no unit: void it first (so reconcile stops counting it),
        then refund."""
        [line] = order.lines
        async with self.sessions() as session, session.begin():
            undone = await session.execute(
                update(Order).where(Order.id == order.id, Order.status == "paid")
                .values(status=REFUNDED, refund_reason=NO_UNIT_LEFT)
            )
            if undone.rowcount == 1:  # the paid order's units leave SQL's sold count with it
                await session.execute(
                    update(Variant).where(Variant.id == line.variant_id)
                    .values(sold=Variant.sold - line.quantity).execution_options(synchronize_session=False)
                )
                # order.paid went out with the payment: its receivers (and the buyer) learn it is undone.
                announce(session, "order.refunded", {
                    "order_id": order.id, "number": order.number, "status": REFUNDED, "show_id": order.show_id,
                    "buyer_id": order.buyer_id, "email": order.email, "total_cents": order.total_cents,
                    "currency": order.currency, "refunded_cents": order.total_cents, "reason": NO_UNIT_LEFT,
                }, host_id=order.host_id)
        order.status = REFUNDED
        await self.payments.refund(charge.id if charge else order.payment_id)
        log.warning("order %s for hold %s voided and refunded: no unit left", order.id, order.hold_id)

    # -- shipping and tax (inventory.shipping) -----------------------------------------------------

    async def quote_for(self, hold: Hold, shipping: dict[str, Any]) -> Quote:
        """What the hold costs shipped to this address, under the profile of its host and show.
        Raises NotShippedTo."""
        host_id = hold.host_id
        if host_id is None:
            async with self.sessions() as session:
                host_id = (await session.execute(select(Variant.host_id).where(
                    Variant.product_id == hold.product_id, Variant.sku == hold.sku))).scalar_one_or_none()
        if host_id is None:
            return quote(ShippingProfile(), hold.total_cents, str(shipping.get("country", "")))
        profile, _ = await profile_for(self.sessions, host_id, hold.show_id)
        return quote(profile, hold.total_cents, str(shipping.get("country", "")))

    async def check_ships(self, hold_id: str, buyer_id: str, shipping: dict[str, Any]) -> None:
        """NotShippedTo before a checkout touches the hold (no lock, no pending order, no charge).
        A hold that is gone or another buyer's is left to the lock to refuse."""
        hold = await self.stock.get_hold(hold_id)
        if hold is not None and hold.buyer_id == buyer_id:
            await self.quote_for(hold, shipping)

    async def _start_order_or_unlock(self, hold: Hold, details: dict[str, Any], charge_key: str) -> Order:
        """_start_order; when the profile changed between the check and the lock so that the
        country is no longer shipped to, the hold is unlocked again (nothing was charged)."""
        try:
            return await self._start_order(hold, details, charge_key)
        except NotShippedTo:
            await self.stock.unlock(hold.hold_id, hold.attempt)
            raise

    async def _start_order(self, hold: Hold, details: dict[str, Any], charge_key: str) -> Order:
        """Insert the pending order for the hold (payment_id holds the charge's idempotency key
        until it is paid), or return the one that exists (a retry, or a racing double click)."""
        # Priced before the session below opens: one connection per checkout at a time (a nested
        # session would hold two, and 50 checkouts at once would wait on the pool for each other).
        money = await self.quote_for(hold, details["shipping"])
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
                    status=PENDING,
                    total_cents=money.total_cents,
                    shipping_cents=money.shipping_cents,
                    tax_cents=money.tax_cents,
                    tax_label=money.tax_label,
                    tax_rate_bp=money.tax_rate_bp,
                    currency=hold.currency,
                    payment_id=charge_key,
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
                    return order
                except IntegrityError:
                    await session.rollback()
                existing = await self.order_for_hold(hold.hold_id)
                if existing is not None:
                    if existing.status == PENDING and existing.payment_id != charge_key:
                        # A pending order left by an earlier attempt: this attempt's key now.
                        async with self.sessions() as s2:
                            await s2.execute(
                                update(Order).where(Order.id == existing.id, Order.status == PENDING).values(payment_id=charge_key)
                            )
                            await s2.commit()
                        existing = await self.order_for_hold(hold.hold_id)
                        if existing is None:
                            continue
                    return existing
                # Otherwise the short number collided: draw another.
        raise RuntimeError("could not draw a free order number")

    async def _mark_paid(self, order_id: str, charge: Charge) -> tuple[Order | None, bool]:
        """pending -> paid, guarded by SQL: in the same transaction the variant's ``sold`` moves
        by the order's units only while it stays within ``stock``. When it cannot, the order
        becomes 'refunded' (reason sold_out_after_all) instead and the caller settles it
        (``_settle_refused``). Whatever Redis said, no paid order beyond stock can exist.

        Returns (order, True) when this call decided it, (order, False) when a racing retry or
        recovery already had (look at ``order.status``: 'paid' or 'refunded'), (None, False)
        when recovery dropped the pending order. The order row is updated first: its row lock
        (PostgreSQL) or the write lock (SQLite) makes a racing caller find it no longer pending,
        so ``sold`` moves once per order."""
        async with self.sessions() as session, session.begin():
            # RETURNING: what the order.paid announcement says, read by the same statement (the
            # checkout's hot path gets one more INSERT in this transaction, nothing else).
            marked = (await session.execute(
                update(Order).where(Order.id == order_id, Order.status == PENDING).values(
                    status="paid", payment_id=charge.id, card_brand=charge.card_brand or None,
                    card_last4=charge.card_last4 or None)
                .returning(Order.host_id, Order.show_id, Order.number, Order.email, Order.name, Order.buyer_id,
                           Order.total_cents, Order.currency)
                .execution_options(synchronize_session=False)
            )).first()
            if marked is not None:
                variant_id, quantity, sku, title, label, unit_price_cents = (
                    await session.execute(select(OrderLine.variant_id, OrderLine.quantity, OrderLine.sku, OrderLine.title,
                                                 OrderLine.label, OrderLine.unit_price_cents)
                                          .where(OrderLine.order_id == order_id))
                ).one()
                sold = (await session.execute(
                    update(Variant)
                    .where(Variant.id == variant_id, Variant.sold + quantity <= Variant.stock)
                    .values(sold=Variant.sold + quantity)
                    .returning(Variant.stock, Variant.sold, Variant.product_id)
                    .execution_options(synchronize_session=False)
                )).first()
                if sold is None:
                    await session.execute(
                        update(Order).where(Order.id == order_id).values(status=REFUNDED, refund_reason=SOLD_OUT_AFTER_ALL)
                    )
                else:
                    announce(session, "order.paid", {
                        "order_id": order_id, "number": marked.number, "status": "paid", "show_id": marked.show_id,
                        "buyer_id": marked.buyer_id, "email": marked.email, "name": marked.name,
                        "total_cents": marked.total_cents, "currency": marked.currency,
                        "lines": [{"sku": sku, "title": title, "label": label, "quantity": quantity,
                                   "price_cents": unit_price_cents}],
                    }, host_id=marked.host_id)
                    unsold = sold.stock - sold.sold
                    if unsold < LOW_STOCK_UNITS <= unsold + quantity:  # this sale crossed the line
                        announce(session, "stock.low", {
                            "product_id": sold.product_id, "variant_id": variant_id, "sku": sku, "label": label,
                            "unsold": unsold, "stock": sold.stock, "threshold": LOW_STOCK_UNITS,
                        }, host_id=marked.host_id)
        order = await self.get_order(order_id)
        if order is None or order.status == PENDING:
            return None, False
        return order, marked is not None

    async def _settle_refused(self, order: Order) -> None:
        """SQL's stock guard refused a charged order: give the money back, forfeit the hold (its
        units never existed, so they must not return to stock) and rebuild the product's stock
        from SQL, since Redis is evidently behind. Idempotent: a retry or recovery may repeat it."""
        await self.payments.refund(order.payment_id)
        [line] = order.lines
        log.warning(
            "order %s (hold %s, %s x%d) refused by the SQL stock guard: sold out after all; refunded",
            order.id, order.hold_id, line.sku, line.quantity,
        )
        try:
            await self.stock.forfeit(order.hold_id)
            await self.reconcile([line.product_id])
        except ReconcileFenced:  # another reconcile of the product is under way: it does the same
            pass

    async def _drop_pending(self, order_id: str) -> bool:
        async with self.sessions() as session:
            done = await session.execute(delete(Order).where(Order.id == order_id, Order.status == PENDING))
            await session.commit()
        return done.rowcount == 1

    async def _write_order(self, hold: Hold, details: dict[str, Any], charge: Charge) -> tuple[Order, bool]:
        """Pending order + paid in one go (tests use it to stop a checkout right after its order)."""
        order = await self._start_order(hold, details, self.charge_key(hold))
        paid, created = await self._mark_paid(order.id, charge)
        assert paid is not None
        return paid, created

    # -- recovery ----------------------------------------------------------------------------------

    async def recover(self, hold_id: str) -> str:
        """Finish or undo a checkout that stopped (the sweeper calls this for holds locked past
        their deadline, and for expired holds that were once in checkout). Idempotent. Returns
        what it did: 'committed', 'completed', 'refunded', 'dropped', 'released', 'unlocked',
        'gone' or 'sold'."""
        hold = await self.stock.get_hold(hold_id)
        if hold is None:
            return "gone"
        if hold.state == "sold":
            return "sold"
        order = await self.order_for_hold(hold_id)
        if order is not None:
            outcome = await self.recover_order(order)
            if outcome != "dropped":
                return outcome
        # No order (the checkout died before writing it, so it never charged) or its pending
        # order was dropped: the hold goes back, or its units if it has expired.
        charge = await self.payments.settle(self.charge_key(hold))
        if charge is not None and charge.paid:  # cannot happen in this order of steps; be safe
            await self.payments.refund(charge.id)
        return await self.stock.abandon(hold_id)

    async def recover_order(self, order: Order) -> str:
        """Settle one order: paid -> make sure its units are sold; pending -> look at the charge:
        paid -> mark the order paid and sell the units (or refund if none is left); anything else
        -> drop the pending order. Works whether or not Redis still has the hold."""
        if order.status == PENDING:
            # settle: the paid charge, or none, and then none can be paid any more (Stripe:
            # the hold's open PaymentIntents are cancelled before the pending order is dropped).
            charge = await self.payments.settle(order.payment_id)
            if charge is None or not charge.paid:
                if await self._drop_pending(order.id):
                    return "dropped"
                fresh = await self.get_order(order.id)  # the checkout marked it paid just now
                if fresh is None:
                    return "dropped"
                order = fresh
            else:
                paid, created = await self._mark_paid(order.id, charge)
                if paid is None:
                    return "dropped"
                if paid.status == REFUNDED and paid.refund_reason == SOLD_OUT_AFTER_ALL:
                    await self._settle_refused(paid)
                    return SOLD_OUT_AFTER_ALL
                try:
                    await self._commit(paid, paid.hold_id, charge)
                except HoldExpired:
                    return "refunded"
                # 'completed' only for the caller that made the order paid: a racing checkout or
                # webhook that finds it paid just made sure its units are sold ('committed'), so
                # the purchase ticker hears of it once (live.buying).
                return "completed" if created else "committed"
        if order.status in SELLING:
            try:
                await self._commit(order, order.hold_id, None)
            except HoldExpired:
                return "refunded"
            return "committed"
        if order.status == REFUNDED and order.refund_reason == SOLD_OUT_AFTER_ALL:
            await self._settle_refused(order)  # a checkout that died between refusal and refund
            return SOLD_OUT_AFTER_ALL
        return "gone"

    async def recover_pending(self) -> dict[str, str]:
        """Settle pending orders older than the lock deadline: the trail of checkouts that died
        and whose hold Redis may have lost. Returns hold id -> outcome."""
        cutoff = self.stock.clock() - self.lock_ms
        async with self.sessions() as session:
            stale = list(
                (await session.execute(select(Order).where(Order.status == PENDING, Order.created_at <= cutoff))).scalars()
            )
        outcomes = {}
        for order in stale:
            try:
                outcomes[order.hold_id] = await self.recover_order(order)
                if outcomes[order.hold_id] == "dropped" and await self.stock.get_hold(order.hold_id) is not None:
                    outcomes[order.hold_id] = await self.stock.abandon(order.hold_id)
            except Exception:
                log.exception("recovery of order %s failed", order.id)
                outcomes[order.hold_id] = "failed"
        return outcomes

    async def sweep(self, product_ids: list[int] | None = None, *, batch: int = 100) -> RecoveryReport:
        """One expiry pass (the worker runs it every second or so): return expired holds' units,
        recover the holds that may have a charge behind them, and every ``pending_scan_ms``
        settle stale pending orders from SQL."""
        result = await self.stock.sweep(product_ids, batch=batch, lease_ms=self.lock_ms)
        report = RecoveryReport(result)
        for hold_id in result.to_recover:
            try:
                report.outcomes[hold_id] = await self.recover(hold_id)
            except Exception:  # one bad hold must not stop the others; it comes back next lease
                log.exception("recovery of hold %s failed", hold_id)
                report.outcomes[hold_id] = "failed"
        now = self.stock.clock()
        if now - self._last_pending_scan >= self.pending_scan_ms:
            self._last_pending_scan = now
            report.outcomes.update(await self.recover_pending())
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
                select(Order)
                .where(Order.buyer_id == buyer_id, Order.status != PENDING)
                .order_by(Order.created_at.desc(), Order.id)
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
        not have it. Cheap when it is loaded: one EXISTS.

        Several processes pinning the same product at once would fence each other's reconciles
        over and over, so one loads (a short Redis claim) while the others wait for its result."""
        deadline = time.monotonic() + 30
        while not await self.stock.is_loaded(product_id):
            if await self.stock.claim_load(product_id):
                try:
                    await self.reconcile([product_id])
                finally:
                    await self.stock.release_load(product_id)
                return
            if time.monotonic() > deadline:
                raise ReconcileFenced(f"product {product_id} was not loaded by another process within 30 s")
            await asyncio.sleep(0.02)
