"""One checkout for several holds (the show's bag, docs/bag.md): one order, one payment, a line per hold.

The steps are the one-hold checkout's (inventory.checkout), done for every hold of the bag, in an
order that keeps each of its guarantees:

1. every hold is locked, in hold-id order (two tabs checking out the same bag lock in the same
   order). Each lock checks its hold's per-email limit atomically, as a one-hold checkout does,
   so the limits hold per item. If one lock is refused (expired, over the limit), the holds
   already locked are unlocked again: nothing was written or charged;
2. one pending order is written: ``Order.hold_id`` is the bag's *lead* hold (the smallest id, so
   the same bag in any order is the same order) and every line carries its own hold
   (``OrderLine.hold_id``, unique). ``Checkout.order_for_hold`` finds the order from any of them,
   so the sweeper's recovery of any hold of the bag settles the whole order;
3. one charge, keyed ``<lead hold>:<attempt>``: a retry (a double click, a reload) charges once.
   Under Stripe (a payment the browser confirms) that is one PaymentIntent for the bag's total,
   made by ``start_payment`` with the lead hold in its metadata, so the provider's lookups, the
   webhook and recovery find it from the lead hold exactly as they find a one-hold payment;
4. the order is marked paid within SQL's stock guard for every line at once (all lines fit, or
   none is sold and the payment is refunded);
5. every hold is committed (held -> sold).

A hold that expires during the checkout is what a one-hold checkout meets: it is locked from
step 1, so no sweeper returns its unit; past the lock deadline recovery settles the order from the
charge (paid: finished; not: dropped and every hold unlocked or released by its own sweep).
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from inventory.checkout import FREE_PAYMENT, PENDING, Checkout, CheckoutDetails, normalize_email, order_number
from inventory.errors import (
    BagConflict, BagMixed, HoldExpired, InvalidRequest, NotFound, PaymentDeclined, PaymentIncomplete, PaymentNotInBrowser, Refusal,
)
from inventory.models import Order, OrderLine, Product, Variant
from inventory.payments import INCOMPLETE, PAID, Charge, PaymentStart
from inventory.shipping import Quote, ShippingProfile, profile_for, quote
from inventory.stock import Hold

MAX_BAG_HOLDS = 10  # a bag checkout pays for at most this many holds (the bag's sheet shows 10 at most)


class BagCheckout:
    """Pays for several holds of one buyer in one show with one order (see the module's notes)."""

    def __init__(self, desk: Checkout) -> None:
        self.desk = desk

    async def checkout(self, show_id: int, hold_ids: list[str], buyer_id: str, details: CheckoutDetails) -> tuple[Order, bool]:
        """(order, created). Raises NotFound (a hold of another buyer), HoldExpired (naming the
        hold), BagMixed, BagConflict, LimitReached, PaymentDeclined, SoldOutAfterAll,
        NotShippedTo; under Stripe PaymentIncomplete while the bag's payment has not gone through
        (start_payment, then Stripe.js)."""
        desk = self.desk
        ids = sorted(set(hold_ids))
        done = await self._existing(ids, buyer_id)
        if done is not None:
            return done, False
        holds = await self._holds(show_id, ids, buyer_id)
        money = await self._quote(holds, details.shipping)  # NotShippedTo before anything is locked
        if money.total_cents > 0 and details.card_number is None and not desk.payments.confirms_in_browser:
            raise InvalidRequest("card_number", "required")  # only a bag of free holds goes without a card
        locked = await self._lock_all(holds, ids, buyer_id, details, {})
        if isinstance(locked, Order):
            return locked, False

        lead = locked[0]
        key = desk.charge_key(lead)
        order = await self._start_order(locked, details, money, key)
        if order.status != PENDING:
            return desk._existing(order, buyer_id), False
        if order.total_cents == 0:
            # Only free holds (giveaway wins): nothing to pay, so no provider is asked, as for one
            # free hold (inventory.checkout; Stripe takes no PaymentIntent of 0).
            free = Charge(id=FREE_PAYMENT + order.id, status=PAID, amount_cents=0, currency=order.currency)
            return await desk._settle_charge(order.id, free, lead.hold_id)
        charge = await desk.payments.charge(key, order.total_cents, order.currency, details.card_number, order_id=order.id)
        if charge.status == INCOMPLETE and desk.payments.confirms_in_browser:
            # Stripe: the buyer may still confirm, or try another card. Nothing is undone: the
            # pending order and the locks stay until the lock deadline, then recovery settles them.
            if charge.decline_code:
                raise PaymentDeclined(decline_code=charge.decline_code)
            raise PaymentIncomplete("the bag's payment has not gone through yet: confirm it "
                                    "(POST /api/shows/{slug}/bag/payment, then Stripe.js) and check out again")
        if charge.status == "declined" or charge.status == INCOMPLETE:
            await desk._drop_pending(order.id)
            await self._unlock(locked)
            raise PaymentDeclined(decline_code=charge.decline_code or "card_declined")
        return await desk._settle_charge(order.id, charge, lead.hold_id)

    async def start_payment(
        self, show_id: int, hold_ids: list[str], buyer_id: str, details: CheckoutDetails, payment_method: str | None = None,
    ) -> tuple[PaymentStart | None, Order | None]:
        """The first half of a bag checkout whose payment the browser confirms (Stripe), as
        ``Checkout.start_payment`` is for one hold: lock every hold, write the pending order, make
        (or find again) the bag's one PaymentIntent for the order's total; with ``payment_method``
        confirm it here. (payment, None), or (None, order) when the bag is paid for already.
        Raises what checkout raises, and PaymentNotInBrowser with a provider that takes card numbers."""
        desk = self.desk
        if not desk.payments.confirms_in_browser:
            raise PaymentNotInBrowser("this server's payment provider takes the card number at checkout: "
                                      "POST /api/shows/{slug}/bag/checkout")
        ids = sorted(set(hold_ids))
        done = await self._existing(ids, buyer_id)
        if done is not None:
            return None, done
        holds = await self._holds(show_id, ids, buyer_id)
        money = await self._quote(holds, details.shipping)
        if money.total_cents == 0:
            # Only free holds: no PaymentIntent to confirm. Checked out here; the page's
            # POST .../bag/checkout then finds the order (as Checkout.start_payment does for one).
            order, _ = await self.checkout(show_id, ids, buyer_id, details)
            return None, order
        locked = await self._lock_all(holds, ids, buyer_id, details, details.stored())
        if isinstance(locked, Order):
            return None, locked
        key = desk.charge_key(locked[0])
        order = await self._start_order(locked, details, money, key)
        if order.status != PENDING:
            return None, desk._existing(order, buyer_id)
        # Made for this order only (its id in the PaymentIntent's metadata): another tab of the
        # buyer may drop this pending order for another bag at any moment, and a payment made
        # for a dropped order is cancelled before it can be confirmed, or refunded.
        payment = await desk.start_for_order(order, key, buyer_id, payment_method)
        if isinstance(payment, Order):
            return None, payment
        return payment, None

    async def _lock_all(self, holds: list[Hold], ids: list[str], buyer_id: str, details: CheckoutDetails,
                        stored: dict) -> list[Hold] | Order:
        """Lock every hold (step 1): the locked holds, or the order a racing retry of this bag
        paid meanwhile. One refused lock unlocks those already locked and is raised."""
        desk = self.desk
        email = normalize_email(details.email)
        deadline = await self._deadline(holds)
        locked: list[Hold] = []
        hold = holds[0]
        try:
            for hold in holds:
                now = await desk.stock.lock(hold.hold_id, buyer_id, email, stored,
                                            deadline if deadline is not None else await desk._lock_deadline(hold.hold_id))
                if now.state == "sold":  # paid by a racing retry of this bag: its order answers
                    done = await self._existing(ids, buyer_id)
                    if done is None:
                        raise HoldExpired(f"hold {hold.hold_id} has expired; hold the item again")
                    return done
                locked.append(now)
        except Refusal as refused:
            await self._unlock(locked)
            if isinstance(refused, HoldExpired) and refused.message == HoldExpired.default_message:
                raise HoldExpired(f"hold {hold.hold_id} has expired; hold the item again") from None
            raise
        return locked

    async def _deadline(self, holds: list[Hold]) -> int | None:
        """One lock deadline for every hold of a browser-confirmed bag (None: each its own, as a
        one-hold checkout has). The bag has one payment: recovery of any of its holds settles it,
        so the holds share the deadline of the one that runs out first, plus the checkout's time
        (as a one-hold Stripe checkout: the buyer may confirm until then)."""
        desk = self.desk
        if not desk.payments.confirms_in_browser:
            return None
        return max(desk.stock.clock(), min(h.expires_at for h in holds)) + desk.lock_ms

    async def _existing(self, ids: list[str], buyer_id: str) -> Order | None:
        """The order already paying for this bag (a retry: 200, the same order), None when there
        is none yet. A hold paid by an order of another set of holds: BagConflict."""
        for hold_id in ids:
            order = await self.desk.order_for_hold(hold_id)
            if order is None:
                continue
            if order.buyer_id != buyer_id:
                raise NotFound(f"no hold {hold_id} of yours")
            paid_for = {line.hold_id or order.hold_id for line in order.lines}
            if paid_for != set(ids):
                if order.status == PENDING and self.desk.payments.confirms_in_browser and await self._drop_started(order):
                    continue  # the buyer changed the bag after starting to pay for it: that payment is gone
                raise BagConflict()
            if order.status == PENDING:
                return None  # a checkout of this bag under way or stopped: this call goes on with it
            return self.desk._existing(order, buyer_id)
        return None

    async def _drop_started(self, order: Order) -> bool:
        """Under Stripe a started payment stays open until the buyer confirms it (maybe never): a
        buyer who then removes an item or adds one would meet ``bag_conflict`` until the lock
        deadline. So a pending order of this buyer for another set of holds is settled now, as
        recovery would settle it: its open PaymentIntents are cancelled (a confirmation that won
        the race is kept, and the order is paid: False, the conflict stands), the pending order is
        dropped and its holds are unlocked (or released, if they expired meanwhile)."""
        outcome = await self.desk.recover_order(order)
        if outcome != "dropped":
            return False
        for line in order.lines:
            await self.desk.stock.abandon(line.hold_id or order.hold_id)
        return True

    async def _holds(self, show_id: int, ids: list[str], buyer_id: str) -> list[Hold]:
        holds = []
        for hold_id in ids:
            hold = await self.desk.stock.get_hold(hold_id)
            if hold is None or hold.state not in ("held", "locked"):
                raise HoldExpired(f"hold {hold_id} has expired; hold the item again")
            if hold.buyer_id != buyer_id:
                raise NotFound(f"no hold {hold_id} of yours")
            holds.append(hold)
        if any(h.show_id != show_id for h in holds) or len({h.currency for h in holds}) != 1:
            raise BagMixed()
        return holds

    async def _quote(self, holds: list[Hold], shipping: dict) -> Quote:
        """Shipping and tax of the whole bag, under the show's profile (one parcel)."""
        lead = holds[0]
        goods = sum(h.total_cents for h in holds)
        country = str(shipping.get("country", ""))
        host_id = lead.host_id
        if host_id is None:
            async with self.desk.sessions() as session:
                host_id = (await session.execute(select(Variant.host_id).where(
                    Variant.product_id == lead.product_id, Variant.sku == lead.sku))).scalar_one_or_none()
        if host_id is None:
            return quote(ShippingProfile(), goods, country)
        profile, _ = await profile_for(self.desk.sessions, host_id, lead.show_id)
        money = quote(profile, goods, country)
        if goods == 0:
            # Only free holds (giveaway wins): the buyer pays nothing, shipping included, as for
            # one free hold (Checkout.quote_for); the host's rules still say where it can be sent.
            return replace(money, shipping_cents=0, tax_cents=0)
        return money

    async def _unlock(self, locked: list[Hold]) -> None:
        for hold in locked:
            await self.desk.stock.unlock(hold.hold_id, hold.attempt)

    async def _start_order(self, holds: list[Hold], details: CheckoutDetails, money: Quote, key: str) -> Order:
        """The pending order, or the one a racing call of the same bag wrote first."""
        lead = holds[0]
        stored = details.stored()
        async with self.desk.sessions() as session:
            rows = (await session.execute(
                select(Variant, Product).join(Product, Product.id == Variant.product_id)
                .where(Variant.sku.in_([h.sku for h in holds]), Variant.product_id.in_([h.product_id for h in holds]))
            )).all()
            by_sku = {(variant.product_id, variant.sku): (variant, product) for variant, product in rows}
            for _ in range(5):
                lines = []
                for hold in holds:
                    found = by_sku.get((hold.product_id, hold.sku))
                    if found is None:
                        raise RuntimeError(f"hold {hold.hold_id}: variant {hold.sku!r} of product {hold.product_id} is gone")
                    variant, product = found
                    lines.append(OrderLine(
                        product_id=hold.product_id, variant_id=variant.id, sku=hold.sku, title=product.title,
                        label=variant.label, quantity=hold.quantity, unit_price_cents=hold.unit_price_cents,
                        offer_id=hold.offer_id, hold_id=hold.hold_id,
                    ))
                order = Order(
                    id=secrets.token_urlsafe(18), number=order_number(), hold_id=lead.hold_id,
                    host_id=lead.host_id if lead.host_id is not None else by_sku[(lead.product_id, lead.sku)][0].host_id,
                    show_id=lead.show_id, buyer_id=lead.buyer_id, email=stored["email"], name=stored["name"],
                    phone=stored.get("phone"), shipping=stored["shipping"], locale=stored.get("locale"), status=PENDING,
                    total_cents=money.total_cents, shipping_cents=money.shipping_cents, tax_cents=money.tax_cents,
                    tax_label=money.tax_label, tax_rate_bp=money.tax_rate_bp, currency=lead.currency,
                    payment_id=key, created_at=self.desk.stock.clock(), lines=lines,
                )
                session.add(order)
                try:
                    await session.commit()
                    return order
                except IntegrityError:
                    await session.rollback()
                for hold in holds:  # a racing call of this bag, or another bag with one of these holds
                    existing = await self.desk.order_for_hold(hold.hold_id)
                    if existing is not None:
                        if {line.hold_id for line in existing.lines} != {h.hold_id for h in holds}:
                            raise BagConflict()
                        if existing.status == PENDING and existing.payment_id != key:
                            raise BagConflict("this bag is being checked out in another tab; try again in a moment")
                        return existing
                # Otherwise the short number collided: draw another.
        raise RuntimeError("could not draw a free order number")
