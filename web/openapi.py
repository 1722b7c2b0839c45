"""The OpenAPI document of the HTTP API, served at /api/openapi.json.

Operations are listed here by hand (summary, who may call, body model, answers); request schemas
come from the pydantic models the routes validate with, so they cannot drift. A test checks that
every /api route of the app is listed here.
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


def build_document(version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {
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
            "responses": {str(status): {"description": text} for status, text in (op.answers or {200: "OK"}).items()},
        }
        security = {"host": [{"hostToken": []}, {"panelSession": []}], "buyer": [{"buyerToken": []}, {"buyerCookie": []}],
                     "buyer-or-host": [{"buyerToken": []}, {"buyerCookie": []}, {"hostToken": []}, {"panelSession": []}]}
        if op.auth in security:
            entry["security"] = security[op.auth]
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(op.path)
        ]
        params += [{"name": header, "in": "header", "required": True, "schema": {"type": "string"}} for header in op.headers]
        if params:
            entry["parameters"] = params
        if op.body is not None:
            schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in schema.pop("$defs", {}).items():
                schemas[name] = definition
            schemas[op.body.__name__] = schema
            entry["requestBody"] = {
                "required": True,
                "content": {op.body_media_type: {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}},
            }
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
