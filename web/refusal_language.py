"""API refusals in the request's language (docs/translations.md): the ``error.code`` never changes
(integrations branch on it); ``error.message`` is said in the page's language (the switch's
cookie, else ``Accept-Language``: web.page_locale) when that is German, Polish or Finnish.

A refusal's English message is written where it is raised and often carries specifics (a SKU, a
limit, a field's rule) that no catalog can hold. So a translated answer says the code's sentence
below, a person's sentence from the gettext catalogs (live/locales), naming the field for
``invalid_request``. English answers keep the raised message word for word. A code without a
sentence (none today: tests/web/test_refusal_language.py fails on one) answers in English.
"""

from __future__ import annotations

import re

from starlette.requests import cookie_parser
from starlette.types import Scope

from live.i18n import COOKIE, DEFAULT_LOCALE, choose, tr
from web.page_locale import N_

# A leading "field: " of an invalid_request message (web.bodies.describe, InvalidRequest): a name
# from the request body (items.0.sku, Idempotency-Key), kept as it is in every language.
_FIELD = re.compile(r"^([A-Za-z_][\w.\-\[\]]{0,63}): ")
INVALID_FIELD = N_("Check %(field)s: it is missing or not valid.")

SENTENCES: dict[str, str] = {
    "malformed_json": N_("The request body is not valid JSON."),
    "invalid_request": N_("The request is not valid: check what was sent and try again."),
    "unauthorized": N_("Sign in first, or send a valid token."),
    "csrf_failed": N_("The page's security check failed: reload the page and try again."),
    "not_found": N_("This was not found, or it is not yours."),
    "method_not_allowed": N_("This address does not take this kind of request."),
    "sku_taken": N_("That SKU is already used by another of your products."),
    "slug_taken": N_("That show address is taken: choose another."),
    "email_taken": N_("An account with that email address exists already."),
    "invalid_state": N_("This is not possible now: the show, offer or order is not in a state that allows it."),
    "refund_exceeds_paid": N_("The refund asks for more units than are left to refund on that line."),
    "refund_failed": N_("The payment provider did not make the refund; nothing changed. Try again."),
    "sold_out": N_("Sold out: no units of this size are left."),
    "in_stock": N_("This size is on sale right now: buy it instead of joining the waiting list."),
    "offer_closed": N_("This back-in-stock offer is over."),
    "limit_reached": N_("You have reached the limit per customer for this item."),
    "thread_closed": N_("The seller closed this conversation."),
    "blocked": N_("This conversation takes no messages."),
    "message_too_long": N_("The message is too long: at most 2,000 characters."),
    "insufficient_stock": N_("Fewer units are left than you asked for: choose fewer."),
    "offer_above_list": N_("An offer's price cannot be above the product's list price."),
    "offer_overlaps": N_("Another offer on this product runs at the same time."),
    "not_on_sale": N_("This product is not on sale right now."),
    "unknown_sku": N_("There is no such size in this show."),
    "idempotency_key_required": N_("The request lacks its Idempotency-Key header."),
    "idempotency_conflict": N_("This Idempotency-Key was already used for another request."),
    "hold_expired": N_("Your reservation has expired: reserve the item again."),
    "hold_locked": N_("This reservation is being paid right now: wait a moment."),
    "payment_declined": N_("The card was declined. Try another card; your reservation stays until it expires."),
    "invalid_card": N_("The card number is not valid: check the digits."),
    "payment_incomplete": N_("The payment has not gone through yet: confirm it and try again."),
    "unknown_payment_method": N_("This payment method cannot be used: enter the card again."),
    "payment_not_in_browser": N_("This shop takes the card at checkout, not here."),
    "webhook_signature_invalid": N_("The webhook's signature is not valid; nothing was done."),
    "webhook_too_old": N_("The webhook is too old; nothing was done."),
    "shopify_hmac_invalid": N_("The Shopify webhook's signature is not valid; nothing was done."),
    "shop_taken": N_("That Shopify shop is connected to another account."),
    "not_shipped_to": N_("The seller does not ship to this country."),
    "sold_out_after_all": N_("The size sold out after all: your payment is refunded."),
    "rate_limited": N_("Too many requests: wait a moment and try again."),
    "payload_too_large": N_("The request is too large."),
    "unavailable": N_("Briefly unavailable: try again in a few seconds."),
    "malformed_sdp": N_("The video offer (SDP) cannot be used."),
    "unsupported_media_type": N_("This kind of content is not accepted here."),
    "stream_taken": N_("This show already has a video stream."),
    "media_full": N_("The video server is full right now: try again later."),
    "action_refused": N_("This action is not allowed."),
    "metrics_forbidden": N_("The metrics are not open to this address."),
    "hook_forbidden": N_("This call is not allowed from this address."),
    "no_pass": N_("Join the waiting line first: this item is sold to those let in."),
    "pass_expired": N_("Your turn ran out unused: the place went to the next in line."),
    "pass_not_yours": N_("This pass belongs to someone else."),
    "not_a_queue": N_("This offer has no waiting line."),
    "queue_closed": N_("The offer has ended: its line is closed."),
    "not_in_queue": N_("You have not joined this offer's line."),
    "not_a_draw": N_("This offer is not a draw."),
    "draw_not_open": N_("The draw's entries are not open yet."),
    "draw_closed": N_("The draw's entries are closed."),
    "already_entered": N_("You have already entered this draw."),
    "email_already_entered": N_("This email address has already entered the draw."),
    "card_already_entered": N_("This card has already entered the draw."),
    "not_entered": N_("You have not entered this draw."),
    "already_drawn": N_("The draw has run already."),
    "buyers_only": N_("This giveaway is for the seller's buyers only."),
    "pow_required": N_("The waiting room asks your browser for a quick check: try again."),
    "pow_invalid": N_("The waiting room's check failed: try again."),
    "pow_off": N_("This waiting room asks for no check."),
    "webhook_url_invalid": N_("The webhook URL is not valid: use an https:// address."),
    "webhook_url_too_long": N_("The webhook URL is too long."),
    "webhook_url_private": N_("The webhook URL points to a private address."),
    "internal_error": N_("Something went wrong on our side: try again."),
    "bag_mixed": N_("These items cannot be paid together: one checkout is one show and one currency."),
    "bag_conflict": N_("An item of your bag is already being paid: reload the bag."),
    "moderator_not_allowed": N_("Moderators cannot do this: only the show's host can."),
    "show_not_ended": N_("The chat can be downloaded once the show has ended."),
}


def refusal_message(locale: str, code: str, message: str) -> str:
    """The message of a refusal with ``code`` for a reader of ``locale``: ``message`` itself in
    English (or for a code without a sentence), else the code's sentence in that language."""
    if locale == DEFAULT_LOCALE or code not in SENTENCES:
        return message
    if code == "invalid_request" and (field := _FIELD.match(message)):
        return tr(locale, INVALID_FIELD, field=field.group(1))
    return tr(locale, SENTENCES[code])


def scope_locale(scope: Scope) -> str:
    """web.page_locale.page_locale for a bare ASGI scope (the buy route has no Request object):
    the switch's cookie, else Accept-Language, else English."""
    cookie = accept = None
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            cookie = cookie_parser(value.decode("latin-1")).get(COOKIE)
        elif name == b"accept-language":
            accept = value.decode("latin-1")
    return choose(cookie, accept)
