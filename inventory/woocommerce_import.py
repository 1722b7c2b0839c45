"""Products from WooCommerce's built-in product CSV exporter (Products > Export).

The columns used (by the exporter's own names): Type, SKU, Name, Regular price, Stock, Parent,
Description (else Short description), Images (the first URL), Attribute N value(s); ID where a
variation names its parent as ``id:44``. Others (categories, tax, weight...) are left alone.

* ``simple``: a product with one size ("One size").
* ``variable`` with its ``variation`` lines (Parent: the variable product's SKU, or ``id:<ID>``):
  one product, a size per variation, labelled by the variation's attribute values ("Blue / No").
  All variations must share one Regular price (livedrop sells a product at one price).
* ``grouped``, ``external``, and virtual or downloadable products are left out (nothing to ship);
  the answer's notices say which lines.
* The Regular price is the product's price; a Sale price is not imported (offers are livedrop's
  way to sell below the list price). An empty Stock (stock not managed in WooCommerce) imports 0
  units, and says so.

Problems are named by line of the file (the header is line 1) and by the exporter's column name.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from inventory.catalog import MAX_STOCK, ProductSpec, VariantSpec
from inventory.csv_import import price_cents
from inventory.shop_import import (
    ImportProblem,
    ImportProblems,
    ImportTooLarge,
    Notice,
    ShopFile,
    ShopProduct,
    Where,
    check_products,
    sorted_problems,
    text_of_html,
)

MAX_WOOCOMMERCE_BYTES = 4 * 1024 * 1024
MAX_WOOCOMMERCE_ROWS = 5000
REQUIRED = ("Type", "SKU", "Name", "Regular price", "Stock", "Parent")
ONE_SIZE = "One size"
FIELDS = {
    "title": "Name", "description": "Description", "image_url": "Images", "price_cents": "Regular price",
    "currency": "currency", "variants": "Type", "sku": "SKU", "label": "Attribute 1 value(s)", "stock": "Stock",
}
_LEFT_OUT = {"grouped": "a grouped product", "external": "an external product", "virtual": "a virtual product",
             "downloadable": "a downloadable product"}


@dataclass
class _Row:
    line: int
    cells: dict[str, str]

    def get(self, name: str) -> str:
        return self.cells.get(name, "").strip()


@dataclass
class _Variable:
    row: _Row
    variations: list[_Row] = field(default_factory=list)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportProblems([ImportProblem(Where(line=1), "file", "the file is not UTF-8 text; export it again from WooCommerce")]) from None


def _rows(text: str, problems: list[ImportProblem]) -> list[_Row]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise ImportProblems([ImportProblem(Where(line=1), "header", "the file is empty")]) from None
    except csv.Error as exc:
        raise ImportProblems([ImportProblem(Where(line=1), "header", f"not a CSV line: {exc}")]) from None
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportProblems([ImportProblem(Where(line=1), "header", f"not a WooCommerce product export: the column {name!r} is missing")
                              for name in missing])
    rows: list[_Row] = []
    line_end = reader.line_num  # a quoted cell may span lines: numbers are lines of the file
    while True:
        line = line_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(ImportProblem(Where(line=line), "line", f"not a CSV line: {exc}"))
            break
        line_end = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) >= MAX_WOOCOMMERCE_ROWS:
            problems.append(ImportProblem(Where(line=line), "line", f"at most {MAX_WOOCOMMERCE_ROWS} rows per import"))
            break
        if len(cells) > len(header):
            problems.append(ImportProblem(Where(line=line), "line", f"{len(cells)} cells but the header names {len(header)} columns"))
            continue
        rows.append(_Row(line, dict(zip(header, cells))))
    return rows


def _stock(row: _Row, problems: list[ImportProblem], notices: list[Notice]) -> int | None:
    raw = row.get("Stock")
    if raw == "":
        notices.append(Notice(Where(line=row.line), f"{row.get('SKU')}: stock is not managed in WooCommerce; imported with 0 units"))
        return 0
    if not re.fullmatch(r"-?\d{1,10}", raw):
        problems.append(ImportProblem(Where(line=row.line), "Stock", f"{raw!r} is not a whole number of units"))
        return None
    units = int(raw)
    if units < 0:  # backorders: WooCommerce sold more than it had
        notices.append(Notice(Where(line=row.line), f"{row.get('SKU')}: stock is {units} in WooCommerce; imported with 0 units"))
        return 0
    return min(units, MAX_STOCK + 1)  # above MAX_STOCK: the catalog's rule reports it


def _price(row: _Row, currency: str, problems: list[ImportProblem]) -> int | None:
    raw = row.get("Regular price")
    if not raw:
        problems.append(ImportProblem(Where(line=row.line), "Regular price", "a regular price is required"))
        return None
    try:
        return price_cents(raw, currency)
    except ValueError as exc:
        problems.append(ImportProblem(Where(line=row.line), "Regular price", str(exc)))
        return None


def _sku(row: _Row, problems: list[ImportProblem]) -> str:
    sku = row.get("SKU")
    if not sku:
        problems.append(ImportProblem(Where(line=row.line), "SKU", "a SKU is required: give it one in WooCommerce and export again"))
    return sku


def _label(row: _Row) -> str:
    values = [row.get(f"Attribute {n} value(s)") for n in range(1, 10) if f"Attribute {n} value(s)" in row.cells]
    return " / ".join(v for v in values if v)


def _image(row: _Row) -> str | None:
    first = row.get("Images").split(",")[0].strip()
    return first or None


def _description(row: _Row) -> str:
    return text_of_html(row.get("Description") or row.get("Short description"))


def parse_woocommerce_products(raw: bytes, currency: str) -> ShopFile:
    """The products of a WooCommerce product export, priced in ``currency`` (the export does not
    say it), or ImportProblems listing every problem found, by line."""
    if len(raw) > MAX_WOOCOMMERCE_BYTES:
        raise ImportTooLarge(MAX_WOOCOMMERCE_BYTES)
    problems: list[ImportProblem] = []
    notices: list[Notice] = []
    rows = _rows(_decode(raw), problems)
    if not rows and not problems:
        raise ImportProblems([ImportProblem(Where(line=2), "line", "no products below the header")])
    parsed: list[ShopProduct] = []
    variables: dict[str, _Variable] = {}  # by SKU and by "id:<ID>"
    order: list[_Variable | _Row] = []
    orphans: list[_Row] = []
    for row in rows:
        types = {t.strip() for t in row.get("Type").split(",") if t.strip()}
        left_out = next((_LEFT_OUT[t] for t in sorted(types) if t in _LEFT_OUT), None)
        if left_out is not None:
            notices.append(Notice(Where(line=row.line), f"{row.get('Name') or row.get('SKU')}: left out, {left_out} has nothing to ship"))
        elif "variable" in types:
            variable = _Variable(row)
            for key in (row.get("SKU"), f"id:{row.get('ID')}" if row.get("ID") else ""):
                if key:
                    variables[key] = variable
            order.append(variable)
        elif "variation" in types:
            orphans.append(row)
        elif "simple" in types:
            order.append(row)
        else:
            problems.append(ImportProblem(Where(line=row.line), "Type",
                                          f"{row.get('Type')!r} is not a type this import knows (simple, variable, variation)"))
    for row in orphans:  # variations may come before their parent in the file
        parent = variables.get(row.get("Parent"))
        if parent is None:
            problems.append(ImportProblem(Where(line=row.line), "Parent",
                                          f"no variable product {row.get('Parent')!r} in the file (by SKU, or id:<ID>)"))
        else:
            parent.variations.append(row)
    for entry in order:
        item = _simple(entry, currency, problems, notices) if isinstance(entry, _Row) else _variable(entry, currency, problems, notices)
        if item is not None:
            parsed.append(item)
    check_products(parsed, problems)
    if problems:
        raise ImportProblems(sorted_problems(problems))
    return ShopFile(parsed, notices)


def _simple(row: _Row, currency: str, problems: list[ImportProblem], notices: list[Notice]) -> ShopProduct | None:
    before = len(problems)
    sku, price, stock = _sku(row, problems), _price(row, currency, problems), _stock(row, problems, notices)
    if len(problems) > before or price is None or stock is None:
        return None
    spec = ProductSpec(title=row.get("Name"), price_cents=price, currency=currency, variants=(VariantSpec(sku, ONE_SIZE, stock),),
                       description=_description(row), image_url=_image(row))
    where = Where(line=row.line)
    return ShopProduct(where, spec, (where,), FIELDS)


def _variable(entry: _Variable, currency: str, problems: list[ImportProblem], notices: list[Notice]) -> ShopProduct | None:
    row = entry.row
    if not entry.variations:
        problems.append(ImportProblem(Where(line=row.line), "Type", "a variable product needs its variation lines in the file"))
        return None
    before = len(problems)
    variants: list[VariantSpec] = []
    first_price: tuple[int, int] | None = None  # (price, line)
    for variation in entry.variations:
        sku, price, stock = _sku(variation, problems), _price(variation, currency, problems), _stock(variation, problems, notices)
        if price is not None:
            if first_price is None:
                first_price = (price, variation.line)
            elif price != first_price[0]:
                problems.append(ImportProblem(
                    Where(line=variation.line), "Regular price",
                    f"differs from line {first_price[1]}, the first variation of {row.get('Name')!r}: livedrop sells a product "
                    "at one price; make the prices equal or import the variations as separate products"))
        if stock is not None:
            variants.append(VariantSpec(sku, _label(variation), stock))
    if len(problems) > before or first_price is None:
        return None
    spec = ProductSpec(title=row.get("Name"), price_cents=first_price[0], currency=currency, variants=tuple(variants),
                       description=_description(row), image_url=_image(row))
    return ShopProduct(Where(line=row.line), spec, tuple(Where(line=v.line) for v in entry.variations), FIELDS)
