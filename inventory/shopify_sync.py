"""Shopify's ``products/update`` webhook: titles, prices and new stock of a host's products, matched
by SKU, follow the host's Shopify shop.

* Trust: the webhook is signed with the app's shared secret, ``X-Shopify-Hmac-Sha256`` =
  base64(HMAC-SHA256(secret, raw body)); ``verify`` compares in constant time, with the secret of
  the connection its ``X-Shopify-Shop-Domain`` names. An unknown shop and a wrong signature get the
  same refusal, so the answer does not tell which shops are connected.
* Once: Shopify delivers at least once; ``first_delivery`` keeps each ``X-Shopify-Webhook-Id`` in
  Redis for a week (SET NX). A delivery that slips through anyway changes nothing either: stock
  moves by the difference from the shop's count livedrop last saw (inventory.shop_links), and a
  repeated payload has no difference.
* Stock: a rise of Shopify's ``inventory_quantity`` adds that many units (SQL first, then Redis
  through the restock script, as a host's restock does: inventory.catalog.restock_live). A fall
  is a sale in the Shopify shop: livedrop's own units are left as they are (some may be held or
  sold in a show, and none are Shopify's to take back), the new count is remembered and a line
  logged. A SKU seen for the first time only has its count remembered.
* In order: Shopify does not deliver in order, so each count is kept with the product's
  ``updated_at`` it came with, and an older delivery is stale (nothing applied). Two deliveries at
  once move a count by compare-and-set and add units in SQL (``stock + n``): none counted twice.
* All or nothing: the payload is checked first (title, each matched price); a bad one is refused
  (422) and nothing changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory.catalog import MAX_PRICE_CENTS, MAX_STOCK, MAX_TITLE, restock_live
from inventory.clock import now_ms
from inventory.csv_import import price_cents
from inventory.errors import InvalidRequest, InventoryError, NotFound, Unavailable
from inventory.models import Product, Variant
from inventory.shop_links import (
    SHOPIFY,
    ShopConnection,
    ShopStockLevel,
    connection_of_domain,
    connection_of_host,
    shop_time_ms,
)
from inventory.stock import StockStore

log = logging.getLogger("livedrop.shopify")

WEBHOOK_IDS_KEPT_S = 7 * 24 * 3600  # Shopify retries for 48 hours; a week leaves room
WEBHOOK_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,100}$"
MAX_VARIANTS_PER_UPDATE = 2048  # Shopify allows 2,048 variants per product


APPLY_ATTEMPTS = 5


class _CountMoved(Exception):
    """Another delivery changed a shop count between this one's read and its write."""


class ShopifySignatureInvalid(InventoryError):
    code, status = "shopify_hmac_invalid", 401
    default_message = "the X-Shopify-Hmac-Sha256 header does not sign this body with a connected shop's secret; nothing was done"


class ShopTaken(InventoryError):
    code, status, default_message = "shop_taken", 409, "that shop is connected to another host"


