"""The bag in the replay (docs/bag.md): the products the host kept in the show's bag stay on sale in
the replay at list price, like the pinned one, and can be paid for together in one bag checkout; a
product taken out of the bag before the end is not sold there."""

from __future__ import annotations

import httpx

from tests.web.buying import auth, checkout_body, hold, new_buyer
from tests.web.test_bag_api import add_product, show_with_bag
from tests.web.test_replay import _record


async def test_the_bag_kept_at_the_end_sells_in_the_replay(client: httpx.AsyncClient, app, sessions, host_token: str) -> None:  # type: ignore[no-untyped-def]
    slug, pinned, cap = await show_with_bag(client, host_token)  # AUR-42 pinned (3), CAP-1 in the bag (2)
    scarf = await add_product(client, host_token, "Scarf", {"SCF-1": 4})
    put = await client.put(f"/api/shows/{slug}/bag", json={"product_ids": [cap["id"], pinned["id"], scarf["id"]]},
                           headers=auth(host_token))
    assert put.status_code == 200, put.text
    # The host takes the scarf out again before the end: it is not the replay's to sell.
    put = await client.put(f"/api/shows/{slug}/bag", json={"product_ids": [cap["id"], pinned["id"]]}, headers=auth(host_token))
    assert put.status_code == 200, put.text
    await _record(app, sessions, slug)
    assert (await client.post(f"/api/shows/{slug}/end", headers=auth(host_token))).status_code == 200

    replay = (await client.get(f"/api/shows/{slug}/replay")).json()
    assert sorted(p["id"] for p in replay["products"]) == sorted([pinned["id"], cap["id"]])
    assert replay["stock"]["CAP-1"] == 2
    assert [p["id"] for p in replay["bag"]] == [cap["id"], pinned["id"]], "the bag as the host left it, in its order"

    buyer = await new_buyer(client, "Ria")
    shoe = await hold(client, slug, buyer, "AUR-42")
    hat = await hold(client, slug, buyer, "CAP-1")
    assert shoe.status_code == 201 and hat.status_code == 201, (shoe.text, hat.text)
    assert (hat.json()["price_cents"], hat.json()["offer_id"]) == (2500, None), "list price"
    refused = await hold(client, slug, buyer, "SCF-1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_on_sale", refused.text

    ids = [shoe.json()["hold_id"], hat.json()["hold_id"]]
    paid = await client.post(f"/api/shows/{slug}/bag/checkout", json={**checkout_body(), "hold_ids": ids}, headers=auth(buyer))
    assert paid.status_code == 201, paid.text
    order = paid.json()
    assert order["total_cents"] == 15400 and sorted(line["sku"] for line in order["lines"]) == ["AUR-42", "CAP-1"]
    stock = (await client.get(f"/api/shows/{slug}")).json()["stock"]
    assert (stock["AUR-42"], stock["CAP-1"]) == (2, 1)
