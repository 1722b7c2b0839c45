"""The host control panel: sign in and out, the panel pages, and the two host routes only the panel
needed so far (import of products: inventory.csv_import, and from other shops inventory.shop_import;
live figures of a show: live.report).

The pages are thin: everything the panel does afterwards goes through the HTTP API with the
session cookie and the ``X-CSRF-Token`` header (web.auth.current_host), so it is one more client
of the same routes as an integration with a bearer token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from inventory.catalog import CURRENCY_PATTERN, product_json
from inventory.csv_import import (
    MAX_CSV_BYTES,
    CsvProblems,
    CsvTooLarge,
    import_products_csv,
)
from inventory.shop_import import ImportProblems, ImportTooLarge, Notice, ShopFile, import_shop_products
from inventory.shop_links import SHOPIFY
from inventory.shopify_import import MAX_SHOPIFY_BYTES, parse_shopify_products
from inventory.woocommerce_import import MAX_WOOCOMMERCE_BYTES, parse_woocommerce_products
from inventory.errors import retry_after_seconds
from inventory.models import Host
from live.i18n import ntr, tr
from web.page_locale import N_, page_locale
from web.auth import (
    CSRF_HEADER,
    csrf_ok,
    csrf_token,
    current_host,
    hash_password,
    host_by_email,
    verify_password,
)
from web.errors import ApiError
from web.livedrop import livedrop
from web.qr import qr_data_uri, qr_svg
from web.openapi import TEXT, Operation, api, json_content, object_schema
from web.ratelimit import Limit

# -- signing in ----------------------------------------------------------------------------------

LOGIN_LIMIT = Limit("host-login", 10, 300)  # attempts per IP and email in five minutes
LOGIN_LIMIT_PER_IP = Limit("host-login-ip", 60, 300)  # and per IP, whatever the emails
LOGIN_FAILED = N_("Wrong email or password.")
_dummy_hash: str | None = None


def _unknown_email_hash() -> str:
    """Verifying against this when the email is unknown costs the same time as a real check, so
    the answer's timing does not tell which part was wrong either."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


def _templates(request: Request):  # type: ignore[no-untyped-def]
    return livedrop(request).templates


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# The sign-in and sign-out forms: a few short fields, never a file.
SMALL_FORM: dict[str, int] = {"max_files": 0, "max_fields": 10, "max_part_size": 8 * 1024}


def _signed_in(request: Request) -> bool:
    return request.session.get("host_id") is not None


def _login_form(request: Request, *, error: str | None = None, email: str = "", status: int = 200) -> HTMLResponse:
    return _templates(request).TemplateResponse(
        request, "panel/login.html", {"csrf": csrf_token(request.session), "error": error, "email": email},
        status_code=status, headers={"Cache-Control": "no-store"},
    )


async def login_page(request: Request) -> Response:
    if _signed_in(request):
        return RedirectResponse("/host", status_code=303)
    return _login_form(request)


