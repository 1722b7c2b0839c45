"""Draw offers through the HTTP API on the real app, Redis and SQL (issue 22, fair drops part 2):
1,000 entries over 3 sizes that authorize the price, the draw anyone can recompute, winners' holds,
claims that capture, hand-overs in rank order, and every bad input with its code."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from inventory.stock import StockStore
from web.settings import Settings

from .buying import auth, checkout_body, live_show_with_product, new_buyer

ENTRANTS = 1000
STOCK = {"D-40": 5, "D-41": 3, "D-42": 4}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(buyers_per_ip_per_minute=100_000)


def now_ms() -> int:
    return int(time.time() * 1000)


def paying_card(n: int) -> str:
    """A distinct paying test card: 424242, nine digits of n, and the Luhn check digit."""
    body = f"424242{n:09d}"
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def verify(audit: dict[str, Any]) -> list[str]:
    """Recompute a draw's audit as an outsider would (docs/draws.md); the problems found."""
    problems = []
    secret = bytes.fromhex(audit["secret"])
    if hashlib.sha256(secret).hexdigest() != audit["commitment"]:
        problems.append("commitment")
    ids = [e["entry_id"] for e in audit["entries"]] + [x["entry_id"] for x in audit["excluded"]]
    entries_hash = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    if entries_hash != audit["entries_hash"]:
        problems.append("entries_hash")
    beacon = bytes.fromhex(audit["beacon"]["randomness"]) if audit["beacon"] else b""
    seed = hashlib.sha256(b"livedrop-draw-v1" + secret + bytes.fromhex(entries_hash) + beacon).digest()
    if seed.hex() != audit["seed"]:
        problems.append("seed")
    order = sorted(audit["entries"], key=lambda e: hmac.new(seed, e["entry_id"].encode(), hashlib.sha256).hexdigest())
    if [e["rank"] for e in order] != list(range(1, len(order) + 1)):
        problems.append("ranks")
    skipped = {v["entry_id"] for v in audit["voids"] if v["at_draw"]}
    for sku, units in audit["units"].items():
        best = [e["entry_id"] for e in order if e["sku"] == sku and e["entry_id"] not in skipped][:units]
        if best != [w["entry_id"] for w in audit["winners"] if w["sku"] == sku]:
            problems.append(f"winners of {sku}")
    return problems


def entries_url(slug: str, offer_id: int, tail: str = "") -> str:
    return f"/api/shows/{slug}/offers/{offer_id}/entries{tail}"


