"""Faults under a drop, through the HTTP API of a real `livedrop serve`: Redis killed and
restarted from an append-only file a second old, and separately a lagging replica promoted after
its primary is killed. Checkouts run all along.

What must hold: never more paid units in SQL than stock, no paid order lost (every order a buyer
was told is paid is paid in SQL), every buyer refused after the fact refunded (and no charge kept
without a paid order), and no 500 before, during or after the fault: a buyer hears 503 with
Retry-After while Redis is away or being checked, and presses again.

Stock lives on private redis-servers started here (AOF everysec, as production is advised to
run); the test payment provider keeps its charges on another one, like an outside provider that
does not forget when our Redis does.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.redis_servers import RedisServer, SwitchingProxy, wait_replicated
from tests.support import LivedropProcess, host_token, livedrop_env

from .buying import auth, checkout_body, live_show_with_product

SIZES = {"F-40": 20, "F-41": 20, "F-42": 20}  # 60 units
BUYERS = 120
ALLOWED = {200, 201, 204, 402, 404, 409, 410, 429, 503}


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    paid: dict[str, str] = field(default_factory=dict)  # order id -> sku, as buyers were told
    refused_after_all: list[str] = field(default_factory=list)  # hold ids
    server_errors: list[str] = field(default_factory=list)


async def _call(tally: Tally, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """One request, pressed again (as the page does) while the answer is 503; at most ~20 s."""
    for _ in range(80):
        response = await send()
        tally.statuses[response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            tally.server_errors.append(f"{response.status_code} {response.text[:200]}")
        if response.status_code != 503:
            return response
        assert response.headers.get("retry-after"), "503 without Retry-After"
        assert response.json()["error"]["code"] == "unavailable"
        await asyncio.sleep(min(0.25, float(response.headers["retry-after"])))
    return response


async def _buyer(
    http: httpx.AsyncClient, slug: str, token: str, n: int, tally: Tally, rng: random.Random, sizes: dict[str, int] = SIZES,
) -> None:
    await asyncio.sleep(rng.uniform(0, 0.5))
    key = uuid.uuid4().hex
    sku = rng.choice(list(sizes))
    held = await _call(tally, lambda: http.post(
        f"/api/shows/{slug}/holds", json={"sku": sku, "quantity": 1}, headers={**auth(token), "Idempotency-Key": key}))
    if held.status_code != 201:
        return
    hold_id = held.json()["hold_id"]
    for _ in range(20):
        paid = await _call(tally, lambda: http.post(
            f"/api/holds/{hold_id}/checkout", json=checkout_body(f"buyer{n}@example.com"), headers=auth(token)))
        if paid.status_code in (200, 201):
            tally.paid[paid.json()["order_id"]] = sku
            return
        if paid.status_code == 409 and paid.json()["error"]["code"] == "sold_out_after_all":
            tally.refused_after_all.append(hold_id)
            return
        if paid.status_code == 409 and paid.json()["error"]["code"] == "hold_locked":
            await asyncio.sleep(0.2)  # a checkout of ours is still running: press Pay again
            continue
        return  # 410 (the hold was lost with Redis's last second): the buyer may hold again


async def _drop(tmp_path: Path, stock_url: str, payments: RedisServer, fault: Callable[[], None]) -> None:
    env = livedrop_env(
        tmp_path / "livedrop", REDIS_URL=stock_url, LIVEDROP_PAYMENTS_REDIS_URL=payments.url,
        LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000",
    )
    (tmp_path / "livedrop").mkdir(exist_ok=True)
    # Both tests share one database in CI's second pass (PostgreSQL): a host of their own each.
    token = host_token(env, f"faults-{uuid.uuid4().hex[:8]}@example.com", "a long enough password")
    tally = Tally()
    with LivedropProcess(["serve"], env) as server:
        limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:
            slug, _ = await live_show_with_product(http, token, SIZES)
            http.cookies.clear()
            buyers = [(await http.post("/api/buyers", json={})).json()["token"] for _ in range(BUYERS)]
            http.cookies.clear()
            rng = random.Random(11)
            first = [asyncio.create_task(_buyer(http, slug, b, i, tally, rng)) for i, b in enumerate(buyers[:40])]
            await asyncio.gather(*first)
            later = [asyncio.create_task(_buyer(http, slug, b, 40 + i, tally, rng)) for i, b in enumerate(buyers[40:])]
            await asyncio.sleep(0.3)  # mid-drop: holds and checkouts in flight
            await asyncio.to_thread(fault)
            await asyncio.gather(*later)

            assert not tally.server_errors, tally.server_errors[:5]
            assert set(tally.statuses) <= ALLOWED, tally.statuses
            orders = (await http.get(f"/api/shows/{slug}/orders", headers=auth(token))).json()["orders"]

    paid_orders = {o["order_id"]: o for o in orders if o["status"] == "paid"}
    sold = Counter(o["lines"][0]["sku"] for o in paid_orders.values())
    assert all(sold[sku] <= units for sku, units in SIZES.items()), f"oversold: {sold}"
    assert set(tally.paid) <= set(paid_orders), "a buyer was told an order is paid that SQL does not have"
    assert sum(sold.values()) >= 40, f"the drop barely sold: {sold} {tally.statuses}"

    with payments.client() as charges:
        for hold_id in tally.refused_after_all:
            assert charges.hget(f"ld:{{charges}}:c:{hold_id}:0", "status") == "refunded"
        kept = {}
        for key in charges.scan_iter("ld:{charges}:c:*"):
            if charges.hget(key, "status") == "paid":
                kept[key.removeprefix("ld:{charges}:c:").rsplit(":", 1)[0]] = key  # <hold id>:<attempt>
    paid_holds = {o["hold_id"] for o in paid_orders.values()}
    assert kept, "no charge found: the check below would pass vacuously"
    assert set(kept) <= paid_holds, f"money kept without a paid order: {sorted(set(kept) - paid_holds)[:5]}"


@pytest.mark.slow
async def test_redis_restarted_from_an_aof_a_second_old(tmp_path: Path) -> None:
    stock = RedisServer(tmp_path / "stock").start()
    payments = RedisServer(tmp_path / "payments").start()

    def lose_the_last_second() -> None:
        stock.snapshot_aof(tmp_path / "a-second-ago.aof")
        import time

        time.sleep(1.0)  # the drop goes on; this second is what the machine's death loses
        stock.kill()
        time.sleep(0.5)  # Redis is away: buyers hear 503
        stock.restart_from(tmp_path / "a-second-ago.aof")

    try:
        await _drop(tmp_path, stock.url, payments, lose_the_last_second)
    finally:
        stock.stop()
        payments.stop()


@pytest.mark.slow
async def test_failover_to_a_stale_replica(tmp_path: Path) -> None:
    primary = RedisServer(tmp_path / "primary").start()
    replica = RedisServer(tmp_path / "replica", replica_of=primary).start()
    payments = RedisServer(tmp_path / "payments").start()
    proxy = SwitchingProxy(primary.port).start()

    def promote_the_lagging_replica() -> None:
        with replica.client() as raw:
            # The replica falls behind (its link is cut, as a lagging or partitioned replica's is).
            raw.execute_command("REPLICAOF", "127.0.0.1", "1")
        import time

        time.sleep(1.0)
        primary.kill()
        with replica.client() as raw:
            raw.execute_command("REPLICAOF", "NO", "ONE")
        proxy.switch(replica.port)  # the failover address now leads to the promoted replica

    try:
        wait_replicated(primary, replica)
        await _drop(tmp_path, f"redis://127.0.0.1:{proxy.port}/0", payments, promote_the_lagging_replica)
    finally:
        proxy.stop()
        replica.stop()
        primary.stop()
        payments.stop()
