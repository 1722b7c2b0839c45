"""Buying: hold a unit (the drop's hot path), let it go, check it out."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import replace
from time import perf_counter
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from inventory.bag_checkout import MAX_BAG_HOLDS
from inventory.checkout import CheckoutDetails
from inventory.errors import Refusal
from inventory.models import Order
from inventory.orders import order_json
from inventory.payments import DECLINED_CARD, PAYING_CARD, PaymentStart, luhn_valid
from inventory.shipping import check_address
from inventory.stock import MAX_QUANTITY
from live.metrics import CHECKOUT_ANSWERS, HOLD_ANSWERS, HOLD_SECONDS
from live.passes import MAX_PASS_CHARS
from web.auth import valid_email
from web.bodies import parse, receive_json, send_json, validate
from web.buyer_identity import require_buyer, require_scope_buyer
from web.errors import ApiError, error_body
from web.refusal_language import refusal_message, scope_locale
from web.links import receipt_url
from web.livedrop import Livedrop, livedrop
from web.openapi import Operation, api, json_content
from web.page_locale import page_locale


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)] = 1
    pass_: str | None = Field(None, min_length=1, max_length=MAX_PASS_CHARS, alias="pass", description=(
        "A queue offer's pass, from GET /api/shows/{slug}/offers/{id}/queue/me once admitted"))


class ShippingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Annotated[str, Field(max_length=200)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2 (GET /api/countries)")]
    region: Annotated[str, Field(max_length=100, description=(
        "The state or province: required for US and CA, as its ISO 3166-2 code (IL, ON); free text elsewhere"))] | None = None


CARD_NUMBER_HELP = (
    f"The built-in test payment provider's card (LIVEDROP_PAYMENTS=test, the default): {PAYING_CARD} pays, "
    f"{DECLINED_CARD} is declined (402 payment_declined); a number that fails the Luhn check is a typo "
    "(422 invalid_card). Not sent when Stripe is configured: the browser confirms the payment with "
    "Stripe.js (POST /api/holds/{hold_id}/payment) and card numbers never reach livedrop."
)


class BuyerDetailsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: Annotated[str, Field(min_length=3, max_length=320)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    shipping: ShippingIn
    phone: Annotated[str, Field(max_length=40)] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not valid_email(value):
            raise ValueError("is not an email address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"\+?[0-9 ()./-]{4,40}", value):
            raise ValueError("is not a phone number")
        return value or None

    def details(self, card_number: str | None = None) -> CheckoutDetails:
        """The details checkout keeps; InvalidRequest (422) for a country that is not ISO 3166-1 or
        a US/CA address without a known state or province."""
        return CheckoutDetails(email=self.email, name=self.name, card_number=card_number,
                               shipping=check_address(self.shipping.model_dump(exclude_none=True)), phone=self.phone)


class CheckoutIn(BuyerDetailsIn):
    card_number: Annotated[str, Field(min_length=12, max_length=23, description=CARD_NUMBER_HELP)] | None = None

    @field_validator("card_number")
    @classmethod
    def _card(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = re.sub(r"[ -]", "", value)
        if not (digits.isascii() and digits.isdigit()) or not 12 <= len(digits) <= 19:
            raise ValueError("must be 12 to 19 digits")
        return digits


class BagCheckoutIn(CheckoutIn):
    """One checkout for several holds of the show's bag (docs/bag.md)."""

    hold_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]],
                        Field(min_length=1, max_length=MAX_BAG_HOLDS, description=(
                            f"the holds to pay for (1 to {MAX_BAG_HOLDS}, each once): one order, one payment, a line per hold"))]

    @field_validator("hold_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each hold may be listed once")
        return value


class PaymentIn(BuyerDetailsIn):
    payment_method: str | None = Field(None, pattern=r"^(pm|card|src)_[A-Za-z0-9_]{1,200}$", description=(
        "A payment method Stripe.js made in the browser (stripe.createPaymentMethod: pm_..., or the card_... of "
        "stripe.createToken): the server confirms the PaymentIntent with it. Without it, confirm with Stripe.js "
        "(stripe.confirmCardPayment(client_secret, ...))."))


class BagPaymentIn(PaymentIn):
    """Under Stripe: the bag's one payment (docs/bag.md), for the holds the bag checkout will pay."""

    hold_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]],
                        Field(min_length=1, max_length=MAX_BAG_HOLDS, description=(
                            f"the holds to pay for (1 to {MAX_BAG_HOLDS}, each once): the same list the bag checkout sends"))]

    @field_validator("hold_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each hold may be listed once")
        return value


