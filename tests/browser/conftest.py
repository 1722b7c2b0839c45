"""Browser tests: Debian's Chromium driven by Playwright against a real livedrop process on
loopback, with the host acting through the HTTP API. Never a downloaded browser.

Skipped (with the reason) when /usr/bin/chromium or the playwright package is missing.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import LivedropProcess, host_token, livedrop_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
HOST_EMAIL = "browser-host@example.com"

_names = itertools.count(1)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing: .venv/bin/pip install -e '.[test]'")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Exception as exc:  # a broken install must say so, not fail every test differently
        playwright.stop()
        pytest.fail(f"could not start {CHROMIUM}: {exc}")
    yield browser
    browser.close()
    playwright.stop()


@dataclass
class Server:
    url: str
    token: str
    process: LivedropProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Any) -> Iterator[Server]:
    """One livedrop process per test module (depends on `chromium` so a skip costs nothing)."""
    data = tmp_path_factory.mktemp("browser-livedrop")
    # Video stays on loopback: 127.0.0.1 is the only candidate offered and the only one checked.
    env = livedrop_env(data, LIVEDROP_BUYERS_PER_IP_PER_MINUTE="100000", LIVEDROP_MEDIA_HOST_ADDRESSES="127.0.0.1",
                       LIVEDROP_MEDIA_REMOTE_ADDRESSES="127.0.0.1")
    with livedrop_server(env) as running:
        yield running


@contextlib.contextmanager
def livedrop_server(env: dict[str, str]) -> Iterator[Server]:
    """``livedrop serve`` on loopback with ``env``, its host signed up: what a module's `server`
    fixture yields (this one's, or tests.browser.stripe_support's)."""
    token = host_token(env, HOST_EMAIL, "browser tests password")
    process = LivedropProcess(["serve", "--host", "127.0.0.1"], env).start()
    try:
        yield Server(process.url, token, process)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class Host:
    """The host, acting through the HTTP API."""

    def __init__(self, server: Server) -> None:
        self.http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30)

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def product(self, stock: dict[str, int], title: str = "Aurora Runner", price_cents: int = 12900,
                image_url: str | None = "/static/img/sneaker-1.svg") -> dict:
        prefix = uuid.uuid4().hex[:6].upper()  # SKUs are unique per host, and the server lives all session
        body = {
            "title": title, "price_cents": price_cents, "currency": "USD", "image_url": image_url,
            "variants": [{"sku": f"{prefix}-{i}", "label": label, "stock": n} for i, (label, n) in enumerate(stock.items())],
        }
        return self.call("POST", "/api/products", 201, json=body)

    def live_show(self, title: str = "Drop night", product: dict | None = None) -> str:
        slug = f"drop-{next(_names)}-{uuid.uuid4().hex[:6]}"
        self.call("POST", "/api/shows", 201, json={"title": title, "slug": slug})
        self.call("POST", f"/api/shows/{slug}/start", 200)
        if product is not None:
            self.pin(slug, product)
        return slug

    def pin(self, slug: str, product: dict) -> None:
        self.call("PUT", f"/api/shows/{slug}/pin", 200, json={"product_id": product["id"]})

    def offer(self, slug: str, product: dict, price_cents: int, duration_s: int = 600, **extra: Any) -> dict:
        return self.call("POST", f"/api/shows/{slug}/offers", 201,
                         json={"product_id": product["id"], "price_cents": price_cents, "duration_s": duration_s, **extra})

    def orders(self, slug: str) -> list[dict]:
        return self.call("GET", f"/api/shows/{slug}/orders", 200)["orders"]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def host(server: Server) -> Iterator[Host]:
    h = Host(server)
    yield h
    h.close()


@pytest.fixture
def new_context(chromium: Any, server: Server) -> Iterator[Any]:
    """new_context(width, height) -> a fresh browser context (its own cookies: its own buyer)."""
    contexts: list[Any] = []

    def make(width: int = 390, height: int = 844, **options: Any) -> Any:
        context = chromium.new_context(viewport={"width": width, "height": height}, base_url=server.url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()

