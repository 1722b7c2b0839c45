"""Inventory: catalog, hot stock, holds, orders and payments. Knows nothing of shows or HTTP.

Wiring (once per process; the Redis client must use ``decode_responses=True``)::

    stock = StockStore(redis)                         # inventory.stock
    payments = TestPaymentProvider(redis)             # inventory.payments (or a real provider)
    checkout = Checkout(sessions, stock, payments)    # inventory.checkout
    epochs = RedisEpochs(redis, sessions, stock, checkout.reconcile)   # inventory.epochs
    epochs.watch_connections(stock); await epochs.ensure()   # rebuilds stock unless Redis is the server SQL recorded

Buyer side::

    await checkout.ensure_loaded(product_id)          # when a product goes on sale (pin / offer)
    hold = await stock.hold(product_id, sku, quantity, buyer_id, idempotency_key, SaleTerms(...))
    hold.to_json()                                    # the 201 body; hold.replayed -> same answer again
    await stock.release(hold_id, buyer_id)            # DELETE /api/holds/{id}
    order, created = await checkout.checkout(hold_id, buyer_id, CheckoutDetails(...))  # 201 / 200
    await checkout.orders_for_buyer(buyer_id); await checkout.live_holds_for_buyer(buyer_id)
    await checkout.get_order(order_id); await checkout.get_hold(hold_id)
    order_json(order, receipt_url); await held_items(sessions, stock, buyer_id)   # inventory.orders: what a buyer is shown

Catalog (a host's products; SQL, then Redis)::

    await create_product(session, host_id, ProductSpec(...))          # inventory.catalog; spec_problems(spec) are its rules
    await edit_product(session, host_id, product_id, ProductChanges(...), stock)   # commits; grown stock holdable at once
    await import_products_csv(session, host_id, raw_bytes)            # inventory.csv_import: all or nothing, problems by line

Host / hub side::

    await stock.open_offer(product_id, offer_id, quantity_or_None)   # cap at the offer price
    await stock.offer_remaining(product_id, offer_id)                # None: no cap
    await stock.restock(product_id, sku, new_variant_stock)          # absolute: Variant.stock
    await stock.versions([product_ids])  -> {product_id: version}    # poll ~5 Hz
    await stock.available(product_id)    -> {sku: units}             # when the version moved
    await stock.available_many([product_ids])

Worker (every second or so; safe in several processes at once)::

    await checkout.sweep()    # expired holds back to stock, stalled checkouts finished or undone

Errors (``inventory.errors``; each has ``.code``, ``.status`` and ``.message``)::

    sold_out 409 · limit_reached 409 · not_on_sale 409 (stock not in Redis: reconcile) ·
    unknown_sku 404 · idempotency_conflict 422 · invalid_request 422 (``.field``) ·
    hold_expired 410 · not_found 404 · hold_locked 409 (in checkout elsewhere) ·
    payment_declined 402 (``.decline_code``)

Orders: status 'pending' (a checkout between writing the order and knowing the charge; never
show these), 'paid', or 'refunded' (a paid order undone because no unit was left). Only 'paid'
counts as sold.

Redis keys: every key of a product shares the hash tag ``{p<id>}`` (``ld:{p<id>}:avail``,
``:sold``, ``:loaded``, ``:buyers``, ``:emails``, ``:offer_used``,
``:hold:<hold id>``, ``:due``, ``:sold_recent``, ``:ver``), and so does
the buyer's record, one per product (``ld:{p<id>}:b:<buyer>``: their holds, idempotency answers
and presses; the buyer's holds
across products are read from every product on sale); see ``inventory.keys`` for the full layout.
Hold ids are ``<product id>.<random>``.

Lua scripts (``inventory/lua``, EVALSHA, reloaded on NOSCRIPT, Redis 6.2): hold, release, lock,
unlock, commit, abandon, sweep, load, restock, reconcile, and charge (the test provider).
"""

from inventory.checkout import Checkout, CheckoutDetails
from inventory.errors import InventoryError
from inventory.payments import Charge, PaymentProvider, TestPaymentProvider
from inventory.stock import Hold, SaleTerms, StockStore

__all__ = [
    "Charge",
    "Checkout",
    "CheckoutDetails",
    "Hold",
    "InventoryError",
    "PaymentProvider",
    "SaleTerms",
    "StockStore",
    "TestPaymentProvider",
]