def hold_request(data: Any) -> tuple[str, int, str | None]:
    """A buy press's body as (sku, quantity, pass). The shape nearly every press has, a stripped
    SKU, an in-range whole quantity and perhaps a pass, is checked here in a few comparisons;
    anything else goes through HoldIn, which is the rule and words the error
    (tests/web/test_hold_body.py checks that both agree)."""
    if type(data) is dict and "sku" in data and len(data) == 1 + ("quantity" in data) + ("pass" in data):
        sku, quantity, pass_token = data["sku"], data.get("quantity", 1), data.get("pass")
        if (type(sku) is str and 0 < len(sku) <= 64 and not sku[0].isspace() and not sku[-1].isspace()
                and type(quantity) is int and 1 <= quantity <= MAX_QUANTITY
                and (pass_token is None or (type(pass_token) is str and 0 < len(pass_token) <= MAX_PASS_CHARS
                                           and not pass_token[0].isspace() and not pass_token[-1].isspace()))):
            return sku, quantity, pass_token
    body = validate(HoldIn, data)
    return body.sku, body.quantity, body.pass_


class CreateHold:
    """POST /api/shows/{slug}/holds, the buy button: the route a drop hammers.

    A plain ASGI app under the same middleware as every route, not a Starlette endpoint: the
    Request object, the response classes and raising a refusal through the exception middleware
    cost more than the hold itself does in Redis. Rare refusals (no token, bad body) still raise
    ApiError; the answers a drop is made of (201, and the refusals ``Buying.hold`` returns as
    values: sold out, limit reached, rate limited...) are written here directly, with the same
    body and headers the refusal handler would give them.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Counted by answer and timed (live.metrics): two lookups and ~2.5 µs, no label built here.
        started = perf_counter()
        try:
            answer = await self._answer(scope, receive, send)
        except Refusal as refusal:
            HOLD_ANSWERS.count(refusal.code)
            raise
        except Exception:
            HOLD_ANSWERS.count("error")  # a fault (answered 503 unavailable by web.faults) or a bug
            raise
        HOLD_ANSWERS.count(answer)
        HOLD_SECONDS.observe(perf_counter() - started)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> str:
        """Answers the press; returns ``held`` or the refusal's code."""
        root = livedrop(scope)
        authorization = raw_key = None
        for name, value in scope["headers"]:  # one pass over the raw headers, no Headers object
            if name == b"authorization":
                authorization = value
            elif name == b"idempotency-key":
                raw_key = value
        buyer_id = require_scope_buyer(scope, authorization)
        key = raw_key.decode("latin-1") if raw_key else ""
        if not key:
            raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header (any unique string per buy press)")
        if len(key) > 255:
            raise ApiError(422, "invalid_request", "Idempotency-Key: at most 255 characters")
        sku, quantity, pass_token = hold_request(await receive_json(receive))
        # Counted per buyer (phones share carrier IPs) inside the hold script: no extra round
        # trip. A 10 s window lets a person press a few times a second, not a script a thousand
        # times.
        rate_limit = (max(1, root.settings.holds_per_buyer_per_minute // 6), 10_000)
        hold = await root.buying.hold(scope["path_params"]["slug"], sku, quantity, buyer_id, key, rate_limit, pass_token)
        if isinstance(hold, Refusal):
            retry_after = hold.retry_after_s
            headers = () if retry_after is None else ((b"retry-after", str(retry_after).encode()),)
            await send_json(send, hold.status, refusal_body(hold, scope_locale(scope)), headers)
            return hold.code
        await send_json(send, 201, orjson.dumps(hold.to_json()))
        return "held"


_REFUSAL_BODIES: dict[tuple[str, str, str], bytes] = {}


def refusal_body(refusal: Refusal, locale: str) -> bytes:
    """error_body, remembered: a drop answers "sold out" thousands of times a second in the same
    words. Refusal messages come from a small fixed set (one with details says them in its
    message too), in one of four languages; the bound is a guard, not a cache policy."""
    key = (refusal.code, refusal.message, locale)
    body = _REFUSAL_BODIES.get(key)
    if body is None:
        body = error_body(refusal.code, refusal_message(locale, refusal.code, refusal.message), refusal.details)
        if len(_REFUSAL_BODIES) < 256:
            _REFUSAL_BODIES[key] = body
    return body


async def release_hold(request: Request) -> Response:
    buyer_id = require_buyer(request)
    await livedrop(request).stock.release(request.path_params["hold_id"], buyer_id)  # 404 for an id of the wrong shape too
    return Response(status_code=204)


async def checkout(request: Request) -> JSONResponse:
    buyer_id = require_buyer(request)
    body = await parse(request, CheckoutIn)
    root = livedrop(request)
    # No card needed for a hold that costs nothing (a giveaway) or that captures a draw entry's
    # authorization: checkout asks for card_number itself, before it locks anything, when one is.
    details = _card_details(request, root, body, card_optional=True)
    order, created = await _counted(root.buying.checkout(request.path_params["hold_id"], buyer_id, details))
    return JSONResponse(order_json(order, receipt_url(order.id)), status_code=201 if created else 200)


async def _counted(paying: Awaitable[tuple[Order, bool]]) -> tuple[Order, bool]:
    """A checkout's answer, counted for /metrics by answer (live.metrics.CHECKOUT_ANSWERS)."""
    try:
        order, created = await paying
    except Refusal as refusal:
        CHECKOUT_ANSWERS.count(refusal.code)
        raise
    except Exception:
        CHECKOUT_ANSWERS.count("error")  # a fault (503 unavailable) or a bug
        raise
    CHECKOUT_ANSWERS.count("paid" if created else "replayed")
    return order, created


def _card_details(request: Request, root: Livedrop, body: CheckoutIn, payment_route: str = "/api/holds/{hold_id}/payment", *,
                  card_optional: bool = False) -> CheckoutDetails:
    """The checkout's details, the card number checked as the provider wants it."""
    if root.payments.confirms_in_browser:
        if body.card_number is not None:
            raise ApiError(422, "invalid_request", "card_number: not taken here; the payment is confirmed with Stripe.js "
                                                   f"(POST {payment_route}), so card numbers never reach this server")
    elif body.card_number is None:
        if not card_optional:
            raise ApiError(422, "invalid_request", "card_number: required")
    elif not luhn_valid(body.card_number):
        raise ApiError(422, "invalid_card", "card_number: check the number; it is not a valid card number (a digit may be mistyped)")
    # The page's language goes with the order: its emails speak it (docs/translations.md).
    return replace(body.details(body.card_number), locale=page_locale(request))


async def checkout_bag(request: Request) -> JSONResponse:
    """Pay for several holds of the show's bag at once: one order, a line per hold."""
    buyer_id = require_buyer(request)
    body = await parse(request, BagCheckoutIn)
    root = livedrop(request)
    order, created = await _counted(root.buying.checkout_bag(request.path_params["slug"], body.hold_ids, buyer_id,
                                                            _card_details(request, root, body, "/api/shows/{slug}/bag/payment",
                                                                          card_optional=True)))  # a bag of free holds needs none
    return JSONResponse(order_json(order, receipt_url(order.id)), status_code=201 if created else 200)


async def start_bag_payment(request: Request) -> JSONResponse:
    """The bag's one PaymentIntent for Stripe.js to confirm: lock every hold, write the pending
    order, make (or find again) the payment of the order's total; with payment_method, confirm it."""
    buyer_id = require_buyer(request)
    body = await parse(request, BagPaymentIn)
    root = livedrop(request)
    payment, order = await root.buying.start_bag_payment(request.path_params["slug"], body.hold_ids, buyer_id,
                                                         replace(body.details(), locale=page_locale(request)), body.payment_method)
    return _payment_answer(root, payment, order)


async def start_payment(request: Request) -> JSONResponse:
    """The hold's payment for the browser to confirm (Stripe): lock the hold, write the pending
    order, make (or find again) its PaymentIntent; with payment_method, confirm it here."""
    buyer_id = require_buyer(request)
    body = await parse(request, PaymentIn)
    root = livedrop(request)
    payment, order = await root.checkout.start_payment(request.path_params["hold_id"], buyer_id,
                                                       replace(body.details(), locale=page_locale(request)), body.payment_method)
    return _payment_answer(root, payment, order)


def _payment_answer(root: Livedrop, payment: PaymentStart | None, order: Order | None) -> JSONResponse:
    """A started payment for Stripe.js, or the order that already paid for it."""
    if order is not None:
        return JSONResponse({"status": "paid", "order_id": order.id, "receipt_url": receipt_url(order.id)})
    assert payment is not None and root.stripe is not None
    return JSONResponse({
        "payment_id": payment.payment_id,
        "client_secret": payment.client_secret,
        "publishable_key": root.stripe.publishable_key,
        "stripe_js_url": root.stripe.js_url,
        "status": payment.status,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
    })


# What POST .../payment answers (one hold's or the bag's).
PAYMENT_ANSWER: dict[str, Any] = {"type": "object", "properties": {
    "payment_id": {"type": "string"}, "client_secret": {"type": "string"},
    "publishable_key": {"type": "string"}, "stripe_js_url": {"type": "string"},
    "status": {"type": "string", "description": "Stripe's PaymentIntent status, or 'paid' with order_id"},
    "amount_cents": {"type": "integer"}, "currency": {"type": "string"},
    "order_id": {"type": "string"}, "receipt_url": {"type": "string"}},
    "required": ["status"]}

# The buy button's route, apart: web.app puts it first of all routes.
buy_route = api(CreateHold(), Operation("POST", "/api/shows/{slug}/holds", "Hold units of a SKU on sale in a live show (the buy button).", "buyer",
              HoldIn, headers=("Idempotency-Key",),
              answers={201: "{hold_id, sku, quantity, price_cents, currency, offer_id, expires_at, remaining}"},
              errors=("sold_out", "insufficient_stock", "limit_reached", "not_on_sale", "no_pass", "pass_expired", "pass_not_yours", "unknown_sku", "idempotency_key_required",
                      "idempotency_conflict", "rate_limited", "unavailable", "malformed_json", "invalid_request",
                      "unauthorized", "not_found"),
              responses={201: {"content": json_content("Hold")}}))

routes = [
    api(checkout_bag, Operation("POST", "/api/shows/{slug}/bag/checkout",
              "Pay for several holds of the show's bag in one checkout: one order, one payment, a line per hold "
              "(docs/bag.md). The same call again returns the same order.", "buyer",
              BagCheckoutIn, answers={201: "The order (status paid), a line per hold.", 200: "The same order again (a retry)."},
              errors=("hold_expired", "payment_declined", "invalid_card", "sold_out_after_all", "limit_reached", "not_shipped_to",
                      "hold_locked", "bag_mixed", "bag_conflict", "payment_incomplete", "not_found", "unavailable",
                      "malformed_json", "invalid_request", "unauthorized"),
              responses={201: {"content": json_content("Order")}, 200: {"content": json_content("Order")}})),
    api(start_bag_payment, Operation("POST", "/api/shows/{slug}/bag/payment",
              "Stripe: start (or find again) the bag's one payment, for the order's total, for Stripe.js to confirm; "
              "then POST /api/shows/{slug}/bag/checkout without a card number (docs/bag.md).", "buyer",
              BagPaymentIn, answers={200: "{payment_id, client_secret, publishable_key, stripe_js_url, status, amount_cents, currency}, "
                                          "or {status: paid, order_id, receipt_url} when the bag is paid for already."},
              errors=("payment_not_in_browser", "payment_declined", "unknown_payment_method", "hold_expired", "limit_reached",
                      "not_shipped_to", "hold_locked", "bag_mixed", "bag_conflict", "not_found", "unavailable", "malformed_json",
                      "invalid_request", "unauthorized"),
              responses={200: {"content": {"application/json": {"schema": PAYMENT_ANSWER}}}})),
    api(release_hold, Operation("DELETE", "/api/holds/{hold_id}", "Let a hold go; its units are back in stock.", "buyer",
              answers={204: "Released."}, errors=("not_found", "hold_locked", "unauthorized"))),
    api(checkout, Operation("POST", "/api/holds/{hold_id}/checkout", "Pay for a hold. The same call again returns the same order.", "buyer",
              CheckoutIn, answers={201: "The order (status paid).", 200: "The same order again (a retry)."},
              errors=("hold_expired", "payment_declined", "payment_incomplete", "invalid_card", "sold_out_after_all", "limit_reached", "not_shipped_to",
                      "hold_locked", "bag_conflict", "not_found", "unavailable", "malformed_json", "invalid_request", "unauthorized"),
              responses={201: {"content": json_content("Order")}, 200: {"content": json_content("Order")}})),
    api(start_payment, Operation("POST", "/api/holds/{hold_id}/payment",
              "Stripe: start (or find again) the hold's payment for Stripe.js to confirm; then check out without a card number.", "buyer",
              PaymentIn, answers={200: "{payment_id, client_secret, publishable_key, stripe_js_url, status, amount_cents, currency}, "
                                       "or {status: paid, order_id, receipt_url} when the hold is paid for already."},
              errors=("payment_not_in_browser", "payment_declined", "unknown_payment_method", "hold_expired", "limit_reached", "not_shipped_to", "hold_locked",
                      "bag_conflict", "not_found", "unavailable", "malformed_json", "invalid_request", "unauthorized"),
              responses={200: {"content": {"application/json": {"schema": PAYMENT_ANSWER}}}})),
]
