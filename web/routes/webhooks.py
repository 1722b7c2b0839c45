"""``POST /webhooks/stripe``: Stripe's word that a payment went through.

Checked first (the ``Stripe-Signature`` header signs the raw body with STRIPE_WEBHOOK_SECRET, within
five minutes of our clock: ``inventory.stripe_payments``), deduplicated by the event's id, answered
at once, and handled after the answer (Stripe waits only seconds for it): a
``payment_intent.succeeded`` finishes a checkout the server stopped between the charge and the
order, or one whose buyer has not called checkout yet (``Buying.payment_succeeded``: the order
and the purchase ticker). If the handling itself dies, the hold-expiry job settles
the checkout from the same PaymentIntent when its lock runs out (docs/payments.md).
"""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse

from inventory.stripe_payments import PaymentEvent
from web.errors import ApiError
from web.livedrop import Livedrop, livedrop
from web.openapi import Operation, api

log = logging.getLogger("livedrop.webhooks")
HANDLED = ("payment_intent.succeeded",)


async def stripe_webhook(request: Request) -> JSONResponse:
    root = livedrop(request)
    if root.stripe is None:
        raise ApiError(404, "not_found", "Stripe is not this server's payment provider (LIVEDROP_PAYMENTS)")
    event = root.stripe.webhook_event(await request.body(), request.headers.get("stripe-signature"))
    if not await root.checkout.first_delivery(event.id):
        return JSONResponse({"received": True, "duplicate": True})
    if event.type in HANDLED and event.hold_id:
        return JSONResponse({"received": True}, background=BackgroundTask(handle, root, event))
    return JSONResponse({"received": True})


async def handle(root: Livedrop, event: PaymentEvent) -> None:
    assert event.hold_id is not None
    try:
        outcome = await root.buying.payment_succeeded(event.hold_id, event.payment_id)
        log.info("stripe %s %s (hold %s): %s", event.type, event.id, event.hold_id, outcome)
    except Exception:  # the sweeper settles it when the hold's lock runs out
        log.exception("stripe %s %s (hold %s) failed", event.type, event.id, event.hold_id)


routes = [
    api(stripe_webhook, Operation(
        "POST", "/webhooks/stripe",
        "Stripe's webhook endpoint (payment_intent.succeeded), signed with STRIPE_WEBHOOK_SECRET.",
        request_body={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        headers=("Stripe-Signature",),
        answers={200: "{received: true} (duplicate: true for an event already seen); handled after the answer."},
        errors=("webhook_signature_invalid", "webhook_too_old", "malformed_json", "not_found"),
        responses={200: {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "received": {"type": "boolean"}, "duplicate": {"type": "boolean"}}, "required": ["received"]}}}}},
    )),
]
