"""aiortc peers for the media tests: a publisher with a moving test pattern, and WHEP viewers.
Every wait has a timeout: a broken stream fails a test, it never hangs one."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from live.media import restrict_host_addresses

restrict_host_addresses(["127.0.0.1"])  # the test's own peers stay on loopback too
NO_ICE_SERVERS = RTCConfiguration(iceServers=[])  # aiortc would otherwise ask Google's STUN server


class PatternTrack(VideoStreamTrack):
    """Moving grey bars at a fixed size and rate."""

    def __init__(self, width: int = 320, height: int = 180, fps: int = 15) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        self._n += 1
        wait = self._start + self._n / self.fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        shift = (self._n * 4) % self.width
        row = bytes(((x + shift) // 20 * 37) % 256 for x in range(self.width))
        for plane, fill in zip(frame.planes, (None, 128, 128)):
            size = plane.line_size * plane.height
            if fill is None:
                line = row + bytes(plane.line_size - self.width)
                plane.update(line * plane.height)
            else:
                plane.update(bytes([fill]) * size)
        frame.pts = self._n * 6000  # 90 kHz clock at 15 fps
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


async def wait_for_state(pc: RTCPeerConnection, states: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while pc.connectionState not in states:
        if time.monotonic() > deadline:
            raise AssertionError(f"connection still {pc.connectionState}, wanted {states}")
        await asyncio.sleep(0.05)
    return pc.connectionState


class Publisher:
    def __init__(self, http: httpx.AsyncClient, slug: str, **pattern: int) -> None:
        self.http, self.slug = http, slug
        self.pc = RTCPeerConnection(NO_ICE_SERVERS)
        self.pc.addTrack(PatternTrack(**pattern))
        self.location: str | None = None

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def start(self, headers: dict[str, str]) -> httpx.Response:
        response = await self.http.post(f"/whip/{self.slug}", content=await self.offer(),
                                        headers={"content-type": "application/sdp", **headers})
        if response.status_code == 201:
            self.location = response.headers["location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        return response

    async def close(self) -> None:
        await self.pc.close()


class Viewer:
    def __init__(self, http: httpx.AsyncClient, slug: str) -> None:
        self.http, self.slug = http, slug
        self.pc = RTCPeerConnection(NO_ICE_SERVERS)
        self.pc.addTransceiver("video", direction="recvonly")
        self.track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self.pc.on("track", lambda t: self.track.done() or self.track.set_result(t))
        self.location: str | None = None

    async def start(self) -> httpx.Response:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        response = await self.http.post(f"/whep/{self.slug}", content=self.pc.localDescription.sdp,
                                        headers={"content-type": "application/sdp"})
        if response.status_code == 201:
            self.location = response.headers["location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        return response

    async def frames(self, count: int, timeout: float) -> list[av.VideoFrame]:
        track = await asyncio.wait_for(self.track, timeout)
        got = []

        async def read() -> None:
            while len(got) < count:
                got.append(await track.recv())

        await asyncio.wait_for(read(), timeout)
        return got

    async def ended(self, timeout: float) -> bool:
        """True once the stream ended for this viewer: its track stops or its connection closes."""
        track = await asyncio.wait_for(self.track, 5)

        async def drain() -> None:
            try:
                while True:
                    await track.recv()
            except MediaStreamError:
                return

        try:
            await asyncio.wait_for(drain(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def close(self) -> None:
        await self.pc.close()
