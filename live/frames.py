"""Frames on the wire: JSON text, every one with ``type`` and ``ts`` (server time, ms).

A frame is encoded once per process and the same ``str`` goes to every connection.
"""

from __future__ import annotations

import json
from typing import Any

from inventory.clock import now_ms

# Lasting events carry a gap-free seq and are kept in the show's stream; the rest are state.
LASTING_TYPES = frozenset({"show", "pin", "unpin", "offer", "chat", "chat_deleted"})


def dumps(value: Any) -> str:
    # Compact separators: a frame goes to thousands of sockets, every byte counts that often.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode(type_: str, **fields: Any) -> str:
    """A state frame (no seq), stamped with the server time now."""
    return dumps({"type": type_, "ts": now_ms(), **fields})


def error(code: str, message: str) -> str:
    return encode("error", code=code, message=message)


def seq_of(frame: str) -> int | None:
    """The seq of an encoded lasting-event frame. Lasting frames start with ``{"seq":N,`` (the
    publish script puts it first), so this never parses the whole frame."""
    if frame.startswith('{"seq":'):
        end = frame.index(",", 7)
        return int(frame[7:end])
    return None
