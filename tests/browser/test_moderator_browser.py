"""A show's moderator, in Chromium (docs/host-chat.md): the host names a helper by email on the show
screen, the helper signs in with their own host account, finds the show on the panel's home, and
on its chat-only screen deletes a message and mutes a buyer, with no product, offer, order or show
control in sight. After the end both the host and the moderator download the chat as CSV."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import host_token

from . import axe
from .conftest import HOST_EMAIL, Host, Server

pytestmark = pytest.mark.browser
PASSWORD = "moderator tests password"


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def sign_in(page: Any, email: str, password: str) -> None:
    page.goto("/host/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/host")


def say(page: Any, text: str) -> None:
    page.fill("#chat-text", text)
    page.press("#chat-text", "Enter")
    expect()(page.locator("#chat-log")).to_contain_text(text)


def test_a_moderator_deletes_and_mutes_on_a_chat_only_screen(server: Server, host: Host, new_context: Any, artifacts: Path) -> None:
    mod_email = f"helper-{uuid.uuid4().hex[:6]}@example.com"
    host_token(server.process.env, mod_email, PASSWORD)  # the helper's own host account
    shoe = host.product({"42": 3})
    slug = host.live_show("Moderated drop", product=shoe)

    # The host names the helper on the show screen.
    panel = new_context(1440, 900).new_page()
    sign_in(panel, HOST_EMAIL, "browser tests password")
    panel.goto(f"/host/shows/{slug}")
    expect()(panel.locator("#moderator-list")).to_contain_text("No moderators yet")
    panel.fill("#moderator-email", "not an email")
    panel.click("#moderator-add")
    expect()(panel.locator("#moderator-error")).not_to_be_empty()
    panel.fill("#moderator-email", mod_email.upper())
    panel.click("#moderator-add")
    expect()(panel.locator(f'#moderator-list li[data-email="{mod_email}"]')).to_be_visible()
    expect()(panel.locator("#moderator-error")).to_be_empty()
    assert host.call("GET", f"/api/shows/{slug}/moderators", 200) == {"moderators": [mod_email]}
    panel.locator("#moderators-panel").screenshot(path=str(artifacts / "panel-moderators-1440x900.png"))

    viewer = new_context(390, 844).new_page()
    viewer.goto(f"/s/{slug}")
    say(viewer, "cheap pills at spam.example")
    say(viewer, "and more spam")

    # The helper signs in: the show is on their home, and its screen is the chat only.
    mod = new_context(1280, 800).new_page()
    sign_in(mod, mod_email, PASSWORD)
    listed = mod.locator(f'#moderated-list li[data-slug="{slug}"]')
    expect()(listed).to_contain_text("Moderated drop")
    axe.check(mod, "the panel home of a moderator")
    listed.get_by_role("link", name="Moderate chat").click()
    mod.wait_for_url(f"**/host/shows/{slug}")
    expect()(mod.locator("#show-status")).to_have_text("live")
    for absent in ("#lineup-panel", "#offer-panel", "#orders-panel", "#figures-panel", "#draw-panel", "#moderators-panel",
                   "#go-live", "#end-show", "#camera-panel", "#share-panel"):
        expect()(mod.locator(absent)).to_have_count(0)
    spam = mod.locator("#chat li[data-message-id]", has_text="cheap pills")
    expect()(spam).to_be_visible()
    axe.check(mod, "a moderator's show screen")
    mod.screenshot(path=str(artifacts / "moderator-screen-1280x800.png"))

    spam.get_by_role("button", name=re.compile("^Delete")).click()
    expect()(spam).to_have_count(0)
    expect()(viewer.locator("#chat-log")).not_to_contain_text("cheap pills")  # gone from every screen
    mod.locator("#chat li[data-message-id]", has_text="and more spam").get_by_role("button", name=re.compile("^Mute")).click()
    expect()(mod.locator("#chat li[data-message-id]", has_text="and more spam")).to_contain_text("muted")
    viewer.fill("#chat-text", "am I still here?")
    viewer.press("#chat-text", "Enter")
    expect()(viewer.locator("#chat-error")).to_contain_text("turned off chat for you")
    expect()(mod.locator("#chat")).not_to_contain_text("am I still here?")

    # The moderator posts with the badge; the viewer sees it.
    mod.fill("#host-chat-text", "Be kind, please")
    mod.click("#host-chat-send")
    line = viewer.locator("#chat-log li", has_text="Be kind, please")
    expect()(line).to_be_visible()
    expect()(line.locator(".chat-badge-moderator")).to_be_visible()
    expect()(mod.locator("#chat-csv")).to_be_hidden()  # the CSV waits for the end

    # The host ends the show: both screens offer the chat's CSV, and it downloads.
    host.call("POST", f"/api/shows/{slug}/end", 200)
    for page, who in ((mod, "moderator"), (panel, "host")):
        button = page.locator("#chat-csv")
        expect()(button).to_be_visible()
        expect()(button).to_have_text("Download chat (CSV)")
        expect()(page.locator("#host-chat-form")).to_be_hidden()
        with page.expect_download() as download:
            button.click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert text.startswith("id,time_utc_ms,name,buyer_id,role,reply_to,deleted,pinned,text"), (who, text[:200])
        assert "cheap pills at spam.example" in text and "Be kind, please" in text, (who, text)
        spam_row = next(row for row in text.splitlines() if "cheap pills" in row)
        assert ",yes," in spam_row, spam_row  # deleted, and marked so

    # Removed: the helper's screen of the show answers 404 again.
    panel.locator(f'#moderator-list li[data-email="{mod_email}"]').get_by_role("button", name=re.compile("^Remove")).click()
    expect()(panel.locator("#moderator-list")).to_contain_text("No moderators yet")
    assert mod.goto(f"/host/shows/{slug}").status == 404

