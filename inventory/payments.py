"""Payments: the ``PaymentProvider`` protocol checkout needs, and the built-in test provider.

A provider must be idempotent on the key: the same key always answers the same charge and never
charges twice. Checkout uses ``<hold id>:<attempt>`` as the key, so a retried or recovered
checkout finds the charge it made instead of making another.

Two kinds of provider sit behind the protocol (docs/payments.md):

- the built-in test provider (the default) charges a card number sent to livedrop's checkout;
- Stripe (``inventory.stripe_payments``) never sees a card number: ``start`` makes a
  PaymentIntent the browser confirms with Stripe.js, and ``charge`` then only looks the payment
  up. ``confirms_in_browser`` tells the two apart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Protocol

import redis.asyncio as aioredis

from inventory import keys, redis_replies
from inventory.clock import now_ms
from inventory.scripts import SCRIPTS

PAYING_CARD = "4242424242424242"  # and any other Luhn-valid 424242... (is_test_paying_card)
DECLINED_CARD = "4000000000000002"


# A charge's status. 'paid', 'declined' and 'refunded' are final for a key; 'authorized' waits
# for capture or void (``authorize``); 'voided' is an authorization let go; 'incomplete' is a
# browser-confirmed payment that has not gone through yet (Stripe: the PaymentIntent still needs a
# card, an authentication or processing) and may still succeed.
PAID, DECLINED, REFUNDED, AUTHORIZED, VOIDED, INCOMPLETE = "paid", "declined", "refunded", "authorized", "voided", "incomplete"


def is_test_paying_card(digits: str) -> bool:
    """More cards that pay, so a test can enter a draw (one entry per card) with a thousand of
    them: any 16-digit number starting 424242 that passes the Luhn check."""
    return len(digits) == 16 and digits.startswith("424242") and luhn_valid(digits)


def luhn_valid(digits: str) -> bool:
    """The card number checksum every real card passes: a mistyped number fails it (one wrong digit,
    two neighbours swapped), so it is refused as 'check the number' before anything is charged."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class Charge:
    id: str
    status: str  # PAID | DECLINED | REFUNDED | AUTHORIZED | VOIDED | INCOMPLETE
    amount_cents: int
    currency: str
    decline_code: str = ""  # 'card_declined' | 'invalid_card' when declined
    created: bool = False  # True when this call made the charge (False: found an earlier one)
    card_brand: str = ""  # what the provider says of the card, for the receipt ("Visa"); "" unknown
    card_last4: str = ""

    # Cents given back so far. A partly refunded charge stays 'paid'; all of it: 'refunded'.
    refunded_cents: int = 0
    # The provider's fingerprint of the card (the same card, the same value; "" unknown): a draw
    # takes one entry per card with it.
    card_fingerprint: str = ""
    # What the provider says the payment was made for (Stripe: the PaymentIntent's metadata; ""
    # unknown): a payment pays only the order it names, and only for that order's total.
    order_id: str = ""
    hold_id: str = ""

    @property
    def paid(self) -> bool:
        return self.status == "paid"

    def pays(self, order_id: str, amount_cents: int, currency: str) -> bool:
        """Made for this order (or for no order in particular: one made before payments named
        their order), of exactly its total, in its currency."""
        return (self.amount_cents == int(amount_cents) and self.currency.upper() == currency.upper()
                and self.order_id in ("", order_id))


@dataclass(frozen=True)
class PaymentStart:
    """A payment the browser confirms (Stripe: a PaymentIntent and its client secret)."""

    payment_id: str
    client_secret: str
    status: str  # the provider's own word (Stripe: requires_payment_method, requires_action, succeeded...)
    amount_cents: int
    currency: str
    decline_code: str = ""  # why the last confirmation was declined (the payment stays open for another card)

    @property
    def paid(self) -> bool:
        return self.status == "succeeded"


class PaymentsUnsupported(Exception):
    """The provider has no such step (the test provider has no browser-confirmed payments)."""


def hold_of_key(idempotency_key: str) -> str:
    """``<hold id>:<attempt>`` -> the hold id."""
    return idempotency_key.rsplit(":", 1)[0]


