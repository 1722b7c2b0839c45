"""static/common/pow.js in Debian's Chromium against a real livedrop process: with
LIVEDROP_QUEUE_POW on, solvePow fetches the buyer's challenge and solves it with the vendored
ALTCHA widget, and the payload is one the server accepts for that buyer and offer (and no other);
with it off (the shared server), solvePow answers null."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Host, Server
from tests.browser.test_viewer import expect
from tests.support import LivedropProcess, host_token, livedrop_env
from web.queue_pow import PowInvalid, QueuePow

pytestmark = pytest.mark.browser

MAX_NUMBER = 20_000  # solved in well under a second here; the figures for real values are in docs/waiting-room-pow.md
OFFER = 7

SOLVE = """async (url) => {
  const buyer = await (await fetch("/api/buyers", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"})).json();
  const { solvePow } = await import("/static/common/pow.js");
  return { buyerId: buyer.buyer_id, payload: await solvePow(url) };
}"""


@pytest.fixture(scope="module")
def pow_server(tmp_path_factory: pytest.TempPathFactory, chromium: Any) -> Iterator[tuple[str, dict[str, str]]]:
    env = livedrop_env(tmp_path_factory.mktemp("pow-livedrop"), LIVEDROP_QUEUE_POW=str(MAX_NUMBER),
                       LIVEDROP_BUYERS_PER_IP_PER_MINUTE="100000")
    process = LivedropProcess(["serve", "--host", "127.0.0.1"], env).start()
    try:
        yield process.url, env
    finally:
        process.stop()


def solve_in(chromium: Any, base_url: str, offer_id: int) -> dict[str, Any]:
    context = chromium.new_context(base_url=base_url)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        page.goto("/healthz")  # any page of the server's origin (127.0.0.1: a secure context)
        answer: dict[str, Any] = page.evaluate(SOLVE, f"/api/shows/drop-night/offers/{offer_id}/queue/challenge")
        return answer
    finally:
        context.close()


def test_solve_pow_answers_what_the_server_accepts(chromium: Any, pow_server: tuple[str, dict[str, str]]) -> None:
    url, env = pow_server
    answer = solve_in(chromium, url, OFFER)
    pow_ = QueuePow(env["SECRET_KEY"], MAX_NUMBER)  # what any process of the deployment checks with
    pow_.verify(answer["payload"], answer["buyerId"], OFFER)
    with pytest.raises(PowInvalid):
        pow_.verify(answer["payload"], answer["buyerId"], OFFER + 1)


def test_solve_pow_is_null_when_the_server_asks_none(chromium: Any, server: Server) -> None:
    assert solve_in(chromium, server.url, OFFER)["payload"] is None


def test_a_viewer_joins_a_line_that_asks_for_proof_of_work(chromium: Any, pow_server: tuple[str, dict[str, str]]) -> None:
    """The page's Join: the server answers pow_required, the page solves the challenge and joins
    with the answer; the buyer is in line, once."""
    url, env = pow_server
    host = Host(Server(url, host_token(env, "pow-host@example.com", "pow host password"), None))  # type: ignore[arg-type]
    context = chromium.new_context(viewport={"width": 390, "height": 844}, base_url=url)
    context.set_default_timeout(30_000)
    try:
        product = host.product({"40": 3})
        slug = host.live_show(product=product)
        offer = host.offer(slug, product, 9900, starts_at=int(time.time() * 1000) + 120_000, mode="queue")
        page = context.new_page()
        joins: list[int] = []
        page.on("response", lambda r: joins.append(r.status) if r.request.method == "POST" and r.url.endswith("/queue") else None)
        page.goto(f"/s/{slug}")
        page.click("#queue-join")
        expect()(page.locator("#queue-status")).to_have_text("You're in line.")
        assert joins == [403, 201], joins  # pow_required, then the solved answer
        place = page.request.get(f"/api/shows/{slug}/offers/{offer['id']}/queue/me").json()
        assert place["entry_id"] and place["length"] == 1
    finally:
        context.close()
        host.close()
