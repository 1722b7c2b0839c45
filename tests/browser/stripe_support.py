"""Stripe in the browser tests: a livedrop process paying through localstripe (on loopback; never
the real Stripe) and what a page does with Stripe.js's card element, shared by the tests that pay
with it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.browser.conftest import Server, livedrop_server
from tests.conftest import STRIPE_PUBLISHABLE_KEY, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
from tests.support import livedrop_env

TEST_CARD = "4242424242424242"


@contextlib.contextmanager
def stripe_livedrop(data: Path, localstripe: str) -> Iterator[Server]:
    """livedrop with LIVEDROP_PAYMENTS=stripe against ``localstripe`` (its base URL), for a test
    module's ``server`` fixture (in place of conftest's, so `host` and `new_context` use it)."""
    env = livedrop_env(data, LIVEDROP_BUYERS_PER_IP_PER_MINUTE="100000", LIVEDROP_PAYMENTS="stripe",
                       STRIPE_SECRET_KEY=STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY=STRIPE_PUBLISHABLE_KEY,
                       STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE=localstripe)
    with livedrop_server(env) as running:
        yield running


def mounted_card(page: Any, selector: str) -> Any:
    """The Stripe.js card element mounted in ``selector``, once its number field shows (Stripe.js
    loads from localstripe after the sheet opens, hence the longer wait)."""
    from playwright.sync_api import expect  # noqa: PLC0415 - playwright only where a browser runs

    card = page.locator(selector)
    expect(card.locator("input[placeholder=number]")).to_be_visible(timeout=10_000)
    return card


def fill_card(card: Any, number: str = TEST_CARD) -> None:
    """Types a card into Stripe.js's element (localstripe's stand-in has one input per field)."""
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("30")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")


def record_posts(page: Any, origin: str) -> list[str]:
    """The bodies of the page's POSTs to livedrop at ``origin``, as they are sent: a test reads it to
    show a card number never reached livedrop (only Stripe.js's payment method does)."""
    bodies: list[str] = []
    origin = origin.rstrip("/")
    page.on("request", lambda request: bodies.append(request.post_data or "")
            if request.url.startswith(origin) and request.method == "POST" else None)
    return bodies


def record_console(page: Any) -> list[str]:
    """The page's console messages and failed responses, as they come: what a payment that did not
    complete is explained with."""
    logs: list[str] = []
    page.on("console", lambda message: logs.append(message.text))
    page.on("response", lambda response: logs.append(f"{response.status} {response.url}") if response.status >= 400 else None)
    return logs
