"""The control panel's server side: sign in and out, CSRF on every state-changing call, host
isolation, the CSV import (all or nothing, problems by line) and the live figures route."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from tests.web.buying import auth, checkout_body, hold, live_show_with_product, new_buyer
from web.auth import create_host

PASSWORD = "correct horse battery"


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/host/login")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return await http.post("/host/login", data={"email": email, "password": password, "csrf": csrf})


def panel_csrf(page: httpx.Response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert match, page.text[:500]
    return match.group(1)


async def signed_in(http: httpx.AsyncClient, email: str) -> str:
    """Signs in and returns the panel's CSRF token."""
    answer = await sign_in(http, email)
    assert answer.status_code == 303 and answer.headers["location"] == "/host", answer.text
    panel = await http.get("/host")
    assert panel.status_code == 200
    return panel_csrf(panel)


@pytest.fixture
async def ana(sessions: async_sessionmaker) -> str:
    await create_host(sessions, "ana@example.com", PASSWORD)
    return "ana@example.com"


@pytest.fixture
async def bo(sessions: async_sessionmaker) -> str:
    await create_host(sessions, "bo@example.com", PASSWORD)
    return "bo@example.com"


@pytest.fixture
async def second_client(app):  # a second browser: its own cookie jar
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_the_panel_asks_to_sign_in_first(client: httpx.AsyncClient) -> None:
    page = await client.get("/host")
    assert page.status_code == 303 and page.headers["location"] == "/host/login"
    assert (await client.get("/host/shows/anything")).status_code == 303


async def test_a_wrong_password_fails_without_saying_which_part_was_wrong(client: httpx.AsyncClient, ana: str) -> None:
    wrong_password = await sign_in(client, ana, "not the password")
    unknown_email = await sign_in(client, "nobody@example.com", PASSWORD)
    for answer in (wrong_password, unknown_email):
        assert answer.status_code == 401
        assert "Wrong email or password." in answer.text
        assert "password is wrong" not in answer.text.lower() and "no such" not in answer.text.lower()
    # The two answers are the same page apart from the email typed back and the fresh form token.
    strip = lambda text: re.sub(r'value="[^"]*"', "", text)  # noqa: E731
    assert strip(wrong_password.text) == strip(unknown_email.text)
    assert (await client.get("/host")).status_code == 303  # still signed out
    assert (await client.get("/api/shows")).status_code == 401


async def test_signing_in_needs_the_forms_token(client: httpx.AsyncClient, ana: str) -> None:
    await client.get("/host/login")
    forged = await client.post("/host/login", data={"email": ana, "password": PASSWORD, "csrf": "guess"})
    assert forged.status_code == 403
    assert (await client.get("/host")).status_code == 303


async def test_sign_in_rotates_the_csrf_token(client: httpx.AsyncClient, ana: str) -> None:
    page = await client.get("/host/login")
    before = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    after = await signed_in(client, ana)
    assert after != before


