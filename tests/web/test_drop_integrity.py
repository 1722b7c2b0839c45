"""A drop no script can fake: an oversize press gets its own answer and changes nothing anyone
else is told, and offers cannot lie about their price or what is left (issue: fair drops, part 1)."""

from __future__ import annotations

import time

import httpx

from .buying import auth, hold, live_show_with_product, new_buyer


async def test_an_oversize_press_cannot_fake_a_sell_out(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(client, host_token, {"FS-42": 15})
    first = await hold(client, slug, await new_buyer(client), "FS-42")
    assert first.status_code == 201 and first.json()["remaining"] == 14

    spammer = await new_buyer(client)
    for quantity in (15, 1000, 15):  # more than is left: its own answer, the units left in it
        refused = await hold(client, slug, spammer, "FS-42", quantity)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "insufficient_stock"
        assert refused.json()["error"]["units_left"] == 14

    # Everyone else is still sold the 14 units, one each, right after (the old answer: sold_out
    # for about a second, from a flag the oversize press had set in this process). The script
    # keeps pressing in between, as several buyers (one is rate-limited to 10 presses in 10 s).
    spammers = [spammer, *[await new_buyer(client) for _ in range(3)]]
    for n in range(14):
        press = await hold(client, slug, await new_buyer(client), "FS-42")
        assert press.status_code == 201, (n, press.text)
        assert press.json()["remaining"] == 13 - n
        interleaved = await hold(client, slug, spammers[n % len(spammers)], "FS-42", 15)
        assert interleaved.json()["error"]["code"] == ("insufficient_stock" if n < 13 else "sold_out")
    gone = await hold(client, slug, await new_buyer(client), "FS-42")
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "sold_out"
    assert (await client.get(f"/api/shows/{slug}")).json()["stock"]["FS-42"] == 0


async def test_an_offer_cap_gets_the_same_answers(client: httpx.AsyncClient, host_token: str) -> None:
    slug, _ = await live_show_with_product(
        client, host_token, {"FC-42": 50}, offer={"price_cents": 9900, "duration_s": 600, "quantity": 3, "per_customer_limit": 10})
    buyer = await new_buyer(client)
    assert (await hold(client, slug, buyer, "FC-42", 2)).status_code == 201
    over = await hold(client, slug, buyer, "FC-42", 2)  # 1 left at the offer price
    assert over.status_code == 409 and over.json()["error"] == {
        "code": "insufficient_stock", "message": "only 1 left of this size: ask for 1 or fewer", "units_left": 1}
    assert (await hold(client, slug, await new_buyer(client), "FC-42", 1)).status_code == 201
    done = await hold(client, slug, await new_buyer(client), "FC-42", 1)
    assert done.json()["error"]["code"] == "sold_out"


async def test_offers_that_would_lie_are_refused(client: httpx.AsyncClient, host_token: str) -> None:
    slug, product = await live_show_with_product(client, host_token, {"OL-42": 52})  # list price 12900
    host = auth(host_token)

    async def offer(**body: int) -> httpx.Response:
        return await client.post(f"/api/shows/{slug}/offers", json={"product_id": product["id"], "duration_s": 600, **body},
                                 headers=host)

    above = await offer(price_cents=50_000)
    assert above.status_code == 422 and above.json()["error"]["code"] == "offer_above_list", above.text
    assert "12900" in above.json()["error"]["message"]

    big = await offer(price_cents=9900, quantity=100_000)
    assert big.status_code == 201, big.text
    assert big.json()["remaining"] == 52, "what can really be sold: the cap or the stock, whichever is lower"
    snapshot = (await client.get(f"/api/shows/{slug}")).json()
    assert [o["remaining"] for o in snapshot["offers"]] == [52]

    clash = await offer(price_cents=8900)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "offer_overlaps", clash.text
    later = await offer(price_cents=8900, starts_at=big.json()["ends_at"])  # right after it: no overlap
    assert later.status_code == 201, later.text
    assert (await client.delete(f"/api/shows/{slug}/offers/{big.json()['id']}", headers=host)).status_code == 204
    now = int(time.time() * 1000)
    instead = await offer(price_cents=8900, starts_at=now, duration_s=60)  # the first one is over
    assert instead.status_code == 201, instead.text
    assert len((await client.get(f"/api/shows/{slug}")).json()["offers"]) == 2
