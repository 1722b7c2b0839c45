"""Which host addresses aioice offers as ICE candidates.

aioice gathers every address of every interface except 127.0.0.1 (``aioice.ice.get_host_addresses``,
looked up at call time). A deployment may want exactly its public interface, and tests must stay on
loopback; so the media process replaces that function with one returning the configured addresses.
It is process-wide on purpose: one media process, one network policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import aioice.ice

_original = aioice.ice.get_host_addresses


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Offer exactly ``addresses`` as host candidates (empty: aioice's own choice again)."""
    if not addresses:
        aioice.ice.get_host_addresses = _original
        return
    parsed = [ipaddress.ip_address(a) for a in addresses]

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(ip) for ip in parsed if (ip.version == 4 and use_ipv4) or (ip.version == 6 and use_ipv6)]

    aioice.ice.get_host_addresses = configured
