"""Private threads in Chromium (issue 23): the host writes first from a chat line; a buyer on a
phone asks about the product on screen,
the host answers from the panel with a hold offer on a size, the buyer takes the hold and pays
with the test payment provider. Both pages stay open: the messages arrive over their sockets."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.browser import axe
from tests.browser.conftest import HOST_EMAIL, Host, Server
from tests.support import LivedropProcess
from web.thread_links import ThreadLinkTokens
from tests.browser.test_viewer import fill_checkout
from tests.web.buying import CARD_PAYS

pytestmark = pytest.mark.browser

PASSWORD = "browser tests password"


def test_ask_privately_answered_with_a_hold_offer_that_is_paid(new_context: Any, host: Host) -> None:
    from playwright.sync_api import expect

    product = host.product({"EU 42": 3, "EU 43": 2})
    sku_43 = product["variants"][1]["sku"]
    slug = host.live_show(product=product)

    phone = new_context(390, 844).new_page()
    problems: list[str] = []
    phone.on("pageerror", lambda exc: problems.append(f"viewer: {exc}"))
    phone.goto(f"/s/{slug}")
    panel = new_context(1440, 900).new_page()
    panel.on("pageerror", lambda exc: problems.append(f"panel: {exc}"))
    panel.goto("/host/login")
    panel.get_by_label("Email").fill(HOST_EMAIL)
    panel.get_by_label("Password").fill(PASSWORD)
    panel.get_by_role("button", name="Sign in").click()
    panel.wait_for_url("**/host")
    panel.goto(f"/host/shows/{slug}")

    # The host writes first from a chat line: the phone's button shows there is news.
    phone.fill("#chat-text", "Love these!")
    phone.press("#chat-text", "Enter")
    panel.locator("#chat li", has_text="Love these!").locator(".inbox-write").click()
    panel.fill("#inbox-text", "Thanks! Ask me anything about them.")
    panel.click("#inbox-send")
    expect(phone.locator("#ask-open.has-news")).to_be_visible()

    phone.click("#ask-open")
    expect(phone.locator("#ask-about")).to_contain_text(product["title"])
    expect(phone.locator("#ask-messages .from-host .thread-text")).to_have_text("Thanks! Ask me anything about them.")
    phone.fill("#ask-text", "Does the 43 run small? <b>asking</b>")
    phone.click("#ask-send")
    expect(phone.locator("#ask-messages .from-buyer .thread-text")).to_have_text("Does the 43 run small? <b>asking</b>")

    panel.locator("#inbox-threads .inbox-thread").first.click()
    expect(panel.locator("#inbox-messages .from-buyer .thread-text")).to_have_text("Does the 43 run small? <b>asking</b>")
    # The buyer's read receipt turns on the phone once the host opened the thread.
    expect(phone.locator("#ask-messages .from-buyer .thread-receipt")).to_have_text("Read")

    panel.fill("#inbox-text", "It runs true to size.")
    panel.click("#inbox-send")
    expect(phone.locator("#ask-messages .from-host .thread-text").last).to_have_text("It runs true to size.")
    panel.fill("#inbox-hold-sku", sku_43)
    panel.fill("#inbox-hold-minutes", "30")
    panel.click("#inbox-hold-send")
    take = phone.locator("#ask-messages .thread-take-hold")
    expect(take).to_be_visible()
    take.click()

    expect(phone.locator("#checkout")).to_be_visible()
    fill_checkout(phone, CARD_PAYS)
    phone.click("#checkout-pay")
    expect(phone.locator("#confirmation")).to_be_visible()
    # The seller sees the paid order beside the thread.
    thread = host.call("GET", "/api/inbox", 200)["threads"][0]
    beside = host.call("GET", f"/api/inbox/{thread['id']}/buyer", 200)
    assert [(o["status"], o["lines"][0]["sku"]) for o in beside["orders"]] == [("paid", sku_43)]
    assert problems == []


def test_the_thread_page_from_the_email_link_shows_an_answer_given_on_another_process(
        new_context: Any, host: Host, server: Server) -> None:
    """The buyer reads the thread page from the email's link (no cookie) on process A; the host
    opens and answers the thread on process B. The read receipt turns and the answer appears
    without a reload, through the hub's private fan-out."""
    from playwright.sync_api import expect

    product = host.product({"EU 42": 3})
    slug = host.live_show(product=product)
    kim = httpx.post(f"{server.url}/api/buyers", json={"name": "Kim"}, timeout=10).json()
    asked = httpx.post(f"{server.url}/api/threads", json={"show_slug": slug, "product_id": product["id"], "text": "Is the 42 <i>wide</i>?"},
                       headers={"Authorization": f"Bearer {kim['token']}"}, timeout=10)
    assert asked.status_code == 201, asked.text
    thread_id = asked.json()["thread"]["id"]
    link = ThreadLinkTokens(server.process.env["SECRET_KEY"]).issue(thread_id, kim["buyer_id"])

    with LivedropProcess(["serve", "--host", "127.0.0.1"], server.process.env) as b:
        page = new_context(390, 844).new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"/threads/{thread_id}?t={link}")
        expect(page.locator("#thread-page[data-live=open]")).to_be_attached()
        mine = page.locator("#thread-messages .from-buyer")
        expect(mine.locator(".thread-text")).to_have_text("Is the 42 <i>wide</i>?")
        expect(mine.locator(".thread-receipt")).to_have_text("Sent")

        on_b = httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=10)
        assert on_b.get(f"/api/inbox/{thread_id}").status_code == 200  # the host opens it on B
        expect(mine.locator(".thread-receipt")).to_have_text("Read")
        assert on_b.post(f"/api/inbox/{thread_id}/messages", json={"text": "It runs <b>wide</b>."}).status_code == 201
        answer = page.locator("#thread-messages .from-host")
        expect(answer.locator(".thread-text")).to_have_text("It runs <b>wide</b>.")
        axe.check(page, "the live thread page")
        # The buyer reading it on the page turns the host's receipt: the seller's message is read.
        deadline = time.monotonic() + 10
        while not on_b.get(f"/api/inbox/{thread_id}").json()["messages"][-1]["read"]:
            assert time.monotonic() < deadline, "the host's message was not marked read by the open page"
            time.sleep(0.2)

        # The answer from the page appears once (its POST answer and its frame are the same message).
        page.fill("#thread-reply-text", "Thanks!")
        page.click("#thread-reply button[type=submit]")
        expect(page.locator("#thread-messages .from-buyer .thread-text")).to_have_text(["Is the 42 <i>wide</i>?", "Thanks!"])
        # From the orders page (the buyer's own browser, by its cookie): the conversation is listed
        # and opens the same live page, without the link's token.
        own = new_context(1280, 800)
        own.add_cookies([{"name": "livedrop_buyer", "value": kim["token"], "url": server.url}])
        orders = own.new_page()
        orders.on("pageerror", lambda exc: problems.append(str(exc)))
        orders.goto("/orders")
        expect(orders.locator("#my-threads a")).to_be_visible()
        axe.check(orders, "the orders page with a conversation")
        orders.locator("#my-threads a").click()
        orders.wait_for_url(f"**/threads/{thread_id}")
        expect(orders.locator("#thread-page[data-live=open]")).to_be_attached()
        assert on_b.post(f"/api/inbox/{thread_id}/messages", json={"text": "Anything else?"}).status_code == 201
        for shown in (page, orders):
            expect(shown.locator("#thread-messages .from-host .thread-text").last).to_have_text("Anything else?")

        # The host closes the thread on B: the form goes, live.
        assert on_b.post(f"/api/inbox/{thread_id}/state", json={"action": "close"}).status_code == 200
        expect(page.locator("#thread-closed")).to_be_visible()
        expect(page.locator("#thread-reply")).to_be_hidden()
        on_b.close()
        assert problems == []
