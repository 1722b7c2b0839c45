"""The host control panel: sign in and out, the panel pages, and the two host routes only the panel
needed so far (CSV import of products, live figures of a show).

The pages are thin: everything the panel does afterwards goes through the HTTP API with the
session cookie and the ``X-CSRF-Token`` header (web.auth.current_host), so it is one more client
of the same routes as an integration with a bearer token.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from typing import Any

from pydantic import ValidationError
from sqlalchemy import distinct, func, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from inventory.catalog import SkuTaken, create_product, product_json, taken_skus
from inventory.clock import now_ms
from inventory.models import Host, Order, OrderLine, Product
from live import keys as live_keys
from live.models import Offer, ShowEvent
from live.recordings import ReplayAudience
from live.shows import show_by_slug
from web.auth import CSRF_HEADER, csrf_ok, csrf_token, current_host, hash_password, host_by_email, verify_password
from web.livedrop import livedrop
from web.errors import ApiError
from web.openapi import api, json_content, object_schema, Operation, TEXT
from web.ratelimit import Limit
from web.routes.products import MAX_STOCK, ProductIn

# -- signing in ----------------------------------------------------------------------------------

LOGIN_LIMIT = Limit("host-login", 10, 300)  # attempts per IP and email in five minutes
LOGIN_LIMIT_PER_IP = Limit("host-login-ip", 60, 300)  # and per IP, whatever the emails
LOGIN_FAILED = "Wrong email or password."
_dummy_hash: str | None = None


def _unknown_email_hash() -> str:
    """Verifying against this when the email is unknown costs the same time as a real check, so
    the answer's timing does not tell which part was wrong either."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


