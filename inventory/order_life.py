"""An order's life after payment: shipped (with a carrier and tracking number), delivered,
refunded (in whole or per line, with or without putting the units back on sale) and cancelled.

    paid ─fulfil─> fulfilled ─deliver─> delivered
     │                 │                    │
     ├─ refund (part) ─┴────────────────────┴─> partially_refunded ─ refund the rest ─> refunded
     ├─ refund (all) ──────────────────────────────────────────────────────────────> refunded
     └─ cancel (before fulfilment: everything refunded and restocked) ─────────────> cancelled

``status`` says the last of these; ``fulfilled_at`` / ``delivered_at`` keep the shipping side
when a refund moved the status to partially_refunded. Every change writes an ``OrderEvent``
(what, who: ``host:<id>`` or ``system``, when), shown as the order's ``history``.

A refund is made in three steps, so a crash at any point is finished by the next call and money
never moves twice:

1. (SQL, the order row locked) check the units against what is left unrefunded and write the
   refund as 'pending' with the next number n of the order;
2. ask the provider with the idempotency key ``refund:<order id>:<n>`` (it refunds once per key);
3. (SQL, one transaction) mark the refund 'done' (only a pending one: one caller applies it),
   count the units refunded and restocked, move ``variants.sold`` down by the restocked units
   (its CHECK guard keeps it within 0..stock), set the status and write the event;

then the restocked units go back on sale in Redis (``StockStore.unsell``, once per refund and
line; the stock version moves, so viewers' stock frames show them). Any call on the order first
finishes refunds left pending. A caller's ``Idempotency-Key`` is kept with the refund: the same
key again answers the order as it is, refunding nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.checkout import Checkout
from inventory.clock import now_ms
from inventory.errors import InvalidRequest, InvalidState, InventoryError, NotFound
from inventory.models import Order, OrderEvent, OrderRefund, Variant
from inventory.orders import (
    CANCELLED, DELIVERED, FULFILLED, PAID, PARTIALLY_REFUNDED, PENDING, REFUNDED, REQUESTED, SELLING, refund_marker,
    restock_marker,
)
from inventory.outbox import announce
from inventory.payments import PaymentProvider
from inventory.stock import StockStore

log = logging.getLogger(__name__)

SYSTEM = "system"
CARRIER_MAX, TRACKING_MAX = 64, 128
# A refund still 'pending' this long after it was written was left by a process that died before
# finishing it (a live refund takes one provider call); the background job finishes it.
STALLED_REFUND_S = 60.0
# A refund row's status: 'pending' (written, maybe asked), 'done' (applied), or DROPPED: its order
# was undone by checkout before it could be applied (see _finish).
DROPPED = "dropped"


class RefundExceedsPaid(InventoryError):
    code, status = "refund_exceeds_paid", 422
    default_message = "that is more than is left to refund on this order"


class RefundFailed(InventoryError):
    code, status = "refund_failed", 502
    default_message = "the payment provider did not make the refund; nothing changed, try again"


def host_actor(host_id: int) -> str:
    return f"host:{host_id}"


@dataclass(frozen=True)
class ShipmentResult:
    """One row of a bulk 'mark shipped' upload and what became of it."""

    row: int  # the CSV line (the header is line 1)
    number: str
    ok: bool
    status: str | None = None  # the order's status afterwards
    order_id: str | None = None
    code: str | None = None  # why not (not_found, invalid_state, invalid_request)
    message: str | None = None

    def json(self) -> dict[str, object]:
        out: dict[str, object] = {"row": self.row, "number": self.number, "ok": self.ok}
        if self.ok:
            out.update(status=self.status, order_id=self.order_id)
        else:
            out.update(code=self.code, message=self.message)
        return out


class OrderLife:
    """``sessions``, ``stock``, ``payments`` and ``checkout`` are the process's own."""

    def __init__(
        self, sessions: async_sessionmaker, stock: StockStore, payments: PaymentProvider, checkout: Checkout,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.sessions = sessions
        self.stock = stock
        self.payments = payments
        self.checkout = checkout
        self.clock = clock

    # -- reading -----------------------------------------------------------------------------------

    async def host_order(self, host_id: int, order_id: str) -> Order:
        """The host's own order (paid at least), else NotFound: another host's is not found either."""
        async with self.sessions() as session:
            order = await session.get(Order, order_id) if len(order_id) <= 32 else None
        if order is None or order.host_id != host_id or order.status == PENDING:
            raise NotFound("no such order")
        return order

    async def host_order_by_number(self, host_id: int, number: str) -> Order:
        async with self.sessions() as session:
            order = (await session.execute(
                select(Order).where(Order.number == number.strip().upper(), Order.host_id == host_id)
            )).scalar_one_or_none()
        if order is None or order.status == PENDING:
            raise NotFound(f"no order numbered {number!r}")
        return order

    async def _reload(self, order_id: str) -> Order:
        async with self.sessions() as session:
            order = await session.get(Order, order_id, populate_existing=True)
        assert order is not None
        return order

    # -- shipping ----------------------------------------------------------------------------------

    async def fulfil(self, host_id: int, order_id: str, carrier: str | None = None, tracking_number: str | None = None,
                     *, actor: str | None = None) -> Order:
        """Mark shipped (paid -> fulfilled), with an optional carrier and tracking number. Again on
        a shipped order not yet delivered: the carrier and tracking are corrected (an event
        'tracking_updated'), or nothing happens when they are the same."""
        order = await self.host_order(host_id, order_id)
        carrier, tracking_number = _clean(carrier, "carrier", CARRIER_MAX), _clean(tracking_number, "tracking_number", TRACKING_MAX)
        async with self.sessions() as session, session.begin():
            order = await _locked(session, order.id)
            if order.status not in SELLING or order.delivered_at is not None:
                raise InvalidState(f"an order that is {order.status} cannot be marked shipped")
            data = {"carrier": carrier, "tracking_number": tracking_number}
            if order.fulfilled_at is None:
                order.fulfilled_at = self.clock()
                if order.status == PAID:
                    order.status = FULFILLED
                kind = "fulfilled"
            elif (order.carrier, order.tracking_number) == (carrier, tracking_number):
                return order
            else:
                kind = "tracking_updated"
            order.carrier, order.tracking_number = carrier, tracking_number
            session.add(OrderEvent(order_id=order.id, at=self.clock(), actor=actor or host_actor(host_id), kind=kind, data=data))
            if kind == "fulfilled":  # a corrected tracking number is not a second shipping notice
                announce(session, "order.fulfilled", order_payload(order, carrier=carrier, tracking_number=tracking_number),
                         host_id=order.host_id)
        return await self._reload(order.id)

    async def deliver(self, host_id: int, order_id: str, *, actor: str | None = None) -> Order:
        """Shipped -> delivered; again: nothing happens. Not shipped yet: InvalidState."""
        order = await self.host_order(host_id, order_id)
        async with self.sessions() as session, session.begin():
            order = await _locked(session, order.id)
            if order.delivered_at is not None and order.status in (DELIVERED, PARTIALLY_REFUNDED):
                return order
            if order.fulfilled_at is None or order.status not in (FULFILLED, PARTIALLY_REFUNDED):
                raise InvalidState(f"an order that is {order.status} and not shipped cannot be delivered")
            order.delivered_at = self.clock()
            if order.status == FULFILLED:
                order.status = DELIVERED
            session.add(OrderEvent(order_id=order.id, at=self.clock(), actor=actor or host_actor(host_id), kind="delivered", data={}))
            announce(session, "order.delivered", order_payload(order), host_id=order.host_id)
        return await self._reload(order.id)

    async def ship_many(self, host_id: int, rows: list[tuple[int, str, str | None, str | None]], *,
                        actor: str | None = None) -> list[ShipmentResult]:
        """Bulk 'mark shipped' (a CSV upload: order number, carrier, tracking): each row on its
        own, so one bad row does not stop the others."""
        results = []
        for line, number, carrier, tracking in rows:
            try:
                order = await self.host_order_by_number(host_id, number)
                order = await self.fulfil(host_id, order.id, carrier, tracking, actor=actor)
                results.append(ShipmentResult(line, number, True, status=order.status, order_id=order.id))
            except (NotFound, InvalidState, InvalidRequest) as exc:
                results.append(ShipmentResult(line, number, False, code=exc.code, message=exc.message))
        return results

    # -- money back --------------------------------------------------------------------------------

    async def refund(self, host_id: int, order_id: str, lines: dict[int, int] | None, *, restock: bool,
                     request_key: str | None = None, actor: str | None = None) -> Order:
        """Refund some units (``lines``: line id -> units) or all that is left (None), putting
        them back on sale when ``restock``. RefundExceedsPaid (422) past what is left unrefunded;
        InvalidState (409) on an order refunded or cancelled already."""
        return await self._give_back(host_id, order_id, lines, restock=restock, kind="refund",
                                     request_key=request_key, actor=actor or host_actor(host_id))

    async def cancel(self, host_id: int, order_id: str, *, request_key: str | None = None, actor: str | None = None) -> Order:
        """Before it ships: refund the whole payment and put every unit back on sale. Again on a
        cancelled order: the same order. Shipped (or refunded) already: InvalidState (409)."""
        return await self._give_back(host_id, order_id, None, restock=True, kind="cancel",
                                     request_key=request_key, actor=actor or host_actor(host_id))

    async def _give_back(self, host_id: int, order_id: str, lines: dict[int, int] | None, *, restock: bool, kind: str,
                         request_key: str | None, actor: str) -> Order:
        order = await self.host_order(host_id, order_id)
        await self.finish_pending(order.id)
        if request_key is not None:
            done = await self._refund_by_key(order.id, request_key)
            if done is not None:  # a retry: the same answer, nothing refunded again
                await self._restock_in_redis(order, done)
                return await self._reload(order.id)
        order = await self._reload(order.id)
        if kind == "cancel" and order.status == CANCELLED:
            return order
        if kind == "cancel" and (order.status not in (PAID, PARTIALLY_REFUNDED) or order.fulfilled_at is not None):
            raise InvalidState(f"an order that is {order.status} cannot be cancelled" + (
                " (it has shipped: refund it instead)" if order.fulfilled_at is not None else ""))
        if order.status not in SELLING:
            raise InvalidState(f"an order that is {order.status} cannot be refunded")
        await self._ensure_sold(order)
        pending = await self._start_refund(order.id, lines, restock=restock, kind=kind, request_key=request_key, actor=actor)
        if pending is None:  # a racing retry with the same key wrote it first
            return await self._reload(order.id)
        await self._finish(pending)
        return await self._reload(order.id)

    async def _ensure_sold(self, order: Order) -> None:
        """A paid order whose checkout died before Redis marked its units sold: finish that first
        (checkout's recovery), so a restock moves units Redis counts as sold. Only while the hold
        is still in Redis: an old order's sold record is long gone, and its units long counted."""
        hold = await self.stock.get_hold(order.hold_id)
        if hold is not None and hold.state in ("held", "locked") and order.status in SELLING:
            outcome = await self.checkout.recover_order(order)
            if outcome == "refunded":
                raise InvalidState("this order was undone by checkout (no unit was left) and refunded")

    async def _refund_by_key(self, order_id: str, request_key: str) -> OrderRefund | None:
        async with self.sessions() as session:
            return (await session.execute(
                select(OrderRefund).where(OrderRefund.order_id == order_id, OrderRefund.request_key == request_key)
            )).scalar_one_or_none()

    async def _start_refund(self, order_id: str, lines: dict[int, int] | None, *, restock: bool, kind: str,
                            request_key: str | None, actor: str) -> OrderRefund | None:
        """Step 1: the order row locked, the units checked, the refund written 'pending'."""
        try:
            async with self.sessions() as session, session.begin():
                order = await _locked(session, order_id)
                if order.status not in SELLING:
                    raise InvalidState(f"an order that is {order.status} cannot be refunded")
                pending = list((await session.execute(
                    select(OrderRefund).where(OrderRefund.order_id == order_id, OrderRefund.status == "pending")
                )).scalars())
                reserved: dict[int, int] = {}
                reserved_cents = sum(r.amount_cents for r in pending)
                for r in pending:
                    for line_id, units in r.lines.items():
                        reserved[int(line_id)] = reserved.get(int(line_id), 0) + int(units)
                left = {line.id: line.quantity - line.refunded_quantity - reserved.get(line.id, 0) for line in order.lines}
                if lines is None:
                    units = {line_id: n for line_id, n in left.items() if n > 0}
                    if not units:
                        raise InvalidState("every unit of this order is refunded already")
                else:
                    for line_id, n in lines.items():
                        if line_id not in left:
                            raise InvalidRequest("lines", f"no line {line_id} in this order")
                        if n > left[line_id]:
                            raise RefundExceedsPaid(
                                f"line {line_id}: {n} units asked, {left[line_id]} left to refund")
                    units = {line_id: n for line_id, n in lines.items() if n > 0}
                    if not units:
                        raise InvalidRequest("lines", "name at least one unit to refund")
                price = {line.id: line.unit_price_cents for line in order.lines}
                money_left = order.total_cents - order.refunded_cents - reserved_cents
                if all(left[line_id] == units.get(line_id, 0) for line_id in left):
                    amount = money_left  # the last units: all that is left (shipping included)
                else:
                    amount = min(money_left, sum(price[line_id] * n for line_id, n in units.items()))
                if amount < 0:
                    raise RefundExceedsPaid()
                n = int((await session.execute(
                    select(func.coalesce(func.max(OrderRefund.n), 0)).where(OrderRefund.order_id == order_id)
                )).scalar_one()) + 1
                refund = OrderRefund(
                    order_id=order_id, n=n, request_key=request_key, kind=kind, amount_cents=amount,
                    lines={str(line_id): u for line_id, u in units.items()}, restock=restock, status="pending",
                    actor=actor, created_at=self.clock(),
                )
                session.add(refund)
            return refund
        except IntegrityError:
            if request_key is not None and await self._refund_by_key(order_id, request_key) is not None:
                return None
            raise

    async def finish_pending(self, order_id: str) -> int:
        """Finish the order's refunds that stopped after step 1 (the provider call or step 3
        did not happen, or we do not know): the same key, so the provider refunds at most once."""
        async with self.sessions() as session:
            pending = list((await session.execute(
                select(OrderRefund).where(OrderRefund.order_id == order_id, OrderRefund.status == "pending")
                .order_by(OrderRefund.n)
            )).scalars())
        for refund in pending:
            await self._finish(refund)
        return len(pending)

    async def finish_stalled(self, older_than_s: float = STALLED_REFUND_S, batch: int = 50) -> dict[str, str]:
        """The background job's pass (web.livedrop ``refunds`` job): finish refunds left 'pending'
        for ``older_than_s`` by a process that died between writing one and applying it, even if
        nobody touches the order again. Younger ones are left to the call making them (finishing
        one twice would be harmless: the provider key and the conditional step 3 make it once).
        Returns order id -> 'finished' or the refusal's code (tried again next pass)."""
        cutoff = self.clock() - int(older_than_s * 1000)
        async with self.sessions() as session:
            order_ids = list((await session.execute(
                select(OrderRefund.order_id).where(OrderRefund.status == "pending", OrderRefund.created_at <= cutoff)
                .group_by(OrderRefund.order_id).order_by(func.min(OrderRefund.created_at)).limit(batch)
            )).scalars())
        outcomes: dict[str, str] = {}
        for order_id in order_ids:
            try:
                await self.finish_pending(order_id)
                outcomes[order_id] = "finished"
            except InventoryError as exc:  # the provider said no, or is away: next pass
                log.warning("stalled refund of order %s not finished yet: %s", order_id, exc.message)
                outcomes[order_id] = exc.code
        return outcomes

    async def _finish(self, refund: OrderRefund) -> None:
        """Steps 2 and 3 and the restock in Redis."""
        order = await self._reload(refund.order_id)
        key = refund_marker(order.id, refund.n)
        charge = None
        if refund.amount_cents > 0:
            try:
                charge = await self.payments.refund(order.payment_id, refund.amount_cents, key)
            except Exception as exc:
                log.exception("refund %s of order %s failed at the provider", key, order.id)
                raise RefundFailed() from exc
            if charge is None:
                raise RefundFailed("the payment provider has no such payment")
        async with self.sessions() as session, session.begin():
            order = await _locked(session, order.id)
            if order.status not in SELLING:
                # Checkout undid the sale meanwhile (no unit left after Redis came back behind:
                # reason no_unit_left) and refunded all that was left, units and counts with it.
                # This refund has nothing left to apply; it is kept as 'dropped' for the record.
                await session.execute(update(OrderRefund).where(OrderRefund.id == refund.id, OrderRefund.status == "pending")
                                      .values(status=DROPPED, provider_refund_id=charge.id if charge else None))
                return
            done = await session.execute(
                update(OrderRefund).where(OrderRefund.id == refund.id, OrderRefund.status == "pending")
                .values(status="done", provider_refund_id=charge.id if charge else None)
            )
            if done.rowcount != 1:
                return  # another caller finished it
            units = {int(k): int(v) for k, v in refund.lines.items()}
            for line in order.lines:
                n = units.get(line.id, 0)
                if not n:
                    continue
                line.refunded_quantity += n
                if refund.restock:
                    line.restocked_quantity += n
                    await session.execute(
                        update(Variant).where(Variant.id == line.variant_id).values(sold=Variant.sold - n)
                        .execution_options(synchronize_session=False)
                    )
            order.refunded_cents += refund.amount_cents
            everything = all(line.refunded_quantity >= line.quantity for line in order.lines)
            if everything:
                order.status = CANCELLED if refund.kind == "cancel" else REFUNDED
                order.refund_reason = REQUESTED
                kind = order.status
            else:
                order.status = PARTIALLY_REFUNDED
                kind = PARTIALLY_REFUNDED
            # A partial refund is a refund notice too; a cancel of an unshipped order, a cancellation.
            announce(session, "order.cancelled" if kind == CANCELLED else "order.refunded",
                     order_payload(order, refunded_cents=refund.amount_cents, total_refunded_cents=order.refunded_cents),
                     host_id=order.host_id)
            session.add(OrderEvent(
                order_id=order.id, at=self.clock(), actor=refund.actor, kind=kind,
                data={"refund": key, "amount_cents": refund.amount_cents, "restock": refund.restock,
                      "lines": [{"line_id": line_id, "quantity": n} for line_id, n in units.items()]},
            ))
        await self._restock_in_redis(order, refund)

    async def _restock_in_redis(self, order: Order, refund: OrderRefund) -> None:
        """The restocked units back on sale in Redis, once per refund and line (a retry is a no-op).
        Skipped if it fails: stock then stays lower than SQL allows until the next reconcile."""
        if not refund.restock:
            return
        units = {int(k): int(v) for k, v in refund.lines.items()}
        for line in order.lines:
            n = units.get(line.id, 0)
            if not n:
                continue
            try:
                await self.stock.unsell(
                    restock_marker(order.id, refund.n, line.id), line.product_id, sku=line.sku, quantity=n,
                    buyer_id=order.buyer_id, email=order.email, offer_id=line.offer_id,
                )
            except Exception:
                log.exception("restock of order %s line %s in Redis failed; the next reconcile puts it back", order.id, line.id)


def order_payload(order: Order, **more: object) -> dict[str, object]:
    """An order event's data (inventory.outbox): ids, numbers, and the buyer's address for the email."""
    return {"order_id": order.id, "number": order.number, "status": order.status, "show_id": order.show_id,
            "buyer_id": order.buyer_id, "email": order.email, "total_cents": order.total_cents,
            "currency": order.currency, **({"locale": order.locale} if order.locale else {}), **more}


async def _locked(session: AsyncSession, order_id: str) -> Order:
    """The order, its row locked for this transaction (a no-op UPDATE first: PostgreSQL's row
    lock, SQLite's write lock), read fresh."""
    await session.execute(update(Order).where(Order.id == order_id).values(status=Order.status))
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise NotFound("no such order")
    return order


def _clean(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise InvalidRequest(field, f"at most {limit} characters")
    return value or None
