"""``livedrop serve`` builds on uvicorn internals (web.uvicorn_seams): they are all there in the
uvicorn installed, the server offers the hub its frame-once extension through them, and a real
`livedrop serve` process says so at start and serves viewers through it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets

from live.connection import SEND_FRAME
from tests.support import LivedropProcess, free_port, livedrop_env
from web.http_protocol import ClientDeadlines
from web.server import uvicorn_config
from web.settings import Settings
from web.uvicorn_seams import missing_names


def test_every_uvicorn_name_livedrop_uses_is_there() -> None:
    # A uvicorn release that renames one fails here (and serve falls back, logging which).
    assert missing_names() == []


async def _serve(config: uvicorn.Config) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            return server, task
        await asyncio.sleep(0.02)
    raise AssertionError("uvicorn did not start")


async def _one_frame_through(config_for: Any, tmp_path: Path) -> tuple[str, bool]:
    """Serve an app that sends one frame, by the extension when the scope offers it; returns
    the frame the client got and whether the extension was offered."""
    offered: list[bool] = []
    wire = b"\x81\x05hello"  # one complete text frame, as the hub frames it once per room

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        send_frame = scope.get("extensions", {}).get(SEND_FRAME)
        offered.append(send_frame is not None)
        if send_frame is not None:
            assert send_frame(wire) >= 0
        else:
            await send({"type": "websocket.send", "text": "hello"})
        await receive()  # until the client goes

    port = free_port()
    settings = Settings.from_env({"LIVEDROP_DATA_DIR": str(tmp_path), "LIVEDROP_PORT": str(port)})
    config = config_for(settings, app)
    config.log_level = "warning"
    server, task = await _serve(config)
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
            got = await asyncio.wait_for(ws.recv(), 5)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    return str(got), offered == [True]


async def test_serve_s_protocols_offer_the_hub_send_frame(tmp_path: Path) -> None:
    deadlines = ClientDeadlines(10, 30, 5)
    got, offered = await _one_frame_through(lambda s, app: uvicorn_config(s, app, deadlines), tmp_path)
    assert offered, "livedrop serve's WebSocket protocol did not offer livedrop.send_frame"
    assert got == "hello"  # the pre-framed bytes arrived as one intact frame


async def test_the_fallback_is_uvicorn_s_own_protocols_and_still_serves(tmp_path: Path) -> None:
    deadlines = ClientDeadlines(10, 30, 5)
    got, offered = await _one_frame_through(lambda s, app: uvicorn_config(s, app, deadlines, own_protocols=False), tmp_path)
    assert not offered and got == "hello"


def test_livedrop_serve_says_at_start_that_it_offers_the_extension(tmp_path: Path) -> None:
    with LivedropProcess(["serve"], livedrop_env(tmp_path)) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        output = server.output()
    assert f"({SEND_FRAME} offered to the hub)" in output, output
    assert "lacks names" not in output
