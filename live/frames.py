"""Frames on the wire: JSON text, every one with ``type`` and ``ts`` (server time, ms).

A frame is encoded once per process and the same ``str`` goes to every connection. The shapes
below are the ones docs/protocol.md describes; the TypedDicts only name them for the type checker
(at run time they are plain dicts, encoded as before).
"""

from __future__ import annotations

import json
from typing import Any, Literal, NotRequired, TypedDict

from inventory.clock import now_ms

# Lasting events carry a gap-free seq and are kept in the show's stream; the rest are state.
LASTING_TYPES = frozenset({"show", "pin", "unpin", "offer", "chat", "chat_deleted", "bag", "chat_pin"})


# -- the objects frames carry ------------------------------------------------------------------


class ShowJson(TypedDict):
    """A show as viewers (and the HTTP API) see it: ``live.shows.show_json``."""

    slug: str
    title: str
    status: str  # scheduled | live | ended
    scheduled_at: int | None
    started_at: int | None
    ended_at: int | None
    stream_url: str | None  # None: livedrop's own WHEP
    stream_kind: str | None  # hls | whep | None


class OfferJson(TypedDict):
    """An offer: ``live.offers.offer_json``; the ``offer`` event's fields, and the snapshot's offers."""

    id: int
    product_id: int
    title: str | None
    price_cents: int
    currency: str | None
    starts_at: int
    ends_at: int
    quantity: int | None  # None: every unit
    remaining: int | None
    per_customer_limit: int
    hold_s: int
    state: str  # scheduled | live | ended
    mode: str  # open | queue (| draw)
    admit_per_minute: int | None  # queue offers: places let in per minute
    commitment: str | None  # queue offers: hex sha256 of the seed, from the start
    seed: str | None  # queue offers: the shuffle's seed, hex, from starts_at (live.queue_order)
    # Draw offers (docs/draws.md): the entry window is starts_at..ends_at, named as the issue names it.
    claim_minutes: int | None  # how long a winner has to claim
    authorize: bool  # an entry authorizes the price on the card
    entries_open_at: NotRequired[int]
    entries_close_at: NotRequired[int]
    giveaway: NotRequired[bool]
    buyers_only: NotRequired[bool]


class ChatMessageJson(TypedDict):
    """A chat message: ``live.chat.message_json``; the ``chat`` event's fields, and the snapshot's chat."""

    id: int
    buyer_id: str  # a viewer's buyer id; staff messages: "host-<id>"
    name: str
    text: str
    ts: int
    role: NotRequired[str]  # "host" | "moderator": the badge (docs/host-chat.md)
    reply_to: NotRequired[dict[str, Any]]  # {"id", "name", "text"}: the message it answers


class SoldJson(TypedDict):
    """One sale in the purchase ticker (kept in Redis by ``live.presence``; a ``sold`` frame's fields)."""

    sku: str
    quantity: int
    name: NotRequired[str]  # the buyer's first name, when known


# -- lasting events: the fields Hub.publish is given (the stream adds seq, media_ms, type, ts) ----


class ShowEventFields(ShowJson):
    show: ShowJson  # the same object again


class PinEventFields(TypedDict):
    product_id: int
    product: dict[str, Any]  # inventory.catalog.product_json, plus "offer_id" (its live offer or None)
    stock: dict[str, int]  # sku -> units available at pin time


class UnpinEventFields(TypedDict):
    product_id: int


class ChatDeletedEventFields(TypedDict):
    id: int


class BagEventFields(TypedDict):
    """The show's bag changed: every product in it (the pinned one first) and their stock."""

    products: list[dict[str, Any]]
    stock: dict[str, int]


class ChatPinEventFields(TypedDict):
    """The message pinned on every screen; None: unpinned."""

    message: ChatMessageJson | None


class VideoEventFields(TypedDict):
    on: bool  # the show's own video (WHIP) started (True) or stopped (False): play it, or stop asking


class DrawWinnerJson(TypedDict):
    entry_id: str
    sku: str
    rank: int
    name: NotRequired[str]  # giveaways: the winner's display name ("" when they have none)


class DrawEventFields(TypedDict):
    """A draw ran (live.draws): every screen shows the result. A giveaway names its winners; a
    draw's entrants ask for their own status (GET .../entries/me)."""

    offer_id: int
    giveaway: bool
    drawn_at: int | None
    entries: int
    won: int
    winners: list[DrawWinnerJson]
    audit_url: str


