"""live's refusals, shaped like inventory's (a stable code, a status, a message; see
inventory.errors.Refusal). The generic ones (NotFound, InvalidRequest, InvalidState, Unavailable)
are inventory's, reused here: one class per meaning in the whole house, so one handler in web
renders every refusal and no two classes share a name."""

from __future__ import annotations

from inventory.errors import Refusal


class LiveError(Refusal):
    code = "live_error"


class NotOnSale(LiveError):
    """The SKU is the show's, but it does not sell right now (not pinned, not in a live offer, or
    the show is not live)."""

    code, status, default_message = "not_on_sale", 409, "this product is neither pinned nor in a live offer"


class SlugTaken(LiveError):
    code, status, default_message = "slug_taken", 409, "that show slug is taken"


class OfferAboveList(LiveError):
    """Priced above the product's list price: the page would strike through the list price and
    show a "deal" that costs more."""

    code, status = "offer_above_list", 422


class OfferOverlaps(LiveError):
    """Another offer on the same product in this show runs at some of the same time: a buyer
    could not tell which price a press gets."""

    code, status = "offer_overlaps", 409
