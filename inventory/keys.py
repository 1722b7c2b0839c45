"""Where inventory keeps things in Redis. Every key of one product shares the hash tag {p<id>},
so a script can touch all of them atomically in Redis Cluster too.

    ld:{p<id>}:ver               string  version, bumped whenever available stock changes
    ld:{p<id>}:loaded            hash    sku -> units loaded (SQL Variant.stock)
    ld:{p<id>}:avail             hash    sku -> units available to hold
    ld:{p<id>}:sold              hash    sku -> units sold; units in live holds (held or locked) are
                                         loaded - avail - sold, not kept (one write less per hold)
    ld:{p<id>}:buyers            hash    buyer id -> units held + bought (per-customer limit); field
                                         '~' (no buyer) keeps it a hash table (common.lua's
                                         buyers_as_table, docs/hold-script.md)
    ld:{p<id>}:emails            hash    email -> units in checkout + bought (per-email limit)
    ld:{p<id>}:offer_used        hash    offer id -> units held + sold at the offer price, and
                                         c:<offer id> -> its cap (units at offer price; -1: every unit)
    ld:{p<id>}:hold:<hold id>    hash    one hold: r (packed, see common.lua) + fields later steps set
    ld:{p<id>}:due               zset    hold id -> when the sweeper must look at it (ms)
    ld:{p<id>}:sold_recent       zset    hold id -> commit time, sold records kept for reconcile
    ld:{p<id>}:unsold            hash    refund:<order>:<n> -> 1, restocks already in the counters
    ld:{p<id>}:recon             string  reconcile fence token
    ld:{p<id>}:loading           string  one process is loading the product (ensure_loaded)
    ld:{p<id>}:b:<buyer>         hash    the buyer's record of this product (hold.lua), a day after
                                         their last hold: r = presses in the rate-limit window
                                         ("count end_ms"), i:<Idempotency-Key> = that hold's answer
                                         (fields joined by \x1e), h:<hold id> = their holds
    ld:{ld}:products             set     product ids loaded into Redis (the sweeper's list)
    ld:{ld}:epoch                string  set by reconcile; missing means Redis came back empty
    ld:{charges}:c:<key>         hash    the test payment provider's charges
    ld:{charges}:ids             hash    charge id -> its charge's key (refunds)
    ld:{charges}:r:<refund key>  string  a refund made with that key (the test provider; never twice)
    ld:{charges}:rl:<charge id>  list    the charge's refunds, "<refund id>:<cents>", oldest first
    ld:{webhooks}:e:<event id>   string  a payment webhook's event, seen (deduplication, 30 days)

Global keys share the hash tag {ld}, so in a Redis Cluster they sit in one known slot (one
primary) instead of wherever their names hash (docs/redis-cluster.md lists every key's slot).
"""

from __future__ import annotations

import secrets

GLOBAL_TAG = "{ld}"
PRODUCTS = "ld:{ld}:products"
EPOCH = "ld:{ld}:epoch"
CHARGE_IDS = "ld:{charges}:ids"


def prefix(product_id: int) -> str:
    return f"ld:{{p{int(product_id)}}}:"


def version(product_id: int) -> str:
    return prefix(product_id) + "ver"


def hold(product_id: int, hold_id: str) -> str:
    return prefix(product_id) + "hold:" + hold_id


def buyer_record(product_id: int, buyer_id: str) -> str:
    """The buyer's record of this product (hash): ``h:<hold id>`` fields index their holds."""
    return prefix(product_id) + "b:" + buyer_id


def charge(idempotency_key: str) -> str:
    return "ld:{charges}:c:" + idempotency_key


def refund(idempotency_key: str) -> str:
    return "ld:{charges}:r:" + idempotency_key


def refund_list(charge_id: str) -> str:
    return "ld:{charges}:rl:" + charge_id


def webhook_event(event_id: str) -> str:
    return "ld:{webhooks}:e:" + event_id


def new_hold_id(product_id: int) -> str:
    """``<product id>.<96 random bits, URL-safe base64>``: unguessable, and names its product."""
    return f"{int(product_id)}.{secrets.token_urlsafe(12)}"


def product_of_hold(hold_id: str) -> int:
    """Hold ids are ``<product id>.<random>``: the product (and so the key) is in the id.
    Raises ValueError for anything else."""
    head, sep, tail = hold_id.partition(".")
    if not sep or not tail or not (head.isascii() and head.isdigit()) or len(hold_id) > 64:  # "١" is a digit too
        raise ValueError(f"not a hold id: {hold_id!r}")
    return int(head)
