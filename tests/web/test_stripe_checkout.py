"""Checkout with LIVEDROP_PAYMENTS=stripe, through the real app in-process, against localstripe
(never the real Stripe). Where a browser would confirm with Stripe.js, the tests confirm on the
server with localstripe's test payment method (pm_card_visa)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from inventory.stripe_payments import StripeProvider, sign_webhook
from tests.conftest import STRIPE_PUBLISHABLE_KEY, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
from web.settings import Settings, SettingsError

from .buying import auth, checkout_body, hold, live_show_with_product, new_buyer


@pytest.fixture
async def stripe_app(settings: Settings, redis: aioredis.Redis, engine: AsyncEngine, sessions: async_sessionmaker,
                     localstripe: str) -> AsyncIterator[Any]:
    from web.app import create_app
    from web.services import Services

    stripe_settings = settings.with_overrides(
        payments="stripe", stripe_secret_key=STRIPE_SECRET_KEY, stripe_publishable_key=STRIPE_PUBLISHABLE_KEY,
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET, stripe_api_base=localstripe,
    )
    application = create_app(stripe_settings, Services(stripe_settings, redis, engine, sessions), run_jobs=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(stripe_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=stripe_app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def provider_of(app: Any) -> StripeProvider:
    stripe = app.state.livedrop.stripe
    assert stripe is not None
    return stripe


def details() -> dict[str, Any]:
    body = checkout_body()
    del body["card_number"]
    return body


async def held(http: httpx.AsyncClient, host_token: str, stock: int = 3) -> tuple[str, str, dict[str, Any]]:
    slug, _ = await live_show_with_product(http, host_token, {"AUR-42": stock})
    buyer = await new_buyer(http, "Kim")
    made = await hold(http, slug, buyer, "AUR-42")
    assert made.status_code == 201, made.text
    return slug, buyer, made.json()


async def paid_orders(http: httpx.AsyncClient, host_token: str, slug: str) -> list[dict[str, Any]]:
    orders = (await http.get(f"/api/shows/{slug}/orders", headers=auth(host_token))).json()["orders"]
    return [o for o in orders if o["status"] == "paid"]


async def test_hold_payment_confirm_checkout_is_one_paid_order(http: httpx.AsyncClient, stripe_app: Any, host_token: str) -> None:
    slug, buyer, the_hold = await held(http, host_token)
    hold_id = the_hold["hold_id"]
    started = await http.post(f"/api/holds/{hold_id}/payment", json=details(), headers=auth(buyer))
    assert started.status_code == 200, started.text
    payment = started.json()
    assert payment["client_secret"].startswith(payment["payment_id"]) and payment["publishable_key"] == STRIPE_PUBLISHABLE_KEY
    assert payment["stripe_js_url"].endswith("/js.stripe.com/v3/") and payment["status"] == "requires_payment_method"
    assert (payment["amount_cents"], payment["currency"]) == (12900, "USD")
    pi = (await provider_of(stripe_app).client.v1.payment_intents.retrieve_async(payment["payment_id"])).to_dict()
    assert pi["metadata"]["hold_id"] == hold_id and pi["amount"] == 12900

    again = (await http.post(f"/api/holds/{hold_id}/payment", json=details(), headers=auth(buyer))).json()
    assert again["payment_id"] == payment["payment_id"], "the same payment again, not a second one"

    early = await http.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))
    assert early.status_code == 402 and early.json()["error"]["code"] == "payment_incomplete", early.text
    with_card = await http.post(f"/api/holds/{hold_id}/checkout", json=checkout_body(), headers=auth(buyer))
    assert with_card.status_code == 422 and with_card.json()["error"]["message"].startswith("card_number"), with_card.text

    confirmed = await http.post(f"/api/holds/{hold_id}/payment", json={**details(), "payment_method": "pm_card_visa"},
                                headers=auth(buyer))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text

    paid = await http.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    order = paid.json()
    assert order["status"] == "paid" and order["total_cents"] == 12900
    retry = await http.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))
    assert retry.status_code == 200 and retry.json()["order_id"] == order["order_id"]
    after = await http.post(f"/api/holds/{hold_id}/payment", json=details(), headers=auth(buyer))
    assert after.json() == {"status": "paid", "order_id": order["order_id"], "receipt_url": order["receipt_url"]}
    assert [o["order_id"] for o in await paid_orders(http, host_token, slug)] == [order["order_id"]]
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 2


def webhook(pi: dict[str, Any], event_id: str | None = None, at: int | None = None,
            secret: str = STRIPE_WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"id": event_id or f"evt_{uuid.uuid4().hex[:14]}", "object": "event",
                         "type": "payment_intent.succeeded", "data": {"object": pi}})
    return body, {"Stripe-Signature": sign_webhook(body, secret, at), "Content-Type": "application/json"}


async def confirmed_without_checkout(http: httpx.AsyncClient, app: Any, host_token: str) -> tuple[str, str, dict[str, Any]]:
    """The server 'killed' between the charge and the order: the payment went through (the
    browser confirmed it), and checkout was never called."""
    slug, buyer, the_hold = await held(http, host_token)
    confirmed = await http.post(f"/api/holds/{the_hold['hold_id']}/payment",
                                json={**details(), "payment_method": "pm_card_visa"}, headers=auth(buyer))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text
    pi = (await provider_of(app).client.v1.payment_intents.retrieve_async(confirmed.json()["payment_id"])).to_dict()
    return slug, the_hold["hold_id"], pi


async def test_the_webhook_finishes_a_paid_checkout_once_and_forged_or_replayed_ones_change_nothing(
    http: httpx.AsyncClient, stripe_app: Any, host_token: str,
) -> None:
    slug, hold_id, pi = await confirmed_without_checkout(http, stripe_app, host_token)
    assert await paid_orders(http, host_token, slug) == []

    forged_body, forged = webhook(pi, secret="whsec_not_ours")
    answer = await http.post("/webhooks/stripe", content=forged_body, headers=forged)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "webhook_signature_invalid"
    old_body, old = webhook(pi, at=int(time.time()) - 600)
    answer = await http.post("/webhooks/stripe", content=old_body, headers=old)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "webhook_too_old"
    unsigned = await http.post("/webhooks/stripe", content=old_body)
    assert unsigned.status_code == 400 and unsigned.json()["error"]["code"] == "webhook_signature_invalid"
    assert await paid_orders(http, host_token, slug) == []

    body, headers = webhook(pi, event_id="evt_finish_1")
    answer = await http.post("/webhooks/stripe", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json() == {"received": True}
    [order] = await paid_orders(http, host_token, slug)
    assert order["total_cents"] == 12900 and (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 2

    replay = await http.post("/webhooks/stripe", content=body, headers=headers)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    body2, headers2 = webhook(pi)  # Stripe sends the same news again under a new event id
    assert (await http.post("/webhooks/stripe", content=body2, headers=headers2)).status_code == 200
    assert [o["order_id"] for o in await paid_orders(http, host_token, slug)] == [order["order_id"]]
    refunds = (await provider_of(stripe_app).client.v1.refunds.list_async({"payment_intent": pi["id"]})).to_dict()["data"]
    assert refunds == []


async def test_the_sweeper_finishes_a_paid_checkout(http: httpx.AsyncClient, stripe_app: Any, host_token: str) -> None:
    slug, hold_id, _ = await confirmed_without_checkout(http, stripe_app, host_token)
    # The hold-expiry job hands a hold to recover() once its lock deadline has passed.
    assert await stripe_app.state.livedrop.checkout.recover(hold_id) == "completed"
    assert await stripe_app.state.livedrop.checkout.recover(hold_id) == "sold"
    [order] = await paid_orders(http, host_token, slug)
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 2


async def test_recovery_of_an_unpaid_checkout_cancels_its_payment(http: httpx.AsyncClient, stripe_app: Any, host_token: str) -> None:
    slug, buyer, the_hold = await held(http, host_token)
    payment = (await http.post(f"/api/holds/{the_hold['hold_id']}/payment", json=details(), headers=auth(buyer))).json()
    assert await stripe_app.state.livedrop.checkout.recover(the_hold["hold_id"]) == "unlocked"
    pi = (await provider_of(stripe_app).client.v1.payment_intents.retrieve_async(payment["payment_id"])).to_dict()
    assert pi["status"] == "canceled", "a late confirmation cannot pay for a dropped checkout"
    assert await paid_orders(http, host_token, slug) == []
    # The buyer can start again: a new attempt, a new payment.
    fresh = (await http.post(f"/api/holds/{the_hold['hold_id']}/payment", json={**details(), "payment_method": "pm_card_visa"},
                             headers=auth(buyer))).json()
    assert fresh["payment_id"] != payment["payment_id"] and fresh["status"] == "succeeded"
    paid = await http.post(f"/api/holds/{the_hold['hold_id']}/checkout", json=details(), headers=auth(buyer))
    assert paid.status_code == 201, paid.text


async def test_a_payment_for_a_hold_with_no_checkout_left_is_refunded(http: httpx.AsyncClient, stripe_app: Any,
                                                                       host_token: str) -> None:
    slug, buyer, the_hold = await held(http, host_token)
    provider = provider_of(stripe_app)
    params: Any = {"amount": 12900, "currency": "usd", "metadata": {"hold_id": the_hold["hold_id"], "attempt": "0"},
                   "payment_method": "pm_card_visa", "confirm": True}
    pi = (await provider.client.v1.payment_intents.create_async(params)).to_dict()
    body, headers = webhook(pi)
    assert (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200
    assert await paid_orders(http, host_token, slug) == []
    refunds = (await provider.client.v1.refunds.list_async({"payment_intent": pi["id"]})).to_dict()["data"]
    assert len(refunds) == 1


async def test_an_unknown_payment_method_or_one_not_a_card_is_refused_and_the_payment_stays_open(
    http: httpx.AsyncClient, stripe_app: Any, host_token: str,
) -> None:
    slug, buyer, the_hold = await held(http, host_token)
    hold_id = the_hold["hold_id"]
    provider = provider_of(stripe_app)
    sepa = (await provider.client.v1.payment_methods.create_async(
        {"type": "sepa_debit", "sepa_debit": {"iban": "DE89370400440532013000"}})).to_dict()  # type: ignore[arg-type]
    for payment_method, words in (("pm_nosuchthing", "no such payment method"), (sepa["id"], "cards only")):
        answer = await http.post(f"/api/holds/{hold_id}/payment", json={**details(), "payment_method": payment_method},
                                 headers=auth(buyer))
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "unknown_payment_method" and error["message"].startswith("payment_method") and words in error["message"]
    shape = await http.post(f"/api/holds/{hold_id}/payment", json={**details(), "payment_method": "iban DE89"}, headers=auth(buyer))
    assert shape.status_code == 422 and shape.json()["error"]["code"] == "invalid_request"
    # Nothing was confirmed or charged: the hold's one PaymentIntent is still open, for a card.
    [pi] = [p for p in (await provider.client.v1.payment_intents.list_async({"limit": 100})).to_dict()["data"]
            if p["metadata"].get("hold_id") == hold_id]
    assert pi["status"] == "requires_payment_method" and not pi.get("payment_method")
    paid = await http.post(f"/api/holds/{hold_id}/payment", json={**details(), "payment_method": "pm_card_visa"}, headers=auth(buyer))
    assert paid.status_code == 200 and paid.json()["payment_id"] == pi["id"] and paid.json()["status"] == "succeeded"
    assert (await http.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))).status_code == 201
    assert len(await paid_orders(http, host_token, slug)) == 1


async def test_the_test_provider_refuses_a_mistyped_card_and_has_no_browser_payment(client: httpx.AsyncClient,
                                                                                    host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"S1": 2})
    buyer = await new_buyer(client)
    hold_id = (await hold(client, slug, buyer, "S1")).json()["hold_id"]
    typo = await client.post(f"/api/holds/{hold_id}/checkout", json=checkout_body(card="4242424242424241"), headers=auth(buyer))
    assert typo.status_code == 422 and typo.json()["error"]["code"] == "invalid_card", typo.text
    assert "check the number" in typo.json()["error"]["message"]
    no_card = await client.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))
    assert no_card.status_code == 422 and no_card.json()["error"]["message"].startswith("card_number")
    payment = await client.post(f"/api/holds/{hold_id}/payment", json=details(), headers=auth(buyer))
    assert payment.status_code == 409 and payment.json()["error"]["code"] == "payment_not_in_browser"
    assert (await client.post("/webhooks/stripe", content=b"{}")).status_code == 404
    paid = await client.post(f"/api/holds/{hold_id}/checkout", json=checkout_body(), headers=auth(buyer))
    assert paid.status_code == 201


@pytest.mark.parametrize(("env", "message"), [
    ({"LIVEDROP_PAYMENTS": "paypal"}, "LIVEDROP_PAYMENTS"),
    ({"LIVEDROP_PAYMENTS": "stripe"}, "STRIPE_SECRET_KEY: required"),
    ({"LIVEDROP_PAYMENTS": "stripe", "STRIPE_SECRET_KEY": "pk_test_x"}, "STRIPE_SECRET_KEY: is not"),
    ({"LIVEDROP_PAYMENTS": "stripe", "STRIPE_SECRET_KEY": "sk_test_x"}, "STRIPE_PUBLISHABLE_KEY: required"),
    ({"LIVEDROP_PAYMENTS": "stripe", "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_x"}, "live key"),
    ({"LIVEDROP_PAYMENTS": "stripe", "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
      "STRIPE_WEBHOOK_SECRET": "nope"}, "STRIPE_WEBHOOK_SECRET"),
    ({"LIVEDROP_PAYMENTS": "stripe", "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
      "STRIPE_API_BASE": "localhost:8420"}, "STRIPE_API_BASE"),
])
def test_stripe_settings_are_checked(tmp_path: Any, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), **env})
    assert message in str(caught.value)
    assert "sk_live_x" not in str(caught.value) and "sk_test_x" not in str(caught.value)


def test_stripe_secrets_are_not_in_the_settings_repr(tmp_path: Any) -> None:
    settings = Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), "LIVEDROP_PAYMENTS": "stripe",
                                  "STRIPE_SECRET_KEY": "sk_test_verysecret", "STRIPE_PUBLISHABLE_KEY": "pk_test_public",
                                  "STRIPE_WEBHOOK_SECRET": "whsec_alsosecret"})
    assert settings.payments == "stripe" and settings.stripe_secret_key == "sk_test_verysecret"
    assert "verysecret" not in repr(settings) and "alsosecret" not in repr(settings)


async def test_a_partial_refund_with_restock_goes_through_stripe_once(http: httpx.AsyncClient, stripe_app: Any,
                                                                     host_token: str) -> None:
    """The order's life on localstripe: one unit of two refunded (a partial refund of the
    PaymentIntent) and put back on sale; the same request again refunds nothing more; the rest
    refunded without restock empties the payment."""
    slug, _ = await live_show_with_product(http, host_token, {"AUR-42": 3})
    buyer = await new_buyer(http, "Kim")
    made = await hold(http, slug, buyer, "AUR-42", 2)
    assert made.status_code == 201, made.text
    hold_id = made.json()["hold_id"]
    confirmed = await http.post(f"/api/holds/{hold_id}/payment", json={**details(), "payment_method": "pm_card_visa"},
                                headers=auth(buyer))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text
    order = (await http.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))).json()
    assert order["status"] == "paid" and order["total_cents"] == 25800
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 1
    provider = provider_of(stripe_app)

    async def refunded_at_stripe() -> int:
        pi = (await provider.client.v1.payment_intents.retrieve_async(
            confirmed.json()["payment_id"], {"expand": ["latest_charge"]})).to_dict()
        return int(pi["latest_charge"]["amount_refunded"] or 0)

    line = order["lines"][0]["line_id"]
    headers = {**auth(host_token), "Idempotency-Key": "stripe-refund-1"}
    one = await http.post(f"/api/orders/{order['order_id']}/refund",
                          json={"lines": [{"line_id": line, "quantity": 1}], "restock": True}, headers=headers)
    assert one.status_code == 200, one.text
    assert one.json()["status"] == "partially_refunded" and one.json()["refunded_cents"] == 12900
    assert await refunded_at_stripe() == 12900
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 2, "the unit is back on sale"

    again = await http.post(f"/api/orders/{order['order_id']}/refund",
                            json={"lines": [{"line_id": line, "quantity": 1}], "restock": True}, headers=headers)
    assert again.status_code == 200 and again.json() == one.json()
    assert await refunded_at_stripe() == 12900, "a retried refund is not made twice"

    rest = await http.post(f"/api/orders/{order['order_id']}/refund", json={"restock": False}, headers=auth(host_token))
    assert rest.status_code == 200 and rest.json()["status"] == "refunded", rest.text
    assert await refunded_at_stripe() == 25800
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 2
    over = await http.post(f"/api/orders/{order['order_id']}/refund", json={}, headers=auth(host_token))
    assert over.status_code == 409 and over.json()["error"]["code"] == "invalid_state"


async def test_a_webhook_before_the_buyers_checkout_makes_one_order_and_tells_the_ticker_once(
    http: httpx.AsyncClient, stripe_app: Any, host_token: str,
) -> None:
    """Stripe.js confirmed in the browser and Stripe's webhook came before the buyer's own
    checkout call: the webhook makes the order and the purchase ticker hears of it; the buyer's
    call then answers that order (200), and nothing is told twice."""
    from live import keys as live_keys

    slug, buyer, the_hold = await held(http, host_token)
    hold_id = the_hold["hold_id"]
    confirmed = await http.post(f"/api/holds/{hold_id}/payment", json={**details(), "payment_method": "pm_card_visa"},
                                headers=auth(buyer))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text
    root = stripe_app.state.livedrop
    pi = (await provider_of(stripe_app).client.v1.payment_intents.retrieve_async(confirmed.json()["payment_id"])).to_dict()
    body, headers = webhook(pi)
    assert (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200
    [order] = await paid_orders(http, host_token, slug)
    made = await root.checkout.order_for_hold(hold_id)
    assert made is not None and made.id == order["order_id"]
    ticker = await root.services.redis.lrange(live_keys.sold(made.show_id), 0, -1)
    assert [orjson.loads(t) for t in ticker] == [{"sku": "AUR-42", "quantity": 1, "name": "Kim"}]

    buyer_call = await http.post(f"/api/holds/{hold_id}/checkout", json=details(),
                                 headers=auth(buyer))
    assert buyer_call.status_code == 200 and buyer_call.json()["order_id"] == order["order_id"], buyer_call.text
    body2, headers2 = webhook(pi)  # the same news under another event id
    assert (await http.post("/webhooks/stripe", content=body2, headers=headers2)).status_code == 200
    assert len(await root.services.redis.lrange(live_keys.sold(made.show_id), 0, -1)) == 1
    assert [o["order_id"] for o in await paid_orders(http, host_token, slug)] == [order["order_id"]]
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 2



# -- a hold that expires during 3-D Secure -----------------------------------------------------------

HOLD_S = 2


@pytest.fixture
async def short_holds(settings: Settings, redis: aioredis.Redis, engine: AsyncEngine, sessions: async_sessionmaker,
                      localstripe: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The Stripe app with holds of HOLD_S seconds, so one can run out while the buyer is in 3-D Secure."""
    from web.app import create_app
    from web.services import Services

    short = settings.with_overrides(
        payments="stripe", stripe_secret_key=STRIPE_SECRET_KEY, stripe_publishable_key=STRIPE_PUBLISHABLE_KEY,
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET, stripe_api_base=localstripe, hold_seconds=HOLD_S,
    )
    application = create_app(short, Services(short, redis, engine, sessions), run_jobs=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application, client


async def in_three_d_secure(app: Any, http: httpx.AsyncClient, host_token: str) -> tuple[str, str, str, dict[str, Any]]:
    """A hold whose payment waits for 3-D Secure (localstripe's 4000 0025 0000 3155), then the
    hold's time runs out while the buyer is still in the bank's window."""
    slug, buyer, the_hold = await held(http, host_token)
    card = (await provider_of(app).client.v1.payment_methods.create_async({"type": "card", "card": {
        "number": "4000002500003155", "exp_month": 12, "exp_year": 2040, "cvc": "123"}})).to_dict()  # type: ignore[arg-type]
    started = await http.post(f"/api/holds/{the_hold['hold_id']}/payment", json={**details(), "payment_method": card["id"]},
                              headers=auth(buyer))
    assert started.status_code == 200 and started.json()["status"] == "requires_action", started.text
    await asyncio.sleep(HOLD_S + 0.5)
    assert (await app.state.livedrop.checkout.get_hold(the_hold["hold_id"])).expires_at < time.time() * 1000
    return slug, buyer, the_hold["hold_id"], started.json()


async def finish_three_d_secure(localstripe: str, payment: dict[str, Any]) -> httpx.Response:
    """What Stripe.js does when the buyer passes the bank's check (localstripe's stand-in)."""
    async with httpx.AsyncClient() as client:
        return await client.post(f"{localstripe}/v1/payment_intents/{payment['payment_id']}/_authenticate", data={
            "client_secret": payment["client_secret"], "success": "true", "key": STRIPE_PUBLISHABLE_KEY})


async def test_a_hold_that_expires_in_3ds_is_let_go_and_its_payment_cancelled_so_nothing_is_charged(
    short_holds: tuple[Any, httpx.AsyncClient], host_token: str, localstripe: str,
) -> None:
    """The buyer is still in 3-D Secure when the hold runs out and its checkout's lock deadline
    passes: the hold-expiry job's recovery cancels the PaymentIntent and gives the unit back. The
    bank's late yes is refused by Stripe, the checkout is 410: no order, no charge, no refund needed."""
    app, http = short_holds
    slug, buyer, hold_id, payment = await in_three_d_secure(app, http, host_token)
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 2, "locked: the sweeper leaves it"
    assert (await app.state.livedrop.checkout.sweep()).outcomes.get(hold_id) is None

    assert await app.state.livedrop.checkout.recover(hold_id) == "released"  # what the sweeper does at the lock deadline
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 3
    late = await finish_three_d_secure(localstripe, payment)
    assert late.status_code == 400, late.text
    pi = (await provider_of(app).client.v1.payment_intents.retrieve_async(payment["payment_id"])).to_dict()
    assert pi["status"] == "canceled"
    answer = await http.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))
    assert answer.status_code == 410 and answer.json()["error"]["code"] == "hold_expired", answer.text
    assert await paid_orders(http, host_token, slug) == [] and await app.state.livedrop.checkout.order_for_hold(hold_id) is None


