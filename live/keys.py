"""Where the hub keeps things in Redis. Every key of one show shares the hash tag {s<id>}, so the
publish script (seq + stream) stays atomic in Redis Cluster too.

    ld:{s<id>}:seq          string  the last seq handed out (gap-free, one per lasting event)
    ld:{s<id>}:events       stream  lasting events; entry id ``<seq>-0``, fields t (type), f (frame)
    ld:{s<id>}:viewers      hash    process id -> "<count>:<expires at ms>" (summed by every process)
    ld:{s<id>}:reactions    hash    emoji -> total
    ld:{s<id>}:sold         list    the newest sales, JSON, for the ticker (trimmed)
    ld:{s<id>}:sold_n       string  sales counter; processes poll it to see something new
    ld:{s<id>}:chat:<buyer> string  chat messages in the current 10 s window (rate limit)
    ld:{s<id>}:stream_start string  when the show's current video stream (and recording) started (ms);
                                    absent while it has none. Events are stamped against it (media_ms)
    ld:{s<id>}:replay_viewers zset  replay viewer id -> when its last heartbeat expires (ms)
    ld:{s<id>}:peak_viewers string  the most live viewers the show's figures have seen (live.report)
    ld:{s<id>}:visitors     hll     buyers who opened the show's page (live.visitors): unique viewers
    ld:{ld}:offers:due      zset    offer id -> when the offer clock must look at it (ms)
    ld:{ld}:offers:queues   zset    queue offer id -> its ends_at: the lines the admission clock raises
    ld:{s<id>}:wake:<proc>  stream  a process's stream reader wakes its blocked XREAD of this slot's shows
                                    (live.reader; tagged with a show of the slot, so one XREAD takes both)

A queue offer's waiting room (live.waiting_room) shares the hash tag {q<offer id>}:

    ld:{q<id>}:entries      list    "<entry id> <buyer id> <joined at ms>", in arrival order
    ld:{q<id>}:buyers       hash    buyer id -> "<entry id> <arrival n> <joined at ms>"
    ld:{q<id>}:ranks        hash    buyer id -> rank (entries that joined before starts_at; written then)
    ld:{q<id>}:state        hash    pre (how many were ranked), admitted_upto, carry, raised_at, rate
    ld:{q<id>}:admitted     zset    "<upto>:<at ms>" scored by upto: when each place was admitted
    ld:{q<id>}:admitted_at  zset    "<upto>" scored by when it was admitted
    ld:{q<id>}:used         zset    buyer id -> rank: passes that got a hold
    ld:{q<id>}:ip:<address> string  joins from one address in the current window
"""

from __future__ import annotations

OFFERS_DUE = "ld:{ld}:offers:due"  # the global tag of inventory.keys: one known cluster slot
QUEUE_OFFERS = "ld:{ld}:offers:queues"


def prefix(show_id: int) -> str:
    return f"ld:{{s{int(show_id)}}}:"


def seq(show_id: int) -> str:
    return prefix(show_id) + "seq"


def events(show_id: int) -> str:
    return prefix(show_id) + "events"


def viewers(show_id: int) -> str:
    return prefix(show_id) + "viewers"


def reactions(show_id: int) -> str:
    return prefix(show_id) + "reactions"


def sold(show_id: int) -> str:
    return prefix(show_id) + "sold"


def sold_count(show_id: int) -> str:
    return prefix(show_id) + "sold_n"


def chat_rate(show_id: int, buyer_id: str) -> str:
    return prefix(show_id) + "chat:" + buyer_id


def stream_start(show_id: int) -> str:
    return prefix(show_id) + "stream_start"


def replay_viewers(show_id: int) -> str:
    return prefix(show_id) + "replay_viewers"


def peak_viewers(show_id: int) -> str:
    return prefix(show_id) + "peak_viewers"


def page_visitors(show_id: int) -> str:
    return prefix(show_id) + "visitors"


def show_of_events_key(key: str) -> int:
    """The show id in an events key (the reader gets keys back from XREAD)."""
    return int(key.split("{s", 1)[1].split("}", 1)[0])


def queue(offer_id: int, part: str) -> str:
    """One key of offer ``offer_id``'s waiting room (see above for ``part``)."""
    return f"ld:{{q{int(offer_id)}}}:{part}"


def watching(show_id: int) -> str:
    """Buyers connected to the show's room: buyer id -> until when (ms), refreshed while connected
    (live.watchers; a giveaway's entrants must be watching when it closes)."""
    return prefix(show_id) + "watching"


def drawing(offer_id: int) -> str:
    """Held (SET NX, with an expiry) by the one task that runs a draw offer's draw right now: the
    host's "draw now" and the offer clock's tick one second later no longer both read and rank
    every entry (a draw of 100,000 entries ran twice at once, each at half speed)."""
    return f"ld:{{d{int(offer_id)}}}:drawing"
