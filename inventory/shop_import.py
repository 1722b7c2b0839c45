"""What the imports from other shops share: a product found in a shop's file, its problems named by
where they are in that file, and the all-or-nothing import into the catalog.

Each platform's module (inventory.shopify_import, inventory.woocommerce_import) only reads its
own format into ``ShopProduct``s; the catalog's rules (inventory.catalog.spec_problems), SKUs
repeated in the file or already used by the host, and the single transaction are here, so a file
with one bad line imports nothing on every platform and says which line (or which product) and
which field.

    products = await import_shop_products(session, host_id, parsed)   # commits; or raises ImportProblems
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inventory.catalog import ProductSpec, SkuTaken, create_product, spec_problems, taken_skus
from inventory.models import Product
from inventory.shop_links import record_levels

MAX_IMAGE_URL = 2000  # the column's length (inventory.models.Product.image_url)


@dataclass(frozen=True)
class Where:
    """Where something is in the file: a line of a CSV file (the header is line 1), or a product
    of a JSON export by its handle. ``json()`` gives only the one that is set."""

    line: int | None = None
    product: str | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"line {self.line}"
        return f"product {self.product!r}" if self.product is not None else "the file"

    def json(self) -> dict[str, Any]:
        if self.line is not None:
            return {"line": self.line}
        return {"product": self.product} if self.product is not None else {}


FILE = Where()  # a problem of the whole file (not JSON, no products)


@dataclass(frozen=True)
class ImportProblem:
    where: Where
    field: str  # as the platform's file names it: "Regular price", "variants[1].sku"
    message: str

    def json(self) -> dict[str, Any]:
        return {**self.where.json(), "field": self.field, "message": self.message}


class ImportProblems(Exception):
    """The file cannot be imported; ``problems`` lists every problem found. Nothing was imported."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems

    def summary(self) -> str:
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{first.where}: {first.field}: {first.message}{more}; nothing was imported"


class ImportTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit // 1024} KiB")


@dataclass
class ShopProduct:
    """A product a shop's file describes, not created yet. ``where`` locates the product,
    ``variant_where[i]`` its i-th size; ``fields`` maps the catalog's field names (title, price_cents,
    image_url, description, sku, label, stock) to the platform's own, for problems."""

    where: Where
    spec: ProductSpec
    variant_where: tuple[Where, ...]
    fields: dict[str, str]
    # The shop's own stock count of each SKU (Shopify's inventory_quantity), kept so that a later
    # webhook can tell a restock from a sale (inventory.shop_links).
    shop_levels: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # SKU -> (count, when, ms)


@dataclass(frozen=True)
class Notice:
    """Something imported other than the file says (stock not managed there: 0 units) or a row
    left out (a grouped product): the host is told, the import goes on."""

    where: Where
    message: str

    def json(self) -> dict[str, Any]:
        return {**self.where.json(), "message": self.message}


@dataclass
class ShopFile:
    """What a platform's reader found in a file: the products to create and what to tell the host."""

    products: list[ShopProduct]
    notices: list[Notice]


def text_of_html(raw: str | None) -> str:
    """A shop's HTML description as the plain text the catalog keeps (pages escape it on output,
    so no markup of a shop is ever rendered): tags dropped, block ends as line breaks, entities
    decoded, runs of blanks collapsed."""
    if not raw:
        return ""
    parser = _TextOf()
    parser.feed(raw)
    parser.close()
    text = html.unescape("".join(parser.parts))
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _TextOf(HTMLParser):
    _BREAKS = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section"})
    _SKIP = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)

    def handle_entityref(self, name: str) -> None:
        self.handle_data(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.handle_data(f"&#{name};")


def check_products(parsed: list[ShopProduct], problems: list[ImportProblem]) -> None:
    """Add to ``problems`` every rule of the catalog a product breaks, each at the place in the
    file it concerns and by the file's own name for the field, and every SKU used twice."""
    seen: dict[str, Where] = {}
    for item in parsed:
        for rule in spec_problems(item.spec):
            name = item.fields.get(rule.field, rule.field)
            where = item.variant_where[rule.variant] if rule.variant is not None else item.where
            if rule.variant is not None and "{i}" in name:
                name = name.format(i=rule.variant)
            problems.append(ImportProblem(where, name, rule.message))
        if item.spec.image_url is not None and len(item.spec.image_url) > MAX_IMAGE_URL:
            problems.append(ImportProblem(item.where, item.fields.get("image_url", "image_url"),
                                          f"the image URL is longer than {MAX_IMAGE_URL} characters"))
        for i, variant in enumerate(item.spec.variants):
            if variant.sku in seen:
                problems.append(ImportProblem(item.variant_where[i], item.fields.get("sku", "sku").format(i=i),
                                              f"the SKU {variant.sku!r} is already at {seen[variant.sku]}"))
            elif variant.sku:
                seen[variant.sku] = item.variant_where[i]


def sorted_problems(problems: list[ImportProblem]) -> list[ImportProblem]:
    """By line for a CSV file; in the file's order (as found) for a JSON one."""
    return sorted(problems, key=lambda p: p.where.line if p.where.line is not None else 0)


async def import_shop_products(session: AsyncSession, host_id: int, parsed: list[ShopProduct],
                               platform: str = "") -> list[Product]:
    """Create every product for the host in one transaction and commit; returns them with their
    variants loaded. Raises ImportProblems (a SKU the host already uses is a problem where the
    file has it), and then nothing was imported."""
    where_of_sku = {v.sku: (item, i) for item in parsed for i, v in enumerate(item.spec.variants)}
    taken = await taken_skus(session, host_id, list(where_of_sku))
    if taken:
        problems = []
        for sku in taken:
            item, i = where_of_sku[sku]
            problems.append(ImportProblem(item.variant_where[i], item.fields.get("sku", "sku").format(i=i),
                                          f"the SKU {sku!r} is already used by another of your products"))
        raise ImportProblems(sorted_problems(problems))
    products: list[Product] = []
    for item in parsed:
        try:
            products.append(await create_product(session, host_id, item.spec))
        except SkuTaken as exc:  # taken by a concurrent request since the check above
            await session.rollback()
            raise ImportProblems([ImportProblem(item.where, item.fields.get("sku", "sku").format(i=0), str(exc))]) from None
    levels = {sku: units for item in parsed for sku, units in item.shop_levels.items()}
    if levels and platform:
        await record_levels(session, host_id, platform, levels)
    await session.commit()
    for product in products:
        await session.refresh(product, ["variants"])
    return products
