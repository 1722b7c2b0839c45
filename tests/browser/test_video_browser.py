"""Video end to end in Debian's Chromium with a fake camera: the host previews and goes live on
camera from the control panel (WHIP), a viewer page plays it (WHEP), and "Stop video" ends it.
Loopback only: the server offers and checks 127.0.0.1 alone (`livedrop media` runs on its own so its
ICE ledger can be read: every check went to 127.0.0.1), Chromium is allowed to use loopback and
does not hide its addresses behind mDNS names (announcing those would multicast to the LAN)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import LivedropProcess, free_port, host_token, livedrop_env
from web.media_process import media_key

CHROMIUM = Path("/usr/bin/chromium")
EMAIL = f"camera-host-{uuid.uuid4().hex[:8]}@example.com"  # unique: the database may be shared
PASSWORD = "camera tests password"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect


@pytest.fixture(scope="module")
def video_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LivedropProcess, str, LivedropProcess]]:
    env = livedrop_env(tmp_path_factory.mktemp("video-browser"), LIVEDROP_MEDIA_HOST_ADDRESSES="127.0.0.1",
                       LIVEDROP_MEDIA_REMOTE_ADDRESSES="127.0.0.1",
                       LIVEDROP_MEDIA_URL=None)
    token = host_token(env, EMAIL, PASSWORD)
    port = free_port()
    with LivedropProcess(["media", "--port", str(port)], env, port=port) as media:
        with LivedropProcess(["serve", "--host", "127.0.0.1"], dict(env, LIVEDROP_MEDIA_URL=media.url)) as process:
            yield process, token, media


def ice_checks(media: LivedropProcess) -> dict[str, int]:
    """Where the media process sent ICE connectivity checks: address -> count."""
    key = media_key(media.env["SECRET_KEY"])
    stats = httpx.get(f"{media.url}/internal/stats", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
    return stats["ice"]["checked"]


@pytest.fixture(scope="module")
def camera_browser() -> Iterator["sync_api.Browser"]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        yield browser
        browser.close()


def test_host_goes_live_on_camera_and_a_viewer_watches(camera_browser, video_server) -> None:  # type: ignore[no-untyped-def]
    server, token, media = video_server
    slug = f"camera-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        assert http.post("/api/shows", json={"title": "On camera", "slug": slug}).status_code == 201
        assert http.post(f"/api/shows/{slug}/start").status_code == 200

    problems: list[str] = []
    host = camera_browser.new_context(viewport={"width": 1440, "height": 900}, base_url=server.url)
    viewer = camera_browser.new_context(viewport={"width": 390, "height": 844}, base_url=server.url)
    try:
        for context in (host, viewer):
            context.set_default_timeout(20_000)
        panel = host.new_page()
        panel.on("pageerror", lambda exc: problems.append(f"panel: {exc}"))
        panel.goto("/host/login")
        panel.get_by_label("Email").fill(EMAIL)
        panel.get_by_label("Password").fill(PASSWORD)
        panel.get_by_role("button", name="Sign in").click()
        panel.wait_for_url("**/host")
        panel.goto(f"/host/shows/{slug}")

        # a viewer who arrives before the video: the still, and the page waits for a stream
        page = viewer.new_page()
        page.on("pageerror", lambda exc: problems.append(f"viewer: {exc}"))
        page.goto(f"/s/{slug}")
        expect(page.locator("#stream-placeholder")).to_be_visible()
        expect(page.locator("#stream-video")).to_be_hidden()

        panel.locator("#camera-start").click()
        expect(panel.locator("#camera-preview")).to_be_visible()
        panel.wait_for_function("() => document.querySelector('#camera-preview').videoWidth > 0")
        panel.locator("#video-publish").click()
        expect(panel.locator("#camera-panel")).to_have_attribute("data-state", "live", timeout=30_000)
        expect(panel.locator("#video-stop")).to_be_visible()

        # the waiting viewer picks the stream up by itself (it checks every few seconds)
        page.wait_for_function(
            "() => { const v = document.querySelector('#stream-video'); return v.videoWidth > 0 && v.currentTime > 0.5 }",
            timeout=40_000,
        )
        first = page.evaluate("document.querySelector('#stream-video').currentTime")
        page.wait_for_function(f"() => document.querySelector('#stream-video').currentTime > {first} + 1", timeout=15_000)
        expect(page.locator("#stream-video")).to_be_visible()
        expect(page.locator("#stream-placeholder")).to_be_hidden()
        expect(page.locator("#unmute")).to_be_visible()
        assert page.evaluate("document.querySelector('#stream-video').muted")
        page.locator("#unmute").click()
        expect(page.locator("#unmute")).to_be_hidden()
        assert not page.evaluate("document.querySelector('#stream-video').muted")

        # the host stops: the viewer is back on the still
        panel.locator("#video-stop").click()
        expect(panel.locator("#video-publish")).to_be_visible()
        expect(page.locator("#stream-placeholder")).to_be_visible(timeout=15_000)
        expect(page.locator("#stream-video")).to_be_hidden()
        assert httpx.get(f"{server.url}/whep/{slug}", timeout=10).status_code == 404
        assert not problems, problems
        checked = ice_checks(media)
        assert checked and set(checked) == {"127.0.0.1"}, checked  # the publisher's and the viewer's
    finally:
        host.close()
        viewer.close()
