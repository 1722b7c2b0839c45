"""Payments: the ``PaymentProvider`` protocol checkout needs, and the built-in test provider.

A provider must be idempotent on the key: the same key always answers the same charge and never
charges twice. Checkout uses ``<hold id>:<attempt>`` as the key, so a retried or recovered
checkout finds the charge it made instead of making another.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from inventory import keys, redis_replies
from inventory.clock import now_ms
from inventory.scripts import SCRIPTS

PAYING_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


@dataclass(frozen=True)
class Charge:
    id: str
    status: str  # 'paid' | 'declined' | 'refunded'
    amount_cents: int
    currency: str
    decline_code: str = ""  # 'card_declined' | 'invalid_card' when declined
    created: bool = False  # True when this call made the charge (False: found an earlier one)

    @property
    def paid(self) -> bool:
        return self.status == "paid"


class PaymentProvider(Protocol):
    async def charge(self, idempotency_key: str, amount_cents: int, currency: str, card_number: str) -> Charge:
        """Charge once per key; a declined card is a Charge with status 'declined' (no exception)."""
        ...

    async def refund(self, charge_id: str) -> Charge | None: ...

    async def find_charge(self, idempotency_key: str) -> Charge | None: ...


class TestPaymentProvider:
    """The built-in provider: 4242424242424242 pays, 4000000000000002 is declined
    (card_declined), any other number is declined as invalid_card.

    Charges are kept in Redis (``ld:{charges}:c:<key>``, 30 days), in their own hash tag: every
    process sees them, and a retry or the recovery sweeper on another process finds them. Give it
    a Redis that outlives the stock Redis if you want it to act like an external provider (the
    tests do); in production a real provider replaces it.
    """

    __test__ = False  # not a pytest test class, despite the name
    TTL_MS = 30 * 24 * 3600 * 1000

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def charge(self, idempotency_key: str, amount_cents: int, currency: str, card_number: str) -> Charge:
        digits = "".join(ch for ch in str(card_number) if ch.isdigit())
        if digits == PAYING_CARD:
            status, code = "paid", ""
        elif digits == DECLINED_CARD:
            status, code = "declined", "card_declined"
        else:
            status, code = "declined", "invalid_card"
        charge_id = "ch_" + secrets.token_urlsafe(12)
        flat, created = await SCRIPTS["charge"].call(
            self.redis,
            [keys.charge(idempotency_key), keys.CHARGE_IDS],
            [charge_id, status, int(amount_cents), currency, digits[-4:], code, now_ms(), self.TTL_MS],
        )
        return _charge(flat, created=bool(created))

    async def find_charge(self, idempotency_key: str) -> Charge | None:
        flat = await redis_replies.hgetall(self.redis, keys.charge(idempotency_key))
        return _charge(flat) if flat else None

    async def refund(self, charge_id: str) -> Charge | None:
        key = await redis_replies.hget(self.redis, keys.CHARGE_IDS, charge_id)
        if key is None:
            return None
        # HSET of one field is atomic; refunding twice is harmless.
        if await self.redis.hget(key, "status") == "paid":
            await self.redis.hset(key, "status", "refunded")
        flat = await redis_replies.hgetall(self.redis, key)
        return _charge(flat) if flat else None


def _charge(raw: list[str] | dict[str, str], created: bool = False) -> Charge:
    data = raw if isinstance(raw, dict) else {raw[i]: raw[i + 1] for i in range(0, len(raw), 2)}
    return Charge(
        id=data["id"],
        status=data["status"],
        amount_cents=int(data["amount_cents"]),
        currency=data["currency"],
        decline_code=data.get("decline_code", ""),
        created=created,
    )
