"""Who may act on a show: its host, or a moderator the host named by email for that one show.

A moderator is a host account (it signs in at /host/login or uses an API token, as hosts do) whose
email the show's host added to the show's moderators. Moderators post in chat with a badge, reply,
pin a message, delete and mute; everything else on the show answers them 403
``moderator_not_allowed`` (they know the show exists, so a 404 would only confuse them). Anyone
else gets 404, as before: ids do not leak.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.errors import NotFound
from inventory.models import Host
from live.errors import ModeratorNotAllowed
from live.models import Moderator, Show
from live.shows import show_by_slug

Role = Literal["host", "moderator"]


async def role_of(session: AsyncSession, show: Show, actor_id: int) -> Role | None:
    """'host' (the show is the actor's), 'moderator' (the actor's email is named), or None.
    The moderator look-up (two indexed reads) happens only for an actor that is not the host."""
    if show.host_id == actor_id:
        return "host"
    email = await session.scalar(select(Host.email).where(Host.id == actor_id))
    if email is None:
        return None
    named = await session.scalar(
        select(Moderator.id).where(Moderator.show_id == show.id, Moderator.email == email.strip().lower())
    )
    return "moderator" if named is not None else None


async def staff_show(session: AsyncSession, actor_id: int, slug: str) -> tuple[Show, Role]:
    """The show and the actor's role in it, for what host and moderators may both do."""
    show = await show_by_slug(session, slug)
    role = None if show is None else await role_of(session, show, actor_id)
    if show is None or role is None:
        raise NotFound("no such show")
    return show, role


async def hosts_show(session: AsyncSession, actor_id: int, slug: str) -> Show:
    """The show, for what only its host may do: 403 moderator_not_allowed to a moderator."""
    show, role = await staff_show(session, actor_id, slug)
    if role != "host":
        raise ModeratorNotAllowed()
    return show
