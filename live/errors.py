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


class ModeratorNotAllowed(LiveError):
    """A moderator of the show asked for something only its host may do (products, offers, the
    bag, the show itself, moderators): docs/host-chat.md."""

    code, status, default_message = (
        "moderator_not_allowed", 403,
        "moderators may post, reply, pin a message, delete and mute; only the show's host changes products and offers",
    )


class ShowNotEnded(LiveError):
    code, status, default_message = "show_not_ended", 409, "the chat can be downloaded once the show has ended"
# -- draws (live.draws, docs/draws.md) -------------------------------------------------------------


class NotADraw(LiveError):
    code, status, default_message = "not_a_draw", 409, "this offer is not a draw: press Buy (or join its line) instead"


class DrawNotOpen(LiveError):
    code, status, default_message = "draw_not_open", 409, "entries to this draw are not open yet: come back at entries_open_at"


class DrawClosed(LiveError):
    code, status, default_message = "draw_closed", 409, "entries to this draw are closed"


class AlreadyEntered(LiveError):
    code, status, default_message = "already_entered", 409, "you have already entered this draw: one entry per buyer"


class EmailAlreadyEntered(LiveError):
    code, status, default_message = "email_already_entered", 409, "this email address has already entered this draw: one entry per person"


class CardAlreadyEntered(LiveError):
    code, status, default_message = "card_already_entered", 409, "this card has already entered this draw: one entry per card"


class NotEntered(LiveError):
    code, status, default_message = "not_entered", 404, "you have not entered this draw: POST .../entries first"


class AlreadyDrawn(LiveError):
    """The host voids an entry after the draw: the pick is published, nothing in it may move."""

    code, status, default_message = "already_drawn", 409, "this draw has run: its entries can no longer be voided"


class BuyersOnly(LiveError):
    code, status, default_message = "buyers_only", 403, (
        "this giveaway is for this shop's buyers: it takes entries from people with a paid order from this host"
    )
