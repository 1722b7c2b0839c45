"""Products from a CSV file (a spreadsheet export): all or nothing, every problem reported by line.

One line per size; lines with the same title are one product and share its price, currency,
image and description. The header is line 1, and line numbers are lines of the file (a quoted
cell may span several), so a host can find each problem in a text editor too.

    products = await import_products_csv(session, host_id, raw)   # commits; or raises
    CsvTooLarge   the file is over MAX_CSV_BYTES
    CsvProblems   .problems: [CsvProblem(line, field, message)]; nothing was imported
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inventory.catalog import MAX_STOCK, ProductSpec, SkuTaken, VariantSpec, create_product, spec_problems, taken_skus
from inventory.models import Product

MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_ROWS = 5000
CSV_COLUMNS = ("title", "sku", "size", "stock", "price", "currency", "image_url", "description")
CSV_REQUIRED = ("title", "sku", "size", "stock", "currency")
# Currencies whose prices have no minor unit: "1500" JPY is 1500, not 15.00.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "UGX", "XAF", "XOF"})


@dataclass(frozen=True)
class CsvProblem:
    line: int
    field: str
    message: str

    def json(self) -> dict[str, Any]:
        return asdict(self)


class CsvProblems(Exception):
    """The file cannot be imported; ``problems`` lists every problem found, by line."""

    def __init__(self, problems: list[CsvProblem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems

    def summary(self) -> str:
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"line {first.line}: {first.field}: {first.message}{more}; nothing was imported"


class CsvTooLarge(ValueError):
    def __init__(self) -> None:
        super().__init__(f"the CSV is larger than {MAX_CSV_BYTES // 1024} KiB")


@dataclass(frozen=True)
class CsvProduct:
    """A product the file describes, not created yet: its spec and the lines of its sizes
    (``lines[i]`` is the line of ``spec.variants[i]``)."""

    lines: tuple[int, ...]
    spec: ProductSpec


def price_cents(raw: str, currency: str) -> int:
    """``129``, ``129.5`` or ``129.50`` in the currency's main unit; minor units per the currency."""
    digits = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    match = re.fullmatch(r"(\d{1,9})(?:[.,](\d{1,%d}))?" % max(digits, 1), raw.strip())
    if not match or (digits == 0 and match.group(2)):
        raise ValueError(f"{raw!r} is not a price like 129.00" if digits else f"{raw!r} is not a whole price")
    whole, fraction = match.group(1), (match.group(2) or "")
    return int(whole) * 10**digits + (int(fraction.ljust(digits, "0")) if digits else 0)


