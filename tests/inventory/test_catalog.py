"""The catalog's rules and its edit use case: what may change, stock only grows, and grown stock
is holdable in Redis at once (on the real Redis and database)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory import errors
from inventory.catalog import (
    ProductChanges,
    ProductSpec,
    SkuTaken,
    SpecProblem,
    VariantChange,
    VariantSpec,
    create_product,
    edit_product,
    product_of,
    spec_problems,
)
from inventory.checkout import Checkout
from inventory.stock import StockStore

from .conftest import make_product

GOOD = ProductSpec("Aurora", 12900, "usd", (VariantSpec("AUR-41", "EU 41", 5),))


def test_a_good_spec_breaks_no_rule() -> None:
    assert spec_problems(GOOD) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": ""}, [SpecProblem("title", "String should have at least 1 character")]),
        ({"description": "d" * 5001}, [SpecProblem("description", "String should have at most 5000 characters")]),
        ({"image_url": "data:image/png;base64,AAAA"}, [SpecProblem("image_url", "must be an http(s) URL or a /static/ path")]),
        ({"price_cents": -1}, [SpecProblem("price_cents", "Input should be greater than or equal to 0")]),
        ({"currency": "EURO"}, [SpecProblem("currency", "String should match pattern '^[A-Za-z]{3}$'")]),
        ({"variants": ()}, [SpecProblem("variants", "List should have at least 1 item after validation, not 0")]),
        ({"variants": (VariantSpec("A-1\n", "M", 1),)},  # a trailing newline is not a SKU
         [SpecProblem("sku", "String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'", 0)]),
        ({"variants": (VariantSpec("A-1", "M", 1), VariantSpec("A-2", "", 1_000_001))},
         [SpecProblem("label", "String should have at least 1 character", 1),
          SpecProblem("stock", "Input should be less than or equal to 1000000", 1)]),
        ({"variants": (VariantSpec("A-1", "M", 1), VariantSpec("A-1", "L", 1))}, [SpecProblem("variants", "each SKU may appear once")]),
    ],
)
def test_each_broken_rule_is_named(changes: dict[str, object], expected: list[SpecProblem]) -> None:
    spec = ProductSpec(**{**GOOD.__dict__, **changes})  # type: ignore[arg-type]
    assert spec_problems(spec) == expected


async def test_edit_changes_fields_and_adds_sizes(sessions: async_sessionmaker, stock: StockStore) -> None:
    host_id, product_id = await make_product(sessions, {"SN-40": 2})
    changes = ProductChanges(title="Sneaker OG", currency="usd", variants=(
        VariantChange("SN-40", label="EU 40"), VariantChange("SN-41", "EU 41", 3), VariantChange("SN-42", "EU 42", 1)))
    async with sessions() as session:
        product = await edit_product(session, host_id, product_id, changes, stock)
    assert (product.title, product.currency, product.price_cents) == ("Sneaker OG", "USD", 12_000)
    assert [(v.sku, v.label, v.stock, v.position) for v in product.variants] == [
        ("SN-40", "EU 40", 2, 0), ("SN-41", "EU 41", 3, 1), ("SN-42", "EU 42", 1, 2)]
    assert not await stock.is_loaded(product_id)  # not on sale: loaded from SQL when it goes on sale


async def test_stock_only_grows_and_a_refusal_changes_nothing(sessions: async_sessionmaker, stock: StockStore) -> None:
    host_id, product_id = await make_product(sessions, {"SN-40": 4})
    async with sessions() as session:
        with pytest.raises(errors.InvalidRequest) as caught:
            await edit_product(session, host_id, product_id, ProductChanges(
                title="changed", variants=(VariantChange("SN-40", stock=3),)), stock)
    assert caught.value.message == "variants.SN-40.stock: stock can only be raised (restock); it is 4"
    async with sessions() as session:
        with pytest.raises(errors.InvalidRequest) as caught:
            await edit_product(session, host_id, product_id, ProductChanges(variants=(VariantChange("SN-41", stock=3),)), stock)
    assert caught.value.message == "variants: a new SKU 'SN-41' needs label and stock"
    async with sessions() as session:
        product = await product_of(session, host_id, product_id)
        assert product is not None and product.title == "Sneaker"
        assert [(v.sku, v.stock) for v in product.variants] == [("SN-40", 4)]


async def test_a_sku_of_another_product_or_host(sessions: async_sessionmaker, stock: StockStore) -> None:
    host_id, product_id = await make_product(sessions, {"SN-40": 1})
    other_host, other_product = await make_product(sessions, {"SN-41": 1})
    async with sessions() as session:  # another host's SKU is free for this one
        await edit_product(session, host_id, product_id, ProductChanges(variants=(VariantChange("SN-41", "41", 1),)), stock)
    async with sessions() as session:
        tee = await create_product(session, host_id, ProductSpec("Tee", 2500, "EUR", (VariantSpec("TEE-M", "M", 1),)))
        await session.commit()
    async with sessions() as session:  # the host's own other product has it
        with pytest.raises(SkuTaken) as caught:
            await edit_product(session, host_id, tee.id, ProductChanges(title="x", variants=(VariantChange("SN-41", "41", 1),)), stock)
    assert str(caught.value) == "the SKU 'SN-41' is already used by another of your products"
    async with sessions() as session:
        unchanged = await product_of(session, host_id, tee.id)
        assert unchanged is not None and unchanged.title == "Tee" and [v.sku for v in unchanged.variants] == ["TEE-M"]
    async with sessions() as session:
        with pytest.raises(errors.NotFound):  # not this host's product
            await edit_product(session, other_host, product_id, ProductChanges(title="mine now"), stock)


async def test_restock_of_a_product_on_sale_is_holdable_at_once(
    sessions: async_sessionmaker, stock: StockStore, checkout: Checkout
) -> None:
    host_id, product_id = await make_product(sessions, {"SN-40": 1, "SN-41": 2})
    await checkout.ensure_loaded(product_id)
    changes = ProductChanges(variants=(VariantChange("SN-40", stock=4), VariantChange("SN-41", stock=2), VariantChange("SN-42", "42", 3)))
    async with sessions() as session:
        await edit_product(session, host_id, product_id, changes, stock)
    assert await stock.available(product_id) == {"SN-40": 4, "SN-41": 2, "SN-42": 3}
