"""What a viewer may send, and what it gets back: chat, reactions, ping. Every rule break is
answered with an ``error`` frame and the connection stays open; a connection that keeps breaking
rules (or sends a frame over 4 KiB) is closed.

``ViewerInput`` is one connection's receiving side and what it remembers between frames: its seat
in the show's chat (``live.chat.ChatSeat``), its reactions this second and its recent rule breaks.
The sending side, ``live.connection.Connection``, is only the transport.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

import orjson

from live.chat import Chat, ChatRefused, ChatSeat, message_json
from live.connection import CLOSE_POLICY, CLOSE_TOO_BIG, Connection
from live.frames import ChatMessageJson, error_frame, pong_frame
from live.presence import REACTIONS, allowed_reaction

MAX_FRAME_BYTES = 4096
STRIKES = 10  # rule breaks within STRIKE_WINDOW_S before the connection is closed with 1008
STRIKE_WINDOW_S = 10.0
REACTIONS_PER_S = 10  # beyond this, reactions are silently not counted (no error: they are cheap)


class ViewerInput:
    def __init__(
        self,
        conn: Connection,
        show_id: int,
        buyer_id: str | None,
        chat: Chat,
        react: Callable[[int, str], None],
        publish_chat: Callable[[int, ChatMessageJson], Awaitable[object]],
    ) -> None:
        self.conn = conn
        self.show_id = show_id
        self.chat = chat
        self.seat = ChatSeat(show_id, buyer_id)
        self.react = react
        self.publish_chat = publish_chat
        self._react_window = (0.0, 0)
        self._strikes: deque[float] = deque()  # times of recent rule breaks

    async def handle(self, raw: str | bytes) -> None:
        conn = self.conn
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
        if size > MAX_FRAME_BYTES:
            # uvicorn (ws_max_size=4096) normally refuses these itself; this holds under any server.
            conn.close(CLOSE_TOO_BIG, "frames are limited to 4 KiB")
            return
        if isinstance(raw, bytes):
            return self._refuse("malformed_frame", "frames are JSON text")
        try:
            # orjson, as for HTTP bodies: strict JSON. json.loads would accept a lone surrogate
            # ("\ud800"), which no database can store (the chat insert failed and took the
            # connection with it), and NaN / Infinity.
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._refuse("malformed_frame", "not JSON (or not valid Unicode)")
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return self._refuse("malformed_frame", 'a frame is a JSON object with a "type"')
        kind = data["type"]
        if kind == "ping":
            conn.push(pong_frame())
        elif kind == "react":
            self._on_react(data.get("emoji"))
        elif kind == "chat":
            await self._on_chat(data.get("text"))
        else:
            self._refuse("unknown_type", f"unknown frame type {kind[:40]!r}; send chat, react or ping")

    def _on_react(self, emoji: object) -> None:
        if not allowed_reaction(emoji):
            return self._refuse("malformed_frame", "emoji must be one of " + " ".join(REACTIONS))
        second = time.monotonic() // 1
        start, count = self._react_window
        if start != second:
            start, count = second, 0
        self._react_window = (start, count + 1)
        if count < REACTIONS_PER_S:
            self.react(self.show_id, emoji)

    async def _on_chat(self, text: object) -> None:
        try:
            message = await self.chat.say(self.seat, text)
        except ChatRefused as refused:
            return self._refuse(refused.code, refused.message)
        await self.publish_chat(self.show_id, message_json(message))

    def _refuse(self, code: str, message: str) -> None:
        conn = self.conn
        conn.push(error_frame(code, message))
        now = time.monotonic()
        strikes = self._strikes
        strikes.append(now)
        while strikes and now - strikes[0] > STRIKE_WINDOW_S:
            strikes.popleft()
        if len(strikes) > STRIKES:
            conn.close(CLOSE_POLICY, "too many bad frames")
