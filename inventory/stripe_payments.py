"""Stripe as the payment provider: PaymentIntents the browser confirms with Stripe.js, so card
numbers never reach livedrop (docs/payments.md).

Every PaymentIntent is made for one hold: its idempotency key is checkout's ``<hold id>:<attempt>``
and its metadata carries ``hold_id`` (and ``attempt``). Stripe forgets idempotency keys after
24 hours, so nothing here finds a payment by its key alone: ``_payments_of`` looks up every
PaymentIntent whose metadata names the hold (the Search API; a plain list where the server has no
search, as localstripe), and any attempt of the hold counts. ``charge`` does not charge: it answers
the hold's payment as it stands, 'paid' once the browser's confirmation went through.

The official ``stripe`` package's async client does the calls (over httpx, which livedrop already
uses); a call that fails on the network is retried by the package with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import orjson
import stripe

from inventory.errors import InvalidRequest, Refusal, Unavailable
from inventory.payments import (
    AUTHORIZED, DECLINED, INCOMPLETE, PAID, REFUNDED, VOIDED, Charge, PaymentStart, hold_of_key,
)

log = logging.getLogger(__name__)

STRIPE_JS_URL = "https://js.stripe.com/v3/"
# Stripe's own default: a signed event older (or newer) than this is refused, so a captured
# delivery cannot be replayed later.
WEBHOOK_TOLERANCE_S = 300
# The metadata field of a Refund naming the refund's idempotency key (see refund).
REFUND_KEY_FIELD = "livedrop_refund"
# PaymentIntent states in which it can still be paid (and so can be cancelled).
OPEN_STATES = ("requires_payment_method", "requires_confirmation", "requires_action")


class WebhookRefused(Refusal):
    """A webhook delivery that is not Stripe's, or not now: nothing is done with it (400)."""

    code, status = "webhook_signature_invalid", 400


class WebhookSignatureInvalid(WebhookRefused):
    code, default_message = "webhook_signature_invalid", "the Stripe-Signature header does not sign this body with our webhook secret"


class WebhookTooOld(WebhookRefused):
    code, default_message = "webhook_too_old", "the signed timestamp is outside the tolerance (5 minutes); replays are refused"


class WebhookMalformed(WebhookRefused):
    code, default_message = "malformed_json", "the webhook body is not a Stripe event"


class UnknownPaymentMethod(InvalidRequest):
    """A ``payment_method`` Stripe does not know (mistyped, or made with another account's keys),
    or one of a kind this shop does not take (only cards). Nothing is confirmed or charged; the
    hold and its payment stay open for a card made with Stripe.js (422)."""

    code, status = "unknown_payment_method", 422

    def __init__(self, message: str) -> None:
        super().__init__("payment_method", message)


class ProviderUnavailable(Unavailable):
    """Stripe did not answer (network, its rate limit, its own 5xx) after the package's retries.
    What was asked may or may not have happened: every call is keyed, so asking again is safe (503)."""

    default_message = "the payment provider does not answer; nothing is lost, retry in a few seconds"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, retry_after_s=5)


P = ParamSpec("P")
T = TypeVar("T")


