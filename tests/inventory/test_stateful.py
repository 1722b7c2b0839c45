"""Random sequences of holds, releases, expiries, checkouts (paid, declined, crashed), restocks,
Redis losses and reconciles, with the inventory invariants checked after every step. Redis also
goes *back in time*: it loses its last N operations (a restart from an AOF a second old) or fails
over to a stale replica (older data, no scripts loaded), and operations go on against it until the
process notices (the ``notice_new_server`` rule: what ``inventory.epochs`` does).

Money, always: no hold paid twice, no refund made twice (each under its own key, a crashed one
finished by the next call or the stalled-refunds job), never more refunded than paid, and a
captured authorization captured once and never refunded past what was captured.

Whatever Redis says, always (SQL is the last guard):

* never more units paid in SQL than the size's stock; ``variants.sold`` = units in paid orders;

While Redis is not behind:

* no counter below zero; available + held + sold = loaded per SKU; loaded = SQL Variant.stock;
* held in Redis = the units of the live holds; sold in Redis = units in paid SQL orders;
* no buyer and no email over the per-customer limit;
* no paid charge without a paid order once its checkout is settled, and no order without its charge.

Hypothesis drives a state machine synchronously, so the test owns an event loop and builds its
own Redis client and engine in it (the async fixtures live on pytest-asyncio's loop).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select

from redis.asyncio import Redis

from inventory import errors, keys
from inventory.checkout import Checkout
from inventory.models import Order, OrderLine, OrderRefund, Variant
from inventory.order_life import OrderLife, RefundExceedsPaid
from inventory.orders import SELLING, counts_as_sold, refund_marker, units_sold
from inventory.payments import DECLINED_CARD, PAYING_CARD, TestPaymentProvider
from inventory.stock import StockStore
from web.database import make_engine, make_sessionmaker
from web.services import make_redis

from .conftest import FakeClock, details, make_product, terms

BUYERS = [f"buyer-{i}" for i in range(4)]
EMAILS = [f"e{i}@example.com" for i in range(3)]
SKUS = ["S", "M"]


def test_inventory_invariants_hold_under_random_operations(redis_url: str, database_url: str) -> None:
    loop = asyncio.new_event_loop()
    redis = make_redis(redis_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    raw = Redis(connection_pool=type(redis.connection_pool)(
        connection_class=redis.connection_pool.connection_class,
        **{**redis.connection_pool.connection_kwargs, "decode_responses": False},
    ))  # DUMP payloads are bytes
    keys_used = itertools.count()

    class Machine(RuleBasedStateMachine):
        def run(self, coro):  # type: ignore[no-untyped-def]
            return loop.run_until_complete(coro)

        @initialize(stock_s=st.integers(0, 4), stock_m=st.integers(0, 4), limit=st.integers(1, 2))
        def setup(self, stock_s: int, stock_m: int, limit: int) -> None:
            self.clock = FakeClock()
            self.stock = StockStore(redis, clock=self.clock)
            self.payments = TestPaymentProvider(redis)
            self.checkout = Checkout(sessions, self.stock, self.payments)
            self.life = OrderLife(sessions, self.stock, self.payments, self.checkout, clock=self.clock)
            self.refund_keys: list[tuple[str, str, bool]] = []  # (order id, Idempotency-Key, restock) asked before
            self.captured: dict[str, int] = {}  # authorized-then-captured charge id -> the amount captured first
            self.limit = limit
            self.run(redis.flushdb())
            self.host_id, self.pid = self.run(make_product(sessions, {"S": stock_s, "M": stock_m}))
            self.run(self.checkout.ensure_loaded(self.pid))
            self.holds: list = []  # every hold ever made (some gone by now)
            # The product's keys after each step (step number, DUMPs), the last few kept.
            self.history: list[tuple[int, dict[bytes, tuple[int, bytes]]]] = []
            self.step = 0
            self.last_sale_from = -1  # the step whose state the latest sale started from
            self.behind = False  # Redis went back in time and the process has not noticed yet
            self.was_behind = False  # per-customer limits are Redis's alone: a stale window may pass them

        # -- buyers ---------------------------------------------------------------------------

        @rule(buyer=st.sampled_from(BUYERS), sku=st.sampled_from(SKUS + ["XL"]), qty=st.integers(0, 3), reuse_key=st.booleans())
        def hold(self, buyer: str, sku: str, qty: int, reuse_key: bool) -> None:
            key = "same" if reuse_key else f"k{next(keys_used)}"
            try:
                h = self.run(self.stock.hold(self.pid, sku, qty, buyer, key, terms(limit=self.limit)))
            except (errors.SoldOut, errors.InsufficientStock, errors.LimitReached, errors.UnknownSku, errors.InvalidRequest,
                    errors.IdempotencyConflict):
                return
            if not h.replayed:
                self.holds.append(h)

        @rule(sku=st.sampled_from(SKUS), rush=st.lists(st.tuples(st.sampled_from(BUYERS), st.sampled_from(EMAILS)), min_size=1, max_size=4))
        def buy_now(self, sku: str, rush: list[tuple[str, str]]) -> None:
            """A rush on one size: each buyer holds and pays in one go, as most of a drop's
            buyers do. With Redis gone back in time this is what sells a unit SQL already sold,
            unless SQL refuses it."""
            for buyer, email in rush:
                try:
                    h = self.run(self.stock.hold(self.pid, sku, 1, buyer, f"k{next(keys_used)}", terms(limit=self.limit)))
                except (errors.SoldOut, errors.LimitReached):
                    continue
                self.holds.append(h)
                try:
                    order, _ = self.run(self.checkout.checkout(h.hold_id, buyer, details(email)))
                except (errors.LimitReached, errors.HoldExpired):
                    continue
                except errors.SoldOutAfterAll:
                    assert self.was_behind, "refused after the fact while Redis never went back"
                    continue
                assert order.status == "paid"
                self.last_sale_from = self.step

        def _pick_hold(self, data: st.DataObject) -> Any:
            # A draw whose bounds never depend on the machine's state: how many holds there are can
            # differ when hypothesis replays a case (Redis and the clock are real), and a draw
            # from sampled_from(self.holds) then fails its replay check (FlakyStrategyDefinition).
            return self.holds[data.draw(st.integers(0, 63)) % len(self.holds)]

        @precondition(lambda self: self.holds)
        @rule(data=st.data(), owner=st.booleans())
        def release(self, data: st.DataObject, owner: bool) -> None:
            h = self._pick_hold(data)
            try:
                self.run(self.stock.release(h.hold_id, h.buyer_id if owner else "someone-else"))
            except (errors.NotFound, errors.HoldLocked):
                pass

        @precondition(lambda self: self.holds)
        @rule(data=st.data(), email=st.sampled_from(EMAILS), pays=st.booleans())
        def checkout_hold(self, data: st.DataObject, email: str, pays: bool) -> None:
            h = self._pick_hold(data)
            card = PAYING_CARD if pays else DECLINED_CARD
            try:
                order, _ = self.run(self.checkout.checkout(h.hold_id, h.buyer_id, details(email, card)))
            except (errors.HoldExpired, errors.PaymentDeclined, errors.LimitReached, errors.HoldLocked, errors.NotFound):
                return
            except errors.SoldOutAfterAll:
                assert self.was_behind, "refused after the fact while Redis never went back"
                return
            # A retry of a checkout that paid answers its order as it is now (maybe refunded since).
            assert order.hold_id == h.hold_id and (order.status in SELLING or order.refund_reason == "requested"), order.status

        @precondition(lambda self: self.holds)
        @rule(data=st.data(), email=st.sampled_from(EMAILS), step=st.sampled_from(["lock", "pending", "charge", "paid"]))
        def checkout_crashes(self, data: st.DataObject, email: str, step: str) -> None:
            """The checkout process dies after the lock, the pending order, the charge, or
            marking the order paid (before the Redis commit)."""
            h = self._pick_hold(data)
            d = details(email)

            async def go() -> None:
                try:
                    locked = await self.stock.lock(h.hold_id, h.buyer_id, email, {}, self.clock() + self.checkout.lock_ms)
                except errors.Refusal:
                    return
                if step == "lock" or locked.state != "locked":
                    return
                key = Checkout.charge_key(locked)
                order = await self.checkout._start_order(locked, d.stored(), key)
                if step == "pending" or order.status != "pending":
                    return
                charge = await self.payments.charge(key, locked.total_cents, "EUR", PAYING_CARD)
                if step == "charge" or not charge.paid:  # a checkout only marks a paid charge
                    return
                await self.checkout._mark_paid(order.id, charge)

            self.run(go())

        # -- the order's life: refunds (whole, one unit, with or without restock), cancels, retries

        async def _sold_orders(self) -> list[Order]:
            async with sessions() as s:
                return list((await s.execute(
                    select(Order).join(OrderLine).where(OrderLine.product_id == self.pid, Order.status.in_(SELLING))
                    .order_by(Order.created_at, Order.id)
                )).scalars())

        # Which order and how many units are drawn as plain numbers (the orders come from SQL, and
        # Hypothesis must draw the same way when it replays a case).
        @rule(pick=st.integers(0, 15), units=st.integers(1, 3), whole=st.booleans(), restock=st.booleans(),
              ship_first=st.booleans())
        def refund(self, pick: int, units: int, whole: bool, restock: bool, ship_first: bool) -> None:
            orders = self.run(self._sold_orders())
            if not orders:
                return
            order = orders[pick % len(orders)]
            key = f"r{next(keys_used)}"
            lines = None if whole else {order.lines[0].id: units}

            async def go() -> None:
                if ship_first:
                    try:
                        await self.life.fulfil(self.host_id, order.id, "UPS", "1Z")
                    except errors.InvalidState:
                        pass
                try:
                    await self.life.refund(self.host_id, order.id, lines, restock=restock, request_key=key, actor="system")
                except (RefundExceedsPaid, errors.InvalidState):
                    return
                self.refund_keys.append((order.id, key, restock))

            self.run(go())

        @precondition(lambda self: self.refund_keys)
        @rule(pick=st.integers(0, 15))
        def refund_again(self, pick: int) -> None:
            """A retried refund (the same Idempotency-Key): nothing is refunded or restocked twice."""
            order_id, key, restock = self.refund_keys[pick % len(self.refund_keys)]
            self.run(self.life.refund(self.host_id, order_id, None, restock=restock, request_key=key))

        @rule(pick=st.integers(0, 15))
        def cancel(self, pick: int) -> None:
            orders = self.run(self._sold_orders())
            if not orders:
                return
            order = orders[pick % len(orders)]
            try:
                self.run(self.life.cancel(self.host_id, order.id))
            except errors.InvalidState:
                pass

        @rule(n=st.integers(0, 3), capture=st.booleans(), twice=st.booleans())
        def authorize_capture_or_void(self, n: int, capture: bool, twice: bool) -> None:
            """The provider's authorize -> capture / void (draws): capturing or voiding again
            changes nothing, and an authorization is never captured twice."""
            async def go() -> None:
                auth = await self.payments.authorize(f"auth-{self.pid}-{n}:0", 1000, "EUR", PAYING_CARD)
                for _ in range(2 if twice else 1):
                    moved = await (self.payments.capture(auth.id) if capture else self.payments.void(auth.id))
                    assert moved.id == auth.id and moved.amount_cents == 1000
                final = await self.payments.find_charge(f"auth-{self.pid}-{n}:0")
                assert final is not None and final.status in ("paid", "voided", "authorized")

            self.run(go())

        @rule(pick=st.integers(0, 15), whole=st.booleans(), restock=st.booleans(), reached_provider=st.booleans())
        def refund_crashes(self, pick: int, whole: bool, restock: bool, reached_provider: bool) -> None:
            """The process dies in the middle of a refund: after writing it 'pending' (step 1), or
            after the provider made it too (step 2). The next call on the order, or the
            stalled-refunds job, finishes it with the same key: money moves once."""
            orders = self.run(self._sold_orders())
            if not orders:
                return
            order = orders[pick % len(orders)]
            lines = None if whole else {order.lines[0].id: 1}

            async def go() -> None:
                try:
                    await self.life.finish_pending(order.id)  # what every call on the order does first
                    await self.life._ensure_sold(order)
                    pending = await self.life._start_refund(order.id, lines, restock=restock, kind="refund",
                                                            request_key=None, actor="system")
                except (RefundExceedsPaid, errors.InvalidState, errors.InvalidRequest):
                    return
                if reached_provider and pending is not None and pending.amount_cents > 0:
                    paid_with = (await self.life._reload(order.id)).payment_id
                    await self.payments.refund(paid_with, pending.amount_cents, refund_marker(order.id, pending.n))

            self.run(go())

        @rule()
        def stalled_refunds_job(self) -> None:
            """The background job: refunds pending for a minute or more are finished."""
            self.run(self.life.finish_stalled())

        @precondition(lambda self: self.holds)
        @rule(data=st.data())
        def provider_says_paid(self, data: st.DataObject) -> None:
            """The provider's word that a hold's payment went through (Stripe's webhook), at any
            moment: before the buyer's checkout call, after it, for a checkout that died, or twice."""
            h = self._pick_hold(data)
            self.run(self.checkout.payment_succeeded(h.hold_id))

        @rule(n=st.integers(0, 3), capture_cents=st.sampled_from([None, 600]), twice=st.booleans(),
              refunds=st.lists(st.integers(1, 1200), max_size=3), same_key=st.booleans())
        def capture_then_refund(self, n: int, capture_cents: int | None, twice: bool, refunds: list[int], same_key: bool) -> None:
            """A draw's winner: authorized, captured (all, or less than authorized), then refunded
            in parts. Captured once whatever is retried; never more refunded than captured."""
            async def go() -> None:
                auth = await self.payments.authorize(f"cap-{self.pid}-{n}:0", 1000, "EUR", PAYING_CARD)
                for _ in range(2 if twice else 1):
                    captured = await self.payments.capture(auth.id, capture_cents)
                    if auth.id not in self.captured and captured.status in ("paid", "refunded"):
                        self.captured[auth.id] = captured.amount_cents
                    assert captured.amount_cents == self.captured.get(auth.id, 1000), (captured, self.captured)
                for i, cents in enumerate(refunds):
                    await self.payments.refund(auth.id, cents, f"cap-refund:{auth.id}:{0 if same_key else i}")

            self.run(go())

        # -- time, operators ------------------------------------------------------------------

        @rule(seconds=st.sampled_from([1, 60, 121, 301]))
        def time_passes(self, seconds: int) -> None:
            self.clock.advance(seconds)

        @rule()
        def sweep(self) -> None:
            self.run(self.checkout.sweep([self.pid], batch=2))

        @rule(sku=st.sampled_from(SKUS), more=st.integers(0, 3))
        def restock(self, sku: str, more: int) -> None:
            async def go() -> None:
                async with sessions() as s:
                    v = (await s.execute(select(Variant).where(Variant.product_id == self.pid, Variant.sku == sku))).scalar_one()
                    v.stock += more
                    total = v.stock
                    await s.commit()
                await self.stock.restock(self.pid, sku, total)

            self.run(go())

        @rule()
        def reconcile(self) -> None:
            self.run(self.checkout.reconcile([self.pid]))

        @precondition(lambda self: len(self.history) >= 2)
        @rule(data=st.data(), stale_replica=st.booleans(), lose_the_last_sale=st.booleans())
        def redis_goes_back(self, data: st.DataObject, stale_replica: bool, lose_the_last_sale: bool) -> None:
            """Redis loses its last N operations (restarted from an older AOF), or a replica
            that is N steps behind is promoted (older data, and no script loaded there). Half
            the time N reaches back to just before the latest sale, the case that oversells."""
            before_sale = [saved for step, saved in self.history[:-1] if step == self.last_sale_from]
            if lose_the_last_sale and before_sale:
                saved = before_sale[0]
            else:
                n = 1 + data.draw(st.integers(0, 4)) % min(5, len(self.history) - 1)
                saved = self.history[-1 - n][1]

            async def go() -> None:
                doomed = [k async for k in raw.scan_iter(match=keys.prefix(self.pid).encode() + b"*")]
                if doomed:
                    await raw.delete(*doomed)
                for name, (ttl, payload) in saved.items():
                    await raw.restore(name, max(ttl, 0), payload, replace=True)
                if stale_replica:
                    await raw.script_flush()
                # The hub polls stock versions five times a second, which lifts this process's
                # local sold-out flags when the version moved: a stale server is then asked.
                await self.stock.versions([self.pid])

            self.run(go())
            self.behind = self.was_behind = True

        @rule()
        def notice_new_server(self) -> None:
            """The process notices the server is not the one it reconciled (inventory.epochs)."""
            self.run(self.checkout.reconcile([self.pid]))
            self.behind = False

        @rule()
        def redis_loses_the_product(self) -> None:
            async def go() -> None:
                doomed = [k async for k in redis.scan_iter(match=keys.prefix(self.pid) + "*")]
                if doomed:
                    await redis.delete(*doomed)
                await self.checkout.reconcile([self.pid])

            self.run(go())

        # -- invariants -----------------------------------------------------------------------

        @invariant()
        def inventory_adds_up(self) -> None:
            if not hasattr(self, "pid"):
                return
            self.run(self._check_sql())
            if not self.behind:
                self.run(self._check())
            self.step += 1
            self.history = [*self.history[-6:], (self.step, self.run(self._snapshot()))]  # 5 steps back at most

        async def _snapshot(self) -> dict[bytes, tuple[int, bytes]]:
            saved = {}
            async for name in raw.scan_iter(match=keys.prefix(self.pid).encode() + b"*"):
                payload = await raw.dump(name)
                if payload is not None:
                    saved[name] = (int(await raw.pttl(name)), payload)
            return saved

        async def _check_sql(self) -> None:
            """Whatever Redis says: never more paid than stock, and the guard's counter is true."""
            async with sessions() as s:
                variants = (await s.execute(select(Variant).where(Variant.product_id == self.pid))).scalars().all()
                paid = Counter()
                for sku, qty in (await s.execute(
                    select(OrderLine.sku, units_sold()).join(Order)
                    .where(OrderLine.product_id == self.pid, counts_as_sold())
                )).all():
                    paid[sku] += qty
                # Money: never more refunded than paid, the provider agrees with SQL, and each
                # refund was made once (one provider refund per refund row that moved money).
                for order in (await s.execute(select(Order).join(OrderLine).where(OrderLine.product_id == self.pid))).scalars():
                    rows = (await s.execute(select(OrderRefund).where(
                        OrderRefund.order_id == order.id, OrderRefund.amount_cents > 0))).scalars().all()
                    done = [r.amount_cents for r in rows if r.status == "done"]
                    assert order.refunded_cents == sum(done) <= order.total_cents, (order.id, order.refunded_cents, done)
                    assert sum(r.amount_cents for r in rows) <= order.total_cents, (order.id, [r.amount_cents for r in rows])
                    if order.status != "pending" and order.refund_reason in (None, "requested"):
                        # Each refund row moved money at most once, under its own key, and a done
                        # one always did: the provider's refunds are exactly those of the keyed rows.
                        made = await self.payments.refunds(order.payment_id)
                        keyed = [r for r in rows if await redis.exists(keys.refund(refund_marker(order.id, r.n)))]
                        assert sorted(made) == sorted(r.amount_cents for r in keyed), (order.id, made, rows)
                        assert all(r in keyed for r in rows if r.status == "done"), (order.id, rows)
                        assert sum(made) <= order.total_cents
                    for line in order.lines:
                        assert 0 <= line.restocked_quantity <= line.refunded_quantity <= line.quantity, (order.id, line.id)
            # Captured authorizations: captured once, never more refunded than captured.
            for charge_id, amount in self.captured.items():
                key = await redis.hget(keys.CHARGE_IDS, charge_id)
                charge = await redis.hgetall(key)
                made = await self.payments.refunds(charge_id)
                assert int(charge["amount_cents"]) == amount and sum(made) == int(charge.get("refunded_cents") or 0) <= amount
                assert (charge["status"] == "refunded") == (sum(made) == amount), (charge, made)
            for v in variants:
                assert paid[v.sku] == v.sold <= v.stock, (v.sku, paid[v.sku], v.sold, v.stock)

        async def _check(self) -> None:
            counts = await self.stock.counts(self.pid)
            async with sessions() as s:
                loaded = dict((await s.execute(select(Variant.sku, Variant.stock).where(Variant.product_id == self.pid))).all())
                lines = (
                    await s.execute(
                        select(OrderLine.sku, units_sold(), Order.buyer_id, Order.email, Order.status, Order.hold_id,
                               Order.payment_id, Order.refund_reason)
                        .join(Order).where(OrderLine.product_id == self.pid)
                    )
                ).all()
                refunding = set((await s.execute(select(Order.hold_id).join(OrderRefund).where(
                    OrderRefund.status == "pending"))).scalars())
            sold_sql, per_buyer, per_email = Counter(), Counter(), Counter()
            for sku, qty, buyer, email, status, _, _, reason in lines:
                if status in SELLING or (status in ("refunded", "cancelled") and reason == "requested"):
                    sold_sql[sku] += qty
                    per_buyer[buyer] += qty
                    per_email[email] += qty
            live = [await self.stock.get_hold(h.hold_id) for h in self.holds]
            live = [h for h in live if h is not None and h.state in ("held", "locked")]
            held = Counter()
            paid_holds = {hold_id for *_, status, hold_id, _, _ in lines if status in SELLING}
            for h in live:
                held[h.sku] += h.quantity
                if h.hold_id in paid_holds:
                    # Paid in SQL, Redis commit not done yet (the checkout died just before it).
                    sold_sql[h.sku] -= h.quantity
                else:
                    per_buyer[h.buyer_id] += h.quantity
            for sku in SKUS:
                c = counts[sku]
                assert min(c.available, c.held, c.sold) >= 0, (sku, c)
                assert c.available + c.held + c.sold == c.loaded == loaded[sku], (sku, c, loaded[sku])
                assert c.held == held[sku], (sku, c, held)
                assert c.sold == sold_sql[sku], (sku, c, sold_sql)
            if not self.was_behind:  # limits are Redis's; a stale window may let a buyer past them
                assert max(per_buyer.values(), default=0) <= self.limit, per_buyer
                assert max(per_email.values(), default=0) <= self.limit, per_email
            # Money and orders agree once a checkout is settled (not locked, mid-checkout).
            in_checkout = {h.hold_id for h in live if h.state == "locked"}
            orders = {hold_id: (status, payment_id) for *_, status, hold_id, payment_id, _ in lines}
            for h in self.holds:
                current = await self.stock.get_hold(h.hold_id)
                attempts = range((current.attempt if current else 0) + 3)
                charges = [c for c in [await self.payments.find_charge(f"{h.hold_id}:{a}") for a in attempts] if c]
                paid = [c for c in charges if c.paid]
                if h.hold_id in orders:
                    status, payment_id = orders[h.hold_id]
                    match = [c for c in charges if c.id == payment_id]
                    if status != "pending" and h.hold_id not in refunding:
                        # A partly refunded charge is still 'paid'; all of it given back: 'refunded'.
                        # (Not while a refund a crash left pending may have reached the provider
                        # and not SQL yet: the job finishes it, teardown checks the end.)
                        assert match and (match[0].status == "paid") == (status in SELLING), (h.hold_id, status, charges)
                        assert len(paid) <= (1 if status in SELLING else 0)
                    if status == "pending":
                        in_checkout.add(h.hold_id)  # settled by recovery later (see teardown)
                if h.hold_id not in orders or orders[h.hold_id][0] == "pending":
                    if h.hold_id not in in_checkout:
                        assert not paid, (h.hold_id, current, charges)

        def teardown(self) -> None:
            """Given time, every checkout settles: no pending order, money matches orders."""
            if not hasattr(self, "pid"):
                return
            if self.behind:
                self.notice_new_server()
            for _ in range(3):
                self.clock.advance(400)
                self.run(self.checkout.sweep([self.pid]))
                self.run(self.checkout.recover_pending())
                self.run(self.life.finish_stalled())

            async def settled() -> None:
                async with sessions() as s:
                    pending = (await s.execute(select(Order.hold_id).join(OrderLine).where(
                        OrderLine.product_id == self.pid, Order.status == "pending"))).all()
                    stalled = (await s.execute(select(OrderRefund.id).join(Order).join(OrderLine).where(
                        OrderLine.product_id == self.pid, OrderRefund.status == "pending"))).all()
                assert pending == []
                assert stalled == [], "a refund left pending by a crash is finished by the job"
                for sku, c in (await self.stock.counts(self.pid)).items():
                    assert c.held == 0, (sku, c)

            self.run(settled())
            self.run(self._check())

    try:
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=45, stateful_step_count=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        loop.run_until_complete(raw.aclose())
        loop.run_until_complete(redis.aclose())
        loop.run_until_complete(engine.dispose())
        loop.close()
