"""uvicorn's websockets-sansio protocol with one addition for the hub: ``send_frame``.

Under ``livedrop serve`` the viewers' sockets (``/ws/shows/``) no longer come here: they run on
livedrop's own protocol (web.viewer_socket), which writes frames the same way without the ASGI
stack. This one serves any other WebSocket path, and every WebSocket of the fallback to uvicorn's
own protocols (web.uvicorn_seams).

ASGI gives an app one way to send: ``await send({"type": "websocket.send", "text": ...})``, which
for every viewer encodes the text again, frames it again and wakes a task per viewer. A live room
sends the same frame to thousands of viewers at once, so ``livedrop serve`` offers the hub a
shortcut in the connection's scope (``scope["extensions"]["livedrop.send_frame"]``, see
live.connection): write bytes that are already a complete WebSocket frame (framed once per
process) straight to the transport, and learn how many bytes are still unsent. Everything else
(the handshake, reading, ping/pong, closing) is uvicorn's, unchanged; complete unfragmented
frames written between its own do not disturb the protocol's state.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from live.connection import SEND_FRAME


class FanoutWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the app task is created but has not run yet: it sees the extension
            scope["extensions"][SEND_FRAME] = self.send_frame

    def send_frame(self, wire: bytes) -> int:
        if self.disconnected or self.close_sent or not self.handshake_complete or self.transport.is_closing():
            return -1
        self.transport.write(wire)
        return self.transport.get_write_buffer_size()
