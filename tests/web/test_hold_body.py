"""The buy press's body: the route's quick check (hold_request) must accept exactly what HoldIn
accepts, with the same values, and leave every refusal (and its wording) to HoldIn."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from inventory.stock import MAX_QUANTITY
from web.bodies import validate
from web.errors import ApiError
from web.routes.holds import HoldIn, hold_request

skus = st.one_of(
    st.text(max_size=70),
    st.sampled_from(["BIG-1", " BIG-1", "BIG-1 ", "\tX", "X\u2003", "", " ", "x" * 64, "x" * 65]),
)
quantities = st.one_of(
    st.integers(min_value=-2, max_value=MAX_QUANTITY + 2),
    st.booleans(),
    st.floats(allow_nan=False, max_value=1e6, min_value=-1e6),
    st.text(max_size=3),
    st.none(),
)
passes = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["1.ab.2.3.sig", " p", "p ", "", "x" * 160, "x" * 161]),
    st.none(),
    st.integers(),
)
bodies = st.one_of(
    st.fixed_dictionaries({"sku": skus}),
    st.fixed_dictionaries({"sku": skus, "pass": passes}),
    st.fixed_dictionaries({"sku": skus, "quantity": quantities, "pass": passes}),
    st.fixed_dictionaries({"sku": skus, "quantity": quantities}),
    st.fixed_dictionaries({"sku": skus, "quantity": quantities, "extra": st.integers()}),
    st.fixed_dictionaries({"quantity": quantities}),
    st.lists(st.integers(), max_size=2),
    st.text(max_size=5),
    st.none(),
    st.integers(),
)


def by_model(data: Any) -> tuple[str, int, str | None] | str:
    try:
        body = validate(HoldIn, data)
    except ApiError as exc:
        return f"{exc.status} {exc.code}: {exc.message}"
    return body.sku, body.quantity, body.pass_


def by_route(data: Any) -> tuple[str, int, str | None] | str:
    try:
        return hold_request(data)
    except ApiError as exc:
        return f"{exc.status} {exc.code}: {exc.message}"


@settings(max_examples=600, deadline=None)
@given(bodies)
@example({"sku": "BIG-1"})
@example({"sku": "BIG-1", "quantity": 1})
@example({"sku": "BIG-1", "quantity": True})
@example({"sku": "BIG-1", "quantity": 1.0})
@example({"sku": " BIG-1 ", "quantity": 2})
@example({"sku": "BIG-1", "quantity": MAX_QUANTITY + 1})
@example({"sku": "BIG-1", "quantity": 0})
@example({"sku": "BIG-1", "pass": "7.abc.1.99.sig"})
@example({"sku": "BIG-1", "pass": None})
@example({"sku": "BIG-1", "pass": " 7.abc "})
def test_the_quick_check_and_the_model_agree(data: Any) -> None:
    assert by_route(data) == by_model(data)


@pytest.mark.parametrize(("data", "expected"), [
    ({"sku": "BIG-1"}, ("BIG-1", 1, None)),
    ({"sku": "BIG-1", "quantity": 3}, ("BIG-1", 3, None)),
    ({"sku": "  BIG-1 "}, ("BIG-1", 1, None)),
    ({"sku": "BIG-1", "pass": "7.abc.1.99.sig"}, ("BIG-1", 1, "7.abc.1.99.sig")),
])
def test_accepted_bodies(data: dict[str, Any], expected: tuple[str, int, str | None]) -> None:
    assert hold_request(data) == expected


@pytest.mark.parametrize(("data", "message"), [
    ({"sku": "BIG-1", "quantity": 0}, "quantity: Input should be greater than or equal to 1"),
    ({"sku": "BIG-1", "quantity": True}, "quantity: Input should be a valid integer"),
    ({"sku": "BIG-1", "colour": "red"}, "colour: unknown field"),
    ({"quantity": 1}, "sku: this field is required"),
    ({"sku": ""}, "sku: String should have at least 1 character"),
])
def test_refused_bodies_are_worded_by_the_model(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError) as refused:
        hold_request(data)
    assert (refused.value.status, refused.value.code, refused.value.message) == (422, "invalid_request", message)