async def login(request: Request) -> Response:
    form = await request.form(**SMALL_FORM)
    email = str(form.get("email") or "").strip()[:320]
    password = str(form.get("password") or "")[:1024]
    if not csrf_ok(request, str(form.get("csrf") or "")):
        # Most often a login page left open past a restart, or cookies switched off.
        return _login_form(request, error=tr(page_locale(request), "Your sign-in form expired. Please try again."), email=email, status=403)
    root = livedrop(request)
    limiter = root.rate_limiter
    subject = hashlib.sha256(f"{_client_ip(request)}|{email.lower()}".encode()).hexdigest()[:32]
    wait = await limiter.retry_after_ms(LOGIN_LIMIT, subject)
    if wait is None:
        wait = await limiter.retry_after_ms(LOGIN_LIMIT_PER_IP, _client_ip(request))
    if wait is not None:
        minutes = max(1, -(-wait // 60_000))
        response = _login_form(
            request, error=ntr(page_locale(request), "Too many sign-in attempts. Try again in %(num)s minute.",
                                "Too many sign-in attempts. Try again in %(num)s minutes.", minutes),
            email=email, status=429,
        )
        response.headers["Retry-After"] = str(retry_after_seconds(wait))
        return response
    async with root.services.sessions() as session:
        host: Host | None = await host_by_email(session, email) if email else None
    ok = verify_password(host.password_hash if host else _unknown_email_hash(), password)
    if host is None or not ok:
        return _login_form(request, error=tr(page_locale(request), LOGIN_FAILED), email=email, status=401)
    # A fresh session (nothing from before signing in survives) with a fresh CSRF token.
    request.session.clear()
    request.session["host_id"] = host.id
    request.session["csrf"] = secrets.token_urlsafe(24)
    return RedirectResponse("/host", status_code=303)


async def logout(request: Request) -> Response:
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        submitted = str((await request.form(**SMALL_FORM)).get("csrf") or "")
    if _signed_in(request) and not csrf_ok(request, submitted):
        raise ApiError(403, "csrf_failed", "missing or wrong CSRF token; reload the control panel")
    request.session.clear()
    return RedirectResponse("/host/login", status_code=303)


# -- the pages -------------------------------------------------------------------------------------


async def _page_host(request: Request) -> Host | None:
    host_id = request.session.get("host_id")
    if host_id is None:
        return None
    async with livedrop(request).services.sessions() as session:
        return await session.get(Host, host_id)


def _public_base(request: Request) -> str:
    public_url = livedrop(request).settings.public_url
    return public_url.rstrip("/") if public_url else str(request.base_url).rstrip("/")


def _page(request: Request, host: Host, page: str, **context: Any) -> HTMLResponse:
    return _templates(request).TemplateResponse(
        request,
        f"panel/{page}.html",
        {"csrf": csrf_token(request.session), "host": host, "public_base": _public_base(request), **context},
        headers={"Cache-Control": "no-store"},
    )


async def panel_page(request: Request) -> Response:
    host = await _page_host(request)
    if host is None:
        return RedirectResponse("/host/login", status_code=303)
    # The shows this account moderates for other hosts (docs/host-chat.md): each opens its chat-only screen.
    moderated = await livedrop(request).host_chat.moderated(host.id)
    return _page(request, host, "home", moderated=moderated)


async def show_page(request: Request) -> Response:
    host = await _page_host(request)
    if host is None:
        return RedirectResponse("/host/login", status_code=303)
    found = await livedrop(request).host_chat.role(host.id, request.path_params["slug"])
    if found is None:
        return _templates(request).TemplateResponse(request, "panel/missing.html", {}, status_code=404)
    show, role = found
    if role == "moderator":  # the chat only: moderators never see products, offers, orders or figures
        return _page(request, host, "moderate", show=show)
    link = f"{_public_base(request)}/s/{show.slug}"
    share = {"url": link, "qr": qr_svg(link, title=f"QR code of {link}"), "qr_download": qr_data_uri(link)}
    return _page(request, host, "show", show=show, share=share)


# -- import ---------------------------------------------------------------------------------------

# The formats the import takes (``format``, a query or form field): livedrop's own CSV (the default),
# a Shopify products.json export, a WooCommerce product CSV export (docs/shop-import.md).
LIVEDROP_CSV, SHOPIFY_JSON, WOOCOMMERCE_CSV = "livedrop-csv", "shopify-json", "woocommerce-csv"
SHOP_READERS: dict[str, Callable[[bytes, str], ShopFile]] = {
    SHOPIFY_JSON: parse_shopify_products, WOOCOMMERCE_CSV: parse_woocommerce_products}
MAX_IMPORT_BYTES = max(MAX_CSV_BYTES, MAX_SHOPIFY_BYTES, MAX_WOOCOMMERCE_BYTES)
# What the import route may receive (web.bodies.BodyLimit): the largest file plus room for a
# multipart form's boundaries and part headers. Everything else takes at most web.bodies.MAX_BODY_BYTES.
CSV_UPLOAD_BYTES = MAX_IMPORT_BYTES + 64 * 1024


async def _uploaded_file(request: Request) -> tuple[bytes, dict[str, str]]:
    """The file: the body itself, or the field 'file' of a multipart form (a browser's upload),
    and the query's fields with the form's small ones over them. At most one byte past the
    largest limit is read, enough for the import to refuse it."""
    fields = {name: value for name, value in request.query_params.items() if name in ("format", "currency")}
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10, max_part_size=8 * 1024)  # the file aside, small fields
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, "invalid_request", "file: attach the file as the form field 'file'")
        fields.update({name: value for name in ("format", "currency") if isinstance(value := form.get(name), str) and value})
        return await upload.read(MAX_IMPORT_BYTES + 1), fields
    return await request.body(), fields


def _problems_response(problems: CsvProblems | ImportProblems) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": "invalid_request", "message": problems.summary(), "errors": [p.json() for p in problems.problems]}},
        status_code=422,
    )


