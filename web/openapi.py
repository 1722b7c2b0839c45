"""The OpenAPI document of the HTTP API, served at /api/openapi.json.

Each route is declared once, in its module's route table, with its ``Operation`` beside its
endpoint (``api(endpoint, Operation(...))``: method, path, summary, who may call, body model,
answers, errors); the document is built from the app's route table, so a route cannot be served
undocumented or documented unserved. Request schemas come from the pydantic models the routes
validate with, so they cannot drift.

What the routes answer is described by JSON schemas kept in this module (``RESPONSE_SCHEMAS``; an
operation names the one each status answers with). tests/web/test_schemathesis.py runs
schemathesis against the real app and checks every answer it gets against them, so they cannot
drift either. Objects list every field the API sends and require the ones CONTRACT.md names; they
stay open to new fields (growing past the contract is allowed, changing it is not).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from inventory.payments import DECLINED_CARD, PAYING_CARD
from web.errors import ERROR_CODES

JsonSchema = dict[str, Any]


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
    # OpenAPI response fields beside the description, per status (``json_content("Show")``); a
    # status with none has no body (204, or one of ``bodiless``).
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)
    request_body: dict[str, Any] | None = None  # a body no pydantic model describes (CSV, SDP)
    query: tuple[dict[str, Any], ...] | list[dict[str, Any]] = ()
    bodiless: tuple[int, ...] = ()  # 2xx answers with no body besides 204 (the WHIP/WHEP DELETEs' bare 200)


class ApiRoute(Route):
    """A Starlette Route that carries its OpenAPI operation."""

    def __init__(self, endpoint: Callable[..., Any], operation: Operation) -> None:
        super().__init__(operation.path, endpoint, methods=[operation.method])
        self.operation = operation


def api(endpoint: Callable[..., Any], operation: Operation) -> ApiRoute:
    """One entry of a route table: the endpoint, and the operation it serves (method and path included)."""
    return ApiRoute(endpoint, operation)


def operations(routes: Iterable[BaseRoute]) -> list[Operation]:
    return [route.operation for route in routes if isinstance(route, ApiRoute)]


def documented_paths(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    return {(op.method.upper(), op.path) for op in operations(routes)}


# -- what the routes answer ----------------------------------------------------------------------------

_MS: JsonSchema = {"type": "integer", "description": "milliseconds since the Unix epoch"}
_COUNT: JsonSchema = {"type": "integer", "minimum": 0}
_ID: JsonSchema = {"type": "integer", "minimum": 1}
TEXT: JsonSchema = {"type": "string"}
_CURRENCY: JsonSchema = {"type": "string", "pattern": "^[A-Z]{3}$"}
_HEX64: JsonSchema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_STOCK: JsonSchema = {"type": "object", "additionalProperties": _COUNT, "description": "SKU -> units available"}


def schema_ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _or_null(schema: JsonSchema) -> JsonSchema:
    return {"anyOf": [schema, {"type": "null"}]}


def _array(items: JsonSchema) -> JsonSchema:
    return {"type": "array", "items": items}


def object_schema(required: dict[str, JsonSchema], optional: dict[str, JsonSchema] | None = None) -> JsonSchema:
    """An object that must carry ``required``; more fields may come (the API may grow)."""
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


_SHOW_STATUS: JsonSchema = {"type": "string", "enum": ["scheduled", "live", "ended"]}
_HOLD_FIELDS: dict[str, JsonSchema] = {
    "hold_id": TEXT, "sku": TEXT, "quantity": _ID, "price_cents": _COUNT, "currency": _CURRENCY,
    "offer_id": _or_null(_ID), "expires_at": _MS,
}

RESPONSE_SCHEMAS: dict[str, JsonSchema] = {
    "Variant": object_schema({"id": _ID, "sku": TEXT, "label": TEXT, "stock": _COUNT}),
    "Product": object_schema({
        "id": _ID, "title": TEXT, "description": TEXT, "image_url": _or_null(TEXT), "price_cents": _COUNT,
        "currency": _CURRENCY, "variants": _array(schema_ref("Variant")), "created_at": _MS, "updated_at": _MS,
    }),
    # A pinned product: the product, and the live offer it sells at right now (null: list price).
    "PinnedProduct": {"allOf": [schema_ref("Product"), object_schema({"offer_id": _or_null(_ID)})]},
    "ProductList": object_schema({"products": _array(schema_ref("Product"))}),
    "ProductImport": object_schema({"products": _array(schema_ref("Product")), "created": _COUNT},
                                   {"notices": _array(object_schema({"message": TEXT}, {"line": _COUNT, "product": TEXT}))}),
    "ShopConnection": object_schema({"platform": TEXT, "shop_domain": TEXT, "webhook_url": TEXT, "topics": _array(TEXT),
                                     "created_at": _MS}),
    "ShopifyWebhook": object_schema({"received": {"type": "boolean"}}, {
        "duplicate": {"type": "boolean"}, "ignored": TEXT,
        "changed": object_schema({}, {name: _COUNT for name in (
            "matched_skus", "titles", "prices", "units_added", "first_seen", "decreases_ignored")}
            | {"stale": {"type": "boolean"}})}),
    "Show": object_schema({
        "slug": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}, "title": TEXT, "status": _SHOW_STATUS,
        "scheduled_at": _or_null(_MS), "started_at": _or_null(_MS), "ended_at": _or_null(_MS),
    }, {
        "stream_url": _or_null(TEXT), "stream_kind": _or_null({"type": "string", "enum": ["hls", "whep"]}),
    }),
    "ShowList": object_schema({"shows": _array(schema_ref("Show"))}),
    "Offer": object_schema({
        "id": _ID, "product_id": _ID, "price_cents": _COUNT, "starts_at": _MS, "ends_at": _MS,
        "quantity": _or_null(_ID), "remaining": _or_null(_COUNT), "per_customer_limit": _ID, "hold_s": _ID,
        "state": _SHOW_STATUS,
    }, {
        "title": _or_null(TEXT), "currency": _or_null(_CURRENCY),
        "mode": {"type": "string", "enum": ["open", "queue", "draw"]}, "admit_per_minute": _or_null(_ID),
        "commitment": _or_null(_HEX64), "seed": _or_null(_HEX64),
        "claim_minutes": _or_null(_ID), "authorize": {"type": "boolean"}, "entries_open_at": _MS, "entries_close_at": _MS,
    }),
    "QueueEntry": object_schema({"entry_id": TEXT, "offer_id": _ID, "joined_at": _MS, "late": {"type": "boolean"}}),
    "QueuePlace": object_schema({
        "entry_id": TEXT, "offer_id": _ID, "joined_at": _MS, "rank": _or_null(_ID), "ahead": _or_null(_COUNT),
        "admitted": {"type": "boolean"}, "admitted_upto": _COUNT, "length": _COUNT, "pass": _or_null(TEXT),
        "pass_expires_at": _or_null(_MS), "expired": {"type": "boolean"}, "eta_s": _or_null(_COUNT),
    }),
    "QueueAudit": object_schema({
        "offer_id": _ID, "algorithm": TEXT, "commitment": _or_null(_HEX64), "seed": _or_null(_HEX64), "starts_at": _MS,
        "entries": _array(object_schema({"entry_id": TEXT, "joined_at": _MS, "rank": _or_null(_ID)})),
        "admissions": _array(object_schema({"admitted_upto": _ID, "at": _MS})),
    }),
    "DrawEntry": object_schema({"entry_id": TEXT, "offer_id": _ID, "sku": TEXT, "status": TEXT, "entered_at": _MS},
                               {"commitment": _or_null(_HEX64), "entries_close_at": _MS}),
    "DrawEntryStatus": object_schema({
        "entry_id": TEXT, "sku": TEXT, "status": {"type": "string", "enum": ["entered", "won", "lost", "claimed", "lapsed"]},
        "hold_id": _or_null(TEXT),
    }, {"claim_deadline": _or_null(_MS), "rank": _or_null(_ID), "excluded_reason": _or_null(TEXT)}),
    "DrawVoid": object_schema({"entry_id": TEXT, "status": TEXT, "reason": _or_null(TEXT)}),
    "DrawFigures": object_schema({
        "offer_id": _ID, "state": _SHOW_STATUS, "drawn_at": _or_null(_MS), "excluded": _COUNT,
        "entries": {"type": "object", "additionalProperties": _COUNT, "description": "SKU -> entries"},
        "winners": _array(object_schema({"entry_id": TEXT, "sku": TEXT, "rank": _or_null(_ID), "status": TEXT,
                                         "hold_id": _or_null(TEXT)})),
    }),
    # A queue offer's audit (docs/waiting-room.md) or a draw's (docs/draws.md): "algorithm" tells them apart.
    "Audit": {"anyOf": [schema_ref("QueueAudit"), schema_ref("DrawAudit")]},
    "DrawAudit": object_schema({
        "algorithm": {"type": "string", "enum": ["livedrop-draw-v1"]}, "commitment": _or_null(_HEX64),
        "entries_hash": _or_null(_HEX64), "secret": _or_null(_HEX64), "seed": _or_null(_HEX64), "beacon": {},
        "entries": _array(object_schema({"entry_id": TEXT, "sku": TEXT, "rank": _or_null(_ID)})),
        "excluded": _array(object_schema({"entry_id": TEXT, "reason": _or_null(TEXT)})),
        "winners": _array(object_schema({"entry_id": TEXT, "sku": TEXT, "rank": _or_null(_ID)})),
        "handovers": _array(object_schema({"from_entry_id": TEXT, "to_entry_id": _or_null(TEXT), "sku": TEXT, "reason": TEXT})),
        "voids": _array(object_schema({"entry_id": TEXT, "sku": TEXT, "reason": TEXT})),
    }),
    "QueueFigures": object_schema({
        "offer_id": _ID, "length": _COUNT, "ranked": {"type": "boolean"}, "admitted_upto": _COUNT, "passes_used": _COUNT,
        "sold": _COUNT, "admit_per_minute": _or_null(_ID), "state": _SHOW_STATUS,
    }),
    "ChatMessage": object_schema({"id": _ID, "buyer_id": TEXT, "name": TEXT, "text": TEXT, "ts": _MS}),
    "Snapshot": object_schema({
        "seq": _COUNT, "server_time": _MS, "show": schema_ref("Show"), "pinned": _or_null(schema_ref("PinnedProduct")),
        "offers": _array(schema_ref("Offer")), "stock": _STOCK, "viewers": _COUNT,
        "reactions": {"type": "object", "additionalProperties": _COUNT, "description": "emoji -> total"},
        "chat": {**_array(schema_ref("ChatMessage")), "maxItems": 50},
        "video": {"type": "boolean", "description": "the show's own video (WHIP) is on now (docs/protocol.md, the video event)"},
    }),
    "NewBuyer": object_schema({"buyer_id": TEXT, "name": TEXT, "token": TEXT}),
    "BuyerName": object_schema({"buyer_id": TEXT, "name": TEXT}),
    "Hold": object_schema({**_HOLD_FIELDS, "remaining": _COUNT}),
    # A live hold as GET /api/buyers/me lists it: what it reserves, named, and whether it is in checkout.
    "BuyerHold": object_schema({
        **_HOLD_FIELDS, "remaining": _or_null(_COUNT), "state": {"type": "string", "enum": ["held", "locked"]},
        "product_id": _ID, "title": TEXT, "label": TEXT,
    }),
    "OrderLine": object_schema({
        "sku": TEXT, "title": TEXT, "label": TEXT, "quantity": _ID, "unit_price_cents": _COUNT,
        "offer_id": _or_null(_ID),
    }, {"line_id": _ID, "refunded_quantity": _COUNT, "restocked_quantity": _COUNT}),
    "Order": object_schema({
        "order_id": TEXT, "number": TEXT, "status": {"type": "string", "enum": [
            "paid", "fulfilled", "delivered", "partially_refunded", "refunded", "cancelled"]},
        "total_cents": _COUNT, "currency": _CURRENCY, "lines": {**_array(schema_ref("OrderLine")), "minItems": 1},
        "name": TEXT, "email": TEXT, "phone": _or_null(TEXT), "shipping": {"type": "object"}, "hold_id": TEXT,
        "buyer_id": TEXT, "created_at": _MS, "receipt_url": TEXT,
    }, {
        # docs/shipping.md: total_cents = the lines + shipping_cents; tax_cents is included in it.
        "shipping_cents": _COUNT, "tax_cents": _COUNT, "tax_label": _or_null(TEXT), "tax_rate_bp": _COUNT,
        "card_brand": _or_null(TEXT), "card_last4": _or_null(TEXT),
        "carrier": _or_null(TEXT), "tracking_number": _or_null(TEXT), "fulfilled_at": _or_null(_MS),
        "delivered_at": _or_null(_MS), "refunded_cents": _COUNT,
        # Every change of the order's life after payment: what, when, who ("host:<id>" or "system").
        "history": _array(object_schema({"kind": TEXT, "at": _MS, "actor": TEXT, "data": {"type": "object"}})),
    }),
    "Shipments": object_schema({
        "results": _array(object_schema({"row": _ID, "number": TEXT, "ok": {"type": "boolean"}}, {
            "status": TEXT, "order_id": TEXT, "code": TEXT, "message": TEXT})),
        "shipped": _COUNT, "failed": _COUNT,
    }),
    "ShippingProfile": object_schema({
        "kind": {"type": "string", "enum": ["none", "flat", "per_country"]}, "flat_cents": _COUNT,
        "free_over_cents": _or_null(_COUNT),
        "countries": {"type": "object", "additionalProperties": _COUNT, "description": "ISO 3166-1 alpha-2 -> minor units"},
        "tax_rate_bp": _COUNT, "tax_label": TEXT,
        "source": {"type": "string", "enum": ["show", "host", "default"]},
    }),
    "OrderList": object_schema({"orders": _array(schema_ref("Order"))}),
    # Show reminders and back in stock (web.routes.notify, docs/notify.md).
    "Reminder": object_schema({
        "show_slug": TEXT, "email": _or_null(TEXT), "created_at": _MS,
        "sent": object_schema({"24h": _or_null(_MS), "15min": _or_null(_MS), "live": _or_null(_MS)}),
    }),
    "WaitlistEntry": object_schema({
        "id": TEXT, "variant_id": _ID, "sku": TEXT, "state": {"type": "string", "enum": ["waiting", "offered"]},
        "joined_at": _MS,
        "offer": _or_null(object_schema({
            "hold_id": TEXT, "sku": TEXT, "quantity": _ID, "price_cents": _COUNT, "currency": _CURRENCY,
            "expires_at": _MS, "deadline": _MS, "state": {"type": "string", "enum": ["held", "locked"]},
        })),
    }, {"place": _ID, "variant_label": TEXT, "product_title": TEXT}),
    "WaitlistMine": object_schema({"entries": _array(schema_ref("WaitlistEntry"))}),
    "WaitlistSizes": object_schema({"sizes": _array(object_schema({
        "product_id": _ID, "variant_id": _ID, "sku": TEXT, "waiting": _COUNT, "offered": _COUNT,
    }))}),
    "Me": object_schema({
        "buyer_id": TEXT, "name": TEXT, "holds": _array(schema_ref("BuyerHold")), "orders": _array(schema_ref("Order")),
    }),
    "ShowStats": object_schema({
        "slug": TEXT, "status": _SHOW_STATUS, "server_time": _MS, "viewers": _COUNT, "replay_viewers": _COUNT,
        "peak_viewers": _COUNT, "unique_viewers": _COUNT, "live_holds": _COUNT, "units_sold": _COUNT, "orders": _COUNT,
        "buyers": _COUNT,
        "revenue": {"type": "object", "additionalProperties": _COUNT, "description": "currency -> minor units"},
        "conversion": _or_null({"type": "number", "minimum": 0, "maximum": 1,
                                "description": "buyers / unique_viewers (buyers who opened the page), at most 1"}),
        "sizes": _array(object_schema({
            "product_id": _ID, "title": TEXT, "sku": TEXT, "label": TEXT, "loaded": _COUNT, "available": _COUNT,
            "held": _COUNT, "sold": _COUNT, "sold_all": _COUNT, "sell_through": _or_null({"type": "number", "minimum": 0}),
        })),
        "sales_over_time": object_schema({
            "start": _MS, "end": _MS, "bucket_ms": _ID,
            "points": _array(object_schema({"t": _MS, "units": _COUNT, "revenue_cents": _COUNT})),
        }),
    }),
    "Replay": object_schema({
        "show": schema_ref("Show"), "server_time": _MS,
        "recording": object_schema({"url": TEXT, "started_at": _MS, "ended_at": _or_null(_MS), "duration_ms": _or_null(_COUNT)}),
        "events": _array(object_schema({"type": TEXT, "seq": _ID, "ts": _MS, "media_ms": _COUNT})),
        "products": _array(schema_ref("Product")), "stock": _STOCK,
        "bag": _array(schema_ref("Product")),
    }),
    "ReplayPresence": object_schema({"replay_viewers": _COUNT, "stock": _STOCK, "server_time": _MS}),
    "Health": object_schema({"status": {"const": "ok"}}),
    "Readiness": object_schema({
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "checks": {"type": "object", "additionalProperties": TEXT, "description": "service -> ok, or why not"},
    }),
    "StreamStatus": object_schema({"stream": {"type": "boolean"}}),
    # ALTCHA's challenge (web.queue_pow): find n in [0, maxnumber] with SHA-256(salt + n) == challenge.
    "PowChallenge": object_schema({
        "algorithm": {"const": "SHA-256"}, "challenge": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "maxnumber": _ID, "salt": TEXT, "signature": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "expires_at": _MS,
    }),
    # Private threads (docs/threads.md) and data rights (docs/privacy.md).
    "Thread": object_schema({"id": TEXT, "status": {"type": "string", "enum": ["open", "closed"]}, "blocked": {"type": "boolean"},
                             "created_at": _MS, "last_message_at": _MS, "buyer_read_at": _COUNT, "host_read_at": _COUNT},
                            {"host_id": _ID, "buyer_id": TEXT, "unread": _COUNT, "seller": TEXT}),  # seller: in the buyer's list
    "ThreadMessage": object_schema({"id": _ID, "thread_id": TEXT, "sender": {"type": "string", "enum": ["buyer", "host"]},
                                    "text": TEXT, "card": _or_null({"type": "object"}), "created_at": _MS, "read": {"type": "boolean"}}),
    "ThreadPosted": object_schema({"thread": schema_ref("Thread"), "message": schema_ref("ThreadMessage")}),
    "ThreadList": object_schema({"threads": _array(schema_ref("Thread"))}),
    "ThreadRead": object_schema({"thread": schema_ref("Thread"), "messages": _array(schema_ref("ThreadMessage")), "seller": TEXT}),
    "InboxFigures": object_schema({"weeks": _array(object_schema({
        "week_start": _MS, "messages": _COUNT, "answered_12h": _COUNT, "pending": _COUNT,
        "answered_12h_share": _or_null({"type": "number", "minimum": 0, "maximum": 1}),
        "median_first_answer_ms": _or_null(_COUNT)}))}),
    "BuyerRecords": object_schema({"buyer_id": TEXT, "orders": _array({"type": "object"}), "holds": _array({"type": "object"}),
                                   "messages": _array({"type": "object"}), "chat": _array({"type": "object"})}),
    "DataExport": object_schema({"buyer_id": TEXT, "exported_at": _MS, "scope": TEXT, "orders": _array({"type": "object"}),
                                 "messages": _array({"type": "object"}), "chat": _array({"type": "object"})}),
    "Erasure": object_schema({"buyer_id": TEXT, "scope": TEXT, "erased": {"type": "object", "additionalProperties": _COUNT}}),
}


def json_content(schema: str) -> dict[str, Any]:
    """The ``content`` of an answer with a JSON body of the named response schema."""
    return {"application/json": {"schema": schema_ref(schema)}}


SDP_ANSWER: dict[str, Any] = {
    "content": {"application/sdp": {"schema": TEXT}},
    "headers": {"Location": {"required": True, "schema": TEXT, "description": "the session, to DELETE when done"}},
}
SDP_OFFER: dict[str, Any] = {"required": True, "content": {"application/sdp": {"schema": TEXT}}}


def answered_without_schema(routes: Iterable[BaseRoute]) -> set[tuple[str, str, int]]:
    """Documented 2xx answers that have a body but no schema (a test keeps this empty)."""
    return {
        (op.method.upper(), op.path, status)
        for op in operations(routes)
        for status in (op.answers or {200: ""})
        if 200 <= status < 300 and status != 204 and status not in op.bodiless
        and "content" not in op.responses.get(status, {})
    }


def build_document(version: str, routes: Iterable[BaseRoute]) -> dict[str, Any]:
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
                        "units_left": {"type": "integer", "minimum": 0,
                                       "description": "insufficient_stock: how many units could be held"},
                    },
                }
            },
        }
    }
    for op in operations(routes):
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": {
                str(status): {"description": text, **op.responses.get(status, {})}
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
        params += list(op.query)
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
        elif op.request_body is not None:
            entry["requestBody"] = op.request_body
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
            "listed in x-error-codes and in components.schemas.Error. Test cards of the built-in test payment "
            "provider (LIVEDROP_PAYMENTS=test, the default), sent as card_number to POST /api/holds/{hold_id}/checkout: "
            f"{PAYING_CARD} pays; {DECLINED_CARD} is declined (402 payment_declined); a number failing the Luhn check "
            "is a typo (422 invalid_card); any other number is declined. With Stripe no card number is sent: "
            "POST /api/holds/{hold_id}/payment, then Stripe.js.",
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
    return re.findall(r"{(\w+)}", path)


async def openapi_json(request: Request) -> JSONResponse:
    """GET /api/openapi.json: the document of the app's own route table."""
    return JSONResponse(build_document(version("livedrop"), request.app.routes))
