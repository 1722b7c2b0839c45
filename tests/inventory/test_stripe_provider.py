"""StripeProvider against localstripe (a fake Stripe server on loopback; never the real Stripe):
PaymentIntents made per hold with its id in metadata, found again by it, refunded once, authorized
and captured or voided, and webhooks checked the way Stripe signs them."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from inventory.payments import AUTHORIZED, INCOMPLETE, PAID, REFUNDED, VOIDED
from inventory.stripe_payments import (
    StripeProvider, WebhookMalformed, WebhookSignatureInvalid, WebhookTooOld, sign_webhook,
)
from tests.conftest import STRIPE_PUBLISHABLE_KEY, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET


@pytest.fixture
def provider(localstripe: str) -> StripeProvider:
    return StripeProvider(STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, webhook_secret=STRIPE_WEBHOOK_SECRET,
                          api_base=localstripe, max_network_retries=0)


def hold_id() -> str:
    return f"7.{uuid.uuid4().hex[:16]}"


async def test_a_payment_is_made_per_hold_with_its_id_in_metadata_and_found_by_it(provider: StripeProvider) -> None:
    hold = hold_id()
    started = await provider.start(f"{hold}:0", 12900, "USD")
    assert started.payment_id.startswith("pi_") and started.client_secret.startswith(started.payment_id)
    assert started.status == "requires_payment_method" and (started.amount_cents, started.currency) == (12900, "USD")
    pi = (await provider.client.v1.payment_intents.retrieve_async(started.payment_id)).to_dict()
    assert pi["metadata"] == {"hold_id": hold, "attempt": "0"}

    again = await provider.start(f"{hold}:0", 12900, "USD")
    assert again.payment_id == started.payment_id, "the same hold's open payment, not a second one"

    assert (await provider.charge(f"{hold}:0", 12900, "USD", None)).status == INCOMPLETE
    found = await provider.find_charge(f"{hold}:0")
    assert found is not None and found.id == started.payment_id and not found.paid

    confirmed = await provider.confirm(started.payment_id, "pm_card_visa")
    assert confirmed.paid
    # Any attempt of the hold counts: recovery looks by the hold id, never by the key alone.
    for key in (f"{hold}:0", f"{hold}:3"):
        charge = await provider.charge(key, 12900, "USD", None)
        assert charge.status == PAID and charge.id == started.payment_id
    assert (await provider.charge(f"{hold}:0", 999, "USD", None)).status == INCOMPLETE, "another amount is not this payment"
    assert (await provider.find_charge(f"{hold_id()}:0")) is None
    assert (await provider.settle(f"{hold}:0")).id == started.payment_id  # type: ignore[union-attr]


async def test_a_declined_card_leaves_the_payment_open_for_another(provider: StripeProvider) -> None:
    hold = hold_id()
    started = await provider.start(f"{hold}:0", 5000, "EUR")
    # localstripe declines 4000000000000341 when charging (Stripe's "attaches, then declines")
    declined = await provider.confirm(started.payment_id, "pm_card_chargeCustomerFail")
    assert declined.status == "requires_payment_method" and declined.decline_code == "card_declined"
    charge = await provider.charge(f"{hold}:0", 5000, "EUR", None)
    assert charge.status == INCOMPLETE and charge.decline_code == "card_declined"
    assert (await provider.start(f"{hold}:0", 5000, "EUR")).payment_id == started.payment_id
    # Stripe lets the same PaymentIntent be confirmed again with another card; localstripe does
    # not (its PaymentIntent stays requires_payment_method with a failed charge and refuses a
    # second confirm), so that step is not tested here (docs/payments.md).


async def test_settle_cancels_open_payments_so_a_late_confirmation_cannot_pay(provider: StripeProvider) -> None:
    hold = hold_id()
    started = await provider.start(f"{hold}:0", 1000, "USD")
    assert await provider.settle(f"{hold}:0") is None
    pi = (await provider.client.v1.payment_intents.retrieve_async(started.payment_id)).to_dict()
    assert pi["status"] == "canceled"
    charge = await provider.find_charge(f"{hold}:0")
    assert charge is not None and charge.status == VOIDED


async def test_refund_once(provider: StripeProvider) -> None:
    hold = hold_id()
    started = await provider.start(f"{hold}:0", 2500, "USD")
    await provider.confirm(started.payment_id, "pm_card_visa")
    refunded = await provider.refund(started.payment_id)
    assert refunded is not None and refunded.status == REFUNDED
    again = await provider.refund(started.payment_id)
    assert again is not None and again.status == REFUNDED
    refunds = (await provider.client.v1.refunds.list_async({"payment_intent": started.payment_id})).to_dict()["data"]
    assert len(refunds) == 1 and refunds[0]["amount"] == 2500
    assert (await provider.find_charge(f"{hold}:0")).status == REFUNDED  # type: ignore[union-attr]
    assert await provider.refund("pi_doesnotexist") is None


async def test_a_partial_refund_is_made_once_per_key_even_when_stripe_forgot_the_key(provider: StripeProvider) -> None:
    """Stripe forgets idempotency keys after 24 hours (localstripe never keeps them): a refund
    finished late with the same key finds the Refund it made by the key in its metadata."""
    hold = hold_id()
    started = await provider.start(f"{hold}:0", 3000, "USD")
    await provider.confirm(started.payment_id, "pm_card_visa")
    first = await provider.refund(started.payment_id, 1000, "refund:order-x:1")
    again = await provider.refund(started.payment_id, 1000, "refund:order-x:1")
    assert first is not None and again is not None and first.refunded_cents == again.refunded_cents == 1000
    second = await provider.refund(started.payment_id, 1000, "refund:order-x:2")
    assert second is not None and second.refunded_cents == 2000 and second.status == PAID
    rest = await provider.refund(started.payment_id, 5000, "refund:order-x:3")  # more than is left: what is left
    assert rest is not None and rest.refunded_cents == 3000 and rest.status == REFUNDED
    refunds = (await provider.client.v1.refunds.list_async({"payment_intent": started.payment_id})).to_dict()["data"]
    assert sorted(r["amount"] for r in refunds) == [1000, 1000, 1000]


async def test_two_paid_payments_of_one_hold_keep_one(provider: StripeProvider) -> None:
    """localstripe does not honour idempotency keys (Stripe does, for 24 h): two tabs could each
    make and pay a PaymentIntent. Checkout keeps the first and refunds the other: 0 double charges."""
    hold = hold_id()
    params = {"amount": 700, "currency": "usd", "metadata": {"hold_id": hold, "attempt": "0"},
              "payment_method": "pm_card_visa", "confirm": True}
    first = (await provider.client.v1.payment_intents.create_async(params)).to_dict()  # type: ignore[arg-type]
    second = (await provider.client.v1.payment_intents.create_async(params)).to_dict()  # type: ignore[arg-type]
    charge = await provider.charge(f"{hold}:0", 700, "USD", None)
    assert charge.paid and charge.id == min((first, second), key=lambda p: (p["created"], p["id"]))["id"]
    other = second["id"] if charge.id == first["id"] else first["id"]
    assert (await provider.refund(other)).status == REFUNDED  # type: ignore[union-attr]  # already refunded by charge()


async def test_authorize_then_capture_or_void(provider: StripeProvider) -> None:
    authorized = await provider.authorize(f"{hold_id()}:0", 4000, "USD", "pm_card_visa")
    assert authorized.status == AUTHORIZED and authorized.created
    captured = await provider.capture(authorized.id)
    assert captured.status == PAID
    assert (await provider.capture(authorized.id)).status == PAID, "capturing twice changes nothing"

    other = await provider.authorize(f"{hold_id()}:0", 4000, "USD", "pm_card_visa")
    voided = await provider.void(other.id)
    assert voided.status == VOIDED
    assert (await provider.void(other.id)).status == VOIDED

    declined = await provider.authorize(f"{hold_id()}:0", 4000, "USD", "pm_card_chargeCustomerFail")
    assert declined.status == "declined" and declined.decline_code == "card_declined"


async def test_a_draw_claim_captures_the_orders_total_within_the_authorization(provider: StripeProvider) -> None:
    """An entry authorizes the price and its shipping (live.draws); the claim captures the
    order's total: a total within it is captured exactly, one above it captures nothing (Stripe
    refuses an amount_to_capture above the amount) and checkout pays by card instead. The
    authorization names no hold in its metadata: a webhook must not take it for a hold's payment."""
    authorized = await provider.authorize(f"draw:de_{uuid.uuid4().hex[:16]}", 10600, "USD", "pm_card_visa")
    assert authorized.status == AUTHORIZED
    assert (await provider.capture(authorized.id, 11400)).status == AUTHORIZED, "above the authorization: nothing captured"
    captured = await provider.capture(authorized.id, 10600)
    assert captured.status == PAID and captured.id == authorized.id
    seen = await provider.get_charge(authorized.id)
    assert seen is not None and seen.status == PAID
    assert await provider.get_charge("pi_does_not_exist") is None
    assert await provider.find_charge("draw:0") is None, "no hold 'draw' to be found (and refunded) by a webhook"