def _templates(request: Request) -> Jinja2Templates:
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
        return _login_form(request, error="Your sign-in form expired. Please try again.", email=email, status=403)
    limiter = livedrop(request).rate_limiter
    subject = hashlib.sha256(f"{_client_ip(request)}|{email.lower()}".encode()).hexdigest()[:32]
    wait = await limiter.retry_after_ms(LOGIN_LIMIT, subject)
    if wait is None:
        wait = await limiter.retry_after_ms(LOGIN_LIMIT_PER_IP, _client_ip(request))
    if wait is not None:
        minutes = max(1, -(-wait // 60_000))
        response = _login_form(
            request, error=f"Too many sign-in attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            email=email, status=429,
        )
        response.headers["Retry-After"] = str(max(1, -(-wait // 1000)))
        return response
    async with livedrop(request).services.sessions() as session:
        host: Host | None = await host_by_email(session, email) if email else None
    ok = verify_password(host.password_hash if host else _unknown_email_hash(), password)
    if host is None or not ok:
        return _login_form(request, error=LOGIN_FAILED, email=email, status=401)
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
    return _page(request, host, "home")


async def show_page(request: Request) -> Response:
    host = await _page_host(request)
    if host is None:
        return RedirectResponse("/host/login", status_code=303)
    async with livedrop(request).services.sessions() as session:
        show = await show_by_slug(session, request.path_params["slug"])
    if show is None or show.host_id != host.id:
        return _templates(request).TemplateResponse(request, "panel/missing.html", {}, status_code=404)
    return _page(request, host, "show", show=show)


# -- CSV import ------------------------------------------------------------------------------------

MAX_CSV_BYTES = 1024 * 1024
# What the import route may receive (web.bodies.BodyLimit): the CSV plus room for a multipart
# form's boundaries and part headers. Everything else takes at most web.bodies.MAX_BODY_BYTES.
CSV_UPLOAD_BYTES = MAX_CSV_BYTES + 64 * 1024
MAX_CSV_ROWS = 5000
CSV_COLUMNS = ("title", "sku", "size", "stock", "price", "currency", "image_url", "description")
CSV_REQUIRED = ("title", "sku", "size", "stock", "currency")
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "UGX", "XAF", "XOF"})


class CsvProblems(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problems")
        self.errors = errors


def _price_cents(raw: str, currency: str) -> int:
    """``129``, ``129.5`` or ``129.50`` in the currency's main unit; minor units per the currency."""
    digits = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    match = re.fullmatch(r"(\d{1,9})(?:[.,](\d{1,%d}))?" % max(digits, 1), raw.strip())
    if not match or (digits == 0 and match.group(2)):
        raise ValueError(f"{raw!r} is not a price like 129.00" if digits else f"{raw!r} is not a whole price")
    whole, fraction = match.group(1), (match.group(2) or "")
    return int(whole) * 10**digits + (int(fraction.ljust(digits, "0")) if digits else 0)


def parse_products_csv(text: str) -> list[tuple[list[int], ProductIn]]:
    """Rows of one product share a title (and its price, currency, image and description); each row
    is one size. Returns the products with the line numbers of their rows, or raises CsvProblems
    listing every problem found, by line (the header is line 1)."""
    errors: list[dict[str, Any]] = []

    def problem(line: int, field: str, message: str) -> None:
        errors.append({"line": line, "field": field, "message": message})

    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvProblems([{"line": 1, "field": "header", "message": "the file is empty; the first line names the columns"}]) from None
    except csv.Error as exc:
        raise CsvProblems([{"line": 1, "field": "header", "message": f"not a CSV line: {exc}"}]) from None
    columns = [name.strip().lower().replace(" ", "_") for name in header]
    if "price" not in columns and "price_cents" not in columns:
        problem(1, "header", "a price column is missing (price, or price_cents)")
    for name in CSV_REQUIRED:
        if name not in columns:
            problem(1, "header", f"the column {name!r} is missing (columns: {', '.join(CSV_COLUMNS)})")
    unknown = [c for c in columns if c and c not in CSV_COLUMNS and c != "price_cents"]
    if unknown:
        problem(1, "header", f"unknown column {unknown[0]!r} (columns: {', '.join(CSV_COLUMNS)})")
    if errors:
        raise CsvProblems(errors)

    groups: dict[str, dict[str, Any]] = {}  # title -> product fields, rows
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
        before = len(errors)
        title = cells.get("title", "")
        if not title:
            problem(line, "title", "a title is required")
        currency = cells.get("currency", "").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            problem(line, "currency", "a three-letter currency code like USD is required")
        price: int | None = None
        if "price" in cells and cells["price"]:
            try:
                price = _price_cents(cells["price"], currency)
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
        if len(errors) > before or title == "":
            continue
        fields = {"title": title, "price_cents": price, "currency": currency,
                  "image_url": cells.get("image_url") or None, "description": cells.get("description", "")}
        group = groups.get(title)
        if group is None:
            groups[title] = {"fields": fields, "lines": [line], "variants": [{"sku": sku, "label": cells.get("size", ""), "stock": stock}]}
            continue
        first = group["lines"][0]
        for name in ("price_cents", "currency", "image_url"):
            if fields[name] != group["fields"][name]:
                problem(line, name.removesuffix("_cents"), f"differs from line {first}, the first size of {title!r}")
        if fields["description"] and fields["description"] != group["fields"]["description"]:
            if group["fields"]["description"]:
                problem(line, "description", f"differs from line {first}, the first size of {title!r}")
            else:
                group["fields"]["description"] = fields["description"]
        group["lines"].append(line)
        group["variants"].append({"sku": sku, "label": cells.get("size", ""), "stock": stock})

    if rows == 0 and not errors:
        problem(2, "line", "no products: add one line per size below the header")
    products: list[tuple[list[int], ProductIn]] = []
    for group in groups.values():
        try:
            product = ProductIn.model_validate({**group["fields"], "variants": group["variants"]})
        except ValidationError as exc:
            for error in exc.errors():
                loc = [str(part) for part in error["loc"]]
                line = group["lines"][0]
                field = loc[0] if loc else "line"
                if loc[:1] == ["variants"] and len(loc) >= 2 and loc[1].isdigit():
                    line = group["lines"][int(loc[1])]
                    field = {"label": "size"}.get(loc[2], loc[2]) if len(loc) > 2 else "sku"
                elif field == "price_cents":
                    field = "price"
                message = error["msg"].removeprefix("Value error, ")
                problem(line, field, message)
            continue
        products.append((group["lines"], product))
    if errors:
        raise CsvProblems(sorted(errors, key=lambda e: e["line"]))
    return products


def _problems_response(errors: list[dict[str, Any]]) -> JSONResponse:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"line {first['line']}: {first['field']}: {first['message']}{more}; nothing was imported"
    return JSONResponse({"error": {"code": "invalid_request", "message": message, "errors": errors}}, status_code=422)


async def import_products(request: Request) -> Response:
    services = livedrop(request).services
    host = await current_host(request, services.sessions, request.method)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10, max_part_size=8 * 1024)  # the file aside, small fields
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, "invalid_request", "file: attach the CSV as the form field 'file'")
        raw = await upload.read(MAX_CSV_BYTES + 1)
    else:
        raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise ApiError(413, "payload_too_large", f"the CSV is larger than {MAX_CSV_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _problems_response([{"line": 1, "field": "file", "message": "the file is not UTF-8 text; export it as CSV UTF-8"}])
    try:
        parsed = parse_products_csv(text)
    except CsvProblems as exc:
        return _problems_response(exc.errors)
    created: list[dict[str, Any]] = []
    async with services.sessions() as session:
        # One transaction: the SKU check, every insert and one commit; any refusal rolls it all back.
        line_of_sku = {v.sku: lines[i] for lines, p in parsed for i, v in enumerate(p.variants)}
        taken = await taken_skus(session, host.id, list(line_of_sku))
        if taken:
            return _problems_response(sorted(
                ({"line": line_of_sku[sku], "field": "sku", "message": f"the SKU {sku!r} is already used by another of your products"}
                 for sku in taken), key=lambda e: e["line"],
            ))
        products: list[Product] = []
        for lines, product_in in parsed:
            try:
                products.append(await create_product(session, host.id, product_in.spec()))
            except SkuTaken as exc:  # taken by a concurrent request since the check above
                await session.rollback()
                return _problems_response([{"line": line_of_sku.get(exc.sku, lines[0]), "field": "sku", "message": str(exc)}])
        await session.commit()
        for product in products:
            await session.refresh(product, ["variants"])
            created.append(product_json(product))
    return JSONResponse({"products": created, "created": len(created)}, status_code=201)


# -- live figures ----------------------------------------------------------------------------------

# Keep the highest viewer count seen; a plain GET-compare-SET from Python could lower it when
# two panels poll at once.
_PEAK = """
local seen = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
if now > seen then
  redis.call('SET', KEYS[1], now)
  seen = now
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return seen
"""
PEAK_TTL_MS = 30 * 24 * 3600 * 1000
CHART_BUCKETS = 60
_NICE_BUCKETS_MS = (5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000)


def peak_key(show_id: int) -> str:
    return live_keys.prefix(show_id) + "peak_viewers"


def bucket_ms_for(span_ms: int) -> int:
    for size in _NICE_BUCKETS_MS:
        if span_ms <= size * CHART_BUCKETS:
            return size
    return _NICE_BUCKETS_MS[-1] * max(1, -(-span_ms // (_NICE_BUCKETS_MS[-1] * CHART_BUCKETS)))


async def show_stats(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    runtime = root
    now = now_ms()
    async with root.services.sessions() as session:
        show = await show_by_slug(session, request.path_params["slug"])
        if show is None or show.host_id != host.id:
            raise ApiError(404, "not_found", "no such show")
        paid = (Order.show_id == show.id) & (Order.status == "paid")
        # Which products this show has sold or put on sale: pinned now or before, offered, ordered.
        product_ids: set[int] = set()
        if show.pinned_product_id:
            product_ids.add(show.pinned_product_id)
        product_ids.update((await session.execute(select(Offer.product_id).where(Offer.show_id == show.id))).scalars())
        for payload in (await session.execute(
            select(ShowEvent.payload).where(ShowEvent.show_id == show.id, ShowEvent.type == "pin")
        )).scalars():
            if isinstance(payload, dict) and isinstance(payload.get("product_id"), int):
                product_ids.add(payload["product_id"])
        sold_here = {
            variant_id: (int(units), int(cents))
            for variant_id, units, cents in await session.execute(
                select(OrderLine.variant_id, func.sum(OrderLine.quantity), func.sum(OrderLine.quantity * OrderLine.unit_price_cents))
                .join(Order, Order.id == OrderLine.order_id).where(paid).group_by(OrderLine.variant_id)
            )
        }
        product_ids.update((await session.execute(
            select(OrderLine.product_id).distinct().join(Order, Order.id == OrderLine.order_id).where(Order.show_id == show.id)
        )).scalars())
        products = list((await session.execute(
            select(Product).where(Product.id.in_(product_ids), Product.host_id == host.id).order_by(Product.id)
        )).scalars()) if product_ids else []
        variant_ids = [v.id for p in products for v in p.variants]
        sold_anywhere = {
            variant_id: int(units)
            for variant_id, units in await session.execute(
                select(OrderLine.variant_id, func.sum(OrderLine.quantity)).join(Order, Order.id == OrderLine.order_id)
                .where(OrderLine.variant_id.in_(variant_ids), Order.status == "paid").group_by(OrderLine.variant_id)
            )
        } if variant_ids else {}
        revenue = {
            currency: int(cents)
            for currency, cents in await session.execute(
                select(Order.currency, func.sum(Order.total_cents)).where(paid).group_by(Order.currency)
            )
        }
        orders, buyers = (await session.execute(
            select(func.count(Order.id), func.count(distinct(Order.buyer_id))).where(paid)
        )).one()
        origin = show.started_at or show.created_at
        end = show.ended_at or now
        bucket = bucket_ms_for(max(end - origin, 1))
        slot = (Order.created_at - origin) // bucket
        timeline = [
            {"t": origin + int(n) * bucket, "units": int(units or 0), "revenue_cents": int(cents or 0)}
            for n, units, cents in await session.execute(
                select(slot, func.sum(OrderLine.quantity), func.sum(OrderLine.quantity * OrderLine.unit_price_cents))
                .join(OrderLine, OrderLine.order_id == Order.id).where(paid).group_by(slot).order_by(slot)
            )
        ]

    viewers, _ = await runtime.hub.presence.totals(show.id)
    replay_viewers = await ReplayAudience(root.services.redis).count(show.id)  # apart from live ones
    peak = int(await root.services.redis.eval(_PEAK, 1, peak_key(show.id), viewers, PEAK_TTL_MS))
    sizes: list[dict[str, Any]] = []
    held_total = 0
    for product in products:
        counts = await runtime.stock.counts(product.id)
        for variant in product.variants:
            c = counts.get(variant.sku)
            held = c.held if c is not None else 0
            held_total += held
            sold_all = sold_anywhere.get(variant.id, 0)
            units_here = sold_here.get(variant.id, (0, 0))[0]
            sizes.append({
                "product_id": product.id, "title": product.title, "sku": variant.sku, "label": variant.label,
                "loaded": variant.stock,
                "available": c.available if c is not None else max(variant.stock - sold_all, 0),
                "held": held, "sold": units_here, "sold_all": sold_all,
                # Sell-through: the share of the size's stock sold, through any show.
                "sell_through": round(sold_all / variant.stock, 4) if variant.stock else None,
            })
    units = sum(units for units, _ in sold_here.values())
    return JSONResponse({
        "slug": show.slug,
        "status": show.status,
        "server_time": now,
        "viewers": viewers,
        "replay_viewers": replay_viewers,
        "peak_viewers": peak,
        "live_holds": held_total,
        "units_sold": units,
        "orders": int(orders or 0),
        "buyers": int(buyers or 0),
        "revenue": revenue,
        "conversion": round(buyers / peak, 4) if peak else None,
        "sizes": sizes,
        "sales_over_time": {"start": origin, "end": end, "bucket_ms": bucket, "points": timeline},
    }, headers={"Cache-Control": "no-store"})


routes = [
    Route("/host/login", login_page, methods=["GET"]),
    Route("/host/login", login, methods=["POST"]),
    Route("/host/logout", logout, methods=["POST"]),
    Route("/host", panel_page, methods=["GET"]),
    Route("/host/shows/{slug}", show_page, methods=["GET"]),
    api(import_products, Operation(
        "POST", "/api/products/import",
        "Import products from CSV (text/csv body, or multipart with the field 'file'). Columns: title, sku, size, "
        "stock, price (or price_cents), currency, image_url, description; one line per size, lines with the same "
        "title are one product. All or nothing: on any problem nothing is imported and the 422 error carries "
        "error.errors: [{line, field, message}] (the header is line 1).",
        "host", answers={201: "{\"products\": [...], \"created\": n}"},
        errors=("invalid_request", "payload_too_large", "unauthorized", "csrf_failed"),
              responses={201: {"content": json_content("ProductImport")}}, request_body={"required": True, "content": {
        "text/csv": {"schema": TEXT},
        "multipart/form-data": {"schema": object_schema({"file": {"type": "string", "contentMediaType": "text/csv"}})},
    }})),
    api(show_stats, Operation(
        "GET", "/api/shows/{slug}/stats",
        "Live figures of a show for its host: viewers now and peak, replay viewers now (counted apart), units held right now, units sold, orders, "
        "buyers, revenue per currency, conversion (buyers / peak viewers), per-size stock and sell-through "
        "(units sold through any show / units loaded), and sales over time in buckets.",
        "host", answers={200: "The figures."}, errors=("not_found", "unauthorized"),
              responses={200: {"content": json_content("ShowStats")}})),
]