async def test_a_3ds_yes_after_the_hold_ran_out_but_within_its_checkout_lock_sells_the_reserved_unit(
    short_holds: tuple[Any, httpx.AsyncClient], host_token: str, localstripe: str,
) -> None:
    """The bank says yes after the hold's own time but before its checkout's lock deadline: the
    locked hold still reserves its unit (no sweeper returned it), so the payment stands and the
    webhook makes the one order (the design's checkout order: lock, charge, order, sold)."""
    app, http = short_holds
    slug, buyer, hold_id, payment = await in_three_d_secure(app, http, host_token)
    await app.state.livedrop.checkout.sweep()
    assert (await finish_three_d_secure(localstripe, payment)).status_code == 200
    pi = (await provider_of(app).client.v1.payment_intents.retrieve_async(payment["payment_id"])).to_dict()
    assert pi["status"] == "succeeded"
    body, headers = webhook(pi)
    assert (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200
    [order] = await paid_orders(http, host_token, slug)
    again = await http.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))
    assert again.status_code == 200 and again.json()["order_id"] == order["order_id"], again.text
    assert (await http.get(f"/api/shows/{slug}")).json()["stock"]["AUR-42"] == 2
    assert await app.state.livedrop.checkout.recover(hold_id) == "sold"


async def test_a_draw_win_that_authorized_at_entry_is_captured_not_paid_again(
    http: httpx.AsyncClient, stripe_app: Any, host_token: str,
) -> None:
    """A draw entry authorized the money with Stripe: the winner's page starts the payment as for
    any hold (POST .../payment), and is answered with the order made by capturing that
    authorization; no PaymentIntent of the hold is made, so nothing is paid twice."""
    slug, product = await live_show_with_product(http, host_token, {"DR-1": 1})
    made = await http.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 5000, "mode": "draw", "authorize": True,
        "entries_close_at": int(time.time() * 1000) + 600_000})
    assert made.status_code == 201, made.text
    offer_id = made.json()["id"]
    buyer = await new_buyer(http, "Kim")
    # Under Stripe a card number never reaches livedrop: the entry takes Stripe.js's payment method.
    refused = await http.post(f"/api/shows/{slug}/offers/{offer_id}/entries", headers=auth(buyer),
                              json={"sku": "DR-1", "email": "kim@example.com", "card_number": "4242424242424242"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request", refused.text
    assert "card_number" in refused.json()["error"]["message"]
    entered = await http.post(f"/api/shows/{slug}/offers/{offer_id}/entries", headers=auth(buyer),
                              json={"sku": "DR-1", "email": "kim@example.com", "payment_method": "pm_card_visa"})
    assert entered.status_code == 201, entered.text
    drawn = await http.post(f"/api/shows/{slug}/offers/{offer_id}/draw", headers=auth(host_token))
    assert drawn.status_code == 200 and len(drawn.json()["winners"]) == 1, drawn.text
    mine = (await http.get(f"/api/shows/{slug}/offers/{offer_id}/entries/me", headers=auth(buyer))).json()
    hold_id = mine["hold_id"]

    started = await http.post(f"/api/holds/{hold_id}/payment", json=details(), headers=auth(buyer))
    assert started.status_code == 200 and started.json()["status"] == "paid", started.text
    order_id = started.json()["order_id"]
    finished = await http.post(f"/api/holds/{hold_id}/checkout", json=details(), headers=auth(buyer))
    assert finished.status_code == 200 and finished.json()["order_id"] == order_id, finished.text
    provider = provider_of(stripe_app)
    assert await provider.find_charge(f"{hold_id}:0") is None  # no PaymentIntent of the hold
    [order] = await paid_orders(http, host_token, slug)
    stored = await stripe_app.state.livedrop.checkout.get_order(order_id)
    captured = await provider.get_charge(stored.payment_id)
    assert captured is not None and captured.status == "paid" and captured.amount_cents == order["total_cents"] == 5000
