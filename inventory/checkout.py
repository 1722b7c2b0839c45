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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory import keys
from inventory.errors import (
    BagConflict, HoldExpired, InvalidRequest, NotFound, NotShippedTo, Oversold, PaymentDeclined, PaymentIncomplete, PaymentNotInBrowser,
    SoldOutAfterAll,
)
from inventory.models import Order, OrderLine, Product, Variant
from inventory.orders import REQUESTED, SELLING
from inventory.outbox import announce
from inventory.payments import AUTHORIZED, INCOMPLETE, PAID, Charge, PaymentProvider, PaymentStart
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


# The payment of an order that costs nothing (a giveaway: the item at price 0 ships free): no
# provider is asked, and the order's payment_id names this instead of a charge. Nothing is ever
# refunded of it (the refund paths skip it).
FREE_PAYMENT = "free:"


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
    locale: str | None = None  # the page's language, for the order's emails

    def stored(self) -> dict[str, Any]:
        """What the hold record keeps for recovery: everything but the card number."""
        return {"email": normalize_email(self.email), "name": self.name, "phone": self.phone, "shipping": self.shipping,
                "locale": self.locale}


@dataclass
class RecoveryReport:
    sweep: SweepResult
    outcomes: dict[str, str] = field(default_factory=dict)  # hold id -> what recover() did


def was_sold(order: Order) -> bool:
    """Paid for and sold, whatever its life did since (shipped, refunded or cancelled by its
    host); not pending, not undone by checkout."""
    return order.status in SELLING or (order.status in ("refunded", "cancelled") and order.refund_reason == REQUESTED)


def _not_paying_in_a_bag(order: Order | None, hold_id: str) -> None:
    """BagConflict when ``order`` is a bag's pending order (docs/bag.md) with a line for this hold
    that is not its lead: that order is paid under the lead hold's key, so a one-hold checkout of
    this hold must not re-key it (two payments could then pay one order; Stripe's first would
    find no order left to refund it). The lead hold's own checkout pays the same order under the
    same key, so it may go on."""
    if order is not None and order.status == PENDING and order.hold_id != hold_id:
        raise BagConflict("this item is being paid for in a bag checkout: finish that checkout, or wait a few minutes for it to end")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def order_number() -> str:
    return "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))