def provider_faults(call: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Stripe's network and server faults as a 503 ``unavailable`` with Retry-After, never a 500."""

    @functools.wraps(call)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            log.warning("Stripe did not answer (%s): %s", type(exc).__name__, exc.user_message or "no message")
            raise ProviderUnavailable() from None
        except stripe.APIError as exc:  # Stripe's own 5xx
            log.warning("Stripe answered %s: %s", exc.http_status, exc.user_message or "no message")
            raise ProviderUnavailable() from None

    return guarded


@dataclass(frozen=True)
class PaymentEvent:
    """What livedrop reads of a Stripe event: its id (deduplication), its type, and the hold its
    PaymentIntent was made for (None: not one of ours)."""

    id: str
    type: str
    payment_id: str | None
    hold_id: str | None


class StripeProvider:
    confirms_in_browser = True

    def __init__(
        self, secret_key: str, publishable_key: str, *, webhook_secret: str | None = None, api_base: str | None = None,
        timeout_s: float = 20.0, max_network_retries: int = 2,
    ) -> None:
        self.publishable_key = publishable_key
        self._webhook_secret = webhook_secret
        self.api_base = api_base.rstrip("/") if api_base else None
        # localstripe serves its stand-in for Stripe.js under its own address.
        self.js_url = f"{self.api_base}/js.stripe.com/v3/" if self.api_base else STRIPE_JS_URL
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": self.api_base} if self.api_base else None,
            http_client=stripe.HTTPXClient(timeout=timeout_s, allow_sync_methods=False),
            max_network_retries=max_network_retries,
        )
        self._search = True  # False once the server answered that it has no Search API (localstripe)
        # One refund decision at a time per PaymentIntent in this process: two checkouts of a double
        # click that each find the other's payment refunded it twice on localstripe, which honours
        # neither idempotency keys nor the amount left (CI, 1 run in 8 at load 5). Stripe itself
        # dedupes by key across processes; this makes the check-then-refund atomic within one.
        # Striped (64 locks, by the PaymentIntent's id): bounded, nothing to clean up.
        self._refunding = [asyncio.Lock() for _ in range(64)]
        # Which card-only parameter a PaymentIntent is made with: today's API (the `stripe`
        # package's pinned version) takes allowed_payment_method_types; localstripe only knows the
        # older payment_method_types and refuses anything it does not know (docs/payments.md).
        self._card_only: dict[str, Any] = (
            {"payment_method_types": ["card"]} if self.api_base else {"allowed_payment_method_types": ["card"]}
        )

    def __repr__(self) -> str:  # never the keys
        return f"StripeProvider(api_base={self.api_base!r})"

    # -- browser-confirmed payments ---------------------------------------------------------------

    @provider_faults
    async def start(self, idempotency_key: str, amount_cents: int, currency: str, order_id: str | None = None) -> PaymentStart:
        """The hold's PaymentIntent for this order: one already made for it (paid, or still open)
        or a new one, made with the idempotency key and the hold id (and the order id) in its
        metadata. A PaymentIntent of the hold made for another order or amount is never reused."""
        hold_id = hold_of_key(idempotency_key)
        mine = [pi for pi in await self._payments_of(hold_id) if _for(pi, order_id, amount_cents, currency)]
        for pi in mine:
            if pi["status"] in ("succeeded", "processing", "requires_capture") and not _refunded(pi):
                return _start(pi)
        for pi in mine:
            if pi["status"] in OPEN_STATES:
                return _start(pi)
        metadata = {"hold_id": hold_id, "attempt": idempotency_key.rsplit(":", 1)[-1]}
        if order_id:
            metadata["order_id"] = order_id
        params: dict[str, Any] = {
            "amount": int(amount_cents),
            "currency": currency.lower(),
            **self._card_only,
            "metadata": metadata,
        }
        # Stripe's idempotency key is the order's too: the same key with another order's amount
        # would be refused by Stripe (or answer the other order's PaymentIntent).
        key = f"{idempotency_key}:{order_id}" if order_id else idempotency_key
        created = await self.client.v1.payment_intents.create_async(params, {"idempotency_key": key})  # type: ignore[arg-type]
        return _start(_plain(created))

    @provider_faults
    async def confirm(self, payment_id: str, payment_method: str) -> PaymentStart:
        """Confirm the PaymentIntent on the server with a payment method Stripe.js made in the
        browser (a ``pm_`` id, or a card of a Stripe.js token). A decline leaves it open for
        another card: the answer's status is requires_payment_method and its decline code says
        why. 3-D Secure: status requires_action, which Stripe.js then handles."""
        if payment_method.startswith("pm_"):
            await self._check_payment_method(payment_method)
        try:
            await self.client.v1.payment_intents.update_async(payment_id, {"payment_method": payment_method})
            pi = _plain(await self.client.v1.payment_intents.confirm_async(payment_id))
        except stripe.CardError:
            pi = _plain(await self.client.v1.payment_intents.retrieve_async(payment_id))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 or getattr(exc, "code", None) == "resource_missing":
                raise UnknownPaymentMethod("no such payment method (make one with Stripe.js)") from None
            if getattr(exc, "param", None) == "payment_method" or getattr(exc, "code", None) in (
                    "payment_method_invalid_parameter", "payment_intent_incompatible_payment_method"):
                raise UnknownPaymentMethod("this payment method cannot pay here; pay by card") from None
            # A double click (or a second tab) confirmed it a moment ago: Stripe refuses to confirm
            # a PaymentIntent that is no longer waiting (payment_intent_unexpected_state). Its state
            # is the answer, not a 500 (tests/web/test_bag_stripe.py's double click).
            pi = _plain(await self.client.v1.payment_intents.retrieve_async(payment_id))
            if pi["status"] in ("requires_payment_method", "requires_confirmation"):
                raise
        return _start(pi)

    async def _check_payment_method(self, payment_method: str) -> None:
        """UnknownPaymentMethod before anything is confirmed: one Stripe does not know, or not a
        card (PaymentIntents here are card-only; localstripe would confirm a SEPA debit on one
        anyway, so the kind is checked here rather than left to the server)."""
        try:
            found = _plain(await self.client.v1.payment_methods.retrieve_async(payment_method))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 or getattr(exc, "code", None) == "resource_missing":
                raise UnknownPaymentMethod("no such payment method (make one with Stripe.js)") from None
            raise
        if found.get("type") != "card":
            raise UnknownPaymentMethod(f"a {found.get('type') or 'non-card'} payment method; this shop takes cards only")

    # -- the PaymentProvider protocol -------------------------------------------------------------

    @provider_faults
    async def charge(self, idempotency_key: str, amount_cents: int, currency: str, card_number: str | None,
                     order_id: str | None = None) -> Charge:
        """The order's payment as it stands: 'paid' when a PaymentIntent of the hold made for this
        order (``order_id``; any, when None) and of exactly this amount succeeded, else
        'incomplete' (with the last decline's code, if any). Never charges, and card_number is
        never used: the browser confirmed with Stripe."""
        hold_id = hold_of_key(idempotency_key)
        mine = [pi for pi in await self._payments_of(hold_id) if _for(pi, order_id, amount_cents, currency)]
        paid = _paid_first(mine)
        if paid:
            for extra in paid[1:]:  # two tabs each paid: keep one payment, give the others back
                log.warning("hold %s was paid twice (%s and %s): refunding the second", hold_id, paid[0]["id"], extra["id"])
                await self.refund(extra["id"])
            return _charge(paid[0])
        if not mine:
            return Charge(id="", status=INCOMPLETE, amount_cents=amount_cents, currency=currency, decline_code="")
        latest = max(mine, key=lambda pi: (pi["created"], pi["id"]))
        return _charge(latest)

    @provider_faults
    async def find_charge(self, idempotency_key: str, *, order_id: str | None = None, amount_cents: int | None = None,
                          currency: str | None = None) -> Charge | None:
        payments = await self._payments_of(hold_of_key(idempotency_key))
        if amount_cents is not None:
            payments = [pi for pi in payments if _for(pi, order_id, amount_cents, currency or str(pi["currency"]))]
        if not payments:
            return None
        settled = _paid_first(payments)
        pick = settled[0] if settled else max(payments, key=lambda pi: (pi["created"], pi["id"]))
        return _charge(pick)

    @provider_faults
    async def lookup(self, charge_id: str) -> Charge | None:
        pi = await self._retrieve(charge_id) if charge_id.startswith("pi_") else None
        return _charge(pi) if pi is not None else None

    @provider_faults
    async def settle(self, idempotency_key: str, *, order_id: str | None = None, amount_cents: int | None = None,
                     currency: str | None = None) -> Charge | None:
        """The hold's paid charge, or None once none of its PaymentIntents can be paid any more:
        the open ones are cancelled (a buyer finishing 3-D Secure after the hold ended is told no,
        instead of paying for nothing). A cancel that loses the race to a confirmation finds it paid.

        With an order's terms (``amount_cents``, ``currency``, ``order_id``) only a PaymentIntent
        made for that order of exactly its total pays it (a bag's lead hold may also have a
        one-hold payment of another amount). Every other succeeded PaymentIntent of the hold pays
        no live order (a hold is in one order at a time) and is refunded, once (refund's key)."""
        hold_id = hold_of_key(idempotency_key)

        def fits(pi: dict[str, Any]) -> bool:
            return amount_cents is None or _for(pi, order_id, amount_cents, currency or str(pi["currency"]))

        payments = await self._payments_of(hold_id)
        for pi in payments:
            if pi["status"] in OPEN_STATES or pi["status"] == "requires_capture":
                try:
                    await self.client.v1.payment_intents.cancel_async(pi["id"])
                    pi["status"] = "canceled"
                except stripe.StripeError:
                    fresh = _plain(await self.client.v1.payment_intents.retrieve_async(pi["id"], {"expand": ["latest_charge"]}))
                    pi.clear()
                    pi.update(fresh)  # a confirmation won the race: it counts as paid below
                    if fresh["status"] != "succeeded":
                        log.warning("could not cancel PaymentIntent %s of hold %s (%s)", pi["id"], hold_id, fresh["status"])
            elif pi["status"] == "processing":
                log.warning("PaymentIntent %s of hold %s is still processing; its webhook will settle it", pi["id"], hold_id)
        paid = _paid_first(payments)
        keep = next((pi for pi in paid if fits(pi) and not _refunded(pi)), None)
        for pi in paid:
            if pi is not keep and amount_cents is not None and not _refunded(pi):
                log.warning("PaymentIntent %s of hold %s (%s %s) pays no live order: refunding it",
                            pi["id"], hold_id, pi["amount"], pi["currency"])
                await self.refund(pi["id"])
        return _charge(keep) if keep is not None else None

    @provider_faults
    async def refund(self, charge_id: str, amount_cents: int | None = None, idempotency_key: str | None = None) -> Charge | None:
        """Refund a PaymentIntent, in full (``amount_cents`` None: what is left) or in part, once
        per ``idempotency_key`` (None: ``refund:<payment id>``, a whole refund). A fully refunded
        one is not refunded again; never more than is left. Stripe keeps the key 24 hours: the
        caller (inventory.order_life) records each refund in SQL before it asks, so a retry after
        that finds it done there."""
        if not charge_id.startswith("pi_"):
            found = await self.find_charge(charge_id) if ":" in charge_id else None
            if found is None or not found.id:
                return None
            charge_id = found.id
        async with self._refunding[hash(charge_id) % len(self._refunding)]:
            return await self._refund_once(charge_id, amount_cents, idempotency_key)

    async def _refund_once(self, charge_id: str, amount_cents: int | None, idempotency_key: str | None) -> Charge | None:
        pi = await self._retrieve(charge_id)
        if pi is None:
            return None
        left = int(pi["amount"]) - _refunded_cents(pi)
        key = idempotency_key or f"refund:{charge_id}"
        if pi["status"] == "succeeded" and left > 0 and not await self._refund_made(charge_id, key):
            # The key goes in the Refund's metadata too: Stripe forgets idempotency keys after
            # 24 hours, and a refund finished later (a crash, the stalled-refunds job) must find
            # the one it made instead of making a second.
            params: dict[str, Any] = {"payment_intent": charge_id, "metadata": {REFUND_KEY_FIELD: key}}
            if amount_cents is not None:
                params["amount"] = min(int(amount_cents), left)
            if params.get("amount", left) > 0:
                await self.client.v1.refunds.create_async(params, {"idempotency_key": key})  # type: ignore[arg-type]
                pi = await self._retrieve(charge_id) or pi
        return _charge(pi)

    async def _refund_made(self, payment_id: str, key: str) -> bool:
        """A Refund of the PaymentIntent made under ``key`` (its metadata), however long ago."""
        listed = await self.client.v1.refunds.list_async({"payment_intent": payment_id, "limit": 100})
        async for refund in listed.auto_paging_iter():
            if (_plain(refund).get("metadata") or {}).get(REFUND_KEY_FIELD) == key:
                return True
        return False

    @provider_faults
    async def authorize(self, idempotency_key: str, amount_cents: int, currency: str, payment_method: str) -> Charge:
        """Reserve the amount on the card (manual capture): 'authorized' until capture or void."""
        try:
            # Not "hold_id" in the metadata: the key is a draw entry's ("draw:<entry id>"), not a
            # hold's, and hold_id "draw" made every captured authorization look, to the webhook
            # (payment_succeeded), like the payment of a hold with no order: refunded.
            params: dict[str, Any] = {
                "amount": int(amount_cents), "currency": currency.lower(), **self._card_only,
                "capture_method": "manual", "payment_method": payment_method, "confirm": True,
                "metadata": {"authorization_key": idempotency_key},
            }
            pi = await self.client.v1.payment_intents.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        except stripe.CardError as exc:
            return Charge(id="", status=DECLINED, amount_cents=amount_cents, currency=currency,
                          decline_code=str(exc.code or "card_declined"), created=True)
        return _charge(_plain(pi), created=True)

    @provider_faults
    async def capture(self, charge_id: str, amount_cents: int | None = None) -> Charge:
        pi = await self._retrieve(charge_id)
        capturable = int((pi or {}).get("amount_capturable") or (pi or {}).get("amount") or 0)
        if pi is not None and pi["status"] == "requires_capture" and amount_cents is not None and amount_cents > capturable:
            return _charge(pi)  # more than was authorized: Stripe would refuse it; the caller pays by card instead
        if pi is not None and pi["status"] == "requires_capture":
            params: Any = {} if amount_cents is None else {"amount_to_capture": int(amount_cents)}
            pi = _plain(await self.client.v1.payment_intents.capture_async(
                charge_id, params, {"idempotency_key": f"capture:{charge_id}"}))
        if pi is None:
            raise KeyError(charge_id)
        return _charge(pi)

    @provider_faults
    async def get_charge(self, charge_id: str) -> Charge | None:
        pi = await self._retrieve(charge_id)
        return None if pi is None else _charge(pi)

    @provider_faults
    async def void(self, charge_id: str) -> Charge:
        pi = await self._retrieve(charge_id)
        if pi is not None and pi["status"] in (*OPEN_STATES, "requires_capture"):
            pi = _plain(await self.client.v1.payment_intents.cancel_async(charge_id))
        if pi is None:
            raise KeyError(charge_id)
        return _charge(pi)

    # -- webhooks ---------------------------------------------------------------------------------

    def webhook_event(self, payload: bytes, signature: str | None, *, now: float | None = None,
                      tolerance_s: int = WEBHOOK_TOLERANCE_S) -> PaymentEvent:
        """Check a delivery the way Stripe signs it (``Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256
        of "<ts>.<body>">``, with the webhook secret) and read it. Raises WebhookSignatureInvalid,
        WebhookTooOld or WebhookMalformed; a valid signature on an old timestamp is a replay."""
        if not self._webhook_secret:
            raise WebhookSignatureInvalid("no STRIPE_WEBHOOK_SECRET is configured: webhooks cannot be checked")
        timestamp, signatures = _parse_signature(signature or "")
        if timestamp is None or not signatures:
            raise WebhookSignatureInvalid("no Stripe-Signature header with t= and v1= in it")
        expected = hmac.new(self._webhook_secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, given) for given in signatures):
            raise WebhookSignatureInvalid()
        if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
            raise WebhookTooOld()
        try:
            event = orjson.loads(payload)
            obj = event["data"]["object"]
            metadata = obj.get("metadata") or {}
            return PaymentEvent(
                id=str(event["id"]), type=str(event["type"]),
                payment_id=str(obj["id"]) if obj.get("object") == "payment_intent" else None,
                hold_id=str(metadata["hold_id"]) if obj.get("object") == "payment_intent" and metadata.get("hold_id") else None,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise WebhookMalformed() from None

    # -- looking payments up ----------------------------------------------------------------------

    async def _payments_of(self, hold_id: str) -> list[dict[str, Any]]:
        """Every PaymentIntent whose metadata names the hold."""
        if self._search:
            query = "metadata['hold_id']:'" + hold_id.replace("\\", "\\\\").replace("'", "\\'") + "'"
            try:
                found = await self.client.v1.payment_intents.search_async(
                    {"query": query, "limit": 100, "expand": ["data.latest_charge"]})
                return [_plain(pi) async for pi in found.auto_paging_iter()]
            except stripe.InvalidRequestError as exc:
                if exc.http_status != 404:
                    raise
                log.warning("the Stripe API at %s has no PaymentIntent search; listing instead (fine for localstripe, "
                            "not for a real account)", self.api_base or "api.stripe.com")
                self._search = False
        listed = await self.client.v1.payment_intents.list_async({"limit": 100, "expand": ["data.latest_charge"]})
        payments = [_plain(pi) async for pi in listed.auto_paging_iter()]
        return [pi for pi in payments if (pi.get("metadata") or {}).get("hold_id") == hold_id]

    async def _retrieve(self, payment_id: str) -> dict[str, Any] | None:
        try:
            return _plain(await self.client.v1.payment_intents.retrieve_async(payment_id, {"expand": ["latest_charge"]}))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise


def _parse_signature(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return None, []
        elif name == "v1":
            signatures.append(value)
    return timestamp, signatures


def sign_webhook(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for ``payload``, as Stripe makes it (tests and the docs' curl)."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), str(ts).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def _for(pi: dict[str, Any], order_id: str | None, amount_cents: int, currency: str) -> bool:
    """Made for this order (when both name one: a PaymentIntent made before payments named their
    order counts for any) and of exactly its amount and currency."""
    named = (pi.get("metadata") or {}).get("order_id")
    return (int(pi["amount"]) == int(amount_cents) and str(pi["currency"]).lower() == currency.lower()
            and (not order_id or not named or named == order_id))


def _paid_first(payments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The succeeded PaymentIntents, oldest first, those not given back before those refunded."""
    paid = [pi for pi in payments if pi["status"] == "succeeded"]
    return sorted(paid, key=lambda pi: (_refunded(pi), pi["created"], pi["id"]))


def _refunded_cents(pi: dict[str, Any]) -> int:
    charge = pi.get("latest_charge")
    if isinstance(charge, dict):  # expanded (an id string otherwise)
        if charge.get("refunded") and not charge.get("amount_refunded"):
            return int(pi["amount"])
        return int(charge.get("amount_refunded") or 0)
    return 0


def _refunded(pi: dict[str, Any]) -> bool:
    """All of it given back (a partial refund leaves the payment paid)."""
    return _refunded_cents(pi) >= int(pi["amount"]) > 0


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as a plain dict (the package's objects are not dicts since v8)."""
    data: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return data


def _start(pi: dict[str, Any]) -> PaymentStart:
    return PaymentStart(
        payment_id=str(pi["id"]), client_secret=str(pi["client_secret"]), status=str(pi["status"]),
        amount_cents=int(pi["amount"]), currency=str(pi["currency"]).upper(),
        decline_code=_decline_code(pi),
    )


def _decline_code(pi: dict[str, Any]) -> str:
    error = pi.get("last_payment_error") or {}
    return str(error.get("decline_code") or error.get("code") or "") if pi["status"] == "requires_payment_method" else ""


def _charge(pi: dict[str, Any], created: bool = False) -> Charge:
    status = {
        "succeeded": PAID, "requires_capture": AUTHORIZED, "canceled": VOIDED,
    }.get(str(pi["status"]), INCOMPLETE)
    if status == PAID and _refunded(pi):
        status = REFUNDED
    brand, last4 = _card_of(pi)
    metadata = pi.get("metadata") or {}
    return Charge(
        id=str(pi["id"]), status=status, amount_cents=int(pi["amount"]), currency=str(pi["currency"]).upper(),
        decline_code=_decline_code(pi), created=created, card_brand=brand, card_last4=last4,
        refunded_cents=_refunded_cents(pi), order_id=str(metadata.get("order_id") or ""),
        hold_id=str(metadata.get("hold_id") or ""),
    )


_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
           "jcb": "JCB", "diners": "Diners Club", "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires"}


def _card_of(pi: dict[str, Any]) -> tuple[str, str]:
    """The card's brand and last 4 digits, from the PaymentIntent's charge (its expanded
    ``latest_charge``, or the older ``charges`` list) as Stripe reports them; ("", "") when the
    answer does not say (localstripe says less than Stripe)."""
    charge = pi.get("latest_charge")
    if not isinstance(charge, dict):
        listed = (pi.get("charges") or {}).get("data") or []
        charge = listed[-1] if listed and isinstance(listed[-1], dict) else {}
    card = ((charge.get("payment_method_details") or {}).get("card") or {}) if isinstance(charge, dict) else {}
    brand = str(card.get("brand") or "")
    return _BRANDS.get(brand, brand.title()), str(card.get("last4") or "")[-4:]