def shopify_hmac(secret: str, body: bytes) -> str:
    """What Shopify puts in X-Shopify-Hmac-Sha256."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class SyncOutcome:
    """What one ``products/update`` changed, for the answer and the log."""

    matched_skus: int = 0
    titles: int = 0
    prices: int = 0
    units_added: int = 0
    first_seen: int = 0
    decreases_ignored: int = 0
    stale: bool = False  # older than a count already seen: nothing applied
    restocked: dict[int, dict[str, int]] = field(default_factory=dict)  # product id -> SKU -> units loaded now

    def json(self) -> dict[str, Any]:
        return {"matched_skus": self.matched_skus, "titles": self.titles, "prices": self.prices,
                "units_added": self.units_added, "first_seen": self.first_seen, "decreases_ignored": self.decreases_ignored,
                "stale": self.stale}


@dataclass(frozen=True)
class _Incoming:
    sku: str
    price: str | None
    quantity: int | None
    index: int


class ShopifySync:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], stock: StockStore, redis: aioredis.Redis) -> None:
        self.sessions = sessions
        self.stock = stock
        self.redis = redis

    # -- the host's connection ------------------------------------------------------------------

    async def connect(self, host_id: int, shop_domain: str, secret: str) -> ShopConnection:
        """Connect (or reconnect, with a new secret) the host's Shopify shop."""
        async with self.sessions() as session:
            other = await connection_of_domain(session, shop_domain)
            if other is not None and other.host_id != host_id:
                raise ShopTaken()
            mine = await connection_of_host(session, host_id)
            if mine is None:
                mine = ShopConnection(host_id=host_id, platform=SHOPIFY, shop_domain=shop_domain.lower(), secret=secret)
                session.add(mine)
            else:
                mine.shop_domain, mine.secret = shop_domain.lower(), secret
            try:
                await session.commit()
            except IntegrityError:  # another host connected the same shop at the same moment
                await session.rollback()
                raise ShopTaken() from None
            await session.refresh(mine)
            return mine

    async def connection(self, host_id: int) -> ShopConnection:
        async with self.sessions() as session:
            found = await connection_of_host(session, host_id)
        if found is None:
            raise NotFound("no Shopify shop is connected")
        return found

    async def disconnect(self, host_id: int) -> None:
        async with self.sessions() as session:
            found = await connection_of_host(session, host_id)
            if found is None:
                raise NotFound("no Shopify shop is connected")
            await session.delete(found)
            await session.commit()

    # -- a webhook -------------------------------------------------------------------------------

    async def verify(self, shop_domain: str | None, body: bytes, signature: str | None) -> ShopConnection:
        """The connection whose secret signs ``body``; ShopifySignatureInvalid otherwise."""
        connection = None
        if shop_domain and len(shop_domain) <= 255:
            async with self.sessions() as session:
                connection = await connection_of_domain(session, shop_domain)
        # Computed even for an unknown shop, so the time taken does not tell connected shops apart.
        expected = shopify_hmac(connection.secret if connection else "unknown-shop", body)
        if connection is None or not signature or not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise ShopifySignatureInvalid()
        return connection

    def _delivery_key(self, host_id: int, webhook_id: str) -> str:
        return f"ld:{{webhooks}}:shopify:{int(host_id)}:{webhook_id}"

    async def first_delivery(self, host_id: int, webhook_id: str | None) -> bool:
        """True the first time this webhook id is seen for the host (no usable id: True, and the
        counts keep a second delivery harmless)."""
        if not webhook_id or not re.fullmatch(WEBHOOK_ID_PATTERN, webhook_id):
            return True
        return bool(await self.redis.set(self._delivery_key(host_id, webhook_id), "1", nx=True, ex=WEBHOOK_IDS_KEPT_S))

    async def forget_delivery(self, host_id: int, webhook_id: str | None) -> None:
        """The delivery failed on our side: let Shopify's retry be handled."""
        if webhook_id and re.fullmatch(WEBHOOK_ID_PATTERN, webhook_id):
            await self.redis.delete(self._delivery_key(host_id, webhook_id))

    async def product_updated(self, host_id: int, product: Any) -> SyncOutcome:
        """Apply one ``products/update`` payload to the host's products with the same SKUs."""
        title, said_at, incoming = _read_payload(product)
        for attempt in range(APPLY_ATTEMPTS):
            try:
                outcome = await self._apply(host_id, title, said_at, incoming)
                break
            except (IntegrityError, _CountMoved):  # a concurrent delivery moved a count first: start over
                if attempt == APPLY_ATTEMPTS - 1:
                    raise Unavailable("another update of the same products is being handled; retry", retry_after_s=1) from None
        for product_id, totals in outcome.restocked.items():
            await self._restock(product_id, totals)
        return outcome

    async def _apply(self, host_id: int, title: str | None, said_at: int | None, incoming: list[_Incoming]) -> SyncOutcome:
        outcome = SyncOutcome()
        skus = [item.sku for item in incoming]
        async with self.sessions() as session:
            # Locked in SKU order (PostgreSQL; SQLite has one writer anyway), so two deliveries for
            # the same product wait for each other instead of both adding the same units.
            variants = list((await session.execute(
                select(Variant).where(Variant.host_id == host_id, Variant.sku.in_(skus)).order_by(Variant.sku).with_for_update()
            )).scalars())
            if not variants:
                return outcome
            by_sku = {v.sku: v for v in variants}
            products = {p.id: p for p in (await session.execute(
                select(Product).where(Product.id.in_({v.product_id for v in variants})).order_by(Product.id).with_for_update()
            )).scalars()}
            levels = {row.sku: row for row in (await session.execute(
                select(ShopStockLevel).where(ShopStockLevel.host_id == host_id, ShopStockLevel.sku.in_(list(by_sku)))
                .with_for_update()
            )).scalars()}
            matched = [item for item in incoming if item.sku in by_sku]
            outcome.matched_skus = len(matched)
            new_prices = _checked_prices(matched, by_sku, products)  # raises InvalidRequest: nothing written
            # Shopify does not deliver in order: a delivery older than a count already seen says
            # nothing new, neither about stock nor about titles and prices.
            stale = said_at is not None and any(
                level.seen_at is not None and level.seen_at > said_at for level in levels.values())
            if stale:
                outcome.stale = True
                matched = []
            for product_id, product in ({} if stale else products).items():
                if title is not None and product.title != title:
                    product.title = title
                    outcome.titles += 1
                price = new_prices.get(product_id)
                if price is not None and product.price_cents != price:
                    product.price_cents = price
                    outcome.prices += 1
            for item in matched:
                if item.quantity is None:
                    continue
                variant = by_sku[item.sku]
                level = levels.get(item.sku)
                if level is None:
                    session.add(ShopStockLevel(host_id=host_id, sku=item.sku, quantity=item.quantity, seen_at=said_at))
                    outcome.first_seen += 1
                    continue
                seen, seen_at, change = level.quantity, level.seen_at, item.quantity - level.quantity
                if change == 0 and (said_at is None or said_at == seen_at):
                    continue
                # Compare-and-set: the count moves from the one this delivery read, or another
                # delivery moved it first and this one starts over. (The lock above is PostgreSQL's;
                # SQLite's driver reads outside a transaction, so this is what keeps it right there.)
                moved = await session.execute(
                    update(ShopStockLevel)
                    .where(ShopStockLevel.host_id == host_id, ShopStockLevel.sku == item.sku, ShopStockLevel.quantity == seen,
                           ShopStockLevel.seen_at.is_(None) if seen_at is None else ShopStockLevel.seen_at == seen_at)
                    .values(quantity=item.quantity, seen_at=said_at if said_at is not None else seen_at, updated_at=now_ms())
                    .execution_options(synchronize_session=False))
                if getattr(moved, "rowcount", 0) != 1:
                    raise _CountMoved()
                if change > 0:
                    added = min(change, MAX_STOCK - variant.stock)
                    if added > 0:
                        # Added in SQL (never a total computed here), then read back for Redis.
                        await session.execute(update(Variant).where(Variant.id == variant.id)
                                              .values(stock=Variant.stock + added).execution_options(synchronize_session=False))
                        total = int(await session.scalar(select(Variant.stock).where(Variant.id == variant.id)) or 0)
                        outcome.units_added += added
                        outcome.restocked.setdefault(variant.product_id, {})[item.sku] = total
                elif change < 0:
                    outcome.decreases_ignored += 1
                    log.info("shopify: %s fell by %d in the shop (host %d); livedrop keeps its %d units",
                             item.sku, -change, host_id, variant.stock)
            await session.commit()
        return outcome

    async def _restock(self, product_id: int, totals: dict[str, int]) -> None:
        """Redis's restock takes absolute totals; a later delivery's call can reach Redis before
        an earlier one's, so the totals are read back from SQL and sent again until they agree."""
        for _ in range(3):
            await restock_live(self.stock, product_id, totals)
            async with self.sessions() as session:
                now = dict((await session.execute(
                    select(Variant.sku, Variant.stock).where(Variant.product_id == product_id, Variant.sku.in_(list(totals)))
                )).all())
            if now == totals:
                return
            totals = now