class Authorizations(Protocol):
    """Holds paid by capturing an authorization made earlier (a draw's entry authorizes the price;
    live.draws): the charge id to capture for a hold, None to charge the card as usual."""

    async def authorization_for(self, hold_id: str) -> str | None: ...


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
        self.authorizations: Authorizations | None = None  # set by the composition root (web.livedrop)

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
        _not_paying_in_a_bag(existing, hold_id)
        # Refused before anything is locked or charged: the hold stays exactly as it was.
        await self.check_ships(hold_id, buyer_id, details.shipping)
        authorization = await self.authorizations.authorization_for(hold_id) if self.authorizations is not None else None
        if details.card_number is None and not self.payments.confirms_in_browser and authorization is None:
            current = await self.stock.get_hold(hold_id)
            if current is not None and current.buyer_id == buyer_id and current.total_cents > 0:
                raise InvalidRequest("card_number", "required")

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
        # and the locked hold stay, and recovery looks the charge up by its key (or, for a
        # capture, reads the authorization: recover_order).
        # The order's total: the lines plus shipping (inventory.shipping), as the pending order says.
        charge: Charge | None = None
        if order.total_cents == 0:
            # A giveaway: nothing to pay, so no provider is asked (Stripe takes no PaymentIntent of 0).
            charge = Charge(id=FREE_PAYMENT + order.id, status=PAID, amount_cents=0, currency=order.currency)
        elif authorization is not None:
            # Captured, not charged again: a draw's winner authorized the price and the shipping at
            # entry (live.draws), and the capture takes the order's total exactly, the rest released.
            # A capture of a voided authorization answers 'voided', not paid: handled below as a
            # lost hold. A total above the authorization (the host raised shipping after the entry,
            # or a dearer country) captures nothing: that claim pays by card, and only once that
            # payment went through is the authorization let go.
            captured = await self.payments.capture(authorization, order.total_cents)
            if captured.status != AUTHORIZED:
                charge = captured
            elif details.card_number is None and not self.payments.confirms_in_browser:
                await self._drop_pending(order.id)
                await self.stock.unlock(hold_id, hold.attempt)
                raise InvalidRequest("card_number", "the total (shipping included) is more than your entry authorized: "
                                                    "pay by card")
        if charge is None:
            charge = await self.payments.charge(key, order.total_cents, order.currency, details.card_number, order_id=order.id)
            if charge.paid and authorization is not None:
                await self.payments.void(authorization)
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
        return await self._settle_charge(order.id, charge, hold.hold_id)

    async def _settle_charge(self, order_id: str, charge: Charge, hold_id: str) -> tuple[Order, bool]:
        """A charge that was not declined, made for the pending order ``order_id``: mark the order
        paid and commit its holds (``hold_id``: the one, or the bag's first), or undo what cannot
        stand. Shared by the one-hold checkout and the bag's (inventory.bag_checkout)."""
        if not charge.paid:  # refunded earlier: this sale was undone
            await self._drop_pending(order_id)
            raise HoldExpired()
        paid, created = await self._mark_paid(order_id, charge)
        if paid is None:
            # Recovery gave up on this checkout while we were paying (we stalled past the lock
            # deadline) and dropped the pending order: give the money back.
            await self._refund(charge.id)
            raise HoldExpired("this checkout took too long; the payment was refunded")
        if paid.status == REFUNDED and paid.refund_reason == SOLD_OUT_AFTER_ALL:
            await self._settle_refused(paid)
            raise SoldOutAfterAll()
        await self._commit(paid, hold_id, charge)
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
        _not_paying_in_a_bag(existing, hold_id)
        await self.check_ships(hold_id, buyer_id, details.shipping)
        if await self._paid_without_card(hold_id, buyer_id):
            # A giveaway's hold (nothing to pay) or a draw win whose entry authorized the money:
            # no PaymentIntent to confirm, or the winner would pay twice (the new one and the
            # capture). Checked out here; the page's POST .../checkout then finds the order.
            try:
                order, _ = await self.checkout(hold_id, buyer_id, details)
                return None, order
            except PaymentIncomplete:
                pass  # the total outgrew the authorization: paid through Stripe.js like any hold
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
        payment = await self.start_for_order(order, key, buyer_id, payment_method)
        if isinstance(payment, Order):
            return None, payment
        return payment, None

    async def start_for_order(self, order: Order, key: str, buyer_id: str, payment_method: str | None) -> PaymentStart | Order:
        """Make (or find again) the pending ``order``'s payment, made for that order and its total
        only, and confirm it with ``payment_method``. A buyer's other tab may drop this pending
        order at any moment (a bag paid instead: inventory.bag_checkout): a payment made for an
        order that is gone is cancelled before it can be confirmed (BagConflict), and one that went
        through for it anyway is refunded. Answers the order instead when it was paid meanwhile."""
        if not await self._still_pending(order.id):
            return await self._order_moved_on(order, buyer_id, None)
        payment = await self.payments.start(key, order.total_cents, order.currency, order_id=order.id)
        if not await self._still_pending(order.id):
            return await self._order_moved_on(order, buyer_id, payment)
        if payment_method and payment.status in ("requires_payment_method", "requires_confirmation"):
            payment = await self.payments.confirm(payment.payment_id, payment_method)
            if payment.decline_code:
                raise PaymentDeclined(decline_code=payment.decline_code)
        if payment.status == "canceled" or (payment.paid and await self.get_order(order.id) is None):
            return await self._order_moved_on(order, buyer_id, payment)
        return payment

    async def _still_pending(self, order_id: str) -> bool:
        fresh = await self.get_order(order_id)
        return fresh is not None and fresh.status == PENDING

    async def _order_moved_on(self, order: Order, buyer_id: str, payment: PaymentStart | None) -> Order:
        """The pending order stopped being pending while its payment was being made: paid (by this
        payment, recovery or a webhook: answer it), or dropped by another tab. A payment made for a
        dropped order pays nothing: cancelled if it can be, refunded if it went through."""
        fresh = await self.get_order(order.id)
        if fresh is not None and was_sold(fresh):
            return self._existing(fresh, buyer_id)
        if payment is not None:
            await self._give_back(payment.payment_id)
        raise BagConflict("this checkout was replaced by another tab's (a bag with other items): "
                          "nothing was charged for it; pay for what that tab shows")

    async def _give_back(self, payment_id: str) -> None:
        """A payment made for an order that no longer exists: cancel it, or refund it once if it
        went through (never kept)."""
        found = await self.payments.lookup(payment_id)
        if found is None:
            return
        if found.paid:
            await self.payments.refund(found.id)
            log.warning("payment %s was made for an order another tab dropped: refunded", found.id)
        elif found.status not in ("voided", "refunded"):
            try:
                await self.payments.void(found.id)
            except Exception:  # the provider refused to cancel (a confirmation won the race): look once more
                again = await self.payments.lookup(payment_id)
                if again is not None and again.paid:
                    await self.payments.refund(again.id)

    async def payment_succeeded(self, hold_id: str, payment_id: str | None = None) -> str:
        """A provider says a payment of the hold went through (Stripe's payment_intent.succeeded
        webhook, naming the PaymentIntent ``payment_id``). Finishes the checkout if the server
        stopped between the charge and the order (the same steps as recovery: mark the pending
        order paid, sell the units), and gives the money back when the payment pays no live order:
        the hold's checkout was given up before it went through, the order it was made for was
        dropped (another tab's bag), it is of another amount than the order (a bag's lead hold's
        one-hold payment), or the order is paid by another payment. Idempotent (a refund is made
        once). Returns what it did: 'completed', 'already', 'refunded', 'waiting' or the recovery
        outcome."""
        order = await self.order_for_hold(hold_id)
        charge = await self.payments.lookup(payment_id) if payment_id else None
        if payment_id and (charge is None or not charge.paid):
            return "none"  # not paid (or already given back): nothing to finish or to refund
        if order is not None and order.status != PENDING:
            if charge is None or charge.id == order.payment_id:
                return "already"
            return await self._refund_stray(charge, hold_id, f"order {order.id} is paid by {order.payment_id}")
        if order is not None:
            if charge is not None and (order.hold_id != hold_id or not charge.pays(order.id, order.total_cents, order.currency)):
                return await self._refund_stray(charge, hold_id, f"it does not pay order {order.id} ({order.total_cents} {order.currency})")
            found = charge or await self.payments.find_charge(
                order.payment_id, order_id=order.id, amount_cents=order.total_cents, currency=order.currency)
            if found is None or not found.paid:
                return "waiting"  # not paid after all (a late event): the checkout or recovery decides
            return await self.recover_order(order)
        if charge is not None and charge.order_id and await self.get_order(charge.order_id) is None:
            # Made for an order that was dropped (its id is random: it never comes back). Never kept.
            return await self._refund_stray(charge, hold_id, f"its order {charge.order_id} was dropped")
        hold = await self.stock.get_hold(hold_id)
        if hold is not None and hold.state == "locked":
            return "waiting"  # a checkout is between its lock and its pending order: it finds the payment
        charge = charge or await self.payments.find_charge(f"{hold_id}:0")
        if charge is not None and charge.paid:
            # No order and no checkout: the hold ended (or its checkout was dropped) before the
            # payment went through. Never kept.
            return await self._refund_stray(charge, hold_id, "no checkout is left to finish")
        return "none"

    async def _refund_stray(self, charge: Charge, hold_id: str, why: str) -> str:
        """A paid payment that pays no live order: refunded, once (the provider's refund key). One
        that an order was marked paid with is never refunded here (a draw's captured authorization
        names no hold of its order: live.draws), whatever its metadata says."""
        async with self.sessions() as session:
            if (await session.execute(select(Order.id).where(Order.payment_id == charge.id).limit(1))).first() is not None:
                return "already"
        await self.payments.refund(charge.id)
        log.warning("hold %s was paid (%s, %s %s) but %s: refunded", hold_id, charge.id, charge.amount_cents, charge.currency, why)
        return "refunded"

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
        """Mark the units of every line sold in Redis (a bag order has a hold per line,
        ``line.hold_id``; a one-hold order's line pays for ``hold_id``). A line with no unit left
        voids the whole order (one payment: it is refunded whole) and the lines already committed
        are put right by reconciling their products from SQL, which no longer counts them."""
        outcome = ""
        committed: list[int] = []
        for line in order.lines:
            try:
                outcome = await self.stock.commit(
                    line.hold_id or hold_id, sku=line.sku, quantity=line.quantity, buyer_id=order.buyer_id,
                    email=order.email, offer_id=line.offer_id,
                )
                committed.append(line.product_id)
            except Oversold:
                await self._void(order, charge)
                if committed:
                    try:
                        await self.reconcile(sorted(set(committed)))
                    except ReconcileFenced:  # another reconcile of the product does the same
                        pass
                raise HoldExpired("this hold expired before checkout finished; the payment was refunded") from None
        return outcome

    async def _void(self, order: Order, charge: Charge | None) -> None:
        """Undo a paid order that has no unit: void it first (so reconcile stops counting it),
        then refund."""
        async with self.sessions() as session, session.begin():
            undone = await session.execute(
                update(Order).where(Order.id == order.id, Order.status == "paid")
                .values(status=REFUNDED, refund_reason=NO_UNIT_LEFT)
            )
            if undone.rowcount == 1:  # the paid order's units leave SQL's sold count with it
                for line in order.lines:
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
        await self._refund(charge.id if charge else order.payment_id)
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
        money = quote(profile, hold.total_cents, str(shipping.get("country", "")))
        if hold.total_cents == 0:
            # A giveaway (a draw at price 0): its winner pays nothing, shipping included; the
            # host's rules still say where it can be sent (NotShippedTo above).
            return replace(money, shipping_cents=0, tax_cents=0)
        return money

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
                    locale=details.get("locale"),
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
                    _not_paying_in_a_bag(existing, hold.hold_id)
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
                           Order.total_cents, Order.currency, Order.locale)
                .execution_options(synchronize_session=False)
            )).first()
            if marked is not None:
                # One line per hold: one for a buy press, several for a bag checkout (docs/bag.md).
                # Every line must fit its variant's stock, or none is sold.
                lines = (await session.execute(
                    select(OrderLine.variant_id, OrderLine.quantity, OrderLine.sku, OrderLine.title,
                           OrderLine.label, OrderLine.unit_price_cents)
                    .where(OrderLine.order_id == order_id).order_by(OrderLine.id)
                )).all()
                moved: list[tuple[Any, Any]] = []  # (line, the variant's stock, sold and product after it)
                for line in lines:
                    sold = (await session.execute(
                        update(Variant)
                        .where(Variant.id == line.variant_id, Variant.sold + line.quantity <= Variant.stock)
                        .values(sold=Variant.sold + line.quantity)
                        .returning(Variant.stock, Variant.sold, Variant.product_id)
                        .execution_options(synchronize_session=False)
                    )).first()
                    if sold is None:
                        break
                    moved.append((line, sold))
                if len(moved) < len(lines):
                    for line, _ in moved:  # the lines that fitted leave the sold count again
                        await session.execute(
                            update(Variant).where(Variant.id == line.variant_id)
                            .values(sold=Variant.sold - line.quantity).execution_options(synchronize_session=False)
                        )
                    await session.execute(
                        update(Order).where(Order.id == order_id).values(status=REFUNDED, refund_reason=SOLD_OUT_AFTER_ALL)
                    )
                else:
                    announce(session, "order.paid", {
                        "order_id": order_id, "number": marked.number, "status": "paid", "show_id": marked.show_id,
                        "buyer_id": marked.buyer_id, "email": marked.email, "name": marked.name,
                        "total_cents": marked.total_cents, "currency": marked.currency,
                        "lines": [{"sku": line.sku, "title": line.title, "label": line.label, "quantity": line.quantity,
                                   "price_cents": line.unit_price_cents} for line, _ in moved],
                        **({"locale": marked.locale} if marked.locale else {}),
                    }, host_id=marked.host_id)
                    for line, sold in moved:
                        unsold = sold.stock - sold.sold
                        if unsold < LOW_STOCK_UNITS <= unsold + line.quantity:  # this sale crossed the line
                            announce(session, "stock.low", {
                                "product_id": sold.product_id, "variant_id": line.variant_id, "sku": line.sku,
                                "label": line.label, "unsold": unsold, "stock": sold.stock, "threshold": LOW_STOCK_UNITS,
                            }, host_id=marked.host_id)
        order = await self.get_order(order_id)
        if order is None or order.status == PENDING:
            return None, False
        return order, marked is not None

    async def _settle_refused(self, order: Order) -> None:
        """SQL's stock guard refused a charged order: give the money back, forfeit the hold (its
        units never existed, so they must not return to stock) and rebuild the product's stock
        from SQL, since Redis is evidently behind. Idempotent: a retry or recovery may repeat it."""
        await self._refund(order.payment_id)
        log.warning(
            "order %s (hold %s, %s) refused by the SQL stock guard: sold out after all; refunded",
            order.id, order.hold_id, ", ".join(f"{line.sku} x{line.quantity}" for line in order.lines),
        )
        try:
            for line in order.lines:  # a bag order: every hold of it (each line's own)
                await self.stock.forfeit(line.hold_id or order.hold_id)
            await self.reconcile(sorted({line.product_id for line in order.lines}))
        except ReconcileFenced:  # another reconcile of the product is under way: it does the same
            pass

    async def _paid_without_card(self, hold_id: str, buyer_id: str) -> bool:
        """The buyer's hold costs nothing, or a draw entry's authorization pays for it."""
        hold = await self.stock.get_hold(hold_id)
        if hold is None or hold.buyer_id != buyer_id:
            return False
        if hold.total_cents == 0:
            return True
        return self.authorizations is not None and await self.authorizations.authorization_for(hold_id) is not None

    async def _refund(self, charge_id: str) -> None:
        """Give a whole payment back; an order that cost nothing (FREE_PAYMENT) has none."""
        if not charge_id.startswith(FREE_PAYMENT):
            await self.payments.refund(charge_id)

    async def _captured(self, order: Order) -> Charge | None:
        """A draw claim's capture that went through for this pending order (the process died
        between the capture and marking the order paid); None when the hold has no authorization
        or it is not captured. The capture is read, never made here: a claim that died before
        capturing is dropped like any unpaid checkout, and the winner may claim again."""
        if self.authorizations is None:
            return None
        authorization = await self.authorizations.authorization_for(order.hold_id)
        if authorization is None:
            return None
        charge = await self.payments.get_charge(authorization)
        return charge if charge is not None and charge.paid else None

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
        # No order left for the hold: no payment of it can pay one (amount 0 fits none), so each
        # that went through is refunded and each still open is cancelled.
        charge = await self.payments.settle(self.charge_key(hold), amount_cents=0, currency=hold.currency)
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
            # A draw claim pays by capturing the entry's authorization, which no key of the hold
            # finds: that capture is read first, so a crash after it keeps the paid order. Else only
            # a payment made for this order, of exactly its total and currency, pays it: a bag's
            # lead hold may also have a one-hold payment of another amount, or a payment another tab
            # made for an order that was dropped (those are refunded by settle).
            charge = await self._captured(order) or await self.payments.settle(
                order.payment_id, order_id=order.id, amount_cents=order.total_cents, currency=order.currency)
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
        """The order paying for the hold: its own (``Order.hold_id``), or a bag order with a line
        for it (``OrderLine.hold_id``, docs/bag.md). Both columns are unique and indexed."""
        async with self.sessions() as session:
            by_line = select(OrderLine.order_id).where(OrderLine.hold_id == hold_id).scalar_subquery()
            return (await session.execute(
                select(Order).where(or_(Order.hold_id == hold_id, Order.id == by_line))
            )).scalar_one_or_none()

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
