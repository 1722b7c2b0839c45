"""Which URLs livedrop may send webhooks to (SSRF): checked when an endpoint is registered, and
again before each delivery, because a name that resolved to a public address at registration can
resolve to 10.0.0.5 or 127.0.0.1 later (DNS rebinding). The delivery then connects to the address
this check approved, not to a second lookup's answer.

The rules: http(s) only; ``https://`` only in production (``http://`` is for loopback receivers in
development and tests); no user:password in the URL; at most 2,048 characters; every address the
host name resolves to must be public unless the operator allows private ones
(``LIVEDROP_WEBHOOK_ALLOW_PRIVATE=1``: a receiver on the same network, or tests on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from inventory.timeouts import within
from live.errors import LiveError

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookUrlInvalid(LiveError):
    code, status = "webhook_url_invalid", 422


class WebhookUrlTooLong(LiveError):
    code, status = "webhook_url_too_long", 422
    default_message = f"url: at most {MAX_URL_LENGTH} characters"


class WebhookUrlPrivate(LiveError):
    code, status = "webhook_url_private", 422


@dataclass(frozen=True)
class UrlPolicy:
    https_only: bool  # production: only https:// (http:// only to loopback, and only outside production)
    allow_private: bool  # LIVEDROP_WEBHOOK_ALLOW_PRIVATE: private, loopback and link-local addresses too


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    scheme: str
    host: str
    port: int
    address: str  # the address the delivery connects to (approved by the check)


def check_shape(url: str, policy: UrlPolicy) -> tuple[str, str, int]:
    """The scheme, host and port of ``url``, or a refusal that says what to change. No lookup."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlTooLong(f"url: {len(url)} characters; at most {MAX_URL_LENGTH}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlInvalid(f"url: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlInvalid("url: must start with https:// (or http:// for a receiver on this machine in development)")
    if not parts.hostname:
        raise WebhookUrlInvalid("url: has no host name")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlInvalid("url: must not carry a user name or password; the signature authenticates us")
    if parts.fragment:
        raise WebhookUrlInvalid("url: must not have a #fragment")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookUrlInvalid("url: must not contain spaces or control characters")
    host = parts.hostname
    if parts.scheme == "http" and (policy.https_only or not _is_loopback_name(host)):
        raise WebhookUrlInvalid("url: must use https:// (http:// is accepted only for a loopback receiver outside production)")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_multicast or address.is_reserved)


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await within(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), 5)
    except (OSError, TimeoutError) as exc:
        raise WebhookUrlInvalid(f"url: the host name {host!r} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def check_url(url: str, policy: UrlPolicy) -> CheckedUrl:
    """The shape rules, then the address rules on every address the host resolves to."""
    scheme, host, port = check_shape(url, policy)
    addresses = await resolve(host, port)
    if not addresses:
        raise WebhookUrlInvalid(f"url: the host name {host!r} does not resolve")
    if not policy.allow_private:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise WebhookUrlPrivate(
                f"url: {host} is a private, loopback, link-local or reserved address ({', '.join(refused)}); "
                "webhooks go to public addresses only (an operator can allow others with LIVEDROP_WEBHOOK_ALLOW_PRIVATE=1)")
    return CheckedUrl(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]))
