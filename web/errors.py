"""Errors on the wire: ``{"error": {"code", "message"}}`` with a fitting status.

Codes are stable (integrations branch on them); ``ERROR_CODES`` lists every one for the OpenAPI
document. The message is said in the request's language (German, Polish, Finnish; English is the
raised message itself): web.refusal_language. Every layer refuses the same way (inventory.errors.Refusal: a code, a status, a
message): inventory's and live's refusals and web's own ``ApiError`` are raised anywhere under a
route, or returned as values on the hot path, and rendered here by one handler.
"""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from inventory.errors import Refusal
from live.i18n import DEFAULT_LOCALE
from web.page_locale import page_locale
from web.refusal_language import refusal_message

ERROR_CODES: dict[str, str] = {
    "malformed_json": "The body is not valid JSON (400).",
    "invalid_request": "A valid body that breaks the rules; the message names the field (422).",
    "unauthorized": "No valid host token or session (401).",
    "csrf_failed": "A session request without the matching CSRF header (403).",
    "not_found": "No such resource, or not yours (404).",
    "method_not_allowed": "The route exists but not with this method (405).",
    "sku_taken": "That SKU is used by another of your products (409).",
    "slug_taken": "That show slug is taken (409).",
    "email_taken": "A host with that email exists (409).",
    "invalid_state": "The show, offer or order is not in a state that allows this (an order refunded or cancelled already, cancelled after it shipped, delivered before it shipped) (409).",
    "refund_exceeds_paid": "The refund asks for more units than are left unrefunded on that line of the order (422).",
    "refund_failed": "The payment provider did not make the refund (or did not answer); nothing changed, and asking again finishes it with the same key (502).",
    "sold_out": "No units of that SKU are left (409).",
    "in_stock": "The size is on sale right now: buy it instead of joining its waiting list (409).",
    "offer_closed": "The back-in-stock offer is over: bought, declined or past its deadline (409).",
    "limit_reached": "The per-customer limit is reached (409).",
    "thread_closed": "The seller closed this conversation; they can reopen it (409).",
    "blocked": "The seller does not take messages from this buyer, or the host blocked the buyer it writes to (403).",
    "message_too_long": "A thread message over 2,000 characters (422).",
    "insufficient_stock": "Fewer units are left than the hold asks for; the error carries units_left (409).",
    "offer_above_list": "An offer's price is above the product's list price: it would be shown as a deal it is not (422).",
    "offer_overlaps": "Another offer on the same product runs at the same time (409).",
    "not_on_sale": "The product is neither pinned nor in a live offer of a live show (409).",
    "unknown_sku": "No variant with that SKU in this show (404).",
    "idempotency_key_required": "The Idempotency-Key header is missing (400).",
    "idempotency_conflict": "The Idempotency-Key was used with another body (422).",
    "hold_expired": "The hold expired or no longer exists; hold again (410).",
    "hold_locked": "The hold is being checked out right now (409).",
    "payment_declined": "The card was declined; the hold stays until it expires (402).",
    "invalid_card": "The card number fails the Luhn check: a digit is mistyped; check the number (422).",
    "payment_incomplete": "Stripe: the hold's payment has not gone through yet (not started, or it needs a card or 3-D Secure); confirm it with Stripe.js and check out again (402).",
    "unknown_payment_method": "Stripe: the payment_method does not exist (mistyped, or another account's) or is not a card; nothing was confirmed or charged, the payment stays open for a card made with Stripe.js (422).",
    "payment_not_in_browser": "POST .../payment on a server whose provider takes the card number at checkout (the test provider) (409).",
    "webhook_signature_invalid": "A webhook whose Stripe-Signature does not sign its body with the webhook secret; nothing was done (400).",
    "webhook_too_old": "A webhook signed more than 5 minutes from the server's clock (a replay); nothing was done (400).",
    "shopify_hmac_invalid": "A Shopify webhook whose X-Shopify-Hmac-Sha256 does not sign its body with the secret of the shop X-Shopify-Shop-Domain names (or no such shop is connected); nothing was done (401).",
    "shop_taken": "That Shopify shop is connected to another host (409).",
    "not_shipped_to": "The seller's shipping profile does not ship to the address's country; nothing was locked or charged, the hold stays (422).",
    "sold_out_after_all": "The payment went through but the size had sold out after all (Redis had come back behind); the payment is refunded (409).",
    "rate_limited": "Too many requests; wait and retry (429).",
    "payload_too_large": "The body is too large (413).",
    "unavailable": "A backing service does not answer (503).",
    "malformed_sdp": "The body is not a usable SDP offer (400).",
    "unsupported_media_type": "The body's Content-Type is not the one the route takes (415).",
    "stream_taken": "The show already has a publisher; DELETE its session first (409).",
    "media_full": "This media process carries as many viewers as it can; retry later (503).",
    "action_refused": "MediaMTX asked about an action livedrop never allows (api, metrics, pprof) (403).",
    "metrics_forbidden": "/metrics was asked from an address not in LIVEDROP_METRICS_ADDRESSES and without the bearer LIVEDROP_METRICS_TOKEN (403).",
    "hook_forbidden": "The MediaMTX hook was called from an address not trusted and without the shared secret (403).",
    "no_pass": "A hold on a queue offer without a valid pass of this buyer: join the line and hold with the pass from .../queue/me (403).",
    "pass_expired": "The waiting room's pass ran out unused (2 minutes after admission); the place went to the next in line (403).",
    "pass_not_yours": "The pass was given to another buyer (403).",
    "not_a_queue": "The offer has no waiting room (it sells first come) (409).",
    "queue_closed": "The offer has ended; its line is closed (409).",
    "not_in_queue": "The buyer has not joined this offer's line (404).",
    "not_a_draw": "The offer is not a draw (409).",
    "draw_not_open": "The draw's entries are not open yet: come back at entries_open_at (409).",
    "draw_closed": "The draw's entries are closed (409).",
    "already_entered": "This buyer has already entered the draw: one entry per buyer (409).",
    "email_already_entered": "This email address has already entered the draw: one entry per person (409).",
    "card_already_entered": "This card has already entered the draw: one entry per card (409).",
    "not_entered": "The buyer has not entered this draw (404).",
    "already_drawn": "The draw has run: its entries can no longer be voided (409).",
    "buyers_only": "The giveaway is for buyers only: the buyer has no paid order from this host (403).",
    "pow_required": "The waiting room asks for proof of work: solve GET .../queue/challenge and send it as pow (403).",
    "pow_invalid": "The proof of work is wrong, expired, or for another buyer or offer: fetch a new challenge (403).",
    "pow_off": "This server asks no proof of work (LIVEDROP_QUEUE_POW is 0): there is no challenge; join with {} (404).",
    "webhook_url_invalid": "A webhook URL that is not http(s), carries a user or password, or uses http:// to anything but a loopback receiver (or at all in production) (422).",
    "webhook_url_too_long": "A webhook URL over 2048 characters (422).",
    "webhook_url_private": "A webhook URL whose host resolves to a private, loopback, link-local or reserved address; an operator may allow them with LIVEDROP_WEBHOOK_ALLOW_PRIVATE=1 (422).",
    "internal_error": "Something failed on our side (500).",
    "bag_mixed": "A bag checkout lists holds of another show or in another currency: one checkout is one order and one payment (422).",
    "bag_conflict": "A hold of the bag is paid, or being paid, by another checkout; reload the bag (409).",
    "moderator_not_allowed": "A moderator of the show asked for what only its host may do: products, offers, the bag, the show, moderators (403).",
    "show_not_ended": "The chat can be downloaded once the show has ended (409).",
}


