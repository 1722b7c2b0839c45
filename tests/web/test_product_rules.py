"""The catalog's rules have two doors: the JSON API's pydantic models (web.routes.products) and
inventory.catalog.spec_problems (what the CSV import checks). Both must accept exactly the same
products and word each refusal alike, so a rule changed in one place is caught here."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from inventory.catalog import MAX_STOCK, MAX_VARIANTS, ProductSpec, VariantSpec, spec_problems
from web.routes.products import ProductIn

# Letters the rules care about, and no control characters: pydantic strips whitespace by
# Unicode's definition and Python by its own, which is not a catalog rule.
LETTERS = "aZ09._- é/:<"
texts = st.one_of(st.text(alphabet=LETTERS, max_size=70), st.sampled_from(["", "x" * 64, "x" * 65, "x" * 200, "x" * 201]))
skus = st.one_of(st.sampled_from(["AUR-41", "AUR-42", "a", "-x", "x" * 64, "x" * 65, "bad sku", ""]), texts)
variants = st.builds(VariantSpec, skus, texts, st.integers(min_value=-2, max_value=MAX_STOCK + 2))
specs = st.builds(
    ProductSpec,
    title=st.one_of(texts, st.just("x" * 201)),
    price_cents=st.integers(min_value=-2, max_value=100_000_002),
    currency=st.sampled_from(["USD", "eur", "EURO", "US", "U$D"]),
    variants=st.lists(variants, max_size=MAX_VARIANTS + 1).map(tuple),
    description=st.one_of(st.just(""), st.just("d" * 5001), texts),
    image_url=st.one_of(st.none(), st.sampled_from(["", "/static/a.svg", "https://x.example/a.png", "javascript:x", "/static/a b"])),
)


def by_model(spec: ProductSpec) -> list[tuple[Any, ...]]:
    body = {"title": spec.title, "description": spec.description, "image_url": spec.image_url,
            "price_cents": spec.price_cents, "currency": spec.currency,
            "variants": [{"sku": v.sku, "label": v.label, "stock": v.stock} for v in spec.variants]}
    try:
        ProductIn.model_validate(body)
    except ValidationError as exc:
        found: list[tuple[Any, ...]] = []
        for error in exc.errors():
            loc, message = error["loc"], error["msg"].removeprefix("Value error, ")
            if loc == ():  # the model's own check: unique SKUs
                found.append(("variants", message.removeprefix("variants: "), None))
            elif loc[0] == "variants" and len(loc) == 3:
                found.append((loc[2], message, loc[1]))
            else:
                found.append((loc[0], message, None))
        return found
    return []


def by_catalog(spec: ProductSpec) -> list[tuple[Any, ...]]:
    return [(p.field, p.message, p.variant) for p in spec_problems(spec)]


def stripped(spec: ProductSpec) -> ProductSpec:
    """What the JSON API hands the catalog: pydantic strips strings before checking them."""
    return ProductSpec(spec.title.strip(), spec.price_cents, spec.currency, tuple(
        VariantSpec(v.sku.strip(), v.label.strip(), v.stock) for v in spec.variants), spec.description.strip(),
        spec.image_url.strip() if spec.image_url is not None else None)


@settings(max_examples=500, deadline=None)
@given(specs)
@example(ProductSpec("Aurora", 12900, "USD", (VariantSpec("AUR-41", "41", 1), VariantSpec("AUR-41", "42", 1))))
@example(ProductSpec("Aurora", 12900, "USD", tuple(VariantSpec(f"A-{n}", "x", 1) for n in range(MAX_VARIANTS + 1))))
@example(ProductSpec("Aurora", 12900, "USD", ()))
def test_the_api_and_the_catalog_agree(spec: ProductSpec) -> None:
    spec = stripped(spec)
    assert by_model(spec) == by_catalog(spec)
