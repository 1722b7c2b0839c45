"""Makes docs/screenshot.png, the README's picture: the demo show's viewer page on a 390x844 phone,
a size chosen and a line of chat sent.

    .venv/bin/python docs/make_screenshot.py [--out docs/screenshot.png]

It starts `livedrop demo` on a free loopback port with a data folder of its own (embedded Redis and
SQLite, whatever REDIS_URL and DATABASE_URL say), drives Debian's Chromium through Playwright, and
stops the demo again. Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(base: str, demo: subprocess.Popen[bytes], within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            sys.exit(f"livedrop demo exited with {demo.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"livedrop demo did not answer {base}/healthz within {within_s:.0f} s")


def shoot(base: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                          locale="en-US", base_url=base)
            page = context.new_page()
            page.goto("/s/demo")
            chips = page.locator("#chips button.chip")
            chips.first.wait_for()
            chips.nth(min(2, chips.count() - 1)).tap()
            page.fill("#chat-text", "Is the 42 true to size?")
            page.press("#chat-text", "Enter")
            page.locator("#chat-log li.mine").first.wait_for()
            page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring
            page.wait_for_timeout(800)  # the video's poster and the chat's fade settle
            page.screenshot(path=str(out))
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="livedrop-shot-") as data:
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "SECRET_KEY"}}
        env["LIVEDROP_DATA_DIR"] = data
        demo = subprocess.Popen([sys.executable, "-m", "web.cli", "demo", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_until_up(base, demo)
            shoot(base, args.out)
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            try:
                demo.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