class ApiError(Refusal):
    """A refusal of web's own (no token, bad CSRF, a malformed body...), with its status and code
    given where it is raised. Raised like any Refusal; ``refusal_handler`` renders it."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 retry_after_s: int | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers
        self.retry_after_s = retry_after_s


def error_body(code: str, message: str, details: dict[str, int] | None = None) -> bytes:
    """The body of every error answer; the hold route writes it itself (see web.routes.holds).
    ``details`` are more fields of the error object beside code and message (units_left)."""
    assert code in ERROR_CODES, code
    return orjson.dumps({"error": {"code": code, "message": message, **(details or {})}})


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   details: dict[str, int] | None = None) -> Response:
    return Response(error_body(code, message, details), status_code=status, headers=headers, media_type="application/json")


def refusal_headers(refusal: Refusal) -> dict[str, str] | None:
    """Retry-After where asking again later helps (429, 503), and any header of web's own."""
    headers = dict(getattr(refusal, "headers", None) or {})
    if refusal.retry_after_s is not None:
        headers["Retry-After"] = str(refusal.retry_after_s)
    return headers or None


def refusal_response(refusal: Refusal, locale: str = DEFAULT_LOCALE) -> Response:
    message = refusal_message(locale, refusal.code, refusal.message)
    return error_response(refusal.status, refusal.code, message, refusal_headers(refusal), refusal.details)


async def refusal_handler(request: Request, exc: Exception) -> Response:
    """Every layer's refusals (inventory.errors, live.errors, ApiError): one body, one place."""
    assert isinstance(exc, Refusal)
    return refusal_response(exc, page_locale(request))


_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request" if exc.status_code < 500 else "internal_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404:
        message = "not found"
    message = refusal_message(page_locale(request), code, message)
    return error_response(exc.status_code, code, message, getattr(exc, "headers", None))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal_error", refusal_message(page_locale(request), "internal_error",
                                                                   "something went wrong on our side; try again"))
