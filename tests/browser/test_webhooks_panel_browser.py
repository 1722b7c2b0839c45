"""The panel's Webhooks area in Chromium against a real `livedrop serve` (its own job runner runs
the outbox): add an endpoint (the secret shown once), an order paid by a viewer reaches a real
receiver signed, the delivery is listed as delivered, Redeliver sends it again with the same id,
a refused URL is explained, and Delete removes the endpoint."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from inventory.clock import now_ms
from inventory.deliveries import DISABLE_AFTER_MS, WebhookEndpoint
from tests.browser.test_panel_browser import CHROMIUM, EMAIL, PASSWORD, buy, sign_in
from tests.outbox.receiver import Receiver, ThreadedReceiver
from tests.support import LivedropProcess, host_token, livedrop_env
from web.database import make_engine
from web.settings import Settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivedropProcess]:
    data_dir: Path = tmp_path_factory.mktemp("webhooks-browser")
    env = livedrop_env(data_dir, LIVEDROP_WEBHOOK_ALLOW_PRIVATE="1")  # the receiver is on 127.0.0.1
    token = host_token(env, EMAIL, PASSWORD)
    process = LivedropProcess(["serve"], env).start()
    process.host_token = token  # type: ignore[attr-defined]
    yield process
    process.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with ThreadedReceiver() as hook:
        yield hook


async def disable_all(env: dict[str, str]) -> None:
    engine = make_engine(Settings.from_env(env).database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(WebhookEndpoint).values(disabled_at=now_ms(), failing_since=now_ms() - DISABLE_AFTER_MS))
    finally:
        await engine.dispose()


def wait_until(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_host_adds_an_endpoint_sees_the_delivery_and_redelivers_it(server: LivedropProcess, receiver: Receiver) -> None:
    auth = {"Authorization": f"Bearer {server.host_token}"}  # type: ignore[attr-defined]
    with httpx.Client(base_url=server.url, headers=auth, timeout=10) as http:
        product = http.post("/api/products", json={"title": "Hook Runner", "price_cents": 9900, "currency": "USD",
                                                   "variants": [{"sku": "HK-1", "label": "42", "stock": 5}]})
        assert product.status_code == 201, product.text
        slug = http.post("/api/shows", json={"title": "Hook night"}).json()["slug"]
        assert http.post(f"/api/shows/{slug}/start").status_code == 200
        assert http.put(f"/api/shows/{slug}/pin", json={"product_id": product.json()["id"]}).status_code == 200

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(base_url=server.url)
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page)
        panel = page.locator("#webhooks-panel")
        expect(panel).to_contain_text("No endpoints yet.")

        panel.get_by_text("Add an endpoint").click()
        panel.get_by_label("Endpoint URL").fill("ftp://shop.example/hook")
        panel.get_by_role("button", name="Add endpoint").click()
        expect(panel.locator("#webhook-error")).to_contain_text("https://")

        panel.get_by_label("Endpoint URL").fill(receiver.url)
        panel.get_by_role("button", name="Add endpoint").click()
        secret = panel.locator("#webhook-secret-value")
        expect(secret).to_contain_text("whsec_")
        receiver.secret = secret.inner_text().strip()
        expect(panel.locator("#webhook-list")).to_contain_text(receiver.url)

        order = buy(server, slug, "HK-1")
        wait_until(lambda: len(receiver.received) >= 1)
        first = receiver.received[0]
        assert first.error is None and first.verified["data"]["order_id"] == order["order_id"]

        panel.get_by_text("Recent deliveries").click()
        row = panel.locator("table.deliveries tbody tr").first
        expect(row).to_contain_text("order.paid")
        expect(row).to_contain_text("delivered")
        row.get_by_role("button", name="Redeliver").click()
        wait_until(lambda: len(receiver.received) >= 2)
        assert receiver.received[1].headers["webhook-id"] == first.headers["webhook-id"]
        assert receiver.received[1].body == first.body and receiver.received[1].error is None

        # Three days of failures disable an endpoint (tests/outbox walks that under a controlled
        # clock); here the row is marked as the worker marks it, and the panel says so.
        with ThreadPoolExecutor(1) as pool:  # Playwright's sync API has a loop running on this thread
            pool.submit(asyncio.run, disable_all(server.env)).result()
        page.reload()
        banner = page.locator("#webhooks-disabled")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(receiver.url)
        expect(banner).to_contain_text("failed for 3 days")

        page.once("dialog", lambda dialog: dialog.accept())
        panel.get_by_role("button", name="Delete").click()
        expect(panel).to_contain_text("No endpoints yet.")
        assert errors == []
        browser.close()