class PaymentProvider(Protocol):
    # True: the browser confirms the payment with the provider (card numbers never reach
    # livedrop), ``start`` makes it and ``charge`` only looks it up. False: ``charge`` takes the card.
    confirms_in_browser: bool

    async def charge(self, idempotency_key: str, amount_cents: int, currency: str, card_number: str | None,
                     order_id: str | None = None) -> Charge:
        """Charge once per key; a declined card is a Charge with status 'declined' (no exception).
        A browser-confirmed provider answers the hold's payment as it stands ('incomplete' while it
        can still go through): only a payment of exactly this amount (and made for ``order_id``,
        when given) counts."""
        ...

    async def refund(self, charge_id: str, amount_cents: int | None = None, idempotency_key: str | None = None) -> Charge | None:
        """Give back ``amount_cents`` of a paid charge (None: all that is left), once per
        ``idempotency_key`` (None: ``refund:<charge id>``, a whole refund made once): the same key
        again refunds nothing more and answers the charge as it stands. Never more than was
        paid. None when there is no such charge."""
        ...

    async def find_charge(self, idempotency_key: str, *, order_id: str | None = None, amount_cents: int | None = None,
                          currency: str | None = None) -> Charge | None:
        """The paid (or refunded) charge behind the key, else the latest one, else None. Stripe
        looks by the hold id in the payment's metadata: any attempt of the hold counts. With an
        order's terms, only a charge that pays that order (``Charge.pays``) counts."""
        ...

    async def settle(self, idempotency_key: str, *, order_id: str | None = None, amount_cents: int | None = None,
                     currency: str | None = None) -> Charge | None:
        """Recovery's last word before it drops a checkout: the paid charge if there is one, else
        make sure none can be paid any more (Stripe: cancel the hold's open PaymentIntents) and
        answer None. With an order's terms, the paid charge must pay that order; any other paid
        charge of the hold pays no live order (a hold is in one order at a time) and is refunded,
        once."""
        ...

    async def lookup(self, charge_id: str) -> Charge | None:
        """One charge by its id (a webhook names it), None when the provider has no such charge."""
        ...

    async def start(self, idempotency_key: str, amount_cents: int, currency: str, order_id: str | None = None) -> PaymentStart:
        """Make (or find again) the payment the browser confirms. PaymentsUnsupported when the
        provider takes card numbers instead."""
        ...

    async def confirm(self, payment_id: str, payment_method: str) -> PaymentStart:
        """Confirm a started payment with a payment method the provider's script made in the
        browser (never a card number)."""
        ...

    async def authorize(self, idempotency_key: str, amount_cents: int, currency: str, payment_method: str) -> Charge:
        """Reserve the amount now (status 'authorized'), capture or void it later (draws)."""
        ...

    async def capture(self, charge_id: str, amount_cents: int | None = None) -> Charge:
        """Take ``amount_cents`` (None: all) of an authorization; the rest is released. Never more
        than was authorized: a larger amount captures nothing and answers the authorization as it
        stands ('authorized'), as Stripe refuses an amount_to_capture above the amount. Capturing
        a captured charge again answers it ('paid'), capturing nothing more."""
        ...

    async def void(self, charge_id: str) -> Charge: ...

    async def get_charge(self, charge_id: str) -> Charge | None:
        """A charge by its id (the provider's), as it stands now; None when there is none.
        Recovery reads a draw claim's authorization with it: captured or not."""
        ...


