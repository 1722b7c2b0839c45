"""The media process's ICE network policy: which host addresses aioice offers, which remote
candidates it will check, and a count of where it sent checks.

Host candidates: aioice gathers every address of every interface except 127.0.0.1
(``aioice.ice.get_host_addresses``, looked up at call time). A deployment may want exactly its public
interface, and tests must stay on loopback; so the media process replaces that function with one
returning the configured addresses.

Remote candidates: an ICE agent sends connectivity checks (STUN requests) to every address a client
names in its offer. A media server that checks whatever it is told can be made to probe a private
network from the inside (``a=candidate:... 10.0.0.5 22 typ host``), so by default it ignores
loopback, link-local, unspecified, multicast and reserved addresses (a client on the internet can
have none of those, and a LAN deployment needs private addresses); ``restrict_remote_addresses``
narrows that to given addresses or networks (tests: 127.0.0.1, so no packet of theirs leaves
loopback), or to ``public`` addresses only (what a server on the internet should use: no private
network behind it can then be probed). The policy applies where aioice accepts
a remote candidate (``aioice.ice.validate_remote_candidate``, looked up at call time, for signalled
candidates and resolved mDNS names alike), before an mDNS name is resolved when addresses are
given (resolving multicasts a query on the LAN), and to incoming checks: one from an address
outside the policy is not answered and does not become a peer-reflexive candidate to check.

It is process-wide on purpose: one media process, one network policy.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import aioice.ice
from aioice import mdns

log = logging.getLogger("livedrop.media")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_original_host_addresses = aioice.ice.get_host_addresses
_original_validate = aioice.ice.validate_remote_candidate
_original_add_remote = aioice.ice.Connection.add_remote_candidate
_original_request_received = aioice.ice.Connection.request_received
_original_check_start = aioice.ice.Connection.check_start


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Offer exactly ``addresses`` as host candidates (empty: aioice's own choice again)."""
    if not addresses:
        aioice.ice.get_host_addresses = _original_host_addresses
        return
    parsed = [ipaddress.ip_address(a) for a in addresses]

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(ip) for ip in parsed if (ip.version == 4 and use_ipv4) or (ip.version == 6 and use_ipv6)]

    aioice.ice.get_host_addresses = configured


PUBLIC = "public"  # the word that stands for "globally routable addresses only"


def parse_remote_addresses(values: Sequence[str]) -> tuple[str, ...]:
    """Checks ``10.0.0.5``, ``10.0.0.0/8``, IPv6 alike, or ``public``; returns them normalised.
    ValueError names the value that is none of those."""
    parsed = []
    for value in (v.strip() for v in values):
        if value.lower() == PUBLIC:
            parsed.append(PUBLIC)
            continue
        try:
            parsed.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address, a network or {PUBLIC!r}") from None
    return tuple(parsed)


def _unmapped(ip: Address) -> Address:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip


def default_allows(ip: Address) -> bool:
    """The policy without a list: any address a client could really have, LAN ones included."""
    ip = _unmapped(ip)
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved)


class RemotePolicy:
    """Which remote addresses may be checked: ``values`` as parse_remote_addresses returns them
    (empty: ``default_allows``)."""

    def __init__(self, values: Sequence[str] = ()) -> None:
        self.values = tuple(values)
        self.public = PUBLIC in self.values
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(v) for v in self.values if v != PUBLIC)

    @property
    def restricted(self) -> bool:
        return bool(self.values)

    def allows(self, host: str) -> bool:
        try:
            ip = _unmapped(ipaddress.ip_address(host.split("%", 1)[0]))  # fe80::1%eth0: the zone is no part
        except ValueError:
            return False  # a name: only an address can be judged
        if not self.values:
            return default_allows(ip)
        if self.public and ip.is_global and default_allows(ip):
            return True
        return any(ip.version == net.version and ip in net for net in self.networks)

    def describe(self) -> str:
        return ", ".join(self.values) or "any but loopback, link-local, multicast and reserved"


class Ledger:
    """Where this process sent connectivity checks and what it ignored: for stats and for tests
    that must prove every check stayed on loopback. aioice runs on the media loop's thread, stats
    are read from another: hence the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checked: Counter[str] = Counter()  # remote address -> checks started
        self.ignored: Counter[str] = Counter()  # why -> remote candidates or incoming checks ignored

    def check(self, host: str) -> None:
        with self._lock:
            self.checked[host] += 1

    def ignore(self, why: str) -> None:
        with self._lock:
            self.ignored[why] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"checked": dict(self.checked), "ignored": dict(self.ignored), "policy": policy.describe()}

    def clear(self) -> None:
        with self._lock:
            self.checked.clear()
            self.ignored.clear()


policy = RemotePolicy()
ledger = Ledger()


def restrict_remote_addresses(values: Sequence[str]) -> None:
    """Check only remote candidates in ``values`` (addresses, networks, ``public``); empty: the
    default policy (any address but loopback, link-local, unspecified, multicast, reserved)."""
    global policy
    policy = RemotePolicy(parse_remote_addresses(values))


def _validate_remote_candidate(candidate: Any, host: str) -> str:
    address = _original_validate(candidate, host)
    if not policy.allows(address):
        ledger.ignore("candidate outside the remote address policy")
        raise ValueError(f"outside LIVEDROP_MEDIA_REMOTE_ADDRESSES ({policy.describe()})")
    return address


async def _add_remote_candidate(self: aioice.ice.Connection, remote_candidate: Any) -> None:
    if remote_candidate is not None and policy.restricted and mdns.is_mdns_hostname(remote_candidate.host):
        # Only addresses were allowed: a name is not one of them, and resolving it would send a
        # multicast query to the LAN.
        ledger.ignore("mDNS name with a remote address list")
        return
    await _original_add_remote(self, remote_candidate)


def _request_received(self: aioice.ice.Connection, message: Any, addr: tuple[str, int], protocol: Any) -> None:
    if not policy.allows(addr[0]):
        ledger.ignore("incoming check outside the remote address policy")
        return
    _original_request_received(self, message, addr, protocol)


async def _check_start(self: aioice.ice.Connection, pair: Any) -> None:
    ledger.check(pair.remote_addr[0])
    await _original_check_start(self, pair)


def _install() -> None:
    patches: list[tuple[Any, str, Callable[..., Any]]] = [
        (aioice.ice, "validate_remote_candidate", _validate_remote_candidate),
        (aioice.ice.Connection, "add_remote_candidate", _add_remote_candidate),
        (aioice.ice.Connection, "request_received", _request_received),
        (aioice.ice.Connection, "check_start", _check_start),
    ]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)


_install()
