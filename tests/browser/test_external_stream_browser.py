"""An external HLS stream in Debian's Chromium: a show whose stream_url is an HLS playlist (made
here with PyAV, served on loopback with CORS, the way a CDN or MediaMTX serves one) plays through
the vendored hls.js, and a pin waits until the picture reaches the moment the host made it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Host

pytestmark = pytest.mark.browser

SEGMENT_S = 1
SECONDS = 16
LAG_S = 4.0  # how far behind the live moment the playlist's program date time puts the picture


def write_hls(folder: Path) -> list[tuple[str, float]]:
    """A few seconds of H.264 as an HLS playlist (1 s segments, with program date time); the
    segments' names and lengths."""
    import av

    playlist = folder / "source.m3u8"
    output = av.open(str(playlist), "w", format="hls", options={
        "hls_time": str(SEGMENT_S), "hls_playlist_type": "vod", "hls_flags": "program_date_time",
        "hls_segment_filename": str(folder / "seg%03d.ts"),
    })
    stream = output.add_stream("libx264", rate=10, options={"preset": "ultrafast", "tune": "zerolatency"})
    stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
    stream.codec_context.gop_size = 10  # a keyframe every second: segments cut on time
    for n in range(SECONDS * 10):
        frame = av.VideoFrame(160, 96, "yuv420p")
        for plane, value in zip(frame.planes, ((n * 7) % 256, 128, (n * 3) % 256), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = n, Fraction(1, 10)
        for packet in stream.encode(frame):
            output.mux(packet)
    for packet in stream.encode():
        output.mux(packet)
    output.close()
    text = playlist.read_text()
    assert "#EXT-X-PROGRAM-DATE-TIME" in text, text
    segments: list[tuple[str, float]] = []
    duration = 0.0
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].rstrip(","))
        elif line and not line.startswith("#"):
            segments.append((line, duration))
    assert len(segments) >= SECONDS - 2, text
    return segments


class Stream:
    """A loopback HLS origin. Its playlist's program date time starts at `anchor_ms` (set by the
    test): that is the wall-clock moment the first frame shows, as a packager would write it."""

    def __init__(self, folder: Path, segments: list[tuple[str, float]]) -> None:
        self.folder, self.segments = folder, segments
        self.anchor_ms = 0
        stream = self

        class Handler(SimpleHTTPRequestHandler):
            def end_headers(self) -> None:
                self.send_header("Access-Control-Allow-Origin", "*")  # the viewer page is another origin
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/live/index.m3u8":
                    body = stream.playlist().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.apple.mpegurl")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

            def translate_path(self, path: str) -> str:
                return str(stream.folder / Path(path.split("?")[0]).name)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/live/index.m3u8"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def playlist(self) -> str:
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{SEGMENT_S + 1}", "#EXT-X-MEDIA-SEQUENCE:0",
                 "#EXT-X-PLAYLIST-TYPE:VOD"]
        at = self.anchor_ms
        for name, duration in self.segments:
            stamp = datetime.fromtimestamp(at / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            lines += [f"#EXT-X-PROGRAM-DATE-TIME:{stamp}", f"#EXTINF:{duration:.3f},", name]
            at += round(duration * 1000)
        lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def hls_stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stream]:
    folder = tmp_path_factory.mktemp("hls")
    stream = Stream(folder, write_hls(folder))
    yield stream
    stream.close()


WATCH_CARD = """() => {
  window.__cardShown = null;
  const card = document.getElementById("card");
  new MutationObserver(() => {
    if (!card.hidden && window.__cardShown === null) {
      window.__cardShown = { wall: Date.now(), currentTime: document.getElementById("stream-video").currentTime };
    }
  }).observe(card, { attributes: true, attributeFilter: ["hidden"] });
}"""