def _currency(fields: dict[str, str], fmt: str) -> str:
    currency = fields.get("currency", "").strip()
    if not re.fullmatch(CURRENCY_PATTERN, currency):
        raise ApiError(422, "invalid_request", f"currency: the shop's currency, like USD, is required with format={fmt} "
                                               "(the export does not say it)")
    return currency.upper()


async def import_products(request: Request) -> Response:
    services = livedrop(request).services
    host = await current_host(request, services.sessions, request.method)
    raw, fields = await _uploaded_file(request)
    fmt = fields.get("format") or LIVEDROP_CSV
    if fmt != LIVEDROP_CSV and fmt not in SHOP_READERS:
        raise ApiError(422, "invalid_request", f"format: one of {LIVEDROP_CSV}, {SHOPIFY_JSON}, {WOOCOMMERCE_CSV}")
    async with services.sessions() as session:
        try:
            if fmt == LIVEDROP_CSV:
                products = await import_products_csv(session, host.id, raw)
                notices: list[Notice] = []
            else:
                parsed = SHOP_READERS[fmt](raw, _currency(fields, fmt))
                products = await import_shop_products(session, host.id, parsed.products, SHOPIFY if fmt == SHOPIFY_JSON else "")
                notices = parsed.notices
        except (CsvTooLarge, ImportTooLarge) as exc:
            raise ApiError(413, "payload_too_large", str(exc)) from None
        except (CsvProblems, ImportProblems) as exc:
            return _problems_response(exc)
        created = [product_json(product) for product in products]
    answer: dict[str, Any] = {"products": created, "created": len(created)}
    if fmt != LIVEDROP_CSV:
        answer["notices"] = [notice.json() for notice in notices]
    return JSONResponse(answer, status_code=201)


# -- live figures ----------------------------------------------------------------------------------


async def show_stats(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    figures = await root.report.figures(host.id, request.path_params["slug"])
    if figures is None:
        raise ApiError(404, "not_found", "no such show")
    return JSONResponse(figures, headers={"Cache-Control": "no-store"})


routes = [
    Route("/host/login", login_page, methods=["GET"]),
    Route("/host/login", login, methods=["POST"]),
    Route("/host/logout", logout, methods=["POST"]),
    Route("/host", panel_page, methods=["GET"]),
    Route("/host/shows/{slug}", show_page, methods=["GET"]),
    api(import_products, Operation(
        "POST", "/api/products/import",
        "Import products from a file (the body, or multipart with the field 'file'); `format` (query or form field) "
        "says which: `livedrop-csv` (the default; columns: title, sku, size, stock, price (or price_cents), currency, "
        "image_url, description; one line per size, lines with the same title are one product), `shopify-json` (a "
        "Shopify products.json export) or `woocommerce-csv` (WooCommerce's product CSV export); the last two need "
        "`currency`, the shop's. All or nothing: on any problem nothing is imported and the 422 error carries "
        "error.errors: [{line (CSV files; the header is line 1) or product (a Shopify handle), field, message}]. "
        "A shop import also answers notices: [{line or product, message}] (rows left out, stock not managed there). "
        "See docs/shop-import.md.",
        "host", answers={201: "{\"products\": [...], \"created\": n}"},
        errors=("invalid_request", "payload_too_large", "unauthorized", "csrf_failed"),
              responses={201: {"content": json_content("ProductImport")}}, request_body={"required": True, "content": {
        "text/csv": {"schema": TEXT},
        "application/json": {"schema": {"type": "object"}},
        "multipart/form-data": {"schema": object_schema({"file": {"type": "string", "contentMediaType": "text/csv"}},
                                                        {"format": TEXT, "currency": TEXT})},
    }}, query=(
        {"name": "format", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["livedrop-csv", "shopify-json", "woocommerce-csv"]}},
        {"name": "currency", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[A-Za-z]{3}$"}},
    ))),
    api(show_stats, Operation(
        "GET", "/api/shows/{slug}/stats",
        "Live figures of a show for its host: viewers now and peak, replay viewers now (counted apart), units held right now, units sold, orders, "
        "buyers, revenue per currency, conversion (buyers / peak viewers), per-size stock and sell-through "
        "(units sold through any show / units loaded), and sales over time in buckets.",
        "host", answers={200: "The figures."}, errors=("not_found", "unauthorized"),
              responses={200: {"content": json_content("ShowStats")}})),
]