class TestPaymentProvider:
    """The built-in provider: 4242424242424242 pays, 4000000000000002 is declined
    (card_declined), any other number is declined as invalid_card.

    Charges are kept in Redis (``ld:{charges}:c:<key>``, 30 days), in their own hash tag: every
    process sees them, and a retry or the recovery sweeper on another process finds them. Give it
    a Redis that outlives the stock Redis if you want it to act like an external provider (the
    tests do); in production a real provider replaces it.
    """

    __test__ = False  # not a pytest test class, despite the name
    TTL_MS = 30 * 24 * 3600 * 1000
    confirms_in_browser = False

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def charge(self, idempotency_key: str, amount_cents: int, currency: str, card_number: str | None,
                     order_id: str | None = None) -> Charge:
        return await self._store(idempotency_key, amount_cents, currency, card_number, PAID)

    async def authorize(self, idempotency_key: str, amount_cents: int, currency: str, payment_method: str) -> Charge:
        """``payment_method`` is a test card number here; the card's fingerprint is a hash of it."""
        charge = await self._store(idempotency_key, amount_cents, currency, payment_method, AUTHORIZED)
        digits = "".join(ch for ch in payment_method if ch.isdigit())
        return replace(charge, card_fingerprint=hashlib.sha256(b"test-card:" + digits.encode()).hexdigest()[:32])

    async def capture(self, charge_id: str, amount_cents: int | None = None) -> Charge:
        current = await self.get_charge(charge_id)
        if current is None:
            raise KeyError(charge_id)
        if current.status == AUTHORIZED and amount_cents is not None and amount_cents > current.amount_cents:
            return current  # more than was authorized: nothing captured (Stripe refuses it too)
        return await self._move(charge_id, AUTHORIZED, PAID, amount_cents)

    async def get_charge(self, charge_id: str) -> Charge | None:
        key = await redis_replies.hget(self.redis, keys.CHARGE_IDS, charge_id)
        if key is None:
            return None
        flat = await redis_replies.hgetall(self.redis, key)
        return _charge(flat) if flat else None

    async def void(self, charge_id: str) -> Charge:
        return await self._move(charge_id, AUTHORIZED, VOIDED)

    async def settle(self, idempotency_key: str, *, order_id: str | None = None, amount_cents: int | None = None,
                     currency: str | None = None) -> Charge | None:
        charge = await self.find_charge(idempotency_key)
        if charge is None or not charge.paid:
            return None
        if amount_cents is not None and not charge.pays(order_id or "", amount_cents, currency or charge.currency):
            # Charged under this key for another amount: it pays no live order; never kept.
            await self.refund(charge.id)
            return None
        return charge

    async def lookup(self, charge_id: str) -> Charge | None:
        key = await redis_replies.hget(self.redis, keys.CHARGE_IDS, charge_id)
        flat = await redis_replies.hgetall(self.redis, key) if key is not None else None
        return _charge(flat) if flat else None

    async def start(self, idempotency_key: str, amount_cents: int, currency: str, order_id: str | None = None) -> PaymentStart:
        raise PaymentsUnsupported("the test provider takes card numbers at checkout; there is no payment to confirm")

    async def confirm(self, payment_id: str, payment_method: str) -> PaymentStart:
        raise PaymentsUnsupported("the test provider takes card numbers at checkout; there is no payment to confirm")

    async def _move(self, charge_id: str, from_status: str, to_status: str, amount_cents: int | None = None) -> Charge:
        key = await redis_replies.hget(self.redis, keys.CHARGE_IDS, charge_id)
        if key is None:
            raise KeyError(charge_id)
        # One charge is moved by one caller at a time in practice (a draw's capture job); HSET
        # of the status is atomic, and capturing or voiding twice answers the same charge.
        if await self.redis.hget(key, "status") == from_status:
            await self.redis.hset(key, "status", to_status)
            if amount_cents is not None:
                await self.redis.hset(key, "amount_cents", str(int(amount_cents)))
        flat = await redis_replies.hgetall(self.redis, key)
        return _charge(flat)

    async def _store(self, idempotency_key: str, amount_cents: int, currency: str, card_number: str | None,
                     success: str) -> Charge:
        digits = "".join(ch for ch in str(card_number or "") if ch.isdigit())
        if digits == PAYING_CARD or is_test_paying_card(digits):
            status, code = success, ""
        elif digits == DECLINED_CARD:
            status, code = DECLINED, "card_declined"
        else:
            status, code = DECLINED, "invalid_card"
        charge_id = "ch_" + secrets.token_urlsafe(12)
        flat, created = await SCRIPTS["charge"].call(
            self.redis,
            [keys.charge(idempotency_key), keys.CHARGE_IDS],
            [charge_id, status, int(amount_cents), currency, digits[-4:], code, now_ms(), self.TTL_MS, card_brand(digits)],
        )
        return _charge(flat, created=bool(created))

    async def find_charge(self, idempotency_key: str, *, order_id: str | None = None, amount_cents: int | None = None,
                          currency: str | None = None) -> Charge | None:
        flat = await redis_replies.hgetall(self.redis, keys.charge(idempotency_key))
        charge = _charge(flat) if flat else None
        if charge is not None and amount_cents is not None and not charge.pays(order_id or "", amount_cents,
                                                                                currency or charge.currency):
            return None
        return charge

    async def refund(self, charge_id: str, amount_cents: int | None = None, idempotency_key: str | None = None) -> Charge | None:
        key = await redis_replies.hget(self.redis, keys.CHARGE_IDS, charge_id)
        if key is None:
            return None
        refund_key = idempotency_key or f"refund:{charge_id}"
        flat, _ = await SCRIPTS["refund"].call(
            self.redis, [key, keys.refund(refund_key), keys.refund_list(charge_id)],
            [-1 if amount_cents is None else int(amount_cents), "re_" + secrets.token_urlsafe(12), self.TTL_MS],
        )
        return _charge(flat) if flat else None

    async def refunds(self, charge_id: str) -> list[int]:
        """The cents of each refund made of the charge, oldest first (tests, operators)."""
        items = await self.redis.lrange(keys.refund_list(charge_id), 0, -1)
        return [int(str(item).rsplit(":", 1)[1]) for item in items]


def _charge(raw: list[str] | dict[str, str], created: bool = False) -> Charge:
    data = raw if isinstance(raw, dict) else {raw[i]: raw[i + 1] for i in range(0, len(raw), 2)}
    return Charge(
        id=data["id"],
        status=data["status"],
        amount_cents=int(data["amount_cents"]),
        currency=data["currency"],
        decline_code=data.get("decline_code", ""),
        created=created,
        card_brand=data.get("brand", ""),
        card_last4=data.get("last4", ""),
        refunded_cents=int(data.get("refunded_cents") or (data["amount_cents"] if data["status"] == REFUNDED else 0)),
    )


def card_brand(digits: str) -> str:
    """The brand a card number's first digits name (the test provider's receipts; real providers
    say it themselves). Only the common ones; "" when none fits."""
    if digits.startswith("4"):
        return "Visa"
    if digits[:2] in ("51", "52", "53", "54", "55") or "2221" <= digits[:4] <= "2720":
        return "Mastercard"
    if digits[:2] in ("34", "37"):
        return "American Express"
    if digits.startswith(("6011", "65")):
        return "Discover"
    return ""
