"""The CSV import without HTTP: parsing and the catalog's rules by line, and the all-or-nothing
import on the real database. tests/web/test_panel_api.py checks the route that wraps it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.catalog import MAX_VARIANTS, VariantSpec
from inventory.csv_import import (
    MAX_CSV_BYTES,
    CsvProblems,
    CsvTooLarge,
    decode_csv,
    import_products_csv,
    parse_products_csv,
    price_cents,
)
from inventory.models import Product

from .conftest import make_product

HEADER = "title,sku,size,stock,price,currency,image_url,description\n"


def problems_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(CsvProblems) as caught:
        parse_products_csv(text)
    return [(p.line, p.field) for p in caught.value.problems]


def test_lines_with_one_title_are_one_product_with_a_size_per_line() -> None:
    [aurora, court] = parse_products_csv(
        HEADER
        + "Aurora Runner,AUR-41,EU 41,5,129.00,USD,/static/img/a.svg,Light\n"
        + "\n"  # blank lines are allowed and still count as lines of the file
        + "Aurora Runner,AUR-42,EU 42,3,129,usd,/static/img/a.svg,\n"
        + '"Court, white",CRT-9,US 9,12,"89,5",USD,,\n'
    )
    assert aurora.lines == (2, 4)
    assert aurora.spec.variants == (VariantSpec("AUR-41", "EU 41", 5), VariantSpec("AUR-42", "EU 42", 3))
    assert (aurora.spec.price_cents, aurora.spec.currency, aurora.spec.description) == (12900, "USD", "Light")
    assert aurora.spec.image_url == "/static/img/a.svg"
    assert court.lines == (5,) and court.spec.title == "Court, white" and court.spec.price_cents == 8950
    assert court.spec.image_url is None


def test_prices_are_in_the_currencys_main_unit() -> None:
    assert price_cents("129", "USD") == 12900
    assert price_cents("129.5", "EUR") == 12950
    assert price_cents("1500", "JPY") == 1500
    for raw, currency in (("1500.00", "JPY"), ("1.234", "USD"), ("12a", "USD"), ("-1", "USD")):
        with pytest.raises(ValueError):
            price_cents(raw, currency)


def test_a_price_cents_column_takes_minor_units() -> None:
    [product] = parse_products_csv("title,sku,size,stock,price_cents,currency\nTee,T-1,M,1,2500,EUR\n")
    assert product.spec.price_cents == 2500


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("", [(1, "header")]),
        ("title,sku,size,stock,currency\nA,A-1,M,1,USD\n", [(1, "header")]),
        ("title,sku,size,stock,price,currency\n", [(2, "line")]),
        ("title,sku,size,stock,price,currency\nA,A-1,M,1,x,USD\nA,A-1,L,1,1.00,USD\n,B-1,M,1,1,USD\n",
         [(2, "price"), (3, "sku"), (4, "title")]),
        ("title,sku,size,stock,price,currency\nA,A-1,M,1,1.00,USD\nA,A-2,L,1,2.00,USD\n", [(3, "price")]),
        ("title,sku,size,stock,price,currency\nA,bad sku!,M,1,1.00,USD\nB,B-1,,1,1.00,EURO\n", [(2, "sku"), (3, "currency")]),
        ("title,sku,size,stock,price,currency,colour\nA,A-1,M,1,1.00,USD,red\n", [(1, "header")]),
        ("title,sku,size,stock,price,currency\nA,A-1,M,-2,1.00,USD\nA,A-2,L,1000001,1.00,USD\nA,A-3,XL,many,1.00,USD\n",
         [(2, "stock"), (3, "stock"), (4, "stock")]),
        ("title,sku,size,stock,price,currency\nA,A-1,M,1,1.00,USD,extra\n", [(2, "line")]),
        ('title,sku,size,stock,price,currency,description\nAurora,AUR-1,S,1,10.00,USD,"two\nlines"\n\nCourt,CRT-1,M,x,10.00,USD,\n',
         [(5, "stock")]),
    ],
)
def test_problems_are_reported_by_line_of_the_file(csv_text: str, expected: list[tuple[int, str]]) -> None:
    assert problems_of(csv_text) == expected


def test_the_catalogs_rules_are_reported_on_the_line_they_concern() -> None:
    """Rules the CSV parser does not check itself come from inventory.catalog.spec_problems; a
    size's problem is on its own line, named as the CSV names it (label: size)."""
    text = (
        HEADER
        + f"{'T' * 201},T-1,M,1,1.00,USD,,\n"
        + "Big,B-1,M,1,2000000.00,USD,,\n"
        + "Pic,P-1,M,1,1.00,USD,javascript:alert(1),\n"
        + "Shoe,S-1,,1,1.00,USD,,\n"
        + "Shoe,S-2,L,1,1.00,USD,,\n"
    )
    with pytest.raises(CsvProblems) as caught:
        parse_products_csv(text)
    assert [(p.line, p.field, p.message) for p in caught.value.problems] == [
        (2, "title", "String should have at most 200 characters"),
        (3, "price", "Input should be less than or equal to 100000000"),
        (4, "image_url", "must be an http(s) URL or a /static/ path"),
        (5, "size", "String should have at least 1 character"),
    ]
    assert caught.value.summary() == "line 2: title: String should have at most 200 characters (and 3 more); nothing was imported"