EventFields = (ShowEventFields | PinEventFields | UnpinEventFields | OfferJson | ChatMessageJson | ChatDeletedEventFields
               | BagEventFields | ChatPinEventFields | VideoEventFields | DrawEventFields)


# -- the snapshot ------------------------------------------------------------------------------


class Snapshot(TypedDict):
    """The first frame of a new connection; GET /api/shows/{slug} without ``type`` and ``ts``."""

    type: Literal["snapshot"]
    ts: int
    seq: int  # the last lasting event it includes
    server_time: int
    show: ShowJson
    pinned: dict[str, Any] | None  # the product with its variants and "offer_id"
    offers: list[OfferJson]  # scheduled and live
    stock: dict[str, int]  # sku -> units available
    viewers: int
    reactions: dict[str, int]  # emoji -> total
    chat: list[ChatMessageJson]  # the last 50 messages
    bag: list[dict[str, Any]]  # the show's bag: products with variants and "offer_id", the pinned one first (docs/bag.md)
    pinned_message: ChatMessageJson | None  # the chat message pinned on every screen (docs/host-chat.md)
    video: bool  # the show's own video (WHIP) is on now; `video` events say when that changes


# -- state frames (no seq) ---------------------------------------------------------------------


class StockFrame(TypedDict):
    type: Literal["stock"]
    ts: int
    stock: dict[str, int]  # sku -> units available, for the products whose stock moved
    offers: NotRequired[dict[str, int | None]]  # offer id -> units left at its price (capped offers)


class ViewersFrame(TypedDict):
    type: Literal["viewers"]
    ts: int
    viewers: int


class ReactionsFrame(TypedDict):
    type: Literal["reactions"]
    ts: int
    reactions: dict[str, int]


class SoldFrame(SoldJson):
    type: Literal["sold"]
    ts: int


class PongFrame(TypedDict):
    type: Literal["pong"]
    ts: int


class ErrorFrame(TypedDict):
    type: Literal["error"]
    ts: int
    code: str
    message: str


def dumps(value: Any) -> str:
    # Compact separators: a frame goes to thousands of sockets, every byte counts that often.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# One function per state frame, each stamped with the server time now.


def stock_frame(counts: dict[str, int], offers: dict[str, int | None] | None = None) -> str:
    """``offers`` only when some offer has a cap (an empty one is left out)."""
    frame: StockFrame = {"type": "stock", "ts": now_ms(), "stock": counts}
    if offers:
        frame["offers"] = offers
    return dumps(frame)


class QueueLineJson(TypedDict):
    offer_id: int
    admitted_upto: int  # places 1..admitted_upto are let in
    length: int  # everyone who joined
    ranked: bool  # the line was shuffled (from starts_at): places are known


class QueueFrame(TypedDict):
    type: Literal["queue"]
    ts: int
    queues: list[QueueLineJson]  # one per open queue offer of the show


def queue_frame(lines: list[QueueLineJson]) -> str:
    frame: QueueFrame = {"type": "queue", "ts": now_ms(), "queues": lines}
    return dumps(frame)


def viewers_frame(count: int) -> str:
    frame: ViewersFrame = {"type": "viewers", "ts": now_ms(), "viewers": count}
    return dumps(frame)


def reactions_frame(totals: dict[str, int]) -> str:
    frame: ReactionsFrame = {"type": "reactions", "ts": now_ms(), "reactions": totals}
    return dumps(frame)


def sold_frame(sale: SoldJson) -> str:
    frame: SoldFrame = {"type": "sold", "ts": now_ms(), **sale}
    return dumps(frame)


def pong_frame() -> str:
    frame: PongFrame = {"type": "pong", "ts": now_ms()}
    return dumps(frame)


def error_frame(code: str, message: str) -> str:
    frame: ErrorFrame = {"type": "error", "ts": now_ms(), "code": code, "message": message}
    return dumps(frame)


def seq_of(frame: str) -> int | None:
    """The seq of an encoded lasting-event frame. Lasting frames start with ``{"seq":N,`` (the
    publish script puts it first), so this never parses the whole frame."""
    if frame.startswith('{"seq":'):
        end = frame.index(",", 7)
        return int(frame[7:end])
    return None