def test_an_hls_stream_plays_through_hlsjs_and_a_pin_waits_for_the_picture(
    host: Host, new_context: Any, hls_stream: Stream
) -> None:
    product = host.product({"9": 3, "10": 3})
    slug = host.live_show("Behind the picture")
    plain = host.live_show("No stream")  # a page without a stream: the pin shows at once
    changed = host.call("PATCH", f"/api/shows/{slug}", 200, json={"stream_url": hls_stream.url})
    assert changed["stream_kind"] == "hls"

    viewer = new_context().new_page()
    errors: list[str] = []
    viewer.on("pageerror", lambda exc: errors.append(str(exc)))
    hls_stream.anchor_ms = int(time.time() * 1000 - LAG_S * 1000)  # the first frame is LAG_S old
    viewer.goto(f"/s/{slug}")
    other = new_context().new_page()
    other.goto(f"/s/{plain}")

    video = viewer.locator("#stream-video")
    viewer.wait_for_function("() => document.getElementById('stream-video').currentTime > 1", timeout=15_000)
    assert video.get_attribute("data-player") == "hls.js"
    assert viewer.evaluate("() => typeof window.Hls === 'function'")  # the vendored build, loaded on demand
    first = viewer.evaluate("() => document.getElementById('stream-video').currentTime")
    viewer.wait_for_timeout(600)
    playing = viewer.evaluate("""() => { const v = document.getElementById('stream-video');
        return { currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight, hidden: v.hidden }; }""")
    assert playing["currentTime"] > first, playing  # it advances
    assert playing["width"] == 160 and playing["height"] == 96 and not playing["hidden"], playing

    viewer.evaluate(WATCH_CARD)
    other.evaluate(WATCH_CARD)
    assert viewer.locator("#card").is_hidden() and other.locator("#card").is_hidden()
    pinned_at = int(time.time() * 1000)
    host.pin(slug, product)
    host.pin(plain, product)

    other.wait_for_function("() => window.__cardShown !== null", timeout=5_000)
    without_stream = other.evaluate("() => window.__cardShown")["wall"] - pinned_at
    assert without_stream < 1500, without_stream

    viewer.wait_for_function("() => window.__cardShown !== null", timeout=20_000)
    shown = viewer.evaluate("() => window.__cardShown")
    # The picture's moment when the card appeared: the anchor plus how far the player had played.
    picture_at = hls_stream.anchor_ms + shown["currentTime"] * 1000
    assert abs(picture_at - pinned_at) <= 1000, (picture_at - pinned_at, shown)
    held = shown["wall"] - pinned_at
    assert held >= LAG_S * 1000 - 1000, held  # held back about as long as the picture is behind
    assert held > without_stream + 2000, (held, without_stream)
    assert viewer.locator("#product-title").inner_text() == "Aurora Runner"
    assert not errors, errors


def test_the_host_sets_the_stream_in_the_panel_and_open_viewer_pages_switch(
    host: Host, new_context: Any, hls_stream: Stream
) -> None:
    from tests.browser.conftest import HOST_EMAIL

    slug = host.live_show("Switching streams")
    viewer = new_context().new_page()
    viewer.goto(f"/s/{slug}")
    assert viewer.locator("#stream-video").get_attribute("data-player") == "livedrop-whep"  # no stream_url yet

    panel = new_context(1440, 900).new_page()
    panel.goto("/host/login")
    panel.fill("#login-email", HOST_EMAIL)
    panel.fill("#login-password", "browser tests password")
    panel.click("button[type=submit]")
    panel.wait_for_url("**/host")
    panel.goto(f"/host/shows/{slug}")
    field = panel.locator("#stream-url")
    assert field.input_value() == ""

    field.fill("javascript:alert(1)")
    panel.click("#stream-save")
    panel.wait_for_function("() => document.getElementById('flash').textContent.includes('stream_url')")
    assert host.call("GET", f"/api/shows/{slug}", 200)["show"]["stream_url"] is None

    hls_stream.anchor_ms = int(time.time() * 1000)
    field.fill(hls_stream.url)
    panel.click("#stream-save")
    panel.wait_for_function("() => document.getElementById('flash').textContent.includes('Stream URL saved')")
    assert host.call("GET", f"/api/shows/{slug}", 200)["show"]["stream_url"] == hls_stream.url
    # The open viewer page got the show event and plays the playlist, without a reload.
    viewer.wait_for_function("() => document.getElementById('stream-video').dataset.player === 'hls.js'")
    viewer.wait_for_function("() => document.getElementById('stream-video').currentTime > 0.5", timeout=15_000)

    field.fill("")
    panel.click("#stream-save")
    panel.wait_for_function("() => document.getElementById('flash').textContent.includes('Stream URL cleared')")
    viewer.wait_for_function("() => document.getElementById('stream-video').dataset.player === 'livedrop-whep'")
    assert viewer.locator("#stream-video").is_hidden()  # back to the still: the host is not on camera
