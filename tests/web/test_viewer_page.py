"""The viewer page and its reminder through the real ASGI app (the browser tests drive the rest):
the buyer cookie on first visit, the snapshot in the page, link previews, escaping, the .ics, and
the display name route the chat uses."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from web.settings import Settings

from .buying import auth, live_show_with_product, new_buyer


class _Page(HTMLParser):
    """Collects meta tags and the page's JSON script, the way a link preview or the script reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "meta" and (a.get("property") or a.get("name")):
            self.meta[str(a.get("property") or a.get("name"))] = str(a.get("content"))
        if tag == "script":
            self._script, self._text = a, ""

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, self._text))
            self._script = None


def parse_page(html: str) -> tuple[_Page, dict]:
    page = _Page()
    page.feed(html)
    data = [text for attrs, text in page.scripts if attrs.get("type") == "application/json" and attrs.get("id") == "livedrop-page"]
    assert len(data) == 1
    return page, json.loads(data[0])


async def test_first_visit_gets_a_buyer_cookie_and_the_snapshot(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"V-40": 2, "V-41": 0})
    client.cookies.clear()

    first = await client.get(f"/s/{slug}")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("livedrop_buyer=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie
    page, data = parse_page(first.text)
    snapshot = data["snapshot"]
    assert snapshot["show"]["slug"] == slug and snapshot["show"]["status"] == "live"
    assert snapshot["pinned"]["id"] == product["id"] and snapshot["stock"] == {"V-40": 2, "V-41": 0}
    assert isinstance(snapshot["seq"], int) and isinstance(snapshot["server_time"], int)
    assert data["buyer_id"] and data["ws_path"] == f"/ws/shows/{slug}"

    me = await client.get("/api/buyers/me")  # the cookie is a working buyer
    assert me.status_code == 200 and me.json()["buyer_id"] == data["buyer_id"]

    again = await client.get(f"/s/{slug}")
    assert "set-cookie" not in again.headers, "a returning buyer keeps its cookie"
    assert parse_page(again.text)[1]["buyer_id"] == data["buyer_id"]


async def test_link_preview_tags(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"P-40": 1}, title="Pacific Low")
    await client.patch(f"/api/products/{(await client.get('/api/products', headers=auth(host_token))).json()['products'][0]['id']}",
                       json={"image_url": "/static/img/sneaker-2.svg"}, headers=auth(host_token))
    page, _ = parse_page((await client.get(f"/s/{slug}")).text)
    meta = page.meta
    assert meta["og:title"] == "Drop night" and meta["twitter:title"] == "Drop night"
    assert "Pacific Low" in meta["og:description"] and meta["og:url"] == f"http://testserver/s/{slug}"
    assert meta["og:image"] == "http://testserver/static/img/sneaker-2.svg" == meta["twitter:image"]
    assert meta["twitter:card"] == "summary_large_image"


async def test_unsafe_titles_are_escaped_in_tags_and_json(client: httpx.AsyncClient, host_token: str) -> None:
    evil = '</script><script>alert(1)</script>"><img src=x onerror=alert(2)>'
    slug, _ = await live_show_with_product(client, host_token, {"E-40": 1}, title=evil)
    html = (await client.get(f"/s/{slug}")).text
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    page, data = parse_page(html)
    assert data["snapshot"]["pinned"]["title"] == evil, "the JSON survives intact"
    assert evil in page.meta["og:description"]
    srcs = [attrs.get("src") for attrs, _ in page.scripts]
    assert srcs == ["/static/common/lang_switch.js", "/static/viewer.js", None], "no script but the page's own"


async def test_unknown_show_is_a_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/s/no-such-show")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Show not found" in response.text
    assert "set-cookie" not in response.headers


