"""schemathesis over /api/openapi.json, against the real app on the real Redis and database.

Every operation of the document gets a bounded number of generated requests (valid and invalid
bodies, parameters and headers), sent with a real host or buyer token and, mostly, real path values
(a product, a live show with a pinned product and offers, a hold, an order, a chat message), so they
reach the handlers instead of answering 404. No answer may be a 5xx, and every answer must match
what the document says of it (status, content type, body schema): success bodies included.

Each operation also gets one or two hand-written requests that must succeed (a paying checkout, a
hold of a real SKU...), because random data rarely does, and the success schemas must be checked
on real answers. The test fails if an operation never answered 2xx, so a fixture gone stale cannot
silently turn the run into a wall of 404s.

How it runs: the app and its lifespan live on the test's event loop (the ``app`` fixture), like in
every other test. Hypothesis is synchronous, so the examples run in a worker thread and each
request is handed back to the loop (``_LoopAdapter``); a 500 comes back as a response (not as an
exception), so schemathesis' not_a_server_error check is what reports it.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import pytest
import requests
import requests.adapters
import schemathesis
import urllib3
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.errors import FailureGroup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from inventory.clock import now_ms
from inventory.models import Product
from live.models import Show
from live.recordings import add_recording
from tests.web.buying import CARD_PAYS, auth, checkout_body

pytestmark = pytest.mark.slow

BASE_URL = "http://testserver"
# Generated requests per operation (valid and invalid data together). Bounded so the whole test
# stays well under a minute on a 2-core CI machine; derandomized, so every run sends the same
# requests. For a deeper hunt, by hand: LIVEDROP_SCHEMATHESIS_EXAMPLES=500 and, for other requests
# than CI's, LIVEDROP_SCHEMATHESIS_SEED=<any integer>.
MAX_EXAMPLES = int(os.environ.get("LIVEDROP_SCHEMATHESIS_EXAMPLES", "25"))
SEED = os.environ.get("LIVEDROP_SCHEMATHESIS_SEED")

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]

# Operations that cannot answer 2xx here, and why. Everything else must, at least once.
NO_SUCCESS_EXPECTED = {
    # Publishing takes a real WebRTC offer (tests/media builds one with aiortc); random text is
    # refused as malformed_sdp, and without a publisher there is no stream to play or session to end.
    ("POST", "/whip/{slug}"),
    ("DELETE", "/whip/{slug}/{session}"),
    ("POST", "/whep/{slug}"),
    ("GET", "/whep/{slug}"),
    ("DELETE", "/whep/{slug}/{session}"),
    # The suite runs with LIVEDROP_QUEUE_POW=0, so there is no challenge (404 pow_off); the 200 and
    # its schema are checked with the proof of work on in tests/web/test_queue_pow.py.
    ("GET", "/api/shows/{slug}/offers/{offer_id}/queue/challenge"),
    # Stripe's routes: this app runs the test provider, so starting a browser-confirmed payment is 409
    # payment_not_in_browser and the webhook is 404 (tests/web/test_stripe_checkout.py runs them on
    # localstripe).
    ("POST", "/api/holds/{hold_id}/payment"),
    ("POST", "/api/shows/{slug}/bag/payment"),
    ("POST", "/webhooks/stripe"),
    # Shopify's webhook is signed over the exact bytes of its body, which schemathesis serializes
    # itself; tests/web/test_shopify_webhook.py checks its 200 answers (and its 401s) byte for byte.
    ("POST", "/webhooks/shopify"),
}

# The order operations run in: anything that ends, releases or unpins comes after what needs it.
LAST = (
    ("DELETE", "/api/shows/{slug}/chat/{message_id}"),
    ("DELETE", "/api/shows/{slug}/offers/{offer_id}"),
    ("DELETE", "/api/shows/{slug}/pin"),
    ("DELETE", "/api/holds/{hold_id}"),
    ("DELETE", "/api/shop/shopify"),
    # Random ids hit the fixture's endpoints: deleted before redeliver ran, its delivery went with them.
    ("DELETE", "/api/webhooks/endpoints/{endpoint_id}"),
    ("POST", "/api/shows/{slug}/start"),
    ("POST", "/api/shows/{slug}/end"),
)


# Values random generation rarely hits, mixed into what schemathesis generates (its "fuzz
# dictionaries"): in valid-data mode only those the field's schema allows are used, so an integer
# field whose bound went missing gets 2**63, in invalid-data mode only those it refuses. Few
# entries, each one a class of trouble, so a bounded run tries most of them.
EDGE_INTEGERS: list[int] = [
    -1, 2**31,  # below zero; past a PostgreSQL INTEGER
    2**63 - 1, 2**63, 2**64,  # a BIGINT's last value, and past it (SQLite and PostgreSQL refuse them)
    32_503_680_000_000 - 1, 32_503_680_000_000,  # the last ms before the year 3000, and the first after
]
EDGE_STRINGS: list[str] = [
    "\u00b9", "\u00b2\u00b3", "\u2460",  # str.isdigit() says yes, int() refuses them (superscripts, circled 1)
    "\u0661\u0662", "\U0001d7d9",  # int() reads them (Arabic-Indic 12, math bold 1): not an id on the wire
    "-1", "0", "9" * 16, "9" * 40, "1_000", "1 ",  # (requests refuses a header value that starts with a space)
]
ENTRY_PROBABILITY = 0.5


def _integer_fields(document: dict[str, Any]) -> set[str]:
    """Every integer field of every JSON request body, as schemathesis' body binding keys
    (``body.scheduled_at``, ``body.variants[*].stock``): found in the document, so new fields count."""
    components = document["components"]["schemas"]
    found: set[str] = set()

    def walk(schema: Any, path: str, seen: frozenset[str]) -> None:
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(components[name], path, seen | {name})
            return
        for keyword in ("anyOf", "oneOf", "allOf"):
            for branch in schema.get(keyword, []):
                walk(branch, path, seen)
        if schema.get("type") == "integer":
            found.add(path)
        for name, child in schema.get("properties", {}).items():
            walk(child, f"{path}.{name}", seen)
        walk(schema.get("items"), f"{path}[*]", seen)

    for path_item in document["paths"].values():
        for operation in path_item.values():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                walk(content["application/json"]["schema"], "body", frozenset())
    return found


def _config(document: dict[str, Any]) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "dictionaries": {"edge-integers": {"values": EDGE_INTEGERS}, "edge-strings": {"values": EDGE_STRINGS}},
        # Path, query and header strings (type-wide); body integers one by one (schemathesis binds
        # body fields by path only).
        "generation": {"dictionaries": {"string": {"dictionary": "edge-strings", "probability": ENTRY_PROBABILITY}}},
        "parameters": {
            field: {"dictionary": "edge-integers", "probability": ENTRY_PROBABILITY} for field in sorted(_integer_fields(document))
        },
    })


@schemathesis.serializer("application/sdp")
def _sdp(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """SDP is text; schemathesis has no serializer of its own for the media type. Invalid data
    (a number, an object) goes on the wire as its JSON text."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode("utf-8")