def test_a_product_with_too_many_sizes_is_reported_on_its_first_line() -> None:
    rows = "".join(f"Tee,T-{n},{n},1,1.00,USD,,\n" for n in range(MAX_VARIANTS + 1))
    assert problems_of(HEADER + rows) == [(2, "variants")]


def test_the_file_must_be_utf8_and_may_start_with_a_byte_order_mark() -> None:
    assert decode_csv("\ufefftitle\n".encode()) == "title\n"
    with pytest.raises(CsvProblems) as caught:
        decode_csv("title,é".encode("latin-1"))
    assert [(p.line, p.field) for p in caught.value.problems] == [(1, "file")]


async def count_products(sessions: async_sessionmaker, host_id: int) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count(Product.id)).where(Product.host_id == host_id)) or 0)


async def test_import_creates_every_product_in_one_transaction(sessions: async_sessionmaker) -> None:
    host_id, _ = await make_product(sessions, {"OLD-1": 1})
    text = HEADER + "Aurora,AUR-41,41,5,129.00,USD,,\nAurora,AUR-42,42,3,129.00,USD,,\nCourt,CRT-9,9,2,89.00,USD,,\n"
    async with sessions() as session:
        products = await import_products_csv(session, host_id, text.encode())
    assert [(p.title, [v.sku for v in p.variants]) for p in products] == [("Aurora", ["AUR-41", "AUR-42"]), ("Court", ["CRT-9"])]
    assert await count_products(sessions, host_id) == 3


async def test_a_sku_the_host_uses_refuses_the_whole_file(sessions: async_sessionmaker) -> None:
    host_id, _ = await make_product(sessions, {"OLD-1": 1})
    other_host, _ = await make_product(sessions, {"CRT-9": 1})  # another host's SKU is no conflict
    text = HEADER + "Aurora,AUR-41,41,5,129.00,USD,,\nCourt,CRT-9,9,2,89.00,USD,,\nOld,OLD-1,M,1,1.00,USD,,\n"
    async with sessions() as session:
        with pytest.raises(CsvProblems) as caught:
            await import_products_csv(session, host_id, text.encode())
    assert [(p.line, p.field, p.message) for p in caught.value.problems] == [
        (4, "sku", "the SKU 'OLD-1' is already used by another of your products")]
    assert await count_products(sessions, host_id) == 1
    assert await count_products(sessions, other_host) == 1


async def test_a_file_over_the_limit_is_refused_before_it_is_read(sessions: async_sessionmaker) -> None:
    host_id, _ = await make_product(sessions, {"OLD-1": 1})
    async with sessions() as session:
        with pytest.raises(CsvTooLarge) as caught:
            await import_products_csv(session, host_id, b"x" * (MAX_CSV_BYTES + 1))
    assert str(caught.value) == "the CSV is larger than 1024 KiB"
