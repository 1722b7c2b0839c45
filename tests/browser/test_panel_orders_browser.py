"""The panel's orders table in Chromium (issue 17, the order's life): one order marked shipped
with a carrier and tracking number, another refunded with its unit put back on sale (after the
confirmation), and a CSV of shipments with a result per row. The host signs in; two buyers buy
through the HTTP API first."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.browser.conftest import HOST_EMAIL, Host, Server
from tests.web.buying import CARD_PAYS

pytestmark = pytest.mark.browser

PASSWORD = "browser tests password"


def buy(server: Server, slug: str, sku: str, name: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        buyer = http.post("/api/buyers", json={"name": name.split()[0]})
        assert buyer.status_code == 201, buyer.text
        token = {"Authorization": f"Bearer {buyer.json()['token']}"}
        held = http.post(f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 1},
                         headers={**token, "Idempotency-Key": uuid.uuid4().hex})
        assert held.status_code == 201, held.text
        paid = http.post(f"/api/holds/{held.json()['hold_id']}/checkout", headers=token, json={
            "email": f"{uuid.uuid4().hex[:8]}@example.com", "name": name, "card_number": CARD_PAYS,
            "shipping": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US", "region": "IL"}})
        assert paid.status_code == 201, paid.text
        return dict(paid.json())


def test_ship_one_order_refund_another_and_ship_from_csv(new_context: Any, server: Server, host: Host,
                                                         tmp_path: Any) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()
    product = host.product({"EU 42": 5})
    sku = product["variants"][0]["sku"]
    slug = host.live_show(product=product)
    shipped, refunded, by_csv = (buy(server, slug, sku, name) for name in ("Ana Ship", "Bo Refund", "Cy Csv"))
    assert host.call("GET", f"/api/shows/{slug}", 200)["stock"][sku] == 2

    page = new_context(1440, 900).new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto("/host/login")
    page.get_by_label("Email").fill(HOST_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/host")
    page.goto(f"/host/shows/{slug}")
    rows = page.locator("#orders tr[data-order-id]")
    expect(rows).to_have_count(3)

    # Mark one shipped with its carrier and tracking number.
    row = page.locator(f'#orders tr[data-order-id="{shipped["order_id"]}"]')
    row.get_by_role("button", name="Mark shipped").click()
    form = page.get_by_role("form", name=f"Ship order {shipped['number']}")
    form.get_by_label("Carrier").fill("UPS")
    form.get_by_label("Tracking number").fill("1Z999AA10123456784")
    form.get_by_role("button", name="Save shipment").click()
    expect(row.locator(".order-status")).to_have_text("Shipped")
    expect(row.locator(".order-tracking")).to_have_text("UPS 1Z999AA10123456784")
    expect(row.get_by_role("button", name="Cancel")).to_have_count(0)

    # Refund another, its unit back on sale: the confirmation names the amount.
    row = page.locator(f'#orders tr[data-order-id="{refunded["order_id"]}"]')
    row.get_by_role("button", name="Refund").click()
    form = page.get_by_role("form", name=f"Refund order {refunded['number']}")
    expect(form.get_by_label("Put the units back on sale")).to_be_checked()
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    form.get_by_role("button", name="Refund").click()
    expect(row.locator(".order-status")).to_have_text("Refunded")
    assert asked and re.search(r"Refund \$129(\.00)? to Bo Refund", asked[0]), asked
    expect(row.get_by_role("button", name="Refund")).to_have_count(0)
    assert host.call("GET", f"/api/shows/{slug}", 200)["stock"][sku] == 3, "the refunded unit is on sale again"
    order = host.call("GET", f"/api/orders/{refunded['order_id']}", 200)
    assert order["status"] == "refunded" and order["lines"][0]["restocked_quantity"] == 1

    # Bulk: a CSV of shipments, one good row and one unknown number.
    csv = tmp_path / "shipments.csv"
    csv.write_text(f"number,carrier,tracking\n{by_csv['number']},DHL,JD0146\nNOPE2345,UPS,1Z\n")
    page.set_input_files("#shipments-file", str(csv))
    result = page.locator("#shipments-result")
    expect(result.locator('li[data-ok="yes"]')).to_have_count(1)
    expect(result.locator('li[data-ok="no"]')).to_have_count(1)
    row = page.locator(f'#orders tr[data-order-id="{by_csv["order_id"]}"]')
    expect(row.locator(".order-status")).to_have_text("Shipped")
    expect(row.locator(".order-tracking")).to_have_text("DHL JD0146")

    assert host.call("GET", f"/api/orders/{shipped['order_id']}", 200)["tracking_number"] == "1Z999AA10123456784"
    assert not problems, problems
    assert time.monotonic() - started < 60
