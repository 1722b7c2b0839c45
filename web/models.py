"""What only the web layer needs in SQL (API tokens), and the one place that gathers every table."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

import inventory.shop_links  # noqa: F401 - registers the shop link tables on the shared metadata
import inventory.deliveries  # noqa: F401 - registers the webhook and delivery tables
import inventory.outbox  # noqa: F401 - registers the outbox table
import live.models  # noqa: F401 - registers the show tables on the shared metadata
import live.reminders  # noqa: F401 - show_reminders (docs/notify.md)
import live.waitlist  # noqa: F401 - waitlist_entries (docs/notify.md)
import inventory.threads  # noqa: F401 - threads, thread_messages (docs/threads.md)
from inventory.clock import now_ms
from inventory.models import Base


class ApiToken(Base):
    """A host's token for automation. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


metadata = Base.metadata