def _octets(value: str | bytes) -> bytes:
    """A header value as a client puts it on the wire: latin-1 (what HTTP/1.1 clients do), or
    UTF-8 bytes when it has characters latin-1 lacks (some clients send those; a server hands the
    app the octets either way). httpx itself would refuse anything but ASCII."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


class _LoopAdapter(requests.adapters.HTTPAdapter):
    """Sends schemathesis' requests (made in Hypothesis' thread) to the app on the test's event
    loop, where its Redis and database connections live."""

    def __init__(self, http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.http = http
        self.loop = loop

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        assert body is None or isinstance(body, bytes), "schemathesis sends whole bodies"
        headers = [(name.encode("latin-1"), _octets(value)) for name, value in request.headers.items()]
        assert request.method is not None and request.url is not None
        call = self.http.request(request.method, request.url, headers=headers, content=body)
        answer = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=60)
        # schemathesis reads the headers from the urllib3 response underneath, as a socket gives them.
        headers_back = urllib3.HTTPHeaderDict()
        for name, value in answer.headers.multi_items():
            headers_back.add(name, value)
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(answer.content), headers=headers_back, status=answer.status_code,
            reason=answer.reason_phrase, version=11, preload_content=False,
        )
        return self.build_response(request, raw)


@dataclass(frozen=True)
class Planned:
    """How one operation is called: real path values, credentials, and requests that must succeed."""

    path_parameters: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    happy: tuple[dict[str, Any], ...] = ()  # Case(...) keyword arguments


@dataclass
class Report:
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (operation, failure) -> the report
    statuses: dict[str, set[int]] = field(default_factory=dict)  # operation -> statuses answered
    calls: int = 0

    def failed(self) -> list[str]:
        return [text for (_, _), text in sorted(self.failures.items())]


def _run(schema: schemathesis.BaseSchema, plans: dict[tuple[str, str], Planned], session: requests.Session,
         max_examples: int, report: Report) -> None:
    """Runs in a worker thread: the happy requests, then the generated ones, operation by operation."""
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document itself is broken: nothing to fuzz
        operations.append(result.ok())
    rank = {key: i for i, key in enumerate(LAST)}
    operations.sort(key=lambda op: rank.get((op.method.upper(), op.path), -1))
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        plan = plans.get(key, Planned())

        def check(case: schemathesis.Case, label: str = operation.label) -> None:
            response = case.call(base_url=BASE_URL, session=session)
            report.calls += 1
            report.statuses.setdefault(label, set()).add(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                for failure in group.exceptions:
                    report.failures.setdefault((label, f"{failure.title} {response.status_code}"), str(group))

        for happy in plan.happy:
            kwargs = dict(happy)  # the plan stays as it is
            headers = {**plan.headers, **kwargs.pop("headers", {})}
            path_parameters = {**plan.path_parameters, **kwargs.pop("path_parameters", {})}
            check(operation.Case(path_parameters=path_parameters, headers=headers, **kwargs))

        strategies = [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=plan.path_parameters, headers=plan.headers)]
        if len(operation.body) or len(operation.query) or len(operation.headers):
            strategies.append(operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=plan.path_parameters,
                                                    headers=plan.headers))
        if plan.path_parameters:
            # Some generated path values too (random ids and slugs: malformed, unknown, someone else's).
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, headers=plan.headers))

        @settings(max_examples=max_examples, derandomize=SEED is None, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing request is reported as sent
                  suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(*strategies))
        def fuzz(case: schemathesis.Case) -> None:
            check(case)

        if SEED is not None:
            fuzz = seed(int(SEED))(fuzz)

        fuzz()


async def _world(http: httpx.AsyncClient, app: Starlette, sessions: async_sessionmaker[AsyncSession],
                 host_token: str) -> dict[tuple[str, str], Planned]:
    """Real things to point the requests at, and how each operation is called."""
    host = auth(host_token)

    async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    product = await ok(await http.post("/api/products", headers=host, json={
        "title": "Aurora Runner", "price_cents": 12900, "currency": "USD",
        "variants": [{"sku": "AR-41", "label": "EU 41", "stock": 500}, {"sku": "AR-42", "label": "EU 42", "stock": 500}],
    }), 201)
    live = (await ok(await http.post("/api/shows", headers=host, json={"title": "Drop night"}), 201))["slug"]
    await ok(await http.post(f"/api/shows/{live}/start", headers=host))
    await ok(await http.put(f"/api/shows/{live}/pin", headers=host, json={"product_id": product["id"]}))
    offer = {"product_id": product["id"], "price_cents": 9900, "duration_s": 3600, "per_customer_limit": 1000}
    await ok(await http.post(f"/api/shows/{live}/offers", headers=host, json=offer), 201)
    # Offers on one product may not overlap (409 offer_overlaps): the one the DELETE ends is another product's.
    other = await ok(await http.post("/api/products", headers=host, json={
        "title": "Aurora Trail", "price_cents": 14900, "currency": "USD",
        "variants": [{"sku": "AT-41", "label": "EU 41", "stock": 50}],
    }), 201)
    doomed_offer = (await ok(await http.post(f"/api/shows/{live}/offers", headers=host,
                                             json={**offer, "product_id": other["id"]}), 201))["id"]
    # And the planned POST offers a third product, so its first call is a 201 (repeats overlap: 409).
    fresh = await ok(await http.post("/api/products", headers=host, json={
        "title": "Aurora Road", "price_cents": 11900, "currency": "USD",
        "variants": [{"sku": "AD-41", "label": "EU 41", "stock": 50}],
    }), 201)
    scheduled = (await ok(await http.post("/api/shows", headers=host, json={"title": "Next week"}), 201))["slug"]
    # A waiting room an hour ahead, that the buyer below has joined.
    queued = await ok(await http.post("/api/products", headers=host, json={
        "title": "Aurora Drop", "price_cents": 15900, "currency": "USD",
        "variants": [{"sku": "AQ-41", "label": "EU 41", "stock": 30}],
    }), 201)
    queue_offer = (await ok(await http.post(f"/api/shows/{live}/offers", headers=host, json={
        **offer, "product_id": queued["id"], "mode": "queue", "starts_at": now_ms() + 3_600_000}), 201))["id"]

    # An ended, recorded show: what the replay routes serve (as test_replay records one).
    replayed = (await ok(await http.post("/api/shows", headers=host, json={"title": "Last week"}), 201))["slug"]
    await ok(await http.post(f"/api/shows/{replayed}/start", headers=host))
    await ok(await http.put(f"/api/shows/{replayed}/pin", headers=host, json={"product_id": product["id"]}))
    async with sessions() as session:
        show = (await session.execute(select(Show).where(Show.slug == replayed))).scalar_one()
        recording = await add_recording(session, show.id, now_ms() - 60_000)
        await session.commit()
    file = app.state.livedrop.settings.recordings_dir / recording.file
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(400))  # never decoded
    await ok(await http.post(f"/api/shows/{replayed}/end", headers=host))

    created = await ok(await http.post("/api/buyers", json={"name": "Kim"}), 201)
    buyer = auth(created["token"])
    await ok(await http.post(f"/api/shows/{live}/offers/{queue_offer}/queue", headers=buyer, json={}), 201)
    # Draws (docs/draws.md): one the buyer entered, that stays open; another the planned POST .../draw runs.
    draw_offers = []
    for title, sku in (("Aurora Draw", "AW-41"), ("Aurora Drawn", "AX-41")):
        drawn_product = await ok(await http.post("/api/products", headers=host, json={
            "title": title, "price_cents": 15900, "currency": "USD", "variants": [{"sku": sku, "label": "EU 41", "stock": 5}]}), 201)
        draw_offers.append((await ok(await http.post(f"/api/shows/{live}/offers", headers=host, json={
            "product_id": drawn_product["id"], "price_cents": 9900, "mode": "draw",
            "entries_close_at": now_ms() + 3_600_000}), 201))["id"])
    draw_offer, drawn_offer = draw_offers
    entry = await ok(await http.post(f"/api/shows/{live}/offers/{draw_offer}/entries", headers=buyer,
                                     json={"sku": "AW-41", "email": "kim@example.com"}), 201)
    entrant = auth((await ok(await http.post("/api/buyers", json={}), 201))["token"])

    async def new_hold() -> str:
        held = await ok(await http.post(f"/api/shows/{live}/holds", json={"sku": "AR-41", "quantity": 1},
                                        headers={**buyer, "Idempotency-Key": uuid.uuid4().hex}), 201)
        return str(held["hold_id"])

    to_check_out, to_release, bought = await new_hold(), await new_hold(), await new_hold()
    for_bag = await new_hold()  # paid for through the bag's one checkout
    order = await ok(await http.post(f"/api/holds/{bought}/checkout", headers=buyer,
                                     json=checkout_body(email="kim@example.com")), 201)
    # Orders for the order's life: one to ship, one shipped to deliver, one of 2 units to refund, one to cancel.
    async def new_order(email: str, quantity: int = 1) -> dict[str, Any]:
        held = await ok(await http.post(f"/api/shows/{live}/holds", json={"sku": "AR-41", "quantity": quantity},
                                        headers={**buyer, "Idempotency-Key": uuid.uuid4().hex}), 201)
        return await ok(await http.post(f"/api/holds/{held['hold_id']}/checkout", headers=buyer,
                                        json=checkout_body(email=email)), 201)

    to_ship, to_deliver = await new_order("ship@example.com"), await new_order("deliver@example.com")
    to_refund, to_cancel = await new_order("refund@example.com", 2), await new_order("cancel@example.com")
    in_csv = await new_order("csv@example.com")
    await ok(await http.post(f"/api/orders/{to_deliver['order_id']}/fulfil", headers=host, json={"carrier": "UPS"}))
    hub = app.state.livedrop.hub
    view = await hub.views.get(live)
    message = await hub.chat.post(view.id, created["buyer_id"], "is EU 42 true to size?")

    # Back in stock and reminders (docs/notify.md): sold-out sizes, an entry to leave and one the
    # host's restock has made an offer to decline; three scheduled shows to remind of.
    back = await ok(await http.post("/api/products", headers=host, json={
        "title": "Aurora Back", "price_cents": 9900, "currency": "USD",
        "variants": [{"sku": f"BK-{n}", "label": f"EU {n}", "stock": 0} for n in (41, 42, 43)],
    }), 201)
    back_41, back_42, back_43 = (v["id"] for v in back["variants"])
    to_leave = await ok(await http.post(f"/api/shows/{live}/waitlist", headers=buyer, json={"variant_id": back_42}), 201)
    to_decline = await ok(await http.post(f"/api/shows/{live}/waitlist", headers=buyer, json={"variant_id": back_43}), 201)
    await ok(await http.patch(f"/api/products/{back['id']}", headers=host, json={"variants": [{"sku": "BK-43", "stock": 1}]}))
    later = now_ms() + 2 * 86_400_000
    reminded = [(await ok(await http.post("/api/shows", headers=host, json={"title": f"Soon {n}", "scheduled_at": later}), 201))["slug"]
                for n in range(3)]
    for slug_ in reminded[1:]:
        await ok(await http.post(f"/api/shows/{slug_}/reminders", headers=buyer, json={"email": "kim@example.com"}), 201)

    shop = {"shop_domain": "fuzz-shop.myshopify.com", "secret": "shpss_0123456789abcdef0123456789abcdef"}
    await ok(await http.put("/api/shop/shopify", headers=host, json=shop))  # what GET and DELETE find
    # Webhook endpoints (docs/webhooks.md), written straight to SQL: the app refuses loopback URLs
    # here (no LIVEDROP_WEBHOOK_ALLOW_PRIVATE), so nothing is ever sent, and the fuzz makes no DNS lookup
    # (a random string is not an https:// URL).
    from inventory.deliveries import OutboxDelivery, WebhookEndpoint
    from inventory.outbox import OutboxEvent
    from web.auth import host_for_token
    async with sessions() as session, session.begin():
        owner = await host_for_token(session, host_token)
        assert owner is not None
        hooks = [WebhookEndpoint(host_id=owner.id, url="http://127.0.0.1:9/hook", events=["order.paid"],
                                 secret="whsec_" + "A" * 44, created_at=now_ms()) for _ in range(2)]
        session.add_all(hooks)
        await session.flush()
        some_event = (await session.execute(select(OutboxEvent.id).limit(1))).scalar_one()
        hook_delivery = OutboxDelivery(event_id=some_event, channel=f"webhook:{hooks[0].id}", status="failed", attempts=1,
                                       next_attempt_at=now_ms(), created_at=now_ms())
        session.add(hook_delivery)
        await session.flush()  # the delivery's id
        hook_ids, hook_delivery_id = [h.id for h in hooks], hook_delivery.id

    # Private threads and data rights (docs/threads.md, docs/privacy.md): Kim's thread with the host
    # (asked about the pinned product), Sam's (the one closed, reopened, blocked), Erin (erased).
    thread = (await ok(await http.post("/api/threads", headers=buyer, json={
        "show_slug": live, "product_id": product["id"], "text": "Does it run small?"}), 201))["thread"]["id"]
    sam = await ok(await http.post("/api/buyers", json={"name": "Sam"}), 201)
    sams = (await ok(await http.post("/api/threads", headers=auth(sam["token"]), json={
        "show_slug": live, "text": "Hello?"}), 201))["thread"]["id"]
    erin = await ok(await http.post("/api/buyers", json={"name": "Erin"}), 201)
    await ok(await http.post("/api/threads", headers=auth(erin["token"]), json={"show_slug": live, "text": "Forget me later"}), 201)

    slug = {"slug": live}
    csv = "title,sku,size,stock,price,currency\nCourt Classic,CC-9,US 9,12,89.50,USD\n"
    return {
        ("GET", "/healthz"): Planned(happy=({},)),
        ("GET", "/readyz"): Planned(happy=({},)),
        ("GET", "/metrics"): Planned(happy=({},)),  # the fuzz calls from loopback, which may read it
        ("POST", "/api/products"): Planned(headers=host, happy=({"body": {
            "title": "Court Classic", "price_cents": 8950, "currency": "usd", "variants": [{"sku": "CC-1", "label": "US 1", "stock": 3}],
        }},)),
        ("GET", "/api/products"): Planned(headers=host, happy=({},)),
        ("PATCH", "/api/products/{product_id}"): Planned(
            {"product_id": str(product["id"])}, host,
            ({"body": {"title": "Aurora Runner II", "variants": [{"sku": "AR-42", "stock": 600}]}},),
        ),
        ("POST", "/api/products/import"): Planned(headers=host, happy=({"body": csv, "media_type": "text/csv"},)),
        ("POST", "/api/shows"): Planned(headers=host, happy=({"body": {"title": "Sneaker Sunday"}},)),
        ("GET", "/api/shows"): Planned(headers=host, happy=({},)),
        ("PATCH", "/api/shows/{slug}"): Planned(slug, host, ({"body": {"title": "Drop night!"}},)),
        ("GET", "/api/shows/{slug}"): Planned(slug, happy=({},)),
        ("POST", "/api/shows/{slug}/start"): Planned({"slug": scheduled}, host, ({},)),
        ("POST", "/api/shows/{slug}/end"): Planned({"slug": scheduled}, host, ({},)),
        ("PUT", "/api/shows/{slug}/pin"): Planned(slug, host, ({"body": {"product_id": product["id"]}},)),
        ("DELETE", "/api/shows/{slug}/pin"): Planned(slug, host, ({},)),
        ("POST", "/api/shows/{slug}/offers"): Planned(slug, host, ({"body": {**offer, "product_id": fresh["id"]}},)),
        ("DELETE", "/api/shows/{slug}/offers/{offer_id}"): Planned({**slug, "offer_id": str(doomed_offer)}, host, ({},)),
        ("PATCH", "/api/shows/{slug}/offers/{offer_id}"): Planned(
            {**slug, "offer_id": str(queue_offer)}, host, ({"body": {"admit_per_minute": 600}},)),
        # Joined above already: the same entry again (200).
        ("POST", "/api/shows/{slug}/offers/{offer_id}/queue"): Planned({**slug, "offer_id": str(queue_offer)}, buyer, ({"body": {}},)),
        ("GET", "/api/shows/{slug}/offers/{offer_id}/queue/me"): Planned({**slug, "offer_id": str(queue_offer)}, buyer, ({},)),
        ("GET", "/api/shows/{slug}/offers/{offer_id}/queue"): Planned({**slug, "offer_id": str(queue_offer)}, host, ({},)),
        ("GET", "/api/shows/{slug}/offers/{offer_id}/audit"): Planned({**slug, "offer_id": str(queue_offer)}, happy=({},)),
        ("GET", "/api/shows/{slug}/offers/{offer_id}/queue/challenge"): Planned({**slug, "offer_id": str(queue_offer)}, buyer, ({},)),
        ("POST", "/api/shows/{slug}/offers/{offer_id}/entries"): Planned(
            {**slug, "offer_id": str(draw_offer)}, entrant, ({"body": {"sku": "AW-41", "email": "lee@example.com"}},)),
        ("GET", "/api/shows/{slug}/offers/{offer_id}/entries/me"): Planned({**slug, "offer_id": str(draw_offer)}, buyer, ({},)),
        ("GET", "/api/shows/{slug}/offers/{offer_id}/entries"): Planned({**slug, "offer_id": str(draw_offer)}, host, ({},)),
        ("POST", "/api/shows/{slug}/offers/{offer_id}/entries/{entry_id}/void"): Planned(
            {**slug, "offer_id": str(draw_offer), "entry_id": entry["entry_id"]}, host, ({"body": {"reason": "bot"}},)),
        ("POST", "/api/shows/{slug}/offers/{offer_id}/draw"): Planned({**slug, "offer_id": str(drawn_offer)}, host, ({},)),
        ("DELETE", "/api/shows/{slug}/chat/{message_id}"): Planned({**slug, "message_id": str(message.id)}, host, ({},)),
        # The bag and the host's voice in chat (docs/bag.md, docs/host-chat.md): fuzzed with the
        # host's and the buyer's credentials (no 500, every answer as documented).
        ("GET", "/api/shows/{slug}/bag"): Planned(slug, host, ({},)),
        ("PUT", "/api/shows/{slug}/bag"): Planned(slug, host, ({"body": {"product_ids": [product["id"]]}},)),
        ("POST", "/api/shows/{slug}/bag/checkout"): Planned(slug, buyer, (
            {"body": {**checkout_body(email="lee@example.com", card=CARD_PAYS), "hold_ids": [for_bag]}},)),
        # Stripe only (409 payment_not_in_browser here): fuzzed with the buyer's credentials for no 500.
        ("POST", "/api/shows/{slug}/bag/payment"): Planned(slug, buyer),
        ("POST", "/api/shows/{slug}/chat"): Planned(slug, host, ({"body": {"text": "Welcome, everyone!"}},)),
        ("PUT", "/api/shows/{slug}/pinned-message"): Planned(slug, host),
        ("DELETE", "/api/shows/{slug}/pinned-message"): Planned(slug, host, ({},)),
        ("GET", "/api/shows/{slug}/chat.csv"): Planned({"slug": replayed}, host, ({},)),  # an ended show
        ("GET", "/api/shows/{slug}/moderators"): Planned(slug, host, ({},)),
        ("POST", "/api/shows/{slug}/moderators"): Planned(slug, host, ({"body": {"email": "mod@example.com"}},)),
        ("DELETE", "/api/shows/{slug}/moderators/{email}"): Planned({**slug, "email": "mod@example.com"}, host),
        ("POST", "/api/shows/{slug}/mutes"): Planned(slug, host, ({"body": {"buyer_id": created["buyer_id"]}},)),
        ("GET", "/api/shows/{slug}/orders"): Planned(slug, host, ({}, {"query": {"format": "csv"}})),
        ("GET", "/api/shows/{slug}/stats"): Planned(slug, host, ({},)),
        ("GET", "/api/shows/{slug}/replay"): Planned({"slug": replayed}, happy=({},)),
        ("POST", "/api/shows/{slug}/replay/presence"): Planned({"slug": replayed}, happy=({"body": {"viewer_id": "viewer-0001"}},)),
        ("POST", "/api/shows/{slug}/waitlist"): Planned(slug, buyer, ({"body": {"variant_id": back_41, "email": "kim@example.com"}},)),
        ("GET", "/api/shows/{slug}/waitlist/me"): Planned(slug, buyer, ({},)),
        ("POST", "/api/shows/{slug}/waitlist/offers/{entry_id}/decline"): Planned({**slug, "entry_id": to_decline["id"]}, buyer, ({},)),
        ("DELETE", "/api/shows/{slug}/waitlist/{entry_id}"): Planned({**slug, "entry_id": to_leave["id"]}, buyer, ({},)),
        ("GET", "/api/waitlist"): Planned(headers=host, happy=({},)),
        ("POST", "/api/shows/{slug}/reminders"): Planned({"slug": reminded[0]}, buyer, ({"body": {"email": "kim@example.com"}},)),
        ("GET", "/api/shows/{slug}/reminders/me"): Planned({"slug": reminded[1]}, buyer, ({},)),
        ("DELETE", "/api/shows/{slug}/reminders"): Planned({"slug": reminded[2]}, buyer, ({},)),
        ("POST", "/api/buyers"): Planned(happy=({"body": {}},)),
        ("GET", "/api/buyers/me"): Planned(headers=buyer, happy=({},)),
        ("PATCH", "/api/buyers/me"): Planned(headers=buyer, happy=({"body": {"name": "Kim L."}},)),
        ("POST", "/api/buyers/orders-link"): Planned(happy=({"body": {"email": "kim@example.com"}},)),
        # A new hold, and the same press again (the same key): the same hold, answered from memory.
        ("POST", "/api/shows/{slug}/holds"): Planned(slug, buyer, tuple(
            {"body": {"sku": "AR-42", "quantity": 2}, "headers": {"Idempotency-Key": press}} for press in [uuid.uuid4().hex] * 2
        )),
        ("POST", "/api/holds/{hold_id}/checkout"): Planned(
            {"hold_id": to_check_out}, buyer,
            # The first pays (201); the same call again answers the same order (200).
            tuple({"body": checkout_body(email="lee@example.com", card=CARD_PAYS)} for _ in range(2)),
        ),
        ("DELETE", "/api/holds/{hold_id}"): Planned({"hold_id": to_release}, buyer, ({},)),
        ("POST", "/api/holds/{hold_id}/payment"): Planned({"hold_id": to_check_out}, buyer),
        ("POST", "/webhooks/stripe"): Planned(),
        ("PUT", "/api/shop/shopify"): Planned(headers=host, happy=({"body": shop},)),
        ("GET", "/api/shop/shopify"): Planned(headers=host, happy=({},)),
        ("DELETE", "/api/shop/shopify"): Planned(headers=host, happy=({},)),
        ("POST", "/webhooks/shopify"): Planned(),
        # The buyer's own order, and the same as the host of its show.
        ("GET", "/api/orders/{order_id}"): Planned({"order_id": order["order_id"]}, buyer, ({}, {"headers": host})),
        ("POST", "/api/threads"): Planned(headers=buyer, happy=({"body": {"order_id": order["order_id"], "text": "Where is it?"}},)),
        ("GET", "/api/threads"): Planned(headers=buyer, happy=({}, {"query": {"show_slug": live}})),
        ("GET", "/api/threads/{thread_id}"): Planned({"thread_id": thread}, buyer, ({},)),
        ("POST", "/api/threads/{thread_id}/messages"): Planned({"thread_id": thread}, buyer, ({"body": {"text": "Thanks!"}},)),
        ("GET", "/api/inbox"): Planned(headers=host, happy=({},)),
        ("POST", "/api/inbox"): Planned(headers=host, happy=({"body": {"order_id": order["order_id"], "text": "Shipped today."}},)),
        ("GET", "/api/inbox/figures"): Planned(headers=host, happy=({},)),
        ("GET", "/api/inbox/{thread_id}"): Planned({"thread_id": thread}, host, ({},)),
        ("POST", "/api/inbox/{thread_id}/messages"): Planned({"thread_id": thread}, host, ({"body": {
            "text": "Here it is.", "order_id": order["order_id"]}},)),
        ("POST", "/api/inbox/{thread_id}/state"): Planned({"thread_id": sams}, host, ({"body": {"action": "close"}},)),
        ("GET", "/api/inbox/{thread_id}/buyer"): Planned({"thread_id": thread}, host, ({},)),
        ("POST", "/api/inbox/{thread_id}/hold-offers"): Planned({"thread_id": thread}, host, ({"body": {"sku": "AD-41", "hold_s": 600}},)),
        ("POST", "/api/inbox/{thread_id}/order-link"): Planned({"thread_id": thread}, host, ({"body": {"order_id": order["order_id"]}},)),
        ("GET", "/api/buyers/{buyer_id}/data"): Planned({"buyer_id": "me"}, buyer, ({}, {"path_parameters": {"buyer_id": created["buyer_id"]},
                                                                                          "headers": host})),
        ("POST", "/api/buyers/{buyer_id}/erase"): Planned({"buyer_id": "me"}, auth(erin["token"]), ({},)),
        # Shipping and tax (docs/shipping.md): the host's default, the show's own, and the public views.
        ("GET", "/api/shipping"): Planned(headers=host, happy=({},)),
        ("PUT", "/api/shipping"): Planned(headers=host, happy=({"body": {"kind": "flat", "flat_cents": 500, "free_over_cents": 10000}},)),
        ("GET", "/api/shows/{slug}/shipping"): Planned(slug, happy=({},)),
        ("PUT", "/api/shows/{slug}/shipping"): Planned(slug, host, ({"body": {
            "kind": "per_country", "countries": {"US": 700, "CA": 1500, "DE": 900}, "tax_rate_bp": 2000}},)),
        ("DELETE", "/api/shows/{slug}/shipping"): Planned({"slug": scheduled}, host, ({},)),
        ("GET", "/api/countries"): Planned(happy=({},)),
        ("POST", "/api/orders/{order_id}/fulfil"): Planned(
            {"order_id": to_ship["order_id"]}, host, ({"body": {"carrier": "UPS", "tracking_number": "1Z999AA10123456784"}},)),
        ("POST", "/api/orders/{order_id}/deliver"): Planned({"order_id": to_deliver["order_id"]}, host, ({"body": {}},)),
        # One unit of two back on sale; the same click again (its Idempotency-Key) answers the same.
        ("POST", "/api/orders/{order_id}/refund"): Planned({"order_id": to_refund["order_id"]}, host, tuple(
            {"body": {"lines": [{"line_id": to_refund["lines"][0]["line_id"], "quantity": 1}], "restock": True},
             "headers": {"Idempotency-Key": key}} for key in [uuid.uuid4().hex] * 2
        )),
        ("POST", "/api/orders/{order_id}/cancel"): Planned({"order_id": to_cancel["order_id"]}, host, ({"body": {}},)),
        ("POST", "/api/orders/shipments"): Planned(headers=host, happy=({
            "body": f"number,carrier,tracking\n{in_csv['number']},DHL,JD014600006281234567\nNOPE0000,UPS,1Z\n",
            "media_type": "text/csv"},)),
        # A public address literal (no lookup), for an event the fuzz never causes: nothing is sent to it.
        ("POST", "/api/webhooks/endpoints"): Planned(headers=host, happy=(
            {"body": {"url": "https://93.184.215.14/hooks", "events": ["waitlist.offered"]}},)),
        ("GET", "/api/webhooks/endpoints"): Planned(headers=host, happy=({},)),
        ("GET", "/api/webhooks/endpoints/{endpoint_id}/deliveries"): Planned({"endpoint_id": str(hook_ids[0])}, host, ({},)),
        ("DELETE", "/api/webhooks/endpoints/{endpoint_id}"): Planned({"endpoint_id": str(hook_ids[1])}, host, ({},)),
        ("POST", "/api/webhooks/deliveries/{delivery_id}/redeliver"): Planned({"delivery_id": str(hook_delivery_id)}, host, ({},)),
        ("POST", "/api/media/auth"): Planned(happy=({"body": {"action": "read", "path": live, "ip": "127.0.0.1"}},)),
        ("POST", "/whip/{slug}"): Planned(slug, host),
        ("DELETE", "/whip/{slug}/{session}"): Planned({**slug, "session": "0" * 32}, host),
        ("POST", "/whep/{slug}"): Planned(slug),
        ("GET", "/whep/{slug}"): Planned(slug),
        ("DELETE", "/whep/{slug}/{session}"): Planned({**slug, "session": "0" * 32}),
    }


class Fuzz(Protocol):
    async def __call__(self, plans: dict[tuple[str, str], Planned], max_examples: int = MAX_EXAMPLES,
                       only: set[tuple[str, str]] | None = None) -> Report: ...


@pytest.fixture
async def fuzz(app: Starlette) -> AsyncIterator[Fuzz]:
    """``await fuzz(plans, max_examples)``: schemathesis over the app's own document; a Report."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        session = requests.Session()
        session.mount("http://", _LoopAdapter(http, asyncio.get_running_loop()))

        async def run(plans: dict[tuple[str, str], Planned], max_examples: int = MAX_EXAMPLES,
                      only: set[tuple[str, str]] | None = None) -> Report:
            document = (await http.get("/api/openapi.json")).json()
            schema: schemathesis.BaseSchema = schemathesis.openapi.from_dict(document, config=_config(document))
            if only is not None:
                schema = schema.include(func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in only)
            report = Report()
            await asyncio.to_thread(_run, schema, plans, session, max_examples, report)
            return report

        yield run
        session.close()


