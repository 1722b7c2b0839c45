"""Shipping and tax settings: a host's default profile, a show's own, the profile a show's buyers
see, and the country list the checkout sheet offers (inventory.shipping; docs/shipping.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inventory.countries import COUNTRIES, REGIONS
from inventory.shipping import MAX_COUNTRIES, MAX_TAX_RATE_BP, ShippingProfile, clear_show_profile, profile_for, set_profile
from live.models import Show
from live.shows import show_by_slug
from web.auth import current_host
from web.bodies import parse
from web.errors import ApiError
from web.livedrop import livedrop
from web.openapi import Operation, api, json_content

_CENTS = Annotated[int, Field(ge=0, le=10**9, strict=True)]


class ShippingProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal["none", "flat", "per_country"] = Field("none", description=(
        "none: no shipping charge, ships anywhere; flat: flat_cents per order, ships anywhere; per_country: only "
        "the listed countries, each at its price"))
    flat_cents: _CENTS = 0
    free_over_cents: _CENTS | None = Field(None, description="Orders whose items come to at least this ship free (flat, per_country)")
    countries: dict[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")], _CENTS] = Field(
        default_factory=dict, max_length=MAX_COUNTRIES, description="per_country: ISO 3166-1 alpha-2 -> shipping in minor units")
    tax_rate_bp: Annotated[int, Field(ge=0, le=MAX_TAX_RATE_BP, strict=True)] = Field(0, description=(
        "Prices (and shipping) include tax at this rate, in basis points (2000 = 20 %); 0: no tax"))
    tax_label: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z .-]{0,15}$")] = "VAT"

    def profile(self) -> ShippingProfile:
        return ShippingProfile(kind=self.kind, flat_cents=self.flat_cents, free_over_cents=self.free_over_cents,
                               countries={code.upper(): cents for code, cents in self.countries.items()},
                               tax_rate_bp=self.tax_rate_bp, tax_label=self.tax_label)


def _answer(profile: ShippingProfile, source: str) -> JSONResponse:
    return JSONResponse({**profile.to_json(), "source": source})


async def _own_show(request: Request, host_id: int) -> Show:
    async with livedrop(request).services.sessions() as session:
        show = await show_by_slug(session, request.path_params["slug"])
    if show is None or show.host_id != host_id:
        raise ApiError(404, "not_found", "no such show")
    return show


async def get_host_profile(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    profile, source = await profile_for(root.services.sessions, host.id, None)
    return _answer(profile, source)


async def put_host_profile(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    profile = (await parse(request, ShippingProfileIn)).profile()
    await set_profile(root.services.sessions, host.id, None, profile)
    return _answer(profile, "host")


async def get_show_profile(request: Request) -> JSONResponse:
    """Public: what a show's buyers are charged for shipping (the card and the checkout sheet)."""
    root = livedrop(request)
    async with root.services.sessions() as session:
        show = await show_by_slug(session, request.path_params["slug"])
    if show is None:
        raise ApiError(404, "not_found", "no such show")
    profile, source = await profile_for(root.services.sessions, show.host_id, show.id)
    return _answer(profile, source)


async def put_show_profile(request: Request) -> JSONResponse:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    show = await _own_show(request, host.id)
    profile = (await parse(request, ShippingProfileIn)).profile()
    await set_profile(root.services.sessions, host.id, show.id, profile)
    return _answer(profile, "show")


async def delete_show_profile(request: Request) -> Response:
    root = livedrop(request)
    host = await current_host(request, root.services.sessions, request.method)
    show = await _own_show(request, host.id)
    await clear_show_profile(root.services.sessions, host.id, show.id)
    return Response(status_code=204)


_COUNTRY_LIST: dict[str, Any] = {
    "countries": [{"code": code, "name": name} for code, name in sorted(COUNTRIES.items(), key=lambda item: item[1])],
    "regions": {country: [{"code": code, "name": name} for code, name in regions.items()] for country, regions in REGIONS.items()},
}


async def countries(request: Request) -> JSONResponse:
    return JSONResponse(_COUNTRY_LIST, headers={"Cache-Control": "public, max-age=86400"})


_PROFILE = {200: {"content": json_content("ShippingProfile")}}
_PROFILE_ERRORS = ("malformed_json", "invalid_request", "unauthorized")

routes = [
    api(get_host_profile, Operation("GET", "/api/shipping", "The host's default shipping and tax profile.", "host",
              answers={200: "The profile, with source host (set) or default (never set: no shipping charge, no tax)."},
              errors=("unauthorized",), responses=_PROFILE)),
    api(put_host_profile, Operation("PUT", "/api/shipping", "Set the host's default shipping and tax profile (shows without their own use it).",
              "host", ShippingProfileIn, answers={200: "The profile."}, errors=_PROFILE_ERRORS, responses=_PROFILE)),
    api(get_show_profile, Operation("GET", "/api/shows/{slug}/shipping", "The shipping and tax profile a show's buyers are charged by.",
              answers={200: "The profile, with source: show (its own), host (the host's default) or default."},
              errors=("not_found",), responses=_PROFILE)),
    api(put_show_profile, Operation("PUT", "/api/shows/{slug}/shipping", "Give a show its own shipping and tax profile.", "host",
              ShippingProfileIn, answers={200: "The profile."}, errors=(*_PROFILE_ERRORS, "not_found"), responses=_PROFILE)),
    api(delete_show_profile, Operation("DELETE", "/api/shows/{slug}/shipping", "The show goes back to the host's default profile.", "host",
              answers={204: "Done (also when it had none of its own)."}, errors=("unauthorized", "not_found"))),
    api(countries, Operation("GET", "/api/countries", "The countries an address may be in (ISO 3166-1), and the states and "
                             "provinces US and CA addresses need (ISO 3166-2).",
              answers={200: "{countries: [{code, name}], regions: {US: [{code, name}], CA: [...]}}"},
              responses={200: {"content": {"application/json": {"schema": {"type": "object", "required": ["countries", "regions"],
                  "properties": {"countries": {"type": "array"}, "regions": {"type": "object"}}}}}}})),
]
