"""The live parts of one process, built from its connections in the app's lifespan and reached by
routes as ``request.app.state.runtime``. Also the operations the CLI shares with the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web.ratelimit import RateLimiter
from web.services import Services


@dataclass
class Runtime:
    services: Services
    # Filled in as the parts land: inventory (stock, checkout, payments) and live (hub, sales).
    parts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rate_limiter = RateLimiter(self.services.redis)

    async def restocked(self, product_id: int, added: dict[str, int]) -> None:
        """Units were added to a product in SQL: make them holdable in Redis now."""

    async def live_holds(self, buyer_id: str) -> list[dict[str, Any]]:
        return []

    async def orders_of_buyer(self, buyer_id: str) -> list[dict[str, Any]]:
        return []

    async def start(self) -> None:
        """Start per-process background tasks (stream readers, conflation clocks)."""

    async def stop(self) -> None:
        """Stop them again, in reverse order."""


async def reconcile_all(services: Services) -> int:
    """Rebuild Redis stock of every product from SQL; returns how many products were reconciled."""
    return 0
