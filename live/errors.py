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


# -- the waiting room (live.waiting_room, live.passes) ---------------------------------------------


class NoPass(LiveError):
    """A hold on a queue offer without a valid pass (none, forged, or for another offer)."""

    code, status, default_message = "no_pass", 403, (
        "this drop has a waiting room: join the line (POST .../queue) and hold with the pass you get when admitted"
    )


class PassExpired(LiveError):
    code, status, default_message = "pass_expired", 403, (
        "your pass expired: it is good for 2 minutes after you are admitted; your place went to the next in line"
    )


class PassNotYours(LiveError):
    code, status, default_message = "pass_not_yours", 403, "this pass was given to another buyer; passes cannot be shared"


class NotAQueue(LiveError):
    """Joining the line of an offer that has none (an open offer sells first come)."""

    code, status, default_message = "not_a_queue", 409, "this offer has no waiting room: press Buy while it is live"


class QueueClosed(LiveError):
    code, status, default_message = "queue_closed", 409, "this offer has ended; its line is closed"


class NotInQueue(LiveError):
    code, status, default_message = "not_in_queue", 404, "you have not joined this offer's line: POST .../queue first"
