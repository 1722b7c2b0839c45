"""How a phone on the same network reaches `livedrop demo`: this machine's LAN address and the
sentences the demo prints with it (docs/phones.md).

The address is the one the system would send from to reach the outside: a UDP socket "connected"
to TEST-NET-1 (192.0.2.1, RFC 5737) picks a route and a source address without sending a packet.
"""

from __future__ import annotations

import ipaddress
import socket

_ANY = ("0.0.0.0", "::", "")
_PROBE = ("192.0.2.1", 9)  # never reached: connect() on UDP only chooses the route


def lan_address() -> str | None:
    """This machine's address on its network (192.168.1.20), or None when it has none but loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(_PROBE)
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    ip = ipaddress.ip_address(address)
    return None if ip.is_loopback or ip.is_unspecified else address


def phone_lines(bound_host: str, port: int, slug: str, lan: str | None, *, public_url: str | None = None) -> list[str]:
    """What the demo prints for a phone: the address to open (or how to get one), and how to go live
    with the camera."""
    lines: list[str] = []
    if public_url:
        lines.append(f"on a phone:     {public_url.rstrip('/')}/s/{slug}")
    elif lan is None:
        lines.append("on a phone:     this machine has no network address but loopback; connect it to the phone's Wi-Fi")
    elif bound_host in _ANY or bound_host == lan:
        lines.append(f"on a phone:     http://{lan}:{port}/s/{slug}  (same Wi-Fi as this machine)")
    else:
        lines.append(f"on a phone:     run `livedrop demo --host 0.0.0.0`, then open http://{lan}:{port}/s/{slug}"
                     " on a phone on the same Wi-Fi")
    lines.append("go live on camera: in the control panel open the show, press Preview camera, then Go live on camera")
    lines.append("                (browsers give the camera to https:// pages and http://localhost only: do it on this"
                 " machine, or serve HTTPS and set LIVEDROP_PUBLIC_URL)")
    return lines
