"""livedrop on a real Redis Cluster: six redis-servers on loopback (three primaries, a replica
each), started once for this module (about 2 s) and stopped at its end.

What must hold (issue 21): a drop through two `livedrop serve` processes sells exactly the units
loaded; pins and stock reach viewers on both processes; holds keep going right while one of the
product's slots is migrated to another primary; and a primary killed mid-drop, its replica
promoted by the cluster, still never sells a unit SQL does not have. The failover test runs last:
it leaves the cluster with one node fewer.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import websockets

from inventory import keys
from inventory.redis_cluster import ClusterLane, is_cluster, slot_of
from inventory.errors import SoldOut
from inventory.stock import SaleTerms, StockStore
from live.stock_signal import StockSignal
from live.waiting_room import WaitingRoom
from tests.redis_cluster_servers import Cluster, require_system_redis
from tests.redis_servers import RedisServer
from tests.support import LivedropProcess, host_token, livedrop_env
from web.jobs import LEASE_KEY
from web.services import make_redis

from .buying import auth, live_show_with_product
from .test_redis_faults import ALLOWED, Tally, _buyer

@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_system_redis()
    running = Cluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def payments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The test payment provider's charges, on a server of their own (an outside provider does not
    lose charges when the stock cluster fails over)."""
    server = RedisServer(tmp_path_factory.mktemp("payments")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def servers(cluster: Cluster, payments: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LivedropProcess, LivedropProcess, str]]:
    """Two `livedrop serve` processes on the cluster (one database), and a host token."""
    folder = tmp_path_factory.mktemp("livedrop")
    env = livedrop_env(folder, REDIS_URL=cluster.url, LIVEDROP_PAYMENTS_REDIS_URL=payments.url,
                       LIVEDROP_BUYERS_PER_IP_PER_MINUTE="1000000",
                       # A minute: stock must reach the other process through Pub/Sub, not the safety poll.
                       LIVEDROP_STOCK_POLL_MS="60000")
    token = host_token(env, f"cluster-{uuid.uuid4().hex[:8]}@example.com", "a long enough password")
    # Started together (migrations take a lock), so the module waits for one start, not two.
    first = LivedropProcess(["serve"], env).start(wait_ready=False)
    second = LivedropProcess(["serve"], env).start(wait_ready=False)
    try:
        first.wait_ready()
        second.wait_ready()
        yield first, second, token
    finally:
        second.stop()
        first.stop()


async def _frames(url: str, slug: str, seen: list[dict[str, object]], stop: asyncio.Event) -> None:
    async with websockets.connect(url.replace("http://", "ws://") + f"/ws/shows/{slug}", open_timeout=10) as ws:
        while not stop.is_set():
            try:
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
            except TimeoutError:
                continue


async def _until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


