"""Host routes for the catalog: create, list and edit products; restock raises stock live."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from inventory.catalog import (
    ProductSpec,
    SkuTaken,
    VariantSpec,
    create_product,
    product_json,
    product_of,
    products_of,
    taken_skus,
)
from inventory.models import Variant
from web.auth import current_host
from web.livedrop import livedrop
from web.bodies import parse, path_id
from web.errors import ApiError
from web.openapi import api, json_content, Operation

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_STOCK = 1_000_000


def _image_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not re.match(r"^(https?://|/static/)[^\s<>\"']+$", value):
        raise ValueError("must be an http(s) URL or a /static/ path")
    return value


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    label: Annotated[str, Field(min_length=1, max_length=64)]
    stock: Annotated[int, Field(ge=0, le=MAX_STOCK, strict=True)]


def _unique_skus(variants: list[VariantIn] | list["VariantPatch"] | None) -> None:
    if variants is not None:
        skus = [v.sku for v in variants]
        if len(skus) != len(set(skus)):
            raise ValueError("variants: each SKU may appear once")


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    image_url: str | None = None
    price_cents: Annotated[int, Field(ge=0, le=100_000_000, strict=True)]
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=50)]

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
    label: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    stock: Annotated[int, Field(ge=0, le=MAX_STOCK, strict=True)] | None = None


class ProductPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    image_url: str | None = None
    price_cents: Annotated[int, Field(ge=0, le=100_000_000, strict=True)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    variants: Annotated[list[VariantPatch], Field(max_length=50)] | None = None

    _image = field_validator("image_url")(classmethod(lambda cls, v: _image_url(v)))

    @model_validator(mode="after")
    def _skus(self) -> "ProductPatch":
        _unique_skus(self.variants)
        return self


async def create(request: Request) -> JSONResponse:
    services = livedrop(request).services
    host = await current_host(request, services.sessions, request.method)
    body = await parse(request, ProductIn)
    async with services.sessions() as session:
        try:
            product = await create_product(session, host.id, body.spec())
        except SkuTaken as exc:
            raise ApiError(409, "sku_taken", str(exc)) from None
        await session.commit()
        return JSONResponse(product_json(product), status_code=201)


async def list_products(request: Request) -> JSONResponse:
    services = livedrop(request).services
    host = await current_host(request, services.sessions, request.method)
    async with services.sessions() as session:
        return JSONResponse({"products": [product_json(p) for p in await products_of(session, host.id)]})


async def update(request: Request) -> JSONResponse:
    services = livedrop(request).services
    host = await current_host(request, services.sessions, request.method)
    product_id = path_id(request.path_params["product_id"], "product")
    body = await parse(request, ProductPatch)
    restocked: dict[str, int] = {}
    async with services.sessions() as session:
        product = await product_of(session, host.id, product_id)
        if product is None:
            raise ApiError(404, "not_found", "no such product")
        for name in ("title", "description", "image_url", "price_cents"):
            value = getattr(body, name)
            if value is not None:
                setattr(product, name, value)
        if body.currency is not None:
            product.currency = body.currency.upper()
        by_sku = {v.sku: v for v in product.variants}
        for patch in body.variants or []:
            variant = by_sku.get(patch.sku)
            if variant is None:  # a new size
                if patch.label is None or patch.stock is None:
                    raise ApiError(422, "invalid_request", f"variants: a new SKU {patch.sku!r} needs label and stock")
                if await taken_skus(session, host.id, [patch.sku]):
                    raise ApiError(409, "sku_taken", f"the SKU {patch.sku!r} is already used by another of your products")
                product.variants.append(
                    Variant(host_id=host.id, sku=patch.sku, label=patch.label, stock=patch.stock, position=len(by_sku))
                )
                restocked[patch.sku] = patch.stock
                continue
            if patch.label is not None:
                variant.label = patch.label
            if patch.stock is not None:
                if patch.stock < variant.stock:
                    raise ApiError(
                        422, "invalid_request",
                        f"variants.{patch.sku}.stock: stock can only be raised (restock); it is {variant.stock}",
                    )
                if patch.stock > variant.stock:
                    restocked[patch.sku] = patch.stock
                    variant.stock = patch.stock
        await session.commit()
        await session.refresh(product, ["variants"])
        result = product_json(product)
    if restocked:
        await __import__("web.interim_use_cases").interim_use_cases.restocked(livedrop(request), product_id, restocked)
    return JSONResponse(result)


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
