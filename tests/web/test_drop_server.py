"""A limited drop on a running server, through HTTP: 2,000 buyers, 5,000 buy presses at once,
300 units. Exactly 300 holds, nobody with two, 300 orders, nothing sold twice."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from pathlib import Path

import httpx

from tests.support import LivedropProcess, host_token, livedrop_env

from .buying import auth, checkout_body, live_show_with_product

BUYERS = 2000
ATTEMPTS = 5000
SIZES = {f"DROP-{n}": 50 for n in range(40, 46)}  # 6 sizes x 50 = 300 units


async def test_drop_of_300_units_to_2000_buyers(tmp_path: Path) -> None:
    env = livedrop_env(tmp_path, LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000")
    token = host_token(env, "drop@example.com", "a long enough password")

    with LivedropProcess(["serve"], env) as server:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
            slug, _ = await live_show_with_product(
                http, token, SIZES, offer={"price_cents": 9900, "duration_s": 600, "per_customer_limit": 1}
            )
            http.cookies.clear()

            # httpx queues badly with thousands of requests waiting for a connection; keep the
            # number in flight at the pool's size (still 200 concurrent requests at the server).
            in_flight = asyncio.Semaphore(200)

            async def make_buyer(_: int) -> str:
                async with in_flight:
                    response = await http.post("/api/buyers", json={})
                assert response.status_code == 201, response.text
                return str(response.json()["token"])

            buyers = await asyncio.gather(*(make_buyer(i) for i in range(BUYERS)))
            http.cookies.clear()  # every request below names its buyer by token

            rng = random.Random(7)
            presses = [buyers[i % BUYERS] for i in range(ATTEMPTS)]
            rng.shuffle(presses)

            async def press(buyer: str) -> tuple[str, httpx.Response]:
                async with in_flight:
                    response = await http.post(
                        f"/api/shows/{slug}/holds",
                        json={"sku": rng.choice(list(SIZES)), "quantity": 1},
                        headers={**auth(buyer), "Idempotency-Key": uuid.uuid4().hex},
                    )
                return buyer, response

            results = await asyncio.gather(*(press(b) for b in presses))
            statuses = Counter(r.status_code for _, r in results)
            codes = Counter(r.json()["error"]["code"] for _, r in results if r.status_code != 201)
            assert statuses[201] == 300, (statuses, codes)
            assert set(statuses) <= {201, 409}, (statuses, codes)
            assert set(codes) <= {"sold_out", "limit_reached"}, codes
            winners = Counter(buyer for buyer, r in results if r.status_code == 201)
            assert max(winners.values()) == 1, "a buyer got two holds"
            snapshot = (await http.get(f"/api/shows/{slug}")).json()
            assert sum(snapshot["stock"].values()) == 0

            holds = [(buyer, r.json()) for buyer, r in results if r.status_code == 201]
            assert Counter(h["sku"] for _, h in holds) == Counter(SIZES), "units held per size = units loaded"

            sem = asyncio.Semaphore(50)

            async def pay(index: int, buyer: str, hold_id: str) -> httpx.Response:
                async with sem:
                    return await http.post(
                        f"/api/holds/{hold_id}/checkout", json=checkout_body(f"buyer{index}@example.com"), headers=auth(buyer)
                    )

            paid = await asyncio.gather(*(pay(i, b, h["hold_id"]) for i, (b, h) in enumerate(holds)))
            assert Counter(r.status_code for r in paid) == {201: 300}, [r.text for r in paid if r.status_code != 201][:3]
            assert len({r.json()["order_id"] for r in paid}) == 300

            buyer, first = holds[0]
            again = await http.post(f"/api/holds/{first['hold_id']}/checkout", json=checkout_body("buyer0@example.com"), headers=auth(buyer))
            assert again.status_code == 200 and again.json()["order_id"] == paid[0].json()["order_id"]
            stranger = next(b for b in buyers if b not in winners)
            theirs = await http.post(f"/api/holds/{first['hold_id']}/checkout", json=checkout_body("x@example.com"), headers=auth(stranger))
            assert theirs.status_code == 404

            orders = (await http.get(f"/api/shows/{slug}/orders", headers=auth(token))).json()["orders"]
            assert len(orders) == 300
            assert Counter(o["lines"][0]["sku"] for o in orders) == Counter(SIZES), "nothing sold twice"
            assert all(o["total_cents"] == 9900 for o in orders)