async def test_a_drop_on_the_cluster_through_two_processes(servers: tuple[LivedropProcess, LivedropProcess, str]) -> None:
    first, second, token = servers
    units = 20
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as host, \
            httpx.AsyncClient(base_url=second.url, timeout=30, limits=httpx.Limits(max_connections=50, keepalive_expiry=2)) as other:
        product = await host.post("/api/products", headers=auth(token), json={
            "title": "Cluster Runner", "price_cents": 9900, "currency": "USD",
            "variants": [{"sku": "CL-1", "label": "One", "stock": units}]})
        assert product.status_code == 201, product.text
        show = await host.post("/api/shows", json={"title": "Cluster night"}, headers=auth(token))
        slug = show.json()["slug"]
        assert (await host.post(f"/api/shows/{slug}/start", headers=auth(token))).status_code == 200

        # A viewer on each process, before the pin: the pin must reach both through the cluster.
        seen_first: list[dict[str, object]] = []
        seen_second: list[dict[str, object]] = []
        stop = asyncio.Event()
        viewers = [asyncio.create_task(_frames(first.url, slug, seen_first, stop)),
                   asyncio.create_task(_frames(second.url, slug, seen_second, stop))]
        assert await _until(lambda: seen_first and seen_second), "no snapshot"
        pinned = await host.put(f"/api/shows/{slug}/pin", json={"product_id": product.json()["id"]}, headers=auth(token))
        assert pinned.status_code == 200, pinned.text
        for seen in (seen_first, seen_second):
            assert await _until(lambda seen=seen: any(f["type"] == "pin" for f in seen)), [f["type"] for f in seen]

        # 200 presses for 20 units, half through each process.
        buyers = [(await other.post("/api/buyers", json={})).json()["token"] for _ in range(100)]
        other.cookies.clear()

        held_on_second: list[tuple[str, str]] = []  # (buyer, hold id)

        async def press(http: httpx.AsyncClient, buyer: str) -> int:
            response = await http.post(f"/api/shows/{slug}/holds", json={"sku": "CL-1", "quantity": 1},
                                       headers={**auth(buyer), "Idempotency-Key": uuid.uuid4().hex})
            if response.status_code == 201 and http is other:
                held_on_second.append((buyer, response.json()["hold_id"]))
            return response.status_code

        statuses = Counter(await asyncio.gather(*(press(host if n % 2 else other, b) for n, b in enumerate(buyers * 2))))
        assert statuses[201] == units, statuses
        assert set(statuses) <= {201, 409}, statuses

        def stock_zero(seen: list[dict[str, object]]) -> bool:
            return any(f["type"] == "stock" and f["stock"] == {"CL-1": 0} for f in seen)  # type: ignore[comparison-overlap]

        assert await _until(lambda: stock_zero(seen_first) and stock_zero(seen_second)), "sold-out stock did not reach both viewers"
        # A unit released through the second process reaches the first one's viewer (Pub/Sub).
        buyer, hold_id = held_on_second[0]
        assert (await other.delete(f"/api/holds/{hold_id}", headers=auth(buyer))).status_code == 204
        assert await _until(lambda: any(f["type"] == "stock" and f["stock"] == {"CL-1": 1} for f in seen_first), 3), \
            "a release on one process did not reach the other's viewer"
        stop.set()
        await asyncio.gather(*viewers)

    redis = make_redis(first.env["REDIS_URL"])
    try:
        assert is_cluster(redis)
        counts = await StockStore(redis).counts(product.json()["id"])
        assert counts["CL-1"].available == 1 and counts["CL-1"].held == units - 1, counts
        # One of the two processes runs the background jobs: it holds the lease on the cluster.
        assert await redis.get(LEASE_KEY) is not None, "no process holds the job lease"
    finally:
        await redis.aclose()


async def test_stock_changes_reach_other_processes_through_the_clusters_pub_sub(cluster: Cluster) -> None:
    """StockSignal's PUBLISH from one client wakes a subscriber on another (each may be on any
    node: a cluster sends a PUBLISH to every node's subscribers)."""
    sender, listener = make_redis(cluster.url), make_redis(cluster.url)
    told, hearing = StockSignal(sender), StockSignal(listener)
    listening = asyncio.create_task(hearing.listen())
    try:
        assert await _until(hearing.wake.is_set, 5), "never subscribed"  # set once on subscribing
        for _ in range(3):
            hearing.wake.clear()
            told.changed(1)
            assert await _until(hearing.wake.is_set, 2), "a stock change was not heard across the cluster"
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await sender.aclose()
        await listener.aclose()


async def test_waiting_room_joins_go_through_the_cluster_lane(cluster: Cluster) -> None:
    """The waiting room's batched join script rides the hold lane (one per primary): routed by
    its keys' {q<offer>} tag, on whichever primary owns it."""
    redis = make_redis(cluster.url)
    stock = StockStore(redis)
    room = WaitingRoom(redis, lane=stock.lane)
    try:
        offers = [random.randint(1, 10**9) for _ in range(4)]  # four slots: likely more than one primary
        joined = await asyncio.gather(*(room.join(o, f"buyer-{n}", 2**41, "127.0.0.1", None) for o in offers for n in range(5)))
        assert all(created for _, created in joined)
        assert stock.lane is not None and stock.lane.writes >= 1
        for offer in offers:
            place = await room.place(offer, "buyer-3")
            assert place is not None and place.length == 5, place
    finally:
        stock.close()
        await redis.aclose()


