"""Operations the CLI and the app share that need more than one part (filled in as parts land)."""

from __future__ import annotations

from web.services import Services


async def reconcile_all(services: Services) -> int:
    """Rebuild Redis stock of every product from SQL; returns how many products were reconciled."""
    return 0
