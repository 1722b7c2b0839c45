"""A giveaway in Chromium, against a real server: the host starts it from the panel, three viewers
enter from the viewer page, one more enters and then leaves before it closes; the host draws it
from the panel; every screen shows the same winner (one of the three who stayed), the winner's page
says so and the panel lists the winner."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import HOST_EMAIL, Host
from .test_viewer import expect
from .viewer_support import fill_address

pytestmark = pytest.mark.browser


def test_a_giveaway_shows_the_same_winner_on_every_screen(host: Host, new_context: Any) -> None:
    product = host.product({"One size": 1}, title="Signed cap")
    slug = host.live_show(product=product)
    host.call("PUT", f"/api/shows/{slug}/shipping", 200, json={"kind": "flat", "flat_cents": 700})
    panel = new_context(1280, 900).new_page()
    panel.goto("/host")
    panel.wait_for_url("**/host/login")
    panel.get_by_label("Email").fill(HOST_EMAIL)
    panel.get_by_label("Password").fill("browser tests password")
    panel.get_by_role("button", name="Sign in").click()
    panel.wait_for_url("**/host")
    panel.goto(f"/host/shows/{slug}")
    expect()(panel.get_by_role("button", name="Unpin Signed cap")).to_be_visible()  # the socket's snapshot is in
    panel.fill("#giveaway-seconds", "120")
    panel.click("#giveaway-start")
    panel_box = panel.locator("#draws .draw-box")
    expect()(panel_box).to_contain_text("Giveaway · Signed cap")
    offer = next(o for o in host.call("GET", f"/api/shows/{slug}", 200)["offers"] if o["mode"] == "draw")
    assert offer["giveaway"] is True and offer["quantity"] == 1 and offer["price_cents"] == 0

    pages = [new_context(390, 844).new_page() for _ in range(4)]
    for n, page in enumerate(pages):
        page.goto(f"/s/{slug}")
        box = page.locator(".draw")
        expect()(box.locator(".draw-title")).to_have_text("Giveaway")
        expect()(box.locator(".draw-clock")).to_contain_text("Entries close in")
        box.locator(".draw-email").fill(f"viewer{n}@example.com")
        box.locator(".draw-enter").click()
        expect()(box.locator(".draw-text")).to_contain_text("You're in. Entry de_")
    expect()(panel_box.locator(".draw-count")).to_contain_text("4 entries", timeout=10_000)
    pages[3].context.close()  # this one stops watching before the giveaway closes

    panel_box.get_by_role("button", name="Draw now").click()
    expect()(panel_box.locator(".draw-winners li")).to_have_count(1, timeout=10_000)
    texts = []
    for page in pages[:3]:
        result = page.locator(".draw-result")
        expect()(result).to_have_text(re.compile(r"^Winner: entry de_[\w-]+$"), timeout=15_000)
        texts.append(result.text_content())
    assert len(set(texts)) == 1, texts
    audit = host.call("GET", f"/api/shows/{slug}/offers/{offer['id']}/audit", 200)
    assert [x["reason"] for x in audit["excluded"]] == ["not_watching"]
    assert texts[0] == f"Winner: entry {audit['winners'][0]['entry_id']}"
    for page in pages[:3]:
        expect()(page.locator(".draw-text")).not_to_have_text("", timeout=10_000)
    outcomes = [page.locator(".draw-text").text_content() or "" for page in pages[:3]]
    assert sum(o.startswith("You won!") for o in outcomes) == 1, outcomes
    assert sum(o.startswith("Not this time") for o in outcomes) == 2, outcomes
    expect()(panel_box.locator(".draw-winners li")).to_contain_text(audit["winners"][0]["entry_id"])

    # The winner claims: the hold bar's checkout opens the sheet; no card field, nothing to pay.
    winner = pages[[o.startswith("You won!") for o in outcomes].index(True)]
    winner.click("#hold-checkout")
    expect()(winner.locator("#checkout")).to_be_visible()
    expect()(winner.locator("#co-card")).to_be_hidden()
    expect()(winner.locator("#checkout-total")).to_have_text("$0.00")
    expect()(winner.locator("#checkout-shipping")).to_have_text("A giveaway: you pay nothing, shipping included. We only need where to send it.")
    expect()(winner.locator("#checkout-pay")).to_have_text("Claim it (free)")
    fill_address(winner)
    winner.click("#checkout-pay")
    expect()(winner.locator("#confirmation")).to_be_visible()
    expect()(winner.locator("#order-summary")).to_contain_text("Total $0.00")
    [order] = host.orders(slug)
    assert (order["status"], order["total_cents"], order["shipping_cents"]) == ("paid", 0, 0), order
    assert order["shipping"]["region"] == "IL"
