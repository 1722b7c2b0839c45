"""Live video: WebRTC ingest (WHIP) and playback (WHEP) with aiortc. No HTTP here: web/routes/media.py
speaks WHIP/WHEP and hands SDP to a ``MediaBackend`` (in this process on its own thread, or in the
``livedrop media`` process over loopback HTTP)."""

from live.media.engine import (
    BadOffer,
    MediaConfig,
    MediaEngine,
    MediaError,
    NoSession,
    NoStream,
    PublisherExists,
    RecordingRequest,
    TooManyViewers,
    SessionAnswer,
)
from live.media.ice import restrict_host_addresses, restrict_remote_addresses
from live.media.runner import MediaBackend, ThreadedMedia

__all__ = [
    "BadOffer", "MediaBackend", "MediaConfig", "MediaEngine", "MediaError", "NoSession", "NoStream",
    "PublisherExists", "RecordingRequest", "SessionAnswer", "ThreadedMedia", "TooManyViewers", "restrict_host_addresses",
    "restrict_remote_addresses",
]