async def until(check: Any, timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_a_thousand_entries_draw_verifiably_and_winners_claim_or_hand_over(
    client: httpx.AsyncClient, host_token: str, app: Any,
) -> None:
    slug, product = await live_show_with_product(client, host_token, STOCK)
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 9900, "mode": "draw", "entries_open_at": now_ms(),
        "entries_close_at": now_ms() + 3_600_000, "claim_minutes": 30, "authorize": True,
    })
    assert made.status_code == 201, made.text
    offer = made.json()
    assert offer["mode"] == "draw" and offer["claim_minutes"] == 30 and len(offer["commitment"]) == 64 and offer["seed"] is None
    offer_id = offer["id"]
    # Its units go to the draw's winners: no press buys them meanwhile.
    press = await client.post(f"/api/shows/{slug}/holds", json={"sku": "D-40"},
                              headers={**auth(await new_buyer(client)), "Idempotency-Key": "k1"})
    assert press.status_code == 409 and press.json()["error"]["code"] == "not_on_sale", press.text

    buyers = [await new_buyer(client) for _ in range(ENTRANTS)]
    skus = list(STOCK)
    entry_of: dict[str, str] = {}
    for at in range(0, ENTRANTS, 50):
        answers = await asyncio.gather(*(client.post(entries_url(slug, offer_id), headers=auth(buyers[i]), json={
            "sku": skus[i % 3], "email": f"Fan{i}@Example.com", "card_number": paying_card(i)}) for i in range(at, at + 50)))
        for i, answer in zip(range(at, at + 50), answers, strict=True):
            assert answer.status_code == 201, answer.text
            entry_of[buyers[i]] = answer.json()["entry_id"]
    assert len(set(entry_of.values())) == ENTRANTS

    # Bad input: each refused with its code, nothing written (the counts stay), no authorization kept.
    async def refused(buyer: str, body: dict[str, Any], code: str) -> None:
        answer = await client.post(entries_url(slug, offer_id), headers=auth(buyer), json=body)
        assert answer.status_code == 409 and answer.json()["error"]["code"] == code, answer.text
    newcomer = await new_buyer(client)
    await refused(buyers[0], {"sku": "D-41", "email": "other@example.com", "card_number": paying_card(5000)}, "already_entered")
    await refused(newcomer, {"sku": "D-41", "email": "fan1@example.com", "card_number": paying_card(5001)}, "email_already_entered")
    await refused(newcomer, {"sku": "D-41", "email": "new@example.com", "card_number": paying_card(2)}, "card_already_entered")
    payments = app.state.livedrop.payments
    unknown = await client.post(entries_url(slug, offer_id), headers=auth(newcomer), json={"sku": "NOPE", "email": "n@example.com",
                                                                                          "card_number": paying_card(5002)})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_sku"
    figures = (await client.get(entries_url(slug, offer_id), headers=auth(host_token))).json()
    assert figures["entries"] == {"D-40": 334, "D-41": 333, "D-42": 333} and figures["drawn_at"] is None

    # The host voids two bots before the draw; the audit lists them apart.
    bots = [entry_of[buyers[3]], entry_of[buyers[4]]]
    for bot in bots:
        voided = await client.post(entries_url(slug, offer_id, f"/{bot}/void"), headers=auth(host_token), json={"reason": "bot"})
        assert voided.status_code == 200 and voided.json()["status"] == "excluded", voided.text
    before = (await client.get(f"/api/shows/{slug}/offers/{offer_id}/audit")).json()
    assert before["secret"] is None and before["seed"] is None and len(before["excluded"]) == 2

    drawn = await client.post(f"/api/shows/{slug}/offers/{offer_id}/draw", headers=auth(host_token))
    assert drawn.status_code == 200, drawn.text
    assert len(drawn.json()["winners"]) == sum(STOCK.values())

    # After the draw: entering is closed, voiding refused, nothing moved.
    await refused(newcomer, {"sku": "D-41", "email": "late@example.com", "card_number": paying_card(5003)}, "draw_closed")
    late_void = await client.post(entries_url(slug, offer_id, f"/{entry_of[buyers[7]]}/void"), headers=auth(host_token),
                                  json={"reason": "bot"})
    assert late_void.status_code == 409 and late_void.json()["error"]["code"] == "already_drawn"

    audit = (await client.get(f"/api/shows/{slug}/offers/{offer_id}/audit")).json()
    assert audit["algorithm"] == "livedrop-draw-v1" and audit["beacon"] is None and "could have biased" in audit["beacon_note"]
    assert verify(audit) == [], verify(audit)
    assert {x["entry_id"] for x in audit["excluded"]} == set(bots) and all(x["reason"] == "bot" for x in audit["excluded"])
    assert len(audit["entries"]) == ENTRANTS - 2 and audit["units"] == STOCK
    winners = audit["winners"]
    assert Counter(w["sku"] for w in winners) == Counter(STOCK) and len({w["entry_id"] for w in winners}) == len(winners)
    # Changing one entry after the close breaks verification (the hash, and so the seed).
    tampered = {**audit, "entries": [{**audit["entries"][0], "entry_id": "de_forged"}, *audit["entries"][1:]]}
    assert "entries_hash" in verify(tampered)
    moved = {**audit, "entries": [{**e, "sku": "D-40"} if e["rank"] == 1 else e for e in audit["entries"]]}
    if audit["entries"][0]["sku"] != "D-40":
        assert verify(moved) != []

    buyer_of = {e: b for b, e in entry_of.items()}
    first = next(w for w in winners if w["sku"] != "D-41")  # D-41's winners give their units up below
    winner_buyer = buyer_of[first["entry_id"]]
    mine = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(winner_buyer))).json()
    assert mine["status"] == "won" and mine["hold_id"] and mine["entry_id"] == first["entry_id"]
    loser = next(b for b, e in entry_of.items() if e not in {w["entry_id"] for w in winners} and e not in bots)
    lost = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(loser))).json()
    assert lost["status"] == "lost" and lost["hold_id"] is None
    # Claiming someone else's win: not found, and the hold stays the winner's.
    stolen = await client.post(f"/api/holds/{mine['hold_id']}/checkout", headers=auth(loser), json=checkout_body("x@example.com"))
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "not_found", stolen.text

    # The first winner claims: the authorization is captured, not charged again.
    claim = await client.post(f"/api/holds/{mine['hold_id']}/checkout", headers=auth(winner_buyer),
                              json=checkout_body("fan@example.com", card="4000000000000002"))
    assert claim.status_code == 201, claim.text
    captured = await payments.find_charge(f"draw:{first['entry_id']}")
    assert captured.status == "paid"
    # Losers' authorizations were let go at the draw.
    assert (await payments.find_charge(f"draw:{entry_of[loser]}")).status == "voided"
    assert (await payments.find_charge(f"draw:{bots[0]}")).status == "voided"

    # Two winners of D-41 give their units up: each goes to the next-ranked D-41 entry, in rank order.
    d41 = [w for w in winners if w["sku"] == "D-41"]
    for w in d41[:2]:
        hold_id = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(buyer_of[w["entry_id"]]))).json()["hold_id"]
        assert (await client.delete(f"/api/holds/{hold_id}", headers=auth(buyer_of[w["entry_id"]]))).status_code == 204

    async def handed() -> list[dict[str, Any]] | None:
        got = (await client.get(f"/api/shows/{slug}/offers/{offer_id}/audit")).json()
        return got if len(got["handovers"]) == 2 else None
    after = await until(handed, what="two hand-overs")
    next_d41 = [e["entry_id"] for e in sorted(after["entries"], key=lambda e: e["rank"])
                if e["sku"] == "D-41" and e["entry_id"] not in {w["entry_id"] for w in winners}][:2]
    assert [(h["from_entry_id"], h["to_entry_id"], h["reason"]) for h in after["handovers"]] == [
        (d41[0]["entry_id"], next_d41[0], "released"), (d41[1]["entry_id"], next_d41[1], "released")]
    assert verify(after) == []
    lapsed = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(buyer_of[d41[0]["entry_id"]]))).json()
    assert lapsed["status"] == "lapsed"
    assert (await payments.find_charge(f"draw:{d41[0]['entry_id']}")).status == "voided"
    heir = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(buyer_of[next_d41[0]]))).json()
    assert heir["status"] == "won" and heir["hold_id"]
    # The heir's authorization was let go at the draw: the claim pays by card.
    paid = await client.post(f"/api/holds/{heir['hold_id']}/checkout", headers=auth(buyer_of[next_d41[0]]),
                             json=checkout_body("heir@example.com"))
    assert paid.status_code == 201, paid.text

    # Nothing oversold: every unit is held or sold, none twice.
    stock: StockStore = app.state.livedrop.stock
    counts = await stock.counts(product["id"])
    for sku, loaded in STOCK.items():
        c = counts[sku]
        assert c.loaded == loaded and c.available == 0 and c.held + c.sold == loaded, (sku, c)
    async def claimed() -> bool:
        me = (await client.get(entries_url(slug, offer_id, "/me"), headers=auth(winner_buyer))).json()
        return bool(me["status"] == "claimed")
    await until(claimed, what="the claim seen")


