"""Shipping and tax, simply: a seller's shipping profile, what it charges for an order, and the
tax already included in the price.

A profile belongs to a host (its default) and may be overridden for one show. It is one of:

- ``none``: no shipping charge, shipped anywhere (the default: what livedrop did before);
- ``flat``: ``flat_cents`` per order, shipped anywhere;
- ``per_country``: a short list of countries, each with its own price; a country not listed is
  not shipped to (checkout answers 422 ``not_shipped_to`` before anything is locked or charged).

``free_over_cents`` (flat and per_country): an order whose items come to at least that much ships
free. Amounts are minor units of the product's currency (a host selling in several currencies
gets the same numbers in each; keep one currency per host).

Tax is tax-inclusive or nothing: with ``tax_rate_bp`` (basis points, 2000 = 20 %) the prices,
and shipping, already include the tax, so the total does not change; the receipt shows the part
of it that is tax ("incl. VAT 21.50 USD"). The included tax is ``gross * rate / (1 + rate)``
rounded to the nearest minor unit, halves up, once over the whole order (items plus shipping),
never per line. Integer arithmetic only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from inventory.countries import COUNTRIES, REGIONS
from inventory.errors import InvalidRequest, NotShippedTo
from inventory.models import ShippingProfileRow

NONE, FLAT, PER_COUNTRY = "none", "flat", "per_country"
KINDS = (NONE, FLAT, PER_COUNTRY)
MAX_COUNTRIES = 60  # "a short list"
MAX_TAX_RATE_BP = 10_000  # 100 %
HOST_DEFAULT = 0  # the show_id of a host's own profile

Source = Literal["show", "host", "default"]


class ShippingProfileJson(TypedDict):
    kind: str
    flat_cents: int
    free_over_cents: int | None
    countries: dict[str, int]
    tax_rate_bp: int
    tax_label: str


@dataclass(frozen=True)
class ShippingProfile:
    kind: str = NONE
    flat_cents: int = 0
    free_over_cents: int | None = None
    countries: dict[str, int] = field(default_factory=dict)  # per_country: ISO code -> cents
    tax_rate_bp: int = 0  # prices include tax at this rate; 0: no tax
    tax_label: str = "VAT"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidRequest("kind", f"one of {', '.join(KINDS)}")
        if self.flat_cents < 0:
            raise InvalidRequest("flat_cents", "must be 0 or more")
        if self.free_over_cents is not None and self.free_over_cents < 0:
            raise InvalidRequest("free_over_cents", "must be 0 or more")
        if self.kind == PER_COUNTRY and not self.countries:
            raise InvalidRequest("countries", "list at least one country to ship to")
        if len(self.countries) > MAX_COUNTRIES:
            raise InvalidRequest("countries", f"at most {MAX_COUNTRIES}")
        for code, cents in self.countries.items():
            if code not in COUNTRIES:
                raise InvalidRequest("countries", f"{code!r} is not an ISO 3166-1 alpha-2 country code")
            if cents < 0:
                raise InvalidRequest("countries", f"{code}: must be 0 or more")
        if not 0 <= self.tax_rate_bp <= MAX_TAX_RATE_BP:
            raise InvalidRequest("tax_rate_bp", f"0 to {MAX_TAX_RATE_BP} (basis points: 2000 is 20 %)")
        if not re.fullmatch(r"[A-Za-z][A-Za-z .-]{0,15}", self.tax_label):
            raise InvalidRequest("tax_label", "1 to 16 letters, like VAT or GST")

    def to_json(self) -> ShippingProfileJson:
        return {"kind": self.kind, "flat_cents": self.flat_cents, "free_over_cents": self.free_over_cents,
                "countries": dict(self.countries), "tax_rate_bp": self.tax_rate_bp, "tax_label": self.tax_label}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShippingProfile:
        return cls(kind=str(data.get("kind", NONE)), flat_cents=int(data.get("flat_cents") or 0),
                   free_over_cents=None if data.get("free_over_cents") is None else int(data["free_over_cents"]),
                   countries={str(k).upper(): int(v) for k, v in (data.get("countries") or {}).items()},
                   tax_rate_bp=int(data.get("tax_rate_bp") or 0), tax_label=str(data.get("tax_label") or "VAT"))

    def ships_to(self, country: str) -> bool:
        return self.kind != PER_COUNTRY or country.upper() in self.countries

    def shipping_cents(self, subtotal_cents: int, country: str) -> int:
        """What shipping costs for items worth ``subtotal_cents`` sent to ``country``. Raises
        NotShippedTo when the profile does not ship there."""
        country = country.upper()
        if not self.ships_to(country):
            raise NotShippedTo(f"shipping.country: this seller does not ship to {COUNTRIES.get(country, country)}")
        if self.kind == NONE:
            return 0
        if self.free_over_cents is not None and subtotal_cents >= self.free_over_cents:
            return 0
        return self.flat_cents if self.kind == FLAT else self.countries[country]


@dataclass(frozen=True)
class Quote:
    """An order's money: ``total_cents`` = ``subtotal_cents`` + ``shipping_cents``; ``tax_cents`` is
    included in it (not added)."""

    subtotal_cents: int
    shipping_cents: int
    tax_cents: int
    tax_rate_bp: int
    tax_label: str | None

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.shipping_cents


def included_tax(gross_cents: int, rate_bp: int) -> int:
    """The tax inside a tax-inclusive amount: gross * rate / (1 + rate), to the nearest minor
    unit, halves up. ``included_tax(12000, 2000) == 2000`` (20 % VAT in 120.00 is 20.00)."""
    if rate_bp <= 0 or gross_cents <= 0:
        return 0
    numerator, denominator = gross_cents * rate_bp, 10_000 + rate_bp
    return (2 * numerator + denominator) // (2 * denominator)


def quote(profile: ShippingProfile, subtotal_cents: int, country: str) -> Quote:
    shipping = profile.shipping_cents(subtotal_cents, country)
    tax = included_tax(subtotal_cents + shipping, profile.tax_rate_bp)
    return Quote(subtotal_cents, shipping, tax, profile.tax_rate_bp, profile.tax_label if profile.tax_rate_bp else None)


def check_address(shipping: dict[str, Any]) -> dict[str, Any]:
    """An address's country is an ISO 3166-1 alpha-2 code, upper-cased; US and CA addresses have a
    ``region`` (state or province) from ISO 3166-2, upper-cased; elsewhere the region is free
    text. Returns the address as it is kept. InvalidRequest names the field."""
    address = dict(shipping)
    country = str(address.get("country", "")).upper()
    if country not in COUNTRIES:
        raise InvalidRequest("shipping.country", "not an ISO 3166-1 country code (two letters, like US or DE)")
    address["country"] = country
    regions = REGIONS.get(country)
    if regions is not None:
        region = str(address.get("region") or "").upper()
        if not region:
            raise InvalidRequest("shipping.region", f"required for {COUNTRIES[country]}: the {'state' if country == 'US' else 'province'} code")
        if region not in regions:
            raise InvalidRequest("shipping.region", f"not a {COUNTRIES[country]} {'state' if country == 'US' else 'province'} code")
        address["region"] = region
    return address


# -- storage ---------------------------------------------------------------------------------------


async def profile_for(sessions: async_sessionmaker, host_id: int, show_id: int | None) -> tuple[ShippingProfile, Source]:
    """The profile that applies to a sale of ``host_id`` in ``show_id``: the show's own, else the
    host's default, else the built-in one (no shipping charge, no tax)."""
    wanted = [HOST_DEFAULT] if not show_id else [show_id, HOST_DEFAULT]
    async with sessions() as session:
        rows = {row.show_id: row.profile for row in (await session.execute(
            select(ShippingProfileRow).where(ShippingProfileRow.host_id == host_id, ShippingProfileRow.show_id.in_(wanted))
        )).scalars()}
    if show_id and show_id in rows:
        return ShippingProfile.from_json(rows[show_id]), "show"
    if HOST_DEFAULT in rows:
        return ShippingProfile.from_json(rows[HOST_DEFAULT]), "host"
    return ShippingProfile(), "default"


async def set_profile(sessions: async_sessionmaker, host_id: int, show_id: int | None, profile: ShippingProfile) -> None:
    """Set the host's default (``show_id`` None) or a show's own profile."""
    key = show_id or HOST_DEFAULT
    for _ in range(3):
        async with sessions() as session:
            row = (await session.execute(select(ShippingProfileRow).where(
                ShippingProfileRow.host_id == host_id, ShippingProfileRow.show_id == key))).scalar_one_or_none()
            if row is None:
                session.add(ShippingProfileRow(host_id=host_id, show_id=key, profile=dict(profile.to_json())))
            else:
                row.profile = dict(profile.to_json())
            try:
                await session.commit()
                return
            except IntegrityError:  # two first writes at once: the second updates
                await session.rollback()
    raise RuntimeError("could not store the shipping profile")


async def clear_show_profile(sessions: async_sessionmaker, host_id: int, show_id: int) -> bool:
    """The show goes back to the host's default. False: it had none of its own."""
    async with sessions() as session:
        done = await session.execute(delete(ShippingProfileRow).where(
            ShippingProfileRow.host_id == host_id, ShippingProfileRow.show_id == show_id))
        await session.commit()
    return bool(done.rowcount)
