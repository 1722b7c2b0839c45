"""The media engine without HTTP or a network round trip: refusals, the viewer cap, freed slots,
loopback-only candidates; and the media settings' validation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection

from live.media import BadOffer, MediaConfig, MediaEngine, NoSession, NoStream, PublisherExists, TooManyViewers
from tests.media.peers import NO_ICE_SERVERS, PatternTrack
from web.settings import Settings, SettingsError


async def offer(kind: str) -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(NO_ICE_SERVERS)
    if kind == "publish":
        pc.addTrack(PatternTrack())
    else:
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_cap_refusals_and_freed_slots() -> None:
    engine = MediaEngine(MediaConfig(host_addresses=("127.0.0.1",), max_viewers=1))
    peers: list[RTCPeerConnection] = []
    try:
        async with asyncio.timeout(30):
            with pytest.raises(NoStream):
                pc, sdp = await offer("play")
                peers.append(pc)
                await engine.play("show", sdp)
            pc, sdp = await offer("publish")
            peers.append(pc)
            published = await engine.publish("show", sdp)
            candidates = [l for l in published.sdp.splitlines() if l.startswith("a=candidate:")]
            assert candidates and all(" 127.0.0.1 " in l for l in candidates)
            assert engine.has_stream("show")
            with pytest.raises(PublisherExists):
                await engine.publish("show", sdp)
            for bad in ("", "hello", "v=0\r\ns=-\r\n", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"):
                with pytest.raises(BadOffer):
                    await engine.publish("other", bad)
            assert not engine.has_stream("other"), "a refused publisher leaves nothing behind"

            pc, sdp = await offer("play")
            peers.append(pc)
            first = await engine.play("show", sdp)
            with pytest.raises(TooManyViewers):
                await engine.play("show", sdp)
            await engine.stop_viewer("show", first.session_id)
            with pytest.raises(NoSession):
                await engine.stop_viewer("show", first.session_id)
            again = await engine.play("show", sdp)  # the slot was freed
            assert again.session_id != first.session_id
            assert engine.stats()["viewers"] == 1

            with pytest.raises(NoSession):
                await engine.unpublish("show", "guess")
            await engine.unpublish("show", published.session_id)
            assert not engine.has_stream("show") and engine.stats()["viewers"] == 0
    finally:
        await engine.close()
        for pc in peers:
            await pc.close()


def test_media_settings_are_validated(tmp_path: Path) -> None:
    base = {"LIVEDROP_DATA_DIR": str(tmp_path)}
    settings = Settings.from_env(base | {"LIVEDROP_MEDIA_HOST_ADDRESSES": "127.0.0.1, ::1",
                                         "LIVEDROP_MEDIA_ICE_SERVERS": "stun:stun.example.com:3478,turn:turn.example.com"})
    assert settings.media_host_addresses == ("127.0.0.1", "::1")
    assert settings.media_ice_servers == ("stun:stun.example.com:3478", "turn:turn.example.com")
    assert settings.media_url is None and settings.media_max_viewers == 16
    assert len(settings.media_config().rtc_configuration().iceServers) == 2
    assert Settings.from_env(base).media_config().rtc_configuration().iceServers == []  # never Google's default
    for name, value in [("LIVEDROP_MEDIA_HOST_ADDRESSES", "localhost"), ("LIVEDROP_MEDIA_ICE_SERVERS", "https://x"),
                        ("LIVEDROP_MEDIA_URL", "127.0.0.1:8001"), ("LIVEDROP_MEDIA_MAX_VIEWERS", "-1")]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(base | {name: value})