async def test_bad_draw_offers_and_entries_are_refused(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"B-1": 1})
    base = {"product_id": product["id"], "price_cents": 100, "mode": "draw"}
    for body, field in (
        ({}, "entries_close_at"),
        ({"entries_close_at": now_ms() + 60_000, "claim_minutes": 1441}, "claim_minutes"),
        ({"entries_open_at": now_ms() + 60_000, "entries_close_at": now_ms() + 30_000}, "entries_close_at"),
    ):
        answer = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={**base, **body})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request", answer.text
        assert field in answer.json()["error"]["message"]
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        **base, "entries_open_at": now_ms() + 60_000, "entries_close_at": now_ms() + 120_000})
    assert made.status_code == 201, made.text
    buyer = await new_buyer(client)
    early = await client.post(entries_url(slug, made.json()["id"]), headers=auth(buyer), json={"sku": "B-1", "email": "a@example.com"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "draw_not_open"
    bad_email = await client.post(entries_url(slug, made.json()["id"]), headers=auth(buyer), json={"sku": "B-1", "email": "nope"})
    assert bad_email.status_code == 422 and "email" in bad_email.json()["error"]["message"]
    nobody = await client.get(entries_url(slug, made.json()["id"], "/me"), headers=auth(buyer))
    assert nobody.status_code == 404 and nobody.json()["error"]["code"] == "not_entered"
    other = await client.get(entries_url(slug, made.json()["id"]))
    assert other.status_code == 401


async def test_giveaway_rules_and_buyers_only(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"G-1": 2})
    base = {"product_id": product["id"], "mode": "draw", "giveaway": True}
    for body, field in (({"price_cents": 100, "duration_s": 120}, "price_cents"), ({"price_cents": 0, "duration_s": 30}, "entries_close_at"),
                        ({"price_cents": 0, "duration_s": 120, "authorize": True}, "authorize")):
        answer = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={**base, **body})
        assert answer.status_code == 422 and field in answer.json()["error"]["message"], answer.text
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token),
                             json={**base, "price_cents": 0, "duration_s": 120, "buyers_only": True})
    assert made.status_code == 201, made.text
    assert made.json()["quantity"] == 1 and made.json()["buyers_only"] is True
    stranger = await new_buyer(client)
    refused = await client.post(entries_url(slug, made.json()["id"]), headers=auth(stranger), json={"sku": "G-1", "email": "s@example.com"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "buyers_only", refused.text
    assert (await client.get(entries_url(slug, made.json()["id"], "/me"), headers=auth(stranger))).status_code == 404


async def test_entries_close_at_is_kept_to_the_millisecond(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"M-1": 1})
    close = now_ms() + 600_123
    made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
        "product_id": product["id"], "price_cents": 100, "mode": "draw", "entries_close_at": close})
    assert made.status_code == 201 and made.json()["entries_close_at"] == made.json()["ends_at"] == close, made.text