def event_body(event_id: str = "evt_1", hold: str = "7.abc") -> bytes:
    return orjson.dumps({"id": event_id, "type": "payment_intent.succeeded",
                         "data": {"object": {"object": "payment_intent", "id": "pi_1", "metadata": {"hold_id": hold}}}})


def test_webhooks_are_checked_as_stripe_signs_them(provider: StripeProvider) -> None:
    body = event_body()
    event = provider.webhook_event(body, sign_webhook(body, STRIPE_WEBHOOK_SECRET))
    assert (event.id, event.type, event.payment_id, event.hold_id) == ("evt_1", "payment_intent.succeeded", "pi_1", "7.abc")

    with pytest.raises(WebhookSignatureInvalid):
        provider.webhook_event(body, sign_webhook(body, "whsec_someone_else"))
    with pytest.raises(WebhookSignatureInvalid):
        provider.webhook_event(body + b" ", sign_webhook(body, STRIPE_WEBHOOK_SECRET))
    with pytest.raises(WebhookSignatureInvalid):
        provider.webhook_event(body, None)
    with pytest.raises(WebhookTooOld) as old:
        provider.webhook_event(body, sign_webhook(body, STRIPE_WEBHOOK_SECRET, int(time.time()) - 301))
    assert old.value.status == 400 and old.value.code == "webhook_too_old"
    with pytest.raises(WebhookTooOld):  # signed "in the future": a clock that cannot be trusted either way
        provider.webhook_event(body, sign_webhook(body, STRIPE_WEBHOOK_SECRET, int(time.time()) + 301))
    with pytest.raises(WebhookMalformed):
        provider.webhook_event(b"[]", sign_webhook(b"[]", STRIPE_WEBHOOK_SECRET))
    assert "sk_" not in repr(provider) and "whsec" not in repr(provider)


async def test_stripe_not_answering_is_a_503_with_retry_after_never_a_500() -> None:
    """A Stripe that does not answer (here: a closed port on loopback) is the provider being away:
    503 unavailable with Retry-After through the one refusal handler, and every call is keyed, so
    the buyer's retry is safe."""
    from inventory.stripe_payments import ProviderUnavailable
    from tests.localstripe_server import free_port

    away = StripeProvider(STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, api_base=f"http://127.0.0.1:{free_port()}",
                          max_network_retries=0, timeout_s=2)
    for call in (away.start(f"{hold_id()}:0", 100, "USD"), away.charge(f"{hold_id()}:0", 100, "USD", None),
                 away.settle(f"{hold_id()}:0"), away.refund("pi_x", 100, "refund:x:1"), away.confirm("pi_x", "pm_card_visa")):
        with pytest.raises(ProviderUnavailable) as caught:
            await call
        assert (caught.value.status, caught.value.code, caught.value.retry_after_s) == (503, "unavailable", 5)