async def test_page_works_when_no_buyer_can_be_made(settings: Settings, redis, engine, sessions: async_sessionmaker,
                                                     host_token: str) -> None:
    """Past the per-IP limit of new buyers the page still renders (the script makes the buyer later)."""
    from web.app import create_app
    from web.services import Services

    app = create_app(settings.with_overrides(buyers_per_ip_per_minute=1), Services(settings, redis, engine, sessions))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            slug, _ = await live_show_with_product(http, host_token, {"L-40": 1})
            http.cookies.clear()
            assert "set-cookie" in (await http.get(f"/s/{slug}")).headers
            http.cookies.clear()
            refused = await http.get(f"/s/{slug}")
            assert refused.status_code == 200 and "set-cookie" not in refused.headers
            assert parse_page(refused.text)[1]["buyer_id"] is None


async def test_secure_cookie_under_https(settings: Settings, redis, engine, sessions: async_sessionmaker, host_token: str) -> None:
    from web.app import create_app
    from web.services import Services

    app = create_app(settings.with_overrides(public_url="https://shop.example"), Services(settings, redis, engine, sessions))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            slug, _ = await live_show_with_product(http, host_token, {"S-40": 1})
            http.cookies.clear()
            response = await http.get(f"/s/{slug}")
            assert "Secure" in response.headers["set-cookie"]
            assert parse_page(response.text)[0].meta["og:url"] == f"https://shop.example/s/{slug}"


async def test_reminder_ics_for_a_scheduled_show(client: httpx.AsyncClient, host_token: str) -> None:
    starts = 1_900_000_000_000  # 2030-03-17T17:46:40Z
    title = "Spring drop; sizes, colours \\ more and a title long enough to be folded over two lines"
    made = await client.post("/api/shows", json={"title": title, "scheduled_at": starts}, headers=auth(host_token))
    slug = made.json()["slug"]

    response = await client.get(f"/s/{slug}/reminder.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert f'filename="{slug}.ics"' in response.headers["content-disposition"]
    body = response.text
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n")), "lines are folded at 75 octets"
    unfolded = body.replace("\r\n ", "")
    assert "DTSTART:20300317T174640Z" in unfolded and "DTEND:20300317T184640Z" in unfolded
    assert "SUMMARY:Spring drop\\; sizes\\, colours \\\\ more and a title long enough" in unfolded
    assert f"URL:http://testserver/s/{slug}" in unfolded and "TRIGGER:-PT10M" in unfolded

    page = (await client.get(f"/s/{slug}")).text
    assert f'href="/s/{slug}/reminder.ics"' in page

    await client.post(f"/api/shows/{slug}/start", headers=auth(host_token))
    assert (await client.get(f"/s/{slug}/reminder.ics")).status_code == 404, "a live show needs no reminder"
    assert (await client.get("/s/nope/reminder.ics")).status_code == 404


async def test_buyer_changes_its_display_name(client: httpx.AsyncClient) -> None:
    token = await new_buyer(client)
    client.cookies.clear()
    changed = await client.patch("/api/buyers/me", json={"name": "  Kim  "}, headers=auth(token))
    assert changed.status_code == 200 and changed.json()["name"] == "Kim"
    assert (await client.get("/api/buyers/me", headers=auth(token))).json()["name"] == "Kim"

    for body, code in (({"name": ""}, "invalid_request"), ({"name": "x" * 41}, "invalid_request"),
                       ({"name": "Kim", "admin": True}, "invalid_request"), ({}, "invalid_request")):
        refused = await client.patch("/api/buyers/me", json=body, headers=auth(token))
        assert refused.status_code == 422 and refused.json()["error"]["code"] == code, body
    bad_json = await client.patch("/api/buyers/me", content=b"{", headers={**auth(token), "Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "malformed_json"
    anonymous = await client.patch("/api/buyers/me", json={"name": "Bo"})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    assert re.fullmatch(r"[0-9a-f]{16}", changed.json()["buyer_id"])


def test_preview_prices_use_the_currency_minor_units() -> None:
    from web.routes.viewer import price_text

    assert price_text(12900, "USD") == "129.00 USD"
    assert price_text(1500, "JPY") == "1500 JPY"
    assert price_text(12345, "KWD") == "12.345 KWD"