async def test_holds_run_while_the_products_slot_migrates(cluster: Cluster) -> None:
    redis = make_redis(cluster.url)
    stock = StockStore(redis)
    try:
        assert isinstance(stock.lane, ClusterLane)
        product_id = random.randint(10_000, 1_000_000)
        units = 300
        await stock.load(product_id, {"MIG": units})
        terms = SaleTerms(unit_price_cents=100, currency="USD", per_customer_limit=1)
        source = cluster.primary_of(keys.version(product_id))
        target = next(n for n in cluster.nodes if n is not source and cluster._is_primary(n))
        slot = slot_of(keys.version(product_id))

        answers: Counter[str] = Counter()

        async def buyer(n: int) -> None:
            await asyncio.sleep(random.uniform(0, 1.0))
            try:
                await stock.hold(product_id, "MIG", 1, f"b{n}", f"k{n}", terms)
                answers["held"] += 1
            except SoldOut:
                answers["SoldOut"] += 1
            except Exception as exc:  # anything else: named, so the assertion below says what
                answers[f"{type(exc).__name__}: {exc}"] += 1

        # Held 0.2 s MIGRATING with the keys still on the source (a script there meets "non
        # local key" for a new key), then 0.2 s with them moved before the owner changes (ASK).
        migrating = threading.Thread(target=cluster.migrate_slot, args=(slot, target, 0.2))
        presses = [asyncio.create_task(buyer(n)) for n in range(units + 100)]
        await asyncio.sleep(0.3)  # holds under way
        migrating.start()
        await asyncio.gather(*presses)
        await asyncio.to_thread(migrating.join, 30)
        assert cluster.primary_of(keys.version(product_id)) is target, "the slot did not move"
        assert stock.lane.redirects > 0, "no MOVED or ASK was met: the test did not test the migration"
        # Every press got an answer from Redis (held or sold out), on whichever node had the slot.
        assert answers["held"] == units, answers
        assert set(answers) <= {"held", "SoldOut"}, answers
        counts = (await stock.counts(product_id))["MIG"]
        assert (counts.available, counts.held, counts.sold, counts.loaded) == (0, units, 0, units), counts
    finally:
        stock.close()
        await redis.aclose()


# Two processes writing one SQLite file through a failover is not a deployment anyone runs with a
# Redis Cluster, and there SQLite's single write lock made this test's checkouts wait (4 runs in
# 10 before web.jobs let a stopping job finish its transaction, still about 1 in 5 after, in ways
# not understood yet). With PostgreSQL (CI's second pass) it has passed every run: it runs there.
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                    reason="the failover drop runs on PostgreSQL (CI's second pass): see the comment above")
async def test_a_primary_killed_mid_drop_its_replica_promoted(
    cluster: Cluster, payments: RedisServer, servers: tuple[LivedropProcess, LivedropProcess, str],
) -> None:
    """A drop with checkouts on the cluster; mid-drop the primary that owns the product's keys is
    killed (SIGKILL) and the cluster promotes its replica, which may lag. Nothing may be sold
    that SQL does not have (the reconcile after the new primary, and SQL's guard at payment)."""
    first, second, token = servers
    sizes = {"FO-1": 15, "FO-2": 15}
    tally = Tally()
    async with httpx.AsyncClient(base_url=first.url, timeout=30, limits=httpx.Limits(max_connections=60, keepalive_expiry=2)) as http:  # idle < the server's 5 s keep-alive: never reuse a closing one
        slug, product = await live_show_with_product(http, token, sizes, title="Failover Runner")
        http.cookies.clear()
        buyers = [(await http.post("/api/buyers", json={})).json()["token"] for _ in range(90)]
        http.cookies.clear()
        rng = random.Random(21)
        drop = [asyncio.create_task(_buyer(http, slug, b, i, tally, rng, sizes)) for i, b in enumerate(buyers[:45])]
        await asyncio.sleep(0.3)
        victim = cluster.primary_of(keys.version(product["id"]))
        await asyncio.to_thread(victim.kill)
        # The second half presses while the primary is gone: 503 until its replica is promoted.
        drop += [asyncio.create_task(_buyer(http, slug, b, 45 + i, tally, rng, sizes)) for i, b in enumerate(buyers[45:])]
        await asyncio.gather(*drop)
        await asyncio.to_thread(cluster.wait_ok)
        assert not tally.server_errors, tally.server_errors[:5]
        assert set(tally.statuses) <= ALLOWED, tally.statuses
        orders = (await http.get(f"/api/shows/{slug}/orders", headers=auth(token))).json()["orders"]

    paid = {o["order_id"]: o for o in orders if o["status"] == "paid"}
    sold = Counter(o["lines"][0]["sku"] for o in paid.values())
    assert all(sold[sku] <= units for sku, units in sizes.items()), f"oversold: {sold}"
    assert set(tally.paid) <= set(paid), "a buyer was told an order is paid that SQL does not have"
    assert sum(sold.values()) >= 10, f"the drop barely sold: {sold} {tally.statuses}"
    assert tally.statuses[503] > 0, f"the failover was never felt: {tally.statuses}"
    # The promoted replica is another server (the cluster's set of primaries changed): stock was
    # rebuilt from SQL (by one of the two processes) before it took a hold there.
    logs = first.output() + second.output()
    rebuilt_on = set(re.findall(r"stock rebuilt from SQL on Redis run id (cluster:\w+)", logs))
    assert len(rebuilt_on) >= 2, logs[-3000:]
