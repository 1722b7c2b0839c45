"""Rebuild Redis stock from SQL: available = loaded - sold (SQL) - holds Redis still has.

Redis is not trusted to be durable. This runs on start, on demand (``livedrop inventory
reconcile``), and whenever a process meets a Redis that is not the server the last full reconcile
ran against, or that came back empty (``inventory.epochs``). A full reconcile records that server
(its run id) and a fresh epoch token in SQL and in Redis.

Races with checkouts in flight are handled in reconcile.lua; the Python side only has to read SQL
*after* setting the fence and read all of a product's paid order lines in one statement, so the
sold count and the list of recent orders are one consistent snapshot. Being conservative is
allowed (a restock that lands between the SQL read and the script is undone until the next
reconcile or restock); counting a unit as available twice is not.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.epochs import save_epoch, server_run_id
from inventory.models import Order, OrderLine, OrderRefund, Product, Variant
from inventory.orders import counts_as_sold, restock_marker, units_sold
from inventory.stock import ReconcileInput, StockStore


async def read_product(sessions: async_sessionmaker, product_id: int, recent_since: int) -> ReconcileInput:
    async with sessions() as session:
        variants = (await session.execute(select(Variant.sku, Variant.stock).where(Variant.product_id == product_id))).all()
        lines = (
            await session.execute(
                select(
                    func.coalesce(OrderLine.hold_id, Order.hold_id), OrderLine.sku, units_sold(), Order.buyer_id, Order.email,
                    OrderLine.offer_id, Order.created_at,
                )
                .join(OrderLine, OrderLine.order_id == Order.id)
                .where(OrderLine.product_id == product_id, counts_as_sold())
            )
        ).all()
        # After the lines: a restock committed in between is then in the markers but not in the
        # lines, which only keeps its units off sale until the next reconcile (conservative);
        # the other way round would put them on sale twice.
        restocked = (
            await session.execute(
                select(OrderRefund.order_id, OrderRefund.n, OrderRefund.lines, OrderLine.id)
                .join(OrderLine, OrderLine.order_id == OrderRefund.order_id)
                .where(OrderLine.product_id == product_id, OrderRefund.restock.is_(True), OrderRefund.status == "done")
            )
        ).all()
    data = ReconcileInput(
        loaded={sku: int(stock) for sku, stock in variants},
        sold=defaultdict(int), recent_orders=[], buyers=defaultdict(int), emails=defaultdict(int), offers=defaultdict(int),
        restocked=[restock_marker(order_id, n, line_id) for order_id, n, units, line_id in restocked
                   if str(line_id) in (units or {})],
    )
    for hold_id, sku, units, buyer, email, offer_id, created_at in lines:
        qty = int(units)
        data.sold[sku] += qty
        data.buyers[buyer] += qty
        data.emails[email] += qty
        if offer_id is not None:
            data.offers[offer_id] += qty
        if created_at >= recent_since:
            data.recent_orders.append((hold_id, sku, qty, buyer, email, offer_id))
        data.loaded.setdefault(sku, 0)  # a variant deleted after it sold: keep counting its sales
    return data


class ReconcileFenced(RuntimeError):
    """Every attempt was overtaken by another reconcile of the same product (or Redis emptied)."""


async def reconcile(
    sessions: async_sessionmaker, stock: StockStore, product_ids: list[int] | None = None, *, attempts: int = 5
) -> dict[int, dict[str, int]]:
    """Reconcile the given products (None: every product in SQL, then mark Redis reconciled).
    Returns product -> sku -> units available afterwards."""
    everything = product_ids is None
    # The server is read before the rebuild: if it changes during it, the record names the old
    # one and the new one is rebuilt again, never trusted unrebuilt.
    run_id = await server_run_id(stock.redis) if everything else ""
    if product_ids is None:
        async with sessions() as session:
            product_ids = list((await session.execute(select(Product.id).order_by(Product.id))).scalars())
    result: dict[int, dict[str, int]] = {}
    for product_id in product_ids:
        for _ in range(attempts):
            token = await stock.begin_reconcile(product_id)
            # Orders from well before the sold records' retention cannot have a record left.
            data = await read_product(sessions, product_id, stock.clock() - 2 * stock.sold_retention_ms)
            if await stock.finish_reconcile(product_id, token, data):
                break
        else:
            raise ReconcileFenced(f"reconcile of product {product_id} was fenced {attempts} times in a row")
        result[product_id] = await stock.available(product_id)
    if everything:
        token = stock.new_epoch_token()
        # SQL first: a crash between the two writes leaves the tokens unequal, which means one
        # more rebuild, never a server trusted without one.
        await save_epoch(sessions, run_id, token, stock.clock())
        await stock.mark_reconciled(token)
    return result