def _read_payload(product: Any) -> tuple[str | None, int | None, list[_Incoming]]:
    """The title and the variants of a ``products/update`` body; InvalidRequest when its shape
    is not Shopify's product."""
    if not isinstance(product, dict):
        raise InvalidRequest("body", "a Shopify product object is expected")
    raw_title = product.get("title")
    title = raw_title.strip() if isinstance(raw_title, str) else None
    if title is not None and not 1 <= len(title) <= MAX_TITLE:
        raise InvalidRequest("title", f"must be 1 to {MAX_TITLE} characters to be a livedrop title")
    variants = product.get("variants")
    if not isinstance(variants, list) or len(variants) > MAX_VARIANTS_PER_UPDATE:
        raise InvalidRequest("variants", f"a list of at most {MAX_VARIANTS_PER_UPDATE} variants is expected")
    incoming: list[_Incoming] = []
    for i, variant in enumerate(variants):
        if not isinstance(variant, dict):
            raise InvalidRequest(f"variants[{i}]", "must be an object")
        sku = variant.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            continue  # a variant without a SKU matches nothing here
        price = variant.get("price")
        quantity = variant.get("inventory_quantity")
        if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
            raise InvalidRequest(f"variants[{i}].inventory_quantity", "must be a whole number")
        incoming.append(_Incoming(sku.strip()[:64], str(price) if isinstance(price, (str, int)) and not isinstance(price, bool)
                                  else None, quantity, i))
    return title, shop_time_ms(product.get("updated_at")), incoming


def _checked_prices(matched: list[_Incoming], by_sku: dict[str, Variant], products: dict[int, Product]) -> dict[int, int]:
    """The new price of each matched product, in its own currency. A livedrop product has one
    price: Shopify variants of it at different prices are refused, as the import refuses them."""
    prices: dict[int, tuple[int, _Incoming]] = {}
    for item in matched:
        if item.price is None:
            continue
        product = products[by_sku[item.sku].product_id]
        try:
            cents = price_cents(item.price, product.currency)
        except ValueError as exc:
            raise InvalidRequest(f"variants[{item.index}].price", str(exc)) from None
        if cents > MAX_PRICE_CENTS:
            raise InvalidRequest(f"variants[{item.index}].price", f"must be at most {MAX_PRICE_CENTS} minor units")
        first = prices.setdefault(product.id, (cents, item))
        if first[0] != cents:
            raise InvalidRequest(
                f"variants[{item.index}].price",
                f"differs from variants[{first[1].index}].price for the same livedrop product; livedrop sells a product at one price")
    return {product_id: cents for product_id, (cents, _) in prices.items()}
