"""The shoppable replay of an ended show: its recording on disk, its pins and offers on the
video's clock (live.recordings.timeline), and what it sells with the stock left.

    replays = Replays(sessions, stock, hub.ensure_loaded, recordings_dir, recording_url)
    await replays.of(slug)        # everything a replay page needs, or None: no replay
    await replays.file_of(slug)   # the recording's path, or None

Knows no HTTP: the web layer says where the recording is served (``recording_url``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.catalog import product_json
from inventory.clock import now_ms
from inventory.models import Product
from inventory.stock import StockStore
from live.bag import bag_of
from live.recordings import ReplayAudience, replay_product_ids, replay_recording, timeline
from live.shows import show_by_slug, show_json
from live.views import ViewCache

# What live.recordings.recording_file writes; anything else in SQL is not opened.
_RECORDING_FILE = r"[A-Za-z0-9_/-]+\.webm"


def recording_path(recordings_dir: Path | None, relative: str) -> Path | None:
    """The recording on disk, if this process can read it (the recordings folder is shared by
    every web process and `livedrop media`; see docs/operations.md)."""
    if recordings_dir is None or not re.fullmatch(_RECORDING_FILE, relative) or ".." in relative:
        return None
    path = recordings_dir / relative
    return path if path.is_file() else None


class Replays:
    def __init__(
        self,
        sessions: async_sessionmaker,
        stock: StockStore,
        ensure_loaded: Callable[[int], Awaitable[None]],
        recordings_dir: Path | None,
        recording_url: Callable[[str], str],
    ) -> None:
        self.sessions = sessions
        self.stock = stock
        # The hub's: loads a product's stock into Redis from SQL unless it is there.
        self.ensure_loaded = ensure_loaded
        self.recordings_dir = recordings_dir
        self.recording_url = recording_url

    async def file_of(self, slug: str) -> Path | None:
        """The file a show's replay plays, or None: no such show, not over, not recorded, or
        not readable here."""
        async with self.sessions() as session:
            show = await show_by_slug(session, slug)
            recording = await replay_recording(session, show) if show is not None else None
        return recording_path(self.recordings_dir, recording.file) if recording is not None else None

    async def of(self, slug: str) -> dict[str, Any] | None:
        """Everything a replay page needs, or None when the show has no replay."""
        async with self.sessions() as session:
            show = await show_by_slug(session, slug)
            if show is None:
                return None
            recording = await replay_recording(session, show)
            if recording is None or recording_path(self.recordings_dir, recording.file) is None:
                return None
            events = [e.json() for e in await timeline(session, show.id, recording)]
            ids = await replay_product_ids(session, show.id)
            products = list((await session.execute(
                select(Product).where(Product.id.in_(ids), Product.host_id == show.host_id).order_by(Product.id)
            )).scalars()) if ids else []
            product_list = [product_json(p) for p in products]
            # The bag the host kept at the end, in the host's order: the replay sells it too (docs/bag.md).
            bag_ids = [i for i in await bag_of(session, show.id) if i in {p.id for p in products}]
            show_data = show_json(show)
        for product in product_list:  # what the replay sells must be in Redis (it may have come back empty)
            await self.ensure_loaded(product["id"])
        stock: dict[str, int] = {}
        for counts in (await self.stock.available_many([p["id"] for p in product_list])).values():
            stock.update(counts)
        end = recording.ended_at or show_data.get("ended_at")
        return {
            "show": show_data,
            "server_time": now_ms(),
            "recording": {
                "url": self.recording_url(slug),
                "started_at": recording.started_at,
                "ended_at": end,
                "duration_ms": (end - recording.started_at) if end else None,
            },
            "events": events,
            "products": product_list,
            "bag": [next(p for p in product_list if p["id"] == i) for i in bag_ids],
            "stock": stock,
        }


class ReplayPresence:
    """Who is watching a replay (a heartbeat per viewer page every few seconds), answered with what
    the page refreshes: the replay's audience and the stock of what it sells."""

    def __init__(self, views: ViewCache, audience: ReplayAudience, stock: StockStore) -> None:
        self.views = views
        self.audience = audience
        self.stock = stock

    async def heartbeat(self, slug: str, viewer_id: str) -> dict[str, Any] | None:
        """None when the show has no replay (not over, or not recorded)."""
        view = await self.views.get(slug)
        if view is None or not view.recorded:
            return None
        count = await self.audience.heartbeat(view.id, viewer_id)
        stock: dict[str, int] = {}
        for counts in (await self.stock.available_many(view.replay_product_ids)).values():
            stock.update(counts)
        return {"replay_viewers": count, "stock": stock, "server_time": now_ms()}
