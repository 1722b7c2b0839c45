"""A buyer's data rights (docs/privacy.md): what livedrop holds about a buyer, gathered for
download and removed on request, one ``Part`` per feature.

Each feature that keeps records about buyers registers one part in the composition root
(web.livedrop): it exports its records as JSON-ready dicts and erases them (removes them, or
anonymizes what the law makes us keep). Export and erasure walk the registry in order, so a
feature added later (draw entries) is covered by adding its part, not by editing this module.

``host_id``: None for the buyer's own request (everything, at every host); a host's request on a
buyer's behalf covers that host's records only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.clock import now_ms
from inventory.models import Buyer, Order


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: the buyer id, and what identifies them in records that predate
    or outlive the id (emails typed at checkout, names, street lines), found by the parts."""

    buyer_id: str
    pseudonym: str  # what the legally kept order fields carry instead of the buyer id after erasure
    host_id: int | None = None
    emails: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)


class Part(Protocol):
    """One feature's records about a buyer."""

    name: str  # the key of its records in the export ("orders", "messages", "draw_entries"...)

    async def find(self, subject: Subject) -> None:
        """Add the emails and names this part knows the buyer by (before export or erasure)."""

    async def export(self, subject: Subject) -> list[dict[str, Any]]: ...

    async def erase(self, subject: Subject) -> int:
        """Remove or anonymize; returns how many records it touched."""


def pseudonym_of(secret: str, buyer_id: str) -> str:
    """A stable pseudonymous id (the same buyer always gets the same one, nobody can go back)."""
    digest = hmac.new(secret.encode(), b"buyer:" + buyer_id.encode(), hashlib.sha256).hexdigest()
    return "anon_" + digest[:27]  # 32 characters: fits buyer_id columns


class PersonalData:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secret: str, parts: Sequence[Part]) -> None:
        self.sessions = sessions
        self.secret = secret
        self.parts = list(parts)

    def add(self, part: Part) -> None:
        self.parts.append(part)

    async def subject(self, buyer_id: str, host_id: int | None = None) -> Subject:
        subject = Subject(buyer_id, pseudonym_of(self.secret, buyer_id), host_id)
        for part in self.parts:
            await part.find(subject)
        subject.emails.discard("")
        subject.names.discard("")
        return subject

    async def export(self, buyer_id: str, host_id: int | None = None) -> dict[str, Any]:
        subject = await self.subject(buyer_id, host_id)
        out: dict[str, Any] = {"buyer_id": buyer_id, "exported_at": now_ms(),
                               "scope": "all" if host_id is None else f"host:{host_id}"}
        for part in self.parts:
            out[part.name] = await part.export(subject)
        return out

    async def erase(self, buyer_id: str, host_id: int | None = None) -> dict[str, int]:
        subject = await self.subject(buyer_id, host_id)
        return {part.name: await part.erase(subject) for part in self.parts}

    async def concerns_host(self, buyer_id: str, host_id: int) -> bool:
        """Whether a host may act for this buyer: they bought from it or wrote to it."""
        from inventory.threads import Thread  # the thread table is inventory's too; imported here to keep this module first

        async with self.sessions() as session:
            ordered = await session.scalar(select(func.count(Order.id)).where(Order.buyer_id == buyer_id, Order.host_id == host_id))
            wrote = await session.scalar(select(func.count(Thread.id)).where(Thread.buyer_id == buyer_id, Thread.host_id == host_id))
        return bool(ordered) or bool(wrote)


class BuyerPart:
    """The buyer row itself: the display name (chat, threads)."""

    name = "buyer"

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def find(self, subject: Subject) -> None:
        async with self.sessions() as session:
            buyer = await session.get(Buyer, subject.buyer_id)
        if buyer is not None and buyer.name:
            subject.names.add(buyer.name)

    async def export(self, subject: Subject) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            buyer = await session.get(Buyer, subject.buyer_id)
        return [] if buyer is None else [{"buyer_id": buyer.id, "name": buyer.name, "created_at": buyer.created_at}]

    async def erase(self, subject: Subject) -> int:
        if subject.host_id is not None:
            return 0  # the name is the buyer's everywhere; only their own request removes it
        async with self.sessions() as session, session.begin():
            buyer = await session.get(Buyer, subject.buyer_id)
            if buyer is None or not buyer.name:
                return 0
            buyer.name = ""
        return 1
