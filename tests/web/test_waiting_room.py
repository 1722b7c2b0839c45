"""A queue offer's randomized waiting room through the HTTP API, on the real app, Redis and SQL
(issue: fair drops, part 1): joining, the shuffle anyone can recompute, admission at a rate the
stock can serve, passes the hold checks, and every bad input with its code."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from web.settings import Settings

from .buying import auth, checkout_body, live_show_with_product, new_buyer


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Two hundred buyers from one test address; passes short enough to watch them expire.
    return settings.with_overrides(buyers_per_ip_per_minute=10_000, queue_pass_seconds=5)


def now_ms() -> int:
    return int(time.time() * 1000)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.1)


async def queue_offer(client: httpx.AsyncClient, host: str, slug: str, product_id: int, starts_in_ms: int, **extra: Any) -> dict[str, Any]:
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host), json={
        "product_id": product_id, "price_cents": 9900, "duration_s": 600, "starts_at": now_ms() + starts_in_ms,
        "mode": "queue", **extra,
    })
    assert made.status_code == 201, made.text
    return dict(made.json())


def queue_url(slug: str, offer_id: int, tail: str = "") -> str:
    return f"/api/shows/{slug}/offers/{offer_id}/queue{tail}"


async def me(client: httpx.AsyncClient, slug: str, offer_id: int, buyer: str) -> dict[str, Any]:
    answer = await client.get(queue_url(slug, offer_id, "/me"), headers=auth(buyer))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def press(client: httpx.AsyncClient, slug: str, buyer: str, sku: str, pass_token: str | None) -> httpx.Response:
    body: dict[str, Any] = {"sku": sku}
    if pass_token is not None:
        body["pass"] = pass_token
    return await client.post(f"/api/shows/{slug}/holds", json=body, headers={**auth(buyer), "Idempotency-Key": uuid.uuid4().hex})


async def test_two_hundred_entrants_are_shuffled_verifiably_and_admitted_buyers_buy(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"Q-41": 6, "Q-42": 6})
    offer = await queue_offer(client, host_token, slug, product["id"], 4000, admit_per_minute=1200, per_customer_limit=1)
    assert offer["mode"] == "queue" and offer["state"] == "scheduled" and offer["admit_per_minute"] == 1200
    assert offer["seed"] is None and len(offer["commitment"]) == 64

    buyers = [await new_buyer(client) for _ in range(200)]
    joins = await asyncio.gather(*(client.post(queue_url(slug, offer["id"]), json={}, headers=auth(b)) for b in buyers))
    assert [j.status_code for j in joins] == [201] * 200, joins[0].text
    entry_of = {b: j.json()["entry_id"] for b, j in zip(buyers, joins, strict=True)}
    assert len(set(entry_of.values())) == 200 and not any(j.json()["late"] for j in joins)
    again = await client.post(queue_url(slug, offer["id"]), headers=auth(buyers[0]))  # no body at all
    assert again.status_code == 200 and again.json()["entry_id"] == entry_of[buyers[0]]

    before = await me(client, slug, offer["id"], buyers[0])
    assert before["rank"] is None and before["pass"] is None and before["length"] == 200
    # Before the drop its units are the waiting room's: not even the pinned list price sells them.
    early = await press(client, slug, buyers[0], "Q-41", None)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_on_sale", early.text

    async def ranked() -> bool:
        return (await me(client, slug, offer["id"], buyers[0]))["rank"] is not None
    await until(ranked, what="the shuffle at starts_at")
    late_buyer = await new_buyer(client)
    late = await client.post(queue_url(slug, offer["id"]), json={}, headers=auth(late_buyer))
    assert late.status_code == 201 and late.json()["late"] is True

    # The seed is revealed; it matches the commitment; the ranks are HMAC order, a permutation.
    # Waited for: CI's PostgreSQL pass once read a snapshot with the seed still null after the
    # ranks showed. The cause was the view cache's sweep forgetting a show whose view was loading
    # (the load then kept a view nothing could drop for 10 s); fixed, and tested exactly in
    # tests/live/test_view_cache.py. The wait stays so that a reader's round trip is not a failure.
    async def revealed() -> dict[str, Any] | None:
        offers = (await client.get(f"/api/shows/{slug}")).json()["offers"]
        return offers[0] if offers and offers[0]["seed"] is not None else None
    snapshot_offer = await until(revealed, what="the seed in the show's snapshot")
    seed = bytes.fromhex(snapshot_offer["seed"])
    assert hashlib.sha256(seed).hexdigest() == offer["commitment"] == snapshot_offer["commitment"]
    audit = (await client.get(f"/api/shows/{slug}/offers/{offer['id']}/audit")).json()
    assert audit["seed"] == snapshot_offer["seed"] and audit["commitment"] == offer["commitment"] and "hmac" in audit["algorithm"].lower()
    early_entries = [e for e in audit["entries"] if e["joined_at"] < offer["starts_at"]]
    assert sorted(e["rank"] for e in early_entries) == list(range(1, 201))
    recomputed = sorted(early_entries, key=lambda e: hmac.new(seed, e["entry_id"].encode(), hashlib.sha256).hexdigest())
    assert [e["rank"] for e in recomputed] == list(range(1, 201))
    assert audit["entries"][-1] == {"entry_id": late.json()["entry_id"], "joined_at": late.json()["joined_at"], "rank": 201}
    rank_of = {e["entry_id"]: e["rank"] for e in audit["entries"]}
    for buyer in buyers[:20]:
        place = await me(client, slug, offer["id"], buyer)
        assert place["entry_id"] == entry_of[buyer] and place["rank"] == rank_of[entry_of[buyer]]

    # No hold without a pass of one's own, whatever one sends.
    by_rank = {rank_of[entry_of[b]]: b for b in buyers}
    first = by_rank[1]
    none = await press(client, slug, first, "Q-41", None)
    assert none.status_code == 403 and none.json()["error"]["code"] == "no_pass"
    forged = await press(client, slug, first, "Q-41", f"{offer['id']}.abc.1.{now_ms() + 60_000}.AAAAAAAAAAAAAAAAAAAAAA")
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "no_pass"

    async def first_admitted() -> dict[str, Any] | None:
        place = await me(client, slug, offer["id"], first)
        return place if place["admitted"] else None
    admitted = await until(first_admitted, what="rank 1 admitted")
    assert admitted["pass"] and admitted["ahead"] == 0 and admitted["eta_s"] == 0
    stolen = await press(client, slug, by_rank[200], "Q-41", admitted["pass"])
    assert stolen.status_code == 403 and stolen.json()["error"]["code"] == "pass_not_yours"
    last = await me(client, slug, offer["id"], by_rank[200])
    assert not last["admitted"] and last["pass"] is None and last["ahead"] > 0 and last["eta_s"] > 0

    # Everyone admitted buys until the 12 units are gone; never a unit more.
    paid = 0
    sold_out = False
    for rank in range(1, 201):
        buyer = by_rank[rank]

        async def my_turn(buyer: str = buyer) -> dict[str, Any] | None:
            place = await me(client, slug, offer["id"], buyer)
            return place if place["admitted"] else None
        place = await until(my_turn, what=f"rank {rank} admitted")
        held = await press(client, slug, buyer, "Q-41" if rank % 2 else "Q-42", place["pass"])
        if held.status_code == 409:
            assert held.json()["error"]["code"] == "sold_out", held.text
            other = await press(client, slug, buyer, "Q-42" if rank % 2 else "Q-41", place["pass"])
            if other.status_code == 409:
                sold_out = True
                break
            held = other
        assert held.status_code == 201, held.text
        assert held.json()["price_cents"] == 9900 and held.json()["offer_id"] == offer["id"]
        bought = await client.post(f"/api/holds/{held.json()['hold_id']}/checkout", json=checkout_body(email=f"b{rank}@example.com"),
                                   headers=auth(buyer))
        assert bought.status_code == 201, bought.text
        paid += 1
    assert sold_out and paid == 12
    snapshot = (await client.get(f"/api/shows/{slug}")).json()
    assert snapshot["stock"] == {"Q-41": 0, "Q-42": 0}

    async def used_noted() -> dict[str, Any] | None:  # used passes are written a moment after the hold
        figures = dict((await client.get(queue_url(slug, offer["id"]), headers=auth(host_token))).json())
        return figures if figures["passes_used"] >= 12 else None
    figures = await until(used_noted, what="the used passes counted")
    assert figures["sold"] == 12 and figures["length"] == 201
    # A drop of 12 units never let in more than the open-pass bound: ceil(1.25 x 12) + 10.
    assert figures["admitted_upto"] <= 25 + 12


async def test_passes_expire_and_their_places_stop_counting(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"X-1": 2})
    offer = await queue_offer(client, host_token, slug, product["id"], 1500, admit_per_minute=60_000)
    buyers = [await new_buyer(client) for _ in range(30)]
    for buyer in buyers:
        assert (await client.post(queue_url(slug, offer["id"]), json={}, headers=auth(buyer))).status_code == 201

    async def figures() -> dict[str, Any]:
        return dict((await client.get(queue_url(slug, offer["id"]), headers=auth(host_token))).json())

    async def bound_reached() -> bool:
        return (await figures())["admitted_upto"] == 13  # ceil(1.25 x 2) + 10 open passes, at 1,000 a second
    await until(bound_reached, what="the open-pass bound")
    await asyncio.sleep(1.0)
    assert (await figures())["admitted_upto"] == 13, "no further while 13 passes are open"

    admitted = [b for b in buyers if (await me(client, slug, offer["id"], b))["admitted"]]
    held_pass = (await me(client, slug, offer["id"], admitted[0]))["pass"]
    await asyncio.sleep(5.2)  # LIVEDROP_QUEUE_PASS_S=5
    place = await me(client, slug, offer["id"], admitted[0])
    assert place["admitted"] and place["expired"] and place["pass"] is None
    expired = await press(client, slug, admitted[0], "X-1", held_pass)
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "pass_expired"

    async def moved_on() -> bool:
        return (await figures())["admitted_upto"] > 13
    await until(moved_on, what="the line moving on after the passes expired")


async def test_bad_input_gets_its_code_and_changes_nothing(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"B-1": 5, "B-2": 5})
    buyer = await new_buyer(client)
    host = auth(host_token)
    open_offer = await client.post(f"/api/shows/{slug}/offers", headers=host,
                                   json={"product_id": product["id"], "price_cents": 9900, "duration_s": 600})
    assert open_offer.json()["mode"] == "open" and open_offer.json()["commitment"] is None
    not_a_queue = await client.post(queue_url(slug, open_offer.json()["id"]), json={}, headers=auth(buyer))
    assert not_a_queue.status_code == 409 and not_a_queue.json()["error"]["code"] == "not_a_queue"
    audit_open = await client.get(f"/api/shows/{slug}/offers/{open_offer.json()['id']}/audit")
    assert audit_open.status_code == 409 and audit_open.json()["error"]["code"] == "not_a_queue"
    assert (await client.delete(f"/api/shows/{slug}/offers/{open_offer.json()['id']}", headers=host)).status_code == 204

    now_starts = await client.post(f"/api/shows/{slug}/offers", headers=host, json={
        "product_id": product["id"], "price_cents": 9900, "duration_s": 600, "mode": "queue"})
    assert now_starts.status_code == 422 and "starts_at" in now_starts.json()["error"]["message"]
    # Draws exist since issue 22 (tests/web/test_draws.py); a draw has no waiting room to set a rate for.
    draw = await client.post(f"/api/shows/{slug}/offers", headers=host, json={
        "product_id": product["id"], "price_cents": 9900, "mode": "draw", "entries_close_at": now_ms() + 60_000,
        "admit_per_minute": 100})
    assert draw.status_code == 422 and "admit_per_minute" in draw.json()["error"]["message"]
    rate_on_open = await client.post(f"/api/shows/{slug}/offers", headers=host, json={
        "product_id": product["id"], "price_cents": 9900, "duration_s": 600, "admit_per_minute": 100})
    assert rate_on_open.status_code == 422

    offer = await queue_offer(client, host_token, slug, product["id"], 60_000)
    assert offer["admit_per_minute"] == 60, "the default for 10 units: twice the units a minute, at least 60"
    url = queue_url(slug, offer["id"])
    client.cookies.clear()  # new_buyer left its buyer cookie
    assert (await client.post(url, json={})).status_code == 401
    assert (await client.post(url, json={"pow": 5}, headers=auth(buyer))).status_code == 422
    assert (await client.post(url, json={"colour": "red"}, headers=auth(buyer))).status_code == 422
    assert (await client.post(f"/api/shows/{slug}/offers/999999/queue", json={}, headers=auth(buyer))).status_code == 404
    assert (await client.post(f"/api/shows/nope/offers/{offer['id']}/queue", json={}, headers=auth(buyer))).status_code == 404
    missing = await client.get(queue_url(slug, offer["id"], "/me"), headers=auth(buyer))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_in_queue"
    assert (await client.get(url, headers=auth(buyer))).status_code == 401, "the figures are the host's"

    # The host changes the rate; not on an open offer, not out of range.
    patched = await client.patch(f"/api/shows/{slug}/offers/{offer['id']}", json={"admit_per_minute": 500}, headers=host)
    assert patched.status_code == 200 and patched.json()["admit_per_minute"] == 500
    assert (await client.patch(f"/api/shows/{slug}/offers/{offer['id']}", json={"admit_per_minute": 0}, headers=host)).status_code == 422
    assert (await client.get(url, headers=host)).json()["admit_per_minute"] == 500

    # A pass of another offer is no pass here; nothing was held by any of it.
    joined = await client.post(url, json={}, headers=auth(buyer))
    assert joined.status_code == 201
    assert (await client.delete(f"/api/shows/{slug}/offers/{offer['id']}", headers=host)).status_code == 204
    closed = await client.post(url, json={}, headers=auth(await new_buyer(client)))
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "queue_closed"
    assert (await client.get(f"/api/shows/{slug}")).json()["stock"] == {"B-1": 5, "B-2": 5}


async def test_new_entries_per_address_are_limited(app: Any, client: httpx.AsyncClient, host_token: str) -> None:
    """Counted inside the join script (no extra round trip); a repeated join is not a new entry."""
    from inventory.errors import RateLimited

    slug, product = await live_show_with_product(client, host_token, {"R-1": 5})
    offer = await queue_offer(client, host_token, slug, product["id"], 60_000)
    queues = app.state.livedrop.queues
    limit = (3, 60_000)
    for n in range(3):
        await queues.join(slug, offer["id"], f"buyer{n}", "203.0.113.7", limit)
    _, created = await queues.join(slug, offer["id"], "buyer0", "203.0.113.7", limit)
    assert not created
    with pytest.raises(RateLimited) as refused:
        await queues.join(slug, offer["id"], "buyer3", "203.0.113.7", limit)
    assert refused.value.retry_after_s is not None and 1 <= refused.value.retry_after_s <= 60
    _, created = await queues.join(slug, offer["id"], "buyer3", "198.51.100.1", limit)
    assert created
    assert (await client.get(queue_url(slug, offer["id"]), headers=auth(host_token))).json()["length"] == 4


async def test_joins_of_one_tick_go_to_redis_as_one_call(app: Any, client: httpx.AsyncClient, host_token: str) -> None:
    """The group commit: joins started together are one script call, each answered as if alone (a
    buyer twice in the batch is one entry; the address limit counts in arrival order)."""
    from inventory.errors import RateLimited

    slug, product = await live_show_with_product(client, host_token, {"G-1": 5})
    offer = await queue_offer(client, host_token, slug, product["id"], 60_000)
    queues = app.state.livedrop.queues
    room = queues.room
    redis = app.state.livedrop.services.redis

    async def evalsha_calls() -> int:
        return int((await redis.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0))

    await queues.join(slug, offer["id"], "warm", "198.51.100.9", None)  # the offer view cached, the script loaded
    before = await evalsha_calls()
    buyers = [f"tick{n}" for n in range(40)] + ["tick3"]
    limit = (12, 60_000)  # from one address: the first 12 new entries get in, the rest wait
    answers = await asyncio.gather(
        *(queues.join(slug, offer["id"], b, "203.0.113.50" if n < 30 else f"198.51.100.{n}", limit) for n, b in enumerate(buyers)),
        return_exceptions=True,
    )
    assert await evalsha_calls() - before == 1
    admitted = [a for a in answers[:30] if not isinstance(a, BaseException)]
    assert len(admitted) == 12 and all(created for _, created in admitted)
    assert all(isinstance(a, RateLimited) for a in answers[12:30])
    assert all(not isinstance(a, BaseException) and a[1] for a in answers[30:40])
    again = answers[40]
    assert not isinstance(again, BaseException)
    first = answers[3]
    assert not isinstance(first, BaseException)
    assert again == (first[0], False)  # tick3's second join: its own entry, not a new one
    entries = [a[0]["entry_id"] for a in answers[:40] if not isinstance(a, BaseException)]
    assert len(set(entries)) == 22
    line = await room.line(offer["id"])
    assert line.length == 23  # warm + 12 + 10