async def test_schemathesis_finds_no_server_error_and_every_answer_matches_the_document(
    app: Starlette, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], host_token: str, fuzz: Fuzz,
) -> None:
    plans = await _world(client, app, sessions, host_token)
    started = time.monotonic()
    report = await fuzz(plans)
    elapsed = time.monotonic() - started
    # Shown with the failure (or under -s): what each operation answered.
    print(f"schemathesis: {report.calls} calls over {len(report.statuses)} operations in {elapsed:.1f}s")
    for label, statuses in sorted(report.statuses.items()):
        print(f"  {label}: {sorted(statuses)}")
    assert not report.failures, f"{len(report.failures)} failures in {report.calls} calls:\n\n" + "\n\n".join(report.failed())

    # A new route needs a plan here (real path values, credentials, a request that succeeds).
    planned = {f"{method} {path}" for method, path in plans}
    assert set(report.statuses) == planned, f"operations without a plan: {sorted(set(report.statuses) - planned)}"
    never_succeeded = sorted(
        label for label, statuses in report.statuses.items()
        if not any(200 <= s < 300 for s in statuses) and tuple(label.split(" ", 1)) not in NO_SUCCESS_EXPECTED
    )
    assert not never_succeeded, f"never answered 2xx (stale fixtures?): {never_succeeded}"