def decode_csv(raw: bytes) -> str:
    """The file's text. Spreadsheets write UTF-8 with a byte order mark; anything not UTF-8 is
    refused rather than guessed, so no title is imported garbled."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvProblems([CsvProblem(1, "file", "the file is not UTF-8 text; export it as CSV UTF-8")]) from None


def _header(reader: Iterator[list[str]]) -> list[str]:
    """The column names of the first line, or CsvProblems naming what is wrong with them."""
    try:
        header = next(reader)
    except StopIteration:
        raise CsvProblems([CsvProblem(1, "header", "the file is empty; the first line names the columns")]) from None
    except csv.Error as exc:
        raise CsvProblems([CsvProblem(1, "header", f"not a CSV line: {exc}")]) from None
    columns = [name.strip().lower().replace(" ", "_") for name in header]
    problems: list[CsvProblem] = []
    if "price" not in columns and "price_cents" not in columns:
        problems.append(CsvProblem(1, "header", "a price column is missing (price, or price_cents)"))
    for name in CSV_REQUIRED:
        if name not in columns:
            problems.append(CsvProblem(1, "header", f"the column {name!r} is missing (columns: {', '.join(CSV_COLUMNS)})"))
    unknown = [c for c in columns if c and c not in CSV_COLUMNS and c != "price_cents"]
    if unknown:
        problems.append(CsvProblem(1, "header", f"unknown column {unknown[0]!r} (columns: {', '.join(CSV_COLUMNS)})"))
    if problems:
        raise CsvProblems(problems)
    return columns


@dataclass
class _Group:
    """The lines of one title so far."""

    fields: dict[str, Any]
    lines: list[int]
    variants: list[VariantSpec]


def parse_products_csv(text: str) -> list[CsvProduct]:
    """The products the file describes, or CsvProblems listing every problem found, by line.
    Checks each product against the catalog's rules (inventory.catalog.spec_problems) but not
    against the database: SKUs already taken are ``import_products_csv``'s to find."""
    problems: list[CsvProblem] = []

    def problem(line: int, field: str, message: str) -> None:
        problems.append(CsvProblem(line, field, message))

    reader = csv.reader(io.StringIO(text))
    columns = _header(reader)
    groups: dict[str, _Group] = {}  # by title
    seen_skus: dict[str, int] = {}
    line_end = reader.line_num  # a quoted cell may span lines: numbers are lines of the file
    rows = 0
    while True:
        line = line_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problem(line, "line", f"not a CSV line: {exc}")
            break
        line_end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank lines are allowed
        rows += 1
        if rows > MAX_CSV_ROWS:
            problem(line, "line", f"at most {MAX_CSV_ROWS} rows per import")
            break
        if len(row) > len(columns):
            problem(line, "line", f"{len(row)} cells but the header names {len(columns)} columns")
            continue
        cells = {name: value.strip() for name, value in zip(columns, row)}
        before = len(problems)
        title = cells.get("title", "")
        if not title:
            problem(line, "title", "a title is required")
        currency = cells.get("currency", "").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            problem(line, "currency", "a three-letter currency code like USD is required")
        price: int | None = None
        if "price" in cells and cells["price"]:
            try:
                price = price_cents(cells["price"], currency)
            except ValueError as exc:
                problem(line, "price", str(exc))
        elif cells.get("price_cents"):
            if re.fullmatch(r"\d{1,10}", cells["price_cents"]):
                price = int(cells["price_cents"])
            else:
                problem(line, "price_cents", "must be a whole number of minor units (cents)")
        else:
            problem(line, "price", "a price is required")
        stock_raw = cells.get("stock", "")
        stock: int | None = None
        if re.fullmatch(r"-?\d{1,10}", stock_raw):
            stock = int(stock_raw)
            if stock < 0:
                problem(line, "stock", f"must be 0 or more (it is {stock})")
                stock = None
            elif stock > MAX_STOCK:
                problem(line, "stock", f"must be at most {MAX_STOCK}")
                stock = None
        else:
            problem(line, "stock", "must be a whole number of units")
        sku = cells.get("sku", "")
        if sku in seen_skus:
            problem(line, "sku", f"the SKU {sku!r} is already on line {seen_skus[sku]}")
        elif sku:
            seen_skus[sku] = line
        if len(problems) > before or price is None or stock is None:
            continue
        fields = {"title": title, "price_cents": price, "currency": currency,
                  "image_url": cells.get("image_url") or None, "description": cells.get("description", "")}
        variant = VariantSpec(sku, cells.get("size", ""), stock)
        group = groups.get(title)
        if group is None:
            groups[title] = _Group(fields, [line], [variant])
            continue
        first = group.lines[0]
        for name in ("price_cents", "currency", "image_url"):
            if fields[name] != group.fields[name]:
                problem(line, name.removesuffix("_cents"), f"differs from line {first}, the first size of {title!r}")
        if fields["description"] and fields["description"] != group.fields["description"]:
            if group.fields["description"]:
                problem(line, "description", f"differs from line {first}, the first size of {title!r}")
            else:
                group.fields["description"] = fields["description"]
        group.lines.append(line)
        group.variants.append(variant)

    if rows == 0 and not problems:
        problem(2, "line", "no products: add one line per size below the header")
    products: list[CsvProduct] = []
    for group in groups.values():
        spec = ProductSpec(variants=tuple(group.variants), **group.fields)
        broken = spec_problems(spec)
        for rule in broken:
            if rule.variant is not None:  # a size's problem is on that size's line, by the CSV's name
                problem(group.lines[rule.variant], {"label": "size"}.get(rule.field, rule.field), rule.message)
            else:
                problem(group.lines[0], "price" if rule.field == "price_cents" else rule.field, rule.message)
        if not broken:
            products.append(CsvProduct(tuple(group.lines), spec))
    if problems:
        raise CsvProblems(sorted(problems, key=lambda p: p.line))
    return products


async def import_products_csv(session: AsyncSession, host_id: int, raw: bytes) -> list[Product]:
    """Create every product of the file for the host in one transaction and commit; returns them
    with their variants loaded. Raises CsvTooLarge or CsvProblems, and then nothing was imported
    (a SKU the host already uses is a problem on its line)."""
    if len(raw) > MAX_CSV_BYTES:
        raise CsvTooLarge()
    parsed = parse_products_csv(decode_csv(raw))
    line_of_sku = {v.sku: p.lines[i] for p in parsed for i, v in enumerate(p.spec.variants)}
    taken = await taken_skus(session, host_id, list(line_of_sku))
    if taken:
        raise CsvProblems(sorted(
            (CsvProblem(line_of_sku[sku], "sku", f"the SKU {sku!r} is already used by another of your products")
             for sku in taken), key=lambda p: p.line,
        ))
    products: list[Product] = []
    for item in parsed:
        try:
            products.append(await create_product(session, host_id, item.spec))
        except SkuTaken as exc:  # taken by a concurrent request since the check above
            await session.rollback()
            raise CsvProblems([CsvProblem(line_of_sku.get(exc.sku, item.lines[0]), "sku", str(exc))]) from None
    await session.commit()
    for product in products:
        await session.refresh(product, ["variants"])
    return products