async def test_entries_ids_grow_with_time_and_the_writer_closes_with_the_app(
    settings: Settings, redis: Any, engine: Any, sessions: Any, host_token: str
) -> None:
    """Entry ids are "de_" and 16 URL-safe characters whose first 8 are the entry's millisecond
    in an alphabet in ASCII order (live.draw_entries.EntryIds: new ids land at the end of the
    primary key's index); concurrent entries are all written, a second one of a buyer or an
    email is still refused; and the app's cleanup ends the SQLite writer's thread."""
    import base64
    import re
    import threading

    from web.app import create_app
    from web.services import Services

    sorted_alphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    def id_ms(entry_id: str) -> int:
        raw = base64.urlsafe_b64decode(entry_id[3:11].translate(str.maketrans(sorted_alphabet, b64url)))
        return int.from_bytes(raw, "big")

    application = create_app(settings, Services(settings, redis, engine, sessions))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            slug, product = await live_show_with_product(client, host_token, {"T-1": 3})
            made = await client.post(f"/api/shows/{slug}/offers", headers=auth(host_token), json={
                "product_id": product["id"], "price_cents": 100, "mode": "draw", "entries_close_at": now_ms() + 600_000})
            assert made.status_code == 201, made.text
            offer_id = made.json()["id"]
            buyers = [await new_buyer(client) for _ in range(40)]
            answers = []
            for wave in range(4):  # four waves, some ms apart: ids from different milliseconds
                answers += await asyncio.gather(*(
                    client.post(entries_url(slug, offer_id), headers=auth(token), json={"sku": "T-1", "email": f"t{n}@x.example"})
                    for n, token in enumerate(buyers[wave * 10:(wave + 1) * 10], start=wave * 10)))
                await asyncio.sleep(0.005)
            assert [a.status_code for a in answers] == [201] * 40, [a.text for a in answers if a.status_code != 201]
            entries = [a.json() for a in answers]
            ids = [e["entry_id"] for e in entries]
            assert len(set(ids)) == 40 and all(re.fullmatch(r"de_[A-Za-z0-9_-]{16}", i) for i in ids), ids
            for entry in entries:  # the id's millisecond is the entry's (taken a moment after entered_at)
                assert 0 <= id_ms(entry["entry_id"]) - entry["entered_at"] < 1000, entry
            by_time = sorted(entries, key=lambda e: id_ms(e["entry_id"]))
            assert [e["entry_id"] for e in by_time] == sorted(ids, key=lambda i: i[:11])  # the string order is the time order
            again = await client.post(entries_url(slug, offer_id), headers=auth(buyers[0]), json={"sku": "T-1", "email": "new@x.example"})
            assert again.status_code == 409 and again.json()["error"]["code"] == "already_entered", again.text
            same_email = await client.post(entries_url(slug, offer_id), headers=auth(await new_buyer(client)),
                                           json={"sku": "T-1", "email": "T3@x.example"})
            assert same_email.status_code == 409 and same_email.json()["error"]["code"] == "email_already_entered", same_email.text
            mine = await client.get(entries_url(slug, offer_id, "/me"), headers=auth(buyers[7]))
            assert mine.status_code == 200 and mine.json()["entry_id"] == ids[7], mine.text
            if engine.url.get_backend_name() == "sqlite":  # PostgreSQL needs no thread
                assert [t for t in threading.enumerate() if t.name == "draw-entries"], "no SQLite writer thread ran"
    writers = [t for t in threading.enumerate() if t.name == "draw-entries"]
    assert writers == [], "the SQLite writer's thread outlived the app"