async def test_session_calls_need_the_csrf_header(client: httpx.AsyncClient, ana: str) -> None:
    csrf = await signed_in(client, ana)
    refused = await client.post("/api/shows", json={"title": "Drop night"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    wrong = await client.post("/api/shows", json={"title": "Drop night"}, headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "csrf_failed"
    assert (await client.get("/api/shows")).json()["shows"] == []  # reading needs no token
    made = await client.post("/api/shows", json={"title": "Drop night"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    product = {"title": "Tee", "price_cents": 2500, "currency": "USD", "variants": [{"sku": "TEE-M", "label": "M", "stock": 3}]}
    assert (await client.post("/api/products", json=product)).status_code == 403
    assert (await client.post("/api/products/import", content=b"title,sku,size,stock,price,currency\nTee,T-1,M,1,5,USD\n",
                              headers={"Content-Type": "text/csv"})).status_code == 403
    assert (await client.get("/api/products")).json()["products"] == []


async def test_logout(client: httpx.AsyncClient, ana: str) -> None:
    csrf = await signed_in(client, ana)
    refused = await client.post("/host/logout")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert (await client.get("/host")).status_code == 200
    out = await client.post("/host/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/host/login"
    assert (await client.get("/host")).status_code == 303
    assert (await client.get("/api/shows")).status_code == 401
    # The old token is worth nothing once signed out.
    assert (await client.post("/api/shows", json={"title": "x"}, headers={"X-CSRF-Token": csrf})).status_code == 401


async def test_login_attempts_are_rate_limited(client: httpx.AsyncClient, ana: str) -> None:
    for _ in range(10):
        assert (await sign_in(client, ana, "wrong password!")).status_code == 401
    limited = await sign_in(client, ana, PASSWORD)  # even the right password waits now
    assert limited.status_code == 429 and "Too many sign-in attempts" in limited.text
    assert int(limited.headers["Retry-After"]) >= 1


async def test_a_second_host_cannot_see_or_touch_the_first_hosts_show(
    client: httpx.AsyncClient, second_client: httpx.AsyncClient, ana: str, bo: str
) -> None:
    csrf_a = await signed_in(client, ana)
    headers_a = {"X-CSRF-Token": csrf_a}
    product = await client.post("/api/products", headers=headers_a, json={
        "title": "Aurora", "price_cents": 12900, "currency": "USD", "variants": [{"sku": "AUR-42", "label": "42", "stock": 3}]})
    assert product.status_code == 201
    slug = (await client.post("/api/shows", json={"title": "Ana live"}, headers=headers_a)).json()["slug"]
    assert (await client.post(f"/api/shows/{slug}/start", headers=headers_a)).status_code == 200
    assert (await client.get(f"/api/shows/{slug}/stats")).status_code == 200

    csrf_b = await signed_in(second_client, bo)
    headers_b = {"X-CSRF-Token": csrf_b}
    assert (await second_client.get("/api/shows")).json()["shows"] == []
    assert (await second_client.get("/api/products")).json()["products"] == []
    for method, url, body in [
        ("GET", f"/api/shows/{slug}/stats", None),
        ("GET", f"/api/shows/{slug}/orders", None),
        ("POST", f"/api/shows/{slug}/end", None),
        ("PUT", f"/api/shows/{slug}/pin", {"product_id": product.json()["id"]}),
        ("DELETE", f"/api/shows/{slug}/pin", None),
        ("POST", f"/api/shows/{slug}/offers", {"product_id": product.json()["id"], "price_cents": 1, "duration_s": 60}),
        ("POST", f"/api/shows/{slug}/mutes", {"buyer_id": "abc"}),
    ]:
        answer = await second_client.request(method, url, json=body, headers=headers_b)
        assert answer.status_code == 404, (method, url, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    assert (await second_client.get(f"/host/shows/{slug}")).status_code == 404
    assert (await client.get(f"/host/shows/{slug}")).status_code == 200
    shows = (await client.get("/api/shows")).json()["shows"]
    assert [s["status"] for s in shows] == ["live"]  # untouched


GOOD_CSV = """title,sku,size,stock,price,currency,image_url,description
Aurora Runner,AUR-41,EU 41,5,129.00,USD,/static/img/sneaker-1.svg,Light and fast
Aurora Runner,AUR-42,EU 42,3,129.00,USD,/static/img/sneaker-1.svg,
"Court Classic, white",CRT-9,US 9,12,89.5,usd,,
"""


async def test_csv_import_creates_products_by_title(client: httpx.AsyncClient, host_token: str) -> None:
    answer = await client.post("/api/products/import", content=GOOD_CSV.encode(), headers={**auth(host_token), "Content-Type": "text/csv"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["created"] == 2
    products = (await client.get("/api/products", headers=auth(host_token))).json()["products"]
    assert [(p["title"], p["price_cents"], p["currency"]) for p in products] == [
        ("Aurora Runner", 12900, "USD"), ("Court Classic, white", 8950, "USD")]
    assert [(v["sku"], v["label"], v["stock"]) for v in products[0]["variants"]] == [("AUR-41", "EU 41", 5), ("AUR-42", "EU 42", 3)]
    assert products[0]["description"] == "Light and fast" and products[0]["image_url"] == "/static/img/sneaker-1.svg"

    again = await client.post("/api/products/import", files={"file": ("products.csv", GOOD_CSV.encode(), "text/csv")},
                              headers=auth(host_token))
    assert again.status_code == 422
    error = again.json()["error"]
    assert error["code"] == "invalid_request"
    assert [(e["line"], e["field"]) for e in error["errors"]] == [(2, "sku"), (3, "sku"), (4, "sku")]
    assert len((await client.get("/api/products", headers=auth(host_token))).json()["products"]) == 2


async def test_a_bad_csv_reports_line_3_and_imports_nothing(client: httpx.AsyncClient, host_token: str) -> None:
    bad = (
        "title,sku,size,stock,price,currency\n"
        "Aurora Runner,AUR-41,EU 41,5,129.00,USD\n"
        "Aurora Runner,AUR-42,EU 42,-2,129.00,USD\n"
        "Court Classic,CRT-9,US 9,12,89.50,USD\n"
    )
    answer = await client.post("/api/products/import", content=bad.encode(), headers={**auth(host_token), "Content-Type": "text/csv"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["errors"] == [{"line": 3, "field": "stock", "message": "must be 0 or more (it is -2)"}]
    assert error["message"].startswith("line 3: stock:") and "nothing was imported" in error["message"]
    assert (await client.get("/api/products", headers=auth(host_token))).json()["products"] == []


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("", [(1, "header")]),
        ("title,sku,size,stock,currency\nA,A-1,M,1,USD\n", [(1, "header")]),
        ("title,sku,size,stock,price,currency\n", [(2, "line")]),
        ("title,sku,size,stock,price,currency\nA,A-1,M,1,x,USD\nA,A-1,L,1,1.00,USD\n,B-1,M,1,1,USD\n",
         [(2, "price"), (3, "sku"), (4, "title")]),
        ("title,sku,size,stock,price,currency\nA,A-1,M,1,1.00,USD\nA,A-2,L,1,2.00,USD\n", [(3, "price")]),
        ("title,sku,size,stock,price,currency\nA,bad sku!,M,1,1.00,USD\nB,B-1,,1,1.00,EURO\n", [(2, "sku"), (3, "currency")]),
        ("title,sku,size,stock,price,currency,colour\nA,A-1,M,1,1.00,USD,red\n", [(1, "header")]),
    ],
)
async def test_csv_problems_are_reported_by_line(client: httpx.AsyncClient, host_token: str, csv_text: str, expected: list) -> None:
    answer = await client.post("/api/products/import", content=csv_text.encode(), headers={**auth(host_token), "Content-Type": "text/csv"})
    assert answer.status_code == 422, answer.text
    assert [(e["line"], e["field"]) for e in answer.json()["error"]["errors"]] == expected
    assert (await client.get("/api/products", headers=auth(host_token))).json()["products"] == []


async def test_stats_follow_holds_and_sales(client: httpx.AsyncClient, host_token: str, other_host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"AUR-42": 4, "AUR-43": 2})
    empty = (await client.get(f"/api/shows/{slug}/stats", headers=auth(host_token))).json()
    assert empty["units_sold"] == 0 and empty["live_holds"] == 0 and empty["revenue"] == {} and empty["conversion"] is None
    assert {s["sku"]: s["available"] for s in empty["sizes"]} == {"AUR-42": 4, "AUR-43": 2}

    buyer = await new_buyer(client, "Kim")
    held = await hold(client, slug, buyer, "AUR-42", 2)
    assert held.status_code == 201, held.text
    during = (await client.get(f"/api/shows/{slug}/stats", headers=auth(host_token))).json()
    assert during["live_holds"] == 2 and during["units_sold"] == 0

    paid = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body(), headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    stats = (await client.get(f"/api/shows/{slug}/stats", headers=auth(host_token))).json()
    assert stats["live_holds"] == 0
    assert stats["units_sold"] == 2 and stats["orders"] == 1 and stats["buyers"] == 1
    assert stats["revenue"] == {"USD": 2 * 12900}
    sizes = {s["sku"]: s for s in stats["sizes"]}
    assert sizes["AUR-42"]["sold"] == 2 and sizes["AUR-42"]["available"] == 2 and sizes["AUR-42"]["sell_through"] == 0.5
    assert sizes["AUR-43"]["sold"] == 0 and sizes["AUR-43"]["sell_through"] == 0
    points = stats["sales_over_time"]["points"]
    assert sum(p["units"] for p in points) == 2 and sum(p["revenue_cents"] for p in points) == 2 * 12900
    assert stats["sales_over_time"]["start"] <= points[0]["t"] <= stats["server_time"]

    assert (await client.get(f"/api/shows/{slug}/stats", headers=auth(other_host_token))).status_code == 404
    assert (await client.get(f"/api/shows/{slug}/stats")).status_code == 401


async def test_csv_line_numbers_count_lines_of_the_file(client: httpx.AsyncClient, host_token: str) -> None:
    text = (
        'title,sku,size,stock,price,currency,description\n'
        'Aurora,AUR-1,S,1,10.00,USD,"two\nlines"\n'
        '\n'
        'Court,CRT-1,M,x,10.00,USD,\n'
    )
    answer = await client.post("/api/products/import", content=text.encode(), headers={**auth(host_token), "Content-Type": "text/csv"})
    assert answer.status_code == 422
    assert [(e["line"], e["field"]) for e in answer.json()["error"]["errors"]] == [(5, "stock")]
