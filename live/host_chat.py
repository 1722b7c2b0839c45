"""The host talks back: the show's host and its moderators post in chat with a badge, reply to a
message, pin one message on every screen, name moderators, and download the chat after the show.
docs/host-chat.md. Who may do what is live.staff's; the storage is live.chat's.
"""

from __future__ import annotations

import csv
import io

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from inventory.clock import now_ms
from inventory.errors import InvalidRequest, InvalidState, NotFound, RateLimited, Refusal
from inventory.models import Host
from live import staff
from live.chat import ChatRefused, message_json
from live.errors import ShowNotEnded
from live.frames import ChatMessageJson
from live.hub import Hub
from live.models import Moderator, Show
from live.shows import show_by_slug

MAX_MODERATORS = 20  # per show: a host and a few helpers; the bound keeps the list a glance
MAX_MODERATED_LISTED = 100  # shows listed on a moderator's panel home


class HostChat:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def say(self, actor_id: int, slug: str, text: object, reply_to: int | None = None) -> ChatMessageJson:
        """A message with the host's (or moderator's) badge, perhaps a reply; on every screen."""
        async with self.hub.sessions() as session:
            show, role = await staff.staff_show(session, actor_id, slug)
            actor = await session.get(Host, actor_id)
        if show.status == "ended":
            raise InvalidState("this show has ended; its chat is closed")
        try:
            clean = self.hub.chat.check_text(text)
            # The same rate as viewers: a stuck key or a script on a host account cannot flood screens.
            await self.hub.chat.within_rate(show.id, f"host-{actor_id}")
            message, replied = await self.hub.chat.post_as_staff(
                show.id, f"host-{actor_id}", staff_name(actor, role), role, clean, reply_to)
        except ChatRefused as refused:
            raise _refusal(refused) from None
        data = message_json(message, replied)
        await self.hub.publish(show.id, "chat", data)
        return data

    async def pin(self, actor_id: int, slug: str, message_id: int | None) -> ChatMessageJson | None:
        """Pin one message of the show's chat on every screen (None: unpin). One at a time: a new
        pin replaces the last."""
        async with self.hub.sessions() as session:
            show, _ = await staff.staff_show(session, actor_id, slug)
        shown = None
        if message_id is not None:
            shown = await self.hub.chat.shown(show.id, message_id)
            if shown is None:
                raise NotFound("no such message in this show's chat")
        await self.hub.chat.set_pinned(show.id, message_id)
        await self.hub.publish(show.id, "chat_pin", {"message": shown})
        return shown

    # -- the panel's pages -----------------------------------------------------------------------------

    async def role(self, actor_id: int, slug: str) -> tuple[Show, staff.Role] | None:
        """The show and the actor's role in it, for the panel's show page (a moderator gets the
        chat-only screen); None when the show is not the actor's to see (the page answers 404)."""
        async with self.hub.sessions() as session:
            show = await show_by_slug(session, slug)
            role = None if show is None else await staff.role_of(session, show, actor_id)
        return None if show is None or role is None else (show, role)

    async def moderated(self, actor_id: int) -> list[Show]:
        """The shows of other hosts that named this account's email as a moderator, newest first
        (the panel's home lists them). Bounded: a helper of many hosts still gets a page, not a dump."""
        async with self.hub.sessions() as session:
            email = await session.scalar(select(Host.email).where(Host.id == actor_id))
            if email is None:
                return []
            rows = await session.execute(
                select(Show).join(Moderator, Moderator.show_id == Show.id)
                .where(Moderator.email == email.strip().lower(), Show.host_id != actor_id)
                .order_by(Show.id.desc()).limit(MAX_MODERATED_LISTED))
            return list(rows.scalars())

    # -- moderators (the host only) -------------------------------------------------------------------

    async def moderators(self, actor_id: int, slug: str) -> list[str]:
        async with self.hub.sessions() as session:
            show = await staff.hosts_show(session, actor_id, slug)
            rows = await session.execute(select(Moderator.email).where(Moderator.show_id == show.id).order_by(Moderator.id))
            return list(rows.scalars())

    async def add_moderator(self, actor_id: int, slug: str, email: str) -> str:
        email = email.strip().lower()
        async with self.hub.sessions() as session:
            show = await staff.hosts_show(session, actor_id, slug)
            own = await session.scalar(select(Host.email).where(Host.id == actor_id))
            if own is not None and own.strip().lower() == email:
                raise InvalidRequest("email", "that is your own address; you are this show's host already")
            count = len(list((await session.execute(select(Moderator.id).where(Moderator.show_id == show.id))).scalars()))
            if count >= MAX_MODERATORS:
                raise InvalidRequest("email", f"a show has at most {MAX_MODERATORS} moderators")
            session.add(Moderator(show_id=show.id, email=email, created_at=now_ms()))
            try:
                await session.commit()
            except IntegrityError:  # named already: the same answer
                await session.rollback()
        return email

    async def remove_moderator(self, actor_id: int, slug: str, email: str) -> None:
        async with self.hub.sessions() as session:
            show = await staff.hosts_show(session, actor_id, slug)
            done = await session.execute(
                delete(Moderator).where(Moderator.show_id == show.id, Moderator.email == email.strip().lower()))
            await session.commit()
        if done.rowcount == 0:
            raise NotFound("no such moderator of this show")

    # -- after the show ---------------------------------------------------------------------------------

    async def csv(self, actor_id: int, slug: str) -> str:
        """The whole chat as CSV, once the show has ended (deleted messages included, marked)."""
        async with self.hub.sessions() as session:
            show, _ = await staff.staff_show(session, actor_id, slug)
        if show.status != "ended":
            raise ShowNotEnded()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "time_utc_ms", "name", "buyer_id", "role", "reply_to", "deleted", "pinned", "text"])
        for m in await self.hub.chat.log(show.id):
            writer.writerow([m.id, m.ts, csv_safe(m.name), m.buyer_id, m.role or "viewer", m.reply_to_id or "",
                             "yes" if m.deleted_at else "", "yes" if m.id == show.pinned_message_id else "", csv_safe(m.text)])
        return out.getvalue()


def staff_name(actor: Host | None, role: str) -> str:
    """The name on a staff message: the account's name, else its email's local part (never the
    whole address: screens are public)."""
    if actor is not None and actor.name.strip():
        return actor.name.strip()[:80]
    if actor is not None:
        return actor.email.split("@", 1)[0][:80]
    return role


def csv_safe(text: str) -> str:
    """Spreadsheets run a cell starting with = + - @ as a formula (CSV injection): such a cell is
    prefixed with a quote, as OWASP advises. Chat text is typed by anyone."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _refusal(refused: ChatRefused) -> Refusal:
    if refused.code == "not_found":
        return NotFound(refused.message)
    if refused.code == "rate_limited":
        return RateLimited(refused.message, retry_after_ms=10_000)  # the chat's window is 10 s
    return InvalidRequest("text", refused.message)
