"""The OpenAPI document of the HTTP API, served at /api/openapi.json.

Operations are listed here by hand (summary, who may call, body model, answers); request schemas
come from the pydantic models the routes validate with, so they cannot drift. A test checks that
every /api route of the app is listed here.

What the routes answer is described by JSON schemas kept in this module (``RESPONSE_SCHEMAS``, and
``_RESPONSES`` says which operation answers which with what). tests/web/test_schemathesis.py runs
schemathesis against the real app and checks every answer it gets against them, so they cannot
drift either. Objects list every field the API sends and require the ones CONTRACT.md names; they
stay open to new fields (growing past the contract is allowed, changing it is not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from web.errors import ERROR_CODES


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    auth: str = "public"  # public | host | buyer | buyer-or-host
    body: type[BaseModel] | None = None
    body_media_type: str = "application/json"
    answers: dict[int, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()


_OPERATIONS: list[Operation] = []


def document(*operations: Operation) -> None:
    """Route modules call this at import with their operations."""
    _OPERATIONS.extend(operations)


def documented_paths() -> set[tuple[str, str]]:
    return {(op.method.upper(), op.path) for op in _OPERATIONS}


# -- what the routes answer ----------------------------------------------------------------------------

JsonSchema = dict[str, Any]

_MS: JsonSchema = {"type": "integer", "description": "milliseconds since the Unix epoch"}
_COUNT: JsonSchema = {"type": "integer", "minimum": 0}
_ID: JsonSchema = {"type": "integer", "minimum": 1}
_TEXT: JsonSchema = {"type": "string"}
_CURRENCY: JsonSchema = {"type": "string", "pattern": "^[A-Z]{3}$"}
_STOCK: JsonSchema = {"type": "object", "additionalProperties": _COUNT, "description": "SKU -> units available"}


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _or_null(schema: JsonSchema) -> JsonSchema:
    return {"anyOf": [schema, {"type": "null"}]}


def _array(items: JsonSchema) -> JsonSchema:
    return {"type": "array", "items": items}


def _object(required: dict[str, JsonSchema], optional: dict[str, JsonSchema] | None = None) -> JsonSchema:
    """An object that must carry ``required``; more fields may come (the API may grow)."""
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


_SHOW_STATUS: JsonSchema = {"type": "string", "enum": ["scheduled", "live", "ended"]}
_HOLD_FIELDS: dict[str, JsonSchema] = {
    "hold_id": _TEXT, "sku": _TEXT, "quantity": _ID, "price_cents": _COUNT, "currency": _CURRENCY,
    "offer_id": _or_null(_ID), "expires_at": _MS,
}

RESPONSE_SCHEMAS: dict[str, JsonSchema] = {
    "Variant": _object({"id": _ID, "sku": _TEXT, "label": _TEXT, "stock": _COUNT}),
    "Product": _object({
        "id": _ID, "title": _TEXT, "description": _TEXT, "image_url": _or_null(_TEXT), "price_cents": _COUNT,
        "currency": _CURRENCY, "variants": _array(_ref("Variant")), "created_at": _MS, "updated_at": _MS,
    }),
    # A pinned product: the product, and the live offer it sells at right now (null: list price).
    "PinnedProduct": {"allOf": [_ref("Product"), _object({"offer_id": _or_null(_ID)})]},
    "ProductList": _object({"products": _array(_ref("Product"))}),
    "ProductImport": _object({"products": _array(_ref("Product")), "created": _COUNT}),
    "Show": _object({
        "slug": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}, "title": _TEXT, "status": _SHOW_STATUS,
        "scheduled_at": _or_null(_MS), "started_at": _or_null(_MS), "ended_at": _or_null(_MS),
    }, {
        "stream_url": _or_null(_TEXT), "stream_kind": _or_null({"type": "string", "enum": ["hls", "whep"]}),
    }),
    "ShowList": _object({"shows": _array(_ref("Show"))}),
    "Offer": _object({
        "id": _ID, "product_id": _ID, "price_cents": _COUNT, "starts_at": _MS, "ends_at": _MS,
        "quantity": _or_null(_ID), "remaining": _or_null(_COUNT), "per_customer_limit": _ID, "hold_s": _ID,
        "state": _SHOW_STATUS,
    }, {"title": _or_null(_TEXT), "currency": _or_null(_CURRENCY)}),
    "ChatMessage": _object({"id": _ID, "buyer_id": _TEXT, "name": _TEXT, "text": _TEXT, "ts": _MS}),
    "Snapshot": _object({
        "seq": _COUNT, "server_time": _MS, "show": _ref("Show"), "pinned": _or_null(_ref("PinnedProduct")),
        "offers": _array(_ref("Offer")), "stock": _STOCK, "viewers": _COUNT,
        "reactions": {"type": "object", "additionalProperties": _COUNT, "description": "emoji -> total"},
        "chat": {**_array(_ref("ChatMessage")), "maxItems": 50},
    }),
    "NewBuyer": _object({"buyer_id": _TEXT, "name": _TEXT, "token": _TEXT}),
    "BuyerName": _object({"buyer_id": _TEXT, "name": _TEXT}),
    "Hold": _object({**_HOLD_FIELDS, "remaining": _COUNT}),
    # A live hold as GET /api/buyers/me lists it: what it reserves, named, and whether it is in checkout.
    "BuyerHold": _object({
        **_HOLD_FIELDS, "remaining": _or_null(_COUNT), "state": {"type": "string", "enum": ["held", "locked"]},
        "product_id": _ID, "title": _TEXT, "label": _TEXT,
    }),
    "OrderLine": _object({
        "sku": _TEXT, "title": _TEXT, "label": _TEXT, "quantity": _ID, "unit_price_cents": _COUNT,
        "offer_id": _or_null(_ID),
    }),
    "Order": _object({
        "order_id": _TEXT, "number": _TEXT, "status": {"type": "string", "enum": ["paid", "refunded"]},
        "total_cents": _COUNT, "currency": _CURRENCY, "lines": {**_array(_ref("OrderLine")), "minItems": 1},
        "name": _TEXT, "email": _TEXT, "phone": _or_null(_TEXT), "shipping": {"type": "object"}, "hold_id": _TEXT,
        "buyer_id": _TEXT, "created_at": _MS, "receipt_url": _TEXT,
    }),
    "OrderList": _object({"orders": _array(_ref("Order"))}),
    "Me": _object({
        "buyer_id": _TEXT, "name": _TEXT, "holds": _array(_ref("BuyerHold")), "orders": _array(_ref("Order")),
    }),
    "ShowStats": _object({
        "slug": _TEXT, "status": _SHOW_STATUS, "server_time": _MS, "viewers": _COUNT, "replay_viewers": _COUNT,
        "peak_viewers": _COUNT, "live_holds": _COUNT, "units_sold": _COUNT, "orders": _COUNT, "buyers": _COUNT,
        "revenue": {"type": "object", "additionalProperties": _COUNT, "description": "currency -> minor units"},
        "conversion": _or_null({"type": "number", "minimum": 0}),
        "sizes": _array(_object({
            "product_id": _ID, "title": _TEXT, "sku": _TEXT, "label": _TEXT, "loaded": _COUNT, "available": _COUNT,
            "held": _COUNT, "sold": _COUNT, "sold_all": _COUNT, "sell_through": _or_null({"type": "number", "minimum": 0}),
        })),
        "sales_over_time": _object({
            "start": _MS, "end": _MS, "bucket_ms": _ID,
            "points": _array(_object({"t": _MS, "units": _COUNT, "revenue_cents": _COUNT})),
        }),
    }),
    "Replay": _object({
        "show": _ref("Show"), "server_time": _MS,
        "recording": _object({"url": _TEXT, "started_at": _MS, "ended_at": _or_null(_MS), "duration_ms": _or_null(_COUNT)}),
        "events": _array(_object({"type": _TEXT, "seq": _ID, "ts": _MS, "media_ms": _COUNT})),
        "products": _array(_ref("Product")), "stock": _STOCK,
    }),
    "ReplayPresence": _object({"replay_viewers": _COUNT, "stock": _STOCK, "server_time": _MS}),
    "Health": _object({"status": {"const": "ok"}}),
    "Readiness": _object({
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "checks": {"type": "object", "additionalProperties": _TEXT, "description": "service -> ok, or why not"},
    }),
    "StreamStatus": _object({"stream": {"type": "boolean"}}),
}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(schema)}}


_SDP_ANSWER: dict[str, Any] = {
    "content": {"application/sdp": {"schema": _TEXT}},
    "headers": {"Location": {"required": True, "schema": _TEXT, "description": "the session, to DELETE when done"}},
}
_SDP_OFFER: dict[str, Any] = {"required": True, "content": {"application/sdp": {"schema": _TEXT}}}

# (METHOD, path) -> status -> what the answer carries (OpenAPI response fields beside the
# description). A status with no entry here has no body (204, and the WHIP/WHEP DELETEs).
_RESPONSES: dict[tuple[str, str], dict[int, dict[str, Any]]] = {
    ("GET", "/healthz"): {200: {"content": _json("Health")}},
    ("GET", "/readyz"): {200: {"content": _json("Readiness")}, 503: {"content": _json("Readiness")}},
    ("POST", "/api/products"): {201: {"content": _json("Product")}},
    ("GET", "/api/products"): {200: {"content": _json("ProductList")}},
    ("PATCH", "/api/products/{product_id}"): {200: {"content": _json("Product")}},
    ("POST", "/api/products/import"): {201: {"content": _json("ProductImport")}},
    ("POST", "/api/shows"): {201: {"content": _json("Show")}},
    ("GET", "/api/shows"): {200: {"content": _json("ShowList")}},
    ("PATCH", "/api/shows/{slug}"): {200: {"content": _json("Show")}},
    ("GET", "/api/shows/{slug}"): {200: {"content": _json("Snapshot")}},
    ("POST", "/api/shows/{slug}/start"): {200: {"content": _json("Show")}},
    ("POST", "/api/shows/{slug}/end"): {200: {"content": _json("Show")}},
    ("PUT", "/api/shows/{slug}/pin"): {200: {"content": _json("PinnedProduct")}},
    ("POST", "/api/shows/{slug}/offers"): {201: {"content": _json("Offer")}},
    ("GET", "/api/shows/{slug}/stats"): {200: {"content": _json("ShowStats")}},
    ("GET", "/api/shows/{slug}/orders"): {
        200: {"content": {**_json("OrderList"), "text/csv": {"schema": _TEXT}}},
    },
    ("GET", "/api/shows/{slug}/replay"): {200: {"content": _json("Replay")}},
    ("POST", "/api/shows/{slug}/replay/presence"): {200: {"content": _json("ReplayPresence")}},
    ("POST", "/api/buyers"): {201: {"content": _json("NewBuyer")}},
    ("GET", "/api/buyers/me"): {200: {"content": _json("Me")}},
    ("PATCH", "/api/buyers/me"): {200: {"content": _json("BuyerName")}},
    ("POST", "/api/shows/{slug}/holds"): {201: {"content": _json("Hold")}},
    ("POST", "/api/holds/{hold_id}/checkout"): {201: {"content": _json("Order")}, 200: {"content": _json("Order")}},
    ("GET", "/api/orders/{order_id}"): {200: {"content": _json("Order")}},
    ("POST", "/whip/{slug}"): {201: _SDP_ANSWER},
    ("POST", "/whep/{slug}"): {201: _SDP_ANSWER},
    # No stream is a 404 with the same body ({"stream": false}); an unknown show's 404 is an error.
    ("GET", "/whep/{slug}"): {
        200: {"content": _json("StreamStatus")},
        404: {"content": {"application/json": {"schema": {"anyOf": [_ref("StreamStatus"), _ref("Error")]}}}},
    },
}

# Bodies that are not JSON, so no pydantic model describes them.
_REQUEST_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/products/import"): {"required": True, "content": {
        "text/csv": {"schema": _TEXT},
        "multipart/form-data": {"schema": _object({"file": {"type": "string", "contentMediaType": "text/csv"}})},
    }},
    ("POST", "/whip/{slug}"): _SDP_OFFER,
    ("POST", "/whep/{slug}"): _SDP_OFFER,
}

_QUERY_PARAMETERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("GET", "/api/shows/{slug}/orders"): [
        {"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["csv"]},
         "description": "csv: a download (text/csv), one row per order line"},
    ],
}


# 2xx answers with no body besides the 204s (the WHIP/WHEP session DELETEs answer a bare 200).
_EMPTY_ANSWERS = {
    ("DELETE", "/whip/{slug}/{session}", 200),
    ("DELETE", "/whep/{slug}/{session}", 200),
}


def answered_without_schema() -> set[tuple[str, str, int]]:
    """Documented 2xx answers that have a body but no schema here (a test keeps this empty)."""
    return {
        (op.method.upper(), op.path, status)
        for op in _OPERATIONS
        for status in (op.answers or {200: ""})
        if 200 <= status < 300 and status != 204
        and "content" not in _RESPONSES.get((op.method.upper(), op.path), {}).get(status, {})
        and (op.method.upper(), op.path, status) not in _EMPTY_ANSWERS
    }



def build_document(version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {
        **RESPONSE_SCHEMAS,
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": sorted(ERROR_CODES)},
                        "message": {"type": "string"},
                    },
                }
            },
        }
    }
    for op in _OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": {
                str(status): {"description": text, **_RESPONSES.get((op.method.upper(), op.path), {}).get(status, {})}
                for status, text in (op.answers or {200: "OK"}).items()
            },
        }
        security: dict[str, list[dict[str, list[str]]]] = {
            "host": [{"hostToken": []}, {"panelSession": []}], "buyer": [{"buyerToken": []}, {"buyerCookie": []}],
            "buyer-or-host": [{"buyerToken": []}, {"buyerCookie": []}, {"hostToken": []}, {"panelSession": []}],
        }
        if op.auth in security:
            entry["security"] = security[op.auth]
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(op.path)
        ]
        params += [{"name": header, "in": "header", "required": True, "schema": {"type": "string"}} for header in op.headers]
        params += _QUERY_PARAMETERS.get((op.method.upper(), op.path), [])
        if params:
            entry["parameters"] = params
        if op.body is not None:
            schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in [*schema.pop("$defs", {}).items(), (op.body.__name__, schema)]:
                # A request model named like a response schema would silently replace it.
                if name in RESPONSE_SCHEMAS or name == "Error":
                    raise ValueError(f"request model {name} has the name of a response schema; rename one")
                schemas[name] = definition
            entry["requestBody"] = {
                "required": True,
                "content": {op.body_media_type: {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}},
            }
        elif (op.method.upper(), op.path) in _REQUEST_BODIES:
            entry["requestBody"] = _REQUEST_BODIES[(op.method.upper(), op.path)]
        for code in op.errors:
            entry.setdefault("x-error-codes", []).append(code)
        entry["responses"]["default"] = {
            "description": "An error: " + ", ".join(op.errors or ("see the code",)),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "livedrop",
            "version": version,
            "description": "The HTTP API of livedrop. Times are integer milliseconds since the epoch; money is "
            "integer minor units plus currency. Errors are {\"error\": {\"code\", \"message\"}}; the codes are "
            "listed in x-error-codes and in components.schemas.Error.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "hostToken": {"type": "http", "scheme": "bearer", "description": "a host API token (`livedrop token create`)"},
                "panelSession": {"type": "apiKey", "in": "cookie", "name": "livedrop_session",
                                  "description": "the control panel's session; state-changing calls also need X-CSRF-Token"},
                "buyerToken": {"type": "http", "scheme": "bearer", "description": "a buyer token from POST /api/buyers"},
                "buyerCookie": {"type": "apiKey", "in": "cookie", "name": "livedrop_buyer"},
            },
        },
        "x-error-codes": ERROR_CODES,
    }


def _path_params(path: str) -> list[str]:
    import re

    return re.findall(r"{(\w+)}", path)


async def openapi_json(request: Request) -> JSONResponse:
    from importlib.metadata import version

    return JSONResponse(build_document(version("livedrop")))
