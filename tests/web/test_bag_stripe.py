"""The show's bag paid under Stripe (LIVEDROP_PAYMENTS=stripe), through the real app against
localstripe: one PaymentIntent for the bag's total, confirmed as a one-hold payment is (where a
browser would confirm with Stripe.js, the tests confirm on the server with localstripe's test
payment methods), one order with a line per hold; retries, declines, a changed bag, the webhook
and the sweeper's recovery."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from .buying import auth, hold, live_show_with_product, new_buyer
from .test_bag_api import add_product, show_with_bag
from . import test_stripe_checkout as stripe_checkout
from .test_stripe_checkout import details, paid_orders, provider_of, webhook

# The Stripe app and its client, the fixtures of tests/web/test_stripe_checkout.py.
stripe_app = stripe_checkout.stripe_app
http = stripe_checkout.http


async def bag_of_two(http: httpx.AsyncClient, host_token: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    slug, _, _ = await show_with_bag(http, host_token)
    buyer = await new_buyer(http, "Kim")
    shoe = (await hold(http, slug, buyer, "AUR-42")).json()
    hat = (await hold(http, slug, buyer, "CAP-1")).json()
    return slug, buyer, shoe, hat


async def payment_intent(app: Any, payment_id: str) -> dict[str, Any]:
    return (await provider_of(app).client.v1.payment_intents.retrieve_async(payment_id)).to_dict()


async def live_hold_states(http: httpx.AsyncClient, buyer: str) -> set[str]:
    return {h["hold_id"] for h in (await http.get("/api/buyers/me", headers=auth(buyer))).json()["holds"]}


async def test_a_bag_is_one_payment_for_its_total_confirmed_then_one_order(http: httpx.AsyncClient, stripe_app: Any,
                                                                           host_token: str) -> None:
    slug, buyer, shoe, hat = await bag_of_two(http, host_token)
    ids = [hat["hold_id"], shoe["hold_id"]]
    lead = min(ids)
    started = await http.post(f"/api/shows/{slug}/bag/payment", json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert started.status_code == 200, started.text
    payment = started.json()
    assert (payment["amount_cents"], payment["currency"], payment["status"]) == (12900 + 2500, "USD", "requires_payment_method")
    pi = await payment_intent(stripe_app, payment["payment_id"])
    assert pi["metadata"]["hold_id"] == lead and pi["amount"] == 15400, "one payment, the bag's lead hold in its metadata"

    again = await http.post(f"/api/shows/{slug}/bag/payment", json={**details(), "hold_ids": ids[::-1]}, headers=auth(buyer))
    assert again.json()["payment_id"] == payment["payment_id"], "the same bag in another order: the same payment"

    url = f"/api/shows/{slug}/bag/checkout"
    early = await http.post(url, json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert early.status_code == 402 and early.json()["error"]["code"] == "payment_incomplete", early.text
    with_card = await http.post(url, json={**details(), "card_number": "4242424242424242", "hold_ids": ids}, headers=auth(buyer))
    assert with_card.status_code == 422 and "bag/payment" in with_card.json()["error"]["message"], with_card.text

    confirmed = await http.post(f"/api/shows/{slug}/bag/payment",
                                json={**details(), "hold_ids": ids, "payment_method": "pm_card_visa"}, headers=auth(buyer))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text
    paid = await http.post(url, json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    order = paid.json()
    assert order["status"] == "paid" and order["total_cents"] == 15400
    assert sorted(line["sku"] for line in order["lines"]) == ["AUR-42", "CAP-1"]

    retry = await http.post(url, json={**details(), "hold_ids": ids[::-1]}, headers=auth(buyer))
    assert retry.status_code == 200 and retry.json()["order_id"] == order["order_id"]
    after = await http.post(f"/api/shows/{slug}/bag/payment", json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert after.json() == {"status": "paid", "order_id": order["order_id"], "receipt_url": order["receipt_url"]}
    assert [o["order_id"] for o in await paid_orders(http, host_token, slug)] == [order["order_id"]]
    stock = (await http.get(f"/api/shows/{slug}")).json()["stock"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (2, 1), "each unit sold once"
    listed = (await provider_of(stripe_app).client.v1.payment_intents.list_async({"limit": 100})).to_dict()["data"]
    assert [p["id"] for p in listed if p["metadata"].get("hold_id") in ids] == [payment["payment_id"]], "one payment made"


async def test_a_decline_keeps_the_payment_open_and_a_changed_bag_cancels_it(http: httpx.AsyncClient, stripe_app: Any,
                                                                             host_token: str) -> None:
    slug, buyer, shoe, hat = await bag_of_two(http, host_token)
    ids = [shoe["hold_id"], hat["hold_id"]]
    declined = await http.post(f"/api/shows/{slug}/bag/payment", json={
        **details(), "hold_ids": ids, "payment_method": "pm_card_chargeCustomerFail"}, headers=auth(buyer))
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "payment_declined", declined.text
    first = (await http.post(f"/api/shows/{slug}/bag/payment", json={**details(), "hold_ids": ids}, headers=auth(buyer))).json()
    assert first["status"] == "requires_payment_method", "declined: open for another card"
    locked = await http.delete(f"/api/holds/{hat['hold_id']}", headers=auth(buyer))
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "hold_locked", "in checkout: not released meanwhile"

    # The buyer pays for the shoe alone: the bag's open payment is cancelled, the cap is held again.
    shoe_only = await http.post(f"/api/shows/{slug}/bag/payment",
                                json={**details(), "hold_ids": [shoe["hold_id"]], "payment_method": "pm_card_visa"}, headers=auth(buyer))
    assert shoe_only.status_code == 200 and shoe_only.json()["status"] == "succeeded", shoe_only.text
    assert shoe_only.json()["amount_cents"] == 12900 and shoe_only.json()["payment_id"] != first["payment_id"]
    assert (await payment_intent(stripe_app, first["payment_id"]))["status"] == "canceled", "a late confirmation cannot pay it"
    paid = await http.post(f"/api/shows/{slug}/bag/checkout", json={**details(), "hold_ids": [shoe["hold_id"]]}, headers=auth(buyer))
    assert paid.status_code == 201 and [line["sku"] for line in paid.json()["lines"]] == ["AUR-42"], paid.text
    assert await live_hold_states(http, buyer) == {hat["hold_id"]}, "the cap is held again, with its timer"
    assert (await http.delete(f"/api/holds/{hat['hold_id']}", headers=auth(buyer))).status_code == 204
    stock = (await http.get(f"/api/shows/{slug}")).json()["stock"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (2, 2)
    assert len(await paid_orders(http, host_token, slug)) == 1


async def test_the_sweeper_and_the_webhook_settle_a_bag_from_any_of_its_holds(http: httpx.AsyncClient, stripe_app: Any,
                                                                               host_token: str) -> None:
    checkout = stripe_app.state.livedrop.checkout
    # Paid in the browser, then the server "died" before the checkout call: the sweeper's recovery
    # of the bag's *second* hold finishes the whole order.
    slug, buyer, shoe, hat = await bag_of_two(http, host_token)
    ids = sorted([shoe["hold_id"], hat["hold_id"]])
    confirmed = await http.post(f"/api/shows/{slug}/bag/payment",
                                json={**details(), "hold_ids": ids, "payment_method": "pm_card_visa"}, headers=auth(buyer))
    assert confirmed.json()["status"] == "succeeded", confirmed.text
    assert await checkout.recover(ids[1]) == "completed"
    assert {await checkout.recover(i) for i in ids} == {"sold"}
    [order] = await paid_orders(http, host_token, slug)
    assert order["total_cents"] == 15400
    stock = (await http.get(f"/api/shows/{slug}")).json()["stock"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (2, 1)
    retry = await http.post(f"/api/shows/{slug}/bag/checkout", json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert retry.status_code == 200 and retry.json()["order_id"] == order["order_id"]

    # Not paid: recovery cancels the payment and gives every hold back to its buyer.
    other = await new_buyer(http, "Lee")
    shoe2 = (await hold(http, slug, other, "AUR-42")).json()
    hat2 = (await hold(http, slug, other, "CAP-1")).json()
    ids2 = sorted([shoe2["hold_id"], hat2["hold_id"]])
    started = (await http.post(f"/api/shows/{slug}/bag/payment", json={**details(), "email": "lee@example.com", "hold_ids": ids2},
                               headers=auth(other))).json()
    assert await checkout.recover(ids2[0]) == "unlocked"
    assert await checkout.recover(ids2[1]) == "unlocked"
    assert (await payment_intent(stripe_app, started["payment_id"]))["status"] == "canceled"
    assert await live_hold_states(http, other) == set(ids2)

    # Paid, and the webhook says so before the buyer's checkout: it finishes the order once.
    confirmed2 = await http.post(f"/api/shows/{slug}/bag/payment", json={
        **details(), "email": "lee@example.com", "hold_ids": ids2, "payment_method": "pm_card_visa"}, headers=auth(other))
    assert confirmed2.json()["status"] == "succeeded", confirmed2.text
    body, headers = webhook(await payment_intent(stripe_app, confirmed2.json()["payment_id"]))
    assert (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200
    orders = await paid_orders(http, host_token, slug)
    assert len(orders) == 2 and sorted(o["total_cents"] for o in orders) == [15400, 15400]
    stock = (await http.get(f"/api/shows/{slug}")).json()["stock"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (1, 0)
    assert await live_hold_states(http, other) == set()


async def test_a_double_click_pays_once(http: httpx.AsyncClient, stripe_app: Any, host_token: str) -> None:
    """Two tabs (or a double click) pay the same bag at once: one order, each unit sold once, and
    whatever Stripe charged beyond the bag's total is given back."""
    slug, buyer, shoe, hat = await bag_of_two(http, host_token)
    ids = [shoe["hold_id"], hat["hold_id"]]
    body = {**details(), "hold_ids": ids, "payment_method": "pm_card_visa"}
    started = await asyncio.gather(*(http.post(f"/api/shows/{slug}/bag/payment", json=body, headers=auth(buyer)) for _ in range(2)))
    assert all(s.status_code == 200 for s in started), [s.text for s in started]
    paid = await asyncio.gather(*(http.post(f"/api/shows/{slug}/bag/checkout", json={**details(), "hold_ids": ids}, headers=auth(buyer))
                                  for _ in range(2)))
    assert sorted(p.status_code for p in paid) == [200, 201], [p.text for p in paid]
    assert paid[0].json()["order_id"] == paid[1].json()["order_id"]
    [order] = await paid_orders(http, host_token, slug)
    stock = (await http.get(f"/api/shows/{slug}")).json()["stock"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (2, 1), "each unit sold once"
    provider = provider_of(stripe_app)
    kept = 0
    for payment_id in {s.json()["payment_id"] for s in started}:
        pi = await payment_intent(stripe_app, payment_id)
        refunds = (await provider.client.v1.refunds.list_async({"payment_intent": payment_id})).to_dict()["data"]
        if pi["status"] == "succeeded":
            kept += pi["amount"] - sum(r["amount"] for r in refunds)
    assert kept == order["total_cents"] == 15400, "charged once for the bag"


async def test_a_hold_in_a_bag_being_paid_is_not_paid_again_on_its_own(http: httpx.AsyncClient, stripe_app: Any,
                                                                        host_token: str) -> None:
    """The hold bar (after a reload) may offer one hold of a bag whose payment has started: its
    own checkout is refused (bag_conflict) instead of making a second payment for the bag's order."""
    slug, buyer, shoe, hat = await bag_of_two(http, host_token)
    ids = sorted([shoe["hold_id"], hat["hold_id"]])
    started = (await http.post(f"/api/shows/{slug}/bag/payment", json={**details(), "hold_ids": ids}, headers=auth(buyer))).json()
    second = ids[1]  # not the bag's lead: the order is paid under the lead's key
    for path in (f"/api/holds/{second}/payment", f"/api/holds/{second}/checkout"):
        refused = await http.post(path, json=details(), headers=auth(buyer))
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "bag_conflict", (path, refused.text)
    confirmed = await http.post(f"/api/shows/{slug}/bag/payment",
                                json={**details(), "hold_ids": ids, "payment_method": "pm_card_visa"}, headers=auth(buyer))
    assert confirmed.json()["payment_id"] == started["payment_id"] and confirmed.json()["status"] == "succeeded"
    paid = await http.post(f"/api/shows/{slug}/bag/checkout", json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    own = await http.post(f"/api/holds/{second}/checkout", json=details(), headers=auth(buyer))
    assert own.status_code == 200 and own.json()["order_id"] == paid.json()["order_id"], "paid: its own checkout finds the order"
    listed = (await provider_of(stripe_app).client.v1.payment_intents.list_async({"limit": 100})).to_dict()["data"]
    assert [p["id"] for p in listed if p["metadata"].get("hold_id") in ids] == [started["payment_id"]], "one payment made"


async def ledger(app: Any, hold_ids: set[str]) -> dict[str, tuple[int, int, str]]:
    """Every PaymentIntent made for these holds: id -> (amount, cents kept: paid and not refunded, status)."""
    provider = provider_of(app)
    listed = await provider.client.v1.payment_intents.list_async({"limit": 100})
    found = {}
    async for item in listed.auto_paging_iter():
        pi = item.to_dict()
        if pi["metadata"].get("hold_id") not in hold_ids:
            continue
        kept = 0
        if pi["status"] == "succeeded":  # (localstripe answers 500 to listing the refunds of one never charged)
            refunds = (await provider.client.v1.refunds.list_async({"payment_intent": pi["id"]})).to_dict()["data"]
            kept = pi["amount"] - sum(r["amount"] for r in refunds)
        found[pi["id"]] = (pi["amount"], kept, pi["status"])
    return found


async def refunds_of(app: Any, payment_id: str) -> list[dict[str, Any]]:
    return (await provider_of(app).client.v1.refunds.list_async({"payment_intent": payment_id})).to_dict()["data"]


async def test_a_paid_payment_of_another_amount_for_the_lead_hold_never_pays_the_bag(
    http: httpx.AsyncClient, stripe_app: Any, host_token: str,
) -> None:
    """The bag's lead hold can have PaymentIntents of two amounts (its own one-hold payment, the
    bag's). Neither the webhook nor the sweeper may mark the bag's order paid with the one-hold
    payment: an order is paid only by a payment of exactly its total and currency; the other
    payment matches no order and is refunded, once, however often it is seen."""
    checkout = stripe_app.state.livedrop.checkout
    slug, buyer, shoe, hat = await bag_of_two(http, host_token)
    by_id = {shoe["hold_id"]: shoe, hat["hold_id"]: hat}
    ids = sorted(by_id)
    lead = by_id[ids[0]]
    started = (await http.post(f"/api/shows/{slug}/bag/payment", json={**details(), "hold_ids": ids}, headers=auth(buyer))).json()
    assert started["amount_cents"] == 15400 and started["status"] == "requires_payment_method", started
    # A tab that still showed the lead hold alone paid it on its own: a succeeded PaymentIntent of
    # the lead hold for the lead's price, not the bag's total.
    params: Any = {"amount": lead["price_cents"], "currency": "usd", "metadata": {"hold_id": lead["hold_id"], "attempt": "0"},
                   "payment_method": "pm_card_visa", "confirm": True}
    stray = (await provider_of(stripe_app).client.v1.payment_intents.create_async(params)).to_dict()
    assert stray["status"] == "succeeded" and stray["amount"] != 15400

    body, headers = webhook(stray)
    assert (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200
    assert await paid_orders(http, host_token, slug) == [], "the webhook of the one-hold payment does not pay the bag"
    assert len(await refunds_of(stripe_app, stray["id"])) == 1, "a payment that matches no order is refunded"

    # The sweeper past the lock deadline: the bag's own payment never went through, so the bag's
    # order is dropped (its payment cancelled), whatever else the lead hold was paid with.
    assert {await checkout.recover(i) for i in ids} == {"unlocked"}
    assert await paid_orders(http, host_token, slug) == []
    assert (await payment_intent(stripe_app, started["payment_id"]))["status"] == "canceled"
    assert len(await refunds_of(stripe_app, stray["id"])) == 1, "refunded once, not once per look"

    # The buyer pays the bag for real: the order is paid by the bag's payment, of its total.
    paid_start = await http.post(f"/api/shows/{slug}/bag/payment",
                                 json={**details(), "hold_ids": ids, "payment_method": "pm_card_visa"}, headers=auth(buyer))
    assert paid_start.status_code == 200 and paid_start.json()["status"] == "succeeded", paid_start.text
    assert paid_start.json()["amount_cents"] == 15400
    paid = await http.post(f"/api/shows/{slug}/bag/checkout", json={**details(), "hold_ids": ids}, headers=auth(buyer))
    assert paid.status_code == 201 and paid.json()["total_cents"] == 15400, paid.text
    order = await checkout.get_order(paid.json()["order_id"])
    assert order.payment_id == paid_start.json()["payment_id"]

    again_body, again_headers = webhook(stray)  # Stripe's news of the stray, again, under a new event id
    assert (await http.post("/webhooks/stripe", content=again_body, headers=again_headers)).status_code == 200
    assert len(await refunds_of(stripe_app, stray["id"])) == 1
    kept = sum(k for _, k, _ in (await ledger(stripe_app, set(ids))).values())
    assert kept == 15400, "exactly the bag's total is kept"
    stock = (await http.get(f"/api/shows/{slug}")).json()["stock"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (2, 1)


async def test_two_tabs_paying_two_bags_at_once_keep_only_what_pays_an_order(
    http: httpx.AsyncClient, stripe_app: Any, host_token: str,
) -> None:
    """One buyer, two tabs, two different bags sharing their lead hold, each paid (confirmed on the
    server) at the same instant. Whichever tab wins, every payment is either the payment of a paid
    order of exactly its total, or refunded (or never went through); no order is paid twice or
    by another order's payment, and each unit is sold once."""
    checkout = stripe_app.state.livedrop.checkout
    slug, pinned = await live_show_with_product(http, host_token, {"AUR-42": 20})
    cap = await add_product(http, host_token, "Cap", {"CAP-1": 20})
    assert (await http.put(f"/api/shows/{slug}/bag", json={"product_ids": [cap["id"], pinned["id"]]},
                           headers=auth(host_token))).status_code == 200
    async def pay(bag: list[str], email: str, buyer: str, after_s: float) -> httpx.Response:
        await asyncio.sleep(after_s)
        return await http.post(f"/api/shows/{slug}/bag/payment",
                               json={**details(), "email": email, "hold_ids": bag, "payment_method": "pm_card_visa"},
                               headers=auth(buyer))

    # The second tab starts a little later each round, so that its press lands in each step of the
    # first tab's payment (locking, the pending order, the PaymentIntent, its confirmation).
    for round_, lag_s in enumerate((0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12)):
        buyer = await new_buyer(http, f"Tab{round_}")
        email = f"tabs{round_}@example.com"
        holds = [(await hold(http, slug, buyer, sku)).json() for sku in ("AUR-42", "CAP-1")]
        if round_ % 2:
            holds.append((await hold(http, slug, buyer, "AUR-42")).json())
        else:
            holds.append((await hold(http, slug, buyer, "CAP-1")).json())
        ids = sorted(h["hold_id"] for h in holds)
        bags = [[ids[0], ids[1]], [ids[0], ids[2]]]
        answers = await asyncio.gather(pay(bags[0], email, buyer, 0), pay(bags[1], email, buyer, lag_s))
        for answer in answers:
            assert answer.status_code in (200, 409, 410), answer.text
        # Each tab then checks out its bag; Stripe's webhooks come for every payment that went through;
        # the sweeper settles what is left.
        for bag in bags:
            done = await http.post(f"/api/shows/{slug}/bag/checkout", json={**details(), "email": email, "hold_ids": bag},
                                   headers=auth(buyer))
            assert done.status_code in (200, 201, 402, 409, 410), done.text
        for pi_id, (_, _, status) in (await ledger(stripe_app, set(ids))).items():
            if status == "succeeded":
                body, headers = webhook(await payment_intent(stripe_app, pi_id))
                assert (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200
        for hold_id in ids:
            await checkout.recover(hold_id)

        payments = await ledger(stripe_app, set(ids))
        found = [await checkout.order_for_hold(i) for i in ids]
        orders = list({o.id: o for o in found if o is not None and o.status == "paid"}.values())
        assert len(orders) <= 1, "one hold is in at most one paid order"
        for order in orders:
            amount, kept, status = payments[order.payment_id]
            assert (amount, kept, status) == (order.total_cents, order.total_cents, "succeeded"), (round_, order.total_cents, payments)
        paid_ids = {o.payment_id for o in orders}
        assert all(kept == 0 for pi_id, (_, kept, _) in payments.items() if pi_id not in paid_ids), (round_, payments)
        for h in holds:
            if not any(line.hold_id == h["hold_id"] or o.hold_id == h["hold_id"] for o in orders for line in o.lines):
                await http.delete(f"/api/holds/{h['hold_id']}", headers=auth(buyer))
    # Every unit is where it should be: what was sold is what the paid orders say.
    stock = (await http.get(f"/api/shows/{slug}")).json()["stock"]
    sold = {"AUR-42": 0, "CAP-1": 0}
    for o in await paid_orders(http, host_token, slug):
        for line in o["lines"]:
            sold[line["sku"]] += line["quantity"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (20 - sold["AUR-42"], 20 - sold["CAP-1"])


async def test_a_tab_whose_bag_the_other_tab_dropped_cannot_pay_for_it(
    http: httpx.AsyncClient, stripe_app: Any, host_token: str, monkeypatch: Any,
) -> None:
    """The race of two tabs, staged step by step: tab A has written its bag's pending order and is
    about to make its PaymentIntent when tab B starts paying another bag with the same lead hold
    (B drops A's order, as a changed bag does, and pays its own). A's payment must not go through
    for the order B dropped (refused before it can be confirmed), and nothing is kept but B's."""
    checkout = stripe_app.state.livedrop.checkout
    slug, buyer, shoe, hat = await bag_of_two(http, host_token)
    other_shoe = (await hold(http, slug, buyer, "AUR-42")).json()
    ids = sorted([shoe["hold_id"], hat["hold_id"], other_shoe["hold_id"]])
    tab_a, tab_b = [ids[0], ids[1]], [ids[0], ids[2]]

    provider = provider_of(stripe_app)
    real_start = provider.start
    starts: list[str] = []
    b_done = asyncio.Event()

    async def start_after_tab_b(*args: Any, **kwargs: Any) -> Any:
        starts.append(args[0])
        if len(starts) == 1:  # tab A's: it waits here, between its pending order and its PaymentIntent
            await asyncio.wait_for(b_done.wait(), 10)
        return await real_start(*args, **kwargs)

    monkeypatch.setattr(provider, "start", start_after_tab_b)

    def pay(bag: list[str]) -> Any:
        return http.post(f"/api/shows/{slug}/bag/payment",
                         json={**details(), "hold_ids": bag, "payment_method": "pm_card_visa"}, headers=auth(buyer))

    a = asyncio.create_task(pay(tab_a))
    for _ in range(500):
        if starts:
            break
        await asyncio.sleep(0.01)
    assert starts, "tab A reached its payment"
    b = await pay(tab_b)
    b_done.set()
    a_answer = await a
    assert b.status_code == 200 and b.json()["status"] == "succeeded", b.text
    assert a_answer.status_code in (409, 410) or a_answer.json().get("status") != "succeeded", a_answer.text

    # Both tabs check out, Stripe tells of every payment that went through, the sweeper passes.
    for bag in (tab_a, tab_b):
        await http.post(f"/api/shows/{slug}/bag/checkout", json={**details(), "hold_ids": bag}, headers=auth(buyer))
    payments = await ledger(stripe_app, set(ids))
    for pi_id, (_, _, status) in payments.items():
        if status == "succeeded":
            body, headers = webhook(await payment_intent(stripe_app, pi_id))
            assert (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200
    for hold_id in ids:
        await checkout.recover(hold_id)

    [order] = await paid_orders(http, host_token, slug)
    assert sorted(line["sku"] for line in order["lines"]) == sorted(
        {shoe["hold_id"]: "AUR-42", hat["hold_id"]: "CAP-1", other_shoe["hold_id"]: "AUR-42"}[i] for i in tab_b)
    payments = await ledger(stripe_app, set(ids))
    kept = {pi_id: k for pi_id, (_, k, _) in payments.items() if k}
    assert kept == {b.json()["payment_id"]: order["total_cents"]}, payments