async def test_a_server_error_or_a_drifted_body_is_caught(
    app: Starlette, client: httpx.AsyncClient, host_token: str, fuzz: Fuzz, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The harness can fail: a route that crashes, and one whose body no longer matches its schema."""
    import web.routes.products as products_routes

    only = {("GET", "/api/products"), ("POST", "/api/products")}

    def plans(sku: str) -> dict[tuple[str, str], Planned]:
        """Creates a product (its SKU unused so far), then lists the host's products."""
        return {
            ("GET", "/api/products"): Planned(headers=auth(host_token), happy=({},)),
            ("POST", "/api/products"): Planned(headers=auth(host_token), happy=({"body": {
                "title": "Court Classic", "price_cents": 8950, "currency": "USD", "variants": [{"sku": sku, "label": "US 1", "stock": 3}],
            }},)),
        }

    def crash(product: Product) -> dict[str, Any]:
        raise RuntimeError("deliberate")

    monkeypatch.setattr(products_routes, "product_json", crash)
    report = await fuzz(plans("CC-1"), max_examples=3, only=only)
    crashed = {label for label, failure in report.failures if failure.endswith(" 500")}
    assert crashed == {"GET /api/products", "POST /api/products"}, report.failed()

    from inventory.catalog import product_json

    monkeypatch.setattr(products_routes, "product_json", lambda product: {**product_json(product), "id": str(product.id)})
    report = await fuzz(plans("CC-2"), max_examples=3, only=only)
    drifted = {label for label, failure in report.failures}
    assert drifted == {"GET /api/products", "POST /api/products"}, report.failed()
    assert not any(failure.endswith(" 500") for _, failure in report.failures), report.failed()
