"""What live tells the outbox (inventory.outbox): show and offer events, their payloads in one
place, added to the session of the change they announce (the caller's commit makes them real)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inventory.outbox import announce
from live.models import Offer, Show

SHOW_KINDS = {"scheduled": "show.scheduled", "live": "show.live", "ended": "show.ended"}


def show_payload(show: Show) -> dict[str, Any]:
    return {"show_id": show.id, "slug": show.slug, "title": show.title, "status": show.status,
            "scheduled_at": show.scheduled_at, "started_at": show.started_at, "ended_at": show.ended_at}


def announce_show(session: AsyncSession, show: Show) -> None:
    """The show's current status as an event (show.scheduled, show.live or show.ended)."""
    announce(session, SHOW_KINDS[show.status], show_payload(show), host_id=show.host_id)


def announce_offer_started(session: AsyncSession, show: Show, offer: Offer) -> None:
    announce(session, "offer.started", {
        "offer_id": offer.id, "show_id": show.id, "show_slug": show.slug, "product_id": offer.product_id,
        "price_cents": offer.price_cents, "starts_at": offer.starts_at, "ends_at": offer.ends_at,
        "quantity": offer.quantity, "mode": offer.mode,
    }, host_id=show.host_id)
