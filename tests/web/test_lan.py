"""What `livedrop demo` tells a phone user (web/lan.py): the LAN address to open, or how to get one."""

from __future__ import annotations

import ipaddress

from web.lan import lan_address, phone_lines


def test_the_lan_address_is_a_real_non_loopback_one_or_none() -> None:
    address = lan_address()
    if address is not None:  # a machine with a network; none on a loopback-only one
        ip = ipaddress.ip_address(address)
        assert not ip.is_loopback and not ip.is_unspecified


def test_bound_to_loopback_it_says_how_to_listen_on_the_network() -> None:
    lines = phone_lines("127.0.0.1", 8000, "demo", "192.168.1.20")
    assert "livedrop demo --host 0.0.0.0" in lines[0] and "http://192.168.1.20:8000/s/demo" in lines[0]
    assert any("Go live on camera" in line for line in lines)


def test_bound_to_every_interface_it_gives_the_address_to_open() -> None:
    assert phone_lines("0.0.0.0", 8080, "demo", "10.0.0.7")[0].split()[3] == "http://10.0.0.7:8080/s/demo"
    assert "--host" not in phone_lines("10.0.0.7", 8080, "demo", "10.0.0.7")[0]


def test_a_public_url_wins_and_no_network_is_said_plainly() -> None:
    assert "https://live.example.com/s/demo" in phone_lines("0.0.0.0", 8000, "demo", "10.0.0.7", public_url="https://live.example.com/")[0]
    assert "no network address" in phone_lines("0.0.0.0", 8000, "demo", None)[0]
