"""The live parts of one process, built from its connections in the app's lifespan and reached by
routes as ``request.app.state.runtime``. Also the operations the CLI shares with the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web.services import Services


@dataclass
class Runtime:
    services: Services
    # Filled in as the parts land: inventory (stock, checkout, payments) and live (hub, sales).
    parts: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> None:
        """Start per-process background tasks (stream readers, conflation clocks)."""

    async def stop(self) -> None:
        """Stop them again, in reverse order."""


async def reconcile_all(services: Services) -> int:
    """Rebuild Redis stock of every product from SQL; returns how many products were reconciled."""
    return 0
