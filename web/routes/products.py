"""Host routes for the catalog: create, list and edit products; restock raises stock live."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse

from inventory.catalog import (
    CURRENCY_PATTERN,
    MAX_DESCRIPTION,
    MAX_LABEL,
    MAX_PRICE_CENTS,
    MAX_STOCK,
    MAX_TITLE,
    MAX_VARIANTS,
    SKU_PATTERN,
    ProductChanges,
    ProductSpec,
    VariantChange,
    VariantSpec,
    create_product,
    edit_product,
    image_url_problem,
    product_json,
    products_of,
)
from web.auth import current_host
from web.bodies import parse, path_id
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content


def _image_url(value: str | None) -> str | None:
    problem = image_url_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value or None


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    label: Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]
    stock: Annotated[int, Field(ge=0, le=MAX_STOCK, strict=True)]


def _unique_skus(variants: list[VariantIn] | list["VariantPatch"] | None) -> None:
    if variants is not None:
        skus = [v.sku for v in variants]
        if len(skus) != len(set(skus)):
            raise ValueError("variants: each SKU may appear once")


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] = ""
    image_url: str | None = None
    price_cents: Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS, strict=True)]
    currency: Annotated[str, Field(pattern=CURRENCY_PATTERN)]
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=MAX_VARIANTS)]

    _image = field_validator("image_url")(classmethod(lambda cls, v: _image_url(v)))

    @model_validator(mode="after")
    def _skus(self) -> "ProductIn":
        _unique_skus(self.variants)
        return self

    def spec(self) -> ProductSpec:
        return ProductSpec(
            title=self.title,
            description=self.description,
            image_url=self.image_url,
            price_cents=self.price_cents,
            currency=self.currency.upper(),
            variants=tuple(VariantSpec(v.sku, v.label, v.stock) for v in self.variants),
        )


class VariantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    label: Annotated[str, Field(min_length=1, max_length=MAX_LABEL)] | None = None
    stock: Annotated[int, Field(ge=0, le=MAX_STOCK, strict=True)] | None = None


class ProductPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE)] | None = None
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] | None = None
    image_url: str | None = None
    price_cents: Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS, strict=True)] | None = None
    currency: Annotated[str, Field(pattern=CURRENCY_PATTERN)] | None = None
    variants: Annotated[list[VariantPatch], Field(max_length=MAX_VARIANTS)] | None = None

    _image = field_validator("image_url")(classmethod(lambda cls, v: _image_url(v)))

    @model_validator(mode="after")
    def _skus(self) -> "ProductPatch":
        _unique_skus(self.variants)
        return self

    def changes(self) -> ProductChanges:
        return ProductChanges(
            title=self.title,
            description=self.description,
            image_url=self.image_url,
            price_cents=self.price_cents,
            currency=self.currency,
            variants=tuple(VariantChange(v.sku, v.label, v.stock) for v in self.variants or ()),
        )


async def create(request: Request) -> JSONResponse:
    services = livedrop(request).services
    host = await current_host(request, services.sessions, request.method)
    body = await parse(request, ProductIn)
    async with services.sessions() as session:
        product = await create_product(session, host.id, body.spec())  # 409 sku_taken
        await session.commit()
        return JSONResponse(product_json(product), status_code=201)


async def list_products(request: Request) -> JSONResponse:
    services = livedrop(request).services
    host = await current_host(request, services.sessions, request.method)
    async with services.sessions() as session:
        return JSONResponse({"products": [product_json(p) for p in await products_of(session, host.id)]})


async def update(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    product_id = path_id(request.path_params["product_id"], "product")
    body = await parse(request, ProductPatch)
    async with root.services.sessions() as session:
        # Refusals: 404 not_found, 422 invalid_request (stock can only be raised), 409 sku_taken.
        product = await edit_product(session, host.id, product_id, body.changes(), root.stock)
        return JSONResponse(product_json(product))


routes = [
    api(create, Operation("POST", "/api/products", "Create a product with its variants (sizes).", "host", ProductIn,
              answers={201: "The product, with id and variants."}, errors=("malformed_json", "invalid_request", "sku_taken", "unauthorized"),
              responses={201: {"content": json_content("Product")}})),
    api(list_products, Operation("GET", "/api/products", "The host's products.", "host", answers={200: "{\"products\": [...]}"}, errors=("unauthorized",),
              responses={200: {"content": json_content("ProductList")}})),
    api(update, Operation("PATCH", "/api/products/{product_id}", "Edit a product; a variant's stock may be raised (restock, live); new SKUs add variants.",
              "host", ProductPatch, answers={200: "The product."},
              errors=("malformed_json", "invalid_request", "sku_taken", "not_found", "unauthorized"),
              responses={200: {"content": json_content("Product")}})),
]
