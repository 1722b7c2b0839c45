"""Shows in SQL: create (with its slug), list, change status, pin. Knows no HTTP.

The hub (``live.hub``) turns each change into a lasting event; these functions only keep the record.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.clock import now_ms
from inventory.errors import InvalidRequest, InvalidState
from live.errors import SlugTaken
from live.frames import ShowJson
from live.models import Show
from live.slugs import SLUG_PATTERN, slugify, with_suffix
from live.streams import stream_kind


async def create_show(
    session: AsyncSession, host_id: int, title: str, slug: str | None = None, scheduled_at: int | None = None,
    stream_url: str | None = None,
) -> Show:
    if slug is not None:
        if not SLUG_PATTERN.match(slug):
            raise InvalidRequest("slug", "use 1 to 64 of a-z, 0-9 and -")
        candidates = [slug]
    else:
        base = slugify(title)
        candidates = [base] + [with_suffix(base, n) for n in range(2, 1000)]
    for candidate in candidates:
        if (await session.execute(select(Show.id).where(Show.slug == candidate))).first():
            continue
        show = Show(host_id=host_id, slug=candidate, title=title, scheduled_at=scheduled_at, status="scheduled",
                    stream_url=stream_url)
        try:
            async with session.begin_nested():
                session.add(show)
        except IntegrityError:  # created concurrently under the same slug: try the next one
            continue
        return show
    raise SlugTaken(f"the slug {slug or slugify(title)!r} is taken")


async def show_by_slug(session: AsyncSession, slug: str) -> Show | None:
    return (await session.execute(select(Show).where(Show.slug == slug))).scalar_one_or_none()


async def shows_of(session: AsyncSession, host_id: int) -> list[Show]:
    query = select(Show).where(Show.host_id == host_id).order_by(Show.created_at.desc(), Show.id.desc())
    return list((await session.execute(query)).scalars())


def start(show: Show) -> None:
    if show.status == "ended":
        raise InvalidState("this show has ended; create a new one")
    if show.status != "live":
        show.status = "live"
        show.started_at = now_ms()


def end(show: Show) -> None:
    if show.status != "ended":
        show.status = "ended"
        show.ended_at = now_ms()
        if show.started_at is None:
            show.started_at = show.ended_at


def show_json(show: Show) -> ShowJson:
    return {
        "slug": show.slug,
        "title": show.title,
        "status": show.status,
        "scheduled_at": show.scheduled_at,
        "started_at": show.started_at,
        "ended_at": show.ended_at,
        # Where viewers play the video: an external HLS playlist or WHEP endpoint, or (null) livedrop's own WHEP.
        "stream_url": show.stream_url,
        "stream_kind": stream_kind(show.stream_url) if show.stream_url else None,
    }
